//! SQLite running totals of the console's "Venue now" page (`venue_now.rs`): triggers on
//! `current_state` count each record version that becomes current, and take back the
//! one it replaces, inside the push's own transaction. A page then reads a day's few
//! thousand totals by their primary key (quarter first) instead of millions of changes.

use rusqlite::{params, Connection, TransactionBehavior};

use super::store::StoreError;
use super::venue_now::{granting_reasons_sql, DeskBadgeTotal, VenueTotals};
use expo_kiosk::stats::{GateTotal, QuarterTotal};

/// The tables (each ordered by UTC quarter hour, as the station's `stats_*` tables).
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS venue_registrations (
    quarter TEXT NOT NULL,
    category TEXT NOT NULL,
    source TEXT NOT NULL,
    registered INTEGER NOT NULL,
    PRIMARY KEY (quarter, category, source)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS venue_badges (
    quarter TEXT NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    issued INTEGER NOT NULL,
    reprints INTEGER NOT NULL,
    PRIMARY KEY (quarter, station, operator)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS venue_gate (
    quarter TEXT NOT NULL,
    gate TEXT NOT NULL,
    zone TEXT NOT NULL,
    direction TEXT NOT NULL,
    reason TEXT NOT NULL,
    decisions INTEGER NOT NULL,
    passages INTEGER NOT NULL,
    PRIMARY KEY (quarter, gate, zone, direction, reason)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS venue_denials (
    quarter TEXT NOT NULL,
    reason TEXT NOT NULL,
    decisions INTEGER NOT NULL,
    passages INTEGER NOT NULL,
    PRIMARY KEY (quarter, reason)
) WITHOUT ROWID;
";

/// The UTC quarter-hour bucket of the record's time field `field`, as the station's
/// migration 4 computes it.
fn quarter(field: &str) -> String {
    format!(
        "substr(json_extract(c.change_json, '$.record.data.{field}'), 1, 14) || \
         printf('%02d', CAST(substr(json_extract(c.change_json, '$.record.data.{field}'), 15, 2) \
         AS INTEGER) / 15 * 15)"
    )
}

/// Adds `sign` × the record versions `versions` selects (rows `s` of `current_state`
/// joined to `c`, their change) to the totals of `kind`: a gate decision by gate, zone
/// and quarter when its reason grants, else by quarter and reason only (`venue_denials`,
/// what the deny-reason chart needs), so a day's gate rows are the granting ones.
fn count(kind: &str, versions: &str, sign: i32) -> String {
    let data = |field: &str| format!("json_extract(c.change_json, '$.record.data.{field}')");
    match kind {
        "attendee" => format!(
            "INSERT INTO venue_registrations (quarter, category, source, registered)
             SELECT {q}, {category}, {source}, {sign} {versions} AND s.kind = 'attendee'
             ON CONFLICT DO UPDATE SET registered = registered + excluded.registered;",
            q = quarter("created_at"),
            category = data("category"),
            source = data("source"),
        ),
        // A badge is issued once, whatever its later versions (superseded, revoked) say.
        "badge" => format!(
            "INSERT INTO venue_badges (quarter, station, operator, issued, reprints)
             SELECT {q}, c.pushed_by, {operator}, {sign}, {sign} * ({serial} > 1)
             {versions} AND s.kind = 'badge'
             ON CONFLICT DO UPDATE SET issued = issued + excluded.issued,
                 reprints = reprints + excluded.reprints;",
            q = quarter("issued_at"),
            operator = data("operator"),
            serial = data("serial"),
        ),
        _ => format!(
            "INSERT INTO venue_gate (quarter, gate, zone, direction, reason, decisions, passages)
             SELECT {q}, {gate}, {zone}, {direction}, {reason}, {sign}, {passages}
             {versions} AND s.kind = 'gate_decision' AND {reason} IN ({granting})
             ON CONFLICT DO UPDATE SET decisions = decisions + excluded.decisions,
                 passages = passages + excluded.passages;
             INSERT INTO venue_denials (quarter, reason, decisions, passages)
             SELECT {q}, {reason}, {sign}, {passages}
             {versions} AND s.kind = 'gate_decision' AND {reason} NOT IN ({granting})
             ON CONFLICT DO UPDATE SET decisions = decisions + excluded.decisions,
                 passages = passages + excluded.passages;",
            passages = format_args!("{sign} * ({} AND NOT {})", data("granted"), data("annulled")),
            granting = granting_reasons_sql(),
            q = quarter("at"),
            gate = data("gate"),
            zone = data("zone"),
            direction = data("direction"),
            reason = data("reason"),
        ),
    }
}

/// Creates the tables and triggers; on a hub that had none, counts what it holds already;
/// on one from before `venue_denials`, moves the denying reasons' gate totals into it
/// (its triggers made again).
pub fn create(connection: &mut Connection) -> Result<(), StoreError> {
    // Immediate: it reads and then writes, and a deferred transaction that another
    // process (`expo-hub event import` beside a starting hub) wrote past in between fails
    // with "database is locked" at once, without waiting out the busy timeout.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let present = |kind: &str, name: &str| {
        tx.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = ?1 AND name = ?2",
            params![kind, name],
            |r| r.get::<_, bool>(0),
        )
    };
    let existed = present("trigger", "venue_now_added")?;
    let denials_kept = present("table", "venue_denials")?;
    if existed && denials_kept {
        return Ok(());
    }
    tx.execute_batch(TABLES)?;
    if existed {
        tx.execute_batch(&format!(
            "INSERT INTO venue_denials (quarter, reason, decisions, passages)
                 SELECT quarter, reason, sum(decisions), sum(passages) FROM venue_gate
                 WHERE reason NOT IN ({granting}) GROUP BY quarter, reason;
             DELETE FROM venue_gate WHERE reason NOT IN ({granting});
             DROP TRIGGER venue_now_added; DROP TRIGGER venue_now_replaced;",
            granting = granting_reasons_sql(),
        ))?;
    }
    let new = "FROM current_state s JOIN changes c ON c.change_id = s.change_id \
               WHERE s.entity_key = NEW.entity_key";
    let old = "FROM changes c JOIN current_state s ON s.entity_key = OLD.entity_key \
               WHERE c.change_id = OLD.change_id";
    let triggers = format!(
        "CREATE TRIGGER venue_now_added AFTER INSERT ON current_state
             WHEN NEW.kind IN ('attendee', 'badge', 'gate_decision') BEGIN
             {attendee} {badge} {gate}
         END;
         CREATE TRIGGER venue_now_replaced AFTER UPDATE OF change_id ON current_state
             WHEN NEW.kind IN ('attendee', 'gate_decision') AND NEW.change_id <> OLD.change_id BEGIN
             {attendee_taken_back} {gate_taken_back} {attendee} {gate}
         END;",
        attendee = count("attendee", new, 1),
        badge = count("badge", new, 1),
        gate = count("gate_decision", new, 1),
        attendee_taken_back = count("attendee", old, -1),
        gate_taken_back = count("gate_decision", old, -1),
    );
    tx.execute_batch(&triggers)?;
    let everything = "FROM current_state s JOIN changes c ON c.change_id = s.change_id WHERE true";
    if !existed {
        for kind in ["attendee", "badge", "gate_decision"] {
            tx.execute_batch(&count(kind, everything, 1))?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn total(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The totals of the quarters in [first, end); a denying reason's gate totals summed over
/// the quarters (see [`expo_kiosk::stats::DayTotals::gate`]).
pub fn totals(c: &Connection, first: &str, end: &str) -> Result<VenueTotals, StoreError> {
    let registrations = c
        .prepare_cached(
            "SELECT quarter, category, source, registered FROM venue_registrations
             WHERE quarter >= ?1 AND quarter < ?2 AND registered > 0",
        )?
        .query_map(params![first, end], QuarterTotal::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let badges = c
        .prepare_cached(
            "SELECT quarter, station, operator, issued, reprints FROM venue_badges
             WHERE quarter >= ?1 AND quarter < ?2 AND issued > 0",
        )?
        .query_map(params![first, end], |r| {
            Ok(DeskBadgeTotal {
                quarter: r.get(0)?,
                station: r.get(1)?,
                operator: r.get(2)?,
                issued: total(r.get(3)?),
                reprints: total(r.get(4)?),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let gate = c
        .prepare_cached(
            "SELECT quarter, gate, zone, direction, reason, decisions, passages FROM venue_gate
             WHERE quarter >= ?1 AND quarter < ?2 AND decisions > 0
             UNION ALL
             SELECT '', '', '', '', reason, sum(decisions), sum(passages) FROM venue_denials
             WHERE quarter >= ?1 AND quarter < ?2 AND decisions > 0
             GROUP BY reason",
        )?
        .query_map(params![first, end], GateTotal::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(VenueTotals { registrations, badges, gate })
}
