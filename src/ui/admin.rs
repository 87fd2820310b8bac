//! Admin mode: the dashboard (see `dashboard`), the event's settings, operators and roles, the audit log with a filter, and
//! the import of pre-registrations with its error report.

use eframe::egui::{self, RichText};
use expo_sync::protocol::AuditRecord;

use super::app::Shell;
use super::dashboard::Dashboard;
use super::devices::DevicePorts;
use super::i18n::{Lang, Txt};
use super::station::{BadgePreview, DeviceChoices, Request, Response, StationHandle};
use super::widgets::{labelled_text, Notice};
use crate::badges::render::{BadgeLayout, Mark, PtRect};
use crate::operators::{Operator, Role};
use crate::registration::import::ImportReport;

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
    operators: Vec<Operator>,
    new_name: String,
    new_pin: String,
    new_role: Option<Role>,
    audit: Vec<AuditRecord>,
    audit_attendee: String,
    audit_text: String,
    import_path: String,
    skip_invalid: bool,
    report: Option<ImportReport>,
    notice: Option<Notice>,
    /// The template picked in the event tab, and its preview once laid out (the logo
    /// becomes a texture on the next frame, where the egui context is at hand).
    template_choice: Option<String>,
    pending_preview: Option<BadgePreview>,
    /// The Devices tab: what was loaded and what is being edited.
    devices: Option<DeviceChoices>,
    device_edit: DevicePorts,
    preview_asked: Option<String>,
    preview: Option<(BadgePreview, egui::TextureHandle)>,
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
                self.operators.push(operator);
            }
            Response::Audit(entries) => self.audit = entries,
            Response::Imported(report) => self.report = Some(report),
            Response::BadgePreview(preview) => self.pending_preview = Some(*preview),
            Response::DeviceSettings(choices) => {
                self.device_edit = choices.saved.clone();
                self.devices = Some(choices);
            }
            Response::DeviceSettingsSaved => {
                self.notice = Some(Notice::ok(Txt::DevicesSaved.get(lang)));
            }
            dashboard @ (Response::Dashboard(_) | Response::Exported(_)) => {
                self.dashboard.on_response(dashboard, lang);
            }
            failed @ Response::Failed(_) if self.tab == Tab::Dashboard => {
                self.dashboard.on_response(failed, lang);
            }
            Response::Failed(failure) => self.notice = Some(Notice::failure(lang, &failure)),
            _ => {}
        }
    }

    /// The event definition changed (a new badge template): say so.
    pub fn on_event_updated(&mut self, lang: Lang) {
        self.notice = Some(Notice::ok(Txt::Saved.get(lang)));
    }

    pub fn show(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                for (tab, text) in [
                    (Tab::Dashboard, Txt::Dashboard),
                    (Tab::Event, Txt::EventSettings),
                    (Tab::Devices, Txt::Devices),
                    (Tab::Operators, Txt::Operators),
                    (Tab::Audit, Txt::AuditLog),
                    (Tab::Import, Txt::Import),
                ] {
                    ui.selectable_value(&mut self.tab, tab, text.get(lang));
                }
            });
            ui.separator();
            if let Some(notice) = &self.notice {
                notice.show(ui);
            }
            match self.tab {
                Tab::Dashboard => self.dashboard.show(ui, shell),
                Tab::Devices => self.devices_tab(ui, shell),
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
        egui::Grid::new("operators").striped(true).num_columns(3).show(ui, |ui| {
            for header in [Txt::OperatorName, Txt::Role, Txt::Scope] {
                ui.label(RichText::new(header.get(lang)).strong());
            }
            ui.end_row();
            for operator in &self.operators {
                ui.label(&operator.name);
                ui.label(operator.role.id());
                ui.label(if operator.categories.is_empty() {
                    Txt::AllCategories.get(lang).to_owned()
                } else {
                    operator.categories.join(", ")
                });
                ui.end_row();
            }
        });
        ui.separator();
        ui.label(RichText::new(Txt::AddOperator.get(lang)).strong());
        ui.horizontal(|ui| {
            labelled_text(ui, Txt::OperatorName.get(lang), &mut self.new_name, false);
            labelled_text(ui, Txt::Pin.get(lang), &mut self.new_pin, true);
            let label = ui.label(Txt::Role.get(lang));
            let shown = self.new_role.map_or("—", Role::id);
            let picker =
                egui::ComboBox::from_id_salt("role").selected_text(shown).show_ui(ui, |ui| {
                    for role in Role::ALL {
                        ui.selectable_value(&mut self.new_role, Some(role), role.id());
                    }
                });
            picker.response.labelled_by(label.id);
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

    fn audit_tab(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        ui.horizontal(|ui| {
            labelled_text(ui, Txt::AuditFilter.get(lang), &mut self.audit_attendee, false);
            labelled_text(ui, Txt::TextFilter.get(lang), &mut self.audit_text, false);
            if ui.button(Txt::Refresh.get(lang)).clicked() {
                let attendee =
                    Some(self.audit_attendee.trim().to_owned()).filter(|a| !a.is_empty());
                shell.station.send(Request::Audit { attendee, limit: AUDIT_LIMIT });
            }
        });
        let needle = self.audit_text.trim().to_lowercase();
        let shown = self.audit.iter().filter(|e| {
            needle.is_empty()
                || e.actor.to_lowercase().contains(&needle)
                || e.action.to_lowercase().contains(&needle)
                || e.detail.to_string().to_lowercase().contains(&needle)
        });
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::Grid::new("audit").striped(true).num_columns(4).show(ui, |ui| {
                for header in [Txt::At, Txt::Actor, Txt::Action, Txt::Detail] {
                    ui.label(RichText::new(header.get(lang)).strong());
                }
                ui.end_row();
                for entry in shown {
                    ui.label(&entry.at);
                    ui.label(&entry.actor);
                    ui.label(&entry.action);
                    ui.label(entry.detail.to_string());
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
                    ui.label(&error.reason);
                    ui.end_row();
                }
            });
        });
    }
}

impl Admin {
    /// Which serial ports the scanner and the ID-card reader are on, and which configured
    /// printer badges go to. Saved in `devices.toml`; the app uses them at its next start.
    fn devices_tab(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        let Some(choices) = &self.devices else {
            shell.station.send(Request::DeviceSettings);
            self.devices = Some(DeviceChoices::default());
            return;
        };
        let none = Txt::NoDevice.get(lang).to_owned();
        egui::Grid::new("devices").num_columns(2).spacing([16.0, 8.0]).show(ui, |ui| {
            for (text, value) in [
                (Txt::Scanner, &mut self.device_edit.scanner),
                (Txt::IdReader, &mut self.device_edit.id_reader),
            ] {
                let label = ui.label(text.get(lang));
                let shown = value.clone().unwrap_or_else(|| none.clone());
                let picker = egui::ComboBox::from_id_salt(text.get(Lang::En))
                    .width(420.0)
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(value, None, &none);
                        for (path, what) in &choices.ports {
                            ui.selectable_value(
                                value,
                                Some(path.clone()),
                                format!("{path}  {what}"),
                            );
                        }
                    });
                picker.response.labelled_by(label.id);
                ui.end_row();
            }
            let label = ui.label(Txt::Printer.get(lang));
            let default = match &choices.default_printer {
                Some(name) => format!("{} ({name})", Txt::PrintersDefault.get(lang)),
                None => Txt::PrinterNotConfigured.get(lang).to_owned(),
            };
            let shown = self.device_edit.printer.clone().unwrap_or_else(|| default.clone());
            let picker = egui::ComboBox::from_id_salt("printer")
                .width(420.0)
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.device_edit.printer, None, &default);
                    for name in &choices.printers {
                        ui.selectable_value(
                            &mut self.device_edit.printer,
                            Some(name.clone()),
                            name,
                        );
                    }
                });
            picker.response.labelled_by(label.id);
            ui.end_row();
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
        let (lang, info) = (shell.lang, shell.info);
        egui::Grid::new("event").num_columns(2).spacing([24.0, 6.0]).show(ui, |ui| {
            for (label, value) in [
                (Txt::EventName, lang.pick(&info.event_name, &info.event_name_en).to_owned()),
                (Txt::Venue, info.venue.clone()),
                (Txt::Dates, info.dates.clone()),
                (Txt::Timezone, info.timezone.clone()),
                (Txt::BadgeTemplate, info.badge_template.clone()),
            ] {
                ui.label(label.get(lang));
                ui.label(value);
                ui.end_row();
            }
        });
        ui.separator();
        ui.label(RichText::new(Txt::Categories.get(lang)).strong());
        egui::Grid::new("categories").striped(true).num_columns(3).show(ui, |ui| {
            for category in &info.categories {
                ui.label(&category.id);
                ui.label(lang.pick(&category.label_zh, &category.label_en));
                ui.label(format!(
                    "{}: {}",
                    Txt::RequiredFields.get(lang),
                    category.required.join(", ")
                ));
                ui.end_row();
            }
        });
        ui.separator();
        ui.label(RichText::new(Txt::Zones.get(lang)).strong());
        for (id, name, name_en) in &info.zones {
            ui.label(format!("{id} · {}", lang.pick(name, name_en)));
        }
        ui.separator();
        self.template_section(ui, shell);
    }

    /// The badge template: pick one of the shipped templates, see a sample badge laid out
    /// by the same code as the PDF, and make it the event's.
    fn template_section(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        if let Some(preview) = self.pending_preview.take() {
            let (size, rgba) = &preview.logo;
            let image = egui::ColorImage::from_rgba_unmultiplied(*size, rgba);
            let texture = ui.ctx().load_texture("badge-logo", image, egui::TextureOptions::LINEAR);
            self.preview = Some((preview, texture));
        }
        let current = shell.info.badge_template.clone();
        let chosen = self.template_choice.get_or_insert_with(|| current.clone()).clone();
        let shown = self.preview.as_ref().map(|(preview, _)| preview.template.clone());
        if shown.as_ref() != Some(&chosen) && self.preview_asked.as_ref() != Some(&chosen) {
            shell.station.send(Request::BadgePreview { template: chosen.clone() });
            self.preview_asked = Some(chosen.clone());
        }
        ui.horizontal(|ui| {
            let label = ui.label(RichText::new(Txt::ChooseTemplate.get(lang)).strong());
            let mut picked = chosen.clone();
            let picker = egui::ComboBox::from_id_salt("badge-template")
                .selected_text(picked.clone())
                .show_ui(ui, |ui| {
                    for name in crate::badges::template::shipped_names() {
                        ui.selectable_value(&mut picked, name.to_owned(), name);
                    }
                });
            picker.response.labelled_by(label.id);
            if picked != chosen {
                self.template_choice = Some(picked);
            }
            let can_use = chosen != current;
            if ui.add_enabled(can_use, egui::Button::new(Txt::UseTemplate.get(lang))).clicked() {
                shell.station.send(Request::SetBadgeTemplate { template: chosen.clone() });
            }
        });
        match &self.preview {
            Some((preview, logo)) if preview.template == chosen => {
                ui.label(&preview.description);
                paint_badge(ui, &preview.layout, logo);
            }
            _ => {
                ui.spinner();
            }
        }
    }
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
