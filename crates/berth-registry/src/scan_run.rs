//! Running image scans: the vulnerability database file, and the worker.
//!
//! A scan is asked for by writing its record IN_PROGRESS and its key in the
//! queue (`ecr/scan-queue/`), in one transaction (StartImageScan, or the
//! push itself for a scanOnPush repository); the worker
//! ([`Registry::spawn_scanner`]) runs every queued scan — woken when one is
//! asked for, and at start, so a scan interrupted by a restart runs again —
//! and completes the record and leaves the queue in one transaction, only
//! if the record is still the one it read (asked again: it runs again; an
//! image deleted meanwhile keeps no scan). Layers are read as
//! streams, never whole in memory.
//!
//! The database is `DATA_DIR/scan-db/osv.json` (the converted advisories,
//! written atomically by `berth scan-db import`, [`import_database`]); a
//! scan reads the file current when it starts.

use crate::digest::Digest;
use crate::events::ImageScan;
use crate::manifest::{self, ManifestKind};
use crate::records::{ScanRecord, ScanStatus};
use crate::scan::{self, layers::Files, osv};
use crate::{Registry, keys, now_epoch};
use berth_store::{Compare, Op, typed};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The database file under a data dir.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("scan-db").join("osv.json")
}

#[derive(Serialize, Deserialize)]
struct DatabaseFile {
    imported_at: f64,
    advisories: Vec<osv::Advisory>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: osv::ImportError },
    #[error("{path}: {why}")]
    Zip { path: PathBuf, why: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Imports OSV records — `file` is a JSON file (an array of records or one
/// record), a zip of such `.json` files (OSV's per-ecosystem `all.zip`),
/// or a directory of either — replacing the database
/// of `data_dir`. Returns how many advisories were kept (the ecosystems
/// the scanner reads).
pub fn import_database(data_dir: &Path, file: &Path) -> Result<usize, ImportError> {
    let mut files = vec![];
    if file.is_dir() {
        let entries = std::fs::read_dir(file).map_err(|source| ImportError::Read {
            path: file.into(),
            source,
        })?;
        for e in entries {
            let p = e
                .map_err(|source| ImportError::Read {
                    path: file.into(),
                    source,
                })?
                .path();
            if p.extension().is_some_and(|x| x == "json" || x == "zip") {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(file.to_path_buf());
    }
    let mut advisories = vec![];
    for p in &files {
        let bytes = std::fs::read(p).map_err(|source| ImportError::Read {
            path: p.clone(),
            source,
        })?;
        if scan::zip::is_zip(&bytes) {
            let entries = scan::zip::json_entries(&bytes).map_err(|why| ImportError::Zip { path: p.clone(), why })?;
            for (name, data) in entries {
                let text = String::from_utf8_lossy(&data);
                advisories.extend(osv::parse(&text).map_err(|source| ImportError::Parse {
                    path: p.join(&name),
                    source,
                })?);
            }
            continue;
        }
        let text = String::from_utf8(bytes).map_err(|e| ImportError::Read {
            path: p.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        advisories.extend(osv::parse(&text).map_err(|source| ImportError::Parse {
            path: p.clone(),
            source,
        })?);
    }
    let n = advisories.len();
    let db = DatabaseFile {
        imported_at: now_epoch(),
        advisories,
    };
    let path = database_path(data_dir);
    let write = |source| ImportError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(path.parent().unwrap_or(data_dir)).map_err(write)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&db).map_err(|e| write(io::Error::other(e)))?).map_err(write)?;
    std::fs::rename(&tmp, &path).map_err(write)?;
    Ok(n)
}

fn load_database(path: &Path) -> Result<Option<DatabaseFile>, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("the vulnerability database is unreadable: {e}")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("the vulnerability database is unreadable: {e}")),
    }
}

/// A blob stream read synchronously (on a blocking thread).
struct StreamRead {
    stream: crate::blob::ByteStream,
    buf: Bytes,
    rt: tokio::runtime::Handle,
}

impl Read for StreamRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.rt.block_on(self.stream.next()) {
                Some(chunk) => self.buf = chunk?,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

impl Registry {
    /// Uses `path` as the vulnerability database (default:
    /// `DATA_DIR/scan-db/osv.json` of the registry's data dir).
    pub fn with_scan_database(mut self, path: PathBuf) -> Self {
        self.scan_db = path;
        self
    }

    /// Records a scan of `digest` as asked for (its IN_PROGRESS record and
    /// its place in the queue, only while the image is there) and wakes the
    /// worker. `None` when the image is gone.
    pub(crate) async fn request_scan(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<ScanRecord>, crate::RegistryError> {
        let Some((_, image_rev)) = self.image(repository, digest).await? else {
            return Ok(None);
        };
        let rec = ScanRecord::started(now_epoch());
        let ops = vec![
            Op::Put(keys::scan(repository, digest), typed::encode(&rec)?),
            Op::Put(keys::scan_queued(repository, digest), Vec::new()),
        ];
        let compares = vec![Compare::ModRevision(keys::image(repository, digest), image_rev)];
        if !self.store.txn(compares, ops).await?.succeeded {
            return Ok(None);
        }
        self.scan_wake.notify_one();
        Ok(Some(rec))
    }

    /// The registry scanning configuration, when one was put.
    pub(crate) async fn registry_scanning(
        &self,
    ) -> Result<Option<scan::config::RegistryScanning>, crate::RegistryError> {
        Ok(typed::get(&*self.store, keys::REGISTRY_SCANNING).await?.map(|(c, _)| c))
    }

    pub(crate) async fn scan_record(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<ScanRecord>, crate::RegistryError> {
        Ok(typed::get::<ScanRecord>(&*self.store, &keys::scan(repository, digest))
            .await
            .map_err(crate::RegistryError::from)?
            .map(|(r, _)| r))
    }

    /// Runs the scans asked for, until the registry is dropped.
    pub fn spawn_scanner(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let reg = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(r) = reg.upgrade() else { return };
                if let Err(e) = r.run_pending_scans().await {
                    tracing::warn!(error = %e, "image scans: cannot read the pending scans; retried");
                }
                let wake = r.scan_wake.clone();
                drop(r);
                // Woken by a request; the timeout only retries failures.
                let _ = tokio::time::timeout(Duration::from_secs(30), wake.notified()).await;
            }
        })
    }

    async fn run_pending_scans(&self) -> Result<(), crate::RegistryError> {
        for queued in self.store.range(keys::SCAN_QUEUE, None, None).await? {
            let Some((repo, digest)) = queued.key[keys::SCAN_QUEUE.len()..].rsplit_once('#') else {
                continue;
            };
            let (repo, digest) = (repo.to_string(), digest.to_string());
            let key = keys::scan(&repo, &digest);
            let Some((rec, rec_rev)) = typed::get::<ScanRecord>(&*self.store, &key).await? else {
                // Left over by nothing current: drop it.
                let _ = self
                    .store
                    .txn(
                        vec![Compare::ModRevision(queued.key.clone(), queued.mod_revision)],
                        vec![Op::Delete(queued.key.clone())],
                    )
                    .await?;
                continue;
            };
            let done = match self.scan_image(&repo, &digest).await {
                Ok((findings, source_updated_at)) => ScanRecord {
                    status: ScanStatus::Complete,
                    description: "The scan was completed successfully.".into(),
                    completed_at: Some(now_epoch()),
                    source_updated_at,
                    findings,
                    ..rec
                },
                Err(why) => ScanRecord {
                    status: ScanStatus::Failed,
                    description: why,
                    completed_at: Some(now_epoch()),
                    ..rec
                },
            };
            // Completed only if nobody asked again or deleted the image meanwhile.
            let committed = self
                .store
                .txn(
                    vec![Compare::ModRevision(key.clone(), rec_rev)],
                    vec![
                        Op::Put(key.clone(), typed::encode(&done)?),
                        Op::Delete(queued.key.clone()),
                    ],
                )
                .await?
                .succeeded;
            if committed {
                tracing::info!(repository = %repo, digest = %digest, status = done.status.as_str(), findings = done.findings.len(), "image scanned");
                let tags = self.tags_by_digest(&repo).await?.remove(&digest).unwrap_or_default();
                self.image_scan(ImageScan {
                    repository_arn: self.repository_arn(&repo),
                    repository: repo,
                    digest,
                    tags,
                    status: done.status,
                    counts: scan::severity_counts(&done.findings),
                });
            }
        }
        Ok(())
    }

    /// The findings of one image, or why it cannot be scanned.
    async fn scan_image(&self, repository: &str, digest: &str) -> Result<(Vec<scan::Finding>, Option<f64>), String> {
        let db = tokio::task::spawn_blocking({
            let path = self.scan_db.clone();
            move || load_database(&path)
        })
        .await
        .map_err(|e| e.to_string())??;
        let m = self.manifest(repository, digest).await.map_err(|e| e.to_string())?;
        let parsed = manifest::parse_manifest(&m.bytes, Some(&m.record.media_type)).map_err(|e| format!("{e:?}"))?;
        if parsed.kind != ManifestKind::Image {
            return Err("UnsupportedImageError: manifest lists are not scanned; scan each image of the list".into());
        }
        let mut files = Files::default();
        for layer in parsed.layers.iter().filter(|l| l.urls.is_empty()) {
            let d = Digest::parse(&layer.digest).map_err(|e| e.to_string())?;
            let read = self
                .store_of(repository)
                .await
                .map_err(|e| e.to_string())?
                .get(&d, None)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("the layer {d} is missing"))?;
            let reader = StreamRead {
                stream: read.stream,
                buf: Bytes::new(),
                rt: tokio::runtime::Handle::current(),
            };
            files = tokio::task::spawn_blocking(move || files.apply(reader).map(|()| files))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("UnsupportedImageError: layer {d}: {e}"))?;
        }
        let inventory = tokio::task::spawn_blocking(move || scan::inventory(&files, scan::rpmdb::packages))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|why| format!("UnsupportedImageError: {why}"))?;
        if inventory.ecosystem.is_none() {
            return Err("UnsupportedImageError: The operating system and/or package manager are not supported.".into());
        }
        // No database: a COMPLETE scan with no findings would claim the image clean.
        let Some(db) = db else {
            return Err(
                "no vulnerability database has been imported; import one with `berth scan-db import FILE` \
                        and start the scan again"
                    .into(),
            );
        };
        Ok((scan::findings(&inventory, &db.advisories), Some(db.imported_at)))
    }
}
