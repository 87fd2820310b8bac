//! The life of a badge: issued (serial 1), reprinted (serial n+1 supersedes n), revoked.
//! Also verification of a scanned token against what this station knows.

use chrono::NaiveDate;
use ed25519_dalek::VerifyingKey;
use expo_sync::protocol::{AttendeeRecord, BadgeRecord};
use expo_sync::{Hlc, Record};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use super::{load, RegistrationError, Result};
use crate::credential::{self, BadgeClaims, Invalid, Trust};
use crate::domain::AttendeeId;
use crate::store::{now_rfc3339, EventContext, Store, StoreError, Tx};

/// A badge ready to print: the serial and its signed token.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IssuedBadge {
    pub attendee: AttendeeId,
    pub serial: u16,
    pub token: String,
    /// False when the attendee already had this active badge.
    pub newly_issued: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BadgeState {
    pub serial: u16,
    pub status: String,
    pub reason: Option<String>,
    pub issued_at: String,
}

/// The attendee's badges, oldest first.
pub fn badges_of(conn: &Connection, attendee: AttendeeId) -> Result<Vec<BadgeState>> {
    let mut stmt = conn
        .prepare_cached("SELECT serial, status, reason, issued_at FROM badges WHERE attendee_id = ?1 ORDER BY serial")
        .map_err(StoreError::from)?;
    let rows = stmt
        .query_map([attendee.to_string()], |r| {
            Ok(BadgeState {
                serial: r.get(0)?,
                status: r.get(1)?,
                reason: r.get(2)?,
                issued_at: r.get(3)?,
            })
        })
        .map_err(StoreError::from)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| StoreError::from(e).into())
}

/// The active badge's token, issuing serial 1 (or the next serial) if there is none.
/// A revoked attendee gets no badge.
pub fn ensure_badge(store: &mut Store, actor: &str, attendee: AttendeeId) -> Result<IssuedBadge> {
    let record = load(store.conn(), attendee)?
        .ok_or_else(|| RegistrationError::NotFound(attendee.to_string()))?;
    let badges = badges_of(store.conn(), attendee)?;
    if let Some(revoked) = badges.iter().rev().find(|b| b.status == "revoked") {
        if badges.last().is_some_and(|last| last.serial == revoked.serial) {
            return Err(RegistrationError::Revoked(
                attendee,
                revoked.reason.clone().unwrap_or_default(),
            ));
        }
    }
    if let Some(active) = badges.iter().find(|b| b.status == "active") {
        let token = sign_for(store.event()?, &record, active.serial)?;
        return Ok(IssuedBadge { attendee, serial: active.serial, token, newly_issued: false });
    }
    let serial = badges.last().map_or(1, |b| b.serial.saturating_add(1));
    let token = sign_for(store.event()?, &record, serial)?;
    store.write(|tx| {
        let hlc = tx.tick();
        let badge = new_badge(attendee, serial, actor);
        write_badge(tx, &badge, &hlc)?;
        tx.audit(actor, "issue_badge", Some(attendee), json!({ "serial": serial }))?;
        tx.emit(hlc, Record::Badge(badge))?;
        Ok::<_, RegistrationError>(())
    })?;
    Ok(IssuedBadge { attendee, serial, token, newly_issued: true })
}

/// Issues the next serial and supersedes the active one. The reason is audited.
pub fn reprint(
    store: &mut Store,
    actor: &str,
    attendee: AttendeeId,
    reason: &str,
) -> Result<IssuedBadge> {
    let record = load(store.conn(), attendee)?
        .ok_or_else(|| RegistrationError::NotFound(attendee.to_string()))?;
    let badges = badges_of(store.conn(), attendee)?;
    let active = badges
        .iter()
        .find(|b| b.status == "active")
        .ok_or(RegistrationError::NoActiveBadge(attendee))?;
    let serial = badges.last().map_or(1, |b| b.serial.saturating_add(1));
    let token = sign_for(store.event()?, &record, serial)?;
    let old_serial = active.serial;
    let old_issued_at = active.issued_at.clone();
    store.write(|tx| {
        let hlc = tx.tick();
        let superseded = BadgeRecord {
            status: "superseded".into(),
            reason: Some(format!("reprinted: {reason}")),
            issued_at: old_issued_at,
            ..new_badge(attendee, old_serial, actor)
        };
        write_badge(tx, &superseded, &hlc)?;
        tx.emit(hlc, Record::Badge(superseded))?;
        let hlc = tx.tick();
        let badge = new_badge(attendee, serial, actor);
        write_badge(tx, &badge, &hlc)?;
        tx.audit(
            actor,
            "reprint",
            Some(attendee),
            json!({ "serial": serial, "previous": old_serial, "reason": reason }),
        )?;
        tx.emit(hlc, Record::Badge(badge))?;
        Ok::<_, RegistrationError>(())
    })?;
    Ok(IssuedBadge { attendee, serial, token, newly_issued: true })
}

/// Revokes the attendee's current badge. Revocation wins over every other state, here and
/// at the hub.
pub fn revoke(store: &mut Store, actor: &str, attendee: AttendeeId, reason: &str) -> Result<u16> {
    load(store.conn(), attendee)?
        .ok_or_else(|| RegistrationError::NotFound(attendee.to_string()))?;
    let badges = badges_of(store.conn(), attendee)?;
    let current = badges.last().ok_or(RegistrationError::NoActiveBadge(attendee))?;
    let (serial, issued_at) = (current.serial, current.issued_at.clone());
    store.write(|tx| {
        let hlc = tx.tick();
        let badge = BadgeRecord {
            status: "revoked".into(),
            reason: Some(reason.to_owned()),
            issued_at,
            ..new_badge(attendee, serial, actor)
        };
        write_badge(tx, &badge, &hlc)?;
        tx.audit(actor, "revoke", Some(attendee), json!({ "serial": serial, "reason": reason }))?;
        tx.emit(hlc, Record::Badge(badge))?;
        Ok::<_, RegistrationError>(())
    })?;
    Ok(serial)
}

fn new_badge(attendee: AttendeeId, serial: u16, actor: &str) -> BadgeRecord {
    let now = now_rfc3339();
    BadgeRecord {
        attendee_id: attendee.0,
        serial: u32::from(serial),
        status: "active".into(),
        reason: None,
        issued_at: now.clone(),
        changed_at: now,
        operator: actor.to_owned(),
    }
}

fn write_badge(tx: &Tx<'_>, badge: &BadgeRecord, hlc: &Hlc) -> Result<(), StoreError> {
    tx.sql()
        .prepare_cached(
            "INSERT INTO badges (attendee_id, serial, status, reason, issued_at, changed_at, operator, hlc) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT(attendee_id, serial) DO UPDATE SET status = excluded.status, reason = excluded.reason, \
             changed_at = excluded.changed_at, operator = excluded.operator, hlc = excluded.hlc",
        )?
        .execute(params![
            badge.attendee_id.to_string(),
            badge.serial,
            badge.status,
            badge.reason,
            badge.issued_at,
            badge.changed_at,
            badge.operator,
            hlc.to_string()
        ])?;
    Ok(())
}

/// Applies a badge record pulled from another station. Revocation wins over every other
/// status whatever the clocks say; otherwise the later HLC wins. Returns whether it applied.
pub fn apply_remote(tx: &Tx<'_>, badge: &BadgeRecord, hlc: &Hlc) -> Result<bool, StoreError> {
    let current: Option<(String, String)> = tx
        .sql()
        .query_row(
            "SELECT status, hlc FROM badges WHERE attendee_id = ?1 AND serial = ?2",
            params![badge.attendee_id.to_string(), badge.serial],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let wins = match &current {
        None => true,
        Some((status, _)) if status == "revoked" => false,
        Some(_) if badge.status == "revoked" => true,
        Some((_, current_hlc)) => hlc.to_string().as_str() > current_hlc.as_str(),
    };
    if !wins {
        return Ok(false);
    }
    if badge.status == "active" {
        // Another station issued a newer serial: ours is superseded (one active badge).
        tx.sql().execute(
            "UPDATE badges SET status = 'superseded' WHERE attendee_id = ?1 AND serial < ?2 AND status = 'active'",
            params![badge.attendee_id.to_string(), badge.serial],
        )?;
        let newer_active: bool = tx.sql().query_row(
            "SELECT EXISTS(SELECT 1 FROM badges WHERE attendee_id = ?1 AND serial > ?2 AND status = 'active')",
            params![badge.attendee_id.to_string(), badge.serial],
            |r| r.get(0),
        )?;
        if newer_active {
            let superseded = BadgeRecord { status: "superseded".into(), ..badge.clone() };
            write_badge(tx, &superseded, hlc)?;
            return Ok(true);
        }
    }
    write_badge(tx, badge, hlc)?;
    Ok(true)
}

fn sign_for(event: &EventContext, record: &AttendeeRecord, serial: u16) -> Result<String> {
    let key = event.signing_key.as_ref().ok_or(RegistrationError::NoSigningKey)?;
    let (category_code, _) = event.definition.category(&record.category).ok_or_else(|| {
        StoreError::Corrupt(format!("attendee has unknown category {}", record.category))
    })?;
    let claims = BadgeClaims {
        key_id: credential::key_id(&key.verifying_key()),
        event_tag: event.event_tag,
        attendee: AttendeeId(record.id),
        serial,
        category_code,
        valid_from: event.definition.event.start,
        valid_to: event.definition.event.end,
    };
    Ok(credential::sign(&claims, key))
}

/// What a station trusts when it verifies a token: its event, the public keys it holds,
/// and the revocations in its store.
pub struct StoreTrust<'a> {
    event: &'a EventContext,
    conn: &'a Connection,
}

impl<'a> StoreTrust<'a> {
    pub fn new(store: &'a Store) -> Result<Self> {
        Ok(Self { event: store.event()?, conn: store.conn() })
    }
}

impl Trust for StoreTrust<'_> {
    fn event_tag(&self) -> u32 {
        self.event.event_tag
    }

    fn verifying_key(&self, key_id: u32) -> Option<VerifyingKey> {
        self.event.public_keys.iter().find(|(id, _)| *id == key_id).map(|(_, key)| *key)
    }

    fn is_revoked(&self, attendee: AttendeeId, serial: u16) -> bool {
        // A serial is revoked when it, or any later serial, was revoked (revoking a person
        // revokes all their badges), or when it was superseded by a reprint and the event
        // revokes reprinted badges. A failed lookup counts as revoked: fail closed.
        self.conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM badges WHERE attendee_id = ?1 AND \
                 ((status = 'revoked' AND serial >= ?2) OR (serial = ?2 AND status = 'superseded' AND ?3)))",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![attendee.to_string(), serial, self.event.definition.event.reprint_revokes_previous],
                    |r| r.get(0),
                )
            })
            .unwrap_or(true)
    }
}

/// A verified badge, with the holder where this station knows them.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    pub claims: BadgeClaims,
    pub category: String,
    pub attendee: Option<AttendeeRecord>,
}

pub fn verify(store: &Store, token: &str, today: NaiveDate) -> Result<Result<Verified, Invalid>> {
    let trust = StoreTrust::new(store)?;
    let claims = match credential::verify(token, &trust, today) {
        Ok(claims) => claims,
        Err(invalid) => return Ok(Err(invalid)),
    };
    let category = store
        .event()?
        .definition
        .category_by_code(claims.category_code)
        .map(|c| c.id.clone())
        .unwrap_or_default();
    let attendee = load(store.conn(), claims.attendee)?;
    Ok(Ok(Verified { claims, category, attendee }))
}
