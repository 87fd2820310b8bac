//! Device drivers and byte-exact simulators for expo-kiosk.
//!
//! Every device speaks through a small trait ([`CodeSource`], [`IdCardReader`], [`GateRelay`]),
//! runs on its own thread where it could block, and reports over `std::sync::mpsc` channels so
//! no caller (UI, gate lane) ever waits on hardware.

pub mod camera;
pub mod demo;
pub mod idcard;
pub mod inventory;
pub mod probe;
pub mod pty;
pub mod qr;
pub mod relay;
pub mod scanner;
mod serial;

pub use idcard::IdCardReader;
pub use relay::GateRelay;
pub use scanner::CodeSource;
/// The serial-port crate the drivers use, for callers that report its errors.
pub use serialport;
