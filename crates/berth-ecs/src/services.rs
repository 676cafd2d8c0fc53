//! Services: CreateService, UpdateService, DeleteService, DescribeServices,
//! ListServices.
//!
//! A service record (`keys::service(cluster, name)`) is the ECS `Service`
//! shape plus Berth's bookkeeping under `berth` (stripped from answers).
//! Handlers only record intent (desired count, deployments); the service
//! controller (`service_controller.rs`) starts and stops the tasks and keeps
//! the counts, rollout states and events true.

use crate::{Ecs, keys};
use berth_core::ecs::{CapacityProviderStrategyItem, Tag, validate_tags};
use berth_core::time::now_epoch;
use berth_proto::json::decode;
use berth_proto::pagination::paginate;
use berth_proto::pagination::with_next_token;
use berth_proto::{AwsError, RequestContext};
use berth_scheduler::{PlacementConstraint, PlacementStrategy};
use berth_store::{Compare, Op, typed};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Events kept on a service, newest first (ECS shows the last 100).
pub const MAX_EVENTS: usize = 100;

/// INACTIVE deployments remembered per service.
pub const MAX_HISTORY: usize = 20;

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

/// `deploymentConfiguration` as stored (defaults applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfig {
    pub deployment_circuit_breaker: CircuitBreaker,
    pub maximum_percent: i64,
    pub minimum_healthy_percent: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<Value>,
    #[serde(default = "rolling")]
    pub strategy: String,
}

fn rolling() -> String {
    "ROLLING".into()
}

/// Berth's bookkeeping on a deployment; never shown to clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentInternal {
    /// Tasks of this deployment counted as failed (circuit breaker).
    #[serde(default)]
    pub failed_task_ids: Vec<String>,
    /// The deployment this one rolls back from, when it is a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_from: Option<String>,
    /// When the deployment ended (COMPLETED, FAILED, or replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<f64>,
    /// The rollback deployment started for this one, the deployment it
    /// restores, why and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_started_at: Option<f64>,
    /// The deployments this one replaces, with their
    /// (requested, running, pending) counts when it started.
    #[serde(default)]
    pub sources: Vec<(String, i64, i64, i64)>,
    /// The service's deployment configuration when it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<DeploymentConfig>,
}

/// A deployment as stored: the ECS `Deployment` shape plus `berth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: i64,
    pub pending_count: i64,
    pub running_count: i64,
    pub failed_tasks: i64,
    pub created_at: f64,
    pub updated_at: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<Value>,
    pub rollout_state: String,
    pub rollout_state_reason: String,
    #[serde(default)]
    pub berth: DeploymentInternal,
}

impl DeploymentRecord {
    pub fn render(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(o) = v.as_object_mut() {
            o.remove("berth");
        }
        v
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: f64,
    pub message: String,
}

/// Berth's bookkeeping on a service; never shown to clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInternal {
    pub cluster: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// The CreateService request, canonical, without its clientToken.
    #[serde(default)]
    pub fingerprint: String,
    /// Tasks that failed in a row (reset when one becomes healthy).
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Failed tasks already counted (id, when it stopped), the most recent
    /// ones; failures that stopped at or before `failures_forgotten_before`
    /// were counted too.
    #[serde(default)]
    pub counted_failures: Vec<(String, f64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures_forgotten_before: Option<f64>,
    /// When the last counted failure happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<f64>,
    /// No task is started before this time (throttling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_until: Option<f64>,
    /// Whether the service is known to be in a steady state.
    #[serde(default)]
    pub steady: bool,
    /// The last deployment that COMPLETED: (id, task definition ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_completed: Option<(String, String)>,
    /// Deployments that are over (INACTIVE), newest first.
    #[serde(default)]
    pub history: Vec<DeploymentRecord>,
}

/// A service as stored: the ECS `Service` shape plus `berth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    pub service_arn: String,
    pub service_name: String,
    pub cluster_arn: String,
    #[serde(default)]
    pub load_balancers: Vec<Value>,
    #[serde(default)]
    pub service_registries: Vec<Value>,
    pub status: String,
    pub desired_count: i64,
    pub running_count: i64,
    pub pending_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_family: Option<String>,
    pub task_definition: String,
    pub deployment_configuration: DeploymentConfig,
    pub deployments: Vec<DeploymentRecord>,
    pub events: Vec<ServiceEvent>,
    pub created_at: f64,
    #[serde(default)]
    pub placement_constraints: Vec<Value>,
    #[serde(default)]
    pub placement_strategy: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<i64>,
    pub scheduling_strategy: String,
    pub deployment_controller: Value,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub created_by: String,
    #[serde(rename = "enableECSManagedTags", default)]
    pub enable_ecs_managed_tags: bool,
    pub propagate_tags: String,
    #[serde(default)]
    pub enable_execute_command: bool,
    pub berth: ServiceInternal,
}

impl ServiceRecord {
    /// The service as DescribeServices shows it.
    pub fn render(&self, include_tags: bool) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(o) = v.as_object_mut() {
            o.remove("berth");
            if !include_tags {
                o.remove("tags");
            }
            o.insert(
                "deployments".into(),
                Value::Array(self.deployments.iter().map(DeploymentRecord::render).collect()),
            );
        }
        v
    }

    pub fn primary(&self) -> Option<&DeploymentRecord> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }

    pub fn primary_mut(&mut self) -> Option<&mut DeploymentRecord> {
        self.deployments.iter_mut().find(|d| d.status == "PRIMARY")
    }

    pub fn is_daemon(&self) -> bool {
        self.scheduling_strategy == "DAEMON"
    }

    /// Adds an event (newest first, at most [`MAX_EVENTS`]).
    pub fn push_event(&mut self, message: String, now: f64) {
        self.events.insert(
            0,
            ServiceEvent {
                id: berth_core::ids::uuid(),
                created_at: now,
                message,
            },
        );
        self.events.truncate(MAX_EVENTS);
    }

    /// Ends a deployment: INACTIVE, remembered in the history.
    pub fn retire(&mut self, id: &str, now: f64) {
        if let Some(i) = self.deployments.iter().position(|d| d.id == id) {
            let mut d = self.deployments.remove(i);
            d.status = "INACTIVE".into();
            d.updated_at = now;
            d.berth.finished_at.get_or_insert(now);
            self.berth.history.insert(0, d);
            self.berth.history.truncate(MAX_HISTORY);
        }
    }

    /// Makes `new` the PRIMARY deployment; the previous PRIMARY becomes
    /// ACTIVE (its tasks are replaced by the controller).
    pub fn push_deployment(&mut self, mut new: DeploymentRecord, now: f64) {
        new.berth.sources = self
            .deployments
            .iter()
            .map(|d| (d.id.clone(), d.desired_count, d.running_count, d.pending_count))
            .collect();
        new.berth.config = Some(self.deployment_configuration.clone());
        for d in &mut self.deployments {
            if d.status == "PRIMARY" {
                d.status = "ACTIVE".into();
                d.updated_at = now;
                if d.rollout_state == "IN_PROGRESS" {
                    d.berth.finished_at.get_or_insert(now);
                }
            }
        }
        self.deployments.insert(0, new);
        self.berth.steady = false;
        self.berth.consecutive_failures = 0;
        self.berth.throttled_until = None;
    }
}

impl ServiceRecord {
    /// Rolls the PRIMARY deployment back to the last COMPLETED one: a new
    /// PRIMARY deployment of that revision's task definition. The PRIMARY
    /// is marked FAILED with `reason`. Returns the id rolled back to, or
    /// None when there is nothing to roll back to.
    pub fn start_rollback(&mut self, reason: &str, now: f64) -> Option<String> {
        let p = self.primary().cloned()?;
        let (good_id, good_td) = self.berth.last_completed.clone()?;
        if good_id == p.id {
            return None;
        }
        let id = deployment_id();
        let good = self
            .deployments
            .iter()
            .chain(&self.berth.history)
            .find(|d| d.id == good_id)
            .cloned()
            .unwrap_or_else(|| p.clone());
        if let Some(d) = self.primary_mut() {
            d.rollout_state = "FAILED".into();
            d.rollout_state_reason = reason.to_string();
            d.updated_at = now;
            d.berth.finished_at.get_or_insert(now);
            d.berth.rolled_back_by = Some(id.clone());
            d.berth.rollback_to = Some(good_id.clone());
            d.berth.rollback_reason = Some(reason.to_string());
            d.berth.rollback_started_at = Some(now);
        }
        let d = DeploymentRecord {
            id: id.clone(),
            status: "PRIMARY".into(),
            task_definition: good_td.clone(),
            desired_count: self.desired_count,
            pending_count: 0,
            running_count: 0,
            failed_tasks: 0,
            created_at: now,
            updated_at: now,
            capacity_provider_strategy: good.capacity_provider_strategy.clone(),
            launch_type: good.launch_type.clone(),
            platform_version: good.platform_version.clone(),
            platform_family: good.platform_family.clone(),
            network_configuration: good.network_configuration.clone(),
            rollout_state: "IN_PROGRESS".into(),
            rollout_state_reason: format!("ECS deployment circuit breaker: rolling back to deploymentId {good_id}."),
            berth: DeploymentInternal {
                rollback_from: Some(p.id.clone()),
                ..Default::default()
            },
        };
        self.task_definition = good_td;
        self.network_configuration = good.network_configuration.clone();
        self.push_deployment(d, now);
        Some(good_id)
    }
}

/// A fresh deployment id: `ecs-svc/` and 19 digits.
pub fn deployment_id() -> String {
    let n: u64 = rand::random::<u64>() % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000;
    format!("ecs-svc/{n}")
}

// ---------------------------------------------------------------------------
// Validation (pure)
// ---------------------------------------------------------------------------

/// Service names: up to 255 letters, numbers, hyphens and underscores.
pub fn validate_service_name(name: &str) -> Result<(), AwsError> {
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AwsError::invalid_parameter(
            "Service names can have up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfigIn {
    pub deployment_circuit_breaker: Option<CircuitBreaker>,
    pub maximum_percent: Option<i64>,
    pub minimum_healthy_percent: Option<i64>,
    pub alarms: Option<Value>,
    pub strategy: Option<String>,
    pub bake_time_in_minutes: Option<i64>,
    #[serde(default)]
    pub lifecycle_hooks: Vec<Value>,
    pub linear_configuration: Option<Value>,
    pub canary_configuration: Option<Value>,
}

/// The defaults of a scheduling strategy: REPLICA 100/200, DAEMON 0/100.
pub fn default_deployment_config(daemon: bool) -> DeploymentConfig {
    DeploymentConfig {
        deployment_circuit_breaker: CircuitBreaker::default(),
        maximum_percent: if daemon { 100 } else { 200 },
        minimum_healthy_percent: if daemon { 0 } else { 100 },
        alarms: None,
        strategy: rolling(),
    }
}

/// Applies a `deploymentConfiguration` on top of `base` and checks it.
pub fn merge_deployment_config(
    base: &DeploymentConfig,
    input: &DeploymentConfigIn,
    daemon: bool,
) -> Result<DeploymentConfig, AwsError> {
    let mut c = base.clone();
    if let Some(s) = &input.strategy {
        if s != "ROLLING" {
            return Err(AwsError::invalid_parameter(format!(
                "Deployment strategy {s} is not supported by Berth; use ROLLING."
            )));
        }
        c.strategy = s.clone();
    }
    if input.bake_time_in_minutes.is_some()
        || !input.lifecycle_hooks.is_empty()
        || input.linear_configuration.is_some()
        || input.canary_configuration.is_some()
    {
        return Err(AwsError::invalid_parameter(
            "bakeTimeInMinutes, lifecycleHooks, linearConfiguration and canaryConfiguration apply to BLUE_GREEN, LINEAR and CANARY deployments, which Berth does not support.",
        ));
    }
    if let Some(a) = &input.alarms {
        if a["enable"].as_bool() == Some(true) {
            return Err(AwsError::invalid_parameter(
                "Deployment alarms need CloudWatch alarms, which Berth does not have: set alarms.enable to false.",
            ));
        }
        c.alarms = Some(a.clone());
    }
    if let Some(cb) = &input.deployment_circuit_breaker {
        c.deployment_circuit_breaker = cb.clone();
    }
    if let Some(m) = input.maximum_percent {
        c.maximum_percent = m;
    }
    if let Some(m) = input.minimum_healthy_percent {
        c.minimum_healthy_percent = m;
    }
    if !(0..=100).contains(&c.minimum_healthy_percent) {
        return Err(AwsError::invalid_parameter(format!(
            "minimumHealthyPercent must be between 0 and 100, got {}.",
            c.minimum_healthy_percent
        )));
    }
    if !(100..=200).contains(&c.maximum_percent) {
        return Err(AwsError::invalid_parameter(format!(
            "maximumPercent must be between 100 and 200, got {}.",
            c.maximum_percent
        )));
    }
    if daemon && c.maximum_percent != 100 {
        return Err(AwsError::invalid_parameter(
            "The maximumPercent of a service using the DAEMON scheduling strategy must be 100.",
        ));
    }
    Ok(c)
}

/// Parses and checks placement constraints and strategies.
pub fn validate_placement(constraints: &[Value], strategies: &[Value]) -> Result<(), AwsError> {
    let cs: Vec<PlacementConstraint> = constraints
        .iter()
        .map(|c| {
            serde_json::from_value(c.clone())
                .map_err(|e| AwsError::invalid_parameter(format!("Invalid placement constraint {c}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let ss: Vec<PlacementStrategy> = strategies
        .iter()
        .map(|s| {
            serde_json::from_value(s.clone())
                .map_err(|e| AwsError::invalid_parameter(format!("Invalid placement strategy {s}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    berth_scheduler::validate(&cs, &ss).map_err(|e| AwsError::invalid_parameter(e.to_string()))
}

fn validate_propagate(p: &str) -> Result<(), AwsError> {
    if !matches!(p, "TASK_DEFINITION" | "SERVICE" | "NONE") {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid propagateTags value '{p}'. Valid values: TASK_DEFINITION, SERVICE, NONE."
        )));
    }
    Ok(())
}

fn validate_grace(g: Option<i64>) -> Result<(), AwsError> {
    if let Some(g) = g
        && !(0..=i64::from(i32::MAX)).contains(&g)
    {
        return Err(AwsError::invalid_parameter(
            "healthCheckGracePeriodSeconds must be between 0 and 2147483647.",
        ));
    }
    Ok(())
}

/// Rejects what Berth has no backing for (load balancers, Cloud Map …).
fn reject_unsupported(input: &Value) -> Result<(), AwsError> {
    for (field, what) in [
        ("loadBalancers", "Elastic Load Balancing"),
        ("serviceRegistries", "AWS Cloud Map"),
        ("vpcLatticeConfigurations", "VPC Lattice"),
        ("volumeConfigurations", "Amazon EBS volumes"),
        ("gatewayConnectors", "gateway connectors"),
    ] {
        if input[field].as_array().is_some_and(|a| !a.is_empty()) {
            return Err(AwsError::invalid_parameter(format!(
                "{field} needs {what}, which Berth does not provide."
            )));
        }
    }
    if input["serviceConnectConfiguration"]["enabled"].as_bool() == Some(true) {
        return Err(AwsError::invalid_parameter(
            "Service Connect needs AWS Cloud Map, which Berth does not provide.",
        ));
    }
    if let Some(t) = input["deploymentController"]["type"].as_str()
        && t != "ECS"
    {
        return Err(AwsError::invalid_parameter(format!(
            "Deployment controller {t} is not supported by Berth; use ECS."
        )));
    }
    Ok(())
}

/// The network configuration a task definition needs (the rule RunTask and
/// StartTask share).
fn check_network(td: &Value, network: Option<&Value>) -> Result<(), AwsError> {
    berth_core::ecs::check_network_configuration(td["networkMode"].as_str(), network)
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateServiceInput {
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
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateServiceInput {
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
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteServiceInput {
    cluster: Option<String>,
    service: String,
    force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeServicesInput {
    cluster: Option<String>,
    services: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListServicesInput {
    cluster: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    launch_type: Option<String>,
    scheduling_strategy: Option<String>,
}

/// The service name in `NAME` or `arn:…:service/[CLUSTER/]NAME`.
pub fn service_name_of(reference: &str) -> &str {
    if reference.starts_with("arn:") {
        reference.rsplit('/').next().unwrap_or("")
    } else {
        reference
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

impl Ecs {
    /// Loads a service by name or ARN.
    pub(crate) async fn get_service(
        &self,
        cluster: &str,
        reference: &str,
    ) -> Result<Option<(ServiceRecord, i64)>, AwsError> {
        let name = service_name_of(reference);
        if name.is_empty() {
            return Ok(None);
        }
        let found = typed::get::<ServiceRecord>(&*self.store, &keys::service(cluster, name))
            .await
            .map_err(AwsError::state_store)?;
        Ok(found.filter(|(s, _)| !reference.starts_with("arn:") || s.service_arn == reference))
    }

    async fn service_task_definition(&self, reference: &str) -> Result<crate::tasks::ResolvedTaskDefinition, AwsError> {
        self.resolve_task_definition(reference)
            .await
            .map_err(|e| AwsError::client(format!("Unable to use task definition {reference}: {}", e.message)))
    }

    pub(crate) async fn create_service(&self, ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        reject_unsupported(&input)?;
        let mut fingerprint_input = input.clone();
        if let Some(o) = fingerprint_input.as_object_mut() {
            o.remove("clientToken");
        }
        let fingerprint = crate::tasks::canonical_json(&fingerprint_input);
        let input: CreateServiceInput = decode(input)?;
        validate_service_name(&input.service_name)?;
        berth_core::ecs::check_execute_command(input.enable_execute_command)?;
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
            && s.status != "INACTIVE"
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
        if input.role.is_some() {
            return Err(AwsError::invalid_parameter(
                "A role can only be specified for services with load balancers, which Berth does not provide.",
            ));
        }
        let td_ref = input.task_definition.as_deref().ok_or_else(|| {
            AwsError::invalid_parameter("taskDefinition is required for the ECS deployment controller.")
        })?;
        let td = self.service_task_definition(td_ref).await?;
        let (launch_type, _) = Self::launch_of(
            &cluster,
            input.launch_type.as_deref(),
            &input.capacity_provider_strategy,
            1,
        )?;
        if daemon && launch_type == "FARGATE" {
            return Err(AwsError::invalid_parameter(
                "The DAEMON scheduling strategy is not supported with FARGATE.",
            ));
        }
        Self::check_compatibility(&td, &launch_type)?;
        check_network(&td.value, input.network_configuration.as_ref())?;
        if input.platform_version.is_some() && launch_type != "FARGATE" {
            return Err(AwsError::invalid_parameter(
                "The platformVersion parameter is only valid for the FARGATE launch type.",
            ));
        }
        let config = merge_deployment_config(
            &default_deployment_config(daemon),
            &input.deployment_configuration.clone().unwrap_or_default(),
            daemon,
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

        let now = now_epoch();
        let uses_providers = launch_type == "FARGATE" && input.launch_type.is_none();
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
            status: "PRIMARY".into(),
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
            rollout_state: "IN_PROGRESS".into(),
            rollout_state_reason: format!("ECS deployment {id} in progress."),
            berth: DeploymentInternal {
                config: Some(config.clone()),
                ..Default::default()
            },
        };
        let rec = ServiceRecord {
            service_arn: self.scope.service_arn(&cname, &input.service_name),
            service_name: input.service_name.clone(),
            cluster_arn: cluster.cluster_arn.clone(),
            load_balancers: vec![],
            service_registries: vec![],
            status: "ACTIVE".into(),
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
            berth: ServiceInternal {
                cluster: cname.clone(),
                name: input.service_name.clone(),
                client_token: input.client_token.clone(),
                fingerprint,
                ..Default::default()
            },
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

    /// Read-modify-write of an ACTIVE service.
    async fn modify_active_service<F>(
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
            if rec.status != "ACTIVE" {
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

    pub(crate) async fn update_service(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        reject_unsupported(&input)?;
        let input: UpdateServiceInput = decode(input)?;
        berth_core::ecs::check_execute_command(input.enable_execute_command)?;
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let cname = cluster.cluster_name.clone();
        let (current, _) = self
            .get_service(&cname, &input.service)
            .await?
            .ok_or_else(|| AwsError::service_not_found("Service not found."))?;
        if current.status != "ACTIVE" {
            return Err(AwsError::service_not_active("Service was not ACTIVE."));
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
            Some(r) => Some(self.service_task_definition(r).await?),
            None => None,
        };
        let launch_type = current
            .primary()
            .and_then(|d| d.launch_type.clone())
            .unwrap_or_else(|| {
                if current.capacity_provider_strategy.is_empty() {
                    "EC2".into()
                } else {
                    "FARGATE".into()
                }
            });
        if let Some(td) = &td {
            Self::check_compatibility(td, &launch_type)?;
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
        if let Some(strategy) = &input.capacity_provider_strategy
            && !strategy.is_empty()
        {
            berth_core::ecs::validate_strategy(strategy, &cluster.capacity_providers)?;
        }
        let config = merge_deployment_config(
            &current.deployment_configuration,
            &input.deployment_configuration.clone().unwrap_or_default(),
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
                if let Some(t) = &td {
                    s.task_definition = t.arn.clone();
                }
                if new_deployment {
                    let id = deployment_id();
                    let base = s.primary().cloned();
                    let d = DeploymentRecord {
                        id: id.clone(),
                        status: "PRIMARY".into(),
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
                        rollout_state: "IN_PROGRESS".into(),
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

    pub(crate) async fn delete_service(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let input: DeleteServiceInput = decode(input)?;
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let cname = cluster.cluster_name;
        let force = input.force.unwrap_or(false);
        let rec = self
            .modify_active_service(&cname, &input.service, |s| {
                if !s.is_daemon() && s.desired_count > 0 && !force {
                    return Err(AwsError::invalid_parameter(
                        "The service cannot be stopped while it is scaled above 0.",
                    ));
                }
                let now = now_epoch();
                s.status = "DRAINING".into();
                s.desired_count = 0;
                for d in &mut s.deployments {
                    d.desired_count = 0;
                    d.updated_at = now;
                }
                s.berth.steady = false;
                Ok(())
            })
            .await?;
        tracing::info!(service = %rec.service_arn, "service deleted (draining)");
        Ok(json!({"service": self.render_service(&rec, false)}))
    }

    pub(crate) async fn describe_services(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let input: DescribeServicesInput = decode(input)?;
        for i in &input.include {
            if i != "TAGS" {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid include value: {i}. Valid values: TAGS."
                )));
            }
        }
        if input.services.is_empty() || input.services.len() > 10 {
            return Err(AwsError::invalid_parameter(
                "services must list between 1 and 10 services.",
            ));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let cname = cluster.cluster_name;
        let include_tags = !input.include.is_empty();
        let mut services = vec![];
        let mut failures = vec![];
        for reference in &input.services {
            match self.get_service(&cname, reference).await? {
                Some((s, _)) => services.push(self.render_service(&s, include_tags)),
                None => failures.push(json!({
                    "arn": if reference.starts_with("arn:") {
                        reference.clone()
                    } else {
                        self.scope.service_arn(&cname, reference)
                    },
                    "reason": "MISSING",
                })),
            }
        }
        Ok(json!({"services": services, "failures": failures}))
    }

    pub(crate) async fn list_services(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let input: ListServicesInput = decode(input)?;
        if let Some(lt) = &input.launch_type
            && !matches!(lt.as_str(), "EC2" | "FARGATE" | "EXTERNAL" | "MANAGED_INSTANCES")
        {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid launchType '{lt}'. Valid values: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES."
            )));
        }
        if let Some(s) = &input.scheduling_strategy
            && !matches!(s.as_str(), "REPLICA" | "DAEMON")
        {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid schedulingStrategy '{s}'. Valid values: REPLICA, DAEMON."
            )));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let services: Vec<ServiceRecord> = typed::list(&*self.store, &keys::services_of(&cluster.cluster_name))
            .await
            .map_err(AwsError::state_store)?;
        let keyed: Vec<(String, String)> = services
            .into_iter()
            .filter(|s| s.status != "INACTIVE")
            .filter(|s| {
                input.launch_type.as_ref().is_none_or(|l| {
                    let lt = s.launch_type.clone().unwrap_or_else(|| "FARGATE".into());
                    &lt == l
                })
            })
            .filter(|s| {
                input
                    .scheduling_strategy
                    .as_ref()
                    .is_none_or(|x| &s.scheduling_strategy == x)
            })
            .map(|s| (s.service_name, s.service_arn))
            .collect();
        let (page, next) = paginate(
            keyed,
            |(n, _)| n.clone(),
            input.next_token.as_deref(),
            input.max_results,
            10,
            100,
        )?;
        Ok(with_next_token(
            json!({"serviceArns": page.into_iter().map(|(_, a)| a).collect::<Vec<_>>()}),
            next,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_references() {
        assert!(validate_service_name("web-1_a").is_ok());
        assert!(validate_service_name("").is_err());
        assert!(validate_service_name("bad name").is_err());
        assert!(validate_service_name(&"x".repeat(256)).is_err());
        assert_eq!(service_name_of("arn:aws:ecs:us-east-1:1:service/c/web"), "web");
        assert_eq!(service_name_of("web"), "web");
        let id = deployment_id();
        assert!(id.starts_with("ecs-svc/") && id.len() == 8 + 19, "{id}");
    }

    #[test]
    fn deployment_configuration_defaults_and_limits() {
        let r = default_deployment_config(false);
        assert_eq!((r.minimum_healthy_percent, r.maximum_percent), (100, 200));
        let d = default_deployment_config(true);
        assert_eq!((d.minimum_healthy_percent, d.maximum_percent), (0, 100));
        let merged = merge_deployment_config(
            &r,
            &DeploymentConfigIn {
                minimum_healthy_percent: Some(50),
                deployment_circuit_breaker: Some(CircuitBreaker {
                    enable: true,
                    rollback: true,
                }),
                ..Default::default()
            },
            false,
        )
        .unwrap();
        assert_eq!((merged.minimum_healthy_percent, merged.maximum_percent), (50, 200));
        assert!(merged.deployment_circuit_breaker.rollback);
        let bad = |min: Option<i64>, max: Option<i64>, daemon: bool| {
            merge_deployment_config(
                &default_deployment_config(daemon),
                &DeploymentConfigIn {
                    minimum_healthy_percent: min,
                    maximum_percent: max,
                    ..Default::default()
                },
                daemon,
            )
            .is_err()
        };
        assert!(bad(Some(101), None, false));
        assert!(bad(None, Some(99), false));
        assert!(bad(None, Some(200), true));
        assert!(!bad(Some(0), Some(100), false));
        let strategy = DeploymentConfigIn {
            strategy: Some("BLUE_GREEN".into()),
            ..Default::default()
        };
        assert!(merge_deployment_config(&r, &strategy, false).is_err());
    }

    #[test]
    fn placement_and_network_checks() {
        assert!(
            validate_placement(
                &[json!({"type": "distinctInstance"})],
                &[json!({"type": "spread", "field": "instanceId"})]
            )
            .is_ok()
        );
        assert!(validate_placement(&[json!({"type": "memberOf"})], &[]).is_err());
        assert!(validate_placement(&[], &[json!({"type": "binpack", "field": "disk"})]).is_err());
        let vpc = json!({"networkMode": "awsvpc"});
        assert!(check_network(&vpc, None).is_err());
        assert!(check_network(&vpc, Some(&json!({"awsvpcConfiguration": {"subnets": ["subnet-1"]}}))).is_ok());
        assert!(check_network(&vpc, Some(&json!({}))).is_err());
        assert!(check_network(&json!({"networkMode": "bridge"}), Some(&json!({}))).is_err());
        assert!(reject_unsupported(&json!({"loadBalancers": [{"targetGroupArn": "x"}]})).is_err());
        assert!(reject_unsupported(&json!({"deploymentController": {"type": "CODE_DEPLOY"}})).is_err());
        assert!(reject_unsupported(&json!({"loadBalancers": []})).is_ok());
    }

    #[test]
    fn events_are_newest_first_and_capped() {
        let mut s: ServiceRecord = serde_json::from_value(json!({
            "serviceArn": "a", "serviceName": "s", "clusterArn": "c", "status": "ACTIVE",
            "desiredCount": 1, "runningCount": 0, "pendingCount": 0, "taskDefinition": "t",
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": false, "rollback": false},
                                        "maximumPercent": 200, "minimumHealthyPercent": 100},
            "deployments": [], "events": [], "createdAt": 0.0, "schedulingStrategy": "REPLICA",
            "deploymentController": {"type": "ECS"}, "createdBy": "x", "propagateTags": "NONE",
            "berth": {"cluster": "c", "name": "s"}
        }))
        .unwrap();
        for i in 0..150 {
            s.push_event(format!("e{i}"), f64::from(i));
        }
        assert_eq!(s.events.len(), MAX_EVENTS);
        assert_eq!(s.events[0].message, "e149");
        let v = s.render(false);
        assert!(v.get("berth").is_none() && v.get("tags").is_none());
        assert!(v.get("roleArn").is_none());
    }
}
