//! The station's device settings (`devices.toml`): which devices it has and how they
//! talk. The worker reads the printer from them and the UI's device runtime opens the
//! rest; they live here, below both, so the library never reaches into `ui/`.

use std::path::PathBuf;
use std::time::Duration;

use expo_hardware::idcard;
use expo_hardware::scanner::{ScannerSettings, Terminator, WedgeSettings};

/// The station's device settings (`devices.toml` in the data directory, written by the
/// admin's Devices tab): which serial ports to read, `None` for a device the station does
/// not have, how the scanner and the ID-card reader talk on their lines, and which
/// configured printer badges go to (default: `printers.toml`'s own). Settings left at the
/// drivers' defaults are not written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_reader: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printer: Option<String>,
    #[serde(default, skip_serializing_if = "ScannerLine::is_default")]
    pub scanner_line: ScannerLine,
    /// The ID-card reader's line speed (SAM modules ship at 115200).
    #[serde(default = "default_card_baud", skip_serializing_if = "is_default_card_baud")]
    pub id_reader_baud: u32,
    /// A keyboard-wedge scanner: the longest gap between two keys of one scan. Scanners
    /// type every few ms and people every 100 ms or more; a slow screen (software
    /// rendering) batches keys and needs a wider gap.
    #[serde(default = "default_keyboard_gap", skip_serializing_if = "is_default_keyboard_gap")]
    pub keyboard_scan_gap_ms: u64,
    /// A camera read as a QR scanner, with or instead of a serial scanner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<CameraChoice>,
}

/// Which camera reads QR codes (`[camera]` in `devices.toml`: `v4l = 0` or `frames = "DIR"`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CameraChoice {
    /// `/dev/video{N}`, captured through nokhwa (builds with the `camera` feature).
    V4l(u32),
    /// The camera simulator playing the image files at this path (a file, or a folder's
    /// PNG and JPEG files by name) in a loop: tests, demos, trying a code without a camera.
    Frames(PathBuf),
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self {
            scanner: None,
            id_reader: None,
            printer: None,
            scanner_line: ScannerLine::default(),
            id_reader_baud: default_card_baud(),
            keyboard_scan_gap_ms: default_keyboard_gap(),
            camera: None,
        }
    }
}

fn default_keyboard_gap() -> u64 {
    u64::try_from(WedgeSettings::default().max_gap.as_millis()).unwrap_or(50)
}

fn is_default_keyboard_gap(gap: &u64) -> bool {
    *gap == default_keyboard_gap()
}

impl DeviceSettings {
    /// The keyboard-wedge detector's rules for these settings.
    pub fn wedge(&self) -> WedgeSettings {
        WedgeSettings {
            max_gap: Duration::from_millis(self.keyboard_scan_gap_ms),
            ..WedgeSettings::default()
        }
    }
}

fn default_card_baud() -> u32 {
    idcard::DEFAULT_BAUD
}

fn is_default_card_baud(baud: &u32) -> bool {
    *baud == idcard::DEFAULT_BAUD
}

/// How a serial scanner sends its codes: what its own configuration sheet set it to.
/// The defaults are the scanner driver's.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScannerLine {
    pub baud: u32,
    pub terminator: LineEnd,
    /// Remove an AIM code identifier such as `]Q1`.
    pub strip_aim: bool,
    /// A prefix or suffix the scanner was set to add, removed from each code; empty for none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub strip_prefix: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub strip_suffix: String,
    /// Identical codes within this many milliseconds count once.
    pub debounce_ms: u64,
}

impl Default for ScannerLine {
    fn default() -> Self {
        let driver = ScannerSettings::new(String::new());
        Self {
            baud: driver.baud,
            terminator: LineEnd::from(driver.terminator),
            strip_aim: driver.strip_aim,
            strip_prefix: driver.strip_prefix.unwrap_or_default(),
            strip_suffix: driver.strip_suffix.unwrap_or_default(),
            // The driver's debounce is a whole number of milliseconds (one second).
            debounce_ms: u64::try_from(driver.debounce.as_millis()).unwrap_or(1000),
        }
    }
}

impl ScannerLine {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The scanner driver's settings for a scanner at `path`.
    pub fn settings(&self, path: &str) -> ScannerSettings {
        let text = |affix: &str| Some(affix.to_owned()).filter(|a| !a.is_empty());
        ScannerSettings {
            baud: self.baud,
            terminator: self.terminator.into(),
            strip_aim: self.strip_aim,
            strip_prefix: text(&self.strip_prefix),
            strip_suffix: text(&self.strip_suffix),
            debounce: Duration::from_millis(self.debounce_ms),
            ..ScannerSettings::new(path)
        }
    }
}

/// What ends a scanned code on the line (the driver's [`Terminator`], as `devices.toml`
/// writes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineEnd {
    Cr,
    Lf,
    CrLf,
    Tab,
    /// No suffix: a pause ends the code.
    Idle,
}

impl LineEnd {
    pub const ALL: [LineEnd; 5] =
        [LineEnd::Cr, LineEnd::Lf, LineEnd::CrLf, LineEnd::Tab, LineEnd::Idle];
}

impl From<Terminator> for LineEnd {
    fn from(terminator: Terminator) -> Self {
        match terminator {
            Terminator::Cr => LineEnd::Cr,
            Terminator::Lf => LineEnd::Lf,
            Terminator::CrLf => LineEnd::CrLf,
            Terminator::Tab => LineEnd::Tab,
            Terminator::None => LineEnd::Idle,
        }
    }
}

impl From<LineEnd> for Terminator {
    fn from(end: LineEnd) -> Self {
        match end {
            LineEnd::Cr => Terminator::Cr,
            LineEnd::Lf => Terminator::Lf,
            LineEnd::CrLf => Terminator::CrLf,
            LineEnd::Tab => Terminator::Tab,
            LineEnd::Idle => Terminator::None,
        }
    }
}

impl DeviceSettings {
    const FILE: &'static str = "devices.toml";

    /// The settings saved in `data_dir`; none saved means no devices.
    pub fn load(data_dir: &std::path::Path) -> Result<Self, String> {
        let path = data_dir.join(Self::FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn save(&self, data_dir: &std::path::Path) -> Result<(), String> {
        let path = data_dir.join(Self::FILE);
        let text = toml::to_string(self).map_err(|e| e.to_string())?;
        crate::store::write_private_file(&path, text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}
