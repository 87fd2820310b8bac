//! Badge rendering figures for README: one badge warm, PDF size with Chinese text, and a
//! 10,000-badge `--all` batch (issuing every badge, as a first pre-print run does).
//!
//!     cargo bench -p expo-kiosk --bench badge_render [-- BATCH_SIZE]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::time::{Duration, Instant};

use expo_kiosk::badges::batch;
use expo_kiosk::badges::{render_pdf, BadgeData, Template};
use expo_kiosk::demo::{demo_event_toml, Generator};
use expo_kiosk::registration::import::{import_csv, ImportOptions};
use expo_kiosk::store::Store;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batch_size: u64 = match std::env::args().nth(1).filter(|a| !a.starts_with('-')) {
        Some(text) => text.parse()?,
        None => 10_000,
    };
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path())?;
    provisioning(&mut store)?;

    println!("| measure | figure |");
    println!("|---|---|");
    for name in ["lanyard-90x130", "cr80", "label-4x6"] {
        let template = Template::load(name)?;
        let badge = sample_badge();
        // The first render parses the font; "warm" is every render after it.
        let first = Instant::now();
        let pdf = render_pdf(&template, [badge.clone()])?;
        let first = first.elapsed();
        let mut times: Vec<Duration> = (0..100)
            .map(|_| {
                let started = Instant::now();
                render_pdf(&template, [badge.clone()]).map(|_| started.elapsed())
            })
            .collect::<Result<_, _>>()?;
        times.sort_unstable();
        println!(
            "| one badge, {name}, warm: p50 / p99 (first: {:.0} ms) | {:.1} / {:.1} ms |",
            ms(first),
            ms(times[times.len() / 2]),
            ms(times[times.len() * 99 / 100])
        );
        println!(
            "| PDF size, {name}, Chinese name and company | {:.1} KB |",
            pdf.len() as f64 / 1024.0
        );
    }

    let mut csv = Vec::new();
    Generator::new(7).write_csv(batch_size, &mut csv)?;
    let bench = expo_kiosk::operators::Operator::admin("bench");
    import_csv(&mut store, &bench, &csv, ImportOptions::default())?;
    let attendees = batch::attendees_in(&store, None)?;
    let template = Template::load("lanyard-90x130")?;
    let out = dir.path().join("all.pdf");
    let started = Instant::now();
    let rendered = batch::render_attendees(&mut store, &bench, &template, &attendees, &out)?;
    let first_run = started.elapsed();
    let started = Instant::now();
    let again = batch::render_attendees(&mut store, &bench, &template, &attendees, &out)?;
    let second_run = started.elapsed();
    assert_eq!((rendered.badges, again.badges), (attendees.len(), attendees.len()));
    println!(
        "| {} badges `--all`, issuing every badge | {:.1} s ({:.2} ms per badge) |",
        rendered.badges,
        first_run.as_secs_f64(),
        ms(first_run) / rendered.badges as f64
    );
    println!(
        "| {} badges `--all`, badges already issued | {:.1} s |",
        again.badges,
        second_run.as_secs_f64()
    );
    println!(
        "| {} badges `--all`: PDF size | {:.1} MB |",
        rendered.badges,
        rendered.bytes as f64 / 1e6
    );
    if let Some(peak) = peak_memory_mb() {
        println!("| peak memory of the whole run | {peak:.0} MB |");
    }
    Ok(())
}

fn provisioning(store: &mut Store) -> Result<(), Box<dyn std::error::Error>> {
    let today = chrono::Local::now().date_naive();
    expo_kiosk::provisioning::init(
        store,
        &expo_kiosk::operators::Operator::admin("bench"),
        &demo_event_toml(today),
    )?;
    Ok(())
}

fn sample_badge() -> BadgeData {
    BadgeData {
        name: "欧阳娜娜".into(),
        company: "上海国际展览有限公司".into(),
        title: "销售总监".into(),
        country: "中国".into(),
        category_zh: "参展商".into(),
        category_en: "Exhibitor".into(),
        event: "2026 上海国际消费电子博览会".into(),
        colour: [0x1f, 0x6f, 0xeb],
        // A real token's length and alphabet: 157 characters of EK1 + base32.
        token: format!("EK1{}", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".repeat(5))[..157].to_owned(),
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// VmHWM from /proc (Linux): the most resident memory the process has used.
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
