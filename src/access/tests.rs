//! The rules matrix: every category × zone × day × hour × passback state × direction of
//! the shipped example event, checked against an oracle written from the event's text
//! (the table below), not from the engine's code.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveTime};
use ed25519_dalek::{SigningKey, VerifyingKey};
use proptest::prelude::*;
use rand::rngs::OsRng;
use uuid::Uuid;

use super::*;
use crate::credential::{event_tag, key_id, sign, BadgeClaims};

const EXAMPLE: &str = include_str!("../../assets/events/example-event.toml");

/// The example event's access rules, restated by hand: (category, zones, show days
/// (empty = all), from, to, max entries per day).
type Rule = (
    &'static str,
    &'static [&'static str],
    &'static [u32],
    &'static str,
    &'static str,
    Option<u32>,
);
const RULES: [Rule; 7] = [
    ("exhibitor", &["hall-1", "hall-2", "forum-a"], &[], "07:00", "19:00", None),
    ("professional_visitor", &["hall-1", "hall-2", "forum-a"], &[], "09:00", "17:00", Some(10)),
    ("public_visitor", &["hall-1", "hall-2"], &[26, 27], "10:00", "16:30", Some(3)),
    ("media", &["hall-1", "hall-2", "forum-a"], &[], "08:30", "18:00", None),
    ("vip", &["hall-1", "hall-2", "vip-lounge", "forum-a"], &[], "08:00", "20:00", None),
    ("organizer", &["hall-1", "hall-2", "vip-lounge", "forum-a"], &[], "06:00", "23:00", None),
    ("staff", &["hall-1", "hall-2", "forum-a"], &[], "06:00", "22:00", None),
];
const ZONES: [(&str, Passback); 4] = [
    ("hall-1", Passback::Hard),
    ("hall-2", Passback::Hard),
    ("vip-lounge", Passback::Soft),
    ("forum-a", Passback::Off),
];
/// Show days are Nov 24..=27; the 23rd and 28th lie outside the badges' validity.
const DAYS: [u32; 6] = [23, 24, 25, 26, 27, 28];
/// Every window edge, a minute either side of some, and the small hours.
const HOURS: [&str; 22] = [
    "00:00", "05:59", "06:00", "06:59", "07:00", "07:59", "08:00", "08:29", "08:30", "08:59",
    "09:00", "09:59", "10:00", "12:00", "16:29", "16:30", "16:59", "17:00", "18:00", "19:00",
    "20:00", "23:00",
];

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn time(hhmm: &str) -> NaiveTime {
    NaiveTime::parse_from_str(hhmm, "%H:%M").unwrap()
}

struct World {
    key: SigningKey,
    trusted: Vec<VerifyingKey>,
    revoked: HashSet<(AttendeeId, u16)>,
    states: HashMap<AttendeeId, AttendeeState>,
    pending: HashSet<String>,
    state_fails: bool,
    state_lookups: Cell<u32>,
}

impl World {
    fn new() -> Self {
        let key = SigningKey::generate(&mut OsRng);
        World {
            trusted: vec![key.verifying_key()],
            key,
            revoked: HashSet::new(),
            states: HashMap::new(),
            pending: HashSet::new(),
            state_fails: false,
            state_lookups: Cell::new(0),
        }
    }

    fn claims(&self, category_code: u8) -> BadgeClaims {
        BadgeClaims {
            key_id: key_id(&self.key.verifying_key()),
            event_tag: event_tag("expo-2026"),
            attendee: AttendeeId(Uuid::now_v7()),
            serial: 1,
            category_code,
            valid_from: day(24),
            valid_to: day(27),
        }
    }

    fn badge(&self, category_code: u8) -> (AttendeeId, String) {
        let claims = self.claims(category_code);
        (claims.attendee, sign(&claims, &self.key))
    }
}

impl Trust for World {
    fn event_tag(&self) -> u32 {
        event_tag("expo-2026")
    }
    fn verifying_key(&self, id: u32) -> Option<VerifyingKey> {
        self.trusted.iter().copied().find(|k| key_id(k) == id)
    }
    fn is_revoked(&self, attendee: AttendeeId, serial: u16) -> bool {
        self.revoked.contains(&(attendee, serial))
    }
}

impl Knowledge for World {
    fn attendee_state(
        &self,
        attendee: AttendeeId,
        _zone: &str,
        _day: NaiveDate,
    ) -> Result<AttendeeState, StateUnavailable> {
        self.state_lookups.set(self.state_lookups.get() + 1);
        if self.state_fails {
            return Err(StateUnavailable);
        }
        Ok(self.states.get(&attendee).copied().unwrap_or_default())
    }
    fn is_pending_registration(&self, code: &str) -> bool {
        self.pending.contains(code)
    }
}

fn event() -> EventDefinition {
    EventDefinition::from_toml(EXAMPLE).unwrap()
}

fn at(d: u32, hhmm: &str) -> NaiveDateTime {
    day(d).and_time(time(hhmm))
}

fn entry(zone: &str) -> GateContext<'_> {
    GateContext { zone, direction: Direction::In }
}

/// The holder's situation when they scan: their passage state, and whether a desk revoked
/// their badge.
#[derive(Clone, Copy, Debug)]
struct Situation {
    state: AttendeeState,
    revoked: bool,
}

/// What the example event's text says should happen to `holder`'s genuine badge.
fn oracle(
    rule: &Rule,
    zone: (&str, Passback),
    d: u32,
    hhmm: &str,
    situation: Situation,
    direction: Direction,
    holder: Holder,
) -> Decision {
    // The signature holds whatever the outcome, so every decision names the holder:
    // security wants to know who tried a revoked badge, or came outside their hours.
    let decision = |reason| Decision { reason, holder: Some(holder) };
    let (_, zones, days, from, to, max) = *rule;
    let state = situation.state;
    if situation.revoked {
        return decision(Reason::Revoked);
    }
    if d < 24 {
        return decision(Reason::NotYetValid);
    }
    if d > 27 {
        return decision(Reason::Expired);
    }
    if direction == Direction::Out {
        return decision(if zone.1 != Passback::Off && !state.inside {
            Reason::ExitWithoutEntry
        } else {
            Reason::Granted
        });
    }
    if !zones.contains(&zone.0) {
        return decision(Reason::ZoneNotAllowed);
    }
    if !days.is_empty() && !days.contains(&d) {
        return decision(Reason::WrongDay);
    }
    if !(time(from) <= time(hhmm) && time(hhmm) < time(to)) {
        return decision(Reason::OutsideHours);
    }
    if state.inside && zone.1 == Passback::Hard {
        return decision(Reason::Passback);
    }
    if max.is_some_and(|max| state.entries_today >= max) {
        return decision(Reason::MaxEntries);
    }
    decision(if state.inside && zone.1 == Passback::Soft {
        Reason::PassbackFlagged
    } else {
        Reason::Granted
    })
}

#[test]
fn rules_matrix_category_zone_day_hour_passback() {
    let event = event();
    let mut world = World::new();
    let situation = |inside, entries_today, revoked| Situation {
        state: AttendeeState { inside, entries_today },
        revoked,
    };
    let situations = [
        situation(false, 0, false),
        situation(true, 1, false),
        situation(false, 3, false),
        situation(true, 10, false),
        situation(true, 1, true),
    ];
    let mut checked = 0;
    let mut seen = HashSet::new();
    for rule in &RULES {
        let (code, category) = event.category(rule.0).unwrap();
        assert_eq!(category.max_entries_per_day, rule.5, "{} max entries", rule.0);
        for situation in situations {
            let claims = world.claims(code);
            let token = sign(&claims, &world.key);
            let holder =
                Holder { attendee: claims.attendee, serial: claims.serial, category_code: code };
            world.states.insert(claims.attendee, situation.state);
            if situation.revoked {
                world.revoked.insert((claims.attendee, claims.serial));
            }
            for zone in ZONES {
                assert_eq!(event.zone(zone.0).unwrap().passback, zone.1);
                for d in DAYS {
                    for hhmm in HOURS {
                        for direction in [Direction::In, Direction::Out] {
                            let gate = GateContext { zone: zone.0, direction };
                            let decision = decide(&token, gate, at(d, hhmm), &event, &world);
                            let expected =
                                oracle(rule, zone, d, hhmm, situation, direction, holder);
                            assert_eq!(
                                decision, expected,
                                "{} {:?} at {} {d} {hhmm} {direction:?}",
                                rule.0, situation, zone.0
                            );
                            assert_eq!(decision.granted(), expected.reason.grants());
                            seen.insert(expected.reason);
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 7 * 5 * 4 * 6 * 22 * 2);
    // The matrix reaches every rule outcome, so none of them is untested.
    for reason in [
        Reason::Granted,
        Reason::PassbackFlagged,
        Reason::ExitWithoutEntry,
        Reason::Revoked,
        Reason::NotYetValid,
        Reason::Expired,
        Reason::ZoneNotAllowed,
        Reason::WrongDay,
        Reason::OutsideHours,
        Reason::Passback,
        Reason::MaxEntries,
    ] {
        assert!(seen.contains(&reason), "{reason:?} never expected");
    }
}

#[test]
fn exhibitors_enter_early_and_the_public_in_public_hours_only() {
    let event = event();
    let world = World::new();
    let exhibitor = world.badge(event.category("exhibitor").unwrap().0).1;
    let public = world.badge(event.category("public_visitor").unwrap().0).1;
    let hall = entry("hall-1");
    assert_eq!(decide(&exhibitor, hall, at(26, "07:30"), &event, &world).reason, Reason::Granted);
    assert_eq!(decide(&public, hall, at(26, "07:30"), &event, &world).reason, Reason::OutsideHours);
    assert_eq!(decide(&public, hall, at(26, "10:00"), &event, &world).reason, Reason::Granted);
    assert_eq!(decide(&public, hall, at(25, "10:00"), &event, &world).reason, Reason::WrongDay);
}

#[test]
fn a_badge_that_is_not_genuine_is_denied_with_its_reason_and_no_holder() {
    let event = event();
    let world = World::new();
    let hall = entry("forum-a");
    let noon = at(25, "12:00");
    let staff = event.category("staff").unwrap().0;

    let stranger = SigningKey::generate(&mut OsRng);
    let forged = sign(&world.claims(staff), &stranger);
    let other_event = sign(
        &BadgeClaims { event_tag: event_tag("other-fair"), ..world.claims(staff) },
        &world.key,
    );
    let mut tampered = world.badge(staff).1.into_bytes();
    tampered[100] = if tampered[100] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    for (text, reason) in [
        (forged.as_str(), Reason::UnknownKey),
        (other_event.as_str(), Reason::OtherEvent),
        (tampered.as_str(), Reason::BadSignature),
        ("", Reason::Malformed),
        ("R0000123", Reason::Malformed),
        ("\u{0}\u{1b}[2J", Reason::Malformed),
    ] {
        let decision = decide(text, hall, noon, &event, &world);
        assert_eq!(decision, Decision { reason, holder: None }, "{text:.20}");
        assert!(!decision.granted());
    }
    assert_eq!(world.state_lookups.get(), 0, "state is read only for genuine badges");
}

#[test]
fn a_revoked_badge_is_denied_naming_its_holder_and_serial_without_reading_their_state() {
    let event = event();
    let mut world = World::new();
    let staff = event.category("staff").unwrap().0;
    // A reprint revoked: serial 2 of the holder is on the revocation list.
    let claims = BadgeClaims { serial: 2, ..world.claims(staff) };
    let revoked = sign(&claims, &world.key);
    world.revoked.insert((claims.attendee, 2));
    for direction in [Direction::In, Direction::Out] {
        let gate = GateContext { zone: "forum-a", direction };
        let decision = decide(&revoked, gate, at(25, "12:00"), &event, &world);
        let holder = Holder { attendee: claims.attendee, serial: 2, category_code: staff };
        assert_eq!(decision, Decision { reason: Reason::Revoked, holder: Some(holder) });
    }
    assert_eq!(world.state_lookups.get(), 0, "a revoked badge needs no passage state");
}

#[test]
fn a_pending_pre_registration_code_is_sent_to_the_desk() {
    let event = event();
    let mut world = World::new();
    world.pending.insert("R0000123".into());
    for direction in [Direction::In, Direction::Out] {
        let gate = GateContext { zone: "hall-1", direction };
        let decision = decide(" R0000123\r\n", gate, at(25, "12:00"), &event, &world);
        assert_eq!(decision.reason, Reason::CollectBadgeAtDesk);
        assert_eq!(decision.reason.label().1, "请到服务台领取证件");
    }
    // A code whose holder already has a badge is not a pass.
    assert_eq!(
        decide("R0000124", entry("hall-1"), at(25, "12:00"), &event, &world).reason,
        Reason::Malformed
    );
}

#[test]
fn unknown_category_and_unreadable_state_fail_closed() {
    let event = event();
    let mut world = World::new();
    let (_, unknown) = world.badge(200);
    let decision = decide(&unknown, entry("hall-1"), at(25, "12:00"), &event, &world);
    assert_eq!(decision.reason, Reason::UnknownCategory);
    assert!(decision.holder.is_some());

    world.state_fails = true;
    let (_, staff) = world.badge(event.category("staff").unwrap().0);
    for direction in [Direction::In, Direction::Out] {
        let gate = GateContext { zone: "forum-a", direction };
        let decision = decide(&staff, gate, at(25, "12:00"), &event, &world);
        assert_eq!(decision.reason, Reason::StateUnavailable);
    }
}

#[test]
fn reasons_serialise_as_their_log_names() {
    for reason in [Reason::CollectBadgeAtDesk, Reason::PassbackFlagged, Reason::BadSignature] {
        let json = serde_json::to_value(reason).unwrap();
        assert_eq!(json, reason.as_str());
    }
    assert_eq!(serde_json::to_value(Direction::Out).unwrap(), "out");
}

proptest! {
    #[test]
    fn random_text_is_never_granted(text in "\\PC{0,300}") {
        let event = event();
        let world = World::new();
        let decision = decide(&text, entry("hall-1"), at(25, "12:00"), &event, &world);
        prop_assert!(!decision.granted());
    }
}
