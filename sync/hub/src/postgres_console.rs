//! PostgreSQL tables and queries of heartbeats and the operations console (see the
//! methods at the end of [`super::store::HubStore`]). None of them takes the write lock
//! of `changes`: heartbeats and sessions never hold up a push.

use deadpool_postgres::Object;
use tokio_postgres::Row;

use super::store::{
    AuditRow, ConsoleSessionRow, FleetRow, StoreError, HEARTBEAT_HISTORY_MS, HEARTBEAT_SAMPLE_MS,
};
use expo_sync::authority::UnknownRole;

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS station_heartbeats (
    station TEXT PRIMARY KEY,
    received_at_ms BIGINT NOT NULL,
    report_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS heartbeat_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
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
    expires_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    user_name TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_audit_by_user ON console_audit (user_name, action, at_ms);
"#;

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub async fn record_heartbeat(
    mut client: Object,
    station: &str,
    received_at_ms: i64,
    report: &str,
) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO station_heartbeats (station, received_at_ms, report_json) VALUES ($1, $2, $3)
         ON CONFLICT (station) DO UPDATE SET
             received_at_ms = excluded.received_at_ms, report_json = excluded.report_json",
        &[&station, &received_at_ms, &report],
    )
    .await?;
    tx.execute(
        "INSERT INTO heartbeat_history (station, received_at_ms, report_json)
         SELECT $1::TEXT, $2::BIGINT, $3::TEXT WHERE NOT EXISTS (SELECT 1 FROM heartbeat_history
             WHERE station = $1::TEXT AND received_at_ms > $2::BIGINT - $4::BIGINT)",
        &[&station, &received_at_ms, &report, &HEARTBEAT_SAMPLE_MS],
    )
    .await?;
    tx.execute(
        "DELETE FROM heartbeat_history WHERE station = $1 AND received_at_ms < $2",
        &[&station, &(received_at_ms - HEARTBEAT_HISTORY_MS)],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn fleet(client: Object) -> Result<Vec<FleetRow>, StoreError> {
    let rows = client
        .query(
            "SELECT s.name, s.role, s.revoked, s.credential_hash IS NOT NULL,
                    h.received_at_ms, h.report_json
             FROM stations s LEFT JOIN station_heartbeats h ON h.station = s.name
             ORDER BY s.name",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let role: Option<String> = r.try_get(1)?;
            let at: Option<i64> = r.try_get(4)?;
            let report: Option<String> = r.try_get(5)?;
            Ok(FleetRow {
                name: r.try_get(0)?,
                role: role
                    .map(|t| t.parse().map_err(|e: UnknownRole| StoreError::Corrupt(e.to_string())))
                    .transpose()?,
                revoked: r.try_get(2)?,
                enrolled: r.try_get(3)?,
                last_report: at.zip(report),
            })
        })
        .collect()
}

pub async fn heartbeat_history(
    client: Object,
    station: &str,
    n: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    let rows = client
        .query(
            "SELECT received_at_ms, report_json FROM heartbeat_history WHERE station = $1
             ORDER BY received_at_ms DESC LIMIT $2",
            &[&station, &limit(n)],
        )
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

pub async fn add_user(
    client: Object,
    name: &str,
    role: &str,
    hash: &str,
) -> Result<(), StoreError> {
    let inserted = client
        .execute(
            "INSERT INTO console_users (name, role, password_hash) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&name, &role, &hash],
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::UserExists(name.to_owned()));
    }
    Ok(())
}

pub async fn remove_user(mut client: Object, name: &str) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    if tx.execute("DELETE FROM console_users WHERE name = $1", &[&name]).await? == 0 {
        return Err(StoreError::UnknownUser(name.to_owned()));
    }
    tx.execute("DELETE FROM console_sessions WHERE user_name = $1", &[&name]).await?;
    tx.execute("DELETE FROM console_user_categories WHERE user_name = $1", &[&name]).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_categories(
    mut client: Object,
    name: &str,
    categories: &[String],
) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    if tx.query_opt("SELECT 1 FROM console_users WHERE name = $1", &[&name]).await?.is_none() {
        return Err(StoreError::UnknownUser(name.to_owned()));
    }
    tx.execute("DELETE FROM console_user_categories WHERE user_name = $1", &[&name]).await?;
    for category in categories {
        tx.execute(
            "INSERT INTO console_user_categories (user_name, category) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&name, category],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn categories(client: Object, name: &str) -> Result<Vec<String>, StoreError> {
    let rows = client
        .query(
            "SELECT category FROM console_user_categories WHERE user_name = $1 ORDER BY category",
            &[&name],
        )
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub async fn users(client: Object) -> Result<Vec<(String, String)>, StoreError> {
    let rows = client.query("SELECT name, role FROM console_users ORDER BY name", &[]).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

pub async fn password(client: Object, name: &str) -> Result<Option<(String, String)>, StoreError> {
    let row = client
        .query_opt("SELECT role, password_hash FROM console_users WHERE name = $1", &[&name])
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

pub async fn create_session(client: Object, session: &ConsoleSessionRow) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO console_sessions (token_hash, user_name, csrf, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
            &[&session.token_hash, &session.user, &session.csrf, &session.expires_at_ms],
        )
        .await?;
    Ok(())
}

fn session_row(r: &Row) -> Result<ConsoleSessionRow, StoreError> {
    Ok(ConsoleSessionRow {
        token_hash: r.try_get(0)?,
        user: r.try_get(1)?,
        role: r.try_get(2)?,
        csrf: r.try_get(3)?,
        expires_at_ms: r.try_get(4)?,
    })
}

pub async fn session(
    client: Object,
    token_hash: &str,
    now_ms: i64,
) -> Result<Option<ConsoleSessionRow>, StoreError> {
    client.execute("DELETE FROM console_sessions WHERE expires_at_ms <= $1", &[&now_ms]).await?;
    let row = client
        .query_opt(
            "SELECT s.token_hash, s.user_name, u.role, s.csrf, s.expires_at_ms
             FROM console_sessions s JOIN console_users u ON u.name = s.user_name
             WHERE s.token_hash = $1",
            &[&token_hash],
        )
        .await?;
    row.as_ref().map(session_row).transpose()
}

pub async fn end_session(client: Object, token_hash: &str) -> Result<(), StoreError> {
    client.execute("DELETE FROM console_sessions WHERE token_hash = $1", &[&token_hash]).await?;
    Ok(())
}

pub async fn audit(client: Object, entry: &AuditRow) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO console_audit (at_ms, user_name, action, detail) VALUES ($1, $2, $3, $4)",
            &[&entry.at_ms, &entry.user, &entry.action, &entry.detail],
        )
        .await?;
    Ok(())
}

pub async fn audit_count(
    client: Object,
    user: &str,
    action: &str,
    since_ms: i64,
) -> Result<u64, StoreError> {
    let n: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM console_audit
             WHERE user_name = $1 AND action = $2 AND at_ms >= $3",
            &[&user, &action, &since_ms],
        )
        .await?
        .try_get(0)?;
    u64::try_from(n).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub async fn audit_log(client: Object, n: usize) -> Result<Vec<AuditRow>, StoreError> {
    let rows = client
        .query(
            "SELECT at_ms, user_name, action, detail FROM console_audit ORDER BY id DESC LIMIT $1",
            &[&limit(n)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditRow {
                at_ms: r.try_get(0)?,
                user: r.try_get(1)?,
                action: r.try_get(2)?,
                detail: r.try_get(3)?,
            })
        })
        .collect()
}
