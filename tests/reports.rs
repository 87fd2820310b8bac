//! Statistics and reports on a generated show day of 100,000 gate scans, checked against
//! figures worked out by hand from the generator's rules (see `scan`), through the library
//! and through `expo-kiosk report`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::path::Path;
use std::process::Command;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use expo_kiosk::demo::{demo_event_toml, Generator};
use expo_kiosk::domain::{AttendeeId, NewAttendee, Source};
use expo_kiosk::registration::import::{import_csv, ImportOptions};
use expo_kiosk::registration::{self, badge};
use expo_kiosk::station_sync::StoreOutbox;
use expo_kiosk::stats::{self, ChartId, VenueDay};
use expo_kiosk::store::Store;
use expo_sync::hlc::Hlc;
use expo_sync::protocol::GateDecisionRecord;
use expo_sync::station::StationOutbox;
use expo_sync::{Change, Record};
use serde_json::Value;
use uuid::Uuid;

const SCANS: u64 = 100_000;
const GATES: [(&str, &str); 4] =
    [("east-1", "hall-1"), ("east-2", "hall-1"), ("west-1", "hall-2"), ("west-2", "hall-2")];
const DENY_REASONS: [&str; 3] = ["revoked", "zone_not_allowed", "passback"];
const IMPORTED: u64 = 200;

/// Scan `i` of the day. With `k = i / 4`, the scan's number at its own gate:
/// - every 300 ms from 09:00 local, through gate `i % 4`;
/// - an entry when `k % 10 < 7`, else an exit;
/// - denied when `k % 25 == 24`, for `DENY_REASONS[(k / 25) % 3]`;
/// - a granted entry nobody walked through (annulled) when `k % 50 == 3`.
struct Scan {
    decision: GateDecisionRecord,
    annulled: bool,
}

fn scan(day_start: chrono::DateTime<Utc>, i: u64) -> Scan {
    let k = i / 4;
    let (gate, zone) = GATES[(i % 4) as usize];
    let denied = k % 25 == 24;
    let at = day_start + Duration::hours(9) + Duration::milliseconds(i as i64 * 300);
    Scan {
        decision: GateDecisionRecord {
            id: Uuid::from_u128(u128::from(i) + 1),
            attendee_id: None,
            badge_serial: Some(1),
            gate: gate.into(),
            lane: "1".into(),
            zone: zone.into(),
            direction: if k % 10 < 7 { "in" } else { "out" }.into(),
            granted: !denied,
            reason: if denied { DENY_REASONS[((k / 25) % 3) as usize] } else { "granted" }.into(),
            at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            annulled: false,
        },
        annulled: !denied && k % 50 == 3,
    }
}

fn change(record: GateDecisionRecord, n: u64) -> Change {
    Change {
        id: Uuid::now_v7(),
        station: "gate-east".into(),
        hlc: Hlc { wall_ms: 1_700_000_000_000 + n, counter: 0, station: "gate-east".into() },
        record: Record::GateDecision(record),
        pushed_by: None,
    }
}

struct Show {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    day: NaiveDate,
    tz: Tz,
}

/// A station with 200 imported and 3 walk-in attendees, badges from two desks, and the
/// 100,000 scans of `day` arriving from a gate station through sync, annulments later.
fn show() -> Show {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tz: Tz = "Asia/Shanghai".parse().unwrap();
    let day = Utc::now().with_timezone(&tz).date_naive();
    let mut store = Store::open(&data).unwrap();
    expo_kiosk::provisioning::init(
        &mut store,
        &expo_kiosk::operators::Operator::admin("test"),
        &demo_event_toml(day),
    )
    .unwrap();
    let mut csv = Vec::new();
    Generator::new(7).write_csv(IMPORTED, &mut csv).unwrap();
    import_csv(
        &mut store,
        &expo_kiosk::operators::Operator::admin("crm"),
        &csv,
        ImportOptions::default(),
    )
    .unwrap();
    for name in ["王五", "赵六", "Anna Berg"] {
        let input = NewAttendee {
            name: name.into(),
            category: "public_visitor".into(),
            country: "中国".into(),
            ..NewAttendee::default()
        };
        let walk_in = registration::register(
            &mut store,
            &expo_kiosk::operators::Operator::admin("desk-1"),
            &input,
            Source::WalkIn,
        )
        .unwrap();
        badge::ensure_badge(
            &mut store,
            &expo_kiosk::operators::Operator::admin("desk-1"),
            AttendeeId(walk_in.id),
        )
        .unwrap();
    }
    for code in ["R0000001", "R0000002", "R0000003", "R0000004"] {
        let id = AttendeeId(registration::resolve(store.conn(), code).unwrap().id);
        badge::ensure_badge(&mut store, &expo_kiosk::operators::Operator::admin("desk-2"), id)
            .unwrap();
    }
    for code in ["R0000001", "R0000002"] {
        let id = AttendeeId(registration::resolve(store.conn(), code).unwrap().id);
        badge::reprint(&mut store, &expo_kiosk::operators::Operator::admin("desk-2"), id, "lost")
            .unwrap();
    }
    let first_attendee = AttendeeId(registration::resolve(store.conn(), "R0000001").unwrap().id);

    let outbox = StoreOutbox::new(store);
    let day_start = tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap()).unwrap().to_utc();
    let mut annulments = Vec::new();
    let mut batch = Vec::new();
    for i in 0..SCANS {
        let Scan { decision, annulled } = scan(day_start, i);
        if annulled {
            annulments.push(GateDecisionRecord { annulled: true, ..decision.clone() });
        }
        batch.push(change(decision, i));
        if batch.len() == 10_000 {
            outbox.apply_remote(&batch, i as i64).unwrap();
            batch.clear();
        }
    }
    let later: Vec<Change> =
        annulments.into_iter().enumerate().map(|(n, d)| change(d, SCANS + n as u64)).collect();
    outbox.apply_remote(&later, SCANS as i64 * 2).unwrap();

    // The next day, R0000001 comes back twice (and once more through a gate that annuls).
    let next_day = day_start + Duration::days(1) + Duration::hours(10);
    let visits = [(0, true, false), (1, true, true), (2, true, false), (3, false, false)];
    let next: Vec<Change> = visits
        .iter()
        .map(|&(n, granted, annulled)| {
            change(
                GateDecisionRecord {
                    id: Uuid::from_u128(900_000 + n),
                    attendee_id: Some(first_attendee.0),
                    badge_serial: Some(2),
                    gate: "east-1".into(),
                    lane: "1".into(),
                    zone: "hall-1".into(),
                    direction: "in".into(),
                    granted,
                    reason: if granted { "granted" } else { "passback" }.into(),
                    at: (next_day + Duration::minutes(n as i64 * 30))
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    annulled,
                },
                3 * SCANS + n as u64,
            )
        })
        .collect();
    outbox.apply_remote(&next, SCANS as i64 * 3).unwrap();
    Show { _dir: dir, data, day, tz }
}

#[test]
fn a_day_of_100000_scans_adds_up_to_the_hand_computed_figures() {
    let show = show();
    let store = Store::open(&show.data).unwrap();
    let definition = &store.event().unwrap().definition;
    let zones: Vec<String> = definition.zones.iter().map(|z| z.id.clone()).collect();
    let day = VenueDay::new(show.day, show.tz).unwrap();
    let figures = stats::day_figures(store.conn(), "expo-demo", &zones, &day, Utc::now()).unwrap();

    // Per gate: 25,000 scans; 17,500 entries of which 500 denied and 500 annulled; 7,500
    // exits of which 500 denied.
    let totals = &figures.totals;
    assert_eq!((totals.entries, totals.exits), (4 * 16_500, 4 * 7_000));
    assert_eq!(totals.denied, 4 * 1_000);
    assert_eq!(totals.inside, 2 * (33_000 - 14_000));
    let hall = |id: &str| figures.occupancy.iter().find(|z| z.zone == id).unwrap().clone();
    assert_eq!(
        (hall("hall-1").entries, hall("hall-1").exits, hall("hall-1").inside),
        (33_000, 14_000, 19_000)
    );
    assert_eq!(hall("hall-2").inside, 19_000);
    assert_eq!(hall("vip-lounge").inside, 0, "every zone of the event is listed");

    // Deny reasons: a denial for every value of k / 25 in 0..1000 at each gate; 334 of
    // those values are ≡ 0 (mod 3), 333 each ≡ 1 and ≡ 2.
    let denials: Vec<(String, u64)> =
        figures.denials.iter().map(|d| (d.name.clone(), d.count)).collect();
    assert_eq!(
        denials,
        vec![
            ("revoked".into(), 1_336),
            ("passback".into(), 1_332),
            ("zone_not_allowed".into(), 1_332)
        ]
    );

    // Each full quarter hour at a gate is k in [750q, 750q + 750): 525 entries, 15 denied,
    // 15 annulled -> 495; 225 exits, 15 denied -> 210. The last quarter (17:15) holds
    // k in [24750, 25000): 165 entries and 70 exits.
    let east_1: Vec<_> = figures.gate_flow.iter().filter(|f| f.gate == "east-1").collect();
    assert_eq!(east_1.len(), 34, "09:00 to 17:15");
    assert_eq!((east_1[0].quarter, east_1[0].entries, east_1[0].exits), (36, 495, 210));
    assert!(east_1[1..33].iter().all(|f| (f.entries, f.exits) == (495, 210)));
    assert_eq!((east_1[33].quarter, east_1[33].entries, east_1[33].exits), (69, 165, 70));

    // Registrations and badges happened "now", on the same day.
    assert_eq!(totals.registered, IMPORTED + 3);
    let walk_ins: u64 =
        figures.registrations.iter().filter(|r| r.source == "walk_in").map(|r| r.count).sum();
    assert_eq!(walk_ins, 3);
    assert_eq!((totals.badges_issued, totals.reprints), (3 + 4 + 2, 2));
    let desk_2 = figures.reprints.iter().find(|r| r.operator == "desk-2").unwrap();
    assert_eq!((desk_2.issued, desk_2.reprints), (6, 2));
    let desk_1 = figures.reprints.iter().find(|r| r.operator == "desk-1").unwrap();
    assert_eq!((desk_1.issued, desk_1.reprints), (3, 0));

    // The chart of the gate flow carries the same numbers.
    let charts = stats::charts(&figures, definition);
    let flow = charts.iter().find(|c| c.id == ChartId::GateFlow).unwrap();
    assert_eq!(flow.x.first().unwrap().key, "09:00");
    let east_in = flow.series.iter().find(|s| s.label.key == "east-1 in").unwrap();
    assert_eq!(east_in.values.iter().sum::<f64>(), 16_500.0);

    // The next day sees only R0000001's two counted entries.
    let next = VenueDay::new(show.day.succ_opt().unwrap(), show.tz).unwrap();
    let tomorrow =
        stats::day_figures(store.conn(), "expo-demo", &zones, &next, Utc::now()).unwrap();
    assert_eq!((tomorrow.totals.entries, tomorrow.totals.denied), (2, 1));
}

fn run(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

fn ok(data: &Path, args: &[&str]) -> Vec<u8> {
    let out = run(data, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn report_daily_writes_the_same_figures_as_csv_json_and_a_one_page_pdf() {
    let show = show();
    let date = show.day.to_string();
    let json: Value = serde_json::from_slice(&ok(
        &show.data,
        &["report", "daily", "--date", &date, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(json["totals"]["entries"], 66_000);
    assert_eq!(json["totals"]["inside"], 38_000);
    assert_eq!(json["date"], date);
    let desk_2 =
        json["reprints"].as_array().unwrap().iter().find(|r| r["operator"] == "desk-2").unwrap();
    assert!((desk_2["rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);

    let csv = String::from_utf8(ok(&show.data, &["report", "daily", "--date", &date])).unwrap();
    assert!(csv.contains("\ntotals,,denied,4000\n"), "{csv}");
    assert!(csv.contains("\ngate_flow,09:00,east-1 in,495\n"), "{csv}");
    assert!(csv.contains("\ninside,hall-1,inside,19000\n"), "{csv}");
    assert!(csv.contains("\nreprint_rate,desk-2,reprint_percent,33.3\n"), "{csv}");

    let pdf = show.data.with_file_name("daily.pdf");
    ok(
        &show.data,
        &["report", "daily", "--date", &date, "--format", "pdf", "--output", pdf.to_str().unwrap()],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&pdf).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(show.data.join("station.db")).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let info = Command::new("pdfinfo").arg(&pdf).output().expect("pdfinfo (poppler-utils)");
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    assert!(info.contains("Pages:           1"), "{info}");
    let text = Command::new("pdftotext").args(["-layout"]).arg(&pdf).arg("-").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    for expected in [
        "Daily report",
        "每日报告",
        "Entries 66000",
        "在场 Inside 38000",
        "1号馆",
        "Gate entries and exits",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from the PDF text:\n{text}");
    }

    let bad = run(&show.data, &["report", "daily", "--date", "tomorrow"]);
    assert_eq!(bad.status.code(), Some(2), "a bad date is a usage error");
}

#[test]
fn the_follow_up_export_gives_contact_data_only_with_consent() {
    let show = show();
    let out = show.data.with_file_name("follow-up.csv");
    ok(&show.data, &["report", "follow-up", "--output", out.to_str().unwrap()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "a BOM for spreadsheet programs");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, IMPORTED + 3);
    let (consented, refused): (Vec<_>, Vec<_>) =
        rows.iter().partition(|r| &r[column("consent")] == "true");
    assert!(!consented.is_empty() && !refused.is_empty(), "the generator mixes both");
    assert!(refused.iter().all(|r| r[column("phone")].is_empty() && r[column("email")].is_empty()));
    assert!(consented
        .iter()
        .filter(|r| !r[column("registration_code")].is_empty())
        .all(|r| !r[column("email")].is_empty()));
    assert!(!headers.iter().any(|h| h.contains("id_")), "no ID document data: {headers:?}");
    let first = rows.iter().find(|r| &r[column("registration_code")] == "R0000001").unwrap();
    assert_eq!(&first[column("entries")], "2", "two counted entries, one annulled, one denied");

    let media = show.data.with_file_name("media.jsonl");
    ok(
        &show.data,
        &[
            "report",
            "follow-up",
            "--category",
            "媒体",
            "--format",
            "jsonl",
            "--output",
            media.to_str().unwrap(),
        ],
    );
    let lines: Vec<Value> = std::fs::read_to_string(&media)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().all(|l| l["category"] == "media"));
    let media_count = rows.iter().filter(|r| &r[column("category")] == "media").count();
    assert_eq!(lines.len(), media_count);

    let audit: Value =
        serde_json::from_slice(&ok(&show.data, &["audit", "--json", "--limit", "5"])).unwrap();
    let exports =
        audit.as_array().unwrap().iter().filter(|e| e["action"] == "follow_up_export").count();
    assert_eq!(exports, 2, "every export is audited");

    let unknown = run(
        &show.data,
        &["report", "follow-up", "--category", "nobody", "--output", out.to_str().unwrap()],
    );
    assert_eq!(unknown.status.code(), Some(6), "an unknown category is invalid");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody"));
}
