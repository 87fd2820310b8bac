//! Registrations into the data centre (`expo-hub event import`, `expo-hub import
//! attendees`, `PUT /v1/registrations`) on SQLite and PostgreSQL: the station import's rules
//! and attendee ids, identity conflicts, and no clear ID number in the hub's database,
//! logs or exports.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::TestHub;
use expo_hub::api_keys::{self, Scope};
use expo_hub::conflicts::ConflictKind;
use expo_hub::origin::HubOrigin;
use expo_hub::registrations::{self, RegistrationsError};
use expo_hub::HubStore;
use expo_kiosk::domain::AttendeeId;
use expo_kiosk::operators::Operator;
use expo_kiosk::provisioning::{self, Bundle};
use expo_kiosk::registration::import::{ImportOptions, ImportReport};
use expo_kiosk::registration::search;
use expo_kiosk::station_sync::StoreOutbox;
use expo_kiosk::store::Store;
use expo_sync::client::{enrol, HubClient, HubTrust};
use expo_sync::endorsement::HUB_ORIGIN;
use expo_sync::protocol::{AttendeeRecord, EventRecord, Record};
use expo_sync::station::{run_once, SyncOptions};
use expo_sync::StationRole;

common::hub_suite!(
    an_import_creates_updates_and_leaves_unchanged_with_the_stations_ids,
    a_bad_row_imports_nothing_unless_skipped_and_gb18030_reads,
    an_identity_conflict_is_reported_and_not_applied,
    the_hub_takes_registrations_only_for_its_own_event_with_its_data_key,
    the_api_upserts_by_code_and_answers_per_registration,
    a_bad_batch_is_refused_whole_with_a_json_error_and_stores_nothing,
    a_desk_that_pulls_after_an_api_registration_finds_the_attendee,
    registrations_are_checked_against_an_admin_stations_newer_definition,
);

const EVENT: &str = "expo-2026";
const FULL_ID: &str = "11010519491231002X";
const HEADER: &str =
    "registration_code,name,company,title,category,phone,email,country,id_type,id_number\n";
const ZHANG: &str = "R001,张三,上海国际展览有限公司,经理,exhibitor,13812345678,zs@example.com,中国,resident_id,11010519491231002X";
const SMITH: &str =
    "R002,John Smith,Acme GmbH,CTO,professional_visitor,+49 151 12345678,john@acme.de,Germany,,";

fn csv(rows: &[&str]) -> Vec<u8> {
    format!("{HEADER}{}\n", rows.join("\n")).into_bytes()
}

/// The organiser's first station (`event init` with the example event) and the bundle it
/// exports for desks, data key included.
struct Organiser {
    dir: tempfile::TempDir,
    bundle: Bundle,
}

fn organiser() -> Organiser {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("office")).unwrap();
    let definition = include_str!("../../../assets/events/example-event.toml");
    provisioning::init(&mut store, &expo_kiosk::operators::Operator::admin("setup"), definition)
        .unwrap();
    let bundle = provisioning::export(&store, true).unwrap();
    Organiser { dir, bundle }
}

impl Organiser {
    /// A desk that joined the event from the bundle and imported `file` itself, offline.
    fn desk_importing(&self, file: &[u8]) -> Store {
        let mut desk = Store::open(&self.dir.path().join("desk")).unwrap();
        provisioning::import(
            &mut desk,
            &expo_kiosk::operators::Operator::admin("setup"),
            &self.bundle,
            true,
        )
        .unwrap();
        let report = expo_kiosk::registration::import::import_csv(
            &mut desk,
            &Operator::admin("setup"),
            file,
            ImportOptions::default(),
        )
        .unwrap();
        assert!(report.committed, "{:?}", report.errors);
        desk
    }

    fn bundle_file(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("bundle.json");
        provisioning::write_bundle(&self.bundle, &path).unwrap();
        path
    }
}

/// Changes of the hub (`@hub`) a station pulled and set aside instead of applying.
fn hub_changes_set_aside(station: &Store) -> i64 {
    let sql = "SELECT count(*) FROM sync_set_aside WHERE json_extract(change, '$.station') = ?1";
    station.conn().query_row(sql, [HUB_ORIGIN], |r| r.get(0)).unwrap()
}

/// The hub client of a desk store, enrolled under the desk's own station id.
fn desk_client<S: HubStore>(hub: &TestHub<S>, desk: &StoreOutbox) -> HubClient {
    let code = hub.station_code("desk");
    let station_id = desk.store().station_id().to_owned();
    let token = enrol(&hub.url, &code, &station_id, &HubTrust::default()).unwrap().token;
    HubClient::new(&hub.url, &token)
}

fn import<S: HubStore>(hub: &TestHub<S>, file: &[u8], options: ImportOptions) -> ImportReport {
    hub.runtime
        .block_on(registrations::import_csv(
            hub.store.as_ref(),
            &HubOrigin::default(),
            file.to_vec(),
            options,
        ))
        .unwrap()
}

fn import_event<S: HubStore>(hub: &TestHub<S>, bundle: &Bundle) {
    hub.runtime.block_on(registrations::import_event(hub.store.as_ref(), bundle)).unwrap();
}

fn counts(report: &ImportReport) -> (u64, u64, u64, u64, bool) {
    (report.created, report.updated, report.unchanged, report.invalid_rows, report.committed)
}

/// The attendees the hub holds now, by registration code.
fn attendees<S: HubStore>(hub: &TestHub<S>) -> Vec<AttendeeRecord> {
    let page = hub.runtime.block_on(hub.store.current_page("attendee", "", 1000)).unwrap();
    let mut records: Vec<AttendeeRecord> = page
        .into_iter()
        .filter_map(|(_, record)| match record {
            Record::Attendee(a) => Some(a),
            _ => None,
        })
        .collect();
    records.sort_by(|a, b| a.registration_code.cmp(&b.registration_code));
    records
}

fn changes_stored<S: HubStore>(hub: &TestHub<S>) -> u64 {
    hub.runtime.block_on(hub.store.stats()).unwrap().changes
}

fn an_import_creates_updates_and_leaves_unchanged_with_the_stations_ids<S: HubStore>(
    hub: TestHub<S>,
) {
    let organiser = organiser();
    import_event(&hub, &organiser.bundle);
    let file = csv(&[ZHANG, SMITH]);
    let first = import(&hub, &file, ImportOptions::default());
    assert_eq!(counts(&first), (2, 0, 0, 0, true), "{:?}", first.errors);

    // The same ids, ID hash and masked number as a desk that imported the file itself.
    let desk = organiser.desk_importing(&file);
    let stored = attendees(&hub);
    for record in &stored {
        let code = record.registration_code.as_deref().unwrap();
        let at_desk = expo_kiosk::registration::resolve(desk.conn(), code).unwrap();
        assert_eq!(record.id, at_desk.id, "{code}");
        assert_eq!(AttendeeId(record.id), AttendeeId::for_registration_code(EVENT, code));
        assert_eq!((&record.id_hash, &record.id_masked), (&at_desk.id_hash, &at_desk.id_masked));
        assert_eq!(record.source, "pre_registered");
    }
    assert_eq!(stored[0].id_masked.as_deref(), Some("1101**********002X"));
    assert!(stored[0].id_sealed.is_some() && stored[1].id_sealed.is_none());

    // Stations pull them as the organiser's changes; admin stations with the import's
    // audit entry, which desks do not receive (`expo_sync::scope`).
    let at_desk = hub.client("desk-1").pull(0, 100).unwrap();
    let kinds: Vec<&str> = at_desk.changes.iter().map(|c| c.record.kind()).collect();
    assert_eq!(kinds, ["attendee", "attendee"]);
    let pulled = hub.client("admin-1").pull(0, 100).unwrap();
    let kinds: Vec<&str> = pulled.changes.iter().map(|c| c.record.kind()).collect();
    assert_eq!(kinds, ["attendee", "attendee", "audit"]);
    let Record::Audit(audit) = &pulled.changes[2].record else { unreachable!() };
    assert_eq!((audit.actor.as_str(), audit.action.as_str()), ("expo-hub", "import"));
    assert_eq!(audit.detail["created"], 2);
    for change in &pulled.changes {
        assert_eq!(
            (change.station.as_str(), change.pushed_by),
            (HUB_ORIGIN, Some(StationRole::Admin))
        );
    }

    // The desk that imported the file offline pulls the hub's import: the same people,
    // once each, nothing set aside.
    let outbox = StoreOutbox::new(desk);
    run_once(&desk_client(&hub, &outbox), &outbox, SyncOptions::default()).unwrap();
    let desk = outbox.store();
    assert_eq!(hub_changes_set_aside(&desk), 0);
    for (query, code) in [("zs", "R001"), ("smith", "R002")] {
        let found = search::search(desk.conn(), query, 10, &[]).unwrap();
        let found: Vec<_> = found.iter().map(|hit| hit.registration_code.as_deref()).collect();
        assert_eq!(found, [Some(code)], "{query}");
    }
    drop(desk);

    // The same file again: unchanged, and no change stored.
    let before = changes_stored(&hub);
    let again = import(&hub, &file, ImportOptions::default());
    assert_eq!(counts(&again), (0, 0, 2, 0, true));
    assert_eq!(changes_stored(&hub), before);

    // A changed company updates the attendee in place; a dry run writes nothing.
    let moved = csv(&[ZHANG, &SMITH.replace("Acme GmbH", "Acme AG")]);
    let dry = import(&hub, &moved, ImportOptions { dry_run: true, ..ImportOptions::default() });
    assert_eq!(counts(&dry), (0, 1, 1, 0, false));
    assert_eq!(changes_stored(&hub), before);
    let update = import(&hub, &moved, ImportOptions::default());
    assert_eq!(counts(&update), (0, 1, 1, 0, true));
    let stored = attendees(&hub);
    assert_eq!((stored[1].company.as_str(), stored[1].id), ("Acme AG", stored[1].id));
    assert_eq!(AttendeeId(stored[1].id), AttendeeId::for_registration_code(EVENT, "R002"));
    assert_eq!(changes_stored(&hub), before + 2, "the update and the import's audit entry");
}

fn a_bad_row_imports_nothing_unless_skipped_and_gb18030_reads<S: HubStore>(hub: TestHub<S>) {
    import_event(&hub, &organiser().bundle);
    let astronaut = "R003,王五,广州贸易有限公司,销售,astronaut,13700002222,,中国,,";
    let refused = import(&hub, &csv(&[ZHANG, astronaut, SMITH]), ImportOptions::default());
    assert_eq!(counts(&refused), (0, 0, 0, 1, false));
    assert_eq!((refused.errors[0].line, refused.errors[0].field.as_str()), (3, "category"));
    assert_eq!(changes_stored(&hub), 0, "all or nothing");

    let options = ImportOptions { skip_invalid: true, ..ImportOptions::default() };
    let skipped = import(&hub, &csv(&[ZHANG, astronaut, SMITH]), options);
    assert_eq!(counts(&skipped), (2, 0, 0, 1, true));
    assert_eq!(attendees(&hub).len(), 2);

    // Chinese headers and 张三, in GB18030 (what a spreadsheet on a Chinese Windows saves).
    let gb = [
        // 注册码,姓名,公司,类别,手机
        b"\xd7\xa2\xb2\xe1\xc2\xeb,\xd0\xd5\xc3\xfb,\xb9\xab\xcb\xbe,\xc0\xe0\xb1\xf0,\xca\xd6\xbb\xfa\r\n".as_slice(),
        b"R004,\xd5\xc5\xc8\xfd,Acme,exhibitor,13812340000\r\n".as_slice(),
    ];
    let gb: Vec<u8> = gb.concat();
    let report = import(&hub, &gb, ImportOptions::default());
    assert_eq!((report.encoding, report.created, report.committed), ("gb18030", 1, true));
    let stored = attendees(&hub);
    assert_eq!(
        stored.iter().find(|a| a.registration_code.as_deref() == Some("R004")).unwrap().name,
        "张三"
    );
}

fn an_identity_conflict_is_reported_and_not_applied<S: HubStore>(hub: TestHub<S>) {
    import_event(&hub, &organiser().bundle);
    assert!(import(&hub, &csv(&[ZHANG, SMITH]), ImportOptions::default()).committed);
    let before = changes_stored(&hub);
    // Another person under 张三's code, and 张三's ID number under another code.
    let other_name = "R001,李四,北京会展集团,工程师,exhibitor,13700001111,,中国,,";
    let other_code = "R009,王小二,北京会展集团,工程师,exhibitor,13700001111,,中国,resident_id,11010519491231002X";
    let file = csv(&[other_name, other_code, &SMITH.replace("CTO", "CEO")]);
    let refused = import(&hub, &file, ImportOptions::default());
    assert_eq!(counts(&refused), (0, 0, 0, 2, false));
    let conflicts: Vec<(u64, &str, &str)> = refused
        .conflicts
        .iter()
        .map(|c| (c.line, c.in_file.name.as_str(), c.stored.name.as_str()))
        .collect();
    assert_eq!(conflicts, [(2, "李*", "张*"), (3, "王*二", "张*")]);
    assert!(!refused.conflicts[1].to_string().contains(FULL_ID));

    let options = ImportOptions { skip_invalid: true, ..ImportOptions::default() };
    let skipped = import(&hub, &file, options);
    assert_eq!(counts(&skipped), (0, 1, 0, 2, true));
    assert_eq!(changes_stored(&hub), before + 2, "the good row's update and the audit entry");
    let stored = attendees(&hub);
    assert_eq!(stored.len(), 2, "nobody new");
    assert_eq!((stored[0].name.as_str(), stored[1].title.as_str()), ("张三", "CEO"));

    // Both are on the organiser's list of conflicts (`expo-hub conflicts`), once each, masked.
    let listed = |hub: &TestHub<S>| hub.runtime.block_on(hub.store.conflicts()).unwrap();
    let found = listed(&hub);
    assert_eq!(found.len(), 2);
    let zhang = stored.iter().find(|a| a.name == "张三").unwrap().id;
    for conflict in &found {
        let found = &conflict.found;
        assert_eq!((found.kind, found.attendee_a), (ConflictKind::Identity, zhang));
        assert_eq!(found.station_b, "@hub:import");
        assert!(!found.detail.to_string().contains(FULL_ID), "{}", found.detail);
    }
    assert_eq!(found[0].found.detail["in_file"]["name"], "李*");
    assert_eq!(found[0].found.attendee_b, zhang, "found by its registration code");
    assert_ne!(found[1].found.attendee_b, zhang, "found by its ID number");
    import(&hub, &file, options);
    assert_eq!(listed(&hub).len(), 2, "a pair is recorded once");
}

fn the_hub_takes_registrations_only_for_its_own_event_with_its_data_key<S: HubStore>(
    hub: TestHub<S>,
) {
    let file = csv(&[ZHANG]);
    let run = |bundle: &Bundle| {
        hub.runtime.block_on(registrations::import_event(hub.store.as_ref(), bundle))
    };
    let none = hub.runtime.block_on(registrations::import_csv(
        hub.store.as_ref(),
        &HubOrigin::default(),
        file.clone(),
        ImportOptions::default(),
    ));
    assert!(matches!(none, Err(RegistrationsError::NoEvent)), "{none:?}");

    let organiser = organiser();
    let gate_bundle = Bundle { data_key: None, ..clone_bundle(&organiser.bundle) };
    assert!(matches!(run(&gate_bundle), Err(RegistrationsError::NoDataKey)));
    run(&organiser.bundle).unwrap();
    // Again, the same event: fine. Another event, or the same with another key: refused.
    run(&organiser.bundle).unwrap();
    let other_key = Bundle { data_key: Some("ab".repeat(32)), ..clone_bundle(&organiser.bundle) };
    assert!(matches!(run(&other_key), Err(RegistrationsError::OtherDataKey(_))));
    let other_event = organiser_of("expo-2027");
    assert!(matches!(run(&other_event), Err(RegistrationsError::OtherEvent { .. })));
    assert_eq!(import(&hub, &file, ImportOptions::default()).created, 1);
}

fn clone_bundle(bundle: &Bundle) -> Bundle {
    serde_json::from_value(serde_json::to_value(bundle).unwrap()).unwrap()
}

/// The bundle of an event with id `event_id`.
fn organiser_of(event_id: &str) -> Bundle {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let definition = include_str!("../../../assets/events/example-event.toml")
        .replace("id = \"expo-2026\"", &format!("id = \"{event_id}\""));
    provisioning::init(&mut store, &expo_kiosk::operators::Operator::admin("setup"), &definition)
        .unwrap();
    provisioning::export(&store, true).unwrap()
}

const HUB: &str = env!("CARGO_BIN_EXE_expo-hub");

/// Runs `expo-hub --db DB ARGS` with every log level on; returns its standard output and
/// its log (standard error).
fn hub_command(db: &str, args: &[&str]) -> (String, String) {
    let output = Command::new(HUB)
        .args(["--db", db])
        .args(args)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "expo-hub {args:?}: {log}");
    (String::from_utf8(output.stdout).unwrap(), log)
}

/// Imports a file with an ID number through the `expo-hub` command on `db` and exports;
/// returns everything the hub wrote that is not its database: logs and export files.
fn import_and_export(db: &str, work: &Path) -> String {
    let organiser = organiser();
    let bundle = organiser.bundle_file();
    let file = work.join("attendees.csv");
    std::fs::write(&file, csv(&[ZHANG, SMITH])).unwrap();
    let mut written = String::new();
    let mut run = |args: &[&str]| {
        let (out, log) = hub_command(db, args);
        written.push_str(&out);
        written.push_str(&log);
    };
    run(&["event", "import", bundle.to_str().unwrap()]);
    run(&["import", "attendees", file.to_str().unwrap(), "--json"]);
    let served = serve_a_registration(db, work);
    run(&["export", "--format", "csv", "--out", work.join("csv").to_str().unwrap()]);
    run(&["export", "--format", "jsonl", "--out", work.join("jsonl").to_str().unwrap()]);
    assert!(written.contains("\"created\": 2"), "{written}");
    written.push_str(&served);
    for format in ["csv", "jsonl"] {
        for entry in std::fs::read_dir(work.join(format)).unwrap() {
            written.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    assert!(written.contains("张小三"), "the API's registration is exported");
    assert!(written.contains("1101**********002X"), "the masked number is exported");
    written
}

/// An ID number that only `PUT /v1/registrations` sends.
const API_ID: &str = "110101202311012176";

/// Serves `db` from an `expo-hub` process with every log level on, sends it one
/// registration with an ID number through the API, and returns the process's log.
fn serve_a_registration(db: &str, work: &Path) -> String {
    let (out, mut log) =
        hub_command(db, &["key", "add", "registration", "--scope", "registrations:write"]);
    let key = out.lines().last().unwrap().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = work.join("serve.log");
    let mut server = Command::new(HUB)
        .args(["--db", db, "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "trace")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let agent = ureq::Agent::new_with_defaults();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Nothing to wait on but the port: ask until the hub answers.
    while agent.get(format!("{url}/healthz")).call().is_err() {
        assert!(std::time::Instant::now() < deadline, "the hub did not come up");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut child = zhang();
    child["registration_code"] = "R005".into();
    child["name"] = "张小三".into();
    child["id_number"] = API_ID.into();
    let (status, answer) = put_registrations(&url, &key, &batch(&[child]));
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!((status, answer["created"].as_u64()), (200, Some(1)), "{answer}");
    log.push_str(&std::fs::read_to_string(&log_path).unwrap());
    assert!(log.contains("registrations batch"), "the log is the serving hub's: {log}");
    log
}

fn assert_no_id_number(text: &str, what: &str) {
    // The whole numbers, and the birth-date middle that masking hides.
    for secret in [FULL_ID, "0519491231", API_ID, "2023110121"] {
        assert!(!text.contains(secret), "{what} holds the ID number");
    }
}

#[test]
fn sqlite_no_clear_id_number_in_the_database_logs_or_exports() {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("hub.db");
    let written = import_and_export(&format!("sqlite://{}", path.display()), work.path());
    assert_no_id_number(&written, "the hub's logs and exports");
    for file in ["hub.db", "hub.db-wal"] {
        if let Ok(bytes) = std::fs::read(work.path().join(file)) {
            assert_no_id_number(&String::from_utf8_lossy(&bytes), file);
        }
    }
}

#[test]
fn postgres_no_clear_id_number_in_the_database_logs_or_exports() {
    let Some(url) = common::postgres_url() else { return };
    let runtime = common::runtime();
    let db = common::fresh_postgres_url(&runtime, &url);
    let work = tempfile::tempdir().unwrap();
    let written = import_and_export(&db, work.path());
    assert_no_id_number(&written, "the hub's logs and exports");
    // Every row of every table of the hub's database, as text.
    let dump = runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(&db, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let tables = client
            .query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()", &[])
            .await
            .unwrap();
        let mut dump = String::new();
        for table in tables {
            let name: String = table.get(0);
            for row in client.query(&format!("SELECT t::text FROM {name} t"), &[]).await.unwrap() {
                dump.push_str(row.get::<_, &str>(0));
            }
        }
        dump
    });
    assert!(dump.contains("1101**********002X"), "the dump reads the attendees");
    assert_no_id_number(&dump, "the PostgreSQL database");
}

#[test]
fn the_import_command_reports_and_exits_like_the_stations() {
    let work = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", work.path().join("hub.db").display());
    let organiser = organiser();
    let bundle = organiser.bundle_file();
    hub_command(&db, &["event", "import", bundle.to_str().unwrap()]);
    let file = work.path().join("attendees.csv");
    std::fs::write(&file, csv(&[ZHANG, "R003,王五,广州,销售,astronaut,13700002222,,中国,,"]))
        .unwrap();
    let output = Command::new(HUB)
        .args(["--db", &db, "import", "attendees", file.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("line 3: category \"astronaut\""), "{text}");
    assert!(text.contains("nothing imported: fix the rows or use --skip-invalid"), "{text}");
    let (text, _) =
        hub_command(&db, &["import", "attendees", file.to_str().unwrap(), "--skip-invalid"]);
    assert!(text.contains("2 rows (utf-8): 1 new, 0 updated, 0 unchanged, 1 invalid"), "{text}");
}

/// A key of the organiser's registration system, and one of its CRM (feed only).
fn api_keys<S: HubStore>(hub: &TestHub<S>) -> (String, String) {
    let add = |name: &str, scope: Scope| {
        hub.runtime.block_on(api_keys::add_key(hub.store.as_ref(), name, &[scope])).unwrap()
    };
    (add("registration", Scope::RegistrationsWrite), add("crm", Scope::FeedRead))
}

/// `PUT /v1/registrations` with `body` and the key `key`: the status and the JSON answer.
fn put_registrations(url: &str, key: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let request = ureq::http::Request::builder()
        .method("PUT")
        .uri(format!("{url}/v1/registrations"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .unwrap();
    let mut response = agent.run(request).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

fn zhang() -> serde_json::Value {
    serde_json::json!({
        "registration_code": "R001", "name": "张三", "company": "上海国际展览有限公司",
        "title": "经理", "category": "exhibitor", "phone": "13812345678",
        "email": "zs@example.com", "country": "中国", "id_type": "resident_id",
        "id_number": FULL_ID, "tags": ["vip"]
    })
}

fn smith() -> serde_json::Value {
    serde_json::json!({
        "registration_code": "R002", "name": "John Smith", "company": "Acme GmbH",
        "category": "professional_visitor", "phone": "+49 151 12345678", "consent": false
    })
}

fn batch(registrations: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "registrations": registrations })).unwrap()
}

/// Per registration of an answer: (result, field).
fn results(answer: &serde_json::Value) -> Vec<(String, String)> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |key: &str| r[key].as_str().unwrap_or_default().to_owned();
            (text("result"), text("field"))
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

fn the_api_upserts_by_code_and_answers_per_registration<S: HubStore>(hub: TestHub<S>) {
    import_event(&hub, &organiser().bundle);
    let (key, _) = api_keys(&hub);
    let astronaut =
        serde_json::json!({ "registration_code": "R003", "name": "王五", "category": "astronaut" });
    let no_code = serde_json::json!({ "name": "赵六", "category": "public_visitor", "id_type": "resident_id", "id_number": "110101202311012176" });
    let body = batch(&[zhang(), smith(), astronaut.clone(), no_code.clone()]);
    let (status, answer) = put_registrations(&hub.url, &key, &body);
    assert_eq!(status, 200, "{answer}");
    let expected = [
        ("created", ""),
        ("created", ""),
        ("invalid", "category"),
        ("invalid", "registration_code"),
    ];
    assert_eq!(results(&answer), pairs(&expected), "{answer}");
    assert_eq!((answer["created"].as_u64(), answer["invalid"].as_u64()), (Some(2), Some(2)));
    let r001 = AttendeeId::for_registration_code(EVENT, "R001").0.to_string();
    assert_eq!(answer["results"][0]["attendee_id"], r001.as_str());
    assert!(answer["results"][2]["reason"].as_str().unwrap().contains("astronaut"));
    let stored = attendees(&hub);
    assert_eq!(stored[0].id_masked.as_deref(), Some("1101**********002X"));
    assert_eq!((stored[1].consent, stored[0].tags.clone()), (false, vec!["vip".to_owned()]));
    assert!(!answer.to_string().contains("2023110121"), "no ID number echoed: {answer}");

    // Idempotent: the same batch again changes nothing.
    let before = changes_stored(&hub);
    let (_, again) = put_registrations(&hub.url, &key, &body);
    let expected = [
        ("unchanged", ""),
        ("unchanged", ""),
        ("invalid", "category"),
        ("invalid", "registration_code"),
    ];
    assert_eq!(results(&again), pairs(&expected));
    assert_eq!(changes_stored(&hub), before);

    // An update, and another person under R001's code: a conflict, not applied.
    let mut moved = smith();
    moved["company"] = "Acme AG".into();
    let mut impostor = zhang();
    impostor["name"] = "李四".into();
    impostor["id_number"] = "".into();
    let (_, answer) = put_registrations(&hub.url, &key, &batch(&[moved, impostor]));
    let expected = [("updated", ""), ("conflict", "registration_code")];
    assert_eq!(results(&answer), pairs(&expected), "{answer}");
    assert!(answer["results"][1]["reason"].as_str().unwrap().contains("张*"), "{answer}");
    assert_eq!((answer["updated"].as_u64(), answer["conflict"].as_u64()), (Some(1), Some(1)));
    let stored = attendees(&hub);
    assert_eq!((stored[0].name.as_str(), stored[1].company.as_str()), ("张三", "Acme AG"));
    assert_eq!(changes_stored(&hub), before + 2, "the update and its audit entry");
}

fn a_bad_batch_is_refused_whole_with_a_json_error_and_stores_nothing<S: HubStore>(hub: TestHub<S>) {
    let (key, feed_key) = api_keys(&hub);
    let body = batch(&[zhang()]);
    // Before the event is imported: a clear refusal.
    let (status, answer) = put_registrations(&hub.url, &key, &body);
    assert_eq!((status, answer["error"].as_str()), (409, Some("no_event")), "{answer}");
    import_event(&hub, &organiser().bundle);
    let before = changes_stored(&hub);

    let mut unknown = zhang();
    unknown["badge_colour"] = "red".into();
    let too_many = batch(&vec![smith(); registrations::MAX_BATCH + 1]);
    let too_large = batch(&[serde_json::json!({ "name": "x".repeat(300 * 1024) })]);
    let station = hub.enrolled("desk-1");
    let cases: [(&str, &str, Vec<u8>, u16, &str); 8] = [
        ("unknown field", &key, batch(&[zhang(), unknown]), 400, "unknown_field"),
        (
            "unknown top-level field",
            &key,
            br#"{"registrations":[],"x":1}"#.to_vec(),
            400,
            "unknown_field",
        ),
        ("not JSON", &key, b"registration_code,name".to_vec(), 400, "malformed_json"),
        ("not a list", &key, br#"{"registrations":{}}"#.to_vec(), 400, "malformed_json"),
        ("too many", &key, too_many, 413, "batch_too_large"),
        ("over the body limit", &key, too_large, 413, "body_too_large"),
        ("a feed key", &feed_key, body.clone(), 403, "missing_scope"),
        ("a station token", &station, body.clone(), 401, "unauthorized"),
    ];
    for (label, key, body, status, code) in cases {
        let (got, answer) = put_registrations(&hub.url, key, &body);
        assert_eq!((got, answer["error"].as_str()), (status, Some(code)), "{label}: {answer}");
        assert!(!answer["message"].as_str().unwrap_or_default().is_empty(), "{label}");
    }
    assert_eq!(changes_stored(&hub), before, "nothing stored");
    let (status, _) = put_registrations(&hub.url, &key, &body);
    assert_eq!(status, 200, "the same key still works");
}

fn a_desk_that_pulls_after_an_api_registration_finds_the_attendee<S: HubStore>(hub: TestHub<S>) {
    let organiser = organiser();
    import_event(&hub, &organiser.bundle);
    let (key, _) = api_keys(&hub);
    // `chinese_name`, optional, as the CSV's column: a holder's Chinese name beside the name.
    let mut smith = smith();
    smith["chinese_name"] = "史密斯".into();
    let (status, _) = put_registrations(&hub.url, &key, &batch(&[zhang(), smith.clone()]));
    assert_eq!(status, 200);
    // Checked like the name: a control character is refused, for that registration alone.
    let mut bad = smith;
    bad["registration_code"] = "R009".into();
    bad["chinese_name"] = "史\u{7}".into();
    let (status, answer) = put_registrations(&hub.url, &key, &batch(&[bad]));
    assert_eq!(
        (status, results(&answer)),
        (200, pairs(&[("invalid", "chinese_name")])),
        "{answer}"
    );

    let mut desk = Store::open(&organiser.dir.path().join("desk")).unwrap();
    provisioning::import(
        &mut desk,
        &expo_kiosk::operators::Operator::admin("setup"),
        &organiser.bundle,
        true,
    )
    .unwrap();
    let outbox = StoreOutbox::new(desk);
    run_once(&desk_client(&hub, &outbox), &outbox, SyncOptions::default()).unwrap();
    assert_eq!(hub_changes_set_aside(&outbox.store()), 0);
    let mut store = outbox.store();
    let found = search::search(store.conn(), "zs", 10, &[]).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let hit = &found[0];
    assert_eq!((hit.name.as_str(), hit.registration_code.as_deref()), ("张三", Some("R001")));
    assert_eq!(hit.id_masked.as_deref(), Some("1101**********002X"));
    // The Chinese name reached the desk, which finds its holder by it and by its pinyin.
    for query in ["史密斯", "shimisi"] {
        let found = search::search(store.conn(), query, 10, &[]).unwrap();
        let names: Vec<_> =
            found.iter().map(|h| (h.name.as_str(), h.chinese_name.as_str())).collect();
        assert_eq!(names, [("John Smith", "史密斯")], "{query}");
    }
    // The desk's data key opens the number the hub sealed.
    let revealed =
        expo_kiosk::registration::reveal_id_number(&mut store, &Operator::admin("setup"), hit.id);
    assert_eq!(revealed.unwrap().unwrap().as_str(), FULL_ID);
}

fn registrations_are_checked_against_an_admin_stations_newer_definition<S: HubStore>(
    hub: TestHub<S>,
) {
    let organiser = organiser();
    import_event(&hub, &organiser.bundle);
    let press = "R007,韩梅梅,新华社,记者,press,13712345678,,中国,,";
    let before = import(&hub, &csv(&[press]), ImportOptions::default());
    assert_eq!((before.invalid_rows, before.errors[0].field.as_str()), (1, "category"));

    // The office (an admin station) appends a category and pushes the new definition.
    let definition = format!(
        "{}\n[[categories]]\nid = \"press\"\nlabel_zh = \"记者\"\nlabel_en = \"Press\"\n\
         colour = \"#000000\"\n",
        organiser.bundle.definition
    );
    let event = EventRecord { event_id: EVENT.into(), definition, public_keys: Vec::new() };
    let answer =
        hub.client("office").push(&[common::Station::new("office").change(Record::Event(event))]);
    assert!(answer.unwrap().refused.is_empty());
    let after = import(&hub, &csv(&[press]), ImportOptions::default());
    assert_eq!(counts(&after), (1, 0, 0, 0, true), "{:?}", after.errors);
}
