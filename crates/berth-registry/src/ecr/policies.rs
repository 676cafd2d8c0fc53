//! GetAuthorizationToken, Set/Get/DeleteRepositoryPolicy,
//! Put/Get/DeleteRegistryPolicy. Policies are stored as given (their
//! evaluation comes with IAM) and must parse as policy documents.

use super::invalid_parameter;
use crate::auth::authorization_token;
use crate::{Registry, keys, rules};
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The input of the registry-level operations that take no member
/// (DescribeRegistry, GetRegistryPolicy, DeleteRegistryPolicy).
#[derive(Deserialize)]
pub(crate) struct RegistryInput {}

const MAX_POLICY_LEN: usize = 10240;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizationTokenInput {
    registry_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetRepositoryPolicyInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    policy_text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RepoInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegistryPolicyInput {
    policy_text: String,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RegistryPolicyRecord {
    policy_text: String,
}

pub(crate) fn check_policy(text: &str, what: &str) -> Result<(), AwsError> {
    if text.len() > MAX_POLICY_LEN {
        return Err(invalid_parameter(format!(
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Member must have length less than or equal to {MAX_POLICY_LEN}'"
        )));
    }
    rules::validate_policy_document(text, true).map_err(|reason| {
        invalid_parameter(format!(
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid {what} policy provided': {reason}"
        ))
    })
}

impl Registry {
    pub(crate) async fn get_authorization_token(
        &self,
        ctx: &RequestContext,
        input: AuthorizationTokenInput,
    ) -> Result<Value, AwsError> {
        let ids = match input.registry_ids {
            None => vec![self.registry_id().to_string()],
            Some(ids) if ids.is_empty() || ids.len() > 10 => {
                return Err(invalid_parameter(
                    "registryIds must contain between 1 and 10 registry ids.",
                ));
            }
            Some(ids) => ids,
        };
        let mut data = vec![];
        for id in ids {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid_parameter(format!(
                    "Invalid parameter at 'registryIds' failed to satisfy constraint: '{id}' is not a 12-digit account id"
                )));
            }
            let (password, expires) = self.issue_password(&ctx.principal);
            data.push(json!({
                "authorizationToken": authorization_token(&password),
                "expiresAt": expires as f64,
                "proxyEndpoint": format!("{}://{}", self.scheme, self.registry_host),
            }));
        }
        Ok(json!({ "authorizationData": data }))
    }

    pub(crate) async fn set_repository_policy(
        &self,
        _ctx: &RequestContext,
        input: SetRepositoryPolicyInput,
    ) -> Result<Value, AwsError> {
        let name = self.repo_param(input.registry_id.as_deref(), &input.repository_name)?;
        check_policy(&input.policy_text, "repository")?;
        let rec = self
            .modify_repository(&name, |r| {
                r.policy_text = Some(input.policy_text.clone());
                Ok(())
            })
            .await?;
        Ok(json!({
            "registryId": rec.registry_id,
            "repositoryName": rec.repository_name,
            "policyText": input.policy_text,
        }))
    }

    fn no_repository_policy(&self, name: &str) -> AwsError {
        AwsError::new(
            "RepositoryPolicyNotFoundException",
            400,
            format!(
                "Repository policy does not exist for the repository with name '{name}' in the registry with id '{}'",
                self.registry_id()
            ),
        )
    }

    pub(crate) async fn get_repository_policy(
        &self,
        _ctx: &RequestContext,
        input: RepoInput,
    ) -> Result<Value, AwsError> {
        let rec = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let text = rec
            .policy_text
            .ok_or_else(|| self.no_repository_policy(&rec.repository_name))?;
        Ok(json!({
            "registryId": rec.registry_id,
            "repositoryName": rec.repository_name,
            "policyText": text,
        }))
    }

    pub(crate) async fn delete_repository_policy(
        &self,
        _ctx: &RequestContext,
        input: RepoInput,
    ) -> Result<Value, AwsError> {
        let name = self.repo_param(input.registry_id.as_deref(), &input.repository_name)?;
        let before = self.repo_for(None, &name).await?;
        let text = before.policy_text.ok_or_else(|| self.no_repository_policy(&name))?;
        let removed = text.clone();
        self.modify_repository(&name, |r| match &r.policy_text {
            Some(_) => {
                r.policy_text = None;
                Ok(())
            }
            None => Err(self.no_repository_policy(&name)),
        })
        .await?;
        Ok(json!({
            "registryId": self.registry_id(),
            "repositoryName": name,
            "policyText": removed,
        }))
    }

    fn no_registry_policy(&self) -> AwsError {
        AwsError::new(
            "RegistryPolicyNotFoundException",
            400,
            format!(
                "Registry policy does not exist in the registry with id '{}'",
                self.registry_id()
            ),
        )
    }

    pub(crate) async fn put_registry_policy(
        &self,
        _ctx: &RequestContext,
        input: RegistryPolicyInput,
    ) -> Result<Value, AwsError> {
        check_policy(&input.policy_text, "registry")?;
        crate::registry_policy::check_actions(&input.policy_text).map_err(|reason| {
            invalid_parameter(format!(
                "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided': {reason}"
            ))
        })?;
        let rec = RegistryPolicyRecord {
            policy_text: input.policy_text.clone(),
        };
        self.store
            .put(
                keys::REGISTRY_POLICY,
                typed::encode(&rec).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)?;
        Ok(json!({ "registryId": self.registry_id(), "policyText": input.policy_text }))
    }

    /// The registry policy's text, if one was put (cross-account replication checks it).
    pub(crate) async fn registry_policy_text(&self) -> Result<Option<String>, crate::error::RegistryError> {
        Ok(typed::get::<RegistryPolicyRecord>(&*self.store, keys::REGISTRY_POLICY)
            .await?
            .map(|(rec, _)| rec.policy_text))
    }

    pub(crate) async fn get_registry_policy(
        &self,
        _ctx: &RequestContext,
        _input: RegistryInput,
    ) -> Result<Value, AwsError> {
        let (rec, _) = typed::get::<RegistryPolicyRecord>(&*self.store, keys::REGISTRY_POLICY)
            .await
            .map_err(AwsError::state_store)?
            .ok_or_else(|| self.no_registry_policy())?;
        Ok(json!({ "registryId": self.registry_id(), "policyText": rec.policy_text }))
    }

    pub(crate) async fn delete_registry_policy(
        &self,
        _ctx: &RequestContext,
        _input: RegistryInput,
    ) -> Result<Value, AwsError> {
        let Some((rec, rev)) = typed::get::<RegistryPolicyRecord>(&*self.store, keys::REGISTRY_POLICY)
            .await
            .map_err(AwsError::state_store)?
        else {
            return Err(self.no_registry_policy());
        };
        let res = self
            .store
            .txn(
                vec![berth_store::Compare::ModRevision(
                    keys::REGISTRY_POLICY.to_string(),
                    rev,
                )],
                vec![berth_store::Op::Delete(keys::REGISTRY_POLICY.to_string())],
            )
            .await
            .map_err(AwsError::state_store)?;
        if !res.succeeded {
            return Err(self.no_registry_policy());
        }
        Ok(json!({ "registryId": self.registry_id(), "policyText": rec.policy_text }))
    }
}
