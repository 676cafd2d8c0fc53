//! CreateService: validate the request and record the service with its
//! first deployment (the service controller starts the tasks).

use crate::authz;
use crate::operation::Operation;
use crate::references::cluster_name;
use crate::tasks::{TaskDefinitionLookup, check_compatibility, launch_of};
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::service::{
    DeploymentConfigIn, DeploymentControllerType, ServiceFacts, default_deployment_config, merge_deployment_config,
};
use berth_ecs_model::service::{DeploymentInternal, DeploymentRecord, ServiceInternal, ServiceRecord, deployment_id};
use berth_ecs_model::service::{
    check_network, reject_unsupported, validate_grace, validate_placement, validate_propagate, validate_service_name,
};
use berth_ecs_model::{CapacityProviderStrategyItem, Tag, validate_tags};
use berth_ecs_model::{DeploymentStatus, RolloutState, ServiceStatus};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::{Compare, Op, typed};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateServiceInput {
    cluster: Option<String>,
    service_name: String,
    task_definition: Option<String>,
    desired_count: Option<i64>,
    client_token: Option<String>,
    launch_type: Option<String>,
    #[serde(default)]
    capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    platform_version: Option<String>,
    role: Option<String>,
    deployment_configuration: Option<DeploymentConfigIn>,
    #[serde(default)]
    placement_constraints: Vec<Value>,
    #[serde(default)]
    placement_strategy: Vec<Value>,
    network_configuration: Option<Value>,
    health_check_grace_period_seconds: Option<i64>,
    scheduling_strategy: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    propagate_tags: Option<String>,
    enable_execute_command: Option<bool>,
    #[serde(default)]
    load_balancers: Vec<berth_ecs_model::service::LoadBalancerIn>,
    deployment_controller: Option<Value>,
    /// The request without its `clientToken`, canonical.
    #[serde(skip)]
    fingerprint: String,
    /// `taskDefinition`, looked up once ([`CreateService::load`]).
    #[serde(skip)]
    definition: Option<TaskDefinitionLookup>,
}

/// CreateService, authorized on the service's ARN with `ecs:cluster`,
/// `ecs:task-definition` (the revision it resolves to),
/// `ecs:enable-execute-command` and `ecs:capacity-provider`, and
/// `iam:PassRole` on its `role` and its load balancers'
/// `advancedConfiguration.roleArn` (to `ecs.amazonaws.com`).
pub(crate) struct CreateService;

#[async_trait]
impl Operation<Ecs> for CreateService {
    const NAME: &'static str = "CreateService";
    type Input = CreateServiceInput;

    fn decode(mut input: Value) -> Result<CreateServiceInput, AwsError> {
        reject_unsupported(&input)?;
        let token = input.as_object_mut().and_then(|o| o.remove("clientToken"));
        let fingerprint = crate::tasks::canonical_json(&input);
        if let (Some(t), Some(o)) = (token, input.as_object_mut()) {
            o.insert("clientToken".to_string(), t);
        }
        let mut input: CreateServiceInput = berth_proto::json::decode(input)?;
        input.fingerprint = fingerprint;
        Ok(input)
    }

    async fn load(ecs: &Ecs, input: &mut CreateServiceInput) {
        if let Some(r) = &input.task_definition {
            input.definition = Some(ecs.lookup_task_definition(r).await);
        }
    }

    fn resources(scope: &Scope, input: &CreateServiceInput) -> Vec<AuthzResource> {
        let arn = match cluster_name(input.cluster.as_deref()) {
            Ok(c) => scope.service_arn(&c, &input.service_name),
            Err(_) => "*".to_string(),
        };
        let mut out = vec![authz::resource(
            scope,
            arn,
            service_keys(
                scope,
                input.task_definition.as_deref(),
                input.definition.as_ref(),
                input.enable_execute_command,
                &input.capacity_provider_strategy,
            ),
        )];
        if let Some(role) = input.role.as_deref().and_then(|r| authz::role_arn(scope, r)) {
            out.push(
                authz::PassedRole {
                    role_arn: role,
                    service: authz::ECS_SERVICE,
                }
                .authz_resource(),
            );
        }
        out.extend(super::load_balancers::advanced_roles(scope, &input.load_balancers));
        out
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: CreateServiceInput) -> Result<Value, AwsError> {
        ecs.create_service(ctx, input).await
    }
}

/// The condition keys a CreateService/UpdateService sets besides
/// `ecs:cluster`: `ecs:task-definition` (the revision it resolves to),
/// `ecs:enable-execute-command`, `ecs:capacity-provider` (pure).
pub(crate) fn service_keys(
    scope: &Scope,
    reference: Option<&str>,
    definition: Option<&TaskDefinitionLookup>,
    exec: Option<bool>,
    strategy: &[CapacityProviderStrategyItem],
) -> Vec<(String, String)> {
    // The revision looked up; before the lookup, the one named.
    let arn = match (definition, reference) {
        (Some(d), _) if !d.arn.is_empty() => Some(d.arn.clone()),
        (_, Some(r)) => Some(crate::tasks::named_arn(scope, r)),
        _ => None,
    };
    let mut keys: Vec<(String, String)> = arn
        .map(|a| ("ecs:task-definition".to_string(), a))
        .into_iter()
        .collect();
    keys.extend(authz::exec_key(exec));
    keys.extend(authz::provider_keys(
        scope,
        strategy.iter().map(|i| i.capacity_provider.as_str()),
    ));
    keys
}

/// The ACTIVE revision a service is to run, worded as ECS words the error.
pub(crate) fn service_task_definition_of(
    lookup: TaskDefinitionLookup,
    reference: &str,
) -> Result<crate::tasks::ResolvedTaskDefinition, AwsError> {
    lookup
        .into_active()
        .map_err(|e| AwsError::client(format!("Unable to use task definition {reference}: {}", e.message)))
}

impl Ecs {
    pub(super) async fn service_task_definition(
        &self,
        reference: &str,
    ) -> Result<crate::tasks::ResolvedTaskDefinition, AwsError> {
        self.resolve_task_definition(reference)
            .await
            .map_err(|e| AwsError::client(format!("Unable to use task definition {reference}: {}", e.message)))
    }

    pub(crate) async fn create_service(
        &self,
        ctx: &RequestContext,
        mut input: CreateServiceInput,
    ) -> Result<Value, AwsError> {
        let fingerprint = std::mem::take(&mut input.fingerprint);
        validate_service_name(&input.service_name)?;
        berth_ecs_model::check_execute_command(input.enable_execute_command)?;
        if let Some(t) = &input.client_token
            && (t.is_empty() || t.len() > 36)
        {
            return Err(AwsError::invalid_parameter("clientToken must be 1-36 characters."));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let cname = cluster.cluster_name.clone();
        let key = keys::service(&cname, &input.service_name);

        // Idempotency: the same request (or clientToken) again answers the
        // service it created.
        let existing = typed::get::<ServiceRecord>(&*self.store, &key)
            .await
            .map_err(AwsError::state_store)?;
        if let Some((s, _)) = &existing
            && s.status != ServiceStatus::Inactive
        {
            let same_token = input.client_token.is_some() && s.berth.client_token == input.client_token;
            if s.berth.fingerprint == fingerprint && (same_token || input.client_token.is_none()) {
                return Ok(json!({"service": self.render_service(s, false)}));
            }
            return Err(AwsError::invalid_parameter("Creation of service was not idempotent."));
        }

        let strategy = input.scheduling_strategy.clone().unwrap_or_else(|| "REPLICA".into());
        let daemon = match strategy.as_str() {
            "REPLICA" => false,
            "DAEMON" => true,
            other => {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid schedulingStrategy '{other}'. Valid values: REPLICA, DAEMON."
                )));
            }
        };
        if daemon && input.desired_count.is_some() {
            return Err(AwsError::invalid_parameter(
                "The desiredCount parameter is not valid for services using the DAEMON scheduling strategy.",
            ));
        }
        if daemon && !input.placement_strategy.is_empty() {
            return Err(AwsError::invalid_parameter(
                "Placement strategies are not supported for services using the DAEMON scheduling strategy.",
            ));
        }
        let desired = input.desired_count.unwrap_or(0);
        if desired < 0 {
            return Err(AwsError::invalid_parameter("desiredCount must be at least 0."));
        }
        if input.role.is_some() && input.load_balancers.is_empty() {
            return Err(AwsError::invalid_parameter(
                "A role can only be specified for services with load balancers (loadBalancers).",
            ));
        }
        let controller = DeploymentControllerType::parse(input.deployment_controller.as_ref().unwrap_or(&Value::Null))?;
        let rec = if controller == DeploymentControllerType::External {
            self.external_service_record(ctx, &input, &cluster, desired, fingerprint)?
        } else {
            self.ecs_service_record(ctx, &mut input, &cluster, strategy, daemon, desired, fingerprint)
                .await?
        };
        let compare = match &existing {
            Some((_, rev)) => Compare::ModRevision(key.clone(), *rev),
            None => Compare::Absent(key.clone()),
        };
        if !self
            .store
            .txn(
                vec![compare],
                vec![Op::Put(
                    key.clone(),
                    typed::encode(&rec).map_err(AwsError::state_store)?,
                )],
            )
            .await
            .map_err(AwsError::state_store)?
            .succeeded
        {
            // Created meanwhile by another request: answer as if it came
            // first.
            if let Some((s, _)) = typed::get::<ServiceRecord>(&*self.store, &key)
                .await
                .map_err(AwsError::state_store)?
                && s.berth.fingerprint == rec.berth.fingerprint
            {
                return Ok(json!({"service": self.render_service(&s, false)}));
            }
            return Err(AwsError::invalid_parameter("Creation of service was not idempotent."));
        }
        tracing::info!(service = %rec.service_arn, "service created");
        Ok(json!({"service": self.render_service(&rec, false)}))
    }

    /// The record of a new service using the ECS deployment controller,
    /// with its first deployment.
    #[allow(clippy::too_many_arguments)]
    async fn ecs_service_record(
        &self,
        ctx: &RequestContext,
        input: &mut CreateServiceInput,
        cluster: &berth_ecs_model::cluster::ClusterRecord,
        strategy: String,
        daemon: bool,
        desired: i64,
        fingerprint: String,
    ) -> Result<ServiceRecord, AwsError> {
        let cname = cluster.cluster_name.clone();
        let td_ref = input.task_definition.as_deref().ok_or_else(|| {
            AwsError::invalid_parameter("taskDefinition is required for the ECS deployment controller.")
        })?;
        let lookup = match input.definition.take() {
            Some(l) => l,
            None => self.lookup_task_definition(td_ref).await,
        };
        let td = service_task_definition_of(lookup, td_ref)?;
        let (launch_type, split) = launch_of(
            cluster,
            input.launch_type.as_deref(),
            &input.capacity_provider_strategy,
            1,
        )?;
        if daemon && launch_type == "FARGATE" {
            return Err(AwsError::invalid_parameter(
                "The DAEMON scheduling strategy is not supported with FARGATE.",
            ));
        }
        check_compatibility(&td.value, &launch_type)?;
        check_network(&td.value, input.network_configuration.as_ref())?;
        berth_ecs_model::check_public_ip(input.network_configuration.as_ref(), &launch_type)?;
        input.network_configuration = self.resolve_security_groups(input.network_configuration.take()).await?;
        let service_arn = self.scope.service_arn(&cname, &input.service_name);
        let load_balancers = self
            .service_load_balancers(
                &input.load_balancers,
                &td.value,
                &service_arn,
                ServiceFacts {
                    cluster_arn: &cluster.cluster_arn,
                    scheduling_strategy: &strategy,
                },
            )
            .await?;
        if input.role.is_some() && td.value["networkMode"].as_str() == Some("awsvpc") {
            return Err(AwsError::invalid_parameter(
                "You cannot specify an IAM role for services that require a service linked role (the awsvpc network mode).",
            ));
        }
        berth_ecs_model::task::check_fargate_launch(
            &launch_type,
            input.platform_version.as_deref(),
            !input.placement_strategy.is_empty(),
            !input.placement_constraints.is_empty(),
        )?;
        let config = merge_deployment_config(
            &default_deployment_config(daemon),
            &input.deployment_configuration.clone().unwrap_or_default(),
            daemon,
        )?;
        berth_ecs_model::service::check_shift_load_balancers(&config, &load_balancers, daemon)?;
        if input.placement_constraints.len() > berth_scheduler::MAX_CONSTRAINTS {
            return Err(AwsError::invalid_parameter(format!(
                "At most {} placement constraints are allowed.",
                berth_scheduler::MAX_CONSTRAINTS
            )));
        }
        validate_placement(&input.placement_constraints, &input.placement_strategy)?;
        validate_grace(input.health_check_grace_period_seconds)?;
        validate_tags(&input.tags)?;
        let propagate = input.propagate_tags.clone().unwrap_or_else(|| "NONE".into());
        validate_propagate(&propagate)?;

        let now = now_epoch();
        // A strategy (given, or the cluster's default) resolved the launch:
        // FARGATE for the Fargate providers, EC2 for a custom one.
        let uses_providers = !split.is_empty();
        let providers = if !input.capacity_provider_strategy.is_empty() {
            input.capacity_provider_strategy.clone()
        } else if uses_providers {
            cluster.default_capacity_provider_strategy.clone()
        } else {
            vec![]
        };
        let shown_launch = (!uses_providers).then(|| launch_type.clone());
        let platform_version =
            (launch_type == "FARGATE").then(|| input.platform_version.clone().unwrap_or_else(|| "LATEST".into()));
        let platform_family = (launch_type == "FARGATE").then(|| "Linux".to_string());
        let id = deployment_id();
        let deployment = DeploymentRecord {
            id: id.clone(),
            status: DeploymentStatus::Primary.into(),
            task_definition: td.arn.clone(),
            desired_count: desired,
            pending_count: 0,
            running_count: 0,
            failed_tasks: 0,
            created_at: now,
            updated_at: now,
            capacity_provider_strategy: providers.clone(),
            launch_type: shown_launch.clone(),
            platform_version: platform_version.clone(),
            platform_family: platform_family.clone(),
            network_configuration: input.network_configuration.clone(),
            rollout_state: RolloutState::InProgress.into(),
            rollout_state_reason: format!("ECS deployment {id} in progress."),
            berth: DeploymentInternal {
                config: Some(config.clone()),
                ..Default::default()
            },
        };
        Ok(ServiceRecord {
            service_arn,
            service_name: input.service_name.clone(),
            cluster_arn: cluster.cluster_arn.clone(),
            load_balancers,
            role_arn: input.role.as_deref().and_then(|r| authz::role_arn(&self.scope, r)),
            service_registries: vec![],
            status: ServiceStatus::Active.into(),
            desired_count: desired,
            running_count: 0,
            pending_count: 0,
            launch_type: shown_launch,
            capacity_provider_strategy: providers,
            platform_version,
            platform_family,
            task_definition: td.arn.clone(),
            deployment_configuration: config,
            deployments: vec![deployment],
            events: vec![],
            created_at: now,
            placement_constraints: input.placement_constraints.clone(),
            placement_strategy: if daemon || !input.placement_strategy.is_empty() {
                input.placement_strategy.clone()
            } else if launch_type == "FARGATE" {
                vec![]
            } else {
                berth_scheduler::service_default_strategies()
                    .iter()
                    .map(|s| serde_json::to_value(s).unwrap_or_default())
                    .collect()
            },
            network_configuration: input.network_configuration.clone(),
            health_check_grace_period_seconds: input.health_check_grace_period_seconds,
            scheduling_strategy: strategy,
            deployment_controller: json!({"type": "ECS"}),
            tags: input.tags.clone(),
            created_by: ctx.principal.arn.clone(),
            enable_ecs_managed_tags: input.enable_ecs_managed_tags.unwrap_or(false),
            propagate_tags: propagate,
            enable_execute_command: input.enable_execute_command.unwrap_or(false),
            task_sets: vec![],
            berth: ServiceInternal {
                cluster: cname.clone(),
                name: input.service_name.clone(),
                client_token: input.client_token.clone(),
                fingerprint,
                ..Default::default()
            },
        })
    }

    /// The record of a new service using the EXTERNAL deployment
    /// controller: no deployment and no revision of its own; its task sets
    /// (CreateTaskSet) run its tasks.
    fn external_service_record(
        &self,
        ctx: &RequestContext,
        input: &CreateServiceInput,
        cluster: &berth_ecs_model::cluster::ClusterRecord,
        desired: i64,
        fingerprint: String,
    ) -> Result<ServiceRecord, AwsError> {
        let config = merge_deployment_config(
            &default_deployment_config(false),
            &input.deployment_configuration.clone().unwrap_or_default(),
            false,
        )?;
        if input.placement_constraints.len() > berth_scheduler::MAX_CONSTRAINTS {
            return Err(AwsError::invalid_parameter(format!(
                "At most {} placement constraints are allowed.",
                berth_scheduler::MAX_CONSTRAINTS
            )));
        }
        validate_placement(&input.placement_constraints, &input.placement_strategy)?;
        validate_grace(input.health_check_grace_period_seconds)?;
        validate_tags(&input.tags)?;
        let propagate = input.propagate_tags.clone().unwrap_or_else(|| "NONE".into());
        validate_propagate(&propagate)?;
        Ok(ServiceRecord {
            service_arn: self.scope.service_arn(&cluster.cluster_name, &input.service_name),
            service_name: input.service_name.clone(),
            cluster_arn: cluster.cluster_arn.clone(),
            load_balancers: vec![],
            role_arn: input.role.as_deref().and_then(|r| authz::role_arn(&self.scope, r)),
            service_registries: vec![],
            status: ServiceStatus::Active.into(),
            desired_count: desired,
            running_count: 0,
            pending_count: 0,
            launch_type: None,
            capacity_provider_strategy: vec![],
            platform_version: None,
            platform_family: None,
            task_definition: String::new(),
            deployment_configuration: config,
            deployments: vec![],
            events: vec![],
            created_at: now_epoch(),
            placement_constraints: input.placement_constraints.clone(),
            placement_strategy: if input.placement_strategy.is_empty() {
                berth_scheduler::service_default_strategies()
                    .iter()
                    .map(|s| serde_json::to_value(s).unwrap_or_default())
                    .collect()
            } else {
                input.placement_strategy.clone()
            },
            network_configuration: None,
            health_check_grace_period_seconds: input.health_check_grace_period_seconds,
            scheduling_strategy: "REPLICA".into(),
            deployment_controller: json!({"type": DeploymentControllerType::External.as_str()}),
            tags: input.tags.clone(),
            created_by: ctx.principal.arn.clone(),
            enable_ecs_managed_tags: input.enable_ecs_managed_tags.unwrap_or(false),
            propagate_tags: propagate,
            enable_execute_command: input.enable_execute_command.unwrap_or(false),
            task_sets: vec![],
            berth: ServiceInternal {
                cluster: cluster.cluster_name.clone(),
                name: input.service_name.clone(),
                client_token: input.client_token.clone(),
                fingerprint,
                ..Default::default()
            },
        })
    }
}
