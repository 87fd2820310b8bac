//! expo-sync: what crosses the network between stations and the central hub.
//!
//! - [`protocol`]: the wire types (changes, records, push and pull messages). Both the
//!   station (the `expo-kiosk` crate) and the hub speak exactly these.
//! - [`hlc`]: the hybrid logical clock that orders changes across stations whose wall
//!   clocks disagree by minutes.

pub mod hlc;
pub mod protocol;

pub use hlc::{Hlc, HlcClock};
pub use protocol::{Change, Record};
