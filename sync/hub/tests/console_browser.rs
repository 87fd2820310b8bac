//! A real browser on the console: headless Chromium, driven through ChromeDriver's
//! WebDriver API (plain HTTP), signs in through the form, opens the fleet page with
//! stations reporting, reads what it shows and sees a new station arrive through the
//! server-sent events without a reload; then opens Venue now and reads a chart. Needs Debian's `chromium` and `chromium-driver`
//! (`.ci/run` installs them): skipped with a notice without them, failed in CI.
//!
//! `EXPO_CONSOLE_SCREENSHOT=PATH` also saves the fleet page as a PNG (the README's picture),
//! `EXPO_VENUE_SCREENSHOT=PATH` the Venue now page.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use expo_hub::console::auth::{self, ConsoleRole};
use expo_sync::heartbeat::{
    DeviceKind, DeviceReport, Figures, Heartbeat, LaneReport, PrinterReport, PrinterState,
    StationFigures, StationMode,
};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium and ChromeDriver, or `None` (with a notice) when they are not installed. In CI
/// (`CI` set) their absence fails the test: a browser test that passes by skipping hides a
/// broken CI set-up.
fn browser_installed() -> bool {
    let installed = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("NOTICE: {CHROMIUM} or {CHROMEDRIVER} missing: console browser test skipped");
    }
    installed
}

/// One ChromeDriver process with one headless Chromium session.
struct Browser {
    driver: Child,
    agent: ureq::Agent,
    session: String,
}

impl Browser {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // ChromeDriver says when it listens.
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let started =
            lines.by_ref().map_while(Result::ok).any(|line| line.contains("started successfully"));
        assert!(started, "ChromeDriver did not start");
        std::thread::spawn(move || lines.for_each(drop));
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1500,640",
            "--lang=en-US",
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let base = format!("http://127.0.0.1:{port}");
        let answer: Value = agent
            .post(format!("{base}/session"))
            .send_json(&capabilities)
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        let session = answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("{answer}"));
        let mut browser = Self { driver, agent, session: format!("{base}/session/{session}") };
        // `implicit`: a search for an element waits for it (a page still loading) this long.
        browser.call(
            "POST",
            "/timeouts",
            json!({"script": 20_000, "pageLoad": 20_000, "implicit": 10_000}),
        );
        browser
    }

    fn call(&mut self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        let mut response = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self.agent.post(&url).send_json(&body),
        }
        .unwrap();
        let answer: Value = response.body_mut().read_json().unwrap();
        assert!(answer["value"].get("error").is_none(), "{method} {path}: {answer}");
        answer["value"].clone()
    }

    fn open(&mut self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    fn find(&mut self, css: &str) -> String {
        let found = self.call("POST", "/element", json!({"using": "css selector", "value": css}));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("{css}: {found}")).to_owned()
    }

    /// What `read` (JavaScript of `found`, the element `css` matches) gives, in one
    /// script: the live pages redraw their rows and charts from server events, which would
    /// make an element reference stale between finding it and reading it.
    fn read(&mut self, css: &str, read: &str) -> Value {
        let script = format!(
            "const found = document.querySelector(arguments[0]);\
             if (found === null) return {{ missing: true }};\
             return {{ value: {read} }};"
        );
        let answer = self.call("POST", "/execute/sync", json!({"script": script, "args": [css]}));
        assert!(answer["missing"].is_null(), "{css}: no such element");
        answer["value"].clone()
    }

    fn text(&mut self, css: &str) -> String {
        self.read(css, "found.innerText").as_str().unwrap().to_owned()
    }

    fn attribute(&mut self, css: &str, name: &str) -> String {
        let value = self.read(css, &format!("found.getAttribute({})", json!(name)));
        value.as_str().unwrap_or_default().to_owned()
    }

    fn type_into(&mut self, css: &str, text: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/value"), json!({ "text": text }));
    }

    fn click(&mut self, css: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/click"), json!({}));
    }

    fn script(&mut self, script: &str) -> Value {
        self.call("POST", "/execute/sync", json!({"script": script, "args": []}))
    }

    /// Waits, inside the page, until `css` matches an element: a MutationObserver
    /// answers when the DOM changes, no polling.
    fn wait_for(&mut self, css: &str) {
        let script = "const [css, done] = arguments;\
            const found = () => { if (document.querySelector(css)) { done(true); return true; } };\
            if (!found()) new MutationObserver(found).observe(document.body, {subtree: true, childList: true});";
        self.call("POST", "/execute/async", json!({"script": script, "args": [css]}));
    }

    fn screenshot(&mut self) -> Vec<u8> {
        let encoded = self.call("GET", "/screenshot", Value::Null);
        data_encoding::BASE64.decode(encoded.as_str().unwrap().as_bytes()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.session).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A gate whose lane denies `denied` of 24 scans a minute; past half of them it is in
/// trouble: its printer fails and its relay board is gone too.
struct Gate {
    denied: u32,
}

impl Gate {
    fn in_trouble(&self) -> bool {
        self.denied > 12
    }
}

/// A desk app with a ready printer and its scanner and ID reader connected.
struct Desk;

impl StationFigures for Desk {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").into()
    }
    fn mode(&self) -> StationMode {
        StationMode::App
    }
    fn figures(&self) -> Figures {
        let device =
            |kind: DeviceKind| DeviceReport { kind, name: kind.as_str().into(), connected: true };
        Figures {
            printer: Some(PrinterReport { state: PrinterState::Ready, waiting: 1, failed: 0 }),
            devices: vec![device(DeviceKind::Scanner), device(DeviceKind::IdReader)],
            lanes: Vec::new(),
        }
    }
}

impl StationFigures for Gate {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").into()
    }
    fn mode(&self) -> StationMode {
        StationMode::HeadlessGate
    }
    fn figures(&self) -> Figures {
        Figures {
            printer: self.in_trouble().then_some(PrinterReport {
                state: PrinterState::Failing,
                waiting: 3,
                failed: 1,
            }),
            devices: vec![DeviceReport {
                kind: DeviceKind::RelayBoard,
                name: "relay /dev/ttyUSB0".into(),
                connected: !self.in_trouble(),
            }],
            lanes: vec![LaneReport {
                lane: "north/1".into(),
                scans_per_minute: 24,
                denied_per_minute: self.denied,
            }],
        }
    }
}

fn beat(station: &dyn StationFigures, pending: u64) -> Heartbeat {
    Heartbeat::new(station, expo_sync::hlc::wall_clock_ms(), pending, None)
}

#[test]
fn a_browser_signs_in_and_watches_the_fleet_live() {
    if !browser_installed() {
        return;
    }
    let hub = common::sqlite_hub();
    let store = hub.store.as_ref();
    hub.runtime
        .block_on(auth::add_user(store, "ana", ConsoleRole::Organiser, "a long enough password"))
        .unwrap();
    hub.client("gate-north").heartbeat(&beat(&Gate { denied: 17 }, 0)).unwrap();
    hub.client("gate-south").heartbeat(&beat(&Gate { denied: 1 }, 12)).unwrap();
    hub.client("desk-1").heartbeat(&beat(&Desk, 3)).unwrap();
    hub.station_code("kiosk-1");

    let mut browser = Browser::start();
    browser.open(&format!("{}/console/sign-in?lang=en", hub.url));
    browser.type_into("input[name=name]", "ana");
    browser.type_into("input[name=password]", "a long enough password");
    browser.click("button.action");
    browser.find("#fleet-body");
    let url = browser.script("return location.pathname;");
    assert_eq!(url, "/console/fleet", "{}", browser.script("return document.body.innerText;"));
    assert_eq!(browser.text("h1"), "Fleet");

    let north = "tr[data-station=gate-north]";
    assert_eq!(browser.attribute(north, "class"), "alert");
    let shown = browser.text(north);
    assert!(
        shown.contains("failing") && shown.contains("north/1: 24 scans/min · 17 denied"),
        "{shown}"
    );
    assert!(shown.contains("relay /dev/ttyUSB0: disconnected"), "{shown}");
    assert_eq!(browser.attribute("tr[data-station=gate-south]", "class"), "");
    assert!(browser.text("tr[data-station=kiosk-1]").contains("not enrolled"));
    let desk = browser.text("tr[data-station=desk-1]");
    assert!(
        desk.contains("app") && desk.contains("ready") && desk.contains("id_reader: connected")
    );

    // A station that reports now appears through the event stream, with no reload.
    browser.script("window.notReloaded = true;");
    hub.client("gate-east").heartbeat(&beat(&Gate { denied: 0 }, 0)).unwrap();
    browser.wait_for("tr[data-station=gate-east]");
    assert_eq!(browser.script("return window.notReloaded === true;"), true);
    assert!(browser.text("#live").contains("Live"));

    if let Some(path) = std::env::var_os("EXPO_CONSOLE_SCREENSHOT") {
        std::fs::write(path, browser.screenshot()).unwrap();
    }

    browser.click("#lang");
    assert_eq!(browser.text("h1"), "设备总览");
    assert!(browser.text(north).contains("故障"));

    // Venue now: the event reaches the hub, a gate lets someone in, and the page's charts
    // show it.
    let today = chrono::Utc::now().date_naive();
    let event = expo_hub::registrations::DataCentreEvent {
        event_id: "expo-demo".into(),
        definition: expo_kiosk::demo::demo_event_toml(today),
        data_key: "00".repeat(32),
    };
    hub.runtime.block_on(expo_hub::HubStore::put_data_centre_event(store, event)).unwrap();
    let mut gate = common::Station::new("gate-west");
    let mut entry = gate.gate(uuid::Uuid::now_v7(), true);
    if let expo_sync::protocol::Record::GateDecision(decision) = &mut entry.record {
        decision.zone = "hall-1".into();
        decision.reason = "granted".into();
        decision.at = expo_kiosk::store::format_time(chrono::Utc::now());
    }
    hub.client("gate-west").push(&[entry]).unwrap();
    browser.open(&format!("{}/console/venue?lang=en", hub.url));
    browser.find("svg[data-chart=inside]");
    assert_eq!(browser.text("h1"), "Venue now");
    assert!(browser.text("#chart-inside").contains("People inside each zone now"));
    browser.find("#chart-gate_flow svg polyline");
    let inside = browser.script(
        "return document.querySelector('svg[data-chart=inside] rect[fill=\"#1f77b4\"] title').textContent;",
    );
    assert_eq!(inside, "inside: 1");
    if let Some(path) = std::env::var_os("EXPO_VENUE_SCREENSHOT") {
        // The charts with this test's figures, rather than the page's heading.
        browser.script("document.querySelector('#chart-inside').scrollIntoView();");
        std::fs::write(path, browser.screenshot()).unwrap();
    }
}
