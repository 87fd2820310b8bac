//! Badge templates: data files in `assets/badges/*.toml` that place each element of a
//! badge on the page. The shipped ones are compiled in, so a fresh binary prints without
//! its source tree; a path to a `.toml` file loads a custom one.

use std::path::Path;

use serde::Deserialize;

use super::BadgeError;

/// The templates that ship with expo-kiosk, by name.
const SHIPPED: [(&str, &str); 3] = [
    ("lanyard-90x130", include_str!("../../assets/badges/lanyard-90x130.toml")),
    ("cr80", include_str!("../../assets/badges/cr80.toml")),
    ("label-4x6", include_str!("../../assets/badges/label-4x6.toml")),
];

/// A rectangle in millimetres from the badge's top-left corner.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// Which attendee or event value a text element shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Company,
    Title,
    Country,
    CategoryZh,
    CategoryEn,
    Event,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    Left,
    #[default]
    Center,
    Right,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextElement {
    pub field: Field,
    #[serde(rename = "box")]
    pub area: Area,
    /// The preferred size in points; the text shrinks from here to fit.
    pub max_pt: f32,
    /// Below this size the text wraps to two lines (if `lines = 2`). Defaults to `max_pt / 2`.
    #[serde(default)]
    pub min_pt: Option<f32>,
    #[serde(default = "one_line")]
    pub lines: u8,
    #[serde(default)]
    pub align: Align,
    /// `#RRGGBB`; black by default.
    #[serde(default = "black")]
    pub colour: String,
}

fn one_line() -> u8 {
    1
}

fn black() -> String {
    "#000000".into()
}

impl TextElement {
    pub fn min_size(&self) -> f32 {
        self.min_pt.unwrap_or(self.max_pt / 2.0)
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub width_mm: f32,
    pub height_mm: f32,
    /// Filled with the attendee's category colour.
    pub band: Area,
    pub logo: Area,
    /// A square holding the QR code and its quiet zone.
    pub qr: Area,
    pub text: Vec<TextElement>,
}

impl Template {
    /// A shipped template by name, or a template file when `name` is a path to a `.toml`.
    pub fn load(name: &str) -> Result<Self, BadgeError> {
        if let Some((_, text)) = SHIPPED.iter().find(|(shipped, _)| *shipped == name) {
            return Self::parse(name, text);
        }
        let path = Path::new(name);
        if path.extension().is_some_and(|ext| ext == "toml") {
            let text = std::fs::read_to_string(path)
                .map_err(|source| BadgeError::Io { path: path.to_owned(), source })?;
            return Self::parse(name, &text);
        }
        Err(BadgeError::UnknownTemplate {
            name: name.to_owned(),
            known: shipped_names().collect::<Vec<_>>().join(", "),
        })
    }

    /// Parses and checks a template: every element inside the page, sane sizes.
    pub fn parse(source: &str, text: &str) -> Result<Self, BadgeError> {
        let invalid =
            |reason: String| BadgeError::InvalidTemplate { template: source.to_owned(), reason };
        let template: Template = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if !(template.width_mm > 0.0 && template.height_mm > 0.0) {
            return Err(invalid("the page needs a positive width_mm and height_mm".into()));
        }
        if (template.qr.w - template.qr.h).abs() > 0.01 {
            return Err(invalid("the qr area must be square".into()));
        }
        let areas = [("band", &template.band), ("logo", &template.logo), ("qr", &template.qr)];
        let texts = template.text.iter().map(|t| ("text", &t.area));
        for (what, area) in areas.into_iter().chain(texts) {
            if !template.contains(area) {
                return Err(invalid(format!("the {what} area {area:?} leaves the page")));
            }
        }
        for element in &template.text {
            let sizes_ok = element.max_pt > 0.0
                && element.min_size() > 0.0
                && element.min_size() <= element.max_pt;
            if !sizes_ok || !(1..=2).contains(&element.lines) {
                return Err(invalid(format!(
                    "text {:?}: needs 0 < min_pt <= max_pt and lines 1 or 2",
                    element.field
                )));
            }
            if crate::domain::event::parse_colour(&element.colour).is_none() {
                return Err(invalid(format!("text {:?}: colour must be #RRGGBB", element.field)));
            }
        }
        Ok(template)
    }

    fn contains(&self, area: &Area) -> bool {
        area.w > 0.0
            && area.h > 0.0
            && area.x >= 0.0
            && area.y >= 0.0
            && area.x + area.w <= self.width_mm + 0.01
            && area.y + area.h <= self.height_mm + 0.01
    }
}

/// Names of the templates that ship with expo-kiosk.
pub fn shipped_names() -> impl Iterator<Item = &'static str> {
    SHIPPED.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_loads_and_is_named_after_its_file() {
        assert!(
            shipped_names().eq(crate::domain::event::BADGE_TEMPLATES),
            "an event may pick exactly the shipped templates"
        );
        for name in shipped_names() {
            let template = Template::load(name).expect(name);
            assert_eq!(template.name, name);
            let fields: Vec<Field> = template.text.iter().map(|t| t.field).collect();
            for needed in [
                Field::Name,
                Field::Company,
                Field::Title,
                Field::Country,
                Field::CategoryZh,
                Field::CategoryEn,
            ] {
                assert!(fields.contains(&needed), "{name} lacks {needed:?}");
            }
        }
    }

    #[test]
    fn the_shipped_sizes_are_the_standard_ones() {
        let size = |name| Template::load(name).map(|t| (t.width_mm, t.height_mm)).unwrap();
        assert_eq!(size("lanyard-90x130"), (90.0, 130.0));
        assert_eq!(size("cr80"), (85.6, 54.0));
        assert_eq!(size("label-4x6"), (101.6, 152.4));
    }

    #[test]
    fn an_unknown_name_lists_the_shipped_templates() {
        let error = Template::load("a4-poster").unwrap_err().to_string();
        assert!(error.contains("lanyard-90x130") && error.contains("cr80"), "{error}");
    }

    #[test]
    fn an_element_outside_the_page_is_refused() {
        let text = SHIPPED[1].1.replace("w = 29.0, h = 29.0", "w = 40.0, h = 40.0");
        let error = Template::parse("test", &text).unwrap_err().to_string();
        assert!(error.contains("qr area"), "{error}");
    }

    #[test]
    fn a_bad_colour_or_size_is_refused() {
        let bad_colour = SHIPPED[0].1.replacen("colour = \"#ffffff\"", "colour = \"white\"", 1);
        assert!(Template::parse("test", &bad_colour).is_err());
        let bad_lines = SHIPPED[0].1.replacen("\nlines = 2", "\nlines = 3", 1);
        assert!(Template::parse("test", &bad_lines).is_err());
    }
}
