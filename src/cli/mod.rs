//! Command-line interface. Commands parse their arguments, call the library, and print
//! either plain text for people or one JSON document (`--json`) for scripts.
//!
//! Exit codes (also in README and `--help`): 0 done / valid; 1 a negative answer (invalid
//! token, import rejected for bad rows, a print job that failed); 2 usage error; and for an
//! error, the code of its `ErrorClass` (`exit_code_for`). Messages from typed problems are
//! printed in the `--lang` language (`expo_kiosk::ui::error_text`).

mod badges;
mod bench;
mod commission;
mod demo;
mod gate;
mod report;
mod run;
mod scan;
mod sync;

use std::ffi::OsString;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use expo_kiosk::domain::{NewAttendee, Source};
use expo_kiosk::error_class::{class_of, ErrorClass};
use expo_kiosk::operators::{self, Operator, OperatorChange, Permission, Role};
use expo_kiosk::provisioning;
use expo_kiosk::registration::import::{self, ImportOptions};
use expo_kiosk::registration::{self, badge, lookup, RegistrationError};
use expo_kiosk::store::Store;
use expo_kiosk::ui::error_text::{class_heading, error_text, import_report_lines};
use expo_kiosk::ui::Lang;
use serde::Serialize;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "expo-kiosk",
    version,
    about = "Offline-first registration, badges and access control for exhibitions",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// This station's data directory (database and keys). Default: the platform's data dir.
    #[arg(long, global = true, env = "EXPO_KIOSK_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Act as this operator (PIN from EXPO_KIOSK_PIN or the first line of stdin). Every
    /// command that changes data or shows personal data needs it once the station has an
    /// active admin; until then the CLI acts as the station's setup actor.
    #[arg(long = "as", global = true, value_name = "OPERATOR")]
    acting_as: Option<String>,
    /// The language of messages: problems, refusals and import reports (default: English,
    /// or Chinese when LC_ALL, LC_MESSAGES or LANG starts with zh). Also the desktop app's
    /// language at start (default there: Chinese).
    #[arg(long, global = true, value_enum, value_name = "zh|en")]
    lang: Option<run::LangArg>,
    /// Without a command, the desktop app opens in desk mode.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create, share or show the event this station serves.
    #[command(subcommand)]
    Event(EventCommand),
    /// Import data into this station.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Find attendees by name, pinyin, company, phone tail, registration code or ID tail.
    Search {
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Register one attendee (for scripts) and print the new attendee id.
    Register(RegisterArgs),
    /// Show attendees.
    #[command(subcommand)]
    Attendee(AttendeeCommand),
    /// Badge credentials.
    #[command(subcommand)]
    Badge(BadgeCommand),
    /// Verify a badge token offline. Exit 0 valid, 1 invalid, 2 usage error.
    Verify {
        /// The token as scanned; `-` reads it from stdin.
        #[arg(allow_hyphen_values = true)]
        token: OsString,
        #[arg(long)]
        json: bool,
    },
    /// Operators and their roles.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Badge printers: printers.toml and the CUPS queues.
    #[command(subcommand)]
    Printers(badges::PrintersCommand),
    /// The badge print queue: list it, or `--retry` failed jobs.
    PrintQueue(badges::PrintQueueArgs),
    /// Read the audit log, newest first.
    Audit {
        /// Only entries about this attendee (id or registration code).
        #[arg(long)]
        attendee: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// The day's figures (`report daily --date D --format csv|json|pdf`) and the post-show
    /// follow-up export (`report follow-up --output FILE`).
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Measure import, open, search and token speed on synthetic attendees.
    Bench(bench::BenchArgs),
    /// Run turnstile lanes headless (`--config GATE.toml`), control a running gate, or
    /// measure gate latency and throughput.
    Gate(gate::GateArgs),
    /// Open the demo station in the desk app (`--headless`: a console walk-through).
    Demo(demo::DemoArgs),
    /// Open the desktop app: desk, kiosk, gate or admin.
    Run(run::RunArgs),
    /// Sync with the hub: `sync enrol --hub URL --code CODE` once, then `sync` (the
    /// post-show job; exit 1 if anything stays unacknowledged) or `sync status`.
    Sync(sync::SyncArgs),
    /// Decode QR codes from image files (printed badges, camera snapshots).
    ScanImage(scan::ScanImageArgs),
    /// Check this station and what is plugged in (serial ports and what answers on each,
    /// cameras, CUPS queues, data, keys, hub, disk); exit 0 when nothing is at fault.
    Doctor(commission::DoctorArgs),
    /// Test an ID-card reader: `idcard read --port P`.
    #[command(subcommand)]
    Idcard(commission::IdcardCommand),
    /// Test a relay board: `relay pulse --port P --protocol lcus|modbus`, `relay set ... on|off`.
    #[command(subcommand)]
    Relay(commission::RelayCommand),
    /// See what a scanner sends: `scanner watch --port P` (or `--keyboard`).
    #[command(subcommand)]
    Scanner(commission::ScannerCommand),
}

#[derive(Subcommand)]
enum EventCommand {
    /// Create the event on its first station, with this station's signing key.
    Init {
        #[arg(long, value_name = "EVENT.toml")]
        file: PathBuf,
    },
    /// Write the bundle other stations import: definition and public keys.
    Export {
        #[arg(long, value_name = "BUNDLE")]
        out: PathBuf,
        /// Include the event data key, for registration desks and kiosks (never for gates).
        #[arg(long)]
        with_data_key: bool,
    },
    /// Join this station to the event from a bundle.
    Import {
        bundle: PathBuf,
        /// A gate: keep public keys only, make no signing key.
        #[arg(long)]
        verify_only: bool,
    },
    /// Show the event and this station's keys.
    Show {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Pre-registrations from CSV (UTF-8, UTF-8 with BOM or GB18030; English or Chinese headers).
    Attendees(import::ImportArgs),
}

#[derive(Args)]
struct RegisterArgs {
    #[arg(long)]
    name: String,
    /// Category id or Chinese label (e.g. `exhibitor` or 参展商).
    #[arg(long)]
    category: String,
    #[arg(long, default_value = "")]
    company: String,
    #[arg(long, default_value = "")]
    title: String,
    #[arg(long, default_value = "")]
    phone: String,
    #[arg(long, default_value = "")]
    email: String,
    #[arg(long, default_value = "")]
    country: String,
    /// resident_id, foreign_permanent_residence, passport, hk_macau_permit, taiwan_permit (or Chinese labels).
    #[arg(long, default_value = "")]
    id_type: String,
    /// The ID number. Better kept off the command line (other users see it in `ps`): use
    /// EXPO_KIOSK_ID_NUMBER or --id-number-stdin.
    #[arg(long)]
    id_number: Option<String>,
    /// Read the ID number from the next line of stdin (after the PIN when `--as` asks for
    /// one there).
    #[arg(long, conflicts_with = "id_number")]
    id_number_stdin: bool,
    #[arg(long, default_value = "")]
    registration_code: String,
    /// The attendee consented to follow-up contact (never assumed).
    #[arg(long)]
    consent: bool,
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// The holder's Chinese name beside --name, when that is another (a foreign permanent
    /// residence card's 史密斯 beside SMITH JOHN MICHAEL).
    #[arg(long, default_value = "")]
    chinese_name: String,
}

#[derive(Subcommand)]
enum AttendeeCommand {
    /// One attendee by id or registration code, with their badges. The ID number is masked.
    Show {
        attendee: String,
        #[arg(long)]
        json: bool,
        /// Show the full ID number: needs an operator whose role allows it (PIN from
        /// EXPO_KIOSK_PIN or stdin). The reveal is audited.
        #[arg(long, value_name = "OPERATOR")]
        reveal_as: Option<String>,
    },
}

#[derive(Subcommand)]
enum BadgeCommand {
    /// Print the attendee's badge token, issuing a badge if none is active.
    Token { attendee: String },
    /// Revoke the attendee's badge: every gate that learns of it denies the token.
    Revoke {
        attendee: String,
        #[arg(long)]
        reason: String,
    },
    /// Render badges to a PDF: one attendee, or --all [--category C] for pre-printing.
    Render(badges::RenderArgs),
    /// Print the attendee's badge through the print queue (--reprint --reason R for a new one).
    Print(badges::PrintArgs),
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Add an operator; the PIN comes from EXPO_KIOSK_PIN or the first line of stdin.
    Add {
        name: String,
        /// admin, desk, kiosk or gate.
        #[arg(long)]
        role: String,
        /// Restrict to these categories (repeatable); default all.
        #[arg(long = "category")]
        categories: Vec<String>,
    },
    /// List operators that can log in (--all: disabled ones too).
    List {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        all: bool,
    },
    /// Replace an operator's forgotten PIN; the new PIN comes from EXPO_KIOSK_PIN or stdin.
    SetPin { name: String },
    /// Change an operator's role and category scope (no --category: every category).
    SetRole {
        name: String,
        /// admin, desk, kiosk or gate.
        #[arg(long)]
        role: String,
        #[arg(long = "category")]
        categories: Vec<String>,
    },
    /// Stop an operator's PIN from working (staff who left); the audit log keeps the name.
    Disable { name: String },
    /// Let a disabled operator log in again.
    Enable { name: String },
}

/// `--help`'s after-text; README's "Exit codes" says the same.
const EXIT_CODES: &str = "Exit codes:
  0  done; for `verify`, the token is valid
  1  a negative answer: invalid token, import rejected for bad rows, a print job that failed
  2  usage error (unknown command or flag, missing argument)
  3  unavailable: could not be done now (no event yet, database, disk, keys, printer, hub)
  4  refused: wrong PIN, no --as OPERATOR, missing permission or category, badge already printed
  5  not found: no such attendee, operator, printer or template
  6  invalid: a field, file or event definition the rules refuse; a duplicate registration";

/// The exit code of an error's [`ErrorClass`].
pub fn class_exit_code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Unavailable => 3,
        ErrorClass::Refused => 4,
        ErrorClass::NotFound => 5,
        ErrorClass::Invalid => 6,
    }
}

/// The class of a failed command's error: the first error in its chain that the library
/// classifies; the CLI's own refusal; else the command could not run.
fn error_class(error: &anyhow::Error) -> ErrorClass {
    if error.downcast_ref::<OperatorRequired>().is_some() {
        return ErrorClass::Refused;
    }
    error.chain().find_map(class_of).unwrap_or(ErrorClass::Unavailable)
}

pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    // A device test's own answer (it said no, or could not be talked to).
    if let Some(problem) = error.downcast_ref::<commission::DeviceProblem>() {
        return problem.exit_code();
    }
    class_exit_code(error_class(error))
}

/// A failed command's message in `lang`: a typed problem rendered by the library; otherwise
/// (a file that cannot be read, a database failure) the English detail, after the heading of
/// its class in Chinese.
pub fn error_message(error: &anyhow::Error, lang: Lang) -> String {
    if lang == Lang::En {
        return format!("error: {error:#}");
    }
    if error.downcast_ref::<OperatorRequired>().is_some() {
        return "错误：本站已有操作员：请用 --as 操作员 执行此命令（PIN 来自 EXPO_KIOSK_PIN 或标准输入）"
            .into();
    }
    let heading = class_heading(error_class(error), lang);
    match error.chain().find_map(|cause| error_text(cause, lang)) {
        Some(text) => format!("{heading}：{text}"),
        None => format!("{heading}：{error:#}"),
    }
}

impl Cli {
    /// The language of the CLI's messages: `--lang`, else Chinese when the locale
    /// (`LC_ALL`, then `LC_MESSAGES`, then `LANG`, the first one set) is Chinese, else English.
    pub fn lang(&self) -> Lang {
        match self.lang {
            Some(lang) => lang.into(),
            None => locale_lang(|name| std::env::var(name).ok()),
        }
    }
}

fn locale_lang(variable: impl Fn(&str) -> Option<String>) -> Lang {
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .find_map(|name| variable(name).filter(|value| !value.is_empty()));
    match locale {
        Some(locale) if locale.starts_with("zh") => Lang::Zh,
        _ => Lang::En,
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let lang = cli.lang();
    let app_lang = cli.lang.map(Lang::from);
    let data_dir = match cli.data_dir.clone() {
        Some(dir) => dir,
        None => default_data_dir()?,
    };
    match cli.command {
        None => run::run(run::RunArgs::default(), data_dir, app_lang),
        Some(Command::Run(args)) => run::run(args, data_dir, app_lang),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Gate(args)) => gate::run(args, &data_dir),
        Some(Command::Demo(args)) => demo::run(args, cli.data_dir, app_lang),
        Some(Command::Sync(args)) => sync::run(args, &data_dir),
        Some(Command::ScanImage(args)) => scan::run(args),
        Some(Command::Doctor(args)) => commission::doctor(args, &data_dir),
        Some(Command::Idcard(command)) => commission::idcard(command),
        Some(Command::Relay(command)) => commission::relay(command),
        Some(Command::Scanner(command)) => commission::scanner(command),
        Some(Command::Printers(command)) => badges::printers(&data_dir, command),
        Some(command) => {
            let mut store = Store::open(&data_dir)
                .with_context(|| format!("opening the station data in {}", data_dir.display()))?;
            run_on_store(&mut store, &Acting { name: cli.acting_as }, command, lang)
        }
    }
}

fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("org", "expo-kiosk", "expo-kiosk")
        .map(|dirs| dirs.data_dir().to_owned())
        .context("no home directory to keep station data in: pass --data-dir DIR")
}

/// Who a command acts as: the operator named with `--as` (after their PIN), or, while the
/// station has no active admin yet, the station's setup actor. The library checks what
/// the operator may do; the command only says so.
struct Acting {
    name: Option<String>,
}

/// Once a station has an active admin, a command that changes data or shows personal data
/// must say which operator runs it.
#[derive(Debug, thiserror::Error)]
#[error("this station has operators: run the command as one of them with --as OPERATOR (PIN from EXPO_KIOSK_PIN or stdin)")]
pub struct OperatorRequired;

impl Acting {
    /// The operator this command acts as (see [`operators::has_active_admin`]).
    fn operator(&self, store: &mut Store) -> Result<Operator> {
        match &self.name {
            Some(name) => {
                let secret = read_secret(&format!("PIN for {name}"))?;
                Ok(operators::login(store, name, &secret)?)
            }
            None if operators::has_active_admin(store)? => Err(OperatorRequired.into()),
            None => Ok(Operator::station_admin(store.station_id())),
        }
    }

    /// Whether the command acts as the setup actor, who gives a new operator's PIN the way
    /// a first-run script always has (`EXPO_KIOSK_PIN`).
    fn is_setup(&self) -> bool {
        self.name.is_none()
    }
}

/// `lang`: the language of the messages the command prints.
fn run_on_store(
    store: &mut Store,
    acting: &Acting,
    command: Command,
    lang: Lang,
) -> Result<ExitCode> {
    match command {
        Command::Event(command) => event_command(store, acting, command),
        Command::Import(ImportCommand::Attendees(args)) => {
            let operator = acting.operator(store)?;
            import_attendees(store, &operator, &args.file, args.options(), args.json, lang)
        }
        Command::Search { query, limit, json } => {
            let operator = acting.operator(store)?;
            search_attendees(store, &operator, &query, limit, json)
        }
        Command::Register(args) => {
            let operator = acting.operator(store)?;
            register(store, &operator, args)
        }
        Command::Attendee(AttendeeCommand::Show { attendee, json, reveal_as }) => {
            // `--reveal-as` names the operator who sees the full number; it is the one acting.
            let acting = Acting { name: reveal_as.clone().or_else(|| acting.name.clone()) };
            let operator = acting.operator(store)?;
            show_attendee(store, &operator, &attendee, reveal_as.is_some(), json)
        }
        Command::Badge(BadgeCommand::Token { attendee }) => {
            let operator = acting.operator(store)?;
            let record = registration::resolve(store.conn(), &attendee)?;
            let issued =
                badge::ensure_badge(store, &operator, expo_kiosk::domain::AttendeeId(record.id))?;
            println!("{}", issued.token);
            Ok(ExitCode::SUCCESS)
        }
        Command::Badge(BadgeCommand::Revoke { attendee, reason }) => {
            let operator = acting.operator(store)?;
            let record = registration::resolve(store.conn(), &attendee)?;
            let attendee = expo_kiosk::domain::AttendeeId(record.id);
            let serial = badge::revoke(store, &operator, attendee, &reason)?;
            println!("revoked badge {serial} of {}", record.name);
            Ok(ExitCode::SUCCESS)
        }
        Command::Badge(BadgeCommand::Render(args)) => {
            let operator = acting.operator(store)?;
            badges::render(store, &operator, args)
        }
        Command::Badge(BadgeCommand::Print(args)) => {
            let operator = acting.operator(store)?;
            badges::print(store, &operator, args, lang)
        }
        Command::PrintQueue(args) => {
            let operator = acting.operator(store)?;
            badges::print_queue(store, &operator, args, lang)
        }
        Command::Report(command) => report::run(store, acting, command),
        Command::Verify { token, json } => verify(store, token, json),
        Command::Operator(command) => operator_command(store, acting, command),
        Command::Audit { attendee, limit, json } => {
            let operator = acting.operator(store)?;
            show_audit(store, &operator, attendee, limit, json)
        }
        Command::Bench(_)
        | Command::Demo(_)
        | Command::Gate(_)
        | Command::Run(_)
        | Command::Sync(_)
        | Command::ScanImage(_)
        | Command::Doctor(_)
        | Command::Idcard(_)
        | Command::Relay(_)
        | Command::Scanner(_)
        | Command::Printers(_) => {
            bail!("this command does not use the station store")
        }
    }
}

fn import_attendees(
    store: &mut Store,
    operator: &Operator,
    file: &Path,
    options: ImportOptions,
    json: bool,
    lang: Lang,
) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let report = import::import_csv(store, operator, &bytes, options)?;
    if json {
        print_json(&report)?;
    } else {
        for line in import_report_lines(&report, options.dry_run, lang) {
            println!("{line}");
        }
    }
    let rejected = report.invalid_rows > 0 && !report.committed;
    Ok(if rejected { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn search_attendees(
    store: &Store,
    operator: &Operator,
    query: &str,
    limit: usize,
    json: bool,
) -> Result<ExitCode> {
    let hits = lookup::search(store.conn(), operator, query, limit)?;
    if json {
        print_json(&hits)?;
    } else if hits.is_empty() {
        println!("no attendee matches {query:?}");
    } else {
        for hit in hits {
            println!(
                "{}  {:<10} {:<20} {:<22} {:<30} {}",
                hit.id,
                hit.registration_code.as_deref().unwrap_or("-"),
                hit.name,
                hit.category,
                hit.company,
                hit.phone_tail
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn register(store: &mut Store, operator: &Operator, args: RegisterArgs) -> Result<ExitCode> {
    let id_number = match args.id_number {
        Some(number) => number,
        None if args.id_number_stdin => read_line("ID number")?,
        None => std::env::var(ID_NUMBER_VAR).unwrap_or_default(),
    };
    let input = NewAttendee {
        registration_code: args.registration_code,
        name: args.name,
        company: args.company,
        title: args.title,
        category: args.category,
        phone: args.phone,
        email: args.email,
        country: args.country,
        id_type: args.id_type,
        id_number,
        consent: args.consent,
        tags: args.tags,
        chinese_name: args.chinese_name,
    };
    let source =
        if input.registration_code.is_empty() { Source::WalkIn } else { Source::PreRegistered };
    let record = registration::register(store, operator, &input, source)?;
    println!("{}", record.id);
    Ok(ExitCode::SUCCESS)
}

fn show_attendee(
    store: &mut Store,
    operator: &Operator,
    attendee: &str,
    reveal: bool,
    json: bool,
) -> Result<ExitCode> {
    let found = expo_kiosk::domain::AttendeeId(registration::resolve(store.conn(), attendee)?.id);
    // Outside the operator's categories: as if it did not exist, as at the desk.
    let record = lookup::attendee(store.conn(), operator, found)?
        .ok_or_else(|| RegistrationError::NotFound(attendee.chars().take(80).collect()))?;
    let id = expo_kiosk::domain::AttendeeId(record.id);
    let id_number = match (reveal, &record.id_sealed) {
        (true, Some(_)) => {
            registration::reveal_id_number(store, operator, id)?.map(|number| number.to_string())
        }
        _ => record.id_masked.clone(),
    };
    let badges = badge::badges_of(store.conn(), id)?;
    let view = json!({
        "id": record.id,
        "registration_code": record.registration_code,
        "name": record.name,
        "company": record.company,
        "title": record.title,
        "category": record.category,
        "phone": record.phone,
        "email": record.email,
        "country": record.country,
        "source": record.source,
        "id_type": record.id_type,
        "id_number": id_number,
        "consent": record.consent,
        "tags": record.tags,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "badges": badges,
    });
    if json {
        print_json(&view)?;
    } else if let Some(fields) = view.as_object() {
        for (key, value) in fields {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            println!("{key:<18} {text}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn operator_command(
    store: &mut Store,
    acting: &Acting,
    command: OperatorCommand,
) -> Result<ExitCode> {
    let change = match command {
        OperatorCommand::List { json, all } => return list_operators(store, json, all),
        OperatorCommand::Add { name, role, categories } => {
            let admin = acting.operator(store)?;
            let role = Role::parse(&role)?;
            let secret = read_new_secret(acting, "PIN for the new operator")?;
            let operator = operators::add(store, &admin, &name, role, &secret, &categories)?;
            println!("added operator {} ({})", operator.name, operator.role);
            return Ok(ExitCode::SUCCESS);
        }
        OperatorCommand::SetPin { name } => {
            let admin = acting.operator(store)?;
            let secret = Some(read_new_secret(acting, &format!("new PIN for {name}"))?);
            (admin, name, OperatorChange { secret, ..Default::default() })
        }
        OperatorCommand::SetRole { name, role, categories } => {
            let admin = acting.operator(store)?;
            let (role, categories) = (Some(Role::parse(&role)?), Some(categories));
            (admin, name, OperatorChange { role, categories, ..Default::default() })
        }
        OperatorCommand::Disable { name } => (
            acting.operator(store)?,
            name,
            OperatorChange { active: Some(false), ..Default::default() },
        ),
        OperatorCommand::Enable { name } => (
            acting.operator(store)?,
            name,
            OperatorChange { active: Some(true), ..Default::default() },
        ),
    };
    let (admin, name, change) = change;
    let entry = operators::change(store, &admin, &name, &change)?;
    let state = if entry.active { "can log in" } else { "disabled" };
    println!("operator {} ({}): {state}", entry.operator.name, entry.operator.role);
    Ok(ExitCode::SUCCESS)
}

fn list_operators(store: &Store, json: bool, all: bool) -> Result<ExitCode> {
    let list: Vec<_> =
        operators::list_all(store)?.into_iter().filter(|e| all || e.active).collect();
    if json {
        print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    for entry in list {
        let op = &entry.operator;
        let scope = if op.categories.is_empty() {
            "all categories".into()
        } else {
            op.categories.join(",")
        };
        let state = if entry.active { "" } else { " (disabled)" };
        println!("{:<20} {:<6} {scope}{state}", op.name, op.role);
    }
    Ok(ExitCode::SUCCESS)
}

fn show_audit(
    store: &Store,
    operator: &Operator,
    attendee: Option<String>,
    limit: u32,
    json: bool,
) -> Result<ExitCode> {
    let attendee = attendee.map(|a| registration::resolve(store.conn(), &a)).transpose()?;
    let attendee = attendee.map(|a| expo_kiosk::domain::AttendeeId(a.id));
    let entries = lookup::audit_log(store.conn(), operator, attendee, limit)?;
    if json {
        print_json(&entries)?;
    } else {
        for e in entries {
            println!(
                "{} {:<16} {:<14} {} {}",
                e.at,
                e.actor,
                e.action,
                e.attendee_id.map(|a| a.to_string()).unwrap_or_default(),
                e.detail
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn event_command(store: &mut Store, acting: &Acting, command: EventCommand) -> Result<ExitCode> {
    let status = match command {
        EventCommand::Init { file } => {
            let admin = acting.operator(store)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            provisioning::init(store, &admin, &text)?
        }
        EventCommand::Export { out, with_data_key } => {
            acting.operator(store)?.require(Permission::ManageEvent)?;
            let bundle = provisioning::export(store, with_data_key)?;
            provisioning::write_bundle(&bundle, &out)?;
            println!(
                "wrote {} ({} public keys{})",
                out.display(),
                bundle.public_keys.len(),
                if with_data_key { ", with the event data key: keep it safe" } else { "" }
            );
            return Ok(ExitCode::SUCCESS);
        }
        EventCommand::Import { bundle, verify_only } => {
            let admin = acting.operator(store)?;
            let bundle = provisioning::read_bundle(&bundle)?;
            let status = provisioning::import(store, &admin, &bundle, !verify_only)?;
            if status.key_id.is_some() {
                println!("this station signs badges with a new key: other stations learn it through sync or this station's `event export`");
            }
            status
        }
        EventCommand::Show { json } => {
            let status = provisioning::status(store)?;
            if json {
                print_json(&status)?;
                return Ok(ExitCode::SUCCESS);
            }
            status
        }
    };
    let event = &store.event()?.definition.event;
    println!("event        {} ({} / {})", event.id, event.name, event.name_en);
    println!("dates        {} .. {} ({})", event.start, event.end, event.timezone);
    println!("station      {}", status.station);
    println!("signing key  {}", status.key_id.as_deref().unwrap_or("none (verify only)"));
    println!("public keys  {}", status.public_keys);
    println!("data key     {}", if status.has_data_key { "present" } else { "absent" });
    Ok(ExitCode::SUCCESS)
}

fn verify(store: &Store, token: OsString, json: bool) -> Result<ExitCode> {
    let token = if token == "-" {
        let mut text = String::new();
        // Bytes that are not text are a malformed token, not a program error.
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("reading the token from stdin")?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        text
    } else {
        token.to_string_lossy().into_owned()
    };
    let today = registration::venue_today(store)?;
    match badge::verify(store, token.trim(), today)? {
        Ok(verified) => {
            if json {
                print_json(&json!({
                    "valid": true,
                    "reason": null,
                    "attendee_id": verified.claims.attendee,
                    "name": verified.attendee.as_ref().map(|a| a.name.clone()),
                    "company": verified.attendee.as_ref().map(|a| a.company.clone()),
                    "category": verified.category,
                    "serial": verified.claims.serial,
                    "valid_from": verified.claims.valid_from,
                    "valid_to": verified.claims.valid_to,
                    "key_id": format!("{:08x}", verified.claims.key_id),
                }))?;
            } else {
                let name = verified
                    .attendee
                    .as_ref()
                    .map(|a| a.name.as_str())
                    .unwrap_or("(attendee not on this station)");
                println!(
                    "valid: {name}, {} badge {}, {} .. {}",
                    verified.category,
                    verified.claims.serial,
                    verified.claims.valid_from,
                    verified.claims.valid_to
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(invalid) => {
            if json {
                print_json(&json!({ "valid": false, "reason": invalid.as_str() }))?;
            } else {
                println!("invalid: {}", invalid.as_str());
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// The environment variable `register` reads an ID number from, so that the number is
/// not on the process's command line (which `ps` shows to every user).
const ID_NUMBER_VAR: &str = "EXPO_KIOSK_ID_NUMBER";

/// A PIN from `EXPO_KIOSK_PIN`, or the next line of stdin (scripts pipe it in).
fn read_secret(prompt: &str) -> Result<String> {
    match std::env::var("EXPO_KIOSK_PIN") {
        Ok(pin) => Ok(pin),
        Err(_) => read_line(prompt),
    }
}

/// The PIN an admin gives an operator: `EXPO_KIOSK_NEW_PIN`, or for the setup actor
/// `EXPO_KIOSK_PIN` as in a first-run script, or the next line of stdin (after the acting
/// operator's own PIN).
fn read_new_secret(acting: &Acting, prompt: &str) -> Result<String> {
    if let Ok(pin) = std::env::var("EXPO_KIOSK_NEW_PIN") {
        return Ok(pin);
    }
    if acting.is_setup() {
        return read_secret(prompt);
    }
    read_line(prompt)
}

/// The next line of stdin, after a prompt on stderr; an empty line is an error.
fn read_line(prompt: &str) -> Result<String> {
    eprint!("{prompt}: ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {prompt}"))?;
    let text = line.trim_end_matches(['\r', '\n']).to_owned();
    if text.is_empty() {
        bail!("no {prompt} given on stdin");
    }
    Ok(text)
}

fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Used by `demo` and `bench` to keep their stores apart from a real station's.
pub(crate) fn fresh_dir(path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path).with_context(|| format!("clearing {}", path.display()))?;
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}
