//! Everything that feeds the gate loop: each lane's scanner and pass input, the alarm
//! input and the keyboard, each on its own thread, all forwarding into one channel.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use expo_hardware::scanner::{
    normalize, CodeSource, LineSplitter, ScanEvent, ScannerSettings, SerialScanner, Terminator,
};

use super::config::{GateConfig, LineInputConfig, ScannerConfig};
use super::control::{ControlCommand, ControlReply};

/// How often a forwarding thread checks whether it must stop.
const STOP_POLL: Duration = Duration::from_millis(100);

/// One event for the gate loop.
pub(crate) enum Input {
    /// A scanner of lane `lane` reported something; `arrived` is when the line came in.
    Scan { lane: usize, event: ScanEvent, arrived: Instant },
    /// The turnstile of lane `lane` reported one person through.
    Passed { lane: usize },
    /// An emergency, lock-down, status or stop command; the answer goes to `reply`.
    Control { command: ControlCommand, reply: Option<Sender<ControlReply>> },
}

/// The input threads; dropping this stops the device readers (a thread blocked on
/// standard input ends with the process).
pub(crate) struct Inputs {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Inputs {
    pub(crate) fn spawn(config: &GateConfig, sink: &Sender<Input>) -> std::io::Result<Self> {
        let mut inputs = Inputs { stop: Arc::new(AtomicBool::new(false)), threads: Vec::new() };
        for (lane, lane_config) in config.lanes.iter().enumerate() {
            match &lane_config.scanner {
                ScannerConfig::Keyboard { max_line } => {
                    let sink = sink.clone();
                    let settings = ScannerSettings { max_line: *max_line, ..keyboard_settings() };
                    spawn_detached("keyboard-scanner", move || {
                        read_stdin_lines(&settings, |event| {
                            sink.send(Input::Scan { lane, event, arrived: Instant::now() }).is_ok()
                        })
                    })?;
                }
                ScannerConfig::Serial { .. } => {
                    let settings = lane_config
                        .scanner
                        .serial_settings()
                        .ok_or_else(|| std::io::Error::other("serial scanner without settings"))?;
                    inputs.forward(SerialScanner::spawn(settings)?, sink, move |event| {
                        Some(Input::Scan { lane, event, arrived: Instant::now() })
                    })?;
                }
                ScannerConfig::Camera { index, debounce_ms } => {
                    inputs.spawn_camera(lane, *index, *debounce_ms, sink)?;
                }
            }
            if let Some(confirm) = &lane_config.pass_confirm {
                inputs.forward(line_input(&confirm.input)?, sink, move |event| match event {
                    ScanEvent::Code(_) => Some(Input::Passed { lane }),
                    other => {
                        tracing::warn!(lane, ?other, "turnstile pass input");
                        None
                    }
                })?;
            }
        }
        if let Some(alarm) = &config.control.alarm_input {
            inputs.forward(line_input(alarm)?, sink, |event| match event {
                ScanEvent::Code(line) => match line.parse() {
                    Ok(command) => Some(Input::Control { command, reply: None }),
                    Err(unknown) => {
                        tracing::warn!(%unknown, "alarm input sent an unknown command");
                        None
                    }
                },
                other => {
                    tracing::warn!(?other, "alarm input");
                    None
                }
            })?;
        }
        Ok(inputs)
    }

    #[cfg(feature = "camera")]
    fn spawn_camera(
        &mut self,
        lane: usize,
        index: u32,
        debounce_ms: u64,
        sink: &Sender<Input>,
    ) -> std::io::Result<()> {
        use expo_hardware::camera::{CameraScanner, CameraSettings};
        let mut settings = CameraSettings::new(index);
        settings.decode.debounce = Duration::from_millis(debounce_ms);
        self.forward(CameraScanner::spawn(settings)?, sink, move |event| {
            Some(Input::Scan { lane, event, arrived: Instant::now() })
        })
    }

    #[cfg(not(feature = "camera"))]
    fn spawn_camera(&mut self, _: usize, _: u32, _: u64, _: &Sender<Input>) -> std::io::Result<()> {
        // `GateConfig::from_toml` refuses camera lanes in builds without the feature.
        Err(std::io::Error::other("this build has no camera support (feature `camera`)"))
    }

    /// Moves `source` onto a thread that forwards what `map` makes of its events.
    fn forward<S, F>(&mut self, source: S, sink: &Sender<Input>, map: F) -> std::io::Result<()>
    where
        S: CodeSource + Send + 'static,
        F: Fn(ScanEvent) -> Option<Input> + Send + 'static,
    {
        let sink = sink.clone();
        let stop = Arc::clone(&self.stop);
        let thread = std::thread::Builder::new().name("gate-input".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match source.events().recv_timeout(STOP_POLL) {
                    Ok(event) => {
                        if let Some(input) = map(event) {
                            if sink.send(input).is_err() {
                                return;
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
        self.threads.push(thread);
        Ok(())
    }
}

impl Drop for Inputs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("gate input thread panicked");
            }
        }
    }
}

fn line_input(config: &LineInputConfig) -> std::io::Result<SerialScanner> {
    SerialScanner::spawn(config.settings())
}

fn keyboard_settings() -> ScannerSettings {
    ScannerSettings { terminator: Terminator::Lf, ..ScannerSettings::new("stdin") }
}

/// Runs `body` on a thread nobody joins: it blocks on standard input, which cannot be
/// interrupted, and ends at end of input or with the process.
pub(crate) fn spawn_detached(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new().name(name.into()).spawn(body).map(drop)
}

/// Reads standard input as a keyboard-wedge scanner: LF-terminated lines, cleaned like a
/// serial scanner's. Calls `deliver` for each code or bad line until it returns false.
pub(crate) fn read_stdin_lines(
    settings: &ScannerSettings,
    mut deliver: impl FnMut(ScanEvent) -> bool,
) {
    let mut splitter = LineSplitter::new(settings.terminator, settings.max_line);
    let mut stdin = std::io::stdin().lock();
    let mut chunk = [0u8; 1024];
    loop {
        let read = match stdin.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::error!(%error, "standard input failed");
                return;
            }
        };
        let mut lines = Vec::new();
        splitter.push(&chunk[..read], &mut lines);
        for line in lines {
            let event = match line.and_then(|raw| normalize(&raw, settings)) {
                Ok(Some(code)) => ScanEvent::Code(code),
                Ok(None) => continue,
                Err(error) => ScanEvent::Error(error),
            };
            if !deliver(event) {
                return;
            }
        }
    }
}
