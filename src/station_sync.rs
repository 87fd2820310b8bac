//! The station side of sync: this station's store as an [`StationOutbox`] for the
//! `expo-sync` client, applying other stations' changes by the conflict rules in
//! ARCHITECTURE.md, the hub credential this station enrolled with, and the background
//! sync every enrolled station runs ([`start_background_sync`], [`EventWatch`]).

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use expo_sync::client::{HubClient, HubTrust};
use expo_sync::protocol::GateDecisionRecord;
use expo_sync::station::{StationOutbox, SyncWorker, WorkerOptions};
use expo_sync::{Change, Record};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use crate::provisioning::{self, ProvisioningError};
use crate::registration::{self, badge};
use crate::store::{Store, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum StationSyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Event(#[from] ProvisioningError),
    #[error("this station is not enrolled with a hub: run `expo-kiosk sync enrol --hub URL --code CODE`")]
    NotEnrolled,
    #[error("outbox row {0} is not a readable change: {1}")]
    BadOutboxRow(i64, String),
    #[error(transparent)]
    Hub(#[from] expo_sync::client::ClientError),
    #[error("cannot start the background sync: {0}")]
    SyncThread(std::io::Error),
}

pub type Result<T, E = StationSyncError> = std::result::Result<T, E>;

/// The store behind a mutex: the sync worker thread and the UI's store worker can share
/// one station database this way (SQLite serialises the writes anyway).
pub struct StoreOutbox {
    store: Mutex<Store>,
}

impl StoreOutbox {
    pub fn new(store: Store) -> Self {
        Self { store: Mutex::new(store) }
    }

    pub fn open(data_dir: &Path) -> Result<Self> {
        Ok(Self::new(Store::open(data_dir)?))
    }

    /// The store, for other work on the same connection. A panic while holding the lock
    /// cannot leave the database half-written (transactions roll back), so a poisoned
    /// lock is safe to take over.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StationOutbox for StoreOutbox {
    type Error = StationSyncError;

    fn pending(&self, limit: usize) -> Result<Vec<Change>> {
        let store = self.store();
        let mut stmt = store
            .conn()
            .prepare_cached("SELECT seq, change FROM outbox WHERE acked = 0 ORDER BY seq LIMIT ?1")
            .map_err(StoreError::from)?;
        let rows = stmt
            .query_map([limit as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(StoreError::from)?;
        let mut changes = Vec::new();
        for row in rows {
            let (seq, json) = row.map_err(StoreError::from)?;
            changes.push(
                serde_json::from_str(&json)
                    .map_err(|e| StationSyncError::BadOutboxRow(seq, e.to_string()))?,
            );
        }
        Ok(changes)
    }

    fn pending_count(&self) -> Result<u64> {
        Ok(self.store().pending_outbox_count()?)
    }

    fn mark_acked(&self, ids: &[Uuid]) -> Result<()> {
        let mut store = self.store();
        store.write(|tx| {
            let mut stmt = tx
                .sql()
                .prepare_cached("UPDATE outbox SET acked = 1 WHERE change_id = ?1")
                .map_err(StoreError::from)?;
            for id in ids {
                stmt.execute([id.to_string()]).map_err(StoreError::from)?;
            }
            Ok::<_, StationSyncError>(())
        })
    }

    fn apply_remote(&self, changes: &[Change], next_cursor: i64) -> Result<()> {
        let mut store = self.store();
        let own_station = store.station_id().to_owned();
        let mut event_changed = false;
        for change in changes {
            store.observe_remote(&change.hlc);
        }
        store.write(|tx| {
            for change in changes.iter().filter(|c| c.station != own_station) {
                event_changed |= matches!(change.record, Record::Event(_));
                apply_change(tx, change)?;
            }
            tx.sql()
                .execute(
                    "INSERT INTO sync_state (key, value) VALUES ('pull_cursor', ?1) \
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [next_cursor.to_string()],
                )
                .map_err(StoreError::from)?;
            Ok::<_, StationSyncError>(())
        })?;
        if event_changed {
            store.reload_event()?;
        }
        Ok(())
    }

    fn cursor(&self) -> Result<i64> {
        let store = self.store();
        let value: Option<String> = store
            .conn()
            .query_row("SELECT value FROM sync_state WHERE key = 'pull_cursor'", [], |r| r.get(0))
            .optional()
            .map_err(StoreError::from)?;
        value
            .map(|v| {
                v.parse().map_err(|_| StoreError::Corrupt(format!("pull cursor {v:?}")).into())
            })
            .transpose()
            .map(|c| c.unwrap_or(0))
    }
}

/// Applies one other station's change by the conflict rules. Idempotent.
fn apply_change(tx: &mut Tx<'_>, change: &Change) -> Result<()> {
    match &change.record {
        Record::Attendee(record) => {
            registration::apply_remote(tx, record, &change.hlc)?;
        }
        Record::Badge(record) => {
            badge::apply_remote(tx, record, &change.hlc)?;
        }
        Record::GateDecision(record) => apply_gate_decision(tx, record, &change.station)?,
        Record::Audit(record) => tx.insert_audit(record)?,
        Record::Event(record) => {
            // A definition this station cannot take must not stop every later change
            // (revocations among them) from arriving: it is set aside, whole.
            tx.sql().execute_batch("SAVEPOINT pulled_event").map_err(StoreError::from)?;
            match provisioning::apply_remote(tx, record) {
                Ok(_) => {}
                Err(ProvisioningError::Store(error)) => return Err(error.into()),
                Err(unusable) => {
                    tx.sql().execute_batch("ROLLBACK TO pulled_event").map_err(StoreError::from)?;
                    set_aside(tx, change, &unusable.to_string())?;
                }
            }
            tx.sql().execute_batch("RELEASE pulled_event").map_err(StoreError::from)?;
        }
        // Print jobs are for the hub and the organiser's statistics; a station keeps only
        // its own queue.
        Record::PrintJob(_) => {}
    }
    Ok(())
}

/// Keeps a pulled change this station cannot apply, with why, for a person (and a later
/// version) to look at: `expo-kiosk sync status` counts them.
fn set_aside(tx: &Tx<'_>, change: &Change, error: &str) -> Result<(), StoreError> {
    tracing::warn!(
        change = %change.id,
        kind = change.record.kind(),
        from = %change.station,
        error,
        "a pulled change could not be applied here; set aside"
    );
    let json = serde_json::to_string(change).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.sql().execute(
        "INSERT OR IGNORE INTO sync_set_aside (change_id, kind, received_at, error, change) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            change.id.to_string(),
            change.record.kind(),
            crate::store::now_rfc3339(),
            error,
            json
        ],
    )?;
    Ok(())
}

/// Pulled changes set aside: how many, and the newest one's reason.
pub fn set_aside_changes(store: &Store) -> Result<(u64, Option<String>)> {
    let count: u64 = store
        .conn()
        .query_row("SELECT count(*) FROM sync_set_aside", [], |r| r.get(0))
        .map_err(StoreError::from)?;
    let newest: Option<String> = store
        .conn()
        .query_row(
            "SELECT kind || ': ' || error FROM sync_set_aside ORDER BY received_at DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::from)?;
    Ok((count, newest))
}

/// Gate decisions are facts: inserted once by id; an annulment only ever sets the flag.
fn apply_gate_decision(
    tx: &Tx<'_>,
    record: &GateDecisionRecord,
    station: &str,
) -> Result<(), StoreError> {
    tx.sql().execute(
        "INSERT INTO gate_decisions (id, attendee_id, badge_serial, gate, lane, zone, direction, granted, reason, at, annulled, station) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT(id) DO UPDATE SET annulled = max(annulled, excluded.annulled)",
        params![
            record.id.to_string(),
            record.attendee_id.map(|a| a.to_string()),
            record.badge_serial,
            record.gate,
            record.lane,
            record.zone,
            record.direction,
            record.granted,
            record.reason,
            record.at,
            record.annulled,
            station
        ],
    )?;
    Ok(())
}

/// The hub this station enrolled with and its bearer token (`keys/hub.json`, owner-only:
/// the token is a credential, never in `Debug`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct HubCredential {
    pub hub_url: String,
    pub station: String,
    pub token: String,
    /// The certificate authority (PEM) this station trusts for an `https://` hub that
    /// `expo-hub cert` set up; `None`: the public web's authorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_authority: Option<String>,
}

impl std::fmt::Debug for HubCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubCredential")
            .field("hub_url", &self.hub_url)
            .field("station", &self.station)
            .finish_non_exhaustive()
    }
}

impl HubCredential {
    /// Which certificates a station accepts from its hub, given the authority (PEM) it
    /// was told to trust, if any.
    pub fn trust_in(hub_authority: Option<&str>) -> Result<HubTrust> {
        match hub_authority {
            Some(pem) => Ok(HubTrust::authority_pem(pem.as_bytes())?),
            None => Ok(HubTrust::default()),
        }
    }

    /// A client of the hub this station enrolled with, or of `hub_url` instead (the same
    /// hub by another address, say).
    pub fn client(&self, hub_url: Option<&str>) -> Result<HubClient> {
        let trust = Self::trust_in(self.hub_authority.as_deref())?;
        Ok(HubClient::trusting(hub_url.unwrap_or(&self.hub_url), &self.token, &trust))
    }

    fn path(data_dir: &Path) -> std::path::PathBuf {
        data_dir.join("keys").join("hub.json")
    }

    pub fn load(data_dir: &Path) -> Result<Self> {
        let path = Self::path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StationSyncError::NotEnrolled)
            }
            Err(e) => return Err(StoreError::KeyFile { path, reason: e.to_string() }.into()),
        };
        serde_json::from_str(&text)
            .map_err(|e| StoreError::KeyFile { path, reason: e.to_string() }.into())
    }

    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let path = Self::path(data_dir);
        let err = |e: String| StoreError::KeyFile { path: path.clone(), reason: e };
        let json = serde_json::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        crate::store::write_private_file(&path, json.as_bytes()).map_err(|e| err(e.to_string()))?;
        Ok(())
    }
}

/// Starts the background sync of the station in `data_dir` (its own thread and store
/// connection): `Ok(None)` when the station is not enrolled, which then works offline as
/// ever. The one place where sync starts, for the desktop app and the headless gate alike.
pub fn start_background_sync(
    data_dir: &Path,
    options: WorkerOptions,
) -> Result<Option<SyncWorker>> {
    let credential = match HubCredential::load(data_dir) {
        Ok(credential) => credential,
        Err(StationSyncError::NotEnrolled) => return Ok(None),
        Err(error) => return Err(error),
    };
    let outbox = StoreOutbox::open(data_dir)?;
    let client = credential.client(None)?;
    let worker =
        SyncWorker::spawn(client, outbox, options).map_err(StationSyncError::SyncThread)?;
    Ok(Some(worker))
}

/// Notices an event definition or public key that arrived by sync (the sync worker writes
/// them through its own connection), so a station's copy in memory does not go stale: a new
/// station's key must verify its badges here without a restart.
pub struct EventWatch {
    seen: Option<(String, i64)>,
    next_look: std::time::Instant,
}

/// How often a station looks for an event that sync changed.
const EVENT_LOOK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

impl EventWatch {
    pub fn new(store: &Store) -> Self {
        Self { seen: Self::stamp(store), next_look: std::time::Instant::now() }
    }

    /// When the definition was last installed, and how many keys there are.
    fn stamp(store: &Store) -> Option<(String, i64)> {
        store
            .conn()
            .query_row(
                "SELECT (SELECT max(updated_at) FROM event), (SELECT count(*) FROM public_keys)",
                [],
                |r| Ok((r.get::<_, Option<String>>(0)?.unwrap_or_default(), r.get(1)?)),
            )
            .map_err(|error| tracing::warn!(%error, "cannot read the event's stamp"))
            .ok()
    }

    /// True when the event changed since the last look (at most every few seconds).
    pub fn changed(&mut self, store: &Store) -> bool {
        let now = std::time::Instant::now();
        if now < self.next_look {
            return false;
        }
        self.next_look = now + EVENT_LOOK_INTERVAL;
        let stamp = Self::stamp(store);
        let changed = stamp.is_some() && stamp != self.seen;
        self.seen = stamp;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AttendeeId, NewAttendee, Source};
    use crate::store::test_support::store_with_event;

    #[test]
    fn the_hub_credential_never_prints_its_token() {
        let credential = HubCredential {
            hub_url: "http://hub:8440".into(),
            station: "desk-1".into(),
            token: "0123456789abcdef".into(),
            hub_authority: None,
        };
        let printed = format!("{credential:?}");
        assert!(printed.contains("desk-1") && !printed.contains("0123456789abcdef"), "{printed}");
    }

    /// Two desks of one event, B joined from A's bundle.
    fn two_desks() -> (tempfile::TempDir, StoreOutbox, tempfile::TempDir, StoreOutbox) {
        let (dir_a, a) = store_with_event();
        let bundle = provisioning::export(&a, true).unwrap();
        let dir_b = tempfile::tempdir().unwrap();
        let mut b = Store::open(dir_b.path()).unwrap();
        provisioning::import(&mut b, "t", &bundle, true).unwrap();
        (dir_a, StoreOutbox::new(a), dir_b, StoreOutbox::new(b))
    }

    fn exchange(from: &StoreOutbox, to: &StoreOutbox, cursor: i64) {
        let changes = from.pending(10_000).unwrap();
        to.apply_remote(&changes, cursor).unwrap();
        from.mark_acked(&changes.iter().map(|c| c.id).collect::<Vec<_>>()).unwrap();
    }

    fn person(company: &str) -> NewAttendee {
        NewAttendee {
            name: "张三".into(),
            category: "vip".into(),
            company: company.into(),
            registration_code: "R1".into(),
            ..NewAttendee::default()
        }
    }

    #[test]
    fn an_event_definition_this_station_cannot_read_is_set_aside_and_the_pull_goes_on() {
        let (_da, a, _db, b) = two_desks();
        let record = registration::register(
            &mut a.store(),
            &crate::operators::Operator::admin("t"),
            &person("甲"),
            Source::PreRegistered,
        )
        .unwrap();
        let id = AttendeeId(record.id);
        badge::ensure_badge(&mut a.store(), &crate::operators::Operator::admin("t"), id).unwrap();
        badge::revoke(&mut a.store(), &crate::operators::Operator::admin("t"), id, "lost").unwrap();
        // A newer version's definition, with a setting this version does not know.
        let mut changes = a.pending(10_000).unwrap();
        let newer = changes
            .iter_mut()
            .find_map(|c| match &mut c.record {
                Record::Event(event) => Some(event),
                _ => None,
            })
            .expect("A queued its event definition");
        newer.definition = newer.definition.replacen("[event]", "[event]\nfuture_setting = 1", 1);
        let event_before = b.store().event().unwrap().definition.clone();

        b.apply_remote(&changes, 7).unwrap();

        let store = b.store();
        assert_eq!(store.event().unwrap().definition, event_before, "the old definition stays");
        let states: Vec<String> =
            badge::badges_of(store.conn(), id).unwrap().into_iter().map(|b| b.status).collect();
        assert_eq!(states, ["revoked"], "the revocation behind it arrived");
        let (count, newest) = set_aside_changes(&store).unwrap();
        assert_eq!(count, 1);
        assert!(newest.unwrap().contains("future_setting"), "the reason names the setting");
        drop(store);
        assert_eq!(b.cursor().unwrap(), 7);
        // The same page again (a retried pull) keeps one copy.
        b.apply_remote(&changes, 7).unwrap();
        assert_eq!(set_aside_changes(&b.store()).unwrap().0, 1);
    }

    #[test]
    fn concurrent_edits_converge_on_the_later_one_and_keep_the_loser_in_the_audit_log() {
        let (_da, a, _db, b) = two_desks();
        let record = registration::register(
            &mut a.store(),
            &crate::operators::Operator::admin("t"),
            &person("初始"),
            Source::PreRegistered,
        )
        .unwrap();
        exchange(&a, &b, 1);
        let id = AttendeeId(record.id);
        assert_eq!(registration::load(b.store().conn(), id).unwrap().unwrap().company, "初始");

        // Both edit offline; B's edit is the later one.
        registration::edit(
            &mut a.store(),
            &crate::operators::Operator::admin("t"),
            id,
            &person("甲公司"),
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        registration::edit(
            &mut b.store(),
            &crate::operators::Operator::admin("t"),
            id,
            &person("乙公司"),
        )
        .unwrap();
        exchange(&a, &b, 2);
        exchange(&b, &a, 2);
        for station in [&a, &b] {
            let store = station.store();
            assert_eq!(registration::load(store.conn(), id).unwrap().unwrap().company, "乙公司");
            let losers: Vec<_> = crate::store::audit_entries(store.conn(), Some(record.id), 50)
                .unwrap()
                .into_iter()
                .filter(|e| e.action == "lww_losing_version")
                .collect();
            // Each station records what it overwrote or refused; audit entries travel too,
            // so a station may also hold the other's record of the same loser.
            assert!(!losers.is_empty(), "the losing version is kept");
            for loser in losers {
                assert_eq!(loser.detail["losing_version"]["company"], "甲公司");
                assert!(loser.detail["losing_version"]["id_sealed"].is_null());
            }
        }
        assert_eq!(a.cursor().unwrap(), 2);
    }

    #[test]
    fn replays_change_nothing_and_revocation_wins() {
        let (_da, a, _db, b) = two_desks();
        let record = registration::register(
            &mut a.store(),
            &crate::operators::Operator::admin("t"),
            &person("x"),
            Source::PreRegistered,
        )
        .unwrap();
        let id = AttendeeId(record.id);
        badge::ensure_badge(&mut a.store(), &crate::operators::Operator::admin("t"), id).unwrap();
        let changes = a.pending(1000).unwrap();
        b.apply_remote(&changes, 1).unwrap();
        let audit_count = |s: &StoreOutbox| {
            crate::store::audit_entries(s.store().conn(), None, 1000).unwrap().len()
        };
        let before = audit_count(&b);
        b.apply_remote(&changes, 1).unwrap();
        assert_eq!(audit_count(&b), before, "a replayed page adds nothing");

        // B revokes; the revocation reaches A and wins over A's active badge, although A
        // holds a different version of the same serial.
        badge::revoke(&mut b.store(), &crate::operators::Operator::admin("t"), id, "stolen")
            .unwrap();
        let revocation: Vec<Change> = b
            .pending(1000)
            .unwrap()
            .into_iter()
            .filter(|c| matches!(c.record, Record::Badge(_)))
            .collect();
        a.apply_remote(&revocation, 2).unwrap();
        let badges = badge::badges_of(a.store().conn(), id).unwrap();
        assert_eq!(badges[0].status, "revoked");
    }

    #[test]
    fn only_an_enrolled_station_starts_a_background_sync() {
        let (dir, _store) = store_with_event();
        let options = WorkerOptions::default();
        let not_enrolled = start_background_sync(dir.path(), options).unwrap();
        assert!(not_enrolled.is_none(), "a station that is not enrolled works offline");
        let credential = dir.path().join("keys").join("hub.json");
        std::fs::write(&credential, "{").unwrap();
        let unreadable = start_background_sync(dir.path(), options);
        assert!(matches!(unreadable, Err(StationSyncError::Store(StoreError::KeyFile { .. }))));
        HubCredential {
            hub_url: "http://127.0.0.1:9".into(),
            station: "s".into(),
            token: "t".into(),
            hub_authority: None,
        }
        .save(dir.path())
        .unwrap();
        let worker = start_background_sync(dir.path(), options).unwrap();
        worker.expect("an enrolled station syncs").stop();
    }
}
