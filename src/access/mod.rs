//! Access rules: the pure decision engine for turnstile gates.
//!
//! [`decide`] answers granted or denied, with a [`Reason`], for one scanned text at one
//! gate at one venue-local time. It does no I/O and reads no clock: what the station
//! knows (trusted keys, revocations, who is inside, entries today, pending
//! pre-registrations) comes through the [`Knowledge`] trait, which the gate process
//! implements over its store and tests implement in memory.
//!
//! Order of the checks, so each refusal names its real cause:
//! 1. text that is not a badge token but a pending pre-registration code →
//!    `collect_badge_at_desk`;
//! 2. the token itself: first whether it is genuine ([`credential::authenticate`]:
//!    malformed, key, signature, event), then, naming its holder from here on, whether it
//!    may be used today ([`credential::standing`]: revocation, validity dates);
//! 3. the category the token names must exist in this event;
//! 4. entries only (exits are never refused for rules, only for a bad badge): zone, then
//!    day, then hour of the category's access windows; anti-passback; entries per day.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::credential::{self, Invalid, Trust, TOKEN_PREFIX};
use crate::domain::event::Passback;
use crate::domain::{AttendeeId, EventDefinition};

/// Which way a lane lets people through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    /// The `direction` column value of `gate_decisions`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Where the scan happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateContext<'a> {
    pub zone: &'a str,
    pub direction: Direction,
}

/// What the station knows about one attendee when they scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttendeeState {
    /// Their last counted passage at this zone was an entry.
    pub inside: bool,
    /// Counted entries (granted, not annulled) on the venue-local day, into any zone.
    pub entries_today: u32,
}

/// The station's state could not be read; the engine then fails closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("attendee state unavailable")]
pub struct StateUnavailable;

/// Everything beyond the token that a decision needs.
pub trait Knowledge: Trust {
    /// The attendee's passage state at `zone` and their entries on `day`.
    fn attendee_state(
        &self,
        attendee: AttendeeId,
        zone: &str,
        day: NaiveDate,
    ) -> Result<AttendeeState, StateUnavailable>;

    /// Whether `code` is a registration code this station knows whose holder has not yet
    /// been issued a badge.
    fn is_pending_registration(&self, code: &str) -> bool;
}

/// Why a scan was granted or denied. The snake_case names are the `reason` column of
/// `gate_decisions`, the sync record and the gate's JSON output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Granted, nothing to note.
    Granted,
    /// Granted although the holder already entered this soft-passback zone without exiting.
    PassbackFlagged,
    /// Granted exit of someone this station never saw enter a passback zone (they may have
    /// entered through another gate whose log has not arrived yet).
    ExitWithoutEntry,
    Malformed,
    UnknownKey,
    BadSignature,
    OtherEvent,
    Revoked,
    NotYetValid,
    Expired,
    /// The token names a category this event does not define.
    UnknownCategory,
    ZoneNotAllowed,
    WrongDay,
    OutsideHours,
    /// Hard anti-passback: a second entry without an exit.
    Passback,
    MaxEntries,
    /// A pre-registration QR: the holder must collect their badge at a desk first.
    CollectBadgeAtDesk,
    /// The station could not read the holder's state (fail closed).
    StateUnavailable,
    /// Set by the gate process, not by the rules: the gate is locked down.
    Lockdown,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Granted => "granted",
            Reason::PassbackFlagged => "passback_flagged",
            Reason::ExitWithoutEntry => "exit_without_entry",
            Reason::Malformed => "malformed",
            Reason::UnknownKey => "unknown_key",
            Reason::BadSignature => "bad_signature",
            Reason::OtherEvent => "other_event",
            Reason::Revoked => "revoked",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Expired => "expired",
            Reason::UnknownCategory => "unknown_category",
            Reason::ZoneNotAllowed => "zone_not_allowed",
            Reason::WrongDay => "wrong_day",
            Reason::OutsideHours => "outside_hours",
            Reason::Passback => "passback",
            Reason::MaxEntries => "max_entries",
            Reason::CollectBadgeAtDesk => "collect_badge_at_desk",
            Reason::StateUnavailable => "state_unavailable",
            Reason::Lockdown => "lockdown",
        }
    }

    /// The reason stored as `as_str` text, as read back from the decision log.
    pub fn parse(text: &str) -> Option<Reason> {
        use serde::de::IntoDeserializer;
        let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            text.into_deserializer();
        Reason::deserialize(text).ok()
    }

    /// The reasons that open the gate.
    pub const GRANTING: [Reason; 3] =
        [Reason::Granted, Reason::PassbackFlagged, Reason::ExitWithoutEntry];

    /// Whether a decision with this reason opens the gate.
    pub fn grants(self) -> bool {
        Self::GRANTING.contains(&self)
    }

    /// Short English and Chinese texts for a verdict screen.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Reason::Granted | Reason::PassbackFlagged | Reason::ExitWithoutEntry => {
                ("Welcome", "欢迎")
            }
            Reason::Malformed => ("Not a badge", "无效证件"),
            Reason::UnknownKey | Reason::BadSignature => ("Badge not genuine", "证件无法验证"),
            Reason::OtherEvent => ("Badge of another event", "非本展会证件"),
            Reason::Revoked => ("Badge revoked", "证件已作废"),
            Reason::NotYetValid => ("Badge not valid yet", "证件尚未生效"),
            Reason::Expired => ("Badge expired", "证件已过期"),
            Reason::UnknownCategory => ("Unknown category", "未知类别"),
            Reason::ZoneNotAllowed => ("No access to this area", "无权进入此区域"),
            Reason::WrongDay => ("Not valid today", "今日不可入场"),
            Reason::OutsideHours => ("Outside opening hours", "不在开放时间"),
            Reason::Passback => ("Already inside", "已在场内"),
            Reason::MaxEntries => ("Entries for today used up", "今日入场次数已满"),
            Reason::CollectBadgeAtDesk => ("Collect your badge at the desk", "请到服务台领取证件"),
            Reason::StateUnavailable => ("Please see staff", "请联系工作人员"),
            Reason::Lockdown => ("Gate closed", "通道已关闭"),
        }
    }
}

impl From<Invalid> for Reason {
    fn from(invalid: Invalid) -> Self {
        match invalid {
            Invalid::Malformed => Reason::Malformed,
            Invalid::UnknownKey => Reason::UnknownKey,
            Invalid::BadSignature => Reason::BadSignature,
            Invalid::OtherEvent => Reason::OtherEvent,
            Invalid::Revoked => Reason::Revoked,
            Invalid::NotYetValid => Reason::NotYetValid,
            Invalid::Expired => Reason::Expired,
        }
    }
}

/// Who a verified badge belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub attendee: AttendeeId,
    pub serial: u16,
    pub category_code: u8,
}

/// The engine's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub reason: Reason,
    /// Present once the token's signature verified, granted or not (a revoked or expired
    /// badge names who tried it); absent for forged, foreign and malformed texts.
    pub holder: Option<Holder>,
}

impl Decision {
    pub fn granted(&self) -> bool {
        self.reason.grants()
    }

    fn denied(reason: Reason) -> Self {
        Decision { reason, holder: None }
    }
}

/// Decides one scan of `text` at `gate` at venue-local time `at`.
pub fn decide(
    text: &str,
    gate: GateContext<'_>,
    at: NaiveDateTime,
    event: &EventDefinition,
    knowledge: &impl Knowledge,
) -> Decision {
    let code = text.trim();
    let looks_like_token =
        code.get(..TOKEN_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(TOKEN_PREFIX));
    if !looks_like_token && !code.is_empty() && knowledge.is_pending_registration(code) {
        return Decision::denied(Reason::CollectBadgeAtDesk);
    }
    let day = at.date();
    let claims = match credential::authenticate(code, knowledge) {
        Ok(claims) => claims,
        Err(invalid) => return Decision::denied(invalid.into()),
    };
    let holder = Holder {
        attendee: claims.attendee,
        serial: claims.serial,
        category_code: claims.category_code,
    };
    let verdict = |reason| Decision { reason, holder: Some(holder) };
    if let Err(invalid) = credential::standing(&claims, knowledge, day) {
        return verdict(invalid.into());
    }
    let Some(category) = event.category_by_code(claims.category_code) else {
        return verdict(Reason::UnknownCategory);
    };
    let passback = event.zone(gate.zone).map(|z| z.passback).unwrap_or_default();
    let state = match knowledge.attendee_state(claims.attendee, gate.zone, day) {
        Ok(state) => state,
        Err(StateUnavailable) => return verdict(Reason::StateUnavailable),
    };
    if gate.direction == Direction::Out {
        let unexpected = passback != Passback::Off && !state.inside;
        return verdict(if unexpected { Reason::ExitWithoutEntry } else { Reason::Granted });
    }
    let in_zone: Vec<_> = category.access.iter().filter(|w| w.covers_zone(gate.zone)).collect();
    if in_zone.is_empty() {
        return verdict(Reason::ZoneNotAllowed);
    }
    let on_day: Vec<_> = in_zone.into_iter().filter(|w| w.covers_day(day)).collect();
    if on_day.is_empty() {
        return verdict(Reason::WrongDay);
    }
    if !on_day.iter().any(|w| w.covers_time(at.time())) {
        return verdict(Reason::OutsideHours);
    }
    let mut reason = Reason::Granted;
    if state.inside {
        match passback {
            Passback::Off => {}
            Passback::Soft => reason = Reason::PassbackFlagged,
            Passback::Hard => return verdict(Reason::Passback),
        }
    }
    if category.max_entries_per_day.is_some_and(|max| state.entries_today >= max) {
        return verdict(Reason::MaxEntries);
    }
    verdict(reason)
}

#[cfg(test)]
mod tests;
