//! Replication backfills as ECR has them (StartReplicationBackfill …): the
//! durable record of one backfill to one destination and the pure rules
//! that move it — what each image's replication came to, the progress
//! counts, when it ends and how. The controller ([`super::backfill_run`])
//! does the IO; the queueing itself is [`super::backfill`]'s.
//!
//! Lifecycle (ECR's): PREPARING (the images the configuration's rules give
//! the destination are listed) → IN_PROGRESS (each queued through the
//! replicator's durable intents, marked as this backfill's) → COMPLETE, or
//! FAILED once at least [`FAILURE_THRESHOLD_MIN`] replications ended and
//! half or more of them failed; a stop moves PREPARING to STOPPED at once
//! and IN_PROGRESS to STOPPING (its intents not yet being copied are
//! withdrawn, copies in flight finish) then STOPPED.

use super::config::Destination;
use super::status::{ReplicationRecord, ReplicationStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// At most this many backfills in progress per registry (ECR's limit).
pub const MAX_ACTIVE: usize = 10;
/// Terminal backfills are kept this long after they end (90 days).
pub const RETENTION_SECS: f64 = 90.0 * 86_400.0;
/// The failure threshold is judged only after this many replications ended.
pub const FAILURE_THRESHOLD_MIN: u64 = 100;
/// The backfill's failure code when half or more of its replications failed.
pub const THRESHOLD_EXCEEDED: &str = "REPLICATION_FAILURE_THRESHOLD_EXCEEDED";
/// The backfill's failure code when its destination left the configuration
/// before it was prepared.
pub const DESTINATION_REMOVED: &str = "DESTINATION_NOT_IN_REPLICATION_CONFIGURATION";
/// An image's failure code when it was deleted before its copy.
pub const SOURCE_IMAGE_DELETED: &str = "SOURCE_IMAGE_DELETED";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BackfillStatus {
    Preparing,
    InProgress,
    Complete,
    Failed,
    Stopping,
    Stopped,
}

impl BackfillStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Stopped)
    }

    /// The status a stop moves it to, or `None` when it cannot be stopped
    /// (only PREPARING and IN_PROGRESS can).
    pub fn stopped(self) -> Option<Self> {
        match self {
            Self::Preparing => Some(Self::Stopped),
            Self::InProgress => Some(Self::Stopping),
            _ => None,
        }
    }
}

/// One image the backfill replicates, with its tags when it was prepared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackfillImage {
    pub repository: String,
    pub digest: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl BackfillImage {
    /// ECR counts each image and tag combination as one replication (an
    /// untagged image once).
    pub fn replications(&self) -> u64 {
        self.tags.len().max(1) as u64
    }
}

/// What this backfill did with one image, and the image's replication
/// status before it queued it (put back if its intent is withdrawn).
/// Stored beside the record, written in the transaction that queues or
/// withdraws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkRecord {
    pub mark: Mark,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ReplicationRecord>,
}

/// What this backfill did with one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mark {
    /// Queued by this backfill (the intent's revision is the mark's).
    Queued,
    /// Gone from the repository before it could be queued.
    Gone,
    /// Withdrawn by a stop before its copy started.
    Withdrawn,
}

/// What one image's replication came to, for this backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still to queue, queued, or being copied.
    Pending,
    Complete,
    Failed(String),
    /// Not copied: the backfill stopped (or failed) before its turn.
    NotCopied,
}

/// An image's outcome from its mark and its stored replication status
/// (pure). `winding_down`: the backfill is stopping (or failing), so what
/// it has not queued will not be.
pub fn outcome(mark: Option<Mark>, status: Option<(ReplicationStatus, Option<String>)>, winding_down: bool) -> Outcome {
    match (mark, status) {
        (Some(Mark::Withdrawn), _) => Outcome::NotCopied,
        (Some(Mark::Gone), _) => Outcome::Failed(SOURCE_IMAGE_DELETED.into()),
        (_, Some((ReplicationStatus::Complete, _))) => Outcome::Complete,
        // Not queued by this backfill (none, an earlier failure, or a
        // push's intent): winding down, it waits for none of them.
        (None, _) if winding_down => Outcome::NotCopied,
        (_, Some((ReplicationStatus::InProgress, _))) => Outcome::Pending,
        (Some(Mark::Queued), Some((ReplicationStatus::Failed, code))) => {
            Outcome::Failed(code.unwrap_or_else(|| "UNKNOWN".into()))
        }
        // Its status was removed: the image was deleted before its copy.
        (Some(Mark::Queued), None) => Outcome::Failed(SOURCE_IMAGE_DELETED.into()),
        (None, _) => Outcome::Pending,
    }
}

/// The progress counts, as ECR gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub total_replication_count: u64,
    pub completed_replication_count: u64,
    pub failed_replication_count: u64,
    /// Distinct, sorted.
    pub failure_codes: Vec<String>,
}

pub fn progress(images: &[BackfillImage], outcomes: &[Outcome]) -> Progress {
    let mut p = Progress::default();
    let mut codes = BTreeSet::new();
    for (image, o) in images.iter().zip(outcomes) {
        let n = image.replications();
        p.total_replication_count += n;
        match o {
            Outcome::Complete => p.completed_replication_count += n,
            Outcome::Failed(code) => {
                p.failed_replication_count += n;
                codes.insert(code.clone());
            }
            Outcome::Pending | Outcome::NotCopied => {}
        }
    }
    p.failure_codes = codes.into_iter().collect();
    p
}

/// Half or more of the ended replications failed, once enough ended.
pub fn failing(p: &Progress) -> bool {
    let ended = p.completed_replication_count + p.failed_replication_count;
    ended >= FAILURE_THRESHOLD_MIN && p.failed_replication_count * 2 >= ended
}

/// The terminal status (and failure code) a running backfill reaches, once
/// nothing of it is pending; `None` while something is.
pub fn settle(status: BackfillStatus, p: &Progress, pending: usize) -> Option<(BackfillStatus, Option<String>)> {
    if pending > 0 {
        return None;
    }
    match status {
        BackfillStatus::Stopping => Some((BackfillStatus::Stopped, None)),
        BackfillStatus::InProgress if failing(p) => Some((BackfillStatus::Failed, Some(THRESHOLD_EXCEEDED.into()))),
        BackfillStatus::InProgress => Some((BackfillStatus::Complete, None)),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResultStatus {
    Complete,
    Failed,
}

/// One image and tag combination's result (once the backfill ended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageResult {
    pub repository: String,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub status: ResultStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
}

impl ImageResult {
    /// The pagination key: repository, digest, tag.
    pub fn key(&self) -> String {
        format!(
            "{}#{}#{}",
            self.repository,
            self.digest,
            self.tag.as_deref().unwrap_or("")
        )
    }
}

/// The per-image results: one per image and tag combination that was
/// copied or failed (an image not copied because of a stop has none).
pub fn results(images: &[BackfillImage], outcomes: &[Outcome]) -> Vec<ImageResult> {
    let mut out = Vec::new();
    for (image, o) in images.iter().zip(outcomes) {
        let (status, failure_code) = match o {
            Outcome::Complete => (ResultStatus::Complete, None),
            Outcome::Failed(code) => (ResultStatus::Failed, Some(code.clone())),
            Outcome::Pending | Outcome::NotCopied => continue,
        };
        let tags: Vec<Option<String>> = if image.tags.is_empty() {
            vec![None]
        } else {
            image.tags.iter().cloned().map(Some).collect()
        };
        for tag in tags {
            out.push(ImageResult {
                repository: image.repository.clone(),
                digest: image.digest.clone(),
                tag,
                status,
                failure_code: failure_code.clone(),
            });
        }
    }
    out.sort_by_key(ImageResult::key);
    out
}

/// One backfill (`ecr/replication-backfill/ID`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackfillRecord {
    pub id: String,
    pub destination: Destination,
    pub status: BackfillStatus,
    /// Epoch seconds.
    pub started_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    /// The images to replicate: `None` while PREPARING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<BackfillImage>>,
    /// `None` until prepared (and for one stopped while preparing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Set when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<ImageResult>>,
}

impl BackfillRecord {
    pub fn new(id: String, destination: Destination, now: f64) -> Self {
        Self {
            id,
            destination,
            status: BackfillStatus::Preparing,
            started_at: now,
            ended_at: None,
            failure_code: None,
            images: None,
            progress: None,
            results: None,
        }
    }

    /// Still listed: running, or ended less than [`RETENTION_SECS`] ago.
    pub fn retained(&self, now: f64) -> bool {
        self.ended_at.is_none_or(|end| now - end < RETENTION_SECS)
    }

    /// Its pagination key: started first, listed first.
    pub fn key(&self) -> String {
        format!("{:020.6}#{}", self.started_at, self.id)
    }
}

/// The backfills in progress (not terminal), destination region → id
/// (`ecr/registry/replication-backfills-active`), changed by compare-and-swap
/// with the records they name: at most one per region, [`MAX_ACTIVE`] in all.
pub type Active = std::collections::BTreeMap<String, String>;

/// Why a backfill cannot start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRefusal {
    InProgress(String),
    Limit,
}

/// Whether a backfill to `region` can start beside the active ones (pure).
pub fn can_start(active: &Active, region: &str) -> Result<(), StartRefusal> {
    if let Some(id) = active.get(region) {
        return Err(StartRefusal::InProgress(id.clone()));
    }
    if active.len() >= MAX_ACTIVE {
        return Err(StartRefusal::Limit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(tags: &[&str]) -> BackfillImage {
        BackfillImage {
            repository: "app".into(),
            digest: format!("sha256:{}", tags.join("")),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn outcomes_follow_the_mark_and_the_status() {
        use ReplicationStatus::*;
        assert_eq!(outcome(None, None, false), Outcome::Pending);
        assert_eq!(outcome(None, None, true), Outcome::NotCopied);
        assert_eq!(outcome(None, Some((InProgress, None)), true), Outcome::NotCopied);
        assert_eq!(outcome(None, Some((InProgress, None)), false), Outcome::Pending);
        assert_eq!(outcome(None, Some((Complete, None)), true), Outcome::Complete);
        // A failure before this backfill is queued again, not its result.
        assert_eq!(outcome(None, Some((Failed, Some("X".into()))), false), Outcome::Pending);
        assert_eq!(
            outcome(Some(Mark::Queued), Some((Failed, Some("X".into()))), false),
            Outcome::Failed("X".into())
        );
        assert_eq!(
            outcome(Some(Mark::Queued), Some((InProgress, None)), true),
            Outcome::Pending
        );
        assert_eq!(
            outcome(Some(Mark::Queued), None, false),
            Outcome::Failed(SOURCE_IMAGE_DELETED.into())
        );
        assert_eq!(outcome(Some(Mark::Withdrawn), None, true), Outcome::NotCopied);
        assert_eq!(
            outcome(Some(Mark::Gone), None, false),
            Outcome::Failed(SOURCE_IMAGE_DELETED.into())
        );
    }

    #[test]
    fn each_image_and_tag_counts_once() {
        let images = [img(&["a", "b"]), img(&[]), img(&["c"])];
        let outcomes = [Outcome::Complete, Outcome::Failed("F".into()), Outcome::Pending];
        let p = progress(&images, &outcomes);
        assert_eq!(
            (
                p.total_replication_count,
                p.completed_replication_count,
                p.failed_replication_count
            ),
            (4, 2, 1)
        );
        assert_eq!(p.failure_codes, vec!["F".to_string()]);
        let r = results(&images, &outcomes);
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().filter(|r| r.status == ResultStatus::Complete).count(), 2);
        assert_eq!(
            r.iter().find(|r| r.tag.is_none()).unwrap().failure_code.as_deref(),
            Some("F")
        );
    }

    #[test]
    fn it_ends_when_nothing_is_pending() {
        let p = Progress::default();
        assert_eq!(settle(BackfillStatus::InProgress, &p, 1), None);
        assert_eq!(
            settle(BackfillStatus::InProgress, &p, 0),
            Some((BackfillStatus::Complete, None))
        );
        assert_eq!(
            settle(BackfillStatus::Stopping, &p, 0),
            Some((BackfillStatus::Stopped, None))
        );
    }

    #[test]
    fn half_failed_fails_only_after_enough_ended() {
        let mut p = Progress {
            completed_replication_count: 40,
            failed_replication_count: 50,
            ..Progress::default()
        };
        assert!(!failing(&p));
        p.completed_replication_count = 50;
        assert!(failing(&p));
        assert_eq!(
            settle(BackfillStatus::InProgress, &p, 0),
            Some((BackfillStatus::Failed, Some(THRESHOLD_EXCEEDED.into())))
        );
        p.completed_replication_count = 51;
        assert!(!failing(&p));
    }

    #[test]
    fn only_preparing_and_in_progress_stop() {
        assert_eq!(BackfillStatus::Preparing.stopped(), Some(BackfillStatus::Stopped));
        assert_eq!(BackfillStatus::InProgress.stopped(), Some(BackfillStatus::Stopping));
        assert_eq!(BackfillStatus::Stopping.stopped(), None);
        assert_eq!(BackfillStatus::Complete.stopped(), None);
    }

    #[test]
    fn one_per_region_and_ten_in_all() {
        let mut active = Active::new();
        assert_eq!(can_start(&active, "eu-west-1"), Ok(()));
        active.insert("eu-west-1".into(), "id".into());
        assert_eq!(
            can_start(&active, "eu-west-1"),
            Err(StartRefusal::InProgress("id".into()))
        );
        for i in 0..9 {
            active.insert(format!("r{i}"), format!("{i}"));
        }
        assert_eq!(can_start(&active, "us-west-2"), Err(StartRefusal::Limit));
    }

    #[test]
    fn terminal_ones_are_kept_ninety_days() {
        let d = Destination {
            region: "eu-west-1".into(),
            registry_id: "000000000000".into(),
        };
        let mut r = BackfillRecord::new("id".into(), d, 0.0);
        assert!(r.retained(1e12));
        r.ended_at = Some(10.0);
        assert!(r.retained(10.0 + RETENTION_SECS - 1.0));
        assert!(!r.retained(10.0 + RETENTION_SECS));
        assert_eq!(
            serde_json::to_value(BackfillStatus::InProgress).unwrap(),
            serde_json::json!("IN_PROGRESS")
        );
    }
}
