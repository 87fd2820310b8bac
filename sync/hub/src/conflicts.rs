//! Data accuracy at the centre: the conflicts the hub found, listed masked, and merged or
//! dismissed by the organiser (`expo-hub conflicts`, `GET /v1/conflicts`,
//! `POST /v1/conflicts/{id}/merge` and `/dismiss`).
//!
//! Two kinds: a **duplicate** (one ID hash under two attendee ids, found when a push
//! stores the second) and an **identity** conflict (a registration from the hub's import
//! or its registrations API whose code or ID number belongs to a stored attendee who is
//! someone else; recorded with [`HubStore::record_conflicts`] and not applied). Each pair
//! is recorded once: a conflict merged or dismissed is never listed or recorded again.
//!
//! # The merge rule
//! Merging conflict `(K, M)` keeping `K` makes, as one batch of hub changes that every
//! station applies by its ordinary pull:
//! - `M` marked `merged_into = K` ([`AttendeeRecord::merged_into`]): stations stop finding
//!   `M` by search, lead a look-up of `M`'s id or code to `K`, and refuse `M`'s badges at
//!   their gates, whatever serial (one printed before the station heard of the merge too);
//! - `K` absorbing what it lacks of `M` ([`absorb`]): company, title, phone, e-mail,
//!   country, the ID document when `K` has none, and `M`'s tags;
//! - every badge of `M` the hub knows, not yet revoked, revoked with reason `merged`
//!   ([`MERGED_REASON`]), so a gate that holds no attendees refuses them too; the visitor
//!   uses (or is reprinted) `K`'s badge;
//! - an audit entry (`conflict_merge`) naming the conflict, both attendees and who merged.
//!
//! `M`'s registration code stays `M`'s (stations resolve it to `K`): moving it would clash
//! with stations' unique codes and with the code's next import. Check-ins and gate
//! decisions stay where they are. The batch and the conflict's resolution are stored in
//! one transaction ([`PreparedBatch::resolving`]), so a conflict is merged once, by one
//! operator: merging again with the same `K` answers the same resolution and changes
//! nothing; another `K`, or a dismissal, is refused.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::origin::HubOrigin;
use crate::store::{current_under, HubStore, PreparedBatch, StoreError};
use expo_kiosk::domain::attendee::mask_name;
use expo_sync::endorsement::HUB_ORIGIN;
use expo_sync::hlc::Hlc;
use expo_sync::protocol::{AttendeeRecord, BadgeRecord, Change, Record};
use expo_sync::validate::{MAX_TAGS, MAX_TEXT_BYTES};

/// The reason on the badges of an attendee merged away.
pub const MERGED_REASON: &str = "merged";

/// Longest reason a dismissal may give.
pub const MAX_REASON_CHARS: usize = 500;

/// What kind of inaccuracy a conflict is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// One ID number (hash) under two attendee ids: typically one person registered as a
    /// walk-in at two desks while offline.
    Duplicate,
    /// A registration whose code or ID number belongs to a stored attendee with another
    /// identity (another name, ID number or code): not applied.
    Identity,
}

impl ConflictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::Duplicate => "duplicate",
            ConflictKind::Identity => "identity",
        }
    }

    pub fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "duplicate" => Ok(ConflictKind::Duplicate),
            "identity" => Ok(ConflictKind::Identity),
            other => Err(StoreError::Corrupt(format!("conflict kind {other:?}"))),
        }
    }
}

/// Where a conflict stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    Open,
    Merged,
    Dismissed,
}

impl ConflictStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStatus::Open => "open",
            ConflictStatus::Merged => "merged",
            ConflictStatus::Dismissed => "dismissed",
        }
    }
}

/// A conflict as found, before it is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct NewConflict {
    pub kind: ConflictKind,
    /// The ID hash both sides share (duplicates), or the incoming one's (identity).
    pub id_hash: Option<String>,
    /// Duplicates: the smaller attendee id. Identity: the stored attendee.
    pub attendee_a: Uuid,
    /// The station that created `attendee_a` (`@hub` for the hub's own).
    pub station_a: String,
    /// Duplicates: the other attendee. Identity: the attendee id the registration would
    /// have written (the stored one's own when its code matched).
    pub attendee_b: Uuid,
    /// Where `attendee_b` came from: a station, or for identity conflicts e.g.
    /// `@hub:import` or `@hub:api:KEY_NAME`.
    pub station_b: String,
    /// Anything an operator needs to decide, masked (never an ID number or its hash):
    /// for identity conflicts e.g. the masked identities on both sides and the line.
    pub detail: serde_json::Value,
}

/// How an operator resolved a conflict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Resolution {
    Merged { kept: Uuid, merged: Uuid, by: String, at: String },
    Dismissed { reason: String, by: String, at: String },
}

impl Resolution {
    pub fn status(&self) -> ConflictStatus {
        match self {
            Resolution::Merged { .. } => ConflictStatus::Merged,
            Resolution::Dismissed { .. } => ConflictStatus::Dismissed,
        }
    }
}

/// A conflict as the hub stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredConflict {
    pub id: i64,
    pub found: NewConflict,
    /// RFC 3339; `None` for conflicts found by a hub that did not note the time.
    pub found_at: Option<String>,
    /// `None` while open.
    pub resolution: Option<Resolution>,
}

impl StoredConflict {
    pub fn status(&self) -> ConflictStatus {
        self.resolution.as_ref().map_or(ConflictStatus::Open, Resolution::status)
    }
}

/// The resolution a batch of hub changes carries: stored in the batch's transaction, and
/// only if the conflict is still open (else the whole batch is refused with
/// [`StoreError::ConflictResolved`]).
#[derive(Clone, Debug)]
pub struct ConflictClaim {
    pub id: i64,
    pub status: ConflictStatus,
    /// The [`Resolution`] as JSON.
    pub resolution_json: String,
}

/// An attendee as the conflict list shows them: enough to tell two people apart, masked
/// like a kiosk screen (the name masked, the ID number only as `id_masked`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictAttendee {
    pub id: Uuid,
    /// False when the hub holds no record of them (the registration of an identity
    /// conflict, which was not applied): the other fields are then empty.
    pub stored: bool,
    pub name: String,
    pub company: String,
    pub category: String,
    pub source: String,
    pub id_type: Option<String>,
    pub id_masked: Option<String>,
    pub created_at: String,
    /// The station that made the version the hub holds.
    pub station: String,
    pub merged_into: Option<Uuid>,
}

/// One conflict as `expo-hub conflicts --json` and `GET /v1/conflicts` show it. The first
/// five keys are those every earlier hub answered, so earlier callers read it as before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictView {
    /// The shared ID hash (a keyed hash, not the number); empty when there is none.
    pub id_hash: String,
    pub attendee_a: Uuid,
    pub station_a: String,
    pub attendee_b: Uuid,
    pub station_b: String,
    /// What `conflicts merge ID` and `dismiss ID` take.
    pub id: i64,
    pub kind: ConflictKind,
    pub status: ConflictStatus,
    pub found_at: Option<String>,
    /// The two attendees, `attendee_a` first.
    pub attendees: Vec<ConflictAttendee>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

/// `GET /v1/conflicts`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictList {
    pub conflicts: Vec<ConflictView>,
}

/// `POST /v1/conflicts/{id}/merge`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The attendee to keep: `attendee_a` or `attendee_b` of the conflict.
    pub keep: Uuid,
}

/// `POST /v1/conflicts/{id}/dismiss`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DismissRequest {
    pub reason: String,
}

/// The answer to a merge or a dismissal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub conflict: ConflictView,
    /// Hub changes made for the stations (0 when it was resolved so before).
    pub changes: usize,
    /// True when the conflict was already resolved this very way: nothing was done.
    pub already_resolved: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no conflict {0}")]
    Unknown(i64),
    #[error("conflict {id} was already resolved otherwise ({})", describe(.resolution))]
    AlreadyResolved { id: i64, resolution: Resolution },
    #[error("attendee {keep} is not in conflict {id}: keep {a} or {b}")]
    NotInConflict { id: i64, keep: Uuid, a: Uuid, b: Uuid },
    #[error(
        "attendee {0} is not stored at the hub (a registration that was not applied): \
         dismiss the conflict to keep the stored attendee, or correct the registration at \
         its source"
    )]
    NotStored(Uuid),
    #[error("conflict {0} names one attendee twice: dismiss it, or correct the registration")]
    OneAttendee(i64),
    #[error("attendee {attendee} was merged into {into} already: resolve with that one")]
    AlreadyMerged { attendee: Uuid, into: Uuid },
    #[error("a dismissal needs a reason of 1 to {MAX_REASON_CHARS} characters")]
    BadReason,
    #[error("cannot encode a hub change: {0}")]
    Unencodable(#[from] serde_json::Error),
}

fn describe(resolution: &Resolution) -> String {
    match resolution {
        Resolution::Merged { kept, by, .. } => format!("merged keeping {kept}, by {by}"),
        Resolution::Dismissed { by, .. } => format!("dismissed by {by}"),
    }
}

/// The open conflicts, masked for an operator; their attendees read in one query, however
/// many conflicts are open.
pub async fn list<S: HubStore>(store: &S) -> Result<Vec<ConflictView>, StoreError> {
    let conflicts = store.conflicts().await?;
    let ids: Vec<Uuid> =
        conflicts.iter().flat_map(|c| [c.found.attendee_a, c.found.attendee_b]).collect();
    let versions = attendees(store, &ids).await?;
    Ok(conflicts.into_iter().map(|conflict| view_of(conflict, &versions)).collect())
}

async fn view<S: HubStore>(
    store: &S,
    conflict: StoredConflict,
) -> Result<ConflictView, StoreError> {
    let versions =
        attendees(store, &[conflict.found.attendee_a, conflict.found.attendee_b]).await?;
    Ok(view_of(conflict, &versions))
}

/// The conflict masked for an operator, its attendees found among `versions`.
fn view_of(conflict: StoredConflict, versions: &[(AttendeeRecord, Hlc)]) -> ConflictView {
    let status = conflict.status();
    let StoredConflict { id, found, found_at, resolution } = conflict;
    let show = |id: Uuid| match versions.iter().find(|(a, _)| a.id == id) {
        Some((a, hlc)) => ConflictAttendee {
            id,
            stored: true,
            name: mask_name(&a.name),
            company: a.company.clone(),
            category: a.category.clone(),
            source: a.source.clone(),
            id_type: a.id_type.clone(),
            id_masked: a.id_masked.clone(),
            created_at: a.created_at.clone(),
            station: hlc.station.clone(),
            merged_into: a.merged_into,
        },
        None => ConflictAttendee {
            id,
            stored: false,
            name: String::new(),
            company: String::new(),
            category: String::new(),
            source: String::new(),
            id_type: None,
            id_masked: None,
            created_at: String::new(),
            station: String::new(),
            merged_into: None,
        },
    };
    let mut shown = vec![show(found.attendee_a)];
    if found.attendee_b != found.attendee_a {
        shown.push(show(found.attendee_b));
    }
    ConflictView {
        id_hash: found.id_hash.unwrap_or_default(),
        attendee_a: found.attendee_a,
        station_a: found.station_a,
        attendee_b: found.attendee_b,
        station_b: found.station_b,
        id,
        kind: found.kind,
        status,
        found_at,
        attendees: shown,
        detail: found.detail,
        resolution,
    }
}

/// The attendees the hub holds of `ids`, with the change of the version it holds.
async fn attendees<S: HubStore>(
    store: &S,
    ids: &[Uuid],
) -> Result<Vec<(AttendeeRecord, Hlc)>, StoreError> {
    let versions = store.current_attendees(ids.to_vec(), Vec::new()).await?;
    Ok(versions.into_iter().map(|(hlc, attendee)| (attendee, hlc)).collect())
}

/// The conflict `id`, or why it cannot be resolved as `wanted` (`Ok(Err(view))`: it
/// already is, nothing to do).
async fn open_conflict<S: HubStore>(
    store: &S,
    id: i64,
    already: impl Fn(&Resolution) -> bool,
) -> Result<Result<StoredConflict, ConflictView>, ResolveError> {
    let conflict = store.conflict(id).await?.ok_or(ResolveError::Unknown(id))?;
    match &conflict.resolution {
        None => Ok(Ok(conflict)),
        Some(resolution) if already(resolution) => Ok(Err(view(store, conflict).await?)),
        Some(resolution) => {
            Err(ResolveError::AlreadyResolved { id, resolution: resolution.clone() })
        }
    }
}

/// Stores `changes` with the conflict's resolution, in one transaction; a concurrent
/// resolution that got there first is answered as [`open_conflict`] would.
async fn commit<S: HubStore>(
    store: &S,
    id: i64,
    resolution: Resolution,
    changes: &[Change],
    already: impl Fn(&Resolution) -> bool,
) -> Result<Resolved, ResolveError> {
    let claim = ConflictClaim {
        id,
        status: resolution.status(),
        resolution_json: serde_json::to_string(&resolution)?,
    };
    let batch = PreparedBatch::from_hub(changes)?.resolving(claim);
    match store.push(HUB_ORIGIN, batch).await {
        Ok(_) => {}
        Err(StoreError::ConflictResolved(_)) => {
            return match open_conflict(store, id, already).await? {
                Err(conflict) => Ok(Resolved { conflict, changes: 0, already_resolved: true }),
                // Resolved, then reopened? Nothing reopens a conflict: report it as raced.
                Ok(_) => Err(StoreError::ConflictResolved(id).into()),
            };
        }
        Err(other) => return Err(other.into()),
    }
    let conflict = store.conflict(id).await?.ok_or(ResolveError::Unknown(id))?;
    tracing::info!(conflict = id, status = ?conflict.status(), changes = changes.len(), "conflict resolved");
    Ok(Resolved {
        conflict: view(store, conflict).await?,
        changes: changes.len(),
        already_resolved: false,
    })
}

/// Merges conflict `id` keeping attendee `keep` (see the module's rule), as `by` (who:
/// `cli`, `station:NAME`, `key:NAME`).
pub async fn merge<S: HubStore>(
    store: &S,
    origin: &HubOrigin,
    id: i64,
    keep: Uuid,
    by: &str,
) -> Result<Resolved, ResolveError> {
    let same_merge = |r: &Resolution| matches!(r, Resolution::Merged { kept, .. } if *kept == keep);
    let conflict = match open_conflict(store, id, same_merge).await? {
        Ok(conflict) => conflict,
        Err(view) => return Ok(Resolved { conflict: view, changes: 0, already_resolved: true }),
    };
    let (a, b) = (conflict.found.attendee_a, conflict.found.attendee_b);
    if a == b {
        return Err(ResolveError::OneAttendee(id));
    }
    let merged_id = match keep {
        k if k == a => b,
        k if k == b => a,
        _ => return Err(ResolveError::NotInConflict { id, keep, a, b }),
    };
    let versions = attendees(store, &[keep, merged_id]).await?;
    let find = |wanted: Uuid| {
        versions
            .iter()
            .find(|(a, _)| a.id == wanted)
            .cloned()
            .ok_or(ResolveError::NotStored(wanted))
    };
    let ((kept, kept_hlc), (merged, merged_hlc)) = (find(keep)?, find(merged_id)?);
    if let Some(into) = kept.merged_into {
        return Err(ResolveError::AlreadyMerged { attendee: keep, into });
    }
    if let Some(into) = merged.merged_into.filter(|into| *into != keep) {
        return Err(ResolveError::AlreadyMerged { attendee: merged_id, into });
    }
    let now = expo_kiosk::store::now_rfc3339();
    let mut changes = Vec::new();
    let mut supersede = |record: AttendeeRecord, over: &Hlc| {
        changes.push(origin.change(Record::Attendee(record), Some(over)));
    };
    if merged.merged_into.is_none() {
        let marked =
            AttendeeRecord { merged_into: Some(keep), updated_at: now.clone(), ..merged.clone() };
        supersede(marked, &merged_hlc);
    }
    let absorbed = absorb(&kept, &merged);
    if absorbed != kept {
        supersede(AttendeeRecord { updated_at: now.clone(), ..absorbed }, &kept_hlc);
    }
    let mut revoked = 0;
    for badge in badges_of(store, merged_id).await? {
        if badge.status != "revoked" {
            let badge = BadgeRecord {
                status: "revoked".into(),
                reason: Some(MERGED_REASON.into()),
                changed_at: now.clone(),
                operator: actor(by),
                ..badge
            };
            changes.push(origin.change(Record::Badge(badge), None));
            revoked += 1;
        }
    }
    let detail = json!({
        "conflict": id, "kind": conflict.found.kind, "kept": keep, "merged": merged_id,
        "badges_revoked": revoked,
    });
    changes.push(origin.audit(&actor(by), "conflict_merge", Some(keep), detail));
    let resolution =
        Resolution::Merged { kept: keep, merged: merged_id, by: by.to_owned(), at: now };
    commit(store, id, resolution, &changes, same_merge).await
}

/// Dismisses conflict `id` (the attendees stay as they are) for `reason`, as `by`.
pub async fn dismiss<S: HubStore>(
    store: &S,
    origin: &HubOrigin,
    id: i64,
    reason: &str,
    by: &str,
) -> Result<Resolved, ResolveError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ResolveError::BadReason);
    }
    let dismissed = |r: &Resolution| matches!(r, Resolution::Dismissed { .. });
    let conflict = match open_conflict(store, id, dismissed).await? {
        Ok(conflict) => conflict,
        Err(view) => return Ok(Resolved { conflict: view, changes: 0, already_resolved: true }),
    };
    let now = expo_kiosk::store::now_rfc3339();
    let found = &conflict.found;
    let detail = json!({
        "conflict": id, "kind": found.kind, "attendee_a": found.attendee_a,
        "attendee_b": found.attendee_b, "reason": reason,
    });
    let changes = [origin.audit(&actor(by), "conflict_dismiss", Some(found.attendee_a), detail)];
    let resolution =
        Resolution::Dismissed { reason: reason.to_owned(), by: by.to_owned(), at: now };
    commit(store, id, resolution, &changes, dismissed).await
}

/// The actor of the hub's audit entries and badge revocations for `by`.
fn actor(by: &str) -> String {
    format!("{HUB_ORIGIN}:{by}").chars().take(MAX_TEXT_BYTES / 4).collect()
}

/// The badges of `attendee` the hub holds: their entity keys are one range,
/// `badge:{attendee}:…`.
async fn badges_of<S: HubStore>(store: &S, attendee: Uuid) -> Result<Vec<BadgeRecord>, StoreError> {
    let prefix = format!("badge:{attendee}:");
    let records = current_under(store, "badge", &prefix, MAX_BADGES_PER_ATTENDEE).await?;
    Ok(records
        .into_iter()
        .filter_map(|record| match record {
            Record::Badge(badge) => Some(badge),
            _ => None,
        })
        .collect())
}

/// More badges than one attendee ever has (serials are 16-bit).
const MAX_BADGES_PER_ATTENDEE: usize = 1 << 16;

/// `kept` with what it lacks taken from `merged`: each empty text field (the Chinese name too), the ID document
/// when `kept` has none (all four parts together), and `merged`'s tags after its own (at
/// most [`MAX_TAGS`]). The name, category, source, consent, creation time and
/// registration code stay `kept`'s.
pub fn absorb(kept: &AttendeeRecord, merged: &AttendeeRecord) -> AttendeeRecord {
    let mut out = kept.clone();
    for (field, from) in [
        (&mut out.chinese_name, &merged.chinese_name),
        (&mut out.company, &merged.company),
        (&mut out.title, &merged.title),
        (&mut out.phone, &merged.phone),
        (&mut out.email, &merged.email),
        (&mut out.country, &merged.country),
    ] {
        if field.trim().is_empty() {
            field.clone_from(from);
        }
    }
    if out.id_hash.is_none() && merged.id_hash.is_some() {
        out.id_type.clone_from(&merged.id_type);
        out.id_masked.clone_from(&merged.id_masked);
        out.id_hash.clone_from(&merged.id_hash);
        out.id_sealed.clone_from(&merged.id_sealed);
    }
    for tag in &merged.tags {
        if out.tags.len() < MAX_TAGS && !out.tags.contains(tag) {
            out.tags.push(tag.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use expo_sync::test_records;

    use super::*;

    #[test]
    fn the_kept_attendee_absorbs_only_what_it_lacks() {
        let kept = AttendeeRecord {
            phone: String::new(),
            company: "Kept Co".into(),
            tags: vec!["vip".into()],
            registration_code: None,
            ..test_records::attendee()
        };
        let merged = AttendeeRecord {
            id: Uuid::from_u128(7),
            name: "Other".into(),
            phone: "13800000000".into(),
            company: "Merged Co".into(),
            registration_code: Some("R9".into()),
            id_type: Some("resident_id".into()),
            id_masked: Some("3101**********128X".into()),
            id_hash: Some("h".into()),
            id_sealed: Some("s".into()),
            tags: vec!["vip".into(), "press".into()],
            consent: false,
            ..test_records::attendee()
        };
        let out = absorb(&kept, &merged);
        assert_eq!(out.phone, "13800000000");
        assert_eq!(out.company, "Kept Co");
        assert_eq!(out.name, kept.name);
        assert_eq!(out.registration_code, None, "a code stays with its own record");
        assert_eq!(out.consent, kept.consent);
        assert_eq!((out.id_hash.as_deref(), out.id_sealed.as_deref()), (Some("h"), Some("s")));
        assert_eq!(out.tags, ["vip", "press"]);
        assert_eq!(absorb(&out, &merged), out, "absorbing twice changes nothing");
    }

    #[test]
    fn an_earlier_hubs_duplicates_become_open_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "CREATE TABLE duplicate_conflicts (
                     id INTEGER PRIMARY KEY, id_hash TEXT NOT NULL, attendee_a TEXT NOT NULL,
                     station_a TEXT NOT NULL, attendee_b TEXT NOT NULL, station_b TEXT NOT NULL,
                     UNIQUE (attendee_a, attendee_b));
                 INSERT INTO duplicate_conflicts VALUES (7, 'h', '{a}', 'desk-1', '{b}', 'desk-2');"
            ))
            .unwrap();
        let store = crate::sqlite::SqliteStore::open(&path).unwrap();
        drop(store);
        let store = crate::sqlite::SqliteStore::open(&path).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let open = runtime.block_on(store.conflicts()).unwrap();
        assert_eq!(open.len(), 1);
        let moved = &open[0];
        assert_eq!(moved.status(), ConflictStatus::Open);
        let found = &moved.found;
        assert_eq!(
            (found.kind, found.attendee_a, found.attendee_b),
            (ConflictKind::Duplicate, a, b)
        );
        assert_eq!((found.id_hash.as_deref(), moved.found_at.as_deref()), (Some("h"), None));
    }
}
