//! Pre-registration import from the CSV that online registration (or a spreadsheet)
//! exports: UTF-8 with or without BOM, or GB18030; English or Chinese headers.
//!
//! Two passes over the decoded text keep memory flat for a million rows: the first
//! validates every row and finds duplicates inside the file, the second writes the good
//! rows in one transaction. Without `skip_invalid`, one bad row imports nothing.
//!
//! Imported rows are stamped with the HLC but not queued for the hub one by one: the
//! organiser's CRM is where they came from, every station imports the same file, and
//! an attendee's id is derived from (event, registration code), so the same person has the
//! same id everywhere and later edits merge by last-writer-wins. One audit entry per
//! import is queued instead.

use std::collections::HashMap;

use expo_sync::protocol::AttendeeRecord;
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::json;

use super::{
    row_to_record, search, to_record, upsert, RegistrationError, Result, ATTENDEE_COLUMNS,
};
use crate::domain::id_document::mask;
use crate::domain::{NewAttendee, Source};
use crate::store::{Store, StoreError};

/// Header names accepted for each field: English first, then Chinese.
const COLUMNS: &[(Field, &[&str])] = &[
    (Field::RegistrationCode, &["registration_code", "注册码"]),
    (Field::Name, &["name", "姓名"]),
    (Field::Company, &["company", "公司"]),
    (Field::Title, &["title", "职位"]),
    (Field::Category, &["category", "类别"]),
    (Field::Phone, &["phone", "手机"]),
    (Field::Email, &["email", "邮箱"]),
    (Field::Country, &["country", "国家"]),
    (Field::IdType, &["id_type", "证件类型"]),
    (Field::IdNumber, &["id_number", "证件号码"]),
    (Field::Consent, &["consent", "同意"]),
    (Field::Tags, &["tags", "标签"]),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Field {
    RegistrationCode,
    Name,
    Company,
    Title,
    Category,
    Phone,
    Email,
    Country,
    IdType,
    IdNumber,
    Consent,
    Tags,
}

/// Page cache during an import, as SQLite's negative-KiB `cache_size` (512 MiB).
const IMPORT_CACHE_KIB: i64 = -512 * 1024;

#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub skip_invalid: bool,
}

/// One problem in one row, safe to print: ID numbers are masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Line in the file, counting the header as line 1.
    pub line: u64,
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {} {:?}: {}", self.line, self.field, self.value, self.reason)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    pub encoding: &'static str,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows with at least one error.
    pub invalid_rows: u64,
    pub errors: Vec<RowError>,
    /// Headers that were not recognised and were ignored.
    pub ignored_columns: Vec<String>,
    /// Whether anything was written.
    pub committed: bool,
}

/// Decodes the file's bytes: UTF-8 (BOM stripped) when valid, else GB18030.
pub fn decode(bytes: &[u8]) -> Result<(String, &'static str)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_owned(), "utf-8"));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(RegistrationError::Import("the file is neither UTF-8 nor GB18030 text".into()));
    }
    Ok((text.into_owned(), "gb18030"))
}

/// Imports pre-registrations from a CSV file's bytes.
pub fn import_csv(
    store: &mut Store,
    actor: &str,
    bytes: &[u8],
    options: ImportOptions,
) -> Result<ImportReport> {
    let (text, encoding) = decode(bytes)?;
    let mut report = ImportReport { encoding, ..ImportReport::default() };
    let columns = read_header(&text, &mut report)?;
    let today = super::venue_today(store)?;

    // Pass 1: validate, and find codes and ID numbers used twice for different people.
    let mut bad_lines = std::collections::HashSet::new();
    {
        let event = store.event()?;
        let mut seen_codes: HashMap<String, (u64, String)> = HashMap::new();
        let mut seen_ids: HashMap<String, (u64, String)> = HashMap::new();
        for row in rows(&text) {
            report.rows += 1;
            let (line, input) = match row {
                Ok((line, fields)) => (line, to_input(&columns, &fields)),
                Err(error) => {
                    bad_lines.insert(error.line);
                    report.errors.push(error);
                    continue;
                }
            };
            let mut errors = Vec::new();
            match input.validate(&event.definition, Source::PreRegistered, today) {
                Err(field_errors) => {
                    errors.extend(
                        field_errors
                            .into_iter()
                            .map(|e| row_error(line, &input, e.field, e.reason)),
                    );
                }
                Ok(attendee) => {
                    let record = to_record(&attendee, event.data_key.as_ref())?;
                    let person = search::normalize(&record.name);
                    if record.registration_code.is_none() && record.id_hash.is_none() {
                        errors.push(row_error(
                            line,
                            &input,
                            "registration_code",
                            "a registration code or an ID number is needed, so that re-importing cannot duplicate this person".into(),
                        ));
                    }
                    for (map, key, field) in [
                        (&mut seen_codes, record.registration_code.clone(), "registration_code"),
                        (&mut seen_ids, record.id_hash.clone(), "id_number"),
                    ] {
                        let Some(key) = key else { continue };
                        match map.get(&key) {
                            Some((first, name)) if *name != person => errors.push(row_error(
                                line,
                                &input,
                                field,
                                format!("also on line {first} for a different person"),
                            )),
                            Some(_) => {}
                            None => {
                                map.insert(key, (line, person.clone()));
                            }
                        }
                    }
                }
            }
            if !errors.is_empty() {
                bad_lines.insert(line);
                report.errors.extend(errors);
            }
        }
    }
    report.invalid_rows = bad_lines.len() as u64;
    if options.dry_run || (report.invalid_rows > 0 && !options.skip_invalid) {
        return Ok(report);
    }

    // Pass 2: write every good row in one transaction. Each attendee adds about ten rows
    // to the search-term index at random places; with SQLite's default 2 MB page cache a
    // million-row import spends most of its time re-reading index pages, so the import
    // borrows a large cache and gives it back.
    let cache_pages: i64 = store
        .conn()
        .pragma_query_value(None, "cache_size", |r| r.get(0))
        .map_err(StoreError::from)?;
    store.conn().pragma_update(None, "cache_size", IMPORT_CACHE_KIB).map_err(StoreError::from)?;
    let written = write_rows(store, actor, &text, &columns, &bad_lines, today, &mut report);
    store.conn().pragma_update(None, "cache_size", cache_pages).map_err(StoreError::from)?;
    written?;
    report.committed = true;
    Ok(report)
}

fn write_rows(
    store: &mut Store,
    actor: &str,
    text: &str,
    columns: &[(usize, Field)],
    bad_lines: &std::collections::HashSet<u64>,
    today: chrono::NaiveDate,
    report: &mut ImportReport,
) -> Result<()> {
    // The event context is cloned out of the store so the write closure can borrow the
    // store mutably; it holds no secrets beyond what the store itself holds.
    let definition = store.event()?.definition.clone();
    let data_key = store.key_files().load_data_key()?;
    let (mut created, mut updated, mut unchanged) = (0u64, 0u64, 0u64);
    store.write(|tx| {
        let hlc = tx.tick();
        for row in rows(text) {
            let Ok((line, fields)) = row else { continue };
            if bad_lines.contains(&line) {
                continue;
            }
            let input = to_input(columns, &fields);
            let attendee = input
                .validate(&definition, Source::PreRegistered, today)
                .map_err(RegistrationError::Invalid)?;
            let mut record = to_record(&attendee, data_key.as_ref())?;
            match existing(tx.sql(), &record)? {
                // The same person twice in one file finds their first row here.
                None => {
                    upsert(tx.sql(), &record, &hlc)?;
                    created += 1;
                }
                Some(current) => {
                    if same_content(&current, &record) {
                        unchanged += 1;
                        continue;
                    }
                    record.id = current.id;
                    record.created_at = current.created_at.clone();
                    record.source = current.source.clone();
                    if record.registration_code.is_none() {
                        record.registration_code = current.registration_code.clone();
                    }
                    upsert(tx.sql(), &record, &hlc)?;
                    updated += 1;
                }
            }
        }
        tx.audit(
            actor,
            "import",
            None,
            json!({ "created": created, "updated": updated, "unchanged": unchanged, "skipped_invalid": bad_lines.len() }),
        )?;
        Ok::<_, RegistrationError>(())
    })?;
    report.created = created;
    report.updated = updated;
    report.unchanged = unchanged;
    Ok(())
}

/// The stored attendee this row describes: same registration code, else same ID document.
fn existing(
    conn: &rusqlite::Connection,
    record: &AttendeeRecord,
) -> Result<Option<AttendeeRecord>> {
    let sql = format!("SELECT {ATTENDEE_COLUMNS} FROM attendees WHERE registration_code = ?1");
    if let Some(code) = &record.registration_code {
        let found = conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.query_row([code], row_to_record).optional())
            .map_err(StoreError::from)?;
        if found.is_some() {
            return Ok(found);
        }
    }
    if let Some(hash) = &record.id_hash {
        if let Some(id) = super::find_by_id_hash(conn, hash)? {
            return super::load(conn, id);
        }
    }
    Ok(None)
}

/// Whether a re-imported row would change anything the operator can see. The sealed ID
/// number differs on every sealing (random nonce), so the keyed hash stands for it.
fn same_content(a: &AttendeeRecord, b: &AttendeeRecord) -> bool {
    a.name == b.name
        && a.company == b.company
        && a.title == b.title
        && a.category == b.category
        && a.phone == b.phone
        && a.email == b.email
        && a.country == b.country
        && a.id_type == b.id_type
        && a.id_hash == b.id_hash
        && a.consent == b.consent
        && a.tags == b.tags
        && (b.registration_code.is_none() || a.registration_code == b.registration_code)
}

fn read_header(text: &str, report: &mut ImportReport) -> Result<Vec<(usize, Field)>> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let header = match reader.records().next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => {
            return Err(RegistrationError::Import(format!("the header line is not valid CSV: {e}")))
        }
        None => return Err(RegistrationError::Import("the file is empty".into())),
    };
    let mut columns = Vec::new();
    for (index, name) in header.iter().enumerate() {
        let name = name.trim();
        let field = COLUMNS
            .iter()
            .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(field, _)| *field);
        match field {
            Some(field) if columns.iter().any(|(_, f)| *f == field) => {
                return Err(RegistrationError::Import(format!("column {name:?} appears twice")));
            }
            Some(field) => columns.push((index, field)),
            None => report.ignored_columns.push(name.to_owned()),
        }
    }
    for required in [Field::Name, Field::Category] {
        if !columns.iter().any(|(_, f)| *f == required) {
            let names = COLUMNS
                .iter()
                .find(|(f, _)| *f == required)
                .map(|(_, n)| n.join(" / "))
                .unwrap_or_default();
            return Err(RegistrationError::Import(format!("the header has no {names} column")));
        }
    }
    Ok(columns)
}

/// Data rows with their line numbers (the header is line 1).
fn rows(text: &str) -> impl Iterator<Item = Result<(u64, csv::StringRecord), RowError>> + '_ {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes())
        .into_records()
        .map(|next| match next {
            Ok(record) => {
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                Ok((line, record))
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                Err(RowError {
                    line,
                    field: "-".into(),
                    value: String::new(),
                    reason: format!("not valid CSV: {e}"),
                })
            }
        })
        .filter(|row| !matches!(row, Ok((_, record)) if record.iter().all(|f| f.trim().is_empty())))
}

fn to_input(columns: &[(usize, Field)], record: &csv::StringRecord) -> NewAttendee {
    let get = |field: Field| {
        columns
            .iter()
            .find(|(_, f)| *f == field)
            .and_then(|(index, _)| record.get(*index))
            .unwrap_or("")
            .to_owned()
    };
    let consent = get(Field::Consent);
    NewAttendee {
        registration_code: get(Field::RegistrationCode),
        name: get(Field::Name),
        company: get(Field::Company),
        title: get(Field::Title),
        category: get(Field::Category),
        phone: get(Field::Phone),
        email: get(Field::Email),
        country: get(Field::Country),
        id_type: get(Field::IdType),
        id_number: get(Field::IdNumber),
        // Online registration only exports people who accepted the terms, so a file
        // without a consent column means consent was given.
        consent: consent.trim().is_empty()
            || matches!(
                consent.trim().to_lowercase().as_str(),
                "1" | "yes" | "y" | "true" | "是" | "同意"
            ),
        tags: get(Field::Tags).split(['|', ';', '；']).map(str::to_owned).collect(),
    }
}

fn row_error(line: u64, input: &NewAttendee, field: &str, reason: String) -> RowError {
    let value = match field {
        "registration_code" => input.registration_code.clone(),
        "name" => input.name.clone(),
        "company" => input.company.clone(),
        "title" => input.title.clone(),
        "category" => input.category.clone(),
        "phone" => input.phone.clone(),
        "email" => input.email.clone(),
        "country" => input.country.clone(),
        "id_type" => input.id_type.clone(),
        // Personal data: never echoed in full, not even in an error report.
        "id_number" => mask(input.id_number.trim()),
        _ => String::new(),
    };
    RowError { line, field: field.to_owned(), value: value.chars().take(80).collect(), reason }
}
