//! `expo-kiosk bench`: the core's performance figures on synthetic attendees, measured
//! the way a station experiences them (through the real store, on a real file).
//! Run it from a release build: `cargo run --release -- bench`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use expo_kiosk::credential::{self, BadgeClaims, Trust};
use expo_kiosk::demo::{demo_event_toml, Generator};
use expo_kiosk::domain::AttendeeId;
use expo_kiosk::provisioning;
use expo_kiosk::registration::import::{import_csv, ImportOptions};
use expo_kiosk::registration::search;
use expo_kiosk::store::Store;
use rand::seq::SliceRandom;
use rand::Rng;
use rand::SeedableRng;
use serde::Serialize;

#[derive(Args)]
pub struct BenchArgs {
    /// How many attendees to import and search among.
    #[arg(long, default_value_t = 1_000_000)]
    attendees: u64,
    /// Searches per query kind.
    #[arg(long, default_value_t = 2_000)]
    searches: usize,
    /// Scratch directory (emptied first). Default: a temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Figures {
    attendees: u64,
    import_s: f64,
    open_ms: f64,
    search: Vec<SearchFigures>,
    token_sign_us: f64,
    token_verify_us: f64,
    token_chars: usize,
}

#[derive(Serialize)]
struct SearchFigures {
    kind: &'static str,
    p50_ms: f64,
    p99_ms: f64,
    mean_hits: f64,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let temp;
    let dir = match args.dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    super::fresh_dir(&dir)?;
    eprintln!("generating {} attendees ...", args.attendees);
    let csv_path = dir.join("attendees.csv");
    let file = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
    Generator::new(1).write_csv(args.attendees, file)?;
    let csv = std::fs::read(&csv_path)?;

    let station = dir.join("station");
    let mut store = Store::open(&station)?;
    provisioning::init(
        &mut store,
        &expo_kiosk::operators::Operator::admin("bench"),
        &demo_event_toml(chrono::Local::now().date_naive()),
    )?;
    eprintln!("importing ...");
    let started = Instant::now();
    let admin = expo_kiosk::operators::Operator::station_admin(store.station_id());
    let report = import_csv(&mut store, &admin, &csv, ImportOptions::default())?;
    let import_time = started.elapsed();
    anyhow::ensure!(
        report.created == args.attendees,
        "import created {} of {}",
        report.created,
        args.attendees
    );
    drop(store);

    let started = Instant::now();
    let store = Store::open(&station)?;
    store.event().context("event after reopen")?;
    // "Ready" means the first search answers: that touches the indexes a desk needs.
    search::search(store.conn(), "zs", 20, &[])?;
    let open_time = started.elapsed();

    eprintln!("searching ...");
    let samples = sample_queries(&store, args.searches)?;
    let mut search_figures = Vec::new();
    for (kind, queries) in samples {
        let mut times = Vec::with_capacity(queries.len());
        let mut hits = 0usize;
        for query in &queries {
            let started = Instant::now();
            hits += search::search(store.conn(), query, 20, &[])?.len();
            times.push(started.elapsed());
        }
        times.sort_unstable();
        search_figures.push(SearchFigures {
            kind,
            p50_ms: ms(percentile(&times, 0.50)),
            p99_ms: ms(percentile(&times, 0.99)),
            mean_hits: hits as f64 / queries.len().max(1) as f64,
        });
    }

    let (sign_us, verify_us, token_chars) = token_figures()?;
    let figures = Figures {
        attendees: args.attendees,
        import_s: import_time.as_secs_f64(),
        open_ms: ms(open_time),
        search: search_figures,
        token_sign_us: sign_us,
        token_verify_us: verify_us,
        token_chars,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!("| measure ({} attendees) | figure |", figures.attendees);
        println!("|---|---|");
        println!("| import of the CSV | {:.1} s |", figures.import_s);
        println!("| open the database and be ready | {:.1} ms |", figures.open_ms);
        for s in &figures.search {
            println!(
                "| search {} p50 / p99 | {:.2} / {:.2} ms ({:.0} hits) |",
                s.kind, s.p50_ms, s.p99_ms, s.mean_hits
            );
        }
        println!("| token sign | {:.1} µs |", figures.token_sign_us);
        println!("| token verify | {:.1} µs |", figures.token_verify_us);
        println!("| token length | {} characters |", figures.token_chars);
    }
    Ok(ExitCode::SUCCESS)
}

/// Realistic queries drawn from the stored attendees: name prefixes (first character or
/// two), pinyin initials, phone tails and company words (two Chinese characters from
/// within the name, or the start of a Latin word).
fn sample_queries(store: &Store, per_kind: usize) -> Result<Vec<(&'static str, Vec<String>)>> {
    let mut stmt = store
        .conn()
        .prepare("SELECT name, phone, company FROM attendees ORDER BY random() LIMIT ?1")?;
    let people: Vec<(String, String, String)> = stmt
        .query_map([per_kind as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut names = Vec::new();
    let mut initials = Vec::new();
    let mut tails = Vec::new();
    let mut companies = Vec::new();
    for (name, phone, company) in &people {
        let chars: Vec<char> = name.chars().collect();
        let len = [1usize, 2, 3].choose(&mut rng).copied().unwrap_or(2).min(chars.len());
        names.push(chars[..len].iter().collect());
        if let Some((_, short)) = search::pinyin_forms(name) {
            initials.push(short);
        }
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        tails.push(digits[digits.len().saturating_sub(4)..].to_owned());
        let words: Vec<&str> = company.split_whitespace().collect();
        if let Some(word) = words.choose(&mut rng) {
            let chars: Vec<char> = word.chars().collect();
            let (start, len) = if word.is_ascii() {
                (0, 3)
            } else {
                (rng.gen_range(0..=chars.len().saturating_sub(2).min(4)), 2)
            };
            companies.push(chars.iter().skip(start).take(len).collect());
        }
    }
    Ok(vec![
        ("name prefix", names),
        ("pinyin initials", initials),
        ("phone tail", tails),
        ("company word", companies),
    ])
}

struct BenchTrust(ed25519_dalek::VerifyingKey);

impl Trust for BenchTrust {
    fn event_tag(&self) -> u32 {
        credential::event_tag("bench")
    }
    fn verifying_key(&self, key_id: u32) -> Option<ed25519_dalek::VerifyingKey> {
        (key_id == credential::key_id(&self.0)).then_some(self.0)
    }
    fn is_revoked(&self, _: AttendeeId, _: u16) -> bool {
        false
    }
}

fn token_figures() -> Result<(f64, f64, usize)> {
    const ROUNDS: u32 = 5_000;
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let today = chrono::Local::now().date_naive();
    let claims = BadgeClaims {
        key_id: credential::key_id(&key.verifying_key()),
        event_tag: credential::event_tag("bench"),
        attendee: AttendeeId::new_walk_in(),
        serial: 1,
        category_code: 2,
        valid_from: today,
        valid_to: today + chrono::Days::new(3),
    };
    let started = Instant::now();
    let mut token = String::new();
    for _ in 0..ROUNDS {
        token = credential::sign(&claims, &key);
    }
    let sign = started.elapsed() / ROUNDS;
    let trust = BenchTrust(key.verifying_key());
    let started = Instant::now();
    for _ in 0..ROUNDS {
        credential::verify(&token, &trust, today)
            .map_err(|e| anyhow::anyhow!("bench token rejected: {e}"))?;
    }
    let verify = started.elapsed() / ROUNDS;
    Ok((us(sign), us(verify), token.len()))
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
