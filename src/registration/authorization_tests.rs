//! Every library function that changes data or reveals personal data checks the acting
//! operator itself: the function permission of its role, and its category scope. A refused
//! call writes nothing but its `refused` audit entry. Reads of personal data (`lookup`)
//! check the same, and answer nothing outside the operator's categories.

use super::*;
use crate::badges::queue;
use crate::operators::{Operator, OperatorError, Role};
use crate::stats::{follow_up, StatsError};
use crate::store::test_support::store_with_event;

fn operator(name: &str, role: Role, categories: &[&str]) -> Operator {
    Operator {
        name: name.into(),
        role,
        categories: categories.iter().map(|c| (*c).to_owned()).collect(),
    }
}

fn person(name: &str, category: &str) -> NewAttendee {
    NewAttendee {
        name: name.into(),
        category: category.into(),
        company: "上海国际展览有限公司".into(),
        phone: "13812345678".into(),
        id_number: "11010519491231002X".into(),
        ..NewAttendee::default()
    }
}

/// Everything a refused call must leave as it was: attendees, badges, print jobs and
/// every outbox row but audit entries.
fn snapshot(store: &Store) -> String {
    store
        .conn()
        .query_row(
            "SELECT (SELECT coalesce(group_concat(id || name || category || consent, ';'), '') FROM attendees) \
             || '|' || (SELECT coalesce(group_concat(attendee_id || serial || status, ';'), '') FROM badges) \
             || '|' || (SELECT count(*) FROM print_jobs) \
             || '|' || (SELECT count(*) FROM outbox WHERE kind <> 'audit')",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn refusals(store: &Store) -> i64 {
    store
        .conn()
        .query_row("SELECT count(*) FROM audit WHERE action = 'refused'", [], |r| r.get(0))
        .unwrap()
}

/// Runs `call`, which must be refused with `expected`, and checks it changed nothing and
/// was audited as refused.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(
    store: &mut Store,
    expected: fn(&OperatorError) -> bool,
    call: impl FnOnce(&mut Store) -> std::result::Result<T, OperatorError>,
) {
    let (before, refused_before) = (snapshot(store), refusals(store));
    match call(store) {
        Err(error) if expected(&error) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(snapshot(store), before, "a refused call changed data");
    assert_eq!(refusals(store), refused_before + 1, "a refusal is audited");
}

fn forbidden(error: &OperatorError) -> bool {
    matches!(error, OperatorError::Forbidden { .. })
}

fn out_of_scope(error: &OperatorError) -> bool {
    matches!(error, OperatorError::OutOfScope { .. })
}

fn operator_error(error: RegistrationError) -> OperatorError {
    match error {
        RegistrationError::Operator(inner) => inner,
        other => panic!("not an operator's refusal: {other}"),
    }
}

fn badge_operator_error(error: crate::badges::BadgeError) -> OperatorError {
    match error {
        crate::badges::BadgeError::Operator(inner) => inner,
        crate::badges::BadgeError::Registration(inner) => operator_error(inner),
        other => panic!("not an operator's refusal: {other}"),
    }
}

fn stats_operator_error(error: StatsError) -> OperatorError {
    match error {
        StatsError::Operator(inner) => inner,
        other => panic!("not an operator's refusal: {other}"),
    }
}

#[test]
fn a_role_without_the_permission_changes_and_reveals_nothing() {
    let (_dir, mut store) = store_with_event();
    let admin = Operator::admin("boss");
    let vip = AttendeeId(
        register(&mut store, &admin, &person("张三", "vip"), Source::WalkIn).unwrap().id,
    );
    badge::ensure_badge(&mut store, &admin, vip).unwrap();
    let gate = operator("gate1", Role::Gate, &[]);
    let desk = operator("desk1", Role::Desk, &[]);
    let input = person("李四", "vip");

    assert_refused(&mut store, forbidden, |s| {
        register(s, &gate, &input, Source::WalkIn).map_err(operator_error)
    });
    assert_refused(&mut store, forbidden, |s| edit(s, &gate, vip, &input).map_err(operator_error));
    assert_refused(&mut store, forbidden, |s| {
        badge::revoke(s, &desk, vip, "lost").map_err(operator_error)
    });
    assert_refused(&mut store, forbidden, |s| {
        badge::ensure_badge(s, &gate, vip).map_err(operator_error)
    });
    assert_refused(&mut store, forbidden, |s| {
        badge::reprint(s, &gate, vip, "lost").map_err(operator_error)
    });
    assert_refused(&mut store, forbidden, |s| {
        reveal_id_number(s, &desk, vip).map(|n| n.is_some()).map_err(operator_error)
    });
    assert_refused(&mut store, forbidden, |s| {
        queue::enqueue(s, &gate, vip, None, "none").map_err(badge_operator_error)
    });
    assert_refused(&mut store, forbidden, |s| {
        queue::retry_failed(s, &gate).map_err(badge_operator_error)
    });
    assert_refused(&mut store, forbidden, |s| {
        follow_up::export(s, &desk, &[], follow_up::Format::Csv, &mut Vec::new())
            .map_err(stats_operator_error)
    });
}

#[test]
fn an_operator_limited_to_exhibitors_cannot_touch_anyone_else() {
    let (_dir, mut store) = store_with_event();
    let admin = Operator::admin("boss");
    let vip = AttendeeId(
        register(&mut store, &admin, &person("张三", "vip"), Source::WalkIn).unwrap().id,
    );
    let mut exhibitor_input = person("王五", "exhibitor");
    exhibitor_input.id_number.clear();
    let exhibitor =
        AttendeeId(register(&mut store, &admin, &exhibitor_input, Source::WalkIn).unwrap().id);
    badge::ensure_badge(&mut store, &admin, vip).unwrap();
    let desk = operator("exh-desk", Role::Desk, &["exhibitor"]);
    let scoped_admin = operator("exh-admin", Role::Admin, &["exhibitor"]);

    // Not into another category: neither a new attendee (given by id or Chinese label)
    // nor one moved there.
    for category in ["vip", "贵宾"] {
        let mut input = person("李四", category);
        input.id_number.clear();
        assert_refused(&mut store, out_of_scope, |s| {
            register(s, &desk, &input, Source::WalkIn).map_err(operator_error)
        });
    }
    let moved = NewAttendee { category: "vip".into(), ..exhibitor_input.clone() };
    assert_refused(&mut store, out_of_scope, |s| {
        edit(s, &desk, exhibitor, &moved).map_err(operator_error)
    });
    // Nothing of an attendee of another category.
    let renamed = NewAttendee { name: "张三丰".into(), ..person("张三", "vip") };
    assert_refused(&mut store, out_of_scope, |s| {
        edit(s, &desk, vip, &renamed).map_err(operator_error)
    });
    assert_refused(&mut store, out_of_scope, |s| {
        badge::revoke(s, &scoped_admin, vip, "lost").map_err(operator_error)
    });
    assert_refused(&mut store, out_of_scope, |s| {
        badge::reprint(s, &desk, vip, "lost").map_err(operator_error)
    });
    assert_refused(&mut store, out_of_scope, |s| {
        reveal_id_number(s, &scoped_admin, vip).map(|n| n.is_some()).map_err(operator_error)
    });
    assert_refused(&mut store, out_of_scope, |s| {
        queue::enqueue(s, &desk, vip, None, "none").map_err(badge_operator_error)
    });
    assert_refused(&mut store, out_of_scope, |s| {
        follow_up::export(
            s,
            &scoped_admin,
            &["vip".into()],
            follow_up::Format::Csv,
            &mut Vec::new(),
        )
        .map_err(stats_operator_error)
    });

    // Within the scope everything works, and an export without categories is the scope's.
    let fixed = NewAttendee { title: "经理".into(), ..exhibitor_input };
    edit(&mut store, &desk, exhibitor, &fixed).unwrap();
    badge::ensure_badge(&mut store, &desk, exhibitor).unwrap();
    let mut out = Vec::new();
    let summary =
        follow_up::export(&mut store, &scoped_admin, &[], follow_up::Format::Jsonl, &mut out)
            .unwrap();
    assert_eq!(summary.attendees, 1);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("王五") && !text.contains("张三"), "{text}");
}

/// An operator limited to exhibitors never reads a visitor's record, search hit or audit
/// entry.
#[test]
fn an_operator_limited_to_exhibitors_reads_nothing_of_a_visitor() {
    let (_dir, mut store) = store_with_event();
    let admin = Operator::admin("boss");
    let vip = AttendeeId(
        register(&mut store, &admin, &person("张三", "vip"), Source::WalkIn).unwrap().id,
    );
    let mut exhibitor_input = person("张四", "exhibitor");
    exhibitor_input.id_number.clear();
    let exhibitor =
        AttendeeId(register(&mut store, &admin, &exhibitor_input, Source::WalkIn).unwrap().id);
    let desk = operator("exh-desk", Role::Desk, &["exhibitor"]);
    let scoped_admin = operator("exh-admin", Role::Admin, &["exhibitor"]);
    let conn = store.conn();

    let names: Vec<String> =
        lookup::search(conn, &desk, "张", 10).unwrap().into_iter().map(|h| h.name).collect();
    assert_eq!(names, ["张四"]);
    assert_eq!(lookup::search(conn, &admin, "张", 10).unwrap().len(), 2, "an unscoped admin");

    assert!(lookup::attendee(conn, &desk, vip).unwrap().is_none(), "as if they did not exist");
    assert_eq!(lookup::attendee(conn, &desk, exhibitor).unwrap().unwrap().name, "张四");

    let log = lookup::audit_log(conn, &scoped_admin, None, 100).unwrap();
    assert!(log.iter().any(|e| e.attendee_id == Some(exhibitor.0)), "{log:?}");
    assert!(log.iter().all(|e| e.attendee_id != Some(vip.0)), "{log:?}");
    assert!(lookup::audit_log(conn, &scoped_admin, Some(vip), 100).unwrap().is_empty());
    let everything = lookup::audit_log(conn, &admin, Some(vip), 100).unwrap();
    assert!(!everything.is_empty(), "an unscoped admin reads the visitor's entries");
}

#[test]
fn a_role_without_the_permission_reads_nothing() {
    let (_dir, mut store) = store_with_event();
    let admin = Operator::admin("boss");
    register(&mut store, &admin, &person("张三", "vip"), Source::WalkIn).unwrap();
    let conn = store.conn();
    let kiosk = Operator::kiosk("k1");
    let desk = operator("desk1", Role::Desk, &[]);
    let gate = operator("gate1", Role::Gate, &[]);
    let forbidden = |error: RegistrationError| forbidden(&operator_error(error));

    assert!(
        forbidden(lookup::search(conn, &kiosk, "张", 10).unwrap_err()),
        "a kiosk never searches"
    );
    assert!(forbidden(lookup::search(conn, &gate, "张", 10).unwrap_err()));
    assert!(forbidden(lookup::audit_log(conn, &desk, None, 10).unwrap_err()), "no audit log");
    assert!(forbidden(lookup::audit_log(conn, &kiosk, None, 10).unwrap_err()));
}
