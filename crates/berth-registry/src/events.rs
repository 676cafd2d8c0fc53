//! The `ECR Image Action` events the registry sends (source `aws.ecr`), as
//! ECR shapes them: a PUSH when a manifest is stored or a tag is put on
//! one, a DELETE when an image or a tag is removed (BatchDeleteImage, the
//! `/v2/` DELETE, lifecycle expiry).
//!
//! The registry calls [`ImageEvents`] right after the store transaction
//! that made the change committed, once per committed change: a store
//! watch would see the image record and its tag as separate writes (and
//! the touches that fence concurrent deletes) and would have to put them
//! back together. The binary implements the trait over EventBridge.

use serde_json::{Value, json};

/// What happened to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionType {
    Push,
    Delete,
}

impl ActionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Push => "PUSH",
            ActionType::Delete => "DELETE",
        }
    }
}

/// One image action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageAction {
    pub action: ActionType,
    pub repository: String,
    pub digest: String,
    /// The tag pushed or removed (none for a push or delete by digest).
    pub tag: Option<String>,
    /// The manifest's media type (pushes).
    pub media_type: Option<String>,
    /// The artifact media type (the config's, for pushes).
    pub artifact_media_type: Option<String>,
}

pub const SOURCE: &str = "aws.ecr";
pub const IMAGE_ACTION: &str = "ECR Image Action";

impl ImageAction {
    pub fn deleted(repository: &str, digest: &str, tag: Option<String>) -> Self {
        Self {
            action: ActionType::Delete,
            repository: repository.to_string(),
            digest: digest.to_string(),
            tag,
            media_type: None,
            artifact_media_type: None,
        }
    }

    /// The event's `detail`, as ECR writes it (pure).
    pub fn detail(&self) -> Value {
        let mut d = json!({
            "result": "SUCCESS",
            "repository-name": self.repository,
            "image-digest": self.digest,
            "action-type": self.action.as_str(),
        });
        if let Some(t) = &self.tag {
            d["image-tag"] = json!(t);
        }
        if let Some(m) = &self.media_type {
            d["manifest-media-type"] = json!(m);
        }
        if let Some(m) = &self.artifact_media_type {
            d["artifact-media-type"] = json!(m);
        }
        d
    }
}

pub const IMAGE_SCAN: &str = "ECR Image Scan";

/// A completed (or failed) image scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageScan {
    pub repository: String,
    pub repository_arn: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub status: crate::records::ScanStatus,
    /// `findingSeverityCounts`.
    pub counts: std::collections::BTreeMap<String, u32>,
}

impl ImageScan {
    /// The event's `detail`, as ECR writes it (pure); its `resources` are
    /// the repository's ARN.
    pub fn detail(&self) -> Value {
        json!({
            "scan-status": self.status.as_str(),
            "repository-name": self.repository,
            "finding-severity-counts": self.counts,
            "image-digest": self.digest,
            "image-tags": self.tags,
        })
    }
}

/// Where the registry sends its events. Implementations must not block:
/// they are called on the request path, after the commit.
pub trait ImageEvents: Send + Sync {
    fn image_action(&self, action: ImageAction);
    fn image_scan(&self, scan: ImageScan);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tagged_push_has_ecrs_shape() {
        let a = ImageAction {
            action: ActionType::Push,
            repository: "app".into(),
            digest: "sha256:ab".into(),
            tag: Some("latest".into()),
            media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
            artifact_media_type: None,
        };
        assert_eq!(
            a.detail(),
            json!({"result": "SUCCESS", "repository-name": "app", "image-digest": "sha256:ab",
                   "action-type": "PUSH", "image-tag": "latest",
                   "manifest-media-type": "application/vnd.oci.image.manifest.v1+json"})
        );
    }

    #[test]
    fn a_delete_by_digest_has_no_tag() {
        let a = ImageAction {
            action: ActionType::Delete,
            repository: "app".into(),
            digest: "sha256:ab".into(),
            tag: None,
            media_type: None,
            artifact_media_type: None,
        };
        let d = a.detail();
        assert_eq!(d["action-type"], "DELETE");
        assert!(d.get("image-tag").is_none());
    }
}
