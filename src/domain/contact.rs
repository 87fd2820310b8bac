//! Phone numbers and e-mail addresses as venues receive them from forms and spreadsheets.

/// Why a phone number is not plausible.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error,
)]
#[serde(rename_all = "snake_case")]
pub enum PhoneProblem {
    #[error("phone number may hold only digits, spaces, +, - and brackets")]
    Characters,
    #[error("international number must be +country code and 7 to 15 digits")]
    International,
    #[error("mainland mobile must be 11 digits starting 13-19 (or use +CC for abroad)")]
    MainlandMobile,
}

/// Normalises a phone number: mainland mobiles to 11 digits, international numbers to
/// `+CC...` digits. Returns the problem when it is not a plausible number.
pub fn normalize_phone(raw: &str) -> Result<String, PhoneProblem> {
    let trimmed = raw.trim();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let digits: String = trimmed.chars().filter(|c| c.is_ascii_digit()).collect();
    if trimmed.chars().any(|c| !(c.is_ascii_digit() || " +-()".contains(c))) {
        return Err(PhoneProblem::Characters);
    }
    if international {
        let national = if trimmed.starts_with("00") { &digits[2..] } else { &digits[..] };
        if let Some(mobile) = national.strip_prefix("86") {
            return normalize_mainland_mobile(mobile);
        }
        if !(7..=15).contains(&national.len()) || national.starts_with('0') {
            return Err(PhoneProblem::International);
        }
        return Ok(format!("+{national}"));
    }
    normalize_mainland_mobile(&digits)
}

fn normalize_mainland_mobile(digits: &str) -> Result<String, PhoneProblem> {
    let bytes = digits.as_bytes();
    if bytes.len() != 11 || bytes[0] != b'1' || !(b'3'..=b'9').contains(&bytes[1]) {
        return Err(PhoneProblem::MainlandMobile);
    }
    Ok(digits.to_owned())
}

/// A pragmatic e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces.
/// `None` when it is not an address.
pub fn validate_email(raw: &str) -> Option<String> {
    let email = raw.trim();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
                && email.len() <= 254
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    valid.then(|| email.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_and_international_numbers_normalise() {
        assert_eq!(normalize_phone("138 0013 8000").unwrap(), "13800138000");
        assert_eq!(normalize_phone("+86 138-0013-8000").unwrap(), "13800138000");
        assert_eq!(normalize_phone("+44 20 7946 0958").unwrap(), "+442079460958");
        assert_eq!(normalize_phone("0049 30 1234567").unwrap(), "+49301234567");
    }

    #[test]
    fn implausible_numbers_are_rejected() {
        for bad in ["12345", "12800138000", "1380013800", "abc", "+1 23", "138001380001"] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(validate_email("li.wei@example.com.cn").is_some());
        for bad in ["", "a", "a@b", "@b.com", "a@b..com", "a b@c.com", "a@@b.com", "a@.b.com"] {
            assert!(validate_email(bad).is_none(), "{bad}");
        }
    }
}
