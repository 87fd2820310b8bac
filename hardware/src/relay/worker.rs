//! A relay on its own thread: gate lanes queue commands and never wait for a pulse.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{GateRelay, RelayError};

/// A command queued for the relay thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayCommand {
    /// Open a channel for a while.
    Pulse {
        /// Channel from 1.
        channel: u8,
        /// How long it stays open.
        duration: Duration,
    },
    /// Open a channel until closed.
    HoldOpen(u8),
    /// Close a channel.
    Close(u8),
    /// Close every channel.
    CloseAll,
}

/// The result of one queued command, reported after it ran.
#[derive(Debug)]
pub struct RelayOutcome {
    /// The command that ran.
    pub command: RelayCommand,
    /// What the relay answered.
    pub result: Result<(), RelayError>,
}

/// Runs a [`GateRelay`] on a thread; its own [`GateRelay`] methods only queue and return at once.
///
/// Dropping the worker lets queued commands finish (so a pulse in progress still closes its
/// gate), then stops the thread.
pub struct RelayWorker {
    commands: Option<Sender<RelayCommand>>,
    outcomes: Receiver<RelayOutcome>,
    thread: Option<JoinHandle<()>>,
}

impl RelayWorker {
    /// Moves `relay` onto a new thread.
    pub fn spawn<R: GateRelay + Send + 'static>(mut relay: R) -> std::io::Result<Self> {
        let (commands, command_rx) = mpsc::channel::<RelayCommand>();
        let (outcome_tx, outcomes) = mpsc::channel();
        let thread = std::thread::Builder::new().name("relay-worker".into()).spawn(move || {
            for command in command_rx {
                let result = match command {
                    RelayCommand::Pulse { channel, duration } => relay.pulse(channel, duration),
                    RelayCommand::HoldOpen(channel) => relay.hold_open(channel),
                    RelayCommand::Close(channel) => relay.close(channel),
                    RelayCommand::CloseAll => relay.close_all(),
                };
                if let Err(error) = &result {
                    tracing::error!(?command, %error, "relay command failed");
                }
                // The owner may have stopped listening for outcomes; the command still ran.
                let _ = outcome_tx.send(RelayOutcome { command, result });
            }
        })?;
        Ok(Self { commands: Some(commands), outcomes, thread: Some(thread) })
    }

    /// Outcomes of queued commands, in order.
    pub fn outcomes(&self) -> &Receiver<RelayOutcome> {
        &self.outcomes
    }

    /// Queues `command` without waiting for it.
    pub fn submit(&self, command: RelayCommand) -> Result<(), RelayError> {
        self.commands
            .as_ref()
            .ok_or(RelayError::WorkerStopped)?
            .send(command)
            .map_err(|_| RelayError::WorkerStopped)
    }
}

impl GateRelay for RelayWorker {
    fn pulse(&mut self, channel: u8, duration: Duration) -> Result<(), RelayError> {
        self.submit(RelayCommand::Pulse { channel, duration })
    }

    fn hold_open(&mut self, channel: u8) -> Result<(), RelayError> {
        self.submit(RelayCommand::HoldOpen(channel))
    }

    fn close(&mut self, channel: u8) -> Result<(), RelayError> {
        self.submit(RelayCommand::Close(channel))
    }

    fn close_all(&mut self) -> Result<(), RelayError> {
        self.submit(RelayCommand::CloseAll)
    }
}

impl Drop for RelayWorker {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("relay worker thread panicked");
            }
        }
    }
}
