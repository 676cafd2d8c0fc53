//! The ECR operations on pull-through cache rules: Create, Describe,
//! Update, Delete and Validate. Rules are registry-wide (authorized on `*`,
//! as the Service Authorization Reference lists them) and stored one a key
//! (`ecr/pull-through-rules/PREFIX`).

use super::rule::{self, PullThroughRule, RuleError, UpstreamRegistry};
use super::upstream::{self, Session};
use super::{SecretError, SecretReader};
use crate::{Registry, keys, now_epoch};
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, RequestContext};
use berth_store::{Compare, Op, typed};
use serde::Deserialize;
use serde_json::{Value, json};

/// ECR's quota of pull-through cache rules per registry.
const MAX_RULES: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatePullThroughCacheRuleInput {
    registry_id: Option<String>,
    ecr_repository_prefix: String,
    upstream_registry_url: String,
    upstream_registry: Option<UpstreamRegistry>,
    credential_arn: Option<String>,
    custom_role_arn: Option<String>,
    upstream_repository_prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribePullThroughCacheRulesInput {
    registry_id: Option<String>,
    ecr_repository_prefixes: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdatePullThroughCacheRuleInput {
    registry_id: Option<String>,
    ecr_repository_prefix: String,
    credential_arn: Option<String>,
    custom_role_arn: Option<String>,
}

/// DeletePullThroughCacheRule and ValidatePullThroughCacheRule.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PullThroughRuleInput {
    registry_id: Option<String>,
    ecr_repository_prefix: String,
}

fn rule_error(e: RuleError) -> AwsError {
    match e {
        RuleError::Validation(m) => AwsError::new("ValidationException", 400, m),
        RuleError::UnsupportedUpstream(m) => AwsError::new("UnsupportedUpstreamRegistryException", 400, m),
    }
}

pub(crate) fn secret_error(e: SecretError) -> AwsError {
    match e {
        SecretError::NotFound(m) => AwsError::new("SecretNotFoundException", 400, m),
        SecretError::Unreadable(m) => AwsError::new("UnableToAccessSecretException", 400, m),
        SecretError::Undecryptable(m) => AwsError::new("UnableToDecryptSecretValueException", 400, m),
    }
}

/// Reads a rule's secret: its upstream `username` and `accessToken`.
pub(crate) async fn read_credentials(
    reader: Option<&SecretReader>,
    arn: &str,
) -> Result<(String, String), SecretError> {
    let Some(reader) = reader else {
        return Err(SecretError::Unreadable(format!(
            "The secret {arn} cannot be read: this registry has no access to Secrets Manager."
        )));
    };
    let text = reader(arn.to_string()).await?;
    upstream::credentials_of_secret(&text).ok_or_else(|| {
        SecretError::Unreadable(format!(
            "The secret {arn} must hold a JSON object with 'username' and 'accessToken'."
        ))
    })
}

impl Registry {
    fn rule_not_found(&self, prefix: &str) -> AwsError {
        AwsError::new(
            "PullThroughCacheRuleNotFoundException",
            400,
            format!(
                "The pull through cache rule with prefix '{prefix}' does not exist in the registry with id '{}'",
                self.registry_id()
            ),
        )
    }

    fn render_rule(&self, r: &PullThroughRule) -> Value {
        let mut v = json!({
            "ecrRepositoryPrefix": r.ecr_repository_prefix,
            "upstreamRegistryUrl": r.upstream_registry_url,
            "createdAt": r.created_at,
            "updatedAt": r.updated_at,
            "registryId": self.registry_id(),
            "upstreamRepositoryPrefix": r.upstream_prefix_shown(),
        });
        if let Some(u) = r.upstream_registry {
            v["upstreamRegistry"] = json!(u.as_str());
        }
        if let Some(c) = &r.credential_arn {
            v["credentialArn"] = json!(c);
        }
        v
    }

    /// Every rule, in prefix order.
    pub(crate) async fn pull_through_rules(&self) -> Result<Vec<PullThroughRule>, berth_store::StoreError> {
        typed::list(&*self.store, keys::PULL_THROUGH_RULES).await
    }

    async fn stored_rule(&self, prefix: &str) -> Result<(PullThroughRule, berth_store::Revision), AwsError> {
        let stored = rule::normalize_ecr_prefix(prefix).map_err(rule_error)?;
        typed::get::<PullThroughRule>(&*self.store, &keys::pull_through_rule(&stored))
            .await
            .map_err(AwsError::state_store)?
            .ok_or_else(|| self.rule_not_found(prefix))
    }

    pub(crate) async fn create_pull_through_cache_rule(
        &self,
        _ctx: &RequestContext,
        input: CreatePullThroughCacheRuleInput,
    ) -> Result<Value, AwsError> {
        self.check_registry_id(input.registry_id.as_deref(), "")?;
        rule::check_custom_role(input.custom_role_arn.as_deref()).map_err(rule_error)?;
        let prefix = rule::normalize_ecr_prefix(&input.ecr_repository_prefix).map_err(rule_error)?;
        let named = rule::check_upstream(
            &self.pull_through.settings.upstreams,
            &input.upstream_registry_url,
            input.upstream_registry,
        )
        .map_err(rule_error)?;
        if let Some(arn) = &input.credential_arn {
            read_credentials(self.pull_through.secrets.get(), arn)
                .await
                .map_err(secret_error)?;
        }
        let existing = self.pull_through_rules().await.map_err(AwsError::state_store)?;
        if existing.len() >= MAX_RULES {
            return Err(AwsError::new(
                "LimitExceededException",
                400,
                format!("The registry already has {MAX_RULES} pull through cache rules, the most it may have."),
            ));
        }
        let now = now_epoch();
        let rec = PullThroughRule {
            ecr_repository_prefix: prefix.clone(),
            upstream_registry_url: input.upstream_registry_url,
            upstream_registry: named,
            credential_arn: input.credential_arn,
            upstream_repository_prefix: rule::normalize_upstream_prefix(input.upstream_repository_prefix.as_deref()),
            created_at: now,
            updated_at: now,
        };
        let created = self
            .store
            .create(
                &keys::pull_through_rule(&prefix),
                typed::encode(&rec).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)?;
        if !created {
            return Err(AwsError::new(
                "PullThroughCacheRuleAlreadyExistsException",
                400,
                format!(
                    "A pull through cache rule with the prefix '{prefix}' already exists in the registry with id '{}'",
                    self.registry_id()
                ),
            ));
        }
        tracing::info!(prefix = %prefix, upstream = %rec.upstream_registry_url, "pull through cache rule created");
        let mut out = self.render_rule(&rec);
        if let Some(o) = out.as_object_mut() {
            o.remove("updatedAt");
        }
        Ok(out)
    }

    pub(crate) async fn describe_pull_through_cache_rules(
        &self,
        _ctx: &RequestContext,
        input: DescribePullThroughCacheRulesInput,
    ) -> Result<Value, AwsError> {
        self.check_registry_id(input.registry_id.as_deref(), "")?;
        let mut rules = self.pull_through_rules().await.map_err(AwsError::state_store)?;
        if let Some(prefixes) = &input.ecr_repository_prefixes {
            let mut wanted = Vec::with_capacity(prefixes.len());
            for p in prefixes {
                let stored = rule::normalize_ecr_prefix(p).map_err(rule_error)?;
                if !rules.iter().any(|r| r.ecr_repository_prefix == stored) {
                    return Err(self.rule_not_found(p));
                }
                wanted.push(stored);
            }
            rules.retain(|r| wanted.contains(&r.ecr_repository_prefix));
        }
        let (page, next) = paginate(
            rules,
            |r| r.ecr_repository_prefix.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            1000,
        )?;
        let mut out = json!({ "pullThroughCacheRules": page.iter().map(|r| self.render_rule(r)).collect::<Vec<_>>() });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    pub(crate) async fn update_pull_through_cache_rule(
        &self,
        _ctx: &RequestContext,
        input: UpdatePullThroughCacheRuleInput,
    ) -> Result<Value, AwsError> {
        self.check_registry_id(input.registry_id.as_deref(), "")?;
        rule::check_custom_role(input.custom_role_arn.as_deref()).map_err(rule_error)?;
        let Some(arn) = input.credential_arn else {
            return Err(AwsError::new(
                "ValidationException",
                400,
                "Specify credentialArn: it is what UpdatePullThroughCacheRule changes in Berth.",
            ));
        };
        let (mut rec, rev) = self.stored_rule(&input.ecr_repository_prefix).await?;
        read_credentials(self.pull_through.secrets.get(), &arn)
            .await
            .map_err(secret_error)?;
        rec.credential_arn = Some(arn);
        rec.updated_at = now_epoch();
        let key = keys::pull_through_rule(&rec.ecr_repository_prefix);
        let res = self
            .store
            .txn(
                vec![Compare::ModRevision(key.clone(), rev)],
                vec![Op::Put(key, typed::encode(&rec).map_err(AwsError::state_store)?)],
            )
            .await
            .map_err(AwsError::state_store)?;
        if !res.succeeded {
            return Err(AwsError::new(
                "ServerException",
                500,
                "The pull through cache rule changed during the update; try again.",
            ));
        }
        Ok(json!({
            "ecrRepositoryPrefix": rec.ecr_repository_prefix,
            "registryId": self.registry_id(),
            "updatedAt": rec.updated_at,
            "credentialArn": rec.credential_arn,
            "upstreamRepositoryPrefix": rec.upstream_prefix_shown(),
        }))
    }

    pub(crate) async fn delete_pull_through_cache_rule(
        &self,
        _ctx: &RequestContext,
        input: PullThroughRuleInput,
    ) -> Result<Value, AwsError> {
        self.check_registry_id(input.registry_id.as_deref(), "")?;
        let (rec, rev) = self.stored_rule(&input.ecr_repository_prefix).await?;
        let key = keys::pull_through_rule(&rec.ecr_repository_prefix);
        let res = self
            .store
            .txn(vec![Compare::ModRevision(key.clone(), rev)], vec![Op::Delete(key)])
            .await
            .map_err(AwsError::state_store)?;
        if !res.succeeded {
            return Err(self.rule_not_found(&input.ecr_repository_prefix));
        }
        tracing::info!(prefix = %rec.ecr_repository_prefix, "pull through cache rule deleted");
        let mut out = self.render_rule(&rec);
        if let Some(o) = out.as_object_mut() {
            o.remove("updatedAt");
            o.remove("upstreamRegistry");
        }
        Ok(out)
    }

    /// Reaches the upstream's `/v2/` with the rule's credentials.
    pub(crate) async fn validate_pull_through_cache_rule(
        &self,
        _ctx: &RequestContext,
        input: PullThroughRuleInput,
    ) -> Result<Value, AwsError> {
        self.check_registry_id(input.registry_id.as_deref(), "")?;
        let (rec, _) = self.stored_rule(&input.ecr_repository_prefix).await?;
        let failure = self.check_upstream_reachable(&rec).await.err();
        let mut out = json!({
            "ecrRepositoryPrefix": rec.ecr_repository_prefix,
            "registryId": self.registry_id(),
            "upstreamRegistryUrl": rec.upstream_registry_url,
            "upstreamRepositoryPrefix": rec.upstream_prefix_shown(),
            "isValid": failure.is_none(),
        });
        if let Some(c) = &rec.credential_arn {
            out["credentialArn"] = json!(c);
        }
        if let Some(f) = failure {
            out["failure"] = json!(f);
        }
        Ok(out)
    }

    async fn check_upstream_reachable(&self, rec: &PullThroughRule) -> Result<(), String> {
        let mut session = self.upstream_session(rec, "").await.map_err(|e| e.to_string())?;
        session.ping().await.map_err(|e| e.to_string())
    }

    /// A session with `repository` of the rule's upstream, with its
    /// credentials. An upstream the operator no longer allows is refused.
    pub(crate) async fn upstream_session(
        &self,
        rec: &PullThroughRule,
        repository: &str,
    ) -> Result<Session, SecretError> {
        let Some(allowed) = self.pull_through.settings.upstreams.find(&rec.upstream_registry_url) else {
            return Err(SecretError::Unreadable(format!(
                "The upstream registry '{}' is no longer allowed by this server (--pull-through-upstream).",
                rec.upstream_registry_url
            )));
        };
        let basic = match &rec.credential_arn {
            Some(arn) => Some(read_credentials(self.pull_through.secrets.get(), arn).await?),
            None => None,
        };
        Ok(Session::new(
            self.pull_through.http.clone(),
            allowed.base_url(),
            repository.to_string(),
            basic,
        ))
    }
}
