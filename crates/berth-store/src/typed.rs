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

/// Lists every value under a prefix as `T`, in key order.
pub async fn list<T: DeserializeOwned>(store: &dyn Store, prefix: &str) -> Result<Vec<T>> {
    store.range(prefix, None, None).await?.iter().map(decode).collect()
}

/// Optimistic read-modify-write of one key: `f` sees the current value and
/// decides what to write; if another writer got there first, `f` runs again.
pub async fn update<T, E, F>(store: &dyn Store, key: &str, mut f: F) -> std::result::Result<Option<T>, E>
where
    T: Serialize + DeserializeOwned + Clone,
    E: From<StoreError>,
    F: FnMut(Option<T>) -> std::result::Result<Option<T>, E>,
{
    loop {
        let current = get::<T>(store, key).await?;
        let (value, rev) = match current {
            Some((v, r)) => (Some(v), r),
            None => (None, 0),
        };
        let next = f(value)?;
        let op = match &next {
            Some(v) => Op::Put(key.to_string(), encode(v)?),
            None => Op::Delete(key.to_string()),
        };
        let res = store
            .txn(vec![Compare::ModRevision(key.to_string(), rev)], vec![op])
            .await?;
        if res.succeeded {
            return Ok(next);
        }
    }
}
