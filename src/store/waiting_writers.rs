//! Who in this process waits to write to a station's database, so that the sync worker's
//! apply of pulled changes lets them go first between its slices.
//!
//! SQLite has one write lock per database and no queue: a connection that finds it taken
//! sleeps and looks again (the busy timeout), and one that takes it again a moment after
//! committing can keep a waiting one out until that one gives up, "database is locked".
//! A pull that is catching up applies slice after slice, so an operator's check-in (on its
//! own connection) would lose that race at every slice. Every write of the station's own
//! work therefore says here that it waits, for as long as it waits and runs; the apply
//! looks before each slice and waits until nobody does. Writers in another process (a
//! CLI command beside the running app) are not seen; the slices keep their waits short.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// The station databases open in this process, by canonical data directory.
static DATABASES: Mutex<Vec<(PathBuf, Arc<WaitingWriters>)>> = Mutex::new(Vec::new());

/// The writers of one station database that wait for its write lock or hold it.
#[derive(Default)]
pub(crate) struct WaitingWriters {
    count: Mutex<usize>,
    none_left: Condvar,
}

/// One waiting (then writing) writer, counted until dropped.
pub(crate) struct Waiting<'a>(&'a WaitingWriters);

impl WaitingWriters {
    /// The writers of the station database in `data_dir`, shared by every connection this
    /// process opens to it.
    pub(crate) fn of(data_dir: &Path) -> Arc<Self> {
        let key = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
        let mut databases = DATABASES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, writers)) = databases.iter().find(|(dir, _)| *dir == key) {
            return Arc::clone(writers);
        }
        let writers = Arc::new(Self::default());
        databases.push((key, Arc::clone(&writers)));
        writers
    }

    /// Counts the caller as waiting to write until the returned guard is dropped.
    pub(crate) fn wait_to_write(&self) -> Waiting<'_> {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Waiting(self)
    }

    /// Whether a writer waits or writes now: a slice of pulled changes that sees one ends
    /// at once, so the writer waits for one change and a commit, not for the whole slice.
    pub(crate) fn any(&self) -> bool {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) > 0
    }

    /// Returns once no writer waits or writes, or after `at_most` (a writer that waits
    /// that long is stuck behind something else, and the caller's own busy timeout
    /// applies from then on).
    pub(crate) fn let_them_go_first(&self, at_most: Duration) {
        let count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        let _unused = self
            .none_left
            .wait_timeout_while(count, at_most, |count| *count > 0)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.0.none_left.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn the_apply_waits_until_no_writer_of_the_same_database_waits() {
        let dir = tempfile::tempdir().unwrap();
        let writers = WaitingWriters::of(dir.path());
        assert!(Arc::ptr_eq(&writers, &WaitingWriters::of(&dir.path().join("."))));
        let waiting = writers.wait_to_write();
        let released = Arc::new(AtomicBool::new(false));
        let apply = {
            let (writers, released) = (Arc::clone(&writers), Arc::clone(&released));
            std::thread::spawn(move || {
                writers.let_them_go_first(Duration::from_secs(600));
                released.load(Ordering::SeqCst)
            })
        };
        released.store(true, Ordering::SeqCst);
        drop(waiting);
        assert!(apply.join().unwrap(), "the apply went on only once the writer was done");
        // Nobody waits: it goes on at once.
        writers.let_them_go_first(Duration::from_secs(600));
    }

    #[test]
    fn a_slice_sees_a_writer_of_the_same_database_for_as_long_as_it_waits_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let writers = WaitingWriters::of(dir.path());
        assert!(!writers.any());
        let (first, second) = (writers.wait_to_write(), writers.wait_to_write());
        assert!(WaitingWriters::of(dir.path()).any());
        drop(first);
        assert!(writers.any());
        drop(second);
        assert!(!writers.any());
    }
}
