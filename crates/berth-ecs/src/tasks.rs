//! Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.
//!
//! A task record (`keys::task(cluster, id)`) is the DescribeTasks `Task`
//! shape plus Berth's bookkeeping under `berth` (stripped from every answer).
//! Placing tasks and reserving resources is one store transaction: the new
//! task records and the updated container instances, guarded by the
//! instances' mod revisions; on a conflict everything is read and placed
//! again. Stopping (a STOPPED report, StopTask on a task no agent has, the
//! agent-loss monitor) releases the reservation in the same transaction
//! that writes STOPPED, so `remainingResources` is always exact.

use crate::cluster_view::PlacementEntry;
use crate::instances::InstanceRecord;
use crate::{Ecs, keys};
use berth_core::ecs::{
    CapacityProviderStrategyItem, ClusterRecord, Tag, TaskDefinitionRecord, normalize_task_cpu, normalize_task_memory,
    validate_strategy, validate_tags,
};
use berth_core::time::now_epoch;
use berth_proto::json::{decode, encode};
use berth_proto::pagination::paginate;
use berth_proto::pagination::with_next_token;
use berth_proto::{AwsError, RequestContext};
use berth_scheduler::Resources;
use berth_scheduler::{
    InstanceView, MAX_CONSTRAINTS, MAX_STRATEGIES, PlacementConstraint, PlacementRequest, PlacementStrategy,
    RequiredAttribute, TaskDemand,
};
use berth_store::{Compare, Op, Revision, typed};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// How long a RunTask `clientToken` is remembered.
pub const CLIENT_TOKEN_TTL_SECS: f64 = 12.0 * 3600.0;

/// The capability ECS requires of instances for awsvpc tasks; Berth agents
/// run awsvpc tasks without ENIs and do not advertise it.
pub const TASK_ENI_CAPABILITY: &str = "ecs.capability.task-eni";

/// Placement attempts before RunTask gives up under contention.
const MAX_PLACEMENT_ATTEMPTS: u32 = 100;

/// The health ECS reports for a container (and a task) whose health is not
/// known: no health check, or none reported yet.
pub const UNKNOWN_HEALTH: &str = "UNKNOWN";

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

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
    pub last_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_bindings: Vec<Value>,
    #[serde(default)]
    pub network_interfaces: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<String>,
    pub cpu: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<String>,
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
    pub last_status: String,
    pub desired_status: String,
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
    pub attachments: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity_at: Option<f64>,
    pub health_status: String,
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
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    pub berth: TaskInternal,
}

impl TaskRecord {
    /// The task as DescribeTasks shows it (`berth` stripped; tags only when
    /// asked for).
    pub fn render(&self, include_tags: bool) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(obj) = v.as_object_mut() {
            obj.remove("berth");
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
                    c.entry("healthStatus").or_insert_with(|| json!(UNKNOWN_HEALTH));
                }
            }
        }
        v
    }

    /// Marks the task STOPPED now (containers too), keeping any stop code
    /// and reason already set. Resources are released by the writer.
    pub fn mark_stopped(&mut self, now: f64, code: &str, reason: &str) {
        self.desired_status = "STOPPED".into();
        self.last_status = "STOPPED".into();
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
            if c.last_status != "STOPPED" {
                c.last_status = "STOPPED".into();
            }
        }
    }

    /// Whether the agent of its instance still has to act on the task: it is
    /// not STOPPED, or it is STOPPED while the agent knew it and has not yet
    /// reported it stopped.
    pub fn wanted_by_agent(&self) -> bool {
        self.last_status != "STOPPED" || (self.berth.agent_seen && !self.berth.agent_stopped)
    }
}

/// The short id in a task reference: `ID`, `arn:…:task/ID` or
/// `arn:…:task/CLUSTER/ID`.
pub fn task_id_of(reference: &str) -> &str {
    last_segment(reference)
}

/// The short id in a container instance reference (same forms as tasks).
pub fn instance_id_of(reference: &str) -> &str {
    last_segment(reference)
}

fn last_segment(reference: &str) -> &str {
    if reference.starts_with("arn:") {
        reference.rsplit('/').next().unwrap_or("")
    } else {
        reference
    }
}

// ---------------------------------------------------------------------------
// Task definitions
// ---------------------------------------------------------------------------

/// A task definition revision, resolved for running tasks.
#[derive(Debug, Clone)]
pub struct ResolvedTaskDefinition {
    pub family: String,
    pub revision: i64,
    pub arn: String,
    /// The definition as DescribeTaskDefinition shows it.
    pub value: Value,
    pub tags: Vec<Tag>,
}

impl Ecs {
    /// Loads an ACTIVE task definition revision (`family` means its latest
    /// ACTIVE revision; `family:rev` and ARNs name one).
    pub(crate) async fn resolve_task_definition(&self, reference: &str) -> Result<ResolvedTaskDefinition, AwsError> {
        let (rec, _, _) = self
            .find_task_definition(reference)
            .await?
            .ok_or_else(|| AwsError::invalid_parameter("TaskDefinition not found."))?;
        if rec.task_definition.status_str() != "ACTIVE" {
            return Err(AwsError::invalid_parameter("TaskDefinition is inactive"));
        }
        let td = &rec.task_definition;
        let family = td.family_name().to_string();
        let revision = td.revision_number();
        let arn = td
            .task_definition_arn
            .clone()
            .unwrap_or_else(|| self.scope.task_definition_arn(&family, revision));
        Ok(ResolvedTaskDefinition {
            value: encode(td)?,
            family,
            revision,
            arn,
            tags: rec.tags,
        })
    }

    /// A task definition as the agent gets it in its desired state.
    pub(crate) async fn task_definition_value(&self, family: &str, revision: i64) -> Result<Option<Value>, AwsError> {
        match typed::get::<TaskDefinitionRecord>(&*self.store, &keys::task_definition(family, revision))
            .await
            .map_err(AwsError::state_store)?
        {
            Some((rec, _)) => Ok(Some(encode(&rec.task_definition)?)),
            None => Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------
// Sizing: what a task takes from its instance (pure)
// ---------------------------------------------------------------------------

/// Task-level CPU units (`"256"`, `"0.25 vCPU"`): the task definition's
/// rule ([`normalize_task_cpu`]), which fits a `u32` (it caps at `i32::MAX`).
fn task_cpu_units(s: &str) -> Result<u32, AwsError> {
    normalize_task_cpu(s).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// Task-level memory in MiB (`"512"`, `"1 GB"`): [`normalize_task_memory`].
fn task_memory_mib(s: &str) -> Result<u32, AwsError> {
    normalize_task_memory(s).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOverrideIn {
    pub name: Option<String>,
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOverrideIn {
    #[serde(default)]
    pub container_overrides: Vec<ContainerOverrideIn>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

/// The size of one container after overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSize {
    pub name: String,
    pub cpu: u32,
    pub memory: Option<u32>,
    pub memory_reservation: Option<u32>,
}

fn non_negative(v: Option<i64>, what: &str, container: &str) -> Result<Option<u32>, AwsError> {
    v.map(|n| {
        u32::try_from(n).map_err(|_| {
            AwsError::invalid_parameter(format!(
                "The {what} of container {container} must be a non-negative integer."
            ))
        })
    })
    .transpose()
}

/// What the task takes from its instance (task-level CPU/memory when set,
/// else the containers' sums: memory counts the hard limit, or the
/// reservation when only that is set), its fixed host ports, and each
/// container's size. Overrides are validated against the definition.
pub fn size_task(td: &Value, overrides: &TaskOverrideIn) -> Result<(TaskDemand, Vec<ContainerSize>), AwsError> {
    let defs = td["containerDefinitions"].as_array().cloned().unwrap_or_default();
    let mut seen = BTreeSet::new();
    for o in &overrides.container_overrides {
        let Some(name) = o.name.as_deref() else {
            return Err(AwsError::invalid_parameter(
                "Container overrides must name their container.",
            ));
        };
        if !defs.iter().any(|d| d["name"].as_str() == Some(name)) {
            return Err(AwsError::invalid_parameter(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
        if !seen.insert(name) {
            return Err(AwsError::invalid_parameter(format!(
                "Container {name} is overridden more than once."
            )));
        }
    }
    let network_mode = td["networkMode"].as_str().unwrap_or("bridge");
    let mut sizes = vec![];
    let mut demand = TaskDemand::default();
    for d in &defs {
        let name = d["name"].as_str().unwrap_or_default().to_string();
        let o = overrides
            .container_overrides
            .iter()
            .find(|o| o.name.as_deref() == Some(&name))
            .cloned()
            .unwrap_or_default();
        let cpu = non_negative(o.cpu.or(d["cpu"].as_i64()), "cpu", &name)?.unwrap_or(0);
        let memory = non_negative(o.memory.or(d["memory"].as_i64()), "memory", &name)?;
        let reservation = non_negative(
            o.memory_reservation.or(d["memoryReservation"].as_i64()),
            "memoryReservation",
            &name,
        )?;
        if let (Some(m), Some(r)) = (memory, reservation)
            && r > m
        {
            return Err(AwsError::invalid_parameter(format!(
                "The memoryReservation ({r}) of container {name} must be less than or equal to its memory ({m})."
            )));
        }
        demand.cpu = demand.cpu.saturating_add(cpu);
        demand.memory = demand.memory.saturating_add(memory.or(reservation).unwrap_or(0));
        for pm in d["portMappings"].as_array().into_iter().flatten() {
            let container_port = pm["containerPort"].as_u64();
            let host = match network_mode {
                // A Berth host has no task ENIs: the agent publishes awsvpc
                // ports on the same host port, as host mode uses them.
                "host" | "awsvpc" => pm["hostPort"].as_u64().filter(|p| *p != 0).or(container_port),
                _ => pm["hostPort"].as_u64(),
            };
            let Some(port) = host.filter(|p| *p != 0).and_then(|p| u16::try_from(p).ok()) else {
                continue;
            };
            if pm["protocol"].as_str() == Some("udp") {
                demand.ports_udp.insert(port);
            } else {
                demand.ports.insert(port);
            }
        }
        sizes.push(ContainerSize {
            name,
            cpu,
            memory,
            memory_reservation: reservation,
        });
    }
    if let Some(cpu) = overrides.cpu.as_deref().or(td["cpu"].as_str()) {
        demand.cpu = task_cpu_units(cpu)?;
    }
    if let Some(mem) = overrides.memory.as_deref().or(td["memory"].as_str()) {
        demand.memory = task_memory_mib(mem)?;
    }
    Ok((demand, sizes))
}

/// The overrides as DescribeTasks shows them: one entry per container (the
/// given override, or just its name), plus the task-level ones given.
pub fn render_overrides(td: &Value, input: Option<&Value>) -> Value {
    let given: Vec<Value> = input
        .and_then(|o| o["containerOverrides"].as_array().cloned())
        .unwrap_or_default();
    let containers: Vec<Value> = td["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["name"].as_str())
        .map(|name| {
            given
                .iter()
                .find(|o| o["name"].as_str() == Some(name))
                .cloned()
                .unwrap_or_else(|| json!({ "name": name }))
        })
        .collect();
    let mut out = Map::new();
    out.insert("containerOverrides".into(), Value::Array(containers));
    out.insert("inferenceAcceleratorOverrides".into(), json!([]));
    if let Some(obj) = input.and_then(Value::as_object) {
        for k in ["cpu", "memory", "taskRoleArn", "executionRoleArn", "ephemeralStorage"] {
            if let Some(v) = obj.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Spreads `count` tasks over a capacity provider strategy: the `base`
/// first, then by weight (smooth weighted round-robin, deterministic).
pub fn split_by_strategy(strategy: &[CapacityProviderStrategyItem], count: usize) -> Vec<String> {
    let mut out = vec![];
    if let Some(b) = strategy.iter().find(|i| i.base > 0) {
        for _ in 0..(b.base as usize).min(count) {
            out.push(b.capacity_provider.clone());
        }
    }
    let weighted: Vec<&CapacityProviderStrategyItem> = strategy.iter().filter(|i| i.weight > 0).collect();
    let total: i64 = weighted.iter().map(|i| i.weight).sum();
    let mut current = vec![0i64; weighted.len()];
    while out.len() < count && total > 0 {
        for (c, i) in current.iter_mut().zip(&weighted) {
            *c += i.weight;
        }
        let best = (0..weighted.len())
            .max_by_key(|&k| (current[k], -(k as i64)))
            .unwrap_or(0);
        current[best] -= total;
        out.push(weighted[best].capacity_provider.clone());
    }
    out
}

/// A JSON value with object keys sorted, for comparing requests.
pub fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

fn validate_client_token(t: &str) -> Result<(), AwsError> {
    if t.is_empty() || t.len() > 64 || !t.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(AwsError::invalid_parameter(
            "clientToken must be 1-64 characters in the range 33-126 (printable ASCII without spaces).",
        ));
    }
    Ok(())
}

fn validate_started_by(s: &str) -> Result<(), AwsError> {
    if s.len() > 128
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'/')
    {
        return Err(AwsError::invalid_parameter(
            "startedBy may have up to 128 letters (uppercase and lowercase), numbers, hyphens (-), forward slash (/), and underscores (_).",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartTaskInput {
    cluster: Option<String>,
    container_instances: Vec<String>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    enable_execute_command: Option<bool>,
    group: Option<String>,
    network_configuration: Option<Value>,
    overrides: Option<Value>,
    propagate_tags: Option<String>,
    started_by: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    task_definition: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopTaskInput {
    cluster: Option<String>,
    task: String,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeTasksInput {
    cluster: Option<String>,
    tasks: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListTasksInput {
    cluster: Option<String>,
    container_instance: Option<String>,
    family: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    started_by: Option<String>,
    service_name: Option<String>,
    desired_status: Option<String>,
    launch_type: Option<String>,
}

/// A stored clientToken.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenRecord {
    fingerprint: String,
    task_arns: Vec<String>,
    created_at: f64,
}

/// Everything the tasks of one RunTask/StartTask (or one service
/// deployment step) share.
pub(crate) struct TaskPlan {
    pub(crate) cluster: ClusterRecord,
    pub(crate) td: ResolvedTaskDefinition,
    pub(crate) demand: TaskDemand,
    pub(crate) sizes: Vec<ContainerSize>,
    pub(crate) overrides: Value,
    pub(crate) group: String,
    pub(crate) started_by: Option<String>,
    pub(crate) launch_type: String,
    /// Capacity provider of each task index (empty: none).
    pub(crate) providers: Vec<String>,
    pub(crate) tags: Vec<Tag>,
    pub(crate) enable_execute_command: bool,
    pub(crate) platform_version: Option<String>,
    pub(crate) required_attributes: Vec<RequiredAttribute>,
}

/// The common options of RunTask and StartTask.
pub(crate) struct CommonOptions<'a> {
    pub(crate) overrides: Option<&'a Value>,
    pub(crate) group: Option<&'a str>,
    pub(crate) started_by: Option<&'a str>,
    pub(crate) tags: &'a [Tag],
    pub(crate) propagate_tags: Option<&'a str>,
    pub(crate) managed_tags: bool,
    pub(crate) enable_execute_command: bool,
}

/// What [`Ecs::place_tasks`] did.
pub(crate) enum Placed {
    /// The tasks placed (possibly none) and, when some could not be, why.
    Tasks {
        tasks: Vec<TaskRecord>,
        failures: Vec<berth_scheduler::Failure>,
    },
    /// The client token was used by another request meanwhile.
    Token(TokenRecord),
}

fn failure_json(f: &berth_scheduler::Failure) -> Value {
    json!({"arn": f.arn, "reason": f.reason.code(), "detail": f.detail})
}

impl Ecs {
    pub(crate) fn plan(
        &self,
        cluster: ClusterRecord,
        td: ResolvedTaskDefinition,
        opts: &CommonOptions<'_>,
        launch_type: String,
        providers: Vec<String>,
        platform_version: Option<String>,
    ) -> Result<TaskPlan, AwsError> {
        let overrides_in: TaskOverrideIn = match opts.overrides {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| AwsError::invalid_parameter(format!("Invalid overrides: {e}")))?,
            None => TaskOverrideIn::default(),
        };
        let (demand, sizes) = size_task(&td.value, &overrides_in)?;
        if let Some(g) = opts.group
            && (g.is_empty() || g.len() > 255)
        {
            return Err(AwsError::invalid_parameter("group must be 1-255 characters."));
        }
        if let Some(s) = opts.started_by {
            validate_started_by(s)?;
        }
        validate_tags(opts.tags)?;
        let mut tags: Vec<Tag> = vec![];
        match opts.propagate_tags {
            None | Some("NONE") => {}
            Some("TASK_DEFINITION") => tags = td.tags.clone(),
            Some("SERVICE") => {
                return Err(AwsError::invalid_parameter(
                    "The propagateTags value SERVICE is only valid for tasks started by a service.",
                ));
            }
            Some(other) => {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid propagateTags value '{other}'. Valid values: TASK_DEFINITION, SERVICE, NONE."
                )));
            }
        }
        berth_core::ecs::merge_tags(&mut tags, opts.tags);
        if opts.managed_tags {
            berth_core::ecs::merge_tags(
                &mut tags,
                &[Tag {
                    key: "aws:ecs:clusterName".into(),
                    value: cluster.cluster_name.clone(),
                }],
            );
        }
        if tags.len() > 50 {
            return Err(AwsError::invalid_parameter(
                "The number of tags exceeds the limit of 50.",
            ));
        }
        let required_attributes = td.value["requiresAttributes"]
            .as_array()
            .into_iter()
            .flatten()
            // Berth runs awsvpc tasks without ENIs (docs/agent-protocol.md):
            // the capability ECS requires for them is not enforced.
            .filter(|a| a["name"].as_str() != Some(TASK_ENI_CAPABILITY))
            .filter_map(|a| {
                Some(RequiredAttribute {
                    name: a["name"].as_str()?.to_string(),
                    value: a["value"].as_str().map(str::to_string),
                })
            })
            .collect();
        Ok(TaskPlan {
            overrides: render_overrides(&td.value, opts.overrides),
            group: opts
                .group
                .map(str::to_string)
                .unwrap_or_else(|| format!("family:{}", td.family)),
            started_by: opts.started_by.map(str::to_string),
            cluster,
            td,
            demand,
            sizes,
            launch_type,
            providers,
            tags,
            enable_execute_command: opts.enable_execute_command,
            platform_version,
            required_attributes,
        })
    }

    fn new_task(&self, plan: &TaskPlan, instance: &InstanceRecord, index: usize, now: f64) -> TaskRecord {
        let name = &plan.cluster.cluster_name;
        let id = berth_core::ids::hex_id();
        let task_arn = self.scope.task_arn(name, &id);
        let td = &plan.td.value;
        let defs = td["containerDefinitions"].as_array().cloned().unwrap_or_default();
        let mut essential = vec![];
        let mut health_checked = vec![];
        let containers = defs
            .iter()
            .zip(&plan.sizes)
            .map(|(d, size)| {
                if d["essential"].as_bool().unwrap_or(true) {
                    essential.push(size.name.clone());
                }
                let has_health = d["healthCheck"].is_object();
                if has_health {
                    health_checked.push(size.name.clone());
                }
                ContainerRecord {
                    container_arn: self
                        .scope
                        .arn("ecs", format!("container/{name}/{id}/{}", berth_core::ids::uuid())),
                    task_arn: task_arn.clone(),
                    name: size.name.clone(),
                    image: d["image"].as_str().unwrap_or_default().to_string(),
                    image_digest: None,
                    runtime_id: None,
                    last_status: "PENDING".into(),
                    exit_code: None,
                    reason: None,
                    network_bindings: vec![],
                    network_interfaces: vec![],
                    health_status: Some(UNKNOWN_HEALTH.to_string()),
                    cpu: size.cpu.to_string(),
                    memory: size.memory.map(|m| m.to_string()),
                    memory_reservation: size.memory_reservation.map(|m| m.to_string()),
                }
            })
            .collect();
        let fargate = plan.launch_type == "FARGATE";
        let awsvpc = td["networkMode"].as_str() == Some("awsvpc");
        TaskRecord {
            task_arn: task_arn.clone(),
            cluster_arn: plan.cluster.cluster_arn.clone(),
            task_definition_arn: plan.td.arn.clone(),
            container_instance_arn: Some(instance.container_instance_arn.clone()),
            availability_zone: instance.attribute("ecs.availability-zone").map(str::to_string),
            capacity_provider_name: plan.providers.get(index).cloned(),
            last_status: if fargate || awsvpc { "PROVISIONING" } else { "PENDING" }.into(),
            desired_status: "RUNNING".into(),
            cpu: plan.demand.cpu.to_string(),
            memory: plan.demand.memory.to_string(),
            containers,
            created_at: now,
            group: plan.group.clone(),
            started_by: plan.started_by.clone(),
            launch_type: plan.launch_type.clone(),
            platform_version: fargate.then(|| plan.platform_version.clone().unwrap_or_else(|| "1.4.0".into())),
            platform_family: fargate.then(|| "Linux".to_string()),
            version: 1,
            tags: plan.tags.clone(),
            overrides: plan.overrides.clone(),
            attachments: vec![],
            connectivity: Some("CONNECTED".into()),
            connectivity_at: Some(now),
            health_status: UNKNOWN_HEALTH.into(),
            enable_execute_command: plan.enable_execute_command,
            ephemeral_storage: fargate.then(|| {
                plan.overrides
                    .get("ephemeralStorage")
                    .cloned()
                    .or_else(|| td.get("ephemeralStorage").cloned())
                    .unwrap_or_else(|| json!({"sizeInGiB": 20}))
            }),
            pull_started_at: None,
            pull_stopped_at: None,
            started_at: None,
            stopping_at: None,
            execution_stopped_at: None,
            stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            berth: TaskInternal {
                cluster: name.clone(),
                id,
                family: plan.td.family.clone(),
                revision: plan.td.revision,
                instance_id: Some(instance.berth.id.clone()),
                demand: plan.demand.clone(),
                reserved: true,
                agent_seen: false,
                agent_stopped: false,
                essential,
                health_checked,
            },
        }
    }

    /// One transaction: the new tasks, the instances they reserve resources
    /// on (each with what remains of it, guarded by the revision it was
    /// read at) and the client token.
    async fn commit_placement(
        &self,
        cluster: &str,
        reservations: &[(&InstanceRecord, Revision, &Resources)],
        tasks: &[TaskRecord],
        token: Option<(String, Revision, TokenRecord)>,
    ) -> Result<bool, AwsError> {
        let mut compares = vec![];
        let mut ops = vec![];
        for (rec, rev, remaining) in reservations {
            let mut rec = InstanceRecord::clone(rec);
            rec.remaining_resources = Resources::clone(remaining);
            rec.version += 1;
            let key = keys::instance(cluster, &rec.berth.id);
            compares.push(Compare::ModRevision(key.clone(), *rev));
            ops.push(Op::Put(key, typed::encode(&rec).map_err(AwsError::state_store)?));
        }
        for t in tasks {
            let key = keys::task(cluster, &t.berth.id);
            compares.push(Compare::Absent(key.clone()));
            ops.push(Op::Put(key, typed::encode(t).map_err(AwsError::state_store)?));
        }
        if let Some((key, rev, rec)) = token {
            compares.push(Compare::ModRevision(key.clone(), rev));
            ops.push(Op::Put(key, typed::encode(&rec).map_err(AwsError::state_store)?));
        }
        Ok(self
            .store
            .txn(compares, ops)
            .await
            .map_err(AwsError::state_store)?
            .succeeded)
    }

    async fn backoff(attempt: u32) {
        if attempt >= 3 {
            let ms = rand::random::<u64>() % (u64::from(attempt.min(20)) * 2 + 1);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }

    /// Launch type and capacity providers of a RunTask.
    pub(crate) fn launch_of(
        cluster: &ClusterRecord,
        launch_type: Option<&str>,
        strategy: &[CapacityProviderStrategyItem],
        count: usize,
    ) -> Result<(String, Vec<String>), AwsError> {
        match (launch_type, strategy.is_empty()) {
            (Some(_), false) => Err(AwsError::invalid_parameter(
                "Specifying both a launch type and capacity provider strategy is not supported.",
            )),
            (Some(lt @ ("EC2" | "FARGATE" | "EXTERNAL")), true) => Ok((lt.to_string(), vec![])),
            (Some(other), true) => Err(AwsError::invalid_parameter(format!(
                "Launch type {other} is not supported by Berth. Valid values: EC2, FARGATE, EXTERNAL."
            ))),
            (None, false) => {
                validate_strategy(strategy, &cluster.capacity_providers)?;
                Ok(("FARGATE".into(), split_by_strategy(strategy, count)))
            }
            (None, true) if !cluster.default_capacity_provider_strategy.is_empty() => Ok((
                "FARGATE".into(),
                split_by_strategy(&cluster.default_capacity_provider_strategy, count),
            )),
            (None, true) => Ok(("EC2".into(), vec![])),
        }
    }

    /// Checks that the task definition can run with the launch type. Berth
    /// runs FARGATE tasks on its own container instances: they must use the
    /// awsvpc network mode, as on Fargate.
    pub(crate) fn check_compatibility(td: &ResolvedTaskDefinition, launch_type: &str) -> Result<(), AwsError> {
        let unsupported =
            || AwsError::invalid_parameter(format!("Task definition does not support launch_type {launch_type}."));
        if let Some(compat) = td.value["compatibilities"].as_array()
            && !compat.is_empty()
            && !compat.iter().any(|c| c.as_str() == Some(launch_type))
        {
            return Err(unsupported());
        }
        if launch_type == "FARGATE" && td.value["networkMode"].as_str() != Some("awsvpc") {
            return Err(unsupported());
        }
        Ok(())
    }

    /// Reads a client token: `(revision, live record)`; expired tokens count
    /// as absent.
    async fn read_token(&self, key: &str) -> Result<(Revision, Option<TokenRecord>), AwsError> {
        match typed::get::<TokenRecord>(&*self.store, key)
            .await
            .map_err(AwsError::state_store)?
        {
            Some((rec, rev)) if now_epoch() - rec.created_at < CLIENT_TOKEN_TTL_SECS => Ok((rev, Some(rec))),
            Some((_, rev)) => Ok((rev, None)),
            None => Ok((0, None)),
        }
    }

    async fn tasks_by_arn(&self, cluster: &str, arns: &[String]) -> Result<Vec<Value>, AwsError> {
        let mut out = vec![];
        for arn in arns {
            if let Some((t, _)) = typed::get::<TaskRecord>(&*self.store, &keys::task(cluster, task_id_of(arn)))
                .await
                .map_err(AwsError::state_store)?
            {
                out.push(t.render(true));
            }
        }
        Ok(out)
    }

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

    /// Places `request.count` tasks of `plan` and reserves their resources
    /// in one transaction per attempt (read everything, place, commit
    /// guarded by the instances' revisions; on a conflict, again). With
    /// `only_instance` (a container instance id) only that instance is a
    /// candidate. With `token_key` the client token is written in the same
    /// transaction, and a token written meanwhile by another request wins.
    pub(crate) async fn place_tasks(
        &self,
        plan: &TaskPlan,
        request: &PlacementRequest,
        only_instance: Option<&str>,
        token_key: Option<&str>,
        fingerprint: &str,
    ) -> Result<Placed, AwsError> {
        let _timer = crate::placement_timing::PlacementTimer::start();
        let name = plan.cluster.cluster_name.clone();
        for attempt in 0..MAX_PLACEMENT_ATTEMPTS {
            let token = match token_key {
                Some(key) => match self.read_token(key).await? {
                    (_, Some(tok)) => return Ok(Placed::Token(tok)),
                    (rev, None) => Some((key.to_string(), rev)),
                },
                None => None,
            };
            let lock = self.view.placement_lock(&name);
            let placing = lock.lock().await;
            // The instances as shared by the cluster view: the scheduler
            // copies only the ones it places tasks on.
            let snapshot = self.synced_view().await?.placement_snapshot(&name);
            let candidates: &[PlacementEntry] = match only_instance {
                None => &snapshot,
                Some(id) => match snapshot.iter().position(|e| e.record.berth.id == id) {
                    Some(i) => &snapshot[i..=i],
                    None => {
                        return Ok(Placed::Tasks {
                            tasks: vec![],
                            failures: vec![],
                        });
                    }
                },
            };
            let (placement, updated) = {
                let mut rng = rand::thread_rng();
                berth_scheduler::place_shared(candidates, request, &mut rng)
            }
            .map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
            if placement.placements.is_empty() {
                return Ok(Placed::Tasks {
                    tasks: vec![],
                    failures: placement.failures,
                });
            }
            let now = now_epoch();
            let by_arn: HashMap<&str, &PlacementEntry> = updated
                .iter()
                .map(|(i, _)| (candidates[*i].record.container_instance_arn.as_str(), &candidates[*i]))
                .collect();
            let tasks: Vec<TaskRecord> = placement
                .placements
                .iter()
                .filter_map(|(index, arn)| Some(self.new_task(plan, &by_arn.get(arn.as_str())?.record, *index, now)))
                .collect();
            let reservations: Vec<(&InstanceRecord, Revision, &Resources)> = updated
                .iter()
                .map(|(i, view)| (&*candidates[*i].record, candidates[*i].revision, &view.remaining))
                .collect();
            let token = token.map(|(key, rev)| {
                (
                    key,
                    rev,
                    TokenRecord {
                        fingerprint: fingerprint.to_string(),
                        task_arns: tasks.iter().map(|t| t.task_arn.clone()).collect(),
                        created_at: now,
                    },
                )
            });
            if self.commit_placement(&name, &reservations, &tasks, token).await? {
                for t in &tasks {
                    tracing::info!(task = %t.task_arn, instance = ?t.container_instance_arn, "task placed");
                }
                return Ok(Placed::Tasks {
                    tasks,
                    failures: placement.failures,
                });
            }
            drop(placing);
            Self::backoff(attempt).await;
        }
        Err(AwsError::server(
            "Too many concurrent changes to the cluster's container instances; retry the request.",
        ))
    }

    async fn token_answer(&self, cluster: &str, tok: &TokenRecord, fingerprint: &str) -> Result<Value, AwsError> {
        if tok.fingerprint != fingerprint {
            return Err(AwsError::new(
                "ConflictException",
                400,
                format!(
                    "The clientToken is already in use with a different RunTask request. Existing tasks: {}",
                    tok.task_arns.join(", ")
                ),
            ));
        }
        Ok(json!({"tasks": self.tasks_by_arn(cluster, &tok.task_arns).await?, "failures": []}))
    }

    pub(crate) async fn start_task(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let input: StartTaskInput = decode(input)?;
        berth_core::ecs::check_execute_command(input.enable_execute_command)?;
        if input.container_instances.is_empty() || input.container_instances.len() > 10 {
            return Err(AwsError::invalid_parameter(
                "containerInstances must list between 1 and 10 container instances.",
            ));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name.clone();
        let td = self.resolve_task_definition(&input.task_definition).await?;
        Self::check_compatibility(&td, "EC2")?;
        berth_core::ecs::check_network_configuration(
            td.value["networkMode"].as_str(),
            input.network_configuration.as_ref(),
        )?;
        let constraints: Vec<PlacementConstraint> = td.value["placementConstraints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| serde_json::from_value(c.clone()).ok())
            .collect();
        let opts = CommonOptions {
            overrides: input.overrides.as_ref(),
            group: input.group.as_deref(),
            started_by: input.started_by.as_deref(),
            tags: &input.tags,
            propagate_tags: input.propagate_tags.as_deref(),
            managed_tags: input.enable_ecs_managed_tags.unwrap_or(false),
            enable_execute_command: input.enable_execute_command.unwrap_or(false),
        };
        let plan = self.plan(cluster, td, &opts, "EC2".into(), vec![], None)?;
        let request = PlacementRequest {
            demand: plan.demand.clone(),
            group: plan.group.clone(),
            family: plan.td.family.clone(),
            task_definition_arn: plan.td.arn.clone(),
            required_attributes: plan.required_attributes.clone(),
            constraints,
            strategies: vec![],
            count: 1,
        };
        for attempt in 0..MAX_PLACEMENT_ATTEMPTS {
            let lock = self.view.placement_lock(&name);
            let placing = lock.lock().await;
            let state = self.synced_view().await?.placement_state(&name);
            let mut views = state.views.clone();
            let mut failures = vec![];
            let mut tasks = vec![];
            let mut touched: BTreeSet<usize> = BTreeSet::new();
            let now = now_epoch();
            for (n, reference) in input.container_instances.iter().enumerate() {
                let id = instance_id_of(reference);
                let found = state.instances.iter().position(|(r, _)| {
                    r.berth.id == id && (!reference.starts_with("arn:") || &r.container_instance_arn == reference)
                });
                let Some(i) = found else {
                    failures.push(json!({"arn": self.instance_arn_for(&name, reference), "reason": "MISSING"}));
                    continue;
                };
                let rec = &state.instances[i].0;
                if rec.status != "ACTIVE" {
                    failures.push(json!({
                        "arn": rec.container_instance_arn,
                        "reason": if rec.status == "INACTIVE" { "MISSING" } else { rec.status.as_str() },
                        "detail": format!("The container instance is {}; only ACTIVE instances start tasks.", rec.status),
                    }));
                    continue;
                }
                let placement = {
                    let mut rng = rand::thread_rng();
                    berth_scheduler::place(std::slice::from_mut(&mut views[i]), &request, &mut rng)
                }
                .map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
                if placement.placements.is_empty() {
                    failures.extend(placement.failures.iter().map(failure_json));
                } else {
                    tasks.push(self.new_task(&plan, rec, n, now));
                    touched.insert(i);
                }
            }
            if tasks.is_empty() {
                return Ok(json!({"tasks": [], "failures": failures}));
            }
            let reservations: Vec<(&InstanceRecord, Revision, &Resources)> = touched
                .iter()
                .map(|&i| (&*state.instances[i].0, state.instances[i].1, &views[i].remaining))
                .collect();
            if self.commit_placement(&name, &reservations, &tasks, None).await? {
                let rendered: Vec<Value> = tasks.iter().map(|t| t.render(true)).collect();
                return Ok(json!({"tasks": rendered, "failures": failures}));
            }
            drop(placing);
            Self::backoff(attempt).await;
        }
        Err(AwsError::server(
            "Too many concurrent changes to the cluster's container instances; retry the request.",
        ))
    }

    /// Read-modify-write of one task. `f` changes the record and says
    /// whether it changed anything; it may run several times. When the
    /// task ends up STOPPED while holding a reservation, the reservation is
    /// given back to its instance in the same transaction.
    pub(crate) async fn modify_task<F>(&self, cluster: &str, id: &str, mut f: F) -> Result<Option<TaskRecord>, AwsError>
    where
        F: FnMut(&mut TaskRecord) -> Result<bool, AwsError>,
    {
        let key = keys::task(cluster, id);
        loop {
            let Some((mut rec, rev)) = typed::get::<TaskRecord>(&*self.store, &key)
                .await
                .map_err(AwsError::state_store)?
            else {
                return Ok(None);
            };
            if !f(&mut rec)? {
                return Ok(Some(rec));
            }
            let mut compares = vec![Compare::ModRevision(key.clone(), rev)];
            let mut ops = vec![];
            if rec.last_status == "STOPPED" && rec.berth.reserved {
                rec.berth.reserved = false;
                if let Some(iid) = rec.berth.instance_id.clone() {
                    let ikey = keys::instance(cluster, &iid);
                    if let Some((mut inst, irev)) = typed::get::<InstanceRecord>(&*self.store, &ikey)
                        .await
                        .map_err(AwsError::state_store)?
                    {
                        let mut view = InstanceView {
                            registered: inst.registered_resources.clone(),
                            remaining: inst.remaining_resources.clone(),
                            ..Default::default()
                        };
                        berth_scheduler::release(&mut view, &rec.berth.demand);
                        inst.remaining_resources = view.remaining;
                        inst.version += 1;
                        compares.push(Compare::ModRevision(ikey.clone(), irev));
                        ops.push(Op::Put(ikey, typed::encode(&inst).map_err(AwsError::state_store)?));
                    }
                }
            }
            rec.version += 1;
            ops.push(Op::Put(
                key.clone(),
                typed::encode(&rec).map_err(AwsError::state_store)?,
            ));
            if self
                .store
                .txn(compares, ops)
                .await
                .map_err(AwsError::state_store)?
                .succeeded
            {
                return Ok(Some(rec));
            }
        }
    }

    /// Marks a task STOPPED at once (no agent involved) and releases its
    /// resources. Returns the record, or None when there is no such task.
    pub(crate) async fn stop_task_now(
        &self,
        cluster: &str,
        id: &str,
        code: &str,
        reason: &str,
    ) -> Result<Option<TaskRecord>, AwsError> {
        self.modify_task(cluster, id, |t| {
            if t.last_status == "STOPPED" {
                return Ok(false);
            }
            t.mark_stopped(now_epoch(), code, reason);
            Ok(true)
        })
        .await
    }

    /// Asks for a task to stop: desired STOPPED with `code` and `reason`;
    /// STOPPED at once when no agent can still stop it (its instance is
    /// gone or lost, or its agent never saw it). `clear_tags` drops its
    /// tags (StopTask does).
    pub(crate) async fn request_stop(
        &self,
        cluster: &str,
        task: &TaskRecord,
        code: &str,
        reason: &str,
        clear_tags: bool,
    ) -> Result<Option<TaskRecord>, AwsError> {
        let agent_gone = match &task.berth.instance_id {
            None => true,
            Some(iid) => match typed::get::<InstanceRecord>(&*self.store, &keys::instance(cluster, iid))
                .await
                .map_err(AwsError::state_store)?
            {
                None => true,
                Some((inst, _)) => {
                    !inst.is_registered()
                        || (!inst.agent_connected
                            && inst
                                .berth
                                .disconnected_at
                                .is_some_and(|d| now_epoch() - d >= self.agents.grace_period().as_secs_f64()))
                }
            },
        };
        self.modify_task(cluster, &task.berth.id, |t| {
            let mut changed = false;
            let now = now_epoch();
            if t.desired_status != "STOPPED" {
                t.desired_status = "STOPPED".into();
                t.stopping_at.get_or_insert(now);
                t.stop_code = Some(code.into());
                t.stopped_reason = Some(reason.into());
                if clear_tags {
                    // "Any tags associated with the task will be deleted."
                    t.tags.clear();
                }
                changed = true;
            }
            if t.last_status != "STOPPED" && (agent_gone || !t.berth.agent_seen) {
                t.mark_stopped(now, code, reason);
                changed = true;
            }
            Ok(changed)
        })
        .await
    }

    pub(crate) async fn stop_task(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let input: StopTaskInput = decode(input)?;
        if input.reason.as_ref().is_some_and(|r| r.len() > 1024) {
            return Err(AwsError::invalid_parameter("reason must be at most 1024 characters."));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let id = task_id_of(&input.task).to_string();
        let not_found = || AwsError::invalid_parameter("The referenced task was not found.");
        let (task, _) = typed::get::<TaskRecord>(&*self.store, &keys::task(&name, &id))
            .await
            .map_err(AwsError::state_store)?
            .ok_or_else(not_found)?;
        if input.task.starts_with("arn:") && task.task_arn != input.task && !input.task.ends_with(&format!("task/{id}"))
        {
            return Err(not_found());
        }
        let reason = input.reason.clone().unwrap_or_else(|| "Task stopped by user".into());
        let rec = self
            .request_stop(&name, &task, "UserInitiated", &reason, true)
            .await?
            .ok_or_else(not_found)?;
        tracing::info!(task = %rec.task_arn, last = %rec.last_status, "task stop requested");
        Ok(json!({"task": rec.render(true)}))
    }

    pub(crate) async fn describe_tasks(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let input: DescribeTasksInput = decode(input)?;
        for i in &input.include {
            if i != "TAGS" {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid include value: {i}. Valid values: TAGS."
                )));
            }
        }
        if input.tasks.is_empty() || input.tasks.len() > 100 {
            return Err(AwsError::invalid_parameter("tasks must list between 1 and 100 tasks."));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let include_tags = !input.include.is_empty();
        let mut tasks = vec![];
        let mut failures = vec![];
        for reference in &input.tasks {
            let id = task_id_of(reference);
            let found = if id.is_empty() {
                None
            } else {
                typed::get::<TaskRecord>(&*self.store, &keys::task(&name, id))
                    .await
                    .map_err(AwsError::state_store)?
                    .map(|(t, _)| t)
                    .filter(|t| {
                        !reference.starts_with("arn:")
                            || &t.task_arn == reference
                            || reference.ends_with(&format!("task/{id}"))
                    })
            };
            match found {
                Some(t) => tasks.push(t.render(include_tags)),
                None => failures.push(json!({
                    "arn": if reference.starts_with("arn:") { reference.clone() } else { self.scope.task_arn(&name, reference) },
                    "reason": "MISSING",
                })),
            }
        }
        Ok(json!({"tasks": tasks, "failures": failures}))
    }

    pub(crate) async fn list_tasks(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let input: ListTasksInput = decode(input)?;
        let desired = input.desired_status.clone().unwrap_or_else(|| "RUNNING".into());
        if !matches!(desired.as_str(), "RUNNING" | "PENDING" | "STOPPED") {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid desiredStatus '{desired}'. Valid values: RUNNING, PENDING, STOPPED."
            )));
        }
        if let Some(lt) = &input.launch_type
            && !matches!(lt.as_str(), "EC2" | "FARGATE" | "EXTERNAL" | "MANAGED_INSTANCES")
        {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid launchType '{lt}'. Valid values: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES."
            )));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let instance_id = input.container_instance.as_deref().map(instance_id_of);
        let service_group = input.service_name.as_deref().map(|s| {
            let s = if s.starts_with("arn:") {
                s.rsplit('/').next().unwrap_or(s)
            } else {
                s
            };
            format!("service:{s}")
        });
        let tasks = self.cluster_tasks(&name).await?;
        let keyed: Vec<(String, String)> = tasks
            .into_iter()
            .filter(|t| t.desired_status == desired)
            .filter(|t| instance_id.is_none_or(|i| t.berth.instance_id.as_deref() == Some(i)))
            .filter(|t| input.family.as_ref().is_none_or(|f| &t.berth.family == f))
            .filter(|t| {
                input
                    .started_by
                    .as_ref()
                    .is_none_or(|s| t.started_by.as_ref() == Some(s))
            })
            .filter(|t| service_group.as_ref().is_none_or(|g| &t.group == g))
            .filter(|t| input.launch_type.as_ref().is_none_or(|l| &t.launch_type == l))
            .map(|t| (t.berth.id.clone(), t.task_arn.clone()))
            .collect();
        let (page, next) = paginate(
            keyed,
            |(id, _)| id.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            100,
        )?;
        Ok(with_next_token(
            json!({"taskArns": page.into_iter().map(|(_, arn)| arn).collect::<Vec<_>>()}),
            next,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::ecs::TaskStatus;

    #[test]
    fn status_order() {
        let order = [
            "PROVISIONING",
            "PENDING",
            "ACTIVATING",
            "RUNNING",
            "DEACTIVATING",
            "STOPPING",
            "DEPROVISIONING",
            "STOPPED",
        ];
        for w in order.windows(2) {
            assert!(TaskStatus::rank_of(w[0]) < TaskStatus::rank_of(w[1]));
        }
        assert_eq!(TaskStatus::rank_of("BOGUS"), None);
    }

    #[test]
    fn references() {
        assert_eq!(task_id_of("arn:aws:ecs:us-east-1:1:task/c/abc"), "abc");
        assert_eq!(task_id_of("arn:aws:ecs:us-east-1:1:task/abc"), "abc");
        assert_eq!(task_id_of("abc"), "abc");
        assert_eq!(
            instance_id_of("arn:aws:ecs:us-east-1:1:container-instance/c/xyz"),
            "xyz"
        );
    }

    #[test]
    fn cpu_and_memory_strings() {
        assert_eq!(task_cpu_units("256").unwrap(), 256);
        assert_eq!(task_cpu_units("1 vCPU").unwrap(), 1024);
        assert_eq!(task_cpu_units("0.25 vcpu").unwrap(), 256);
        assert_eq!(task_memory_mib("512").unwrap(), 512);
        assert_eq!(task_memory_mib("2 GB").unwrap(), 2048);
        assert_eq!(task_memory_mib("0.5GB").unwrap(), 512);
        assert!(task_cpu_units("lots").is_err());
        assert!(task_memory_mib("-1 GB").is_err());
        // AWS's range starts at 128 CPU units: 0 is refused, as at
        // registration.
        assert!(task_cpu_units("0").is_err());
        assert!(task_memory_mib("0").is_err());
    }

    fn td() -> Value {
        json!({
            "family": "web",
            "networkMode": "bridge",
            "containerDefinitions": [
                {"name": "app", "image": "app", "cpu": 128, "memory": 256,
                 "portMappings": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81},
                                  {"containerPort": 53, "hostPort": 53, "protocol": "udp"}]},
                {"name": "side", "image": "side", "memoryReservation": 64, "essential": false}
            ]
        })
    }

    #[test]
    fn sizing_sums_containers_and_fixed_ports() {
        let (d, sizes) = size_task(&td(), &TaskOverrideIn::default()).unwrap();
        assert_eq!((d.cpu, d.memory), (128, 320));
        assert_eq!(d.ports, [8080].into_iter().collect());
        assert_eq!(d.ports_udp, [53].into_iter().collect());
        assert_eq!(sizes[1].memory_reservation, Some(64));
        // Overrides change the sums; task-level values win.
        let o = TaskOverrideIn {
            container_overrides: vec![ContainerOverrideIn {
                name: Some("app".into()),
                memory: Some(1024),
                ..Default::default()
            }],
            cpu: Some("1 vCPU".into()),
            memory: None,
        };
        let (d, _) = size_task(&td(), &o).unwrap();
        assert_eq!((d.cpu, d.memory), (1024, 1088));
        // Unknown container, duplicated override, reservation above limit.
        let bad = |name: &str, mem: Option<i64>, res: Option<i64>| TaskOverrideIn {
            container_overrides: vec![ContainerOverrideIn {
                name: Some(name.into()),
                memory: mem,
                memory_reservation: res,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(size_task(&td(), &bad("nope", None, None)).is_err());
        assert!(size_task(&td(), &bad("app", Some(100), Some(200))).is_err());
        let mut dup = bad("app", None, None);
        dup.container_overrides.push(dup.container_overrides[0].clone());
        assert!(size_task(&td(), &dup).is_err());
        // host mode (and awsvpc, which Berth hosts publish the same way)
        // reserves the container port.
        let mut host = td();
        host["networkMode"] = json!("host");
        let (d, _) = size_task(&host, &TaskOverrideIn::default()).unwrap();
        assert_eq!(d.ports, [8080, 81].into_iter().collect());
        let mut vpc = td();
        vpc["networkMode"] = json!("awsvpc");
        assert_eq!(
            size_task(&vpc, &TaskOverrideIn::default()).unwrap().0.ports,
            [8080, 81].into_iter().collect()
        );
    }

    #[test]
    fn overrides_render_every_container() {
        let o = render_overrides(
            &td(),
            Some(&json!({"containerOverrides": [{"name": "side", "command": ["x"]}], "taskRoleArn": "r"})),
        );
        assert_eq!(
            o["containerOverrides"],
            json!([{"name": "app"}, {"name": "side", "command": ["x"]}])
        );
        assert_eq!(o["taskRoleArn"], "r");
        assert_eq!(o["inferenceAcceleratorOverrides"], json!([]));
    }

    #[test]
    fn strategy_split() {
        let item = |p: &str, w: i64, b: i64| CapacityProviderStrategyItem {
            capacity_provider: p.into(),
            weight: w,
            base: b,
        };
        let s = split_by_strategy(&[item("FARGATE", 1, 2), item("FARGATE_SPOT", 3, 0)], 6);
        assert_eq!(&s[..2], &["FARGATE", "FARGATE"]);
        assert_eq!(s.iter().filter(|p| *p == "FARGATE_SPOT").count(), 3);
        assert_eq!(s.len(), 6);
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": null}});
        let b = json!({"a": {"x": null, "y": [1, 2]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_ne!(canonical_json(&a), canonical_json(&json!({"b": 2})));
    }

    #[test]
    fn tokens_and_started_by() {
        assert!(validate_client_token("abc-123").is_ok());
        assert!(validate_client_token("has space").is_err());
        assert!(validate_client_token(&"x".repeat(65)).is_err());
        assert!(validate_started_by("ecs-svc/123_a").is_ok());
        assert!(validate_started_by("bad!").is_err());
    }
}
