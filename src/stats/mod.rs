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

pub use charts::{charts, series_colour, Chart, ChartId, ChartKind, Label, Series};
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
    fn quarter_range(&self) -> (String, String) {
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
    let registrations = hourly(
        conn,
        "SELECT quarter, category, source, registered FROM stats_registrations \
         WHERE quarter >= ?1 AND quarter < ?2",
        (&first, &end),
        day,
    )?;
    let badges = hourly(
        conn,
        "SELECT quarter, category, source, issued FROM stats_badges \
         WHERE quarter >= ?1 AND quarter < ?2",
        (&first, &end),
        day,
    )?;
    let reprints = operator_reprints(conn, (&first, &end))?;
    let gates = gate_figures(conn, zones, (&first, &end), day)?;
    let registered_all_days: i64 =
        conn.query_row("SELECT coalesce(sum(registered), 0) FROM stats_registrations", [], |r| {
            r.get(0)
        })?;
    let totals = Totals {
        registered: registrations.iter().map(|r| r.count).sum(),
        registered_all_days: registered_all_days.max(0) as u64,
        badges_issued: badges.iter().map(|b| b.count).sum(),
        reprints: reprints.iter().map(|r| r.reprints).sum(),
        entries: gates.occupancy.iter().map(|z| z.entries).sum(),
        exits: gates.occupancy.iter().map(|z| z.exits).sum(),
        denied: gates.denials.iter().map(|d| d.count).sum(),
        inside: gates.occupancy.iter().map(|z| z.inside).sum(),
    };
    Ok(DayFigures {
        event: event.to_owned(),
        date: day.date,
        timezone: day.timezone.name().to_owned(),
        generated_at: format_time(now),
        totals,
        registrations,
        badges,
        gate_flow: gates.flow,
        occupancy: gates.occupancy,
        denials: gates.denials,
        top_countries: top(conn, "country")?,
        top_companies: top(conn, "company")?,
        reprints,
    })
}

/// Sums `(quarter, category, source, count)` rows into local hours.
fn hourly(
    conn: &Connection,
    sql: &str,
    range: (&str, &str),
    day: &VenueDay,
) -> Result<Vec<HourlyCount>, StatsError> {
    let mut sums: BTreeMap<(u8, String, String), u64> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![range.0, range.1])?;
    while let Some(row) = rows.next()? {
        let bucket: String = row.get(0)?;
        let Some(quarter) = day.local_quarter(&bucket) else { continue };
        let count: i64 = row.get(3)?;
        *sums.entry(((quarter / 4) as u8, row.get(1)?, row.get(2)?)).or_default() +=
            count.max(0) as u64;
    }
    Ok(sums
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|((hour, category, source), count)| HourlyCount { hour, category, source, count })
        .collect())
}

fn operator_reprints(
    conn: &Connection,
    range: (&str, &str),
) -> Result<Vec<OperatorReprints>, StatsError> {
    let mut stmt = conn.prepare_cached(
        "SELECT operator, sum(issued), sum(reprints) FROM stats_badges \
         WHERE quarter >= ?1 AND quarter < ?2 GROUP BY operator ORDER BY operator",
    )?;
    let rows = stmt.query_map(params![range.0, range.1], |r| {
        Ok(OperatorReprints {
            operator: r.get(0)?,
            issued: r.get::<_, i64>(1)?.max(0) as u64,
            reprints: r.get::<_, i64>(2)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

struct GateFigures {
    flow: Vec<GateFlow>,
    occupancy: Vec<ZoneOccupancy>,
    denials: Vec<NamedCount>,
}

fn gate_figures(
    conn: &Connection,
    zones: &[String],
    range: (&str, &str),
    day: &VenueDay,
) -> Result<GateFigures, StatsError> {
    let mut flow: BTreeMap<(String, u8), (u64, u64)> = BTreeMap::new();
    // The event's zones in the event's order, then any other zone a decision names.
    let mut occupancy: Vec<(String, (u64, u64))> =
        zones.iter().map(|z| (z.clone(), (0, 0))).collect();
    let mut denials: HashMap<String, u64> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT quarter, gate, zone, direction, reason, decisions, passages FROM stats_gate \
         WHERE quarter >= ?1 AND quarter < ?2",
    )?;
    let mut rows = stmt.query(params![range.0, range.1])?;
    while let Some(row) = rows.next()? {
        let bucket: String = row.get(0)?;
        let reason: String = row.get(4)?;
        let decisions = row.get::<_, i64>(5)?.max(0) as u64;
        let passages = row.get::<_, i64>(6)?.max(0) as u64;
        if !Reason::parse(&reason).is_some_and(Reason::grants) {
            *denials.entry(reason).or_default() += decisions;
            continue;
        }
        let Some(quarter) = day.local_quarter(&bucket) else { continue };
        let entering = row.get::<_, String>(3)? == "in";
        let gate_counts = flow.entry((row.get(1)?, quarter as u8)).or_default();
        let zone: String = row.get(2)?;
        let zone_index = match occupancy.iter().position(|(id, _)| *id == zone) {
            Some(index) => index,
            None => {
                occupancy.push((zone, (0, 0)));
                occupancy.len() - 1
            }
        };
        let zone_counts = &mut occupancy[zone_index].1;
        if entering {
            gate_counts.0 += passages;
            zone_counts.0 += passages;
        } else {
            gate_counts.1 += passages;
            zone_counts.1 += passages;
        }
    }
    let mut denials: Vec<NamedCount> =
        denials.into_iter().map(|(name, count)| NamedCount { name, count }).collect();
    denials.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    Ok(GateFigures {
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
    })
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
