//! `expo-kiosk scan-image` on real image files: a badge token QR drawn to PNG, and a
//! file with no code in it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::process::Command;

use qrcode::{EcLevel, QrCode};

fn qr_png(text: &str, path: &std::path::Path) {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).unwrap();
    let width = code.width() as u32;
    let (module, quiet) = (6u32, 4u32);
    let side = (width + 2 * quiet) * module;
    let colors = code.to_colors();
    let image = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / module, y / module);
        let dark = mx >= quiet
            && my >= quiet
            && mx < quiet + width
            && my < quiet + width
            && colors[((my - quiet) * width + (mx - quiet)) as usize] == qrcode::Color::Dark;
        image::Luma([if dark { 0 } else { 255 }])
    });
    image.save(path).unwrap();
}

#[test]
fn decodes_a_badge_qr_and_reports_a_blank_image() {
    let dir = tempfile::tempdir().unwrap();
    let token = "EK1AEVYOJ5FHDU72QIBUID6YNZWOGS3NGLIQRXVDYQNAAAQCJS7EZRBLN7E6K7SRRBPDM2CG5BH2V3MDHMLLDBR2FCEA7TDVR62FRIWNAQIVZT7ZBGCJLSCPV2RHXGDVCIQLGJMKH3DXOXCIXBYFK4UNOGHBI";
    let badge = dir.path().join("badge.png");
    qr_png(token, &badge);
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(200, 200, image::Luma([255])).save(&blank).unwrap();
    let missing = dir.path().join("missing.png");

    let out = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .args(["scan-image", "--json"])
        .args([&badge, &blank, &missing])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one file without a code makes the exit 1");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one JSON line per file");
    assert_eq!((lines[0]["ok"].as_bool(), lines[0]["text"].as_str()), (Some(true), Some(token)));
    assert!(lines[0]["ms"].as_f64().is_some());
    assert_eq!(lines[1]["ok"], false);
    assert_eq!(lines[2]["ok"], false);
    assert!(lines[2]["error"].as_str().is_some());
}
