//! GATE.toml: the lanes of one gate process, their scanners and relay channels.
//! Every key is documented in `assets/gates/example-gate.toml`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use expo_hardware::relay::{Polarity, RelayProtocol, RelaySettings};
use expo_hardware::scanner::{ScannerSettings, Terminator};
use expo_sync::station::WorkerOptions;
use serde::Deserialize;

use crate::access::Direction;
use crate::domain::EventDefinition;

/// LCUS boards drop an OFF that follows the ON within about 80 ms (see the relay driver).
const LCUS_MIN_PULSE_MS: u64 = 100;
/// Shortest and longest sync interval a gate accepts: below half a second a hall of gates
/// would mostly keep the hub busy; above an hour revocations would hardly arrive in time.
const SYNC_INTERVAL_S: std::ops::RangeInclusive<f64> = 0.5..=3600.0;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// This gate's name in the decision log; default: the station id.
    #[serde(default)]
    pub gate: Option<String>,
    #[serde(default)]
    pub control: ControlConfig,
    /// Seconds between sync rounds while the station is enrolled with a hub; default: the
    /// desktop app's interval.
    #[serde(default)]
    pub sync_interval_s: Option<f64>,
    pub relays: Vec<RelayBoardConfig>,
    pub lanes: Vec<LaneConfig>,
}

/// Where emergency and lock-down commands come from.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Unix socket for `expo-kiosk gate control`.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// A serial line input (fire-alarm interface) sending `emergency`, `lockdown`, `normal`.
    #[serde(default)]
    pub alarm_input: Option<LineInputConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolName {
    Lcus,
    Modbus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolarityName {
    NormallyOpen,
    NormallyClosed,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayBoardConfig {
    pub id: String,
    pub path: String,
    pub protocol: ProtocolName,
    #[serde(default = "default_modbus_address")]
    pub modbus_address: u8,
    #[serde(default = "default_baud")]
    pub baud: u32,
    #[serde(default = "one")]
    pub channels: u8,
    #[serde(default = "default_polarity")]
    pub polarity: PolarityName,
    #[serde(default = "default_echo_timeout_ms")]
    pub echo_timeout_ms: u64,
    #[serde(default = "default_echo_retries")]
    pub echo_retries: u8,
}

impl RelayBoardConfig {
    pub fn settings(&self) -> RelaySettings {
        let protocol = match self.protocol {
            ProtocolName::Lcus => RelayProtocol::Lcus,
            ProtocolName::Modbus => RelayProtocol::Modbus { address: self.modbus_address },
        };
        RelaySettings {
            protocol,
            baud: self.baud,
            polarity: match self.polarity {
                PolarityName::NormallyOpen => Polarity::NormallyOpen,
                PolarityName::NormallyClosed => Polarity::NormallyClosed,
            },
            channels: self.channels,
            echo_timeout: Duration::from_millis(self.echo_timeout_ms),
            echo_retries: self.echo_retries,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneConfig {
    pub id: String,
    /// A zone id of the event.
    pub zone: String,
    pub direction: Direction,
    /// The relay board (`relays[].id`) and channel that open this lane.
    pub relay: String,
    pub channel: u8,
    #[serde(default = "default_pulse_ms")]
    pub pulse_ms: u64,
    /// A second channel on the same board pulsed on a denial (buzzer, red light).
    #[serde(default)]
    pub deny_channel: Option<u8>,
    #[serde(default = "default_deny_pulse_ms")]
    pub deny_pulse_ms: u64,
    /// Turnstile "passed" input; without it every grant counts.
    #[serde(default)]
    pub pass_confirm: Option<PassConfirmConfig>,
    pub scanner: ScannerConfig,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassConfirmConfig {
    pub input: LineInputConfig,
    /// A grant nobody walks through within this many seconds is annulled.
    pub timeout_s: f64,
}

/// A serial device that sends one text line per event.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineInputConfig {
    pub path: String,
    #[serde(default = "default_baud")]
    pub baud: u32,
}

impl LineInputConfig {
    /// Settings for reading it with the scanner reader: every line counts, even repeats.
    pub fn settings(&self) -> ScannerSettings {
        ScannerSettings {
            baud: self.baud,
            terminator: Terminator::Lf,
            strip_aim: false,
            debounce: Duration::ZERO,
            max_line: 64,
            ..ScannerSettings::new(self.path.clone())
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminatorName {
    Cr,
    Lf,
    CrLf,
    Tab,
    None,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScannerConfig {
    /// A serial or USB-CDC scanner.
    Serial {
        path: String,
        #[serde(default = "default_baud")]
        baud: u32,
        #[serde(default = "default_terminator")]
        terminator: TerminatorName,
        #[serde(default = "default_debounce_ms")]
        debounce_ms: u64,
        #[serde(default = "default_max_line")]
        max_line: usize,
        #[serde(default)]
        strip_prefix: Option<String>,
        #[serde(default)]
        strip_suffix: Option<String>,
        #[serde(default = "default_true")]
        strip_aim: bool,
    },
    /// A keyboard-wedge scanner feeding this process's standard input, one code per line.
    Keyboard {
        #[serde(default = "default_max_line")]
        max_line: usize,
    },
    /// A camera decoding QR codes (needs the `camera` build feature).
    Camera {
        #[serde(default)]
        index: u32,
        #[serde(default = "default_camera_debounce_ms")]
        debounce_ms: u64,
    },
}

impl ScannerConfig {
    pub fn serial_settings(&self) -> Option<ScannerSettings> {
        let ScannerConfig::Serial {
            path,
            baud,
            terminator,
            debounce_ms,
            max_line,
            strip_prefix,
            strip_suffix,
            strip_aim,
        } = self
        else {
            return None;
        };
        Some(ScannerSettings {
            baud: *baud,
            terminator: match terminator {
                TerminatorName::Cr => Terminator::Cr,
                TerminatorName::Lf => Terminator::Lf,
                TerminatorName::CrLf => Terminator::CrLf,
                TerminatorName::Tab => Terminator::Tab,
                TerminatorName::None => Terminator::None,
            },
            strip_prefix: strip_prefix.clone(),
            strip_suffix: strip_suffix.clone(),
            strip_aim: *strip_aim,
            debounce: Duration::from_millis(*debounce_ms),
            max_line: *max_line,
            ..ScannerSettings::new(path.clone())
        })
    }
}

fn default_modbus_address() -> u8 {
    1
}
fn default_baud() -> u32 {
    9600
}
fn one() -> u8 {
    1
}
fn default_polarity() -> PolarityName {
    PolarityName::NormallyOpen
}
fn default_echo_timeout_ms() -> u64 {
    200
}
fn default_echo_retries() -> u8 {
    2
}
fn default_pulse_ms() -> u64 {
    500
}
fn default_deny_pulse_ms() -> u64 {
    300
}
fn default_terminator() -> TerminatorName {
    TerminatorName::Cr
}
fn default_debounce_ms() -> u64 {
    1000
}
fn default_camera_debounce_ms() -> u64 {
    2000
}
fn default_max_line() -> usize {
    512
}
fn default_true() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("gate config is not valid TOML for a gate: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("gate config is inconsistent: {0}")]
    Invalid(String),
}

impl GateConfig {
    /// Parses GATE.toml and checks it against the event the station serves.
    pub fn from_toml(text: &str, event: &EventDefinition) -> Result<Self, ConfigError> {
        let config: GateConfig = toml::from_str(text)?;
        config.validate(event)?;
        Ok(config)
    }

    pub fn board_index(&self, id: &str) -> Option<usize> {
        self.relays.iter().position(|board| board.id == id)
    }

    fn validate(&self, event: &EventDefinition) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if self.lanes.is_empty() {
            return invalid("a gate needs at least one lane".into());
        }
        if self.sync_interval_s.is_some_and(|s| !SYNC_INTERVAL_S.contains(&s)) {
            return invalid(format!(
                "sync_interval_s must be between {} and {} seconds",
                SYNC_INTERVAL_S.start(),
                SYNC_INTERVAL_S.end()
            ));
        }
        let mut board_ids = HashSet::new();
        for board in &self.relays {
            if !board_ids.insert(board.id.as_str()) {
                return invalid(format!("relay board {} is defined twice", board.id));
            }
            if board.channels == 0 {
                return invalid(format!("relay board {} has no channels", board.id));
            }
        }
        let mut lane_ids = HashSet::new();
        let mut channels_in_use = HashSet::new();
        let mut keyboards = 0;
        for lane in &self.lanes {
            let name = &lane.id;
            if !lane_ids.insert(name.as_str()) {
                return invalid(format!("lane {name} is defined twice"));
            }
            if event.zone(&lane.zone).is_none() {
                return invalid(format!("lane {name}: the event has no zone {}", lane.zone));
            }
            let Some(board) = self.board_index(&lane.relay).map(|i| &self.relays[i]) else {
                return invalid(format!("lane {name}: no relay board {}", lane.relay));
            };
            for channel in std::iter::once(lane.channel).chain(lane.deny_channel) {
                if channel == 0 || channel > board.channels {
                    return invalid(format!(
                        "lane {name}: channel {channel} is not on board {} (1..={})",
                        board.id, board.channels
                    ));
                }
                if !channels_in_use.insert((board.id.as_str(), channel)) {
                    return invalid(format!(
                        "lane {name}: channel {channel} of board {} is already used",
                        board.id
                    ));
                }
            }
            if board.protocol == ProtocolName::Lcus
                && lane.pulse_ms.min(lane.deny_pulse_ms) < LCUS_MIN_PULSE_MS
            {
                return invalid(format!(
                    "lane {name}: LCUS boards need pulses of at least {LCUS_MIN_PULSE_MS} ms"
                ));
            }
            if let Some(confirm) = &lane.pass_confirm {
                if !(confirm.timeout_s.is_finite() && confirm.timeout_s > 0.0) {
                    return invalid(format!("lane {name}: pass_confirm.timeout_s must be > 0"));
                }
            }
            match &lane.scanner {
                ScannerConfig::Keyboard { .. } => keyboards += 1,
                ScannerConfig::Camera { .. } if !cfg!(feature = "camera") => {
                    return invalid(format!(
                        "lane {name}: camera scanners need a build with `--features camera`"
                    ));
                }
                _ => {}
            }
        }
        if keyboards > 1 {
            return invalid("only one lane can read the keyboard (standard input)".into());
        }
        Ok(())
    }

    /// How the background sync runs while the station is enrolled.
    pub fn sync_options(&self) -> WorkerOptions {
        let defaults = WorkerOptions::default();
        let interval = self.sync_interval_s.map_or(defaults.interval, Duration::from_secs_f64);
        WorkerOptions { interval, ..defaults }
    }

    /// Whether a lane reads standard input (then control commands cannot).
    pub fn uses_keyboard(&self) -> bool {
        self.lanes.iter().any(|lane| matches!(lane.scanner, ScannerConfig::Keyboard { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_GATE: &str = include_str!("../../assets/gates/example-gate.toml");
    const EXAMPLE_EVENT: &str = include_str!("../../assets/events/example-event.toml");

    fn event() -> EventDefinition {
        EventDefinition::from_toml(EXAMPLE_EVENT).unwrap()
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let config = GateConfig::from_toml(EXAMPLE_GATE, &event()).unwrap();
        assert!(config.lanes.len() >= 2);
        assert!(config.lanes.iter().any(|l| l.direction == Direction::Out));
        assert_eq!(config.sync_options().interval, Duration::from_secs(2));
        let without = EXAMPLE_GATE.replacen("sync_interval_s = 2\n", "", 1);
        let config = GateConfig::from_toml(&without, &event()).unwrap();
        assert_eq!(config.sync_options().interval, WorkerOptions::default().interval);
    }

    #[test]
    fn inconsistent_configs_name_the_problem() {
        let cases = [
            (EXAMPLE_GATE.replacen("zone = \"hall-1\"", "zone = \"hall-9\"", 1), "no zone hall-9"),
            (EXAMPLE_GATE.replacen("channel = 2", "channel = 1", 1), "already used"),
            (EXAMPLE_GATE.replacen("channel = 1", "channel = 9", 1), "not on board"),
            (EXAMPLE_GATE.replacen("relay = \"board-a\"", "relay = \"nope\"", 1), "no relay board"),
            (EXAMPLE_GATE.replacen("pulse_ms = 500", "pulse_ms = 20", 1), "at least 100 ms"),
            (EXAMPLE_GATE.replacen("timeout_s = 8", "timeout_s = -1", 1), "timeout_s"),
            (EXAMPLE_GATE.replacen("sync_interval_s = 2", "sync_interval_s = 0.1", 1), "between"),
            (EXAMPLE_GATE.replacen("sync_interval_s = 2", "sync_interval_s = nan", 1), "between"),
        ];
        for (text, expected) in cases {
            let err = GateConfig::from_toml(&text, &event()).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let typo = EXAMPLE_GATE.replacen("pulse_ms", "pulse_msec", 1);
        assert!(matches!(GateConfig::from_toml(&typo, &event()), Err(ConfigError::Toml(_))));
    }
}
