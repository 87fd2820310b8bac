//! Desk frame times on a station holding 1,000,000 attendees: the operator types searches
//! and every frame the UI thread draws is timed (egui's pass, with egui_kittest's
//! accessibility tree on top; no GPU raster, which the window's own thread does).
//!
//!     cargo bench -p expo-kiosk --bench ui_frames [-- ATTENDEES]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use expo_kiosk::demo::{demo_event_toml, Generator};
use expo_kiosk::operators::{self, Operator, Role};
use expo_kiosk::registration::import::{import_csv, ImportOptions};
use expo_kiosk::store::Store;
use expo_kiosk::ui::{install_fonts, App, AppConfig, Mode};

const QUERIES: [&str; 6] = ["zs", "wang", "ly", "1385", "zhangw", "R00004"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let attendees: u64 = match std::env::args().nth(1).filter(|a| !a.starts_with('-')) {
        Some(text) => text.parse()?,
        None => 1_000_000,
    };
    let dir = tempfile::tempdir()?;
    {
        let mut store = Store::open(dir.path())?;
        let today = chrono::Local::now().date_naive();
        expo_kiosk::provisioning::init(
            &mut store,
            &expo_kiosk::operators::Operator::admin("bench"),
            &demo_event_toml(today),
        )?;
        let mut csv = Vec::new();
        Generator::new(11).write_csv(attendees, &mut csv)?;
        let started = Instant::now();
        let bench = expo_kiosk::operators::Operator::admin("bench");
        import_csv(&mut store, &bench, &csv, ImportOptions::default())?;
        eprintln!("{attendees} attendees imported in {:.0} s", started.elapsed().as_secs_f64());
        let admin = Operator::station_admin(store.station_id());
        operators::add(&mut store, &admin, "desk", Role::Desk, "1234", &[])?;
    }

    let app = App::new(AppConfig::new(dir.path().to_owned(), Mode::Desk), || {})?;
    let mut harness = Harness::builder()
        .with_size([1280.0, 800.0])
        .with_step_dt(1.0 / 60.0)
        .with_context_setup(install_fonts)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app);
    step_until(&mut harness, |app| app.is_ready())?;
    for (field, text) in [("操作员", "desk"), ("PIN 码", "1234")] {
        harness.get_by_label(field).focus();
        harness.step();
        harness.get_by_label(field).type_text(text);
        harness.step();
    }
    harness.get_by_label("登录").click();
    step_until(&mut harness, |app| app.operator().is_some())?;

    // An operator's typing: a key every 120 ms, frames at 60 Hz in between; results
    // arrive from the station worker whenever they are ready.
    let mut frames = Vec::new();
    for query in QUERIES {
        harness.key_press(egui::Key::Escape);
        harness.step();
        for ch in query.chars() {
            harness.get_by_label("搜索").type_text(&ch.to_string());
            for _ in 0..7 {
                let started = Instant::now();
                harness.step();
                frames.push(started.elapsed());
                std::thread::sleep(Duration::from_millis(16));
            }
        }
        for _ in 0..20 {
            let started = Instant::now();
            harness.step();
            frames.push(started.elapsed());
            std::thread::sleep(Duration::from_millis(16));
        }
    }
    frames.sort_unstable();
    let at = |q: f64| frames[((frames.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "| measure, {attendees} attendees, {} frames while typing searches | figure |",
        frames.len()
    );
    println!("|---|---|");
    println!(
        "| desk frame time p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

fn step_until(
    harness: &mut Harness<'static, App>,
    done: impl Fn(&App) -> bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(harness.state()) {
        if Instant::now() > deadline {
            return Err("the app did not get there in 60 s".into());
        }
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
