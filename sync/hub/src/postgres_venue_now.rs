//! PostgreSQL running totals of the console's "Venue now" page (`venue_now.rs`): a
//! trigger on `current_state` counts each record version that becomes current, and takes
//! back the one it replaces, inside the push's own transaction (pushes hold the write
//! lock, so two never update one total at once). A page then reads a day's few thousand
//! totals by their primary key (quarter first) instead of millions of changes.

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::store::StoreError;
use super::venue_now::{granting_reasons_sql, DeskBadgeTotal, VenueTotals};
use expo_kiosk::stats::{GateTotal, QuarterTotal};

/// Run with the rest of the schema, under the migration lock.
pub fn schema() -> String {
    format!(
        "CREATE OR REPLACE FUNCTION venue_grants(reason TEXT) RETURNS BOOLEAN
         LANGUAGE sql IMMUTABLE AS $$ SELECT reason IN ({granting}) $$;
         {SCHEMA}",
        granting = granting_reasons_sql()
    )
}

/// A time that is not RFC 3339 (a station's bug) lands in bucket '' rather than failing
/// the push. A denying reason's decisions are counted per quarter and reason only, in
/// `venue_denials` (what the deny-reason chart needs; see
/// [`expo_kiosk::stats::DayTotals::gate`]), so a day's gate rows are the granting ones.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS venue_registrations (
    quarter TEXT COLLATE "C" NOT NULL,
    category TEXT NOT NULL,
    source TEXT NOT NULL,
    registered BIGINT NOT NULL,
    PRIMARY KEY (quarter, category, source)
);
CREATE TABLE IF NOT EXISTS venue_badges (
    quarter TEXT COLLATE "C" NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    issued BIGINT NOT NULL,
    reprints BIGINT NOT NULL,
    PRIMARY KEY (quarter, station, operator)
);
CREATE TABLE IF NOT EXISTS venue_gate (
    quarter TEXT COLLATE "C" NOT NULL,
    gate TEXT NOT NULL,
    zone TEXT NOT NULL,
    direction TEXT NOT NULL,
    reason TEXT NOT NULL,
    decisions BIGINT NOT NULL,
    passages BIGINT NOT NULL,
    PRIMARY KEY (quarter, gate, zone, direction, reason)
);
-- Made once; the denying reasons' gate totals of a hub from before move into it.
DO $$ BEGIN
    IF to_regclass('venue_denials') IS NULL THEN
        CREATE TABLE venue_denials (
            quarter TEXT COLLATE "C" NOT NULL,
            reason TEXT NOT NULL,
            decisions BIGINT NOT NULL,
            passages BIGINT NOT NULL,
            PRIMARY KEY (quarter, reason)
        );
        INSERT INTO venue_denials
            SELECT quarter, reason, sum(decisions), sum(passages) FROM venue_gate
            WHERE NOT venue_grants(reason) GROUP BY quarter, reason;
        DELETE FROM venue_gate WHERE NOT venue_grants(reason);
    END IF;
END $$;
CREATE OR REPLACE FUNCTION venue_quarter(at TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}'
        THEN substr(at, 1, 14) || lpad((substr(at, 15, 2)::int / 15 * 15)::text, 2, '0')
        ELSE '' END
$$;
-- Adds sign × one version (a change id) of a record of entity_kind to the totals; a
-- badge counts once, when it is first stored (first), whatever its later versions say.
CREATE OR REPLACE FUNCTION venue_count(entity_kind TEXT, version UUID, sign INT, first BOOLEAN)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d JSONB;
    desk TEXT;
BEGIN
    SELECT c.change_json::jsonb -> 'record' -> 'data', c.pushed_by INTO d, desk
        FROM changes c WHERE c.change_id = version;
    IF d IS NULL THEN
        RETURN;
    END IF;
    IF entity_kind = 'attendee' THEN
        INSERT INTO venue_registrations AS t
            VALUES (venue_quarter(d ->> 'created_at'), d ->> 'category', d ->> 'source', sign)
            ON CONFLICT (quarter, category, source)
            DO UPDATE SET registered = t.registered + EXCLUDED.registered;
    ELSIF entity_kind = 'badge' AND first THEN
        INSERT INTO venue_badges AS t
            VALUES (venue_quarter(d ->> 'issued_at'), desk, d ->> 'operator', sign,
                    CASE WHEN (d ->> 'serial')::bigint > 1 THEN sign ELSE 0 END)
            ON CONFLICT (quarter, station, operator)
            DO UPDATE SET issued = t.issued + EXCLUDED.issued,
                          reprints = t.reprints + EXCLUDED.reprints;
    ELSIF entity_kind = 'gate_decision' AND NOT venue_grants(d ->> 'reason') THEN
        INSERT INTO venue_denials AS t
            VALUES (venue_quarter(d ->> 'at'), d ->> 'reason', sign,
                    CASE WHEN (d ->> 'granted')::boolean AND NOT (d ->> 'annulled')::boolean
                         THEN sign ELSE 0 END)
            ON CONFLICT (quarter, reason)
            DO UPDATE SET decisions = t.decisions + EXCLUDED.decisions,
                          passages = t.passages + EXCLUDED.passages;
    ELSIF entity_kind = 'gate_decision' THEN
        INSERT INTO venue_gate AS t
            VALUES (venue_quarter(d ->> 'at'), d ->> 'gate', d ->> 'zone', d ->> 'direction',
                    d ->> 'reason', sign,
                    CASE WHEN (d ->> 'granted')::boolean AND NOT (d ->> 'annulled')::boolean
                         THEN sign ELSE 0 END)
            ON CONFLICT (quarter, gate, zone, direction, reason)
            DO UPDATE SET decisions = t.decisions + EXCLUDED.decisions,
                          passages = t.passages + EXCLUDED.passages;
    END IF;
END $$;
CREATE OR REPLACE FUNCTION venue_now_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.change_id = NEW.change_id THEN
            RETURN NULL;
        END IF;
        PERFORM venue_count(OLD.kind, OLD.change_id, -1, false);
    END IF;
    PERFORM venue_count(NEW.kind, NEW.change_id, 1, TG_OP = 'INSERT');
    RETURN NULL;
END $$;
-- Made once; a hub that held changes before counts them then.
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_trigger
                   WHERE tgname = 'venue_now_counts' AND tgrelid = 'current_state'::regclass) THEN
        CREATE TRIGGER venue_now_counts AFTER INSERT OR UPDATE OF change_id ON current_state
            FOR EACH ROW WHEN (NEW.kind IN ('attendee', 'badge', 'gate_decision'))
            EXECUTE FUNCTION venue_now_counts();
        PERFORM venue_count(kind, change_id, 1, true) FROM current_state
            WHERE kind IN ('attendee', 'badge', 'gate_decision');
    END IF;
END $$;
"#;

fn total(row: &Row, index: usize) -> u64 {
    u64::try_from(row.get::<_, i64>(index)).unwrap_or(0)
}

/// The totals of the quarters in [first, end), read in one snapshot so every chart shows
/// the same moment; a denying reason's gate totals summed over the quarters (see
/// [`expo_kiosk::stats::DayTotals::gate`]).
pub async fn totals(mut c: Object, first: &str, end: &str) -> Result<VenueTotals, StoreError> {
    let tx = c
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let range: [&(dyn ToSql + Sync); 2] = [&first, &end];
    // One round trip: the connection pipelines the three queries.
    let (registrations, badges, gate) = tokio::try_join!(
        tx.query(
            "SELECT quarter, category, source, registered FROM venue_registrations
             WHERE quarter >= $1 AND quarter < $2 AND registered > 0",
            &range,
        ),
        tx.query(
            "SELECT quarter, station, operator, issued, reprints FROM venue_badges
             WHERE quarter >= $1 AND quarter < $2 AND issued > 0",
            &range,
        ),
        tx.query(
            "SELECT quarter, gate, zone, direction, reason, decisions, passages FROM venue_gate
             WHERE quarter >= $1 AND quarter < $2 AND decisions > 0
             UNION ALL
             SELECT '', '', '', '', reason, sum(decisions)::bigint, sum(passages)::bigint
             FROM venue_denials
             WHERE quarter >= $1 AND quarter < $2 AND decisions > 0
             GROUP BY reason",
            &range,
        ),
    )?;
    tx.commit().await?;
    let registrations = registrations
        .iter()
        .map(|r| QuarterTotal {
            quarter: r.get(0),
            category: r.get(1),
            source: r.get(2),
            count: total(r, 3),
        })
        .collect();
    let badges = badges
        .iter()
        .map(|r| DeskBadgeTotal {
            quarter: r.get(0),
            station: r.get(1),
            operator: r.get(2),
            issued: total(r, 3),
            reprints: total(r, 4),
        })
        .collect();
    let gate = gate
        .iter()
        .map(|r| GateTotal {
            quarter: r.get(0),
            gate: r.get(1),
            zone: r.get(2),
            direction: r.get(3),
            reason: r.get(4),
            decisions: total(r, 5),
            passages: total(r, 6),
        })
        .collect();
    Ok(VenueTotals { registrations, badges, gate })
}
