//! Heartbeats and the operations console over HTTP, on SQLite and on PostgreSQL
//! (`EXPO_TEST_PG_URL`), against a real in-process hub.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::TestHub;
use expo_hub::heartbeat::StationReport;
use expo_hub::HubStore;
use expo_sync::client::{ClientError, HubClient};
use expo_sync::heartbeat::{
    DeviceKind, DeviceReport, Figures, Heartbeat, LaneReport, PrinterReport, PrinterState,
    StationFigures, StationMode,
};
use expo_sync::station::{SyncWorker, WorkerOptions};

hub_suite!(
    a_heartbeat_is_kept_as_the_latest_report_and_in_the_history,
    bad_heartbeats_are_refused_with_a_json_error,
    the_sync_worker_reports_after_its_rounds,
);

/// A gate with one lane denying most scans, a failing printer and a lost scanner.
struct Troubled;

impl StationFigures for Troubled {
    fn version(&self) -> String {
        "9.9.9".into()
    }
    fn mode(&self) -> StationMode {
        StationMode::HeadlessGate
    }
    fn figures(&self) -> Figures {
        Figures {
            printer: Some(PrinterReport { state: PrinterState::Failing, waiting: 4, failed: 2 }),
            devices: vec![DeviceReport {
                kind: DeviceKind::Scanner,
                name: "/dev/ttyACM0".into(),
                connected: false,
            }],
            lanes: vec![LaneReport {
                lane: "north/1".into(),
                scans_per_minute: 20,
                denied_per_minute: 15,
            }],
        }
    }
}

fn beat(pending: u64) -> Heartbeat {
    Heartbeat::new(
        &Troubled,
        expo_sync::hlc::wall_clock_ms(),
        pending,
        Some("hub unreachable".into()),
    )
}

fn latest<S: HubStore>(hub: &TestHub<S>, station: &str) -> Option<(i64, StationReport)> {
    let fleet = hub.runtime.block_on(hub.store.fleet()).unwrap();
    let row = fleet.into_iter().find(|row| row.name == station).expect("listed");
    row.last_report.map(|(at, json)| (at, StationReport::parse(&json).unwrap()))
}

fn a_heartbeat_is_kept_as_the_latest_report_and_in_the_history<S: HubStore>(hub: TestHub<S>) {
    let gate = hub.client("gate-1");
    hub.station_code("desk-never-enrolled");
    let ack = gate.heartbeat(&beat(7)).unwrap();
    assert!(ack.clock_offset_ms.abs() < 60_000, "{ack:?}");
    gate.heartbeat(&beat(9)).unwrap();

    let (_, report) = latest(&hub, "gate-1").expect("a report");
    assert_eq!(report.heartbeat.pending, 9, "the latest one");
    assert_eq!(report.heartbeat.mode, StationMode::HeadlessGate);
    assert_eq!(report.heartbeat.lanes[0].denied_per_minute, 15);
    assert!(latest(&hub, "desk-never-enrolled").is_none());
    // One history sample a minute: the second beat came within it.
    let history = hub.runtime.block_on(hub.store.heartbeat_history("gate-1", 10)).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(StationReport::parse(&history[0].1).unwrap().heartbeat.pending, 7);
}

fn refusal(result: Result<impl std::fmt::Debug, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Refused { status, body }) => (status, body.error),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn bad_heartbeats_are_refused_with_a_json_error<S: HubStore>(hub: TestHub<S>) {
    let gate = hub.client("gate-1");
    let mut lying = beat(0);
    lying.lanes[0].denied_per_minute = 999;
    assert_eq!(refusal(gate.heartbeat(&lying)), (400, "invalid_heartbeat".into()));
    let mut long = beat(0);
    long.devices[0].name = "x".repeat(10_000);
    assert_eq!(refusal(gate.heartbeat(&long)), (400, "invalid_heartbeat".into()));
    let mut huge = beat(0);
    huge.version = "x".repeat(100_000);
    assert_eq!(refusal(gate.heartbeat(&huge)), (413, "body_too_large".into()));
    let mut old = beat(0);
    old.protocol = 1;
    assert_eq!(refusal(gate.heartbeat(&old)), (400, "protocol_version".into()));
    let stranger = HubClient::new(&hub.url, "not-a-credential");
    assert_eq!(refusal(stranger.heartbeat(&beat(0))), (401, "unauthorized".into()));
    // An unknown mode is not a heartbeat at all.
    let response = ureq::post(&format!("{}/v1/heartbeat", hub.url))
        .header("authorization", "Bearer x")
        .config()
        .http_status_as_error(false)
        .build()
        .send("{}")
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(latest(&hub, "gate-1").is_none(), "nothing was kept");
}

fn the_sync_worker_reports_after_its_rounds<S: HubStore>(hub: TestHub<S>) {
    let client = hub.client("gate-2");
    let outbox = common::MemoryOutbox::default();
    let worker = SyncWorker::spawn_reporting(
        client,
        outbox,
        WorkerOptions::default(),
        Some(Box::new(Troubled)),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        if let Some((_, report)) = latest(&hub, "gate-2") {
            break report;
        }
        assert!(Instant::now() < deadline, "no heartbeat arrived");
        std::thread::sleep(Duration::from_millis(20));
    };
    worker.stop();
    assert_eq!(report.heartbeat.version, "9.9.9");
    assert_eq!(report.heartbeat.last_error, None, "the round before it succeeded");
    assert_eq!(report.heartbeat.printer.unwrap().state, PrinterState::Failing);
}
