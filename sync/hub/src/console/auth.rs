//! Who may use the console: users with argon2id passwords, roles with their function and
//! data permissions, sessions in cookies, CSRF tokens and the sign-in lockout.

use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::Rng;

use crate::enrolment::secret_hash;
use crate::store::{AuditRow, ConsoleSessionRow, HubStore, StoreError};

/// What a console user may do. Function permissions are the pages and actions
/// ([`ConsoleRole::may_open`], [`ConsoleRole::may`]); data permissions say whether personal
/// data may be shown ([`ConsoleRole::shows_personal_data`]) and, per user, which attendee
/// categories ([`limit_categories`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsoleRole {
    /// The organiser: every page and action, personal data included.
    Organiser,
    /// The operations room: the fleet, Venue now and the attendee look-up, read only,
    /// names and phones masked.
    Operations,
    /// Venue security: the fleet and Venue now, read only; the attendee look-up with
    /// personal data (ID numbers masked), and revoking a badge from it.
    Security,
}

/// A page of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Fleet,
    Stations,
    /// The organiser systems' API keys.
    Keys,
    Audit,
    /// Data accuracy: the duplicate and identity conflicts, merged or dismissed.
    Accuracy,
    /// The attendee look-up.
    Lookup,
    /// The whole venue's figures of the day (`venue.rs`): counts only, no personal data.
    Venue,
}

/// Something a console user changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    AddStation,
    RevokeStation,
    AddKey,
    RevokeKey,
    MergeConflict,
    DismissConflict,
    RevokeBadge,
}

impl ConsoleRole {
    pub const ALL: [ConsoleRole; 3] =
        [ConsoleRole::Organiser, ConsoleRole::Operations, ConsoleRole::Security];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleRole::Organiser => "organiser",
            ConsoleRole::Operations => "operations",
            ConsoleRole::Security => "security",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// The pages this role sees, in the navigation's order.
    pub fn pages(self) -> &'static [Page] {
        match self {
            ConsoleRole::Organiser => &[
                Page::Fleet,
                Page::Stations,
                Page::Keys,
                Page::Audit,
                Page::Venue,
                Page::Accuracy,
                Page::Lookup,
            ],
            ConsoleRole::Operations | ConsoleRole::Security => {
                &[Page::Fleet, Page::Venue, Page::Lookup]
            }
        }
    }

    pub fn may_open(self, page: Page) -> bool {
        self.pages().contains(&page)
    }

    pub fn may(self, action: Action) -> bool {
        match action {
            Action::AddStation
            | Action::RevokeStation
            | Action::AddKey
            | Action::RevokeKey
            | Action::MergeConflict
            | Action::DismissConflict => self == ConsoleRole::Organiser,
            // Security stops a stolen badge; the operations room only looks.
            Action::RevokeBadge => self.shows_personal_data(),
        }
    }

    /// Whether names and phones may be shown to this role, and looked up by phone: else
    /// the attendee look-up shows names and phones masked (ID numbers are masked for
    /// everyone). `user list` states it per role.
    pub fn shows_personal_data(self) -> bool {
        matches!(self, ConsoleRole::Organiser | ConsoleRole::Security)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'")]
    BadName,
    #[error("a password is {MIN_PASSWORD_CHARS} to 1024 characters")]
    BadPassword,
    #[error("a category is 1 to {MAX_CATEGORY_CHARS} characters")]
    BadCategory,
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shorter passwords are refused: the console reaches every station's enrolment.
pub const MIN_PASSWORD_CHARS: usize = 12;

pub fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

fn hash_password(password: &str) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// True when `password` matches the stored argon2 `hash`.
pub fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A hash no password matches quickly: checked for unknown names, so a sign-in takes as
/// long whether the name exists or not.
pub fn stand_in_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("no user has this password").unwrap_or_default())
}

/// `expo-hub user add`: the user is stored with an argon2id hash of `password`.
pub async fn add_user<S: HubStore>(
    store: &S,
    name: &str,
    role: ConsoleRole,
    password: &str,
) -> Result<(), UserError> {
    if !valid_user_name(name) {
        return Err(UserError::BadName);
    }
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=1024).contains(&chars) {
        return Err(UserError::BadPassword);
    }
    let hash = hash_password(password)?;
    store.add_console_user(name, role.as_str(), &hash).await?;
    audit(store, "cli", "user_add", format!("{name} as {}", role.as_str())).await?;
    Ok(())
}

/// Longest attendee category a data permission names (as the event's category codes).
const MAX_CATEGORY_CHARS: usize = 64;

/// The categories trimmed, or why one cannot be a data permission.
pub fn checked_categories(categories: &[String]) -> Result<Vec<String>, UserError> {
    let categories: Vec<String> = categories.iter().map(|c| c.trim().to_owned()).collect();
    if categories.iter().any(|c| c.is_empty() || c.chars().count() > MAX_CATEGORY_CHARS) {
        return Err(UserError::BadCategory);
    }
    Ok(categories)
}

/// `expo-hub user add --categories`: the user sees only attendees of `categories` (empty:
/// every category) in the attendee look-up, and may revoke only their badges.
pub async fn limit_categories<S: HubStore>(
    store: &S,
    name: &str,
    categories: &[String],
) -> Result<(), UserError> {
    let categories = checked_categories(categories)?;
    let detail = format!("{name}: {}", categories.join(","));
    store.set_console_user_categories(name, categories).await?;
    audit(store, "cli", "user_categories", detail).await?;
    Ok(())
}

/// `expo-hub user remove`: the user and their sessions go.
pub async fn remove_user<S: HubStore>(store: &S, name: &str) -> Result<(), StoreError> {
    store.remove_console_user(name).await?;
    audit(store, "cli", "user_remove", name.to_owned()).await
}

pub async fn audit<S: HubStore>(
    store: &S,
    user: &str,
    action: &str,
    detail: String,
) -> Result<(), StoreError> {
    let at_ms = now_ms();
    store
        .console_audit(AuditRow { at_ms, user: user.to_owned(), action: action.to_owned(), detail })
        .await
}

pub fn now_ms() -> i64 {
    i64::try_from(expo_sync::hlc::wall_clock_ms()).unwrap_or(i64::MAX)
}

/// A fresh random token (hex) for a session cookie or a CSRF field.
pub fn new_token() -> String {
    hex::encode(rand::thread_rng().gen::<[u8; 32]>())
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Session {
    pub token_hash: String,
    pub user: String,
    pub role: ConsoleRole,
    pub csrf: String,
}

impl Session {
    /// Who the hub's own audit entries and revocations name for what this user does:
    /// `console:USER`, as the API names its keys `api:NAME`.
    pub fn actor(&self) -> String {
        format!("console:{}", self.user)
    }
}

/// Starts a session for `user`; returns the cookie's token (stored only hashed).
pub async fn start_session<S: HubStore>(
    store: &S,
    user: &str,
    role: ConsoleRole,
    lifetime_ms: i64,
) -> Result<(String, Session), StoreError> {
    let token = new_token();
    let session =
        Session { token_hash: secret_hash(&token), user: user.to_owned(), role, csrf: new_token() };
    store
        .create_console_session(ConsoleSessionRow {
            token_hash: session.token_hash.clone(),
            user: user.to_owned(),
            role: role.as_str().to_owned(),
            csrf: session.csrf.clone(),
            expires_at_ms: now_ms().saturating_add(lifetime_ms),
        })
        .await?;
    Ok((token, session))
}

/// The live session of a cookie's token, if any.
pub async fn session_of<S: HubStore>(
    store: &S,
    token: &str,
) -> Result<Option<Session>, StoreError> {
    let Some(row) = store.console_session(&secret_hash(token), now_ms()).await? else {
        return Ok(None);
    };
    let role = ConsoleRole::parse(&row.role)
        .ok_or_else(|| StoreError::Corrupt(format!("console role {:?}", row.role)))?;
    Ok(Some(Session { token_hash: row.token_hash, user: row.user, role, csrf: row.csrf }))
}

/// Failed sign-ins of one name within [`LOCKOUT_WINDOW_MS`] that lock it.
pub const LOCKOUT_FAILURES: u64 = 5;
pub const LOCKOUT_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Whether `name` is locked out now: five failed sign-ins in the last 15 minutes. Counted
/// from the audit log, so every hub process agrees.
pub async fn locked_out<S: HubStore>(store: &S, name: &str) -> Result<bool, StoreError> {
    let failures =
        store.console_audit_count(name, SIGN_IN_FAILED, now_ms() - LOCKOUT_WINDOW_MS).await?;
    Ok(failures >= LOCKOUT_FAILURES)
}

pub const SIGN_IN_FAILED: &str = "sign_in_failed";

/// Equal strings, compared in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_carry_pages_actions_and_data_permissions() {
        assert!(ConsoleRole::Organiser.may(Action::AddStation));
        assert!(!ConsoleRole::Operations.may(Action::RevokeStation));
        assert!(!ConsoleRole::Security.may_open(Page::Stations));
        assert!(ConsoleRole::Operations.may_open(Page::Fleet));
        assert!(!ConsoleRole::Operations.shows_personal_data());
        for role in ConsoleRole::ALL {
            assert_eq!(ConsoleRole::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn passwords_are_argon2id_and_secrets_compare_whole() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("correct horse batterY", &hash));
        assert!(!password_matches("x", stand_in_hash()));
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
