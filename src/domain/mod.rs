//! The domain core: events, zones, categories, attendees and the rules that validate
//! them. Pure data and pure functions: no SQL, no I/O, no UI.

pub mod attendee;
pub mod contact;
pub mod event;
pub mod id_document;

pub use attendee::{Attendee, AttendeeId, NewAttendee, Source};
pub use event::{
    AccessWindow, Category, EventDefinition, EventError, EventField, EventPlace, EventProblem,
    EventProblemKind, Zone,
};
pub use id_document::{IdDocument, IdType};

/// One field-level validation problem, phrased for the operator.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}
