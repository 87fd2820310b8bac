//! The hub's SQLite file: owner-only, and synced at every commit.
#![allow(clippy::unwrap_used)] // a test module: clippy does not see `cfg(all(test, unix))` as one

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::SqliteStore;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

#[test]
fn an_acknowledged_commit_is_synced_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("hub.db")).unwrap();
    let connection = store.writer.lock();
    let synchronous: i64 = connection.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
    assert_eq!(synchronous, 2, "synchronous=FULL");
    let journal: String = connection.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn the_database_and_its_wal_and_shm_files_are_the_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path).unwrap();
    // A write makes SQLite create the -wal and -shm files.
    store
        .writer
        .lock()
        .execute_batch("CREATE TABLE written (x); INSERT INTO written VALUES (1);")
        .unwrap();
    for file in [path.clone(), with_suffix(&path, "-wal"), with_suffix(&path, "-shm")] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[test]
fn an_earlier_hubs_readable_database_is_made_the_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    drop(SqliteStore::open(&path).unwrap());
    let wal = with_suffix(&path, "-wal");
    std::fs::write(&wal, b"").unwrap();
    for file in [&path, &wal] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let _store = SqliteStore::open(&path).unwrap();
    assert_eq!((mode(&path), mode(&wal)), (0o600, 0o600));
}
