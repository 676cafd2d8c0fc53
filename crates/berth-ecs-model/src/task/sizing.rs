//! What a task takes from its instance: task-level CPU and memory, each
//! container's size after overrides, the fixed host ports; and the
//! overrides as DescribeTasks shows them.

use crate::taskdef::{normalize_task_cpu, normalize_task_memory};
use berth_proto::AwsError;
use berth_scheduler::TaskDemand;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

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
        // As ECS places: the soft limit when there is one, else the hard one.
        demand.memory = demand.memory.saturating_add(reservation.or(memory).unwrap_or(0));
        for pm in d["portMappings"].as_array().into_iter().flatten() {
            let container_port = pm["containerPort"].as_u64();
            let host = match network_mode {
                "host" => pm["hostPort"].as_u64().filter(|p| *p != 0).or(container_port),
                // Each awsvpc task has its own address: nothing on the host's.
                "awsvpc" => None,
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
