//! How fast a station applies what it pulls, by role: the real `StoreOutbox::apply_remote`
//! into a real station store (SQLite, on disk, synchronous=FULL as stations run), page by
//! page as the sync worker hands them over. What the whole-venue rehearsal's stations
//! spend most of their CPU on (README, "Whole-venue rehearsal").
//!
//! ```text
//! cargo bench -p expo-kiosk --bench station_apply
//! EXPO_BENCH_BASE=20000 EXPO_BENCH_CHANGES=5000 EXPO_BENCH_PAGE=100 cargo bench -p expo-kiosk --bench station_apply
//! ```
//!
//! - desk: attendees and their badges (as the hub hands them to a desk or kiosk);
//! - gate: the same, reduced as a gate receives them, and granted gate decisions.
//!
//! Each station first holds `EXPO_BENCH_BASE` attendees with badges (applied the same way,
//! untimed): a venue's stations hold the pre-registrations before the day starts. Then
//! `EXPO_BENCH_CHANGES` new attendees and their badges (and at the gate as many gate
//! decisions) are applied in pages of `EXPO_BENCH_PAGE` (the worker applies what one pull
//! returned). The JSON decode of those pages is timed apart.
//! `EXPO_BENCH_DIR` puts the stores somewhere else than the system's temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::time::{Duration, Instant};

use expo_kiosk::demo::{demo_event_toml, Generator};
use expo_kiosk::domain::{AttendeeId, Source};
use expo_kiosk::operators::Operator;
use expo_kiosk::provisioning;
use expo_kiosk::registration::{self, badge};
use expo_kiosk::station_sync::StoreOutbox;
use expo_kiosk::store::{now_rfc3339, Store};
use expo_sync::protocol::GateDecisionRecord;
use expo_sync::scope::{scope, Scoped};
use expo_sync::station::StationOutbox;
use expo_sync::{Change, Hlc, HlcClock, Record, StationRole};
use uuid::Uuid;

fn main() {
    let base = env_count("EXPO_BENCH_BASE", 20_000);
    let changes = env_count("EXPO_BENCH_CHANGES", 5_000);
    let page = env_count("EXPO_BENCH_PAGE", 100).max(1);
    let root = match std::env::var_os("EXPO_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("bench directory");
    println!("load before: {}", load());
    println!("{base} attendees held, {changes} more (and their badges) applied in pages of {page}");

    let source = Origin::open(&root.path().join("source"), base + changes);
    let (held, fresh) = source.made.split_at(source.made.len() * base / (base + changes).max(1));
    let desk = source.station(&root.path().join("desk"), true);
    let gate = source.station(&root.path().join("gate"), false);

    let desk_held = for_role(StationRole::Desk, held);
    let desk_fresh = for_role(StationRole::Desk, fresh);
    apply_pages(&desk, &desk_held, 1000);
    report("desk: attendees + badges", &desk, &desk_fresh, page);

    let gate_held = for_role(StationRole::Gate, held);
    apply_pages(&gate, &gate_held, 1000);
    let gate_fresh = for_role(StationRole::Gate, fresh);
    report("gate: attendees + badges (as a gate gets them)", &gate, &gate_fresh, page);
    let decisions = granted_decisions(&gate_held, changes);
    report("gate: granted gate decisions", &gate, &decisions, page);
    println!("load after: {}", load());
}

/// The station every change comes from: a desk registering and badging everyone.
struct Origin {
    store: Store,
    made: Vec<Change>,
}

impl Origin {
    fn open(dir: &std::path::Path, attendees: usize) -> Self {
        let mut store = Store::open(dir).expect("source store");
        // The source's durability is not what is measured.
        store.conn().pragma_update(None, "synchronous", "OFF").expect("synchronous");
        let admin = Operator::admin("bench");
        provisioning::init(&mut store, &admin, &demo_event_toml(chrono::Utc::now().date_naive()))
            .expect("event init");
        let event_changes = pending(&store).len();
        let mut people = Generator::new(17);
        let mut ids = Vec::with_capacity(attendees);
        while ids.len() < attendees {
            // The generator may repeat a phone number: the desk refuses such a duplicate.
            if let Ok(record) =
                registration::register(&mut store, &admin, &people.next_attendee(), Source::WalkIn)
            {
                ids.push(AttendeeId(record.id));
            }
        }
        for chunk in ids.chunks(1000) {
            for issued in badge::ensure_badges(&mut store, &admin, chunk).expect("badges") {
                issued.expect("badge");
            }
        }
        // Each attendee's record and then its badge, as the hub hands them out in order.
        let made: Vec<Change> = pending(&store)
            .into_iter()
            .skip(event_changes)
            .filter(|c| matches!(c.record, Record::Attendee(_) | Record::Badge(_)))
            .map(|c| Change { pushed_by: Some(StationRole::Desk), ..c })
            .collect();
        let mut ordered: Vec<Change> = Vec::with_capacity(made.len());
        let (records, badges): (Vec<Change>, Vec<Change>) =
            made.into_iter().partition(|c| matches!(c.record, Record::Attendee(_)));
        for (record, badge) in records.into_iter().zip(badges) {
            ordered.push(record);
            ordered.push(badge);
        }
        Self { store, made: ordered }
    }

    /// A station provisioned with the source's event: a desk (with the data key) or a gate.
    fn station(&self, dir: &std::path::Path, desk: bool) -> StoreOutbox {
        let bundle = provisioning::export(&self.store, desk).expect("bundle");
        let mut store = Store::open(dir).expect("station store");
        provisioning::import(&mut store, &Operator::admin("bench"), &bundle, desk)
            .expect("bundle import");
        StoreOutbox::new(store)
    }
}

fn pending(store: &Store) -> Vec<Change> {
    let outbox = StoreOutbox::new(Store::open(store.data_dir()).expect("source again"));
    outbox.pending(usize::MAX >> 1).expect("pending")
}

/// What a station of `role` receives of `changes`.
fn for_role(role: StationRole, changes: &[Change]) -> Vec<Change> {
    changes
        .iter()
        .filter_map(|change| match scope(role, change) {
            Scoped::Withheld => None,
            Scoped::AsIs => Some(change.clone()),
            Scoped::Reduced(reduced) => Some(*reduced),
        })
        .collect()
}

/// `count` granted entries into hall 1 by the attendees of `held`, made at other gates.
fn granted_decisions(held: &[Change], count: usize) -> Vec<Change> {
    let mut clock = HlcClock::resume("st-gate-other", None::<&Hlc>);
    let attendees: Vec<Uuid> = held
        .iter()
        .filter_map(|c| match &c.record {
            Record::Attendee(a) => Some(a.id),
            _ => None,
        })
        .collect();
    (0..count)
        .map(|n| Change {
            id: Uuid::now_v7(),
            station: "st-gate-other".into(),
            hlc: clock.tick(expo_sync::hlc::wall_clock_ms()),
            record: Record::GateDecision(GateDecisionRecord {
                id: Uuid::now_v7(),
                attendee_id: Some(attendees[n % attendees.len().max(1)]),
                badge_serial: Some(1),
                gate: format!("gate-{}", n % 50),
                lane: format!("lane-{}", n % 4 + 1),
                zone: "hall-1".into(),
                direction: "in".into(),
                granted: true,
                reason: "ok".into(),
                at: now_rfc3339(),
                annulled: false,
            }),
            pushed_by: Some(StationRole::Gate),
        })
        .collect()
}

/// Applies `changes` in pages of `page`, the cursor moving on with each page.
fn apply_pages(station: &StoreOutbox, changes: &[Change], page: usize) -> Duration {
    let cursor = station.cursor().expect("cursor");
    let started = Instant::now();
    for (n, chunk) in changes.chunks(page).enumerate() {
        station.apply_remote(chunk, cursor + n as i64 + 1).expect("apply");
    }
    started.elapsed()
}

fn report(what: &str, station: &StoreOutbox, changes: &[Change], page: usize) {
    let pages: Vec<String> =
        changes.chunks(page).map(|chunk| serde_json::to_string(chunk).expect("encode")).collect();
    let started = Instant::now();
    let decoded: Vec<Vec<Change>> =
        pages.iter().map(|json| serde_json::from_str(json).expect("decode")).collect();
    let decode = started.elapsed();
    let apply = apply_pages(station, &decoded.concat(), page);
    let per_s = |d: Duration| changes.len() as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "{what}: {} changes applied in {:.2} s, {:.0} changes/s; JSON decode {:.0} changes/s",
        changes.len(),
        apply.as_secs_f64(),
        per_s(apply),
        per_s(decode)
    );
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "unknown".into(), |l| l.trim().into())
}
