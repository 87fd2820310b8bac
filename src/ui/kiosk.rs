//! The self-service kiosk: welcome with a language choice, scan a confirmation QR or place an
//! ID card, confirm masked details, print. An ID card that matches nobody is registered here
//! when the event names a category for kiosk walk-ins: the visitor sees their card's details
//! (the ID number masked), types a mobile phone and what the category requires, and the
//! badge prints. Errors are plain words with a reason code for staff. After a while without
//! a touch it returns to the welcome screen and forgets the visitor. It has no search, never
//! shows another attendee's data, and only an admin PIN leaves it.

use std::time::Duration;

use eframe::egui::{self, RichText};
use expo_hardware::scanner::{Key as WedgeKey, WedgeDetector, WedgeSettings, WedgeVerdict};

use super::app::{language_switch, Shell};
use super::desk::category_label;
use super::devices::{DeviceInput, Devices};
use super::i18n::{field_label, Lang, Txt};
use super::icons::{self, Icon};
use super::widgets::{
    demo_card_buttons, edit_at_caret, failure_text, field_error, labelled_text, Caret, Notice,
};
use crate::badges::queue::{JobId, JobStatus};
use crate::domain::attendee::{mask_name, mask_phone};
use crate::domain::{id_document, AttendeeId, FieldError, NewAttendee};
use crate::station::{
    AttendeeView, CardIdentity, CategoryChoice, DuplicateOf, Failure, Request, Response,
    StationHandle, StationInfo,
};

/// How long the "take your badge" and error screens stay before the welcome screen.
const RESULT_SCREEN_SECONDS: f64 = 10.0;
/// Longest a visitor waits for the badge before being sent to the desk.
const PRINT_WAIT_SECONDS: f64 = 60.0;

/// Room kept at the bottom of the screen for the staff exit's button.
const STAFF_EXIT_HEIGHT: f32 = 48.0;

/// An ID card nobody holds, on an event whose kiosks do not register walk-ins.
const NO_REGISTRATION: &str = "E-NOREG";
/// A visitor whose badge was printed already: a second one is a reprint, at the desk.
const ALREADY_COLLECTED: &str = "E-COLLECTED";
/// How long before the idle reset the kiosk asks whether the visitor is still there.
const STILL_THERE_SECONDS: f64 = 15.0;

/// What a walk-in may type at a kiosk, in the form's order: the phone always (the domain's
/// self-service rule), the others when the category requires them. Name, ID number and
/// category are the card's and the event's, not the visitor's to change.
const VISITOR_FIELDS: [&str; 5] = ["phone", "company", "title", "email", "country"];

/// What a visitor confirms: only masked forms of their data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskedDetails {
    attendee: AttendeeId,
    pub name: String,
    pub company: String,
    pub category: String,
    pub phone: String,
    pub id_number: String,
}

impl MaskedDetails {
    fn of(view: &AttendeeView) -> Self {
        Self {
            attendee: view.id,
            name: mask_name(&view.name),
            company: view.company.clone(),
            category: view.category.clone(),
            phone: mask_phone(&view.phone),
            id_number: view.id_masked.clone().unwrap_or_default(),
        }
    }
}

/// Where the visitor is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KioskStep {
    Welcome,
    Looking,
    Confirm(MaskedDetails),
    /// An ID card nobody holds, registered here; the form is the kiosk's `walk_in`.
    Register,
    Printing,
    Done,
    SeeDesk {
        code: String,
    },
}

/// A walk-in registering from their ID card. Not `Debug`: it holds the card's number.
struct WalkIn {
    card: CardIdentity,
    /// What is saved: the card's identity in the event's kiosk category, and what the
    /// visitor typed.
    input: NewAttendee,
    /// The `VISITOR_FIELDS` this category asks for.
    fields: Vec<&'static str>,
    errors: Vec<FieldError>,
    /// A check or save is on its way to the station: the form waits for its answer.
    waiting: bool,
    /// The field the on-screen keypad types into: the phone first, then the last touched.
    active: &'static str,
    /// The cursor goes (back) to the active field: when the form opens, and after each key
    /// of the keypad, whose touch took it away.
    focus_active: bool,
    /// The keypad's letters are capitals.
    capitals: bool,
}

impl WalkIn {
    fn new(card: CardIdentity, category: &CategoryChoice) -> Self {
        let input = NewAttendee { category: category.id.clone(), ..card.to_input() };
        let fields = VISITOR_FIELDS
            .into_iter()
            .filter(|field| *field == "phone" || category.required.iter().any(|r| r == field))
            .collect();
        Self {
            card,
            input,
            fields,
            errors: Vec::new(),
            waiting: false,
            active: "phone",
            focus_active: true,
            capitals: false,
        }
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }
}

#[derive(Default)]
struct StaffExit {
    name: String,
    pin: String,
    notice: Option<Notice>,
}

pub struct Kiosk {
    idle_timeout: Duration,
    /// The language the welcome screen greets each visitor in.
    home_lang: Lang,
    step: KioskStep,
    step_since: f64,
    last_activity: f64,
    wedge: WedgeDetector,
    staff: Option<StaffExit>,
    exit: bool,
    /// The visitor's badge in the print queue: "take your badge" only once it went out.
    print_job: Option<JobId>,
    /// The walk-in being registered, while the step is `Register`.
    walk_in: Option<WalkIn>,
    /// The "still there?" question is on screen.
    asking_still_there: bool,
}

impl Kiosk {
    pub fn new(idle_timeout: Duration, home_lang: Lang, wedge: WedgeSettings) -> Self {
        Self {
            idle_timeout,
            home_lang,
            step: KioskStep::Welcome,
            step_since: 0.0,
            last_activity: 0.0,
            wedge: WedgeDetector::new(wedge),
            staff: None,
            exit: false,
            print_job: None,
            walk_in: None,
            asking_still_there: false,
        }
    }

    pub fn step(&self) -> &KioskStep {
        &self.step
    }

    /// Whether a walk-in's form (and with it their card's data) is held.
    pub fn has_walk_in_form(&self) -> bool {
        self.walk_in.is_some()
    }

    /// True once an admin entered their PIN to leave the kiosk.
    pub fn exit_requested(&self) -> bool {
        self.exit
    }

    fn go(&mut self, step: KioskStep) {
        if step != KioskStep::Printing {
            // Whatever the queue says later is no longer this screen's business.
            self.print_job = None;
        }
        if step != KioskStep::Register {
            // Saved or given up: the card's data goes with the form.
            self.walk_in = None;
        }
        self.asking_still_there = false;
        self.step = step;
        // Set from the frame clock on the next frame (responses arrive between frames).
        self.step_since = f64::NAN;
    }

    pub fn on_response(
        &mut self,
        response: Response,
        lang: Lang,
        info: &StationInfo,
        station: &StationHandle,
    ) {
        match response {
            Response::Opened(view) => {
                if view.is_revoked() {
                    self.go(KioskStep::SeeDesk {
                        code: Failure::Revoked(String::new()).reason_code(),
                    });
                } else if view.active_badge().is_some() {
                    // Said before the confirm step, not as a printer fault after it.
                    self.go(KioskStep::SeeDesk { code: ALREADY_COLLECTED.into() });
                } else {
                    self.go(KioskStep::Confirm(MaskedDetails::of(&view)));
                }
            }
            Response::NotFound { .. } => {
                self.go(KioskStep::SeeDesk { code: Failure::NotFound.reason_code() })
            }
            Response::BadgeRefused { reason, .. } => {
                self.go(KioskStep::SeeDesk { code: Failure::InvalidBadge(reason).reason_code() })
            }
            Response::WalkInFromCard(card) => {
                let category = info
                    .kiosk_walk_in_category
                    .as_ref()
                    .and_then(|id| info.categories.iter().find(|c| c.id == *id));
                match category {
                    Some(category) => {
                        self.walk_in = Some(WalkIn::new(card, category));
                        self.go(KioskStep::Register);
                    }
                    // The organiser has walk-ins registered at a desk.
                    None => self.go(KioskStep::SeeDesk { code: NO_REGISTRATION.into() }),
                }
            }
            // Only the answer to this form's question: its visitor may have gone since.
            Response::WalkInChecked { input, errors, duplicates }
                if self.walk_in.as_ref().is_some_and(|w| w.waiting && w.input == input) =>
            {
                if !duplicates.is_empty() {
                    // Someone holds this phone under a similar name, or this ID number:
                    // staff sort it out, and the screen shows nobody else's record.
                    let code = Failure::Duplicate(DuplicateOf::IdDocument).reason_code();
                    self.go(KioskStep::SeeDesk { code });
                } else if errors.is_empty() {
                    station.send(Request::Register(input));
                } else {
                    self.form_errors(errors);
                }
            }
            Response::Registered(view) if self.step == KioskStep::Register => {
                self.go(KioskStep::Printing);
                station.send(Request::Print { attendee: view.id, reprint_reason: None });
            }
            Response::Failed(Failure::Invalid(errors)) if self.step == KioskStep::Register => {
                self.form_errors(errors)
            }
            Response::Printed { job, .. } => self.print_job = Some(job),
            Response::PrintJob(job) if self.print_job == Some(job.id) => {
                let went_out = matches!(job.status, JobStatus::Sent | JobStatus::Printed);
                // A printer that failed even once needs staff (a retry may still print
                // the badge; staff find it at the printer).
                let needs_staff = job.status == JobStatus::Failed
                    || (job.status == JobStatus::Queued && job.attempts > 0);
                if went_out {
                    self.go(KioskStep::Done);
                } else if needs_staff {
                    let code = Failure::PRINTING_CODE.to_owned();
                    self.go(KioskStep::SeeDesk { code });
                }
            }
            Response::Failed(failure @ (Failure::BadLogin | Failure::LockedOut { .. }))
                if self.staff.is_some() =>
            {
                if let Some(staff) = &mut self.staff {
                    // E-LOCKED with the wait, in words.
                    let text =
                        format!("{} · {}", failure_text(lang, &failure), failure.reason_code());
                    staff.notice = Some(Notice::error(text));
                }
            }
            Response::Failed(failure) => {
                self.go(KioskStep::SeeDesk { code: failure.reason_code() })
            }
            _ => {}
        }
    }

    /// Problems of the walk-in's form: next to the fields the visitor can fix, otherwise
    /// (the card's own data, the event's policy) a case for the desk.
    fn form_errors(&mut self, errors: Vec<FieldError>) {
        let Some(walk_in) = &mut self.walk_in else { return };
        if errors.iter().all(|error| walk_in.fields.contains(&error.field)) {
            walk_in.errors = errors;
            walk_in.waiting = false;
        } else {
            self.go(KioskStep::SeeDesk { code: Failure::Invalid(Vec::new()).reason_code() });
        }
    }

    /// An operator logged in through the staff exit.
    pub fn on_staff_login(&mut self, is_admin: bool) {
        if is_admin {
            self.exit = true;
        } else if let Some(staff) = &mut self.staff {
            staff.notice = Some(Notice::error(
                Failure::Forbidden(crate::operators::Permission::ManageEvent).reason_code(),
            ));
        }
    }

    pub(super) fn show(
        &mut self,
        ui: &mut egui::Ui,
        shell: &Shell<'_>,
        lang: &mut Lang,
        devices: &mut Devices,
        inputs: Vec<DeviceInput>,
    ) {
        let now = ui.input(|i| i.time);
        let was_welcome = self.step == KioskStep::Welcome;
        if self.step_since.is_nan() {
            self.step_since = now;
        }
        if ui.input(|i| !i.events.is_empty() || i.pointer.any_down()) {
            self.last_activity = now;
        }
        // A visitor waiting for the printer does not touch the screen: printing has its own
        // limit instead of the idle timeout.
        let printing = self.step == KioskStep::Printing;
        // Idle counts from the last touch or the last change of screen, whichever is later.
        let quiet_since = self.last_activity.max(self.step_since);
        let idle_left = self.idle_timeout.as_secs_f64() - (now - quiet_since);
        let idle = !printing && idle_left < 0.0;
        // A visitor filling in or checking their details is asked before they are forgotten.
        let still_there = !printing
            && matches!(self.step, KioskStep::Confirm(_) | KioskStep::Register)
            && idle_left < STILL_THERE_SECONDS.min(self.idle_timeout.as_secs_f64() / 2.0);
        let result_shown = matches!(self.step, KioskStep::Done | KioskStep::SeeDesk { .. })
            && now - self.step_since > RESULT_SCREEN_SECONDS;
        if printing && now - self.step_since > PRINT_WAIT_SECONDS {
            let code = Failure::PRINTING_CODE.to_owned();
            self.go(KioskStep::SeeDesk { code });
        } else if self.step != KioskStep::Welcome && (idle || result_shown) {
            self.reset(now);
        }
        // A walk-in's keys go to their form, and a staff member's to the PIN form.
        if self.staff.is_none() && self.step != KioskStep::Register {
            self.take_scans(ui, shell, inputs, now);
        }
        if let Some(simulators) = devices.simulators() {
            // `expo-kiosk demo --kiosk`: the simulated reader's cards beside the screen.
            egui::Panel::right("demo").show(ui, |ui| {
                ui.heading(Txt::DemoPanel.get(*lang));
                demo_card_buttons(ui, *lang, simulators);
            });
        }
        if self.step == KioskStep::Register {
            let start_over = egui::Panel::right("keypad")
                .exact_size(KEYPAD_WIDTH)
                .resizable(false)
                .show(ui, |ui| {
                    self.keypad(ui, *lang);
                    // Under the keypad, a column away from Save and always on screen: a
                    // slip of the finger must not throw the form away, and a long form
                    // must not hide it.
                    ui.with_layout(egui::Layout::bottom_up(egui::Align::Min), |ui| {
                        ui.add_space(12.0);
                        ui.spacing_mut().button_padding = egui::vec2(28.0, 14.0);
                        ui.button(RichText::new(Txt::StartOver.get(*lang)).size(24.0)).clicked()
                    })
                    .inner
                });
            if start_over.inner {
                self.reset(now);
            }
        }
        egui::CentralPanel::default().show(ui, |ui| {
            ui.style_mut().spacing.button_padding = egui::vec2(28.0, 18.0);
            ui.vertical_centered(|ui| {
                // A long form starts at the top and scrolls; every other screen is read
                // from a distance, in the middle of the screen's height.
                let centred = self.step != KioskStep::Register;
                let top = if centred { centred_top(ui) } else { 40.0 };
                ui.add_space(top);
                let content_top = ui.cursor().top();
                match self.step.clone() {
                    KioskStep::Welcome => {
                        self.welcome(ui, shell, lang);
                        devices.camera_preview(ui, *lang);
                    }
                    KioskStep::Looking | KioskStep::Printing => {
                        big(ui, Icon::Printer, Txt::KioskPrinting.get(*lang));
                        ui.spinner();
                    }
                    KioskStep::Confirm(details) => self.confirm(ui, shell, *lang, &details),
                    KioskStep::Register => {
                        // A category that requires much makes a long form: it scrolls, and
                        // leaves the staff exit its corner.
                        let height = ui.available_height() - STAFF_EXIT_HEIGHT;
                        egui::ScrollArea::vertical()
                            .max_height(height)
                            .show(ui, |ui| self.register(ui, shell, *lang));
                    }
                    KioskStep::Done => big(ui, Icon::Done, Txt::KioskDone.get(*lang)),
                    KioskStep::SeeDesk { code } => {
                        big(ui, Icon::Warning, plain_refusal(&code).get(*lang));
                        ui.label(
                            RichText::new(format!("{}: {code}", Txt::ReasonCode.get(*lang)))
                                .size(22.0),
                        );
                        ui.add_space(20.0);
                        if ui.button(RichText::new(Txt::StartOver.get(*lang)).size(26.0)).clicked()
                        {
                            self.reset(now);
                        }
                    }
                }
                if centred {
                    remember_height(ui, ui.min_rect().bottom() - content_top);
                }
            });
        });
        // Asked until answered: the question stays over the screen while the answering
        // touch is pressed and released, so the touch does not land on what is beneath.
        self.asking_still_there |= still_there && !idle;
        if self.asking_still_there && self.still_there(ui, *lang, idle_left) {
            self.asking_still_there = false;
        }
        if self.step == KioskStep::Welcome && (!was_welcome || idle) {
            // The next visitor finds the kiosk in its own language, not the last one's
            // (nor that of one who only switched it and walked away).
            *lang = self.home_lang;
        }
        // Over the screen's bottom-right corner, laid out top-down like any form.
        egui::Area::new(egui::Id::unique("kiosk staff exit"))
            .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -12.0])
            .show(ui.ctx(), |ui| self.staff_exit(ui, shell, *lang));
    }

    /// Asks a visitor who stopped touching the screen whether they are still there, with the
    /// seconds left before their details are forgotten. Any touch (the button too) answers.
    fn still_there(&mut self, ui: &mut egui::Ui, lang: Lang, seconds_left: f64) -> bool {
        let modal = egui::Modal::new(egui::Id::unique("kiosk still there")).show(ui.ctx(), |ui| {
            ui.set_width(560.0);
            ui.vertical_centered(|ui| {
                ui.label(RichText::new(Txt::KioskStillThere.get(lang)).size(34.0).strong());
                ui.add_space(12.0);
                let left = format!(
                    "{} {:.0} {}",
                    Txt::KioskResetIn.get(lang),
                    seconds_left.max(0.0).ceil(),
                    Txt::KioskResetSeconds.get(lang)
                );
                ui.label(RichText::new(left).size(24.0));
                ui.add_space(20.0);
                ui.spacing_mut().button_padding = egui::vec2(28.0, 18.0);
                ui.button(RichText::new(Txt::KioskStillHere.get(lang)).size(30.0)).clicked()
            })
            .inner
        });
        // The button, or a touch anywhere once it is lifted, answers.
        modal.inner || ui.input(|i| i.pointer.any_released())
    }

    /// Back to the welcome screen, forgetting the visitor.
    fn reset(&mut self, now: f64) {
        self.asking_still_there = false;
        self.step = KioskStep::Welcome;
        self.step_since = now;
        self.staff = None;
        self.walk_in = None;
    }

    /// Scanner codes and keyboard-wedge bursts are scans; a kiosk has no text input.
    fn take_scans(
        &mut self,
        ui: &mut egui::Ui,
        shell: &Shell<'_>,
        inputs: Vec<DeviceInput>,
        now: f64,
    ) {
        let at = Duration::from_secs_f64(now);
        let mut codes = Vec::new();
        ui.input_mut(|input| {
            input.events.retain(|event| {
                let verdicts: Vec<WedgeVerdict> = match event {
                    egui::Event::Text(text) => {
                        text.chars().map(|c| self.wedge.feed(WedgeKey::Char(c), at)).collect()
                    }
                    egui::Event::Key { key: egui::Key::Enter, pressed: true, .. } => {
                        vec![self.wedge.feed(WedgeKey::Enter, at)]
                    }
                    _ => return true,
                };
                codes.extend(verdicts.into_iter().filter_map(|v| match v {
                    WedgeVerdict::Scan(code) => Some(code),
                    WedgeVerdict::Pending | WedgeVerdict::Typed(_) => None,
                }));
                false
            });
        });
        // Typed keys are not a scan and have nowhere to go on a kiosk.
        let _released = self.wedge.idle(at);
        for input in inputs {
            match input {
                DeviceInput::Scan(code) => codes.push(code),
                DeviceInput::Card(card) if self.step == KioskStep::Welcome => {
                    self.go(KioskStep::Looking);
                    shell.station.send(Request::IdCard(card));
                }
                DeviceInput::Card(_) => {}
                DeviceInput::CardError(_) => self.go(KioskStep::SeeDesk { code: "E-CARD".into() }),
            }
        }
        if let Some(code) = codes.pop().filter(|_| self.step == KioskStep::Welcome) {
            self.go(KioskStep::Looking);
            shell.station.send(Request::Scan(code));
        }
    }

    fn welcome(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>, lang: &mut Lang) {
        ui.heading(
            RichText::new(shell.lang.pick(&shell.info.event_name, &shell.info.event_name_en))
                .size(40.0),
        );
        ui.add_space(12.0);
        big(ui, Icon::Badge, Txt::KioskWelcome.get(*lang));
        ui.horizontal(|ui| {
            // Centred: the two buttons are about 270 points wide together.
            ui.add_space(ui.available_width() / 2.0 - 135.0);
            language_switch(ui, lang, |name| RichText::new(name).size(32.0));
        });
        ui.add_space(30.0);
        big(ui, Icon::ScanOrCard, Txt::KioskInstruction.get(*lang));
        // Said before any card is read: what is read, why, and for how long it is kept.
        ui.add_space(20.0);
        ui.vertical_centered(|ui| ui.label(RichText::new(Txt::KioskPrivacy.get(*lang)).size(18.0)));
    }

    fn confirm(
        &mut self,
        ui: &mut egui::Ui,
        shell: &Shell<'_>,
        lang: Lang,
        details: &MaskedDetails,
    ) {
        big(ui, Icon::Person, Txt::KioskConfirmTitle.get(lang));
        centred_column(ui, CONFIRM_WIDTH, |ui| {
            let category = category_label(shell.info, lang, &details.category);
            detail_rows(
                ui,
                "confirm",
                lang,
                [
                    (Txt::Name, details.name.as_str()),
                    (Txt::Company, &details.company),
                    (Txt::Category, &category),
                    (Txt::Phone, &details.phone),
                    (Txt::IdNumber, &details.id_number),
                ],
            );
        });
        ui.add_space(30.0);
        if ui.button(RichText::new(Txt::KioskPrint.get(lang)).size(30.0)).clicked() {
            self.go(KioskStep::Printing);
            shell.station.send(Request::Print { attendee: details.attendee, reprint_reason: None });
        }
        ui.add_space(16.0);
        if ui.button(RichText::new(Txt::KioskNotMe.get(lang)).size(22.0)).clicked() {
            self.go(KioskStep::SeeDesk { code: "E-NOTME".into() });
        }
    }

    /// The walk-in's form: their card's details, the fields to type with plain-words
    /// problems under each, and Save, which checks (duplicates too), registers and prints.
    fn register(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>, lang: Lang) {
        let Some(walk_in) = &mut self.walk_in else { return };
        big(ui, Icon::NewPerson, Txt::KioskRegisterTitle.get(lang));
        ui.label(RichText::new(Txt::KioskFromCard.get(lang)).size(22.0));
        let enabled = !walk_in.waiting;
        centred_column(ui, FORM_WIDTH, |ui| {
            // The visitor is the card's holder: their own name in full, the number masked
            // for whoever stands behind them.
            let card = &walk_in.card;
            let masked = id_document::mask(&card.id_number);
            // A foreign permanent residence card's two names, both kept: SMITH, JOHN 史密斯.
            let name = format!("{} {}", card.name, card.chinese_name);
            detail_rows(
                ui,
                "walk-in-card",
                lang,
                [
                    (Txt::Name, name.trim_end()),
                    (Txt::Gender, &card.gender),
                    (Txt::BirthDate, &card.birth_date),
                    (Txt::IdNumber, &masked),
                ],
            );
            ui.add_space(20.0);
            // Narrower beside the keypad (and a demo panel): the fields and their problems
            // end inside the column, not cut off at its edge.
            let field_width = (ui.available_width() - LABEL_ROOM).clamp(200.0, FIELD_WIDTH);
            egui::Grid::new("walk-in-fields").num_columns(2).spacing([24.0, 8.0]).show(ui, |ui| {
                for field in walk_in.fields.clone() {
                    let label = ui.label(RichText::new(field_label(field).get(lang)).size(26.0));
                    let Some(value) = walk_in.input.text_mut(field) else { continue };
                    let edit = egui::TextEdit::singleline(value)
                        .id(field_id(field))
                        .font(egui::FontId::proportional(30.0))
                        .margin(egui::vec2(12.0, 12.0))
                        .desired_width(field_width);
                    let response = ui.add_enabled(enabled, edit).labelled_by(label.id);
                    if response.gained_focus() {
                        walk_in.active = field;
                    }
                    if field == walk_in.active && std::mem::take(&mut walk_in.focus_active) {
                        response.request_focus();
                    }
                    if response.changed() {
                        // The problem was about what the visitor just changed: it goes at once,
                        // before the buttons below move under a finger on its way to Save.
                        walk_in.errors.retain(|e| e.field != field);
                    }
                    ui.end_row();
                    if walk_in.has_error(field) {
                        let problem = plain_problem(field).get(lang);
                        ui.label("");
                        ui.scope(|ui| {
                            // Wrapped under its field, not cut off at the screen's edge.
                            ui.set_max_width(field_width);
                            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Wrap);
                            ui.style_mut().override_font_id =
                                Some(egui::FontId::proportional(22.0));
                            field_error(ui, Some(problem));
                        });
                        ui.end_row();
                    }
                }
            });
        });
        ui.add_space(12.0);
        ui.add_enabled_ui(enabled, |ui| {
            // A box a fingertip can hit.
            ui.spacing_mut().icon_width = 32.0;
            ui.spacing_mut().icon_width_inner = 20.0;
            ui.checkbox(
                &mut walk_in.input.consent,
                RichText::new(Txt::Consent.get(lang)).size(24.0),
            );
        });
        ui.add_space(24.0);
        let save = egui::Button::new(RichText::new(Txt::KioskRegisterSave.get(lang)).size(30.0));
        if ui.add_enabled(enabled, save).clicked() {
            walk_in.waiting = true;
            shell.station.send(Request::CheckWalkIn(walk_in.input.clone()));
        }
        if walk_in.waiting {
            ui.spinner();
        }
    }

    /// The on-screen keypad for a touch-only kiosk, typing into the active field at its
    /// caret: digits and + for the phone, Latin letters, digits and e-mail signs for the
    /// others (a Chinese name comes from the ID card, not from typing).
    fn keypad(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let Some(walk_in) = &mut self.walk_in else { return };
        let field = walk_in.active;
        let mut edits = Vec::new();
        ui.add_enabled_ui(!walk_in.waiting, |ui| {
            ui.spacing_mut().item_spacing = egui::vec2(KEY_GAP, KEY_GAP);
            ui.add_space(40.0);
            let typing_into =
                format!("{}: {}", Txt::KeypadTypingInto.get(lang), field_label(field).get(lang));
            ui.label(RichText::new(typing_into).size(26.0).strong());
            ui.add_space(8.0);
            let key = |ui: &mut egui::Ui, text: &str, width: f32| {
                let button = egui::Button::new(RichText::new(text).size(28.0))
                    .min_size(egui::vec2(width, KEY_HEIGHT));
                ui.add(button).clicked()
            };
            if field == "phone" {
                for row in ["123", "456", "789", "+0"] {
                    ui.horizontal(|ui| {
                        for c in row.chars() {
                            if key(ui, &c.to_string(), PHONE_KEY_WIDTH) {
                                edits.push(KeypadKey::Char(c));
                            }
                        }
                        if row == "+0" && key(ui, Txt::KeyBackspace.get(lang), PHONE_KEY_WIDTH) {
                            edits.push(KeypadKey::Backspace);
                        }
                    });
                }
                return;
            }
            for row in ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"] {
                ui.horizontal(|ui| {
                    for c in row.chars() {
                        let c = if walk_in.capitals { c.to_ascii_uppercase() } else { c };
                        if key(ui, &c.to_string(), KEY_WIDTH) {
                            edits.push(KeypadKey::Char(c));
                        }
                    }
                });
            }
            ui.horizontal(|ui| {
                let shift = egui::Button::selectable(
                    walk_in.capitals,
                    RichText::new(Txt::KeyCapitals.get(lang)).size(24.0),
                )
                .min_size(egui::vec2(KEY_WIDTH * 2.0, KEY_HEIGHT));
                if ui.add(shift).clicked() {
                    walk_in.capitals = !walk_in.capitals;
                }
                for c in "@.-_".chars() {
                    if key(ui, &c.to_string(), KEY_WIDTH) {
                        edits.push(KeypadKey::Char(c));
                    }
                }
                if key(ui, Txt::KeySpace.get(lang), KEY_WIDTH * 2.0) {
                    edits.push(KeypadKey::Char(' '));
                }
            });
            if key(ui, Txt::KeyBackspace.get(lang), KEY_WIDTH * 3.0) {
                edits.push(KeypadKey::Backspace);
            }
        });
        let Some(value) = walk_in.input.text_mut(field) else { return };
        for edit in &edits {
            let mut buffer = [0; 4];
            let edit = match edit {
                KeypadKey::Char(c) => Caret::Type(c.encode_utf8(&mut buffer)),
                KeypadKey::Backspace => Caret::Backspace,
            };
            edit_at_caret(ui.ctx(), field_id(field), value, edit);
        }
        if !edits.is_empty() {
            walk_in.errors.retain(|e| e.field != field);
            walk_in.focus_active = true;
        }
    }

    fn staff_exit(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>, lang: Lang) {
        let Some(staff) = &mut self.staff else {
            if ui.small_button(Txt::StaffExit.get(lang)).clicked() {
                self.staff = Some(StaffExit::default());
            }
            return;
        };
        let mut cancel = false;
        egui::Frame::window(ui.style()).show(ui, |ui| {
            ui.set_width(280.0);
            ui.label(egui::RichText::new(Txt::AdminPinTitle.get(lang)).strong());
            labelled_text(ui, Txt::OperatorName.get(lang), &mut staff.name, false);
            labelled_text(ui, Txt::Pin.get(lang), &mut staff.pin, true);
            ui.horizontal(|ui| {
                if ui.button(Txt::Exit.get(lang)).clicked() {
                    shell.station.send(Request::Login {
                        name: staff.name.clone(),
                        pin: std::mem::take(&mut staff.pin),
                    });
                }
                cancel = ui.button(Txt::Cancel.get(lang)).clicked();
            });
            if let Some(notice) = &staff.notice {
                notice.show(ui);
            }
        });
        if cancel {
            self.staff = None;
        }
    }
}

/// A key of the on-screen keypad.
enum KeypadKey {
    Char(char),
    Backspace,
}

/// The keypad's keys: large enough for a fingertip, the phone's larger still.
const KEY_WIDTH: f32 = 50.0;
const KEY_HEIGHT: f32 = 64.0;
const KEY_GAP: f32 = 6.0;
const PHONE_KEY_WIDTH: f32 = 110.0;
const KEYPAD_WIDTH: f32 = 10.0 * (KEY_WIDTH + KEY_GAP) + 24.0;

/// The `TextEdit` of a walk-in's field, which the keypad types into.
fn field_id(field: &str) -> egui::Id {
    egui::Id::unique(("kiosk walk-in field", field))
}

/// Widths of the centred columns the confirm step's details and the walk-in's form sit in
/// (grids do not centre themselves).
const CONFIRM_WIDTH: f32 = 560.0;
const FORM_WIDTH: f32 = 640.0;
/// The walk-in's text fields, and the problems written under them.
const FIELD_WIDTH: f32 = 460.0;
/// What a walk-in field's label and the grid's gap take beside the field.
const LABEL_ROOM: f32 = 140.0;

/// Where the kiosk remembers the height of the screen it shows, to centre it.
fn screen_height_id() -> egui::Id {
    egui::Id::unique("kiosk screen height")
}

/// The space above a screen that puts it in the middle of the height left, given its
/// height in the last frame (none yet: as if it had none).
fn centred_top(ui: &egui::Ui) -> f32 {
    let height: f32 = ui.ctx().data(|d| d.get_temp(screen_height_id())).unwrap_or(0.0);
    ((ui.available_height() - height) / 2.0).max(0.0)
}

/// Remembers a screen's height for [`centred_top`]. A new height (a new screen, another
/// window size) lays the frame out again before it is shown: never drawn off-centre.
fn remember_height(ui: &egui::Ui, height: f32) {
    let before: Option<f32> = ui.ctx().data(|d| d.get_temp(screen_height_id()));
    if before.is_none_or(|before| (before - height).abs() > 1.0) {
        ui.ctx().data_mut(|d| d.insert_temp(screen_height_id(), height));
        ui.ctx().request_discard("a kiosk screen's height changed");
    }
}

fn centred_column(ui: &mut egui::Ui, width: f32, content: impl FnOnce(&mut egui::Ui)) {
    ui.horizontal(|ui| {
        ui.add_space(((ui.available_width() - width) / 2.0).max(0.0));
        ui.vertical(|ui| {
            ui.set_width(width.min(ui.available_width()));
            content(ui);
        });
    });
}

/// A visitor's details as label and value rows in the kiosk's large type ("-" for none).
fn detail_rows<const N: usize>(ui: &mut egui::Ui, id: &str, lang: Lang, rows: [(Txt, &str); N]) {
    egui::Grid::new(id).num_columns(2).spacing([30.0, 10.0]).show(ui, |ui| {
        for (label, value) in rows {
            ui.label(RichText::new(label.get(lang)).size(24.0));
            ui.label(RichText::new(if value.is_empty() { "-" } else { value }).size(24.0).strong());
            ui.end_row();
        }
    });
}

fn big(ui: &mut egui::Ui, icon: Icon, text: &str) {
    icons::show(ui, icon, 96.0);
    ui.add_space(8.0);
    ui.label(RichText::new(text).size(34.0).strong());
    ui.add_space(16.0);
}

/// What happened and where to go, in plain words, for a reason code the kiosk stops at.
fn plain_refusal(code: &str) -> Txt {
    match code {
        ALREADY_COLLECTED => Txt::KioskAlreadyCollected,
        "E-NOTFOUND" => Txt::KioskNotFound,
        "E-BADGE-NOT_YET_VALID" => Txt::KioskNotYetValid,
        "E-BADGE-EXPIRED" => Txt::KioskExpired,
        "E-REVOKED" | "E-BADGE-REVOKED" => Txt::KioskRevoked,
        "E-PRINT" => Txt::KioskPrinterTrouble,
        NO_REGISTRATION => Txt::KioskRegisterAtDesk,
        _ => Txt::KioskSeeDesk,
    }
}

/// What to do about a problem with a field the visitor typed, in plain words.
fn plain_problem(field: &str) -> Txt {
    match field {
        "phone" => Txt::KioskFixPhone,
        "company" => Txt::KioskFixCompany,
        "title" => Txt::KioskFixTitle,
        "email" => Txt::KioskFixEmail,
        _ => Txt::KioskFixCountry,
    }
}
