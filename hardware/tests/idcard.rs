//! ID-card driver against the SAM simulator over pseudo-terminals, plus parser properties.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use expo_hardware::idcard::frame::{encode_frame, FrameDecoder, Response};
use expo_hardware::idcard::{
    sample_foreign_card, sample_resident_card, CardDataError, CardEvent, CardPoller, Command,
    DocumentNumber, FrameError, Gender, IdCard, IdCardError, IdDocument, IdNumberError,
    SamBehaviour, SamReader, SamSimulator, SamStatusError,
};
use expo_hardware::IdCardReader;
use proptest::prelude::*;
use serialport::TTYPort;

const TIMEOUT: Duration = Duration::from_millis(800);

fn reader_for(simulator: &SamSimulator) -> (expo_hardware::pty::PtySimulator, SamReader<TTYPort>) {
    let pty = simulator.spawn_on_pty().expect("pty");
    let reader = SamReader::open(pty.path(), 115_200, TIMEOUT).expect("open reader");
    (pty, reader)
}

#[test]
fn reads_a_resident_card_with_the_full_command_sequence() {
    let simulator = SamSimulator::new(SamBehaviour::Card(Box::new(sample_resident_card())));
    let (_pty, mut reader) = reader_for(&simulator);
    let card = reader.read_card().expect("card");
    let IdDocument::Resident(resident) = &card.document else { panic!("expected resident card") };
    assert_eq!(resident.name, "张三丰");
    assert_eq!(resident.gender, Gender::Male);
    assert_eq!(resident.ethnicity, "汉");
    assert_eq!(resident.birth_date.to_string(), "2023-11-01");
    assert_eq!(resident.address, "北京市东城区景山前街4号");
    assert_eq!(resident.id_number.reveal(), "110101202311012176");
    assert_eq!(resident.issuing_authority, "北京市公安局东城分局");
    assert_eq!(resident.valid_until, None, "长期 means no expiry");
    assert_eq!(card.photo_wlt, sample_resident_card().photo_wlt);
    assert_eq!(
        simulator.requests(),
        [Command::FIND_CARD, Command::SELECT_CARD, Command::READ_TEXT_PHOTO]
    );
}

#[test]
fn reads_a_foreign_permanent_residence_card() {
    let simulator = SamSimulator::new(SamBehaviour::Card(Box::new(sample_foreign_card())));
    let (_pty, mut reader) = reader_for(&simulator);
    let card = reader.read_card().expect("card");
    let IdDocument::ForeignPermanentResident(foreign) = &card.document else {
        panic!("expected foreign card")
    };
    assert_eq!(foreign.english_name, "SMITH, JOHN ALEXANDER");
    assert_eq!(foreign.nationality, "USA");
    assert_eq!(foreign.chinese_name, "史密斯");
    assert_eq!(foreign.card_number.reveal(), "USA110085061501");
    assert_eq!(foreign.valid_until.map(|d| d.to_string()).as_deref(), Some("2028-06-14"));
}

#[test]
fn reader_failures_are_typed_errors() {
    let simulator = SamSimulator::new(SamBehaviour::NoCard);
    let (_pty, mut reader) = reader_for(&simulator);
    assert!(matches!(reader.read_card(), Err(IdCardError::Status(SamStatusError::NoCard))));

    simulator.set_behaviour(SamBehaviour::ReadFailure);
    assert!(matches!(reader.read_card(), Err(IdCardError::Status(SamStatusError::ReadFailed))));

    simulator.set_behaviour(SamBehaviour::CorruptAnswers);
    assert!(matches!(reader.read_card(), Err(IdCardError::Frame(FrameError::Checksum { .. }))));

    simulator.set_behaviour(SamBehaviour::Silent);
    assert!(matches!(reader.read_card(), Err(IdCardError::Timeout { command: [0x20, 0x01], .. })));

    // The reader recovers once the card is back.
    simulator.set_behaviour(SamBehaviour::Card(Box::new(sample_resident_card())));
    assert!(reader.read_card().is_ok());
}

#[test]
fn every_failure_status_reaches_the_caller_typed() {
    let simulator = SamSimulator::new(SamBehaviour::NoCard);
    let (_pty, mut reader) = reader_for(&simulator);
    let codes =
        [0x10, 0x11, 0x21, 0x24, 0x31, 0x32, 0x33, 0x40, 0x41, 0x47, 0x60, 0x66, 0x80, 0x81, 0x55];
    for code in codes {
        simulator.set_behaviour(SamBehaviour::FindCardStatus(code));
        match reader.read_card() {
            Err(IdCardError::Status(status)) => {
                assert_eq!(status.code(), code);
                assert_eq!(
                    status == SamStatusError::Unrecognised(code),
                    code == 0x55,
                    "{status:?}"
                );
            }
            other => panic!("status {code:#04x} gave {other:?}"),
        }
    }
}

#[test]
fn id_number_check_digits_are_validated() {
    assert_eq!(sample_resident_card().document.validate_number(), Ok(()));
    assert_eq!(
        sample_foreign_card().document.validate_number(),
        Ok(()),
        "2017 numbers carry no GB 11643 digit"
    );
    let IdDocument::Resident(mut resident) = sample_resident_card().document else {
        panic!("resident sample")
    };
    resident.id_number = DocumentNumber::new("110101202311012177");
    assert_eq!(IdDocument::Resident(resident).validate_number(), Err(IdNumberError::CheckDigit));
    let IdDocument::ForeignPermanentResident(mut foreign) = sample_foreign_card().document else {
        panic!("foreign")
    };
    foreign.card_number = DocumentNumber::new("910000000000000007");
    assert_eq!(
        IdDocument::ForeignPermanentResident(foreign).validate_number(),
        Err(IdNumberError::CheckDigit)
    );
}

#[test]
fn waiting_read_returns_the_card_once_it_is_laid_down() {
    let simulator = SamSimulator::new(SamBehaviour::NoCard);
    let (_pty, mut reader) = reader_for(&simulator);
    let placer = {
        let simulator = simulator.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            simulator.set_behaviour(SamBehaviour::ReadFailure);
            std::thread::sleep(Duration::from_millis(100));
            simulator.set_behaviour(SamBehaviour::Card(Box::new(sample_resident_card())));
        })
    };
    let card = reader
        .wait_for_card(Duration::from_secs(3), Duration::from_millis(50))
        .expect("card arrives");
    assert_eq!(card.document, sample_resident_card().document);
    placer.join().expect("placer thread");

    // Without a card the wait ends with the reader's reason; a corrupt answer ends it at once.
    simulator.set_behaviour(SamBehaviour::NoCard);
    let started = std::time::Instant::now();
    let result = reader.wait_for_card(Duration::from_millis(400), Duration::from_millis(50));
    assert!(matches!(result, Err(IdCardError::Status(SamStatusError::NoCard))));
    assert!(started.elapsed() >= Duration::from_millis(300));
    simulator.set_behaviour(SamBehaviour::CorruptAnswers);
    let started = std::time::Instant::now();
    let result = reader.wait_for_card(Duration::from_secs(5), Duration::from_millis(50));
    assert!(matches!(result, Err(IdCardError::Frame(FrameError::Checksum { .. }))));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn driver_resyncs_after_garbage_and_split_answers() {
    let (mut device, host) = TTYPort::pair().expect("pty");
    let answer = Response::encode(0x9F, &[0; 4]).expect("frame");
    let device_thread = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut request = [0u8; 10];
        device.read_exact(&mut request).expect("request");
        assert_eq!(request.to_vec(), Command::FIND_CARD.encode());
        device.write_all(&[0x00, 0xFF, 0xAA, 0xAA, 0x13]).expect("garbage");
        for chunk in answer.chunks(4) {
            device.write_all(chunk).expect("chunk");
            device.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(15));
        }
        device
    });
    let mut reader = SamReader::new(host, TIMEOUT);
    let response = reader.transact(Command::FIND_CARD).expect("find card");
    assert_eq!(response.sw3(), 0x9F);
    drop(device_thread.join().expect("device thread"));
}

#[test]
fn masked_document_hides_the_number_everywhere_but_json_reveals_on_request() {
    let card = sample_resident_card();
    let json = serde_json::to_value(&card).expect("json");
    assert_eq!(json["type"], "resident");
    assert_eq!(json["id_number"], "110101202311012176");
    assert_eq!(json["valid_until"], serde_json::Value::Null);
    assert_eq!(json["birth_date"], "2023-11-01");
    let masked = serde_json::to_value(card.document.masked()).expect("json");
    assert_eq!(masked["id_number"], "110***********2176");
    assert!(!format!("{card:?}").contains("110101202311012176"), "Debug must not leak the number");
}

#[test]
fn poller_reports_each_placement_once_and_survives_unplug() {
    let simulator = SamSimulator::new(SamBehaviour::NoCard);
    let pty = simulator.spawn_on_pty().expect("pty");
    let link = tempfile::tempdir().expect("tempdir");
    let path = link.path().join("idcard");
    std::os::unix::fs::symlink(pty.path(), &path).expect("symlink");
    let poller =
        CardPoller::open(path.to_str().expect("utf8"), 115_200, TIMEOUT, Duration::from_millis(50))
            .expect("poller");
    let wait = Duration::from_secs(3);

    simulator.set_behaviour(SamBehaviour::Card(Box::new(sample_resident_card())));
    let CardEvent::Card(card) = poller.events().recv_timeout(wait).expect("event") else {
        panic!("expected card")
    };
    assert_eq!(card.document, sample_resident_card().document);
    // The card stays on the reader: no second report.
    assert!(poller.events().recv_timeout(Duration::from_millis(400)).is_err());

    // Unplug: the pseudo-terminal disappears; then a new one appears at the same path.
    drop(pty);
    assert!(matches!(poller.events().recv_timeout(wait), Ok(CardEvent::Disconnected(_))));
    let replugged = SamSimulator::new(SamBehaviour::Card(Box::new(sample_foreign_card())));
    let new_pty = replugged.spawn_on_pty().expect("pty");
    std::fs::remove_file(&path).expect("unlink");
    std::os::unix::fs::symlink(new_pty.path(), &path).expect("symlink");
    assert!(matches!(poller.events().recv_timeout(wait), Ok(CardEvent::Reconnected)));
    let CardEvent::Card(card) = poller.events().recv_timeout(wait).expect("event") else {
        panic!("expected card")
    };
    assert_eq!(card.document, sample_foreign_card().document);
}

#[test]
fn simulator_answers_bad_request_checksums_with_status_0x10() {
    let simulator = SamSimulator::new(SamBehaviour::NoCard);
    let mut request = Command::FIND_CARD.encode();
    request[9] ^= 1;
    let mut decoder = FrameDecoder::new();
    decoder.push(&request);
    let answer = simulator.answer(decoder.next_frame().expect("frame")).expect("answer");
    assert_eq!(answer, Response::encode(0x10, &[]).expect("frame"));
    // A server thread stops when asked.
    let (device, _host) = TTYPort::pair().expect("pty");
    simulator.serve(device, &Arc::new(AtomicBool::new(true)));
}

#[test]
fn malformed_card_data_gives_typed_errors() {
    let mut data = sample_resident_card().to_read_data().expect("data");
    assert!(matches!(IdCard::from_read_data(&data[..100]), Err(CardDataError::Truncated { .. })));
    // Birth date field starts at unit 18 (byte 36 of the text, which follows a 4-byte header).
    data[4 + 36] = b'X';
    assert!(matches!(
        IdCard::from_read_data(&data),
        Err(CardDataError::InvalidDate { field: "birth_date", .. })
    ));
    let mut bad_flag = sample_resident_card().to_read_data().expect("data");
    bad_flag[4 + 248] = b'J';
    assert!(
        matches!(IdCard::from_read_data(&bad_flag), Err(CardDataError::UnsupportedCardType(flag)) if flag == "J")
    );
}

proptest! {
    #[test]
    fn decoder_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..3000), split in 1usize..64) {
        let mut decoder = FrameDecoder::new();
        for chunk in bytes.chunks(split) {
            decoder.push(chunk);
            while let Some(frame) = decoder.next_frame() {
                if let Ok(body) = frame {
                    let _ = Response::from_body(&body).map(|r| IdCard::from_read_data(&r.data));
                }
            }
        }
    }

    #[test]
    fn valid_frames_survive_garbage_prefix_and_any_split(
        garbage in proptest::collection::vec(any::<u8>(), 0..64),
        data in proptest::collection::vec(any::<u8>(), 2..300),
        split in 1usize..40,
    ) {
        let frame = encode_frame(&data).expect("frame");
        let mut decoder = FrameDecoder::new();
        let mut stream = garbage.clone();
        stream.extend_from_slice(&frame);
        let mut bodies = Vec::new();
        for chunk in stream.chunks(split) {
            decoder.push(chunk);
            while let Some(frame) = decoder.next_frame() {
                if let Ok(body) = frame { bodies.push(body); }
            }
        }
        prop_assert_eq!(bodies.last(), Some(&data));
    }

    #[test]
    fn text_parser_never_panics(block in proptest::collection::vec(any::<u8>(), 256)) {
        let _ = IdDocument::parse(&block);
    }
}
