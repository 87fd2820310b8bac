//! Chinese ID-card readers speaking the SAM protocol over serial / USB-CDC.
//!
//! [`SamReader`] runs find → select → read on any `Read + Write` port; [`CardPoller`] repeats it
//! on a thread for the desk; [`SamSimulator`] answers the same frames byte for byte.

mod card;
mod check_digit;
mod driver;
mod ethnicity;
pub mod frame;
mod poller;
mod sim;
mod status;

use std::time::{Duration, Instant};

use thiserror::Error;

pub use card::{
    CardDataError, CardDate, DocumentNumber, ForeignResidentCard, Gender, IdCard, IdDocument,
    ResidentCard, PHOTO_LEN, TEXT_BLOCK_LEN,
};
pub use check_digit::{validate_id_number, IdNumberError};
pub use driver::{SamReader, DEFAULT_BAUD, DEFAULT_TIMEOUT};
pub use ethnicity::ethnicity_name;
pub use frame::{Command, FrameError};
pub use poller::{CardEvent, CardPoller};
pub use sim::{sample_foreign_card, sample_resident_card, SamBehaviour, SamSimulator};
pub use status::{check_sw3, SamStatusError};

/// Anything that can go wrong reading an ID card.
#[derive(Debug, Error)]
pub enum IdCardError {
    /// Opening the serial port failed.
    #[error("cannot open ID-card reader port: {0}")]
    Open(#[from] serialport::Error),
    /// The port failed while talking (unplugged, closed).
    #[error("ID-card reader port failed: {0}")]
    Io(#[from] std::io::Error),
    /// No complete answer arrived in time.
    #[error("ID-card reader did not answer {command:02X?} within {timeout:?}")]
    Timeout {
        /// CMD and PARA of the request.
        command: [u8; 2],
        /// The timeout that expired.
        timeout: Duration,
    },
    /// A malformed frame arrived.
    #[error("corrupt answer from ID-card reader: {0}")]
    Frame(#[from] FrameError),
    /// The reader answered with a failure status.
    #[error("{0}")]
    Status(#[from] SamStatusError),
    /// The card's data could not be parsed.
    #[error("unreadable card data: {0}")]
    CardData(#[from] CardDataError),
}

impl IdCardError {
    /// True when the reader simply has no card (the normal idle state while polling).
    pub fn is_no_card(&self) -> bool {
        matches!(self, Self::Status(SamStatusError::NoCard))
    }

    /// True for failures that end by themselves once a card lies still on the reader.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Status(
                SamStatusError::NoCard | SamStatusError::ReadFailed | SamStatusError::SelectFailed
            )
        )
    }

    /// True when the port itself is gone and must be reopened.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Self::Io(_) | Self::Open(_))
    }
}

/// A device that reads one ID card on request.
pub trait IdCardReader {
    /// Runs one full read; fails with [`SamStatusError::NoCard`] when no card is present.
    fn read_card(&mut self) -> Result<IdCard, IdCardError>;

    /// Reads repeatedly until a card is read or `wait` has passed (`idcard read --wait`).
    ///
    /// "No card" and failed reads of a card being laid down (0x41, 0x81) are retried every
    /// `interval`; any other failure ends the wait at once. After `wait` the last failure is
    /// returned, so the caller learns why no card was read.
    fn wait_for_card(&mut self, wait: Duration, interval: Duration) -> Result<IdCard, IdCardError> {
        let deadline = Instant::now() + wait;
        loop {
            match self.read_card() {
                Err(error) if error.is_retryable() && Instant::now() + interval < deadline => {
                    std::thread::sleep(interval);
                }
                result => return result,
            }
        }
    }
}
