//! The pure rules of running tasks: what a task takes from its instance
//! (sizing with overrides), how overrides are shown, how a capacity
//! provider strategy spreads tasks, launch type (of a request and of a
//! service deployment) and compatibility, and
//! the checks on client tokens and `startedBy`.

use crate::cluster::{CapacityProviderStrategyItem, ClusterRecord, validate_strategy};
use crate::taskdef::{normalize_task_cpu, normalize_task_memory};
use berth_proto::AwsError;
use berth_scheduler::TaskDemand;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Task-level CPU units (`"256"`, `"0.25 vCPU"`): the task definition's
/// rule ([`normalize_task_cpu`]), which fits a `u32` (it caps at `i32::MAX`).
pub fn task_cpu_units(s: &str) -> Result<u32, AwsError> {
    normalize_task_cpu(s).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// Task-level memory in MiB (`"512"`, `"1 GB"`): [`normalize_task_memory`].
pub fn task_memory_mib(s: &str) -> Result<u32, AwsError> {
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// How long a RunTask `clientToken` is remembered.
pub const CLIENT_TOKEN_TTL_SECS: f64 = 12.0 * 3600.0;

/// A stored RunTask `clientToken`: the request it was used with (its
/// canonical JSON without the token) and the tasks that request started.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    fingerprint: String,
    task_arns: Vec<String>,
    created_at: f64,
}

impl TokenRecord {
    pub fn new(fingerprint: &str, task_arns: Vec<String>, now: f64) -> Self {
        TokenRecord {
            fingerprint: fingerprint.to_string(),
            task_arns,
            created_at: now,
        }
    }

    /// Whether the token is still remembered at `now`.
    pub fn live_at(&self, now: f64) -> bool {
        now - self.created_at < CLIENT_TOKEN_TTL_SECS
    }

    /// A retry with the token: the same request (`fingerprint`) answers
    /// with the tasks it started; another request is a conflict.
    pub fn answer_for(&self, fingerprint: &str) -> Result<&[String], AwsError> {
        if self.fingerprint != fingerprint {
            return Err(AwsError::new(
                "ConflictException",
                400,
                format!(
                    "The clientToken is already in use with a different RunTask request. Existing tasks: {}",
                    self.task_arns.join(", ")
                ),
            ));
        }
        Ok(&self.task_arns)
    }
}

pub fn validate_client_token(t: &str) -> Result<(), AwsError> {
    if t.is_empty() || t.len() > 64 || !t.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(AwsError::invalid_parameter(
            "clientToken must be 1-64 characters in the range 33-126 (printable ASCII without spaces).",
        ));
    }
    Ok(())
}

pub fn validate_started_by(s: &str) -> Result<(), AwsError> {
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

/// Launch type and capacity providers of a RunTask (or a new service):
/// the launch type asked for, else FARGATE over the strategy asked for or
/// the cluster's default one, else EC2.
pub fn launch_of(
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

/// Launch type and capacity provider of each of `count` new tasks of a
/// service deployment (resolved when the deployment was made): its launch
/// type, else FARGATE over its strategy, else EC2.
pub fn deployment_launch(
    launch_type: Option<&str>,
    strategy: &[CapacityProviderStrategyItem],
    count: usize,
) -> (String, Vec<String>) {
    match launch_type {
        Some(lt) => (lt.to_string(), vec![]),
        None if !strategy.is_empty() => ("FARGATE".to_string(), split_by_strategy(strategy, count)),
        None => ("EC2".to_string(), vec![]),
    }
}

/// Checks that the task definition (`td`, as stored) can run with the
/// launch type. Berth runs FARGATE tasks on its own container instances:
/// they must use the awsvpc network mode, as on Fargate.
pub fn check_compatibility(td: &Value, launch_type: &str) -> Result<(), AwsError> {
    let unsupported =
        || AwsError::invalid_parameter(format!("Task definition does not support launch_type {launch_type}."));
    if let Some(compat) = td["compatibilities"].as_array()
        && !compat.is_empty()
        && !compat.iter().any(|c| c.as_str() == Some(launch_type))
    {
        return Err(unsupported());
    }
    if launch_type == "FARGATE" && td["networkMode"].as_str() != Some("awsvpc") {
        return Err(unsupported());
    }
    Ok(())
}
