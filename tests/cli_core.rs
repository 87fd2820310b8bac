//! The core commands, driven through the real binary as a venue script would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use expo_kiosk::demo::demo_event_toml;
use serde_json::Value;

struct Station {
    dir: tempfile::TempDir,
}

impl Station {
    fn new() -> Self {
        Station { dir: tempfile::tempdir().unwrap() }
    }

    /// A station provisioned with the example event moved so that it runs today.
    fn with_event_today() -> Self {
        let station = Station::new();
        let file = station
            .file("event.toml", demo_event_toml(chrono::Local::now().date_naive()).as_bytes());
        station.ok(&["event", "init", "--file", file.to_str().unwrap()]);
        station
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[], None)
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"));
        command.arg("--data-dir").arg(self.data()).args(args).env_remove("EXPO_KIOSK_PIN");
        // Messages are English unless a test asks for a language or a Chinese locale.
        for locale in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            command.env_remove(locale);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(bytes) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, &[])
    }

    fn ok_with(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run_with(args, env, None);
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    fn register(&self, args: &[&str]) -> String {
        let mut all = vec!["register"];
        all.extend_from_slice(args);
        self.ok(&all).trim().to_owned()
    }

    fn count(&self, table: &str) -> i64 {
        let conn = rusqlite::Connection::open(self.data().join("station.db")).unwrap();
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

const GOOD_CSV: &str = "registration_code,name,company,title,category,phone,email,country,id_type,id_number\n\
R001,张三,上海国际展览有限公司,经理,参展商,13812345678,zs@example.com,中国,resident_id,11010519491231002X\n\
R002,John Smith,Acme GmbH,CTO,professional_visitor,+49 151 12345678,john@acme.de,Germany,,\n\
R003,欧阳娜娜,深圳光电有限公司,总监,专业观众,13987654321,,中国,,\n";

#[test]
fn import_search_and_reimport() {
    let station = Station::with_event_today();
    let csv = station.file("a.csv", GOOD_CSV.as_bytes());
    let report = station.json(&["import", "attendees", csv.to_str().unwrap(), "--json"]);
    assert_eq!((report["created"].as_u64(), report["invalid_rows"].as_u64()), (Some(3), Some(0)));

    // Re-importing changes nothing.
    let again = station.json(&["import", "attendees", csv.to_str().unwrap(), "--json"]);
    assert_eq!((again["created"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(3)));
    assert_eq!(station.count("attendees"), 3);

    for (query, expected) in [
        ("zs", "张三"),
        ("zhangs", "张三"),
        ("zhangsan", "张三"),
        ("张", "张三"),
        ("oyn", "欧阳娜娜"),
        ("john", "John Smith"),
        ("smith", "John Smith"),
        ("acme", "John Smith"),
        ("展览", "张三"),
        ("5678", "张三"),
        ("12345678", "张三"),
        ("R002", "John Smith"),
        ("002x", "张三"),
    ] {
        let hits = station.json(&["search", query, "--json"]);
        let names: Vec<&str> =
            hits.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
        assert!(names.contains(&expected), "{query} -> {names:?}");
        for hit in hits.as_array().unwrap() {
            for field in ["id", "name", "registration_code", "category", "company"] {
                assert!(hit.get(field).is_some(), "{field} missing in {hit}");
            }
        }
    }
    assert_eq!(station.json(&["search", "nobody-like-this", "--json"]), Value::Array(vec![]));
}

#[test]
fn gb18030_with_chinese_headers_and_a_utf8_bom_both_import() {
    let station = Station::with_event_today();
    let chinese = "注册码,姓名,公司,职位,类别,手机,邮箱,国家,证件类型,证件号码\nC100,李四,杭州电子科技有限公司,工程师,专业观众,13700001111,,中国,,\n";
    let (encoded, _, _) = encoding_rs::GB18030.encode(chinese);
    let gb = station.file("gb.csv", &encoded);
    let report = station.json(&["import", "attendees", gb.to_str().unwrap(), "--json"]);
    assert_eq!(
        (report["encoding"].as_str(), report["created"].as_u64()),
        (Some("gb18030"), Some(1))
    );

    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(GOOD_CSV.as_bytes());
    let path = station.file("bom.csv", &bom);
    let report = station.json(&["import", "attendees", path.to_str().unwrap(), "--json"]);
    assert_eq!(report["created"].as_u64(), Some(3));
    let hits = station.json(&["search", "lisi", "--json"]);
    assert_eq!(hits[0]["name"], "李四");
}

#[test]
fn bad_rows_are_reported_masked_and_block_the_import_unless_skipped() {
    let station = Station::with_event_today();
    let csv =
        "registration_code,name,company,title,category,phone,email,country,id_type,id_number\n\
        B1,王五,甲公司,,参展商,13812345678,,中国,resident_id,110105194912310021\n\
        B2,,乙公司,,专业观众,,,,,\n\
        B3,赵六,丙公司,,astronaut,,,,,\n\
        B4,钱七,丁公司,,专业观众,12345,,,,\n\
        B5,孙八,戊公司,,专业观众,,not-an-email,,,\n\
        B6,周九,己公司,,专业观众,,,,,\n\
        B6,吴十,庚公司,,专业观众,,,,,\n\
        B7,郑一,,,参展商,13812345678,,,,\n";
    let path = station.file("bad.csv", csv.as_bytes());
    let out = station.run(&["import", "attendees", path.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["committed"], false);
    assert_eq!(station.count("attendees"), 0, "one bad row imports nothing");
    let errors = report["errors"].as_array().unwrap();
    let find = |line: u64, field: &str| {
        errors
            .iter()
            .find(|e| e["line"].as_u64() == Some(line) && e["field"] == field)
            .unwrap_or_else(|| panic!("no error for line {line} {field}: {errors:?}"))
    };
    let id_error = find(2, "id_number");
    assert_eq!(id_error["value"], "1101**********0021", "the ID number is masked in the report");
    assert!(id_error["reason"].as_str().unwrap().contains("check"), "{id_error}");
    find(3, "name");
    find(4, "category");
    find(5, "phone");
    find(6, "email");
    assert!(find(8, "registration_code")["reason"].as_str().unwrap().contains("line 7"));
    find(9, "company");
    assert!(!text(&out.stdout).contains("110105194912310021"));

    let dry = station.run(&["import", "attendees", path.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code(&dry), 1);
    assert!(text(&dry.stdout).contains("line 2: id_number"), "{}", text(&dry.stdout));

    let skipped =
        station.json(&["import", "attendees", path.to_str().unwrap(), "--skip-invalid", "--json"]);
    assert_eq!(
        (skipped["created"].as_u64(), skipped["committed"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(station.count("attendees"), 1);
}

#[test]
fn a_malformed_file_is_a_clear_error() {
    let station = Station::with_event_today();
    let no_name = station.file("x.csv", b"registration_code,company\nR1,Acme\n");
    let out = station.run(&["import", "attendees", no_name.to_str().unwrap()]);
    assert_eq!(code(&out), 6);
    assert!(text(&out.stderr).contains("name"), "{}", text(&out.stderr));
    let binary = station.file("y.csv", &[0xff, 0xfe, 0x00, 0x81, 0x30, 0xff]);
    let out = station.run(&["import", "attendees", binary.to_str().unwrap()]);
    assert_eq!(code(&out), 6);
    assert!(text(&out.stderr).contains("neither UTF-8 nor GB18030"), "{}", text(&out.stderr));
    let out = station.run(&["import", "attendees", "/nonexistent.csv"]);
    assert_eq!(code(&out), 3);
}

#[test]
fn register_masks_and_protects_the_id_number() {
    let station = Station::with_event_today();
    let id = station.register(&[
        "--name",
        "张三",
        "--category",
        "exhibitor",
        "--company",
        "上海展览",
        "--phone",
        "13812345678",
        "--id-type",
        "居民身份证",
        "--id-number",
        "11010519491231002X",
    ]);
    let shown = station.json(&["attendee", "show", &id, "--json"]);
    assert_eq!(shown["id_number"], "1101**********002X");
    assert_eq!(shown["source"], "walk_in");

    // Same ID document again: refused as invalid (a duplicate).
    let out = station.run(&[
        "register",
        "--name",
        "张三",
        "--category",
        "exhibitor",
        "--company",
        "x",
        "--phone",
        "13812345678",
        "--id-number",
        "11010519491231002x",
    ]);
    assert_eq!(code(&out), 6);
    assert!(text(&out.stderr).contains("already registered"), "{}", text(&out.stderr));

    // Missing required field for the category, bad check digit: invalid, with every reason.
    let out = station.run(&[
        "register",
        "--name",
        "李四",
        "--category",
        "参展商",
        "--id-number",
        "110105194912310021",
    ]);
    assert_eq!(code(&out), 6);
    let err = text(&out.stderr);
    assert!(err.contains("company") && err.contains("phone") && err.contains("id_number"), "{err}");

    // The number appears nowhere in the station's files in clear.
    let token = station.ok(&["badge", "token", &id]);
    assert!(token.starts_with("EK1"));
    let mut files = Vec::new();
    collect_files(&station.data(), &mut files);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(18).any(|w| w.eq_ignore_ascii_case(b"11010519491231002X")),
            "{} holds the ID number in clear",
            file.display()
        );
    }

    // Only a role that may reveal it sees it, and the reveal is audited.
    let pin = [("EXPO_KIOSK_PIN", "2580")];
    assert!(station
        .run_with(&["operator", "add", "desk1", "--role", "desk"], &pin, None)
        .status
        .success());
    assert!(station
        .run_with(&["operator", "add", "boss", "--role", "admin"], &pin, None)
        .status
        .success());
    let denied = station.run_with(&["attendee", "show", &id, "--reveal-as", "desk1"], &pin, None);
    assert_eq!(code(&denied), 4, "refused: {}", text(&denied.stderr));
    assert!(!text(&denied.stdout).contains("11010519491231002X"));
    let wrong = station.run_with(
        &["attendee", "show", &id, "--reveal-as", "boss"],
        &[("EXPO_KIOSK_PIN", "0000")],
        None,
    );
    assert_eq!(code(&wrong), 4);
    let revealed =
        station.run_with(&["attendee", "show", &id, "--json", "--reveal-as", "boss"], &pin, None);
    assert!(revealed.status.success(), "{}", text(&revealed.stderr));
    assert!(text(&revealed.stdout).contains("11010519491231002X"));
    // With an admin on the station, the audit log is read as an operator.
    let audit = station.ok_with(&["--as", "boss", "audit", "--json", "--attendee", &id], &pin);
    let audit: Value = serde_json::from_str(&audit).unwrap();
    let actions: Vec<&str> =
        audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["reveal_id", "refused", "issue_badge", "register"]);
    let all = station.ok_with(&["--as", "boss", "audit", "--limit", "100"], &pin);
    assert!(!all.contains("11010519491231002X"));
}

#[test]
fn once_the_station_has_an_admin_every_change_needs_an_operator_and_their_pin() {
    let station = Station::with_event_today();
    // A fresh station is set up without operators: the setup actor adds the first admin.
    let boss_pin = [("EXPO_KIOSK_PIN", "2580")];
    station.ok_with(&["operator", "add", "boss", "--role", "admin"], &boss_pin);

    // A copy of the data directory no longer lets anyone add an admin or register.
    let copied =
        station.run_with(&["operator", "add", "mallory", "--role", "admin"], &boss_pin, None);
    assert_eq!(code(&copied), 4);
    assert!(text(&copied.stderr).contains("--as OPERATOR"), "{}", text(&copied.stderr));
    let unnamed = station.run(&["register", "--name", "X", "--category", "vip"]);
    assert_eq!(code(&unnamed), 4);
    let wrong = station.run_with(
        &["--as", "boss", "operator", "add", "mallory", "--role", "admin"],
        &[("EXPO_KIOSK_PIN", "0000"), ("EXPO_KIOSK_NEW_PIN", "1111")],
        None,
    );
    assert_eq!(code(&wrong), 4);
    assert!(!station.ok(&["operator", "list"]).contains("mallory"));

    // The admin's PIN, then the new operator's, both on stdin.
    let added = station.run_with(
        &["--as", "boss", "operator", "add", "exh", "--role", "desk", "--category", "exhibitor"],
        &[],
        Some(b"2580\n1357\n"),
    );
    assert!(added.status.success(), "{}", text(&added.stderr));

    // The ID number from the environment or stdin, never on the command line.
    let exh_pin = [("EXPO_KIOSK_PIN", "1357"), ("EXPO_KIOSK_ID_NUMBER", "11010519491231002X")];
    let exhibitor = ["--as", "exh", "register", "--name", "王五", "--category", "exhibitor"];
    let args = [&exhibitor[..], &["--company", "上海展览", "--phone", "13812345678"]].concat();
    let id = station.ok_with(&args, &exh_pin).trim().to_owned();
    let shown = station.ok_with(&["--as", "boss", "attendee", "show", &id, "--json"], &boss_pin);
    assert!(shown.contains("1101**********002X"), "{shown}");
    assert!(shown.contains("\"consent\": false"), "consent is never assumed: {shown}");
    let from_stdin = station.run_with(
        &["--as", "boss", "register", "--name", "赵六", "--category", "vip", "--id-number-stdin"],
        &[],
        Some(b"2580\n11010519491231002X\n"),
    );
    assert_eq!(code(&from_stdin), 6, "the same ID number again: a duplicate");
    assert!(
        text(&from_stdin.stderr).contains("already registered"),
        "{}",
        text(&from_stdin.stderr)
    );

    // The exhibitor desk registers exhibitors only, and the refusal changes nothing.
    let vip = ["--as", "exh", "register", "--name", "李四", "--category", "vip"];
    let refused = station.run_with(&vip, &[("EXPO_KIOSK_PIN", "1357")], None);
    assert_eq!(code(&refused), 4);
    assert!(text(&refused.stderr).contains("does not handle the vip category"));
    assert_eq!(station.count("attendees"), 1);
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn verify_accepts_genuine_tokens_and_names_every_tampering() {
    let station = Station::with_event_today();
    let id = station.register(&[
        "--name",
        "Anna Lee",
        "--category",
        "vip",
        "--registration-code",
        "V-7",
    ]);
    let token = station.ok(&["badge", "token", "V-7"]).trim().to_owned();
    assert_eq!(station.ok(&["badge", "token", &id]).trim(), token, "one active badge per attendee");

    let valid = station.json(&["verify", &token, "--json"]);
    assert_eq!(valid["valid"], true);
    assert_eq!(
        (valid["name"].as_str(), valid["category"].as_str()),
        (Some("Anna Lee"), Some("vip"))
    );
    assert_eq!(valid["attendee_id"].as_str(), Some(id.as_str()));

    let verdict = |token: &str| {
        let out = station.run(&["verify", token, "--json"]);
        let json: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)));
        assert_eq!(code(&out), if json["valid"] == true { 0 } else { 1 });
        json["reason"].as_str().unwrap_or("valid").to_owned()
    };
    // Every single-character change in the signed part is caught.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for position in (3..token.len()).step_by(7) {
        let mut chars: Vec<char> = token.chars().collect();
        let replacement = alphabet.chars().find(|c| *c != chars[position]).unwrap();
        chars[position] = replacement;
        let reason = verdict(&chars.into_iter().collect::<String>());
        assert!(
            [
                "bad_signature",
                "malformed",
                "unknown_key",
                "other_event",
                "expired",
                "not_yet_valid"
            ]
            .contains(&reason.as_str()),
            "position {position}: {reason}"
        );
        assert_ne!(reason, "valid");
    }
    assert_eq!(verdict(&token[..token.len() - 5]), "malformed");
    assert_eq!(verdict("' OR 1=1; --"), "malformed");
    assert_eq!(verdict("%s%s%n{}{0}"), "malformed");
    assert_eq!(verdict(&"A".repeat(10_240)), "malformed");
    assert_eq!(verdict(&format!("{token}AA")), "malformed");

    let junk: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let out = station.run_with(&["verify", "-", "--json"], &[], Some(&junk));
    assert_eq!(code(&out), 1);
    assert!(text(&out.stdout).contains("malformed"));

    // Another station of the same event whose key this station never received.
    let stranger = Station::with_event_today();
    stranger.register(&["--name", "X", "--category", "vip", "--registration-code", "S1"]);
    let foreign = stranger.ok(&["badge", "token", "S1"]).trim().to_owned();
    assert_eq!(verdict(&foreign), "unknown_key");

    // A station of another event.
    let other = Station::new();
    let toml = demo_event_toml(chrono::Local::now().date_naive())
        .replace("id = \"expo-demo\"", "id = \"other-fair\"");
    let file = other.file("e.toml", toml.as_bytes());
    other.ok(&["event", "init", "--file", file.to_str().unwrap()]);
    other.register(&["--name", "Y", "--category", "vip", "--registration-code", "O1"]);
    assert_eq!(verdict(other.ok(&["badge", "token", "O1"]).trim()), "other_event");

    station.ok(&["badge", "revoke", "V-7", "--reason", "lost"]);
    assert_eq!(verdict(&token), "revoked");

    let usage = station.run(&["verify"]);
    assert_eq!(code(&usage), 2);
}

#[test]
fn validity_dates_are_enforced() {
    let today = chrono::Local::now().date_naive();
    for (shift_days, expected) in [(-30i64, "expired"), (30, "not_yet_valid")] {
        let station = Station::new();
        let start = today + chrono::Duration::days(shift_days);
        let file = station.file("e.toml", demo_event_toml(start).as_bytes());
        station.ok(&["event", "init", "--file", file.to_str().unwrap()]);
        station.register(&["--name", "Z", "--category", "vip", "--registration-code", "Z1"]);
        let token = station.ok(&["badge", "token", "Z1"]);
        let out = station.run(&["verify", token.trim(), "--json"]);
        assert_eq!(code(&out), 1);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["reason"], expected);
    }
}

#[test]
fn event_bundles_share_public_keys_and_never_the_private_key() {
    let first = Station::with_event_today();
    first.register(&["--name", "A", "--category", "vip", "--registration-code", "A1"]);
    let token = first.ok(&["badge", "token", "A1"]).trim().to_owned();
    let bundle = first.dir.path().join("bundle.json");
    first.ok(&["event", "export", "--out", bundle.to_str().unwrap()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o077, 0);
        let key = first.data().join("keys/signing.key");
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let private = std::fs::read_to_string(first.data().join("keys/signing.key")).unwrap();
    assert!(!std::fs::read_to_string(&bundle).unwrap().contains(private.trim()));

    let gate = Station::new();
    gate.ok(&["event", "import", bundle.to_str().unwrap(), "--verify-only"]);
    assert!(!gate.data().join("keys/signing.key").exists(), "a gate holds public keys only");
    let json = gate.json(&["verify", &token, "--json"]);
    assert_eq!(json["valid"], true, "{json}");
    assert_eq!(json["name"], Value::Null, "the gate does not hold the attendee list");
    let out = gate.run(&["badge", "token", "A1"]);
    assert_ne!(code(&out), 0);

    let desk_bundle = first.dir.path().join("desk.json");
    first.ok(&["event", "export", "--out", desk_bundle.to_str().unwrap(), "--with-data-key"]);
    let desk = Station::new();
    desk.ok(&["event", "import", desk_bundle.to_str().unwrap()]);
    let status = desk.json(&["event", "show", "--json"]);
    assert_eq!(
        (status["has_data_key"].as_bool(), status["public_keys"].as_u64()),
        (Some(true), Some(2))
    );
    assert!(status["key_id"].is_string());

    let broken =
        first.file("broken.json", b"{\"format\": \"expo-kiosk-event-bundle\", \"version\": 1");
    let out = Station::new().run(&["event", "import", broken.to_str().unwrap()]);
    assert_eq!(code(&out), 6);
    assert!(text(&out.stderr).contains("not an event bundle"));
}

#[test]
fn commands_without_an_event_explain_what_to_do() {
    let station = Station::new();
    let out = station.run(&["search", "x"]);
    let out2 = station.run(&["verify", "EK1AAAA"]);
    assert_eq!(code(&out2), 3);
    assert!(text(&out2.stderr).contains("event init"), "{}", text(&out2.stderr));
    assert!(out.status.success(), "searching an empty station is not an error");
    assert_eq!(code(&station.run(&["no-such-command"])), 2);
}

#[test]
fn a_reader_that_stops_reading_ends_the_output_without_a_panic() {
    let station = Station::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(station.data())
        .args(["demo", "--headless"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // `| head -0`
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

#[test]
fn the_demo_runs_with_no_setup() {
    let station = Station::new();
    let out = station.ok(&["demo", "--headless"]);
    assert!(out.contains("imported 2000"), "{out}");
    assert!(out.contains("valid: 欧阳娜娜"));
    assert!(out.contains("invalid: bad_signature") && out.contains("invalid: revoked"));
    // Run again: the demo event is reused, not duplicated.
    let again = station.ok(&["demo", "--headless"]);
    assert!(!again.contains("imported"), "{again}");
}

#[test]
fn an_admin_replaces_a_forgotten_pin_and_disables_an_operator_who_left() {
    let station = Station::with_event_today();
    let pin = |pin: &'static str| [("EXPO_KIOSK_PIN", pin)];
    let first =
        station.run_with(&["operator", "add", "boss", "--role", "admin"], &pin("2580"), None);
    assert!(first.status.success(), "{}", text(&first.stderr));
    // From now on the admin acts, with their PIN; a new PIN comes from EXPO_KIOSK_NEW_PIN.
    let as_boss = |args: &[&str], new_pin: &'static str| {
        let all = [&["--as", "boss"][..], args].concat();
        station.run_with(&all, &[("EXPO_KIOSK_PIN", "2580"), ("EXPO_KIOSK_NEW_PIN", new_pin)], None)
    };
    let ok_as_boss = |args: &[&str]| {
        let out = as_boss(args, "");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let added = as_boss(&["operator", "add", "temp1", "--role", "desk"], "2580");
    assert!(added.status.success(), "{}", text(&added.stderr));
    let id = ok_as_boss(&[
        "register",
        "--name",
        "Anna Lee",
        "--category",
        "vip",
        "--id-type",
        "resident_id",
        "--id-number",
        "11010519491231002X",
    ])
    .trim()
    .to_owned();
    // The desk operator's PIN is checked where a role is needed: `--reveal-as` asks for it.
    let show_as = |who: &str, secret: &'static str| {
        station.run_with(&["attendee", "show", &id, "--reveal-as", who], &pin(secret), None)
    };

    let reset = as_boss(&["operator", "set-pin", "temp1"], "7777");
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    assert!(text(&show_as("temp1", "2580").stderr).contains("wrong operator name or PIN"));
    let denied = show_as("temp1", "7777");
    assert!(text(&denied.stderr).contains("may not see full ID numbers"), "the new PIN works");

    ok_as_boss(&["operator", "disable", "temp1"]);
    assert!(text(&show_as("temp1", "7777").stderr).contains("wrong operator name or PIN"));
    assert!(!station.ok(&["operator", "list"]).contains("temp1"));
    assert!(station.ok(&["operator", "list", "--all"]).contains("temp1  "));
    let listed = station.json(&["operator", "list", "--all", "--json"]);
    let temp = listed.as_array().unwrap().iter().find(|e| e["name"] == "temp1").unwrap();
    assert_eq!(temp["active"], false);

    // The station keeps its one admin; unknown names are a plain no.
    let last = as_boss(&["operator", "disable", "boss"], "");
    assert_eq!(code(&last), 4);
    assert!(text(&last.stderr).contains("last active admin"), "{}", text(&last.stderr));
    let nobody = as_boss(&["operator", "enable", "nobody"], "");
    assert_eq!(code(&nobody), 5);
    assert!(text(&nobody.stderr).contains("no operator named \"nobody\""));

    ok_as_boss(&["operator", "enable", "temp1"]);
    ok_as_boss(&["operator", "set-role", "temp1", "--role", "admin"]);
    assert!(show_as("temp1", "7777").status.success(), "an admin may reveal");
    let audit = ok_as_boss(&["audit", "--limit", "20"]);
    assert_eq!(audit.matches("operator_change").count(), 4, "{audit}");
    // A line's time stamp and the attendee's id may hold any digits (in one CI run the id
    // held 7777); the PIN must be in none of the rest.
    let holds_pin = |line: &str| {
        line.split_whitespace()
            .skip(1)
            .filter(|word| uuid::Uuid::parse_str(word).is_err())
            .any(|word| word.contains("7777"))
    };
    assert!(!audit.lines().any(holds_pin), "{audit}");
}

/// Words of four or more Latin letters: English prose, as opposed to a code or a value.
fn english_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_ascii_alphabetic()).filter(|word| word.len() >= 4).collect()
}

#[test]
fn lang_zh_words_import_reports_and_refusals_in_chinese() {
    let station = Station::with_event_today();
    let csv = station.file(
        "bad.csv",
        "registration_code,name,company,category,phone\r\n\
         R1,张三,上海展览,参展商,13812345678\r\n\
         R2,李四,,参展商,12345\r\n"
            .as_bytes(),
    );
    let import = ["import", "attendees", csv.to_str().unwrap(), "--dry-run"];
    let mut args = vec!["--lang", "zh"];
    args.extend(import);
    let out = station.run(&args);
    assert_eq!(code(&out), 1, "rejected for a bad row");
    let report = text(&out.stdout);
    assert!(report.contains("第 3 行：手机 “12345”：大陆手机号须为"), "{report}");
    assert!(report.contains("第 3 行：公司"), "{report}");
    assert!(report.contains("试运行：未写入任何数据"), "{report}");
    // The encoding's name and the category's id are values, not prose.
    let values = ["utf", "exhibitor"];
    let prose: Vec<&str> =
        english_words(&report).into_iter().filter(|word| !values.contains(word)).collect();
    assert!(prose.is_empty(), "English in the Chinese report: {report}");
    // English by default, Chinese from the locale, and --lang over the locale.
    assert!(text(&station.run(&import).stdout).contains("line 3: phone"));
    let zh_locale = [("LANG", "zh_CN.UTF-8")];
    assert!(text(&station.run_with(&import, &zh_locale, None).stdout).contains("第 3 行"));
    let mut english = vec!["--lang", "en"];
    english.extend(import);
    assert!(text(&station.run_with(&english, &zh_locale, None).stdout).contains("line 3"));

    // A refused command: the refusal in Chinese, with no English reason.
    let setup = [("EXPO_KIOSK_PIN", "0000")];
    station.ok_with(&["operator", "add", "boss", "--role", "admin"], &setup);
    let desk = [("EXPO_KIOSK_PIN", "0000"), ("EXPO_KIOSK_NEW_PIN", "2580")];
    station.ok_with(&["--as", "boss", "operator", "add", "alice", "--role", "desk"], &desk);
    let export = ["--lang", "zh", "--as", "alice", "event", "export", "--out", "b.json"];
    let out = station.run_with(&export, &[("EXPO_KIOSK_PIN", "2580")], None);
    assert_eq!(code(&out), 4);
    let refusal = text(&out.stderr);
    assert!(refusal.contains("已拒绝：操作员 alice（登记台）无权修改活动"), "{refusal}");
    let prose: Vec<&str> =
        english_words(&refusal).into_iter().filter(|word| *word != "alice").collect();
    assert!(prose.is_empty(), "English in the Chinese refusal: {refusal}");
    // An invalid registration names each field and problem in Chinese.
    let register = ["--lang", "zh", "--as", "boss", "register", "--name", "王五"];
    let mut args = register.to_vec();
    args.extend(["--category", "参展商", "--phone", "12345"]);
    let out = station.run_with(&args, &[("EXPO_KIOSK_PIN", "0000")], None);
    assert_eq!(code(&out), 6);
    let invalid = text(&out.stderr);
    assert!(
        invalid.contains("请更正：登记无效：") && invalid.contains("手机：大陆手机号"),
        "{invalid}"
    );
    let prose: Vec<&str> =
        english_words(&invalid).into_iter().filter(|word| !values.contains(word)).collect();
    assert!(prose.is_empty(), "English in the Chinese problems: {invalid}");
}

#[test]
fn each_error_class_has_its_exit_code() {
    // Unavailable: no event on this station yet.
    let fresh = Station::new();
    assert_eq!(code(&fresh.run(&["verify", "EK1AAAA"])), 3);
    let zh = fresh.run(&["--lang", "zh", "verify", "EK1AAAA"]);
    assert_eq!(code(&zh), 3);
    assert!(text(&zh.stderr).contains("暂时无法完成：本站还没有活动"), "{}", text(&zh.stderr));

    let station = Station::with_event_today();
    station.ok_with(&["operator", "add", "boss", "--role", "admin"], &[("EXPO_KIOSK_PIN", "0000")]);
    let as_boss = |args: &[&str], pin: &str| {
        let mut all = vec!["--as", "boss"];
        all.extend_from_slice(args);
        station.run_with(&all, &[("EXPO_KIOSK_PIN", pin)], None)
    };
    // Refused: no operator named, a wrong PIN.
    assert_eq!(code(&station.run(&["search", "x"])), 4);
    assert_eq!(code(&as_boss(&["search", "x"], "9999")), 4);
    // Not found: an attendee that does not exist.
    assert_eq!(code(&as_boss(&["attendee", "show", "R404"], "0000")), 5);
    // Invalid: a category the event does not have.
    assert_eq!(code(&as_boss(&["register", "--name", "X", "--category", "nope"], "0000")), 6);

    // `--help` lists the codes.
    let help = station.ok(&["--help"]);
    for line in ["3  unavailable", "4  refused", "5  not found", "6  invalid"] {
        assert!(help.contains(line), "{line}: {help}");
    }
}
