//! The serial scanner thread: reads lines, cleans them, reconnects after an unplug.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::TTYPort;

use super::line::{normalize, Debouncer, LineSplitter};
use super::{CodeSource, ScanEvent, ScannerSettings, Terminator};
use crate::serial;

/// A serial / USB-CDC scanner read on its own thread; dropping it stops the thread.
pub struct SerialScanner {
    events: Receiver<ScanEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SerialScanner {
    /// Starts reading the scanner described by `settings`; a missing port is retried, not an error.
    pub fn spawn(settings: ScannerSettings) -> std::io::Result<Self> {
        let (sender, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("serial-scanner".into())
            .spawn(move || ScanLoop::new(settings, sender).run(&thread_stop))?;
        Ok(Self { events, stop, thread: Some(thread) })
    }
}

impl CodeSource for SerialScanner {
    fn events(&self) -> &Receiver<ScanEvent> {
        &self.events
    }
}

impl Drop for SerialScanner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("scanner thread panicked");
            }
        }
    }
}

/// State of the reading thread.
struct ScanLoop {
    settings: ScannerSettings,
    events: Sender<ScanEvent>,
    splitter: LineSplitter,
    debouncer: Debouncer,
    /// Whether a disconnect was reported and not yet followed by a reconnect.
    disconnected: bool,
    last_byte_at: Instant,
}

impl ScanLoop {
    fn new(settings: ScannerSettings, events: Sender<ScanEvent>) -> Self {
        Self {
            splitter: LineSplitter::new(settings.terminator, settings.max_line),
            debouncer: Debouncer::new(settings.debounce),
            settings,
            events,
            disconnected: false,
            last_byte_at: Instant::now(),
        }
    }

    /// Runs until `stop` turns true or nobody listens.
    fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            match serial::open(&self.settings.path, self.settings.baud) {
                Ok(port) => {
                    if std::mem::take(&mut self.disconnected) && !self.send(ScanEvent::Reconnected)
                    {
                        return;
                    }
                    let reason = self.read_until_failure(port, stop);
                    self.splitter.reset();
                    match reason {
                        Some(reason) => {
                            if !self.report_disconnect(reason) {
                                return;
                            }
                        }
                        None => return,
                    }
                }
                Err(error) => {
                    if !self.disconnected && !self.report_disconnect(error.to_string()) {
                        return;
                    }
                }
            }
            sleep_unless_stopped(self.settings.reconnect_interval, stop);
        }
    }

    /// Reads from `port` until it fails (returns the reason) or the thread must stop (`None`).
    fn read_until_failure(&mut self, mut port: TTYPort, stop: &AtomicBool) -> Option<String> {
        let mut chunk = [0u8; 256];
        while !stop.load(Ordering::Relaxed) {
            match port.read(&mut chunk) {
                Ok(0) => return Some("port closed".into()),
                Ok(n) => {
                    self.last_byte_at = Instant::now();
                    let mut lines = Vec::new();
                    self.splitter.push(&chunk[..n], &mut lines);
                    for line in lines {
                        if !self.handle_line(line) {
                            return None;
                        }
                    }
                }
                Err(e) if serial::is_timeout(&e) => {
                    if !self.flush_idle_line() {
                        return None;
                    }
                }
                Err(e) => return Some(e.to_string()),
            }
        }
        None
    }

    /// Ends an unterminated code once the line has been idle long enough.
    fn flush_idle_line(&mut self) -> bool {
        let idle = self.last_byte_at.elapsed() >= self.settings.idle_timeout;
        if self.settings.terminator != Terminator::None || !idle || !self.splitter.has_partial() {
            return true;
        }
        match self.splitter.flush() {
            Some(line) => self.handle_line(Ok(line)),
            None => true,
        }
    }

    /// Cleans, debounces and reports one line; false when nobody listens any more.
    fn handle_line(&mut self, line: Result<Vec<u8>, super::ScanLineError>) -> bool {
        match line.and_then(|raw| normalize(&raw, &self.settings)) {
            Ok(Some(code)) if self.debouncer.accept(&code, Instant::now()) => {
                self.send(ScanEvent::Code(code))
            }
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, path = %self.settings.path, "dropped scanner line");
                self.send(ScanEvent::Error(error))
            }
        }
    }

    fn report_disconnect(&mut self, reason: String) -> bool {
        tracing::warn!(path = %self.settings.path, %reason, "scanner disconnected");
        self.disconnected = true;
        self.send(ScanEvent::Disconnected(reason))
    }

    fn send(&self, event: ScanEvent) -> bool {
        self.events.send(event).is_ok()
    }
}

/// Sleeps `duration` in short steps so a stop request is honoured promptly.
fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + duration;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        std::thread::sleep(
            serial::READ_SLICE.min(deadline.saturating_duration_since(Instant::now())),
        );
    }
}
