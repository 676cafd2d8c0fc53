//! Copying one image to a registry this server serves (another region):
//! the repository created if absent, each blob the destination lacks
//! copied by digest (verified as it is written) and linked into the
//! repository, child manifests before their list, then the manifest with
//! each tag the image has in the source. Every step is idempotent, so an
//! attempt that dies midway is finished by the next; an image the
//! destination already has under the same tags is not copied again.

use crate::digest::Digest;
use crate::error::RegistryError;
use crate::images::PutManifest;
use crate::records::RepositoryRecord;
use crate::{Registry, keys, now_epoch};
use berth_store::typed;
use bytes::Bytes;

/// Why a copy did not complete.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The source image no longer exists: nothing is left to replicate.
    SourceGone,
    /// Retrying cannot help: the `failureCode` DescribeImageReplicationStatus shows.
    Permanent { code: &'static str, why: String },
    /// Retried with backoff (the destination is down, a store conflict).
    Transient(String),
}

impl From<RegistryError> for CopyError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::TagImmutable(e) => CopyError::Permanent {
                code: "IMAGE_TAG_IMMUTABLE",
                why: e.to_string(),
            },
            other => CopyError::Transient(other.to_string()),
        }
    }
}

/// The repository a replica goes to, as the source's: its name, tag
/// mutability (with exclusions) and scan on push; its policies, lifecycle
/// policy and tags are not replicated (as ECR).
fn replica_repository(dst: &Registry, source: &RepositoryRecord) -> RepositoryRecord {
    RepositoryRecord {
        repository_name: source.repository_name.clone(),
        repository_arn: dst.repository_arn(&source.repository_name),
        registry_id: dst.registry_id().to_string(),
        created_at: now_epoch(),
        image_tag_mutability: source.image_tag_mutability,
        image_tag_mutability_exclusion_filters: source.image_tag_mutability_exclusion_filters.clone(),
        scan_on_push: source.scan_on_push,
        encryption_type: "AES256".to_string(),
        kms_key: None,
        tags: Vec::new(),
        policy_text: None,
        lifecycle_policy_text: None,
        lifecycle_evaluated_at: None,
    }
}

async fn ensure_repository(dst: &Registry, source: &RepositoryRecord) -> Result<(), CopyError> {
    let name = &source.repository_name;
    match dst.repository(name).await {
        Ok(_) => return Ok(()),
        Err(RegistryError::RepositoryNotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    dst.sweep_repository_keys(name).await?;
    // The destination's REPLICATION creation template, if one applies,
    // decides its settings (as ECR).
    let rec = dst
        .templated_repository(
            replica_repository(dst, source),
            crate::templates::AppliedFor::Replication,
        )
        .await?;
    let value = typed::encode(&rec).map_err(|e| CopyError::Transient(e.to_string()))?;
    // Created by a racing attempt or a user meanwhile: as good.
    dst.store
        .create(&keys::repository(name), value)
        .await
        .map_err(|e| CopyError::Transient(e.to_string()))?;
    tracing::info!(repository = %rec.repository_arn, "repository created by replication");
    Ok(())
}

/// Copies image `digest` of `repository` from `src` to `dst`.
pub(crate) async fn copy_image(
    src: &Registry,
    dst: &Registry,
    repository: &str,
    digest: &str,
) -> Result<(), CopyError> {
    let source_repo = match src.repository(repository).await {
        Ok(r) => r,
        Err(RegistryError::RepositoryNotFound { .. }) => return Err(CopyError::SourceGone),
        Err(e) => return Err(e.into()),
    };
    ensure_repository(dst, &source_repo).await?;
    let tags = src.tags_by_digest(repository).await?.remove(digest).unwrap_or_default();
    if already_there(dst, repository, digest, &tags).await? {
        return Ok(());
    }
    copy_manifest(src, dst, repository, digest, &tags).await
}

/// Whether `dst` has the image under every tag it has in the source (a
/// backfill of what a push already replicated, or an image pushed to both):
/// nothing to copy.
async fn already_there(dst: &Registry, repository: &str, digest: &str, tags: &[String]) -> Result<bool, CopyError> {
    if dst.image(repository, digest).await?.is_none() {
        return Ok(false);
    }
    let there = dst.tags_by_digest(repository).await?.remove(digest).unwrap_or_default();
    Ok(tags.iter().all(|t| there.contains(t)))
}

async fn copy_manifest(
    src: &Registry,
    dst: &Registry,
    repository: &str,
    digest: &str,
    tags: &[String],
) -> Result<(), CopyError> {
    let m = match src.manifest(repository, digest).await {
        Ok(m) => m,
        Err(RegistryError::ImageNotFound { .. }) => return Err(CopyError::SourceGone),
        Err(e) => return Err(e.into()),
    };
    // A list's images first (untagged), unless the destination has them.
    for child in &m.record.children {
        if dst.image(repository, child).await?.is_none() {
            Box::pin(copy_manifest(src, dst, repository, child, &[])).await?;
        }
    }
    for b in &m.record.blobs {
        let d = Digest::parse(b).map_err(|e| CopyError::Transient(e.to_string()))?;
        copy_blob(src, dst, repository, &d).await?;
    }
    let bytes = Bytes::from(m.bytes);
    let tags: Vec<Option<&str>> = if tags.is_empty() {
        vec![None]
    } else {
        tags.iter().map(|t| Some(t.as_str())).collect()
    };
    for tag in tags {
        dst.put_manifest_replica(PutManifest {
            repository,
            bytes: bytes.clone(),
            media_type: Some(&m.record.media_type),
            tag,
            digest: Some(digest),
            max_tag_len: 300,
        })
        .await?;
    }
    Ok(())
}

/// The blob into `dst`'s repository: its bytes copied when `dst` lacks
/// them, then linked, inside `dst`'s garbage-collection fence.
async fn copy_blob(src: &Registry, dst: &Registry, repository: &str, d: &Digest) -> Result<(), CopyError> {
    let digest_s = d.to_string();
    let _fence = dst.publish_locks.publish([digest_s.as_str()]).await;
    let size = match dst.blobs.stat(d).await.map_err(RegistryError::from)? {
        Some(size) => size,
        None => {
            let read = src
                .blobs
                .get(d, None)
                .await
                .map_err(RegistryError::from)?
                .ok_or_else(|| CopyError::Transient(format!("the source lacks the blob {d}")))?;
            dst.blobs
                .put_stream(d, read.stream)
                .await
                .map_err(RegistryError::from)?
        }
    };
    dst.link_blob(repository, d, size).await?;
    Ok(())
}
