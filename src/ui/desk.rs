//! The registration desk: one screen with an always-ready search field (which also takes
//! keyboard-wedge scans), live results, the selected attendee's card and its actions, and
//! the walk-in / edit form. Mouse-free: Enter prints, F2 starts a walk-in, Esc clears.

use std::time::Duration;

use eframe::egui::{self, RichText};
use expo_hardware::scanner::{Key as WedgeKey, WedgeDetector, WedgeSettings, WedgeVerdict};
use rand::seq::SliceRandom;

use super::app::Shell;
use super::devices::{DeviceInput, Devices};
use super::error_text::job_error;
use super::i18n::{field_label, field_problem, id_type_label, Lang, Txt};
use super::widgets::{
    demo_card_buttons, edit_at_caret, field_error, labelled_text, system_failure, venue_time,
    Caret, Notice,
};
use crate::badges::queue::{JobId, JobStatus, PrintJobView};
use crate::domain::{AttendeeId, FieldError, FieldProblem, IdType, NewAttendee};
use crate::operators::Permission;
use crate::registration::search::SearchHit;
use crate::registration::DuplicateHint;
use crate::station::{
    AttendeeView, CardIdentity, Failure, Request, Response, RevealedId, StationHandle, StationInfo,
};

/// How long a revealed ID number stays on screen: long enough to read it out or compare
/// it with a document, short enough not to stay for the next visitor.
const REVEAL_SECONDS: f64 = 30.0;

/// The desk screen's state.
pub struct Desk {
    demo: bool,
    query: String,
    /// The query the last search was sent for; results for older queries are dropped.
    sent_query: String,
    hits: Vec<SearchHit>,
    highlighted: Option<usize>,
    selected: Option<AttendeeView>,
    wedge: WedgeDetector,
    dialog: Option<Dialog>,
    form: Option<AttendeeForm>,
    notice: Option<Notice>,
    /// The token of the badge printed last, for the demo's "scan the badge just printed".
    last_token: Option<String>,
    /// The print job of the badge printed last, whose progress the notice follows.
    print_job: Option<JobId>,
    /// The selected attendee's full ID number, asked for by a role that may see it, and
    /// the frame time it hides again.
    revealed: Option<(RevealedId, f64)>,
    /// Why the badge just scanned was refused (a code of `credential::Invalid`): the card
    /// then opens as a verdict.
    refused: Option<&'static str>,
}

/// A small confirmation step of an action on the selected attendee.
enum Dialog {
    Reprint { reason: String },
    Revoke { reason: String },
    Category { category: String },
}

/// The walk-in or edit form.
struct AttendeeForm {
    editing: Option<AttendeeId>,
    input: NewAttendee,
    card: Option<CardIdentity>,
    errors: Vec<FieldError>,
    duplicates: Vec<DuplicateHint>,
    /// After the first save attempt every change is checked again at once.
    checking_live: bool,
    /// A save waits for the check's answer.
    save_after_check: bool,
    duplicates_accepted: bool,
    last_checked: Option<NewAttendee>,
    /// A form just opened puts the cursor in its first field, so the operator types at once.
    focus_first: bool,
}

impl AttendeeForm {
    fn walk_in(card: Option<CardIdentity>) -> Self {
        // Consent starts unticked: under PIPL a pre-ticked box is not consent.
        let input = card.as_ref().map_or_else(NewAttendee::default, CardIdentity::to_input);
        Self {
            editing: None,
            input,
            card,
            errors: Vec::new(),
            duplicates: Vec::new(),
            checking_live: false,
            save_after_check: false,
            duplicates_accepted: false,
            last_checked: None,
            focus_first: true,
        }
    }

    fn edit(view: &AttendeeView) -> Self {
        Self { editing: Some(view.id), input: view.to_input(), ..Self::walk_in(None) }
    }

    fn error(&self, field: &str, lang: Lang) -> Option<String> {
        let reasons: Vec<String> = self
            .errors
            .iter()
            .filter(|e| e.field == field)
            .map(|e| field_problem(&e.problem, lang))
            .collect();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}

impl Desk {
    pub fn new(demo: bool, wedge: WedgeSettings) -> Self {
        Self {
            demo,
            query: String::new(),
            sent_query: String::new(),
            hits: Vec::new(),
            highlighted: None,
            selected: None,
            wedge: WedgeDetector::new(wedge),
            dialog: None,
            form: None,
            notice: None,
            last_token: None,
            print_job: None,
            revealed: None,
            refused: None,
        }
    }

    /// Forgets everything shown (log-out).
    pub fn clear(&mut self) {
        *self = Self::new(self.demo, self.wedge.settings());
    }

    /// The search field's text.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Names in the result list, best first.
    pub fn result_names(&self) -> Vec<&str> {
        self.hits.iter().map(|h| h.name.as_str()).collect()
    }

    /// The attendee on the card.
    pub fn selected(&self) -> Option<&AttendeeView> {
        self.selected.as_ref()
    }

    /// The form's validation errors, as `(field, problem)`.
    pub fn form_errors(&self) -> Vec<(&str, &FieldProblem)> {
        self.form.iter().flat_map(|f| f.errors.iter().map(|e| (e.field, &e.problem))).collect()
    }

    pub fn is_form_open(&self) -> bool {
        self.form.is_some()
    }

    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    pub fn on_response(&mut self, response: Response, lang: Lang, station: &StationHandle) {
        match response {
            Response::SearchResults { query, hits } if query == self.sent_query => {
                self.hits = hits;
                self.highlighted = None;
            }
            Response::SearchResults { .. } => {}
            Response::Opened(view) => self.open(view, None),
            Response::BadgeRefused { holder, reason } => {
                self.open(holder, None);
                self.refused = Some(reason);
            }
            Response::NotFound { code } => {
                self.notice = Some(Notice::error(format!("{}: {code}", Txt::NotFound.get(lang))));
            }
            Response::WalkInFromCard(card) => self.start_form(AttendeeForm::walk_in(Some(card))),
            Response::WalkInChecked { input, errors, duplicates } => {
                self.checked(&input, errors, duplicates, station)
            }
            Response::Registered(view) => {
                // A walk-in at the desk wants the badge: saving prints it.
                station.send(Request::Print { attendee: view.id, reprint_reason: None });
                self.open(view, Some(Notice::ok(Txt::SavedPrinting.get(lang))));
            }
            Response::Edited(view) => self.open(view, Some(Notice::ok(Txt::Saved.get(lang)))),
            Response::Printed { attendee, serial, token, job } => {
                self.last_token = Some(token);
                self.print_job = Some(job);
                let text =
                    format!("{} · {} {serial}", Txt::PrintQueued.get(lang), Txt::Badge.get(lang));
                self.open(attendee, Some(Notice::ok(text)));
            }
            Response::PrintJob(job) if self.print_job == Some(job.id) => {
                self.notice = Some(print_progress(&job, lang));
            }
            Response::IdRevealed(revealed)
                if self.selected.as_ref().is_some_and(|s| s.id == revealed.attendee) =>
            {
                // No frame time here: the next frame sets when it hides.
                self.revealed = Some((revealed, f64::NEG_INFINITY));
            }
            Response::Revoked(view) => {
                self.open(view, Some(Notice::ok(Txt::RevokedDone.get(lang))))
            }
            Response::Failed(Failure::Invalid(errors)) if self.form.is_some() => {
                if let Some(form) = &mut self.form {
                    form.errors = errors;
                    form.checking_live = true;
                }
            }
            Response::Failed(failure) => self.notice = Some(Notice::failure(lang, &failure)),
            _ => {}
        }
    }

    fn open(&mut self, view: AttendeeView, notice: Option<Notice>) {
        if self.selected.as_ref().is_some_and(|s| s.id != view.id) {
            self.print_job = None;
        }
        // Saving, printing or reopening the card hides a revealed number again.
        self.revealed = None;
        self.refused = None;
        self.selected = Some(view);
        self.form = None;
        self.dialog = None;
        self.notice = notice;
    }

    /// Opens a form; the last action's notice ("saved") belongs to the last attendee.
    fn start_form(&mut self, form: AttendeeForm) {
        self.form = Some(form);
        self.notice = None;
    }

    fn checked(
        &mut self,
        input: &NewAttendee,
        errors: Vec<FieldError>,
        duplicates: Vec<DuplicateHint>,
        station: &StationHandle,
    ) {
        let Some(form) = self.form.as_mut().filter(|form| form.input == *input) else {
            // A check of what the form held before the last keystroke: a newer one follows.
            return;
        };
        form.errors = errors;
        form.duplicates = duplicates;
        if !std::mem::take(&mut form.save_after_check) || !form.errors.is_empty() {
            return;
        }
        if form.duplicates.is_empty() || form.duplicates_accepted {
            station.send(Request::Register(form.input.clone()));
        }
    }

    pub(super) fn show(
        &mut self,
        ui: &mut egui::Ui,
        shell: &Shell<'_>,
        devices: &mut Devices,
        inputs: Vec<DeviceInput>,
    ) {
        let lang = shell.lang;
        for input in inputs {
            match input {
                DeviceInput::Scan(code) => shell.station.send(Request::Scan(code)),
                DeviceInput::Card(card) => shell.station.send(Request::IdCard(card)),
                DeviceInput::CardError(error) => {
                    tracing::warn!(%error, "ID-card reader");
                    self.notice = Some(Notice::error(system_failure(lang, Txt::IdReader, &error)));
                }
            }
        }
        if self.demo {
            egui::Panel::right("demo").show(ui, |ui| self.demo_panel(ui, lang, devices));
        }
        egui::Panel::left("search").default_size(420.0).show(ui, |ui| {
            self.search_panel(ui, shell);
            devices.camera_preview(ui, lang);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(notice) = &self.notice {
                notice.show(ui);
                ui.separator();
            }
            if self.form.is_some() {
                self.form_panel(ui, shell);
            } else if self.selected.is_some() {
                self.card_panel(ui, shell);
            } else {
                ui.label(RichText::new(Txt::SelectHint.get(lang)).size(18.0));
            }
        });
    }

    fn search_panel(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        let can_search = shell.operator.is_some_and(|o| o.can(Permission::Search));
        let idle = self.form.is_none() && self.dialog.is_none();
        let mut enter = false;
        if idle {
            enter = self.feed_wedge(ui, shell.station);
            if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                self.next_visitor();
            }
            if ui.input(|i| i.key_pressed(egui::Key::F2)) {
                self.start_form(AttendeeForm::walk_in(None));
            }
            self.move_highlight(ui, shell.station);
        }
        ui.add_space(6.0);
        let label = ui.label(RichText::new(Txt::Search.get(lang)).strong());
        let field = egui::TextEdit::singleline(&mut self.query)
            .id(search_field_id())
            .hint_text(Txt::SearchHint.get(lang))
            .desired_width(f32::INFINITY)
            .font(egui::TextStyle::Heading);
        let field = ui.add_enabled(can_search, field).labelled_by(label.id);
        if idle && !field.has_focus() {
            field.request_focus();
        }
        ui.horizontal(|ui| {
            if ui.button(Txt::NewWalkIn.get(lang)).clicked() {
                self.start_form(AttendeeForm::walk_in(None));
            }
            if ui.button(Txt::ClearSearch.get(lang)).clicked() {
                self.query.clear();
                self.hits.clear();
            }
        });
        if self.query != self.sent_query {
            self.sent_query = self.query.clone();
            if self.query.trim().is_empty() {
                self.hits.clear();
            } else {
                shell.station.send(Request::Search { query: self.query.clone() });
            }
        }
        if enter {
            self.print_selected(shell);
        }
        ui.separator();
        if self.hits.is_empty() && !self.query.trim().is_empty() {
            ui.label(Txt::NoResults.get(lang));
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (index, hit) in self.hits.iter().enumerate() {
                let selected = self.selected.as_ref().is_some_and(|s| s.id == hit.id);
                let category = category_label(shell.info, lang, &hit.category);
                let phone = format!("…{}", hit.phone_tail);
                let parts = [hit.name.as_str(), &hit.chinese_name, &category, &hit.company, &phone];
                // An attendee without a company (or phone) shows no empty "·  ·".
                let text = parts
                    .into_iter()
                    .filter(|part| !part.is_empty() && *part != "…")
                    .collect::<Vec<_>>()
                    .join("  ·  ");
                let row = ui.selectable_label(selected || self.highlighted == Some(index), text);
                if row.clicked() {
                    shell.station.send(Request::Open(hit.id));
                }
            }
        });
    }

    /// Runs typed keys through the wedge detector: a scanner's burst becomes a scan, a
    /// person's keys go to the search field. Returns true when a person pressed Enter.
    fn feed_wedge(&mut self, ui: &mut egui::Ui, station: &StationHandle) -> bool {
        let now = Duration::from_secs_f64(ui.input(|i| i.time));
        let mut verdicts = Vec::new();
        ui.input_mut(|input| {
            input.events.retain(|event| match event {
                egui::Event::Text(text) => {
                    verdicts.extend(text.chars().map(|c| self.wedge.feed(WedgeKey::Char(c), now)));
                    false
                }
                egui::Event::Key { key: egui::Key::Enter, pressed: true, .. } => {
                    verdicts.push(self.wedge.feed(WedgeKey::Enter, now));
                    false
                }
                _ => true,
            });
        });
        verdicts.push(self.wedge.idle(now));
        let mut enter = false;
        for verdict in verdicts {
            match verdict {
                WedgeVerdict::Pending => {}
                WedgeVerdict::Scan(code) => station.send(Request::Scan(code)),
                WedgeVerdict::Typed(text) => {
                    enter |= text.ends_with('\n');
                    let typed: String = text.chars().filter(|c| *c != '\n').collect();
                    // Where the caret is, and the caret after them, as typing into the
                    // field would: Backspace and an input method's commits work from there.
                    edit_at_caret(
                        ui.ctx(),
                        search_field_id(),
                        &mut self.query,
                        Caret::Type(&typed),
                    );
                }
            }
        }
        // Held keys are released once the scanner-speed gap has passed: come back then.
        ui.ctx().request_repaint_after(self.wedge.settings().max_gap * 2);
        enter
    }

    fn move_highlight(&mut self, ui: &mut egui::Ui, station: &StationHandle) {
        if self.hits.is_empty() {
            return;
        }
        let (down, up) =
            ui.input(|i| (i.key_pressed(egui::Key::ArrowDown), i.key_pressed(egui::Key::ArrowUp)));
        let last = self.hits.len() - 1;
        let next = match (self.highlighted, down, up) {
            (None, true, _) => 0,
            (Some(i), true, _) => (i + 1).min(last),
            (Some(i), false, true) => i.saturating_sub(1),
            _ => return,
        };
        self.highlighted = Some(next);
        station.send(Request::Open(self.hits[next].id));
    }

    /// Clears the search and the card for the next person at the desk (Esc).
    fn next_visitor(&mut self) {
        self.query.clear();
        self.hits.clear();
        self.selected = None;
        self.revealed = None;
        self.notice = None;
    }

    /// Prints the selected attendee's first badge (Enter). A printed or revoked badge is
    /// left alone: a second copy is a reprint with a reason, which Enter must not ask for.
    fn print_selected(&mut self, shell: &Shell<'_>) {
        let can_print = shell.operator.is_some_and(|o| o.can(Permission::Print));
        if let (true, Some(selected)) = (can_print, &self.selected) {
            if needs_first_badge(selected) {
                shell.station.send(Request::Print { attendee: selected.id, reprint_reason: None });
            }
        }
    }

    /// The masked ID number; for a role that may see it, a button that shows the whole
    /// number (audited) for [`REVEAL_SECONDS`].
    fn id_number_cell(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>, view: &AttendeeView) {
        let lang = shell.lang;
        let now = ui.input(|i| i.time);
        if let Some((_, hide_at)) = &mut self.revealed {
            if *hide_at == f64::NEG_INFINITY {
                *hide_at = now + REVEAL_SECONDS;
            }
            if now >= *hide_at {
                self.revealed = None;
            }
        }
        ui.horizontal(|ui| match (&self.revealed, &view.id_masked) {
            (Some((revealed, hide_at)), _) => {
                ui.label(RichText::new(revealed.number.as_str()).monospace().strong());
                ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(
                    (hide_at - now).max(0.1),
                ));
            }
            (None, Some(masked)) => {
                ui.label(masked);
                let may_reveal = shell.operator.is_some_and(|o| o.can(Permission::RevealId));
                if may_reveal && ui.small_button(Txt::RevealId.get(lang)).clicked() {
                    shell.station.send(Request::RevealId(view.id));
                }
            }
            (None, None) => {
                ui.label("-");
            }
        });
    }

    fn card_panel(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        let Some(view) = self.selected.clone() else { return };
        let can = |permission| shell.operator.is_some_and(|o| o.can(permission));
        if self.refused.is_some() || view.is_revoked() {
            verdict_card(ui, shell, self.refused, &view);
        }
        ui.horizontal_wrapped(|ui| {
            ui.heading(RichText::new(&view.name).size(30.0));
            if !view.chinese_name.is_empty() {
                ui.label(RichText::new(&view.chinese_name).size(26.0));
            }
        });
        ui.label(
            RichText::new(category_label(shell.info, lang, &view.category)).size(20.0).strong(),
        );
        ui.add_space(8.0);
        egui::Grid::new("card").num_columns(2).spacing([24.0, 6.0]).show(ui, |ui| {
            let rows = [
                (Txt::Company, view.company.clone()),
                (Txt::JobTitle, view.title.clone()),
                (Txt::RegistrationCode, view.registration_code.clone().unwrap_or_default()),
                (Txt::Phone, view.phone.clone()),
                (Txt::Email, view.email.clone()),
                (Txt::Country, view.country.clone()),
            ];
            for (label, value) in rows {
                ui.label(label.get(lang));
                ui.label(if value.is_empty() { "-".into() } else { value });
                ui.end_row();
            }
            ui.label(Txt::IdNumber.get(lang));
            self.id_number_cell(ui, shell, &view);
            ui.end_row();
            ui.label(Txt::Badge.get(lang));
            ui.label(match (view.is_revoked(), view.active_badge()) {
                (true, _) => Txt::BadgeRevoked.get(lang).to_owned(),
                (false, Some(serial)) => format!("#{serial}"),
                (false, None) => Txt::NoBadge.get(lang).to_owned(),
            });
            ui.end_row();
        });
        ui.add_space(12.0);
        ui.horizontal_wrapped(|ui| {
            let big = |text: Txt| egui::Button::new(RichText::new(text.get(lang)).size(18.0));
            if can(Permission::Print)
                && needs_first_badge(&view)
                && ui.add(big(Txt::PrintBadge)).clicked()
            {
                self.print_selected(shell);
            }
            // Printed: what comes next is the next person, or a reprint with a reason.
            if view.active_badge().is_some() && ui.add(big(Txt::NextVisitor)).clicked() {
                self.next_visitor();
            }
            if can(Permission::Reprint)
                && view.active_badge().is_some()
                && ui.add(big(Txt::Reprint)).clicked()
            {
                self.dialog = Some(Dialog::Reprint { reason: String::new() });
            }
            // The revoked badge stays revoked; its holder may get a new one, with a reason.
            if can(Permission::Reprint)
                && view.is_revoked()
                && ui.add(big(Txt::IssueReplacement)).clicked()
            {
                self.dialog = Some(Dialog::Reprint { reason: String::new() });
            }
            if can(Permission::Edit) {
                if ui.add(big(Txt::EditAttendee)).clicked() {
                    self.start_form(AttendeeForm::edit(&view));
                }
                if ui.add(big(Txt::ChangeCategory)).clicked() {
                    self.dialog = Some(Dialog::Category { category: view.category.clone() });
                }
            }
            if can(Permission::Revoke)
                && view.active_badge().is_some()
                && ui.add(big(Txt::Revoke)).clicked()
            {
                self.dialog = Some(Dialog::Revoke { reason: String::new() });
            }
        });
        self.dialog_panel(ui, shell, &view);
    }

    fn dialog_panel(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>, view: &AttendeeView) {
        let lang = shell.lang;
        let Some(dialog) = &mut self.dialog else { return };
        ui.separator();
        let mut done = false;
        let reason_label = match dialog {
            Dialog::Reprint { .. } => Txt::ReprintReason,
            _ => Txt::RevokeReason,
        };
        let confirmed = match dialog {
            Dialog::Reprint { reason } | Dialog::Revoke { reason } => {
                ui.horizontal(|ui| {
                    let field = labelled_text(ui, reason_label.get(lang), reason, false);
                    if reason.is_empty() {
                        field.request_focus();
                    }
                });
                // The usual reasons a click away, in the operator's words; any other typed.
                let presets: &[Txt] = if reason_label == Txt::ReprintReason {
                    &REPRINT_REASONS
                } else {
                    &REVOKE_REASONS
                };
                ui.horizontal_wrapped(|ui| {
                    for preset in presets {
                        if ui.button(preset.get(lang)).clicked() {
                            *reason = preset.get(lang).to_owned();
                        }
                    }
                });
                !reason.trim().is_empty() && ui.button(Txt::Confirm.get(lang)).clicked()
            }
            Dialog::Category { category } => {
                ui.horizontal(|ui| {
                    let label = ui.label(Txt::Category.get(lang));
                    category_picker(ui, shell.info, lang, category, label.id);
                });
                ui.button(Txt::Confirm.get(lang)).clicked()
            }
        };
        if confirmed {
            let request = match dialog {
                Dialog::Reprint { reason } => Request::Print {
                    attendee: view.id,
                    reprint_reason: Some(reason.trim().to_owned()),
                },
                Dialog::Revoke { reason } => {
                    Request::Revoke { attendee: view.id, reason: reason.trim().to_owned() }
                }
                Dialog::Category { category } => Request::Edit {
                    attendee: view.id,
                    input: NewAttendee { category: category.clone(), ..view.to_input() },
                },
            };
            shell.station.send(request);
            done = true;
        }
        if ui.button(Txt::Cancel.get(lang)).clicked()
            || ui.input(|i| i.key_pressed(egui::Key::Escape))
        {
            done = true;
        }
        if done {
            self.dialog = None;
        }
    }

    /// The walk-in or edit form: one function per step (the card it came from, the
    /// fields, the check's problems and duplicates, the buttons).
    fn form_panel(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        let Some(form) = &mut self.form else { return };
        ui.heading(
            if form.editing.is_some() { Txt::EditTitle } else { Txt::WalkInTitle }.get(lang),
        );
        if let Some(card) = &form.card {
            card_line(ui, card, lang);
        }
        let before = form.input.clone();
        form_fields(ui, shell, form);
        let open_existing = form_problems(ui, form, lang);
        if form.input != before {
            form.duplicates_accepted = false;
        }
        let changed = form.last_checked.as_ref() != Some(&form.input);
        if form.editing.is_none() && form.checking_live && changed && !form.save_after_check {
            form.last_checked = Some(form.input.clone());
            shell.station.send(Request::CheckWalkIn(form.input.clone()));
        }
        let cancel = form_buttons(ui, shell, form);
        if let Some(attendee) = open_existing {
            shell.station.send(Request::Open(attendee));
        }
        if cancel {
            self.form = None;
        }
    }

    fn demo_panel(&mut self, ui: &mut egui::Ui, lang: Lang, devices: &mut Devices) {
        ui.heading(Txt::DemoPanel.get(lang));
        ui.label(RichText::new(Txt::DemoPins.get(lang)).small());
        ui.separator();
        let last_token = self.last_token.clone();
        let Some(simulators) = devices.simulators() else { return };
        let mut result = Ok(());
        demo_card_buttons(ui, lang, simulators);
        ui.separator();
        if ui.button(Txt::ScanPreRegistration.get(lang)).clicked() {
            let code = format!(
                "R{:07}",
                [7, 42, 108, 256, 999, 1500].choose(&mut rand::thread_rng()).unwrap_or(&1)
            );
            result = simulators.scan_badge(&code);
        }
        if let Some(token) = last_token {
            if ui.button(Txt::ScanLastBadge.get(lang)).clicked() {
                result = simulators.scan_badge(&token);
            }
            if ui.button(Txt::DemoShowToCamera.get(lang)).clicked() {
                simulators.show_badge_to_camera(&token);
            }
        }
        if let Err(error) = result {
            tracing::warn!(%error, "scanner simulator");
            let text = system_failure(lang, Txt::Scanner, &error.to_string());
            self.notice = Some(Notice::error(text));
        }
    }
}

/// What the ID card the form started from says, beside the form.
fn card_line(ui: &mut egui::Ui, card: &CardIdentity, lang: Lang) {
    let chinese_name = if card.chinese_name.is_empty() {
        String::new()
    } else {
        format!(" ({})", card.chinese_name)
    };
    ui.label(format!(
        "{}: {}{chinese_name} · {} {} · {} {}",
        Txt::FromIdCard.get(lang),
        card.name,
        Txt::Gender.get(lang),
        card.gender,
        Txt::BirthDate.get(lang),
        card.birth_date
    ));
}

/// The form's fields, with each field's problem under it.
fn form_fields(ui: &mut egui::Ui, shell: &Shell<'_>, form: &mut AttendeeForm) {
    let lang = shell.lang;
    let required: Vec<String> = shell
        .info
        .categories
        .iter()
        .find(|c| c.id == form.input.category)
        .map(|c| c.required.clone())
        .unwrap_or_default();
    let mark = |field: &str, label: Txt| {
        let required =
            field == "name" || field == "category" || required.iter().any(|r| r == field);
        if required {
            format!("{} *", label.get(lang))
        } else {
            label.get(lang).to_owned()
        }
    };
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("form").num_columns(2).spacing([16.0, 4.0]).show(ui, |ui| {
            let fields: [(&str, Txt); 7] = [
                ("name", Txt::Name),
                // Beside a name in another script (a foreign permanent residence card's).
                ("chinese_name", Txt::ChineseName),
                ("company", Txt::Company),
                ("title", Txt::JobTitle),
                ("phone", Txt::Phone),
                ("email", Txt::Email),
                ("country", Txt::Country),
            ];
            for (field, label) in fields {
                let error = form.error(field, lang);
                let Some(value) = form.input.text_mut(field) else { continue };
                let response = labelled_text(ui, &mark(field, label), value, false);
                if field == "name" && std::mem::take(&mut form.focus_first) {
                    response.request_focus();
                }
                field_error(ui, error.as_deref());
                ui.end_row();
            }
            let label = ui.label(mark("category", Txt::Category));
            category_picker(ui, shell.info, lang, &mut form.input.category, label.id);
            field_error(ui, form.error("category", lang).as_deref());
            ui.end_row();
            let label = ui.label(mark("id_number", Txt::IdType));
            id_type_picker(ui, lang, &mut form.input.id_type, label.id);
            ui.end_row();
            let id_label = mark("id_number", Txt::IdNumber);
            // A number read from the card needs no reading back: hidden from the
            // screen, and from anyone standing behind the operator.
            labelled_text(ui, &id_label, &mut form.input.id_number, form.card.is_some());
            field_error(
                ui,
                form.error("id_number", lang).or_else(|| form.error("id_type", lang)).as_deref(),
            );
            ui.end_row();
            if form.editing.is_some() {
                ui.label("");
                ui.label(RichText::new(Txt::KeepIdNumber.get(lang)).small());
                ui.end_row();
            }
            ui.label("");
            ui.checkbox(&mut form.input.consent, Txt::Consent.get(lang));
            ui.end_row();
        });
    });
}

/// The check's problems that no field shows and the possible duplicates; the duplicate
/// the operator chose to open instead.
fn form_problems(ui: &mut egui::Ui, form: &AttendeeForm, lang: Lang) -> Option<AttendeeId> {
    if !form.errors.is_empty() {
        Notice::error(Txt::FixErrors.get(lang)).show(ui);
        for error in form.errors.iter().filter(|e| !SHOWN_FIELDS.contains(&e.field)) {
            let problem = field_problem(&error.problem, lang);
            Notice::error(format!("{}: {problem}", field_label(error.field).get(lang))).show(ui);
        }
    }
    let mut open_existing = None;
    if !form.duplicates.is_empty() {
        ui.separator();
        ui.label(RichText::new(format!("! {}", Txt::PossibleDuplicate.get(lang))).strong());
        for hint in &form.duplicates {
            ui.horizontal(|ui| {
                let why = match hint.reason {
                    "same_id_document" => Txt::SameIdDocument,
                    _ => Txt::SamePhoneSimilarName,
                };
                ui.label(format!("{} ({})", hint.name, why.get(lang)));
                if ui.button(Txt::OpenExisting.get(lang)).clicked() {
                    open_existing = Some(hint.attendee);
                }
            });
        }
    }
    open_existing
}

/// Save and Cancel; true when the form is cancelled.
fn form_buttons(ui: &mut egui::Ui, shell: &Shell<'_>, form: &mut AttendeeForm) -> bool {
    let lang = shell.lang;
    let mut cancel = ui.input(|i| i.key_pressed(egui::Key::Escape));
    ui.horizontal(|ui| {
        let save_text = if form.duplicates.is_empty() || form.editing.is_some() {
            Txt::Save
        } else {
            Txt::SaveAnyway
        };
        if ui.button(RichText::new(save_text.get(lang)).size(18.0)).clicked() {
            form.checking_live = true;
            match form.editing {
                Some(attendee) => {
                    shell.station.send(Request::Edit { attendee, input: form.input.clone() })
                }
                None => {
                    form.duplicates_accepted = !form.duplicates.is_empty();
                    form.save_after_check = true;
                    form.last_checked = Some(form.input.clone());
                    shell.station.send(Request::CheckWalkIn(form.input.clone()));
                }
            }
        }
        cancel |= ui.button(Txt::Cancel.get(lang)).clicked();
    });
    cancel
}

fn search_field_id() -> egui::Id {
    egui::Id::unique("desk search field")
}

/// Whether the attendee is still to get their first badge, which Enter prints.
fn needs_first_badge(view: &AttendeeView) -> bool {
    !view.is_revoked() && view.active_badge().is_none()
}

/// Reasons a badge is reprinted or replaced, offered as one-click presets.
const REPRINT_REASONS: [Txt; 3] = [Txt::ReasonLost, Txt::ReasonDamaged, Txt::ReasonDetailsWrong];
/// Reasons a badge is revoked, offered as one-click presets.
const REVOKE_REASONS: [Txt; 4] =
    [Txt::ReasonLost, Txt::ReasonMisused, Txt::ReasonRulesBroken, Txt::ReasonDuplicate];

/// The verdict on a refused scan, or on a revoked attendee, as a card in red above theirs:
/// why the badge is not valid, and for a revocation its reason, when and by whom.
fn verdict_card(
    ui: &mut egui::Ui,
    shell: &Shell<'_>,
    refused: Option<&'static str>,
    view: &AttendeeView,
) {
    let lang = shell.lang;
    let red = egui::Color32::from_rgb(230, 80, 70);
    egui::Frame::group(ui.style()).stroke(egui::Stroke::new(2.0, red)).show(ui, |ui| {
        ui.set_width(ui.available_width());
        let verdict = match refused {
            Some("not_yet_valid") => Txt::VerdictNotYetValid,
            Some("expired") => Txt::VerdictExpired,
            Some(_) if !view.is_revoked() => Txt::VerdictSuperseded,
            _ => Txt::VerdictRevoked,
        };
        ui.label(RichText::new(format!("✘ {}", verdict.get(lang))).size(24.0).color(red).strong());
        let revoked = view.badges.last().filter(|badge| badge.status == "revoked");
        if let Some(badge) = revoked {
            egui::Grid::new("verdict").num_columns(2).spacing([24.0, 4.0]).show(ui, |ui| {
                let rows = [
                    (Txt::Badge, format!("#{}", badge.serial)),
                    (Txt::RevokeReason, badge.reason.clone().unwrap_or_default()),
                    (Txt::RevokedAt, venue_time(&badge.changed_at, shell.info.timezone)),
                    (Txt::RevokedBy, badge.operator.clone()),
                ];
                for (label, value) in rows {
                    ui.label(label.get(lang));
                    ui.label(RichText::new(value).strong());
                    ui.end_row();
                }
            });
        }
    });
    ui.add_space(8.0);
}

/// Fields the form shows errors next to; others are listed under the form.
const SHOWN_FIELDS: [&str; 10] = [
    "name",
    "chinese_name",
    "company",
    "title",
    "phone",
    "email",
    "country",
    "category",
    "id_number",
    "id_type",
];

/// The category's label in the current language.
pub(super) fn category_label(info: &StationInfo, lang: Lang, id: &str) -> String {
    info.categories
        .iter()
        .find(|c| c.id == id)
        .map_or_else(|| id.to_owned(), |c| lang.pick(&c.label_zh, &c.label_en).to_owned())
}

fn category_picker(
    ui: &mut egui::Ui,
    info: &StationInfo,
    lang: Lang,
    category: &mut String,
    label: egui::Id,
) {
    let shown =
        if category.is_empty() { "—".to_owned() } else { category_label(info, lang, category) };
    let picker = egui::ComboBox::from_id_salt("category").selected_text(shown).show_ui(ui, |ui| {
        for choice in &info.categories {
            ui.selectable_value(
                category,
                choice.id.clone(),
                lang.pick(&choice.label_zh, &choice.label_en),
            );
        }
    });
    picker.response.labelled_by(label);
}

fn id_type_picker(ui: &mut egui::Ui, lang: Lang, id_type: &mut String, label: egui::Id) {
    let shown = IdType::parse(id_type).map_or(Txt::IdNone, id_type_label).get(lang);
    let picker = egui::ComboBox::from_id_salt("id_type").selected_text(shown).show_ui(ui, |ui| {
        ui.selectable_value(id_type, String::new(), Txt::IdNone.get(lang));
        for choice in IdType::ALL {
            ui.selectable_value(id_type, choice.id().to_owned(), id_type_label(choice).get(lang));
        }
    });
    picker.response.labelled_by(label);
}

/// The notice for a print job's new state.
fn print_progress(job: &PrintJobView, lang: Lang) -> Notice {
    let badge = format!("{} {}", Txt::Badge.get(lang), job.badge_serial);
    let error = job.last_error.as_ref().map(|error| job_error(error, lang)).unwrap_or_default();
    match job.status {
        JobStatus::Sent | JobStatus::Printed => {
            Notice::ok(format!("{} · {badge} · {}", Txt::Printed.get(lang), job.printer))
        }
        JobStatus::Failed => {
            Notice::error(format!("{} · {badge}: {}", Txt::PrintFailed.get(lang), error))
        }
        JobStatus::Queued if job.attempts > 0 => {
            Notice::error(format!("{} · {badge}: {}", Txt::PrintRetrying.get(lang), error))
        }
        JobStatus::Queued | JobStatus::Sending => {
            Notice::ok(format!("{} · {badge}", Txt::PrintQueued.get(lang)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_in_form_starts_without_consent() {
        assert!(!AttendeeForm::walk_in(None).input.consent);
        let card = CardIdentity {
            name: "李小明".into(),
            id_type: "resident_id",
            id_number: "11010519491231002X".into(),
            gender: "男".into(),
            birth_date: "1949-12-31".into(),
            country: "中国".into(),
            chinese_name: String::new(),
        };
        assert!(!AttendeeForm::walk_in(Some(card)).input.consent, "not from a card read either");
    }
}
