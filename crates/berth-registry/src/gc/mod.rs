//! Online garbage collection of blobs, while pushes and pulls go on.
//!
//! Blobs are stored once for the whole registry (content-addressed,
//! deduplicated across repositories), so reachability is global: a blob is
//! kept while an image of *any* repository names it. One collection:
//!
//! 1. begins behind the publish fence (`crate::publish`): from now on,
//!    every publication notes the digests it made reachable;
//! 2. reads every repository link, every image record and every blob file;
//! 3. marks the garbage ([`plan::plan`]: not referenced, older than the
//!    grace window);
//! 4. shard by shard, under the shard's write lock, for the garbage no
//!    publication touched since 1: removes their links in one store
//!    transaction (per batch of up to 128 links) that compares each link's
//!    revision (a refresh or re-link since 2 fails it; the batch is then
//!    retried blob by blob), then — the store now saying they are
//!    unreferenced — deletes their files.
//!
//! A crash between the transaction and the file removal leaves a file with
//! no link and no reference: garbage the next collection removes. Upload
//! sessions are not in the blob store until they complete (their bytes are
//! under `uploads/`), and completing one publishes under the fence.

pub mod plan;

use crate::digest::Digest;
use crate::error::RegistryError;
use crate::records::{ImageRecord, LayerRecord};
use crate::{Registry, keys, now_epoch, publish};
use berth_store::{Compare, Op, typed};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one collection found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub dry_run: bool,
    /// Blob files stored when it started.
    pub blobs_scanned: u64,
    /// Blobs marked as garbage.
    pub garbage_blobs: u64,
    /// Their bytes (the files that exist).
    pub garbage_bytes: u64,
    /// Files deleted (0 in a dry run).
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
    /// Repository links removed.
    pub links_removed: u64,
    /// Garbage left for the next collection: published to or re-linked meanwhile.
    pub skipped: u64,
    pub duration_ms: u64,
}

/// Totals for `/metrics`.
#[derive(Debug, Default)]
pub struct GcStats {
    pub runs: AtomicU64,
    pub blobs_deleted: AtomicU64,
    pub bytes_freed: AtomicU64,
    pub links_removed: AtomicU64,
    pub failures: AtomicU64,
    /// Microseconds the collections took, in total.
    pub duration_us: AtomicU64,
}

fn store_err<T>(r: Result<T, berth_store::StoreError>) -> Result<T, RegistryError> {
    r.map_err(RegistryError::Store)
}

/// At most this many links are removed by one store transaction.
const MAX_BATCH_LINKS: usize = 128;

/// Splits one shard's garbage into batches of at most [`MAX_BATCH_LINKS`]
/// links (a blob with more links is a batch of its own).
fn batches(list: Vec<plan::Garbage>) -> Vec<Vec<plan::Garbage>> {
    let mut out: Vec<Vec<plan::Garbage>> = vec![];
    let mut links = 0;
    for g in list {
        let n = g.links.len().max(1);
        match out.last_mut() {
            Some(b) if links + n <= MAX_BATCH_LINKS => {
                links += n;
                b.push(g);
            }
            _ => {
                links = n;
                out.push(vec![g]);
            }
        }
    }
    out
}

impl Registry {
    /// Blobs younger than this are never collected (`--registry-gc-grace-secs`).
    pub fn with_gc_grace(mut self, grace: Duration) -> Self {
        self.gc_grace = grace;
        self
    }

    pub fn gc_stats(&self) -> &GcStats {
        &self.gc_stats
    }

    /// Every repository link, with its revision.
    async fn all_links(&self) -> Result<Vec<plan::Link>, RegistryError> {
        let mut out = vec![];
        for kv in store_err(self.store.range(keys::LAYERS, None, None).await)? {
            let Some((_, digest)) = kv.key[keys::LAYERS.len()..].split_once('#') else {
                continue;
            };
            let rec: LayerRecord = store_err(typed::decode(&kv))?;
            out.push(plan::Link {
                digest: digest.to_string(),
                key: kv.key.clone(),
                revision: kv.mod_revision,
                created_at: rec.created_at,
            });
        }
        Ok(out)
    }

    /// Every blob an image of any repository names.
    async fn referenced_blobs(&self) -> Result<HashSet<String>, RegistryError> {
        let mut out = HashSet::new();
        for kv in store_err(self.store.range(keys::IMAGES, None, None).await)? {
            let rec: ImageRecord = store_err(typed::decode(&kv))?;
            out.extend(rec.blobs);
            out.insert(rec.digest);
        }
        Ok(out)
    }

    /// One collection (one at a time; a second caller waits for the first).
    pub async fn collect_garbage(&self, dry_run: bool) -> Result<GcReport, RegistryError> {
        let _one = self.gc_running.lock().await;
        let started = Instant::now();
        let result = self.collect(dry_run).await;
        let elapsed = started.elapsed();
        let stats = &self.gc_stats;
        stats.runs.fetch_add(1, Ordering::Relaxed);
        stats
            .duration_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        match result {
            Ok(mut r) => {
                r.duration_ms = elapsed.as_millis() as u64;
                stats.blobs_deleted.fetch_add(r.blobs_deleted, Ordering::Relaxed);
                stats.bytes_freed.fetch_add(r.bytes_freed, Ordering::Relaxed);
                stats.links_removed.fetch_add(r.links_removed, Ordering::Relaxed);
                tracing::info!(
                    dry_run,
                    garbage = r.garbage_blobs,
                    deleted = r.blobs_deleted,
                    freed = r.bytes_freed,
                    skipped = r.skipped,
                    ms = r.duration_ms,
                    "registry garbage collection"
                );
                Ok(r)
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    async fn collect(&self, dry_run: bool) -> Result<GcReport, RegistryError> {
        let _collection = self.publish_locks.begin();
        let now = now_epoch();
        let links = self.all_links().await?;
        let referenced = self.referenced_blobs().await?;
        let mut stored = self.blobs.list().await?;
        stored.extend(self.crypt.list_all().await?);
        let files: Vec<plan::File> = stored
            .into_iter()
            .map(|b| plan::File {
                digest: b.digest.to_string(),
                size: b.size,
                written_at: b.written_at,
            })
            .collect();
        let garbage = plan::plan(&referenced, &links, &files, now, self.gc_grace.as_secs_f64());
        let mut report = GcReport {
            dry_run,
            blobs_scanned: files.len() as u64,
            garbage_blobs: garbage.len() as u64,
            garbage_bytes: garbage.iter().filter_map(|g| g.size).sum(),
            ..Default::default()
        };
        if dry_run {
            return Ok(report);
        }
        // Shard by shard (one write lock held at a time), in batches of at
        // most MAX_BATCH_LINKS links: one store transaction per batch.
        let mut by_shard: BTreeMap<usize, Vec<plan::Garbage>> = BTreeMap::new();
        for g in garbage {
            by_shard.entry(publish::shard_of(&g.digest)).or_default().push(g);
        }
        for (shard, list) in by_shard {
            for batch in batches(list) {
                let _fence = self.publish_locks.collect_shard(shard).await;
                let (go, skip): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .partition(|g| !self.publish_locks.published_since_begin(&g.digest));
                report.skipped += skip.len() as u64;
                let unlinked = self.remove_links(go, &mut report).await?;
                for g in unlinked {
                    let Ok(digest) = Digest::parse(&g.digest) else { continue };
                    let plain = self.blobs.delete(&digest).await?;
                    if self.crypt.delete_everywhere(&digest).await? || plain {
                        report.blobs_deleted += 1;
                        report.bytes_freed += g.size.unwrap_or(0);
                    }
                }
            }
        }
        Ok(report)
    }

    /// Removes the links of `batch` in one transaction comparing each
    /// link's revision; when one moved, blob by blob. Returns the blobs
    /// whose links are gone (their files may go now).
    async fn remove_links(
        &self,
        batch: Vec<plan::Garbage>,
        report: &mut GcReport,
    ) -> Result<Vec<plan::Garbage>, RegistryError> {
        let txn = |gs: &[plan::Garbage]| {
            let links = gs.iter().flat_map(|g| &g.links);
            let compares: Vec<Compare> = links
                .clone()
                .map(|l| Compare::ModRevision(l.key.clone(), l.revision))
                .collect();
            let ops: Vec<Op> = links.map(|l| Op::Delete(l.key.clone())).collect();
            (compares, ops)
        };
        let count = |gs: &[plan::Garbage]| gs.iter().map(|g| g.links.len() as u64).sum::<u64>();
        let (compares, ops) = txn(&batch);
        if ops.is_empty() || store_err(self.store.txn(compares, ops).await)?.succeeded {
            report.links_removed += count(&batch);
            return Ok(batch);
        }
        let mut out = vec![];
        for g in batch {
            let one = std::slice::from_ref(&g);
            let (compares, ops) = txn(one);
            if ops.is_empty() || store_err(self.store.txn(compares, ops).await)?.succeeded {
                report.links_removed += count(one);
                out.push(g);
            } else {
                report.skipped += 1;
            }
        }
        Ok(out)
    }

    /// Collects every `every`, forever.
    pub fn spawn_gc(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let reg = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(reg) = reg.upgrade() else { return };
                if let Err(e) = reg.collect_garbage(false).await {
                    tracing::warn!(error = %e, "registry garbage collection failed; retried at the next interval");
                }
            }
        })
    }
}

/// The collections' totals for `/metrics`, one sample per region
/// (Prometheus text, or OpenMetrics when `openmetrics`).
pub fn render_metrics(regions: &[(&str, &GcStats)], openmetrics: bool) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    type Pick = fn(&GcStats) -> f64;
    let families: [(&str, &str, Pick); 5] = [
        (
            "berth_registry_gc_runs_total",
            "registry garbage collections run",
            |s| s.runs.load(Ordering::Relaxed) as f64,
        ),
        (
            "berth_registry_gc_blobs_deleted_total",
            "blobs the registry's garbage collection deleted",
            |s| s.blobs_deleted.load(Ordering::Relaxed) as f64,
        ),
        (
            "berth_registry_gc_bytes_freed_total",
            "bytes of blobs the registry's garbage collection deleted",
            |s| s.bytes_freed.load(Ordering::Relaxed) as f64,
        ),
        (
            "berth_registry_gc_failures_total",
            "registry garbage collections that failed",
            |s| s.failures.load(Ordering::Relaxed) as f64,
        ),
        (
            "berth_registry_gc_seconds_total",
            "time spent collecting registry garbage",
            |s| s.duration_us.load(Ordering::Relaxed) as f64 / 1e6,
        ),
    ];
    for (name, help, pick) in families {
        let family = if openmetrics {
            name.trim_end_matches("_total")
        } else {
            name
        };
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} counter");
        for (region, stats) in regions {
            let _ = writeln!(out, "{name}{{region=\"{region}\"}} {}", pick(stats));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn garbage(links: usize) -> plan::Garbage {
        plan::Garbage {
            digest: format!("sha256:{links}"),
            size: Some(1),
            links: (0..links)
                .map(|i| plan::Link {
                    key: format!("k{i}"),
                    digest: String::new(),
                    revision: 1,
                    created_at: 0.0,
                })
                .collect(),
        }
    }

    #[test]
    fn batches_hold_at_most_128_links() {
        let sizes = |b: &[Vec<plan::Garbage>]| {
            b.iter()
                .map(|b| b.iter().map(|g| g.links.len().max(1)).sum::<usize>())
                .collect::<Vec<_>>()
        };
        let list: Vec<_> = (0..300).map(|_| garbage(1)).collect();
        assert_eq!(sizes(&batches(list)), [128, 128, 44]);
        let list = vec![garbage(0), garbage(200), garbage(100), garbage(28), garbage(1)];
        assert_eq!(sizes(&batches(list)), [1, 200, 128, 1]);
        assert!(batches(vec![]).is_empty());
    }
}
