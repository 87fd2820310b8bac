//! Stations syncing through a real hub over HTTP: enrolment, offline registrations
//! reaching the other station exactly once, and a revocation reaching the station that
//! issued the badge.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use expo_kiosk::demo::demo_event_toml;
use expo_sync::hub::enrolment;
use expo_sync::hub::server::{serve, HubConfig};
use expo_sync::hub::sqlite::SqliteStore;

struct Hub {
    runtime: tokio::runtime::Runtime,
    store: Arc<SqliteStore>,
    url: String,
    _dir: tempfile::TempDir,
}

impl Hub {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("hub.db")).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(serve(
            listener,
            Arc::clone(&store),
            HubConfig::default(),
            std::future::pending(),
        ));
        Hub { runtime, store, url, _dir: dir }
    }

    fn code_for(&self, station: &str) -> String {
        self.runtime.block_on(enrolment::add_station(self.store.as_ref(), station)).unwrap()
    }
}

fn run(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn registrations_and_revocations_travel_between_stations_exactly_once() {
    let hub = Hub::start();
    let dir = tempfile::tempdir().unwrap();
    let (desk_a, desk_b): (PathBuf, PathBuf) = (dir.path().join("a"), dir.path().join("b"));

    // Desk A creates the event; desk B joins it from A's bundle.
    let event = dir.path().join("event.toml");
    std::fs::write(&event, demo_event_toml(chrono::Local::now().date_naive())).unwrap();
    ok(&desk_a, &["event", "init", "--file", event.to_str().unwrap()]);
    let bundle = dir.path().join("bundle.json");
    ok(&desk_a, &["event", "export", "--out", bundle.to_str().unwrap(), "--with-data-key"]);
    ok(&desk_b, &["event", "import", bundle.to_str().unwrap()]);

    for (station, name) in [(&desk_a, "desk-a"), (&desk_b, "desk-b")] {
        let code = hub.code_for(name);
        ok(station, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(station.join("keys/hub.json")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the hub credential is owner-only");
        }
    }

    // Offline work at A: a walk-in with a badge.
    let id = ok(
        &desk_a,
        &["register", "--name", "欧阳娜娜", "--category", "vip", "--phone", "13912345678"],
    );
    let id = id.trim();
    let token = ok(&desk_a, &["badge", "token", id]).trim().to_owned();

    let summary = ok(&desk_a, &["sync"]);
    assert!(summary.contains("0 left unacknowledged"), "{summary}");
    // Replaying the round pushes nothing new.
    let again = ok(&desk_a, &["sync"]);
    assert!(again.contains("pushed 0 changes"), "{again}");

    // B learns A's signing key (through the event record) and the attendee.
    ok(&desk_b, &["sync"]);
    let hits: serde_json::Value =
        serde_json::from_str(&ok(&desk_b, &["search", "oyn", "--json"])).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1, "exactly once: {hits}");
    assert_eq!(hits[0]["id"], id);
    let verdict: serde_json::Value =
        serde_json::from_str(&ok(&desk_b, &["verify", &token, "--json"])).unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");

    // B revokes; after both sync, A's own verification refuses the badge it issued.
    ok(&desk_b, &["badge", "revoke", id, "--reason", "lost"]);
    ok(&desk_b, &["sync"]);
    ok(&desk_a, &["sync"]);
    let out = run(&desk_a, &["verify", &token, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));
    let status = ok(&desk_a, &["sync", "status"]);
    assert!(status.contains("pending    0"), "{status}");
}

#[test]
fn an_unreachable_hub_fails_the_job_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("s");
    let event = dir.path().join("event.toml");
    std::fs::write(&event, demo_event_toml(chrono::Local::now().date_naive())).unwrap();
    ok(&data, &["event", "init", "--file", event.to_str().unwrap()]);
    let not_enrolled = run(&data, &["sync"]);
    assert_eq!(not_enrolled.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&not_enrolled.stderr).contains("sync enrol"));

    let hub = Hub::start();
    let code = hub.code_for("s");
    ok(&data, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    ok(&data, &["register", "--name", "Lee", "--category", "vip"]);
    let pending_before = ok(&data, &["sync", "status"]);
    // Port 9 (discard) on loopback: nothing listens there.
    let out = run(&data, &["sync", "--hub", "http://127.0.0.1:9"]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(ok(&data, &["sync", "status"]), pending_before, "a failed round changes nothing");
    let done = ok(&data, &["sync"]);
    assert!(done.contains("0 left unacknowledged"), "{done}");
}
