//! What is stored of an image's replication to one destination: its status
//! (`ecr/replication/REPO#DIGEST#REGION#ACCOUNT`, what
//! DescribeImageReplicationStatus answers) and, while work remains, its
//! intent (`ecr/replication-queue/…`, the same suffix, the worker's queue).
//! Both are written with the push that asks for them, in its transaction.

use super::config::Destination;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReplicationStatus {
    InProgress,
    Complete,
    Failed,
}

impl ReplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationStatus::InProgress => "IN_PROGRESS",
            ReplicationStatus::Complete => "COMPLETE",
            ReplicationStatus::Failed => "FAILED",
        }
    }
}

/// One image's replication to one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationRecord {
    pub status: ReplicationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    /// Why the last attempt failed, for the operator (logs, not the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Epoch seconds.
    pub updated_at: f64,
}

impl ReplicationRecord {
    pub fn started(now: f64) -> Self {
        Self {
            status: ReplicationStatus::InProgress,
            failure_code: None,
            last_error: None,
            updated_at: now,
        }
    }
}

/// The key suffix of a destination: `REGION#ACCOUNT` (neither contains `#`).
pub fn suffix(d: &Destination) -> String {
    format!("{}#{}", d.region, d.registry_id)
}

/// `REPO#DIGEST#REGION#ACCOUNT` back into its parts (a repository name and
/// a digest contain no `#`).
pub fn parse_key_rest(rest: &str) -> Option<(&str, &str, Destination)> {
    let mut parts = rest.rsplitn(3, '#');
    let account = parts.next()?;
    let region = parts.next()?;
    let (repo, digest) = parts.next()?.rsplit_once('#')?;
    Some((
        repo,
        digest,
        Destination {
            region: region.to_string(),
            registry_id: account.to_string(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let d = Destination {
            region: "eu-west-1".into(),
            registry_id: "111111111111".into(),
        };
        let rest = format!("team/app#sha256:ab#{}", suffix(&d));
        assert_eq!(parse_key_rest(&rest), Some(("team/app", "sha256:ab", d)));
        assert_eq!(parse_key_rest("nohash"), None);
    }

    #[test]
    fn statuses_are_ecrs_words() {
        assert_eq!(
            serde_json::to_value(ReplicationStatus::InProgress).unwrap(),
            serde_json::json!("IN_PROGRESS")
        );
        assert_eq!(ReplicationStatus::Failed.as_str(), "FAILED");
    }
}
