//! CreateRepository, DescribeRepositories, DeleteRepository,
//! PutImageTagMutability, TagResource, UntagResource, ListTagsForResource
//! (DescribeRegistry is `replication.rs`'s).

use super::{invalid_parameter, repository_not_found};
use crate::records::RepositoryRecord;
use crate::rules::{self, ExclusionFilter, ResourceTag, TagMutability, TagRuleError};
use crate::{Registry, keys, now_epoch};
use berth_core::arn::Arn;
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScanningConfiguration {
    #[serde(default)]
    pub(super) scan_on_push: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EncryptionConfiguration {
    encryption_type: String,
    kms_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateRepositoryInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    #[serde(default)]
    tags: Vec<ResourceTag>,
    image_tag_mutability: Option<TagMutability>,
    #[serde(default)]
    image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
    image_scanning_configuration: Option<ScanningConfiguration>,
    encryption_configuration: Option<EncryptionConfiguration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeRepositoriesInput {
    registry_id: Option<String>,
    pub(crate) repository_names: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteRepositoryInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutImageTagMutabilityInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    image_tag_mutability: TagMutability,
    #[serde(default)]
    image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TagResourceInput {
    pub(crate) resource_arn: String,
    tags: Vec<ResourceTag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UntagResourceInput {
    pub(crate) resource_arn: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceArnInput {
    pub(crate) resource_arn: String,
}

pub(crate) fn tag_error(e: TagRuleError) -> AwsError {
    match e {
        TagRuleError::Invalid(m) => AwsError::new("InvalidTagParameterException", 400, m),
        TagRuleError::TooMany(m) => AwsError::new("TooManyTagsException", 400, m),
    }
}

/// The encryption a repository is created with (pure): AES256 (the
/// default) or KMS with the key given (`None`: the AWS managed key
/// `aws/ecr`). KMS_DSSE (dual-layer, GovCloud only in AWS) is refused:
/// Berth encrypts once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Encryption {
    Aes256,
    Kms(Option<String>),
}

pub(crate) fn encryption_of(config: Option<EncryptionConfiguration>) -> Result<Encryption, AwsError> {
    match config {
        None => Ok(Encryption::Aes256),
        Some(e) if e.encryption_type == "AES256" => {
            if e.kms_key.is_some() {
                return Err(invalid_parameter(
                    "Invalid parameter at 'encryptionConfiguration': kmsKey can only be specified with \
                     encryptionType KMS or KMS_DSSE.",
                ));
            }
            Ok(Encryption::Aes256)
        }
        Some(e) if e.encryption_type == "KMS" => Ok(Encryption::Kms(e.kms_key)),
        Some(e) if e.encryption_type == "KMS_DSSE" => Err(invalid_parameter(
            "encryptionType KMS_DSSE (dual-layer encryption) is not supported by Berth: it encrypts blobs \
             once, under the KMS key; use KMS.",
        )),
        Some(e) => Err(invalid_parameter(format!(
            "Invalid encryptionType '{}': expected AES256, KMS or KMS_DSSE.",
            e.encryption_type
        ))),
    }
}

impl Registry {
    pub(crate) fn render_repository(&self, r: &RepositoryRecord) -> Value {
        let mut enc = json!({ "encryptionType": r.encryption_type });
        if let Some(k) = &r.kms_key {
            enc["kmsKey"] = json!(k);
        }
        let mut v = json!({
            "repositoryArn": r.repository_arn,
            "registryId": r.registry_id,
            "repositoryName": r.repository_name,
            "repositoryUri": self.repository_uri(&r.repository_name),
            "createdAt": r.created_at,
            "imageTagMutability": r.image_tag_mutability.as_str(),
            "imageScanningConfiguration": { "scanOnPush": r.scan_on_push },
            "encryptionConfiguration": enc,
        });
        if !r.image_tag_mutability_exclusion_filters.is_empty() {
            v["imageTagMutabilityExclusionFilters"] = json!(r.image_tag_mutability_exclusion_filters);
        }
        v
    }

    pub(crate) async fn create_repository(
        &self,
        _ctx: &RequestContext,
        input: CreateRepositoryInput,
    ) -> Result<Value, AwsError> {
        let name = self.repo_param(input.registry_id.as_deref(), &input.repository_name)?;
        rules::validate_resource_tags(&input.tags).map_err(tag_error)?;
        let mode = input.image_tag_mutability.unwrap_or(TagMutability::Mutable);
        rules::validate_mutability(mode, &input.image_tag_mutability_exclusion_filters).map_err(invalid_parameter)?;
        let (encryption_type, kms_key) = match encryption_of(input.encryption_configuration)? {
            Encryption::Aes256 => ("AES256".to_string(), None),
            Encryption::Kms(key_id) => {
                // As ECR's DescribeKey at creation: the key must exist (its ARN is kept).
                let arn = self
                    .repository_key_arn(key_id.as_deref())
                    .await
                    .map_err(|e| AwsError::new("KmsException", 400, e))?;
                ("KMS".to_string(), Some(arn))
            }
        };
        let rec = RepositoryRecord {
            repository_name: name.clone(),
            repository_arn: self.repository_arn(&name),
            registry_id: self.registry_id().to_string(),
            created_at: now_epoch(),
            image_tag_mutability: mode,
            image_tag_mutability_exclusion_filters: input.image_tag_mutability_exclusion_filters,
            scan_on_push: input.image_scanning_configuration.is_some_and(|c| c.scan_on_push),
            encryption_type,
            kms_key,
            tags: input.tags,
            policy_text: None,
            lifecycle_policy_text: None,
            lifecycle_evaluated_at: None,
        };
        if !self.insert_repository(&rec).await? {
            return Err(AwsError::new(
                "RepositoryAlreadyExistsException",
                400,
                format!(
                    "The repository with name '{name}' already exists in the registry with id '{}'",
                    self.registry_id()
                ),
            ));
        }
        tracing::info!(repository = %rec.repository_arn, "repository created");
        Ok(json!({ "repository": self.render_repository(&rec) }))
    }

    /// Stores a new repository record; false when the repository exists.
    pub(crate) async fn insert_repository(&self, rec: &RepositoryRecord) -> Result<bool, AwsError> {
        let name = &rec.repository_name;
        // Keys a racing push left after an earlier deletion must not leak in.
        if self
            .store
            .get(&keys::repository(name))
            .await
            .map_err(AwsError::state_store)?
            .is_none()
        {
            self.sweep_repository_keys(name).await.map_err(|e| self.aws(e))?;
        }
        self.store
            .create(
                &keys::repository(name),
                typed::encode(rec).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)
    }

    pub(crate) async fn describe_repositories(
        &self,
        _ctx: &RequestContext,
        input: DescribeRepositoriesInput,
    ) -> Result<Value, AwsError> {
        if let Some(names) = &input.repository_names {
            if input.max_results.is_some() || input.next_token.is_some() {
                return Err(invalid_parameter(
                    "maxResults and nextToken cannot be used when repositoryNames is specified.",
                ));
            }
            if names.is_empty() || names.len() > 100 {
                return Err(invalid_parameter(
                    "repositoryNames must contain between 1 and 100 names.",
                ));
            }
            let mut out = vec![];
            for n in names {
                let rec = self.repo_for(input.registry_id.as_deref(), n).await?;
                out.push(self.render_repository(&rec));
            }
            return Ok(json!({ "repositories": out }));
        }
        self.check_registry_id(input.registry_id.as_deref(), "")?;
        let all: Vec<RepositoryRecord> = typed::list(&*self.store, keys::REPOSITORIES)
            .await
            .map_err(AwsError::state_store)?;
        let (page, next) = paginate(
            all,
            |r| r.repository_name.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            1000,
        )?;
        let mut out = json!({ "repositories": page.iter().map(|r| self.render_repository(r)).collect::<Vec<_>>() });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    pub(crate) async fn delete_repository_op(
        &self,
        _ctx: &RequestContext,
        input: DeleteRepositoryInput,
    ) -> Result<Value, AwsError> {
        let name = self.repo_param(input.registry_id.as_deref(), &input.repository_name)?;
        match self
            .delete_repository(&name, input.force)
            .await
            .map_err(|e| self.aws(e))?
        {
            Some(rec) => Ok(json!({ "repository": self.render_repository(&rec) })),
            None => Err(AwsError::new(
                "RepositoryNotEmptyException",
                400,
                format!(
                    "The repository with name '{name}' in registry with id '{}' cannot be deleted because it \
                     still contains images",
                    self.registry_id()
                ),
            )),
        }
    }

    /// Read-modify-write of a repository record.
    pub(crate) async fn modify_repository(
        &self,
        name: &str,
        f: impl Fn(&mut RepositoryRecord) -> Result<(), AwsError>,
    ) -> Result<RepositoryRecord, AwsError> {
        let registry = self.registry_id().to_string();
        typed::update_with::<RepositoryRecord, AwsError, _>(
            AwsError::state_store,
            &*self.store,
            &keys::repository(name),
            |cur| match cur {
                Some(mut rec) => {
                    f(&mut rec)?;
                    Ok(Some(rec))
                }
                None => Err(repository_not_found(name, &registry)),
            },
        )
        .await?
        .ok_or_else(|| repository_not_found(name, self.registry_id()))
    }

    pub(crate) async fn put_image_tag_mutability(
        &self,
        _ctx: &RequestContext,
        input: PutImageTagMutabilityInput,
    ) -> Result<Value, AwsError> {
        let name = self.repo_param(input.registry_id.as_deref(), &input.repository_name)?;
        rules::validate_mutability(
            input.image_tag_mutability,
            &input.image_tag_mutability_exclusion_filters,
        )
        .map_err(invalid_parameter)?;
        let rec = self
            .modify_repository(&name, |r| {
                r.image_tag_mutability = input.image_tag_mutability;
                r.image_tag_mutability_exclusion_filters = input.image_tag_mutability_exclusion_filters.clone();
                Ok(())
            })
            .await?;
        let mut out = json!({
            "registryId": rec.registry_id,
            "repositoryName": rec.repository_name,
            "imageTagMutability": rec.image_tag_mutability.as_str(),
        });
        if !rec.image_tag_mutability_exclusion_filters.is_empty() {
            out["imageTagMutabilityExclusionFilters"] = json!(rec.image_tag_mutability_exclusion_filters);
        }
        Ok(out)
    }

    /// The repository a `resourceArn` names (this registry's repositories only).
    pub(crate) fn repository_of_arn(&self, arn: &str) -> Result<String, AwsError> {
        let bad = || {
            invalid_parameter(format!(
                "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN: {arn}'"
            ))
        };
        let a = Arn::parse(arn).ok_or_else(bad)?;
        let name = match a.resource_parts() {
            ("repository", name) if a.service == "ecr" => name.to_string(),
            _ => return Err(bad()),
        };
        if a.account != self.scope.account || a.region != self.scope.region {
            return Err(repository_not_found(&name, &a.account));
        }
        rules::validate_repository_name(&name).map_err(|_| bad())?;
        Ok(name)
    }

    pub(crate) async fn tag_resource(&self, _ctx: &RequestContext, input: TagResourceInput) -> Result<Value, AwsError> {
        let name = self.repository_of_arn(&input.resource_arn)?;
        rules::validate_resource_tags(&input.tags).map_err(tag_error)?;
        self.modify_repository(&name, |r| {
            r.tags = rules::merge_resource_tags(&r.tags, &input.tags).map_err(tag_error)?;
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn untag_resource(
        &self,
        _ctx: &RequestContext,
        input: UntagResourceInput,
    ) -> Result<Value, AwsError> {
        let name = self.repository_of_arn(&input.resource_arn)?;
        self.modify_repository(&name, |r| {
            r.tags.retain(|t| !input.tag_keys.contains(&t.key));
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn list_tags_for_resource(
        &self,
        _ctx: &RequestContext,
        input: ResourceArnInput,
    ) -> Result<Value, AwsError> {
        let name = self.repository_of_arn(&input.resource_arn)?;
        let rec = self.repository(&name).await.map_err(|e| self.aws(e))?;
        Ok(json!({ "tags": rec.tags }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<impl std::fmt::Debug, AwsError>) -> String {
        let e = r.expect_err("expected a refusal");
        assert_eq!(e.code, "InvalidParameterException");
        e.message
    }

    #[test]
    fn aes256_or_kms_encryption() {
        let enc = |t: &str, k: Option<&str>| {
            Some(EncryptionConfiguration {
                encryption_type: t.into(),
                kms_key: k.map(str::to_string),
            })
        };
        assert_eq!(encryption_of(None).unwrap(), Encryption::Aes256);
        assert_eq!(encryption_of(enc("AES256", None)).unwrap(), Encryption::Aes256);
        assert!(message(encryption_of(enc("AES256", Some("k")))).contains("kmsKey"));
        assert_eq!(encryption_of(enc("KMS", None)).unwrap(), Encryption::Kms(None));
        assert_eq!(
            encryption_of(enc("KMS", Some("alias/mine"))).unwrap(),
            Encryption::Kms(Some("alias/mine".into()))
        );
        assert!(message(encryption_of(enc("KMS_DSSE", None))).contains("dual-layer"));
        assert!(message(encryption_of(enc("ROT13", None))).contains("Invalid encryptionType"));
    }
}
