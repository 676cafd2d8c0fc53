//! RunTask: decode, plan, and place the tasks (idempotent by `clientToken`).

use super::definitions::{TaskDefinitionLookup, named_arn};
use super::options::{TaskOptions, placement_constraints, placement_strategies};
use super::placement::{Placed, failure_json};
use crate::authz::{self, cluster_key, exec_key, provider_keys};
use crate::operation::Operation;
use crate::references::cluster_name;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_ecs_model::CapacityProviderStrategyItem;
use berth_ecs_model::task::{
    canonical_json, check_compatibility, check_fargate_launch, launch_of, validate_client_token,
};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_scheduler::{MAX_CONSTRAINTS, MAX_STRATEGIES, PlacementConstraint, PlacementStrategy};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunTaskInput {
    #[serde(default)]
    capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    cluster: Option<String>,
    count: Option<i64>,
    launch_type: Option<String>,
    #[serde(default)]
    placement_constraints: Vec<Value>,
    #[serde(default)]
    placement_strategy: Vec<Value>,
    platform_version: Option<String>,
    task_definition: String,
    client_token: Option<String>,
    network_configuration: Option<Value>,
    /// overrides, group, startedBy, tags, propagateTags,
    /// enableECSManagedTags, enableExecuteCommand.
    #[serde(flatten)]
    options: TaskOptions,
    /// The request without its `clientToken`, canonical: what a retry
    /// with the same token must repeat.
    #[serde(skip)]
    fingerprint: String,
    /// `taskDefinition`, looked up once ([`RunTask::load`]).
    #[serde(skip)]
    definition: TaskDefinitionLookup,
}

/// RunTask, authorized on the task definition it runs (a bare family: its
/// latest ACTIVE revision) with `ecs:cluster` of the cluster it runs in,
/// and `iam:PassRole` on the roles the tasks get.
pub(crate) struct RunTask;

#[async_trait]
impl Operation<Ecs> for RunTask {
    const NAME: &'static str = "RunTask";
    type Input = RunTaskInput;

    fn decode(mut input: Value) -> Result<RunTaskInput, AwsError> {
        let token = input.as_object_mut().and_then(|o| o.remove("clientToken"));
        let fingerprint = canonical_json(&input);
        if let (Some(t), Some(o)) = (token, input.as_object_mut()) {
            o.insert("clientToken".to_string(), t);
        }
        let mut input: RunTaskInput = berth_proto::json::decode(input)?;
        input.fingerprint = fingerprint;
        Ok(input)
    }

    async fn load(ecs: &Ecs, input: &mut RunTaskInput) {
        input.definition = ecs.lookup_task_definition(&input.task_definition).await;
    }

    fn resources(scope: &Scope, input: &RunTaskInput) -> Vec<AuthzResource> {
        let mut keys: Vec<(String, String)> = cluster_name(input.cluster.as_deref())
            .ok()
            .map(|c| cluster_key(scope, &c))
            .into_iter()
            .collect();
        keys.extend(exec_key(input.options.enable_execute_command));
        keys.extend(provider_keys(
            scope,
            input
                .capacity_provider_strategy
                .iter()
                .map(|i| i.capacity_provider.as_str()),
        ));
        task_definition_resources(
            scope,
            &input.task_definition,
            &input.definition,
            keys,
            input.options.overrides.as_ref(),
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: RunTaskInput) -> Result<Value, AwsError> {
        ecs.run_task(ctx, input).await
    }
}

/// The task definition a RunTask/StartTask runs (with `keys`), then
/// `iam:PassRole` on the roles its tasks get (its overrides', or else the
/// definition's).
pub(super) fn task_definition_resources(
    scope: &Scope,
    reference: &str,
    definition: &TaskDefinitionLookup,
    keys: Vec<(String, String)>,
    overrides: Option<&Value>,
) -> Vec<AuthzResource> {
    let arn = if definition.arn.is_empty() {
        named_arn(scope, reference)
    } else {
        definition.arn.clone()
    };
    let mut out = vec![AuthzResource {
        arn,
        condition_keys: keys,
        ..AuthzResource::default()
    }];
    out.extend(
        authz::task_roles(scope, overrides, definition.definition())
            .iter()
            .map(authz::PassedRole::authz_resource),
    );
    out
}

impl Ecs {
    pub(crate) async fn run_task(&self, _ctx: &RequestContext, input: RunTaskInput) -> Result<Value, AwsError> {
        berth_ecs_model::check_execute_command(input.options.enable_execute_command)?;
        let count = input.count.unwrap_or(1);
        if !(1..=10).contains(&count) {
            return Err(AwsError::invalid_parameter(format!(
                "count must be between 1 and 10, got {count}."
            )));
        }
        let count = count as usize;
        if let Some(t) = &input.client_token {
            validate_client_token(t)?;
        }
        if input.placement_constraints.len() > MAX_CONSTRAINTS {
            return Err(AwsError::invalid_parameter(format!(
                "At most {MAX_CONSTRAINTS} placement constraints are allowed, got {}.",
                input.placement_constraints.len()
            )));
        }
        if input.placement_strategy.len() > MAX_STRATEGIES {
            return Err(AwsError::invalid_parameter(format!(
                "At most {MAX_STRATEGIES} placement strategies are allowed, got {}.",
                input.placement_strategy.len()
            )));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name.clone();
        let token_key = input.client_token.as_deref().map(|t| keys::client_token(&name, t));
        let fingerprint = input.fingerprint;
        if let Some(key) = &token_key
            && let (_, Some(tok)) = self.read_token(key).await?
        {
            return self.token_answer(&name, &tok, &fingerprint).await;
        }

        let td = input.definition.into_active()?;
        let (launch_type, providers) = launch_of(
            &cluster,
            input.launch_type.as_deref(),
            &input.capacity_provider_strategy,
            count,
        )?;
        check_fargate_launch(
            &launch_type,
            input.platform_version.as_deref(),
            !input.placement_strategy.is_empty(),
            !input.placement_constraints.is_empty(),
        )?;
        check_compatibility(&td.value, &launch_type)?;
        berth_ecs_model::task::check_launch_overrides(&launch_type, &td.value, input.options.overrides.as_ref())?;
        berth_ecs_model::check_network_configuration(
            td.value["networkMode"].as_str(),
            input.network_configuration.as_ref(),
        )?;
        berth_ecs_model::check_public_ip(input.network_configuration.as_ref(), &launch_type)?;
        let constraints: Vec<PlacementConstraint> =
            placement_constraints(&td.value, &input.placement_constraints).collect::<Result<_, _>>()?;
        let strategies: Vec<PlacementStrategy> =
            placement_strategies(&input.placement_strategy).collect::<Result<_, _>>()?;
        berth_scheduler::validate(&constraints, &strategies).map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
        let platform_version = input.platform_version.clone().filter(|p| p != "LATEST");
        let host_group = self.host_group_for(&providers).await?;
        let mut plan = self.plan(cluster, td, &input.options, launch_type, providers, platform_version)?;
        plan.host_group = host_group;
        (plan.network_configuration, plan.subnet_zones) =
            self.resolve_network(input.network_configuration.clone()).await?;
        let request = plan.placement_request(constraints, strategies, count as u32);

        match self
            .place_tasks(&plan, &request, None, token_key.as_deref(), &fingerprint)
            .await?
        {
            Placed::Token(tok) => self.token_answer(&name, &tok, &fingerprint).await,
            Placed::Tasks { tasks, failures } => {
                let failures: Vec<Value> = failures.iter().map(failure_json).collect();
                let rendered: Vec<Value> = tasks.iter().map(|t| t.render(true)).collect();
                Ok(json!({"tasks": rendered, "failures": failures}))
            }
        }
    }
}
