//! The data centre's integration API (issue 16): organiser API keys, the live feed and
//! badge revocation, against a real in-process hub over HTTP on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::{attendee_record, Station, TestHub};
use expo_hub::api_keys::{self, ApiKeyError, Scope};
use expo_hub::feed::FeedResponse;
use expo_hub::revocation::RevocationResponse;
use expo_hub::{HubStore, StoreError};
use expo_sync::endorsement::HUB_ORIGIN;
use expo_sync::protocol::{GateDecisionRecord, Record};
use expo_sync::StationRole;
use serde_json::{json, Value};
use uuid::Uuid;

common::hub_suite!(
    api_keys_are_kept_apart_from_station_credentials_and_revoked_at_once,
    the_feed_pages_gate_walk_in_and_badge_events_in_hub_order,
    a_waiting_feed_follower_hears_of_a_push,
    a_badge_revoked_from_the_data_centre_reaches_the_stations_once,
);

/// One request to the hub with `Authorization: Bearer KEY` (when given); the status and
/// the JSON answer.
fn call(method: &str, url: &str, bearer: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(bearer) = bearer {
        request = request.header("authorization", format!("Bearer {bearer}"));
    }
    let body = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let mut response =
        agent.run(request.header("content-type", "application/json").body(body).unwrap()).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn add_key<S: HubStore>(hub: &TestHub<S>, name: &str, scopes: &[Scope]) -> String {
    hub.runtime.block_on(api_keys::add_key(hub.store.as_ref(), name, scopes)).unwrap()
}

fn error_code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or_default())
}

fn api_keys_are_kept_apart_from_station_credentials_and_revoked_at_once<S: HubStore>(
    hub: TestHub<S>,
) {
    let feed = format!("{}/v1/feed", hub.url);
    let crm = add_key(&hub, "crm", &[Scope::FeedRead, Scope::BadgesRevoke]);
    let registrar = add_key(&hub, "registrar", &[Scope::RegistrationsWrite]);
    let station = hub.enrolled("desk-1");

    let (status, answer) = call("GET", &feed, Some(&crm), None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entries"], json!([]));

    // Wrong, missing and other kinds of credentials.
    assert_eq!(error_code(&call("GET", &feed, Some("expo_0000"), None)), (401, "unauthorized"));
    assert_eq!(error_code(&call("GET", &feed, None, None)), (401, "unauthorized"));
    assert_eq!(error_code(&call("GET", &feed, Some(&station), None)), (401, "unauthorized"));
    assert_eq!(error_code(&call("GET", &feed, Some(&registrar), None)), (403, "missing_scope"));
    let pull = format!("{}/v1/pull?since=0", hub.url);
    assert_eq!(error_code(&call("GET", &pull, Some(&crm), None)), (401, "unauthorized"));
    let push = json!({ "protocol": expo_sync::protocol::PROTOCOL_VERSION, "changes": [] });
    let push_url = format!("{}/v1/push", hub.url);
    assert_eq!(
        error_code(&call("POST", &push_url, Some(&crm), Some(&push))),
        (401, "unauthorized")
    );
    assert_eq!(call("GET", &pull, Some(&station), None).0, 200, "the station itself still works");

    // The hub holds hashes only, and knows when each key was last used.
    let keys = hub.runtime.block_on(hub.store.api_keys()).unwrap();
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["crm", "registrar"]);
    assert_eq!(keys[0].scopes, "feed:read,badges:revoke");
    assert!(keys[0].last_used_at.is_some());
    assert!(keys.iter().all(|k| k.key_hash != crm && k.key_hash != registrar));
    assert!(keys.iter().all(|k| k.revoked_at.is_none()));

    // Revocation takes effect on the next request.
    hub.runtime.block_on(api_keys::revoke_key(hub.store.as_ref(), "crm")).unwrap();
    assert_eq!(error_code(&call("GET", &feed, Some(&crm), None)), (401, "api_key_revoked"));
    let keys = hub.runtime.block_on(hub.store.api_keys()).unwrap();
    assert!(keys[0].revoked_at.is_some() && keys[1].revoked_at.is_none());

    // Names are unique (a revoked key keeps its name) and checked.
    let again =
        hub.runtime.block_on(api_keys::add_key(hub.store.as_ref(), "crm", &[Scope::FeedRead]));
    assert!(matches!(again, Err(ApiKeyError::Store(StoreError::ApiKeyExists(_)))), "{again:?}");
    let bad =
        hub.runtime.block_on(api_keys::add_key(hub.store.as_ref(), "a b", &[Scope::FeedRead]));
    assert!(matches!(bad, Err(ApiKeyError::InvalidName(_))), "{bad:?}");
    let unknown = hub.runtime.block_on(api_keys::revoke_key(hub.store.as_ref(), "nobody"));
    assert!(matches!(unknown, Err(StoreError::UnknownApiKey(_))), "{unknown:?}");

    // Every key action is audited, for the stations that keep the audit log.
    let admin = hub.client("admin-1");
    let actions: Vec<String> = admin
        .pull(0, 100)
        .unwrap()
        .changes
        .into_iter()
        .filter_map(|change| match change.record {
            Record::Audit(entry) => Some(format!("{} {}", entry.action, entry.detail["key"])),
            _ => None,
        })
        .collect();
    assert_eq!(
        actions,
        [r#"api_key_added "crm""#, r#"api_key_added "registrar""#, r#"api_key_revoked "crm""#]
    );
}

/// A walk-in as a desk registers it: registration code `code`, not edited since.
fn walk_in(station: &mut Station, code: &str, name: &str) -> (Uuid, expo_sync::protocol::Change) {
    let id = Uuid::now_v7();
    let mut record = attendee_record(id, name, None);
    record.registration_code = Some(code.into());
    (id, station.change(Record::Attendee(record)))
}

fn gate_decision(
    station: &mut Station,
    attendee: Option<Uuid>,
    direction: &str,
    granted: bool,
    reason: &str,
) -> expo_sync::protocol::Change {
    station.change(Record::GateDecision(GateDecisionRecord {
        id: Uuid::now_v7(),
        attendee_id: attendee,
        badge_serial: Some(1),
        gate: "north".into(),
        lane: "2".into(),
        zone: "hall".into(),
        direction: direction.into(),
        granted,
        reason: reason.into(),
        at: "2025-05-01T09:05:00Z".into(),
        annulled: false,
    }))
}

fn read_feed(url: &str, key: &str) -> FeedResponse {
    let (status, answer) = call("GET", url, Some(key), None);
    assert_eq!(status, 200, "{answer}");
    serde_json::from_value(answer).unwrap()
}

fn the_feed_pages_gate_walk_in_and_badge_events_in_hub_order<S: HubStore>(hub: TestHub<S>) {
    let key = add_key(&hub, "crm", &[Scope::FeedRead]);
    let (desk, gate) = (hub.client("desk-1"), hub.client("gate-1"));
    let (mut at_desk, mut at_gate) = (Station::new("desk-1"), Station::new("gate-1"));

    let (ada, registered) = walk_in(&mut at_desk, "R-1", "Ada");
    let mut pre_registered = attendee_record(Uuid::now_v7(), "Lin", None);
    pre_registered.source = "pre_registered".into();
    let mut edited = attendee_record(ada, "Ada King", None);
    edited.registration_code = Some("R-1".into());
    edited.updated_at = "2025-05-01T10:00:00Z".into();
    desk.push(&[
        registered,
        at_desk.change(Record::Attendee(pre_registered)),
        at_desk.badge(ada, 1, "active"),
        at_desk.badge(ada, 1, "superseded"),
        at_desk.badge(ada, 2, "active"),
        at_desk.change(Record::Attendee(edited)),
    ])
    .unwrap();
    gate.push(&[
        gate_decision(&mut at_gate, Some(ada), "in", true, "ok"),
        gate_decision(&mut at_gate, Some(ada), "out", true, "ok"),
        gate_decision(&mut at_gate, Some(ada), "in", false, "passback"),
        gate_decision(&mut at_gate, None, "in", false, "bad_signature"),
    ])
    .unwrap();

    // Three at a time, resuming from each answer's cursor.
    let mut entries = Vec::new();
    let mut cursor = 0;
    loop {
        let page = read_feed(&format!("{}/v1/feed?after={cursor}&limit=3", hub.url), &key);
        assert!(page.entries.len() <= 3);
        assert!(page.next_cursor >= cursor);
        cursor = page.next_cursor;
        entries.extend(page.entries);
        if !page.more {
            break;
        }
    }
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "walk_in",
            "badge_issued",
            "badge_reprinted",
            "gate_entry",
            "gate_exit",
            "gate_refused",
            "gate_refused"
        ]
    );
    assert!(entries.windows(2).all(|w| w[0].cursor < w[1].cursor), "hub order");
    // The holder as the hub knows them now, on every entry that has one.
    for entry in &entries[..6] {
        assert_eq!(entry.attendee_id, Some(ada));
        assert_eq!(entry.registration_code.as_deref(), Some("R-1"), "{entry:?}");
    }
    assert_eq!(entries[0].name.as_deref(), Some("Ada"), "a walk-in as registered");
    assert_eq!(entries[0].source.as_deref(), Some("walk_in"));
    assert_eq!(entries[3].name.as_deref(), Some("Ada King"));
    assert_eq!((entries[2].badge_serial, entries[4].direction.as_deref()), (Some(2), Some("out")));
    assert_eq!(entries[5].reason.as_deref(), Some("passback"));
    assert_eq!(entries[6].attendee_id, None, "a forged badge names nobody");
    assert_eq!(entries[3].station, "gate-1");

    // Nothing new: the same cursor back, and a follower at the end reads nothing.
    let end = read_feed(&format!("{}/v1/feed?after={cursor}", hub.url), &key);
    assert_eq!((end.entries.len(), end.next_cursor, end.more), (0, cursor, false));
    let everything = read_feed(&format!("{}/v1/feed", hub.url), &key);
    assert_eq!(everything.entries, entries, "after defaults to the start");

    for query in ["after=-1", "after=x", "limit=-5", "wait=soon"] {
        let answer = call("GET", &format!("{}/v1/feed?{query}", hub.url), Some(&key), None);
        assert_eq!(error_code(&answer), (400, "bad_query"), "{query}");
    }
}

fn a_waiting_feed_follower_hears_of_a_push<S: HubStore>(hub: TestHub<S>) {
    let key = add_key(&hub, "crm", &[Scope::FeedRead]);
    let gate = hub.client("gate-1");
    let watcher = hub.enrolled("admin-1");
    let start = read_feed(&format!("{}/v1/feed", hub.url), &key).next_cursor;

    let url = format!("{}/v1/feed?after={start}&wait=25", hub.url);
    let follower = std::thread::spawn(move || read_feed(&url, &key));
    // Push once the follower is waiting at the hub.
    common::await_waiting_requests(&hub.url, &watcher, 1);
    let mut at_gate = Station::new("gate-1");
    let entry = gate_decision(&mut at_gate, Some(Uuid::now_v7()), "in", true, "ok");
    gate.push(std::slice::from_ref(&entry)).unwrap();

    let page = follower.join().unwrap();
    assert_eq!(page.entries.len(), 1, "{page:?}");
    assert_eq!(page.entries[0].kind, "gate_entry");
    assert!(page.next_cursor > start);
}

fn a_badge_revoked_from_the_data_centre_reaches_the_stations_once<S: HubStore>(hub: TestHub<S>) {
    const ADA_SERIAL: u32 = 6;
    let revoker = add_key(&hub, "hotline", &[Scope::BadgesRevoke]);
    let reader = add_key(&hub, "crm", &[Scope::FeedRead]);
    let desk_token = hub.enrolled("desk-1");
    let desk = expo_sync::client::HubClient::new(&hub.url, &desk_token);
    let gate = hub.client("gate-1");
    let mut at_desk = Station::new("desk-1");
    let (ada, registered) = walk_in(&mut at_desk, "R-7", "Ada");
    let (grace, grace_registered) = walk_in(&mut at_desk, "R-8", "Grace");
    let (_, badgeless) = walk_in(&mut at_desk, "R-9", "Lin");
    // Ada's badge was reprinted five times: her current serial lies beyond the first rows
    // the hub reads of her badges (`store::current_under` reads a few at a time).
    let mut pushed = vec![registered];
    pushed.extend((1..ADA_SERIAL).map(|serial| at_desk.badge(ada, serial, "superseded")));
    pushed.extend([
        at_desk.badge(ada, ADA_SERIAL, "active"),
        grace_registered,
        at_desk.badge(grace, 1, "active"),
        badgeless,
    ]);
    desk.push(&pushed).unwrap();
    let cursor = gate.pull(0, 500).unwrap().next_cursor;
    let office = hub.client("admin-2");
    let office_cursor = office.pull(0, 500).unwrap().next_cursor;

    let url = format!("{}/v1/revocations", hub.url);
    let request = json!({ "registration_code": "R-7", "reason": "lost, reported by phone" });
    let (status, answer) = call("POST", &url, Some(&revoker), Some(&request));
    assert_eq!(status, 200, "{answer}");
    let answer: RevocationResponse = serde_json::from_value(answer).unwrap();
    assert_eq!(
        (answer.attendee_id, answer.badge_serial, answer.already_revoked),
        (ada, ADA_SERIAL, false)
    );

    // The gate pulls the revocation of the current serial, made by the organiser; its audit
    // entry goes to admin stations only (`expo_sync::scope`). Stations check both by the
    // admin role's rule.
    let pulled = gate.pull(cursor, 500).unwrap().changes;
    let audited = office.pull(office_cursor, 500).unwrap().changes;
    assert_eq!((pulled.len(), audited.len()), (1, 2), "{pulled:?} {audited:?}");
    for change in pulled.iter().chain(&audited) {
        assert_eq!(
            (change.station.as_str(), change.pushed_by),
            (HUB_ORIGIN, Some(StationRole::Admin))
        );
        expo_sync::authority::may_make(StationRole::Admin, change).unwrap();
        expo_sync::validate::check_content(change).unwrap();
    }
    match (&pulled[0].record, &audited[0].record, &audited[1].record) {
        (Record::Badge(at_gate), Record::Badge(badge), Record::Audit(audit)) => {
            assert_eq!(
                (at_gate.attendee_id, at_gate.serial, at_gate.status.as_str()),
                (ada, ADA_SERIAL, "revoked")
            );
            // A gate needs the verdict, not who revoked it or why.
            assert_eq!((at_gate.reason.as_deref(), at_gate.operator.as_str()), (None, ""));
            assert_eq!(badge.reason.as_deref(), Some("lost, reported by phone"));
            assert_eq!(badge.operator, "api:hotline");
            assert_eq!(audit.action.as_str(), "revoke");
            assert_eq!((audit.actor.as_str(), audit.attendee_id), ("api:hotline", Some(ada)));
        }
        other => panic!("expected a badge and its audit entry, got {other:?}"),
    }
    // Issue 17: a gate far behind reads the revocations past its pull first. From the
    // start: this revocation alone, as a gate receives it, and a cursor past all of it.
    let ahead = gate.pull_revocations(0, 500).unwrap();
    assert_eq!(ahead.changes, pulled, "the revocation alone");
    assert!(!ahead.more && ahead.next_cursor >= cursor, "{ahead:?}");
    let gate_token = hub.enrolled("gate-2");
    let bogus = format!("{}/v1/pull?since=0&only=everything", hub.url);
    let answer = call("GET", &bogus, Some(&gate_token), None);
    assert_eq!(error_code(&answer), (400, "bad_query"), "{answer:?}");
    let feed = read_feed(&format!("{}/v1/feed", hub.url), &reader);
    let last = feed.entries.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.registration_code.as_deref()),
        ("badge_revoked", Some("R-7"))
    );

    // A replay changes nothing and answers the same; so does the desk's own pull.
    let (status, again) = call("POST", &url, Some(&revoker), Some(&request));
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["already_revoked"], true);
    assert_eq!(again["badge_serial"], ADA_SERIAL);
    let next = gate.pull(cursor, 500).unwrap();
    assert_eq!(next.changes.len(), 1, "no second revocation");

    // By attendee id.
    let by_id = json!({ "attendee_id": grace, "reason": "stolen" });
    let (status, answer) = call("POST", &url, Some(&revoker), Some(&by_id));
    assert_eq!((status, answer["badge_serial"].clone()), (200, json!(1)), "{answer}");

    // Bad input: a clear JSON error, and nothing stored.
    let stored = hub.runtime.block_on(hub.store.stats()).unwrap().changes;
    let long_reason = "x".repeat(expo_sync::validate::MAX_TEXT_BYTES + 1);
    let cases = [
        (json!({ "registration_code": "R-404", "reason": "lost" }), (404, "unknown_attendee")),
        (json!({ "attendee_id": Uuid::now_v7(), "reason": "lost" }), (404, "unknown_attendee")),
        (json!({ "registration_code": "R-9", "reason": "lost" }), (409, "no_badge")),
        (
            json!({ "registration_code": "R-7", "attendee_id": ada, "reason": "x" }),
            (400, "invalid_request"),
        ),
        (json!({ "reason": "lost" }), (400, "invalid_request")),
        (json!({ "registration_code": "R-8", "reason": "  " }), (400, "invalid_request")),
        (json!({ "registration_code": "R-8", "reason": long_reason }), (400, "invalid_request")),
        (
            json!({ "registration_code": "R-8", "reason": "lost", "badge": 1 }),
            (400, "malformed_json"),
        ),
        (json!({ "registration_code": "R-8" }), (400, "malformed_json")),
        (json!(["R-8"]), (400, "malformed_json")),
    ];
    for (body, expected) in cases {
        let answer = call("POST", &url, Some(&revoker), Some(&body));
        assert_eq!(error_code(&answer), expected, "{body}: {}", answer.1);
        assert!(!answer.1["message"].as_str().unwrap().is_empty());
    }
    let grace_again = json!({ "registration_code": "R-8", "reason": "lost" });
    assert_eq!(
        error_code(&call("POST", &url, Some(&reader), Some(&grace_again))),
        (403, "missing_scope")
    );
    assert_eq!(
        error_code(&call("POST", &url, Some(&desk_token), Some(&grace_again))),
        (401, "unauthorized")
    );
    assert_eq!(hub.runtime.block_on(hub.store.stats()).unwrap().changes, stored, "nothing stored");
}
