//! Heartbeats: what a station tells the hub about itself after each sync round, and every
//! [`HEARTBEAT_INTERVAL`] while it is idle, for the operations console's fleet page.
//!
//! The station gathers the figures through [`StationFigures`] (its print queue, devices
//! and gate lanes) and the sync worker adds what it knows itself (outbox, last error,
//! clock). The hub takes a heartbeat like any other hostile input: [`Heartbeat::check`]
//! bounds every text and list before it is stored.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often an idle station reports, whatever its sync interval.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// Largest heartbeat the hub reads.
pub const MAX_HEARTBEAT_BYTES: usize = 64 * 1024;
/// Longest text (version, error, device or lane name) in a heartbeat, in bytes.
pub const MAX_HEARTBEAT_TEXT: usize = 512;
/// Most devices, and most lanes, one heartbeat lists.
pub const MAX_HEARTBEAT_ITEMS: usize = 64;
/// More scans a minute than any turnstile lane can take: a figure above it is a lie.
pub const MAX_SCANS_PER_MINUTE: u32 = 10_000;

/// What the station program runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StationMode {
    /// The desktop app (desk, kiosk, admin or a gate's verdict screen).
    App,
    /// `expo-kiosk gate --config GATE.toml`: turnstile lanes without a screen.
    HeadlessGate,
}

impl StationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StationMode::App => "app",
            StationMode::HeadlessGate => "headless_gate",
        }
    }
}

/// The badge printer as the station's print queue sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterState {
    /// Jobs go through (or none failed).
    Ready,
    /// Jobs failed and wait for someone to fix the printer and retry them.
    Failing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterReport {
    pub state: PrinterState,
    /// Jobs queued or being sent.
    pub waiting: u32,
    /// Jobs that failed and were not retried yet.
    pub failed: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Scanner,
    IdReader,
    Camera,
    RelayBoard,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Scanner => "scanner",
            DeviceKind::IdReader => "id_reader",
            DeviceKind::Camera => "camera",
            DeviceKind::RelayBoard => "relay_board",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReport {
    pub kind: DeviceKind,
    /// The port or name the station knows it by.
    pub name: String,
    pub connected: bool,
}

/// One gate lane over the last minute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneReport {
    /// `GATE/LANE`.
    pub lane: String,
    pub scans_per_minute: u32,
    pub denied_per_minute: u32,
}

impl LaneReport {
    /// True when the lane denies more than half its scans: a misconfigured zone, a wrong
    /// day, a revoked batch of badges.
    pub fn denies_most(&self) -> bool {
        u64::from(self.denied_per_minute) * 2 > u64::from(self.scans_per_minute)
    }
}

/// What the station's own parts report, gathered on the sync thread: keep it cheap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub printer: Option<PrinterReport>,
    pub devices: Vec<DeviceReport>,
    pub lanes: Vec<LaneReport>,
}

/// Filled in by the desktop app and the headless gate.
pub trait StationFigures: Send {
    /// The program's version.
    fn version(&self) -> String;
    fn mode(&self) -> StationMode;
    fn figures(&self) -> Figures;
}

/// `POST /v1/heartbeat`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub protocol: u32,
    pub version: String,
    pub mode: StationMode,
    /// The station's wall clock when it sent this (Unix ms): the hub works out the offset.
    pub sent_at_ms: u64,
    /// Local changes the hub has not acknowledged yet.
    pub pending: u64,
    /// Why the last sync round failed; `None` once one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// `None` when the station has no badge printer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printer: Option<PrinterReport>,
    #[serde(default)]
    pub devices: Vec<DeviceReport>,
    #[serde(default)]
    pub lanes: Vec<LaneReport>,
}

/// The hub's answer to a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// The station's clock minus the hub's, in ms (the network's delay included).
    pub clock_offset_ms: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadHeartbeat {
    #[error("{field} is longer than {MAX_HEARTBEAT_TEXT} bytes")]
    TextTooLong { field: &'static str },
    #[error("{field} lists more than {MAX_HEARTBEAT_ITEMS} items")]
    TooManyItems { field: &'static str },
    #[error("lane {lane:?}: {denied} denials out of {scans} scans a minute (at most {MAX_SCANS_PER_MINUTE} scans)")]
    ImpossibleLaneFigures { lane: String, scans: u32, denied: u32 },
}

impl Heartbeat {
    /// The station's own figures plus what the sync worker knows.
    pub fn new(
        source: &dyn StationFigures,
        sent_at_ms: u64,
        pending: u64,
        last_error: Option<String>,
    ) -> Self {
        let Figures { printer, devices, lanes } = source.figures();
        Self {
            protocol: crate::protocol::PROTOCOL_VERSION,
            version: source.version(),
            mode: source.mode(),
            sent_at_ms,
            pending,
            last_error: last_error.map(|error| truncate(error, MAX_HEARTBEAT_TEXT)),
            printer,
            devices,
            lanes,
        }
    }

    /// Bounds every text and list, and refuses lane figures no lane can have.
    pub fn check(&self) -> Result<(), BadHeartbeat> {
        let long = |text: &str| text.len() > MAX_HEARTBEAT_TEXT;
        if long(&self.version) {
            return Err(BadHeartbeat::TextTooLong { field: "version" });
        }
        if self.last_error.as_deref().is_some_and(long) {
            return Err(BadHeartbeat::TextTooLong { field: "last_error" });
        }
        if self.devices.len() > MAX_HEARTBEAT_ITEMS {
            return Err(BadHeartbeat::TooManyItems { field: "devices" });
        }
        if self.lanes.len() > MAX_HEARTBEAT_ITEMS {
            return Err(BadHeartbeat::TooManyItems { field: "lanes" });
        }
        if self.devices.iter().any(|d| long(&d.name)) {
            return Err(BadHeartbeat::TextTooLong { field: "devices.name" });
        }
        for lane in &self.lanes {
            if long(&lane.lane) {
                return Err(BadHeartbeat::TextTooLong { field: "lanes.lane" });
            }
            if lane.scans_per_minute > MAX_SCANS_PER_MINUTE
                || lane.denied_per_minute > lane.scans_per_minute
            {
                return Err(BadHeartbeat::ImpossibleLaneFigures {
                    lane: truncate(lane.lane.clone(), 64),
                    scans: lane.scans_per_minute,
                    denied: lane.denied_per_minute,
                });
            }
        }
        Ok(())
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Gate;

    impl StationFigures for Gate {
        fn version(&self) -> String {
            "0.1.0".into()
        }
        fn mode(&self) -> StationMode {
            StationMode::HeadlessGate
        }
        fn figures(&self) -> Figures {
            Figures {
                lanes: vec![LaneReport {
                    lane: "north/1".into(),
                    scans_per_minute: 10,
                    denied_per_minute: 6,
                }],
                ..Figures::default()
            }
        }
    }

    #[test]
    fn a_heartbeat_is_bounded_and_lane_figures_must_be_possible() {
        let error = "错".repeat(400);
        let beat = Heartbeat::new(&Gate, 1, 3, Some(error));
        assert!(beat.last_error.as_ref().unwrap().len() <= MAX_HEARTBEAT_TEXT);
        assert_eq!(beat.check(), Ok(()));
        assert!(beat.lanes[0].denies_most());

        let mut bad = beat.clone();
        bad.lanes[0].denied_per_minute = 11;
        assert!(matches!(bad.check(), Err(BadHeartbeat::ImpossibleLaneFigures { .. })));
        let mut bad = beat.clone();
        bad.version = "v".repeat(MAX_HEARTBEAT_TEXT + 1);
        assert_eq!(bad.check(), Err(BadHeartbeat::TextTooLong { field: "version" }));
        let mut bad = beat.clone();
        bad.devices =
            vec![
                DeviceReport { kind: DeviceKind::Scanner, name: "s".into(), connected: true };
                MAX_HEARTBEAT_ITEMS + 1
            ];
        assert_eq!(bad.check(), Err(BadHeartbeat::TooManyItems { field: "devices" }));

        let unknown_mode =
            r#"{"protocol":2,"version":"1","mode":"toaster","sent_at_ms":1,"pending":0}"#;
        assert!(serde_json::from_str::<Heartbeat>(unknown_mode).is_err());
    }
}
