//! The hub under rehearsal: the `expo-hub` executable as a child process, so it can be
//! killed (SIGKILL) and started again on the same address, and read from `/proc`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{cpu, RehearsalError};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What a hub process used, summed over every process that served at this address.
#[derive(Clone, Copy, Debug, Default)]
pub struct HubUsage {
    pub cpu_seconds: f64,
    pub alive_seconds: f64,
    pub peak_rss_kib: u64,
}

pub struct HubProcess {
    pub address: SocketAddr,
    executable: PathBuf,
    db_url: String,
    log: PathBuf,
    child: Option<(Child, Instant)>,
    /// Usage of the processes that served here before the current one.
    before: HubUsage,
}

impl HubProcess {
    /// Starts `executable --db db_url --listen address serve` and waits until it answers.
    pub fn start(
        executable: &Path,
        db_url: &str,
        address: SocketAddr,
        log: PathBuf,
    ) -> Result<Self, RehearsalError> {
        let mut hub = Self {
            address,
            executable: executable.to_owned(),
            db_url: db_url.to_owned(),
            log,
            child: None,
            before: HubUsage::default(),
        };
        hub.spawn()?;
        Ok(hub)
    }

    fn spawn(&mut self) -> Result<(), RehearsalError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| RehearsalError::Io(format!("hub log {}: {e}", self.log.display())))?;
        let child = Command::new(&self.executable)
            .arg("--db")
            .arg(&self.db_url)
            .arg("--listen")
            .arg(self.address.to_string())
            .arg("serve")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                RehearsalError::Io(format!("starting {}: {e}", self.executable.display()))
            })?;
        self.child = Some((child, Instant::now()));
        let deadline = Instant::now() + START_TIMEOUT;
        while http_get(self.address, "/healthz").is_none() {
            if let Some((child, _)) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(RehearsalError::Hub(format!(
                        "the hub exited at start ({status}); see {}",
                        self.log.display()
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(RehearsalError::Hub(format!(
                    "the hub did not answer /healthz within {START_TIMEOUT:?}; see {}",
                    self.log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Kills the hub with SIGKILL: no shutdown, in-flight requests cut.
    pub fn kill(&mut self) {
        let usage = self.usage();
        if let Some((mut child, _)) = self.child.take() {
            // Already gone is as good as killed.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.before = usage;
    }

    pub fn restart(&mut self) -> Result<(), RehearsalError> {
        self.spawn()
    }

    /// Usage so far, the current process's read from `/proc`.
    pub fn usage(&self) -> HubUsage {
        let mut usage = self.before;
        if let Some((child, started)) = &self.child {
            let pid = child.id();
            usage.alive_seconds += started.elapsed().as_secs_f64();
            usage.cpu_seconds += cpu::process_seconds(pid).unwrap_or(0.0);
            usage.peak_rss_kib = usage.peak_rss_kib.max(peak_rss_kib(pid).unwrap_or(0));
        }
        usage
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The body of a plain `GET` on loopback, `None` unless the hub answered 200.
fn http_get(address: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}
