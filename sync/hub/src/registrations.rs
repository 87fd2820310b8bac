//! Registrations into the data centre: the organiser's CSV (`expo-hub import attendees`)
//! and the integration API (`PUT /v1/registrations`).
//!
//! Both follow the station import's rules, by calling them
//! ([`expo_kiosk::registration::import`]): the same columns, encodings, validation, line
//! numbers, in-file duplicates and identity conflicts, and the same attendee id, derived
//! from (event, registration code), so stations that imported the file before agree with
//! the hub. What they create or change is stored as changes of the hub ([`HubOrigin`]),
//! which stations pull like any other.
//!
//! ID numbers: the organiser gives the hub the desks' event bundle (`expo-hub event
//! import`), which carries the event definition and the event data key. The hub keeps
//! both in its database and seals and hashes an ID number as soon as its row is
//! validated, so a clear number lives only in memory while its row is checked; the
//! database, the logs and the exports see the masked form, the keyed hash and the sealed
//! bytes, as at a desk.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use expo_kiosk::domain::{EventDefinition, FieldProblem, NewAttendee};
use expo_kiosk::privacy::DataKey;
use expo_kiosk::provisioning::Bundle;
use expo_kiosk::registration::import::{
    self, Checked, GoodRow, ImportOptions, ImportReport, Resolution, RowError, RowRules, Tally,
};
use expo_kiosk::registration::{today_at_venue, RegistrationError};
use expo_sync::hlc::Hlc;
use expo_sync::protocol::{AttendeeRecord, Change, Record};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::api_keys::{require_scope, Scope, COMMAND_LINE_ACTOR};
use crate::conflicts::{ConflictKind, NewConflict};
use crate::origin::HubOrigin;
use crate::server::{ApiError, Hub};
use crate::store::{HubStore, StoreError};
use expo_sync::endorsement::HUB_ORIGIN;

/// Most registrations one `PUT /v1/registrations` may carry; the body is also bounded by
/// the hub's `--body-limit-mib`.
pub const MAX_BATCH: usize = 1000;

/// Stored attendees looked up in one round trip while an import resolves its rows.
const LOOKUP_CHUNK: usize = 1000;
/// Changes stored per transaction.
const STORE_CHUNK: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum RegistrationsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this hub has no event yet: give it the desks' event bundle first (`expo-kiosk event export --with-data-key`, then `expo-hub event import BUNDLE`)")]
    NoEvent,
    #[error("the bundle carries no event data key: export it with `expo-kiosk event export --with-data-key`")]
    NoDataKey,
    #[error("this hub serves event {existing:?}; the bundle is for {offered:?}")]
    OtherEvent { existing: String, offered: String },
    #[error("the bundle's data key is not the one this hub holds for event {0:?}: ID numbers would no longer match; use the event's own bundle")]
    OtherDataKey(String),
    #[error("not a usable event bundle: {0}")]
    BadBundle(String),
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    #[error("the registration check stopped: {0}")]
    Worker(String),
}

/// The event the hub checks registrations against, and its data key: what
/// `expo-hub event import` keeps from a desk's bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct DataCentreEvent {
    pub event_id: String,
    /// The definition as TOML text, as the bundle carries it.
    pub definition: String,
    /// Hex of the event data key.
    pub data_key: String,
}

impl std::fmt::Debug for DataCentreEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataCentreEvent")
            .field("event_id", &self.event_id)
            .field("data_key", &"<secret>")
            .finish_non_exhaustive()
    }
}

/// `expo-hub event import BUNDLE`: keeps the bundle's event and data key. Importing the
/// same event's bundle again refreshes the definition; another event, or the same event
/// with another data key, is refused.
pub async fn import_event<S: HubStore>(
    store: &S,
    bundle: &Bundle,
) -> Result<DataCentreEvent, RegistrationsError> {
    let definition = EventDefinition::from_toml(&bundle.definition)
        .map_err(|e| RegistrationsError::BadBundle(e.to_string()))?;
    if definition.event.id != bundle.event_id {
        return Err(RegistrationsError::BadBundle("event id and definition disagree".into()));
    }
    let data_key = bundle.data_key.clone().ok_or(RegistrationsError::NoDataKey)?;
    data_key_of(&data_key)?;
    if let Some(held) = store.data_centre_event().await? {
        if held.event_id != bundle.event_id {
            return Err(RegistrationsError::OtherEvent {
                existing: held.event_id,
                offered: bundle.event_id.clone(),
            });
        }
        if !held.data_key.eq_ignore_ascii_case(&data_key) {
            return Err(RegistrationsError::OtherDataKey(held.event_id));
        }
    }
    let event = DataCentreEvent {
        event_id: bundle.event_id.clone(),
        definition: bundle.definition.clone(),
        data_key,
    };
    store.put_data_centre_event(event.clone()).await?;
    tracing::info!(event = event.event_id, "event imported for registrations");
    Ok(event)
}

fn data_key_of(hex_key: &str) -> Result<DataKey, RegistrationsError> {
    let bytes = hex::decode(hex_key)
        .map_err(|_| RegistrationsError::BadBundle("the data key is not hex".into()))?;
    DataKey::from_bytes(&bytes).map_err(|e| RegistrationsError::BadBundle(e.to_string()))
}

/// The rules registrations are checked by now: the event's newest definition (an admin
/// station's edit, once one reached the hub; else the imported bundle's) and its data key.
async fn rules<S: HubStore>(store: &S) -> Result<RowRules, RegistrationsError> {
    let event = store.data_centre_event().await?.ok_or(RegistrationsError::NoEvent)?;
    let synced =
        store.current_page("event", "", 64).await?.into_iter().find_map(
            |(_, record)| match record {
                Record::Event(synced) if synced.event_id == event.event_id => {
                    Some(synced.definition)
                }
                _ => None,
            },
        );
    let text = synced.unwrap_or(event.definition);
    let definition = EventDefinition::from_toml(&text)
        .map_err(|e| StoreError::Corrupt(format!("the event definition the hub holds: {e}")))?;
    Ok(RowRules {
        today: today_at_venue(&definition),
        definition,
        data_key: Some(data_key_of(&event.data_key)?),
        scope: Vec::new(),
    })
}

/// `expo-hub import attendees FILE.csv`: the station import's rules, all or nothing
/// unless `skip_invalid`. A dry run counts what would be created, updated and unchanged,
/// and writes nothing.
pub async fn import_csv<S: HubStore>(
    store: &S,
    origin: &HubOrigin,
    bytes: Vec<u8>,
    options: ImportOptions,
) -> Result<ImportReport, RegistrationsError> {
    let rules = rules(store).await?;
    // Decoding and checking (sealing included) is CPU work on the checker's threads.
    let (mut report, checked) = tokio::task::spawn_blocking(move || {
        import::check_csv(&bytes, rules, |report, checked| {
            let mut tally = Tally::default();
            let mut good = Vec::new();
            for batch in checked {
                for row in batch? {
                    good.extend(tally.count(row, report));
                }
            }
            Ok::<_, RegistrationError>((tally, good))
        })
    })
    .await
    .map_err(|e| RegistrationsError::Worker(e.to_string()))??;
    let (mut tally, rows) = checked?;
    let resolved = resolve(store, origin, rows, &mut tally, &mut report, "import").await?;
    report.invalid_rows = tally.invalid_rows();
    if report.invalid_rows > 0 && !options.skip_invalid {
        return Ok(report);
    }
    for (_, _, outcome) in &resolved.outcomes {
        match outcome {
            Outcome::Created => report.created += 1,
            Outcome::Updated => report.updated += 1,
            Outcome::Unchanged => report.unchanged += 1,
            Outcome::Conflict { .. } => {}
        }
    }
    if !options.dry_run {
        let counts = json!({
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped_invalid": report.invalid_rows,
        });
        store_changes(store, origin, resolved.changes, COMMAND_LINE_ACTOR, "import", counts)
            .await?;
        store.record_conflicts(resolved.conflicts).await?;
        report.committed = true;
    }
    tracing::info!(
        rows = report.rows,
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        invalid = report.invalid_rows,
        committed = report.committed,
        "attendees imported"
    );
    Ok(report)
}

/// One registration of `PUT /v1/registrations`: the CSV's English column names as keys.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationInput {
    #[serde(default)]
    pub registration_code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub id_type: String,
    #[serde(default)]
    pub id_number: String,
    /// As in a CSV without the column, a registration that does not say consented.
    #[serde(default)]
    pub consent: Option<bool>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Optional, as the CSV's `chinese_name` column.
    #[serde(default)]
    pub chinese_name: String,
}

impl From<RegistrationInput> for NewAttendee {
    fn from(input: RegistrationInput) -> Self {
        NewAttendee {
            registration_code: input.registration_code,
            name: input.name,
            company: input.company,
            title: input.title,
            category: input.category,
            phone: input.phone,
            email: input.email,
            country: input.country,
            id_type: input.id_type,
            id_number: input.id_number,
            consent: input.consent.unwrap_or(true),
            tags: input.tags,
            chinese_name: input.chinese_name,
        }
    }
}

/// The body of `PUT /v1/registrations`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationBatch {
    pub registrations: Vec<RegistrationInput>,
}

/// What became of one registration of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationResult {
    /// Its position in the batch, from 0.
    pub index: usize,
    pub registration_code: String,
    /// `created`, `updated`, `unchanged`, `invalid` or `conflict`.
    pub result: String,
    /// The attendee it is (not for an invalid one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendee_id: Option<Uuid>,
    /// For `invalid` and `conflict`: the first field at fault and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `invalid`: every problem of the registration (ID numbers masked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RowError>,
}

/// The answer to `PUT /v1/registrations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationsResponse {
    pub results: Vec<RegistrationResult>,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub invalid: u64,
    pub conflict: u64,
}

/// `PUT /v1/registrations`: upserts each registration by its code, idempotently. A bad or
/// conflicting registration is answered as such and the others are stored.
pub async fn put_registrations<S: HubStore>(
    store: &S,
    origin: &HubOrigin,
    actor: &str,
    batch: RegistrationBatch,
) -> Result<RegistrationsResponse, RegistrationsError> {
    let rules = rules(store).await?;
    let codes: Vec<String> =
        batch.registrations.iter().map(|r| r.registration_code.trim().to_owned()).collect();
    let inputs: Vec<NewAttendee> = batch.registrations.into_iter().map(Into::into).collect();
    let checked = tokio::task::spawn_blocking(move || import::check_inputs(&inputs, rules))
        .await
        .map_err(|e| RegistrationsError::Worker(e.to_string()))??;
    let mut report = ImportReport::default();
    let mut tally = Tally::default();
    let mut results: Vec<RegistrationResult> = codes
        .into_iter()
        .enumerate()
        .map(|(index, registration_code)| RegistrationResult {
            index,
            registration_code,
            result: String::new(),
            attendee_id: None,
            field: None,
            reason: None,
            errors: Vec::new(),
        })
        .collect();
    let mut rows = Vec::new();
    for row in checked {
        let Checked::Good(good) = row else {
            if let Checked::Bad { line, errors } = row {
                invalid(&mut results, line, errors);
            }
            continue;
        };
        if good.record.registration_code.is_none() {
            let problem = FieldProblem::RequiredForUpsert;
            let error = RowError {
                line: good.line,
                field: "registration_code".into(),
                value: String::new(),
                reason: problem.to_string(),
                problem,
            };
            invalid(&mut results, good.line, vec![error]);
            continue;
        }
        rows.extend(tally.count(Checked::Good(good), &mut report));
    }
    let resolved = resolve(store, origin, rows, &mut tally, &mut report, "api").await?;
    let changes = resolved.changes;
    store.record_conflicts(resolved.conflicts).await?;
    let mut conflicts = report.conflicts.iter();
    let mut response = RegistrationsResponse {
        results: Vec::new(),
        created: 0,
        updated: 0,
        unchanged: 0,
        invalid: 0,
        conflict: 0,
    };
    for (line, attendee, outcome) in resolved.outcomes {
        let Some(result) = usize::try_from(line).ok().and_then(|i| results.get_mut(i)) else {
            continue;
        };
        result.attendee_id = Some(attendee);
        result.result = match outcome {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Conflict { found_by } => {
                // Reported in the order their rows came, as the outcomes are.
                result.field = Some(found_by.into());
                result.reason = conflicts.next().map(|conflict| {
                    format!(
                        "another person ({}) holds this {found_by}; not applied",
                        conflict.stored.name
                    )
                });
                "conflict"
            }
        }
        .into();
    }
    for result in &results {
        match result.result.as_str() {
            "created" => response.created += 1,
            "updated" => response.updated += 1,
            "unchanged" => response.unchanged += 1,
            "conflict" => response.conflict += 1,
            _ => response.invalid += 1,
        }
    }
    response.results = results;
    let counts = json!({
        "created": response.created,
        "updated": response.updated,
        "unchanged": response.unchanged,
        "invalid": response.invalid,
        "conflict": response.conflict,
    });
    store_changes(store, origin, changes, actor, "registrations", counts).await?;
    tracing::info!(
        registrations = response.results.len(),
        created = response.created,
        updated = response.updated,
        unchanged = response.unchanged,
        invalid = response.invalid,
        "registrations received"
    );
    Ok(response)
}

/// `PUT /v1/registrations` (scope `registrations:write`). A body that is not a batch (not
/// JSON, an unknown field, more than [`MAX_BATCH`] registrations, over the body limit) is
/// refused whole with a JSON error and stores nothing.
pub(crate) async fn route<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = require_scope(hub.store.as_ref(), &headers, Scope::RegistrationsWrite).await?;
    let body = body?;
    let batch: RegistrationBatch = serde_json::from_slice(&body).map_err(|error| {
        let code = if error.to_string().starts_with("unknown field") {
            "unknown_field"
        } else {
            "malformed_json"
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, error.to_string())
    })?;
    if batch.registrations.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} registrations in one batch; at most {MAX_BATCH}",
                batch.registrations.len()
            ),
        ));
    }
    let response = put_registrations(hub.store.as_ref(), &hub.origin, &caller.actor(), batch)
        .await
        .map_err(|error| match error {
            RegistrationsError::Store(error) => ApiError::from(error),
            RegistrationsError::NoEvent => {
                ApiError::new(StatusCode::CONFLICT, "no_event", error.to_string())
            }
            other => {
                tracing::error!(error = %other, "registrations failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the hub could not take the registrations; retry later",
                )
            }
        })?;
    if response.created + response.updated > 0 {
        hub.changes.stored();
    }
    tracing::info!(key = caller.name, "registrations batch");
    Ok(Json(response).into_response())
}

/// Marks the registration at `index` invalid with its problems.
fn invalid(results: &mut [RegistrationResult], index: u64, errors: Vec<RowError>) {
    let Some(result) = usize::try_from(index).ok().and_then(|i| results.get_mut(i)) else {
        return;
    };
    result.result = "invalid".into();
    result.field = errors.first().map(|e| e.field.clone());
    result.reason = errors.first().map(|e| e.reason.clone());
    result.errors = errors;
}

/// What a good row did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// Not applied: it names another person (reported in the import report), whom its
    /// `registration_code` or its `id_number` found.
    Conflict {
        found_by: &'static str,
    },
}

/// Rows resolved against the hub's current state: per row (line, attendee, outcome), and
/// one change per attendee created or updated.
struct Resolved {
    outcomes: Vec<(u64, Uuid, Outcome)>,
    changes: Vec<Change>,
    /// The identity conflicts, for the organiser's list (`crate::conflicts`).
    conflicts: Vec<NewConflict>,
}

/// The attendees an import has created or changed so far, with the HLC of the version
/// each supersedes: a later row of the same person finds them here first.
#[derive(Default)]
struct Pending {
    by_id: HashMap<Uuid, (Option<Hlc>, AttendeeRecord)>,
    by_hash: HashMap<String, Uuid>,
    order: Vec<Uuid>,
}

impl Pending {
    fn put(&mut self, supersedes: Option<Hlc>, record: AttendeeRecord) {
        if let Some(hash) = &record.id_hash {
            self.by_hash.insert(hash.clone(), record.id);
        }
        match self.by_id.get_mut(&record.id) {
            // One change per attendee, ordered after what the hub held before the import.
            Some((_, held)) => *held = record,
            None => {
                self.order.push(record.id);
                self.by_id.insert(record.id, (supersedes, record));
            }
        }
    }

    /// The attendee `record` describes, as the station import finds them: by registration
    /// code (the id derived from it), else by ID number; a version this import made comes
    /// before the hub's. With the HLC of the hub's version, which a change supersedes.
    fn current(
        &self,
        stored: &Stored,
        record: &AttendeeRecord,
    ) -> Option<(Option<Hlc>, AttendeeRecord)> {
        let version_of = |id: &Uuid| match self.by_id.get(id) {
            Some((_, held)) => Some((None, held.clone())),
            None => stored.by_id.get(id).map(|(hlc, held)| (Some(hlc.clone()), held.clone())),
        };
        let by_hash = || {
            let hash = record.id_hash.as_ref()?;
            self.by_hash.get(hash).or_else(|| stored.by_hash.get(hash))
        };
        version_of(&record.id).or_else(|| by_hash().and_then(version_of))
    }

    fn changes(mut self, origin: &HubOrigin) -> Vec<Change> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.remove(id))
            .map(|(supersedes, record)| {
                origin.change(Record::Attendee(record), supersedes.as_ref())
            })
            .collect()
    }
}

/// The attendees the hub holds now under some ids or ID hashes.
struct Stored {
    by_id: HashMap<Uuid, (Hlc, AttendeeRecord)>,
    by_hash: HashMap<String, Uuid>,
}

impl Stored {
    async fn of<S: HubStore>(store: &S, rows: &[GoodRow]) -> Result<Self, StoreError> {
        let ids = rows.iter().map(|row| row.record.id).collect();
        let hashes = rows.iter().filter_map(|row| row.record.id_hash.clone()).collect();
        let mut stored = Self { by_id: HashMap::new(), by_hash: HashMap::new() };
        for (hlc, record) in store.current_attendees(ids, hashes).await? {
            if let Some(hash) = &record.id_hash {
                stored.by_hash.insert(hash.clone(), record.id);
            }
            stored.by_id.insert(record.id, (hlc, record));
        }
        Ok(stored)
    }
}

/// Decides each good row against the attendee its registration code (its id) or else its
/// ID number finds, among the rows before it and the hub's current state, by the station
/// import's rule ([`Tally::resolve`]).
async fn resolve<S: HubStore>(
    store: &S,
    origin: &HubOrigin,
    rows: Vec<GoodRow>,
    tally: &mut Tally,
    report: &mut ImportReport,
    source: &str,
) -> Result<Resolved, StoreError> {
    let mut pending = Pending::default();
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut conflicts = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<GoodRow> = rows.by_ref().take(LOOKUP_CHUNK).collect();
        let stored = Stored::of(store, &chunk).await?;
        for GoodRow { line, record, .. } in chunk {
            let (supersedes, current) = match pending.current(&stored, &record) {
                Some((supersedes, current)) => (supersedes, Some(current)),
                None => (None, None),
            };
            let attendee = current.as_ref().map_or(record.id, |held| held.id);
            let found_by = if attendee == record.id { "registration_code" } else { "id_number" };
            let (row_id, row_hash) = (record.id, record.id_hash.clone());
            // The stored version's station; one this import made earlier is the hub's.
            let stored_by = supersedes.as_ref().map_or(HUB_ORIGIN, |hlc| hlc.station.as_str());
            let stored_by = stored_by.to_owned();
            let outcome = match tally.resolve(line, record, current, report) {
                None => {
                    if let Some(found) = report.conflicts.last() {
                        conflicts.push(NewConflict {
                            kind: ConflictKind::Identity,
                            id_hash: row_hash,
                            attendee_a: attendee,
                            station_a: stored_by,
                            attendee_b: row_id,
                            station_b: format!("{HUB_ORIGIN}:{source}"),
                            detail: serde_json::json!({
                                "found_by": found_by, "line": found.line,
                                "in_file": found.in_file, "stored": found.stored,
                            }),
                        });
                    }
                    Outcome::Conflict { found_by }
                }
                Some(Resolution::Create(record)) => {
                    pending.put(None, record);
                    Outcome::Created
                }
                Some(Resolution::Update { record, .. }) => {
                    pending.put(supersedes, record);
                    Outcome::Updated
                }
                Some(Resolution::Unchanged(_)) => Outcome::Unchanged,
            };
            outcomes.push((line, attendee, outcome));
        }
    }
    Ok(Resolved { outcomes, changes: pending.changes(origin), conflicts })
}

/// Stores the changes of an import or a batch, a transaction per chunk, with the audit
/// entry `action` of `actor` (the counts) in the last one. A re-run after a failure half
/// way finds the stored part unchanged and stores the rest. Stores nothing, not even the
/// audit entry, when nothing changed: a replayed batch adds no change.
async fn store_changes<S: HubStore>(
    store: &S,
    origin: &HubOrigin,
    mut changes: Vec<Change>,
    actor: &str,
    action: &str,
    counts: serde_json::Value,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    changes.push(origin.audit(actor, action, None, counts));
    for chunk in changes.chunks(STORE_CHUNK) {
        HubOrigin::store(store, chunk).await?;
    }
    Ok(())
}
