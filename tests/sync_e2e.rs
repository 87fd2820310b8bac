//! Stations syncing through a real hub over HTTP: enrolment, offline registrations
//! reaching the other station exactly once, and a revocation reaching the station that
//! issued the badge.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

// The hub suites' fault-injecting TCP proxy, to slow the link down.
#[path = "../sync/hub/tests/common/proxy.rs"]
mod proxy;
// The hub suites' check that captured logs hold no credential, whole or in pieces.
#[path = "../sync/hub/tests/common/no_credential.rs"]
mod no_credential;

use expo_hub::enrolment;
use expo_hub::server::{serve, HubConfig};
use expo_hub::sqlite::SqliteStore;
use expo_hub::tls::{self, HubCertificates, TlsListener};
use expo_hub::HubStore;
use expo_kiosk::demo::demo_event_toml;
use expo_sync::StationRole;

struct Hub {
    runtime: tokio::runtime::Runtime,
    store: Arc<SqliteStore>,
    url: String,
    dir: tempfile::TempDir,
}

impl Hub {
    fn start() -> Self {
        Self::start_with(false)
    }

    /// `https`: serve HTTPS with the files `expo-hub cert` makes, in `tls/` of the hub's
    /// directory (stations trust `tls/hub-ca.pem`).
    fn start_with(https: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("hub.db")).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        let store_for_hub = Arc::clone(&store);
        let url = if https {
            let tls_dir = dir.path().join("tls");
            tls::make_certificates(&["127.0.0.1".into()]).unwrap().write_to(&tls_dir).unwrap();
            let config = tls::server_config(
                &tls_dir.join(HubCertificates::CERTIFICATE_FILE),
                &tls_dir.join(HubCertificates::KEY_FILE),
            )
            .unwrap();
            let listener = runtime.block_on(async { TlsListener::new(listener, config) }).unwrap();
            runtime.spawn(serve(
                listener,
                store_for_hub,
                HubConfig::default(),
                std::future::pending(),
            ));
            format!("https://{address}")
        } else {
            runtime.spawn(serve(
                listener,
                store_for_hub,
                HubConfig::default(),
                std::future::pending(),
            ));
            format!("http://{address}")
        };
        Hub { runtime, store, url, dir }
    }

    fn authority(&self) -> PathBuf {
        self.dir.path().join("tls").join(HubCertificates::AUTHORITY_FILE)
    }

    fn code_for(&self, station: &str, role: StationRole) -> String {
        self.runtime.block_on(enrolment::add_station(self.store.as_ref(), station, role)).unwrap()
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

    // A made the event: it is the organiser's admin station.
    for (station, name, role) in
        [(&desk_a, "desk-a", StationRole::Admin), (&desk_b, "desk-b", StationRole::Desk)]
    {
        let code = hub.code_for(name, role);
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

    // B's own signing key reaches A through the hub, endorsed by its organiser authority:
    // A now verifies a badge B issued, though A's bundle never held B's key.
    let b_id = ok(&desk_b, &["register", "--name", "Grace", "--category", "vip"]);
    let b_token = ok(&desk_b, &["badge", "token", b_id.trim()]).trim().to_owned();
    ok(&desk_b, &["sync"]);
    ok(&desk_a, &["sync"]);
    let verdict: serde_json::Value =
        serde_json::from_str(&ok(&desk_a, &["verify", &b_token, "--json"])).unwrap();
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

/// A station directory (`s` in a temporary directory) with today's demo event.
fn station_with_event() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("s");
    let event = dir.path().join("event.toml");
    std::fs::write(&event, demo_event_toml(chrono::Local::now().date_naive())).unwrap();
    ok(&data, &["event", "init", "--file", event.to_str().unwrap()]);
    (dir, data)
}

#[test]
fn an_unreachable_hub_fails_the_job_and_loses_nothing() {
    let (_dir, data) = station_with_event();
    let not_enrolled = run(&data, &["sync"]);
    assert_eq!(not_enrolled.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&not_enrolled.stderr).contains("sync enrol"));

    let hub = Hub::start();
    let code = hub.code_for("s", StationRole::Desk);
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

/// The post-show job killed (SIGKILL) in the middle of its push: run again, it sends
/// what is left, and the hub ends with every change of the station exactly once.
#[test]
fn a_station_killed_mid_sync_resumes_and_the_hub_gets_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("s");
    ok(&data, &["demo", "--headless"]); // thousands of changes: registrations, gate decisions
    let pending = |data: &Path| -> u64 {
        let status = ok(data, &["sync", "status"]);
        let line = status.lines().find(|l| l.starts_with("pending")).unwrap().to_owned();
        line.trim_start_matches("pending").trim().parse().unwrap()
    };
    let total = pending(&data);
    assert!(total > 1500, "{total}");
    let hub = Hub::start();
    // The demo station is desk, gate and organiser at once.
    let code = hub.code_for("s", StationRole::Admin);
    ok(&data, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    // Less the hub's own change endorsing the station's signing key, which the first
    // round asks for before it pushes anything.
    let stored = || hub.runtime.block_on(hub.store.stats()).unwrap().changes.saturating_sub(1);

    // A slow link (5 ms per 8 KiB), so that the kill lands between two batches of 500.
    let proxy = proxy::FaultyProxy::start(hub.url.trim_start_matches("http://").parse().unwrap());
    proxy.set(proxy::Faults { delay: std::time::Duration::from_millis(5), ..Default::default() });
    let mut job = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(&data)
        .args(["sync", "--hub", &proxy.url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while stored() == 0 {
        assert!(std::time::Instant::now() < deadline, "no batch reached the hub");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    job.kill().unwrap();
    job.wait().unwrap();
    // A request wholly sent before the kill may still be stored: wait until nothing moves.
    let mut stored_at_kill = stored();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = stored();
        if now == stored_at_kill {
            break;
        }
        stored_at_kill = now;
    }
    let left = pending(&data);
    assert!(stored_at_kill < total && left > 0, "the job finished before the kill");
    // The hub may hold a batch whose acknowledgement the station never recorded.
    assert!(total - stored_at_kill <= left, "{total} {stored_at_kill} {left}");

    let done = ok(&data, &["sync"]);
    assert!(done.contains("0 left unacknowledged"), "{done}");
    let new_at_hub: u64 =
        done.split(" (").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(new_at_hub, total - stored_at_kill, "{done}");
    assert_eq!(stored(), total, "every change exactly once");
    assert_eq!(pending(&data), 0);
}

/// A hub on HTTPS with its own certificate authority: a station trusts it only when told
/// to (`--hub-ca`), and then syncs as over HTTP.
#[test]
fn a_station_syncs_with_an_https_hub_whose_authority_it_was_given() {
    let (_dir, data) = station_with_event();
    let hub = Hub::start_with(true);
    let code = hub.code_for("s", StationRole::Desk);

    let untrusting = run(&data, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    assert_ne!(untrusting.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&untrusting.stderr).contains("certificate"));
    let authority = hub.authority();
    let authority = authority.to_str().unwrap();
    ok(&data, &["sync", "enrol", "--hub", &hub.url, "--code", &code, "--hub-ca", authority]);
    let credential = std::fs::read_to_string(data.join("keys").join("hub.json")).unwrap();
    assert!(credential.contains("BEGIN CERTIFICATE"), "the station keeps the authority");

    ok(&data, &["register", "--name", "Lee", "--category", "vip"]);
    let done = ok(&data, &["sync"]);
    assert!(!done.starts_with("pushed 0 ") && done.contains("0 left unacknowledged"), "{done}");
    let status = ok(&data, &["sync", "status"]);
    assert!(status.contains("pending    0") && status.contains("own authority"), "{status}");
}

/// The desk app syncs in the background: a walk-in registered at the desk reaches the hub
/// without anyone running `sync`, and the status bar shows when it last synced.
#[test]
fn the_desk_app_syncs_in_the_background_and_shows_the_last_sync() {
    use egui_kittest::kittest::Queryable;
    use expo_kiosk::ui::{install_fonts, App, AppConfig, Mode};
    use std::time::{Duration, Instant};

    let hub = Hub::start();
    let dir = tempfile::tempdir().unwrap();
    let desk = dir.path().join("desk");
    let event = dir.path().join("event.toml");
    std::fs::write(&event, demo_event_toml(chrono::Local::now().date_naive())).unwrap();
    ok(&desk, &["event", "init", "--file", event.to_str().unwrap()]);
    let added = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(&desk)
        .args(["operator", "add", "desk", "--role", "desk"])
        .env("EXPO_KIOSK_PIN", "1234")
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let code = hub.code_for("desk-a", StationRole::Desk);
    ok(&desk, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    let id = ok(&desk, &["register", "--name", "欧阳娜娜", "--category", "vip"]);

    let app = App::new(AppConfig::new(desk.clone(), Mode::Desk), || {}).unwrap();
    let mut harness = egui_kittest::Harness::builder()
        .with_size([1280.0, 800.0])
        .with_step_dt(0.25)
        .with_context_setup(install_fonts)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app);
    let deadline = Instant::now() + Duration::from_secs(30);
    let step_until = |harness: &mut egui_kittest::Harness<'_, App>,
                      what: &str,
                      done: &dyn Fn(&egui_kittest::Harness<'_, App>) -> bool| {
        while !done(harness) {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            harness.step();
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    step_until(&mut harness, "the station opens", &|h| h.state().is_ready());
    for (field, text) in [("操作员", "desk"), ("PIN 码", "1234")] {
        harness.get_by_label(field).focus();
        harness.step();
        harness.get_by_label(field).type_text(text);
        harness.step();
    }
    harness.get_by_label("登录").click();
    step_until(&mut harness, "logged in", &|h| h.state().operator().is_some());
    step_until(&mut harness, "a background round completes", &|h| {
        h.query_by_label_contains("上次同步: ").is_some_and(|n| {
            let text = format!("{n:?}");
            text.contains(':') && !text.contains("上次同步: —") && !text.contains("失败")
        })
    });
    // The walk-in registered before the app opened went in the background.
    let out = dir.path().join("crm");
    hub.runtime
        .block_on(expo_hub::export::export(
            hub.store.as_ref(),
            expo_hub::export::ExportFormat::Jsonl,
            &out,
        ))
        .unwrap();
    let attendees = std::fs::read_to_string(out.join("attendees.jsonl")).unwrap();
    assert!(attendees.contains(id.trim()), "the hub holds the walk-in: {attendees}");
}

#[test]
fn no_log_level_of_a_station_prints_its_hub_credential_or_enrolment_code() {
    let (_dir, data) = station_with_event();
    let hub = Hub::start();
    let code = hub.code_for("s", StationRole::Desk);
    let traced = |args: &[&str]| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env("EXPO_KIOSK_LOG", "trace")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let mut log = traced(&["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    ok(&data, &["register", "--name", "Lee", "--category", "vip"]);
    log += &traced(&["sync"]);
    let credential: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("keys/hub.json")).unwrap()).unwrap();
    let token = credential["token"].as_str().unwrap();
    assert!(log.contains("hub answered"), "debug logging was on:\n{log}");
    no_credential::assert_no_credential(&log, token, &code);
}

#[test]
fn a_badge_revoked_at_the_data_centre_is_refused_at_the_station_after_its_sync() {
    let hub = Hub::start();
    let (_dir, desk) = station_with_event();
    let code = hub.code_for("desk-a", StationRole::Admin);
    ok(&desk, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    let id = ok(&desk, &["register", "--name", "Ada", "--category", "vip"]).trim().to_owned();
    let token = ok(&desk, &["badge", "token", &id]).trim().to_owned();
    ok(&desk, &["sync"]);

    // A lost badge reported by phone, revoked at the hub.
    let request = expo_hub::revocation::RevocationRequest {
        registration_code: None,
        attendee_id: Some(id.parse().unwrap()),
        reason: "lost, reported by phone".into(),
    };
    let revoked = hub
        .runtime
        .block_on(expo_hub::revocation::revoke_badge(
            hub.store.as_ref(),
            &expo_hub::origin::HubOrigin::default(),
            &request,
            "api:hotline",
        ))
        .unwrap();
    assert!(!revoked.already_revoked);

    ok(&desk, &["sync"]);
    let out = run(&desk, &["verify", &token, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));
}
