//! The attendee look-up (`/console/attendees?q=`): find an attendee by name (or the
//! Chinese name beside it), registration code or phone, see their current badge, and
//! revoke it with a reason.
//!
//! - ID numbers are shown only masked (the hub holds no clear ID number anyway).
//! - A role without the personal-data permission ([`ConsoleRole::shows_personal_data`])
//!   sees names and phones masked and cannot search by phone (a match would confirm whose
//!   number it is).
//! - A user limited to some attendee categories (`expo-hub user add --categories`) finds
//!   only attendees of those, and revokes only their badges.
//! - Revoking calls [`revoke_badge`], the function behind `expo-hub badge revoke` and
//!   `POST /v1/revocations`, as `console:USER`: the badge record and the hub's audit entry
//!   reach every station by its pull; the console's audit log records it too.
//!
//! [`ConsoleRole::shows_personal_data`]: super::auth::ConsoleRole::shows_personal_data

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Form;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::{Action, Page, Session};
use super::html::{self, csrf_field, escape};
use super::i18n::{Lang, T};
use super::{Answer, Console, Visit};
use crate::revocation::{current_badge, revoke_badge, RevocationRequest, RevokeError};
use crate::store::{AttendeeSearch, HubStore, StoreError};
use expo_kiosk::domain::attendee::{mask_name, mask_phone};
use expo_sync::protocol::{AttendeeRecord, BadgeRecord, Record};

/// Attendees a search shows at most: a look-up finds someone, it does not list everyone.
pub const MAX_RESULTS: usize = 20;
/// A search is 2 to 100 characters: one letter would match half the event.
const QUERY_CHARS: std::ops::RangeInclusive<usize> = 2..=100;
/// Digits a phone search needs, so that a short number does not match every phone.
const MIN_PHONE_DIGITS: usize = 7;

#[derive(Deserialize)]
pub(super) struct LookupQuery {
    #[serde(default)]
    q: String,
}

pub(super) async fn page<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    query: Result<Query<LookupQuery>, QueryRejection>,
) -> Answer {
    let session = visit.require(&console, Page::Lookup, None).await?;
    let text = query.map(|Query(query)| query.q).unwrap_or_default();
    answer(&console, &visit, &session, StatusCode::OK, &text, String::new()).await
}

/// An attendee found, with their current badge.
struct Found {
    attendee: AttendeeRecord,
    badge: Option<BadgeRecord>,
}

/// The page with the matches of `text` (none searched when it is empty) under `notice`.
async fn answer<S: HubStore>(
    console: &Console<S>,
    visit: &Visit,
    session: &Session,
    status: StatusCode,
    text: &str,
    mut notice: String,
) -> Answer {
    let text = text.trim();
    let mut found = None;
    if !text.is_empty() && !QUERY_CHARS.contains(&text.chars().count()) {
        notice.push_str(&html::notice(T::TooShort.get(visit.lang)));
    } else if !text.is_empty() {
        let personal = session.role.shows_personal_data();
        let store = console.store.as_ref();
        let failed = |e| visit.storage_failed(e);
        let search = AttendeeSearch {
            text: text.to_owned(),
            phone_digits: phone_digits(text).filter(|_| personal),
            categories: store.console_user_categories(&session.user).await.map_err(failed)?,
        };
        let matches = store.search_attendees(&search, MAX_RESULTS + 1).await.map_err(failed)?;
        let more = matches.len() > MAX_RESULTS;
        let mut rows = Vec::with_capacity(MAX_RESULTS);
        for attendee in matches.into_iter().take(MAX_RESULTS) {
            let badge = current_badge(store, attendee.id).await.map_err(failed)?;
            rows.push(Found { attendee, badge });
        }
        found = Some((rows, more));
    }
    let body = render(visit.lang, session, text, found.as_ref(), &notice);
    Ok(visit.html(status, body))
}

/// The digits of `text` when it reads as a phone number (digits, spaces, `-`, `.`, `+`)
/// with enough of them to search by.
fn phone_digits(text: &str) -> Option<String> {
    if !text.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '+')) {
        return None;
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= MIN_PHONE_DIGITS).then_some(digits)
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    attendee: Uuid,
    reason: String,
    /// The search to show again afterwards.
    #[serde(default)]
    q: String,
    csrf: String,
}

pub(super) async fn revoke<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Answer {
    let session = visit.require(&console, Page::Lookup, Some(Action::RevokeBadge)).await?;
    let form = visit.form(Some(&session), form)?;
    visit.check_csrf(&console, &session, &form.csrf).await?;
    let request = RevocationRequest {
        registration_code: None,
        attendee_id: Some(form.attendee),
        reason: form.reason.clone(),
    };
    let lang = visit.lang;
    let store = console.store.as_ref();
    let revoked = match visible(store, &session.user, form.attendee).await {
        Ok(true) => revoke_badge(store, &console.origin, &request, &session.actor()).await,
        // Outside the user's categories: as if there were no such attendee.
        Ok(false) => Err(RevokeError::UnknownAttendee),
        Err(error) => Err(RevokeError::Store(error)),
    };
    let error = match revoked {
        Ok(revoked) => {
            if !revoked.already_revoked {
                console.changes.stored();
            }
            let serial = revoked.badge_serial;
            let detail = format!("{} serial {serial}: {}", form.attendee, form.reason.trim());
            console.audit(&session.user, "badge_revoke", detail).await;
            let mut text = format!("{}: #{serial}", T::BadgeRevoked.get(lang));
            if revoked.already_revoked {
                let _ = write!(text, " {}", T::AlreadyRevoked.get(lang));
            }
            let notice = html::notice(&text);
            return answer(&console, &visit, &session, StatusCode::OK, &form.q, notice).await;
        }
        Err(RevokeError::Store(error)) => return Err(visit.storage_failed(error)),
        Err(error) => error,
    };
    let status = match error {
        RevokeError::UnknownAttendee => StatusCode::NOT_FOUND,
        RevokeError::NoBadge | RevokeError::AmbiguousCode => StatusCode::CONFLICT,
        RevokeError::NoHolder | RevokeError::NoReason | RevokeError::Invalid(_) => {
            StatusCode::BAD_REQUEST
        }
        RevokeError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let notice = html::notice(&format!("{}: {error}", T::BadRequest.get(lang)));
    answer(&console, &visit, &session, status, &form.q, notice).await
}

/// Whether the user's category data permission lets them see `attendee` (an attendee the
/// hub does not hold is left to [`revoke_badge`] to refuse).
async fn visible<S: HubStore>(store: &S, user: &str, attendee: Uuid) -> Result<bool, StoreError> {
    let categories = store.console_user_categories(user).await?;
    if categories.is_empty() {
        return Ok(true);
    }
    let held = store.current_records(&[format!("attendee:{attendee}")]).await?;
    Ok(held.iter().all(|(_, record)| match record {
        Record::Attendee(held) => categories.contains(&held.category),
        _ => false,
    }))
}

fn render(
    lang: Lang,
    session: &Session,
    text: &str,
    found: Option<&(Vec<Found>, bool)>,
    notice: &str,
) -> String {
    let personal = session.role.shows_personal_data();
    let hint = if personal { T::SearchHint } else { T::SearchHintMasked };
    let mut body = format!(
        "{notice}<form class=\"box\" method=\"get\" action=\"/console/attendees\">\
         <input type=\"search\" name=\"q\" value=\"{text}\" placeholder=\"{hint}\" \
         maxlength=\"{max}\" autofocus> <button class=\"action\">{search}</button></form>",
        text = escape(text),
        hint = hint.get(lang),
        max = QUERY_CHARS.end(),
        search = T::Search.get(lang),
    );
    if !personal {
        let _ = write!(body, "<p class=\"muted\">{}</p>", T::MaskedForRole.get(lang));
    }
    let Some((rows, more)) = found else {
        return html::page(lang, T::Lookup, Some((session, Page::Lookup)), &body);
    };
    if rows.is_empty() {
        let _ = write!(body, "<p id=\"no-matches\">{}</p>", T::NoMatches.get(lang));
    } else {
        let head: String = [
            T::Name,
            T::RegistrationCode,
            T::Company,
            T::Category,
            T::Phone,
            T::IdDocument,
            T::Badge,
        ]
        .iter()
        .map(|t| format!("<th>{}</th>", t.get(lang)))
        .collect();
        let rows: String = rows.iter().map(|row| result_row(lang, session, text, row)).collect();
        let _ = write!(
            body,
            "<table><thead><tr>{head}<th></th></tr></thead><tbody>{rows}</tbody></table>"
        );
    }
    if *more {
        let _ = write!(body, "<p class=\"muted\">{}</p>", T::MoreMatches.get(lang));
    }
    html::page(lang, T::Lookup, Some((session, Page::Lookup)), &body)
}

fn result_row(lang: Lang, session: &Session, text: &str, found: &Found) -> String {
    let attendee = &found.attendee;
    let personal = session.role.shows_personal_data();
    let shown = |name: &str| if personal { name.to_owned() } else { mask_name(name) };
    // Both names, as a search may have matched either.
    let name = match attendee.chinese_name.as_str() {
        "" => shown(&attendee.name),
        chinese => format!("{} ({})", shown(&attendee.name), shown(chinese)),
    };
    let phone = if personal { attendee.phone.clone() } else { mask_phone(&attendee.phone) };
    let document = match (&attendee.id_type, &attendee.id_masked) {
        (Some(kind), Some(masked)) => format!("{} {}", escape(kind), escape(masked)),
        _ => String::new(),
    };
    let (badge, revocable) = match &found.badge {
        None => (format!("<span class=\"muted\">{}</span>", T::NoBadge.get(lang)), false),
        Some(badge) => {
            let state = match badge.status.as_str() {
                "active" => T::BadgeValid.get(lang).to_owned(),
                "superseded" => T::BadgeReplaced.get(lang).to_owned(),
                "revoked" => format!(
                    "<span class=\"bad\">{}</span> {}",
                    T::Revoked.get(lang),
                    escape(badge.reason.as_deref().unwrap_or(""))
                ),
                other => escape(other),
            };
            (format!("#{} · {state}", badge.serial), badge.status != "revoked")
        }
    };
    let revoke = if revocable && session.role.may(Action::RevokeBadge) {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"/console/attendees/revoke\" \
             onsubmit=\"return confirm('{confirm}')\">{csrf}\
             <input type=\"hidden\" name=\"attendee\" value=\"{id}\">\
             <input type=\"hidden\" name=\"q\" value=\"{text}\">\
             <input name=\"reason\" required maxlength=\"200\" placeholder=\"{reason}\"> \
             <button class=\"action\">{revoke}</button></form>",
            confirm = T::RevokeBadgeConfirm.get(lang),
            csrf = csrf_field(&session.csrf),
            id = attendee.id,
            text = escape(text),
            reason = T::Reason.get(lang),
            revoke = T::RevokeBadge.get(lang),
        )
    } else {
        String::new()
    };
    format!(
        "<tr data-attendee=\"{id}\"><td>{name}</td><td>{code}</td><td>{company}</td>\
         <td>{category}</td><td>{phone}</td><td>{document}</td><td>{badge}</td><td>{revoke}</td></tr>",
        id = attendee.id,
        name = escape(&name),
        code = escape(attendee.registration_code.as_deref().unwrap_or("")),
        company = escape(&attendee.company),
        category = escape(&attendee.category),
        phone = escape(&phone),
    )
}
