//! Snapshot bootstrap (`GET /v1/snapshot`, `expo_kiosk::bootstrap`) against a real hub over
//! HTTP, on SQLite and on PostgreSQL (`EXPO_TEST_PG_URL`), with real station stores: a
//! bootstrapped station holds what a full pull gives, a cut download resumes, a corrupted
//! one changes nothing, and changes made while it streams are not lost.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use common::{attendee_record, Faults, FaultyProxy, Station, TestHub};
use expo_hub::sqlite::SqliteStore;
use expo_hub::HubStore;
use expo_kiosk::bootstrap::{bootstrap, BootstrapError, BootstrapReport};
use expo_kiosk::station_sync::StoreOutbox;
use expo_kiosk::store::Store;
use expo_sync::client::{self, ClientError, HubClient, HubTrust};
use expo_sync::protocol::{Change, Record};
use expo_sync::snapshot::SnapshotError;
use expo_sync::station::{run_once, SyncOptions};
use uuid::Uuid;

common::hub_suite!(
    a_bootstrapped_station_holds_what_a_full_pull_gives,
    a_cut_download_resumes_and_gives_the_same_state,
    a_corrupted_download_is_refused_and_changes_nothing,
    changes_made_while_the_snapshot_streams_are_not_lost,
    a_gate_bootstraps_only_what_its_role_receives,
);

const SURNAMES: [&str; 10] = ["张", "王", "李", "赵", "陈", "欧阳", "刘", "杨", "黄", "周"];
const GIVEN: [&str; 10] = ["伟", "芳", "娜娜", "晓明", "小红", "强", "磊", "静", "洋", "勇"];

/// Pushes `attendees` attendees (every third with a registration code, every fifth with
/// an ID hash), each with a badge; every seventh is reprinted, every eleventh revoked,
/// every thirteenth edited after, and a gate admits every second one. Returns the ids.
fn fill<S: HubStore>(hub: &TestHub<S>, attendees: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut changes = Vec::new();
    let mut gate_changes = Vec::new();
    let mut desk = Station::new("desk-src-0");
    let mut gate = Station::new("gate-src");
    for i in 0..attendees {
        let id = Uuid::now_v7();
        ids.push(id);
        let name = format!("{}{}", SURNAMES[i % 10], GIVEN[(i / 10) % 10]);
        let hash = format!("{i:064x}");
        let mut record = attendee_record(id, &name, (i % 5 == 0).then_some(hash.as_str()));
        record.registration_code = (i % 3 == 0).then(|| format!("R{i:06}"));
        record.company = format!("公司{}", i % 17);
        record.phone = format!("139{i:08}");
        record.source =
            if record.registration_code.is_some() { "pre_registered" } else { "walk_in" }.into();
        changes.push(desk.change(Record::Attendee(record.clone())));
        changes.push(desk.badge(id, 1, "active"));
        if i % 7 == 0 {
            changes.push(desk.badge(id, 1, "superseded"));
            changes.push(desk.badge(id, 2, "active"));
        }
        if i % 11 == 0 {
            changes.push(desk.badge(id, 1, "revoked"));
        }
        if i % 13 == 0 {
            record.title = "Director".into();
            changes.push(desk.change(Record::Attendee(record)));
        }
        if i % 2 == 0 {
            gate_changes.push(gate.gate(id, i % 11 != 0));
        }
    }
    push_all(hub, "desk-src", changes);
    push_all(hub, "gate-src", gate_changes);
    ids
}

/// Pushes `changes` from stations named `prefix-N`, each within the test hub's quota.
fn push_all<S: HubStore>(hub: &TestHub<S>, prefix: &str, changes: Vec<Change>) {
    for (n, share) in changes.chunks(1500).enumerate() {
        let name = format!("{prefix}-{n}");
        let client = hub.client(&name);
        let share: Vec<Change> = share
            .iter()
            .cloned()
            .map(|mut c| {
                c.station = name.clone();
                c.hlc.station = name.clone();
                c
            })
            .collect();
        for batch in share.chunks(200) {
            let answer = client.push(batch).unwrap();
            assert!(answer.refused.is_empty(), "{:?}", answer.refused);
        }
    }
}

/// A new station (its own store) enrolled with the hub (as a desk, or a gate for a name
/// `gate-…`), and its client of `url` (the hub, or a proxy in front of it).
fn new_desk<S: HubStore>(
    hub: &TestHub<S>,
    name: &str,
    url: &str,
) -> (tempfile::TempDir, Store, HubClient) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let code = hub.station_code(name);
    let token =
        client::enrol(&hub.url, &code, store.station_id(), &HubTrust::default()).unwrap().token;
    (dir, store, HubClient::new(url, &token))
}

/// What a station holds of the shared data, table by table, as text.
fn station_state(store: &Store) -> Vec<(String, Vec<Vec<String>>)> {
    let queries = [
        "SELECT id, registration_code, name, company, title, category, phone, email, country, \
         id_type, id_masked, id_hash, hex(id_sealed), source, consent, tags, created_at, updated_at, hlc \
         FROM attendees ORDER BY id",
        "SELECT * FROM badges ORDER BY attendee_id, serial",
        "SELECT t.term, a.id FROM search_terms t JOIN attendees a ON a.local_key = t.attendee_key \
         ORDER BY 1, 2",
        "SELECT * FROM company_terms ORDER BY 1, 2",
        "SELECT * FROM gate_decisions ORDER BY id",
        "SELECT * FROM stats_attendees ORDER BY 1, 2",
        "SELECT * FROM stats_registrations ORDER BY 1, 2, 3",
        "SELECT * FROM public_keys ORDER BY key_id",
        "SELECT * FROM stats_badges ORDER BY 1, 2, 3, 4",
    ];
    queries
        .iter()
        .map(|sql| {
            let mut statement = store.conn().prepare(sql).unwrap();
            let columns = statement.column_count();
            let rows = statement
                .query_map([], |row| {
                    (0..columns)
                        .map(|i| row.get_ref(i).map(|v| format!("{v:?}")))
                        .collect::<Result<Vec<_>, _>>()
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (sql.to_string(), rows)
        })
        .collect()
}

/// A station whose clock is past every change [`fill`] made.
fn clock_after_fill(name: &str) -> Station {
    let mut station = Station::new(name);
    for _ in 0..20_000 {
        station.tick();
    }
    station
}

fn count(store: &Store, sql: &str) -> i64 {
    store.conn().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A desk that pulled every change, one by one, from the start.
fn fully_pulled<S: HubStore>(hub: &TestHub<S>) -> (tempfile::TempDir, StoreOutbox) {
    fully_pulled_as(hub, "desk-pulled")
}

/// A station named `name` (its role by the name) that pulled every change from the start.
fn fully_pulled_as<S: HubStore>(hub: &TestHub<S>, name: &str) -> (tempfile::TempDir, StoreOutbox) {
    let (dir, store, client) = new_desk(hub, name, &hub.url);
    let outbox = StoreOutbox::new(store);
    run_once(&client, &outbox, SyncOptions::default()).unwrap();
    (dir, outbox)
}

/// Bootstraps `store` through `client`, then pulls whatever came after.
fn bootstrapped(store: &mut Store, client: &HubClient) -> BootstrapReport {
    let report = bootstrap(store, client, &mut |_| {}).unwrap();
    assert_eq!(
        count(store, "SELECT CAST(value AS INTEGER) FROM sync_state WHERE key = 'pull_cursor'"),
        report.cursor
    );
    report
}

fn assert_same_state(bootstrapped: &Store, pulled: &Store) {
    let (ours, theirs) = (station_state(bootstrapped), station_state(pulled));
    for ((sql, a), (_, b)) in ours.iter().zip(&theirs) {
        assert_eq!(a.len(), b.len(), "{sql}");
        assert!(a == b, "{sql}: the bootstrapped station differs from the one that pulled");
    }
}

fn a_bootstrapped_station_holds_what_a_full_pull_gives<S: HubStore>(hub: TestHub<S>) {
    let ids = fill(&hub, 400);
    let (_pulled_dir, pulled) = fully_pulled(&hub);

    let (_dir, mut store, desk) = new_desk(&hub, "desk-new", &hub.url);
    let report = bootstrapped(&mut store, &desk);
    assert_eq!(report.new_attendees, 400);
    assert_eq!(report.set_aside, 0);
    assert_eq!(report.resumed, 0);
    assert_same_state(&store, &pulled.store());
    assert!(count(&store, "SELECT count(*) FROM search_terms") > 400);

    // Searchable at once, by name, pinyin and phone tail.
    for query in ["欧阳娜娜", "ouyang", "oynn", "00000007"] {
        let hits = expo_kiosk::registration::search::search(store.conn(), query, 10, &[]).unwrap();
        assert!(!hits.is_empty(), "nothing found for {query:?}");
    }
    // From the cursor on, an ordinary pull finds nothing it did not have.
    let outbox = StoreOutbox::new(store);
    let summary = run_once(&desk, &outbox, SyncOptions::default()).unwrap();
    assert_eq!(summary.pulled, 0);
    // A station that holds some of it already takes the rest by the conflict rules.
    let desk_src = hub.client("desk-src-again");
    let mut later = clock_after_fill("desk-src-again");
    let mut edited = attendee_record(ids[1], "王芳", None);
    edited.title = "Edited later".into();
    desk_src.push(&[later.change(Record::Attendee(edited))]).unwrap();
    let again = bootstrap(&mut outbox.store(), &desk, &mut |_| {}).unwrap();
    assert_eq!(again.new_attendees, 0);
    let title: String = outbox
        .store()
        .conn()
        .query_row("SELECT title FROM attendees WHERE id = ?1", [ids[1].to_string()], |r| r.get(0))
        .unwrap();
    assert_eq!(title, "Edited later");
}

fn a_cut_download_resumes_and_gives_the_same_state<S: HubStore>(hub: TestHub<S>) {
    fill(&hub, 1500);
    let (_pulled_dir, pulled) = fully_pulled(&hub);
    let proxy = FaultyProxy::start(hub.addr);
    // Each answer is cut after about a chunk and a half.
    proxy.set(Faults { cut_answer_after_bytes: Some(900_000), ..Faults::default() });
    let (_dir, mut store, desk) = new_desk(&hub, "desk-new", &proxy.url);

    let report = bootstrapped(&mut store, &desk);

    assert!(report.resumed >= 2, "{report:?}");
    assert_same_state(&store, &pulled.store());
}

fn a_corrupted_download_is_refused_and_changes_nothing<S: HubStore>(hub: TestHub<S>) {
    fill(&hub, 200);
    let proxy = FaultyProxy::start(hub.addr);
    // One flipped bit, inside the first chunk of every answer.
    proxy.set(Faults { flip_answer_byte: Some(20_000), ..Faults::default() });
    let (_dir, mut store, desk) = new_desk(&hub, "desk-new", &proxy.url);
    let before = station_state(&store);
    let outbox_before = count(&store, "SELECT count(*) FROM outbox");

    let error = bootstrap(&mut store, &desk, &mut |_| {}).unwrap_err();

    assert!(
        matches!(error, BootstrapError::Hub(ClientError::Snapshot(SnapshotError::Corrupt(_)))),
        "{error:?}"
    );
    assert_eq!(station_state(&store), before);
    assert_eq!(count(&store, "SELECT count(*) FROM sync_state WHERE key = 'pull_cursor'"), 0);
    assert_eq!(
        count(&store, "SELECT count(*) FROM outbox"),
        outbox_before,
        "not even an audit entry"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM sync_set_aside"), 0);
}

fn changes_made_while_the_snapshot_streams_are_not_lost<S: HubStore>(hub: TestHub<S>) {
    let ids = fill(&hub, 1500);
    // The first attendee in key order streams in the first chunk.
    let first = *ids.iter().min_by_key(|id| format!("attendee:{id}")).unwrap();
    let (_dir, mut store, desk) = new_desk(&hub, "desk-new", &hub.url);
    let other_desk = hub.client("desk-other");
    let mut other = clock_after_fill("desk-other");
    let late = Uuid::now_v7();
    let mut edited = attendee_record(first, "赵伟", None);
    edited.title = "Changed while streaming".into();
    let during = vec![
        other.change(Record::Attendee(edited)),
        other.badge(first, 1, "revoked"),
        other.change(Record::Attendee(attendee_record(late, "周勇", None))),
    ];
    let mut pushed = false;

    let report = bootstrap(&mut store, &desk, &mut |_| {
        if !pushed {
            pushed = true;
            other_desk.push(&during).unwrap();
        }
    })
    .unwrap();
    assert!(pushed);
    let outbox = StoreOutbox::new(store);
    run_once(&desk, &outbox, SyncOptions::default()).unwrap();

    let store = outbox.store();
    let title: String = store
        .conn()
        .query_row("SELECT title FROM attendees WHERE id = ?1", [first.to_string()], |r| r.get(0))
        .unwrap();
    assert_eq!(title, "Changed while streaming", "cursor {}", report.cursor);
    let status: String = store
        .conn()
        .query_row(
            "SELECT status FROM badges WHERE attendee_id = ?1 AND serial = 1",
            [first.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "revoked");
    assert_eq!(count(&store, &format!("SELECT count(*) FROM attendees WHERE id = '{late}'")), 1);
    drop(store);
    let (_pulled_dir, pulled) = fully_pulled(&hub);
    assert_same_state(&outbox.store(), &pulled.store());
}

fn a_gate_bootstraps_only_what_its_role_receives<S: HubStore>(hub: TestHub<S>) {
    fill(&hub, 300);
    let (_pulled_dir, pulled) = fully_pulled_as(&hub, "gate-pulled");
    let (_dir, mut store, gate) = new_desk(&hub, "gate-new", &hub.url);

    bootstrapped(&mut store, &gate);

    assert_same_state(&store, &pulled.store());
    assert_eq!(count(&store, "SELECT count(*) FROM attendees"), 300);
    for column in ["phone", "email", "company", "title"] {
        let filled = format!("SELECT count(*) FROM attendees WHERE {column} <> ''");
        assert_eq!(count(&store, &filled), 0, "{column} reached a gate");
    }
    assert_eq!(count(&store, "SELECT count(*) FROM attendees WHERE id_hash IS NOT NULL"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM gate_decisions WHERE NOT granted"), 0);
    assert!(count(&store, "SELECT count(*) FROM gate_decisions") > 0);
}

/// A hub from before `current_state` kept the winning change's `seq` is migrated when it
/// opens: it fills the column for every entity, so its snapshot gives a new desk what a
/// full pull gives, and changes pushed after the migration reach the snapshot too.
fn a_hub_from_before_winning_seqs_snapshots_what_a_full_pull_gives<S: HubStore>(
    earlier: &TestHub<S>,
    forget_winning_seqs: impl FnOnce(),
    reopen: impl FnOnce() -> TestHub<S>,
) {
    let ids = fill(earlier, 300);
    forget_winning_seqs();
    let hub = reopen();
    let mut later = clock_after_fill("desk-later");
    let mut edited = attendee_record(ids[2], "李伟", None);
    edited.title = "Edited after the migration".into();
    hub.client("desk-later").push(&[later.change(Record::Attendee(edited))]).unwrap();
    let (_pulled_dir, pulled) = fully_pulled(&hub);

    let (_dir, mut store, desk) = new_desk(&hub, "desk-new", &hub.url);
    let report = bootstrapped(&mut store, &desk);

    assert_eq!(report.new_attendees, 300);
    assert_same_state(&store, &pulled.store());
    assert_eq!(
        count(&store, "SELECT count(*) FROM attendees WHERE title = 'Edited after the migration'"),
        1
    );
}

#[test]
fn sqlite_a_hub_from_before_winning_seqs_snapshots_what_a_full_pull_gives() {
    let earlier = common::sqlite_hub();
    let path = earlier.sqlite_path().unwrap();
    let forget = || {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch("ALTER TABLE current_state DROP COLUMN seq").unwrap();
    };
    // A second hub on the same file, as after an upgrade (the first one stays idle).
    let reopen = || {
        let store = SqliteStore::open(&path).unwrap();
        TestHub::start(common::runtime(), store, common::small_limits())
    };
    a_hub_from_before_winning_seqs_snapshots_what_a_full_pull_gives(&earlier, forget, reopen);
    let connection = rusqlite::Connection::open(&path).unwrap();
    let unfilled: i64 = connection
        .query_row("SELECT count(*) FROM current_state WHERE seq IS NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(unfilled, 0);
}

#[test]
fn postgres_a_hub_from_before_winning_seqs_snapshots_what_a_full_pull_gives() {
    let Some(server) = common::postgres_url() else { return };
    let runtime = common::runtime();
    let url = common::fresh_postgres_url(&runtime, &server);
    let earlier = common::postgres_hub_on(&url);
    let forget = || {
        runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            let driver = tokio::spawn(connection);
            client.batch_execute("ALTER TABLE current_state DROP COLUMN seq").await.unwrap();
            drop(client);
            let _ = driver.await;
        });
    };
    let reopen = || common::postgres_hub_on(&url);
    a_hub_from_before_winning_seqs_snapshots_what_a_full_pull_gives(&earlier, forget, reopen);
}
