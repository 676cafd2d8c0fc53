//! The registration table: every ECR operation Berth routes, each a typed
//! operation ([`berth_proto::operation`]): its input decoded once, the
//! resources it is authorized on derived from that input, as the Service
//! Authorization Reference names them (pure) — the repository ARN for the
//! repository operations, each named repository (or `repository/*` when
//! none is named) for DescribeRepositories, the `resourceArn` for tagging,
//! and `*` — explicitly — for the operations AWS does not scope to a
//! repository (GetAuthorizationToken and the registry-level ones). An
//! operation not in the table is `UnknownOperationException`.
//!
//! ECR authorizes itself ([`super`]'s `call`): the same resources, each
//! with its repository's tags, checked through the registry's authorizer.

use super::policies::RegistryInput;
use super::{
    account, backfills, exclusions, images, layers, lifecycle, policies, referrers, replication, repositories,
    scanning, templates,
};
use crate::Registry;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::operation::{Entry, Operation, OperationService, Table, entry};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde_json::Value;

impl OperationService for Registry {
    type Scope = Scope;

    /// The registry serves one region of one account.
    fn scope(&self, _ctx: &RequestContext) -> Scope {
        self.scope.clone()
    }

    fn table() -> &'static Table<Registry> {
        &OPERATIONS
    }
}

/// What a typed input is authorized on (pure).
pub(crate) trait Resources {
    fn resources(&self, scope: &Scope) -> Vec<AuthzResource>;
}

fn repository(scope: &Scope, name: &str) -> AuthzResource {
    AuthzResource::untagged(scope.arn("ecr", format!("repository/{name}")))
}

macro_rules! repository_scoped {
    ($($input:ty),*) => {$(
        impl Resources for $input {
            /// Its repository; an empty name is authorized on the empty
            /// name, never `*` (the operation then answers its validation
            /// error).
            fn resources(&self, scope: &Scope) -> Vec<AuthzResource> {
                vec![repository(scope, &self.repository_name)]
            }
        }
    )*};
}
repository_scoped!(
    images::ListImagesInput,
    images::DescribeImagesInput,
    images::BatchImagesInput,
    images::PutImageInput,
    layers::RepoInput,
    layers::UploadLayerPartInput,
    layers::CompleteLayerUploadInput,
    layers::LayerDigestsInput,
    layers::LayerDigestInput,
    lifecycle::PutLifecyclePolicyInput,
    lifecycle::LifecycleRepoInput,
    lifecycle::StartPreviewInput,
    lifecycle::GetPreviewInput,
    policies::SetRepositoryPolicyInput,
    policies::RepoInput,
    repositories::CreateRepositoryInput,
    repositories::DeleteRepositoryInput,
    replication::DescribeImageReplicationStatusInput,
    repositories::PutImageTagMutabilityInput,
    scanning::PutImageScanningConfigurationInput,
    scanning::StartImageScanInput,
    scanning::DescribeImageScanFindingsInput
);

macro_rules! resource_arn_scoped {
    ($($input:ty),*) => {$(
        impl Resources for $input {
            /// Its `resourceArn` (its repository's tags are found from it).
            fn resources(&self, _scope: &Scope) -> Vec<AuthzResource> {
                vec![AuthzResource::untagged(self.resource_arn.clone())]
            }
        }
    )*};
}
resource_arn_scoped!(
    repositories::TagResourceInput,
    repositories::UntagResourceInput,
    repositories::ResourceArnInput
);

macro_rules! not_resource_scoped {
    ($($input:ty),*) => {$(
        impl Resources for $input {
            /// Not resource-scoped in AWS: `*`.
            fn resources(&self, _scope: &Scope) -> Vec<AuthzResource> {
                vec![AuthzResource::untagged("*")]
            }
        }
    )*};
}
not_resource_scoped!(
    account::GetAccountSettingInput,
    account::PutAccountSettingInput,
    exclusions::PrincipalInput,
    exclusions::ListExclusionsInput,
    scanning::PutRegistryScanningConfigurationInput,
    policies::AuthorizationTokenInput,
    policies::RegistryPolicyInput,
    replication::PutReplicationConfigurationInput,
    RegistryInput
);

// Pull-through cache rules are registry-wide.
not_resource_scoped!(
    crate::pull_through::ops::CreatePullThroughCacheRuleInput,
    crate::pull_through::ops::DescribePullThroughCacheRulesInput,
    crate::pull_through::ops::UpdatePullThroughCacheRuleInput,
    crate::pull_through::ops::PullThroughRuleInput
);

// Replication backfills are registry-wide, like the replication
// configuration they run on (the Service Authorization Reference pages
// found predate these actions): `*`, explicitly.
not_resource_scoped!(
    backfills::StartBackfillInput,
    backfills::BackfillIdInput,
    backfills::ListBackfillsInput,
    backfills::DescribeBackfillInput
);

// Repository creation templates are registry-wide too.
not_resource_scoped!(
    templates::TemplateInput,
    templates::DescribeTemplatesInput,
    templates::DeleteTemplateInput
);

impl Resources for referrers::ListImageReferrersInput {
    /// Its repository, with `ecr:BatchGetImage`: "the IAM principal invoking
    /// this operation must have the ecr:BatchGetImage permission" (the API
    /// reference), as the `/v2/` referrers API needs.
    fn resources(&self, scope: &Scope) -> Vec<AuthzResource> {
        let mut r = repository(scope, &self.repository_name);
        r.action = Some("ecr:BatchGetImage".into());
        vec![r]
    }
}

impl Resources for scanning::BatchGetRepositoryScanningConfigurationInput {
    /// Each named repository.
    fn resources(&self, scope: &Scope) -> Vec<AuthzResource> {
        self.repository_names.iter().map(|n| repository(scope, n)).collect()
    }
}

impl Resources for repositories::DescribeRepositoriesInput {
    /// Each named repository, or every repository (`repository/*`).
    fn resources(&self, scope: &Scope) -> Vec<AuthzResource> {
        match &self.repository_names {
            Some(names) if !names.is_empty() => names.iter().map(|n| repository(scope, n)).collect(),
            _ => vec![repository(scope, "*")],
        }
    }
}

/// Declares each operation: its type, typed input and handler; its
/// resources are its input's [`Resources`].
macro_rules! operations {
    ($($name:ident($input:ty) => $handler:ident;)*) => {
        $(
            pub(crate) struct $name;

            #[async_trait]
            impl Operation<Registry> for $name {
                const NAME: &'static str = stringify!($name);
                type Input = $input;

                fn resources(scope: &Scope, input: &$input) -> Vec<AuthzResource> {
                    input.resources(scope)
                }

                async fn run(reg: &Registry, ctx: &RequestContext, input: $input) -> Result<Value, AwsError> {
                    reg.$handler(ctx, input).await
                }
            }
        )*

        const ENTRIES: &[Entry<Registry>] = &[$(entry::<Registry, $name>()),*];
    };
}

operations! {
    BatchCheckLayerAvailability(layers::LayerDigestsInput) => batch_check_layer_availability;
    BatchDeleteImage(images::BatchImagesInput) => batch_delete_image;
    BatchGetImage(images::BatchImagesInput) => batch_get_image;
    BatchGetRepositoryScanningConfiguration(scanning::BatchGetRepositoryScanningConfigurationInput) => batch_get_repository_scanning_configuration;
    CompleteLayerUpload(layers::CompleteLayerUploadInput) => complete_layer_upload;
    CreatePullThroughCacheRule(crate::pull_through::ops::CreatePullThroughCacheRuleInput) => create_pull_through_cache_rule;
    CreateRepository(repositories::CreateRepositoryInput) => create_repository;
    CreateRepositoryCreationTemplate(templates::TemplateInput) => create_repository_creation_template;
    DeleteLifecyclePolicy(lifecycle::LifecycleRepoInput) => delete_lifecycle_policy;
    DeletePullThroughCacheRule(crate::pull_through::ops::PullThroughRuleInput) => delete_pull_through_cache_rule;
    DeleteRegistryPolicy(RegistryInput) => delete_registry_policy;
    DeleteRepository(repositories::DeleteRepositoryInput) => delete_repository_op;
    DeleteRepositoryCreationTemplate(templates::DeleteTemplateInput) => delete_repository_creation_template;
    DeleteRepositoryPolicy(policies::RepoInput) => delete_repository_policy;
    DeregisterPullTimeUpdateExclusion(exclusions::PrincipalInput) => deregister_pull_time_update_exclusion;
    DescribeImageReplicationStatus(replication::DescribeImageReplicationStatusInput) => describe_image_replication_status;
    DescribeImageScanFindings(scanning::DescribeImageScanFindingsInput) => describe_image_scan_findings;
    DescribeImages(images::DescribeImagesInput) => describe_images;
    DescribePullThroughCacheRules(crate::pull_through::ops::DescribePullThroughCacheRulesInput) => describe_pull_through_cache_rules;
    DescribeRegistry(RegistryInput) => describe_registry;
    DescribeReplicationBackfillResults(backfills::DescribeBackfillInput) => describe_replication_backfill_results;
    DescribeRepositories(repositories::DescribeRepositoriesInput) => describe_repositories;
    DescribeRepositoryCreationTemplates(templates::DescribeTemplatesInput) => describe_repository_creation_templates;
    GetAccountSetting(account::GetAccountSettingInput) => get_account_setting;
    GetAuthorizationToken(policies::AuthorizationTokenInput) => get_authorization_token;
    GetDownloadUrlForLayer(layers::LayerDigestInput) => get_download_url_for_layer;
    GetLifecyclePolicy(lifecycle::LifecycleRepoInput) => get_lifecycle_policy;
    GetLifecyclePolicyPreview(lifecycle::GetPreviewInput) => get_lifecycle_policy_preview;
    GetRegistryPolicy(RegistryInput) => get_registry_policy;
    GetRegistryScanningConfiguration(RegistryInput) => get_registry_scanning_configuration;
    GetRepositoryPolicy(policies::RepoInput) => get_repository_policy;
    InitiateLayerUpload(layers::RepoInput) => initiate_layer_upload;
    ListImageReferrers(referrers::ListImageReferrersInput) => list_image_referrers;
    ListImages(images::ListImagesInput) => list_images;
    ListPullTimeUpdateExclusions(exclusions::ListExclusionsInput) => list_pull_time_update_exclusions;
    ListReplicationBackfills(backfills::ListBackfillsInput) => list_replication_backfills;
    ListTagsForResource(repositories::ResourceArnInput) => list_tags_for_resource;
    PutAccountSetting(account::PutAccountSettingInput) => put_account_setting;
    PutImage(images::PutImageInput) => put_image;
    PutImageScanningConfiguration(scanning::PutImageScanningConfigurationInput) => put_image_scanning_configuration;
    PutImageTagMutability(repositories::PutImageTagMutabilityInput) => put_image_tag_mutability;
    PutLifecyclePolicy(lifecycle::PutLifecyclePolicyInput) => put_lifecycle_policy;
    PutRegistryPolicy(policies::RegistryPolicyInput) => put_registry_policy;
    PutRegistryScanningConfiguration(scanning::PutRegistryScanningConfigurationInput) => put_registry_scanning_configuration;
    PutReplicationConfiguration(replication::PutReplicationConfigurationInput) => put_replication_configuration;
    RegisterPullTimeUpdateExclusion(exclusions::PrincipalInput) => register_pull_time_update_exclusion;
    SetRepositoryPolicy(policies::SetRepositoryPolicyInput) => set_repository_policy;
    StartImageScan(scanning::StartImageScanInput) => start_image_scan;
    StartLifecyclePolicyPreview(lifecycle::StartPreviewInput) => start_lifecycle_policy_preview;
    StartReplicationBackfill(backfills::StartBackfillInput) => start_replication_backfill;
    StopReplicationBackfill(backfills::BackfillIdInput) => stop_replication_backfill;
    TagResource(repositories::TagResourceInput) => tag_resource;
    UntagResource(repositories::UntagResourceInput) => untag_resource;
    UpdatePullThroughCacheRule(crate::pull_through::ops::UpdatePullThroughCacheRuleInput) => update_pull_through_cache_rule;
    UpdateRepositoryCreationTemplate(templates::TemplateInput) => update_repository_creation_template;
    UploadLayerPart(layers::UploadLayerPartInput) => upload_layer_part;
    ValidatePullThroughCacheRule(crate::pull_through::ops::PullThroughRuleInput) => validate_pull_through_cache_rule;
}

/// Every operation Berth routes.
pub(crate) static OPERATIONS: Table<Registry> = Table(ENTRIES);

#[cfg(test)]
mod tests;
