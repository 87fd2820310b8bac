//! Chinese ID-card readers speaking the SAM protocol over serial / USB-CDC.
//!
//! [`SamReader`] runs find → select → read on any `Read + Write` port; [`CardPoller`] repeats it
//! on a thread for the desk; [`SamSimulator`] answers the same frames byte for byte.

mod card;
mod driver;
mod ethnicity;
pub mod frame;
mod poller;
mod sim;
mod status;

use thiserror::Error;

pub use card::{
    CardDataError, CardDate, DocumentNumber, ForeignResidentCard, Gender, IdCard, IdDocument, ResidentCard,
    PHOTO_LEN, TEXT_BLOCK_LEN,
};
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
        timeout: std::time::Duration,
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

    /// True when the port itself is gone and must be reopened.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Self::Io(_) | Self::Open(_))
    }
}

/// A device that reads one ID card on request.
pub trait IdCardReader {
    /// Runs one full read; fails with [`SamStatusError::NoCard`] when no card is present.
    fn read_card(&mut self) -> Result<IdCard, IdCardError>;
}
