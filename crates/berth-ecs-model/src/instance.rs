//! The container instance record as stored, the principal it is bound to
//! ([`AgentOwner`]), its status in the scheduler's terms, and its resources
//! as ECS renders them.

use crate::status::{ContainerInstanceStatus, Recorded};
use crate::tags::Tag;
use berth_scheduler::{InstanceStatus, InstanceView, Resources, TaskOnInstance};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The ports ECS reserves on every instance when the agent sends none.
pub const DEFAULT_RESERVED_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The principal a container instance is bound to: the only one (besides
/// root) that may act as its agent (`berth-ecs`'s `agent_identity.rs` says
/// how the binding is checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentOwner {
    pub arn: String,
    /// The principal's unique id (`AIDA…`, `AROA…:SESSION`, the account id
    /// for root); empty when IAM is not wired in.
    pub id: String,
}

/// Berth's own bookkeeping on an instance; never shown to clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInternal {
    pub cluster: String,
    pub id: String,
    /// When the agent was last seen disconnecting (epoch seconds); cleared
    /// when it connects again. The grace period counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnected_at: Option<f64>,
    /// When `agentConnected` last changed (epoch seconds).
    #[serde(default)]
    pub connection_changed_at: f64,
    /// The principal that registered the instance: the only one (besides
    /// root) that may act as its agent (`agent_identity`). None on records
    /// written before bindings existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<AgentOwner>,
}

/// A container instance as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub container_instance_arn: String,
    pub ec2_instance_id: String,
    pub version: i64,
    #[serde(default)]
    pub version_info: Value,
    pub registered_resources: Resources,
    pub remaining_resources: Resources,
    /// Registered resources other than CPU/MEMORY/PORTS/PORTS_UDP (GPU …),
    /// shown as given.
    #[serde(default)]
    pub other_resources: Vec<Value>,
    pub status: Recorded<ContainerInstanceStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub agent_connected: bool,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    pub registered_at: f64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub berth: InstanceInternal,
}

/// The instance attribute of a Fargate host (`berth agent --fargate`, value
/// `true`): never listed as a container instance, runs only FARGATE tasks.
pub const FARGATE_HOST_ATTRIBUTE: &str = "berth.fargate-host";

/// The instance attribute of a container instance that also gives Fargate
/// capacity to every cluster with none of its own (value `true`; `berth
/// up`'s local agent): listed and used in its own cluster as any container
/// instance, and a Fargate host to the others.
pub const FARGATE_SHARED_ATTRIBUTE: &str = "berth.fargate-shared";

/// The instance attribute naming the host group an agent belongs to
/// (`berth agent --host-group NAME`): the instances of a custom capacity
/// provider are those of the group its `autoScalingGroupArn` names.
pub const HOST_GROUP_ATTRIBUTE: &str = "berth.host-group";

impl InstanceRecord {
    /// The host group of the instance (`berth agent --host-group`), if any.
    pub fn host_group(&self) -> Option<&str> {
        self.attribute(HOST_GROUP_ATTRIBUTE)
    }

    /// A Fargate host (`berth agent --fargate`), not a container instance.
    pub fn is_fargate_host(&self) -> bool {
        self.attribute(FARGATE_HOST_ATTRIBUTE) == Some("true")
    }

    /// Gives Fargate capacity to the clusters with none of their own: a
    /// Fargate host, or a container instance with `berth.fargate-shared`.
    pub fn shares_fargate(&self) -> bool {
        self.is_fargate_host() || self.attribute(FARGATE_SHARED_ATTRIBUTE) == Some("true")
    }

    pub fn is_registered(&self) -> bool {
        self.status
            .is_any(&[ContainerInstanceStatus::Active, ContainerInstanceStatus::Draining])
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    }

    /// The instance as the scheduler sees it.
    pub fn view(&self, tasks: Vec<TaskOnInstance>, custom: &[Attribute]) -> InstanceView {
        let mut attributes: BTreeMap<String, Option<String>> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect();
        for a in custom {
            attributes.insert(a.name.clone(), a.value.clone());
        }
        InstanceView {
            id: self.container_instance_arn.clone(),
            ec2_instance_id: self.ec2_instance_id.clone(),
            status: self.scheduler_status(),
            agent_connected: self.agent_connected,
            agent_version: self.version_info["agentVersion"].as_str().map(str::to_string),
            registered_at: self.registered_at as i64,
            attributes: Arc::new(attributes),
            registered: self.registered_resources.clone(),
            remaining: self.remaining_resources.clone(),
            tasks: Arc::new(tasks),
        }
    }
}

impl InstanceRecord {
    /// The status in the scheduler's terms (an unknown one is INACTIVE:
    /// nothing is placed on it).
    pub fn scheduler_status(&self) -> InstanceStatus {
        match self.status.known() {
            Some(ContainerInstanceStatus::Active) => InstanceStatus::Active,
            Some(ContainerInstanceStatus::Draining) => InstanceStatus::Draining,
            Some(ContainerInstanceStatus::Registering) => InstanceStatus::Registering,
            Some(ContainerInstanceStatus::Deregistering) => InstanceStatus::Deregistering,
            Some(ContainerInstanceStatus::RegistrationFailed) => InstanceStatus::RegistrationFailed,
            Some(ContainerInstanceStatus::Inactive) | None => InstanceStatus::Inactive,
        }
    }
}

/// ECS `Resource` list for a resource set.
pub fn render_resources(r: &Resources, other: &[Value]) -> Value {
    let ports = |p: &BTreeSet<u16>| p.iter().map(u16::to_string).collect::<Vec<_>>();
    let mut out = vec![
        json!({"name": "CPU", "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": r.cpu}),
        json!({"name": "MEMORY", "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": r.memory}),
        json!({"name": "PORTS", "type": "STRINGSET", "doubleValue": 0.0, "longValue": 0, "integerValue": 0,
               "stringSetValue": ports(&r.ports)}),
        json!({"name": "PORTS_UDP", "type": "STRINGSET", "doubleValue": 0.0, "longValue": 0, "integerValue": 0,
               "stringSetValue": ports(&r.ports_udp)}),
    ];
    out.extend(other.iter().cloned());
    Value::Array(out)
}
