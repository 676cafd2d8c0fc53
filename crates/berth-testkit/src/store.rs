//! Stores for tests: in memory by default (no file, no fsync), SQLite when a
//! test needs what only a file gives (a reopen).

use berth_store::{MemoryStore, SqliteStore, Store};
use std::sync::Arc;

/// A fresh, empty in-memory store.
pub fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// A fresh SQLite store in a temporary directory, removed when the returned
/// guard drops.
pub fn sqlite_store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("state.db")).expect("a SQLite store");
    (dir, Arc::new(store))
}
