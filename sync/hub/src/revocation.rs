//! Revoking an attendee's badge from the data centre (a lost badge reported by phone):
//! `POST /v1/revocations` (scope `badges:revoke`) and `expo-hub badge revoke CODE`.
//!
//! The hub revokes the attendee's current serial (the highest, as a desk's `badge revoke`
//! does) by a badge record and an audit entry of its own ([`HubOrigin`]), so every station
//! pulls and applies it like a desk's revocation, and a gate refuses the badge from then on.
//! Revocation wins over every other state of the serial at the hub and at every station,
//! whatever the clocks say. Asking again changes nothing and answers the same.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::api_keys::{require_scope, Scope};
use crate::origin::HubOrigin;
use crate::server::{parse_body, ApiError, Hub};
use crate::store::{current_under, HubStore, StoreError};
use expo_sync::protocol::{AttendeeRecord, BadgeRecord, Record};
use expo_sync::validate::{self, Invalid};

/// Whose badge: by registration code or by attendee id, exactly one.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    #[serde(default)]
    pub registration_code: Option<String>,
    #[serde(default)]
    pub attendee_id: Option<Uuid>,
    /// Why, for the audit log and the gate's refusal: "lost, reported by phone".
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationResponse {
    pub attendee_id: Uuid,
    pub registration_code: Option<String>,
    /// The serial revoked: the attendee's current badge.
    pub badge_serial: u32,
    /// True when the serial was revoked already (by an earlier request or at a desk):
    /// nothing was changed.
    pub already_revoked: bool,
}

/// Why a badge was not revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("give the attendee by registration_code or by attendee_id, one of them")]
    NoHolder,
    #[error("no attendee has this registration code or id")]
    UnknownAttendee,
    #[error("more than one attendee has this registration code: revoke by attendee_id")]
    AmbiguousCode,
    #[error("this attendee has no badge")]
    NoBadge,
    #[error("a reason is required")]
    NoReason,
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Revokes the current badge of the attendee `request` names, as `actor`; stores the
/// badge record and its audit entry in one batch.
pub async fn revoke_badge<S: HubStore>(
    store: &S,
    origin: &HubOrigin,
    request: &RevocationRequest,
    actor: &str,
) -> Result<RevocationResponse, RevokeError> {
    let reason = request.reason.trim();
    if reason.is_empty() {
        return Err(RevokeError::NoReason);
    }
    // Refused whatever the badge's state, so a replay with a bad reason is no success.
    if reason.len() > validate::MAX_TEXT_BYTES {
        return Err(
            Invalid::TooLong { field: "badge reason", limit: validate::MAX_TEXT_BYTES }.into()
        );
    }
    let holder = holder(store, request).await?;
    let current = current_badge(store, holder.id).await?.ok_or(RevokeError::NoBadge)?;
    let answer = RevocationResponse {
        attendee_id: holder.id,
        registration_code: holder.registration_code.clone(),
        badge_serial: current.serial,
        already_revoked: current.status == "revoked",
    };
    if answer.already_revoked {
        return Ok(answer);
    }
    let revoked = BadgeRecord {
        status: "revoked".into(),
        reason: Some(reason.to_owned()),
        changed_at: expo_kiosk::store::now_rfc3339(),
        operator: actor.to_owned(),
        ..current
    };
    let badge = origin.change(Record::Badge(revoked), None);
    let audit = origin.audit(
        actor,
        "revoke",
        Some(holder.id),
        json!({ "serial": answer.badge_serial, "reason": reason }),
    );
    for change in [&badge, &audit] {
        validate::check_content(change)?;
    }
    HubOrigin::store(store, &[badge, audit]).await?;
    tracing::info!(actor, serial = answer.badge_serial, "badge revoked from the data centre");
    Ok(answer)
}

/// More serials than one attendee ever has (each reprint adds one).
const MAX_BADGES_PER_ATTENDEE: usize = 1000;

/// The attendee's current badge: the highest serial the hub holds, whatever its state.
pub async fn current_badge<S: HubStore>(
    store: &S,
    attendee: Uuid,
) -> Result<Option<BadgeRecord>, StoreError> {
    let prefix = format!("badge:{attendee}:");
    Ok(current_under(store, "badge", &prefix, MAX_BADGES_PER_ATTENDEE)
        .await?
        .into_iter()
        .filter_map(|record| match record {
            Record::Badge(badge) => Some(badge),
            _ => None,
        })
        .max_by_key(|badge| badge.serial))
}

async fn holder<S: HubStore>(
    store: &S,
    request: &RevocationRequest,
) -> Result<AttendeeRecord, RevokeError> {
    let found = match (&request.attendee_id, &request.registration_code) {
        (Some(id), None) => store
            .current_records(&[format!("attendee:{id}")])
            .await?
            .into_iter()
            .filter_map(|(_, record)| match record {
                Record::Attendee(attendee) => Some(attendee),
                _ => None,
            })
            .collect(),
        (None, Some(code)) if !code.trim().is_empty() => {
            store.attendees_by_registration_code(code.trim()).await?
        }
        _ => return Err(RevokeError::NoHolder),
    };
    let mut found = found.into_iter();
    match (found.next(), found.next()) {
        (Some(attendee), None) => Ok(attendee),
        (None, _) => Err(RevokeError::UnknownAttendee),
        (Some(_), Some(_)) => Err(RevokeError::AmbiguousCode),
    }
}

pub(crate) async fn revoke<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = require_scope(hub.store.as_ref(), &headers, Scope::BadgesRevoke).await?;
    let request: RevocationRequest = parse_body(body)?;
    let answer = revoke_badge(hub.store.as_ref(), &hub.origin, &request, &caller.actor())
        .await
        .map_err(|error| {
            let (status, code) = match &error {
                RevokeError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
                RevokeError::UnknownAttendee => (StatusCode::NOT_FOUND, "unknown_attendee"),
                RevokeError::NoBadge => (StatusCode::CONFLICT, "no_badge"),
                RevokeError::AmbiguousCode => (StatusCode::CONFLICT, "ambiguous_registration_code"),
                RevokeError::NoHolder | RevokeError::NoReason | RevokeError::Invalid(_) => {
                    (StatusCode::BAD_REQUEST, "invalid_request")
                }
            };
            match error {
                RevokeError::Store(store) => ApiError::from(store),
                other => ApiError::new(status, code, other.to_string()),
            }
        })?;
    if !answer.already_revoked {
        hub.changes.stored();
    }
    Ok(Json(answer).into_response())
}
