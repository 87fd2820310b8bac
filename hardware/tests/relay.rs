//! Relay drivers against the board simulators over pseudo-terminals, plus codec properties.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::time::{Duration, Instant};

use expo_hardware::pty::{relink, PtySimulator};
use expo_hardware::relay::{
    lcus, modbus, EchoFault, Polarity, RelayCommand, RelayDriver, RelayError, RelayProtocol,
    RelaySettings, RelaySimulator, RelayWorker, ReopeningRelay,
};
use expo_hardware::GateRelay;
use proptest::prelude::*;
use serialport::TTYPort;

fn start(
    protocol: RelayProtocol,
    channels: u8,
    polarity: Polarity,
) -> (RelaySimulator, PtySimulator, RelayDriver<TTYPort>) {
    let simulator = RelaySimulator::new(protocol, channels);
    let pty = simulator.spawn_on_pty().expect("pty");
    let settings = RelaySettings { channels, polarity, ..RelaySettings::new(protocol) };
    let driver = RelayDriver::open(pty.path(), settings).expect("driver");
    (simulator, pty, driver)
}

/// Waits until the simulator has received `count` frames (LCUS boards send no answer to wait for).
fn wait_for_frames(simulator: &RelaySimulator, count: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while simulator.received().len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    simulator.received()
}

#[test]
fn lcus_start_closes_all_then_pulse_sends_on_then_off() {
    let (simulator, _pty, mut driver) = start(RelayProtocol::Lcus, 2, Polarity::NormallyOpen);
    driver.pulse(1, Duration::from_millis(100)).expect("pulse");
    let frames = wait_for_frames(&simulator, 4);
    assert_eq!(
        frames,
        [
            vec![0xA0, 0x01, 0x00, 0xA1],
            vec![0xA0, 0x02, 0x00, 0xA2],
            vec![0xA0, 0x01, 0x01, 0xA2],
            vec![0xA0, 0x01, 0x00, 0xA1]
        ]
    );
    assert!(!simulator.is_energised(1));
}

#[test]
fn normally_closed_wiring_inverts_the_relay_state() {
    let (simulator, _pty, mut driver) = start(RelayProtocol::Lcus, 1, Polarity::NormallyClosed);
    driver.hold_open(1).expect("hold open");
    let frames = wait_for_frames(&simulator, 2);
    // Closed on start = energised; open = released.
    assert_eq!(frames, [vec![0xA0, 0x01, 0x01, 0xA2], vec![0xA0, 0x01, 0x00, 0xA1]]);
}

#[test]
fn modbus_pulse_uses_coil_n_minus_1_and_checks_echo() {
    let (simulator, _pty, mut driver) =
        start(RelayProtocol::Modbus { address: 1 }, 1, Polarity::NormallyOpen);
    driver.pulse(1, Duration::from_millis(20)).expect("pulse");
    assert_eq!(
        simulator.received(),
        [
            vec![0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA],
            vec![0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A],
            vec![0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA],
        ]
    );
    driver.hold_open(1).expect("hold");
    assert!(simulator.is_energised(1));
    driver.close(1).expect("close");
    assert!(!simulator.is_energised(1));
}

#[test]
fn modbus_address_ff_and_higher_channels() {
    let (simulator, _pty, mut driver) =
        start(RelayProtocol::Modbus { address: 0xFF }, 4, Polarity::NormallyOpen);
    driver.hold_open(4).expect("hold");
    assert_eq!(
        simulator.received().last(),
        Some(&modbus::encode_write_coil(0xFF, 3, true).to_vec())
    );
    assert!(simulator.is_energised(4));
    assert!(matches!(
        driver.hold_open(5),
        Err(RelayError::InvalidChannel { channel: 5, channels: 4 })
    ));
    assert!(matches!(driver.hold_open(0), Err(RelayError::InvalidChannel { channel: 0, .. })));
}

#[test]
fn missing_or_wrong_echo_is_retried_then_reported() {
    let (simulator, _pty, mut driver) =
        start(RelayProtocol::Modbus { address: 1 }, 1, Polarity::NormallyOpen);
    simulator.inject_fault(EchoFault::Drop);
    simulator.inject_fault(EchoFault::Corrupt);
    driver.hold_open(1).expect("third attempt succeeds");
    // close_all on start, then three attempts of the same write.
    let on = modbus::encode_write_coil(1, 0, true).to_vec();
    assert_eq!(simulator.received()[1..], [on.clone(), on.clone(), on]);

    for _ in 0..3 {
        simulator.inject_fault(EchoFault::Drop);
    }
    assert!(matches!(driver.close(1), Err(RelayError::EchoMissing { attempts: 3 })));
    for _ in 0..3 {
        simulator.inject_fault(EchoFault::Corrupt);
    }
    assert!(matches!(driver.close(1), Err(RelayError::EchoMismatch { .. })));
    simulator.inject_fault(EchoFault::Exception(0x02));
    assert!(matches!(driver.close(1), Err(RelayError::Exception(0x02))));
}

#[test]
fn wrong_address_board_stays_silent() {
    let simulator = RelaySimulator::new(RelayProtocol::Modbus { address: 2 }, 1);
    let pty = simulator.spawn_on_pty().expect("pty");
    let result =
        RelayDriver::open(pty.path(), RelaySettings::new(RelayProtocol::Modbus { address: 1 }));
    assert!(matches!(result, Err(RelayError::EchoMissing { attempts: 3 })));
    assert!(simulator.received().is_empty());
}

#[test]
fn worker_returns_at_once_and_finishes_the_pulse() {
    let (simulator, _pty, driver) = start(RelayProtocol::Lcus, 1, Polarity::NormallyOpen);
    let mut worker = RelayWorker::spawn(driver).expect("worker");
    let queued_at = Instant::now();
    worker.pulse(1, Duration::from_millis(300)).expect("queued");
    assert!(queued_at.elapsed() < Duration::from_millis(100), "pulse must not block the caller");
    let outcome = worker.outcomes().recv_timeout(Duration::from_secs(2)).expect("outcome");
    assert_eq!(
        outcome.command,
        RelayCommand::Pulse { channel: 1, duration: Duration::from_millis(300) }
    );
    assert!(outcome.result.is_ok());
    assert!(queued_at.elapsed() >= Duration::from_millis(300));
    worker.pulse(1, Duration::from_millis(100)).expect("queued");
    drop(worker); // waits for the pulse to end so the gate is closed again
    assert_eq!(wait_for_frames(&simulator, 5).last(), Some(&lcus::encode(1, false).to_vec()));
}

#[test]
fn a_board_plugged_back_in_opens_the_gate_again_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("relay");
    let settings = RelaySettings::new(RelayProtocol::Lcus);
    let first = RelaySimulator::new(RelayProtocol::Lcus, 1);
    let first_pty = first.spawn_on_pty().expect("pty");
    relink(&link, first_pty.path()).expect("plug in");
    let mut relay = ReopeningRelay::open(link.to_str().expect("utf8"), settings).expect("open");
    assert_eq!(wait_for_frames(&first, 1), [lcus::encode(1, false).to_vec()], "closed on start");

    // Unplugged: commands fail with the port's error, and the gate keeps running.
    drop(first_pty);
    std::fs::remove_file(&link).expect("unplug");
    assert!(matches!(relay.pulse(1, Duration::from_millis(100)), Err(RelayError::Open(_))));

    // Back in: the next command goes through at once, on the board as it is.
    let second = RelaySimulator::new(RelayProtocol::Lcus, 1);
    let second_pty = second.spawn_on_pty().expect("pty");
    relink(&link, second_pty.path()).expect("plug in");
    relay.pulse(1, Duration::from_millis(100)).expect("pulse after replug");
    assert_eq!(
        wait_for_frames(&second, 2),
        [lcus::encode(1, true).to_vec(), lcus::encode(1, false).to_vec()]
    );

    // Out and in again between two visitors: the port fails on the first write, is
    // opened anew, and that same command opens the gate.
    let third = RelaySimulator::new(RelayProtocol::Lcus, 1);
    let third_pty = third.spawn_on_pty().expect("pty");
    drop(second_pty);
    relink(&link, third_pty.path()).expect("plug in");
    relay.hold_open(1).expect("hold open across the replug");
    assert_eq!(wait_for_frames(&third, 1), [lcus::encode(1, true).to_vec()]);
    assert!(third.is_energised(1));
}

proptest! {
    #[test]
    fn modbus_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
        let _ = modbus::decode(&bytes);
        let _ = lcus::decode(&bytes);
    }

    #[test]
    fn modbus_round_trip(address in any::<u8>(), coil in any::<u16>(), on in any::<bool>()) {
        prop_assert_eq!(
            modbus::decode(&modbus::encode_write_coil(address, coil, on)),
            Ok(modbus::ModbusFrame::WriteCoil { address, coil, on })
        );
    }

    #[test]
    fn simulators_survive_line_noise(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for protocol in [RelayProtocol::Lcus, RelayProtocol::Modbus { address: 1 }] {
            let simulator = RelaySimulator::new(protocol, 8);
            let _ = simulator.feed(&bytes);
        }
    }
}
