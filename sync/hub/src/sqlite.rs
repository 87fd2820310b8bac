//! SQLite back-end (`--db sqlite://PATH`): embedded, zero setup, one hub process.
//!
//! One connection behind a mutex for everything that writes, and [`READERS`] more for
//! pulls and snapshot pages, all used from tokio's blocking pool. SQLite admits one writer
//! at a time, so hub sequence numbers (the rowid of `changes`) become visible in commit
//! order and a pull can never skip a change committed late, whichever connection reads.
//! Should a second hub process open the same file, the busy timeout makes it wait for the
//! write lock; the same ordering argument still holds.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::api_keys::{ApiKeyRow, API_KEYS_SCHEMA};
use super::conflicts::{ConflictKind, NewConflict, Resolution, StoredConflict};
use super::registrations::DataCentreEvent;
use super::sqlite_attendee_search;
use super::sqlite_console;
use super::sqlite_venue_now;
use super::store::{
    attendee_id_of_key, attendee_key, attendee_of_change, attendee_version, duplicate_pairs,
    hashed_attendees, kind_key_range, merge_event, record_of_change, AttendeeSearch, AuditRow,
    ConsoleSessionRow, FleetRow, HashedAttendee, HubStats, HubStore, PreparedBatch, PullPage,
    SnapshotPage, StationAuth, StationIdentity, StoreError,
};
use super::venue_now::VenueTotals;
use expo_sync::authority::{StationRole, UnknownRole};
use expo_sync::endorsement::Authority;
use expo_sync::hlc::Hlc;
use expo_sync::protocol::{AttendeeRecord, EventRecord, PullResponse, PushResponse, Record};

const SCHEMA: &str = "
-- role and station_id are bound at enrolment (added by open to earlier hubs' tables).
CREATE TABLE IF NOT EXISTS stations (
    name TEXT PRIMARY KEY,
    credential_hash TEXT UNIQUE,
    revoked INTEGER NOT NULL DEFAULT 0,
    role TEXT,
    station_id TEXT,
    changes_stored INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS enrolment_codes (
    code_hash TEXT PRIMARY KEY,
    station TEXT NOT NULL REFERENCES stations(name)
);
-- seq is the rowid: the hub sequence and pull cursor.
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY,
    change_id TEXT NOT NULL UNIQUE,
    pushed_by TEXT NOT NULL,
    origin TEXT NOT NULL,
    hlc TEXT NOT NULL,
    kind TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    change_json TEXT NOT NULL
);
-- change_id is the winning version, whose record is read from `changes`.
CREATE TABLE IF NOT EXISTS current_state (
    entity_key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    precedence INTEGER NOT NULL,
    hlc TEXT NOT NULL,
    change_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    id_hash TEXT
);
-- Earlier hubs also kept a copy of each record and an index by kind (see open).
DROP INDEX IF EXISTS current_state_by_kind;
CREATE INDEX IF NOT EXISTS current_state_by_id_hash ON current_state (id_hash)
    WHERE id_hash IS NOT NULL;
-- Duplicates and identity conflicts (earlier hubs: duplicate_conflicts, see open). A
-- pair is recorded once per kind; status is open, merged or dismissed, and resolution
-- the JSON of how (crate::conflicts::Resolution).
CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    id_hash TEXT,
    attendee_a TEXT NOT NULL,
    station_a TEXT NOT NULL,
    attendee_b TEXT NOT NULL,
    station_b TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT 'null',
    found_at TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    resolution TEXT,
    UNIQUE (kind, attendee_a, attendee_b)
);
-- The organiser authority's secret key (one row, made with the database).
CREATE TABLE IF NOT EXISTS hub_authority (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    record_json TEXT NOT NULL,
    version INTEGER NOT NULL
);
";

/// The event registrations are checked against, and its data key (`registrations.rs`).
const DATA_CENTRE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS data_centre_event (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    event_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    data_key TEXT NOT NULL
);
";

/// How much of the hub's database file SQLite maps into memory (see [`SqliteStore::open`]).
const SNAPSHOT_READ_MAP_BYTES: i64 = 2 << 30;

/// Connections that serve pulls and snapshot pages beside the one that writes.
const READERS: usize = 2;

pub struct SqliteStore {
    /// The one connection that writes.
    writer: Arc<Connections>,
    /// Pulls and snapshot pages read here, so that they neither wait behind a push's
    /// commit (an fsync) nor make a push wait behind a gate's page being scoped. WAL gives
    /// each read a snapshot of what was committed when it began, and with one writer the
    /// seqs commit in order, so a snapshot always holds every seq up to its high-water
    /// mark: a pull from a reader cannot skip a change either.
    readers: Arc<Connections>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        expo_sync::output::make_database_private(path)
            .map_err(|source| StoreError::DatabaseFile { path: path.to_owned(), source })?;
        let mut connection = Connection::open(path)?;
        // First, so that every statement below waits for a writer beside it (a hub
        // starting while `expo-hub event import` runs) instead of failing at once with
        // "database is locked".
        connection.busy_timeout(std::time::Duration::from_secs(30))?;
        // WAL lets exports read while pushes write. FULL: a push is acknowledged after
        // its commit, and only FULL syncs the WAL at each commit, so an acknowledged batch
        // survives a power cut too (NORMAL loses the last commits; the station would not
        // resend what the hub acknowledged).
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        // Snapshots read the whole current state: through a memory map SQLite reads pages
        // in place instead of copying each one out of the file cache with `pread` (the
        // largest cost of a million-attendee snapshot in `perf`). Writes still go through
        // the WAL, so durability is unchanged. SQLite caps the map at about 2 GiB.
        connection.pragma_update(None, "mmap_size", SNAPSHOT_READ_MAP_BYTES)?;
        connection.execute_batch(SCHEMA)?;
        connection.execute_batch(sqlite_console::SCHEMA)?;
        connection.execute_batch(API_KEYS_SCHEMA)?;
        connection.execute_batch(DATA_CENTRE_SCHEMA)?;
        sqlite_venue_now::create(&mut connection)?;
        sqlite_attendee_search::create(&mut connection)?;
        drop_record_copies(&connection)?;
        add_station_bindings(&connection)?;
        move_duplicate_conflicts(&mut connection)?;
        keep_winning_seq(&mut connection)?;
        connection.execute(
            "INSERT INTO hub_authority (id, secret) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING",
            [Authority::generate().secret_hex()],
        )?;
        let readers = (0..READERS).map(|_| open_reader(path)).collect::<Result<_, _>>()?;
        Ok(Self {
            writer: Arc::new(Connections::new(vec![connection])),
            readers: Arc::new(Connections::new(readers)),
        })
    }

    /// Runs `work` on the writing connection in tokio's blocking pool, unless the caller has gone
    /// by the time the connection is free.
    ///
    /// A blocking task cannot be cancelled, so without the check a request the hub's
    /// timeout already answered (or whose client hung up) would still take its turn. While
    /// another process held the write lock for 30 s, every station's request queued up
    /// behind the connection; when the lock went, the hub worked through all of those
    /// abandoned requests before the stations' retries, and the last station was back
    /// 30 s after the fault ended. Work that has begun is finished, as before: the caller
    /// dropping its future then changes nothing, like PostgreSQL's committed transaction.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        on_one_of(Arc::clone(&self.writer), work).await
    }

    /// [`Self::run`] for work that only reads, on one of the [`READERS`].
    async fn run_read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        on_one_of(Arc::clone(&self.readers), work).await
    }
}

/// Runs `work` on one of `connections` in tokio's blocking pool, unless its caller has
/// gone by the time a connection is free (see [`SqliteStore::run`]).
async fn on_one_of<T, F>(connections: Arc<Connections>, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    let caller = CallerWaiting::default();
    let still_waiting = caller.flag();
    tokio::task::spawn_blocking(move || {
        let mut connection = connections.lock();
        if !still_waiting.load(Ordering::Acquire) {
            return Err(StoreError::Abandoned);
        }
        work(&mut connection)
    })
    .await
    .map_err(|e| StoreError::Worker(e.to_string()))?
}

/// Connections that serve the same kind of work, each behind its own mutex.
struct Connections {
    all: Vec<Mutex<Connection>>,
    /// Where the next caller that finds none idle waits its turn.
    next: AtomicUsize,
}

impl Connections {
    fn new(connections: Vec<Connection>) -> Self {
        Self { all: connections.into_iter().map(Mutex::new).collect(), next: AtomicUsize::new(0) }
    }

    /// An idle connection if there is one, else the next in turn once it is free. A
    /// panic while holding one cannot leave a half-done transaction behind (rusqlite rolls
    /// back on drop), so a poisoned connection is still sound.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        let idle = self.all.iter().find_map(|connection| match connection.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        });
        idle.unwrap_or_else(|| {
            let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.all.len();
            self.all[turn].lock().unwrap_or_else(PoisonError::into_inner)
        })
    }
}

/// A connection that only reads (`query_only`), opened after the writer has made the
/// schema and switched the file to WAL.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let reader = Connection::open(path)?;
    reader.busy_timeout(std::time::Duration::from_secs(30))?;
    reader.pragma_update(None, "mmap_size", SNAPSHOT_READ_MAP_BYTES)?;
    reader.pragma_update(None, "query_only", true)?;
    Ok(reader)
}

/// Whether the future that wants a piece of work is still alive: cleared when it is
/// dropped, which is how tokio and axum give up on a request.
struct CallerWaiting(Arc<AtomicBool>);

impl Default for CallerWaiting {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl CallerWaiting {
    fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

impl Drop for CallerWaiting {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Migrates a database of an earlier hub, whose current state held a copy of each
/// record: the record is read from its change now.
fn drop_record_copies(connection: &Connection) -> Result<(), StoreError> {
    let has_copies: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('current_state')
                        WHERE name = 'record_json')",
        [],
        |row| row.get(0),
    )?;
    if has_copies {
        connection.execute_batch("ALTER TABLE current_state DROP COLUMN record_json")?;
    }
    Ok(())
}

/// Migrates the stations of an earlier hub, which bound no role or station id: they
/// keep working for pulls and push once `station set-role` gives them a role.
fn add_station_bindings(connection: &Connection) -> Result<(), StoreError> {
    for (column, definition) in
        [("role", "TEXT"), ("station_id", "TEXT"), ("changes_stored", "INTEGER NOT NULL DEFAULT 0")]
    {
        let present: bool = connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('stations') WHERE name = ?1)",
            [column],
            |row| row.get(0),
        )?;
        if !present {
            connection
                .execute_batch(&format!("ALTER TABLE stations ADD COLUMN {column} {definition}"))?;
        }
    }
    Ok(())
}

/// Gives `current_state` the winning change's `seq` (earlier hubs kept only its
/// `change_id`), so a snapshot reads each record by rowid instead of looking its change up
/// in the `change_id` index: the column is added and filled in one transaction, so where
/// it exists every row has it.
fn keep_winning_seq(connection: &mut Connection) -> Result<(), StoreError> {
    migrate_when(
        connection,
        "SELECT NOT EXISTS (SELECT 1 FROM pragma_table_info('current_state') WHERE name = 'seq')",
        "ALTER TABLE current_state ADD COLUMN seq INTEGER;
         UPDATE current_state
             SET seq = (SELECT seq FROM changes WHERE change_id = current_state.change_id);",
    )
}

/// Migrates the duplicate walk-ins an earlier hub found into `conflicts`, open.
fn move_duplicate_conflicts(connection: &mut Connection) -> Result<(), StoreError> {
    migrate_when(
        connection,
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'duplicate_conflicts')",
        "INSERT OR IGNORE INTO conflicts
             (kind, id_hash, attendee_a, station_a, attendee_b, station_b)
         SELECT 'duplicate', id_hash, attendee_a, station_a, attendee_b, station_b
         FROM duplicate_conflicts ORDER BY id;
         DROP TABLE duplicate_conflicts;",
    )
}

/// Runs `migration` when `needed` (a query of one boolean) says so, both in one write
/// transaction, so a second hub starting at once finds it done.
fn migrate_when(
    connection: &mut Connection,
    needed: &str,
    migration: &str,
) -> Result<(), StoreError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let needed: bool = tx.query_row(needed, [], |row| row.get(0))?;
    if needed {
        tx.execute_batch(migration)?;
    }
    tx.commit()?;
    Ok(())
}

/// One read transaction, and the highest sequence number visible in it: rows read in it
/// and that mark share a snapshot.
fn read_with_high_water(
    connection: &mut Connection,
) -> Result<(rusqlite::Transaction<'_>, i64), StoreError> {
    let tx = connection.transaction()?;
    let high_water: i64 =
        tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get(0))?;
    Ok((tx, high_water))
}

fn parse_role(text: Option<String>) -> Result<Option<StationRole>, StoreError> {
    text.map(|t| t.parse().map_err(|e: UnknownRole| StoreError::Corrupt(e.to_string()))).transpose()
}

fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("stored uuid {text:?}: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn push_batch(
    connection: &mut Connection,
    station: &str,
    mut batch: PreparedBatch,
) -> Result<PushResponse, StoreError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut new = 0;
    {
        let mut insert_change = tx.prepare_cached(
            "INSERT INTO changes (change_id, pushed_by, origin, hlc, kind, entity_key, change_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (change_id) DO NOTHING",
        )?;
        let mut stored_change =
            tx.prepare_cached("SELECT change_json FROM changes WHERE change_id = ?1")?;
        // Ids the hub already held: a replay, or another change under a reused id.
        let mut known = Vec::new();
        for row in &batch.changes {
            let id = row.id.to_string();
            let inserted = insert_change.execute(params![
                id,
                station,
                row.origin,
                row.hlc,
                row.kind,
                row.entity_key,
                row.change_json
            ])?;
            if inserted == 0 {
                known.push((row.id, stored_change.query_row([&id], |r| r.get(0))?));
            }
            new += inserted;
        }
        batch.refuse_reused_ids(&known);
        tx.prepare_cached(
            "UPDATE stations SET changes_stored = changes_stored + ?2 WHERE name = ?1",
        )?
        .execute(params![station, new])?;
        let mut upsert_state = tx.prepare_cached(
            "INSERT INTO current_state
                 (entity_key, kind, precedence, hlc, change_id, origin, id_hash, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                     (SELECT seq FROM changes WHERE change_id = ?5))
             ON CONFLICT (entity_key) DO UPDATE SET
                 precedence = excluded.precedence, hlc = excluded.hlc,
                 change_id = excluded.change_id, origin = excluded.origin,
                 id_hash = excluded.id_hash, seq = excluded.seq
             WHERE (excluded.precedence, excluded.hlc)
                 > (current_state.precedence, current_state.hlc)",
        )?;
        let winners = batch.winners();
        for row in &winners {
            upsert_state.execute(params![
                row.entity_key,
                row.kind,
                row.precedence,
                row.hlc,
                row.change_id.to_string(),
                row.origin,
                row.id_hash()
            ])?;
        }
        record_duplicates(&tx, &hashed_attendees(&winners))?;
        if let Some(claim) = batch.resolution() {
            let claimed = tx.execute(
                "UPDATE conflicts SET status = ?2, resolution = ?3 WHERE id = ?1 AND status = 'open'",
                params![claim.id, claim.status.as_str(), claim.resolution_json],
            )?;
            if claimed == 0 {
                // Dropping the transaction rolls the batch back.
                return Err(StoreError::ConflictResolved(claim.id));
            }
        }
    }
    tx.commit()?;
    Ok(batch.response(new))
}

fn record_duplicates(
    tx: &rusqlite::Transaction<'_>,
    incoming: &[HashedAttendee],
) -> Result<(), StoreError> {
    if incoming.is_empty() {
        return Ok(());
    }
    // Only attendees carry an ID hash: the partial index answers this alone.
    let mut same_hash =
        tx.prepare_cached("SELECT entity_key, origin FROM current_state WHERE id_hash = ?1")?;
    let mut known = Vec::new();
    for attendee in incoming {
        let mut rows = same_hash.query([&attendee.id_hash])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            known.push(HashedAttendee {
                attendee: attendee_id_of_key(&key)?,
                origin: row.get(1)?,
                id_hash: attendee.id_hash.clone(),
            });
        }
    }
    insert_conflicts(tx, &duplicate_pairs(incoming, &known))?;
    Ok(())
}

/// Inserts the conflicts not recorded before; returns how many were new.
fn insert_conflicts(
    tx: &rusqlite::Transaction<'_>,
    conflicts: &[NewConflict],
) -> Result<usize, StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO conflicts
             (kind, id_hash, attendee_a, station_a, attendee_b, station_b, detail, found_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (kind, attendee_a, attendee_b) DO NOTHING",
    )?;
    let now = expo_kiosk::store::now_rfc3339();
    let mut new = 0;
    for conflict in conflicts {
        new += insert.execute(params![
            conflict.kind.as_str(),
            conflict.id_hash,
            conflict.attendee_a.to_string(),
            conflict.station_a,
            conflict.attendee_b.to_string(),
            conflict.station_b,
            conflict.detail.to_string(),
            now
        ])?;
    }
    Ok(new)
}

const CONFLICT_COLUMNS: &str = "id, kind, id_hash, attendee_a, station_a, attendee_b, station_b, \
     detail, found_at, resolution";

fn conflict_of_row(row: &rusqlite::Row<'_>) -> Result<StoredConflict, StoreError> {
    let kind: String = row.get(1)?;
    let (a, b): (String, String) = (row.get(3)?, row.get(5)?);
    let (detail, resolution): (String, Option<String>) = (row.get(7)?, row.get(9)?);
    Ok(StoredConflict {
        id: row.get(0)?,
        found: NewConflict {
            kind: ConflictKind::parse(&kind)?,
            id_hash: row.get(2)?,
            attendee_a: parse_uuid(&a)?,
            station_a: row.get(4)?,
            attendee_b: parse_uuid(&b)?,
            station_b: row.get(6)?,
            detail: parse_json(&detail)?,
        },
        found_at: row.get(8)?,
        resolution: resolution.as_deref().map(parse_json::<Resolution>).transpose()?,
    })
}

impl HubStore for SqliteStore {
    async fn add_station(
        &self,
        name: &str,
        role: StationRole,
        code_hash: &str,
    ) -> Result<(), StoreError> {
        let (name, code_hash) = (name.to_owned(), code_hash.to_owned());
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                "INSERT INTO stations (name, role) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                [&name, role.as_str()],
            )?;
            if inserted == 0 {
                return Err(StoreError::StationExists(name));
            }
            tx.execute(
                "INSERT INTO enrolment_codes (code_hash, station) VALUES (?1, ?2)",
                [&code_hash, &name],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn redeem_enrolment(
        &self,
        code_hash: &str,
        token_hash: &str,
        station_id: Option<String>,
    ) -> Result<(String, Option<StationRole>), StoreError> {
        let (code_hash, token_hash) = (code_hash.to_owned(), token_hash.to_owned());
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let station: String = tx
                .query_row(
                    "DELETE FROM enrolment_codes WHERE code_hash = ?1 RETURNING station",
                    [&code_hash],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or(StoreError::InvalidEnrolmentCode)?;
            let role: Option<String> = tx
                .query_row(
                    "UPDATE stations SET credential_hash = ?1, station_id = ?3
                     WHERE name = ?2 AND revoked = 0 RETURNING role",
                    params![token_hash, station, station_id],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or(StoreError::InvalidEnrolmentCode)?;
            let role = parse_role(role)?;
            tx.commit()?;
            Ok((station, role))
        })
        .await
    }

    async fn set_station_role(&self, name: &str, role: StationRole) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.run(move |c| {
            if c.execute("UPDATE stations SET role = ?2 WHERE name = ?1", [&name, role.as_str()])?
                == 0
            {
                return Err(StoreError::UnknownStation(name));
            }
            Ok(())
        })
        .await
    }

    async fn bind_station_id(&self, name: &str, station_id: &str) -> Result<String, StoreError> {
        let (name, station_id) = (name.to_owned(), station_id.to_owned());
        self.run(move |c| {
            Ok(c.query_row(
                "UPDATE stations SET station_id = COALESCE(station_id, ?2) WHERE name = ?1
                 RETURNING station_id",
                [&name, &station_id],
                |row| row.get(0),
            )?)
        })
        .await
    }

    async fn revoke_station(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.run(move |c| {
            let tx = c.transaction()?;
            let station_id: Option<Option<String>> = tx
                .query_row(
                    "UPDATE stations SET revoked = 1 WHERE name = ?1 RETURNING station_id",
                    [&name],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(station_id) = station_id else {
                return Err(StoreError::UnknownStation(name));
            };
            tx.execute("DELETE FROM enrolment_codes WHERE station = ?1", [&name])?;
            tx.commit()?;
            Ok(station_id)
        })
        .await
    }

    async fn authority(&self) -> Result<Authority, StoreError> {
        let secret: String = self
            .run(|c| Ok(c.query_row("SELECT secret FROM hub_authority", [], |r| r.get(0))?))
            .await?;
        Ok(Authority::from_secret_hex(&secret)?)
    }

    async fn authenticate(&self, token_hash: &str) -> Result<StationAuth, StoreError> {
        let token_hash = token_hash.to_owned();
        self.run(move |c| {
            let found = c
                .query_row(
                    "SELECT name, revoked, role, station_id, changes_stored FROM stations
                     WHERE credential_hash = ?1",
                    [&token_hash],
                    |row| {
                        let identity = StationIdentity {
                            name: row.get(0)?,
                            role: None,
                            station_id: row.get(3)?,
                            changes_stored: row.get(4)?,
                        };
                        Ok((row.get::<_, bool>(1)?, row.get::<_, Option<String>>(2)?, identity))
                    },
                )
                .optional()?;
            Ok(match found {
                Some((false, role, identity)) => {
                    StationAuth::Active(StationIdentity { role: parse_role(role)?, ..identity })
                }
                Some((true, _, identity)) => StationAuth::Revoked(identity.name),
                None => StationAuth::Unknown,
            })
        })
        .await
    }

    async fn push(&self, station: &str, batch: PreparedBatch) -> Result<PushResponse, StoreError> {
        let station = station.to_owned();
        self.run(move |c| push_batch(c, &station, batch)).await
    }

    async fn pull(
        &self,
        station: &str,
        since: i64,
        mut page: PullPage,
    ) -> Result<PullResponse, StoreError> {
        let station = station.to_owned();
        self.run_read(move |c| {
            let (tx, high_water) = read_with_high_water(c)?;
            {
                // The kinds the role receives, as a JSON array, or NULL for every kind.
                let kinds = page.kinds().map(|kinds| serde_json::json!(kinds).to_string());
                let mut query = tx.prepare_cached(
                    "SELECT seq, change_json FROM changes WHERE seq > ?1 AND pushed_by <> ?2
                     AND (?4 IS NULL OR kind IN (SELECT value FROM json_each(?4)))
                     ORDER BY seq LIMIT ?3",
                )?;
                let fetch = i64::try_from(page.rows_to_read()).unwrap_or(i64::MAX);
                // Read lazily: a page full by bytes stops reading.
                let mut rows = query.query(params![since, station, fetch, kinds])?;
                while let Some(row) = rows.next()? {
                    if !page.offer(row.get(0)?, row.get(1)?)? {
                        break;
                    }
                }
            }
            tx.commit()?;
            Ok(page.finish(since, high_water))
        })
        .await
    }

    async fn put_event(&self, event: EventRecord) -> Result<EventRecord, StoreError> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored: Option<String> = tx
                .query_row(
                    "SELECT record_json FROM events WHERE event_id = ?1",
                    [&event.event_id],
                    |r| r.get(0),
                )
                .optional()?;
            let stored = stored.as_deref().map(parse_json).transpose()?;
            let merged = merge_event(stored, event);
            let json =
                serde_json::to_string(&merged).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.execute(
                "INSERT INTO events (event_id, record_json, version)
                 VALUES (?1, ?2, (SELECT COALESCE(MAX(version), 0) + 1 FROM events))
                 ON CONFLICT (event_id) DO UPDATE SET
                     record_json = excluded.record_json, version = excluded.version",
                [&merged.event_id, &json],
            )?;
            tx.commit()?;
            Ok(merged)
        })
        .await
    }

    async fn get_event(&self) -> Result<Option<EventRecord>, StoreError> {
        self.run(|c| {
            let json: Option<String> = c
                .query_row(
                    "SELECT record_json FROM events ORDER BY version DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            json.as_deref().map(parse_json).transpose()
        })
        .await
    }

    async fn conflicts(&self) -> Result<Vec<StoredConflict>, StoreError> {
        self.run(|c| {
            let mut query = c.prepare(&format!(
                "SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE status = 'open' ORDER BY id"
            ))?;
            let mut rows = query.query([])?;
            let mut conflicts = Vec::new();
            while let Some(row) = rows.next()? {
                conflicts.push(conflict_of_row(row)?);
            }
            Ok(conflicts)
        })
        .await
    }

    async fn stats(&self) -> Result<HubStats, StoreError> {
        self.run(|c| {
            let count = |sql: &str| -> Result<u64, StoreError> {
                let n: i64 = c.query_row(sql, [], |r| r.get(0))?;
                u64::try_from(n).map_err(|e| StoreError::Corrupt(e.to_string()))
            };
            Ok(HubStats {
                changes: count("SELECT COUNT(*) FROM changes")?,
                active_stations: count("SELECT COUNT(*) FROM stations WHERE revoked = 0")?,
                conflicts: count("SELECT COUNT(*) FROM conflicts WHERE status = 'open'")?,
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }

    async fn current_page(
        &self,
        kind: &'static str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Record)>, StoreError> {
        let after = after.to_owned();
        self.run(move |c| {
            let mut query = c.prepare_cached(
                "SELECT s.entity_key, c.change_json
                 FROM current_state s JOIN changes c ON c.change_id = s.change_id
                 WHERE s.entity_key > ?1 AND s.entity_key < ?2 ORDER BY s.entity_key LIMIT ?3",
            )?;
            let (lower, upper) = kind_key_range(kind, &after);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = query.query_map(params![lower, upper, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.map(|row| {
                let (key, json) = row?;
                Ok((key, record_of_change(&json)?))
            })
            .collect()
        })
        .await
    }
    async fn record_heartbeat(
        &self,
        station: &str,
        received_at_ms: i64,
        report: String,
    ) -> Result<(), StoreError> {
        let station = station.to_owned();
        self.run(move |c| sqlite_console::record_heartbeat(c, &station, received_at_ms, &report))
            .await
    }

    async fn fleet(&self) -> Result<Vec<FleetRow>, StoreError> {
        self.run(sqlite_console::fleet).await
    }

    async fn heartbeat_history(
        &self,
        station: &str,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let station = station.to_owned();
        self.run(move |c| sqlite_console::heartbeat_history(c, &station, limit)).await
    }

    async fn add_console_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let (name, role, hash) = (name.to_owned(), role.to_owned(), password_hash.to_owned());
        self.run(move |c| sqlite_console::add_user(c, &name, &role, &hash)).await
    }

    async fn remove_console_user(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.run(move |c| sqlite_console::remove_user(c, &name)).await
    }

    async fn console_users(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.run(sqlite_console::users).await
    }

    async fn console_password(&self, name: &str) -> Result<Option<(String, String)>, StoreError> {
        let name = name.to_owned();
        self.run(move |c| sqlite_console::password(c, &name)).await
    }

    async fn create_console_session(&self, session: ConsoleSessionRow) -> Result<(), StoreError> {
        self.run(move |c| sqlite_console::create_session(c, &session)).await
    }

    async fn console_session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<ConsoleSessionRow>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.run(move |c| sqlite_console::session(c, &token_hash, now_ms)).await
    }

    async fn end_console_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let token_hash = token_hash.to_owned();
        self.run(move |c| sqlite_console::end_session(c, &token_hash)).await
    }

    async fn console_audit(&self, entry: AuditRow) -> Result<(), StoreError> {
        self.run(move |c| sqlite_console::audit(c, &entry)).await
    }

    async fn console_audit_count(
        &self,
        user: &str,
        action: &str,
        since_ms: i64,
    ) -> Result<u64, StoreError> {
        let (user, action) = (user.to_owned(), action.to_owned());
        self.run(move |c| sqlite_console::audit_count(c, &user, &action, since_ms)).await
    }

    async fn console_audit_log(&self, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        self.run(move |c| sqlite_console::audit_log(c, limit)).await
    }

    async fn conflict(&self, id: i64) -> Result<Option<StoredConflict>, StoreError> {
        self.run(move |c| {
            let mut query = c.prepare_cached(&format!(
                "SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = ?1"
            ))?;
            let mut rows = query.query([id])?;
            rows.next()?.map(conflict_of_row).transpose()
        })
        .await
    }

    // API keys.

    async fn add_api_key(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        let key = key.clone();
        self.run(move |c| {
            let inserted = c.execute(
                "INSERT INTO api_keys (name, key_hash, scopes, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![key.name, key.key_hash, key.scopes, key.created_at],
            )?;
            if inserted == 0 {
                return Err(StoreError::ApiKeyExists(key.name));
            }
            Ok(())
        })
        .await
    }

    async fn record_conflicts(&self, conflicts: Vec<NewConflict>) -> Result<usize, StoreError> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let new = insert_conflicts(&tx, &conflicts)?;
            tx.commit()?;
            Ok(new)
        })
        .await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        self.run(|c| {
            let mut query =
                c.prepare(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY name"))?;
            let rows = query.query_map([], api_key_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn revoke_api_key(&self, name: &str, at: &str) -> Result<(), StoreError> {
        let (name, at) = (name.to_owned(), at.to_owned());
        self.run(move |c| {
            if c.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE name = ?1",
                [&name, &at],
            )? == 0
            {
                return Err(StoreError::UnknownApiKey(name));
            }
            Ok(())
        })
        .await
    }

    async fn use_api_key(&self, key_hash: &str, at: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let (key_hash, at) = (key_hash.to_owned(), at.to_owned());
        self.run(move |c| {
            Ok(c.query_row(
                &format!(
                    "UPDATE api_keys SET last_used_at = IIF(revoked_at IS NULL, ?2, last_used_at)
                     WHERE key_hash = ?1 RETURNING {API_KEY_COLUMNS}"
                ),
                [&key_hash, &at],
                api_key_row,
            )
            .optional()?)
        })
        .await
    }

    // The feed.

    async fn changes_of_kinds(
        &self,
        kinds: &'static [&'static str],
        after: i64,
        limit: usize,
    ) -> Result<(Vec<(i64, String)>, i64), StoreError> {
        let kinds = serde_json::to_string(kinds).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.run(move |c| {
            // One read transaction: the rows and the high-water mark share a snapshot.
            let tx = c.transaction()?;
            let high_water: i64 =
                tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get(0))?;
            let rows = tx
                .prepare_cached(
                    "SELECT seq, change_json FROM changes
                     WHERE seq > ?1 AND kind IN (SELECT value FROM json_each(?2))
                     ORDER BY seq LIMIT ?3",
                )?
                .query_map(params![after, kinds, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((rows, high_water))
        })
        .await
    }

    async fn current_records(&self, keys: &[String]) -> Result<Vec<(String, Record)>, StoreError> {
        let keys = keys.to_vec();
        self.run(move |c| {
            let mut query = c.prepare_cached(
                "SELECT c.change_json
                 FROM current_state s JOIN changes c ON c.change_id = s.change_id
                 WHERE s.entity_key = ?1",
            )?;
            let mut records = Vec::with_capacity(keys.len());
            for key in keys {
                let json: Option<String> = query.query_row([&key], |r| r.get(0)).optional()?;
                if let Some(json) = json {
                    records.push((key, record_of_change(&json)?));
                }
            }
            Ok(records)
        })
        .await
    }

    // Badge revocation.

    async fn attendees_by_registration_code(
        &self,
        registration_code: &str,
    ) -> Result<Vec<AttendeeRecord>, StoreError> {
        let code = registration_code.to_owned();
        self.run(move |c| {
            let mut query = c.prepare_cached(
                "SELECT c.change_json
                 FROM current_state s JOIN changes c ON c.change_id = s.change_id
                 WHERE s.entity_key > ?1 AND s.entity_key < ?2
                   AND json_extract(c.change_json, '$.record.data.registration_code') = ?3
                 LIMIT 2",
            )?;
            let (lower, upper) = kind_key_range("attendee", "");
            let rows = query.query_map(params![lower, upper, code], |r| r.get::<_, String>(0))?;
            rows.map(|json| attendee_of_change(&json?)).collect()
        })
        .await
    }

    async fn put_data_centre_event(&self, event: DataCentreEvent) -> Result<(), StoreError> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO data_centre_event (id, event_id, definition, data_key)
                 VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET event_id = excluded.event_id,
                     definition = excluded.definition, data_key = excluded.data_key",
                [&event.event_id, &event.definition, &event.data_key],
            )?;
            Ok(())
        })
        .await
    }

    async fn data_centre_event(&self) -> Result<Option<DataCentreEvent>, StoreError> {
        self.run(|c| {
            Ok(c.query_row(
                "SELECT event_id, definition, data_key FROM data_centre_event",
                [],
                |r| {
                    Ok(DataCentreEvent {
                        event_id: r.get(0)?,
                        definition: r.get(1)?,
                        data_key: r.get(2)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    async fn current_attendees(
        &self,
        ids: Vec<Uuid>,
        id_hashes: Vec<String>,
    ) -> Result<Vec<(Hlc, AttendeeRecord)>, StoreError> {
        self.run(move |c| {
            let mut by_key = c.prepare_cached(
                "SELECT s.hlc, c.change_json
                 FROM current_state s JOIN changes c ON c.change_id = s.change_id
                 WHERE s.entity_key = ?1",
            )?;
            let mut by_hash = c.prepare_cached(
                "SELECT s.hlc, c.change_json
                 FROM current_state s JOIN changes c ON c.change_id = s.change_id
                 WHERE s.id_hash = ?1",
            )?;
            let mut rows: Vec<(String, String)> = Vec::new();
            for id in ids {
                let version = by_key.query_row([attendee_key(id)], |r| Ok((r.get(0)?, r.get(1)?)));
                rows.extend(version.optional()?);
            }
            for hash in &id_hashes {
                let mut matches = by_hash.query([hash])?;
                while let Some(row) = matches.next()? {
                    rows.push((row.get::<_, String>(0)?, row.get::<_, String>(1)?));
                }
            }
            rows.iter().map(|(hlc, json)| attendee_version(hlc, json)).collect()
        })
        .await
    }

    async fn snapshot_page(&self, after: &str, limit: usize) -> Result<SnapshotPage, StoreError> {
        let after = after.to_owned();
        self.run_read(move |c| {
            let (tx, high_water) = read_with_high_water(c)?;
            let rows = {
                let mut query = tx.prepare_cached(
                    "SELECT s.entity_key, c.change_json
                     FROM current_state s JOIN changes c ON c.seq = s.seq
                     WHERE s.entity_key > ?1 ORDER BY s.entity_key LIMIT ?2",
                )?;
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows =
                    query.query_map(params![after, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            Ok(SnapshotPage { high_water, rows })
        })
        .await
    }

    async fn search_attendees(
        &self,
        search: &AttendeeSearch,
        limit: usize,
    ) -> Result<Vec<AttendeeRecord>, StoreError> {
        let search = search.clone();
        self.run(move |c| sqlite_attendee_search::search(c, &search, limit)).await
    }

    async fn set_console_user_categories(
        &self,
        name: &str,
        categories: Vec<String>,
    ) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.run(move |c| sqlite_console::set_categories(c, &name, &categories)).await
    }

    async fn console_user_categories(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let name = name.to_owned();
        self.run(move |c| sqlite_console::categories(c, &name)).await
    }

    async fn venue_totals(&self, first: &str, end: &str) -> Result<VenueTotals, StoreError> {
        let (first, end) = (first.to_owned(), end.to_owned());
        self.run(move |c| {
            // One snapshot for the three tables: every chart shows the same moment.
            let tx = c.transaction()?;
            sqlite_venue_now::totals(&tx, &first, &end)
        })
        .await
    }
}

const API_KEY_COLUMNS: &str = "name, key_hash, scopes, created_at, last_used_at, revoked_at";

fn api_key_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        name: row.get(0)?,
        key_hash: row.get(1)?,
        scopes: row.get(2)?,
        created_at: row.get(3)?,
        last_used_at: row.get(4)?,
        revoked_at: row.get(5)?,
    })
}

#[cfg(all(test, unix))]
#[path = "sqlite_files_tests.rs"]
mod files_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use expo_sync::hlc::Hlc;
    use expo_sync::protocol::{BadgeRecord, Change};

    /// Sends when dropped: tells the test that a closure handed to the store has gone,
    /// whether it ran or was skipped.
    struct SignalOnDrop(std::sync::mpsc::Sender<()>);

    impl Drop for SignalOnDrop {
        fn drop(&mut self) {
            self.0.send(()).ok();
        }
    }

    /// A store whose writing connection one request holds (as a push waiting out another
    /// process's write lock) until `release` is sent; `holder` ends after that.
    struct HeldWriter {
        _dir: tempfile::TempDir,
        store: Arc<SqliteStore>,
        runtime: tokio::runtime::Runtime,
        release: std::sync::mpsc::Sender<()>,
        holder: tokio::task::JoinHandle<Result<(), StoreError>>,
    }

    fn held_writer() -> HeldWriter {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("hub.db")).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let (held, is_held) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = runtime.spawn({
            let store = Arc::clone(&store);
            async move {
                store
                    .run(move |_| {
                        held.send(()).ok();
                        released.recv().ok();
                        Ok(())
                    })
                    .await
            }
        });
        is_held.recv().unwrap();
        HeldWriter { _dir: dir, store, runtime, release, holder }
    }

    #[test]
    fn work_whose_caller_gave_up_while_the_connection_was_busy_is_skipped() {
        let HeldWriter { _dir, store, runtime, release, holder } = held_writer();

        // A request queued behind it is given up on, as the hub's request timeout does.
        let ran = Arc::new(AtomicBool::new(false));
        let (gone, is_gone) = std::sync::mpsc::channel();
        let work = {
            let ran = Arc::clone(&ran);
            let signal = SignalOnDrop(gone);
            move |_: &mut Connection| {
                let _signal = signal;
                ran.store(true, Ordering::SeqCst);
                Ok(())
            }
        };
        let given_up = runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(20), store.run(work)).await
        });
        assert!(given_up.is_err());
        // Another is still waiting.
        let wanted = runtime.spawn({
            let store = Arc::clone(&store);
            async move {
                store
                    .run(|c| Ok(c.query_row("SELECT 41 + 1", [], |row| row.get::<_, i64>(0))?))
                    .await
            }
        });

        release.send(()).unwrap();
        runtime.block_on(holder).unwrap().unwrap();
        assert_eq!(runtime.block_on(wanted).unwrap().unwrap(), 42);
        is_gone.recv().unwrap();
        assert!(!ran.load(Ordering::SeqCst), "the abandoned request's work ran");
    }

    #[test]
    fn a_pull_is_answered_while_the_writing_connection_is_busy() {
        let HeldWriter { _dir, store, runtime, release, holder: writer } = held_writer();

        let pulled = runtime.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                store.pull("desk-1", 0, PullPage::new(StationRole::Desk, 100)),
            )
            .await
        });
        let page = pulled.expect("the pull waited for the writer").unwrap();
        assert!(page.changes.is_empty());
        release.send(()).unwrap();
        runtime.block_on(writer).unwrap().unwrap();
    }

    #[test]
    fn a_database_of_an_earlier_hub_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE current_state (
                     entity_key TEXT PRIMARY KEY, kind TEXT NOT NULL, precedence INTEGER NOT NULL,
                     hlc TEXT NOT NULL, change_id TEXT NOT NULL, origin TEXT NOT NULL,
                     id_hash TEXT, record_json TEXT NOT NULL);
                 CREATE INDEX current_state_by_kind ON current_state (kind, entity_key);",
            )
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        // Opening again finds nothing left to migrate.
        drop(store);
        let store = SqliteStore::open(&path).unwrap();

        let change = Change {
            id: Uuid::now_v7(),
            station: "desk-1".into(),
            hlc: Hlc { wall_ms: 1, counter: 0, station: "desk-1".into() },
            record: Record::Badge(BadgeRecord {
                attendee_id: Uuid::nil(),
                serial: 1,
                status: "active".into(),
                reason: None,
                issued_at: "2025-01-01T00:00:00Z".into(),
                changed_at: "2025-01-01T00:00:00Z".into(),
                operator: "op".into(),
            }),
            pushed_by: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let batch =
            PreparedBatch::new(StationRole::Desk, "desk-1", std::slice::from_ref(&change), 1)
                .unwrap();
        assert_eq!(runtime.block_on(store.push("desk-1", batch)).unwrap().new, 1);
        let page = runtime.block_on(store.current_page("badge", "", 10)).unwrap();
        assert_eq!(page, vec![(change.record.entity_key(), change.record.clone())]);
        assert!(runtime.block_on(store.current_page("attendee", "", 10)).unwrap().is_empty());

        let connection = Connection::open(&path).unwrap();
        let leftovers: i64 = connection
            .query_row(
                "SELECT (SELECT COUNT(*) FROM pragma_table_info('current_state')
                         WHERE name = 'record_json')
                      + (SELECT COUNT(*) FROM sqlite_master WHERE name = 'current_state_by_kind')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(leftovers, 0);
    }
}
