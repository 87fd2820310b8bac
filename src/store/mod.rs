//! The station's local store: one SQLite file per station, in WAL mode, durable on
//! power loss, versioned by migrations.
//!
//! Every state change goes through [`Tx`], which writes the change's outbox row (and
//! audit row, where it has one) in the same SQLite transaction as the change itself. So
//! a change exists locally if and only if it is queued for the hub.

pub(crate) mod bulk;
mod keys;
mod schema;
pub mod sync_bell;
mod waiting_writers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use expo_sync::protocol::AuditRecord;
use expo_sync::{Change, Hlc, HlcClock, Record};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use uuid::Uuid;

use crate::credential;
use crate::domain::{AttendeeId, EventDefinition};
use crate::privacy::DataKey;

pub use keys::KeyFiles;
pub use schema::CURRENT_VERSION as SCHEMA_VERSION;
use waiting_writers::WaitingWriters;

/// How long a write waits for the database's write lock before it fails ("database is
/// locked").
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page size of a new station database, in bytes.
const PAGE_SIZE: i64 = 4096;

/// Page cache per connection, in KiB (memory taken only as pages are read).
const PAGE_CACHE_KIB: i64 = 16 * 1024;

/// The most of a station database read through a memory map (see [`Store::open`]).
const READ_MAP_BYTES: i64 = 1 << 30;

/// Prepared statements kept per connection.
const STATEMENT_CACHE_CAPACITY: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot use data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(
        "the database {path} was written by a newer expo-kiosk (schema version {found}, \
         this program knows up to {known}); upgrade expo-kiosk, nothing was changed"
    )]
    NewerSchema { path: PathBuf, found: i64, known: i64 },
    #[error("this station has no event yet: run `expo-kiosk event init --file EVENT.toml` or `expo-kiosk event import BUNDLE`")]
    NoEvent,
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The event as this station holds it: definition, trusted keys, and this station's
/// secrets (absent on a gate that holds public keys only).
pub struct EventContext {
    pub definition: EventDefinition,
    pub event_tag: u32,
    pub public_keys: Vec<(u32, VerifyingKey)>,
    pub signing_key: Option<SigningKey>,
    pub data_key: Option<DataKey>,
}

pub struct Store {
    conn: Connection,
    data_dir: PathBuf,
    station_id: String,
    clock: HlcClock,
    /// Added to the wall clock this connection stamps changes with: zero but in the
    /// whole-venue rehearsal, which runs one station's clock ahead (`set_clock_offset`).
    clock_offset_ms: u64,
    event: Option<EventContext>,
    /// This process's writers of the same database, which pulled changes let go first.
    writers: Arc<WaitingWriters>,
}

impl Store {
    /// Opens (creating if needed) the station database in `data_dir` and brings its
    /// schema up to date.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_owned(), source })?;
        let path = data_dir.join("station.db");
        refuse_newer_schema(&path)?;
        // Owner-only before SQLite opens it, so its -wal and -shm files are too.
        expo_sync::output::make_database_private(&path)
            .map_err(|source| StoreError::DataDir { path: path.clone(), source })?;
        let mut conn = Connection::open(&path)?;
        // First, so that switching to WAL and migrating wait for another writer of the
        // station (a CLI command beside the running app) instead of failing at once.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Takes effect only on a new file (a station made before keeps its page size).
        // 4 KiB, SQLite's default: what a station writes all day is a few pulled changes
        // per transaction, each on random leaves of its indexes (ids are random), and every
        // leaf it touches is copied whole into a statement journal and then into the WAL.
        // With 16 KiB pages a million-row import ran about a tenth faster (12 s against
        // 14 s), but pulled pages of 130 changes applied a third slower (`station_apply`
        // bench, README "Performance").
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        // WAL + synchronous=FULL: a transaction that returned is on disk, power cut or not.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Statement journals: SQLite copies every page a statement is about to change into
        // that statement's journal. Every pulled attendee, badge and gate decision has one
        // (their running-total triggers make each statement one that may have to be undone
        // alone). With temporary storage in memory those journals grow by 1 KiB chunks, a
        // `malloc` each: nearly a fifth of a pulled page's apply went to those journals, over
        // half of it allocating (`perf`, `station_apply` bench). With it in files,
        // a journal is one chunk of `SQLITE_STMTJRNL_SPILL` bytes (1 MiB, set in
        // `.cargo/config.toml`) that becomes a file only past that, which no pulled change
        // comes near. Pulled pages then applied 10 % (desk) to 30 % (gate decisions)
        // faster, and a million-row import took as long (README, "Performance").
        conn.pragma_update(None, "temp_store", "FILE")?;
        // A larger page cache than SQLite's 2 MiB: pulled badges and attendees land on
        // random leaves of their indexes (ids are random), and once those outgrow the cache
        // every pulled change reads its leaves again. At full size (issue 17, README) the
        // stations' sync CPU after ten minutes fell from 1.3-1.5 cores to 1.0-1.1 with it.
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
        // Reads through a memory map. In WAL mode a connection empties its page cache
        // whenever another connection to the file has committed, and a station's worker and
        // its sync thread commit in turn, so each round reads its pages again; through a
        // map SQLite reads them in place instead of copying each out of the file cache
        // (`pread`). Writes still go through the WAL, so durability is unchanged. At full
        // size (issue 17, README) the catch-ups after a fault took 9.4-10.2 s instead of
        // 10.6-13.7. A read error on a mapped page stops the process (SIGBUS) rather than
        // failing the statement, as on the hub: a station whose disk fails reads nothing.
        conn.pragma_update(None, "mmap_size", READ_MAP_BYTES)?;
        // Room for every statement a station runs over and over (rusqlite keeps 16): a
        // pulled attendee, badge and gate decision alone take about twenty, and a
        // statement pushed out of the cache is compiled again at its next use.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        migrate(&mut conn)?;
        let station_id = station_id(&conn)?;
        let last_hlc: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'hlc'", [], |r| r.get(0))
            .optional()?;
        let last_hlc = last_hlc
            .map(|text| text.parse::<Hlc>())
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let clock = HlcClock::resume(&station_id, last_hlc.as_ref());
        let mut store = Store {
            conn,
            data_dir: data_dir.to_owned(),
            station_id,
            clock,
            clock_offset_ms: 0,
            event: None,
            writers: WaitingWriters::of(data_dir),
        };
        store.reload_event()?;
        Ok(store)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn station_id(&self) -> &str {
        &self.station_id
    }

    pub fn key_files(&self) -> KeyFiles {
        KeyFiles::new(&self.data_dir)
    }

    /// Read access for queries. Writes go through [`Store::write`].
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn event(&self) -> Result<&EventContext> {
        self.event.as_ref().ok_or(StoreError::NoEvent)
    }

    /// Runs `f` in one transaction that also carries the outbox and audit rows `f` emits.
    /// Nothing is written unless `f` succeeds.
    pub fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let writers = Arc::clone(&self.writers);
        let _waiting = writers.wait_to_write();
        self.write_uncounted(f)
    }

    /// [`Store::write`] for changes pulled from the hub (a slice of them): lets this
    /// process's other writers of the database go first, and commits without waiting for
    /// the disk.
    ///
    /// Why that is safe: pulled changes can be pulled again, and the pull cursor is
    /// stored in the same transaction as what it covers. In WAL mode with synchronous =
    /// NORMAL a power cut can lose the last such transactions, but only whole and in
    /// order (their WAL frames are written before any later one's), so what survives
    /// never has a cursor ahead of the changes it covers; the lost ones are pulled again.
    /// The next FULL commit (an operator's own write) syncs them with it. The station's
    /// own actions keep synchronous = FULL: a check-in that returned is on disk.
    ///
    /// `f` is also given whether one of those writers waits now, so that a slice can end
    /// early for it.
    pub fn write_pulled<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>, &dyn Fn() -> bool) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.writers.let_them_go_first(BUSY_TIMEOUT);
        self.set_synchronous("NORMAL")?;
        let writers = Arc::clone(&self.writers);
        let outcome = self.write_uncounted(|tx| f(tx, &|| writers.any()));
        let restored = self.set_synchronous("FULL");
        let value = outcome?;
        restored?;
        Ok(value)
    }

    fn set_synchronous(&self, mode: &str) -> Result<()> {
        self.conn.prepare_cached(&format!("PRAGMA synchronous = {mode}"))?.execute([])?;
        Ok(())
    }

    fn write_uncounted<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let clock_before = self.clock.clone();
        let outcome = {
            // Immediate: the write lock is taken at BEGIN, waiting out the busy timeout. A
            // deferred transaction that reads first fails at once ("database is locked") when
            // another connection of this station (sync worker, gate loop, print worker)
            // committed in between, since its snapshot can no longer become a writer.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let mut wrapped = Tx {
                tx,
                clock: &mut self.clock,
                clock_offset_ms: self.clock_offset_ms,
                station: &self.station_id,
                emitted: false,
                queued: false,
            };
            match f(&mut wrapped) {
                Ok(value) => {
                    let queued = wrapped.queued;
                    let committed = wrapped.commit();
                    if committed.is_ok() && queued {
                        sync_bell::ring(&self.data_dir);
                    }
                    committed.map(|()| value).map_err(E::from)
                }
                // Dropping the transaction at the end of this block rolls it back.
                Err(err) => Err(err),
            }
        };
        if outcome.is_err() {
            // The transaction rolled back: forget the timestamps it consumed so the
            // persisted clock and the in-memory one stay identical.
            self.clock = clock_before;
        }
        outcome
    }

    /// Re-reads the event, keys and secrets after provisioning changed them.
    pub fn reload_event(&mut self) -> Result<()> {
        let definition: Option<String> =
            self.conn.query_row("SELECT definition FROM event", [], |r| r.get(0)).optional()?;
        let Some(definition) = definition else {
            self.event = None;
            return Ok(());
        };
        let definition = EventDefinition::from_toml(&definition)
            .map_err(|e| StoreError::Corrupt(format!("stored event definition: {e}")))?;
        let mut stmt = self.conn.prepare("SELECT key_id, public_key FROM public_keys")?;
        let public_keys = stmt
            .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?)))?
            .map(|row| {
                let (id, bytes) = row?;
                let bytes: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| StoreError::Corrupt(format!("public key {id:08x} length")))?;
                let key = VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| StoreError::Corrupt(format!("public key {id:08x}")))?;
                Ok((id, key))
            })
            .collect::<Result<Vec<_>>>()?;
        drop(stmt);
        let files = self.key_files();
        self.event = Some(EventContext {
            event_tag: credential::event_tag(&definition.event.id),
            definition,
            public_keys,
            signing_key: files.load_signing_key()?,
            data_key: files.load_data_key()?,
        });
        Ok(())
    }

    pub fn pending_outbox_count(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT count(*) FROM outbox WHERE acked = 0", [], |r| r.get(0))?)
    }

    /// The station clock, for components that stamp records themselves (sync apply).
    pub fn observe_remote(&mut self, remote: &Hlc) {
        self.clock.observe(remote, wall_ms() + self.clock_offset_ms);
    }

    /// Runs this connection's clock `ahead_ms` ahead of the machine's: how the whole-venue
    /// rehearsal (`expo-hub rehearse --faults`) plays a station whose clock is wrong.
    pub fn set_clock_offset(&mut self, ahead_ms: u64) {
        self.clock_offset_ms = ahead_ms;
    }
}

/// A write transaction that knows how to queue changes for the hub.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    clock: &'a mut HlcClock,
    clock_offset_ms: u64,
    station: &'a str,
    emitted: bool,
    /// Whether a change was queued for the hub (the sync worker is told after commit).
    queued: bool,
}

impl Tx<'_> {
    pub fn sql(&self) -> &Connection {
        &self.tx
    }

    pub fn station(&self) -> &str {
        self.station
    }

    /// A fresh hybrid logical timestamp for a change made now.
    pub fn tick(&mut self) -> Hlc {
        self.emitted = true;
        self.clock.tick(wall_ms() + self.clock_offset_ms)
    }

    /// Queues `record` for the hub, stamped `hlc` (from [`Tx::tick`]).
    pub fn emit(&mut self, hlc: Hlc, record: Record) -> Result<()> {
        let change = Change {
            id: Uuid::now_v7(),
            station: self.station.to_owned(),
            hlc,
            record,
            pushed_by: None,
        };
        let json =
            serde_json::to_string(&change).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (change_id, hlc, kind, entity, change) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                change.id.to_string(),
                change.hlc.to_string(),
                change.record.kind(),
                change.record.entity_key(),
                json
            ])?;
        self.queued = true;
        Ok(())
    }

    /// Appends to the audit log (and queues the entry for the hub). `detail` must never
    /// hold an ID document number.
    pub fn audit(
        &mut self,
        actor: &str,
        action: &str,
        attendee: Option<AttendeeId>,
        detail: serde_json::Value,
    ) -> Result<()> {
        let record = AuditRecord {
            id: Uuid::now_v7(),
            at: now_rfc3339(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            attendee_id: attendee.map(|a| a.0),
            detail,
        };
        self.insert_audit(&record)?;
        let hlc = self.tick();
        self.emit(hlc, Record::Audit(record))
    }

    /// Stores an audit entry (local or pulled from another station) without queueing it.
    pub fn insert_audit(&self, record: &AuditRecord) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO audit (id, at, actor, action, attendee_id, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                record.id.to_string(),
                record.at,
                record.actor,
                record.action,
                record.attendee_id.map(|a| a.to_string()),
                record.detail.to_string()
            ])?;
        Ok(())
    }

    fn commit(self) -> Result<()> {
        if self.emitted {
            let hlc = self.clock.tick(wall_ms() + self.clock_offset_ms);
            self.tx
                .prepare_cached(
                    "INSERT INTO meta (key, value) VALUES ('hlc', ?1) \
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )?
                .execute([hlc.to_string()])?;
        }
        self.tx.commit()?;
        Ok(())
    }
}

fn refuse_newer_schema(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    // Read-only, so a database from the future is not touched at all (not even WAL mode).
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > schema::CURRENT_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            known: schema::CURRENT_VERSION,
        });
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (index, sql) in schema::MIGRATIONS.iter().enumerate().skip(applied.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied schema migration");
    }
    Ok(())
}

fn station_id(conn: &Connection) -> Result<String> {
    let existing: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'station_id'", [], |r| r.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = format!("st-{}", &Uuid::now_v7().simple().to_string()[22..]);
    conn.execute("INSERT INTO meta (key, value) VALUES ('station_id', ?1)", [&id])?;
    Ok(id)
}

/// Writes a file readable by the owner only (key material, bundles, credentials),
/// replacing it atomically: a crash leaves either the old file or the new one.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    write_private_file_with(path, |file| file.write_all(bytes))
}

/// Like [`write_private_file`], for content written piece by piece: `fill` writes into the
/// temporary file, which replaces `path` only if `fill` succeeds.
pub fn write_private_file_with<T, E: From<std::io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut file = std::io::BufWriter::new(expo_sync::output::create_private(&temp)?);
    let filled = fill(&mut file).and_then(|value| {
        file.flush()?;
        file.get_ref().sync_all()?;
        Ok(value)
    });
    match filled {
        Ok(value) => {
            std::fs::rename(&temp, path)?;
            Ok(value)
        }
        Err(error) => {
            // The partial file is useless; the error that matters is `fill`'s.
            if let Err(cleanup) = std::fs::remove_file(&temp) {
                tracing::warn!(path = %temp.display(), %cleanup, "could not remove a partial file");
            }
            Err(error)
        }
    }
}

/// The newest `limit` audit entries, optionally about one attendee only.
pub fn audit_entries(
    conn: &Connection,
    attendee: Option<Uuid>,
    limit: u32,
) -> Result<Vec<AuditRecord>> {
    audit_entries_in(conn, attendee, &[], limit)
}

/// The newest `limit` audit entries that name no attendee or one of `categories` (every
/// category when empty), optionally about one attendee only.
pub fn audit_entries_in(
    conn: &Connection,
    attendee: Option<Uuid>,
    categories: &[String],
    limit: u32,
) -> Result<Vec<AuditRecord>> {
    let categories = serde_json::to_string(categories)
        .map_err(|e| StoreError::Corrupt(format!("category list: {e}")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.at, u.actor, u.action, u.attendee_id, u.detail FROM audit u \
         WHERE (?1 IS NULL OR u.attendee_id = ?1) \
           AND (?3 = '[]' OR u.attendee_id IS NULL OR EXISTS (SELECT 1 FROM attendees a \
                WHERE a.id = u.attendee_id AND a.category IN (SELECT value FROM json_each(?3)))) \
         ORDER BY u.seq DESC LIMIT ?2",
    )?;
    let rows =
        stmt.query_map(params![attendee.map(|a| a.to_string()), limit, categories], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
    let mut entries = Vec::new();
    for row in rows {
        let (id, at, actor, action, attendee_id, detail) = row?;
        let corrupt = |what: &str| StoreError::Corrupt(format!("audit entry {id}: {what}"));
        entries.push(AuditRecord {
            id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
            at,
            actor,
            action,
            attendee_id: attendee_id
                .map(|a| Uuid::parse_str(&a))
                .transpose()
                .map_err(|_| corrupt("attendee"))?,
            detail: serde_json::from_str(&detail).map_err(|_| corrupt("detail"))?,
        });
    }
    Ok(entries)
}

pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn now_rfc3339() -> String {
    format_time(Utc::now())
}

pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Fixtures for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;

    pub const EXAMPLE_EVENT: &str = include_str!("../../assets/events/example-event.toml");

    /// A database file at `path` with only the first `version` migrations applied: a
    /// station written by an older expo-kiosk.
    pub fn database_at_version(path: &std::path::Path, version: usize) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(path).expect("open database");
        for sql in &super::schema::MIGRATIONS[..version] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.pragma_update(None, "user_version", version as i64).expect("user_version");
        conn
    }

    /// A fresh station provisioned with the shipped example event.
    pub fn store_with_event() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::open(dir.path()).expect("open store");
        crate::provisioning::init(
            &mut store,
            &crate::operators::Operator::admin("test"),
            EXAMPLE_EVENT,
        )
        .expect("event init");
        (dir, store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_station_database_and_its_wal_and_shm_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let files = ["station.db", "station.db-wal", "station.db-shm"].map(|f| dir.path().join(f));
        let store = Store::open(dir.path()).unwrap();
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        drop(store);
        // A station made by an earlier version: its files were readable by everyone.
        std::fs::write(&files[1], b"").unwrap();
        for file in &files[..2] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let _store = Store::open(dir.path()).unwrap();
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn a_new_station_gets_4_kib_pages_and_an_earlier_one_keeps_its_16_kib_pages() {
        let page_size =
            |store: &Store| store.conn().query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0));
        let new = tempfile::tempdir().unwrap();
        assert_eq!(page_size(&Store::open(new.path()).unwrap()).unwrap(), 4096);

        // Stations made before this change got 16 KiB pages; the page size of a database
        // with tables in it cannot change without rewriting it, so it stays.
        let earlier = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(earlier.path().join("station.db")).unwrap();
            conn.pragma_update(None, "page_size", 16_384).unwrap();
            conn.execute_batch("CREATE TABLE made_by_an_earlier_version (x)").unwrap();
        }
        let mut store = Store::open(earlier.path()).unwrap();
        assert_eq!(page_size(&store).unwrap(), 16_384);
        crate::provisioning::init(
            &mut store,
            &crate::operators::Operator::admin("test"),
            test_support::EXAMPLE_EVENT,
        )
        .expect("the station works as before");
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let path = dir.path().join("station.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", schema::CURRENT_VERSION + 1).unwrap();
            conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
        assert!(err.to_string().contains("newer expo-kiosk"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!dir.path().join("station.db-wal").exists());
    }

    #[test]
    fn an_older_schema_is_upgraded_keeping_its_data() {
        const ID: &str = "0193a0b4-0000-7000-8000-000000000001";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("station.db");
        {
            let conn = test_support::database_at_version(&path, 1);
            conn.execute_batch(&format!(
                "INSERT INTO attendees VALUES ('{ID}', 'R1', '张三', '', '', 'exhibitor', '', '', '', \
                 NULL, NULL, NULL, NULL, 'walk_in', 0, '[]', '2026-11-24T09:20:00Z', 't', 'h'); \
                 INSERT INTO search_terms VALUES ('zs', '{ID}'), ('张三', '{ID}');"
            ))
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let version: i64 =
            store.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, schema::CURRENT_VERSION);
        let name: String = store
            .conn()
            .query_row("SELECT name FROM attendees WHERE id = ?1", [ID], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "张三");
        // Search terms now refer to the attendee's local key (migration 5).
        let found = crate::registration::search::search(store.conn(), "zs", 5, &[]).unwrap();
        assert_eq!(found.iter().map(|hit| hit.name.as_str()).collect::<Vec<_>>(), ["张三"]);
        // The running totals (migration 4) counted the attendee.
        let registered: i64 = store
            .conn()
            .query_row("SELECT sum(registered) FROM stats_registrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(registered, 1);
        let jobs: i64 =
            store.conn().query_row("SELECT count(*) FROM print_jobs", [], |r| r.get(0)).unwrap();
        assert_eq!(jobs, 0);
    }

    /// `.cargo/config.toml` builds SQLite without its process-wide locks per allocation and
    /// per page: 171 stations in one process (the rehearsal) queued on them.
    #[test]
    fn sqlite_is_built_without_process_wide_locks_per_page() {
        let conn = Connection::open_in_memory().unwrap();
        let mut options = Vec::<String>::new();
        conn.pragma_query(None, "compile_options", |r| {
            options.push(r.get(0)?);
            Ok(())
        })
        .unwrap();
        assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
        assert!(!options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
    }

    #[test]
    fn a_station_reads_through_a_memory_map() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let map: i64 = store.conn().pragma_query_value(None, "mmap_size", |r| r.get(0)).unwrap();
        assert_eq!(map, READ_MAP_BYTES);
    }

    #[test]
    fn pragmas_make_commits_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mode: String =
            store.conn().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        let sync: i64 = store.conn().pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
        let fk: i64 = store.conn().pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
    }

    #[test]
    fn a_failed_write_leaves_no_outbox_row_and_the_audit_log_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let failed: Result<()> = store.write(|tx| {
            tx.audit("cli", "test", None, serde_json::json!({}))?;
            Err(StoreError::Corrupt("simulated".into()))
        });
        assert!(failed.is_err());
        assert_eq!(store.pending_outbox_count().unwrap(), 0);
        store.write(|tx| tx.audit("cli", "login", None, serde_json::json!({}))).unwrap();
        assert_eq!(store.pending_outbox_count().unwrap(), 1);
        assert!(store.conn().execute("DELETE FROM audit", []).is_err());
        assert!(store.conn().execute("UPDATE audit SET actor = 'x'", []).is_err());
    }

    #[test]
    fn the_clock_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.write(|tx| tx.audit("cli", "a", None, serde_json::json!({}))).unwrap();
        let first: String =
            store.conn().query_row("SELECT hlc FROM outbox", [], |r| r.get(0)).unwrap();
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        store.write(|tx| tx.audit("cli", "b", None, serde_json::json!({}))).unwrap();
        let last: String =
            store.conn().query_row("SELECT max(hlc) FROM outbox", [], |r| r.get(0)).unwrap();
        assert!(last > first);
    }
}
