//! The `expo-kiosk` binary: command-line parsing, logging and exit codes. Each command
//! is a thin shell over the library; see `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// mimalloc: an import frees on the writer thread what the checker thread allocated,
// which glibc's malloc serves poorly (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_logging();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(cli::exit_code_for(&error))
        }
    }
}

/// Logs go to stderr, warnings and up by default; `EXPO_KIOSK_LOG=debug` for more.
/// Nothing logged anywhere in the program carries an ID document number.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXPO_KIOSK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
