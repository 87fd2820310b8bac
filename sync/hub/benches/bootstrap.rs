//! A new desk bootstrapping from a hub (SQLite) that holds a large event: from an empty
//! station to the first search answered, through `GET /v1/snapshot` over loopback HTTP.
//!
//! ```text
//! cargo bench -p expo-hub --bench bootstrap                                  # 100,000 attendees
//! EXPO_BENCH_ATTENDEES=1000000 cargo bench -p expo-hub --bench bootstrap     # the target
//! EXPO_BENCH_REPLAY=1 cargo bench -p expo-hub --bench bootstrap              # and by pull
//! EXPO_BENCH_HUB_CACHE=DIR cargo bench -p expo-hub --bench bootstrap         # fill once
//! ```
//!
//! The hub holds the attendees (the demo generator's: 80 % Chinese names, half of those with
//! sealed resident ID numbers) and an active badge for each. Measures the snapshot's size and
//! download alone, then the bootstrap of a new desk (download, verify, apply, search terms,
//! commit) and its first search; with `EXPO_BENCH_REPLAY`, a second new desk pulling every
//! change instead, for comparison. With `EXPO_BENCH_HUB_CACHE`, the filled hub is kept in
//! that directory (one file per attendee count and fill version) and each run works on a
//! copy of it, opened (and so migrated) by the hub code under test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::sync::Arc;
use std::time::Instant;

use expo_hub::enrolment::add_station;
use expo_hub::server::{serve, HubConfig};
use expo_hub::sqlite::SqliteStore;
use expo_hub::store::PreparedBatch;
use expo_hub::HubStore;
use expo_kiosk::demo::{demo_event_toml, Generator};
use expo_kiosk::domain::{EventDefinition, Source};
use expo_kiosk::privacy::DataKey;
use expo_kiosk::station_sync::StoreOutbox;
use expo_kiosk::store::Store;
use expo_sync::client::{enrol, HubClient, HubTrust};
use expo_sync::hlc::{wall_clock_ms, HlcClock};
use expo_sync::protocol::{BadgeRecord, Change, Record};
use expo_sync::station::{run_once, SyncOptions};
use expo_sync::StationRole;
use uuid::Uuid;

const ORIGIN: &str = "st-bench-office";
/// Changes whenever [`fill`] stores something else, so no kept hub of before is reused.
const FILL_VERSION: u32 = 1;

fn main() {
    let attendees: usize =
        std::env::var("EXPO_BENCH_ATTENDEES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let replay = std::env::var_os("EXPO_BENCH_REPLAY").is_some();
    let dir = tempfile::tempdir().expect("temporary directory");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let hub_file = dir.path().join("hub.db");
    match std::env::var_os("EXPO_BENCH_HUB_CACHE") {
        Some(cache) => {
            let kept = std::path::Path::new(&cache)
                .join(format!("bootstrap-hub-{attendees}-fill{FILL_VERSION}.db"));
            if !kept.exists() {
                let filling = kept.with_extension("filling");
                let _ = std::fs::remove_file(&filling);
                // Dropping the store closes its connection, which folds the WAL in.
                fill_new(&runtime, &filling, attendees);
                let wal = filling.with_extension("filling-wal");
                assert!(!wal.exists(), "the filled hub's WAL was not folded in");
                std::fs::rename(&filling, &kept).expect("keep the filled hub");
            }
            std::fs::copy(&kept, &hub_file).expect("copy the kept hub");
        }
        None => fill_new(&runtime, &hub_file, attendees),
    }
    let started = Instant::now();
    let store = Arc::new(SqliteStore::open(&hub_file).expect("open SQLite hub"));
    println!("hub: opened (and migrated) in {:.1} s", started.elapsed().as_secs_f64());

    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(serve(
        listener,
        Arc::clone(&store),
        HubConfig::default(),
        std::future::pending(),
    ));

    let (_download_dir, _, client) = new_desk(&runtime, &store, &url, "desk-download");
    let started = Instant::now();
    let bytes = download_only(&client);
    println!(
        "snapshot alone (hub reads, encodes and sends; nothing applied): {:.1} MB in {:.1} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let (_station_dir, mut station, client) = new_desk(&runtime, &store, &url, "desk-new");
    let started = Instant::now();
    let report = expo_kiosk::bootstrap::bootstrap(&mut station, &client, &mut |_| {}).unwrap();
    let applied = started.elapsed();
    let hits = expo_kiosk::registration::search::search(station.conn(), "zhang", 10, &[]).unwrap();
    let ready = started.elapsed();
    assert!(!hits.is_empty(), "the new desk finds nobody");
    println!(
        "bootstrap of a new desk: {} records ({} new attendees) applied in {:.1} s; first search \
         answered at {:.1} s",
        report.records,
        report.new_attendees,
        applied.as_secs_f64(),
        ready.as_secs_f64()
    );

    if replay {
        let (_pull_dir, station, client) = new_desk(&runtime, &store, &url, "desk-pull");
        let outbox = StoreOutbox::new(station);
        let started = Instant::now();
        let summary = run_once(&client, &outbox, SyncOptions::default()).unwrap();
        println!(
            "the same by replaying every change (pull): {} changes in {:.1} s",
            summary.pulled,
            started.elapsed().as_secs_f64()
        );
    }
}

/// Fills a new hub at `path` (see [`fill`]).
fn fill_new(runtime: &tokio::runtime::Runtime, path: &std::path::Path, attendees: usize) {
    let store = SqliteStore::open(path).expect("open SQLite hub");
    let started = Instant::now();
    fill(runtime, &store, attendees);
    println!(
        "hub: {attendees} attendees with a badge each stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Stores `attendees` attendees and a badge for each, as the organiser's admin station
/// pushed them (checked by the hub's rules, in batches of 2,000 changes).
fn fill(runtime: &tokio::runtime::Runtime, store: &SqliteStore, attendees: usize) {
    let today = chrono::Local::now().date_naive();
    let definition = EventDefinition::from_toml(&demo_event_toml(today)).unwrap();
    let data_key = DataKey::from_bytes(&*DataKey::generate()).unwrap();
    let mut generator = Generator::new(7);
    let mut clock = HlcClock::new(ORIGIN);
    let mut changes = Vec::with_capacity(2000);
    let mut change = |record: Record| Change {
        id: Uuid::now_v7(),
        station: ORIGIN.into(),
        hlc: clock.tick(wall_clock_ms()),
        record,
        pushed_by: None,
    };
    for _ in 0..attendees {
        let attendee =
            generator.next_attendee().validate(&definition, Source::PreRegistered, today);
        let record =
            expo_kiosk::registration::to_record(&attendee.unwrap(), Some(&data_key)).unwrap();
        let badge = BadgeRecord {
            attendee_id: record.id,
            serial: 1,
            status: "active".into(),
            reason: None,
            issued_at: record.created_at.clone(),
            changed_at: record.created_at.clone(),
            operator: "bench".into(),
        };
        changes.push(change(Record::Attendee(record)));
        changes.push(change(Record::Badge(badge)));
        if changes.len() >= 2000 {
            push(runtime, store, &mut changes);
        }
    }
    push(runtime, store, &mut changes);
}

fn push(runtime: &tokio::runtime::Runtime, store: &SqliteStore, changes: &mut Vec<Change>) {
    let batch = PreparedBatch::new(StationRole::Admin, ORIGIN, changes, wall_clock_ms()).unwrap();
    let answer = runtime.block_on(store.push("office", batch)).unwrap();
    assert!(answer.refused.is_empty(), "{:?}", answer.refused.first());
    changes.clear();
}

/// A new, empty desk station enrolled with the hub.
fn new_desk(
    runtime: &tokio::runtime::Runtime,
    store: &SqliteStore,
    url: &str,
    name: &str,
) -> (tempfile::TempDir, Store, HubClient) {
    let dir = tempfile::tempdir().unwrap();
    let station = Store::open(dir.path()).unwrap();
    let code = runtime.block_on(add_station(store, name, StationRole::Desk)).unwrap();
    let token = enrol(url, &code, station.station_id(), &HubTrust::default()).unwrap().token;
    let client = HubClient::new(url, &token);
    (dir, station, client)
}

/// Reads and verifies a whole snapshot and applies nothing; returns its size in bytes.
fn download_only(client: &HubClient) -> u64 {
    let mut answer = client.snapshot("").unwrap();
    while answer.next_chunk().unwrap().is_some() {}
    answer.bytes()
}
