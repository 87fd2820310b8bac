//! Each station gets only what its role needs (issue 16, PIPL data minimisation), enforced
//! by the hub when it answers a pull: real station stores (the `expo-kiosk` library on
//! SQLite files) sync with a real hub over HTTP, on SQLite and on PostgreSQL, and each
//! test reads one station's database file to see what reached it.
//!
//! The venue: the organiser's admin station made the event; a desk registers a visitor
//! with phone, e-mail, company and ID number and prints the badge; a gate set up with
//! `event import --verify-only` lets the visitor out (granted) and refuses a scan of
//! something that is no badge. Then the station under test joins and syncs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use common::TestHub;
use expo_hub::HubStore;
use expo_kiosk::access::{self, Direction, GateContext};
use expo_kiosk::badges::{queue, PrinterConfig};
use expo_kiosk::demo::demo_event_toml;
use expo_kiosk::domain::{AttendeeId, NewAttendee, Source};
use expo_kiosk::gate::{record_decisions, StoreKnowledge};
use expo_kiosk::operators::Operator;
use expo_kiosk::provisioning::{self, Bundle};
use expo_kiosk::registration::{self, badge};
use expo_kiosk::station_sync::StoreOutbox;
use expo_kiosk::store::{format_time, Store};
use expo_sync::client::{self, HubClient, HubTrust};
use expo_sync::protocol::GateDecisionRecord;
use expo_sync::station::{run_once, SyncOptions};
use rusqlite::Connection;
use uuid::Uuid;

common::hub_suite!(
    a_gate_holds_names_and_granted_passages_and_no_phone_mail_company_or_id_data,
    a_desk_holds_attendees_with_sealed_ids_but_no_gate_log_audit_or_print_jobs,
    a_kiosk_holds_what_a_desk_holds,
    an_admin_station_holds_everything_for_the_dashboard,
);

const NAME: &str = "欧阳娜娜";
/// A Chinese name beside the name (as a foreign permanent residence card gives one).
const CHINESE_NAME: &str = "欧小娜";
const PHONE: &str = "13912345678";
const EMAIL: &str = "nana.ouyang@example.com";
const COMPANY: &str = "东方明珠会展有限公司";
const ID_NUMBER: &str = "11010519491231002X";
const DESK_OPERATOR: &str = "desk-op";

/// One station: its store (through the sync adapter) and its hub client.
struct Member {
    dir: PathBuf,
    outbox: StoreOutbox,
    client: HubClient,
}

impl Member {
    /// A station in `dir` set up from `bundle` (`event import`, `--verify-only` unless
    /// `signs`) and enrolled with the hub as `name` (its role follows the name, see
    /// `common::role_of`).
    fn join<S: HubStore>(
        hub: &TestHub<S>,
        dir: PathBuf,
        name: &str,
        bundle: &Bundle,
        signs: bool,
    ) -> Self {
        let mut store = Store::open(&dir).unwrap();
        provisioning::import(
            &mut store,
            &expo_kiosk::operators::Operator::admin("test"),
            bundle,
            signs,
        )
        .unwrap();
        Self::enrol(hub, dir, name, store)
    }

    fn enrol<S: HubStore>(hub: &TestHub<S>, dir: PathBuf, name: &str, mut store: Store) -> Self {
        let code = hub.station_code(name);
        let enrolled =
            client::enrol(&hub.url, &code, store.station_id(), &HubTrust::default()).unwrap();
        provisioning::pin_authority(&mut store, enrolled.authority.as_deref().unwrap()).unwrap();
        Self {
            dir,
            outbox: StoreOutbox::new(store),
            client: HubClient::new(&hub.url, &enrolled.token),
        }
    }

    fn sync(&self) {
        let summary = run_once(&self.client, &self.outbox, SyncOptions::default()).unwrap();
        // (A station that imported a bundle pushes the event it installed; the hub refuses
        // that from anyone but an admin, and the station keeps it aside.)
        assert_eq!(summary.pending_after, 0, "{summary:?}");
    }

    /// Closes the station and reads what its database holds, byte for byte (the main file
    /// and, if the close left one, its write-ahead log).
    fn close(self) -> Holdings {
        drop(self.outbox);
        let db = self.dir.join("station.db");
        let mut bytes = std::fs::read(&db).unwrap();
        if let Ok(wal) = std::fs::read(self.dir.join("station.db-wal")) {
            bytes.extend(wal);
        }
        Holdings { bytes, db: Connection::open(db).unwrap() }
    }
}

/// A closed station's database.
struct Holdings {
    bytes: Vec<u8>,
    db: Connection,
}

impl Holdings {
    fn holds(&self, needle: &[u8]) -> bool {
        self.bytes.windows(needle.len()).any(|window| window == needle)
    }

    fn count(&self, sql: &str) -> i64 {
        self.db.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Nothing pulled was set aside: every copy the hub sent passed the station's rules.
    fn set_nothing_aside(&self) {
        let pulled_aside = "SELECT count(*) FROM sync_set_aside \
                            WHERE error NOT LIKE 'the hub refused it%'";
        assert_eq!(self.count(pulled_aside), 0);
    }
}

/// The venue after the desk and the gate did their work, with what the test looks for.
struct Venue<S: HubStore> {
    hub: TestHub<S>,
    dir: tempfile::TempDir,
    office: Member,
    with_data_key: Bundle,
    verify_only: Bundle,
    attendee: AttendeeId,
    token: String,
    /// What the desk stored of the ID number: the keyed hash (hex) and the sealed bytes.
    id_hash: String,
    id_sealed: Vec<u8>,
}

impl<S: HubStore> Venue<S> {
    fn open(hub: TestHub<S>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The event opens today (UTC); the venue's today is that day or the next.
        let mut store = Store::open(&dir.path().join("office")).unwrap();
        provisioning::init(
            &mut store,
            &expo_kiosk::operators::Operator::admin("test"),
            &demo_event_toml(Utc::now().date_naive()),
        )
        .unwrap();
        let with_data_key = provisioning::export(&store, true).unwrap();
        let verify_only = provisioning::export(&store, false).unwrap();
        let office = Member::enrol(&hub, dir.path().join("office"), "office", store);
        office.sync();

        let desk = Member::join(&hub, dir.path().join("desk-1"), "desk-1", &with_data_key, true);
        let operator = Operator::admin(DESK_OPERATOR);
        let visitor = NewAttendee {
            registration_code: String::new(),
            name: NAME.into(),
            company: COMPANY.into(),
            title: "采购经理".into(),
            category: "vip".into(),
            phone: PHONE.into(),
            email: EMAIL.into(),
            country: "中国".into(),
            id_type: "resident_id".into(),
            id_number: ID_NUMBER.into(),
            consent: true,
            tags: vec!["buyer".into()],
            chinese_name: CHINESE_NAME.into(),
        };
        let (attendee, token, id_hash, id_sealed) = {
            let mut store = desk.outbox.store();
            let record =
                registration::register(&mut store, &operator, &visitor, Source::WalkIn).unwrap();
            let attendee = AttendeeId(record.id);
            queue::enqueue(&mut store, &operator, attendee, None, "none").unwrap();
            queue::process_due(&mut store, &PrinterConfig::default()).unwrap();
            let token = badge::active_badge(&store, attendee).unwrap().token;
            let (hash, sealed) = store
                .conn()
                .query_row(
                    "SELECT id_hash, id_sealed FROM attendees WHERE id = ?1",
                    [record.id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            (attendee, token, hash, sealed)
        };
        desk.sync();

        let gate = Member::join(&hub, dir.path().join("gate-1"), "gate-1", &verify_only, false);
        gate.sync();
        let entry = decide(&gate.outbox.store(), &token, Direction::In);
        assert!(entry.granted && entry.attendee_id == Some(attendee.0), "{entry:?}");
        let refusal = decide(&gate.outbox.store(), "not a badge", Direction::In);
        assert_eq!((refusal.granted, refusal.reason.as_str()), (false, "malformed"));
        record_decisions(&mut gate.outbox.store(), &[entry, refusal]).unwrap();
        gate.sync();

        Venue { hub, dir, office, with_data_key, verify_only, attendee, token, id_hash, id_sealed }
    }

    /// A new station `name` joins from `bundle` and syncs once.
    fn joins(&self, name: &str, bundle: &Bundle, signs: bool) -> Member {
        let member = Member::join(&self.hub, self.dir.path().join(name), name, bundle, signs);
        member.sync();
        member
    }
}

/// What the gate's engine decides for `text` at a hall-1 lane at noon on the show's first
/// day (VIPs may enter every zone from 08:00 to 20:00), as the lane loop logs it.
fn decide(store: &Store, text: &str, direction: Direction) -> GateDecisionRecord {
    let event = &store.event().unwrap().definition;
    let local = event.event.start.and_hms_opt(12, 0, 0).unwrap();
    let now = event.timezone().from_local_datetime(&local).single().unwrap().with_timezone(&Utc);
    let knowledge = StoreKnowledge::new(store).unwrap();
    let decision =
        access::decide(text, GateContext { zone: "hall-1", direction }, local, event, &knowledge);
    GateDecisionRecord {
        id: Uuid::now_v7(),
        attendee_id: decision.holder.map(|h| h.attendee.0),
        badge_serial: decision.holder.map(|h| u32::from(h.serial)),
        gate: "north".into(),
        lane: "1".into(),
        zone: "hall-1".into(),
        direction: direction.as_str().into(),
        granted: decision.granted(),
        reason: decision.reason.as_str().into(),
        at: format_time(now),
        annulled: false,
    }
}

fn a_gate_holds_names_and_granted_passages_and_no_phone_mail_company_or_id_data<S: HubStore>(
    hub: TestHub<S>,
) {
    let venue = Venue::open(hub);
    let gate = venue.joins("gate-2", &venue.verify_only, false);

    // It still does its job: the badge verifies, the other gate's passage counts (hall 1
    // has hard anti-passback: the visitor is inside already), and the holder's name is
    // there for the verdict screen.
    let again = decide(&gate.outbox.store(), &venue.token, Direction::In);
    assert_eq!((again.reason.as_str(), again.attendee_id), ("passback", Some(venue.attendee.0)));
    let holder = registration::load(gate.outbox.store().conn(), venue.attendee).unwrap().unwrap();
    assert_eq!((holder.name.as_str(), holder.category.as_str()), (NAME, "vip"));

    let held = gate.close();
    held.set_nothing_aside();
    assert!(held.holds(NAME.as_bytes()));
    // The verdict screen greets by the name alone: the Chinese name beside it stays away.
    for secret in [
        PHONE,
        EMAIL,
        COMPANY,
        ID_NUMBER,
        "1101**********002X",
        &venue.id_hash,
        DESK_OPERATOR,
        CHINESE_NAME,
    ] {
        assert!(!held.holds(secret.as_bytes()), "{secret:?} reached a gate");
    }
    assert!(!held.holds(&venue.id_sealed), "the sealed ID number reached a gate");
    assert_eq!(held.count("SELECT count(*) FROM attendees WHERE phone <> '' OR email <> '' OR company <> '' OR id_hash IS NOT NULL OR id_sealed IS NOT NULL OR id_masked IS NOT NULL OR tags <> '[]' OR chinese_name <> ''"), 0);
    // The other gate's passage, not its refusal; no one's audit entries or print jobs.
    assert_eq!(held.count("SELECT count(*) FROM gate_decisions WHERE station <> (SELECT value FROM meta WHERE key = 'station_id')"), 1);
    assert_eq!(held.count("SELECT count(*) FROM gate_decisions WHERE granted = 0"), 0);
    assert_eq!(held.count("SELECT count(*) FROM audit WHERE actor = 'desk-op'"), 0);
    assert_eq!(held.count("SELECT count(*) FROM badges WHERE operator <> ''"), 0);
}

/// What a desk and a kiosk hold: the attendee whole (ID number sealed and hashed, never in
/// clear), the badge; no gate log, nobody else's audit entries or print jobs.
fn assert_desk_scope(held: &Holdings, venue_id_hash: &str, venue_id_sealed: &[u8]) {
    held.set_nothing_aside();
    for kept in [NAME, CHINESE_NAME, PHONE, EMAIL, COMPANY, venue_id_hash] {
        assert!(held.holds(kept.as_bytes()), "{kept:?} is missing");
    }
    assert!(held.holds(venue_id_sealed), "the sealed ID number is missing");
    assert!(!held.holds(ID_NUMBER.as_bytes()), "a clear ID number");
    assert_eq!(held.count("SELECT count(*) FROM badges"), 1);
    assert_eq!(held.count("SELECT count(*) FROM gate_decisions"), 0);
    assert_eq!(held.count("SELECT count(*) FROM audit WHERE actor = 'desk-op'"), 0);
    assert_eq!(held.count("SELECT count(*) FROM print_jobs"), 0);
}

fn a_desk_holds_attendees_with_sealed_ids_but_no_gate_log_audit_or_print_jobs<S: HubStore>(
    hub: TestHub<S>,
) {
    let venue = Venue::open(hub);
    let desk = venue.joins("desk-2", &venue.with_data_key, true);
    assert_desk_scope(&desk.close(), &venue.id_hash, &venue.id_sealed);
}

fn a_kiosk_holds_what_a_desk_holds<S: HubStore>(hub: TestHub<S>) {
    let venue = Venue::open(hub);
    let kiosk = venue.joins("kiosk-1", &venue.with_data_key, true);
    assert_desk_scope(&kiosk.close(), &venue.id_hash, &venue.id_sealed);
}

fn an_admin_station_holds_everything_for_the_dashboard<S: HubStore>(hub: TestHub<S>) {
    let venue = Venue::open(hub);
    venue.office.sync();
    let held = venue.office.close();
    held.set_nothing_aside();
    for kept in [NAME, CHINESE_NAME, PHONE, EMAIL, COMPANY, venue.id_hash.as_str(), DESK_OPERATOR] {
        assert!(held.holds(kept.as_bytes()), "{kept:?} is missing");
    }
    assert!(held.holds(&venue.id_sealed), "the sealed ID number is missing");
    assert!(!held.holds(ID_NUMBER.as_bytes()), "a clear ID number");
    // The gate's passage and its refusal, for the dashboard; the desk's audit entries.
    assert_eq!(held.count("SELECT count(*) FROM gate_decisions"), 2);
    assert_eq!(held.count("SELECT count(*) FROM gate_decisions WHERE reason = 'malformed'"), 1);
    assert!(
        held.count("SELECT count(*) FROM audit WHERE actor = 'desk-op' AND action = 'register'")
            == 1
    );
    // A station keeps only its own print queue (the hub keeps everyone's for statistics).
    assert_eq!(held.count("SELECT count(*) FROM print_jobs"), 0);
}
