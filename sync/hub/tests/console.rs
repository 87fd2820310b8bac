//! Heartbeats and the operations console over HTTP, on SQLite and on PostgreSQL
//! (`EXPO_TEST_PG_URL`), against a real in-process hub.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::{first_event, Browser, EventStream, PASSWORD};
use common::{Station, TestHub};
use expo_hub::console::auth::{self, ConsoleRole};
use expo_hub::console::ConsoleConfig;
use expo_hub::heartbeat::StationReport;
use expo_hub::server::HubConfig;
use expo_hub::store::StationAuth;
use expo_hub::HubStore;
use expo_sync::client::{ClientError, HubClient};
use expo_sync::heartbeat::{
    DeviceKind, DeviceReport, Figures, Heartbeat, LaneReport, PrinterReport, PrinterState,
    StationFigures, StationMode,
};
use expo_sync::protocol::{AttendeeRecord, AuditRecord, BadgeRecord, Record};
use expo_sync::station::{SyncWorker, WorkerOptions};

common::hub_suite!(
    a_heartbeat_is_kept_as_the_latest_report_and_in_the_history,
    bad_heartbeats_are_refused_with_a_json_error,
    the_sync_worker_reports_after_its_rounds,
    each_role_sees_only_its_pages_and_nobody_without_a_session,
    the_fleet_marks_silent_stations_failing_printers_and_denying_lanes,
    the_fleet_updates_through_server_sent_events,
    stations_are_added_with_a_code_and_qr_and_revoked,
    forms_without_the_csrf_token_change_nothing,
    five_failed_sign_ins_lock_the_name,
    a_session_expires_and_signing_out_ends_it,
    bad_form_input_gets_a_clear_page_and_changes_nothing,
    api_keys_are_added_shown_once_and_revoked,
    conflicts_are_merged_and_dismissed_from_the_accuracy_page,
    the_attendee_look_up_masks_by_role_and_revokes_badges,
    venue_now_agrees_with_report_daily_on_the_same_day,
    venue_now_shows_charts_tables_csv_and_pictures_to_each_role,
    venue_now_updates_through_server_sent_events,
    venue_now_follows_the_venues_day_past_midnight,
    the_look_up_follows_each_attendees_current_version,
    the_look_up_finds_a_card_holder_by_either_name,
    venue_now_shares_a_days_figures_while_they_are_fresh,
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

fn add_user<S: HubStore>(hub: &TestHub<S>, name: &str, role: ConsoleRole) {
    hub.runtime.block_on(auth::add_user(hub.store.as_ref(), name, role, PASSWORD)).unwrap();
}

fn each_role_sees_only_its_pages_and_nobody_without_a_session<S: HubStore>(hub: TestHub<S>) {
    hub.station_code("desk-1");
    add_user(&hub, "ana", ConsoleRole::Organiser);
    add_user(&hub, "ops", ConsoleRole::Operations);
    add_user(&hub, "sec", ConsoleRole::Security);

    let mut nobody = Browser::new(&hub.url);
    for page in ["/console/fleet", "/console/stations", "/console/audit", "/console/fleet/desk-1"] {
        let answer = nobody.get(page);
        assert_eq!(
            (answer.status, answer.location.as_deref()),
            (303, Some("/console/sign-in")),
            "{page}"
        );
    }
    assert_eq!(nobody.get("/console").location.as_deref(), Some("/console/fleet"));
    assert_eq!(nobody.get("/console/no-such-page").status, 404);

    let mut ana = Browser::signed_in(&hub.url, "ana");
    let fleet = ana.get("/console/fleet");
    assert_eq!(fleet.status, 200);
    assert!(fleet.body.contains("data-station=\"desk-1\""), "{}", fleet.body);
    for link in ["/console/stations", "/console/keys", "/console/audit"] {
        assert!(fleet.body.contains(&format!("href=\"{link}\"")), "organiser nav has {link}");
    }
    assert_eq!(ana.get("/console/stations").status, 200);
    let audit = ana.get("/console/audit");
    assert_eq!(audit.status, 200);
    assert!(audit.body.contains("<td>sign_in</td>"), "{}", audit.body);
    assert_eq!(ana.get("/console/fleet/desk-1").status, 200);

    // Nothing from elsewhere, and the headers that keep it so.
    let csp = fleet.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!fleet.body.contains("src=\"http") && !fleet.body.contains("href=\"http"));
    assert_eq!(fleet.headers.get("cache-control").unwrap(), "no-store");

    for name in ["ops", "sec"] {
        let mut viewer = Browser::signed_in(&hub.url, name);
        let fleet = viewer.get("/console/fleet");
        assert_eq!(fleet.status, 200);
        assert!(!fleet.body.contains("href=\"/console/stations\""), "{name} has no stations page");
        assert_eq!(viewer.get("/console/stations").status, 403, "{name}");
        assert_eq!(viewer.get("/console/audit").status, 403, "{name}");
        assert_eq!(viewer.get("/console/keys").status, 403, "{name}");
    }
    let audit = ana.get("/console/audit").body;
    assert!(audit.contains("<td>refused</td>"), "refusals are audited: {audit}");

    // Chinese by the switch, remembered in a cookie.
    let zh = ana.get("/console/fleet?lang=zh-CN");
    assert!(zh.body.contains("设备总览") && zh.body.contains("lang=\"zh-CN\""));
    assert!(ana.get("/console/fleet").body.contains("打印机"));
    assert!(ana.get("/console/fleet?lang=en").body.contains("Printer"));
}

fn record_at<S: HubStore>(hub: &TestHub<S>, station: &str, at_ms: i64, heartbeat: Heartbeat) {
    let report = StationReport { clock_offset_ms: 0, heartbeat };
    let json = serde_json::to_string(&report).unwrap();
    hub.runtime.block_on(hub.store.record_heartbeat(station, at_ms, json)).unwrap();
}

fn healthy() -> Heartbeat {
    Heartbeat {
        last_error: None,
        printer: Some(PrinterReport { state: PrinterState::Ready, waiting: 0, failed: 0 }),
        devices: Vec::new(),
        lanes: vec![LaneReport {
            lane: "east/1".into(),
            scans_per_minute: 30,
            denied_per_minute: 2,
        }],
        ..beat(0)
    }
}

/// The `<tr>` of `station` in `body`.
fn row<'a>(body: &'a str, station: &str) -> &'a str {
    let marker = format!("data-station=\"{station}\"");
    let at = body.find(&marker).unwrap_or_else(|| panic!("no row of {station}: {body}"));
    let start = body[..at].rfind("<tr").unwrap();
    let end = at + body[at..].find("</tr>").unwrap();
    &body[start..end]
}

fn the_fleet_marks_silent_stations_failing_printers_and_denying_lanes<S: HubStore>(
    hub: TestHub<S>,
) {
    let troubled = hub.client("gate-1");
    troubled.heartbeat(&beat(3000)).unwrap();
    let well = hub.client("gate-2");
    well.heartbeat(&healthy()).unwrap();
    hub.client("desk-silent");
    let minute_ago = i64::try_from(expo_sync::hlc::wall_clock_ms()).unwrap() - 60_000;
    record_at(&hub, "desk-silent", minute_ago, healthy());
    let revoked = hub.client("desk-gone");
    revoked.heartbeat(&healthy()).unwrap();
    hub.runtime
        .block_on(expo_hub::enrolment::revoke_station(hub.store.as_ref(), "desk-gone"))
        .unwrap();
    add_user(&hub, "ops", ConsoleRole::Operations);

    let mut ops = Browser::signed_in(&hub.url, "ops");
    let body = ops.get("/console/fleet?lang=en").body;
    let gate = row(&body, "gate-1");
    assert!(gate.starts_with("<tr class=\"alert\""), "{gate}");
    assert!(gate.contains("<span class=\"bad\">failing</span>"), "{gate}");
    assert!(
        gate.contains("<span class=\"bad\">north/1: 20 scans/min · 15 denied</span>"),
        "{gate}"
    );
    assert!(gate.contains("<td>3000</td>") && gate.contains("9.9.9 · headless_gate"), "{gate}");
    assert!(gate.contains("/dev/ttyACM0: disconnected") && gate.contains("hub unreachable"));
    let fine = row(&body, "gate-2");
    assert!(!fine.contains("alert") && !fine.contains("class=\"bad\""), "{fine}");
    assert!(fine.contains("east/1: 30 scans/min · 2 denied"), "{fine}");
    let silent = row(&body, "desk-silent");
    assert!(silent.contains("class=\"alert\"") && silent.contains(">silent · 6"), "{silent}");
    assert!(row(&body, "desk-gone").contains("revoked"));

    let history = ops.get("/console/fleet/gate-1").body;
    assert!(history.contains("<td>3000</td>"), "{history}");

    // What a station sends is text on the page, never markup.
    let mut hostile = healthy();
    hostile.version = "<script>alert(1)</script>".into();
    hostile.last_error = Some("<img src=x onerror=alert(2)>".into());
    hostile.lanes[0].lane = "\"><b>lane</b>".into();
    hub.client("gate-evil").heartbeat(&hostile).unwrap();
    let body = ops.get("/console/fleet").body;
    let evil = row(&body, "gate-evil");
    assert!(!evil.contains("<script") && !evil.contains("<img") && !evil.contains("<b>"), "{evil}");
    assert!(evil.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{evil}");
}

fn the_fleet_updates_through_server_sent_events<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ops", ConsoleRole::Operations);
    let mut ops = Browser::signed_in(&hub.url, "ops");
    let page = ops.get("/console/fleet").body;
    assert!(page.contains("new EventSource('/console/fleet/events')"));
    // A station that reports after the page was drawn shows up in the stream.
    hub.client("gate-7").heartbeat(&beat(42)).unwrap();
    let stream = ops.open("/console/fleet/events");
    assert_eq!(stream.headers().get("content-type").unwrap(), "text/event-stream");
    let (event, data) = first_event(stream);
    assert_eq!(event, "fleet");
    assert!(row(&data, "gate-7").contains("<td>42</td>"), "{data}");

    let refused = Browser::new(&hub.url).get("/console/fleet/events");
    assert_eq!(refused.status, 401);

    // Signing out ends the stream with `signed_out`.
    let stream = ops.open("/console/fleet/events");
    let csrf = ops.csrf("/console/fleet");
    ops.post("/console/sign-out", &[("csrf", &csrf)]);
    let mut reader = stream.into_body().into_reader();
    let mut all = String::new();
    reader.read_to_string(&mut all).unwrap();
    assert!(all.contains("event: signed_out"), "{all}");
}

fn stations_are_added_with_a_code_and_qr_and_revoked<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ana", ConsoleRole::Organiser);
    let mut ana = Browser::signed_in(&hub.url, "ana");
    let csrf = ana.csrf("/console/stations");
    let added =
        ana.post("/console/stations", &[("name", "desk-9"), ("role", "desk"), ("csrf", &csrf)]);
    assert_eq!(added.status, 200, "{}", added.body);
    let marker = "id=\"enrolment-code\">";
    let start = added.body.find(marker).unwrap() + marker.len();
    let code = &added.body[start..start + 14];
    assert!(added.body.contains("<svg") && added.body.contains("id=\"enrolment-qr\""));
    let enrolled =
        expo_sync::client::enrol(&hub.url, code, "desk-9", &expo_sync::client::HubTrust::default())
            .unwrap();
    assert_eq!(enrolled.role, Some(expo_sync::StationRole::Desk));

    let revoked = ana.post("/console/stations/revoke", &[("name", "desk-9"), ("csrf", &csrf)]);
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let token_hash = expo_hub::enrolment::secret_hash(&enrolled.token);
    let auth = hub.runtime.block_on(hub.store.authenticate(&token_hash)).unwrap();
    assert_eq!(auth, StationAuth::Revoked("desk-9".into()));

    let audit = ana.get("/console/audit").body;
    assert!(audit.contains("desk-9 as desk") && audit.contains("station_revoke"), "{audit}");

    // Operations may not add stations, even with a valid token of its own.
    add_user(&hub, "ops", ConsoleRole::Operations);
    let mut ops = Browser::signed_in(&hub.url, "ops");
    let csrf = ops.csrf("/console/fleet");
    let refused =
        ops.post("/console/stations", &[("name", "desk-x"), ("role", "desk"), ("csrf", &csrf)]);
    assert_eq!(refused.status, 403);
    let refused = ops.post("/console/stations/revoke", &[("name", "desk-1"), ("csrf", &csrf)]);
    assert_eq!(refused.status, 403);
    let fleet = hub.runtime.block_on(hub.store.fleet()).unwrap();
    assert_eq!(fleet.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["desk-9"]);
}

fn forms_without_the_csrf_token_change_nothing<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ana", ConsoleRole::Organiser);
    hub.station_code("desk-1");
    let mut ana = Browser::signed_in(&hub.url, "ana");
    let forged = "0".repeat(64);
    let answer =
        ana.post("/console/stations", &[("name", "desk-2"), ("role", "desk"), ("csrf", &forged)]);
    assert_eq!(answer.status, 403);
    let answer = ana.post("/console/stations/revoke", &[("name", "desk-1"), ("csrf", "")]);
    assert_eq!(answer.status, 403);
    let answer = ana.post("/console/sign-out", &[("csrf", &forged)]);
    assert_eq!(answer.status, 403);
    assert_eq!(ana.get("/console/fleet").status, 200, "still signed in");
    let fleet = hub.runtime.block_on(hub.store.fleet()).unwrap();
    assert_eq!(fleet.len(), 1);
    assert!(!fleet[0].revoked);
    assert!(ana.get("/console/audit").body.contains("csrf_refused"));

    // A sign-in form must come from this console: its token is in a cookie of its own.
    let mut stranger = Browser::new(&hub.url);
    let answer = stranger
        .post("/console/sign-in", &[("name", "ana"), ("password", PASSWORD), ("csrf", &forged)]);
    assert_eq!(answer.status, 403);
    assert!(!stranger.cookies.iter().any(|(k, _)| k == "expo_console"));
}

fn five_failed_sign_ins_lock_the_name<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ana", ConsoleRole::Organiser);
    let mut guesser = Browser::new(&hub.url);
    for _ in 0..5 {
        let answer = guesser.sign_in_as("ana", "wrong password guess");
        assert_eq!(answer.status, 401);
        assert!(answer.body.contains("Wrong user name or password"));
    }
    let answer = guesser.sign_in_as("ana", PASSWORD);
    assert_eq!(answer.status, 429, "locked even with the right password");
    assert!(answer.body.contains("locked for 15 minutes"));
    // Unknown names answer like wrong passwords.
    assert_eq!(guesser.sign_in_as("nobody", PASSWORD).status, 401);
    add_user(&hub, "bo", ConsoleRole::Organiser);
    let mut bo = Browser::signed_in(&hub.url, "bo");
    let audit = bo.get("/console/audit").body;
    assert_eq!(audit.matches("sign_in_failed").count(), 6, "{audit}");
    assert!(audit.contains("sign_in_locked"));
}

fn a_session_expires_and_signing_out_ends_it<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ana", ConsoleRole::Organiser);
    let config = HubConfig {
        console: ConsoleConfig { session_lifetime: Duration::ZERO, ..ConsoleConfig::default() },
        ..common::small_limits()
    };
    let expiring = TestHub::start_with(common::runtime(), Arc::clone(&hub.store), config, None);
    let mut ana = Browser::new(&expiring.url);
    let answer = ana.sign_in_as("ana", PASSWORD);
    assert_eq!(answer.status, 303, "signed in");
    let cookie = ana.cookies.iter().find(|(k, _)| k == "expo_console").cloned().unwrap();
    assert_eq!(ana.get("/console/fleet").location.as_deref(), Some("/console/sign-in"), "expired");

    let mut ana = Browser::signed_in(&hub.url, "ana");
    let set = ana.get("/console/fleet");
    assert_eq!(set.status, 200);
    let csrf = ana.csrf("/console/fleet");
    let out = ana.post("/console/sign-out", &[("csrf", &csrf)]);
    assert_eq!(out.location.as_deref(), Some("/console/sign-in"));
    // The old cookie, replayed, opens nothing.
    let mut replay = Browser::new(&hub.url);
    replay.cookies.push(cookie);
    assert_eq!(replay.get("/console/fleet").status, 303);

    // The session cookie's attributes.
    let mut fresh = Browser::new(&hub.url);
    let csrf = fresh.csrf("/console/sign-in");
    let response = fresh
        .agent
        .post(format!("{}/console/sign-in", hub.url))
        .header("cookie", fresh.cookie_header())
        .send_form([("name", "ana"), ("password", PASSWORD), ("csrf", csrf.as_str())])
        .unwrap();
    let set_cookie: Vec<&str> =
        response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    let session = set_cookie.iter().find(|c| c.starts_with("expo_console=")).unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP: a Secure cookie would be dropped");
}

fn bad_form_input_gets_a_clear_page_and_changes_nothing<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ana", ConsoleRole::Organiser);
    let mut ana = Browser::signed_in(&hub.url, "ana");
    let csrf = ana.csrf("/console/stations");
    for (name, role) in
        [("bad name!", "desk"), ("<script>", "desk"), ("desk-1", "toaster"), ("", "desk")]
    {
        let answer =
            ana.post("/console/stations", &[("name", name), ("role", role), ("csrf", &csrf)]);
        assert_eq!(answer.status, 400, "{name} {role}: {}", answer.body);
        assert!(!answer.body.contains("<script>"), "escaped");
    }
    let answer = ana.post("/console/stations", &[("csrf", &csrf)]);
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("The form was not filled in correctly"), "{}", answer.body);
    let answer = ana.post("/console/stations/revoke", &[("name", "nobody"), ("csrf", &csrf)]);
    assert_eq!(answer.status, 400);
    assert!(hub.runtime.block_on(hub.store.fleet()).unwrap().is_empty());
    let long = "x".repeat(100_000);
    assert_eq!(Browser::new(&hub.url).sign_in_as(&long, &long).status, 401);
}

#[test]
fn console_users_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("hub.db").display());
    let hub = |args: &[&str], stdin: &str, env: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_expo-hub"));
        command.arg("--db").arg(&db).args(args).env_remove("EXPO_HUB_PASSWORD");
        if let Some(password) = env {
            command.env("EXPO_HUB_PASSWORD", password);
        }
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A command refused before it reads (a bad role) closes its input: not a failure here.
        let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes());
        child.wait_with_output().unwrap()
    };
    let added =
        hub(&["user", "add", "ana", "--role", "organiser"], "a long enough password\n", None);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let added =
        hub(&["user", "add", "ops", "--role", "operations"], "", Some("another long password"));
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let limited = ["user", "add", "sec", "--role", "security", "--categories", "exhibitor,press"];
    let limited = hub(&limited, "a long enough password\n", None);
    assert!(limited.status.success(), "{}", String::from_utf8_lossy(&limited.stderr));
    let blank = ["user", "add", "dee", "--role", "security", "--categories", "exhibitor,"];
    assert!(!hub(&blank, "a long enough password\n", None).status.success());
    let short = hub(&["user", "add", "bo", "--role", "security"], "short\n", None);
    assert!(!short.status.success());
    let twice =
        hub(&["user", "add", "ana", "--role", "security"], "a long enough password\n", None);
    assert!(!twice.status.success());
    let bad_role = hub(&["user", "add", "cy", "--role", "king"], "a long enough password\n", None);
    assert!(!bad_role.status.success());

    let list = String::from_utf8(hub(&["user", "list"], "", None).stdout).unwrap();
    assert!(list.contains("ana\torganiser\tpages /console/fleet, /console/stations, /console/keys, /console/audit, /console/venue, /console/accuracy, /console/attendees; personal data shown"), "{list}");
    assert!(
        list.contains(
            "ops\toperations\tpages /console/fleet, /console/venue, /console/attendees; personal data hidden"
        ),
        "{list}"
    );
    assert!(list.contains("personal data shown; categories exhibitor,press"), "{list}");
    assert!(list.contains("personal data hidden; categories all"), "{list}");
    assert!(!list.contains("dee\t"), "a user with a bad category is not added: {list}");
    assert!(!list.contains("argon2"));
    assert!(hub(&["user", "remove", "ops"], "", None).status.success());
    assert!(!hub(&["user", "remove", "ops"], "", None).status.success());
    let list = String::from_utf8(hub(&["user", "list"], "", None).stdout).unwrap();
    assert!(!list.contains("ops"));
}

fn api_keys_are_added_shown_once_and_revoked<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ana", ConsoleRole::Organiser);
    let mut ana = Browser::signed_in(&hub.url, "ana");
    let csrf = ana.csrf("/console/keys");
    let form =
        [("name", "crm"), ("scope", "feed:read"), ("scope", "badges:revoke"), ("csrf", &csrf)];
    let added = ana.post("/console/keys", &form);
    assert_eq!(added.status, 200, "{}", added.body);
    let marker = "id=\"api-key\">";
    let start = added.body.find(marker).unwrap() + marker.len();
    let key = &added.body[start..start + 69];
    assert!(key.starts_with("expo_"), "{key}");
    let listed = ana.get("/console/keys").body;
    assert!(listed.contains("feed:read,badges:revoke") && !listed.contains(key), "shown once");
    let feed = |key: &str| {
        ureq::get(&format!("{}/v1/feed", hub.url))
            .header("authorization", &format!("Bearer {key}"))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(feed(key), 200);

    for bad in [
        vec![("name", "no scope"), ("csrf", csrf.as_str())],
        vec![("name", "x"), ("scope", "root"), ("csrf", csrf.as_str())],
        vec![("name", "crm"), ("scope", "feed:read"), ("csrf", csrf.as_str())],
    ] {
        assert_eq!(ana.post("/console/keys", &bad).status, 400, "{bad:?}");
    }
    let forged = ana.post("/console/keys/revoke", &[("name", "crm"), ("csrf", "x")]);
    assert_eq!(forged.status, 403);
    assert_eq!(feed(key), 200, "a forged form revokes nothing");
    let revoked = ana.post("/console/keys/revoke", &[("name", "crm"), ("csrf", &csrf)]);
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(feed(key), 401);
    let audit = ana.get("/console/audit").body;
    assert!(audit.contains("api_key_add") && audit.contains("api_key_revoke"), "{audit}");

    add_user(&hub, "ops", ConsoleRole::Operations);
    let mut ops = Browser::signed_in(&hub.url, "ops");
    let csrf = ops.csrf("/console/fleet");
    let refused =
        ops.post("/console/keys", &[("name", "mine"), ("scope", "feed:read"), ("csrf", &csrf)]);
    assert_eq!(refused.status, 403);
}

/// `ana` the organiser, `ops` of operations and `sec` of security.
fn add_one_user_per_role<S: HubStore>(hub: &TestHub<S>) {
    for (name, role) in [
        ("ana", ConsoleRole::Organiser),
        ("ops", ConsoleRole::Operations),
        ("sec", ConsoleRole::Security),
    ] {
        add_user(hub, name, role);
    }
}

/// The current records of `kind` the hub holds.
fn current<S: HubStore>(hub: &TestHub<S>, kind: &'static str) -> Vec<Record> {
    let page = hub.runtime.block_on(hub.store.current_page(kind, "", 1000)).unwrap();
    page.into_iter().map(|(_, record)| record).collect()
}

fn attendee_at_hub<S: HubStore>(hub: &TestHub<S>, id: uuid::Uuid) -> AttendeeRecord {
    current(hub, "attendee")
        .into_iter()
        .find_map(|r| match r {
            Record::Attendee(a) if a.id == id => Some(a),
            _ => None,
        })
        .unwrap()
}

fn badges_at_hub<S: HubStore>(hub: &TestHub<S>, attendee: uuid::Uuid) -> Vec<BadgeRecord> {
    current(hub, "badge")
        .into_iter()
        .filter_map(|r| match r {
            Record::Badge(b) if b.attendee_id == attendee => Some(b),
            _ => None,
        })
        .collect()
}

fn hub_audits<S: HubStore>(hub: &TestHub<S>, action: &str) -> Vec<AuditRecord> {
    current(hub, "audit")
        .into_iter()
        .filter_map(|r| match r {
            Record::Audit(a) if a.action == action => Some(a),
            _ => None,
        })
        .collect()
}

fn open_conflicts<S: HubStore>(hub: &TestHub<S>) -> Vec<i64> {
    let open = hub.runtime.block_on(expo_hub::conflicts::list(hub.store.as_ref())).unwrap();
    open.iter().map(|c| c.id).collect()
}

/// Two desks (named after `tag`) register one person (ID hash `idhash-TAG`) as a walk-in
/// each; returns the ids.
fn duplicate<S: HubStore>(hub: &TestHub<S>, tag: &str) -> (uuid::Uuid, uuid::Uuid) {
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let id_hash = format!("idhash-{tag}");
    for (desk, id, name) in [("desk-a", a, "Li Wei"), ("desk-b", b, "LI WEI")] {
        let mut station = Station::new(&format!("{desk}-{tag}"));
        let client = hub.client(&format!("{desk}-{tag}"));
        client
            .push(&[station.attendee(id, name, Some(&id_hash)), station.badge(id, 1, "active")])
            .unwrap();
    }
    (a, b)
}

/// The `<section>` of conflict `id` in `body`.
fn section(body: &str, id: i64) -> &str {
    let marker = format!("data-conflict=\"{id}\"");
    let at = body.find(&marker).unwrap_or_else(|| panic!("no conflict {id}: {body}"));
    &body[at..at + body[at..].find("</section>").unwrap()]
}

fn conflicts_are_merged_and_dismissed_from_the_accuracy_page<S: HubStore>(hub: TestHub<S>) {
    let (kept, merged) = duplicate(&hub, "1");
    duplicate(&hub, "2");
    let open = open_conflicts(&hub);
    assert_eq!(open.len(), 2);
    let (first, second) = (open[0], open[1]);
    add_one_user_per_role(&hub);

    let mut ana = Browser::signed_in(&hub.url, "ana");
    let page = ana.get("/console/accuracy?lang=en");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("href=\"/console/accuracy\" class=\"current\""), "in the nav");
    let shown = section(&page.body, first);
    assert!(shown.contains("Duplicate") && shown.contains("Li W.") && shown.contains("LI W."));
    assert!(shown.contains("3101**********128X"), "the ID number masked: {shown}");
    for secret in ["Li Wei", "LI WEI", "c2VhbGVkLXNlY3JldA==", "idhash-1", "+86 21 5555 0000"] {
        assert!(!page.body.contains(secret), "{secret} shown: {shown}");
    }
    assert_eq!(shown.matches("action=\"/console/accuracy/merge\"").count(), 2, "keep either");
    section(&page.body, second);

    // Roles without the function permission: no page, no action, nothing changes.
    for name in ["ops", "sec"] {
        let mut viewer = Browser::signed_in(&hub.url, name);
        assert!(!viewer.get("/console/fleet").body.contains("/console/accuracy"));
        assert_eq!(viewer.get("/console/accuracy").status, 403, "{name}");
        let csrf = viewer.csrf("/console/fleet");
        let keep = kept.to_string();
        let first = first.to_string();
        let form = [("conflict", first.as_str()), ("keep", keep.as_str()), ("csrf", &csrf)];
        assert_eq!(viewer.post("/console/accuracy/merge", &form).status, 403, "{name}");
        let form = [("conflict", first.as_str()), ("reason", "no"), ("csrf", &csrf)];
        assert_eq!(viewer.post("/console/accuracy/dismiss", &form).status, 403, "{name}");
    }
    // Nobody signed in is sent to sign in.
    let mut nobody = Browser::new(&hub.url);
    assert_eq!(nobody.get("/console/accuracy").location.as_deref(), Some("/console/sign-in"));
    let form = [("conflict", "1"), ("reason", "x"), ("csrf", "x")];
    assert_eq!(nobody.post("/console/accuracy/dismiss", &form).status, 303);

    // A forged or missing CSRF token, and bad input: a clear page, nothing changes.
    let csrf = ana.csrf("/console/accuracy");
    let (first_text, kept_text) = (first.to_string(), kept.to_string());
    let forged = "0".repeat(64);
    for token in [forged.as_str(), ""] {
        let form = [("conflict", first_text.as_str()), ("keep", &kept_text), ("csrf", token)];
        assert_eq!(ana.post("/console/accuracy/merge", &form).status, 403);
    }
    let stranger = uuid::Uuid::now_v7().to_string();
    let second_text = second.to_string();
    for (path, form, status) in [
        (
            "/console/accuracy/merge",
            vec![("conflict", "999999"), ("keep", kept_text.as_str())],
            404,
        ),
        (
            "/console/accuracy/merge",
            vec![("conflict", first_text.as_str()), ("keep", stranger.as_str())],
            400,
        ),
        ("/console/accuracy/merge", vec![("conflict", "abc"), ("keep", kept_text.as_str())], 400),
        (
            "/console/accuracy/merge",
            vec![("conflict", first_text.as_str()), ("keep", "not-a-uuid")],
            400,
        ),
        ("/console/accuracy/merge", vec![("conflict", first_text.as_str())], 400),
        (
            "/console/accuracy/dismiss",
            vec![("conflict", second_text.as_str()), ("reason", "")],
            400,
        ),
        (
            "/console/accuracy/dismiss",
            vec![("conflict", second_text.as_str()), ("reason", "   ")],
            400,
        ),
        ("/console/accuracy/dismiss", vec![("conflict", "999999"), ("reason", "typo")], 404),
    ] {
        let mut form = form;
        form.push(("csrf", csrf.as_str()));
        let answer = ana.post(path, &form);
        assert_eq!(answer.status, status, "{path} {form:?}: {}", answer.body);
        assert!(answer.body.contains("The form was not filled in correctly"), "{}", answer.body);
    }
    assert_eq!(open_conflicts(&hub), [first, second], "nothing was resolved");
    assert_eq!(attendee_at_hub(&hub, merged).merged_into, None);
    assert!(hub_audits(&hub, "conflict_merge").is_empty());

    // Merged by the library's rule, audited with the console user as the actor.
    let form = [("conflict", first_text.as_str()), ("keep", &kept_text), ("csrf", &csrf)];
    let answer = ana.post("/console/accuracy/merge", &form);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("Conflict merged: #"), "{}", answer.body);
    assert!(!answer.body.contains(&format!("data-conflict=\"{first}\"")), "no longer listed");
    assert_eq!(attendee_at_hub(&hub, merged).merged_into, Some(kept));
    let revoked = badges_at_hub(&hub, merged);
    assert_eq!(revoked[0].reason.as_deref(), Some(expo_hub::conflicts::MERGED_REASON));
    let audits = hub_audits(&hub, "conflict_merge");
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].actor, "@hub:console:ana");
    // The other one kept now: refused, as the API refuses it.
    let merged_text = merged.to_string();
    let form = [("conflict", first_text.as_str()), ("keep", &merged_text), ("csrf", &csrf)];
    assert_eq!(ana.post("/console/accuracy/merge", &form).status, 409);

    let form = [
        ("conflict", second_text.as_str()),
        ("reason", "two people, one ID typo"),
        ("csrf", &csrf),
    ];
    let answer = ana.post("/console/accuracy/dismiss", &form);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("id=\"no-conflicts\""), "{}", answer.body);
    assert!(open_conflicts(&hub).is_empty());
    let dismissed = hub_audits(&hub, "conflict_dismiss");
    assert_eq!(dismissed[0].actor, "@hub:console:ana");
    assert_eq!(dismissed[0].detail["reason"], "two people, one ID typo");

    let audit = ana.get("/console/audit").body;
    assert!(audit.contains(&format!("conflict {first} keeping {kept}")), "{audit}");
    assert!(audit.contains("conflict_dismiss") && audit.contains("csrf_refused"), "{audit}");
    assert!(ana.get("/console/accuracy?lang=zh-CN").body.contains("数据质量"));
}

/// Pushes an attendee (from a desk) with a registration code, a phone and, if `badge`,
/// badge 1.
fn registered<S: HubStore>(
    hub: &TestHub<S>,
    name: &str,
    code: &str,
    phone: &str,
    badge: bool,
) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    let desk_name = format!("desk-{code}");
    let mut desk = Station::new(&desk_name);
    let mut record = common::attendee_record(id, name, Some(&format!("hash-{code}")));
    record.registration_code = Some(code.to_owned());
    record.phone = phone.to_owned();
    record.email = format!("{code}@example.com");
    let mut changes = vec![desk.change(Record::Attendee(record))];
    if badge {
        changes.push(desk.badge(id, 1, "active"));
    }
    hub.client(&desk_name).push(&changes).unwrap();
    id
}

fn the_attendee_look_up_masks_by_role_and_revokes_badges<S: HubStore>(hub: TestHub<S>) {
    let fang = registered(&hub, "Wang Fang", "R-100", "+86 139 1234 5678", true);
    let lei = registered(&hub, "Wang Lei", "R-101", "13700000001", false);
    let evil = registered(&hub, "<b>Wang</b> Evil", "R-102", "13700000002", true);
    add_one_user_per_role(&hub);

    // The personal-data permission: names and phones in full, the ID number masked.
    let mut sec = Browser::signed_in(&hub.url, "sec");
    assert!(sec.get("/console/fleet").body.contains("href=\"/console/attendees\""));
    let found = sec.get("/console/attendees?q=wang&lang=en");
    assert_eq!(found.status, 200, "{}", found.body);
    let fang_row = row_of(&found.body, fang);
    assert!(fang_row.contains("Wang Fang") && fang_row.contains("+86 139 1234 5678"), "{fang_row}");
    assert!(fang_row.contains("R-100") && fang_row.contains("3101**********128X"), "{fang_row}");
    assert!(fang_row.contains("#1 · valid") && fang_row.contains("/console/attendees/revoke"));
    assert!(row_of(&found.body, lei).contains("no badge"));
    assert!(!row_of(&found.body, lei).contains("/console/attendees/revoke"), "nothing to revoke");
    assert!(found.body.contains("&lt;b&gt;Wang&lt;/b&gt; Evil") && !found.body.contains("<b>Wang"));
    assert!(!found.body.contains("c2VhbGVkLXNlY3JldA==") && !found.body.contains("hash-R-100"));
    // By registration code, and by phone as people say it.
    let by_code = sec.get("/console/attendees?q=R-101").body;
    assert!(by_code.contains(&lei.to_string()) && !by_code.contains(&fang.to_string()));
    let by_phone = sec.get("/console/attendees?q=139%201234%205678").body;
    assert!(by_phone.contains(&fang.to_string()) && !by_phone.contains(&lei.to_string()));
    assert!(sec.get("/console/attendees?q=nobody-at-all").body.contains("id=\"no-matches\""));
    assert!(sec.get("/console/attendees?q=W").body.contains("Type 2 to 100 characters"));

    // Without it: names and phones masked, no search by phone, no revocation.
    let mut ops = Browser::signed_in(&hub.url, "ops");
    let found = ops.get("/console/attendees?q=R-100&lang=en");
    assert_eq!(found.status, 200, "{}", found.body);
    let masked = row_of(&found.body, fang);
    assert!(masked.contains("Wang F.") && masked.contains("*************5678"), "{masked}");
    for secret in ["Wang Fang", "139 1234", "+86"] {
        assert!(!found.body.contains(secret), "{secret} shown to operations: {masked}");
    }
    assert!(!found.body.contains("/console/attendees/revoke"));
    assert!(ops.get("/console/attendees?q=13912345678").body.contains("id=\"no-matches\""));
    let csrf = ops.csrf("/console/fleet");
    let fang_text = fang.to_string();
    let form = [("attendee", fang_text.as_str()), ("reason", "lost"), ("csrf", &csrf)];
    assert_eq!(ops.post("/console/attendees/revoke", &form).status, 403);
    assert_eq!(badges_at_hub(&hub, fang)[0].status, "active", "operations revoked nothing");

    let mut nobody = Browser::new(&hub.url);
    assert_eq!(
        nobody.get("/console/attendees?q=wang").location.as_deref(),
        Some("/console/sign-in")
    );
    assert_eq!(nobody.post("/console/attendees/revoke", &form).status, 303);

    // Forged token, bad input: a clear page, nothing revoked.
    let csrf = sec.csrf("/console/attendees?q=wang");
    let form = [("attendee", fang_text.as_str()), ("reason", "lost"), ("csrf", "forged")];
    assert_eq!(sec.post("/console/attendees/revoke", &form).status, 403);
    let stranger = uuid::Uuid::now_v7().to_string();
    let lei_text = lei.to_string();
    let long = "x".repeat(5000);
    for (attendee, reason, status) in [
        (fang_text.as_str(), "", 400),
        (fang_text.as_str(), "   ", 400),
        (fang_text.as_str(), long.as_str(), 400),
        ("not-a-uuid", "lost", 400),
        (stranger.as_str(), "lost", 404),
        (lei_text.as_str(), "lost", 409),
    ] {
        let form = [("attendee", attendee), ("reason", reason), ("q", "wang"), ("csrf", &csrf)];
        let answer = sec.post("/console/attendees/revoke", &form);
        assert_eq!(answer.status, status, "{attendee} {reason:.10}: {}", answer.body);
        assert!(answer.body.contains("The form was not filled in correctly"), "{}", answer.body);
    }
    assert_eq!(badges_at_hub(&hub, fang)[0].status, "active");
    assert!(hub_audits(&hub, "revoke").is_empty());

    // Revoked by the library's path: the badge record and the hub's audit entry name the
    // console user, and the console's audit log has it.
    let form =
        [("attendee", fang_text.as_str()), ("reason", "stolen"), ("q", "wang"), ("csrf", &csrf)];
    let answer = sec.post("/console/attendees/revoke", &form);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("Badge revoked: #1"), "{}", answer.body);
    assert!(row_of(&answer.body, fang).contains("revoked</span> stolen"), "the search again");
    let badge = &badges_at_hub(&hub, fang)[0];
    assert_eq!((badge.status.as_str(), badge.reason.as_deref()), ("revoked", Some("stolen")));
    assert_eq!(badge.operator, "console:sec");
    let audits = hub_audits(&hub, "revoke");
    assert_eq!((audits.len(), audits[0].actor.as_str()), (1, "console:sec"));
    assert_eq!(audits[0].attendee_id, Some(fang));
    let again = sec.post("/console/attendees/revoke", &form);
    assert_eq!(again.status, 200);
    assert!(again.body.contains("was revoked already"), "{}", again.body);
    assert_eq!(hub_audits(&hub, "revoke").len(), 1, "asking again changes nothing");
    let mut ana = Browser::signed_in(&hub.url, "ana");
    let audit = ana.get("/console/audit").body;
    assert!(audit.contains(&format!("{fang} serial 1: stolen")), "{audit}");
    assert!(ana.get("/console/attendees?q=wang&lang=zh-CN").body.contains("观众查询"));

    // A category data permission: limited to exhibitors, a user finds no visitor and
    // revokes none of their badges; with visitors added, they do.
    add_user(&hub, "sec-stands", ConsoleRole::Security);
    let limit = |categories: &[&str]| {
        let categories: Vec<String> = categories.iter().map(|c| c.to_string()).collect();
        let store = hub.store.as_ref();
        hub.runtime.block_on(auth::limit_categories(store, "sec-stands", &categories)).unwrap();
    };
    limit(&["exhibitor"]);
    let mut stands = Browser::signed_in(&hub.url, "sec-stands");
    assert!(stands.get("/console/attendees?q=wang").body.contains("id=\"no-matches\""));
    let csrf = stands.csrf("/console/attendees?q=wang");
    let evil_text = evil.to_string();
    let form = [("attendee", evil_text.as_str()), ("reason", "lost"), ("csrf", &csrf)];
    assert_eq!(stands.post("/console/attendees/revoke", &form).status, 404);
    assert_eq!(badges_at_hub(&hub, evil)[0].status, "active", "outside their categories");
    limit(&["exhibitor", "visitor"]);
    assert!(stands.get("/console/attendees?q=wang").body.contains(&lei.to_string()));
    assert_eq!(stands.post("/console/attendees/revoke", &form).status, 200);
    assert_eq!(badges_at_hub(&hub, evil)[0].status, "revoked");
}

/// The `<tr>` of attendee `id` in `body`.
fn row_of(body: &str, id: uuid::Uuid) -> &str {
    let marker = format!("data-attendee=\"{id}\"");
    let at = body.find(&marker).unwrap_or_else(|| panic!("no row of {id}: {body}"));
    let start = body[..at].rfind("<tr").unwrap();
    &body[start..at + body[at..].find("</tr>").unwrap()]
}

/// A station of the "Venue now" tests: a real station store (the `expo-kiosk` library)
/// synced with the hub.
struct VenueStation {
    outbox: expo_kiosk::station_sync::StoreOutbox,
    client: HubClient,
}

impl VenueStation {
    fn enrol<S: HubStore>(
        hub: &TestHub<S>,
        name: &str,
        mut store: expo_kiosk::store::Store,
    ) -> Self {
        let code = hub.station_code(name);
        let trust = expo_sync::client::HubTrust::default();
        let enrolled =
            expo_sync::client::enrol(&hub.url, &code, store.station_id(), &trust).unwrap();
        expo_kiosk::provisioning::pin_authority(&mut store, enrolled.authority.as_deref().unwrap())
            .unwrap();
        Self {
            outbox: expo_kiosk::station_sync::StoreOutbox::new(store),
            client: HubClient::new(&hub.url, &enrolled.token),
        }
    }

    fn join<S: HubStore>(
        hub: &TestHub<S>,
        dir: &std::path::Path,
        name: &str,
        bundle: &expo_kiosk::provisioning::Bundle,
        signs: bool,
    ) -> Self {
        let mut store = expo_kiosk::store::Store::open(&dir.join(name)).unwrap();
        expo_kiosk::provisioning::import(
            &mut store,
            &expo_kiosk::operators::Operator::admin("test"),
            bundle,
            signs,
        )
        .unwrap();
        Self::enrol(hub, name, store)
    }

    fn sync(&self) {
        let options = expo_sync::station::SyncOptions::default();
        let summary = expo_sync::station::run_once(&self.client, &self.outbox, options).unwrap();
        assert_eq!(summary.pending_after, 0, "{summary:?}");
    }
}

/// The venue's day so far, made by real stations: the office made the event; two desks
/// registered four visitors of three categories and sources and printed three badges,
/// one a reprint; gate-1 let two in and one out, refused two scans, and annulled an
/// entry nobody walked through. Then the office pulled everything, as its
/// `report daily` would read it.
fn busy_day<S: HubStore>(hub: &TestHub<S>) -> (tempfile::TempDir, VenueStation) {
    use expo_kiosk::domain::{AttendeeId, NewAttendee, Source};
    use expo_kiosk::operators::Operator;

    let dir = tempfile::tempdir().unwrap();
    let mut store = expo_kiosk::store::Store::open(&dir.path().join("office")).unwrap();
    let event = expo_kiosk::demo::demo_event_toml(chrono::Utc::now().date_naive());
    expo_kiosk::provisioning::init(
        &mut store,
        &expo_kiosk::operators::Operator::admin("test"),
        &event,
    )
    .unwrap();
    let bundle = expo_kiosk::provisioning::export(&store, true).unwrap();
    let verify_only = expo_kiosk::provisioning::export(&store, false).unwrap();
    let office = VenueStation::enrol(hub, "office", store);
    office.sync();

    let mut attendees = Vec::new();
    for (desk, visitors) in [
        ("desk-1", [("vip", Source::WalkIn), ("exhibitor", Source::WalkIn)].as_slice()),
        ("desk-2", [("vip", Source::PreRegistered), ("public_visitor", Source::WalkIn)].as_slice()),
    ] {
        let station = VenueStation::join(hub, dir.path(), desk, &bundle, true);
        let operator = Operator::admin(&format!("{desk}-op"));
        for (n, (category, source)) in visitors.iter().enumerate() {
            let mut store = station.outbox.store();
            let visitor = NewAttendee {
                name: format!("访客 {desk} {n}"),
                category: (*category).into(),
                company: "东方会展有限公司".into(),
                phone: format!("139123456{}{n}", desk.len() + attendees.len()),
                country: "中国".into(),
                consent: true,
                ..NewAttendee::default()
            };
            let record =
                expo_kiosk::registration::register(&mut store, &operator, &visitor, *source)
                    .unwrap();
            attendees.push(AttendeeId(record.id));
            if n == 0 {
                // A badge, and on desk-2 a reprint of it.
                let reprints: &[Option<&str>] =
                    if desk == "desk-2" { &[None, Some("damaged")] } else { &[None] };
                for reprint in reprints {
                    let attendee = AttendeeId(record.id);
                    expo_kiosk::badges::queue::enqueue(
                        &mut store, &operator, attendee, *reprint, "none",
                    )
                    .unwrap();
                    let printer = expo_kiosk::badges::PrinterConfig::default();
                    expo_kiosk::badges::queue::process_due(&mut store, &printer).unwrap();
                }
            }
        }
        station.sync();
    }

    let gate = VenueStation::join(hub, dir.path(), "gate-1", &verify_only, false);
    gate.sync();
    let now = expo_kiosk::store::format_time(chrono::Utc::now());
    let decision = |attendee: Option<AttendeeId>, direction: &str, reason: &str| {
        expo_sync::protocol::GateDecisionRecord {
            id: uuid::Uuid::now_v7(),
            attendee_id: attendee.map(|a| a.0),
            badge_serial: attendee.map(|_| 1),
            gate: "north".into(),
            lane: "1".into(),
            zone: "hall-1".into(),
            direction: direction.into(),
            granted: reason == "granted",
            reason: reason.into(),
            at: now.clone(),
            annulled: false,
        }
    };
    let walked_away = decision(Some(attendees[2]), "in", "granted");
    let decisions = [
        decision(Some(attendees[0]), "in", "granted"),
        decision(Some(attendees[1]), "in", "granted"),
        decision(Some(attendees[0]), "out", "granted"),
        decision(None, "in", "malformed"),
        decision(Some(attendees[1]), "in", "passback"),
        walked_away.clone(),
    ];
    expo_kiosk::gate::record_decisions(&mut gate.outbox.store(), &decisions).unwrap();
    gate.sync();
    // The annulment reaches the hub as a second version of the decision.
    expo_kiosk::gate::annul(&mut gate.outbox.store(), &walked_away).unwrap();
    gate.sync();
    office.sync();
    (dir, office)
}

fn venue_now_agrees_with_report_daily_on_the_same_day<S: HubStore>(hub: TestHub<S>) {
    let (_dir, office) = busy_day(&hub);
    let store = office.outbox.store();
    let definition = &store.event().unwrap().definition;
    let today = expo_kiosk::registration::today_at_venue(definition);
    let day = expo_kiosk::stats::VenueDay::new(today, definition.timezone()).unwrap();
    let zones: Vec<String> = definition.zones.iter().map(|z| z.id.clone()).collect();
    let now = chrono::Utc::now();
    let report =
        expo_kiosk::stats::day_figures(store.conn(), &definition.event.id, &zones, &day, now)
            .unwrap();
    let venue = hub
        .runtime
        .block_on(expo_hub::venue_now::venue_now(hub.store.as_ref(), None, chrono::Utc::now()))
        .unwrap();
    let hub_figures = &venue.figures;

    assert_eq!(venue.date, today);
    assert_eq!(report.totals.registered, 4, "{report:?}");
    assert_eq!(hub_figures.registrations, report.registrations);
    assert_eq!(hub_figures.gate_flow, report.gate_flow);
    assert_eq!(hub_figures.occupancy, report.occupancy);
    assert_eq!(hub_figures.denials, report.denials);
    assert_eq!(hub_figures.reprints, report.reprints);
    let (ours, theirs) = (&hub_figures.totals, &report.totals);
    assert_eq!(
        (
            ours.registered,
            ours.badges_issued,
            ours.reprints,
            ours.entries,
            ours.exits,
            ours.denied,
            ours.inside
        ),
        (
            theirs.registered,
            theirs.badges_issued,
            theirs.reprints,
            theirs.entries,
            theirs.exits,
            theirs.denied,
            theirs.inside
        ),
    );
    // The figures themselves, not just agreement: the annulled entry is no passage.
    assert_eq!((theirs.entries, theirs.exits, theirs.inside, theirs.denied), (2, 1, 1, 2));
    assert_eq!((theirs.badges_issued, theirs.reprints), (3, 1));
    // What only the hub knows: which desk issued the badges.
    let per_desk: Vec<(String, u64)> =
        venue.desks.iter().map(|d| (d.category.clone(), d.count)).collect();
    assert_eq!(per_desk, [("desk-1".to_owned(), 1), ("desk-2".to_owned(), 2)]);

    // And the page's CSV is the station's chart, figure for figure.
    add_user(&hub, "ops", ConsoleRole::Operations);
    let mut ops = Browser::signed_in(&hub.url, "ops");
    let station_charts = expo_kiosk::stats::charts(&report, definition);
    for id in [
        expo_kiosk::stats::ChartId::RegistrationsByCategory,
        expo_kiosk::stats::ChartId::RegistrationsBySource,
        expo_kiosk::stats::ChartId::Inside,
        expo_kiosk::stats::ChartId::GateFlow,
        expo_kiosk::stats::ChartId::Denials,
    ] {
        let chart = station_charts.iter().find(|c| c.id == id).unwrap();
        let expected = String::from_utf8(chart.to_csv(true).unwrap()).unwrap();
        let csv = ops.get(&format!("/console/venue/{}/csv?lang=en", id.key()));
        assert_eq!(csv.status, 200);
        assert_eq!(csv.body, expected, "{}", id.key());
    }
}

fn venue_now_shows_charts_tables_csv_and_pictures_to_each_role<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ana", ConsoleRole::Organiser);
    add_user(&hub, "ops", ConsoleRole::Operations);
    add_user(&hub, "sec", ConsoleRole::Security);
    let mut nobody = Browser::new(&hub.url);
    for path in ["/console/venue", "/console/venue/inside/csv", "/console/venue/inside/svg"] {
        assert_eq!(nobody.get(path).location.as_deref(), Some("/console/sign-in"), "{path}");
    }
    assert_eq!(nobody.get("/console/venue/events").status, 401);

    // Before any event reached the hub, the page says so.
    let mut ana = Browser::signed_in(&hub.url, "ana");
    let empty = ana.get("/console/venue?lang=en");
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("No event definition has reached the hub"), "{}", empty.body);

    let (_dir, _office) = busy_day(&hub);
    for name in ["ana", "ops", "sec"] {
        let mut viewer = Browser::signed_in(&hub.url, name);
        assert!(viewer.get("/console/fleet").body.contains("href=\"/console/venue\""), "{name}");
        let page = viewer.get("/console/venue?lang=en");
        assert_eq!(page.status, 200, "{name}");
        for key in [
            "registrations_by_source",
            "registrations_by_category",
            "inside",
            "gate_flow",
            "denials",
            "desk_throughput",
        ] {
            assert!(page.body.contains(&format!("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"{key}\"")), "{key}");
            assert!(
                page.body.contains(&format!("href=\"/console/venue/{key}/table?date=")),
                "{key}"
            );
        }
        assert!(page.body.contains("Yesterday") && page.body.contains("Asia/Shanghai"));
        assert!(!page.body.contains("src=\"http") && !page.body.contains("href=\"http"));
    }

    // The numbers: labelled bars in the picture, rows in the table, in both languages.
    let page = ana.get("/console/venue?lang=en").body;
    let inside = &page[page.find("data-chart=\"inside\"").unwrap()..];
    let inside = &inside[..inside.find("</svg>").unwrap()];
    assert!(inside.contains("<title>inside: 1</title>"), "{inside}");
    let table = ana.get("/console/venue/desk_throughput/table?lang=en");
    assert_eq!(table.status, 200);
    assert!(table.body.contains("<th>desk-1</th><th>desk-2</th>"), "{}", table.body);
    let zh = ana.get("/console/venue/registrations_by_category/table?lang=zh-CN").body;
    assert!(zh.contains("贵宾") || zh.contains("VIP"), "{zh}");
    assert!(zh.contains("每小时登记（按类别）"), "{zh}");

    let picture = ana.get("/console/venue/denials/svg?lang=en");
    assert_eq!(picture.status, 200);
    assert_eq!(picture.headers.get("content-type").unwrap(), "image/svg+xml");
    let disposition = picture.headers.get("content-disposition").unwrap().to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"venue-denials-"), "{disposition}");
    assert!(picture.body.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(picture.body.contains("<title>denied: 1</title>"), "{}", picture.body);
    let csv = ana.get("/console/venue/inside/csv?lang=en");
    assert_eq!(csv.headers.get("content-type").unwrap(), "text/csv; charset=utf-8");
    assert!(csv.body.contains("\nHall 1,1\n") || csv.body.contains(",1\n"), "{}", csv.body);

    // Yesterday is one click away, and empty.
    let yesterday = ana.get("/console/venue?lang=en&date=2000-01-01");
    assert_eq!(yesterday.status, 200);
    assert!(yesterday.body.contains("Nothing yet."));
    // Bad input gets a clear page.
    assert_eq!(ana.get("/console/venue?date=tomorrow").status, 400);
    assert_eq!(ana.get("/console/venue/inside/pdf").status, 404);
    assert_eq!(ana.get("/console/venue/no-such-chart/csv").status, 404);
    assert_eq!(ana.get("/console/venue/inside/csv?date=2026-13-40").status, 400);
}

fn venue_now_updates_through_server_sent_events<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ops", ConsoleRole::Operations);
    let (_dir, _office) = busy_day(&hub);
    let mut ops = Browser::signed_in(&hub.url, "ops");
    let page = ops.get("/console/venue").body;
    assert!(page.contains("new EventSource('/console/venue/events?today="), "{page}");
    let stream = ops.open("/console/venue/events");
    assert_eq!(stream.headers().get("content-type").unwrap(), "text/event-stream");
    let (event, data) = first_event(stream);
    assert_eq!(event, "venue");
    assert!(data.contains("data-chart=\"gate_flow\""), "{data}");
}

/// A hub that held changes before it kept the venue's totals counts them when it opens.
#[test]
fn a_hub_counts_the_changes_it_held_before_it_kept_venue_totals() {
    let hub = common::sqlite_hub();
    let (_dir, _office) = busy_day(&hub);
    let totals = || hub.runtime.block_on(hub.store.venue_totals("2000-01-01T00:00", "9999"));
    let before = totals().unwrap();
    assert_eq!(before.gate.iter().map(|g| g.decisions).sum::<u64>(), 6, "{before:?}");

    let path = hub.sqlite_path().unwrap();
    let older = rusqlite::Connection::open(&path).unwrap();
    older
        .execute_batch(
            "DROP TRIGGER venue_now_added; DROP TRIGGER venue_now_replaced;
             DROP TABLE venue_registrations; DROP TABLE venue_badges; DROP TABLE venue_gate;
             DROP TABLE venue_denials;",
        )
        .unwrap();
    let reopened = expo_hub::sqlite::SqliteStore::open(&path).unwrap();
    let counted = hub.runtime.block_on(reopened.venue_totals("2000-01-01T00:00", "9999")).unwrap();
    assert_eq!(counted, before);
}

/// The live page opened on today follows the venue's day past its midnight (a clock the
/// test moves), says so and offers the day before; a page of a day asked for stays on it.
fn venue_now_follows_the_venues_day_past_midnight<S: HubStore>(hub: TestHub<S>) {
    use chrono::TimeZone;
    add_user(&hub, "ops", ConsoleRole::Operations);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 5, 1).unwrap();
    let event = expo_kiosk::demo::demo_event_toml(day);
    let definition = expo_kiosk::domain::EventDefinition::from_toml(&event).unwrap();
    let data_centre = expo_hub::registrations::DataCentreEvent {
        event_id: definition.event.id.clone(),
        definition: event,
        data_key: "00".repeat(32),
    };
    hub.runtime.block_on(hub.store.put_data_centre_event(data_centre)).unwrap();
    // 23:59:59 in Shanghai (UTC+8), the event's zone.
    let before_midnight = chrono::Utc.with_ymd_and_hms(2026, 5, 1, 15, 59, 59).unwrap();
    let clock = expo_hub::console::ConsoleClock::pinned(before_midnight);
    let console = ConsoleConfig {
        clock: clock.clone(),
        fleet_refresh: Duration::from_millis(20),
        ..ConsoleConfig::default()
    };
    let config = HubConfig { console, ..common::small_limits() };
    let live = TestHub::start_with(common::runtime(), Arc::clone(&hub.store), config, None);
    let mut ops = Browser::signed_in(&live.url, "ops");
    let page = ops.get("/console/venue?lang=en").body;
    assert!(page.contains("<span id=\"venue-day\">2026-05-01</span>"), "{page}");
    assert!(page.contains("new EventSource('/console/venue/events?today=2026-05-01')"), "{page}");

    let mut stream = EventStream::new(ops.open("/console/venue/events?today=2026-05-01"));
    let (event, data) = stream.next_event();
    assert_eq!(event, "venue");
    assert!(data.contains("<span id=\"venue-day\">2026-05-01</span>"), "{data}");
    assert!(!data.contains("day-changed"), "{data}");

    clock.set(before_midnight + chrono::Duration::seconds(2));
    // Events made before the clock moved may still be on their way.
    let changed = (0..1000)
        .map(|_| stream.next_event().1)
        .find(|data| data.contains("<span id=\"venue-day\">2026-05-02</span>"))
        .expect("the page moves to the new day");
    assert!(changed.contains("id=\"day-changed\""), "{changed}");
    assert!(changed.contains("figures start again from zero on 2026-05-02"), "{changed}");
    assert!(
        changed.contains(
            "href=\"/console/venue?date=2026-05-01\">Show the day before: 2026-05-01</a>"
        ),
        "{changed}"
    );
    assert!(changed.contains("/console/venue/gate_flow/csv?date=2026-05-02"), "{changed}");

    // A page opened on a day asked for stays on it, and says nothing.
    let (_, fixed) = first_event(ops.open("/console/venue/events?date=2026-05-01"));
    assert!(fixed.contains("<span id=\"venue-day\">2026-05-01</span>"), "{fixed}");
    assert!(!fixed.contains("day-changed"), "{fixed}");
    // A page opened after midnight shows the new day and says nothing.
    let page = ops.get("/console/venue").body;
    assert!(
        page.contains("<span id=\"venue-day\">2026-05-02</span>") && !page.contains("day-changed")
    );
}

/// The look-up reads a search table the hub keeps: it follows each attendee's current
/// version (a new name is found, the old one not), leaves merged-away attendees out,
/// checks a long text against the whole name, and finds phones by their last digits.
fn the_look_up_follows_each_attendees_current_version<S: HubStore>(hub: TestHub<S>) {
    let renamed = registered(&hub, "Zhao Old-Name", "R-200", "+86 139 0000 1111", false);
    let long = "Maximilian Alexander Konstantin von Hohenberg-Wittelsbach";
    let noble = registered(&hub, long, "R-201", "13900002222", false);
    let twin = registered(&hub, "Chen Twin", "R-202", "13900003333", false);
    add_user(&hub, "ana", ConsoleRole::Organiser);
    let mut ana = Browser::signed_in(&hub.url, "ana");
    assert!(ana.get("/console/attendees?q=old-name").body.contains(&renamed.to_string()));

    let mut desk = Station::new("desk-edit");
    // Later than the versions it replaces.
    (0..10).for_each(|_| drop(desk.tick()));
    let mut record = common::attendee_record(renamed, "Zhao New-Name", Some("hash-R-200"));
    record.registration_code = Some("R-200".into());
    record.phone = "+86 139 0000 1111".into();
    let mut merged = common::attendee_record(twin, "Chen Twin", Some("hash-R-202"));
    merged.registration_code = Some("R-202".into());
    merged.merged_into = Some(renamed);
    let changes = [desk.change(Record::Attendee(record)), desk.change(Record::Attendee(merged))];
    let answer = hub.client("desk-edit").push(&changes).unwrap();
    assert!(answer.refused.is_empty(), "{:?}", answer.refused);

    assert!(ana.get("/console/attendees?q=new-name").body.contains(&renamed.to_string()));
    assert!(ana.get("/console/attendees?q=old-name").body.contains("id=\"no-matches\""));
    assert!(ana.get("/console/attendees?q=chen%20twin").body.contains("id=\"no-matches\""));
    assert!(ana.get("/console/attendees?q=R-202").body.contains("id=\"no-matches\""));
    // Longer than a stored name part: found by its start, checked against the whole name.
    let tail = "alexander konstantin von hohenberg-wittelsbach";
    assert!(ana
        .get(&format!("/console/attendees?q={}", tail.replace(' ', "%20")))
        .body
        .contains(&noble.to_string()));
    let wrong = "alexander konstantin von hohenberg-wittelsbacx";
    assert!(ana
        .get(&format!("/console/attendees?q={}", wrong.replace(' ', "%20")))
        .body
        .contains("id=\"no-matches\""));
    // A phone by its last digits, however it was written.
    let by_phone = ana.get("/console/attendees?q=139-0000-1111").body;
    assert!(by_phone.contains(&renamed.to_string()), "{by_phone}");
}

/// A hub that held attendees before it kept the search table indexes them when it opens.
#[test]
fn a_hub_indexes_the_attendees_it_held_before_it_kept_a_search_table() {
    let hub = common::sqlite_hub();
    let held = registered(&hub, "Liu Before", "R-300", "13900004444", false);
    let path = hub.sqlite_path().unwrap();
    let older = rusqlite::Connection::open(&path).unwrap();
    older
        .execute_batch(
            "DROP TRIGGER attendee_search_added; DROP TRIGGER attendee_search_replaced;
             DROP TABLE attendee_search; DROP TABLE attendee_name_parts;",
        )
        .unwrap();
    let reopened = expo_hub::sqlite::SqliteStore::open(&path).unwrap();
    let search = expo_hub::store::AttendeeSearch {
        text: "before".into(),
        phone_digits: None,
        categories: Vec::new(),
    };
    let found = hub.runtime.block_on(reopened.search_attendees(&search, 5)).unwrap();
    assert_eq!(found.iter().map(|a| a.id).collect::<Vec<_>>(), vec![held]);
}

/// Pushes an attendee with a Chinese name beside the name (a foreign permanent-residence
/// card holder's), as a desk records them, from the station `desk` (enrolled as `client`).
fn card_holder(client: &HubClient, desk: &mut Station, id: uuid::Uuid, chinese_name: &str) {
    let mut record = common::attendee_record(id, "SMITH JOHN MICHAEL", Some("hash-card"));
    record.registration_code = Some("R-400".into());
    record.chinese_name = chinese_name.into();
    let answer = client.push(&[desk.change(Record::Attendee(record))]).unwrap();
    assert!(answer.refused.is_empty(), "{:?}", answer.refused);
}

/// A foreign permanent-residence card holder is found by either name, as at a desk: by
/// the Chinese name, part of it, or the name; the row shows both (masked for operations),
/// and a new Chinese name replaces the old one in the search.
fn the_look_up_finds_a_card_holder_by_either_name<S: HubStore>(hub: TestHub<S>) {
    let holder = uuid::Uuid::now_v7();
    let (client, mut desk) = (hub.client("desk-card"), Station::new("desk-card"));
    card_holder(&client, &mut desk, holder, "史密斯");
    add_one_user_per_role(&hub);
    let mut ana = Browser::signed_in(&hub.url, "ana");
    for text in ["%E5%8F%B2%E5%AF%86%E6%96%AF", "%E5%AF%86%E6%96%AF", "smith%20john"] {
        let found = ana.get(&format!("/console/attendees?q={text}"));
        assert_eq!(found.status, 200, "{}", found.body);
        assert!(row_of(&found.body, holder).contains("SMITH JOHN MICHAEL (史密斯)"), "{text}");
    }
    let mut ops = Browser::signed_in(&hub.url, "ops");
    let found = ops.get("/console/attendees?q=%E5%8F%B2%E5%AF%86%E6%96%AF").body;
    let masked = row_of(&found, holder);
    assert!(masked.contains("SMITH J. M. (史*斯)"), "{masked}");
    assert!(!masked.contains("史密斯") && !masked.contains("JOHN"), "{masked}");

    card_holder(&client, &mut desk, holder, "史文");
    let old = ana.get("/console/attendees?q=%E5%AF%86%E6%96%AF").body;
    assert!(old.contains("id=\"no-matches\""), "the old Chinese name is not searched: {old}");
    let new = ana.get("/console/attendees?q=%E5%8F%B2%E6%96%87").body;
    assert!(row_of(&new, holder).contains("(史文)"), "{new}");
}

fn search_for(text: &str) -> expo_hub::store::AttendeeSearch {
    expo_hub::store::AttendeeSearch {
        text: text.into(),
        phone_digits: None,
        categories: Vec::new(),
    }
}

/// The SQLite hub's store opened again after `change` took its tables back to older
/// ones, with triggers `{triggers}_added` and `_replaced` that did nothing.
fn reopened_from_before(
    hub: &TestHub<expo_hub::sqlite::SqliteStore>,
    triggers: &str,
    change: &str,
) -> expo_hub::sqlite::SqliteStore {
    let path = hub.sqlite_path().unwrap();
    let older = rusqlite::Connection::open(&path).unwrap();
    older
        .execute_batch(&format!(
            "DROP TRIGGER {triggers}_added; DROP TRIGGER {triggers}_replaced;
             {change}
             CREATE TRIGGER {triggers}_added AFTER INSERT ON current_state BEGIN SELECT 1; END;
             CREATE TRIGGER {triggers}_replaced AFTER UPDATE ON current_state BEGIN SELECT 1; END;"
        ))
        .unwrap();
    drop(older);
    expo_hub::sqlite::SqliteStore::open(&path).unwrap()
}

/// A connection of its own to the PostgreSQL hub's database at `url`.
fn connected<S: HubStore>(hub: &TestHub<S>, url: &str) -> tokio_postgres::Client {
    hub.runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    })
}

/// A hub whose search table is from before Chinese names were searched (its triggers
/// the old ones, the column and parts missing) adds them when it opens, on SQLite.
#[test]
fn a_sqlite_hub_searches_the_chinese_names_it_held_before() {
    let hub = common::sqlite_hub();
    let held = uuid::Uuid::now_v7();
    card_holder(&hub.client("desk-card"), &mut Station::new("desk-card"), held, "史密斯");
    let reopened = reopened_from_before(
        &hub,
        "attendee_search",
        "ALTER TABLE attendee_search DROP COLUMN chinese_name_folded;
         DELETE FROM attendee_name_parts WHERE part LIKE '史%' OR part LIKE '密%' OR part LIKE '斯%';",
    );
    let found = hub.runtime.block_on(reopened.search_attendees(&search_for("密斯"), 5)).unwrap();
    assert_eq!(found.iter().map(|a| a.id).collect::<Vec<_>>(), vec![held]);
    // Its triggers are the new ones: a later card holder is found by the Chinese name too.
    drop(reopened);
    let later = uuid::Uuid::now_v7();
    let mut desk = Station::new("desk-later");
    let mut record = common::attendee_record(later, "DOE JANE", Some("hash-later"));
    record.chinese_name = "多伊".into();
    hub.client("desk-later").push(&[desk.change(Record::Attendee(record))]).unwrap();
    let store = hub.store.as_ref();
    let found = hub.runtime.block_on(store.search_attendees(&search_for("多伊"), 5)).unwrap();
    assert_eq!(found.iter().map(|a| a.id).collect::<Vec<_>>(), vec![later]);
}

/// The same on PostgreSQL: the column added and filled when the hub connects.
#[test]
fn a_postgres_hub_searches_the_chinese_names_it_held_before() {
    let Some(server) = common::postgres_url() else { return };
    let runtime = common::runtime();
    let url = common::fresh_postgres_url(&runtime, &server);
    drop(runtime);
    let held = uuid::Uuid::now_v7();
    let hub = common::postgres_hub_on(&url);
    card_holder(&hub.client("desk-card"), &mut Station::new("desk-card"), held, "史密斯");
    let older = connected(&hub, &url);
    hub.runtime
        .block_on(older.batch_execute(
            "ALTER TABLE attendee_search DROP COLUMN chinese_name_folded;
             DELETE FROM attendee_name_parts WHERE part LIKE '史%' OR part LIKE '密%'
                 OR part LIKE '斯%';",
        ))
        .unwrap();
    drop(older);
    let reopened = common::postgres_hub_on(&url);
    let store = reopened.store.as_ref();
    let found = reopened.runtime.block_on(store.search_attendees(&search_for("密斯"), 5)).unwrap();
    assert_eq!(found.iter().map(|a| a.id).collect::<Vec<_>>(), vec![held]);
}

/// "Venue now" computes a day's figures once and shares them while they are fresh
/// (`ConsoleConfig::venue_fresh`, read on the console's clock): within it every page shows
/// what the first request computed, while a hub that computes at every request shows the
/// decision that came since; a little older, they are still served while newer ones are
/// computed in the background; much older, the request computes them; and past the
/// venue's midnight the new day is computed at once.
fn venue_now_shares_a_days_figures_while_they_are_fresh<S: HubStore>(hub: TestHub<S>) {
    add_user(&hub, "ops", ConsoleRole::Operations);
    let (_dir, _office) = busy_day(&hub);
    let now = chrono::Utc::now();
    let clock = expo_hub::console::ConsoleClock::pinned(now);
    let start = |venue_fresh: Duration| {
        let console = ConsoleConfig {
            clock: clock.clone(),
            venue_fresh,
            fleet_refresh: Duration::from_millis(20),
            ..ConsoleConfig::default()
        };
        let config = HubConfig { console, ..common::small_limits() };
        TestHub::start_with(common::runtime(), Arc::clone(&hub.store), config, None)
    };
    let (kept, exact) = (start(Duration::from_secs(1)), start(Duration::ZERO));
    let (mut watcher, mut checker) =
        (Browser::signed_in(&kept.url, "ops"), Browser::signed_in(&exact.url, "ops"));
    let denials = |browser: &mut Browser| {
        let csv = browser.get("/console/venue/denials/csv?lang=en");
        assert_eq!(csv.status, 200, "{}", csv.body);
        csv.body
    };
    let before = denials(&mut watcher);
    assert_eq!(denials(&mut checker), before);

    let (gate_client, mut gate) = (hub.client("gate-late"), Station::new("gate-late"));
    let mut deny_one = || {
        let late = expo_sync::protocol::GateDecisionRecord {
            id: uuid::Uuid::now_v7(),
            attendee_id: None,
            badge_serial: None,
            gate: "north".into(),
            lane: "1".into(),
            zone: "hall-1".into(),
            direction: "in".into(),
            granted: false,
            reason: "malformed".into(),
            at: expo_kiosk::store::format_time(now),
            annulled: false,
        };
        let answer = gate_client.push(&[gate.change(Record::GateDecision(late))]).unwrap();
        assert!(answer.refused.is_empty(), "{:?}", answer.refused);
        denials(&mut checker)
    };
    let after = deny_one();
    assert_ne!(after, before, "computed at every request: {after}");
    assert_eq!(denials(&mut watcher), before, "the figures computed first, shared");

    clock.set(now + chrono::Duration::seconds(2));
    assert_eq!(denials(&mut watcher), before, "served while the next are computed");
    let mut stream = EventStream::new(watcher.open("/console/venue/events"));
    (0..1000)
        .map(|_| stream.next_event())
        .find(|_| denials(&mut watcher) == after)
        .expect("the figures computed in the background replace them");

    // The decision comes first and the clock moves after it: the live stream above still
    // asks for the figures, and one computed between the move and the decision would be
    // fresh again, without it.
    let latest = deny_one();
    clock.set(now + chrono::Duration::seconds(10));
    assert_eq!(denials(&mut watcher), latest, "too old to serve: computed by the request");

    clock.set(now + chrono::Duration::days(1));
    // The event's zone is Shanghai's, UTC+8.
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let tomorrow = clock.now().with_timezone(&shanghai).date_naive();
    let page = watcher.get("/console/venue?lang=en").body;
    assert!(page.contains(&format!("<span id=\"venue-day\">{tomorrow}</span>")), "{page}");
}

/// Two attendees whose names sort the other way round from their keys (and their
/// registration), so a look-up that orders by a name it does not have shows them wrong.
fn registered_against_name_order<S: HubStore>(hub: &TestHub<S>) -> [uuid::Uuid; 2] {
    let bo = registered(hub, "Bo Earlier", "R-500", "13900005555", false);
    let al = registered(hub, "Al Earlier", "R-501", "13900006666", false);
    [al, bo]
}

fn found_ids<S: HubStore>(hub: &TestHub<S>, store: &S, text: &str) -> Vec<uuid::Uuid> {
    let found = hub.runtime.block_on(store.search_attendees(&search_for(text), 5)).unwrap();
    found.iter().map(|a| a.id).collect()
}

/// A hub whose name parts are from before they carried the name (what the look-up now
/// orders its candidates by, from the part table alone) fills it in when it opens, on
/// SQLite, and its triggers keep it for later attendees.
#[test]
fn a_sqlite_hub_orders_the_name_parts_it_held_before_by_name() {
    let hub = common::sqlite_hub();
    let in_name_order = registered_against_name_order(&hub);
    let reopened = reopened_from_before(
        &hub,
        "attendee_search",
        "ALTER TABLE attendee_name_parts DROP COLUMN name_folded;",
    );
    assert_eq!(found_ids(&hub, &reopened, "earlier"), in_name_order);
    drop(reopened);
    let cy = registered(&hub, "Ab Earlier", "R-502", "13900007777", false);
    let store = hub.store.as_ref();
    assert_eq!(found_ids(&hub, store, "earlier"), [vec![cy], in_name_order.to_vec()].concat());
}

/// The same on PostgreSQL, whose part index then carries the name (an index-only scan).
#[test]
fn a_postgres_hub_orders_the_name_parts_it_held_before_by_name() {
    let Some(server) = common::postgres_url() else { return };
    let runtime = common::runtime();
    let url = common::fresh_postgres_url(&runtime, &server);
    drop(runtime);
    let hub = common::postgres_hub_on(&url);
    let in_name_order = registered_against_name_order(&hub);
    let older = connected(&hub, &url);
    hub.runtime
        .block_on(older.batch_execute(
            "ALTER TABLE attendee_name_parts DROP CONSTRAINT attendee_name_parts_pkey;
             ALTER TABLE attendee_name_parts DROP COLUMN name_folded,
                 ADD PRIMARY KEY (part, entity_key);",
        ))
        .unwrap();
    drop(older);
    let reopened = common::postgres_hub_on(&url);
    assert_eq!(found_ids(&reopened, reopened.store.as_ref(), "earlier"), in_name_order);
    let definition: String = reopened
        .runtime
        .block_on(connected(&reopened, &url).query_one(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'attendee_name_parts_pkey'
               AND schemaname = current_schema()",
            &[],
        ))
        .unwrap()
        .get(0);
    assert!(definition.contains("INCLUDE (category, name_folded)"), "{definition}");
    let cy = registered(&reopened, "Ab Earlier", "R-502", "13900007777", false);
    let store = reopened.store.as_ref();
    assert_eq!(found_ids(&reopened, store, "earlier"), [vec![cy], in_name_order.to_vec()].concat());
}

/// Takes the hub's venue totals back to before `venue_denials`: each denying reason's
/// totals in `venue_gate`, at a gate.
const VENUE_GATE_BEFORE_DENIALS: &str =
    "INSERT INTO venue_gate (quarter, gate, zone, direction, reason, decisions, passages)
         SELECT quarter, 'gate-before', 'hall', 'in', reason, decisions, passages
         FROM venue_denials;
     DROP TABLE venue_denials;";

/// The venue totals of every day, with a deny reason among them.
fn all_venue_totals<S: HubStore>(hub: &TestHub<S>, store: &S) -> expo_hub::venue_now::VenueTotals {
    let totals = hub.runtime.block_on(store.venue_totals("2000-01-01T00:00", "9999")).unwrap();
    assert!(totals.gate.iter().any(|g| g.gate.is_empty() && g.decisions > 0), "{totals:?}");
    totals
}

/// A hub that counted denying reasons by gate moves them into `venue_denials` (by quarter
/// and reason) when it opens, on SQLite.
#[test]
fn a_sqlite_hub_moves_the_deny_reasons_it_counted_by_gate() {
    let hub = common::sqlite_hub();
    let (_dir, _office) = busy_day(&hub);
    let before = all_venue_totals(&hub, hub.store.as_ref());
    let reopened = reopened_from_before(&hub, "venue_now", VENUE_GATE_BEFORE_DENIALS);
    assert_eq!(all_venue_totals(&hub, &reopened), before);
    let gate_rows: i64 = rusqlite::Connection::open(hub.sqlite_path().unwrap())
        .unwrap()
        .query_row("SELECT count(*) FROM venue_gate WHERE gate = 'gate-before'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gate_rows, 0, "no denying reason left by gate");
}

/// The same on PostgreSQL.
#[test]
fn a_postgres_hub_moves_the_deny_reasons_it_counted_by_gate() {
    let Some(server) = common::postgres_url() else { return };
    let runtime = common::runtime();
    let url = common::fresh_postgres_url(&runtime, &server);
    drop(runtime);
    let hub = common::postgres_hub_on(&url);
    let (_dir, _office) = busy_day(&hub);
    let before = all_venue_totals(&hub, hub.store.as_ref());
    let older = connected(&hub, &url);
    hub.runtime.block_on(older.batch_execute(VENUE_GATE_BEFORE_DENIALS)).unwrap();
    drop(older);
    let reopened = common::postgres_hub_on(&url);
    assert_eq!(all_venue_totals(&reopened, reopened.store.as_ref()), before);
    let gate_rows: i64 = reopened
        .runtime
        .block_on(
            connected(&reopened, &url)
                .query_one("SELECT count(*) FROM venue_gate WHERE gate = 'gate-before'", &[]),
        )
        .unwrap()
        .get(0);
    assert_eq!(gate_rows, 0, "no denying reason left by gate");
}
