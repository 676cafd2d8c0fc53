//! UpdateService: read-modify-write of an ACTIVE service, recording a new
//! deployment when the task definition or its configuration changes.

use super::create::{service_keys, service_task_definition_of};
use crate::authz;
use crate::operation::Operation;
use crate::tasks::{TaskDefinitionLookup, check_compatibility};
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::CapacityProviderStrategyItem;
use berth_ecs_model::service::{DeploymentConfigIn, ServiceFacts, merge_deployment_config};
use berth_ecs_model::service::{DeploymentInternal, DeploymentRecord, ServiceRecord, deployment_id};
use berth_ecs_model::service::{
    check_network, reject_unsupported, validate_grace, validate_placement, validate_propagate,
};
use berth_ecs_model::{DeploymentStatus, RolloutState, ServiceStatus};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::{Compare, Op, typed};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateServiceInput {
    cluster: Option<String>,
    service: String,
    desired_count: Option<i64>,
    task_definition: Option<String>,
    capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    deployment_configuration: Option<DeploymentConfigIn>,
    network_configuration: Option<Value>,
    placement_constraints: Option<Vec<Value>>,
    placement_strategy: Option<Vec<Value>>,
    platform_version: Option<String>,
    force_new_deployment: Option<bool>,
    health_check_grace_period_seconds: Option<i64>,
    enable_execute_command: Option<bool>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    propagate_tags: Option<String>,
    load_balancers: Option<Vec<berth_ecs_model::service::LoadBalancerIn>>,
    /// `taskDefinition`, looked up once ([`UpdateService::load`]).
    #[serde(skip)]
    definition: Option<TaskDefinitionLookup>,
    /// Why the request cannot apply to a service using the EXTERNAL
    /// deployment controller, if it cannot.
    #[serde(skip)]
    external_ok: Option<AwsError>,
}

/// UpdateService, authorized on the service's ARN with the keys
/// CreateService sets (no role: a service's role is set at creation).
pub(crate) struct UpdateService;

#[async_trait]
impl Operation<Ecs> for UpdateService {
    const NAME: &'static str = "UpdateService";
    type Input = UpdateServiceInput;

    fn decode(input: Value) -> Result<UpdateServiceInput, AwsError> {
        if input["deploymentController"]["type"]
            .as_str()
            .is_some_and(|t| t != "ECS")
        {
            return Err(AwsError::invalid_parameter(
                "Berth cannot change a service's deployment controller: create a new service with it.",
            ));
        }
        reject_unsupported(&input)?;
        let external_ok = berth_ecs_model::service::check_external_update(&input);
        let mut decoded: UpdateServiceInput = berth_proto::json::decode(input)?;
        decoded.external_ok = external_ok.err();
        Ok(decoded)
    }

    async fn load(ecs: &Ecs, input: &mut UpdateServiceInput) {
        if let Some(r) = &input.task_definition {
            input.definition = Some(ecs.lookup_task_definition(r).await);
        }
    }

    fn resources(scope: &Scope, input: &UpdateServiceInput) -> Vec<AuthzResource> {
        let arn = authz::arn_in_cluster(
            scope,
            input.cluster.as_deref(),
            Some(&input.service),
            Scope::service_arn,
        );
        let keys = service_keys(
            scope,
            input.task_definition.as_deref(),
            input.definition.as_ref(),
            input.enable_execute_command,
            input.capacity_provider_strategy.as_deref().unwrap_or_default(),
        );
        let mut out = vec![authz::resource(scope, arn, keys)];
        out.extend(super::load_balancers::advanced_roles(
            scope,
            input.load_balancers.as_deref().unwrap_or_default(),
        ));
        out
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: UpdateServiceInput) -> Result<Value, AwsError> {
        ecs.update_service(ctx, input).await
    }
}

impl Ecs {
    /// Read-modify-write of an ACTIVE service.
    pub(crate) async fn modify_active_service<F>(
        &self,
        cluster: &str,
        reference: &str,
        mut f: F,
    ) -> Result<ServiceRecord, AwsError>
    where
        F: FnMut(&mut ServiceRecord) -> Result<(), AwsError>,
    {
        loop {
            let (mut rec, rev) = self
                .get_service(cluster, reference)
                .await?
                .ok_or_else(|| AwsError::service_not_found("Service not found."))?;
            if rec.status != ServiceStatus::Active {
                return Err(AwsError::service_not_active("Service was not ACTIVE."));
            }
            f(&mut rec)?;
            let key = keys::service(cluster, &rec.service_name);
            if self
                .store
                .txn(
                    vec![Compare::ModRevision(key.clone(), rev)],
                    vec![Op::Put(key, typed::encode(&rec).map_err(AwsError::state_store)?)],
                )
                .await
                .map_err(AwsError::state_store)?
                .succeeded
            {
                return Ok(rec);
            }
        }
    }

    pub(crate) async fn update_service(
        &self,
        _ctx: &RequestContext,
        mut input: UpdateServiceInput,
    ) -> Result<Value, AwsError> {
        berth_ecs_model::check_execute_command(input.enable_execute_command)?;
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let cname = cluster.cluster_name.clone();
        let (current, _) = self
            .get_service(&cname, &input.service)
            .await?
            .ok_or_else(|| AwsError::service_not_found("Service not found."))?;
        if current.status != ServiceStatus::Active {
            return Err(AwsError::service_not_active("Service was not ACTIVE."));
        }
        if current.is_external() {
            return self.update_external_service(&cname, &current, input).await;
        }
        let daemon = current.is_daemon();
        if daemon && input.desired_count.is_some() {
            return Err(AwsError::invalid_parameter(
                "The desiredCount parameter is not valid for services using the DAEMON scheduling strategy.",
            ));
        }
        if input.desired_count.is_some_and(|d| d < 0) {
            return Err(AwsError::invalid_parameter("desiredCount must be at least 0."));
        }
        if daemon && input.placement_strategy.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(AwsError::invalid_parameter(
                "Placement strategies are not supported for services using the DAEMON scheduling strategy.",
            ));
        }
        let td = match &input.task_definition {
            Some(r) => {
                let lookup = match input.definition.take() {
                    Some(l) => l,
                    None => self.lookup_task_definition(r).await,
                };
                Some(service_task_definition_of(lookup, r)?)
            }
            None => None,
        };
        let launch_type = current
            .primary()
            .and_then(|d| d.launch_type.clone())
            .unwrap_or_else(|| {
                if current.capacity_provider_strategy.is_empty()
                    || berth_ecs_model::task::is_custom_strategy(&current.capacity_provider_strategy)
                {
                    "EC2".into()
                } else {
                    "FARGATE".into()
                }
            });
        if let Some(td) = &td {
            check_compatibility(&td.value, &launch_type)?;
        }
        let td_value = match &td {
            Some(t) => t.value.clone(),
            None => self.service_task_definition(&current.task_definition).await?.value,
        };
        let network = input
            .network_configuration
            .clone()
            .or_else(|| current.network_configuration.clone());
        check_network(&td_value, network.as_ref())?;
        berth_ecs_model::check_public_ip(network.as_ref(), &launch_type)?;
        let network = self.resolve_security_groups(network).await?;
        // The load balancers given, or the service's against a new revision.
        let load_balancers = match (&input.load_balancers, &td) {
            (Some(given), _) => Some(given.clone()),
            (None, Some(_)) => Some(super::load_balancers::as_given(&current.load_balancers)),
            (None, None) => None,
        };
        let load_balancers = match load_balancers {
            Some(given) => Some(
                self.service_load_balancers(
                    &given,
                    &td_value,
                    &current.service_arn,
                    ServiceFacts {
                        cluster_arn: &current.cluster_arn,
                        scheduling_strategy: &current.scheduling_strategy,
                    },
                )
                .await?,
            ),
            None => None,
        };
        let lbs_changed = load_balancers.as_ref().is_some_and(|l| l != &current.load_balancers);
        if let Some(strategy) = &input.capacity_provider_strategy
            && !strategy.is_empty()
        {
            berth_ecs_model::validate_strategy(strategy, &cluster.capacity_providers)?;
            berth_ecs_model::task::check_strategy_kinds(strategy)?;
        }
        let config = merge_deployment_config(
            &current.deployment_configuration,
            &input.deployment_configuration.clone().unwrap_or_default(),
            daemon,
        )?;
        berth_ecs_model::service::check_shift_load_balancers(
            &config,
            load_balancers.as_deref().unwrap_or(&current.load_balancers),
            daemon,
        )?;
        let constraints = input
            .placement_constraints
            .clone()
            .unwrap_or_else(|| current.placement_constraints.clone());
        let strategies = input
            .placement_strategy
            .clone()
            .unwrap_or_else(|| current.placement_strategy.clone());
        validate_placement(&constraints, &strategies)?;
        validate_grace(input.health_check_grace_period_seconds)?;
        if let Some(p) = &input.propagate_tags {
            validate_propagate(p)?;
        }
        let new_deployment = input.force_new_deployment.unwrap_or(false)
            || lbs_changed
            || td.as_ref().is_some_and(|t| t.arn != current.task_definition)
            || input
                .network_configuration
                .as_ref()
                .is_some_and(|n| Some(n) != current.network_configuration.as_ref())
            || input
                .platform_version
                .as_ref()
                .is_some_and(|p| Some(p) != current.platform_version.as_ref())
            || input
                .capacity_provider_strategy
                .as_ref()
                .is_some_and(|c| c != &current.capacity_provider_strategy);

        let rec = self
            .modify_active_service(&cname, &input.service, |s| {
                let now = now_epoch();
                if let Some(d) = input.desired_count {
                    s.desired_count = d;
                    if let Some(p) = s.primary_mut() {
                        p.desired_count = d;
                        p.updated_at = now;
                    }
                    s.berth.steady = false;
                }
                s.deployment_configuration = config.clone();
                s.placement_constraints = constraints.clone();
                s.placement_strategy = strategies.clone();
                if let Some(g) = input.health_check_grace_period_seconds {
                    s.health_check_grace_period_seconds = Some(g);
                }
                if let Some(e) = input.enable_execute_command {
                    s.enable_execute_command = e;
                }
                if let Some(e) = input.enable_ecs_managed_tags {
                    s.enable_ecs_managed_tags = e;
                }
                if let Some(p) = &input.propagate_tags {
                    s.propagate_tags = p.clone();
                }
                if let Some(c) = &input.capacity_provider_strategy {
                    s.capacity_provider_strategy = c.clone();
                }
                if let Some(p) = &input.platform_version {
                    s.platform_version = Some(p.clone());
                }
                s.network_configuration = network.clone();
                if let Some(l) = &load_balancers {
                    // The groups given up: the controller deregisters the tasks from them.
                    for old in std::mem::replace(&mut s.load_balancers, l.clone()) {
                        if !l.contains(&old) && !s.berth.retired_load_balancers.contains(&old) {
                            s.berth.retired_load_balancers.push(old);
                        }
                    }
                    s.berth.retired_load_balancers.retain(|r| !l.contains(r));
                }
                if let Some(t) = &td {
                    s.task_definition = t.arn.clone();
                }
                if new_deployment {
                    let id = deployment_id();
                    let base = s.primary().cloned();
                    let d = DeploymentRecord {
                        id: id.clone(),
                        status: DeploymentStatus::Primary.into(),
                        task_definition: s.task_definition.clone(),
                        desired_count: s.desired_count,
                        pending_count: 0,
                        running_count: 0,
                        failed_tasks: 0,
                        created_at: now,
                        updated_at: now,
                        capacity_provider_strategy: s.capacity_provider_strategy.clone(),
                        launch_type: base.as_ref().and_then(|b| b.launch_type.clone()),
                        platform_version: s.platform_version.clone(),
                        platform_family: s.platform_family.clone(),
                        network_configuration: s.network_configuration.clone(),
                        rollout_state: RolloutState::InProgress.into(),
                        rollout_state_reason: format!("ECS deployment {id} in progress."),
                        berth: DeploymentInternal::default(),
                    };
                    s.push_deployment(d, now);
                }
                Ok(())
            })
            .await?;
        Ok(json!({"service": self.render_service(&rec, false)}))
    }

    /// UpdateService of a service using the EXTERNAL deployment controller:
    /// only what ECS lets such a service change; the task sets' computed
    /// counts follow a new desired count (the controller converges).
    async fn update_external_service(
        &self,
        cluster: &str,
        current: &ServiceRecord,
        mut input: UpdateServiceInput,
    ) -> Result<Value, AwsError> {
        if let Some(e) = input.external_ok.take() {
            return Err(e);
        }
        if input.desired_count.is_some_and(|d| d < 0) {
            return Err(AwsError::invalid_parameter("desiredCount must be at least 0."));
        }
        validate_grace(input.health_check_grace_period_seconds)?;
        if let Some(p) = &input.propagate_tags {
            validate_propagate(p)?;
        }
        let constraints = input
            .placement_constraints
            .clone()
            .unwrap_or_else(|| current.placement_constraints.clone());
        let strategies = input
            .placement_strategy
            .clone()
            .unwrap_or_else(|| current.placement_strategy.clone());
        validate_placement(&constraints, &strategies)?;
        let rec = self
            .modify_active_service(cluster, &input.service, |s| {
                let now = now_epoch();
                if let Some(d) = input.desired_count {
                    s.desired_count = d;
                    for t in &mut s.task_sets {
                        t.computed_desired_count = t.wanted(d);
                        t.updated_at = now;
                    }
                    s.berth.steady = false;
                }
                s.placement_constraints = constraints.clone();
                s.placement_strategy = strategies.clone();
                if let Some(g) = input.health_check_grace_period_seconds {
                    s.health_check_grace_period_seconds = Some(g);
                }
                if let Some(e) = input.enable_ecs_managed_tags {
                    s.enable_ecs_managed_tags = e;
                }
                if let Some(p) = &input.propagate_tags {
                    s.propagate_tags = p.clone();
                }
                Ok(())
            })
            .await?;
        Ok(json!({"service": self.render_service(&rec, false)}))
    }
}
