//! The hub's storage contract and the merge rules every back-end applies identically.
//!
//! A back-end keeps four things: stations and their credentials, every change ever
//! pushed (append-only, numbered by a hub sequence that is the pull cursor), the current
//! state of each entity (which change is the winning version of each entity key; the
//! record itself is read from that change, not stored twice), and duplicate-walk-in
//! conflicts. The decisions (which version wins, which attendees collide) are made here
//! in plain Rust so SQLite and PostgreSQL cannot disagree; the back-ends only persist.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

use uuid::Uuid;

use crate::api_keys::ApiKeyRow;
use crate::conflicts::{ConflictClaim, ConflictKind, NewConflict, StoredConflict};
use expo_sync::protocol::AttendeeRecord;

use expo_sync::authority::{self, Forbidden, StationRole};
use expo_sync::conflict::precedence;
use expo_sync::endorsement::Authority;
use expo_sync::protocol::{Change, EventRecord, PullResponse, PushResponse, Record, RefusedChange};
use expo_sync::scope::{self, Scoped};
use expo_sync::validate::{self, Invalid};

use crate::registrations::DataCentreEvent;
use expo_sync::hlc::Hlc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("station {0:?} already exists")]
    StationExists(String),
    #[error("no station named {0:?}")]
    UnknownStation(String),
    #[error("station names are 1 to 64 letters, digits, '.', '_' or '-'; got {0:?}")]
    InvalidStationName(String),
    #[error("a station id is 1 to 64 bytes; got {0:?}")]
    InvalidStationId(String),
    #[error("the enrolment code is unknown or was already used")]
    InvalidEnrolmentCode,
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage worker failed: {0}")]
    Worker(String),
    /// Seen by nobody in practice: the caller gave up before the connection was free.
    #[error("the request was given up before the database could take it")]
    Abandoned,
    #[error("database file {path}: {source}")]
    DatabaseFile { path: std::path::PathBuf, source: std::io::Error },
    #[error("stored authority key: {0}")]
    Authority(#[from] expo_sync::endorsement::EndorsementError),
    #[error("console user {0:?} already exists")]
    UserExists(String),
    #[error("no console user named {0:?}")]
    UnknownUser(String),
    #[error("conflict {0} is no longer open")]
    ConflictResolved(i64),
    #[error("an API key named {0:?} already exists")]
    ApiKeyExists(String),
    #[error("no API key named {0:?}")]
    UnknownApiKey(String),
}

/// What a bearer token resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StationAuth {
    Active(StationIdentity),
    Revoked(String),
    Unknown,
}

/// Figures for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    pub changes: u64,
    pub active_stations: u64,
    pub conflicts: u64,
}

/// Persistent state of the hub. Every method is one transaction; implementations must
/// stay correct when several hub processes share the database (see each back-end).
pub trait HubStore: Send + Sync + 'static {
    /// Creates the station, in `role`, with a pending one-time enrolment code (stored
    /// hashed).
    fn add_station(
        &self,
        name: &str,
        role: StationRole,
        code_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Consumes the enrolment code, sets the station's credential hash and binds the
    /// station id it gave (if any); returns the station name and role.
    fn redeem_enrolment(
        &self,
        code_hash: &str,
        token_hash: &str,
        station_id: Option<String>,
    ) -> impl Future<Output = Result<(String, Option<StationRole>), StoreError>> + Send;

    /// Gives a station its role (`expo-hub station set-role`): for stations enrolled
    /// before roles existed, or whose job changed.
    fn set_station_role(
        &self,
        name: &str,
        role: StationRole,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Binds `station_id` to a station enrolled before the hub bound ids, unless one is
    /// bound already; returns the id bound now.
    fn bind_station_id(
        &self,
        name: &str,
        station_id: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Revokes the station: its credential stops working on the next request. Returns
    /// the station id bound to it, if any (whose signing keys are revoked next).
    fn revoke_station(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// The organiser authority, made when the database was created.
    fn authority(&self) -> impl Future<Output = Result<Authority, StoreError>> + Send;

    fn authenticate(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<StationAuth, StoreError>> + Send;

    /// Stores a batch pushed by `station`, idempotently by change id: a change whose id
    /// the hub already holds with other content is refused and changes nothing.
    fn push(
        &self,
        station: &str,
        batch: PreparedBatch,
    ) -> impl Future<Output = Result<PushResponse, StoreError>> + Send;

    /// Changes pushed by other stations after cursor `since`, in cursor order, filling
    /// `page` (which scopes them to the caller's role, [`expo_sync::scope`]).
    fn pull(
        &self,
        station: &str,
        since: i64,
        page: PullPage,
    ) -> impl Future<Output = Result<PullResponse, StoreError>> + Send;

    /// Stores an event definition, merging its public keys with the ones already known.
    fn put_event(
        &self,
        event: EventRecord,
    ) -> impl Future<Output = Result<EventRecord, StoreError>> + Send;

    /// The most recently updated event definition.
    fn get_event(&self) -> impl Future<Output = Result<Option<EventRecord>, StoreError>> + Send;

    /// The open conflicts, oldest first.
    fn conflicts(&self) -> impl Future<Output = Result<Vec<StoredConflict>, StoreError>> + Send;

    fn stats(&self) -> impl Future<Output = Result<HubStats, StoreError>> + Send;

    /// Cheap liveness probe of the database.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Current state of one record kind, in entity-key order, after key `after`.
    fn current_page(
        &self,
        kind: &'static str,
        after: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(String, Record)>, StoreError>> + Send;

    // --- Conflicts (data accuracy: `crate::conflicts`) ---

    /// One conflict, open or resolved.
    fn conflict(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<StoredConflict>, StoreError>> + Send;

    /// Records conflicts found outside a push (identity conflicts of the hub's import and
    /// registrations API), once per (kind, attendee_a, attendee_b): a pair recorded before,
    /// open or resolved, is not recorded again. Returns how many were new.
    fn record_conflicts(
        &self,
        conflicts: Vec<NewConflict>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
    // API keys of the organiser's systems (see `api_keys.rs`).

    /// Stores a new key; [`StoreError::ApiKeyExists`] when the name is taken (revoked
    /// keys keep their names).
    fn add_api_key(&self, key: &ApiKeyRow) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every key, by name.
    fn api_keys(&self) -> impl Future<Output = Result<Vec<ApiKeyRow>, StoreError>> + Send;

    /// Marks the key revoked at `at` (a key revoked earlier keeps its first time).
    fn revoke_api_key(
        &self,
        name: &str,
        at: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The key whose hash is `key_hash`, revoked or not; a key not revoked is marked used
    /// at `at`.
    fn use_api_key(
        &self,
        key_hash: &str,
        at: &str,
    ) -> impl Future<Output = Result<Option<ApiKeyRow>, StoreError>> + Send;

    // The data centre's feed (see `feed.rs`).

    /// Up to `limit` stored changes of `kinds` after cursor `after`, in cursor order, and
    /// the highest cursor of the snapshot they were read in.
    fn changes_of_kinds(
        &self,
        kinds: &'static [&'static str],
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<(i64, String)>, i64), StoreError>> + Send;

    /// The current state of the entities `keys` the hub holds (unknown keys are left out).
    fn current_records(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Record)>, StoreError>> + Send;

    // Badge revocation from the data centre (see `revocation.rs`).

    /// The attendees whose current version has `registration_code` (at most two: more
    /// than one is an ambiguity the caller reports). A scan: revocations are rare.
    fn attendees_by_registration_code(
        &self,
        registration_code: &str,
    ) -> impl Future<Output = Result<Vec<AttendeeRecord>, StoreError>> + Send;

    // Registrations into the data centre (`registrations.rs`).

    /// Keeps the event registrations are checked against, with its data key (one per hub).
    fn put_data_centre_event(
        &self,
        event: DataCentreEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn data_centre_event(
        &self,
    ) -> impl Future<Output = Result<Option<DataCentreEvent>, StoreError>> + Send;

    /// The current version, and its HLC, of each attendee whose id is one of `ids` or
    /// whose ID hash is one of `id_hashes`.
    fn current_attendees(
        &self,
        ids: Vec<Uuid>,
        id_hashes: Vec<String>,
    ) -> impl Future<Output = Result<Vec<(Hlc, AttendeeRecord)>, StoreError>> + Send;
    // Heartbeats and the operations console (heartbeat.rs, console/): tables of their
    // own, made by `sqlite_console.rs` and `postgres_console.rs`.

    /// Keeps `report` as the station's latest, and in its history at most once a minute
    /// (history older than [`HEARTBEAT_HISTORY_MS`] goes).
    fn record_heartbeat(
        &self,
        station: &str,
        received_at_ms: i64,
        report: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every station, in name order, with its latest report (JSON) if it sent one.
    fn fleet(&self) -> impl Future<Output = Result<Vec<FleetRow>, StoreError>> + Send;

    /// The station's reports (time, JSON) kept in its history, newest first.
    fn heartbeat_history(
        &self,
        station: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(i64, String)>, StoreError>> + Send;

    fn add_console_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the user and ends their sessions.
    fn remove_console_user(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// (name, role) of every console user, in name order.
    fn console_users(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    /// (role, password hash) of the user.
    fn console_password(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<(String, String)>, StoreError>> + Send;

    fn create_console_session(
        &self,
        session: ConsoleSessionRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The session of `token_hash` unless it expired by `now_ms` (expired ones go).
    fn console_session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<ConsoleSessionRow>, StoreError>> + Send;

    fn end_console_session(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Appends to the console's audit log.
    fn console_audit(&self, entry: AuditRow)
        -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How many entries of `user` with `action` the audit log holds since `since_ms`.
    fn console_audit_count(
        &self,
        user: &str,
        action: &str,
        since_ms: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The newest `limit` audit entries, newest first.
    fn console_audit_log(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditRow>, StoreError>> + Send;

    // Snapshot bootstrap (issue 16): `GET /v1/snapshot`, see `snapshot.rs`.

    /// Up to `limit` entities of the current state (every kind), in entity-key order after
    /// `after`, each as its winning change's stored JSON; read in one snapshot of the
    /// database with the highest sequence number visible in it, which is a pull cursor
    /// that misses nothing of the page.
    fn snapshot_page(
        &self,
        after: &str,
        limit: usize,
    ) -> impl Future<Output = Result<SnapshotPage, StoreError>> + Send;

    // Venue now (issue 18): the console's figures of the whole venue, see `venue_now.rs`;
    // running totals kept by triggers (`sqlite_venue_now.rs`, `postgres_venue_now.rs`).

    /// The running totals of the UTC quarter hours from `first` to before `end`
    /// (`YYYY-MM-DDTHH:MM` bucket keys).
    fn venue_totals(
        &self,
        first: &str,
        end: &str,
    ) -> impl Future<Output = Result<crate::venue_now::VenueTotals, StoreError>> + Send;

    // The console's attendee look-up (`console/lookup.rs`).

    /// Up to `limit` current attendees, not merged away, of `search.categories`, whose
    /// registration code is
    /// `search.text`, whose name contains it (ignoring ASCII case), or, when
    /// `search.phone_digits` is set, whose phone's digits end with them, in name order;
    /// read from the search table the back-end keeps ([`crate::attendee_search`]).
    fn search_attendees(
        &self,
        search: &AttendeeSearch,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AttendeeRecord>, StoreError>> + Send;

    /// Sets the attendee categories the console user may see (empty: every category);
    /// [`StoreError::UnknownUser`] when there is no such user.
    fn set_console_user_categories(
        &self,
        name: &str,
        categories: Vec<String>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The attendee categories the console user may see, in order; empty: every category.
    fn console_user_categories(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

/// What the console's look-up searches for (see [`HubStore::search_attendees`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttendeeSearch {
    /// A registration code or part of a name.
    pub text: String,
    /// Only digits; `None` when phones are not searched.
    pub phone_digits: Option<String>,
    /// Only attendees of these categories; empty: every category.
    pub categories: Vec<String>,
}

/// How long the hub keeps a station's heartbeat history: six hours.
pub const HEARTBEAT_HISTORY_MS: i64 = 6 * 60 * 60 * 1000;
/// One history sample a minute per station at most.
pub const HEARTBEAT_SAMPLE_MS: i64 = 60 * 1000;

/// A station as the fleet page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetRow {
    pub name: String,
    pub role: Option<StationRole>,
    pub revoked: bool,
    /// The station redeemed its enrolment code.
    pub enrolled: bool,
    /// When the latest report arrived (hub clock, ms) and the report (JSON).
    pub last_report: Option<(i64, String)>,
}

/// A console session: the cookie's token only as its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSessionRow {
    pub token_hash: String,
    pub user: String,
    pub role: String,
    pub csrf: String,
    pub expires_at_ms: i64,
}

/// One entry of the console's audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub at_ms: i64,
    pub user: String,
    pub action: String,
    pub detail: String,
}

/// One page of the current state, for a snapshot (see [`HubStore::snapshot_page`]).
#[derive(Clone, Debug, Default)]
pub struct SnapshotPage {
    /// The pull cursor the page's state corresponds to.
    pub high_water: i64,
    /// (entity key, the winning change as stored JSON), in key order.
    pub rows: Vec<(String, String)>,
}

/// One change as the `changes` table stores it.
#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub id: Uuid,
    pub origin: String,
    pub hlc: String,
    pub kind: &'static str,
    pub entity_key: String,
    /// The whole [`Change`] as JSON, stamped with the pusher's role: what a pull hands
    /// back byte for byte.
    pub change_json: String,
}

/// The version of one entity a batch proposes for the current state.
#[derive(Clone, Debug)]
pub struct StateRow {
    pub entity_key: String,
    pub kind: &'static str,
    /// Ranks above HLC: see [`expo_sync::conflict::precedence`].
    pub precedence: i32,
    pub hlc: String,
    pub change_id: Uuid,
    pub origin: String,
    /// Attendees with an ID number only: for duplicate detection.
    pub hashed: Option<HashedAttendee>,
}

impl StateRow {
    pub fn id_hash(&self) -> Option<&str> {
        self.hashed.as_ref().map(|h| h.id_hash.as_str())
    }
}

/// The station a request authenticated as, as enrolment bound it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StationIdentity {
    /// The NAME of `station add`.
    pub name: String,
    /// `None` for a station enrolled before roles existed: it may pull but not push
    /// until `expo-hub station set-role` gives it one.
    pub role: Option<StationRole>,
    /// The station's own id (`st-…`); `None` for a station enrolled before the hub
    /// bound ids, until its first push binds it.
    pub station_id: Option<String>,
    /// Changes of this station the hub stored (for the per-station quota).
    pub changes_stored: u64,
}

/// A pushed batch, checked against the rules and reduced to rows before any database
/// work.
#[derive(Clone, Debug, Default)]
pub struct PreparedBatch {
    /// Accepted so far, distinct by change id, in push order.
    pub changes: Vec<ChangeRow>,
    /// Refused by the rules, or by an id another change of the batch already holds.
    pub refused: Vec<RefusedChange>,
    /// One per accepted change, in the same order: its proposal for the current state.
    candidates: Vec<StateRow>,
    /// The conflict these changes resolve: stored with them, or the whole batch refused
    /// with [`StoreError::ConflictResolved`] when it is no longer open.
    resolves: Option<ConflictClaim>,
}

impl PreparedBatch {
    /// Changes the hub itself makes (endorsements and revocations of signing keys):
    /// taken as they are, stored as pushed by [`expo_sync::endorsement::HUB_ORIGIN`].
    pub fn from_hub(changes: &[Change]) -> Result<Self, serde_json::Error> {
        let mut batch = Self::default();
        for change in changes {
            batch.accept(change.clone(), serde_json::to_string(change)?);
        }
        Ok(batch)
    }

    /// The batch, stored only together with `claim` (see [`Self::resolution`]).
    pub fn resolving(self, claim: ConflictClaim) -> Self {
        Self { resolves: Some(claim), ..self }
    }

    /// The conflict resolution a back-end stores in the batch's transaction, under its
    /// write lock, if the conflict is still open; otherwise it commits nothing and fails
    /// with [`StoreError::ConflictResolved`].
    pub fn resolution(&self) -> Option<&ConflictClaim> {
        self.resolves.as_ref()
    }

    /// Checks every change of `station` (who is `role` and whose id is `station_id`)
    /// against the domain rules, the clock bound (`now_ms` is the hub's clock) and the
    /// authority rule, and stamps the accepted ones with `role`.
    pub fn new(
        role: StationRole,
        station_id: &str,
        changes: &[Change],
        now_ms: u64,
    ) -> Result<Self, serde_json::Error> {
        let mut batch = Self::default();
        let mut seen: HashMap<Uuid, usize> = HashMap::with_capacity(changes.len());
        for change in changes {
            let stamped = Change { pushed_by: Some(role), ..change.clone() };
            let change_json = serde_json::to_string(&stamped)?;
            if let Some(&index) = seen.get(&change.id) {
                if !same_change(&batch.changes[index].change_json, change) {
                    batch.refuse(change.id, Refusal::IdReused);
                }
                continue;
            }
            if let Err(refusal) = admissible(role, station_id, change, change_json.len(), now_ms) {
                batch.refuse(change.id, refusal);
                continue;
            }
            seen.insert(change.id, batch.changes.len());
            batch.accept(stamped, change_json);
        }
        Ok(batch)
    }

    fn accept(&mut self, change: Change, change_json: String) {
        let entity_key = change.record.entity_key();
        let hlc = change.hlc.to_string();
        self.candidates.push(StateRow {
            entity_key: entity_key.clone(),
            kind: change.record.kind(),
            precedence: precedence(&change.record),
            hlc: hlc.clone(),
            change_id: change.id,
            origin: change.station.clone(),
            hashed: match &change.record {
                // An attendee merged away is nobody's duplicate any more.
                Record::Attendee(a) if a.merged_into.is_none() => {
                    a.id_hash.as_ref().map(|hash| HashedAttendee {
                        attendee: a.id,
                        origin: change.station.clone(),
                        id_hash: hash.clone(),
                    })
                }
                _ => None,
            },
        });
        self.changes.push(ChangeRow {
            id: change.id,
            origin: change.station,
            hlc,
            kind: change.record.kind(),
            entity_key,
            change_json,
        });
    }

    fn refuse(&mut self, id: Uuid, refusal: Refusal) {
        tracing::debug!(change = %id, code = refusal.code(), "refused a pushed change");
        self.refused.push(RefusedChange {
            id,
            code: refusal.code().to_owned(),
            reason: refusal.to_string(),
        });
    }

    /// Refuses the accepted changes whose id the hub already holds with other content
    /// (`stored`: change id and stored JSON of the batch's ids the hub knows). Returns
    /// the ids refused.
    pub fn refuse_reused_ids(&mut self, stored: &[(Uuid, String)]) -> HashSet<Uuid> {
        let stored: HashMap<Uuid, &str> =
            stored.iter().map(|(id, json)| (*id, json.as_str())).collect();
        let mut reused = HashSet::new();
        for row in &self.changes {
            let Some(stored_json) = stored.get(&row.id) else { continue };
            let same = serde_json::from_str::<Change>(&row.change_json)
                .is_ok_and(|incoming| same_change(stored_json, &incoming));
            if !same {
                reused.insert(row.id);
            }
        }
        for id in &reused {
            self.refuse(*id, Refusal::IdReused);
        }
        self.changes.retain(|row| !reused.contains(&row.id));
        self.candidates.retain(|row| !reused.contains(&row.change_id));
        reused
    }

    /// The ids of the batch the hub takes: every accepted change, new or a replay.
    pub fn ids(&self) -> Vec<Uuid> {
        self.changes.iter().map(|c| c.id).collect()
    }

    /// One per entity key: the batch's best version, sorted by key so concurrent
    /// transactions lock rows in the same order.
    pub fn winners(&self) -> Vec<StateRow> {
        let mut winners: BTreeMap<&str, &StateRow> = BTreeMap::new();
        for candidate in &self.candidates {
            match winners.get(candidate.entity_key.as_str()) {
                Some(current) if !beats(candidate, current) => {}
                _ => {
                    winners.insert(&candidate.entity_key, candidate);
                }
            }
        }
        winners.into_values().cloned().collect()
    }

    /// The answer to the push, once `new` of the accepted changes were new to the hub.
    pub fn response(self, new: usize) -> PushResponse {
        PushResponse { acked: self.ids(), new, refused: self.refused }
    }
}

/// The attendee versions among `winners` that carry an ID hash.
pub fn hashed_attendees(winners: &[StateRow]) -> Vec<HashedAttendee> {
    winners.iter().filter_map(|w| w.hashed.clone()).collect()
}

/// Why the hub refuses one pushed change.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("the change claims station {claimed:?}; this credential is bound to another")]
    NotThisStation { claimed: String },
    #[error(transparent)]
    Invalid(Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("another change with this id is already held, with other content")]
    IdReused,
}

impl Refusal {
    fn code(&self) -> &'static str {
        match self {
            Refusal::NotThisStation { .. } => "not_this_station",
            Refusal::Invalid(Invalid::FromTheFuture { .. }) => RefusedChange::FROM_THE_FUTURE,
            Refusal::Invalid(_) => "invalid",
            Refusal::Forbidden(_) => "forbidden",
            Refusal::IdReused => "id_reused",
        }
    }
}

/// Whether the hub takes `change` from the station `station_id` enrolled as `role`.
fn admissible(
    role: StationRole,
    station_id: &str,
    change: &Change,
    encoded_len: usize,
    now_ms: u64,
) -> Result<(), Refusal> {
    if change.station != station_id {
        return Err(Refusal::NotThisStation { claimed: change.station.chars().take(64).collect() });
    }
    authority::may_make(role, change)?;
    validate::check(change, encoded_len).map_err(Refusal::Invalid)?;
    validate::check_clock(&change.hlc, now_ms).map_err(Refusal::Invalid)?;
    Ok(())
}

/// True when the stored change (JSON) is `incoming` as its station made it.
fn same_change(stored_json: &str, incoming: &Change) -> bool {
    serde_json::from_str::<Change>(stored_json)
        .is_ok_and(|stored| stored.as_made() == incoming.as_made())
}

/// True when `candidate` replaces `current` in the current state: the rule of
/// [`expo_sync::conflict::supersedes`] on stored rows (HLC text sorts like the HLC). The
/// database back-ends express exactly this comparison in SQL: `(precedence, hlc) > (...)`.
fn beats(candidate: &StateRow, current: &StateRow) -> bool {
    (candidate.precedence, &candidate.hlc) > (current.precedence, &current.hlc)
}

const ATTENDEE_KEY_PREFIX: &str = "attendee:";

/// The exclusive bounds of the entity keys of `kind` that sort after `after`: every key
/// of a kind is `"{kind}:..."` (see [`Record::entity_key`]) and `';'` follows `':'`, so
/// a kind is one range of the current state's primary key and needs no index of its own.
pub fn kind_key_range(kind: &str, after: &str) -> (String, String) {
    let first = format!("{kind}:");
    let lower = if after > first.as_str() { after.to_owned() } else { first };
    (lower, format!("{kind};"))
}

/// The current records of `kind` whose entity keys start with `prefix` (the versions of
/// one attendee's badges, of one station's signing keys), at most `limit`.
pub async fn current_under<S: HubStore>(
    store: &S,
    kind: &'static str,
    prefix: &str,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let mut found = Vec::new();
    let mut after = prefix.to_owned();
    let mut page_rows = PREFIX_PAGE;
    while found.len() < limit {
        let asked = page_rows.min(limit - found.len());
        // Doubling: a prefix a hostile station filled to `limit` costs log2 rounds, not
        // `limit / PREFIX_PAGE`.
        page_rows = page_rows.saturating_mul(2);
        let page = store.current_page(kind, &after, asked).await?;
        let more = page.len() == asked;
        for (key, record) in page {
            if !key.starts_with(prefix) {
                return Ok(found);
            }
            found.push(record);
            after = key;
        }
        if !more {
            break;
        }
    }
    Ok(found)
}

/// Rows [`current_under`] reads first, then twice as many each round. A page runs on past
/// the prefix into the next entities' records, each one parsed, so it starts small: what
/// one prefix holds is a few records (an attendee has one badge or two), and a page of the
/// largest `limit` made the console's look-up and merge read a thousand other attendees'
/// badges each.
const PREFIX_PAGE: usize = 4;

/// The record of a stored change: what the current state of its entity is.
pub fn record_of_change(change_json: &str) -> Result<Record, StoreError> {
    serde_json::from_str::<Change>(change_json)
        .map(|change| change.record)
        .map_err(|e| StoreError::Corrupt(format!("stored change: {e}")))
}

/// The attendee record of a stored change of the attendee kind.
pub fn attendee_of_change(change_json: &str) -> Result<AttendeeRecord, StoreError> {
    match record_of_change(change_json)? {
        Record::Attendee(attendee) => Ok(attendee),
        other => Err(StoreError::Corrupt(format!("an attendee key holds a {}", other.kind()))),
    }
}

/// A stored attendee version: its HLC (as `current_state` holds it) and the record of its
/// change.
pub fn attendee_version(hlc: &str, change_json: &str) -> Result<(Hlc, AttendeeRecord), StoreError> {
    let hlc = hlc.parse().map_err(|_| StoreError::Corrupt(format!("stored HLC {hlc:?}")))?;
    Ok((hlc, attendee_of_change(change_json)?))
}

/// The current state's key of attendee `id`.
pub fn attendee_key(id: Uuid) -> String {
    format!("{ATTENDEE_KEY_PREFIX}{id}")
}

pub fn attendee_id_of_key(entity_key: &str) -> Result<Uuid, StoreError> {
    entity_key
        .strip_prefix(ATTENDEE_KEY_PREFIX)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("not an attendee key: {entity_key:?}")))
}

/// An attendee version carrying an ID hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedAttendee {
    pub attendee: Uuid,
    pub origin: String,
    pub id_hash: String,
}

/// Duplicate walk-ins: every pair of distinct attendees sharing an ID hash, where
/// at least one of them is in `incoming`. `known` is the current state after the batch
/// was applied (it may include the incoming attendees themselves).
pub fn duplicate_pairs(incoming: &[HashedAttendee], known: &[HashedAttendee]) -> Vec<NewConflict> {
    let mut by_hash: HashMap<&str, Vec<&HashedAttendee>> = HashMap::new();
    for attendee in known.iter().chain(incoming) {
        let group = by_hash.entry(attendee.id_hash.as_str()).or_default();
        if !group.iter().any(|a| a.attendee == attendee.attendee) {
            group.push(attendee);
        }
    }
    let mut pairs = BTreeMap::new();
    for new in incoming {
        for other in by_hash.get(new.id_hash.as_str()).into_iter().flatten() {
            if other.attendee == new.attendee {
                continue;
            }
            let (a, b) = if new.attendee < other.attendee { (new, *other) } else { (*other, new) };
            pairs.entry((a.attendee, b.attendee)).or_insert_with(|| NewConflict {
                kind: ConflictKind::Duplicate,
                id_hash: Some(new.id_hash.clone()),
                attendee_a: a.attendee,
                station_a: a.origin.clone(),
                attendee_b: b.attendee,
                station_b: b.origin.clone(),
                detail: serde_json::Value::Null,
            });
        }
    }
    pairs.into_values().collect()
}

/// Merges an uploaded event definition into the stored one: the definition is
/// replaced, public keys are a union keyed by (station, key id) because every station
/// uploads its own signing key and none may erase another's.
pub fn merge_event(stored: Option<EventRecord>, incoming: EventRecord) -> EventRecord {
    let mut keys: BTreeMap<(String, u32), _> = BTreeMap::new();
    let previous = stored.map(|s| s.public_keys).unwrap_or_default();
    for key in previous.into_iter().chain(incoming.public_keys) {
        keys.insert((key.station.clone(), key.key_id), key);
    }
    EventRecord {
        event_id: incoming.event_id,
        definition: incoming.definition,
        public_keys: keys.into_values().collect(),
    }
}

/// Most bytes of changes one pull page carries (past its first change): a page of
/// large changes ends early instead of growing to hundreds of MiB.
pub const MAX_PULL_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// One pull page for a station of `role`, filled from rows read in cursor order within
/// one snapshot, each scoped by [`expo_sync::scope`]: what the role may not receive is
/// read past (the cursor moves over it) and never sent.
///
/// Read rows with a query that already leaves out the kinds the role receives nothing
/// of ([`PullPage::kinds`]), limited to [`PullPage::rows_to_read`] rows.
pub struct PullPage {
    role: StationRole,
    /// Only badge revocations, read ahead by a station that is behind (see
    /// [`PullPage::revocations`]).
    revocations_only: bool,
    changes: Vec<Change>,
    bytes: usize,
    limit: usize,
    full: bool,
    /// Rows read, sent or withheld, and the last one's sequence number.
    read: usize,
    last_read: Option<i64>,
}

impl PullPage {
    pub fn new(role: StationRole, limit: usize) -> Self {
        Self {
            role,
            revocations_only: false,
            changes: Vec::new(),
            bytes: 0,
            limit,
            full: false,
            read: 0,
            last_read: None,
        }
    }

    /// A page of the badge revocations only (`GET /v1/pull?only=revocations`): a station
    /// more than a page behind reads them past its cursor and applies them first, so a
    /// gate back from a network cut refuses a badge revoked meanwhile at once, not after
    /// the thousands of changes ahead of the revocation. Its cursor only tells where the
    /// next such page starts.
    pub fn revocations(role: StationRole, limit: usize) -> Self {
        Self { revocations_only: true, ..Self::new(role, limit) }
    }

    /// The record kinds worth reading for this page's role; `None`: every kind.
    pub fn kinds(&self) -> Option<Vec<String>> {
        if self.revocations_only {
            return Some(vec!["badge".to_owned()]);
        }
        scope::kinds_received(self.role)
            .map(|kinds| kinds.iter().map(|kind| (*kind).to_owned()).collect())
    }

    /// How many rows the query may return: one past a full page, to know whether more
    /// wait.
    pub fn rows_to_read(&self) -> usize {
        self.limit.saturating_add(1)
    }

    /// Adds the next row; false once the page is full (by count or by bytes), when this
    /// row and every later one wait for the next page. A first row always fits, so a
    /// page makes progress whatever the size of the change. Bytes count the change as
    /// stored, a bound on what a reduced copy takes.
    pub fn offer(&mut self, seq: i64, change_json: String) -> Result<bool, StoreError> {
        let over_bytes =
            !self.changes.is_empty() && self.bytes + change_json.len() > MAX_PULL_PAGE_BYTES;
        if self.full || self.changes.len() >= self.limit || over_bytes {
            self.full = true;
            return Ok(false);
        }
        let change: Change = serde_json::from_str(&change_json)
            .map_err(|e| StoreError::Corrupt(format!("stored change: {e}")))?;
        self.read += 1;
        self.last_read = Some(seq);
        if self.revocations_only && !change.record.is_badge_revocation() {
            return Ok(true);
        }
        let sent = match scope::scope(self.role, &change) {
            Scoped::Withheld => return Ok(true),
            Scoped::AsIs => change,
            Scoped::Reduced(reduced) => *reduced,
        };
        self.bytes += change_json.len();
        self.changes.push(sent);
        Ok(true)
    }

    /// How many rows, and how many bytes, the page may still take (for reading rows in
    /// chunks).
    pub fn room(&self) -> (usize, usize) {
        (
            self.limit.saturating_sub(self.changes.len()),
            MAX_PULL_PAGE_BYTES.saturating_sub(self.bytes),
        )
    }

    /// The mean size of the changes taken so far, `None` before the first.
    pub fn average_change_bytes(&self) -> Option<usize> {
        (!self.changes.is_empty()).then(|| (self.bytes / self.changes.len()).max(1))
    }

    /// The answer, given the highest sequence number visible in the snapshot the rows
    /// were read in.
    pub fn finish(self, since: i64, high_water: i64) -> PullResponse {
        // Rows withheld from this role leave room in the page: when the query returned
        // all the rows it was allowed to, more may wait past the last one read, and the
        // next page starts there (never before: a page of withheld rows still moves on).
        let more = self.full || self.read >= self.rows_to_read();
        // With nothing more to read, jump to the snapshot's high-water mark: every change
        // up to it was either returned, withheld, or is the caller's own, so a station
        // that pushed a million changes does not rescan them on every pull.
        let next_cursor = match (more, self.last_read) {
            (true, Some(seq)) => seq,
            _ => high_water.max(since),
        };
        PullResponse { changes: self.changes, next_cursor, more }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expo_sync::hlc::Hlc;
    use expo_sync::protocol::BadgeRecord;

    fn badge(status: &str, wall_ms: u64) -> Change {
        Change {
            id: Uuid::now_v7(),
            station: "desk-1".into(),
            hlc: Hlc { wall_ms, counter: 0, station: "desk-1".into() },
            record: Record::Badge(BadgeRecord {
                status: status.into(),
                ..expo_sync::test_records::badge()
            }),
            pushed_by: None,
        }
    }

    const NOW_MS: u64 = 1_000_000;

    fn desk_batch(changes: &[Change]) -> PreparedBatch {
        PreparedBatch::new(StationRole::Desk, "desk-1", changes, NOW_MS).unwrap()
    }

    #[test]
    fn revocation_beats_a_later_status_within_a_batch() {
        let revoked = badge("revoked", 10);
        let batch = desk_batch(&[revoked.clone(), badge("active", 20)]);
        assert_eq!(batch.winners().len(), 1);
        assert_eq!(batch.winners()[0].change_id, revoked.id);
    }

    #[test]
    fn repeated_change_ids_count_once_and_other_content_under_one_id_is_refused() {
        let change = badge("active", 1);
        let batch = desk_batch(&[change.clone(), change.clone()]);
        assert_eq!(batch.ids(), vec![change.id]);
        assert!(batch.refused.is_empty());

        let mut other = badge("revoked", 2);
        other.id = change.id;
        let batch = desk_batch(&[change.clone(), other]);
        assert_eq!(batch.ids(), vec![change.id], "the first version stays");
        assert_eq!(batch.refused[0].code, "id_reused");
        assert_eq!(batch.winners()[0].precedence, 0);

        // Against the hub's stored copy: the same content (the hub's stamp aside) is a
        // replay, other content is refused and leaves the batch.
        let stamped = Change { pushed_by: Some(StationRole::Desk), ..change.clone() };
        let stored = vec![(change.id, serde_json::to_string(&stamped).unwrap())];
        let mut replay = desk_batch(std::slice::from_ref(&change));
        assert!(replay.refuse_reused_ids(&stored).is_empty());
        let mut edited = change.clone();
        edited.hlc.counter += 1;
        let mut reused = desk_batch(&[edited, badge("active", 3)]);
        assert_eq!(reused.refuse_reused_ids(&stored), HashSet::from([change.id]));
        assert_eq!(reused.ids().len(), 1);
        assert_eq!(reused.winners().len(), 1);
        assert!(reused.winners().iter().all(|w| w.change_id != change.id));
    }

    #[test]
    fn each_change_is_checked_and_stamped_with_the_pushers_role() {
        let mut spoofed = badge("active", 4);
        spoofed.station = "desk-2".into();
        spoofed.hlc.station = "desk-2".into();
        let mut future = badge("active", NOW_MS + expo_sync::validate::MAX_CLOCK_AHEAD_MS + 1);
        future.record =
            Record::Badge(BadgeRecord { serial: 2, ..expo_sync::test_records::badge() });
        let huge = Change {
            record: Record::Badge(BadgeRecord {
                serial: u32::MAX,
                ..expo_sync::test_records::badge()
            }),
            ..badge("active", 5)
        };
        let good = Change { pushed_by: Some(StationRole::Admin), ..badge("active", 6) };
        let batch = desk_batch(&[spoofed, future, huge, good.clone()]);
        let codes: Vec<&str> = batch.refused.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["not_this_station", "from_the_future", "invalid"]);
        assert_eq!(batch.ids(), vec![good.id]);
        let stored: Change = serde_json::from_str(&batch.changes[0].change_json).unwrap();
        assert_eq!(stored.pushed_by, Some(StationRole::Desk), "the hub's stamp, not the station's");

        let gate = PreparedBatch::new(StationRole::Gate, "desk-1", &[badge("revoked", 7)], NOW_MS)
            .unwrap();
        assert_eq!(gate.refused[0].code, "forbidden");
    }

    #[test]
    fn a_pull_page_ends_by_count_or_by_bytes_but_always_takes_one_change() {
        let json = serde_json::to_string(&badge("active", 1)).unwrap();
        let mut page = PullPage::new(StationRole::Desk, 2);
        assert!(page.offer(1, json.clone()).unwrap() && page.offer(2, json.clone()).unwrap());
        assert!(!page.offer(3, json.clone()).unwrap());
        let answer = page.finish(0, 9);
        assert_eq!((answer.changes.len(), answer.next_cursor, answer.more), (2, 2, true));

        let mut big = badge("active", 1);
        big.record = Record::Badge(BadgeRecord {
            reason: Some("x".repeat(MAX_PULL_PAGE_BYTES)),
            ..expo_sync::test_records::badge()
        });
        let big = serde_json::to_string(&big).unwrap();
        let mut page = PullPage::new(StationRole::Desk, 100);
        assert!(page.offer(5, big.clone()).unwrap(), "a first change always fits");
        assert!(!page.offer(6, json.clone()).unwrap());
        let answer = page.finish(4, 9);
        assert_eq!((answer.changes.len(), answer.next_cursor, answer.more), (1, 5, true));

        let mut page = PullPage::new(StationRole::Desk, 100);
        assert!(page.offer(5, json).unwrap());
        assert_eq!(page.finish(4, 9).next_cursor, 9, "all read: jump to the high water");
        assert!(matches!(
            PullPage::new(StationRole::Desk, 1).offer(1, "{".into()),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_pull_page_reads_past_what_its_role_may_not_receive_and_still_moves_on() {
        let gate_decision = |granted: bool| {
            let mut change = badge("active", 1);
            change.record = Record::GateDecision(expo_sync::protocol::GateDecisionRecord {
                granted,
                ..expo_sync::test_records::gate_decision()
            });
            serde_json::to_string(&change).unwrap()
        };
        let (refusal, passage) = (gate_decision(false), gate_decision(true));

        // Every row the query may return is a refusal: an empty page, but more may wait
        // past them, and the cursor moves over them.
        let mut page = PullPage::new(StationRole::Gate, 2);
        assert_eq!(page.rows_to_read(), 3);
        for seq in 1..=3 {
            assert!(page.offer(seq, refusal.clone()).unwrap());
        }
        let answer = page.finish(0, 9);
        assert_eq!((answer.changes.len(), answer.next_cursor, answer.more), (0, 3, true));

        // Fewer rows than the query's limit: the end, whatever was withheld.
        let mut page = PullPage::new(StationRole::Gate, 2);
        assert!(page.offer(4, refusal).unwrap() && page.offer(5, passage.clone()).unwrap());
        let answer = page.finish(3, 9);
        assert_eq!((answer.changes.len(), answer.next_cursor, answer.more), (1, 9, false));

        // What is sent is the role's copy.
        let attendee = Change {
            record: Record::Attendee(expo_sync::test_records::attendee()),
            ..badge("active", 1)
        };
        let mut page = PullPage::new(StationRole::Gate, 5);
        assert!(page.offer(6, serde_json::to_string(&attendee).unwrap()).unwrap());
        let Record::Attendee(sent) = &page.finish(5, 9).changes[0].record else { panic!() };
        assert_eq!((sent.name.as_str(), sent.phone.as_str()), ("张三", ""));
        assert_eq!(PullPage::new(StationRole::Admin, 1).kinds(), None);
        assert!(!PullPage::new(StationRole::Desk, 1).kinds().unwrap().contains(&"audit".into()));
    }

    #[test]
    fn a_page_of_revocations_sends_them_alone_and_reads_past_the_rest() {
        let json = |change: &Change| serde_json::to_string(change).unwrap();
        let attendee = Change {
            record: Record::Attendee(expo_sync::test_records::attendee()),
            ..badge("active", 1)
        };
        let mut page = PullPage::revocations(StationRole::Gate, 2);
        assert_eq!(page.kinds(), Some(vec!["badge".to_owned()]));
        for (seq, change) in
            [badge("active", 1), attendee, badge("superseded", 2), badge("revoked", 3)]
                .iter()
                .enumerate()
        {
            assert!(page.offer(seq as i64 + 1, json(change)).unwrap());
        }
        let answer = page.finish(0, 9);
        assert_eq!((answer.changes.len(), answer.next_cursor, answer.more), (1, 4, true));
        let Record::Badge(sent) = &answer.changes[0].record else { panic!() };
        assert_eq!((sent.status.as_str(), sent.operator.as_str()), ("revoked", ""), "gate's copy");
    }

    #[test]
    fn a_kind_is_one_key_range() {
        let change = badge("active", 1);
        let key = change.record.entity_key();
        let (lower, upper) = kind_key_range("badge", "");
        assert!(lower.as_str() < key.as_str() && key.as_str() < upper.as_str(), "{key}");
        let (lower, upper) = kind_key_range("attendee", "");
        assert!(!(lower.as_str() < key.as_str() && key.as_str() < upper.as_str()), "{key}");
        // Paging resumes after the last key served; a key of an earlier kind is no bound.
        assert_eq!(kind_key_range("badge", &key).0, key);
        assert_eq!(kind_key_range("badge", "attendee:zz").0, "badge:");
        let json = serde_json::to_string(&change).unwrap();
        assert_eq!(record_of_change(&json).unwrap(), change.record);
        assert!(matches!(record_of_change("{"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn pairs_are_reported_once_in_id_order() {
        let a = HashedAttendee {
            attendee: Uuid::from_u128(2),
            origin: "x".into(),
            id_hash: "h".into(),
        };
        let b = HashedAttendee {
            attendee: Uuid::from_u128(1),
            origin: "y".into(),
            id_hash: "h".into(),
        };
        let other = HashedAttendee {
            attendee: Uuid::from_u128(3),
            origin: "z".into(),
            id_hash: "k".into(),
        };
        let pairs = duplicate_pairs(&[a.clone(), b.clone()], &[a, b, other]);
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].attendee_a, pairs[0].station_a.as_str()), (Uuid::from_u128(1), "y"));
    }
}
