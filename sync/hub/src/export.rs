//! `expo-hub export`: the current state of attendees, badges and gate decisions, as CSV
//! or JSON Lines files for the organiser's CRM.
//!
//! Attendees are exported with their masked ID number only: the sealed number and its
//! keyed hash are for stations and duplicate detection, never for a CRM. Each file is
//! written under a temporary name and renamed when complete, so a CRM import never
//! reads half a file. Files are the owner's alone (0600), and CSV cells a spreadsheet
//! would run as formulas are escaped ([`expo_sync::output::SpreadsheetCsv`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use uuid::Uuid;

use super::store::{HubStore, StoreError};
use expo_sync::output::{create_private, SpreadsheetCsv};
use expo_sync::protocol::{AttendeeRecord, Record};

/// Rows read from the store per round trip.
const PAGE: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("writing {path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error("writing {path}: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("the hub stores a {found} record under the {expected} kind")]
    UnexpectedKind { expected: &'static str, found: &'static str },
}

/// One exported file and how many rows it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedFile {
    pub path: PathBuf,
    pub rows: usize,
}

/// An attendee as the CRM sees it: flat, and without the sealed ID number or its hash.
#[derive(Serialize)]
struct AttendeeRow {
    id: Uuid,
    registration_code: Option<String>,
    name: String,
    company: String,
    title: String,
    phone: String,
    email: String,
    country: String,
    category: String,
    source: String,
    id_type: Option<String>,
    id_masked: Option<String>,
    consent: bool,
    /// `;`-separated, because a CSV cell holds one value.
    tags: String,
    created_at: String,
    updated_at: String,
    /// The attendee this one was merged into (`expo-hub conflicts merge`): the same person,
    /// to be counted once.
    merged_into: Option<Uuid>,
    /// The Chinese name beside `name`, when there is one (last: older readers of the file
    /// find every column where it was).
    chinese_name: String,
}

impl From<AttendeeRecord> for AttendeeRow {
    fn from(a: AttendeeRecord) -> Self {
        Self {
            id: a.id,
            registration_code: a.registration_code,
            name: a.name,
            company: a.company,
            title: a.title,
            phone: a.phone,
            email: a.email,
            country: a.country,
            category: a.category,
            source: a.source,
            id_type: a.id_type,
            id_masked: a.id_masked,
            consent: a.consent,
            tags: a.tags.join(";"),
            created_at: a.created_at,
            updated_at: a.updated_at,
            merged_into: a.merged_into,
            chinese_name: a.chinese_name,
        }
    }
}

/// Writes `attendees`, `badges` and `gate_decisions` files into `dir` (created if missing).
pub async fn export<S: HubStore>(
    store: &S,
    format: ExportFormat,
    dir: &Path,
) -> Result<Vec<ExportedFile>, ExportError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| ExportError::Io { path: dir.to_owned(), source })?;
    let attendees =
        export_kind(store, format, dir, "attendee", "attendees", |record| match record {
            Record::Attendee(a) => Ok(AttendeeRow::from(a)),
            other => Err(other.kind()),
        })
        .await?;
    let badges = export_kind(store, format, dir, "badge", "badges", |record| match record {
        Record::Badge(b) => Ok(b),
        other => Err(other.kind()),
    })
    .await?;
    let gates =
        export_kind(store, format, dir, "gate_decision", "gate_decisions", |record| match record {
            Record::GateDecision(g) => Ok(g),
            other => Err(other.kind()),
        })
        .await?;
    Ok(vec![attendees, badges, gates])
}

/// A file being written in one of the two formats.
enum RowWriter {
    /// Boxed: a CSV writer carries a large buffer of its own.
    Csv(Box<SpreadsheetCsv<BufWriter<File>>>),
    Jsonl(BufWriter<File>),
}

impl RowWriter {
    fn create(format: ExportFormat, path: &Path) -> Result<Self, ExportError> {
        let file = create_private(path)
            .map_err(|source| ExportError::Io { path: path.to_owned(), source })?;
        let file = BufWriter::new(file);
        Ok(match format {
            ExportFormat::Csv => RowWriter::Csv(Box::new(SpreadsheetCsv::new(file))),
            ExportFormat::Jsonl => RowWriter::Jsonl(file),
        })
    }

    fn write<T: Serialize>(&mut self, row: &T, path: &Path) -> Result<(), ExportError> {
        match self {
            RowWriter::Csv(writer) => writer
                .serialize(row)
                .map_err(|source| ExportError::Csv { path: path.to_owned(), source }),
            RowWriter::Jsonl(writer) => {
                serde_json::to_writer(&mut *writer, row)
                    .map_err(|source| ExportError::Json { path: path.to_owned(), source })?;
                writer
                    .write_all(b"\n")
                    .map_err(|source| ExportError::Io { path: path.to_owned(), source })
            }
        }
    }

    fn finish(self, path: &Path) -> Result<(), ExportError> {
        let io_error = |source| ExportError::Io { path: path.to_owned(), source };
        let file = match self {
            RowWriter::Csv(writer) => writer.into_inner().map_err(io_error)?,
            RowWriter::Jsonl(writer) => writer,
        };
        let file = file.into_inner().map_err(|e| io_error(e.into_error()))?;
        file.sync_all().map_err(io_error)
    }
}

async fn export_kind<S: HubStore, T: Serialize>(
    store: &S,
    format: ExportFormat,
    dir: &Path,
    kind: &'static str,
    file_stem: &str,
    to_row: impl Fn(Record) -> Result<T, &'static str>,
) -> Result<ExportedFile, ExportError> {
    let path = dir.join(format!("{file_stem}.{}", format.extension()));
    let partial = dir.join(format!(".{file_stem}.{}.partial", format.extension()));
    let mut writer = RowWriter::create(format, &partial)?;
    let mut rows = 0;
    let mut after = String::new();
    loop {
        let page = store.current_page(kind, &after, PAGE).await?;
        let Some((last_key, _)) = page.last() else { break };
        after = last_key.clone();
        for (_, record) in page {
            let row = to_row(record)
                .map_err(|found| ExportError::UnexpectedKind { expected: kind, found })?;
            writer.write(&row, &partial)?;
            rows += 1;
        }
    }
    writer.finish(&partial)?;
    std::fs::rename(&partial, &path)
        .map_err(|source| ExportError::Io { path: path.clone(), source })?;
    Ok(ExportedFile { path, rows })
}
