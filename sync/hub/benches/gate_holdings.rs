//! What a gate holds after its first sync with the hub, before and after the hub scoped
//! pulls by role (issue 16, PIPL data minimisation).
//!
//! ```text
//! cargo bench -p expo-hub --bench gate_holdings
//! EXPO_BENCH_ATTENDEES=1000000 cargo bench -p expo-hub --bench gate_holdings   # the full event
//! ```
//!
//! A desk's work for `EXPO_BENCH_ATTENDEES` walk-ins (default 100,000: the attendee sealed
//! and hashed as a real desk does it, its badge, the printed job, the register and print
//! audit entries) and as many gate decisions (nine in ten granted) are stored at a SQLite
//! hub. Then two gate stations set up with `event import --verify-only` sync once over HTTP
//! into real station databases: one enrolled as an admin station, which receives every
//! change as it was pushed (what every gate received before scoping), one as a gate. For
//! each: the bytes pulled, the database file's size after `VACUUM`, and how many personal
//! fields and records of each kind it holds. Sizes do not depend on the build profile.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::sync::Arc;
use std::time::Instant;

use expo_hub::enrolment::add_station;
use expo_hub::server::{serve, HubConfig};
use expo_hub::sqlite::SqliteStore;
use expo_hub::store::PreparedBatch;
use expo_hub::HubStore;
use expo_kiosk::demo::{demo_event_toml, Generator};
use expo_kiosk::domain::Source;
use expo_kiosk::provisioning::{self, Bundle};
use expo_kiosk::registration;
use expo_kiosk::station_sync::StoreOutbox;
use expo_kiosk::store::Store;
use expo_sync::client::{enrol, HubClient, HubTrust};
use expo_sync::hlc::{wall_clock_ms, HlcClock};
use expo_sync::protocol::{
    AuditRecord, BadgeRecord, Change, GateDecisionRecord, PrintJobRecord, Record, RefusedChange,
};
use expo_sync::station::{run_once, StationOutbox, SyncOptions};
use expo_sync::StationRole;
use rusqlite::Connection;
use uuid::Uuid;

/// Changes stored at the hub per push.
const BATCH: usize = 5000;

fn main() {
    let attendees: usize =
        std::env::var("EXPO_BENCH_ATTENDEES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("hub.db")).expect("open SQLite hub"));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(serve(
        listener,
        Arc::clone(&store),
        HubConfig::default(),
        std::future::pending(),
    ));

    let mut office = Store::open(&dir.path().join("office")).unwrap();
    provisioning::init(
        &mut office,
        &expo_kiosk::operators::Operator::admin("bench"),
        &demo_event_toml(chrono::Utc::now().date_naive()),
    )
    .unwrap();
    let verify_only = provisioning::export(&office, false).unwrap();

    let started = Instant::now();
    let desk_changes = desk_work(&office, attendees);
    let attendee_ids: Vec<Uuid> = desk_changes
        .iter()
        .filter_map(|c| match &c.record {
            Record::Attendee(a) => Some(a.id),
            _ => None,
        })
        .collect();
    let gate_changes = gate_work(&attendee_ids);
    for (station, role, changes) in
        [("desk-1", StationRole::Desk, &desk_changes), ("gate-1", StationRole::Gate, &gate_changes)]
    {
        runtime.block_on(add_station(store.as_ref(), station, role)).unwrap();
        for chunk in changes.chunks(BATCH) {
            let batch = PreparedBatch::new(role, station, chunk, wall_clock_ms()).unwrap();
            assert!(batch.refused.is_empty(), "{:?}", batch.refused.first());
            runtime.block_on(store.push(station, batch)).unwrap();
        }
    }
    let stored = desk_changes.len() + gate_changes.len();
    println!(
        "{attendees} attendees, {} gate decisions: {stored} changes at the hub ({:.0} s to make and store)",
        gate_changes.len(),
        started.elapsed().as_secs_f64()
    );

    println!("| gate enrolled as | changes pulled | bytes pulled | station.db after VACUUM | attendees with phone / e-mail / company / ID hash / sealed ID | gate decisions | others' audit entries | sync |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, role, label) in [
        ("gate-today", StationRole::Admin, "before (every change as pushed)"),
        ("gate-scoped", StationRole::Gate, "gate (scoped)"),
    ] {
        let data = dir.path().join(name);
        let code = runtime.block_on(add_station(store.as_ref(), name, role)).unwrap();
        let gate = join(&data, &verify_only);
        let token = enrol(&url, &code, gate.station_id(), &HubTrust::default()).unwrap().token;
        let outbox = MeasuredOutbox { inner: StoreOutbox::new(gate), bytes: Default::default() };
        let started = Instant::now();
        let summary = run_once(&HubClient::new(&url, &token), &outbox, SyncOptions::default())
            .expect("first sync");
        let elapsed = started.elapsed();
        let pulled_bytes = outbox.bytes.load(std::sync::atomic::Ordering::Relaxed);
        drop(outbox);
        let db = Connection::open(data.join("station.db")).unwrap();
        db.execute_batch("VACUUM").unwrap();
        let size = std::fs::metadata(data.join("station.db")).unwrap().len();
        let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
        let personal = [
            "phone <> ''",
            "email <> ''",
            "company <> ''",
            "id_hash IS NOT NULL",
            "id_sealed IS NOT NULL",
        ]
        .map(|condition| {
            count(&format!("SELECT count(*) FROM attendees WHERE {condition}")).to_string()
        })
        .join(" / ");
        println!(
            "| {label} | {} | {} | {} | {personal} | {} | {} | {:.0} s |",
            summary.pulled,
            mib(pulled_bytes),
            mib(size),
            count("SELECT count(*) FROM gate_decisions"),
            count("SELECT count(*) FROM audit WHERE actor = 'desk-op'"),
            elapsed.as_secs_f64(),
        );
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A gate station set up like `event import --verify-only`.
fn join(data: &std::path::Path, bundle: &Bundle) -> Store {
    let mut store = Store::open(data).unwrap();
    provisioning::import(
        &mut store,
        &expo_kiosk::operators::Operator::admin("bench"),
        bundle,
        false,
    )
    .unwrap();
    store
}

/// A station's changes with a real clock.
struct Maker {
    name: &'static str,
    clock: HlcClock,
}

impl Maker {
    fn change(&mut self, record: Record) -> Change {
        Change {
            id: Uuid::now_v7(),
            station: self.name.into(),
            hlc: self.clock.tick(wall_clock_ms() - 60_000),
            record,
            pushed_by: None,
        }
    }
}

/// What a desk pushes for each walk-in it registers and prints.
fn desk_work(office: &Store, attendees: usize) -> Vec<Change> {
    let event = office.event().unwrap();
    let today = registration::venue_today(office).unwrap();
    let mut generator = Generator::new(16);
    let mut desk = Maker { name: "desk-1", clock: HlcClock::new("desk-1") };
    let at = "2026-11-25T01:00:00.000Z".to_owned();
    let mut changes = Vec::with_capacity(attendees * 5);
    for _ in 0..attendees {
        let input = generator.next_attendee();
        let attendee = input.validate(&event.definition, Source::WalkIn, today).unwrap();
        let record = registration::to_record(&attendee, event.data_key.as_ref()).unwrap();
        let id = record.id;
        let audit = |action: &str| AuditRecord {
            id: Uuid::now_v7(),
            at: at.clone(),
            actor: "desk-op".into(),
            action: action.into(),
            attendee_id: Some(id),
            detail: serde_json::json!({ "source": "walk_in", "category": record.category }),
        };
        let records = [
            Record::Audit(audit("register")),
            Record::Attendee(record.clone()),
            Record::Badge(BadgeRecord {
                attendee_id: id,
                serial: 1,
                status: "active".into(),
                reason: None,
                issued_at: at.clone(),
                changed_at: at.clone(),
                operator: "desk-op".into(),
            }),
            Record::PrintJob(PrintJobRecord {
                id: Uuid::now_v7(),
                attendee_id: id,
                badge_serial: 1,
                printer: "zebra-1".into(),
                status: "printed".into(),
                attempts: 1,
                error: None,
                at: at.clone(),
            }),
            Record::Audit(audit("print_badge")),
        ];
        changes.extend(records.into_iter().map(|record| desk.change(record)));
    }
    changes
}

/// As many gate decisions as attendees, nine in ten granted.
fn gate_work(attendees: &[Uuid]) -> Vec<Change> {
    let mut gate = Maker { name: "gate-1", clock: HlcClock::new("gate-1") };
    attendees
        .iter()
        .enumerate()
        .map(|(n, attendee)| {
            let granted = n % 10 != 0;
            gate.change(Record::GateDecision(GateDecisionRecord {
                id: Uuid::now_v7(),
                attendee_id: Some(*attendee),
                badge_serial: Some(1),
                gate: "north".into(),
                lane: format!("in-{}", n % 4 + 1),
                zone: "hall-1".into(),
                direction: "in".into(),
                granted,
                reason: if granted { "granted" } else { "zone_not_allowed" }.into(),
                at: "2026-11-25T01:30:00.000Z".into(),
                annulled: false,
            }))
        })
        .collect()
}

/// The station's store, counting the bytes of every change it is handed (as JSON, as
/// they crossed the network).
struct MeasuredOutbox {
    inner: StoreOutbox,
    bytes: std::sync::atomic::AtomicU64,
}

impl MeasuredOutbox {
    fn count(&self, changes: &[Change]) {
        let bytes: usize =
            changes.iter().map(|c| serde_json::to_vec(c).map_or(0, |j| j.len())).sum();
        self.bytes.fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

impl StationOutbox for MeasuredOutbox {
    type Error = <StoreOutbox as StationOutbox>::Error;

    fn pending(&self, limit: usize) -> Result<Vec<Change>, Self::Error> {
        self.inner.pending(limit)
    }

    fn pending_count(&self) -> Result<u64, Self::Error> {
        self.inner.pending_count()
    }

    fn mark_acked(&self, ids: &[Uuid]) -> Result<(), Self::Error> {
        self.inner.mark_acked(ids)
    }

    fn mark_refused(&self, refused: &[RefusedChange]) -> Result<(), Self::Error> {
        self.inner.mark_refused(refused)
    }

    fn apply_remote(&self, changes: &[Change], next_cursor: i64) -> Result<(), Self::Error> {
        self.count(changes);
        self.inner.apply_remote(changes, next_cursor)
    }

    fn apply_ahead(&self, changes: &[Change]) -> Result<(), Self::Error> {
        self.count(changes);
        self.inner.apply_ahead(changes)
    }

    fn cursor(&self) -> Result<i64, Self::Error> {
        self.inner.cursor()
    }
}
