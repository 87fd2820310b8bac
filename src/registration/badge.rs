//! The life of a badge: issued (serial 1), reprinted (serial n+1 supersedes n), revoked.
//! Also verification of a scanned token against what this station knows.

use chrono::NaiveDate;
use ed25519_dalek::VerifyingKey;
use expo_sync::protocol::{AttendeeRecord, BadgeRecord};
use expo_sync::{Hlc, Record};
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::json;

use super::{load, RegistrationError, Result};
use crate::credential::{self, BadgeClaims, Invalid, Trust};
use crate::domain::AttendeeId;
use crate::operators::{authorize, Operator, Permission};
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
    /// When the status last changed (a revocation's time), RFC 3339 UTC.
    pub changed_at: String,
    /// Who made the last change (who revoked it).
    pub operator: String,
}

/// The attendee's badges, oldest first.
pub fn badges_of(conn: &Connection, attendee: AttendeeId) -> Result<Vec<BadgeState>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT serial, status, reason, issued_at, changed_at, operator FROM badges \
             WHERE attendee_id = ?1 ORDER BY serial",
        )
        .map_err(StoreError::from)?;
    let rows = stmt
        .query_map([attendee.to_string()], |r| {
            Ok(BadgeState {
                serial: r.get(0)?,
                status: r.get(1)?,
                reason: r.get(2)?,
                issued_at: r.get(3)?,
                changed_at: r.get(4)?,
                operator: r.get(5)?,
            })
        })
        .map_err(StoreError::from)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| StoreError::from(e).into())
}

/// The active badge's token, issuing serial 1 (or the next serial) if there is none, as
/// `operator` ([`Permission::Print`], the attendee's category in scope). A revoked
/// attendee gets no badge.
pub fn ensure_badge(
    store: &mut Store,
    operator: &Operator,
    attendee: AttendeeId,
) -> Result<IssuedBadge> {
    let issue = plan_issue(store, attendee)?;
    authorize(store, operator, Permission::Print, Some(attendee), &[&issue.record.category])?;
    if issue.badge.newly_issued {
        store.write(|tx| issue.write(tx, &operator.name))?;
    }
    Ok(issue.badge)
}

/// The token of the attendee's active badge, signed again; writes nothing and issues
/// nothing (the print queue renders a job's badge with it). An error when no badge is
/// active.
pub fn active_badge(store: &Store, attendee: AttendeeId) -> Result<IssuedBadge> {
    let issue = plan_issue(store, attendee)?;
    if issue.badge.newly_issued {
        return Err(RegistrationError::NoActiveBadge(attendee));
    }
    Ok(issue.badge)
}

/// [`ensure_badge`] for many attendees, with every new badge written in one transaction (a
/// batch of 500 costs one disk flush, not 500). Each attendee gets its own outcome: a
/// revoked, unknown or out-of-scope one does not stop the others.
pub fn ensure_badges(
    store: &mut Store,
    operator: &Operator,
    attendees: &[AttendeeId],
) -> Result<Vec<Result<BadgeIssue>>> {
    authorize(store, operator, Permission::Print, None, &[])?;
    let mut planned: Vec<Result<BadgeIssue>> =
        attendees.iter().map(|&attendee| plan_issue(store, attendee)).collect();
    for outcome in &mut planned {
        if let Ok(issue) = outcome {
            let (attendee, category) = (issue.badge.attendee, issue.record.category.clone());
            if let Err(refused) =
                authorize(store, operator, Permission::Print, Some(attendee), &[&category])
            {
                *outcome = Err(refused.into());
            }
        }
    }
    store.write(|tx| {
        for issue in planned.iter().flatten().filter(|issue| issue.badge.newly_issued) {
            issue.write(tx, &operator.name)?;
        }
        Ok::<_, RegistrationError>(())
    })?;
    Ok(planned)
}

/// A badge to print, signed, with the attendee it shows.
pub struct BadgeIssue {
    pub badge: IssuedBadge,
    pub record: AttendeeRecord,
}

impl BadgeIssue {
    /// Records a newly issued badge, audited and queued for the hub, in `tx`.
    fn write(&self, tx: &mut Tx<'_>, actor: &str) -> Result<(), StoreError> {
        let hlc = tx.tick();
        let badge = new_badge(self.badge.attendee, self.badge.serial, actor);
        write_badge(tx, &badge, &hlc)?;
        tx.audit(
            actor,
            "issue_badge",
            Some(self.badge.attendee),
            json!({ "serial": self.badge.serial }),
        )?;
        tx.emit(hlc, Record::Badge(badge))
    }
}

/// The attendee's active badge, or the serial to issue next; an error when revoked.
fn plan_issue(store: &Store, attendee: AttendeeId) -> Result<BadgeIssue> {
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
    let (serial, newly_issued) = match badges.iter().find(|b| b.status == "active") {
        Some(active) => (active.serial, false),
        None => (badges.last().map_or(1, |b| b.serial.saturating_add(1)), true),
    };
    let token = sign_for(store.event()?, &record, serial)?;
    Ok(BadgeIssue { badge: IssuedBadge { attendee, serial, token, newly_issued }, record })
}

/// Issues the next serial and supersedes the active one, as `operator`
/// ([`Permission::Reprint`], the attendee's category in scope). The reason is audited.
pub fn reprint(
    store: &mut Store,
    operator: &Operator,
    attendee: AttendeeId,
    reason: &str,
) -> Result<IssuedBadge> {
    let reprint = plan_reprint(store, attendee)?;
    authorize(store, operator, Permission::Reprint, Some(attendee), &[&reprint.category])?;
    store.write(|tx| reprint.write(tx, &operator.name, reason))?;
    Ok(reprint.badge)
}

/// A reprint decided and signed, written by [`Reprint::write`] in the caller's transaction
/// (the print queue writes it with the print job, so neither exists without the other).
pub struct Reprint {
    pub badge: IssuedBadge,
    /// The attendee's category, which the operator must handle.
    pub category: String,
    previous: BadgeState,
}

/// The serial a reprint of the attendee's badge gets: the active one's successor, or the
/// replacement of a revoked badge (which stays revoked); an error when there is neither.
pub fn plan_reprint(store: &Store, attendee: AttendeeId) -> Result<Reprint> {
    let record = load(store.conn(), attendee)?
        .ok_or_else(|| RegistrationError::NotFound(attendee.to_string()))?;
    let badges = badges_of(store.conn(), attendee)?;
    let previous = badges
        .iter()
        .find(|b| b.status == "active")
        .or_else(|| badges.last().filter(|last| last.status == "revoked"))
        .ok_or(RegistrationError::NoActiveBadge(attendee))?
        .clone();
    let serial = badges.last().map_or(1, |b| b.serial.saturating_add(1));
    let token = sign_for(store.event()?, &record, serial)?;
    Ok(Reprint {
        badge: IssuedBadge { attendee, serial, token, newly_issued: true },
        category: record.category,
        previous,
    })
}

impl Reprint {
    /// Supersedes the active serial (a revoked one stays revoked) and records the new one,
    /// audited with `reason`. The caller has authorized `actor` ([`reprint`], the print queue).
    pub(crate) fn write(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let attendee = self.badge.attendee;
        if self.previous.status == "active" {
            let hlc = tx.tick();
            let superseded = BadgeRecord {
                status: "superseded".into(),
                reason: Some(format!("reprinted: {reason}")),
                issued_at: self.previous.issued_at.clone(),
                ..new_badge(attendee, self.previous.serial, actor)
            };
            write_badge(tx, &superseded, &hlc)?;
            tx.emit(hlc, Record::Badge(superseded))?;
        }
        let hlc = tx.tick();
        let badge = new_badge(attendee, self.badge.serial, actor);
        write_badge(tx, &badge, &hlc)?;
        tx.audit(
            actor,
            "reprint",
            Some(attendee),
            json!({ "serial": self.badge.serial, "previous": self.previous.serial, "reason": reason }),
        )?;
        tx.emit(hlc, Record::Badge(badge))
    }
}

/// Revokes the attendee's current badge, as `operator` ([`Permission::Revoke`], the
/// attendee's category in scope). Revocation wins over every other state, here and at the
/// hub.
pub fn revoke(
    store: &mut Store,
    operator: &Operator,
    attendee: AttendeeId,
    reason: &str,
) -> Result<u16> {
    let record = load(store.conn(), attendee)?
        .ok_or_else(|| RegistrationError::NotFound(attendee.to_string()))?;
    authorize(store, operator, Permission::Revoke, Some(attendee), &[&record.category])?;
    let actor = operator.name.as_str();
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

/// The start of every insert of badges.
const INSERT_BADGES: &str = "INSERT INTO badges (attendee_id, serial, status, reason, issued_at, changed_at, operator, hlc) VALUES ";

fn write_badge(tx: &Tx<'_>, badge: &BadgeRecord, hlc: &Hlc) -> Result<(), StoreError> {
    tx.sql()
        .prepare_cached(&format!(
            "{INSERT_BADGES}(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT(attendee_id, serial) DO UPDATE SET status = excluded.status, reason = excluded.reason, \
             changed_at = excluded.changed_at, operator = excluded.operator, hlc = excluded.hlc",
        ))?
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
///
/// Its statements are prepared once per connection: a snapshot applies a million badges.
/// The holder's badges (a handful at most) are read in one statement, and the older
/// active one is superseded only when there is one: a catch-up applies thousands of
/// badges, most of them new, and each statement run is a descent of the badge index.
pub fn apply_remote(tx: &Tx<'_>, badge: &BadgeRecord, hlc: &Hlc) -> Result<bool, StoreError> {
    let attendee_id = badge.attendee_id.to_string();
    let held = tx
        .sql()
        .prepare_cached("SELECT serial, status, hlc FROM badges WHERE attendee_id = ?1")?
        .query_map([&attendee_id], |r| {
            Ok(HeldBadge { serial: r.get(0)?, status: r.get(1)?, hlc: r.get(2)? })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let wins = match held.iter().find(|held| held.serial == badge.serial) {
        None => true,
        Some(current) if current.status == "revoked" => false,
        Some(_) if badge.status == "revoked" => true,
        Some(current) => hlc.to_string() > current.hlc,
    };
    if !wins {
        return Ok(false);
    }
    if badge.status == "active" {
        let active = |held: &&HeldBadge| held.status == "active";
        // Another station issued a newer serial: ours is superseded (one active badge).
        if held.iter().filter(active).any(|held| held.serial < badge.serial) {
            tx.sql()
                .prepare_cached(
                    "UPDATE badges SET status = 'superseded' WHERE attendee_id = ?1 AND serial < ?2 AND status = 'active'",
                )?
                .execute(params![attendee_id, badge.serial])?;
        }
        if held.iter().filter(active).any(|held| held.serial > badge.serial) {
            let superseded = BadgeRecord { status: "superseded".into(), ..badge.clone() };
            write_badge(tx, &superseded, hlc)?;
            return Ok(true);
        }
    }
    write_badge(tx, badge, hlc)?;
    Ok(true)
}

/// One of a holder's badges as [`apply_remote`] weighs a pulled one against it.
struct HeldBadge {
    serial: u32,
    status: String,
    hlc: String,
}

/// Applies a pulled revocation ahead of the changes before it in the pull
/// (`StationOutbox::apply_ahead`), when this station holds the revoked serial: revocation
/// wins whatever the order, and on a held serial it is an update, which leaves the badge
/// counts (`stats_badges`) as they are. A serial this station does not hold yet waits for
/// its place in the pull, behind its own record, so that it is counted under its issuer
/// and its holder's category. Returns whether it applied.
pub fn apply_revocation_ahead(
    tx: &Tx<'_>,
    badge: &BadgeRecord,
    hlc: &Hlc,
) -> Result<bool, StoreError> {
    let held: bool = tx
        .sql()
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM badges WHERE attendee_id = ?1 AND serial = ?2)",
        )?
        .query_row(params![badge.attendee_id.to_string(), badge.serial], |r| r.get(0))?;
    if !held || !badge.is_revocation() {
        return Ok(false);
    }
    apply_remote(tx, badge, hlc)
}

/// What [`apply_remote`] makes of one attendee's badges, applied in any order to a
/// station that holds none of them: each as given, except that of the active ones only
/// the highest serial stays active; the others are superseded, their clock unchanged.
/// Lets a snapshot write them in bulk ([`insert_new`]). The serials must differ.
pub(crate) fn settle_new(badges: &mut [BadgeRecord]) {
    let newest_active = badges.iter().filter(|b| b.status == "active").map(|b| b.serial).max();
    for badge in badges {
        if badge.status == "active" && Some(badge.serial) != newest_active {
            badge.status = "superseded".into();
        }
    }
}

/// Inserts badges this station holds none of (settled by [`settle_new`]), each with its
/// clock: one statement for all of them.
pub(crate) fn insert_new(
    conn: &Connection,
    badges: &[BadgeRecord],
    hlcs: &[String],
) -> Result<(), StoreError> {
    if badges.is_empty() {
        return Ok(());
    }
    let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; badges.len()].join(", ");
    let mut insert = conn.prepare_cached(&format!("{INSERT_BADGES}{values}"))?;
    let mut at = 0;
    let mut bind = |value: &dyn rusqlite::ToSql| {
        at += 1;
        insert.raw_bind_parameter(at, value)
    };
    for (badge, hlc) in badges.iter().zip(hlcs) {
        bind(&badge.attendee_id.to_string())?;
        bind(&badge.serial)?;
        bind(&badge.status)?;
        bind(&badge.reason)?;
        bind(&badge.issued_at)?;
        bind(&badge.changed_at)?;
        bind(&badge.operator)?;
        bind(hlc)?;
    }
    insert.raw_execute()?;
    Ok(())
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
        // revokes reprinted badges, or when its holder was merged into another attendee
        // (a serial printed before this station heard of the merge included). A failed
        // lookup counts as revoked: fail closed.
        self.conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM badges WHERE attendee_id = ?1 AND \
                 ((status = 'revoked' AND serial >= ?2) OR (serial = ?2 AND status = 'superseded' AND ?3))) \
                 OR EXISTS(SELECT 1 FROM attendees WHERE id = ?1 AND merged_into IS NOT NULL)",
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

/// The attendee a token names when this event's key signed it, revoked or out of its days
/// or not: whose badge a refused scan was.
pub fn signed_holder(store: &Store, token: &str) -> Result<Option<AttendeeId>> {
    let trust = StoreTrust::new(store)?;
    Ok(credential::authenticate(token, &trust).ok().map(|claims| claims.attendee))
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::registration::{register, NewAttendee, Source};
    use crate::store::test_support::store_with_event;

    fn attendee(store: &mut Store, name: &str, phone: &str) -> AttendeeId {
        let input = NewAttendee {
            name: name.into(),
            category: "public_visitor".into(),
            phone: phone.into(),
            ..NewAttendee::default()
        };
        AttendeeId(
            register(store, &crate::operators::Operator::admin("desk-1"), &input, Source::WalkIn)
                .unwrap()
                .id,
        )
    }

    fn issued_by(store: &Store, attendee: AttendeeId) -> i64 {
        store
            .conn()
            .query_row(
                "SELECT count(*) FROM audit WHERE action = 'issue_badge' AND attendee_id = ?1",
                [attendee.to_string()],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn a_batch_issues_new_badges_keeps_active_ones_and_reports_each_revoked_one() {
        let (_dir, mut store) = store_with_event();
        let new = attendee(&mut store, "张三", "13800138000");
        let active = attendee(&mut store, "李四", "13800138001");
        let revoked = attendee(&mut store, "王五", "13800138002");
        let active_serial =
            ensure_badge(&mut store, &crate::operators::Operator::admin("desk-1"), active)
                .unwrap()
                .serial;
        ensure_badge(&mut store, &crate::operators::Operator::admin("desk-1"), revoked).unwrap();
        revoke(&mut store, &crate::operators::Operator::admin("desk-1"), revoked, "lost").unwrap();
        let outbox_before = store.pending_outbox_count().unwrap();

        let outcomes = ensure_badges(
            &mut store,
            &crate::operators::Operator::admin("batch"),
            &[new, active, revoked],
        )
        .unwrap();

        let first = outcomes[0].as_ref().unwrap();
        assert_eq!((first.badge.serial, first.badge.newly_issued), (1, true));
        assert_eq!(first.record.name, "张三");
        let second = outcomes[1].as_ref().unwrap();
        assert_eq!((second.badge.serial, second.badge.newly_issued), (active_serial, false));
        assert!(matches!(outcomes[2], Err(RegistrationError::Revoked(who, _)) if who == revoked));
        // Only the new badge was written, audited and queued (badge + audit entry).
        assert_eq!(badges_of(store.conn(), new).unwrap().len(), 1);
        assert_eq!((issued_by(&store, new), issued_by(&store, active)), (1, 1));
        assert_eq!(store.pending_outbox_count().unwrap(), outbox_before + 2);
        // The tokens verify as the badges they name (on a show day).
        let show_day = store.event().unwrap().definition.event.start;
        for outcome in &outcomes[..2] {
            let issued = &outcome.as_ref().unwrap().badge;
            let verified = verify(&store, &issued.token, show_day).unwrap().expect("a valid token");
            assert_eq!(
                (verified.claims.attendee, verified.claims.serial),
                (issued.attendee, issued.serial)
            );
        }
    }

    #[test]
    fn a_revoked_badge_stays_revoked_when_a_replacement_is_issued_and_names_its_holder() {
        let (_dir, mut store) = store_with_event();
        let holder = attendee(&mut store, "王五", "13800138002");
        let lost = ensure_badge(&mut store, &Operator::admin("desk-1"), holder).unwrap();
        revoke(&mut store, &Operator::admin("admin"), holder, "lost").unwrap();
        let show_day = store.event().unwrap().definition.event.start;
        assert_eq!(verify(&store, &lost.token, show_day).unwrap().err(), Some(Invalid::Revoked));
        // The desk's verdict card: whose badge it was, when and by whom it was revoked.
        assert_eq!(signed_holder(&store, &lost.token).unwrap(), Some(holder));
        assert_eq!(signed_holder(&store, "not a token").unwrap(), None);
        let revoked = badges_of(store.conn(), holder).unwrap();
        assert_eq!(
            (revoked[0].status.as_str(), revoked[0].operator.as_str()),
            ("revoked", "admin")
        );
        assert!(revoked[0].changed_at >= revoked[0].issued_at);

        let replacement =
            reprint(&mut store, &Operator::admin("admin"), holder, "replaces the revoked badge")
                .unwrap();
        assert_eq!(replacement.serial, 2);
        let states: Vec<_> = badges_of(store.conn(), holder)
            .unwrap()
            .into_iter()
            .map(|b| (b.serial, b.status))
            .collect();
        assert_eq!(states, [(1, "revoked".to_owned()), (2, "active".to_owned())]);
        assert_eq!(verify(&store, &lost.token, show_day).unwrap().err(), Some(Invalid::Revoked));
        assert!(verify(&store, &replacement.token, show_day).unwrap().is_ok());
    }

    /// A badge as another station made it, for tests of the rules that apply it.
    pub(crate) fn pulled_badge() -> BadgeRecord {
        BadgeRecord {
            attendee_id: uuid::Uuid::nil(),
            serial: 1,
            status: "active".into(),
            reason: None,
            issued_at: "2025-05-01T09:00:00Z".into(),
            changed_at: "2025-05-01T09:00:00Z".into(),
            operator: "op".into(),
        }
    }

    /// Every mix of three serials' statuses, given in key order and reversed: the bulk
    /// write of a snapshot leaves exactly what applying them one by one leaves.
    #[test]
    fn badges_settled_in_bulk_are_what_the_conflict_rules_make_of_them() {
        const STATUSES: [&str; 3] = ["active", "superseded", "revoked"];
        let mut groups = Vec::new();
        for mix in 0..27 {
            let attendee = uuid::Uuid::from_u128(mix as u128 + 1);
            let group: Vec<BadgeRecord> = (0..3)
                .map(|serial| BadgeRecord {
                    attendee_id: attendee,
                    serial: serial + 1,
                    status: STATUSES[mix / 3usize.pow(serial) % 3].into(),
                    operator: format!("op-{serial}"),
                    ..pulled_badge()
                })
                .collect();
            let mut reversed = group.clone();
            reversed.reverse();
            groups.push(group);
            groups.push(
                reversed
                    .into_iter()
                    .map(|b| BadgeRecord {
                        attendee_id: uuid::Uuid::from_u128(mix as u128 + 100),
                        ..b
                    })
                    .collect(),
            );
        }
        let hlc =
            |serial: u32| Hlc { wall_ms: u64::from(serial), counter: 0, station: "desk-2".into() };
        let badges = |store: &Store| -> Vec<Vec<String>> {
            let mut statement =
                store.conn().prepare("SELECT * FROM badges ORDER BY attendee_id, serial").unwrap();
            statement
                .query_map([], |row| {
                    (0..8).map(|i| row.get_ref(i).map(|v| format!("{v:?}"))).collect()
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        let (_one_dir, mut one_by_one) = store_with_event();
        let (_bulk_dir, mut bulk) = store_with_event();
        for group in &groups {
            one_by_one
                .write(|tx| {
                    group.iter().try_for_each(|b| apply_remote(tx, b, &hlc(b.serial)).map(drop))
                })
                .unwrap();
            let mut settled = group.clone();
            settle_new(&mut settled);
            let hlcs: Vec<String> = settled.iter().map(|b| hlc(b.serial).to_string()).collect();
            bulk.write(|tx| insert_new(tx.sql(), &settled, &hlcs)).unwrap();
        }
        let settled = badges(&bulk);
        assert_eq!(settled.len(), 27 * 2 * 3);
        assert_eq!(settled, badges(&one_by_one));
    }
}
