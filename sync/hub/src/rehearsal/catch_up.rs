//! How long the venue takes to catch up with each fault, measured while it keeps working.
//!
//! When a fault ends, the rehearsal marks where every station's outbox stood (its highest
//! entry) and the hub's highest change seq. The venue has caught up with the fault once
//! (a) every change any station made before the end is at the hub (its outbox entry
//! acknowledged; changes the hub holds back because their station's clock runs ahead are
//! left out, as the books leave them out), and then (b) every station has pulled through
//! the hub's highest seq at the moment (a) came true, so it holds every change made
//! anywhere before the fault ended (and the few made since). The pull cursor shows it: a
//! full pull moves it to the hub's high-water mark whatever the station's role receives.
//! A station is back from a fault once its own changes from before the end are at the hub
//! and it has pulled through what the hub held at the end: its first round after it.
//!
//! The stations are read through read-only connections to their databases, every
//! [`SAMPLE_EVERY`] while a fault is not caught up, and not at all otherwise.
//!
//! The CPU spent from a fault's end until it is caught up is read with each sample: by
//! this process, which runs every station (what their catch-up cost), and by the whole
//! machine (whether the stations waited for a core rather than for the hub).

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use expo_sync::hlc::wall_clock_ms;
use expo_sync::validate::MAX_CLOCK_AHEAD_MS;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{cpu, RehearsalError};

/// The resolution of the catch-up figures.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// One station as read at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StationSample {
    /// The oldest outbox entry the hub has not acknowledged and can take (not held back
    /// for a clock running ahead); `None` when there is none.
    pub oldest_unpushed: Option<i64>,
    /// The station's pull cursor.
    pub cursor: i64,
}

/// CPU time used so far, in seconds: by this process (every station), and by the whole
/// machine (busy time summed over its cores).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    pub stations_s: f64,
    pub machine_busy_s: f64,
}

impl CpuTime {
    /// Now, as `/proc` tells it; zero for what it cannot tell (the figures then say 0).
    fn now() -> Self {
        Self {
            stations_s: cpu::process_seconds(std::process::id()).unwrap_or(0.0),
            machine_busy_s: cpu::machine_busy_seconds().unwrap_or(0.0),
        }
    }

    fn since(self, earlier: Self) -> Self {
        Self {
            stations_s: self.stations_s - earlier.stations_s,
            machine_busy_s: self.machine_busy_s - earlier.machine_busy_s,
        }
    }
}

/// One fault's end and how each station came through it.
#[derive(Clone, Debug)]
struct Mark {
    ended: Instant,
    cpu_at_end: CpuTime,
    /// CPU used when the last station caught up.
    cpu_caught_up: Option<CpuTime>,
    /// Each station's highest outbox entry when the fault ended.
    made_until: Vec<i64>,
    high_water_at_end: i64,
    /// Each station's changes from before the end are at the hub.
    pushed: Vec<bool>,
    back: Vec<Option<Instant>>,
    /// When (a) came true, and the hub's highest seq then.
    all_pushed: Option<(Instant, i64)>,
    caught_up: Vec<Option<Instant>>,
}

impl Mark {
    fn open(&self) -> bool {
        self.caught_up.iter().any(Option::is_none)
    }
}

/// How the venue came through one fault (times from its end).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultCatchUp {
    /// Until every change made anywhere before the end was at the hub.
    pub pushed_ms: Option<u64>,
    /// Until every station had pulled through what the hub held once they were.
    pub caught_up_ms: Option<u64>,
    /// The station that caught up last.
    pub last_station: Option<usize>,
    /// Per station, until it was back (see the module documentation).
    pub back_ms: Vec<Option<u64>>,
    /// CPU used from the end until caught up.
    pub cpu: Option<CpuTime>,
}

/// The catch-up of every fault so far, fed by samples of the stations and the hub.
#[derive(Clone, Debug, Default)]
pub struct CatchUp {
    marks: Vec<Mark>,
}

fn ms_since(start: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(start).as_millis() as u64
}

impl CatchUp {
    /// A fault ended at `ended`, with each station's outbox at `made_until`, the hub's
    /// highest seq at `high_water` and the CPU used so far at `cpu`. Faults are numbered
    /// in the order they are marked.
    pub fn mark(&mut self, ended: Instant, made_until: Vec<i64>, high_water: i64, cpu: CpuTime) {
        let stations = made_until.len();
        self.marks.push(Mark {
            ended,
            cpu_at_end: cpu,
            cpu_caught_up: None,
            made_until,
            high_water_at_end: high_water,
            pushed: vec![false; stations],
            back: vec![None; stations],
            all_pushed: None,
            caught_up: vec![None; stations],
        });
    }

    /// Whether some fault is not caught up yet.
    pub fn open(&self) -> bool {
        self.marks.iter().any(Mark::open)
    }

    /// Whether station `index` still has a fault to catch up with (worth reading).
    pub fn wants(&self, index: usize) -> bool {
        self.marks.iter().any(|m| m.caught_up.get(index).is_some_and(Option::is_none))
    }

    /// The stations as read at `now` (`None`: not read, or unreadable this time), then the
    /// hub's highest seq, read after them, and the CPU used so far.
    pub fn observe(
        &mut self,
        now: Instant,
        stations: &[Option<StationSample>],
        high_water: i64,
        cpu: CpuTime,
    ) {
        for mark in self.marks.iter_mut().filter(|m| m.open()) {
            for (index, sample) in stations.iter().enumerate() {
                let Some(sample) = sample else { continue };
                let Some(&made_until) = mark.made_until.get(index) else { continue };
                if !mark.pushed[index] {
                    mark.pushed[index] =
                        sample.oldest_unpushed.is_none_or(|oldest| oldest > made_until);
                }
                if mark.pushed[index]
                    && mark.back[index].is_none()
                    && sample.cursor >= mark.high_water_at_end
                {
                    mark.back[index] = Some(now);
                }
            }
            if mark.all_pushed.is_none() && mark.pushed.iter().all(|&p| p) {
                mark.all_pushed = Some((now, high_water));
            }
            let Some((_, through)) = mark.all_pushed else { continue };
            for (index, sample) in stations.iter().enumerate() {
                if let (Some(sample), Some(None)) = (sample, mark.caught_up.get(index)) {
                    if sample.cursor >= through {
                        mark.caught_up[index] = Some(now);
                    }
                }
            }
            if !mark.open() {
                mark.cpu_caught_up = Some(cpu);
            }
        }
    }

    /// The figures of the `fault`-th fault marked.
    pub fn outcome(&self, fault: usize) -> Option<FaultCatchUp> {
        let mark = self.marks.get(fault)?;
        let since = |at: Instant| ms_since(mark.ended, at);
        let last = mark.caught_up.iter().enumerate().try_fold(None, |last, (index, at)| {
            let at = (*at)?;
            Some(match last {
                Some((_, latest)) if latest >= at => last,
                _ => Some((index, at)),
            })
        });
        let last = last.flatten();
        Some(FaultCatchUp {
            pushed_ms: mark.all_pushed.map(|(at, _)| since(at)),
            caught_up_ms: last.map(|(_, at)| since(at)),
            last_station: last.map(|(index, _)| index),
            back_ms: mark.back.iter().map(|at| at.map(since)).collect(),
            cpu: mark.cpu_caught_up.map(|used| used.since(mark.cpu_at_end)),
        })
    }
}

/// Reads one station: its oldest pushable unacknowledged outbox entry and its cursor.
fn read_station(conn: &Connection) -> rusqlite::Result<StationSample> {
    // Held back: stamped further ahead of the hub's clock than it accepts. HLC text
    // starts with the wall clock in fixed width, so text order is time order.
    let admissible = format!("{:015}", wall_clock_ms().saturating_add(MAX_CLOCK_AHEAD_MS));
    let oldest_unpushed = conn
        .prepare_cached("SELECT min(seq) FROM outbox WHERE acked = 0 AND hlc < ?1")?
        .query_row([admissible], |r| r.get(0))?;
    let cursor: Option<String> = conn
        .prepare_cached("SELECT value FROM sync_state WHERE key = 'pull_cursor'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(StationSample { oldest_unpushed, cursor: cursor.and_then(|c| c.parse().ok()).unwrap_or(0) })
}

fn read_made_until(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM outbox")?.query_row([], |r| r.get(0))
}

enum Command {
    /// A fault ended at this moment.
    Mark(Instant),
    /// The run is over: one last look, and the figures.
    Finish,
}

/// The thread that watches the stations and the hub after each fault.
pub struct Sampler {
    commands: Sender<Command>,
    thread: JoinHandle<CatchUp>,
}

/// How the sampler reads the hub's highest change seq (`None`: not this time).
pub type HighWater = Box<dyn FnMut() -> Option<i64> + Send>;

impl Sampler {
    /// Watches the stations whose stores are in `station_dirs` (in the order the figures
    /// number them).
    pub fn start(
        station_dirs: Vec<PathBuf>,
        high_water: HighWater,
    ) -> Result<Self, RehearsalError> {
        let (commands, received) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("rehearsal-catch-up".into())
            .spawn(move || sample(&station_dirs, high_water, &received))
            .map_err(|e| RehearsalError::Io(format!("starting the catch-up sampler: {e}")))?;
        Ok(Self { commands, thread })
    }

    /// A fault ended now.
    pub fn fault_ended(&self) {
        // The thread ends only on `Finish` (or a panic, which `finish` reports).
        let _ = self.commands.send(Command::Mark(Instant::now()));
    }

    /// Takes a last look at the stations and returns the figures.
    pub fn finish(self) -> Result<CatchUp, RehearsalError> {
        let _ = self.commands.send(Command::Finish);
        self.thread.join().map_err(|_| RehearsalError::Io("the catch-up sampler panicked".into()))
    }
}

/// The stations' databases, each opened read-only when first read.
struct Stores<'a> {
    dirs: &'a [PathBuf],
    connections: Vec<Option<Connection>>,
}

impl Stores<'_> {
    /// `read` on station `index`'s database; `None` when it cannot be opened or read.
    fn read<T>(&mut self, index: usize, read: fn(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let slot = self.connections.get_mut(index)?;
        if slot.is_none() {
            *slot = Connection::open_with_flags(
                self.dirs[index].join("station.db"),
                OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .ok();
        }
        read(slot.as_ref()?).ok()
    }
}

fn sample(dirs: &[PathBuf], mut high_water: HighWater, commands: &Receiver<Command>) -> CatchUp {
    let mut stores = Stores { dirs, connections: dirs.iter().map(|_| None).collect() };
    let mut catch_up = CatchUp::default();
    loop {
        // Idle until a fault ends; while one is not caught up, a look every SAMPLE_EVERY.
        let command = if catch_up.open() {
            commands.recv_timeout(SAMPLE_EVERY)
        } else {
            commands.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        let finishing = match command {
            Ok(Command::Mark(ended)) => {
                let made_until: Vec<i64> = (0..dirs.len())
                    .map(|index| stores.read(index, read_made_until).unwrap_or(i64::MAX))
                    .collect();
                // Without the hub's mark the fault cannot be judged: it stays not caught up.
                let hub = high_water().unwrap_or(i64::MAX);
                catch_up.mark(ended, made_until, hub, CpuTime::now());
                false
            }
            Ok(Command::Finish) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        };
        if catch_up.open() {
            let stations: Vec<Option<StationSample>> = (0..dirs.len())
                .map(|index| {
                    catch_up.wants(index).then(|| stores.read(index, read_station)).flatten()
                })
                .collect();
            if let Some(hub) = high_water() {
                catch_up.observe(Instant::now(), &stations, hub, CpuTime::now());
            }
        }
        if finishing {
            return catch_up;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// CPU used by `ms` into a test: the stations one core, the machine both.
    fn cpu(ms: u64) -> CpuTime {
        CpuTime { stations_s: ms as f64 / 1000.0, machine_busy_s: ms as f64 / 500.0 }
    }

    fn station(oldest_unpushed: Option<i64>, cursor: i64) -> Option<StationSample> {
        Some(StationSample { oldest_unpushed, cursor })
    }

    #[test]
    fn a_fault_is_caught_up_once_every_earlier_change_is_at_the_hub_and_pulled_everywhere() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut catch_up = CatchUp::default();
        // Station 0 had made entries up to 10, station 1 up to 4; the hub held seq 100.
        catch_up.mark(at(0), vec![10, 4], 100, cpu(0));
        // Station 0 still has entry 7 to push; station 1 pushed everything and pulled.
        catch_up.observe(at(500), &[station(Some(7), 90), station(None, 100)], 101, cpu(500));
        // Station 0 pushed up to 10 (11 is newer than the fault), pulled to the end mark.
        catch_up.observe(at(1000), &[station(Some(11), 100), station(None, 101)], 120, cpu(1000));
        // (a) came true at 1000 with the hub at 120: station 1 is there first.
        catch_up.observe(at(1500), &[station(None, 110), station(None, 125)], 130, cpu(1500));
        assert!(catch_up.open());
        catch_up.observe(at(2250), &[station(None, 120), None], 140, cpu(2250));
        assert!(!catch_up.open());
        let figures = catch_up.outcome(0).unwrap();
        assert_eq!(figures.pushed_ms, Some(1000));
        assert_eq!(figures.caught_up_ms, Some(2250));
        assert_eq!(figures.last_station, Some(0));
        assert_eq!(figures.back_ms, vec![Some(1000), Some(500)]);
        assert_eq!(figures.cpu, Some(CpuTime { stations_s: 2.25, machine_busy_s: 4.5 }));
    }

    #[test]
    fn a_station_that_never_catches_up_leaves_its_fault_open_and_unread_stations_count_nothing() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut catch_up = CatchUp::default();
        catch_up.mark(at(0), vec![3, 3], 50, cpu(0));
        // Station 1 cannot be read: the pushes are not known to be done.
        catch_up.observe(at(100), &[station(None, 60), None], 60, cpu(100));
        let figures = catch_up.outcome(0).unwrap();
        assert_eq!((figures.pushed_ms, figures.caught_up_ms), (None, None));
        assert!(catch_up.wants(1) && catch_up.wants(0));
        // Station 1 pushed but its pulls stay behind: not caught up, no last station.
        catch_up.observe(at(200), &[station(None, 70), station(Some(4), 10)], 70, cpu(200));
        let figures = catch_up.outcome(0).unwrap();
        assert_eq!(figures.pushed_ms, Some(200));
        assert_eq!((figures.caught_up_ms, figures.last_station), (None, None));
        assert_eq!(figures.cpu, None);
        assert_eq!(figures.back_ms, vec![Some(100), None]);
        assert!(!catch_up.wants(0) && catch_up.wants(1));
        assert!(catch_up.outcome(1).is_none());
    }

    #[test]
    fn a_later_fault_is_judged_against_its_own_end() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut catch_up = CatchUp::default();
        catch_up.mark(at(0), vec![5], 10, cpu(0));
        catch_up.observe(at(300), &[station(None, 10)], 10, cpu(300));
        catch_up.mark(at(1000), vec![8], 20, cpu(1000));
        catch_up.observe(at(1200), &[station(Some(8), 20)], 25, cpu(1200));
        catch_up.observe(at(1700), &[station(None, 25)], 25, cpu(1700));
        assert_eq!(catch_up.outcome(0).unwrap().caught_up_ms, Some(300));
        let second = catch_up.outcome(1).unwrap();
        assert_eq!((second.pushed_ms, second.caught_up_ms), (Some(700), Some(700)));
        assert_eq!(second.back_ms, vec![Some(700)]);
        assert_eq!(second.cpu, Some(CpuTime { stations_s: 0.7, machine_busy_s: 1.4 }));
    }

    #[test]
    fn a_station_store_is_read_for_its_unpushed_entries_and_cursor_leaving_out_held_back_ones() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, change_id TEXT, hlc TEXT, kind TEXT,
                entity TEXT, change TEXT, acked INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT);",
        )
        .unwrap();
        assert_eq!(
            read_station(&conn).unwrap(),
            StationSample { oldest_unpushed: None, cursor: 0 }
        );
        assert_eq!(read_made_until(&conn).unwrap(), 0);
        let now = wall_clock_ms();
        let far_ahead = now + MAX_CLOCK_AHEAD_MS + 60_000;
        for (seq, wall, acked) in [(1, now, 1), (2, far_ahead, 0), (3, now, 0)] {
            conn.execute(
                "INSERT INTO outbox (seq, hlc, acked) VALUES (?1, ?2, ?3)",
                rusqlite::params![seq, format!("{wall:015}-0000000000-s"), acked],
            )
            .unwrap();
        }
        conn.execute("INSERT INTO sync_state VALUES ('pull_cursor', '42')", []).unwrap();
        assert_eq!(
            read_station(&conn).unwrap(),
            StationSample { oldest_unpushed: Some(3), cursor: 42 }
        );
        assert_eq!(read_made_until(&conn).unwrap(), 3);
    }
}
