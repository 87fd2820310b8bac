//! The domain core: events, zones, categories, attendees and the rules that validate
//! them. Pure data and pure functions: no SQL, no I/O, no UI.

pub mod attendee;
pub mod contact;
pub mod event;
pub mod id_document;

pub use attendee::{Attendee, AttendeeId, NewAttendee, Source};
pub use contact::PhoneProblem;
pub use event::{
    AccessWindow, Category, EventDefinition, EventError, EventField, EventPlace, EventProblem,
    EventProblemKind, Zone,
};
pub use id_document::{IdDocument, IdNumberProblem, IdType};

/// One field-level validation problem: which field, and what is wrong with it, typed so
/// each screen renders it in the operator's language (`ui::i18n::field_problem`). `Display`
/// is the English the CLI and the import report print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: FieldProblem,
}

impl FieldError {
    pub fn new(field: &'static str, problem: FieldProblem) -> Self {
        Self { field, problem }
    }
}

/// Serialised as `field`, the English `reason` (the key scripts read) and the typed
/// `problem`.
impl serde::Serialize for FieldError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("FieldError", 3)?;
        out.serialize_field("field", self.field)?;
        out.serialize_field("reason", &self.problem.to_string())?;
        out.serialize_field("problem", &self.problem)?;
        out.end()
    }
}

/// What is wrong with one field of a registration or an import row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
// Adjacent, not internal, tagging: a phone problem's detail is a plain string.
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum FieldProblem {
    #[error("required")]
    Required,
    #[error("longer than {max} characters")]
    TooLong { max: usize },
    #[error("contains control characters")]
    ControlCharacters,
    #[error("more than {max} tags")]
    TooManyTags { max: usize },
    #[error("a tag longer than {max} characters")]
    TagTooLong { max: usize },
    #[error("registration code may hold only letters, digits, - and _")]
    RegistrationCodeCharacters,
    #[error("unknown category {given:?}")]
    UnknownCategory { given: String },
    #[error("required for category {category}")]
    RequiredForCategory { category: String },
    #[error("this event registers no walk-ins at a self-service kiosk")]
    NoSelfServiceWalkIns,
    #[error("a self-service kiosk registers walk-ins in category {category} only")]
    SelfServiceCategoryOnly { category: String },
    #[error("required for self-service registration")]
    RequiredForSelfService,
    #[error("unknown ID type {given:?}")]
    UnknownIdType { given: String },
    #[error(transparent)]
    Phone(#[from] contact::PhoneProblem),
    #[error("not a valid e-mail address")]
    InvalidEmail,
    #[error(transparent)]
    IdNumber(#[from] id_document::IdNumberProblem),
    #[error("outside the categories of the importing operator")]
    OutsideOperatorCategories,
    #[error("a registration code or an ID number is needed, so that re-importing cannot duplicate this person")]
    CodeOrIdNumberNeeded,
    /// The integration API upserts registrations by their code.
    #[error("required: registrations are upserted by their code")]
    RequiredForUpsert,
    #[error("also on line {line} for a different person")]
    AlsoOnLine { line: u64 },
    /// The CSV reader's own words (a quote left open, a row of another width).
    #[error("not valid CSV: {detail}")]
    NotValidCsv { detail: String },
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}
