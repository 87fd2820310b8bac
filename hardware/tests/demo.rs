//! The demo rig: real drivers against the simulated devices, with injected visitor actions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::time::{Duration, Instant};

use expo_hardware::demo::DemoDevices;
use expo_hardware::idcard::{
    sample_resident_card, CardEvent, CardPoller, DEFAULT_BAUD, DEFAULT_TIMEOUT,
};
use expo_hardware::relay::{
    lcus, RelayDriver, RelayProtocol, RelaySettings, RelayWorker, DEFAULT_PULSE,
};
use expo_hardware::scanner::{ScanEvent, ScannerSettings, SerialScanner};
use expo_hardware::{CodeSource, GateRelay};

const WAIT: Duration = Duration::from_secs(3);

#[test]
fn a_visitor_scans_taps_a_card_and_passes_the_gate() {
    let mut devices = DemoDevices::start(RelayProtocol::Lcus, 2).expect("simulators start");

    let scanner =
        SerialScanner::spawn(ScannerSettings::new(devices.scanner_path())).expect("scanner");
    devices.scan_badge("EXPO1.000042.ABCDEF").expect("scan");
    assert_eq!(
        scanner.events().recv_timeout(WAIT),
        Ok(ScanEvent::Code("EXPO1.000042.ABCDEF".into()))
    );

    let poller = CardPoller::open(
        devices.id_reader_path(),
        DEFAULT_BAUD,
        DEFAULT_TIMEOUT,
        Duration::from_millis(50),
    )
    .expect("poller");
    devices.tap_card(sample_resident_card());
    match poller.events().recv_timeout(WAIT) {
        Ok(CardEvent::Card(card)) => assert_eq!(card.document, sample_resident_card().document),
        other => panic!("expected a card, got {other:?}"),
    }
    devices.remove_card();

    let settings = RelaySettings { channels: 2, ..RelaySettings::new(RelayProtocol::Lcus) };
    let mut gate =
        RelayWorker::spawn(RelayDriver::open(devices.relay_path(), settings).expect("relay"))
            .expect("worker");
    gate.pulse(2, DEFAULT_PULSE).expect("queued");
    let outcome = gate.outcomes().recv_timeout(WAIT).expect("pulse ran");
    assert!(outcome.result.is_ok());
    // LCUS boards send no answer: give the simulator a moment to take in the last frame.
    let deadline = Instant::now() + WAIT;
    while devices.relay_frames().len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let frames = devices.relay_frames();
    assert_eq!(frames.len(), 4, "close-all for 2 channels, then on and off");
    assert_eq!(
        frames[frames.len() - 2..],
        [lcus::encode(2, true).to_vec(), lcus::encode(2, false).to_vec()]
    );
    assert!(!devices.relay_energised(2));
}
