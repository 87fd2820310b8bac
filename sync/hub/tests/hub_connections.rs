//! The hub's connection cap: connections beyond it wait in the backlog, and are served
//! as soon as others close.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use expo_hub::server::{serve, HubConfig};
use expo_hub::sqlite::SqliteStore;

/// A TCP listener that reports each connection it hands the server.
struct ReportingListener {
    inner: tokio::net::TcpListener,
    accepted: mpsc::Sender<SocketAddr>,
}

impl axum::serve::Listener for ReportingListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, peer) = axum::serve::Listener::accept(&mut self.inner).await;
        let _ = self.accepted.send(peer);
        (io, peer)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[test]
fn connections_beyond_the_cap_wait_until_one_closes() {
    let runtime = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("hub.db")).unwrap());
    let inner = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = inner.local_addr().unwrap();
    let (accepted, accepts) = mpsc::channel();
    let config = HubConfig {
        max_connections: 4,
        // Long enough that no connection of this test is closed for silence.
        header_read_timeout: Duration::from_secs(600),
        ..HubConfig::default()
    };
    runtime.spawn(serve(
        ReportingListener { inner, accepted },
        store,
        config,
        std::future::pending(),
    ));

    let mut silent: Vec<TcpStream> = (0..6).map(|_| TcpStream::connect(address).unwrap()).collect();
    let first: Vec<SocketAddr> = (0..4).map(|_| accepts.recv().unwrap()).collect();
    let local = |stream: &TcpStream| stream.local_addr().unwrap();
    assert_eq!(first, silent[..4].iter().map(local).collect::<Vec<_>>(), "taken in order");

    // Closing one lets exactly one more in.
    drop(silent.remove(0));
    assert_eq!(accepts.recv().unwrap(), local(&silent[3]));
    assert!(accepts.try_recv().is_err(), "a fifth connection was served beside four");

    // Once the silent ones are gone, a request is served.
    drop(silent);
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(60))).build().into();
    let health = agent.get(format!("http://{address}/healthz")).call().unwrap();
    assert_eq!(health.status(), 200);
}
