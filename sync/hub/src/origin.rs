//! Changes the hub makes itself, as the organiser's data centre: registrations that come in
//! through `expo-hub import attendees` or the integration API, badges revoked from the data
//! centre, merges of duplicate attendees.
//!
//! They are stored like a pushed change, under the origin [`HUB_ORIGIN`] and stamped as made
//! by [`StationRole::Admin`] (the organiser's own authority), so stations apply them through the
//! ordinary pull and check them by the same rule as an admin station's changes
//! ([`expo_sync::authority::may_make`]).

use std::sync::Mutex;

use expo_sync::endorsement::HUB_ORIGIN;
use expo_sync::hlc::{wall_clock_ms, Hlc, HlcClock};
use expo_sync::protocol::{AuditRecord, Change, PushResponse, Record};
use expo_sync::StationRole;
use uuid::Uuid;

use crate::store::{HubStore, PreparedBatch, StoreError};

/// The hub's own clock. One per hub process: two processes over one PostgreSQL each order
/// their own changes, and a record they both edit is ordered by wall time like any two
/// stations' edits.
#[derive(Debug)]
pub struct HubOrigin {
    clock: Mutex<HlcClock>,
}

impl Default for HubOrigin {
    fn default() -> Self {
        Self { clock: Mutex::new(HlcClock::new(HUB_ORIGIN)) }
    }
}

impl HubOrigin {
    /// A change of the hub carrying `record`. `supersedes` is the HLC of the version the
    /// hub holds now, if any: the change is ordered after it, so an edit from the data
    /// centre wins over the version it replaces even when that station's clock ran ahead.
    pub fn change(&self, record: Record, supersedes: Option<&Hlc>) -> Change {
        let now = wall_clock_ms();
        let hlc = {
            // A poisoned lock only means another request panicked mid-tick; the clock
            // itself is still a valid HLC.
            let mut clock = self.clock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match supersedes {
                Some(current) => clock.observe(current, now),
                None => clock.tick(now),
            }
        };
        Change {
            id: Uuid::now_v7(),
            station: HUB_ORIGIN.to_owned(),
            hlc,
            record,
            pushed_by: Some(StationRole::Admin),
        }
    }

    /// An audit entry of the hub: `actor` (the data centre's API key, or the hub's command
    /// line) did `action`. Stored with the change it explains, so it reaches the stations
    /// that keep the audit log.
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        attendee_id: Option<Uuid>,
        detail: serde_json::Value,
    ) -> Change {
        let entry = AuditRecord {
            id: Uuid::now_v7(),
            at: expo_kiosk::store::now_rfc3339(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            attendee_id,
            detail,
        };
        self.change(Record::Audit(entry), None)
    }

    /// Stores `changes` of the hub (as pushed by [`HUB_ORIGIN`]), idempotently by id.
    pub async fn store<S: HubStore>(
        store: &S,
        changes: &[Change],
    ) -> Result<PushResponse, StoreError> {
        let batch = PreparedBatch::from_hub(changes)
            .map_err(|error| StoreError::Corrupt(format!("a change of the hub: {error}")))?;
        store.push(HUB_ORIGIN, batch).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use expo_sync::test_records;

    use super::*;

    #[test]
    fn a_hub_change_comes_after_the_version_it_supersedes_and_is_the_organisers() {
        let origin = HubOrigin::default();
        let ahead = Hlc { wall_ms: wall_clock_ms() + 120_000, counter: 3, station: "st-a".into() };
        let change = origin.change(Record::Attendee(test_records::attendee()), Some(&ahead));
        assert!(change.hlc > ahead, "{:?} is not after {:?}", change.hlc, ahead);
        assert_eq!(change.station, HUB_ORIGIN);
        assert_eq!(change.pushed_by, Some(StationRole::Admin));
        expo_sync::authority::may_make(StationRole::Admin, &change).unwrap();
        let next = origin.change(Record::Attendee(test_records::attendee()), None);
        assert!(next.hlc > change.hlc, "the hub's clock never goes back");
    }
}
