//! Registration: creating, finding, editing attendees, importing pre-registrations, and
//! the life of their badges (issue, reprint, revoke, verify).

#[cfg(test)]
mod authorization_tests;
pub mod badge;
pub mod bootstrap;
pub mod import;
pub mod lookup;
pub mod search;
mod term_batch;

use std::collections::HashSet;

use chrono::NaiveDate;
use expo_sync::protocol::AttendeeRecord;
use expo_sync::{Hlc, Record};
use rusqlite::{params, Connection, OptionalExtension, Row, ToSql};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::{Attendee, AttendeeId, FieldError, NewAttendee, Source};
use crate::operators::{authorize, Operator, Permission};
use crate::privacy::DataKey;
use crate::store::{now_rfc3339, Store, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid registration: {}", list(.0))]
    Invalid(Vec<FieldError>),
    #[error("registration code {code} already belongs to attendee {existing}")]
    DuplicateCode { code: String, existing: AttendeeId },
    #[error("this ID document is already registered to attendee {existing}")]
    DuplicateIdDocument { existing: AttendeeId },
    #[error("no attendee matches {0:?} (give an attendee id or a registration code)")]
    NotFound(String),
    #[error("this station has no event data key, so it cannot store ID numbers: import the event bundle from the event's first station")]
    NoDataKey,
    #[error("this station has no signing key: run `expo-kiosk event init` or `event import` here")]
    NoSigningKey,
    #[error("the badge of attendee {0} is revoked ({1}); it cannot be printed")]
    Revoked(AttendeeId, String),
    #[error("cannot import: {0}")]
    Import(String),
    #[error("attendee {0} has no active badge")]
    NoActiveBadge(AttendeeId),
    /// The operator's role does not allow it (revealing an ID number).
    #[error(transparent)]
    Operator(#[from] crate::operators::OperatorError),
}

fn list(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

pub type Result<T, E = RegistrationError> = std::result::Result<T, E>;

/// Today's date at the venue.
pub fn venue_today(store: &Store) -> Result<NaiveDate> {
    Ok(today_at_venue(&store.event()?.definition))
}

/// Today's date in the event's time zone: what ID documents are checked against.
pub fn today_at_venue(definition: &crate::domain::EventDefinition) -> NaiveDate {
    chrono::Utc::now().with_timezone(&definition.timezone()).date_naive()
}

/// The attendee's full ID number, for an operator whose role may see it (`RevealId`);
/// every reveal is audited (`reveal_id`, never the number). `None` when none is stored.
pub fn reveal_id_number(
    store: &mut Store,
    operator: &Operator,
    attendee: AttendeeId,
) -> Result<Option<zeroize::Zeroizing<String>>> {
    let record = load(store.conn(), attendee)?
        .ok_or_else(|| RegistrationError::NotFound(attendee.to_string()))?;
    authorize(store, operator, Permission::RevealId, Some(attendee), &[&record.category])?;
    let Some(sealed) = record.id_sealed else {
        return Ok(None);
    };
    let key = store.event()?.data_key.as_ref().ok_or(RegistrationError::NoDataKey)?;
    let corrupt = || StoreError::Corrupt(format!("the sealed ID number of attendee {attendee}"));
    let bytes = data_encoding::BASE64.decode(sealed.as_bytes()).map_err(|_| corrupt())?;
    let number = key.unseal(&bytes).map_err(|_| corrupt())?;
    store
        .write(|tx| tx.audit(&operator.name, "reveal_id", Some(attendee), serde_json::json!({})))?;
    Ok(Some(number))
}

/// Registers one attendee (desk, kiosk or script) as `operator`, who needs
/// [`Permission::Register`] and the attendee's category in scope, and returns the stored
/// record.
pub fn register(
    store: &mut Store,
    operator: &Operator,
    input: &NewAttendee,
    source: Source,
) -> Result<AttendeeRecord> {
    authorize(store, operator, Permission::Register, None, &[])?;
    let today = venue_today(store)?;
    let event = store.event()?;
    let attendee = input
        .validate_registration(&event.definition, source, today)
        .map_err(RegistrationError::Invalid)?;
    let record = to_record(&attendee, event.data_key.as_ref())?;
    authorize(store, operator, Permission::Register, None, &[&record.category])?;
    let actor = operator.name.as_str();
    store.write(|tx| {
        if let Some(existing) = conflicting_attendee(tx.sql(), &record)? {
            return Err(existing);
        }
        let hlc = tx.tick();
        upsert(tx.sql(), &record, &hlc)?;
        tx.audit(
            actor,
            "register",
            Some(attendee.id),
            json!({ "source": source.id(), "category": record.category }),
        )?;
        tx.emit(hlc, Record::Attendee(record.clone()))?;
        Ok(record)
    })
}

/// Replaces an attendee's editable fields (edit, change of category). Keeps the id,
/// source and creation time. `operator` needs [`Permission::Edit`] and both the current
/// and the new category in scope.
pub fn edit(
    store: &mut Store,
    operator: &Operator,
    id: AttendeeId,
    input: &NewAttendee,
) -> Result<AttendeeRecord> {
    let current =
        load(store.conn(), id)?.ok_or_else(|| RegistrationError::NotFound(id.to_string()))?;
    authorize(store, operator, Permission::Edit, Some(id), &[&current.category])?;
    let today = venue_today(store)?;
    let event = store.event()?;
    let source = Source::parse(&current.source).unwrap_or(Source::WalkIn);
    let mut attendee =
        input.validate(&event.definition, source, today).map_err(RegistrationError::Invalid)?;
    attendee.id = id;
    let mut record = to_record(&attendee, event.data_key.as_ref())?;
    if input.id_number.trim().is_empty() {
        // An edit that leaves the ID number out keeps the stored one.
        (record.id_type, record.id_masked, record.id_hash, record.id_sealed) = (
            current.id_type.clone(),
            current.id_masked.clone(),
            current.id_hash.clone(),
            current.id_sealed.clone(),
        );
    }
    record.created_at = current.created_at.clone();
    record.merged_into = current.merged_into;
    authorize(store, operator, Permission::Edit, Some(id), &[&record.category])?;
    let actor = operator.name.as_str();
    store.write(|tx| {
        if let Some(existing) = conflicting_attendee(tx.sql(), &record)? {
            return Err(existing);
        }
        let hlc = tx.tick();
        upsert(tx.sql(), &record, &hlc)?;
        tx.audit(actor, "edit", Some(id), json!({ "fields": changed_fields(&current, &record) }))?;
        tx.emit(hlc, Record::Attendee(record.clone()))?;
        Ok(record)
    })
}

fn changed_fields(before: &AttendeeRecord, after: &AttendeeRecord) -> Vec<&'static str> {
    let pairs: [(&'static str, bool); 10] = [
        ("name", before.name != after.name),
        ("company", before.company != after.company),
        ("title", before.title != after.title),
        ("category", before.category != after.category),
        ("phone", before.phone != after.phone),
        ("email", before.email != after.email),
        ("country", before.country != after.country),
        ("id_number", before.id_hash != after.id_hash),
        ("consent", before.consent != after.consent),
        ("tags", before.tags != after.tags),
    ];
    pairs.into_iter().filter(|(_, changed)| *changed).map(|(name, _)| name).collect()
}

/// The error for a registration that would duplicate another attendee's registration
/// code or ID document.
fn conflicting_attendee(
    conn: &Connection,
    record: &AttendeeRecord,
) -> Result<Option<RegistrationError>> {
    if let Some(code) = &record.registration_code {
        let existing: Option<String> = conn
            .query_row(
                "SELECT id FROM attendees WHERE registration_code = ?1 AND id <> ?2",
                params![code, record.id.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)?;
        if let Some(existing) = existing {
            return Ok(Some(RegistrationError::DuplicateCode {
                code: code.clone(),
                existing: parse_id(&existing)?,
            }));
        }
    }
    if let Some(hash) = &record.id_hash {
        if let Some(existing) = find_by_id_hash(conn, hash)?.filter(|a| *a != AttendeeId(record.id))
        {
            return Ok(Some(RegistrationError::DuplicateIdDocument { existing }));
        }
    }
    Ok(None)
}

pub fn find_by_id_hash(conn: &Connection, hash: &str) -> Result<Option<AttendeeId>> {
    let id: Option<String> = conn
        .query_row("SELECT id FROM attendees WHERE id_hash = ?1", [hash], |r| r.get(0))
        .optional()
        .map_err(StoreError::from)?;
    id.map(|id| parse_id(&id)).transpose()
}

/// A possible duplicate of a registration being typed at the desk.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DuplicateHint {
    pub attendee: AttendeeId,
    pub name: String,
    /// `same_id_document` or `same_phone_similar_name`.
    pub reason: &'static str,
}

/// Warnings to show before saving a walk-in: the same ID document, or the same phone with
/// a similar name (see [`similar_names`]).
pub fn duplicate_hints(store: &Store, input: &NewAttendee) -> Result<Vec<DuplicateHint>> {
    let today = venue_today(store)?;
    let event = store.event()?;
    let mut hints = Vec::new();
    if let (Some(key), Some(ty)) = (
        &event.data_key,
        crate::domain::IdType::parse(if input.id_type.trim().is_empty() {
            "resident_id"
        } else {
            &input.id_type
        }),
    ) {
        if let Ok(doc) = crate::domain::IdDocument::parse(ty, &input.id_number, today) {
            if let Some(existing) = find_by_id_hash(store.conn(), &key.lookup_hash(&doc))? {
                let name = load(store.conn(), existing)?.map(|a| a.name).unwrap_or_default();
                hints.push(DuplicateHint { attendee: existing, name, reason: "same_id_document" });
            }
        }
    }
    if let Ok(phone) = crate::domain::contact::normalize_phone(&input.phone) {
        let mut stmt = store
            .conn()
            .prepare("SELECT id, name FROM attendees WHERE phone = ?1 LIMIT 20")
            .map_err(StoreError::from)?;
        let rows = stmt
            .query_map([phone], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(StoreError::from)?;
        for row in rows {
            let (id, name) = row.map_err(StoreError::from)?;
            let similar = similar_names(&input.name, &name);
            let id = parse_id(&id)?;
            if similar && !hints.iter().any(|h| h.attendee == id) {
                hints.push(DuplicateHint { attendee: id, name, reason: "same_phone_similar_name" });
            }
        }
    }
    Ok(hints)
}

fn fold_name(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Two names that may be one person's: the same after folding case and spaces, one inside
/// the other, or Chinese names that read the same (李晓明 and 李小明, a homophone picked
/// from an input method's list).
pub fn similar_names(a: &str, b: &str) -> bool {
    let (a_folded, b_folded) = (fold_name(a), fold_name(b));
    if a_folded.is_empty() || b_folded.is_empty() {
        return false;
    }
    if a_folded.contains(&b_folded) || b_folded.contains(&a_folded) {
        return true;
    }
    matches!(
        (search::pinyin_forms(a), search::pinyin_forms(b)),
        (Some((a_read, _)), Some((b_read, _))) if a_read == b_read
    )
}

/// Finds an attendee by id or registration code; an attendee merged into another (see
/// [`AttendeeRecord::merged_into`]) is found as the one they were merged into.
pub fn resolve(conn: &Connection, text: &str) -> Result<AttendeeRecord> {
    let mut found = resolve_as_stored(conn, text)?;
    // Bounded: a chain of merges is short, and a cycle (which no hub makes) must not hang.
    for _ in 0..MAX_MERGE_HOPS {
        let Some(kept) = found.merged_into else { break };
        match load_record(conn, kept)? {
            Some(record) => found = record,
            None => break,
        }
    }
    Ok(found)
}

/// Longest chain of merges [`resolve`] follows.
const MAX_MERGE_HOPS: usize = 8;

fn resolve_as_stored(conn: &Connection, text: &str) -> Result<AttendeeRecord> {
    let text = text.trim();
    let by_id =
        Uuid::parse_str(text).ok().map(|id| load(conn, AttendeeId(id))).transpose()?.flatten();
    if let Some(record) = by_id {
        return Ok(record);
    }
    let id: Option<String> = conn
        .query_row(
            "SELECT id FROM attendees WHERE registration_code = ?1 COLLATE NOCASE",
            [text],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::from)?;
    match id {
        Some(id) => {
            load(conn, parse_id(&id)?)?.ok_or_else(|| RegistrationError::NotFound(text.to_owned()))
        }
        None => Err(RegistrationError::NotFound(text.chars().take(80).collect())),
    }
}

pub fn load(conn: &Connection, id: AttendeeId) -> Result<Option<AttendeeRecord>> {
    Ok(load_record(conn, id.0)?)
}

fn load_record(conn: &Connection, id: Uuid) -> Result<Option<AttendeeRecord>, StoreError> {
    conn.prepare_cached(&format!("SELECT {ATTENDEE_COLUMNS} FROM attendees WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id.to_string()], row_to_record).optional())
        .map_err(StoreError::from)
}

pub(crate) const ATTENDEE_COLUMNS: &str =
    "id, registration_code, name, company, title, category, phone, email, country, \
     id_type, id_masked, id_hash, id_sealed, source, consent, tags, created_at, updated_at, \
     merged_into, chinese_name";

pub(crate) fn row_to_record(row: &Row<'_>) -> rusqlite::Result<AttendeeRecord> {
    let id: String = row.get(0)?;
    let tags: String = row.get(15)?;
    let sealed: Option<Vec<u8>> = row.get(12)?;
    Ok(AttendeeRecord {
        id: Uuid::parse_str(&id).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        registration_code: row.get(1)?,
        name: row.get(2)?,
        company: row.get(3)?,
        title: row.get(4)?,
        category: row.get(5)?,
        phone: row.get(6)?,
        email: row.get(7)?,
        country: row.get(8)?,
        id_type: row.get(9)?,
        id_masked: row.get(10)?,
        id_hash: row.get(11)?,
        id_sealed: sealed.map(|bytes| data_encoding::BASE64.encode(&bytes)),
        source: row.get(13)?,
        consent: row.get(14)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        created_at: row.get(16)?,
        updated_at: row.get(17)?,
        merged_into: row
            .get::<_, Option<String>>(18)?
            .map(|id| {
                Uuid::parse_str(&id).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        18,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })
            })
            .transpose()?,
        chinese_name: row.get(19)?,
    })
}

pub(crate) fn parse_id(text: &str) -> Result<AttendeeId> {
    Uuid::parse_str(text)
        .map(AttendeeId)
        .map_err(|_| StoreError::Corrupt(format!("attendee id {text:?}")).into())
}

/// The wire/stored form of a validated attendee. The ID number is sealed here and never
/// leaves this function in clear.
pub fn to_record(attendee: &Attendee, data_key: Option<&DataKey>) -> Result<AttendeeRecord> {
    let now = now_rfc3339();
    let (id_type, id_masked, id_hash, id_sealed) = match &attendee.id_document {
        None => (None, None, None, None),
        Some(doc) => {
            let key = data_key.ok_or(RegistrationError::NoDataKey)?;
            (
                Some(doc.id_type.id().to_owned()),
                Some(doc.masked()),
                Some(key.lookup_hash(doc)),
                Some(data_encoding::BASE64.encode(&key.seal(doc))),
            )
        }
    };
    Ok(AttendeeRecord {
        id: attendee.id.0,
        registration_code: attendee.registration_code.clone(),
        name: attendee.name.clone(),
        company: attendee.company.clone(),
        title: attendee.title.clone(),
        phone: attendee.phone.clone(),
        email: attendee.email.clone(),
        country: attendee.country.clone(),
        category: attendee.category.clone(),
        source: attendee.source.id().to_owned(),
        id_type,
        id_masked,
        id_hash,
        id_sealed,
        consent: attendee.consent,
        tags: attendee.tags.clone(),
        created_at: now.clone(),
        updated_at: now,
        merged_into: None,
        chinese_name: attendee.chinese_name.clone(),
    })
}

/// Writes the attendee row and its search terms.
pub(crate) fn upsert(
    conn: &Connection,
    record: &AttendeeRecord,
    hlc: &Hlc,
) -> Result<(), StoreError> {
    upsert_over(conn, load_record(conn, record.id)?.as_ref(), record, hlc)
}

/// [`upsert`] over `previous`, the stored version the caller has just read (`None`: none).
fn upsert_over(
    conn: &Connection,
    previous: Option<&AttendeeRecord>,
    record: &AttendeeRecord,
    hlc: &Hlc,
) -> Result<(), StoreError> {
    let record = &still_merged(previous, record);
    let key = write_row(conn, record, hlc)?;
    replace_terms(conn, key, previous, record)
}

/// `record` as this station stores it over `previous`: a merge is final, so a version of a
/// merged-away attendee that does not say so (made by a station that had not heard of the
/// merge yet) stays merged into the same attendee.
fn still_merged(previous: Option<&AttendeeRecord>, record: &AttendeeRecord) -> AttendeeRecord {
    let merged_into = previous.and_then(|p| p.merged_into).or(record.merged_into);
    AttendeeRecord { merged_into, ..record.clone() }
}

/// Replaces the stored search terms of the attendee with station-local key `key`,
/// stored until now as `previous`, by those of `record`.
///
/// `search_terms` has no index by attendee (schema migration 6), so the old rows are
/// found by their primary key: the terms of the previous version, worked out again.
/// Should they not all be there (terms stored by a version that derived them otherwise),
/// every row of the attendee is found by a scan instead, so no stale term is left behind.
pub(crate) fn replace_terms(
    conn: &Connection,
    key: LocalKey,
    previous: Option<&AttendeeRecord>,
    record: &AttendeeRecord,
) -> Result<(), StoreError> {
    let new_terms: HashSet<String> = search::terms_for(record).into_iter().collect();
    let old_terms: HashSet<String> =
        previous.map(search::terms_for).unwrap_or_default().into_iter().collect();
    let mut delete =
        conn.prepare_cached("DELETE FROM search_terms WHERE term = ?1 AND attendee_key = ?2")?;
    let mut deleted = 0;
    for term in old_terms.difference(&new_terms) {
        deleted += delete.execute(params![term, key])?;
    }
    let stale = old_terms.difference(&new_terms).count();
    if deleted < stale {
        tracing::warn!(
            stored = deleted,
            expected = stale,
            "search terms not as derived; rewriting them all"
        );
        conn.prepare_cached("DELETE FROM search_terms WHERE attendee_key = ?1")?.execute([key])?;
        insert_terms(conn, key, new_terms.iter())?;
    } else {
        // Versions before schema 6 stored the company's terms with each attendee.
        let legacy = previous.map(|p| search::company_terms(&p.company)).unwrap_or_default();
        for term in legacy.iter().filter(|term| !new_terms.contains(*term)) {
            delete.execute(params![term, key])?;
        }
        insert_terms(conn, key, new_terms.difference(&old_terms))?;
    }
    search::note_company(conn, &record.company)
}

fn insert_terms<'t>(
    conn: &Connection,
    key: LocalKey,
    terms: impl Iterator<Item = &'t String>,
) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO search_terms (term, attendee_key) VALUES (?1, ?2)",
    )?;
    for term in terms {
        insert.execute(params![term, key])?;
    }
    Ok(())
}

/// An attendee's station-local key (`attendees.local_key`), which search terms refer
/// to: compact, and meaningless outside this station's database.
pub(crate) type LocalKey = i64;

/// The stored columns of an attendee, as written.
const WRITTEN_COLUMNS: &str =
    "id, registration_code, name, company, title, category, phone, email, country, \
     id_type, id_masked, id_hash, id_sealed, source, consent, tags, created_at, updated_at, hlc, \
     merged_into, chinese_name";

const WRITTEN_COLUMN_COUNT: usize = 21;

/// An attendee record's values in [`WRITTEN_COLUMNS`] order, the ones stored in another
/// form than the record's worked out.
struct RowValues<'r> {
    record: &'r AttendeeRecord,
    id: String,
    sealed: Option<Vec<u8>>,
    tags: String,
    hlc: &'r str,
    merged_into: Option<String>,
}

impl<'r> RowValues<'r> {
    fn of(record: &'r AttendeeRecord, hlc: &'r str) -> Result<Self, StoreError> {
        let sealed = record
            .id_sealed
            .as_deref()
            .map(|s| data_encoding::BASE64.decode(s.as_bytes()))
            .transpose()
            .map_err(|_| StoreError::Corrupt("sealed ID number is not base64".into()))?;
        Ok(Self {
            record,
            id: record.id.to_string(),
            sealed,
            tags: serde_json::to_string(&record.tags).unwrap_or_else(|_| "[]".into()),
            hlc,
            merged_into: record.merged_into.map(|id| id.to_string()),
        })
    }

    fn params(&self) -> [&dyn ToSql; WRITTEN_COLUMN_COUNT] {
        let r = self.record;
        [
            &self.id,
            &r.registration_code,
            &r.name,
            &r.company,
            &r.title,
            &r.category,
            &r.phone,
            &r.email,
            &r.country,
            &r.id_type,
            &r.id_masked,
            &r.id_hash,
            &self.sealed,
            &r.source,
            &r.consent,
            &self.tags,
            &r.created_at,
            &r.updated_at,
            &self.hlc,
            &self.merged_into,
            &r.chinese_name,
        ]
    }
}

/// Writes (inserts or replaces) the attendee row alone and returns its local key; its
/// search terms are the caller's business.
pub(crate) fn write_row(
    conn: &Connection,
    record: &AttendeeRecord,
    hlc: &Hlc,
) -> Result<LocalKey, StoreError> {
    let hlc = hlc.to_string();
    let values = RowValues::of(record, &hlc)?;
    conn.prepare_cached(&format!(
        "INSERT INTO attendees ({WRITTEN_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21) \
         ON CONFLICT(id) DO UPDATE SET registration_code = excluded.registration_code, name = excluded.name, \
         company = excluded.company, title = excluded.title, category = excluded.category, phone = excluded.phone, \
         email = excluded.email, country = excluded.country, id_type = excluded.id_type, id_masked = excluded.id_masked, \
         id_hash = excluded.id_hash, id_sealed = excluded.id_sealed, source = excluded.source, consent = excluded.consent, \
         tags = excluded.tags, updated_at = excluded.updated_at, hlc = excluded.hlc, chinese_name = excluded.chinese_name, \
         merged_into = coalesce(attendees.merged_into, excluded.merged_into) \
         RETURNING local_key"
    ))?
    .query_row(&values.params()[..], |row| row.get(0))
    .map_err(StoreError::from)
}

/// Inserts attendees known to be new, with the local keys `first_key`, `first_key + 1`,
/// and so on, and the HLCs `hlcs` (one per record), in one statement: for a bulk import,
/// where one statement per row costs more than the row. A clash with a stored attendee is
/// an error (`OR FAIL`: the caller's transaction is rolled back anyway, so SQLite need not
/// journal each statement).
pub(crate) fn insert_new_rows(
    conn: &Connection,
    first_key: LocalKey,
    records: &[AttendeeRecord],
    hlcs: &[String],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    // The local key, then the written columns.
    let row = format!("({})", vec!["?"; 1 + WRITTEN_COLUMN_COUNT].join(", "));
    let sql = format!(
        "INSERT OR FAIL INTO attendees (local_key, {WRITTEN_COLUMNS}) VALUES {}",
        vec![row.as_str(); records.len()].join(", ")
    );
    let mut insert = conn.prepare_cached(&sql)?;
    let mut index = 0;
    for ((key, record), hlc) in (first_key..).zip(records).zip(hlcs) {
        let values = RowValues::of(record, hlc)?;
        index += 1;
        insert.raw_bind_parameter(index, key)?;
        for value in values.params() {
            index += 1;
            insert.raw_bind_parameter(index, value)?;
        }
    }
    insert.raw_execute()?;
    Ok(())
}

/// Applies an attendee record pulled from another station: last writer wins by HLC, and
/// the losing version (whichever side it is) is kept in the audit log, without its ID
/// number. Returns whether the remote version was applied.
pub fn apply_remote(
    tx: &mut Tx<'_>,
    record: &AttendeeRecord,
    hlc: &Hlc,
) -> Result<bool, StoreError> {
    let current: Option<(AttendeeRecord, String)> = tx
        .sql()
        .prepare_cached(&format!("SELECT {ATTENDEE_COLUMNS}, hlc FROM attendees WHERE id = ?1"))?
        .query_row([record.id.to_string()], |r| Ok((row_to_record(r)?, r.get(20)?)))
        .optional()?;
    let incoming_hlc = hlc.to_string();
    if current.as_ref().is_some_and(|(_, local_hlc)| *local_hlc == incoming_hlc) {
        return Ok(false); // this very version is already here
    }
    let remote_wins = current.as_ref().is_none_or(|(_, local_hlc)| incoming_hlc > *local_hlc);
    if let (false, Some((local, _)), Some(into)) = (remote_wins, &current, record.merged_into) {
        // A merge is final whatever the clocks say: a local edit not yet pushed keeps its
        // content here, but not its place in search.
        if local.merged_into.is_none() {
            mark_merged(tx.sql(), local, into)?;
        }
    }
    if let Some((local, local_hlc)) = &current {
        let same_content = local.id_hash == record.id_hash
            && without_id_secrets(local) == without_id_secrets(record);
        let (loser, loser_hlc, kept) = if remote_wins {
            (local, local_hlc, "remote")
        } else {
            (record, &incoming_hlc, "local")
        };
        if !same_content {
            tx.audit(
                "sync",
                "lww_losing_version",
                Some(AttendeeId(record.id)),
                json!({ "kept": kept, "losing_hlc": loser_hlc, "losing_version": without_id_secrets(loser) }),
            )?;
        }
    }
    if remote_wins {
        // Over the version read above: nothing wrote the row since (a merge is marked
        // only when the remote version loses).
        upsert_over(tx.sql(), current.as_ref().map(|(local, _)| local), record, hlc)?;
    }
    Ok(remote_wins)
}

/// Marks the stored `local` as merged into `into`, taking it out of search.
fn mark_merged(conn: &Connection, local: &AttendeeRecord, into: Uuid) -> Result<(), StoreError> {
    let key: LocalKey = conn
        .prepare_cached("UPDATE attendees SET merged_into = ?2 WHERE id = ?1 RETURNING local_key")?
        .query_row(params![local.id.to_string(), into.to_string()], |r| r.get(0))?;
    let merged = AttendeeRecord { merged_into: Some(into), ..local.clone() };
    replace_terms(conn, key, Some(local), &merged)
}

/// An attendee record fit for the audit log: the keyed hash and sealed number removed.
fn without_id_secrets(record: &AttendeeRecord) -> AttendeeRecord {
    AttendeeRecord { id_hash: None, id_sealed: None, ..record.clone() }
}

#[cfg(test)]
mod similar_name_tests {
    use super::similar_names;

    #[test]
    fn names_that_read_alike_or_contain_each_other_are_similar() {
        assert!(similar_names("李晓明", "李小明"), "homophones");
        assert!(similar_names("Anna Smith", "anna  SMITH"));
        assert!(similar_names("张三", "张三丰"));
        assert!(!similar_names("李晓明", "李晓红"));
        assert!(!similar_names("", "李晓明"));
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::operators::Operator;
    use crate::store::test_support::store_with_event;

    fn found(store: &Store, name: &str) -> usize {
        search::search(store.conn(), name, 10, &[]).unwrap().len()
    }

    #[test]
    fn a_merge_is_final_at_a_station_whatever_the_clocks_say() {
        let (_dir, mut store) = store_with_event();
        let input = NewAttendee {
            name: "Anna Smith".into(),
            category: "public_visitor".into(),
            phone: "13912345678".into(),
            ..NewAttendee::default()
        };
        let kept = register(&mut store, &Operator::admin("t"), &input, Source::WalkIn).unwrap();
        let local = register(&mut store, &Operator::admin("t"), &input, Source::WalkIn).unwrap();
        assert_eq!(found(&store, "anna"), 2);
        let hub = |wall_ms| Hlc { wall_ms, counter: 0, station: "@hub".into() };

        // The hub's merge arrives stamped before a local edit: the edit keeps its content,
        // but the attendee leaves search and a look-up leads to the kept one.
        let merged = AttendeeRecord { merged_into: Some(kept.id), ..local.clone() };
        assert!(!store.write(|tx| apply_remote(tx, &merged, &hub(1))).unwrap());
        assert_eq!(found(&store, "anna"), 1);
        assert_eq!(resolve(store.conn(), &local.id.to_string()).unwrap().id, kept.id);

        // A later version that does not know of the merge does not undo it.
        let unaware = AttendeeRecord { name: "Anna Smyth".into(), ..local.clone() };
        assert!(store.write(|tx| apply_remote(tx, &unaware, &hub(u64::MAX / 2))).unwrap());
        let stored = load(store.conn(), AttendeeId(local.id)).unwrap().unwrap();
        assert_eq!((stored.name.as_str(), stored.merged_into), ("Anna Smyth", Some(kept.id)));
        assert_eq!(found(&store, "anna"), 1);
        assert_eq!(found(&store, "smyth"), 0);
    }
}
