//! Task records as stored: the ECS `Task` shape plus Berth's bookkeeping
//! (`TaskInternal`, stripped from answers), its containers, and the short
//! ids in task and container instance references.

use super::attachment::{Attachment, AttachmentStatus, NetworkInterface};
use super::sizing::ContainerSize;
use crate::short_name::short_name;
use crate::status::{ContainerStatus, HealthStatus, Recorded, StatusName, TaskStopCode};
use crate::tags::Tag;
use crate::task_status::TaskStatus;
use berth_agent_protocol::TaskNetworkInterface;
use berth_scheduler::TaskDemand;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Berth's bookkeeping on a task; never shown to clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInternal {
    pub cluster: String,
    pub id: String,
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub revision: i64,
    /// The container instance id (short form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// What the task holds on its instance.
    #[serde(default)]
    pub demand: TaskDemand,
    /// Whether the instance's `remainingResources` still has `demand` taken.
    #[serde(default)]
    pub reserved: bool,
    /// The agent has reported on this task (so it knows it).
    #[serde(default)]
    pub agent_seen: bool,
    /// The agent has reported the task STOPPED (so it is done with it).
    #[serde(default)]
    pub agent_stopped: bool,
    /// Names of the essential containers.
    #[serde(default)]
    pub essential: Vec<String>,
    /// Names of the containers with a health check.
    #[serde(default)]
    pub health_checked: Vec<String>,
    /// Scale-in protection (UpdateTaskProtection): until when (epoch
    /// seconds) its service does not stop it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_until: Option<f64>,
    /// Placed on a Fargate host (`berth agent --fargate`): shown without a
    /// `containerInstanceArn`, as Fargate tasks are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_fargate_host: bool,
    /// The seconds the agent gives the containers between SIGTERM and
    /// SIGKILL instead of their stopTimeout: a FARGATE_SPOT interruption's
    /// two-minute notice (scaled by `--time-scale`), recorded with the stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_notice_secs: Option<u64>,
    /// The security groups of an awsvpc task's interface (resolved at
    /// launch: the VPC's default group when none was named).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// The subnets of an awsvpc task's launch with their zones (resolved
    /// at launch): a task waiting for capacity is placed only in those
    /// zones, its interface in the subnet of its host's zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnet_zones: Vec<crate::launch::SubnetZone>,
}

impl TaskInternal {
    /// Whether the task is protected from scale-in at `now`.
    pub fn protected_at(&self, now: f64) -> bool {
        self.protected_until.is_some_and(|u| u > now)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    pub container_arn: String,
    pub task_arn: String,
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    pub last_status: Recorded<ContainerStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_bindings: Vec<Value>,
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<Recorded<HealthStatus>>,
    pub cpu: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<String>,
}

impl ContainerRecord {
    /// A container of a new task (`size`: its name and sizes): PENDING,
    /// health UNKNOWN, nothing reported by an agent yet.
    pub fn pending(container_arn: String, task_arn: String, image: String, size: &ContainerSize) -> Self {
        ContainerRecord {
            container_arn,
            task_arn,
            name: size.name.clone(),
            image,
            image_digest: None,
            runtime_id: None,
            last_status: ContainerStatus::Pending.into(),
            exit_code: None,
            reason: None,
            network_bindings: vec![],
            network_interfaces: vec![],
            health_status: Some(HealthStatus::Unknown.into()),
            cpu: size.cpu.to_string(),
            memory: size.memory.map(|m| m.to_string()),
            memory_reservation: size.memory_reservation.map(|m| m.to_string()),
        }
    }
}

/// A task as stored: the ECS `Task` shape plus `berth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    pub task_arn: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_name: Option<String>,
    pub last_status: Recorded<TaskStatus>,
    pub desired_status: Recorded<TaskStatus>,
    pub cpu: String,
    pub memory: String,
    pub containers: Vec<ContainerRecord>,
    pub created_at: f64,
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    pub launch_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_family: Option<String>,
    pub version: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub overrides: Value,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity_at: Option<f64>,
    pub health_status: Recorded<HealthStatus>,
    #[serde(default)]
    pub enable_execute_command: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_started_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_stopped_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_stopped_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<Recorded<TaskStopCode>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    pub berth: TaskInternal,
}

impl TaskRecord {
    /// A task of a custom capacity provider waiting for capacity: recorded
    /// PROVISIONING, desired RUNNING, on no instance yet (the provisioning
    /// controller places it when an instance of the group can take it).
    pub fn awaits_capacity(&self) -> bool {
        self.berth.instance_id.is_none()
            && self.last_status == TaskStatus::Provisioning
            && self.desired_status == TaskStatus::Running
    }

    /// Puts the task's ENI attachment (not yet made) in `subnet`.
    pub fn set_eni_subnet(&mut self, subnet: &str) {
        for a in self.attachments.iter_mut().filter(|a| a.is_eni()) {
            match a.details.iter_mut().find(|d| d.name == "subnetId") {
                Some(d) => d.value = subnet.to_string(),
                None => a.details.push(super::attachment::AttachmentDetail {
                    name: "subnetId".into(),
                    value: subnet.to_string(),
                }),
            }
        }
    }

    /// The task as DescribeTasks shows it (`berth` stripped; tags only when
    /// asked for).
    pub fn render(&self, include_tags: bool) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(obj) = v.as_object_mut() {
            obj.remove("berth");
            if self.berth.on_fargate_host {
                obj.remove("containerInstanceArn");
            }
            if !include_tags {
                obj.insert("tags".into(), json!([]));
            }
            // Records from before every container had a health status.
            for c in obj
                .get_mut("containers")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(c) = c.as_object_mut() {
                    c.entry("healthStatus")
                        .or_insert_with(|| json!(HealthStatus::Unknown.as_str()));
                }
            }
        }
        v
    }

    /// Marks the task STOPPED now (containers too), keeping any stop code
    /// and reason already set. Resources are released by the writer.
    pub fn mark_stopped(&mut self, now: f64, code: TaskStopCode, reason: &str) {
        self.desired_status = TaskStatus::Stopped.into();
        self.last_status = TaskStatus::Stopped.into();
        self.stopping_at.get_or_insert(now);
        self.execution_stopped_at.get_or_insert(now);
        self.stopped_at.get_or_insert(now);
        if self.stop_code.is_none() {
            self.stop_code = Some(code.into());
        }
        if self.stopped_reason.is_none() {
            self.stopped_reason = Some(reason.into());
        }
        for c in &mut self.containers {
            if c.last_status != ContainerStatus::Stopped {
                c.last_status = ContainerStatus::Stopped.into();
            }
        }
        for a in self.attachments.iter_mut().filter(|a| a.is_eni()) {
            a.status = AttachmentStatus::Deleted;
        }
    }

    /// Records the interface the agent set up for the task: its ENI
    /// attachment ATTACHED with the interface's details, and every
    /// container's `networkInterfaces`. True when anything changed.
    pub fn attach_interface(&mut self, ni: &TaskNetworkInterface) -> bool {
        let region = self.task_arn.split(':').nth(3).unwrap_or_default().to_string();
        let Some(a) = self.attachments.iter_mut().find(|a| a.is_eni()) else {
            return false;
        };
        if a.status == AttachmentStatus::Deleted {
            return false;
        }
        let mut changed = a.attach(ni, &region);
        let entry = vec![NetworkInterface {
            attachment_id: a.id.clone(),
            private_ipv4_address: ni.private_ipv4_address.clone(),
        }];
        for c in &mut self.containers {
            if c.network_interfaces != entry {
                c.network_interfaces = entry.clone();
                changed = true;
            }
        }
        changed
    }

    /// Whether the agent of its instance still has to act on the task: it is
    /// not STOPPED, or it is STOPPED while the agent knew it and has not yet
    /// reported it stopped.
    pub fn wanted_by_agent(&self) -> bool {
        self.last_status != TaskStatus::Stopped || (self.berth.agent_seen && !self.berth.agent_stopped)
    }

    /// The cluster of the instance the task is placed on: its own, or, for
    /// a FARGATE task on a Fargate host shared by every cluster, the host's
    /// (named by `containerInstanceArn`, `…:container-instance/CLUSTER/ID`).
    pub fn instance_cluster(&self) -> &str {
        self.container_instance_arn
            .as_deref()
            .and_then(instance_cluster_of)
            .unwrap_or(&self.berth.cluster)
    }
}

/// The cluster named by a container instance ARN
/// (`arn:…:container-instance/CLUSTER/ID`); None for other forms.
pub fn instance_cluster_of(arn: &str) -> Option<&str> {
    let (_, resource) = arn.strip_prefix("arn:")?.split_once(":container-instance/")?;
    let (cluster, id) = resource.split_once('/')?;
    (!cluster.is_empty() && !id.is_empty() && !id.contains('/')).then_some(cluster)
}

/// The short id in a task reference: `ID`, `arn:…:task/ID` or
/// `arn:…:task/CLUSTER/ID`.
pub fn task_id_of(reference: &str) -> &str {
    short_name(reference)
}

/// The short id in a container instance reference (same forms as tasks).
pub fn instance_id_of(reference: &str) -> &str {
    short_name(reference)
}
