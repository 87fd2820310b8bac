//! The gate end to end over pseudo-terminals: scanner simulators type badge lines, the
//! real scanner reader, decision engine, store and relay driver run, and relay
//! simulators record every byte they receive.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

#[path = "support/endorsed.rs"]
mod endorsed;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use expo_hardware::pty::relink;
use expo_hardware::relay::{lcus, modbus, EchoFault, RelayProtocol, RelaySimulator};
use expo_hardware::scanner::{ScannerSimulator, Terminator};
use expo_kiosk::access::Reason;
use expo_kiosk::credential;
use expo_kiosk::demo::demo_event_toml;
use expo_kiosk::domain::AttendeeId;
use expo_kiosk::gate::{control, Clock, ControlCommand, Gate, GateConfig, LaneVerdict, Mode};
use expo_kiosk::provisioning;
use expo_kiosk::registration::import::{import_csv, ImportOptions};
use expo_kiosk::registration::{badge, resolve};
use expo_kiosk::store::Store;
use rusqlite::Connection;

const EXAMPLE_EVENT: &str = include_str!("../assets/events/example-event.toml");
/// Long enough for a pulse of 100 ms to end and its OFF frame to arrive.
const SETTLE: Duration = Duration::from_millis(400);

const ATTENDEES: &str =
    "registration_code,name,company,title,category,phone,email,country,id_type,id_number\n\
R0000123,张三,上海展览,,exhibitor,13812345678,,中国,,\n\
R0000124,李四,上海展览,,exhibitor,13812345679,,中国,,\n\
R0000125,王五,上海展览,,exhibitor,13812345670,,中国,,\n\
R0000126,赵六,上海展览,,exhibitor,13812345671,,中国,,\n";

struct PinnedClock(DateTime<Utc>);

impl Clock for PinnedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Noon in Shanghai on the second show day: exhibitors may enter halls 1 and 2.
fn show_noon() -> Arc<PinnedClock> {
    Arc::new(PinnedClock(Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap()))
}

struct Station {
    dir: tempfile::TempDir,
    store: Option<Store>,
}

impl Station {
    /// The example event, four pre-registered exhibitors; R0000124..126 get badges and
    /// R0000126's is then revoked; R0000123 stays a pending pre-registration.
    fn new() -> (Self, Badges) {
        Self::with_event(EXAMPLE_EVENT)
    }

    fn with_event(event: &str) -> (Self, Badges) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        provisioning::init(&mut store, &expo_kiosk::operators::Operator::admin("test"), event)
            .unwrap();
        import_csv(
            &mut store,
            &expo_kiosk::operators::Operator::admin("test"),
            ATTENDEES.as_bytes(),
            ImportOptions::default(),
        )
        .unwrap();
        let mut token = |code: &str| {
            let id = AttendeeId(resolve(store.conn(), code).unwrap().id);
            badge::ensure_badge(&mut store, &expo_kiosk::operators::Operator::admin("desk"), id)
                .unwrap()
                .token
        };
        let (good, other, revoked) = (token("R0000124"), token("R0000125"), token("R0000126"));
        let revoked_id = AttendeeId(resolve(store.conn(), "R0000126").unwrap().id);
        badge::revoke(
            &mut store,
            &expo_kiosk::operators::Operator::admin("desk"),
            revoked_id,
            "lost",
        )
        .unwrap();
        let forged = {
            let claims = credential::parse(&good).unwrap().claims;
            let stranger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
            credential::sign(&claims, &stranger)
        };
        (Station { dir, store: Some(store) }, Badges { good, other, revoked, forged })
    }

    fn db(&self) -> Connection {
        Connection::open(self.dir.path().join("station.db")).unwrap()
    }

    fn start(&mut self, config: &str) -> Gate {
        let store = self.store.take().unwrap();
        let config = GateConfig::from_toml(config, &store.event().unwrap().definition).unwrap();
        let gate = Gate::start(store, config, show_noon()).unwrap();
        // Let the scanner readers open their ports (and set them raw) before anyone scans.
        std::thread::sleep(Duration::from_millis(300));
        gate
    }

    fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Annulled gate decisions queued for the hub.
    fn annulled_changes(&self) -> i64 {
        self.count(
            "SELECT count(*) FROM outbox WHERE kind = 'gate_decision' \
             AND json_extract(change, '$.record.data.annulled') = 1",
        )
    }
}

struct Badges {
    good: String,
    other: String,
    revoked: String,
    forged: String,
}

fn lane(id: &str, zone: &str, direction: &str, relay: &str, channel: u8, scanner: &str) -> String {
    format!(
        "[[lanes]]\nid = \"{id}\"\nzone = \"{zone}\"\ndirection = \"{direction}\"\n\
         relay = \"{relay}\"\nchannel = {channel}\npulse_ms = 100\ndeny_pulse_ms = 100\n\
         scanner = {{ kind = \"serial\", path = \"{scanner}\", debounce_ms = 0 }}\n"
    )
}

/// Lane in-1 into hall 1 on board a, channel 1, whose turnstile reports each passage on
/// `turnstile`; a grant nobody passes within `timeout_s` is annulled.
fn confirmed_lane(scanner: &str, turnstile: &str, timeout_s: f64) -> String {
    lane("in-1", "hall-1", "in", "a", 1, scanner).replace(
        "deny_pulse_ms = 100\n",
        &format!(
            "deny_pulse_ms = 100\npass_confirm = {{ input = {{ path = \"{turnstile}\" }}, timeout_s = {timeout_s} }}\n"
        ),
    )
}

fn board(id: &str, path: &str, protocol: &str, channels: u8) -> String {
    format!(
        "[[relays]]\nid = \"{id}\"\npath = \"{path}\"\nprotocol = \"{protocol}\"\nchannels = {channels}\n"
    )
}

/// A running gate with one entry lane, in-1 into `zone`, on channel 1 of LCUS board a.
struct OneLane {
    gate: Gate,
    relay: RelaySimulator,
    scanner: ScannerSimulator,
    _board: expo_hardware::pty::PtySimulator,
}

impl OneLane {
    fn start(station: &mut Station, zone: &str) -> Self {
        let relay = RelaySimulator::new(RelayProtocol::Lcus, 1);
        let board_pty = relay.spawn_on_pty().unwrap();
        let scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
        let config = [
            board("a", board_pty.path(), "lcus", 1),
            lane("in-1", zone, "in", "a", 1, scanner.path()),
        ]
        .concat();
        OneLane { gate: station.start(&config), relay, scanner, _board: board_pty }
    }
}

fn verdict(gate: &Gate) -> LaneVerdict {
    gate.verdicts().recv_timeout(Duration::from_secs(5)).expect("a verdict")
}

fn no_verdict(gate: &Gate) {
    let extra = gate.verdicts().recv_timeout(SETTLE);
    assert!(extra.is_err(), "unexpected verdict {extra:?}");
}

/// Waits until the board has received `count` frames (or a timeout) and returns them.
fn frames(relay: &RelaySimulator, count: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(3);
    while relay.received().len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    relay.received()
}

/// The next two verdicts: a grant, then the same decision annulled, which the log holds.
fn granted_then_annulled(gate: &Gate, station: &Station) {
    let granted = verdict(gate);
    assert!(granted.granted);
    let annulled = verdict(gate);
    assert_eq!((annulled.decision_id, annulled.annulled), (granted.decision_id, true));
    assert_eq!(station.count("SELECT count(*) FROM gate_decisions WHERE annulled = 1"), 1);
}

fn lcus_frame(channel: u8, on: bool) -> Vec<u8> {
    lcus::encode(channel, on).to_vec()
}

fn coil_frame(coil: u16, on: bool) -> Vec<u8> {
    modbus::encode_write_coil(1, coil, on).to_vec()
}

#[test]
fn a_badge_opens_its_lane_with_exact_pulse_bytes_and_forged_or_revoked_send_none() {
    let (mut station, badges) = Station::new();
    let entry_relay = RelaySimulator::new(RelayProtocol::Lcus, 2);
    let exit_relay = RelaySimulator::new(RelayProtocol::Modbus { address: 1 }, 1);
    let (entry_board, exit_board) =
        (entry_relay.spawn_on_pty().unwrap(), exit_relay.spawn_on_pty().unwrap());
    let mut entry_scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
    let mut exit_scanner = ScannerSimulator::new(Terminator::CrLf).unwrap();
    let config = [
        board("a", entry_board.path(), "lcus", 2),
        board("b", exit_board.path(), "modbus", 1),
        lane("in-1", "hall-1", "in", "a", 1, entry_scanner.path()),
        lane("out-1", "hall-1", "out", "b", 1, exit_scanner.path())
            .replace("debounce_ms = 0 }", "debounce_ms = 0, terminator = \"cr_lf\" }"),
    ]
    .concat();
    let gate = station.start(&config);
    // Starting drives every channel closed.
    let closed_at_start = vec![lcus_frame(1, false), lcus_frame(2, false)];
    assert_eq!(frames(&entry_relay, 2), closed_at_start);
    assert_eq!(frames(&exit_relay, 1), vec![coil_frame(0, false)]);

    entry_scanner.scan(&badges.good).unwrap();
    let granted = verdict(&gate);
    assert!(granted.granted, "{granted:?}");
    assert_eq!((granted.reason, granted.lane.as_str()), (Reason::Granted, "in-1"));
    assert_eq!(granted.name.as_deref(), Some("李四"));
    assert_eq!(granted.category.as_deref(), Some("exhibitor"));
    let mut expected = closed_at_start.clone();
    expected.extend([lcus_frame(1, true), lcus_frame(1, false)]);
    assert_eq!(frames(&entry_relay, 4), expected);

    for (token, reason) in [
        (&badges.forged, Reason::UnknownKey),
        (&badges.revoked, Reason::Revoked),
        // Hard anti-passback in hall 1: in again without going out.
        (&badges.good, Reason::Passback),
    ] {
        entry_scanner.scan(token).unwrap();
        let denied = verdict(&gate);
        assert_eq!((denied.granted, denied.reason), (false, reason));
        // "Already inside" says since when and through which lane; nothing else does.
        let entered = denied.entered.as_ref().map(|e| (e.at.as_str(), e.lane.as_str()));
        let expected = (reason == Reason::Passback).then_some((granted.at.as_str(), "in-1"));
        assert_eq!(entered, expected);
    }
    std::thread::sleep(SETTLE);
    assert_eq!(entry_relay.received(), expected, "a denial sends no relay bytes");

    exit_scanner.scan(&badges.good).unwrap();
    let exit = verdict(&gate);
    assert_eq!(
        (exit.granted, exit.reason, exit.direction.as_str()),
        (true, Reason::Granted, "out")
    );
    assert_eq!(
        frames(&exit_relay, 3),
        vec![coil_frame(0, false), coil_frame(0, true), coil_frame(0, false)]
    );
    entry_scanner.scan(&badges.good).unwrap();
    assert_eq!(verdict(&gate).reason, Reason::Granted, "after an exit, entry is allowed again");
    gate.stop().unwrap();

    // Every decision is in the log, each with its outbox row.
    assert_eq!(station.count("SELECT count(*) FROM gate_decisions"), 6);
    assert_eq!(station.count("SELECT count(*) FROM gate_decisions WHERE granted = 1"), 3);
    assert_eq!(station.count("SELECT count(*) FROM outbox WHERE kind = 'gate_decision'"), 6);
    let reasons: Vec<String> = station
        .db()
        .prepare("SELECT reason FROM gate_decisions ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reasons, ["granted", "unknown_key", "revoked", "passback", "granted", "granted"]);
    // A refusal of a genuine badge names its holder and serial, in the log and in the record
    // that goes to the hub; a forged badge names nobody.
    let holder = |code: &str| -> String {
        station
            .db()
            .query_row("SELECT id FROM attendees WHERE registration_code = ?1", [code], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let logged = |reason: &str| -> (Option<String>, Option<i64>, Option<String>) {
        station
            .db()
            .query_row(
                "SELECT d.attendee_id, d.badge_serial, \
                 json_extract(o.change, '$.record.data.attendee_id') \
                 FROM gate_decisions d JOIN outbox o ON o.kind = 'gate_decision' \
                 AND json_extract(o.change, '$.record.data.id') = d.id WHERE d.reason = ?1",
                [reason],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    };
    let revoked_holder = Some(holder("R0000126"));
    assert_eq!(logged("revoked"), (revoked_holder.clone(), Some(1), revoked_holder));
    let passback_holder = Some(holder("R0000124"));
    assert_eq!(logged("passback"), (passback_holder.clone(), Some(1), passback_holder));
    assert_eq!(logged("unknown_key"), (None, None, None));
}

#[test]
fn garbage_long_lines_and_binary_noise_never_stop_a_lane() {
    let (mut station, badges) = Station::new();
    let OneLane { gate, relay, mut scanner, _board } = OneLane::start(&mut station, "hall-2");
    assert_eq!(frames(&relay, 1).len(), 1);

    scanner.scan("hello, world").unwrap();
    assert_eq!(verdict(&gate).reason, Reason::Malformed);
    scanner.send_raw(&[b'x'; 4096]).unwrap();
    scanner.send_raw(b"\r").unwrap();
    let noise: Vec<u8> = (0..2048u32).map(|i| (i * 7919 % 251) as u8).collect();
    scanner.send_raw(&noise).unwrap();
    scanner.send_raw(b"\r\x00\xff\xfe\x1b[2J\r").unwrap();
    scanner.scan(&"EK1".repeat(300)).unwrap();
    // Whatever the noise decoded to, nothing was granted and nothing opened.
    while let Ok(extra) = gate.verdicts().recv_timeout(SETTLE) {
        assert!(!extra.granted, "{extra:?}");
    }
    assert_eq!(relay.received().len(), 1);

    scanner.scan(&badges.other).unwrap();
    let granted = verdict(&gate);
    assert_eq!((granted.granted, granted.name.as_deref()), (true, Some("王五")));
    assert_eq!(frames(&relay, 3)[1..], [lcus_frame(1, true), lcus_frame(1, false)]);
    gate.stop().unwrap();
}

#[test]
fn a_pre_registration_code_is_sent_to_the_desk_with_the_deny_signal() {
    let (mut station, _) = Station::new();
    let relay = RelaySimulator::new(RelayProtocol::Lcus, 2);
    let board_pty = relay.spawn_on_pty().unwrap();
    let mut scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
    let config = [
        board("a", board_pty.path(), "lcus", 2),
        lane("in-1", "hall-1", "in", "a", 1, scanner.path())
            .replace("deny_pulse_ms = 100\n", "deny_pulse_ms = 100\ndeny_channel = 2\n"),
    ]
    .concat();
    let gate = station.start(&config);
    assert_eq!(frames(&relay, 2).len(), 2);
    scanner.scan("R0000123").unwrap();
    let denied = verdict(&gate);
    assert_eq!((denied.granted, denied.reason), (false, Reason::CollectBadgeAtDesk));
    assert_eq!((denied.message_en, denied.message_zh), Reason::CollectBadgeAtDesk.label());
    // Only the deny channel (buzzer) sounds; the turnstile stays shut.
    assert_eq!(frames(&relay, 4)[2..], [lcus_frame(2, true), lcus_frame(2, false)]);
    gate.stop().unwrap();
}

#[test]
fn a_grant_nobody_walks_through_is_annulled_and_does_not_block_re_entry() {
    let (mut station, badges) = Station::new();
    let relay = RelaySimulator::new(RelayProtocol::Lcus, 1);
    let board_pty = relay.spawn_on_pty().unwrap();
    let mut scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
    let mut turnstile = ScannerSimulator::new(Terminator::Lf).unwrap();
    let config = [
        board("a", board_pty.path(), "lcus", 1),
        confirmed_lane(scanner.path(), turnstile.path(), 0.5),
    ]
    .concat();
    let gate = station.start(&config);
    std::thread::sleep(Duration::from_millis(200));

    scanner.scan(&badges.good).unwrap();
    granted_then_annulled(&gate, &station);
    assert_eq!(station.annulled_changes(), 1);

    // Not counted as inside: hard anti-passback lets them in again; this time they pass.
    scanner.scan(&badges.good).unwrap();
    assert_eq!(verdict(&gate).reason, Reason::Granted);
    turnstile.scan("PASSED").unwrap();
    no_verdict(&gate);
    std::thread::sleep(Duration::from_millis(300));
    scanner.scan(&badges.good).unwrap();
    assert_eq!(verdict(&gate).reason, Reason::Passback);
    gate.stop().unwrap();
    assert_eq!(station.count("SELECT count(*) FROM gate_decisions WHERE annulled = 1"), 1);
}

#[test]
fn a_grant_the_unplugged_relay_cannot_open_is_annulled_and_the_replugged_board_opens_next_time() {
    let (mut station, badges) = Station::new();
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("relay-a"); // as /dev/serial/by-id/... names a USB board
    let relay = RelaySimulator::new(RelayProtocol::Lcus, 1);
    let board_pty = relay.spawn_on_pty().unwrap();
    relink(&link, board_pty.path()).unwrap();
    let mut scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
    let config = [
        board("a", link.to_str().unwrap(), "lcus", 1),
        lane("in-1", "hall-1", "in", "a", 1, scanner.path()),
    ]
    .concat();
    let gate = station.start(&config);

    // The board is knocked out of its socket: the grant is logged, the gate cannot open.
    drop(board_pty);
    std::fs::remove_file(&link).unwrap();
    scanner.scan(&badges.good).unwrap();
    granted_then_annulled(&gate, &station);

    // Back in its socket: the same visitor scans again and is let in, not refused as
    // already inside (hard anti-passback in hall 1).
    let replugged = RelaySimulator::new(RelayProtocol::Lcus, 1);
    let replugged_pty = replugged.spawn_on_pty().unwrap();
    relink(&link, replugged_pty.path()).unwrap();
    scanner.scan(&badges.good).unwrap();
    let again = verdict(&gate);
    assert_eq!((again.reason, again.annulled), (Reason::Granted, false));
    assert_eq!(frames(&replugged, 2), [lcus_frame(1, true), lcus_frame(1, false)]);
    no_verdict(&gate);
    gate.stop().unwrap();
    assert_eq!(
        station.count("SELECT count(*) FROM gate_decisions WHERE annulled = 0 AND granted = 1"),
        1
    );
}

#[test]
fn a_grant_the_relay_refuses_is_annulled_once_though_its_pass_timer_also_runs_out() {
    let (mut station, badges) = Station::new();
    let relay = RelaySimulator::new(RelayProtocol::Modbus { address: 1 }, 1);
    let board_pty = relay.spawn_on_pty().unwrap();
    let mut scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
    let turnstile = ScannerSimulator::new(Terminator::Lf).unwrap();
    let config = [
        board("a", board_pty.path(), "modbus", 1),
        confirmed_lane(scanner.path(), turnstile.path(), 0.3),
    ]
    .concat();
    let gate = station.start(&config);

    // The module refuses the open (Modbus exception 4, device failure).
    relay.inject_fault(EchoFault::Exception(4));
    scanner.scan(&badges.good).unwrap();
    granted_then_annulled(&gate, &station);
    std::thread::sleep(Duration::from_millis(400)); // past the pass timer
    no_verdict(&gate);
    assert_eq!(station.annulled_changes(), 1, "annulled once, not again by the pass timer");
    scanner.scan(&badges.good).unwrap();
    assert_eq!(verdict(&gate).reason, Reason::Granted);
    gate.stop().unwrap();
}

#[test]
fn emergency_holds_every_lane_open_and_lockdown_denies_everything() {
    let (mut station, badges) = Station::new();
    let relay = RelaySimulator::new(RelayProtocol::Lcus, 2);
    let board_pty = relay.spawn_on_pty().unwrap();
    let mut scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
    let idle_scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
    let socket = station.dir.path().join("gate.sock");
    let config = [
        format!("[control]\nsocket = \"{}\"\n", socket.display()),
        board("a", board_pty.path(), "lcus", 2),
        lane("in-1", "hall-1", "in", "a", 1, scanner.path()),
        lane("out-1", "hall-1", "out", "a", 2, idle_scanner.path()),
    ]
    .concat();
    let gate = station.start(&config);
    assert_eq!(frames(&relay, 2).len(), 2);

    let reply = control::send(&socket, ControlCommand::Set(Mode::Emergency)).unwrap();
    assert_eq!(reply, r#"{"mode":"emergency","lanes":2}"#);
    frames(&relay, 4);
    assert!(relay.is_energised(1) && relay.is_energised(2));
    std::thread::sleep(SETTLE);
    assert!(relay.is_energised(1) && relay.is_energised(2), "held open, not pulsed");
    scanner.scan(&badges.forged).unwrap();
    no_verdict(&gate);

    assert_eq!(gate.command(ControlCommand::Set(Mode::Lockdown)).unwrap().mode, Mode::Lockdown);
    let before = frames(&relay, 6).len();
    assert!(!relay.is_energised(1) && !relay.is_energised(2));
    scanner.scan(&badges.good).unwrap();
    let locked = verdict(&gate);
    assert_eq!((locked.granted, locked.reason), (false, Reason::Lockdown));
    std::thread::sleep(SETTLE);
    assert_eq!(relay.received().len(), before);

    gate.command(ControlCommand::Set(Mode::Normal)).unwrap();
    scanner.scan(&badges.other).unwrap();
    assert_eq!(verdict(&gate).reason, Reason::Granted);
    gate.stop().unwrap();
    let modes = station.count("SELECT count(*) FROM audit WHERE action = 'gate_mode'");
    assert_eq!(modes, 3);
    assert!(!socket.exists(), "the control socket is removed on stop");
}

#[test]
fn the_example_config_runs_headless_against_simulators() {
    // The shipped example, with its device paths pointed at simulators, on a station whose
    // event runs today (the real clock decides here).
    let shanghai_today = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let (mut station, badges) = Station::with_event(&demo_event_toml(shanghai_today));
    let board_a = RelaySimulator::new(RelayProtocol::Lcus, 4);
    let board_b = RelaySimulator::new(RelayProtocol::Modbus { address: 1 }, 2);
    let (pty_a, pty_b) = (board_a.spawn_on_pty().unwrap(), board_b.spawn_on_pty().unwrap());
    let scanners: Vec<ScannerSimulator> =
        (0..3).map(|_| ScannerSimulator::new(Terminator::Cr).unwrap()).collect();
    let turnstile = ScannerSimulator::new(Terminator::Lf).unwrap();
    let socket = station.dir.path().join("gate.sock");
    let example = include_str!("../assets/gates/example-gate.toml")
        .replace("/run/expo-kiosk/gate.sock", socket.to_str().unwrap())
        .replace("/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0", pty_a.path())
        .replace("/dev/serial/by-id/usb-FTDI_RS485-if00-port0", pty_b.path())
        .replace("/dev/serial/by-id/usb-turnstile-1-if00", turnstile.path())
        .replace("/dev/serial/by-id/usb-Honeywell_1450g-if00", scanners[0].path())
        .replace("/dev/serial/by-id/usb-Honeywell_1450g-if01", scanners[1].path())
        .replace("/dev/serial/by-id/usb-Newland_FM430-if00", scanners[2].path());
    let mut live = example.lines().filter(|line| !line.trim_start().starts_with('#'));
    assert!(live.all(|line| !line.contains("/dev/serial")), "every device replaced");
    let config = station.dir.path().join("gate.toml");
    std::fs::write(&config, example).unwrap();
    drop(station.store.take());

    let mut child = spawn_gate(station.dir.path(), &config);
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(child.0.stdout.take().unwrap()));
    std::thread::sleep(Duration::from_millis(500));
    // Both boards are driven closed on start: 4 LCUS channels, 2 Modbus coils.
    assert_eq!(frames(&board_a, 4).len(), 4);
    assert_eq!(frames(&board_b, 2).len(), 2);
    let mut scanners = scanners;

    // An exit is decided on the badge alone, whatever the time of day of the test run.
    scanners[1].scan(&badges.good).unwrap();
    let exit: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!((exit["lane"].as_str(), exit["granted"].as_bool()), (Some("out-1"), Some(true)));
    assert_eq!(frames(&board_a, 6)[4..], [lcus_frame(2, true), lcus_frame(2, false)]);

    scanners[0].scan(&badges.forged).unwrap();
    let denied: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        (denied["reason"].as_str(), denied["granted"].as_bool()),
        (Some("unknown_key"), Some(false))
    );
    // The denial sounds the buzzer channel 3 only.
    assert_eq!(frames(&board_a, 8)[6..], [lcus_frame(3, true), lcus_frame(3, false)]);

    let status = control::send(&socket, ControlCommand::Status).unwrap();
    assert_eq!(status, r#"{"mode":"normal","lanes":3}"#);

    // The service manager stops the gate with SIGTERM while an exit lane's pulse is still
    // on: the gate closes it before exiting, so no turnstile is left unlocked.
    // (Another badge: the same one again within the scanner's debounce would be dropped.)
    scanners[1].scan(&badges.other).unwrap();
    let second_exit: serde_json::Value =
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(second_exit["granted"].as_bool(), Some(true), "{second_exit}");
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "SIGTERM is an orderly stop: {status:?}");
    let received = frames(&board_a, 10);
    let opened = received.iter().rposition(|f| *f == lcus_frame(2, true)).unwrap();
    assert!(opened >= 8, "the second exit opened lane out-1: {received:?}");
    assert!(received[opened..].contains(&lcus_frame(2, false)), "closed on stop: {received:?}");
    let conn = Connection::open(station.dir.path().join("station.db")).unwrap();
    let logged: i64 =
        conn.query_row("SELECT count(*) FROM gate_decisions", [], |r| r.get(0)).unwrap();
    assert_eq!(logged, 3);
}

#[test]
fn one_badge_scanned_at_two_lanes_at_once_opens_only_one() {
    let (mut station, badges) = Station::new();
    let relay = RelaySimulator::new(RelayProtocol::Lcus, 2);
    let board_pty = relay.spawn_on_pty().unwrap();
    let mut first = ScannerSimulator::new(Terminator::Cr).unwrap();
    let mut second = ScannerSimulator::new(Terminator::Cr).unwrap();
    let config = [
        board("a", board_pty.path(), "lcus", 2),
        lane("in-1", "hall-1", "in", "a", 1, first.path()),
        lane("in-2", "hall-1", "in", "a", 2, second.path()),
    ]
    .concat();
    let gate = station.start(&config);
    // Both badges at both lanes with no pause: the scans queue up together and are decided
    // as one group; a holder seen twice still gets one grant (hard anti-passback).
    for _ in 0..3 {
        first.scan(&badges.good).unwrap();
        second.scan(&badges.good).unwrap();
        first.scan(&badges.other).unwrap();
        second.scan(&badges.other).unwrap();
    }
    let verdicts: Vec<LaneVerdict> = (0..12).map(|_| verdict(&gate)).collect();
    no_verdict(&gate);
    gate.stop().unwrap();
    let granted: Vec<&str> =
        verdicts.iter().filter(|v| v.granted).filter_map(|v| v.name.as_deref()).collect();
    let mut granted_sorted = granted.clone();
    granted_sorted.sort_unstable();
    assert_eq!(granted_sorted, ["李四", "王五"], "one grant per badge: {verdicts:?}");
    assert_eq!(verdicts.iter().filter(|v| v.reason == Reason::Passback).count(), 10);
    assert_eq!(station.count("SELECT count(*) FROM gate_decisions WHERE granted = 1"), 2);
    assert_eq!(station.count("SELECT count(*) FROM outbox WHERE kind = 'gate_decision'"), 12);
}

/// `run --mode gate --gate-config`: the lanes run inside the app and each shows its verdict.
#[test]
fn the_gate_screen_shows_each_lanes_verdict_in_both_languages() {
    use egui_kittest::kittest::Queryable;
    use expo_kiosk::ui::{install_fonts, App, AppConfig, GateClock, Mode};

    let today = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let (mut station, badges) = Station::with_event(&demo_event_toml(today));
    drop(station.store.take());
    let relay = RelaySimulator::new(RelayProtocol::Lcus, 2);
    let board_pty = relay.spawn_on_pty().unwrap();
    let mut entry = ScannerSimulator::new(Terminator::Cr).unwrap();
    let mut exit = ScannerSimulator::new(Terminator::Cr).unwrap();
    let config = station.dir.path().join("gate.toml");
    std::fs::write(
        &config,
        [
            board("a", board_pty.path(), "lcus", 2),
            lane("in-1", "hall-1", "in", "a", 1, entry.path()),
            lane("out-1", "hall-1", "out", "a", 2, exit.path()),
        ]
        .concat(),
    )
    .unwrap();
    let mut app_config = AppConfig::new(station.dir.path().to_owned(), Mode::Gate);
    app_config.gate_config = Some(config);
    // Noon at the venue today: exhibitors may enter hall 1, whatever the hour the test runs.
    let noon = today.and_hms_opt(12, 0, 0).unwrap();
    let noon = chrono_tz::Asia::Shanghai.from_local_datetime(&noon).unwrap();
    app_config.gate_clock = GateClock(Arc::new(PinnedClock(noon.with_timezone(&Utc))));
    let app = App::new(app_config, || {}).unwrap();
    let mut harness = egui_kittest::Harness::builder()
        .with_size([1280.0, 800.0])
        .with_step_dt(0.1)
        .with_context_setup(install_fonts)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app);
    let until = |harness: &mut egui_kittest::Harness<'_, App>, what: &str, label: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while harness.query_by_label_contains(label).is_none() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            harness.step();
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // Each lane titled by its zone's name, its id beside it for staff.
    until(&mut harness, "the lanes", "in-1");
    assert!(harness.query_by_label("1号馆 · in-1").is_some());
    assert!(harness.query_by_label("1号馆 · out-1").is_some());
    std::thread::sleep(Duration::from_millis(300));

    entry.scan(&badges.forged).unwrap();
    until(&mut harness, "the denial", "证件无法验证");
    assert!(harness.query_by_label_contains("Badge not genuine").is_some());
    // An exit is decided on the badge alone, whatever the hour the test runs at.
    exit.scan(&badges.good).unwrap();
    until(&mut harness, "the grant", "欢迎");
    assert!(harness.query_by_label_contains("Welcome").is_some());
    assert!(harness.query_by_label("李四").is_some(), "the holder's name");
    assert!(harness.query_by_label_contains("参展商").is_some(), "the category in Chinese");
    // The grant opened lane out-1's relay channel: the app runs the real lanes.
    let received = frames(&relay, 3);
    assert!(received.contains(&lcus_frame(2, true)), "{received:?}");

    // In, and in again without going out: "already inside" says since when and through
    // which lane, in venue time.
    entry.scan(&badges.good).unwrap();
    entry.scan(&badges.good).unwrap();
    until(&mut harness, "the passback", "已在场内");
    assert!(harness.query_by_label_contains("Already inside").is_some());
    assert!(harness.query_by_label("入场时间 12:00:00 · 通道 in-1").is_some());
    harness.check_accessibility();
}

/// A new signing station's key that sync writes (through its own connection, as the sync
/// worker does) verifies that station's badges at a running gate, without a restart.
#[test]
fn a_running_gate_learns_a_new_station_s_key_that_sync_brought() {
    use expo_kiosk::station_sync::StoreOutbox;

    let (mut station, _) = Station::new();
    // Another desk of the event, joined from this station's bundle, with its own key.
    let other_dir = tempfile::tempdir().unwrap();
    let token = {
        let bundle = provisioning::export(station.store.as_ref().unwrap(), true).unwrap();
        let mut other = Store::open(other_dir.path()).unwrap();
        provisioning::import(
            &mut other,
            &expo_kiosk::operators::Operator::admin("test"),
            &bundle,
            true,
        )
        .unwrap();
        import_csv(
            &mut other,
            &expo_kiosk::operators::Operator::admin("test"),
            ATTENDEES.as_bytes(),
            ImportOptions::default(),
        )
        .unwrap();
        let id = AttendeeId(resolve(other.conn(), "R0000123").unwrap().id);
        badge::ensure_badge(&mut other, &expo_kiosk::operators::Operator::admin("desk2"), id)
            .unwrap()
            .token
    };
    let OneLane { gate, mut scanner, relay: _relay, _board } =
        OneLane::start(&mut station, "hall-1");
    scanner.scan(&token).unwrap();
    assert_eq!(verdict(&gate).reason, Reason::UnknownKey);

    // The other desk's changes, and its key as the hub's organiser authority endorsed it,
    // arrive through sync's own connection, as the sync worker writes them.
    let other = StoreOutbox::open(other_dir.path()).unwrap();
    let here = StoreOutbox::open(station.dir.path()).unwrap();
    endorsed::apply_with_endorsed_key(&other, &here);
    let granted = wait_for("the new key", Duration::from_secs(20), || {
        scanner.scan(&token).unwrap();
        Some(verdict(&gate)).filter(|v| v.granted)
    });
    assert_eq!(granted.name.as_deref(), Some("张三"));
    gate.stop().unwrap();
}

/// A hub in this process, over HTTP on SQLite, as a venue's server runs it.
struct Hub {
    runtime: tokio::runtime::Runtime,
    store: Arc<expo_hub::sqlite::SqliteStore>,
    url: String,
    _dir: tempfile::TempDir,
}

impl Hub {
    fn start() -> Self {
        use expo_hub::server::{serve, HubConfig};
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(expo_hub::sqlite::SqliteStore::open(&dir.path().join("hub.db")).unwrap());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served =
            serve(listener, Arc::clone(&store), HubConfig::default(), std::future::pending());
        runtime.spawn(served);
        Hub { runtime, store, url, _dir: dir }
    }

    /// Enrols the station in `data` under `name`, as `expo-kiosk sync enrol` does on site.
    fn enrol(&self, data: &std::path::Path, name: &str, role: expo_sync::StationRole) {
        let add = expo_hub::enrolment::add_station(self.store.as_ref(), name, role);
        let code = self.runtime.block_on(add).unwrap();
        cli(data, &["sync", "enrol", "--hub", &self.url, "--code", &code]);
    }

    /// Every gate decision the hub holds (an annulled one in its annulled state).
    fn gate_decisions(&self) -> Vec<expo_sync::protocol::GateDecisionRecord> {
        use expo_hub::HubStore;
        let page = self.store.current_page("gate_decision", "", 10_000);
        let records = self.runtime.block_on(page).unwrap();
        records
            .into_iter()
            .filter_map(|(_, record)| match record {
                expo_sync::Record::GateDecision(decision) => Some(decision),
                _ => None,
            })
            .collect()
    }
}

/// Runs `expo-kiosk --data-dir DATA ARGS...`, which must succeed; its standard output.
fn cli(data: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Asks `check` again (it may act, then wait on something with a timeout of its own) until
/// it answers, failing after `within`.
fn wait_for<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The headless gate of a turnstile station (`gate --config`), enrolled with a hub, syncs by
/// itself while its lanes run: a badge a desk revokes and pushes is refused a moment later
/// without anyone running `sync` at the gate, and the gate's decisions, the refusal with its
/// holder among them, reach the hub. With an hour between its rounds: each decision leaves
/// as it is made, and the revocation arrives through the pull the gate holds at the hub.
#[test]
fn an_enrolled_headless_gate_pushes_its_decisions_and_pulls_a_desk_s_revocation() {
    let hub = Hub::start();
    let dir = tempfile::tempdir().unwrap();
    let (desk, gate) = (dir.path().join("desk"), dir.path().join("gate"));
    let event = dir.path().join("event.toml");
    let shanghai_today = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    std::fs::write(&event, demo_event_toml(shanghai_today)).unwrap();
    cli(&desk, &["event", "init", "--file", event.to_str().unwrap()]);
    let bundle = dir.path().join("bundle.json");
    cli(&desk, &["event", "export", "--out", bundle.to_str().unwrap()]);
    cli(&gate, &["event", "import", bundle.to_str().unwrap(), "--verify-only"]);
    hub.enrol(&desk, "desk-1", expo_sync::StationRole::Desk);
    hub.enrol(&gate, "gate-1", expo_sync::StationRole::Gate);
    let holder = cli(&desk, &["register", "--name", "欧阳娜娜", "--category", "vip"]);
    let holder = holder.trim();
    let token = cli(&desk, &["badge", "token", holder]).trim().to_owned();
    cli(&desk, &["sync"]);

    // An exit lane: decided on the badge alone, whatever the hour the test runs at.
    let relay = RelaySimulator::new(RelayProtocol::Lcus, 1);
    let board_pty = relay.spawn_on_pty().unwrap();
    let mut scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
    let config = dir.path().join("gate.toml");
    let lanes = [
        "sync_interval_s = 3600\n".to_owned(),
        board("a", board_pty.path(), "lcus", 1),
        lane("out-1", "hall-1", "out", "a", 1, scanner.path()),
    ];
    std::fs::write(&config, lanes.concat()).unwrap();
    let mut child = spawn_gate(&gate, &config);
    let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let (line_tx, verdict_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
            let verdict: serde_json::Value = serde_json::from_str(&line).unwrap();
            if line_tx.send(verdict).is_err() {
                break;
            }
        }
    });
    // Scans until the gate answers with `reason` (the lane's reader may not have opened its
    // port for the first scans; earlier verdicts are skipped).
    let mut scan_until = |reason: &str, within| {
        wait_for(reason, within, || {
            scanner.scan(&token).unwrap();
            let deadline = Instant::now() + Duration::from_millis(500);
            while let Ok(verdict) =
                verdict_lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                if verdict["reason"] == reason {
                    return Some(verdict);
                }
            }
            None
        })
    };

    // Nobody was seen entering: an exit granted and flagged.
    let granted = scan_until("exit_without_entry", Duration::from_secs(20));
    assert_eq!(
        (granted["granted"].as_bool(), granted["attendee_id"].as_str()),
        (Some(true), Some(holder))
    );
    let granted_id = granted["decision_id"].as_str().unwrap().to_owned();
    let at_hub = wait_for("the grant at the hub", Duration::from_secs(20), || {
        hub.gate_decisions().into_iter().find(|d| d.id.to_string() == granted_id)
    });
    assert_eq!((at_hub.lane.as_str(), at_hub.granted), ("out-1", true));

    cli(&desk, &["badge", "revoke", holder, "--reason", "lost"]);
    cli(&desk, &["sync"]);
    let refused = scan_until("revoked", Duration::from_secs(20));
    assert_eq!(refused["granted"].as_bool(), Some(false));
    assert_eq!(refused["attendee_id"].as_str(), Some(holder), "the refusal names the holder");
    let refused_id = refused["decision_id"].as_str().unwrap().to_owned();
    let at_hub = wait_for("the refusal at the hub", Duration::from_secs(20), || {
        hub.gate_decisions().into_iter().find(|d| d.id.to_string() == refused_id)
    });
    assert_eq!(at_hub.reason, "revoked");
    assert_eq!(at_hub.attendee_id.map(|id| id.to_string()).as_deref(), Some(holder));
    assert_eq!(at_hub.badge_serial, Some(1));

    // `stop` on standard input: the lanes close and the sync thread ends with the process.
    let mut stdin = child.0.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"stop\n").unwrap();
    assert!(child.0.wait().unwrap().success());
}

/// `expo-kiosk --data-dir DATA gate --config CONFIG`, its standard input and output piped.
fn spawn_gate(data: &std::path::Path, config: &std::path::Path) -> KilledOnDrop {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(data)
        .args(["gate", "--config"])
        .arg(config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    KilledOnDrop(child)
}

/// A gate process that a failed assertion must not leave running.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        // Already exited when the test got as far as stopping it.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
