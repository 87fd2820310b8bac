//! `expo-kiosk run --mode desk|kiosk|gate|admin` (and bare `expo-kiosk`): the desktop app on
//! this station's data directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};
use expo_kiosk::ui::devices::DeviceSettings;
use expo_kiosk::ui::{self, AppConfig, DeviceSetup, Lang, Mode};

#[derive(Args, Default)]
pub struct RunArgs {
    /// What this station is used as.
    #[arg(long, value_enum, default_value_t)]
    mode: ModeArg,
    /// Serial port of a barcode/QR scanner (keyboard-wedge scanners need none).
    #[arg(long, value_name = "PORT")]
    scanner: Option<String>,
    /// Serial port of a SAM ID-card reader.
    #[arg(long, value_name = "PORT")]
    id_reader: Option<String>,
    /// Seconds without a touch before a kiosk clears the screen (default 45).
    #[arg(long, value_name = "SECONDS")]
    kiosk_idle: Option<u64>,
    /// Gate mode: run the lanes of this file (as `expo-kiosk gate --config`) and show each
    /// lane's verdict full screen.
    #[arg(long, value_name = "GATE.toml")]
    gate_config: Option<PathBuf>,
}

#[derive(Clone, Copy, Default, ValueEnum)]
enum ModeArg {
    #[default]
    Desk,
    Kiosk,
    Gate,
    Admin,
}

/// `--lang`: the CLI's messages, and the app's language at start (switchable in the app).
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LangArg {
    Zh,
    En,
}

impl From<LangArg> for Lang {
    fn from(lang: LangArg) -> Self {
        match lang {
            LangArg::Zh => Lang::Zh,
            LangArg::En => Lang::En,
        }
    }
}

/// `lang`: the global `--lang`; without it the app starts in Chinese.
pub fn run(args: RunArgs, data_dir: PathBuf, lang: Option<Lang>) -> Result<ExitCode> {
    let mode = match args.mode {
        ModeArg::Desk => Mode::Desk,
        ModeArg::Kiosk => Mode::Kiosk,
        ModeArg::Gate => Mode::Gate,
        ModeArg::Admin => Mode::Admin,
    };
    let mut config = AppConfig::new(data_dir, mode);
    config.lang = lang.unwrap_or(config.lang);
    if args.gate_config.is_some() && !matches!(mode, Mode::Gate) {
        anyhow::bail!("--gate-config is for --mode gate");
    }
    config.gate_config = args.gate_config;
    if let Some(seconds) = args.kiosk_idle {
        config.kiosk_idle_timeout = Duration::from_secs(seconds);
    }
    // The settings saved in the admin's Devices tab (ports, line settings), unless the
    // command line names other ports.
    let saved = DeviceSettings::load(&config.data_dir).map_err(anyhow::Error::msg)?;
    config.wedge = saved.wedge();
    let settings = DeviceSettings {
        scanner: args.scanner.or(saved.scanner),
        id_reader: args.id_reader.or(saved.id_reader),
        ..saved
    };
    if settings.scanner.is_some() || settings.id_reader.is_some() {
        config.devices = DeviceSetup::Ports(settings);
    }
    ui::run_native(config)?;
    Ok(ExitCode::SUCCESS)
}
