//! CreateCapacityProvider, UpdateCapacityProvider, DeleteCapacityProvider:
//! custom capacity providers over Berth host groups (the records and their
//! rules are `berth-ecs-model`'s `capacity_provider.rs`), and the check
//! CreateCluster and PutClusterCapacityProviders make of the providers they
//! associate. Tasks of a strategy naming a custom provider are placed on
//! its host group's instances (`tasks/placement.rs`); managed scaling is
//! `managed_scaling.rs`.

use crate::authz;
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_ecs_model::{
    AutoScalingGroupProvider, BUILTIN_CAPACITY_PROVIDERS, CapacityProviderRecord, CapacityProviderStatus,
    CapacityProviderUpdateStatus, ClusterRecord, ClusterStatus, MAX_CAPACITY_PROVIDERS, ManagedScaling,
    ManagedScalingInput, Tag, Toggle, validate_group_provider, validate_provider_name, validate_tags,
};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::{Compare, Op, typed};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupProviderInput {
    auto_scaling_group_arn: Option<String>,
    managed_scaling: Option<ManagedScalingInput>,
    managed_termination_protection: Option<Toggle>,
    managed_draining: Option<Toggle>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateInput {
    name: String,
    cluster: Option<String>,
    auto_scaling_group_provider: Option<GroupProviderInput>,
    managed_instances_provider: Option<Value>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateInput {
    name: String,
    cluster: Option<String>,
    auto_scaling_group_provider: Option<GroupProviderInput>,
    managed_instances_provider: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteInput {
    capacity_provider: String,
    cluster: Option<String>,
}

/// Berth's refusal of what it does not run: Managed Instances providers.
fn refuse_unsupported(managed_instances: Option<&Value>, cluster: Option<&str>) -> Result<(), AwsError> {
    if managed_instances.is_some_and(|v| !v.is_null()) || cluster.is_some() {
        return Err(AwsError::invalid_parameter(
            "Amazon ECS Managed Instances capacity providers (managedInstancesProvider, cluster) are not supported by Berth. Use autoScalingGroupProvider with a Berth host group.",
        ));
    }
    Ok(())
}

/// The name a `capacityProvider` reference gives: the name, or the
/// `capacity-provider/NAME` of an ARN.
fn name_of(reference: &str) -> &str {
    match reference.rsplit_once(":capacity-provider/") {
        Some((_, n)) => n,
        None => reference,
    }
}

fn not_found(name: &str) -> AwsError {
    AwsError::invalid_parameter(format!(
        "The specified capacity provider '{name}' does not exist. Specify a valid capacity provider and try again."
    ))
}

impl Ecs {
    /// The stored custom providers with their revisions.
    async fn custom_providers(&self) -> Result<Vec<CapacityProviderRecord>, AwsError> {
        let all = typed::list::<Value>(&*self.store, keys::CAPACITY_PROVIDERS)
            .await
            .map_err(AwsError::state_store)?;
        Ok(all
            .into_iter()
            .filter(|v| {
                !v["name"]
                    .as_str()
                    .is_some_and(|n| BUILTIN_CAPACITY_PROVIDERS.contains(&n))
            })
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect())
    }

    /// Checks that every provider a cluster is to use exists: a built-in
    /// one, or an ACTIVE custom one.
    pub(crate) async fn check_providers_exist(&self, providers: &[String]) -> Result<(), AwsError> {
        let custom: Vec<String> = providers
            .iter()
            .filter(|p| !BUILTIN_CAPACITY_PROVIDERS.contains(&p.as_str()))
            .cloned()
            .collect();
        if custom.is_empty() {
            return Ok(());
        }
        let active = self.custom_providers().await?;
        for p in custom {
            if !active.iter().any(|r| r.name == p && r.is_active()) {
                return Err(AwsError::invalid_parameter(format!(
                    "The specified capacity provider '{p}' does not exist. Specify a valid capacity provider and try again."
                )));
            }
        }
        Ok(())
    }

    /// Checks that no ACTIVE service of `cluster` uses, in its strategy, a
    /// provider the cluster is to lose (`kept` is what it keeps).
    pub(crate) async fn check_providers_unused(&self, cluster: &str, kept: &[String]) -> Result<(), AwsError> {
        let name = cluster.rsplit('/').next().unwrap_or(cluster);
        let services = typed::list::<Value>(&*self.store, &keys::services_of(name))
            .await
            .map_err(AwsError::state_store)?;
        for s in services.iter().filter(|s| s["status"] == "ACTIVE") {
            for item in s["capacityProviderStrategy"].as_array().into_iter().flatten() {
                let Some(p) = item["capacityProvider"].as_str() else {
                    continue;
                };
                if !kept.iter().any(|k| k == p) {
                    return Err(AwsError::resource_in_use(format!(
                        "The specified capacity provider {p} is in use by the service {} and cannot be removed.",
                        s["serviceName"].as_str().unwrap_or("")
                    )));
                }
            }
        }
        Ok(())
    }

    /// Managed scaling ENABLED needs a capacity hook for the group on this
    /// server (`--capacity-hook GROUP=COMMAND`): nothing else adds hosts.
    fn check_scaling_hook(&self, p: &berth_ecs_model::AutoScalingGroupProvider) -> Result<(), AwsError> {
        if p.managed_scaling.status == Toggle::Enabled && self.capacity_hook(p.host_group()).is_none() {
            return Err(AwsError::invalid_parameter(format!(
                "Managed scaling needs a capacity hook for the host group {group}: start the Berth server with --capacity-hook {group}=COMMAND, or set managedScaling status DISABLED and add hosts yourself (berth agent --host-group {group}).",
                group = p.host_group()
            )));
        }
        Ok(())
    }

    async fn create_capacity_provider(&self, input: CreateInput) -> Result<Value, AwsError> {
        refuse_unsupported(input.managed_instances_provider.as_ref(), input.cluster.as_deref())?;
        validate_provider_name(&input.name)?;
        validate_tags(&input.tags)?;
        let g = input.auto_scaling_group_provider.ok_or_else(|| {
            AwsError::invalid_parameter(
                "autoScalingGroupProvider is required: give the Berth host group in autoScalingGroupArn.",
            )
        })?;
        let arn = g
            .auto_scaling_group_arn
            .clone()
            .ok_or_else(|| AwsError::invalid_parameter("autoScalingGroupProvider.autoScalingGroupArn is required."))?;
        let group = AutoScalingGroupProvider {
            auto_scaling_group_arn: arn,
            managed_scaling: ManagedScaling::default().merged(&g.managed_scaling.unwrap_or_default()),
            managed_termination_protection: g.managed_termination_protection.unwrap_or(Toggle::Disabled),
            managed_draining: g.managed_draining.unwrap_or(Toggle::Enabled),
        };
        validate_group_provider(&group)?;
        self.check_scaling_hook(&group)?;
        let existing = self.custom_providers().await?;
        let active: Vec<&CapacityProviderRecord> = existing.iter().filter(|r| r.is_active()).collect();
        if active.iter().any(|r| r.name == input.name) {
            return Err(AwsError::client(
                "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.",
            ));
        }
        if let Some(other) = active
            .iter()
            .find(|r| r.auto_scaling_group_provider.host_group() == group.host_group())
        {
            return Err(AwsError::client(format!(
                "The specified Auto Scaling group is already in use by the capacity provider '{}'. Specify a different Auto Scaling group (host group) and try again.",
                other.name
            )));
        }
        if active.len() >= MAX_CAPACITY_PROVIDERS {
            return Err(AwsError::new(
                "LimitExceededException",
                400,
                format!(
                    "The limit of {MAX_CAPACITY_PROVIDERS} capacity providers has been reached. Delete a capacity provider and try again."
                ),
            ));
        }
        let rec = CapacityProviderRecord {
            capacity_provider_arn: self.scope.capacity_provider_arn(&input.name),
            name: input.name.clone(),
            status: CapacityProviderStatus::Active.into(),
            auto_scaling_group_provider: group,
            update_status: CapacityProviderUpdateStatus::CreateComplete,
            tags: input.tags,
            kind: "EC2_AUTOSCALING".into(),
        };
        // An INACTIVE provider of the same name is replaced (as ECS lets a
        // deleted name be used again); a concurrent create loses.
        let key = keys::capacity_provider(&input.name);
        let compare = match typed::get::<Value>(&*self.store, &key)
            .await
            .map_err(AwsError::state_store)?
        {
            Some((_, rev)) => Compare::ModRevision(key.clone(), rev),
            None => Compare::Absent(key.clone()),
        };
        let done = self
            .store
            .txn(
                vec![compare],
                vec![Op::Put(key, typed::encode(&rec).map_err(AwsError::state_store)?)],
            )
            .await
            .map_err(AwsError::state_store)?
            .succeeded;
        if !done {
            return Err(AwsError::new(
                "UpdateInProgressException",
                400,
                "The capacity provider is being changed by another request. Try again.",
            ));
        }
        tracing::info!(capacity_provider = %rec.capacity_provider_arn, group = %rec.auto_scaling_group_provider.host_group(), "capacity provider created");
        Ok(json!({ "capacityProvider": rec.render(true) }))
    }

    /// Read-modify-write of an ACTIVE custom provider.
    async fn modify_provider(
        &self,
        name: &str,
        f: impl Fn(&mut CapacityProviderRecord) -> Result<(), AwsError>,
    ) -> Result<CapacityProviderRecord, AwsError> {
        if BUILTIN_CAPACITY_PROVIDERS.contains(&name) {
            return Err(AwsError::invalid_parameter(format!(
                "The capacity provider {name} is reserved and cannot be updated or deleted."
            )));
        }
        let key = keys::capacity_provider(name);
        loop {
            let Some((mut rec, rev)) = typed::get::<CapacityProviderRecord>(&*self.store, &key)
                .await
                .map_err(AwsError::state_store)?
            else {
                return Err(not_found(name));
            };
            if !rec.is_active() {
                return Err(not_found(name));
            }
            f(&mut rec)?;
            if self
                .store
                .txn(
                    vec![Compare::ModRevision(key.clone(), rev)],
                    vec![Op::Put(
                        key.clone(),
                        typed::encode(&rec).map_err(AwsError::state_store)?,
                    )],
                )
                .await
                .map_err(AwsError::state_store)?
                .succeeded
            {
                return Ok(rec);
            }
        }
    }

    async fn update_capacity_provider(&self, input: UpdateInput) -> Result<Value, AwsError> {
        refuse_unsupported(input.managed_instances_provider.as_ref(), input.cluster.as_deref())?;
        let g = input
            .auto_scaling_group_provider
            .ok_or_else(|| AwsError::invalid_parameter("autoScalingGroupProvider is required."))?;
        if g.auto_scaling_group_arn.is_some() {
            return Err(AwsError::invalid_parameter(
                "The Auto Scaling group of a capacity provider cannot be changed: create another capacity provider.",
            ));
        }
        let rec = self
            .modify_provider(name_of(&input.name), |rec| {
                let p = &mut rec.auto_scaling_group_provider;
                if let Some(s) = &g.managed_scaling {
                    p.managed_scaling = p.managed_scaling.merged(s);
                }
                if let Some(t) = g.managed_termination_protection {
                    p.managed_termination_protection = t;
                }
                if let Some(d) = g.managed_draining {
                    p.managed_draining = d;
                }
                validate_group_provider(p)?;
                self.check_scaling_hook(p)?;
                rec.update_status = CapacityProviderUpdateStatus::UpdateComplete;
                Ok(())
            })
            .await?;
        Ok(json!({ "capacityProvider": rec.render(true) }))
    }

    async fn delete_capacity_provider(&self, input: DeleteInput) -> Result<Value, AwsError> {
        if input.cluster.is_some() {
            return Err(AwsError::invalid_parameter(
                "cluster is only valid for Amazon ECS Managed Instances capacity providers, which Berth does not support.",
            ));
        }
        let name = name_of(&input.capacity_provider).to_string();
        // In use: associated with a cluster, or in a service's strategy.
        let clusters = typed::list::<ClusterRecord>(&*self.store, keys::CLUSTERS)
            .await
            .map_err(AwsError::state_store)?;
        if let Some(c) = clusters
            .iter()
            .find(|c| c.status == ClusterStatus::Active && c.capacity_providers.contains(&name))
        {
            return Err(AwsError::new(
                "ResourceInUseException",
                400,
                format!(
                    "The specified capacity provider is in use by the cluster {}. Remove it from the cluster (PutClusterCapacityProviders) and try again.",
                    c.cluster_name
                ),
            ));
        }
        let rec = self
            .modify_provider(&name, |rec| {
                rec.status = CapacityProviderStatus::Inactive.into();
                rec.update_status = CapacityProviderUpdateStatus::DeleteComplete;
                Ok(())
            })
            .await?;
        tracing::info!(capacity_provider = %rec.capacity_provider_arn, "capacity provider deleted");
        Ok(json!({ "capacityProvider": rec.render(true) }))
    }
}

/// CreateCapacityProvider: on the new provider's ARN.
pub(crate) struct CreateCapacityProvider;

#[async_trait]
impl Operation<Ecs> for CreateCapacityProvider {
    const NAME: &'static str = "CreateCapacityProvider";
    type Input = CreateInput;

    fn resources(scope: &Scope, input: &CreateInput) -> Vec<AuthzResource> {
        authz::resources_of(scope, [authz::capacity_provider_arn(scope, &input.name)])
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: CreateInput) -> Result<Value, AwsError> {
        ecs.create_capacity_provider(input).await
    }
}

/// UpdateCapacityProvider: on the provider.
pub(crate) struct UpdateCapacityProvider;

#[async_trait]
impl Operation<Ecs> for UpdateCapacityProvider {
    const NAME: &'static str = "UpdateCapacityProvider";
    type Input = UpdateInput;

    fn resources(scope: &Scope, input: &UpdateInput) -> Vec<AuthzResource> {
        authz::resources_of(scope, [authz::capacity_provider_arn(scope, &input.name)])
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: UpdateInput) -> Result<Value, AwsError> {
        ecs.update_capacity_provider(input).await
    }
}

/// DeleteCapacityProvider: on the provider.
pub(crate) struct DeleteCapacityProvider;

#[async_trait]
impl Operation<Ecs> for DeleteCapacityProvider {
    const NAME: &'static str = "DeleteCapacityProvider";
    type Input = DeleteInput;

    fn resources(scope: &Scope, input: &DeleteInput) -> Vec<AuthzResource> {
        authz::resources_of(scope, [authz::capacity_provider_arn(scope, &input.capacity_provider)])
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: DeleteInput) -> Result<Value, AwsError> {
        ecs.delete_capacity_provider(input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_refusals() {
        assert_eq!(name_of("pool"), "pool");
        assert_eq!(name_of("arn:aws:ecs:us-east-1:1:capacity-provider/pool"), "pool");
        assert!(refuse_unsupported(Some(&json!({})), None).is_err());
        assert!(refuse_unsupported(None, Some("c")).is_err());
        assert!(refuse_unsupported(None, None).is_ok());
    }
}
