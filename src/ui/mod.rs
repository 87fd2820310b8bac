//! The eframe/egui desktop app: desk, kiosk, gate and admin screens.
//!
//! The UI is a thin view: every decision is the library's (`registration`, `operators`,
//! `registration::badge`). The store lives on the [`crate::station`] worker thread and
//! devices on their driver threads ([`devices`]); the UI thread only draws, sends requests
//! and drains channels.

mod admin;
mod app;
mod dashboard;
mod desk;
pub mod devices;
pub mod error_text;
mod event_editor;
mod fonts;
mod gate;
pub mod i18n;
mod icons;
mod kiosk;
mod print_queue;
mod widgets;

use std::path::PathBuf;
use std::sync::Arc;

use expo_hardware::scanner::WedgeSettings;
use std::time::Duration;

use crate::gate::{Clock, SystemClock};
pub use app::App;
pub use desk::Desk;
pub use fonts::{cjk_font, install as install_fonts};
pub use i18n::{Lang, Txt};
pub use kiosk::{Kiosk, KioskStep, MaskedDetails};

/// What a station is used as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// A registration desk with an operator.
    #[default]
    Desk,
    /// Self-service, facing the public.
    Kiosk,
    /// A turnstile lane's screen.
    Gate,
    /// Settings, operators, audit log and import.
    Admin,
}

impl Mode {
    pub fn title(self) -> Txt {
        match self {
            Mode::Desk => Txt::ModeDesk,
            Mode::Kiosk => Txt::ModeKiosk,
            Mode::Gate => Txt::ModeGate,
            Mode::Admin => Txt::ModeAdmin,
        }
    }
}

/// Which devices the app reads.
#[derive(Debug, Default)]
pub enum DeviceSetup {
    /// Keyboard only (and keyboard-wedge scanners, which type like one).
    #[default]
    None,
    /// Serial scanner and ID-card reader on these ports, with these line settings.
    Ports(devices::DeviceSettings),
    /// Simulated devices with the demo panel to drive them.
    Demo,
}

/// How to start the app.
#[derive(Debug)]
pub struct AppConfig {
    pub data_dir: PathBuf,
    pub mode: Mode,
    pub lang: Lang,
    pub devices: DeviceSetup,
    /// A kiosk with no touch for this long goes back to its welcome screen.
    pub kiosk_idle_timeout: Duration,
    /// Gate mode: the lanes of this GATE.toml run inside the app (scanners, rules, relays,
    /// decision log) and the screen shows each lane's verdict. Without it, the gate screen
    /// only verifies scanned badges.
    pub gate_config: Option<PathBuf>,
    /// How the desk and the kiosk tell a keyboard-wedge scanner from typing.
    pub wedge: WedgeSettings,
    /// Gate mode: the clock the lanes decide by (opening hours, passback).
    pub gate_clock: GateClock,
}

impl AppConfig {
    pub fn new(data_dir: PathBuf, mode: Mode) -> Self {
        Self {
            data_dir,
            mode,
            lang: Lang::Zh,
            devices: DeviceSetup::None,
            kiosk_idle_timeout: Duration::from_secs(45),
            gate_config: None,
            wedge: WedgeSettings::default(),
            gate_clock: GateClock::default(),
        }
    }
}

/// The clock a gate's lanes decide by: the system's, unless a test pins one.
#[derive(Clone)]
pub struct GateClock(pub Arc<dyn Clock>);

impl Default for GateClock {
    fn default() -> Self {
        Self(Arc::new(SystemClock))
    }
}

impl std::fmt::Debug for GateClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GateClock({})", self.0.now())
    }
}

/// Why the window could not run.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("cannot start the station worker or devices: {0}")]
    Start(#[from] std::io::Error),
    #[error("cannot start the gate lanes: {0}")]
    Gate(String),
    #[error("the window failed: {0}")]
    Window(String),
}

/// Opens the window and runs until it is closed.
pub fn run_native(config: AppConfig) -> Result<(), UiError> {
    let kiosk = config.mode == Mode::Kiosk;
    let mut viewport = eframe::egui::ViewportBuilder::default()
        .with_title("expo-kiosk")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([900.0, 600.0]);
    if kiosk {
        viewport = viewport.with_fullscreen(true).with_decorations(false);
    }
    let options = eframe::NativeOptions { viewport, ..Default::default() };
    // The app is built inside the creation callback (it needs the egui context to wake the
    // UI); a start failure is carried out of it here.
    let mut start_error = None;
    let result = eframe::run_native(
        "expo-kiosk",
        options,
        Box::new(|cc| {
            install_fonts(&cc.egui_ctx);
            let ctx = cc.egui_ctx.clone();
            match App::new(config, move || ctx.request_repaint()) {
                Ok(app) => Ok(Box::new(NativeApp(app)) as Box<dyn eframe::App>),
                Err(error) => {
                    let message = error.to_string();
                    start_error = Some(error);
                    Err(message.into())
                }
            }
        }),
    );
    if let Some(error) = start_error {
        return Err(error);
    }
    result.map_err(|e| UiError::Window(e.to_string()))
}

/// The eframe entry point around [`App`] (tests drive [`App::ui`] directly).
struct NativeApp(App);

impl eframe::App for NativeApp {
    fn ui(&mut self, ui: &mut eframe::egui::Ui, _frame: &mut eframe::Frame) {
        self.0.ui(ui);
        let ctx = ui.ctx();
        if self.0.wants_close() {
            ctx.send_viewport_cmd(eframe::egui::ViewportCommand::Close);
        } else if self.0.is_locked() && ctx.input(|i| i.viewport().close_requested()) {
            // A kiosk leaves only through the admin PIN, not through the window manager.
            ctx.send_viewport_cmd(eframe::egui::ViewportCommand::CancelClose);
        }
    }
}
