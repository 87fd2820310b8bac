//! A relay board on a USB port that may be unplugged and plugged back in.

use std::time::Duration;

use serialport::TTYPort;

use super::{GateRelay, RelayDriver, RelayError, RelaySettings};
use crate::serial;

/// A [`RelayDriver`] on a port path (best a stable `/dev/serial/by-id/...` name) that opens
/// the port again once it has failed: a board knocked out of its USB socket works again as
/// soon as it is back, without restarting the gate.
///
/// A command that fails on the port is tried once more on a freshly opened one, so the
/// first visitor after a replug need not scan again. A reopened board is not driven closed
/// as at start: its relays keep what the last command set (a USB board lost power and
/// released them anyway; a Modbus module behind a USB adapter kept them).
pub struct ReopeningRelay {
    path: String,
    settings: RelaySettings,
    /// `None` after the port failed, until the next command opens it.
    driver: Option<RelayDriver<TTYPort>>,
}

impl ReopeningRelay {
    /// Opens the board at `path` and drives every channel closed, as [`RelayDriver::open`].
    pub fn open(path: &str, settings: RelaySettings) -> Result<Self, RelayError> {
        let driver = RelayDriver::open(path, settings)?;
        Ok(Self { path: path.to_owned(), settings, driver: Some(driver) })
    }

    fn run(
        &mut self,
        command: impl Fn(&mut RelayDriver<TTYPort>) -> Result<(), RelayError>,
    ) -> Result<(), RelayError> {
        match self.attempt(&command) {
            Err(RelayError::Io(error)) => {
                tracing::warn!(path = %self.path, %error, "relay port failed; opening it again");
                self.attempt(&command)
            }
            outcome => outcome,
        }
    }

    /// Runs `command` on the open port, opening it first if it failed before; a port that
    /// fails is let go, so the next attempt opens it anew.
    fn attempt(
        &mut self,
        command: &impl Fn(&mut RelayDriver<TTYPort>) -> Result<(), RelayError>,
    ) -> Result<(), RelayError> {
        let driver = match &mut self.driver {
            Some(driver) => driver,
            None => {
                let port = serial::open(&self.path, self.settings.baud)?;
                tracing::info!(path = %self.path, "relay port open again");
                self.driver.insert(RelayDriver::resume(port, self.settings))
            }
        };
        let outcome = command(driver);
        if matches!(outcome, Err(RelayError::Io(_))) {
            self.driver = None;
        }
        outcome
    }
}

impl GateRelay for ReopeningRelay {
    fn pulse(&mut self, channel: u8, duration: Duration) -> Result<(), RelayError> {
        self.run(|driver| driver.pulse(channel, duration))
    }

    fn hold_open(&mut self, channel: u8) -> Result<(), RelayError> {
        self.run(|driver| driver.hold_open(channel))
    }

    fn close(&mut self, channel: u8) -> Result<(), RelayError> {
        self.run(|driver| driver.close(channel))
    }

    fn close_all(&mut self) -> Result<(), RelayError> {
        self.run(|driver| driver.close_all())
    }
}
