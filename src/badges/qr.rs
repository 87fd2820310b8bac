//! The QR code of a badge token: the very symbol `qrcode::QrCode` draws (ECC M, the best
//! of the eight masks by the specification's penalty rules), with the penalties counted
//! on a flat grid. The crate's own count allocates for every module it looks at and was
//! most of the time a 10,000-badge batch took.

use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::EcLevel;

/// ECC M survives a scuffed or creased badge.
const EC_LEVEL: EcLevel = EcLevel::M;

/// The masks in the order `qrcode` tries them: on a tie the first one wins, as there.
const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// A QR symbol without its quiet zone: `width` × `width` modules, row by row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrModules {
    pub width: usize,
    pub dark: Vec<bool>,
}

/// The QR code holding `data`, in the smallest version that fits it.
pub fn encode(data: &[u8]) -> Result<QrModules, String> {
    let bits = qrcode::bits::encode_auto(data, EC_LEVEL).map_err(|e| e.to_string())?;
    let version = bits.version();
    let (codewords, correction) =
        qrcode::ec::construct_codewords(&bits.into_bytes(), version, EC_LEVEL)
            .map_err(|e| e.to_string())?;
    let mut canvas = Canvas::new(version, EC_LEVEL);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&codewords, &correction);
    let width = version.width().unsigned_abs().into();
    let dark = MASKS
        .iter()
        .map(|&mask| {
            let mut masked = canvas.clone();
            masked.apply_mask(mask);
            masked.into_colors().into_iter().map(|c| c == qrcode::Color::Dark).collect::<Vec<_>>()
        })
        .min_by_key(|dark| penalty(dark, width))
        .ok_or("no mask pattern to choose from")?;
    Ok(QrModules { width, dark })
}

/// The mask penalty of ISO/IEC 18004 §7.8.3, as `qrcode` counts it (less its constant
/// for the three finder patterns, which every mask shares).
fn penalty(dark: &[bool], width: usize) -> usize {
    /// Dark-light-dark-dark-dark-light-dark: what a finder pattern looks like in a line.
    const FINDER: [bool; 7] = [true, false, true, true, true, false, true];
    let at = |x: usize, y: usize| dark[y * width + x];
    let mut score = 0;
    for horizontal in [true, false] {
        for line in 0..width {
            let module = |i: usize| if horizontal { at(i, line) } else { at(line, i) };
            // Runs of five or more modules of one colour: 3 + 1 per module over five.
            let mut run = 1;
            for i in 1..=width {
                if i < width && module(i) == module(i - 1) {
                    run += 1;
                    continue;
                }
                if run >= 5 {
                    score += run - 2;
                }
                run = 1;
            }
            // A finder-like pattern with four light modules (or the edge) on a side.
            for start in 0..width.saturating_sub(6) {
                if (0..7).any(|k| module(start + k) != FINDER[k]) {
                    continue;
                }
                let dark_before = (start.saturating_sub(4)..start).any(module);
                let dark_after = (start + 7..(start + 11).min(width)).any(module);
                if !dark_before || !dark_after {
                    score += 40;
                }
            }
        }
    }
    // Every 2×2 block of one colour.
    for y in 0..width.saturating_sub(1) {
        for x in 0..width - 1 {
            let colour = at(x, y);
            if at(x + 1, y) == colour && at(x, y + 1) == colour && at(x + 1, y + 1) == colour {
                score += 3;
            }
        }
    }
    // How far the share of dark modules is from half, in 5% steps worth 10.
    let dark_count = dark.iter().filter(|&&d| d).count();
    score + (dark_count * 200 / dark.len().max(1)).abs_diff(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The symbol `qrcode` itself draws for `data`.
    fn reference(data: &[u8]) -> QrModules {
        let code = qrcode::QrCode::with_error_correction_level(data, EC_LEVEL).unwrap();
        let dark = code.to_colors().into_iter().map(|c| c == qrcode::Color::Dark).collect();
        QrModules { width: code.width(), dark }
    }

    #[test]
    fn the_same_symbol_as_the_qrcode_crate_draws() {
        // Base32 tokens of a real token's length and of other lengths (other versions),
        // and bytes outside the alphanumeric set.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut seed: u32 = 7;
        for length in [1, 10, 40, 100, 157, 157, 157, 157, 157, 157, 157, 157, 300] {
            let token: Vec<u8> = b"EK1"
                .iter()
                .copied()
                .chain((0..length).map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    alphabet[(seed >> 16) as usize % alphabet.len()]
                }))
                .collect();
            assert_eq!(encode(&token).unwrap(), reference(&token), "{length} characters");
        }
        let bytes = "欧阳娜娜 https://example.com/?q=1".as_bytes();
        assert_eq!(encode(bytes).unwrap(), reference(bytes));
    }

    #[test]
    fn data_too_long_for_any_version_is_an_error() {
        assert!(encode(&[b'A'; 5000]).is_err());
    }
}
