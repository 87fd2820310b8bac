//! `report daily` and `report follow-up`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Subcommand, ValueEnum};
use expo_kiosk::registration::venue_today;
use expo_kiosk::stats::{self, follow_up, VenueDay};
use expo_kiosk::store::{write_private_file, write_private_file_with, Store};

use super::Acting;

#[derive(Subcommand)]
pub enum ReportCommand {
    /// The day's figures: registrations, badges, gate flow, people inside, denials, top
    /// countries and companies, reprints per operator.
    Daily {
        /// The venue-local day; default: today at the venue.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
        #[arg(long, value_enum, default_value_t = DailyFormat::Csv)]
        format: DailyFormat,
        /// Where to write; default: stdout for csv and json, daily-report-DATE.pdf for pdf.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// The post-show follow-up export: attendees by category, with phone and e-mail only
    /// for those who consented. Written 0600: it holds personal data.
    FollowUp {
        /// Only these categories (id or Chinese label); repeatable. Default: every category.
        #[arg(long)]
        category: Vec<String>,
        #[arg(long, value_enum, default_value_t = FollowUpFormat::Csv)]
        format: FollowUpFormat,
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DailyFormat {
    Csv,
    Json,
    Pdf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FollowUpFormat {
    Csv,
    Jsonl,
}

pub fn run(store: &mut Store, acting: &Acting, command: ReportCommand) -> Result<ExitCode> {
    match command {
        ReportCommand::Daily { date, format, output } => daily(store, date, format, output),
        ReportCommand::FollowUp { category, format, output } => {
            let operator = acting.operator(store)?;
            let format = match format {
                FollowUpFormat::Csv => follow_up::Format::Csv,
                FollowUpFormat::Jsonl => follow_up::Format::Jsonl,
            };
            let summary = write_private_file_with(&output, |file| {
                follow_up::export(store, &operator, &category, format, file)
            })
            .with_context(|| format!("writing {}", output.display()))?;
            eprintln!(
                "wrote {} attendees to {} ({} with contact data, {} without consent)",
                summary.attendees,
                output.display(),
                summary.with_contact,
                summary.without_consent
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn daily(
    store: &Store,
    date: Option<NaiveDate>,
    format: DailyFormat,
    output: Option<PathBuf>,
) -> Result<ExitCode> {
    let definition = &store.event()?.definition;
    let date = match date {
        Some(date) => date,
        None => venue_today(store)?,
    };
    let day = VenueDay::new(date, definition.timezone())?;
    let zones: Vec<String> = definition.zones.iter().map(|z| z.id.clone()).collect();
    let figures =
        stats::day_figures(store.conn(), &definition.event.id, &zones, &day, chrono::Utc::now())?;
    let charts = stats::charts(&figures, definition);
    let (bytes, default_file) = match format {
        DailyFormat::Csv => (stats::daily_csv(&figures, &charts)?, None),
        DailyFormat::Json => (stats::daily_json(&figures)?, None),
        DailyFormat::Pdf => (
            stats::render_daily_pdf(&figures, &definition.event.name, &charts)?,
            Some(PathBuf::from(format!("daily-report-{date}.pdf"))),
        ),
    };
    match output.or(default_file) {
        // The daily figures hold no personal data beyond operator names, but a report
        // is the organiser's: it gets the same private file as every other export.
        Some(path) => {
            write_private_file(&path, &bytes)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    Ok(ExitCode::SUCCESS)
}
