//! Put/Get/DeleteLifecyclePolicy, StartLifecyclePolicyPreview and
//! GetLifecyclePolicyPreview. The policy is validated
//! (`lifecycle::Policy::parse`) and stored in the repository record; the
//! evaluation loop (`crate::lifecycle_run`) applies it. A preview is
//! computed when it is started (the repository's images at that moment)
//! and kept, with its status, until the next one.

use super::image_id::ImageId;
use super::images::{check_image_ids, keep, parse_tag_status};
use super::invalid_parameter;
use crate::lifecycle::Policy;
use crate::records::{PreviewRecord, PreviewStatus};
use crate::{Registry, keys, now_epoch};
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutLifecyclePolicyInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    lifecycle_policy_text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LifecycleRepoInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartPreviewInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    lifecycle_policy_text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PreviewFilter {
    tag_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetPreviewInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    image_ids: Option<Vec<ImageId>>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<PreviewFilter>,
}

/// Validates a policy text as ECR does, with ECR's wording.
pub(crate) fn parse_policy(text: &str) -> Result<Policy, AwsError> {
    Policy::parse(text).map_err(|e| {
        invalid_parameter(format!(
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: {e}'"
        ))
    })
}

impl Registry {
    fn no_lifecycle_policy(&self, name: &str) -> AwsError {
        AwsError::new(
            "LifecyclePolicyNotFoundException",
            400,
            format!(
                "Lifecycle policy does not exist for the repository with name '{name}' in the registry with id '{}'",
                self.registry_id()
            ),
        )
    }

    pub(crate) async fn put_lifecycle_policy(
        &self,
        _ctx: &RequestContext,
        input: PutLifecyclePolicyInput,
    ) -> Result<Value, AwsError> {
        let name = self.repo_param(input.registry_id.as_deref(), &input.repository_name)?;
        parse_policy(&input.lifecycle_policy_text)?;
        let rec = self
            .modify_repository(&name, |r| {
                r.lifecycle_policy_text = Some(input.lifecycle_policy_text.clone());
                Ok(())
            })
            .await?;
        Ok(json!({
            "registryId": rec.registry_id,
            "repositoryName": rec.repository_name,
            "lifecyclePolicyText": input.lifecycle_policy_text,
        }))
    }

    pub(crate) async fn get_lifecycle_policy(
        &self,
        _ctx: &RequestContext,
        input: LifecycleRepoInput,
    ) -> Result<Value, AwsError> {
        let rec = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let text = rec
            .lifecycle_policy_text
            .ok_or_else(|| self.no_lifecycle_policy(&rec.repository_name))?;
        let mut out = json!({
            "registryId": rec.registry_id,
            "repositoryName": rec.repository_name,
            "lifecyclePolicyText": text,
        });
        if let Some(t) = rec.lifecycle_evaluated_at {
            out["lastEvaluatedAt"] = json!(t);
        }
        Ok(out)
    }

    pub(crate) async fn delete_lifecycle_policy(
        &self,
        _ctx: &RequestContext,
        input: LifecycleRepoInput,
    ) -> Result<Value, AwsError> {
        let name = self.repo_param(input.registry_id.as_deref(), &input.repository_name)?;
        let before = self.repo_for(None, &name).await?;
        let text = before
            .lifecycle_policy_text
            .ok_or_else(|| self.no_lifecycle_policy(&name))?;
        let evaluated = before.lifecycle_evaluated_at;
        self.modify_repository(&name, |r| match &r.lifecycle_policy_text {
            Some(_) => {
                r.lifecycle_policy_text = None;
                r.lifecycle_evaluated_at = None;
                Ok(())
            }
            None => Err(self.no_lifecycle_policy(&name)),
        })
        .await?;
        let mut out = json!({
            "registryId": self.registry_id(),
            "repositoryName": name,
            "lifecyclePolicyText": text,
        });
        if let Some(t) = evaluated {
            out["lastEvaluatedAt"] = json!(t);
        }
        Ok(out)
    }

    pub(crate) async fn start_lifecycle_policy_preview(
        &self,
        _ctx: &RequestContext,
        input: StartPreviewInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name.clone();
        let text = match input.lifecycle_policy_text {
            Some(t) => t,
            None => repo
                .lifecycle_policy_text
                .clone()
                .ok_or_else(|| self.no_lifecycle_policy(&name))?,
        };
        let policy = parse_policy(&text)?;
        let results = self.lifecycle_preview(&name, &policy).await.map_err(|e| self.aws(e))?;
        let rec = PreviewRecord {
            lifecycle_policy_text: text.clone(),
            status: PreviewStatus::Complete,
            created_at: now_epoch(),
            results,
        };
        // Only while the repository exists (a deletion clears previews).
        let res = self
            .store
            .txn(
                vec![berth_store::Compare::Exists(keys::repository(&name))],
                vec![berth_store::Op::Put(
                    keys::lifecycle_preview(&name),
                    typed::encode(&rec).map_err(AwsError::state_store)?,
                )],
            )
            .await
            .map_err(AwsError::state_store)?;
        if !res.succeeded {
            return Err(self.aws(self.repo_not_found(&name)));
        }
        Ok(json!({
            "registryId": self.registry_id(),
            "repositoryName": name,
            "lifecyclePolicyText": text,
            "status": rec.status.as_str(),
        }))
    }

    pub(crate) async fn get_lifecycle_policy_preview(
        &self,
        _ctx: &RequestContext,
        input: GetPreviewInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        let (preview, _) = typed::get::<PreviewRecord>(&*self.store, &keys::lifecycle_preview(&name))
            .await
            .map_err(AwsError::state_store)?
            .ok_or_else(|| {
                AwsError::new(
                    "LifecyclePolicyPreviewNotFoundException",
                    400,
                    format!(
                        "There is no dry run for this repository with name '{name}' in the registry with id '{}'",
                        self.registry_id()
                    ),
                )
            })?;
        let tag_status = parse_tag_status(input.filter.as_ref().and_then(|f| f.tag_status.as_deref()))?;
        if let Some(ids) = &input.image_ids {
            check_image_ids(ids, input.max_results.is_some() || input.next_token.is_some())?;
            if ids.iter().any(|i| i.image_digest.is_none() && i.image_tag.is_none()) {
                return Err(invalid_parameter(
                    "Invalid request parameters: both tag and digest cannot be null",
                ));
            }
        }
        let expiring = preview.results.len();
        let selected: Vec<(usize, &crate::records::PreviewResult)> = preview
            .results
            .iter()
            .enumerate()
            .filter(|(_, r)| keep(tag_status, &r.image_tags))
            .filter(|(_, r)| {
                input.image_ids.as_ref().is_none_or(|ids| {
                    ids.iter().any(|id| {
                        id.image_digest.as_ref().is_none_or(|d| d == &r.image_digest)
                            && id.image_tag.as_ref().is_none_or(|t| r.image_tags.contains(t))
                    })
                })
            })
            .collect();
        let (page, next) = paginate(
            selected,
            |(i, _)| format!("{i:012}"),
            input.next_token.as_deref(),
            input.max_results,
            100,
            100,
        )?;
        let results: Vec<Value> = page
            .into_iter()
            .map(|(_, r)| {
                let mut v = json!({
                    "imageDigest": r.image_digest,
                    "imagePushedAt": r.image_pushed_at,
                    "action": { "type": "EXPIRE" },
                    "appliedRulePriority": r.applied_rule_priority,
                });
                if !r.image_tags.is_empty() {
                    v["imageTags"] = json!(r.image_tags);
                }
                v
            })
            .collect();
        let mut out = json!({
            "registryId": self.registry_id(),
            "repositoryName": name,
            "lifecyclePolicyText": preview.lifecycle_policy_text,
            "status": preview.status.as_str(),
            "previewResults": results,
            "summary": { "expiringImageTotalCount": expiring },
        });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }
}
