#![allow(dead_code)] // each test binary uses a different part of it
//! A fault-injecting TCP proxy between stations and a hub: drops, delays or cuts
//! connections. Also used by the station's end-to-end sync tests.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a fault-injecting proxy does to new and live connections.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Close every new connection at once (the network is down).
    pub refuse: bool,
    /// Cut a connection once this many request bytes went through (mid-batch).
    pub cut_after_bytes: Option<u64>,
    /// Delay every chunk forwarded to the hub.
    pub delay: Duration,
    /// Cut a connection once this many answer bytes went back (mid-body).
    pub cut_answer_after_bytes: Option<u64>,
    /// Flip the lowest bit of the answer byte at this offset of every connection.
    pub flip_answer_byte: Option<u64>,
}

/// A TCP proxy between stations and the hub that drops, delays or cuts connections.
pub struct FaultyProxy {
    pub url: String,
    faults: Arc<Mutex<Faults>>,
    stopped: Arc<AtomicBool>,
    pub connections: Arc<AtomicU64>,
}

impl FaultyProxy {
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let faults = Arc::new(Mutex::new(Faults::default()));
        let stopped = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicU64::new(0));
        let (f, s, c) = (Arc::clone(&faults), Arc::clone(&stopped), Arc::clone(&connections));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let faults = *f.lock().unwrap();
                if faults.refuse {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                relay(client, server, faults);
            }
        });
        Self { url: format!("http://{addr}"), faults, stopped, connections }
    }

    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn relay(client: TcpStream, server: TcpStream, faults: Faults) {
    let (client_read, server_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        pump(client_read, server_write, faults.cut_after_bytes, faults.delay, None)
    });
    std::thread::spawn(move || {
        let (cut, flip) = (faults.cut_answer_after_bytes, faults.flip_answer_byte);
        pump(server, client, cut, Duration::ZERO, flip)
    });
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    cut_after: Option<u64>,
    delay: Duration,
    flip: Option<u64>,
) {
    let mut buffer = [0u8; 8192];
    let mut forwarded = 0u64;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if let Some(at) = flip.filter(|at| (forwarded..forwarded + n as u64).contains(at)) {
            buffer[(at - forwarded) as usize] ^= 0x01;
        }
        let n = match cut_after {
            Some(limit) if forwarded + n as u64 >= limit => {
                let keep = (limit - forwarded) as usize;
                let _ = to.write_all(&buffer[..keep]);
                break;
            }
            _ => n,
        };
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
        forwarded += n as u64;
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
