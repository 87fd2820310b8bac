//! The card data a read returns: text block layouts for resident and foreign permanent
//! residence cards, and the opaque WLT photo.

use std::fmt;

use serde::{Serialize, Serializer};
use thiserror::Error;

use super::check_digit::{validate_id_number, IdNumberError, ID_NUMBER_LEN};
use super::ethnicity::ethnicity_name;

/// Size of the text block in bytes.
pub const TEXT_BLOCK_LEN: usize = 256;
/// Size of the WLT-compressed photo in bytes.
pub const PHOTO_LEN: usize = 1024;
/// UTF-16 unit index of the card type flag ("I" on a foreign permanent residence card).
const CARD_TYPE_UNIT: usize = 124;
/// Card type flag of the 2017 foreign permanent residence card.
const FOREIGN_PERMANENT_FLAG: u16 = b'I' as u16;
/// Printed in the "valid to" field of a card that never expires.
const NO_EXPIRY: &str = "长期";

/// Resident card fields and their widths in UTF-16 units; the rest of the block is reserved.
const RESIDENT_LAYOUT: [(&str, usize); 9] = [
    ("name", 15),
    ("gender", 1),
    ("ethnicity", 2),
    ("birth_date", 8),
    ("address", 35),
    ("id_number", 18),
    ("issuing_authority", 15),
    ("valid_from", 8),
    ("valid_until", 8),
];

/// Foreign permanent residence card (2017) fields up to and including the type flag.
const FOREIGN_LAYOUT: [(&str, usize); 11] = [
    ("english_name", 60),
    ("gender", 1),
    ("card_number", 15),
    ("nationality", 3),
    ("chinese_name", 15),
    ("valid_from", 8),
    ("valid_until", 8),
    ("birth_date", 8),
    ("card_version", 2),
    ("authority_code", 4),
    ("card_type", 1),
];

/// Why the data of a successful read could not be turned into a card.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CardDataError {
    /// The read answer is shorter than its own length header says.
    #[error("read answer holds {actual} bytes, its header announces {announced}")]
    Truncated {
        /// Bytes the header announces.
        announced: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The text block is not 256 bytes.
    #[error("text block is {0} bytes, expected {TEXT_BLOCK_LEN}")]
    TextBlockLength(usize),
    /// A field is not valid UCS-2.
    #[error("field {0} is not valid UTF-16")]
    InvalidText(&'static str),
    /// A date field is not YYYYMMDD.
    #[error("field {field} is not a YYYYMMDD date: {value:?}")]
    InvalidDate {
        /// Field name.
        field: &'static str,
        /// Raw field content.
        value: String,
    },
    /// The gender code is not one of GB/T 2261.1's.
    #[error("unknown gender code {0:?}")]
    InvalidGender(String),
    /// The ethnicity code is not in GB 3304.
    #[error("unknown ethnicity code {0:?}")]
    InvalidEthnicity(String),
    /// The card type flag names a card this parser does not know.
    #[error("unsupported card type flag {0:?}")]
    UnsupportedCardType(String),
    /// A value does not fit its field when building a text block.
    #[error("value for field {0} is longer than the field")]
    FieldTooLong(&'static str),
}

/// A calendar date as printed on a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CardDate {
    /// Year, e.g. 2023.
    pub year: u16,
    /// Month 1..=12.
    pub month: u8,
    /// Day 1..=31.
    pub day: u8,
}

impl CardDate {
    /// Parses the card's `YYYYMMDD` form; `field` names the field in the error.
    pub fn parse_compact(field: &'static str, value: &str) -> Result<Self, CardDataError> {
        let invalid = || CardDataError::InvalidDate { field, value: value.to_owned() };
        if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let number =
            |range: std::ops::Range<usize>| value[range].parse::<u16>().map_err(|_| invalid());
        let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(invalid());
        }
        // Both are at most 31 after the range check above.
        Ok(Self { year, month: month as u8, day: day as u8 })
    }

    /// The card's `YYYYMMDD` form.
    pub fn compact(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for CardDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for CardDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Gender as coded by GB/T 2261.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// Code 0.
    Unknown,
    /// Code 1.
    Male,
    /// Code 2.
    Female,
    /// Code 9.
    Unstated,
}

impl Gender {
    /// Parses the one-character code.
    pub fn from_code(code: &str) -> Result<Self, CardDataError> {
        match code {
            "0" => Ok(Self::Unknown),
            "1" => Ok(Self::Male),
            "2" => Ok(Self::Female),
            "9" => Ok(Self::Unstated),
            other => Err(CardDataError::InvalidGender(other.to_owned())),
        }
    }

    /// The one-character code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unknown => "0",
            Self::Male => "1",
            Self::Female => "2",
            Self::Unstated => "9",
        }
    }
}

/// An identity document number: personal data, so `Debug` and `Display` mask it.
///
/// JSON output carries the full number; callers mask with [`IdDocument::masked`] unless the
/// operator asked to reveal it.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DocumentNumber(String);

impl DocumentNumber {
    /// Wraps a number as read from the card.
    pub fn new(number: impl Into<String>) -> Self {
        Self(number.into())
    }

    /// The full number, for the check-digit validation and storage in the core.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The number with all but the first 3 and last 4 characters replaced by `*`.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 8 {
            return "*".repeat(chars.len());
        }
        let hidden = chars.len() - 7;
        chars[..3]
            .iter()
            .chain(std::iter::repeat_n(&'*', hidden))
            .chain(&chars[chars.len() - 4..])
            .collect()
    }
}

impl fmt::Debug for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentNumber({})", self.masked())
    }
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Chinese 2nd-generation resident ID card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResidentCard {
    /// Name (姓名).
    pub name: String,
    /// Gender (性别).
    pub gender: Gender,
    /// GB 3304 ethnicity code (民族).
    pub ethnicity_code: u8,
    /// Ethnicity name from the code, e.g. "汉".
    pub ethnicity: &'static str,
    /// Birth date (出生).
    pub birth_date: CardDate,
    /// Address (住址).
    pub address: String,
    /// ID number (公民身份号码); parsing keeps it as read, [`IdDocument::validate_number`] checks it.
    pub id_number: DocumentNumber,
    /// Issuing authority (签发机关).
    pub issuing_authority: String,
    /// First day of validity.
    pub valid_from: CardDate,
    /// Last day of validity; `None` for 长期 (no expiry).
    pub valid_until: Option<CardDate>,
}

/// Foreign permanent residence card, 2017 layout (type flag "I").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignResidentCard {
    /// Name in Latin letters.
    pub english_name: String,
    /// Gender.
    pub gender: Gender,
    /// Card number.
    pub card_number: DocumentNumber,
    /// GB/T 2659 three-letter nationality code.
    pub nationality: String,
    /// Chinese name, empty when none.
    pub chinese_name: String,
    /// First day of validity.
    pub valid_from: CardDate,
    /// Last day of validity; `None` when the card never expires.
    pub valid_until: Option<CardDate>,
    /// Birth date.
    pub birth_date: CardDate,
    /// Card version.
    pub card_version: String,
    /// Issuing authority code.
    pub authority_code: String,
}

/// The identity document a card carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IdDocument {
    /// Resident ID card.
    Resident(ResidentCard),
    /// Foreign permanent residence card.
    ForeignPermanentResident(ForeignResidentCard),
}

impl IdDocument {
    /// Parses a 256-byte UCS-2 LE text block, choosing the layout by the card type flag.
    pub fn parse(block: &[u8]) -> Result<Self, CardDataError> {
        if block.len() != TEXT_BLOCK_LEN {
            return Err(CardDataError::TextBlockLength(block.len()));
        }
        let flag = u16::from_le_bytes([block[CARD_TYPE_UNIT * 2], block[CARD_TYPE_UNIT * 2 + 1]]);
        match flag {
            FOREIGN_PERMANENT_FLAG => parse_foreign(block).map(Self::ForeignPermanentResident),
            // Resident cards leave the flag position reserved: spaces or zeros.
            0x0000 | 0x0020 => parse_resident(block).map(Self::Resident),
            other => Err(CardDataError::UnsupportedCardType(String::from_utf16_lossy(&[other]))),
        }
    }

    /// Builds the 256-byte text block a card with this content holds (used by the simulator).
    pub fn to_text_block(&self) -> Result<Vec<u8>, CardDataError> {
        match self {
            Self::Resident(card) => {
                let ethnicity = format!("{:02}", card.ethnicity_code);
                let valid_until =
                    card.valid_until.map_or_else(|| NO_EXPIRY.to_owned(), |d| d.compact());
                encode_fields(
                    &RESIDENT_LAYOUT,
                    &[
                        &card.name,
                        card.gender.code(),
                        &ethnicity,
                        &card.birth_date.compact(),
                        &card.address,
                        card.id_number.reveal(),
                        &card.issuing_authority,
                        &card.valid_from.compact(),
                        &valid_until,
                    ],
                )
            }
            Self::ForeignPermanentResident(card) => {
                let valid_until =
                    card.valid_until.map_or_else(|| NO_EXPIRY.to_owned(), |d| d.compact());
                encode_fields(
                    &FOREIGN_LAYOUT,
                    &[
                        &card.english_name,
                        card.gender.code(),
                        card.card_number.reveal(),
                        &card.nationality,
                        &card.chinese_name,
                        &card.valid_from.compact(),
                        &valid_until,
                        &card.birth_date.compact(),
                        &card.card_version,
                        &card.authority_code,
                        "I",
                    ],
                )
            }
        }
    }

    /// The document number (ID number or card number).
    pub fn document_number(&self) -> &DocumentNumber {
        match self {
            Self::Resident(card) => &card.id_number,
            Self::ForeignPermanentResident(card) => &card.card_number,
        }
    }

    /// Checks the GB 11643 check digit of resident ID numbers and of 18-character foreign
    /// permanent residence numbers (2023 cards, starting with 9); older 15-character foreign
    /// numbers carry no such digit and always pass.
    pub fn validate_number(&self) -> Result<(), IdNumberError> {
        match self {
            Self::Resident(card) => validate_id_number(card.id_number.reveal()),
            Self::ForeignPermanentResident(card) => {
                let number = card.card_number.reveal();
                if number.len() == ID_NUMBER_LEN && number.starts_with('9') {
                    validate_id_number(number)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// A copy whose document number is masked, for display without `--reveal`.
    pub fn masked(&self) -> Self {
        let mut copy = self.clone();
        let masked = DocumentNumber::new(self.document_number().masked());
        match &mut copy {
            Self::Resident(card) => card.id_number = masked,
            Self::ForeignPermanentResident(card) => card.card_number = masked,
        }
        copy
    }
}

/// Everything a text+photo read returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdCard {
    /// The document's text fields.
    #[serde(flatten)]
    pub document: IdDocument,
    /// WLT-compressed photo, kept opaque (decoding needs the vendor's library); not serialised.
    #[serde(skip)]
    pub photo_wlt: Vec<u8>,
}

impl IdCard {
    /// Parses the data of a read-text+photo answer: text length, photo length, text, photo.
    pub fn from_read_data(data: &[u8]) -> Result<Self, CardDataError> {
        let truncated = |announced| CardDataError::Truncated { announced, actual: data.len() };
        let [t0, t1, p0, p1, rest @ ..] = data else {
            return Err(truncated(4));
        };
        let text_len = usize::from(u16::from_be_bytes([*t0, *t1]));
        let photo_len = usize::from(u16::from_be_bytes([*p0, *p1]));
        if rest.len() < text_len + photo_len {
            return Err(truncated(4 + text_len + photo_len));
        }
        let (text, after_text) = rest.split_at(text_len);
        Ok(Self { document: IdDocument::parse(text)?, photo_wlt: after_text[..photo_len].to_vec() })
    }

    /// The data of a read-text+photo answer carrying this card (used by the simulator).
    pub fn to_read_data(&self) -> Result<Vec<u8>, CardDataError> {
        let text = self.document.to_text_block()?;
        let photo_len = u16::try_from(self.photo_wlt.len())
            .map_err(|_| CardDataError::FieldTooLong("photo"))?;
        let mut data = Vec::with_capacity(4 + text.len() + self.photo_wlt.len());
        // The text block is always TEXT_BLOCK_LEN (256) bytes, which fits in u16.
        data.extend_from_slice(&(TEXT_BLOCK_LEN as u16).to_be_bytes());
        data.extend_from_slice(&photo_len.to_be_bytes());
        data.extend_from_slice(&text);
        data.extend_from_slice(&self.photo_wlt);
        Ok(data)
    }
}

/// Splits a text block into trimmed field strings following `layout`.
fn decode_fields<const N: usize>(
    block: &[u8],
    layout: &[(&'static str, usize); N],
) -> Result<[String; N], CardDataError> {
    let mut units = block.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    let mut fields: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, (name, width)) in fields.iter_mut().zip(layout) {
        let raw: Vec<u16> = units.by_ref().take(*width).collect();
        let text = String::from_utf16(&raw).map_err(|_| CardDataError::InvalidText(name))?;
        *slot = text.trim_end_matches([' ', '\0']).to_owned();
    }
    Ok(fields)
}

/// Writes field values space-padded into a 256-byte block following `layout`.
fn encode_fields(
    layout: &[(&'static str, usize)],
    values: &[&str],
) -> Result<Vec<u8>, CardDataError> {
    let mut units: Vec<u16> = Vec::with_capacity(TEXT_BLOCK_LEN / 2);
    for ((name, width), value) in layout.iter().zip(values) {
        let encoded: Vec<u16> = value.encode_utf16().collect();
        if encoded.len() > *width {
            return Err(CardDataError::FieldTooLong(name));
        }
        units.extend(&encoded);
        units.extend(std::iter::repeat_n(0x0020, width - encoded.len()));
    }
    units.resize(TEXT_BLOCK_LEN / 2, 0x0020);
    Ok(units.iter().flat_map(|unit| unit.to_le_bytes()).collect())
}

/// Parses a validity end: a date, or 长期 for no expiry.
fn parse_valid_until(value: &str) -> Result<Option<CardDate>, CardDataError> {
    if value == NO_EXPIRY {
        Ok(None)
    } else {
        CardDate::parse_compact("valid_until", value).map(Some)
    }
}

fn parse_resident(block: &[u8]) -> Result<ResidentCard, CardDataError> {
    let [name, gender, ethnicity, birth, address, id_number, authority, from, until] =
        decode_fields(block, &RESIDENT_LAYOUT)?;
    let (ethnicity_code, ethnicity_label) = ethnicity
        .parse::<u8>()
        .ok()
        .and_then(|code| ethnicity_name(code).map(|label| (code, label)))
        .ok_or(CardDataError::InvalidEthnicity(ethnicity))?;
    Ok(ResidentCard {
        name,
        gender: Gender::from_code(&gender)?,
        ethnicity_code,
        ethnicity: ethnicity_label,
        birth_date: CardDate::parse_compact("birth_date", &birth)?,
        address,
        id_number: DocumentNumber::new(id_number),
        issuing_authority: authority,
        valid_from: CardDate::parse_compact("valid_from", &from)?,
        valid_until: parse_valid_until(&until)?,
    })
}

fn parse_foreign(block: &[u8]) -> Result<ForeignResidentCard, CardDataError> {
    let [english_name, gender, number, nationality, chinese_name, from, until, birth, version, authority, _flag] =
        decode_fields(block, &FOREIGN_LAYOUT)?;
    Ok(ForeignResidentCard {
        english_name,
        gender: Gender::from_code(&gender)?,
        card_number: DocumentNumber::new(number),
        nationality,
        chinese_name,
        valid_from: CardDate::parse_compact("valid_from", &from)?,
        valid_until: parse_valid_until(&until)?,
        birth_date: CardDate::parse_compact("birth_date", &birth)?,
        card_version: version,
        authority_code: authority,
    })
}
