//! Emergency and lock-down: the commands, and the Unix socket that accepts them from
//! `expo-kiosk gate control`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::inputs::Input;

/// Longest command line accepted from the socket or an alarm input.
const MAX_COMMAND: u64 = 64;
/// How long a control client waits for the gate to answer.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(3);
const ACCEPT_POLL: Duration = Duration::from_millis(100);

/// What the whole gate is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Scans are decided by the access rules.
    Normal,
    /// Every lane held open (fire alarm); scans are not decided.
    Emergency,
    /// Every lane closed; every scan denied with reason `lockdown`.
    Lockdown,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Emergency => "emergency",
            Mode::Lockdown => "lockdown",
        }
    }
}

/// A command to the running gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlCommand {
    /// Switch the gate's mode.
    Set(Mode),
    /// Report the mode.
    Status,
    /// Stop the gate process.
    Stop,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown gate command {0:?}: use emergency, lockdown, normal, status or stop")]
pub struct UnknownCommand(pub String);

impl std::str::FromStr for ControlCommand {
    type Err = UnknownCommand;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "emergency" => Ok(ControlCommand::Set(Mode::Emergency)),
            "lockdown" => Ok(ControlCommand::Set(Mode::Lockdown)),
            "normal" => Ok(ControlCommand::Set(Mode::Normal)),
            "status" => Ok(ControlCommand::Status),
            "stop" => Ok(ControlCommand::Stop),
            _ => Err(UnknownCommand(text.chars().take(MAX_COMMAND as usize).collect())),
        }
    }
}

/// The gate's answer to a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControlReply {
    pub mode: Mode,
    pub lanes: usize,
}

/// Serves the control socket until dropped.
pub(crate) struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    pub(crate) fn spawn(path: &Path, inputs: Sender<Input>) -> std::io::Result<Self> {
        if path.exists() && UnixStream::connect(path).is_err() {
            // A socket file left by a gate that died: nobody answers on it.
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("gate-control".into())
            .spawn(move || serve(&listener, &inputs, &thread_stop))?;
        Ok(Self { path: path.to_owned(), stop, thread: Some(thread) })
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("gate control thread panicked");
            }
        }
        if let Err(error) = std::fs::remove_file(&self.path) {
            tracing::warn!(%error, path = %self.path.display(), "cannot remove control socket");
        }
    }
}

fn serve(listener: &UnixListener, inputs: &Sender<Input>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(error) = answer(stream, inputs) {
                    tracing::warn!(%error, "gate control connection failed");
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
            }
            Err(error) => {
                tracing::error!(%error, "gate control socket failed");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Reads one command line, passes it to the gate, writes the gate's JSON answer.
fn answer(stream: UnixStream, inputs: &Sender<Input>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_COMMAND)).read_line(&mut line)?;
    let reply = match line.parse::<ControlCommand>() {
        Ok(command) => match submit(inputs, command) {
            Some(reply) => serde_json::to_string(&reply).map_err(std::io::Error::other)?,
            None => serde_json::json!({ "error": "the gate is not answering" }).to_string(),
        },
        Err(unknown) => serde_json::json!({ "error": unknown.to_string() }).to_string(),
    };
    let mut stream = stream;
    writeln!(stream, "{reply}")
}

/// Sends `command` to the gate loop and waits for its answer.
pub(crate) fn submit(inputs: &Sender<Input>, command: ControlCommand) -> Option<ControlReply> {
    let (reply, answer) = mpsc::channel();
    inputs.send(Input::Control { command, reply: Some(reply) }).ok()?;
    answer.recv_timeout(REPLY_TIMEOUT).ok()
}

/// The client side: sends `command` to a running gate's socket and returns its JSON answer.
pub fn send(socket: &Path, command: ControlCommand) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let word = match command {
        ControlCommand::Set(mode) => mode.as_str(),
        ControlCommand::Status => "status",
        ControlCommand::Stop => "stop",
    };
    writeln!(stream, "{word}")?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(reply.trim_end().to_owned())
}
