//! `expo-hub` as a real process: the CLI (station add / revoke, export), and a hub
//! killed with SIGKILL and restarted in the middle of a station's push.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    fresh_postgres_url, postgres_url, runtime, Faults, FaultyProxy, MemoryOutbox, Station,
};
use expo_sync::client::{enrol, ClientError, HubClient};
use expo_sync::station::{run_once, SyncOptions, SyncWorker, WorkerOptions};
use uuid::Uuid;

const HUB: &str = env!("CARGO_BIN_EXE_expo-hub");
const CHANGES: usize = 2000;

#[test]
fn sqlite_hub_process_survives_a_kill_mid_push() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("hub.db").display());
    hub_process_survives_a_kill_mid_push(&db, dir.path());
}

#[test]
fn postgres_hub_process_survives_a_kill_mid_push() {
    let Some(url) = postgres_url() else { return };
    let db = fresh_postgres_url(&runtime(), &url);
    let dir = tempfile::tempdir().unwrap();
    hub_process_survives_a_kill_mid_push(&db, dir.path());
}

fn cli(db: &str, args: &[&str]) -> String {
    let output = Command::new(HUB).arg("--db").arg(db).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "expo-hub {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A hub process serving `db` on `port`; killed (SIGKILL) when dropped.
struct HubProcess(Child);

impl HubProcess {
    fn start(db: &str, port: u16) -> Self {
        let child = Command::new(HUB)
            .args(["--db", db, "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let process = Self(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let health = format!("http://127.0.0.1:{port}/healthz");
        while ureq::get(&health).call().is_err() {
            assert!(Instant::now() < deadline, "the hub did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn hub_process_survives_a_kill_mid_push(db: &str, dir: &Path) {
    let desk_code = cli(db, &["station", "add", "desk-1"]).trim().to_owned();
    let gate_code = cli(db, &["station", "add", "gate-1"]).trim().to_owned();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let mut hub = HubProcess::start(db, port);
    let desk_token = enrol(&hub_url, &desk_code).unwrap().token;
    let gate = HubClient::new(&hub_url, &enrol(&hub_url, &gate_code).unwrap().token);

    let mut station = Station::new("desk-1");
    let made: Vec<_> = (0..CHANGES)
        .map(|i| station.attendee(Uuid::now_v7(), &format!("Visitor {i}"), None))
        .collect();
    let outbox = Arc::new(MemoryOutbox::with(made.clone()));
    // The station reaches the hub through a slow link, so the kill lands mid-push.
    let proxy = FaultyProxy::start(format!("127.0.0.1:{port}").parse().unwrap());
    proxy.set(Faults { delay: Duration::from_millis(3), ..Faults::default() });
    let options = WorkerOptions {
        interval: Duration::from_millis(100),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(300),
        sync: SyncOptions { push_batch: 50, pull_page: 200 },
    };
    let worker =
        SyncWorker::spawn(HubClient::new(&proxy.url, &desk_token), Arc::clone(&outbox), options)
            .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox.state(|s| s.outbox.len()) > CHANGES * 3 / 4 {
        assert!(Instant::now() < deadline, "the push never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(hub); // SIGKILL mid-push
    let pending_while_down = outbox.state(|s| s.outbox.len());
    assert!(pending_while_down > 0, "the push finished before the kill");
    std::thread::sleep(Duration::from_millis(300));
    assert!(worker.status().last_error.is_some() || worker.status().consecutive_failures > 0);
    hub = HubProcess::start(db, port);

    let deadline = Instant::now() + Duration::from_secs(120);
    while worker.status().pending > 0 || worker.status().last_success.is_none() {
        assert!(Instant::now() < deadline, "the station never caught up: {:?}", worker.status());
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.stop();

    // Exactly once, in the station's order, as in a fault-free run.
    let mut received = Vec::new();
    let mut cursor = 0;
    loop {
        let page = gate.pull(cursor, 500).unwrap();
        received.extend(page.changes.into_iter().map(|c| c.id));
        cursor = page.next_cursor;
        if !page.more {
            break;
        }
    }
    assert_eq!(received, made.iter().map(|c| c.id).collect::<Vec<_>>());

    // A second post-show sync of the same station finds nothing left to do.
    let direct = HubClient::new(&hub_url, &desk_token);
    let summary = run_once(&direct, outbox.as_ref(), SyncOptions::default()).unwrap();
    assert_eq!((summary.pushed, summary.pending_after), (0, 0));

    // Export through the CLI while the hub serves.
    let out = dir.join("export");
    let listing = cli(db, &["export", "--format", "csv", "--out", out.to_str().unwrap()]);
    assert!(listing.contains(&format!("{CHANGES} rows")), "{listing}");
    let attendees = std::fs::read_to_string(out.join("attendees.csv")).unwrap();
    assert_eq!(attendees.lines().count(), CHANGES + 1);

    // Revocation from the CLI stops the running hub from serving the station at once.
    cli(db, &["station", "revoke", "desk-1"]);
    assert!(matches!(direct.pull(0, 1), Err(ClientError::Refused { status: 403, .. })));
    drop(hub);
}
