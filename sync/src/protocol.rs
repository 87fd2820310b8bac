//! Wire types shared by stations and the hub (JSON over HTTP).
//!
//! A station's every state change becomes one [`Change`] in its outbox. A change is
//! identified by a UUIDv7 that the station assigns once, so pushing it twice is a no-op
//! at the hub. The payload is a typed [`Record`]: the hub reads records to export them
//! to the organiser's CRM and to spot duplicate walk-ins, and stations apply the records
//! they pull.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::authority::StationRole;
use crate::hlc::Hlc;

/// Version of the JSON protocol. A hub answers 400 to a request of another major version.
///
/// 2: the hub binds roles and station ids and stamps each change with its pusher's role,
/// and hands out `signing_key` records. A version-1 station would stop at the first of
/// those and would trust keys from event records without an endorsement, so a hub of
/// version 2 refuses it with a clear error instead: upgrade every station with the hub.
pub const PROTOCOL_VERSION: u32 = 2;

/// One state change made at one station.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Globally unique; assigned once at the origin station (UUIDv7).
    pub id: Uuid,
    /// Station that made the change.
    pub station: String,
    /// Hybrid logical timestamp at the origin: orders edits of one record.
    pub hlc: Hlc,
    pub record: Record,
    /// The role of the station that pushed it, stamped by the hub when it stores the
    /// change (whatever a station sends here is overwritten). Stations check pulled
    /// changes against it ([`crate::authority::may_make`]); `None` on a change the hub
    /// stored before it knew roles, or not yet pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_by: Option<StationRole>,
}

impl Change {
    /// The change as its station made it: without the hub's stamp. Two pushes of one
    /// change id are the same change when these are equal.
    pub fn as_made(&self) -> Change {
        Change { pushed_by: None, ..self.clone() }
    }
}

/// What changed. Each variant is a whole record (state-based), never a diff, so applying
/// one is idempotent and last-writer-wins needs no history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
// Records are built and matched by value in both crates and live briefly; boxing the
// attendee variant would complicate every use to save a few hundred bytes per change.
#[allow(clippy::large_enum_variant)]
pub enum Record {
    Attendee(AttendeeRecord),
    Badge(BadgeRecord),
    GateDecision(GateDecisionRecord),
    PrintJob(PrintJobRecord),
    Audit(AuditRecord),
    Event(EventRecord),
    /// Made by the hub only: a station's badge-signing key endorsed (or revoked) by the
    /// organiser authority (see [`crate::endorsement`]).
    SigningKey(SigningKeyRecord),
}

impl Record {
    /// The key of the entity this record is a version of: two changes with the same
    /// entity key are versions of one thing, and the higher HLC wins. Always
    /// `"{kind}:..."`, so the keys of one kind form one range in key order (the hub
    /// pages its current state by kind that way).
    pub fn entity_key(&self) -> String {
        let kind = self.kind();
        match self {
            Record::Attendee(a) => format!("{kind}:{}", a.id),
            Record::Badge(b) => format!("{kind}:{}:{}", b.attendee_id, b.serial),
            Record::GateDecision(g) => format!("{kind}:{}", g.id),
            Record::PrintJob(p) => format!("{kind}:{}", p.id),
            Record::Audit(a) => format!("{kind}:{}", a.id),
            Record::Event(e) => format!("{kind}:{}", e.event_id),
            Record::SigningKey(k) => format!("{kind}:{}:{:08x}", k.station, k.key_id),
        }
    }

    /// A badge revocation ([`BadgeRecord::is_revocation`]).
    pub fn is_badge_revocation(&self) -> bool {
        matches!(self, Record::Badge(badge) if badge.is_revocation())
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Record::Attendee(_) => "attendee",
            Record::Badge(_) => "badge",
            Record::GateDecision(_) => "gate_decision",
            Record::PrintJob(_) => "print_job",
            Record::Audit(_) => "audit",
            Record::Event(_) => "event",
            Record::SigningKey(_) => "signing_key",
        }
    }
}

/// An attendee as it crosses the network. The ID document number travels sealed
/// (encrypted with the event's data key) and as a keyed hash for duplicate detection;
/// the hub can match duplicates without ever seeing the number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttendeeRecord {
    pub id: Uuid,
    pub registration_code: Option<String>,
    pub name: String,
    pub company: String,
    pub title: String,
    pub phone: String,
    pub email: String,
    pub country: String,
    pub category: String,
    /// `pre_registered`, `walk_in` or `self_service`.
    pub source: String,
    pub id_type: Option<String>,
    /// Masked for display, e.g. `3101**********128X`.
    pub id_masked: Option<String>,
    /// Hex keyed hash (HMAC-SHA-256 under the event key) of the normalised number.
    pub id_hash: Option<String>,
    /// Base64 of nonce || ciphertext under the event's data key.
    pub id_sealed: Option<String>,
    pub consent: bool,
    pub tags: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
    /// Set when the organiser merged this attendee, a duplicate, into the attendee named
    /// here (`expo-hub conflicts merge`): stations no longer find this one by search or
    /// code, and refuse its badges at gates. A merge is final: a later version without
    /// it does not undo it at a station. Absent on the wire when not merged, so records
    /// of stations and hubs from before merges read and write the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Uuid>,
    /// The holder's Chinese name when `name` is another (the English name of a foreign
    /// permanent residence card, which matches their passport, beside the card's 史密斯).
    /// Absent on the wire when empty, so records from before it read and write the same.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chinese_name: String,
}

/// One badge serial of one attendee. A reprint issues serial n+1 and supersedes n.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BadgeRecord {
    pub attendee_id: Uuid,
    pub serial: u32,
    /// `active`, `superseded` or `revoked`. Revocation wins over every other state.
    pub status: String,
    pub reason: Option<String>,
    pub issued_at: String,
    pub changed_at: String,
    pub operator: String,
}

impl BadgeRecord {
    /// A revocation: it wins over every other state of its serial whatever the order, so
    /// a station may apply it ahead of the changes before it
    /// ([`crate::station::StationOutbox::apply_ahead`]).
    pub fn is_revocation(&self) -> bool {
        self.status == "revoked"
    }
}

/// One access decision at one gate lane. Append-only: never edited, except that a
/// granted entry nobody walked through is annulled by a second record with the same id
/// and `annulled = true`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateDecisionRecord {
    pub id: Uuid,
    pub attendee_id: Option<Uuid>,
    pub badge_serial: Option<u32>,
    pub gate: String,
    pub lane: String,
    pub zone: String,
    /// `in` or `out`.
    pub direction: String,
    pub granted: bool,
    pub reason: String,
    pub at: String,
    pub annulled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrintJobRecord {
    pub id: Uuid,
    pub attendee_id: Uuid,
    pub badge_serial: u32,
    pub printer: String,
    /// `printed` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub error: Option<String>,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub attendee_id: Option<Uuid>,
    /// Free-form detail, never an ID document number.
    pub detail: serde_json::Value,
}

/// The event definition and the public keys that verify its badges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub event_id: String,
    /// The event definition as TOML text (the same format as `event init --file`).
    pub definition: String,
    pub public_keys: Vec<PublicKeyRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicKeyRecord {
    pub key_id: u32,
    pub station: String,
    /// Hex of the 32-byte Ed25519 public key.
    pub public_key: String,
}

/// A station's badge-signing key as the organiser authority endorsed it, or revoked it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// The station id (`st-…`) the key belongs to.
    pub station: String,
    pub key_id: u32,
    /// Hex of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// A revocation: badges signed by this key are refused from now on.
    pub revoked: bool,
    /// Hex of the authority's Ed25519 signature over the other fields.
    pub signature: String,
}

/// `POST /v1/keys`: a desk, kiosk or admin station asks the hub to endorse its own
/// badge-signing key; the hub answers the endorsed [`SigningKeyRecord`] and hands it to
/// every station by sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndorseRequest {
    pub protocol: u32,
    /// Hex of the station's Ed25519 public key.
    pub public_key: String,
}

/// `POST /v1/push`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    pub protocol: u32,
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    /// Every change id the hub now holds durably (new or already known).
    pub acked: Vec<Uuid>,
    /// How many of them were new to the hub.
    pub new: usize,
    /// Changes the hub did not store, with why (a rule they break, a role that may not
    /// make them, another change already holding their id). The station sets them aside
    /// and does not send them again: retrying cannot help, and nothing else waits on
    /// them. The one exception is [`RefusedChange::FROM_THE_FUTURE`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedChange>,
}

/// One change of a push the hub refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedChange {
    pub id: Uuid,
    /// `invalid`, `forbidden`, `not_this_station`, `from_the_future` or `id_reused`.
    pub code: String,
    pub reason: String,
}

impl RefusedChange {
    /// The code of a change stamped too far ahead of the hub's clock. Unlike the other
    /// refusals it is not final: the same change is admissible once the hub's clock has
    /// caught up, so the station keeps it in its outbox and sends it again later.
    pub const FROM_THE_FUTURE: &'static str = "from_the_future";

    /// Whether sending the same change again later can succeed.
    pub fn is_retryable(&self) -> bool {
        self.code == Self::FROM_THE_FUTURE
    }
}

/// `GET /v1/pull?since=CURSOR&limit=N` answers this. The cursor is opaque to stations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    pub changes: Vec<Change>,
    pub next_cursor: i64,
    /// True when more changes are waiting past `next_cursor`.
    pub more: bool,
}

/// Every non-2xx answer of the hub carries this body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// Header every client request carries; a hub refuses another protocol version with 400.
pub const PROTOCOL_HEADER: &str = "x-expo-protocol";

/// Header of a hub's answer to a request that asked to wait (`GET /v1/pull?wait=S`): how
/// many seconds the hub was prepared to hold it for new changes. 0 when the hub would not
/// wait (its waiting requests were at their bound, or it is stopping); absent from hubs
/// that never wait, which answer at once.
pub const WAIT_HEADER: &str = "x-expo-wait";

/// `POST /v1/enrol`: a station trades the one-time code printed by
/// `expo-hub station add NAME` for its own bearer credential.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub protocol: u32,
    pub code: String,
    /// The station's own id (`st-…`, the `station` of its changes and clocks): the hub
    /// binds it to the credential and refuses changes claiming any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The station name the hub knows this station by (the NAME of `station add`).
    pub station: String,
    /// Bearer token for every later request. The hub keeps only its hash: it cannot be
    /// shown again, so the station must store it.
    pub token: String,
    /// The role the hub bound to this credential (`station add --role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<StationRole>,
    /// Hex of the organiser authority's public key, which the station pins: it trusts
    /// a signing key that arrives by sync only with this authority's endorsement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// Two attendee records with different ids but the same `id_hash`: the same person
/// registered twice (typically as a walk-in at two desks while offline). The hub keeps
/// both and reports the pair for an operator to merge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateConflict {
    pub id_hash: String,
    /// The smaller of the two attendee ids, so one pair is always reported one way.
    pub attendee_a: Uuid,
    /// Station that created `attendee_a`.
    pub station_a: String,
    pub attendee_b: Uuid,
    pub station_b: String,
}

/// `GET /v1/conflicts`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictsResponse {
    pub conflicts: Vec<DuplicateConflict>,
}
