//! `expo-kiosk gate bench`: the gate's figures, measured through pseudo-terminals with the
//! real scanner reader, relay driver, decision engine and store (a real file, WAL,
//! `synchronous=FULL`). Run it from a release build: `cargo run --release -- gate bench`.
//!
//! - latency: a scanner simulator writes a badge line at t0; a relay board on the far end
//!   of the relay's pseudo-terminal timestamps the ON frame at t1; t1 - t0 includes the
//!   SQLite commit of the decision and its outbox row.
//! - throughput: every lane's scanner writes its badges back to back; decisions per second
//!   until the last one is logged, for one lane and for eight.
//! - engine: `access::decide` alone (signature check included) on in-memory knowledge.

use std::io::Read;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clap::Args;
use ed25519_dalek::{SigningKey, VerifyingKey};
use expo_hardware::pty::PtySimulator;
use expo_hardware::relay::lcus;
use expo_hardware::scanner::{ScannerSimulator, Terminator};
use expo_kiosk::access::{
    self, AttendeeState, Direction, GateContext, Knowledge, StateUnavailable,
};
use expo_kiosk::credential::{self, BadgeClaims, Trust};
use expo_kiosk::domain::{AttendeeId, EventDefinition};
use expo_kiosk::gate::{Clock, Gate, GateConfig, LaneVerdict};
use expo_kiosk::provisioning;
use expo_kiosk::store::Store;
use serde::Serialize;
use uuid::Uuid;

const EXAMPLE_EVENT: &str = include_str!("../../../assets/events/example-event.toml");
/// Noon on the second show day in Shanghai (04:00 UTC): every category may enter forum-a.
const BENCH_NOON_UTC: (i32, u32, u32, u32) = (2026, 11, 25, 4);

#[derive(Args)]
pub struct GateBenchArgs {
    /// Scans timed one by one for the latency figures.
    #[arg(long, default_value_t = 1_000)]
    scans: usize,
    /// Scans for each throughput run (split across the lanes).
    #[arg(long, default_value_t = 4_000)]
    burst: usize,
    /// Decisions for the engine-only figure.
    #[arg(long, default_value_t = 20_000)]
    engine: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Figures {
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    latency_8_lanes_p99_ms: f64,
    decisions_per_s_1_lane: f64,
    decisions_per_s_8_lanes: f64,
    engine_decisions_per_s: f64,
}

pub fn run(args: GateBenchArgs) -> Result<ExitCode> {
    if args.scans == 0 || args.burst < 8 || args.engine == 0 {
        bail!("--scans and --engine must be positive and --burst at least 8");
    }
    let engine = engine_rate(args.engine)?;
    eprintln!("engine: {engine:.0} decisions/s");
    let badge_count = args.scans + args.burst;
    let mut single = Rig::new(1, badge_count)?;
    let latencies = single.paced_latencies(args.scans)?;
    eprintln!("1 lane latency measured over {} scans", latencies.len());
    let one_lane = single.burst_rate(args.burst)?;
    drop(single);
    let mut eight = Rig::new(8, badge_count)?;
    let eight_latencies = eight.paced_latencies(args.scans)?;
    let eight_lanes = eight.burst_rate(args.burst)?;
    let figures = Figures {
        latency_p50_ms: percentile_ms(&latencies, 0.50),
        latency_p99_ms: percentile_ms(&latencies, 0.99),
        latency_max_ms: percentile_ms(&latencies, 1.0),
        latency_8_lanes_p99_ms: percentile_ms(&eight_latencies, 0.99),
        decisions_per_s_1_lane: one_lane,
        decisions_per_s_8_lanes: eight_lanes,
        engine_decisions_per_s: engine,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!("| measure | result | target |\n|---|---|---|");
        println!(
            "| scan line → relay command written, incl. SQLite log, 1 lane | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms | p99 ≤ 5 ms |",
            figures.latency_p50_ms, figures.latency_p99_ms, figures.latency_max_ms
        );
        println!(
            "| same, 8 lanes scanning in turn | p99 {:.2} ms | p99 ≤ 5 ms |",
            figures.latency_8_lanes_p99_ms
        );
        println!(
            "| decisions per second, one lane, sustained | {:.0} | ≥ 2,000 |",
            figures.decisions_per_s_1_lane
        );
        println!(
            "| decisions per second, 8 lanes | {:.0} | ≥ 2,000 |",
            figures.decisions_per_s_8_lanes
        );
        println!(
            "| decision engine alone (Ed25519 verify + rules) | {:.0} / s | |",
            figures.engine_decisions_per_s
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn percentile_ms(samples: &[Duration], quantile: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((sorted.len() as f64 - 1.0) * quantile).round() as usize;
    sorted.get(index).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

struct PinnedClock(DateTime<Utc>);

impl Clock for PinnedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn bench_noon() -> Result<DateTime<Utc>> {
    let (y, m, d, h) = BENCH_NOON_UTC;
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().context("bench time")
}

/// Badges for fresh attendees of the organiser category, signed by `key`.
fn badges(event: &EventDefinition, key: &SigningKey, count: usize) -> Result<Vec<String>> {
    let (category_code, _) = event.category("organizer").context("example event category")?;
    Ok((0..count)
        .map(|_| {
            let claims = BadgeClaims {
                key_id: credential::key_id(&key.verifying_key()),
                event_tag: credential::event_tag(&event.event.id),
                attendee: AttendeeId(Uuid::now_v7()),
                serial: 1,
                category_code,
                valid_from: event.event.start,
                valid_to: event.event.end,
            };
            credential::sign(&claims, key)
        })
        .collect())
}

/// The far end of a relay board's port: timestamps every ON frame it receives.
struct RelayTap {
    board: PtySimulator,
    on_frames: Receiver<Instant>,
}

impl RelayTap {
    fn spawn() -> Result<Self> {
        let (sender, on_frames) = mpsc::channel();
        let board = PtySimulator::spawn("bench-relay", move |mut port, stop| {
            let mut pending = Vec::new();
            let mut chunk = [0u8; 64];
            while !stop.load(Ordering::Relaxed) {
                let read = match port.read(&mut chunk) {
                    Ok(n) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::Interrupted
                        ) =>
                    {
                        continue
                    }
                    Err(_) => return,
                };
                let at = Instant::now();
                pending.extend_from_slice(&chunk[..read]);
                while pending.len() >= 4 {
                    if let Ok((_, true)) = lcus::decode(&pending[..4]) {
                        if sender.send(at).is_err() {
                            return;
                        }
                    }
                    pending.drain(..4);
                }
            }
        })?;
        Ok(Self { board, on_frames })
    }
}

/// A station, a gate of `lanes` lanes on pseudo-terminals, and badges to scan.
struct Rig {
    gate: Option<Gate>,
    scanners: Vec<ScannerSimulator>,
    relays: Vec<RelayTap>,
    badges: Vec<String>,
    used: usize,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn new(lanes: usize, badge_count: usize) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut store = Store::open(dir.path())?;
        provisioning::init(
            &mut store,
            &expo_kiosk::operators::Operator::admin("bench"),
            EXAMPLE_EVENT,
        )?;
        let event = store.event()?;
        let key = event.signing_key.clone().context("the bench station signs its badges")?;
        let badges = badges(&event.definition, &key, badge_count + lanes)?;
        let mut scanners = Vec::new();
        let mut relays = Vec::new();
        let mut config = String::from("gate = \"bench\"\n");
        for lane in 0..lanes {
            let scanner = ScannerSimulator::new(Terminator::Cr)?;
            let relay = RelayTap::spawn()?;
            config.push_str(&format!(
                "[[relays]]\nid = \"board-{lane}\"\npath = \"{}\"\nprotocol = \"lcus\"\n\
                 [[lanes]]\nid = \"lane-{lane}\"\nzone = \"forum-a\"\ndirection = \"in\"\n\
                 relay = \"board-{lane}\"\nchannel = 1\npulse_ms = 100\ndeny_pulse_ms = 100\n\
                 scanner = {{ kind = \"serial\", path = \"{}\", debounce_ms = 0 }}\n",
                relay.board.path(),
                scanner.path()
            ));
            scanners.push(scanner);
            relays.push(relay);
        }
        let config = GateConfig::from_toml(&config, &event.definition)?;
        let gate = Gate::start(store, config, Arc::new(PinnedClock(bench_noon()?)))?;
        let mut rig = Rig { gate: Some(gate), scanners, relays, badges, used: 0, _dir: dir };
        // The drivers close every channel on start; wait for the readers to be up too.
        std::thread::sleep(Duration::from_millis(300));
        rig.warm_up()?;
        Ok(rig)
    }

    fn gate(&self) -> Result<&Gate> {
        self.gate.as_ref().context("gate stopped")
    }

    fn next_badge(&mut self) -> Result<String> {
        let badge = self.badges.get(self.used).cloned().context("the bench ran out of badges")?;
        self.used += 1;
        Ok(badge)
    }

    fn warm_up(&mut self) -> Result<()> {
        for lane in 0..self.scanners.len() {
            let badge = self.next_badge()?;
            self.scan_and_time(lane, &badge)?;
        }
        Ok(())
    }

    /// Scans one badge on `lane` and waits for its ON frame and its verdict.
    fn scan_and_time(&mut self, lane: usize, badge: &str) -> Result<Duration> {
        let started = Instant::now();
        self.scanners[lane].scan(badge)?;
        let opened = self.relays[lane]
            .on_frames
            .recv_timeout(Duration::from_secs(5))
            .context("the relay never opened")?;
        let verdict = self.gate()?.verdicts().recv_timeout(Duration::from_secs(5))?;
        if !verdict.granted {
            bail!("bench badge denied: {:?}", verdict.reason);
        }
        Ok(opened.saturating_duration_since(started))
    }

    /// Scans one at a time, lanes in turn, a few ms apart like a real queue (not saturated).
    fn paced_latencies(&mut self, scans: usize) -> Result<Vec<Duration>> {
        let mut latencies = Vec::with_capacity(scans);
        for i in 0..scans {
            let badge = self.next_badge()?;
            latencies.push(self.scan_and_time(i % self.scanners.len(), &badge)?);
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(latencies)
    }

    /// Every lane writes its share back to back; decisions per second until all are logged.
    fn burst_rate(&mut self, total: usize) -> Result<f64> {
        let lanes = self.scanners.len();
        let per_lane = total / lanes;
        let mut shares = Vec::new();
        for _ in 0..lanes {
            let share = (0..per_lane).map(|_| self.next_badge()).collect::<Result<Vec<_>>>()?;
            shares.push(share);
        }
        let started = Instant::now();
        std::thread::scope(|scope| -> Result<f64> {
            let writers: Vec<_> = self
                .scanners
                .iter_mut()
                .zip(&shares)
                .map(|(scanner, share)| {
                    scope.spawn(move || -> std::io::Result<()> {
                        for badge in share {
                            scanner.scan(badge)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            let verdicts: &Receiver<LaneVerdict> =
                self.gate.as_ref().context("gate stopped")?.verdicts();
            for received in 0..per_lane * lanes {
                let verdict = verdicts
                    .recv_timeout(Duration::from_secs(10))
                    .with_context(|| format!("only {received} decisions arrived"))?;
                if !verdict.granted {
                    bail!("bench badge denied: {:?}", verdict.reason);
                }
            }
            let rate = (per_lane * lanes) as f64 / started.elapsed().as_secs_f64();
            for writer in writers {
                writer.join().map_err(|_| anyhow::anyhow!("scanner writer panicked"))??;
            }
            Ok(rate)
        })
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            if let Err(error) = gate.stop() {
                eprintln!("gate did not stop cleanly: {error}");
            }
        }
    }
}

/// In-memory knowledge: one trusted key, nobody inside, no revocations.
struct BenchKnowledge {
    event_tag: u32,
    key: VerifyingKey,
}

impl Trust for BenchKnowledge {
    fn event_tag(&self) -> u32 {
        self.event_tag
    }
    fn verifying_key(&self, key_id: u32) -> Option<VerifyingKey> {
        (credential::key_id(&self.key) == key_id).then_some(self.key)
    }
    fn is_revoked(&self, _: AttendeeId, _: u16) -> bool {
        false
    }
}

impl Knowledge for BenchKnowledge {
    fn attendee_state(
        &self,
        _: AttendeeId,
        _: &str,
        _: NaiveDate,
    ) -> Result<AttendeeState, StateUnavailable> {
        Ok(AttendeeState::default())
    }
    fn is_pending_registration(&self, _: &str) -> bool {
        false
    }
}

fn engine_rate(count: usize) -> Result<f64> {
    let event = EventDefinition::from_toml(EXAMPLE_EVENT)?;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let badges = badges(&event, &key, count.min(2_000))?;
    let knowledge = BenchKnowledge {
        event_tag: credential::event_tag(&event.event.id),
        key: key.verifying_key(),
    };
    let at = bench_noon()?.with_timezone(&event.timezone()).naive_local();
    let gate = GateContext { zone: "hall-1", direction: Direction::In };
    let started = Instant::now();
    for badge in badges.iter().cycle().take(count) {
        let decision = access::decide(badge, gate, at, &event, &knowledge);
        if !decision.granted() {
            bail!("engine bench badge denied: {:?}", decision.reason);
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}
