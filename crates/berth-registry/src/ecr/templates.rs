//! The ECR operations on repository creation templates: Create, Describe,
//! Update and Delete. Templates are registry-wide (authorized on `*`, as
//! pull-through cache rules are) and stored one a key
//! (`ecr/templates/PREFIX`). What a template holds is checked as the
//! operation that sets it on a repository checks it (tags, tag mutability,
//! the repository policy, the lifecycle policy, the KMS key).

use super::invalid_parameter;
use super::lifecycle::parse_policy;
use super::policies::check_policy;
use super::repositories::{Encryption, EncryptionConfiguration, encryption_of, tag_error};
use crate::rules::{self, ExclusionFilter, ResourceTag, TagMutability};
use crate::templates::{AppliedFor, Template, normalize_prefix};
use crate::{Registry, keys, now_epoch};
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TemplateInput {
    prefix: String,
    description: Option<String>,
    encryption_configuration: Option<EncryptionConfiguration>,
    resource_tags: Option<Vec<ResourceTag>>,
    image_tag_mutability: Option<TagMutability>,
    image_tag_mutability_exclusion_filters: Option<Vec<ExclusionFilter>>,
    repository_policy: Option<String>,
    lifecycle_policy: Option<String>,
    applied_for: Option<Vec<AppliedFor>>,
    custom_role_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeTemplatesInput {
    prefixes: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteTemplateInput {
    prefix: String,
}

fn validation(m: impl Into<String>) -> AwsError {
    AwsError::new("ValidationException", 400, m)
}

fn render(t: &Template) -> Value {
    let mut enc = json!({"encryptionType": t.encryption_type});
    if let Some(k) = &t.kms_key {
        enc["kmsKey"] = json!(k);
    }
    let mut v = json!({
        "prefix": t.prefix,
        "encryptionConfiguration": enc,
        "resourceTags": t.resource_tags,
        "imageTagMutability": t.image_tag_mutability.as_str(),
        "appliedFor": t.applied_for.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "createdAt": t.created_at,
        "updatedAt": t.updated_at,
    });
    if let Some(d) = &t.description {
        v["description"] = json!(d);
    }
    if !t.image_tag_mutability_exclusion_filters.is_empty() {
        v["imageTagMutabilityExclusionFilters"] = json!(t.image_tag_mutability_exclusion_filters);
    }
    if let Some(p) = &t.repository_policy {
        v["repositoryPolicy"] = json!(p);
    }
    if let Some(p) = &t.lifecycle_policy {
        v["lifecyclePolicy"] = json!(p);
    }
    v
}

impl Registry {
    fn template_not_found(&self, prefix: &str) -> AwsError {
        AwsError::new(
            "TemplateNotFoundException",
            400,
            format!(
                "The repository creation template with prefix '{prefix}' does not exist in the registry with id '{}'",
                self.registry_id()
            ),
        )
    }

    async fn stored_template(&self, prefix: &str) -> Result<(Template, berth_store::Revision), AwsError> {
        typed::get::<Template>(&*self.store, &keys::creation_template(&normalize_prefix(prefix)))
            .await
            .map_err(AwsError::state_store)?
            .ok_or_else(|| self.template_not_found(prefix))
    }

    /// `t` with what `input` sets, each part checked; `appliedFor` must
    /// be left non-empty.
    async fn apply_template_input(&self, mut t: Template, input: TemplateInput) -> Result<Template, AwsError> {
        if input.custom_role_arn.is_some() {
            return Err(validation(
                "customRoleArn is not supported by Berth: it creates repositories from templates with its own \
                 principal (tags and KMS keys included); remove customRoleArn.",
            ));
        }
        if let Some(d) = input.description {
            t.description = Some(d);
        }
        if let Some(tags) = input.resource_tags {
            rules::validate_resource_tags(&tags).map_err(tag_error)?;
            t.resource_tags = tags;
        }
        if let Some(m) = input.image_tag_mutability {
            t.image_tag_mutability = m;
        }
        if let Some(f) = input.image_tag_mutability_exclusion_filters {
            t.image_tag_mutability_exclusion_filters = f;
        }
        rules::validate_mutability(t.image_tag_mutability, &t.image_tag_mutability_exclusion_filters)
            .map_err(invalid_parameter)?;
        if let Some(p) = input.repository_policy {
            check_policy(&p, "repository")?;
            t.repository_policy = Some(p);
        }
        if let Some(p) = input.lifecycle_policy {
            parse_policy(&p)?;
            t.lifecycle_policy = Some(p);
        }
        if let Some(e) = input.encryption_configuration {
            match encryption_of(Some(e))? {
                Encryption::Aes256 => {
                    t.encryption_type = "AES256".into();
                    t.kms_key = None;
                    t.kms_key_arn = None;
                }
                Encryption::Kms(key) => {
                    // As CreateRepository: the key must exist; its ARN is kept.
                    let arn = self
                        .repository_key_arn(key.as_deref())
                        .await
                        .map_err(|e| AwsError::new("KmsException", 400, e))?;
                    t.encryption_type = "KMS".into();
                    t.kms_key = key;
                    t.kms_key_arn = Some(arn);
                }
            }
        }
        if let Some(mut a) = input.applied_for {
            a.sort();
            a.dedup();
            t.applied_for = a;
        }
        if t.applied_for.is_empty() {
            return Err(validation(
                "appliedFor must name at least one of REPLICATION, PULL_THROUGH_CACHE and CREATE_ON_PUSH.",
            ));
        }
        Ok(t)
    }

    pub(crate) async fn create_repository_creation_template(
        &self,
        _ctx: &RequestContext,
        input: TemplateInput,
    ) -> Result<Value, AwsError> {
        let prefix = normalize_prefix(&input.prefix);
        if input.applied_for.is_none() {
            return Err(validation("appliedFor is required."));
        }
        let now = now_epoch();
        let blank = Template {
            prefix: prefix.clone(),
            description: None,
            encryption_type: "AES256".into(),
            kms_key: None,
            kms_key_arn: None,
            resource_tags: vec![],
            image_tag_mutability: TagMutability::Mutable,
            image_tag_mutability_exclusion_filters: vec![],
            repository_policy: None,
            lifecycle_policy: None,
            applied_for: vec![],
            created_at: now,
            updated_at: now,
        };
        let t = self.apply_template_input(blank, input).await?;
        let created = self
            .store
            .create(
                &keys::creation_template(&prefix),
                typed::encode(&t).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)?;
        if !created {
            return Err(AwsError::new(
                "TemplateAlreadyExistsException",
                400,
                format!(
                    "A repository creation template with the prefix '{prefix}' already exists in the registry with id '{}'",
                    self.registry_id()
                ),
            ));
        }
        tracing::info!(prefix = %prefix, "repository creation template created");
        Ok(json!({"registryId": self.registry_id(), "repositoryCreationTemplate": render(&t)}))
    }

    pub(crate) async fn describe_repository_creation_templates(
        &self,
        _ctx: &RequestContext,
        input: DescribeTemplatesInput,
    ) -> Result<Value, AwsError> {
        let mut all = self.creation_templates().await.map_err(|e| self.aws(e))?;
        if let Some(prefixes) = &input.prefixes {
            let wanted: Vec<String> = prefixes.iter().map(|p| normalize_prefix(p)).collect();
            all.retain(|t| wanted.contains(&t.prefix));
        }
        // In prefix order (`ROOT`, upper case, before every other prefix).
        let (page, next) = paginate(
            all,
            |t| t.prefix.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            1000,
        )?;
        let mut out = json!({
            "registryId": self.registry_id(),
            "repositoryCreationTemplates": page.iter().map(render).collect::<Vec<_>>(),
        });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    pub(crate) async fn update_repository_creation_template(
        &self,
        _ctx: &RequestContext,
        input: TemplateInput,
    ) -> Result<Value, AwsError> {
        let (old, rev) = self.stored_template(&input.prefix).await?;
        let mut t = self.apply_template_input(old, input).await?;
        t.updated_at = now_epoch();
        let written = typed::put_at(&*self.store, &keys::creation_template(&t.prefix), &t, rev)
            .await
            .map_err(AwsError::state_store)?;
        if !written {
            return Err(AwsError::new(
                "ServerException",
                500,
                "The repository creation template changed during the update; try again.",
            ));
        }
        Ok(json!({"registryId": self.registry_id(), "repositoryCreationTemplate": render(&t)}))
    }

    pub(crate) async fn delete_repository_creation_template(
        &self,
        _ctx: &RequestContext,
        input: DeleteTemplateInput,
    ) -> Result<Value, AwsError> {
        let (t, rev) = self.stored_template(&input.prefix).await?;
        let deleted = typed::delete_at(&*self.store, &keys::creation_template(&t.prefix), rev)
            .await
            .map_err(AwsError::state_store)?;
        if !deleted {
            return Err(self.template_not_found(&input.prefix));
        }
        tracing::info!(prefix = %t.prefix, "repository creation template deleted");
        Ok(json!({"registryId": self.registry_id(), "repositoryCreationTemplate": render(&t)}))
    }
}
