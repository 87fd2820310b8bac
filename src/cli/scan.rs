//! `expo-kiosk scan-image FILE... [--json]`: decode QR codes from still images, to check
//! printed badges and camera snapshots.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

#[derive(Args)]
pub struct ScanImageArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON line per file: file, ok, text, ms (and error when not ok).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Line {
    file: String,
    ok: bool,
    text: Option<String>,
    ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Exit 0 when every file decoded, 1 when any did not.
pub fn run(args: ScanImageArgs) -> Result<ExitCode> {
    let mut all_ok = true;
    for file in args.files {
        let started = Instant::now();
        let outcome = expo_hardware::qr::decode_file(&file);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        all_ok &= outcome.is_ok();
        let line = match outcome {
            Ok(text) => Line {
                file: file.display().to_string(),
                ok: true,
                text: Some(text),
                ms,
                error: None,
            },
            Err(error) => Line {
                file: file.display().to_string(),
                ok: false,
                text: None,
                ms,
                error: Some(error.to_string()),
            },
        };
        if args.json {
            println!("{}", serde_json::to_string(&line)?);
        } else if let Some(text) = &line.text {
            println!("{}: {text} ({:.1} ms)", line.file, line.ms);
        } else {
            println!("{}: no QR code ({})", line.file, line.error.as_deref().unwrap_or_default());
        }
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
