//! The day's figures as charts: what each chart shows is decided here once, for the
//! dashboard (egui_plot), the daily PDF and the CSV exports alike.

use std::collections::BTreeMap;

use super::{quarter_label, DayFigures, HourlyCount, NamedCount, StatsError};
use crate::access::Reason;
use crate::domain::{EventDefinition, Source};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChartId {
    RegistrationsBySource,
    RegistrationsByCategory,
    BadgesBySource,
    BadgesByCategory,
    GateFlow,
    Inside,
    Denials,
    TopCountries,
    TopCompanies,
    ReprintRate,
    /// Badges each desk issued per hour: made by the hub, which knows which station
    /// issued what (a station's own figures count by operator).
    DeskThroughput,
}

impl ChartId {
    /// Stable id for file names and the long CSV report.
    pub fn key(self) -> &'static str {
        match self {
            ChartId::RegistrationsBySource => "registrations_by_source",
            ChartId::RegistrationsByCategory => "registrations_by_category",
            ChartId::BadgesBySource => "badges_by_source",
            ChartId::BadgesByCategory => "badges_by_category",
            ChartId::GateFlow => "gate_flow",
            ChartId::Inside => "inside",
            ChartId::Denials => "denials",
            ChartId::TopCountries => "top_countries",
            ChartId::TopCompanies => "top_companies",
            ChartId::ReprintRate => "reprint_rate",
            ChartId::DeskThroughput => "desk_throughput",
        }
    }

    /// Chinese and English titles.
    pub fn title(self) -> (&'static str, &'static str) {
        match self {
            ChartId::RegistrationsBySource => {
                ("每小时登记（按来源）", "Registrations per hour by source")
            }
            ChartId::RegistrationsByCategory => {
                ("每小时登记（按类别）", "Registrations per hour by category")
            }
            ChartId::BadgesBySource => ("每小时制证（按来源）", "Badges issued per hour by source"),
            ChartId::BadgesByCategory => {
                ("每小时制证（按类别）", "Badges issued per hour by category")
            }
            ChartId::GateFlow => ("各闸机每15分钟进出", "Gate entries and exits per 15 minutes"),
            ChartId::Inside => ("各区域当前在场人数", "People inside each zone now"),
            ChartId::Denials => ("拒绝原因", "Deny reasons"),
            ChartId::TopCountries => ("主要国家/地区", "Top countries"),
            ChartId::TopCompanies => ("主要公司", "Top companies"),
            ChartId::ReprintRate => ("各操作员补打率 %", "Reprint rate per operator %"),
            ChartId::DeskThroughput => ("各服务台每小时制证", "Badges issued per hour by desk"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartKind {
    /// Series stacked on each other, one bar per x.
    StackedBars,
    /// One series, one bar per x.
    Bars,
    /// One line per series.
    Lines,
}

/// A bilingual label with a stable key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub key: String,
    pub zh: String,
    pub en: String,
}

impl Label {
    fn same(text: impl Into<String>) -> Self {
        let text = text.into();
        Label { key: text.clone(), zh: text.clone(), en: text }
    }

    fn new(key: &str, zh: &str, en: &str) -> Self {
        Label { key: key.into(), zh: zh.into(), en: en.into() }
    }

    pub fn text(&self, english: bool) -> &str {
        if english {
            &self.en
        } else {
            &self.zh
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: Label,
    /// One value per x of the chart.
    pub values: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub id: ChartId,
    pub kind: ChartKind,
    pub x: Vec<Label>,
    pub series: Vec<Series>,
}

impl Chart {
    pub fn title(&self, english: bool) -> &'static str {
        let (zh, en) = self.id.title();
        if english {
            en
        } else {
            zh
        }
    }

    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.values.iter().all(|v| *v == 0.0))
    }

    /// The chart as a table: the x labels down the first column, a column per series;
    /// labels (company names) a spreadsheet would run as formulas are escaped.
    pub fn to_csv(&self, english: bool) -> Result<Vec<u8>, StatsError> {
        let mut out = expo_sync::output::SpreadsheetCsv::new(Vec::new());
        let output = |e: csv::Error| StatsError::Output(e.to_string());
        let mut header = vec![self.title(english).to_owned()];
        header.extend(self.series.iter().map(|s| s.label.text(english).to_owned()));
        out.write_record(&header).map_err(output)?;
        for (index, x) in self.x.iter().enumerate() {
            let mut row = vec![x.text(english).to_owned()];
            row.extend(self.series.iter().map(|s| format_value(s.values[index])));
            out.write_record(&row).map_err(output)?;
        }
        out.into_inner().map_err(|e| StatsError::Output(e.to_string()))
    }
}

/// Series colours, in order, shared by the dashboard and the PDF so a series looks the
/// same in both; more series than colours cycle.
const PALETTE: [[u8; 3]; 8] = [
    [0x1f, 0x77, 0xb4],
    [0xff, 0x7f, 0x0e],
    [0x2c, 0xa0, 0x2c],
    [0xd6, 0x27, 0x28],
    [0x94, 0x67, 0xbd],
    [0x8c, 0x56, 0x4b],
    [0xe3, 0x77, 0xc2],
    [0x7f, 0x7f, 0x7f],
];

/// The colour of the chart's `index`th series.
pub fn series_colour(index: usize) -> [u8; 3] {
    PALETTE[index % PALETTE.len()]
}

/// Counts print as integers, rates with one decimal.
pub fn format_value(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Every chart of the dashboard, in display order.
pub fn charts(figures: &DayFigures, event: &EventDefinition) -> Vec<Chart> {
    let category = |id: &str| match event.category(id) {
        Some((_, c)) => Label::new(id, &c.label_zh, &c.label_en),
        None => Label::same(id),
    };
    let source = |id: &str| {
        let (zh, en) = match Source::parse(id) {
            Some(Source::PreRegistered) => ("预登记", "Pre-registered"),
            Some(Source::WalkIn) => ("现场登记", "Walk-in"),
            Some(Source::SelfService) => ("自助登记", "Self-service"),
            None => (id, id),
        };
        Label::new(id, zh, en)
    };
    vec![
        hourly(ChartId::RegistrationsBySource, &figures.registrations, |c| source(&c.source)),
        hourly(ChartId::RegistrationsByCategory, &figures.registrations, |c| category(&c.category)),
        hourly(ChartId::BadgesBySource, &figures.badges, |c| source(&c.source)),
        hourly(ChartId::BadgesByCategory, &figures.badges, |c| category(&c.category)),
        gate_flow(figures),
        single(
            ChartId::Inside,
            figures.occupancy.iter().map(|z| {
                let label = match event.zone(&z.zone) {
                    Some(zone) => Label::new(&z.zone, &zone.name, &zone.name_en),
                    None => Label::same(&z.zone),
                };
                (label, z.inside as f64)
            }),
            Label::new("inside", "在场", "inside"),
        ),
        single(
            ChartId::Denials,
            figures.denials.iter().map(|d| {
                let label = match Reason::parse(&d.name) {
                    Some(reason) => {
                        let (en, zh) = reason.label();
                        Label::new(&d.name, zh, en)
                    }
                    None => Label::same(&d.name),
                };
                (label, d.count as f64)
            }),
            Label::new("denied", "拒绝", "denied"),
        ),
        named(ChartId::TopCountries, &figures.top_countries),
        named(ChartId::TopCompanies, &figures.top_companies),
        single(
            ChartId::ReprintRate,
            figures.reprints.iter().map(|r| (Label::same(&r.operator), r.rate() * 100.0)),
            Label::new("reprint_percent", "补打率 %", "reprint %"),
        ),
    ]
}

/// Badges per hour and desk, from counts whose `category` names the desk (the station).
pub fn desk_throughput(desks: &[HourlyCount]) -> Chart {
    hourly(ChartId::DeskThroughput, desks, |c| Label::same(&c.category))
}

/// The hours every hourly chart shows, data or not.
const OPENING_HOURS: (u8, u8) = (8, 18);

/// Hours from the first to the last with any count, a series per key.
fn hourly(id: ChartId, counts: &[HourlyCount], key: impl Fn(&HourlyCount) -> Label) -> Chart {
    // At least the usual opening hours, so one busy hour is not one page-wide bar.
    let hours = span(counts.iter().map(|c| c.hour).chain([OPENING_HOURS.0, OPENING_HOURS.1]));
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    for count in counts {
        let label = key(count);
        let entry = series
            .entry(label.key.clone())
            .or_insert_with(|| Series { label, values: vec![0.0; hours.len()] });
        if let Some(index) = hours.iter().position(|h| *h == count.hour) {
            entry.values[index] += count.count as f64;
        }
    }
    Chart {
        id,
        kind: ChartKind::StackedBars,
        x: hours.iter().map(|h| Label::same(quarter_label(h * 4))).collect(),
        series: series.into_values().collect(),
    }
}

/// Quarters from the first to the last with a passage; an entries and an exits line per gate.
fn gate_flow(figures: &DayFigures) -> Chart {
    let quarters = span(figures.gate_flow.iter().map(|f| f.quarter));
    let mut series: BTreeMap<(String, bool), Series> = BTreeMap::new();
    for flow in &figures.gate_flow {
        let Some(index) = quarters.iter().position(|q| *q == flow.quarter) else { continue };
        for (exits, count) in [(false, flow.entries), (true, flow.exits)] {
            let (zh, en, key) = if exits { ("出", "out", "out") } else { ("进", "in", "in") };
            let entry = series.entry((flow.gate.clone(), exits)).or_insert_with(|| Series {
                label: Label::new(
                    &format!("{} {key}", flow.gate),
                    &format!("{} {zh}", flow.gate),
                    &format!("{} {en}", flow.gate),
                ),
                values: vec![0.0; quarters.len()],
            });
            entry.values[index] += count as f64;
        }
    }
    Chart {
        id: ChartId::GateFlow,
        kind: ChartKind::Lines,
        x: quarters.iter().map(|q| Label::same(quarter_label(*q))).collect(),
        series: series.into_values().collect(),
    }
}

fn single(id: ChartId, bars: impl Iterator<Item = (Label, f64)>, name: Label) -> Chart {
    let (x, values): (Vec<Label>, Vec<f64>) = bars.unzip();
    Chart { id, kind: ChartKind::Bars, x, series: vec![Series { label: name, values }] }
}

fn named(id: ChartId, counts: &[NamedCount]) -> Chart {
    single(
        id,
        counts.iter().map(|c| (Label::same(&c.name), c.count as f64)),
        Label::new("attendees", "人数", "attendees"),
    )
}

/// Every value from the smallest to the largest seen (gaps stay on the axis as zeros).
fn span(values: impl Iterator<Item = u8>) -> Vec<u8> {
    let (min, max) = values.fold((u8::MAX, u8::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if min > max {
        return Vec::new();
    }
    (min..=max).collect()
}
