//! The ECR API (awsJson 1.1, target `AmazonEC2ContainerRegistry_V20150921`,
//! signing name `ecr`) on the registry's data. Every operation is typed
//! ([`routes`]): its input decoded once; handlers are thin: apply the pure
//! rules, call the shared registry operations.

mod account;
mod backfills;
mod exclusions;
mod image_id;
mod images;
mod layers;
mod lifecycle;
mod model;
mod policies;
mod referrers;
mod replication;
mod repositories;
mod routes;
mod scanning;
mod templates;

use crate::error::RegistryError;
use crate::rules;
use crate::{Registry, TARGET_PREFIX};
use async_trait::async_trait;
use berth_proto::{AuthzResource, AwsError, JsonServiceInfo, OwnAuthorizer, RequestContext};

#[async_trait]
impl JsonServiceInfo for Registry {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        "ecr"
    }

    fn model(&self) -> Option<&'static berth_proto::validate::ServiceModel> {
        Some(&model::MODEL)
    }

    /// Each operation is authorized by the registry, per repository, with
    /// its policy and tags ([`OwnAuthorizer`] below).
    fn own_authorizer(&self) -> Option<&dyn OwnAuthorizer> {
        Some(self)
    }

    /// UploadLayerPart carries a part of up to 20 MiB, base64-encoded in
    /// the JSON body.
    fn max_body_size(&self) -> usize {
        layers::MAX_REQUEST_BODY
    }

    /// The tags of the repository `arn` names, when it is one of this
    /// registry's (none for the root principal, who is not checked).
    async fn resource_tags(&self, ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        match self.repository_of_arn(arn) {
            Ok(name) if !name.is_empty() => self.repository_tags(&ctx.principal, &name).await,
            _ => Vec::new(),
        }
    }
}

/// ECR authorizes itself: each resource of a request (its repository, with
/// its tags) through the registry's authorizer, with the repository's
/// policy, before the request runs.
impl OwnAuthorizer for Registry {
    fn check(&self, ctx: &RequestContext, action: &str, r: &AuthzResource) -> Result<(), AwsError> {
        self.authorize(&ctx.principal, action, &r.arn, &r.tags).map_err(|why| {
            AwsError::access_denied(format!(
                "User: {} is not authorized to perform: {action} on resource: {} {why}",
                ctx.principal.arn, r.arn
            ))
        })
    }
}

/// The names of every routed ECR operation, in the table's order.
pub fn routed_operations() -> Vec<&'static str> {
    routes::OPERATIONS.names()
}

// ---- ECR error shapes

pub(crate) fn invalid_parameter(message: impl Into<String>) -> AwsError {
    AwsError::invalid_parameter(message)
}

pub(crate) fn repository_not_found(name: &str, registry: &str) -> AwsError {
    AwsError::new(
        "RepositoryNotFoundException",
        400,
        format!("The repository with name '{name}' does not exist in the registry with id '{registry}'"),
    )
}

/// The ECR error for a shared-operation failure; operation-specific cases
/// (a digest mismatch is `ImageDigestDoesNotMatchException` for PutImage and
/// `InvalidLayerException` for CompleteLayerUpload) are mapped by callers first.
pub(crate) fn aws_error(reg: &Registry, e: RegistryError) -> AwsError {
    let registry = reg.registry_id();
    let msg = e.to_string();
    match e {
        RegistryError::RepositoryNotFound { name, .. } => repository_not_found(&name, registry),
        RegistryError::ImageNotFound { repository, reference } => AwsError::new(
            "ImageNotFoundException",
            400,
            format!(
                "The image with imageId '{reference}' does not exist within the repository with name \
                 '{repository}' in the registry with id '{registry}'"
            ),
        ),
        RegistryError::UploadNotFound => AwsError::new(
            "UploadNotFoundException",
            400,
            "The upload could not be found, or the specified upload ID is not valid for this repository.",
        ),
        RegistryError::BlobNotFound(d) => AwsError::new(
            "LayersNotFoundException",
            400,
            format!("The layer with digest '{d}' does not exist in the registry with id '{registry}'"),
        ),
        RegistryError::BlobsUnknown(d) => AwsError::new(
            "LayersNotFoundException",
            400,
            format!(
                "Layers with digests '[{}]' required for pushing the image do not exist in the repository",
                d.join(", ")
            ),
        ),
        RegistryError::ManifestsUnknown(d) => AwsError::new(
            "ReferencedImagesNotFoundException",
            400,
            format!(
                "The manifest list references images that do not exist in the repository: [{}]",
                d.join(", ")
            ),
        ),
        RegistryError::TagImmutable(_) => AwsError::new("ImageTagAlreadyExistsException", 400, msg),
        RegistryError::DigestMismatch { expected, actual } => AwsError::new(
            "ImageDigestDoesNotMatchException",
            400,
            format!("The specified digest '{expected}' does not match the calculated digest '{actual}'"),
        ),
        RegistryError::ManifestInvalid(m) | RegistryError::Unsupported(m) => invalid_parameter(format!(
            "Invalid parameter at 'imageManifest' failed to satisfy constraint: '{m}'"
        )),
        RegistryError::InvalidDigest(m) | RegistryError::TagInvalid(m) => invalid_parameter(m),
        RegistryError::UploadOffset { offset, got } => AwsError::new(
            "InvalidLayerPartException",
            400,
            format!(
                "The part's first byte ({got}) is not consecutive to the last byte received \
                 (lastValidByteReceived: {}).",
                offset as i64 - 1
            ),
        ),
        RegistryError::UploadInvalid(m) => AwsError::new("InvalidLayerPartException", 400, m),
        RegistryError::ReferencedByIndex(_) => invalid_parameter(msg),
        RegistryError::RangeNotSatisfiable { .. } => invalid_parameter(msg),
        RegistryError::Store(e) => AwsError::state_store(e),
        RegistryError::Io(e) => {
            tracing::error!(error = %e, "blob storage failure");
            AwsError::server("An internal error occurred while accessing blob storage. Try again.")
        }
    }
}

impl Registry {
    pub(crate) fn aws(&self, e: RegistryError) -> AwsError {
        aws_error(self, e)
    }

    /// Checks `registryId` (when given) names this registry.
    pub(crate) fn check_registry_id(&self, registry_id: Option<&str>, repository: &str) -> Result<(), AwsError> {
        if let Some(r) = registry_id {
            if r.len() != 12 || !r.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid_parameter(
                    "Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''",
                ));
            }
            if r != self.registry_id() {
                return Err(repository_not_found(repository, r));
            }
        }
        Ok(())
    }

    /// Validates a `repositoryName` parameter (and `registryId`).
    pub(crate) fn repo_param(&self, registry_id: Option<&str>, name: &str) -> Result<String, AwsError> {
        rules::validate_repository_name(name).map_err(invalid_parameter)?;
        self.check_registry_id(registry_id, name)?;
        Ok(name.to_string())
    }

    /// Loads a repository for an operation, or `RepositoryNotFoundException`.
    pub(crate) async fn repo_for(
        &self,
        registry_id: Option<&str>,
        name: &str,
    ) -> Result<crate::records::RepositoryRecord, AwsError> {
        let name = self.repo_param(registry_id, name)?;
        self.repository(&name).await.map_err(|e| self.aws(e))
    }
}
