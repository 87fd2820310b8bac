//! The camera scanner on the simulated frame source: frames played from files and from
//! memory are decoded on the scanner's thread, reported like a serial scanner's codes, and
//! previewed with the code's outline.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::time::{Duration, Instant};

use expo_hardware::camera::{CameraScanner, DecodeSettings, SimulatedCamera, PREVIEW_WIDTH};
use expo_hardware::qr::corpus::{self, held_up_frame};
use expo_hardware::qr::decode_frame;
use expo_hardware::scanner::ScanEvent;
use expo_hardware::CodeSource;

fn next_code(scanner: &CameraScanner) -> String {
    match scanner.events().recv_timeout(Duration::from_secs(30)) {
        Ok(ScanEvent::Code(code)) => code,
        other => panic!("expected a code, got {other:?}"),
    }
}

#[test]
fn shown_frames_are_decoded_once_and_previewed_with_the_codes_outline() {
    let (first, second) =
        (held_up_frame("EK1HELLOCAMERA").unwrap(), held_up_frame("EK1SECONDBADGE").unwrap());
    let camera = SimulatedCamera::new();
    // A debounce window longer than the test, so a repeat within it is certain.
    let settings = DecodeSettings { debounce: Duration::from_secs(3600), ..Default::default() };
    let scanner = CameraScanner::simulated(camera.clone(), settings).unwrap();
    camera.show(first.clone());
    assert_eq!(next_code(&scanner), "EK1HELLOCAMERA");

    // Wait for a preview of a frame in which the code was found.
    let deadline = Instant::now() + Duration::from_secs(30);
    let preview = loop {
        if let Some(preview) = scanner.preview().filter(|p| p.code.is_some()) {
            break preview;
        }
        assert!(Instant::now() < deadline, "no preview with the code");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(preview.frame.width(), PREVIEW_WIDTH, "the preview is shrunk");
    let code = preview.code.unwrap();
    assert!(code.points.len() >= 3, "{:?}", code.points);
    let (width, height) = (preview.frame.width() as f32, preview.frame.height() as f32);
    assert!(
        code.points.iter().all(|&(x, y)| (0.0..width).contains(&x) && (0.0..height).contains(&y)),
        "points scaled into the preview: {:?}",
        code.points
    );

    // The same badge shown again within the debounce window counts once; another counts.
    camera.show(first);
    camera.show(second);
    assert_eq!(next_code(&scanner), "EK1SECONDBADGE");
}

#[test]
fn corpus_frames_played_from_files_are_read_in_order() {
    let dir = tempfile::tempdir().unwrap();
    // Corpus frames span the hard range; play two that the decoder reads.
    let frames: Vec<_> = corpus::generate(7, 8)
        .into_iter()
        .filter(|frame| decode_frame(&frame.image).as_deref() == Some(frame.text.as_str()))
        .take(2)
        .collect();
    assert_eq!(frames.len(), 2);
    for (index, frame) in frames.iter().enumerate() {
        frame.image.save(dir.path().join(format!("frame-{index}.png"))).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
    let camera = SimulatedCamera::from_files(&[dir.path()]).unwrap();
    assert_eq!(camera.scene_len(), 2, "only the images are played");
    // No debounce: the looping scene is read again at each turn.
    let settings = DecodeSettings { debounce: Duration::ZERO, ..DecodeSettings::default() };
    let scanner = CameraScanner::simulated(camera, settings).unwrap();
    let texts: Vec<&str> = frames.iter().map(|frame| frame.text.as_str()).collect();
    let read: Vec<String> = (0..4).map(|_| next_code(&scanner)).collect();
    assert_eq!(read, [texts[0], texts[1], texts[0], texts[1]]);
    assert!(SimulatedCamera::from_files(&[dir.path().join("notes.txt")]).is_err());
    let empty = tempfile::tempdir().unwrap();
    assert!(SimulatedCamera::from_files(&[empty.path()]).is_err(), "nothing to play");
}
