//! A scanner simulator: types codes with a chosen terminator into a pseudo-terminal.

use std::io::Write;

use serialport::{SerialPort, TTYPort};

use super::Terminator;

/// A simulated serial scanner; drivers open [`path`](Self::path). Dropping it is an unplug.
pub struct ScannerSimulator {
    controller: TTYPort,
    terminator: Terminator,
    path: String,
    // Keeps the pseudo-terminal alive while no driver has it open.
    _device_side: TTYPort,
}

impl ScannerSimulator {
    /// A new scanner ending each code with `terminator`.
    pub fn new(terminator: Terminator) -> Result<Self, serialport::Error> {
        let (controller, device_side) = TTYPort::pair()?;
        let path = device_side.name().ok_or_else(|| {
            serialport::Error::new(serialport::ErrorKind::Unknown, "pseudo-terminal has no name")
        })?;
        Ok(Self { controller, terminator, path, _device_side: device_side })
    }

    /// The device path a scanner reader opens.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Sends `code` followed by the terminator.
    pub fn scan(&mut self, code: &str) -> std::io::Result<()> {
        let suffix: &[u8] = match self.terminator {
            Terminator::Cr => b"\r",
            Terminator::Lf => b"\n",
            Terminator::CrLf => b"\r\n",
            Terminator::Tab => b"\t",
            Terminator::None => b"",
        };
        let mut bytes = code.as_bytes().to_vec();
        bytes.extend_from_slice(suffix);
        self.send_raw(&bytes)
    }

    /// Sends arbitrary bytes (noise, partial codes).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.controller.write_all(bytes)?;
        self.controller.flush()
    }
}
