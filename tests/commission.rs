//! The technician's commands (`doctor`, `idcard read`, `relay`, `scanner watch`,
//! `printers test`) run as the real binary against the byte-exact simulators on
//! pseudo-terminals, failures included: a missing port, a silent device, corrupt frames,
//! a wrong echo.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use expo_hardware::idcard::{
    sample_foreign_card, sample_resident_card, Command as SamCommand, DocumentNumber, IdDocument,
    SamBehaviour, SamSimulator,
};
use expo_hardware::pty::PtySimulator;
use expo_hardware::relay::{lcus, modbus, EchoFault, RelayProtocol, RelaySimulator};
use expo_hardware::scanner::{ScannerSimulator, Terminator};
use serde_json::Value;

fn command(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"));
    command.arg("--data-dir").arg(data_dir).args(args);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// Runs the binary in a fresh data directory.
fn run(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    command(&dir.path().join("data"), args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn sam(behaviour: SamBehaviour) -> (SamSimulator, PtySimulator) {
    let simulator = SamSimulator::new(behaviour);
    let pty = simulator.spawn_on_pty().unwrap();
    (simulator, pty)
}

#[test]
fn help_lists_every_technician_command() {
    let help = text(&run(&["--help"]).stdout);
    for command in ["doctor", "idcard", "relay", "scanner", "printers"] {
        assert!(help.contains(command), "{command} missing from --help:\n{help}");
    }
    let relay = text(&run(&["relay", "pulse", "--help"]).stdout);
    for flag in ["--port", "--protocol", "--address", "--channel", "--ms", "--baud"] {
        assert!(relay.contains(flag), "{flag} missing from relay pulse --help:\n{relay}");
    }
    let idcard = text(&run(&["idcard", "read", "--help"]).stdout);
    for flag in ["--port", "--baud", "--json", "--reveal", "--wait"] {
        assert!(idcard.contains(flag), "{flag} missing from idcard read --help:\n{idcard}");
    }
    let scanner = text(&run(&["scanner", "watch", "--help"]).stdout);
    assert!(scanner.contains("--keyboard") && scanner.contains("--port"), "{scanner}");
    assert!(text(&run(&["printers", "test", "--help"]).stdout).contains("--printer"));
}

#[test]
fn idcard_read_shows_the_card_masked_unless_revealed() {
    let (_sim, pty) = sam(SamBehaviour::Card(Box::new(sample_resident_card())));
    let out = run(&["idcard", "read", "--port", pty.path()]);
    let shown = text(&out.stdout);
    assert_eq!(code(&out), 0, "{shown}{}", text(&out.stderr));
    for field in [
        "张三丰",
        "Male",
        "汉",
        "2023-11-01",
        "北京市东城区景山前街4号",
        "北京市公安局东城分局",
        "长期",
    ] {
        assert!(shown.contains(field), "{field} missing:\n{shown}");
    }
    assert!(shown.contains("110***********2176"), "masked number:\n{shown}");
    assert!(!shown.contains("110101202311012176"), "full number without --reveal:\n{shown}");

    let out = run(&["idcard", "read", "--port", pty.path(), "--reveal", "--json"]);
    let card: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(card["card"]["id_number"], "110101202311012176");
    assert_eq!(card["check_digit_ok"], true);
    assert_eq!(card["photo_bytes"], 1024);

    let (_sim, pty) = sam(SamBehaviour::Card(Box::new(sample_foreign_card())));
    let out = run(&["idcard", "read", "--port", pty.path(), "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let card: Value = serde_json::from_slice(&out.stdout).unwrap();
    let foreign = card["card"].to_string();
    assert!(foreign.contains("SMITH, JOHN ALEXANDER") && foreign.contains("USA"), "{foreign}");
    assert!(!foreign.contains("USA110085061501"), "card number masked: {foreign}");
}

#[test]
fn idcard_read_says_why_no_card_was_read_and_exits_non_zero() {
    let mut forged = sample_resident_card();
    if let IdDocument::Resident(resident) = &mut forged.document {
        resident.id_number = DocumentNumber::new("110101202311012177");
    }
    let cases = [
        (SamBehaviour::NoCard, 1, "no card on the reader"),
        (SamBehaviour::Card(Box::new(forged)), 1, "check digit"),
        (SamBehaviour::Silent, 3, "did not answer"),
        (SamBehaviour::CorruptAnswers, 3, "corrupt answer"),
        (SamBehaviour::FindCardStatus(0x66), 3, "reports a fault"),
    ];
    for (behaviour, expected, message) in cases {
        let (_sim, pty) = sam(behaviour.clone());
        let out = run(&["idcard", "read", "--port", pty.path()]);
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), expected, "{behaviour:?}: {stderr}");
        assert!(stderr.contains(message) && stderr.contains("fix:"), "{behaviour:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("202311012"), "no ID number in messages: {stderr}");
    }
    let out = run(&["idcard", "read", "--port", "/dev/does-not-exist"]);
    assert_eq!(code(&out), 3);
    assert!(text(&out.stderr).contains("cannot open /dev/does-not-exist"), "{}", text(&out.stderr));
}

#[test]
fn idcard_read_waits_for_a_card_laid_down_later() {
    let (sim, pty) = sam(SamBehaviour::NoCard);
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path(), &["idcard", "read", "--port", pty.path(), "--wait", "30"])
        .spawn()
        .unwrap();
    // The card goes down once the command has looked for one and found none.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sim.requests().contains(&SamCommand::FIND_CARD) {
        assert!(Instant::now() < deadline, "the command never asked for a card");
        std::thread::sleep(Duration::from_millis(10));
    }
    sim.set_behaviour(SamBehaviour::Card(Box::new(sample_resident_card())));
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("张三丰"));
}

fn relay_board(protocol: RelayProtocol) -> (RelaySimulator, PtySimulator) {
    let simulator = RelaySimulator::new(protocol, 4);
    let pty = simulator.spawn_on_pty().unwrap();
    (simulator, pty)
}

#[test]
fn relay_pulse_switches_one_channel_on_then_off_on_both_protocols() {
    let (board, pty) = relay_board(RelayProtocol::Lcus);
    let out =
        run(&["relay", "pulse", "--port", pty.path(), "--protocol", "lcus", "--channel", "2"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("never answer"), "{}", text(&out.stdout));
    // LCUS boards do not answer: the command's exit is only after both frames went out.
    wait_until("both LCUS frames arrive", || board.received().len() == 2);
    assert_eq!(board.received(), [lcus::encode(2, true).to_vec(), lcus::encode(2, false).to_vec()]);

    let (board, pty) = relay_board(RelayProtocol::Modbus { address: 0xFF });
    let args = ["relay", "pulse", "--port", pty.path(), "--protocol", "modbus", "--address", "255"];
    let out = run(&[&args[..], &["--channel", "3", "--ms", "50"]].concat());
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("echo checked"));
    assert_eq!(
        board.received(),
        [
            modbus::encode_write_coil(0xFF, 2, true).to_vec(),
            modbus::encode_write_coil(0xFF, 2, false).to_vec()
        ],
        "channel 3 is coil 2, and no other channel is touched"
    );
}

#[test]
fn relay_set_holds_a_channel_until_set_off() {
    let (board, pty) = relay_board(RelayProtocol::Modbus { address: 1 });
    let base = ["relay", "set", "--port", pty.path(), "--protocol", "modbus"];
    let out = run(&[&base[..], &["on"]].concat());
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(board.is_energised(1), "the lock stays open after the command");
    let out = run(&[&base[..], &["off"]].concat());
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(!board.is_energised(1));
}

#[test]
fn relay_failures_are_said_plainly() {
    let base = |path: &str| {
        ["relay", "pulse", "--port", path, "--protocol", "modbus", "--ms", "10"].map(str::to_owned)
    };
    let cases = [
        (EchoFault::Corrupt, 3, "instead of echoing"),
        (EchoFault::Drop, 3, "did not answer"),
        (EchoFault::Exception(0x02), 1, "refused the write"),
    ];
    for (fault, expected, message) in cases {
        let (board, pty) = relay_board(RelayProtocol::Modbus { address: 1 });
        // The driver tries each write three times.
        (0..3).for_each(|_| board.inject_fault(fault));
        let args = base(pty.path());
        let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), expected, "{fault:?}: {stderr}");
        assert!(stderr.contains(message) && stderr.contains("fix:"), "{fault:?}: {stderr}");
    }
    // A Modbus module on another address stays silent.
    let (_board, pty) = relay_board(RelayProtocol::Modbus { address: 7 });
    let out = run(&["relay", "set", "--port", pty.path(), "--protocol", "modbus", "on"]);
    assert_eq!(code(&out), 3);
    assert!(text(&out.stderr).contains("--address"), "{}", text(&out.stderr));

    let out = run(&["relay", "pulse", "--port", "/dev/no-relay-here", "--protocol", "lcus"]);
    assert_eq!(code(&out), 3);
    assert!(text(&out.stderr).contains("cannot open /dev/no-relay-here"));
    let out = run(&["relay", "pulse", "--port", "/dev/x", "--protocol", "lcus", "--channel", "0"]);
    assert_eq!(code(&out), 2, "channels count from 1");
}

/// Starts `scanner watch` and waits until it says it is watching.
fn watch(args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path(), args).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("watching"), "{first}");
    (child, stdout)
}

#[test]
fn scanner_watch_shows_terminator_aim_identifier_and_gaps() {
    let mut scanner = ScannerSimulator::new(Terminator::CrLf).unwrap();
    let (child, mut stdout) =
        watch(&["scanner", "watch", "--port", scanner.path(), "--lines", "2"]);
    scanner.scan("]Q1R0001").unwrap();
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    scanner.send_raw(b"R0002\t").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        first.contains("\"]Q1R0001\"")
            && first.contains("terminator CR+LF")
            && first.contains("AIM ]Q1"),
        "{first}"
    );
    assert!(first.contains("gaps: mean") && first.contains("8 bytes"), "{first}");
    assert!(
        rest.contains("\"R0002\"") && rest.contains("terminator Tab") && rest.contains("AIM none"),
        "{rest}"
    );
}

#[test]
fn scanner_watch_gives_up_on_a_silent_or_missing_scanner() {
    let scanner = ScannerSimulator::new(Terminator::Cr).unwrap();
    let (child, _stdout) = watch(&["scanner", "watch", "--port", scanner.path(), "--timeout", "1"]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1);
    assert!(text(&out.stderr).contains("nothing was scanned"), "{}", text(&out.stderr));

    let out = run(&["scanner", "watch", "--port", "/dev/no-scanner"]);
    assert_eq!(code(&out), 3);
    assert!(text(&out.stderr).contains("cannot open /dev/no-scanner"));
}

#[test]
fn scanner_watch_reads_a_keyboard_wedge_on_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path(), &["scanner", "watch", "--keyboard"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"R0001\nEK1ABC\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = text(&out.stdout);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(shown.contains("1: \"R0001\"") && shown.contains("2: \"EK1ABC\""), "{shown}");
    assert!(shown.contains("terminator LF"), "{shown}");
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn printers_test_prints_a_sample_badge_to_the_hot_folder() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("hot-folder");
    std::fs::create_dir(&spool).unwrap();
    let printer = format!("spool:{}", spool.display());
    let data = dir.path().join("data");
    let out = command(&data, &["printers", "test", "--printer", &printer]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let printed: Vec<PathBuf> =
        std::fs::read_dir(&spool).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert!(std::fs::read(&printed[0]).unwrap().starts_with(b"%PDF"));
    assert!(text(&out.stdout).contains("sent a test badge"), "{}", text(&out.stdout));

    let out = command(&data, &["printers", "test"]).output().unwrap();
    assert_eq!(code(&out), 3, "no printer configured");
    assert!(!text(&out.stderr).is_empty());
}

/// A fake sysfs and /dev with three USB serial ports whose device nodes are the
/// simulators' pseudo-terminals, and one camera.
struct FakeMachine {
    root: tempfile::TempDir,
}

impl FakeMachine {
    fn new(ports: &[(&str, &str, &str)]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let (sys, dev) = (root.path().join("sys"), root.path().join("dev"));
        std::fs::create_dir_all(dev.join("serial/by-id")).unwrap();
        for (index, (name, vendor_product, target)) in ports.iter().enumerate() {
            let usb = sys.join(format!("devices/usb1/1-{index}"));
            let (vendor, product) = vendor_product.split_once(':').unwrap();
            std::fs::create_dir_all(usb.join("if0").join(name)).unwrap();
            std::fs::write(usb.join("idVendor"), vendor).unwrap();
            std::fs::write(usb.join("idProduct"), product).unwrap();
            let class = sys.join("class/tty").join(name);
            std::fs::create_dir_all(&class).unwrap();
            std::os::unix::fs::symlink(usb.join("if0").join(name), class.join("device")).unwrap();
            std::os::unix::fs::symlink(target, dev.join(name)).unwrap();
        }
        FakeMachine { root }
    }

    fn doctor(&self, data_dir: &Path) -> Output {
        let mut doctor = command(data_dir, &["doctor", "--json"]);
        doctor.env("EXPO_KIOSK_SYS_ROOT", self.root.path().join("sys"));
        doctor.env("EXPO_KIOSK_DEV_ROOT", self.root.path().join("dev"));
        doctor.output().unwrap()
    }
}

#[test]
fn doctor_tells_what_answers_on_each_port_without_switching_anything() {
    let (reader, reader_pty) = sam(SamBehaviour::NoCard);
    let (modbus_board, modbus_pty) = relay_board(RelayProtocol::Modbus { address: 1 });
    let (lcus_board, lcus_pty) = relay_board(RelayProtocol::Lcus);
    let machine = FakeMachine::new(&[
        ("ttyACM0", "0483:5740", reader_pty.path()),
        ("ttyUSB0", "0403:6001", modbus_pty.path()),
        ("ttyUSB1", "1a86:7523", lcus_pty.path()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out = machine.doctor(&dir.path().join("data"));
    assert_eq!(code(&out), 0, "warnings only: {}{}", text(&out.stdout), text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let serial: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["area"] == "serial")
        .map(|c| c["detail"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(serial.len(), 3, "{serial:?}");
    assert!(serial[0].contains("ttyACM0") && serial[0].contains("ID-card reader"), "{serial:?}");
    assert!(serial[1].contains("ttyUSB0") && serial[1].contains("Modbus relay module, address 1"));
    assert!(serial[2].contains("ttyUSB1") && serial[2].contains("LCUS"), "{serial:?}");
    assert!(serial[2].contains("USB 1a86:7523"), "{serial:?}");

    // Nothing was switched: the Modbus module was only asked to read, the LCUS board got
    // no frame, the reader was asked for its status only.
    assert!(modbus_board.received().iter().all(|frame| frame[1] == modbus::READ_COILS));
    assert!(lcus_board.received().is_empty());
    assert_eq!(reader.requests(), [SamCommand::SAM_STATUS]);

    let station = report["checks"].as_array().unwrap().iter().find(|c| c["area"] == "station");
    let station = station.unwrap();
    assert_eq!(station["status"], "warning", "{station}");
    assert!(station["fix"].as_str().unwrap().contains("event import"), "{station}");
}

#[test]
fn doctor_reports_a_fault_and_exits_1() {
    let machine = FakeMachine::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("printers.toml"), "default = \"missing\"\n").unwrap();
    let out = machine.doctor(&data);
    assert_eq!(code(&out), 1, "{}", text(&out.stdout));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let fault = report["checks"].as_array().unwrap().iter().find(|c| c["status"] == "fault");
    let fault = fault.expect("a fault");
    assert_eq!(fault["area"], "printing");
    assert!(fault["fix"].as_str().unwrap().contains("printers.toml"), "{fault}");
    let serial = report["checks"].as_array().unwrap().iter().find(|c| c["area"] == "serial");
    assert!(serial.unwrap()["detail"].as_str().unwrap().contains("no serial ports"));
}

/// A stand-in hub that answers each request on one connection with `status`.
fn tiny_hub(status: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 1024];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let answer =
                format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://{address}")
}

#[test]
fn doctor_asks_the_hub_of_an_enrolled_station_for_its_health() {
    let machine = FakeMachine::new(&[]);
    for (status, expected) in [("200 OK", "ok"), ("503 Service Unavailable", "warning")] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        drop(expo_kiosk::store::Store::open(&data).unwrap());
        let credential = serde_json::json!({
            "hub_url": tiny_hub(status),
            "station": "desk-01",
            "token": "secret-token",
        });
        std::fs::create_dir_all(data.join("keys")).unwrap();
        std::fs::write(data.join("keys/hub.json"), credential.to_string()).unwrap();
        let out = machine.doctor(&data);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let hub = report["checks"].as_array().unwrap().iter().find(|c| c["area"] == "hub");
        let hub = hub.expect("a hub check");
        assert_eq!(hub["status"], expected, "{status}: {hub}");
        assert!(!hub.to_string().contains("secret-token"), "the credential is not shown: {hub}");
        assert_eq!(code(&out), 0, "an unreachable hub is not a fault: {hub}");
    }
}
