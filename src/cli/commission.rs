//! The technician's commands for set-up day: `doctor`, `idcard read`, `relay pulse|set`,
//! `scanner watch` and `printers test`. None needs an event, a GATE.toml or the GUI; each
//! says plainly what is wrong with a device and how to fix it, and exits non-zero: 1 when
//! the device answered "no" (no card, a bad check digit, a refused relay write), 3 when it
//! could not be talked to (no port, silence, corrupt frames, a wrong echo).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use expo_hardware::idcard::{self, IdCard, IdCardError, IdCardReader, IdDocument, SamReader};
use expo_hardware::inventory::{self, Roots, UsbIdentity};
use expo_hardware::probe::{self, PortAnswer};
use expo_hardware::relay::{GateRelay, RelayDriver, RelayError, RelayProtocol, RelaySettings};
use expo_hardware::scanner::{LineWatcher, Terminator, WatchedLine};
use expo_kiosk::badges::printer::{cups_status, CupsUnavailable};
use expo_kiosk::badges::{PrinterConfig, Template};
use serde::Serialize;
use serde_json::json;

use super::print_json;

/// How long `doctor` waits for each device's answer: SAM and Modbus modules answer in a
/// few milliseconds.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// How long `doctor` waits for the hub's health check.
const HUB_TIMEOUT: Duration = Duration::from_secs(3);
/// Free space under which `doctor` warns, and under which it reports a fault.
const DISK_WARNING_BYTES: u64 = 1 << 30;
const DISK_FAULT_BYTES: u64 = 100 << 20;
/// How often `idcard read --wait` asks the reader again.
const CARD_RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// The template of a test badge when the printer names none.
const TEST_TEMPLATE: &str = "lanyard-90x130";

/// A device problem: what is wrong, how to fix it, and the exit code (1: the device said
/// no; 3: it could not be talked to).
#[derive(Debug)]
pub struct DeviceProblem {
    problem: String,
    fix: &'static str,
    code: u8,
}

impl std::fmt::Display for DeviceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n  fix: {}", self.problem, self.fix)
    }
}

impl std::error::Error for DeviceProblem {}

impl DeviceProblem {
    fn unreachable(problem: String, fix: &'static str) -> Self {
        Self { problem, fix, code: 3 }
    }

    fn refused(problem: String, fix: &'static str) -> Self {
        Self { problem, fix, code: 1 }
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }

    /// A port that would not open: absent, taken, or not ours to open.
    fn port(port: &str, error: &expo_hardware::serialport::Error) -> Self {
        let fix = match error.kind() {
            expo_hardware::serialport::ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => {
                "add this user to the dialout group (sudo usermod -aG dialout $USER) and log in again"
            }
            expo_hardware::serialport::ErrorKind::Io(std::io::ErrorKind::NotFound)
            | expo_hardware::serialport::ErrorKind::NoDevice => {
                "check the cable and the port name: `expo-kiosk doctor` lists the ports (prefer the /dev/serial/by-id names)"
            }
            _ => "close any other program using the port (a running station app or gate), then try again",
        };
        Self::unreachable(format!("cannot open {port}: {error}"), fix)
    }
}

// ---------------------------------------------------------------------------------------
// idcard read

#[derive(Subcommand)]
pub enum IdcardCommand {
    /// Read one ID card (resident or foreign permanent residence card) and show it.
    Read(IdcardReadArgs),
}

#[derive(Args)]
pub struct IdcardReadArgs {
    /// The reader's serial port, e.g. /dev/ttyUSB0 or a /dev/serial/by-id/... name.
    #[arg(long, value_name = "P")]
    port: String,
    /// Line speed (SAM readers ship at 115200).
    #[arg(long, value_name = "B", default_value_t = idcard::DEFAULT_BAUD)]
    baud: u32,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Show the full ID number (never logged).
    #[arg(long)]
    reveal: bool,
    /// Keep asking for a card until S seconds have passed (default: one attempt).
    #[arg(long, value_name = "S")]
    wait: Option<f64>,
}

pub fn idcard(command: IdcardCommand) -> Result<ExitCode> {
    let IdcardCommand::Read(args) = command;
    let mut reader = SamReader::open(&args.port, args.baud, idcard::DEFAULT_TIMEOUT)
        .map_err(|error| card_problem(&args.port, error))?;
    let read = match args.wait {
        Some(seconds) => {
            let wait = Duration::try_from_secs_f64(seconds).unwrap_or_default();
            reader.wait_for_card(wait, CARD_RETRY_INTERVAL)
        }
        None => reader.read_card(),
    };
    let card = read.map_err(|error| card_problem(&args.port, error))?;
    let check = card.document.validate_number();
    let document = if args.reveal { card.document.clone() } else { card.document.masked() };
    if args.json {
        print_json(&json!({
            "card": document,
            "photo_bytes": card.photo_wlt.len(),
            "check_digit_ok": check.is_ok(),
        }))?;
    } else {
        print_card(&document, &card);
    }
    match check {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => Err(DeviceProblem::refused(
            format!("the card's number is not valid: {error}"),
            "the card may be forged or damaged, or the reader misread it: read it again, and if it fails again, ask for another document",
        )
        .into()),
    }
}

fn print_card(document: &IdDocument, card: &IdCard) {
    let until = |date: &Option<idcard::CardDate>| {
        date.map_or_else(|| "长期 (no expiry)".to_owned(), |date| date.to_string())
    };
    let rows: Vec<(&str, String)> = match document {
        IdDocument::Resident(resident) => vec![
            ("card", "resident ID card 居民身份证".into()),
            ("name", resident.name.trim().to_owned()),
            ("sex", format!("{:?}", resident.gender)),
            ("ethnicity", format!("{} ({:02})", resident.ethnicity, resident.ethnicity_code)),
            ("birth date", resident.birth_date.to_string()),
            ("address", resident.address.trim().to_owned()),
            ("ID number", resident.id_number.reveal().to_owned()),
            ("issued by", resident.issuing_authority.trim().to_owned()),
            ("valid", format!("{} .. {}", resident.valid_from, until(&resident.valid_until))),
        ],
        IdDocument::ForeignPermanentResident(foreign) => vec![
            ("card", "foreign permanent residence card 外国人永久居留身份证".into()),
            ("name", foreign.english_name.trim().to_owned()),
            ("Chinese name", foreign.chinese_name.trim().to_owned()),
            ("sex", format!("{:?}", foreign.gender)),
            ("nationality", foreign.nationality.trim().to_owned()),
            ("birth date", foreign.birth_date.to_string()),
            ("card number", foreign.card_number.reveal().to_owned()),
            ("issued by", format!("authority {}", foreign.authority_code.trim())),
            ("valid", format!("{} .. {}", foreign.valid_from, until(&foreign.valid_until))),
        ],
    };
    for (label, value) in rows {
        println!("{label:<13} {value}");
    }
    println!("{:<13} {} bytes (WLT)", "photo", card.photo_wlt.len());
}

fn card_problem(port: &str, error: IdCardError) -> anyhow::Error {
    use idcard::SamStatusError as Sam;
    let problem = match error {
        IdCardError::Open(error) => return DeviceProblem::port(port, &error).into(),
        IdCardError::Timeout { timeout, .. } => DeviceProblem::unreachable(
            format!("the ID-card reader on {port} did not answer within {timeout:?}"),
            "check that this port is the reader, that it is powered, and its line speed (--baud; SAM readers ship at 115200)",
        ),
        IdCardError::Io(error) => DeviceProblem::unreachable(
            format!("the ID-card reader on {port} went away: {error}"),
            "check the cable and plug the reader in again",
        ),
        IdCardError::Frame(error) => DeviceProblem::unreachable(
            format!("the ID-card reader on {port} sent a corrupt answer: {error}"),
            "check the line speed (--baud) and the cable; another device may share the port",
        ),
        IdCardError::CardData(error) => DeviceProblem::unreachable(
            format!("the card's data could not be read: {error}"),
            "read the card again; if it fails again, the card or the reader's firmware is faulty",
        ),
        IdCardError::Status(Sam::NoCard) => DeviceProblem::refused(
            "no card on the reader".into(),
            "lay the card flat on the reader, or give it time with --wait 10",
        ),
        IdCardError::Status(status @ (Sam::ReadFailed | Sam::SelectFailed | Sam::WrongCard)) => {
            DeviceProblem::refused(
                format!("the card could not be read: {status}"),
                "keep the card still and flat on the reader; only 2nd-generation ID cards and permanent residence cards can be read",
            )
        }
        IdCardError::Status(status) => DeviceProblem::unreachable(
            format!("the ID-card reader reports a fault: {status}"),
            "power the reader off and on; if it persists, the reader's SAM module needs service",
        ),
    };
    problem.into()
}

// ---------------------------------------------------------------------------------------
// relay pulse / set

#[derive(Subcommand)]
pub enum RelayCommand {
    /// Switch one relay channel on, then off after --ms: what a granted entry does.
    Pulse {
        #[command(flatten)]
        relay: RelayArgs,
        /// How long the relay stays on.
        #[arg(long, value_name = "M", default_value_t = 200)]
        ms: u64,
    },
    /// Switch one relay channel on or off and leave it so (testing a lock held open).
    Set {
        #[command(flatten)]
        relay: RelayArgs,
        state: OnOff,
    },
}

#[derive(Args)]
pub struct RelayArgs {
    /// The relay board's serial port.
    #[arg(long, value_name = "P")]
    port: String,
    #[arg(long, value_enum)]
    protocol: RelayKind,
    /// Modbus module address (1 and 255 are common defaults).
    #[arg(long, value_name = "A", default_value_t = 1)]
    address: u8,
    /// Channel from 1; on Modbus, channel N is coil N-1.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    channel: u8,
    /// Line speed (relay boards ship at 9600).
    #[arg(long, value_name = "B", default_value_t = 9600)]
    baud: u32,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RelayKind {
    /// LCUS USB boards (`A0 CH OP SUM`; they never answer).
    Lcus,
    /// Modbus RTU modules (write single coil; the module echoes each write).
    Modbus,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// What `relay` does to the channel.
enum Switch {
    On,
    Off,
    Pulse(Duration),
}

pub fn relay(command: RelayCommand) -> Result<ExitCode> {
    let (args, action) = match command {
        RelayCommand::Pulse { relay, ms } => (relay, Switch::Pulse(Duration::from_millis(ms))),
        RelayCommand::Set { relay, state: OnOff::On } => (relay, Switch::On),
        RelayCommand::Set { relay, state: OnOff::Off } => (relay, Switch::Off),
    };
    let protocol = match args.protocol {
        RelayKind::Lcus => RelayProtocol::Lcus,
        RelayKind::Modbus => RelayProtocol::Modbus { address: args.address },
    };
    let settings =
        RelaySettings { baud: args.baud, channels: args.channel, ..RelaySettings::new(protocol) };
    let failed = |error| relay_problem(&args, error);
    let mut board = RelayDriver::open_as_is(&args.port, settings).map_err(failed)?;
    let checked = match protocol {
        RelayProtocol::Lcus => "sent (LCUS boards never answer: listen for the click)",
        RelayProtocol::Modbus { .. } => "echo checked",
    };
    let channel = args.channel;
    match action {
        Switch::Off => {
            board.close(channel).map_err(failed)?;
            println!("channel {channel} off: {checked}");
        }
        Switch::On => {
            board.hold_open(channel).map_err(failed)?;
            println!("channel {channel} on: {checked}; `relay set ... off` switches it off");
        }
        Switch::Pulse(duration) => {
            board.hold_open(channel).map_err(failed)?;
            println!("channel {channel} on: {checked}");
            std::thread::sleep(duration);
            board.close(channel).map_err(|error| {
                failed(error).context(format!("channel {channel} may still be on"))
            })?;
            println!("channel {channel} off after {} ms: {checked}", duration.as_millis());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn relay_problem(args: &RelayArgs, error: RelayError) -> anyhow::Error {
    let port = &args.port;
    let address = args.address;
    let problem = match error {
        RelayError::Open(error) => DeviceProblem::port(port, &error),
        RelayError::EchoMissing { attempts } => DeviceProblem::unreachable(
            format!("the Modbus module at address {address} on {port} did not answer ({attempts} attempts)"),
            "check --address (1 and 255 are common), --baud (9600) and the A/B wiring; an LCUS board never answers: use --protocol lcus",
        ),
        RelayError::EchoMismatch { sent, received } => DeviceProblem::unreachable(
            format!("the relay module on {port} answered {received:02X?} instead of echoing {sent:02X?}"),
            "check --baud and that no other device shares the line; a wrong echo means the write may not have been understood",
        ),
        RelayError::BadAnswer { received, error } => DeviceProblem::unreachable(
            format!("the relay module on {port} answered {received:02X?}: {error}"),
            "check --baud and that no other device shares the line",
        ),
        RelayError::Exception(code) => DeviceProblem::refused(
            format!("the relay module refused the write (Modbus exception {code:#04x})"),
            "the channel may not exist on this module: check --channel against the module's relay count",
        ),
        RelayError::Io(error) => DeviceProblem::unreachable(
            format!("the relay board on {port} went away: {error}"),
            "check the cable and plug the board in again",
        ),
        other @ (RelayError::InvalidChannel { .. }
        | RelayError::WorkerStopped
        | RelayError::NoReadBack) => DeviceProblem::unreachable(
            other.to_string(),
            "check --channel and --protocol",
        ),
    };
    problem.into()
}

// ---------------------------------------------------------------------------------------
// scanner watch

#[derive(Subcommand)]
pub enum ScannerCommand {
    /// Show each scanned line with its terminator, AIM identifier and the gaps between
    /// bytes, to set a scanner's line settings (or the keyboard-wedge gap) from facts.
    Watch(ScannerWatchArgs),
}

#[derive(Args)]
pub struct ScannerWatchArgs {
    /// The scanner's serial port (USB-CDC or RS-232).
    #[arg(
        long,
        value_name = "P",
        required_unless_present = "keyboard",
        conflicts_with = "keyboard"
    )]
    port: Option<String>,
    /// Line speed (USB-CDC scanners ignore it).
    #[arg(long, value_name = "B", default_value_t = 9600)]
    baud: u32,
    /// A keyboard-wedge scanner: read what it types on standard input.
    #[arg(long)]
    keyboard: bool,
    /// Stop after this many lines.
    #[arg(long, value_name = "N")]
    lines: Option<usize>,
    /// Give up (exit 1) after this many seconds without a scan; 0 waits for ever.
    #[arg(long, value_name = "S", default_value_t = 120)]
    timeout: u64,
    /// A pause this long ends a line sent without terminator.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    idle_ms: u64,
}

pub fn scanner(command: ScannerCommand) -> Result<ExitCode> {
    let ScannerCommand::Watch(args) = command;
    let idle = Duration::from_millis(args.idle_ms);
    let timeout = (args.timeout > 0).then(|| Duration::from_secs(args.timeout));
    match &args.port {
        Some(port) => {
            let serial = expo_hardware::scanner::open_watch_port(port, args.baud)
                .map_err(|error| DeviceProblem::port(port, &error))?;
            println!("watching {port} at {} baud (Ctrl-C to stop)", args.baud);
            watch_lines(serial, idle, timeout, args.lines, port)
        }
        None => {
            let _raw = KeyByKey::start();
            println!("scan into this terminal (Ctrl-C to stop)");
            watch_lines(std::io::stdin(), idle, timeout, args.lines, "standard input")
        }
    }
}

/// Reads `source`, printing each line, until `limit` lines, end of input or `timeout`
/// without a line.
fn watch_lines(
    mut source: impl Read,
    idle: Duration,
    timeout: Option<Duration>,
    limit: Option<usize>,
    name: &str,
) -> Result<ExitCode> {
    let mut watcher = LineWatcher::new(idle);
    let mut count = 0;
    let mut last_line_at = Instant::now();
    let mut chunk = [0u8; 256];
    while limit.is_none_or(|limit| count < limit) {
        let (read, now) = match source.read(&mut chunk) {
            Ok(0) => {
                if let Some(line) = watcher.idle(Instant::now() + idle) {
                    count += 1;
                    print_watched(count, &line);
                }
                if count == 0 && name != "standard input" {
                    return Err(DeviceProblem::unreachable(
                        format!("{name} closed"),
                        "check the cable and plug the scanner in again",
                    )
                    .into());
                }
                break;
            }
            Ok(read) => (read, Instant::now()),
            Err(error) if is_timeout(&error) => (0, Instant::now()),
            Err(error) => {
                return Err(DeviceProblem::unreachable(
                    format!("reading {name} failed: {error}"),
                    "check the cable and plug the scanner in again",
                )
                .into())
            }
        };
        let mut lines: Vec<WatchedLine> =
            chunk[..read].iter().filter_map(|&byte| watcher.push(byte, now)).collect();
        lines.extend(watcher.idle(now));
        for line in lines {
            count += 1;
            last_line_at = now;
            print_watched(count, &line);
        }
        if timeout.is_some_and(|timeout| now.duration_since(last_line_at) >= timeout) {
            return Err(DeviceProblem::refused(
                format!("nothing was scanned on {name} for {} s", now.duration_since(last_line_at).as_secs()),
                "scan a code; if nothing arrives, check the port and line speed, and that the scanner is in serial (not keyboard) mode",
            )
            .into());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
}

fn print_watched(number: usize, line: &WatchedLine) {
    let terminator = match line.terminator {
        Terminator::Cr => "CR",
        Terminator::Lf => "LF",
        Terminator::CrLf => "CR+LF",
        Terminator::Tab => "Tab",
        Terminator::None => "none (ended by a pause)",
    };
    println!(
        "{number}: {:?}  {} bytes  terminator {terminator}  AIM {}  gaps: mean {:.1} ms, longest {:.1} ms",
        line.shown(),
        line.raw.len(),
        line.aim.as_deref().unwrap_or("none"),
        line.mean_gap.as_secs_f64() * 1000.0,
        line.longest_gap.as_secs_f64() * 1000.0,
    );
}

/// A terminal on standard input delivers each key as it is typed (not a line at a time),
/// without echo, until dropped, so the gaps between a wedge scanner's keys are measured.
/// Ctrl-C still ends the program; the terminal is put back first.
struct KeyByKey {
    saved: Option<String>,
}

impl KeyByKey {
    fn start() -> Self {
        if !std::io::stdin().is_terminal() {
            return Self { saved: None };
        }
        let saved = stty(&["-g"]).filter(|_| stty(&["-icanon", "-echo", "min", "1"]).is_some());
        if let Some(settings) = saved.clone() {
            restore_on_interrupt(settings);
        }
        Self { saved }
    }
}

impl Drop for KeyByKey {
    fn drop(&mut self) {
        if let Some(settings) = &self.saved {
            stty(&[settings]);
        }
    }
}

/// Runs `stty` on standard input; its output on success.
fn stty(args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("stty")
        .args(args)
        .stdin(std::process::Stdio::inherit())
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn restore_on_interrupt(settings: String) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    let spawned = std::thread::Builder::new().name("restore-terminal".into()).spawn(move || {
        if signals.forever().next().is_some() {
            stty(&[&settings]);
            // 128 + SIGINT, as a shell reports a program ended by Ctrl-C.
            std::process::exit(130);
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "Ctrl-C will leave the terminal without echo");
    }
}

// ---------------------------------------------------------------------------------------
// printers test

#[derive(Args)]
pub struct PrinterTestArgs {
    /// A printer from printers.toml, or cups:QUEUE, spool:DIR or none; default: the default
    /// printer in printers.toml.
    #[arg(long, value_name = "NAME")]
    printer: Option<String>,
}

/// Prints a made-up attendee's badge through the printer's real back-end.
pub fn printers_test(data_dir: &Path, args: PrinterTestArgs) -> Result<ExitCode> {
    let printers = PrinterConfig::load(data_dir)?;
    let printer = printers.resolve(args.printer.as_deref())?;
    let template = Template::load(printer.template.as_deref().unwrap_or(TEST_TEMPLATE))?;
    let sent = printer.print_test_badge(&template, "expo-kiosk printers test")?;
    println!(
        "sent a test badge ({}, {} KB) to printer {}: printer job {}",
        sent.template,
        sent.bytes.div_ceil(1024),
        sent.printer,
        sent.reference
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// doctor

#[derive(Args)]
pub struct DoctorArgs {
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Where sysfs is mounted (tests give a fake tree).
    #[arg(long, hide = true, env = "EXPO_KIOSK_SYS_ROOT", default_value = "/sys")]
    sys_root: PathBuf,
    /// Where device nodes live (tests give a fake tree).
    #[arg(long, hide = true, env = "EXPO_KIOSK_DEV_ROOT", default_value = "/dev")]
    dev_root: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warning,
    Fault,
}

#[derive(Debug, Serialize)]
struct Check {
    area: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'static str>,
}

impl Check {
    fn ok(area: &'static str, detail: String) -> Self {
        Self { area, status: Status::Ok, detail, fix: None }
    }

    fn warning(area: &'static str, detail: String, fix: &'static str) -> Self {
        Self { area, status: Status::Warning, detail, fix: Some(fix) }
    }

    fn fault(area: &'static str, detail: String, fix: &'static str) -> Self {
        Self { area, status: Status::Fault, detail, fix: Some(fix) }
    }
}

pub fn doctor(args: DoctorArgs, data_dir: &Path) -> Result<ExitCode> {
    let roots = Roots { sys: args.sys_root, dev: args.dev_root };
    let mut checks = serial_checks(&roots);
    checks.extend(camera_checks(&roots));
    checks.extend(printer_checks(data_dir));
    checks.extend(station_checks(data_dir));
    checks.push(disk_check(data_dir));
    let worst = checks.iter().map(|check| check.status).max().unwrap_or(Status::Ok);
    if args.json {
        print_json(&json!({ "ok": worst != Status::Fault, "checks": checks }))?;
    } else {
        for check in &checks {
            let status = match check.status {
                Status::Ok => "ok",
                Status::Warning => "warning",
                Status::Fault => "FAULT",
            };
            println!("{status:<8} {:<9} {}", check.area, check.detail);
            if let Some(fix) = check.fix {
                println!("{:<18} fix: {fix}", "");
            }
        }
    }
    Ok(if worst == Status::Fault { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn usb_text(usb: Option<&UsbIdentity>) -> String {
    let Some(usb) = usb else { return "on-board".into() };
    let names: Vec<&str> =
        [usb.manufacturer.as_deref(), usb.product.as_deref()].into_iter().flatten().collect();
    format!("USB {:04x}:{:04x} {}", usb.vendor_id, usb.product_id, names.join(" "))
        .trim_end()
        .into()
}

/// Each serial port, and what answers on it.
fn serial_checks(roots: &Roots) -> Vec<Check> {
    let ports = match inventory::serial_ports_in(roots) {
        Ok(ports) => ports,
        Err(error) => {
            return vec![Check::warning(
                "serial",
                format!("cannot list serial ports under {}: {error}", roots.sys.display()),
                "run doctor on the station itself (it reads /sys)",
            )]
        }
    };
    if ports.is_empty() {
        return vec![Check::warning(
            "serial",
            "no serial ports".into(),
            "plug in the scanner, ID-card reader or relay board; USB devices appear as ttyUSB or ttyACM ports",
        )];
    }
    ports
        .iter()
        .map(|port| {
            let name = port.stable_path.as_ref().unwrap_or(&port.path);
            let usb = usb_text(port.usb.as_ref());
            let described = |what: &str| format!("{} ({usb}): {what}", name.display());
            let lcus_chip = port.usb.as_ref().is_some_and(|usb| (usb.vendor_id, usb.product_id) == (0x1A86, 0x7523));
            match probe::identify(&port.path.to_string_lossy(), PROBE_TIMEOUT) {
                Ok(PortAnswer::IdCardReader) => Check::ok("serial", described("ID-card reader (SAM, 115200 baud)")),
                Ok(PortAnswer::ModbusRelay { address }) => Check::ok(
                    "serial",
                    described(&format!("Modbus relay module, address {address} (9600 baud)")),
                ),
                Ok(PortAnswer::Silent) if lcus_chip => Check::ok(
                    "serial",
                    described("no answer; a CH340 chip, as on LCUS relay boards (test with `relay pulse --protocol lcus`)"),
                ),
                Ok(PortAnswer::Silent) => Check::ok(
                    "serial",
                    described("no answer; a scanner or an LCUS relay board (test with `scanner watch` or `relay pulse`)"),
                ),
                Err(error) => Check::warning(
                    "serial",
                    described(&format!("cannot open: {error}")),
                    DeviceProblem::port(&port.path.to_string_lossy(), &error).fix,
                ),
            }
        })
        .collect()
}

fn camera_checks(roots: &Roots) -> Vec<Check> {
    let support = if cfg!(feature = "camera") {
        "this build captures from cameras"
    } else {
        "this build cannot capture (build with --features camera, see README)"
    };
    match inventory::cameras_in(roots) {
        Ok(cameras) if cameras.is_empty() => vec![Check::ok("camera", "no cameras".into())],
        Ok(cameras) => cameras
            .iter()
            .map(|camera| {
                let detail = format!(
                    "{} {} ({}): {support}",
                    camera.path.display(),
                    camera.name,
                    usb_text(camera.usb.as_ref())
                );
                if cfg!(feature = "camera") {
                    Check::ok("camera", detail)
                } else {
                    Check::warning("camera", detail, "build with `cargo build --release --features camera` (needs libclang-dev) to scan QR codes with it")
                }
            })
            .collect(),
        Err(error) => vec![Check::warning(
            "camera",
            format!("cannot list cameras: {error}"),
            "run doctor on the station itself (it reads /sys)",
        )],
    }
}

fn printer_checks(data_dir: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    match cups_status() {
        Ok(queues) if queues.is_empty() => checks.push(Check::warning(
            "printing",
            "CUPS has no printer queues".into(),
            "add the badge printer in CUPS (its web page at http://localhost:631 or lpadmin), or use a spool folder in printers.toml",
        )),
        Ok(queues) => checks.push(Check::ok("printing", format!("CUPS queues: {}", queues.join(", ")))),
        Err(CupsUnavailable::NotInstalled) => checks.push(Check::warning(
            "printing",
            CupsUnavailable::NotInstalled.to_string(),
            "install CUPS (apt install cups) to print through a queue, or use a spool folder printer in printers.toml",
        )),
        Err(error) => checks.push(Check::warning(
            "printing",
            error.to_string(),
            "start CUPS (systemctl start cups)",
        )),
    }
    match PrinterConfig::load(data_dir) {
        Ok(config) => checks.push(match &config.default {
            Some(default) => Check::ok("printing", format!("printers.toml: default printer {default}")),
            None => Check::warning(
                "printing",
                "printers.toml names no default printer".into(),
                "add `default = \"NAME\"` and a [[printer]] to printers.toml in the data directory; `printers test --printer cups:QUEUE` tries one first",
            ),
        }),
        Err(error) => checks.push(Check::fault(
            "printing",
            error.to_string(),
            "correct printers.toml (see README \"Printing\")",
        )),
    }
    checks
}

/// The data directory, database, event and keys, enrolment and hub.
fn station_checks(data_dir: &Path) -> Vec<Check> {
    use expo_kiosk::station_sync::HubCredential;
    let shown = data_dir.display();
    if !data_dir.join("station.db").is_file() {
        return vec![Check::warning(
            "station",
            format!("no station data in {shown}"),
            "set the station up: `expo-kiosk event import BUNDLE` (or `event init` on the first station), or pass --data-dir",
        )];
    }
    let mut checks = Vec::new();
    let store = match expo_kiosk::store::Store::open(data_dir) {
        Ok(store) => store,
        Err(error) => {
            return vec![Check::fault(
            "station",
            format!("the database in {shown} does not open: {error}"),
            "restore the data directory from a backup, or set the station up again in an empty one",
        )]
        }
    };
    checks
        .push(Check::ok("station", format!("database {}", data_dir.join("station.db").display())));
    match expo_kiosk::provisioning::status(&store) {
        Ok(status) => {
            let signing =
                status.key_id.map_or("none (verifies only)".into(), |id| format!("key {id}"));
            checks.push(Check::ok(
                "station",
                format!(
                    "event {}, station {}, signing {signing}, {} public keys, data key {}",
                    status.event_id,
                    status.station,
                    status.public_keys,
                    if status.has_data_key { "present" } else { "absent" }
                ),
            ));
        }
        Err(error) => checks.push(Check::warning(
            "station",
            format!("no event: {error}"),
            "import the event: `expo-kiosk event import BUNDLE`",
        )),
    }
    match HubCredential::load(data_dir) {
        Ok(credential) => {
            let hub = credential.client(None).and_then(|client| Ok(client.health(HUB_TIMEOUT)?));
            checks.push(match hub {
                Ok(()) => Check::ok("hub", format!("enrolled, {} answers", credential.hub_url)),
                Err(error) => Check::warning(
                    "hub",
                    format!("enrolled, {} does not answer: {error:#}", credential.hub_url),
                    "the station works offline; check the network and that the hub runs (`expo-hub serve`), then `expo-kiosk sync status`",
                ),
            });
        }
        Err(error) => checks.push(Check::warning(
            "hub",
            format!("not enrolled: {error}"),
            "enrol once the hub is up: `expo-kiosk sync enrol --hub URL --code CODE`",
        )),
    }
    checks
}

/// Free space where the data directory is (`df`, so nothing platform-specific links in).
fn disk_check(data_dir: &Path) -> Check {
    let existing = data_dir.ancestors().find(|dir| dir.exists()).unwrap_or(Path::new("/"));
    let free = std::process::Command::new("df")
        .args(["-Pk", "--"])
        .arg(existing)
        .output()
        .ok()
        .and_then(|output| {
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let fields: Vec<&str> = text.lines().nth(1)?.split_whitespace().collect();
            fields.get(3)?.parse::<u64>().ok()
        })
        .map(|kib| kib * 1024);
    let Some(free) = free else {
        return Check::warning(
            "disk",
            format!("cannot tell the free space at {}", existing.display()),
            "check it with `df -h`",
        );
    };
    let detail = format!("{} MB free at {}", free >> 20, existing.display());
    if free < DISK_FAULT_BYTES {
        Check::fault(
            "disk",
            detail,
            "free disk space now: the station stops writing when the disk is full",
        )
    } else if free < DISK_WARNING_BYTES {
        Check::warning("disk", detail, "free some disk space before the show")
    } else {
        Check::ok("disk", detail)
    }
}
