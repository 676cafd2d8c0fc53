//! Repository creation templates: the settings of the repositories ECR
//! creates on the user's behalf — on a pull through a cache rule
//! (PULL_THROUGH_CACHE), for a replica (REPLICATION) and on a push to a
//! repository that does not exist (CREATE_ON_PUSH). The record, which
//! template applies to a name and the repository it makes are pure; the
//! registry's lookup is [`Registry::templated_repository`]; the operations
//! are `ecr/templates.rs`.

use crate::error::{OciError, RegistryError};
use crate::records::RepositoryRecord;
use crate::rules::{ExclusionFilter, ResourceTag, TagMutability};
use crate::{Registry, keys};
use berth_proto::Principal;
use berth_store::typed;
use serde::{Deserialize, Serialize};

/// What a template is applied for (`RCTAppliedFor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppliedFor {
    Replication,
    PullThroughCache,
    CreateOnPush,
}

impl AppliedFor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replication => "REPLICATION",
            Self::PullThroughCache => "PULL_THROUGH_CACHE",
            Self::CreateOnPush => "CREATE_ON_PUSH",
        }
    }
}

/// The prefix of the template that applies to every repository no other
/// template matches.
pub const ROOT: &str = "ROOT";

/// A stored template (`ecr/templates/PREFIX`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    /// As stored: without a trailing `/`, or `ROOT`.
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `AES256` or `KMS`.
    pub encryption_type: String,
    /// The key as given (`kmsKey`), shown back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// The key's ARN, resolved when the template was written (the AWS
    /// managed `aws/ecr` key when KMS names none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    #[serde(default)]
    pub resource_tags: Vec<ResourceTag>,
    pub image_tag_mutability: TagMutability,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_policy: Option<String>,
    pub applied_for: Vec<AppliedFor>,
    pub created_at: f64,
    pub updated_at: f64,
}

/// A prefix as stored: one trailing `/` dropped (`prod/` is `prod`).
pub fn normalize_prefix(prefix: &str) -> String {
    if prefix == ROOT {
        return ROOT.to_string();
    }
    prefix.strip_suffix('/').unwrap_or(prefix).to_string()
}

/// Whether `prefix` names `repository`: `prod` applies to `prod/…` (not to
/// `prod` itself nor `production/…`); `ROOT` to every repository.
fn covers(prefix: &str, repository: &str) -> bool {
    prefix == ROOT
        || repository
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

/// The template that applies to `repository` for `kind`: the one with the
/// longest matching prefix among those applied for `kind`, `ROOT` last.
pub fn best_match<'a>(templates: &'a [Template], repository: &str, kind: AppliedFor) -> Option<&'a Template> {
    templates
        .iter()
        .filter(|t| t.applied_for.contains(&kind) && covers(&t.prefix, repository))
        .max_by_key(|t| if t.prefix == ROOT { 0 } else { t.prefix.len() + 1 })
}

impl Template {
    /// `base` (a repository as Berth would create it without a template)
    /// with the template's settings: tag mutability and its exclusions,
    /// encryption, tags, repository policy and lifecycle policy. Scan on
    /// push is not a template setting: the base's stays.
    pub fn apply(&self, base: RepositoryRecord) -> RepositoryRecord {
        RepositoryRecord {
            image_tag_mutability: self.image_tag_mutability,
            image_tag_mutability_exclusion_filters: self.image_tag_mutability_exclusion_filters.clone(),
            encryption_type: self.encryption_type.clone(),
            kms_key: self.kms_key_arn.clone(),
            tags: self.resource_tags.clone(),
            policy_text: self.repository_policy.clone(),
            lifecycle_policy_text: self.lifecycle_policy.clone(),
            ..base
        }
    }
}

impl Registry {
    /// Every template, in prefix order.
    pub(crate) async fn creation_templates(&self) -> Result<Vec<Template>, RegistryError> {
        Ok(typed::list(&*self.store, keys::CREATION_TEMPLATES).await?)
    }

    /// The repository Berth creates on the user's behalf for `kind`:
    /// `base` with the settings of the template that applies, if any.
    pub(crate) async fn templated_repository(
        &self,
        base: RepositoryRecord,
        kind: AppliedFor,
    ) -> Result<RepositoryRecord, RegistryError> {
        let all = self.creation_templates().await?;
        Ok(match best_match(&all, &base.repository_name, kind) {
            Some(t) => {
                tracing::debug!(repository = %base.repository_name, prefix = %t.prefix, kind = kind.as_str(),
                    "repository creation template applied");
                t.apply(base)
            }
            None => base,
        })
    }

    /// A push (`/v2/` upload start or manifest PUT) to `name`: its
    /// repository, or — when there is none and a CREATE_ON_PUSH template
    /// applies — one created from that template, the caller needing
    /// `ecr:CreateRepository` on it (ECR's create on push). Without such a
    /// template the push is refused as before (`NAME_UNKNOWN`).
    pub(crate) async fn repository_for_push(&self, who: &Principal, name: &str) -> Result<(), OciError> {
        match self.repository(name).await {
            Ok(_) => return Ok(()),
            Err(RegistryError::RepositoryNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let all = self.creation_templates().await?;
        let Some(t) = best_match(&all, name, AppliedFor::CreateOnPush) else {
            return Err(self.repo_not_found(name).into());
        };
        crate::oci_authz::authorize(self, who, "ecr:CreateRepository", Some(name)).await?;
        let base =
            RepositoryRecord::with_defaults(name, self.repository_arn(name), self.registry_id(), crate::now_epoch());
        let rec = t.apply(base);
        // A concurrent push may have created it: as good.
        let created = self
            .insert_repository(&rec)
            .await
            .map_err(|e| OciError::internal(format!("creating the repository failed: {}", e.message)))?;
        if created {
            tracing::info!(repository = %rec.repository_arn, prefix = %t.prefix, "repository created on push from a creation template");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(prefix: &str, applied_for: &[AppliedFor]) -> Template {
        Template {
            prefix: prefix.into(),
            description: None,
            encryption_type: "AES256".into(),
            kms_key: None,
            kms_key_arn: None,
            resource_tags: vec![],
            image_tag_mutability: TagMutability::Immutable,
            image_tag_mutability_exclusion_filters: vec![],
            repository_policy: None,
            lifecycle_policy: None,
            applied_for: applied_for.to_vec(),
            created_at: 0.0,
            updated_at: 0.0,
        }
    }

    #[test]
    fn the_longest_prefix_applied_for_the_kind_wins_root_last() {
        use AppliedFor::*;
        let all = [
            template(ROOT, &[PullThroughCache, CreateOnPush]),
            template("prod", &[CreateOnPush]),
            template("prod/team", &[CreateOnPush, Replication]),
            template("hub", &[PullThroughCache]),
        ];
        let pick = |name: &str, kind| best_match(&all, name, kind).map(|t| t.prefix.as_str());
        assert_eq!(pick("prod/team/api", CreateOnPush), Some("prod/team"));
        assert_eq!(pick("prod/other", CreateOnPush), Some("prod"));
        assert_eq!(pick("prod/team/api", Replication), Some("prod/team"));
        assert_eq!(pick("prod/other", Replication), None);
        assert_eq!(pick("hub/library/nginx", PullThroughCache), Some("hub"));
        // `prod` covers `prod/…` only: not `prod` itself, not `production/…`.
        assert_eq!(pick("prod", CreateOnPush), Some(ROOT));
        assert_eq!(pick("production/x", CreateOnPush), Some(ROOT));
        assert_eq!(pick("anything", Replication), None);
    }

    #[test]
    fn prefixes_lose_one_trailing_slash() {
        assert_eq!(normalize_prefix("prod/"), "prod");
        assert_eq!(normalize_prefix("prod/team"), "prod/team");
        assert_eq!(normalize_prefix(ROOT), ROOT);
    }

    #[test]
    fn a_template_sets_what_it_holds_and_keeps_scan_on_push() {
        let mut t = template("prod", &[AppliedFor::CreateOnPush]);
        t.encryption_type = "KMS".into();
        t.kms_key_arn = Some("arn:aws:kms:us-east-1:000000000000:key/k".into());
        t.resource_tags = vec![ResourceTag {
            key: "team".into(),
            value: "web".into(),
        }];
        t.lifecycle_policy = Some("{}".into());
        let base = RepositoryRecord {
            scan_on_push: true,
            ..RepositoryRecord::with_defaults("prod/api", "arn".into(), "000000000000", 1.0)
        };
        let r = t.apply(base);
        assert_eq!(r.repository_name, "prod/api");
        assert_eq!(r.image_tag_mutability, TagMutability::Immutable);
        assert_eq!(
            (r.encryption_type.as_str(), r.kms_key.as_deref()),
            ("KMS", t.kms_key_arn.as_deref())
        );
        assert_eq!(r.tags.len(), 1);
        assert_eq!(r.lifecycle_policy_text.as_deref(), Some("{}"));
        assert!(r.scan_on_push);
    }
}
