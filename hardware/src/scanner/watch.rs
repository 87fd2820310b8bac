//! What a scanner sends, byte by byte, for `expo-kiosk scanner watch`: each line with the
//! terminator it ended with, its AIM code identifier, and the gaps between its bytes, so a
//! technician can set a scanner's line settings (or the keyboard-wedge gap) from facts.

use std::time::{Duration, Instant};

use super::Terminator;
use crate::serial;

/// Opens a scanner's port for watching: raw 8N1, reads that time out every 50 ms so a line
/// without terminator can end on a pause.
pub fn open_watch_port(path: &str, baud: u32) -> serialport::Result<serialport::TTYPort> {
    serial::open(path, baud)
}

/// One line as the scanner sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedLine {
    /// The bytes before the terminator.
    pub raw: Vec<u8>,
    /// What ended the line; [`Terminator::None`] when the line went idle.
    pub terminator: Terminator,
    /// The AIM code identifier at the start (`]Q1` for QR), if any.
    pub aim: Option<String>,
    /// The longest gap between two bytes of the line (terminator included).
    pub longest_gap: Duration,
    /// The mean gap between two bytes of the line; zero for a one-byte line.
    pub mean_gap: Duration,
}

impl WatchedLine {
    /// The line with non-printable bytes written as `<0xNN>`, so noise is visible.
    pub fn shown(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw);
        text.chars()
            .map(|c| if c.is_control() { format!("<{:#04x}>", u32::from(c)) } else { c.into() })
            .collect()
    }
}

/// Splits a byte stream into [`WatchedLine`]s whatever the terminator.
#[derive(Debug)]
pub struct LineWatcher {
    idle: Duration,
    line: Vec<u8>,
    gaps: Vec<Duration>,
    last_at: Option<Instant>,
    /// A CR was seen: a LF right after it makes the pair one CR+LF terminator.
    pending_cr: bool,
}

impl LineWatcher {
    /// A watcher that ends a line without terminator after `idle` without bytes.
    pub fn new(idle: Duration) -> Self {
        Self { idle, line: Vec::new(), gaps: Vec::new(), last_at: None, pending_cr: false }
    }

    /// Feeds one byte that arrived at `at`; returns the line it completed, if any.
    pub fn push(&mut self, byte: u8, at: Instant) -> Option<WatchedLine> {
        let mut ended = None;
        if std::mem::take(&mut self.pending_cr) {
            if byte == b'\n' {
                self.note_gap(at);
                return Some(self.finish(Terminator::CrLf));
            }
            ended = Some(self.finish(Terminator::Cr));
        }
        if !self.line.is_empty() || byte == b'\r' {
            self.note_gap(at);
        }
        self.last_at = Some(at);
        match byte {
            b'\r' => self.pending_cr = true,
            b'\n' => return Some(self.finish(Terminator::Lf)),
            b'\t' => return Some(self.finish(Terminator::Tab)),
            other => self.line.push(other),
        }
        ended
    }

    /// Ends the line if nothing arrived for the idle time by `now`.
    pub fn idle(&mut self, now: Instant) -> Option<WatchedLine> {
        let quiet = self.last_at.is_some_and(|last| now.duration_since(last) >= self.idle);
        if !quiet {
            return None;
        }
        if std::mem::take(&mut self.pending_cr) {
            return Some(self.finish(Terminator::Cr));
        }
        (!self.line.is_empty()).then(|| self.finish(Terminator::None))
    }

    fn note_gap(&mut self, at: Instant) {
        if let Some(last) = self.last_at {
            self.gaps.push(at.saturating_duration_since(last));
        }
    }

    fn finish(&mut self, terminator: Terminator) -> WatchedLine {
        let raw = std::mem::take(&mut self.line);
        let gaps = std::mem::take(&mut self.gaps);
        let aim = match raw.as_slice() {
            [b']', symbology, modifier, ..]
                if symbology.is_ascii_alphabetic() && modifier.is_ascii_alphanumeric() =>
            {
                Some(String::from_utf8_lossy(&raw[..3]).into_owned())
            }
            _ => None,
        };
        let total: Duration = gaps.iter().sum();
        let mean_gap =
            u32::try_from(gaps.len()).ok().filter(|n| *n > 0).map_or(Duration::ZERO, |n| total / n);
        WatchedLine {
            aim,
            longest_gap: gaps.iter().copied().max().unwrap_or_default(),
            mean_gap,
            raw,
            terminator,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(
        watcher: &mut LineWatcher,
        bytes: &[u8],
        start: Instant,
        gap_ms: u64,
    ) -> Vec<WatchedLine> {
        let mut lines = Vec::new();
        for (i, &byte) in bytes.iter().enumerate() {
            let at = start + Duration::from_millis(gap_ms * i as u64);
            lines.extend(watcher.push(byte, at));
        }
        lines
    }

    #[test]
    fn tells_each_terminator_and_the_aim_identifier() {
        let start = Instant::now();
        let mut watcher = LineWatcher::new(Duration::from_millis(100));
        let lines = feed(&mut watcher, b"]Q1ABC\r\nDEF\rGH\tIJ\n", start, 2);
        let ends: Vec<_> = lines.iter().map(|l| (l.shown(), l.terminator)).collect();
        assert_eq!(
            ends,
            [
                ("]Q1ABC".into(), Terminator::CrLf),
                ("DEF".into(), Terminator::Cr),
                ("GH".into(), Terminator::Tab),
                ("IJ".into(), Terminator::Lf),
            ]
        );
        assert_eq!(lines[0].aim.as_deref(), Some("]Q1"));
        assert_eq!(lines[1].aim, None);
        assert_eq!(lines[0].longest_gap, Duration::from_millis(2));
        assert_eq!(lines[0].mean_gap, Duration::from_millis(2));
    }

    #[test]
    fn a_line_without_terminator_ends_when_idle_and_noise_is_shown() {
        let start = Instant::now();
        let mut watcher = LineWatcher::new(Duration::from_millis(100));
        assert!(feed(&mut watcher, b"R0\x0201", start, 30).is_empty());
        assert_eq!(watcher.idle(start + Duration::from_millis(150)), None, "not idle yet");
        let line = watcher.idle(start + Duration::from_millis(300)).expect("idle ends the line");
        assert_eq!((line.shown().as_str(), line.terminator), ("R0<0x02>01", Terminator::None));
        assert_eq!(line.longest_gap, Duration::from_millis(30));
        assert_eq!(watcher.idle(start + Duration::from_secs(9)), None, "nothing left");

        // A lone CR at the end of the stream is a CR terminator once the line goes quiet.
        feed(&mut watcher, b"XY\r", start + Duration::from_secs(10), 1);
        let line = watcher.idle(start + Duration::from_secs(11)).expect("CR line");
        assert_eq!((line.shown().as_str(), line.terminator), ("XY", Terminator::Cr));
    }
}
