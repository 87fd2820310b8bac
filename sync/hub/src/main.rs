//! `expo-hub`: the central sync service of expo-kiosk.
//!
//! ```text
//! expo-hub --db sqlite://hub.db --listen 0.0.0.0:8440      serve
//! expo-hub cert --name hub.venue.lan --out DIR              make a certificate for HTTPS
//! expo-hub --tls-cert DIR/hub-cert.pem --tls-key DIR/hub-key.pem ...   serve HTTPS
//! expo-hub --db URL station add desk-1 --role desk         print a one-time enrolment code
//! expo-hub --db URL station set-role desk-1 --role desk     role of a station enrolled earlier
//! expo-hub --db URL station revoke desk-1                   stop a station at once
//! expo-hub --db URL export --format csv --out DIR           attendees, badges, gate decisions
//! expo-hub --db URL conflicts [--json]                      open duplicates and identity conflicts
//! expo-hub --db URL conflicts merge ID --keep ATTENDEE_ID   merge a conflict's two attendees
//! expo-hub --db URL conflicts dismiss ID --reason TEXT      leave both as they are
//! expo-hub --db URL event import BUNDLE                      the event and data key, for registrations
//! expo-hub --db URL import attendees FILE.csv               pre-registrations, as a station imports them
//! expo-hub --db URL user add ana --role organiser           a console user (password on stdin)
//! expo-hub --db URL key add crm --scope feed:read           an organiser system's API key
//! expo-hub --db URL key list | key revoke crm               its keys; stop one at once
//! expo-hub --db URL badge revoke CODE --reason TEXT         a lost badge, at every station
//! expo-hub rehearse --db URL --desks 100 --lanes 200 --minutes 10 --faults   whole venue
//! ```

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use expo_hub::api_keys::{self, Scope, COMMAND_LINE_ACTOR};
use expo_hub::conflicts::{self, ConflictView, Resolved};
use expo_hub::console::auth::{self, ConsoleRole};
use expo_hub::console::html::describe_role;
use expo_hub::console::ConsoleConfig;
use expo_hub::export::{export, ExportFormat};
use expo_hub::origin::HubOrigin;
use expo_hub::postgres::PostgresStore;
use expo_hub::rehearsal::{self, RehearsalOptions};
use expo_hub::revocation::{revoke_badge, RevocationRequest};
use expo_hub::server::{serve, HubConfig};
use expo_hub::sqlite::SqliteStore;
use expo_hub::tls::{self, HubCertificates, TlsListener};
use expo_hub::{enrolment, registrations, DatabaseUrl, HubStore};
use expo_kiosk::registration::import::ImportArgs;
use expo_sync::StationRole;
use tokio::net::TcpListener;

// mimalloc, as `expo-kiosk` uses: `expo-hub rehearse` runs a venue's station threads in
// this process (see sync/hub/Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "expo-hub",
    version,
    about = "The organiser's data centre and the sync hub of expo-kiosk stations"
)]
struct Cli {
    /// `sqlite://PATH` (default back-end) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "EXPO_HUB_DB", default_value = "sqlite://hub.db", global = true)]
    db: String,
    /// Address to serve on when no subcommand is given.
    #[arg(long, env = "EXPO_HUB_LISTEN", default_value = "127.0.0.1:8440")]
    listen: SocketAddr,
    /// Largest request body accepted, in MiB.
    #[arg(long, default_value_t = 16)]
    body_limit_mib: usize,
    /// Longest a request may take, in seconds.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Longest a client may take to send a request's headers, in seconds; a connection
    /// that stays silent that long is closed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_secs: u64,
    /// Connections served at once (HTTPS: and as many more mid-handshake, up to 256);
    /// further clients wait until one closes.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// PostgreSQL connections per hub process.
    #[arg(long, default_value_t = 16)]
    pool_size: usize,
    /// Serve HTTPS with this certificate chain (PEM; `expo-hub cert` makes one).
    #[arg(long, env = "EXPO_HUB_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM).
    #[arg(long, env = "EXPO_HUB_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Manage station credentials.
    Station {
        #[command(subcommand)]
        action: StationAction,
    },
    /// Make the files for HTTPS in DIR: hub-cert.pem and hub-key.pem for `--tls-cert` and
    /// `--tls-key`, and hub-ca.pem for stations (`expo-kiosk sync enrol --hub-ca`).
    Cert {
        /// A DNS name or IP address stations use in the hub URL (repeat for more).
        #[arg(long = "name", value_name = "NAME", required = true)]
        names: Vec<String>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Manage the operations console's users (`/console`).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Write the current attendees, badges and gate decisions to DIR.
    Export {
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        #[arg(long)]
        out: PathBuf,
    },
    /// List the open conflicts (duplicate attendees, identity conflicts), masked; merge or
    /// dismiss one.
    Conflicts {
        /// Print JSON (the same as `GET /v1/conflicts`) instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<ConflictAction>,
    },
    /// The event registrations are checked against.
    Event {
        #[command(subcommand)]
        action: EventAction,
    },
    /// Take registrations into the data centre.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Manage the API keys of the organiser's systems (registration, CRM).
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Badges, from the data centre.
    Badge {
        #[command(subcommand)]
        action: BadgeAction,
    },
    /// Rehearse the whole venue against a hub on `--db` (a new SQLite file or an empty
    /// PostgreSQL database): desks, kiosks, gate lanes and the data centre at real rates,
    /// then check that no change was lost or duplicated and every station converged.
    /// Exits 1 when not.
    Rehearse(RehearseArgs),
}

#[derive(Subcommand)]
enum BadgeAction {
    /// Revoke the current badge of the attendee with registration code CODE (a lost badge):
    /// every station refuses it once it has synced.
    Revoke {
        code: String,
        /// Why, for the audit log: "lost, reported by phone".
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum ConflictAction {
    /// Merge the conflict's two attendees into the one kept: the other is marked merged
    /// (stations find the kept one), its badges revoked (reason `merged`), and the kept
    /// one takes what it lacks of the other. Reaches every station by its next pull.
    Merge {
        id: i64,
        #[arg(long, value_name = "ATTENDEE_ID")]
        keep: uuid::Uuid,
    },
    /// Leave both attendees as they are (not the same person, say): the conflict is not
    /// listed again.
    Dismiss {
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum EventAction {
    /// Keep the event definition and data key of a desks' bundle (`expo-kiosk event export
    /// --with-data-key`), so the hub can check registrations and seal their ID numbers.
    Import { bundle: PathBuf },
}

#[derive(Subcommand)]
enum ImportWhat {
    /// Import pre-registrations from a CSV file, by the rules of a station's import (same
    /// columns, encodings, validation and attendee ids); stations get them on their next
    /// pull. Nothing is imported while a row is invalid, unless --skip-invalid.
    Attendees(ImportArgs),
}

#[derive(Subcommand)]
enum KeyAction {
    /// Make a key and print it once, on the last line of standard output (the hub keeps
    /// only its hash).
    Add {
        name: String,
        /// What the key may do, comma-separated: registrations:write, feed:read,
        /// badges:revoke.
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<Scope>,
    },
    /// Every key: name, scopes, created, last used, revoked.
    List,
    /// Revoke a key: the next request carrying it is refused.
    Revoke { name: String },
}

#[derive(clap::Args)]
struct RehearseArgs {
    #[arg(long, default_value_t = 100)]
    desks: usize,
    /// Gate lanes, four to a gate station.
    #[arg(long, default_value_t = 200)]
    lanes: usize,
    /// Self-service kiosks (default: one for every five desks).
    #[arg(long)]
    kiosks: Option<usize>,
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Kill and restart the hub, cut 20 stations off, run a clock 10 min ahead, take the
    /// database away (and with PostgreSQL, kill the second of two hubs).
    #[arg(long)]
    faults: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[arg(long, default_value_t = 17)]
    seed: u64,
    /// Seconds between two sync rounds of a station.
    #[arg(long, default_value_t = 5.0)]
    sync_interval_secs: f64,
    /// Badges the data centre revokes a minute (more gives a short run more samples).
    #[arg(long, default_value_t = 1.0)]
    revocations_per_minute: f64,
    /// Where to make the run's directory of station stores and hub logs (default: the
    /// system's temporary directory), e.g. a tmpfs such as /dev/shm. Removed at the end,
    /// kept if the run fails.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum StationAction {
    /// Register a station and print its one-time enrolment code.
    Add {
        name: String,
        /// What the station may change: desk, kiosk, gate or admin (see SECURITY.md).
        #[arg(long)]
        role: StationRole,
    },
    /// Give a station its role: one enrolled before roles existed cannot push until then.
    SetRole {
        name: String,
        #[arg(long)]
        role: StationRole,
    },
    /// Revoke a station: its credential stops working on its next request, and its
    /// signing key is revoked at every station on their next sync.
    Revoke { name: String },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a console user; the password is read from EXPO_HUB_PASSWORD, else from the
    /// first line of standard input (at least 12 characters).
    Add {
        name: String,
        /// organiser (every page and action), operations (the fleet and the attendee
        /// look-up, read only, names and phones masked) or security (the fleet, read only;
        /// the attendee look-up with personal data, and revoking badges there).
        #[arg(long, value_enum)]
        role: ConsoleRole,
        /// The attendee categories the user may see in the attendee look-up (and revoke
        /// badges of), comma-separated; every category when left out.
        #[arg(long, value_delimiter = ',')]
        categories: Vec<String>,
    },
    /// List the console users with their roles' pages and data permissions.
    List,
    /// Remove a console user and end their sessions.
    Remove { name: String },
}

fn main() -> ExitCode {
    expo_sync::logging::init("RUST_LOG", "info");
    let cli = Cli::parse();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("expo-hub: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The one command that needs no database.
    if let Some(Command::Cert { names, out }) = &cli.command {
        return make_certificates(names, out).map(|()| ExitCode::SUCCESS);
    }
    // The rehearsal runs its own hub processes on the database.
    if let Some(Command::Rehearse(args)) = &cli.command {
        return rehearse(&cli.db, args).await.map(|()| ExitCode::SUCCESS);
    }
    match DatabaseUrl::parse(&cli.db)? {
        DatabaseUrl::Sqlite(path) => {
            let store =
                SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))?;
            run_with(store, cli).await
        }
        DatabaseUrl::Postgres(url) => {
            let store = PostgresStore::connect(&url, cli.pool_size)
                .await
                .context("connecting to PostgreSQL")?;
            run_with(store, cli).await
        }
    }
}

async fn run_with<S: HubStore>(store: S, cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let console = ConsoleConfig {
                secure_cookies: cli.tls_cert.is_some(),
                ..ConsoleConfig::default()
            };
            let config = HubConfig {
                console,
                body_limit: cli.body_limit_mib.saturating_mul(1024 * 1024),
                request_timeout: Duration::from_secs(cli.request_timeout_secs),
                header_read_timeout: Duration::from_secs(cli.header_read_timeout_secs),
                max_connections: cli.max_connections,
                ..HubConfig::default()
            };
            let listener = TcpListener::bind(cli.listen)
                .await
                .with_context(|| format!("listening on {}", cli.listen))?;
            let address = listener.local_addr()?;
            let store = Arc::new(store);
            if let (Some(certificate), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
                let tls = TlsListener::new(listener, tls::server_config(certificate, key)?)?;
                tracing::info!(%address, "expo-hub serving HTTPS");
                serve(tls, store, config, shutdown_signal()).await?;
            } else {
                if !address.ip().is_loopback() {
                    tracing::warn!(
                        %address,
                        "serving plain HTTP beyond this machine: names and phone numbers cross \
                         the network readable; `expo-hub cert` and --tls-cert/--tls-key serve HTTPS"
                    );
                }
                tracing::info!(%address, "expo-hub serving HTTP");
                serve(listener, store, config, shutdown_signal()).await?;
            }
            tracing::info!("expo-hub stopped");
        }
        Command::Station { action: StationAction::Add { name, role } } => {
            let code = enrolment::add_station(&store, &name, role).await?;
            println!("{code}");
            eprintln!(
                "Enrol the station with: expo-kiosk sync enrol --hub URL --code {code} \
                 (the code works once)"
            );
        }
        Command::Station { action: StationAction::SetRole { name, role } } => {
            store.set_station_role(&name, role).await?;
            eprintln!("station {name} is now a {role} station");
        }
        Command::Station { action: StationAction::Revoke { name } } => {
            let keys = enrolment::revoke_station(&store, &name).await?;
            eprintln!(
                "station {name} revoked, and {keys} signing key(s) of it everywhere on the \
                 stations' next sync (badges it signed are refused from then on: reprint them)"
            );
        }
        Command::Export { format, out } => {
            for file in export(&store, format, &out).await? {
                println!("{}\t{} rows", file.path.display(), file.rows);
            }
        }
        Command::Conflicts { json, action } => {
            let origin = HubOrigin::default();
            let by = "cli";
            match action {
                None => print_conflicts(&conflicts::list(&store).await?, json)?,
                Some(ConflictAction::Merge { id, keep }) => {
                    print_resolved(&conflicts::merge(&store, &origin, id, keep, by).await?, json)?
                }
                Some(ConflictAction::Dismiss { id, reason }) => print_resolved(
                    &conflicts::dismiss(&store, &origin, id, &reason, by).await?,
                    json,
                )?,
            }
        }
        Command::Event { action: EventAction::Import { bundle } } => {
            let bundle = expo_kiosk::provisioning::read_bundle(&bundle)?;
            let event = registrations::import_event(&store, &bundle).await?;
            eprintln!(
                "event {} kept with its data key: `expo-hub import attendees` and \
                 PUT /v1/registrations check registrations against it",
                event.event_id
            );
        }
        Command::Import { what: ImportWhat::Attendees(args) } => {
            let file = &args.file;
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let report =
                registrations::import_csv(&store, &HubOrigin::default(), bytes, args.options())
                    .await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for line in report.text_lines(args.dry_run) {
                    println!("{line}");
                }
            }
            if report.invalid_rows > 0 && !report.committed {
                return Ok(ExitCode::from(1));
            }
        }
        Command::User { action: UserAction::Add { name, role, categories } } => {
            // Checked first: a user must not be left without the limit meant for them.
            let categories = auth::checked_categories(&categories)?;
            let password = read_password()?;
            auth::add_user(&store, &name, role, &password).await?;
            if !categories.is_empty() {
                auth::limit_categories(&store, &name, &categories).await?;
            }
            eprintln!("console user {name} added as {}", role.as_str());
        }
        Command::User { action: UserAction::List } => {
            for (name, role) in store.console_users().await? {
                let permissions = ConsoleRole::parse(&role).map(describe_role).unwrap_or_default();
                let categories = store.console_user_categories(&name).await?;
                let categories =
                    if categories.is_empty() { "all".to_owned() } else { categories.join(",") };
                println!("{name}\t{role}\t{permissions}; categories {categories}");
            }
        }
        Command::User { action: UserAction::Remove { name } } => {
            auth::remove_user(&store, &name).await?;
            eprintln!("console user {name} removed, and their sessions ended");
        }
        Command::Key { action: KeyAction::Add { name, scope } } => {
            let scopes: Vec<Scope> =
                scope.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
            let key = api_keys::add_key(&store, &name, &scopes).await?;
            eprintln!(
                "API key {name} ({}); give it to the organiser's system as \
                 `Authorization: Bearer KEY`. It is shown once, here:",
                scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
            );
            println!("{key}");
        }
        Command::Key { action: KeyAction::List } => {
            println!("NAME\tSCOPES\tCREATED\tLAST USED\tREVOKED");
            for key in store.api_keys().await? {
                let or_dash = |time: Option<String>| time.unwrap_or_else(|| "-".to_owned());
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    key.name,
                    key.scopes,
                    key.created_at,
                    or_dash(key.last_used_at),
                    or_dash(key.revoked_at)
                );
            }
        }
        Command::Key { action: KeyAction::Revoke { name } } => {
            api_keys::revoke_key(&store, &name).await?;
            eprintln!("API key {name} revoked: its next request is refused");
        }
        Command::Badge { action: BadgeAction::Revoke { code, reason } } => {
            let request =
                RevocationRequest { registration_code: Some(code), attendee_id: None, reason };
            let revoked =
                revoke_badge(&store, &HubOrigin::default(), &request, COMMAND_LINE_ACTOR).await?;
            if revoked.already_revoked {
                eprintln!("badge {} was revoked already: nothing changed", revoked.badge_serial);
            } else {
                eprintln!(
                    "badge {} revoked: stations refuse it once they have synced",
                    revoked.badge_serial
                );
            }
            println!("{}\t{}", revoked.attendee_id, revoked.badge_serial);
        }
        Command::Cert { .. } | Command::Rehearse(_) => {
            unreachable!("`run` answers `cert` and `rehearse` before opening a database")
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rehearse(db: &str, args: &RehearseArgs) -> anyhow::Result<()> {
    let options = RehearsalOptions {
        hub_executable: std::env::current_exe().context("finding the expo-hub executable")?,
        db: db.to_owned(),
        desks: args.desks,
        lanes: args.lanes,
        kiosks: args.kiosks.unwrap_or(args.desks.div_ceil(5)),
        duration: Duration::try_from_secs_f64(args.minutes * 60.0)
            .context("--minutes must be a positive number")?,
        faults: args.faults,
        seed: args.seed,
        sync_interval: Duration::try_from_secs_f64(args.sync_interval_secs)
            .context("--sync-interval-secs must be a positive number")?,
        revocations_per_minute: args.revocations_per_minute,
        dir: args.dir.clone(),
    };
    let report = tokio::task::spawn_blocking(move || rehearsal::run(&options))
        .await
        .context("the rehearsal stopped")??;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    anyhow::ensure!(
        report.passed(),
        "the rehearsal failed: {} lost, {} duplicated, {} of {} stations converged",
        report.lost,
        report.duplicated,
        report.stations_converged,
        report.stations
    );
    Ok(())
}

/// The new user's password: `EXPO_HUB_PASSWORD`, else the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("EXPO_HUB_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The open conflicts as a table (one line per attendee under each conflict), or JSON.
fn print_conflicts(conflicts: &[ConflictView], json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&conflicts::ConflictList {
                conflicts: conflicts.to_vec()
            })?
        );
        return Ok(());
    }
    if conflicts.is_empty() {
        eprintln!("no open conflicts");
    }
    for conflict in conflicts {
        println!(
            "{}\t{}\tfound {}",
            conflict.id,
            conflict.kind.as_str(),
            conflict.found_at.as_deref().unwrap_or("-")
        );
        for who in &conflict.attendees {
            if who.stored {
                println!(
                    "\t{}\t{}\t{}\t{}\t{}\t{}\tfrom {}",
                    who.id,
                    who.name,
                    who.company,
                    who.category,
                    who.id_masked.as_deref().unwrap_or("-"),
                    who.source,
                    who.station
                );
            } else {
                println!("\t{}\t(not stored: the registration was not applied)", who.id);
            }
        }
    }
    Ok(())
}

fn print_resolved(resolved: &Resolved, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(resolved)?);
        return Ok(());
    }
    let status = resolved.conflict.status.as_str();
    if resolved.already_resolved {
        println!("conflict {} was already {status}: nothing changed", resolved.conflict.id);
    } else {
        println!(
            "conflict {} {status}: {} change(s) for the stations' next pull",
            resolved.conflict.id, resolved.changes
        );
    }
    Ok(())
}

fn make_certificates(names: &[String], out: &std::path::Path) -> anyhow::Result<()> {
    tls::make_certificates(names)?.write_to(out)?;
    let file = |name: &str| out.join(name).display().to_string();
    println!("{}", file(HubCertificates::AUTHORITY_FILE));
    eprintln!(
        "Serve with: expo-hub --tls-cert {} --tls-key {} ...\n\
         Give stations {} (not secret): expo-kiosk sync enrol --hub https://{}:8440 \
         --code CODE --hub-ca hub-ca.pem",
        file(HubCertificates::CERTIFICATE_FILE),
        file(HubCertificates::KEY_FILE),
        file(HubCertificates::AUTHORITY_FILE),
        names.first().map(String::as_str).unwrap_or("HUB"),
    );
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM, so in-flight requests finish before the hub exits.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
