//! The desk's and kiosk's devices: a serial scanner, a camera read as a scanner and an
//! ID-card reader, each read on its own thread by the hardware crate's drivers. The UI only
//! drains their channels, once a frame, and never waits on them. In the demo, the same
//! drivers talk to simulators.

use std::time::Duration;

use eframe::egui;
use expo_hardware::camera::{CameraScanner, DecodeSettings, SimulatedCamera};
use expo_hardware::demo::DemoDevices;
use expo_hardware::idcard::{self, CardEvent, CardPoller, IdCard, IdDocument};
use expo_hardware::relay::RelayProtocol;
use expo_hardware::scanner::{ScanEvent, SerialScanner};
use expo_hardware::CodeSource;
use expo_sync::heartbeat::{DeviceKind, DeviceReport};

pub use crate::station::device_settings::{CameraChoice, DeviceSettings, LineEnd, ScannerLine};
use crate::station::CardIdentity;

/// How often the desk asks the ID-card reader for a card.
const CARD_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Line speeds a serial scanner or reader is commonly set to.
pub const SERIAL_BAUDS: [u32; 8] = [1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200];

/// A device's state for the status bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    NotConfigured,
    Connected,
    Disconnected,
}

/// Something a device reported that the screens act on.
#[derive(Debug)]
pub enum DeviceInput {
    Scan(String),
    Card(CardIdentity),
    /// The card could not be read (shown, never holding card data).
    CardError(String),
}

/// The running device threads.
pub struct Devices {
    scanner: Option<SerialScanner>,
    camera: Option<CameraScanner>,
    id_reader: Option<CardPoller>,
    scanner_link: Link,
    camera_link: Link,
    id_reader_link: Link,
    /// The camera preview on screen: the frame's sequence number and its texture.
    preview_texture: Option<(u64, egui::TextureHandle)>,
    /// Simulators standing in for the devices (`expo-kiosk demo`).
    demo: Option<DemoDevices>,
}

impl Devices {
    /// No devices: input comes from the keyboard only (tests, a laptop desk).
    pub fn none() -> Self {
        Self {
            scanner: None,
            camera: None,
            id_reader: None,
            scanner_link: Link::NotConfigured,
            camera_link: Link::NotConfigured,
            id_reader_link: Link::NotConfigured,
            preview_texture: None,
            demo: None,
        }
    }

    /// Starts readers on the configured ports; a port that is missing now is retried by the driver.
    pub fn open(settings: &DeviceSettings) -> std::io::Result<Self> {
        let mut devices = Self::none();
        if let Some(path) = &settings.scanner {
            devices.scanner = Some(SerialScanner::spawn(settings.scanner_line.settings(path))?);
            devices.scanner_link = Link::Connected;
        }
        if let Some(path) = &settings.id_reader {
            devices.id_reader = Some(CardPoller::open(
                path,
                settings.id_reader_baud,
                idcard::DEFAULT_TIMEOUT,
                CARD_POLL_INTERVAL,
            )?);
            devices.id_reader_link = Link::Connected;
        }
        if let Some(choice) = &settings.camera {
            devices.camera = open_camera(choice)?;
            devices.camera_link =
                if devices.camera.is_some() { Link::Connected } else { Link::Disconnected };
        }
        Ok(devices)
    }

    /// The configured devices and whether each is connected, for the heartbeat.
    pub fn report(&self) -> Vec<DeviceReport> {
        [
            (DeviceKind::Scanner, self.scanner_link),
            (DeviceKind::IdReader, self.id_reader_link),
            (DeviceKind::Camera, self.camera_link),
        ]
        .into_iter()
        .filter(|(_, link)| *link != Link::NotConfigured)
        .map(|(kind, link)| DeviceReport {
            kind,
            name: kind.as_str().to_owned(),
            connected: link == Link::Connected,
        })
        .collect()
    }

    /// Simulated scanner, ID-card reader and relay board, read through the real drivers.
    pub fn demo() -> std::io::Result<Self> {
        let simulators =
            DemoDevices::start(RelayProtocol::Lcus, 2).map_err(std::io::Error::other)?;
        let settings = DeviceSettings {
            scanner: Some(simulators.scanner_path().to_owned()),
            id_reader: Some(simulators.id_reader_path().to_owned()),
            ..DeviceSettings::default()
        };
        let mut devices = Self::open(&settings)?;
        devices.camera =
            Some(CameraScanner::simulated(simulators.camera(), DecodeSettings::default())?);
        devices.camera_link = Link::Connected;
        devices.demo = Some(simulators);
        Ok(devices)
    }

    pub fn scanner_link(&self) -> Link {
        self.scanner_link
    }

    pub fn id_reader_link(&self) -> Link {
        self.id_reader_link
    }

    pub fn camera_link(&self) -> Link {
        self.camera_link
    }

    /// The simulators, when this is the demo.
    pub fn simulators(&mut self) -> Option<&mut DemoDevices> {
        self.demo.as_mut()
    }

    /// Whether anything may arrive without user input (the UI then repaints periodically).
    pub fn is_active(&self) -> bool {
        self.scanner.is_some() || self.camera.is_some() || self.id_reader.is_some()
    }

    /// Everything the devices reported since the last call.
    pub fn poll(&mut self) -> Vec<DeviceInput> {
        let mut inputs = Vec::new();
        if let Some(scanner) = &self.scanner {
            drain_scans("scanner", scanner, &mut self.scanner_link, &mut inputs);
        }
        // A camera's code takes the same path as a serial scanner's.
        if let Some(camera) = &self.camera {
            drain_scans("camera", camera, &mut self.camera_link, &mut inputs);
        }
        if let Some(reader) = &self.id_reader {
            for event in reader.events().try_iter() {
                match event {
                    CardEvent::Card(card) => inputs.push(DeviceInput::Card(identity(&card))),
                    CardEvent::Error(error) => {
                        inputs.push(DeviceInput::CardError(error.to_string()))
                    }
                    CardEvent::Disconnected(reason) => {
                        tracing::warn!("ID-card reader disconnected: {reason}");
                        self.id_reader_link = Link::Disconnected;
                    }
                    CardEvent::Reconnected => self.id_reader_link = Link::Connected,
                }
            }
        }
        inputs
    }
}

/// Starts the chosen camera; `None` (reported) when this build cannot capture from it.
fn open_camera(choice: &CameraChoice) -> std::io::Result<Option<CameraScanner>> {
    let settings = DecodeSettings::default();
    match choice {
        CameraChoice::Frames(path) => {
            let camera = SimulatedCamera::from_files(std::slice::from_ref(path))
                .map_err(std::io::Error::other)?;
            CameraScanner::simulated(camera, settings).map(Some)
        }
        #[cfg(feature = "camera")]
        CameraChoice::V4l(index) => {
            let mut camera = expo_hardware::camera::CameraSettings::new(*index);
            camera.decode = settings;
            CameraScanner::spawn(camera).map(Some)
        }
        #[cfg(not(feature = "camera"))]
        CameraChoice::V4l(index) => {
            tracing::warn!(index, "this build has no camera support (cargo feature `camera`)");
            Ok(None)
        }
    }
}

/// Moves a code source's codes into `inputs` and its connection changes into `link`.
fn drain_scans(
    what: &str,
    source: &impl CodeSource,
    link: &mut Link,
    inputs: &mut Vec<DeviceInput>,
) {
    for event in source.events().try_iter() {
        match event {
            ScanEvent::Code(code) => inputs.push(DeviceInput::Scan(code)),
            ScanEvent::Error(error) => tracing::warn!("{what}: {error}"),
            ScanEvent::Disconnected(reason) => {
                tracing::warn!("{what} disconnected: {reason}");
                *link = Link::Disconnected;
            }
            ScanEvent::Reconnected => *link = Link::Connected,
        }
    }
}

impl Devices {
    /// A small live view of the camera, the decoded code outlined; nothing without a camera.
    pub fn camera_preview(&mut self, ui: &mut egui::Ui, lang: super::Lang) {
        const WIDTH: f32 = 240.0;
        let Some(preview) = self.camera.as_ref().and_then(CameraScanner::preview) else {
            return;
        };
        let stale = self.preview_texture.as_ref().is_none_or(|(seq, _)| *seq != preview.sequence);
        if stale {
            let size = [preview.frame.width() as usize, preview.frame.height() as usize];
            let image = egui::ColorImage::from_gray(size, preview.frame.as_raw());
            let texture =
                ui.ctx().load_texture("camera-preview", image, egui::TextureOptions::LINEAR);
            self.preview_texture = Some((preview.sequence, texture));
        }
        let Some((_, texture)) = &self.preview_texture else { return };
        let scale = WIDTH / preview.frame.width().max(1) as f32;
        let size = egui::vec2(WIDTH, preview.frame.height() as f32 * scale);
        let label = match &preview.code {
            Some(_) => super::Txt::CameraCodeSeen.get(lang),
            None => super::Txt::CameraLooking.get(lang),
        };
        let response = ui.add(egui::Image::new((texture.id(), size)).alt_text(label));
        // Said on the picture too: an empty scene is otherwise a grey box nobody can place.
        ui.painter().text(
            response.rect.center_bottom() - egui::vec2(0.0, 4.0),
            egui::Align2::CENTER_BOTTOM,
            label,
            egui::FontId::proportional(12.0),
            egui::Color32::from_rgb(0x20, 0x20, 0x20),
        );
        if let Some(code) = &preview.code {
            let to_screen =
                |(x, y): (f32, f32)| response.rect.min + egui::vec2(x * scale, y * scale);
            let mut corners: Vec<egui::Pos2> = code.points.iter().copied().map(to_screen).collect();
            // The reader gives the finder patterns' centres (bottom-left, top-left,
            // top-right); the fourth corner completes the parallelogram.
            if let [bottom_left, top_left, top_right] = corners[..] {
                corners =
                    vec![bottom_left, top_left, top_right, bottom_left + (top_right - top_left)];
            }
            corners.truncate(4);
            let stroke = egui::Stroke::new(2.0, egui::Color32::from_rgb(0x2E, 0xCC, 0x40));
            ui.painter().add(egui::Shape::closed_line(corners, stroke));
        }
    }
}

/// The fields the walk-in form takes from a card.
pub fn identity(card: &IdCard) -> CardIdentity {
    match &card.document {
        IdDocument::Resident(resident) => CardIdentity {
            name: resident.name.trim().to_owned(),
            id_type: "resident_id",
            id_number: resident.id_number.reveal().to_owned(),
            gender: gender_text(resident.gender).into(),
            birth_date: resident.birth_date.to_string(),
            country: "中国".into(),
            chinese_name: String::new(),
        },
        // The English name, as on the holder's passport and other papers; the card's Chinese
        // name is kept beside it.
        IdDocument::ForeignPermanentResident(foreign) => CardIdentity {
            name: if foreign.english_name.trim().is_empty() {
                foreign.chinese_name.trim().to_owned()
            } else {
                foreign.english_name.split_whitespace().collect::<Vec<_>>().join(" ")
            },
            chinese_name: foreign.chinese_name.trim().to_owned(),
            id_type: "foreign_permanent_residence",
            id_number: foreign.card_number.reveal().to_owned(),
            gender: gender_text(foreign.gender).into(),
            birth_date: foreign.birth_date.to_string(),
            country: foreign.nationality.trim().to_owned(),
        },
    }
}

/// A made-up visitor's resident card for the demo panel: a fresh valid number each time.
pub fn new_visitor_card() -> IdCard {
    use rand::seq::SliceRandom;
    const NAMES: [&str; 8] =
        ["欧阳娜娜", "李雷", "韩梅梅", "司马光", "王小明", "陈静", "刘洋", "赵敏"];
    let mut rng = rand::thread_rng();
    let number = crate::demo::resident_id(&mut rng);
    let mut card = idcard::sample_resident_card();
    if let IdDocument::Resident(resident) = &mut card.document {
        resident.name = NAMES.choose(&mut rng).unwrap_or(&NAMES[0]).to_string();
        // GB 11643: digits 7-14 are the birth date, digit 17 odd for men.
        let digit = |range: std::ops::Range<usize>| {
            number.get(range).and_then(|d| d.parse().ok()).unwrap_or(1)
        };
        resident.birth_date = idcard::CardDate {
            year: digit(6..10),
            month: digit(10..12) as u8,
            day: digit(12..14) as u8,
        };
        resident.gender =
            if digit(16..17) % 2 == 1 { idcard::Gender::Male } else { idcard::Gender::Female };
        resident.id_number = idcard::DocumentNumber::new(number);
    }
    card
}

fn gender_text(gender: idcard::Gender) -> &'static str {
    match gender {
        idcard::Gender::Male => "男 M",
        idcard::Gender::Female => "女 F",
        idcard::Gender::Unknown | idcard::Gender::Unstated => "-",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expo_hardware::scanner::{ScannerSettings, Terminator, WedgeSettings};

    #[test]
    fn a_foreign_permanent_residence_card_gives_the_english_name_and_keeps_the_chinese_one() {
        let card = identity(&expo_hardware::idcard::sample_foreign_card());
        assert_eq!(card.name, "SMITH, JOHN ALEXANDER");
        assert_eq!(card.chinese_name, "史密斯");
        assert_eq!(card.id_type, "foreign_permanent_residence");
        let resident = identity(&expo_hardware::idcard::sample_resident_card());
        assert_eq!((resident.name.as_str(), resident.chinese_name.as_str()), ("张三丰", ""));
    }

    #[test]
    fn line_settings_reach_the_drivers_and_defaults_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(DeviceSettings::load(dir.path()).unwrap(), DeviceSettings::default());
        let defaults = DeviceSettings { printer: Some("desk".into()), ..DeviceSettings::default() };
        defaults.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("devices.toml")).unwrap();
        assert_eq!(text.trim(), "printer = \"desk\"");

        std::fs::write(
            dir.path().join("devices.toml"),
            "scanner = \"/dev/ttyACM0\"\nid_reader_baud = 9600\nkeyboard_scan_gap_ms = 250\n\
             [scanner_line]\nbaud = 115200\nterminator = \"idle\"\nstrip_prefix = \"#\"\n",
        )
        .unwrap();
        let settings = DeviceSettings::load(dir.path()).unwrap();
        assert_eq!(settings.id_reader_baud, 9600);
        assert_eq!(settings.wedge().max_gap, Duration::from_millis(250));
        assert_eq!(DeviceSettings::default().wedge(), WedgeSettings::default());
        let driver = settings.scanner_line.settings("/dev/ttyACM0");
        assert_eq!((driver.baud, driver.terminator), (115_200, Terminator::None));
        assert_eq!(driver.strip_prefix.as_deref(), Some("#"));
        assert_eq!(driver.strip_suffix, None, "an empty affix strips nothing");
        assert!(driver.strip_aim, "unset keys keep the driver's defaults");
        assert_eq!(driver.debounce, ScannerSettings::new("x").debounce);

        settings.save(dir.path()).unwrap();
        assert_eq!(DeviceSettings::load(dir.path()).unwrap(), settings);
        std::fs::write(dir.path().join("devices.toml"), "[scanner_line]\nparity = 1\n").unwrap();
        assert!(DeviceSettings::load(dir.path()).is_err(), "an unknown key is an error");
    }
}
