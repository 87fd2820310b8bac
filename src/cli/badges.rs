//! `badge render`, `badge print`, `printers list` and `print-queue` (`printers test` is in
//! `commission`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use expo_kiosk::badges::batch::{self, Batch};
use expo_kiosk::badges::printer::cups_queues;
use expo_kiosk::badges::queue::{self, JobStatus, PrintJobView};
use expo_kiosk::badges::{Backend, PrinterConfig, Template};
use expo_kiosk::domain::AttendeeId;
use expo_kiosk::operators::{Operator, Permission};
use expo_kiosk::registration;
use expo_kiosk::store::Store;
use expo_kiosk::ui::error_text::job_error;
use expo_kiosk::ui::Lang;

use super::print_json;

#[derive(Args)]
pub struct RenderArgs {
    /// The attendee (id or registration code).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    attendee: Option<String>,
    /// Every attendee (or every one of --category), one page each.
    #[arg(long)]
    all: bool,
    /// With --all: only this category (id or Chinese label).
    #[arg(long, requires = "all")]
    category: Option<String>,
    #[arg(long, value_name = "FILE.pdf")]
    out: PathBuf,
    /// A shipped template (lanyard-90x130, cr80, label-4x6) or a template .toml file;
    /// default: the event's.
    #[arg(long, value_name = "NAME")]
    template: Option<String>,
}

#[derive(Args)]
pub struct PrintArgs {
    /// The attendee (id or registration code).
    attendee: String,
    /// A printer from printers.toml, or cups:QUEUE, spool:DIR or none; default: the
    /// default printer in printers.toml.
    #[arg(long, value_name = "NAME")]
    printer: Option<String>,
    /// Print a new badge (next serial) for a lost or damaged one; needs --reason.
    #[arg(long, requires = "reason")]
    reprint: bool,
    #[arg(long, requires = "reprint")]
    reason: Option<String>,
}

#[derive(Subcommand)]
pub enum PrintersCommand {
    /// The printers in printers.toml, and the CUPS queues this machine knows.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print a sample badge through a printer's real back-end (CUPS, spool folder).
    Test(super::commission::PrinterTestArgs),
}

#[derive(Args)]
pub struct PrintQueueArgs {
    /// Queue failed jobs again and send everything that is due now.
    #[arg(long)]
    retry: bool,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

pub fn render(store: &mut Store, operator: &Operator, args: RenderArgs) -> Result<ExitCode> {
    let template_name = match args.template {
        Some(name) => name,
        None => store.event()?.definition.event.badge_template.clone(),
    };
    let template = Template::load(&template_name)?;
    let attendees = match &args.attendee {
        Some(text) => vec![AttendeeId(registration::resolve(store.conn(), text)?.id)],
        None => batch::attendees_in(store, args.category.as_deref())?,
    };
    if attendees.is_empty() {
        bail!("no attendees to render");
    }
    let started = std::time::Instant::now();
    let Batch { badges, revoked, bytes } =
        batch::render_attendees(store, operator, &template, &attendees, &args.out)
            .with_context(|| format!("rendering {}", args.out.display()))?;
    let elapsed = started.elapsed();
    println!(
        "wrote {} ({} badge{}, template {}, {} KB, {:.1} s{})",
        args.out.display(),
        badges,
        if badges == 1 { "" } else { "s" },
        template.name,
        bytes.div_ceil(1024),
        elapsed.as_secs_f64(),
        if revoked > 0 { format!(", {revoked} revoked left out") } else { String::new() }
    );
    Ok(ExitCode::SUCCESS)
}

/// `lang`: the language of the job's problem, if it failed.
pub fn print(
    store: &mut Store,
    operator: &Operator,
    args: PrintArgs,
    lang: Lang,
) -> Result<ExitCode> {
    let printers = PrinterConfig::load(store.data_dir())?;
    let printer = printers.resolve(args.printer.as_deref())?;
    let attendee = AttendeeId(registration::resolve(store.conn(), &args.attendee)?.id);
    let reason = if args.reprint { args.reason.as_deref() } else { None };
    let id = queue::enqueue(store, operator, attendee, reason, &printer.name)?;
    queue::recover(store, &printers)?;
    queue::process_due(store, &printers)?;
    let job = queue::job(store.conn(), id)?.context("the print job vanished")?;
    if args.reprint {
        println!(
            "reprint {} of {}",
            queue::reprint_count(store.conn(), attendee)?,
            job.attendee_name
        );
    }
    print_job_line(&job, lang);
    Ok(match job.status {
        JobStatus::Sent | JobStatus::Printed => ExitCode::SUCCESS,
        JobStatus::Queued | JobStatus::Sending => {
            println!("the job stays queued and is retried: see `expo-kiosk print-queue`");
            ExitCode::from(1)
        }
        JobStatus::Failed => ExitCode::from(1),
    })
}

pub fn printers(data_dir: &Path, command: PrintersCommand) -> Result<ExitCode> {
    let json = match command {
        PrintersCommand::List { json } => json,
        PrintersCommand::Test(args) => return super::commission::printers_test(data_dir, args),
    };
    let config = PrinterConfig::load(data_dir)?;
    let queues = cups_queues();
    if json {
        print_json(&serde_json::json!({
            "default": config.default,
            "printers": config.printers,
            "retry": config.retry,
            "cups_queues": queues,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if config.printers.is_empty() {
        println!(
            "no printers in {}: use --printer cups:QUEUE, spool:DIR or none, or add them there",
            data_dir.join(expo_kiosk::badges::printer::CONFIG_FILE).display()
        );
    }
    for printer in &config.printers {
        let target = match &printer.backend {
            Backend::Cups { queue } => format!("cups {queue}"),
            Backend::Spool { dir } => format!("spool {}", dir.display()),
            Backend::None => "none".into(),
        };
        let default = config.default.as_deref() == Some(printer.name.as_str());
        println!(
            "{:<16} {:<40} {}{}",
            printer.name,
            target,
            printer.template.as_deref().unwrap_or("(event template)"),
            if default { "  [default]" } else { "" }
        );
    }
    if !queues.is_empty() {
        println!("CUPS queues: {}", queues.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_queue(
    store: &mut Store,
    operator: &Operator,
    args: PrintQueueArgs,
    lang: Lang,
) -> Result<ExitCode> {
    // The queue names attendees: whoever may print sees it, as in the app's window.
    operator.require(Permission::Print)?;
    if args.retry {
        let printers = PrinterConfig::load(store.data_dir())?;
        queue::recover(store, &printers)?;
        let requeued = queue::retry_failed(store, operator)?;
        let changed = queue::process_due(store, &printers)?;
        if !args.json {
            println!("{requeued} failed job(s) queued again, {} state change(s)", changed.len());
        }
    }
    let jobs = queue::jobs(store.conn(), args.limit)?;
    if args.json {
        print_json(&jobs)?;
    } else if jobs.is_empty() {
        println!("the print queue is empty");
    } else {
        jobs.iter().for_each(|job| print_job_line(job, lang));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_job_line(job: &PrintJobView, lang: Lang) {
    println!(
        "{} {:<8} {:<20} badge {:<3} {:<24} attempts {}{}{}{}",
        job.id,
        job.status.as_str(),
        job.attendee_name,
        job.badge_serial,
        job.printer,
        job.attempts,
        job.printer_job.as_deref().map(|p| format!("  printer job {p}")).unwrap_or_default(),
        job.last_error
            .as_ref()
            .map(|e| format!("  error: {}", job_error(e, lang)))
            .unwrap_or_default(),
        if job.badge_active { "" } else { "  (badge since reprinted or revoked)" },
    );
}
