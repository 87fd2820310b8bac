//! "Venue now": the whole venue's figures of one venue day for the console (issue 18),
//! the station's `report daily` computed over everything the hub holds.
//!
//! The hub keeps running totals per UTC quarter hour as the station does (tables and
//! triggers in `sqlite_venue_now.rs` and `postgres_venue_now.rs`), and sums them into the
//! venue's local hours and zones with the station library's own code
//! ([`expo_kiosk::stats::figures_of`]), so the two agree by construction and a test
//! checks they do. What only the hub knows is added: which desk issued each badge.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use expo_kiosk::access::Reason;
use expo_kiosk::domain::EventDefinition;
use expo_kiosk::stats::{
    self, BadgeTotal, Chart, ChartId, DayFigures, DayTotals, GateTotal, HourlyCount, QuarterTotal,
    StatsError, VenueDay,
};
use expo_sync::protocol::Record;

use crate::store::{HubStore, StoreError};

/// Badges one desk (the station that pushed them) issued in one UTC quarter hour.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeskBadgeTotal {
    pub quarter: String,
    pub station: String,
    pub operator: String,
    pub issued: u64,
    pub reprints: u64,
}

/// The hub's running totals of some quarters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VenueTotals {
    pub registrations: Vec<QuarterTotal>,
    pub badges: Vec<DeskBadgeTotal>,
    pub gate: Vec<GateTotal>,
}

#[derive(Debug, thiserror::Error)]
pub enum VenueNowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no event definition has reached the hub yet")]
    NoEvent,
    #[error("the event definition the hub holds: {0}")]
    BadEvent(String),
    #[error(transparent)]
    Day(#[from] StatsError),
}

/// The reasons whose decisions the page counts by gate, zone and quarter, as an SQL list
/// (`'granted', …`); the stores count every other reason's by quarter and reason only
/// (see [`expo_kiosk::stats::DayTotals::gate`]).
pub(crate) fn granting_reasons_sql() -> String {
    let quoted: Vec<String> = Reason::GRANTING
        .iter()
        .map(|reason| format!("'{}'", reason.as_str().replace('\'', "''")))
        .collect();
    quoted.join(", ")
}

/// The charts of the page, in its order.
pub const CHARTS: [ChartId; 6] = [
    ChartId::RegistrationsBySource,
    ChartId::RegistrationsByCategory,
    ChartId::Inside,
    ChartId::GateFlow,
    ChartId::Denials,
    ChartId::DeskThroughput,
];

/// One venue day's figures, as the page shows them.
pub struct VenueNow {
    pub definition: EventDefinition,
    pub date: NaiveDate,
    /// The venue's today: the page offers the day before `date`, and the day after up to it.
    pub today: NaiveDate,
    pub figures: DayFigures,
    /// Badges per local hour; `category` names the desk.
    pub desks: Vec<HourlyCount>,
}

impl VenueNow {
    /// The page's charts, in [`CHARTS`] order.
    pub fn charts(&self) -> Vec<Chart> {
        let mut all = stats::charts(&self.figures, &self.definition);
        all.push(stats::desk_throughput(&self.desks));
        CHARTS
            .iter()
            .filter_map(|id| all.iter().position(|c| c.id == *id).map(|i| all.swap_remove(i)))
            .collect()
    }
}

/// The figures of `date` (default: the venue's today at `now`) in the event's time zone.
pub async fn venue_now<S: HubStore>(
    store: &S,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<VenueNow, VenueNowError> {
    let definition = event_definition(store).await?;
    let today = now.with_timezone(&definition.timezone()).date_naive();
    let date = date.unwrap_or(today);
    let day = VenueDay::new(date, definition.timezone())?;
    let (first, end) = day.quarter_range();
    let totals = store.venue_totals(&first, &end).await?;
    let desk_counts = totals.badges.iter().map(|b| QuarterTotal {
        quarter: b.quarter.clone(),
        category: b.station.clone(),
        source: String::new(),
        count: b.issued,
    });
    let desks = stats::hourly_counts(&day, desk_counts);
    let badges = totals
        .badges
        .into_iter()
        .map(|b| BadgeTotal {
            quarter: b.quarter,
            operator: b.operator,
            // The holder's category when the badge arrived depends on arrival order at
            // each station; the page shows badges by desk instead.
            category: String::new(),
            source: String::new(),
            issued: b.issued,
            reprints: b.reprints,
        })
        .collect();
    let zones: Vec<String> = definition.zones.iter().map(|z| z.id.clone()).collect();
    let day_totals = DayTotals {
        registrations: totals.registrations,
        badges,
        gate: totals.gate,
        ..DayTotals::default()
    };
    let figures = stats::figures_of(&definition.event.id, &zones, &day, now, day_totals);
    Ok(VenueNow { definition, date, today, figures, desks })
}

/// The event's newest definition: an admin station's (synced as an event record), else
/// the one imported for registrations.
async fn event_definition<S: HubStore>(store: &S) -> Result<EventDefinition, VenueNowError> {
    let synced =
        store.current_page("event", "", 64).await?.into_iter().find_map(
            |(_, record)| match record {
                Record::Event(event) => Some(event.definition),
                _ => None,
            },
        );
    let text = match synced {
        Some(text) => text,
        None => store.data_centre_event().await?.ok_or(VenueNowError::NoEvent)?.definition,
    };
    EventDefinition::from_toml(&text).map_err(|e| VenueNowError::BadEvent(e.to_string()))
}

/// A day's figures as one computation made them, with its charts: what the console's
/// pages, chart exports and live updates of that day share.
pub struct SharedDay {
    pub venue: VenueNow,
    /// [`VenueNow::charts`], drawn once.
    pub charts: Vec<Chart>,
}

impl SharedDay {
    /// The venue's today at `now`, in the event's time zone.
    pub fn today_at(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.venue.definition.timezone()).date_naive()
    }
}

/// How many times [`VenueFigures`]' freshness a day's figures may be served while newer
/// ones are computed.
pub const STALE_FACTOR: u32 = 5;
/// Days kept at once: the console shows today and a few days around it; any more asked
/// for (a hostile `?date=` sweep) are computed but not kept.
const DAYS_KEPT: usize = 16;

/// The figures of the days the console shows, computed once and shared by every page,
/// chart export and live update, so many open consoles cost one computation per
/// `fresh_for` (a day at 10 million gate decisions takes tens of milliseconds to sum).
///
/// How stale a figure may be: figures computed less than `fresh_for` ago are served as
/// they are; older ones, up to `fresh_for` × [`STALE_FACTOR`], are served while a
/// background task computes the next, so no request waits for it; older than that, the
/// request computes them itself. A page of today is kept under "today" but only while
/// the figures are of the venue's today at the request, so past the venue's midnight the
/// new day is computed afresh. A `fresh_for` of zero computes at every request. Ages are
/// read on the console's clock (`now`), so a test moves them as it moves the venue's day;
/// a clock set back makes the figures due at once.
pub struct VenueFigures {
    fresh_for: Duration,
    days: Mutex<HashMap<Option<NaiveDate>, Kept>>,
}

struct Kept {
    day: Arc<SharedDay>,
    /// The console's clock when the figures were computed.
    computed: DateTime<Utc>,
    refreshing: bool,
}

impl VenueFigures {
    pub fn new(fresh_for: Duration) -> Self {
        Self { fresh_for, days: Mutex::new(HashMap::new()) }
    }

    /// The figures of `date` (default: the venue's today at `now`), and the venue's today.
    pub async fn day<S: HubStore>(
        self: &Arc<Self>,
        store: &Arc<S>,
        date: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<(Arc<SharedDay>, NaiveDate), VenueNowError> {
        if let Some(day) = self.kept(store, date, now) {
            let today = day.today_at(now);
            return Ok((day, today));
        }
        let day = Arc::new(shared_day(store.as_ref(), date, now).await?);
        self.keep(date, &day, now);
        let today = day.venue.today;
        Ok((day, today))
    }

    /// The kept figures of `date` if they may be served at `now`, a refresh started when
    /// they are due for one.
    fn kept<S: HubStore>(
        self: &Arc<Self>,
        store: &Arc<S>,
        date: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Option<Arc<SharedDay>> {
        let mut days = self.days.lock().ok()?;
        let kept = days.get_mut(&date)?;
        if date.is_none() && kept.day.venue.date != kept.day.today_at(now) {
            return None;
        }
        let age = age(kept.computed, now);
        if age < self.fresh_for {
            return Some(Arc::clone(&kept.day));
        }
        if age >= self.fresh_for * STALE_FACTOR {
            return None;
        }
        if !kept.refreshing {
            kept.refreshing = true;
            let (figures, store) = (Arc::clone(self), Arc::clone(store));
            tokio::spawn(async move {
                match shared_day(store.as_ref(), date, now).await {
                    Ok(day) => figures.keep(date, &Arc::new(day), now),
                    Err(error) => {
                        tracing::error!(%error, "console: cannot compute the venue's figures");
                        if let Ok(mut days) = figures.days.lock() {
                            days.remove(&date);
                        }
                    }
                }
            });
        }
        Some(Arc::clone(&kept.day))
    }

    /// Keeps `day`, computed at `now`, as the figures of `date`.
    fn keep(&self, date: Option<NaiveDate>, day: &Arc<SharedDay>, now: DateTime<Utc>) {
        if self.fresh_for.is_zero() {
            return;
        }
        let Ok(mut days) = self.days.lock() else { return };
        let servable = self.fresh_for * STALE_FACTOR;
        days.retain(|_, kept| age(kept.computed, now) < servable);
        if days.len() < DAYS_KEPT || days.contains_key(&date) {
            let kept = Kept { day: Arc::clone(day), computed: now, refreshing: false };
            days.insert(date, kept);
        }
    }
}

/// How long before `now` figures computed at `computed` are; `Duration::MAX` when the
/// clock was set back past them.
fn age(computed: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - computed).to_std().unwrap_or(Duration::MAX)
}

async fn shared_day<S: HubStore>(
    store: &S,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<SharedDay, VenueNowError> {
    let venue = venue_now(store, date, now).await?;
    let charts = venue.charts();
    Ok(SharedDay { venue, charts })
}
