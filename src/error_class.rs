//! One classification of every library error: was the request refused, does what it names
//! not exist, is the input wrong, or could it not be done right now? The CLI's exit code
//! (`cli::exit_code_for`) and a screen's message heading and colour (`ui::widgets::Notice`)
//! both come from here, so they never disagree.
//!
//! Each error type is mapped once, below, by an exhaustive match: a new variant does not
//! compile until someone decides its class. Variants that wrap another library error take
//! that error's class.

use crate::badges::printer::PrinterFault;
use crate::badges::{BadgeError, PrintProblem};
use crate::bootstrap::BootstrapError;
use crate::demo::DemoError;
use crate::domain::EventError;
use crate::gate::{ConfigError, GateError};
use crate::operators::OperatorError;
use crate::privacy::PrivacyError;
use crate::provisioning::ProvisioningError;
use crate::registration::RegistrationError;
use crate::station_sync::StationSyncError;
use crate::stats::StatsError;
use crate::store::StoreError;
use crate::ui::UiError;
use expo_sync::client::ClientError;
use expo_sync::snapshot::SnapshotError;

/// What kind of "no" an error is, from the operator's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The rules or the operator's rights say no: wrong PIN, missing permission, a category
    /// outside the operator's scope, a badge already printed or revoked.
    Refused,
    /// What the request names does not exist here: an attendee, an operator, a printer.
    NotFound,
    /// The input is wrong and can be corrected: a field, a file, an event definition.
    Invalid,
    /// It could not be done right now: database, disk, keys, printer, hub, no event yet.
    Unavailable,
}

impl ErrorClass {
    /// Every class, in the order the documentation lists them.
    pub const ALL: [ErrorClass; 4] =
        [ErrorClass::Refused, ErrorClass::NotFound, ErrorClass::Invalid, ErrorClass::Unavailable];
}

/// An error that knows its [`ErrorClass`].
pub trait Classified {
    fn class(&self) -> ErrorClass;
}

/// The class of an error of any library type, or `None` for an error this crate does not
/// define (an I/O error the caller wrapped, say). Callers walk an error's chain with it.
pub fn class_of(error: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
    macro_rules! try_types {
        ($($error_type:ty),* $(,)?) => {
            $(if let Some(error) = error.downcast_ref::<$error_type>() {
                return Some(error.class());
            })*
        };
    }
    try_types!(
        StoreError,
        OperatorError,
        RegistrationError,
        BadgeError,
        PrintProblem,
        PrinterFault,
        StatsError,
        ProvisioningError,
        EventError,
        PrivacyError,
        StationSyncError,
        BootstrapError,
        DemoError,
        GateError,
        ConfigError,
        UiError,
        ClientError,
        SnapshotError,
    );
    None
}

use ErrorClass::{Invalid, NotFound, Refused, Unavailable};

impl Classified for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Sqlite(_)
            | StoreError::DataDir { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::NoEvent
            | StoreError::KeyFile { .. }
            | StoreError::Corrupt(_) => Unavailable,
        }
    }
}

impl Classified for OperatorError {
    fn class(&self) -> ErrorClass {
        match self {
            OperatorError::Store(inner) => inner.class(),
            OperatorError::BadLogin
            | OperatorError::Forbidden { .. }
            | OperatorError::OutOfScope { .. }
            | OperatorError::LockedOut { .. }
            | OperatorError::LastAdmin(_) => Refused,
            OperatorError::NotFound(_) => NotFound,
            OperatorError::UnknownRole(_)
            | OperatorError::BadName
            | OperatorError::WeakSecret
            | OperatorError::Exists(_)
            | OperatorError::UnknownCategory(_) => Invalid,
            OperatorError::Hash(_) => Unavailable,
        }
    }
}

impl Classified for RegistrationError {
    fn class(&self) -> ErrorClass {
        match self {
            RegistrationError::Store(inner) => inner.class(),
            RegistrationError::Operator(inner) => inner.class(),
            RegistrationError::Invalid(_)
            | RegistrationError::DuplicateCode { .. }
            | RegistrationError::DuplicateIdDocument { .. }
            | RegistrationError::Import(_) => Invalid,
            RegistrationError::NotFound(_) | RegistrationError::NoActiveBadge(_) => NotFound,
            RegistrationError::Revoked(..) => Refused,
            RegistrationError::NoDataKey | RegistrationError::NoSigningKey => Unavailable,
        }
    }
}

impl Classified for BadgeError {
    fn class(&self) -> ErrorClass {
        match self {
            BadgeError::Store(inner) => inner.class(),
            BadgeError::Registration(inner) => inner.class(),
            BadgeError::Operator(inner) => inner.class(),
            BadgeError::UnknownTemplate { .. } | BadgeError::UnknownPrinter(_) => NotFound,
            BadgeError::InvalidTemplate { .. } | BadgeError::ReasonRequired => Invalid,
            BadgeError::AlreadyPrinted { .. } | BadgeError::BadgeNotPrintable { .. } => Refused,
            BadgeError::Font(_)
            | BadgeError::Render(_)
            | BadgeError::Write(_)
            | BadgeError::Io { .. }
            | BadgeError::PrinterConfig { .. }
            | BadgeError::NoPrinter
            | BadgeError::Printer { .. } => Unavailable,
        }
    }
}

/// A station request's failure: the screen's heading comes from here, as the CLI's exit
/// code does. The variants made from a library error keep that error's class.
impl Classified for crate::station::Failure {
    fn class(&self) -> ErrorClass {
        use crate::station::Failure;
        match self {
            Failure::BadLogin
            | Failure::LockedOut { .. }
            | Failure::Forbidden(_)
            | Failure::NoOperator
            | Failure::Revoked(_)
            | Failure::Refused(_) => Refused,
            Failure::NotFound => NotFound,
            Failure::Invalid(_) | Failure::Duplicate(_) | Failure::InvalidBadge(_) => Invalid,
            Failure::Printing(problem) => problem.class(),
            Failure::Other { class, .. } => *class,
        }
    }
}

impl Classified for PrintProblem {
    fn class(&self) -> ErrorClass {
        match self {
            PrintProblem::UnknownPrinter(_) => NotFound,
            PrintProblem::ReasonRequired => Invalid,
            PrintProblem::AlreadyPrinted { .. } | PrintProblem::NotPrintable { .. } => Refused,
            PrintProblem::NoPrinter
            | PrintProblem::PrinterSettings
            | PrintProblem::Printer { .. }
            | PrintProblem::QueueUnavailable { .. }
            | PrintProblem::Interrupted
            | PrintProblem::CannotRender { .. } => Unavailable,
        }
    }
}

impl Classified for PrinterFault {
    fn class(&self) -> ErrorClass {
        match self {
            PrinterFault::StageFile { .. }
            | PrinterFault::SpoolWrite { .. }
            | PrinterFault::SpoolPublish { .. }
            | PrinterFault::NothingStaged
            | PrinterFault::LpMissing
            | PrinterFault::LpNotRun { .. }
            | PrinterFault::LpRefused { .. }
            | PrinterFault::LpNoRequestId { .. }
            | PrinterFault::Lpstat { .. } => Unavailable,
        }
    }
}

impl Classified for StatsError {
    fn class(&self) -> ErrorClass {
        match self {
            StatsError::Store(inner) => inner.class(),
            StatsError::Operator(inner) => inner.class(),
            StatsError::NoSuchLocalTime(_) | StatsError::UnknownCategory(_) => Invalid,
            StatsError::Output(_) | StatsError::Io(_) => Unavailable,
        }
    }
}

impl Classified for ProvisioningError {
    fn class(&self) -> ErrorClass {
        match self {
            ProvisioningError::Store(inner) => inner.class(),
            ProvisioningError::Event(inner) => inner.class(),
            ProvisioningError::Operator(inner) => inner.class(),
            ProvisioningError::OtherEvent { .. } => Refused,
            ProvisioningError::BadBundle(_) | ProvisioningError::CategoryMoved(_) => Invalid,
            ProvisioningError::File { .. } => Unavailable,
        }
    }
}

impl Classified for EventError {
    fn class(&self) -> ErrorClass {
        match self {
            EventError::Toml(_) | EventError::Invalid(_) => Invalid,
        }
    }
}

impl Classified for PrivacyError {
    fn class(&self) -> ErrorClass {
        match self {
            PrivacyError::BadKeyLength | PrivacyError::Unseal => Unavailable,
        }
    }
}

impl Classified for StationSyncError {
    fn class(&self) -> ErrorClass {
        match self {
            StationSyncError::Store(inner) => inner.class(),
            StationSyncError::Event(inner) => inner.class(),
            StationSyncError::Hub(inner) => inner.class(),
            StationSyncError::NotEnrolled
            | StationSyncError::BadOutboxRow(..)
            | StationSyncError::SyncThread(_) => Unavailable,
        }
    }
}

impl Classified for BootstrapError {
    fn class(&self) -> ErrorClass {
        match self {
            BootstrapError::Sync(inner) => inner.class(),
            BootstrapError::Registration(inner) => inner.class(),
            BootstrapError::Store(inner) => inner.class(),
            BootstrapError::Hub(inner) => inner.class(),
            BootstrapError::ReaderStopped => Unavailable,
        }
    }
}

impl Classified for DemoError {
    fn class(&self) -> ErrorClass {
        match self {
            DemoError::Store(inner) => inner.class(),
            DemoError::Provisioning(inner) => inner.class(),
            DemoError::Registration(inner) => inner.class(),
            DemoError::Generate(_) => Unavailable,
        }
    }
}

impl Classified for GateError {
    fn class(&self) -> ErrorClass {
        match self {
            GateError::Config(inner) => inner.class(),
            GateError::Store(inner) => inner.class(),
            GateError::Relay { .. }
            | GateError::Io(_)
            | GateError::Stopped
            | GateError::Panicked => Unavailable,
        }
    }
}

impl Classified for ConfigError {
    fn class(&self) -> ErrorClass {
        match self {
            ConfigError::Toml(_) | ConfigError::Invalid(_) => Invalid,
        }
    }
}

impl Classified for UiError {
    fn class(&self) -> ErrorClass {
        match self {
            UiError::Start(_) | UiError::Gate(_) | UiError::Window(_) => Unavailable,
        }
    }
}

impl Classified for ClientError {
    fn class(&self) -> ErrorClass {
        match self {
            // The hub said no: what it said decides.
            ClientError::Refused { status, .. } => match status {
                401 | 403 => Refused,
                404 | 410 => NotFound,
                400 | 409 | 413 | 422 => Invalid,
                _ => Unavailable,
            },
            ClientError::BadAuthority(_) => Invalid,
            ClientError::Transport(_)
            | ClientError::UntrustedHub(_)
            | ClientError::Snapshot(_)
            | ClientError::Unexpected { .. } => Unavailable,
        }
    }
}

impl Classified for SnapshotError {
    fn class(&self) -> ErrorClass {
        match self {
            SnapshotError::Cut(_) | SnapshotError::Corrupt(_) => Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::domain::AttendeeId;
    use crate::operators::{Permission, Role};

    fn io() -> std::io::Error {
        std::io::Error::other("disk full")
    }

    fn toml_error() -> toml::de::Error {
        toml::from_str::<toml::Value>("= nothing").unwrap_err()
    }

    fn store() -> StoreError {
        StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows)
    }

    /// One of each variant of every library error type (the hub's transport errors, which
    /// need a live connection to make, aside), with the class it must have. The matches in
    /// the `Classified` impls stop compiling when a variant is added.
    fn every_error() -> Vec<(Box<dyn std::error::Error + 'static>, ErrorClass)> {
        let attendee = AttendeeId(uuid::Uuid::nil());
        let path = PathBuf::from("/srv/station");
        let forbidden = || OperatorError::Forbidden {
            operator: "alice".into(),
            role: Role::Desk,
            permission: Permission::RevealId,
        };
        let fault = PrinterFault::LpMissing;
        let body = |status| ClientError::Refused {
            status,
            body: expo_sync::protocol::ErrorBody { error: "e".into(), message: "m".into() },
        };
        let all: Vec<(Box<dyn std::error::Error>, ErrorClass)> = vec![
            (Box::new(store()), Unavailable),
            (Box::new(StoreError::DataDir { path: path.clone(), source: io() }), Unavailable),
            (
                Box::new(StoreError::NewerSchema { path: path.clone(), found: 99, known: 9 }),
                Unavailable,
            ),
            (Box::new(StoreError::NoEvent), Unavailable),
            (
                Box::new(StoreError::KeyFile { path: path.clone(), reason: "mode".into() }),
                Unavailable,
            ),
            (Box::new(StoreError::Corrupt("row".into())), Unavailable),
            (Box::new(OperatorError::Store(StoreError::NoEvent)), Unavailable),
            (Box::new(OperatorError::UnknownRole("boss".into())), Invalid),
            (Box::new(OperatorError::BadName), Invalid),
            (Box::new(OperatorError::WeakSecret), Invalid),
            (Box::new(OperatorError::Exists("alice".into())), Invalid),
            (Box::new(OperatorError::UnknownCategory("vip".into())), Invalid),
            (Box::new(OperatorError::BadLogin), Refused),
            (Box::new(forbidden()), Refused),
            (
                Box::new(OperatorError::OutOfScope { operator: "a".into(), category: "v".into() }),
                Refused,
            ),
            (Box::new(OperatorError::Hash("argon2".into())), Unavailable),
            (Box::new(OperatorError::LockedOut { name: "a".into(), seconds: 30 }), Refused),
            (Box::new(OperatorError::NotFound("bob".into())), NotFound),
            (Box::new(OperatorError::LastAdmin("boss".into())), Refused),
            (Box::new(RegistrationError::Store(store())), Unavailable),
            (Box::new(RegistrationError::Invalid(Vec::new())), Invalid),
            (
                Box::new(RegistrationError::DuplicateCode {
                    code: "R1".into(),
                    existing: attendee,
                }),
                Invalid,
            ),
            (Box::new(RegistrationError::DuplicateIdDocument { existing: attendee }), Invalid),
            (Box::new(RegistrationError::NotFound("R9".into())), NotFound),
            (Box::new(RegistrationError::NoDataKey), Unavailable),
            (Box::new(RegistrationError::NoSigningKey), Unavailable),
            (Box::new(RegistrationError::Revoked(attendee, "lost".into())), Refused),
            (Box::new(RegistrationError::Import("the file is empty".into())), Invalid),
            (Box::new(RegistrationError::NoActiveBadge(attendee)), NotFound),
            (Box::new(RegistrationError::Operator(forbidden())), Refused),
            (Box::new(BadgeError::Store(store())), Unavailable),
            (Box::new(BadgeError::Registration(RegistrationError::NotFound("x".into()))), NotFound),
            (Box::new(BadgeError::Operator(forbidden())), Refused),
            (
                Box::new(BadgeError::UnknownTemplate { name: "x".into(), known: "cr80".into() }),
                NotFound,
            ),
            (
                Box::new(BadgeError::InvalidTemplate { template: "x".into(), reason: "r".into() }),
                Invalid,
            ),
            (Box::new(BadgeError::Font("f".into())), Unavailable),
            (Box::new(BadgeError::Render("r".into())), Unavailable),
            (Box::new(BadgeError::Write(io())), Unavailable),
            (Box::new(BadgeError::Io { path: path.clone(), source: io() }), Unavailable),
            (
                Box::new(BadgeError::PrinterConfig { path: path.clone(), reason: "r".into() }),
                Unavailable,
            ),
            (Box::new(BadgeError::NoPrinter), Unavailable),
            (Box::new(BadgeError::UnknownPrinter("front".into())), NotFound),
            (
                Box::new(BadgeError::Printer { printer: "p".into(), fault: fault.clone() }),
                Unavailable,
            ),
            (Box::new(BadgeError::ReasonRequired), Invalid),
            (
                Box::new(BadgeError::AlreadyPrinted {
                    serial: 1,
                    job: crate::badges::JobId(uuid::Uuid::nil()),
                }),
                Refused,
            ),
            (
                Box::new(BadgeError::BadgeNotPrintable { serial: 1, status: "revoked".into() }),
                Refused,
            ),
            (Box::new(PrintProblem::NoPrinter), Unavailable),
            (Box::new(PrintProblem::UnknownPrinter("front".into())), NotFound),
            (Box::new(PrintProblem::PrinterSettings), Unavailable),
            (Box::new(PrintProblem::ReasonRequired), Invalid),
            (Box::new(PrintProblem::AlreadyPrinted { serial: 1 }), Refused),
            (Box::new(PrintProblem::NotPrintable { serial: 1, status: "revoked".into() }), Refused),
            (
                Box::new(PrintProblem::Printer { printer: "p".into(), fault: fault.clone() }),
                Unavailable,
            ),
            (Box::new(PrintProblem::QueueUnavailable { detail: "locked".into() }), Unavailable),
            (Box::new(PrintProblem::Interrupted), Unavailable),
            (Box::new(PrintProblem::CannotRender { detail: "font".into() }), Unavailable),
            (Box::new(PrinterFault::StageFile { detail: "d".into() }), Unavailable),
            (
                Box::new(PrinterFault::SpoolWrite { dir: path.clone(), detail: "d".into() }),
                Unavailable,
            ),
            (
                Box::new(PrinterFault::SpoolPublish { dir: path.clone(), detail: "d".into() }),
                Unavailable,
            ),
            (Box::new(PrinterFault::NothingStaged), Unavailable),
            (Box::new(PrinterFault::LpMissing), Unavailable),
            (Box::new(PrinterFault::LpNotRun { detail: "d".into() }), Unavailable),
            (
                Box::new(PrinterFault::LpRefused { queue: "q".into(), detail: "d".into() }),
                Unavailable,
            ),
            (Box::new(PrinterFault::LpNoRequestId { detail: "d".into() }), Unavailable),
            (Box::new(PrinterFault::Lpstat { detail: "d".into() }), Unavailable),
            (Box::new(StatsError::Store(store())), Unavailable),
            (Box::new(StatsError::NoSuchLocalTime(chrono::NaiveDate::MIN)), Invalid),
            (Box::new(StatsError::Output("o".into())), Unavailable),
            (Box::new(StatsError::Io(io())), Unavailable),
            (Box::new(StatsError::Operator(forbidden())), Refused),
            (Box::new(StatsError::UnknownCategory("vip".into())), Invalid),
            (Box::new(ProvisioningError::Store(store())), Unavailable),
            (Box::new(ProvisioningError::Event(EventError::Invalid(Vec::new()))), Invalid),
            (
                Box::new(ProvisioningError::OtherEvent {
                    existing: "a".into(),
                    offered: "b".into(),
                }),
                Refused,
            ),
            (
                Box::new(ProvisioningError::File { path: "f".into(), reason: "r".into() }),
                Unavailable,
            ),
            (Box::new(ProvisioningError::BadBundle("b".into())), Invalid),
            (Box::new(ProvisioningError::Operator(forbidden())), Refused),
            (Box::new(ProvisioningError::CategoryMoved("visitor".into())), Invalid),
            (Box::new(EventError::Toml(toml_error())), Invalid),
            (Box::new(EventError::Invalid(Vec::new())), Invalid),
            (Box::new(PrivacyError::BadKeyLength), Unavailable),
            (Box::new(PrivacyError::Unseal), Unavailable),
            (Box::new(StationSyncError::Store(store())), Unavailable),
            (Box::new(StationSyncError::Event(ProvisioningError::BadBundle("b".into()))), Invalid),
            (Box::new(StationSyncError::NotEnrolled), Unavailable),
            (Box::new(StationSyncError::BadOutboxRow(1, "r".into())), Unavailable),
            (Box::new(StationSyncError::Hub(body(401))), Refused),
            (Box::new(StationSyncError::SyncThread(io())), Unavailable),
            (Box::new(BootstrapError::Sync(StationSyncError::NotEnrolled)), Unavailable),
            (Box::new(BootstrapError::Registration(RegistrationError::NoDataKey)), Unavailable),
            (Box::new(BootstrapError::Store(store())), Unavailable),
            (Box::new(BootstrapError::Hub(body(404))), NotFound),
            (Box::new(BootstrapError::ReaderStopped), Unavailable),
            (Box::new(DemoError::Store(store())), Unavailable),
            (Box::new(DemoError::Provisioning(ProvisioningError::BadBundle("b".into()))), Invalid),
            (Box::new(DemoError::Registration(RegistrationError::NotFound("x".into()))), NotFound),
            (Box::new(DemoError::Generate("g".into())), Unavailable),
            (Box::new(GateError::Config(ConfigError::Invalid("no lane".into()))), Invalid),
            (Box::new(GateError::Store(store())), Unavailable),
            (Box::new(GateError::Io(io())), Unavailable),
            (Box::new(GateError::Stopped), Unavailable),
            (Box::new(GateError::Panicked), Unavailable),
            (Box::new(ConfigError::Toml(toml_error())), Invalid),
            (Box::new(ConfigError::Invalid("no lane".into())), Invalid),
            (Box::new(UiError::Start(io())), Unavailable),
            (Box::new(UiError::Gate("g".into())), Unavailable),
            (Box::new(UiError::Window("w".into())), Unavailable),
            (Box::new(body(403)), Refused),
            (Box::new(body(404)), NotFound),
            (Box::new(body(422)), Invalid),
            (Box::new(body(503)), Unavailable),
            (Box::new(ClientError::BadAuthority("pem".into())), Invalid),
            (Box::new(ClientError::Snapshot(SnapshotError::Corrupt("c".into()))), Unavailable),
            (Box::new(ClientError::Unexpected { status: 200, reason: "r".into() }), Unavailable),
            (Box::new(SnapshotError::Cut(io())), Unavailable),
            (Box::new(SnapshotError::Corrupt("c".into())), Unavailable),
        ];
        all
    }

    #[test]
    fn a_station_failure_keeps_the_class_of_the_library_error_it_came_from() {
        use crate::station::Failure;
        for (error, expected) in every_error() {
            assert_eq!(Failure::of_error(error.as_ref()).class(), expected, "{error}");
        }
        let refused = Failure::from(OperatorError::BadLogin);
        assert_eq!((refused.class(), OperatorError::BadLogin.class()), (Refused, Refused));
        let missing = RegistrationError::NotFound("A-1".into());
        assert_eq!((Failure::from(missing).class()), NotFound);
        assert_eq!(Failure::of_error(&io()).class(), Unavailable, "an outside error: unavailable");
    }

    #[test]
    fn every_error_variant_has_its_class() {
        let mut seen = std::collections::HashSet::new();
        for (error, expected) in every_error() {
            assert_eq!(class_of(error.as_ref()), Some(expected), "{error}");
            seen.insert(expected);
        }
        assert_eq!(seen.len(), ErrorClass::ALL.len(), "every class is some error's");
        assert_eq!(class_of(&io()), None, "an error of no library type has no class");
    }
}
