//! RunTask: decode, plan, and place the tasks (idempotent by `clientToken`).

use super::placement::{Placed, failure_json};
use super::plan::CommonOptions;
use super::rules::{canonical_json, validate_client_token};
use crate::{Ecs, keys};
use berth_core::ecs::{CapacityProviderStrategyItem, Tag};
use berth_proto::json::decode;
use berth_proto::{AwsError, RequestContext};
use berth_scheduler::{MAX_CONSTRAINTS, MAX_STRATEGIES, PlacementConstraint, PlacementRequest, PlacementStrategy};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunTaskInput {
    #[serde(default)]
    capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    cluster: Option<String>,
    count: Option<i64>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    enable_execute_command: Option<bool>,
    group: Option<String>,
    launch_type: Option<String>,
    overrides: Option<Value>,
    #[serde(default)]
    placement_constraints: Vec<Value>,
    #[serde(default)]
    placement_strategy: Vec<Value>,
    platform_version: Option<String>,
    propagate_tags: Option<String>,
    started_by: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    task_definition: String,
    client_token: Option<String>,
    network_configuration: Option<Value>,
}

impl Ecs {
    pub(crate) async fn run_task(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let mut fingerprint_input = input.clone();
        if let Some(o) = fingerprint_input.as_object_mut() {
            o.remove("clientToken");
        }
        let input: RunTaskInput = decode(input)?;
        berth_core::ecs::check_execute_command(input.enable_execute_command)?;
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
        let fingerprint = canonical_json(&fingerprint_input);
        if let Some(key) = &token_key
            && let (_, Some(tok)) = self.read_token(key).await?
        {
            return self.token_answer(&name, &tok, &fingerprint).await;
        }

        let td = self.resolve_task_definition(&input.task_definition).await?;
        let (launch_type, providers) = Self::launch_of(
            &cluster,
            input.launch_type.as_deref(),
            &input.capacity_provider_strategy,
            count,
        )?;
        Self::check_compatibility(&td, &launch_type)?;
        berth_core::ecs::check_network_configuration(
            td.value["networkMode"].as_str(),
            input.network_configuration.as_ref(),
        )?;
        let mut constraints: Vec<PlacementConstraint> = vec![];
        for c in td.value["placementConstraints"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(&input.placement_constraints)
        {
            constraints.push(
                serde_json::from_value(c.clone())
                    .map_err(|e| AwsError::invalid_parameter(format!("Invalid placement constraint {c}: {e}")))?,
            );
        }
        let strategies: Vec<PlacementStrategy> = input
            .placement_strategy
            .iter()
            .map(|s| {
                serde_json::from_value(s.clone())
                    .map_err(|e| AwsError::invalid_parameter(format!("Invalid placement strategy {s}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        berth_scheduler::validate(&constraints, &strategies).map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
        let opts = CommonOptions {
            overrides: input.overrides.as_ref(),
            group: input.group.as_deref(),
            started_by: input.started_by.as_deref(),
            tags: &input.tags,
            propagate_tags: input.propagate_tags.as_deref(),
            managed_tags: input.enable_ecs_managed_tags.unwrap_or(false),
            enable_execute_command: input.enable_execute_command.unwrap_or(false),
        };
        let platform_version = input.platform_version.clone().filter(|p| p != "LATEST");
        let plan = self.plan(cluster, td, &opts, launch_type, providers, platform_version)?;
        let request = PlacementRequest {
            demand: plan.demand.clone(),
            group: plan.group.clone(),
            family: plan.td.family.clone(),
            task_definition_arn: plan.td.arn.clone(),
            required_attributes: plan.required_attributes.clone(),
            constraints,
            strategies,
            count: count as u32,
        };

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
