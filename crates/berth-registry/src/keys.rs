//! The store key layout of the registry. Every key is built here.
//!
//! Repository names contain `/`, so per-repository keys end the name with
//! `#` (a character names cannot contain): the prefix of repository `a` never
//! matches the keys of `a/b` or `ab`.

pub const REPOSITORIES: &str = "ecr/repos/";

pub fn repository(name: &str) -> String {
    format!("{REPOSITORIES}{name}")
}

/// Every image record, of every repository.
pub const IMAGES: &str = "ecr/images/";

/// Every repository link, of every repository.
pub const LAYERS: &str = "ecr/layers/";

/// Image records (one per manifest digest): `ecr/images/REPO#DIGEST`.
pub fn images_of(repo: &str) -> String {
    format!("ecr/images/{repo}#")
}

pub fn image(repo: &str, digest: &str) -> String {
    format!("ecr/images/{repo}#{digest}")
}

/// Tags: `ecr/tags/REPO#TAG` (key order is the tags' lexical order).
pub fn tags_of(repo: &str) -> String {
    format!("ecr/tags/{repo}#")
}

pub fn tag(repo: &str, tag: &str) -> String {
    format!("ecr/tags/{repo}#{tag}")
}

/// Blobs a repository may use (uploaded to it or mounted into it):
/// `ecr/layers/REPO#DIGEST`.
pub fn layers_of(repo: &str) -> String {
    format!("ecr/layers/{repo}#")
}

pub fn layer(repo: &str, digest: &str) -> String {
    format!("ecr/layers/{repo}#{digest}")
}

/// Referrers index: `ecr/referrers/REPO#SUBJECT#DIGEST`.
pub fn referrers_of_repo(repo: &str) -> String {
    format!("ecr/referrers/{repo}#")
}

pub fn referrers_of(repo: &str, subject: &str) -> String {
    format!("ecr/referrers/{repo}#{subject}#")
}

pub fn referrer(repo: &str, subject: &str, digest: &str) -> String {
    format!("ecr/referrers/{repo}#{subject}#{digest}")
}

/// Upload sessions (`/v2/` uploads and ECR `InitiateLayerUpload`).
pub const UPLOADS: &str = "ecr/uploads/";

pub fn upload(id: &str) -> String {
    format!("{UPLOADS}{id}")
}

/// The last lifecycle policy preview of a repository.
pub fn lifecycle_preview(repo: &str) -> String {
    format!("ecr/lifecycle-preview/{repo}#")
}

pub const REGISTRY_POLICY: &str = "ecr/registry/policy";

/// The registry scanning configuration (`scan::config::RegistryScanning`).
pub const REGISTRY_SCANNING: &str = "ecr/registry/scanning";

/// Image scans (one per image): `ecr/scans/REPO#DIGEST`.
pub const SCANS: &str = "ecr/scans/";

pub fn scans_of(repo: &str) -> String {
    format!("{SCANS}{repo}#")
}

pub fn scan(repo: &str, digest: &str) -> String {
    format!("{SCANS}{repo}#{digest}")
}

/// The scans to run (the worker's queue, written with the IN_PROGRESS
/// record and removed with its completion): `ecr/scan-queue/REPO#DIGEST`.
pub const SCAN_QUEUE: &str = "ecr/scan-queue/";

pub fn scan_queue_of(repo: &str) -> String {
    format!("{SCAN_QUEUE}{repo}#")
}

pub fn scan_queued(repo: &str, digest: &str) -> String {
    format!("{SCAN_QUEUE}{repo}#{digest}")
}

/// The replication configuration (`replication::config`).
pub const REPLICATION_CONFIGURATION: &str = "ecr/registry/replication";

/// Replication statuses, one per image and destination:
/// `ecr/replication/REPO#DIGEST#REGION#ACCOUNT` (`replication::status`).
pub const REPLICATIONS: &str = "ecr/replication/";

pub fn replications_of(repo: &str) -> String {
    format!("{REPLICATIONS}{repo}#")
}

pub fn replications_of_image(repo: &str, digest: &str) -> String {
    format!("{REPLICATIONS}{repo}#{digest}#")
}

pub fn replication(repo: &str, digest: &str, destination: &str) -> String {
    format!("{REPLICATIONS}{repo}#{digest}#{destination}")
}

/// The replications to do (the replicator's queue, written with the push
/// and removed when done): `ecr/replication-queue/REPO#DIGEST#REGION#ACCOUNT`.
pub const REPLICATION_QUEUE: &str = "ecr/replication-queue/";

pub fn replication_queue_of(repo: &str) -> String {
    format!("{REPLICATION_QUEUE}{repo}#")
}

pub fn replication_queued(repo: &str, digest: &str, destination: &str) -> String {
    format!("{REPLICATION_QUEUE}{repo}#{digest}#{destination}")
}

/// Replication backfills (`replication::backfills`): each one's record
/// `ecr/replication-backfill/ID`, what it did with each image
/// `ecr/replication-backfill-mark/ID/REPO#DIGEST`, and the ones in
/// progress, region → id.
pub const REPLICATION_BACKFILLS: &str = "ecr/replication-backfill/";
pub const REPLICATION_BACKFILLS_ACTIVE: &str = "ecr/registry/replication-backfills-active";
pub const REPLICATION_BACKFILL_MARKS: &str = "ecr/replication-backfill-mark/";

pub fn replication_backfill(id: &str) -> String {
    format!("{REPLICATION_BACKFILLS}{id}")
}

pub fn replication_backfill_marks(id: &str) -> String {
    format!("{REPLICATION_BACKFILL_MARKS}{id}/")
}

pub fn replication_backfill_mark(id: &str, repo: &str, digest: &str) -> String {
    format!("{REPLICATION_BACKFILL_MARKS}{id}/{repo}#{digest}")
}

/// Pull-through cache rules: `ecr/pull-through-rules/PREFIX`.
pub const PULL_THROUGH_RULES: &str = "ecr/pull-through-rules/";

pub fn pull_through_rule(prefix: &str) -> String {
    format!("{PULL_THROUGH_RULES}{prefix}")
}

/// Repository creation templates: `ecr/templates/PREFIX` (`ROOT` too).
pub const CREATION_TEMPLATES: &str = "ecr/templates/";

pub fn creation_template(prefix: &str) -> String {
    format!("{CREATION_TEMPLATES}{prefix}")
}

/// The principals whose pulls do not update `lastRecordedPullTime`, one
/// record (a list of at most 100, changed by compare-and-swap so that the
/// quota holds under concurrent registrations).
pub const PULL_TIME_EXCLUSIONS: &str = "ecr/registry/pull-time-exclusions";

/// The registry's account settings (GetAccountSetting): `ecr/account-settings/NAME`.
pub fn account_setting(name: &str) -> String {
    format!("ecr/account-settings/{name}")
}

/// When a pulled-through tag was last checked upstream:
/// `ecr/pull-through-synced/REPO#TAG`.
pub fn pull_through_synced_of(repo: &str) -> String {
    format!("ecr/pull-through-synced/{repo}#")
}

pub fn pull_through_synced(repo: &str, tag: &str) -> String {
    format!("ecr/pull-through-synced/{repo}#{tag}")
}

/// Every per-repository prefix (cleared when a repository is deleted).
pub fn all_of(repo: &str) -> [String; 10] {
    [
        pull_through_synced_of(repo),
        scans_of(repo),
        scan_queue_of(repo),
        replications_of(repo),
        replication_queue_of(repo),
        images_of(repo),
        tags_of(repo),
        layers_of(repo),
        referrers_of_repo(repo),
        lifecycle_preview(repo),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefixes_do_not_overlap() {
        let a = super::images_of("a");
        assert!(!super::image("a/b", "sha256:x").starts_with(&a));
        assert!(!super::image("ab", "sha256:x").starts_with(&a));
        assert!(super::image("a", "sha256:x").starts_with(&a));
    }
}
