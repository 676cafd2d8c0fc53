//! Errors: [`RegistryError`] for the operations both front ends share, and
//! [`OciError`], the Distribution API's error body
//! (`{"errors":[{"code","message","detail"}]}`). ECR API errors are
//! `berth_proto::AwsError`s, mapped per operation in `ecr`.

use crate::blob::BlobError;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_store::StoreError;
use serde_json::{Value, json};

/// Failures of the shared registry operations.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("The repository with name '{name}' does not exist in the registry with id '{registry}'")]
    RepositoryNotFound { name: String, registry: String },
    #[error("The image '{reference}' does not exist in the repository '{repository}'")]
    ImageNotFound { repository: String, reference: String },
    #[error("blob {0} is not known to this repository")]
    BlobNotFound(String),
    #[error("the upload was not found")]
    UploadNotFound,
    #[error("{0}")]
    InvalidDigest(String),
    #[error("the content's digest is {actual}, not the declared {expected}")]
    DigestMismatch { expected: String, actual: String },
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the manifest references blobs that do not exist in the repository: {}", .0.join(", "))]
    BlobsUnknown(Vec<String>),
    #[error("the manifest list references images that do not exist in the repository: {}", .0.join(", "))]
    ManifestsUnknown(Vec<String>),
    #[error(transparent)]
    TagImmutable(#[from] crate::rules::ImmutableTagError),
    #[error("{0}")]
    TagInvalid(String),
    /// A chunk did not start where the upload stands.
    #[error("the chunk starts at byte {got}, but the upload has {offset} bytes")]
    UploadOffset { offset: u64, got: u64 },
    #[error("{0}")]
    UploadInvalid(String),
    #[error("the image is referenced by the manifest list {0}")]
    ReferencedByIndex(String),
    #[error("the requested range is not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("state store failure: {0}")]
    Store(#[from] StoreError),
    #[error("blob storage failure: {0}")]
    Io(#[from] std::io::Error),
}

impl From<BlobError> for RegistryError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::DigestMismatch { expected, actual } => RegistryError::DigestMismatch {
                expected: expected.to_string(),
                actual: actual.to_string(),
            },
            BlobError::RangeNotSatisfiable { size } => RegistryError::RangeNotSatisfiable { size },
            BlobError::Body(e) => RegistryError::UploadInvalid(format!("reading the request body failed: {e}")),
            BlobError::Io(e) => RegistryError::Io(e),
        }
    }
}

/// A Distribution API error response.
#[derive(Debug)]
pub struct OciError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<Box<Value>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl OciError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: vec![],
        }
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    pub fn blob_unknown(digest: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown to registry")
            .with_detail(json!({ "digest": digest }))
    }
    pub fn blob_upload_unknown() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )
    }
    pub fn blob_upload_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", message)
    }
    pub fn digest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }
    pub fn manifest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
    }
    /// A manifest over the registry's limit: 413, as the distribution
    /// spec asks (`MANIFEST_INVALID`, a code of its table).
    pub fn manifest_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "MANIFEST_INVALID",
            format!("the manifest is larger than this registry's limit of {limit} bytes"),
        )
    }
    pub fn manifest_unknown(reference: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown")
            .with_detail(json!({ "reference": reference }))
    }
    pub fn name_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "NAME_INVALID", message)
    }
    pub fn size_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "SIZE_INVALID", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
            .with_header(header::WWW_AUTHENTICATE, "Basic realm=\"Berth\"")
    }
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "DENIED", message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", message)
    }
    pub fn tag_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "TAG_INVALID", message)
    }
    /// 416 with the upload's current `Range` so the client can resume
    /// (`BLOB_UPLOAD_INVALID`: the spec's table has no range code).
    pub fn range_invalid(message: impl Into<String>, offset: u64) -> Self {
        Self::new(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID", message)
            .with_header(header::RANGE, &format!("0-{}", offset.saturating_sub(1)))
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", message)
    }

    pub fn body(&self) -> Value {
        let mut e = json!({ "code": self.code, "message": self.message });
        if let Some(d) = &self.detail {
            e["detail"] = (**d).clone();
        }
        json!({ "errors": [e] })
    }
}

impl From<RegistryError> for OciError {
    fn from(e: RegistryError) -> Self {
        let msg = e.to_string();
        match e {
            RegistryError::RepositoryNotFound { name, .. } => {
                Self::new(StatusCode::NOT_FOUND, "NAME_UNKNOWN", msg).with_detail(json!({ "name": name }))
            }
            RegistryError::ImageNotFound { reference, .. } => Self::manifest_unknown(&reference),
            RegistryError::BlobNotFound(d) => Self::blob_unknown(&d),
            RegistryError::UploadNotFound => Self::blob_upload_unknown(),
            RegistryError::InvalidDigest(_) | RegistryError::DigestMismatch { .. } => Self::digest_invalid(msg),
            RegistryError::ManifestInvalid(_) => Self::manifest_invalid(msg),
            RegistryError::Unsupported(_) => Self::unsupported(msg),
            RegistryError::BlobsUnknown(ref d) => Self::new(
                StatusCode::BAD_REQUEST,
                "MANIFEST_BLOB_UNKNOWN",
                "blob unknown to registry",
            )
            .with_detail(json!({ "digests": d, "message": msg })),
            RegistryError::ManifestsUnknown(ref d) => Self::new(
                StatusCode::BAD_REQUEST,
                "MANIFEST_BLOB_UNKNOWN",
                "manifest unknown to registry",
            )
            .with_detail(json!({ "digests": d, "message": msg })),
            RegistryError::TagImmutable(_) => Self::tag_invalid(msg),
            RegistryError::TagInvalid(_) => Self::tag_invalid(msg),
            RegistryError::UploadOffset { offset, .. } => Self::range_invalid(msg, offset),
            RegistryError::UploadInvalid(_) => Self::blob_upload_invalid(msg),
            RegistryError::ReferencedByIndex(_) => Self::denied(msg),
            RegistryError::RangeNotSatisfiable { size } => {
                Self::new(StatusCode::RANGE_NOT_SATISFIABLE, "SIZE_INVALID", msg)
                    .with_header(header::CONTENT_RANGE, &format!("bytes */{size}"))
            }
            RegistryError::Store(e) => {
                tracing::error!(error = %e, "state store failure");
                Self::internal("An internal error occurred. Try again.")
            }
            RegistryError::Io(e) => {
                tracing::error!(error = %e, "blob storage failure");
                Self::internal("An internal error occurred while accessing blob storage. Try again.")
            }
        }
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in self.headers {
            h.insert(k, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error codes of the distribution spec's table.
    const SPEC: [&str; 14] = [
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    ];

    #[test]
    fn every_code_is_the_specs_but_ecrs_tag_invalid_and_the_internal_one() {
        let errors = [
            OciError::blob_unknown("sha256:0"),
            OciError::blob_upload_unknown(),
            OciError::blob_upload_invalid("m"),
            OciError::digest_invalid("m"),
            OciError::manifest_invalid("m"),
            OciError::manifest_too_large(1),
            OciError::manifest_unknown("r"),
            OciError::name_invalid("m"),
            OciError::size_invalid("m"),
            OciError::unauthorized("m"),
            OciError::denied("m"),
            OciError::unsupported("m"),
            OciError::range_invalid("m", 1),
            RegistryError::RangeNotSatisfiable { size: 1 }.into(),
            RegistryError::BlobsUnknown(vec![]).into(),
            RegistryError::ManifestsUnknown(vec![]).into(),
            RegistryError::UploadInvalid("m".into()).into(),
            RegistryError::ReferencedByIndex("m".into()).into(),
        ];
        for e in &errors {
            assert!(
                SPEC.contains(&e.code),
                "{} ({}) is not a code of the spec's table",
                e.code,
                e.message
            );
        }
        // ECR answers an immutable tag's overwrite with TAG_INVALID (what
        // docker prints as "tag invalid"); a server fault is UNKNOWN.
        assert_eq!(OciError::tag_invalid("m").code, "TAG_INVALID");
        assert_eq!(OciError::internal("m").code, "UNKNOWN");
    }
}
