//! Rings the background sync of a station when a change was queued in its outbox, so
//! the change leaves for the hub at once instead of at the worker's next tick. The store
//! and the sync worker use different connections (often different threads: the UI's
//! store worker, a gate's lanes), so the bell hangs in this process by data directory.
//! A change queued by another process (a CLI command beside the running app) waits for
//! the tick, as before.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use expo_sync::station::SyncNudge;

/// The sync workers running in this process, by canonical data directory.
static BELLS: Mutex<Vec<(PathBuf, SyncNudge)>> = Mutex::new(Vec::new());

fn key(data_dir: &Path) -> PathBuf {
    std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned())
}

/// Rings `nudge` whenever a change is queued in the station in `data_dir`, until its
/// worker stops.
pub fn hang(data_dir: &Path, nudge: SyncNudge) {
    let key = key(data_dir);
    BELLS.lock().unwrap_or_else(PoisonError::into_inner).push((key, nudge));
}

/// Tells the sync worker of the station in `data_dir`, if one runs here, that a change
/// was queued; forgets workers that stopped.
pub(crate) fn ring(data_dir: &Path) {
    let mut bells = BELLS.lock().unwrap_or_else(PoisonError::into_inner);
    if bells.is_empty() {
        return;
    }
    let key = key(data_dir);
    bells.retain(|(dir, nudge)| *dir != key || nudge.nudge());
}
