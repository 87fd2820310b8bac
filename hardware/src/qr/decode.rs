//! QR decoders (rxing, rqrr) and the strategy combining them, chosen by `benches/qr_decode.rs`.

use std::collections::HashSet;
use std::path::Path;

use image::{DynamicImage, GrayImage};
use rxing::{BarcodeFormat, DecodeHints};
use thiserror::Error;

/// Why an image could not be examined (finding no code is not an error).
#[derive(Debug, Error)]
pub enum QrError {
    /// The file could not be read or decoded as an image.
    #[error("cannot load image: {0}")]
    Image(#[from] image::ImageError),
}

/// A decoding engine, selectable for benchmarking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// rqrr (a port of quirc).
    Rqrr,
    /// rxing (a port of ZXing) in its fast mode.
    Rxing,
    /// rxing with `TryHarder` (more binarizer and detector effort).
    RxingTryHarder,
    /// rxing on the frame upscaled 2× (helps 2-3 px modules).
    RxingUpscaled,
    /// The production strategy: rxing fast, then rxing on the 2× upscaled frame.
    Combined,
}

/// Decodes every QR code in `image` with the production strategy.
pub fn decode_image(image: &DynamicImage) -> Result<Vec<String>, QrError> {
    Ok(decode_luma(&image.to_luma8()))
}

/// Decodes every QR code in the image file at `path`.
pub fn decode_file(path: impl AsRef<Path>) -> Result<Vec<String>, QrError> {
    decode_image(&image::open(path)?)
}

/// Decodes a grey frame with the production strategy.
pub fn decode_luma(image: &GrayImage) -> Vec<String> {
    decode_with(Decoder::Combined, image)
}

/// Decodes a grey frame with one engine (for benchmarks and comparisons).
pub fn decode_with(decoder: Decoder, image: &GrayImage) -> Vec<String> {
    match decoder {
        Decoder::Rqrr => rqrr_decode(image),
        Decoder::Rxing => rxing_decode(image, false),
        Decoder::RxingTryHarder => rxing_decode(image, true),
        Decoder::RxingUpscaled => rxing_decode(&upscale(image), false),
        Decoder::Combined => {
            let fast = rxing_decode(image, false);
            if !fast.is_empty() {
                return fast;
            }
            rxing_decode(&upscale(image), false)
        }
    }
}

/// The frame at twice the size, so 2-px modules become wide enough for the binarizer.
fn upscale(image: &GrayImage) -> GrayImage {
    image::imageops::resize(image, image.width() * 2, image.height() * 2, image::imageops::FilterType::Triangle)
}

fn rqrr_decode(image: &GrayImage) -> Vec<String> {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| match grid.decode() {
            Ok((_, text)) => Some(text),
            Err(error) => {
                tracing::trace!(%error, "rqrr found a grid it could not decode");
                None
            }
        })
        .collect()
}

fn rxing_decode(image: &GrayImage, try_harder: bool) -> Vec<String> {
    let mut hints = DecodeHints {
        PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
        TryHarder: Some(try_harder),
        ..DecodeHints::default()
    };
    match rxing::helpers::detect_in_luma_slice_with_hints(
        image.as_raw(),
        image.width(),
        image.height(),
        Some(BarcodeFormat::QR_CODE),
        &mut hints,
    ) {
        Ok(result) => vec![result.getText().to_owned()],
        // rxing reports "nothing found" as an error; it is the normal outcome for most frames.
        Err(error) => {
            tracing::trace!(%error, "rxing found no code");
            Vec::new()
        }
    }
}
