//! The whole-venue rehearsal in CI: `expo-hub rehearse` with 10 desks, 20 lanes, a kiosk
//! and the data centre for a minute, with faults (hub killed, stations cut off, a clock 10
//! minutes ahead, the database away; on PostgreSQL also the second of two hubs killed),
//! failing on any lost or duplicated change or a station that did not converge.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::process::Command;

/// Rehearses on `db` with the stations' stores under `dir` (`--dir`).
fn rehearse(db: &str, dir: &std::path::Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_expo-hub"))
        .args(["--db", db, "rehearse", "--desks", "10", "--lanes", "20", "--kiosks", "2"])
        .args(["--minutes", "1", "--faults", "--json", "--revocations-per-minute", "6"])
        .arg("--dir")
        .arg(dir)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("no JSON report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    assert_eq!(report["lost"], 0, "{report:#}");
    assert_eq!(report["duplicated"], 0, "{report:#}");
    assert_eq!(report["converged"], true, "{report:#}");
    assert!(out.status.success(), "{report:#}");
    // The run did a venue's work and went through its faults.
    assert!(report["scans"].as_u64().unwrap() > 200, "{report:#}");
    assert!(report["changes_at_hub"].as_u64().unwrap() > 500, "{report:#}");
    assert_eq!(report["hub"]["restarts"], 1, "{report:#}");
    // Registrations reached desks and revocations gates while the probes watched, some of
    // them outside the fault windows. That every one arrived is what `converged` checks:
    // a probe stops watching when the work ends, so on a loaded machine one arriving later
    // counts as `never_seen` (a figure, not a loss).
    for probe in ["registration_to_desk_ms", "revocation_to_gate_ms"] {
        assert!(report[probe]["samples"].as_u64().unwrap() > 0, "{probe}: {report:#}");
    }
    // The station whose clock runs 10 minutes ahead: the hub cannot take its changes yet,
    // and the station holds them back in its outbox to send once the hub's clock catches
    // up (none is lost, none is set aside for good).
    assert!(report["held_back"].as_u64().unwrap() > 0, "{report:#}");
    assert!(report["kept_aside_reasons"].get("from_the_future").is_none(), "{report:#}");
    // Every fault was caught up while the venue kept working: everything made anywhere
    // before its end reached the hub and every station, with the figures to show it.
    for fault in report["fault_windows"].as_array().unwrap() {
        assert!(fault["ended_s"].as_f64().unwrap() > fault["at_s"].as_f64().unwrap(), "{fault}");
        assert!(!fault["affected"].as_array().unwrap().is_empty(), "{fault}");
        assert!(fault["reconnected_ms"].is_u64(), "{fault}");
        let pushed = fault["pushed_ms"].as_u64().unwrap();
        let caught_up = fault["caught_up_ms"].as_u64().unwrap();
        assert!(pushed <= caught_up, "{fault}");
        // A sanity bound, six times the goal of 10 s, not the goal itself.
        assert!(caught_up < 60_000, "{fault}");
        assert!(fault["last_station"].is_string(), "{fault}");
        // The CPU the catch-up cost: some, by the stations; at most all of the machine.
        assert!(fault["catch_up_stations_cpu_s"].as_f64().unwrap() > 0.0, "{fault}");
        let busy = fault["catch_up_machine_busy_cores"].as_f64().unwrap();
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let cores = stat.lines().filter(|l| l.starts_with("cpu") && !l.starts_with("cpu ")).count();
        let cores = cores as f64;
        assert!(busy > 0.0 && busy <= cores * 1.1, "{fault}");
    }
    let last = report["fault_windows"].as_array().unwrap().last().unwrap();
    assert_eq!(report["converged_after_last_fault_ms"], last["caught_up_ms"], "{report:#}");
    // The run's directory of station stores was made under `dir` and is gone with the run.
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0);
    report
}

/// Rehearses on `db` and checks which database it ran on and how many faults it went
/// through.
fn rehearse_on(db: &str, database: &str, faults: usize) {
    let stations = tempfile::tempdir().unwrap();
    let report = rehearse(db, stations.path());
    assert_eq!(report["database"], database);
    assert_eq!(report["fault_windows"].as_array().unwrap().len(), faults, "{report:#}");
}

#[test]
fn a_small_venue_on_sqlite_loses_nothing_through_faults_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    rehearse_on(&format!("sqlite://{}", dir.path().join("hub.db").display()), "sqlite", 3);
}

/// With the second of two hubs killed too.
#[test]
fn a_small_venue_on_two_postgresql_hubs_loses_nothing_through_faults_and_converges() {
    let Some(url) = common::postgres_url() else { return };
    rehearse_on(&common::fresh_postgres_url(&common::runtime(), &url), "postgresql", 4);
}

#[test]
fn a_database_that_holds_data_is_not_rehearsed_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let db = format!("sqlite://{}", path.display());
    let added = Command::new(env!("CARGO_BIN_EXE_expo-hub"))
        .args(["--db", &db, "station", "add", "desk-1", "--role", "desk"])
        .output()
        .unwrap();
    assert!(added.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_expo-hub"))
        .args(["rehearse", "--db", &db, "--desks", "1", "--lanes", "1", "--minutes", "0.1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must be new"), "{stderr}");
}
