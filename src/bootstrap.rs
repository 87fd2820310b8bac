//! Snapshot bootstrap: a station enrolled late, or offline for long, takes the hub's
//! current state as one download (`GET /v1/snapshot`, format in `expo_sync::snapshot`)
//! instead of replaying every change, then goes on with ordinary pulls from the cursor
//! the snapshot names.
//!
//! Two threads, like an import: a reader downloads, verifies each chunk's SHA-256, checks
//! every change by the rules a pull applies (`station_sync::admissible`) and numbers new
//! attendees' search terms; this thread writes, in one transaction. A cut or corrupted
//! download resumes after the last chunk that verified (a few attempts without progress,
//! then it gives up); the transaction commits, and the pull cursor moves, only once the
//! whole answer verified, so a download that never verifies changes nothing. New attendees
//! are written like an import's new rows, and badges, when the station held none, settled
//! by the pull's rules and written in bulk (`registration::bootstrap`); everything else,
//! and an attendee or badge this station already holds, is applied exactly as a pull
//! applies it.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::time::Duration;

use expo_sync::client::{ClientError, HubClient};
use expo_sync::{Change, Hlc, Record};

use crate::registration::bootstrap::{NewAttendees, NewBadges, SnapshotTerms};
use crate::registration::import::BorrowedSettings;
use crate::registration::RegistrationError;
use crate::station_sync::{self, admissible, apply_admissible, set_aside, StationSyncError};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Sync(#[from] StationSyncError),
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("snapshot from the hub: {0}")]
    Hub(#[from] ClientError),
    #[error("the snapshot reader stopped")]
    ReaderStopped,
}

/// Attempts in a row that may fail without a verified chunk before the bootstrap gives up.
const ATTEMPTS_WITHOUT_PROGRESS: u32 = 4;
/// Chunks read ahead of the writer.
const CHUNKS_AHEAD: usize = 8;

/// What a bootstrap did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootstrapReport {
    /// Changes in the snapshot.
    pub records: u64,
    /// Attendees new to this station, written in bulk.
    pub new_attendees: u64,
    /// Changes set aside (the rules refused them, or this station could not apply them).
    pub set_aside: u64,
    /// The pull cursor the station continues from.
    pub cursor: i64,
    /// How many times the download was resumed after a cut or a chunk that did not verify.
    pub resumed: u32,
}

/// One change of a verified chunk, sorted out by the reader.
enum Item {
    /// An attendee the rules take, with its search terms numbered.
    Attendee(Change, Vec<u32>),
    /// Any other change the rules take.
    Apply(Change),
    /// A change the rules refuse, with why.
    SetAside(Change, String),
}

enum Message {
    Chunk(Vec<Item>),
    Done { terms: SnapshotTerms, cursor: i64, resumed: u32, latest: Option<Hlc> },
    Failed(BootstrapError),
}

/// Downloads the hub's current state and applies it to `store`, then sets the pull
/// cursor, all in one transaction. `progress` hears the number of changes applied so far
/// after each chunk.
pub fn bootstrap(
    store: &mut Store,
    client: &HubClient,
    progress: &mut dyn FnMut(u64),
) -> Result<BootstrapReport, BootstrapError> {
    let own_station = store.station_id().to_owned();
    let borrowed = BorrowedSettings::apply(store.conn())?;
    let (sender, receiver) = sync_channel(CHUNKS_AHEAD);
    let mut report = BootstrapReport::default();
    let mut event_changed = false;
    let mut latest_seen = None;
    let outcome = std::thread::scope(|scope| {
        scope.spawn(|| read(client, &own_station, &sender));
        let written = store.write(|tx| {
            let mut new_attendees = NewAttendees::begin(tx.sql())?;
            let mut new_badges = NewBadges::begin(tx.sql())?;
            for message in receiver.iter() {
                let items = match message {
                    Message::Chunk(items) => items,
                    Message::Failed(error) => return Err(error),
                    Message::Done { terms, cursor, resumed, latest } => {
                        new_badges.flush(tx.sql())?;
                        report.new_attendees = new_attendees.finish(tx.sql(), terms)?;
                        report.cursor = cursor;
                        report.resumed = resumed;
                        latest_seen = latest;
                        station_sync::store_cursor(tx, cursor)?;
                        return Ok(());
                    }
                };
                for item in items {
                    report.records += 1;
                    match item {
                        Item::SetAside(change, reason) => {
                            set_aside(tx, &change, &reason)?;
                            report.set_aside += 1;
                        }
                        Item::Attendee(change, terms) => {
                            let Change { id, station, hlc, record, pushed_by } = change;
                            let Record::Attendee(record) = record else { continue };
                            let held =
                                new_attendees.add(tx.sql(), record, &hlc.to_string(), &terms)?;
                            if let Some(record) = held {
                                new_attendees.flush(tx.sql())?;
                                let change = Change {
                                    id,
                                    station,
                                    hlc,
                                    record: Record::Attendee(record),
                                    pushed_by,
                                };
                                apply_admissible(tx, &change)?;
                            }
                        }
                        Item::Apply(Change { id, station, hlc, record, pushed_by }) => {
                            new_attendees.flush(tx.sql())?;
                            let record = match record {
                                Record::Badge(badge) => {
                                    match new_badges.add(tx.sql(), badge, &hlc.to_string())? {
                                        Some(badge) => Record::Badge(badge),
                                        None => continue,
                                    }
                                }
                                record => record,
                            };
                            new_badges.flush(tx.sql())?;
                            let change = Change { id, station, hlc, record, pushed_by };
                            event_changed |= apply_admissible(tx, &change)?;
                        }
                    }
                }
                progress(report.records);
            }
            // The reader stopped without an end: it panicked (the scope re-raises it).
            Err(BootstrapError::ReaderStopped)
        });
        // The reader stops at its next chunk once nobody listens.
        drop(receiver);
        written
    });
    let given_back = borrowed.give_back(store.conn());
    outcome?;
    given_back?;
    if let Some(latest) = &latest_seen {
        store.observe_remote(latest);
    }
    if event_changed {
        store.reload_event()?;
    }
    Ok(report)
}

/// The reader thread: downloads, verifies, resumes after cuts, sorts each change out.
fn read(client: &HubClient, own_station: &str, sender: &SyncSender<Message>) {
    let mut terms = SnapshotTerms::default();
    let mut after = String::new();
    let mut cursor = None;
    let mut latest: Option<Hlc> = None;
    let mut resumed = 0;
    let mut failures = 0;
    loop {
        let error = match client.snapshot(&after) {
            Ok(mut answer) => {
                // The first answer's cursor: every later answer holds that state or newer.
                let cursor = *cursor.get_or_insert(answer.cursor());
                loop {
                    match answer.next_chunk() {
                        Ok(Some(chunk)) => {
                            failures = 0;
                            let items =
                                sort_out(chunk.changes, own_station, &mut terms, &mut latest);
                            let items = match items {
                                Ok(items) => items,
                                Err(error) => {
                                    let _ = sender.send(Message::Failed(error.into()));
                                    return;
                                }
                            };
                            if sender.send(Message::Chunk(items)).is_err() {
                                return; // the writer stopped
                            }
                            after = chunk.last_key;
                        }
                        Ok(None) => {
                            // A send fails only when the writer stopped, and then nobody needs it.
                            let _ = sender.send(Message::Done { terms, cursor, resumed, latest });
                            return;
                        }
                        Err(error) => break ClientError::Snapshot(error),
                    }
                }
            }
            Err(error) => error,
        };
        failures += 1;
        if !error.is_transient() || failures >= ATTEMPTS_WITHOUT_PROGRESS {
            let _ = sender.send(Message::Failed(error.into()));
            return;
        }
        tracing::warn!(%error, "snapshot download interrupted; resuming after the last verified chunk");
        resumed += 1;
        std::thread::sleep(Duration::from_millis(250) * failures);
    }
}

/// Sorts a verified chunk's changes out: this station's own are skipped (as a pull skips
/// them), the rest checked by the rules of a pull; attendees get their search terms.
fn sort_out(
    changes: Vec<Change>,
    own_station: &str,
    terms: &mut SnapshotTerms,
    latest: &mut Option<Hlc>,
) -> Result<Vec<Item>, RegistrationError> {
    let mut items = Vec::with_capacity(changes.len());
    for change in changes.into_iter().filter(|c| c.station != own_station) {
        if latest.as_ref().is_none_or(|l| change.hlc > *l) {
            *latest = Some(change.hlc.clone());
        }
        if let Err(unusable) = admissible(&change) {
            let reason = unusable.to_string();
            items.push(Item::SetAside(change, reason));
            continue;
        }
        match &change.record {
            Record::Attendee(record) => {
                let numbers = terms.number(record)?;
                items.push(Item::Attendee(change, numbers));
            }
            _ => items.push(Item::Apply(change)),
        }
    }
    Ok(items)
}

/// For `expo-kiosk sync enrol` and `sync bootstrap`: the station in `data_dir`, with its
/// own credential.
pub fn bootstrap_station(
    data_dir: &std::path::Path,
    hub_url: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> Result<BootstrapReport, BootstrapError> {
    let credential = station_sync::HubCredential::load(data_dir)?;
    let client = credential.client(hub_url)?;
    let mut store = Store::open(data_dir).map_err(StationSyncError::from)?;
    bootstrap(&mut store, &client, progress)
}
