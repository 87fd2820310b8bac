//! The gate's side of the store: what the decision engine needs to know, read from the
//! station database, and the entry log (`gate_decisions`) written with its outbox row.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use ed25519_dalek::VerifyingKey;
use expo_sync::protocol::GateDecisionRecord;
use expo_sync::Record;
use rusqlite::{params, Connection, OptionalExtension};

use super::config::LaneConfig;
use crate::access::{AttendeeState, Decision, Knowledge, StateUnavailable};
use crate::credential::Trust;
use crate::domain::AttendeeId;
use crate::registration::badge::StoreTrust;
use crate::registration::RegistrationError;
use crate::store::{format_time, Store, StoreError};

/// The station's trust and passage state, as the engine sees it.
pub struct StoreKnowledge<'a> {
    trust: StoreTrust<'a>,
    conn: &'a Connection,
    timezone: Tz,
}

impl<'a> StoreKnowledge<'a> {
    pub fn new(store: &'a Store) -> Result<Self, RegistrationError> {
        Ok(Self {
            trust: StoreTrust::new(store)?,
            conn: store.conn(),
            timezone: store.event()?.definition.timezone(),
        })
    }

    /// The UTC bounds of a venue-local day, as the `at` column stores them.
    fn day_bounds(&self, day: NaiveDate) -> (String, String) {
        let start = |d: NaiveDate| {
            let local = d.and_time(chrono::NaiveTime::MIN);
            // A day starts at a time that exists in every zone chrono-tz knows except across
            // a DST gap at midnight; `earliest` then falls back to the UTC reading.
            self.timezone
                .from_local_datetime(&local)
                .earliest()
                .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc))
        };
        let next = day.succ_opt().unwrap_or(day);
        (format_time(start(day)), format_time(start(next)))
    }

    fn query_state(
        &self,
        attendee: AttendeeId,
        zone: &str,
        day: NaiveDate,
    ) -> rusqlite::Result<AttendeeState> {
        let (from, to) = self.day_bounds(day);
        let id = attendee.to_string();
        // Passback state resets overnight: only today's passages count, so a missed exit
        // scan yesterday does not lock anyone out today.
        let last_direction: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT direction FROM gate_decisions WHERE attendee_id = ?1 AND zone = ?2 \
                 AND granted = 1 AND annulled = 0 AND at >= ?3 AND at < ?4 \
                 ORDER BY at DESC, rowid DESC LIMIT 1",
            )?
            .query_row(params![id, zone, from, to], |r| r.get(0))
            .optional()?;
        let entries_today: u32 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM gate_decisions WHERE attendee_id = ?1 AND direction = 'in' \
                 AND granted = 1 AND annulled = 0 AND at >= ?2 AND at < ?3",
            )?
            .query_row(params![id, from, to], |r| r.get(0))?;
        Ok(AttendeeState { inside: last_direction.as_deref() == Some("in"), entries_today })
    }
}

impl Trust for StoreKnowledge<'_> {
    fn event_tag(&self) -> u32 {
        self.trust.event_tag()
    }

    fn verifying_key(&self, key_id: u32) -> Option<VerifyingKey> {
        self.trust.verifying_key(key_id)
    }

    fn is_revoked(&self, attendee: AttendeeId, serial: u16) -> bool {
        self.trust.is_revoked(attendee, serial)
    }
}

impl Knowledge for StoreKnowledge<'_> {
    fn attendee_state(
        &self,
        attendee: AttendeeId,
        zone: &str,
        day: NaiveDate,
    ) -> Result<AttendeeState, StateUnavailable> {
        self.query_state(attendee, zone, day).map_err(|error| {
            tracing::error!(%error, "cannot read passage state; denying");
            StateUnavailable
        })
    }

    fn is_pending_registration(&self, code: &str) -> bool {
        let pending = self
            .conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM attendees a WHERE a.registration_code = ?1 \
                 AND NOT EXISTS(SELECT 1 FROM badges b WHERE b.attendee_id = a.id))",
            )
            .and_then(|mut stmt| stmt.query_row([code], |r| r.get(0)));
        pending.unwrap_or_else(|error| {
            // Not knowing only changes the refusal's wording (malformed instead of "collect
            // your badge"): a non-token code is denied either way.
            tracing::error!(%error, "cannot look up registration codes");
            false
        })
    }
}

/// The log entry of `decision` on a scan at `lane` of `gate`, made at `at`.
pub fn decision_record(
    gate: &str,
    lane: &LaneConfig,
    decision: &Decision,
    at: DateTime<Utc>,
) -> GateDecisionRecord {
    GateDecisionRecord {
        id: uuid::Uuid::now_v7(),
        attendee_id: decision.holder.map(|h| h.attendee.0),
        badge_serial: decision.holder.map(|h| u32::from(h.serial)),
        gate: gate.to_owned(),
        lane: lane.id.clone(),
        zone: lane.zone.clone(),
        direction: lane.direction.as_str().to_owned(),
        granted: decision.granted(),
        reason: decision.reason.as_str().to_owned(),
        at: format_time(at),
        annulled: false,
    }
}

/// Appends decisions to the log with their outbox rows, in one transaction.
pub fn record_all(store: &mut Store, decisions: &[GateDecisionRecord]) -> Result<(), StoreError> {
    store.write(|tx| {
        for decision in decisions {
            tx.sql()
                .prepare_cached(
                    "INSERT INTO gate_decisions (id, attendee_id, badge_serial, gate, lane, zone, \
                     direction, granted, reason, at, annulled, station) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?
                .execute(params![
                    decision.id.to_string(),
                    decision.attendee_id.map(|a| a.to_string()),
                    decision.badge_serial,
                    decision.gate,
                    decision.lane,
                    decision.zone,
                    decision.direction,
                    decision.granted,
                    decision.reason,
                    decision.at,
                    decision.annulled,
                    tx.station().to_owned(),
                ])?;
            let hlc = tx.tick();
            tx.emit(hlc, Record::GateDecision(decision.clone()))?;
        }
        Ok(())
    })
}

/// Marks a granted entry nobody walked through as annulled, and queues the annulled
/// record (same id) for the hub.
pub fn annul(store: &mut Store, decision: &GateDecisionRecord) -> Result<(), StoreError> {
    store.write(|tx| {
        tx.sql().execute(
            "UPDATE gate_decisions SET annulled = 1 WHERE id = ?1",
            [decision.id.to_string()],
        )?;
        let hlc = tx.tick();
        tx.emit(
            hlc,
            Record::GateDecision(GateDecisionRecord { annulled: true, ..decision.clone() }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::store_with_event;

    fn insert(
        store: &Store,
        attendee: AttendeeId,
        zone: &str,
        direction: &str,
        flags: (bool, bool),
        at: &str,
    ) {
        let (granted, annulled) = flags;
        store
            .conn()
            .execute(
                "INSERT INTO gate_decisions (id, attendee_id, badge_serial, gate, lane, zone, \
                 direction, granted, reason, at, annulled, station) \
                 VALUES (?1, ?2, 1, 'g', 'l', ?3, ?4, ?5, 'x', ?6, ?7, 'st-other')",
                params![
                    uuid::Uuid::now_v7().to_string(),
                    attendee.to_string(),
                    zone,
                    direction,
                    granted,
                    at,
                    annulled
                ],
            )
            .unwrap();
    }

    #[test]
    fn passage_state_counts_today_s_counted_passages_from_every_gate() {
        let (_dir, store) = store_with_event();
        let attendee = AttendeeId(uuid::Uuid::now_v7());
        let counted = (true, false);
        // 23:59 on the 24th in Shanghai: yesterday.
        insert(&store, attendee, "hall-1", "in", counted, "2026-11-24T15:59:59.000Z");
        insert(&store, attendee, "hall-1", "in", counted, "2026-11-25T01:00:00.000Z");
        insert(&store, attendee, "hall-2", "in", (true, true), "2026-11-25T02:00:00.000Z");
        insert(&store, attendee, "hall-1", "in", (false, false), "2026-11-25T03:00:00.000Z");
        insert(&store, attendee, "hall-1", "out", counted, "2026-11-25T04:00:00.000Z");
        insert(&store, attendee, "vip-lounge", "in", counted, "2026-11-25T05:00:00.000Z");
        // Tomorrow in Shanghai.
        insert(&store, attendee, "forum-a", "in", counted, "2026-11-25T16:00:00.000Z");

        let knowledge = StoreKnowledge::new(&store).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let state = |zone| knowledge.attendee_state(attendee, zone, day).unwrap();
        assert_eq!(state("hall-1"), AttendeeState { inside: false, entries_today: 2 });
        assert_eq!(state("vip-lounge"), AttendeeState { inside: true, entries_today: 2 });
        assert_eq!(state("hall-2"), AttendeeState { inside: false, entries_today: 2 });
        assert_eq!(state("forum-a"), AttendeeState { inside: false, entries_today: 2 });
        let other = AttendeeId(uuid::Uuid::now_v7());
        assert_eq!(
            knowledge.attendee_state(other, "hall-1", day).unwrap(),
            AttendeeState::default()
        );
    }
}
