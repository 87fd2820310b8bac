use chrono::{NaiveDate, Utc};
use rusqlite::{params, Connection};

use super::*;
use crate::store::test_support::store_with_event;

fn decision(
    conn: &Connection,
    id: &str,
    gate: &str,
    zone: &str,
    direction: &str,
    reason: &str,
    at: &str,
) {
    let granted = Reason::parse(reason).is_some_and(Reason::grants);
    conn.execute(
        "INSERT INTO gate_decisions (id, attendee_id, badge_serial, gate, lane, zone, direction, \
         granted, reason, at, annulled, station) VALUES (?1, NULL, 1, ?2, 'l1', ?3, ?4, ?5, ?6, ?7, 0, 'st')",
        params![id, gate, zone, direction, granted, reason, at],
    )
    .unwrap();
}

type GateTotal = (String, String, String, String, String, i64, i64);

fn gate_totals(conn: &Connection, sql: &str) -> Vec<GateTotal> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The running totals recomputed from the rows they count: what the triggers must equal.
fn recomputed_gate_totals(conn: &Connection) -> Vec<GateTotal> {
    gate_totals(
        conn,
        "SELECT substr(at, 1, 14) || printf('%02d', CAST(substr(at, 15, 2) AS INTEGER) / 15 * 15) AS q, \
         gate, zone, direction, reason, count(*), sum(granted AND NOT annulled) \
         FROM gate_decisions GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
    )
}

fn stored_gate_totals(conn: &Connection) -> Vec<GateTotal> {
    gate_totals(
        conn,
        "SELECT quarter, gate, zone, direction, reason, decisions, passages FROM stats_gate \
         WHERE decisions > 0 ORDER BY 1, 2, 3, 4, 5",
    )
}

#[test]
fn gate_totals_follow_inserts_annulments_and_remote_upserts() {
    let (_dir, store) = store_with_event();
    let conn = store.conn();
    decision(conn, "d1", "east-1", "hall-1", "in", "granted", "2026-11-24T01:00:00.000Z");
    decision(conn, "d2", "east-1", "hall-1", "in", "granted", "2026-11-24T01:14:59.999Z");
    decision(conn, "d3", "east-1", "hall-1", "in", "granted", "2026-11-24T01:15:00.000Z");
    decision(conn, "d4", "east-1", "hall-1", "in", "revoked", "2026-11-24T01:16:00.000Z");
    decision(conn, "d5", "west-1", "hall-2", "out", "granted", "2026-11-24T01:59:00.000Z");
    // A local annulment, then the same annulment arriving again from sync (no double count),
    // then a remote copy of d3 that is annulled elsewhere.
    conn.execute("UPDATE gate_decisions SET annulled = 1 WHERE id = 'd2'", []).unwrap();
    conn.execute("UPDATE gate_decisions SET annulled = 1 WHERE id = 'd2'", []).unwrap();
    conn.execute(
        "INSERT INTO gate_decisions (id, attendee_id, badge_serial, gate, lane, zone, direction, granted, \
         reason, at, annulled, station) VALUES ('d3', NULL, 1, 'east-1', 'l1', 'hall-1', 'in', 1, 'granted', \
         '2026-11-24T01:15:00.000Z', 1, 'st') \
         ON CONFLICT(id) DO UPDATE SET annulled = max(annulled, excluded.annulled)",
        [],
    )
    .unwrap();
    // Annulling a denial changes nothing: it never counted.
    conn.execute("UPDATE gate_decisions SET annulled = 1 WHERE id = 'd4'", []).unwrap();

    assert_eq!(stored_gate_totals(conn), recomputed_gate_totals(conn));
    let first_quarter: (i64, i64) = conn
        .query_row(
            "SELECT decisions, passages FROM stats_gate WHERE quarter = '2026-11-24T01:00' AND reason = 'granted'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(first_quarter, (2, 1), "d1 counted, d2 annulled");
}

#[test]
fn attendee_and_badge_totals_follow_registrations_edits_and_reprints() {
    use crate::domain::{NewAttendee, Source};
    use crate::registration::{self, badge};
    let (_dir, mut store) = store_with_event();
    let input = |name: &str, country: &str| NewAttendee {
        name: name.into(),
        category: "public_visitor".into(),
        country: country.into(),
        company: "华为".into(),
        phone: "13800138000".into(),
        ..NewAttendee::default()
    };
    let a = registration::register(
        &mut store,
        &crate::operators::Operator::admin("desk-1"),
        &input("张三", "CN"),
        Source::WalkIn,
    )
    .unwrap();
    let b = registration::register(
        &mut store,
        &crate::operators::Operator::admin("kiosk"),
        &input("李四", "DE"),
        Source::SelfService,
    )
    .unwrap();
    let mut moved = input("张三", "FR");
    moved.category = "professional_visitor".into();
    registration::edit(
        &mut store,
        &crate::operators::Operator::admin("desk-1"),
        crate::domain::AttendeeId(a.id),
        &moved,
    )
    .unwrap();
    badge::ensure_badge(
        &mut store,
        &crate::operators::Operator::admin("desk-1"),
        crate::domain::AttendeeId(a.id),
    )
    .unwrap();
    badge::ensure_badge(
        &mut store,
        &crate::operators::Operator::admin("desk-2"),
        crate::domain::AttendeeId(b.id),
    )
    .unwrap();
    badge::reprint(
        &mut store,
        &crate::operators::Operator::admin("desk-2"),
        crate::domain::AttendeeId(b.id),
        "lost",
    )
    .unwrap();

    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let now = Utc::now();
    let day = VenueDay::new(now.with_timezone(&tz).date_naive(), tz).unwrap();
    let figures = day_figures(store.conn(), "expo-2026", &[], &day, now).unwrap();
    let by_key = |counts: &[HourlyCount]| {
        let mut keys: Vec<(String, String, u64)> =
            counts.iter().map(|c| (c.category.clone(), c.source.clone(), c.count)).collect();
        keys.sort();
        keys
    };
    assert_eq!(
        by_key(&figures.registrations),
        vec![
            ("professional_visitor".into(), "walk_in".into(), 1),
            ("public_visitor".into(), "self_service".into(), 1)
        ],
        "the edit moved 张三 from visitor to buyer"
    );
    assert_eq!(figures.totals.registered, 2);
    assert_eq!(figures.totals.badges_issued, 3);
    assert_eq!(figures.totals.reprints, 1);
    let countries: Vec<(String, u64)> =
        figures.top_countries.iter().map(|c| (c.name.clone(), c.count)).collect();
    assert_eq!(countries, vec![("DE".into(), 1), ("FR".into(), 1)], "CN left with the edit");
    assert_eq!(figures.top_companies[0], NamedCount { name: "华为".into(), count: 2 });
    let desk_2 = figures.reprints.iter().find(|r| r.operator == "desk-2").unwrap();
    assert_eq!((desk_2.issued, desk_2.reprints), (2, 1));
    assert!((desk_2.rate() - 0.5).abs() < 1e-9);
}

#[test]
fn a_venue_day_is_local_midnight_to_midnight() {
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let day = VenueDay::new(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), tz).unwrap();
    assert_eq!(day.quarter_range(), ("2026-11-23T16:00".into(), "2026-11-24T16:00".into()));
    assert_eq!(day.local_quarter("2026-11-24T01:15"), Some(9 * 4 + 1), "09:15 in Shanghai");
    assert_eq!(day.local_quarter("not a time"), None);
    // India is UTC+05:30: local quarters still line up with UTC quarters.
    let kolkata = VenueDay::new(day.date, "Asia/Kolkata".parse().unwrap()).unwrap();
    assert_eq!(kolkata.local_quarter("2026-11-24T03:30"), Some(9 * 4));
    assert_eq!(quarter_label(37), "09:15");
}

#[test]
fn occupancy_never_goes_below_zero_and_lists_every_zone() {
    let (_dir, store) = store_with_event();
    let conn = store.conn();
    decision(
        conn,
        "x1",
        "west-1",
        "hall-2",
        "out",
        "exit_without_entry",
        "2026-11-24T02:00:00.000Z",
    );
    decision(
        conn,
        "x2",
        "west-1",
        "hall-2",
        "out",
        "exit_without_entry",
        "2026-11-24T02:01:00.000Z",
    );
    decision(conn, "x3", "west-1", "hall-2", "in", "granted", "2026-11-24T02:02:00.000Z");
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let day = VenueDay::new(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), tz).unwrap();
    let zones = vec!["hall-1".to_string(), "hall-2".to_string()];
    let figures = day_figures(conn, "expo-2026", &zones, &day, Utc::now()).unwrap();
    assert_eq!(
        figures.occupancy,
        vec![
            ZoneOccupancy { zone: "hall-1".into(), entries: 0, exits: 0, inside: 0 },
            ZoneOccupancy { zone: "hall-2".into(), entries: 1, exits: 2, inside: 0 },
        ]
    );
    assert_eq!(
        figures.gate_flow,
        vec![GateFlow { gate: "west-1".into(), quarter: 40, entries: 1, exits: 2 }]
    );
}

#[test]
fn migrating_a_station_with_data_fills_the_totals() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Schema 3 with a decision in it, as a station from before the dashboard.
        let conn =
            crate::store::test_support::database_at_version(&dir.path().join("station.db"), 3);
        decision(&conn, "old", "east-1", "hall-1", "in", "granted", "2026-11-24T01:20:00.000Z");
    }
    let store = crate::store::Store::open(dir.path()).unwrap();
    assert_eq!(stored_gate_totals(store.conn()), recomputed_gate_totals(store.conn()));
    assert_eq!(stored_gate_totals(store.conn()).len(), 1);
}

type BadgeTotal = (String, String, String, String, i64, i64);

fn badge_totals(conn: &Connection, sql: &str) -> Vec<BadgeTotal> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Badges counted by their holder's category and source, under '' when the badge came
/// before its holder (a pull can bring it first): the totals are a recount of the badges.
#[test]
fn badge_totals_count_each_badge_under_its_holder_or_none_when_it_came_first() {
    let (_dir, store) = store_with_event();
    let conn = store.conn();
    let attendee = |conn: &Connection, id: &str, category: &str, source: &str| {
        conn.execute(
            "INSERT INTO attendees (id, name, company, title, category, phone, email, country, \
             source, consent, tags, created_at, updated_at, hlc) \
             VALUES (?1, 'n', 'c', '', ?2, '', '', 'CN', ?3, 1, '[]', ?4, ?4, 'h')",
            params![id, category, source, "2026-11-24T01:20:00.000Z"],
        )
        .unwrap();
    };
    let badge = |conn: &Connection, holder: &str, serial: u32, operator: &str, issued: &str| {
        conn.execute(
            "INSERT INTO badges (attendee_id, serial, status, reason, issued_at, changed_at, \
             operator, hlc) VALUES (?1, ?2, 'superseded', NULL, ?3, ?3, ?4, 'h')",
            params![holder, serial, issued, operator],
        )
        .unwrap();
    };
    attendee(conn, "a", "vip", "walk_in");
    badge(conn, "a", 1, "desk-1", "2026-11-24T01:20:00.000Z");
    badge(conn, "holder-not-pulled-yet", 1, "desk-1", "2026-11-24T01:20:00.000Z");
    attendee(conn, "b", "visitor", "pre_registered");
    badge(conn, "a", 2, "desk-1", "2026-11-24T01:29:59.000Z");
    badge(conn, "b", 1, "desk-1", "2026-11-24T01:31:00.000Z");
    badge(conn, "b", 2, "desk-2", "2026-11-24T01:31:00.000Z");
    badge(conn, "another-not-pulled-yet", 3, "desk-1", "2026-11-24T01:20:00.000Z");

    let stored = badge_totals(
        conn,
        "SELECT quarter, operator, category, source, issued, reprints FROM stats_badges \
         ORDER BY 1, 2, 3, 4",
    );
    let recounted = badge_totals(
        conn,
        "SELECT substr(b.issued_at, 1, 14) || printf('%02d', CAST(substr(b.issued_at, 15, 2) AS INTEGER) / 15 * 15), \
         b.operator, coalesce(a.category, ''), coalesce(a.source, ''), count(*), sum(b.serial > 1) \
         FROM badges b LEFT JOIN attendees a ON a.id = b.attendee_id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    );
    assert_eq!(stored, recounted);
    let quarter = |q: &str| format!("2026-11-24T01:{q}");
    assert_eq!(
        stored,
        vec![
            (quarter("15"), "desk-1".into(), "".into(), "".into(), 2, 1),
            (quarter("15"), "desk-1".into(), "vip".into(), "walk_in".into(), 2, 1),
            (quarter("30"), "desk-1".into(), "visitor".into(), "pre_registered".into(), 1, 0),
            (quarter("30"), "desk-2".into(), "visitor".into(), "pre_registered".into(), 1, 1),
        ]
    );
}

#[test]
fn charts_and_csv_carry_bilingual_labels_and_stable_keys() {
    let (_dir, store) = store_with_event();
    let conn = store.conn();
    decision(conn, "c1", "east-1", "hall-1", "in", "granted", "2026-11-24T01:00:00.000Z");
    decision(conn, "c2", "east-1", "hall-1", "in", "passback", "2026-11-24T01:01:00.000Z");
    let definition = &store.event().unwrap().definition;
    let tz = definition.timezone();
    let day = VenueDay::new(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), tz).unwrap();
    let zones: Vec<String> = definition.zones.iter().map(|z| z.id.clone()).collect();
    let figures = day_figures(conn, "expo-2026", &zones, &day, Utc::now()).unwrap();
    let charts = charts(&figures, definition);
    let inside = charts.iter().find(|c| c.id == ChartId::Inside).unwrap();
    assert_eq!(
        inside.x[0],
        Label { key: "hall-1".into(), zh: "1号馆".into(), en: "Hall 1".into() }
    );
    assert_eq!(inside.series[0].values[0], 1.0);
    let denials = charts.iter().find(|c| c.id == ChartId::Denials).unwrap();
    assert_eq!(denials.x[0].zh, "已在场内");
    let csv = String::from_utf8(denials.to_csv(true).unwrap()).unwrap();
    assert_eq!(csv, "Deny reasons,denied\nAlready inside,1\n");
    let long = String::from_utf8(daily_csv(&figures, &charts).unwrap()).unwrap();
    assert!(long.starts_with("figure,x,series,value\ntotals,,registered,0\n"), "{long}");
    assert!(long.contains("\ngate_flow,09:00,east-1 in,1\n"), "{long}");
    assert!(long.contains("\ndenials,passback,denied,1\n"), "{long}");
    let json: serde_json::Value = serde_json::from_slice(&daily_json(&figures).unwrap()).unwrap();
    assert_eq!(json["totals"]["denied"], 1);
    assert_eq!(json["occupancy"][0]["zone"], "hall-1");
}

#[test]
fn spreadsheet_exports_escape_cells_that_would_run_as_formulas() {
    use crate::domain::{NewAttendee, Source};
    use crate::operators::Operator;
    let (_dir, mut store) = store_with_event();
    let evil = "=HYPERLINK(\"http://evil.example\",\"Click\")";
    let input = NewAttendee {
        name: "张三".into(),
        category: "public_visitor".into(),
        country: "DE".into(),
        company: evil.into(),
        phone: "+49 30 1234567".into(),
        consent: true,
        chinese_name: "史密斯".into(),
        ..NewAttendee::default()
    };
    crate::registration::register(
        &mut store,
        &crate::operators::Operator::admin("desk-1"),
        &input,
        Source::WalkIn,
    )
    .unwrap();
    let definition = store.event().unwrap().definition.clone();
    let tz = definition.timezone();
    let now = Utc::now();
    let day = VenueDay::new(now.with_timezone(&tz).date_naive(), tz).unwrap();
    let figures = day_figures(store.conn(), "expo-2026", &[], &day, now).unwrap();
    let charts = charts(&figures, &definition);
    // The company, quoted for its commas and quotes, behind an apostrophe.
    let escaped = "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"Click\"\")\"";
    let long = String::from_utf8(daily_csv(&figures, &charts).unwrap()).unwrap();
    assert!(long.contains(&format!("\ntop_companies,{escaped},")), "{long}");
    let companies = charts.iter().find(|c| c.id == ChartId::TopCompanies).unwrap();
    let table = String::from_utf8(companies.to_csv(true).unwrap()).unwrap();
    assert!(table.contains(&format!("\n{escaped},1\n")), "{table}");

    let mut out = Vec::new();
    let operator = Operator::station_admin(store.station_id());
    follow_up::export(&mut store, &operator, &[], follow_up::Format::Csv, &mut out).unwrap();
    let mut reader = csv::Reader::from_reader(&out["\u{feff}".len()..]);
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| row[headers.iter().position(|h| h == name).unwrap()].to_owned();
    assert_eq!(cell("company"), format!("'{evil}"));
    assert_eq!(cell("phone"), "'+49301234567", "international numbers keep their + as text");
    assert_eq!((cell("consent"), cell("entries")), ("true".into(), "0".into()));
    assert_eq!(cell("chinese_name"), "史密斯", "a Chinese name beside the name is exported");
}

/// A reader may hand in a denying reason's decisions summed over the day (the hub does,
/// to read a day's few reasons instead of gates × quarters × reasons rows): the figures
/// are the same.
#[test]
fn denials_summed_per_reason_give_the_same_figures() {
    let total = |quarter: &str, gate: &str, zone: &str, direction: &str, reason: &str, n: u64| {
        let passes = Reason::parse(reason).is_some_and(Reason::grants);
        super::GateTotal {
            quarter: quarter.into(),
            gate: gate.into(),
            zone: zone.into(),
            direction: direction.into(),
            reason: reason.into(),
            decisions: n,
            passages: if passes { n } else { 0 },
        }
    };
    let granting = [
        total("2026-11-24T01:00", "east-1", "hall-1", "in", "granted", 5),
        total("2026-11-24T01:15", "east-1", "hall-1", "out", "exit_without_entry", 2),
        total("2026-11-24T02:00", "west-1", "forum", "in", "passback_flagged", 1),
    ];
    let denying = [
        total("2026-11-24T01:00", "east-1", "hall-1", "in", "revoked", 3),
        total("2026-11-24T02:00", "west-1", "forum", "out", "revoked", 4),
        total("2026-11-24T02:15", "west-1", "forum", "in", "passback", 2),
        total("2026-11-24T02:15", "west-1", "forum", "in", "made-up", 1),
    ];
    let summed = [
        total("", "", "", "", "revoked", 7),
        total("", "", "", "", "passback", 2),
        total("", "", "", "", "made-up", 1),
    ];
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let day = VenueDay::new(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), tz).unwrap();
    let zones = vec!["hall-1".to_string()];
    let now = Utc::now();
    let figures = |denials: &[super::GateTotal]| {
        let gate = granting.iter().chain(denials).cloned().collect();
        let totals = DayTotals { gate, ..DayTotals::default() };
        serde_json::to_value(figures_of("expo-2026", &zones, &day, now, totals)).unwrap()
    };
    let per_gate = figures(&denying);
    assert_eq!(per_gate, figures(&summed));
    assert_eq!(per_gate["totals"]["denied"], 10);
    assert_eq!(per_gate["denials"][0]["name"], "revoked");
    assert_eq!(per_gate["totals"]["entries"], 6);
}
