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

use crate::conflict::precedence;
use crate::protocol::{Change, DuplicateConflict, EventRecord, PullResponse, PushResponse, Record};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("station {0:?} already exists")]
    StationExists(String),
    #[error("no station named {0:?}")]
    UnknownStation(String),
    #[error("station names are 1 to 64 letters, digits, '.', '_' or '-'; got {0:?}")]
    InvalidStationName(String),
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
    #[error("database file {path}: {source}")]
    DatabaseFile { path: std::path::PathBuf, source: std::io::Error },
}

/// What a bearer token resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StationAuth {
    Active(String),
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
    /// Creates the station with a pending one-time enrolment code (stored hashed).
    fn add_station(
        &self,
        name: &str,
        code_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Consumes the enrolment code and sets the station's credential hash; returns the
    /// station name.
    fn redeem_enrolment(
        &self,
        code_hash: &str,
        token_hash: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Revokes the station: its credential stops working on the next request.
    fn revoke_station(&self, name: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn authenticate(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<StationAuth, StoreError>> + Send;

    /// Stores a batch pushed by `station`, idempotently by change id.
    fn push(
        &self,
        station: &str,
        batch: PreparedBatch,
    ) -> impl Future<Output = Result<PushResponse, StoreError>> + Send;

    /// Changes pushed by other stations after cursor `since`, in cursor order.
    fn pull(
        &self,
        station: &str,
        since: i64,
        limit: usize,
    ) -> impl Future<Output = Result<PullResponse, StoreError>> + Send;

    /// Stores an event definition, merging its public keys with the ones already known.
    fn put_event(
        &self,
        event: EventRecord,
    ) -> impl Future<Output = Result<EventRecord, StoreError>> + Send;

    /// The most recently updated event definition.
    fn get_event(&self) -> impl Future<Output = Result<Option<EventRecord>, StoreError>> + Send;

    fn conflicts(&self) -> impl Future<Output = Result<Vec<DuplicateConflict>, StoreError>> + Send;

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
}

/// One change as the `changes` table stores it.
#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub id: Uuid,
    pub origin: String,
    pub hlc: String,
    pub kind: &'static str,
    pub entity_key: String,
    /// The whole [`Change`] as JSON: what a pull hands back byte for byte.
    pub change_json: String,
}

/// The version of one entity a batch proposes for the current state.
#[derive(Clone, Debug)]
pub struct StateRow {
    pub entity_key: String,
    pub kind: &'static str,
    /// Ranks above HLC: see [`crate::conflict::precedence`].
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

/// A pushed batch, checked and reduced to rows before any database work.
#[derive(Clone, Debug, Default)]
pub struct PreparedBatch {
    /// Distinct by change id, in push order.
    pub changes: Vec<ChangeRow>,
    /// One per entity key: the batch's best version, sorted by key so concurrent
    /// transactions lock rows in the same order.
    pub winners: Vec<StateRow>,
}

impl PreparedBatch {
    pub fn new(changes: &[Change]) -> Result<Self, serde_json::Error> {
        let mut seen = HashSet::with_capacity(changes.len());
        let mut rows = Vec::with_capacity(changes.len());
        let mut winners: BTreeMap<String, StateRow> = BTreeMap::new();
        for change in changes {
            if !seen.insert(change.id) {
                continue;
            }
            let entity_key = change.record.entity_key();
            let hlc = change.hlc.to_string();
            let candidate = StateRow {
                entity_key: entity_key.clone(),
                kind: change.record.kind(),
                precedence: precedence(&change.record),
                hlc: hlc.clone(),
                change_id: change.id,
                origin: change.station.clone(),
                hashed: match &change.record {
                    Record::Attendee(a) => a.id_hash.as_ref().map(|hash| HashedAttendee {
                        attendee: a.id,
                        origin: change.station.clone(),
                        id_hash: hash.clone(),
                    }),
                    _ => None,
                },
            };
            rows.push(ChangeRow {
                id: change.id,
                origin: change.station.clone(),
                hlc,
                kind: change.record.kind(),
                entity_key: entity_key.clone(),
                change_json: serde_json::to_string(change)?,
            });
            match winners.get(&entity_key) {
                Some(current) if !beats(&candidate, current) => {}
                _ => {
                    winners.insert(entity_key, candidate);
                }
            }
        }
        Ok(Self { changes: rows, winners: winners.into_values().collect() })
    }

    pub fn ids(&self) -> Vec<Uuid> {
        self.changes.iter().map(|c| c.id).collect()
    }

    /// The batch's attendee versions that carry an ID hash.
    pub fn hashed_attendees(&self) -> Vec<HashedAttendee> {
        self.winners.iter().filter_map(|w| w.hashed.clone()).collect()
    }
}

/// True when `candidate` replaces `current` in the current state: the rule of
/// [`crate::conflict::supersedes`] on stored rows (HLC text sorts like the HLC). The
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

/// The record of a stored change: what the current state of its entity is.
pub fn record_of_change(change_json: &str) -> Result<Record, StoreError> {
    serde_json::from_str::<Change>(change_json)
        .map(|change| change.record)
        .map_err(|e| StoreError::Corrupt(format!("stored change: {e}")))
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
pub fn duplicate_pairs(
    incoming: &[HashedAttendee],
    known: &[HashedAttendee],
) -> Vec<DuplicateConflict> {
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
            pairs.entry((a.attendee, b.attendee)).or_insert_with(|| DuplicateConflict {
                id_hash: new.id_hash.clone(),
                attendee_a: a.attendee,
                station_a: a.origin.clone(),
                attendee_b: b.attendee,
                station_b: b.origin.clone(),
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

/// Builds the pull answer from up to `limit + 1` rows read in one snapshot, together
/// with the highest sequence number visible in that snapshot.
pub fn pull_response(
    mut rows: Vec<(i64, String)>,
    limit: usize,
    since: i64,
    high_water: i64,
) -> Result<PullResponse, StoreError> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    // With nothing more to read, jump to the snapshot's high-water mark: every change
    // up to it was either returned or is the caller's own, so a station that pushed a
    // million changes does not rescan them on every pull.
    let next_cursor = match (more, rows.last()) {
        (true, Some((seq, _))) => *seq,
        _ => high_water.max(since),
    };
    let changes = rows
        .iter()
        .map(|(_, json)| serde_json::from_str(json))
        .collect::<Result<Vec<Change>, _>>()
        .map_err(|e| StoreError::Corrupt(format!("stored change: {e}")))?;
    Ok(PullResponse { changes, next_cursor, more })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Hlc;
    use crate::protocol::BadgeRecord;

    fn badge(status: &str, wall_ms: u64) -> Change {
        Change {
            id: Uuid::now_v7(),
            station: "desk-1".into(),
            hlc: Hlc { wall_ms, counter: 0, station: "desk-1".into() },
            record: Record::Badge(BadgeRecord {
                attendee_id: Uuid::nil(),
                serial: 1,
                status: status.into(),
                reason: None,
                issued_at: "2025-01-01T00:00:00Z".into(),
                changed_at: "2025-01-01T00:00:00Z".into(),
                operator: "op".into(),
            }),
        }
    }

    #[test]
    fn revocation_beats_a_later_status_within_a_batch() {
        let revoked = badge("revoked", 10);
        let batch = PreparedBatch::new(&[revoked.clone(), badge("active", 20)]).unwrap();
        assert_eq!(batch.winners.len(), 1);
        assert_eq!(batch.winners[0].change_id, revoked.id);
    }

    #[test]
    fn repeated_change_ids_count_once() {
        let change = badge("active", 1);
        let batch = PreparedBatch::new(&[change.clone(), change.clone()]).unwrap();
        assert_eq!(batch.ids(), vec![change.id]);
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
