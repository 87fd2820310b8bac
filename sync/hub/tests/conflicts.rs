//! Data accuracy at the centre: conflicts listed masked, merged and dismissed over HTTP,
//! against a real hub on SQLite and on PostgreSQL (`EXPO_TEST_PG_URL`), and by the
//! `expo-hub conflicts` command.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use common::{Station, TestHub};
use expo_hub::api_keys::{self, Scope};
use expo_hub::conflicts::{
    ConflictKind, ConflictList, ConflictStatus, NewConflict, Resolution, Resolved, MERGED_REASON,
};
use expo_hub::HubStore;
use expo_sync::protocol::{AttendeeRecord, ConflictsResponse, ErrorBody, Record};
use uuid::Uuid;

common::hub_suite!(
    duplicates_are_listed_masked_merged_once_and_not_found_again,
    a_dismissed_conflict_is_audited_and_not_listed_or_recorded_again,
    identity_conflicts_recorded_by_the_hub_are_listed_and_only_dismissed,
    bad_conflict_requests_get_clear_json_errors,
    an_organiser_key_with_conflicts_write_resolves_conflicts_too,
);

/// Sends a request as `token` and returns the status and body text.
fn call(method: &str, url: &str, token: &str, body: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.unwrap_or_default().as_bytes().to_vec())
        .unwrap();
    let mut response = agent.run(request).unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

fn ok<T: serde::de::DeserializeOwned>(answer: (u16, String)) -> T {
    assert_eq!(answer.0, 200, "{}", answer.1);
    serde_json::from_str(&answer.1).unwrap_or_else(|e| panic!("{e}: {}", answer.1))
}

fn refused(answer: (u16, String)) -> (u16, String) {
    let body: ErrorBody = serde_json::from_str(&answer.1)
        .unwrap_or_else(|e| panic!("not an ErrorBody ({e}): {}", answer.1));
    (answer.0, body.error)
}

struct Conflicts<'h, S: HubStore> {
    hub: &'h TestHub<S>,
    admin: String,
}

impl<'h, S: HubStore> Conflicts<'h, S> {
    fn new(hub: &'h TestHub<S>) -> Self {
        Self { hub, admin: hub.enrolled("office") }
    }

    fn list(&self) -> ConflictList {
        ok(call("GET", &format!("{}/v1/conflicts", self.hub.url), &self.admin, None))
    }

    fn post(&self, id: impl std::fmt::Display, action: &str, body: &str) -> (u16, String) {
        let url = format!("{}/v1/conflicts/{id}/{action}", self.hub.url);
        call("POST", &url, &self.admin, Some(body))
    }

    fn merge(&self, id: i64, keep: Uuid) -> (u16, String) {
        self.post(id, "merge", &serde_json::json!({ "keep": keep }).to_string())
    }

    fn dismiss(&self, id: i64, reason: &str) -> (u16, String) {
        self.post(id, "dismiss", &serde_json::json!({ "reason": reason }).to_string())
    }

    fn current(&self, kind: &'static str) -> Vec<Record> {
        let page = self.hub.runtime.block_on(self.hub.store.current_page(kind, "", 1000)).unwrap();
        page.into_iter().map(|(_, record)| record).collect()
    }

    fn attendee(&self, id: Uuid) -> AttendeeRecord {
        self.current("attendee")
            .into_iter()
            .find_map(|r| match r {
                Record::Attendee(a) if a.id == id => Some(a),
                _ => None,
            })
            .unwrap()
    }

    fn audits(&self, action: &str) -> Vec<serde_json::Value> {
        self.current("audit")
            .into_iter()
            .filter_map(|r| match r {
                Record::Audit(a) if a.action == action => Some(a.detail),
                _ => None,
            })
            .collect()
    }

    fn changes_stored(&self) -> u64 {
        self.hub.runtime.block_on(self.hub.store.stats()).unwrap().changes
    }
}

/// Two desks (new ones, named after `id_hash`) register the same person as a walk-in
/// while offline; returns the two attendee ids (the first has no phone, the second has
/// one and two badges).
fn two_walk_ins<S: HubStore>(hub: &TestHub<S>, id_hash: &str) -> (Uuid, Uuid) {
    let (name_1, name_2) = (format!("desk-1-{id_hash}"), format!("desk-2-{id_hash}"));
    let (mut s1, mut s2) = (Station::new(&name_1), Station::new(&name_2));
    let (desk_1, desk_2) = (hub.client(&name_1), hub.client(&name_2));
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let mut without_phone = s1.attendee(first, "Li Wei", Some(id_hash));
    if let Record::Attendee(a) = &mut without_phone.record {
        a.phone.clear();
        a.tags = vec!["vip".into()];
    }
    desk_1.push(&[without_phone, s1.badge(first, 1, "active")]).unwrap();
    let mut with_phone = s2.attendee(second, "LI WEI", Some(id_hash));
    if let Record::Attendee(a) = &mut with_phone.record {
        a.phone = "13912345678".into();
        a.tags = vec!["press".into()];
    }
    let badges = [s2.badge(second, 1, "superseded"), s2.badge(second, 2, "active")];
    desk_2.push(&[with_phone]).unwrap();
    desk_2.push(&badges).unwrap();
    (first, second)
}

fn duplicates_are_listed_masked_merged_once_and_not_found_again<S: HubStore>(hub: TestHub<S>) {
    let conflicts = Conflicts::new(&hub);
    let (kept, merged) = two_walk_ins(&hub, "hash-li");

    // Listed masked: names as a kiosk shows them, the ID number only masked.
    let (status, text) = call("GET", &format!("{}/v1/conflicts", hub.url), &conflicts.admin, None);
    assert_eq!(status, 200, "{text}");
    for secret in ["Li Wei", "LI WEI", "13912345678", "c2VhbGVkLXNlY3JldA=="] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    // Earlier callers read the same answer as before.
    let earlier: ConflictsResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(earlier.conflicts.len(), 1);
    assert_eq!(earlier.conflicts[0].id_hash, "hash-li");
    let list = conflicts.list();
    let conflict = &list.conflicts[0];
    assert_eq!((conflict.kind, conflict.status), (ConflictKind::Duplicate, ConflictStatus::Open));
    let names: Vec<&str> = conflict.attendees.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Li W.") && names.contains(&"LI W."), "{names:?}");
    assert!(conflict.attendees.iter().all(|a| a.stored
        && a.id_masked.as_deref() == Some("3101**********128X")
        && a.station.starts_with("desk-")));

    // A desk station may not see or resolve conflicts.
    let desk = hub.enrolled("desk-3");
    let url = format!("{}/v1/conflicts", hub.url);
    assert_eq!(refused(call("GET", &url, &desk, None)), (403, "forbidden".into()));
    let url = format!("{url}/{}/merge", conflict.id);
    let keep = serde_json::json!({ "keep": kept }).to_string();
    assert_eq!(refused(call("POST", &url, &desk, Some(&keep))), (403, "forbidden".into()));

    let resolved: Resolved = ok(conflicts.merge(conflict.id, kept));
    assert!(!resolved.already_resolved);
    assert_eq!(resolved.conflict.status, ConflictStatus::Merged);
    // Marked, absorbed, two badges revoked, one audit entry.
    assert_eq!(resolved.changes, 5);
    let away = conflicts.attendee(merged);
    assert_eq!(away.merged_into, Some(kept));
    let absorbed = conflicts.attendee(kept);
    assert_eq!(absorbed.merged_into, None);
    assert_eq!(absorbed.phone, "13912345678", "the kept attendee takes what it lacked");
    assert_eq!(absorbed.tags, ["vip", "press"]);
    assert_eq!(absorbed.name, "Li Wei", "and keeps its own name");
    let badges: Vec<_> = conflicts
        .current("badge")
        .into_iter()
        .filter_map(|r| match r {
            Record::Badge(b) => Some(b),
            _ => None,
        })
        .collect();
    for badge in &badges {
        if badge.attendee_id == merged {
            assert_eq!(
                (badge.status.as_str(), badge.reason.as_deref()),
                ("revoked", Some(MERGED_REASON))
            );
        } else {
            assert_eq!(badge.status, "active", "the kept attendee's badge stays valid");
        }
    }
    let audits = conflicts.audits("conflict_merge");
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0]["conflict"], conflict.id);
    assert_eq!(audits[0]["kept"], kept.to_string());
    assert_eq!(audits[0]["badges_revoked"], 2);

    // Merging again is idempotent; keeping the other one now is refused.
    let stored = conflicts.changes_stored();
    let again: Resolved = ok(conflicts.merge(conflict.id, kept));
    assert!(again.already_resolved);
    assert_eq!(again.changes, 0);
    assert_eq!(conflicts.changes_stored(), stored, "nothing new for the stations");
    assert_eq!(refused(conflicts.merge(conflict.id, merged)), (409, "already_resolved".into()));
    assert_eq!(refused(conflicts.dismiss(conflict.id, "oops")), (409, "already_resolved".into()));

    // Not listed again, and not found again when a station pushes the pair once more.
    assert!(conflicts.list().conflicts.is_empty());
    let mut late = Station::new("desk-late");
    let late_desk = hub.client("desk-late");
    late_desk.push(&[late.attendee(merged, "LI WEI", Some("hash-li"))]).unwrap();
    late_desk.push(&[late.attendee(kept, "Li Wei", Some("hash-li"))]).unwrap();
    assert!(conflicts.list().conflicts.is_empty());
    assert_eq!(hub.runtime.block_on(hub.store.stats()).unwrap().conflicts, 0);

    // A station pulling the hub's changes gets them as the organiser's: a desk all but the
    // audit entry, which goes to admin stations only (`expo_sync::scope`).
    let pulled = hub.client("desk-4").pull(0, 1000).unwrap();
    let from_hub: Vec<_> =
        pulled.changes.iter().filter(|c| c.station == expo_sync::endorsement::HUB_ORIGIN).collect();
    assert_eq!(from_hub.len(), 4);
    assert!(from_hub.iter().all(|c| c.pushed_by == Some(expo_sync::StationRole::Admin)));
}

fn a_dismissed_conflict_is_audited_and_not_listed_or_recorded_again<S: HubStore>(hub: TestHub<S>) {
    let conflicts = Conflicts::new(&hub);
    let (first, second) = two_walk_ins(&hub, "hash-twins");
    let id = conflicts.list().conflicts[0].id;
    let stored = conflicts.changes_stored();
    let resolved: Resolved = ok(conflicts.dismiss(id, "  twins, not one person  "));
    assert_eq!(resolved.changes, 1, "the audit entry alone");
    assert_eq!(conflicts.changes_stored(), stored + 1);
    match &resolved.conflict.resolution {
        Some(Resolution::Dismissed { reason, by, .. }) => {
            assert_eq!(reason, "twins, not one person");
            assert_eq!(by, "station:office");
        }
        other => panic!("{other:?}"),
    }
    let audits = conflicts.audits("conflict_dismiss");
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0]["reason"], "twins, not one person");
    // Both stay as they were.
    assert_eq!(conflicts.attendee(first).merged_into, None);
    assert_eq!(conflicts.attendee(second).merged_into, None);
    assert!(conflicts
        .current("badge")
        .iter()
        .all(|r| !matches!(r, Record::Badge(b) if b.status == "revoked")));

    let again: Resolved = ok(conflicts.dismiss(id, "again"));
    assert!(again.already_resolved);
    assert_eq!(conflicts.audits("conflict_dismiss").len(), 1);
    assert_eq!(refused(conflicts.merge(id, first)), (409, "already_resolved".into()));
    let mut late = Station::new("desk-late");
    hub.client("desk-late").push(&[late.attendee(first, "Li Wei", Some("hash-twins"))]).unwrap();
    assert!(conflicts.list().conflicts.is_empty());
}

fn identity_conflicts_recorded_by_the_hub_are_listed_and_only_dismissed<S: HubStore>(
    hub: TestHub<S>,
) {
    let conflicts = Conflicts::new(&hub);
    let stored = Uuid::now_v7();
    let mut desk = Station::new("desk-1");
    hub.client("desk-1").push(&[desk.attendee(stored, "Zhang San", None)]).unwrap();
    let incoming = Uuid::now_v7();
    let found = NewConflict {
        kind: ConflictKind::Identity,
        id_hash: None,
        attendee_a: stored,
        station_a: "desk-1".into(),
        attendee_b: incoming,
        station_b: "@hub:import".into(),
        detail: serde_json::json!({ "line": 7, "in_file": { "name": "W*u" } }),
    };
    let record =
        |c: &NewConflict| hub.runtime.block_on(hub.store.record_conflicts(vec![c.clone()]));
    assert_eq!(record(&found).unwrap(), 1);
    assert_eq!(record(&found).unwrap(), 0, "a pair is recorded once");

    let list = conflicts.list();
    let conflict = &list.conflicts[0];
    assert_eq!((conflict.kind, conflict.id_hash.as_str()), (ConflictKind::Identity, ""));
    assert_eq!(conflict.detail["line"], 7);
    assert_eq!(conflict.attendees[0].name, "Zhang S.");
    assert!(!conflict.attendees[1].stored, "the registration was not applied");

    assert_eq!(refused(conflicts.merge(conflict.id, stored)), (409, "not_mergeable".into()));
    let _: Resolved = ok(conflicts.dismiss(conflict.id, "the CRM had a typo"));
    assert_eq!(record(&found).unwrap(), 0, "nor recorded again once dismissed");
    assert!(conflicts.list().conflicts.is_empty());
}

fn bad_conflict_requests_get_clear_json_errors<S: HubStore>(hub: TestHub<S>) {
    let conflicts = Conflicts::new(&hub);
    let (kept, _) = two_walk_ins(&hub, "hash-bad");
    let id = conflicts.list().conflicts[0].id;
    let keep = serde_json::json!({ "keep": kept }).to_string();
    let cases: [(&str, String, &str, (u16, &str)); 9] = [
        ("unknown id", "999999".into(), &keep, (404, "unknown_conflict")),
        ("not a number", "abc".into(), &keep, (404, "unknown_conflict")),
        ("malformed", id.to_string(), "{", (400, "malformed_json")),
        ("unknown field", id.to_string(), r#"{"keep":"x","force":true}"#, (400, "malformed_json")),
        ("not a uuid", id.to_string(), r#"{"keep":"x"}"#, (400, "malformed_json")),
        ("missing keep", id.to_string(), "{}", (400, "malformed_json")),
        (
            "someone else",
            id.to_string(),
            &serde_json::json!({ "keep": Uuid::now_v7() }).to_string(),
            (400, "not_in_conflict"),
        ),
        ("empty body", id.to_string(), "", (400, "malformed_json")),
        ("array", id.to_string(), "[]", (400, "malformed_json")),
    ];
    for (label, target, body, expected) in cases {
        let (status, code) = refused(conflicts.post(&target, "merge", body));
        assert_eq!((status, code.as_str()), expected, "{label}");
    }
    for (reason, expected) in [("", 400), ("   ", 400), (&"x".repeat(501) as &str, 400)] {
        assert_eq!(refused(conflicts.dismiss(id, reason)), (expected, "invalid_reason".into()));
    }
    assert_eq!(refused(conflicts.dismiss(999_999, "gone")), (404, "unknown_conflict".into()));
    assert_eq!(refused(conflicts.post(id, "explode", "{}")).0, 404);
    // Nothing above changed anything: the conflict is still open, nothing was stored.
    assert_eq!(conflicts.list().conflicts.len(), 1);
    assert!(conflicts.audits("conflict_merge").is_empty());
}

fn an_organiser_key_with_conflicts_write_resolves_conflicts_too<S: HubStore>(hub: TestHub<S>) {
    let conflicts = Conflicts::new(&hub);
    let (kept, _) = two_walk_ins(&hub, "hash-key");
    let key = |name: &str, scope: Scope| {
        hub.runtime.block_on(api_keys::add_key(hub.store.as_ref(), name, &[scope])).unwrap()
    };
    let (crm, feed) = (key("crm", Scope::ConflictsWrite), key("feed", Scope::FeedRead));
    let url = format!("{}/v1/conflicts", hub.url);
    let list: ConflictList = ok(call("GET", &url, &crm, None));
    let id = list.conflicts[0].id;
    assert_eq!(refused(call("GET", &url, &feed, None)), (403, "missing_scope".into()));
    assert_eq!(refused(call("GET", &url, "not-a-key", None)), (401, "unauthorized".into()));
    let merge = format!("{url}/{id}/merge");
    let keep = serde_json::json!({ "keep": kept }).to_string();
    assert_eq!(refused(call("POST", &merge, &feed, Some(&keep))), (403, "missing_scope".into()));
    let resolved: Resolved = ok(call("POST", &merge, &crm, Some(&keep)));
    match resolved.conflict.resolution {
        Some(Resolution::Merged { by, .. }) => assert_eq!(by, "key:crm"),
        other => panic!("{other:?}"),
    }
    assert_eq!(conflicts.audits("conflict_merge")[0]["conflict"], id);
    hub.runtime.block_on(api_keys::revoke_key(hub.store.as_ref(), "crm")).unwrap();
    assert_eq!(refused(call("GET", &url, &crm, None)), (401, "api_key_revoked".into()));
}

/// `expo-hub conflicts`, `conflicts merge` and `conflicts dismiss` on a hub database.
#[test]
fn the_conflicts_command_lists_merges_and_dismisses() {
    let hub = common::sqlite_hub();
    let (kept, merged) = two_walk_ins(&hub, "hash-cli");
    let (twin_a, _) = two_walk_ins(&hub, "hash-cli-twins");
    let db = format!("sqlite://{}", hub.sqlite_path().unwrap().display());
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_expo-hub"))
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success(), text, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (success, table, _) = run(&["conflicts"]);
    assert!(success);
    assert!(
        table.contains("duplicate")
            && table.contains("Li W.")
            && table.contains("3101**********128X"),
        "{table}"
    );
    assert!(!table.contains("Li Wei") && !table.contains("LI WEI"), "{table}");
    let (_, json, _) = run(&["conflicts", "--json"]);
    let list: ConflictList = serde_json::from_str(&json).unwrap();
    assert_eq!(list.conflicts.len(), 2);
    let (first, second) = (list.conflicts[0].id, list.conflicts[1].id);

    let (success, text, _) =
        run(&["conflicts", "merge", &first.to_string(), "--keep", &kept.to_string()]);
    assert!(success, "{text}");
    assert!(text.contains("merged: 5 change(s)"), "{text}");
    let (success, text, _) =
        run(&["conflicts", "merge", &first.to_string(), "--keep", &kept.to_string()]);
    assert!(success && text.contains("already merged"), "{text}");
    let (success, _, error) =
        run(&["conflicts", "merge", &first.to_string(), "--keep", &merged.to_string()]);
    assert!(!success && error.contains("already resolved"), "{error}");
    let (success, _, error) = run(&["conflicts", "dismiss", &second.to_string(), "--reason", ""]);
    assert!(!success && error.contains("reason"), "{error}");
    let (success, json, _) =
        run(&["conflicts", "dismiss", &second.to_string(), "--reason", "twins", "--json"]);
    assert!(success);
    let resolved: Resolved = serde_json::from_str(&json).unwrap();
    assert_eq!(resolved.conflict.status, ConflictStatus::Dismissed);
    assert!(resolved.conflict.attendees.iter().any(|a| a.id == twin_a));
    // The export tells the organiser's CRM which attendee the merged one became.
    let out = tempfile::tempdir().unwrap();
    let (success, _, _) =
        run(&["export", "--format", "csv", "--out", out.path().to_str().unwrap()]);
    assert!(success);
    let exported = std::fs::read_to_string(out.path().join("attendees.csv")).unwrap();
    let header = exported.lines().next().unwrap();
    assert!(header.ends_with(",merged_into,chinese_name"), "{header}");
    let merged_row = exported.lines().find(|line| line.starts_with(&merged.to_string())).unwrap();
    assert!(merged_row.ends_with(&format!(",{kept},")), "{merged_row}");
    let (success, _, error) = run(&["conflicts", "merge", "424242", "--keep", &kept.to_string()]);
    assert!(!success && error.contains("no conflict 424242"), "{error}");
    let (_, json, _) = run(&["conflicts", "--json"]);
    assert!(serde_json::from_str::<ConflictList>(&json).unwrap().conflicts.is_empty());
}
