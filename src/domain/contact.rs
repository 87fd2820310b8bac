//! Phone numbers and e-mail addresses as venues receive them from forms and spreadsheets.

/// Normalises a phone number: mainland mobiles to 11 digits, international numbers to
/// `+CC...` digits. Returns the reason when it is not a plausible number.
pub fn normalize_phone(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let digits: String = trimmed.chars().filter(|c| c.is_ascii_digit()).collect();
    if trimmed.chars().any(|c| !(c.is_ascii_digit() || " +-()".contains(c))) {
        return Err("phone number may hold only digits, spaces, +, - and brackets".into());
    }
    if international {
        let national = if trimmed.starts_with("00") { &digits[2..] } else { &digits[..] };
        if let Some(mobile) = national.strip_prefix("86") {
            return normalize_mainland_mobile(mobile);
        }
        if !(7..=15).contains(&national.len()) || national.starts_with('0') {
            return Err("international number must be +country code and 7 to 15 digits".into());
        }
        return Ok(format!("+{national}"));
    }
    normalize_mainland_mobile(&digits)
}

fn normalize_mainland_mobile(digits: &str) -> Result<String, String> {
    let bytes = digits.as_bytes();
    if bytes.len() != 11 || bytes[0] != b'1' || !(b'3'..=b'9').contains(&bytes[1]) {
        return Err(
            "mainland mobile must be 11 digits starting 13-19 (or use +CC for abroad)".into()
        );
    }
    Ok(digits.to_owned())
}

/// A pragmatic e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn validate_email(raw: &str) -> Result<String, String> {
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
    if valid {
        Ok(email.to_owned())
    } else {
        Err("not a valid e-mail address".into())
    }
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
        assert!(validate_email("li.wei@example.com.cn").is_ok());
        for bad in ["", "a", "a@b", "@b.com", "a@b..com", "a b@c.com", "a@@b.com", "a@.b.com"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }
}
