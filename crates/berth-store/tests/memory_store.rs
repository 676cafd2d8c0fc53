//! What only the memory backend does: a change log whose retention a test
//! chooses, so compaction (which SQLite reaches after 200,000 revisions) is
//! seen. The behaviours every backend shares are in `contract.rs`.

use berth_store::{MemoryStore, Store, StoreError};
use futures::StreamExt;

#[tokio::test]
async fn a_watch_older_than_the_log_is_compacted() {
    let s = MemoryStore::with_retention(500);
    for i in 0..2000 {
        s.put(&format!("k/{i}"), vec![]).await.unwrap();
    }
    // Compacted at revision 2000: revisions from 1500 on are kept.
    let mut old = s.watch("k/", 1499).await.unwrap();
    match old.next().await.unwrap() {
        Err(StoreError::Compacted { requested, oldest }) => assert_eq!((requested, oldest), (1499, 1500)),
        other => panic!("expected Compacted, got {other:?}"),
    }
    let mut kept = s.watch("k/", 1500).await.unwrap();
    assert_eq!(kept.next().await.unwrap().unwrap().revision, 1500);
    // The data itself is all there.
    assert_eq!(s.range("k/", None, None).await.unwrap().len(), 2000);
}
