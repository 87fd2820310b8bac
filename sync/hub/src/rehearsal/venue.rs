//! The stations of the rehearsal: real station code (`expo-kiosk`'s store, registration,
//! badges, decision engine, gate log and sync worker), each station in its own directory
//! with its own SQLite store, sync worker and network link, doing a venue's work at a
//! venue's rates.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use expo_kiosk::access::{self, GateContext, Reason};
use expo_kiosk::credential;
use expo_kiosk::domain::{AttendeeId, NewAttendee, Source};
use expo_kiosk::gate::{decision_record, record_decisions, GateConfig, LaneConfig, StoreKnowledge};
use expo_kiosk::operators::Operator;
use expo_kiosk::provisioning::{self, Bundle};
use expo_kiosk::registration::{self, badge};
use expo_kiosk::station_sync::{self, EventWatch};
use expo_kiosk::store::Store;
use expo_sync::heartbeat::StationMode;
use expo_sync::station::{SyncWorker, WorkerOptions};
use expo_sync::StationRole;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::api::DataCentreApi;
use super::link::Link;
use super::RehearsalError;

/// Lanes per gate station: in and out of hall 1, into hall 2 and into the VIP lounge.
pub const LANES_PER_GATE: usize = 4;
const LANE_ZONES: [(&str, &str); LANES_PER_GATE] =
    [("hall-1", "in"), ("hall-1", "out"), ("hall-2", "in"), ("vip-lounge", "in")];
/// How often a station looks for what its probes wait for (a registration that arrived,
/// a revoked badge now refused): the resolution of the propagation figures.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// The rates of issue 17, as the time between two actions of one station.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    pub check_in: Duration,
    pub walk_in: Duration,
    pub kiosk: Duration,
    pub scan: Duration,
    pub registration: Duration,
    pub revocation: Duration,
    /// Chance that a check-in is followed by a reprint (a badge lost or misprinted).
    pub reprint_chance: f64,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            check_in: Duration::from_secs(3),
            walk_in: Duration::from_secs(20),
            kiosk: Duration::from_secs(30),
            scan: Duration::from_millis(2500),
            registration: Duration::from_millis(100),
            revocation: Duration::from_secs(60),
            reprint_chance: 0.03,
        }
    }
}

/// An event any badge of the rehearsal can enter at any hour, open from yesterday to
/// three days ahead in the venue's time zone.
pub fn event_toml(today: chrono::NaiveDate) -> String {
    let start = today - chrono::Days::new(1);
    let end = today + chrono::Days::new(3);
    let zones = [
        ("hall-1", "1号馆", "Hall 1", "hard"),
        ("hall-2", "2号馆", "Hall 2", "hard"),
        ("vip-lounge", "贵宾室", "VIP Lounge", "soft"),
    ]
    .map(|(id, zh, en, passback)| {
        format!(
            "[[zones]]\nid = \"{id}\"\nname = \"{zh}\"\nname_en = \"{en}\"\npassback = \"{passback}\"\n\n"
        )
    })
    .concat();
    let categories = [
        ("visitor", "观众", "Visitor", "#8250df", r#""hall-1", "hall-2""#),
        ("exhibitor", "参展商", "Exhibitor", "#1f6feb", r#""hall-1", "hall-2""#),
        ("vip", "贵宾", "VIP", "#cf222e", r#""*""#),
    ]
    .map(|(id, zh, en, colour, zones)| {
        format!(
            "[[categories]]\nid = \"{id}\"\nlabel_zh = \"{zh}\"\nlabel_en = \"{en}\"\n\
             colour = \"{colour}\"\n[[categories.access]]\nzones = [{zones}]\n\
             from = \"00:00\"\nto = \"23:59\"\n\n"
        )
    })
    .concat();
    format!(
        r##"[event]
id = "rehearsal"
name = "全场彩排"
name_en = "Whole-venue rehearsal"
venue = "Loopback"
timezone = "Asia/Shanghai"
start = {start}
end = {end}
badge_template = "lanyard-90x130"
reprint_revokes_previous = true
kiosk_walk_in_category = "visitor"

{zones}{categories}"##
    )
}

/// One issued badge the gates may see.
#[derive(Clone)]
pub struct Issued {
    pub attendee: Uuid,
    pub token: String,
    pub issued: Instant,
}

/// When something was sent and when a station first saw its effect.
#[derive(Clone, Debug)]
pub struct Sample {
    pub sent: Instant,
    pub seen: Instant,
    /// The station that saw it.
    pub station: Arc<str>,
}

/// A revocation on its way to the gates.
struct Revocation {
    token: String,
    sent: Instant,
    gates_seen: Vec<String>,
}

/// What the stations share: badges out in the hall, probes in flight, figures.
#[derive(Default)]
pub struct Hall {
    /// Set when the work ends; the probes go on until `probes_done`.
    pub stop: AtomicBool,
    pub probes_done: AtomicBool,
    /// Stations still in their work loop.
    pub working: AtomicU64,
    badges: Mutex<Vec<Issued>>,
    revoked_tokens: Mutex<Vec<String>>,
    /// Recent grants into a zone: (token, zone, gate station), for passback across gates.
    recent_entries: Mutex<VecDeque<(String, String, String)>>,
    registrations_sent: Mutex<HashMap<Uuid, Instant>>,
    revocations: Mutex<Vec<Revocation>>,
    pub registration_samples: Mutex<Vec<Sample>>,
    pub revocation_samples: Mutex<Vec<Sample>>,
    /// Pre-registration codes not yet checked in, per desk.
    queues: Mutex<HashMap<String, VecDeque<String>>>,
    pub actions: AtomicU64,
    pub scans: AtomicU64,
    pub errors: Mutex<HashMap<String, u64>>,
    /// The hub's integration API, when it has one: the data centre's way in.
    pub api: std::sync::OnceLock<DataCentreApi>,
}

impl Hall {
    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, what: &str, error: &dyn std::fmt::Display) {
        tracing::debug!(what, %error, "rehearsal action failed");
        *Self::lock(&self.errors).entry(format!("{what}: {}", first_words(error))).or_default() +=
            1;
    }

    /// A badge handed out; a reprint's predecessor is refused from now on (the event's
    /// `reprint_revokes_previous`), so it joins the revoked ones.
    fn issue(&self, badge: &badge::IssuedBadge) {
        let mut badges = Self::lock(&self.badges);
        let replaced: Vec<String> = badges
            .iter()
            .filter(|b| b.attendee == badge.attendee.0)
            .map(|b| b.token.clone())
            .collect();
        badges.retain(|b| b.attendee != badge.attendee.0);
        badges.push(Issued {
            attendee: badge.attendee.0,
            token: badge.token.clone(),
            issued: Instant::now(),
        });
        drop(badges);
        Self::lock(&self.revoked_tokens).extend(replaced);
    }

    /// Registrations the data centre made during the work, and badges it revoked.
    pub fn probes_sent(&self) -> (usize, usize) {
        (Self::lock(&self.registrations_sent).len(), Self::lock(&self.revocations).len())
    }

    pub fn badges_issued(&self) -> usize {
        Self::lock(&self.badges).len()
    }

    pub fn queue(&self, desk: &str, codes: VecDeque<String>) {
        Self::lock(&self.queues).insert(desk.to_owned(), codes);
    }
}

/// The serial a badge token carries.
fn token_serial(token: &str) -> Option<u32> {
    credential::parse(token).ok().map(|parsed| u32::from(parsed.claims.serial))
}

/// The first words of an error, so errors of one kind count together.
fn first_words(error: &dyn std::fmt::Display) -> String {
    error.to_string().split(':').next().unwrap_or_default().chars().take(80).collect()
}

/// What one station does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    DataCentre,
    Desk,
    Kiosk,
    Gate,
}

impl Job {
    pub fn role(self) -> StationRole {
        match self {
            Job::DataCentre => StationRole::Admin,
            Job::Desk => StationRole::Desk,
            Job::Kiosk => StationRole::Kiosk,
            Job::Gate => StationRole::Gate,
        }
    }
}

pub struct Station {
    pub name: String,
    pub job: Job,
    pub dir: PathBuf,
    pub link: Link,
    pub worker: Option<SyncWorker>,
    activity: Option<JoinHandle<()>>,
    /// Runs this station's clock ahead (the clock fault), in ms.
    pub clock_ahead_ms: u64,
}

impl Station {
    /// A station in `dir` with the event from `bundle` (desks and kiosks sign badges; gates
    /// verify only), enrolled with `code` through its own link.
    pub fn provision(
        name: &str,
        job: Job,
        dir: &Path,
        bundle: &Bundle,
        link: Link,
        code: &str,
    ) -> Result<Self, RehearsalError> {
        let mut store = Store::open(dir)?;
        provisioning::import(&mut store, &Operator::admin(name), bundle, job != Job::Gate)?;
        Self::enrolled(name, job, store, link, code)
    }

    /// The data centre: the station that made the event (the organiser's own).
    pub fn data_centre(
        dir: &Path,
        event: &str,
        link: Link,
        code: &str,
    ) -> Result<Self, RehearsalError> {
        let mut store = Store::open(dir)?;
        provisioning::init(
            &mut store,
            &expo_kiosk::operators::Operator::admin("data-centre"),
            event,
        )?;
        Self::enrolled("data-centre", Job::DataCentre, store, link, code)
    }

    fn enrolled(
        name: &str,
        job: Job,
        mut store: Store,
        link: Link,
        code: &str,
    ) -> Result<Self, RehearsalError> {
        station_sync::enrol(&mut store, &link.url(), code, None)?;
        Ok(Self {
            name: name.to_owned(),
            job,
            dir: store.data_dir().to_owned(),
            link,
            worker: None,
            activity: None,
            clock_ahead_ms: 0,
        })
    }

    pub fn start_sync(&mut self, interval: Duration) -> Result<(), RehearsalError> {
        // The station's own backoff: how fast it finds the hub back is what is measured.
        let options = WorkerOptions { interval, ..WorkerOptions::default() };
        // Gates run headless, as at a turnstile; the rehearsal's stations show no devices.
        let mode = if self.job == Job::Gate { StationMode::HeadlessGate } else { StationMode::App };
        let devices = expo_kiosk::heartbeat::DeviceBoard::default();
        self.worker = station_sync::start_background_sync(&self.dir, options, mode, devices)?;
        Ok(())
    }

    /// The bundle this station hands a new station: desks and kiosks get the data key,
    /// gates do not (`event import --verify-only`).
    pub fn bundle(&self, with_data_key: bool) -> Result<Bundle, RehearsalError> {
        Ok(provisioning::export(&Store::open(&self.dir)?, with_data_key)?)
    }

    /// Starts this station's work on a thread of its own, with its own store connection.
    pub fn start_work(
        &mut self,
        hall: &Arc<Hall>,
        rates: &Rates,
        seed: u64,
    ) -> Result<(), RehearsalError> {
        let mut store = Store::open(&self.dir)?;
        store.set_clock_offset(self.clock_ahead_ms);
        let work = Work {
            name: self.name.as_str().into(),
            hall: Arc::clone(hall),
            rng: StdRng::seed_from_u64(seed),
            people: expo_kiosk::demo::Generator::new(seed),
            event_watch: EventWatch::new(&store),
            store,
            made: 0,
        };
        let job = self.job;
        let rates = *rates;
        hall.working.fetch_add(1, Ordering::SeqCst);
        let lanes = if job == Job::Gate { gate_lanes(&work.store)? } else { Vec::new() };
        let thread = std::thread::Builder::new()
            .name(format!("rehearsal-{}", self.name))
            .spawn(move || match job {
                Job::DataCentre => work.data_centre(&rates),
                Job::Desk => work.desk(&rates),
                Job::Kiosk => work.kiosk(&rates),
                Job::Gate => work.gate(&rates, &lanes),
            })
            .map_err(|e| RehearsalError::Io(format!("starting a station thread: {e}")))?;
        self.activity = Some(thread);
        Ok(())
    }

    /// Waits for the station's work to end (after [`Hall::stop`]).
    pub fn join_work(&mut self) {
        if let Some(thread) = self.activity.take() {
            if thread.join().is_err() {
                tracing::error!(station = self.name, "a rehearsal station thread panicked");
            }
        }
    }
}

/// The lanes of one gate station, as its GATE.toml would give them (the relay board is
/// never opened: the rehearsal drives the decision engine and the gate log, not relays).
fn gate_lanes(store: &Store) -> Result<Vec<LaneConfig>, RehearsalError> {
    let mut config = String::from(
        "[[relays]]\nid = \"board\"\npath = \"/dev/null\"\nprotocol = \"lcus\"\nchannels = 4\n",
    );
    for (index, (zone, direction)) in LANE_ZONES.iter().enumerate() {
        config.push_str(&format!(
            "[[lanes]]\nid = \"lane-{n}\"\nzone = \"{zone}\"\ndirection = \"{direction}\"\n\
             relay = \"board\"\nchannel = {n}\nscanner = {{ kind = \"serial\", path = \"rehearsal-{n}\" }}\n",
            n = index + 1
        ));
    }
    let event = &store.event()?.definition;
    let config = GateConfig::from_toml(&config, event)
        .map_err(|e| RehearsalError::Io(format!("the rehearsal's gate config: {e}")))?;
    Ok(config.lanes)
}

/// One station's work loop and what it needs.
struct Work {
    name: Arc<str>,
    hall: Arc<Hall>,
    rng: StdRng,
    people: expo_kiosk::demo::Generator,
    store: Store,
    event_watch: EventWatch,
    made: u64,
}

/// When an action is next due: `every` apart, the first at a random point of the first
/// interval so a hall of stations does not act in step.
struct Every {
    every: Duration,
    next: Instant,
}

impl Every {
    fn new(every: Duration, rng: &mut StdRng) -> Self {
        let offset = every.mul_f64(rng.gen_range(0.0..1.0));
        Self { every, next: Instant::now() + offset }
    }

    fn due(&mut self) -> bool {
        if Instant::now() < self.next {
            return false;
        }
        self.next += self.every;
        true
    }
}

impl Work {
    fn stopped(&self) -> bool {
        self.hall.stop.load(Ordering::SeqCst)
    }

    /// The work is over: this station writes nothing more.
    fn done_working(&self) {
        self.hall.working.fetch_sub(1, Ordering::SeqCst);
    }

    fn probing(&self) -> bool {
        !self.hall.probes_done.load(Ordering::SeqCst)
    }

    fn visitor(&mut self, category: &str) -> NewAttendee {
        let mut person = self.people.next_attendee();
        person.category = category.to_owned();
        // No ID numbers: the generator's are unique per generator only, and two stations
        // registering one number would be a duplicate walk-in, which is not what this
        // measures.
        person.id_type.clear();
        person.id_number.clear();
        person.registration_code.clear();
        person
    }

    /// The data centre: registrations at 10 a second (the API's traffic, registered at
    /// the organiser's station until the hub takes them itself) and a badge revoked a
    /// minute (a lost badge reported by phone).
    fn data_centre(mut self, rates: &Rates) {
        let operator = Operator::admin("data-centre");
        let mut registering = Every::new(rates.registration, &mut self.rng);
        let mut revoking = Every::new(rates.revocation, &mut self.rng);
        while !self.stopped() {
            if registering.due() {
                self.made += 1;
                let mut person = self.visitor("visitor");
                person.registration_code = format!("DC{:08}", self.made);
                let sent = Instant::now();
                let registered = match self.hall.api.get() {
                    Some(api) => api.register(std::slice::from_ref(&person)).and_then(|ids| {
                        ids.first().copied().ok_or_else(|| "registration unanswered".to_owned())
                    }),
                    None => registration::register(
                        &mut self.store,
                        &operator,
                        &person,
                        Source::PreRegistered,
                    )
                    .map(|record| record.id)
                    .map_err(|e| e.to_string()),
                };
                match registered {
                    Ok(id) => {
                        Hall::lock(&self.hall.registrations_sent).insert(id, sent);
                        self.hall.actions.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => self.hall.error("data centre registration", &error),
                }
            }
            if revoking.due() && !self.revoke_one(&operator) {
                // No badge old enough yet: try again shortly.
                revoking.next = Instant::now() + Duration::from_secs(1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.done_working();
    }

    /// Revokes a badge issued long enough ago that this station has pulled it; false when
    /// there is none yet.
    fn revoke_one(&mut self, operator: &Operator) -> bool {
        let candidates: Vec<Issued> = Hall::lock(&self.hall.badges)
            .iter()
            .filter(|b| b.issued.elapsed() > Duration::from_secs(15))
            .cloned()
            .collect();
        for _ in 0..candidates.len().min(10) {
            let pick = &candidates[self.rng.gen_range(0..candidates.len())];
            let sent = Instant::now();
            let revoked = match self.hall.api.get() {
                Some(api) if api.revokes => api.revoke(pick.attendee),
                _ => badge::revoke(&mut self.store, operator, AttendeeId(pick.attendee), "lost")
                    .map(u32::from)
                    .map_err(|e| e.to_string()),
            };
            match revoked {
                // The revoker knew an older serial than this badge's (its reprint had not
                // reached it yet): that serial is revoked and this badge rightly stays valid,
                // so there is nothing for the gates to refuse.
                Ok(serial) if Some(serial) != token_serial(&pick.token) => {
                    self.hall.actions.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Ok(_) => {
                    Hall::lock(&self.hall.revoked_tokens).push(pick.token.clone());
                    Hall::lock(&self.hall.revocations).push(Revocation {
                        token: pick.token.clone(),
                        sent,
                        gates_seen: Vec::new(),
                    });
                    self.hall.actions.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(error) => self.hall.error("data centre revocation", &error),
            }
        }
        false
    }

    /// A desk: a pre-registered visitor checked in (badge printed) every 3 s, a walk-in
    /// every 20 s, now and then a reprint; and the probe for registrations arriving.
    fn desk(mut self, rates: &Rates) {
        let operator = Operator::admin(&format!("operator@{}", self.name));
        let mut checking_in = Every::new(rates.check_in, &mut self.rng);
        let mut walk_ins = Every::new(rates.walk_in, &mut self.rng);
        let mut seen_up_to = self.newest_attendee_key();
        while !self.stopped() {
            seen_up_to = self.probe_registrations(seen_up_to);
            if checking_in.due() {
                self.check_in(&operator, rates.reprint_chance);
            }
            if walk_ins.due() {
                let category = if self.rng.gen_bool(0.1) { "vip" } else { "exhibitor" };
                let person = self.visitor(category);
                self.register_and_print(&operator, &person, Source::WalkIn, "walk-in");
            }
            std::thread::sleep(PROBE_EVERY);
        }
        self.done_working();
        // Registrations still on their way arrive while the venue settles.
        loop {
            let last = !self.probing();
            seen_up_to = self.probe_registrations(seen_up_to);
            if last {
                break;
            }
            std::thread::sleep(PROBE_EVERY);
        }
    }

    fn check_in(&mut self, operator: &Operator, reprint_chance: f64) {
        let code = Hall::lock(&self.hall.queues).get_mut(&*self.name).and_then(VecDeque::pop_front);
        let Some(code) = code else { return };
        let attendee = match registration::resolve(self.store.conn(), &code) {
            Ok(record) => AttendeeId(record.id),
            Err(error) => return self.hall.error("check-in lookup", &error),
        };
        match badge::ensure_badge(&mut self.store, operator, attendee) {
            Ok(issued) => {
                self.hall.issue(&issued);
                self.hall.actions.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => return self.hall.error("check-in badge", &error),
        }
        if self.rng.gen_bool(reprint_chance) {
            match badge::reprint(&mut self.store, operator, attendee, "misprinted") {
                Ok(issued) => {
                    self.hall.issue(&issued);
                    self.hall.actions.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => self.hall.error("reprint", &error),
            }
        }
    }

    fn register_and_print(
        &mut self,
        operator: &Operator,
        person: &NewAttendee,
        source: Source,
        what: &str,
    ) {
        let record = match registration::register(&mut self.store, operator, person, source) {
            Ok(record) => record,
            Err(error) => return self.hall.error(what, &error),
        };
        match badge::ensure_badge(&mut self.store, operator, AttendeeId(record.id)) {
            Ok(issued) => {
                self.hall.issue(&issued);
                self.hall.actions.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.hall.error(what, &error),
        }
    }

    fn newest_attendee_key(&self) -> i64 {
        self.store
            .conn()
            .query_row("SELECT coalesce(max(local_key), 0) FROM attendees", [], |r| r.get(0))
            .unwrap_or(0)
    }

    /// Records when registrations from the data centre became searchable here: rows this
    /// desk stored since `after` (attendees and their search terms are one transaction).
    fn probe_registrations(&self, after: i64) -> i64 {
        let rows: Vec<(i64, String)> = self
            .store
            .conn()
            .prepare_cached("SELECT local_key, id FROM attendees WHERE local_key > ?1")
            .and_then(|mut stmt| stmt.query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .unwrap_or_default();
        let Some(newest) = rows.iter().map(|(key, _)| *key).max() else { return after };
        let seen = Instant::now();
        let sent = Hall::lock(&self.hall.registrations_sent);
        let samples: Vec<Sample> = rows
            .iter()
            .filter_map(|(_, id)| Uuid::parse_str(id).ok())
            .filter_map(|id| {
                sent.get(&id).map(|&sent| Sample { sent, seen, station: Arc::clone(&self.name) })
            })
            .collect();
        drop(sent);
        Hall::lock(&self.hall.registration_samples).extend(samples);
        newest
    }

    /// A self-service kiosk: a visitor registers and prints their own badge every 30 s.
    fn kiosk(mut self, rates: &Rates) {
        let operator = Operator::kiosk(&self.name);
        let mut serving = Every::new(rates.kiosk, &mut self.rng);
        while !self.stopped() {
            if serving.due() {
                let person = self.visitor("visitor");
                self.register_and_print(&operator, &person, Source::SelfService, "kiosk");
            }
            std::thread::sleep(PROBE_EVERY);
        }
        self.done_working();
    }

    /// A gate station: each lane scans a badge every 2.5 s, with the refusals a venue
    /// sees (re-entry, wrong zone, revoked, forged, a badge passed back across gates); and
    /// the probe for revocations arriving.
    fn gate(mut self, rates: &Rates, lanes: &[LaneConfig]) {
        let gate = self.name.clone();
        let forger = ed25519_dalek::SigningKey::from_bytes(&self.rng.gen());
        let mut scanning: Vec<Every> =
            lanes.iter().map(|_| Every::new(rates.scan, &mut self.rng)).collect();
        let mut last_granted: Vec<Option<String>> = vec![None; lanes.len()];
        while !self.stopped() {
            self.probe_revocations(&gate);
            for (index, lane) in lanes.iter().enumerate() {
                if !scanning[index].due() {
                    continue;
                }
                let Some(token) = self.pick_token(lane, last_granted[index].as_deref(), &forger)
                else {
                    continue;
                };
                if let Some(granted) = self.scan(&gate, lane, &token) {
                    if granted {
                        last_granted[index] = Some(token.clone());
                        if lane.direction.as_str() == "in" {
                            let mut recent = Hall::lock(&self.hall.recent_entries);
                            recent.push_back((token, lane.zone.clone(), gate.to_string()));
                            if recent.len() > 256 {
                                recent.pop_front();
                            }
                        }
                    }
                }
            }
            std::thread::sleep(PROBE_EVERY);
        }
        self.done_working();
        // Revocations still on their way arrive while the venue settles.
        loop {
            let last = !self.probing();
            self.probe_revocations(&gate);
            if last {
                break;
            }
            std::thread::sleep(PROBE_EVERY);
        }
    }

    /// The badge held up at `lane`: mostly a genuine one, sometimes one of the refusals.
    fn pick_token(
        &mut self,
        lane: &LaneConfig,
        last_granted: Option<&str>,
        forger: &ed25519_dalek::SigningKey,
    ) -> Option<String> {
        let roll: f64 = self.rng.gen();
        let random_badge = |rng: &mut StdRng| -> Option<String> {
            let badges = Hall::lock(&self.hall.badges);
            (!badges.is_empty()).then(|| badges[rng.gen_range(0..badges.len())].token.clone())
        };
        if roll < 0.08 {
            // Re-entry: the badge this lane just let through, once more.
            return last_granted.map(str::to_owned).or_else(|| random_badge(&mut self.rng));
        }
        if roll < 0.14 {
            let revoked = Hall::lock(&self.hall.revoked_tokens);
            if !revoked.is_empty() {
                return Some(revoked[self.rng.gen_range(0..revoked.len())].clone());
            }
        }
        if roll < 0.19 {
            // Forged: a genuine badge's claims under a key nobody endorsed.
            let genuine = random_badge(&mut self.rng)?;
            let claims = credential::parse(&genuine).ok()?.claims;
            return Some(credential::sign(&claims, forger));
        }
        if roll < 0.25 && lane.direction.as_str() == "in" {
            // Passed back: a badge that just entered this zone through another gate.
            let recent = Hall::lock(&self.hall.recent_entries);
            let passed_back = recent
                .iter()
                .rev()
                .find(|(_, zone, gate)| *zone == lane.zone && **gate != *self.name)
                .map(|(token, _, _)| token.clone());
            if passed_back.is_some() {
                return passed_back;
            }
        }
        random_badge(&mut self.rng)
    }

    /// Decides and logs one scan as the gate loop does; `Some(granted)` once logged.
    fn scan(&mut self, gate: &str, lane: &LaneConfig, token: &str) -> Option<bool> {
        let now = Utc::now();
        let decision = {
            let knowledge = match StoreKnowledge::new(&self.store) {
                Ok(knowledge) => knowledge,
                Err(error) => {
                    self.hall.error("gate knowledge", &error);
                    return None;
                }
            };
            let event = &self.store.event().ok()?.definition;
            let local = now.with_timezone(&event.timezone()).naive_local();
            let context = GateContext { zone: &lane.zone, direction: lane.direction };
            access::decide(token, context, local, event, &knowledge)
        };
        let record = decision_record(gate, lane, &decision, now);
        match record_decisions(&mut self.store, &[record]) {
            Ok(()) => {
                self.hall.scans.fetch_add(1, Ordering::Relaxed);
                Some(decision.granted())
            }
            Err(error) => {
                self.hall.error("gate log", &error);
                None
            }
        }
    }

    /// Asks the decision engine about every revocation this gate has not refused yet, and
    /// records when it first would.
    fn probe_revocations(&mut self, gate: &str) {
        // Sync writes keys through its own connection: the gate loop's watch, as a gate runs.
        if self.event_watch.changed(&self.store) {
            if let Err(error) = self.store.reload_event() {
                return self.hall.error("gate event reload", &error);
            }
        }
        let pending: Vec<(usize, String)> = Hall::lock(&self.hall.revocations)
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.gates_seen.iter().any(|g| g == gate))
            .map(|(index, r)| (index, r.token.clone()))
            .collect();
        if pending.is_empty() {
            return;
        }
        let Ok(knowledge) = StoreKnowledge::new(&self.store) else { return };
        let Ok(event) = self.store.event() else { return };
        let event = &event.definition;
        let local = Utc::now().with_timezone(&event.timezone()).naive_local();
        let context = GateContext { zone: "hall-2", direction: access::Direction::Out };
        let refused: Vec<usize> = pending
            .into_iter()
            .filter(|(_, token)| {
                access::decide(token, context, local, event, &knowledge).reason == Reason::Revoked
            })
            .map(|(index, _)| index)
            .collect();
        let seen = Instant::now();
        let mut revocations = Hall::lock(&self.hall.revocations);
        let mut samples = Vec::new();
        for index in refused {
            if let Some(revocation) = revocations.get_mut(index) {
                revocation.gates_seen.push(gate.to_owned());
                samples.push(Sample {
                    sent: revocation.sent,
                    seen,
                    station: Arc::clone(&self.name),
                });
            }
        }
        drop(revocations);
        Hall::lock(&self.hall.revocation_samples).extend(samples);
    }
}
