//! The hub test suite, run against SQLite and against PostgreSQL (`EXPO_TEST_PG_URL`).
//! Everything goes over HTTP on 127.0.0.1 to a real in-process hub.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Faults, FaultyProxy, MemoryOutbox, Station, TestHub};
use expo_sync::client::{self, ClientError, HubClient, HubTrust};
use expo_sync::hub::export::{export, ExportFormat};
use expo_sync::hub::HubStore;
use expo_sync::protocol::{
    ConflictsResponse, ErrorBody, EventRecord, PublicKeyRecord, Record, PROTOCOL_HEADER,
};
use expo_sync::station::{run_once, SyncOptions, SyncWorker, WorkerOptions};
use uuid::Uuid;

macro_rules! hub_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $test() { super::$test(super::common::sqlite_hub()) })*
        }
        mod postgres {
            $(#[test] fn $test() {
                if let Some(hub) = super::common::postgres_hub() { super::$test(hub) }
            })*
        }
    };
}

hub_suite!(
    enrolment_codes_work_once_and_revocation_is_immediate,
    push_is_idempotent_by_change_id,
    pull_pages_other_stations_changes_in_order,
    every_bad_request_gets_a_json_error,
    conflict_rules_hold_at_the_hub,
    event_definition_and_keys_are_distributed,
    health_and_metrics,
    export_writes_current_state_without_sealed_ids,
    offline_registrations_reach_every_station_exactly_once,
    sync_resumes_after_cut_connections_and_lost_acks,
    background_worker_rides_out_a_network_outage,
);

fn refused(result: Result<impl std::fmt::Debug, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Refused { status, body }) => (status, body.error),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn enrolment_codes_work_once_and_revocation_is_immediate<S: HubStore>(hub: TestHub<S>) {
    let code = hub.station_code("desk-1");
    let typed_back = code.to_lowercase().replace('-', " ");
    let enrolled = client::enrol(&hub.url, &typed_back, &HubTrust::default()).unwrap();
    assert_eq!(enrolled.station, "desk-1");
    assert_eq!(
        refused(client::enrol(&hub.url, &code, &HubTrust::default())),
        (403, "invalid_enrolment_code".into())
    );
    assert_eq!(refused(client::enrol(&hub.url, "AAAA-BBBB-CCCC", &HubTrust::default())).0, 403);

    let desk = HubClient::new(&hub.url, &enrolled.token);
    desk.pull(0, 10).unwrap();
    hub.runtime.block_on(hub.store.revoke_station("desk-1")).unwrap();
    assert_eq!(refused(desk.pull(0, 10)), (403, "station_revoked".into()));
    let mut station = Station::new("desk-1");
    assert_eq!(refused(desk.push(&[station.badge(Uuid::now_v7(), 1, "active")])).0, 403);

    // A name is enrolled once; a revoked station cannot re-enrol with a stale code.
    assert!(hub
        .runtime
        .block_on(expo_sync::hub::enrolment::add_station(hub.store.as_ref(), "desk-1"))
        .is_err());
    assert!(hub.runtime.block_on(hub.store.revoke_station("nobody")).is_err());
}

fn push_is_idempotent_by_change_id<S: HubStore>(hub: TestHub<S>) {
    let desk = hub.client("desk-1");
    let gate = hub.client("gate-1");
    let mut station = Station::new("desk-1");
    let batch: Vec<_> =
        (0..50).map(|i| station.attendee(Uuid::now_v7(), &format!("Person {i}"), None)).collect();

    let first = desk.push(&batch).unwrap();
    assert_eq!((first.new, first.acked.len()), (50, 50));
    for _ in 0..3 {
        let replay = desk.push(&batch).unwrap();
        assert_eq!((replay.new, replay.acked.len()), (0, 50));
    }
    // A replayed subset, reversed, with a repeat inside one batch and one new change.
    let mut mixed: Vec<_> = batch[10..20].iter().rev().cloned().collect();
    mixed.push(batch[12].clone());
    let fresh = station.badge(Uuid::now_v7(), 1, "active");
    mixed.push(fresh.clone());
    let answer = desk.push(&mixed).unwrap();
    assert_eq!(answer.new, 1);
    assert_eq!(answer.acked.iter().collect::<HashSet<_>>().len(), 11);

    let pulled = gate.pull(0, 500).unwrap();
    assert_eq!(pulled.changes.len(), 51);
    let ids: HashSet<_> = pulled.changes.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 51);
    assert!(ids.contains(&fresh.id));
    assert_eq!(pulled.changes[..50], batch[..], "pull hands back exactly what was pushed");
    assert_eq!(hub.runtime.block_on(hub.store.stats()).unwrap().changes, 51);
}

fn pull_pages_other_stations_changes_in_order<S: HubStore>(hub: TestHub<S>) {
    let desk = hub.client("desk-1");
    let gate = hub.client("gate-1");
    let mut station = Station::new("desk-1");
    let changes: Vec<_> = (0..1200).map(|_| station.gate(Uuid::now_v7(), true)).collect();
    for chunk in changes.chunks(300) {
        desk.push(chunk).unwrap();
    }

    let mut cursor = 0;
    let mut received = Vec::new();
    let mut pages = 0;
    loop {
        let page = gate.pull(cursor, 500).unwrap();
        assert!(page.next_cursor >= cursor);
        cursor = page.next_cursor;
        received.extend(page.changes.into_iter().map(|c| c.id));
        pages += 1;
        if !page.more {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(received, changes.iter().map(|c| c.id).collect::<Vec<_>>());
    let again = gate.pull(cursor, 500).unwrap();
    assert!(again.changes.is_empty() && !again.more);
    assert_eq!(again.next_cursor, cursor);

    // The origin never gets its own changes back, and its cursor skips past them.
    let own = desk.pull(0, 500).unwrap();
    assert!(own.changes.is_empty() && !own.more);
    assert_eq!(own.next_cursor, cursor);
    // A limit above the hub's maximum is clamped, not refused.
    assert_eq!(gate.pull(0, 1_000_000).unwrap().changes.len(), 500);
}

/// Sends a raw request and returns the status with the parsed error body.
fn raw(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> (u16, ErrorBody) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body.map(<[u8]>::to_vec).unwrap_or_default()).unwrap();
    let mut response = agent.run(request).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let body: ErrorBody = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {url}: not an ErrorBody ({e}): {text}"));
    (status, body)
}

/// What is sent (label, URL, headers, body: POST when some, else GET), and the
/// expected status and error code.
type BadRequest<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, Option<Vec<u8>>, u16, &'a str);

fn every_bad_request_gets_a_json_error<S: HubStore>(hub: TestHub<S>) {
    let token = hub.enrolled("desk-1");
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    let push = format!("{}/v1/push", hub.url);
    let mut station = Station::new("desk-1");
    let good = serde_json::to_vec(&serde_json::json!({
        "protocol": 1, "changes": [station.badge(Uuid::now_v7(), 1, "active")]
    }))
    .unwrap();

    let cases: Vec<BadRequest> = vec![
        ("truncated JSON", push.clone(), auth.to_vec(), Some(good[..good.len() / 2].to_vec()), 400, "malformed_json"),
        ("garbage", push.clone(), auth.to_vec(), Some(b"\x00\xffnot json".to_vec()), 400, "malformed_json"),
        ("wrong body version", push.clone(), auth.to_vec(),
            Some(br#"{"protocol": 99, "changes": []}"#.to_vec()), 400, "protocol_version"),
        ("wrong header version", push.clone(), [auth.to_vec(), vec![(PROTOCOL_HEADER, "2")]].concat(),
            Some(good.clone()), 400, "protocol_version"),
        ("unknown record kind", push.clone(), auth.to_vec(),
            Some(br#"{"protocol":1,"changes":[{"id":"00000000-0000-0000-0000-000000000001","station":"x","hlc":"000000000000001-0000000000-x","record":{"kind":"spaceship","data":{}}}]}"#.to_vec()),
            400, "malformed_json"),
        ("no token", push.clone(), vec![], Some(good.clone()), 401, "unauthorized"),
        ("bad token", push.clone(), vec![("authorization", "Bearer 00ff")], Some(good.clone()), 401, "unauthorized"),
        ("not bearer", push.clone(), vec![("authorization", "Basic eDp5")], Some(good.clone()), 401, "unauthorized"),
        ("oversized body", push.clone(), auth.to_vec(), Some(vec![b' '; 300 * 1024]), 413, "body_too_large"),
        ("bad cursor", format!("{}/v1/pull?since=yesterday", hub.url), auth.to_vec(), None, 400, "bad_query"),
        ("unknown route", format!("{}/v2/everything", hub.url), auth.to_vec(), None, 404, "not_found"),
        ("wrong method", format!("{}/v1/push", hub.url), auth.to_vec(), None, 405, "method_not_allowed"),
        ("enrol garbage", format!("{}/v1/enrol", hub.url), vec![], Some(b"{\"code\":".to_vec()), 400, "malformed_json"),
    ];
    for (what, url, headers, body, status, code) in cases {
        let method = if body.is_some() { "POST" } else { "GET" };
        let (got_status, error) = raw(method, &url, &headers, body.as_deref());
        assert_eq!((got_status, error.error.as_str()), (status, code), "{what}: {}", error.message);
        assert!(!error.message.is_empty(), "{what}");
    }
    // Nothing above reached the store, and the good request still works.
    assert_eq!(hub.runtime.block_on(hub.store.stats()).unwrap().changes, 0);
    assert_eq!(raw_ok("POST", &push, &auth, &good), 200);
}

fn raw_ok(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    agent.run(request.body(body.to_vec()).unwrap()).unwrap().status().as_u16()
}

fn conflict_rules_hold_at_the_hub<S: HubStore>(hub: TestHub<S>) {
    let desk1 = hub.client("desk-1");
    let desk2 = hub.client("desk-2");
    let (mut s1, mut s2) = (Station::new("desk-1"), Station::new("desk-2"));
    let attendee = Uuid::now_v7();

    // Last writer wins by HLC, whatever the arrival order: desk-2's later edit arrives first.
    let older = s1.attendee(attendee, "Old Name", None);
    s2.tick();
    s2.tick();
    let newer = s2.attendee(attendee, "New Name", None);
    desk2.push(&[newer]).unwrap();
    desk1.push(&[older]).unwrap();

    // Revocation wins over a later "active" status of the same badge.
    let revoked = s1.badge(attendee, 1, "revoked");
    let reactivated = s2.badge(attendee, 1, "active");
    assert!(reactivated.hlc > revoked.hlc);
    desk1.push(&[revoked]).unwrap();
    desk2.push(&[reactivated]).unwrap();

    // Gate decisions are append-only: two decisions, two rows.
    desk1.push(&[s1.gate(attendee, true), s1.gate(attendee, false)]).unwrap();

    // The same ID number registered as a walk-in at both desks is reported, both kept.
    let (walk_in_1, walk_in_2) = (Uuid::now_v7(), Uuid::now_v7());
    desk1.push(&[s1.attendee(walk_in_1, "Li Wei", Some("hash-li"))]).unwrap();
    desk2.push(&[s2.attendee(walk_in_2, "LI WEI", Some("hash-li"))]).unwrap();
    // A later edit of one of them reports nothing new.
    desk2.push(&[s2.attendee(walk_in_2, "Li Wei", Some("hash-li"))]).unwrap();

    let page = |kind| hub.runtime.block_on(hub.store.current_page(kind, "", 100)).unwrap();
    let attendees = page("attendee");
    assert_eq!(attendees.len(), 3, "duplicates are kept, not merged silently");
    let named: Vec<_> = attendees
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Attendee(a) if a.id == attendee => Some(a.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(named, ["New Name"]);
    let badges = page("badge");
    assert_eq!(badges.len(), 1);
    assert!(matches!(&badges[0].1, Record::Badge(b) if b.status == "revoked"));
    assert_eq!(page("gate_decision").len(), 2);

    let conflicts: ConflictsResponse = {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let token = hub.enrolled("office");
        agent
            .get(format!("{}/v1/conflicts", hub.url))
            .header("authorization", format!("Bearer {token}"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    };
    assert_eq!(conflicts.conflicts.len(), 1);
    let pair = &conflicts.conflicts[0];
    let expected = if walk_in_1 < walk_in_2 {
        (walk_in_1, "desk-1", walk_in_2, "desk-2")
    } else {
        (walk_in_2, "desk-2", walk_in_1, "desk-1")
    };
    assert_eq!(
        (pair.attendee_a, pair.station_a.as_str(), pair.attendee_b, pair.station_b.as_str()),
        expected
    );
    assert_eq!(pair.id_hash, "hash-li");
}

fn event_definition_and_keys_are_distributed<S: HubStore>(hub: TestHub<S>) {
    let desk1 = hub.client("desk-1");
    let desk2 = hub.client("desk-2");
    assert_eq!(desk1.event().unwrap(), None);
    let key = |station: &str, key_id| PublicKeyRecord {
        key_id,
        station: station.into(),
        public_key: "ab".repeat(32),
    };
    let event = |definition: &str, keys| EventRecord {
        event_id: "expo-2025".into(),
        definition: definition.into(),
        public_keys: keys,
    };
    desk1.put_event(&event("name = \"Expo\"", vec![key("desk-1", 1)])).unwrap();
    let merged = desk2.put_event(&event("name = \"Expo 2025\"", vec![key("desk-2", 1)])).unwrap();
    assert_eq!(merged.public_keys.len(), 2);

    let gate = hub.client("gate-1");
    let seen = gate.event().unwrap().unwrap();
    assert_eq!(seen.definition, "name = \"Expo 2025\"");
    let stations: Vec<_> = seen.public_keys.iter().map(|k| k.station.as_str()).collect();
    assert_eq!(stations, ["desk-1", "desk-2"]);
    let nameless = EventRecord { event_id: " ".into(), ..event("x", vec![]) };
    assert_eq!(refused(gate.put_event(&nameless)), (400, "invalid_event".into()));
}

fn health_and_metrics<S: HubStore>(hub: TestHub<S>) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut health = agent.get(format!("{}/healthz", hub.url)).call().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.body_mut().read_to_string().unwrap(), "ok\n");

    let desk = hub.client("desk-1");
    let mut station = Station::new("desk-1");
    let batch =
        [station.badge(Uuid::now_v7(), 1, "active"), station.badge(Uuid::now_v7(), 1, "active")];
    desk.push(&batch).unwrap();
    desk.push(&batch).unwrap();
    let token = hub.enrolled("office");
    let metrics = |agent: &ureq::Agent| -> String {
        agent
            .get(format!("{}/metrics", hub.url))
            .header("authorization", format!("Bearer {token}"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    // Metrics require a credential: they reveal the venue's activity.
    let anonymous = agent.get(format!("{}/metrics", hub.url)).call().unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let text = metrics(&agent);
    for line in [
        "expo_hub_changes_stored 2",
        "expo_hub_stations 2",
        "expo_hub_pushes_total 2",
        "expo_hub_changes_received_total 4",
        "expo_hub_error_responses_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
}

fn export_writes_current_state_without_sealed_ids<S: HubStore>(hub: TestHub<S>) {
    let desk = hub.client("desk-1");
    let mut station = Station::new("desk-1");
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    desk.push(&[
        station.attendee(a, "Ada Lovelace", Some("hash-ada")),
        station.attendee(b, "Grace Hopper", None),
        station.attendee(a, "Ada King", Some("hash-ada")),
        station.badge(a, 1, "active"),
        station.gate(a, true),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv_files =
        hub.runtime.block_on(export(hub.store.as_ref(), ExportFormat::Csv, dir.path())).unwrap();
    let rows: Vec<_> = csv_files.iter().map(|f| f.rows).collect();
    assert_eq!(rows, [2, 1, 1]);
    let attendees = std::fs::read_to_string(dir.path().join("attendees.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(attendees.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert!(header.iter().any(|h| h == "id_masked"));
    assert!(!header.iter().any(|h| h == "id_sealed" || h == "id_hash"));
    assert!(attendees.contains("Ada King") && !attendees.contains("Ada Lovelace"));
    assert!(attendees.contains("vip;press"));
    assert!(!attendees.contains("c2VhbGVk") && !attendees.contains("hash-ada"));

    hub.runtime.block_on(export(hub.store.as_ref(), ExportFormat::Jsonl, dir.path())).unwrap();
    let gates = std::fs::read_to_string(dir.path().join("gate_decisions.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(gates.lines().next().unwrap()).unwrap();
    assert_eq!(line["attendee_id"], a.to_string());
    assert_eq!(line["granted"], true);
    let badges = std::fs::read_to_string(dir.path().join("badges.jsonl")).unwrap();
    assert_eq!(badges.lines().count(), 1);
}

fn offline_registrations_reach_every_station_exactly_once<S: HubStore>(hub: TestHub<S>) {
    let names = ["desk-1", "desk-2", "gate-1"];
    let mut made = Vec::new();
    let stations: Vec<_> = names
        .iter()
        .map(|name| {
            let mut station = Station::new(name);
            let changes: Vec<_> = (0..120)
                .map(|i| station.attendee(Uuid::now_v7(), &format!("{name} {i}"), None))
                .collect();
            made.push(changes.clone());
            (hub.client(name), MemoryOutbox::with(changes))
        })
        .collect();
    let options = SyncOptions { push_batch: 50, pull_page: 70 };
    // Two rounds each: the first stations to sync see the later ones only in round two.
    for _ in 0..2 {
        for (client, outbox) in &stations {
            let summary = run_once(client, outbox, options).unwrap();
            assert_eq!(summary.pending_after, 0);
        }
    }
    for (index, (_, outbox)) in stations.iter().enumerate() {
        outbox.state(|state| {
            assert!(state.outbox.is_empty());
            let expected: HashSet<Uuid> = made
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .flat_map(|(_, c)| c.iter().map(|c| c.id))
                .collect();
            assert_eq!(state.remote_ids.keys().copied().collect::<HashSet<_>>(), expected);
            assert!(state.remote_ids.values().all(|&n| n == 1), "a change was applied twice");
        });
    }
    assert_eq!(hub.runtime.block_on(hub.store.stats()).unwrap().changes, 360);
}

fn sync_resumes_after_cut_connections_and_lost_acks<S: HubStore>(hub: TestHub<S>) {
    let proxy = FaultyProxy::start(hub.addr);
    let token = hub.enrolled("desk-1");
    let desk = HubClient::new(&proxy.url, &token);
    let mut station = Station::new("desk-1");
    let changes: Vec<_> =
        (0..400).map(|i| station.attendee(Uuid::now_v7(), &format!("P {i}"), None)).collect();
    let outbox = MemoryOutbox::with(changes.clone());
    let options = SyncOptions { push_batch: 100, pull_page: 100 };

    // The network cuts every connection 20 kB into its request: mid-batch.
    proxy.set(Faults { cut_after_bytes: Some(20_000), ..Faults::default() });
    let error = run_once(&desk, &outbox, options).unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert_eq!(outbox.state(|s| s.outbox.len()), 400);

    // The hub stores a batch but the station dies before recording the acknowledgement.
    proxy.set(Faults::default());
    outbox.fail_next_ack.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(run_once(&desk, &outbox, options).is_err());
    assert_eq!(outbox.state(|s| s.outbox.len()), 400);

    // Slow but working network: the round resumes and replays the stored batch.
    proxy.set(Faults { delay: Duration::from_millis(1), ..Faults::default() });
    let summary = run_once(&desk, &outbox, options).unwrap();
    assert_eq!((summary.pushed, summary.new_at_hub, summary.pending_after), (400, 300, 0));

    // Duplicated deliveries: the whole history again, straight to the hub.
    let direct = HubClient::new(&hub.url, &token);
    for chunk in changes.chunks(100) {
        assert_eq!(direct.push(chunk).unwrap().new, 0);
    }
    // The final state equals a fault-free run: every change exactly once, in order.
    let gate = hub.client("gate-1");
    let got: Vec<Uuid> = gate.pull(0, 500).unwrap().changes.iter().map(|c| c.id).collect();
    assert_eq!(got, changes.iter().map(|c| c.id).collect::<Vec<_>>());
    assert!(proxy.connections.load(std::sync::atomic::Ordering::SeqCst) > 1);
}

fn background_worker_rides_out_a_network_outage<S: HubStore>(hub: TestHub<S>) {
    let proxy = FaultyProxy::start(hub.addr);
    let token = hub.enrolled("desk-1");
    let mut station = Station::new("desk-1");
    let outbox = std::sync::Arc::new(MemoryOutbox::with(
        (0..30).map(|i| station.attendee(Uuid::now_v7(), &format!("W {i}"), None)),
    ));
    proxy.set(Faults { refuse: true, ..Faults::default() });
    let options = WorkerOptions {
        interval: Duration::from_millis(50),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        sync: SyncOptions::default(),
    };
    let worker = SyncWorker::spawn(
        HubClient::new(&proxy.url, &token),
        std::sync::Arc::clone(&outbox),
        options,
    )
    .unwrap();
    let status = wait_for(&worker, |s| s.consecutive_failures >= 2);
    assert_eq!(status.pending, 30);
    assert!(status.last_error.is_some() && status.last_success.is_none());

    proxy.set(Faults::default());
    worker.sync_now();
    let status = wait_for(&worker, |s| s.last_success.is_some());
    assert_eq!(
        (status.pending, status.last_error.as_deref(), status.consecutive_failures),
        (0, None, 0)
    );

    // New local work while online is pushed by the next periodic round.
    outbox.add([station.badge(Uuid::now_v7(), 1, "active")]);
    wait_for(&worker, |s| s.last_round.is_some_and(|r| r.pushed == 1));
    worker.stop();
    assert_eq!(hub.runtime.block_on(hub.store.stats()).unwrap().changes, 31);
}

fn wait_for(
    worker: &SyncWorker,
    done: impl Fn(&expo_sync::station::SyncStatus) -> bool,
) -> expo_sync::station::SyncStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = worker.status();
        if done(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "worker never reached the state: {status:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
