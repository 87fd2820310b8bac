//! What a station receives of the changes other stations made: one pure rule per role
//! (PIPL data minimisation), applied by the hub when it answers a pull, so a gate in a
//! public hall never holds a visitor's phone number, whatever its software asks for.
//!
//! | record | desk, kiosk | gate | admin |
//! |---|---|---|---|
//! | event definition, signing key | as is | as is | as is |
//! | badge (revocations included) | as is | without operator and reason | as is |
//! | attendee | as is (ID number sealed, as stored) | id, registration code, name (not the Chinese name beside it), category, source, times | as is |
//! | gate decision | nothing | granted passages only, as is | as is |
//! | audit entry, print job | nothing | nothing | as is |
//!
//! Why each line:
//! - A gate decides from the signed token, the signing keys and revocations
//!   (`credential::Trust`), the holder's granted passages today (anti-passback and entry
//!   limits count only granted, not annulled passages) and, for a scanned registration
//!   code, whether it names an attendee without a badge ("collect your badge"). Its
//!   verdict screen shows the holder's name and category. Refusals elsewhere count for
//!   nothing there, and a badge's operator and revocation reason are free text about
//!   people.
//! - Desks and kiosks search, register, spot duplicates (phone, ID hash) and print:
//!   attendees whole, badges and revocations. No desk screen reads gate decisions (the
//!   dashboard and reports need `ViewReports`, an admin's), and a station keeps only its
//!   own print queue and audit log.
//! - The organiser's admin station runs the venue-wide dashboard, reports and audit view.
//!
//! Whether anything of a change reaches a role depends on its kind, and for gate
//! decisions on `granted`; [`kinds_received`] lets the hub leave whole kinds out in its
//! query, and [`scope`] decides the rest per change.

use crate::authority::StationRole;
use crate::protocol::{AttendeeRecord, BadgeRecord, Change, Record};

/// What a station of some role receives of one change.
#[derive(Clone, Debug, PartialEq)]
pub enum Scoped {
    /// Nothing: the change is not this role's business.
    Withheld,
    /// The change as its station made it.
    AsIs,
    /// A copy with the fields this role does not need emptied. It keeps the change id,
    /// station, clock and the hub's role stamp, so the station applies it by the usual
    /// rules.
    Reduced(Box<Change>),
}

/// The role whose scope a pulling station gets: its own, or, for a station enrolled
/// before the hub bound roles, a gate's: the narrowest, so a forgotten `station
/// set-role` exposes nobody's phone number (the station can push nothing until then
/// either).
pub fn pulling_role(role: Option<StationRole>) -> StationRole {
    role.unwrap_or(StationRole::Gate)
}

/// The record kinds of which a station of `role` receives anything (see
/// [`crate::protocol::Record::kind`]); `None`: every kind.
pub fn kinds_received(role: StationRole) -> Option<&'static [&'static str]> {
    match role {
        StationRole::Admin => None,
        StationRole::Desk | StationRole::Kiosk => {
            Some(&["attendee", "badge", "event", "signing_key"])
        }
        StationRole::Gate => Some(&["attendee", "badge", "event", "signing_key", "gate_decision"]),
    }
}

/// What a station of `role` receives of every change of `kind`, when the kind alone
/// decides it; `None` when it depends on the record. A snapshot passes on a stored change
/// that the kind decides without reading it (`kind` is the entity key's first part).
pub fn by_kind(role: StationRole, kind: &str) -> Option<Scoped> {
    if kinds_received(role).is_some_and(|kinds| !kinds.contains(&kind)) {
        return Some(Scoped::Withheld);
    }
    match role {
        StationRole::Admin | StationRole::Desk | StationRole::Kiosk => Some(Scoped::AsIs),
        StationRole::Gate => matches!(kind, "event" | "signing_key").then_some(Scoped::AsIs),
    }
}

/// What a station of `role` receives of `change`.
pub fn scope(role: StationRole, change: &Change) -> Scoped {
    if let Some(decided) = by_kind(role, change.record.kind()) {
        return decided;
    }
    match (role, &change.record) {
        (StationRole::Admin | StationRole::Desk | StationRole::Kiosk, _) => Scoped::AsIs,
        (StationRole::Gate, Record::Attendee(attendee)) => {
            reduced(change, Record::Attendee(for_the_verdict_screen(attendee)))
        }
        (StationRole::Gate, Record::Badge(badge)) => reduced(
            change,
            Record::Badge(BadgeRecord { operator: String::new(), reason: None, ..badge.clone() }),
        ),
        (StationRole::Gate, Record::GateDecision(decision)) if !decision.granted => {
            Scoped::Withheld
        }
        (StationRole::Gate, Record::GateDecision(_) | Record::Event(_) | Record::SigningKey(_)) => {
            Scoped::AsIs
        }
        (StationRole::Gate, Record::Audit(_) | Record::PrintJob(_)) => Scoped::Withheld,
    }
}

fn reduced(change: &Change, record: Record) -> Scoped {
    Scoped::Reduced(Box::new(Change { record, ..change.clone() }))
}

/// What a gate keeps of an attendee: who the verdict screen greets, and the
/// registration code that tells a visitor without a badge to collect it at a desk.
fn for_the_verdict_screen(attendee: &AttendeeRecord) -> AttendeeRecord {
    AttendeeRecord {
        id: attendee.id,
        registration_code: attendee.registration_code.clone(),
        name: attendee.name.clone(),
        company: String::new(),
        title: String::new(),
        phone: String::new(),
        email: String::new(),
        country: String::new(),
        category: attendee.category.clone(),
        source: attendee.source.clone(),
        id_type: None,
        id_masked: None,
        id_hash: None,
        id_sealed: None,
        consent: false,
        tags: Vec::new(),
        created_at: attendee.created_at.clone(),
        updated_at: attendee.updated_at.clone(),
        // A gate refuses every badge of an attendee merged into another.
        merged_into: attendee.merged_into,
        // The verdict screen greets by `name` alone.
        chinese_name: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::{AuditRecord, EventRecord, GateDecisionRecord, SigningKeyRecord};
    use crate::test_records;

    /// What a role gets of a change, in one word.
    fn outcome(role: StationRole, change: &Change) -> &'static str {
        match scope(role, change) {
            Scoped::Withheld => "-",
            Scoped::AsIs => "as is",
            Scoped::Reduced(_) => "reduced",
        }
    }

    /// The rule written out by hand: (record, desk, kiosk, gate, admin).
    #[test]
    fn the_rule_matches_the_table() {
        let denied = GateDecisionRecord { granted: false, ..test_records::gate_decision() };
        let granted = GateDecisionRecord { granted: true, ..test_records::gate_decision() };
        let audit = AuditRecord {
            id: uuid::Uuid::nil(),
            at: "2025-05-01T09:00:00Z".into(),
            actor: "desk-op".into(),
            action: "register".into(),
            attendee_id: None,
            detail: json!({}),
        };
        let table: Vec<(&str, Record, [&str; 4])> = vec![
            (
                "attendee",
                Record::Attendee(test_records::attendee()),
                ["as is", "as is", "reduced", "as is"],
            ),
            ("badge", Record::Badge(test_records::badge()), ["as is", "as is", "reduced", "as is"]),
            ("granted passage", Record::GateDecision(granted), ["-", "-", "as is", "as is"]),
            ("refusal", Record::GateDecision(denied), ["-", "-", "-", "as is"]),
            ("audit entry", Record::Audit(audit), ["-", "-", "-", "as is"]),
            ("print job", Record::PrintJob(test_records::print_job()), ["-", "-", "-", "as is"]),
            (
                "event",
                Record::Event(EventRecord {
                    event_id: "e".into(),
                    definition: String::new(),
                    public_keys: vec![],
                }),
                ["as is", "as is", "as is", "as is"],
            ),
            (
                "signing key",
                Record::SigningKey(SigningKeyRecord {
                    station: "st-1".into(),
                    key_id: 1,
                    public_key: String::new(),
                    revoked: true,
                    signature: String::new(),
                }),
                ["as is", "as is", "as is", "as is"],
            ),
        ];
        for (name, record, expected) in table {
            let change = test_records::change(record);
            for (role, expected) in StationRole::ALL.into_iter().zip(expected) {
                assert_eq!(outcome(role, &change), expected, "{name} to a {role}");
                let kind_listed =
                    kinds_received(role).is_none_or(|kinds| kinds.contains(&change.record.kind()));
                assert!(kind_listed || expected == "-", "{name} to a {role}: kind not listed");
                // The kind alone decides wherever the answer does not depend on the record.
                let depends_on_record = expected == "reduced"
                    || (role == StationRole::Gate && matches!(name, "granted passage" | "refusal"));
                let decided = (!depends_on_record).then(|| scope(role, &change));
                assert_eq!(by_kind(role, change.record.kind()), decided, "{name} to a {role}");
            }
        }
    }

    #[test]
    fn a_gate_gets_an_attendee_as_its_verdict_screen_shows_it_and_nothing_else() {
        let full = AttendeeRecord {
            id_type: Some("resident_id".into()),
            id_masked: Some("3101**********128X".into()),
            id_hash: Some("9f86d081884c7d65".into()),
            id_sealed: Some("c2VhbGVkLXNlY3JldA==".into()),
            name: "SMITH JOHN MICHAEL".into(),
            chinese_name: "史密斯".into(),
            ..test_records::attendee()
        };
        let change = Change {
            pushed_by: Some(StationRole::Desk),
            ..test_records::change(Record::Attendee(full.clone()))
        };
        let Scoped::Reduced(reduced) = scope(StationRole::Gate, &change) else {
            panic!("a gate gets a reduced attendee")
        };
        assert_eq!(
            (reduced.id, &reduced.hlc, reduced.pushed_by),
            (change.id, &change.hlc, change.pushed_by)
        );
        let Record::Attendee(kept) = reduced.record else { panic!("still an attendee") };
        assert_eq!(
            (kept.id, &kept.registration_code, &kept.name, &kept.category),
            (full.id, &full.registration_code, &full.name, &full.category)
        );
        let text = serde_json::to_string(&kept).unwrap();
        for secret in [&full.phone, &full.email, &full.company, &full.title, &full.chinese_name]
            .into_iter()
            .chain(full.id_hash.as_ref())
            .chain(full.id_sealed.as_ref())
            .chain(full.id_masked.as_ref())
            .chain(&full.tags)
        {
            assert!(
                !secret.is_empty() && !text.contains(secret.as_str()),
                "{secret:?} reached a gate"
            );
        }
        // What a station checks of a pulled change still holds for the copy.
        crate::validate::check_content(&Change {
            record: Record::Attendee(kept),
            ..change.clone()
        })
        .unwrap();
        crate::authority::may_make(StationRole::Desk, &change).unwrap();
    }

    #[test]
    fn a_gate_gets_a_revocation_without_who_made_it_or_why() {
        let revoked = BadgeRecord {
            status: "revoked".into(),
            reason: Some("lost, reported by 13912345678".into()),
            ..test_records::badge()
        };
        let change = test_records::change(Record::Badge(revoked.clone()));
        let Scoped::Reduced(reduced) = scope(StationRole::Gate, &change) else {
            panic!("a gate gets a reduced badge")
        };
        let expected = BadgeRecord { operator: String::new(), reason: None, ..revoked };
        assert_eq!(reduced.record, Record::Badge(expected));
    }

    #[test]
    fn a_station_without_a_role_gets_a_gates_scope() {
        assert_eq!(pulling_role(None), StationRole::Gate);
        assert_eq!(pulling_role(Some(StationRole::Desk)), StationRole::Desk);
    }
}
