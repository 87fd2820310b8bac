//! `expo-hub` as a real process: the CLI (station add / revoke, export), and a hub
//! killed with SIGKILL and restarted in the middle of a station's push.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    fresh_postgres_url, postgres_url, runtime, Faults, FaultyProxy, MemoryOutbox, Station,
};
use expo_sync::client::{enrol, ClientError, HubClient, HubTrust};
use expo_sync::station::{run_once, SyncOptions, SyncWorker, WorkerOptions};
use uuid::Uuid;

const HUB: &str = env!("CARGO_BIN_EXE_expo-hub");
const CHANGES: usize = 2000;

#[test]
fn sqlite_hub_process_survives_a_kill_mid_push() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("hub.db").display());
    hub_process_survives_a_kill_mid_push(&db, dir.path());
}

#[test]
fn postgres_hub_process_survives_a_kill_mid_push() {
    let Some(url) = postgres_url() else { return };
    let db = fresh_postgres_url(&runtime(), &url);
    let dir = tempfile::tempdir().unwrap();
    hub_process_survives_a_kill_mid_push(&db, dir.path());
}

fn cli(db: &str, args: &[&str]) -> String {
    let output = Command::new(HUB).arg("--db").arg(db).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "expo-hub {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A hub process serving `db` on `port`; killed (SIGKILL) when dropped.
struct HubProcess(Child);

impl HubProcess {
    fn start(db: &str, port: u16) -> Self {
        Self::start_with(db, port, &[], &ureq::Agent::new_with_defaults(), "http")
    }

    /// With `extra` arguments; `agent` must reach `/healthz` over `scheme`.
    fn start_with(db: &str, port: u16, extra: &[&str], agent: &ureq::Agent, scheme: &str) -> Self {
        Self::start_logging(db, port, extra, agent, scheme, &[], Stdio::null())
    }

    /// Like [`Self::start_with`], with `env` set and the hub's logs (stderr) to `log`.
    fn start_logging(
        db: &str,
        port: u16,
        extra: &[&str],
        agent: &ureq::Agent,
        scheme: &str,
        env: &[(&str, &str)],
        log: impl Into<Stdio>,
    ) -> Self {
        let child = Command::new(HUB)
            .args(["--db", db, "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let process = Self(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let health = format!("{scheme}://127.0.0.1:{port}/healthz");
        while agent.get(&health).call().is_err() {
            assert!(Instant::now() < deadline, "the hub did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn hub_process_survives_a_kill_mid_push(db: &str, dir: &Path) {
    let desk_code = cli(db, &["station", "add", "desk-1", "--role", "desk"]).trim().to_owned();
    let gate_code = cli(db, &["station", "add", "gate-1", "--role", "gate"]).trim().to_owned();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let mut hub = HubProcess::start(db, port);
    let desk_token = enrol(&hub_url, &desk_code, "desk-1", &HubTrust::default()).unwrap().token;
    let gate = HubClient::new(
        &hub_url,
        &enrol(&hub_url, &gate_code, "gate-1", &HubTrust::default()).unwrap().token,
    );

    let mut station = Station::new("desk-1");
    let made: Vec<_> = (0..CHANGES)
        .map(|i| station.attendee(Uuid::now_v7(), &format!("Visitor {i}"), None))
        .collect();
    let outbox = Arc::new(MemoryOutbox::with(made.clone()));
    // The station reaches the hub through a slow link, so the kill lands mid-push.
    let proxy = FaultyProxy::start(format!("127.0.0.1:{port}").parse().unwrap());
    proxy.set(Faults { delay: Duration::from_millis(3), ..Faults::default() });
    let options = WorkerOptions {
        interval: Duration::from_millis(100),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(300),
        sync: SyncOptions { push_batch: 50, pull_page: 200 },
        ..WorkerOptions::default()
    };
    let worker =
        SyncWorker::spawn(HubClient::new(&proxy.url, &desk_token), Arc::clone(&outbox), options)
            .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox.state(|s| s.outbox.len()) > CHANGES * 3 / 4 {
        assert!(Instant::now() < deadline, "the push never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(hub); // SIGKILL mid-push
    let pending_while_down = outbox.state(|s| s.outbox.len());
    assert!(pending_while_down > 0, "the push finished before the kill");
    std::thread::sleep(Duration::from_millis(300));
    assert!(worker.status().last_error.is_some() || worker.status().consecutive_failures > 0);
    hub = HubProcess::start(db, port);

    let deadline = Instant::now() + Duration::from_secs(120);
    while worker.status().pending > 0 || worker.status().last_success.is_none() {
        assert!(Instant::now() < deadline, "the station never caught up: {:?}", worker.status());
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.stop();

    // Exactly once, in the station's order, as in a fault-free run.
    let mut received = Vec::new();
    let mut cursor = 0;
    loop {
        let page = gate.pull(cursor, 500).unwrap();
        received.extend(page.changes.into_iter().map(|c| c.id));
        cursor = page.next_cursor;
        if !page.more {
            break;
        }
    }
    assert_eq!(received, made.iter().map(|c| c.id).collect::<Vec<_>>());

    // A second post-show sync of the same station finds nothing left to do.
    let direct = HubClient::new(&hub_url, &desk_token);
    let summary = run_once(&direct, outbox.as_ref(), SyncOptions::default()).unwrap();
    assert_eq!((summary.pushed, summary.pending_after), (0, 0));

    // Export through the CLI while the hub serves.
    let out = dir.join("export");
    let listing = cli(db, &["export", "--format", "csv", "--out", out.to_str().unwrap()]);
    assert!(listing.contains(&format!("{CHANGES} rows")), "{listing}");
    let attendees = std::fs::read_to_string(out.join("attendees.csv")).unwrap();
    assert_eq!(attendees.lines().count(), CHANGES + 1);

    // Revocation from the CLI stops the running hub from serving the station at once.
    cli(db, &["station", "revoke", "desk-1"]);
    assert!(matches!(direct.pull(0, 1), Err(ClientError::Refused { status: 403, .. })));
    drop(hub);
}

/// An idle station (nothing to push, its tick an hour away) whose held pull the hub's
/// death broke finds the restarted hub through its own backoff, not at its next tick, and
/// hears at once of what another station pushes there.
#[test]
fn an_idle_station_finds_a_restarted_hub_without_waiting_for_its_tick() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("hub.db").display());
    let desk_code = cli(&db, &["station", "add", "desk-1", "--role", "desk"]).trim().to_owned();
    let idle_code = cli(&db, &["station", "add", "desk-2", "--role", "desk"]).trim().to_owned();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let hub = HubProcess::start(&db, port);
    let trust = HubTrust::default();
    let desk =
        HubClient::new(&hub_url, &enrol(&hub_url, &desk_code, "desk-1", &trust).unwrap().token);
    let idle_token = enrol(&hub_url, &idle_code, "desk-2", &trust).unwrap().token;
    let outbox = Arc::new(MemoryOutbox::with([]));
    let options = WorkerOptions { interval: Duration::from_secs(3600), ..WorkerOptions::default() };
    let worker =
        SyncWorker::spawn(HubClient::new(&hub_url, &idle_token), Arc::clone(&outbox), options)
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while worker.status().last_success.is_none() {
        assert!(Instant::now() < deadline, "the first round never ended");
        std::thread::sleep(Duration::from_millis(20));
    }

    drop(hub); // SIGKILL: the idle station's held pull breaks
    let _hub = HubProcess::start(&db, port);
    let mut station = Station::new("desk-1");
    let change = station.attendee(Uuid::now_v7(), "Visitor after the restart", None);
    assert_eq!(desk.push(std::slice::from_ref(&change)).unwrap().acked, vec![change.id]);

    // Far below the hour of its tick; the backoff (4 s at most) and a held pull bring it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !outbox.state(|s| s.remote_ids.contains_key(&change.id)) {
        assert!(Instant::now() < deadline, "the idle station never heard: {:?}", worker.status());
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.stop();
}

#[test]
fn a_hub_serves_https_with_the_certificate_expo_hub_cert_made() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("hub.db").display());
    let tls = dir.path().join("tls");
    let tls_arg = tls.to_str().unwrap();
    let printed =
        cli(&db, &["cert", "--name", "127.0.0.1", "--name", "localhost", "--out", tls_arg]);
    let authority_path = tls.join("hub-ca.pem");
    assert_eq!(printed.trim(), authority_path.to_str().unwrap());
    let authority = std::fs::read(&authority_path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tls.join("hub-key.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the hub's private key is the owner's alone");
    }
    let misnamed = Command::new(HUB)
        .args(["cert", "--name", "hub venue!", "--out", dir.path().join("bad").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!misnamed.status.success());
    assert!(String::from_utf8_lossy(&misnamed.stderr).contains("neither a host name"));
    // Making them again would strand the stations that trust the first authority.
    let again =
        Command::new(HUB).args(["cert", "--name", "localhost", "--out", tls_arg]).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("hub-key.pem"));
    assert_eq!(std::fs::read(&authority_path).unwrap(), authority);

    let desk_code = cli(&db, &["station", "add", "desk-1", "--role", "desk"]).trim().to_owned();
    let gate_code = cli(&db, &["station", "add", "gate-1", "--role", "gate"]).trim().to_owned();
    let port = free_port();
    let trust = HubTrust::authority_pem(&authority).unwrap();
    let trusting_agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                    ureq::tls::Certificate::from_pem(&authority).unwrap(),
                ]))
                .build(),
        )
        .build()
        .into();
    let certificate = tls.join("hub-cert.pem");
    let key = tls.join("hub-key.pem");
    let _hub = HubProcess::start_with(
        &db,
        port,
        &["--tls-cert", certificate.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
        &trusting_agent,
        "https",
    );
    let hub_url = format!("https://127.0.0.1:{port}");

    // A client that connects and never says a word holds up nobody.
    let _silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Plain HTTP gets no answer, and a station that does not trust the authority sends
    // nothing: its enrolment code is still unspent afterwards.
    assert!(ureq::get(format!("http://127.0.0.1:{port}/healthz")).call().is_err());
    match enrol(&hub_url, &desk_code, "desk-1", &HubTrust::default()) {
        Err(error @ ClientError::UntrustedHub(_)) => {
            assert!(!error.is_transient());
            assert!(error.to_string().contains("--hub-ca"), "{error}");
        }
        other => panic!("a hub with an unknown authority was trusted: {other:?}"),
    }
    assert!(matches!(
        HubTrust::authority_pem(b"not a certificate"),
        Err(ClientError::BadAuthority(_))
    ));

    let desk = HubClient::trusting(
        &hub_url,
        &enrol(&hub_url, &desk_code, "desk-1", &trust).unwrap().token,
        &trust,
    );
    let gate = HubClient::trusting(
        &hub_url,
        &enrol(&hub_url, &gate_code, "gate-1", &trust).unwrap().token,
        &trust,
    );
    let mut station = Station::new("desk-1");
    let made: Vec<_> =
        (0..20).map(|i| station.attendee(Uuid::now_v7(), &format!("Visitor {i}"), None)).collect();
    let outbox = MemoryOutbox::with(made.clone());
    let pushed = run_once(&desk, &outbox, SyncOptions::default()).unwrap();
    assert_eq!((pushed.pushed, pushed.pending_after), (20, 0));
    let pulled = gate.pull(0, 100).unwrap();
    assert_eq!(
        pulled.changes.iter().map(|c| c.id).collect::<Vec<_>>(),
        made.iter().map(|c| c.id).collect::<Vec<_>>()
    );
}

/// An agent that gives up on a hub that does not answer, so a broken hub fails the test
/// instead of hanging it.
fn patient_agent() -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(60))).build().into()
}

#[test]
fn silent_connections_are_closed_and_healthz_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("hub.db").display());
    let port = free_port();
    let agent = patient_agent();
    let _hub =
        HubProcess::start_with(&db, port, &["--header-read-timeout-secs", "1"], &agent, "http");
    // Half-open clients: connected, never a byte.
    let silent: Vec<TcpStream> =
        (0..300).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    let health = agent.get(format!("http://127.0.0.1:{port}/healthz")).call().unwrap();
    assert_eq!(health.status(), 200);
    // The hub hangs up on each of them (the read timeout only keeps a broken hub from
    // hanging the test).
    for mut connection in silent {
        connection.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut answer = Vec::new();
        match connection.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("a silent connection was left open: {error}"),
        }
    }
}

#[test]
fn connection_limits_are_flags_with_sane_bounds() {
    // A usage error (2) before anything runs; the database could not be opened (1).
    let missing = "sqlite:///nonexistent-directory/hub.db";
    for (flags, code) in [
        (["--max-connections", "0"], 2),
        (["--header-read-timeout-secs", "0"], 2),
        (["--max-connections", "8"], 1),
    ] {
        let output = Command::new(HUB)
            .args(["--db", missing])
            .args(flags)
            .args(["station", "revoke", "x"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(code), "{flags:?}");
    }
    let help = Command::new(HUB).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--max-connections", "--header-read-timeout-secs"] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    assert!(help.contains("[default: 512]") && help.contains("[default: 10]"), "{help}");
}

#[cfg(unix)]
#[test]
fn the_hubs_database_and_exports_are_the_owners_alone_and_csv_is_formula_safe() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let db = format!("sqlite://{}", path.display());
    let code = cli(&db, &["station", "add", "desk-1", "--role", "desk"]).trim().to_owned();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let hub = HubProcess::start_with(&db, port, &[], &patient_agent(), "http");
    let desk = HubClient::new(
        &hub_url,
        &enrol(&hub_url, &code, "desk-1", &HubTrust::default()).unwrap().token,
    );

    let mut station = Station::new("desk-1");
    let mut record = common::attendee_record(Uuid::now_v7(), "=1+1", None);
    record.company = "=HYPERLINK(\"http://evil.example\",\"Click\")".into();
    record.phone = "+8613812345678".into();
    record.title = "@SUM(A1:A9)".into();
    let change = station.change(expo_sync::Record::Attendee(record));
    run_once(&desk, &MemoryOutbox::with([change]), SyncOptions::default()).unwrap();
    // While the hub runs, SQLite holds its -wal and -shm files.
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("hub.db{suffix}"));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    drop(hub);

    let out = dir.path().join("export");
    cli(&db, &["export", "--format", "csv", "--out", out.to_str().unwrap()]);
    cli(&db, &["export", "--format", "jsonl", "--out", out.to_str().unwrap()]);
    for name in ["attendees", "badges", "gate_decisions"] {
        for extension in ["csv", "jsonl"] {
            let file = out.join(format!("{name}.{extension}"));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
    let mut csv = csv::Reader::from_path(out.join("attendees.csv")).unwrap();
    let headers = csv.headers().unwrap().clone();
    let row = csv.records().next().unwrap().unwrap();
    let cell = |name: &str| row[headers.iter().position(|h| h == name).unwrap()].to_owned();
    assert_eq!(cell("company"), "'=HYPERLINK(\"http://evil.example\",\"Click\")");
    assert_eq!(cell("name"), "'=1+1");
    assert_eq!(cell("title"), "'@SUM(A1:A9)");
    assert_eq!(cell("phone"), "'+8613812345678", "phone numbers are escaped too (README)");
    assert_eq!(cell("consent"), "true");
    // JSON Lines are for programs: the values are as they were entered.
    let jsonl = std::fs::read_to_string(out.join("attendees.jsonl")).unwrap();
    let attendee: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(attendee["company"], "=HYPERLINK(\"http://evil.example\",\"Click\")");
}

#[test]
fn the_hubs_trace_logs_hold_no_credential() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("hub.db").display());
    let code = cli(&db, &["station", "add", "desk-1", "--role", "desk"]).trim().to_owned();
    let (added, key, key_log) = cli_outcome(&db, &["key", "add", "crm", "--scope", "feed:read"]);
    assert!(added && !key_log.contains(key.trim()), "{key_log}");
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("hub.log");
    let hub = HubProcess::start_logging(
        &db,
        port,
        &[],
        &patient_agent(),
        "http",
        &[("RUST_LOG", "trace")],
        std::fs::File::create(&log_path).unwrap(),
    );
    let token = enrol(&hub_url, &code, "desk-1", &HubTrust::default()).unwrap().token;
    let desk = HubClient::new(&hub_url, &token);
    let mut station = Station::new("desk-1");
    let outbox = MemoryOutbox::with([station.attendee(Uuid::now_v7(), "Visitor", None)]);
    run_once(&desk, &outbox, SyncOptions::default()).unwrap();
    let feed = ureq::get(format!("{hub_url}/v1/feed?wait=1"))
        .header("authorization", format!("Bearer {}", key.trim()))
        .call()
        .unwrap();
    assert_eq!(feed.status(), 200);
    drop(hub);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("push"), "the hub logged at trace level:\n{log}");
    common::assert_no_credential(&log, &token, &code);
    common::assert_no_credential(&log, key.trim(), &code);
}

/// `expo-hub` run with `args`; its exit status, standard output and standard error.
fn cli_outcome(db: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(HUB).arg("--db").arg(db).args(args).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

#[test]
fn api_keys_and_badge_revocation_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let db = format!("sqlite://{}", path.display());

    let added = cli(&db, &["key", "add", "crm", "--scope", "feed:read,badges:revoke"]);
    let key = added.lines().last().unwrap().to_owned();
    assert_eq!(added, format!("{key}\n"), "the key alone, on the last line");
    assert!(key.starts_with("expo_") && key.len() > 60, "{key}");
    let (ok, _, error) = cli_outcome(&db, &["key", "add", "bad", "--scope", "feed:write"]);
    assert!(!ok && error.contains("unknown scope"), "{error}");
    let (ok, _, error) = cli_outcome(&db, &["key", "add", "crm", "--scope", "feed:read"]);
    assert!(!ok && error.contains("already exists"), "{error}");
    let list = cli(&db, &["key", "list"]);
    assert!(list.starts_with("NAME\tSCOPES\tCREATED\tLAST USED\tREVOKED\n"), "{list}");
    assert!(list.contains("\ncrm\tfeed:read,badges:revoke\t"), "{list}");
    assert!(!std::fs::read(&path).unwrap().windows(key.len()).any(|w| w == key.as_bytes()));

    // A desk's walk-in with a badge, stored as the hub stores a push.
    let attendee = Uuid::now_v7();
    let mut desk = Station::new("desk-1");
    let mut record = common::attendee_record(attendee, "Ada", None);
    record.registration_code = Some("R-1".into());
    let changes = [
        desk.change(expo_sync::protocol::Record::Attendee(record)),
        desk.badge(attendee, 1, "active"),
    ];
    let runtime = runtime();
    let store = expo_hub::sqlite::SqliteStore::open(&path).unwrap();
    let batch = expo_hub::store::PreparedBatch::new(
        expo_sync::StationRole::Desk,
        "desk-1",
        &changes,
        expo_sync::hlc::wall_clock_ms(),
    )
    .unwrap();
    runtime.block_on(expo_hub::HubStore::push(&store, "desk-1", batch)).unwrap();

    let revoked = cli(&db, &["badge", "revoke", "R-1", "--reason", "lost, reported by phone"]);
    assert_eq!(revoked, format!("{attendee}\t1\n"));
    let badges =
        runtime.block_on(expo_hub::HubStore::current_page(&store, "badge", "", 10)).unwrap();
    match &badges[..] {
        [(_, expo_sync::protocol::Record::Badge(badge))] => {
            assert_eq!((badge.status.as_str(), badge.operator.as_str()), ("revoked", "expo-hub"));
        }
        other => panic!("one badge expected: {other:?}"),
    }
    let (ok, _, said) = cli_outcome(&db, &["badge", "revoke", "R-1", "--reason", "lost"]);
    assert!(ok && said.contains("revoked already"), "{said}");
    let (ok, _, error) = cli_outcome(&db, &["badge", "revoke", "R-404", "--reason", "lost"]);
    assert!(!ok && error.contains("no attendee"), "{error}");

    cli(&db, &["key", "revoke", "crm"]);
    let list = cli(&db, &["key", "list"]);
    let crm = list.lines().find(|line| line.starts_with("crm\t")).unwrap();
    assert!(!crm.ends_with("\t-"), "revoked, with its time: {crm}");
    let (ok, _, error) = cli_outcome(&db, &["key", "revoke", "nobody"]);
    assert!(!ok && error.contains("no API key named"), "{error}");
}
