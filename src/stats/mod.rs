//! On-site statistics: what the organiser and the security chief ask every hour. One
//! [`DayFigures`] holds a venue day's figures, read from the running totals that the
//! store's triggers keep (schema migration 4), so loading it costs the same on the first
//! morning and on the last day with ten million gate decisions behind it.
//!
//! [`charts`] turns the figures into bilingual [`Chart`]s that the dashboard draws with
//! egui_plot, the daily PDF draws as vectors, and both export as CSV.

mod charts;
pub mod follow_up;
mod pdf;
mod report;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::access::Reason;
use crate::store::{format_time, StoreError};

pub use charts::{
    charts, desk_throughput, format_value, series_colour, Chart, ChartId, ChartKind, Label, Series,
};
pub use pdf::render_daily_pdf;
pub use report::{daily_csv, daily_json};

/// How many countries and companies the top lists hold.
pub const TOP_N: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} has no start in the venue's time zone")]
    NoSuchLocalTime(NaiveDate),
    #[error("cannot write the report: {0}")]
    Output(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Operator(#[from] crate::operators::OperatorError),
    #[error("the event has no category {0:?}")]
    UnknownCategory(String),
}

impl From<rusqlite::Error> for StatsError {
    fn from(error: rusqlite::Error) -> Self {
        StatsError::Store(error.into())
    }
}

/// One venue day: local midnight to local midnight, as UTC bounds.
#[derive(Clone, Debug)]
pub struct VenueDay {
    pub date: NaiveDate,
    pub timezone: Tz,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl VenueDay {
    pub fn new(date: NaiveDate, timezone: Tz) -> Result<Self, StatsError> {
        let local_midnight = |day: NaiveDate| {
            timezone
                .from_local_datetime(&day.and_time(NaiveTime::MIN))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or(StatsError::NoSuchLocalTime(day))
        };
        let next = date.succ_opt().ok_or(StatsError::NoSuchLocalTime(date))?;
        Ok(VenueDay { date, timezone, start: local_midnight(date)?, end: local_midnight(next)? })
    }

    /// The bucket keys (`YYYY-MM-DDTHH:MM`, UTC) that fall inside this day: [first, last).
    pub fn quarter_range(&self) -> (String, String) {
        let key = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
        (key(self.start), key(self.end))
    }

    /// Local quarter of the day (0 = 00:00–00:15) of a UTC bucket key.
    fn local_quarter(&self, bucket: &str) -> Option<usize> {
        let utc = chrono::NaiveDateTime::parse_from_str(bucket, "%Y-%m-%dT%H:%M").ok()?.and_utc();
        let local = utc.with_timezone(&self.timezone);
        Some(local.hour() as usize * 4 + local.minute() as usize / 15)
    }
}

/// Counts per local hour (0–23) and two keys, e.g. category and source.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HourlyCount {
    pub hour: u8,
    pub category: String,
    pub source: String,
    pub count: u64,
}

/// Passages through one gate in one local quarter hour (0 = 00:00–00:15).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GateFlow {
    pub gate: String,
    pub quarter: u8,
    pub entries: u64,
    pub exits: u64,
}

/// People inside a zone: the day's counted entries minus counted exits (annulled
/// passages, where nobody walked through, are not counted).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ZoneOccupancy {
    pub zone: String,
    pub entries: u64,
    pub exits: u64,
    /// Entries minus exits, never below zero (an exit from before the day or through a
    /// gate whose log has not arrived yet cannot make the hall negative).
    pub inside: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NamedCount {
    pub name: String,
    pub count: u64,
}

/// Badges an operator issued, and how many of them were reprints. A high reprint rate is
/// the first sign of badges handed out twice.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OperatorReprints {
    pub operator: String,
    pub issued: u64,
    pub reprints: u64,
}

impl OperatorReprints {
    pub fn rate(&self) -> f64 {
        if self.issued == 0 {
            0.0
        } else {
            self.reprints as f64 / self.issued as f64
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Registered during the day / ever, on this station's data.
    pub registered: u64,
    pub registered_all_days: u64,
    pub badges_issued: u64,
    pub reprints: u64,
    pub entries: u64,
    pub exits: u64,
    pub denied: u64,
    /// Sum over zones of [`ZoneOccupancy::inside`].
    pub inside: u64,
}

/// Everything the dashboard and the daily report show for one venue day.
#[derive(Clone, Debug, Serialize)]
pub struct DayFigures {
    pub event: String,
    pub date: NaiveDate,
    pub timezone: String,
    /// When the figures were read (UTC).
    pub generated_at: String,
    pub totals: Totals,
    pub registrations: Vec<HourlyCount>,
    pub badges: Vec<HourlyCount>,
    pub gate_flow: Vec<GateFlow>,
    pub occupancy: Vec<ZoneOccupancy>,
    /// Denied decisions by reason, most frequent first.
    pub denials: Vec<NamedCount>,
    /// Over every registered attendee, not just the day's.
    pub top_countries: Vec<NamedCount>,
    pub top_companies: Vec<NamedCount>,
    pub reprints: Vec<OperatorReprints>,
}

/// Reads the figures of `day` in one read transaction, so every chart shows the same moment.
/// `zones` lists the event's zones, which appear even while nobody has entered them.
pub fn day_figures(
    conn: &Connection,
    event: &str,
    zones: &[String],
    day: &VenueDay,
    now: DateTime<Utc>,
) -> Result<DayFigures, StatsError> {
    // A read transaction on a WAL database is one snapshot for every query in it; it
    // writes nothing, so ending it by rollback on drop is fine.
    let snapshot = conn.unchecked_transaction()?;
    read_day(&snapshot, event, zones, day, now)
}

fn read_day(
    conn: &Connection,
    event: &str,
    zones: &[String],
    day: &VenueDay,
    now: DateTime<Utc>,
) -> Result<DayFigures, StatsError> {
    let (first, end) = day.quarter_range();
    let range = params![first, end];
    let registrations = conn
        .prepare_cached(
            "SELECT quarter, category, source, registered FROM stats_registrations \
             WHERE quarter >= ?1 AND quarter < ?2",
        )?
        .query_map(range, QuarterTotal::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let badges = conn
        .prepare_cached(
            "SELECT quarter, operator, category, source, issued, reprints FROM stats_badges \
             WHERE quarter >= ?1 AND quarter < ?2",
        )?
        .query_map(range, |r| {
            Ok(BadgeTotal {
                quarter: r.get(0)?,
                operator: r.get(1)?,
                category: r.get(2)?,
                source: r.get(3)?,
                issued: r.get::<_, i64>(4)?.max(0) as u64,
                reprints: r.get::<_, i64>(5)?.max(0) as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let gate = conn
        .prepare_cached(
            "SELECT quarter, gate, zone, direction, reason, decisions, passages FROM stats_gate \
             WHERE quarter >= ?1 AND quarter < ?2",
        )?
        .query_map(range, GateTotal::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let registered_all_days: i64 =
        conn.query_row("SELECT coalesce(sum(registered), 0) FROM stats_registrations", [], |r| {
            r.get(0)
        })?;
    let totals = DayTotals {
        registrations,
        badges,
        gate,
        registered_all_days: registered_all_days.max(0) as u64,
        top_countries: top(conn, "country")?,
        top_companies: top(conn, "company")?,
    };
    Ok(figures_of(event, zones, day, now, totals))
}

/// A running total of registrations (or badges) in one UTC quarter hour (a bucket key
/// `YYYY-MM-DDTHH:MM`, see schema migration 4) for one category and source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuarterTotal {
    pub quarter: String,
    pub category: String,
    pub source: String,
    pub count: u64,
}

impl QuarterTotal {
    /// A row of `quarter, category, source, registered`, as a station's
    /// `stats_registrations` and the hub's SQLite `venue_registrations` hold it.
    pub fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(QuarterTotal {
            quarter: r.get(0)?,
            category: r.get(1)?,
            source: r.get(2)?,
            count: stored_count(r.get(3)?),
        })
    }
}

/// A stored running total as a count (a negative one, which no rule makes, as 0).
fn stored_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Badges issued in one UTC quarter hour by one operator to holders of one category and
/// source; serials above 1 are reprints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BadgeTotal {
    pub quarter: String,
    pub operator: String,
    pub category: String,
    pub source: String,
    pub issued: u64,
    pub reprints: u64,
}

/// Gate decisions in one UTC quarter hour; `passages` are the granted ones not annulled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GateTotal {
    pub quarter: String,
    pub gate: String,
    pub zone: String,
    pub direction: String,
    pub reason: String,
    pub decisions: u64,
    pub passages: u64,
}

impl GateTotal {
    /// A row of `quarter, gate, zone, direction, reason, decisions, passages`, as a
    /// station's `stats_gate` and the hub's SQLite `venue_gate` hold it.
    pub fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(GateTotal {
            quarter: r.get(0)?,
            gate: r.get(1)?,
            zone: r.get(2)?,
            direction: r.get(3)?,
            reason: r.get(4)?,
            decisions: stored_count(r.get(5)?),
            passages: stored_count(r.get(6)?),
        })
    }
}

/// The running totals of one venue day as stored, before they are summed into local hours
/// and zones: what a station's `stats_*` tables hold, and what the hub keeps for the
/// whole venue (`expo-hub`'s "Venue now"), so both read the same figures the same way.
#[derive(Clone, Debug, Default)]
pub struct DayTotals {
    /// Only the day's quarters (see [`VenueDay::quarter_range`]), as are `badges` and `gate`.
    pub registrations: Vec<QuarterTotal>,
    pub badges: Vec<BadgeTotal>,
    /// The decisions of a reason that does not grant ([`Reason::GRANTING`]) count only by
    /// reason, so a reader may hand them in summed over the day, one total per reason
    /// whatever its gate, zone, direction and quarter say: a venue's day holds far fewer
    /// reasons than gates × quarters × reasons.
    pub gate: Vec<GateTotal>,
    pub registered_all_days: u64,
    pub top_countries: Vec<NamedCount>,
    pub top_companies: Vec<NamedCount>,
}

/// The day's figures from its running totals.
pub fn figures_of(
    event: &str,
    zones: &[String],
    day: &VenueDay,
    now: DateTime<Utc>,
    totals: DayTotals,
) -> DayFigures {
    let registrations = hourly_counts(day, totals.registrations);
    let badge_counts = totals.badges.iter().map(|b| QuarterTotal {
        quarter: b.quarter.clone(),
        category: b.category.clone(),
        source: b.source.clone(),
        count: b.issued,
    });
    let badges = hourly_counts(day, badge_counts);
    let mut by_operator: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for badge in &totals.badges {
        let sums = by_operator.entry(&badge.operator).or_default();
        sums.0 += badge.issued;
        sums.1 += badge.reprints;
    }
    let reprints: Vec<OperatorReprints> = by_operator
        .into_iter()
        .map(|(operator, (issued, reprints))| OperatorReprints {
            operator: operator.to_owned(),
            issued,
            reprints,
        })
        .collect();
    let gates = gate_figures(zones, &totals.gate, day);
    let summed = Totals {
        registered: registrations.iter().map(|r| r.count).sum(),
        registered_all_days: totals.registered_all_days,
        badges_issued: badges.iter().map(|b| b.count).sum(),
        reprints: reprints.iter().map(|r| r.reprints).sum(),
        entries: gates.occupancy.iter().map(|z| z.entries).sum(),
        exits: gates.occupancy.iter().map(|z| z.exits).sum(),
        denied: gates.denials.iter().map(|d| d.count).sum(),
        inside: gates.occupancy.iter().map(|z| z.inside).sum(),
    };
    DayFigures {
        event: event.to_owned(),
        date: day.date,
        timezone: day.timezone.name().to_owned(),
        generated_at: format_time(now),
        totals: summed,
        registrations,
        badges,
        gate_flow: gates.flow,
        occupancy: gates.occupancy,
        denials: gates.denials,
        top_countries: totals.top_countries,
        top_companies: totals.top_companies,
        reprints,
    }
}

/// The local quarters of bucket keys, each key parsed once: a day's totals name at most
/// a hundred keys, in up to tens of thousands of rows.
struct LocalQuarters<'a> {
    day: &'a VenueDay,
    known: HashMap<String, Option<usize>>,
}

impl<'a> LocalQuarters<'a> {
    fn new(day: &'a VenueDay) -> Self {
        LocalQuarters { day, known: HashMap::new() }
    }

    fn of(&mut self, bucket: &str) -> Option<usize> {
        if let Some(quarter) = self.known.get(bucket) {
            return *quarter;
        }
        let quarter = self.day.local_quarter(bucket);
        self.known.insert(bucket.to_owned(), quarter);
        quarter
    }
}

/// Sums quarter-hour totals into local hours of `day`.
pub fn hourly_counts(
    day: &VenueDay,
    totals: impl IntoIterator<Item = QuarterTotal>,
) -> Vec<HourlyCount> {
    let mut quarters = LocalQuarters::new(day);
    let mut sums: BTreeMap<(u8, String, String), u64> = BTreeMap::new();
    for total in totals {
        let Some(quarter) = quarters.of(&total.quarter) else { continue };
        *sums.entry(((quarter / 4) as u8, total.category, total.source)).or_default() +=
            total.count;
    }
    sums.into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|((hour, category, source), count)| HourlyCount { hour, category, source, count })
        .collect()
}

struct GateFigures {
    flow: Vec<GateFlow>,
    occupancy: Vec<ZoneOccupancy>,
    denials: Vec<NamedCount>,
}

fn gate_figures(zones: &[String], totals: &[GateTotal], day: &VenueDay) -> GateFigures {
    let mut quarters = LocalQuarters::new(day);
    let mut flow: BTreeMap<(String, u8), (u64, u64)> = BTreeMap::new();
    // The event's zones in the event's order, then any other zone a decision names.
    let mut occupancy: Vec<(String, (u64, u64))> =
        zones.iter().map(|z| (z.clone(), (0, 0))).collect();
    let mut denials: HashMap<String, u64> = HashMap::new();
    for total in totals {
        if !Reason::parse(&total.reason).is_some_and(Reason::grants) {
            *denials.entry(total.reason.clone()).or_default() += total.decisions;
            continue;
        }
        let Some(quarter) = quarters.of(&total.quarter) else { continue };
        let entering = total.direction == "in";
        let gate_counts = flow.entry((total.gate.clone(), quarter as u8)).or_default();
        let zone_index = match occupancy.iter().position(|(id, _)| *id == total.zone) {
            Some(index) => index,
            None => {
                occupancy.push((total.zone.clone(), (0, 0)));
                occupancy.len() - 1
            }
        };
        let zone_counts = &mut occupancy[zone_index].1;
        if entering {
            gate_counts.0 += total.passages;
            zone_counts.0 += total.passages;
        } else {
            gate_counts.1 += total.passages;
            zone_counts.1 += total.passages;
        }
    }
    let mut denials: Vec<NamedCount> =
        denials.into_iter().map(|(name, count)| NamedCount { name, count }).collect();
    denials.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    GateFigures {
        flow: flow
            .into_iter()
            .filter(|(_, (entries, exits))| entries + exits > 0)
            .map(|((gate, quarter), (entries, exits))| GateFlow { gate, quarter, entries, exits })
            .collect(),
        occupancy: occupancy
            .into_iter()
            .map(|(zone, (entries, exits))| ZoneOccupancy {
                zone,
                entries,
                exits,
                inside: entries.saturating_sub(exits),
            })
            .collect(),
        denials,
    }
}

fn top(conn: &Connection, dimension: &str) -> Result<Vec<NamedCount>, StatsError> {
    let mut stmt = conn.prepare_cached(
        "SELECT value, attendees FROM stats_attendees \
         WHERE dimension = ?1 AND value <> '' AND attendees > 0 \
         ORDER BY attendees DESC, value LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![dimension, TOP_N as i64], |r| {
        Ok(NamedCount { name: r.get(0)?, count: r.get::<_, i64>(1)?.max(0) as u64 })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// `HH:MM` of a local quarter of the day.
pub fn quarter_label(quarter: u8) -> String {
    let minutes = Duration::minutes(i64::from(quarter) * 15);
    format!("{:02}:{:02}", minutes.num_hours(), minutes.num_minutes() % 60)
}

#[cfg(test)]
mod tests;
