//! QR decoding of still images and generated camera frames.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::io::Cursor;
use std::sync::OnceLock;

use expo_hardware::qr::corpus::{self, FrameParams, FRAME_HEIGHT, FRAME_WIDTH};
use expo_hardware::qr::{decode_bytes, decode_file, decode_frame, decode_with, Decoder, QrError};
use image::{DynamicImage, GrayImage, ImageFormat};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A badge held fairly straight under decent light.
fn easy() -> FrameParams {
    FrameParams {
        module_px: 5.0,
        tilt_deg: 0.0,
        tilt_axis_deg: 0.0,
        rotation_deg: 0.0,
        offset: (0.0, 0.0),
        dark: 30.0,
        light: 220.0,
        light_falloff: 0.0,
        light_direction_deg: 0.0,
        blur_sigma: 0.5,
        noise_sigma: 2.0,
    }
}

fn render(text: &str, params: &FrameParams) -> GrayImage {
    corpus::render(text, params, &mut StdRng::seed_from_u64(7)).expect("text fits a QR code")
}

fn png_bytes(frame: &GrayImage) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(frame.clone())
        .write_to(&mut bytes, ImageFormat::Png)
        .expect("png encodes");
    bytes.into_inner()
}

const CLEAN_TEXT: &str = "EXPO1.000001.CLEAN";

/// The straight badge frame, rendered once: rendering is slow in debug builds.
fn clean_frame() -> &'static GrayImage {
    static FRAME: OnceLock<GrayImage> = OnceLock::new();
    FRAME.get_or_init(|| render(CLEAN_TEXT, &easy()))
}

#[test]
fn every_pass_decodes_a_clean_frame() {
    let frame = clean_frame();
    assert_eq!((frame.width(), frame.height()), (FRAME_WIDTH, FRAME_HEIGHT));
    for decoder in [
        Decoder::GlobalHistogram,
        Decoder::Hybrid,
        Decoder::HybridTryHarder,
        Decoder::HalfSize,
        Decoder::Combined,
    ] {
        assert_eq!(decode_with(decoder, frame).as_deref(), Some(CLEAN_TEXT), "{decoder:?}");
    }
}

#[test]
fn combined_strategy_reads_a_tilted_unevenly_lit_badge() {
    let params = FrameParams {
        module_px: 4.0,
        tilt_deg: 35.0,
        tilt_axis_deg: 30.0,
        rotation_deg: 20.0,
        light_falloff: 0.5,
        light_direction_deg: 45.0,
        dark: 60.0,
        light: 150.0,
        blur_sigma: 0.9,
        noise_sigma: 6.0,
        ..easy()
    };
    let frame = render("EXPO1.000002.TILTED", &params);
    assert_eq!(decode_frame(&frame).as_deref(), Some("EXPO1.000002.TILTED"));
}

#[test]
fn still_images_decode_from_bytes_and_files() {
    let png = png_bytes(clean_frame());
    assert_eq!(decode_bytes(&png).expect("decodes"), CLEAN_TEXT);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("badge.png");
    std::fs::write(&path, &png).expect("write");
    assert_eq!(decode_file(&path).expect("decodes"), CLEAN_TEXT);
}

#[test]
fn unreadable_inputs_are_typed_errors() {
    assert!(matches!(decode_bytes(b"definitely not an image"), Err(QrError::Image(_))));
    assert!(matches!(decode_file("/nonexistent/badge.png"), Err(QrError::Image(_))));
    let blank = png_bytes(&GrayImage::from_pixel(640, 480, image::Luma([200])));
    assert!(matches!(decode_bytes(&blank), Err(QrError::NotFound)));
    let mut truncated = png_bytes(clean_frame());
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(decode_bytes(&truncated), Err(QrError::Image(_))));
    assert_eq!(decode_frame(&GrayImage::new(0, 0)), None);
}

#[test]
fn corpus_is_deterministic_and_within_the_hard_range() {
    let first = corpus::generate(99, 2);
    let again = corpus::generate(99, 1);
    assert_eq!((first.len(), again.len()), (2, 1));
    assert_eq!(first[0].text, again[0].text);
    assert_eq!(first[0].image, again[0].image);
    for frame in &first {
        assert!((2.0..7.0).contains(&frame.params.module_px));
        assert!((0.0..40.0).contains(&frame.params.tilt_deg));
        assert!(frame.params.light - frame.params.dark >= 50.0);
    }
    assert_ne!(first[0].text, first[1].text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(decode_bytes(&bytes).is_err());
    }

    #[test]
    fn random_pixels_never_panic(pixels in proptest::collection::vec(any::<u8>(), 64 * 48)) {
        let frame = GrayImage::from_raw(64, 48, pixels).expect("buffer matches size");
        let _ = decode_frame(&frame);
    }
}
