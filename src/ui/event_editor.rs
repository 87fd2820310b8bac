//! The admin's event editor: the event's names, venue, dates and time zone, its zones and its
//! categories (labels, colour, and which zones, days and hours they may enter), and the badge
//! template. Everything is edited as text in a [`Draft`], checked on every frame with the
//! problems shown in the operator's language, and saved as one definition through the
//! station worker, which hands it to `provisioning::update_definition`.
//!
//! The event id and the ids of existing categories are fixed: attendees, badges and tokens
//! refer to them. New zones and categories get a new id; a zone goes only when no category
//! names it; categories stay (a badge token carries a category's position).

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveTime};
use eframe::egui::{self, Color32, RichText};

use super::app::Shell;
use super::i18n::{event_field_label, event_place, event_problem_message, field_label, Lang, Txt};
use super::widgets::field_error;
use crate::domain::event::{parse_colour, Passback, REQUIRABLE_FIELDS};
use crate::domain::{
    AccessWindow, Category, EventDefinition, EventField, EventPlace, EventProblem,
    EventProblemKind, Zone,
};
use crate::station::Request;

/// Days of checkboxes an access window offers at most; a longer event is a typo in its dates.
const MAX_LISTED_DAYS: i64 = 62;

/// Access hours of a new window until the admin sets them.
const NEW_WINDOW_HOURS: (&str, &str) = ("09:00", "17:00");

/// The editor's state: the stored definition, the edit, and what is selected.
#[derive(Default)]
pub struct EventEditor {
    /// The definition as stored, once the worker sent it.
    saved: Option<EventDefinition>,
    draft: Draft,
    /// The stored definition was asked for (again after a save).
    asked: bool,
    /// A save is on its way to the worker.
    saving: bool,
    zone: Option<String>,
    category: Option<String>,
    new_zone_id: String,
    new_category_id: String,
}

/// The event as the admin is editing it: every typed value as typed.
#[derive(Clone, Debug, Default, PartialEq)]
struct Draft {
    name: String,
    name_en: String,
    venue: String,
    timezone: String,
    start: String,
    end: String,
    badge_template: String,
    /// The category id kiosks register walk-ins in; none sends them to a desk.
    kiosk_walk_in_category: Option<String>,
    zones: Vec<ZoneDraft>,
    categories: Vec<CategoryDraft>,
}

#[derive(Clone, Debug, PartialEq)]
struct ZoneDraft {
    id: String,
    name: String,
    name_en: String,
    passback: Passback,
}

#[derive(Clone, Debug, PartialEq)]
struct CategoryDraft {
    id: String,
    label_zh: String,
    label_en: String,
    colour: String,
    /// Field names from `REQUIRABLE_FIELDS`, in the stored order.
    required: Vec<String>,
    /// Empty: no limit.
    max_entries: String,
    windows: Vec<WindowDraft>,
    /// The access window shown.
    window: usize,
    /// Added in this edit: it may still be removed.
    is_new: bool,
}

#[derive(Clone, Debug, PartialEq)]
struct WindowDraft {
    /// `*`: every zone, including zones added later.
    all_zones: bool,
    /// In the stored order, so an untouched window is unchanged.
    zones: Vec<String>,
    /// Empty: every day of the event.
    days: Vec<NaiveDate>,
    from: String,
    to: String,
}

/// Something to fix before saving, as shown: where (`""` for the event, else a zone or
/// category id, with the window number), which field (its label) and what is wrong.
#[derive(Clone, Debug, PartialEq)]
struct Problem {
    place: String,
    field: Txt,
    message: String,
}

impl Problem {
    fn of(problem: &EventProblem, lang: Lang) -> Self {
        Problem {
            place: event_place(&problem.place, lang),
            field: event_field_label(problem.field),
            message: event_problem_message(&problem.kind, lang),
        }
    }
}

impl Draft {
    fn of(definition: &EventDefinition) -> Self {
        let event = &definition.event;
        Self {
            name: event.name.clone(),
            name_en: event.name_en.clone(),
            venue: event.venue.clone(),
            timezone: event.timezone.clone(),
            start: event.start.to_string(),
            end: event.end.to_string(),
            badge_template: event.badge_template.clone(),
            kiosk_walk_in_category: event.kiosk_walk_in_category.clone(),
            zones: definition
                .zones
                .iter()
                .map(|zone| ZoneDraft {
                    id: zone.id.clone(),
                    name: zone.name.clone(),
                    name_en: zone.name_en.clone(),
                    passback: zone.passback,
                })
                .collect(),
            categories: definition
                .categories
                .iter()
                .map(|category| CategoryDraft {
                    id: category.id.clone(),
                    label_zh: category.label_zh.clone(),
                    label_en: category.label_en.clone(),
                    colour: category.colour.clone(),
                    required: category.required.clone(),
                    max_entries: category
                        .max_entries_per_day
                        .map(|max| max.to_string())
                        .unwrap_or_default(),
                    windows: category.access.iter().map(WindowDraft::of).collect(),
                    window: 0,
                    is_new: false,
                })
                .collect(),
        }
    }

    /// The definition this draft describes (the settings it does not edit kept from
    /// `saved`), or everything that is wrong with it, worded in `lang`: what does not
    /// parse as typed, then the domain's own check of the definition
    /// ([`EventDefinition::problems`], the one that `event init`, bundles and sync apply),
    /// one problem per field.
    fn build(&self, saved: &EventDefinition, lang: Lang) -> Result<EventDefinition, Vec<Problem>> {
        self.build_typed(saved)
            .map_err(|problems| problems.iter().map(|problem| Problem::of(problem, lang)).collect())
    }

    fn build_typed(&self, saved: &EventDefinition) -> Result<EventDefinition, Vec<EventProblem>> {
        use EventField as F;
        use EventProblemKind as K;
        let mut problems = Vec::new();
        let start = parse_date(&self.start);
        let end = parse_date(&self.end);
        for (parsed, field) in [(start, F::FirstDay), (end, F::LastDay)] {
            if parsed.is_none() {
                problems.push(EventProblem::new(EventPlace::Event, field, K::BadDate));
            }
        }
        for category in &self.categories {
            if parse_max_entries(&category.max_entries).is_none() {
                let place = EventPlace::Category(category.id.clone());
                problems.push(EventProblem::new(place, F::MaxEntriesPerDay, K::BadCount));
            }
            for (index, window) in category.windows.iter().enumerate() {
                let place = EventPlace::Window { category: category.id.clone(), number: index + 1 };
                for (text, field) in [(&window.from, F::HoursFrom), (&window.to, F::HoursTo)] {
                    if parse_time(text).is_none() {
                        problems.push(EventProblem::new(place.clone(), field, K::BadTime));
                    }
                }
            }
        }
        let dates = start.zip(end);
        let (first, last) = dates.unwrap_or((saved.event.start, saved.event.end));
        let definition = self.apply(saved, first, last);
        for problem in definition.problems() {
            let shown =
                problems.iter().any(|p| p.place == problem.place && p.field == problem.field);
            // Days are checked against the event's own dates only once those parse.
            let undated = dates.is_none() && problem.field == F::AccessDays;
            if !shown && !undated {
                problems.push(problem);
            }
        }
        if problems.is_empty() {
            Ok(definition)
        } else {
            Err(problems)
        }
    }

    /// `saved` with this draft's (already checked) values.
    fn apply(&self, saved: &EventDefinition, start: NaiveDate, end: NaiveDate) -> EventDefinition {
        let mut definition = saved.clone();
        let event = &mut definition.event;
        event.name = self.name.trim().to_owned();
        event.name_en = self.name_en.trim().to_owned();
        event.venue = self.venue.trim().to_owned();
        event.timezone = self.timezone.trim().to_owned();
        event.start = start;
        event.end = end;
        event.badge_template = self.badge_template.clone();
        event.kiosk_walk_in_category = self.kiosk_walk_in_category.clone();
        definition.zones = self
            .zones
            .iter()
            .map(|zone| Zone {
                id: zone.id.clone(),
                name: zone.name.trim().to_owned(),
                name_en: zone.name_en.trim().to_owned(),
                passback: zone.passback,
            })
            .collect();
        definition.categories = self
            .categories
            .iter()
            .map(|draft| Category {
                id: draft.id.clone(),
                label_zh: draft.label_zh.trim().to_owned(),
                label_en: draft.label_en.trim().to_owned(),
                colour: draft.colour.trim().to_owned(),
                required: draft.required.clone(),
                max_entries_per_day: parse_max_entries(&draft.max_entries).flatten(),
                access: draft.windows.iter().map(WindowDraft::to_window).collect(),
            })
            .collect();
        definition
    }

    /// Whether a category window names the zone (it may not be removed then).
    fn zone_in_use(&self, zone: &str) -> bool {
        self.categories.iter().flat_map(|c| &c.windows).any(|w| w.zones.iter().any(|z| z == zone))
    }

    fn id_is_free(&self, id: &str) -> bool {
        let valid =
            !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        valid
            && id != "*"
            && !self.zones.iter().any(|zone| zone.id == id)
            && !self.categories.iter().any(|c| c.id == id || c.label_zh == id)
    }
}

impl WindowDraft {
    fn of(window: &AccessWindow) -> Self {
        let all_zones = window.zones.iter().any(|zone| zone == "*");
        Self {
            all_zones,
            zones: if all_zones { Vec::new() } else { window.zones.clone() },
            days: window.days.clone(),
            from: window.from.format("%H:%M").to_string(),
            to: window.to.format("%H:%M").to_string(),
        }
    }

    fn new() -> Self {
        Self {
            all_zones: false,
            zones: Vec::new(),
            days: Vec::new(),
            from: NEW_WINDOW_HOURS.0.into(),
            to: NEW_WINDOW_HOURS.1.into(),
        }
    }

    /// The window. A time that does not parse (which `Draft::build` reports) stands in as
    /// the whole day, so every window keeps its number for the domain's check.
    fn to_window(&self) -> AccessWindow {
        AccessWindow {
            zones: if self.all_zones { vec!["*".into()] } else { self.zones.to_vec() },
            days: self.days.to_vec(),
            from: parse_time(&self.from).unwrap_or(NaiveTime::MIN),
            to: parse_time(&self.to)
                .or_else(|| NaiveTime::from_hms_opt(23, 59, 0))
                .unwrap_or(NaiveTime::MIN),
        }
    }
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// `Some(None)` for no limit (empty), `Some(Some(n))` for a limit of n (the domain refuses
/// 0), `None` when the text is neither.
fn parse_max_entries(text: &str) -> Option<Option<u32>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(None);
    }
    text.parse::<u32>().ok().map(Some)
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

impl EventEditor {
    /// The stored definition arrived: edit it afresh, keeping what was selected.
    pub fn on_definition(&mut self, definition: EventDefinition) {
        self.draft = Draft::of(&definition);
        self.saved = Some(definition);
        self.saving = false;
    }

    /// The edit was saved: fetch the stored definition again.
    pub fn on_saved(&mut self) {
        self.asked = false;
    }

    /// The save failed (the notice says why): the edit stays for another try.
    pub fn on_failed(&mut self) {
        self.saving = false;
    }

    /// The editor's sections; the badge template's picker is drawn by `template` between
    /// the categories and the save buttons.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        shell: &Shell<'_>,
        template: impl FnOnce(&mut egui::Ui, &mut String),
    ) {
        let lang = shell.lang;
        if !self.asked {
            shell.station.send(Request::EventDefinition);
            self.asked = true;
        }
        let Some(saved) = self.saved.clone() else {
            ui.spinner();
            return;
        };
        // The fields show the problems of the draft as it came into this frame.
        let problems = self.draft.build(&saved, lang).err().unwrap_or_default();
        event_section(ui, lang, &mut self.draft, &problems);
        ui.separator();
        self.zones_section(ui, lang, &problems);
        ui.separator();
        self.categories_section(ui, lang, &problems);
        ui.separator();
        template(ui, &mut self.draft.badge_template);
        ui.separator();
        // The buttons and the list below them see this frame's edits.
        let built = self.draft.build(&saved, lang);
        let changed = built.as_ref().is_ok_and(|definition| *definition != saved);
        let problems = built.as_ref().err().cloned().unwrap_or_default();
        ui.horizontal(|ui| {
            let can_save = changed && !self.saving;
            if ui.add_enabled(can_save, egui::Button::new(Txt::SaveEvent.get(lang))).clicked() {
                if let Ok(definition) = built {
                    shell.station.send(Request::UpdateEvent(Box::new(definition)));
                    self.saving = true;
                }
            }
            let edited = self.draft != Draft::of(&saved);
            if ui.add_enabled(edited, egui::Button::new(Txt::RevertEvent.get(lang))).clicked() {
                self.draft = Draft::of(&saved);
            }
            ui.label(format!("{}: {}", Txt::EventId.get(lang), saved.event.id));
        });
        if !problems.is_empty() {
            ui.label(RichText::new(Txt::FixBeforeSave.get(lang)).strong());
            for problem in &problems {
                let place = if problem.place.is_empty() {
                    String::new()
                } else {
                    format!("{} · ", problem.place)
                };
                let text = format!("{place}{}: {}", problem.field.get(lang), problem.message);
                field_error(ui, Some(text.as_str()));
            }
        }
    }

    fn zones_section(&mut self, ui: &mut egui::Ui, lang: Lang, problems: &[Problem]) {
        ui.label(RichText::new(Txt::Zones.get(lang)).strong());
        ui.horizontal_wrapped(|ui| {
            for zone in &self.draft.zones {
                let text = format!("{} · {}", zone.id, lang.pick(&zone.name, &zone.name_en));
                let selected = self.zone.as_ref() == Some(&zone.id);
                if ui.selectable_label(selected, text).clicked() {
                    self.zone = Some(zone.id.clone());
                }
            }
        });
        if let Some(id) =
            new_id_row(ui, lang, Txt::NewZoneId, Txt::AddZone, &mut self.new_zone_id, &self.draft)
        {
            self.draft.zones.push(ZoneDraft {
                id: id.clone(),
                name: String::new(),
                name_en: String::new(),
                passback: Passback::default(),
            });
            self.zone = Some(id);
        }
        let Some(index) =
            self.draft.zones.iter().position(|zone| Some(&zone.id) == self.zone.as_ref())
        else {
            return;
        };
        let in_use = self.draft.zone_in_use(&self.draft.zones[index].id);
        let zone = &mut self.draft.zones[index];
        egui::Grid::new("zone-edit").num_columns(2).spacing([16.0, 6.0]).show(ui, |ui| {
            for (field, value) in
                [(Txt::ZoneNameZh, &mut zone.name), (Txt::ZoneNameEn, &mut zone.name_en)]
            {
                text_field(ui, lang, field, value);
                field_error(ui, problem_at(problems, &zone.id, field));
                ui.end_row();
            }
        });
        ui.horizontal(|ui| {
            ui.label(Txt::PassbackLabel.get(lang));
            for (mode, text) in [
                (Passback::Off, Txt::PassbackOff),
                (Passback::Soft, Txt::PassbackSoft),
                (Passback::Hard, Txt::PassbackHard),
            ] {
                ui.radio_value(&mut zone.passback, mode, text.get(lang));
            }
        });
        ui.horizontal(|ui| {
            if ui.add_enabled(!in_use, egui::Button::new(Txt::RemoveZone.get(lang))).clicked() {
                self.draft.zones.remove(index);
                self.zone = None;
            }
            if in_use {
                ui.label(Txt::ZoneInUse.get(lang));
            }
        });
    }

    fn categories_section(&mut self, ui: &mut egui::Ui, lang: Lang, problems: &[Problem]) {
        ui.label(RichText::new(Txt::Categories.get(lang)).strong());
        ui.label(Txt::IdsFixed.get(lang));
        ui.horizontal_wrapped(|ui| {
            for category in &self.draft.categories {
                swatch(ui, &category.colour);
                let text = format!(
                    "{} · {}",
                    category.id,
                    lang.pick(&category.label_zh, &category.label_en)
                );
                let selected = self.category.as_ref() == Some(&category.id);
                if ui.selectable_label(selected, text).clicked() {
                    self.category = Some(category.id.clone());
                }
            }
        });
        if let Some(id) = new_id_row(
            ui,
            lang,
            Txt::NewCategoryId,
            Txt::AddCategory,
            &mut self.new_category_id,
            &self.draft,
        ) {
            self.draft.categories.push(CategoryDraft {
                id: id.clone(),
                label_zh: String::new(),
                label_en: String::new(),
                colour: "#607080".into(),
                required: Vec::new(),
                max_entries: String::new(),
                windows: vec![WindowDraft::new()],
                window: 0,
                is_new: true,
            });
            self.category = Some(id);
        }
        let Some(index) =
            self.draft.categories.iter().position(|c| Some(&c.id) == self.category.as_ref())
        else {
            return;
        };
        let event_days = listed_days(&self.draft);
        let zones: Vec<(String, String)> = self
            .draft
            .zones
            .iter()
            .map(|zone| (zone.id.clone(), lang.pick(&zone.name, &zone.name_en).to_owned()))
            .collect();
        let category = &mut self.draft.categories[index];
        egui::Grid::new("category-edit").num_columns(2).spacing([16.0, 6.0]).show(ui, |ui| {
            for (field, value) in [
                (Txt::CategoryLabelZh, &mut category.label_zh),
                (Txt::CategoryLabelEn, &mut category.label_en),
                (Txt::BadgeColour, &mut category.colour),
                (Txt::MaxEntriesPerDay, &mut category.max_entries),
            ] {
                if field == Txt::BadgeColour {
                    colour_picker(ui, lang, value);
                } else {
                    text_field(ui, lang, field, value);
                }
                field_error(ui, problem_at(problems, &category.id, field));
                ui.end_row();
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.label(Txt::RequiredFields.get(lang));
            for field in REQUIRABLE_FIELDS {
                let mut on = category.required.iter().any(|f| f == field);
                if ui.checkbox(&mut on, field_label(field).get(lang)).changed() {
                    toggle(&mut category.required, field.to_owned(), on);
                }
            }
        });
        if category.is_new && ui.button(Txt::RemoveCategory.get(lang)).clicked() {
            let removed = self.draft.categories.remove(index);
            if self.draft.kiosk_walk_in_category.as_ref() == Some(&removed.id) {
                // Kiosks cannot register walk-ins in a category that is not there.
                self.draft.kiosk_walk_in_category = None;
            }
            self.category = None;
            return;
        }
        window_section(ui, lang, category, &zones, &event_days, problems);
    }
}

/// The "new id" field and its Add button for zones and categories: the id, once added
/// (the field is cleared), when it is free and well formed; otherwise says why not.
fn new_id_row(
    ui: &mut egui::Ui,
    lang: Lang,
    field: Txt,
    button: Txt,
    text: &mut String,
    draft: &Draft,
) -> Option<String> {
    ui.horizontal(|ui| {
        text_field(ui, lang, field, text);
        let id = text.trim().to_owned();
        let free = draft.id_is_free(&id);
        let added = ui.add_enabled(free, egui::Button::new(button.get(lang))).clicked();
        if !id.is_empty() && !free {
            field_error(ui, Some(Txt::BadNewId.get(lang)));
        }
        added.then(|| {
            text.clear();
            id
        })
    })
    .inner
}

/// The event's own settings.
fn event_section(ui: &mut egui::Ui, lang: Lang, draft: &mut Draft, problems: &[Problem]) {
    ui.label(RichText::new(Txt::General.get(lang)).strong());
    egui::Grid::new("event-edit").num_columns(2).spacing([16.0, 6.0]).show(ui, |ui| {
        for (field, value) in [
            (Txt::EventName, &mut draft.name),
            (Txt::EventNameEn, &mut draft.name_en),
            (Txt::Venue, &mut draft.venue),
            (Txt::FirstDay, &mut draft.start),
            (Txt::LastDay, &mut draft.end),
            (Txt::Timezone, &mut draft.timezone),
        ] {
            if field == Txt::Timezone {
                timezone_picker(ui, lang, value);
            } else {
                text_field(ui, lang, field, value);
            }
            field_error(ui, problem_at(problems, "", field));
            ui.end_row();
        }
    });
    kiosk_walk_in_picker(ui, lang, draft);
}

/// The category kiosks register walk-ins in, or none (they are sent to a desk).
fn kiosk_walk_in_picker(ui: &mut egui::Ui, lang: Lang, draft: &mut Draft) {
    let name = |category: &CategoryDraft| {
        format!("{} ({})", lang.pick(&category.label_zh, &category.label_en), category.id)
    };
    let chosen = &mut draft.kiosk_walk_in_category;
    let shown = chosen
        .as_ref()
        .and_then(|id| draft.categories.iter().find(|c| c.id == *id))
        .map_or_else(|| Txt::KioskWalkInNone.get(lang).to_owned(), name);
    ui.horizontal(|ui| {
        let label = ui.label(Txt::KioskWalkInCategory.get(lang));
        let picker =
            egui::ComboBox::from_id_salt("kiosk-walk-in").selected_text(shown).show_ui(ui, |ui| {
                ui.selectable_value(chosen, None, Txt::KioskWalkInNone.get(lang));
                for category in &draft.categories {
                    ui.selectable_value(chosen, Some(category.id.clone()), name(category));
                }
            });
        picker.response.labelled_by(label.id);
    });
}

/// One access window of a category: zones, days and hours, with a picker when there are several.
fn window_section(
    ui: &mut egui::Ui,
    lang: Lang,
    category: &mut CategoryDraft,
    zones: &[(String, String)],
    event_days: &[NaiveDate],
    problems: &[Problem],
) {
    ui.horizontal(|ui| {
        for index in 0..category.windows.len() {
            let text = format!("{} {}", Txt::AccessWindow.get(lang), index + 1);
            if ui.selectable_label(category.window == index, text).clicked() {
                category.window = index;
            }
        }
        if ui.button(Txt::AddWindow.get(lang)).clicked() {
            category.windows.push(WindowDraft::new());
            category.window = category.windows.len() - 1;
        }
        if category.windows.len() > 1 && ui.button(Txt::RemoveWindow.get(lang)).clicked() {
            category.windows.remove(category.window);
            category.window = category.window.saturating_sub(1);
        }
    });
    let window_number = category.window + 1;
    let Some(window) = category.windows.get_mut(category.window) else {
        ui.label(Txt::NoAccess.get(lang));
        return;
    };
    let place = format!("{} · {} {window_number}", category.id, Txt::AccessWindow.get(lang));
    ui.label(RichText::new(Txt::AllowedZones.get(lang)).strong());
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut window.all_zones, Txt::AllZones.get(lang));
        ui.add_enabled_ui(!window.all_zones, |ui| {
            for (id, name) in zones {
                let mut allowed = window.zones.contains(id);
                if ui.checkbox(&mut allowed, name).changed() {
                    toggle(&mut window.zones, id.clone(), allowed);
                }
            }
        });
    });
    field_error(ui, problem_at(problems, &place, Txt::AllowedZones));
    ui.label(RichText::new(Txt::AccessDays.get(lang)).strong());
    // The event's days, and any day the window names outside them (to untick).
    let days: BTreeSet<NaiveDate> =
        event_days.iter().copied().chain(window.days.iter().copied()).collect();
    ui.horizontal_wrapped(|ui| {
        for day in days {
            let mut on = window.days.contains(&day);
            if ui.checkbox(&mut on, day.to_string()).changed() {
                toggle(&mut window.days, day, on);
            }
        }
    });
    field_error(ui, problem_at(problems, &place, Txt::AccessDays));
    egui::Grid::new("window-hours").num_columns(2).spacing([16.0, 6.0]).show(ui, |ui| {
        for (field, value) in [(Txt::HoursFrom, &mut window.from), (Txt::HoursTo, &mut window.to)] {
            text_field(ui, lang, field, value);
            field_error(ui, problem_at(problems, &place, field));
            ui.end_row();
        }
    });
}

/// The event's days as the draft's dates give them, when they make a sensible range.
fn listed_days(draft: &Draft) -> Vec<NaiveDate> {
    match (parse_date(&draft.start), parse_date(&draft.end)) {
        (Some(start), Some(end)) if (0..MAX_LISTED_DAYS).contains(&(end - start).num_days()) => {
            start.iter_days().take_while(|day| *day <= end).collect()
        }
        _ => Vec::new(),
    }
}

/// A labelled one-line field. Its id comes from its label, not from its position: problems
/// appearing above it while typing must not move the keyboard focus away.
fn text_field(ui: &mut egui::Ui, lang: Lang, field: Txt, value: &mut String) {
    let label = ui.label(field.get(lang));
    let edit = egui::TextEdit::singleline(value)
        .id_salt(("event-editor", field.get(Lang::En)))
        .desired_width(260.0);
    ui.add(edit).labelled_by(label.id);
}

/// A badge colour picked on a colour wheel, kept as `#RRGGBB` (shown beside it).
fn colour_picker(ui: &mut egui::Ui, lang: Lang, colour: &mut String) {
    let label = ui.label(Txt::BadgeColour.get(lang));
    ui.horizontal(|ui| {
        let mut rgb = parse_colour(colour.trim()).unwrap_or([0x60, 0x70, 0x80]);
        let button = ui.color_edit_button_srgb(&mut rgb).labelled_by(label.id);
        if button.changed() {
            let [r, g, b] = rgb;
            *colour = format!("#{r:02X}{g:02X}{b:02X}");
        }
        ui.label(colour.as_str());
    });
}

/// Time zones of the places exhibitions of this kind are held, Chinese ones first; a zone
/// set elsewhere (in the TOML) is offered as well.
const VENUE_TIMEZONES: [&str; 16] = [
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Macau",
    "Asia/Taipei",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Singapore",
    "Asia/Bangkok",
    "Asia/Dubai",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
    "UTC",
];

/// The event's time zone, picked from a list instead of typed.
fn timezone_picker(ui: &mut egui::Ui, lang: Lang, timezone: &mut String) {
    let label = ui.label(Txt::Timezone.get(lang));
    let current = timezone.trim().to_owned();
    let picker = egui::ComboBox::from_id_salt("event-timezone")
        .selected_text(current.clone())
        .show_ui(ui, |ui| {
            if !current.is_empty() && !VENUE_TIMEZONES.contains(&current.as_str()) {
                ui.selectable_value(timezone, current.clone(), current.as_str());
            }
            for zone in VENUE_TIMEZONES {
                ui.selectable_value(timezone, zone.to_owned(), zone);
            }
        });
    picker.response.labelled_by(label.id);
}

/// Adds `item` to `list` (at the end) or takes it out.
fn toggle<T: PartialEq>(list: &mut Vec<T>, item: T, on: bool) {
    if !on {
        list.retain(|present| *present != item);
    } else if !list.contains(&item) {
        list.push(item);
    }
}

fn problem_at<'a>(problems: &'a [Problem], place: &str, field: Txt) -> Option<&'a str> {
    problems.iter().find(|p| p.place == place && p.field == field).map(|p| p.message.as_str())
}

/// A category's badge colour as a small square (nothing when the colour does not parse).
fn swatch(ui: &mut egui::Ui, colour: &str) {
    let (_, rect) = ui.allocate_space(egui::vec2(14.0, 14.0));
    if let Some([r, g, b]) = parse_colour(colour.trim()) {
        ui.painter().rect_filled(rect, 2.0, Color32::from_rgb(r, g, b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../assets/events/example-event.toml");

    fn example() -> EventDefinition {
        EventDefinition::from_toml(EXAMPLE).unwrap()
    }

    #[test]
    fn an_untouched_draft_builds_the_stored_definition() {
        let saved = example();
        assert_eq!(Draft::of(&saved).build(&saved, Lang::En).unwrap(), saved);
    }

    #[test]
    fn edits_reach_the_definition() {
        let saved = example();
        let mut draft = Draft::of(&saved);
        draft.zones[1].name_en = "Hall Two".into();
        draft.categories[1].windows[0].to = "18:30".into();
        draft.categories[2].windows[0].days.clear();
        draft.categories[1].max_entries = "3".into();
        draft.categories[1].required.push("email".into());
        draft.categories[2].max_entries.clear();
        draft.zones[0].passback = Passback::Hard;
        draft.kiosk_walk_in_category = Some("professional_visitor".into());
        draft.categories.push(CategoryDraft {
            id: "press".into(),
            label_zh: "记者".into(),
            label_en: "Press".into(),
            colour: "#AABBCC".into(),
            required: Vec::new(),
            max_entries: String::new(),
            windows: vec![WindowDraft { all_zones: true, ..WindowDraft::new() }],
            window: 0,
            is_new: true,
        });
        let built = draft.build(&saved, Lang::En).unwrap();
        assert_eq!(built.zones[1].name_en, "Hall Two");
        assert_eq!(built.categories[1].access[0].to, NaiveTime::from_hms_opt(18, 30, 0).unwrap());
        assert_eq!(built.categories[1].max_entries_per_day, Some(3));
        assert_eq!(built.categories[1].required, ["company", "email"]);
        assert_eq!(built.categories[2].max_entries_per_day, None, "no limit");
        assert_eq!(built.zones[0].passback, Passback::Hard);
        assert!(built.categories[2].access[0].days.is_empty(), "every day now");
        assert_eq!(built.event.kiosk_walk_in_category.as_deref(), Some("professional_visitor"));
        draft.kiosk_walk_in_category = None;
        let closed = draft.build(&saved, Lang::En).unwrap();
        assert_eq!(closed.event.kiosk_walk_in_category, None, "kiosks send walk-ins to a desk");
        let press = built.category("press").unwrap().1;
        assert_eq!(
            (press.colour.as_str(), press.access[0].zones.as_slice()),
            ("#AABBCC", &["*".to_owned()][..])
        );
    }

    #[test]
    fn every_problem_is_named_in_the_operators_language() {
        let saved = example();
        let mut draft = Draft::of(&saved);
        draft.end = "2026-11-01".into();
        draft.timezone = "Mars/Olympus".into();
        draft.zones[0].name.clear();
        let visitor = &mut draft.categories[1];
        visitor.colour = "green".into();
        visitor.windows[0].from = "18:00".into();
        visitor.windows[0].zones.clear();
        visitor.max_entries = "0".into();
        let problems = draft.build(&saved, Lang::Zh).unwrap_err();
        let found = |place: &str, field: Txt| problem_at(&problems, place, field);
        assert_eq!(found("", Txt::LastDay), Some(Txt::EndBeforeStart.get(Lang::Zh)));
        assert_eq!(found("", Txt::Timezone), Some(Txt::UnknownTimezone.get(Lang::Zh)));
        assert_eq!(found("hall-1", Txt::ZoneNameZh), Some(Txt::MustNotBeEmpty.get(Lang::Zh)));
        assert_eq!(
            found("professional_visitor", Txt::MaxEntriesPerDay),
            Some(Txt::ZeroLimit.get(Lang::Zh))
        );
        assert_eq!(
            found("professional_visitor", Txt::BadgeColour),
            Some(Txt::BadColour.get(Lang::Zh))
        );
        let window = "professional_visitor · 入场时段 1";
        assert_eq!(found(window, Txt::HoursTo), Some(Txt::HoursOrder.get(Lang::Zh)));
        assert_eq!(found(window, Txt::AllowedZones), Some(Txt::ChooseAZone.get(Lang::Zh)));
        // The public's days (26th, 27th) now lie after the last day.
        let public = "public_visitor · 入场时段 1";
        assert_eq!(found(public, Txt::AccessDays), Some(Txt::DayOutsideEvent.get(Lang::Zh)));
        assert_eq!(problems.len(), 8, "{problems:?}");
    }

    #[test]
    fn the_editor_refuses_what_the_domain_refuses_and_says_what_does_not_parse() {
        let saved = example();
        let mut draft = Draft::of(&saved);
        draft.categories[0].label_en = " ".into();
        draft.categories[1].max_entries = "many".into();
        draft.categories[1].windows[0].from = "9h".into();
        draft.start = "tomorrow".into();
        let problems = draft.build_typed(&saved).unwrap_err();
        let expected = [
            EventProblem::new(EventPlace::Event, EventField::FirstDay, EventProblemKind::BadDate),
            EventProblem::new(
                EventPlace::Category("professional_visitor".into()),
                EventField::MaxEntriesPerDay,
                EventProblemKind::BadCount,
            ),
            EventProblem::new(
                EventPlace::Window { category: "professional_visitor".into(), number: 1 },
                EventField::HoursFrom,
                EventProblemKind::BadTime,
            ),
            EventProblem::new(
                EventPlace::Category("exhibitor".into()),
                EventField::LabelEn,
                EventProblemKind::Empty,
            ),
        ];
        assert_eq!(problems, expected);
        // Once it parses, the editor's problems are the domain's, word for word.
        let mut draft = Draft::of(&saved);
        draft.categories[0].label_en = " ".into();
        draft.categories[1].max_entries = "0".into();
        let built = draft.apply(&saved, saved.event.start, saved.event.end);
        assert_eq!(draft.build_typed(&saved).unwrap_err(), built.problems());
    }

    #[test]
    fn the_editor_refuses_a_badge_template_that_does_not_ship_in_both_languages() {
        let saved = example();
        let mut draft = Draft::of(&saved);
        draft.badge_template = "mine.toml".into();
        let problems = draft.build_typed(&saved).unwrap_err();
        let kind = EventProblemKind::UnknownTemplate("mine.toml".into());
        assert_eq!(
            problems,
            [EventProblem::new(EventPlace::Event, EventField::BadgeTemplate, kind.clone())]
        );
        assert_eq!(event_problem_message(&kind, Lang::Zh), "没有这个胸卡模板: mine.toml");
        assert_eq!(event_problem_message(&kind, Lang::En), "No such badge template: mine.toml");
        assert_eq!(event_field_label(EventField::BadgeTemplate).get(Lang::Zh), "胸卡模板");
    }

    #[test]
    fn ids_of_new_zones_and_categories_must_be_new_and_plain() {
        let draft = Draft::of(&example());
        assert!(draft.id_is_free("hall-3"));
        for taken in ["hall-1", "vip", "贵宾", "*", "", "a b"] {
            assert!(!draft.id_is_free(taken), "{taken:?}");
        }
        assert!(draft.zone_in_use("forum-a"));
        assert!(!draft.zone_in_use("vip-lounge"), "only the `*` windows cover it");
    }
}
