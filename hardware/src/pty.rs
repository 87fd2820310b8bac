//! Pseudo-terminal plumbing that lets a simulator stand in for a device on a real port path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serialport::{SerialPort, TTYPort};

/// A simulator thread serving the controller side of a pseudo-terminal; drivers open [`path`](Self::path).
///
/// Dropping it stops the thread and closes the pseudo-terminal, which looks like an unplug.
pub struct PtySimulator {
    path: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    // Holding the device side open keeps the pseudo-terminal alive between driver sessions, so a
    // driver that closes and reopens the path does not hang up the simulator.
    _device_side: TTYPort,
}

impl PtySimulator {
    /// Creates a pseudo-terminal pair and runs `serve` on a named thread with the controller end.
    ///
    /// `serve` must return soon after the stop flag it is given turns true.
    pub fn spawn<F>(name: &str, serve: F) -> Result<Self, serialport::Error>
    where
        F: FnOnce(TTYPort, Arc<AtomicBool>) + Send + 'static,
    {
        let (controller, device_side) = TTYPort::pair()?;
        let path = device_side.name().ok_or_else(|| {
            serialport::Error::new(serialport::ErrorKind::Unknown, "pseudo-terminal has no name")
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || serve(controller, thread_stop))
            .map_err(|e| {
                serialport::Error::new(serialport::ErrorKind::Io(e.kind()), e.to_string())
            })?;
        Ok(Self { path, stop, thread: Some(thread), _device_side: device_side })
    }

    /// The device path a driver opens, e.g. `/dev/pts/7`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Drop for PtySimulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(path = %self.path, "simulator thread panicked");
            }
        }
    }
}

/// Points `link` (a stable port name, as `/dev/serial/by-id/...` gives a USB device) at a
/// simulator's pseudo-terminal `target`, replacing what it pointed at: a device plugged
/// (back) in at the same name.
pub fn relink(link: &std::path::Path, target: &str) -> std::io::Result<()> {
    match std::fs::remove_file(link) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    std::os::unix::fs::symlink(target, link)
}
