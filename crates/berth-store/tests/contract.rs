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

/// A region's part of a shared store keeps the whole contract, as the home
/// region (no prefix) and as a region under `regions/<name>/`.
mod region_home {
    use super::*;
    use berth_store::RegionStore;

    fn open() -> ((), Arc<dyn Store>) {
        ((), Arc::new(RegionStore::home(Arc::new(MemoryStore::new()))))
    }

    berth_store::store_contract_tests!(open());
}

mod region_prefixed {
    use super::*;
    use berth_store::RegionStore;

    fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
        (dir, Arc::new(RegionStore::prefixed(Arc::new(store), "eu-west-1")))
    }

    berth_store::store_contract_tests!(open());
}
