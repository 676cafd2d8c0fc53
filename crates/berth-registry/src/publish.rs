//! The fence between blob publication and garbage collection.
//!
//! Everything that makes a blob reachable — publishing an upload and
//! linking it into a repository, mounting it, storing a manifest that
//! references it — holds a [`Publication`]: the read locks of the blobs'
//! shards (one of [`SHARDS`] read-write locks, by digest) for the whole
//! step, up to its store commit. While a collection is running, a
//! publication also notes its digests when it ends (before it lets the
//! locks go).
//!
//! A collection starts ([`PublishLocks::begin`]) *before* it reads the
//! store, and deletes a blob only under its shard's write lock and only
//! when no publication of that digest ended since it started: any
//! publication it could have missed either ended before it started (its
//! commit is in what the collection read) or is noted (the blob is left
//! for the next collection). Publications never wait on each other; the
//! collector holds one write lock at a time, for one store transaction and
//! one file removal.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) const SHARDS: usize = 64;

pub(crate) struct PublishLocks {
    locks: Vec<RwLock<()>>,
    /// Whether a collection is running (one at a time per registry).
    collecting: AtomicBool,
    /// The digests publications made reachable since it started.
    published: Mutex<HashSet<String>>,
}

/// Held while blobs are being made reachable.
pub(crate) struct Publication<'a> {
    owner: &'a PublishLocks,
    digests: Vec<String>,
    _locks: Vec<RwLockReadGuard<'a, ()>>,
}

impl Drop for Publication<'_> {
    fn drop(&mut self) {
        // Noted while the read locks are still held (fields drop after this).
        if self.owner.collecting.load(Ordering::SeqCst) {
            let mut p = self.owner.published.lock().unwrap_or_else(|e| e.into_inner());
            p.extend(self.digests.drain(..));
        }
    }
}

/// A running collection; ends it when dropped.
pub(crate) struct Collection<'a> {
    owner: &'a PublishLocks,
}

impl Drop for Collection<'_> {
    fn drop(&mut self) {
        self.owner.collecting.store(false, Ordering::SeqCst);
        self.owner.published.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The collector's hold on one shard.
pub(crate) struct Collecting<'a> {
    _lock: RwLockWriteGuard<'a, ()>,
}

/// The shard of a digest string (`sha256:…`): its last hex characters.
pub(crate) fn shard_of(digest: &str) -> usize {
    let tail = digest.get(digest.len().saturating_sub(4)..).unwrap_or("");
    usize::from_str_radix(tail, 16).unwrap_or(0) % SHARDS
}

impl PublishLocks {
    pub(crate) fn new() -> Self {
        Self {
            locks: (0..SHARDS).map(|_| RwLock::new(())).collect(),
            collecting: AtomicBool::new(false),
            published: Mutex::new(HashSet::new()),
        }
    }

    /// Guards publication of every digest in `digests` (each shard once, in
    /// shard order).
    pub(crate) async fn publish<'a>(&'a self, digests: impl IntoIterator<Item = &str>) -> Publication<'a> {
        let digests: Vec<String> = digests.into_iter().map(str::to_string).collect();
        let mut shards: Vec<usize> = digests.iter().map(|d| shard_of(d)).collect();
        shards.sort_unstable();
        shards.dedup();
        let mut locks = Vec::with_capacity(shards.len());
        for s in shards {
            locks.push(self.locks[s].read().await);
        }
        Publication {
            owner: self,
            digests,
            _locks: locks,
        }
    }

    /// Starts a collection, before it reads the store (the caller runs one
    /// at a time).
    pub(crate) fn begin(&self) -> Collection<'_> {
        self.published.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.collecting.store(true, Ordering::SeqCst);
        Collection { owner: self }
    }

    /// The collector's write lock on `digest`'s shard, when no publication
    /// of `digest` ended since the collection began (`None`: skip it).
    #[cfg(test)]
    pub(crate) async fn collect(&self, digest: &str) -> Option<Collecting<'_>> {
        let lock = self.collect_shard(shard_of(digest)).await;
        (!self.published_since_begin(digest)).then_some(lock)
    }

    /// The collector's write lock on one shard: no publication of its
    /// digests runs until it is dropped.
    pub(crate) async fn collect_shard(&self, shard: usize) -> Collecting<'_> {
        Collecting {
            _lock: self.locks[shard % SHARDS].write().await,
        }
    }

    /// Whether a publication of `digest` ended since the collection began
    /// (ask while holding its shard's [`PublishLocks::collect_shard`]).
    pub(crate) fn published_since_begin(&self, digest: &str) -> bool {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:00000000000000000000000000000000000000000000000000000000000000ab";
    const SAME_SHARD: &str = "sha256:00000000000000000000000000000000000000000000000000000000000040ab";

    #[tokio::test]
    async fn a_publication_of_the_digest_since_the_start_makes_the_collector_skip_it() {
        let locks = PublishLocks::new();
        drop(locks.publish([D]).await); // before: seen by the store reads
        let run = locks.begin();
        assert!(locks.collect(D).await.is_some());
        drop(locks.publish([D]).await);
        assert!(locks.collect(D).await.is_none());
        assert!(
            locks.collect(SAME_SHARD).await.is_some(),
            "another digest of the shard is not affected"
        );
        drop(run);
        let _run = locks.begin();
        assert!(locks.collect(D).await.is_some(), "a new collection starts afresh");
    }

    #[tokio::test]
    async fn the_collector_waits_for_a_publication_in_progress() {
        let locks = std::sync::Arc::new(PublishLocks::new());
        let publication = locks.publish([D, SAME_SHARD]).await;
        assert_eq!(publication._locks.len(), 1, "one lock per shard");
        let l2 = locks.clone();
        let collector = tokio::spawn(async move {
            let _run = l2.begin();
            l2.collect(D).await.is_some()
        });
        tokio::task::yield_now().await;
        assert!(!collector.is_finished());
        drop(publication);
        assert!(!collector.await.unwrap(), "the publication ended during the collection");
    }
}
