//! Identity documents: types, normalisation, validation and masking.
//!
//! ID numbers are personal data. This module is the only place that looks inside one;
//! everything else handles the masked form, the keyed hash or the sealed bytes.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 居民身份证 (GB 11643-1999, 18 characters).
    ResidentId,
    /// 外国人永久居留身份证, the 2004 (15-character) and 2023 (18-character) cards.
    ForeignPermanentResidence,
    Passport,
    /// 港澳居民来往内地通行证.
    HkMacauPermit,
    /// 台湾居民来往大陆通行证.
    TaiwanPermit,
}

impl IdType {
    pub const ALL: [IdType; 5] = [
        IdType::ResidentId,
        IdType::ForeignPermanentResidence,
        IdType::Passport,
        IdType::HkMacauPermit,
        IdType::TaiwanPermit,
    ];

    pub fn id(self) -> &'static str {
        match self {
            IdType::ResidentId => "resident_id",
            IdType::ForeignPermanentResidence => "foreign_permanent_residence",
            IdType::Passport => "passport",
            IdType::HkMacauPermit => "hk_macau_permit",
            IdType::TaiwanPermit => "taiwan_permit",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            IdType::ResidentId => "居民身份证",
            IdType::ForeignPermanentResidence => "外国人永久居留身份证",
            IdType::Passport => "护照",
            IdType::HkMacauPermit => "港澳居民来往内地通行证",
            IdType::TaiwanPermit => "台湾居民来往大陆通行证",
        }
    }

    /// Accepts the id, the Chinese label, or the short names venues use (身份证, 回乡证, 台胞证...).
    pub fn parse(text: &str) -> Option<IdType> {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        IdType::ALL.into_iter().find(|ty| ty.id() == lower || ty.label_zh() == t).or(match t {
            "身份证" | "二代证" | "id_card" => Some(IdType::ResidentId),
            "永居证" | "永久居留证" => Some(IdType::ForeignPermanentResidence),
            "回乡证" | "港澳通行证" => Some(IdType::HkMacauPermit),
            "台胞证" => Some(IdType::TaiwanPermit),
            _ => None,
        })
    }
}

/// Why a number is not a valid document of its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IdNumberProblem {
    #[error("resident ID number must be 18 characters, got {got}")]
    ResidentIdLength { got: usize },
    #[error("the first 17 characters must be digits")]
    First17NotDigits,
    #[error("check digit does not match (GB 11643-1999)")]
    CheckDigit,
    #[error("region code is not numeric")]
    RegionNotNumeric,
    #[error("region code {code:02} is not a Chinese province")]
    NotAProvince { code: u8 },
    #[error("birth date in the number is not a real date")]
    BirthDateNotADate,
    #[error("birth date in the number is implausible")]
    BirthDateImplausible,
    #[error(
        "permanent residence card number must be 3 letters + 12 digits (2004) or 18 characters starting with 9 (2023)"
    )]
    PermanentResidenceFormat,
    #[error("HK/Macau permit number must be H or M followed by 8 or 10 digits")]
    HkMacauFormat,
    #[error("{} number must be {min} to {max} letters or digits", .id_type.id())]
    Pattern { id_type: IdType, min: usize, max: usize },
}

/// A validated, normalised identity document.
#[derive(Clone, PartialEq, Eq)]
pub struct IdDocument {
    pub id_type: IdType,
    number: String,
}

/// Redacts the number so a stray `{:?}` can never put it in a log.
impl std::fmt::Debug for IdDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdDocument({:?}, {})", self.id_type, self.masked())
    }
}

impl IdDocument {
    /// Validates `raw` as a document of `id_type`, as of `today` (birth dates must be past).
    pub fn parse(id_type: IdType, raw: &str, today: NaiveDate) -> Result<Self, IdNumberProblem> {
        let number: String =
            raw.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        match id_type {
            IdType::ResidentId => validate_resident_id(&number, today)?,
            IdType::ForeignPermanentResidence => validate_permanent_residence(&number, today)?,
            IdType::Passport => validate_pattern(&number, 5, 20, id_type)?,
            IdType::HkMacauPermit => validate_hk_macau(&number)?,
            IdType::TaiwanPermit => validate_pattern(&number, 8, 10, id_type)?,
        }
        Ok(Self { id_type, number })
    }

    /// The full number. Callers only seal or hash it; never log or print it unmasked
    /// unless the operator's role allows.
    pub fn number(&self) -> &str {
        &self.number
    }

    pub fn masked(&self) -> String {
        mask(&self.number)
    }

    /// Birth date encoded in the number, where the document type carries one.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        match (self.id_type, self.number.len()) {
            (IdType::ResidentId, 18) | (IdType::ForeignPermanentResidence, 18) => {
                parse_yyyymmdd(&self.number[6..14])
            }
            _ => None,
        }
    }
}

/// `3101**********128X`: the first and last four characters of long numbers, the first
/// and last two of short ones.
pub fn mask(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let keep = if chars.len() >= 12 {
        4
    } else if chars.len() >= 6 {
        2
    } else {
        0
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep || i + keep >= chars.len() { *c } else { '*' })
        .collect()
}

/// The GB 11643-1999 check character for the first 17 digits.
pub fn resident_id_check_char(first17: &[u8]) -> Option<char> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    Some(char::from(CHECK[(sum % 11) as usize]))
}

/// Province-level administrative division codes (GB/T 2260), the first two digits.
const PROVINCE_CODES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

fn validate_resident_id(number: &str, today: NaiveDate) -> Result<(), IdNumberProblem> {
    let bytes = number.as_bytes();
    if bytes.len() != 18 {
        return Err(IdNumberProblem::ResidentIdLength { got: bytes.len() });
    }
    validate_check_char(bytes)?;
    let province: u8 = number[0..2].parse().map_err(|_| IdNumberProblem::RegionNotNumeric)?;
    if !PROVINCE_CODES.contains(&province) {
        return Err(IdNumberProblem::NotAProvince { code: province });
    }
    validate_birth_date(&number[6..14], today)
}

fn validate_permanent_residence(number: &str, today: NaiveDate) -> Result<(), IdNumberProblem> {
    let bytes = number.as_bytes();
    match bytes.len() {
        // 2004 card: ISO 3166 alpha-3 nationality, then 12 digits.
        15 if bytes[..3].iter().all(u8::is_ascii_uppercase)
            && bytes[3..].iter().all(u8::is_ascii_digit) =>
        {
            Ok(())
        }
        // 2023 card: starts with 9 and is checked like the resident ID.
        18 if bytes[0] == b'9' => {
            validate_check_char(bytes)?;
            validate_birth_date(&number[6..14], today)
        }
        _ => Err(IdNumberProblem::PermanentResidenceFormat),
    }
}

fn validate_check_char(bytes: &[u8]) -> Result<(), IdNumberProblem> {
    let expected = resident_id_check_char(&bytes[..17]).ok_or(IdNumberProblem::First17NotDigits)?;
    if char::from(bytes[17]) != expected {
        return Err(IdNumberProblem::CheckDigit);
    }
    Ok(())
}

fn validate_birth_date(yyyymmdd: &str, today: NaiveDate) -> Result<(), IdNumberProblem> {
    let date = parse_yyyymmdd(yyyymmdd).ok_or(IdNumberProblem::BirthDateNotADate)?;
    if date > today || date.year() < 1900 {
        return Err(IdNumberProblem::BirthDateImplausible);
    }
    Ok(())
}

fn parse_yyyymmdd(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y%m%d").ok()
}

fn validate_hk_macau(number: &str) -> Result<(), IdNumberProblem> {
    let bytes = number.as_bytes();
    let ok = matches!(bytes.first(), Some(b'H' | b'M'))
        && (bytes.len() == 9 || bytes.len() == 11)
        && bytes[1..].iter().all(u8::is_ascii_digit);
    if ok {
        Ok(())
    } else {
        Err(IdNumberProblem::HkMacauFormat)
    }
}

fn validate_pattern(
    number: &str,
    min: usize,
    max: usize,
    id_type: IdType,
) -> Result<(), IdNumberProblem> {
    if (min..=max).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(IdNumberProblem::Pattern { id_type, min, max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn the_reference_number_is_valid() {
        let doc = IdDocument::parse(IdType::ResidentId, "110101202311012176", today()).unwrap();
        assert_eq!(doc.masked(), "1101**********2176");
        assert_eq!(doc.birth_date(), NaiveDate::from_ymd_opt(2023, 11, 1));
    }

    #[test]
    fn lower_case_x_and_spaces_are_normalised() {
        let first17 = b"31010119900307128";
        let check = resident_id_check_char(first17).unwrap();
        let raw = format!("310101 19900307 128{}", check.to_ascii_lowercase());
        let doc = IdDocument::parse(IdType::ResidentId, &raw, today()).unwrap();
        assert_eq!(doc.number(), format!("31010119900307128{check}"));
    }

    #[test]
    fn every_resident_id_error_has_a_reason() {
        let cases = [
            ("11010120231101217", "18 characters"),
            ("110101202311012175", "check digit"),
            ("11010120231101217A", "check digit"),
            ("1101012023110121X6", "first 17"),
            ("990101202311012176", "region"),
            ("110101202302300000", "real date"),
            ("110101203011010000", "implausible"),
        ];
        for (raw, reason) in cases {
            // Fix the check digit where the case is about another field.
            let number = if reason == "region" || reason == "real date" || reason == "implausible" {
                let check = resident_id_check_char(&raw.as_bytes()[..17]).unwrap();
                format!("{}{check}", &raw[..17])
            } else {
                raw.to_owned()
            };
            let err = IdDocument::parse(IdType::ResidentId, &number, today()).unwrap_err();
            assert!(err.to_string().contains(reason), "{number}: {err}");
        }
    }

    #[test]
    fn permanent_residence_cards_of_both_generations() {
        assert!(IdDocument::parse(IdType::ForeignPermanentResidence, "USA310072100001", today())
            .is_ok());
        let first17 = b"93310019850412001";
        let check = resident_id_check_char(first17).unwrap();
        let new_card = format!("93310019850412001{check}");
        assert!(IdDocument::parse(IdType::ForeignPermanentResidence, &new_card, today()).is_ok());
        assert!(IdDocument::parse(IdType::ForeignPermanentResidence, "12345", today()).is_err());
    }

    #[test]
    fn other_documents() {
        assert!(IdDocument::parse(IdType::Passport, "E12345678", today()).is_ok());
        assert!(IdDocument::parse(IdType::Passport, "E1-2345678", today()).is_err());
        assert!(IdDocument::parse(IdType::HkMacauPermit, "H12345678", today()).is_ok());
        assert!(IdDocument::parse(IdType::HkMacauPermit, "X12345678", today()).is_err());
        assert!(IdDocument::parse(IdType::TaiwanPermit, "12345678", today()).is_ok());
    }

    #[test]
    fn debug_never_shows_the_number() {
        let doc = IdDocument::parse(IdType::ResidentId, "110101202311012176", today()).unwrap();
        assert!(!format!("{doc:?}").contains("202311012"));
    }

    #[test]
    fn id_types_parse_from_ids_and_chinese_labels() {
        assert_eq!(IdType::parse("身份证"), Some(IdType::ResidentId));
        assert_eq!(IdType::parse("护照"), Some(IdType::Passport));
        assert_eq!(IdType::parse("HK_MACAU_PERMIT"), Some(IdType::HkMacauPermit));
        assert_eq!(IdType::parse("台胞证"), Some(IdType::TaiwanPermit));
        assert_eq!(IdType::parse("driving licence"), None);
    }

    #[test]
    fn masks() {
        assert_eq!(mask("310101199003071287"), "3101**********1287");
        assert_eq!(mask("E12345678"), "E1*****78");
        assert_eq!(mask("1234"), "****");
    }
}
