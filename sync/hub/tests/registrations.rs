//! Registrations into the data centre (`expo-hub event import`, `expo-hub import
//! attendees`, `PUT /v1/registrations`) on SQLite and PostgreSQL: the station import's rules
//! and attendee ids, identity conflicts, and no clear ID number in the hub's database,
//! logs or exports.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::TestHub;
use expo_hub::conflicts::ConflictKind;
use expo_hub::origin::HubOrigin;
use expo_hub::registrations::{self, RegistrationsError};
use expo_hub::HubStore;
use expo_kiosk::domain::AttendeeId;
use expo_kiosk::operators::Operator;
use expo_kiosk::provisioning::{self, Bundle};
use expo_kiosk::registration::import::{ImportOptions, ImportReport};
use expo_kiosk::store::Store;
use expo_sync::endorsement::HUB_ORIGIN;
use expo_sync::protocol::{AttendeeRecord, Record};
use expo_sync::StationRole;

common::hub_suite!(
    an_import_creates_updates_and_leaves_unchanged_with_the_stations_ids,
    a_bad_row_imports_nothing_unless_skipped_and_gb18030_reads,
    an_identity_conflict_is_reported_and_not_applied,
    the_hub_takes_registrations_only_for_its_own_event_with_its_data_key,
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
    provisioning::init(&mut store, "setup", definition).unwrap();
    let bundle = provisioning::export(&store, true).unwrap();
    Organiser { dir, bundle }
}

impl Organiser {
    /// A desk that joined the event from the bundle and imported `file` itself, offline.
    fn desk_importing(&self, file: &[u8]) -> Store {
        let mut desk = Store::open(&self.dir.path().join("desk")).unwrap();
        provisioning::import(&mut desk, "setup", &self.bundle, true).unwrap();
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

    // Stations pull them as the organiser's changes.
    let pulled = hub.client("desk-1").pull(0, 100).unwrap();
    assert_eq!(pulled.changes.len(), 2);
    for change in &pulled.changes {
        assert_eq!(
            (change.station.as_str(), change.pushed_by),
            (HUB_ORIGIN, Some(StationRole::Admin))
        );
    }

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
    assert_eq!(changes_stored(&hub), before + 1);
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
    assert_eq!(changes_stored(&hub), before + 1, "only the good row's update");
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
    provisioning::init(&mut store, "setup", &definition).unwrap();
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
    for args in [
        vec!["event", "import", bundle.to_str().unwrap()],
        vec!["import", "attendees", file.to_str().unwrap(), "--json"],
        vec!["export", "--format", "csv", "--out", work.join("csv").to_str().unwrap()],
        vec!["export", "--format", "jsonl", "--out", work.join("jsonl").to_str().unwrap()],
    ] {
        let (out, log) = hub_command(db, &args);
        written.push_str(&out);
        written.push_str(&log);
    }
    assert!(written.contains("\"created\": 2"), "{written}");
    for format in ["csv", "jsonl"] {
        for entry in std::fs::read_dir(work.join(format)).unwrap() {
            written.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    assert!(written.contains("1101**********002X"), "the masked number is exported");
    written
}

fn assert_no_id_number(text: &str, what: &str) {
    // The whole number, and its birth-date middle that masking hides.
    for secret in [FULL_ID, "0519491231"] {
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
