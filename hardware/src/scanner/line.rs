//! Pure line handling: splitting the byte stream, cleaning codes, debouncing repeats.

use std::time::{Duration, Instant};

use super::{ScanLineError, ScannerSettings, Terminator};

/// ASCII group separator: GS1 codes use it as FNC1, so it is data, not noise.
const GROUP_SEPARATOR: char = '\u{1D}';

/// Splits a scanner's byte stream into lines, bounding their length.
#[derive(Debug)]
pub struct LineSplitter {
    terminator: Terminator,
    max_line: usize,
    line: Vec<u8>,
    /// Set after a too-long line was reported: bytes are dropped until the next terminator.
    discarding: bool,
}

impl LineSplitter {
    /// A splitter for `terminator` that rejects lines over `max_line` bytes.
    pub fn new(terminator: Terminator, max_line: usize) -> Self {
        Self { terminator, max_line, line: Vec::new(), discarding: false }
    }

    /// Feeds bytes; complete lines (without terminator) or errors are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Result<Vec<u8>, ScanLineError>>) {
        let end_byte = match self.terminator {
            Terminator::Cr => Some(b'\r'),
            // CR+LF lines end at LF; the CR is trimmed with other line-end bytes in `normalize`.
            Terminator::Lf | Terminator::CrLf => Some(b'\n'),
            Terminator::Tab => Some(b'\t'),
            Terminator::None => None,
        };
        for &byte in bytes {
            if Some(byte) == end_byte {
                if !std::mem::take(&mut self.discarding) {
                    out.push(Ok(std::mem::take(&mut self.line)));
                }
                self.line.clear();
            } else if self.discarding {
                continue;
            } else if self.line.len() >= self.max_line {
                self.line.clear();
                self.discarding = true;
                out.push(Err(ScanLineError::TooLong { limit: self.max_line }));
            } else {
                self.line.push(byte);
            }
        }
    }

    /// Ends the current line because the line went idle (for [`Terminator::None`]).
    pub fn flush(&mut self) -> Option<Vec<u8>> {
        self.discarding = false;
        (!self.line.is_empty()).then(|| std::mem::take(&mut self.line))
    }

    /// True while a partial line is buffered.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty()
    }

    /// Forgets any partial line (after a reconnect).
    pub fn reset(&mut self) {
        self.line.clear();
        self.discarding = false;
    }
}

/// Turns a raw line into a code: trims line ends, rejects noise, strips prefix, AIM id, suffix.
///
/// `Ok(None)` for lines that are empty once cleaned (blank lines, a lone CR of a CR+LF pair).
pub fn normalize(raw: &[u8], settings: &ScannerSettings) -> Result<Option<String>, ScanLineError> {
    let text = std::str::from_utf8(raw).map_err(|_| ScanLineError::NotText)?;
    let mut code = text.trim_matches(['\r', '\n']);
    if let Some(bad) = code.chars().find(|c| c.is_control() && *c != GROUP_SEPARATOR) {
        return Err(ScanLineError::ControlCharacter(u32::from(bad)));
    }
    if let Some(prefix) = settings.strip_prefix.as_deref() {
        code = code.strip_prefix(prefix).unwrap_or(code);
    }
    if settings.strip_aim {
        code = strip_aim_identifier(code);
    }
    if let Some(suffix) = settings.strip_suffix.as_deref() {
        code = code.strip_suffix(suffix).unwrap_or(code);
    }
    Ok((!code.is_empty()).then(|| code.to_owned()))
}

/// Removes a leading AIM identifier: `]`, a symbology letter, a modifier character (`]Q1`, `]C0`).
fn strip_aim_identifier(code: &str) -> &str {
    match code.as_bytes() {
        [b']', symbology, modifier, ..]
            if symbology.is_ascii_alphabetic() && modifier.is_ascii_alphanumeric() =>
        {
            &code[3..]
        }
        _ => code,
    }
}

/// Drops a code identical to the previous one seen within the window (double-sending devices).
#[derive(Debug)]
pub struct Debouncer {
    window: Duration,
    last: Option<(String, Instant)>,
}

impl Debouncer {
    /// A debouncer with `window`.
    pub fn new(window: Duration) -> Self {
        Self { window, last: None }
    }

    /// Whether `code` seen at `now` should be reported.
    pub fn accept(&mut self, code: &str, now: Instant) -> bool {
        let repeat = self.last.as_ref().is_some_and(|(last, at)| {
            last == code && now.saturating_duration_since(*at) < self.window
        });
        // Keep the latest sighting so a scanner re-reading continuously stays quiet.
        self.last = Some((code.to_owned(), now));
        !repeat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(terminator: Terminator, chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, ScanLineError>> {
        let mut splitter = LineSplitter::new(terminator, 16);
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut out);
        }
        out
    }

    #[test]
    fn splits_on_each_terminator_across_chunks() {
        assert_eq!(
            lines(Terminator::Cr, &[b"AB", b"C\rD", b"E\r"]),
            [Ok(b"ABC".to_vec()), Ok(b"DE".to_vec())]
        );
        assert_eq!(lines(Terminator::Lf, &[b"A\nB\n"]), [Ok(b"A".to_vec()), Ok(b"B".to_vec())]);
        assert_eq!(
            lines(Terminator::CrLf, &[b"A\r", b"\nB\r\n"]),
            [Ok(b"A\r".to_vec()), Ok(b"B\r".to_vec())]
        );
        assert_eq!(lines(Terminator::Tab, &[b"A\tB"]), [Ok(b"A".to_vec())]);
        assert_eq!(lines(Terminator::None, &[b"A\rB"]), []);
    }

    #[test]
    fn long_line_is_reported_once_and_the_next_line_survives() {
        let long = [b'x'; 40];
        let out = lines(Terminator::Cr, &[&long, b"tail\rOK\r"]);
        assert_eq!(out, [Err(ScanLineError::TooLong { limit: 16 }), Ok(b"OK".to_vec())]);
    }

    #[test]
    fn idle_flush_ends_unterminated_codes() {
        let mut splitter = LineSplitter::new(Terminator::None, 16);
        splitter.push(b"ABC", &mut Vec::new());
        assert!(splitter.has_partial());
        assert_eq!(splitter.flush(), Some(b"ABC".to_vec()));
        assert_eq!(splitter.flush(), None);
    }

    #[test]
    fn normalizes_prefix_aim_and_suffix() {
        let mut settings = ScannerSettings::new("/dev/null");
        assert_eq!(normalize(b"]Q1EXPO-123\r", &settings), Ok(Some("EXPO-123".into())));
        assert_eq!(normalize(b"]C0\x1d0101234\r", &settings), Ok(Some("\u{1d}0101234".into())));
        settings.strip_prefix = Some("@@".into());
        settings.strip_suffix = Some("#".into());
        assert_eq!(normalize(b"@@]Q1ABC#", &settings), Ok(Some("ABC".into())));
        assert_eq!(normalize(b"\r", &settings), Ok(None));
        assert_eq!(normalize(&[0xFF, 0xFE], &settings), Err(ScanLineError::NotText));
        assert_eq!(normalize(b"AB\x00C", &settings), Err(ScanLineError::ControlCharacter(0)));
        settings.strip_aim = false;
        assert_eq!(normalize(b"]Q1ABC", &settings), Ok(Some("]Q1ABC".into())));
    }

    #[test]
    fn debounces_identical_codes_within_the_window() {
        let mut debouncer = Debouncer::new(Duration::from_millis(500));
        let start = Instant::now();
        assert!(debouncer.accept("A", start));
        assert!(!debouncer.accept("A", start + Duration::from_millis(100)));
        assert!(debouncer.accept("B", start + Duration::from_millis(150)));
        assert!(debouncer.accept("A", start + Duration::from_millis(200)));
        assert!(debouncer.accept("A", start + Duration::from_millis(900)));
    }
}
