//! Badge PDFs: a template filled with one attendee per page. Text is real PDF text in
//! the shipped CJK font (subset to the glyphs used), the QR code is vector rectangles.

pub use crate::assets::cjk_font;
use std::sync::OnceLock;

use printpdf::graphics::LinePoint;
use printpdf::{
    Color, FontId, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Polygon, PolygonRing, Pt, RawImage, Rect, Rgb, TextItem, WindingOrder,
    XObjectId, XObjectTransform,
};
use qrcode::{EcLevel, QrCode};

use super::fit::{fit, width_em, Advances, FitBox};
use super::template::{Align, Area, Field, Template, TextElement};
use super::BadgeError;
use crate::domain::event::parse_colour;
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
        // `EventDefinition::validate` proved every category colour parses.
        let colour = parse_colour(&category.colour).unwrap_or([0x60, 0x70, 0x80]);
        Ok(BadgeData {
            name: attendee.name.clone(),
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

/// The parsed badge font with the metrics the text fitter needs.
pub struct Font {
    parsed: ParsedFont,
    units_per_em: f32,
    ascent_em: f32,
    line_height_em: f32,
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
        Ok(Font { parsed, units_per_em, ascent_em, line_height_em })
    }
}

impl Advances for Font {
    fn advance_em(&self, c: char) -> f32 {
        // A missing character is drawn (and advanced) as glyph 0, `.notdef`.
        let glyph = self.parsed.lookup_glyph_index(u32::from(c)).unwrap_or(0);
        f32::from(self.parsed.get_horizontal_advance(glyph)) / self.units_per_em
    }

    fn line_height_em(&self) -> f32 {
        self.line_height_em
    }

    fn ascent_em(&self) -> f32 {
        self.ascent_em
    }
}

fn logo() -> Result<&'static RawImage, BadgeError> {
    static LOGO: OnceLock<Result<RawImage, String>> = OnceLock::new();
    LOGO.get_or_init(|| RawImage::decode_from_bytes(LOGO_PNG, &mut Vec::new()))
        .as_ref()
        .map_err(|reason| BadgeError::Render(format!("event logo: {reason}")))
}

/// One PDF with one page per badge, in order.
pub fn render_pdf(
    template: &Template,
    badges: impl IntoIterator<Item = BadgeData>,
) -> Result<Vec<u8>, BadgeError> {
    let font = Font::shared()?;
    let logo = logo()?;
    let mut doc = PdfDocument::new(&template.description);
    let page = PageResources {
        font,
        font_id: font.add_to(&mut doc),
        logo_id: doc.add_image(logo),
        logo_px: (logo.width as f32, logo.height as f32),
        template,
    };
    let pages = badges
        .into_iter()
        .map(|badge| {
            Ok(PdfPage::new(Mm(template.width_mm), Mm(template.height_mm), page.ops(&badge)?))
        })
        .collect::<Result<Vec<_>, BadgeError>>()?;
    if pages.is_empty() {
        return Err(BadgeError::Render("no badges to render".into()));
    }
    // The logo is a few hundred bytes: recompressing it per badge would only cost time.
    let options = PdfSaveOptions { image_optimization: None, ..PdfSaveOptions::default() };
    Ok(doc.with_pages(pages).save(&options, &mut Vec::new()))
}

/// What every page of one document shares.
struct PageResources<'a> {
    font: &'a Font,
    font_id: FontId,
    logo_id: XObjectId,
    logo_px: (f32, f32),
    template: &'a Template,
}

impl PageResources<'_> {
    fn ops(&self, badge: &BadgeData) -> Result<Vec<Op>, BadgeError> {
        let template = self.template;
        let mut ops = vec![
            Op::SetFillColor { col: rgb(badge.colour) },
            Op::DrawRectangle { rectangle: self.rect(&template.band) },
        ];
        ops.push(self.logo(&template.logo));
        self.qr(&badge.token, &template.qr, &mut ops)?;
        for element in &template.text {
            self.text(element, badge.field(element.field), &mut ops);
        }
        Ok(ops)
    }

    /// A template area (mm from the top left) as a filled PDF rectangle (pt from the
    /// bottom left).
    fn rect(&self, area: &Area) -> Rect {
        let (x, y, w, h) = self.pdf_area(area);
        Rect {
            mode: Some(PaintMode::Fill),
            winding_order: Some(WindingOrder::NonZero),
            ..Rect::from_xywh(Pt(x), Pt(y), Pt(w), Pt(h))
        }
    }

    /// (x, y, width, height) in points from the bottom-left corner.
    fn pdf_area(&self, area: &Area) -> (f32, f32, f32, f32) {
        let bottom = self.template.height_mm - area.y - area.h;
        (area.x * PT_PER_MM, bottom * PT_PER_MM, area.w * PT_PER_MM, area.h * PT_PER_MM)
    }

    /// The logo scaled to fit its area, keeping its aspect ratio, centred.
    fn logo(&self, area: &Area) -> Op {
        let (x, y, w, h) = self.pdf_area(area);
        let (px_w, px_h) = self.logo_px;
        // printpdf sizes an image as pixels / dpi inches: pick the dpi that fits the area.
        let dpi = (px_w * 72.0 / w).max(px_h * 72.0 / h);
        let (drawn_w, drawn_h) = (px_w * 72.0 / dpi, px_h * 72.0 / dpi);
        Op::UseXobject {
            id: self.logo_id.clone(),
            transform: XObjectTransform {
                translate_x: Some(Pt(x + (w - drawn_w) / 2.0)),
                translate_y: Some(Pt(y + (h - drawn_h) / 2.0)),
                dpi: Some(dpi),
                ..XObjectTransform::default()
            },
        }
    }

    /// The QR code as one vector path: a rectangle per horizontal run of dark modules,
    /// on a white square that includes the quiet zone.
    fn qr(&self, token: &str, area: &Area, ops: &mut Vec<Op>) -> Result<(), BadgeError> {
        // ECC M survives a scuffed or creased badge; the token is upper-case base32, so
        // the encoder picks alphanumeric mode by itself.
        let code = QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M)
            .map_err(|e| BadgeError::Render(format!("QR code: {e}")))?;
        let modules = code.width();
        let colours = code.to_colors();
        let (x, y, side, _) = self.pdf_area(area);
        let module = side / (modules + 2 * QR_QUIET_ZONE) as f32;
        let origin_x = x + QR_QUIET_ZONE as f32 * module;
        let top = y + side - QR_QUIET_ZONE as f32 * module;
        let mut rings = Vec::new();
        for (row, line) in colours.chunks(modules).enumerate() {
            let mut column = 0;
            while column < modules {
                if line[column] == qrcode::Color::Light {
                    column += 1;
                    continue;
                }
                let start = column;
                while column < modules && line[column] == qrcode::Color::Dark {
                    column += 1;
                }
                let left = origin_x + start as f32 * module;
                let right = origin_x + column as f32 * module;
                let upper = top - row as f32 * module;
                let lower = upper - module;
                rings.push(PolygonRing {
                    points: [(left, upper), (right, upper), (right, lower), (left, lower)]
                        .into_iter()
                        .map(|(px, py)| LinePoint {
                            p: Point { x: Pt(px), y: Pt(py) },
                            bezier: false,
                        })
                        .collect(),
                });
            }
        }
        ops.push(Op::SetFillColor { col: rgb([255, 255, 255]) });
        ops.push(Op::DrawRectangle { rectangle: self.rect(area) });
        ops.push(Op::SetFillColor { col: rgb([0, 0, 0]) });
        ops.push(Op::DrawPolygon {
            polygon: Polygon { rings, mode: PaintMode::Fill, winding_order: WindingOrder::NonZero },
        });
        Ok(())
    }

    /// The text shrunk and wrapped into its box, centred vertically, aligned as asked.
    fn text(&self, element: &TextElement, text: &str, ops: &mut Vec<Op>) {
        let (x, y, w, h) = self.pdf_area(&element.area);
        let area = FitBox {
            width: w,
            height: h,
            max_size: element.max_pt,
            min_size: element.min_size(),
            max_lines: element.lines,
        };
        let fitted = fit(self.font, text, &area);
        if fitted.is_empty() {
            return;
        }
        let size = fitted.size;
        let line_height = self.font.line_height_em() * size;
        let block = line_height * fitted.lines.len() as f32;
        let block_top = y + h - (h - block) / 2.0;
        // `Template::parse` proved every text colour parses.
        let colour = parse_colour(&element.colour).unwrap_or([0, 0, 0]);
        ops.push(Op::SetFillColor { col: rgb(colour) });
        for (index, line) in fitted.lines.iter().enumerate() {
            let width = width_em(self.font, line) * size;
            let left = match element.align {
                Align::Left => x,
                Align::Center => x + (w - width) / 2.0,
                Align::Right => x + w - width,
            };
            let baseline = block_top - self.font.ascent_em() * size - index as f32 * line_height;
            // One text object per line: `Td` moves relative to the line start, and a new
            // text object starts from the page origin.
            ops.extend([
                Op::StartTextSection,
                Op::SetFont { font: PdfFontHandle::External(self.font_id.clone()), size: Pt(size) },
                Op::SetTextCursor { pos: Point { x: Pt(left), y: Pt(baseline) } },
                Op::ShowText { items: vec![TextItem::Text(line.clone())] },
                Op::EndTextSection,
            ]);
        }
    }
}

/// A PDF fill or stroke colour from 8-bit RGB.
pub(crate) fn rgb([r, g, b]: [u8; 3]) -> Color {
    let unit = |v: u8| f32::from(v) / 255.0;
    Color::Rgb(Rgb::new(unit(r), unit(g), unit(b), None))
}
