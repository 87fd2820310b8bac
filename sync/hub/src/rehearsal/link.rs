//! A loopback TCP link the rehearsal can cut: one per station (its network) and one between
//! the hub and PostgreSQL (the database going away). It counts the bytes each way, and its
//! upstream can be switched (a load balancer failing over to the other hub).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What a link shares with its threads.
struct Shared {
    upstream: Mutex<SocketAddr>,
    cut: AtomicBool,
    stopped: AtomicBool,
    /// Bytes from the upstream (hub or database) to the client.
    down_bytes: AtomicU64,
    /// Bytes from the client to the upstream.
    up_bytes: AtomicU64,
    /// HTTP requests the client sent (request lines seen going up).
    requests: AtomicU64,
    /// Both ends of every live connection, so a cut closes them at once.
    live: Mutex<Vec<TcpStream>>,
}

pub struct Link {
    pub address: SocketAddr,
    shared: Arc<Shared>,
}

impl Link {
    pub fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            cut: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            down_bytes: AtomicU64::new(0),
            up_bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            live: Mutex::new(Vec::new()),
        });
        let accepting = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("rehearsal-link".into())
            .spawn(move || accept(&listener, &accepting))?;
        Ok(Self { address, shared })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Cuts the link (every live connection closed, new ones refused) or restores it.
    pub fn set_cut(&self, cut: bool) {
        self.shared.cut.store(cut, Ordering::SeqCst);
        if cut {
            self.close_live();
        }
    }

    /// Sends new connections to `upstream` and closes the live ones.
    pub fn switch_to(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock().unwrap_or_else(PoisonError::into_inner) = upstream;
        self.close_live();
    }

    /// Where new connections go.
    pub fn upstream(&self) -> SocketAddr {
        *self.shared.upstream.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fails over to `to` if this link leads to `dead`.
    pub fn switch_away(&self, dead: SocketAddr, to: SocketAddr) {
        if self.upstream() == dead {
            self.switch_to(to);
        }
    }

    /// Bytes (to the client, from the client) so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.shared.down_bytes.load(Ordering::Relaxed),
            self.shared.up_bytes.load(Ordering::Relaxed),
        )
    }

    /// HTTP requests sent through this link so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    fn close_live(&self) {
        let live =
            std::mem::take(&mut *self.shared.live.lock().unwrap_or_else(PoisonError::into_inner));
        for stream in live {
            // Already closed by its peer is as good.
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.close_live();
        // Wakes the accept loop so it sees the flag; nobody may be listening any more.
        let _ = TcpStream::connect(self.address);
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if shared.cut.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let upstream = *shared.upstream.lock().unwrap_or_else(PoisonError::into_inner);
        let Ok(server) = TcpStream::connect(upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        if let Err(error) = relay(client, server, shared) {
            tracing::debug!(%error, "a rehearsal link connection failed to start");
        }
    }
}

fn relay(client: TcpStream, server: TcpStream, shared: &Arc<Shared>) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    {
        let mut live = shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget connections that have ended, so the list stays as long as the live ones.
        live.retain(|s| s.peer_addr().is_ok());
        live.push(client.try_clone()?);
        live.push(server.try_clone()?);
    }
    let (client_read, server_write) = (client.try_clone()?, server.try_clone()?);
    let up = Arc::clone(shared);
    std::thread::Builder::new()
        .name("rehearsal-up".into())
        .spawn(move || pump(client_read, server_write, &up.up_bytes, Some(&up.requests)))?;
    let down = Arc::clone(shared);
    std::thread::Builder::new()
        .name("rehearsal-down".into())
        .spawn(move || pump(server, client, &down.down_bytes, None))?;
    Ok(())
}

/// The end of an HTTP/1.1 request line; a station's clients never pipeline, so a request
/// head arrives whole at the start of a read and a JSON body cannot hold the bytes.
const REQUEST_LINE_END: &[u8] = b" HTTP/1.1\r\n";

fn pump(mut from: TcpStream, mut to: TcpStream, counted: &AtomicU64, requests: Option<&AtomicU64>) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
        counted.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(requests) = requests {
            let seen =
                buffer[..n].windows(REQUEST_LINE_END.len()).filter(|w| *w == REQUEST_LINE_END);
            requests.fetch_add(seen.count() as u64, Ordering::Relaxed);
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
