//! The persistent print queue. A job goes `queued → sending → sent → printed`, or ends
//! `failed` after the retry policy's last attempt. Every transition is one SQLite
//! transaction guarded by the state it leaves (so two workers never send one job), and
//! every visible state change writes its `Record::PrintJob` outbox row with it.
//!
//! Nothing is lost and nothing prints twice unasked: a job is in the table before any
//! printer sees it; a job found in `sending` after a crash is resolved by asking its
//! printer what happened (see [`Printer::resolve_interrupted`]), never by sending again
//! blindly; a badge that went out once is only printed again through a reprint.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use expo_sync::protocol::PrintJobRecord;
use expo_sync::Record;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::printer::{Interrupted, Printer, PrinterConfig, PrinterState};
use super::render::{render_pdf, BadgeData};
use super::template::Template;
use super::{BadgeError, PrintProblem};
use crate::domain::AttendeeId;
use crate::operators::{authorize, Operator, Permission};
use crate::registration::{self, badge, RegistrationError};
use crate::store::{now_rfc3339, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Sending,
    Sent,
    Printed,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Sending => "sending",
            JobStatus::Sent => "sent",
            JobStatus::Printed => "printed",
            JobStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Queued, Self::Sending, Self::Sent, Self::Printed, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// A job as the UI and `print-queue` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrintJobView {
    pub id: JobId,
    pub attendee_id: AttendeeId,
    pub attendee_name: String,
    pub badge_serial: u16,
    pub printer: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub last_error: Option<JobError>,
    pub printer_job: Option<String>,
    pub requested_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// Whether the badge it prints is still the attendee's active one. A failed job of a
    /// badge since reprinted or revoked is history, not something to print again.
    pub badge_active: bool,
}

/// Why a job's last attempt failed, as the queue stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobError {
    /// Typed, so a screen words it in the operator's language (`ui::error_text::job_error`).
    /// Boxed: a printer fault is large, and every job view carries this.
    Problem(Box<PrintProblem>),
    /// The English text a job stored before problems were typed (schema 9 and earlier).
    Legacy(String),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Problem(problem) => problem.fmt(f),
            JobError::Legacy(text) => f.write_str(text),
        }
    }
}

/// `print-queue --json` keeps `last_error` the English text scripts have always read.
impl Serialize for JobError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JobError {
    /// The `last_error` and `last_problem` columns that store it.
    fn columns(error: Option<&JobError>) -> (Option<&str>, Option<String>) {
        match error {
            None => (None, None),
            Some(JobError::Legacy(text)) => (Some(text), None),
            // Serialising plain data cannot fail; were it to, the English text is kept.
            Some(JobError::Problem(problem)) => match serde_json::to_string(problem) {
                Ok(json) => (None, Some(json)),
                Err(_) => (None, Some(problem.to_string())),
            },
        }
    }

    /// Read back from the columns: a problem this version cannot read (written by a newer
    /// one) still shows, as its stored text.
    fn from_columns(legacy: Option<String>, problem: Option<String>) -> Option<JobError> {
        match problem {
            Some(json) => Some(match serde_json::from_str(&json) {
                Ok(problem) => JobError::Problem(Box::new(problem)),
                Err(_) => JobError::Legacy(json),
            }),
            None => legacy.map(JobError::Legacy),
        }
    }
}

impl PrintJobView {
    /// A failed job worth sending again once the printer is back.
    pub fn needs_retry(&self) -> bool {
        self.status == JobStatus::Failed && self.badge_active
    }
}

/// Queues the attendee's badge for `printer`. Without `reprint_reason` this prints the
/// active badge (issuing it if needed) and refuses a badge that already went out; with
/// it (needs [`Permission::Reprint`]) it issues the next serial first, which revokes the
/// previous one where the event says so. Printing the same badge twice in a row returns
/// the job already queued.
pub fn enqueue(
    store: &mut Store,
    operator: &Operator,
    attendee: AttendeeId,
    reprint_reason: Option<&str>,
    printer: &str,
) -> Result<JobId, BadgeError> {
    let record = registration::load(store.conn(), attendee)?
        .ok_or_else(|| RegistrationError::NotFound(attendee.to_string()))?;
    authorize(store, operator, Permission::Print, Some(attendee), &[&record.category])?;
    let reprint_reason = match reprint_reason {
        Some(reason) => {
            authorize(store, operator, Permission::Reprint, Some(attendee), &[&record.category])?;
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(BadgeError::ReasonRequired);
            }
            Some(reason)
        }
        None => None,
    };
    let reprint = match reprint_reason {
        Some(reason) => Some((badge::plan_reprint(store, attendee)?, reason)),
        None => None,
    };
    let serial = match &reprint {
        Some((reprint, _)) => reprint.badge.serial,
        None => {
            let serial = badge::ensure_badge(store, operator, attendee)?.serial;
            if let Some(existing) = job_for_badge(store.conn(), attendee, serial)? {
                return reuse_job(store, operator, existing, serial, printer);
            }
            serial
        }
    };
    let id = JobId(Uuid::now_v7());
    let reprints = reprint_count(store.conn(), attendee)? + u32::from(reprint.is_some());
    store.write(|tx| {
        // The new serial and its print job are one change: a crash leaves both or neither.
        if let Some((reprint, reason)) = &reprint {
            reprint.write(tx, &operator.name, reason)?;
        }
        let now = now_rfc3339();
        tx.sql()
            .prepare_cached(
                "INSERT INTO print_jobs (id, attendee_id, badge_serial, printer, status, attempts, \
                 requested_by, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?6, ?6)",
            )?
            .execute(params![id.to_string(), attendee.to_string(), serial, printer, operator.name, now])?;
        let hlc = tx.tick();
        tx.emit(hlc, Record::PrintJob(wire(id, attendee, serial, printer, JobStatus::Queued, 0, None)))?;
        tx.audit(
            &operator.name,
            if reprint_reason.is_some() { "print_reprint" } else { "print_badge" },
            Some(attendee),
            json!({
                "job": id.0,
                "serial": serial,
                "printer": printer,
                "reason": reprint_reason,
                "reprints": reprints,
            }),
        )?;
        Ok::<_, StoreError>(())
    })?;
    Ok(id)
}

/// How many times the attendee's badge was reprinted.
pub fn reprint_count(conn: &Connection, attendee: AttendeeId) -> Result<u32, BadgeError> {
    let count = conn
        .prepare_cached("SELECT count(*) FROM audit WHERE attendee_id = ?1 AND action = 'reprint'")
        .and_then(|mut stmt| stmt.query_row([attendee.to_string()], |r| r.get(0)))
        .map_err(StoreError::from)?;
    Ok(count)
}

/// How many jobs wait to go out (queued, retrying or being sent), how many failed and
/// are worth retrying (their badge is still active), and how many went out to the printer
/// since a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub waiting: u64,
    pub failed: u64,
    pub sent_since: u64,
}

/// [`QueueCounts`], with `sent_since` counting from `since` (an RFC 3339 UTC time).
pub fn counts(conn: &Connection, since: &str) -> Result<QueueCounts, BadgeError> {
    conn.prepare_cached(
        "SELECT count(*) FILTER (WHERE j.status IN ('queued', 'sending')), \
         count(*) FILTER (WHERE j.status = 'failed' AND b.status = 'active'), \
         count(*) FILTER (WHERE j.status IN ('sent', 'printed') AND j.updated_at >= ?1) \
         FROM print_jobs j \
         LEFT JOIN badges b ON b.attendee_id = j.attendee_id AND b.serial = j.badge_serial",
    )
    .and_then(|mut stmt| {
        stmt.query_row([since], |r| {
            Ok(QueueCounts { waiting: r.get(0)?, failed: r.get(1)?, sent_since: r.get(2)? })
        })
    })
    .map_err(|e| StoreError::from(e).into())
}

/// The newest `limit` jobs, newest first.
pub fn jobs(conn: &Connection, limit: usize) -> Result<Vec<PrintJobView>, BadgeError> {
    let mut stmt = conn
        .prepare_cached(&format!("{JOB_SELECT} ORDER BY j.created_at DESC, j.id DESC LIMIT ?1"))
        .map_err(StoreError::from)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map([limit], read_job).map_err(StoreError::from)?;
    collect_jobs(rows)
}

/// One job by id.
pub fn job(conn: &Connection, id: JobId) -> Result<Option<PrintJobView>, BadgeError> {
    let row = conn
        .prepare_cached(&format!("{JOB_SELECT} WHERE j.id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id.to_string()], read_job).optional())
        .map_err(StoreError::from)?;
    row.transpose()
}

/// Puts every failed job of the attendees `operator` handles back in the queue with fresh
/// attempts: an operator's explicit "print these again" ([`Permission::Print`]). Returns
/// how many.
pub fn retry_failed(store: &mut Store, operator: &Operator) -> Result<usize, BadgeError> {
    authorize(store, operator, Permission::Print, None, &[])?;
    let mut failed = Vec::new();
    for job in jobs_with_status(store.conn(), JobStatus::Failed)? {
        let category = registration::load(store.conn(), job.attendee_id)?.map(|a| a.category);
        if job.needs_retry() && category.is_some_and(|category| operator.handles(&category)) {
            failed.push(job);
        }
    }
    for job in &failed {
        transition(store, job, JobStatus::Failed, Change::to(JobStatus::Queued).attempts(0))?;
        store.write(|tx| {
            tx.audit(
                &operator.name,
                "print_retry",
                Some(job.attendee_id),
                json!({ "job": job.id.0 }),
            )
        })?;
    }
    Ok(failed.len())
}

/// Resolves jobs a crash left in `sending`, asking each printer what happened. Returns
/// the jobs whose state changed.
pub fn recover(
    store: &mut Store,
    printers: &PrinterConfig,
) -> Result<Vec<PrintJobView>, BadgeError> {
    let mut changed = Vec::new();
    for job in jobs_with_status(store.conn(), JobStatus::Sending)? {
        let change = match printers.resolve(Some(&job.printer)) {
            Err(error) => Change::to(JobStatus::Failed).error(error.job_problem()),
            Ok(printer) => {
                match printer
                    .resolve_interrupted(&job.id.to_string(), job.printer_job.as_deref())?
                {
                    Interrupted::Sent(printer_job) => {
                        Change::to(JobStatus::Sent).printer_job(printer_job)
                    }
                    Interrupted::NotSent => Change::to(JobStatus::Queued),
                    Interrupted::Unknown => {
                        Change::to(JobStatus::Failed).error(PrintProblem::Interrupted)
                    }
                }
            }
        };
        if let Some(view) = transition(store, &job, JobStatus::Sending, change)? {
            changed.push(view);
        }
    }
    Ok(changed)
}

/// One pass of the queue: sends every job that is due (new, or its backoff elapsed),
/// then marks `printed` the sent jobs the printer has taken. Returns the jobs whose state
/// changed, in order.
pub fn process_due(
    store: &mut Store,
    printers: &PrinterConfig,
) -> Result<Vec<PrintJobView>, BadgeError> {
    let mut changed = Vec::new();
    let now = Utc::now();
    for job in jobs_with_status(store.conn(), JobStatus::Queued)? {
        if is_due(&job, &printers.retry, now) {
            changed.extend(send(store, printers, &job)?);
        }
    }
    for job in jobs_with_status(store.conn(), JobStatus::Sent)? {
        let (Ok(printer), Some(printer_job)) =
            (printers.resolve(Some(&job.printer)), &job.printer_job)
        else {
            continue;
        };
        // A printer that cannot be asked right now is asked again on the next pass.
        if let Ok(PrinterState::Done) = printer.state(printer_job) {
            changed.extend(transition(
                store,
                &job,
                JobStatus::Sent,
                Change::to(JobStatus::Printed),
            )?);
        }
    }
    Ok(changed)
}

fn is_due(job: &PrintJobView, policy: &super::printer::RetryPolicy, now: DateTime<Utc>) -> bool {
    if job.attempts == 0 {
        return true;
    }
    let Ok(last) = DateTime::parse_from_rfc3339(&job.updated_at) else {
        return true;
    };
    let wait = chrono::Duration::from_std(policy.backoff(job.attempts))
        .unwrap_or_else(|_| chrono::Duration::zero());
    last.with_timezone(&Utc) + wait <= now
}

/// Sends one queued job. Rendering problems (revoked or superseded badge, bad template)
/// fail the job at once; printer problems are retried per the policy.
fn send(
    store: &mut Store,
    printers: &PrinterConfig,
    job: &PrintJobView,
) -> Result<Vec<PrintJobView>, BadgeError> {
    let mut changed = Vec::new();
    let printer = match printers.resolve(Some(&job.printer)) {
        Ok(printer) => printer,
        Err(error) => {
            let fail = Change::to(JobStatus::Failed).error(error.job_problem());
            return Ok(transition(store, job, JobStatus::Queued, fail)?.into_iter().collect());
        }
    };
    let pdf = match render_job(store, job, &printer) {
        Ok(pdf) => pdf,
        Err(error) => {
            let fail = Change::to(JobStatus::Failed).error(error.job_problem());
            return Ok(transition(store, job, JobStatus::Queued, fail)?.into_iter().collect());
        }
    };
    let attempts = job.attempts + 1;
    let sending = Change::to(JobStatus::Sending).attempts(attempts);
    let Some(job) = transition(store, job, JobStatus::Queued, sending)? else {
        return Ok(changed); // another worker took it
    };
    changed.push(job.clone());
    let name = job.id.to_string();
    let outcome = printer.stage(&name, &pdf).and_then(|staged| {
        if let Some(reference) = &staged.printer_job {
            // Recorded before the commit, so a crash after it is resolved as sent.
            let staged_change = Change::to(JobStatus::Sending).printer_job(reference.clone());
            transition(store, &job, JobStatus::Sending, staged_change)?;
        }
        printer.commit(&name, staged)
    });
    let change = match outcome {
        Ok(printer_job) => Change::to(JobStatus::Sent).printer_job(printer_job),
        Err(error) if attempts >= printers.retry.max_attempts => {
            Change::to(JobStatus::Failed).error(error.job_problem())
        }
        Err(error) => Change::to(JobStatus::Queued).error(error.job_problem()),
    };
    changed.extend(transition(store, &job, JobStatus::Sending, change)?);
    Ok(changed)
}

fn render_job(
    store: &mut Store,
    job: &PrintJobView,
    printer: &Printer,
) -> Result<Vec<u8>, BadgeError> {
    let current = badge::badges_of(store.conn(), job.attendee_id)?
        .into_iter()
        .find(|b| b.serial == job.badge_serial)
        .ok_or(BadgeError::BadgeNotPrintable {
            serial: job.badge_serial,
            status: "missing".into(),
        })?;
    if current.status != "active" {
        return Err(BadgeError::BadgeNotPrintable {
            serial: job.badge_serial,
            status: current.status,
        });
    }
    let issued = badge::active_badge(store, job.attendee_id)?;
    let record = registration::load(store.conn(), job.attendee_id)?
        .ok_or_else(|| RegistrationError::NotFound(job.attendee_id.to_string()))?;
    let definition = &store.event()?.definition;
    let template_name = printer.template.as_deref().unwrap_or(&definition.event.badge_template);
    let template = Template::load(template_name)?;
    let data = BadgeData::for_attendee(definition, &record, issued.token)?;
    render_pdf(&template, [data])
}

/// A state change: the new status and what else it sets.
struct Change {
    status: JobStatus,
    printer: Option<String>,
    attempts: Option<u32>,
    printer_job: Option<String>,
    error: Option<PrintProblem>,
}

impl Change {
    fn to(status: JobStatus) -> Self {
        Change { status, printer: None, attempts: None, printer_job: None, error: None }
    }

    fn printer(self, printer: &str) -> Self {
        Change { printer: Some(printer.to_owned()), ..self }
    }

    fn attempts(self, attempts: u32) -> Self {
        Change { attempts: Some(attempts), ..self }
    }

    fn printer_job(self, printer_job: String) -> Self {
        Change { printer_job: Some(printer_job), ..self }
    }

    fn error(self, error: PrintProblem) -> Self {
        Change { error: Some(error), ..self }
    }
}

/// Applies `change` if the job is still in state `from`; returns the updated job, or
/// None when someone else moved it first. A new error replaces the last one; a success
/// clears it.
fn transition(
    store: &mut Store,
    job: &PrintJobView,
    from: JobStatus,
    change: Change,
) -> Result<Option<PrintJobView>, BadgeError> {
    let printer = change.printer.unwrap_or_else(|| job.printer.clone());
    let attempts = change.attempts.unwrap_or(job.attempts);
    let printer_job = change.printer_job.or_else(|| job.printer_job.clone());
    let last_error = match change.status {
        JobStatus::Sent | JobStatus::Printed => None,
        _ => change
            .error
            .map(|problem| JobError::Problem(Box::new(problem)))
            .or_else(|| job.last_error.clone()),
    };
    let (legacy_error, problem) = JobError::columns(last_error.as_ref());
    let updated_at = now_rfc3339();
    let applied = store.write(|tx| {
        let rows = tx
            .sql()
            .prepare_cached(
                "UPDATE print_jobs SET status = ?1, attempts = ?2, last_error = ?3, printer_job = ?4, \
                 updated_at = ?5, printer = ?6, last_problem = ?9 WHERE id = ?7 AND status = ?8",
            )?
            .execute(params![
                change.status.as_str(),
                attempts,
                legacy_error,
                printer_job,
                updated_at,
                printer,
                job.id.to_string(),
                from.as_str(),
                problem
            ])?;
        // `sending` is the queue's own bookkeeping; other stations see the outcome.
        let visible = change.status != JobStatus::Sending
            && (change.status != from || printer != job.printer);
        if rows == 1 && visible {
            let hlc = tx.tick();
            let record = wire(
                job.id,
                job.attendee_id,
                job.badge_serial,
                &printer,
                change.status,
                attempts,
                // The hub's operations console reads the English text.
                last_error.as_ref().map(ToString::to_string),
            );
            tx.emit(hlc, Record::PrintJob(record))?;
        }
        Ok::<_, StoreError>(rows == 1)
    })?;
    Ok(applied.then(|| PrintJobView {
        status: change.status,
        printer,
        attempts,
        last_error,
        printer_job,
        updated_at,
        ..job.clone()
    }))
}

fn wire(
    id: JobId,
    attendee: AttendeeId,
    serial: u16,
    printer: &str,
    status: JobStatus,
    attempts: u32,
    error: Option<String>,
) -> PrintJobRecord {
    PrintJobRecord {
        id: id.0,
        attendee_id: attendee.0,
        badge_serial: u32::from(serial),
        printer: printer.to_owned(),
        status: status.as_str().to_owned(),
        attempts,
        error,
        at: now_rfc3339(),
    }
}

/// The job for this attendee's badge serial, if one was made.
fn job_for_badge(
    conn: &Connection,
    attendee: AttendeeId,
    serial: u16,
) -> Result<Option<PrintJobView>, BadgeError> {
    let row = conn
        .prepare_cached(&format!(
            "{JOB_SELECT} WHERE j.attendee_id = ?1 AND j.badge_serial = ?2 ORDER BY j.created_at DESC LIMIT 1"
        ))
        .and_then(|mut stmt| stmt.query_row(params![attendee.to_string(), serial], read_job).optional())
        .map_err(StoreError::from)?;
    row.transpose()
}

/// A second print of a badge that already has a job: the same job while it is still
/// on its way, the failed job queued again, and a refusal once it went out. A job not yet
/// sent moves to the printer asked for now (the first one jammed: print it on the spare).
fn reuse_job(
    store: &mut Store,
    operator: &Operator,
    existing: PrintJobView,
    serial: u16,
    printer: &str,
) -> Result<JobId, BadgeError> {
    let (action, change) = match existing.status {
        JobStatus::Queued | JobStatus::Failed if existing.printer != printer => {
            ("print_moved", Change::to(JobStatus::Queued).attempts(0).printer(printer))
        }
        JobStatus::Queued | JobStatus::Sending => return Ok(existing.id),
        JobStatus::Failed => ("print_retry", Change::to(JobStatus::Queued).attempts(0)),
        JobStatus::Sent | JobStatus::Printed => {
            return Err(BadgeError::AlreadyPrinted { serial, job: existing.id })
        }
    };
    // None: the worker took the job first, so it is on its way where it was.
    if transition(store, &existing, existing.status, change)?.is_some() {
        store.write(|tx| {
            tx.audit(
                &operator.name,
                action,
                Some(existing.attendee_id),
                json!({ "job": existing.id.0, "from": existing.printer, "to": printer }),
            )
        })?;
    }
    Ok(existing.id)
}

fn jobs_with_status(conn: &Connection, status: JobStatus) -> Result<Vec<PrintJobView>, BadgeError> {
    let mut stmt = conn
        .prepare_cached(&format!("{JOB_SELECT} WHERE j.status = ?1 ORDER BY j.created_at, j.id"))
        .map_err(StoreError::from)?;
    let rows = stmt.query_map([status.as_str()], read_job).map_err(StoreError::from)?;
    collect_jobs(rows)
}

const JOB_SELECT: &str =
    "SELECT j.id, j.attendee_id, coalesce(a.name, ''), j.badge_serial, j.printer, \
     j.status, j.attempts, j.last_error, j.printer_job, j.requested_by, j.created_at, j.updated_at, \
     coalesce(b.status = 'active', 0), j.last_problem \
     FROM print_jobs j LEFT JOIN attendees a ON a.id = j.attendee_id \
     LEFT JOIN badges b ON b.attendee_id = j.attendee_id AND b.serial = j.badge_serial";

/// A row of [`JOB_SELECT`]; the inner result reports a corrupt row.
fn read_job(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<PrintJobView, BadgeError>> {
    let id: String = row.get(0)?;
    let attendee: String = row.get(1)?;
    let status: String = row.get(5)?;
    let corrupt =
        |what: &str| BadgeError::Store(StoreError::Corrupt(format!("print job {id}: {what}")));
    let (Ok(job_id), Ok(attendee_id), Some(status)) =
        (Uuid::parse_str(&id), Uuid::parse_str(&attendee), JobStatus::parse(&status))
    else {
        return Ok(Err(corrupt("id, attendee or status")));
    };
    Ok(Ok(PrintJobView {
        id: JobId(job_id),
        attendee_id: AttendeeId(attendee_id),
        attendee_name: row.get(2)?,
        badge_serial: row.get(3)?,
        printer: row.get(4)?,
        status,
        attempts: row.get(6)?,
        last_error: JobError::from_columns(row.get(7)?, row.get(13)?),
        printer_job: row.get(8)?,
        requested_by: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
        badge_active: row.get(12)?,
    }))
}

/// Flattens the rows of [`read_job`].
fn collect_jobs(
    rows: impl Iterator<Item = rusqlite::Result<Result<PrintJobView, BadgeError>>>,
) -> Result<Vec<PrintJobView>, BadgeError> {
    rows.map(|row| -> Result<PrintJobView, BadgeError> { row.map_err(StoreError::from)? }).collect()
}

/// What the worker reports to whoever shows the queue.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerUpdate {
    /// A job changed state.
    Job(PrintJobView),
    /// The worker could not do a pass (it tries again on the next one).
    Error(String),
}

enum Control {
    Wake,
    Stop,
}

/// The print queue's own thread, with its own store connection: resolves interrupted
/// jobs at start, then sends due jobs and confirms sent ones every `POLL` or when woken.
pub struct PrintWorker {
    updates: Receiver<WorkerUpdate>,
    control: Sender<Control>,
    thread: Option<JoinHandle<()>>,
}

impl PrintWorker {
    const POLL: Duration = Duration::from_secs(1);

    pub fn spawn(data_dir: PathBuf, printers: PrinterConfig) -> PrintWorker {
        let (update_tx, updates) = mpsc::channel();
        let (control, control_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("print-queue".into())
            .spawn(move || run_worker(&data_dir, &printers, &update_tx, &control_rx));
        let thread = match thread {
            Ok(handle) => Some(handle),
            Err(e) => {
                // Reported on the channel the caller reads: the queue stays persistent,
                // so the jobs wait for the next worker.
                let (report, receiver) = mpsc::channel();
                let _ =
                    report.send(WorkerUpdate::Error(format!("cannot start the print worker: {e}")));
                return PrintWorker { updates: receiver, control, thread: None };
            }
        };
        PrintWorker { updates, control, thread }
    }

    /// State changes, in order.
    pub fn updates(&self) -> &Receiver<WorkerUpdate> {
        &self.updates
    }

    /// Process the queue now (after an enqueue) instead of at the next poll.
    pub fn wake(&self) {
        // A worker that has stopped has nothing to wake; the job waits in the table.
        let _ = self.control.send(Control::Wake);
    }
}

impl Drop for PrintWorker {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(thread) = self.thread.take() {
            // A panicked worker has already stopped; nothing is left to clean up.
            let _ = thread.join();
        }
    }
}

fn run_worker(
    data_dir: &std::path::Path,
    printers: &PrinterConfig,
    updates: &Sender<WorkerUpdate>,
    control: &Receiver<Control>,
) {
    let mut store = match Store::open(data_dir) {
        Ok(store) => store,
        Err(e) => {
            let _ = updates.send(WorkerUpdate::Error(format!("print worker: {e}")));
            return;
        }
    };
    let publish = |result: Result<Vec<PrintJobView>, BadgeError>| -> bool {
        let messages = match result {
            Ok(jobs) => jobs.into_iter().map(WorkerUpdate::Job).collect(),
            Err(e) => vec![WorkerUpdate::Error(e.to_string())],
        };
        // Nobody listening any more means the worker's owner is gone.
        messages.into_iter().all(|message| updates.send(message).is_ok())
    };
    if !publish(recover(&mut store, printers)) {
        return;
    }
    loop {
        if !publish(process_due(&mut store, printers)) {
            return;
        }
        match control.recv_timeout(PrintWorker::POLL) {
            Ok(Control::Wake) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
