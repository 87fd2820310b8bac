//! The headless gate process: lanes, relays and the entry log.
//!
//! [`Gate::start`] opens every relay board, starts one reader thread per scanner and pass
//! input, and one loop thread that owns the store: for each scan it asks
//! [`crate::access::decide`], writes the decision to `gate_decisions` in the same
//! transaction as its outbox row, then queues the relay command (relay boards run on
//! their own worker threads, so no lane waits for another lane's pulse). Each decision is
//! also published as a [`LaneVerdict`] for a verdict screen.

mod config;
pub mod control;
mod inputs;
mod log;
mod runtime;

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use expo_hardware::relay::{RelayError, RelayWorker, ReopeningRelay};
use serde::Serialize;
use uuid::Uuid;

pub use config::{
    ConfigError, ControlConfig, GateConfig, LaneConfig, LineInputConfig, PassConfirmConfig,
    RelayBoardConfig, ScannerConfig,
};
pub use control::{ControlCommand, ControlReply, Mode};
pub use log::{annul, decision_record, record_all as record_decisions, StoreKnowledge};

use crate::access::Reason;
use crate::station_sync::EventWatch;
use crate::store::{Store, StoreError};
use control::ControlServer;
use inputs::{Input, Inputs};
use runtime::{Board, Lane, Runtime};

/// Verdicts waiting for a screen before new ones are dropped.
const VERDICT_BACKLOG: usize = 1024;

/// Where the gate reads the time (tests pin it; the engine itself never reads a clock).
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// One decision as a verdict screen shows it (and `gate` prints it, one JSON line each).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LaneVerdict {
    pub decision_id: Uuid,
    pub lane: String,
    pub zone: String,
    /// `in` or `out`.
    pub direction: String,
    pub granted: bool,
    pub reason: Reason,
    /// A grant nobody walked through in time (sent as a second verdict for the same id).
    pub annulled: bool,
    pub attendee_id: Option<Uuid>,
    /// The holder's name where this station holds attendees.
    pub name: Option<String>,
    pub category: Option<String>,
    pub category_zh: Option<String>,
    pub category_en: Option<String>,
    pub message_en: &'static str,
    pub message_zh: &'static str,
    pub at: String,
    /// For an "already inside" verdict: when (RFC 3339 UTC) and through which lane the
    /// holder last entered this zone, so the screen can say since when.
    pub entered: Option<Entered>,
}

impl LaneVerdict {
    /// The holder may walk through: granted, and not annulled since.
    pub fn is_pass(&self) -> bool {
        self.granted && !self.annulled
    }
}

/// A holder's last counted entry into a zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entered {
    pub at: String,
    pub lane: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("relay board {board}: {source}")]
    Relay { board: String, source: RelayError },
    #[error("cannot start the gate: {0}")]
    Io(#[from] std::io::Error),
    #[error("the gate loop has stopped")]
    Stopped,
    #[error("the gate loop panicked")]
    Panicked,
}

/// A running gate. Dropping it without [`Gate::stop`] leaves the loop running until the
/// process ends.
/// Stops a running gate; see [`Gate::stopper`].
#[derive(Clone)]
pub struct Stopper(Sender<Input>);

impl Stopper {
    /// Asks the gate to stop; false when it has stopped already.
    pub fn stop(&self) -> bool {
        control::submit(&self.0, ControlCommand::Stop).is_some()
    }
}

pub struct Gate {
    commands: Sender<Input>,
    verdicts: Receiver<LaneVerdict>,
    keyboard: bool,
    thread: Option<JoinHandle<()>>,
    // Dropped after the loop stopped (see `stop`): device readers, then the socket.
    inputs: Option<Inputs>,
    control: Option<ControlServer>,
}

impl Gate {
    /// Opens the relay boards, starts the lanes and returns at once.
    pub fn start(
        store: Store,
        config: GateConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Gate, GateError> {
        let event = store.event()?.definition.clone();
        let mut boards = Vec::new();
        for board in &config.relays {
            let relay_error = |source| GateError::Relay { board: board.id.clone(), source };
            let driver =
                ReopeningRelay::open(&board.path, board.settings()).map_err(relay_error)?;
            boards.push(Board::new(board.id.clone(), RelayWorker::spawn(driver)?));
        }
        let lanes = config
            .lanes
            .iter()
            .map(|lane| {
                // `GateConfig::from_toml` has checked that every lane names a board.
                let board = config.board_index(&lane.relay).unwrap_or_default();
                Lane::new(lane.clone(), board)
            })
            .collect::<Vec<_>>();
        let (commands, inbox) = mpsc::channel();
        let (verdict_sender, verdicts) = mpsc::sync_channel(VERDICT_BACKLOG);
        let event_watch = EventWatch::new(&store);
        let runtime = Runtime {
            gate: config.gate.clone().unwrap_or_else(|| store.station_id().to_owned()),
            store,
            event,
            clock,
            lanes,
            boards,
            verdicts: verdict_sender,
            mode: Mode::Normal,
            event_watch,
        };
        let thread = std::thread::Builder::new()
            .name("gate-loop".into())
            .spawn(move || runtime.run(inbox))?;
        let inputs = Inputs::spawn(&config, &commands)?;
        let control = config
            .control
            .socket
            .as_deref()
            .map(|path| ControlServer::spawn(path, commands.clone()))
            .transpose()?;
        Ok(Gate {
            commands,
            verdicts,
            keyboard: config.uses_keyboard(),
            thread: Some(thread),
            inputs: Some(inputs),
            control,
        })
    }

    /// Every decision, in order, for a verdict screen.
    pub fn verdicts(&self) -> &Receiver<LaneVerdict> {
        &self.verdicts
    }

    /// Sends a command and waits for the gate's answer.
    pub fn command(&self, command: ControlCommand) -> Result<ControlReply, GateError> {
        control::submit(&self.commands, command).ok_or(GateError::Stopped)
    }

    /// Reads control commands (`emergency`, `lockdown`, `normal`, `status`, `stop`) from
    /// standard input, one per line, printing each answer as JSON; unless a lane reads the
    /// keyboard. At end of input, stdin simply stops being read.
    pub fn control_from_stdin(&self) -> Result<(), GateError> {
        if self.keyboard {
            return Ok(());
        }
        let commands = self.commands.clone();
        let settings = expo_hardware::scanner::ScannerSettings {
            terminator: expo_hardware::scanner::Terminator::Lf,
            strip_aim: false,
            debounce: std::time::Duration::ZERO,
            max_line: 64,
            ..expo_hardware::scanner::ScannerSettings::new("stdin")
        };
        inputs::spawn_detached("gate-stdin-control", move || {
            inputs::read_stdin_lines(&settings, |event| {
                let expo_hardware::scanner::ScanEvent::Code(line) = event else { return true };
                match line.parse::<ControlCommand>() {
                    Ok(command) => match control::submit(&commands, command) {
                        Some(reply) => println!(
                            "{}",
                            serde_json::json!({
                                "control": { "mode": reply.mode.as_str(), "lanes": reply.lanes }
                            })
                        ),
                        None => return false,
                    },
                    Err(unknown) => eprintln!("{unknown}"),
                }
                true
            })
        })?;
        Ok(())
    }

    /// Blocks until the gate stops (a `stop` command), then shuts the lanes down.
    pub fn wait(mut self) -> Result<(), GateError> {
        self.join()
    }

    /// A handle that stops the gate from another thread (a signal handler): the loop
    /// closes every lane's relay before it ends, exactly as `stop` does.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.commands.clone())
    }

    /// Stops the gate: closes every lane (except in emergency), then joins the threads.
    pub fn stop(mut self) -> Result<(), GateError> {
        // The loop may already have stopped on its own; joining reports how it ended.
        let _ = control::submit(&self.commands, ControlCommand::Stop);
        self.join()
    }

    fn join(&mut self) -> Result<(), GateError> {
        let outcome = match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| GateError::Panicked),
            None => Ok(()),
        };
        drop(self.inputs.take());
        drop(self.control.take());
        outcome
    }
}
