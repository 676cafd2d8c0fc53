//! The backfill controller: converges each replication backfill that has
//! not ended ([`super::backfills`] for its rules), idempotently — after a
//! restart it goes on from what is stored. A PREPARING one lists its
//! images; an IN_PROGRESS one queues what it has not (each intent marked
//! as its own in the queueing transaction, which also requires the record
//! unchanged, so a stop ends the queueing), follows the statuses the
//! replicator writes, and ends when nothing is pending; a STOPPING (or
//! failing) one withdraws its intents not being copied, waits for those
//! being copied, and ends. Ending writes the status, the progress and the
//! per-image results, and frees the destination region, in one
//! transaction. Terminal records are deleted 90 days after they end.

use super::backfill::Queued;
use super::backfills::{self, BackfillImage, BackfillRecord, BackfillStatus, Mark, MarkRecord, Outcome};
use super::config::Destination;
use super::status::{self, ReplicationRecord};
use crate::error::RegistryError;
use crate::{Registry, keys, now_epoch};
use berth_store::{Compare, Op, Revision, typed};
use std::sync::Arc;
use std::time::Duration;

/// While a backfill runs, its progress is read again this often.
const RUNNING: Duration = Duration::from_millis(250);
/// With none running, the controller looks again this often (or when woken).
const IDLE: Duration = Duration::from_secs(30);

impl Registry {
    /// Runs the backfill controller until the registry is dropped.
    pub(crate) fn spawn_backfill_controller(self: &Arc<Self>) {
        let reg = Arc::downgrade(self);
        drop(tokio::spawn(async move {
            loop {
                let Some(r) = reg.upgrade() else { return };
                let wait = match r.converge_backfills().await {
                    Ok(true) => RUNNING,
                    Ok(false) => IDLE,
                    Err(e) => {
                        tracing::warn!(error = %e, "replication backfill: cannot converge; retried");
                        RUNNING * 8
                    }
                };
                let wake = r.replication.backfill_wake.clone();
                drop(r);
                let _ = tokio::time::timeout(wait, wake.notified()).await;
            }
        }));
    }

    pub(crate) fn wake_backfills(&self) {
        self.replication.backfill_wake.notify_one();
    }

    /// One pass over every backfill; answers whether one is still running.
    async fn converge_backfills(&self) -> Result<bool, RegistryError> {
        let now = now_epoch();
        let mut running = false;
        for kv in self.store.range(keys::REPLICATION_BACKFILLS, None, None).await? {
            let rec: BackfillRecord = typed::decode(&kv)?;
            if rec.status.is_terminal() {
                if !rec.retained(now) {
                    self.forget_backfill(&rec.id, kv.mod_revision).await?;
                }
                continue;
            }
            running = true;
            match rec.status {
                BackfillStatus::Preparing => self.prepare_backfill(rec, kv.mod_revision).await?,
                _ => self.run_backfill(rec, kv.mod_revision).await?,
            }
        }
        Ok(running)
    }

    /// Lists the images the configuration's rules give the destination.
    async fn prepare_backfill(&self, mut rec: BackfillRecord, rev: Revision) -> Result<(), RegistryError> {
        let config = self.replication_configuration().await?;
        if !config.all_destinations().contains(&rec.destination) {
            return self
                .end_backfill(
                    rec,
                    rev,
                    BackfillStatus::Failed,
                    Some(backfills::DESTINATION_REMOVED.into()),
                )
                .await;
        }
        let mut images = Vec::new();
        for repo in self.repository_names().await? {
            if !config.destinations_for(&repo).contains(&rec.destination) {
                continue;
            }
            let mut tags = self.tags_by_digest(&repo).await?;
            for image in self.images(&repo).await? {
                images.push(BackfillImage {
                    tags: tags.remove(&image.digest).unwrap_or_default(),
                    repository: repo.clone(),
                    digest: image.digest,
                });
            }
        }
        let outcomes = vec![Outcome::Pending; images.len()];
        rec.progress = Some(backfills::progress(&images, &outcomes));
        rec.images = Some(images);
        rec.status = BackfillStatus::InProgress;
        // Only if no stop came meanwhile (then it is STOPPED, unprepared).
        self.store
            .txn(
                vec![Compare::ModRevision(keys::replication_backfill(&rec.id), rev)],
                vec![Op::Put(keys::replication_backfill(&rec.id), typed::encode(&rec)?)],
            )
            .await?;
        tracing::info!(backfill = %rec.id, region = %rec.destination.region, "replication backfill prepared");
        Ok(())
    }

    /// Queues, follows, withdraws (when winding down), and ends.
    async fn run_backfill(&self, mut rec: BackfillRecord, rev: Revision) -> Result<(), RegistryError> {
        let images = rec.images.clone().unwrap_or_default();
        let record_key = keys::replication_backfill(&rec.id);
        let stopping = rec.status == BackfillStatus::Stopping;
        let winding_down = stopping || rec.progress.as_ref().is_some_and(backfills::failing);
        let mut outcomes = Vec::with_capacity(images.len());
        let mut queued_any = false;
        for image in &images {
            let mark_key = keys::replication_backfill_mark(&rec.id, &image.repository, &image.digest);
            let mut mark = self.mark(&mark_key).await?;
            let mut current = self.replication_status(image, &rec.destination).await?;
            if mark.is_none() && !winding_down {
                let step = self
                    .queue_replication(
                        &image.repository,
                        &image.digest,
                        &rec.destination,
                        vec![Compare::ModRevision(record_key.clone(), rev)],
                        |previous| {
                            let rec = MarkRecord {
                                mark: Mark::Queued,
                                previous: previous.cloned(),
                            };
                            Ok(vec![Op::Put(mark_key.clone(), typed::encode(&rec)?)])
                        },
                    )
                    .await?;
                match step {
                    Queued::Now => queued_any = true,
                    Queued::Gone => {
                        let gone = MarkRecord {
                            mark: Mark::Gone,
                            previous: None,
                        };
                        self.store.put(&mark_key, typed::encode(&gone)?).await?;
                    }
                    Queued::AlreadyReplicated | Queued::InProgress | Queued::Raced => {}
                }
                mark = self.mark(&mark_key).await?;
                current = self.replication_status(image, &rec.destination).await?;
            }
            if winding_down
                && let Some((m, mark_rev)) = &mark
                && m.mark == Mark::Queued
                && self.withdraw(image, &rec.destination, &mark_key, m, *mark_rev).await?
            {
                mark = Some((
                    MarkRecord {
                        mark: Mark::Withdrawn,
                        previous: None,
                    },
                    0,
                ));
                current = None;
            }
            outcomes.push(backfills::outcome(
                mark.as_ref().map(|(m, _)| m.mark),
                current,
                winding_down,
            ));
        }
        if queued_any {
            self.wake_replicator();
        }
        let progress = backfills::progress(&images, &outcomes);
        let pending = outcomes.iter().filter(|o| **o == Outcome::Pending).count();
        if let Some((status, code)) = backfills::settle(rec.status, &progress, pending) {
            rec.results = Some(backfills::results(&images, &outcomes));
            rec.progress = Some(progress);
            return self.end_backfill(rec, rev, status, code).await;
        }
        if rec.progress.as_ref() != Some(&progress) {
            rec.progress = Some(progress);
            // Lost to a stop: the next pass sees it.
            self.store
                .txn(
                    vec![Compare::ModRevision(record_key.clone(), rev)],
                    vec![Op::Put(record_key, typed::encode(&rec)?)],
                )
                .await?;
        }
        Ok(())
    }

    async fn mark(&self, key: &str) -> Result<Option<(MarkRecord, Revision)>, RegistryError> {
        Ok(typed::get::<MarkRecord>(&*self.store, key).await?)
    }

    async fn replication_status(
        &self,
        image: &BackfillImage,
        dest: &Destination,
    ) -> Result<Option<(status::ReplicationStatus, Option<String>)>, RegistryError> {
        let key = keys::replication(&image.repository, &image.digest, &status::suffix(dest));
        Ok(typed::get::<ReplicationRecord>(&*self.store, &key)
            .await?
            .map(|(r, _)| (r.status, r.failure_code)))
    }

    /// Withdraws this backfill's intent for `image` unless it is being
    /// copied (or a push asked again since): its intent goes, the status it
    /// replaced is put back (none: removed), its mark says so. Whether it
    /// was withdrawn.
    async fn withdraw(
        &self,
        image: &BackfillImage,
        dest: &Destination,
        mark_key: &str,
        mark: &MarkRecord,
        mark_rev: Revision,
    ) -> Result<bool, RegistryError> {
        let suffix = status::suffix(dest);
        let queue_key = keys::replication_queued(&image.repository, &image.digest, &suffix);
        let _claims = self.replication.claims.lock().await;
        let flying = self
            .replication
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&queue_key);
        if flying {
            return Ok(false);
        }
        let status_key = keys::replication(&image.repository, &image.digest, &suffix);
        let restore = match &mark.previous {
            Some(previous) => Op::Put(status_key, typed::encode(previous)?),
            None => Op::Delete(status_key),
        };
        let withdrawn = MarkRecord {
            mark: Mark::Withdrawn,
            previous: None,
        };
        // The intent is this backfill's only while written with its mark.
        let txn = self
            .store
            .txn(
                vec![Compare::ModRevision(queue_key.clone(), mark_rev)],
                vec![
                    Op::Delete(queue_key),
                    restore,
                    Op::Put(mark_key.to_string(), typed::encode(&withdrawn)?),
                ],
            )
            .await?;
        Ok(txn.succeeded)
    }

    /// Writes the terminal status and frees its region (one transaction).
    async fn end_backfill(
        &self,
        mut rec: BackfillRecord,
        rev: Revision,
        status: BackfillStatus,
        failure_code: Option<String>,
    ) -> Result<(), RegistryError> {
        rec.status = status;
        rec.failure_code = failure_code;
        rec.ended_at = Some(now_epoch());
        let record_key = keys::replication_backfill(&rec.id);
        let (active, active_rev) = self.active_backfills().await?;
        let mut active = active;
        if active.get(&rec.destination.region) == Some(&rec.id) {
            active.remove(&rec.destination.region);
        }
        let committed = self
            .store
            .txn(
                vec![
                    Compare::ModRevision(record_key.clone(), rev),
                    Compare::ModRevision(keys::REPLICATION_BACKFILLS_ACTIVE.to_string(), active_rev),
                ],
                vec![
                    Op::Put(record_key, typed::encode(&rec)?),
                    Op::Put(keys::REPLICATION_BACKFILLS_ACTIVE.to_string(), typed::encode(&active)?),
                ],
            )
            .await?
            .succeeded;
        if committed {
            tracing::info!(backfill = %rec.id, region = %rec.destination.region, status = ?rec.status, "replication backfill ended");
        }
        Ok(())
    }

    /// The backfills in progress and the revision of their record (0: none).
    pub(crate) async fn active_backfills(&self) -> Result<(backfills::Active, Revision), RegistryError> {
        Ok(
            typed::get::<backfills::Active>(&*self.store, keys::REPLICATION_BACKFILLS_ACTIVE)
                .await?
                .unwrap_or_default(),
        )
    }

    /// Deletes a backfill past its retention, and its marks.
    async fn forget_backfill(&self, id: &str, rev: Revision) -> Result<(), RegistryError> {
        let mut ops = vec![Op::Delete(keys::replication_backfill(id))];
        for kv in self
            .store
            .range(&keys::replication_backfill_marks(id), None, None)
            .await?
        {
            ops.push(Op::Delete(kv.key));
        }
        self.store
            .txn(vec![Compare::ModRevision(keys::replication_backfill(id), rev)], ops)
            .await?;
        Ok(())
    }
}
