//! Live camera capture (cargo feature `camera`): nokhwa's V4L backend as a [`FrameSource`].

use image::GrayImage;
use nokhwa::pixel_format::LumaFormat;
use nokhwa::utils::{
    CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};
use nokhwa::{Buffer, Camera, NokhwaError};

use super::{CameraError, DecodeSettings, FrameSource};

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
    /// Debounce and reconnection.
    pub decode: DecodeSettings,
}

impl CameraSettings {
    /// 1280 × 720 at 30 fps from `/dev/video{index}`, 2 s debounce.
    pub fn new(index: u32) -> Self {
        Self { index, width: 1280, height: 720, fps: 30, decode: DecodeSettings::default() }
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

/// An open V4L camera streaming frames.
pub struct V4lCamera {
    camera: Camera,
}

impl V4lCamera {
    /// Opens `/dev/video{index}` in the format closest to the settings' and starts streaming.
    pub fn open(settings: &CameraSettings) -> Result<Self, CameraError> {
        let wanted = CameraFormat::new(
            Resolution::new(settings.width, settings.height),
            FrameFormat::MJPEG,
            settings.fps,
        );
        let requested = RequestedFormat::new::<LumaFormat>(RequestedFormatType::Closest(wanted));
        let open = || -> Result<Camera, NokhwaError> {
            let mut camera = Camera::new(CameraIndex::Index(settings.index), requested)?;
            camera.open_stream()?;
            Ok(camera)
        };
        open().map(|camera| Self { camera }).map_err(|e| CameraError::Open(e.to_string()))
    }
}

impl FrameSource for V4lCamera {
    fn next_frame(&mut self) -> Result<Option<GrayImage>, CameraError> {
        match self.camera.frame().map_err(FrameError::from).and_then(|buffer| to_grey(&buffer)) {
            Ok(frame) => Ok(Some(frame)),
            // A lost USB camera fails every read: give the device back and reopen it.
            Err(FrameError::Camera(error)) => Err(CameraError::Lost(error.to_string())),
            Err(error) => Err(CameraError::Frame(error.to_string())),
        }
    }
}

impl Drop for V4lCamera {
    fn drop(&mut self) {
        if let Err(error) = self.camera.stop_stream() {
            tracing::debug!(%error, "camera did not stop cleanly");
        }
    }
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
