//! Who may make which change: one pure rule, applied by the hub when it accepts a push
//! and by every station when it applies a pull, so a stolen credential of one station
//! can do no more than that station's role allows anywhere in the venue.
//!
//! A station's role is bound to its credential when the hub enrols it
//! (`expo-hub station add NAME --role R`); the hub stamps the pushing station's role into
//! every change it stores ([`crate::protocol::Change::pushed_by`]), overwriting whatever
//! the station sent, and stations check that stamp against this rule.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::protocol::{Change, Record};

/// The job a station was enrolled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StationRole {
    /// Registration desk: attendees, badges (revocations included), print jobs, audit.
    Desk,
    /// Self-service kiosk: what a desk does, except revoking badges.
    Kiosk,
    /// Access gate: gate decisions and its own audit entries.
    Gate,
    /// The organiser's admin station: everything, the event definition included.
    Admin,
}

impl StationRole {
    pub const ALL: [StationRole; 4] =
        [StationRole::Desk, StationRole::Kiosk, StationRole::Gate, StationRole::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            StationRole::Desk => "desk",
            StationRole::Kiosk => "kiosk",
            StationRole::Gate => "gate",
            StationRole::Admin => "admin",
        }
    }

    /// True for the roles that sign badges and so hold a signing key the organiser
    /// authority may endorse.
    pub fn signs_badges(self) -> bool {
        !matches!(self, StationRole::Gate)
    }
}

impl fmt::Display for StationRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown station role {0:?}: use desk, kiosk, gate or admin")]
pub struct UnknownRole(pub String);

impl FromStr for StationRole {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        StationRole::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| UnknownRole(text.chars().take(32).collect()))
    }
}

/// Why a role may not make a change.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Forbidden {
    #[error("a {role} station may not push {kind} records")]
    Kind { role: StationRole, kind: &'static str },
    #[error("a kiosk may not revoke a badge")]
    KioskRevocation,
    #[error("a gate may push only its own audit entries (actor gate:…, action gate_…)")]
    GateAudit,
    #[error("only the hub endorses or revokes signing keys")]
    SigningKey,
}

/// Audit entries a gate writes about itself carry this actor prefix and action prefix
/// (see `src/gate/runtime.rs`); anything else from a gate is someone else's name.
const GATE_ACTOR_PREFIX: &str = "gate:";
const GATE_ACTION_PREFIX: &str = "gate_";

/// Whether a station of `role` may have made `change`.
pub fn may_make(role: StationRole, change: &Change) -> Result<(), Forbidden> {
    use StationRole::{Admin, Desk, Gate, Kiosk};
    let forbidden = || Forbidden::Kind { role, kind: change.record.kind() };
    match (&change.record, role) {
        // Its authority is the organiser's signature, which stations check themselves.
        (Record::SigningKey(_), _) => Err(Forbidden::SigningKey),
        (_, Admin) => Ok(()),
        (Record::Event(_), _) => Err(forbidden()),
        (Record::GateDecision(_), Gate) => Ok(()),
        (Record::GateDecision(_), Desk | Kiosk) => Err(forbidden()),
        (Record::Audit(entry), Gate) => {
            let own = entry.actor.starts_with(GATE_ACTOR_PREFIX)
                && entry.action.starts_with(GATE_ACTION_PREFIX)
                && entry.attendee_id.is_none();
            if own {
                Ok(())
            } else {
                Err(Forbidden::GateAudit)
            }
        }
        (Record::Audit(_), Desk | Kiosk) => Ok(()),
        (Record::Badge(badge), Kiosk) if badge.status == "revoked" => {
            Err(Forbidden::KioskRevocation)
        }
        (Record::Attendee(_) | Record::Badge(_) | Record::PrintJob(_), Desk | Kiosk) => Ok(()),
        (Record::Attendee(_) | Record::Badge(_) | Record::PrintJob(_), Gate) => Err(forbidden()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::protocol::{AuditRecord, BadgeRecord, EventRecord};
    use crate::test_records;

    fn badge(status: &str) -> Record {
        Record::Badge(BadgeRecord { status: status.into(), ..test_records::badge() })
    }

    fn audit(actor: &str, action: &str, attendee: Option<Uuid>) -> Record {
        Record::Audit(AuditRecord {
            id: Uuid::nil(),
            at: "2025-05-01T09:00:00Z".into(),
            actor: actor.into(),
            action: action.into(),
            attendee_id: attendee,
            detail: json!({}),
        })
    }

    /// The rule written out by hand: (record, desk, kiosk, gate, admin).
    #[test]
    fn the_rule_matches_the_table() {
        let event = Record::Event(EventRecord {
            event_id: "e".into(),
            definition: String::new(),
            public_keys: vec![],
        });
        let gate = Record::GateDecision(test_records::gate_decision());
        let signing_key = Record::SigningKey(crate::protocol::SigningKeyRecord {
            station: "st-1".into(),
            key_id: 1,
            public_key: String::new(),
            revoked: false,
            signature: String::new(),
        });
        let print = Record::PrintJob(test_records::print_job());
        let table: Vec<(&str, Record, [bool; 4])> = vec![
            ("attendee", Record::Attendee(test_records::attendee()), [true, true, false, true]),
            ("badge active", badge("active"), [true, true, false, true]),
            ("badge superseded", badge("superseded"), [true, true, false, true]),
            ("badge revoked", badge("revoked"), [true, false, false, true]),
            ("print job", print, [true, true, false, true]),
            ("gate decision", gate, [false, false, true, true]),
            (
                "audit of a person",
                audit("desk-op", "register", Some(Uuid::nil())),
                [true, true, false, true],
            ),
            ("gate's own audit", audit("gate:north", "gate_mode", None), [true, true, true, true]),
            (
                "forged audit from a gate",
                audit("admin", "reveal_id_number", None),
                [true, true, false, true],
            ),
            (
                "gate audit about a person",
                audit("gate:north", "gate_mode", Some(Uuid::nil())),
                [true, true, false, true],
            ),
            ("event definition", event, [false, false, false, true]),
            ("signing key", signing_key, [false, false, false, false]),
        ];
        let roles = [StationRole::Desk, StationRole::Kiosk, StationRole::Gate, StationRole::Admin];
        for (name, record, allowed) in table {
            let change = test_records::change(record);
            for (role, expected) in roles.into_iter().zip(allowed) {
                assert_eq!(may_make(role, &change).is_ok(), expected, "{name} by a {role}");
            }
        }
    }

    #[test]
    fn roles_read_back_from_their_names() {
        for role in StationRole::ALL {
            assert_eq!(role.as_str().parse::<StationRole>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), json!(role.as_str()));
        }
        assert!("root".parse::<StationRole>().is_err());
        assert!(!StationRole::Gate.signs_badges() && StationRole::Kiosk.signs_badges());
    }
}
