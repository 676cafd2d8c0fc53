//! The fence between blob publication and garbage collection.
//!
//! Everything that makes a blob reachable — publishing an upload and
//! linking it into a repository, mounting it, storing a manifest that
//! references it — holds a *publish guard* on the blob's shard (one of
//! [`SHARDS`] read-write locks, by digest) for the whole step, and bumps the
//! shard's generation when it lets go. Garbage collection notes the
//! generations before it reads the store, and deletes a blob only under the
//! shard's write lock and only when the generation has not moved: any
//! publication it could have missed either finished before its reads (and
//! is in them) or moved the generation (the blob is skipped, for the next
//! collection to decide). Readers never wait on each other; the collector
//! holds one write lock at a time, for one store transaction and one file
//! removal.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) const SHARDS: usize = 64;

pub(crate) struct PublishLocks {
    locks: Vec<RwLock<()>>,
    generations: Vec<AtomicU64>,
}

/// Held while a blob is being made reachable; bumps the shard's
/// generation when dropped.
pub(crate) struct PublishGuard<'a> {
    _lock: RwLockReadGuard<'a, ()>,
    generation: &'a AtomicU64,
}

impl Drop for PublishGuard<'_> {
    fn drop(&mut self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// The collector's hold on one shard.
pub(crate) struct CollectGuard<'a> {
    _lock: RwLockWriteGuard<'a, ()>,
}

/// The shard of a digest string (`sha256:…`): its last hex characters.
fn shard_of(digest: &str) -> usize {
    let tail = digest.get(digest.len().saturating_sub(4)..).unwrap_or("");
    usize::from_str_radix(tail, 16).unwrap_or(0) % SHARDS
}

impl PublishLocks {
    pub(crate) fn new() -> Self {
        Self {
            locks: (0..SHARDS).map(|_| RwLock::new(())).collect(),
            generations: (0..SHARDS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Guards publication of every digest in `digests` (each shard once, in
    /// shard order).
    pub(crate) async fn publish<'a>(&'a self, digests: impl IntoIterator<Item = &str>) -> Vec<PublishGuard<'a>> {
        let mut shards: Vec<usize> = digests.into_iter().map(shard_of).collect();
        shards.sort_unstable();
        shards.dedup();
        let mut out = Vec::with_capacity(shards.len());
        for s in shards {
            out.push(PublishGuard {
                _lock: self.locks[s].read().await,
                generation: &self.generations[s],
            });
        }
        out
    }

    /// Every shard's generation, before the collector reads the store.
    pub(crate) fn generations(&self) -> Vec<u64> {
        self.generations.iter().map(|g| g.load(Ordering::SeqCst)).collect()
    }

    /// The collector's write lock on `digest`'s shard, when no publication
    /// touched the shard since `seen` was taken (`None`: skip it).
    pub(crate) async fn collect(&self, digest: &str, seen: &[u64]) -> Option<CollectGuard<'_>> {
        let s = shard_of(digest);
        let lock = self.locks[s].write().await;
        (self.generations[s].load(Ordering::SeqCst) == seen[s]).then_some(CollectGuard { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_publication_since_the_snapshot_makes_the_collector_skip() {
        let locks = PublishLocks::new();
        let d = "sha256:00000000000000000000000000000000000000000000000000000000000000ab";
        let seen = locks.generations();
        assert!(locks.collect(d, &seen).await.is_some());
        drop(locks.publish([d]).await);
        assert!(locks.collect(d, &seen).await.is_none());
        let other = "sha256:00000000000000000000000000000000000000000000000000000000000000ac";
        assert!(
            locks.collect(other, &seen).await.is_some(),
            "other shards are not affected"
        );
        let seen = locks.generations();
        assert!(locks.collect(d, &seen).await.is_some());
    }

    #[tokio::test]
    async fn the_collector_waits_for_a_publication_in_progress() {
        let locks = std::sync::Arc::new(PublishLocks::new());
        let d = "sha256:00000000000000000000000000000000000000000000000000000000000000ab";
        let seen = locks.generations();
        let guard = locks.publish([d, d]).await;
        assert_eq!(guard.len(), 1, "one guard per shard");
        let l2 = locks.clone();
        let collector = tokio::spawn(async move { l2.collect(d, &seen).await.is_some() });
        tokio::task::yield_now().await;
        assert!(!collector.is_finished());
        drop(guard);
        assert!(!collector.await.unwrap(), "the publication moved the generation");
    }
}
