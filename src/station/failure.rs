//! Why a request failed, in terms a screen can word for people.

use crate::badges::{BadgeError, PrintProblem};
use crate::domain::FieldError;
use crate::error_class::{class_of, ErrorClass};
use crate::operators::{OperatorError, Permission};
use crate::provisioning::ProvisioningError;
use crate::registration::RegistrationError;
use crate::stats::StatsError;
use crate::store::StoreError;

/// Why a request failed, in terms a screen can word for people.
#[derive(Debug)]
pub enum Failure {
    BadLogin,
    /// Too many wrong PINs for the name: the next try must wait this long.
    LockedOut {
        seconds: u64,
    },
    Forbidden(Permission),
    NotFound,
    Revoked(String),
    Invalid(Vec<FieldError>),
    Duplicate(DuplicateOf),
    /// A badge that did not verify: the reason code of [`crate::credential::Invalid`].
    InvalidBadge(&'static str),
    NoOperator,
    /// The badge could not be queued or printed (no printer, already printed, ...).
    Printing(PrintProblem),
    /// A request the library refused for a reason the operator can put right.
    Refused(Refusal),
    /// A failure with no typed form: its class (the screen's heading) and the system's
    /// English words, for the log and the English screen only.
    Other {
        class: ErrorClass,
        detail: String,
    },
}

/// Why the library refused a request the operator can put right; `ui::i18n` words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A self-service registration for an identity that is not the card read last.
    NotFromCard,
    WeakPin,
    BadOperatorName,
    OperatorExists,
    LastAdmin,
    OutOfScope,
}

/// What a refused registration would have registered twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DuplicateOf {
    /// This registration code belongs to another attendee.
    RegistrationCode(String),
    /// This ID document is registered to another attendee.
    IdDocument,
}

impl Failure {
    /// The code of every printing failure, also for a job the kiosk watched fail.
    pub const PRINTING_CODE: &'static str = "E-PRINT";

    /// A short code a kiosk shows so staff know what happened.
    pub fn reason_code(&self) -> String {
        match self {
            Failure::BadLogin => "E-LOGIN".into(),
            Failure::LockedOut { .. } => "E-LOCKED".into(),
            Failure::Forbidden(_) | Failure::NoOperator => "E-ROLE".into(),
            Failure::NotFound => "E-NOTFOUND".into(),
            Failure::Revoked(_) => "E-REVOKED".into(),
            Failure::Invalid(_) => "E-INVALID".into(),
            Failure::Duplicate(_) => "E-DUPLICATE".into(),
            Failure::InvalidBadge(reason) => format!("E-BADGE-{}", reason.to_uppercase()),
            Failure::Printing(_) => Self::PRINTING_CODE.into(),
            Failure::Refused(_) => "E-REFUSED".into(),
            Failure::Other { .. } => "E-STATION".into(),
        }
    }

    /// The failure of a library error with no typed form here, classified as the CLI
    /// classifies it ([`class_of`]).
    pub fn of_error(error: &(dyn std::error::Error + 'static)) -> Self {
        let class = class_of(error).unwrap_or(ErrorClass::Unavailable);
        Failure::Other { class, detail: error.to_string() }
    }

    /// Something outside the library (a file, an image, a device list) could not be
    /// read or written now.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Failure::Other { class: ErrorClass::Unavailable, detail: detail.into() }
    }

    /// Something the operator gave (a file, an image, a card) is not what it must be.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Failure::Other { class: ErrorClass::Invalid, detail: detail.into() }
    }
}

impl From<RegistrationError> for Failure {
    fn from(error: RegistrationError) -> Self {
        match error {
            RegistrationError::Invalid(errors) => Failure::Invalid(errors),
            RegistrationError::NotFound(_) => Failure::NotFound,
            RegistrationError::Revoked(_, reason) => Failure::Revoked(reason),
            RegistrationError::Operator(error) => error.into(),
            RegistrationError::DuplicateCode { code, .. } => {
                Failure::Duplicate(DuplicateOf::RegistrationCode(code))
            }
            RegistrationError::DuplicateIdDocument { .. } => {
                Failure::Duplicate(DuplicateOf::IdDocument)
            }
            other => Failure::of_error(&other),
        }
    }
}

impl From<OperatorError> for Failure {
    fn from(error: OperatorError) -> Self {
        match error {
            OperatorError::BadLogin => Failure::BadLogin,
            OperatorError::LockedOut { seconds, .. } => Failure::LockedOut { seconds },
            OperatorError::Forbidden { permission, .. } => Failure::Forbidden(permission),
            OperatorError::WeakSecret => Failure::Refused(Refusal::WeakPin),
            OperatorError::BadName => Failure::Refused(Refusal::BadOperatorName),
            OperatorError::Exists(_) => Failure::Refused(Refusal::OperatorExists),
            OperatorError::LastAdmin(_) => Failure::Refused(Refusal::LastAdmin),
            OperatorError::OutOfScope { .. } => Failure::Refused(Refusal::OutOfScope),
            other => Failure::of_error(&other),
        }
    }
}

impl From<BadgeError> for Failure {
    fn from(error: BadgeError) -> Self {
        if let Some(problem) = error.print_problem() {
            return Failure::Printing(problem);
        }
        match error {
            BadgeError::Registration(error) => error.into(),
            BadgeError::Operator(error) => error.into(),
            BadgeError::Store(error) => error.into(),
            // Layout problems are not the printer's: the admin's template preview meets them.
            other => Failure::of_error(&other),
        }
    }
}

impl From<StatsError> for Failure {
    fn from(error: StatsError) -> Self {
        match error {
            StatsError::Store(error) => error.into(),
            StatsError::Operator(error) => error.into(),
            other => Failure::of_error(&other),
        }
    }
}

impl From<ProvisioningError> for Failure {
    fn from(error: ProvisioningError) -> Self {
        match error {
            ProvisioningError::Operator(error) => error.into(),
            ProvisioningError::Store(error) => error.into(),
            other => Failure::of_error(&other),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::of_error(&error)
    }
}

pub(super) fn describe(failure: &Failure) -> String {
    match failure {
        Failure::Other { detail, .. } => detail.clone(),
        other => other.reason_code(),
    }
}
