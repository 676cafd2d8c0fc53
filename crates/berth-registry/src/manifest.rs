//! Image manifests and indexes: parsing, validation and the references a
//! manifest makes (blobs and child manifests). Pure: no IO.
//!
//! Supported: Docker image manifest v2 schema 2 and manifest list, OCI image
//! manifest and index (including artifacts: `artifactType`, any
//! `config.mediaType`, `subject`).

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_MANIFEST_V1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The largest manifest accepted (ECR's `ImageManifest` limit).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image (or artifact) manifest: a config and layers.
    Image,
    /// An index or manifest list: child manifests.
    Index,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    pub media_type: String,
    pub kind: ManifestKind,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<Value>,
    media_type: Option<String>,
    config: Option<Value>,
    layers: Option<Value>,
    manifests: Option<Value>,
    subject: Option<Value>,
    artifact_type: Option<String>,
    annotations: Option<BTreeMap<String, String>>,
}

/// The media type part of a Content-Type header (`type/subtype`, no parameters).
pub fn bare_media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

fn descriptor(v: &Value, what: &str) -> Result<Descriptor, ManifestError> {
    let d: Descriptor = serde_json::from_value(v.clone())
        .map_err(|e| ManifestError::Invalid(format!("{what} is not a valid descriptor: {e}")))?;
    Digest::parse(&d.digest).map_err(|e| ManifestError::Invalid(format!("{what}: {e}")))?;
    if d.size < 0 {
        return Err(ManifestError::Invalid(format!("{what}: size must not be negative")));
    }
    if d.media_type.is_empty() {
        return Err(ManifestError::Invalid(format!("{what}: mediaType is required")));
    }
    Ok(d)
}

fn descriptors(v: &Value, what: &str) -> Result<Vec<Descriptor>, ManifestError> {
    let arr = v
        .as_array()
        .ok_or_else(|| ManifestError::Invalid(format!("{what} must be an array")))?;
    arr.iter()
        .enumerate()
        .map(|(i, d)| descriptor(d, &format!("{what}[{i}]")))
        .collect()
}

/// Whether a manifest's text names its own top-level `mediaType` (what
/// ECR's PutImage needs when the request gives no
/// `imageManifestMediaType`).
pub fn declares_media_type(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Top {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_str::<Top>(text).is_ok_and(|t| t.media_type.is_some_and(|m| !m.is_empty()))
}

/// Parses a manifest as received. `content_type` is the request's
/// Content-Type (or ECR's `imageManifestMediaType`), if any; when both it and
/// the body's `mediaType` are present they must agree.
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<ParsedManifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::Invalid(format!(
            "the manifest is {} bytes; the limit is {MAX_MANIFEST_BYTES}",
            bytes.len()
        )));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ManifestError::Invalid(format!("the manifest is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ManifestError::Invalid("the manifest must be a JSON object".into()));
    }
    let raw: Raw =
        serde_json::from_value(value).map_err(|e| ManifestError::Invalid(format!("the manifest is malformed: {e}")))?;
    let header = content_type
        .map(bare_media_type)
        .filter(|c| !c.is_empty() && !matches!(*c, "application/json" | "application/octet-stream"));
    match raw.schema_version.as_ref().and_then(Value::as_i64) {
        Some(2) => {}
        Some(1) => {
            return Err(ManifestError::Unsupported(
                "Docker image manifest schema 1 is not supported; push with a schema 2 or OCI manifest".into(),
            ));
        }
        _ => return Err(ManifestError::Invalid("schemaVersion must be 2".into())),
    }
    let media_type = match (raw.media_type.as_deref(), header) {
        (Some(body), Some(h)) if body != h => {
            return Err(ManifestError::Invalid(format!(
                "the manifest's mediaType '{body}' does not match the declared media type '{h}'"
            )));
        }
        (Some(body), _) => body.to_string(),
        (None, Some(h)) => h.to_string(),
        // OCI allows omitting mediaType; the structure tells which it is.
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    let kind = match media_type.as_str() {
        DOCKER_MANIFEST_V2 | OCI_MANIFEST => ManifestKind::Image,
        DOCKER_MANIFEST_LIST | OCI_INDEX => ManifestKind::Index,
        DOCKER_MANIFEST_V1 | DOCKER_MANIFEST_V1_SIGNED => {
            return Err(ManifestError::Unsupported(
                "Docker image manifest schema 1 is not supported; push with a schema 2 or OCI manifest".into(),
            ));
        }
        other => {
            return Err(ManifestError::Invalid(format!(
                "unsupported manifest media type '{other}'"
            )));
        }
    };
    let subject = raw.subject.as_ref().map(|s| descriptor(s, "subject")).transpose()?;
    let (config, layers, manifests) = match kind {
        ManifestKind::Image => {
            if raw.manifests.is_some() {
                return Err(ManifestError::Invalid(format!(
                    "a {media_type} must not have 'manifests'"
                )));
            }
            let config = raw
                .config
                .as_ref()
                .ok_or_else(|| ManifestError::Invalid("the manifest has no config".into()))?;
            let config = descriptor(config, "config")?;
            let layers = match &raw.layers {
                Some(l) => descriptors(l, "layers")?,
                None => return Err(ManifestError::Invalid("the manifest has no layers".into())),
            };
            (Some(config), layers, vec![])
        }
        ManifestKind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(ManifestError::Invalid(format!(
                    "a {media_type} must not have 'config' or 'layers'"
                )));
            }
            let manifests = match &raw.manifests {
                Some(m) => descriptors(m, "manifests")?,
                None => return Err(ManifestError::Invalid("the index has no manifests".into())),
            };
            (None, vec![], manifests)
        }
    };
    Ok(ParsedManifest {
        media_type,
        kind,
        config,
        layers,
        manifests,
        subject,
        artifact_type: raw.artifact_type,
        annotations: raw.annotations,
    })
}

impl ParsedManifest {
    /// The blobs that must exist in the repository for the manifest to be
    /// accepted: the config and every layer, except foreign layers (those
    /// with `urls`, fetched from elsewhere by clients).
    pub fn required_blobs(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for d in self.config.iter().chain(self.layers.iter()) {
            if d.urls.is_empty() && !out.contains(&d.digest) {
                out.push(d.digest.clone());
            }
        }
        out
    }

    /// The child manifests an index references.
    pub fn required_manifests(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for d in &self.manifests {
            if !out.contains(&d.digest) {
                out.push(d.digest.clone());
            }
        }
        out
    }

    /// ECR's `artifactMediaType`: the artifact type when declared, else the
    /// config's media type (`application/vnd.docker.container.image.v1+json`
    /// for a Docker image). Indexes have none unless declared.
    pub fn artifact_media_type(&self) -> Option<String> {
        self.artifact_type
            .clone()
            .or_else(|| self.config.as_ref().map(|c| c.media_type.clone()))
    }

    /// The `artifactType` a referrers listing reports for this manifest
    /// (OCI 1.1: `artifactType`, else the config media type of an image).
    pub fn referrer_artifact_type(&self) -> Option<String> {
        self.artifact_media_type()
    }
}

/// ECR's `imageSizeInBytes` of an image manifest: the sizes of its config
/// and layers as stored (the manifest itself is not counted).
pub fn image_size(blob_sizes: &[u64]) -> u64 {
    blob_sizes.iter().sum()
}

/// ECR's `imageSizeInBytes` of an index: the largest of its manifests.
pub fn index_size(child_sizes: &[u64]) -> u64 {
    child_sizes.iter().copied().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(n: u8) -> String {
        format!("sha256:{}", hex::encode([n; 32]))
    }

    fn docker_image() -> Value {
        json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_V2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": d(1), "size": 10},
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d(2), "size": 20},
                {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": d(3), "size": 30,
                 "urls": ["https://example.com/layer"]},
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d(2), "size": 20}
            ]
        })
    }

    #[test]
    fn docker_image_references() {
        let bytes = serde_json::to_vec(&docker_image()).unwrap();
        let m = parse_manifest(&bytes, Some(DOCKER_MANIFEST_V2)).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.required_blobs(), vec![d(1), d(2)]);
        assert!(m.required_manifests().is_empty());
        assert_eq!(
            m.artifact_media_type().as_deref(),
            Some("application/vnd.docker.container.image.v1+json")
        );
    }

    #[test]
    fn media_type_from_header_or_structure() {
        let mut v = docker_image();
        v.as_object_mut().unwrap().remove("mediaType");
        let bytes = serde_json::to_vec(&v).unwrap();
        assert_eq!(
            parse_manifest(
                &bytes,
                Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8")
            )
            .unwrap()
            .media_type,
            OCI_MANIFEST
        );
        assert_eq!(parse_manifest(&bytes, None).unwrap().media_type, OCI_MANIFEST);
        let index = json!({"schemaVersion": 2, "manifests": []});
        let m = parse_manifest(&serde_json::to_vec(&index).unwrap(), Some("application/json")).unwrap();
        assert_eq!((m.media_type.as_str(), m.kind), (OCI_INDEX, ManifestKind::Index));
    }

    #[test]
    fn header_and_body_must_agree() {
        let bytes = serde_json::to_vec(&docker_image()).unwrap();
        assert!(matches!(
            parse_manifest(&bytes, Some(OCI_MANIFEST)),
            Err(ManifestError::Invalid(_))
        ));
    }

    #[test]
    fn rejects_malformed_manifests() {
        let bad = |v: Value| parse_manifest(&serde_json::to_vec(&v).unwrap(), None).unwrap_err();
        assert!(matches!(bad(json!([1])), ManifestError::Invalid(_)));
        assert!(matches!(
            bad(json!({"schemaVersion": 1})),
            ManifestError::Unsupported(_)
        ));
        assert!(matches!(bad(json!({"schemaVersion": 3})), ManifestError::Invalid(_)));
        assert!(matches!(
            bad(json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []})),
            ManifestError::Invalid(_)
        ));
        assert!(matches!(
            bad(json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "x", "digest": "sha256:12", "size": 1}, "layers": []})),
            ManifestError::Invalid(_)
        ));
        assert!(matches!(
            bad(json!({"schemaVersion": 2, "mediaType": "application/vnd.foo", "manifests": []})),
            ManifestError::Invalid(_)
        ));
        assert!(matches!(
            bad(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "layers": []})),
            ManifestError::Invalid(_)
        ));
        assert!(parse_manifest(b"not json", None).is_err());
    }

    #[test]
    fn artifact_with_subject() {
        let v = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": d(4), "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d(5), "size": 100},
            "annotations": {"org.example": "x"}
        });
        let m = parse_manifest(&serde_json::to_vec(&v).unwrap(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.subject.as_ref().unwrap().digest, d(5));
        assert_eq!(
            m.referrer_artifact_type().as_deref(),
            Some("application/vnd.example.sbom")
        );
        assert_eq!(m.required_blobs(), vec![d(4)]);
    }

    #[test]
    fn index_references_children() {
        let v = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_LIST,
            "manifests": [
                {"mediaType": DOCKER_MANIFEST_V2, "digest": d(6), "size": 500, "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": DOCKER_MANIFEST_V2, "digest": d(7), "size": 501}
            ]
        });
        let m = parse_manifest(&serde_json::to_vec(&v).unwrap(), None).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.required_manifests(), vec![d(6), d(7)]);
        assert!(m.required_blobs().is_empty());
        assert_eq!(m.artifact_media_type(), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(image_size(&[10, 20, 30]), 60);
        assert_eq!(index_size(&[10, 70, 30]), 70);
        assert_eq!(index_size(&[]), 0);
    }
}
