//! Cameras as QR scanners: a [`FrameSource`] delivers grey frames, [`CameraScanner`] decodes
//! them on its own thread, reports codes as [`ScanEvent`]s like a serial scanner, and keeps a
//! small [`Preview`] of the latest frame with the decoded code's outline.
//!
//! Two sources: [`V4lCamera`] (nokhwa's V4L backend, cargo feature `camera`, needs libclang at
//! build time) and [`SimulatedCamera`], which plays image files or in-memory frames (tests,
//! the demo, and any build without the feature).

mod sim;
#[cfg(feature = "camera")]
mod v4l;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::GrayImage;
use thiserror::Error;

pub use sim::SimulatedCamera;
#[cfg(feature = "camera")]
pub use v4l::{CameraSettings, V4lCamera};

use crate::qr::{locate_code, LocatedCode};
use crate::scanner::{CodeSource, Debouncer, ScanEvent};

/// Width of the preview frame; the UI shows it small, and copying a full frame each time
/// would cost the UI thread for nothing.
pub const PREVIEW_WIDTH: u32 = 320;

/// Why a camera gave no frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CameraError {
    /// The camera could not be opened (absent, busy, no permission).
    #[error("cannot open the camera: {0}")]
    Open(String),
    /// The camera stopped delivering frames (unplugged); it is opened again.
    #[error("the camera stopped: {0}")]
    Lost(String),
    /// One frame could not be decoded (corrupt MJPEG); the next one may be fine.
    #[error("unreadable camera frame: {0}")]
    Frame(String),
}

/// Something that delivers camera frames, one at a time, at the camera's pace.
pub trait FrameSource {
    /// The next frame, waiting at most about one frame interval; `Ok(None)` when no new frame
    /// came (the caller asks again).
    fn next_frame(&mut self) -> Result<Option<GrayImage>, CameraError>;
}

/// The latest frame, shrunk to [`PREVIEW_WIDTH`], with the code decoded in it if any.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The frame at preview size.
    pub frame: GrayImage,
    /// The code found in this frame, its points scaled to the preview.
    pub code: Option<LocatedCode>,
    /// Counts frames, so a viewer can tell a new preview from the one it shows.
    pub sequence: u64,
}

/// A camera decoded on its own thread; dropping it stops the thread and releases the camera.
pub struct CameraScanner {
    events: Receiver<ScanEvent>,
    preview: Arc<Mutex<Option<Preview>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How a [`CameraScanner`] treats codes and failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeSettings {
    /// The same code seen again within this window counts once (a badge held up stays in view).
    pub debounce: Duration,
    /// Delay between attempts to reopen a camera that failed or vanished.
    pub reconnect_interval: Duration,
}

impl Default for DecodeSettings {
    /// 2 s debounce, reopen every second.
    fn default() -> Self {
        Self { debounce: Duration::from_secs(2), reconnect_interval: Duration::from_secs(1) }
    }
}

impl CameraScanner {
    /// Starts a thread that opens a source with `open` (on that thread: nokhwa's camera handle
    /// is not `Send`), decodes its frames, and opens it again after a failure. A camera that
    /// cannot be opened is reported and retried, not an error.
    pub fn start<S, F>(name: &str, settings: DecodeSettings, open: F) -> std::io::Result<Self>
    where
        S: FrameSource,
        F: FnMut() -> Result<S, CameraError> + Send + 'static,
    {
        let (sender, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let preview = Arc::new(Mutex::new(None));
        let worker = Worker {
            settings,
            events: sender,
            preview: Arc::clone(&preview),
            stop: Arc::clone(&stop),
            debouncer: Debouncer::new(settings.debounce),
            sequence: 0,
        };
        let thread =
            std::thread::Builder::new().name(name.into()).spawn(move || worker.run(open))?;
        Ok(Self { events, preview, stop, thread: Some(thread) })
    }

    /// Decodes the frames `camera` plays.
    pub fn simulated(camera: SimulatedCamera, settings: DecodeSettings) -> std::io::Result<Self> {
        Self::start("camera-simulator", settings, move || Ok(camera.clone()))
    }

    /// Captures from `/dev/video{index}` through nokhwa (gate lanes, desks, kiosks).
    #[cfg(feature = "camera")]
    pub fn spawn(settings: CameraSettings) -> std::io::Result<Self> {
        let decode = settings.decode;
        Self::start("camera-scanner", decode, move || V4lCamera::open(&settings))
    }

    /// The latest frame and what was decoded in it; `None` before the first frame.
    pub fn preview(&self) -> Option<Preview> {
        self.preview.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl CodeSource for CameraScanner {
    fn events(&self) -> &Receiver<ScanEvent> {
        &self.events
    }
}

impl Drop for CameraScanner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("camera thread panicked");
            }
        }
    }
}

struct Worker {
    settings: DecodeSettings,
    events: Sender<ScanEvent>,
    preview: Arc<Mutex<Option<Preview>>>,
    stop: Arc<AtomicBool>,
    debouncer: Debouncer,
    sequence: u64,
}

impl Worker {
    /// Opens the source, decodes until it fails, reports, waits and starts over until stopped.
    fn run<S: FrameSource>(mut self, mut open: impl FnMut() -> Result<S, CameraError>) {
        let mut disconnected = false;
        while !self.stopped() {
            let failure = match open() {
                Ok(mut source) => {
                    if std::mem::take(&mut disconnected)
                        && self.events.send(ScanEvent::Reconnected).is_err()
                    {
                        return;
                    }
                    match self.stream(&mut source) {
                        Some(failure) => failure,
                        None => return,
                    }
                }
                Err(error) => error,
            };
            if !disconnected {
                tracing::warn!(%failure, "camera unavailable");
                disconnected = true;
                if self.events.send(ScanEvent::Disconnected(failure.to_string())).is_err() {
                    return;
                }
            }
            let retry_at = Instant::now() + self.settings.reconnect_interval;
            while !self.stopped() && Instant::now() < retry_at {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Decodes frames until the source fails (the reason) or the thread must stop (`None`).
    fn stream(&mut self, source: &mut impl FrameSource) -> Option<CameraError> {
        while !self.stopped() {
            let frame = match source.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => continue,
                Err(CameraError::Frame(reason)) => {
                    tracing::debug!(%reason, "skipped camera frame");
                    continue;
                }
                Err(error) => return Some(error),
            };
            let code = locate_code(&frame);
            self.publish_preview(&frame, code.as_ref());
            if let Some(code) = code {
                if self.debouncer.accept(&code.text, Instant::now())
                    && self.events.send(ScanEvent::Code(code.text)).is_err()
                {
                    return None;
                }
            }
        }
        None
    }

    fn publish_preview(&mut self, frame: &GrayImage, code: Option<&LocatedCode>) {
        self.sequence += 1;
        let preview = preview_of(frame, code, self.sequence);
        *self.preview.lock().unwrap_or_else(PoisonError::into_inner) = Some(preview);
    }
}

/// `frame` shrunk to [`PREVIEW_WIDTH`] (never enlarged), with `code`'s points scaled alike.
fn preview_of(frame: &GrayImage, code: Option<&LocatedCode>, sequence: u64) -> Preview {
    let scale = (PREVIEW_WIDTH as f32 / frame.width().max(1) as f32).min(1.0);
    // Rounded pixel sizes of a frame at most a few thousand pixels wide fit u32.
    let size = |pixels: u32| ((pixels as f32 * scale).round() as u32).max(1);
    let small = image::imageops::resize(
        frame,
        size(frame.width()),
        size(frame.height()),
        image::imageops::FilterType::Triangle,
    );
    let code = code.map(|code| LocatedCode {
        text: code.text.clone(),
        points: code.points.iter().map(|(x, y)| (x * scale, y * scale)).collect(),
    });
    Preview { frame: small, code, sequence }
}
