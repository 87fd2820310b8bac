//! Two hub instances over one PostgreSQL database, as behind a load balancer: stations
//! push and pull through either hub at random, concurrently, and every station still
//! receives every other station's changes exactly once. This is the test of the pull
//! cursor's "no change committed late is ever skipped" argument (see hub/postgres.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};

use common::{fresh_postgres_url, postgres_hub_on, postgres_url, runtime, Station};
use expo_hub::HubStore;
use expo_sync::client::{ClientError, HubClient};
use rand::Rng;
use uuid::Uuid;

const STATIONS: usize = 6;
const CHANGES_PER_STATION: usize = 300;
const BATCH: usize = 15;

#[test]
fn two_hubs_over_one_postgres_serve_the_same_stations() {
    let Some(url) = postgres_url() else { return };
    let url = fresh_postgres_url(&runtime(), &url);
    let hubs = [postgres_hub_on(&url), postgres_hub_on(&url)];
    let hub_urls: Arc<Vec<String>> = Arc::new(hubs.iter().map(|h| h.url.clone()).collect());

    // Codes issued by one hub are redeemed at the other: all state is in the database.
    let credentials: Vec<(String, String)> = (0..STATIONS)
        .map(|i| {
            let name = format!("station-{i}");
            let code = hubs[i % 2].station_code(&name);
            let token = expo_sync::client::enrol(
                &hubs[(i + 1) % 2].url,
                &code,
                &name,
                &expo_sync::client::HubTrust::default(),
            )
            .unwrap()
            .token;
            (name, token)
        })
        .collect();

    let start = Arc::new(Barrier::new(STATIONS));
    let threads: Vec<_> = credentials
        .iter()
        .cloned()
        .map(|(name, token)| {
            let (hub_urls, start) = (Arc::clone(&hub_urls), Arc::clone(&start));
            std::thread::spawn(move || run_station(&name, &token, &hub_urls, &start))
        })
        .collect();
    let results: Vec<(Vec<Uuid>, HashMap<Uuid, u32>)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();

    for (index, (_, received)) in results.iter().enumerate() {
        let expected: HashSet<Uuid> = results
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .flat_map(|(_, (made, _))| made.iter().copied())
            .collect();
        let got: HashSet<Uuid> = received.keys().copied().collect();
        assert_eq!(got.len(), expected.len(), "station-{index} missed or gained changes");
        assert_eq!(got, expected);
        assert!(received.values().all(|&n| n == 1), "station-{index} received a change twice");
    }
    let stats = hubs[0].runtime.block_on(hubs[0].store.stats()).unwrap();
    assert_eq!(stats.changes, (STATIONS * CHANGES_PER_STATION) as u64);

    // A revocation through one hub stops the station at the other on its next request.
    hubs[1].runtime.block_on(hubs[1].store.revoke_station("station-0")).unwrap();
    let revoked = HubClient::new(&hubs[0].url, &credentials[0].1).pull(0, 1);
    assert!(matches!(revoked, Err(ClientError::Refused { status: 403, .. })), "{revoked:?}");
}

/// Pushes this station's changes in small batches and pulls between them, each request
/// through a random hub; then drains the pull. Returns (ids made, ids received with counts).
fn run_station(
    name: &str,
    token: &str,
    hub_urls: &[String],
    start: &Barrier,
) -> (Vec<Uuid>, HashMap<Uuid, u32>) {
    let clients: Vec<_> = hub_urls.iter().map(|url| HubClient::new(url, token)).collect();
    let mut rng = rand::thread_rng();
    let mut station = Station::new(name);
    let made: Vec<_> = (0..CHANGES_PER_STATION)
        .map(|i| station.attendee(Uuid::now_v7(), &format!("{name} {i}"), None))
        .collect();
    let mut received: HashMap<Uuid, u32> = HashMap::new();
    let mut cursor = 0;
    let mut pull = |client: &HubClient, cursor: &mut i64| loop {
        let page = client.pull(*cursor, 50).unwrap();
        assert!(page.next_cursor >= *cursor, "the cursor went backwards");
        *cursor = page.next_cursor;
        for change in page.changes {
            assert_ne!(change.station, name, "a station got its own change back");
            *received.entry(change.id).or_default() += 1;
        }
        if !page.more {
            break;
        }
    };
    start.wait();
    for batch in made.chunks(BATCH) {
        let client = &clients[rng.gen_range(0..clients.len())];
        assert_eq!(client.push(batch).unwrap().acked.len(), batch.len());
        pull(&clients[rng.gen_range(0..clients.len())], &mut cursor);
    }
    // Wait until every station has pushed everything, then drain: nothing may be missing.
    start.wait();
    pull(&clients[rng.gen_range(0..clients.len())], &mut cursor);
    (made.iter().map(|c| c.id).collect(), received)
}

#[test]
fn a_feed_follower_waiting_at_one_hub_hears_of_a_push_at_the_other() {
    let Some(url) = postgres_url() else { return };
    let url = fresh_postgres_url(&runtime(), &url);
    let (here, there) = (postgres_hub_on(&url), postgres_hub_on(&url));
    let key = here
        .runtime
        .block_on(expo_hub::api_keys::add_key(
            here.store.as_ref(),
            "crm",
            &[expo_hub::api_keys::Scope::FeedRead],
        ))
        .unwrap();
    let gate = there.client("gate-1");
    let watcher = here.enrolled("admin-1");
    let feed = |after: i64, wait: u32| -> expo_hub::feed::FeedResponse {
        ureq::get(format!("{}/v1/feed?after={after}&wait={wait}", here.url))
            .header("authorization", format!("Bearer {key}"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    };
    let start = feed(0, 0).next_cursor;

    std::thread::scope(|scope| {
        // The follower waits at one hub; the push arrives at the other, which cannot wake
        // it: the follower's poll of the database finds the change.
        let follower = scope.spawn(|| feed(start, 25));
        common::await_waiting_requests(&here.url, &watcher, 1);
        let mut station = Station::new("gate-1");
        gate.push(&[station.gate(Uuid::now_v7(), true)]).unwrap();
        let page = follower.join().unwrap();
        assert_eq!(page.entries.len(), 1, "{page:?}");
        assert_eq!(page.entries[0].kind, "gate_entry");
    });
}
