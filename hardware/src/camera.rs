//! Live camera capture (cargo feature `camera`): nokhwa's V4L backend on a worker thread,
//! each frame turned grey and handed to the QR decoder, codes reported as [`ScanEvent`]s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::GrayImage;
use nokhwa::pixel_format::LumaFormat;
use nokhwa::utils::{
    CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};
use nokhwa::{Buffer, Camera, NokhwaError};

use crate::qr::decode_frame;
use crate::scanner::{CodeSource, Debouncer, ScanEvent};

/// Which camera to open and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraSettings {
    /// V4L index (`/dev/videoN`).
    pub index: u32,
    /// Requested frame width; the closest format the camera offers is used.
    pub width: u32,
    /// Requested frame height.
    pub height: u32,
    /// Requested frame rate.
    pub fps: u32,
    /// The same code seen again within this window counts once (a badge held up stays in view).
    pub debounce: Duration,
    /// Delay between attempts to reopen a camera that failed or vanished.
    pub reconnect_interval: Duration,
}

impl CameraSettings {
    /// 1280 × 720 at 30 fps from `/dev/video{index}`, 2 s debounce.
    pub fn new(index: u32) -> Self {
        Self {
            index,
            width: 1280,
            height: 720,
            fps: 30,
            debounce: Duration::from_secs(2),
            reconnect_interval: Duration::from_secs(1),
        }
    }
}

/// Why a frame could not be turned into a grey image.
#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("camera error: {0}")]
    Camera(#[from] NokhwaError),
    #[error("corrupt MJPEG frame: {0}")]
    Jpeg(#[from] image::ImageError),
}

/// A camera read on its own thread; dropping it stops the thread and releases the camera.
pub struct CameraScanner {
    events: Receiver<ScanEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CameraScanner {
    /// Starts capturing; a camera that cannot be opened is reported and retried, not an error.
    pub fn spawn(settings: CameraSettings) -> std::io::Result<Self> {
        let (sender, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        // nokhwa's camera handle is not `Send`: it is created and used on the worker thread only.
        let thread = std::thread::Builder::new()
            .name("camera-scanner".into())
            .spawn(move || capture_loop(&settings, &sender, &thread_stop))?;
        Ok(Self { events, stop, thread: Some(thread) })
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

/// Opens the camera, streams until it fails, reports, waits and starts over until stopped.
fn capture_loop(settings: &CameraSettings, events: &Sender<ScanEvent>, stop: &AtomicBool) {
    let mut debouncer = Debouncer::new(settings.debounce);
    let mut disconnected = false;
    while !stop.load(Ordering::Relaxed) {
        let failure = match open(settings) {
            Ok(mut camera) => {
                if std::mem::take(&mut disconnected) && events.send(ScanEvent::Reconnected).is_err()
                {
                    return;
                }
                let failure = stream(&mut camera, &mut debouncer, events, stop);
                if let Err(error) = camera.stop_stream() {
                    tracing::debug!(%error, "camera did not stop cleanly");
                }
                failure
            }
            Err(error) => Some(error.to_string()),
        };
        let Some(reason) = failure else { return };
        if !disconnected {
            tracing::warn!(index = settings.index, %reason, "camera unavailable");
            disconnected = true;
            if events.send(ScanEvent::Disconnected(reason)).is_err() {
                return;
            }
        }
        let retry_at = Instant::now() + settings.reconnect_interval;
        while !stop.load(Ordering::Relaxed) && Instant::now() < retry_at {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn open(settings: &CameraSettings) -> Result<Camera, NokhwaError> {
    let wanted = CameraFormat::new(
        Resolution::new(settings.width, settings.height),
        FrameFormat::MJPEG,
        settings.fps,
    );
    let requested = RequestedFormat::new::<LumaFormat>(RequestedFormatType::Closest(wanted));
    let mut camera = Camera::new(CameraIndex::Index(settings.index), requested)?;
    camera.open_stream()?;
    Ok(camera)
}

/// Decodes frames until the camera fails (the reason) or the thread must stop (`None`).
fn stream(
    camera: &mut Camera,
    debouncer: &mut Debouncer,
    events: &Sender<ScanEvent>,
    stop: &AtomicBool,
) -> Option<String> {
    while !stop.load(Ordering::Relaxed) {
        let frame =
            match camera.frame().map_err(FrameError::from).and_then(|buffer| to_grey(&buffer)) {
                Ok(frame) => frame,
                // A lost USB camera fails every read: give the port back and reopen it.
                Err(FrameError::Camera(error)) => return Some(error.to_string()),
                Err(error) => {
                    tracing::debug!(%error, "skipped camera frame");
                    continue;
                }
            };
        if let Some(code) = decode_frame(&frame) {
            if debouncer.accept(&code, Instant::now())
                && events.send(ScanEvent::Code(code)).is_err()
            {
                return None;
            }
        }
    }
    None
}

/// The frame as a grey image. MJPEG is decoded with the `image` crate, which avoids nokhwa's
/// C-based MJPEG decoder (and its build dependencies); raw formats go through nokhwa.
fn to_grey(buffer: &Buffer) -> Result<GrayImage, FrameError> {
    if buffer.source_frame_format() == FrameFormat::MJPEG {
        return Ok(image::load_from_memory_with_format(buffer.buffer(), image::ImageFormat::Jpeg)?
            .to_luma8());
    }
    Ok(buffer.decode_image::<LumaFormat>()?)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{DynamicImage, ImageFormat, Luma};

    use super::*;

    fn gradient() -> GrayImage {
        GrayImage::from_fn(64, 48, |x, y| Luma([(x * 3 + y) as u8]))
    }

    #[test]
    fn mjpeg_frames_are_decoded_to_grey() {
        let mut jpeg = Cursor::new(Vec::new());
        DynamicImage::ImageLuma8(gradient()).write_to(&mut jpeg, ImageFormat::Jpeg).expect("jpeg");
        let buffer = Buffer::new(Resolution::new(64, 48), jpeg.get_ref(), FrameFormat::MJPEG);
        let grey = to_grey(&buffer).expect("decodes");
        assert_eq!(grey.dimensions(), (64, 48));
        // JPEG is lossy: every pixel stays close to the original.
        let worst =
            grey.pixels().zip(gradient().pixels()).map(|(a, b)| a.0[0].abs_diff(b.0[0])).max();
        assert!(worst.is_some_and(|diff| diff <= 8), "worst pixel error {worst:?}");
    }

    #[test]
    fn grey_frames_pass_through_and_corrupt_mjpeg_is_an_error() {
        let raw = Buffer::new(Resolution::new(64, 48), gradient().as_raw(), FrameFormat::GRAY);
        assert_eq!(to_grey(&raw).expect("grey frame"), gradient());
        let corrupt =
            Buffer::new(Resolution::new(64, 48), b"\xFF\xD8 not a jpeg", FrameFormat::MJPEG);
        assert!(matches!(to_grey(&corrupt), Err(FrameError::Jpeg(_))));
    }
}
