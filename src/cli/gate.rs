//! `expo-kiosk gate`: run the lanes of GATE.toml headless, send a command to a running
//! gate, or measure it (`gate bench`).

mod bench;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use expo_kiosk::gate::{control, ControlCommand, Gate, GateConfig, SystemClock};
use expo_kiosk::heartbeat::DeviceBoard;
use expo_kiosk::station_sync;
use expo_kiosk::store::Store;
use expo_sync::heartbeat::StationMode;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GateArgs {
    /// The gate's lanes, scanners and relays (see assets/gates/example-gate.toml). Prints
    /// one JSON line per decision; reads `emergency`, `lockdown`, `normal`, `status` and
    /// `stop` from standard input unless a lane reads the keyboard. An enrolled station
    /// syncs with its hub meanwhile (every `sync_interval_s`).
    #[arg(long, value_name = "GATE.toml")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    action: Option<GateAction>,
}

#[derive(Subcommand)]
enum GateAction {
    /// Send `emergency`, `lockdown`, `normal`, `status` or `stop` to a running gate.
    Control {
        /// The gate's `control.socket`.
        #[arg(long)]
        socket: PathBuf,
        command: String,
    },
    /// Measure scan-to-relay latency and decisions per second over pseudo-terminals.
    Bench(bench::GateBenchArgs),
}

pub fn run(args: GateArgs, data_dir: &Path) -> Result<ExitCode> {
    match (args.action, args.config) {
        (Some(GateAction::Control { socket, command }), _) => {
            let command: ControlCommand = command.parse()?;
            let reply = control::send(&socket, command)
                .with_context(|| format!("talking to the gate at {}", socket.display()))?;
            println!("{reply}");
            Ok(ExitCode::SUCCESS)
        }
        (Some(GateAction::Bench(args)), _) => bench::run(args),
        (None, Some(config)) => serve(&config, data_dir),
        (None, None) => {
            anyhow::bail!("give --config GATE.toml (or a subcommand: control, bench)")
        }
    }
}

fn serve(config_path: &Path, data_dir: &Path) -> Result<ExitCode> {
    let store = Store::open(data_dir)
        .with_context(|| format!("opening the station data in {}", data_dir.display()))?;
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config = GateConfig::from_toml(&text, &store.event()?.definition)
        .with_context(|| format!("in {}", config_path.display()))?;
    let lanes = config.lanes.len();
    let sync_options = config.sync_options();
    let gate = Gate::start(store, config, Arc::new(SystemClock))?;
    gate.control_from_stdin()?;
    stop_on_signals(gate.stopper())?;
    eprintln!("gate running with {lanes} lane(s)");
    // Pushes the decisions and pulls revocations while the lanes run; the lanes read what
    // it writes from the database, scan by scan. The gate decides offline whatever sync does.
    let _sync = match station_sync::start_background_sync(
        data_dir,
        sync_options,
        StationMode::HeadlessGate,
        DeviceBoard::default(),
    ) {
        Ok(Some(worker)) => {
            eprintln!("syncing with the hub every {:?}", sync_options.interval);
            Some(worker)
        }
        Ok(None) => None,
        Err(error) => {
            tracing::error!(%error, "no background sync; the lanes decide on what they hold");
            eprintln!("not syncing: {error}");
            None
        }
    };
    let printed = gate.verdicts().iter().try_for_each(|verdict| -> Result<()> {
        // Locked per line: the standard-input control thread prints its answers too.
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(&verdict)?)?;
        out.flush()?;
        Ok(())
    });
    match printed {
        Ok(()) => gate.wait()?,
        // Whoever read the verdicts is gone: stop the lanes the orderly way, then say why.
        Err(error) => {
            gate.stop()?;
            return Err(error.context("writing verdicts to standard output"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (a service manager stopping the gate) and SIGINT (Ctrl-C) stop the gate the
/// orderly way: every lane's relay is closed before the process ends, so no turnstile is
/// left unlocked by a pulse that was cut short.
fn stop_on_signals(stopper: expo_kiosk::gate::Stopper) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .context("installing the signal handlers")?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            tracing::warn!(signal, "stopping the gate");
            stopper.stop();
        }
    })?;
    Ok(())
}
