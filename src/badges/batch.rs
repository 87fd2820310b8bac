//! Many badges in one PDF: the admin's preview of a template against real attendees,
//! and pre-printing a category's badges before the show.

use rusqlite::params;

use super::render::{render_pdf, BadgeData};
use super::template::Template;
use super::BadgeError;
use crate::domain::AttendeeId;
use crate::registration::{self, badge, RegistrationError};
use crate::store::{Store, StoreError};

/// A rendered batch.
#[derive(Debug)]
pub struct Batch {
    pub pdf: Vec<u8>,
    /// Badges in the PDF, one page each.
    pub badges: usize,
    /// Attendees left out because their badge is revoked.
    pub revoked: usize,
}

/// The badges of these attendees, in order, issuing a badge to whoever has none yet.
pub fn render_attendees(
    store: &mut Store,
    actor: &str,
    template: &Template,
    attendees: &[AttendeeId],
) -> Result<Batch, BadgeError> {
    let mut badges = Vec::with_capacity(attendees.len());
    let mut revoked = 0;
    for &attendee in attendees {
        let token = match badge::ensure_badge(store, actor, attendee) {
            Ok(issued) => issued.token,
            Err(RegistrationError::Revoked(..)) => {
                revoked += 1;
                continue;
            }
            Err(other) => return Err(other.into()),
        };
        let record = registration::load(store.conn(), attendee)?
            .ok_or_else(|| RegistrationError::NotFound(attendee.to_string()))?;
        badges.push(BadgeData::for_attendee(&store.event()?.definition, &record, token)?);
    }
    let count = badges.len();
    Ok(Batch { pdf: render_pdf(template, badges)?, badges: count, revoked })
}

/// Every attendee, or those of one category (id or Chinese label), by registration code
/// then name: the order the organiser's lists use.
pub fn attendees_in(store: &Store, category: Option<&str>) -> Result<Vec<AttendeeId>, BadgeError> {
    let category = match category {
        Some(wanted) => {
            Some(store.event()?.definition.category(wanted).map(|(_, c)| c.id.clone()).ok_or_else(
                || BadgeError::Render(format!("the event has no category {wanted:?}")),
            )?)
        }
        None => None,
    };
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT id FROM attendees WHERE ?1 IS NULL OR category = ?1 \
             ORDER BY registration_code IS NULL, registration_code, name, id",
        )
        .map_err(StoreError::from)?;
    let ids = stmt
        .query_map(params![category], |r| r.get::<_, String>(0))
        .map_err(StoreError::from)?
        .map(|row| -> Result<AttendeeId, BadgeError> {
            let text = row.map_err(StoreError::from)?;
            uuid::Uuid::parse_str(&text)
                .map(AttendeeId)
                .map_err(|_| StoreError::Corrupt(format!("attendee id {text:?}")).into())
        })
        .collect::<Result<Vec<_>, BadgeError>>()?;
    Ok(ids)
}
