//! CreateCluster, DescribeClusters, ListClusters, UpdateCluster,
//! UpdateClusterSettings, DeleteCluster, PutClusterCapacityProviders.

use crate::arn_page::arn_page;
use crate::authz;
use crate::operation::Operation;
use crate::references::cluster_name;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_ecs_model::{
    CapacityProviderStrategyItem, ClusterRecord, KeyValueSetting, Tag, validate_cluster_settings, validate_strategy,
    validate_tags,
};
use berth_ecs_model::{ClusterStatus, ContainerInstanceStatus, Recorded, ServiceStatus, TaskStatus};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateClusterInput {
    cluster_name: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    settings: Vec<KeyValueSetting>,
    configuration: Option<Value>,
    #[serde(default)]
    capacity_providers: Vec<String>,
    #[serde(default)]
    default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    service_connect_defaults: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeClustersInput {
    #[serde(default)]
    clusters: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListClustersInput {
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterOnly {
    cluster: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateClusterInput {
    cluster: String,
    settings: Option<Vec<KeyValueSetting>>,
    configuration: Option<Value>,
    service_connect_defaults: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateClusterSettingsInput {
    cluster: String,
    settings: Vec<KeyValueSetting>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutCapacityProvidersInput {
    cluster: String,
    capacity_providers: Vec<String>,
    default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
}

/// What ListClusters reads of a [`ClusterRecord`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedCluster {
    cluster_arn: String,
    status: Recorded<ClusterStatus>,
}

/// Counts derived from the resources in the cluster.
#[derive(Default)]
struct Counts {
    instances: usize,
    running: usize,
    pending: usize,
    services: usize,
    /// Of which FARGATE (launch type, or a capacity provider strategy:
    /// Berth's providers are FARGATE and FARGATE_SPOT).
    fargate_running: usize,
    fargate_pending: usize,
    fargate_services: usize,
}

impl Ecs {
    async fn counts(&self, cluster: &str) -> Result<Counts, AwsError> {
        let mut c = Counts::default();
        let state = self.synced_view().await?.state(cluster);
        c.instances = state
            .instances
            .iter()
            .filter(|(i, _)| {
                !i.is_fargate_host()
                    && i.status.is_any(&[
                        ContainerInstanceStatus::Active,
                        ContainerInstanceStatus::Draining,
                        ContainerInstanceStatus::Registering,
                    ])
            })
            .count();
        for t in &state.tasks {
            let fargate = usize::from(t.launch_type == "FARGATE");
            if t.last_status == TaskStatus::Running {
                c.running += 1;
                c.fargate_running += fargate;
            } else if t.last_status.is_any(&TaskStatus::PENDING) {
                c.pending += 1;
                c.fargate_pending += fargate;
            }
        }
        for kv in self
            .store
            .range(&keys::services_of(cluster), None, None)
            .await
            .map_err(AwsError::state_store)?
        {
            /// The one member of a service record counted here.
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Status {
                status: Recorded<ServiceStatus>,
                #[serde(default)]
                launch_type: Option<String>,
                #[serde(default)]
                capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
            }
            let v: Status = typed::decode(&kv).map_err(AwsError::state_store)?;
            if v.status == ServiceStatus::Active {
                c.services += 1;
                let fargate = match v.launch_type.as_deref() {
                    Some(lt) => lt == "FARGATE",
                    // A strategy of a custom provider runs EC2 tasks.
                    None => {
                        !v.capacity_provider_strategy.is_empty()
                            && !berth_ecs_model::task::is_custom_strategy(&v.capacity_provider_strategy)
                    }
                };
                c.fargate_services += usize::from(fargate);
            }
        }
        Ok(c)
    }

    async fn render_cluster(&self, rec: &ClusterRecord, include: &[String]) -> Result<Value, AwsError> {
        let c = self.counts(&rec.cluster_name).await?;
        let mut v = json!({
            "clusterArn": rec.cluster_arn,
            "clusterName": rec.cluster_name,
            "status": rec.status,
            "registeredContainerInstancesCount": c.instances,
            "runningTasksCount": c.running,
            "pendingTasksCount": c.pending,
            "activeServicesCount": c.services,
            "statistics": [],
            "tags": [],
            "settings": [],
            "capacityProviders": rec.capacity_providers,
            "defaultCapacityProviderStrategy": rec.default_capacity_provider_strategy,
        });
        let has = |f: &str| include.iter().any(|i| i == f);
        if has("TAGS") {
            v["tags"] = json!(rec.tags);
        }
        if has("SETTINGS") {
            v["settings"] = json!(rec.settings);
        }
        if has("CONFIGURATIONS")
            && let Some(cfg) = &rec.configuration
        {
            v["configuration"] = cfg.clone();
        }
        if has("STATISTICS") {
            v["statistics"] = json!([
                {"name": "runningEC2TasksCount", "value": (c.running - c.fargate_running).to_string()},
                {"name": "pendingEC2TasksCount", "value": (c.pending - c.fargate_pending).to_string()},
                {"name": "activeEC2ServiceCount", "value": (c.services - c.fargate_services).to_string()},
                {"name": "runningFargateTasksCount", "value": c.fargate_running.to_string()},
                {"name": "pendingFargateTasksCount", "value": c.fargate_pending.to_string()},
                {"name": "activeFargateServiceCount", "value": c.fargate_services.to_string()},
            ]);
        }
        if has("ATTACHMENTS") {
            v["attachments"] = json!([]);
        }
        if let Some(scd) = &rec.service_connect_defaults {
            v["serviceConnectDefaults"] = scd.clone();
        }
        Ok(v)
    }

    /// Loads an ACTIVE cluster or fails with `ClusterNotFoundException`.
    pub(crate) async fn active_cluster(&self, param: Option<&str>) -> Result<ClusterRecord, AwsError> {
        let name = cluster_name(param)?;
        match typed::get::<ClusterRecord>(&*self.store, &keys::cluster(&name))
            .await
            .map_err(AwsError::state_store)?
        {
            Some((rec, _)) if rec.status == ClusterStatus::Active => Ok(rec),
            _ => Err(AwsError::cluster_not_found("Cluster not found.")),
        }
    }

    pub(crate) async fn create_cluster(
        &self,
        ctx: &RequestContext,
        input: CreateClusterInput,
    ) -> Result<Value, AwsError> {
        let name = cluster_name(input.cluster_name.as_deref())?;
        validate_tags(&input.tags)?;
        validate_cluster_settings(&input.settings)?;
        self.check_providers_exist(&input.capacity_providers).await?;
        validate_strategy(&input.default_capacity_provider_strategy, &input.capacity_providers)?;
        berth_ecs_model::task::check_strategy_kinds(&input.default_capacity_provider_strategy)?;
        // A cluster created without a containerInsights setting takes the
        // caller's account setting (its own, else the account default,
        // else `disabled`), as ECS does.
        let mut settings = input.settings;
        if !settings.iter().any(|s| s.name == "containerInsights") {
            let principal = crate::settings::caller_principal(&ctx.principal.arn, &self.scope.account);
            let effective = self.effective_setting(&principal, "containerInsights").await?;
            settings.push(KeyValueSetting {
                name: "containerInsights".into(),
                value: effective.value,
            });
        }
        let rec = ClusterRecord {
            cluster_arn: self.scope.cluster_arn(&name),
            cluster_name: name.clone(),
            status: ClusterStatus::Active.into(),
            tags: input.tags,
            settings,
            configuration: input.configuration,
            capacity_providers: input.capacity_providers,
            default_capacity_provider_strategy: input.default_capacity_provider_strategy,
            service_connect_defaults: input.service_connect_defaults,
        };
        // Creating an ACTIVE cluster again returns it unchanged, as ECS does;
        // an INACTIVE one is brought back with the new configuration.
        let stored = typed::update_with::<ClusterRecord, AwsError, _>(
            AwsError::state_store,
            &*self.store,
            &keys::cluster(&name),
            |cur| match cur {
                Some(existing) if existing.status == ClusterStatus::Active => Ok(Some(existing)),
                _ => Ok(Some(rec.clone())),
            },
        )
        .await?
        .ok_or_else(|| AwsError::server("cluster vanished while being created"))?;
        tracing::info!(cluster = %stored.cluster_arn, "cluster created");
        let all = ["TAGS", "SETTINGS", "CONFIGURATIONS"].map(String::from);
        Ok(json!({ "cluster": self.render_cluster(&stored, &all).await? }))
    }

    pub(crate) async fn describe_clusters(
        &self,
        _ctx: &RequestContext,
        input: DescribeClustersInput,
    ) -> Result<Value, AwsError> {
        for i in &input.include {
            if !matches!(
                i.as_str(),
                "ATTACHMENTS" | "CONFIGURATIONS" | "SETTINGS" | "STATISTICS" | "TAGS"
            ) {
                return Err(AwsError::invalid_parameter(format!("Invalid include value: {i}")));
            }
        }
        if input.clusters.len() > 100 {
            return Err(AwsError::invalid_parameter(
                "At most 100 clusters can be described at once.",
            ));
        }
        let wanted = if input.clusters.is_empty() {
            vec!["default".to_string()]
        } else {
            input.clusters
        };
        let mut clusters = vec![];
        let mut failures = vec![];
        for c in &wanted {
            let name = match cluster_name(Some(c)) {
                Ok(n) => n,
                Err(_) => {
                    failures.push(json!({"arn": c, "reason": "MISSING"}));
                    continue;
                }
            };
            match typed::get::<ClusterRecord>(&*self.store, &keys::cluster(&name))
                .await
                .map_err(AwsError::state_store)?
            {
                Some((rec, _)) => clusters.push(self.render_cluster(&rec, &input.include).await?),
                None => failures.push(json!({"arn": self.scope.cluster_arn(&name), "reason": "MISSING"})),
            }
        }
        Ok(json!({ "clusters": clusters, "failures": failures }))
    }

    pub(crate) async fn list_clusters(
        &self,
        _ctx: &RequestContext,
        input: ListClustersInput,
    ) -> Result<Value, AwsError> {
        // Only the ARN and status of each record are read.
        let all: Vec<ListedCluster> = typed::list(&*self.store, keys::CLUSTERS)
            .await
            .map_err(AwsError::state_store)?;
        let arns: Vec<(String, String)> = all
            .into_iter()
            .filter(|c| c.status == ClusterStatus::Active)
            .map(|c| (c.cluster_arn.clone(), c.cluster_arn))
            .collect();
        arn_page("clusterArns", arns, input.next_token.as_deref(), input.max_results)
    }

    async fn modify_cluster(
        &self,
        cluster: &str,
        f: impl Fn(&mut ClusterRecord) -> Result<(), AwsError>,
    ) -> Result<ClusterRecord, AwsError> {
        let name = cluster_name(Some(cluster))?;
        typed::update_with::<ClusterRecord, AwsError, _>(
            AwsError::state_store,
            &*self.store,
            &keys::cluster(&name),
            |cur| match cur {
                Some(mut rec) if rec.status == ClusterStatus::Active => {
                    f(&mut rec)?;
                    Ok(Some(rec))
                }
                _ => Err(AwsError::cluster_not_found("Cluster not found.")),
            },
        )
        .await?
        .ok_or_else(|| AwsError::cluster_not_found("Cluster not found."))
    }

    pub(crate) async fn update_cluster(
        &self,
        _ctx: &RequestContext,
        input: UpdateClusterInput,
    ) -> Result<Value, AwsError> {
        if let Some(s) = &input.settings {
            validate_cluster_settings(s)?;
        }
        let rec = self
            .modify_cluster(&input.cluster, |rec| {
                if let Some(s) = &input.settings {
                    merge_settings(&mut rec.settings, s);
                }
                if let Some(c) = &input.configuration {
                    rec.configuration = Some(c.clone());
                }
                if let Some(s) = &input.service_connect_defaults {
                    rec.service_connect_defaults = Some(s.clone());
                }
                Ok(())
            })
            .await?;
        let all = ["TAGS", "SETTINGS", "CONFIGURATIONS"].map(String::from);
        Ok(json!({ "cluster": self.render_cluster(&rec, &all).await? }))
    }

    pub(crate) async fn update_cluster_settings(
        &self,
        _ctx: &RequestContext,
        input: UpdateClusterSettingsInput,
    ) -> Result<Value, AwsError> {
        validate_cluster_settings(&input.settings)?;
        let rec = self
            .modify_cluster(&input.cluster, |rec| {
                merge_settings(&mut rec.settings, &input.settings);
                Ok(())
            })
            .await?;
        let all = ["SETTINGS"].map(String::from);
        Ok(json!({ "cluster": self.render_cluster(&rec, &all).await? }))
    }

    pub(crate) async fn put_cluster_capacity_providers(
        &self,
        _ctx: &RequestContext,
        input: PutCapacityProvidersInput,
    ) -> Result<Value, AwsError> {
        self.check_providers_exist(&input.capacity_providers).await?;
        validate_strategy(&input.default_capacity_provider_strategy, &input.capacity_providers)?;
        berth_ecs_model::task::check_strategy_kinds(&input.default_capacity_provider_strategy)?;
        self.check_providers_unused(&input.cluster, &input.capacity_providers)
            .await?;
        let rec = self
            .modify_cluster(&input.cluster, |rec| {
                rec.capacity_providers = input.capacity_providers.clone();
                rec.default_capacity_provider_strategy = input.default_capacity_provider_strategy.clone();
                Ok(())
            })
            .await?;
        let all = ["TAGS", "SETTINGS", "CONFIGURATIONS"].map(String::from);
        Ok(json!({ "cluster": self.render_cluster(&rec, &all).await? }))
    }

    pub(crate) async fn delete_cluster(&self, _ctx: &RequestContext, input: ClusterOnly) -> Result<Value, AwsError> {
        let rec = self.active_cluster(input.cluster.as_deref()).await?;
        let c = self.counts(&rec.cluster_name).await?;
        if c.services > 0 {
            return Err(AwsError::new(
                "ClusterContainsServicesException",
                400,
                "The Cluster cannot be deleted while Services are active.",
            ));
        }
        if c.running + c.pending > 0 {
            return Err(AwsError::new(
                "ClusterContainsTasksException",
                400,
                "The Cluster cannot be deleted while Tasks are active.",
            ));
        }
        if c.instances > 0 {
            return Err(AwsError::new(
                "ClusterContainsContainerInstancesException",
                400,
                "The Cluster cannot be deleted while Container Instances are active or draining.",
            ));
        }
        let rec = self
            .modify_cluster(&rec.cluster_name, |r| {
                r.status = ClusterStatus::Inactive.into();
                Ok(())
            })
            .await?;
        tracing::info!(cluster = %rec.cluster_arn, "cluster deleted");
        Ok(json!({ "cluster": self.render_cluster(&rec, &[]).await? }))
    }
}

fn merge_settings(existing: &mut Vec<KeyValueSetting>, new: &[KeyValueSetting]) {
    for s in new {
        match existing.iter_mut().find(|e| e.name == s.name) {
            Some(e) => e.value = s.value.clone(),
            None => existing.push(s.clone()),
        }
    }
}

/// CreateCluster: on the cluster it creates, with the capacity providers it names.
pub(crate) struct CreateCluster;

#[async_trait]
impl Operation<Ecs> for CreateCluster {
    const NAME: &'static str = "CreateCluster";
    type Input = CreateClusterInput;

    fn resources(scope: &Scope, input: &CreateClusterInput) -> Vec<AuthzResource> {
        let mut r = authz::cluster_resource(scope, input.cluster_name.as_deref());
        r.condition_keys.extend(authz::provider_keys(
            scope,
            input.capacity_providers.iter().map(String::as_str),
        ));
        vec![r]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: CreateClusterInput) -> Result<Value, AwsError> {
        ecs.create_cluster(ctx, input).await
    }
}

/// DescribeClusters: on each cluster named (`default` when none is).
pub(crate) struct DescribeClusters;

#[async_trait]
impl Operation<Ecs> for DescribeClusters {
    const NAME: &'static str = "DescribeClusters";
    type Input = DescribeClustersInput;

    fn resources(scope: &Scope, input: &DescribeClustersInput) -> Vec<AuthzResource> {
        if input.clusters.is_empty() {
            return vec![authz::cluster_resource(scope, None)];
        }
        input
            .clusters
            .iter()
            .map(|c| authz::cluster_resource(scope, Some(c)))
            .collect()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DescribeClustersInput) -> Result<Value, AwsError> {
        ecs.describe_clusters(ctx, input).await
    }
}

/// ListClusters: not resource-scoped.
pub(crate) struct ListClusters;

#[async_trait]
impl Operation<Ecs> for ListClusters {
    const NAME: &'static str = "ListClusters";
    type Input = ListClustersInput;

    fn resources(_scope: &Scope, _input: &ListClustersInput) -> Vec<AuthzResource> {
        authz::star()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListClustersInput) -> Result<Value, AwsError> {
        ecs.list_clusters(ctx, input).await
    }
}

/// UpdateCluster: on its cluster.
pub(crate) struct UpdateCluster;

#[async_trait]
impl Operation<Ecs> for UpdateCluster {
    const NAME: &'static str = "UpdateCluster";
    type Input = UpdateClusterInput;

    fn resources(scope: &Scope, input: &UpdateClusterInput) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, Some(&input.cluster))]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: UpdateClusterInput) -> Result<Value, AwsError> {
        ecs.update_cluster(ctx, input).await
    }
}

/// UpdateClusterSettings: on its cluster.
pub(crate) struct UpdateClusterSettings;

#[async_trait]
impl Operation<Ecs> for UpdateClusterSettings {
    const NAME: &'static str = "UpdateClusterSettings";
    type Input = UpdateClusterSettingsInput;

    fn resources(scope: &Scope, input: &UpdateClusterSettingsInput) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, Some(&input.cluster))]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: UpdateClusterSettingsInput) -> Result<Value, AwsError> {
        ecs.update_cluster_settings(ctx, input).await
    }
}

/// DeleteCluster: on its cluster.
pub(crate) struct DeleteCluster;

#[async_trait]
impl Operation<Ecs> for DeleteCluster {
    const NAME: &'static str = "DeleteCluster";
    type Input = ClusterOnly;

    fn resources(scope: &Scope, input: &ClusterOnly) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ClusterOnly) -> Result<Value, AwsError> {
        ecs.delete_cluster(ctx, input).await
    }
}

/// PutClusterCapacityProviders: on its cluster, with the capacity providers it names.
pub(crate) struct PutClusterCapacityProviders;

#[async_trait]
impl Operation<Ecs> for PutClusterCapacityProviders {
    const NAME: &'static str = "PutClusterCapacityProviders";
    type Input = PutCapacityProvidersInput;

    fn resources(scope: &Scope, input: &PutCapacityProvidersInput) -> Vec<AuthzResource> {
        let mut r = authz::cluster_resource(scope, Some(&input.cluster));
        r.condition_keys.extend(authz::provider_keys(
            scope,
            input.capacity_providers.iter().map(String::as_str),
        ));
        vec![r]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: PutCapacityProvidersInput) -> Result<Value, AwsError> {
        ecs.put_cluster_capacity_providers(ctx, input).await
    }
}
