//! The station side of sync: the outbox contract the station store implements, one
//! resumable sync round ([`run_once`]) and the background worker that repeats it while
//! the network comes and goes ([`SyncWorker`]).
//!
//! # Why a change travels in milliseconds, not ticks
//! While the station is online, the worker runs a round at once when told of a local
//! change ([`SyncNudge`], rung by the store after it queued one) and when the hub has
//! one for it: a listener thread keeps a pull open at the hub (`wait`, see
//! [`WorkerOptions::listen`]) from the cursor of the last round and wakes the worker when
//! it answers with changes. The tick ([`WorkerOptions::interval`]) still runs every round
//! it ran before. Rounds a change starts come at most every [`WorkerOptions::gather`], so
//! a stream of changes is taken in batches. Offline (the last round failed), nudges wait
//! for the backoff to end as the tick does, and the listener waits for the next round
//! that succeeds. A hub that does not hold pulls answers at once without
//! [`crate::protocol::WAIT_HEADER`]: the listener then stops, and the tick alone syncs, as
//! before.
//!
//! # Why a round is resumable and exactly-once
//! - Push: a change leaves the outbox only when the hub has acknowledged it, and the hub
//!   stores changes idempotently by id. A round cut anywhere re-sends at most one batch,
//!   which the hub recognises and acknowledges again.
//! - Pull: [`StationOutbox::apply_remote`] applies a page and stores the next cursor in
//!   the station transaction that applies its last change, so a cut round resumes after
//!   the last applied page. Applying a change twice is harmless anyway (records are whole
//!   states, merged by HLC).
//! - Between two pull pages the round pushes again what was made meanwhile, so a station
//!   catching up after an outage (many pages) does not hold its own work back until the
//!   last page.

use std::collections::HashSet;
use std::error::Error as StdError;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use uuid::Uuid;

use crate::client::{ClientError, HubClient};
use crate::heartbeat::{Heartbeat, StationFigures, HEARTBEAT_INTERVAL};
use crate::hlc::wall_clock_ms;
use crate::protocol::{Change, RefusedChange, SigningKeyRecord};

/// The least time between two heartbeats that follow rounds: what the operations console
/// shows of a station is at most this old while it syncs. Each heartbeat is a write at the
/// hub, behind its one writer with the pushes; at 2 s the 171 stations of issue 17's
/// rehearsal sent about 80 a second, nearly as many as their pushes.
const MIN_HEARTBEAT_GAP: Duration = Duration::from_secs(5);

/// What the station store must offer to be synchronised.
pub trait StationOutbox {
    type Error: StdError + Send + Sync + 'static;

    /// Up to `limit` unacknowledged local changes, oldest first.
    fn pending(&self, limit: usize) -> Result<Vec<Change>, Self::Error>;

    /// How many local changes the hub has not acknowledged yet.
    fn pending_count(&self) -> Result<u64, Self::Error>;

    /// Removes acknowledged changes from the outbox (ids not in it are ignored).
    fn mark_acked(&self, ids: &[Uuid]) -> Result<(), Self::Error>;

    /// Takes changes the hub refused for good out of the outbox, so they are not sent
    /// again: retrying cannot help, and nothing queued behind them should wait. This
    /// logs them and removes them like acknowledged ones; a store that can keep them for
    /// a person to look at should.
    fn mark_refused(&self, refused: &[RefusedChange]) -> Result<(), Self::Error> {
        for change in refused {
            tracing::warn!(change = %change.id, code = change.code, reason = change.reason,
                "the hub refused a change of this station");
        }
        self.mark_acked(&refused.iter().map(|r| r.id).collect::<Vec<_>>())
    }

    /// This station's badge-signing public key (hex) while the organiser authority has
    /// not endorsed it; `None` once it has, or when the station signs no badges or
    /// pinned no authority.
    fn unendorsed_key(&self) -> Result<Option<String>, Self::Error> {
        Ok(None)
    }

    /// Keeps the endorsement of this station's key the hub answered, and trusts the key
    /// like one that arrived by sync.
    fn keep_endorsement(&self, endorsed: &SigningKeyRecord) -> Result<(), Self::Error> {
        tracing::debug!(key_id = endorsed.key_id, "signing key endorsed");
        Ok(())
    }

    /// Applies other stations' changes and stores `next_cursor` in the transaction that
    /// applies the last of them (a store may apply a page in several), so the cursor never
    /// runs ahead of what was applied.
    fn apply_remote(&self, changes: &[Change], next_cursor: i64) -> Result<(), Self::Error>;

    /// Applies the badge revocations among `changes`, pulled from past the cursor, ahead
    /// of the changes before them, without moving the cursor: each is applied again in
    /// its place later, changing nothing (see [`crate::Record::is_badge_revocation`]).
    /// Only sooner: a store that does not apply them ahead (this default) still applies
    /// each in its place.
    fn apply_ahead(&self, _changes: &[Change]) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The pull cursor stored by the last [`StationOutbox::apply_remote`], 0 at first.
    fn cursor(&self) -> Result<i64, Self::Error>;
}

/// A store shared with the UI thread can be handed to the worker as an `Arc`.
impl<O: StationOutbox + ?Sized> StationOutbox for Arc<O> {
    type Error = O::Error;

    fn pending(&self, limit: usize) -> Result<Vec<Change>, Self::Error> {
        (**self).pending(limit)
    }

    fn pending_count(&self) -> Result<u64, Self::Error> {
        (**self).pending_count()
    }

    fn mark_acked(&self, ids: &[Uuid]) -> Result<(), Self::Error> {
        (**self).mark_acked(ids)
    }

    fn mark_refused(&self, refused: &[RefusedChange]) -> Result<(), Self::Error> {
        (**self).mark_refused(refused)
    }

    fn unendorsed_key(&self) -> Result<Option<String>, Self::Error> {
        (**self).unendorsed_key()
    }

    fn keep_endorsement(&self, endorsed: &SigningKeyRecord) -> Result<(), Self::Error> {
        (**self).keep_endorsement(endorsed)
    }

    fn apply_remote(&self, changes: &[Change], next_cursor: i64) -> Result<(), Self::Error> {
        (**self).apply_remote(changes, next_cursor)
    }

    fn apply_ahead(&self, changes: &[Change]) -> Result<(), Self::Error> {
        (**self).apply_ahead(changes)
    }

    fn cursor(&self) -> Result<i64, Self::Error> {
        (**self).cursor()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Hub(#[from] ClientError),
    #[error("station store: {0}")]
    Store(Box<dyn StdError + Send + Sync>),
    /// The hub answered a push without acknowledging part of it: retrying the same
    /// batch would loop, so the round stops.
    #[error("the hub acknowledged {acked} of {sent} changes")]
    PartialAck { sent: usize, acked: usize },
}

impl SyncError {
    /// True when the same round can succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Hub(error) => error.is_transient(),
            SyncError::Store(_) | SyncError::PartialAck { .. } => false,
        }
    }
}

fn store_error<E: StdError + Send + Sync + 'static>(error: E) -> SyncError {
    SyncError::Store(Box::new(error))
}

/// Batch sizes of a round.
#[derive(Clone, Copy, Debug)]
pub struct SyncOptions {
    /// Changes per push request.
    pub push_batch: usize,
    /// Changes per pull page (the hub sends at most its `max_pull_limit`, and at most
    /// 4 MiB).
    pub pull_page: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        // As many as the hub sends: every page of a catch-up costs a request and a push of
        // what was made meanwhile, and at full size a gate back from a 2-minute network cut
        // took 20 pages of 1,000 (28 s); pages of 5,000 make that 4. The station applies a
        // page in slices that yield to its own writers, so a larger page keeps no check-in
        // waiting.
        Self { push_batch: 500, pull_page: 5000 }
    }
}

/// Progress of one round, reported after every batch and in the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Local changes the outbox held when the round started.
    pub pending_at_start: u64,
    /// Local changes acknowledged by the hub in this round.
    pub pushed: u64,
    /// Of those, how many the hub did not hold yet (the rest were replays).
    pub new_at_hub: u64,
    /// Local changes the hub refused for good in this round (see
    /// [`StationOutbox::mark_refused`]).
    pub refused: u64,
    /// Local changes the hub refused only because this station's clock runs ahead of
    /// the hub's: they stay in the outbox and are sent again in later rounds.
    pub held_back: u64,
    /// Other stations' changes applied in this round.
    pub pulled: u64,
    /// Local changes still unacknowledged (non-zero only while the round runs, or when
    /// changes were made during it).
    pub pending_after: u64,
    pub cursor: i64,
}

/// Pushes the pending changes, then pulls every new remote change, pushing again
/// between pull pages what was made meanwhile. What is made while it pushes goes out
/// with its next push (see [`push_pending`]).
pub fn run_once<O: StationOutbox + ?Sized>(
    client: &HubClient,
    outbox: &O,
    options: SyncOptions,
) -> Result<SyncSummary, SyncError> {
    run_once_with_progress(client, outbox, options, &mut |_| {})
}

/// [`run_once`], calling `progress` after every batch (for a progress bar).
pub fn run_once_with_progress<O: StationOutbox + ?Sized>(
    client: &HubClient,
    outbox: &O,
    options: SyncOptions,
    progress: &mut dyn FnMut(&SyncSummary),
) -> Result<SyncSummary, SyncError> {
    let mut summary = SyncSummary {
        pending_at_start: outbox.pending_count().map_err(store_error)?,
        cursor: outbox.cursor().map_err(store_error)?,
        ..SyncSummary::default()
    };
    endorse_own_key(client, outbox)?;
    // Setting aside a change the hub refused only for a clock running ahead would lose
    // it for good; it stays in the outbox instead, skipped for the rest of this round.
    let mut held_back: HashSet<Uuid> = HashSet::new();
    push_pending(client, outbox, options, &mut summary, &mut held_back, progress)?;
    // How far this round has read revocations past its pages; `None` once the hub showed
    // it cannot answer `only=revocations`.
    let mut revocations_read_to = Some(summary.cursor);
    loop {
        let page = client.pull(summary.cursor, options.pull_page.max(1))?;
        if let (true, Some(read_to)) = (page.more, revocations_read_to) {
            revocations_read_to = apply_revocations_ahead(
                client,
                outbox,
                page.next_cursor.max(read_to),
                options.pull_page.max(1),
            )?;
        }
        outbox.apply_remote(&page.changes, page.next_cursor).map_err(store_error)?;
        summary.cursor = page.next_cursor;
        summary.pulled += page.changes.len() as u64;
        progress(&summary);
        if !page.more {
            break;
        }
        // A station catching up (back from a network cut, say) pulls page after page:
        // what its operators did meanwhile goes out between them, not after the last.
        push_pending(client, outbox, options, &mut summary, &mut held_back, progress)?;
    }
    summary.pending_after = outbox.pending_count().map_err(store_error)?;
    progress(&summary);
    Ok(summary)
}

/// A station more than a page behind (back from a network cut, say) reads the badge
/// revocations made past its page, from cursor `from` to the end, and applies them first:
/// a gate refuses a badge revoked meanwhile at once instead of after every change ahead of
/// the revocation. Returns how far it read; `None` when the hub answered an ordinary
/// page instead, as a hub from before `only=revocations` does (reading on would pull the
/// whole backlog twice; the revocations arrive in their place).
fn apply_revocations_ahead<O: StationOutbox + ?Sized>(
    client: &HubClient,
    outbox: &O,
    from: i64,
    limit: usize,
) -> Result<Option<i64>, SyncError> {
    let mut cursor = from;
    loop {
        let page = client.pull_revocations(cursor, limit)?;
        if page.changes.iter().any(|change| !change.record.is_badge_revocation()) {
            return Ok(None);
        }
        outbox.apply_ahead(&page.changes).map_err(store_error)?;
        // A cursor that does not move would read the same page for ever.
        if !page.more || page.next_cursor <= cursor {
            return Ok(Some(page.next_cursor.max(cursor)));
        }
        cursor = page.next_cursor;
    }
}

/// Pushes this station's pending changes in batches (but those the hub holds back for a
/// clock running ahead, kept in `held_back` for the rest of the round), up to the first
/// batch that is not full: that one held every change pending when it was read.
///
/// It does not go on to what was made while it pushed. A busy station makes changes all
/// the time (a gate's four lanes, one every 0.6 s), and when the hub answers slower than
/// that (it took about a second at full size, issue 17's rehearsal on PostgreSQL, while
/// the venue pushed what it made through a fault) a push that chased them sent one to
/// three changes at a time for 3.5-8 s before the round pulled anything. Those changes go
/// out between pull pages, or in the next round, which the store's nudge starts.
fn push_pending<O: StationOutbox + ?Sized>(
    client: &HubClient,
    outbox: &O,
    options: SyncOptions,
    summary: &mut SyncSummary,
    held_back: &mut HashSet<Uuid>,
    progress: &mut dyn FnMut(&SyncSummary),
) -> Result<(), SyncError> {
    loop {
        let limit = options.push_batch.max(1);
        let batch: Vec<Change> = outbox
            .pending(limit + held_back.len())
            .map_err(store_error)?
            .into_iter()
            .filter(|change| !held_back.contains(&change.id))
            .take(limit)
            .collect();
        if batch.is_empty() {
            break;
        }
        let answer = client.push(&batch)?;
        let sent: HashSet<Uuid> = batch.iter().map(|c| c.id).collect();
        let acked = answer.acked.iter().filter(|id| sent.contains(id)).count();
        let (retry_later, refused): (Vec<RefusedChange>, Vec<RefusedChange>) = answer
            .refused
            .into_iter()
            .filter(|r| sent.contains(&r.id))
            .partition(RefusedChange::is_retryable);
        if acked + refused.len() + retry_later.len() < sent.len() {
            return Err(SyncError::PartialAck { sent: sent.len(), acked });
        }
        if !retry_later.is_empty() {
            tracing::warn!(
                changes = retry_later.len(),
                "the hub holds back changes stamped ahead of its clock; check this station's clock"
            );
            held_back.extend(retry_later.iter().map(|r| r.id));
            summary.held_back = held_back.len() as u64;
        }
        outbox.mark_acked(&answer.acked).map_err(store_error)?;
        if !refused.is_empty() {
            outbox.mark_refused(&refused).map_err(store_error)?;
            summary.refused += refused.len() as u64;
        }
        summary.pushed += acked as u64;
        summary.new_at_hub += answer.new as u64;
        progress(summary);
        if batch.len() < limit {
            return Ok(());
        }
    }
    Ok(())
}

/// Has this station's signing key endorsed by the organiser authority, once: other
/// stations trust it only then. A refusal (a gate, a second key) does not stop the
/// round: the station's badges still verify where its key came by bundle.
fn endorse_own_key<O: StationOutbox + ?Sized>(
    client: &HubClient,
    outbox: &O,
) -> Result<(), SyncError> {
    let Some(public_key) = outbox.unendorsed_key().map_err(store_error)? else {
        return Ok(());
    };
    match client.endorse(&public_key) {
        Ok(endorsed) => outbox.keep_endorsement(&endorsed).map_err(store_error),
        Err(error) if error.is_transient() => Err(error.into()),
        Err(error) => {
            tracing::warn!(%error, "the hub did not endorse this station's signing key");
            Ok(())
        }
    }
}

/// What the UI shows about the background sync.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncStatus {
    /// End of the last round that completed.
    pub last_success: Option<SystemTime>,
    /// Unacknowledged local changes, as of the last attempt.
    pub pending: u64,
    /// Error of the last attempt; `None` once a round succeeds again.
    pub last_error: Option<String>,
    /// Failed rounds since the last success.
    pub consecutive_failures: u32,
    /// The last completed round.
    pub last_round: Option<SyncSummary>,
}

/// Timing of the background worker.
#[derive(Clone, Copy, Debug)]
pub struct WorkerOptions {
    /// Pause between successful rounds.
    pub interval: Duration,
    /// First pause after a failure; doubles on each further failure.
    pub min_backoff: Duration,
    /// Longest pause after failures (also the pause after a non-transient error): how long
    /// a station may go on not knowing the hub is back. The venue should have caught up
    /// within 10 s of an outage ending (issue 17), and a failed attempt at a hub that is
    /// down costs it next to nothing, so two seconds. At four, the stations back from the
    /// rehearsal's network cut spent up to 4 s of those 10 only waiting to try again.
    pub max_backoff: Duration,
    pub sync: SyncOptions,
    /// How long the hub may hold a pull open for other stations' changes (whole seconds;
    /// the hub caps it at 25 s); zero: no pull is held open, the interval alone syncs.
    pub listen: Duration,
    /// A round that a change (local, or heard of through the held pull) starts begins at
    /// least this long after the previous round: a stream of changes goes in batches, and
    /// a busy venue's stations ask the hub at most once a second each. At full size (issue
    /// 17's rehearsal) a quarter of a second had every station running four rounds a
    /// second, nine tenths of the stations' CPU, for a change or two each; a second halves
    /// the hub's requests and kept propagation within the 2 s goal (p99 1.1 s) in a
    /// full-size run whose machine had a core to spare (README, runs E and G).
    pub gather: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(2),
            sync: SyncOptions::default(),
            listen: Duration::from_secs(25),
            gather: Duration::from_secs(1),
        }
    }
}

enum WorkerCommand {
    /// A round now, online or not (the operator asked).
    SyncNow,
    /// Something changed here or at the hub: a round now if the last one succeeded.
    Changed,
    Stop,
}

/// Tells a [`SyncWorker`] that there is something to sync: a local change was queued. A
/// round starts at once while the station is online; offline, the backoff runs its course.
#[derive(Clone)]
pub struct SyncNudge(Sender<WorkerCommand>);

impl SyncNudge {
    /// False once the worker has stopped (the nudge can be thrown away).
    pub fn nudge(&self) -> bool {
        self.0.send(WorkerCommand::Changed).is_ok()
    }
}

/// A thread running [`run_once`] forever, with backoff after failures, and a thread
/// holding a pull open at the hub while online (see the module documentation).
pub struct SyncWorker {
    status: Arc<Mutex<SyncStatus>>,
    commands: Sender<WorkerCommand>,
    thread: Option<JoinHandle<()>>,
}

impl SyncWorker {
    /// Starts the thread; the first round begins at once. The outbox is moved into the
    /// thread (give it its own database connection).
    pub fn spawn<O>(client: HubClient, outbox: O, options: WorkerOptions) -> std::io::Result<Self>
    where
        O: StationOutbox + Send + 'static,
    {
        Self::spawn_reporting(client, outbox, options, None)
    }

    /// [`Self::spawn`], reporting a heartbeat with `figures` after every round and every
    /// [`HEARTBEAT_INTERVAL`] between rounds.
    pub fn spawn_reporting<O>(
        client: HubClient,
        outbox: O,
        options: WorkerOptions,
        figures: Option<Box<dyn StationFigures>>,
    ) -> std::io::Result<Self>
    where
        O: StationOutbox + Send + 'static,
    {
        let status = Arc::new(Mutex::new(SyncStatus::default()));
        let (commands, receiver) = mpsc::channel();
        let rounds = if options.listen.is_zero() {
            None
        } else {
            let (rounds, cursors) = mpsc::channel();
            let (client, nudge) = (client.clone(), SyncNudge(commands.clone()));
            // Not joined: it may be inside a held pull when the worker stops, and ends
            // when that answers (the hub holds one 25 s at most).
            std::thread::Builder::new()
                .name("expo-sync-listen".into())
                .spawn(move || listen(&client, &cursors, &nudge, options.listen))?;
            Some(rounds)
        };
        let shared = Arc::clone(&status);
        let thread = std::thread::Builder::new().name("expo-sync".into()).spawn(move || {
            let mut next_round = Instant::now();
            let mut next_heartbeat = next_round + HEARTBEAT_INTERVAL;
            let mut last_heartbeat: Option<Instant> = None;
            let mut online = false;
            let mut soonest_on_change = Instant::now();
            loop {
                let wake =
                    if figures.is_some() { next_round.min(next_heartbeat) } else { next_round };
                let command = match wake.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => receiver.recv_timeout(left),
                    _ => Err(RecvTimeoutError::Timeout),
                };
                let round_due = match command {
                    Ok(WorkerCommand::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    Ok(WorkerCommand::Changed) if !online => continue,
                    Ok(WorkerCommand::Changed) if Instant::now() < soonest_on_change => {
                        next_round = next_round.min(soonest_on_change);
                        continue;
                    }
                    Ok(WorkerCommand::SyncNow | WorkerCommand::Changed) => true,
                    Err(RecvTimeoutError::Timeout) => Instant::now() >= next_round,
                };
                if round_due {
                    // Whatever else was asked meanwhile is done by this round too.
                    loop {
                        match receiver.try_recv() {
                            Ok(WorkerCommand::Stop) | Err(TryRecvError::Disconnected) => return,
                            Ok(_) => {}
                            Err(TryRecvError::Empty) => break,
                        }
                    }
                    let outcome = run_once(&client, &outbox, options.sync);
                    online = outcome.is_ok();
                    if let (Ok(summary), Some(rounds)) = (&outcome, &rounds) {
                        // Fails only when the listener retired (the hub does not hold pulls).
                        let _ = rounds.send(summary.cursor);
                    }
                    let mut status = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    let delay = record_outcome(&mut status, outcome, &outbox, &options);
                    next_round = Instant::now() + delay;
                    soonest_on_change = Instant::now() + options.gather;
                }
                // After a round, unless one was sent moments ago (rounds nudged by local
                // changes come in bursts), and whenever the idle interval is up while the hub
                // answers (offline, an idle heartbeat would only wait out its connect timeout
                // and hold up the next round).
                let recently = last_heartbeat.is_some_and(|at| at.elapsed() < MIN_HEARTBEAT_GAP);
                let idle_up = Instant::now() >= next_heartbeat;
                if idle_up && !online {
                    next_heartbeat = Instant::now() + HEARTBEAT_INTERVAL;
                }
                let heartbeat_due = (idle_up && online) || (round_due && !recently);
                if let (Some(figures), true) = (&figures, heartbeat_due) {
                    let last_error =
                        shared.lock().unwrap_or_else(PoisonError::into_inner).last_error.clone();
                    report(&client, &outbox, figures.as_ref(), last_error);
                    last_heartbeat = Some(Instant::now());
                    next_heartbeat = Instant::now() + HEARTBEAT_INTERVAL;
                }
            }
        })?;
        Ok(Self { status, commands, thread: Some(thread) })
    }

    /// A handle that starts a round when a local change was queued (see [`SyncNudge`]).
    pub fn nudger(&self) -> SyncNudge {
        SyncNudge(self.commands.clone())
    }

    /// A snapshot of the current status.
    pub fn status(&self) -> SyncStatus {
        self.status.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Starts a round now instead of waiting for the interval or backoff to end.
    pub fn sync_now(&self) {
        // A send fails only when the thread is gone, which `stop` handles.
        let _ = self.commands.send(WorkerCommand::SyncNow);
    }

    /// Stops the thread after its current round.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // The send fails only when the thread already exited; joining it is still right.
        let _ = self.commands.send(WorkerCommand::Stop);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the sync thread panicked");
            }
        }
    }
}

impl Drop for SyncWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Sends one heartbeat. A hub that cannot take it (unreachable, or older than heartbeats)
/// changes nothing for sync, so a failure is only logged.
fn report<O: StationOutbox>(
    client: &HubClient,
    outbox: &O,
    figures: &dyn StationFigures,
    last_error: Option<String>,
) {
    let pending = match outbox.pending_count() {
        Ok(pending) => pending,
        Err(error) => {
            tracing::warn!(%error, "cannot count pending changes for the heartbeat");
            0
        }
    };
    let heartbeat = Heartbeat::new(figures, wall_clock_ms(), pending, last_error);
    if let Err(error) = client.heartbeat(&heartbeat) {
        tracing::debug!(%error, "heartbeat not delivered");
    }
}

/// The listener: after each successful round (its cursor arrives on `rounds`), holds a
/// pull open at the hub from that cursor and nudges the worker as soon as the hub answers
/// with changes; the worker's round then applies them. Stops when the worker stops, or
/// when the hub shows it does not hold pulls.
fn listen(client: &HubClient, rounds: &Receiver<i64>, nudge: &SyncNudge, wait: Duration) {
    while let Ok(mut cursor) = rounds.recv() {
        loop {
            // A round that ran meanwhile (the tick, a local change) may have moved on.
            loop {
                match rounds.try_recv() {
                    Ok(newer) => cursor = cursor.max(newer),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            match client.pull_waiting(cursor, 1, wait) {
                Ok((page, _)) if !page.changes.is_empty() => {
                    if !nudge.nudge() {
                        return;
                    }
                    break;
                }
                Ok((_, None)) => {
                    tracing::info!("the hub does not hold pulls open: syncing every interval");
                    return;
                }
                // It waited and nothing came: hold the next one.
                Ok((page, Some(granted))) if !granted.is_zero() => cursor = page.next_cursor,
                // The hub has no room for another held pull, or is stopping.
                Ok(_) => break,
                Err(error) => {
                    tracing::debug!(%error, "held pull failed; listening again after a round");
                    // The hub went away (killed, restarting, the network cut): a round now
                    // finds out, and its backoff takes over, rather than an idle station
                    // noticing only at its next tick.
                    if error.is_transient() && !nudge.nudge() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// Updates the status after a round and returns the pause before the next one.
fn record_outcome<O: StationOutbox>(
    status: &mut SyncStatus,
    outcome: Result<SyncSummary, SyncError>,
    outbox: &O,
    options: &WorkerOptions,
) -> Duration {
    match outcome {
        Ok(summary) => {
            status.last_success = Some(SystemTime::now());
            status.pending = summary.pending_after;
            status.last_error = None;
            status.consecutive_failures = 0;
            status.last_round = Some(summary);
            options.interval
        }
        Err(error) => {
            tracing::warn!(%error, "sync round failed");
            match outbox.pending_count() {
                Ok(pending) => status.pending = pending,
                Err(store) => tracing::error!(error = %store, "cannot count pending changes"),
            }
            status.consecutive_failures = status.consecutive_failures.saturating_add(1);
            let delay = if error.is_transient() {
                backoff(status.consecutive_failures, options.min_backoff, options.max_backoff)
            } else {
                options.max_backoff
            };
            status.last_error = Some(error.to_string());
            delay
        }
    }
}

/// `min * 2^(failures-1)`, capped at `max`, less a random part of up to half of it, so a
/// hall of stations that lost the hub at one moment does not come back in one wave, and
/// none waits longer than `max`.
fn backoff(failures: u32, min: Duration, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    let base = min.saturating_mul(1 << doublings).min(max);
    let jitter_ms = u64::try_from(base.as_millis() / 2).unwrap_or(u64::MAX);
    base - Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_waits_longer() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(1));
        let first = backoff(1, min, max);
        assert!(first >= min / 2 && first <= min);
        let third = backoff(3, min, max);
        assert!(third >= min * 2 && third <= min * 4);
        let many: Vec<Duration> = (0..200).map(|_| backoff(40, min, max)).collect();
        assert!(many.iter().all(|&pause| pause >= max / 2 && pause <= max));
        // Spread, so stations that failed together come back apart.
        let (earliest, latest) = (many.iter().min().unwrap(), many.iter().max().unwrap());
        assert!(*latest - *earliest > max / 4, "{earliest:?}..{latest:?}");
    }

    #[test]
    fn a_station_waits_a_few_seconds_at_most_to_find_the_hub_back() {
        let options = WorkerOptions::default();
        assert!(options.max_backoff <= Duration::from_secs(2));
        assert!((1..64).all(|failures| {
            backoff(failures, options.min_backoff, options.max_backoff) <= options.max_backoff
        }));
    }
}
