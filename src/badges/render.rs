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
        let colour = category.rgb();
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
        font_id: font.add_to(&mut doc),
        logo_id: doc.add_image(logo),
        logo_px: (logo.width as f32, logo.height as f32),
    };
    let pages = badges
        .into_iter()
        .map(|badge| {
            let layout = layout(template, &badge)?;
            Ok(PdfPage::new(Mm(template.width_mm), Mm(template.height_mm), page.ops(&layout)))
        })
        .collect::<Result<Vec<_>, BadgeError>>()?;
    if pages.is_empty() {
        return Err(BadgeError::Render("no badges to render".into()));
    }
    // The logo is a few hundred bytes: recompressing it per badge would only cost time.
    let options = PdfSaveOptions { image_optimization: None, ..PdfSaveOptions::default() };
    Ok(doc.with_pages(pages).save(&options, &mut Vec::new()))
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
        // ECC M survives a scuffed or creased badge; the token is upper-case base32, so
        // the encoder picks alphanumeric mode by itself.
        let code = QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M)
            .map_err(|e| BadgeError::Render(format!("QR code: {e}")))?;
        let modules = code.width();
        let colours = code.to_colors();
        let PtRect { x, y, w: side, .. } = self.rect(area);
        let module = side / (modules + 2 * QR_QUIET_ZONE) as f32;
        let origin_x = x + QR_QUIET_ZONE as f32 * module;
        let top = y + side - QR_QUIET_ZONE as f32 * module;
        let mut runs = Vec::new();
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

/// What every page of one PDF shares.
struct PageResources {
    font_id: FontId,
    logo_id: XObjectId,
    logo_px: (f32, f32),
}

impl PageResources {
    fn ops(&self, layout: &BadgeLayout) -> Vec<Op> {
        let mut ops = Vec::new();
        for mark in &layout.marks {
            match mark {
                Mark::Fill { rect, colour } => {
                    ops.push(Op::SetFillColor { col: rgb(*colour) });
                    ops.push(Op::DrawRectangle { rectangle: filled(rect) });
                }
                Mark::Logo { rect } => {
                    // printpdf sizes an image as pixels / dpi inches: the dpi that fits.
                    let dpi = self.logo_px.0 * 72.0 / rect.w;
                    ops.push(Op::UseXobject {
                        id: self.logo_id.clone(),
                        transform: XObjectTransform {
                            translate_x: Some(Pt(rect.x)),
                            translate_y: Some(Pt(rect.y)),
                            dpi: Some(dpi),
                            ..XObjectTransform::default()
                        },
                    });
                }
                Mark::Qr { runs } => {
                    // One vector path for the whole code: a ring per run.
                    let rings = runs
                        .iter()
                        .map(|r| PolygonRing {
                            points: [
                                (r.x, r.y + r.h),
                                (r.x + r.w, r.y + r.h),
                                (r.x + r.w, r.y),
                                (r.x, r.y),
                            ]
                            .into_iter()
                            .map(|(px, py)| LinePoint {
                                p: Point { x: Pt(px), y: Pt(py) },
                                bezier: false,
                            })
                            .collect(),
                        })
                        .collect();
                    ops.push(Op::SetFillColor { col: rgb([0, 0, 0]) });
                    ops.push(Op::DrawPolygon {
                        polygon: Polygon {
                            rings,
                            mode: PaintMode::Fill,
                            winding_order: WindingOrder::NonZero,
                        },
                    });
                }
                // One text object per line: `Td` moves relative to the line start, and a
                // new text object starts from the page origin.
                Mark::Text { x, baseline, size, colour, text } => ops.extend([
                    Op::SetFillColor { col: rgb(*colour) },
                    Op::StartTextSection,
                    Op::SetFont {
                        font: PdfFontHandle::External(self.font_id.clone()),
                        size: Pt(*size),
                    },
                    Op::SetTextCursor { pos: Point { x: Pt(*x), y: Pt(*baseline) } },
                    Op::ShowText { items: vec![TextItem::Text(text.clone())] },
                    Op::EndTextSection,
                ]),
            }
        }
        ops
    }
}

fn filled(rect: &PtRect) -> Rect {
    Rect {
        mode: Some(PaintMode::Fill),
        winding_order: Some(WindingOrder::NonZero),
        ..Rect::from_xywh(Pt(rect.x), Pt(rect.y), Pt(rect.w), Pt(rect.h))
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
