//! Realistic synthetic attendees for the demo, the benchmarks and tests: Chinese and
//! Latin names, companies, mainland and international phones, valid resident ID
//! numbers. Deterministic for a given seed, so a benchmark run can be reproduced.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::domain::id_document::resident_id_check_char;
use chrono::{DateTime, Utc};
use expo_sync::protocol::GateDecisionRecord;
use uuid::Uuid;

use crate::access::Reason;
use crate::domain::NewAttendee;
use crate::operators::Operator;
use crate::provisioning::{self, ProvisioningError};
use crate::registration::import::{import_csv, ImportOptions};
use crate::registration::RegistrationError;
use crate::store::{Store, StoreError};

/// The example event that ships in `assets/`, embedded so the demo needs no files.
pub const EXAMPLE_EVENT_TOML: &str = include_str!("../assets/events/example-event.toml");

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "欧阳", "司马", "诸葛", "上官",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "华", "平", "刚", "桂英", "建国", "晓东", "子涵", "雨桐", "浩然", "思远", "嘉怡",
];
const LATIN_FIRST: &[&str] = &[
    "John", "Maria", "Ahmed", "Yuki", "Olga", "Carlos", "Fatima", "Lars", "Priya", "Kwame", "Emma",
    "Luca",
];
const LATIN_LAST: &[&str] = &[
    "Smith", "Garcia", "Müller", "Tanaka", "Ivanova", "Rossi", "Khan", "Okafor", "Dubois", "Silva",
    "Kim",
];
const COMPANY_HEADS: &[&str] = &[
    "上海", "深圳", "杭州", "广州", "北京", "苏州", "宁波", "成都", "华东", "东方", "中科", "海川",
];
const COMPANY_BODIES: &[&str] = &[
    "国际展览",
    "电子科技",
    "智能制造",
    "新能源",
    "贸易",
    "光电",
    "精密机械",
    "生物医药",
    "数字传媒",
];
const COMPANY_TAILS: &[&str] = &["有限公司", "股份有限公司", "集团有限公司"];
const LATIN_COMPANIES: &[&str] = &[
    "Acme GmbH",
    "Nordic Components AB",
    "Blue Ocean Trading LLC",
    "Sakura Devices KK",
    "Atlas Robotics Inc.",
];
const TITLES: &[&str] =
    &["总经理", "采购经理", "工程师", "市场总监", "Sales Manager", "CTO", "记者", "主任"];
const REGIONS: &[&str] = &["310101", "310115", "110105", "440305", "330106", "320506", "510107"];
const COUNTRIES: &[&str] =
    &["中国", "中国", "中国", "Germany", "Japan", "USA", "Brazil", "India", "Nigeria"];
/// Relative weights of the example event's categories, like a trade show's mix.
const CATEGORY_MIX: &[(&str, u32)] = &[
    ("exhibitor", 20),
    ("professional_visitor", 45),
    ("public_visitor", 25),
    ("media", 3),
    ("vip", 2),
    ("organizer", 2),
    ("staff", 3),
];

/// The example event moved in time so that it opens `today`: the demo's badges are
/// valid whenever someone runs it.
pub fn demo_event_toml(today: chrono::NaiveDate) -> String {
    use chrono::NaiveDate;
    // The example's own first day; every date in it moves by the same offset.
    let example_start = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or(today);
    let shift = today - example_start;
    let mut text = EXAMPLE_EVENT_TOML.replace("id = \"expo-2026\"", "id = \"expo-demo\"");
    for day in 0..4 {
        let from = example_start + chrono::Days::new(day);
        text = text.replace(&from.to_string(), &format!("@{}", (from + shift)));
    }
    text.replace('@', "")
}

/// How many pre-registered attendees the demo station holds.
pub const DEMO_ATTENDEES: u64 = 2_000;

#[derive(Debug, Default)]
pub struct PreparedDemo {
    pub created_event: bool,
    pub imported: u64,
}

/// Creates (or reuses) the demo event, opening today, and its pre-registered attendees.
pub fn prepare_station(store: &mut Store) -> Result<PreparedDemo, DemoError> {
    let mut prepared = PreparedDemo::default();
    if store.event().is_err() {
        let today = chrono::Local::now().date_naive();
        provisioning::init(store, &Operator::admin(DEMO_ACTOR), &demo_event_toml(today))?;
        prepared.created_event = true;
    }
    let count: u64 = store
        .conn()
        .query_row("SELECT count(*) FROM attendees", [], |r| r.get(0))
        .map_err(StoreError::from)?;
    ensure_demo_printer(store.data_dir())?;
    if count < DEMO_ATTENDEES {
        let mut csv = Vec::new();
        Generator::new(2026)
            .write_csv(DEMO_ATTENDEES, &mut csv)
            .map_err(|e| DemoError::Generate(e.to_string()))?;
        let report = import_csv(store, &demo_operator(), &csv, ImportOptions::default())?;
        prepared.imported = report.created + report.updated;
    }
    Ok(prepared)
}

/// The demo's simulated gates: (gate, zone).
const DEMO_GATES: [(&str, &str); 4] =
    [("east-1", "hall-1"), ("east-2", "hall-1"), ("west-1", "hall-2"), ("west-2", "hall-2")];

/// How many demo attendees come through the simulated gates.
const DEMO_VISITORS: u32 = 1_500;

/// Simulated turnstile traffic of the last eight hours, written once through the gate log
/// (with outbox rows, as a real gate writes them), so a fresh demo station's dashboard has
/// gate flow, people inside, denials and annulments to show. Returns the decisions written;
/// none when the station already has gate decisions.
pub fn simulate_gate_traffic(store: &mut Store, now: DateTime<Utc>) -> Result<u64, DemoError> {
    let conn = store.conn();
    let logged: bool = conn
        .query_row("SELECT EXISTS(SELECT 1 FROM gate_decisions)", [], |r| r.get(0))
        .map_err(StoreError::from)?;
    if logged {
        return Ok(0);
    }
    let visitors: Vec<Uuid> = {
        let mut stmt = conn
            .prepare("SELECT id FROM attendees ORDER BY registration_code LIMIT ?1")
            .map_err(StoreError::from)?;
        let ids = stmt
            .query_map([DEMO_VISITORS], |r| r.get::<_, String>(0))
            .map_err(StoreError::from)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::from)?;
        ids.iter().filter_map(|id| Uuid::parse_str(id).ok()).collect()
    };
    let mut rng = StdRng::seed_from_u64(7);
    let window_s = 8 * 3600;
    let mut decisions = Vec::new();
    let decision =
        |at: DateTime<Utc>, attendee: Uuid, gate: usize, direction: &str, reason: &str| {
            let (gate, zone) = DEMO_GATES[gate];
            GateDecisionRecord {
                id: Uuid::now_v7(),
                attendee_id: Some(attendee),
                badge_serial: Some(1),
                gate: gate.into(),
                lane: "1".into(),
                zone: zone.into(),
                direction: direction.into(),
                granted: Reason::parse(reason).is_some_and(Reason::grants),
                reason: reason.into(),
                at: crate::store::format_time(at),
                annulled: false,
            }
        };
    for attendee in visitors {
        // Arrivals peak in the first hours of the window: the smaller of two uniform draws.
        let arrived = rng.gen_range(0..window_s).min(rng.gen_range(0..window_s));
        let at = now - chrono::Duration::seconds(window_s - arrived);
        let gate = rng.gen_range(0..DEMO_GATES.len());
        if rng.gen_bool(0.05) {
            let reason =
                ["passback", "zone_not_allowed", "revoked", "outside_hours"][rng.gen_range(0..4)];
            decisions.push(decision(at, attendee, gate, "in", reason));
            continue;
        }
        let mut entry = decision(at, attendee, gate, "in", "granted");
        // Now and then nobody walks through the opened turnstile.
        entry.annulled = rng.gen_bool(0.01);
        decisions.push(entry);
        let stay = rng.gen_range(1_800..4 * 3_600);
        if arrived + stay < window_s && rng.gen_bool(0.6) {
            let exit_gate = (gate / 2) * 2 + rng.gen_range(0..2);
            let left = at + chrono::Duration::seconds(stay);
            decisions.push(decision(left, attendee, exit_gate, "out", "granted"));
        }
    }
    decisions.sort_by(|a, b| a.at.cmp(&b.at));
    crate::gate::record_decisions(store, &decisions)?;
    Ok(decisions.len() as u64)
}

/// The demo station's printer: a hot folder in its data directory, where each printed
/// badge appears as a PDF. Written once; a `printers.toml` someone edited is kept.
pub const DEMO_PRINTER_DIR: &str = "printed-badges";

fn ensure_demo_printer(data_dir: &std::path::Path) -> Result<(), DemoError> {
    let path = data_dir.join(crate::badges::printer::CONFIG_FILE);
    if path.exists() {
        return Ok(());
    }
    let config = crate::badges::PrinterConfig {
        default: Some("demo-printer".into()),
        retry: crate::badges::RetryPolicy::default(),
        printers: vec![crate::badges::Printer {
            name: "demo-printer".into(),
            backend: crate::badges::Backend::Spool { dir: data_dir.join(DEMO_PRINTER_DIR) },
            template: None,
        }],
    };
    let text = toml::to_string(&config).map_err(|e| DemoError::Generate(e.to_string()))?;
    let spool = data_dir.join(DEMO_PRINTER_DIR);
    std::fs::create_dir_all(&spool).and_then(|()| std::fs::write(&path, text)).map_err(|e| {
        DemoError::Generate(format!("the demo printer in {}: {e}", data_dir.display()))
    })
}

/// The actor the demo's own changes are audited under.
pub const DEMO_ACTOR: &str = "demo";

/// The demo acts on its own throwaway station as an admin of every category.
pub fn demo_operator() -> Operator {
    Operator::admin(DEMO_ACTOR)
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Provisioning(#[from] ProvisioningError),
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    #[error("generating demo attendees: {0}")]
    Generate(String),
}

pub struct Generator {
    rng: StdRng,
    next: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Self { rng: StdRng::seed_from_u64(seed), next: 0 }
    }

    /// The next pre-registered attendee; registration codes run `R0000001`, `R0000002`, ...
    pub fn next_attendee(&mut self) -> NewAttendee {
        self.next += 1;
        let rng = &mut self.rng;
        let chinese = rng.gen_bool(0.8);
        let name = if chinese {
            format!(
                "{}{}{}",
                pick(rng, SURNAMES),
                pick(rng, GIVEN),
                if rng.gen_bool(0.4) { pick(rng, GIVEN) } else { "" }
            )
        } else {
            format!("{} {}", pick(rng, LATIN_FIRST), pick(rng, LATIN_LAST))
        };
        let company = if chinese {
            format!(
                "{}{}{}",
                pick(rng, COMPANY_HEADS),
                pick(rng, COMPANY_BODIES),
                pick(rng, COMPANY_TAILS)
            )
        } else {
            pick(rng, LATIN_COMPANIES).to_owned()
        };
        let phone = if chinese {
            format!("1{}{:09}", rng.gen_range(3..10), rng.gen_range(0..1_000_000_000u64))
        } else {
            format!("+49 151 {:08}", rng.gen_range(0..100_000_000u64))
        };
        let total: u32 = CATEGORY_MIX.iter().map(|(_, w)| w).sum();
        let mut roll = rng.gen_range(0..total);
        let category = CATEGORY_MIX
            .iter()
            .find(|(_, weight)| {
                let hit = roll < *weight;
                roll = roll.saturating_sub(*weight);
                hit
            })
            .map(|(id, _)| *id)
            .unwrap_or("professional_visitor");
        let (id_type, id_number) = if chinese && rng.gen_bool(0.5) {
            ("resident_id".to_owned(), unique_resident_id(self.next))
        } else {
            (String::new(), String::new())
        };
        let code = format!("R{:07}", self.next);
        NewAttendee {
            registration_code: code.clone(),
            email: format!("{}@example.com", code.to_lowercase()),
            name,
            company,
            title: pick(rng, TITLES).to_owned(),
            category: category.to_owned(),
            phone,
            country: if chinese { "中国".to_owned() } else { pick(rng, COUNTRIES).to_owned() },
            id_type,
            id_number,
            consent: rng.gen_bool(0.9),
            tags: Vec::new(),
            chinese_name: String::new(),
        }
    }

    /// Writes `count` attendees as an import CSV (English headers) to `out`.
    pub fn write_csv(&mut self, count: u64, out: impl std::io::Write) -> csv::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record([
            "registration_code",
            "name",
            "company",
            "title",
            "category",
            "phone",
            "email",
            "country",
            "id_type",
            "id_number",
            "consent",
        ])?;
        for _ in 0..count {
            let a = self.next_attendee();
            writer.write_record([
                a.registration_code.as_str(),
                a.name.as_str(),
                a.company.as_str(),
                a.title.as_str(),
                a.category.as_str(),
                a.phone.as_str(),
                a.email.as_str(),
                a.country.as_str(),
                a.id_type.as_str(),
                a.id_number.as_str(),
                if a.consent { "yes" } else { "no" },
            ])?;
        }
        writer.flush()?;
        Ok(())
    }
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

/// A valid resident ID number that no other generated attendee has: the birth date and
/// sequence number are derived from the attendee's position, so a million stay distinct.
fn unique_resident_id(position: u64) -> String {
    let born = chrono::NaiveDate::from_ymd_opt(1960, 1, 1).unwrap_or_default()
        + chrono::Days::new((position / 1000) % 16_000);
    let region = REGIONS[(position % REGIONS.len() as u64) as usize];
    with_check_char(format!("{region}{}{:03}", born.format("%Y%m%d"), position % 1000))
}

fn with_check_char(first17: String) -> String {
    // The 17 characters are digits by construction, so a check character always exists.
    let check = resident_id_check_char(first17.as_bytes()).unwrap_or('0');
    format!("{first17}{check}")
}

/// A valid resident ID number (region, birth date 1960-2004, sequence, check character).
pub fn resident_id(rng: &mut impl Rng) -> String {
    let first17 = format!(
        "{}{:04}{:02}{:02}{:03}",
        REGIONS[rng.gen_range(0..REGIONS.len())],
        rng.gen_range(1960..2005),
        rng.gen_range(1..13),
        rng.gen_range(1..29),
        rng.gen_range(0..1000)
    );
    with_check_char(first17)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventDefinition, Source};
    use chrono::NaiveDate;

    #[test]
    fn the_demo_event_opens_today() {
        let today = NaiveDate::from_ymd_opt(2031, 2, 27).unwrap();
        let event = EventDefinition::from_toml(&demo_event_toml(today)).unwrap();
        assert_eq!(event.event.start, today);
        assert_eq!(event.event.end, today + chrono::Days::new(3));
        assert_eq!(event.event.id, "expo-demo");
    }

    #[test]
    fn generated_attendees_are_valid_and_reproducible() {
        let event = EventDefinition::from_toml(EXAMPLE_EVENT_TOML).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let mut generator = Generator::new(7);
        let first: Vec<NewAttendee> = (0..500).map(|_| generator.next_attendee()).collect();
        for input in &first {
            if let Err(errors) = input.validate(&event, Source::PreRegistered, today) {
                panic!("{} invalid: {errors:?}", input.registration_code);
            }
        }
        assert!(first.iter().any(|a| !a.id_number.is_empty()));
        let mut numbers: Vec<&str> =
            first.iter().map(|a| a.id_number.as_str()).filter(|n| !n.is_empty()).collect();
        let total = numbers.len();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), total, "generated ID numbers are unique");
        assert!(first.iter().any(|a| a.name.chars().any(|c| c > '\u{2e80}')));
        let again = Generator::new(7).next_attendee();
        assert_eq!(again.name, first[0].name);
    }
}
