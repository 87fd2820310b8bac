//! GB 11643-1999 check digit of 18-character ID numbers (resident cards and the 2023 foreign
//! permanent residence card, whose numbers start with 9).

use thiserror::Error;

/// Weights of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character indexed by the weighted sum modulo 11.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";
/// Characters in an ID number.
pub const ID_NUMBER_LEN: usize = 18;

/// Why an ID number fails validation. Carries no digits of the number (it is personal data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum IdNumberError {
    /// Not 18 characters.
    #[error("ID number has {0} characters, expected {ID_NUMBER_LEN}")]
    Length(usize),
    /// One of the first 17 characters is not a digit, or the last is neither a digit nor X.
    #[error("ID number holds a character that is not a digit")]
    NotDigits,
    /// The last character does not match the weighted sum of the others.
    #[error("ID number check digit is wrong")]
    CheckDigit,
}

/// Checks `number` (18 characters, last one a digit or `X`) against its check digit.
pub fn validate_id_number(number: &str) -> Result<(), IdNumberError> {
    if !number.is_ascii() {
        return Err(IdNumberError::NotDigits);
    }
    // ASCII, so bytes and characters coincide.
    let digits: &[u8; ID_NUMBER_LEN] =
        number.as_bytes().try_into().map_err(|_| IdNumberError::Length(number.len()))?;
    let [body @ .., check] = digits;
    if !body.iter().all(u8::is_ascii_digit)
        || !(check.is_ascii_digit() || check.eq_ignore_ascii_case(&b'X'))
    {
        return Err(IdNumberError::NotDigits);
    }
    let sum: u32 =
        body.iter().zip(WEIGHTS).map(|(digit, weight)| u32::from(digit - b'0') * weight).sum();
    // `sum % 11` is below 11, the table's length.
    let expected = CHECK_CHARS[(sum % 11) as usize];
    if check.to_ascii_uppercase() == expected {
        Ok(())
    } else {
        Err(IdNumberError::CheckDigit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_numbers_including_x() {
        assert_eq!(validate_id_number("110101202311012176"), Ok(()));
        assert_eq!(validate_id_number("11010519491231002X"), Ok(()));
        assert_eq!(validate_id_number("11010519491231002x"), Ok(()));
        assert_eq!(validate_id_number("910000000000000006"), Ok(()));
    }

    #[test]
    fn rejects_wrong_check_digits_and_malformed_numbers() {
        assert_eq!(validate_id_number("110101202311012175"), Err(IdNumberError::CheckDigit));
        assert_eq!(validate_id_number("110101202311012170"), Err(IdNumberError::CheckDigit));
        assert_eq!(validate_id_number("11010120231101217"), Err(IdNumberError::Length(17)));
        assert_eq!(validate_id_number(""), Err(IdNumberError::Length(0)));
        assert_eq!(validate_id_number("11010120231101X176"), Err(IdNumberError::NotDigits));
        assert_eq!(validate_id_number("一一0101202311012176"), Err(IdNumberError::NotDigits));
    }

    #[test]
    fn every_single_digit_change_is_caught() {
        let valid = b"110101202311012176";
        for position in 0..ID_NUMBER_LEN - 1 {
            for digit in b'0'..=b'9' {
                if digit == valid[position] {
                    continue;
                }
                let mut changed = *valid;
                changed[position] = digit;
                let changed = String::from_utf8_lossy(&changed).into_owned();
                assert_eq!(
                    validate_id_number(&changed),
                    Err(IdNumberError::CheckDigit),
                    "position {position}"
                );
            }
        }
    }
}
