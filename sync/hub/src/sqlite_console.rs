//! SQLite tables and queries of heartbeats and the operations console (see the methods
//! at the end of [`super::store::HubStore`]).

use rusqlite::{params, Connection, OptionalExtension};

use super::store::{
    AuditRow, ConsoleSessionRow, FleetRow, StoreError, HEARTBEAT_HISTORY_MS, HEARTBEAT_SAMPLE_MS,
};
use expo_sync::authority::UnknownRole;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS station_heartbeats (
    station TEXT PRIMARY KEY,
    received_at_ms INTEGER NOT NULL,
    report_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS heartbeat_history (
    id INTEGER PRIMARY KEY,
    station TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    report_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS heartbeat_history_by_station
    ON heartbeat_history (station, received_at_ms);
CREATE TABLE IF NOT EXISTS console_users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
-- A user's category data permission: the attendee categories they may see (none: all).
CREATE TABLE IF NOT EXISTS console_user_categories (
    user_name TEXT NOT NULL,
    category TEXT NOT NULL,
    PRIMARY KEY (user_name, category)
);
CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS console_audit (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    user_name TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_audit_by_user ON console_audit (user_name, action, at_ms);
-- The audit log is append-only.
CREATE TRIGGER IF NOT EXISTS console_audit_no_update BEFORE UPDATE ON console_audit
    BEGIN SELECT RAISE(ABORT, 'the console audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS console_audit_no_delete BEFORE DELETE ON console_audit
    BEGIN SELECT RAISE(ABORT, 'the console audit log is append-only'); END;
";

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn record_heartbeat(
    c: &mut Connection,
    station: &str,
    received_at_ms: i64,
    report: &str,
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    tx.prepare_cached(
        "INSERT INTO station_heartbeats (station, received_at_ms, report_json) VALUES (?1, ?2, ?3)
         ON CONFLICT (station) DO UPDATE SET
             received_at_ms = excluded.received_at_ms, report_json = excluded.report_json",
    )?
    .execute(params![station, received_at_ms, report])?;
    tx.prepare_cached(
        "INSERT INTO heartbeat_history (station, received_at_ms, report_json)
         SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM heartbeat_history
             WHERE station = ?1 AND received_at_ms > ?2 - ?4)",
    )?
    .execute(params![station, received_at_ms, report, HEARTBEAT_SAMPLE_MS])?;
    tx.prepare_cached("DELETE FROM heartbeat_history WHERE station = ?1 AND received_at_ms < ?2")?
        .execute(params![station, received_at_ms - HEARTBEAT_HISTORY_MS])?;
    tx.commit()?;
    Ok(())
}

pub fn fleet(c: &mut Connection) -> Result<Vec<FleetRow>, StoreError> {
    let mut query = c.prepare_cached(
        "SELECT s.name, s.role, s.revoked, s.credential_hash IS NOT NULL,
                h.received_at_ms, h.report_json
         FROM stations s LEFT JOIN station_heartbeats h ON h.station = s.name
         ORDER BY s.name",
    )?;
    let rows = query.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (name, role, revoked, enrolled, at, report) = row?;
        Ok(FleetRow {
            name,
            role: role
                .map(|t| t.parse().map_err(|e: UnknownRole| StoreError::Corrupt(e.to_string())))
                .transpose()?,
            revoked,
            enrolled,
            last_report: at.zip(report),
        })
    })
    .collect()
}

pub fn heartbeat_history(
    c: &mut Connection,
    station: &str,
    n: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut query = c.prepare_cached(
        "SELECT received_at_ms, report_json FROM heartbeat_history WHERE station = ?1
         ORDER BY received_at_ms DESC LIMIT ?2",
    )?;
    let rows = query.query_map(params![station, limit(n)], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn add_user(c: &mut Connection, name: &str, role: &str, hash: &str) -> Result<(), StoreError> {
    let inserted = c.execute(
        "INSERT INTO console_users (name, role, password_hash) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        params![name, role, hash],
    )?;
    if inserted == 0 {
        return Err(StoreError::UserExists(name.to_owned()));
    }
    Ok(())
}

pub fn remove_user(c: &mut Connection, name: &str) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    if tx.execute("DELETE FROM console_users WHERE name = ?1", [name])? == 0 {
        return Err(StoreError::UnknownUser(name.to_owned()));
    }
    tx.execute("DELETE FROM console_sessions WHERE user_name = ?1", [name])?;
    tx.execute("DELETE FROM console_user_categories WHERE user_name = ?1", [name])?;
    tx.commit()?;
    Ok(())
}

pub fn set_categories(
    c: &mut Connection,
    name: &str,
    categories: &[String],
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    if tx
        .query_row("SELECT 1 FROM console_users WHERE name = ?1", [name], |_| Ok(()))
        .optional()?
        .is_none()
    {
        return Err(StoreError::UnknownUser(name.to_owned()));
    }
    tx.execute("DELETE FROM console_user_categories WHERE user_name = ?1", [name])?;
    for category in categories {
        tx.execute(
            "INSERT INTO console_user_categories (user_name, category) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
            [name, category],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub fn categories(c: &mut Connection, name: &str) -> Result<Vec<String>, StoreError> {
    let mut query = c.prepare_cached(
        "SELECT category FROM console_user_categories WHERE user_name = ?1 ORDER BY category",
    )?;
    let rows = query.query_map([name], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn users(c: &mut Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut query = c.prepare_cached("SELECT name, role FROM console_users ORDER BY name")?;
    let rows = query.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn password(c: &mut Connection, name: &str) -> Result<Option<(String, String)>, StoreError> {
    Ok(c.query_row("SELECT role, password_hash FROM console_users WHERE name = ?1", [name], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .optional()?)
}

pub fn create_session(c: &mut Connection, session: &ConsoleSessionRow) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO console_sessions (token_hash, user_name, csrf, expires_at_ms)
         VALUES (?1, ?2, ?3, ?4)",
        params![session.token_hash, session.user, session.csrf, session.expires_at_ms],
    )?;
    Ok(())
}

pub fn session(
    c: &mut Connection,
    token_hash: &str,
    now_ms: i64,
) -> Result<Option<ConsoleSessionRow>, StoreError> {
    c.execute("DELETE FROM console_sessions WHERE expires_at_ms <= ?1", [now_ms])?;
    Ok(c.query_row(
        "SELECT s.token_hash, s.user_name, u.role, s.csrf, s.expires_at_ms
         FROM console_sessions s JOIN console_users u ON u.name = s.user_name
         WHERE s.token_hash = ?1",
        [token_hash],
        |r| {
            Ok(ConsoleSessionRow {
                token_hash: r.get(0)?,
                user: r.get(1)?,
                role: r.get(2)?,
                csrf: r.get(3)?,
                expires_at_ms: r.get(4)?,
            })
        },
    )
    .optional()?)
}

pub fn end_session(c: &mut Connection, token_hash: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM console_sessions WHERE token_hash = ?1", [token_hash])?;
    Ok(())
}

pub fn audit(c: &mut Connection, entry: &AuditRow) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO console_audit (at_ms, user_name, action, detail) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![entry.at_ms, entry.user, entry.action, entry.detail])?;
    Ok(())
}

pub fn audit_count(
    c: &mut Connection,
    user: &str,
    action: &str,
    since_ms: i64,
) -> Result<u64, StoreError> {
    count(c.query_row(
        "SELECT COUNT(*) FROM console_audit WHERE user_name = ?1 AND action = ?2 AND at_ms >= ?3",
        params![user, action, since_ms],
        |r| r.get(0),
    )?)
}

pub fn audit_log(c: &mut Connection, n: usize) -> Result<Vec<AuditRow>, StoreError> {
    let mut query = c.prepare_cached(
        "SELECT at_ms, user_name, action, detail FROM console_audit ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = query.query_map([limit(n)], |r| {
        Ok(AuditRow { at_ms: r.get(0)?, user: r.get(1)?, action: r.get(2)?, detail: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
