//! Badge PDFs: a template filled with one attendee per page. Text is real PDF text in
//! the shipped CJK font (subset to the glyphs used), the QR code is vector rectangles.

pub use crate::assets::cjk_font;
use std::io::Write;
use std::sync::OnceLock;

use printpdf::{Color, FontId, ParsedFont, PdfDocument, Rgb};

use super::fit::{fit, width_em, Advances, FitBox};
use super::pdf::{Image, PageContent, PdfWriter};
use super::qr;
use super::template::{Align, Area, Field, Template, TextElement};
use super::BadgeError;
use crate::domain::event::{parse_colour, Category};
use crate::domain::EventDefinition;
use expo_sync::protocol::AttendeeRecord;

const LOGO_PNG: &[u8] = include_bytes!("../../assets/badges/event-logo.png");

/// Modules of light margin the QR specification requires around the code.
const QR_QUIET_ZONE: usize = 4;

const PT_PER_MM: f32 = 72.0 / 25.4;

/// Everything printed on one badge.
#[derive(Clone, Debug, PartialEq)]
pub struct BadgeData {
    pub name: String,
    pub company: String,
    pub title: String,
    pub country: String,
    pub category_zh: String,
    pub category_en: String,
    pub event: String,
    /// The category's colour band.
    pub colour: [u8; 3],
    /// The signed badge token the QR code holds.
    pub token: String,
}

impl BadgeData {
    /// The badge of `attendee` at `event`, holding `token`.
    pub fn for_attendee(
        event: &EventDefinition,
        attendee: &AttendeeRecord,
        token: String,
    ) -> Result<Self, BadgeError> {
        let (_, category) = event.category(&attendee.category).ok_or_else(|| {
            BadgeError::Render(format!("the event has no category {:?}", attendee.category))
        })?;
        let colour = category.rgb();
        Ok(BadgeData {
            name: badge_name(attendee),
            company: attendee.company.clone(),
            title: attendee.title.clone(),
            country: attendee.country.clone(),
            category_zh: category.label_zh.clone(),
            category_en: category.label_en.clone(),
            event: event.event.name.clone(),
            colour,
            token,
        })
    }

    /// A made-up attendee's badge with a token of a real one's length and alphabet, so its
    /// code has the real size: the admin's template preview and `printers test`.
    pub fn sample(event: &str, category: &Category) -> Self {
        BadgeData {
            name: "张三丰".into(),
            company: "武当科技有限公司 Wudang Technology".into(),
            title: "总经理".into(),
            country: "中国".into(),
            category_zh: category.label_zh.clone(),
            category_en: category.label_en.clone(),
            event: event.to_owned(),
            colour: category.rgb(),
            token: format!("{}{}", crate::credential::TOKEN_PREFIX, "7".repeat(154)),
        }
    }

    fn field(&self, field: Field) -> &str {
        match field {
            Field::Name => &self.name,
            Field::Company => &self.company,
            Field::Title => &self.title,
            Field::Country => &self.country,
            Field::CategoryZh => &self.category_zh,
            Field::CategoryEn => &self.category_en,
            Field::Event => &self.event,
        }
    }
}

/// The name a badge prints: a Chinese name beside the name follows it in the same box
/// (SMITH JOHN MICHAEL 史密斯), so every template shows both; the fitter shrinks the line
/// or wraps it to the box's two lines, and never cuts it off.
fn badge_name(attendee: &AttendeeRecord) -> String {
    if attendee.chinese_name.is_empty() {
        attendee.name.clone()
    } else {
        format!("{} {}", attendee.name, attendee.chinese_name)
    }
}

/// The parsed badge font with the metrics the text fitter needs.
pub struct Font {
    parsed: ParsedFont,
    units_per_em: f32,
    ascent_em: f32,
    line_height_em: f32,
    /// The font's name with only the characters a PDF name may hold unescaped.
    pdf_name: String,
    descriptor: DescriptorMetrics,
}

/// What a PDF font descriptor says about the font, in thousandths of an em.
#[derive(Clone, Copy, Debug)]
pub(super) struct DescriptorMetrics {
    pub ascent: i32,
    pub descent: i32,
    /// Left, bottom, right, top of the union of every glyph's box.
    pub bbox: [i32; 4],
}

impl Font {
    /// The shipped font, parsed once per process (parsing the 4 MB collection is the
    /// slowest step of a badge, so every render shares it).
    pub fn shared() -> Result<&'static Font, BadgeError> {
        static FONT: OnceLock<Result<Font, String>> = OnceLock::new();
        FONT.get_or_init(|| Font::parse(cjk_font(), 0))
            .as_ref()
            .map_err(|reason| BadgeError::Font(reason.clone()))
    }

    /// Embeds the font in `doc` (subset to the glyphs used when the document is saved).
    pub fn add_to(&self, doc: &mut PdfDocument) -> FontId {
        doc.add_font(&self.parsed)
    }

    /// The glyph that shows `c`: glyph 0, `.notdef`, when the font has none.
    pub(super) fn glyph(&self, c: char) -> u16 {
        self.parsed.lookup_glyph_index(u32::from(c)).unwrap_or(0)
    }

    /// How far `glyph` advances, in thousandths of an em (the unit of a PDF /W array).
    pub(super) fn advance_per_mille(&self, glyph: u16) -> i32 {
        per_mille(f32::from(self.parsed.get_horizontal_advance(glyph)), self.units_per_em)
    }

    pub(super) fn pdf_name(&self) -> &str {
        &self.pdf_name
    }

    pub(super) fn descriptor_metrics(&self) -> DescriptorMetrics {
        self.descriptor
    }

    pub(super) fn parsed(&self) -> &ParsedFont {
        &self.parsed
    }

    fn parse(bytes: &[u8], face: usize) -> Result<Font, String> {
        let parsed = ParsedFont::from_bytes(bytes, face, &mut Vec::new())
            .ok_or_else(|| format!("face {face} of the badge font does not parse"))?;
        let metrics = parsed.font_metrics;
        let units_per_em = f32::from(metrics.units_per_em);
        if units_per_em <= 0.0 {
            return Err("the badge font has no units per em".into());
        }
        let ascent_em = metrics.ascent.abs() / units_per_em;
        let line_height_em = (metrics.ascent.abs() + metrics.descent.abs()) / units_per_em;
        let pdf_name: String = parsed
            .font_name
            .as_deref()
            .unwrap_or("BadgeFont")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let box_metrics = &parsed.pdf_font_metrics;
        let scaled = |v: i16| per_mille(f32::from(v), units_per_em);
        let descriptor = DescriptorMetrics {
            ascent: per_mille(metrics.ascent.abs(), units_per_em),
            descent: -per_mille(metrics.descent.abs(), units_per_em),
            bbox: [
                scaled(box_metrics.x_min),
                scaled(box_metrics.y_min),
                scaled(box_metrics.x_max),
                scaled(box_metrics.y_max),
            ],
        };
        Ok(Font { parsed, units_per_em, ascent_em, line_height_em, pdf_name, descriptor })
    }
}

/// Font units as thousandths of an em.
fn per_mille(units: f32, units_per_em: f32) -> i32 {
    (units * 1000.0 / units_per_em).round() as i32
}

impl Advances for Font {
    fn advance_em(&self, c: char) -> f32 {
        // A missing character is drawn (and advanced) as glyph 0, `.notdef`.
        f32::from(self.parsed.get_horizontal_advance(self.glyph(c))) / self.units_per_em
    }

    fn line_height_em(&self) -> f32 {
        self.line_height_em
    }

    fn ascent_em(&self) -> f32 {
        self.ascent_em
    }
}

/// The event logo, decoded and compressed once per process.
fn logo() -> Result<&'static Image, BadgeError> {
    static LOGO: OnceLock<Result<Image, String>> = OnceLock::new();
    LOGO.get_or_init(|| Image::from_png(LOGO_PNG))
        .as_ref()
        .map_err(|reason| BadgeError::Render(format!("event logo: {reason}")))
}

/// Most threads that lay out pages at once: a badge batch competes with the station's
/// other work, and more threads only buy memory once the disk is the bottleneck.
const MAX_RENDER_THREADS: usize = 4;

/// One PDF with one page per badge, in order.
pub fn render_pdf(
    template: &Template,
    badges: impl IntoIterator<Item = BadgeData>,
) -> Result<Vec<u8>, BadgeError> {
    let badges: Vec<BadgeData> = badges.into_iter().collect();
    let mut pdf = badge_pdf(template, Vec::new())?;
    for page in render_pages(template, &badges)? {
        pdf.add_page(page)?;
    }
    pdf.finish()
}

/// A badge PDF for `template` written to `out` page by page: add the pages of
/// [`render_pages`], then finish it.
pub fn badge_pdf<W: Write>(template: &Template, out: W) -> Result<PdfWriter<W>, BadgeError> {
    PdfWriter::new(out, &template.description, Font::shared()?, logo()?)
}

/// The pages of `badges`, in order, laid out and compressed on several threads.
pub fn render_pages(
    template: &Template,
    badges: &[BadgeData],
) -> Result<Vec<PageContent>, BadgeError> {
    let font = Font::shared()?;
    let page = |badge: &BadgeData| PageContent::new(&layout(template, badge)?, font);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_RENDER_THREADS)
        .min(badges.len());
    if threads <= 1 {
        return badges.iter().map(page).collect();
    }
    let share = badges.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = badges
            .chunks(share)
            .map(|part| scope.spawn(move || part.iter().map(page).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut pages = Vec::with_capacity(badges.len());
        for worker in workers {
            // A worker that panicked hit a bug: carry its panic on rather than hide it.
            let part = worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            pages.extend(part);
        }
        Ok(pages)
    })
}

/// A rectangle in points from the badge's bottom-left corner (PDF coordinates).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PtRect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// One thing drawn on a badge. The PDF and the admin preview draw the same marks.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    Fill {
        rect: PtRect,
        colour: [u8; 3],
    },
    /// The event logo, scaled into `rect` keeping its aspect ratio.
    Logo {
        rect: PtRect,
    },
    /// The QR code's dark modules, one rectangle per horizontal run (drawn on a white Fill).
    Qr {
        runs: Vec<PtRect>,
    },
    /// One line of text in the badge font; `x` is where it starts.
    Text {
        x: f32,
        baseline: f32,
        size: f32,
        colour: [u8; 3],
        text: String,
    },
}

/// A badge laid out: page size in points and what goes on it, in drawing order.
#[derive(Clone, Debug, PartialEq)]
pub struct BadgeLayout {
    pub width_pt: f32,
    pub height_pt: f32,
    pub marks: Vec<Mark>,
}

/// Lays out `badge` on `template`: the colour band, the logo, the QR code and every text
/// shrunk and wrapped into its box with the badge font's own metrics.
pub fn layout(template: &Template, badge: &BadgeData) -> Result<BadgeLayout, BadgeError> {
    let font = Font::shared()?;
    let logo = logo()?;
    let frame = Frame { template };
    let mut marks = vec![Mark::Fill { rect: frame.rect(&template.band), colour: badge.colour }];
    marks.push(Mark::Logo {
        rect: frame.logo(&template.logo, (logo.width as f32, logo.height as f32)),
    });
    marks.push(Mark::Fill { rect: frame.rect(&template.qr), colour: [255, 255, 255] });
    marks.push(Mark::Qr { runs: frame.qr(&badge.token, &template.qr)? });
    for element in &template.text {
        frame.text(font, element, badge.field(element.field), &mut marks);
    }
    Ok(BadgeLayout {
        width_pt: template.width_mm * PT_PER_MM,
        height_pt: template.height_mm * PT_PER_MM,
        marks,
    })
}

/// The template's millimetres, from the top left, as points from the bottom left.
struct Frame<'a> {
    template: &'a Template,
}

impl Frame<'_> {
    fn rect(&self, area: &Area) -> PtRect {
        let bottom = self.template.height_mm - area.y - area.h;
        PtRect {
            x: area.x * PT_PER_MM,
            y: bottom * PT_PER_MM,
            w: area.w * PT_PER_MM,
            h: area.h * PT_PER_MM,
        }
    }

    /// The logo scaled to fit its area, keeping its aspect ratio, centred.
    fn logo(&self, area: &Area, (px_w, px_h): (f32, f32)) -> PtRect {
        let PtRect { x, y, w, h } = self.rect(area);
        let scale = (w / px_w).min(h / px_h);
        let (drawn_w, drawn_h) = (px_w * scale, px_h * scale);
        PtRect { x: x + (w - drawn_w) / 2.0, y: y + (h - drawn_h) / 2.0, w: drawn_w, h: drawn_h }
    }

    /// The QR code's dark runs inside its area, which includes the quiet zone.
    fn qr(&self, token: &str, area: &Area) -> Result<Vec<PtRect>, BadgeError> {
        // The token is upper-case base32, so the encoder picks alphanumeric mode by itself.
        let code = qr::encode(token.as_bytes())
            .map_err(|e| BadgeError::Render(format!("QR code: {e}")))?;
        let modules = code.width;
        let PtRect { x, y, w: side, .. } = self.rect(area);
        let module = side / (modules + 2 * QR_QUIET_ZONE) as f32;
        let origin_x = x + QR_QUIET_ZONE as f32 * module;
        let top = y + side - QR_QUIET_ZONE as f32 * module;
        let mut runs = Vec::new();
        for (row, line) in code.dark.chunks(modules).enumerate() {
            let mut column = 0;
            while column < modules {
                if !line[column] {
                    column += 1;
                    continue;
                }
                let start = column;
                while column < modules && line[column] {
                    column += 1;
                }
                runs.push(PtRect {
                    x: origin_x + start as f32 * module,
                    y: top - (row + 1) as f32 * module,
                    w: (column - start) as f32 * module,
                    h: module,
                });
            }
        }
        Ok(runs)
    }

    /// The text shrunk and wrapped into its box, centred vertically, aligned as asked.
    fn text(&self, font: &Font, element: &TextElement, text: &str, marks: &mut Vec<Mark>) {
        let PtRect { x, y, w, h } = self.rect(&element.area);
        let area = FitBox {
            width: w,
            height: h,
            max_size: element.max_pt,
            min_size: element.min_size(),
            max_lines: element.lines,
        };
        let fitted = fit(font, text, &area);
        if fitted.is_empty() {
            return;
        }
        let size = fitted.size;
        let line_height = font.line_height_em() * size;
        let block = line_height * fitted.lines.len() as f32;
        let block_top = y + h - (h - block) / 2.0;
        // `Template::parse` proved every text colour parses.
        let colour = parse_colour(&element.colour).unwrap_or([0, 0, 0]);
        for (index, line) in fitted.lines.iter().enumerate() {
            let width = width_em(font, line) * size;
            let left = match element.align {
                Align::Left => x,
                Align::Center => x + (w - width) / 2.0,
                Align::Right => x + w - width,
            };
            let baseline = block_top - font.ascent_em() * size - index as f32 * line_height;
            marks.push(Mark::Text { x: left, baseline, size, colour, text: line.clone() });
        }
    }
}

/// The event logo as PNG bytes (for a preview; the PDF embeds the decoded image).
pub fn logo_png() -> &'static [u8] {
    LOGO_PNG
}

/// A PDF fill or stroke colour from 8-bit RGB.
pub(crate) fn rgb([r, g, b]: [u8; 3]) -> Color {
    let unit = |v: u8| f32::from(v) / 255.0;
    Color::Rgb(Rgb::new(unit(r), unit(g), unit(b), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_prints_a_chinese_name_after_the_name_in_the_same_box() {
        let event =
            EventDefinition::from_toml(include_str!("../../assets/events/example-event.toml"))
                .unwrap();
        let category = event.categories[0].id.clone();
        let foreign: AttendeeRecord = serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::nil(), "registration_code": null, "name": "SMITH JOHN MICHAEL",
            "chinese_name": "史密斯", "company": "", "title": "", "phone": "", "email": "",
            "country": "", "category": category, "source": "walk_in", "id_type": null,
            "id_masked": null, "id_hash": null, "id_sealed": null, "consent": true, "tags": [],
            "created_at": "", "updated_at": ""
        }))
        .unwrap();
        let badge = BadgeData::for_attendee(&event, &foreign, String::new()).unwrap();
        assert_eq!(badge.name, "SMITH JOHN MICHAEL 史密斯");
        let plain = AttendeeRecord { chinese_name: String::new(), ..foreign };
        let badge = BadgeData::for_attendee(&event, &plain, String::new()).unwrap();
        assert_eq!(badge.name, "SMITH JOHN MICHAEL");
    }
}
