//! Held pulls (`GET /v1/pull?wait=S`) and the station worker that uses them, against a
//! real hub over HTTP on SQLite and PostgreSQL (`EXPO_TEST_PG_URL`): a change reaches a
//! waiting station when it is stored, not at the station's next tick.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fresh_postgres_url, postgres_hub_on, postgres_url, runtime, MemoryOutbox, Station};
use common::{small_limits, TestHub};
use expo_hub::server::HubConfig;
use expo_hub::HubStore;
use expo_sync::client::HubClient;
use expo_sync::station::{SyncStatus, SyncWorker, WorkerOptions};
use uuid::Uuid;

macro_rules! long_poll_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $test() { super::$test(super::common::sqlite_hub_with) })*
        }
        mod postgres {
            $(#[test] fn $test() {
                if super::common::postgres_url().is_some() {
                    super::$test(|config| super::common::postgres_hub_with(config).unwrap())
                }
            })*
        }
    };
}

long_poll_suite!(
    a_held_pull_answers_when_another_station_pushes,
    a_wait_is_capped_and_waiting_pulls_are_bounded,
    a_worker_with_an_hour_s_interval_pushes_and_hears_at_once,
);

/// Long enough that no test passes by a tick.
const AN_HOUR: Duration = Duration::from_secs(3600);

/// The hub's `expo_hub_waiting_requests`, as an admin station reads it.
fn waiting_requests<S: HubStore>(hub: &TestHub<S>, admin_token: &str) -> u64 {
    let text = ureq::get(format!("{}/metrics", hub.url))
        .header("authorization", format!("Bearer {admin_token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("expo_hub_waiting_requests "));
    line.expect("the gauge").parse().unwrap()
}

/// Returns once `count` pulls are held at `hub` (the only outside sign that they wait).
fn until_held<S: HubStore>(hub: &TestHub<S>, admin_token: &str, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while waiting_requests(hub, admin_token) < count {
        assert!(Instant::now() < deadline, "the pulls never waited");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Calls `done` on the worker's status until it holds.
fn until_status(worker: &SyncWorker, done: impl Fn(&SyncStatus) -> bool) -> SyncStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = worker.status();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "the worker never got there: {status:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn a_held_pull_answers_when_another_station_pushes<S: HubStore>(
    start: impl Fn(HubConfig) -> TestHub<S>,
) {
    let hub = start(small_limits());
    let (desk_1, desk_2) = (hub.client("desk-1"), hub.client("desk-2"));
    let admin = hub.enrolled("office");
    let cursor = desk_2.pull(0, 10).unwrap().next_cursor;
    let held = std::thread::spawn(move || desk_2.pull_waiting(cursor, 10, AN_HOUR).unwrap());
    until_held(&hub, &admin, 1);

    let change = Station::new("desk-1").attendee(Uuid::now_v7(), "Held Pull", None);
    desk_1.push(std::slice::from_ref(&change)).unwrap();
    let (page, granted) = held.join().unwrap();
    assert_eq!(page.changes.iter().map(|c| c.id).collect::<Vec<_>>(), [change.id]);
    // small_limits' 10 s request timeout caps the wait 1 s below it.
    assert_eq!(granted, Some(Duration::from_secs(9)));
    assert_eq!(waiting_requests(&hub, &admin), 0, "the slot was given back");
}

fn a_wait_is_capped_and_waiting_pulls_are_bounded<S: HubStore>(
    start: impl Fn(HubConfig) -> TestHub<S>,
) {
    // Two connections: one held pull at most.
    let hub =
        start(HubConfig { max_wait: Duration::from_secs(1), max_connections: 2, ..small_limits() });
    let desk = hub.client("desk-1");
    let admin = hub.enrolled("office");
    let (page, granted) = desk.pull_waiting(0, 10, AN_HOUR).unwrap();
    assert!(page.changes.is_empty());
    assert_eq!(granted, Some(Duration::from_secs(1)), "an hour asked, the cap granted");

    let holder = {
        let desk = desk.clone();
        std::thread::spawn(move || desk.pull_waiting(0, 10, AN_HOUR).unwrap())
    };
    until_held(&hub, &admin, 1);
    let (_, granted) = desk.pull_waiting(0, 10, AN_HOUR).unwrap();
    assert_eq!(granted, Some(Duration::ZERO), "no room for a second held pull");
    holder.join().unwrap();
}

fn a_worker_with_an_hour_s_interval_pushes_and_hears_at_once<S: HubStore>(
    start: impl Fn(HubConfig) -> TestHub<S>,
) {
    let hub = start(small_limits());
    let options = WorkerOptions { interval: AN_HOUR, ..WorkerOptions::default() };
    let mut desk_1 = Station::new("desk-1");
    let (outbox_1, outbox_2) =
        (Arc::new(MemoryOutbox::default()), Arc::new(MemoryOutbox::default()));
    let worker_1 = SyncWorker::spawn(hub.client("desk-1"), Arc::clone(&outbox_1), options).unwrap();
    let worker_2 = SyncWorker::spawn(hub.client("desk-2"), Arc::clone(&outbox_2), options).unwrap();
    // Each has made its first round: from now on only a nudge or a held pull moves them.
    until_status(&worker_1, |s| s.last_success.is_some());
    until_status(&worker_2, |s| s.last_success.is_some());

    let change = desk_1.attendee(Uuid::now_v7(), "At Once", None);
    outbox_1.add([change.clone()]);
    assert!(worker_1.nudger().nudge(), "the worker runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !outbox_2.state(|s| s.remote_ids.contains_key(&change.id)) {
        assert!(Instant::now() < deadline, "desk-2 never heard of desk-1's change");
        std::thread::sleep(Duration::from_millis(5));
    }
    // What desk-2 heard came through the hub, which acknowledged it to desk-1.
    until_status(&worker_1, |s| s.last_round.is_some_and(|r| r.pushed == 1));
    assert_eq!(outbox_1.state(|s| s.outbox.len()), 0);
    worker_1.stop();
    worker_2.stop();
}

/// Two hubs on one PostgreSQL: a pull held at one answers a push stored through the other
/// (which that hub hears of only by reading the database).
#[test]
fn a_pull_held_at_one_hub_answers_a_push_through_the_other() {
    let Some(url) = postgres_url() else { return };
    let url = fresh_postgres_url(&runtime(), &url);
    let hubs = [postgres_hub_on(&url), postgres_hub_on(&url)];
    let desk_1 = hubs[0].client("desk-1");
    let token_2 = hubs[0].enrolled("desk-2");
    let admin = hubs[0].enrolled("office");
    let held = {
        let desk_2 = HubClient::new(&hubs[1].url, &token_2);
        std::thread::spawn(move || desk_2.pull_waiting(0, 10, AN_HOUR).unwrap())
    };
    until_held(&hubs[1], &admin, 1);

    let change = Station::new("desk-1").attendee(Uuid::now_v7(), "Other Hub", None);
    desk_1.push(std::slice::from_ref(&change)).unwrap();
    let (page, granted) = held.join().unwrap();
    assert_eq!(page.changes.iter().map(|c| c.id).collect::<Vec<_>>(), [change.id]);
    assert!(granted.is_some_and(|g| !g.is_zero()));
}

/// A hub from before held pulls: it answers a pull at once, without `x-expo-wait`. The
/// worker syncs with it on its rounds, and its listener gives up after one answer instead
/// of asking again and again.
#[test]
fn a_worker_syncs_with_a_hub_that_does_not_hold_pulls() {
    use axum::routing::get;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let pulls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&pulls);
    let older_hub = axum::Router::new().route(
        "/v1/pull",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            std::future::ready(axum::Json(serde_json::json!(
                {"changes": [], "next_cursor": 0, "more": false}
            )))
        }),
    );
    let runtime = runtime();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, older_hub).await });

    let options = WorkerOptions { interval: AN_HOUR, ..WorkerOptions::default() };
    let worker =
        SyncWorker::spawn(HubClient::new(&url, "token"), MemoryOutbox::default(), options).unwrap();
    let mut last = until_status(&worker, |s| s.last_success.is_some()).last_success;
    const ROUNDS: usize = 3;
    for _ in 0..ROUNDS {
        worker.sync_now();
        last = until_status(&worker, |s| s.last_success != last).last_success;
    }
    assert_eq!(worker.status().last_error, None, "every round succeeded");
    worker.stop();
    // The first round's pull, each later round's, and the listener's one question: a
    // listener asking again on every empty answer asks many more.
    let asked = pulls.load(Ordering::SeqCst);
    assert!(asked <= ROUNDS + 2, "{asked} pulls for {} rounds", ROUNDS + 1);
}
