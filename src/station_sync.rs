//! The station side of sync: this station's store as an [`StationOutbox`] for the
//! `expo-sync` client, applying other stations' changes by the conflict rules in
//! ARCHITECTURE.md, the hub credential this station enrolled with, and the background
//! sync every enrolled station runs ([`start_background_sync`], [`EventWatch`]).

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use expo_sync::client::{HubClient, HubTrust};
use expo_sync::heartbeat::StationMode;
use expo_sync::protocol::{GateDecisionRecord, RefusedChange, SigningKeyRecord};
use expo_sync::station::{StationOutbox, SyncWorker, WorkerOptions};
use expo_sync::{Change, Record};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use crate::heartbeat::{DeviceBoard, StoreFigures};
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
    /// Runs between two slices of a pulled page (see `apply_remote`).
    #[cfg(test)]
    between_slices: Box<dyn Fn() + Send + Sync>,
}

/// The most pulled changes applied in one transaction (a default pull page). Each commit
/// writes every page the slice touched to the WAL, so a pull catching up goes faster in
/// large slices; the station's own writers do not wait for them, since a slice ends as
/// soon as one of this process's writers waits (see [`slice_is_full`]).
const APPLY_SLICE_CHANGES: usize = 1000;
/// The longest one transaction of pulled changes runs before it commits: how long a
/// writer this process does not see (a CLI command beside the app) may wait behind it.
const APPLY_SLICE_TIME: Duration = Duration::from_millis(250);

impl StoreOutbox {
    pub fn new(store: Store) -> Self {
        Self {
            store: Mutex::new(store),
            #[cfg(test)]
            between_slices: Box::new(|| {}),
        }
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

    /// Applies the page in slices of at most [`APPLY_SLICE_CHANGES`] changes or
    /// [`APPLY_SLICE_TIME`], each its own transaction, letting this process's other
    /// writers of the station go first before each: a check-in never waits for more than
    /// a slice, however far behind the pull is. The cursor moves with the last slice only,
    /// so it never runs ahead of what was applied; a page cut between slices is pulled
    /// again, and applying a change twice changes nothing.
    fn apply_remote(&self, changes: &[Change], next_cursor: i64) -> Result<()> {
        self.apply_ahead(changes)?;
        let mut rest = changes;
        loop {
            let mut store = self.store();
            for change in rest.iter().take(APPLY_SLICE_CHANGES) {
                store.observe_remote(&change.hlc);
            }
            let own_station = store.station_id().to_owned();
            let slice = |tx: &mut Tx<'_>, writer_waits: &dyn Fn() -> bool, one_by_one| {
                apply_slice(tx, rest, &own_station, next_cursor, writer_waits, one_by_one)
            };
            let (applied, event_changed) =
                match store.write_pulled(|tx, writer_waits| slice(tx, writer_waits, false)) {
                    Err(SliceError::Unusable) => {
                        store.write_pulled(|tx, writer_waits| slice(tx, writer_waits, true))
                    }
                    other => other,
                }
                .map_err(SliceError::into_error)?;
            if event_changed {
                store.reload_event()?;
            }
            drop(store);
            rest = &rest[applied..];
            if rest.is_empty() {
                return Ok(());
            }
            #[cfg(test)]
            (self.between_slices)();
        }
    }

    /// Applies the badge revocations among `changes`, in one transaction, ahead of the
    /// changes before them: those of a pulled page before the page, and those the sync
    /// worker reads past its page when it is far behind. A gate catching up (back from a
    /// network cut, say) then refuses a badge it knew, revoked meanwhile, at once, not
    /// after the thousands of changes ahead of the revocation (`badge::apply_revocation_ahead`
    /// says which revocations go ahead: those of a serial this station holds). The pull
    /// applied in order afterwards ends where it would have, each revocation applied again
    /// in its place changing nothing. A revocation that is not admissible, or that this
    /// station cannot apply, is left to its place in the pull, which sets it aside.
    fn apply_ahead(&self, changes: &[Change]) -> Result<()> {
        // Most pages hold none: they cost no lock and no transaction.
        let mut revocations: Vec<(&Change, &expo_sync::protocol::BadgeRecord)> = changes
            .iter()
            .filter_map(|change| match &change.record {
                Record::Badge(badge) if badge.is_revocation() => Some((change, badge)),
                _ => None,
            })
            .collect();
        if revocations.is_empty() {
            return Ok(());
        }
        let mut store = self.store();
        let own_station = store.station_id().to_owned();
        revocations
            .retain(|(change, _)| change.station != own_station && admissible(change).is_ok());
        for (change, _) in &revocations {
            store.observe_remote(&change.hlc);
        }
        store.write_pulled(|tx, _| {
            for (change, revoked) in &revocations {
                // One that cannot be applied here is set aside at its place in the pull.
                let _applied_or_left = in_savepoint(tx, |tx| {
                    badge::apply_revocation_ahead(tx, revoked, &change.hlc)
                        .map_err(|e| Unusable::Unapplicable(e.to_string()))
                })?;
            }
            Ok(())
        })
    }

    fn unendorsed_key(&self) -> Result<Option<String>> {
        Ok(provisioning::unendorsed_key(&self.store())?)
    }

    fn keep_endorsement(&self, endorsed: &SigningKeyRecord) -> Result<()> {
        Ok(provisioning::keep_endorsement(&mut self.store(), endorsed)?)
    }

    fn mark_refused(&self, refused: &[RefusedChange]) -> Result<()> {
        let mut store = self.store();
        store.write(|tx| {
            for change in refused {
                let json: Option<String> = tx
                    .sql()
                    .query_row(
                        "SELECT change FROM outbox WHERE change_id = ?1",
                        [change.id.to_string()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(StoreError::from)?;
                let Some(json) = json else { continue };
                let own: Change = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("outbox change: {e}")))?;
                set_aside(
                    tx,
                    &own,
                    &format!("the hub refused it ({}): {}", change.code, change.reason),
                )?;
            }
            Ok::<_, StationSyncError>(())
        })?;
        drop(store);
        self.mark_acked(&refused.iter().map(|r| r.id).collect::<Vec<_>>())
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

/// Keeps the pull cursor, in the transaction that applied what came before it.
pub(crate) fn store_cursor(tx: &Tx<'_>, cursor: i64) -> Result<(), StoreError> {
    tx.sql()
        .prepare_cached(
            "INSERT INTO sync_state (key, value) VALUES ('pull_cursor', ?1) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )?
        .execute([cursor.to_string()])?;
    Ok(())
}

/// How far ahead of this station's own clock a pulled change may be stamped before it is
/// set aside. Far looser than the hub's bound ([`expo_sync::validate::MAX_CLOCK_AHEAD_MS`],
/// which keeps such changes out in the first place), because this station's clock may be
/// the wrong one: it only keeps an absurd timestamp from winning every later edit here.
const MAX_PULLED_CLOCK_AHEAD_MS: u64 = 24 * 60 * 60 * 1000;

/// Why a pulled change is not applied here.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unusable {
    #[error(transparent)]
    Invalid(#[from] expo_sync::validate::Invalid),
    #[error("pushed by a {role} station: {forbidden}")]
    Forbidden { role: expo_sync::StationRole, forbidden: expo_sync::authority::Forbidden },
    #[error("{0}")]
    Unapplicable(String),
}

/// Why a slice of a pulled page was not applied.
enum SliceError {
    /// A change could not be applied, and what it had written may be in the transaction:
    /// the slice is applied again, one change at a time.
    Unusable,
    Failed(StationSyncError),
}

impl SliceError {
    fn into_error(self) -> StationSyncError {
        match self {
            // Applied one by one, an unusable change is set aside: never reached.
            SliceError::Unusable => {
                StoreError::Corrupt("a pulled change was not set aside".into()).into()
            }
            SliceError::Failed(error) => error,
        }
    }
}

impl From<StationSyncError> for SliceError {
    fn from(error: StationSyncError) -> Self {
        SliceError::Failed(error)
    }
}

impl From<StoreError> for SliceError {
    fn from(error: StoreError) -> Self {
        SliceError::Failed(error.into())
    }
}

/// Whether a slice of pulled changes that has applied `applied` changes in `elapsed` ends
/// here, before its next change: at [`APPLY_SLICE_CHANGES`], at [`APPLY_SLICE_TIME`], or
/// when one of the station's own writers waits. A slice applies at least one change, so a
/// writer that never stops waiting cannot stop the pull.
fn slice_is_full(applied: usize, elapsed: Duration, writer_waits: impl FnOnce() -> bool) -> bool {
    applied > 0 && (applied >= APPLY_SLICE_CHANGES || elapsed >= APPLY_SLICE_TIME || writer_waits())
}

/// Applies the first changes of `page` (a slice, see [`slice_is_full`]), and the cursor
/// when that is the whole rest of the page.
/// Returns how many it took and whether the event definition changed.
///
/// Each change goes straight into the transaction, unless `one_by_one`: a savepoint per
/// change made SQLite copy pages the change touched into the savepoint's journal first
/// (16 KiB each; 7 % of a desk's apply in the `station_apply` bench). Should a change
/// fail, the caller rolls the transaction back and applies the slice again `one_by_one`,
/// so that one change alone is set aside.
fn apply_slice(
    tx: &mut Tx<'_>,
    page: &[Change],
    own_station: &str,
    next_cursor: i64,
    writer_waits: &dyn Fn() -> bool,
    one_by_one: bool,
) -> Result<(usize, bool), SliceError> {
    let started = Instant::now();
    let (mut applied, mut event_changed) = (0, false);
    for change in page {
        if slice_is_full(applied, started.elapsed(), writer_waits) {
            break;
        }
        applied += 1;
        if change.station == own_station {
            continue;
        }
        if let Err(unusable) = admissible(change) {
            set_aside(tx, change, &unusable.to_string())?;
        } else if one_by_one {
            event_changed |= apply_admissible(tx, change)?;
        } else {
            event_changed |= apply_change(tx, change).map_err(|_| SliceError::Unusable)?;
        }
    }
    if applied == page.len() {
        store_cursor(tx, next_cursor)?;
    }
    Ok((applied, event_changed))
}

/// Applies one other station's change that [`admissible`] took, or, when this station
/// cannot store it, sets it aside, logs it and goes on: no single change may stop the
/// pull (revocations queue behind it). Returns whether the event definition changed.
pub(crate) fn apply_admissible(tx: &mut Tx<'_>, change: &Change) -> Result<bool> {
    match in_savepoint(tx, |tx| apply_change(tx, change))? {
        Ok(event_changed) => Ok(event_changed),
        Err(unusable) => {
            set_aside(tx, change, &unusable.to_string())?;
            Ok(false)
        }
    }
}

/// Runs `apply`, the application of one pulled change, in a savepoint, rolled back should
/// the change not apply, so the transaction holds all of it or nothing. Returns what
/// `apply` returned.
fn in_savepoint<T>(
    tx: &mut Tx<'_>,
    apply: impl FnOnce(&mut Tx<'_>) -> Result<T, Unusable>,
) -> Result<Result<T, Unusable>> {
    // Prepared once per connection: a pull or a snapshot runs these for every change.
    let run = |tx: &Tx<'_>, sql: &str| -> Result<(), StoreError> {
        tx.sql().prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    run(tx, "SAVEPOINT pulled_change")?;
    let outcome = apply(tx);
    if outcome.is_err() {
        run(tx, "ROLLBACK TO pulled_change")?;
    }
    run(tx, "RELEASE pulled_change")?;
    Ok(outcome)
}

/// The rules every station applies to what it pulls: the domain rules, the clock bound
/// and the authority of the role the hub says pushed it. A change without that stamp was
/// stored by the hub before it knew roles, and is taken as before.
pub(crate) fn admissible(change: &Change) -> Result<(), Unusable> {
    expo_sync::validate::check_content(change)?;
    expo_sync::validate::check_clock_within(
        &change.hlc,
        expo_sync::hlc::wall_clock_ms(),
        MAX_PULLED_CLOCK_AHEAD_MS,
    )?;
    if let Some(role) = change.pushed_by {
        expo_sync::authority::may_make(role, change)
            .map_err(|forbidden| Unusable::Forbidden { role, forbidden })?;
    }
    Ok(())
}

/// Applies one other station's change by the conflict rules. Idempotent. Returns
/// whether the event definition changed.
fn apply_change(tx: &mut Tx<'_>, change: &Change) -> Result<bool, Unusable> {
    let unapplicable = |e: &dyn std::fmt::Display| Unusable::Unapplicable(e.to_string());
    match &change.record {
        Record::Attendee(record) => {
            registration::apply_remote(tx, record, &change.hlc).map_err(|e| unapplicable(&e))?;
        }
        Record::Badge(record) => {
            badge::apply_remote(tx, record, &change.hlc).map_err(|e| unapplicable(&e))?;
        }
        Record::GateDecision(record) => {
            apply_gate_decision(tx, record, &change.station).map_err(|e| unapplicable(&e))?;
        }
        Record::Audit(record) => tx.insert_audit(record).map_err(|e| unapplicable(&e))?,
        Record::Event(record) => {
            return provisioning::apply_remote(tx, record, &change.hlc)
                .map_err(|e| unapplicable(&e));
        }
        Record::SigningKey(record) => {
            return provisioning::apply_signing_key(tx, record).map_err(|e| unapplicable(&e));
        }
        // Print jobs are for the hub and the organiser's statistics; a station keeps only
        // its own queue.
        Record::PrintJob(_) => {}
    }
    Ok(false)
}

/// Keeps a pulled change this station cannot apply, with why, for a person (and a later
/// version) to look at: `expo-kiosk sync status` counts them.
pub(crate) fn set_aside(tx: &Tx<'_>, change: &Change, error: &str) -> Result<(), StoreError> {
    tracing::warn!(
        change = %change.id,
        kind = change.record.kind(),
        from = %change.station,
        error,
        "a change could not be applied here, or the hub refused it; set aside"
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
    tx.sql().prepare_cached(
        "INSERT INTO gate_decisions (id, attendee_id, badge_serial, gate, lane, zone, direction, granted, reason, at, annulled, station) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT(id) DO UPDATE SET annulled = max(annulled, excluded.annulled)",
    )?.execute(params![
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
        ])?;
    Ok(())
}

/// The hub this station enrolled with and its bearer token (`keys/hub.json`, owner-only:
/// the token is a credential, never in `Debug`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct HubCredential {
    pub hub_url: String,
    pub station: String,
    pub token: String,
    /// The role the hub bound to this credential; `None` for a credential from a hub
    /// that had no roles yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<expo_sync::StationRole>,
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

/// Trades a one-time enrolment code for this station's hub credential: pins the organiser
/// authority the hub answered and saves the credential (`keys/hub.json`). `hub_authority`
/// is the PEM of `expo-hub cert`'s authority for an `https://` hub that made its own.
pub fn enrol(
    store: &mut Store,
    hub_url: &str,
    code: &str,
    hub_authority: Option<String>,
) -> Result<HubCredential> {
    let trust = HubCredential::trust_in(hub_authority.as_deref())?;
    let answer = expo_sync::client::enrol(hub_url, code.trim(), store.station_id(), &trust)?;
    if let Some(authority) = &answer.authority {
        provisioning::pin_authority(store, authority)?;
    }
    let credential = HubCredential {
        hub_url: hub_url.to_owned(),
        station: answer.station,
        token: answer.token,
        role: answer.role,
        hub_authority,
    };
    credential.save(store.data_dir())?;
    Ok(credential)
}

/// Starts the background sync of the station in `data_dir` (its own thread and store
/// connection): `Ok(None)` when the station is not enrolled, which then works offline as
/// ever. The one place where sync starts, for the desktop app and the headless gate alike.
///
/// The worker reports a heartbeat as `mode`, with the print queue and gate lanes of this
/// station and the `devices` its drivers show.
pub fn start_background_sync(
    data_dir: &Path,
    options: WorkerOptions,
    mode: StationMode,
    devices: DeviceBoard,
) -> Result<Option<SyncWorker>> {
    let credential = match HubCredential::load(data_dir) {
        Ok(credential) => credential,
        Err(StationSyncError::NotEnrolled) => return Ok(None),
        Err(error) => return Err(error),
    };
    let outbox = StoreOutbox::open(data_dir)?;
    let client = credential.client(None)?;
    let figures = StoreFigures::open(data_dir, mode, devices)?;
    let worker = SyncWorker::spawn_reporting(client, outbox, options, Some(Box::new(figures)))
        .map_err(StationSyncError::SyncThread)?;
    crate::store::sync_bell::hang(data_dir, worker.nudger());
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
    use expo_sync::endorsement::Authority;
    use expo_sync::protocol::PublicKeyRecord;
    use expo_sync::StationRole;

    use std::sync::Arc;

    use super::*;
    use crate::domain::{AttendeeId, NewAttendee, Source};
    use crate::store::test_support::store_with_event;

    #[test]
    fn the_hub_credential_never_prints_its_token() {
        let credential = HubCredential {
            hub_url: "http://hub:8440".into(),
            station: "desk-1".into(),
            token: "0123456789abcdef".into(),
            role: None,
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
        provisioning::import(&mut b, &crate::operators::Operator::admin("t"), &bundle, true)
            .unwrap();
        (dir_a, StoreOutbox::new(a), dir_b, StoreOutbox::new(b))
    }

    fn exchange(from: &StoreOutbox, to: &StoreOutbox, cursor: i64) {
        let changes = from.pending(10_000).unwrap();
        to.apply_remote(&changes, cursor).unwrap();
        from.mark_acked(&changes.iter().map(|c| c.id).collect::<Vec<_>>()).unwrap();
    }

    /// Pre-registers `person(company)` at `station`, as its admin.
    fn pre_register(station: &StoreOutbox, company: &str) -> expo_sync::protocol::AttendeeRecord {
        let admin = crate::operators::Operator::admin("t");
        registration::register(
            &mut station.store(),
            &admin,
            &person(company),
            Source::PreRegistered,
        )
        .unwrap()
    }

    /// Registers walk-ins 访客0, 访客1 and so on at `station`, as its admin.
    fn register_walk_ins(station: &StoreOutbox, count: usize) {
        let admin = crate::operators::Operator::admin("t");
        for n in 0..count {
            let visitor = NewAttendee {
                name: format!("访客{n}"),
                category: "vip".into(),
                ..NewAttendee::default()
            };
            registration::register(&mut station.store(), &admin, &visitor, Source::WalkIn).unwrap();
        }
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
    fn a_slice_ends_at_its_size_its_time_or_a_waiting_writer_but_never_empty() {
        let moment = Duration::from_millis(1);
        assert!(!slice_is_full(0, APPLY_SLICE_TIME * 2, || true), "at least one change");
        assert!(!slice_is_full(1, moment, || false));
        assert!(!slice_is_full(APPLY_SLICE_CHANGES - 1, moment, || false));
        assert!(slice_is_full(1, moment, || true), "a writer waits");
        assert!(slice_is_full(APPLY_SLICE_CHANGES, moment, || false));
        assert!(slice_is_full(5, APPLY_SLICE_TIME, || false));
    }

    /// Issue 17: a pull that is catching up applies its page in slices, and the station's
    /// own work writes between two of them on its own connection (as a desk's check-in
    /// does) instead of waiting out the whole page. The cursor moves only with the slice
    /// that ends the page, so it never runs ahead of what was applied.
    #[test]
    fn the_station_writes_between_the_slices_of_a_large_pulled_page() {
        let (_da, a, dir_b, mut b) = two_desks();
        let admin = crate::operators::Operator::admin("t");
        let visitor =
            |name: String| NewAttendee { name, category: "vip".into(), ..NewAttendee::default() };
        register_walk_ins(&a, APPLY_SLICE_CHANGES);
        let page = a.pending(10_000).unwrap();
        assert!(page.len() > APPLY_SLICE_CHANGES, "a page of more than one slice");
        b.apply_remote(&[], 5).unwrap();

        // (cursor, pulled attendees) as the desk's own connection saw them after its write.
        let seen = Arc::new(Mutex::new(Vec::<(String, i64)>::new()));
        let (dir, log) = (dir_b.path().to_owned(), Arc::clone(&seen));
        b.between_slices = Box::new(move || {
            let mut desk = Store::open(&dir).unwrap();
            let mut log = log.lock().unwrap();
            let walk_in = visitor(format!("现场{}", log.len()));
            registration::register(&mut desk, &admin, &walk_in, Source::WalkIn).unwrap();
            let cursor: String = desk
                .conn()
                .query_row("SELECT value FROM sync_state WHERE key = 'pull_cursor'", [], |r| {
                    r.get(0)
                })
                .unwrap();
            let pulled: i64 = desk
                .conn()
                .query_row("SELECT count(*) FROM attendees WHERE name LIKE '访客%'", [], |r| {
                    r.get(0)
                })
                .unwrap();
            log.push((cursor, pulled));
        });
        b.apply_remote(&page, 6).unwrap();

        let seen = seen.lock().unwrap().clone();
        assert!(!seen.is_empty(), "the desk wrote while the page was applied");
        assert!(seen.iter().all(|(cursor, _)| cursor == "5"), "cursor ran ahead: {seen:?}");
        let pulled: Vec<i64> = seen.iter().map(|(_, pulled)| *pulled).collect();
        assert!(pulled.windows(2).all(|w| w[0] < w[1]), "slice by slice: {pulled:?}");
        assert!(pulled[0] > 0 && pulled[pulled.len() - 1] < APPLY_SLICE_CHANGES as i64);
        assert_eq!(b.cursor().unwrap(), 6);
        let store = b.store();
        let count = |pattern: &str| -> i64 {
            store
                .conn()
                .query_row("SELECT count(*) FROM attendees WHERE name LIKE ?1", [pattern], |r| {
                    r.get(0)
                })
                .unwrap()
        };
        assert_eq!(count("访客%"), APPLY_SLICE_CHANGES as i64);
        assert_eq!(count("现场%"), seen.len() as i64, "every walk-in kept");
    }

    /// Issue 17: a gate back from a network cut pulls thousands of changes; a badge
    /// revoked at the end of the page is refused from the moment the page arrives, not
    /// once everything ahead of it is applied, and the page still ends as in order.
    #[test]
    fn a_revocation_at_the_end_of_a_pulled_page_is_in_force_before_the_page_is_applied() {
        let (_da, a, dir_b, mut b) = two_desks();
        let admin = crate::operators::Operator::admin("t");
        let holder = AttendeeId(pre_register(&a, "甲").id);
        badge::ensure_badge(&mut a.store(), &admin, holder).unwrap();
        exchange(&a, &b, 1);
        register_walk_ins(&a, APPLY_SLICE_CHANGES);
        badge::revoke(&mut a.store(), &admin, holder, "lost").unwrap();
        let page = a.pending(10_000).unwrap();
        assert!(page.len() > APPLY_SLICE_CHANGES, "a page of more than one slice");
        let at = page.iter().position(|change| change.record.is_badge_revocation());
        assert!(at > Some(APPLY_SLICE_CHANGES), "the revocation is past the first slice");

        // (badge status, pulled attendees) as another connection saw them between slices.
        let seen = Arc::new(Mutex::new(Vec::<(String, usize)>::new()));
        let (dir, log) = (dir_b.path().to_owned(), Arc::clone(&seen));
        b.between_slices = Box::new(move || {
            let gate = Store::open(&dir).unwrap();
            let status = badge::badges_of(gate.conn(), holder).unwrap()[0].status.clone();
            log.lock().unwrap().push((status, walk_ins_held(gate.conn())));
        });
        b.apply_remote(&page, 2).unwrap();

        let seen = seen.lock().unwrap().clone();
        assert!(!seen.is_empty(), "the page took more than one slice");
        assert!(seen[0].1 < APPLY_SLICE_CHANGES, "seen mid-page: {seen:?}");
        assert!(seen.iter().all(|(status, _)| status == "revoked"), "{seen:?}");
        assert_eq!(b.cursor().unwrap(), 2);
        let store = b.store();
        let states: Vec<String> =
            badge::badges_of(store.conn(), holder).unwrap().into_iter().map(|b| b.status).collect();
        assert_eq!(states, ["revoked"]);
        assert_eq!(set_aside_changes(&store).unwrap().0, 0, "nothing set aside");
    }

    /// Pulled slices commit with synchronous = NORMAL (`Store::write_pulled`), so a power
    /// cut can lose the tail of the WAL written since its last sync. Wherever it is cut (at
    /// a slice's commit, inside a frame, or everything since the pull began), the station
    /// opens, holds whole slices only, its cursor never covers a change it lost, and
    /// pulling the page again ends where the station without the cut did.
    #[test]
    fn a_power_cut_that_loses_pulled_slices_loses_nothing_once_they_are_pulled_again() {
        let (_da, a, dir_b, mut b) = two_desks();
        register_walk_ins(&a, 2 * APPLY_SLICE_CHANGES + 100);
        let page = a.pending(10_000).unwrap();
        // Everything before the pull is synced, and no checkpoint copies frames into the
        // database file while the pull writes: a cut then loses a tail of the WAL alone.
        {
            let store = b.store();
            store.conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
            store.conn().pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        }
        let wal = dir_b.path().join("station.db-wal");
        // (WAL length, walk-ins held) at each commit of a slice, the pull's start first.
        let commits = Arc::new(Mutex::new(vec![(0, 0)]));
        let (dir, log) = (dir_b.path().to_owned(), Arc::clone(&commits));
        b.between_slices = Box::new(move || {
            let length = std::fs::metadata(dir.join("station.db-wal")).unwrap().len();
            // Read-only: a connection that wrote could checkpoint the WAL into the file.
            let reader = rusqlite::Connection::open_with_flags(
                dir.join("station.db"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            log.lock().unwrap().push((length, walk_ins_held(&reader)));
        });
        b.apply_remote(&page, 2).unwrap();
        let mut commits = commits.lock().unwrap().clone();
        commits.push((std::fs::metadata(&wal).unwrap().len(), 2 * APPLY_SLICE_CHANGES + 100));
        assert!(commits.len() >= 4, "the page took several slices: {commits:?}");
        let whole = pulled_state(&b.store());

        // Each cut, with the walk-ins that survive it: a commit's frames, or the commit
        // before when the cut falls inside a slice's frames (a torn frame included).
        let mut cuts = Vec::new();
        for pair in commits.windows(2) {
            let ((from, held), (to, _)) = (pair[0], pair[1]);
            cuts.extend([(from, held), ((from + to) / 2, held), (to - 1, held)]);
        }
        cuts.push(*commits.last().unwrap());
        for (cut, held) in cuts {
            let after_cut = tempfile::tempdir().unwrap();
            copy_station_files(dir_b.path(), after_cut.path());
            std::fs::OpenOptions::new()
                .write(true)
                .open(after_cut.path().join("station.db-wal"))
                .unwrap()
                .set_len(cut)
                .unwrap();

            let station = StoreOutbox::open(after_cut.path()).unwrap();
            assert_eq!(walk_ins_held(station.store().conn()), held, "whole slices at cut {cut}");
            let cursor = station.cursor().unwrap();
            let complete = held == 2 * APPLY_SLICE_CHANGES + 100;
            assert_eq!(cursor, if complete { 2 } else { 0 }, "the cursor at cut {cut}");

            station.apply_remote(&page, 2).unwrap();
            assert_eq!(station.cursor().unwrap(), 2);
            assert!(pulled_state(&station.store()) == whole, "pulled again after cut {cut}");
        }
    }

    /// The walk-ins of `register_walk_ins` a station holds.
    fn walk_ins_held(conn: &rusqlite::Connection) -> usize {
        conn.query_row("SELECT count(*) FROM attendees WHERE name LIKE '访客%'", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as usize
    }

    /// Every row a pull writes, table by table, sorted.
    fn pulled_state(store: &Store) -> Vec<String> {
        let mut lines = Vec::new();
        for table in [
            "attendees",
            "search_terms",
            "company_terms",
            "badges",
            "stats_attendees",
            "stats_registrations",
            "stats_badges",
            "sync_state",
            "sync_set_aside",
        ] {
            let mut statement = store.conn().prepare(&format!("SELECT * FROM {table}")).unwrap();
            let columns = statement.column_count();
            let mut rows: Vec<String> = statement
                .query_map([], |row| {
                    let values = (0..columns)
                        .map(|i| row.get::<_, rusqlite::types::Value>(i))
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(format!("{table} {values:?}"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.sort();
            lines.extend(rows);
        }
        lines
    }

    /// A station's files as a power cut leaves them: everything but the WAL index, which
    /// lives in shared memory and which SQLite rebuilds from the WAL.
    fn copy_station_files(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                std::fs::create_dir(&target).unwrap();
                copy_station_files(&entry.path(), &target);
            } else if entry.file_name() != "station.db-shm" {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    /// A revoked serial this station does not hold yet waits for its place, behind its own
    /// record: applied ahead it would be the row the badge counts take their issuer and
    /// category from.
    #[test]
    fn a_revocation_of_a_badge_not_held_yet_waits_for_its_place() {
        let (_da, a, _db, b) = two_desks();
        let admin = crate::operators::Operator::admin("t");
        let holder = AttendeeId(pre_register(&a, "甲").id);
        badge::ensure_badge(&mut a.store(), &admin, holder).unwrap();
        badge::revoke(
            &mut a.store(),
            &crate::operators::Operator::admin("hotline"),
            holder,
            "lost",
        )
        .unwrap();
        let page = a.pending(100).unwrap();

        b.apply_ahead(&page).unwrap();
        assert!(badge::badges_of(b.store().conn(), holder).unwrap().is_empty(), "not ahead");
        b.apply_remote(&page, 1).unwrap();
        let store = b.store();
        let states: Vec<String> =
            badge::badges_of(store.conn(), holder).unwrap().into_iter().map(|b| b.status).collect();
        assert_eq!(states, ["revoked"]);
        let counted: (String, String) = store
            .conn()
            .query_row("SELECT operator, category FROM stats_badges", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(counted, ("t".to_owned(), "vip".to_owned()), "its issuer, its category");
    }

    #[test]
    fn an_event_definition_this_station_cannot_read_is_set_aside_and_the_pull_goes_on() {
        let (_da, a, _db, b) = two_desks();
        let record = pre_register(&a, "甲");
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
        // Newer than the version B installed from the bundle.
        for change in changes.iter_mut().filter(|c| c.record.kind() == "event") {
            change.hlc.wall_ms += 60_000;
        }
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

    /// `change` as the hub hands it out: stamped with the role of its pusher.
    fn pushed_by(role: StationRole, mut change: Change) -> Change {
        change.pushed_by = Some(role);
        change
    }

    fn first_of(changes: &[Change], kind: &str) -> Change {
        changes.iter().find(|c| c.record.kind() == kind).cloned().expect("a change of the kind")
    }

    fn public_key_ids(station: &StoreOutbox) -> Vec<u32> {
        station.store().event().unwrap().public_keys.iter().map(|(id, _)| *id).collect()
    }

    /// Attacks 1, 2 and 7 of issue 15, at the station: what a gate's stolen credential
    /// pushed (a widened event with a planted key, a huge-serial revocation, an admin's
    /// audit entry) is set aside, and the desk's real revocation behind it arrives.
    #[test]
    fn pulled_changes_a_role_could_not_make_are_set_aside_and_the_pull_goes_on() {
        let (_da, a, _db, b) = two_desks();
        let record = pre_register(&a, "甲");
        let id = AttendeeId(record.id);
        badge::ensure_badge(&mut a.store(), &crate::operators::Operator::admin("t"), id).unwrap();
        exchange(&a, &b, 1);
        badge::revoke(&mut a.store(), &crate::operators::Operator::admin("t"), id, "lost").unwrap();
        let made = a.pending(1000).unwrap();
        let revocation = pushed_by(StationRole::Desk, first_of(&made, "badge"));

        let mut widened = b.store().event().unwrap().definition.clone();
        widened.event.venue = "the attacker's".into();
        let mut planted = first_of(&made, "audit");
        planted.id = Uuid::now_v7();
        planted.record = Record::Event(expo_sync::protocol::EventRecord {
            event_id: widened.event.id.clone(),
            definition: widened.to_toml(),
            public_keys: vec![],
        });
        let mut huge_serial = revocation.clone();
        if let Record::Badge(badge) = &mut huge_serial.record {
            badge.serial = u32::MAX;
        }
        let mut forged_audit = first_of(&made, "audit");
        if let Record::Audit(entry) = &mut forged_audit.record {
            entry.actor = "admin".into();
            entry.action = "reveal_id_number".into();
        }
        let event_before = b.store().event().unwrap().definition.clone();
        let page: Vec<Change> = [planted, huge_serial, forged_audit]
            .into_iter()
            .map(|c| pushed_by(StationRole::Gate, c))
            .chain([revocation])
            .collect();

        b.apply_remote(&page, 9).unwrap();

        let store = b.store();
        assert_eq!(store.event().unwrap().definition, event_before, "no event from a gate");
        let states: Vec<(u16, String)> = badge::badges_of(store.conn(), id)
            .unwrap()
            .into_iter()
            .map(|b| (b.serial, b.status))
            .collect();
        assert_eq!(states, [(1, "revoked".to_owned())], "the desk's revocation arrived alone");
        let audit = crate::store::audit_entries(store.conn(), None, 1000).unwrap();
        assert!(audit.iter().all(|e| e.action != "reveal_id_number"), "no forged audit entry");
        assert_eq!(set_aside_changes(&store).unwrap().0, 3);
        drop(store);
        assert_eq!(b.cursor().unwrap(), 9);
    }

    /// Attack 4: a change no station can store (a gate going "sideways") is set aside,
    /// and the pull goes on past it.
    #[test]
    fn a_malformed_pulled_change_of_any_kind_is_set_aside() {
        let (_da, a, _db, b) = two_desks();
        let record = pre_register(&a, "乙");
        let mut sideways = first_of(&a.pending(100).unwrap(), "attendee");
        sideways.record = Record::GateDecision(expo_sync::protocol::GateDecisionRecord {
            id: Uuid::now_v7(),
            attendee_id: Some(record.id),
            badge_serial: Some(1),
            gate: "north".into(),
            lane: "1".into(),
            zone: "hall-1".into(),
            direction: "sideways".into(),
            granted: true,
            reason: "ok".into(),
            at: crate::store::now_rfc3339(),
            annulled: false,
        });
        let attendee = pushed_by(StationRole::Desk, first_of(&a.pending(100).unwrap(), "attendee"));
        b.apply_remote(&[pushed_by(StationRole::Gate, sideways), attendee], 3).unwrap();
        let store = b.store();
        assert!(registration::load(store.conn(), AttendeeId(record.id)).unwrap().is_some());
        let (count, newest) = set_aside_changes(&store).unwrap();
        assert_eq!(count, 1);
        assert!(newest.unwrap().contains("sideways"));
    }

    /// Attack 3: an edit stamped far in the future wins nothing here, and this station's
    /// own clock does not jump to it.
    #[test]
    fn a_far_future_edit_neither_wins_nor_moves_the_clock() {
        let (_da, a, _db, b) = two_desks();
        let record = pre_register(&a, "丙");
        exchange(&a, &b, 1);
        let id = AttendeeId(record.id);
        registration::edit(
            &mut a.store(),
            &crate::operators::Operator::admin("t"),
            id,
            &person("伪造"),
        )
        .unwrap();
        let mut forged = first_of(&a.pending(100).unwrap(), "attendee");
        forged.hlc = "999999999999999-4294967295-x".parse().unwrap();
        forged.hlc.station = forged.station.clone();
        b.apply_remote(&[pushed_by(StationRole::Desk, forged)], 2).unwrap();
        assert_eq!(registration::load(b.store().conn(), id).unwrap().unwrap().company, "丙");

        registration::edit(
            &mut b.store(),
            &crate::operators::Operator::admin("t"),
            id,
            &person("真"),
        )
        .unwrap();
        let own = first_of(&b.pending(100).unwrap(), "attendee");
        assert!(own.hlc.wall_ms < 10_000_000_000_000, "the clock stayed near now: {}", own.hlc);
        assert_eq!(registration::load(b.store().conn(), id).unwrap().unwrap().company, "真");
    }

    /// Attack 7: an older version of the event record, replayed, does not undo a newer.
    #[test]
    fn an_older_event_version_is_not_installed_over_a_newer_one() {
        let (_da, a, _db, b) = two_desks();
        let admin = crate::operators::Operator::station_admin(a.store().station_id());
        exchange(&a, &b, 1);
        let mut first = a.store().event().unwrap().definition.clone();
        first.event.venue = "第一版".into();
        provisioning::update_definition(&mut a.store(), &admin, &first).unwrap();
        let mut second = first.clone();
        second.event.venue = "第二版".into();
        provisioning::update_definition(&mut a.store(), &admin, &second).unwrap();
        let events: Vec<Change> = a
            .pending(100)
            .unwrap()
            .into_iter()
            .filter(|c| c.record.kind() == "event")
            .map(|c| pushed_by(StationRole::Admin, c))
            .collect();
        assert_eq!(events.len(), 2);
        b.apply_remote(&events[1..], 2).unwrap();
        b.apply_remote(&events[..1], 3).unwrap();
        assert_eq!(b.store().event().unwrap().definition.event.venue, "第二版");
    }

    /// Attack 1 and `station revoke`: a key that arrives by sync is trusted only with the
    /// pinned organiser authority's endorsement, and its revocation sticks.
    #[test]
    fn signing_keys_are_trusted_only_with_the_pinned_authoritys_endorsement() {
        let (_da, a, _db, b) = two_desks();
        let organiser = Authority::generate();
        provisioning::pin_authority(&mut b.store(), &organiser.public_hex()).unwrap();
        let keys_before = public_key_ids(&b);
        let stranger_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let stranger_hex = hex::encode(stranger_key.verifying_key().as_bytes());
        // The hub's own changes carry no role: their authority is the signature.
        let key_change = Authority::change;

        // Carried in an admin's event record: the definition is taken, the key is not.
        let mut carried = first_of(&a.pending(100).unwrap(), "event");
        if let Record::Event(event) = &mut carried.record {
            event.public_keys.push(PublicKeyRecord {
                key_id: expo_sync::endorsement::key_id(&stranger_key.verifying_key()),
                station: "st-attacker".into(),
                public_key: stranger_hex.clone(),
            });
        }
        carried.hlc.wall_ms += 60_000;
        // Endorsed by an attacker's own authority: refused.
        let forged = Authority::generate().endorse("st-attacker", &stranger_hex).unwrap();
        b.apply_remote(&[pushed_by(StationRole::Admin, carried), key_change(forged)], 1).unwrap();
        assert_eq!(public_key_ids(&b), keys_before, "no key planted");
        assert_eq!(set_aside_changes(&b.store()).unwrap().0, 1);

        // Endorsed by the pinned authority: trusted; revoked: gone, and for good.
        let endorsed = organiser.endorse("st-desk-c", &stranger_hex).unwrap();
        b.apply_remote(&[key_change(endorsed.clone())], 2).unwrap();
        assert!(public_key_ids(&b).contains(&endorsed.key_id));
        b.apply_remote(&[key_change(organiser.revoke(&endorsed))], 3).unwrap();
        assert_eq!(public_key_ids(&b), keys_before);
        let bundle = provisioning::Bundle {
            public_keys: vec![PublicKeyRecord {
                key_id: endorsed.key_id,
                station: endorsed.station.clone(),
                public_key: endorsed.public_key.clone(),
            }],
            ..provisioning::export(&b.store(), false).unwrap()
        };
        provisioning::import(
            &mut b.store(),
            &crate::operators::Operator::admin("t"),
            &bundle,
            false,
        )
        .unwrap();
        b.apply_remote(&[key_change(endorsed)], 4).unwrap();
        assert_eq!(public_key_ids(&b), keys_before, "a revoked key never comes back");
    }

    #[test]
    fn a_change_the_hub_refused_leaves_the_outbox_and_is_kept_aside() {
        let (_da, a, _db, _b) = two_desks();
        let pending = a.pending(100).unwrap();
        let event = first_of(&pending, "event");
        a.mark_refused(&[RefusedChange {
            id: event.id,
            code: "forbidden".into(),
            reason: "a desk station may not push event records".into(),
        }])
        .unwrap();
        assert_eq!(a.pending(100).unwrap().len(), pending.len() - 1);
        let (count, newest) = set_aside_changes(&a.store()).unwrap();
        assert_eq!(count, 1);
        assert!(newest.unwrap().contains("refused"));
    }

    #[test]
    fn concurrent_edits_converge_on_the_later_one_and_keep_the_loser_in_the_audit_log() {
        let (_da, a, _db, b) = two_desks();
        let record = pre_register(&a, "初始");
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
        let record = pre_register(&a, "x");
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
        let not_enrolled =
            start_background_sync(dir.path(), options, StationMode::App, DeviceBoard::default())
                .unwrap();
        assert!(not_enrolled.is_none(), "a station that is not enrolled works offline");
        let credential = dir.path().join("keys").join("hub.json");
        std::fs::write(&credential, "{").unwrap();
        let unreadable =
            start_background_sync(dir.path(), options, StationMode::App, DeviceBoard::default());
        assert!(matches!(unreadable, Err(StationSyncError::Store(StoreError::KeyFile { .. }))));
        HubCredential {
            hub_url: "http://127.0.0.1:9".into(),
            station: "s".into(),
            token: "t".into(),
            role: None,
            hub_authority: None,
        }
        .save(dir.path())
        .unwrap();
        let worker =
            start_background_sync(dir.path(), options, StationMode::App, DeviceBoard::default())
                .unwrap();
        worker.expect("an enrolled station syncs").stop();
    }
}
