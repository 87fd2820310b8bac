//! Hybrid logical clock (Kulkarni et al., 2014).
//!
//! A timestamp is `(wall_ms, counter, station)`. It never goes backwards on one
//! station, it moves past every timestamp the station has seen from others, and it
//! stays close to wall time. Its string form sorts like the timestamp itself, so SQL
//! can compare HLCs as text.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validate::MAX_CLOCK_AHEAD_MS;

/// The wall clock in milliseconds since the Unix epoch (what HLCs count).
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One hybrid logical timestamp. Ties on `(wall_ms, counter)` break on the station id,
/// so two stations never produce equal timestamps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
    pub station: String,
}

impl Ord for Hlc {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.wall_ms, self.counter, &self.station).cmp(&(
            other.wall_ms,
            other.counter,
            &other.station,
        ))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Hlc {
    /// Fixed-width decimal fields, so the text order equals the timestamp order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:015}-{:010}-{}", self.wall_ms, self.counter, self.station)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed hybrid logical timestamp {0:?}")]
pub struct HlcParseError(String);

impl FromStr for Hlc {
    type Err = HlcParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HlcParseError(s.chars().take(64).collect());
        let mut parts = s.splitn(3, '-');
        let wall = parts.next().ok_or_else(err)?;
        let counter = parts.next().ok_or_else(err)?;
        let station = parts.next().ok_or_else(err)?;
        if wall.len() != 15 || counter.len() != 10 || station.is_empty() {
            return Err(err());
        }
        Ok(Hlc {
            wall_ms: wall.parse().map_err(|_| err())?,
            counter: counter.parse().map_err(|_| err())?,
            station: station.to_owned(),
        })
    }
}

impl Serialize for Hlc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The clock of one station. Persist [`HlcClock::last`] to keep monotonicity across
/// restarts (the station store does, in the same transaction as each change).
#[derive(Clone, Debug)]
pub struct HlcClock {
    station: String,
    last_wall_ms: u64,
    last_counter: u32,
}

impl HlcClock {
    pub fn new(station: impl Into<String>) -> Self {
        Self { station: station.into(), last_wall_ms: 0, last_counter: 0 }
    }

    /// Resumes a clock from the last timestamp it issued or observed.
    pub fn resume(station: impl Into<String>, last: Option<&Hlc>) -> Self {
        let mut clock = Self::new(station);
        if let Some(last) = last {
            clock.last_wall_ms = last.wall_ms;
            clock.last_counter = last.counter;
        }
        clock
    }

    pub fn station(&self) -> &str {
        &self.station
    }

    /// A new timestamp for a local event at physical time `wall_ms`.
    pub fn tick(&mut self, wall_ms: u64) -> Hlc {
        if wall_ms > self.last_wall_ms {
            self.last_wall_ms = wall_ms;
            self.last_counter = 0;
        } else {
            self.last_counter = self.last_counter.saturating_add(1);
        }
        self.current()
    }

    /// Moves the clock past a timestamp received from another station, unless that
    /// timestamp is more than [`MAX_CLOCK_AHEAD_MS`] ahead of `wall_ms`: a clock from
    /// the future is never adopted (it would make every later local edit tie and lose).
    pub fn observe(&mut self, remote: &Hlc, wall_ms: u64) -> Hlc {
        if remote.wall_ms > wall_ms.saturating_add(MAX_CLOCK_AHEAD_MS) {
            return self.current();
        }
        let max_wall = wall_ms.max(self.last_wall_ms).max(remote.wall_ms);
        self.last_counter = if max_wall == self.last_wall_ms && max_wall == remote.wall_ms {
            self.last_counter.max(remote.counter).saturating_add(1)
        } else if max_wall == self.last_wall_ms {
            self.last_counter.saturating_add(1)
        } else if max_wall == remote.wall_ms {
            remote.counter.saturating_add(1)
        } else {
            0
        };
        self.last_wall_ms = max_wall;
        self.current()
    }

    fn current(&self) -> Hlc {
        Hlc {
            wall_ms: self.last_wall_ms,
            counter: self.last_counter,
            station: self.station.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tick_is_monotonic_when_the_wall_clock_steps_back() {
        let mut clock = HlcClock::new("desk-1");
        let a = clock.tick(10_000);
        let b = clock.tick(5_000);
        let c = clock.tick(10_000);
        assert!(a < b && b < c);
        assert_eq!(b.wall_ms, 10_000);
    }

    #[test]
    fn observe_moves_past_a_station_whose_clock_is_minutes_ahead() {
        let mut fast = HlcClock::new("gate-9");
        let remote = fast.tick(1_000_000 + 5 * 60_000);
        let mut slow = HlcClock::new("desk-1");
        let seen = slow.observe(&remote, 1_000_000);
        assert!(seen > remote);
        assert!(slow.tick(1_000_001) > seen);
    }

    #[test]
    fn a_clock_from_the_future_is_never_adopted() {
        let mut clock = HlcClock::new("desk-1");
        let before = clock.tick(1_000_000);
        let forged = Hlc { wall_ms: 999_999_999_999_999, counter: u32::MAX, station: "x".into() };
        assert_eq!(clock.observe(&forged, 1_000_001), before);
        let next = clock.tick(1_000_002);
        assert_eq!((next.wall_ms, next.counter), (1_000_002, 0), "local edits keep their clock");
    }

    #[test]
    fn malformed_text_is_an_error() {
        for bad in ["", "1-2-x", "000000000000001-000000000x-a", "000000000000001-0000000001-"] {
            assert!(bad.parse::<Hlc>().is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn text_order_is_timestamp_order(a in 0u64..10u64.pow(15), b in 0u64..10u64.pow(15),
                                          ca in any::<u32>(), cb in any::<u32>(),
                                          sa in "[a-z0-9]{1,8}", sb in "[a-z0-9]{1,8}") {
            let x = Hlc { wall_ms: a, counter: ca, station: sa };
            let y = Hlc { wall_ms: b, counter: cb, station: sb };
            prop_assert_eq!(x.cmp(&y), x.to_string().cmp(&y.to_string()));
            prop_assert_eq!(x.to_string().parse::<Hlc>().unwrap(), x);
        }
    }
}
