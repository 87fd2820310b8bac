//! Blocking SAM driver: one request, one answer, with a deadline.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serialport::TTYPort;

use super::frame::{Command, FrameDecoder, Response};
use super::status::check_sw3;
use super::{IdCard, IdCardError, IdCardReader};
use crate::serial;

/// Default line speed of SAM readers.
pub const DEFAULT_BAUD: u32 = 115_200;
/// Default time allowed for one answer; a text+photo answer takes about 120 ms at 115200 baud.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);

/// A SAM ID-card reader on a port.
///
/// The port's own read timeout must be short (the driver retries until its deadline), as the
/// ports returned by [`SamReader::open`] and `TTYPort::pair` are.
pub struct SamReader<P> {
    port: P,
    decoder: FrameDecoder,
    timeout: Duration,
}

impl SamReader<TTYPort> {
    /// Opens the reader at `path` (e.g. `/dev/ttyUSB0`) with `timeout` per answer.
    pub fn open(path: &str, baud: u32, timeout: Duration) -> Result<Self, IdCardError> {
        Ok(Self::new(serial::open(path, baud)?, timeout))
    }
}

impl<P: Read + Write> SamReader<P> {
    /// Wraps an already open port.
    pub fn new(port: P, timeout: Duration) -> Self {
        Self { port, decoder: FrameDecoder::new(), timeout }
    }

    /// Sends `command` and waits for its answer; failure statuses become errors.
    pub fn transact(&mut self, command: Command) -> Result<Response, IdCardError> {
        // SAM answers carry no request id: drop anything left over from an earlier exchange.
        self.decoder.clear();
        self.port.write_all(&command.encode())?;
        self.port.flush()?;
        let deadline = Instant::now() + self.timeout;
        let mut chunk = [0u8; 512];
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                let response = Response::from_body(&frame?)?;
                check_sw3(response.sw3())?;
                return Ok(response);
            }
            let read = serial::read_before(&mut self.port, &mut chunk, deadline)?;
            if read == 0 {
                return Err(IdCardError::Timeout {
                    command: [command.cmd, command.para],
                    timeout: self.timeout,
                });
            }
            self.decoder.push(&chunk[..read]);
        }
    }

    /// Asks the SAM module for its status (a cheap liveness probe for `doctor`).
    pub fn sam_status(&mut self) -> Result<(), IdCardError> {
        self.transact(Command::SAM_STATUS).map(drop)
    }
}

impl<P: Read + Write> IdCardReader for SamReader<P> {
    fn read_card(&mut self) -> Result<IdCard, IdCardError> {
        self.transact(Command::FIND_CARD)?;
        self.transact(Command::SELECT_CARD)?;
        let answer = self.transact(Command::READ_TEXT_PHOTO)?;
        Ok(IdCard::from_read_data(&answer.data)?)
    }
}
