//! JSON-typed access on top of a [`Store`]: records are serde values, and
//! read-modify-write goes through an optimistic compare-and-swap loop.

use crate::{Compare, KeyValue, Op, Result, Revision, Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("encode: {e}")))
}

pub fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T> {
    serde_json::from_slice(&kv.value).map_err(|e| StoreError::Corrupt {
        key: kv.key.clone(),
        reason: e.to_string(),
    })
}

/// Reads a key as `T`, with its mod revision.
pub async fn get<T: DeserializeOwned>(store: &dyn Store, key: &str) -> Result<Option<(T, Revision)>> {
    match store.get(key).await? {
        Some(kv) => Ok(Some((decode(&kv)?, kv.mod_revision))),
        None => Ok(None),
    }
}

/// Writes `value` at `key` only if the key is still at revision `rev` (as
/// read); false when another writer changed it meanwhile.
pub async fn put_at<T: Serialize>(store: &dyn Store, key: &str, value: &T, rev: Revision) -> Result<bool> {
    let res = store
        .txn(
            vec![Compare::ModRevision(key.to_string(), rev)],
            vec![Op::Put(key.to_string(), encode(value)?)],
        )
        .await?;
    Ok(res.succeeded)
}

/// Deletes `key` only if it is still at revision `rev`; false when another
/// writer changed it meanwhile.
pub async fn delete_at(store: &dyn Store, key: &str, rev: Revision) -> Result<bool> {
    let res = store
        .txn(
            vec![Compare::ModRevision(key.to_string(), rev)],
            vec![Op::Delete(key.to_string())],
        )
        .await?;
    Ok(res.succeeded)
}

/// Lists every value under a prefix as `T`, in key order.
pub async fn list<T: DeserializeOwned>(store: &dyn Store, prefix: &str) -> Result<Vec<T>> {
    store.range(prefix, None, None).await?.iter().map(decode).collect()
}

/// How many times [`update`] runs `f` before it gives up on a key that other
/// writers keep changing under it.
pub const MAX_UPDATE_ATTEMPTS: u32 = 64;

/// Optimistic read-modify-write of one key: `f` sees the current value and
/// decides what to write; if another writer got there first, `f` runs again
/// (after yielding, and a random pause that grows with each lost race:
/// [`retry_pause`]), at most
/// [`MAX_UPDATE_ATTEMPTS`] times, then [`StoreError::Contended`].
pub async fn update<T, E, F>(store: &dyn Store, key: &str, f: F) -> std::result::Result<Option<T>, E>
where
    T: Serialize + DeserializeOwned + Clone,
    E: From<StoreError>,
    F: FnMut(Option<T>) -> std::result::Result<Option<T>, E>,
{
    update_with(E::from, store, key, f).await
}

/// [`update`] for an error type that is not `From<StoreError>`: store
/// failures become `E` through `store_error`.
pub async fn update_with<T, E, F>(
    store_error: fn(StoreError) -> E,
    store: &dyn Store,
    key: &str,
    mut f: F,
) -> std::result::Result<Option<T>, E>
where
    T: Serialize + DeserializeOwned + Clone,
    F: FnMut(Option<T>) -> std::result::Result<Option<T>, E>,
{
    for attempt in 1..=MAX_UPDATE_ATTEMPTS {
        if attempt > 1 {
            // Lost a race: let the winner finish, then wait a random while
            // that grows with the attempts, so that no writer keeps losing
            // to the same others (full jitter, capped).
            tokio::task::yield_now().await;
            tokio::time::sleep(retry_pause(attempt)).await;
        }
        let current = get::<T>(store, key).await.map_err(store_error)?;
        let (value, rev) = match current {
            Some((v, r)) => (Some(v), r),
            None => (None, 0),
        };
        let next = f(value)?;
        let op = match &next {
            Some(v) => Op::Put(key.to_string(), encode(v).map_err(store_error)?),
            None => Op::Delete(key.to_string()),
        };
        let res = store
            .txn(vec![Compare::ModRevision(key.to_string(), rev)], vec![op])
            .await
            .map_err(store_error)?;
        if res.succeeded {
            return Ok(next);
        }
    }
    Err(store_error(StoreError::Contended {
        key: key.to_string(),
        attempts: MAX_UPDATE_ATTEMPTS,
    }))
}

/// The pause before attempt `attempt` (≥ 2) of [`update`]: a random
/// duration up to 50 µs doubled per lost race, at most 10 ms.
fn retry_pause(attempt: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let cap_us: u64 = (50u64 << (attempt - 1).min(8)).min(10_000);
    // A fresh `RandomState` is randomly keyed: a cheap jitter without a
    // random-number crate.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    std::time::Duration::from_micros(h.finish() % (cap_us + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TxnResult, WatchStream};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A store whose every compare-and-swap loses the race.
    #[derive(Default)]
    struct AlwaysConflicting {
        txns: AtomicU32,
    }

    #[async_trait::async_trait]
    impl Store for AlwaysConflicting {
        async fn get(&self, _key: &str) -> Result<Option<KeyValue>> {
            Ok(None)
        }
        async fn range(&self, _: &str, _: Option<&str>, _: Option<usize>) -> Result<Vec<KeyValue>> {
            Ok(Vec::new())
        }
        async fn txn(&self, _: Vec<Compare>, _: Vec<Op>) -> Result<TxnResult> {
            self.txns.fetch_add(1, Ordering::SeqCst);
            Ok(TxnResult {
                succeeded: false,
                revision: 1,
            })
        }
        async fn current_revision(&self) -> Result<Revision> {
            Ok(1)
        }
        async fn watch(&self, _: &str, _: Revision) -> Result<WatchStream> {
            Err(StoreError::Closed)
        }
        async fn close(&self) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn update_gives_up_after_a_bounded_number_of_conflicts() {
        let store = AlwaysConflicting::default();
        let mut calls = 0;
        let res = update::<u32, StoreError, _>(&store, "k", |cur| {
            calls += 1;
            Ok(Some(cur.unwrap_or(0) + 1))
        })
        .await;
        assert!(matches!(
            res,
            Err(StoreError::Contended { ref key, attempts: MAX_UPDATE_ATTEMPTS }) if key == "k"
        ));
        assert_eq!(calls, MAX_UPDATE_ATTEMPTS);
        assert_eq!(store.txns.load(Ordering::SeqCst), MAX_UPDATE_ATTEMPTS);
    }

    #[tokio::test]
    async fn put_at_and_delete_at_write_only_at_the_revision_read() {
        let store = crate::MemoryStore::new();
        store.put("k", encode(&1u32).unwrap()).await.unwrap();
        let (_, rev) = get::<u32>(&store, "k").await.unwrap().unwrap();
        assert!(put_at(&store, "k", &2u32, rev).await.unwrap());
        // The revision read is stale now: neither write happens.
        assert!(!put_at(&store, "k", &3u32, rev).await.unwrap());
        assert!(!delete_at(&store, "k", rev).await.unwrap());
        let (v, now) = get::<u32>(&store, "k").await.unwrap().unwrap();
        assert_eq!(v, 2);
        assert!(delete_at(&store, "k", now).await.unwrap());
        assert!(get::<u32>(&store, "k").await.unwrap().is_none());
    }
}
