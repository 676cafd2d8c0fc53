//! Replication backfill, Berth's addition to ECR (which replicates only
//! images pushed after the configuration exists): every image already in
//! the repositories a rule applies to is queued for each of its
//! destinations, through the same durable intents as a push
//! (`ecr/replication-queue/…` and an IN_PROGRESS status, written in one
//! transaction only while the image is still there), so the replicator
//! works them as it works a push's — resumable after a destination outage
//! or a restart. Idempotent: an image whose replication to a destination
//! is COMPLETE, or already queued, is not queued again; an image already
//! at a local destination (same digest and tags) completes without a copy
//! ([`super::copy`]). `berth registry replicate --backfill` asks for it
//! (`POST /berth/registry/replication/backfill`).

use super::config::Destination;
use super::status::{self, ReplicationRecord, ReplicationStatus};
use crate::error::RegistryError;
use crate::{Registry, keys, now_epoch};
use berth_store::{Compare, Op, typed};
use serde::Serialize;

/// What a backfill did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackfillReport {
    /// The repositories a rule applies to.
    pub repositories: u64,
    /// Images examined in those repositories.
    pub images: u64,
    /// (image, destination) replications queued now.
    pub queued: u64,
    /// Already COMPLETE at the destination: not queued again.
    pub already_replicated: u64,
    /// Already queued (a push's or an earlier backfill's): left as is.
    pub in_progress: u64,
}

/// What to do about one image's replication to one destination, given its
/// stored status (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Queue,
    AlreadyReplicated,
    InProgress,
}

pub(crate) fn decide(current: Option<ReplicationStatus>) -> Decision {
    match current {
        None | Some(ReplicationStatus::Failed) => Decision::Queue,
        Some(ReplicationStatus::Complete) => Decision::AlreadyReplicated,
        Some(ReplicationStatus::InProgress) => Decision::InProgress,
    }
}

impl Registry {
    /// A registry error as the ECR API answers it (for the admin endpoint).
    pub fn api_error(&self, e: RegistryError) -> berth_proto::AwsError {
        crate::ecr::aws_error(self, e)
    }

    /// Queues the replication of every existing image of `repository` (or
    /// of every repository) to the destinations the configuration's rules
    /// give it. `RepositoryNotFound` for a named repository that is not
    /// there.
    pub async fn backfill_replication(&self, repository: Option<&str>) -> Result<BackfillReport, RegistryError> {
        let config = self.replication_configuration().await?;
        let names = match repository {
            Some(name) => {
                self.repository(name).await?;
                vec![name.to_string()]
            }
            None => self.repository_names().await?,
        };
        let mut report = BackfillReport::default();
        for repo in names {
            let destinations = config.destinations_for(&repo);
            if destinations.is_empty() {
                continue;
            }
            report.repositories += 1;
            for image in self.images(&repo).await? {
                report.images += 1;
                for dest in &destinations {
                    match self
                        .queue_replication(&repo, &image.digest, dest, Vec::new(), |_| Ok(Vec::new()))
                        .await?
                    {
                        Queued::Now => report.queued += 1,
                        Queued::AlreadyReplicated => report.already_replicated += 1,
                        Queued::InProgress | Queued::Raced => report.in_progress += 1,
                        Queued::Gone => {}
                    }
                }
            }
        }
        if report.queued > 0 {
            self.wake_replicator();
        }
        tracing::info!(
            repositories = report.repositories,
            images = report.images,
            queued = report.queued,
            already_replicated = report.already_replicated,
            in_progress = report.in_progress,
            "replication backfill"
        );
        Ok(report)
    }
}

/// What [`Registry::queue_replication`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    Now,
    AlreadyReplicated,
    /// Already queued (by a push or an earlier backfill).
    InProgress,
    /// The image is no longer in the repository.
    Gone,
    /// Another writer changed its status, or a caller's guard, meanwhile.
    Raced,
}

impl Registry {
    /// Queues one image's replication to one destination unless it is
    /// COMPLETE or queued already: its IN_PROGRESS status and intent, in one
    /// transaction, only while the image is there, nobody wrote its status
    /// meanwhile (a push's intent wins) and the caller's `guards` hold;
    /// the ops `extra` makes from the status it replaces are written with
    /// it (the backfill's mark).
    pub(crate) async fn queue_replication(
        &self,
        repo: &str,
        digest: &str,
        dest: &Destination,
        guards: Vec<Compare>,
        extra: impl FnOnce(Option<&ReplicationRecord>) -> Result<Vec<Op>, RegistryError>,
    ) -> Result<Queued, RegistryError> {
        let suffix = status::suffix(dest);
        let status_key = keys::replication(repo, digest, &suffix);
        let current = typed::get::<ReplicationRecord>(&*self.store, &status_key).await?;
        match decide(current.as_ref().map(|(r, _)| r.status)) {
            Decision::AlreadyReplicated => return Ok(Queued::AlreadyReplicated),
            Decision::InProgress => return Ok(Queued::InProgress),
            Decision::Queue => {}
        }
        let Some((_, image_rev)) = self.image(repo, digest).await? else {
            return Ok(Queued::Gone);
        };
        let status_guard = match &current {
            Some((_, rev)) => Compare::ModRevision(status_key.clone(), *rev),
            None => Compare::Absent(status_key.clone()),
        };
        let mut ops = vec![
            Op::Put(
                status_key.clone(),
                typed::encode(&ReplicationRecord::started(now_epoch()))?,
            ),
            Op::Put(keys::replication_queued(repo, digest, &suffix), Vec::new()),
        ];
        ops.extend(extra(current.as_ref().map(|(r, _)| r))?);
        let mut compares = vec![Compare::ModRevision(keys::image(repo, digest), image_rev), status_guard];
        compares.extend(guards);
        Ok(if self.store.txn(compares, ops).await?.succeeded {
            Queued::Now
        } else {
            Queued::Raced
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_images_not_replicated_nor_queued_are_queued() {
        assert_eq!(decide(None), Decision::Queue);
        assert_eq!(decide(Some(ReplicationStatus::Failed)), Decision::Queue);
        assert_eq!(decide(Some(ReplicationStatus::Complete)), Decision::AlreadyReplicated);
        assert_eq!(decide(Some(ReplicationStatus::InProgress)), Decision::InProgress);
    }
}
