//! The operations console's speed at venue size (issue 18: every page in ≤ 100 ms on a
//! PostgreSQL hub with 300 stations and 10,000,000 gate decisions), over real HTTP.
//!
//! ```text
//! EXPO_TEST_PG_URL=postgres://postgres@127.0.0.1:55433/expo_hub_test \
//!     cargo bench -p expo-hub --bench console
//! EXPO_BENCH_ATTENDEES=200000 EXPO_BENCH_DECISIONS=1000000 EXPO_BENCH_REQUESTS=20 ...
//! ```
//!
//! The hub's database is `expo_console_bench` (`EXPO_BENCH_DB`) on the server of `EXPO_TEST_PG_URL`, kept
//! between runs: it is filled once per [`FILL_VERSION`] and size, so a run after the first
//! only measures. The fill:
//! - 300 stations (80 desks, 20 kiosks, 190 gates, 10 admin) enrolled, each with a
//!   heartbeat (sent again at every run, so the fleet is live);
//! - the demo event, its first day being the show day (the venue's yesterday at the fill);
//! - attendees of the demo generator (`EXPO_BENCH_ATTENDEES`, default 1,000,000), each
//!   with a badge, pushed by the desks through the hub's own push (rules, triggers);
//! - 200 duplicate pairs for the data accuracy page;
//! - gate decisions (`EXPO_BENCH_DECISIONS`, default 10,000,000) spread over the show
//!   day's quarter hours from 08:00 to 20:00 and the 190 gates, written set-based in SQL
//!   from the JSON of a real stored decision. The first [`SAMPLE`] go through the
//!   Venue-now trigger; the rest with triggers off, their totals summed set-based the
//!   way the trigger does, and the bench checks that this sum of the sample equals what
//!   the trigger made of it.
//!
//! Then an organiser signs in over HTTP and every page and action is timed: the first
//! request, then p50 and p99 over `EXPO_BENCH_REQUESTS` (default 50; actions 10).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

#[path = "../tests/common/browser.rs"]
mod browser;

use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::{first_event, Browser};
use chrono::{NaiveDate, TimeZone};
use expo_hub::console::auth::{self, ConsoleRole};
use expo_hub::console::ConsoleConfig;
use expo_hub::enrolment::{add_station, enrol};
use expo_hub::postgres::PostgresStore;
use expo_hub::registrations::DataCentreEvent;
use expo_hub::server::{serve, HubConfig};
use expo_hub::store::PreparedBatch;
use expo_hub::HubStore;
use expo_kiosk::demo::{demo_event_toml, Generator};
use expo_kiosk::domain::{EventDefinition, Source};
use expo_kiosk::privacy::DataKey;
use expo_sync::heartbeat::{
    DeviceKind, DeviceReport, Figures, Heartbeat, LaneReport, PrinterReport, PrinterState,
    StationFigures, StationMode,
};
use expo_sync::hlc::{wall_clock_ms, HlcClock};
use expo_sync::protocol::{BadgeRecord, Change, GateDecisionRecord, Record};
use expo_sync::StationRole;
use uuid::Uuid;

/// Bump when the fill changes: the next run fills a fresh database.
const FILL_VERSION: i64 = 1;
/// Gate decisions stored through the Venue-now trigger, to check the set-based totals by.
const SAMPLE: i64 = 20_000;
const DESKS: usize = 80;
const KIOSKS: usize = 20;
const GATES: usize = 190;
const ADMINS: usize = 10;
const DUPLICATES: usize = 200;
const ORGANISER: &str = "bench-organiser";
const PASSWORD: &str = "a long enough bench password";

fn main() {
    let server = std::env::var("EXPO_TEST_PG_URL")
        .expect("EXPO_TEST_PG_URL: a PostgreSQL server the bench may create a database on");
    let attendees = env_count("EXPO_BENCH_ATTENDEES", 1_000_000);
    let decisions = env_count("EXPO_BENCH_DECISIONS", 10_000_000);
    let requests = env_count("EXPO_BENCH_REQUESTS", 50);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    println!("load before: {}", uptime());
    let url = runtime.block_on(bench_database(&server, attendees, decisions));
    let store = Arc::new(runtime.block_on(PostgresStore::connect(&url, 16)).unwrap());
    let filled = runtime.block_on(fill_mark(&url));
    let show_day = match filled {
        Some(day) => {
            println!("the database already holds this fill (show day {day}); measuring only");
            day
        }
        None => {
            let started = Instant::now();
            let day = runtime.block_on(fill(&store, &url, attendees, decisions));
            println!("filled in {:.0} s", started.elapsed().as_secs_f64());
            day
        }
    };
    runtime.block_on(heartbeats(&store));

    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(serve(
        listener,
        Arc::clone(&store),
        HubConfig::default(),
        std::future::pending(),
    ));
    let mut browser = Browser::new(&base);
    let csrf = browser.csrf("/console/sign-in");
    let started = Instant::now();
    let form = [("name", ORGANISER), ("password", PASSWORD), ("csrf", &csrf)];
    assert_eq!(browser.post("/console/sign-in", &form).status, 303, "the organiser signs in");
    println!("sign-in (argon2id on purpose): {:.1} ms", ms(started.elapsed()));
    measure_pages(&mut browser, &runtime, &url, show_day, requests);
    measure_venue_computed(&runtime, &store, show_day, requests);
    measure_actions(&mut browser, &runtime, &url, requests.min(10));
    println!("load after: {}", uptime());
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "unknown".into(), |l| l.trim().into())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The URL of the bench's database, made afresh unless it holds a fill of this version
/// and size.
async fn bench_database(server: &str, attendees: usize, decisions: usize) -> String {
    // Letters, digits and underscores only: it is written into SQL.
    let database: String = std::env::var("EXPO_BENCH_DB")
        .unwrap_or_else(|_| "expo_console_bench".into())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let host = base.rsplit_once('/').map_or(base, |(host, _)| host);
    let url = match query {
        Some(query) => format!("{host}/{database}?{query}"),
        None => format!("{host}/{database}"),
    };
    let admin = connect(server).await;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await
        .unwrap()
        .is_some();
    let wanted = (FILL_VERSION, attendees as i64, decisions as i64);
    if exists {
        let bench = connect(&url).await;
        let held = bench
            .query_opt("SELECT version, attendees, decisions FROM console_bench_fill", &[])
            .await
            .ok()
            .flatten()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1), r.get::<_, i64>(2)));
        drop(bench);
        if held == Some(wanted) {
            return url;
        }
        println!("database {database} holds another fill ({held:?}): made afresh");
        admin.batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)")).await.unwrap();
    }
    admin.batch_execute(&format!("CREATE DATABASE {database}")).await.unwrap();
    let bench = connect(&url).await;
    bench
        .batch_execute(
            "CREATE TABLE console_bench_fill (version BIGINT NOT NULL, attendees BIGINT NOT NULL,
                 decisions BIGINT NOT NULL, show_day TEXT, done BOOLEAN NOT NULL DEFAULT FALSE)",
        )
        .await
        .unwrap();
    bench
        .execute(
            "INSERT INTO console_bench_fill (version, attendees, decisions) VALUES ($1, $2, $3)",
            &[&wanted.0, &wanted.1, &wanted.2],
        )
        .await
        .unwrap();
    url
}

/// The show day of a finished fill.
async fn fill_mark(url: &str) -> Option<NaiveDate> {
    let bench = connect(url).await;
    let row = bench.query_one("SELECT show_day, done FROM console_bench_fill", &[]).await.unwrap();
    let day: Option<String> = row.get(0);
    let done: bool = row.get(1);
    day.filter(|_| done).map(|d| d.parse().unwrap())
}

/// A station as the fill makes it: its name, role and the id it stamps on changes.
struct BenchStation {
    name: String,
    id: String,
}

fn stations() -> Vec<(BenchStation, StationRole)> {
    let mut all = Vec::new();
    for (prefix, role, count) in [
        ("desk", StationRole::Desk, DESKS),
        ("kiosk", StationRole::Kiosk, KIOSKS),
        ("gate", StationRole::Gate, GATES),
        ("admin", StationRole::Admin, ADMINS),
    ] {
        for n in 1..=count {
            let name = format!("{prefix}-{n:03}");
            let id = format!("st-bench-{name}");
            all.push((BenchStation { name, id }, role));
        }
    }
    all
}

/// Fills the database; a fill stopped during the gate decisions (each million is stored
/// with its totals in one go) goes on from where it stopped.
async fn fill(store: &PostgresStore, url: &str, attendees: usize, decisions: usize) -> NaiveDate {
    let all = stations();
    let held: i64 = connect(url)
        .await
        .query_one("SELECT count(*) FROM current_state WHERE kind = 'gate_decision'", &[])
        .await
        .unwrap()
        .get(0);
    let today = expo_kiosk::registration::today_at_venue(
        &EventDefinition::from_toml(&demo_event_toml(chrono::Utc::now().date_naive())).unwrap(),
    );
    // Yesterday at the venue: every time of the day is in the past, as the hub's rules
    // (no changes from the future) want.
    let show_day = today - chrono::Days::new(1);
    let toml = demo_event_toml(show_day);
    let definition = EventDefinition::from_toml(&toml).unwrap();
    // The show day's opening hours, 08:00 to 20:00 in the venue's zone.
    let opens = definition
        .timezone()
        .from_local_datetime(&show_day.and_hms_opt(8, 0, 0).unwrap())
        .single()
        .unwrap()
        .timestamp_millis();
    let hours = (opens, opens + 12 * 3600 * 1000);
    if held == 0 {
        for (station, role) in &all {
            let code = add_station(store, &station.name, *role).await.unwrap();
            enrol(store, &code, Some(&station.id)).await.unwrap();
        }
        println!("{} stations enrolled", all.len());
        let secret = DataKey::generate();
        let data_key = DataKey::from_bytes(&*secret).unwrap();
        store
            .put_data_centre_event(DataCentreEvent {
                event_id: definition.event.id.clone(),
                definition: toml.clone(),
                data_key: hex::encode(*secret),
            })
            .await
            .unwrap();
        let pushers: Vec<(&BenchStation, StationRole)> =
            all.iter().filter(|(_, r)| *r != StationRole::Gate).map(|(s, r)| (s, *r)).collect();
        let started = Instant::now();
        fill_attendees(store, &definition, &data_key, show_day, hours, &pushers, attendees).await;
        println!(
            "{attendees} attendees with a badge each pushed in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    } else {
        println!("going on from {held} gate decisions stored");
    }
    let gates: Vec<&BenchStation> =
        all.iter().filter(|(_, r)| *r == StationRole::Gate).map(|(s, _)| s).collect();
    let started = Instant::now();
    fill_decisions(url, hours, &gates, held, decisions as i64).await;
    println!("{decisions} gate decisions stored in {:.0} s", started.elapsed().as_secs_f64());
    let bench = connect(url).await;
    bench.batch_execute("VACUUM ANALYZE").await.unwrap();
    auth::add_user(store, ORGANISER, ConsoleRole::Organiser, PASSWORD).await.unwrap();
    bench
        .execute(
            "UPDATE console_bench_fill SET show_day = $1, done = TRUE",
            &[&show_day.to_string()],
        )
        .await
        .unwrap();
    show_day
}

/// Attendees per push.
const BATCH: usize = 2_000;

/// `attendees` of the demo generator with a badge each, registered over the show day's
/// hours: pre-registrations imported at the admin stations, walk-ins at the desks,
/// self-service at the kiosks, each batch pushed as its station would.
async fn fill_attendees(
    store: &PostgresStore,
    definition: &EventDefinition,
    data_key: &DataKey,
    show_day: NaiveDate,
    (opens, closes): (i64, i64),
    pushers: &[(&BenchStation, StationRole)],
    attendees: usize,
) {
    let mut generator = Generator::new(7);
    let mut clocks: Vec<HlcClock> = pushers.iter().map(|(s, _)| HlcClock::new(&s.id)).collect();
    let mut duplicates = 0;
    for (batch, first) in (0..attendees).step_by(BATCH).enumerate() {
        let (station, role) = pushers[batch % pushers.len()];
        let source = match role {
            StationRole::Admin => Source::PreRegistered,
            StationRole::Kiosk => Source::SelfService,
            _ => Source::WalkIn,
        };
        let clock = &mut clocks[batch % pushers.len()];
        let mut changes = Vec::with_capacity(2 * BATCH + 1);
        let mut change = |record: Record| Change {
            id: Uuid::now_v7(),
            station: station.id.clone(),
            hlc: clock.tick(wall_clock_ms()),
            record,
            pushed_by: None,
        };
        for i in first..(first + BATCH).min(attendees) {
            let attendee = generator.next_attendee().validate(definition, source, show_day);
            let mut record =
                expo_kiosk::registration::to_record(&attendee.unwrap(), Some(data_key)).unwrap();
            let at = opens + (closes - opens) * i as i64 / attendees as i64;
            let at = expo_kiosk::store::format_time(chrono::Utc.timestamp_millis_opt(at).unwrap());
            record.created_at.clone_from(&at);
            record.updated_at.clone_from(&at);
            if record.registration_code.is_none() {
                record.registration_code = Some(format!("B{i:07}"));
            }
            let badge = BadgeRecord {
                attendee_id: record.id,
                serial: 1,
                status: "active".into(),
                reason: None,
                issued_at: at.clone(),
                changed_at: at,
                operator: format!("{}-op", station.name),
            };
            // The same person registered twice (same ID number): a duplicate for the
            // data accuracy page.
            if duplicates < DUPLICATES && record.id_hash.is_some() && i % 97 == 0 {
                duplicates += 1;
                let twin = expo_sync::protocol::AttendeeRecord {
                    id: Uuid::now_v7(),
                    registration_code: Some(format!("D{i:07}")),
                    ..record.clone()
                };
                changes.push(change(Record::Attendee(twin)));
            }
            changes.push(change(Record::Attendee(record)));
            changes.push(change(Record::Badge(badge)));
        }
        let prepared = PreparedBatch::new(role, &station.id, &changes, wall_clock_ms()).unwrap();
        let answer = store.push(&station.name, prepared).await.unwrap();
        assert!(answer.refused.is_empty(), "{:?}", answer.refused.first());
        if (first / BATCH) % 50 == 49 {
            println!("  {} attendees", first + BATCH);
        }
    }
}

/// `decisions` gate decisions at the gates over the show day's hours, written set-based:
/// each row is the JSON of a real decision, stored as the hub stores it, with its ids,
/// gate, zone, direction, outcome, time and clock put in by SQL.
async fn fill_decisions(
    url: &str,
    (opens, closes): (i64, i64),
    gates: &[&BenchStation],
    held: i64,
    decisions: i64,
) {
    let gate = gates[0];
    let template_change = Change {
        id: Uuid::from_u128(0x1111_1111_1111_1111_1111_1111_1111_1111),
        station: gate.id.clone(),
        hlc: HlcClock::new(&gate.id).tick(wall_clock_ms()),
        record: Record::GateDecision(GateDecisionRecord {
            id: Uuid::from_u128(0x2222_2222_2222_2222_2222_2222_2222_2222),
            attendee_id: None,
            badge_serial: None,
            gate: "GATE".into(),
            lane: "GATE/1".into(),
            zone: "ZONE".into(),
            direction: "in".into(),
            granted: true,
            reason: "granted".into(),
            at: "AT".into(),
            annulled: false,
        }),
        pushed_by: None,
    };
    let precedence = expo_sync::conflict::precedence(&template_change.record);
    let hlc = template_change.hlc.to_string();
    let prepared =
        PreparedBatch::new(StationRole::Gate, &gate.id, &[template_change], wall_clock_ms())
            .unwrap();
    assert!(prepared.refused.is_empty(), "{:?}", prepared.refused);
    let template =
        prepared.changes[0].change_json.replace(&hlc, "HLC").replace(&gate.id, "STATION");
    for fragment in [
        "\"11111111-1111-1111-1111-111111111111\"",
        "\"22222222-2222-2222-2222-222222222222\"",
        "\"GATE\"",
        "\"GATE/1\"",
        "\"ZONE\"",
        "\"direction\":\"in\"",
        "\"granted\":true",
        "\"reason\":\"granted\"",
        "\"AT\"",
        "\"HLC\"",
        "\"STATION\"",
    ] {
        assert_eq!(template.matches(fragment).count(), 1, "{fragment} in {template}");
    }
    let gate_names: Vec<String> = gates.iter().map(|g| g.name.clone()).collect();
    let gate_ids: Vec<String> = gates.iter().map(|g| g.id.clone()).collect();
    // Row i: gate i mod 190 (its zone the gate's mod 4), in and out alternating in runs,
    // one in 12 denied for one of six reasons, at a time spread
    // evenly over the opening hours.
    let insert = "
        WITH rows AS (
            SELECT i, md5('c' || i)::uuid AS change_id, md5('g' || i)::uuid AS record_id,
                   ($3::text[])[1 + i % cardinality($3::text[])] AS gate,
                   ($4::text[])[1 + i % cardinality($4::text[])] AS station,
                   (ARRAY['hall-1', 'hall-2', 'forum-a', 'vip-lounge'])[1 + (i % cardinality($3::text[])) % 4] AS zone,
                   CASE WHEN (i / 7) % 2 = 0 THEN 'in' ELSE 'out' END AS direction,
                   CASE WHEN i % 12 = 5 THEN (ARRAY['passback', 'zone_not_allowed', 'revoked',
                       'outside_hours', 'unknown_key', 'expired'])[1 + (i / 12) % 6]
                       ELSE 'granted' END AS reason,
                   $5::bigint + ($6::bigint - $5::bigint) * i / $7::bigint AS at_ms
            FROM generate_series($1::bigint, $2::bigint) i
        ), made AS (
            SELECT *, to_char(to_timestamp(at_ms / 1000.0) AT TIME ZONE 'UTC',
                              'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at,
                   lpad(at_ms::text, 15, '0') || '-' || lpad((i % 1000)::text, 10, '0') || '-'
                       || station AS hlc
            FROM rows
        ), stored AS (
            INSERT INTO changes (change_id, pushed_by, origin, hlc, kind, entity_key, change_json)
            SELECT change_id, gate, station, hlc, 'gate_decision', 'gate_decision:' || record_id,
                   replace(replace(replace(replace(replace(replace(replace(replace(replace(
                   replace(replace($8::text,
                       '\"11111111-1111-1111-1111-111111111111\"', '\"' || change_id || '\"'),
                       '\"22222222-2222-2222-2222-222222222222\"', '\"' || record_id || '\"'),
                       '\"GATE/1\"', '\"' || gate || '/' || (1 + i % 2) || '\"'),
                       '\"GATE\"', '\"' || gate || '\"'),
                       '\"ZONE\"', '\"' || zone || '\"'),
                       '\"direction\":\"in\"', '\"direction\":\"' || direction || '\"'),
                       '\"granted\":true', '\"granted\":' || (reason = 'granted')),
                       '\"reason\":\"granted\"', '\"reason\":\"' || reason || '\"'),
                       '\"AT\"', '\"' || at || '\"'),
                       '\"HLC\"', '\"' || hlc || '\"'),
                       '\"STATION\"', '\"' || station || '\"')
            FROM made ORDER BY i
            RETURNING seq, change_id, origin, hlc, entity_key, change_json
        )
        INSERT INTO current_state (entity_key, kind, precedence, hlc, change_id, seq, origin, id_hash)
        SELECT entity_key, 'gate_decision', $9::int, hlc, change_id, seq, origin, NULL FROM stored";
    let through_trigger = connect(url).await;
    let bulk = connect(url).await;
    // Triggers (the Venue-now totals) off for the bulk: its totals are summed below.
    bulk.batch_execute("SET session_replication_role = replica").await.unwrap();
    let run = async |client: &tokio_postgres::Client, from: i64, to: i64| {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
            &from,
            &to,
            &gate_names,
            &gate_ids,
            &opens,
            &closes,
            &decisions,
            &template,
            &precedence,
        ];
        client.execute(insert, &params).await
    };
    // The sample through the trigger first, to check the set-based totals by.
    if held == 0 {
        run(&through_trigger, 0, SAMPLE.min(decisions) - 1).await.unwrap();
        let by_trigger = gate_totals(
            &through_trigger,
            "SELECT * FROM venue_gate
             UNION ALL SELECT quarter, '', '', '', reason, decisions, passages FROM venue_denials",
        )
        .await;
        let summed = gate_totals(
            &through_trigger,
            &format!(
                "WITH totals (quarter, gate, zone, direction, reason, decisions, passages)
                     AS ({totals})
                 SELECT * FROM totals WHERE venue_grants(reason)
                 UNION ALL SELECT quarter, '', '', '', reason, sum(decisions)::bigint,
                     sum(passages)::bigint
                 FROM totals WHERE NOT venue_grants(reason) GROUP BY quarter, reason",
                totals = set_based_totals("true")
            ),
        )
        .await;
        assert_eq!(by_trigger, summed, "set-based totals differ from the trigger's");
        println!(
            "  {} decisions through the trigger: their {} totals agree with the set-based sum",
            SAMPLE.min(decisions),
            by_trigger.len()
        );
    }
    const CHUNK: i64 = 1_000_000;
    let mut from = held.max(SAMPLE);
    while from < decisions {
        let to = (from + CHUNK).min(decisions) - 1;
        let started_seq: i64 =
            bulk.query_one("SELECT COALESCE(max(seq), 0) FROM changes", &[]).await.unwrap().get(0);
        run(&bulk, from, to).await.unwrap();
        let totals = set_based_totals(&format!("c.seq > {started_seq}"));
        bulk.execute(
            &format!(
                "WITH totals (quarter, gate, zone, direction, reason, decisions, passages)
                     AS ({totals}),
                 granting AS (
                     INSERT INTO venue_gate AS t SELECT * FROM totals WHERE venue_grants(reason)
                     ON CONFLICT (quarter, gate, zone, direction, reason)
                     DO UPDATE SET decisions = t.decisions + EXCLUDED.decisions,
                                   passages = t.passages + EXCLUDED.passages)
                 INSERT INTO venue_denials AS t
                     SELECT quarter, reason, sum(decisions), sum(passages) FROM totals
                     WHERE NOT venue_grants(reason) GROUP BY quarter, reason
                 ON CONFLICT (quarter, reason)
                 DO UPDATE SET decisions = t.decisions + EXCLUDED.decisions,
                               passages = t.passages + EXCLUDED.passages"
            ),
            &[],
        )
        .await
        .unwrap();
        println!("  {} decisions", to + 1);
        from = to + 1;
    }
    bulk.execute(
        "UPDATE stations s SET changes_stored = changes_stored + n FROM
             (SELECT pushed_by, count(*) AS n FROM changes WHERE kind = 'gate_decision'
              GROUP BY pushed_by) c WHERE c.pushed_by = s.name",
        &[],
    )
    .await
    .unwrap();
}

/// The Venue-now gate totals of the gate decisions `filter` selects (on `changes c`),
/// by gate for every reason (the trigger's `venue_count` keeps the denying reasons' in
/// `venue_denials`, by quarter and reason only).
fn set_based_totals(filter: &str) -> String {
    format!(
        "SELECT venue_quarter(d ->> 'at'), d ->> 'gate', d ->> 'zone', d ->> 'direction',
                d ->> 'reason', count(*),
                count(*) FILTER (WHERE (d ->> 'granted')::boolean
                                   AND NOT (d ->> 'annulled')::boolean)
         FROM (SELECT c.change_json::jsonb -> 'record' -> 'data' AS d
               FROM current_state s JOIN changes c ON c.change_id = s.change_id
               WHERE s.kind = 'gate_decision' AND {filter}) x
         GROUP BY 1, 2, 3, 4, 5"
    )
}

async fn gate_totals(client: &tokio_postgres::Client, query: &str) -> Vec<String> {
    let mut rows: Vec<String> = client
        .query(query, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let text: Vec<String> = (0..5).map(|i| r.get::<_, String>(i)).collect();
            format!("{} {} {}", text.join(" "), r.get::<_, i64>(5), r.get::<_, i64>(6))
        })
        .collect();
    rows.sort();
    rows
}

/// A gate with a busy lane and a printer-less desk: every station reports now, as the
/// fleet page expects of a live venue.
struct Reporting {
    mode: StationMode,
    lanes: Vec<LaneReport>,
}

impl StationFigures for Reporting {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").into()
    }
    fn mode(&self) -> StationMode {
        self.mode
    }
    fn figures(&self) -> Figures {
        Figures {
            printer: Some(PrinterReport { state: PrinterState::Ready, waiting: 1, failed: 0 }),
            devices: vec![DeviceReport {
                kind: DeviceKind::Scanner,
                name: "/dev/ttyACM0".into(),
                connected: true,
            }],
            lanes: self.lanes.clone(),
        }
    }
}

async fn heartbeats(store: &PostgresStore) {
    for (n, (station, role)) in stations().into_iter().enumerate() {
        let gate = role == StationRole::Gate;
        let figures = Reporting {
            mode: if gate { StationMode::HeadlessGate } else { StationMode::App },
            lanes: if gate {
                (1..=2)
                    .map(|lane| LaneReport {
                        lane: format!("{}/{lane}", station.name),
                        scans_per_minute: 20 + (n % 10) as u32,
                        denied_per_minute: if n % 50 == 0 { 15 } else { 1 },
                    })
                    .collect()
            } else {
                Vec::new()
            },
        };
        let now = wall_clock_ms();
        let beat = Heartbeat::new(&figures, now, (n % 7) as u64, None);
        expo_hub::heartbeat::receive(store, &station.name, beat, now).await.unwrap();
    }
}

/// How long until the first event of the stream at `path` arrived whole.
fn first_event_after(browser: &Browser, path: &str) -> Duration {
    let started = Instant::now();
    let response = browser.open(path);
    assert_eq!(response.status().as_u16(), 200, "{path}");
    first_event(response);
    started.elapsed()
}

/// Prints the first, p50 and p99 of `samples` (the first included), and whether p99 is
/// within 100 ms.
fn report(what: &str, mut samples: Vec<Duration>) {
    let Some(&first) = samples.first() else {
        println!("{what:<48} nothing to time");
        return;
    };
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    let p99 = at(0.99);
    println!(
        "{what:<48} first {:>7.1} ms  p50 {:>7.1} ms  p99 {:>7.1} ms  (n={}){}",
        ms(first),
        ms(at(0.5)),
        ms(p99),
        samples.len(),
        if p99 > Duration::from_millis(100) { "  OVER 100 ms" } else { "" }
    );
}

fn time_get(browser: &mut Browser, path: &str, requests: usize) -> Vec<Duration> {
    (0..requests.max(1))
        .map(|_| {
            let started = Instant::now();
            let status = browser.get(path).status;
            let took = started.elapsed();
            assert_eq!(status, 200, "{path}");
            took
        })
        .collect()
}

/// Texts to look attendees up by: part of a common name, a name part that few have, a
/// registration code, a phone number, and a text nobody's name holds.
async fn look_ups(url: &str) -> Vec<(&'static str, String)> {
    let bench = connect(url).await;
    let one = |query: &'static str| {
        let bench = &bench;
        async move { bench.query_one(query, &[]).await.unwrap().get::<_, String>(0) }
    };
    let common = one(
        "SELECT left(name_folded, 2) FROM attendee_search GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
    )
    .await;
    let rare = one("SELECT name_folded FROM attendee_search ORDER BY entity_key LIMIT 1").await;
    let code =
        one("SELECT registration_code FROM attendee_search WHERE registration_code IS NOT NULL
         ORDER BY entity_key DESC LIMIT 1")
        .await;
    let phone = one("SELECT phone_digits FROM attendee_search WHERE length(phone_digits) >= 7
         ORDER BY entity_key LIMIT 1 OFFSET 1000")
    .await;
    vec![
        ("name, common part", common),
        ("name, whole", rare),
        ("registration code", code),
        ("phone", phone),
        ("nobody", "nobody-at-all".into()),
    ]
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn measure_pages(
    browser: &mut Browser,
    runtime: &tokio::runtime::Runtime,
    url: &str,
    show_day: NaiveDate,
    requests: usize,
) {
    let day = format!("date={show_day}");
    let mut pages = vec![
        ("fleet".to_owned(), "/console/fleet".to_owned()),
        ("a station's history".to_owned(), "/console/fleet/gate-001".to_owned()),
        ("stations".to_owned(), "/console/stations".to_owned()),
        ("API keys".to_owned(), "/console/keys".to_owned()),
        ("audit log".to_owned(), "/console/audit".to_owned()),
        ("data accuracy".to_owned(), "/console/accuracy".to_owned()),
        ("venue now (show day)".to_owned(), format!("/console/venue?{day}")),
        ("venue now (today)".to_owned(), "/console/venue".to_owned()),
    ];
    for chart in expo_hub::venue_now::CHARTS {
        for format in ["table", "csv", "svg"] {
            let key = chart.key();
            pages.push((
                format!("venue {key} {format}"),
                format!("/console/venue/{key}/{format}?{day}"),
            ));
        }
    }
    for (what, text) in runtime.block_on(look_ups(url)) {
        pages.push((format!("look-up: {what}"), format!("/console/attendees?q={}", encode(&text))));
    }
    for (what, path) in pages {
        report(&what, time_get(browser, &path, requests));
    }
    for (what, path) in [
        ("fleet events: first", "/console/fleet/events".to_owned()),
        ("venue events: first", format!("/console/venue/events?{day}")),
    ] {
        let samples =
            (0..requests.clamp(1, 20)).map(|_| first_event_after(browser, &path)).collect();
        report(what, samples);
    }
}

/// Times "Venue now" on a hub that computes a day's figures at every request
/// (`venue_fresh` zero) instead of sharing them for a second: what one computation costs.
fn measure_venue_computed(
    runtime: &tokio::runtime::Runtime,
    store: &Arc<PostgresStore>,
    show_day: NaiveDate,
    requests: usize,
) {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let console = ConsoleConfig { venue_fresh: Duration::ZERO, ..ConsoleConfig::default() };
    let config = HubConfig { console, ..HubConfig::default() };
    runtime.spawn(serve(listener, Arc::clone(store), config, std::future::pending()));
    let mut browser = Browser::new(&base);
    let csrf = browser.csrf("/console/sign-in");
    let form = [("name", ORGANISER), ("password", PASSWORD), ("csrf", &csrf)];
    assert_eq!(browser.post("/console/sign-in", &form).status, 303, "the organiser signs in");
    for (what, path) in [
        ("venue now (show day), computed each time", format!("/console/venue?date={show_day}")),
        (
            "venue inside csv, computed each time",
            format!("/console/venue/inside/csv?date={show_day}"),
        ),
    ] {
        report(what, time_get(&mut browser, &path, requests));
    }
}

/// Times each action `times` times: add and revoke a station, add and revoke an API key,
/// revoke a badge, dismiss and merge a duplicate.
fn measure_actions(
    browser: &mut Browser,
    runtime: &tokio::runtime::Runtime,
    url: &str,
    times: usize,
) {
    let run = Uuid::now_v7().simple().to_string();
    let timed = |browser: &mut Browser, page: &str, path: &str, form: Vec<(&str, String)>| {
        let csrf = browser.csrf(page);
        let mut fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fields.push(("csrf", &csrf));
        let started = Instant::now();
        let answer = browser.post(path, &fields);
        let took = started.elapsed();
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        took
    };
    let names: Vec<String> = (0..times).map(|n| format!("tmp-{}-{n}", &run[20..])).collect();
    let mut add = Vec::new();
    let mut revoke = Vec::new();
    for name in &names {
        let form = vec![("name", name.clone()), ("role", "desk".into())];
        add.push(timed(browser, "/console/stations", "/console/stations", form));
        let form = vec![("name", name.clone())];
        revoke.push(timed(browser, "/console/stations", "/console/stations/revoke", form));
    }
    report("action: add a station", add);
    report("action: revoke a station", revoke);
    let (mut add, mut revoke) = (Vec::new(), Vec::new());
    for name in &names {
        let form = vec![("name", name.clone()), ("scope", "registrations:write".into())];
        add.push(timed(browser, "/console/keys", "/console/keys", form));
        revoke.push(timed(
            browser,
            "/console/keys",
            "/console/keys/revoke",
            vec![("name", name.clone())],
        ));
    }
    report("action: add an API key", add);
    report("action: revoke an API key", revoke);
    let (holders, conflicts) = runtime.block_on(async {
        let bench = connect(url).await;
        let holders: Vec<(String, String)> = bench
            .query(
                // Somewhere new each run, so that the badges are still valid.
                "SELECT entity_key, registration_code FROM attendee_search
                 WHERE registration_code IS NOT NULL ORDER BY entity_key
                 OFFSET (SELECT (random() * count(*) * 0.9)::bigint FROM attendee_search)
                 LIMIT $1",
                &[&(times as i64)],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect();
        let conflicts: Vec<(i64, String)> = bench
            .query(
                "SELECT id, attendee_a::text FROM conflicts WHERE status = 'open' ORDER BY id
                 LIMIT $1",
                &[&(2 * times as i64)],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        (holders, conflicts)
    });
    let mut revoked = Vec::new();
    for (key, code) in &holders {
        let attendee = key.trim_start_matches("attendee:").to_owned();
        let page = format!("/console/attendees?q={code}");
        let form = vec![("attendee", attendee), ("reason", "bench".into()), ("q", code.clone())];
        revoked.push(timed(browser, &page, "/console/attendees/revoke", form));
    }
    report("action: revoke a badge", revoked);
    let (dismiss, merge) = conflicts.split_at(conflicts.len() / 2);
    if dismiss.is_empty() || merge.is_empty() {
        println!("no open duplicates left to dismiss and merge: fill afresh (bump FILL_VERSION)");
        return;
    }
    let mut dismissed = Vec::new();
    for (id, _) in dismiss {
        let form = vec![("conflict", id.to_string()), ("reason", "bench".into())];
        dismissed.push(timed(browser, "/console/accuracy", "/console/accuracy/dismiss", form));
    }
    report("action: dismiss a duplicate", dismissed);
    let mut merged = Vec::new();
    for (id, keep) in merge {
        let form = vec![("conflict", id.to_string()), ("keep", keep.clone())];
        merged.push(timed(browser, "/console/accuracy", "/console/accuracy/merge", form));
    }
    report("action: merge a duplicate", merged);
}
