//! Admin mode: the dashboard (see `dashboard`), the event editor (see `event_editor`) with
//! the badge template's live preview, device settings, operators and roles, the audit log
//! with a filter, and the import of pre-registrations with its error report.

use eframe::egui::{self, RichText};

use super::app::{link_text, Shell};
use super::dashboard::Dashboard;
use super::devices::{
    CameraChoice, DeviceSettings, Devices, LineEnd, Link, ScannerLine, SERIAL_BAUDS,
};
use super::event_editor::EventEditor;
use super::i18n::{field_label, field_problem, role_label, source_label, Lang, Txt};
use super::widgets::{labelled_text, venue_time, Notice};
use crate::badges::render::{BadgeLayout, Mark, PtRect};
use crate::domain::attendee::mask_name;
use crate::domain::Source;
use crate::operators::{OperatorChange, OperatorEntry, Permission, Role};
use crate::registration::import::ImportReport;
use crate::station::{AuditRow, BadgePreview, DeviceChoices, Request, Response, StationHandle};

/// Audit entries fetched per refresh.
const AUDIT_LIMIT: u32 = 500;

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Tab {
    #[default]
    Dashboard,
    Event,
    Devices,
    Operators,
    Audit,
    Import,
}

#[derive(Default)]
pub struct Admin {
    tab: Tab,
    dashboard: Dashboard,
    operators: Vec<OperatorEntry>,
    /// The operator being changed, and the change so far.
    editing: Option<OperatorEdit>,
    new_name: String,
    new_pin: String,
    new_role: Option<Role>,
    audit: Vec<AuditRow>,
    audit_attendee: String,
    audit_text: String,
    /// The audit log shows only this operator's entries, or everyone's.
    audit_actor: Option<String>,
    /// The audit log shows only this action, or every action.
    audit_action: Option<String>,
    import_path: String,
    skip_invalid: bool,
    report: Option<ImportReport>,
    notice: Option<Notice>,
    event: EventEditor,
    template: TemplatePreview,
    /// The Devices tab: what was loaded and what is being edited.
    devices: Option<DeviceChoices>,
    device_edit: DeviceSettings,
    /// A test badge is on its way to the printer.
    test_printing: bool,
}

/// An admin's change to one operator, before it is saved.
struct OperatorEdit {
    name: String,
    role: Option<Role>,
    /// Category ids the operator handles; none ticked means every category.
    categories: Vec<String>,
    new_pin: String,
    active: bool,
}

/// The live preview of the badge template being picked: asked of the worker, then painted
/// (the logo becomes a texture on the next frame, where the egui context is at hand).
#[derive(Default)]
struct TemplatePreview {
    pending: Option<BadgePreview>,
    asked: Option<String>,
    shown: Option<(BadgePreview, egui::TextureHandle)>,
}

impl Admin {
    /// Fetches the operators and the newest audit entries.
    pub fn refresh(&mut self, station: &StationHandle) {
        station.send(Request::Operators);
        station.send(Request::Audit { attendee: None, limit: AUDIT_LIMIT });
    }

    pub fn on_response(&mut self, response: Response, lang: Lang) {
        match response {
            Response::Operators(list) => self.operators = list,
            Response::OperatorAdded(operator) => {
                self.notice = Some(Notice::ok(format!(
                    "{}: {}",
                    Txt::OperatorAdded.get(lang),
                    operator.name
                )));
                self.operators.push(OperatorEntry { operator, active: true });
            }
            Response::OperatorChanged(changed) => {
                self.notice = Some(Notice::ok(format!(
                    "{}: {}",
                    Txt::Saved.get(lang),
                    changed.operator.name
                )));
                self.editing = None;
                let name = &changed.operator.name;
                if let Some(entry) = self.operators.iter_mut().find(|e| &e.operator.name == name) {
                    *entry = changed;
                }
            }
            Response::Audit(entries) => self.audit = entries,
            Response::Imported(report) => self.report = Some(report),
            Response::BadgePreview(preview) => self.template.pending = Some(*preview),
            Response::EventDefinition(definition) => self.event.on_definition(*definition),
            Response::DeviceSettings(choices) => {
                self.device_edit = choices.saved.clone();
                self.devices = Some(choices);
            }
            Response::DeviceSettingsSaved => {
                self.notice = Some(Notice::ok(Txt::DevicesSaved.get(lang)));
            }
            Response::TestPrinted(sent) => {
                self.test_printing = false;
                self.notice = Some(Notice::ok(format!(
                    "{}: {} ({})",
                    Txt::TestPrintSent.get(lang),
                    sent.printer,
                    sent.reference
                )));
            }
            dashboard @ (Response::Dashboard(_) | Response::Exported(_)) => {
                self.dashboard.on_response(dashboard, lang);
            }
            failed @ Response::Failed(_) if self.tab == Tab::Dashboard => {
                self.dashboard.on_response(failed, lang);
            }
            Response::Failed(failure) => {
                self.event.on_failed();
                self.test_printing = false;
                self.notice = Some(Notice::failure(lang, &failure));
            }
            _ => {}
        }
    }

    /// The event definition was saved: say so and edit the stored one from now on.
    pub fn on_event_updated(&mut self, lang: Lang) {
        self.event.on_saved();
        self.notice = Some(Notice::ok(Txt::Saved.get(lang)));
    }

    /// `running` is what the station's devices are doing now (the status bar's words).
    pub fn show(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>, running: &Devices) {
        let lang = shell.lang;
        egui::CentralPanel::default().show(ui, |ui| {
            let manages_event = shell.operator.is_some_and(|o| o.can(Permission::ManageEvent));
            ui.horizontal(|ui| {
                for (tab, text) in [
                    (Tab::Dashboard, Txt::Dashboard),
                    (Tab::Event, Txt::EventSettings),
                    (Tab::Devices, Txt::Devices),
                    (Tab::Operators, Txt::Operators),
                    (Tab::Audit, Txt::AuditLog),
                    (Tab::Import, Txt::Import),
                ] {
                    if matches!(tab, Tab::Event | Tab::Devices) && !manages_event {
                        continue;
                    }
                    ui.selectable_value(&mut self.tab, tab, text.get(lang));
                }
            });
            ui.separator();
            if let Some(notice) = &self.notice {
                notice.show(ui);
            }
            match self.tab {
                Tab::Dashboard => self.dashboard.show(ui, shell),
                Tab::Devices => self.devices_tab(ui, shell, running),
                Tab::Event => {
                    egui::ScrollArea::vertical().show(ui, |ui| self.event_tab(ui, shell));
                }
                Tab::Operators => self.operators_tab(ui, shell),
                Tab::Audit => self.audit_tab(ui, shell),
                Tab::Import => self.import_tab(ui, shell),
            }
        });
    }

    fn operators_tab(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        egui::Grid::new("operators").striped(true).num_columns(5).show(ui, |ui| {
            for header in [Txt::OperatorName, Txt::Role, Txt::Scope, Txt::OperatorState] {
                ui.label(RichText::new(header.get(lang)).strong());
            }
            ui.end_row();
            for entry in &self.operators {
                let operator = &entry.operator;
                ui.label(&operator.name);
                ui.label(role_label(operator.role).get(lang));
                ui.label(if operator.categories.is_empty() {
                    Txt::AllCategories.get(lang).to_owned()
                } else {
                    operator.categories.join(", ")
                });
                ui.label(if entry.active { Txt::CanLogIn } else { Txt::Disabled }.get(lang));
                // The name in the label tells the rows' buttons apart for screen readers.
                let change = format!("{} {}", Txt::ChangeOperator.get(lang), operator.name);
                if ui.button(change).clicked() {
                    self.editing = Some(OperatorEdit {
                        name: operator.name.clone(),
                        role: Some(operator.role),
                        categories: operator.categories.clone(),
                        new_pin: String::new(),
                        active: entry.active,
                    });
                }
                ui.end_row();
            }
        });
        if let Some(edit) = &mut self.editing {
            ui.separator();
            let title = format!("{}: {}", Txt::ChangeOperatorTitle.get(lang), edit.name);
            ui.label(RichText::new(title).strong());
            let mut done = false;
            ui.horizontal(|ui| {
                role_picker(ui, lang, "edit-role", &mut edit.role);
                labelled_text(ui, Txt::NewPinOptional.get(lang), &mut edit.new_pin, true);
                ui.checkbox(&mut edit.active, Txt::MayLogIn.get(lang));
                if ui.button(Txt::Save.get(lang)).clicked() {
                    let change = OperatorChange {
                        role: edit.role,
                        secret: Some(std::mem::take(&mut edit.new_pin)).filter(|p| !p.is_empty()),
                        active: Some(edit.active),
                        categories: Some(edit.categories.clone()),
                    };
                    shell.station.send(Request::ChangeOperator { name: edit.name.clone(), change });
                }
                done = ui.button(Txt::Cancel.get(lang)).clicked();
            });
            category_scope(ui, shell, &mut edit.categories);
            if done {
                self.editing = None;
            }
        }
        ui.separator();
        ui.label(RichText::new(Txt::AddOperator.get(lang)).strong());
        ui.horizontal(|ui| {
            labelled_text(ui, Txt::OperatorName.get(lang), &mut self.new_name, false);
            labelled_text(ui, Txt::Pin.get(lang), &mut self.new_pin, true);
            role_picker(ui, lang, "role", &mut self.new_role);
            let ready = !self.new_name.trim().is_empty()
                && !self.new_pin.is_empty()
                && self.new_role.is_some();
            if ui.add_enabled(ready, egui::Button::new(Txt::AddOperator.get(lang))).clicked() {
                if let Some(role) = self.new_role {
                    shell.station.send(Request::AddOperator {
                        name: std::mem::take(&mut self.new_name),
                        role,
                        pin: std::mem::take(&mut self.new_pin),
                    });
                }
            }
        });
    }

    /// The audit log in the venue's time and the operator's words: who did what, to whom
    /// (the attendee's name masked), filtered by operator, action, attendee or any text.
    fn audit_tab(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        let mut actors: Vec<&str> = self.audit.iter().map(|e| e.record.actor.as_str()).collect();
        actors.sort_unstable();
        actors.dedup();
        let mut actions: Vec<&str> = self.audit.iter().map(|e| e.record.action.as_str()).collect();
        actions.sort_unstable();
        actions.dedup();
        let all = (None, Txt::All.get(lang).to_owned());
        let actor_choices: Vec<(Option<String>, String)> = std::iter::once(all.clone())
            .chain(actors.iter().map(|a| (Some((*a).to_owned()), (*a).to_owned())))
            .collect();
        let action_choices: Vec<(Option<String>, String)> = std::iter::once(all)
            .chain(actions.iter().map(|a| (Some((*a).to_owned()), audit_action(a, lang))))
            .collect();
        egui::Grid::new("audit-filters").num_columns(2).show(ui, |ui| {
            pick_one(ui, Txt::Actor.get(lang), &mut self.audit_actor, &actor_choices);
            pick_one(ui, Txt::Action.get(lang), &mut self.audit_action, &action_choices);
        });
        ui.horizontal_wrapped(|ui| {
            labelled_text(ui, Txt::AuditFilter.get(lang), &mut self.audit_attendee, false);
            labelled_text(ui, Txt::TextFilter.get(lang), &mut self.audit_text, false);
            if ui.button(Txt::Refresh.get(lang)).clicked() {
                let attendee =
                    Some(self.audit_attendee.trim().to_owned()).filter(|a| !a.is_empty());
                shell.station.send(Request::Audit { attendee, limit: AUDIT_LIMIT });
            }
        });
        let needle = self.audit_text.trim().to_lowercase();
        let shown = self.audit.iter().filter(|entry| {
            let e = &entry.record;
            let action = audit_action(&e.action, lang);
            self.audit_actor.as_ref().is_none_or(|actor| *actor == e.actor)
                && self.audit_action.as_ref().is_none_or(|wanted| *wanted == e.action)
                && (needle.is_empty()
                    || e.actor.to_lowercase().contains(&needle)
                    || e.action.to_lowercase().contains(&needle)
                    || action.to_lowercase().contains(&needle)
                    || e.detail.to_string().to_lowercase().contains(&needle)
                    || detail_text(&e.detail, shell).to_lowercase().contains(&needle))
        });
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::Grid::new("audit").striped(true).num_columns(5).show(ui, |ui| {
                for header in [Txt::At, Txt::Actor, Txt::Action, Txt::AuditAttendee, Txt::Detail] {
                    ui.label(RichText::new(header.get(lang)).strong());
                }
                ui.end_row();
                for entry in shown {
                    let e = &entry.record;
                    ui.label(venue_time(&e.at, shell.info.timezone));
                    ui.label(&e.actor);
                    ui.label(audit_action(&e.action, lang));
                    ui.label(entry.attendee.as_deref().map(mask_name).unwrap_or_default());
                    ui.label(detail_text(&e.detail, shell));
                    ui.end_row();
                }
            });
        });
    }

    fn import_tab(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        ui.horizontal(|ui| {
            labelled_text(ui, Txt::CsvPath.get(lang), &mut self.import_path, false);
            ui.checkbox(&mut self.skip_invalid, Txt::SkipInvalid.get(lang));
            let ready = !self.import_path.trim().is_empty();
            if ui.add_enabled(ready, egui::Button::new(Txt::ImportRun.get(lang))).clicked() {
                self.report = None;
                shell.station.send(Request::Import {
                    path: self.import_path.trim().into(),
                    skip_invalid: self.skip_invalid,
                });
            }
        });
        let Some(report) = &self.report else { return };
        ui.label(format!(
            "{} ({}): {} / {} / {} / {} / {}",
            Txt::ImportSummary.get(lang),
            report.encoding,
            report.rows,
            report.created,
            report.updated,
            report.unchanged,
            report.invalid_rows
        ));
        if !report.committed && report.invalid_rows > 0 {
            Notice::error(Txt::ImportRejected.get(lang)).show(ui);
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::Grid::new("import-errors").striped(true).num_columns(4).show(ui, |ui| {
                for header in [Txt::Line, Txt::Field, Txt::Value, Txt::Reason] {
                    ui.label(RichText::new(header.get(lang)).strong());
                }
                ui.end_row();
                for error in &report.errors {
                    ui.label(error.line.to_string());
                    ui.label(&error.field);
                    ui.label(&error.value);
                    ui.label(field_problem(&error.problem, lang));
                    ui.end_row();
                }
            });
        });
    }
}

impl Admin {
    /// Which serial ports the scanner and the ID-card reader are on and how they talk on
    /// their lines, and which configured printer badges go to. Saved in `devices.toml`; the
    /// app uses them at its next start.
    fn devices_tab(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>, running: &Devices) {
        let lang = shell.lang;
        let Some(choices) = &self.devices else {
            shell.station.send(Request::DeviceSettings);
            self.devices = Some(DeviceChoices::default());
            return;
        };
        let mut ports = vec![(None, Txt::NoDevice.get(lang).to_owned())];
        ports.extend(
            choices
                .ports
                .iter()
                .map(|(path, what)| (Some(path.clone()), format!("{path}  {what}"))),
        );
        let default = match &choices.default_printer {
            Some(name) => format!("{} ({name})", Txt::PrintersDefault.get(lang)),
            None => Txt::PrinterNotConfigured.get(lang).to_owned(),
        };
        let mut printers = vec![(None, default)];
        printers.extend(choices.printers.iter().map(|name| (Some(name.clone()), name.clone())));
        let edit = &mut self.device_edit;
        egui::Grid::new("devices").num_columns(2).spacing([16.0, 8.0]).show(ui, |ui| {
            pick_one(ui, Txt::Scanner.get(lang), &mut edit.scanner, &ports);
            // The choice is for the next start; what runs now may differ (the demo's
            // simulators, a keyboard scanner): said beside it, as in the status bar.
            running_now(ui, lang, running.scanner_link());
            scanner_line(ui, lang, &mut edit.scanner_line);
            let label = ui.label(Txt::KeyboardScanGap.get(lang));
            ui.add(
                egui::DragValue::new(&mut edit.keyboard_scan_gap_ms)
                    .range(10..=1_000)
                    .suffix(" ms"),
            )
            .labelled_by(label.id);
            ui.end_row();
            pick_one(ui, Txt::IdReader.get(lang), &mut edit.id_reader, &ports);
            running_now(ui, lang, running.id_reader_link());
            pick_one(ui, Txt::IdReaderBaud.get(lang), &mut edit.id_reader_baud, &serial_bauds());
            pick_one(ui, Txt::Printer.get(lang), &mut edit.printer, &printers);
            // The printer picked here, saved or not: trying it is how one picks.
            ui.label("");
            let test = egui::Button::new(Txt::TestPrint.get(lang));
            if ui.add_enabled(!self.test_printing, test).clicked() {
                self.test_printing = true;
                self.notice = None;
                shell.station.send(Request::TestPrint { printer: edit.printer.clone() });
            }
            ui.end_row();
            camera_choice(ui, lang, &mut edit.camera, &choices.cameras);
            running_now(ui, lang, running.camera_link());
        });
        if choices.ports.is_empty() {
            ui.label(Txt::NoSerialPorts.get(lang));
        }
        let changed = self.device_edit != choices.saved;
        if ui.add_enabled(changed, egui::Button::new(Txt::Save.get(lang))).clicked() {
            shell.station.send(Request::SaveDeviceSettings(self.device_edit.clone()));
            if let Some(choices) = &mut self.devices {
                choices.saved = self.device_edit.clone();
            }
        }
    }

    fn event_tab(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let template = &mut self.template;
        self.event.show(ui, shell, |ui, chosen| template.show(ui, shell, chosen));
    }
}

impl TemplatePreview {
    /// The badge template: pick one of the shipped templates and see a sample badge laid
    /// out by the same code as the PDF. The pick is part of the event edit, saved with it.
    fn show(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>, chosen: &mut String) {
        let lang = shell.lang;
        if let Some(preview) = self.pending.take() {
            let (size, rgba) = &preview.logo;
            let image = egui::ColorImage::from_rgba_unmultiplied(*size, rgba);
            let texture = ui.ctx().load_texture("badge-logo", image, egui::TextureOptions::LINEAR);
            self.shown = Some((preview, texture));
        }
        let shown = self.shown.as_ref().map(|(preview, _)| &preview.template);
        if shown != Some(chosen) && self.asked.as_ref() != Some(chosen) {
            shell.station.send(Request::BadgePreview { template: chosen.clone() });
            self.asked = Some(chosen.clone());
        }
        ui.horizontal(|ui| {
            let label = ui.label(RichText::new(Txt::ChooseTemplate.get(lang)).strong());
            let picker = egui::ComboBox::from_id_salt("badge-template")
                .selected_text(chosen.clone())
                .show_ui(ui, |ui| {
                    for name in crate::badges::template::shipped_names() {
                        ui.selectable_value(chosen, name.to_owned(), name);
                    }
                });
            picker.response.labelled_by(label.id);
        });
        match &self.shown {
            Some((preview, logo)) if preview.template == *chosen => {
                ui.label(&preview.description);
                paint_badge(ui, &preview.layout, logo);
            }
            _ => {
                ui.spinner();
            }
        }
    }
}

/// The camera read as a scanner: none, a V4L camera, or the simulator playing image files.
fn camera_choice(
    ui: &mut egui::Ui,
    lang: Lang,
    camera: &mut Option<CameraChoice>,
    found: &[(u32, String)],
) {
    let mut choices = vec![(None, Txt::NoDevice.get(lang).to_owned())];
    choices.extend(found.iter().map(|(index, name)| {
        (Some(CameraChoice::V4l(*index)), format!("/dev/video{index}  {name}"))
    }));
    let frames = match camera {
        Some(CameraChoice::Frames(path)) => path.clone(),
        _ => std::path::PathBuf::from("camera-frames"),
    };
    choices.push((Some(CameraChoice::Frames(frames)), Txt::CameraFrames.get(lang).to_owned()));
    pick_one(ui, Txt::Camera.get(lang), camera, &choices);
    match camera {
        Some(CameraChoice::Frames(path)) => {
            let label = ui.label(Txt::CameraFramesPath.get(lang));
            let mut text = path.display().to_string();
            if ui.text_edit_singleline(&mut text).labelled_by(label.id).changed() {
                *path = text.into();
            }
            ui.end_row();
        }
        Some(CameraChoice::V4l(_)) if !cfg!(feature = "camera") => {
            ui.label("");
            ui.label(Txt::CameraNoSupport.get(lang));
            ui.end_row();
        }
        _ => {}
    }
}

/// The serial scanner's line settings, as rows of the devices grid.
fn scanner_line(ui: &mut egui::Ui, lang: Lang, line: &mut ScannerLine) {
    pick_one(ui, Txt::ScannerBaud.get(lang), &mut line.baud, &serial_bauds());
    let ends: Vec<(LineEnd, String)> =
        LineEnd::ALL.iter().map(|end| (*end, line_end_label(*end).get(lang).to_owned())).collect();
    pick_one(ui, Txt::ScannerLineEnd.get(lang), &mut line.terminator, &ends);
    ui.label("");
    ui.checkbox(&mut line.strip_aim, Txt::StripAim.get(lang));
    ui.end_row();
    for (text, value) in
        [(Txt::StripPrefix, &mut line.strip_prefix), (Txt::StripSuffix, &mut line.strip_suffix)]
    {
        let label = ui.label(text.get(lang));
        ui.add(egui::TextEdit::singleline(value).desired_width(120.0)).labelled_by(label.id);
        ui.end_row();
    }
    let label = ui.label(Txt::Debounce.get(lang));
    ui.add(egui::DragValue::new(&mut line.debounce_ms).range(0..=10_000).suffix(" ms"))
        .labelled_by(label.id);
    ui.end_row();
}

fn serial_bauds() -> Vec<(u32, String)> {
    SERIAL_BAUDS.iter().map(|baud| (*baud, baud.to_string())).collect()
}

fn line_end_label(end: LineEnd) -> Txt {
    match end {
        LineEnd::Cr => Txt::EndCr,
        LineEnd::Lf => Txt::EndLf,
        LineEnd::CrLf => Txt::EndCrLf,
        LineEnd::Tab => Txt::EndTab,
        LineEnd::Idle => Txt::EndIdle,
    }
}

/// A labelled drop-down of `choices` (value and text) setting `value`: one row of a grid.
fn pick_one<T: PartialEq + Clone>(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut T,
    choices: &[(T, String)],
) {
    let label = ui.label(label);
    let shown = choices.iter().find(|(v, _)| v == value).map_or("—", |(_, text)| text.as_str());
    let picker = egui::ComboBox::from_id_salt(label.id).width(420.0).selected_text(shown).show_ui(
        ui,
        |ui| {
            for (choice, text) in choices {
                ui.selectable_value(value, choice.clone(), text);
            }
        },
    );
    picker.response.labelled_by(label.id);
    ui.end_row();
}

/// A laid-out badge painted at up to 320 points high: the marks of the PDF, in egui.
fn paint_badge(ui: &mut egui::Ui, layout: &BadgeLayout, logo: &egui::TextureHandle) {
    let scale = (320.0 / layout.height_pt).min(480.0 / layout.width_pt);
    let size = egui::vec2(layout.width_pt * scale, layout.height_pt * scale);
    let (response, painter) = ui.allocate_painter(size, egui::Sense::hover());
    let origin = response.rect.min;
    // PDF points from the bottom left to screen points from the top left.
    let to_screen = |r: &PtRect| {
        egui::Rect::from_min_size(
            origin + egui::vec2(r.x * scale, (layout.height_pt - r.y - r.h) * scale),
            egui::vec2(r.w * scale, r.h * scale),
        )
    };
    let colour = |[r, g, b]: [u8; 3]| egui::Color32::from_rgb(r, g, b);
    painter.rect_filled(response.rect, 4.0, egui::Color32::WHITE);
    for mark in &layout.marks {
        match mark {
            Mark::Fill { rect, colour: c } => {
                painter.rect_filled(to_screen(rect), 0.0, colour(*c));
            }
            Mark::Logo { rect } => {
                let uv = egui::Rect::from_min_max(egui::Pos2::ZERO, egui::pos2(1.0, 1.0));
                painter.image(logo.id(), to_screen(rect), uv, egui::Color32::WHITE);
            }
            Mark::Qr { runs } => {
                for run in runs {
                    painter.rect_filled(to_screen(run), 0.0, egui::Color32::BLACK);
                }
            }
            Mark::Text { x, baseline, size, colour: c, text } => {
                let at = origin + egui::vec2(x * scale, (layout.height_pt - baseline) * scale);
                painter.text(
                    at,
                    egui::Align2::LEFT_BOTTOM,
                    text,
                    egui::FontId::proportional(size * scale),
                    colour(*c),
                );
            }
        }
    }
}

/// The role choice, labelled "Role".
/// A Devices tab row: how the device runs now.
fn running_now(ui: &mut egui::Ui, lang: Lang, link: Link) {
    ui.label("");
    ui.label(format!("{}: {}", Txt::RunningNow.get(lang), link_text(link, lang)));
    ui.end_row();
}

/// An audit action in the operator's words; an action this version does not know by its key.
fn audit_action(action: &str, lang: Lang) -> String {
    let text = match action {
        "login" => Txt::ActionLogin,
        "login_failed" => Txt::ActionLoginFailed,
        "login_locked" => Txt::ActionLoginLocked,
        "register" => Txt::ActionRegister,
        "edit" => Txt::ActionEdit,
        "import" => Txt::ActionImport,
        "issue_badge" => Txt::ActionIssueBadge,
        "print_badge" => Txt::ActionPrintBadge,
        "print_reprint" | "reprint" => Txt::ActionReprint,
        "print_retry" => Txt::ActionPrintRetry,
        "revoke" => Txt::ActionRevoke,
        "reveal_id" => Txt::ActionRevealId,
        "operator_add" => Txt::ActionOperatorAdd,
        "operator_change" => Txt::ActionOperatorChange,
        "event_init" | "event_import" | "event_update" => Txt::ActionEventChange,
        "device_settings" => Txt::ActionDeviceSettings,
        "gate_mode" => Txt::ActionGateMode,
        "follow_up_export" => Txt::ActionExport,
        "sync" => Txt::ActionSync,
        other => return other.to_owned(),
    };
    text.get(lang).to_owned()
}

/// An audit entry's detail as `key: value` pairs, not JSON; the usual keys, and values
/// that are ids (a registration's source, a category), in the operator's words.
fn detail_text(detail: &serde_json::Value, shell: &Shell<'_>) -> String {
    let lang = shell.lang;
    let key_text = |key: &str| match key {
        "serial" => Txt::Badge.get(lang).to_owned(),
        "reason" => Txt::Reason.get(lang).to_owned(),
        "role" => Txt::Role.get(lang).to_owned(),
        "category" => Txt::Category.get(lang).to_owned(),
        "categories" => Txt::Scope.get(lang).to_owned(),
        "fields" => Txt::DetailFields.get(lang).to_owned(),
        "operator" => Txt::OperatorName.get(lang).to_owned(),
        "source" => Txt::DetailSource.get(lang).to_owned(),
        "previous" => Txt::DetailPrevious.get(lang).to_owned(),
        "job" => Txt::DetailPrintJob.get(lang).to_owned(),
        "printer" => Txt::Printer.get(lang).to_owned(),
        "reprints" => Txt::TotalReprints.get(lang).to_owned(),
        "event" => Txt::DetailEvent.get(lang).to_owned(),
        "created" => Txt::DetailCreated.get(lang).to_owned(),
        "updated" => Txt::DetailUpdated.get(lang).to_owned(),
        "unchanged" => Txt::DetailUnchanged.get(lang).to_owned(),
        "skipped_invalid" => Txt::DetailSkipped.get(lang).to_owned(),
        "from" => Txt::DetailFrom.get(lang).to_owned(),
        "to" => Txt::DetailTo.get(lang).to_owned(),
        "error" => Txt::DetailError.get(lang).to_owned(),
        "permission" => Txt::DetailPermission.get(lang).to_owned(),
        "attendees" => Txt::DetailAttendees.get(lang).to_owned(),
        other => other.to_owned(),
    };
    match detail {
        serde_json::Value::Object(fields) => fields
            .iter()
            // A key without a value (no reason given) says nothing.
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| match value {
                // An operator limited to no categories may serve every one.
                serde_json::Value::Array(items) if key == "categories" && items.is_empty() => {
                    format!("{}: {}", key_text(key), Txt::AllCategories.get(lang))
                }
                serde_json::Value::String(text) => {
                    format!("{}: {}", key_text(key), detail_value(key, text, shell))
                }
                // Edited fields, an operator's categories: each in the operator's words.
                serde_json::Value::Array(items) => {
                    let words: Vec<&str> = items
                        .iter()
                        .map(|item| match item {
                            serde_json::Value::String(text) => detail_value(key, text, shell),
                            _ => "?",
                        })
                        .collect();
                    format!("{}: {}", key_text(key), words.join(", "))
                }
                other => format!("{}: {other}", key_text(key)),
            })
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An audit detail's value in the operator's words where it is an id this station knows
/// (an unknown one, such as a category since removed, by its id).
fn detail_value<'a>(key: &str, value: &'a str, shell: &Shell<'a>) -> &'a str {
    let lang = shell.lang;
    match key {
        "source" => match Source::parse(value) {
            Some(source) => source_label(source).get(lang),
            None => value,
        },
        "role" => Role::parse(value).ok().map_or(value, |role| role_label(role).get(lang)),
        "fields" => field_label(value).get(lang),
        "category" | "categories" => shell
            .info
            .categories
            .iter()
            .find(|category| category.id == value)
            .map_or(value, |category| lang.pick(&category.label_zh, &category.label_en)),
        _ => value,
    }
}

fn role_picker(ui: &mut egui::Ui, lang: Lang, id: &str, role: &mut Option<Role>) {
    let label = ui.label(Txt::Role.get(lang));
    let picker = egui::ComboBox::from_id_salt(id)
        .selected_text(role.map_or("—", |role| role_label(role).get(lang)))
        .show_ui(ui, |ui| {
            for choice in Role::ALL {
                ui.selectable_value(role, Some(choice), role_label(choice).get(lang));
            }
        });
    picker.response.labelled_by(label.id);
}

/// Ticks for the categories an operator handles (a data permission); none ticked is all.
fn category_scope(ui: &mut egui::Ui, shell: &Shell<'_>, chosen: &mut Vec<String>) {
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("{}:", Txt::Scope.get(shell.lang)));
        for category in &shell.info.categories {
            let label = shell.lang.pick(&category.label_zh, &category.label_en);
            let mut ticked = chosen.contains(&category.id);
            if ui.checkbox(&mut ticked, label).changed() {
                chosen.retain(|id| id != &category.id);
                if ticked {
                    chosen.push(category.id.clone());
                }
            }
        }
        if chosen.is_empty() {
            ui.label(RichText::new(Txt::AllCategories.get(shell.lang)).italics());
        }
    });
}
