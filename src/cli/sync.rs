//! `expo-kiosk sync`: enrolment with a hub, and the post-show sync job (push everything,
//! pull what is new, with a progress bar; non-zero exit if anything stays unacknowledged).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use expo_kiosk::station_sync::{self, HubCredential, StoreOutbox};
use expo_kiosk::store::Store;
use expo_sync::station::{run_once_with_progress, StationOutbox, SyncOptions};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args)]
pub struct SyncArgs {
    /// The hub to sync with (default: the one this station enrolled with).
    #[arg(long, value_name = "URL")]
    hub: Option<String>,
    #[command(subcommand)]
    action: Option<SyncAction>,
}

#[derive(Subcommand)]
enum SyncAction {
    /// Exchange a one-time enrolment code (from `expo-hub station add`) for this station's credential.
    Enrol {
        #[arg(long, value_name = "URL")]
        hub: String,
        #[arg(long)]
        code: String,
        /// For an `https://` hub with a certificate from `expo-hub cert`: its hub-ca.pem,
        /// the one authority this station then trusts for the hub.
        #[arg(long, value_name = "PEM")]
        hub_ca: Option<std::path::PathBuf>,
        /// Do not download the hub's current state now: the next sync pulls every change
        /// instead.
        #[arg(long)]
        no_bootstrap: bool,
    },
    /// Show the hub, the pending count and the pull cursor.
    Status,
    /// Download the hub's current state as one verified snapshot and continue pulling from
    /// there (for a station offline for long; `sync enrol` does it by itself).
    Bootstrap,
}

pub fn run(args: SyncArgs, data_dir: &Path) -> Result<ExitCode> {
    match args.action {
        Some(SyncAction::Enrol { hub, code, hub_ca, no_bootstrap }) => {
            // Open the store first so a broken data dir fails before the code is spent.
            let store = Store::open(data_dir)?;
            let hub_authority = hub_ca
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))
                })
                .transpose()?;
            let mut store = store;
            let answer = station_sync::enrol(&mut store, &hub, &code, hub_authority)
                .context("enrolling with the hub")?;
            let role = answer.role.map_or_else(|| "no role yet".to_owned(), |r| r.to_string());
            println!("enrolled as station {:?} ({role}) with {hub}", answer.station);
            drop(store);
            if !no_bootstrap {
                // Enrolled either way: a failed bootstrap leaves the work to the next sync.
                if let Err(error) = bootstrap(None, data_dir) {
                    eprintln!(
                        "warning: {error:#}; the next `expo-kiosk sync` pulls every change instead"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(SyncAction::Bootstrap) => {
            bootstrap(args.hub.as_deref(), data_dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(SyncAction::Status) => {
            let outbox = StoreOutbox::open(data_dir)?;
            match HubCredential::load(data_dir) {
                Ok(credential) => {
                    println!("hub        {} (as {})", credential.hub_url, credential.station);
                    if let Some(role) = credential.role {
                        println!("role       {role}");
                    }
                    if credential.hub_authority.is_some() {
                        println!("trusts     the hub's own authority (--hub-ca at enrolment)");
                    }
                }
                Err(error) => println!("hub        none: {error}"),
            }
            println!("pending    {}", outbox.pending_count()?);
            println!("cursor     {}", outbox.cursor()?);
            let (set_aside, newest) = station_sync::set_aside_changes(&outbox.store())?;
            if let Some(newest) = newest {
                println!(
                    "set aside  {set_aside} change(s) this station could not apply or the hub \
                     refused (newest: {newest}); see the log, or update this station's expo-kiosk"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        None => sync_job(args.hub, data_dir),
    }
}

/// Downloads and applies the hub's snapshot, with a spinner, and says what it did.
fn bootstrap(hub: Option<&str>, data_dir: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} snapshot: {pos} records applied")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let outcome = expo_kiosk::bootstrap::bootstrap_station(data_dir, hub, &mut |records| {
        bar.set_position(records)
    });
    bar.finish_and_clear();
    let report = outcome.context("bootstrapping from the hub's snapshot (nothing was applied)")?;
    println!(
        "bootstrapped from the hub's snapshot: {} records ({} new attendees, {} set aside) in {:.1} s, resumed {} time(s); pulling continues from cursor {}",
        report.records,
        report.new_attendees,
        report.set_aside,
        started.elapsed().as_secs_f64(),
        report.resumed,
        report.cursor
    );
    Ok(())
}

fn sync_job(hub: Option<String>, data_dir: &Path) -> Result<ExitCode> {
    let credential = HubCredential::load(data_dir)?;
    let hub_url = hub.unwrap_or_else(|| credential.hub_url.clone());
    let client = credential.client(Some(&hub_url))?;
    let outbox = StoreOutbox::open(data_dir)?;
    let bar = ProgressBar::new(outbox.pending_count()?);
    bar.set_style(
        ProgressStyle::with_template("{spinner} pushed {pos}/{len} changes · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let outcome =
        run_once_with_progress(&client, &outbox, SyncOptions::default(), &mut |summary| {
            bar.set_position(summary.pushed);
            bar.set_message(format!("pulled {}", summary.pulled));
        });
    bar.finish_and_clear();
    // An interrupted round is resumable: whatever was acknowledged left the outbox, the
    // rest goes next time; the pull cursor was stored with each applied page.
    let summary =
        outcome.with_context(|| format!("syncing with {hub_url} (run it again to resume)"))?;
    println!(
        "pushed {} changes ({} new at the hub), pulled {} from other stations, {} left unacknowledged",
        summary.pushed, summary.new_at_hub, summary.pulled, summary.pending_after
    );
    if summary.refused > 0 {
        println!(
            "{} change(s) refused by the hub and set aside (`expo-kiosk sync status`)",
            summary.refused
        );
    }
    if summary.held_back > 0 {
        println!(
            "{} change(s) held back: they are stamped ahead of the hub's clock; they stay \
             unacknowledged and are sent again once the hub's clock catches up (check this \
             station's clock)",
            summary.held_back
        );
    }
    Ok(if summary.pending_after > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
