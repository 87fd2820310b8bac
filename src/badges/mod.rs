//! Badges: templates, PDF rendering, printers and the persistent print queue.
//!
//! - [`template`]: the layouts in `assets/badges/*.toml` (lanyard, CR80 card, 4×6 label).
//! - [`batch`]: many badges in one PDF, streamed to its file (pre-printing a category).
//! - [`fit`]: shrink-then-wrap text fitting from the font's own glyph advances.
//! - [`render`]: one PDF page per badge: subset CJK font, vector QR, logo, colour band.
//! - [`pdf`]: the PDF written page by page, so a batch of any size streams to its file.
//! - [`qr`]: the token's QR code, its mask chosen by the specification's penalty rules.
//! - [`printer`]: CUPS (`lp`), spool folder and `none` back-ends, `printers.toml`.
//! - [`queue`]: the print queue in SQLite, its crash recovery and its worker thread.

pub mod batch;
pub mod fit;
pub mod pdf;
pub mod printer;
pub mod qr;
pub mod queue;
pub mod render;
pub mod template;

use std::path::PathBuf;

pub use printer::{Backend, Printer, PrinterConfig, RetryPolicy};
pub use queue::{
    enqueue, jobs, JobError, JobId, JobStatus, PrintJobView, PrintWorker, WorkerUpdate,
};
pub use render::{cjk_font, render_pdf, BadgeData};
pub use template::Template;

use crate::operators::OperatorError;
use crate::registration::RegistrationError;
use crate::store::StoreError;

/// Why a badge did not print, as an operator reads it: typed, so the screen renders it in
/// their language (`ui::i18n::print_problem`); `Display` is the English of the CLI and logs.
/// A print job stores its last one (`queue::JobError`), serialised as JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum PrintProblem {
    #[error("no printer is set up for this station")]
    NoPrinter,
    #[error("unknown printer {0:?}")]
    UnknownPrinter(String),
    #[error("the printer settings (printers.toml) cannot be used")]
    PrinterSettings,
    #[error("a reprint needs a reason")]
    ReasonRequired,
    #[error("badge {serial} was already printed; reprint it with a reason to print it again")]
    AlreadyPrinted { serial: u16 },
    #[error("badge {serial} is {status}; it cannot be printed")]
    NotPrintable { serial: u16, status: String },
    #[error("printer {printer}: {fault}")]
    Printer { printer: String, fault: printer::PrinterFault },
    /// The print queue could not take the job (its worker or its database failed).
    #[error("the print queue is unavailable: {detail}")]
    QueueUnavailable { detail: String },
    /// A crash came while the badge was being handed to the printer, which cannot say
    /// whether it took it.
    #[error(
        "interrupted while handing the badge to the printer: check whether it printed, then \
         retry it with `print-queue --retry` if it did not"
    )]
    Interrupted,
    /// The badge could not be made (its template, font or data): not the printer's fault.
    #[error("cannot make the badge: {detail}")]
    CannotRender { detail: String },
}

impl BadgeError {
    /// What a print job that failed with this error stores: its printing problem, or else
    /// the badge that could not be made.
    pub fn job_problem(&self) -> PrintProblem {
        self.print_problem()
            .unwrap_or_else(|| PrintProblem::CannotRender { detail: self.to_string() })
    }

    /// The printing problem this error is, if it is one: not a registration, permission or
    /// layout problem, which the caller reports its own way.
    pub fn print_problem(&self) -> Option<PrintProblem> {
        Some(match self {
            BadgeError::NoPrinter => PrintProblem::NoPrinter,
            BadgeError::UnknownPrinter(name) => PrintProblem::UnknownPrinter(name.clone()),
            BadgeError::PrinterConfig { .. } => PrintProblem::PrinterSettings,
            BadgeError::ReasonRequired => PrintProblem::ReasonRequired,
            BadgeError::AlreadyPrinted { serial, .. } => {
                PrintProblem::AlreadyPrinted { serial: *serial }
            }
            BadgeError::BadgeNotPrintable { serial, status } => {
                PrintProblem::NotPrintable { serial: *serial, status: status.clone() }
            }
            BadgeError::Printer { printer, fault } => {
                PrintProblem::Printer { printer: printer.clone(), fault: fault.clone() }
            }
            BadgeError::Write(_) | BadgeError::Io { .. } => {
                PrintProblem::QueueUnavailable { detail: self.to_string() }
            }
            BadgeError::Store(_)
            | BadgeError::Registration(_)
            | BadgeError::Operator(_)
            | BadgeError::UnknownTemplate { .. }
            | BadgeError::InvalidTemplate { .. }
            | BadgeError::Font(_)
            | BadgeError::Render(_) => return None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BadgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("unknown badge template {name:?} (shipped: {known}; or give a path to a .toml file)")]
    UnknownTemplate { name: String, known: String },
    #[error("badge template {template}: {reason}")]
    InvalidTemplate { template: String, reason: String },
    #[error("the badge font cannot be used: {0}")]
    Font(String),
    #[error("cannot render the badge: {0}")]
    Render(String),
    #[error("writing the badge PDF: {0}")]
    Write(#[source] std::io::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("printer config {path}: {reason}")]
    PrinterConfig { path: PathBuf, reason: String },
    #[error("no printer given and no default printer in printers.toml (use --printer NAME, cups:QUEUE, spool:DIR or none)")]
    NoPrinter,
    #[error("unknown printer {0:?}: not in printers.toml, and not cups:QUEUE, spool:DIR or none")]
    UnknownPrinter(String),
    #[error("printer {printer}: {fault}")]
    Printer { printer: String, fault: printer::PrinterFault },
    #[error("a reprint needs a reason")]
    ReasonRequired,
    #[error("badge {serial} was already printed (job {job}); reprint it with a reason to print it again")]
    AlreadyPrinted { serial: u16, job: JobId },
    #[error("badge {serial} is {status}; it cannot be printed")]
    BadgeNotPrintable { serial: u16, status: String },
}
