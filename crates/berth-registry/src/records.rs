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
