use berth_store::{Compare, EventKind, Op, SqliteStore, Store, StoreError};
use futures::StreamExt;

fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
    (dir, store)
}

#[tokio::test]
async fn revisions_increase_and_keys_track_versions() {
    let (_d, s) = open();
    assert_eq!(s.current_revision().await.unwrap(), 0);
    let r1 = s.put("a", b"1".to_vec()).await.unwrap();
    let r2 = s.put("a", b"2".to_vec()).await.unwrap();
    assert_eq!((r1, r2), (1, 2));
    let kv = s.get("a").await.unwrap().unwrap();
    assert_eq!(kv.value, b"2");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (1, 2, 2));
    assert!(s.get("missing").await.unwrap().is_none());
}

#[tokio::test]
async fn compare_and_swap_applies_all_or_nothing() {
    let (_d, s) = open();
    assert!(s.create("k", b"v".to_vec()).await.unwrap());
    assert!(!s.create("k", b"w".to_vec()).await.unwrap());
    let rev = s.get("k").await.unwrap().unwrap().mod_revision;
    // A stale compare fails and writes nothing, not even the other key.
    let res = s
        .txn(
            vec![Compare::ModRevision("k".into(), rev - 1)],
            vec![
                Op::Put("k".into(), b"x".to_vec()),
                Op::Put("other".into(), b"y".to_vec()),
            ],
        )
        .await
        .unwrap();
    assert!(!res.succeeded);
    assert!(s.get("other").await.unwrap().is_none());
    let res = s
        .txn(
            vec![Compare::ModRevision("k".into(), rev), Compare::Absent("other".into())],
            vec![
                Op::Put("k".into(), b"x".to_vec()),
                Op::Put("other".into(), b"y".to_vec()),
            ],
        )
        .await
        .unwrap();
    assert!(res.succeeded);
    // Both writes share one revision.
    assert_eq!(s.get("k").await.unwrap().unwrap().mod_revision, res.revision);
    assert_eq!(s.get("other").await.unwrap().unwrap().mod_revision, res.revision);
    assert!(s.delete("k").await.unwrap());
    assert!(!s.delete("k").await.unwrap());
}

#[tokio::test]
async fn range_is_prefix_bounded_ordered_and_pageable() {
    let (_d, s) = open();
    for k in ["a/1", "a/3", "a/2", "ab", "b/1"] {
        s.put(k, k.as_bytes().to_vec()).await.unwrap();
    }
    let keys = |v: Vec<berth_store::KeyValue>| v.into_iter().map(|kv| kv.key).collect::<Vec<_>>();
    assert_eq!(keys(s.range("a/", None, None).await.unwrap()), ["a/1", "a/2", "a/3"]);
    assert_eq!(keys(s.range("a/", Some("a/1"), Some(1)).await.unwrap()), ["a/2"]);
    assert_eq!(keys(s.range("", None, None).await.unwrap()).len(), 5);
}

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

#[tokio::test]
async fn watch_replays_history_then_follows_live_changes() {
    let (_d, s) = open();
    s.put("w/1", b"a".to_vec()).await.unwrap(); // rev 1
    s.put("x/1", b"ignored".to_vec()).await.unwrap(); // rev 2
    s.put("w/2", b"b".to_vec()).await.unwrap(); // rev 3
    let mut w = s.watch("w/", 2).await.unwrap();
    let e = w.next().await.unwrap().unwrap();
    assert_eq!((e.key.as_str(), e.revision, e.kind), ("w/2", 3, EventKind::Put));
    s.delete("w/1").await.unwrap(); // rev 4
    s.put("x/2", b"ignored".to_vec()).await.unwrap(); // rev 5
    s.put("w/3", b"c".to_vec()).await.unwrap(); // rev 6
    let e = w.next().await.unwrap().unwrap();
    assert_eq!((e.key.as_str(), e.revision, e.kind), ("w/1", 4, EventKind::Delete));
    let e = w.next().await.unwrap().unwrap();
    assert_eq!((e.key.as_str(), e.revision), ("w/3", 6));
}

#[tokio::test]
async fn a_lagging_watcher_catches_up_from_the_log_without_gaps() {
    let (_d, s) = open();
    let mut w = s.watch("k/", 1).await.unwrap();
    // More writes than the broadcast channel holds, before the watcher reads.
    for i in 0..3000 {
        s.put(&format!("k/{i}"), vec![]).await.unwrap();
    }
    let mut last = 0;
    for _ in 0..3000 {
        let e = w.next().await.unwrap().unwrap();
        assert_eq!(e.revision, last + 1, "revisions arrive in order without gaps");
        last = e.revision;
    }
}

#[tokio::test]
async fn concurrent_cas_increments_lose_no_update() {
    let (_d, s) = open();
    let s = std::sync::Arc::new(s);
    let mut handles = vec![];
    for _ in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..25 {
                berth_store::typed::update::<u64, StoreError, _>(&*s, "counter", |v| Ok(Some(v.unwrap_or(0) + 1)))
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let (v, _) = berth_store::typed::get::<u64>(&*s, "counter").await.unwrap().unwrap();
    assert_eq!(v, 200);
}
