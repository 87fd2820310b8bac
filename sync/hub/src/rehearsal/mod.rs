//! `expo-hub rehearse`: the whole venue at once against a real hub, under faults, with
//! nothing lost.
//!
//! The hub runs as a child process (this executable's `serve`), so it can be killed and
//! started again; every station is real station code in this process (its own directory,
//! SQLite store, sync worker and a loopback link that can be cut). After the run, the
//! books are checked: every change a station made is at the hub once (or kept aside at
//! the station with the hub's refusal), and every station's state for its role has the
//! digest of what the hub holds.

mod api;
mod catch_up;
mod cpu;
mod hub_process;
mod ledger;
mod link;
mod venue;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use expo_kiosk::domain::Source;
use expo_kiosk::operators::Operator;
use expo_kiosk::registration;
use expo_kiosk::store::Store;
use expo_sync::protocol::Record;
use expo_sync::StationRole;
use rand::seq::SliceRandom;
use serde::Serialize;
use uuid::Uuid;

use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{enrolment, DatabaseUrl, HubStore, StoreError};
use hub_process::{HubProcess, HubUsage};
use link::Link;
use venue::{Hall, Job, Rates, Sample, Station, LANES_PER_GATE};

#[derive(Debug, thiserror::Error)]
pub enum RehearsalError {
    #[error("{0}")]
    Io(String),
    #[error("the hub under rehearsal: {0}")]
    Hub(String),
    #[error("the database to rehearse on must be new: it holds {0}")]
    NotEmpty(String),
    #[error(transparent)]
    HubStore(#[from] StoreError),
    #[error("a station: {0}")]
    Station(#[from] expo_kiosk::store::StoreError),
    #[error("a station's event: {0}")]
    Provisioning(#[from] expo_kiosk::provisioning::ProvisioningError),
    #[error("a station's sync: {0}")]
    Sync(#[from] expo_kiosk::station_sync::StationSyncError),
    #[error("a station's snapshot: {0}")]
    Bootstrap(#[from] expo_kiosk::bootstrap::BootstrapError),
    #[error("the data centre: {0}")]
    Registration(#[from] expo_kiosk::registration::RegistrationError),
    #[error("reading a station's database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("reading the hub's PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("{0} did not happen within {1:?}")]
    Timeout(&'static str, Duration),
}

/// What to rehearse (`expo-hub rehearse`).
#[derive(Clone, Debug)]
pub struct RehearsalOptions {
    /// The `expo-hub` executable to run the hub with.
    pub hub_executable: PathBuf,
    /// `--db`: a new SQLite file or an empty PostgreSQL database.
    pub db: String,
    pub desks: usize,
    pub lanes: usize,
    pub kiosks: usize,
    pub duration: Duration,
    pub faults: bool,
    pub seed: u64,
    /// Pause between two sync rounds of a station.
    pub sync_interval: Duration,
    /// Badges the data centre revokes a minute (issue 17: one).
    pub revocations_per_minute: f64,
    /// `--dir`: where the run's directory (every station's, the hubs' logs) is made;
    /// the system's temporary directory when `None`.
    pub dir: Option<PathBuf>,
}

/// A stretch of the run during which a fault was on, and how the venue caught up with it
/// while it kept working (see [`catch_up`]; times from the fault's end).
#[derive(Clone, Debug, Serialize)]
pub struct FaultWindow {
    pub fault: String,
    pub at_s: f64,
    pub lasted_s: f64,
    pub ended_s: f64,
    /// The stations it cut off from the hub.
    pub affected: Vec<String>,
    /// Until the last of them was back: its own changes from before the end at the hub,
    /// and what the hub held at the end pulled.
    pub reconnected_ms: Option<u64>,
    /// Until every change made at any station before the end was at the hub.
    pub pushed_ms: Option<u64>,
    /// Until every station had pulled through what the hub held once those were there.
    pub caught_up_ms: Option<u64>,
    /// The station that caught up last.
    pub last_station: Option<String>,
    /// CPU seconds this process (every station) used from the end until caught up: the
    /// stations' share of the catch-up, which on this one machine they take from the
    /// same cores, and which at a venue each station spends on its own.
    pub catch_up_stations_cpu_s: Option<f64>,
    /// The whole machine's busy cores on average from the end until caught up: at the
    /// machine's core count, the catch-up waited for CPU, not for the hub.
    pub catch_up_machine_busy_cores: Option<f64>,
    #[serde(skip)]
    start: Instant,
    #[serde(skip)]
    end: Instant,
    /// Indices of the affected stations.
    #[serde(skip)]
    affected_stations: Vec<usize>,
}

impl FaultWindow {
    /// A fault of a run that `begun`, on from `start` to `end`, that cut off the stations
    /// `affected` (indices); its catch-up figures come later.
    fn new(
        fault: &str,
        begun: Instant,
        start: Instant,
        end: Instant,
        affected: Vec<usize>,
    ) -> Self {
        Self {
            fault: fault.to_owned(),
            at_s: start.duration_since(begun).as_secs_f64(),
            lasted_s: end.duration_since(start).as_secs_f64(),
            ended_s: end.duration_since(begun).as_secs_f64(),
            affected: Vec::new(),
            reconnected_ms: None,
            pushed_ms: None,
            caught_up_ms: None,
            last_station: None,
            catch_up_stations_cpu_s: None,
            catch_up_machine_busy_cores: None,
            start,
            end,
            affected_stations: affected,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// Samples left out because a fault was on while they travelled.
    pub during_faults: usize,
    /// Arrivals that never happened: sent, but not seen at some station by the end.
    pub never_seen: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct StationDiff {
    pub station: String,
    pub role: StationRole,
    /// Entities the hub says it should hold and it does not, or holds otherwise.
    pub missing: usize,
    /// Entities it holds that the hub does not, or holds otherwise.
    pub extra: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct HubFigures {
    pub cpu_seconds: f64,
    /// CPU time over the time the hub processes were up: 1.0 is one whole core.
    pub cores_used: f64,
    pub peak_rss_mib: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub restarts: u32,
}

/// The rehearsal's findings (`--json` prints exactly this).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub database: &'static str,
    /// How the data centre's registrations and revocations reached the hub: `api`
    /// (`PUT /v1/registrations`, `POST /v1/revocations`), `admin station` (a hub without
    /// the integration API: registered and revoked at the organiser's station, pushed), or
    /// API registrations with revocations at the admin station (a hub without the route).
    pub data_centre: &'static str,
    pub desks: usize,
    pub kiosks: usize,
    pub gate_stations: usize,
    pub lanes: usize,
    pub minutes: f64,
    pub faults: bool,
    pub seed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub converged: bool,
    pub stations: usize,
    pub stations_converged: usize,
    pub not_converged: Vec<StationDiff>,
    /// The worse p99 of the two below, outside fault windows.
    pub propagation_p99_ms: u64,
    pub registration_to_desk_ms: Latency,
    pub revocation_to_gate_ms: Latency,
    pub changes_made: u64,
    pub changes_at_hub: u64,
    pub hub_origin_changes: u64,
    /// Changes the hub refused that their station keeps aside (`sync status`), by reason.
    pub kept_aside: u64,
    pub kept_aside_reasons: BTreeMap<String, u64>,
    /// Changes still at their station because they are stamped further ahead of the
    /// hub's clock than it accepts (the clock fault); sent once the hub's clock catches up.
    pub held_back: u64,
    pub double_entries_across_gates: u64,
    pub double_entries_same_gate: u64,
    pub scans: u64,
    pub desk_and_data_centre_actions: u64,
    pub badges_issued: usize,
    pub activity_errors: BTreeMap<String, u64>,
    pub hub: HubFigures,
    pub bytes_to_role: BTreeMap<String, u64>,
    pub bytes_from_role: BTreeMap<String, u64>,
    pub fault_windows: Vec<FaultWindow>,
    /// From the end of the stations' work until every station had synced twice more.
    pub settle_ms: u64,
    /// The last fault's `caught_up_ms`: from its end, while the venue kept working, until
    /// every change made anywhere before it was at the hub and pulled by every station.
    pub converged_after_last_fault_ms: Option<u64>,
    pub warm_up_s: f64,
}

impl Report {
    /// The rehearsal's verdict: nothing lost, nothing twice, every station converged.
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.converged
    }

    /// The table for a person.
    pub fn table(&self) -> String {
        let hub = &self.hub;
        let lat = |l: &Latency| {
            format!(
                "p50 {} ms, p99 {} ms, max {} ms ({} samples; {} during faults left out; {} never seen)",
                l.p50_ms, l.p99_ms, l.max_ms, l.samples, l.during_faults, l.never_seen
            )
        };
        let rows = [
            ("database", self.database.to_owned()),
            ("data centre", self.data_centre.to_owned()),
            (
                "venue",
                format!(
                    "{} desks, {} kiosks, {} gate stations with {} lanes, the data centre; {} min{}",
                    self.desks,
                    self.kiosks,
                    self.gate_stations,
                    self.lanes,
                    self.minutes,
                    if self.faults { ", with faults" } else { "" }
                ),
            ),
            ("changes made", self.changes_made.to_string()),
            (
                "changes at hub",
                format!("{} (+{} the hub's own)", self.changes_at_hub, self.hub_origin_changes),
            ),
            ("lost", self.lost.to_string()),
            ("duplicated", self.duplicated.to_string()),
            ("kept aside", format!("{} {:?}", self.kept_aside, self.kept_aside_reasons)),
            ("held back (clock ahead)", self.held_back.to_string()),
            (
                "converged",
                format!("{} ({} of {} stations)", self.converged, self.stations_converged, self.stations),
            ),
            ("registration→desk", lat(&self.registration_to_desk_ms)),
            ("revocation→gate", lat(&self.revocation_to_gate_ms)),
            ("propagation p99", format!("{} ms", self.propagation_p99_ms)),
            (
                "double entries",
                format!(
                    "{} across gates, {} at one gate",
                    self.double_entries_across_gates, self.double_entries_same_gate
                ),
            ),
            (
                "work",
                format!(
                    "{} scans, {} desk/kiosk/data-centre actions, {} badges",
                    self.scans, self.desk_and_data_centre_actions, self.badges_issued
                ),
            ),
            ("activity errors", format!("{:?}", self.activity_errors)),
            (
                "hub",
                format!(
                    "{:.2} cores, {:.0} MiB peak RSS, {:.1} requests/s, {} restarts",
                    hub.cores_used, hub.peak_rss_mib, hub.requests_per_second, hub.restarts
                ),
            ),
            ("bytes to role", format!("{:?}", self.bytes_to_role)),
            ("bytes from role", format!("{:?}", self.bytes_from_role)),
            (
                "settle",
                format!(
                    "{} ms after the work; the last fault caught up {} ms after its end",
                    self.settle_ms,
                    self.converged_after_last_fault_ms.map_or("-".into(), |ms| ms.to_string())
                ),
            ),
        ];
        let mut text = String::new();
        for (name, value) in rows {
            text.push_str(&format!("{name:<20} {value}\n"));
        }
        let ms = |ms: Option<u64>| ms.map_or("never".into(), |ms| format!("{ms} ms"));
        for window in &self.fault_windows {
            let cpu = match (window.catch_up_stations_cpu_s, window.catch_up_machine_busy_cores) {
                (Some(stations), Some(busy)) => {
                    format!("; meanwhile the stations used {stations:.1} CPU s, the machine {busy:.2} cores")
                }
                _ => String::new(),
            };
            text.push_str(&format!(
                "{:<20} {:.1}–{:.1} s, {} stations cut off, back {}; changes at the hub {}, \
                 caught up {} after (last: {}){cpu}\n",
                format!("fault {}", window.fault),
                window.at_s,
                window.ended_s,
                window.affected.len(),
                ms(window.reconnected_ms),
                ms(window.pushed_ms),
                ms(window.caught_up_ms),
                window.last_station.as_deref().unwrap_or("-"),
            ));
        }
        for diff in &self.not_converged {
            text.push_str(&format!(
                "{:<20} {} ({}): {} missing, {} extra\n",
                "NOT CONVERGED", diff.station, diff.role, diff.missing, diff.extra
            ));
        }
        text
    }
}

/// The hub's database as the rehearsal reads it, beside the hub processes.
enum HubDb {
    Sqlite { store: SqliteStore, path: PathBuf },
    Postgres { store: PostgresStore, url: String },
}

impl HubDb {
    async fn add_station(&self, name: &str, role: StationRole) -> Result<String, StoreError> {
        match self {
            HubDb::Sqlite { store, .. } => enrolment::add_station(store, name, role).await,
            HubDb::Postgres { store, .. } => enrolment::add_station(store, name, role).await,
        }
    }

    async fn current(&self, kind: &'static str) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::new();
        let mut after = String::new();
        loop {
            let page = match self {
                HubDb::Sqlite { store, .. } => store.current_page(kind, &after, 5000).await?,
                HubDb::Postgres { store, .. } => store.current_page(kind, &after, 5000).await?,
            };
            let Some((last, _)) = page.last() else { return Ok(records) };
            after = last.clone();
            records.extend(page.into_iter().map(|(_, record)| record));
        }
    }

    async fn is_empty(&self) -> Result<Option<String>, StoreError> {
        let stats = match self {
            HubDb::Sqlite { store, .. } => store.stats().await?,
            HubDb::Postgres { store, .. } => store.stats().await?,
        };
        Ok((stats.changes > 0 || stats.active_stations > 0)
            .then(|| format!("{} changes and {} stations", stats.changes, stats.active_stations)))
    }

    /// The hub's highest change seq.
    async fn high_water(&self) -> Result<i64, StoreError> {
        let (_, high_water) = match self {
            HubDb::Sqlite { store, .. } => store.changes_of_kinds(&[], i64::MAX, 0).await?,
            HubDb::Postgres { store, .. } => store.changes_of_kinds(&[], i64::MAX, 0).await?,
        };
        Ok(high_water)
    }

    /// Every change the hub stores: its id and origin station.
    async fn change_ids(&self) -> Result<Vec<(Uuid, String)>, RehearsalError> {
        match self {
            HubDb::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )?;
                let mut stmt = conn.prepare("SELECT change_id, origin FROM changes")?;
                let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
                let mut ids = Vec::new();
                for row in rows {
                    let (id, origin) = row?;
                    if let Ok(id) = Uuid::parse_str(&id) {
                        ids.push((id, origin));
                    }
                }
                Ok(ids)
            }
            HubDb::Postgres { url, .. } => {
                let (client, connection) =
                    tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
                let driver = tokio::spawn(connection);
                let rows = client.query("SELECT change_id, origin FROM changes", &[]).await?;
                drop(client);
                // The connection ends with the client; its outcome adds nothing.
                let _ = driver.await;
                Ok(rows.iter().map(|r| (r.get::<_, Uuid>(0), r.get::<_, String>(1))).collect())
            }
        }
    }
}

/// An address on 127.0.0.1 free now, for a hub (bound and let go: the hub binds it next),
/// with a port outside the kernel's range of ephemeral ports: a killed hub starts again on
/// the same address, and while it is down any of the stations' outgoing connections could
/// otherwise be given its port, and the hub would not start.
fn free_address() -> Result<SocketAddr, RehearsalError> {
    let (first, last) = ephemeral_ports();
    let outside: Vec<u16> = (10_000..first).chain(last.saturating_add(1)..=u16::MAX).collect();
    let mut rng = rand::thread_rng();
    let listener = (0..100)
        .filter_map(|_| outside.choose(&mut rng).copied())
        .find_map(|port| TcpListener::bind(("127.0.0.1", port)).ok())
        // No free port outside the range: one the kernel picks.
        .map_or_else(|| TcpListener::bind("127.0.0.1:0"), Ok)
        .map_err(|e| RehearsalError::Io(format!("finding a free port: {e}")))?;
    listener.local_addr().map_err(|e| RehearsalError::Io(format!("finding a free port: {e}")))
}

/// The kernel's range of ephemeral ports (Linux's default when it cannot be read).
fn ephemeral_ports() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| {
            let mut ends = range.split_whitespace().map(str::parse::<u16>);
            Some((ends.next()?.ok()?, ends.next()?.ok()?))
        })
        .unwrap_or((32_768, 60_999))
}

/// A PostgreSQL URL split around its server address, so the hub can be pointed at a
/// link to the server instead.
struct PostgresUrl {
    server: SocketAddr,
    before: String,
    after: String,
}

impl PostgresUrl {
    fn parse(url: &str) -> Result<Self, RehearsalError> {
        let unusable = || RehearsalError::Io("cannot find host:port in the PostgreSQL URL".into());
        let (scheme, rest) = url.split_once("://").ok_or_else(unusable)?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((user, host)) => (format!("{user}@"), host.to_owned()),
            None => (String::new(), authority.to_owned()),
        };
        let host_port =
            if host_port.contains(':') { host_port } else { format!("{host_port}:5432") };
        let server = host_port
            .to_socket_addrs()
            .map_err(|e| RehearsalError::Io(format!("resolving the PostgreSQL server: {e}")))?
            .next()
            .ok_or_else(unusable)?;
        Ok(Self { server, before: format!("{scheme}://{user}"), after: tail.to_owned() })
    }

    /// The URL with `address` in place of the server's.
    fn at(&self, address: SocketAddr) -> String {
        format!("{}{address}{}", self.before, self.after)
    }
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The figures of `samples`, `expected` of them if every station saw every one. A sample
/// that travelled while a fault was on is left out, and so is one a station saw while a
/// fault had cut it off, from the fault's start until it was back (`cut_off`, by station).
fn latency(
    samples: &[Sample],
    expected: usize,
    windows: &[FaultWindow],
    cut_off: &HashMap<&str, Vec<(Instant, Instant)>>,
) -> Latency {
    let overlaps = |s: &Sample, from: Instant, to: Instant| s.sent < to && s.seen > from;
    let during = |s: &Sample| {
        windows.iter().any(|w| overlaps(s, w.start, w.end))
            || cut_off
                .get(&*s.station)
                .is_some_and(|spans| spans.iter().any(|&(from, to)| overlaps(s, from, to)))
    };
    let mut ms: Vec<u64> = samples
        .iter()
        .filter(|s| !during(s))
        .map(|s| s.seen.duration_since(s.sent).as_millis() as u64)
        .collect();
    ms.sort_unstable();
    Latency {
        samples: ms.len(),
        p50_ms: percentile(&ms, 0.50),
        p99_ms: percentile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or(0),
        during_faults: samples.len() - ms.len(),
        never_seen: expected.saturating_sub(samples.len()),
    }
}

fn wait_until(
    what: &'static str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> Result<(), RehearsalError> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return Err(RehearsalError::Timeout(what, limit));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Asks every station for a sync round now and waits until each has completed one that
/// started after the ask.
fn sync_all(stations: &[Station], limit: Duration) -> Result<(), RehearsalError> {
    let asked = SystemTime::now();
    for station in stations {
        if let Some(worker) = &station.worker {
            worker.sync_now();
        }
    }
    wait_until("a sync round at every station", limit, || {
        stations.iter().all(|s| {
            s.worker.as_ref().is_none_or(|w| w.status().last_success.is_some_and(|at| at > asked))
        })
    })
}

/// Settles the venue once its work is done: a sync round at every station, again and
/// again until one adds nothing at the hub (at least two: the second pulls what the first
/// pushed), so every station has pulled whatever any other pushed. Returns when the last
/// round began, by the wall clock. A change of a station whose clock runs ahead that was
/// admissible for the whole of that round went out in it (or the round would have added
/// something); one that became admissible during it may not have, and is held back.
fn settle(
    stations: &[Station],
    runtime: &tokio::runtime::Runtime,
    db: &HubDb,
) -> Result<u64, RehearsalError> {
    let mut rounds = 0;
    loop {
        let before = runtime.block_on(db.high_water())?;
        let began = expo_sync::hlc::wall_clock_ms();
        sync_all(stations, SETTLE_LIMIT)?;
        rounds += 1;
        let quiet = runtime.block_on(db.high_water())? == before;
        if (rounds >= 2 && quiet) || rounds >= MAX_SETTLE_ROUNDS {
            return Ok(began);
        }
    }
}

/// Rounds [`settle`] runs at most: a venue that still adds changes then is not settled,
/// and its books say so.
const MAX_SETTLE_ROUNDS: u32 = 10;

/// The run's directory (every station's, the hubs' logs), under `dir` when given (`--dir`,
/// made if missing, as `mkdir -p` would), removed when the run ends well ([`run`]).
fn work_dir(dir: Option<&Path>) -> Result<tempfile::TempDir, RehearsalError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("rehearsal-");
    match dir {
        Some(dir) => std::fs::create_dir_all(dir).and_then(|()| builder.tempdir_in(dir)),
        None => builder.tempdir(),
    }
    .map_err(|e| RehearsalError::Io(format!("making the run's directory: {e}")))
}

const SETTLE_LIMIT: Duration = Duration::from_secs(180);
/// Issue 17's goal: every station converged within 10 s of a fault ending.
const CATCH_UP_GOAL: Duration = Duration::from_secs(10);
const WARM_UP_LIMIT: Duration = Duration::from_secs(1800);

/// Runs the rehearsal and checks its books. A run that fails keeps its directory: its error
/// may send the reader to a hub's log there.
pub fn run(options: &RehearsalOptions) -> Result<Report, RehearsalError> {
    let work_dir = work_dir(options.dir.as_deref())?;
    let outcome = run_in(options, work_dir.path());
    if outcome.is_err() {
        let kept = work_dir.keep();
        tracing::warn!(dir = %kept.display(), "the rehearsal failed; its directory is kept");
    }
    outcome
}

fn run_in(options: &RehearsalOptions, work_dir: &Path) -> Result<Report, RehearsalError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| RehearsalError::Io(format!("starting a runtime: {e}")))?;
    let scale = options.duration.as_secs_f64() / 600.0;
    let started = Instant::now();

    // The database, the links to it and the hub processes.
    let url = DatabaseUrl::parse(&options.db)?;
    let mut db_link = None;
    let (db, hub_db_url, two_hubs) = match url {
        DatabaseUrl::Sqlite(path) => {
            let store = SqliteStore::open(&path)?;
            (HubDb::Sqlite { store, path }, options.db.clone(), false)
        }
        DatabaseUrl::Postgres(pg) => {
            let parsed = PostgresUrl::parse(&pg)?;
            let link = Link::start(parsed.server)
                .map_err(|e| RehearsalError::Io(format!("starting the database link: {e}")))?;
            let hub_url = parsed.at(link.address);
            db_link = Some(link);
            let store = runtime.block_on(PostgresStore::connect(&pg, 4))?;
            (HubDb::Postgres { store, url: pg }, hub_url, true)
        }
    };
    let db = Arc::new(db);
    if let Some(held) = runtime.block_on(db.is_empty())? {
        return Err(RehearsalError::NotEmpty(held));
    }
    let log = |name: &str| work_dir.join(name);
    let mut hub =
        HubProcess::start(&options.hub_executable, &hub_db_url, free_address()?, log("hub-a.log"))?;
    let mut second_hub = if two_hubs {
        Some(HubProcess::start(
            &options.hub_executable,
            &hub_db_url,
            free_address()?,
            log("hub-b.log"),
        )?)
    } else {
        None
    };

    // The stations: the data centre first (it makes the event), then desks, kiosks, gates.
    let link_to = |upstream: SocketAddr| {
        Link::start(upstream).map_err(|e| RehearsalError::Io(format!("starting a link: {e}")))
    };
    let code = |name: &str, job: Job| runtime.block_on(db.add_station(name, job.role()));
    // The venue's day: Asia/Shanghai has kept +08:00 all year since 1991.
    let today = (chrono::Utc::now() + chrono::TimeDelta::hours(8)).date_naive();
    let mut data_centre = Station::data_centre(
        &work_dir.join("data-centre"),
        &venue::event_toml(today),
        link_to(hub.address)?,
        &code("data-centre", Job::DataCentre)?,
    )?;
    data_centre.start_sync(Duration::from_millis(500))?;
    let bundle = data_centre.bundle(true)?;
    let gate_bundle = data_centre.bundle(false)?;
    // The data centre's traffic goes through the hub's integration API where it has one.
    let hall = Arc::new(Hall::default());
    let api_link = link_to(hub.address)?;
    let bundle_file = work_dir.join("bundle.json");
    expo_kiosk::provisioning::write_bundle(&bundle, &bundle_file)?;
    let api = api::DataCentreApi::set_up(
        &options.hub_executable,
        &options.db,
        &api_link.url(),
        &bundle_file,
    )?;
    let gates = options.lanes.div_ceil(LANES_PER_GATE);
    let mut plan: Vec<(String, Job)> = Vec::new();
    plan.extend((1..=options.desks).map(|n| (format!("desk-{n:03}"), Job::Desk)));
    plan.extend((1..=options.kiosks).map(|n| (format!("kiosk-{n:03}"), Job::Kiosk)));
    plan.extend((1..=gates).map(|n| (format!("gate-{n:03}"), Job::Gate)));
    let mut stations = vec![data_centre];
    for (index, (name, job)) in plan.into_iter().enumerate() {
        // With two hubs, every other station is served by the second.
        let upstream = match &second_hub {
            Some(second) if index % 2 == 1 => second.address,
            _ => hub.address,
        };
        let dir = work_dir.join(&name);
        let bundle = if job == Job::Gate { &gate_bundle } else { &bundle };
        let station =
            Station::provision(&name, job, &dir, bundle, link_to(upstream)?, &code(&name, job)?)?;
        stations.push(station);
    }

    // Pre-registrations from the data centre, enough for every desk's check-ins.
    let per_desk = (options.duration.as_secs_f64() / Rates::default().check_in.as_secs_f64()).ceil()
        as usize
        + 2;
    {
        let mut store = Store::open(&stations[0].dir)?;
        let operator = Operator::admin("data-centre");
        let mut people = expo_kiosk::demo::Generator::new(options.seed);
        let mut queues: HashMap<String, VecDeque<String>> = HashMap::new();
        let desks: Vec<String> =
            stations.iter().filter(|s| s.job == Job::Desk).map(|s| s.name.clone()).collect();
        let mut batch = Vec::new();
        for n in 0..per_desk * desks.len() {
            let mut person = people.next_attendee();
            person.registration_code = format!("PR{n:08}");
            person.category = "visitor".into();
            person.id_type.clear();
            person.id_number.clear();
            let desk = desks[n % desks.len()].clone();
            queues.entry(desk).or_default().push_back(person.registration_code.clone());
            match &api {
                Some(_) => batch.push(person),
                None => {
                    registration::register(&mut store, &operator, &person, Source::PreRegistered)?;
                }
            }
        }
        if let Some(api) = &api {
            for chunk in batch.chunks(500) {
                api.register(chunk)
                    .map_err(|e| RehearsalError::Hub(format!("pre-registrations: {e}")))?;
            }
        }
        for (desk, codes) in queues {
            hall.queue(&desk, codes);
        }
    }
    // The stations are set up as a venue sets up its own (`expo-kiosk sync enrol`): each
    // takes the hub's current state, the pre-registrations with it, as one snapshot, and
    // pulls change by change only from there.
    if api.is_none() {
        sync_all(&stations[..1], SETTLE_LIMIT)?;
    }
    for station in stations.iter_mut().skip(1) {
        expo_kiosk::bootstrap::bootstrap_station(&station.dir, None, &mut |_| {})?;
        station.start_sync(options.sync_interval)?;
    }
    let expected = (per_desk * options.desks) as i64;
    let desk_dirs: Vec<PathBuf> =
        stations.iter().filter(|s| s.job == Job::Desk).map(|s| s.dir.clone()).collect();
    wait_until("the pre-registrations at every desk", WARM_UP_LIMIT, || {
        desk_dirs.iter().all(|dir| {
            rusqlite::Connection::open_with_flags(
                dir.join("station.db"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM attendees WHERE registration_code LIKE 'PR%'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .is_ok_and(|count| count >= expected)
        })
    })?;
    sync_all(&stations, SETTLE_LIMIT)?;
    let warm_up_s = started.elapsed().as_secs_f64();

    // The clock fault is on for the whole run: a kiosk (or else a desk) runs 10 min ahead.
    if options.faults {
        let skewed = stations
            .iter()
            .position(|s| s.job == Job::Kiosk)
            .or_else(|| stations.iter().position(|s| s.job == Job::Desk));
        if let Some(index) = skewed {
            stations[index].clock_ahead_ms = 10 * 60 * 1000;
        }
    }
    let data_centre_path = match &api {
        Some(api) if api.revokes => "api",
        Some(_) => "api registrations, revocations at the admin station",
        None => "admin station",
    };
    if let Some(api) = api {
        // Set once, before any station works: nothing else can have set it.
        let _ = hall.api.set(api);
    }
    let rates = Rates {
        revocation: Duration::from_secs(60).div_f64(options.revocations_per_minute.max(0.01)),
        ..Rates::default()
    };
    // The hub's figures count the work only, not the warm-up.
    let requests_sent =
        |stations: &[Station]| -> u64 { stations.iter().map(|s| s.link.requests()).sum() };
    let (requests_before, usage_before) = (requests_sent(&stations), hub.usage());
    let begun = Instant::now();
    for (index, station) in stations.iter_mut().enumerate() {
        station.start_work(&hall, &rates, options.seed.wrapping_add(index as u64 + 1))?;
    }
    let sampler = {
        let (handle, db) = (runtime.handle().clone(), Arc::clone(&db));
        catch_up::Sampler::start(
            stations.iter().map(|s| s.dir.clone()).collect(),
            Box::new(move || handle.block_on(db.high_water()).ok()),
        )?
    };
    let linked_to = |hub: SocketAddr| -> Vec<usize> {
        stations
            .iter()
            .enumerate()
            .filter(|(_, s)| s.link.upstream() == hub)
            .map(|(i, _)| i)
            .collect()
    };
    let everyone: Vec<usize> = (0..stations.len()).collect();

    // The faults, spread over the run, each scaled with its length.
    let mut windows: Vec<FaultWindow> = Vec::new();
    let mut restarts = 0;
    let at = |fraction: f64| begun + options.duration.mul_f64(fraction);
    let sleep_until =
        |when: Instant| std::thread::sleep(when.saturating_duration_since(Instant::now()));
    // Returns when the next fault may start: its scheduled time, but not before the goal's
    // 10 s after this one ended, so each fault's catch-up is its own.
    let mut record = |fault: &str, start: Instant, affected: Vec<usize>| -> Instant {
        sampler.fault_ended();
        let end = Instant::now();
        windows.push(FaultWindow::new(fault, begun, start, end, affected));
        end + CATCH_UP_GOAL
    };
    if options.faults {
        // 20 stations (at most a third of a small venue) lose the network for 2 minutes.
        sleep_until(at(0.15));
        let cut: Vec<usize> = {
            let count = 20.min(stations.len() / 3).max(1);
            (1..stations.len()).step_by((stations.len() / count).max(1)).take(count).collect()
        };
        let start = Instant::now();
        for &index in &cut {
            stations[index].link.set_cut(true);
        }
        std::thread::sleep(Duration::from_secs(120).mul_f64(scale).max(Duration::from_secs(5)));
        for &index in &cut {
            stations[index].link.set_cut(false);
        }
        let next = record("network cut", start, cut);

        // The hub is killed, and started again.
        sleep_until(at(0.4).max(next));
        let start = Instant::now();
        let served = linked_to(hub.address);
        hub.kill();
        std::thread::sleep(Duration::from_secs(1));
        hub.restart()?;
        restarts += 1;
        let next = record("hub killed", start, served);

        // The database is unavailable for a while.
        sleep_until(at(0.55).max(next));
        let outage = Duration::from_secs(30).mul_f64(scale).max(Duration::from_secs(3));
        let start = Instant::now();
        match (&*db, &db_link) {
            (_, Some(link)) => {
                link.set_cut(true);
                std::thread::sleep(outage);
                link.set_cut(false);
            }
            (HubDb::Sqlite { path, .. }, None) => hold_sqlite_lock(path, outage)?,
            (HubDb::Postgres { .. }, None) => {}
        }
        let next = record("database unavailable", start, everyone.clone());

        // With two hubs on one PostgreSQL, one dies for good; its stations fail over.
        if let Some(mut second) = second_hub.take() {
            sleep_until(at(0.7).max(next));
            let start = Instant::now();
            let dead = second.address;
            let served = linked_to(dead);
            second.kill();
            std::thread::sleep(Duration::from_secs(2));
            for station in &stations {
                station.link.switch_away(dead, hub.address);
            }
            record("second hub killed", start, served);
            drop(second);
        }
    }
    sleep_until(begun + options.duration);
    hall.stop.store(true, Ordering::SeqCst);
    wait_until("the end of every station's work", SETTLE_LIMIT, || {
        hall.working.load(Ordering::SeqCst) == 0
    })?;
    let work_ended = Instant::now();

    let last_round_ms = settle(&stations, &runtime, &db)?;
    let settled = Instant::now();
    let catch_up = sampler.finish()?;
    hall.probes_done.store(true, Ordering::SeqCst);
    for station in &mut stations {
        station.join_work();
    }
    let usage = hub.usage();
    for station in &mut stations {
        if let Some(worker) = station.worker.take() {
            worker.stop();
        }
    }

    // The books.
    let mut records = Vec::new();
    for kind in ["attendee", "badge", "gate_decision"] {
        records.extend(runtime.block_on(db.current(kind))?);
    }
    let hub_ids = runtime.block_on(db.change_ids())?;
    let mut books = Vec::new();
    let mut not_converged = Vec::new();
    let mut hub_states: HashMap<(StationRole, &str), BTreeSet<String>> = HashMap::new();
    for station in &stations {
        let role = station.job.role();
        let station_books = ledger::station_books(&station.dir, role, last_round_ms)?;
        // A gate's share depends on its name (its own decisions); other roles' on the role.
        let key = (role, if role == StationRole::Gate { station.name.as_str() } else { "" });
        let expected = hub_states
            .entry(key)
            .or_insert_with(|| ledger::hub_state(&records, role, &station.name));
        let expected = ledger::without(expected, &station_books.excluded);
        if ledger::digest(&expected) != ledger::digest(&station_books.state) {
            not_converged.push(StationDiff {
                station: station.name.clone(),
                role,
                missing: expected.difference(&station_books.state).count(),
                extra: station_books.state.difference(&expected).count(),
            });
        }
        books.push(station_books);
    }
    let tally = ledger::tally(&books, &hub_ids);
    let mut kept_aside_reasons: BTreeMap<String, u64> = BTreeMap::new();
    for (_, reason) in books.iter().flat_map(|b| &b.kept_aside) {
        let code = reason.split(['(', ')']).nth(1).unwrap_or(reason).to_owned();
        *kept_aside_reasons.entry(code).or_default() += 1;
    }
    let (across, same) = ledger::double_entries(&records, &["hall-1", "hall-2"]);
    let mut bytes_to_role: BTreeMap<String, u64> = BTreeMap::new();
    let mut bytes_from_role: BTreeMap<String, u64> = BTreeMap::new();
    let (down, up) = api_link.bytes();
    bytes_to_role.insert("api".into(), down);
    bytes_from_role.insert("api".into(), up);
    for station in &stations {
        let (down, up) = station.link.bytes();
        *bytes_to_role.entry(station.job.role().to_string()).or_default() += down;
        *bytes_from_role.entry(station.job.role().to_string()).or_default() += up;
    }
    // Each fault's catch-up, and the stations it cut off until each was back.
    let mut cut_off: HashMap<&str, Vec<(Instant, Instant)>> = HashMap::new();
    for (index, window) in windows.iter_mut().enumerate() {
        let figures = catch_up.outcome(index).unwrap_or_default();
        let back = |station: usize| figures.back_ms.get(station).copied().flatten();
        for &station in &window.affected_stations {
            let until = back(station).map_or(settled, |ms| window.end + Duration::from_millis(ms));
            cut_off.entry(stations[station].name.as_str()).or_default().push((window.start, until));
        }
        window.affected =
            window.affected_stations.iter().map(|&i| stations[i].name.clone()).collect();
        window.reconnected_ms = window
            .affected_stations
            .iter()
            .map(|&station| back(station))
            .try_fold(0, |latest, back| back.map(|ms| latest.max(ms)));
        window.pushed_ms = figures.pushed_ms;
        window.caught_up_ms = figures.caught_up_ms;
        window.last_station = figures.last_station.map(|i| stations[i].name.clone());
        if let (Some(cpu), Some(ms)) = (figures.cpu, figures.caught_up_ms) {
            window.catch_up_stations_cpu_s = Some(cpu.stations_s);
            window.catch_up_machine_busy_cores =
                Some(cpu.machine_busy_s / Duration::from_millis(ms.max(1)).as_secs_f64());
        }
    }
    let (registered, revoked) = hall.probes_sent();
    let registration = latency(
        &venue_samples(&hall.registration_samples),
        registered * options.desks,
        &windows,
        &cut_off,
    );
    let revocation =
        latency(&venue_samples(&hall.revocation_samples), revoked * gates, &windows, &cut_off);
    let converged_after_last_fault_ms =
        windows.iter().max_by_key(|w| w.end).and_then(|w| w.caught_up_ms);
    let usage = HubUsage {
        cpu_seconds: usage.cpu_seconds - usage_before.cpu_seconds,
        alive_seconds: usage.alive_seconds - usage_before.alive_seconds,
        ..usage
    };
    let requests = requests_sent(&stations) - requests_before;
    let hub_figures = hub_figures(usage, requests, restarts, settled.duration_since(begun));
    let stations_count = stations.len();
    Ok(Report {
        database: if two_hubs { "postgresql" } else { "sqlite" },
        data_centre: data_centre_path,
        desks: options.desks,
        kiosks: options.kiosks,
        gate_stations: gates,
        lanes: gates * LANES_PER_GATE,
        minutes: options.duration.as_secs_f64() / 60.0,
        faults: options.faults,
        seed: options.seed,
        lost: tally.lost,
        duplicated: tally.duplicated,
        converged: not_converged.is_empty(),
        stations: stations_count,
        stations_converged: stations_count - not_converged.len(),
        not_converged,
        propagation_p99_ms: registration.p99_ms.max(revocation.p99_ms),
        registration_to_desk_ms: registration,
        revocation_to_gate_ms: revocation,
        changes_made: tally.changes_made,
        changes_at_hub: tally.changes_at_hub - tally.hub_origin,
        hub_origin_changes: tally.hub_origin,
        kept_aside: tally.kept_aside,
        kept_aside_reasons,
        held_back: tally.held_back,
        double_entries_across_gates: across,
        double_entries_same_gate: same,
        scans: hall.scans.load(Ordering::Relaxed),
        desk_and_data_centre_actions: hall.actions.load(Ordering::Relaxed),
        badges_issued: hall.badges_issued(),
        activity_errors: hall
            .errors
            .lock()
            .map(|e| e.clone().into_iter().collect())
            .unwrap_or_default(),
        hub: hub_figures,
        bytes_to_role,
        bytes_from_role,
        fault_windows: windows,
        settle_ms: settled.duration_since(work_ended).as_millis() as u64,
        converged_after_last_fault_ms,
        warm_up_s,
    })
}

fn venue_samples(samples: &std::sync::Mutex<Vec<Sample>>) -> Vec<Sample> {
    samples.lock().map(|s| s.clone()).unwrap_or_default()
}

fn hub_figures(usage: HubUsage, requests: u64, restarts: u32, elapsed: Duration) -> HubFigures {
    HubFigures {
        cpu_seconds: usage.cpu_seconds,
        cores_used: if usage.alive_seconds > 0.0 {
            usage.cpu_seconds / usage.alive_seconds
        } else {
            0.0
        },
        peak_rss_mib: usage.peak_rss_kib as f64 / 1024.0,
        requests,
        requests_per_second: requests as f64 / elapsed.as_secs_f64().max(1.0),
        restarts,
    }
}

/// Holds SQLite's write lock on the hub's database for `outage`: every push waits, or
/// fails once the hub's busy timeout runs out.
fn hold_sqlite_lock(path: &std::path::Path, outage: Duration) -> Result<(), RehearsalError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch("BEGIN EXCLUSIVE")?;
    std::thread::sleep(outage);
    conn.execute_batch("ROLLBACK")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_hub_reaches_postgresql_through_the_link_with_the_rest_of_the_url_kept() {
        let url =
            PostgresUrl::parse("postgres://postgres@127.0.0.1:55432/expo?sslmode=disable").unwrap();
        assert_eq!(url.server, "127.0.0.1:55432".parse().unwrap());
        let link: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(url.at(link), "postgres://postgres@127.0.0.1:4000/expo?sslmode=disable");
        let default_port = PostgresUrl::parse("postgresql://u:pw@127.0.0.1/db").unwrap();
        assert_eq!(default_port.server.port(), 5432);
        assert_eq!(default_port.at(link), "postgresql://u:pw@127.0.0.1:4000/db");
    }

    #[test]
    fn the_runs_directory_is_made_under_dir_made_if_missing_and_removed_after() {
        let parent = tempfile::tempdir().unwrap();
        let made = work_dir(Some(parent.path())).unwrap();
        assert_eq!(made.path().parent(), Some(parent.path()));
        let path = made.path().to_owned();
        drop(made);
        assert!(!path.exists());
        // A `--dir` not there yet is made, as `mkdir -p` would.
        let missing = parent.path().join("shm").join("full");
        let made = work_dir(Some(&missing)).unwrap();
        assert_eq!(made.path().parent(), Some(missing.as_path()));
        // One that cannot be made is an error.
        let file = parent.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        assert!(matches!(work_dir(Some(&file.join("below"))), Err(RehearsalError::Io(_))));
    }

    #[test]
    fn a_hubs_port_is_outside_the_ephemeral_range_so_no_connection_takes_it_while_it_is_down() {
        let (first, last) = ephemeral_ports();
        assert!(first <= last);
        let port = free_address().unwrap().port();
        assert!(!(first..=last).contains(&port), "{port} in {first}-{last}");
    }

    #[test]
    fn a_failed_run_keeps_its_directory_for_the_logs_its_error_names() {
        let parent = tempfile::tempdir().unwrap();
        let options = RehearsalOptions {
            hub_executable: PathBuf::from("expo-hub"),
            db: "mysql://nowhere/venue".into(),
            desks: 1,
            lanes: 4,
            kiosks: 0,
            duration: Duration::from_secs(60),
            faults: false,
            seed: 1,
            sync_interval: Duration::from_secs(1),
            revocations_per_minute: 1.0,
            dir: Some(parent.path().to_owned()),
        };
        assert!(run(&options).is_err());
        let kept: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
        assert_eq!(kept.len(), 1, "the run's directory is still there");
    }

    #[test]
    fn latency_leaves_out_what_travelled_during_a_fault_and_counts_what_never_came() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let samples: Vec<Sample> = [(0, 100), (0, 300), (1000, 1500), (0, 2000)]
            .map(|(sent, seen)| Sample { sent: at(sent), seen: at(seen), station: "desk-1".into() })
            .into();
        let window = fault_window(at(1200), at(1300));
        let figures = latency(&samples, 6, &[window], &HashMap::new());
        assert_eq!((figures.samples, figures.during_faults, figures.never_seen), (2, 2, 2));
        assert_eq!((figures.p50_ms, figures.p99_ms, figures.max_ms), (100, 300, 300));
    }

    fn fault_window(start: Instant, end: Instant) -> FaultWindow {
        FaultWindow::new("network cut", start, start, end, Vec::new())
    }

    #[test]
    fn latency_leaves_out_what_a_cut_off_station_saw_until_it_was_back_and_no_more() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // The fault was on from 1000 to 2000 ms; desk-2 was cut off and back at 3000 ms.
        let samples: Vec<Sample> = [
            ("desk-1", 2100, 2200),
            ("desk-2", 2100, 2900),
            ("desk-2", 500, 900),
            ("desk-2", 3100, 3300),
            ("desk-1", 1500, 1600),
        ]
        .map(|(station, sent, seen)| Sample {
            sent: at(sent),
            seen: at(seen),
            station: station.into(),
        })
        .into();
        let cut_off = HashMap::from([("desk-2", vec![(at(1000), at(3000))])]);
        let figures = latency(&samples, 5, &[fault_window(at(1000), at(2000))], &cut_off);
        assert_eq!((figures.samples, figures.during_faults), (3, 2));
        assert_eq!((figures.p50_ms, figures.max_ms), (200, 400));
    }
}
