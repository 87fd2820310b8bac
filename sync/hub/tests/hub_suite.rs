//! The hub test suite, run against SQLite and against PostgreSQL (`EXPO_TEST_PG_URL`).
//! Everything goes over HTTP on 127.0.0.1 to a real in-process hub.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Faults, FaultyProxy, MemoryOutbox, Station, TestHub};
use expo_hub::export::{export, ExportFormat};
use expo_hub::HubStore;
use expo_sync::client::{self, ClientError, HubClient, HubTrust};
use expo_sync::protocol::{
    Change, ConflictsResponse, ErrorBody, EventRecord, PublicKeyRecord, Record, PROTOCOL_HEADER,
    PROTOCOL_VERSION,
};
use expo_sync::station::{
    run_once, run_once_with_progress, SyncOptions, SyncWorker, WorkerOptions,
};
use expo_sync::StationRole;
use uuid::Uuid;

common::hub_suite!(
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
    a_station_catching_up_pushes_what_it_makes_between_pull_pages,
    a_round_pushes_what_was_pending_and_goes_on_to_pull_while_the_station_keeps_busy,
    background_worker_rides_out_a_network_outage,
    attack_1_a_gate_credential_plants_no_key_and_no_event,
    attack_2_a_gate_revokes_nobody_and_serials_stay_in_range,
    attack_3_a_far_future_clock_is_refused,
    attack_4_a_malformed_change_is_refused_alone_and_sync_goes_on,
    attack_5_huge_changes_are_refused_and_pull_pages_are_bounded_by_bytes,
    attack_6_a_change_claiming_another_station_is_refused,
    attack_7_forged_audit_and_a_reused_id_change_nothing,
    signing_keys_are_endorsed_once_and_revoked_with_their_station,
    a_station_over_its_quota_pushes_no_more,
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
    let enrolled = client::enrol(&hub.url, &typed_back, "desk-1", &HubTrust::default()).unwrap();
    assert_eq!(enrolled.station, "desk-1");
    assert_eq!(enrolled.role, Some(StationRole::Desk));
    assert_eq!(
        refused(client::enrol(&hub.url, &code, "desk-1", &HubTrust::default())),
        (403, "invalid_enrolment_code".into())
    );
    assert_eq!(
        refused(client::enrol(&hub.url, "AAAA-BBBB-CCCC", "desk-1", &HubTrust::default())).0,
        403
    );

    let desk = HubClient::new(&hub.url, &enrolled.token);
    desk.pull(0, 10).unwrap();
    hub.runtime.block_on(hub.store.revoke_station("desk-1")).unwrap();
    assert_eq!(refused(desk.pull(0, 10)), (403, "station_revoked".into()));
    let mut station = Station::new("desk-1");
    assert_eq!(refused(desk.push(&[station.badge(Uuid::now_v7(), 1, "active")])).0, 403);

    // A name is enrolled once; a revoked station cannot re-enrol with a stale code.
    assert!(hub
        .runtime
        .block_on(expo_hub::enrolment::add_station(hub.store.as_ref(), "desk-1", StationRole::Desk))
        .is_err());
    assert!(hub.runtime.block_on(hub.store.revoke_station("nobody")).is_err());
}

fn push_is_idempotent_by_change_id<S: HubStore>(hub: TestHub<S>) {
    let desk = hub.client("desk-1");
    // The organiser's station receives every change as it was pushed (see expo_sync::scope).
    let office = hub.client("office");
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

    let pulled = office.pull(0, 500).unwrap();
    assert_eq!(pulled.changes.len(), 51);
    let ids: HashSet<_> = pulled.changes.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 51);
    assert!(ids.contains(&fresh.id));
    let as_made: Vec<Change> = pulled.changes[..50].iter().map(Change::as_made).collect();
    assert_eq!(as_made, batch, "pull hands back exactly what was pushed");
    assert!(
        pulled.changes.iter().all(|c| c.pushed_by == Some(StationRole::Desk)),
        "each stamped with its pusher's role"
    );
    assert_eq!(hub.runtime.block_on(hub.store.stats()).unwrap().changes, 51);
}

fn pull_pages_other_stations_changes_in_order<S: HubStore>(hub: TestHub<S>) {
    let gate = hub.client("gate-1");
    let office = hub.client("office");
    let mut station = Station::new("gate-1");
    let changes: Vec<_> = (0..1200).map(|_| station.gate(Uuid::now_v7(), true)).collect();
    for chunk in changes.chunks(300) {
        gate.push(chunk).unwrap();
    }

    let mut cursor = 0;
    let mut received = Vec::new();
    let mut pages = 0;
    loop {
        let page = office.pull(cursor, 500).unwrap();
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
    let again = office.pull(cursor, 500).unwrap();
    assert!(again.changes.is_empty() && !again.more);
    assert_eq!(again.next_cursor, cursor);

    // The origin never gets its own changes back, and its cursor skips past them.
    let own = gate.pull(0, 500).unwrap();
    assert!(own.changes.is_empty() && !own.more);
    assert_eq!(own.next_cursor, cursor);
    // A limit above the hub's maximum is clamped, not refused.
    assert_eq!(office.pull(0, 1_000_000).unwrap().changes.len(), 500);
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
        "protocol": PROTOCOL_VERSION, "changes": [station.badge(Uuid::now_v7(), 1, "active")]
    }))
    .unwrap();
    let spaceship = format!(
        r#"{{"protocol":{PROTOCOL_VERSION},"changes":[{{"id":"00000000-0000-0000-0000-000000000001","station":"x","hlc":"000000000000001-0000000000-x","record":{{"kind":"spaceship","data":{{}}}}}}]}}"#
    );

    let cases: Vec<BadRequest> = vec![
        (
            "truncated JSON",
            push.clone(),
            auth.to_vec(),
            Some(good[..good.len() / 2].to_vec()),
            400,
            "malformed_json",
        ),
        (
            "garbage",
            push.clone(),
            auth.to_vec(),
            Some(b"\x00\xffnot json".to_vec()),
            400,
            "malformed_json",
        ),
        (
            "wrong body version",
            push.clone(),
            auth.to_vec(),
            Some(br#"{"protocol": 99, "changes": []}"#.to_vec()),
            400,
            "protocol_version",
        ),
        (
            "wrong header version",
            push.clone(),
            [auth.to_vec(), vec![(PROTOCOL_HEADER, "99")]].concat(),
            Some(good.clone()),
            400,
            "protocol_version",
        ),
        (
            "unknown record kind",
            push.clone(),
            auth.to_vec(),
            Some(spaceship.into_bytes()),
            400,
            "malformed_json",
        ),
        ("no token", push.clone(), vec![], Some(good.clone()), 401, "unauthorized"),
        (
            "bad token",
            push.clone(),
            vec![("authorization", "Bearer 00ff")],
            Some(good.clone()),
            401,
            "unauthorized",
        ),
        (
            "not bearer",
            push.clone(),
            vec![("authorization", "Basic eDp5")],
            Some(good.clone()),
            401,
            "unauthorized",
        ),
        (
            "oversized body",
            push.clone(),
            auth.to_vec(),
            Some(vec![b' '; 300 * 1024]),
            413,
            "body_too_large",
        ),
        (
            "bad cursor",
            format!("{}/v1/pull?since=yesterday", hub.url),
            auth.to_vec(),
            None,
            400,
            "bad_query",
        ),
        (
            "unknown route",
            format!("{}/v2/everything", hub.url),
            auth.to_vec(),
            None,
            404,
            "not_found",
        ),
        (
            "wrong method",
            format!("{}/v1/push", hub.url),
            auth.to_vec(),
            None,
            405,
            "method_not_allowed",
        ),
        (
            "enrol garbage",
            format!("{}/v1/enrol", hub.url),
            vec![],
            Some(b"{\"code\":".to_vec()),
            400,
            "malformed_json",
        ),
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
    let mut gate = Station::new("gate-1");
    hub.client("gate-1").push(&[gate.gate(attendee, true), gate.gate(attendee, false)]).unwrap();

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
    let desk1 = hub.client("admin-1");
    let desk2 = hub.client("admin-2");
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
    assert_eq!(refused(desk1.put_event(&nameless)), (400, "invalid_event".into()));
    // Only an admin station changes the event definition (attack 7: any station could).
    for station in ["gate-2", "desk-3", "kiosk-1"] {
        let planted = event("name = \"Mine\"", vec![key(station, 9)]);
        assert_eq!(refused(hub.client(station).put_event(&planted)), (403, "forbidden".into()));
    }
    assert_eq!(gate.event().unwrap().unwrap(), seen, "nothing refused was stored");
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
    ])
    .unwrap();
    hub.client("gate-1").push(&[Station::new("gate-1").gate(a, true)]).unwrap();
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
    let names = ["desk-1", "desk-2", "kiosk-1"];
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

/// Issue 17: a station back from a network cut pulls what the venue did meanwhile, page
/// after page; a walk-in registered there during that pull reaches the hub after the next
/// page, not only once the station has caught up with everything.
fn a_station_catching_up_pushes_what_it_makes_between_pull_pages<S: HubStore>(hub: TestHub<S>) {
    let mut other = Station::new("desk-2");
    let backlog: Vec<_> =
        (0..300).map(|i| other.attendee(Uuid::now_v7(), &format!("Backlog {i}"), None)).collect();
    let options = SyncOptions { push_batch: 50, pull_page: 50 };
    let sent = run_once(&hub.client("desk-2"), &MemoryOutbox::with(backlog), options);
    assert_eq!(sent.unwrap().pushed, 300);

    let (client, outbox) = (hub.client("desk-1"), MemoryOutbox::with([]));
    let walk_in = Station::new("desk-1").attendee(Uuid::now_v7(), "Walk In", None);
    let (mut made, mut pushed_after_pulling) = (false, None);
    let summary = run_once_with_progress(&client, &outbox, options, &mut |summary| {
        if summary.pulled == 50 && !made {
            outbox.add([walk_in.clone()]);
            made = true;
        }
        if summary.pushed == 1 && pushed_after_pulling.is_none() {
            pushed_after_pulling = Some(summary.pulled);
        }
    })
    .unwrap();
    assert_eq!((summary.pulled, summary.pushed, summary.pending_after), (300, 1, 0));
    assert_eq!(pushed_after_pulling, Some(50), "pushed before the second page was pulled");
    assert_eq!(hub.runtime.block_on(hub.store.stats()).unwrap().changes, 301);
}

/// Issue 17: a gate's lanes make a change every 0.6 s, and through a fault the hub answered
/// a push in about a second. A round that pushed until its outbox was empty chased those
/// changes two at a time for seconds before it pulled anything; it now pushes what was
/// pending and goes on, and what was made meanwhile waits for the next push.
fn a_round_pushes_what_was_pending_and_goes_on_to_pull_while_the_station_keeps_busy<S: HubStore>(
    hub: TestHub<S>,
) {
    let mut other = Station::new("desk-2");
    let news = [other.attendee(Uuid::now_v7(), "From Desk 2", None)];
    run_once(&hub.client("desk-2"), &MemoryOutbox::with(news), SyncOptions::default()).unwrap();

    let mut busy = Station::new("desk-1");
    let backlog: Vec<_> =
        (0..120).map(|i| busy.attendee(Uuid::now_v7(), &format!("Backlog {i}"), None)).collect();
    let (client, outbox) = (hub.client("desk-1"), MemoryOutbox::with(backlog));
    let options = SyncOptions { push_batch: 50, pull_page: 50 };
    let (mut pushes_seen, mut made_meanwhile) = (0, 0);
    let summary = run_once_with_progress(&client, &outbox, options, &mut |summary| {
        // After every push, the station has made one more change: it never runs dry.
        if summary.pushed > pushes_seen && made_meanwhile < 20 {
            pushes_seen = summary.pushed;
            made_meanwhile += 1;
            outbox.add([busy.attendee(
                Uuid::now_v7(),
                &format!("Meanwhile {made_meanwhile}"),
                None,
            )]);
        }
    })
    .unwrap();
    // 50 + 50 + the last 20 with the 2 made after the first two batches; the third,
    // made after the last batch, waits for the next push.
    assert_eq!((summary.pushed, summary.pending_after, summary.pulled), (122, 1, 1));
    assert_eq!(made_meanwhile, 3, "the round stopped pushing after the batch that was not full");
    let next = run_once(&client, &outbox, options).unwrap();
    assert_eq!((next.pushed, next.pending_after), (1, 0));
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
        ..WorkerOptions::default()
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

/// The codes of the changes a push refused, in push order.
fn refusals(answer: &expo_sync::protocol::PushResponse) -> Vec<&str> {
    answer.refused.iter().map(|r| r.code.as_str()).collect()
}

fn attack_1_a_gate_credential_plants_no_key_and_no_event<S: HubStore>(hub: TestHub<S>) {
    let gate = hub.client("gate-1");
    let desk = hub.client("desk-1");
    let planted = EventRecord {
        event_id: "expo-2025".into(),
        definition: "name = \"Widened\"".into(),
        public_keys: vec![PublicKeyRecord {
            key_id: 7,
            station: "gate-1".into(),
            public_key: "ab".repeat(32),
        }],
    };
    let mut station = Station::new("gate-1");
    let answer = gate.push(&[station.change(Record::Event(planted.clone()))]).unwrap();
    assert_eq!(refusals(&answer), ["forbidden"]);
    assert!(answer.acked.is_empty());
    assert_eq!(refused(gate.put_event(&planted)), (403, "forbidden".into()));
    // A gate signs no badges: the authority endorses no key of its own for it.
    assert_eq!(refused(gate.endorse(&"ab".repeat(32))).1, "forbidden");
    assert!(desk.pull(0, 100).unwrap().changes.is_empty(), "nothing reached other stations");
    assert_eq!(desk.event().unwrap(), None);
}

fn attack_2_a_gate_revokes_nobody_and_serials_stay_in_range<S: HubStore>(hub: TestHub<S>) {
    let (gate, desk, kiosk) = (hub.client("gate-1"), hub.client("desk-1"), hub.client("kiosk-1"));
    let attendee = Uuid::now_v7();
    let mut desk_station = Station::new("desk-1");
    desk.push(&[desk_station.badge(attendee, 1, "active")]).unwrap();

    let answer = gate.push(&[Station::new("gate-1").badge(attendee, u32::MAX, "revoked")]).unwrap();
    assert_eq!(refusals(&answer), ["forbidden"]);
    let answer = gate.push(&[Station::new("gate-1").badge(attendee, 1, "revoked")]).unwrap();
    assert_eq!(refusals(&answer), ["forbidden"]);
    // A kiosk issues badges but revokes none; a desk cannot store a serial the station
    // store cannot hold.
    let answer = kiosk.push(&[Station::new("kiosk-1").badge(attendee, 1, "revoked")]).unwrap();
    assert_eq!(refusals(&answer), ["forbidden"]);
    let answer = desk.push(&[desk_station.badge(attendee, u32::MAX, "revoked")]).unwrap();
    assert_eq!(refusals(&answer), ["invalid"]);
    assert!(answer.refused[0].reason.contains("serial"), "{}", answer.refused[0].reason);

    let badges = hub.runtime.block_on(hub.store.current_page("badge", "", 10)).unwrap();
    assert_eq!(badges.len(), 1);
    assert!(matches!(&badges[0].1, Record::Badge(b) if b.status == "active" && b.serial == 1));
    // Another desk may revoke the badge a desk issued.
    let answer = hub.client("desk-2").push(&[Station::new("desk-2").badge(attendee, 1, "revoked")]);
    assert!(answer.unwrap().refused.is_empty());
}

fn attack_3_a_far_future_clock_is_refused<S: HubStore>(hub: TestHub<S>) {
    let desk = hub.client("desk-1");
    let mut station = Station::new("desk-1");
    let attendee = Uuid::now_v7();
    desk.push(&[station.attendee(attendee, "Honest", None)]).unwrap();
    let mut forged = station.attendee(attendee, "Forged", None);
    forged.hlc = "999999999999999-4294967295-desk-1".parse().unwrap();
    let answer = desk.push(&[forged]).unwrap();
    assert_eq!(refusals(&answer), ["from_the_future"]);
    // A clock a few minutes fast is still fine (the documented bound).
    let mut fast = station.attendee(attendee, "Fast clock", None);
    fast.hlc.wall_ms = expo_sync::hlc::wall_clock_ms() + 60_000;
    assert!(desk.push(&[fast]).unwrap().refused.is_empty());
    let attendees = hub.runtime.block_on(hub.store.current_page("attendee", "", 10)).unwrap();
    assert!(matches!(&attendees[0].1, Record::Attendee(a) if a.name == "Fast clock"));
}

fn attack_4_a_malformed_change_is_refused_alone_and_sync_goes_on<S: HubStore>(hub: TestHub<S>) {
    let gate = hub.client("gate-1");
    let mut station = Station::new("gate-1");
    let mut sideways = station.gate(Uuid::now_v7(), true);
    if let Record::GateDecision(decision) = &mut sideways.record {
        decision.direction = "sideways".into();
    }
    let good = station.gate(Uuid::now_v7(), true);
    let outbox = MemoryOutbox::with([sideways.clone(), good.clone()]);
    // The station's round goes through: the good change acknowledged, the bad one
    // refused for good and out of the outbox, not retried forever.
    let summary = run_once(&gate, &outbox, SyncOptions::default()).unwrap();
    assert_eq!((summary.pushed, summary.refused, summary.pending_after), (1, 1, 0));

    let office = hub.client("office");
    let revocation = Station::new("desk-2").badge(Uuid::now_v7(), 1, "revoked");
    hub.client("desk-2").push(std::slice::from_ref(&revocation)).unwrap();
    let pulled: Vec<Uuid> = office.pull(0, 100).unwrap().changes.iter().map(|c| c.id).collect();
    assert_eq!(pulled, [good.id, revocation.id], "the revocation behind it arrives");
}

fn attack_5_huge_changes_are_refused_and_pull_pages_are_bounded_by_bytes<S: HubStore>(
    hub: TestHub<S>,
) {
    let desk = hub.client("desk-1");
    let mut station = Station::new("desk-1");
    let mut huge = station.attendee(Uuid::now_v7(), "Huge", None);
    if let Record::Attendee(a) = &mut huge.record {
        a.company = "x".repeat(100 * 1024);
    }
    assert_eq!(refusals(&desk.push(&[huge]).unwrap()), ["invalid"]);

    // Changes as large as the rules allow (about 70 KiB each): a page of 500 of them would
    // be 35 MB; the hub ends each page at a few MiB instead.
    let big = |station: &mut Station| {
        let mut change = station.attendee(Uuid::now_v7(), "Big", None);
        if let Record::Attendee(a) = &mut change.record {
            a.tags = (0..64).map(|i| format!("{i:04}{}", "t".repeat(1100))).collect();
        }
        change
    };
    let changes: Vec<_> = (0..80).map(|_| big(&mut station)).collect();
    for pair in changes.chunks(2) {
        assert!(desk.push(pair).unwrap().refused.is_empty());
    }
    let gate = hub.client("gate-1");
    let (mut cursor, mut received, mut pages) = (0, 0, 0);
    loop {
        let page = gate.pull(cursor, 500).unwrap();
        let bytes = serde_json::to_vec(&page.changes).unwrap().len();
        assert!(bytes <= expo_hub::store::MAX_PULL_PAGE_BYTES + 100 * 1024, "{bytes}");
        received += page.changes.len();
        cursor = page.next_cursor;
        pages += 1;
        if !page.more {
            break;
        }
    }
    assert_eq!(received, 80);
    assert!(pages >= 2, "the page ended by bytes, not by count");
}

fn attack_6_a_change_claiming_another_station_is_refused<S: HubStore>(hub: TestHub<S>) {
    let desk2 = hub.client("desk-2");
    let attendee = Uuid::now_v7();
    let spoofed = Station::new("desk-1").attendee(attendee, "Spoofed", None);
    let mut half_spoofed = Station::new("desk-2").attendee(attendee, "Half", None);
    half_spoofed.hlc.station = "desk-1".into();
    let answer = desk2.push(&[spoofed, half_spoofed]).unwrap();
    assert_eq!(refusals(&answer), ["not_this_station", "invalid"]);
    assert!(hub.client("gate-1").pull(0, 10).unwrap().changes.is_empty());
}

fn attack_7_forged_audit_and_a_reused_id_change_nothing<S: HubStore>(hub: TestHub<S>) {
    let gate = hub.client("gate-1");
    let mut gate_station = Station::new("gate-1");
    let audit = |actor: &str, action: &str| {
        Record::Audit(expo_sync::protocol::AuditRecord {
            id: Uuid::now_v7(),
            at: "2025-05-01T09:00:00Z".into(),
            actor: actor.into(),
            action: action.into(),
            attendee_id: None,
            detail: serde_json::json!({}),
        })
    };
    let forged = gate_station.change(audit("admin", "reveal_id_number"));
    let own = gate_station.change(audit("gate:north", "gate_mode"));
    let answer = gate.push(&[forged, own.clone()]).unwrap();
    assert_eq!(refusals(&answer), ["forbidden"]);
    assert_eq!(answer.acked, [own.id]);

    let desk = hub.client("desk-1");
    let mut station = Station::new("desk-1");
    let attendee = Uuid::now_v7();
    let original = station.attendee(attendee, "Original", None);
    desk.push(std::slice::from_ref(&original)).unwrap();
    let mut other = station.attendee(attendee, "Rewritten", None);
    other.id = original.id;
    let answer = desk.push(std::slice::from_ref(&other)).unwrap();
    assert_eq!(refusals(&answer), ["id_reused"]);
    assert!(answer.acked.is_empty());
    // The same content again is a replay, acknowledged as ever.
    assert_eq!(desk.push(std::slice::from_ref(&original)).unwrap().acked, [original.id]);
    let attendees = hub.runtime.block_on(hub.store.current_page("attendee", "", 10)).unwrap();
    assert!(matches!(&attendees[0].1, Record::Attendee(a) if a.name == "Original"));
    let pulled = hub.client("office").pull(0, 10).unwrap().changes;
    assert_eq!(pulled.iter().map(Change::as_made).collect::<Vec<_>>(), [own, original]);
}

/// A hub database of an earlier version: a station enrolled with neither role nor bound
/// station id. It may pull; it pushes once `station set-role` gave it a role, and its
/// first push binds its station id. (SQLite only: the migration is the same on both.)
#[test]
fn stations_enrolled_before_roles_push_once_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let token = "legacy-token";
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TABLE stations (name TEXT PRIMARY KEY, credential_hash TEXT UNIQUE,
                                    revoked INTEGER NOT NULL DEFAULT 0);
             INSERT INTO stations (name, credential_hash) VALUES ('desk-1', '{}');",
            expo_hub::enrolment::secret_hash(token)
        ))
        .unwrap();
    let store = expo_hub::sqlite::SqliteStore::open(&path).unwrap();
    let hub = TestHub::start(common::runtime(), store, common::small_limits());
    let desk = HubClient::new(&hub.url, token);
    let mut station = Station::new("st-legacy");
    let change = station.attendee(Uuid::now_v7(), "Early", None);
    assert_eq!(
        refused(desk.push(std::slice::from_ref(&change))),
        (403, "station_role_missing".into())
    );
    // It may pull, with a gate's scope (expo_sync::scope::pulling_role): no phone numbers.
    let registered = Station::new("desk-2").attendee(Uuid::now_v7(), "Registered", None);
    hub.client("desk-2").push(std::slice::from_ref(&registered)).unwrap();
    let pulled_phone = || match &desk.pull(0, 10).unwrap().changes[0].record {
        Record::Attendee(attendee) => attendee.phone.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(pulled_phone(), "");

    hub.runtime.block_on(hub.store.set_station_role("desk-1", StationRole::Desk)).unwrap();
    assert_eq!(pulled_phone(), "+86 21 5555 0000", "a desk's scope once it is one");
    assert_eq!(desk.push(std::slice::from_ref(&change)).unwrap().acked, [change.id]);
    let other = Station::new("st-other").attendee(Uuid::now_v7(), "Other", None);
    assert_eq!(refusals(&desk.push(&[other]).unwrap()), ["not_this_station"]);
    assert!(hub.runtime.block_on(hub.store.set_station_role("nobody", StationRole::Gate)).is_err());
}

fn signing_keys_are_endorsed_once_and_revoked_with_their_station<S: HubStore>(hub: TestHub<S>) {
    let code = hub.station_code("desk-1");
    let enrolled = client::enrol(&hub.url, &code, "desk-1", &HubTrust::default()).unwrap();
    let authority = enrolled.authority.clone().expect("the hub names its authority");
    let desk = HubClient::new(&hub.url, &enrolled.token);
    let own_key = hex_key(1);
    let endorsed = desk.endorse(&own_key).unwrap();
    assert_eq!((endorsed.station.as_str(), endorsed.revoked), ("desk-1", false));
    expo_sync::endorsement::verify(&authority, &endorsed).unwrap();
    assert_eq!(desk.endorse(&own_key).unwrap(), endorsed, "asking again is idempotent");
    // A stolen desk credential cannot add a key of the attacker's.
    assert_eq!(refused(desk.endorse(&hex_key(2))), (409, "other_key_endorsed".into()));

    let gate = hub.client("gate-1");
    let pulled = gate.pull(0, 10).unwrap().changes;
    assert_eq!(pulled.len(), 1);
    assert!(matches!(&pulled[0].record, Record::SigningKey(k) if *k == endorsed));

    let revoked =
        hub.runtime.block_on(expo_hub::enrolment::revoke_station(hub.store.as_ref(), "desk-1"));
    assert_eq!(revoked.unwrap(), 1);
    let page = gate.pull(0, 10).unwrap().changes;
    let Record::SigningKey(revocation) = &page.last().unwrap().record else {
        panic!("a signing key revocation, got {page:?}")
    };
    assert!(revocation.revoked && revocation.key_id == endorsed.key_id);
    expo_sync::endorsement::verify(&authority, revocation).unwrap();
    let keys = hub.runtime.block_on(hub.store.current_page("signing_key", "", 10)).unwrap();
    assert!(matches!(&keys[..], [(_, Record::SigningKey(k))] if k.revoked), "revocation wins");

    // The station enrolled again (a new name, the same station id): its old key stays
    // revoked, a new one may be endorsed.
    let code = hub.station_code("desk-1-again");
    let again = client::enrol(&hub.url, &code, "desk-1", &HubTrust::default()).unwrap();
    let desk = HubClient::new(&hub.url, &again.token);
    assert!(desk.endorse(&own_key).unwrap().revoked);
    assert!(!desk.endorse(&hex_key(2)).unwrap().revoked);
}

/// The hex public key of a fixed test signing key.
fn hex_key(seed: u8) -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    hex::encode(key.verifying_key().as_bytes())
}

fn a_station_over_its_quota_pushes_no_more<S: HubStore>(hub: TestHub<S>) {
    // The test hubs allow 2,000 changes per station (`common::small_limits`).
    let desk = hub.client("desk-1");
    let mut station = Station::new("desk-1");
    let changes: Vec<_> = (0..2000).map(|_| station.badge(Uuid::now_v7(), 1, "active")).collect();
    for chunk in changes.chunks(500) {
        desk.push(chunk).unwrap();
    }
    // Past its quota a station is told why; other stations go on.
    let more = [station.badge(Uuid::now_v7(), 1, "active")];
    assert_eq!(refused(desk.push(&more)), (403, "quota_exceeded".into()));
    assert!(hub
        .client("desk-2")
        .push(&[Station::new("desk-2").badge(Uuid::now_v7(), 1, "active")])
        .is_ok());
    assert_eq!(hub.runtime.block_on(hub.store.stats()).unwrap().changes, 2001);
}
