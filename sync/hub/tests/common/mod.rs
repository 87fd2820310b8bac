//! Test harness shared by the hub suites: in-process hubs on loopback over SQLite or
//! PostgreSQL, a fault-injecting TCP proxy, change builders and an in-memory station.

#![allow(dead_code)] // each test binary uses a different part of the harness

mod no_credential;
mod proxy;
#[allow(unused_imports)] // as above
pub use no_credential::assert_no_credential;
#[allow(unused_imports)] // as above
pub use proxy::{Faults, FaultyProxy};

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use expo_hub::enrolment;
use expo_hub::postgres::PostgresStore;
use expo_hub::server::{serve, HubConfig};
use expo_hub::sqlite::SqliteStore;
use expo_hub::HubStore;
use expo_sync::hlc::{Hlc, HlcClock};
use expo_sync::protocol::{AttendeeRecord, BadgeRecord, Change, GateDecisionRecord, Record};
use expo_sync::station::StationOutbox;
use expo_sync::StationRole;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Runs each test function, given a fresh [`TestHub`], on SQLite and on PostgreSQL (when
/// `EXPO_TEST_PG_URL` is set): `common::hub_suite!(test_a, test_b)`.
#[allow(unused_macros)] // not every test binary runs a suite
macro_rules! hub_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $test() { super::$test(super::common::sqlite_hub()) })*
        }
        mod postgres {
            $(#[test] fn $test() {
                if let Some(hub) = super::common::postgres_hub() { super::$test(hub) }
            })*
        }
    };
}
#[allow(unused_imports)] // not every test binary runs a suite
pub(crate) use hub_suite;

/// A hub serving `store` on 127.0.0.1 from its own runtime, so tests stay blocking.
pub struct TestHub<S: HubStore> {
    pub runtime: tokio::runtime::Runtime,
    pub store: Arc<S>,
    pub url: String,
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    /// Keeps the SQLite file (or nothing) alive as long as the hub.
    _dir: Option<tempfile::TempDir>,
}

impl<S: HubStore> TestHub<S> {
    pub fn start(runtime: tokio::runtime::Runtime, store: S, config: HubConfig) -> Self {
        Self::start_with(runtime, Arc::new(store), config, None)
    }

    pub fn start_with(
        runtime: tokio::runtime::Runtime,
        store: Arc<S>,
        config: HubConfig,
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        runtime.spawn(serve(listener, Arc::clone(&store), config, async {
            let _ = stop.await;
        }));
        Self {
            runtime,
            store,
            url: format!("http://{addr}"),
            addr,
            shutdown: Some(shutdown),
            _dir: dir,
        }
    }

    /// Registers a station and returns its one-time code (what `station add` prints).
    pub fn station_code(&self, name: &str) -> String {
        self.runtime
            .block_on(enrolment::add_station(self.store.as_ref(), name, role_of(name)))
            .unwrap()
    }

    /// Adds and enrols a station; returns its credential.
    pub fn enrolled(&self, name: &str) -> String {
        let code = self.station_code(name);
        expo_sync::client::enrol(&self.url, &code, name, &expo_sync::client::HubTrust::default())
            .unwrap()
            .token
    }

    pub fn client(&self, name: &str) -> expo_sync::client::HubClient {
        expo_sync::client::HubClient::new(&self.url, &self.enrolled(name))
    }

    /// The database file of a hub on SQLite.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self._dir.as_ref().map(|dir| dir.path().join("hub.db"))
    }

    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl<S: HubStore> Drop for TestHub<S> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The role a test station enrols in, by its name: `gate-…`, `kiosk-…`, `admin-…` or
/// `office` (the organiser's admin station), and a desk otherwise. Its station id is its
/// name, as [`Station`] stamps it.
pub fn role_of(name: &str) -> StationRole {
    if name.starts_with("gate") {
        StationRole::Gate
    } else if name.starts_with("kiosk") {
        StationRole::Kiosk
    } else if name.starts_with("admin") || name == "office" {
        StationRole::Admin
    } else {
        StationRole::Desk
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

pub fn small_limits() -> HubConfig {
    HubConfig {
        body_limit: 256 * 1024,
        request_timeout: Duration::from_secs(10),
        max_pull_limit: 500,
        station_quota: 2000,
        ..HubConfig::default()
    }
}

pub fn sqlite_hub() -> TestHub<SqliteStore> {
    sqlite_hub_with(small_limits())
}

pub fn sqlite_hub_with(config: HubConfig) -> TestHub<SqliteStore> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("hub.db")).unwrap();
    TestHub::start_with(runtime(), Arc::new(store), config, Some(dir))
}

/// The PostgreSQL server of `EXPO_TEST_PG_URL`, or `None` (with a notice) when unset. In
/// CI (`CI` set) an unset URL fails the test: a suite that passes by skipping its service
/// hides a broken CI set-up.
pub fn postgres_url() -> Option<String> {
    match std::env::var("EXPO_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but EXPO_TEST_PG_URL is not: the PostgreSQL hub tests cannot run")
        }
        _ => {
            eprintln!(
                "NOTICE: EXPO_TEST_PG_URL is unset: PostgreSQL hub test skipped \
                 (see sync/hub/scripts/start-test-postgres.sh)"
            );
            None
        }
    }
}

/// Creates a fresh database on the test server and returns its URL, so tests running in
/// parallel never share rows.
pub fn fresh_postgres_url(runtime: &tokio::runtime::Runtime, url: &str) -> String {
    let admin: tokio_postgres::Config = url.parse().unwrap();
    let name = format!("expo_test_{}", Uuid::now_v7().simple());
    runtime.block_on(async {
        let (client, connection) = admin.connect(tokio_postgres::NoTls).await.unwrap();
        let driver = tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        drop(client);
        let _ = driver.await;
    });
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

pub fn postgres_hub() -> Option<TestHub<PostgresStore>> {
    postgres_hub_with(small_limits())
}

pub fn postgres_hub_with(config: HubConfig) -> Option<TestHub<PostgresStore>> {
    let url = postgres_url()?;
    let runtime = runtime();
    let url = fresh_postgres_url(&runtime, &url);
    let store = runtime.block_on(PostgresStore::connect(&url, 8)).unwrap();
    Some(TestHub::start_with(runtime, Arc::new(store), config, None))
}

/// A hub instance with its own runtime, pool and listener over the database at `url`.
pub fn postgres_hub_on(url: &str) -> TestHub<PostgresStore> {
    let runtime = runtime();
    let store = runtime.block_on(PostgresStore::connect(url, 8)).unwrap();
    TestHub::start_with(runtime, Arc::new(store), small_limits(), None)
}

/// Builds changes of one station with a real HLC.
pub struct Station {
    pub name: String,
    clock: HlcClock,
    wall_ms: u64,
}

impl Station {
    pub fn new(name: &str) -> Self {
        Self { name: name.into(), clock: HlcClock::new(name), wall_ms: 1_700_000_000_000 }
    }

    pub fn tick(&mut self) -> Hlc {
        self.wall_ms += 1;
        self.clock.tick(self.wall_ms)
    }

    pub fn change(&mut self, record: Record) -> Change {
        Change {
            id: Uuid::now_v7(),
            station: self.name.clone(),
            hlc: self.tick(),
            record,
            pushed_by: None,
        }
    }

    pub fn attendee(&mut self, id: Uuid, name: &str, id_hash: Option<&str>) -> Change {
        self.change(Record::Attendee(attendee_record(id, name, id_hash)))
    }

    pub fn badge(&mut self, attendee: Uuid, serial: u32, status: &str) -> Change {
        self.change(Record::Badge(BadgeRecord {
            attendee_id: attendee,
            serial,
            status: status.into(),
            reason: None,
            issued_at: "2025-05-01T09:00:00Z".into(),
            changed_at: "2025-05-01T09:00:00Z".into(),
            operator: "op-1".into(),
        }))
    }

    pub fn gate(&mut self, attendee: Uuid, granted: bool) -> Change {
        let id = Uuid::now_v7();
        self.change(Record::GateDecision(GateDecisionRecord {
            id,
            attendee_id: Some(attendee),
            badge_serial: Some(1),
            gate: "north".into(),
            lane: "1".into(),
            zone: "hall".into(),
            direction: "in".into(),
            granted,
            reason: if granted { "ok".into() } else { "revoked".into() },
            at: "2025-05-01T09:05:00Z".into(),
            annulled: false,
        }))
    }
}

pub fn attendee_record(id: Uuid, name: &str, id_hash: Option<&str>) -> AttendeeRecord {
    AttendeeRecord {
        id,
        registration_code: None,
        name: name.into(),
        company: "ACME".into(),
        title: "Engineer".into(),
        phone: "+86 21 5555 0000".into(),
        email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
        country: "CN".into(),
        category: "visitor".into(),
        source: "walk_in".into(),
        id_type: id_hash.map(|_| "resident_id".into()),
        id_masked: id_hash.map(|_| "3101**********128X".into()),
        id_hash: id_hash.map(str::to_owned),
        id_sealed: id_hash.map(|_| "c2VhbGVkLXNlY3JldA==".into()),
        consent: true,
        tags: vec!["vip".into(), "press".into()],
        created_at: "2025-05-01T09:00:00Z".into(),
        updated_at: "2025-05-01T09:00:00Z".into(),
        merged_into: None,
        chinese_name: String::new(),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("injected store failure")]
pub struct InjectedFailure;

/// An in-memory station store: an outbox, the remote changes applied (by entity key,
/// last writer wins by HLC) and a cursor. `fail_next_ack` simulates a station killed
/// after the hub stored a batch but before the station recorded the acknowledgement.
#[derive(Default)]
pub struct MemoryOutbox {
    state: Mutex<MemoryState>,
    pub fail_next_ack: AtomicBool,
    pub applied_pages: AtomicU64,
}

#[derive(Default)]
pub struct MemoryState {
    pub outbox: BTreeMap<Uuid, Change>,
    /// Every remote change id applied, with how many times (must stay 1 per page replay-free round).
    pub remote_ids: HashMap<Uuid, u32>,
    pub remote_state: BTreeMap<String, Change>,
    pub cursor: i64,
}

impl MemoryOutbox {
    pub fn with(changes: impl IntoIterator<Item = Change>) -> Self {
        let outbox = Self::default();
        outbox.add(changes);
        outbox
    }

    pub fn add(&self, changes: impl IntoIterator<Item = Change>) {
        let mut state = self.state.lock().unwrap();
        for change in changes {
            state.outbox.insert(change.id, change);
        }
    }

    pub fn state<T>(&self, read: impl FnOnce(&MemoryState) -> T) -> T {
        read(&self.state.lock().unwrap())
    }
}

impl StationOutbox for MemoryOutbox {
    type Error = InjectedFailure;

    fn pending(&self, limit: usize) -> Result<Vec<Change>, InjectedFailure> {
        // UUIDv7 order is creation order.
        Ok(self.state.lock().unwrap().outbox.values().take(limit).cloned().collect())
    }

    fn pending_count(&self) -> Result<u64, InjectedFailure> {
        Ok(self.state.lock().unwrap().outbox.len() as u64)
    }

    fn mark_acked(&self, ids: &[Uuid]) -> Result<(), InjectedFailure> {
        if self.fail_next_ack.swap(false, Ordering::SeqCst) {
            return Err(InjectedFailure);
        }
        let mut state = self.state.lock().unwrap();
        for id in ids {
            state.outbox.remove(id);
        }
        Ok(())
    }

    fn apply_remote(&self, changes: &[Change], next_cursor: i64) -> Result<(), InjectedFailure> {
        let mut state = self.state.lock().unwrap();
        for change in changes {
            *state.remote_ids.entry(change.id).or_default() += 1;
            let key = change.record.entity_key();
            let newer = state.remote_state.get(&key).is_none_or(|known| known.hlc < change.hlc);
            if newer {
                state.remote_state.insert(key, change.clone());
            }
        }
        state.cursor = next_cursor;
        self.applied_pages.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn cursor(&self) -> Result<i64, InjectedFailure> {
        Ok(self.state.lock().unwrap().cursor)
    }
}

/// Returns once `count` long-polls wait at the hub at `url` (its `/metrics` gauge), asked
/// with a station's `token`: a test pushes after a follower is surely waiting.
pub fn await_waiting_requests(url: &str, token: &str, count: usize) {
    let expected = format!("expo_hub_waiting_requests {count}\n");
    loop {
        let metrics = ureq::get(format!("{url}/metrics"))
            .header("authorization", format!("Bearer {token}"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        if metrics.contains(&expected) {
            return;
        }
        std::thread::yield_now();
    }
}
