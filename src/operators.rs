//! Operators: who may log in at this station, with which role, and what each role may
//! see and do. Function permissions (screens and actions) come from the role; data
//! permissions are the role's ID-number visibility plus an optional category scope
//! (an exhibitor desk handles exhibitors only).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use crate::domain::AttendeeId;
use crate::store::{format_time, now_rfc3339, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown role {0:?}: use admin, desk, kiosk or gate")]
    UnknownRole(String),
    #[error("operator name must be 1-40 letters, digits, '-', '_' or '.'")]
    BadName,
    #[error("a PIN or password needs at least 4 characters")]
    WeakSecret,
    #[error("operator {0:?} already exists")]
    Exists(String),
    #[error("unknown category {0:?} in the operator's scope")]
    UnknownCategory(String),
    #[error("wrong operator name or PIN")]
    BadLogin,
    #[error("operator {operator:?} ({role}) may not {permission}")]
    Forbidden { operator: String, role: Role, permission: Permission },
    /// The role allows it, but not for attendees of this category (data permission).
    #[error("operator {operator:?} does not handle the {category} category")]
    OutOfScope { operator: String, category: String },
    #[error("could not hash the secret: {0}")]
    Hash(String),
    #[error("too many wrong PINs for {name:?}: try again in {seconds} s")]
    LockedOut { name: String, seconds: u64 },
    #[error("no operator named {0:?}")]
    NotFound(String),
    #[error("{0:?} is the last active admin: add or enable another admin first")]
    LastAdmin(String),
}

pub type Result<T, E = OperatorError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Desk,
    Kiosk,
    Gate,
}

/// Something an operator may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Search,
    Register,
    Edit,
    Print,
    Reprint,
    Revoke,
    /// See full ID document numbers instead of the masked form.
    RevealId,
    Import,
    ManageEvent,
    ManageOperators,
    ViewAudit,
    /// The dashboard, daily reports and the post-show follow-up export.
    ViewReports,
    SelfService,
    OperateGate,
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Permission::Search => "search attendees",
            Permission::Register => "register attendees",
            Permission::Edit => "edit attendees",
            Permission::Print => "print badges",
            Permission::Reprint => "reprint badges",
            Permission::Revoke => "revoke badges",
            Permission::RevealId => "see full ID numbers",
            Permission::Import => "import pre-registrations",
            Permission::ManageEvent => "change the event",
            Permission::ManageOperators => "manage operators",
            Permission::ViewAudit => "read the audit log",
            Permission::ViewReports => "see statistics and export reports",
            Permission::SelfService => "run the self-service kiosk",
            Permission::OperateGate => "operate gates",
        };
        f.write_str(text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Desk, Role::Kiosk, Role::Gate];

    pub fn id(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Desk => "desk",
            Role::Kiosk => "kiosk",
            Role::Gate => "gate",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|role| role.id() == text.trim().to_ascii_lowercase())
            .ok_or_else(|| OperatorError::UnknownRole(text.to_owned()))
    }

    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &[
                Search,
                Register,
                Edit,
                Print,
                Reprint,
                Revoke,
                RevealId,
                Import,
                ManageEvent,
                ManageOperators,
                ViewAudit,
                ViewReports,
                SelfService,
                OperateGate,
            ],
            // A desk fixes typos and reprints lost badges, but sees masked ID numbers only.
            Role::Desk => &[Search, Register, Edit, Print, Reprint],
            // A kiosk serves one visitor at a time: no search, no other attendee's data.
            Role::Kiosk => &[Register, Print, SelfService],
            Role::Gate => &[OperateGate],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    pub name: String,
    pub role: Role,
    /// Category ids this operator handles; empty means every category.
    pub categories: Vec<String>,
}

impl Operator {
    /// The station owner at the command line: whoever holds the data directory already
    /// holds everything in it, so the CLI acts as an admin named after the station.
    pub fn station_admin(station: &str) -> Self {
        Operator::admin(&format!("cli@{station}"))
    }

    /// An admin of every category under `name`: the actor of the station's own jobs (the
    /// demo, benchmarks, tests). People act as the operator [`login`] returns.
    pub fn admin(name: &str) -> Self {
        Operator { name: name.to_owned(), role: Role::Admin, categories: Vec::new() }
    }

    /// The self-service kiosk of this station: no PIN (a kiosk has no operator), the
    /// kiosk role's permissions (register and print, never search), every category.
    pub fn kiosk(station: &str) -> Self {
        Operator { name: format!("kiosk@{station}"), role: Role::Kiosk, categories: Vec::new() }
    }

    /// The gate screen of this station's app: no PIN (it only shows a scanned badge's
    /// verdict), the gate role's permissions, every category.
    pub fn gate(station: &str) -> Self {
        Operator { name: format!("gate@{station}"), role: Role::Gate, categories: Vec::new() }
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.role.permissions().contains(&permission)
    }

    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(OperatorError::Forbidden {
                operator: self.name.clone(),
                role: self.role,
                permission,
            })
        }
    }

    /// Whether this operator handles attendees of `category` (data permission).
    pub fn handles(&self, category: &str) -> bool {
        self.categories.is_empty() || self.categories.iter().any(|c| c == category)
    }

    /// The function permission, and the data permission for every category the action
    /// touches (an edit touches the old and the new one).
    pub fn require_for(&self, permission: Permission, categories: &[&str]) -> Result<()> {
        self.require(permission)?;
        match categories.iter().find(|category| !self.handles(category)) {
            Some(category) => Err(OperatorError::OutOfScope {
                operator: self.name.clone(),
                category: (*category).to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// Checks that `operator` may do `permission` to attendees of `categories` (see
/// [`Operator::require_for`]). Every library function that changes data or reveals
/// personal data starts here, so no screen or command can skip it. A refusal is audited
/// (`refused`, with the permission and the category) before it is returned; the caller
/// writes nothing else.
pub fn authorize(
    store: &mut Store,
    operator: &Operator,
    permission: Permission,
    attendee: Option<AttendeeId>,
    categories: &[&str],
) -> Result<()> {
    let Err(refusal) = operator.require_for(permission, categories) else {
        return Ok(());
    };
    let category = match &refusal {
        OperatorError::OutOfScope { category, .. } => Some(category.clone()),
        _ => None,
    };
    store.write(|tx| {
        tx.audit(
            &operator.name,
            "refused",
            attendee,
            json!({ "permission": permission, "category": category }),
        )
    })?;
    Err(refusal)
}

fn hash_secret(secret: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| OperatorError::Hash(e.to_string()))
}

/// Adds an operator. The secret is kept only as an argon2id hash.
pub fn add(
    store: &mut Store,
    actor: &Operator,
    name: &str,
    role: Role,
    secret: &str,
    categories: &[String],
) -> Result<Operator> {
    authorize(store, actor, Permission::ManageOperators, None, &[])?;
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > 40
        || !name.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c))
    {
        return Err(OperatorError::BadName);
    }
    if secret.chars().count() < 4 {
        return Err(OperatorError::WeakSecret);
    }
    let scope = category_scope(store, categories)?;
    let hash = hash_secret(secret)?;
    let operator = Operator { name: name.to_owned(), role, categories: scope };
    store.write(|tx| {
        let exists: Option<String> = tx
            .sql()
            .query_row("SELECT name FROM operators WHERE name = ?1", [&operator.name], |r| r.get(0))
            .optional()
            .map_err(StoreError::from)?;
        if exists.is_some() {
            return Err(OperatorError::Exists(operator.name.clone()));
        }
        tx.sql()
            .execute(
                "INSERT INTO operators (name, role, secret_hash, categories, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    operator.name,
                    role.id(),
                    hash,
                    serde_json::to_string(&operator.categories).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    now_rfc3339()
                ],
            )
            .map_err(StoreError::from)?;
        tx.audit(
            &actor.name,
            "operator_add",
            None,
            json!({ "operator": operator.name, "role": role.id(), "categories": operator.categories }),
        )?;
        Ok(operator.clone())
    })
}

/// Category ids for the names or ids given (Chinese labels are accepted).
fn category_scope(store: &Store, categories: &[String]) -> Result<Vec<String>> {
    let definition = &store.event()?.definition;
    categories
        .iter()
        .map(|category| {
            definition
                .category(category)
                .map(|(_, known)| known.id.clone())
                .ok_or_else(|| OperatorError::UnknownCategory(category.clone()))
        })
        .collect()
}

/// What an admin changes about an operator; `None` keeps it as it is. Not `Debug`: it may
/// carry a PIN.
#[derive(Clone, Default)]
pub struct OperatorChange {
    pub role: Option<Role>,
    /// Category names or ids; empty means every category.
    pub categories: Option<Vec<String>>,
    /// A new PIN (a forgotten one is replaced, never shown).
    pub secret: Option<String>,
    /// False disables the operator: the PIN stops working at once, the name stays in the
    /// audit log. True enables it again.
    pub active: Option<bool>,
}

/// Changes an operator's role, scope, PIN or whether it may log in; audited without the
/// PIN. The station always keeps one active admin, so nobody locks the app's admin out.
pub fn change(
    store: &mut Store,
    actor: &Operator,
    name: &str,
    change: &OperatorChange,
) -> Result<OperatorEntry> {
    authorize(store, actor, Permission::ManageOperators, None, &[])?;
    if change.secret.as_ref().is_some_and(|secret| secret.chars().count() < 4) {
        return Err(OperatorError::WeakSecret);
    }
    let scope = change.categories.as_deref().map(|c| category_scope(store, c)).transpose()?;
    let hash = change.secret.as_deref().map(hash_secret).transpose()?;
    store.write(|tx| {
        let current = entry(tx.sql(), name)?.ok_or_else(|| OperatorError::NotFound(name.into()))?;
        let updated = OperatorEntry {
            operator: Operator {
                name: current.operator.name.clone(),
                role: change.role.unwrap_or(current.operator.role),
                categories: scope.clone().unwrap_or_else(|| current.operator.categories.clone()),
            },
            active: change.active.unwrap_or(current.active),
        };
        let was_admin = current.active && current.operator.role == Role::Admin;
        let stays_admin = updated.active && updated.operator.role == Role::Admin;
        if was_admin && !stays_admin {
            let admins: i64 = tx
                .sql()
                .query_row(
                    "SELECT count(*) FROM operators WHERE role = 'admin' AND active = 1",
                    [],
                    |r| r.get(0),
                )
                .map_err(StoreError::from)?;
            if admins <= 1 {
                return Err(OperatorError::LastAdmin(current.operator.name));
            }
        }
        let categories = serde_json::to_string(&updated.operator.categories)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.sql()
            .execute(
                "UPDATE operators SET role = ?2, categories = ?3, active = ?4, \
                 secret_hash = coalesce(?5, secret_hash) WHERE name = ?1",
                params![
                    updated.operator.name,
                    updated.operator.role.id(),
                    categories,
                    updated.active,
                    hash
                ],
            )
            .map_err(StoreError::from)?;
        tx.audit(
            &actor.name,
            "operator_change",
            None,
            json!({
                "operator": updated.operator.name,
                "role": updated.operator.role.id(),
                "categories": updated.operator.categories,
                "active": updated.active,
                "pin_changed": hash.is_some(),
            }),
        )?;
        Ok(updated)
    })
}

/// An operator as the admin sees it: enabled or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OperatorEntry {
    #[serde(flatten)]
    pub operator: Operator,
    pub active: bool,
}

/// Every operator, enabled or not, by name.
pub fn list_all(store: &Store) -> Result<Vec<OperatorEntry>> {
    let mut stmt = store
        .conn()
        .prepare("SELECT name, role, categories, active FROM operators ORDER BY name")
        .map_err(StoreError::from)?;
    let rows = stmt.query_map([], read_entry).map_err(StoreError::from)?;
    rows.map(|row| row.map_err(StoreError::from)?).collect()
}

fn entry(conn: &rusqlite::Connection, name: &str) -> Result<Option<OperatorEntry>> {
    conn.query_row(
        "SELECT name, role, categories, active FROM operators WHERE name = ?1",
        [name],
        read_entry,
    )
    .optional()
    .map_err(StoreError::from)?
    .transpose()
}

fn read_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<OperatorEntry>> {
    let (name, role, categories, active): (String, String, String, bool) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    Ok(stored_operator(name, &role, &categories).map(|operator| OperatorEntry { operator, active }))
}

/// Wrong PINs in a row a name may have before each further try must wait.
const FREE_ATTEMPTS: u32 = 5;
/// The first wait; it doubles with each further wrong PIN, up to [`LONGEST_LOCKOUT`].
const FIRST_LOCKOUT: chrono::Duration = chrono::Duration::seconds(30);
const LONGEST_LOCKOUT: chrono::Duration = chrono::Duration::minutes(15);

/// Checks a name and PIN. Both outcomes are audited; a failure does not say which of
/// the two was wrong. After [`FREE_ATTEMPTS`] wrong PINs in a row for one name, that name
/// waits before the next try (30 s, doubling, at most 15 min), so a 4-digit PIN cannot be
/// guessed at a public kiosk's staff exit; the count survives a restart.
pub fn login(store: &mut Store, name: &str, secret: &str) -> Result<Operator> {
    let name_for_audit = name.chars().take(40).collect::<String>();
    let now = chrono::Utc::now();
    if let Some(wait) = lockout(store.conn(), &name_for_audit, now)? {
        let seconds = u64::try_from(wait.num_seconds().max(1)).unwrap_or(1);
        store.write(|tx| {
            tx.audit(&name_for_audit, "login_locked", None, json!({ "seconds": seconds }))
        })?;
        return Err(OperatorError::LockedOut { name: name_for_audit, seconds });
    }
    let row: Option<(String, String, String)> = store
        .conn()
        .query_row(
            "SELECT role, secret_hash, categories FROM operators WHERE name = ?1 AND active = 1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(StoreError::from)?;
    let verified = row.and_then(|(role, hash, categories)| {
        let parsed = PasswordHash::new(&hash).ok()?;
        Argon2::default().verify_password(secret.as_bytes(), &parsed).ok()?;
        Some((role, categories))
    });
    let Some((role, categories)) = verified else {
        store.write(|tx| {
            tx.sql()
                .execute(
                    "INSERT INTO login_failures (name, failures, last_failure_at) VALUES (?1, 1, ?2) \
                     ON CONFLICT(name) DO UPDATE SET failures = failures + 1, \
                     last_failure_at = excluded.last_failure_at",
                    params![name_for_audit, format_time(now)],
                )
                .map_err(StoreError::from)?;
            tx.audit(&name_for_audit, "login_failed", None, json!({}))
        })?;
        return Err(OperatorError::BadLogin);
    };
    let operator = stored_operator(name.to_owned(), &role, &categories)?;
    store.write(|tx| {
        tx.sql()
            .execute("DELETE FROM login_failures WHERE name = ?1", [&name_for_audit])
            .map_err(StoreError::from)?;
        tx.audit(&operator.name, "login", None, json!({ "role": operator.role.id() }))
    })?;
    Ok(operator)
}

/// How long `name` must still wait before its next try, if it must.
fn lockout(
    conn: &rusqlite::Connection,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<chrono::Duration>> {
    let row: Option<(u32, String)> = conn
        .query_row(
            "SELECT failures, last_failure_at FROM login_failures WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(StoreError::from)?;
    let Some((failures, last)) = row.filter(|(failures, _)| *failures >= FREE_ATTEMPTS) else {
        return Ok(None);
    };
    let last = chrono::DateTime::parse_from_rfc3339(&last)
        .map_err(|e| StoreError::Corrupt(format!("login_failures time {last:?}: {e}")))?;
    let doublings = (failures - FREE_ATTEMPTS).min(10);
    let wait = (FIRST_LOCKOUT * 2_i32.pow(doublings)).min(LONGEST_LOCKOUT);
    let remaining = last.with_timezone(&chrono::Utc) + wait - now;
    Ok((remaining > chrono::Duration::zero()).then_some(remaining))
}

/// Whether the station has an active admin. Until it has, whoever holds the data directory
/// sets the station up (the CLI acts as [`Operator::station_admin`]); from then on every
/// command acts as a logged-in operator. [`change`] never disables or demotes the last
/// active admin, so a station cannot lock itself out this way.
pub fn has_active_admin(store: &Store) -> Result<bool> {
    store
        .conn()
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM operators WHERE role = 'admin' AND active = 1)",
            [],
            |r| r.get(0),
        )
        .map_err(|e| StoreError::from(e).into())
}

pub fn list(store: &Store) -> Result<Vec<Operator>> {
    let mut stmt = store
        .conn()
        .prepare("SELECT name, role, categories FROM operators WHERE active = 1 ORDER BY name")
        .map_err(StoreError::from)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })
        .map_err(StoreError::from)?;
    let mut operators = Vec::new();
    for row in rows {
        let (name, role, categories) = row.map_err(StoreError::from)?;
        operators.push(stored_operator(name, &role, &categories)?);
    }
    Ok(operators)
}

/// An operator from its stored row (role id and JSON category scope).
fn stored_operator(name: String, role: &str, categories: &str) -> Result<Operator> {
    Ok(Operator {
        name,
        role: Role::parse(role)?,
        categories: serde_json::from_str(categories)
            .map_err(|e| StoreError::Corrupt(format!("operator categories: {e}")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::store_with_event;

    #[test]
    fn roles_grant_function_permissions() {
        let desk = Operator { name: "d".into(), role: Role::Desk, categories: vec![] };
        assert!(desk.can(Permission::Reprint));
        assert!(!desk.can(Permission::RevealId));
        assert!(!desk.can(Permission::ManageOperators));
        let kiosk = Operator { name: "k".into(), role: Role::Kiosk, categories: vec![] };
        assert!(!kiosk.can(Permission::Search), "a kiosk never searches other attendees");
        assert!(matches!(kiosk.require(Permission::Revoke), Err(OperatorError::Forbidden { .. })));
        let admin = Operator::station_admin("st-1");
        assert!(Permission::RevealId != Permission::Search && admin.can(Permission::RevealId));
    }

    #[test]
    fn category_scope_is_a_data_permission() {
        let (_dir, mut store) = store_with_event();
        let admin = Operator::station_admin(store.station_id());
        let op =
            add(&mut store, &admin, "exh-desk", Role::Desk, "2468", &["参展商".into()]).unwrap();
        assert_eq!(op.categories, vec!["exhibitor".to_string()]);
        assert!(op.handles("exhibitor"));
        assert!(!op.handles("vip"));
        assert!(matches!(
            add(&mut store, &admin, "x", Role::Desk, "2468", &["nobody".into()]),
            Err(OperatorError::UnknownCategory(_))
        ));
    }

    #[test]
    fn pins_are_hashed_and_logins_audited() {
        let (_dir, mut store) = store_with_event();
        let admin = Operator::station_admin(store.station_id());
        add(&mut store, &admin, "alice", Role::Desk, "1234", &[]).unwrap();
        let stored: String =
            store.conn().query_row("SELECT secret_hash FROM operators", [], |r| r.get(0)).unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("1234"));

        assert!(matches!(login(&mut store, "alice", "9999"), Err(OperatorError::BadLogin)));
        assert!(matches!(login(&mut store, "mallory", "1234"), Err(OperatorError::BadLogin)));
        let alice = login(&mut store, "alice", "1234").unwrap();
        assert_eq!(alice.role, Role::Desk);
        let actions: Vec<String> = store
            .conn()
            .prepare("SELECT action FROM audit ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            actions,
            ["event_init", "operator_add", "login_failed", "login_failed", "login"]
        );
        assert_eq!(list(&store).unwrap(), vec![alice]);
    }

    #[test]
    fn bad_operator_input_is_refused() {
        let (_dir, mut store) = store_with_event();
        let admin = Operator::station_admin(store.station_id());
        assert!(matches!(
            add(&mut store, &admin, "", Role::Desk, "1234", &[]),
            Err(OperatorError::BadName)
        ));
        assert!(matches!(
            add(&mut store, &admin, "a b", Role::Desk, "1234", &[]),
            Err(OperatorError::BadName)
        ));
        assert!(matches!(
            add(&mut store, &admin, "bob", Role::Desk, "12", &[]),
            Err(OperatorError::WeakSecret)
        ));
        add(&mut store, &admin, "bob", Role::Gate, "1234", &[]).unwrap();
        assert!(matches!(
            add(&mut store, &admin, "bob", Role::Desk, "1234", &[]),
            Err(OperatorError::Exists(_))
        ));
        let desk = Operator { name: "d".into(), role: Role::Desk, categories: vec![] };
        assert!(matches!(
            add(&mut store, &desk, "carol", Role::Admin, "1234", &[]),
            Err(OperatorError::Forbidden { .. })
        ));
        assert!(matches!(Role::parse("root"), Err(OperatorError::UnknownRole(_))));
    }
    #[test]
    fn an_admin_resets_a_pin_disables_and_enables_an_operator_and_keeps_one_admin() {
        let (_dir, mut store) = store_with_event();
        let cli = Operator::station_admin(store.station_id());
        let boss = add(&mut store, &cli, "boss", Role::Admin, "0000", &[]).unwrap();
        add(&mut store, &cli, "desk1", Role::Desk, "1234", &[]).unwrap();

        // A forgotten PIN is replaced; the old one stops working. The audit never holds it.
        let reset = OperatorChange { secret: Some("9876".into()), ..OperatorChange::default() };
        change(&mut store, &boss, "desk1", &reset).unwrap();
        assert!(matches!(login(&mut store, "desk1", "1234"), Err(OperatorError::BadLogin)));
        assert_eq!(login(&mut store, "desk1", "9876").unwrap().role, Role::Desk);
        let audit: String = store
            .conn()
            .query_row(
                "SELECT detail FROM audit WHERE action = 'operator_change' ORDER BY seq DESC",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(audit.contains(r#""pin_changed":true"#) && !audit.contains("9876"), "{audit}");

        // Disabled: cannot log in, not offered, still listed for the admin.
        let off = OperatorChange { active: Some(false), ..OperatorChange::default() };
        change(&mut store, &boss, "desk1", &off).unwrap();
        assert!(matches!(login(&mut store, "desk1", "9876"), Err(OperatorError::BadLogin)));
        assert!(list(&store).unwrap().iter().all(|o| o.name != "desk1"));
        let all = list_all(&store).unwrap();
        assert!(all.iter().any(|e| e.operator.name == "desk1" && !e.active));
        let on = OperatorChange { active: Some(true), ..OperatorChange::default() };
        change(&mut store, &boss, "desk1", &on).unwrap();
        assert!(login(&mut store, "desk1", "9876").is_ok());

        // Role and scope change; a desk operator may not do it.
        let scoped = OperatorChange {
            role: Some(Role::Kiosk),
            categories: Some(vec!["参展商".into()]),
            ..OperatorChange::default()
        };
        let changed = change(&mut store, &boss, "desk1", &scoped).unwrap();
        assert_eq!(
            (changed.operator.role, changed.operator.categories.clone()),
            (Role::Kiosk, vec!["exhibitor".to_string()])
        );
        let desk = Operator { name: "d".into(), role: Role::Desk, categories: vec![] };
        assert!(matches!(
            change(&mut store, &desk, "boss", &off),
            Err(OperatorError::Forbidden { .. })
        ));

        // The only admin can be neither disabled nor demoted; with a second one, it can.
        let demote = OperatorChange { role: Some(Role::Desk), ..OperatorChange::default() };
        for last_admin_change in [&off, &demote] {
            assert!(matches!(
                change(&mut store, &boss, "boss", last_admin_change),
                Err(OperatorError::LastAdmin(name)) if name == "boss"
            ));
        }
        add(&mut store, &cli, "boss2", Role::Admin, "1111", &[]).unwrap();
        change(&mut store, &boss, "boss", &demote).unwrap();

        assert!(matches!(change(&mut store, &cli, "nobody", &on), Err(OperatorError::NotFound(_))));
        let weak = OperatorChange { secret: Some("12".into()), ..OperatorChange::default() };
        assert!(matches!(change(&mut store, &cli, "desk1", &weak), Err(OperatorError::WeakSecret)));
    }
    #[test]
    fn five_wrong_pins_make_the_name_wait_and_a_good_login_clears_the_count() {
        let (_dir, mut store) = store_with_event();
        let cli = Operator::station_admin(store.station_id());
        add(&mut store, &cli, "desk1", Role::Desk, "1234", &[]).unwrap();
        for name in ["desk1", "nobody"] {
            for _ in 0..FREE_ATTEMPTS {
                assert!(matches!(login(&mut store, name, "0000"), Err(OperatorError::BadLogin)));
            }
            // Locked: even the right PIN is not tried, and the wait is said.
            match login(&mut store, name, "1234") {
                Err(OperatorError::LockedOut { seconds, .. }) => {
                    assert!((1..=30).contains(&seconds))
                }
                other => panic!("{name}: expected a lockout, got {other:?}"),
            }
        }
        // Half a minute later the right PIN works and the count starts again.
        let earlier = format_time(chrono::Utc::now() - chrono::Duration::seconds(31));
        store.conn().execute("UPDATE login_failures SET last_failure_at = ?1", [&earlier]).unwrap();
        assert!(login(&mut store, "desk1", "1234").is_ok());
        assert!(matches!(login(&mut store, "desk1", "0000"), Err(OperatorError::BadLogin)));
        assert!(login(&mut store, "desk1", "1234").is_ok(), "one wrong PIN does not lock");
        // A sixth wrong PIN in a row doubles the wait.
        assert!(matches!(login(&mut store, "nobody", "0000"), Err(OperatorError::BadLogin)));
        match login(&mut store, "nobody", "0000") {
            Err(OperatorError::LockedOut { seconds, .. }) => assert!((31..=60).contains(&seconds)),
            other => panic!("expected a longer lockout, got {other:?}"),
        }
        let locked: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM audit WHERE action = 'login_locked'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(locked, 3);
    }
}
