//! Simulated devices for `expo-kiosk demo` and manual testing: a serial scanner, a SAM ID-card
//! reader and a relay board, each on its own pseudo-terminal so the app runs its real drivers
//! against them, and a simulated camera, plus methods to inject what a visitor would do (scan
//! a badge, hold it up to the camera, tap a card).
//!
//! ```no_run
//! use expo_hardware::demo::DemoDevices;
//! use expo_hardware::relay::RelayProtocol;
//! use expo_hardware::scanner::{ScannerSettings, SerialScanner};
//! use expo_hardware::CodeSource;
//!
//! let mut devices = DemoDevices::start(RelayProtocol::Lcus, 2)?;
//! let scanner = SerialScanner::spawn(ScannerSettings::new(devices.scanner_path()))?;
//! devices.scan_badge("EXPO1.000042.ABCDEF")?;
//! let event = scanner.events().recv()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::camera::SimulatedCamera;
use super::idcard::{IdCard, SamBehaviour, SamSimulator};
use super::pty::PtySimulator;
use super::relay::{RelayProtocol, RelaySimulator};
use super::scanner::{ScannerSimulator, Terminator};

/// A running set of simulated devices; dropping it unplugs them all.
pub struct DemoDevices {
    scanner: ScannerSimulator,
    id_reader: SamSimulator,
    id_reader_pty: PtySimulator,
    relay: RelaySimulator,
    relay_pty: PtySimulator,
    camera: SimulatedCamera,
}

impl DemoDevices {
    /// Starts a CR-terminated scanner, an empty ID-card reader and a relay board with `relay_channels`
    /// channels speaking `relay_protocol`, each on a fresh pseudo-terminal.
    pub fn start(
        relay_protocol: RelayProtocol,
        relay_channels: u8,
    ) -> Result<Self, serialport::Error> {
        let id_reader = SamSimulator::new(SamBehaviour::NoCard);
        let relay = RelaySimulator::new(relay_protocol, relay_channels);
        Ok(Self {
            scanner: ScannerSimulator::new(Terminator::Cr)?,
            id_reader_pty: id_reader.spawn_on_pty()?,
            id_reader,
            relay_pty: relay.spawn_on_pty()?,
            relay,
            camera: SimulatedCamera::new(),
        })
    }

    /// Port path for [`crate::scanner::ScannerSettings::new`] (its defaults match the simulator).
    pub fn scanner_path(&self) -> &str {
        self.scanner.path()
    }

    /// Port path for [`crate::idcard::SamReader::open`] or [`crate::idcard::CardPoller::open`].
    pub fn id_reader_path(&self) -> &str {
        self.id_reader_pty.path()
    }

    /// Port path for [`crate::relay::RelayDriver::open`].
    pub fn relay_path(&self) -> &str {
        self.relay_pty.path()
    }

    /// A visitor scans `code`: the scanner types it followed by CR.
    pub fn scan_badge(&mut self, code: &str) -> std::io::Result<()> {
        self.scanner.scan(code)
    }

    /// The simulated camera, for [`crate::camera::CameraScanner::simulated`].
    pub fn camera(&self) -> SimulatedCamera {
        self.camera.clone()
    }

    /// A visitor holds a badge with `code` up to the camera. The frame is drawn on a thread
    /// of its own (a camera-sized picture takes a while), so the caller's screen never waits.
    pub fn show_badge_to_camera(&self, code: &str) {
        let (camera, code) = (self.camera.clone(), code.to_owned());
        let drawn = std::thread::Builder::new().name("camera-badge".into()).spawn(move || {
            match crate::qr::corpus::held_up_frame(&code) {
                Some(frame) => camera.show(frame),
                None => tracing::warn!("the code is too long for a QR code"),
            }
        });
        if let Err(error) = drawn {
            tracing::warn!(%error, "cannot show the badge to the simulated camera");
        }
    }

    /// A visitor lays `card` on the ID-card reader (see [`crate::idcard::sample_resident_card`]).
    pub fn tap_card(&self, card: IdCard) {
        self.id_reader.set_behaviour(SamBehaviour::Card(Box::new(card)));
    }

    /// The card is taken off the reader.
    pub fn remove_card(&self) {
        self.id_reader.set_behaviour(SamBehaviour::NoCard);
    }

    /// Whether relay `channel` (from 1) is energised now.
    pub fn relay_energised(&self, channel: u8) -> bool {
        self.relay.is_energised(channel)
    }

    /// Every frame the relay board received, byte for byte (to show in the demo log).
    pub fn relay_frames(&self) -> Vec<Vec<u8>> {
        self.relay.received()
    }
}
