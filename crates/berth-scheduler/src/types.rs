//! Plain data types of the scheduler: what it is given and what it returns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Registration status of a container instance. Only `ACTIVE` instances
/// receive new tasks; `DRAINING` ones never do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    /// Accepting tasks.
    #[default]
    Active,
    /// Being emptied: keeps its tasks, gets no new ones.
    Draining,
    /// Registration in progress.
    Registering,
    /// Deregistration in progress.
    Deregistering,
    /// Registration failed.
    RegistrationFailed,
    /// Deregistered.
    Inactive,
}

/// Resources of a container instance, in ECS units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU units (1024 per vCPU).
    pub cpu: u32,
    /// Memory in MiB.
    pub memory: u32,
    /// TCP host ports that are taken (ECS `PORTS`: a set of *reserved*
    /// ports, not of free ones).
    #[serde(default)]
    pub ports: BTreeSet<u16>,
    /// UDP host ports that are taken (ECS `PORTS_UDP`).
    #[serde(default)]
    pub ports_udp: BTreeSet<u16>,
}

/// A task already on a container instance (or placed there by this
/// request), as far as placement cares.
///
/// Callers pass every task whose desired status is `RUNNING` — ECS looks at
/// the desired status, so a task being stopped does not count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOnInstance {
    /// Task group, e.g. `service:web` or `family:nginx`.
    pub group: String,
    /// Task definition family.
    #[serde(default)]
    pub family: String,
    /// Task definition ARN.
    #[serde(default)]
    pub task_definition_arn: String,
}

/// A candidate container instance as the scheduler sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    /// Container instance ARN; placements and failures name instances by it.
    pub id: String,
    /// EC2 instance id (`ec2InstanceId`, spread field `instanceId`).
    pub ec2_instance_id: String,
    /// Registration status.
    pub status: InstanceStatus,
    /// Whether the container agent is connected.
    pub agent_connected: bool,
    /// Container agent version, e.g. `1.82.0` (`agentVersion`).
    #[serde(default)]
    pub agent_version: Option<String>,
    /// Registration time in Unix seconds (`registeredAt`).
    #[serde(default)]
    pub registered_at: i64,
    /// Attributes: name to optional value (`ecs.availability-zone`,
    /// `ecs.instance-type`, `ecs.os-type`, `ecs.cpu-architecture`,
    /// `ecs.ami-id`, capabilities without value, custom ones).
    /// Shared: the control plane keeps one copy per instance and hands the
    /// scheduler cheap clones.
    #[serde(default)]
    pub attributes: Arc<BTreeMap<String, Option<String>>>,
    /// Resources at registration.
    pub registered: Resources,
    /// Resources still free (ports: still taken).
    pub remaining: Resources,
    /// Tasks on the instance; `runningTasksCount` is their number.
    /// Shared like the attributes; placing a task copies the list of that
    /// one instance.
    #[serde(default)]
    pub tasks: Arc<Vec<TaskOnInstance>>,
}

impl InstanceView {
    /// An `ACTIVE`, connected instance with `cpu` units and `memory` MiB all
    /// free, no attributes and no tasks.
    pub fn new(id: impl Into<String>, ec2_instance_id: impl Into<String>, cpu: u32, memory: u32) -> Self {
        let resources = Resources {
            cpu,
            memory,
            ..Resources::default()
        };
        Self {
            id: id.into(),
            ec2_instance_id: ec2_instance_id.into(),
            status: InstanceStatus::Active,
            agent_connected: true,
            agent_version: None,
            registered_at: 0,
            attributes: Arc::default(),
            registered: resources.clone(),
            remaining: resources,
            tasks: Arc::default(),
        }
    }

    /// Sets an attribute (builder style).
    pub fn with_attribute(mut self, name: impl Into<String>, value: Option<&str>) -> Self {
        Arc::make_mut(&mut self.attributes).insert(name.into(), value.map(str::to_string));
        self
    }
}

/// What one task takes from the instance it lands on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDemand {
    /// CPU units.
    pub cpu: u32,
    /// Memory in MiB: the sum of the containers' hard limits, or of their
    /// reservations where only `memoryReservation` is set (the caller
    /// computes it).
    pub memory: u32,
    /// Fixed TCP host ports. Dynamic ports (host port 0) are allocated by
    /// the agent and are not accounted here; a 0 is ignored.
    #[serde(default)]
    pub ports: BTreeSet<u16>,
    /// Fixed UDP host ports.
    #[serde(default)]
    pub ports_udp: BTreeSet<u16>,
}

/// An attribute the task definition requires (`requiresAttributes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredAttribute {
    /// Attribute name that must exist on the instance.
    pub name: String,
    /// When set, the value the attribute must have.
    #[serde(default)]
    pub value: Option<String>,
}

/// Kind of placement constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConstraintType {
    /// Each task of the group on a different instance.
    DistinctInstance,
    /// Only instances matching a cluster query language expression.
    MemberOf,
}

/// A placement constraint, in the ECS wire shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementConstraint {
    /// `distinctInstance` or `memberOf`.
    #[serde(rename = "type")]
    pub kind: ConstraintType,
    /// Cluster query language expression: required for `memberOf`, not
    /// allowed for `distinctInstance`.
    #[serde(default)]
    pub expression: Option<String>,
}

impl PlacementConstraint {
    /// `{"type": "distinctInstance"}`
    pub fn distinct_instance() -> Self {
        Self {
            kind: ConstraintType::DistinctInstance,
            expression: None,
        }
    }

    /// `{"type": "memberOf", "expression": ...}`
    pub fn member_of(expression: impl Into<String>) -> Self {
        Self {
            kind: ConstraintType::MemberOf,
            expression: Some(expression.into()),
        }
    }
}

/// Kind of placement strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyType {
    /// Uniformly among the candidates still tied.
    Random,
    /// Fewest tasks of the group per value of the field.
    Spread,
    /// Least remaining `cpu` or `memory`.
    Binpack,
}

/// A placement strategy, in the ECS wire shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStrategy {
    /// `random`, `spread` or `binpack`.
    #[serde(rename = "type")]
    pub kind: StrategyType,
    /// `binpack`: `cpu` or `memory`. `spread`: `instanceId` (alias `host`)
    /// or `attribute:NAME`. `random`: unused.
    #[serde(default)]
    pub field: Option<String>,
}

impl PlacementStrategy {
    /// `{"type": "random"}`
    pub fn random() -> Self {
        Self {
            kind: StrategyType::Random,
            field: None,
        }
    }

    /// `{"type": "spread", "field": field}`
    pub fn spread(field: impl Into<String>) -> Self {
        Self {
            kind: StrategyType::Spread,
            field: Some(field.into()),
        }
    }

    /// `{"type": "binpack", "field": field}`
    pub fn binpack(field: impl Into<String>) -> Self {
        Self {
            kind: StrategyType::Binpack,
            field: Some(field.into()),
        }
    }
}

/// Everything needed to place `count` identical tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementRequest {
    /// Resources of one task.
    pub demand: TaskDemand,
    /// Task group (`service:NAME` for services, `family:NAME` by default);
    /// `distinctInstance`, spread and `task:group` work on it.
    pub group: String,
    /// Task definition family, recorded on the instance with each placement.
    #[serde(default)]
    pub family: String,
    /// Task definition ARN, recorded on the instance with each placement.
    #[serde(default)]
    pub task_definition_arn: String,
    /// The task definition's `requiresAttributes`.
    #[serde(default)]
    pub required_attributes: Vec<RequiredAttribute>,
    /// The task definition's constraints followed by the request's; at most
    /// 10 in all.
    #[serde(default)]
    pub constraints: Vec<PlacementConstraint>,
    /// Strategies in order of precedence; at most 5. Empty means `random`
    /// (see [`crate::service_default_strategies`] for services).
    #[serde(default)]
    pub strategies: Vec<PlacementStrategy>,
    /// Number of tasks to place.
    pub count: u32,
    /// The availability zones the tasks may be placed in (an awsvpc task:
    /// the zones of its subnets), matched against the instances'
    /// `ecs.availability-zone`; empty: any zone.
    #[serde(default)]
    pub zones: Vec<String>,
}

/// Why a container instance could not take a task.
///
/// [`FailureReason::code`] gives the ECS `reason` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureReason {
    /// `AGENT`: the container agent is disconnected.
    Agent,
    /// `ATTRIBUTE`: a `requiresAttributes` entry is missing or differs.
    Attribute,
    /// `RESOURCE:CPU`: not enough CPU units left.
    ResourceCpu,
    /// `RESOURCE:MEMORY`: not enough memory left.
    ResourceMemory,
    /// `RESOURCE:PORTS`: a fixed TCP or UDP host port is taken.
    ResourcePorts,
    /// `ATTRIBUTE`: the instance already runs a task of the group (the
    /// `distinctInstance` constraint).
    DistinctInstance,
    /// `ATTRIBUTE`: a `memberOf` expression does not match.
    MemberOf,
    /// `ATTRIBUTE`: the instance's `ecs.availability-zone` is none of the
    /// request's [`PlacementRequest::zones`] (an awsvpc task's subnets are
    /// in other zones).
    AvailabilityZone,
}

impl FailureReason {
    /// The ECS `reason` string (`RESOURCE:MEMORY`, `AGENT`, …).
    pub fn code(self) -> &'static str {
        match self {
            FailureReason::Agent => "AGENT",
            FailureReason::Attribute
            | FailureReason::DistinctInstance
            | FailureReason::MemberOf
            | FailureReason::AvailabilityZone => "ATTRIBUTE",
            FailureReason::ResourceCpu => "RESOURCE:CPU",
            FailureReason::ResourceMemory => "RESOURCE:MEMORY",
            FailureReason::ResourcePorts => "RESOURCE:PORTS",
        }
    }
}

/// One container instance that could not take a task, ECS `Failure` style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Container instance ARN.
    pub arn: String,
    /// Why (see [`FailureReason::code`] for the ECS string).
    pub reason: FailureReason,
    /// A sentence for people, e.g. `task needs 512 MiB of memory, 256 MiB
    /// remain`.
    pub detail: String,
}

/// Result of [`crate::place`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// `(task index in 0..count, container instance ARN)`, in task order.
    /// Tasks missing here were not placed.
    pub placements: Vec<(usize, String)>,
    /// When some task could not be placed: one entry per `ACTIVE` instance
    /// (deduplicated) saying why it could not take it. Empty when all
    /// tasks were placed.
    pub failures: Vec<Failure>,
}
