//! One region's part of a shared store. Berth serves several regions from
//! one store; each regional service gets a [`RegionStore`], which keeps its
//! keys apart from every other region's, for every call (get, range,
//! transactions and their compares, watch):
//!
//! * a region added later keeps its keys under `regions/<region>/`, the
//!   prefix added on the way in and stripped on the way out, so the service
//!   sees the same keys it would alone;
//! * the home region (the one a data dir was first served for) keeps the
//!   keys as they were written before Berth served several regions, with no
//!   prefix, and never sees what lies under `regions/`.
//!
//! Revisions stay store-wide: a region's revisions increase but skip the
//! ones other regions (and the global IAM) took, which every caller allows.
//! A region's [`Store::current_revision`] is the revision of its own last
//! write (or the store's when it was first asked): what a watcher of the
//! region's keys is sure to reach, since it never sees the other regions'
//! changes. That holds with one handle per region in the one process that
//! writes the store, as `SqliteStore` is (clones share the handle).

use crate::{Compare, Event, KeyValue, Op, Result, Revision, Store, StoreError, TxnResult, WatchStream};
use async_trait::async_trait;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where the keys of the regions other than the home region live.
pub const REGIONS_PREFIX: &str = "regions/";

/// A region's view of a shared [`Store`].
#[derive(Clone)]
pub struct RegionStore {
    inner: Arc<dyn Store>,
    layout: Layout,
    /// The revision of the region's last write through this handle, or the
    /// store's when first asked; -1 before either.
    revision: Arc<AtomicI64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Layout {
    /// Every key under this prefix (`regions/<region>/`).
    Prefixed(String),
    /// Keys as they are, everything under [`REGIONS_PREFIX`] hidden.
    Home,
}

impl RegionStore {
    /// A region whose keys live under `regions/<region>/`.
    pub fn prefixed(inner: Arc<dyn Store>, region: &str) -> Self {
        Self {
            inner,
            layout: Layout::Prefixed(format!("{REGIONS_PREFIX}{region}/")),
            revision: Arc::new(AtomicI64::new(-1)),
        }
    }

    /// The home region: the keys without a prefix, the other regions' hidden.
    pub fn home(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            layout: Layout::Home,
            revision: Arc::new(AtomicI64::new(-1)),
        }
    }

    /// The key in the shared store, or `None` for a key the home region
    /// may not name (one under [`REGIONS_PREFIX`]).
    fn outer(&self, key: &str) -> Option<String> {
        match &self.layout {
            Layout::Prefixed(p) => Some(format!("{p}{key}")),
            Layout::Home if key.starts_with(REGIONS_PREFIX) => None,
            Layout::Home => Some(key.to_string()),
        }
    }

    /// The region's key for a key of the shared store, if it is the region's.
    fn own(&self, key: String) -> Option<String> {
        match &self.layout {
            Layout::Prefixed(p) => key.strip_prefix(p.as_str()).map(str::to_string),
            Layout::Home if key.starts_with(REGIONS_PREFIX) => None,
            Layout::Home => Some(key),
        }
    }

    fn outer_or_refuse(&self, key: &str) -> Result<String> {
        self.outer(key).ok_or_else(|| {
            StoreError::Backend(format!(
                "the key {key} is under {REGIONS_PREFIX}, where other regions keep theirs"
            ))
        })
    }
}

fn own_kv(store: &RegionStore, kv: KeyValue) -> Option<KeyValue> {
    let key = store.own(kv.key)?;
    Some(KeyValue { key, ..kv })
}

#[async_trait]
impl Store for RegionStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let Some(outer) = self.outer(key) else {
            return Ok(None);
        };
        Ok(self.inner.get(&outer).await?.and_then(|kv| own_kv(self, kv)))
    }

    async fn range(&self, prefix: &str, start_after: Option<&str>, limit: Option<usize>) -> Result<Vec<KeyValue>> {
        let Some(outer_prefix) = self.outer(prefix) else {
            return Ok(vec![]);
        };
        // A start outside the region's keys bounds nothing it holds, as a
        // start before the prefix bounds nothing in a plain store.
        let mut after = start_after.and_then(|s| self.outer(s));
        if start_after.is_some() && after.is_none() {
            // Past `regions/…`: start after every hidden key.
            after = Some(format!("{REGIONS_PREFIX}\u{10FFFF}"));
        }
        let mut out = Vec::new();
        loop {
            let want = limit.map(|l| l - out.len());
            if want == Some(0) {
                return Ok(out);
            }
            let page = self.inner.range(&outer_prefix, after.as_deref(), want).await?;
            let full = want.is_some_and(|w| page.len() == w);
            after = match page.last() {
                // Skip the rest of the other regions' keys in one step.
                Some(kv) if kv.key.starts_with(REGIONS_PREFIX) => Some(format!("{REGIONS_PREFIX}\u{10FFFF}")),
                Some(kv) => Some(kv.key.clone()),
                None => after,
            };
            out.extend(page.into_iter().filter_map(|kv| own_kv(self, kv)));
            // Only the home region filters (hidden keys may have taken room
            // in a page); a prefixed region's page is whole.
            if !full || matches!(self.layout, Layout::Prefixed(_)) {
                return Ok(out);
            }
        }
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnResult> {
        let compares = compares
            .into_iter()
            .map(|c| {
                Ok(match c {
                    Compare::ModRevision(k, r) => Compare::ModRevision(self.outer_or_refuse(&k)?, r),
                    Compare::Absent(k) => Compare::Absent(self.outer_or_refuse(&k)?),
                    Compare::Exists(k) => Compare::Exists(self.outer_or_refuse(&k)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let ops = ops
            .into_iter()
            .map(|op| {
                Ok(match op {
                    Op::Put(k, v) => Op::Put(self.outer_or_refuse(&k)?, v),
                    Op::Delete(k) => Op::Delete(self.outer_or_refuse(&k)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let writes = !ops.is_empty();
        let result = self.inner.txn(compares, ops).await?;
        if result.succeeded && writes {
            self.revision.fetch_max(result.revision, Ordering::SeqCst);
        }
        Ok(result)
    }

    async fn current_revision(&self) -> Result<Revision> {
        let known = self.revision.load(Ordering::SeqCst);
        if known >= 0 {
            // Still fails once the store is closed, as every call does.
            self.inner.current_revision().await?;
            return Ok(known);
        }
        let store = self.inner.current_revision().await?;
        Ok(self.revision.fetch_max(store, Ordering::SeqCst).max(store))
    }

    async fn watch(&self, prefix: &str, from_revision: Revision) -> Result<WatchStream> {
        let Some(outer_prefix) = self.outer(prefix) else {
            // Nothing of the region can ever match: a stream that only ends
            // (or fails) with the store's.
            let stream = self.inner.watch(REGIONS_PREFIX, from_revision).await?;
            return Ok(stream.filter_map(|r| async move { r.err().map(Err) }).boxed());
        };
        let me = self.clone();
        let stream = self.inner.watch(&outer_prefix, from_revision).await?;
        Ok(stream
            .filter_map(move |r| {
                let mapped = match r {
                    Ok(ev) => me.own(ev.key).map(|key| Ok(Event { key, ..ev })),
                    Err(e) => Some(Err(e)),
                };
                async move { mapped }
            })
            .boxed())
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    fn keys(v: Vec<KeyValue>) -> Vec<String> {
        v.into_iter().map(|kv| kv.key).collect()
    }

    #[tokio::test]
    async fn regions_see_only_their_own_keys() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let home = RegionStore::home(shared.clone());
        let eu = RegionStore::prefixed(shared.clone(), "eu-west-1");
        let ap = RegionStore::prefixed(shared.clone(), "ap-south-1");
        home.put("ecs/clusters/a", b"home".to_vec()).await.unwrap();
        eu.put("ecs/clusters/a", b"eu".to_vec()).await.unwrap();
        eu.put("ecs/clusters/b", b"eu".to_vec()).await.unwrap();
        assert_eq!(home.get("ecs/clusters/a").await.unwrap().unwrap().value, b"home");
        assert_eq!(eu.get("ecs/clusters/a").await.unwrap().unwrap().value, b"eu");
        assert!(ap.get("ecs/clusters/a").await.unwrap().is_none());
        assert!(home.get("ecs/clusters/b").await.unwrap().is_none());
        assert_eq!(keys(home.range("", None, None).await.unwrap()), ["ecs/clusters/a"]);
        assert_eq!(
            keys(eu.range("ecs/", None, None).await.unwrap()),
            ["ecs/clusters/a", "ecs/clusters/b"]
        );
        assert!(ap.range("", None, None).await.unwrap().is_empty());
        // The shared store holds the layout the docs describe.
        assert_eq!(
            keys(shared.range("", None, None).await.unwrap()),
            [
                "ecs/clusters/a",
                "regions/eu-west-1/ecs/clusters/a",
                "regions/eu-west-1/ecs/clusters/b"
            ]
        );
    }

    #[tokio::test]
    async fn compares_and_deletes_stay_in_the_region() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let home = RegionStore::home(shared.clone());
        let eu = RegionStore::prefixed(shared.clone(), "eu-west-1");
        home.put("k", vec![]).await.unwrap();
        // The key exists in the home region only: eu creates its own.
        assert!(eu.create("k", b"eu".to_vec()).await.unwrap());
        assert!(eu.delete("k").await.unwrap());
        assert!(!eu.delete("k").await.unwrap());
        assert!(home.get("k").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_home_region_cannot_name_another_regions_keys() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let home = RegionStore::home(shared.clone());
        let eu = RegionStore::prefixed(shared.clone(), "eu-west-1");
        eu.put("secret", b"eu".to_vec()).await.unwrap();
        assert!(home.get("regions/eu-west-1/secret").await.unwrap().is_none());
        assert!(home.range("regions/", None, None).await.unwrap().is_empty());
        assert!(matches!(
            home.put("regions/eu-west-1/secret", vec![]).await,
            Err(StoreError::Backend(_))
        ));
        assert_eq!(eu.get("secret").await.unwrap().unwrap().value, b"eu");
    }

    #[tokio::test]
    async fn the_home_regions_pages_skip_hidden_keys() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let home = RegionStore::home(shared.clone());
        let eu = RegionStore::prefixed(shared.clone(), "eu-west-1");
        for k in ["a", "r", "s"] {
            home.put(k, vec![]).await.unwrap();
        }
        for i in 0..5 {
            eu.put(&format!("k/{i}"), vec![]).await.unwrap();
        }
        assert_eq!(keys(home.range("", None, Some(2)).await.unwrap()), ["a", "r"]);
        // `r` < `regions/…` < `s`: the page after `r` is not cut short by them.
        assert_eq!(keys(home.range("", Some("r"), Some(1)).await.unwrap()), ["s"]);
        assert_eq!(keys(home.range("", Some("regions/zz"), None).await.unwrap()), ["s"]);
    }

    #[tokio::test]
    async fn a_regions_revision_is_its_own_last_write() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        shared.put("iam/users/a", vec![]).await.unwrap(); // rev 1: global
        let home = RegionStore::home(shared.clone());
        let eu = RegionStore::prefixed(shared.clone(), "eu-west-1");
        assert_eq!(eu.current_revision().await.unwrap(), 1);
        home.put("k", vec![]).await.unwrap(); // rev 2
        shared.put("iam/users/b", vec![]).await.unwrap(); // rev 3
        // eu's watch of its keys never sees 2 or 3: its revision stays.
        assert_eq!(eu.current_revision().await.unwrap(), 1);
        assert_eq!(home.current_revision().await.unwrap(), 2);
        eu.put("k", vec![]).await.unwrap(); // rev 4
        assert_eq!(eu.current_revision().await.unwrap(), 4);
        // A failed compare or a read-only transaction writes nothing of the region's.
        assert!(!home.create("k", vec![]).await.unwrap());
        assert_eq!(home.current_revision().await.unwrap(), 2);
        let mut w = eu.watch("", eu.current_revision().await.unwrap()).await.unwrap();
        assert_eq!(w.next().await.unwrap().unwrap().revision, 4);
    }

    #[tokio::test]
    async fn watches_see_the_regions_changes_with_its_keys() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let home = RegionStore::home(shared.clone());
        let eu = RegionStore::prefixed(shared.clone(), "eu-west-1");
        let mut home_w = home.watch("", 1).await.unwrap();
        let mut eu_w = eu.watch("", 1).await.unwrap();
        eu.put("x", b"eu".to_vec()).await.unwrap(); // rev 1
        home.put("y", b"home".to_vec()).await.unwrap(); // rev 2
        let e = home_w.next().await.unwrap().unwrap();
        assert_eq!((e.key.as_str(), e.revision), ("y", 2));
        let e = eu_w.next().await.unwrap().unwrap();
        assert_eq!((e.key.as_str(), e.revision), ("x", 1));
        eu.delete("x").await.unwrap(); // rev 3
        let e = eu_w.next().await.unwrap().unwrap();
        assert_eq!((e.key.as_str(), e.revision), ("x", 3));
    }
}
