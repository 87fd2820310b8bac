//! Finding, registering and changing attendees: search, open, scans and ID cards, the
//! walk-in form, edits, revocations and revealing an ID number.

use expo_sync::protocol::AttendeeRecord;

use super::{AttendeeView, CardIdentity, Failure, Refusal, Response, RevealedId, Worker};
use crate::domain::{AttendeeId, IdDocument, IdType, NewAttendee, Source};
use crate::operators::{Operator, Permission, Role};
use crate::registration::badge::{self, BadgeState};
use crate::registration::lookup;
use crate::registration::{self, RegistrationError};

/// Most results a live search shows.
const SEARCH_LIMIT: usize = 30;

impl Worker {
    pub(super) fn search(&self, query: String) -> Result<Response, Failure> {
        let hits = lookup::search(self.store.conn(), self.acting()?, &query, SEARCH_LIMIT)?;
        Ok(Response::SearchResults { query, hits })
    }

    /// The attendee as the operator may see them; with nobody logged in, as the app's gate
    /// screen shows a scanned badge's holder.
    pub(super) fn view(&self, id: AttendeeId) -> Result<AttendeeView, Failure> {
        let gate = Operator::gate(self.store.station_id());
        let reader = self.operator.as_ref().unwrap_or(&gate);
        let record = lookup::attendee(self.store.conn(), reader, id)?.ok_or(Failure::NotFound)?;
        let badges = badge::badges_of(self.store.conn(), id)?;
        Ok(to_view(record, badges))
    }

    /// A badge token opens its attendee once it verifies; anything else is tried as a
    /// registration code.
    pub(super) fn scan(&self, code: &str) -> Result<Response, Failure> {
        if code.starts_with(crate::credential::TOKEN_PREFIX) {
            let today = registration::venue_today(&self.store)?;
            return match badge::verify(&self.store, code, today)? {
                Ok(verified) => Ok(Response::Opened(self.view(verified.claims.attendee)?)),
                // A holder this station does not know (or this operator may not see) gets
                // the bare verdict.
                Err(invalid) => {
                    match badge::signed_holder(&self.store, code)?.map(|h| self.view(h)) {
                        Some(Ok(holder)) => {
                            Ok(Response::BadgeRefused { holder, reason: invalid.as_str() })
                        }
                        _ => Err(Failure::InvalidBadge(invalid.as_str())),
                    }
                }
            };
        }
        match registration::resolve(self.store.conn(), code) {
            Ok(record) => Ok(Response::Opened(self.view(AttendeeId(record.id))?)),
            Err(RegistrationError::NotFound(_)) => {
                Ok(Response::NotFound { code: code.chars().take(40).collect() })
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Opens the card holder's attendee or pre-fills a walk-in; remembers a card that
    /// matched nobody as the one a self-service registration may be made for.
    pub(super) fn read_id_card(&mut self, card: CardIdentity) -> Result<Response, Failure> {
        let response = self.id_card(card)?;
        self.card_read = match &response {
            Response::WalkInFromCard(card) => Some(card.clone()),
            _ => None,
        };
        Ok(response)
    }

    fn id_card(&self, card: CardIdentity) -> Result<Response, Failure> {
        let event = self.store.event()?;
        let id_type =
            IdType::parse(card.id_type).ok_or_else(|| Failure::invalid("unknown ID type"))?;
        let today = registration::venue_today(&self.store)?;
        let existing = match (&event.data_key, IdDocument::parse(id_type, &card.id_number, today)) {
            (Some(key), Ok(document)) => {
                registration::find_by_id_hash(self.store.conn(), &key.lookup_hash(&document))?
            }
            // A card whose number does not validate is shown in the form, where the check
            // reports it; without a data key there is nothing to look up.
            _ => None,
        };
        match existing {
            Some(id) => Ok(Response::Opened(self.view(id)?)),
            None => Ok(Response::WalkInFromCard(card)),
        }
    }

    pub(super) fn check_walk_in(&self, input: NewAttendee) -> Result<Response, Failure> {
        let operator = self.operator(Permission::Register)?;
        let today = registration::venue_today(&self.store)?;
        let event = &self.store.event()?.definition;
        let errors = input
            .validate_registration(event, registration_source(&operator), today)
            .err()
            .unwrap_or_default();
        let mut duplicates = registration::duplicate_hints(&self.store, &input)?;
        if !operator.can(Permission::Search) {
            // A kiosk learns that someone else holds these details, never who.
            duplicates.iter_mut().for_each(|hint| hint.name.clear());
        }
        Ok(Response::WalkInChecked { input, errors, duplicates })
    }

    pub(super) fn register(&mut self, input: &NewAttendee) -> Result<Response, Failure> {
        let operator = self.operator(Permission::Register)?;
        let source = registration_source(&operator);
        if source == Source::SelfService {
            // A kiosk registers the holder of the card it just read, and no one else.
            let from_card = self.card_read.as_ref().is_some_and(|card| {
                card.id_type == input.id_type.trim()
                    && card.id_number == input.id_number.trim()
                    && card.name.trim() == input.name.trim()
            });
            if !from_card {
                return Err(Failure::Refused(Refusal::NotFromCard));
            }
        }
        let record = registration::register(&mut self.store, &operator, input, source)?;
        self.card_read = None;
        Ok(Response::Registered(self.view(AttendeeId(record.id))?))
    }

    pub(super) fn edit(
        &mut self,
        attendee: AttendeeId,
        input: &NewAttendee,
    ) -> Result<Response, Failure> {
        let operator = self.operator(Permission::Edit)?;
        registration::edit(&mut self.store, &operator, attendee, input)?;
        Ok(Response::Edited(self.view(attendee)?))
    }

    pub(super) fn revoke(
        &mut self,
        attendee: AttendeeId,
        reason: &str,
    ) -> Result<Response, Failure> {
        let operator = self.operator(Permission::Revoke)?;
        badge::revoke(&mut self.store, &operator, attendee, reason)?;
        Ok(Response::Revoked(self.view(attendee)?))
    }

    pub(super) fn reveal_id(&mut self, attendee: AttendeeId) -> Result<Response, Failure> {
        let operator = self.operator(Permission::RevealId)?;
        let number = registration::reveal_id_number(&mut self.store, &operator, attendee)?
            .ok_or(Failure::NotFound)?;
        Ok(Response::IdRevealed(RevealedId { attendee, number }))
    }
}

fn to_view(record: AttendeeRecord, badges: Vec<BadgeState>) -> AttendeeView {
    AttendeeView {
        id: AttendeeId(record.id),
        registration_code: record.registration_code,
        name: record.name,
        chinese_name: record.chinese_name,
        company: record.company,
        title: record.title,
        category: record.category,
        phone: record.phone,
        email: record.email,
        country: record.country,
        id_type: record.id_type,
        id_masked: record.id_masked,
        source: record.source,
        consent: record.consent,
        badges,
    }
}

/// How an operator's registrations are counted and checked: a kiosk's are self-service,
/// under the event's kiosk policy.
fn registration_source(operator: &Operator) -> Source {
    if operator.role == Role::Kiosk {
        Source::SelfService
    } else {
        Source::WalkIn
    }
}
