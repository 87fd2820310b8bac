//! The one-page daily summary for the morning meeting: A4 landscape, the day's totals and
//! nine charts drawn as vectors in the shipped CJK font, labels in Chinese and English.

use printpdf::graphics::LinePoint;
use printpdf::{
    Line, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Rect,
    TextItem, WindingOrder,
};

use super::charts::{format_value, series_colour as colour};
use super::{Chart, ChartId, ChartKind, DayFigures, Label, StatsError};
use crate::badges::fit::width_em;
use crate::badges::render::{rgb, Font};

const PAGE_W: f32 = 297.0 * PT_PER_MM;
const PAGE_H: f32 = 210.0 * PT_PER_MM;
const PT_PER_MM: f32 = 72.0 / 25.4;
const MARGIN: f32 = 28.0;

/// The charts on the page, row by row.
const PAGE_CHARTS: [ChartId; 9] = [
    ChartId::RegistrationsBySource,
    ChartId::BadgesByCategory,
    ChartId::Inside,
    ChartId::GateFlow,
    ChartId::Denials,
    ChartId::ReprintRate,
    ChartId::RegistrationsByCategory,
    ChartId::TopCountries,
    ChartId::TopCompanies,
];

pub fn render_daily_pdf(
    figures: &DayFigures,
    event_name: &str,
    charts: &[Chart],
) -> Result<Vec<u8>, StatsError> {
    let font = Font::shared().map_err(|e| StatsError::Output(e.to_string()))?;
    let mut doc = PdfDocument::new(&format!("{event_name} {}", figures.date));
    let mut page = Page { font, font_id: font.add_to(&mut doc), ops: Vec::new() };

    let top = PAGE_H - MARGIN;
    page.text(
        &format!("{event_name} · 每日报告 Daily report · {}", figures.date),
        MARGIN,
        top - 14.0,
        14.0,
        [0, 0, 0],
    );
    let t = &figures.totals;
    page.text(
        &format!(
            "登记 Registered {} (累计 all days {}) · 制证 Badges {} · 补打 Reprints {} · 入场 Entries {} · \
             离场 Exits {} · 拒绝 Denied {} · 在场 Inside {}",
            t.registered, t.registered_all_days, t.badges_issued, t.reprints, t.entries, t.exits,
            t.denied, t.inside
        ),
        MARGIN,
        top - 32.0,
        9.0,
        [0x20, 0x20, 0x20],
    );
    page.text(
        &format!("{} · {} UTC", figures.timezone, figures.generated_at),
        MARGIN,
        top - 44.0,
        6.5,
        [0x70, 0x70, 0x70],
    );

    let grid_top = top - 54.0;
    let (columns, rows) = (3.0, 3.0);
    let gap = 12.0;
    let cell_w = (PAGE_W - 2.0 * MARGIN - (columns - 1.0) * gap) / columns;
    let cell_h = (grid_top - MARGIN - (rows - 1.0) * gap) / rows;
    for (index, id) in PAGE_CHARTS.iter().enumerate() {
        let Some(chart) = charts.iter().find(|c| c.id == *id) else { continue };
        let (column, row) = ((index % 3) as f32, (index / 3) as f32);
        let area = Area {
            x: MARGIN + column * (cell_w + gap),
            y: grid_top - (row + 1.0) * cell_h - row * gap,
            w: cell_w,
            h: cell_h,
        };
        page.chart(chart, area);
    }

    let pdf_page = PdfPage::new(Mm(297.0), Mm(210.0), page.ops);
    Ok(doc.with_pages(vec![pdf_page]).save(&PdfSaveOptions::default(), &mut Vec::new()))
}

/// A rectangle in points from the page's bottom-left corner.
#[derive(Clone, Copy)]
struct Area {
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

struct Page {
    font: &'static Font,
    font_id: printpdf::FontId,
    ops: Vec<Op>,
}

impl Page {
    fn chart(&mut self, chart: &Chart, area: Area) {
        let (zh, en) = chart.id.title();
        self.text(&format!("{zh} {en}"), area.x, area.y + area.h - 8.0, 7.5, [0, 0, 0]);
        let plot = Area { x: area.x, y: area.y, w: area.w, h: area.h - 14.0 };
        self.frame(plot);
        if chart.is_empty() {
            self.text("无数据 no data", plot.x + 6.0, plot.y + plot.h / 2.0, 7.0, [0x80; 3]);
            return;
        }
        match chart.kind {
            ChartKind::StackedBars => self.columns(chart, plot),
            ChartKind::Lines => self.lines(chart, plot),
            ChartKind::Bars => self.rows(chart, plot),
        }
    }

    /// Vertical stacked bars over time, x labels below, the largest stack's value above it.
    fn columns(&mut self, chart: &Chart, plot: Area) {
        let inner = self.legend(chart, plot);
        let stacks: Vec<f64> =
            (0..chart.x.len()).map(|i| chart.series.iter().map(|s| s.values[i]).sum()).collect();
        let max = stacks.iter().cloned().fold(0.0, f64::max).max(1.0);
        let axis = 9.0;
        let slot = inner.w / chart.x.len().max(1) as f32;
        let scale = (inner.h - axis - 8.0) / max as f32;
        for (i, x) in chart.x.iter().enumerate() {
            let left = inner.x + i as f32 * slot + slot * 0.15;
            let mut base = inner.y + axis;
            for (s, series) in chart.series.iter().enumerate() {
                let height = series.values[i] as f32 * scale;
                if height > 0.0 {
                    self.fill(Area { x: left, y: base, w: slot * 0.7, h: height }, colour(s));
                    base += height;
                }
            }
            // Every label when they fit, else every few.
            let every = ((24.0 / slot).ceil() as usize).max(1);
            if i % every == 0 {
                self.text(&x.key, left, inner.y + 2.0, 5.0, [0x40; 3]);
            }
        }
        self.scale_note(inner, max);
    }

    /// A polyline per series over time.
    fn lines(&mut self, chart: &Chart, plot: Area) {
        let inner = self.legend(chart, plot);
        let max =
            chart.series.iter().flat_map(|s| s.values.iter().cloned()).fold(0.0, f64::max).max(1.0);
        let axis = 9.0;
        let steps = (chart.x.len().max(2) - 1) as f32;
        let scale = (inner.h - axis - 8.0) / max as f32;
        let x_at = |i: usize| inner.x + inner.w * i as f32 / steps;
        for (s, series) in chart.series.iter().enumerate() {
            let points = series
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| point(x_at(i), inner.y + axis + *v as f32 * scale))
                .collect();
            self.ops.push(Op::SetOutlineColor { col: rgb(colour(s)) });
            self.ops.push(Op::SetOutlineThickness { pt: Pt(0.8) });
            self.ops.push(Op::DrawLine { line: Line { points, is_closed: false } });
        }
        let every = ((28.0 * steps / inner.w).ceil() as usize).max(1);
        for (i, x) in chart.x.iter().enumerate().step_by(every) {
            self.text(&x.key, x_at(i) - 6.0, inner.y + 2.0, 5.0, [0x40; 3]);
        }
        self.scale_note(inner, max);
    }

    /// The value the top of the plot stands for (the charts have no y axis of their own).
    fn scale_note(&mut self, inner: Area, max: f64) {
        let note = format!("max {}", format_value(max));
        self.text(&note, inner.x, inner.y + inner.h - 6.0, 5.0, [0x60; 3]);
    }

    /// Horizontal bars: the name on the left, the value after the bar.
    fn rows(&mut self, chart: &Chart, plot: Area) {
        let Some(series) = chart.series.first() else { return };
        let max = series.values.iter().cloned().fold(0.0, f64::max).max(1.0);
        let label_w = plot.w * 0.38;
        let row_h = ((plot.h - 4.0) / chart.x.len().max(1) as f32).min(14.0);
        let size = (row_h * 0.7).clamp(4.0, 7.0);
        let bar_room = plot.w - label_w - 24.0;
        for (i, (x, value)) in chart.x.iter().zip(&series.values).enumerate() {
            let top = plot.y + plot.h - 2.0 - i as f32 * row_h;
            let name = self.clip(&bilingual(x), size, label_w - 6.0);
            self.text(&name, plot.x + 3.0, top - row_h * 0.75, size, [0x20; 3]);
            let width = (*value / max) as f32 * bar_room;
            self.fill(
                Area {
                    x: plot.x + label_w,
                    y: top - row_h * 0.85,
                    w: width.max(0.5),
                    h: row_h * 0.7,
                },
                colour(0),
            );
            self.text(
                &format_value(*value),
                plot.x + label_w + width + 2.0,
                top - row_h * 0.75,
                size,
                [0x20; 3],
            );
        }
    }

    /// Draws the legend (up to four series on one line at the top of the plot) and returns
    /// the area left for the chart.
    fn legend(&mut self, chart: &Chart, plot: Area) -> Area {
        let mut x = plot.x + 3.0;
        let y = plot.y + plot.h - 7.0;
        for (s, series) in chart.series.iter().enumerate() {
            let text = self.clip(&bilingual(&series.label), 5.0, plot.w / 3.0 - 10.0);
            let width = 7.0 + width_em(self.font, &text) * 5.0;
            if x + width > plot.x + plot.w - 3.0 {
                break;
            }
            self.fill(Area { x, y, w: 5.0, h: 5.0 }, colour(s));
            self.text(&text, x + 7.0, y + 0.5, 5.0, [0x30; 3]);
            x += width + 6.0;
        }
        Area { x: plot.x + 3.0, y: plot.y, w: plot.w - 6.0, h: plot.h - 10.0 }
    }

    /// `text` shortened with an ellipsis to fit `width` points at `size`.
    fn clip(&self, text: &str, size: f32, width: f32) -> String {
        let text = text.trim();
        if width_em(self.font, text) * size <= width {
            return text.to_owned();
        }
        let mut clipped: String = String::new();
        for c in text.chars() {
            clipped.push(c);
            if width_em(self.font, &clipped) * size > width - size {
                clipped.pop();
                break;
            }
        }
        clipped.push('…');
        clipped
    }

    fn frame(&mut self, area: Area) {
        self.ops.push(Op::SetOutlineColor { col: rgb([0xc0; 3]) });
        self.ops.push(Op::SetOutlineThickness { pt: Pt(0.5) });
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                mode: Some(PaintMode::Stroke),
                winding_order: Some(WindingOrder::NonZero),
                ..Rect::from_xywh(Pt(area.x), Pt(area.y), Pt(area.w), Pt(area.h))
            },
        });
    }

    fn fill(&mut self, area: Area, colour: [u8; 3]) {
        self.ops.push(Op::SetFillColor { col: rgb(colour) });
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                mode: Some(PaintMode::Fill),
                winding_order: Some(WindingOrder::NonZero),
                ..Rect::from_xywh(Pt(area.x), Pt(area.y), Pt(area.w), Pt(area.h))
            },
        });
    }

    fn text(&mut self, text: &str, x: f32, baseline: f32, size: f32, colour: [u8; 3]) {
        self.ops.extend([
            Op::SetFillColor { col: rgb(colour) },
            Op::StartTextSection,
            Op::SetFont { font: PdfFontHandle::External(self.font_id.clone()), size: Pt(size) },
            Op::SetTextCursor { pos: Point { x: Pt(x), y: Pt(baseline) } },
            Op::ShowText { items: vec![TextItem::Text(text.to_owned())] },
            Op::EndTextSection,
        ]);
    }
}

/// Both languages once: `1号馆 Hall 1`, `Acme GmbH`, and `east-1 进/in` when the two
/// share their first word.
fn bilingual(label: &Label) -> String {
    if label.zh == label.en {
        return label.zh.clone();
    }
    match (label.zh.split_once(' '), label.en.split_once(' ')) {
        (Some((zh_head, zh_rest)), Some((en_head, en_rest))) if zh_head == en_head => {
            format!("{zh_head} {zh_rest}/{en_rest}")
        }
        _ => format!("{} {}", label.zh, label.en),
    }
}

fn point(x: f32, y: f32) -> LinePoint {
    LinePoint { p: Point { x: Pt(x), y: Pt(y) }, bezier: false }
}
