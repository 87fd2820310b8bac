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
    quit_quietly_when_stdout_is_closed();
    let args = cli::Cli::parse();
    init_logging();
    let lang = args.lang();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}", cli::error_message(&error, lang));
            ExitCode::from(cli::exit_code_for(&error))
        }
    }
}

/// Logs go to stderr, warnings and up by default; `EXPO_KIOSK_LOG=debug` for more.
/// Nothing logged anywhere in the program carries an ID document number, and no level
/// prints the hub credential or an enrolment code (`expo_sync::logging`).
fn init_logging() {
    expo_sync::logging::init("EXPO_KIOSK_LOG", "warn");
}

/// `expo-kiosk search x | head -1`: once the reader has gone, `println!` panics. Exit as
/// a Unix tool killed by SIGPIPE would, without a backtrace. (Restoring SIGPIPE itself
/// would also kill a gate whose control client hangs up before reading the answer.)
fn quit_quietly_when_stdout_is_closed() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            // 128 + SIGPIPE, what a shell reports for a tool ended by the signal.
            std::process::exit(141);
        }
        default_hook(info);
    }));
}
