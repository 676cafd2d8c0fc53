//! InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload,
//! BatchCheckLayerAvailability, GetDownloadUrlForLayer: the layer half of
//! ECR's own push/pull API, on the same upload sessions and blobs as `/v2/`.

use super::invalid_parameter;
use crate::Registry;
use crate::digest::Digest;
use crate::error::RegistryError;
use crate::uploads::Chunk;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_proto::{AwsError, RequestContext};
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

/// ECR's largest layer part (20971520 bytes, as the UploadLayerPart
/// documentation says).
const MAX_PART: usize = 20 * 1024 * 1024;
/// The part size InitiateLayerUpload advertises: the largest part accepted.
const PART_SIZE: u64 = MAX_PART as u64;
/// The largest ECR request body: a `MAX_PART` part in base64 (4 bytes per
/// 3) plus room for the other fields of the JSON document.
pub(super) const MAX_REQUEST_BODY: usize = MAX_PART.div_ceil(3) * 4 + 64 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RepoInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UploadLayerPartInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    upload_id: String,
    part_first_byte: i64,
    part_last_byte: i64,
    layer_part_blob: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompleteLayerUploadInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    upload_id: String,
    layer_digests: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LayerDigestsInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    layer_digests: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LayerDigestInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    layer_digest: String,
}

fn invalid_part(registry: &str, repo: &str, upload: &str, last_valid: i64, message: String) -> AwsError {
    AwsError::new(
        "InvalidLayerPartException",
        400,
        format!(
            "{message} (registryId: {registry}, repositoryName: {repo}, uploadId: {upload}, lastValidByteReceived: {last_valid})"
        ),
    )
}

impl Registry {
    pub(crate) async fn initiate_layer_upload(
        &self,
        _ctx: &RequestContext,
        input: RepoInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let rec = self
            .start_upload(&repo.repository_name)
            .await
            .map_err(|e| self.aws(e))?;
        Ok(json!({ "uploadId": rec.id, "partSize": PART_SIZE }))
    }

    pub(crate) async fn upload_layer_part(
        &self,
        _ctx: &RequestContext,
        input: UploadLayerPartInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        let bytes = STANDARD
            .decode(input.layer_part_blob.as_bytes())
            .map_err(|e| AwsError::serialization(format!("layerPartBlob is not valid base64: {e}")))?;
        let current = self.upload(&name, &input.upload_id).await.map_err(|e| self.aws(e))?;
        let last_valid = current.offset as i64 - 1;
        if bytes.len() > MAX_PART {
            return Err(invalid_part(
                self.registry_id(),
                &name,
                &input.upload_id,
                last_valid,
                format!("The layer part is {} bytes; the limit is {MAX_PART}.", bytes.len()),
            ));
        }
        crate::rules::check_layer_part(current.offset, input.part_first_byte, input.part_last_byte, bytes.len())
            .map_err(|m| invalid_part(self.registry_id(), &name, &input.upload_id, last_valid, m))?;
        let chunk = Chunk {
            start: Some(input.part_first_byte as u64),
            len: Some(bytes.len() as u64),
            body: futures::stream::once(async move { Ok(Bytes::from(bytes)) }).boxed(),
        };
        let offset = match self.append_upload(&name, &input.upload_id, chunk).await {
            Ok(o) => o,
            Err(RegistryError::UploadOffset { offset, got }) => {
                return Err(invalid_part(
                    self.registry_id(),
                    &name,
                    &input.upload_id,
                    offset as i64 - 1,
                    format!("The part's first byte ({got}) is not consecutive to the last byte received."),
                ));
            }
            Err(e) => return Err(self.aws(e)),
        };
        Ok(json!({
            "registryId": self.registry_id(),
            "repositoryName": name,
            "uploadId": input.upload_id,
            "lastByteReceived": offset as i64 - 1,
        }))
    }

    pub(crate) async fn complete_layer_upload(
        &self,
        _ctx: &RequestContext,
        input: CompleteLayerUploadInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        if input.layer_digests.is_empty() || input.layer_digests.len() > 100 {
            return Err(invalid_parameter(
                "layerDigests must contain between 1 and 100 digests.",
            ));
        }
        let digests: Vec<Digest> = input
            .layer_digests
            .iter()
            .map(|d| Digest::parse(d).map_err(|e| invalid_parameter(format!("Invalid layer digest '{d}': {e}"))))
            .collect::<Result<_, _>>()?;
        if digests.iter().any(|d| d != &digests[0]) {
            return Err(invalid_parameter(
                "All layerDigests of one upload must be the same digest.",
            ));
        }
        let digest = &digests[0];
        let rec = self.upload(&name, &input.upload_id).await.map_err(|e| self.aws(e))?;
        if rec.offset == 0 {
            return Err(AwsError::new(
                "EmptyUploadException",
                400,
                format!("The layer upload {} does not contain any layer parts.", input.upload_id),
            ));
        }
        if self
            .blob_in_repository(&name, digest)
            .await
            .map_err(|e| self.aws(e))?
            .is_some()
        {
            self.cancel_upload(&name, &input.upload_id)
                .await
                .map_err(|e| self.aws(e))?;
            return Err(AwsError::new(
                "LayerAlreadyExistsException",
                400,
                format!(
                    "The layer with digest '{digest}' already exists in the repository with name '{name}' in registry with id '{}'",
                    self.registry_id()
                ),
            ));
        }
        match self.finish_upload(&name, &input.upload_id, digest, None).await {
            Ok(_) => {}
            Err(RegistryError::DigestMismatch { expected, actual }) => {
                return Err(AwsError::new(
                    "InvalidLayerException",
                    400,
                    format!(
                        "The layer digest calculation performed by Berth upon receipt of the image layer ({actual}) \
                         does not match the digest specified ({expected})."
                    ),
                ));
            }
            Err(e) => return Err(self.aws(e)),
        }
        Ok(json!({
            "registryId": self.registry_id(),
            "repositoryName": name,
            "uploadId": input.upload_id,
            "layerDigest": digest.to_string(),
        }))
    }

    pub(crate) async fn batch_check_layer_availability(
        &self,
        _ctx: &RequestContext,
        input: LayerDigestsInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        if input.layer_digests.is_empty() || input.layer_digests.len() > 100 {
            return Err(invalid_parameter(
                "layerDigests must contain between 1 and 100 digests.",
            ));
        }
        let mut layers = vec![];
        let mut failures = vec![];
        for raw in &input.layer_digests {
            if raw.is_empty() {
                failures.push(json!({ "layerDigest": raw, "failureCode": "MissingLayerDigest", "failureReason": "The layer digest is missing" }));
                continue;
            }
            let Ok(d) = Digest::parse(raw) else {
                failures.push(json!({ "layerDigest": raw, "failureCode": "InvalidLayerDigest", "failureReason": "Invalid layer digest" }));
                continue;
            };
            match self.blob_in_repository(&name, &d).await.map_err(|e| self.aws(e))? {
                Some(size) => {
                    layers.push(json!({ "layerDigest": raw, "layerAvailability": "AVAILABLE", "layerSize": size }))
                }
                None => layers.push(json!({ "layerDigest": raw, "layerAvailability": "UNAVAILABLE" })),
            }
        }
        Ok(json!({ "layers": layers, "failures": failures }))
    }

    pub(crate) async fn get_download_url_for_layer(
        &self,
        ctx: &RequestContext,
        input: LayerDigestInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        // The URL hands out the decrypted layer: kms:Decrypt on the key.
        self.check_decrypt(&ctx.principal, &name).await.map_err(|(key, why)| {
            AwsError::access_denied(format!(
                "User: {} is not authorized to perform: kms:Decrypt on resource: {key} {why}",
                ctx.principal.arn
            ))
        })?;
        let d = Digest::parse(&input.layer_digest)
            .map_err(|e| invalid_parameter(format!("Invalid layer digest '{}': {e}", input.layer_digest)))?;
        if self
            .blob_in_repository(&name, &d)
            .await
            .map_err(|e| self.aws(e))?
            .is_none()
        {
            return Err(AwsError::new(
                "LayersNotFoundException",
                400,
                format!(
                    "The specified layer '{d}' does not exist in the repository with name '{name}' in registry with id '{}'",
                    self.registry_id()
                ),
            ));
        }
        Ok(json!({
            "downloadUrl": crate::oci::download_url(self, &name, &d.to_string()),
            "layerDigest": d.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_body_limit_fits_the_largest_part() {
        let body = serde_json::to_vec(&json!({
            "registryId": "000000000000",
            "repositoryName": "a".repeat(256),
            "uploadId": uuid::Uuid::new_v4().to_string(),
            "partFirstByte": i64::MAX,
            "partLastByte": i64::MAX,
            "layerPartBlob": STANDARD.encode(vec![0u8; MAX_PART]),
        }))
        .unwrap();
        assert!(body.len() <= MAX_REQUEST_BODY, "{} > {MAX_REQUEST_BODY}", body.len());
        const {
            assert!(
                MAX_REQUEST_BODY < MAX_PART * 2,
                "the limit stays close to the part size"
            )
        };
        assert_eq!(PART_SIZE, 20_971_520);
    }
}
