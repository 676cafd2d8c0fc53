//! The `Store` contract (`berth_store::contract`) run against every backend.

use berth_store::{MemoryStore, SqliteStore, Store};
use std::sync::Arc;

mod sqlite {
    use super::*;

    fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
        (dir, Arc::new(store))
    }

    berth_store::store_contract_tests!(open());
}

mod memory {
    use super::*;

    fn open() -> ((), Arc<dyn Store>) {
        ((), Arc::new(MemoryStore::new()))
    }

    berth_store::store_contract_tests!(open());
}
