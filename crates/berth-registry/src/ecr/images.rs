//! ListImages, DescribeImages, BatchGetImage, BatchDeleteImage, PutImage.

use super::image_id::ImageId;
use super::invalid_parameter;
use crate::Registry;
use crate::digest::Digest;
use crate::error::RegistryError;
use crate::images::PutManifest;
use crate::records::ImageRecord;
use crate::rules::{self, TagChange};
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, RequestContext};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    tag_status: Option<String>,
    image_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListImagesInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeImagesInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    image_ids: Option<Vec<ImageId>>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchImagesInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    image_ids: Vec<ImageId>,
    accepted_media_types: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutImageInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    image_manifest: String,
    image_manifest_media_type: Option<String>,
    image_tag: Option<String>,
    image_digest: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

/// `filter.tagStatus` and `filter.imageStatus` (every Berth image is ACTIVE).
fn parse_filter(f: Option<&Filter>) -> Result<(TagStatus, bool), AwsError> {
    let status = parse_tag_status(f.and_then(|f| f.tag_status.as_deref()))?;
    let active = match f.and_then(|f| f.image_status.as_deref()) {
        None | Some("ANY" | "ACTIVE") => true,
        Some("ARCHIVED" | "ACTIVATING") => false,
        Some(other) => {
            return Err(invalid_parameter(format!(
                "Invalid imageStatus '{other}': expected ACTIVE, ARCHIVED, ACTIVATING or ANY."
            )));
        }
    };
    Ok((status, active))
}

/// `imageIds` given to a paginated operation (DescribeImages,
/// GetLifecyclePolicyPreview): 1 to 100 of them, and no pagination.
pub(super) fn check_image_ids(ids: &[ImageId], paginated: bool) -> Result<(), AwsError> {
    if paginated {
        return Err(invalid_parameter(
            "maxResults and nextToken cannot be used when imageIds is specified.",
        ));
    }
    if ids.is_empty() || ids.len() > 100 {
        return Err(invalid_parameter("imageIds must contain between 1 and 100 image ids."));
    }
    Ok(())
}

/// A `filter.tagStatus` (DescribeImages, ListImages, GetLifecyclePolicyPreview).
pub(super) fn parse_tag_status(s: Option<&str>) -> Result<TagStatus, AwsError> {
    match s {
        None | Some("ANY") => Ok(TagStatus::Any),
        Some("TAGGED") => Ok(TagStatus::Tagged),
        Some("UNTAGGED") => Ok(TagStatus::Untagged),
        Some(other) => Err(invalid_parameter(format!(
            "Invalid tagStatus '{other}': expected TAGGED, UNTAGGED or ANY."
        ))),
    }
}

/// Whether an image with `tags` passes a `filter.tagStatus`.
pub(super) fn keep(status: TagStatus, tags: &[String]) -> bool {
    match status {
        TagStatus::Any => true,
        TagStatus::Tagged => !tags.is_empty(),
        TagStatus::Untagged => tags.is_empty(),
    }
}

fn failure(id: &ImageId, code: &str, reason: impl Into<String>) -> Value {
    json!({ "imageId": id.to_json(), "failureCode": code, "failureReason": reason.into() })
}

/// An image id resolved against the repository.
enum Resolved {
    Found(String),
    Failed(Value),
}

impl Registry {
    fn image_detail(&self, repository: &str, rec: &ImageRecord, tags: &[String]) -> Value {
        let mut v = json!({
            "registryId": self.registry_id(),
            "repositoryName": repository,
            "imageDigest": rec.digest,
            "imageSizeInBytes": rec.size,
            "imagePushedAt": rec.pushed_at,
            "imageManifestMediaType": rec.media_type,
        });
        if !tags.is_empty() {
            v["imageTags"] = json!(tags);
        }
        if let Some(a) = &rec.artifact_media_type {
            v["artifactMediaType"] = json!(a);
        }
        if let Some(t) = rec.last_pulled_at {
            v["lastRecordedPullTime"] = json!(t);
        }
        if let Some(s) = &rec.subject {
            v["subjectManifestDigest"] = json!(s);
        }
        v
    }

    /// Resolves one `ImageIdentifier` of a single-image operation to a
    /// digest, or `ImageNotFoundException` / `InvalidParameterException`.
    pub(super) async fn resolve_image_id(&self, name: &str, id: &ImageId) -> Result<String, AwsError> {
        match self.resolve_id(name, id).await? {
            Resolved::Found(d) => Ok(d),
            Resolved::Failed(f) if f["failureCode"] == "ImageNotFound" => Err(AwsError::new(
                "ImageNotFoundException",
                400,
                format!(
                    "The image with imageId {} does not exist within the repository with name \
                     '{name}' in the registry with id '{}'",
                    id.describe(),
                    self.registry_id()
                ),
            )),
            Resolved::Failed(f) => Err(invalid_parameter(
                f["failureReason"].as_str().unwrap_or("Invalid image id"),
            )),
        }
    }

    /// The scan status and summary of each image detail that has a scan.
    async fn add_scan_fields(&self, name: &str, details: &mut [Value]) -> Result<(), AwsError> {
        for d in details.iter_mut() {
            let digest = d["imageDigest"].as_str().unwrap_or_default().to_string();
            if let Some(rec) = self.scan_record(name, &digest).await.map_err(|e| self.aws(e))? {
                super::scanning::scan_fields(d, &rec);
            }
        }
        Ok(())
    }

    /// Resolves one `ImageIdentifier` to a digest, or the failure entry
    /// BatchGetImage/BatchDeleteImage report.
    async fn resolve_id(&self, repository: &str, id: &ImageId) -> Result<Resolved, AwsError> {
        let not_found = || Resolved::Failed(failure(id, "ImageNotFound", "Requested image not found"));
        if let Some(d) = &id.image_digest
            && Digest::parse(d).is_err()
        {
            return Ok(Resolved::Failed(failure(
                id,
                "InvalidImageDigest",
                "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
            )));
        }
        if let Some(t) = &id.image_tag
            && !rules::is_valid_tag(t, 300)
        {
            return Ok(Resolved::Failed(failure(
                id,
                "InvalidImageTag",
                "Invalid request parameters: invalid image tag",
            )));
        }
        let digest = match (&id.image_digest, &id.image_tag) {
            (None, None) => {
                return Ok(Resolved::Failed(failure(
                    id,
                    "MissingDigestAndTag",
                    "Invalid request parameters: both tag and digest cannot be null",
                )));
            }
            (Some(d), None) => d.clone(),
            (tag_digest, Some(tag)) => {
                let resolved = match self.resolve(repository, tag).await {
                    Ok(d) => d,
                    Err(RegistryError::ImageNotFound { .. }) => return Ok(not_found()),
                    Err(e) => return Err(self.aws(e)),
                };
                if let Some(d) = tag_digest
                    && d != &resolved
                {
                    return Ok(Resolved::Failed(failure(
                        id,
                        "ImageTagDoesNotMatchDigest",
                        "Invalid request parameters: given tag does not map to the given digest",
                    )));
                }
                resolved
            }
        };
        match self.image(repository, &digest).await.map_err(|e| self.aws(e))? {
            Some(_) => Ok(Resolved::Found(digest)),
            None => Ok(not_found()),
        }
    }

    pub(crate) async fn list_images(&self, _ctx: &RequestContext, input: ListImagesInput) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        let (status, active) = parse_filter(input.filter.as_ref())?;
        let tags = self.tags_by_digest(&name).await.map_err(|e| self.aws(e))?;
        let mut ids: Vec<(String, Value)> = vec![];
        if active {
            for rec in self.images(&name).await.map_err(|e| self.aws(e))? {
                let t = tags.get(&rec.digest).cloned().unwrap_or_default();
                if !keep(status, &t) {
                    continue;
                }
                if t.is_empty() {
                    ids.push((format!("{}#", rec.digest), json!({ "imageDigest": rec.digest })));
                }
                for tag in t {
                    ids.push((
                        format!("{}#{tag}", rec.digest),
                        json!({ "imageDigest": rec.digest, "imageTag": tag }),
                    ));
                }
            }
        }
        let (page, next) = paginate(
            ids,
            |(k, _)| k.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            1000,
        )?;
        let mut out = json!({ "imageIds": page.into_iter().map(|(_, v)| v).collect::<Vec<_>>() });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    pub(crate) async fn describe_images(
        &self,
        _ctx: &RequestContext,
        input: DescribeImagesInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        let (status, active) = parse_filter(input.filter.as_ref())?;
        let tags = self.tags_by_digest(&name).await.map_err(|e| self.aws(e))?;
        let no_tags = vec![];
        if let Some(ids) = &input.image_ids {
            check_image_ids(ids, input.max_results.is_some() || input.next_token.is_some())?;
            let mut seen = BTreeSet::new();
            let mut details = vec![];
            for id in ids {
                let digest = self.resolve_image_id(&name, id).await?;
                if !seen.insert(digest.clone()) {
                    continue;
                }
                if let Some((rec, _)) = self.image(&name, &digest).await.map_err(|e| self.aws(e))? {
                    details.push(self.image_detail(&name, &rec, tags.get(&digest).unwrap_or(&no_tags)));
                }
            }
            self.add_scan_fields(&name, &mut details).await?;
            return Ok(json!({ "imageDetails": details }));
        }
        let mut all = vec![];
        if active {
            for rec in self.images(&name).await.map_err(|e| self.aws(e))? {
                let t = tags.get(&rec.digest).unwrap_or(&no_tags);
                if keep(status, t) {
                    all.push(rec);
                }
            }
        }
        let (page, next) = paginate(
            all,
            |r| r.digest.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            1000,
        )?;
        let mut details: Vec<Value> = page
            .iter()
            .map(|r| self.image_detail(&name, r, tags.get(&r.digest).unwrap_or(&no_tags)))
            .collect();
        self.add_scan_fields(&name, &mut details).await?;
        let mut out = json!({ "imageDetails": details });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    pub(crate) async fn batch_get_image(
        &self,
        ctx: &RequestContext,
        input: BatchImagesInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        if input.image_ids.is_empty() || input.image_ids.len() > 100 {
            return Err(invalid_parameter("imageIds must contain between 1 and 100 image ids."));
        }
        if let Some(m) = &input.accepted_media_types
            && (m.is_empty() || m.len() > 100)
        {
            return Err(invalid_parameter(
                "acceptedMediaTypes must contain between 1 and 100 media types.",
            ));
        }
        let mut images = vec![];
        let mut failures = vec![];
        for id in &input.image_ids {
            let digest = match self.resolve_id(&name, id).await? {
                Resolved::Found(d) => d,
                Resolved::Failed(f) => {
                    failures.push(f);
                    continue;
                }
            };
            let m = match self.manifest(&name, &digest).await {
                Ok(m) => m,
                Err(RegistryError::ImageNotFound { .. }) => {
                    failures.push(failure(id, "ImageNotFound", "Requested image not found"));
                    continue;
                }
                Err(e) => return Err(self.aws(e)),
            };
            if let Some(accepted) = &input.accepted_media_types
                && !accepted.iter().any(|a| a == &m.record.media_type)
            {
                failures.push(failure(
                    id,
                    "ImageNotFound",
                    format!(
                        "Requested image not found: its manifest media type {} is not among the accepted media types",
                        m.record.media_type
                    ),
                ));
                continue;
            }
            self.record_pull(&name, &digest, &ctx.principal.arn).await;
            let mut image_id = json!({ "imageDigest": digest });
            if let Some(t) = &id.image_tag {
                image_id["imageTag"] = json!(t);
            }
            images.push(json!({
                "registryId": self.registry_id(),
                "repositoryName": name,
                "imageId": image_id,
                "imageManifest": String::from_utf8_lossy(&m.bytes),
                "imageManifestMediaType": m.record.media_type,
            }));
        }
        Ok(json!({ "images": images, "failures": failures }))
    }

    pub(crate) async fn batch_delete_image(
        &self,
        _ctx: &RequestContext,
        input: BatchImagesInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        if input.image_ids.is_empty() || input.image_ids.len() > 100 {
            return Err(invalid_parameter("imageIds must contain between 1 and 100 image ids."));
        }
        let mut deleted = vec![];
        let mut failures = vec![];
        for id in &input.image_ids {
            let digest = match self.resolve_id(&name, id).await? {
                Resolved::Found(d) => d,
                Resolved::Failed(f) => {
                    failures.push(f);
                    continue;
                }
            };
            let result = match (&id.image_digest, &id.image_tag) {
                // A tag alone removes the tag (and the image with its last tag).
                (None, Some(tag)) => self
                    .delete_tag(&name, tag)
                    .await
                    .map(|d| vec![json!({ "imageDigest": d, "imageTag": tag })]),
                // A digest removes the image and all of its tags.
                _ => self.delete_image(&name, &digest).await.map(|tags| {
                    if tags.is_empty() {
                        vec![json!({ "imageDigest": digest })]
                    } else {
                        tags.iter()
                            .map(|t| json!({ "imageDigest": digest, "imageTag": t }))
                            .collect()
                    }
                }),
            };
            match result {
                Ok(ids) => deleted.extend(ids),
                Err(RegistryError::ImageNotFound { .. }) => {
                    failures.push(failure(id, "ImageNotFound", "Requested image not found"))
                }
                Err(RegistryError::ReferencedByIndex(index)) => failures.push(failure(
                    id,
                    "ImageReferencedByManifestList",
                    format!("Requested image referenced by manifest list: [{index}]"),
                )),
                Err(e) => return Err(self.aws(e)),
            }
        }
        Ok(json!({ "imageIds": deleted, "failures": failures }))
    }

    pub(crate) async fn put_image(&self, _ctx: &RequestContext, input: PutImageInput) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        if input.image_manifest.is_empty() || input.image_manifest.len() > crate::manifest::MAX_MANIFEST_BYTES {
            return Err(invalid_parameter(
                "Invalid parameter at 'imageManifest' failed to satisfy constraint: 'Member must have length \
                 between 1 and 4194304'",
            ));
        }
        if let Some(t) = &input.image_tag
            && !rules::is_valid_tag(t, 300)
        {
            return Err(invalid_parameter(format!(
                "Invalid parameter at 'imageTag' failed to satisfy constraint: 'invalid tag {t}'"
            )));
        }
        if let Some(d) = &input.image_digest {
            Digest::parse(d).map_err(|e| invalid_parameter(format!("Invalid parameter at 'imageDigest': {e}")))?;
        }
        // ECR reads the media type from the manifest or from
        // imageManifestMediaType; with neither it refuses the manifest (the
        // OCI spec lets `mediaType` be left out, ECR's PutImage does not).
        if input.image_manifest_media_type.is_none() && !crate::manifest::declares_media_type(&input.image_manifest) {
            return Err(invalid_parameter(
                "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'",
            ));
        }
        let bytes = Bytes::from(input.image_manifest.clone().into_bytes());
        let out = self
            .put_manifest(PutManifest {
                repository: &name,
                bytes,
                media_type: input.image_manifest_media_type.as_deref(),
                tag: input.image_tag.as_deref(),
                digest: input.image_digest.as_deref(),
                max_tag_len: 300,
            })
            .await
            .map_err(|e| self.aws(e))?;
        let unchanged = match &out.tag_change {
            None => out.image_existed,
            Some(c) => out.image_existed && *c == TagChange::Unchanged,
        };
        if unchanged {
            return Err(AwsError::new(
                "ImageAlreadyExistsException",
                400,
                format!(
                    "Image with digest '{}' and tag '{}' already exists in the repository with name '{name}' in \
                     registry with id '{}'",
                    out.digest,
                    input.image_tag.as_deref().unwrap_or("null"),
                    self.registry_id()
                ),
            ));
        }
        let mut image_id = json!({ "imageDigest": out.digest });
        if let Some(t) = &input.image_tag {
            image_id["imageTag"] = json!(t);
        }
        Ok(json!({
            "image": {
                "registryId": self.registry_id(),
                "repositoryName": name,
                "imageId": image_id,
                "imageManifest": input.image_manifest,
                "imageManifestMediaType": out.media_type,
            }
        }))
    }
}
