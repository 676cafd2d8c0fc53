//! What only the SQLite backend promises: writes on disk survive a reopen.
//! The behaviours every backend shares are in `contract.rs`.

use berth_store::{SqliteStore, Store, StoreError};

#[tokio::test]
async fn writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        for i in 0..50 {
            s.put(&format!("k/{i:03}"), vec![i as u8]).await.unwrap();
        }
        // Dropped without close(): as after a crash, the WAL holds the data.
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.current_revision().await.unwrap(), 50);
    assert_eq!(s.range("k/", None, None).await.unwrap().len(), 50);
    s.close().await.unwrap();
    assert!(matches!(s.get("k/001").await, Err(StoreError::Closed)));
}
