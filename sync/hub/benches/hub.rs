//! Hub benchmarks over loopback HTTP with the real station client.
//!
//! ```text
//! cargo bench -p expo-hub --bench hub
//! EXPO_BENCH_CHANGES=1000000 cargo bench -p expo-hub --bench hub      # the full target
//! EXPO_TEST_PG_URL=postgres://... cargo bench -p expo-hub --bench hub  # PostgreSQL too
//! ```
//!
//! Measures, per back-end:
//! 1. push throughput of one station pushing `EXPO_BENCH_CHANGES` changes (default 100,000);
//! 2. one incremental sync round (push 10 new changes, pull 10 new ones) on that database;
//! 3. throughput with 50 stations pushing at once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use expo_hub::enrolment::add_station;
use expo_hub::postgres::PostgresStore;
use expo_hub::server::{serve, HubConfig};
use expo_hub::sqlite::SqliteStore;
use expo_hub::HubStore;
use expo_sync::client::{enrol, HubClient, HubTrust};
use expo_sync::hlc::HlcClock;
use expo_sync::protocol::{AttendeeRecord, Change, Record};
use expo_sync::station::{run_once, StationOutbox, SyncOptions};
use expo_sync::StationRole;
use uuid::Uuid;

const CONCURRENT_STATIONS: usize = 50;
const CHANGES_PER_CONCURRENT_STATION: usize = 1000;
const INCREMENTAL_ROUNDS: usize = 20;

fn main() {
    let changes: usize =
        std::env::var("EXPO_BENCH_CHANGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let runtime = runtime();
    let sqlite = SqliteStore::open(&dir.path().join("hub.db")).expect("open SQLite hub");
    bench_backend("SQLite", &runtime, sqlite, changes);
    match std::env::var("EXPO_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => {
            let store = runtime.block_on(fresh_postgres(&url)).expect("PostgreSQL hub");
            bench_backend("PostgreSQL", &runtime, store, changes);
        }
        _ => println!("(EXPO_TEST_PG_URL unset: PostgreSQL not measured)"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

/// A fresh database on the server of `url`, so repeated runs measure the same thing.
async fn fresh_postgres(url: &str) -> Result<PostgresStore, Box<dyn std::error::Error>> {
    let admin: tokio_postgres::Config = url.parse()?;
    let name = format!("expo_bench_{}", Uuid::now_v7().simple());
    let (client, connection) = admin.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    drop(client);
    driver.await??;
    let mut config = admin;
    config.dbname(&name);
    let (base, _) = url.split_once('?').unwrap_or((url, ""));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    Ok(PostgresStore::connect(&format!("{server}/{name}"), 32).await?)
}

fn bench_backend<S: HubStore>(
    label: &str,
    runtime: &tokio::runtime::Runtime,
    store: S,
    changes: usize,
) {
    let store = Arc::new(store);
    let listener =
        runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    runtime.spawn(serve(
        listener,
        Arc::clone(&store),
        HubConfig::default(),
        std::future::pending(),
    ));
    let client = |name: &str| {
        let code = runtime
            .block_on(add_station(store.as_ref(), name, StationRole::Desk))
            .expect("add station");
        HubClient::new(&url, &enrol(&url, &code, name, &HubTrust::default()).expect("enrol").token)
    };

    // 1. One station's post-show push.
    let desk = client("desk-1");
    let mut desk_station = BenchStation::new("desk-1");
    let outbox = BenchOutbox::default();
    outbox.add((0..changes).map(|i| desk_station.attendee(i)));
    let started = Instant::now();
    let summary = run_once(&desk, &outbox, SyncOptions::default()).expect("push");
    let elapsed = started.elapsed();
    assert_eq!(summary.pushed as usize, changes);
    println!(
        "{label}: push of {changes} changes from one station: {:.1} s ({:.0} changes/s; 1,000,000 would take ~{:.0} s)",
        elapsed.as_secs_f64(),
        changes as f64 / elapsed.as_secs_f64(),
        1_000_000.0 * elapsed.as_secs_f64() / changes as f64,
    );

    // 2. Incremental rounds on that database: desk pushes 10, gate pushes 10 and pulls desk's 10.
    let gate = client("gate-1");
    let gate_outbox = BenchOutbox::default();
    let mut gate_station = BenchStation::new("gate-1");
    let first = run_once(&gate, &gate_outbox, SyncOptions::default()).expect("initial pull");
    assert_eq!(first.pulled as usize, changes);
    let mut rounds = Vec::with_capacity(INCREMENTAL_ROUNDS);
    for round in 0..INCREMENTAL_ROUNDS {
        outbox.add((0..10).map(|i| desk_station.attendee(changes + round * 10 + i)));
        run_once(&desk, &outbox, SyncOptions::default()).expect("desk round");
        gate_outbox.add((0..10).map(|i| gate_station.attendee(round * 10 + i)));
        let started = Instant::now();
        let summary = run_once(&gate, &gate_outbox, SyncOptions::default()).expect("gate round");
        rounds.push(started.elapsed());
        assert_eq!((summary.pushed, summary.pulled), (10, 10));
    }
    rounds.sort();
    println!(
        "{label}: incremental sync round (push 10 + pull 10) on a {}-change hub: median {:.1} ms, max {:.1} ms",
        changes + 20 * INCREMENTAL_ROUNDS,
        ms(rounds[rounds.len() / 2]),
        ms(rounds[rounds.len() - 1]),
    );

    // 3. Many stations pushing at once.
    let clients: Vec<_> = (0..CONCURRENT_STATIONS).map(|i| client(&format!("lane-{i}"))).collect();
    let start = Arc::new(Barrier::new(CONCURRENT_STATIONS + 1));
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let start = Arc::clone(&start);
            let mut station = BenchStation::new(&format!("lane-{i}"));
            let batch: Vec<_> =
                (0..CHANGES_PER_CONCURRENT_STATION).map(|n| station.attendee(n)).collect();
            std::thread::spawn(move || {
                start.wait();
                for chunk in batch.chunks(200) {
                    // Under load a request may time out: the station retries, as it would.
                    while let Err(error) = client.push(chunk) {
                        assert!(error.is_transient(), "lane-{i}: {error}");
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    for thread in threads {
        thread.join().expect("station thread");
    }
    let elapsed = started.elapsed();
    let total = CONCURRENT_STATIONS * CHANGES_PER_CONCURRENT_STATION;
    println!(
        "{label}: {CONCURRENT_STATIONS} stations pushing {total} changes at once: {:.1} s ({:.0} changes/s)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

struct BenchStation {
    name: String,
    clock: HlcClock,
    wall_ms: u64,
}

impl BenchStation {
    fn new(name: &str) -> Self {
        Self { name: name.to_owned(), clock: HlcClock::new(name), wall_ms: 1_700_000_000_000 }
    }

    /// A realistic walk-in registration (about 700 bytes of JSON).
    fn attendee(&mut self, n: usize) -> Change {
        self.wall_ms += 1;
        let id = Uuid::now_v7();
        Change {
            id: Uuid::now_v7(),
            station: self.name.clone(),
            hlc: self.clock.tick(self.wall_ms),
            record: Record::Attendee(AttendeeRecord {
                id,
                registration_code: Some(format!("R{n:08}")),
                name: format!("Visitor {n}"),
                company: "Example Trading Co., Ltd.".into(),
                title: "Purchasing Manager".into(),
                phone: format!("+86 138 {n:08}"),
                email: format!("visitor{n}@example.com"),
                country: "CN".into(),
                category: "visitor".into(),
                source: "walk_in".into(),
                id_type: Some("resident_id".into()),
                id_masked: Some("3101**********128X".into()),
                // Distinct people: equal hashes would be reported as duplicate walk-ins.
                id_hash: Some(format!("{:>56}{n:08x}", self.name)),
                id_sealed: Some("bm9uY2UxMjM0NTY3OGNpcGhlcnRleHRjaXBoZXJ0ZXh0Y2lwaGVy".into()),
                consent: true,
                tags: vec!["walk-in".into()],
                created_at: "2025-05-01T09:00:00+08:00".into(),
                updated_at: "2025-05-01T09:00:00+08:00".into(),
                merged_into: None,
                chinese_name: String::new(),
            }),
            pushed_by: None,
        }
    }
}

/// The least a station store does: an ordered outbox and a cursor.
#[derive(Default)]
struct BenchOutbox {
    state: Mutex<(BTreeMap<Uuid, Change>, i64)>,
}

impl BenchOutbox {
    fn add(&self, changes: impl IntoIterator<Item = Change>) {
        let mut state = self.state.lock().expect("outbox lock");
        state.0.extend(changes.into_iter().map(|c| (c.id, c)));
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unreachable")]
struct Never;

impl StationOutbox for BenchOutbox {
    type Error = Never;

    fn pending(&self, limit: usize) -> Result<Vec<Change>, Never> {
        Ok(self.state.lock().expect("outbox lock").0.values().take(limit).cloned().collect())
    }

    fn pending_count(&self) -> Result<u64, Never> {
        Ok(self.state.lock().expect("outbox lock").0.len() as u64)
    }

    fn mark_acked(&self, ids: &[Uuid]) -> Result<(), Never> {
        let mut state = self.state.lock().expect("outbox lock");
        for id in ids {
            state.0.remove(id);
        }
        Ok(())
    }

    fn apply_remote(&self, _changes: &[Change], next_cursor: i64) -> Result<(), Never> {
        self.state.lock().expect("outbox lock").1 = next_cursor;
        Ok(())
    }

    fn cursor(&self) -> Result<i64, Never> {
        Ok(self.state.lock().expect("outbox lock").1)
    }
}
