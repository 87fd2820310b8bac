//! The data accuracy page (`/console/accuracy`): the open duplicate and identity conflicts
//! of [`crate::conflicts`], both attendees of each masked as `GET /v1/conflicts` lists
//! them, merged (the operator picks who stays) or dismissed with a reason.
//!
//! The forms call [`conflicts::merge`] and [`conflicts::dismiss`], the functions behind
//! `expo-hub conflicts merge|dismiss` and `POST /v1/conflicts/{id}/merge|dismiss`, as
//! `console:USER`, so the hub's audit entry (which reaches the stations) names the console
//! user; the console's own audit log records the action too.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Form;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::{Action, Page, Session};
use super::html::{self, csrf_field, escape};
use super::i18n::{Lang, T};
use super::{Answer, Console, Visit};
use crate::conflicts::{
    self, ConflictAttendee, ConflictKind, ConflictView, ResolveError, Resolved, MAX_REASON_CHARS,
};
use crate::store::HubStore;

pub(super) async fn page<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
) -> Answer {
    let session = visit.require(&console, Page::Accuracy, None).await?;
    answer(&console, &visit, &session, StatusCode::OK, String::new()).await
}

/// The page with the conflicts open now, and `notice` (HTML) above them.
async fn answer<S: HubStore>(
    console: &Console<S>,
    visit: &Visit,
    session: &Session,
    status: StatusCode,
    notice: String,
) -> Answer {
    let open =
        conflicts::list(console.store.as_ref()).await.map_err(|e| visit.storage_failed(e))?;
    Ok(visit.html(status, render(visit.lang, session, &open, &notice)))
}

#[derive(Deserialize)]
pub(super) struct MergeForm {
    conflict: i64,
    keep: Uuid,
    csrf: String,
}

#[derive(Deserialize)]
pub(super) struct DismissForm {
    conflict: i64,
    reason: String,
    csrf: String,
}

pub(super) async fn merge<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    form: Result<Form<MergeForm>, FormRejection>,
) -> Answer {
    let session = visit.require(&console, Page::Accuracy, Some(Action::MergeConflict)).await?;
    let form = visit.form(Some(&session), form)?;
    visit.check_csrf(&console, &session, &form.csrf).await?;
    let (store, origin) = (console.store.as_ref(), console.origin.as_ref());
    let merged = conflicts::merge(store, origin, form.conflict, form.keep, &session.actor()).await;
    let detail = format!("conflict {} keeping {}", form.conflict, form.keep);
    resolved(&console, &visit, &session, merged, ("conflict_merge", detail), T::Merged).await
}

pub(super) async fn dismiss<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    form: Result<Form<DismissForm>, FormRejection>,
) -> Answer {
    let session = visit.require(&console, Page::Accuracy, Some(Action::DismissConflict)).await?;
    let form = visit.form(Some(&session), form)?;
    visit.check_csrf(&console, &session, &form.csrf).await?;
    let (store, origin) = (console.store.as_ref(), console.origin.as_ref());
    let dismissed =
        conflicts::dismiss(store, origin, form.conflict, &form.reason, &session.actor()).await;
    let detail = format!("conflict {}: {}", form.conflict, form.reason.trim());
    resolved(&console, &visit, &session, dismissed, ("conflict_dismiss", detail), T::Dismissed)
        .await
}

/// The page after a merge or dismissal: what was done (audited as `audit`), or why
/// nothing was.
async fn resolved<S: HubStore>(
    console: &Console<S>,
    visit: &Visit,
    session: &Session,
    result: Result<Resolved, ResolveError>,
    audit: (&str, String),
    done: T,
) -> Answer {
    let lang = visit.lang;
    let error = match result {
        Ok(resolved) => {
            if resolved.changes > 0 {
                console.changes.stored();
            }
            let (action, detail) = audit;
            let again = if resolved.already_resolved { " (already)" } else { "" };
            console.audit(&session.user, action, format!("{detail}{again}")).await;
            let text = format!(
                "{}: #{} · {} {}",
                done.get(lang),
                resolved.conflict.id,
                resolved.changes,
                T::ChangesForStations.get(lang)
            );
            return answer(console, visit, session, StatusCode::OK, html::notice(&text)).await;
        }
        Err(ResolveError::Store(error)) => return Err(visit.storage_failed(error)),
        Err(error) => error,
    };
    let status = match &error {
        ResolveError::Unknown(_) => StatusCode::NOT_FOUND,
        ResolveError::NotInConflict { .. } | ResolveError::BadReason => StatusCode::BAD_REQUEST,
        ResolveError::AlreadyResolved { .. }
        | ResolveError::NotStored(_)
        | ResolveError::OneAttendee(_)
        | ResolveError::AlreadyMerged { .. } => StatusCode::CONFLICT,
        ResolveError::Unencodable(_) | ResolveError::Store(_) => {
            tracing::error!(%error, "console: cannot resolve a conflict");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let text = format!("{}: {error}", T::BadRequest.get(lang));
    answer(console, visit, session, status, html::notice(&text)).await
}

fn render(lang: Lang, session: &Session, open: &[ConflictView], notice: &str) -> String {
    let csrf = csrf_field(&session.csrf);
    let mut body = notice.to_owned();
    if open.is_empty() {
        let _ = write!(body, "<p id=\"no-conflicts\">{}</p>", T::NoConflicts.get(lang));
    }
    let head: String =
        [T::Name, T::Company, T::Category, T::Source, T::IdDocument, T::Station, T::Created]
            .iter()
            .map(|t| format!("<th>{}</th>", t.get(lang)))
            .collect();
    for conflict in open {
        let kind = match conflict.kind {
            ConflictKind::Duplicate => T::ConflictDuplicate,
            ConflictKind::Identity => T::ConflictIdentity,
        };
        // A merge needs two attendees the hub holds (the library refuses anything else).
        let mergeable = conflict.attendees.len() == 2
            && conflict.attendees.iter().all(|a| a.stored)
            && session.role.may(Action::MergeConflict);
        let rows: String = conflict
            .attendees
            .iter()
            .map(|attendee| attendee_row(lang, &csrf, conflict.id, attendee, mergeable))
            .collect();
        let detail = if conflict.detail.is_null() {
            String::new()
        } else {
            format!("<p class=\"muted\">{}</p>", escape(&conflict.detail.to_string()))
        };
        let dismiss = if session.role.may(Action::DismissConflict) {
            format!(
                "<form method=\"post\" action=\"/console/accuracy/dismiss\">{csrf}\
                 <input type=\"hidden\" name=\"conflict\" value=\"{id}\">\
                 <label>{reason} <input name=\"reason\" required maxlength=\"{MAX_REASON_CHARS}\"></label> \
                 <button class=\"action\">{dismiss}</button></form>",
                id = conflict.id,
                reason = T::Reason.get(lang),
                dismiss = T::Dismiss.get(lang),
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<section data-conflict=\"{id}\"><h2>#{id} · {kind}</h2>\
             <p class=\"muted\">{found}: {found_at}</p>\
             <table><thead><tr>{head}<th></th></tr></thead><tbody>{rows}</tbody></table>\
             {detail}{dismiss}</section>",
            id = conflict.id,
            kind = kind.get(lang),
            found = T::Found.get(lang),
            found_at = escape(conflict.found_at.as_deref().unwrap_or("-")),
        );
    }
    html::page(lang, T::Accuracy, Some((session, Page::Accuracy)), &body)
}

/// One attendee of a conflict, masked as the conflict list gives them, with the button
/// that keeps them (merging the other into them) when the conflict can be merged.
fn attendee_row(
    lang: Lang,
    csrf: &str,
    conflict: i64,
    attendee: &ConflictAttendee,
    mergeable: bool,
) -> String {
    let id = attendee.id;
    if !attendee.stored {
        return format!(
            "<tr data-attendee=\"{id}\"><td colspan=\"8\" class=\"muted\">{}</td></tr>",
            T::NotApplied.get(lang)
        );
    }
    let keep = if mergeable {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"/console/accuracy/merge\" \
             onsubmit=\"return confirm('{confirm}')\">{csrf}\
             <input type=\"hidden\" name=\"conflict\" value=\"{conflict}\">\
             <input type=\"hidden\" name=\"keep\" value=\"{id}\">\
             <button class=\"action\">{keep}</button></form>",
            confirm = T::MergeConfirm.get(lang),
            keep = T::KeepThis.get(lang),
        )
    } else {
        String::new()
    };
    let document = match (&attendee.id_type, &attendee.id_masked) {
        (Some(kind), Some(masked)) => format!("{} {}", escape(kind), escape(masked)),
        _ => String::new(),
    };
    format!(
        "<tr data-attendee=\"{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{document}</td>\
         <td>{}</td><td>{}</td><td>{keep}</td></tr>",
        escape(&attendee.name),
        escape(&attendee.company),
        escape(&attendee.category),
        escape(&attendee.source),
        escape(&attendee.station),
        escape(&attendee.created_at),
    )
}
