//! The rehearsal's books: changes made at the stations against changes at the hub (lost,
//! duplicated), and each station's state against what the hub says it should hold, by
//! digest.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use expo_sync::protocol::{Change, Record};
use expo_sync::validate::MAX_CLOCK_AHEAD_MS;
use expo_sync::StationRole;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::RehearsalError;

/// What one station made and what it holds.
pub struct StationBooks {
    /// Every change this station made: its outbox, acknowledged or not.
    pub made: Vec<Uuid>,
    /// Of those, the ones the hub refused and the station keeps aside, with the refusal.
    pub kept_aside: Vec<(Uuid, String)>,
    /// Of those, the ones still in the outbox that the hub could not take yet when the
    /// venue's last sync round began: stamped further ahead of its clock than it allows
    /// (the clock fault). The station sends them again once the hub's clock catches up.
    pub held_back: Vec<Uuid>,
    /// Its state for its role, one line per entity, the entities of its kept-aside and
    /// held-back changes left out (the hub does not hold them, by its own rule).
    pub state: BTreeSet<String>,
    /// Entities left out of the comparison on both sides.
    pub excluded: HashSet<String>,
}

fn open_read_only(path: &Path) -> Result<Connection, RehearsalError> {
    Ok(Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?)
}

/// The books of the station in `dir`. `last_round_ms`: when the venue's last sync round
/// began, by the wall clock; what was stamped too far ahead for the hub then is held back.
pub fn station_books(
    dir: &Path,
    role: StationRole,
    last_round_ms: u64,
) -> Result<StationBooks, RehearsalError> {
    let conn = open_read_only(&dir.join("station.db"))?;
    let own: String =
        conn.query_row("SELECT value FROM meta WHERE key = 'station_id'", [], |r| r.get(0))?;
    let made = conn
        .prepare("SELECT change_id FROM outbox")?
        .query_map([], |r| r.get::<_, String>(0))?
        .filter_map(|id| id.ok().and_then(|id| Uuid::parse_str(&id).ok()))
        .collect();
    let mut kept_aside = Vec::new();
    let mut excluded = HashSet::new();
    let aside: Vec<(String, String)> = conn
        .prepare("SELECT change, error FROM sync_set_aside")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (json, error) in aside {
        let Ok(change) = serde_json::from_str::<Change>(&json) else { continue };
        if change.station == own {
            excluded.insert(entity_line_key(&change.record));
            kept_aside.push((change.id, error));
        }
    }
    let mut held_back = Vec::new();
    let unacked: Vec<String> = conn
        .prepare("SELECT change FROM outbox WHERE acked = 0")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // Not the clock now: a change that became admissible since the last round began may
    // not have gone out in it, and would count as lost.
    let admissible_until = last_round_ms.saturating_add(MAX_CLOCK_AHEAD_MS);
    for json in unacked {
        let Ok(change) = serde_json::from_str::<Change>(&json) else { continue };
        if change.hlc.wall_ms > admissible_until {
            excluded.insert(entity_line_key(&change.record));
            held_back.push(change.id);
        }
    }
    let mut lines = BTreeSet::new();
    if holds(role, "attendee") {
        let mut stmt = conn.prepare("SELECT id, name, category FROM attendees")?;
        let rows = stmt.query_map([], |r| {
            Ok(attendee_line(
                &r.get::<_, String>(0)?,
                &r.get::<_, String>(1)?,
                &r.get::<_, String>(2)?,
            ))
        })?;
        lines.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    }
    if holds(role, "badge") {
        let mut newest: BTreeMap<String, (u32, String)> = BTreeMap::new();
        let mut stmt = conn.prepare("SELECT attendee_id, serial, status FROM badges")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get(2)?)))?;
        for row in rows {
            let (attendee, serial, status) = row?;
            keep_newest(&mut newest, attendee, serial, status);
        }
        lines.extend(
            newest.into_iter().map(|(a, (serial, status))| badge_line(&a, serial, &status)),
        );
    }
    if holds(role, "gate_decision") {
        let mut stmt = conn.prepare("SELECT id, granted, annulled FROM gate_decisions")?;
        let rows =
            stmt.query_map([], |r| Ok(gate_line(&r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
        lines.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    }
    let state = lines.into_iter().filter(|line| !excluded.contains(line_key(line))).collect();
    Ok(StationBooks { made, kept_aside, held_back, state, excluded })
}

/// Whether a station of `role` holds records of `kind`: what the hub's scoped pulls send it
/// (`expo_sync::scope`), of the kinds the digest compares.
fn holds(role: StationRole, kind: &str) -> bool {
    matches!(kind, "attendee" | "badge" | "gate_decision")
        && expo_sync::scope::kinds_received(role).is_none_or(|kinds| kinds.contains(&kind))
}

/// The hub's current state as the station `gate_name` of `role` should hold it, as lines
/// comparable with a station's: a gate receives other gates' granted passages only, and
/// keeps all of its own decisions.
pub fn hub_state(records: &[Record], role: StationRole, gate_name: &str) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    let mut newest: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for record in records {
        if !holds(role, record.kind()) {
            continue;
        }
        match record {
            Record::Attendee(a) => {
                lines.insert(attendee_line(&a.id.to_string(), &a.name, &a.category));
            }
            Record::Badge(b) => {
                keep_newest(&mut newest, b.attendee_id.to_string(), b.serial, b.status.clone());
            }
            Record::GateDecision(g)
                if role != StationRole::Gate || g.granted || g.gate == gate_name =>
            {
                lines.insert(gate_line(&g.id.to_string(), g.granted, g.annulled));
            }
            _ => {}
        }
    }
    lines.extend(newest.into_iter().map(|(a, (serial, status))| badge_line(&a, serial, &status)));
    lines
}

/// The digest of a state: what two holders of the same state agree on.
pub fn digest(lines: &BTreeSet<String>) -> String {
    let mut hash = Sha256::new();
    for line in lines {
        hash.update(line.as_bytes());
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
}

fn keep_newest(
    newest: &mut BTreeMap<String, (u32, String)>,
    attendee: String,
    serial: u32,
    status: String,
) {
    let entry = newest.entry(attendee).or_insert((0, String::new()));
    if serial >= entry.0 {
        *entry = (serial, status);
    }
}

// One line per entity, its key first: "kind|id|...". A badge line is the attendee's newest
// serial and its status (older serials are superseded where each station derives it).
fn attendee_line(id: &str, name: &str, category: &str) -> String {
    format!("attendee|{id}|{name}|{category}")
}

fn badge_line(attendee: &str, serial: u32, status: &str) -> String {
    format!("badge|{attendee}|{serial}|{status}")
}

fn gate_line(id: &str, granted: bool, annulled: bool) -> String {
    format!("gate_decision|{id}|{granted}|{annulled}")
}

/// "kind|id" of a line.
fn line_key(line: &str) -> &str {
    let mut bars = line.match_indices('|').map(|(i, _)| i);
    let second = bars.nth(1).unwrap_or(line.len());
    &line[..second]
}

/// "kind|id" of the entity a record writes, as its lines name it.
fn entity_line_key(record: &Record) -> String {
    match record {
        Record::Attendee(a) => format!("attendee|{}", a.id),
        Record::Badge(b) => format!("badge|{}", b.attendee_id),
        Record::GateDecision(g) => format!("gate_decision|{}", g.id),
        other => other.entity_key(),
    }
}

/// Leaves out of the hub's lines the entities a station left out of its own.
pub fn without(lines: &BTreeSet<String>, excluded: &HashSet<String>) -> BTreeSet<String> {
    if excluded.is_empty() {
        return lines.clone();
    }
    lines.iter().filter(|line| !excluded.contains(line_key(line))).cloned().collect()
}

/// Made against stored: how many changes made at the stations the hub lacks (and the
/// station does not keep aside), and how many it holds more than once.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Tally {
    pub changes_made: u64,
    pub changes_at_hub: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub kept_aside: u64,
    pub held_back: u64,
    /// Changes the hub made itself (endorsements of stations' signing keys).
    pub hub_origin: u64,
}

pub fn tally(stations: &[StationBooks], hub_ids: &[(Uuid, String)]) -> Tally {
    let mut at_hub: HashMap<Uuid, u64> = HashMap::with_capacity(hub_ids.len());
    for (id, _) in hub_ids {
        *at_hub.entry(*id).or_default() += 1;
    }
    let mut tally = Tally {
        changes_at_hub: hub_ids.len() as u64,
        hub_origin: hub_ids.iter().filter(|(_, origin)| origin.starts_with('@')).count() as u64,
        ..Tally::default()
    };
    for station in stations {
        let aside: HashSet<Uuid> = station.kept_aside.iter().map(|(id, _)| *id).collect();
        let held: HashSet<Uuid> = station.held_back.iter().copied().collect();
        tally.kept_aside += aside.len() as u64;
        tally.held_back += held.len() as u64;
        for id in &station.made {
            tally.changes_made += 1;
            match at_hub.get(id) {
                None if !aside.contains(id) && !held.contains(id) => tally.lost += 1,
                Some(copies) if *copies > 1 => tally.duplicated += copies - 1,
                _ => {}
            }
        }
    }
    tally
}

/// Admitted twice into a hard-passback zone without an exit between, from the gate
/// decisions the hub holds: (across two gate stations, at one gate station).
pub fn double_entries(records: &[Record], hard_zones: &[&str]) -> (u64, u64) {
    // (at, direction, gate) of each counted passage, per holder and zone.
    type Passage<'a> = (&'a str, &'a str, &'a str);
    let mut passages: BTreeMap<(Uuid, &str), Vec<Passage<'_>>> = BTreeMap::new();
    for record in records {
        let Record::GateDecision(g) = record else { continue };
        let Some(attendee) = g.attendee_id else { continue };
        if !g.granted || g.annulled || !hard_zones.contains(&g.zone.as_str()) {
            continue;
        }
        passages.entry((attendee, g.zone.as_str())).or_default().push((
            g.at.as_str(),
            g.direction.as_str(),
            g.gate.as_str(),
        ));
    }
    let (mut across, mut same) = (0, 0);
    for mut list in passages.into_values() {
        list.sort_unstable();
        let mut inside: Option<&str> = None;
        for (_, direction, gate) in list {
            match (direction, inside) {
                ("in", Some(previous)) if previous == gate => same += 1,
                ("in", Some(_)) => across += 1,
                _ => {}
            }
            inside = (direction == "in").then_some(gate);
        }
    }
    (across, same)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use expo_sync::protocol::GateDecisionRecord;

    use super::*;

    fn passage(attendee: Uuid, zone: &str, direction: &str, gate: &str, at: &str) -> Record {
        Record::GateDecision(GateDecisionRecord {
            id: Uuid::now_v7(),
            attendee_id: Some(attendee),
            badge_serial: Some(1),
            gate: gate.into(),
            lane: "lane-1".into(),
            zone: zone.into(),
            direction: direction.into(),
            granted: true,
            reason: "ok".into(),
            at: at.into(),
            annulled: false,
        })
    }

    #[test]
    fn a_second_entry_without_an_exit_counts_by_whether_another_gate_let_it_in() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let records = [
            passage(a, "hall-1", "in", "gate-1", "2026-12-04T10:00:00Z"),
            passage(a, "hall-1", "in", "gate-2", "2026-12-04T10:00:02Z"),
            passage(a, "hall-1", "out", "gate-2", "2026-12-04T11:00:00Z"),
            passage(a, "hall-1", "in", "gate-2", "2026-12-04T12:00:00Z"),
            passage(b, "hall-2", "in", "gate-3", "2026-12-04T10:00:00Z"),
            passage(b, "hall-2", "in", "gate-3", "2026-12-04T10:00:05Z"),
            // A soft-passback zone is not counted.
            passage(b, "vip-lounge", "in", "gate-1", "2026-12-04T10:00:00Z"),
            passage(b, "vip-lounge", "in", "gate-2", "2026-12-04T10:00:01Z"),
        ];
        assert_eq!(double_entries(&records, &["hall-1", "hall-2"]), (1, 1));
    }

    /// A station whose clock runs 10 min ahead: what it made is held back while the hub's
    /// bound (5 min) refused it when the venue's last round began, and only then. Judged
    /// by the clock when the books are read, a change that became admissible after that
    /// round began, and so may never have gone out, counted as lost (a half-size run).
    #[test]
    fn what_was_too_far_ahead_when_the_last_round_began_is_held_back_not_lost() {
        use expo_kiosk::domain::{NewAttendee, Source};
        use expo_kiosk::operators::Operator;

        let dir = tempfile::tempdir().unwrap();
        let mut store = expo_kiosk::store::Store::open(dir.path()).unwrap();
        let admin = Operator::admin("t");
        let today = chrono::Utc::now().date_naive();
        expo_kiosk::provisioning::init(
            &mut store,
            &admin,
            &expo_kiosk::demo::demo_event_toml(today),
        )
        .unwrap();
        store.set_clock_offset(10 * 60 * 1000);
        let visitor =
            NewAttendee { name: "Ada".into(), category: "vip".into(), ..Default::default() };
        let ada = expo_kiosk::registration::register(&mut store, &admin, &visitor, Source::WalkIn)
            .unwrap();
        drop(store);

        let now = expo_sync::hlc::wall_clock_ms();
        let refused = station_books(dir.path(), StationRole::Kiosk, now).unwrap();
        assert!(!refused.held_back.is_empty(), "stamped 10 min ahead, the bound is 5");
        assert!(refused.state.iter().all(|line| !line.contains(&ada.id.to_string())));
        let later = station_books(dir.path(), StationRole::Kiosk, now + 6 * 60 * 1000).unwrap();
        assert!(later.held_back.is_empty(), "admissible then: {:?}", later.held_back);
        assert!(later.state.iter().any(|line| line.contains(&ada.id.to_string())));
    }

    #[test]
    fn a_change_is_lost_only_when_neither_the_hub_nor_its_station_keeps_it() {
        let (stored, twice, aside, held, lost) =
            (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let station = StationBooks {
            made: vec![stored, twice, aside, held, lost],
            kept_aside: vec![(aside, "the hub refused it (forbidden): not a gate's".into())],
            held_back: vec![held],
            state: BTreeSet::new(),
            excluded: HashSet::new(),
        };
        let hub = [
            (stored, "st-a".to_owned()),
            (twice, "st-a".to_owned()),
            (twice, "st-a".to_owned()),
            (Uuid::now_v7(), "@hub".to_owned()),
        ];
        let tally = tally(&[station], &hub);
        assert_eq!((tally.lost, tally.duplicated, tally.kept_aside, tally.held_back), (1, 1, 1, 1));
        assert_eq!((tally.changes_made, tally.hub_origin), (5, 1));
    }

    #[test]
    fn states_agree_by_digest_and_excluded_entities_leave_both_sides() {
        let attendee = Uuid::now_v7();
        let badge = |serial, status: &str| {
            Record::Badge(expo_sync::protocol::BadgeRecord {
                attendee_id: attendee,
                serial,
                status: status.into(),
                reason: None,
                issued_at: "2026-12-04T10:00:00Z".into(),
                changed_at: "2026-12-04T10:00:00Z".into(),
                operator: "op".into(),
            })
        };
        let hub =
            hub_state(&[badge(1, "active"), badge(2, "revoked")], StationRole::Gate, "gate-1");
        let station: BTreeSet<String> = [badge_line(&attendee.to_string(), 2, "revoked")].into();
        assert_eq!(digest(&hub), digest(&station), "the newest serial decides: {hub:?}");
        let excluded = HashSet::from([format!("badge|{attendee}")]);
        assert!(without(&hub, &excluded).is_empty());
    }
}
