//! Byte-exact SAM reader simulator for tests and `expo-kiosk demo`.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::card::{
    CardDate, DocumentNumber, ForeignResidentCard, Gender, IdCard, IdDocument, ResidentCard,
    PHOTO_LEN,
};
use super::frame::{Command, FrameDecoder, FrameError, Request, Response};
use super::status::{SW3_CARD_FOUND, SW3_OK};
use crate::pty::PtySimulator;
use crate::serial;

/// What the simulated reader does when asked to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamBehaviour {
    /// No card on the reader: find-card answers 0x80.
    NoCard,
    /// This card lies on the reader.
    Card(Box<IdCard>),
    /// A card is found and selected but the read fails (0x41), as when it is pulled away.
    ReadFailure,
    /// Find-card answers this SW3 status (to exercise every failure code).
    FindCardStatus(u8),
    /// Every answer carries a wrong checksum.
    CorruptAnswers,
    /// The reader never answers.
    Silent,
}

/// A simulated SAM reader; clones share behaviour and the request log.
#[derive(Debug, Clone)]
pub struct SamSimulator {
    behaviour: Arc<Mutex<SamBehaviour>>,
    requests: Arc<Mutex<Vec<Command>>>,
}

impl SamSimulator {
    /// A simulator starting with `behaviour`.
    pub fn new(behaviour: SamBehaviour) -> Self {
        Self { behaviour: Arc::new(Mutex::new(behaviour)), requests: Arc::default() }
    }

    /// Changes what the reader does from the next request on (e.g. place or lift a card).
    pub fn set_behaviour(&self, behaviour: SamBehaviour) {
        *self.behaviour.lock().unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    /// Commands received so far, in order.
    pub fn requests(&self) -> Vec<Command> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The bytes the reader sends back for one decoded request frame (`None`: stay silent).
    pub fn answer(&self, request: Result<Vec<u8>, FrameError>) -> Option<Vec<u8>> {
        let behaviour = self.behaviour.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (sw3, data) = match request.and_then(|body| Request::from_body(&body)) {
            // Readers tell the host about frames they could not parse.
            Err(FrameError::Checksum { .. }) => (0x10, Vec::new()),
            Err(_) => (0x11, Vec::new()),
            Ok(request) => {
                self.requests.lock().unwrap_or_else(PoisonError::into_inner).push(request.command);
                if behaviour == SamBehaviour::Silent {
                    return None;
                }
                answer_command(request.command, &behaviour)
            }
        };
        // Answers are at most text + photo, far below the frame limit; an oversized simulated
        // card is a test bug reported as silence (the driver then times out).
        let mut frame = Response::encode(sw3, &data).ok()?;
        if behaviour == SamBehaviour::CorruptAnswers {
            if let Some(chk) = frame.last_mut() {
                *chk ^= 0x5A;
            }
        }
        Some(frame)
    }

    /// Answers frames arriving on `port` until `stop` turns true or the port fails.
    pub fn serve<P: Read + Write>(&self, mut port: P, stop: &AtomicBool) {
        let mut decoder = FrameDecoder::new();
        let mut chunk = [0u8; 256];
        while !stop.load(Ordering::Relaxed) {
            match port.read(&mut chunk) {
                Ok(0) => continue,
                Ok(n) => decoder.push(&chunk[..n]),
                Err(e) if serial::is_timeout(&e) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "SAM simulator port closed");
                    return;
                }
            }
            while let Some(request) = decoder.next_frame() {
                if let Some(answer) = self.answer(request) {
                    if let Err(e) = port.write_all(&answer) {
                        tracing::debug!(error = %e, "SAM simulator could not answer");
                        return;
                    }
                }
            }
        }
    }

    /// Runs the simulator on a new pseudo-terminal; open the returned handle's path as the reader.
    pub fn spawn_on_pty(&self) -> Result<PtySimulator, serialport::Error> {
        let simulator = self.clone();
        PtySimulator::spawn("sam-simulator", move |port, stop| simulator.serve(port, &stop))
    }
}

/// Status and data a working reader sends for `command`.
fn answer_command(command: Command, behaviour: &SamBehaviour) -> (u8, Vec<u8>) {
    if let (SamBehaviour::FindCardStatus(sw3), Command::FIND_CARD) = (behaviour, command) {
        return (*sw3, Vec::new());
    }
    let card_present = !matches!(behaviour, SamBehaviour::NoCard);
    match command {
        Command::RESET | Command::SAM_STATUS => (SW3_OK, Vec::new()),
        Command::SAM_ID => {
            (SW3_OK, vec![0x05, 0x00, 0x01, 0x00, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 0])
        }
        Command::FIND_CARD if card_present => (SW3_CARD_FOUND, vec![0; 4]),
        Command::FIND_CARD => (0x80, Vec::new()),
        Command::SELECT_CARD if card_present => (SW3_OK, vec![0; 8]),
        Command::SELECT_CARD => (0x81, Vec::new()),
        Command::READ_TEXT_PHOTO => match behaviour {
            SamBehaviour::Card(card) => match card.to_read_data() {
                Ok(data) => (SW3_OK, data),
                Err(_) => (0x41, Vec::new()),
            },
            SamBehaviour::NoCard => (0x80, Vec::new()),
            _ => (0x41, Vec::new()),
        },
        _ => (0x21, Vec::new()),
    }
}

/// A fictional resident card (valid check digit, 长期 validity) for tests and demos.
pub fn sample_resident_card() -> IdCard {
    IdCard {
        document: IdDocument::Resident(ResidentCard {
            name: "张三丰".into(),
            gender: Gender::Male,
            ethnicity_code: 1,
            ethnicity: "汉",
            birth_date: CardDate { year: 2023, month: 11, day: 1 },
            address: "北京市东城区景山前街4号".into(),
            id_number: DocumentNumber::new("110101202311012176"),
            issuing_authority: "北京市公安局东城分局".into(),
            valid_from: CardDate { year: 2023, month: 11, day: 20 },
            valid_until: None,
        }),
        photo_wlt: sample_photo(),
    }
}

/// A fictional 2017 foreign permanent residence card for tests and demos.
pub fn sample_foreign_card() -> IdCard {
    IdCard {
        document: IdDocument::ForeignPermanentResident(ForeignResidentCard {
            english_name: "SMITH, JOHN ALEXANDER".into(),
            gender: Gender::Male,
            card_number: DocumentNumber::new("USA110085061501"),
            nationality: "USA".into(),
            chinese_name: "史密斯".into(),
            valid_from: CardDate { year: 2018, month: 6, day: 15 },
            valid_until: Some(CardDate { year: 2028, month: 6, day: 14 }),
            birth_date: CardDate { year: 1985, month: 6, day: 15 },
            card_version: "01".into(),
            authority_code: "1100".into(),
        }),
        photo_wlt: sample_photo(),
    }
}

/// Stand-in WLT bytes: opaque to us, only their length and identity matter.
fn sample_photo() -> Vec<u8> {
    let mut photo: Vec<u8> = (0..PHOTO_LEN).map(|i| (i * 7 % 251) as u8).collect();
    // Real WLT data starts with the "WL" magic.
    photo[..2].copy_from_slice(b"WL");
    photo
}
