//! `expo-hub`, the organiser's data centre and the stations' sync service: storage
//! back-ends, HTTP API, enrolment and export. Stations speak to it through `expo-sync`.

pub mod api_keys;
pub mod attendee_search;
pub mod conflicts;
pub mod console;
pub mod enrolment;
pub mod export;
pub mod feed;
pub mod heartbeat;
pub mod long_poll;
pub mod notify;
pub mod origin;
pub mod postgres;
mod postgres_attendee_search;
mod postgres_console;
mod postgres_venue_now;
pub mod registrations;
pub mod rehearsal;
pub mod revocation;
pub mod server;
pub mod snapshot;
pub mod sqlite;
mod sqlite_attendee_search;
mod sqlite_console;
mod sqlite_venue_now;
pub mod store;
pub mod tls;
pub mod venue_now;

use std::path::PathBuf;

pub use store::{HubStore, StoreError};

/// Where the hub keeps its data, from `--db`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (relative) or `sqlite:///abs/path`.
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`, passed to the driver as is.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if !path.is_empty() {
                return Ok(Self::Sqlite(PathBuf::from(path)));
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        // Never echo a URL that may carry a password.
        let scheme = url.split("://").next().unwrap_or_default();
        Err(StoreError::UnsupportedUrl(format!("{scheme}://...")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://hub.db").unwrap(),
            DatabaseUrl::Sqlite("hub.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///v/h.db").unwrap(),
            DatabaseUrl::Sqlite("/v/h.db".into())
        );
        assert!(matches!(DatabaseUrl::parse("postgresql://u@h/db"), Ok(DatabaseUrl::Postgres(_))));
        let err = DatabaseUrl::parse("mysql://root:secret@h/db").unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
