//! Dashboard figures for README: reading a day's figures (every chart of the dashboard and
//! of `report daily`) on a station holding 10,000,000 gate decisions, against the same
//! gate figures computed from the decision log itself.
//!
//!     cargo bench -p expo-kiosk --bench dashboard [-- DECISIONS]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use expo_kiosk::demo::demo_event_toml;
use expo_kiosk::stats::{self, VenueDay};
use expo_kiosk::store::{format_time, Store};
use rusqlite::params;

const SHOW_DAYS: u64 = 4;
const GATES: u64 = 40;
const ZONES: [&str; 4] = ["hall-1", "hall-2", "vip-lounge", "forum-a"];
const DENIALS: [&str; 5] =
    ["revoked", "zone_not_allowed", "passback", "wrong_day", "outside_hours"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let decisions: u64 = match std::env::args().nth(1).filter(|a| !a.starts_with('-')) {
        Some(text) => text.parse()?,
        None => 10_000_000,
    };
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path())?;
    let first_day = NaiveDate::from_ymd_opt(2026, 11, 24).ok_or("date")?;
    expo_kiosk::provisioning::init(
        &mut store,
        &expo_kiosk::operators::Operator::admin("bench"),
        &demo_event_toml(first_day),
    )?;
    let tz = store.event()?.definition.timezone();
    let zones: Vec<String> = ZONES.iter().map(|z| z.to_string()).collect();

    let started = Instant::now();
    fill(&store, decisions, first_day, tz)?;
    let filled = started.elapsed();
    eprintln!("{decisions} decisions written in {:.1} s", filled.as_secs_f64());

    // The busiest moment to ask: the last show day, which every earlier day's rows precede.
    let day = VenueDay::new(first_day + chrono::Days::new(SHOW_DAYS - 1), tz)?;
    let first = Instant::now();
    let figures = stats::day_figures(store.conn(), "bench", &zones, &day, Utc::now())?;
    let first = first.elapsed();
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let started = Instant::now();
            stats::day_figures(store.conn(), "bench", &zones, &day, Utc::now())
                .map(|_| started.elapsed())
        })
        .collect::<Result<_, _>>()?;
    times.sort_unstable();

    // The same gate figures straight from the decision log, as a dashboard without
    // running totals would read them.
    let (start, end) = day_bounds(&day, tz);
    let scan = Instant::now();
    let from_log: i64 = store.conn().query_row(
        "SELECT count(*) FROM (SELECT gate, zone, direction, reason, substr(at, 1, 16), \
         count(*), sum(granted AND NOT annulled) FROM gate_decisions \
         WHERE at >= ?1 AND at < ?2 GROUP BY 1, 2, 3, 4, 5)",
        params![start, end],
        |r| r.get(0),
    )?;
    let scan = scan.elapsed();

    println!("| measure, {decisions} gate decisions over {SHOW_DAYS} days | figure |");
    println!("|---|---|");
    println!(
        "| a day's figures, every chart (first / p50 / p99 of 50) | {:.1} / {:.1} / {:.1} ms |",
        ms(first),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100])
    );
    println!(
        "| the day's gate figures read from the decision log instead ({from_log} groups) | {:.0} ms |",
        ms(scan)
    );
    println!(
        "| writing the decisions, running totals kept by triggers | {:.1} µs / decision |",
        filled.as_secs_f64() * 1e6 / decisions as f64
    );
    println!("| check: entries counted on the day | {} |", figures.totals.entries);
    Ok(())
}

/// Decisions spread evenly over the show days from 09:00 to 17:00 local, across 40 gates;
/// one in ten denied, one granted entry in a hundred annulled.
fn fill(
    store: &Store,
    decisions: u64,
    first_day: NaiveDate,
    tz: chrono_tz::Tz,
) -> rusqlite::Result<()> {
    let per_day = decisions / SHOW_DAYS;
    let open_ms = 8 * 3_600_000;
    let batch = store.conn().unchecked_transaction()?;
    {
        let mut insert = batch.prepare(
            "INSERT INTO gate_decisions (id, attendee_id, badge_serial, gate, lane, zone, direction, \
             granted, reason, at, annulled, station) VALUES (?1, ?2, 1, ?3, '1', ?4, ?5, ?6, ?7, ?8, ?9, 'gate')",
        )?;
        for n in 0..decisions {
            let day = first_day + chrono::Days::new(n / per_day.max(1));
            let opening = tz
                .from_local_datetime(&day.and_hms_opt(9, 0, 0).unwrap_or_default())
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default();
            let at = opening
                + chrono::Duration::milliseconds(
                    ((n % per_day.max(1)) * open_ms / per_day.max(1)) as i64,
                );
            let denied = n % 10 == 9;
            let entering = n % 3 != 2;
            insert.execute(params![
                uuid::Uuid::from_u128(u128::from(n)).to_string(),
                uuid::Uuid::from_u128(u128::from(n % 500_000)).to_string(),
                format!("gate-{:02}", n % GATES),
                ZONES[(n % GATES) as usize % ZONES.len()],
                if entering { "in" } else { "out" },
                !denied,
                if denied { DENIALS[(n / 10) as usize % DENIALS.len()] } else { "granted" },
                format_time(at),
                !denied && entering && n % 100 == 7,
            ])?;
        }
    }
    batch.commit()
}

fn day_bounds(day: &VenueDay, tz: chrono_tz::Tz) -> (String, String) {
    let midnight = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(|t| format_time(t.with_timezone(&Utc)))
            .unwrap_or_default()
    };
    (midnight(day.date), midnight(day.date + chrono::Days::new(1)))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
