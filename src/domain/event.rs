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
    "lanyard-90x130".into()
}

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
    #[error("event definition is inconsistent: {0}")]
    Invalid(String),
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
    pub fn validate(&self) -> Result<(), EventError> {
        let invalid = |msg: String| Err(EventError::Invalid(msg));
        let e = &self.event;
        if e.id.is_empty()
            || !e.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return invalid(format!("event id {:?} must be letters, digits, - or _", e.id));
        }
        if e.timezone.parse::<Tz>().is_err() {
            return invalid(format!("unknown time zone {:?}", e.timezone));
        }
        if e.end < e.start {
            return invalid("event ends before it starts".into());
        }
        if self.categories.is_empty() || self.categories.len() > 255 {
            return invalid("an event needs 1 to 255 categories".into());
        }
        let mut seen = std::collections::HashSet::new();
        for category in &self.categories {
            if !seen.insert(category.id.as_str()) || !seen.insert(category.label_zh.as_str()) {
                return invalid(format!("category {:?} is defined twice", category.id));
            }
            if parse_colour(&category.colour).is_none() {
                return invalid(format!("category {} colour must be #RRGGBB", category.id));
            }
            for field in &category.required {
                if !REQUIRABLE_FIELDS.contains(&field.as_str()) {
                    return invalid(format!(
                        "category {} requires unknown field {field}",
                        category.id
                    ));
                }
            }
            for window in &category.access {
                for zone in &window.zones {
                    if zone != "*" && self.zone(zone).is_none() {
                        return invalid(format!(
                            "category {} names unknown zone {zone}",
                            category.id
                        ));
                    }
                }
            }
        }
        if let Some(id) = &e.kiosk_walk_in_category {
            if !self.categories.iter().any(|category| category.id == *id) {
                let known: Vec<&str> = self.categories.iter().map(|c| c.id.as_str()).collect();
                return invalid(format!(
                    "kiosk_walk_in_category {id:?} is not a category id of this event (one of: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
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
        assert!(
            err.contains("kiosk_walk_in_category \"walk-in\" is not a category id")
                && err.contains("public_visitor"),
            "{err}"
        );
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
}
