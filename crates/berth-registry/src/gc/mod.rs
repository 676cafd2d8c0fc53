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
//! 4. for each, under its shard's write lock and only if no publication
//!    of it ended since 1: removes its links in one store transaction
//!    that compares each link's revision (a refresh or re-link since 2
//!    fails it), then — the store now saying it is unreferenced — deletes
//!    its file.
//!
//! A crash between the transaction and the file removal leaves a file with
//! no link and no reference: garbage the next collection removes. Upload
//! sessions are not in the blob store until they complete (their bytes are
//! under `uploads/`), and completing one publishes under the fence.

pub mod plan;

use crate::digest::Digest;
use crate::error::RegistryError;
use crate::records::{ImageRecord, LayerRecord};
use crate::{Registry, keys, now_epoch};
use berth_store::{Compare, Op, typed};
use std::collections::HashSet;
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
        let files: Vec<plan::File> = self
            .blobs
            .list()
            .await?
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
        for g in garbage {
            let Ok(digest) = Digest::parse(&g.digest) else { continue };
            let Some(_fence) = self.publish_locks.collect(&g.digest).await else {
                report.skipped += 1;
                continue;
            };
            if !g.links.is_empty() {
                let compares = g
                    .links
                    .iter()
                    .map(|l| Compare::ModRevision(l.key.clone(), l.revision))
                    .collect();
                let ops = g.links.iter().map(|l| Op::Delete(l.key.clone())).collect();
                if !store_err(self.store.txn(compares, ops).await)?.succeeded {
                    report.skipped += 1;
                    continue;
                }
                report.links_removed += g.links.len() as u64;
            }
            if self.blobs.delete(&digest).await? {
                report.blobs_deleted += 1;
                report.bytes_freed += g.size.unwrap_or(0);
            }
        }
        Ok(report)
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
