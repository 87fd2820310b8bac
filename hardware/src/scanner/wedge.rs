//! Keyboard-wedge detection: telling a scanner's keystroke burst from a person typing.
//!
//! Pure logic: the UI feeds key events with their timestamps and gets verdicts back.

use std::time::Duration;

/// A key event from a keyboard (or a scanner pretending to be one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// The Enter key.
    Enter,
}

/// Timing rules for recognising a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WedgeSettings {
    /// Longest gap between keys of one scan; scanners type every few ms, people every 100+ ms.
    pub max_gap: Duration,
    /// Fewest characters a scan has.
    pub min_len: usize,
    /// Whether a scan must end with Enter (otherwise a pause ends it).
    pub require_enter: bool,
}

impl Default for WedgeSettings {
    fn default() -> Self {
        Self { max_gap: Duration::from_millis(50), min_len: 4, require_enter: true }
    }
}

/// What the detector decided after a key event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WedgeVerdict {
    /// Still collecting: the keys so far might be a scan.
    Pending,
    /// A complete scan.
    Scan(String),
    /// Keys typed by a person, released to the UI (`\n` stands for Enter).
    Typed(String),
}

/// Buffers keys while they arrive at scanner speed and decides scan or typing.
#[derive(Debug, Default)]
pub struct WedgeDetector {
    settings: WedgeSettings,
    buffer: String,
    last_key_at: Option<Duration>,
}

impl WedgeDetector {
    /// A detector with `settings`.
    pub fn new(settings: WedgeSettings) -> Self {
        Self { settings, buffer: String::new(), last_key_at: None }
    }

    /// The timing rules this detector applies.
    pub fn settings(&self) -> WedgeSettings {
        self.settings
    }

    /// Feeds one key pressed at `at` (any monotonic clock, e.g. the UI event timestamp).
    pub fn feed(&mut self, key: Key, at: Duration) -> WedgeVerdict {
        let gap_exceeded =
            self.last_key_at.is_some_and(|last| at.saturating_sub(last) > self.settings.max_gap);
        self.last_key_at = Some(at);
        if gap_exceeded && !self.buffer.is_empty() {
            // Too slow for a scanner: what was held back was typed, and this key starts afresh.
            let typed = std::mem::take(&mut self.buffer);
            return match key {
                Key::Char(c) => {
                    self.buffer.push(c);
                    WedgeVerdict::Typed(typed)
                }
                Key::Enter => WedgeVerdict::Typed(typed + "\n"),
            };
        }
        match key {
            Key::Char(c) => {
                self.buffer.push(c);
                WedgeVerdict::Pending
            }
            Key::Enter => {
                let burst = std::mem::take(&mut self.buffer);
                if burst.chars().count() >= self.settings.min_len {
                    WedgeVerdict::Scan(burst)
                } else {
                    WedgeVerdict::Typed(burst + "\n")
                }
            }
        }
    }

    /// Called from a UI timer: once the gap has passed, held keys are released (or, when Enter
    /// is not required, a long enough burst becomes a scan).
    pub fn idle(&mut self, now: Duration) -> WedgeVerdict {
        let quiet =
            self.last_key_at.is_some_and(|last| now.saturating_sub(last) > self.settings.max_gap);
        if !quiet || self.buffer.is_empty() {
            return WedgeVerdict::Pending;
        }
        let burst = std::mem::take(&mut self.buffer);
        if !self.settings.require_enter && burst.chars().count() >= self.settings.min_len {
            WedgeVerdict::Scan(burst)
        } else {
            WedgeVerdict::Typed(burst)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(key, milliseconds)` events and collects every non-pending verdict.
    fn run(detector: &mut WedgeDetector, events: &[(Key, u64)]) -> Vec<WedgeVerdict> {
        events
            .iter()
            .map(|&(key, ms)| detector.feed(key, Duration::from_millis(ms)))
            .filter(|verdict| *verdict != WedgeVerdict::Pending)
            .collect()
    }

    fn keys(text: &str, start_ms: u64, gaps_ms: &[u64]) -> Vec<(Key, u64)> {
        let mut at = start_ms;
        text.chars()
            .zip(gaps_ms.iter().cycle())
            .map(|(c, gap)| {
                at += gap;
                (if c == '\n' { Key::Enter } else { Key::Char(c) }, at)
            })
            .collect()
    }

    // Recorded from a Honeywell 1450g in USB-HID mode: 4-12 ms between keystrokes.
    const SCANNER_GAPS: [u64; 7] = [8, 4, 12, 6, 8, 5, 9];
    // Recorded from a person typing a badge number: 95-310 ms between keystrokes.
    const HUMAN_GAPS: [u64; 6] = [180, 95, 240, 130, 310, 150];

    #[test]
    fn scanner_burst_with_enter_is_a_scan() {
        let mut detector = WedgeDetector::default();
        let verdicts = run(&mut detector, &keys("EXPO-2024-00042\n", 1000, &SCANNER_GAPS));
        assert_eq!(verdicts, [WedgeVerdict::Scan("EXPO-2024-00042".into())]);
    }

    #[test]
    fn human_typing_is_released_as_typed() {
        let mut detector = WedgeDetector::default();
        let verdicts = run(&mut detector, &keys("4711\n", 0, &HUMAN_GAPS));
        let typed: String = verdicts
            .iter()
            .map(|v| match v {
                WedgeVerdict::Typed(text) => text.as_str(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(typed, "4711\n");
    }

    #[test]
    fn short_fast_burst_is_not_a_scan() {
        let mut detector = WedgeDetector::default();
        assert_eq!(
            run(&mut detector, &keys("ab\n", 0, &SCANNER_GAPS)),
            [WedgeVerdict::Typed("ab\n".into())]
        );
    }

    #[test]
    fn scan_right_after_typing_is_still_recognised() {
        let mut detector = WedgeDetector::default();
        let mut events = keys("hi", 0, &HUMAN_GAPS);
        events.extend(keys("QR12345\n", 2000, &SCANNER_GAPS));
        assert_eq!(
            run(&mut detector, &events),
            [
                WedgeVerdict::Typed("h".into()),
                WedgeVerdict::Typed("i".into()),
                WedgeVerdict::Scan("QR12345".into())
            ]
        );
    }

    #[test]
    fn idle_releases_or_completes_a_burst() {
        let mut detector = WedgeDetector::default();
        run(&mut detector, &keys("ABCDEF", 0, &SCANNER_GAPS));
        assert_eq!(detector.idle(Duration::from_millis(60)), WedgeVerdict::Pending);
        assert_eq!(detector.idle(Duration::from_millis(500)), WedgeVerdict::Typed("ABCDEF".into()));

        let mut no_enter =
            WedgeDetector::new(WedgeSettings { require_enter: false, ..WedgeSettings::default() });
        run(&mut no_enter, &keys("ABCDEF", 0, &SCANNER_GAPS));
        assert_eq!(no_enter.idle(Duration::from_millis(500)), WedgeVerdict::Scan("ABCDEF".into()));
    }
}
