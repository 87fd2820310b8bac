//! The gate loop: one thread owns the store and the relay boards, decides each scan,
//! logs it, then drives the lane's relay; timers close pulses and annul entries nobody
//! walked through.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use expo_hardware::relay::{RelayCommand, RelayWorker};
use expo_hardware::scanner::ScanEvent;
use expo_sync::protocol::GateDecisionRecord;
use rusqlite::OptionalExtension;
use serde_json::json;
use uuid::Uuid;

use super::config::LaneConfig;
use super::control::{ControlCommand, ControlReply, Mode};
use super::inputs::Input;
use super::log::{self, StoreKnowledge};
use super::{Clock, Entered, LaneVerdict};
use crate::access::{self, Decision, GateContext, Reason};
use crate::domain::{AttendeeId, EventDefinition};
use crate::registration;
use crate::station_sync::EventWatch;
use crate::store::{Store, StoreError};

/// Most scans decided and logged together in one transaction.
const MAX_GROUP: usize = 64;

/// A scanned code waiting for its decision.
struct Scan {
    lane: usize,
    code: String,
    arrived: Instant,
}

/// A decision made but not yet logged.
struct Decided {
    lane: usize,
    record: GateDecisionRecord,
    decision: Decision,
    arrived: Instant,
}

/// Longest wait for input when no timer is due (bounds how late a stuck timer fires, and
/// how late the event watch looks).
const IDLE_WAIT: Duration = Duration::from_secs(1);

pub(crate) struct Board {
    pub id: String,
    pub worker: RelayWorker,
    /// For each command queued on the worker, oldest first, the grant it opens the gate
    /// for, if any: the worker reports outcomes in the same order.
    queued: VecDeque<Option<Grant>>,
}

/// A granted decision on its way to the relay.
struct Grant {
    lane: usize,
    record: GateDecisionRecord,
    reason: Reason,
}

impl Board {
    pub fn new(id: String, worker: RelayWorker) -> Self {
        Board { id, worker, queued: VecDeque::new() }
    }
}

pub(crate) struct Lane {
    pub config: LaneConfig,
    pub board: usize,
    /// When the open pulse ends.
    open_until: Option<Instant>,
    /// When the denial signal ends.
    deny_until: Option<Instant>,
    /// Grants waiting for the turnstile's "passed" signal, oldest first.
    awaiting_pass: VecDeque<(GateDecisionRecord, Reason, Instant)>,
}

impl Lane {
    pub fn new(config: LaneConfig, board: usize) -> Self {
        Lane { config, board, open_until: None, deny_until: None, awaiting_pass: VecDeque::new() }
    }
}

pub(crate) struct Runtime {
    pub store: Store,
    /// The event as the store held it when the gate started.
    pub event: EventDefinition,
    pub gate: String,
    pub clock: Arc<dyn Clock>,
    pub lanes: Vec<Lane>,
    pub boards: Vec<Board>,
    pub verdicts: SyncSender<LaneVerdict>,
    pub mode: Mode,
    /// Notices keys of new signing stations and definition changes that sync wrote, so they
    /// apply without a restart (revocations and other gates' entries need no watch: they are
    /// read from the database on every scan).
    pub event_watch: EventWatch,
}

impl Runtime {
    /// Runs until a stop command or until every input sender is gone.
    pub fn run(mut self, inputs: Receiver<Input>) {
        loop {
            self.drain_relay_outcomes();
            let wait = self
                .next_deadline()
                .map_or(IDLE_WAIT, |due| due.saturating_duration_since(Instant::now()));
            match inputs.recv_timeout(wait) {
                Ok(first) => {
                    if !self.take_inputs(first, &inputs) {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.fire_timers(Instant::now());
            self.refresh_event();
        }
        self.shut_down();
    }

    /// Handles `first` and whatever else already waits. Scans that queued up while the
    /// last commit ran are decided together and logged in one transaction (group commit:
    /// one fsync for all of them); other inputs keep their place in the order. False on a
    /// stop command.
    fn take_inputs(&mut self, first: Input, inputs: &Receiver<Input>) -> bool {
        let mut scans = Vec::new();
        let mut next = Some(first);
        while let Some(input) = next.take() {
            match input {
                Input::Scan { lane, event: ScanEvent::Code(code), arrived } => {
                    scans.push(Scan { lane, code, arrived });
                    if scans.len() < MAX_GROUP {
                        next = inputs.try_recv().ok();
                    }
                }
                other => {
                    self.decide_all(std::mem::take(&mut scans));
                    if !self.handle(other) {
                        return false;
                    }
                    next = inputs.try_recv().ok();
                }
            }
        }
        self.decide_all(scans);
        true
    }

    /// Handles an input other than a scanned code; false on a stop command.
    fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Control { command: ControlCommand::Stop, reply } => {
                self.reply(reply);
                return false;
            }
            Input::Control { command, reply } => {
                if let ControlCommand::Set(mode) = command {
                    self.set_mode(mode);
                }
                self.reply(reply);
            }
            Input::Scan { lane, event, .. } => self.on_scanner_news(lane, event),
            Input::Passed { lane } => self.on_passed(lane),
        }
        true
    }

    fn refresh_event(&mut self) {
        if !self.event_watch.changed(&self.store) {
            return;
        }
        let reloaded = self
            .store
            .reload_event()
            .and_then(|()| self.store.event().map(|event| event.definition.clone()));
        match reloaded {
            Ok(definition) => self.event = definition,
            Err(error) => {
                tracing::error!(%error, "cannot reload the event; keeping the one in memory")
            }
        }
    }

    fn reply(&self, reply: Option<std::sync::mpsc::Sender<ControlReply>>) {
        if let Some(reply) = reply {
            // The asker may have given up waiting; the command took effect regardless.
            let _ = reply.send(ControlReply { mode: self.mode, lanes: self.lanes.len() });
        }
    }

    fn on_scanner_news(&mut self, lane: usize, event: ScanEvent) {
        let Some(lane_id) = self.lanes.get(lane).map(|l| l.config.id.clone()) else {
            return;
        };
        match event {
            // Codes arrive through `decide_all`; one reaching here has no lane to go to.
            ScanEvent::Code(_) => {}
            ScanEvent::Error(error) => {
                tracing::warn!(lane = %lane_id, %error, "scanner line dropped");
            }
            ScanEvent::Disconnected(reason) => {
                tracing::error!(lane = %lane_id, %reason, "scanner disconnected");
            }
            ScanEvent::Reconnected => tracing::info!(lane = %lane_id, "scanner reconnected"),
        }
    }

    /// Decides scans in arrival order and logs them in as few transactions as possible: a
    /// holder seen twice in one group forces the first part to be committed first, so the
    /// second decision reads the first (anti-passback, entries per day).
    fn decide_all(&mut self, scans: Vec<Scan>) {
        let mut group: Vec<Decided> = Vec::new();
        for scan in scans {
            if scan.lane >= self.lanes.len() {
                continue;
            }
            let Some(mut decided) = self.decide(&scan) else { continue };
            let repeated = |group: &[Decided], decided: &Decided| {
                decided.record.attendee_id.is_some()
                    && group.iter().any(|d| d.record.attendee_id == decided.record.attendee_id)
            };
            if repeated(&group, &decided) {
                self.log_and_act(std::mem::take(&mut group));
                match self.decide(&scan) {
                    Some(again) => decided = again,
                    None => continue,
                }
            }
            group.push(decided);
        }
        self.log_and_act(group);
    }

    /// The engine's decision on one scan, not yet logged; `None` when every lane is held
    /// open and scans are ignored.
    fn decide(&self, scan: &Scan) -> Option<Decided> {
        let lane = &self.lanes[scan.lane].config;
        let now = self.clock.now();
        let decision = match self.mode {
            Mode::Emergency => {
                tracing::info!(lane = %lane.id, "scan ignored: every lane is held open");
                return None;
            }
            Mode::Lockdown => Decision { reason: Reason::Lockdown, holder: None },
            Mode::Normal => match StoreKnowledge::new(&self.store) {
                Ok(knowledge) => {
                    let local = now.with_timezone(&self.event.timezone()).naive_local();
                    let gate = GateContext { zone: &lane.zone, direction: lane.direction };
                    access::decide(&scan.code, gate, local, &self.event, &knowledge)
                }
                Err(error) => {
                    tracing::error!(%error, "cannot read the station's trust; denying");
                    Decision { reason: Reason::StateUnavailable, holder: None }
                }
            },
        };
        let record = log::decision_record(&self.gate, lane, &decision, now);
        Some(Decided { lane: scan.lane, record, decision, arrived: scan.arrived })
    }

    /// Logs a group of decisions with their outbox rows in one transaction, then opens or
    /// signals each lane. Nothing opens before its decision is on disk.
    fn log_and_act(&mut self, group: Vec<Decided>) {
        if group.is_empty() {
            return;
        }
        let records: Vec<GateDecisionRecord> = group.iter().map(|d| d.record.clone()).collect();
        let logged = log::record_all(&mut self.store, &records);
        if let Err(error) = &logged {
            // An entry that is not in the log would escape anti-passback and the
            // statistics: without a durable record the gate stays shut.
            tracing::error!(%error, decisions = group.len(), "cannot log the decisions; denying");
        }
        for Decided { lane, record, decision, arrived } in group {
            let decision = match logged {
                Ok(()) => decision,
                Err(_) => Decision { reason: Reason::StateUnavailable, holder: decision.holder },
            };
            if decision.granted() {
                self.open(Grant { lane, record: record.clone(), reason: decision.reason });
                if let Some(confirm) = &self.lanes[lane].config.pass_confirm {
                    let deadline = Instant::now() + Duration::from_secs_f64(confirm.timeout_s);
                    self.lanes[lane].awaiting_pass.push_back((
                        record.clone(),
                        decision.reason,
                        deadline,
                    ));
                }
            } else {
                self.signal_denial(lane);
            }
            tracing::debug!(
                lane = %record.lane,
                reason = %record.reason,
                latency_us = arrived.elapsed().as_micros() as u64,
                "decided"
            );
            self.publish(&record, decision.reason, decision.holder.map(|h| h.category_code));
        }
    }

    fn on_passed(&mut self, lane: usize) {
        let Some(lane) = self.lanes.get_mut(lane) else { return };
        if lane.awaiting_pass.pop_front().is_none() {
            tracing::warn!(lane = %lane.config.id, "turnstile passage without a grant");
        }
    }

    /// Opens the grant's lane; should the relay fail, the grant is annulled.
    fn open(&mut self, grant: Grant) {
        let lane = grant.lane;
        let pulse = Duration::from_millis(self.lanes[lane].config.pulse_ms);
        let channel = self.lanes[lane].config.channel;
        self.submit_for(lane, RelayCommand::HoldOpen(channel), Some(grant));
        self.lanes[lane].open_until = Some(Instant::now() + pulse);
    }

    fn signal_denial(&mut self, lane: usize) {
        let Some(channel) = self.lanes[lane].config.deny_channel else { return };
        let pulse = Duration::from_millis(self.lanes[lane].config.deny_pulse_ms);
        self.submit(lane, RelayCommand::HoldOpen(channel));
        self.lanes[lane].deny_until = Some(Instant::now() + pulse);
    }

    fn submit(&mut self, lane: usize, command: RelayCommand) {
        self.submit_for(lane, command, None);
    }

    /// Queues `command` on the lane's board, remembering the grant it opens for.
    fn submit_for(&mut self, lane: usize, command: RelayCommand, grant: Option<Grant>) {
        let board = &mut self.boards[self.lanes[lane].board];
        match board.worker.submit(command) {
            Ok(()) => board.queued.push_back(grant),
            Err(error) => {
                tracing::error!(board = %board.id, ?command, %error, "relay command not queued");
                if let Some(grant) = grant {
                    self.gate_did_not_open(grant);
                }
            }
        }
    }

    /// A grant whose gate never opened: nobody went through, so it must not count as an
    /// entry (hard anti-passback would refuse the visitor's next scan).
    fn gate_did_not_open(&mut self, grant: Grant) {
        let lane = &mut self.lanes[grant.lane];
        if lane.config.pass_confirm.is_some() {
            let waiting = lane.awaiting_pass.len();
            lane.awaiting_pass.retain(|(record, _, _)| record.id != grant.record.id);
            if lane.awaiting_pass.len() == waiting {
                return; // its pass timer annulled it, or the turnstile counted it through
            }
        }
        self.annul(&grant.record, grant.reason);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.lanes
            .iter()
            .flat_map(|lane| {
                let pass = lane.awaiting_pass.front().map(|(_, _, due)| *due);
                [lane.open_until, lane.deny_until, pass]
            })
            .flatten()
            .min()
    }

    fn fire_timers(&mut self, now: Instant) {
        for index in 0..self.lanes.len() {
            let lane = &mut self.lanes[index];
            let close_open = lane.open_until.is_some_and(|due| due <= now);
            let close_deny = lane.deny_until.is_some_and(|due| due <= now);
            let mut expired = Vec::new();
            while lane.awaiting_pass.front().is_some_and(|(_, _, due)| *due <= now) {
                expired.extend(
                    lane.awaiting_pass.pop_front().map(|(record, reason, _)| (record, reason)),
                );
            }
            if close_open {
                lane.open_until = None;
                let channel = lane.config.channel;
                self.submit(index, RelayCommand::Close(channel));
            }
            if close_deny {
                self.lanes[index].deny_until = None;
                if let Some(channel) = self.lanes[index].config.deny_channel {
                    self.submit(index, RelayCommand::Close(channel));
                }
            }
            for (record, reason) in expired {
                self.annul(&record, reason);
            }
        }
    }

    /// Nobody walked through: the entry does not count (not inside, not an entry today).
    fn annul(&mut self, record: &GateDecisionRecord, reason: Reason) {
        match log::annul(&mut self.store, record) {
            Ok(()) => {
                let annulled = GateDecisionRecord { annulled: true, ..record.clone() };
                self.publish(&annulled, reason, None);
            }
            Err(error) => tracing::error!(%error, id = %record.id, "cannot annul an entry"),
        }
    }

    fn set_mode(&mut self, mode: Mode) {
        let previous = self.mode;
        self.mode = mode;
        for index in 0..self.lanes.len() {
            let lane = &mut self.lanes[index];
            lane.open_until = None;
            lane.deny_until = None;
            let (channel, deny) = (lane.config.channel, lane.config.deny_channel);
            let command = match mode {
                Mode::Emergency => RelayCommand::HoldOpen(channel),
                Mode::Normal | Mode::Lockdown => RelayCommand::Close(channel),
            };
            self.submit(index, command);
            if let Some(deny) = deny {
                self.submit(index, RelayCommand::Close(deny));
            }
        }
        if previous != mode {
            tracing::warn!(?previous, ?mode, "gate mode changed");
            let actor = format!("gate:{}", self.gate);
            let detail = json!({ "from": previous.as_str(), "to": mode.as_str() });
            let audited: Result<(), StoreError> =
                self.store.write(|tx| tx.audit(&actor, "gate_mode", None, detail));
            if let Err(error) = audited {
                // The lanes already follow the new mode; only its audit entry is missing.
                tracing::error!(%error, "cannot audit the gate mode change");
            }
        }
    }

    fn drain_relay_outcomes(&mut self) {
        let mut not_opened = Vec::new();
        for board in &mut self.boards {
            while let Ok(outcome) = board.worker.outcomes().try_recv() {
                let grant = board.queued.pop_front().flatten();
                if let Err(error) = outcome.result {
                    tracing::error!(board = %board.id, command = ?outcome.command, %error, "relay failed");
                    // An uncertain failure keeps the grant: the gate may well have opened.
                    if error.surely_not_switched() {
                        not_opened.extend(grant);
                    }
                }
            }
        }
        for grant in not_opened {
            self.gate_did_not_open(grant);
        }
    }

    fn publish(&self, record: &GateDecisionRecord, reason: Reason, category_code: Option<u8>) {
        let category = category_code.and_then(|code| self.event.category_by_code(code));
        let name = record.attendee_id.and_then(|id| {
            registration::load(self.store.conn(), AttendeeId(id))
                .inspect_err(|error| tracing::warn!(%error, "cannot load the holder's name"))
                .ok()
                .flatten()
                .map(|attendee| attendee.name)
        });
        let (message_en, message_zh) = reason.label();
        let entered = match (reason, record.attendee_id) {
            (Reason::Passback | Reason::PassbackFlagged, Some(attendee)) => {
                self.last_entry(attendee, record)
            }
            _ => None,
        };
        let verdict = LaneVerdict {
            decision_id: record.id,
            lane: record.lane.clone(),
            zone: record.zone.clone(),
            direction: record.direction.clone(),
            granted: record.granted && !record.annulled,
            reason,
            annulled: record.annulled,
            attendee_id: record.attendee_id,
            name,
            category: category.map(|c| c.id.clone()),
            category_zh: category.map(|c| c.label_zh.clone()),
            category_en: category.map(|c| c.label_en.clone()),
            message_en,
            message_zh,
            at: record.at.clone(),
            entered,
        };
        match self.verdicts.try_send(verdict) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            // A screen that fell behind misses verdicts; the gate never waits for it.
            Err(TrySendError::Full(_)) => tracing::debug!("verdict display is behind"),
        }
    }

    /// The holder's last counted entry into the decision's zone before it.
    fn last_entry(&self, attendee: Uuid, record: &GateDecisionRecord) -> Option<Entered> {
        self.store
            .conn()
            .prepare_cached(
                "SELECT at, lane FROM gate_decisions WHERE attendee_id = ?1 AND zone = ?2 \
                 AND direction = 'in' AND granted = 1 AND annulled = 0 AND id != ?3 \
                 ORDER BY at DESC, rowid DESC LIMIT 1",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(
                        rusqlite::params![attendee.to_string(), record.zone, record.id.to_string()],
                        |r| Ok(Entered { at: r.get(0)?, lane: r.get(1)? }),
                    )
                    .optional()
            })
            .inspect_err(|error| tracing::warn!(%error, "cannot read the holder's last entry"))
            .ok()
            .flatten()
    }

    fn shut_down(&mut self) {
        if self.mode == Mode::Emergency {
            // A fire alarm outlives the process: the lanes stay open.
            return;
        }
        for index in 0..self.lanes.len() {
            let lane = &self.lanes[index].config;
            let channels = std::iter::once(lane.channel).chain(lane.deny_channel);
            for channel in channels.collect::<Vec<_>>() {
                self.submit(index, RelayCommand::Close(channel));
            }
        }
    }
}
