//! Pre-registration import from the CSV that online registration (or a spreadsheet)
//! exports: UTF-8 with or without BOM, or GB18030; English or Chinese headers.
//!
//! One pass over the decoded text, on two threads: a checker validates each row, seals
//! its ID number, finds codes and ID numbers used twice in the file, and works out its
//! search terms; the writer stores the good rows as they come, in one transaction.
//! Without `skip_invalid`, one bad row (wherever it is) rolls that transaction back, so
//! it imports nothing. Rows travel in small batches, so memory stays flat for a million
//! rows, except for the new attendees' search terms, which are gathered as numbers and
//! written at the end in key order (see `term_batch`).
//!
//! Imported rows are stamped with the HLC but not queued for the hub one by one: the
//! organiser's CRM is where they came from, every station imports the same file, and
//! an attendee's id is derived from (event, registration code), so the same person has the
//! same id everywhere and later edits merge by last-writer-wins. One audit entry per
//! import is queued instead.

use std::collections::HashSet;
use std::sync::mpsc::SyncSender;
use std::sync::Mutex;

use expo_sync::protocol::AttendeeRecord;
use foldhash::HashMap;
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::json;

use super::term_batch::{TermBatch, Vocabulary};
use super::{
    insert_new_rows, replace_terms, row_to_record, search, to_record, write_row, LocalKey,
    RegistrationError, Result, ATTENDEE_COLUMNS,
};
use crate::domain::attendee::mask_name;
use crate::domain::id_document::mask;
use crate::domain::{EventDefinition, FieldProblem, NewAttendee, Source};
use crate::operators::{authorize, Operator, Permission};
use crate::privacy::DataKey;
use crate::store::bulk::{AttendeeTotals, Counted};
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
    // Optional: files from before it import as they did.
    (Field::ChineseName, &["chinese_name", "中文姓名"]),
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
    ChineseName,
}

/// Page cache during an import, as SQLite's negative-KiB `cache_size` (1 GiB, used only
/// as far as the import needs it). A million-row import fills about 2 GB of B-trees;
/// with 512 MiB it took a quarter longer (77 s against 92-102 s).
const IMPORT_CACHE_KIB: i64 = -1024 * 1024;

#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub skip_invalid: bool,
}

/// The arguments of `import attendees`, which `expo-kiosk` and `expo-hub` both take.
#[derive(Clone, Debug, clap::Args)]
pub struct ImportArgs {
    /// The CSV file (UTF-8, UTF-8 with BOM or GB18030; English or Chinese headers).
    pub file: std::path::PathBuf,
    /// Check every row and report, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import the good rows even if some are bad (without it, one bad row imports nothing).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl ImportArgs {
    pub fn options(&self) -> ImportOptions {
        ImportOptions { dry_run: self.dry_run, skip_invalid: self.skip_invalid }
    }
}

/// One problem in one row, safe to print: ID numbers are masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RowError {
    /// Line in the file, counting the header as line 1.
    pub line: u64,
    pub field: String,
    pub value: String,
    /// The problem in English, for the CLI, logs and scripts that read `--json`.
    pub reason: String,
    /// The same, typed, for a screen to render in the operator's language.
    pub problem: FieldProblem,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {} {:?}: {}", self.line, self.field, self.value, self.reason)
    }
}

/// An attendee as an identity conflict shows them: enough for an operator to tell two
/// people apart, masked like a kiosk screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MaskedIdentity {
    pub name: String,
    pub registration_code: Option<String>,
    pub id_number: Option<String>,
}

impl MaskedIdentity {
    fn of(record: &AttendeeRecord) -> Self {
        MaskedIdentity {
            name: mask_name(&record.name),
            registration_code: record.registration_code.clone(),
            id_number: record.id_masked.clone(),
        }
    }
}

/// A row whose registration code or ID number belongs to a stored attendee who is someone
/// else (another name, another ID document or code): not applied, for an operator to
/// resolve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdentityConflict {
    /// Line in the file, counting the header as line 1.
    pub line: u64,
    pub in_file: MaskedIdentity,
    pub stored: MaskedIdentity,
}

/// The masked name, then the registration code and the masked ID number where known.
impl std::fmt::Display for MaskedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        for part in [&self.registration_code, &self.id_number].into_iter().flatten() {
            write!(f, " {part}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for IdentityConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: identity conflict: the file's {} matches the stored {}; not applied",
            self.line, self.in_file, self.stored
        )
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
    /// Rows not applied because they would overwrite another person (counted in
    /// `invalid_rows`).
    pub conflicts: Vec<IdentityConflict>,
    /// Headers that were not recognised and were ignored.
    pub ignored_columns: Vec<String>,
    /// Whether anything was written.
    pub committed: bool,
}

impl ImportReport {
    /// The report as an operator reads it: each error and conflict on its own line, then
    /// the counts. `dry_run`: whether the import was asked to write nothing.
    pub fn text_lines(&self, dry_run: bool) -> Vec<String> {
        let mut lines: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        lines.extend(self.conflicts.iter().map(ToString::to_string));
        if !self.ignored_columns.is_empty() {
            lines.push(format!("ignored columns: {}", self.ignored_columns.join(", ")));
        }
        lines.push(format!(
            "{} rows ({}): {} new, {} updated, {} unchanged, {} invalid{}",
            self.rows,
            self.encoding,
            self.created,
            self.updated,
            self.unchanged,
            self.invalid_rows,
            match (self.committed, dry_run) {
                (true, _) => "",
                (false, true) => " (dry run: nothing written)",
                (false, false) => " (nothing imported: fix the rows or use --skip-invalid)",
            }
        ));
        lines
    }
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

/// Imports pre-registrations from a CSV file's bytes, as `operator`
/// ([`Permission::Import`]); a row outside the operator's categories is refused like an
/// invalid one. A row whose registration code or ID number belongs to a stored attendee
/// with another identity is not applied: it is reported as an [`IdentityConflict`].
pub fn import_csv(
    store: &mut Store,
    operator: &Operator,
    bytes: &[u8],
    options: ImportOptions,
) -> Result<ImportReport> {
    authorize(store, operator, Permission::Import, None, &[])?;
    let actor = operator.name.as_str();
    let started = std::time::Instant::now();
    let OpenedCsv { text, columns, mut report } = open_csv(bytes)?;
    // The checker runs on its own thread while this one writes, so it gets its own copy
    // of the event definition and of the data key (which the store holds anyway).
    let checker = Checker {
        columns,
        rules: RowRules {
            definition: store.event()?.definition.clone(),
            data_key: store.key_files().load_data_key()?,
            today: super::venue_today(store)?,
            scope: operator.categories.clone(),
        },
        vocabulary: (!options.dry_run).then(Mutex::default),
    };
    if options.dry_run {
        checker.run(&text, |checked| {
            let mut tally = Tally::default();
            for batch in checked {
                for row in batch? {
                    if let Some(good) = tally.count(row, &mut report) {
                        let current = existing(store.conn(), &good.record)?;
                        tally.resolve(good.line, good.record, current, &mut report);
                    }
                }
            }
            report.invalid_rows = tally.invalid_rows();
            Ok(report)
        })
    } else {
        let borrowed = BorrowedSettings::apply(store.conn())?;
        let written = checker.run(&text, |checked| {
            write_rows(store, actor, &checker, checked, options, &mut report)
        });
        // The import's own outcome comes first: a committed import is reported as one.
        let given_back = borrowed.give_back(store.conn());
        tracing::debug!(elapsed = ?started.elapsed(), "import finished");
        report.committed = written?;
        given_back?;
        Ok(report)
    }
}

/// What a registration is checked against, wherever it is imported: the event, its data
/// key (to seal and hash ID numbers), the venue's today, and the importer's categories
/// (empty: every category).
pub struct RowRules {
    pub definition: EventDefinition,
    pub data_key: Option<DataKey>,
    pub today: chrono::NaiveDate,
    pub scope: Vec<String>,
}

/// Checks a CSV file's rows by the import's rules without a station store (the hub's
/// import): decodes it, reads its header into a report, then hands the checked rows, in
/// file order, to `consume` with that report to count them into. Returns the report and
/// what `consume` made.
pub fn check_csv<T>(
    bytes: &[u8],
    rules: RowRules,
    consume: impl FnOnce(&mut ImportReport, &mut dyn Iterator<Item = Result<Vec<Checked>>>) -> T,
) -> Result<(ImportReport, T)> {
    let OpenedCsv { text, columns, mut report } = open_csv(bytes)?;
    let checker = Checker { columns, rules, vocabulary: None };
    let consumed = checker.run(&text, |checked| consume(&mut report, checked));
    Ok((report, consumed))
}

/// Checks registrations given one by one (the hub's API) by the rules of a CSV row: the
/// row's "line" is the registration's position in `inputs`, from 0.
pub fn check_inputs(inputs: &[NewAttendee], rules: RowRules) -> Result<Vec<Checked>> {
    let checker = Checker { columns: Vec::new(), rules, vocabulary: None };
    let mut seen = Seen::default();
    (0u64..).zip(inputs).map(|(line, input)| checker.check_input(line, input, &mut seen)).collect()
}

/// A CSV file decoded, its header read.
struct OpenedCsv {
    text: String,
    columns: Vec<(usize, Field)>,
    /// What the rows are counted into: the encoding and the ignored columns so far.
    report: ImportReport,
}

fn open_csv(bytes: &[u8]) -> Result<OpenedCsv> {
    let (text, encoding) = decode(bytes)?;
    let mut report = ImportReport { encoding, ..ImportReport::default() };
    let columns = read_header(&text, &mut report)?;
    Ok(OpenedCsv { text, columns, report })
}

/// Connection settings an import borrows and gives back: a large page cache for the
/// B-trees it fills (each attendee adds a dozen search-term rows).
pub(crate) struct BorrowedSettings {
    previous: Vec<(&'static str, i64)>,
}

impl BorrowedSettings {
    const DURING_IMPORT: [(&'static str, i64); 1] = [("cache_size", IMPORT_CACHE_KIB)];

    pub(crate) fn apply(conn: &rusqlite::Connection) -> Result<Self, StoreError> {
        let mut previous = Vec::with_capacity(Self::DURING_IMPORT.len());
        for (pragma, value) in Self::DURING_IMPORT {
            previous.push((pragma, conn.pragma_query_value(None, pragma, |r| r.get(0))?));
            conn.pragma_update(None, pragma, value)?;
        }
        Ok(Self { previous })
    }

    pub(crate) fn give_back(self, conn: &rusqlite::Connection) -> Result<(), StoreError> {
        for (pragma, value) in self.previous {
            conn.pragma_update(None, pragma, value)?;
        }
        Ok(())
    }
}

/// Checks rows: validation, sealing of the ID number, search terms, and codes or ID
/// numbers used twice in the file for different people.
struct Checker {
    columns: Vec<(usize, Field)>,
    rules: RowRules,
    /// Numbers the search terms of good rows for a station's index; none on a dry run,
    /// which writes nothing, nor at the hub, which keeps no index.
    vocabulary: Option<Mutex<Vocabulary>>,
}

/// A checked data row, in file order.
// Nearly every row is good: boxing that variant would cost an allocation per row to
// shrink the rare bad ones.
#[allow(clippy::large_enum_variant)]
pub enum Checked {
    /// A row that can be written.
    Good(GoodRow),
    /// A row that cannot, with its problems.
    Bad { line: u64, errors: Vec<RowError> },
}

pub struct GoodRow {
    pub line: u64,
    /// Validated, its ID number sealed and hashed, its id derived from the event and the
    /// registration code.
    pub record: AttendeeRecord,
    /// Search terms, numbered by the import's vocabulary.
    terms: Vec<u32>,
    /// Neither its registration code nor its ID number appeared on an earlier line.
    pub first_sighting: bool,
}

/// The registration codes and ID hashes of the rows checked so far, with the line and
/// the normalised name of the first row that had each.
#[derive(Default)]
struct Seen {
    codes: HashMap<String, (u64, String)>,
    ids: HashMap<String, (u64, String)>,
}

/// Rows travel between the threads in batches: one channel message per row costs more
/// than checking it.
const BATCH_ROWS: usize = 512;
/// Batches checked ahead of the writer: enough to keep both threads busy, few enough
/// to keep memory flat.
const BATCHES_AHEAD: usize = 8;

impl Checker {
    /// Checks the rows of `text` on a second thread and hands them, in file order, to
    /// `consume` on this one. Work left unconsumed is abandoned.
    fn run<T>(
        &self,
        text: &str,
        consume: impl FnOnce(&mut dyn Iterator<Item = Result<Vec<Checked>>>) -> T,
    ) -> T {
        let (sender, receiver) = std::sync::mpsc::sync_channel(BATCHES_AHEAD);
        std::thread::scope(|scope| {
            scope.spawn(move || self.check_all(text, &sender));
            // Dropping the receiver (when `consume` returns) stops the checker.
            consume(&mut receiver.into_iter())
        })
    }

    fn check_all(&self, text: &str, sender: &SyncSender<Result<Vec<Checked>>>) {
        let mut seen = Seen::default();
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        for row in rows(text) {
            let checked = match row {
                Ok((line, fields)) => {
                    self.check_input(line, &to_input(&self.columns, &fields), &mut seen)
                }
                Err(error) => Ok(Checked::Bad { line: error.line, errors: vec![error] }),
            };
            match checked {
                Ok(checked) => batch.push(checked),
                Err(error) => {
                    // The writer stops at the first error; nothing after it matters.
                    let _ = sender.send(Err(error));
                    return;
                }
            }
            if batch.len() == BATCH_ROWS
                && sender
                    .send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS))))
                    .is_err()
            {
                return; // the writer stopped
            }
        }
        // A send fails only when the writer stopped, and then nobody needs the rest.
        let _ = sender.send(Ok(batch));
    }

    fn check_input(&self, line: u64, input: &NewAttendee, seen: &mut Seen) -> Result<Checked> {
        let rules = &self.rules;
        let attendee = match input.validate(&rules.definition, Source::PreRegistered, rules.today) {
            Ok(attendee) => attendee,
            Err(field_errors) => {
                let errors = field_errors
                    .into_iter()
                    .map(|e| row_error(line, input, e.field, e.problem))
                    .collect();
                return Ok(Checked::Bad { line, errors });
            }
        };
        let record = to_record(&attendee, rules.data_key.as_ref())?;
        let mut errors = Vec::new();
        if !rules.scope.is_empty() && !rules.scope.contains(&record.category) {
            errors.push(row_error(
                line,
                input,
                "category",
                FieldProblem::OutsideOperatorCategories,
            ));
        }
        if record.registration_code.is_none() && record.id_hash.is_none() {
            errors.push(row_error(
                line,
                input,
                "registration_code",
                FieldProblem::CodeOrIdNumberNeeded,
            ));
        }
        let person = search::normalize(&record.name);
        let mut first_sighting = true;
        for (map, key, field) in [
            (&mut seen.codes, &record.registration_code, "registration_code"),
            (&mut seen.ids, &record.id_hash, "id_number"),
        ] {
            let Some(key) = key else { continue };
            match map.get(key) {
                Some((first, name)) if *name != person => errors.push(row_error(
                    line,
                    input,
                    field,
                    FieldProblem::AlsoOnLine { line: *first },
                )),
                Some(_) => first_sighting = false,
                None => {
                    map.insert(key.clone(), (line, person.clone()));
                }
            }
        }
        if !errors.is_empty() {
            return Ok(Checked::Bad { line, errors });
        }
        let terms = match &self.vocabulary {
            Some(_) => self.vocabulary()?.number_terms_of(&record)?,
            None => Vec::new(),
        };
        Ok(Checked::Good(GoodRow { line, record, terms, first_sighting }))
    }

    fn vocabulary(&self) -> Result<std::sync::MutexGuard<'_, Vocabulary>> {
        let vocabulary = self
            .vocabulary
            .as_ref()
            .ok_or_else(|| RegistrationError::Import("a dry run numbers no search terms".into()))?;
        // Poisoned only if the checking thread panicked, which the scope re-raises.
        vocabulary.lock().map_err(|_| RegistrationError::Import("the row checker stopped".into()))
    }
}

/// The rows counted so far and the lines with problems.
#[derive(Default)]
pub struct Tally {
    bad_lines: HashSet<u64>,
}

/// What a good row does to the attendee stored under its code or ID number.
// As with `Checked`: nearly every row is a new or updated attendee.
#[allow(clippy::large_enum_variant)]
pub enum Resolution {
    /// Nobody is stored under the row's code or ID number.
    Create(AttendeeRecord),
    /// The stored attendee (`previous`) gets the row's fields, keeping their id, creation
    /// time, source and (when the row has none) registration code.
    Update { record: AttendeeRecord, previous: AttendeeRecord },
    /// The row says what is stored already.
    Unchanged(AttendeeRecord),
}

impl Tally {
    /// Decides what the good row on `line` does given `current`, the stored attendee its
    /// registration code or ID number found. A row that would overwrite another person
    /// (see [`same_identity`]) is reported as an [`IdentityConflict`] and counted as a
    /// row that cannot be written: `None`.
    pub fn resolve(
        &mut self,
        line: u64,
        mut record: AttendeeRecord,
        current: Option<AttendeeRecord>,
        report: &mut ImportReport,
    ) -> Option<Resolution> {
        let Some(current) = current else {
            return Some(Resolution::Create(record));
        };
        if !same_identity(&current, &record) {
            self.bad_lines.insert(line);
            report.conflicts.push(IdentityConflict {
                line,
                in_file: MaskedIdentity::of(&record),
                stored: MaskedIdentity::of(&current),
            });
            return None;
        }
        if same_content(&current, &record) {
            return Some(Resolution::Unchanged(current));
        }
        record.id = current.id;
        record.created_at = current.created_at.clone();
        record.source = current.source.clone();
        record.merged_into = current.merged_into;
        if record.registration_code.is_none() {
            record.registration_code = current.registration_code.clone();
        }
        Some(Resolution::Update { record, previous: current })
    }

    /// Counts one row into the report; returns it if it can be written.
    pub fn count(&mut self, row: Checked, report: &mut ImportReport) -> Option<GoodRow> {
        report.rows += 1;
        match row {
            Checked::Good(good) => Some(good),
            Checked::Bad { line, errors } => {
                self.bad_lines.insert(line);
                report.errors.extend(errors);
                None
            }
        }
    }

    /// Rows with at least one error or an identity conflict.
    pub fn invalid_rows(&self) -> u64 {
        self.bad_lines.len() as u64
    }
}

/// Why the import's transaction ended without a commit.
enum Abort {
    /// Some rows are invalid and the options say that imports nothing.
    InvalidRows,
    Failed(RegistrationError),
}

impl From<RegistrationError> for Abort {
    fn from(error: RegistrationError) -> Self {
        Abort::Failed(error)
    }
}

impl From<StoreError> for Abort {
    fn from(error: StoreError) -> Self {
        Abort::Failed(error.into())
    }
}

/// Writes the good rows in one transaction, as they come. Returns whether it committed:
/// without `skip_invalid`, one bad row (found at any point) rolls everything back.
fn write_rows(
    store: &mut Store,
    actor: &str,
    checker: &Checker,
    checked: &mut dyn Iterator<Item = Result<Vec<Checked>>>,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<bool> {
    let started = std::time::Instant::now();
    let mut tally = Tally::default();
    let (mut created, mut updated, mut unchanged) = (0u64, 0u64, 0u64);
    let outcome = store.write(|tx| {
        let hlc = tx.tick();
        // On a station without attendees, a row can only update one written by an
        // earlier line of this file, which the checker reports: the others need no look-up.
        let stored: usize = tx
            .sql()
            .query_row("SELECT count(*) FROM attendees", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        let fresh_store = stored == 0;
        // The running totals are counted here, not by a trigger per row.
        let mut totals = AttendeeTotals::set_aside(tx.sql())?;
        let hlc_text = hlc.to_string();
        let mut new_rows = NewRows::after(tx.sql())?;
        // The terms of new attendees are written after all the rows, in key order, and
        // those of their companies once per company.
        let mut new_terms = TermBatch::default();
        let mut companies = CompanySet::default();
        for batch in checked {
            for row in batch? {
                let Some(GoodRow { line, record, terms, first_sighting }) =
                    tally.count(row, report)
                else {
                    continue;
                };
                let current = if fresh_store && first_sighting {
                    None
                } else {
                    // The row may be an earlier line's, still waiting to be inserted.
                    new_rows.insert(tx.sql())?;
                    existing(tx.sql(), &record)?
                };
                let Some(resolution) = tally.resolve(line, record, current, report) else {
                    continue;
                };
                if !tally.bad_lines.is_empty() && !options.skip_invalid {
                    continue; // nothing will be committed: only check the rest
                }
                match resolution {
                    Resolution::Create(record) => {
                        totals.add(&counted(&record));
                        companies.note(&record.company);
                        new_terms.set(new_rows.next_key(), &terms)?;
                        new_rows.push(tx.sql(), record, &hlc_text)?;
                        created += 1;
                    }
                    Resolution::Unchanged(_) => unchanged += 1,
                    // The same person twice in one file finds their first row here.
                    Resolution::Update { record, previous } => {
                        let key = write_row(tx.sql(), &record, &hlc)?;
                        totals.remove(&counted(&previous));
                        totals.add(&counted(&record));
                        if new_terms.holds(key) {
                            // Created by this import: its terms are not stored yet.
                            let terms = checker.vocabulary()?.number_terms_of(&record)?;
                            new_terms.set(key, &terms)?;
                            companies.note(&record.company);
                        } else {
                            replace_terms(tx.sql(), key, Some(&previous), &record)?;
                        }
                        updated += 1;
                    }
                }
            }
        }
        if !tally.bad_lines.is_empty() && !options.skip_invalid {
            return Err(Abort::InvalidRows);
        }
        new_rows.insert(tx.sql())?;
        tracing::debug!(elapsed = ?started.elapsed(), "import: attendees written");
        new_terms.write(tx.sql(), std::mem::take(&mut *checker.vocabulary()?))?;
        for company in companies.0 {
            search::note_company(tx.sql(), &company)?;
        }
        tracing::debug!(elapsed = ?started.elapsed(), "import: search terms written");
        totals.restore(tx.sql())?;
        tx.audit(
            actor,
            "import",
            None,
            json!({ "created": created, "updated": updated, "unchanged": unchanged, "skipped_invalid": tally.bad_lines.len() }),
        )?;
        Ok(())
    });
    report.invalid_rows = tally.bad_lines.len() as u64;
    match outcome {
        Ok(()) => {
            report.created = created;
            report.updated = updated;
            report.unchanged = unchanged;
            Ok(true)
        }
        Err(Abort::InvalidRows) => Ok(false),
        Err(Abort::Failed(error)) => Err(error),
    }
}

/// New attendees waiting to be inserted together, with consecutive local keys.
pub(super) struct NewRows {
    first_key: LocalKey,
    rows: Vec<AttendeeRecord>,
    /// Each row's HLC (an import stamps all its rows with one).
    hlcs: Vec<String>,
}

impl NewRows {
    /// Rows per `INSERT` (20 values each).
    const PER_INSERT: usize = 50;

    /// New rows keyed after every stored attendee (the import holds the write lock).
    pub(super) fn after(conn: &rusqlite::Connection) -> Result<Self> {
        let first_key = conn
            .query_row("SELECT coalesce(max(local_key), 0) + 1 FROM attendees", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        Ok(Self {
            first_key,
            rows: Vec::with_capacity(Self::PER_INSERT),
            hlcs: Vec::with_capacity(Self::PER_INSERT),
        })
    }

    /// The local key the next row pushed gets.
    pub(super) fn next_key(&self) -> LocalKey {
        self.first_key + self.rows.len() as LocalKey
    }

    pub(super) fn push(
        &mut self,
        conn: &rusqlite::Connection,
        row: AttendeeRecord,
        hlc: &str,
    ) -> Result<()> {
        self.rows.push(row);
        self.hlcs.push(hlc.to_owned());
        if self.rows.len() == Self::PER_INSERT {
            self.insert(conn)?;
        }
        Ok(())
    }

    /// Inserts the rows waiting.
    pub(super) fn insert(&mut self, conn: &rusqlite::Connection) -> Result<()> {
        insert_new_rows(conn, self.first_key, &self.rows, &self.hlcs)?;
        self.first_key = self.next_key();
        self.rows.clear();
        self.hlcs.clear();
        Ok(())
    }
}

/// The companies of the attendees an import created, each once.
#[derive(Default)]
pub(super) struct CompanySet(pub(super) foldhash::HashSet<Box<str>>);

impl CompanySet {
    pub(super) fn note(&mut self, company: &str) {
        if !self.0.contains(company) {
            self.0.insert(company.into());
        }
    }
}

/// What the running totals count an attendee by.
pub(super) fn counted(record: &AttendeeRecord) -> Counted<'_> {
    Counted {
        created_at: &record.created_at,
        category: &record.category,
        source: &record.source,
        country: &record.country,
        company: &record.company,
    }
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

/// Whether a row describes the stored attendee its registration code or ID number found:
/// the same name (after normalising), and no other ID document or registration code where
/// both have one. Anything else is another person, whom the row must not overwrite.
pub fn same_identity(stored: &AttendeeRecord, row: &AttendeeRecord) -> bool {
    let differs =
        |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
    search::normalize(&stored.name) == search::normalize(&row.name)
        && !differs(&stored.id_hash, &row.id_hash)
        && !differs(&stored.registration_code, &row.registration_code)
}

/// Whether a re-imported row would change anything the operator can see. The sealed ID
/// number differs on every sealing (random nonce), so the keyed hash stands for it.
pub fn same_content(a: &AttendeeRecord, b: &AttendeeRecord) -> bool {
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

/// Line numbers of byte offsets in a text read front to back: the csv crate's own count
/// knows only `\n`, so a CRLF file (what spreadsheet programs write) came out one line
/// short and a CR file all on line 1. Every `\r\n`, `\n` or lone `\r` ends a line.
struct LineCounter<'t> {
    text: &'t [u8],
    offset: usize,
    line: u64,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t str) -> Self {
        LineCounter { text: text.as_bytes(), offset: 0, line: 1 }
    }

    /// The line of the byte at `offset`, which is not before the one asked last. A CRLF
    /// ends its line at the CR: the csv crate may put the next record's start on its LF.
    fn line_at(&mut self, offset: u64) -> u64 {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX).min(self.text.len());
        if offset > self.offset {
            let text = self.text;
            let ends = (self.offset..offset)
                .filter(|&i| match text[i] {
                    b'\r' => true,
                    b'\n' => i == 0 || text[i - 1] != b'\r',
                    _ => false,
                })
                .count();
            self.line += ends as u64;
            self.offset = offset;
        }
        self.line
    }
}

/// Data rows with their line numbers in the file (the header is line 1), whether its
/// lines end in LF, CRLF or CR.
fn rows(text: &str) -> impl Iterator<Item = Result<(u64, csv::StringRecord), RowError>> + '_ {
    let mut lines = LineCounter::new(text);
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes())
        .into_records()
        .map(move |next| match next {
            Ok(record) => {
                let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
                Ok((line, record))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                let problem = FieldProblem::NotValidCsv { detail: e.to_string() };
                Err(RowError {
                    line,
                    field: "-".into(),
                    value: String::new(),
                    reason: problem.to_string(),
                    problem,
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
        chinese_name: get(Field::ChineseName),
    }
}

fn row_error(line: u64, input: &NewAttendee, field: &str, problem: FieldProblem) -> RowError {
    let value = match field {
        "registration_code" => input.registration_code.clone(),
        "name" => input.name.clone(),
        "chinese_name" => input.chinese_name.clone(),
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
    RowError {
        line,
        field: field.to_owned(),
        value: value.chars().take(80).collect(),
        reason: problem.to_string(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::demo::Generator;
    use crate::domain::AttendeeId;
    use crate::store::test_support::store_with_event;

    const HEADER: &str =
        "registration_code,name,company,title,category,phone,email,country,id_type,id_number\n";

    fn csv(rows: &[&str]) -> Vec<u8> {
        let mut text = HEADER.to_owned();
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        text.into_bytes()
    }

    fn import(store: &mut Store, rows: &[&str], options: ImportOptions) -> ImportReport {
        import_csv(store, &admin(), &csv(rows), options).expect("import")
    }

    fn admin() -> Operator {
        Operator::admin("test")
    }

    fn count(store: &Store, sql: &str) -> i64 {
        store.conn().query_row(sql, [], |r| r.get(0)).expect("count")
    }

    /// The search index holds exactly the terms of every stored attendee, as a single
    /// registration or edit would have written them.
    fn assert_index_matches_attendees(store: &Store) {
        let mut stmt =
            store.conn().prepare(&format!("SELECT {ATTENDEE_COLUMNS} FROM attendees")).unwrap();
        let expected: BTreeSet<(String, String)> = stmt
            .query_map([], row_to_record)
            .unwrap()
            .map(Result::unwrap)
            .flat_map(|record| {
                let id = record.id.to_string();
                search::terms_for(&record).into_iter().map(move |term| (term, id.clone()))
            })
            .collect();
        let mut stmt = store
            .conn()
            .prepare("SELECT t.term, a.id FROM search_terms t JOIN attendees a ON a.local_key = t.attendee_key")
            .unwrap();
        let stored: BTreeSet<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(stored, expected);
        let mut stmt = store.conn().prepare("SELECT DISTINCT company FROM attendees").unwrap();
        let companies: Vec<String> =
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        let mut known = store
            .conn()
            .prepare("SELECT count(*) FROM company_terms WHERE term = ?1 AND company = ?2")
            .unwrap();
        for company in companies {
            for term in search::company_terms(&company) {
                let found: i64 = known.query_row([&term, &company], |r| r.get(0)).unwrap();
                assert_eq!(found, 1, "{term} of {company}");
            }
        }
    }

    /// The running totals equal a count of the stored attendees, as the triggers would
    /// have kept them.
    fn assert_totals_match_attendees(store: &Store) {
        let rows = |sql: &str| -> BTreeSet<(String, String, i64)> {
            let mut stmt = store.conn().prepare(sql).unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(
            rows("SELECT dimension, value, attendees FROM stats_attendees WHERE attendees <> 0"),
            rows(
                "SELECT 'company', company, count(*) FROM attendees GROUP BY company \
                 UNION ALL SELECT 'country', country, count(*) FROM attendees GROUP BY country"
            )
        );
        assert_eq!(
            rows(
                "SELECT category, source, sum(registered) FROM stats_registrations \
                 GROUP BY category, source HAVING sum(registered) <> 0"
            ),
            rows("SELECT category, source, count(*) FROM attendees GROUP BY category, source")
        );
    }

    /// Edits the attendee with code R001 as a desk would: a new name, and the rest of
    /// the fields from the demo generator.
    fn rename_r001(store: &mut Store, name: &str) {
        let current = super::super::resolve(store.conn(), "R001").unwrap();
        let mut input = Generator::new(7).next_attendee();
        input.registration_code = "R001".into();
        input.name = name.into();
        super::super::edit(store, &admin(), AttendeeId(current.id), &input).unwrap();
    }

    fn names_found(store: &Store, query: &str) -> Vec<String> {
        search::search(store.conn(), query, 20, &[]).unwrap().into_iter().map(|h| h.name).collect()
    }

    #[test]
    fn imports_that_create_and_update_index_like_single_registrations() {
        let (_dir, mut store) = store_with_event();
        let first = import(
            &mut store,
            &[
                "R001,张三,上海国际展览有限公司,经理,exhibitor,13812345678,zs@example.com,中国,resident_id,11010519491231002X",
                "R002,John Smith,Acme GmbH,CTO,professional_visitor,+49 151 12345678,john@acme.de,Germany,,",
                "R003,欧阳娜娜,深圳光电有限公司,总监,professional_visitor,13987654321,,中国,,",
                "R004,李四,北京会展集团,工程师,public_visitor,13700001111,,中国,,",
                "R005,王五,广州贸易有限公司,销售,public_visitor,13700002222,,中国,,",
                "R006,赵六,杭州数字科技有限公司,经理,media,13700003333,zl@example.com,中国,,",
                "R007,Anna Berg,Nordic AB,CEO,vip,+46 70 1234567,anna@nordic.se,Sweden,,",
                "R008,孙七,成都软件有限公司,总监,exhibitor,13700004444,,中国,,",
            ],
            ImportOptions::default(),
        );
        assert_eq!(
            (first.created, first.updated, first.committed),
            (8, 0, true),
            "{:?}",
            first.errors
        );
        assert_index_matches_attendees(&store);
        assert_totals_match_attendees(&store);
        assert_eq!(names_found(&store, "zs"), ["张三"]);

        // A second file: one new person, one changed, one unchanged, and a person who
        // appears twice with a change on the second line.
        let second = import(
            &mut store,
            &[
                "R009,周八,苏州智能制造有限公司,经理,exhibitor,13700005555,,中国,,",
                "R002,John Smith,Acme AG,CTO,professional_visitor,+49 151 12345678,john@acme.de,Germany,,",
                "R003,欧阳娜娜,深圳光电有限公司,总监,professional_visitor,13987654321,,中国,,",
                "R010,吴九,重庆物流有限公司,主管,public_visitor,13700006666,,中国,,",
                "R010,吴九,重庆航运有限公司,主管,public_visitor,13700006666,,中国,,",
            ],
            ImportOptions::default(),
        );
        assert_eq!((second.created, second.updated, second.unchanged), (2, 2, 1));
        assert_index_matches_attendees(&store);
        assert_totals_match_attendees(&store);
        assert_eq!(names_found(&store, "acme"), ["John Smith"]);
        assert!(names_found(&store, "gmbh").is_empty(), "the old company's terms are gone");
        assert_eq!(names_found(&store, "航运"), ["吴九"]);
        assert!(names_found(&store, "物流").is_empty(), "the first line's terms are gone");

        // An edit after a bulk import keeps the index exact too.
        rename_r001(&mut store, "张三丰");
        assert_index_matches_attendees(&store);
        assert_totals_match_attendees(&store);
    }

    #[test]
    fn a_chinese_name_column_is_optional_and_its_names_are_found_like_the_names() {
        let (_dir, mut store) = store_with_event();
        // A file from before the column: imported as ever, no Chinese names.
        let old = import(
            &mut store,
            &["R001,John Smith,Acme GmbH,CTO,professional_visitor,,,Germany,,"],
            ImportOptions::default(),
        );
        assert_eq!((old.created, old.committed, old.ignored_columns.len()), (1, true, 0));
        assert_eq!(count(&store, "SELECT count(*) FROM attendees WHERE chinese_name <> ''"), 0);
        // The column, under its Chinese header: it updates John Smith, and an empty cell
        // is no Chinese name.
        let text = "注册码,姓名,中文姓名,公司,类别\nR001,John Smith,史密斯,Acme GmbH,professional_visitor\n\
                    R002,Anna Berg,,Nordic AB,vip\n";
        let new = import_csv(&mut store, &admin(), text.as_bytes(), ImportOptions::default())
            .expect("import");
        assert_eq!((new.created, new.updated, new.ignored_columns.len()), (1, 1, 0), "{new:?}");
        let sql = "SELECT count(*) FROM attendees WHERE chinese_name <> ''";
        assert_eq!(count(&store, &format!("{sql} AND registration_code = 'R001'")), 1);
        assert_eq!(count(&store, sql), 1, "an empty cell is no Chinese name");
        for query in ["史密斯", "shimisi", "sms", "smith"] {
            assert_eq!(names_found(&store, query), ["John Smith"], "{query}");
        }
        assert_index_matches_attendees(&store);
    }

    #[test]
    fn an_edit_replaces_terms_stored_otherwise_than_derived_now() {
        let (_dir, mut store) = store_with_event();
        let row = "R001,张三,上海国际展览有限公司,经理,exhibitor,13812345678,,中国,,";
        assert!(import(&mut store, &[row], ImportOptions::default()).committed);
        // As if an earlier version had derived other terms: one is missing, one is extra.
        store
            .conn()
            .execute_batch(
                "DELETE FROM search_terms WHERE term = 'zs'; \
                 INSERT INTO search_terms SELECT 'bygone', local_key FROM attendees",
            )
            .unwrap();
        rename_r001(&mut store, "张三丰");
        assert_index_matches_attendees(&store);
        assert!(names_found(&store, "bygone").is_empty());
    }

    #[test]
    fn company_terms_stored_with_an_attendee_by_older_versions_go_on_its_next_edit() {
        let (_dir, mut store) = store_with_event();
        let row = "R001,张三,上海国际展览有限公司,经理,exhibitor,13812345678,,中国,,";
        assert!(import(&mut store, &[row], ImportOptions::default()).committed);
        // What schema 5 stored: the company's terms among the attendee's own.
        for term in search::company_terms("上海国际展览有限公司") {
            store
                .conn()
                .execute("INSERT INTO search_terms SELECT ?1, local_key FROM attendees", [&term])
                .unwrap();
        }
        rename_r001(&mut store, "张三丰");
        assert_index_matches_attendees(&store);
        assert!(names_found(&store, "国际展览").is_empty(), "the old company no longer finds them");
    }

    #[test]
    fn a_bad_row_anywhere_writes_nothing_unless_skipped() {
        let good = "R001,张三,上海国际展览有限公司,经理,exhibitor,13812345678,,中国,,";
        let also_good = "R002,李四,北京会展集团,工程师,public_visitor,13700001111,,中国,,";
        let bad_category = "R003,王五,广州贸易有限公司,销售,astronaut,13700002222,,中国,,";
        let (_dir, mut store) = store_with_event();
        let audits_before = count(&store, "SELECT count(*) FROM audit");

        let refused =
            import(&mut store, &[good, also_good, bad_category], ImportOptions::default());
        assert_eq!((refused.rows, refused.invalid_rows, refused.committed), (3, 1, false));
        assert_eq!(refused.errors[0].line, 4);
        assert_eq!(count(&store, "SELECT count(*) FROM attendees"), 0);
        assert_eq!(count(&store, "SELECT count(*) FROM search_terms"), 0);
        assert_eq!(count(&store, "SELECT count(*) FROM audit"), audits_before);

        let dry = import(
            &mut store,
            &[good, bad_category],
            ImportOptions { dry_run: true, skip_invalid: true },
        );
        assert_eq!((dry.rows, dry.invalid_rows, dry.committed), (2, 1, false));
        assert_eq!(count(&store, "SELECT count(*) FROM attendees"), 0);

        let skipped = import(
            &mut store,
            &[good, bad_category, also_good],
            ImportOptions { skip_invalid: true, ..ImportOptions::default() },
        );
        assert_eq!((skipped.created, skipped.invalid_rows, skipped.committed), (2, 1, true));
        assert_eq!(count(&store, "SELECT count(*) FROM audit"), audits_before + 1);
        assert_index_matches_attendees(&store);
    }

    #[test]
    fn the_same_code_for_two_people_is_refused_on_the_later_line() {
        let (_dir, mut store) = store_with_event();
        let report = import(
            &mut store,
            &[
                "R001,张三,上海国际展览有限公司,经理,exhibitor,13812345678,,中国,,",
                "R001,李四,北京会展集团,工程师,public_visitor,13700001111,,中国,,",
            ],
            ImportOptions { skip_invalid: true, ..ImportOptions::default() },
        );
        assert_eq!((report.created, report.invalid_rows), (1, 1));
        assert_eq!(report.errors[0].line, 3);
        assert_eq!(report.errors[0].field, "registration_code");
        assert_eq!(names_found(&store, "R001"), ["张三"]);
    }

    #[test]
    fn line_numbers_are_file_lines_for_lf_crlf_and_cr_files() {
        let good = "R001,张三,上海国际展览有限公司,经理,exhibitor,13812345678,,中国,,";
        // A quoted field over two lines (refused: a name has no line break) moves every
        // later row down one more line.
        let quoted = "R002,\"李\n四\",北京会展集团,工程师,public_visitor,13700001111,,中国,,";
        let bad = "R003,王五,广州贸易有限公司,销售,astronaut,13700002222,,中国,,";
        for ending in ["\n", "\r\n", "\r"] {
            let quoted = quoted.replace('\n', ending);
            let text = [HEADER.trim_end(), good, &quoted, bad, bad].join(ending) + ending;
            let (_dir, mut store) = store_with_event();
            let options = ImportOptions { dry_run: true, ..ImportOptions::default() };
            let report = import_csv(&mut store, &admin(), text.as_bytes(), options).unwrap();
            let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
            assert_eq!(lines, [3, 5, 6], "line ending {ending:?}: {:?}", report.errors);
            assert_eq!(report.rows, 4, "line ending {ending:?}");
        }
    }

    #[test]
    fn a_row_matching_another_person_by_code_or_id_number_is_a_conflict_not_an_update() {
        let (_dir, mut store) = store_with_event();
        // The desk registered walk-in 李小明 with an ID number, and R001 is 张三.
        let walk_in = NewAttendee {
            name: "李小明".into(),
            category: "public_visitor".into(),
            id_number: "11010519491231002X".into(),
            ..NewAttendee::default()
        };
        let walk_in =
            super::super::register(&mut store, &admin(), &walk_in, Source::WalkIn).unwrap();
        import(
            &mut store,
            &["R001,张三,上海国际展览有限公司,经理,exhibitor,13812345678,,中国,,"],
            ImportOptions::default(),
        );
        let same_id = "X0001,王小二,北京会展集团,工程师,public_visitor,13700001111,,中国,resident_id,11010519491231002X";
        let same_code = "R001,李四,北京会展集团,工程师,public_visitor,13700001111,,中国,,";
        let fine = "R002,赵六,杭州数字科技有限公司,经理,public_visitor,13700003333,,中国,,";
        for dry_run in [true, false] {
            let report = import(
                &mut store,
                &[same_id, same_code, fine],
                ImportOptions { dry_run, skip_invalid: true },
            );
            assert_eq!(report.invalid_rows, 2, "dry run {dry_run}");
            let conflicts: Vec<(u64, &str, &str)> = report
                .conflicts
                .iter()
                .map(|c| (c.line, c.in_file.name.as_str(), c.stored.name.as_str()))
                .collect();
            assert_eq!(conflicts, [(2, "王*二", "李*明"), (3, "李*", "张*")], "dry run {dry_run}");
            let conflict = &report.conflicts[0];
            assert_eq!(conflict.in_file.id_number.as_deref(), Some("1101**********002X"));
            assert_eq!(conflict.stored.id_number.as_deref(), Some("1101**********002X"));
            let shown = conflict.to_string();
            assert!(!shown.contains("11010519491231002X") && !shown.contains("李小明"), "{shown}");
        }
        // Neither person was overwritten; the good row went in.
        let kept = super::super::load(store.conn(), AttendeeId(walk_in.id)).unwrap().unwrap();
        assert_eq!((kept.name.as_str(), kept.registration_code), ("李小明", None));
        assert_eq!(names_found(&store, "R001"), ["张三"]);
        assert_eq!(names_found(&store, "R002"), ["赵六"]);
    }

    #[test]
    fn an_import_needs_the_permission_and_rows_in_the_operators_categories() {
        let (_dir, mut store) = store_with_event();
        let rows = [
            "R001,张三,上海国际展览有限公司,经理,exhibitor,13812345678,,中国,,",
            "R002,李四,北京会展集团,工程师,public_visitor,13700001111,,中国,,",
        ];
        let desk = Operator {
            name: "desk1".into(),
            role: crate::operators::Role::Desk,
            categories: vec![],
        };
        let refused = import_csv(&mut store, &desk, &csv(&rows), ImportOptions::default());
        assert!(matches!(
            refused,
            Err(RegistrationError::Operator(crate::operators::OperatorError::Forbidden { .. }))
        ));
        assert_eq!(count(&store, "SELECT count(*) FROM attendees"), 0);
        assert_eq!(count(&store, "SELECT count(*) FROM audit WHERE action = 'refused'"), 1);

        let exhibitors_only = Operator { categories: vec!["exhibitor".into()], ..admin() };
        let options = ImportOptions { skip_invalid: true, ..ImportOptions::default() };
        let report = import_csv(&mut store, &exhibitors_only, &csv(&rows), options).unwrap();
        assert_eq!((report.created, report.invalid_rows), (1, 1));
        assert_eq!((report.errors[0].line, report.errors[0].field.as_str()), (3, "category"));
        assert_eq!(
            count(&store, "SELECT count(*) FROM attendees WHERE category <> 'exhibitor'"),
            0
        );
    }
}
