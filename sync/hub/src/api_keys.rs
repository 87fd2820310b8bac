//! API keys of the organiser's systems (online registration, CRM): `expo-hub key add`,
//! `key list`, `key revoke`, and the check every integration route makes,
//! [`require_scope`].
//!
//! Kept apart from station credentials: another table, another check. A station token is
//! no API key (401 on `/v1/feed`, `/v1/revocations`, `/v1/registrations`) and an API key
//! is no station credential (401 on push, pull, keys, event). A key is a high-entropy
//! random string, so the hub stores only its SHA-256 (as for station tokens), looks it up
//! by that hash on every request (a revocation takes effect at the next request, on every
//! hub process) and compares the hash it found in constant time.

use std::fmt;
use std::str::FromStr;

use axum::http::{HeaderMap, StatusCode};
use rand::Rng;
use serde_json::json;

use crate::enrolment::{secret_hash, valid_station_name};
use crate::origin::HubOrigin;
use crate::server::{bearer_token, ApiError};
use crate::store::{HubStore, StoreError};

/// What a key may do. Unknown scopes are refused when a key is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// `PUT /v1/registrations`.
    RegistrationsWrite,
    /// `GET /v1/feed`.
    FeedRead,
    /// `POST /v1/revocations`.
    BadgesRevoke,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::RegistrationsWrite, Scope::FeedRead, Scope::BadgesRevoke];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::RegistrationsWrite => "registrations:write",
            Scope::FeedRead => "feed:read",
            Scope::BadgesRevoke => "badges:revoke",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown scope {0:?}: use registrations:write, feed:read or badges:revoke")]
pub struct UnknownScope(String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(text: &str) -> Result<Self, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text.trim())
            .ok_or_else(|| UnknownScope(text.chars().take(64).collect()))
    }
}

/// Parses `registrations:write,feed:read` (as stored, and as `--scope` takes it): sorted,
/// each once.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, UnknownScope> {
    let mut scopes =
        list.split(',').map(str::parse).collect::<Result<Vec<Scope>, UnknownScope>>()?;
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

fn scope_list(scopes: &[Scope]) -> String {
    scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(",")
}

/// The keys' table, the same SQL for SQLite and PostgreSQL: a migration step of its own,
/// run when a back-end opens. Only hashes are stored.
pub(crate) const API_KEYS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
";

/// One key as the hub stores it (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub name: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// Comma-separated, as [`parse_scopes`] reads them.
    pub scopes: String,
    /// RFC 3339, like every time of the hub.
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// The organiser system a request authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCaller {
    /// The NAME of `key add`.
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl ApiCaller {
    /// How the changes this caller makes name their author (badge operator, audit actor).
    pub fn actor(&self) -> String {
        format!("{ACTOR_PREFIX}{}", self.name)
    }
}

/// The author of a change made through an API key: `api:NAME`.
const ACTOR_PREFIX: &str = "api:";
/// The author of a key action or a change made with the `expo-hub` command line.
pub const COMMAND_LINE_ACTOR: &str = "expo-hub";

/// Why a key cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("key names are 1 to 64 letters, digits, '.', '_' or '-'; got {0:?}")]
    InvalidName(String),
    #[error(transparent)]
    UnknownScope(#[from] UnknownScope),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Makes a key NAME with `scopes`, stores its hash and audits it; returns the key (shown
/// once: the hub cannot show it again).
pub async fn add_key<S: HubStore>(
    store: &S,
    name: &str,
    scopes: &[Scope],
) -> Result<String, ApiKeyError> {
    if !valid_station_name(name) {
        return Err(ApiKeyError::InvalidName(name.chars().take(80).collect()));
    }
    let key = format!("{KEY_PREFIX}{}", hex::encode(rand::thread_rng().gen::<[u8; 32]>()));
    let row = ApiKeyRow {
        name: name.to_owned(),
        key_hash: secret_hash(&key),
        scopes: scope_list(scopes),
        created_at: expo_kiosk::store::now_rfc3339(),
        last_used_at: None,
        revoked_at: None,
    };
    store.add_api_key(&row).await?;
    audit(store, "api_key_added", json!({ "key": name, "scopes": row.scopes })).await?;
    tracing::info!(key = name, scopes = row.scopes, "API key added");
    Ok(key)
}

/// Revokes the key NAME: the next request that carries it is refused.
pub async fn revoke_key<S: HubStore>(store: &S, name: &str) -> Result<(), StoreError> {
    store.revoke_api_key(name, &expo_kiosk::store::now_rfc3339()).await?;
    audit(store, "api_key_revoked", json!({ "key": name })).await?;
    tracing::info!(key = name, "API key revoked");
    Ok(())
}

/// Stores an audit entry of a key action, made from the command line.
async fn audit<S: HubStore>(
    store: &S,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    let entry = HubOrigin::default().audit(COMMAND_LINE_ACTOR, action, None, detail);
    HubOrigin::store(store, &[entry]).await.map(drop)
}

/// Keys start so, so a key pasted in the wrong place is recognisable (and a secret
/// scanner can find one).
const KEY_PREFIX: &str = "expo_";

/// The check of every integration route: the request's `Authorization: Bearer KEY` is a
/// key the hub holds, not revoked, with `scope`. 401 for a missing, unknown or revoked
/// key (a station token included), 403 for a key without the scope.
pub async fn require_scope<S: HubStore>(
    store: &S,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<ApiCaller, ApiError> {
    let unknown =
        || ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or unknown API key");
    let key_hash = secret_hash(bearer_token(headers).ok_or_else(unknown)?);
    let row = store
        .use_api_key(&key_hash, &expo_kiosk::store::now_rfc3339())
        .await?
        .filter(|row| same_hash(&row.key_hash, &key_hash))
        .ok_or_else(unknown)?;
    if row.revoked_at.is_some() {
        tracing::warn!(key = row.name, "refused a revoked API key");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "api_key_revoked",
            "this API key was revoked",
        ));
    }
    let scopes = parse_scopes(&row.scopes).map_err(|error| {
        ApiError::from(StoreError::Corrupt(format!("stored scopes of key {:?}: {error}", row.name)))
    })?;
    if !scopes.contains(&scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "missing_scope",
            format!("this API key lacks the scope {scope}"),
        ));
    }
    Ok(ApiCaller { name: row.name, scopes })
}

/// Compares two hashes in time independent of where they differ.
fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn scopes_are_parsed_sorted_once_and_unknown_ones_refused() {
        assert_eq!(
            parse_scopes("feed:read, registrations:write,feed:read").unwrap(),
            vec![Scope::RegistrationsWrite, Scope::FeedRead]
        );
        assert_eq!(
            scope_list(&parse_scopes("badges:revoke,feed:read").unwrap()),
            "feed:read,badges:revoke"
        );
        for bad in ["", "feed:write", "feed:read,", "admin"] {
            assert!(parse_scopes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes_compare_whole() {
        assert!(same_hash("abc", "abc"));
        assert!(!same_hash("abc", "abd"));
        assert!(!same_hash("abc", "ab"));
    }
}
