//! The app shell: language switch, login, mode routing, the status bar, and the dispatch of
//! worker responses to the screen that asked.

use std::sync::Arc;

use eframe::egui::{self, RichText};

use super::admin::Admin;
use super::desk::Desk;
use super::devices::{Devices, Link};
use super::gate::Gate;
use super::i18n::{Lang, Txt};
use super::kiosk::Kiosk;
use super::print_queue::PrintQueueWindow;
use super::widgets::{labelled_text, system_failure, Notice};
use super::{AppConfig, DeviceSetup, Mode, UiError};
use crate::operators::{Operator, Permission, Role};
use crate::station::{
    Failure, Request, Response, StationHandle, StationInfo, StatusSnapshot, SyncState,
};

/// Seconds between status-bar refreshes.
const STATUS_INTERVAL: f64 = 5.0;

/// What a screen sees of the shell.
pub(super) struct Shell<'a> {
    pub lang: Lang,
    pub station: &'a StationHandle,
    pub info: &'a StationInfo,
    pub operator: Option<&'a Operator>,
}

enum Loading {
    Waiting,
    Unavailable(String),
    Ready(StationInfo),
}

#[derive(Default)]
struct LoginForm {
    name: String,
    pin: String,
    notice: Option<Notice>,
    waiting: bool,
}

/// The whole app; [`App::ui`] draws one frame.
pub struct App {
    lang: Lang,
    mode: Mode,
    station: StationHandle,
    devices: Devices,
    loading: Loading,
    operator: Option<Operator>,
    login: LoginForm,
    status: StatusSnapshot,
    next_status_at: f64,
    print_queue: PrintQueueWindow,
    desk: Desk,
    kiosk: Kiosk,
    admin: Admin,
    gate: Gate,
    close: bool,
}

impl App {
    /// Starts the station worker and the devices; `wake` asks the UI for a new frame.
    pub fn new(config: AppConfig, wake: impl Fn() + Send + 'static) -> Result<Self, UiError> {
        let demo = matches!(config.devices, DeviceSetup::Demo);
        let devices = match &config.devices {
            DeviceSetup::None => Devices::none(),
            DeviceSetup::Ports(ports) => Devices::open(ports)?,
            DeviceSetup::Demo => Devices::demo()?,
        };
        let gate = match &config.gate_config {
            Some(path) if config.mode == Mode::Gate => {
                Gate::with_lanes(&config.data_dir, path, Arc::clone(&config.gate_clock.0))?
            }
            _ => Gate::default(),
        };
        let station = StationHandle::open(config.data_dir, wake)?;
        Ok(Self {
            lang: config.lang,
            mode: config.mode,
            station,
            devices,
            loading: Loading::Waiting,
            operator: None,
            login: LoginForm::default(),
            status: StatusSnapshot::default(),
            next_status_at: 0.0,
            print_queue: PrintQueueWindow::default(),
            desk: Desk::new(demo, config.wedge),
            kiosk: Kiosk::new(config.kiosk_idle_timeout, config.lang, config.wedge),
            admin: Admin::default(),
            gate,
            close: false,
        })
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The logged-in operator, if any.
    pub fn operator(&self) -> Option<&Operator> {
        self.operator.as_ref()
    }

    /// Whether the station worker has opened the store.
    pub fn is_ready(&self) -> bool {
        matches!(self.loading, Loading::Ready(_))
    }

    /// True once the app should close (a kiosk left with the admin PIN).
    pub fn wants_close(&self) -> bool {
        self.close
    }

    /// True while the window must not close on its own (kiosk mode).
    pub fn is_locked(&self) -> bool {
        self.mode == Mode::Kiosk
    }

    /// The desk screen's state, for tests.
    pub fn desk(&self) -> &Desk {
        &self.desk
    }

    /// The print-queue window's state, for tests.
    pub fn print_queue(&self) -> &PrintQueueWindow {
        &self.print_queue
    }

    /// The kiosk screen's state, for tests.
    pub fn kiosk(&self) -> &Kiosk {
        &self.kiosk
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        while let Some(response) = self.station.try_recv() {
            self.dispatch(response);
        }
        let now = ui.input(|i| i.time);
        if self.is_ready() && now >= self.next_status_at {
            self.next_status_at = now + STATUS_INTERVAL;
            self.station.send(Request::Status);
            self.station.devices().show(self.devices.report());
            if self.print_queue.is_open() {
                self.station.send(Request::PrintQueue);
            }
        }
        if self.devices.is_active() || self.mode == Mode::Kiosk || self.gate.runs_lanes() {
            // Devices and the kiosk's idle timer need frames even when nobody moves the mouse.
            ui.ctx().request_repaint_after(std::time::Duration::from_millis(100));
        }
        let inputs = self.devices.poll();

        let Loading::Ready(info) = &self.loading else {
            egui::CentralPanel::default().show(ui, |ui| {
                ui.heading(match &self.loading {
                    Loading::Unavailable(reason) => {
                        format!("{}: {reason}", Txt::StationUnavailable.get(self.lang))
                    }
                    _ => Txt::Loading.get(self.lang).to_owned(),
                });
            });
            return;
        };
        let shell = Shell {
            lang: self.lang,
            station: &self.station,
            info,
            operator: self.operator.as_ref(),
        };

        let mut logout = false;
        let mode_before = self.mode;
        if self.mode != Mode::Kiosk {
            egui::Panel::top("top").show(ui, |ui| {
                ui.horizontal(|ui| logout = top_bar(ui, &shell, &mut self.lang, &mut self.mode));
            });
        }
        if self.mode == Mode::Admin && mode_before != Mode::Admin {
            // Admin opened from the desk's button: its lists as fresh as after a login.
            self.admin.refresh(&self.station);
        }
        match (self.mode, self.operator.as_ref()) {
            (Mode::Kiosk, _) => {
                self.kiosk.show(ui, &shell, &mut self.lang, &mut self.devices, inputs);
                self.close = self.kiosk.exit_requested();
            }
            (Mode::Gate, _) => self.gate.show(ui, &shell, inputs),
            (_, None) => login_screen(ui, &shell, &mut self.login),
            (Mode::Desk, Some(_)) => {
                egui::Panel::bottom("status").show(ui, |ui| {
                    if status_bar(ui, self.lang, &self.status, &self.devices) {
                        self.print_queue.open(&self.station);
                    }
                });
                self.desk.show(ui, &shell, &mut self.devices, inputs);
                if self.print_queue.is_open() {
                    self.print_queue.show(ui.ctx(), self.lang, info.timezone, &self.station);
                }
            }
            (Mode::Admin, Some(_)) => self.admin.show(ui, &shell, &self.devices),
        }
        if logout {
            // Nothing of the last operator's work stays on screen for the next one.
            self.operator = None;
            self.desk.clear();
            self.print_queue.close();
            self.admin = Admin::default();
            self.station.send(Request::Logout);
        }
    }

    fn dispatch(&mut self, response: Response) {
        match response {
            Response::Ready(info) => {
                if self.mode == Mode::Kiosk {
                    self.station.send(Request::StartKiosk);
                }
                if !info.has_operators && self.mode != Mode::Kiosk {
                    self.login.notice = Some(Notice::error(Txt::NoOperators.get(self.lang)));
                }
                self.loading = Loading::Ready(info);
            }
            Response::EventChanged(info) => self.loading = Loading::Ready(info),
            Response::EventUpdated(info) => {
                self.loading = Loading::Ready(info);
                self.admin.on_event_updated(self.lang);
            }
            Response::Unavailable(reason) => self.loading = Loading::Unavailable(reason),
            Response::LoggedIn(operator) => self.logged_in(operator),
            Response::Status(status) => self.status = status,
            Response::PrintQueue(jobs) => self.print_queue.on_jobs(jobs),
            Response::Failed(failure @ (Failure::BadLogin | Failure::LockedOut { .. }))
                if self.mode != Mode::Kiosk =>
            {
                self.login.waiting = false;
                self.login.notice = Some(Notice::failure(self.lang, &failure));
            }
            other => {
                if matches!(
                    other,
                    Response::Printed { .. }
                        | Response::PrintJob(_)
                        | Response::Registered(_)
                        | Response::Revoked(_)
                ) {
                    // The counters and the open print queue show the change at once.
                    self.next_status_at = 0.0;
                }
                match self.mode {
                    Mode::Desk => self.desk.on_response(other, self.lang, &self.station),
                    Mode::Kiosk => {
                        // Nothing but `Ready` comes before the station is ready.
                        if let Loading::Ready(info) = &self.loading {
                            self.kiosk.on_response(other, self.lang, info, &self.station);
                        }
                    }
                    Mode::Admin => self.admin.on_response(other, self.lang),
                    Mode::Gate => self.gate.on_response(other),
                }
            }
        }
    }

    fn logged_in(&mut self, operator: Operator) {
        self.login = LoginForm::default();
        if self.mode == Mode::Kiosk {
            if operator.role != Role::Kiosk {
                // Someone left the kiosk with a PIN: only an admin may.
                let is_admin = operator.role == Role::Admin;
                self.kiosk.on_staff_login(is_admin);
                if !is_admin {
                    self.station.send(Request::StartKiosk);
                }
            }
            return;
        }
        let needed =
            if self.mode == Mode::Admin { Permission::ViewAudit } else { Permission::Search };
        if !operator.can(needed) {
            self.login.notice = Some(Notice::failure(self.lang, &Failure::Forbidden(needed)));
            self.station.send(Request::Logout);
            return;
        }
        if self.mode == Mode::Admin {
            self.admin.refresh(&self.station);
        }
        self.operator = Some(operator);
    }
}

/// Title, language and operator; true when the operator logs out.
fn top_bar(ui: &mut egui::Ui, shell: &Shell<'_>, lang: &mut Lang, mode: &mut Mode) -> bool {
    let info = shell.info;
    ui.heading(shell.lang.pick(&info.event_name, &info.event_name_en));
    ui.label(RichText::new(mode.title().get(shell.lang)).strong());
    ui.separator();
    language_switch(ui, lang, RichText::new);
    if let Some(operator) = shell.operator {
        ui.separator();
        ui.label(format!(
            "{}: {} ({})",
            Txt::LoggedInAs.get(shell.lang),
            operator.name,
            operator.role
        ));
        if operator.can(Permission::ViewAudit) && matches!(*mode, Mode::Desk | Mode::Admin) {
            let other = if *mode == Mode::Desk { Mode::Admin } else { Mode::Desk };
            if ui.button(other.title().get(shell.lang)).clicked() {
                *mode = other;
            }
        }
        return ui.button(Txt::LogOut.get(shell.lang)).clicked();
    }
    false
}

/// The 中文 / English switch. Switching gives the keyboard back to the field that had it
/// (the click took it away): half a name typed at login goes on where it was.
/// `style` dresses each language's name (the kiosk's are large).
pub(super) fn language_switch(
    ui: &mut egui::Ui,
    lang: &mut Lang,
    style: impl Fn(&'static str) -> RichText,
) {
    let remembered = egui::Id::unique("focus before the language switch");
    let give_back = egui::Id::unique("focus to give back after the language switch");
    // A frame after the click: the field has let the focus go by then (the press was
    // outside it), and takes it back.
    if let Some(field) = ui.data(|d| d.get_temp::<egui::Id>(give_back)) {
        ui.data_mut(|d| d.remove::<egui::Id>(give_back));
        ui.memory_mut(|m| m.request_focus(field));
    }
    // Remembered while no button is pressed: the press and release of a click move the
    // focus before the click counts.
    let clicking = ui.input(|i| i.pointer.any_down() || i.pointer.any_released());
    if let (false, Some(focused)) = (clicking, ui.memory(|m| m.focused())) {
        ui.data_mut(|d| d.insert_temp(remembered, focused));
    }
    for choice in [Lang::Zh, Lang::En] {
        let name = style(choice.native_name());
        if ui.add(egui::Button::selectable(*lang == choice, name)).clicked() {
            *lang = choice;
            if let Some(field) = ui.data(|d| d.get_temp::<egui::Id>(remembered)) {
                ui.data_mut(|d| d.insert_temp(give_back, field));
                ui.ctx().request_repaint();
            }
        }
    }
}

fn login_screen(ui: &mut egui::Ui, shell: &Shell<'_>, form: &mut LoginForm) {
    let lang = shell.lang;
    egui::CentralPanel::default().show(ui, |ui| {
        ui.add_space(60.0);
        ui.vertical_centered(|ui| {
            ui.heading(Txt::LoginTitle.get(lang));
            ui.add_space(12.0);
            let name = labelled_text(ui, Txt::OperatorName.get(lang), &mut form.name, false);
            if form.name.is_empty() && !name.has_focus() {
                name.request_focus();
            }
            let pin = labelled_text(ui, Txt::Pin.get(lang), &mut form.pin, true);
            let submitted = pin.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            ui.add_space(8.0);
            let clicked =
                ui.add_enabled(!form.waiting, egui::Button::new(Txt::LogIn.get(lang))).clicked();
            if (clicked || submitted) && !form.waiting {
                form.waiting = true;
                form.notice = None;
                shell.station.send(Request::Login {
                    name: form.name.clone(),
                    pin: std::mem::take(&mut form.pin),
                });
            }
            if let Some(notice) = &form.notice {
                notice.show(ui);
            }
        });
    });
}

/// A device's link in words, for the status bar and the Devices tab.
pub(super) fn link_text(link: Link, lang: Lang) -> &'static str {
    match link {
        Link::Connected => Txt::Connected.get(lang),
        Link::Disconnected => Txt::Disconnected.get(lang),
        Link::NotConfigured => Txt::NotConfigured.get(lang),
    }
}

/// The status bar; true when the operator asks for the print queue.
fn status_bar(ui: &mut egui::Ui, lang: Lang, status: &StatusSnapshot, devices: &Devices) -> bool {
    let link = |link: Link| link_text(link, lang);
    let mut open_queue = false;
    // Wrapped: in English the whole bar is wider than a 1280-point screen; each item moves
    // to the next line whole.
    ui.horizontal_wrapped(|ui| {
        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
        let printer = status.printer.as_deref().unwrap_or(Txt::PrinterNotConfigured.get(lang));
        ui.label(format!("{}: {printer}", Txt::Printer.get(lang)));
        let jobs = status.print_jobs;
        let queue = two_counts(
            lang,
            Txt::PrintQueue,
            (jobs.waiting, Txt::PrintWaiting),
            (jobs.failed, Txt::PrintFailedCount),
        );
        let queue = if jobs.failed > 0 {
            RichText::new(queue).color(egui::Color32::from_rgb(230, 80, 70)).strong()
        } else {
            RichText::new(queue)
        };
        open_queue = ui.button(queue).clicked();
        ui.separator();
        ui.label(format!("{}: {}", Txt::Scanner.get(lang), link(devices.scanner_link())));
        ui.separator();
        ui.label(format!("{}: {}", Txt::IdReader.get(lang), link(devices.id_reader_link())));
        ui.separator();
        ui.label(format!("{}: {}", Txt::Camera.get(lang), link(devices.camera_link())));
        ui.separator();
        ui.label(format!("{}: {}", Txt::SyncPending.get(lang), status.pending_sync));
        ui.separator();
        let sync = match &status.sync {
            SyncState::NotEnrolled => Txt::SyncNotEnrolled.get(lang).to_owned(),
            SyncState::Unavailable(reason) => system_failure(lang, Txt::Failed, reason),
            SyncState::Enrolled { last_success, last_error } => {
                let last = last_success.as_deref().unwrap_or("—");
                match last_error {
                    Some(error) => format!("{last} · {}", system_failure(lang, Txt::Failed, error)),
                    None => last.to_owned(),
                }
            }
        };
        ui.label(format!("{}: {sync}", Txt::LastSync.get(lang)));
        ui.separator();
        ui.label(two_counts(
            lang,
            Txt::Today,
            (status.registered_today, Txt::RegisteredCount),
            (status.printed_today, Txt::PrintedCount),
        ));
    });
    open_queue
}

/// "Today: 3 registered · 2 printed".
fn two_counts(lang: Lang, title: Txt, first: (u64, Txt), second: (u64, Txt)) -> String {
    format!(
        "{}: {} {} · {} {}",
        title.get(lang),
        first.0,
        first.1.get(lang),
        second.0,
        second.1.get(lang)
    )
}
