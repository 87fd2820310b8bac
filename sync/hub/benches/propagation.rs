//! How long a change takes to reach another station: a real hub over loopback HTTP
//! (SQLite), real station stores and their background sync workers, as a venue runs them.
//!
//! ```text
//! cargo bench -p expo-hub --bench propagation
//! EXPO_BENCH_SAMPLES=200 EXPO_BENCH_TICK_SAMPLES=20 cargo bench -p expo-hub --bench propagation
//! ```
//!
//! (`EXPO_BENCH_TICK_SAMPLES=0` leaves the slow "before" out.)
//!
//! Measures, first with the workers as they were before held pulls (a round every 5 s
//! tick, nothing else), then as every station now runs them (push at once, held pull):
//! (a) a registration made at desk A until desk B's search finds it;
//! (b) a badge revoked at desk A until the gate's decision engine refuses it.
//!
//! Each sample starts when the desk's write is called, 300 ms after the previous sample,
//! and ends when the other station's own database connection sees the result (looked at
//! every millisecond).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use expo_hub::enrolment::add_station;
use expo_hub::server::{serve, HubConfig};
use expo_hub::sqlite::SqliteStore;
use expo_kiosk::access::{self, Direction, GateContext, Reason};
use expo_kiosk::domain::{AttendeeId, NewAttendee, Source};
use expo_kiosk::gate::StoreKnowledge;
use expo_kiosk::heartbeat::DeviceBoard;
use expo_kiosk::operators::Operator;
use expo_kiosk::registration::{self, badge, search::search};
use expo_kiosk::station_sync::{start_background_sync, HubCredential, StoreOutbox};
use expo_kiosk::store::Store;
use expo_kiosk::{demo::demo_event_toml, provisioning};
use expo_sync::client::{enrol, HubTrust};
use expo_sync::heartbeat::StationMode;
use expo_sync::station::{SyncWorker, WorkerOptions};
use expo_sync::StationRole;

/// The workers as stations ran them before: the tick alone.
const TICK_ONLY: &str = "tick only (5 s rounds)";
/// As stations run them now.
const AT_ONCE: &str = "push at once + held pull";
/// The pause before each sample, a little longer than the workers' `gather`: a change made
/// at a station that synced a moment ago waits out the rest of it (a stream goes in
/// batches), which is not what a sample measures.
fn between_samples() -> Duration {
    WorkerOptions::default().gather + Duration::from_millis(50)
}

fn main() {
    let samples = env_count("EXPO_BENCH_SAMPLES", 200);
    let tick_samples = env_count("EXPO_BENCH_TICK_SAMPLES", 20);
    println!("load before: {}", uptime());
    for (mode, samples) in [(TICK_ONLY, tick_samples), (AT_ONCE, samples)] {
        if samples == 0 {
            continue;
        }
        let venue = Venue::open(mode);
        let registrations = venue.registration_to_search(samples);
        report(mode, "registration at desk A -> found at desk B", registrations);
        let revocations = venue.revocation_to_denial(samples);
        report(mode, "revocation at desk A -> refused at the gate", revocations);
    }
    println!("load after: {}", uptime());
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "unknown".into(), |l| l.trim().into())
}

fn report(mode: &str, what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{mode:<26} {what:<46} n={:<4} p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms",
        samples.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(samples[samples.len() - 1]),
    );
}

/// A hub, desk A (the organiser's admin station), desk B and a gate, each syncing with
/// its own worker; the stores here are other connections to the same databases.
struct Venue {
    _hub_runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    desk_a: Store,
    desk_b: Store,
    gate: Store,
    _workers: Vec<SyncWorker>,
}

impl Venue {
    fn open(mode: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let hub = Arc::new(SqliteStore::open(&dir.path().join("hub.db")).unwrap());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(serve(
            listener,
            Arc::clone(&hub),
            HubConfig::default(),
            std::future::pending(),
        ));

        let paths = ["desk-a", "desk-b", "gate"].map(|name| dir.path().join(name));
        let mut desk_a = Store::open(&paths[0]).unwrap();
        let event = demo_event_toml(Utc::now().date_naive());
        provisioning::init(&mut desk_a, &expo_kiosk::operators::Operator::admin("bench"), &event)
            .unwrap();
        let bundle = provisioning::export(&desk_a, true).unwrap();
        for (path, signs) in [(&paths[1], true), (&paths[2], false)] {
            provisioning::import(
                &mut Store::open(path).unwrap(),
                &expo_kiosk::operators::Operator::admin("bench"),
                &bundle,
                signs,
            )
            .unwrap();
        }
        let roles = [StationRole::Admin, StationRole::Desk, StationRole::Gate];
        let mut workers = Vec::new();
        for (path, role) in paths.iter().zip(roles) {
            let name = path.file_name().unwrap().to_str().unwrap();
            let code = runtime.block_on(add_station(hub.as_ref(), name, role)).unwrap();
            enrol_station(path, &url, &code);
            workers.push(start_worker(path, mode));
        }
        for worker in &workers {
            while worker.status().last_success.is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Venue {
            _hub_runtime: runtime,
            desk_a,
            desk_b: Store::open(&paths[1]).unwrap(),
            gate: Store::open(&paths[2]).unwrap(),
            _dir: dir,
            _workers: workers,
        }
    }

    fn registration_to_search(&self, samples: usize) -> Vec<Duration> {
        let mut desk_a = Store::open(self.desk_a.data_dir()).unwrap();
        (0..samples)
            .map(|i| {
                let name = format!("Propagation{i:05}");
                std::thread::sleep(between_samples());
                let start = Instant::now();
                register(&mut desk_a, &name);
                until(|| !search(self.desk_b.conn(), &name, 1, &[]).unwrap().is_empty());
                start.elapsed()
            })
            .collect()
    }

    fn revocation_to_denial(&self, samples: usize) -> Vec<Duration> {
        let mut desk_a = Store::open(self.desk_a.data_dir()).unwrap();
        let admin = Operator::admin("bench");
        let badges: Vec<(AttendeeId, String)> = (0..samples)
            .map(|i| {
                let id = register(&mut desk_a, &format!("Revocation{i:05}"));
                (id, badge::ensure_badge(&mut desk_a, &admin, id).unwrap().token)
            })
            .collect();
        badges
            .into_iter()
            .map(|(id, token)| {
                assert_ne!(gate_decides(&self.gate, &token), Reason::Revoked);
                std::thread::sleep(between_samples());
                let start = Instant::now();
                badge::revoke(&mut desk_a, &admin, id, "lost").unwrap();
                until(|| gate_decides(&self.gate, &token) == Reason::Revoked);
                start.elapsed()
            })
            .collect()
    }
}

/// What `expo-kiosk sync enrol` does.
fn enrol_station(path: &Path, url: &str, code: &str) {
    let mut store = Store::open(path).unwrap();
    let answer = enrol(url, code, store.station_id(), &HubTrust::default()).unwrap();
    if let Some(authority) = &answer.authority {
        provisioning::pin_authority(&mut store, authority).unwrap();
    }
    let credential = HubCredential {
        hub_url: url.to_owned(),
        station: answer.station,
        token: answer.token,
        role: answer.role,
        hub_authority: None,
    };
    credential.save(path).unwrap();
}

fn start_worker(path: &Path, mode: &str) -> SyncWorker {
    if mode == AT_ONCE {
        return start_background_sync(
            path,
            WorkerOptions::default(),
            StationMode::App,
            DeviceBoard::default(),
        )
        .unwrap()
        .unwrap();
    }
    let client = HubCredential::load(path).unwrap().client(None).unwrap();
    let tick_only = WorkerOptions { listen: Duration::ZERO, ..WorkerOptions::default() };
    // Spawned directly, so the store's writes do not ring it.
    SyncWorker::spawn(client, StoreOutbox::open(path).unwrap(), tick_only).unwrap()
}

fn register(store: &mut Store, name: &str) -> AttendeeId {
    let person =
        NewAttendee { name: name.into(), category: "vip".into(), ..NewAttendee::default() };
    let record = registration::register(store, &Operator::admin("bench"), &person, Source::WalkIn);
    AttendeeId(record.unwrap().id)
}

/// The gate's decision on `token` at an exit lane (decided on the badge alone), now.
fn gate_decides(gate: &Store, token: &str) -> Reason {
    let event = &gate.event().unwrap().definition;
    let zone = &event.zones[0].id;
    let now = Utc::now().with_timezone(&event.timezone()).naive_local();
    let knowledge = StoreKnowledge::new(gate).unwrap();
    let lane = GateContext { zone, direction: Direction::Out };
    access::decide(token, lane, now, event, &knowledge).reason
}

fn until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "the change never arrived");
        std::thread::sleep(Duration::from_millis(1));
    }
}
