//! PostgreSQL back-end (`--db postgres://...`): production, any number of hub processes.
//!
//! # Why pulls never skip a change committed late
//! The pull cursor is `changes.seq`, an identity column. A plain sequence is not enough
//! with concurrent writers: transaction A draws seq 10, transaction B draws 11 and
//! commits first, a reader serves 11 and moves its cursor past 10 before A commits, and
//! change 10 is never pulled by that station. We rule this out by making every writing
//! transaction take one transaction-scoped advisory lock ([`WRITE_LOCK`]) before it
//! draws sequence numbers and hold it until commit. Writers therefore commit in
//! sequence order, every snapshot sees a prefix of the sequence, and a pull that reads
//! its rows and `max(seq)` in one snapshot may safely jump its cursor to that maximum.
//! The same lock makes duplicate detection see every committed attendee (no two
//! concurrent batches can each miss the other's twin) and keeps last-writer-wins
//! upserts free of deadlocks.
//!
//! The cost is that pushes are serialised at the database (one batch at a time, each a
//! few set-based statements sent in one round trip, then the commit), while pulls, auth
//! and JSON work stay fully parallel across hub processes. The alternative, tracking
//! `pg_current_xact_id()` per row and serving only below the oldest running transaction,
//! would need a two-part cursor and leaves a long-running transaction able to stall
//! every pull.

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls};
use uuid::Uuid;

use super::api_keys::{ApiKeyRow, API_KEYS_SCHEMA};
use super::conflicts::{ConflictKind, NewConflict, Resolution, StoredConflict};
use super::postgres_attendee_search;
use super::postgres_console;
use super::postgres_venue_now;
use super::registrations::DataCentreEvent;
use super::store::{
    attendee_id_of_key, attendee_key, attendee_of_change, attendee_version, duplicate_pairs,
    hashed_attendees as hashed_of_winners, kind_key_range, merge_event, record_of_change,
    AttendeeSearch, AuditRow, ConsoleSessionRow, FleetRow, HashedAttendee, HubStats, HubStore,
    PreparedBatch, PullPage, SnapshotPage, StationAuth, StationIdentity, StoreError,
};
use super::venue_now::VenueTotals;
use expo_sync::authority::{StationRole, UnknownRole};
use expo_sync::endorsement::Authority;
use expo_sync::hlc::Hlc;
use expo_sync::protocol::{AttendeeRecord, EventRecord, PullResponse, PushResponse, Record};
use expo_sync::validate::MAX_CHANGE_BYTES;

/// Advisory lock serialising writers of `changes`, `current_state`, conflicts and events.
const WRITE_LOCK: i64 = 0x6578_706f_0001;
/// Advisory lock serialising schema creation when several hubs start at once.
const MIGRATION_LOCK: i64 = 0x6578_706f_0002;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS stations (
    name TEXT PRIMARY KEY,
    credential_hash TEXT UNIQUE,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
-- Bound at enrolment; earlier hubs' stations have neither until `station set-role` and
-- their first push.
ALTER TABLE stations ADD COLUMN IF NOT EXISTS role TEXT;
ALTER TABLE stations ADD COLUMN IF NOT EXISTS station_id TEXT;
ALTER TABLE stations ADD COLUMN IF NOT EXISTS changes_stored BIGINT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS enrolment_codes (
    code_hash TEXT PRIMARY KEY,
    station TEXT NOT NULL REFERENCES stations (name)
);
CREATE TABLE IF NOT EXISTS changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    change_id UUID NOT NULL UNIQUE,
    pushed_by TEXT NOT NULL,
    origin TEXT NOT NULL,
    hlc TEXT NOT NULL,
    kind TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    change_json TEXT NOT NULL
);
-- "C" collation: HLC text order must be byte order to equal timestamp order, and the
-- keys of one kind must be one range of the primary key (see kind_key_range).
-- change_id is the winning version, whose record is read from `changes`.
CREATE TABLE IF NOT EXISTS current_state (
    entity_key TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL,
    precedence INTEGER NOT NULL,
    hlc TEXT COLLATE "C" NOT NULL,
    change_id UUID NOT NULL,
    origin TEXT NOT NULL,
    id_hash TEXT
);
CREATE INDEX IF NOT EXISTS current_state_by_id_hash ON current_state (id_hash)
    WHERE id_hash IS NOT NULL;
-- Earlier hubs also kept a copy of each record and an index by kind here: a third of the
-- bytes every push wrote. Checked first so a hub start locks nothing once migrated.
DROP INDEX IF EXISTS current_state_by_kind;
DO $$ BEGIN
    IF EXISTS (SELECT FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'current_state' AND column_name = 'record_json') THEN
        ALTER TABLE current_state DROP COLUMN record_json;
    END IF;
END $$;
-- Duplicates and identity conflicts (earlier hubs: duplicate_conflicts, moved here). A
-- pair is recorded once per kind; status is open, merged or dismissed, and resolution
-- the JSON of how (crate::conflicts::Resolution).
CREATE TABLE IF NOT EXISTS conflicts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    id_hash TEXT,
    attendee_a UUID NOT NULL,
    station_a TEXT NOT NULL,
    attendee_b UUID NOT NULL,
    station_b TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT 'null',
    found_at TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    resolution TEXT,
    UNIQUE (kind, attendee_a, attendee_b)
);
DO $$ BEGIN
    IF EXISTS (SELECT FROM information_schema.tables WHERE table_schema = current_schema()
               AND table_name = 'duplicate_conflicts') THEN
        INSERT INTO conflicts (kind, id_hash, attendee_a, station_a, attendee_b, station_b)
            SELECT 'duplicate', id_hash, attendee_a, station_a, attendee_b, station_b
            FROM duplicate_conflicts ORDER BY id ON CONFLICT DO NOTHING;
        DROP TABLE duplicate_conflicts;
    END IF;
END $$;
-- The organiser authority's secret key (one row, made with the database).
CREATE TABLE IF NOT EXISTS hub_authority (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    record_json TEXT NOT NULL,
    version BIGINT NOT NULL
);
"#;

/// The event registrations are checked against, and its data key (`registrations.rs`).
const DATA_CENTRE_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS data_centre_event (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    event_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    data_key TEXT NOT NULL
);
"#;

/// The winning change's `seq` in `current_state` (earlier hubs kept only its
/// `change_id`), so a snapshot joins each record on the primary key of `changes` instead
/// of the `change_id` index. Added and filled in one statement, so a column that exists
/// is filled; checked first so a hub start locks nothing once migrated.
const WINNING_SEQ_SCHEMA: &str = r#"
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'current_state' AND column_name = 'seq') THEN
        ALTER TABLE current_state ADD COLUMN seq BIGINT;
        UPDATE current_state s SET seq = c.seq FROM changes c WHERE c.change_id = s.change_id;
        ALTER TABLE current_state ALTER COLUMN seq SET NOT NULL;
    END IF;
END $$;
"#;

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects (pool of `pool_size`) and creates the schema if it is missing.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        let store = Self { pool };
        let mut client = store.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute(SCHEMA).await?;
        tx.batch_execute(postgres_console::SCHEMA).await?;
        tx.batch_execute(API_KEYS_SCHEMA).await?;
        tx.batch_execute(DATA_CENTRE_SCHEMA).await?;
        tx.batch_execute(&postgres_venue_now::schema()).await?;
        tx.batch_execute(WINNING_SEQ_SCHEMA).await?;
        let search_parts_rewritten = postgres_attendee_search::create(&tx).await?;
        tx.execute(
            "INSERT INTO hub_authority (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            &[&Authority::generate().secret_hex()],
        )
        .await?;
        tx.commit().await?;
        if search_parts_rewritten {
            postgres_attendee_search::vacuum_parts(&client).await?;
        }
        Ok(store)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Pool(e.to_string()))
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse_role(text: Option<String>) -> Result<Option<StationRole>, StoreError> {
    text.map(|t| t.parse().map_err(|e: UnknownRole| StoreError::Corrupt(e.to_string()))).transpose()
}

fn count(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Rows of (entity key, origin, ID hash) of attendees in the current state.
fn hashed_attendees(rows: &[tokio_postgres::Row]) -> Result<Vec<HashedAttendee>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok(HashedAttendee {
                attendee: attendee_id_of_key(row.try_get(0)?)?,
                origin: row.try_get(1)?,
                id_hash: row.try_get(2)?,
            })
        })
        .collect()
}

/// Inserts the conflicts not recorded before; returns how many were new.
async fn insert_conflicts(
    tx: &deadpool_postgres::Transaction<'_>,
    conflicts: &[NewConflict],
) -> Result<usize, StoreError> {
    let now = expo_kiosk::store::now_rfc3339();
    let mut new = 0;
    for conflict in conflicts {
        new += tx
            .execute(
                "INSERT INTO conflicts
                     (kind, id_hash, attendee_a, station_a, attendee_b, station_b, detail, found_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (kind, attendee_a, attendee_b) DO NOTHING",
                &[
                    &conflict.kind.as_str(),
                    &conflict.id_hash,
                    &conflict.attendee_a,
                    &conflict.station_a,
                    &conflict.attendee_b,
                    &conflict.station_b,
                    &conflict.detail.to_string(),
                    &now,
                ],
            )
            .await?;
    }
    usize::try_from(new).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const CONFLICT_COLUMNS: &str = "id, kind, id_hash, attendee_a, station_a, attendee_b, station_b, \
     detail, found_at, resolution";

fn conflict_of_row(row: &tokio_postgres::Row) -> Result<StoredConflict, StoreError> {
    let resolution: Option<&str> = row.try_get(9)?;
    Ok(StoredConflict {
        id: row.try_get(0)?,
        found: NewConflict {
            kind: ConflictKind::parse(row.try_get(1)?)?,
            id_hash: row.try_get(2)?,
            attendee_a: row.try_get(3)?,
            station_a: row.try_get(4)?,
            attendee_b: row.try_get(5)?,
            station_b: row.try_get(6)?,
            detail: parse_json(row.try_get(7)?)?,
        },
        found_at: row.try_get(8)?,
        resolution: resolution.map(parse_json::<Resolution>).transpose()?,
    })
}

impl HubStore for PostgresStore {
    async fn add_station(
        &self,
        name: &str,
        role: StationRole,
        code_hash: &str,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO stations (name, role) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &role.as_str()],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::StationExists(name.to_owned()));
        }
        tx.execute(
            "INSERT INTO enrolment_codes (code_hash, station) VALUES ($1, $2)",
            &[&code_hash, &name],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn redeem_enrolment(
        &self,
        code_hash: &str,
        token_hash: &str,
        station_id: Option<String>,
    ) -> Result<(String, Option<StationRole>), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "DELETE FROM enrolment_codes WHERE code_hash = $1 RETURNING station",
                &[&code_hash],
            )
            .await?
            .ok_or(StoreError::InvalidEnrolmentCode)?;
        let station: String = row.try_get(0)?;
        let role: Option<String> = tx
            .query_opt(
                "UPDATE stations SET credential_hash = $1, station_id = $3
                 WHERE name = $2 AND NOT revoked RETURNING role",
                &[&token_hash, &station, &station_id],
            )
            .await?
            .ok_or(StoreError::InvalidEnrolmentCode)?
            .try_get(0)?;
        let role = parse_role(role)?;
        tx.commit().await?;
        Ok((station, role))
    }

    async fn set_station_role(&self, name: &str, role: StationRole) -> Result<(), StoreError> {
        let client = self.client().await?;
        let updated = client
            .execute("UPDATE stations SET role = $2 WHERE name = $1", &[&name, &role.as_str()])
            .await?;
        if updated == 0 {
            return Err(StoreError::UnknownStation(name.to_owned()));
        }
        Ok(())
    }

    async fn bind_station_id(&self, name: &str, station_id: &str) -> Result<String, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "UPDATE stations SET station_id = COALESCE(station_id, $2) WHERE name = $1
                 RETURNING station_id",
                &[&name, &station_id],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn revoke_station(&self, name: &str) -> Result<Option<String>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "UPDATE stations SET revoked = TRUE WHERE name = $1 RETURNING station_id",
                &[&name],
            )
            .await?
            .ok_or_else(|| StoreError::UnknownStation(name.to_owned()))?;
        tx.execute("DELETE FROM enrolment_codes WHERE station = $1", &[&name]).await?;
        tx.commit().await?;
        Ok(row.try_get(0)?)
    }

    async fn authority(&self) -> Result<Authority, StoreError> {
        let row = self.client().await?.query_one("SELECT secret FROM hub_authority", &[]).await?;
        Ok(Authority::from_secret_hex(row.try_get(0)?)?)
    }

    async fn authenticate(&self, token_hash: &str) -> Result<StationAuth, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT name, revoked, role, station_id, changes_stored FROM stations
                 WHERE credential_hash = $1",
            )
            .await?;
        Ok(match client.query_opt(&statement, &[&token_hash]).await? {
            Some(row) if row.try_get::<_, bool>(1)? => StationAuth::Revoked(row.try_get(0)?),
            Some(row) => StationAuth::Active(StationIdentity {
                name: row.try_get(0)?,
                role: parse_role(row.try_get(2)?)?,
                station_id: row.try_get(3)?,
                changes_stored: count(row.try_get(4)?)?,
            }),
            None => StationAuth::Unknown,
        })
    }

    async fn push(
        &self,
        station: &str,
        mut batch: PreparedBatch,
    ) -> Result<PushResponse, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Prepared once per pooled connection, and all before the pipelines below.
        let lock = tx.prepare_cached("SELECT pg_advisory_xact_lock($1)").await?;
        let known = tx
            .prepare_cached("SELECT change_id, change_json FROM changes WHERE change_id = ANY($1)")
            .await?;
        // WITH ORDINALITY + ORDER BY: sequence numbers follow the station's push order.
        let insert_changes = tx
            .prepare_cached(
                "INSERT INTO changes (change_id, pushed_by, origin, hlc, kind, entity_key, change_json)
                 SELECT id, $2, origin, hlc, kind, entity_key, body
                 FROM unnest($1::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                     WITH ORDINALITY AS u (id, origin, hlc, kind, entity_key, body, position)
                 ORDER BY position
                 ON CONFLICT (change_id) DO NOTHING",
            )
            .await?;
        let upsert_state = tx
            .prepare_cached(
                "INSERT INTO current_state
                     (entity_key, kind, precedence, hlc, change_id, origin, id_hash, seq)
                 SELECT u.*, c.seq
                 FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::uuid[],
                             $6::text[], $7::text[])
                     AS u (entity_key, kind, precedence, hlc, change_id, origin, id_hash)
                 JOIN changes c ON c.change_id = u.change_id
                 ON CONFLICT (entity_key) DO UPDATE SET
                     precedence = EXCLUDED.precedence, hlc = EXCLUDED.hlc,
                     change_id = EXCLUDED.change_id, origin = EXCLUDED.origin,
                     id_hash = EXCLUDED.id_hash, seq = EXCLUDED.seq
                 WHERE (EXCLUDED.precedence, EXCLUDED.hlc)
                     > (current_state.precedence, current_state.hlc)",
            )
            .await?;
        let count_stored = tx
            .prepare_cached(
                "UPDATE stations SET changes_stored = changes_stored + $2::bigint
                 WHERE name = $1",
            )
            .await?;
        // Only attendees carry an ID hash: the partial index answers this alone.
        let same_hash = tx
            .prepare_cached(
                "SELECT entity_key, origin, id_hash FROM current_state WHERE id_hash = ANY($1)",
            )
            .await?;

        // First round trip: take the lock, then read which of the batch's ids the hub
        // already holds (replays, or other changes under a reused id, refused here).
        let pushed_ids = batch.ids();
        let known_params: [&(dyn ToSql + Sync); 1] = [&pushed_ids];
        let (_, known) = tokio::try_join!(
            biased;
            tx.execute(&lock, &[&WRITE_LOCK]),
            tx.query(&known, &known_params),
        )?;
        let known = known
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<Vec<(Uuid, String)>, tokio_postgres::Error>>()?;
        let reused = batch.refuse_reused_ids(&known);

        let ids = batch.ids();
        let c = &batch.changes;
        let origins: Vec<&str> = c.iter().map(|c| c.origin.as_str()).collect();
        let hlcs: Vec<&str> = c.iter().map(|c| c.hlc.as_str()).collect();
        let kinds: Vec<&str> = c.iter().map(|c| c.kind).collect();
        let keys: Vec<&str> = c.iter().map(|c| c.entity_key.as_str()).collect();
        let bodies: Vec<&str> = c.iter().map(|c| c.change_json.as_str()).collect();
        let w = batch.winners();
        let state_keys: Vec<&str> = w.iter().map(|r| r.entity_key.as_str()).collect();
        let state_kinds: Vec<&str> = w.iter().map(|r| r.kind).collect();
        let precedences: Vec<i32> = w.iter().map(|r| r.precedence).collect();
        let state_hlcs: Vec<&str> = w.iter().map(|r| r.hlc.as_str()).collect();
        let change_ids: Vec<Uuid> = w.iter().map(|r| r.change_id).collect();
        let state_origins: Vec<&str> = w.iter().map(|r| r.origin.as_str()).collect();
        let id_hashes: Vec<Option<&str>> = w.iter().map(|r| r.id_hash()).collect();
        let incoming = hashed_of_winners(&w);
        let incoming_hashes: Vec<&str> = incoming.iter().map(|a| a.id_hash.as_str()).collect();

        // Second round trip for the rest of the batch: tokio-postgres sends a statement
        // when its future is first polled, and `biased` polls them in the order written,
        // so the server stores the changes and the current state, and then reads the ID
        // hashes as they stand after this batch. Should one fail, the rest fail with it
        // (the transaction is aborted) and nothing is committed.
        let change_params: [&(dyn ToSql + Sync); 7] =
            [&ids, &station, &origins, &hlcs, &kinds, &keys, &bodies];
        let state_params: [&(dyn ToSql + Sync); 7] = [
            &state_keys,
            &state_kinds,
            &precedences,
            &state_hlcs,
            &change_ids,
            &state_origins,
            &id_hashes,
        ];
        let hash_params: [&(dyn ToSql + Sync); 1] = [&incoming_hashes];
        // Under the lock, what this batch adds is what the hub did not hold yet.
        let replays = known.len().saturating_sub(reused.len());
        let stored = i64::try_from(ids.len().saturating_sub(replays))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let count_params: [&(dyn ToSql + Sync); 2] = [&station, &stored];
        let (new, _, same_hash, _) = tokio::try_join!(
            biased;
            tx.execute(&insert_changes, &change_params),
            tx.execute(&upsert_state, &state_params),
            tx.query(&same_hash, &hash_params),
            tx.execute(&count_stored, &count_params),
        )?;
        let known = hashed_attendees(&same_hash)?;
        insert_conflicts(&tx, &duplicate_pairs(&incoming, &known)).await?;
        if let Some(claim) = batch.resolution() {
            let claimed = tx
                .execute(
                    "UPDATE conflicts SET status = $2, resolution = $3
                     WHERE id = $1 AND status = 'open'",
                    &[&claim.id, &claim.status.as_str(), &claim.resolution_json],
                )
                .await?;
            if claimed == 0 {
                // Dropping the transaction rolls the batch back.
                return Err(StoreError::ConflictResolved(claim.id));
            }
        }
        tx.commit().await?;
        let new = usize::try_from(new).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(batch.response(new))
    }

    async fn pull(
        &self,
        station: &str,
        since: i64,
        mut page: PullPage,
    ) -> Result<PullResponse, StoreError> {
        let mut client = self.client().await?;
        let (tx, high_water) = snapshot_with_high_water(&mut client).await?;
        let fetch = i64::try_from(page.rows_to_read()).unwrap_or(i64::MAX);
        // The kinds the role receives, or NULL for every kind.
        let kinds = page.kinds();
        let statement = tx
            .prepare_cached(
                "SELECT seq, change_json FROM changes WHERE seq > $1 AND pushed_by <> $2
                 AND ($4::text[] IS NULL OR kind = ANY($4::text[]))
                 ORDER BY seq LIMIT $3",
            )
            .await?;
        // Read through a portal in chunks sized to what the page can still take (the
        // first as if every change were as large as allowed, the next by the size seen so
        // far), so a page of large changes never holds much more than a page in memory.
        let portal = tx.bind(&statement, &[&since, &station, &fetch, &kinds]).await?;
        'read: loop {
            let (rows_left, bytes_left) = page.room();
            let chunk = (bytes_left / page.average_change_bytes().unwrap_or(MAX_CHANGE_BYTES))
                .clamp(1, rows_left.saturating_add(1));
            let rows = tx.query_portal(&portal, i32::try_from(chunk).unwrap_or(i32::MAX)).await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                if !page.offer(row.try_get(0)?, row.try_get(1)?)? {
                    break 'read;
                }
            }
        }
        tx.commit().await?;
        Ok(page.finish(since, high_water))
    }

    async fn put_event(&self, event: EventRecord) -> Result<EventRecord, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).await?;
        let stored = tx
            .query_opt("SELECT record_json FROM events WHERE event_id = $1", &[&event.event_id])
            .await?
            .map(|row| row.try_get::<_, String>(0))
            .transpose()?;
        let stored = stored.as_deref().map(parse_json).transpose()?;
        let merged = merge_event(stored, event);
        let json =
            serde_json::to_string(&merged).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT INTO events (event_id, record_json, version)
             VALUES ($1, $2, (SELECT COALESCE(MAX(version), 0) + 1 FROM events))
             ON CONFLICT (event_id) DO UPDATE SET
                 record_json = EXCLUDED.record_json, version = EXCLUDED.version",
            &[&merged.event_id, &json],
        )
        .await?;
        tx.commit().await?;
        Ok(merged)
    }

    async fn get_event(&self) -> Result<Option<EventRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT record_json FROM events ORDER BY version DESC LIMIT 1", &[])
            .await?;
        match row {
            Some(row) => Ok(Some(parse_json(row.try_get(0)?)?)),
            None => Ok(None),
        }
    }

    async fn conflicts(&self) -> Result<Vec<StoredConflict>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE status = 'open' ORDER BY id"
                ),
                &[],
            )
            .await?;
        rows.iter().map(conflict_of_row).collect()
    }

    async fn stats(&self) -> Result<HubStats, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT COUNT(*) FROM changes),
                        (SELECT COUNT(*) FROM stations WHERE NOT revoked),
                        (SELECT COUNT(*) FROM conflicts WHERE status = 'open')",
                &[],
            )
            .await?;
        Ok(HubStats {
            changes: count(row.try_get(0)?)?,
            active_stations: count(row.try_get(1)?)?,
            conflicts: count(row.try_get(2)?)?,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client().await?.execute("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn current_page(
        &self,
        kind: &'static str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Record)>, StoreError> {
        let client = self.client().await?;
        let (lower, upper) = kind_key_range(kind, after);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT s.entity_key, c.change_json
                 FROM current_state s JOIN changes c ON c.change_id = s.change_id
                 WHERE s.entity_key > $1 AND s.entity_key < $2 ORDER BY s.entity_key LIMIT $3",
                &[&lower, &upper, &limit],
            )
            .await?;
        rows.iter().map(|row| Ok((row.try_get(0)?, record_of_change(row.try_get(1)?)?))).collect()
    }

    async fn record_heartbeat(
        &self,
        station: &str,
        received_at_ms: i64,
        report: String,
    ) -> Result<(), StoreError> {
        postgres_console::record_heartbeat(self.client().await?, station, received_at_ms, &report)
            .await
    }

    async fn fleet(&self) -> Result<Vec<FleetRow>, StoreError> {
        postgres_console::fleet(self.client().await?).await
    }

    async fn heartbeat_history(
        &self,
        station: &str,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        postgres_console::heartbeat_history(self.client().await?, station, limit).await
    }

    async fn add_console_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        postgres_console::add_user(self.client().await?, name, role, password_hash).await
    }

    async fn remove_console_user(&self, name: &str) -> Result<(), StoreError> {
        postgres_console::remove_user(self.client().await?, name).await
    }

    async fn console_users(&self) -> Result<Vec<(String, String)>, StoreError> {
        postgres_console::users(self.client().await?).await
    }

    async fn console_password(&self, name: &str) -> Result<Option<(String, String)>, StoreError> {
        postgres_console::password(self.client().await?, name).await
    }

    async fn create_console_session(&self, session: ConsoleSessionRow) -> Result<(), StoreError> {
        postgres_console::create_session(self.client().await?, &session).await
    }

    async fn console_session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<ConsoleSessionRow>, StoreError> {
        postgres_console::session(self.client().await?, token_hash, now_ms).await
    }

    async fn end_console_session(&self, token_hash: &str) -> Result<(), StoreError> {
        postgres_console::end_session(self.client().await?, token_hash).await
    }

    async fn console_audit(&self, entry: AuditRow) -> Result<(), StoreError> {
        postgres_console::audit(self.client().await?, &entry).await
    }

    async fn console_audit_count(
        &self,
        user: &str,
        action: &str,
        since_ms: i64,
    ) -> Result<u64, StoreError> {
        postgres_console::audit_count(self.client().await?, user, action, since_ms).await
    }

    async fn console_audit_log(&self, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        postgres_console::audit_log(self.client().await?, limit).await
    }

    async fn conflict(&self, id: i64) -> Result<Option<StoredConflict>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = $1"), &[&id])
            .await?;
        row.as_ref().map(conflict_of_row).transpose()
    }

    async fn record_conflicts(&self, conflicts: Vec<NewConflict>) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let new = insert_conflicts(&tx, &conflicts).await?;
        tx.commit().await?;
        Ok(new)
    }

    // API keys.

    async fn add_api_key(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        let inserted = self
            .client()
            .await?
            .execute(
                "INSERT INTO api_keys (name, key_hash, scopes, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
                &[&key.name, &key.key_hash, &key.scopes, &key.created_at],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::ApiKeyExists(key.name.clone()));
        }
        Ok(())
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY name"), &[])
            .await?;
        rows.iter().map(api_key_row).collect()
    }

    async fn revoke_api_key(&self, name: &str, at: &str) -> Result<(), StoreError> {
        let updated = self
            .client()
            .await?
            .execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE name = $1",
                &[&name, &at],
            )
            .await?;
        if updated == 0 {
            return Err(StoreError::UnknownApiKey(name.to_owned()));
        }
        Ok(())
    }

    async fn use_api_key(&self, key_hash: &str, at: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "UPDATE api_keys SET last_used_at = CASE WHEN revoked_at IS NULL THEN $2
                                                       ELSE last_used_at END
                 WHERE key_hash = $1 RETURNING {API_KEY_COLUMNS}"
            ))
            .await?;
        client.query_opt(&statement, &[&key_hash, &at]).await?.as_ref().map(api_key_row).transpose()
    }

    // The feed.

    async fn changes_of_kinds(
        &self,
        kinds: &'static [&'static str],
        after: i64,
        limit: usize,
    ) -> Result<(Vec<(i64, String)>, i64), StoreError> {
        let mut client = self.client().await?;
        let (tx, high_water) = snapshot_with_high_water(&mut client).await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = tx
            .prepare_cached(
                "SELECT seq, change_json FROM changes WHERE seq > $1 AND kind = ANY($2)
                 ORDER BY seq LIMIT $3",
            )
            .await?;
        let rows = tx
            .query(&statement, &[&after, &kinds, &limit])
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await?;
        Ok((rows, high_water))
    }

    async fn current_records(&self, keys: &[String]) -> Result<Vec<(String, Record)>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT s.entity_key, c.change_json
                 FROM current_state s JOIN changes c ON c.change_id = s.change_id
                 WHERE s.entity_key = ANY($1)",
                &[&keys],
            )
            .await?;
        rows.iter().map(|row| Ok((row.try_get(0)?, record_of_change(row.try_get(1)?)?))).collect()
    }

    // Badge revocation.

    async fn attendees_by_registration_code(
        &self,
        registration_code: &str,
    ) -> Result<Vec<AttendeeRecord>, StoreError> {
        let (lower, upper) = kind_key_range("attendee", "");
        let rows = self
            .client()
            .await?
            .query(
                "SELECT c.change_json
                 FROM current_state s JOIN changes c ON c.change_id = s.change_id
                 WHERE s.entity_key > $1 AND s.entity_key < $2
                   AND c.change_json::jsonb #>> '{record,data,registration_code}' = $3
                 LIMIT 2",
                &[&lower, &upper, &registration_code],
            )
            .await?;
        rows.iter().map(|row| attendee_of_change(row.try_get(0)?)).collect()
    }

    async fn put_data_centre_event(&self, event: DataCentreEvent) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO data_centre_event (id, event_id, definition, data_key)
                 VALUES (1, $1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET event_id = EXCLUDED.event_id,
                     definition = EXCLUDED.definition, data_key = EXCLUDED.data_key",
                &[&event.event_id, &event.definition, &event.data_key],
            )
            .await?;
        Ok(())
    }

    async fn data_centre_event(&self) -> Result<Option<DataCentreEvent>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT event_id, definition, data_key FROM data_centre_event", &[])
            .await?;
        row.map(|row| {
            Ok(DataCentreEvent {
                event_id: row.try_get(0)?,
                definition: row.try_get(1)?,
                data_key: row.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn current_attendees(
        &self,
        ids: Vec<Uuid>,
        id_hashes: Vec<String>,
    ) -> Result<Vec<(Hlc, AttendeeRecord)>, StoreError> {
        let keys: Vec<String> = ids.into_iter().map(attendee_key).collect();
        let rows = self
            .client()
            .await?
            .query(
                "SELECT s.hlc, c.change_json
                 FROM current_state s JOIN changes c ON c.change_id = s.change_id
                 WHERE s.entity_key = ANY($1) OR s.id_hash = ANY($2)",
                &[&keys, &id_hashes],
            )
            .await?;
        rows.iter().map(|row| attendee_version(row.try_get(0)?, row.try_get(1)?)).collect()
    }

    async fn snapshot_page(&self, after: &str, limit: usize) -> Result<SnapshotPage, StoreError> {
        let mut client = self.client().await?;
        let (tx, high_water) = snapshot_with_high_water(&mut client).await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = tx
            .prepare_cached(
                "SELECT s.entity_key, c.change_json
                 FROM current_state s JOIN changes c ON c.seq = s.seq
                 WHERE s.entity_key > $1 ORDER BY s.entity_key LIMIT $2",
            )
            .await?;
        let rows = tx.query(&statement, &[&after, &limit]).await?;
        tx.commit().await?;
        let rows = rows
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, StoreError>>()?;
        Ok(SnapshotPage { high_water, rows })
    }

    async fn search_attendees(
        &self,
        search: &AttendeeSearch,
        limit: usize,
    ) -> Result<Vec<AttendeeRecord>, StoreError> {
        postgres_attendee_search::search(self.client().await?, search, limit).await
    }

    async fn set_console_user_categories(
        &self,
        name: &str,
        categories: Vec<String>,
    ) -> Result<(), StoreError> {
        postgres_console::set_categories(self.client().await?, name, &categories).await
    }

    async fn console_user_categories(&self, name: &str) -> Result<Vec<String>, StoreError> {
        postgres_console::categories(self.client().await?, name).await
    }

    async fn venue_totals(&self, first: &str, end: &str) -> Result<VenueTotals, StoreError> {
        postgres_venue_now::totals(self.client().await?, first, end).await
    }
}

/// A read-only repeatable-read transaction and the highest sequence in its snapshot: rows
/// read in it and that mark come from one snapshot, and (see the module's note) no change
/// commits below the mark later, so a cursor may jump to it.
async fn snapshot_with_high_water(
    client: &mut Object,
) -> Result<(deadpool_postgres::Transaction<'_>, i64), StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let high_water: i64 =
        tx.query_one("SELECT COALESCE(MAX(seq), 0) FROM changes", &[]).await?.try_get(0)?;
    Ok((tx, high_water))
}

const API_KEY_COLUMNS: &str = "name, key_hash, scopes, created_at, last_used_at, revoked_at";

fn api_key_row(row: &tokio_postgres::Row) -> Result<ApiKeyRow, StoreError> {
    Ok(ApiKeyRow {
        name: row.try_get(0)?,
        key_hash: row.try_get(1)?,
        scopes: row.try_get(2)?,
        created_at: row.try_get(3)?,
        last_used_at: row.try_get(4)?,
        revoked_at: row.try_get(5)?,
    })
}
