//! `GET /v1/feed?after=CURSOR&limit=N&wait=S` (scope `feed:read`): what happens at the
//! show, for the organiser's CRM to follow live: gate entries, exits and refusals, walk-ins,
//! badges issued, reprinted and revoked, in hub order.
//!
//! The cursor is the hub sequence of the change an entry comes from (the stations' pull
//! cursor), so a follower resumes exactly where it stopped; `next_cursor` may pass changes
//! that are no feed entries (print jobs, audit entries, edits of attendees). `wait` holds
//! an empty answer until something new is stored, like a station's pull (see
//! [`crate::long_poll`]: capped at 25 s, and answered with the wait granted in
//! `x-expo-wait`).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api_keys::{require_scope, Scope};
use crate::server::{ApiError, Hub};
use crate::store::{HubStore, StoreError};
use expo_sync::protocol::{AttendeeRecord, Change, Record, WAIT_HEADER};

/// The record kinds feed entries come from.
pub const FEED_KINDS: &[&str] = &["attendee", "badge", "gate_decision"];
/// Entries of a feed request that does not say.
const DEFAULT_LIMIT: usize = 100;
/// Most entries one answer carries.
pub const MAX_LIMIT: usize = 1000;

/// One thing that happened, as the feed tells it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Resume after this to read what follows.
    pub cursor: i64,
    /// `gate_entry`, `gate_exit`, `gate_refused`, `gate_annulled`, `walk_in`,
    /// `badge_issued`, `badge_reprinted` or `badge_revoked`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened, RFC 3339 (the station's clock).
    pub at: String,
    /// The station id that recorded it (`@hub` for the data centre).
    pub station: String,
    /// The holder, when known (a refusal of a forged badge names nobody).
    pub attendee_id: Option<Uuid>,
    pub registration_code: Option<String>,
    pub name: Option<String>,
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge_serial: Option<u32>,
    /// Gate entries: the gate, lane, zone and direction (`in` or `out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Gate decisions: why (`ok`, `revoked`, `passback`, ...); revocations: the reason
    /// given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Walk-ins: `walk_in` (at a desk) or `self_service` (at a kiosk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedResponse {
    pub entries: Vec<FeedEntry>,
    /// The `after` of the next request.
    pub next_cursor: i64,
    /// True when more is stored already: ask again at once.
    pub more: bool,
}

impl FeedEntry {
    /// The entry a stored change makes, if it makes one.
    fn of(cursor: i64, change: Change) -> Option<Self> {
        let blank = |kind: &str, at: &str, attendee_id: Option<Uuid>| FeedEntry {
            cursor,
            kind: kind.to_owned(),
            at: at.to_owned(),
            station: change.station.clone(),
            attendee_id,
            registration_code: None,
            name: None,
            category: None,
            badge_serial: None,
            gate: None,
            lane: None,
            zone: None,
            direction: None,
            reason: None,
            source: None,
        };
        match change.record {
            Record::GateDecision(decision) => {
                let kind = match (decision.annulled, decision.granted, decision.direction.as_str())
                {
                    (true, _, _) => "gate_annulled",
                    (false, false, _) => "gate_refused",
                    (false, true, "out") => "gate_exit",
                    (false, true, _) => "gate_entry",
                };
                Some(FeedEntry {
                    badge_serial: decision.badge_serial,
                    gate: Some(decision.gate),
                    lane: Some(decision.lane),
                    zone: Some(decision.zone),
                    direction: Some(decision.direction),
                    reason: Some(decision.reason),
                    ..blank(kind, &decision.at, decision.attendee_id)
                })
            }
            // A walk-in as first registered: later edits of the record are no news.
            Record::Attendee(attendee)
                if matches!(attendee.source.as_str(), "walk_in" | "self_service")
                    && attendee.created_at == attendee.updated_at =>
            {
                let mut entry = blank("walk_in", &attendee.created_at, Some(attendee.id));
                entry.source = Some(attendee.source.clone());
                entry.name_holder(&attendee);
                Some(entry)
            }
            Record::Badge(badge) => {
                let kind = match (badge.status.as_str(), badge.serial) {
                    ("revoked", _) => "badge_revoked",
                    ("active", 1) => "badge_issued",
                    ("active", _) => "badge_reprinted",
                    // A superseded serial is the other half of a reprint.
                    _ => return None,
                };
                Some(FeedEntry {
                    badge_serial: Some(badge.serial),
                    reason: badge.reason,
                    ..blank(kind, &badge.changed_at, Some(badge.attendee_id))
                })
            }
            _ => None,
        }
    }

    fn name_holder(&mut self, attendee: &AttendeeRecord) {
        self.registration_code.clone_from(&attendee.registration_code);
        self.name = Some(attendee.name.clone());
        self.category = Some(attendee.category.clone());
    }
}

/// The feed after `after`: up to `limit` entries, each naming its holder as the hub knows
/// them now.
pub async fn feed_page<S: HubStore>(
    store: &S,
    after: i64,
    limit: usize,
) -> Result<FeedResponse, StoreError> {
    let (rows, high_water) = store.changes_of_kinds(FEED_KINDS, after, limit).await?;
    let more = rows.len() >= limit;
    let next_cursor = match rows.last() {
        Some((seq, _)) if more => *seq,
        _ => high_water.max(after),
    };
    let mut entries = Vec::with_capacity(rows.len());
    for (seq, json) in rows {
        let change: Change = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("stored change: {e}")))?;
        entries.extend(FeedEntry::of(seq, change));
    }
    // Each holder once, however many entries a page has of them.
    let holders: Vec<String> = entries
        .iter()
        .filter(|entry| entry.name.is_none())
        .filter_map(|entry| entry.attendee_id.map(|id| format!("attendee:{id}")))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let holders: HashMap<Uuid, AttendeeRecord> = store
        .current_records(&holders)
        .await?
        .into_iter()
        .filter_map(|(_, record)| match record {
            Record::Attendee(attendee) => Some((attendee.id, attendee)),
            _ => None,
        })
        .collect();
    for entry in entries.iter_mut().filter(|entry| entry.name.is_none()) {
        if let Some(holder) = entry.attendee_id.and_then(|id| holders.get(&id)) {
            entry.name_holder(holder);
        }
    }
    Ok(FeedResponse { entries, next_cursor, more })
}

#[derive(Deserialize)]
pub(crate) struct FeedParams {
    after: Option<i64>,
    limit: Option<usize>,
    wait: Option<u64>,
}

pub(crate) async fn feed<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    params: Result<Query<FeedParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let caller = require_scope(hub.store.as_ref(), &headers, Scope::FeedRead).await?;
    let Query(params) =
        params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let after = params.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "after is a cursor: 0 or more",
        ));
    }
    // Each read resumes where the last one stopped: changes that make no entry (print
    // jobs, edits of attendees) are passed while waiting, not read again.
    let cursor = AtomicI64::new(after);
    let (page, granted) = hub
        .long_polls
        .answer(
            &hub.changes,
            Duration::from_secs(params.wait.unwrap_or(0)),
            || feed_page(hub.store.as_ref(), cursor.load(Ordering::Relaxed), limit),
            |page: &FeedResponse| {
                cursor.store(page.next_cursor, Ordering::Relaxed);
                !page.entries.is_empty() || page.more
            },
        )
        .await?;
    tracing::debug!(key = caller.name, after, sent = page.entries.len(), "feed");
    let mut answer = Json(page).into_response();
    if params.wait.is_some() {
        answer.headers_mut().insert(WAIT_HEADER, granted.as_secs().into());
    }
    Ok(answer)
}
