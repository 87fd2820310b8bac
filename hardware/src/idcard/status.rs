//! SW3 status codes of the SAM module, each one a typed error.

use thiserror::Error;

/// SW3 for a successful command.
pub const SW3_OK: u8 = 0x90;
/// SW3 for a successful find-card.
pub const SW3_CARD_FOUND: u8 = 0x9F;

/// A failure status (SW3) reported by the SAM module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SamStatusError {
    /// 0x10: the module saw a bad checksum in our request.
    #[error("reader rejected our request's checksum (SW3 0x10)")]
    RequestChecksum,
    /// 0x11: the module saw a bad length in our request.
    #[error("reader rejected our request's length (SW3 0x11)")]
    RequestLength,
    /// 0x21: the module does not know the command.
    #[error("reader does not support the command (SW3 0x21)")]
    BadCommand,
    /// 0x24: the module reports an unspecified error.
    #[error("reader reports an unknown error (SW3 0x24)")]
    UnknownError,
    /// 0x31 / 0x32: card and SAM could not authenticate each other.
    #[error("card/SAM mutual authentication failed (SW3 {0:#04x})")]
    MutualAuthentication(u8),
    /// 0x33: information verification failed.
    #[error("card data verification failed (SW3 0x33)")]
    Verification,
    /// 0x40: the card is not an ID card the module can read.
    #[error("wrong card type (SW3 0x40)")]
    WrongCard,
    /// 0x41: reading the card failed (often: card moved away during the read).
    #[error("card read failed (SW3 0x41)")]
    ReadFailed,
    /// 0x47: the card failed to produce a random number.
    #[error("card random number generation failed (SW3 0x47)")]
    RandomNumber,
    /// 0x60: the SAM module failed its self-test.
    #[error("SAM self-test failed (SW3 0x60)")]
    SelfTest,
    /// 0x66: the SAM module is not authorised.
    #[error("SAM module not authorised (SW3 0x66)")]
    NotAuthorised,
    /// 0x80: no card on the reader.
    #[error("no card on the reader (SW3 0x80)")]
    NoCard,
    /// 0x81: selecting the card failed.
    #[error("card selection failed (SW3 0x81)")]
    SelectFailed,
    /// Any status this table does not know.
    #[error("unrecognised reader status SW3 {0:#04x}")]
    Unrecognised(u8),
}

impl SamStatusError {
    /// The SW3 byte that signals this error.
    pub fn code(self) -> u8 {
        match self {
            Self::RequestChecksum => 0x10,
            Self::RequestLength => 0x11,
            Self::BadCommand => 0x21,
            Self::UnknownError => 0x24,
            Self::MutualAuthentication(code) | Self::Unrecognised(code) => code,
            Self::Verification => 0x33,
            Self::WrongCard => 0x40,
            Self::ReadFailed => 0x41,
            Self::RandomNumber => 0x47,
            Self::SelfTest => 0x60,
            Self::NotAuthorised => 0x66,
            Self::NoCard => 0x80,
            Self::SelectFailed => 0x81,
        }
    }
}

/// `Ok` for the success codes 0x90 / 0x9F, the matching error otherwise.
pub fn check_sw3(sw3: u8) -> Result<(), SamStatusError> {
    Err(match sw3 {
        SW3_OK | SW3_CARD_FOUND => return Ok(()),
        0x10 => SamStatusError::RequestChecksum,
        0x11 => SamStatusError::RequestLength,
        0x21 => SamStatusError::BadCommand,
        0x24 => SamStatusError::UnknownError,
        0x31 | 0x32 => SamStatusError::MutualAuthentication(sw3),
        0x33 => SamStatusError::Verification,
        0x40 => SamStatusError::WrongCard,
        0x41 => SamStatusError::ReadFailed,
        0x47 => SamStatusError::RandomNumber,
        0x60 => SamStatusError::SelfTest,
        0x66 => SamStatusError::NotAuthorised,
        0x80 => SamStatusError::NoCard,
        0x81 => SamStatusError::SelectFailed,
        other => SamStatusError::Unrecognised(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_variant() {
        for sw3 in 0..=u8::MAX {
            match check_sw3(sw3) {
                Ok(()) => assert!(sw3 == SW3_OK || sw3 == SW3_CARD_FOUND),
                Err(error) => assert_eq!(error.code(), sw3),
            }
        }
        assert_eq!(check_sw3(0x80), Err(SamStatusError::NoCard));
        assert_eq!(check_sw3(0x32), Err(SamStatusError::MutualAuthentication(0x32)));
    }
}
