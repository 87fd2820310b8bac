//! `expo-kiosk demo`: a demo station with about 2,000 attendees, opened in the desk app (or,
//! with `--kiosk`, the self-service kiosk) with simulated scanner, ID-card reader and relay.
//! `demo --headless` walks through the desk's
//! flow on the console instead (for machines with no display, and CI): search, walk-in
//! registration, badge token, gate verification of a good, a forged and a revoked badge.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use expo_kiosk::demo::resident_id;
use expo_kiosk::domain::{AttendeeId, NewAttendee, Source};
use expo_kiosk::operators::{self, Operator, Role};
use expo_kiosk::registration::{self, badge, search};
use expo_kiosk::store;
use expo_kiosk::store::Store;
use expo_kiosk::ui::{self, AppConfig, DeviceSetup, Lang, Mode};

use expo_kiosk::demo::demo_operator;

#[derive(Args)]
pub struct DemoArgs {
    /// Start the demo station from scratch instead of reusing it.
    #[arg(long)]
    reset: bool,
    /// No window: walk through the flow on the console.
    #[arg(long)]
    headless: bool,
    /// Open the station as a self-service kiosk instead of a desk: the demo panel taps ID
    /// cards, and a card nobody holds is registered as a walk-in (admin PIN 0000 leaves).
    #[arg(long, conflicts_with = "headless")]
    kiosk: bool,
}

/// The demo's operators: name, role and PIN (shown on the demo panel too).
const DEMO_OPERATORS: [(&str, Role, &str); 2] =
    [("desk", Role::Desk, "1234"), ("admin", Role::Admin, "0000")];

/// `lang`: the global `--lang`; without it the app starts in Chinese.
pub fn run(args: DemoArgs, data_dir: Option<PathBuf>, lang: Option<Lang>) -> Result<ExitCode> {
    let dir = match data_dir {
        Some(dir) => dir,
        None => super::default_data_dir()?.with_file_name("expo-kiosk-demo"),
    };
    if args.reset {
        super::fresh_dir(&dir)?;
    }
    println!("demo station data: {}", dir.display());
    let mut store = Store::open(&dir)?;
    let prepared = expo_kiosk::demo::prepare_station(&mut store)?;
    if prepared.created_event {
        println!("created the demo event, opening today, with this station's signing key");
    }
    if prepared.imported > 0 {
        println!("imported {} pre-registered attendees", prepared.imported);
    }
    let simulated = expo_kiosk::demo::simulate_gate_traffic(&mut store, chrono::Utc::now())?;
    if simulated > 0 {
        println!("simulated {simulated} gate decisions of the last eight hours (admin dashboard)");
    }
    // Also for the walk-through: its station can be opened with `run` afterwards.
    add_demo_operators(&mut store)?;
    for (name, role, pin) in DEMO_OPERATORS {
        println!("operator {name} ({role}): PIN {pin}");
    }
    if args.headless {
        walk_through(&mut store)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The app's worker opens the store itself.
    drop(store);
    let mut config = AppConfig::new(dir, if args.kiosk { Mode::Kiosk } else { Mode::Desk });
    config.devices = DeviceSetup::Demo;
    config.lang = lang.unwrap_or(config.lang);
    ui::run_native(config)?;
    Ok(ExitCode::SUCCESS)
}

fn add_demo_operators(store: &mut Store) -> Result<()> {
    let existing = operators::list(store)?;
    let admin = Operator::station_admin(store.station_id());
    for (name, role, pin) in DEMO_OPERATORS {
        if !existing.iter().any(|o| o.name == name) {
            operators::add(store, &admin, name, role, pin, &[])?;
        }
    }
    Ok(())
}

fn walk_through(store: &mut Store) -> Result<()> {
    step("search by pinyin initials \"wf\" (王芳, 吴峰, ...)");
    for hit in search::search(store.conn(), "wf", 5, &[])? {
        println!(
            "    {:<8} {:<10} {:<22} phone …{}",
            hit.registration_code.unwrap_or_default(),
            hit.name,
            hit.category,
            hit.phone_tail
        );
    }

    step("walk-in: 欧阳娜娜 from 上海国际展览有限公司 registers with her ID card");
    let mut rng = rand::thread_rng();
    let walk_in = NewAttendee {
        name: "欧阳娜娜".into(),
        company: "上海国际展览有限公司".into(),
        title: "市场总监".into(),
        category: "专业观众".into(),
        phone: format!("139{:08}", rand::Rng::gen_range(&mut rng, 0..100_000_000u32)),
        id_type: "居民身份证".into(),
        id_number: resident_id(&mut rng),
        country: "中国".into(),
        consent: true,
        ..NewAttendee::default()
    };
    let record = registration::register(store, &demo_operator(), &walk_in, Source::WalkIn)?;
    println!(
        "    attendee {} · ID {} (stored sealed; only the masked form is shown)",
        record.id,
        record.id_masked.as_deref().unwrap_or("-")
    );

    step("her badge: an Ed25519-signed token for the QR");
    let issued = badge::ensure_badge(store, &demo_operator(), AttendeeId(record.id))?;
    println!("    {} ({} characters, QR alphanumeric mode)", issued.token, issued.token.len());

    let today = registration::venue_today(store)?;
    step("gate check of the genuine badge");
    report(badge::verify(store, &issued.token, today)?);

    step("gate check of a forged copy (one character of the signature changed)");
    // Not the last character: its low bits are base32 padding, and a change there can
    // make the text malformed rather than the signature wrong. Ten from the end lies
    // wholly inside the signature, where every bit counts.
    let mut forged: Vec<char> = issued.token.chars().collect();
    let inside_signature = forged.len() - 10;
    forged[inside_signature] = if forged[inside_signature] == 'A' { 'B' } else { 'A' };
    report(badge::verify(store, &forged.into_iter().collect::<String>(), today)?);

    step("the desk revokes the badge (lost), and the gate checks it again");
    badge::revoke(store, &demo_operator(), AttendeeId(record.id), "reported lost")?;
    report(badge::verify(store, &issued.token, today)?);

    step("what waits for the hub, and the audit trail");
    println!("    {} changes in the outbox", store.pending_outbox_count()?);
    for entry in store::audit_entries(store.conn(), Some(record.id), 5)? {
        println!("    {} {:<8} {}", entry.at, entry.action, entry.detail);
    }
    println!("\nTry it yourself: expo-kiosk --data-dir {} search 欧阳", store.data_dir().display());
    Ok(())
}

fn step(title: &str) {
    println!("\n▶ {title}");
}

fn report(outcome: Result<badge::Verified, expo_kiosk::credential::Invalid>) {
    match outcome {
        Ok(verified) => println!(
            "    ✔ valid: {} · {} · badge {}",
            verified.attendee.map(|a| a.name).unwrap_or_default(),
            verified.category,
            verified.claims.serial
        ),
        Err(invalid) => println!("    ✘ invalid: {}", invalid.as_str()),
    }
}
