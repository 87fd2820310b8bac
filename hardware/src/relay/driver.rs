//! The relay driver: LCUS or Modbus frames on a port, with echo checking for Modbus.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use serialport::TTYPort;

use super::modbus::{self, ModbusFrame};
use super::{lcus, GateRelay, RelayError, RelayProtocol, RelaySettings};
use crate::serial;

/// LCUS boards drop an OFF that follows the ON within about 80 ms, so pulses are at least this long.
const LCUS_MIN_PULSE: Duration = Duration::from_millis(100);
/// Quiet time that ends discarding stale bytes before a retry.
const DISCARD_QUIET: Duration = Duration::from_millis(20);

/// A relay board on a port. Methods block for the exchange (and a pulse for its duration):
/// gate lanes use [`super::RelayWorker`] instead.
pub struct RelayDriver<P> {
    port: P,
    settings: RelaySettings,
}

impl RelayDriver<TTYPort> {
    /// Opens the board at `path` and drives every channel closed.
    pub fn open(path: &str, settings: RelaySettings) -> Result<Self, RelayError> {
        Self::start(serial::open(path, settings.baud)?, settings)
    }

    /// Opens the board at `path` and leaves every relay as it is (a technician's test, a probe).
    pub fn open_as_is(path: &str, settings: RelaySettings) -> Result<Self, RelayError> {
        Ok(Self::resume(serial::open(path, settings.baud)?, settings))
    }
}

impl<P: Read + Write> RelayDriver<P> {
    /// Takes over an open port and drives every channel closed, as after a crash.
    pub fn start(port: P, settings: RelaySettings) -> Result<Self, RelayError> {
        let mut driver = Self::resume(port, settings);
        driver.close_all()?;
        Ok(driver)
    }

    /// Takes over an open port and leaves the relays as they are (a board plugged back in).
    pub(super) fn resume(port: P, settings: RelaySettings) -> Self {
        Self { port, settings }
    }

    /// The settings in use.
    pub fn settings(&self) -> &RelaySettings {
        &self.settings
    }

    /// Whether relay `channel` (from 1) is energised, read from a Modbus module (function 01,
    /// which changes nothing). A missing answer is [`RelayError::EchoMissing`].
    pub fn read_energised(&mut self, channel: u8) -> Result<bool, RelayError> {
        let RelayProtocol::Modbus { address } = self.settings.protocol else {
            return Err(RelayError::NoReadBack);
        };
        let coil = u16::from(channel.saturating_sub(1));
        self.port.write_all(&modbus::encode_read_coils(address, coil, 1))?;
        self.port.flush()?;
        let answer = self.read_answer(modbus::COIL_STATUS_LEN)?;
        if answer.is_empty() {
            return Err(RelayError::EchoMissing { attempts: 1 });
        }
        if let Ok(ModbusFrame::Exception { address: from, code, .. }) = modbus::decode(&answer) {
            if from == address {
                return Err(RelayError::Exception(code));
            }
        }
        match modbus::decode_coil_status(address, &answer) {
            Ok(states) => Ok(states & 1 == 1),
            Err(error) => Err(RelayError::BadAnswer { received: answer, error }),
        }
    }

    /// Puts `channel` in the gate-open or gate-closed state, honouring the NO/NC polarity.
    fn switch(&mut self, channel: u8, open: bool) -> Result<(), RelayError> {
        let channels = self.settings.channels;
        if channel == 0 || channel > channels {
            return Err(RelayError::InvalidChannel { channel, channels });
        }
        let energise = self.settings.polarity.energised(open);
        match self.settings.protocol {
            RelayProtocol::Lcus => {
                self.port.write_all(&lcus::encode(channel, energise))?;
                self.port.flush()?;
                Ok(())
            }
            // Channels count from 1, coils from 0.
            RelayProtocol::Modbus { address } => {
                self.write_coil(address, u16::from(channel - 1), energise)
            }
        }
    }

    /// Writes one coil and checks the module's echo, retrying on a missing or wrong echo.
    fn write_coil(&mut self, address: u8, coil: u16, on: bool) -> Result<(), RelayError> {
        let request = modbus::encode_write_coil(address, coil, on);
        let attempts = self.settings.echo_retries.saturating_add(1);
        let mut failure = RelayError::EchoMissing { attempts };
        for attempt in 1..=attempts {
            if attempt > 1 {
                tracing::warn!(address, coil, attempt, error = %failure, "retrying relay write");
                self.discard_input()?;
            }
            self.port.write_all(&request)?;
            self.port.flush()?;
            let answer = self.read_answer(modbus::WRITE_COIL_LEN)?;
            if answer == request {
                return Ok(());
            }
            failure = match modbus::decode(&answer) {
                _ if answer.is_empty() => RelayError::EchoMissing { attempts },
                // A refusal is the module's considered answer: repeating the write will not help.
                Ok(ModbusFrame::Exception { address: from, code, .. }) if from == address => {
                    return Err(RelayError::Exception(code))
                }
                _ => RelayError::EchoMismatch { sent: request.to_vec(), received: answer },
            };
        }
        Err(failure)
    }

    /// Reads an answer of `len` bytes, or an exception (5 bytes), until complete or the echo
    /// timeout passes.
    fn read_answer(&mut self, len: usize) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.settings.echo_timeout;
        let mut answer = Vec::with_capacity(len);
        let mut chunk = [0u8; modbus::WRITE_COIL_LEN];
        loop {
            let expected = match answer.get(1) {
                Some(function) if function & 0x80 != 0 => modbus::EXCEPTION_LEN,
                _ => len,
            };
            if answer.len() >= expected {
                return Ok(answer);
            }
            let read = serial::read_before(
                &mut self.port,
                &mut chunk[..expected - answer.len()],
                deadline,
            )?;
            if read == 0 {
                return Ok(answer);
            }
            answer.extend_from_slice(&chunk[..read]);
        }
    }

    /// Drops bytes still arriving (a late or garbled echo) so the retry reads a clean answer.
    fn discard_input(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64];
        while serial::read_before(&mut self.port, &mut chunk, Instant::now() + DISCARD_QUIET)? > 0 {
        }
        Ok(())
    }
}

impl<P: Read + Write> GateRelay for RelayDriver<P> {
    fn pulse(&mut self, channel: u8, duration: Duration) -> Result<(), RelayError> {
        let duration = match self.settings.protocol {
            RelayProtocol::Lcus => duration.max(LCUS_MIN_PULSE),
            RelayProtocol::Modbus { .. } => duration,
        };
        self.switch(channel, true)?;
        std::thread::sleep(duration);
        self.switch(channel, false)
    }

    fn hold_open(&mut self, channel: u8) -> Result<(), RelayError> {
        self.switch(channel, true)
    }

    fn close(&mut self, channel: u8) -> Result<(), RelayError> {
        self.switch(channel, false)
    }

    fn close_all(&mut self) -> Result<(), RelayError> {
        // Try every channel even if one fails, so as many gates as possible end up closed.
        let mut first_error = None;
        for channel in 1..=self.settings.channels {
            if let Err(error) = self.switch(channel, false) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
