//! Serial scanner reader against the scanner simulator over pseudo-terminals.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use expo_hardware::pty::relink;
use expo_hardware::scanner::{
    normalize, LineSplitter, ScanEvent, ScanLineError, ScannerSettings, ScannerSimulator,
    SerialScanner, Terminator,
};
use expo_hardware::CodeSource;
use proptest::prelude::*;

const WAIT: Duration = Duration::from_secs(3);

fn settings(path: &str, terminator: Terminator) -> ScannerSettings {
    ScannerSettings {
        terminator,
        debounce: Duration::from_millis(300),
        ..ScannerSettings::new(path)
    }
}

fn next_code(events: &Receiver<ScanEvent>) -> ScanEvent {
    events.recv_timeout(WAIT).expect("scanner event")
}

#[test]
fn reads_codes_with_every_terminator() {
    for terminator in
        [Terminator::Cr, Terminator::Lf, Terminator::CrLf, Terminator::Tab, Terminator::None]
    {
        let mut simulator = ScannerSimulator::new(terminator).expect("pty");
        let scanner =
            SerialScanner::spawn(settings(simulator.path(), terminator)).expect("scanner");
        // Give the reader a moment to open the port before the first code is typed.
        std::thread::sleep(Duration::from_millis(100));
        simulator.scan("]Q1EXPO-0001").expect("scan");
        assert_eq!(
            next_code(scanner.events()),
            ScanEvent::Code("EXPO-0001".into()),
            "{terminator:?}"
        );
        // Without a terminator codes are told apart by the idle gap.
        std::thread::sleep(Duration::from_millis(250));
        simulator.scan("EXPO-0002").expect("scan");
        assert_eq!(
            next_code(scanner.events()),
            ScanEvent::Code("EXPO-0002".into()),
            "{terminator:?}"
        );
    }
}

#[test]
fn debounces_double_sends_and_survives_garbage() {
    let mut simulator = ScannerSimulator::new(Terminator::Cr).expect("pty");
    let scanner = SerialScanner::spawn(ScannerSettings {
        strip_prefix: Some("<".into()),
        strip_suffix: Some(">".into()),
        ..settings(simulator.path(), Terminator::Cr)
    })
    .expect("scanner");
    std::thread::sleep(Duration::from_millis(100));
    simulator.scan("<A1>").expect("scan");
    simulator.scan("<A1>").expect("scan");
    simulator.send_raw(&[b'x'; 4096]).expect("garbage line");
    simulator.send_raw(b"\r\x01\x02\xFF\xFE\r").expect("binary noise");
    simulator.scan("<B2>").expect("scan");
    assert_eq!(next_code(scanner.events()), ScanEvent::Code("A1".into()));
    assert_eq!(
        next_code(scanner.events()),
        ScanEvent::Error(ScanLineError::TooLong { limit: 512 })
    );
    assert_eq!(next_code(scanner.events()), ScanEvent::Error(ScanLineError::NotText));
    assert_eq!(next_code(scanner.events()), ScanEvent::Code("B2".into()));
}

#[test]
fn reconnects_within_two_seconds_after_unplug() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("scanner");
    let mut simulator = ScannerSimulator::new(Terminator::Cr).expect("pty");
    relink(&link, simulator.path()).expect("plug in");
    let scanner = SerialScanner::spawn(settings(link.to_str().expect("utf8"), Terminator::Cr))
        .expect("scanner");
    std::thread::sleep(Duration::from_millis(100));
    simulator.scan("BEFORE").expect("scan");
    assert_eq!(next_code(scanner.events()), ScanEvent::Code("BEFORE".into()));

    drop(simulator);
    assert!(matches!(next_code(scanner.events()), ScanEvent::Disconnected(_)));
    let mut replugged = ScannerSimulator::new(Terminator::Cr).expect("pty");
    let replugged_at = Instant::now();
    relink(&link, replugged.path()).expect("plug in");
    assert_eq!(next_code(scanner.events()), ScanEvent::Reconnected);
    assert!(
        replugged_at.elapsed() < Duration::from_secs(2),
        "reconnect took {:?}",
        replugged_at.elapsed()
    );
    replugged.scan("AFTER").expect("scan");
    assert_eq!(next_code(scanner.events()), ScanEvent::Code("AFTER".into()));
}

#[test]
fn missing_port_reports_disconnected_then_connects_when_it_appears() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("late-scanner");
    let scanner = SerialScanner::spawn(settings(link.to_str().expect("utf8"), Terminator::Cr))
        .expect("scanner");
    assert!(matches!(next_code(scanner.events()), ScanEvent::Disconnected(_)));
    let mut simulator = ScannerSimulator::new(Terminator::Cr).expect("pty");
    relink(&link, simulator.path()).expect("plug in");
    assert_eq!(next_code(scanner.events()), ScanEvent::Reconnected);
    simulator.scan("LATE").expect("scan");
    assert_eq!(next_code(scanner.events()), ScanEvent::Code("LATE".into()));
}

proptest! {
    #[test]
    fn line_handling_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000), split in 1usize..50) {
        let settings = ScannerSettings { strip_prefix: Some("]".into()), ..ScannerSettings::new("/dev/null") };
        let mut splitter = LineSplitter::new(Terminator::CrLf, 64);
        let mut lines = Vec::new();
        for chunk in bytes.chunks(split) {
            splitter.push(chunk, &mut lines);
        }
        for line in lines.into_iter().flatten() {
            prop_assert!(line.len() <= 64);
            let _ = normalize(&line, &settings);
        }
    }
}
