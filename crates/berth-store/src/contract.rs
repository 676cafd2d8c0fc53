//! The `Store` contract, written once: every behaviour a backend promises,
//! as async checks over a fresh, empty store. `store_contract_tests!` turns
//! them into one `#[tokio::test]` each for a backend; SQLite and memory run
//! them in `tests/contract.rs`, and a new backend runs them the same way.
//! Behind the `testing` feature: test code only.

use crate::{Compare, EventKind, KeyValue, Op, Store, StoreError};
use futures::StreamExt;
use std::sync::Arc;

/// One `#[tokio::test]` per contract case, each on a store from `$open`: an
/// expression giving `(guard, Arc<dyn Store>)`, the guard kept alive for the
/// test (a temporary directory, or `()`).
#[macro_export]
macro_rules! store_contract_tests {
    ($open:expr) => {
        $crate::store_contract_tests!(@each $open;
            revisions_increase_and_keys_track_versions,
            compare_and_swap_applies_all_or_nothing,
            compares_see_absent_keys_as_revision_zero,
            failed_and_empty_transactions_write_nothing,
            a_recreated_key_starts_over,
            one_transaction_may_write_a_key_twice,
            range_is_prefix_bounded_ordered_and_pageable,
            range_bounds_outside_the_prefix,
            watch_replays_history_then_follows_live_changes,
            watch_from_zero_replays_everything_including_deletes,
            a_lagging_watcher_catches_up_from_the_log_without_gaps,
            concurrent_cas_increments_lose_no_update,
            a_closed_store_refuses_every_call,
        );
    };
    (@each $open:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (_guard, store) = $open;
                $crate::contract::$case(store).await;
            }
        )*
    };
}

fn keys(v: Vec<KeyValue>) -> Vec<String> {
    v.into_iter().map(|kv| kv.key).collect()
}

pub async fn revisions_increase_and_keys_track_versions(s: Arc<dyn Store>) {
    assert_eq!(s.current_revision().await.unwrap(), 0);
    let r1 = s.put("a", b"1".to_vec()).await.unwrap();
    let r2 = s.put("a", b"2".to_vec()).await.unwrap();
    assert_eq!((r1, r2), (1, 2));
    let kv = s.get("a").await.unwrap().unwrap();
    assert_eq!(kv.value, b"2");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (1, 2, 2));
    assert!(s.get("missing").await.unwrap().is_none());
}

pub async fn compare_and_swap_applies_all_or_nothing(s: Arc<dyn Store>) {
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

pub async fn compares_see_absent_keys_as_revision_zero(s: Arc<dyn Store>) {
    let put = |v: &str| vec![Op::Put("k".into(), v.as_bytes().to_vec())];
    let exists = s.txn(vec![Compare::Exists("k".into())], put("a")).await.unwrap();
    assert!(!exists.succeeded);
    let zero = s
        .txn(vec![Compare::ModRevision("k".into(), 0)], put("a"))
        .await
        .unwrap();
    assert!(zero.succeeded);
    assert_eq!(zero.revision, 1);
    let again = s
        .txn(vec![Compare::ModRevision("k".into(), 0)], put("b"))
        .await
        .unwrap();
    assert!(!again.succeeded);
    let all = s
        .txn(
            vec![
                Compare::Exists("k".into()),
                Compare::ModRevision("k".into(), 1),
                Compare::Absent("other".into()),
            ],
            put("c"),
        )
        .await
        .unwrap();
    assert!(all.succeeded);
    assert_eq!(s.get("k").await.unwrap().unwrap().value, b"c");
}

pub async fn failed_and_empty_transactions_write_nothing(s: Arc<dyn Store>) {
    s.put("k", b"v".to_vec()).await.unwrap();
    // A failed compare reports the current revision, unchanged.
    let res = s
        .txn(vec![Compare::Absent("k".into())], vec![Op::Delete("k".into())])
        .await
        .unwrap();
    assert_eq!((res.succeeded, res.revision), (false, 1));
    // Compares alone are a consistent read: they succeed without a new revision.
    let res = s.txn(vec![Compare::Exists("k".into())], vec![]).await.unwrap();
    assert_eq!((res.succeeded, res.revision), (true, 1));
    assert_eq!(s.current_revision().await.unwrap(), 1);
    assert_eq!(s.get("k").await.unwrap().unwrap().value, b"v");
}

pub async fn a_recreated_key_starts_over(s: Arc<dyn Store>) {
    s.put("k", b"1".to_vec()).await.unwrap(); // rev 1
    s.put("k", b"2".to_vec()).await.unwrap(); // rev 2
    assert!(s.delete("k").await.unwrap()); // rev 3
    assert!(s.get("k").await.unwrap().is_none());
    assert!(s.create("k", b"3".to_vec()).await.unwrap()); // rev 4
    let kv = s.get("k").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (4, 4, 1));
    assert_eq!(s.current_revision().await.unwrap(), 4);
}

pub async fn one_transaction_may_write_a_key_twice(s: Arc<dyn Store>) {
    let res = s
        .txn(
            vec![],
            vec![Op::Put("k".into(), b"1".to_vec()), Op::Put("k".into(), b"2".to_vec())],
        )
        .await
        .unwrap();
    assert_eq!(res.revision, 1);
    let kv = s.get("k").await.unwrap().unwrap();
    assert_eq!(kv.value, b"2");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (1, 1, 2));
    let mut w = s.watch("k", 1).await.unwrap();
    for v in [b"1", b"2"] {
        let e = w.next().await.unwrap().unwrap();
        assert_eq!((e.value.as_slice(), e.revision), (v.as_slice(), 1));
    }
}

pub async fn range_is_prefix_bounded_ordered_and_pageable(s: Arc<dyn Store>) {
    for k in ["a/1", "a/3", "a/2", "ab", "b/1"] {
        s.put(k, k.as_bytes().to_vec()).await.unwrap();
    }
    assert_eq!(keys(s.range("a/", None, None).await.unwrap()), ["a/1", "a/2", "a/3"]);
    assert_eq!(keys(s.range("a/", Some("a/1"), Some(1)).await.unwrap()), ["a/2"]);
    assert_eq!(keys(s.range("", None, None).await.unwrap()).len(), 5);
}

pub async fn range_bounds_outside_the_prefix(s: Arc<dyn Store>) {
    for k in ["a/1", "a/2", "b/1"] {
        s.put(k, vec![]).await.unwrap();
    }
    // A start before the prefix is no bound; one past it leaves nothing.
    assert_eq!(keys(s.range("a/", Some("0"), None).await.unwrap()), ["a/1", "a/2"]);
    assert!(s.range("a/", Some("a/2"), None).await.unwrap().is_empty());
    assert!(s.range("a/", Some("z"), None).await.unwrap().is_empty());
    assert!(s.range("a/", None, Some(0)).await.unwrap().is_empty());
    assert_eq!(keys(s.range("", Some("a/2"), Some(5)).await.unwrap()), ["b/1"]);
    let kv = &s.range("b/", None, None).await.unwrap()[0];
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (3, 3, 1));
}

pub async fn watch_replays_history_then_follows_live_changes(s: Arc<dyn Store>) {
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

pub async fn watch_from_zero_replays_everything_including_deletes(s: Arc<dyn Store>) {
    s.put("w/1", b"a".to_vec()).await.unwrap(); // rev 1
    s.delete("w/1").await.unwrap(); // rev 2
    let mut w = s.watch("w/", 0).await.unwrap();
    let e = w.next().await.unwrap().unwrap();
    assert_eq!(
        (e.key.as_str(), e.revision, e.kind, e.value),
        ("w/1", 1, EventKind::Put, b"a".to_vec())
    );
    let e = w.next().await.unwrap().unwrap();
    assert_eq!(
        (e.key.as_str(), e.revision, e.kind, e.value),
        ("w/1", 2, EventKind::Delete, vec![])
    );
    // A watch from the future starts at that revision.
    let mut later = s.watch("w/", 4).await.unwrap();
    s.put("w/2", vec![]).await.unwrap(); // rev 3: before the watch's start
    s.put("w/3", vec![]).await.unwrap(); // rev 4
    let e = later.next().await.unwrap().unwrap();
    assert_eq!((e.key.as_str(), e.revision), ("w/3", 4));
}

pub async fn a_lagging_watcher_catches_up_from_the_log_without_gaps(s: Arc<dyn Store>) {
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

pub async fn concurrent_cas_increments_lose_no_update(s: Arc<dyn Store>) {
    let mut handles = vec![];
    for _ in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..25 {
                crate::typed::update::<u64, StoreError, _>(&*s, "counter", |v| Ok(Some(v.unwrap_or(0) + 1)))
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let (v, _) = crate::typed::get::<u64>(&*s, "counter").await.unwrap().unwrap();
    assert_eq!(v, 200);
}

pub async fn a_closed_store_refuses_every_call(s: Arc<dyn Store>) {
    s.put("k", vec![]).await.unwrap();
    s.close().await.unwrap();
    let closed = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Closed));
    assert!(closed(s.get("k").await.map(drop)));
    assert!(closed(s.range("", None, None).await.map(drop)));
    assert!(closed(s.put("k", vec![]).await.map(drop)));
    assert!(closed(s.txn(vec![], vec![]).await.map(drop)));
    assert!(closed(s.current_revision().await.map(drop)));
    assert!(closed(s.watch("", 1).await.map(drop)));
    s.close().await.unwrap();
}
