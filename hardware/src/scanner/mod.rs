//! Barcode / QR scanners: serial and USB-CDC readers on their own thread, a keyboard-wedge
//! timing detector, and a scanner simulator.

mod line;
mod reader;
mod sim;
mod watch;
mod wedge;

use std::sync::mpsc::Receiver;
use std::time::Duration;

use thiserror::Error;

pub use line::{normalize, Debouncer, LineSplitter};
pub use reader::SerialScanner;
pub use sim::ScannerSimulator;
pub use watch::{open_watch_port, LineWatcher, WatchedLine};
pub use wedge::{Key, WedgeDetector, WedgeSettings, WedgeVerdict};

/// A device that delivers scanned codes on a channel (serial scanner, camera).
pub trait CodeSource {
    /// The channel on which codes, errors and connection changes arrive.
    fn events(&self) -> &Receiver<ScanEvent>;
}

/// What a code source reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEvent {
    /// A decoded code, already stripped and debounced.
    Code(String),
    /// A line that could not be used; the reader carries on.
    Error(ScanLineError),
    /// The device went away; the reader keeps trying to reopen it.
    Disconnected(String),
    /// The device is back after [`ScanEvent::Disconnected`].
    Reconnected,
}

/// Why a scanned line was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScanLineError {
    /// The line grew past the limit without a terminator (noise or a wrong terminator setting).
    #[error("scanned line exceeds {limit} bytes without a terminator")]
    TooLong {
        /// The configured limit.
        limit: usize,
    },
    /// The line is not UTF-8 text.
    #[error("scanned line is not UTF-8 text")]
    NotText,
    /// The line holds control characters (binary noise, wrong baud rate).
    #[error("scanned line holds control character {0:#04x}")]
    ControlCharacter(u32),
}

/// The suffix a scanner sends after each code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Terminator {
    /// Carriage return (`\r`), the usual factory default.
    #[default]
    Cr,
    /// Line feed (`\n`).
    Lf,
    /// `\r\n`.
    CrLf,
    /// Tab.
    Tab,
    /// No suffix: a code ends when the line stays idle for the settings' idle timeout.
    None,
}

/// How to read and clean up a serial scanner's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerSettings {
    /// Device path, e.g. `/dev/ttyACM0` or a stable `/dev/serial/by-id/...` link.
    pub path: String,
    /// Line speed (USB-CDC ignores it).
    pub baud: u32,
    /// Code suffix.
    pub terminator: Terminator,
    /// Configured prefix to remove, if any.
    pub strip_prefix: Option<String>,
    /// Configured suffix to remove (besides the terminator), if any.
    pub strip_suffix: Option<String>,
    /// Remove an AIM code identifier such as `]Q1`.
    pub strip_aim: bool,
    /// Identical codes within this window count once.
    pub debounce: Duration,
    /// Longest accepted line in bytes.
    pub max_line: usize,
    /// Idle time that ends a code when the terminator is [`Terminator::None`].
    pub idle_timeout: Duration,
    /// Delay between attempts to reopen a vanished port.
    pub reconnect_interval: Duration,
}

impl ScannerSettings {
    /// Defaults for a scanner at `path`: 9600 baud, CR, AIM stripping, 1 s debounce, 512-byte lines.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            baud: 9600,
            terminator: Terminator::Cr,
            strip_prefix: None,
            strip_suffix: None,
            strip_aim: true,
            debounce: Duration::from_secs(1),
            max_line: 512,
            idle_timeout: Duration::from_millis(100),
            reconnect_interval: Duration::from_millis(250),
        }
    }
}
