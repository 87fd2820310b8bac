//! Opening real serial ports and reading with a deadline, shared by every driver.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use serialport::TTYPort;

/// How long one blocking `read` waits before the caller re-checks its deadline or stop flag.
pub(crate) const READ_SLICE: Duration = Duration::from_millis(50);

/// Opens `path` at `baud` 8N1 in raw mode, with short read slices so callers keep control.
pub(crate) fn open(path: &str, baud: u32) -> serialport::Result<TTYPort> {
    serialport::new(path, baud).timeout(READ_SLICE).open_native()
}

/// True for the errors a port with a read timeout returns when no byte arrived in time.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Reads whatever arrives before `deadline` into `buf`; `Ok(0)` means the deadline passed.
///
/// Timeouts of the underlying port are retried until the deadline; any other error (the port
/// went away) is returned as is.
pub(crate) fn read_before(
    port: &mut impl Read,
    buf: &mut [u8],
    deadline: Instant,
) -> io::Result<usize> {
    loop {
        if Instant::now() >= deadline {
            return Ok(0);
        }
        match port.read(buf) {
            // A pseudo-terminal whose other end closed reads 0 bytes forever: that is a hang-up.
            Ok(0) => return Err(io::Error::new(io::ErrorKind::BrokenPipe, "port closed")),
            Ok(n) => return Ok(n),
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        }
    }
}
