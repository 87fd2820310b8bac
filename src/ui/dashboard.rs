//! The admin dashboard: the day's totals and charts, refreshed in the background every few
//! seconds, each chart exportable as CSV and as a PNG of what is on screen.
//!
//! The station worker reads the figures (from the store's running totals) and writes the
//! exports; this screen only draws and asks.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::NaiveDate;
use eframe::egui::{self, Color32, RichText};
use egui_plot::{AxisHints, Bar, BarChart, GridMark, Legend, Line, Plot, PlotPoints};

use super::app::Shell;
use super::i18n::{Lang, Txt};
use super::widgets::{labelled_text, system_failure, venue_time, Notice};
use crate::station::{DashboardData, ExportContent, Request, Response};
use crate::stats::{series_colour, Chart, ChartId, ChartKind};

/// Seconds between refreshes while the dashboard is on screen.
const REFRESH_SECONDS: f64 = 5.0;
const CHART_HEIGHT: f32 = 220.0;
/// Height per bar of a lying chart: room for each bar's label in the body font.
const BAR_ROW_HEIGHT: f32 = 26.0;
/// Room a label of a standing chart's category axis needs ("08:00", a zone's name).
const CATEGORY_LABEL_WIDTH: f32 = 48.0;
/// Least room between two numbers of a value axis: a lying chart's numbers stand side by
/// side, a standing chart's one above another (a line of text apart).
const VALUE_LABEL_SPACING_ACROSS: f32 = 36.0;
const VALUE_LABEL_SPACING_UP: f32 = 20.0;

/// A screenshot crop handed from the integration's callback to the next frame.
type Captured = Arc<Mutex<Option<(ChartId, egui::ColorImage)>>>;

#[derive(Default)]
pub struct Dashboard {
    data: Option<DashboardData>,
    date: String,
    next_refresh_at: f64,
    waiting: bool,
    /// Where each chart was drawn in the last frame, for its PNG.
    chart_rects: Vec<(ChartId, egui::Rect)>,
    /// A chart whose PNG was asked for: scrolled into view this frame, captured the next.
    png_pending: Option<ChartId>,
    captured: Captured,
    notice: Option<Notice>,
    /// The venue day the dashboard first showed as today: a later one means midnight passed.
    first_today: Option<NaiveDate>,
}

impl Dashboard {
    pub fn on_response(&mut self, response: Response, lang: Lang) {
        match response {
            Response::Dashboard(data) => {
                self.waiting = false;
                if self.date.trim().is_empty() {
                    self.first_today.get_or_insert(data.figures.date);
                }
                self.data = Some(*data);
            }
            Response::Exported(path) => {
                self.notice =
                    Some(Notice::ok(format!("{} {}", Txt::ExportedTo.get(lang), path.display())));
            }
            Response::Failed(failure) => {
                self.waiting = false;
                self.notice = Some(Notice::failure(lang, &failure));
            }
            _ => {}
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        let lang = shell.lang;
        let now = ui.input(|i| i.time);
        let mut refresh_now = false;
        ui.horizontal(|ui| {
            let field = labelled_text(ui, Txt::ReportDate.get(lang), &mut self.date, false);
            refresh_now |= field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            refresh_now |= ui.button(Txt::Refresh.get(lang)).clicked();
            if let Some(data) = &self.data {
                ui.label(format!(
                    "{} {} · {} {}",
                    data.figures.date,
                    data.figures.timezone,
                    Txt::UpdatedAt.get(lang),
                    venue_time(&data.figures.generated_at, shell.info.timezone)
                ));
            }
            // On this line, so that a notice does not move the charts under the pointer.
            if let Some(notice) = &self.notice {
                notice.show(ui);
            }
        });
        let date = self.parsed_date();
        if date.is_err() {
            Notice::error(Txt::BadDate.get(lang)).show(ui);
        } else if (refresh_now || now >= self.next_refresh_at) && !self.waiting {
            self.next_refresh_at = now + REFRESH_SECONDS;
            self.waiting = true;
            shell.station.send(Request::Dashboard { date: date.ok().flatten() });
        }
        ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(REFRESH_SECONDS));
        self.save_captured(shell);
        let Some(data) = &self.data else {
            ui.label(Txt::Loading.get(lang));
            return;
        };
        let machine_today = chrono::Local::now().date_naive();
        if let Some(yesterday) = self.new_venue_day(data.figures.date, machine_today) {
            ui.horizontal(|ui| {
                let notice = format!("{} {}", Txt::VenueDayChanged.get(lang), data.figures.date);
                Notice::error(notice).show(ui);
                let show = format!("{} {yesterday}", Txt::ShowYesterday.get(lang));
                if ui.button(show).clicked() {
                    self.date = yesterday.to_string();
                    self.next_refresh_at = 0.0;
                }
            });
        }
        let Some(data) = &self.data else { return };
        totals_row(ui, lang, data);
        ui.separator();
        let mut export = None;
        let mut rects = Vec::new();
        egui::ScrollArea::vertical().show(ui, |ui| {
            let width = (ui.available_width() - 16.0) / 2.0;
            for pair in data.charts.chunks(2) {
                ui.horizontal_top(|ui| {
                    for chart in pair {
                        ui.vertical(|ui| {
                            ui.set_width(width);
                            let (action, rect) = chart_panel(ui, lang, chart);
                            if action.is_some_and(|a| matches!(a, Export::Png)) {
                                // The screenshot holds what is on screen: the whole chart first.
                                ui.scroll_to_rect_animation(
                                    rect,
                                    None,
                                    egui::style::ScrollAnimation::none(),
                                );
                            }
                            rects.push((chart.id, rect));
                            export = export.or(action.map(|a| (chart.id, a)));
                        });
                    }
                });
                ui.add_space(8.0);
            }
        });
        self.chart_rects = rects;
        if let Some(id) = self.png_pending.take() {
            self.capture(ui.ctx(), id);
        }
        match export {
            Some((id, Export::Png)) => self.png_pending = Some(id),
            Some((id, Export::Csv)) => self.export_csv(shell, id),
            None => {}
        }
    }

    /// The day before `venue_today` when today's figures are of a venue day that began
    /// while the dashboard was open, or that the machine's own clock has not reached (its
    /// clock is past the venue's midnight, or behind it): nearly empty figures that would
    /// look broken without a word.
    fn new_venue_day(&self, venue_today: NaiveDate, machine_today: NaiveDate) -> Option<NaiveDate> {
        let today_shown = self.date.trim().is_empty();
        let changed = self.first_today.is_some_and(|first| first != venue_today)
            || venue_today != machine_today;
        (today_shown && changed).then(|| venue_today.pred_opt()).flatten()
    }

    /// The typed date, `None` for today.
    fn parsed_date(&self) -> Result<Option<NaiveDate>, chrono::ParseError> {
        let text = self.date.trim();
        if text.is_empty() {
            return Ok(None);
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map(Some)
    }

    fn export_csv(&mut self, shell: &Shell<'_>, id: ChartId) {
        let Some(data) = &self.data else { return };
        let Some(chart) = data.charts.iter().find(|c| c.id == id) else { return };
        match chart.to_csv(shell.lang == Lang::En) {
            Ok(bytes) => shell.station.send(Request::SaveExport {
                file_name: export_name(data, id, "csv"),
                content: ExportContent::Csv(bytes),
            }),
            Err(error) => {
                tracing::warn!(%error, "CSV export");
                let text = system_failure(shell.lang, Txt::Failed, &error.to_string());
                self.notice = Some(Notice::error(text));
            }
        }
    }

    /// Asks for a screenshot of the next frame and keeps the chart's part of it.
    fn capture(&self, ctx: &egui::Context, id: ChartId) {
        let Some(&(_, rect)) = self.chart_rects.iter().find(|(c, _)| *c == id) else { return };
        let captured = Arc::clone(&self.captured);
        let repaint = ctx.clone();
        let pixels_per_point = ctx.pixels_per_point();
        ctx.request_screenshot(move |image| {
            let crop = crop(&image, rect, pixels_per_point);
            *captured.lock().unwrap_or_else(PoisonError::into_inner) = Some((id, crop));
            repaint.request_repaint();
        });
        ctx.request_repaint();
    }

    /// Sends a screenshot crop that arrived since the last frame to be saved.
    fn save_captured(&mut self, shell: &Shell<'_>) {
        let taken = self.captured.lock().unwrap_or_else(PoisonError::into_inner).take();
        let (Some((id, image)), Some(data)) = (taken, &self.data) else { return };
        let [width, height] = image.size;
        let rgba = image.pixels.iter().flat_map(|p| p.to_array()).collect();
        shell.station.send(Request::SaveExport {
            file_name: export_name(data, id, "png"),
            content: ExportContent::Png { width: width as u32, height: height as u32, rgba },
        });
    }
}

#[derive(Clone, Copy)]
enum Export {
    Csv,
    Png,
}

fn export_name(data: &DashboardData, id: ChartId, extension: &str) -> String {
    format!("{}-{}.{extension}", id.key(), data.figures.date)
}

/// The part of a screenshot inside `rect` (points), clamped to the image: a window
/// resized between the click and the capture must not make the crop fail.
pub fn crop(image: &egui::ColorImage, rect: egui::Rect, pixels_per_point: f32) -> egui::ColorImage {
    let [width, height] = image.size;
    let limit = egui::Rect::from_min_max(
        egui::Pos2::ZERO,
        egui::pos2(width as f32 / pixels_per_point, height as f32 / pixels_per_point),
    );
    let inside = rect.intersect(limit);
    if inside.is_negative() {
        return egui::ColorImage::new([0, 0], Vec::new());
    }
    image.region(&inside, Some(pixels_per_point))
}

fn totals_row(ui: &mut egui::Ui, lang: Lang, data: &DashboardData) {
    let totals = &data.figures.totals;
    ui.horizontal_wrapped(|ui| {
        for (text, value) in [
            (Txt::TotalRegistered, totals.registered),
            (Txt::TotalBadges, totals.badges_issued),
            (Txt::TotalReprints, totals.reprints),
            (Txt::TotalEntries, totals.entries),
            (Txt::TotalExits, totals.exits),
            (Txt::TotalDenied, totals.denied),
            (Txt::TotalInside, totals.inside),
        ] {
            ui.group(|ui| {
                ui.vertical(|ui| {
                    ui.label(text.get(lang));
                    ui.label(RichText::new(value.to_string()).size(22.0).strong());
                });
            });
        }
    });
}

/// One chart with its title and export buttons; returns the export asked for and where
/// the chart was drawn.
fn chart_panel(ui: &mut egui::Ui, lang: Lang, chart: &Chart) -> (Option<Export>, egui::Rect) {
    let english = lang == Lang::En;
    let mut action = None;
    ui.horizontal(|ui| {
        ui.label(RichText::new(chart.title(english)).strong());
        if ui.small_button(Txt::ExportCsv.get(lang)).clicked() {
            action = Some(Export::Csv);
        }
        if ui.small_button(Txt::ExportPng.get(lang)).clicked() {
            action = Some(Export::Png);
        }
    });
    if chart.is_empty() {
        let response = ui.label(Txt::NoData.get(lang));
        return (action, response.rect);
    }
    let horizontal = chart.kind == ChartKind::Bars;
    let labels: Vec<String> = chart.x.iter().map(|x| x.text(english).to_owned()).collect();
    // Lying bars are drawn first-on-top, so their axis counts from the last label.
    let axis_labels: Vec<String> =
        if horizontal { labels.iter().rev().cloned().collect() } else { labels.clone() };
    let label_at = move |value: f64| -> String {
        let index = value.round();
        if (value - index).abs() > 0.01 || index < 0.0 {
            return String::new();
        }
        axis_labels.get(index as usize).cloned().unwrap_or_default()
    };
    let count = labels.len();
    // A lying chart is as tall as its bars need, so every bar's label fits beside it.
    let height = if horizontal {
        CHART_HEIGHT.max(count as f32 * BAR_ROW_HEIGHT + 40.0)
    } else {
        CHART_HEIGHT
    };
    let mut plot = Plot::new(chart.id.key())
        .height(height)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .include_y(0.0);
    // Each category labelled by name (the axis library's own spacing skips most of them);
    // the value axis says what it counts.
    let category_axis = |axis: AxisHints<'static>, room: f32| {
        axis.formatter(move |mark, _| label_at(mark.value)).label_spacing(room..=room + 1.0)
    };
    // Numbers a few words apart, so a lying chart's scale reads beyond its 0.
    let value_axis = |axis: AxisHints<'static>, room: f32| {
        axis.label(Txt::AxisCount.get(lang)).label_spacing(room..=room + 12.0)
    };
    plot = if horizontal {
        // Category bars lie down, so long names (companies, zones) can be read.
        plot.include_x(0.0)
            .custom_y_axes(vec![category_axis(AxisHints::new_y(), BAR_ROW_HEIGHT - 8.0)])
            .y_grid_spacer(move |_| category_marks(count, 1))
            .custom_x_axes(vec![value_axis(AxisHints::new_x(), VALUE_LABEL_SPACING_ACROSS)])
    } else {
        let fits = (ui.available_width() / CATEGORY_LABEL_WIDTH).max(1.0) as usize;
        let step = count.div_ceil(fits).max(1);
        plot.custom_x_axes(vec![category_axis(AxisHints::new_x(), 24.0)])
            .x_grid_spacer(move |_| category_marks(count, step))
            .custom_y_axes(vec![value_axis(AxisHints::new_y(), VALUE_LABEL_SPACING_UP)])
    };
    if chart.series.len() > 1 {
        plot = plot.legend(Legend::default());
    }
    let response = plot.show(ui, |plot_ui| match chart.kind {
        ChartKind::StackedBars => {
            let mut below: Vec<BarChart> = Vec::new();
            for (index, series) in chart.series.iter().enumerate() {
                let bars = series
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        Bar::new(i as f64, *v).width(0.7).name(&labels[i]).fill(colour(index))
                    })
                    .collect();
                let stacked_on: Vec<&BarChart> = below.iter().collect();
                let bars = BarChart::new(series.label.text(english), bars)
                    .color(colour(index))
                    .stack_on(&stacked_on);
                below.push(bars);
            }
            for bars in below {
                plot_ui.bar_chart(bars);
            }
        }
        ChartKind::Lines => {
            for (index, series) in chart.series.iter().enumerate() {
                let points: PlotPoints<'_> =
                    series.values.iter().enumerate().map(|(i, v)| [i as f64, *v]).collect();
                plot_ui.line(Line::new(series.label.text(english), points).color(colour(index)));
            }
        }
        ChartKind::Bars => {
            let Some(series) = chart.series.first() else { return };
            let count = series.values.len();
            // The first entry (the largest of a top list) on top.
            let bars = series
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    Bar::new((count - 1 - i) as f64, *v).width(0.7).name(&labels[i]).fill(colour(0))
                })
                .collect();
            plot_ui.bar_chart(
                BarChart::new(series.label.text(english), bars).color(colour(0)).horizontal(),
            );
        }
    });
    (action, response.response.rect)
}

/// Grid marks at every `step`-th of `count` categories (0, step, 2·step, ...): one label each.
fn category_marks(count: usize, step: usize) -> Vec<GridMark> {
    let step = step.max(1);
    (0..count).step_by(step).map(|i| GridMark { value: i as f64, step_size: step as f64 }).collect()
}

fn colour(index: usize) -> Color32 {
    let [r, g, b] = series_colour(index);
    Color32::from_rgb(r, g, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_is_clamped_to_the_screenshot() {
        let pixels = (0..4 * 3).map(|i| Color32::from_gray(i as u8)).collect();
        let image = egui::ColorImage::new([4, 3], pixels);
        // Points at 2 pixels per point: (1, 0.5)-(1.5, 1.5) is pixels x 2..3, y 1..3.
        let rect = egui::Rect::from_min_max(egui::pos2(1.0, 0.5), egui::pos2(1.5, 1.5));
        let crop = crop(&image, rect, 2.0);
        assert_eq!(crop.size, [1, 2]);
        assert_eq!(crop.pixels, vec![Color32::from_gray(6), Color32::from_gray(10)]);
        // A chart scrolled partly off the window: only the visible part.
        let beyond = egui::Rect::from_min_max(egui::pos2(1.0, 1.0), egui::pos2(40.0, 40.0));
        assert_eq!(crop_size(&image, beyond, 2.0), [2, 1]);
        let outside = egui::Rect::from_min_max(egui::pos2(50.0, 50.0), egui::pos2(60.0, 60.0));
        assert_eq!(crop_size(&image, outside, 2.0), [0, 0]);
    }

    #[test]
    fn every_bar_of_a_top_ten_gets_a_label_mark() {
        let marks = category_marks(10, 1);
        let values: Vec<f64> = marks.iter().map(|m| m.value).collect();
        assert_eq!(values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        // 24 hours where only every third label fits.
        assert_eq!(category_marks(24, 3).len(), 8);
        assert!(category_marks(24, 3).iter().all(|m| m.step_size == 3.0));
    }

    fn crop_size(image: &egui::ColorImage, rect: egui::Rect, ppp: f32) -> [usize; 2] {
        crop(image, rect, ppp).size
    }
}
