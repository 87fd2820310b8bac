//! Printer back-ends: a CUPS queue through `lp`, a spool directory (the hot folder a
//! badge printer's own software watches), and `none`.
//!
//! Sending is split in two steps, [`Printer::stage`] and [`Printer::commit`], so the
//! print queue can record in between what it is about to do and, after a crash, find out
//! whether a job went out without sending it again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::BadgeError;

/// The printers file in a station's data directory.
pub const CONFIG_FILE: &str = "printers.toml";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backend {
    /// A CUPS queue, printed to with `lp -d QUEUE`.
    Cups { queue: String },
    /// A hot folder: each badge appears in it as `<job id>.pdf`, atomically.
    Spool { dir: PathBuf },
    /// Nothing is printed; jobs complete at once (a station that never prints).
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Printer {
    pub name: String,
    #[serde(flatten)]
    pub backend: Backend,
    /// The badge template this printer's media needs; default: the event's template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// How often and how patiently a failing job is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts before a job is marked failed (an operator can retry it then).
    pub max_attempts: u32,
    /// Wait before the second attempt; it doubles for each further attempt.
    pub backoff_seconds: u64,
    /// The longest wait between attempts.
    pub max_backoff_seconds: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, backoff_seconds: 2, max_backoff_seconds: 60 }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts.
    pub fn backoff(&self, attempts: u32) -> std::time::Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        let seconds = self.backoff_seconds.saturating_mul(1 << doublings);
        std::time::Duration::from_secs(seconds.min(self.max_backoff_seconds))
    }
}

/// The station's printers (`printers.toml`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// The printer used when a command names none.
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default, rename = "printer")]
    pub printers: Vec<Printer>,
}

impl PrinterConfig {
    /// `printers.toml` from the data directory; no file means no configured printers.
    pub fn load(data_dir: &Path) -> Result<Self, BadgeError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(BadgeError::Io { path, source }),
        };
        Self::parse(&text).map_err(|reason| BadgeError::PrinterConfig { path, reason })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let config: PrinterConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        if config.retry.max_attempts == 0 {
            return Err("retry.max_attempts must be at least 1".into());
        }
        for (index, printer) in config.printers.iter().enumerate() {
            if config.printers[..index].iter().any(|p| p.name == printer.name) {
                return Err(format!("printer {:?} is configured twice", printer.name));
            }
        }
        if let Some(default) = &config.default {
            if config.find(default).is_none() {
                return Err(format!("the default printer {default:?} is not configured"));
            }
        }
        Ok(config)
    }

    fn find(&self, name: &str) -> Option<&Printer> {
        self.printers.iter().find(|p| p.name == name)
    }

    /// The printer a command or job names: a configured name, or an ad-hoc
    /// `cups:QUEUE`, `spool:DIR` or `none`. No name means the default printer.
    pub fn resolve(&self, name: Option<&str>) -> Result<Printer, BadgeError> {
        let name = match name.or(self.default.as_deref()) {
            Some(name) => name,
            None => return Err(BadgeError::NoPrinter),
        };
        if let Some(printer) = self.find(name) {
            return Ok(printer.clone());
        }
        let backend = if let Some(queue) = name.strip_prefix("cups:") {
            Backend::Cups { queue: queue.to_owned() }
        } else if let Some(dir) = name.strip_prefix("spool:") {
            Backend::Spool { dir: PathBuf::from(dir) }
        } else if name == "none" {
            Backend::None
        } else {
            return Err(BadgeError::UnknownPrinter(name.to_owned()));
        };
        Ok(Printer { name: name.to_owned(), backend, template: None })
    }
}

/// What [`Printer::stage`] prepared for [`Printer::commit`].
#[derive(Debug)]
pub struct Staged {
    /// The temporary file handed to `lp` (deleted once CUPS has its copy).
    cups_file: Option<tempfile::TempPath>,
    /// What will identify the job at the printer once committed (the spool file name),
    /// when it is known before the commit.
    pub printer_job: Option<String>,
}

/// Where a job stands at its printer, as far as the station can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrinterState {
    /// Still waiting at the printer (in the CUPS queue, or in the hot folder).
    Pending,
    /// The printer took it: CUPS completed it, or the hot-folder software picked it up.
    Done,
}

/// What went wrong between the station and its printer. `detail` is the operating
/// system's or CUPS's own words, kept for the log and the English report; a screen renders
/// the fault itself in the operator's language (`ui::i18n::printer_fault`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrinterFault {
    #[error("cannot write the badge file: {detail}")]
    StageFile { detail: String },
    #[error("cannot write to the spool folder {}: {detail}", .dir.display())]
    SpoolWrite { dir: PathBuf, detail: String },
    #[error("cannot move the badge into {}: {detail}", .dir.display())]
    SpoolPublish { dir: PathBuf, detail: String },
    #[error("nothing was staged")]
    NothingStaged,
    #[error("the `lp` command is missing: install CUPS (Debian: cups-client)")]
    LpMissing,
    #[error("cannot run lp: {detail}")]
    LpNotRun { detail: String },
    #[error("lp -d {queue} failed: {detail}")]
    LpRefused { queue: String, detail: String },
    #[error("lp gave no request id: {detail}")]
    LpNoRequestId { detail: String },
    #[error("cannot run lpstat: {detail}")]
    Lpstat { detail: String },
}

/// What a job interrupted between stage and commit turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// The printer has it (or it was finished now): the job is sent.
    Sent(String),
    /// Nothing reached the printer: sending it is safe.
    NotSent,
    /// The printer may or may not have it: only a person can tell.
    Unknown,
}

impl Printer {
    /// Writes the badge where the commit will take it from. Nothing is printed yet.
    pub fn stage(&self, job: &str, pdf: &[u8]) -> Result<Staged, BadgeError> {
        match &self.backend {
            Backend::None => Ok(Staged { cups_file: None, printer_job: None }),
            Backend::Cups { .. } => {
                let file = write_cups_temp(pdf)
                    .map_err(|e| self.error(PrinterFault::StageFile { detail: e.to_string() }))?;
                Ok(Staged { cups_file: Some(file), printer_job: None })
            }
            Backend::Spool { dir } => {
                write_durably(&dir.join(part_name(job)), pdf).map_err(|e| {
                    self.error(PrinterFault::SpoolWrite { dir: dir.clone(), detail: e.to_string() })
                })?;
                Ok(Staged { cups_file: None, printer_job: Some(spool_name(job)) })
            }
        }
    }

    /// Hands the staged badge to the printer; returns the printer's job reference.
    pub fn commit(&self, job: &str, staged: Staged) -> Result<String, BadgeError> {
        match (&self.backend, staged.cups_file) {
            (Backend::None, _) => Ok("none".into()),
            (Backend::Cups { queue }, Some(file)) => self.lp(queue, job, &file),
            (Backend::Cups { .. }, None) => Err(self.error(PrinterFault::NothingStaged)),
            (Backend::Spool { dir }, _) => self.publish_spool_file(dir, job),
        }
    }

    /// Resolves a job found half-sent after a crash, without a blind re-send. `recorded`
    /// is the printer job the queue recorded after staging, if it got that far.
    pub fn resolve_interrupted(
        &self,
        job: &str,
        recorded: Option<&str>,
    ) -> Result<Interrupted, BadgeError> {
        match &self.backend {
            Backend::None => Ok(Interrupted::NotSent),
            // `lp` returns the request id only once CUPS has the job; it was recorded in
            // the same transaction that marked the job sent. Without it, CUPS may or may
            // not have the job.
            Backend::Cups { .. } => Ok(match recorded {
                Some(id) => Interrupted::Sent(id.to_owned()),
                None => Interrupted::Unknown,
            }),
            Backend::Spool { dir } => {
                let part = dir.join(part_name(job));
                match (part.exists(), recorded) {
                    // Staged completely (the queue recorded it after the fsync): finish.
                    (true, Some(_)) => self.publish_spool_file(dir, job).map(Interrupted::Sent),
                    // Possibly half-written: drop it, nothing was visible to the printer.
                    (true, None) => {
                        std::fs::remove_file(&part)
                            .map_err(|source| BadgeError::Io { path: part, source })?;
                        Ok(Interrupted::NotSent)
                    }
                    // Renamed: the file waits in the folder or the printer already took it.
                    (false, Some(name)) => Ok(Interrupted::Sent(name.to_owned())),
                    (false, None) if dir.join(spool_name(job)).exists() => {
                        Ok(Interrupted::Sent(spool_name(job)))
                    }
                    (false, None) => Ok(Interrupted::NotSent),
                }
            }
        }
    }

    /// Whether a job committed earlier has been taken by the printer.
    pub fn state(&self, printer_job: &str) -> Result<PrinterState, BadgeError> {
        match &self.backend {
            Backend::None => Ok(PrinterState::Done),
            Backend::Spool { dir } => Ok(if dir.join(printer_job).exists() {
                PrinterState::Pending
            } else {
                PrinterState::Done
            }),
            Backend::Cups { queue } => {
                let output = Command::new("lpstat")
                    .args(["-W", "completed", "-o", queue])
                    .output()
                    .map_err(|e| self.error(PrinterFault::Lpstat { detail: e.to_string() }))?;
                let completed = String::from_utf8_lossy(&output.stdout);
                let done = completed
                    .lines()
                    .any(|line| line.split_whitespace().next() == Some(printer_job));
                Ok(if done { PrinterState::Done } else { PrinterState::Pending })
            }
        }
    }

    /// The atomic step: the hot folder sees the complete file appear under its name.
    fn publish_spool_file(&self, dir: &Path, job: &str) -> Result<String, BadgeError> {
        let name = spool_name(job);
        std::fs::rename(dir.join(part_name(job)), dir.join(&name))
            .and_then(|()| sync_dir(dir))
            .map_err(|e| {
                self.error(PrinterFault::SpoolPublish {
                    dir: dir.to_path_buf(),
                    detail: e.to_string(),
                })
            })?;
        Ok(name)
    }

    fn lp(&self, queue: &str, job: &str, file: &Path) -> Result<String, BadgeError> {
        let output = Command::new("lp")
            .arg("-d")
            .arg(queue)
            .arg("-t")
            .arg(format!("expo-kiosk-{job}"))
            .arg(file)
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => self.error(PrinterFault::LpMissing),
                _ => self.error(PrinterFault::LpNotRun { detail: e.to_string() }),
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(self.error(PrinterFault::LpRefused {
                queue: queue.to_owned(),
                detail: stderr.trim().to_owned(),
            }));
        }
        parse_lp_request_id(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| {
            self.error(PrinterFault::LpNoRequestId {
                detail: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            })
        })
    }

    fn error(&self, fault: PrinterFault) -> BadgeError {
        BadgeError::Printer { printer: self.name.clone(), fault }
    }
}

/// A printer's queue list as CUPS knows it (`lpstat -e`); empty without CUPS.
pub fn cups_queues() -> Vec<String> {
    cups_status().unwrap_or_default()
}

/// Why CUPS gave no queue list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CupsUnavailable {
    /// `lpstat` is not installed.
    #[error("CUPS is not installed (no lpstat)")]
    NotInstalled,
    /// `lpstat` ran and failed: the scheduler is not running, most often.
    #[error("CUPS does not answer: {0}")]
    NotAnswering(String),
}

/// The CUPS queues (`lpstat -e`), or why there is no list (for `doctor`).
pub fn cups_status() -> Result<Vec<String>, CupsUnavailable> {
    let output = Command::new("lpstat").arg("-e").output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CupsUnavailable::NotInstalled,
        _ => CupsUnavailable::NotAnswering(e.to_string()),
    })?;
    if !output.status.success() {
        let reason = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        return Err(CupsUnavailable::NotAnswering(reason));
    }
    Ok(String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect())
}

fn spool_name(job: &str) -> String {
    format!("{job}.pdf")
}

/// The name a spool file is written under before it is complete: hidden, and not a
/// `.pdf`, so the printer software ignores it until the rename.
fn part_name(job: &str) -> String {
    format!(".{job}.pdf.part")
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn write_cups_temp(bytes: &[u8]) -> std::io::Result<tempfile::TempPath> {
    let mut file =
        tempfile::Builder::new().prefix("expo-kiosk-badge-").suffix(".pdf").tempfile()?;
    file.write_all(bytes)?;
    file.flush()?;
    Ok(file.into_temp_path())
}

/// Makes a rename durable: the directory entry itself must reach the disk.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// `request id is Badges-42 (1 file(s))` → `Badges-42`.
fn parse_lp_request_id(stdout: &str) -> Option<String> {
    let rest = stdout.split("request id is ").nth(1)?;
    let id = rest.split_whitespace().next()?;
    Some(id.to_owned())
}

/// A test badge that reached a printer.
#[derive(Clone, Debug)]
pub struct TestPrint {
    pub printer: String,
    pub template: String,
    /// The PDF's size.
    pub bytes: usize,
    /// The printer's job reference.
    pub reference: String,
}

impl Printer {
    /// Prints a made-up attendee's badge of a "test print" category on `template` through
    /// this printer's real back-end, staged and committed as a queued badge is (`printers
    /// test`, the admin's Devices tab). Its QR code is no valid badge.
    pub fn print_test_badge(
        &self,
        template: &super::Template,
        event: &str,
    ) -> Result<TestPrint, BadgeError> {
        let category = crate::domain::Category {
            id: "test".into(),
            label_zh: "测试".into(),
            label_en: "Test print".into(),
            colour: "#1E88E5".into(),
            required: Vec::new(),
            max_entries_per_day: None,
            access: Vec::new(),
        };
        let badge = super::BadgeData::sample(event, &category);
        let pdf = super::render_pdf(template, [badge])?;
        let job = format!("test-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"));
        let staged = self.stage(&job, &pdf)?;
        let reference = self.commit(&job, staged)?;
        Ok(TestPrint {
            printer: self.name.clone(),
            template: template.name.clone(),
            bytes: pdf.len(),
            reference,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lp_output_gives_the_request_id() {
        assert_eq!(
            parse_lp_request_id("request id is Badges-42 (1 file(s))\n").as_deref(),
            Some("Badges-42")
        );
        assert_eq!(parse_lp_request_id("lp: error - no default destination"), None);
    }

    #[test]
    fn the_config_file_names_printers_and_a_default() {
        let config = PrinterConfig::parse(
            r#"
            default = "desk"
            retry = { max_attempts = 3, backoff_seconds = 1, max_backoff_seconds = 10 }
            [[printer]]
            name = "desk"
            kind = "cups"
            queue = "Zebra_ZC300"
            template = "cr80"
            [[printer]]
            name = "hot"
            kind = "spool"
            dir = "/var/spool/badges"
            "#,
        )
        .expect("valid config");
        let desk = config.resolve(None).expect("default printer");
        assert_eq!(desk.backend, Backend::Cups { queue: "Zebra_ZC300".into() });
        assert_eq!(desk.template.as_deref(), Some("cr80"));
        assert_eq!(
            config.resolve(Some("hot")).map(|p| p.backend).ok(),
            Some(Backend::Spool { dir: "/var/spool/badges".into() })
        );
        assert_eq!(config.retry.max_attempts, 3);
    }

    #[test]
    fn ad_hoc_printers_need_no_config() {
        let config = PrinterConfig::default();
        assert_eq!(
            config.resolve(Some("cups:Office")).map(|p| p.backend).ok(),
            Some(Backend::Cups { queue: "Office".into() })
        );
        assert_eq!(config.resolve(Some("none")).map(|p| p.backend).ok(), Some(Backend::None));
        assert!(matches!(config.resolve(Some("zebra")), Err(BadgeError::UnknownPrinter(_))));
        assert!(matches!(config.resolve(None), Err(BadgeError::NoPrinter)));
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(PrinterConfig::parse("default = \"nope\"").is_err());
        let twice = "[[printer]]\nname = \"a\"\nkind = \"none\"\n[[printer]]\nname = \"a\"\nkind = \"none\"\n";
        assert!(PrinterConfig::parse(twice).is_err());
        assert!(PrinterConfig::parse("[[printer]]\nname = \"a\"\nkind = \"fax\"\n").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = RetryPolicy { max_attempts: 9, backoff_seconds: 2, max_backoff_seconds: 10 };
        let waits: Vec<u64> = (1..=5).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(waits, vec![2, 4, 8, 10, 10]);
    }

    #[test]
    fn a_spool_job_appears_atomically_under_its_job_name() {
        let dir = tempfile::tempdir().unwrap();
        let printer = spool(dir.path());
        let staged = printer.stage("job-1", b"%PDF-1.7").unwrap();
        assert_eq!(staged.printer_job.as_deref(), Some("job-1.pdf"));
        assert!(!dir.path().join("job-1.pdf").exists(), "nothing visible before the commit");
        assert_eq!(printer.commit("job-1", staged).unwrap(), "job-1.pdf");
        assert_eq!(std::fs::read(dir.path().join("job-1.pdf")).unwrap(), b"%PDF-1.7");
        assert_eq!(printer.state("job-1.pdf").unwrap(), PrinterState::Pending);
        std::fs::remove_file(dir.path().join("job-1.pdf")).unwrap();
        assert_eq!(printer.state("job-1.pdf").unwrap(), PrinterState::Done);
    }

    #[test]
    fn an_interrupted_spool_job_is_finished_or_dropped_never_sent_twice() {
        let dir = tempfile::tempdir().unwrap();
        let printer = spool(dir.path());
        // Staged and recorded, crash before the rename: the rename is finished now.
        printer.stage("a", b"A").unwrap();
        assert_eq!(
            printer.resolve_interrupted("a", Some("a.pdf")).unwrap(),
            Interrupted::Sent("a.pdf".into())
        );
        assert!(dir.path().join("a.pdf").exists());
        // Staged but not recorded: the part file may be incomplete, so it is dropped.
        printer.stage("b", b"B").unwrap();
        assert_eq!(printer.resolve_interrupted("b", None).unwrap(), Interrupted::NotSent);
        assert!(!dir.path().join(".b.pdf.part").exists());
        // Renamed and already taken by the printer software: sent, not re-sent.
        assert_eq!(
            printer.resolve_interrupted("c", Some("c.pdf")).unwrap(),
            Interrupted::Sent("c.pdf".into())
        );
    }

    #[test]
    fn an_interrupted_cups_job_without_a_request_id_is_left_to_a_person() {
        let printer = Printer {
            name: "desk".into(),
            backend: Backend::Cups { queue: "Q".into() },
            template: None,
        };
        assert_eq!(printer.resolve_interrupted("j", None).unwrap(), Interrupted::Unknown);
        assert_eq!(
            printer.resolve_interrupted("j", Some("Q-7")).unwrap(),
            Interrupted::Sent("Q-7".into())
        );
    }

    fn spool(dir: &Path) -> Printer {
        Printer {
            name: "hot".into(),
            backend: Backend::Spool { dir: dir.to_owned() },
            template: None,
        }
    }
}
