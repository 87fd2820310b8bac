//! The event definition: what `event init --file EVENT.toml` reads and what stations
//! share through `event export` / `event import` and the hub.

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The whole event as written in EVENT.toml. See `assets/events/example-event.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDefinition {
    pub event: EventInfo,
    #[serde(default)]
    pub zones: Vec<Zone>,
    /// Order matters: a category's position is its code inside badge tokens, so
    /// categories may be appended but never reordered or removed once badges exist.
    pub categories: Vec<Category>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInfo {
    /// Stable machine id, e.g. `ciie-2026`. Badge tokens carry a hash of it.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub name_en: String,
    pub venue: String,
    /// IANA time zone of the venue, e.g. `Asia/Shanghai`.
    pub timezone: String,
    /// First and last show day, in the venue's time zone.
    #[serde(deserialize_with = "toml_date::one")]
    pub start: NaiveDate,
    #[serde(deserialize_with = "toml_date::one")]
    pub end: NaiveDate,
    /// Badge template id (see `assets/badges/`).
    #[serde(default = "default_template")]
    pub badge_template: String,
    /// When a badge is reprinted, the previous serial stops opening gates.
    #[serde(default = "default_true")]
    pub reprint_revokes_previous: bool,
    /// The category a self-service kiosk registers a walk-in in, from their ID card; none
    /// (the default) sends walk-ins to a desk. The organiser's policy, not the station's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiosk_walk_in_category: Option<String>,
}

fn default_template() -> String {
    BADGE_TEMPLATES[0].into()
}

/// The badge templates an event may pick: those compiled into every station
/// (`badges::template` holds their layouts). An event is installed on every station by
/// sync, so a template file on one station's disk is no template for the others.
pub const BADGE_TEMPLATES: [&str; 3] = ["lanyard-90x130", "cr80", "label-4x6"];

fn default_true() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub name_en: String,
    /// Anti-passback at this zone's gates.
    #[serde(default)]
    pub passback: Passback,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Passback {
    #[default]
    Off,
    /// Grant a second entry without an exit, but flag it.
    Soft,
    /// Deny a second entry without an exit.
    Hard,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Machine id, e.g. `exhibitor`.
    pub id: String,
    /// Chinese label, e.g. 参展商. Accepted wherever a category is read.
    pub label_zh: String,
    pub label_en: String,
    /// Badge colour band, `#RRGGBB`.
    #[serde(default = "default_colour")]
    pub colour: String,
    /// Fields a registration of this category must have (`company`, `title`, `phone`,
    /// `email`, `country`, `id_number`).
    #[serde(default)]
    pub required: Vec<String>,
    /// Most entries per show day into any zone; none means no limit.
    #[serde(default)]
    pub max_entries_per_day: Option<u32>,
    /// When and where holders may enter. No window means no access at all.
    #[serde(default)]
    pub access: Vec<AccessWindow>,
}

fn default_colour() -> String {
    "#607080".into()
}

/// Zones × days × hours in which a category may enter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessWindow {
    /// Zone ids, or `["*"]` for every zone.
    pub zones: Vec<String>,
    /// Show days; empty means every day of the event.
    #[serde(default, deserialize_with = "toml_date::many")]
    pub days: Vec<NaiveDate>,
    /// Local opening time of the window, `HH:MM`.
    #[serde(with = "hhmm")]
    pub from: NaiveTime,
    #[serde(with = "hhmm")]
    pub to: NaiveTime,
}

impl AccessWindow {
    pub fn covers_zone(&self, zone: &str) -> bool {
        self.zones.iter().any(|z| z == "*" || z == zone)
    }

    pub fn covers_day(&self, day: NaiveDate) -> bool {
        self.days.is_empty() || self.days.contains(&day)
    }

    pub fn covers_time(&self, time: NaiveTime) -> bool {
        self.from <= time && time < self.to
    }
}

/// TOML writes dates bare (`start = 2026-11-24`) while chrono reads only strings; an
/// operator may write either, so both are accepted.
mod toml_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum DateInput {
        Toml(toml::value::Datetime),
        Text(String),
    }

    fn parse<E: serde::de::Error>(input: DateInput) -> Result<NaiveDate, E> {
        let text = match input {
            DateInput::Toml(datetime) => datetime.to_string(),
            DateInput::Text(text) => text,
        };
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map_err(|_| E::custom(format!("date {text:?} is not YYYY-MM-DD")))
    }

    pub fn one<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        parse(DateInput::deserialize(d)?)
    }

    pub fn many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
        Vec::<DateInput>::deserialize(d)?.into_iter().map(parse).collect()
    }
}

mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&time.format("%H:%M"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| serde::de::Error::custom(format!("time {text:?} is not HH:MM")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event file is not valid TOML for an event: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("event definition is inconsistent: {}", list(.0))]
    Invalid(Vec<EventProblem>),
}

fn list(problems: &[EventProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Where in an event definition a problem is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "in", content = "id")]
pub enum EventPlace {
    Event,
    Zone(String),
    Category(String),
    /// A category's access window, numbered from 1 as the editor shows them.
    Window {
        category: String,
        number: usize,
    },
}

/// A field of an event definition, as the editor labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventField {
    EventId,
    EventName,
    Venue,
    Timezone,
    FirstDay,
    LastDay,
    Categories,
    KioskWalkInCategory,
    ZoneId,
    ZoneName,
    ZoneNameEn,
    CategoryId,
    LabelZh,
    LabelEn,
    Colour,
    Required,
    MaxEntriesPerDay,
    AllowedZones,
    AccessDays,
    HoursFrom,
    HoursTo,
    BadgeTemplate,
}

impl EventField {
    /// The field's name in EVENT.toml.
    pub fn id(self) -> &'static str {
        use EventField::*;
        match self {
            EventId => "id",
            EventName => "name",
            Venue => "venue",
            Timezone => "timezone",
            FirstDay => "start",
            LastDay => "end",
            Categories => "categories",
            KioskWalkInCategory => "kiosk_walk_in_category",
            ZoneId | CategoryId => "id",
            ZoneName => "name",
            ZoneNameEn => "name_en",
            LabelZh => "label_zh",
            LabelEn => "label_en",
            Colour => "colour",
            Required => "required",
            MaxEntriesPerDay => "max_entries_per_day",
            AllowedZones => "zones",
            AccessDays => "days",
            HoursFrom => "from",
            HoursTo => "to",
            BadgeTemplate => "badge_template",
        }
    }
}

/// What is wrong with a field, with what the message needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum EventProblemKind {
    Empty,
    /// An id that is not letters, digits, `-` or `_`.
    BadId,
    UnknownTimezone,
    EndBeforeStart,
    /// Not 1 to 255 categories (a badge token holds a category's position in one byte).
    CategoryCount,
    /// An id or Chinese label used twice.
    Duplicate,
    BadColour,
    UnknownField(String),
    UnknownZone(String),
    UnknownCategory(String),
    /// An access window without any zone.
    NoZone,
    DayOutsideEvent,
    /// Closing at or before opening.
    HoursOrder,
    /// A daily entry limit of 0 (no limit is written as none).
    ZeroLimit,
    /// Typed text that is not a date (the editor's draft).
    BadDate,
    /// Typed text that is not a time of day.
    BadTime,
    /// Typed text that is not a whole number.
    BadCount,
    /// A badge template that does not ship with expo-kiosk ([`BADGE_TEMPLATES`]).
    UnknownTemplate(String),
}

/// One problem of an event definition: where, which field, what. The one check of a
/// definition is [`EventDefinition::problems`]; `event init`, bundle import, sync and the
/// admin's editor all use it, and each words its problems in its operator's language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventProblem {
    pub place: EventPlace,
    pub field: EventField,
    pub kind: EventProblemKind,
}

impl EventProblem {
    pub fn new(place: EventPlace, field: EventField, kind: EventProblemKind) -> Self {
        EventProblem { place, field, kind }
    }
}

/// English, for the command line and logs; screens use `ui::i18n`.
impl std::fmt::Display for EventProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.place {
            EventPlace::Event => {}
            EventPlace::Zone(id) => write!(f, "zone {id} ")?,
            EventPlace::Category(id) => write!(f, "category {id} ")?,
            EventPlace::Window { category, number } => {
                write!(f, "category {category} access window {number} ")?
            }
        }
        write!(f, "{}: ", self.field.id())?;
        use EventProblemKind::*;
        match &self.kind {
            Empty => f.write_str("must not be empty"),
            BadId => f.write_str("must be letters, digits, - or _"),
            UnknownTimezone => f.write_str("unknown time zone"),
            EndBeforeStart => f.write_str("the event ends before it starts"),
            CategoryCount => f.write_str("an event needs 1 to 255 categories"),
            Duplicate => f.write_str("defined twice"),
            BadColour => f.write_str("colour must be #RRGGBB"),
            UnknownField(field) => write!(f, "unknown field {field}"),
            UnknownZone(zone) => write!(f, "unknown zone {zone}"),
            UnknownCategory(id) => write!(f, "{id:?} is not a category id of this event"),
            NoZone => f.write_str("choose at least one zone"),
            DayOutsideEvent => f.write_str("a day lies outside the event"),
            HoursOrder => f.write_str("closes at or before it opens"),
            ZeroLimit => f.write_str("must be at least 1 (leave it out for no limit)"),
            BadDate => f.write_str("not a date (YYYY-MM-DD)"),
            BadTime => f.write_str("not a time (HH:MM)"),
            BadCount => f.write_str("not a whole number"),
            UnknownTemplate(name) => {
                write!(f, "unknown badge template {name:?}: use {}", BADGE_TEMPLATES.join(", "))
            }
        }
    }
}

fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl EventDefinition {
    pub fn from_toml(text: &str) -> Result<Self, EventError> {
        let definition: EventDefinition = toml::from_str(text)?;
        definition.validate()?;
        Ok(definition)
    }

    pub fn to_toml(&self) -> String {
        // Serialising plain data structs to TOML cannot fail: every field is a string,
        // number, bool, date or a table/array of those.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    pub fn timezone(&self) -> Tz {
        // `validate` has proven the zone name parses.
        self.event.timezone.parse().unwrap_or(Tz::UTC)
    }

    /// A category by id or Chinese label, with its token code (its position).
    pub fn category(&self, id_or_label: &str) -> Option<(u8, &Category)> {
        let key = id_or_label.trim();
        self.categories
            .iter()
            .enumerate()
            .find(|(_, c)| c.id == key || c.label_zh == key || c.id == key.to_ascii_lowercase())
            .and_then(|(i, c)| Some((u8::try_from(i).ok()?, c)))
    }

    pub fn category_by_code(&self, code: u8) -> Option<&Category> {
        self.categories.get(usize::from(code))
    }

    pub fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// Whether the definition is consistent (known time zone, ordered dates, distinct
    /// categories, valid colours, known zones); `from_toml` runs it on every text read.
    /// Every check of a definition at once; empty when it is consistent.
    pub fn validate(&self) -> Result<(), EventError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EventError::Invalid(problems))
        }
    }

    /// Everything wrong with this definition, in the order the editor shows its sections.
    pub fn problems(&self) -> Vec<EventProblem> {
        use EventField as F;
        use EventProblemKind as K;
        let mut problems = Vec::new();
        let mut problem = |place: &EventPlace, field: EventField, kind: EventProblemKind| {
            problems.push(EventProblem::new(place.clone(), field, kind));
        };
        let e = &self.event;
        let event = EventPlace::Event;
        if !is_plain_id(&e.id) {
            problem(&event, F::EventId, K::BadId);
        }
        for (value, field) in [(&e.name, F::EventName), (&e.venue, F::Venue)] {
            if value.trim().is_empty() {
                problem(&event, field, K::Empty);
            }
        }
        if !BADGE_TEMPLATES.contains(&e.badge_template.as_str()) {
            problem(&event, F::BadgeTemplate, K::UnknownTemplate(e.badge_template.clone()));
        }
        if e.timezone.parse::<Tz>().is_err() {
            problem(&event, F::Timezone, K::UnknownTimezone);
        }
        if e.end < e.start {
            problem(&event, F::LastDay, K::EndBeforeStart);
        }
        if self.categories.is_empty() || self.categories.len() > 255 {
            problem(&event, F::Categories, K::CategoryCount);
        }
        if let Some(id) = &e.kiosk_walk_in_category {
            if !self.categories.iter().any(|category| category.id == *id) {
                problem(&event, F::KioskWalkInCategory, K::UnknownCategory(id.clone()));
            }
        }
        let mut zone_ids = std::collections::HashSet::new();
        for zone in &self.zones {
            let place = EventPlace::Zone(zone.id.clone());
            if !is_plain_id(&zone.id) {
                problem(&place, F::ZoneId, K::BadId);
            } else if !zone_ids.insert(zone.id.as_str()) {
                problem(&place, F::ZoneId, K::Duplicate);
            }
            for (value, field) in [(&zone.name, F::ZoneName), (&zone.name_en, F::ZoneNameEn)] {
                if value.trim().is_empty() {
                    problem(&place, field, K::Empty);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for category in &self.categories {
            let place = EventPlace::Category(category.id.clone());
            if !is_plain_id(&category.id) {
                problem(&place, F::CategoryId, K::BadId);
            }
            if !seen.insert(category.id.as_str()) {
                problem(&place, F::CategoryId, K::Duplicate);
            }
            // Categories are read by id or Chinese label, so no label may be another's id.
            if category.label_zh.trim().is_empty() {
                problem(&place, F::LabelZh, K::Empty);
            } else if !seen.insert(category.label_zh.as_str()) {
                problem(&place, F::LabelZh, K::Duplicate);
            }
            if category.label_en.trim().is_empty() {
                problem(&place, F::LabelEn, K::Empty);
            }
            if parse_colour(&category.colour).is_none() {
                problem(&place, F::Colour, K::BadColour);
            }
            for field in &category.required {
                if !REQUIRABLE_FIELDS.contains(&field.as_str()) {
                    problem(&place, F::Required, K::UnknownField(field.clone()));
                }
            }
            if category.max_entries_per_day == Some(0) {
                problem(&place, F::MaxEntriesPerDay, K::ZeroLimit);
            }
            for (index, window) in category.access.iter().enumerate() {
                let place = EventPlace::Window { category: category.id.clone(), number: index + 1 };
                if window.zones.is_empty() {
                    problem(&place, F::AllowedZones, K::NoZone);
                }
                for zone in &window.zones {
                    if zone != "*" && self.zone(zone).is_none() {
                        problem(&place, F::AllowedZones, K::UnknownZone(zone.clone()));
                    }
                }
                if window.days.iter().any(|day| *day < e.start || *day > e.end) {
                    problem(&place, F::AccessDays, K::DayOutsideEvent);
                }
                if window.to <= window.from {
                    problem(&place, F::HoursTo, K::HoursOrder);
                }
            }
        }
        problems
    }
}

/// Fields a category may make mandatory.
pub const REQUIRABLE_FIELDS: [&str; 6] =
    ["company", "title", "phone", "email", "country", "id_number"];

/// `#RRGGBB` to bytes.
impl Category {
    /// The colour band's RGB. `EventDefinition::validate` proved every category colour
    /// parses; the grey only stands in for a definition that skipped validation.
    pub fn rgb(&self) -> [u8; 3] {
        parse_colour(&self.colour).unwrap_or([0x60, 0x70, 0x80])
    }
}

pub fn parse_colour(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXAMPLE: &str = include_str!("../../assets/events/example-event.toml");

    #[test]
    fn the_shipped_example_parses_and_has_every_required_category() {
        let event = EventDefinition::from_toml(EXAMPLE).unwrap();
        for (id, zh) in [
            ("exhibitor", "参展商"),
            ("professional_visitor", "专业观众"),
            ("public_visitor", "普通观众"),
            ("media", "媒体"),
            ("vip", "贵宾"),
            ("organizer", "主办方"),
            ("staff", "工作人员"),
        ] {
            let (code, by_id) = event.category(id).unwrap();
            let (code_zh, by_label) = event.category(zh).unwrap();
            assert_eq!((code, &by_id.id), (code_zh, &by_label.id));
        }
        let round_trip = EventDefinition::from_toml(&event.to_toml()).unwrap();
        assert_eq!(round_trip, event);
    }

    #[test]
    fn inconsistent_definitions_are_rejected_with_the_reason() {
        let cases = [
            (EXAMPLE.replace("Asia/Shanghai", "Mars/Olympus"), "time zone"),
            (EXAMPLE.replace("\"#1f6feb\"", "\"blue\""), "colour"),
            (EXAMPLE.replacen("zones = [\"hall-1\"", "zones = [\"hall-99\"", 1), "unknown zone"),
            (
                EXAMPLE.replacen("max_entries_per_day = 10", "max_entries_per_day = 0", 1),
                "at least 1",
            ),
            (
                EXAMPLE.replacen("label_en = \"Exhibitor\"", "label_en = \" \"", 1),
                "label_en: must not be empty",
            ),
        ];
        for (text, reason) in cases {
            let err = EventDefinition::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(reason), "{err}");
        }
        assert!(EventDefinition::from_toml("not toml [").is_err());
    }

    #[test]
    fn the_kiosk_walk_in_category_must_be_a_category_id_and_may_be_left_out() {
        let example = EventDefinition::from_toml(EXAMPLE).unwrap();
        assert_eq!(example.event.kiosk_walk_in_category.as_deref(), Some("public_visitor"));

        let unknown = EXAMPLE.replace(
            "kiosk_walk_in_category = \"public_visitor\"",
            "kiosk_walk_in_category = \"walk-in\"",
        );
        let err = EventDefinition::from_toml(&unknown).unwrap_err().to_string();
        assert!(err.contains("kiosk_walk_in_category: \"walk-in\" is not a category id"), "{err}");
        // A label is not an id: the setting is compared with stored category ids.
        let label = EXAMPLE.replace(
            "kiosk_walk_in_category = \"public_visitor\"",
            "kiosk_walk_in_category = \"普通观众\"",
        );
        assert!(EventDefinition::from_toml(&label).is_err());

        // An event written before the setting existed still loads, and says "no".
        let without = EXAMPLE.replace("kiosk_walk_in_category = \"public_visitor\"\n", "");
        assert_ne!(without, EXAMPLE);
        let event = EventDefinition::from_toml(&without).unwrap();
        assert_eq!(event.event.kiosk_walk_in_category, None);
        assert!(!event.to_toml().contains("kiosk_walk_in_category"), "none is not written");
    }

    #[test]
    fn every_check_of_the_editor_is_the_domains_and_all_problems_come_at_once() {
        let mut event = EventDefinition::from_toml(EXAMPLE).unwrap();
        event.event.name = " ".into();
        event.event.end = event.event.start - chrono::Duration::days(1);
        event.zones[0].name.clear();
        let visitor = &mut event.categories[1];
        visitor.label_en.clear();
        visitor.max_entries_per_day = Some(0);
        visitor.access[0].zones.clear();
        visitor.access[0].to = visitor.access[0].from;
        let problems = event.problems();
        let found = |place: EventPlace, field: EventField, kind: EventProblemKind| {
            assert!(problems.contains(&EventProblem::new(place, field, kind)), "{problems:#?}");
        };
        use EventField as F;
        use EventProblemKind as K;
        found(EventPlace::Event, F::EventName, K::Empty);
        found(EventPlace::Event, F::LastDay, K::EndBeforeStart);
        found(EventPlace::Zone("hall-1".into()), F::ZoneName, K::Empty);
        let visitor = || EventPlace::Category("professional_visitor".into());
        found(visitor(), F::LabelEn, K::Empty);
        found(visitor(), F::MaxEntriesPerDay, K::ZeroLimit);
        let window = || EventPlace::Window { category: "professional_visitor".into(), number: 1 };
        found(window(), F::AllowedZones, K::NoZone);
        found(window(), F::HoursTo, K::HoursOrder);
        // Every access day of the example now lies after the (moved) last day.
        let public = EventPlace::Window { category: "public_visitor".into(), number: 1 };
        found(public, F::AccessDays, K::DayOutsideEvent);
        assert!(matches!(event.validate(), Err(EventError::Invalid(all)) if all == problems));
    }
}
