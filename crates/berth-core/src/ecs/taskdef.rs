//! Task definitions: the record as ECS stores and returns it, and the rules
//! `RegisterTaskDefinition` applies — validation with ECS's error wording,
//! the defaults ECS fills in, cpu/memory normalization, and the computed
//! `compatibilities` and `requiresAttributes`.
//!
//! Every member Berth interprets is typed; every other member a client sends
//! is kept verbatim in the `other` maps, so a definition reads back exactly
//! as it was registered (plus ECS's defaults).

use super::Tag;
use crate::arn::{Arn, Scope};
use crate::names::is_valid_ecs_name;
use berth_proto::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// At most this many containers in one task definition.
pub const MAX_CONTAINERS: usize = 10;
pub const NETWORK_MODES: [&str; 4] = ["bridge", "host", "awsvpc", "none"];
pub const LOG_DRIVERS: [&str; 8] = [
    "json-file",
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "awsfirelens",
];
/// The log drivers Fargate supports.
pub const FARGATE_LOG_DRIVERS: [&str; 3] = ["awslogs", "splunk", "awsfirelens"];
pub const STATUS_ACTIVE: &str = "ACTIVE";
pub const STATUS_INACTIVE: &str = "INACTIVE";
pub const STATUS_DELETE_IN_PROGRESS: &str = "DELETE_IN_PROGRESS";
/// Task-level CPU range for tasks on EC2 and external instances (0.125–192 vCPU).
pub const TASK_CPU_RANGE: std::ops::RangeInclusive<u64> = 128..=196_608;
/// Docker refuses memory limits below 6 MiB.
pub const MIN_CONTAINER_MEMORY_MIB: i64 = 6;

/// A task definition as stored and returned by the ECS API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskDefinition {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    pub container_definitions: Vec<ContainerDefinition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Absent when the client did not choose one (tasks then use `bridge`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    pub volumes: Vec<Volume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_attributes: Option<Vec<Attribute>>,
    pub placement_constraints: Vec<PlacementConstraint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibilities: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires_compatibilities: Vec<String>,
    /// CPU units as a numeric string (normalized from e.g. `1 vCPU`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// MiB as a numeric string (normalized from e.g. `2 GB`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_accelerators: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deregistered_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_requested_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_fault_injection: Option<bool>,
    /// Members Berth does not interpret, returned as registered.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerDefinition {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_credentials: Option<RepositoryCredentials>,
    /// CPU units; ECS stores 0 when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
    /// Defaults to true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Vec<KeyValuePair>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_files: Option<Vec<EnvironmentFile>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_points: Option<Vec<MountPoint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes_from: Option<Vec<VolumeFrom>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux_parameters: Option<LinuxParameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<Secret>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<ContainerDependency>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_networking: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_search_domains: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_hosts: Option<Vec<HostEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_security_options: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudo_terminal: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// ECS returns an empty list when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_controls: Option<Vec<SystemControl>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_requirements: Option<Vec<ResourceRequirement>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firelens_configuration: Option<FirelensConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_specs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_consistency: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RepositoryCredentials {
    pub credentials_parameter: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PortMapping {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i64>,
    /// `tcp` (the default) or `udp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port_range: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestartPolicy {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_exit_codes: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_attempt_period: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValuePair {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvironmentFile {
    pub value: String,
    #[serde(rename = "type")]
    pub file_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MountPoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumeFrom {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LinuxParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<KernelCapabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_process_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_memory_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<Vec<Tmpfs>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_swap: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KernelCapabilities {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Device {
    pub host_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tmpfs {
    pub container_path: String,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_options: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Secret {
    pub name: String,
    pub value_from: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerDependency {
    pub container_name: String,
    /// START, COMPLETE, SUCCESS or HEALTHY.
    pub condition: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HostEntry {
    pub hostname: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft_limit: i64,
    pub hard_limit: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogConfiguration {
    pub log_driver: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_options: Option<Vec<Secret>>,
}

/// A container health check. ECS fills `interval` 30, `timeout` 5 and
/// `retries` 3 when they are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthCheck {
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SystemControl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceRequirement {
    pub value: String,
    /// `GPU` or `InferenceAccelerator`.
    #[serde(rename = "type")]
    pub resource_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FirelensConfiguration {
    /// `fluentd` or `fluentbit`.
    #[serde(rename = "type")]
    pub firelens_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Volume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolumeProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsx_windows_file_server_volume_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured_at_launch: Option<bool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HostVolumeProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DockerVolumeConfiguration {
    /// `task` or `shared`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoprovision: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlacementConstraint {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub constraint_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuntimePlatform {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EphemeralStorage {
    #[serde(rename = "sizeInGiB")]
    pub size_in_gib: i64,
}

/// An ECS attribute: a `requiresAttributes` entry, or a container instance
/// attribute (`targetType`/`targetId` set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Attribute {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

impl Attribute {
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// A stored revision: the definition in its API shape, plus a top-level
/// `tags` member (returned separately by `DescribeTaskDefinition` when
/// `include: ["TAGS"]`, and managed by TagResource like every resource's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionRecord {
    #[serde(flatten)]
    pub task_definition: TaskDefinition,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl ContainerDefinition {
    /// The container's name (registration requires one; "" when absent).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The image reference ("" when absent).
    pub fn image(&self) -> &str {
        self.image.as_deref().unwrap_or_default()
    }

    /// ECS: `essential` defaults to true.
    pub fn is_essential(&self) -> bool {
        self.essential.unwrap_or(true)
    }
}

impl TaskDefinition {
    pub fn family_name(&self) -> &str {
        self.family.as_deref().unwrap_or_default()
    }

    pub fn revision_number(&self) -> i64 {
        self.revision.unwrap_or_default()
    }

    pub fn status_str(&self) -> &str {
        self.status.as_deref().unwrap_or(STATUS_ACTIVE)
    }

    /// The network mode tasks of this definition use (`bridge` when unset).
    pub fn effective_network_mode(&self) -> &str {
        self.network_mode.as_deref().unwrap_or("bridge")
    }

    pub fn requires(&self, compatibility: &str) -> bool {
        self.requires_compatibilities.iter().any(|c| c == compatibility)
    }

    fn task_memory_mib(&self) -> Option<u64> {
        self.memory.as_deref().and_then(|m| m.parse().ok())
    }

    fn task_cpu_units(&self) -> Option<u64> {
        self.cpu.as_deref().and_then(|c| c.parse().ok())
    }

    /// Stamps a validated definition with what registration assigns.
    pub fn registered(mut self, scope: &Scope, revision: i64, now: f64, registered_by: &str) -> Self {
        self.task_definition_arn = Some(scope.task_definition_arn(self.family_name(), revision));
        self.revision = Some(revision);
        self.status = Some(STATUS_ACTIVE.into());
        self.registered_at = Some(now);
        self.registered_by = Some(registered_by.to_string());
        self.deregistered_at = None;
        self.delete_requested_at = None;
        self
    }
}

// ---------------------------------------------------------------------------
// References: `family`, `family:revision`, or a task definition ARN.
// ---------------------------------------------------------------------------

/// What a `taskDefinition` parameter names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionRef {
    /// A bare family: its latest ACTIVE revision.
    Family(String),
    Revision(String, i64),
}

impl TaskDefinitionRef {
    pub fn family(&self) -> &str {
        match self {
            Self::Family(f) | Self::Revision(f, _) => f,
        }
    }
}

/// Parses `family`, `family:revision` or
/// `arn:aws:ecs:REGION:ACCOUNT:task-definition/family[:revision]`. The
/// account and region of an ARN are returned for the caller to check.
pub fn parse_task_definition_ref(s: &str) -> Result<(TaskDefinitionRef, Option<(String, String)>), AwsError> {
    let (body, scope) = if s.starts_with("arn:") {
        let arn = Arn::parse(s)
            .filter(|a| a.service == "ecs")
            .ok_or_else(|| AwsError::client(format!("Invalid task definition ARN: {s}")))?;
        match arn.resource.strip_prefix("task-definition/") {
            Some(rest) => (rest.to_string(), Some((arn.region.clone(), arn.account.clone()))),
            None => {
                return Err(AwsError::client(format!("The ARN {s} is not a task definition ARN.")));
            }
        }
    } else {
        (s.to_string(), None)
    };
    let r = match body.split_once(':') {
        Some((family, rev)) => {
            let n = rev
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| AwsError::client(format!("Invalid revision number. Number: {rev}")))?;
            TaskDefinitionRef::Revision(family.to_string(), n)
        }
        None => TaskDefinitionRef::Family(body),
    };
    if !is_valid_ecs_name(r.family()) {
        return Err(AwsError::client("Family contains invalid characters."));
    }
    Ok((r, scope))
}

// ---------------------------------------------------------------------------
// Task-level cpu and memory: numeric strings, or "1 vCPU" / "2 GB".
// ---------------------------------------------------------------------------

fn parse_scaled(raw: &str, units: &[(&str, f64)]) -> Option<u64> {
    let trimmed = raw.trim();
    let lower = trimmed.to_ascii_lowercase();
    let (number, scale) = units
        .iter()
        .find_map(|(suffix, scale)| lower.strip_suffix(suffix).map(|n| (n.trim().to_string(), *scale)))
        .unwrap_or((lower.clone(), 1.0));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let value = number.parse::<f64>().ok()? * scale;
    if !value.is_finite() || value <= 0.0 || value.fract() != 0.0 || value > i32::MAX as f64 {
        return None;
    }
    Some(value as u64)
}

/// Normalizes a task-level `cpu` ("1024", "1 vCPU", "0.25 vcpu") to CPU units.
pub fn normalize_task_cpu(raw: &str) -> Result<u64, AwsError> {
    parse_scaled(raw, &[("vcpus", 1024.0), ("vcpu", 1024.0)]).ok_or_else(|| {
        AwsError::client(format!(
            "Invalid 'cpu' setting for task: '{raw}'. Specify CPU units as an integer (for example 1024) or vCPUs (for example 1 vCPU)."
        ))
    })
}

/// Normalizes a task-level `memory` ("2048", "2 GB", "0.5GB") to MiB.
pub fn normalize_task_memory(raw: &str) -> Result<u64, AwsError> {
    parse_scaled(raw, &[("gib", 1024.0), ("gb", 1024.0), ("mib", 1.0), ("mb", 1.0)]).ok_or_else(|| {
        AwsError::client(format!(
            "Invalid 'memory' setting for task: '{raw}'. Specify MiB as an integer (for example 2048) or GB (for example 2 GB)."
        ))
    })
}

/// Whether Fargate offers a task size with this CPU (units) and memory (MiB).
pub fn is_valid_fargate_size(cpu: u64, memory: u64) -> bool {
    let stepped = |lo: u64, hi: u64, step: u64| (lo..=hi).contains(&memory) && memory.is_multiple_of(step);
    match cpu {
        256 => matches!(memory, 512 | 1024 | 2048),
        512 => stepped(1024, 4096, 1024),
        1024 => stepped(2048, 8192, 1024),
        2048 => stepped(4096, 16_384, 1024),
        4096 => stepped(8192, 30_720, 1024),
        8192 => stepped(16_384, 61_440, 4096),
        16_384 => stepped(32_768, 122_880, 8192),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Registration.
// ---------------------------------------------------------------------------

fn client(msg: impl Into<String>) -> AwsError {
    AwsError::client(msg)
}

fn is_ecr_image(image: &str) -> bool {
    let registry = image.split('/').next().unwrap_or_default();
    registry.contains(".dkr.ecr.") && registry.contains(".amazonaws.com")
}

/// Validates a `RegisterTaskDefinition` request (without `tags`) and returns
/// the definition as ECS stores it: defaults filled in, task cpu/memory
/// normalized to numeric strings, `compatibilities` and `requiresAttributes`
/// computed. The revision, ARN, status and registration metadata are added by
/// [`TaskDefinition::registered`].
pub fn prepare_registration(mut def: TaskDefinition) -> Result<TaskDefinition, AwsError> {
    // Fields only ECS sets: whatever the client sent is replaced.
    def.task_definition_arn = None;
    def.revision = None;
    def.status = None;
    def.requires_attributes = None;
    def.compatibilities = None;
    def.registered_at = None;
    def.registered_by = None;
    def.deregistered_at = None;
    def.delete_requested_at = None;

    validate_family(def.family.as_deref())?;
    validate_container_names(&def.container_definitions)?;

    if let Some(mode) = &def.network_mode
        && !NETWORK_MODES.contains(&mode.as_str())
    {
        return Err(client(format!(
            "Invalid networkMode '{mode}'. Valid values are bridge, host, awsvpc and none."
        )));
    }
    for c in &def.requires_compatibilities {
        match c.as_str() {
            "EC2" | "FARGATE" | "EXTERNAL" => {}
            "MANAGED_INSTANCES" => {
                return Err(client(
                    "The MANAGED_INSTANCES compatibility is not supported by this endpoint. Use EC2, FARGATE or EXTERNAL.",
                ));
            }
            other => {
                return Err(client(format!(
                    "Invalid requiresCompatibilities value '{other}'. Valid values are EC2, FARGATE and EXTERNAL."
                )));
            }
        }
    }
    if let Some(p) = &def.pid_mode
        && !matches!(p.as_str(), "host" | "task")
    {
        return Err(client(format!(
            "Invalid pidMode '{p}'. Valid values are host and task."
        )));
    }
    if let Some(i) = &def.ipc_mode
        && !matches!(i.as_str(), "host" | "task" | "none")
    {
        return Err(client(format!(
            "Invalid ipcMode '{i}'. Valid values are host, task and none."
        )));
    }
    if let Some(cpu) = def.cpu.take() {
        let units = normalize_task_cpu(&cpu)?;
        if !TASK_CPU_RANGE.contains(&units) && !def.requires("FARGATE") {
            return Err(client(format!(
                "Invalid 'cpu' setting for task. The task cpu must be between {} and {} CPU units.",
                TASK_CPU_RANGE.start(),
                TASK_CPU_RANGE.end()
            )));
        }
        def.cpu = Some(units.to_string());
    }
    if let Some(memory) = def.memory.take() {
        let mib = normalize_task_memory(&memory)?;
        if mib < MIN_CONTAINER_MEMORY_MIB as u64 {
            return Err(client(format!(
                "Invalid 'memory' setting for task. The task memory must be at least {MIN_CONTAINER_MEMORY_MIB} MiB."
            )));
        }
        def.memory = Some(mib.to_string());
    }
    if let Some(rp) = &def.runtime_platform {
        validate_runtime_platform(rp)?;
    }
    if let Some(es) = &def.ephemeral_storage
        && !(21..=200).contains(&es.size_in_gib)
    {
        return Err(client(
            "Invalid 'ephemeralStorage' setting. The ephemeral storage size must be between 21 and 200 GiB.",
        ));
    }
    validate_placement_constraints(&def.placement_constraints)?;
    validate_volumes(&def.volumes)?;

    let mode = def.effective_network_mode().to_string();
    let task_memory = def.task_memory_mib();
    let task_cpu = def.task_cpu_units();
    let names: Vec<String> = def
        .container_definitions
        .iter()
        .map(|c| c.name.clone().unwrap_or_default())
        .collect();
    let volume_names: HashSet<String> = def.volumes.iter().filter_map(|v| v.name.clone()).collect();
    for c in def.container_definitions.iter_mut() {
        normalize_container(c, &mode, task_memory, &names, &volume_names)?;
    }
    if !def.container_definitions.iter().any(|c| c.essential == Some(true)) {
        return Err(client("Task definition doesn't have any essential container."));
    }
    validate_dependencies(&def.container_definitions)?;
    if let Some(tm) = task_memory {
        let reserved: i64 = def
            .container_definitions
            .iter()
            .map(|c| c.memory_reservation.or(c.memory).unwrap_or(0))
            .sum();
        if reserved as u64 > tm {
            return Err(client(
                "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.",
            ));
        }
    }
    if let Some(tc) = task_cpu {
        let cpu: i64 = def.container_definitions.iter().map(|c| c.cpu.unwrap_or(0)).sum();
        if cpu as u64 > tc {
            return Err(client(
                "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
            ));
        }
    }

    if def.requires("FARGATE")
        && let Some(e) = fargate_violation(&def)
    {
        return Err(e);
    }
    if def.requires("EXTERNAL")
        && let Some(e) = external_violation(&def)
    {
        return Err(e);
    }
    def.compatibilities = Some(compatibilities(&def));
    def.requires_attributes = Some(requires_attributes(&def).into_iter().map(Attribute::named).collect());
    Ok(def)
}

fn validate_family(family: Option<&str>) -> Result<(), AwsError> {
    let family = family.unwrap_or_default();
    if family.is_empty() {
        return Err(client("Family can not be blank."));
    }
    if family.len() > 255 {
        return Err(client("Family must be at most 255 characters long."));
    }
    if !is_valid_ecs_name(family) {
        return Err(client("Family contains invalid characters."));
    }
    Ok(())
}

fn validate_container_names(containers: &[ContainerDefinition]) -> Result<(), AwsError> {
    if containers.is_empty() {
        return Err(client("Container list cannot be empty."));
    }
    if containers.len() > MAX_CONTAINERS {
        return Err(client("Too many containers."));
    }
    let mut seen = HashSet::new();
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(client("Container.name should not be null or empty."));
        }
        if !is_valid_ecs_name(name) {
            return Err(client("Container.name contains invalid characters."));
        }
        if !seen.insert(name) {
            return Err(client("Container names must be unique within a Task Definition."));
        }
    }
    Ok(())
}

fn validate_runtime_platform(rp: &RuntimePlatform) -> Result<(), AwsError> {
    if let Some(a) = &rp.cpu_architecture
        && !matches!(a.as_str(), "X86_64" | "ARM64")
    {
        return Err(client(format!(
            "Invalid runtimePlatform cpuArchitecture '{a}'. Valid values are X86_64 and ARM64."
        )));
    }
    if let Some(os) = &rp.operating_system_family
        && os != "LINUX"
        && !os.starts_with("WINDOWS_SERVER_")
    {
        return Err(client(format!("Invalid runtimePlatform operatingSystemFamily '{os}'.")));
    }
    Ok(())
}

fn validate_placement_constraints(constraints: &[PlacementConstraint]) -> Result<(), AwsError> {
    if constraints.len() > 10 {
        return Err(client("A task definition can have at most 10 placement constraints."));
    }
    for pc in constraints {
        if pc.constraint_type.as_deref() != Some("memberOf") {
            return Err(client(format!(
                "Invalid placement constraint type '{}'. Task definitions support only memberOf constraints.",
                pc.constraint_type.as_deref().unwrap_or_default()
            )));
        }
        if pc.expression.as_deref().unwrap_or_default().trim().is_empty() {
            return Err(client("A memberOf placement constraint requires an expression."));
        }
    }
    Ok(())
}

fn validate_volumes(volumes: &[Volume]) -> Result<(), AwsError> {
    let mut seen = HashSet::new();
    for v in volumes {
        let name = v.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(client("Volume.name should not be null or empty."));
        }
        if !is_valid_ecs_name(name) {
            return Err(client("Volume.name contains invalid characters."));
        }
        if !seen.insert(name) {
            return Err(client("Volume names must be unique within a Task Definition."));
        }
        if let Some(d) = &v.docker_volume_configuration {
            if let Some(scope) = &d.scope
                && !matches!(scope.as_str(), "task" | "shared")
            {
                return Err(client(format!(
                    "Invalid dockerVolumeConfiguration scope '{scope}' for volume '{name}'. Valid values are task and shared."
                )));
            }
            if d.autoprovision == Some(true) && d.scope.as_deref() != Some("shared") {
                return Err(client(format!(
                    "Invalid dockerVolumeConfiguration for volume '{name}': autoprovision is only valid when scope is shared."
                )));
            }
        }
        let configs = [
            v.host.is_some(),
            v.docker_volume_configuration.is_some(),
            v.efs_volume_configuration.is_some(),
            v.fsx_windows_file_server_volume_configuration.is_some(),
        ];
        if configs.iter().filter(|c| **c).count() > 1 {
            return Err(client(format!(
                "Volume '{name}' can specify only one of host, dockerVolumeConfiguration, efsVolumeConfiguration and fsxWindowsFileServerVolumeConfiguration."
            )));
        }
    }
    Ok(())
}

fn normalize_container(
    c: &mut ContainerDefinition,
    mode: &str,
    task_memory: Option<u64>,
    containers: &[String],
    volumes: &HashSet<String>,
) -> Result<(), AwsError> {
    let name = c.name.clone().unwrap_or_default();
    if c.image.as_deref().unwrap_or_default().trim().is_empty() {
        return Err(client("Container.image should not be null or empty."));
    }

    // cpu and memory.
    let cpu = c.cpu.unwrap_or(0);
    if cpu < 0 {
        return Err(client(format!(
            "Invalid 'cpu' setting for container '{name}'. The value must not be negative."
        )));
    }
    c.cpu = Some(cpu);
    for (field, value) in [("memory", c.memory), ("memoryReservation", c.memory_reservation)] {
        if let Some(v) = value
            && v < MIN_CONTAINER_MEMORY_MIB
        {
            return Err(client(format!(
                "Invalid '{field}' setting for container '{name}'. The value must be at least {MIN_CONTAINER_MEMORY_MIB} MiB."
            )));
        }
    }
    if task_memory.is_none() && c.memory.is_none() && c.memory_reservation.is_none() {
        return Err(client(format!(
            "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
        )));
    }
    if let (Some(m), Some(r)) = (c.memory, c.memory_reservation)
        && r > m
    {
        return Err(client(format!(
            "Invalid setting for container '{name}'. 'memory' must be greater than or equal to 'memoryReservation'."
        )));
    }
    if let (Some(tm), Some(m)) = (task_memory, c.memory)
        && m as u64 > tm
    {
        return Err(client(format!(
            "The 'memory' setting for container '{name}' is greater than for the task."
        )));
    }

    c.essential = Some(c.essential.unwrap_or(true));

    // Ports.
    let mut mappings = c.port_mappings.take().unwrap_or_default();
    if mode == "none" && !mappings.is_empty() {
        return Err(client("Port mappings are not supported when networkMode=none."));
    }
    for pm in mappings.iter_mut() {
        normalize_port_mapping(pm, mode, &name)?;
    }
    c.port_mappings = Some(mappings);

    // Links and hostname depend on the network mode.
    if let Some(links) = &c.links {
        if !links.is_empty() && mode != "bridge" {
            return Err(client(format!("Links are not supported when networkMode={mode}.")));
        }
        for link in links {
            let target = link.split(':').next().unwrap_or_default();
            if target == name || !containers.iter().any(|n| n == target) {
                return Err(client(format!(
                    "Invalid link '{link}' in container '{name}': '{target}' is not another container of this task definition."
                )));
            }
        }
    }
    if c.hostname.is_some() && matches!(mode, "awsvpc" | "host") {
        return Err(client(format!(
            "hostname is not supported on container when networkMode={mode}."
        )));
    }

    // Volumes.
    let mounts = c.mount_points.get_or_insert_with(Vec::new);
    for mp in mounts.iter() {
        let source = mp.source_volume.as_deref().unwrap_or_default();
        if source.is_empty() {
            return Err(client(format!(
                "Invalid mount point in container '{name}': sourceVolume should not be null or empty."
            )));
        }
        if !volumes.contains(source) {
            return Err(client(format!(
                "Invalid mount point in container '{name}': unknown volume '{source}'. Declare it in the task definition's volumes."
            )));
        }
        if mp.container_path.as_deref().unwrap_or_default().is_empty() {
            return Err(client(format!(
                "Invalid mount point in container '{name}': containerPath should not be null or empty."
            )));
        }
    }
    let volumes_from = c.volumes_from.get_or_insert_with(Vec::new);
    for vf in volumes_from.iter() {
        let source = vf.source_container.as_deref().unwrap_or_default();
        if source == name || !containers.iter().any(|n| n == source) {
            return Err(client(format!(
                "Invalid volumesFrom in container '{name}': '{source}' is not another container of this task definition."
            )));
        }
    }
    c.environment.get_or_insert_with(Vec::new);
    c.system_controls.get_or_insert_with(Vec::new);

    if let Some(hc) = c.health_check.as_mut() {
        normalize_health_check(hc, &name)?;
    }
    if let Some(log) = &c.log_configuration {
        if !LOG_DRIVERS.contains(&log.log_driver.as_str()) {
            return Err(client(format!(
                "Invalid log driver '{}' for container '{name}'. Valid values are {}.",
                log.log_driver,
                LOG_DRIVERS.join(", ")
            )));
        }
        for s in log.secret_options.iter().flatten() {
            validate_secret(s, &name)?;
        }
    }
    for s in c.secrets.iter().flatten() {
        validate_secret(s, &name)?;
    }
    for (field, value) in [("startTimeout", c.start_timeout), ("stopTimeout", c.stop_timeout)] {
        if let Some(v) = value
            && v < 2
        {
            return Err(client(format!(
                "Invalid '{field}' setting for container '{name}'. The value must be at least 2 seconds."
            )));
        }
    }
    for rr in c.resource_requirements.iter().flatten() {
        match rr.resource_type.as_str() {
            "GPU" => {
                if rr.value.parse::<u32>().ok().filter(|n| *n > 0).is_none() {
                    return Err(client(format!(
                        "Invalid GPU resource requirement '{}' for container '{name}'. Specify a positive number of GPUs.",
                        rr.value
                    )));
                }
            }
            "InferenceAccelerator" => {}
            other => {
                return Err(client(format!(
                    "Invalid resource requirement type '{other}' for container '{name}'. Valid values are GPU and InferenceAccelerator."
                )));
            }
        }
    }
    if let Some(rp) = &c.restart_policy {
        if rp.ignored_exit_codes.as_ref().is_some_and(|c| c.len() > 50) {
            return Err(client(format!(
                "Invalid restartPolicy for container '{name}': at most 50 ignoredExitCodes can be specified."
            )));
        }
        if let Some(p) = rp.restart_attempt_period
            && !(60..=1800).contains(&p)
        {
            return Err(client(format!(
                "Invalid restartPolicy for container '{name}': restartAttemptPeriod must be between 60 and 1800 seconds."
            )));
        }
    }
    for ef in c.environment_files.iter().flatten() {
        if ef.file_type != "s3" {
            return Err(client(format!(
                "Invalid environmentFiles type '{}' for container '{name}'. The only valid value is s3.",
                ef.file_type
            )));
        }
    }
    if let Some(f) = &c.firelens_configuration
        && !matches!(f.firelens_type.as_str(), "fluentd" | "fluentbit")
    {
        return Err(client(format!(
            "Invalid firelensConfiguration type '{}' for container '{name}'. Valid values are fluentd and fluentbit.",
            f.firelens_type
        )));
    }
    Ok(())
}

fn validate_secret(s: &Secret, container: &str) -> Result<(), AwsError> {
    if s.name.is_empty() || s.value_from.is_empty() {
        return Err(client(format!(
            "Invalid secret in container '{container}': name and valueFrom are required."
        )));
    }
    Ok(())
}

fn parse_port_range(range: &str) -> Option<(i64, i64)> {
    let (a, b) = range.split_once('-')?;
    let (a, b) = (a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?);
    ((1..=65535).contains(&a) && (1..=65535).contains(&b) && a < b).then_some((a, b))
}

fn normalize_port_mapping(pm: &mut PortMapping, mode: &str, container: &str) -> Result<(), AwsError> {
    let protocol = pm.protocol.get_or_insert_with(|| "tcp".into());
    if !matches!(protocol.as_str(), "tcp" | "udp") {
        return Err(client(format!(
            "Invalid protocol '{protocol}' in port mappings of container '{container}'. Valid values are tcp and udp."
        )));
    }
    if let Some(ap) = &pm.app_protocol
        && !matches!(ap.as_str(), "http" | "http2" | "grpc")
    {
        return Err(client(format!(
            "Invalid appProtocol '{ap}' in port mappings of container '{container}'. Valid values are http, http2 and grpc."
        )));
    }
    if let Some(range) = &pm.container_port_range {
        if pm.container_port.is_some() || pm.host_port.is_some() {
            return Err(client(format!(
                "Invalid port mapping in container '{container}': specify either containerPort or containerPortRange, and no hostPort with a range."
            )));
        }
        if !matches!(mode, "awsvpc" | "bridge") {
            return Err(client(format!(
                "Container port ranges are not supported when networkMode={mode}."
            )));
        }
        if parse_port_range(range).is_none() {
            return Err(client(format!(
                "Invalid containerPortRange '{range}' in container '{container}'. Use START-END with ports between 1 and 65535."
            )));
        }
        return Ok(());
    }
    let cp = pm.container_port.ok_or_else(|| {
        client(format!(
            "Invalid port mapping in container '{container}': containerPort is required."
        ))
    })?;
    if !(1..=65535).contains(&cp) {
        return Err(client(format!(
            "Invalid containerPort {cp} in container '{container}'. Ports must be between 1 and 65535."
        )));
    }
    if let Some(hp) = pm.host_port
        && !(0..=65535).contains(&hp)
    {
        return Err(client(format!(
            "Invalid hostPort {hp} in container '{container}'. Ports must be between 0 and 65535."
        )));
    }
    match mode {
        "awsvpc" | "host" => match pm.host_port {
            None => pm.host_port = Some(cp),
            Some(hp) if hp != cp => {
                return Err(client(format!(
                    "When networkMode={mode}, the host ports and container ports in port mappings must match."
                )));
            }
            Some(_) => {}
        },
        _ => {
            pm.host_port.get_or_insert(0);
        }
    }
    Ok(())
}

fn normalize_health_check(hc: &mut HealthCheck, container: &str) -> Result<(), AwsError> {
    let bad = |what: &str| client(format!("Invalid health check for container '{container}': {what}"));
    match hc.command.first().map(String::as_str) {
        Some("CMD" | "CMD-SHELL") if hc.command.len() >= 2 => {}
        Some("NONE") if hc.command.len() == 1 => {}
        _ => {
            return Err(bad(
                "the command must start with CMD (arguments run directly) or CMD-SHELL (run with the container's shell), followed by the command.",
            ));
        }
    }
    let interval = *hc.interval.get_or_insert(30);
    let timeout = *hc.timeout.get_or_insert(5);
    let retries = *hc.retries.get_or_insert(3);
    if !(5..=300).contains(&interval) {
        return Err(bad("interval must be between 5 and 300 seconds."));
    }
    if !(2..=120).contains(&timeout) {
        return Err(bad("timeout must be between 2 and 120 seconds."));
    }
    if !(1..=10).contains(&retries) {
        return Err(bad("retries must be between 1 and 10."));
    }
    if let Some(sp) = hc.start_period
        && !(0..=300).contains(&sp)
    {
        return Err(bad("startPeriod must be between 0 and 300 seconds."));
    }
    Ok(())
}

fn validate_dependencies(containers: &[ContainerDefinition]) -> Result<(), AwsError> {
    let index: HashMap<&str, usize> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_deref().unwrap_or_default(), i))
        .collect();
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        for d in c.depends_on.iter().flatten() {
            let Some(&target) = index.get(d.container_name.as_str()) else {
                return Err(client(format!(
                    "Container '{name}' depends on container '{}', which is not defined in the task definition.",
                    d.container_name
                )));
            };
            let target = &containers[target];
            match d.condition.as_str() {
                "START" => {}
                "COMPLETE" | "SUCCESS" => {
                    if target.essential == Some(true) {
                        return Err(client(
                            "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
                        ));
                    }
                }
                "HEALTHY" => {
                    if target.health_check.is_none() {
                        return Err(client(format!(
                            "Container '{name}' depends on container '{}' being HEALTHY, but that container has no healthCheck.",
                            d.container_name
                        )));
                    }
                }
                other => {
                    return Err(client(format!(
                        "Invalid dependsOn condition '{other}' in container '{name}'. Valid values are START, COMPLETE, SUCCESS and HEALTHY."
                    )));
                }
            }
        }
    }
    // No cycles: depth-first search with white/grey/black marks.
    fn visit(i: usize, containers: &[ContainerDefinition], index: &HashMap<&str, usize>, marks: &mut [u8]) -> bool {
        match marks[i] {
            1 => return true,
            2 => return false,
            _ => {}
        }
        marks[i] = 1;
        for d in containers[i].depends_on.iter().flatten() {
            if let Some(&j) = index.get(d.container_name.as_str())
                && visit(j, containers, index, marks)
            {
                return true;
            }
        }
        marks[i] = 2;
        false
    }
    let mut marks = vec![0u8; containers.len()];
    for i in 0..containers.len() {
        if visit(i, containers, &index, &mut marks) {
            return Err(client(format!(
                "The dependsOn of container '{}' forms a cycle. Container dependencies must not be circular.",
                containers[i].name.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Why this (validated) definition cannot run on Fargate, as the error ECS
/// returns when FARGATE is required; `None` when it is Fargate-compatible.
pub fn fargate_violation(def: &TaskDefinition) -> Option<AwsError> {
    let no = |what: &str| {
        Some(client(format!(
            "Tasks using the Fargate launch type do not support {what}."
        )))
    };
    if def.network_mode.as_deref() != Some("awsvpc") {
        return Some(client("Fargate only supports network mode \u{2018}awsvpc\u{2019}."));
    }
    let Some(cpu) = def.task_cpu_units() else {
        return Some(client("Fargate requires that 'cpu' be defined at the task level."));
    };
    let Some(memory) = def.task_memory_mib() else {
        return Some(client("Fargate requires that 'memory' be defined at the task level."));
    };
    if !is_valid_fargate_size(cpu, memory) {
        return Some(client(format!(
            "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
        )));
    }
    if def.pid_mode.as_deref() == Some("host") {
        return no("pidMode 'host'");
    }
    if def.ipc_mode.is_some() {
        return no("ipcMode");
    }
    if !def.placement_constraints.is_empty() {
        return no("placementConstraints");
    }
    if def.inference_accelerators.as_ref().is_some_and(|i| !i.is_empty()) {
        return no("inferenceAccelerators");
    }
    for v in &def.volumes {
        if v.host.as_ref().is_some_and(|h| h.source_path.is_some()) {
            return no("host volumes with a sourcePath");
        }
        if v.docker_volume_configuration.is_some() {
            return no("dockerVolumeConfiguration");
        }
        if v.fsx_windows_file_server_volume_configuration.is_some() && !is_windows(def) {
            return no("fsxWindowsFileServerVolumeConfiguration on Linux");
        }
    }
    for c in &def.container_definitions {
        let name = c.name.as_deref().unwrap_or_default();
        if c.privileged == Some(true) {
            return no("privileged containers");
        }
        if c.links.as_ref().is_some_and(|l| !l.is_empty()) {
            return no("links");
        }
        if let Some(log) = &c.log_configuration {
            if !FARGATE_LOG_DRIVERS.contains(&log.log_driver.as_str()) {
                return Some(client(format!(
                    "Log driver {} is not supported on Fargate (container '{name}'). Valid values are awslogs, splunk and awsfirelens.",
                    log.log_driver
                )));
            }
            if log.log_driver == "awslogs" && def.execution_role_arn.is_none() {
                return Some(client(
                    "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
                ));
            }
        }
        if c.image.as_deref().is_some_and(is_ecr_image) && def.execution_role_arn.is_none() {
            return Some(client(
                "Fargate requires task definition to have execution role ARN to support ECR images.",
            ));
        }
        if c.stop_timeout.is_some_and(|t| t > 120) || c.start_timeout.is_some_and(|t| t > 120) {
            return Some(client(format!(
                "Tasks using the Fargate launch type support container start and stop timeouts of at most 120 seconds (container '{name}')."
            )));
        }
        if c.resource_requirements
            .iter()
            .flatten()
            .any(|r| r.resource_type == "GPU")
        {
            return no("GPU resource requirements");
        }
    }
    None
}

fn is_windows(def: &TaskDefinition) -> bool {
    def.runtime_platform
        .as_ref()
        .and_then(|r| r.operating_system_family.as_deref())
        .is_some_and(|os| os.starts_with("WINDOWS"))
}

/// Why this definition cannot run on external (ECS Anywhere) instances;
/// `None` when it can.
pub fn external_violation(def: &TaskDefinition) -> Option<AwsError> {
    let no = |what: &str| {
        Some(client(format!(
            "Tasks using the EXTERNAL launch type do not support {what}."
        )))
    };
    if def.network_mode.as_deref() == Some("awsvpc") {
        return no("network mode \u{2018}awsvpc\u{2019}");
    }
    if def.proxy_configuration.is_some() {
        return no("proxyConfiguration");
    }
    if def.inference_accelerators.as_ref().is_some_and(|i| !i.is_empty()) {
        return no("inferenceAccelerators");
    }
    if def.volumes.iter().any(|v| v.efs_volume_configuration.is_some()) {
        return no("efsVolumeConfiguration");
    }
    if def
        .volumes
        .iter()
        .any(|v| v.fsx_windows_file_server_volume_configuration.is_some())
    {
        return no("fsxWindowsFileServerVolumeConfiguration");
    }
    None
}

/// The launch types a definition is valid for, in ECS's order: EXTERNAL
/// (when compatible), EC2 (always), FARGATE (when compatible).
pub fn compatibilities(def: &TaskDefinition) -> Vec<String> {
    let mut out = vec![];
    if external_violation(def).is_none() {
        out.push("EXTERNAL".to_string());
    }
    out.push("EC2".to_string());
    if fargate_violation(def).is_none() {
        out.push("FARGATE".to_string());
    }
    out
}

const CAP: &str = "com.amazonaws.ecs.capability.";
const ATTR: &str = "ecs.capability.";

/// The container instance attributes (agent capabilities) a task of this
/// definition needs, named as the ECS agent advertises them.
pub fn requires_attributes(def: &TaskDefinition) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut add = |name: String| {
        if !out.contains(&name) {
            out.push(name);
        }
    };
    let docker = |v: &str| format!("{CAP}docker-remote-api.{v}");
    let has_exec_role = def.execution_role_arn.is_some();

    for c in &def.container_definitions {
        if c.image.as_deref().is_some_and(is_ecr_image) {
            add(format!("{CAP}ecr-auth"));
            if has_exec_role {
                add(format!("{ATTR}execution-role-ecr-pull"));
            }
        }
        if let Some(log) = &c.log_configuration {
            add(format!("{CAP}logging-driver.{}", log.log_driver));
            add(docker("1.18"));
            if log.log_driver == "awslogs" {
                add(docker("1.19"));
                if has_exec_role {
                    add(format!("{ATTR}execution-role-awslogs"));
                }
            }
            for s in log.secret_options.iter().flatten() {
                add(format!(
                    "{ATTR}secrets.{}.bootstrap.log-driver",
                    secret_store(&s.value_from)
                ));
            }
        }
        if let Some(f) = &c.firelens_configuration {
            add(format!("{ATTR}firelens.{}", f.firelens_type));
        }
        for s in c.secrets.iter().flatten() {
            add(format!(
                "{ATTR}secrets.{}.environment-variables",
                secret_store(&s.value_from)
            ));
        }
        if c.repository_credentials.is_some() {
            add(format!("{ATTR}private-registry-authentication.secretsmanager"));
        }
        if c.memory_reservation.is_some() {
            add(docker("1.21"));
        }
        if c.privileged == Some(true) {
            add(format!("{CAP}privileged-container"));
        }
        if c.docker_labels.is_some() || c.ulimits.is_some() {
            add(docker("1.18"));
        }
        if c.docker_security_options.as_ref().is_some_and(|o| !o.is_empty()) {
            add(docker("1.17"));
        }
        if let Some(hc) = &c.health_check {
            add(format!("{ATTR}container-health-check"));
            add(docker("1.24"));
            if hc.start_period.is_some() {
                add(docker("1.29"));
            }
        }
        if c.depends_on.as_ref().is_some_and(|d| !d.is_empty()) || c.start_timeout.is_some() || c.stop_timeout.is_some()
        {
            add(format!("{ATTR}container-ordering"));
        }
        if c.environment_files.as_ref().is_some_and(|e| !e.is_empty()) {
            add(format!("{ATTR}env-files.s3"));
        }
        if c.linux_parameters.as_ref().and_then(|l| l.init_process_enabled) == Some(true) {
            add(docker("1.25"));
        }
        if c.port_mappings
            .iter()
            .flatten()
            .any(|p| p.container_port_range.is_some())
        {
            add(format!("{ATTR}network.container-port-range"));
        }
        if c.restart_policy.as_ref().is_some_and(|r| r.enabled) {
            add(format!("{ATTR}container-restart-policy"));
        }
    }
    if def.task_role_arn.is_some() {
        add(format!("{CAP}task-iam-role"));
        if def.network_mode.as_deref() == Some("host") {
            add(format!("{CAP}task-iam-role-network-host"));
        }
    }
    if def.pid_mode.is_some() || def.ipc_mode.is_some() {
        add(format!("{ATTR}pid-ipc-namespace-sharing"));
    }
    for v in &def.volumes {
        if let Some(efs) = &v.efs_volume_configuration {
            add(format!("{ATTR}efs"));
            if efs.get("authorizationConfig").is_some() {
                add(format!("{ATTR}efsAuth"));
            }
        }
        if let Some(d) = &v.docker_volume_configuration {
            add(format!(
                "{ATTR}docker-plugin.{}",
                d.driver.as_deref().unwrap_or("local")
            ));
        }
        if v.fsx_windows_file_server_volume_configuration.is_some() {
            add(format!("{ATTR}fsxWindowsFileServer"));
        }
    }
    if def.inference_accelerators.as_ref().is_some_and(|i| !i.is_empty()) {
        add(format!("{ATTR}task-eia"));
    }
    if def.proxy_configuration.is_some() {
        add(format!("{ATTR}aws-appmesh"));
    }
    if def.enable_fault_injection == Some(true) {
        add(format!("{ATTR}fault-injection"));
    }
    if let Some(mode) = &def.network_mode {
        add(docker("1.18"));
        if mode == "awsvpc" {
            add(format!("{ATTR}task-eni"));
        }
    }
    out
}

/// `asm` for Secrets Manager ARNs, `ssm` for Parameter Store names and ARNs.
fn secret_store(value_from: &str) -> &'static str {
    if value_from.starts_with("arn:") && value_from.split(':').nth(2) == Some("secretsmanager") {
        "asm"
    } else {
        "ssm"
    }
}

#[cfg(test)]
mod tests;
