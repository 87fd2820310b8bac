//! QR decoding of still images and camera frames with rxing's port of the zxing-cpp QR reader.
//!
//! The strategy comes from `benches/qr_decode.rs` (figures in the README): a global-histogram
//! binarisation decodes most frames in about 1.5 ms; the frames it misses (uneven light, low
//! contrast) get the local-block hybrid binarisation with `TryHarder` (about 11 ms); large
//! blurred codes that still fail are read on the frame at half size, where the blur shrinks
//! below a pixel. rqrr was measured too and lost on both rate and time.

use std::collections::HashSet;
use std::path::Path;

use image::{DynamicImage, GrayImage};
use rxing::common::{GlobalHistogramBinarizer, HybridBinarizer};
use rxing::qrcode::cpp_port::QrReader;
use rxing::{BarcodeFormat, Binarizer, BinaryBitmap, DecodeHints, Luma8Source, Reader};
use thiserror::Error;

/// Why an image yielded no code.
#[derive(Debug, Error)]
pub enum QrError {
    /// The file could not be read, or its bytes are not a PNG or JPEG image.
    #[error("cannot load image: {0}")]
    Image(#[from] image::ImageError),
    /// The image holds no QR code the decoder could read.
    #[error("no readable QR code in the image")]
    NotFound,
}

/// One decoding pass, selectable so the benchmark can measure each stage alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// Global-histogram binarisation: fast, fails under uneven light.
    GlobalHistogram,
    /// Hybrid (8 × 8 block) binarisation, normal effort.
    Hybrid,
    /// Hybrid binarisation with `TryHarder` (denser finder-pattern scan).
    HybridTryHarder,
    /// Hybrid binarisation of the frame at half size (2 × 2 pixel averages).
    HalfSize,
    /// The production strategy: [`Self::GlobalHistogram`], then [`Self::HybridTryHarder`],
    /// then [`Self::HalfSize`], stopping at the first success.
    Combined,
}

/// Decodes the QR code in the PNG or JPEG file at `path`.
pub fn decode_file(path: impl AsRef<Path>) -> Result<String, QrError> {
    decode_image(&image::open(path)?)
}

/// Decodes the QR code in PNG or JPEG `bytes` (e.g. a snapshot received over the network).
pub fn decode_bytes(bytes: &[u8]) -> Result<String, QrError> {
    decode_image(&image::load_from_memory(bytes)?)
}

/// Decodes the QR code in an already loaded image.
pub fn decode_image(image: &DynamicImage) -> Result<String, QrError> {
    decode_frame(&image.to_luma8()).ok_or(QrError::NotFound)
}

/// A code found in a frame: its text and where it lies, for a preview to outline it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedCode {
    /// The decoded text.
    pub text: String,
    /// The points the reader located (finder-pattern centres and, when found, the alignment
    /// pattern), in frame pixels.
    pub points: Vec<(f32, f32)>,
}

/// Decodes a grey camera frame with the production strategy; `None` when no code is readable
/// (the normal outcome for most camera frames).
pub fn decode_frame(frame: &GrayImage) -> Option<String> {
    locate_code(frame).map(|code| code.text)
}

/// [`decode_frame`], keeping where the code lies in the frame.
pub fn locate_code(frame: &GrayImage) -> Option<LocatedCode> {
    decode_located(Decoder::Combined, frame)
}

/// Decodes a grey frame with one pass or strategy (for the benchmark).
pub fn decode_with(decoder: Decoder, frame: &GrayImage) -> Option<String> {
    decode_located(decoder, frame).map(|code| code.text)
}

fn decode_located(decoder: Decoder, frame: &GrayImage) -> Option<LocatedCode> {
    let source = Luma8Source::new_with_slice(frame.as_raw(), frame.width(), frame.height());
    // An empty image is the only reason the source is refused; it holds no code.
    let source = source.ok()?;
    match decoder {
        Decoder::GlobalHistogram => read(GlobalHistogramBinarizer::new(source), false),
        Decoder::Hybrid => read(HybridBinarizer::new(source), false),
        Decoder::HybridTryHarder => read(HybridBinarizer::new(source), true),
        Decoder::HalfSize => read_half_size(frame),
        Decoder::Combined => read(GlobalHistogramBinarizer::new(source.clone()), false)
            .or_else(|| read(HybridBinarizer::new(source), true))
            .or_else(|| read_half_size(frame)),
    }
}

/// Hybrid pass over the frame shrunk to half size; points are scaled back to the frame.
fn read_half_size(frame: &GrayImage) -> Option<LocatedCode> {
    let half = half_size(frame);
    let source = Luma8Source::new_with_slice(half.as_raw(), half.width(), half.height()).ok()?;
    let mut code = read(HybridBinarizer::new(source), false)?;
    code.points.iter_mut().for_each(|(x, y)| (*x, *y) = (*x * 2.0, *y * 2.0));
    Some(code)
}

/// The frame at half width and height, each pixel the rounded mean of a 2 × 2 block.
fn half_size(frame: &GrayImage) -> GrayImage {
    GrayImage::from_fn(frame.width() / 2, frame.height() / 2, |x, y| {
        let pixel = |dx, dy| u16::from(frame.get_pixel(2 * x + dx, 2 * y + dy).0[0]);
        let sum = pixel(0, 0) + pixel(1, 0) + pixel(0, 1) + pixel(1, 1);
        // The mean of four bytes fits a byte.
        image::Luma([((sum + 2) / 4) as u8])
    })
}

/// Runs the QR reader on one binarisation.
fn read<B: Binarizer>(binarizer: B, try_harder: bool) -> Option<LocatedCode> {
    let hints = DecodeHints {
        PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
        TryHarder: Some(try_harder),
        ..DecodeHints::default()
    };
    match QrReader.decode_with_hints(&mut BinaryBitmap::new(binarizer), &hints) {
        Ok(result) => Some(LocatedCode {
            text: result.getText().to_owned(),
            points: result.getPoints().iter().map(|point| (point.x, point.y)).collect(),
        }),
        // "Not found" is the normal outcome for most frames; keep the reason for tracing only.
        Err(error) => {
            tracing::trace!(%error, "no QR code decoded");
            None
        }
    }
}
