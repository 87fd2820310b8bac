//! Conflict rules, shared by the hub and every station so that all of them keep the
//! same version of each record whatever order changes arrive in.
//!
//! Two changes conflict when they carry the same [`Record::entity_key`]. The one kept is
//! the greater by `(precedence, hlc)`:
//! - **Revocation wins**: a revoked badge has precedence over every other status of the
//!   same badge serial, even one with a later HLC. A gate decision's annulment likewise
//!   wins over the decision it annuls.
//! - **Last writer wins** otherwise, by hybrid logical clock (ties are impossible: the
//!   HLC includes the station id). Stations keep the losing attendee version in their
//!   audit log.
//! - **Gate decisions are append-only**: each has its own id, so two decisions never
//!   share a key; only an annulment (same id) replaces one.
//! - **Duplicate walk-ins** (two attendee ids, one ID hash) are not a key conflict: the
//!   hub keeps both and reports the pair for a merge (see `hub::store::duplicate_pairs`).

use std::cmp::Ordering;

use crate::protocol::{Change, Record};

/// Rank of a version above its HLC: 1 for a revoked badge, an annulled gate decision
/// or a revoked signing key, 0 otherwise. Stored by the hub so SQL can compare `(precedence, hlc)`.
pub fn precedence(record: &Record) -> i32 {
    match record {
        Record::Badge(b) if b.status == "revoked" => 1,
        Record::GateDecision(g) if g.annulled => 1,
        Record::SigningKey(k) if k.revoked => 1,
        _ => 0,
    }
}

/// Orders two versions of one entity: `Greater` means `a` is kept over `b`.
pub fn version_order(a: &Change, b: &Change) -> Ordering {
    (precedence(&a.record), &a.hlc).cmp(&(precedence(&b.record), &b.hlc))
}

/// True when `incoming` replaces `current` (a version of the same entity).
pub fn supersedes(incoming: &Change, current: &Change) -> bool {
    version_order(incoming, current) == Ordering::Greater
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::hlc::Hlc;
    use crate::protocol::{BadgeRecord, GateDecisionRecord};

    fn change(station: &str, wall_ms: u64, record: Record) -> Change {
        Change {
            id: Uuid::now_v7(),
            station: station.into(),
            hlc: Hlc { wall_ms, counter: 0, station: station.into() },
            record,
            pushed_by: None,
        }
    }

    fn badge(status: &str) -> Record {
        Record::Badge(BadgeRecord {
            attendee_id: Uuid::nil(),
            serial: 1,
            status: status.into(),
            reason: None,
            issued_at: String::new(),
            changed_at: String::new(),
            operator: "op".into(),
        })
    }

    fn gate(annulled: bool) -> Record {
        Record::GateDecision(GateDecisionRecord {
            id: Uuid::nil(),
            attendee_id: None,
            badge_serial: None,
            gate: "g".into(),
            lane: "1".into(),
            zone: "z".into(),
            direction: "in".into(),
            granted: true,
            reason: "ok".into(),
            at: String::new(),
            annulled,
        })
    }

    #[test]
    fn the_later_hlc_wins_between_equal_ranks() {
        let (older, newer) =
            (change("b", 10, badge("active")), change("a", 11, badge("superseded")));
        assert!(supersedes(&newer, &older));
        assert!(!supersedes(&older, &newer));
        // Equal wall time: the counter, then the station id, decide; never a tie.
        let (x, y) = (change("a", 10, badge("active")), change("b", 10, badge("active")));
        assert_ne!(supersedes(&x, &y), supersedes(&y, &x));
        assert!(!supersedes(&x, &x), "re-applying a version changes nothing");
    }

    #[test]
    fn revocation_and_annulment_win_over_later_versions() {
        let revoked = change("desk", 10, badge("revoked"));
        let reactivated = change("gate", 99, badge("active"));
        assert!(!supersedes(&reactivated, &revoked));
        assert!(supersedes(&revoked, &reactivated));
        let (annulment, retry) = (change("gate", 10, gate(true)), change("gate", 20, gate(false)));
        assert!(supersedes(&annulment, &retry) && !supersedes(&retry, &annulment));
    }
}
