//! The JSON records the registry keeps in the state store (see `keys`).

use crate::rules::{ExclusionFilter, ResourceTag, TagMutability};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An ECR repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryRecord {
    pub repository_name: String,
    pub repository_arn: String,
    pub registry_id: String,
    /// Epoch seconds.
    pub created_at: f64,
    pub image_tag_mutability: TagMutability,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
    #[serde(default)]
    pub scan_on_push: bool,
    pub encryption_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    #[serde(default)]
    pub tags: Vec<ResourceTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_text: Option<String>,
    /// The lifecycle policy, as given (validated by `lifecycle::Policy::parse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_policy_text: Option<String>,
    /// When the lifecycle policy was last evaluated (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_evaluated_at: Option<f64>,
}

impl RepositoryRecord {
    /// A repository with ECR's defaults (mutable tags, AES256, no scan on
    /// push, no tags or policies), as Berth creates one on the user's
    /// behalf before a creation template applies.
    pub fn with_defaults(name: &str, arn: String, registry_id: &str, created_at: f64) -> Self {
        RepositoryRecord {
            repository_name: name.to_string(),
            repository_arn: arn,
            registry_id: registry_id.to_string(),
            created_at,
            image_tag_mutability: TagMutability::Mutable,
            image_tag_mutability_exclusion_filters: vec![],
            scan_on_push: false,
            encryption_type: "AES256".into(),
            kms_key: None,
            tags: vec![],
            policy_text: None,
            lifecycle_policy_text: None,
            lifecycle_evaluated_at: None,
        }
    }
}

/// One manifest in a repository (an "image" in ECR terms), by digest. The
/// manifest bytes live in blob storage under the same digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    pub digest: String,
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_media_type: Option<String>,
    /// ECR's imageSizeInBytes.
    pub size: u64,
    /// The manifest's own length in bytes.
    pub manifest_size: u64,
    pub pushed_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pulled_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Config and layers (blobs).
    #[serde(default)]
    pub blobs: Vec<String>,
    /// Child manifests (indexes).
    #[serde(default)]
    pub children: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagRecord {
    pub digest: String,
    pub updated_at: f64,
}

/// A blob a repository may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerRecord {
    pub size: u64,
    pub created_at: f64,
}

/// An entry of the referrers index: the descriptor of a manifest whose
/// `subject` is another manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerRecord {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An upload session; its bytes are in `DATA_DIR/registry/uploads/<id>`.
/// `offset` counts the bytes acknowledged to the client (the file may hold
/// more after a crash mid-chunk; they are discarded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadRecord {
    pub id: String,
    pub repository: String,
    pub offset: u64,
    pub created_at: f64,
    pub updated_at: f64,
}

/// The last lifecycle policy preview of a repository
/// (`ecr/lifecycle-preview/REPO`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRecord {
    pub lifecycle_policy_text: String,
    pub status: PreviewStatus,
    pub created_at: f64,
    /// The images the policy would expire, oldest push first.
    #[serde(default)]
    pub results: Vec<PreviewResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PreviewStatus {
    InProgress,
    Complete,
    Expired,
    Failed,
}

impl PreviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PreviewStatus::InProgress => "IN_PROGRESS",
            PreviewStatus::Complete => "COMPLETE",
            PreviewStatus::Expired => "EXPIRED",
            PreviewStatus::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewResult {
    pub image_digest: String,
    #[serde(default)]
    pub image_tags: Vec<String>,
    pub image_pushed_at: f64,
    pub applied_rule_priority: u32,
}

/// An image scan (`ecr/scans/REPO#DIGEST`): written IN_PROGRESS when it is
/// asked for (StartImageScan, a push to a scanOnPush repository), then
/// completed by the scan worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRecord {
    pub status: ScanStatus,
    pub description: String,
    pub started_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<f64>,
    /// When the vulnerability database was imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_updated_at: Option<f64>,
    #[serde(default)]
    pub findings: Vec<crate::scan::Finding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScanStatus {
    InProgress,
    Complete,
    Failed,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::InProgress => "IN_PROGRESS",
            ScanStatus::Complete => "COMPLETE",
            ScanStatus::Failed => "FAILED",
        }
    }
}

impl ScanRecord {
    pub fn started(at: f64) -> Self {
        Self {
            status: ScanStatus::InProgress,
            description: "The scan is in progress.".into(),
            started_at: at,
            completed_at: None,
            source_updated_at: None,
            findings: vec![],
        }
    }
}
