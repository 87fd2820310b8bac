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

/// One visitor registered as a walk-in at two offline desks, merged at the hub: a desk
/// that pulled both finds the kept one only, by search and by the other's id, and the
/// merged-away badge is refused, by the desk's check and by a gate's decision.
#[test]
fn a_merge_at_the_hub_reaches_desks_and_gates_by_their_ordinary_pull() {
    use expo_hub::conflicts;
    use expo_hub::origin::HubOrigin;
    use expo_kiosk::access::{decide, Direction, GateContext, Reason};

    let hub = Hub::start();
    let dir = tempfile::tempdir().unwrap();
    let [admin, desk, gate] = ["admin", "desk", "gate"].map(|name| dir.path().join(name));
    let event = dir.path().join("event.toml");
    std::fs::write(&event, demo_event_toml(chrono::Local::now().date_naive())).unwrap();
    ok(&admin, &["event", "init", "--file", event.to_str().unwrap()]);
    let bundle = dir.path().join("bundle.json");
    ok(&admin, &["event", "export", "--out", bundle.to_str().unwrap(), "--with-data-key"]);
    ok(&desk, &["event", "import", bundle.to_str().unwrap()]);
    ok(&gate, &["event", "import", bundle.to_str().unwrap(), "--verify-only"]);
    for (station, name, role) in [
        (&admin, "admin-1", StationRole::Admin),
        (&desk, "desk-1", StationRole::Desk),
        (&gate, "gate-1", StationRole::Gate),
    ] {
        let code = hub.code_for(name, role);
        ok(station, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    }

    // The same person, walking in at two desks that cannot reach the hub.
    let walk_in = |station: &Path, phone: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
            .arg("--data-dir")
            .arg(station)
            .args(["register", "--name", "欧阳娜娜", "--category", "vip", "--phone", phone])
            .env("EXPO_KIOSK_ID_NUMBER", "11010519491231002X")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let token = ok(station, &["badge", "token", &id]).trim().to_owned();
        (id, token)
    };
    let (kept, kept_token) = walk_in(&admin, "13912345678");
    let (merged, merged_token) = walk_in(&desk, "13800001111");
    for station in [&admin, &desk, &admin, &desk, &gate] {
        ok(station, &["sync"]);
    }
    let search = |station: &Path| -> Vec<String> {
        let hits: serde_json::Value =
            serde_json::from_str(&ok(station, &["search", "oyn", "--json"])).unwrap();
        hits.as_array().unwrap().iter().map(|hit| hit["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(search(&desk).len(), 2, "the desk holds both before the merge");

    let store = hub.store.as_ref();
    let open = hub.runtime.block_on(conflicts::list(store)).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let keep = uuid::Uuid::parse_str(&kept).unwrap();
    let resolved = hub
        .runtime
        .block_on(conflicts::merge(store, &HubOrigin::default(), open[0].id, keep, "test"))
        .unwrap();
    assert!(resolved.changes > 0);
    for station in [&desk, &gate] {
        // Applying the merge keeps the version it replaced in the station's audit log,
        // whose entry the station pushes on its next round.
        run(station, &["sync"]);
        ok(station, &["sync"]);
    }

    assert_eq!(search(&desk), [kept.as_str()], "only the kept attendee is found");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&desk, &["attendee", "show", &merged, "--json"])).unwrap();
    assert_eq!(shown["id"], kept.as_str(), "the merged-away id leads to the kept one");
    let out = run(&desk, &["verify", &merged_token, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));
    let verdict: serde_json::Value =
        serde_json::from_str(&ok(&desk, &["verify", &kept_token, "--json"])).unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");

    // The gate's decision engine, on what the gate pulled.
    let gate_store = expo_kiosk::store::Store::open(&gate).unwrap();
    let knowledge = expo_kiosk::gate::StoreKnowledge::new(&gate_store).unwrap();
    let definition = &gate_store.event().unwrap().definition;
    let at = chrono::Local::now().naive_local();
    let hall = GateContext { zone: "hall-1", direction: Direction::In };
    let decision = |token: &str| decide(token, hall, at, definition, &knowledge);
    assert_eq!(decision(&merged_token).reason, Reason::Revoked);
    assert_eq!(decision(&merged_token).holder.map(|h| h.attendee.0.to_string()), Some(merged));
    assert_ne!(decision(&kept_token).reason, Reason::Revoked);
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

#[test]
fn a_desk_enrolled_late_bootstraps_from_the_snapshot_and_finds_attendees_at_once() {
    let hub = Hub::start();
    let (dir, desk_a) = station_with_event();
    let bundle = dir.path().join("bundle.json");
    ok(&desk_a, &["event", "export", "--out", bundle.to_str().unwrap(), "--with-data-key"]);
    let code = hub.code_for("office", StationRole::Admin);
    ok(&desk_a, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    let id = ok(&desk_a, &["register", "--name", "欧阳娜娜", "--category", "vip"]);
    ok(&desk_a, &["sync"]);

    // A desk joining now gets the state at enrolment: searchable before any sync.
    let late = dir.path().join("late");
    ok(&late, &["event", "import", bundle.to_str().unwrap()]);
    let code = hub.code_for("desk-late", StationRole::Desk);
    let enrolled = ok(&late, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    assert!(enrolled.contains("bootstrapped from the hub's snapshot"), "{enrolled}");
    let hits: serde_json::Value =
        serde_json::from_str(&ok(&late, &["search", "oyn", "--json"])).unwrap();
    assert_eq!(hits[0]["id"], id.trim(), "{hits}");
    let late_pulled = pulled(&ok(&late, &["sync"]));
    let again = ok(&late, &["sync", "bootstrap"]);
    assert!(again.contains("0 new attendees"), "{again}");

    // Told not to, a desk enrols only, and its first sync pulls every change instead.
    let other = dir.path().join("other");
    ok(&other, &["event", "import", bundle.to_str().unwrap()]);
    let code = hub.code_for("desk-other", StationRole::Desk);
    let enrolled =
        ok(&other, &["sync", "enrol", "--hub", &hub.url, "--code", &code, "--no-bootstrap"]);
    assert!(!enrolled.contains("snapshot"), "{enrolled}");
    let other_pulled = pulled(&ok(&other, &["sync"]));
    // The late desk's first sync pulls only what came after its snapshot (its own key's
    // endorsement); the other desk pulls the event, the attendee, the audit entries too.
    assert!(late_pulled < other_pulled, "{late_pulled} < {other_pulled}");
}

/// The N of a sync summary's "pulled N from other stations".
fn pulled(summary: &str) -> u64 {
    summary
        .split("pulled ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_station_whose_clock_runs_ahead_holds_its_changes_back_instead_of_losing_them() {
    use expo_kiosk::domain::{NewAttendee, Source};
    use expo_kiosk::operators::Operator;
    use expo_kiosk::registration;

    let (_dir, data) = station_with_event();
    let hub = Hub::start();
    // It made the event: the organiser's admin station, whose event record the hub takes.
    let code = hub.code_for("s", StationRole::Admin);
    ok(&data, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    // A walk-in registered while the station's clock runs 10 minutes ahead of the hub's,
    // twice the hub's bound.
    let mut store = expo_kiosk::store::Store::open(&data).unwrap();
    store.set_clock_offset(10 * 60 * 1000);
    let person =
        NewAttendee { name: "Ahead".into(), category: "vip".into(), ..NewAttendee::default() };
    registration::register(&mut store, &Operator::admin("t"), &person, Source::WalkIn).unwrap();
    drop(store);

    let out = run(&data, &["sync"]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "not everything reached the hub: {summary}");
    assert!(summary.contains("held back"), "{summary}");
    assert!(!summary.contains("set aside"), "{summary}");
    // The change waits in the outbox for the hub's clock, not set aside for good.
    let status = ok(&data, &["sync", "status"]);
    assert!(!status.contains("pending    0"), "{status}");
    assert!(!status.contains("set aside"), "{status}");
    let hub_db = rusqlite::Connection::open(hub.dir.path().join("hub.db")).unwrap();
    let attendees: i64 = hub_db
        .query_row("SELECT count(*) FROM changes WHERE kind = 'attendee'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(attendees, 0, "the hub stores nothing stamped from the future");
}

/// Issue 17: a gate far behind its hub (back from a network cut, say) refuses a badge it
/// knew, revoked at the end of its backlog, after its first page, not after its last: it
/// reads the revocations past the page and applies them first. The rest arrives in order.
#[test]
fn a_gate_far_behind_refuses_a_badge_revoked_past_its_first_page_at_once() {
    use expo_kiosk::domain::{AttendeeId, NewAttendee, Source};
    use expo_kiosk::registration::{self, badge};
    use expo_kiosk::station_sync::{HubCredential, StoreOutbox};
    use expo_sync::station::{run_once_with_progress, SyncOptions};

    let hub = Hub::start();
    let (dir, desk) = station_with_event();
    let gate = dir.path().join("gate");
    let bundle = dir.path().join("bundle.json");
    ok(&desk, &["event", "export", "--out", bundle.to_str().unwrap()]);
    ok(&gate, &["event", "import", bundle.to_str().unwrap()]);
    for (station, name, role) in
        [(&desk, "desk-a", StationRole::Admin), (&gate, "gate-a", StationRole::Gate)]
    {
        let code = hub.code_for(name, role);
        ok(station, &["sync", "enrol", "--hub", &hub.url, "--code", &code]);
    }
    // The gate knows Ada's badge; then it is away while forty walk-ins register and the
    // badge is revoked.
    let id = ok(&desk, &["register", "--name", "Ada", "--category", "vip"]).trim().to_owned();
    let token = ok(&desk, &["badge", "token", &id]).trim().to_owned();
    ok(&desk, &["sync"]);
    ok(&gate, &["sync"]);
    {
        let mut store = expo_kiosk::store::Store::open(&desk).unwrap();
        let admin = expo_kiosk::operators::Operator::admin("t");
        for n in 0..40 {
            let walk_in = NewAttendee {
                name: format!("访客{n}"),
                category: "vip".into(),
                ..Default::default()
            };
            registration::register(&mut store, &admin, &walk_in, Source::WalkIn).unwrap();
        }
    }
    ok(&desk, &["badge", "revoke", &id, "--reason", "lost"]);
    ok(&desk, &["sync"]);

    let outbox = StoreOutbox::open(&gate).unwrap();
    let client = HubCredential::load(&gate).unwrap().client(None).unwrap();
    let holder = AttendeeId(id.parse().unwrap());
    let options = SyncOptions { push_batch: 500, pull_page: 10 };
    // (changes pulled so far, the badge's status at the gate) after each page.
    let mut seen: Vec<(u64, String)> = Vec::new();
    let summary = run_once_with_progress(&client, &outbox, options, &mut |summary| {
        if summary.pulled > 0 {
            let store = outbox.store();
            let status = badge::badges_of(store.conn(), holder).unwrap()[0].status.clone();
            seen.push((summary.pulled, status));
        }
    })
    .unwrap();
    assert!(summary.pulled > 40, "the whole backlog: {summary:?}");
    let first = seen.first().expect("a page was applied").clone();
    assert!(first.0 <= 10 && first.1 == "revoked", "after the first page: {seen:?}");
    let out = run(&gate, &["verify", &token, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let walk_ins = outbox
        .store()
        .conn()
        .query_row("SELECT count(*) FROM attendees WHERE name LIKE '访客%'", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    assert_eq!(walk_ins, 40, "every change still arrives, once");
}
