//! Well-formed sample records for the unit tests of this crate.

use uuid::Uuid;

use crate::hlc::Hlc;
use crate::protocol::{
    AttendeeRecord, BadgeRecord, Change, GateDecisionRecord, PrintJobRecord, Record,
};

pub fn attendee() -> AttendeeRecord {
    AttendeeRecord {
        id: Uuid::nil(),
        registration_code: Some("R1".into()),
        name: "张三".into(),
        company: "ACME".into(),
        title: "Engineer".into(),
        phone: "13912345678".into(),
        email: "z@example.com".into(),
        country: "CN".into(),
        category: "visitor".into(),
        source: "walk_in".into(),
        id_type: None,
        id_masked: None,
        id_hash: None,
        id_sealed: None,
        consent: true,
        tags: vec!["vip".into()],
        created_at: "2025-05-01T09:00:00Z".into(),
        updated_at: "2025-05-01T09:00:00Z".into(),
        merged_into: None,
        chinese_name: String::new(),
    }
}

pub fn badge() -> BadgeRecord {
    BadgeRecord {
        attendee_id: Uuid::nil(),
        serial: 1,
        status: "active".into(),
        reason: None,
        issued_at: "2025-05-01T09:00:00Z".into(),
        changed_at: "2025-05-01T09:00:00Z".into(),
        operator: "op".into(),
    }
}

pub fn gate_decision() -> GateDecisionRecord {
    GateDecisionRecord {
        id: Uuid::nil(),
        attendee_id: Some(Uuid::nil()),
        badge_serial: Some(1),
        gate: "north".into(),
        lane: "1".into(),
        zone: "hall".into(),
        direction: "in".into(),
        granted: true,
        reason: "ok".into(),
        at: "2025-05-01T09:05:00Z".into(),
        annulled: false,
    }
}

pub fn print_job() -> PrintJobRecord {
    PrintJobRecord {
        id: Uuid::nil(),
        attendee_id: Uuid::nil(),
        badge_serial: 1,
        printer: "zebra".into(),
        status: "printed".into(),
        attempts: 1,
        error: None,
        at: "2025-05-01T09:01:00Z".into(),
    }
}

/// `record` as station `st-1` made it, at the dawn of its clock.
pub fn change(record: Record) -> Change {
    Change {
        id: Uuid::nil(),
        station: "st-1".into(),
        hlc: Hlc { wall_ms: 1, counter: 0, station: "st-1".into() },
        record,
        pushed_by: None,
    }
}
