//! The domain rules every change must meet before anyone stores it: the hub checks a
//! push with them and refuses (per change) what breaks them, and a station checks a pull
//! with them and sets aside what breaks them, so one malformed change can neither land
//! in a station's database nor stop the changes queued behind it.
//!
//! The limits are what the station store can hold (its CHECK constraints and column
//! types; badge tokens carry a 16-bit serial) and what keeps a pull page small.

use crate::hlc::Hlc;
use crate::protocol::{AttendeeRecord, Change, Record};

/// Largest encoded size of one change. An event definition is the biggest record a
/// real station makes (a few KiB); a pull page of them must stay small.
pub const MAX_CHANGE_BYTES: usize = 256 * 1024;
/// Longest text field of a record, in bytes (names, companies, reasons, timestamps).
pub const MAX_TEXT_BYTES: usize = 4096;
/// Most tags one attendee carries.
pub const MAX_TAGS: usize = 64;
/// Largest audit detail, encoded.
pub const MAX_AUDIT_DETAIL_BYTES: usize = 16 * 1024;
/// Longest station id (`st-…`).
pub const MAX_STATION_ID_BYTES: usize = 64;
/// How far ahead of the hub's clock a change may be stamped. Station clocks disagree by
/// minutes at most; a timestamp beyond this would win every later edit for good.
pub const MAX_CLOCK_AHEAD_MS: u64 = 5 * 60 * 1000;

pub const BADGE_STATUSES: [&str; 3] = ["active", "superseded", "revoked"];
pub const ATTENDEE_SOURCES: [&str; 3] = ["pre_registered", "walk_in", "self_service"];
pub const GATE_DIRECTIONS: [&str; 2] = ["in", "out"];
pub const PRINT_JOB_STATUSES: [&str; 5] = ["queued", "sending", "sent", "printed", "failed"];

/// Why a change breaks the rules.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Invalid {
    #[error("the change is {0} bytes encoded (at most {MAX_CHANGE_BYTES})")]
    TooLarge(usize),
    #[error("{field} is {got:?}; expected one of {allowed:?}")]
    NotOneOf { field: &'static str, got: String, allowed: &'static [&'static str] },
    #[error("{field} is longer than {limit} bytes")]
    TooLong { field: &'static str, limit: usize },
    #[error("badge serial {0} is outside 1..=65535")]
    Serial(u32),
    #[error("the change's station {station:?} and its clock's station {clock:?} differ")]
    ClockStation { station: String, clock: String },
    #[error("the change is stamped {ahead_ms} ms ahead of this clock")]
    FromTheFuture { ahead_ms: u64 },
    #[error("the event id is empty")]
    EmptyEventId,
}

/// Checks `change` against the domain rules. `encoded_len` is its JSON size.
pub fn check(change: &Change, encoded_len: usize) -> Result<(), Invalid> {
    if encoded_len > MAX_CHANGE_BYTES {
        return Err(Invalid::TooLarge(encoded_len));
    }
    check_content(change)
}

/// [`check`] without the size: what a station checks of a change it pulled (the hub
/// checked the size when it took the change).
pub fn check_content(change: &Change) -> Result<(), Invalid> {
    if change.hlc.station != change.station {
        return Err(Invalid::ClockStation {
            station: clip(&change.station),
            clock: clip(&change.hlc.station),
        });
    }
    text("station", &change.station, MAX_STATION_ID_BYTES)?;
    check_record(&change.record)
}

/// Refuses a timestamp more than [`MAX_CLOCK_AHEAD_MS`] ahead of `now_ms`.
pub fn check_clock(hlc: &Hlc, now_ms: u64) -> Result<(), Invalid> {
    check_clock_within(hlc, now_ms, MAX_CLOCK_AHEAD_MS)
}

/// Refuses a timestamp more than `max_ahead_ms` ahead of `now_ms`.
pub fn check_clock_within(hlc: &Hlc, now_ms: u64, max_ahead_ms: u64) -> Result<(), Invalid> {
    match hlc.wall_ms.checked_sub(now_ms) {
        Some(ahead_ms) if ahead_ms > max_ahead_ms => Err(Invalid::FromTheFuture { ahead_ms }),
        _ => Ok(()),
    }
}

fn check_record(record: &Record) -> Result<(), Invalid> {
    match record {
        Record::Attendee(a) => check_attendee(a),
        Record::Badge(b) => {
            serial(b.serial)?;
            one_of("badge status", &b.status, &BADGE_STATUSES)?;
            texts(&[
                ("badge reason", b.reason.as_deref().unwrap_or_default()),
                ("badge issued_at", &b.issued_at),
                ("badge changed_at", &b.changed_at),
                ("badge operator", &b.operator),
            ])
        }
        Record::GateDecision(g) => {
            if let Some(n) = g.badge_serial {
                serial(n)?;
            }
            one_of("gate direction", &g.direction, &GATE_DIRECTIONS)?;
            texts(&[
                ("gate", &g.gate),
                ("gate lane", &g.lane),
                ("gate zone", &g.zone),
                ("gate reason", &g.reason),
                ("gate at", &g.at),
            ])
        }
        Record::PrintJob(p) => {
            serial(p.badge_serial)?;
            one_of("print job status", &p.status, &PRINT_JOB_STATUSES)?;
            texts(&[
                ("printer", &p.printer),
                ("print error", p.error.as_deref().unwrap_or_default()),
                ("print at", &p.at),
            ])
        }
        Record::Audit(a) => {
            texts(&[("audit at", &a.at), ("audit actor", &a.actor), ("audit action", &a.action)])?;
            let detail = serde_json::to_string(&a.detail).map_or(usize::MAX, |d| d.len());
            if detail > MAX_AUDIT_DETAIL_BYTES {
                return Err(Invalid::TooLong {
                    field: "audit detail",
                    limit: MAX_AUDIT_DETAIL_BYTES,
                });
            }
            Ok(())
        }
        Record::Event(e) => {
            if e.event_id.trim().is_empty() {
                return Err(Invalid::EmptyEventId);
            }
            text("event id", &e.event_id, MAX_TEXT_BYTES)
        }
        // Stations check its signature before they trust it (see crate::endorsement).
        Record::SigningKey(k) => texts(&[
            ("signing key station", &k.station),
            ("public key", &k.public_key),
            ("signature", &k.signature),
        ]),
    }
}

fn check_attendee(a: &AttendeeRecord) -> Result<(), Invalid> {
    one_of("attendee source", &a.source, &ATTENDEE_SOURCES)?;
    if a.tags.len() > MAX_TAGS {
        return Err(Invalid::TooLong { field: "attendee tags", limit: MAX_TAGS });
    }
    for tag in &a.tags {
        text("attendee tag", tag, MAX_TEXT_BYTES)?;
    }
    texts(&[
        ("registration code", a.registration_code.as_deref().unwrap_or_default()),
        ("name", &a.name),
        ("chinese name", &a.chinese_name),
        ("company", &a.company),
        ("title", &a.title),
        ("phone", &a.phone),
        ("email", &a.email),
        ("country", &a.country),
        ("category", &a.category),
        ("id type", a.id_type.as_deref().unwrap_or_default()),
        ("id masked", a.id_masked.as_deref().unwrap_or_default()),
        ("id hash", a.id_hash.as_deref().unwrap_or_default()),
        ("id sealed", a.id_sealed.as_deref().unwrap_or_default()),
        ("created_at", &a.created_at),
        ("updated_at", &a.updated_at),
    ])
}

fn serial(n: u32) -> Result<(), Invalid> {
    if n == 0 || n > u32::from(u16::MAX) {
        return Err(Invalid::Serial(n));
    }
    Ok(())
}

fn one_of(field: &'static str, got: &str, allowed: &'static [&'static str]) -> Result<(), Invalid> {
    if allowed.contains(&got) {
        Ok(())
    } else {
        Err(Invalid::NotOneOf { field, got: clip(got), allowed })
    }
}

fn texts(fields: &[(&'static str, &str)]) -> Result<(), Invalid> {
    fields.iter().try_for_each(|(field, value)| text(field, value, MAX_TEXT_BYTES))
}

fn text(field: &'static str, value: &str, limit: usize) -> Result<(), Invalid> {
    if value.len() > limit {
        Err(Invalid::TooLong { field, limit })
    } else {
        Ok(())
    }
}

/// A short, printable excerpt of a value for an error message.
fn clip(value: &str) -> String {
    value.chars().take(32).collect()
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::protocol::{AttendeeRecord, BadgeRecord, GateDecisionRecord};
    use crate::test_records;

    fn checked(record: Record) -> Result<(), Invalid> {
        let change = test_records::change(record);
        check(&change, serde_json::to_string(&change).unwrap().len())
    }

    #[test]
    fn well_formed_records_pass() {
        checked(Record::Attendee(test_records::attendee())).unwrap();
        checked(Record::Badge(test_records::badge())).unwrap();
        checked(Record::GateDecision(test_records::gate_decision())).unwrap();
        checked(Record::PrintJob(test_records::print_job())).unwrap();
    }

    #[test]
    fn what_a_station_store_cannot_hold_is_invalid() {
        let huge_serial = BadgeRecord { serial: u32::MAX, ..test_records::badge() };
        assert_eq!(checked(Record::Badge(huge_serial)), Err(Invalid::Serial(u32::MAX)));
        let unknown_status = BadgeRecord { status: "lost".into(), ..test_records::badge() };
        assert!(matches!(checked(Record::Badge(unknown_status)), Err(Invalid::NotOneOf { .. })));
        let sideways =
            GateDecisionRecord { direction: "sideways".into(), ..test_records::gate_decision() };
        assert!(matches!(
            checked(Record::GateDecision(sideways)),
            Err(Invalid::NotOneOf { field: "gate direction", .. })
        ));
        let source = AttendeeRecord { source: "crm".into(), ..test_records::attendee() };
        assert!(matches!(checked(Record::Attendee(source)), Err(Invalid::NotOneOf { .. })));
        let long =
            AttendeeRecord { company: "x".repeat(MAX_TEXT_BYTES + 1), ..test_records::attendee() };
        assert!(matches!(checked(Record::Attendee(long)), Err(Invalid::TooLong { .. })));
        let change = test_records::change(Record::Badge(test_records::badge()));
        assert_eq!(
            check(&change, MAX_CHANGE_BYTES + 1),
            Err(Invalid::TooLarge(MAX_CHANGE_BYTES + 1))
        );
    }

    #[test]
    fn the_clock_must_be_the_changes_own_and_not_from_the_future() {
        let mut spoofed = test_records::change(Record::Badge(test_records::badge()));
        spoofed.hlc.station = "st-other".into();
        assert!(matches!(check(&spoofed, 10), Err(Invalid::ClockStation { .. })));

        let now = 1_700_000_000_000;
        let at = |wall_ms| Hlc { wall_ms, counter: 0, station: "s".into() };
        check_clock(&at(now + MAX_CLOCK_AHEAD_MS), now).unwrap();
        check_clock(&at(now - 1), now).unwrap();
        assert!(matches!(
            check_clock(&at(999_999_999_999_999), now),
            Err(Invalid::FromTheFuture { .. })
        ));
    }
}
