//! Service records as stored: the ECS `Service` and `Deployment` shapes
//! plus Berth's bookkeeping (stripped from answers), the stored
//! `deploymentConfiguration`, service events, and deployment ids.

use super::{MAX_EVENTS, MAX_HISTORY};
use crate::cluster::CapacityProviderStrategyItem;
use crate::status::{DeploymentStatus, Recorded, RolloutState, ServiceStatus};
use crate::tags::Tag;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
    pub alarms: Option<super::DeploymentAlarms>,
    #[serde(default = "rolling")]
    pub strategy: String,
    /// BLUE_GREEN/LINEAR/CANARY: how long both revisions run after the
    /// production traffic has shifted, and the shift's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_time_in_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_configuration: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_configuration: Option<Value>,
    /// BLUE_GREEN/LINEAR/CANARY: the PAUSE hooks a deployment stops at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle_hooks: Vec<super::LifecycleHook>,
}

pub fn rolling() -> String {
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
    /// Deployment alarms: until when the steady deployment is still
    /// watched (the bake), and the alarms that failed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_bake_until: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered_alarms: Vec<String>,
    /// BLUE_GREEN/LINEAR/CANARY: where its traffic shift is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<super::ShiftProgress>,
}

/// A deployment as stored: the ECS `Deployment` shape plus `berth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    pub id: String,
    pub status: Recorded<DeploymentStatus>,
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
    pub rollout_state: Recorded<RolloutState>,
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
    /// Tasks deregistered from the service's target groups, stopped once
    /// their connections have drained.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draining_tasks: Vec<DrainingTask>,
    /// Load balancers the service no longer has (UpdateService), kept until
    /// its tasks are deregistered from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_load_balancers: Vec<super::ServiceLoadBalancer>,
    /// BLUE_GREEN/LINEAR/CANARY: the target group production traffic goes
    /// to (None: the load balancer's `targetGroupArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_target_group: Option<String>,
}

/// A service task draining before it is stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainingTask {
    pub task_id: String,
    /// When its connections have drained (epoch seconds).
    pub until: f64,
    /// The stop reason it is stopped with then.
    pub reason: String,
}

impl ServiceInternal {
    /// Takes out of `draining_tasks` the tasks whose deregistration delay
    /// has passed by `now` (to be stopped now) and forgets those no longer
    /// wanted RUNNING among `tasks`; returns them with the earliest time a
    /// task still draining is done (pure; both the ECS and the EXTERNAL
    /// controllers' pass).
    pub fn take_drained(&mut self, tasks: &[&crate::task::TaskRecord], now: f64) -> (Vec<DrainingTask>, Option<f64>) {
        let mut drained = vec![];
        let mut next: Option<f64> = None;
        self.draining_tasks.retain(|d| {
            let live = tasks
                .iter()
                .any(|t| t.berth.id == d.task_id && t.desired_status == crate::TaskStatus::Running);
            if live && d.until <= now {
                drained.push(d.clone());
            } else if live {
                next = Some(next.map_or(d.until, |n| n.min(d.until)));
            }
            live && d.until > now
        });
        (drained, next)
    }
}

/// A service as stored: the ECS `Service` shape plus `berth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    pub service_arn: String,
    pub service_name: String,
    pub cluster_arn: String,
    #[serde(default)]
    pub load_balancers: Vec<super::ServiceLoadBalancer>,
    /// The role given with the load balancers (`roleArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub service_registries: Vec<Value>,
    pub status: Recorded<ServiceStatus>,
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
    /// EXTERNAL deployment controller: the service's task sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_sets: Vec<super::TaskSetRecord>,
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
            if self.is_external() {
                // ECS shows an EXTERNAL service's task sets, not deployments.
                o.remove("deployments");
                o.insert(
                    "taskSets".into(),
                    Value::Array(self.task_sets.iter().map(|t| t.render(include_tags)).collect()),
                );
                if self.task_definition.is_empty() {
                    o.remove("taskDefinition");
                }
            }
        }
        v
    }

    pub fn primary(&self) -> Option<&DeploymentRecord> {
        self.deployments.iter().find(|d| d.status == DeploymentStatus::Primary)
    }

    pub fn primary_mut(&mut self) -> Option<&mut DeploymentRecord> {
        self.deployments
            .iter_mut()
            .find(|d| d.status == DeploymentStatus::Primary)
    }

    /// Whether the service uses the EXTERNAL deployment controller (its
    /// tasks are its task sets').
    pub fn is_external(&self) -> bool {
        super::DeploymentControllerType::of(&self.deployment_controller) == super::DeploymentControllerType::External
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
            d.status = DeploymentStatus::Inactive.into();
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
            if d.status == DeploymentStatus::Primary {
                d.status = DeploymentStatus::Active.into();
                d.updated_at = now;
                if d.rollout_state == RolloutState::InProgress {
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
        self.start_rollback_by("ECS deployment circuit breaker", reason, now)
    }

    /// [`Self::start_rollback`] started by `by` (the new deployment's
    /// rollout state reason names it: `ECS deployment alarms: rolling back
    /// to deploymentId …`).
    pub fn start_rollback_by(&mut self, by: &str, reason: &str, now: f64) -> Option<String> {
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
            d.rollout_state = RolloutState::Failed.into();
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
            status: DeploymentStatus::Primary.into(),
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
            rollout_state: RolloutState::InProgress.into(),
            rollout_state_reason: format!("{by}: rolling back to deploymentId {good_id}."),
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
