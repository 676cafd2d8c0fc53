//! Lifecycle policies applied: the facts of a repository's images read
//! from the store, the pure evaluation (`lifecycle::evaluate`), and the
//! expiry of what it selects — each image deleted as BatchDeleteImage
//! deletes it (its tags and manifest record), its referrers (signatures,
//! SBOMs: manifests whose `subject` it is) with it. The blobs are left to
//! garbage collection. The evaluation runs every `--lifecycle-interval-secs`
//! over every repository with a policy (ECR: within 24 hours of a change).

use crate::error::RegistryError;
use crate::lifecycle::{self, ImageFacts, Policy};
use crate::records::{PreviewResult, RepositoryRecord};
use crate::{Registry, now_epoch};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// What one evaluation of every policy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LifecycleReport {
    pub repositories: usize,
    pub expired_images: usize,
    /// Repositories whose evaluation failed (retried at the next run).
    pub failed_repositories: usize,
}

impl Registry {
    /// "Now" as lifecycle rules count days: the wall clock plus the
    /// test-only `--lifecycle-clock-offset-secs`.
    pub(crate) fn lifecycle_now(&self) -> f64 {
        now_epoch() + self.lifecycle_clock_offset_secs
    }

    /// Evaluates lifecycle rules as if `offset` seconds later than the
    /// wall clock (tests of day-counted rules; 0, the default, is AWS's).
    pub fn with_lifecycle_clock_offset(mut self, offset_secs: u64) -> Self {
        self.lifecycle_clock_offset_secs = offset_secs as f64;
        self
    }

    /// The images of a repository as the evaluation sees them, and each
    /// one's tags.
    async fn lifecycle_facts(&self, repository: &str) -> Result<Vec<ImageFacts>, RegistryError> {
        let images = self.images(repository).await?;
        let mut tags = self.tags_by_digest(repository).await?;
        let children: HashSet<&str> = images
            .iter()
            .flat_map(|i| i.children.iter().map(String::as_str))
            .collect();
        Ok(images
            .iter()
            .map(|r| ImageFacts {
                digest: r.digest.clone(),
                tags: tags.remove(&r.digest).unwrap_or_default(),
                pushed_at: r.pushed_at,
                last_pulled_at: r.last_pulled_at,
                protected: children.contains(r.digest.as_str()) || r.subject.is_some(),
            })
            .collect())
    }

    /// What `policy` would expire in `repository` now, oldest push first.
    pub(crate) async fn lifecycle_preview(
        &self,
        repository: &str,
        policy: &Policy,
    ) -> Result<Vec<PreviewResult>, RegistryError> {
        let facts = self.lifecycle_facts(repository).await?;
        let by_digest: BTreeMap<&str, &ImageFacts> = facts.iter().map(|f| (f.digest.as_str(), f)).collect();
        Ok(lifecycle::evaluate(policy, &facts, self.lifecycle_now())
            .into_iter()
            .filter_map(|e| {
                let f = by_digest.get(e.digest.as_str())?;
                Some(PreviewResult {
                    image_digest: e.digest,
                    image_tags: f.tags.clone(),
                    image_pushed_at: f.pushed_at,
                    applied_rule_priority: e.rule_priority,
                })
            })
            .collect())
    }

    /// Applies a repository's policy once: deletes what it expires (an
    /// image whose tags changed since it was evaluated is left for the next
    /// evaluation). Returns how many images were deleted.
    async fn apply_lifecycle(&self, repo: &RepositoryRecord, text: &str) -> Result<usize, RegistryError> {
        let name = &repo.repository_name;
        let Ok(policy) = Policy::parse(text) else {
            tracing::warn!(repository = %name, "stored lifecycle policy does not parse; skipped");
            return Ok(0);
        };
        let mut expired = 0;
        for r in self.lifecycle_preview(name, &policy).await? {
            let now_tags = self
                .tags_by_digest(name)
                .await?
                .remove(&r.image_digest)
                .unwrap_or_default();
            if now_tags != r.image_tags {
                continue;
            }
            expired += self.expire_image(name, &r.image_digest).await?;
            tracing::info!(repository = %name, digest = %r.image_digest, rule = r.applied_rule_priority, "image expired by lifecycle policy");
        }
        let evaluated = now_epoch();
        let key = crate::keys::repository(name);
        // Records the evaluation time unless the repository went meanwhile.
        let _ = berth_store::typed::update_with::<RepositoryRecord, RegistryError, _>(
            RegistryError::Store,
            &*self.store,
            &key,
            |cur| {
                Ok(cur.map(|mut r| {
                    r.lifecycle_evaluated_at = Some(evaluated);
                    r
                }))
            },
        )
        .await?;
        Ok(expired)
    }

    /// Deletes an image and, first, the referrers whose subject it is.
    /// Returns how many images went (0 when it was gone already or a
    /// manifest list now references it).
    async fn expire_image(&self, repository: &str, digest: &str) -> Result<usize, RegistryError> {
        let mut gone = 0;
        let mut stack = vec![digest.to_string()];
        let mut order = vec![];
        while let Some(d) = stack.pop() {
            for r in self.referrers(repository, &d, None).await? {
                stack.push(r.digest);
            }
            order.push(d);
        }
        // Referrers before their subjects, deepest first.
        for d in order.iter().rev() {
            match self.delete_image(repository, d).await {
                Ok(_) => gone += 1,
                Err(RegistryError::ImageNotFound { .. } | RegistryError::ReferencedByIndex(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(gone)
    }

    /// Evaluates every repository's lifecycle policy once; one repository
    /// failing (its store reads, a deletion) does not stop the others.
    pub async fn run_lifecycle_once(&self) -> Result<LifecycleReport, RegistryError> {
        let mut report = LifecycleReport::default();
        for name in self.repository_names().await? {
            let Ok(repo) = self.repository(&name).await else {
                continue;
            };
            let Some(text) = repo.lifecycle_policy_text.clone() else {
                continue;
            };
            report.repositories += 1;
            match self.apply_lifecycle(&repo, &text).await {
                Ok(n) => report.expired_images += n,
                Err(e) => {
                    report.failed_repositories += 1;
                    tracing::warn!(repository = %name, error = %e, "lifecycle evaluation failed; retried at the next run");
                }
            }
        }
        Ok(report)
    }

    /// Evaluates the lifecycle policies every `every`, forever.
    pub fn spawn_lifecycle(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let reg = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(reg) = reg.upgrade() else { return };
                match reg.run_lifecycle_once().await {
                    Ok(r) if r.expired_images > 0 => {
                        tracing::info!(
                            repositories = r.repositories,
                            expired = r.expired_images,
                            "lifecycle policies applied"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "lifecycle evaluation failed; retried at the next interval"),
                }
            }
        })
    }
}
