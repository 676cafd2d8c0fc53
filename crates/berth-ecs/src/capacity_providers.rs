//! DescribeCapacityProviders: the built-in FARGATE and FARGATE_SPOT providers
//! every account has, plus any provider stored under `keys::CAPACITY_PROVIDERS`.

use crate::authz;
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::{Arn, Scope};
use berth_ecs_model::{BUILTIN_CAPACITY_PROVIDERS, CapacityProviderStatus, StatusName, Tag};
use berth_proto::pagination::paginate_ordered;
use berth_proto::pagination::with_next_token;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeInput {
    capacity_providers: Option<Vec<String>>,
    cluster: Option<String>,
    #[serde(default)]
    include: Vec<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// The name a `capacityProviders` entry refers to: a short name, or the name
/// in a `capacity-provider/NAME` ARN of this account and region.
fn provider_name<'a>(scope: &Scope, s: &'a str) -> Option<&'a str> {
    if !s.starts_with("arn:") {
        return Some(s);
    }
    let arn = Arn::parse(s)?;
    if arn.service != "ecs" || arn.region != scope.region || arn.account != scope.account {
        return None;
    }
    s.rsplit_once(":capacity-provider/").map(|(_, n)| n)
}

impl Ecs {
    /// The host group whose instances run tasks of `providers` (one custom
    /// capacity provider per strategy: `check_strategy_kinds`); None for
    /// the built-in providers or none.
    pub(crate) async fn host_group_for(&self, providers: &[String]) -> Result<Option<String>, AwsError> {
        let Some(name) = providers
            .iter()
            .find(|p| !BUILTIN_CAPACITY_PROVIDERS.contains(&p.as_str()))
        else {
            return Ok(None);
        };
        match typed::get::<berth_ecs_model::CapacityProviderRecord>(&*self.store, &keys::capacity_provider(name))
            .await
            .map_err(AwsError::state_store)?
        {
            Some((rec, _)) if rec.is_active() => Ok(Some(rec.auto_scaling_group_provider.host_group().to_string())),
            _ => Err(AwsError::invalid_parameter(format!(
                "The specified capacity provider {name} is not in an ACTIVE state. Specify a valid capacity provider and try again."
            ))),
        }
    }

    /// Every capacity provider by name, rendered with its tags.
    async fn capacity_providers(&self) -> Result<BTreeMap<String, Value>, AwsError> {
        let mut out = BTreeMap::new();
        for name in BUILTIN_CAPACITY_PROVIDERS {
            out.insert(
                name.to_string(),
                json!({
                    "capacityProviderArn": self.scope.capacity_provider_arn(name),
                    "name": name,
                    "status": CapacityProviderStatus::Active.as_str(),
                    "type": name,
                    "tags": [],
                }),
            );
        }
        for v in typed::list::<Value>(&*self.store, keys::CAPACITY_PROVIDERS)
            .await
            .map_err(AwsError::state_store)?
        {
            let Some(name) = v.get("name").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            match out.get_mut(&name) {
                // A built-in provider's record only carries its tags.
                Some(builtin) if BUILTIN_CAPACITY_PROVIDERS.contains(&name.as_str()) => {
                    let tags: Vec<Tag> = v
                        .get("tags")
                        .cloned()
                        .map(serde_json::from_value)
                        .transpose()
                        .map_err(|e| AwsError::server(format!("malformed capacity provider tags: {e}")))?
                        .unwrap_or_default();
                    builtin["tags"] = json!(tags);
                }
                _ => {
                    out.insert(name, v);
                }
            }
        }
        Ok(out)
    }

    pub(crate) async fn describe_capacity_providers(
        &self,
        _ctx: &RequestContext,
        input: DescribeInput,
    ) -> Result<Value, AwsError> {
        for i in &input.include {
            if i != "TAGS" {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid include value '{i}'. The only valid value is TAGS."
                )));
            }
        }
        let include_tags = !input.include.is_empty();
        let mut all = self.capacity_providers().await?;
        if let Some(c) = &input.cluster {
            let cluster = self.active_cluster(Some(c)).await?;
            all.retain(|name, _| cluster.capacity_providers.iter().any(|p| p == name));
        }
        let mut failures = vec![];
        let selected: Vec<(String, Value)> = match &input.capacity_providers {
            Some(wanted) if !wanted.is_empty() => {
                if wanted.len() > 100 {
                    return Err(AwsError::invalid_parameter(
                        "At most 100 capacity providers can be described at once.",
                    ));
                }
                let mut found = BTreeMap::new();
                for w in wanted {
                    match provider_name(&self.scope, w).and_then(|n| all.get_key_value(n)) {
                        Some((name, v)) => {
                            found.insert(name.clone(), v.clone());
                        }
                        None => {
                            let arn = if w.starts_with("arn:") {
                                w.clone()
                            } else {
                                self.scope.capacity_provider_arn(w)
                            };
                            failures.push(json!({ "arn": arn, "reason": "MISSING" }));
                        }
                    }
                }
                found.into_iter().collect()
            }
            _ => all.into_iter().collect(),
        };
        let (page, next) = paginate_ordered(
            selected,
            |(name, _)| name.clone(),
            input.next_token.as_deref(),
            input.max_results,
            10,
            10,
            false,
        )?;
        let providers: Vec<Value> = page
            .into_iter()
            .map(|(_, mut v)| {
                if !include_tags {
                    v["tags"] = json!([]);
                }
                v
            })
            .collect();
        Ok(with_next_token(
            json!({ "capacityProviders": providers, "failures": failures }),
            next,
        ))
    }
}

/// DescribeCapacityProviders: on each capacity provider named.
pub(crate) struct DescribeCapacityProviders;

#[async_trait]
impl Operation<Ecs> for DescribeCapacityProviders {
    const NAME: &'static str = "DescribeCapacityProviders";
    type Input = DescribeInput;

    fn resources(scope: &Scope, input: &DescribeInput) -> Vec<AuthzResource> {
        authz::resources_of(
            scope,
            input
                .capacity_providers
                .iter()
                .flatten()
                .map(|p| authz::capacity_provider_arn(scope, p)),
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DescribeInput) -> Result<Value, AwsError> {
        ecs.describe_capacity_providers(ctx, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arns_resolve() {
        let s = Scope::new("us-east-1", "000000000000");
        assert_eq!(provider_name(&s, "FARGATE"), Some("FARGATE"));
        assert_eq!(
            provider_name(&s, "arn:aws:ecs:us-east-1:000000000000:capacity-provider/FARGATE_SPOT"),
            Some("FARGATE_SPOT")
        );
        assert_eq!(
            provider_name(&s, "arn:aws:ecs:eu-west-1:000000000000:capacity-provider/FARGATE"),
            None
        );
        assert_eq!(provider_name(&s, "arn:aws:ecs:us-east-1:000000000000:cluster/x"), None);
    }
}
