//! Fitting a line of text into a box: shrink to fit, then wrap to two lines, then shrink
//! the two lines further. The result always fits the box; nothing is ever cut off.
//!
//! Widths come from the font's own advances (its `hmtx` table, through [`Advances`]), the
//! same numbers a PDF viewer uses to place the glyphs, so what fits here fits on paper.

/// Horizontal advances and vertical extent of a font, in ems (1.0 = the font size).
pub trait Advances {
    /// The advance of `c`; a character the font lacks advances like its `.notdef` glyph.
    fn advance_em(&self, c: char) -> f32;
    /// Baseline-to-baseline distance of consecutive lines.
    fn line_height_em(&self) -> f32;
    /// Height above the baseline of the tallest glyphs.
    fn ascent_em(&self) -> f32;
}

/// Where a text goes and how large it may be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitBox {
    /// Box width and height in points.
    pub width: f32,
    pub height: f32,
    /// The preferred largest font size, in points.
    pub max_size: f32,
    /// Below this size a one-line text is wrapped to two lines (when allowed) instead.
    pub min_size: f32,
    /// 1 or 2.
    pub max_lines: u8,
}

/// The chosen size and lines. Every line is at most `FitBox::width` wide at `size`, and
/// the lines together are at most `FitBox::height` tall.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    pub size: f32,
    pub lines: Vec<String>,
}

impl Fitted {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Width of `text` in ems.
pub fn width_em(font: &impl Advances, text: &str) -> f32 {
    text.chars().map(|c| font.advance_em(c)).sum()
}

/// Fits `text` (trimmed) into `area`. Empty text gives no lines.
pub fn fit(font: &impl Advances, text: &str, area: &FitBox) -> Fitted {
    let text = text.trim();
    if text.is_empty() {
        return Fitted { size: area.max_size, lines: Vec::new() };
    }
    let one_line = size_for(font, area, &[text]);
    if area.max_lines < 2 || one_line >= area.min_size {
        return Fitted { size: one_line, lines: vec![text.to_owned()] };
    }
    match best_break(font, text) {
        Some((first, second)) => {
            let two_lines = size_for(font, area, &[first, second]);
            if two_lines > one_line {
                Fitted { size: two_lines, lines: vec![first.to_owned(), second.to_owned()] }
            } else {
                Fitted { size: one_line, lines: vec![text.to_owned()] }
            }
        }
        None => Fitted { size: one_line, lines: vec![text.to_owned()] },
    }
}

/// The largest size, at most `max_size`, at which `lines` fit the box.
fn size_for(font: &impl Advances, area: &FitBox, lines: &[&str]) -> f32 {
    let widest = lines.iter().map(|line| width_em(font, line)).fold(0.0_f32, f32::max);
    let by_width = if widest > 0.0 { area.width / widest } else { area.max_size };
    // Stacked lines need (n - 1) line gaps plus one ascent-to-descent line.
    let tall = font.line_height_em() * lines.len() as f32;
    let by_height = if tall > 0.0 { area.height / tall } else { area.max_size };
    area.max_size.min(by_width).min(by_height)
}

/// The break into two lines that makes the wider line narrowest. Latin words break at
/// spaces (the space is dropped); CJK breaks between any two characters. A text with no
/// such place (one long word) may break anywhere rather than overflow.
fn best_break<'t>(font: &impl Advances, text: &'t str) -> Option<(&'t str, &'t str)> {
    let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
    let preferred: Vec<usize> =
        boundaries.iter().copied().filter(|&i| is_line_break_opportunity(text, i)).collect();
    let candidates = if preferred.is_empty() { boundaries } else { preferred };
    candidates
        .into_iter()
        .map(|at| (text[..at].trim_end(), text[at..].trim_start()))
        .filter(|(first, second)| !first.is_empty() && !second.is_empty())
        .min_by(|a, b| {
            let wider = |(x, y): &(&str, &str)| width_em(font, x).max(width_em(font, y));
            wider(a).total_cmp(&wider(b))
        })
}

/// Whether a line may start at byte `at`: after a space, or next to a CJK character
/// (CJK text has no spaces and breaks between characters). Closing punctuation never
/// starts a line.
fn is_line_break_opportunity(text: &str, at: usize) -> bool {
    let before = text[..at].chars().next_back();
    let after = text[at..].chars().next();
    match (before, after) {
        (Some(b), Some(a)) => {
            if is_closing_punctuation(a) {
                return false;
            }
            b == ' ' || (a != ' ' && (is_cjk(b) || is_cjk(a)))
        }
        _ => false,
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x9FFF      // radicals, kana, CJK symbols, unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0xFF00..=0xFFEF    // full-width forms
        | 0x20000..=0x3FFFF) // extension ideographs
}

fn is_closing_punctuation(c: char) -> bool {
    matches!(
        c,
        '，' | '。'
            | '、'
            | '）'
            | '」'
            | '』'
            | '》'
            | '：'
            | '；'
            | '！'
            | '？'
            | ')'
            | ','
            | '.'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::badges::render::Font;

    /// Every character one em wide: makes expectations easy to compute by hand.
    struct Monospace;

    impl Advances for Monospace {
        fn advance_em(&self, _: char) -> f32 {
            1.0
        }
        fn line_height_em(&self) -> f32 {
            1.0
        }
        fn ascent_em(&self) -> f32 {
            0.8
        }
    }

    fn area(width: f32, height: f32) -> FitBox {
        FitBox { width, height, max_size: 20.0, min_size: 10.0, max_lines: 2 }
    }

    fn assert_fits(font: &impl Advances, fitted: &Fitted, area: &FitBox) {
        for line in &fitted.lines {
            let width = width_em(font, line) * fitted.size;
            assert!(width <= area.width + 1e-3, "{line:?} is {width} pt wide in {}", area.width);
        }
        let height = font.line_height_em() * fitted.lines.len() as f32 * fitted.size;
        assert!(height <= area.height + 1e-3, "{height} pt tall in {}", area.height);
        assert!(fitted.lines.len() <= usize::from(area.max_lines));
    }

    #[test]
    fn a_short_text_keeps_the_largest_size_on_one_line() {
        let fitted = fit(&Monospace, "  Ann ", &area(200.0, 50.0));
        assert_eq!(fitted, Fitted { size: 20.0, lines: vec!["Ann".into()] });
    }

    #[test]
    fn a_longer_text_shrinks_before_it_wraps() {
        // 13 ems in 180 pt: 13.8 pt, still above the 10 pt minimum.
        let fitted = fit(&Monospace, "Wang Xiaoming", &area(180.0, 50.0));
        assert_eq!(fitted.lines, vec!["Wang Xiaoming"]);
        assert!((fitted.size - 180.0 / 13.0).abs() < 1e-4);
    }

    #[test]
    fn a_text_too_long_for_the_minimum_wraps_at_the_most_balanced_space() {
        let fitted =
            fit(&Monospace, "International Exhibition Company Limited", &area(150.0, 40.0));
        assert_eq!(fitted.lines, vec!["International Exhibition", "Company Limited"]);
        assert_fits(&Monospace, &fitted, &area(150.0, 40.0));
    }

    #[test]
    fn cjk_wraps_between_characters_into_halves() {
        let fitted = fit(&Monospace, "上海国际展览中心有限公司", &area(100.0, 40.0));
        assert_eq!(fitted.lines, vec!["上海国际展览", "中心有限公司"]);
    }

    #[test]
    fn closing_punctuation_never_starts_a_line() {
        let fitted = fit(&Monospace, "甲乙丙，丁戊己", &area(40.0, 40.0));
        assert!(fitted.lines.iter().all(|line| !line.starts_with('，')), "{fitted:?}");
    }

    #[test]
    fn one_long_word_breaks_anywhere_rather_than_overflow() {
        let word = "Supercalifragilisticexpialidocious";
        let fitted = fit(&Monospace, word, &area(120.0, 40.0));
        assert_eq!(fitted.lines.len(), 2);
        assert_eq!(fitted.lines.concat(), word);
        assert_fits(&Monospace, &fitted, &area(120.0, 40.0));
    }

    #[test]
    fn a_single_line_box_only_shrinks() {
        let single = FitBox { max_lines: 1, ..area(60.0, 40.0) };
        let fitted = fit(&Monospace, "Chief Technology Officer", &single);
        assert_eq!(fitted.lines.len(), 1);
        assert_fits(&Monospace, &fitted, &single);
        assert!(fitted.size < single.min_size);
    }

    #[test]
    fn empty_text_has_no_lines() {
        assert!(fit(&Monospace, "   ", &area(100.0, 20.0)).is_empty());
    }

    #[test]
    fn real_font_widths_differ_between_latin_and_cjk() {
        let font = Font::shared().expect("shipped font parses");
        // Micro Hei: ideographs are one em, Latin letters are narrower.
        assert!((font.advance_em('中') - 1.0).abs() < 0.05);
        assert!(font.advance_em('i') < font.advance_em('W'));
        assert!(font.advance_em('W') < 1.0);
    }

    #[test]
    fn names_of_1_to_40_characters_always_fit_with_the_real_font() {
        let font = Font::shared().expect("shipped font parses");
        let name_box =
            FitBox { width: 226.0, height: 68.0, max_size: 32.0, min_size: 14.0, max_lines: 2 };
        let samples = ["欧", "W", "欧阳娜娜", "Maximilian Alexander von Hohenzollern-Sigmaringen"];
        let mut texts: Vec<String> = samples.iter().map(|s| (*s).to_owned()).collect();
        for n in 1..=40 {
            texts.push("国".repeat(n));
            texts.push("W".repeat(n));
            texts.push("Wm ".repeat(n).chars().take(n).collect());
            texts.push("欧A".repeat(n).chars().take(n).collect());
        }
        for text in &texts {
            let fitted = fit(font, text, &name_box);
            assert_fits(font, &fitted, &name_box);
            // Nothing is cut off: the lines hold every non-space character.
            let kept: String = fitted.lines.concat().chars().filter(|c| *c != ' ').collect();
            let given: String = text.chars().filter(|c| *c != ' ').collect();
            assert_eq!(kept, given, "{text:?}");
        }
    }
}
