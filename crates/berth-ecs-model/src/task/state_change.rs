//! What an agent's report does to a task record (pure): statuses only move
//! forward, a report for a task already STOPPED changes nothing visible
//! (it only records that the agent knows the task), a container's health
//! and the task's health derived from its essential containers, the stop
//! code and reason of a task that stops.

use super::records::{ContainerRecord, TaskRecord};
use crate::status::{ContainerStatus, HealthStatus, Recorded, StatusName, TaskStopCode};
use crate::task_status::TaskStatus;
use berth_agent_protocol::{ContainerStateChange, TaskStateChange};
use berth_proto::AwsError;
use serde_json::Value;

/// An awsJson timestamp: epoch seconds (number) or RFC 3339 text.
pub fn timestamp(v: &Value) -> Result<Option<f64>, AwsError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) => {
            if let Ok(n) = s.parse::<f64>() {
                return Ok(Some(n));
            }
            let t = berth_core::time::parse_rfc3339(s)
                .ok_or_else(|| AwsError::serialization(format!("Invalid timestamp '{s}'.")))?;
            Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0))
        }
        other => Err(AwsError::serialization(format!("Invalid timestamp {other}."))),
    }
}

fn set_once(slot: &mut Option<f64>, v: Option<f64>) -> bool {
    match (slot.is_none(), v) {
        (true, Some(v)) => {
            *slot = Some(v);
            true
        }
        _ => false,
    }
}

fn set_if_new<T: PartialEq + Clone>(slot: &mut Option<T>, v: &Option<T>) -> bool {
    match v {
        Some(v) if slot.as_ref() != Some(v) => {
            *slot = Some(v.clone());
            true
        }
        _ => false,
    }
}

/// The task's health from its essential containers': UNHEALTHY if any
/// essential container is, HEALTHY if every essential container with a
/// health check is, otherwise UNKNOWN.
pub fn derive_health(t: &TaskRecord) -> HealthStatus {
    let essential = |name: &str| t.berth.essential.iter().any(|e| e == name);
    let checked: Vec<_> = t
        .containers
        .iter()
        .filter(|c| essential(&c.name) && t.berth.health_checked.iter().any(|h| h == &c.name))
        .collect();
    let is = |c: &ContainerRecord, h: HealthStatus| c.health_status.as_ref().is_some_and(|s| *s == h);
    if t.containers
        .iter()
        .any(|c| essential(&c.name) && is(c, HealthStatus::Unhealthy))
    {
        HealthStatus::Unhealthy
    } else if !checked.is_empty() && checked.iter().all(|c| is(c, HealthStatus::Healthy)) {
        HealthStatus::Healthy
    } else {
        HealthStatus::Unknown
    }
}

/// Applies one container report. Unknown containers are an error.
pub fn apply_container_change(t: &mut TaskRecord, ch: &ContainerStateChange) -> Result<bool, AwsError> {
    let name = ch
        .container_name
        .as_deref()
        .ok_or_else(|| AwsError::invalid_parameter("containerName is required."))?;
    let status = ch
        .status
        .as_deref()
        .map(|s| {
            ContainerStatus::parse(s)
                .ok_or_else(|| AwsError::invalid_parameter(format!("Invalid container status '{s}'.")))
        })
        .transpose()?;
    let health: Option<Recorded<HealthStatus>> = ch
        .health_status
        .as_deref()
        .map(|h| {
            HealthStatus::parse(h)
                .map(Recorded::from)
                .ok_or_else(|| AwsError::invalid_parameter(format!("Invalid container healthStatus '{h}'.")))
        })
        .transpose()?;
    let task_arn = t.task_arn.clone();
    let c = t
        .containers
        .iter_mut()
        .find(|c| c.name == name)
        .ok_or_else(|| AwsError::invalid_parameter(format!("Container {name} is not part of task {task_arn}.")))?;
    let mut changed = false;
    if let Some(s) = status
        && Some(s.rank()) > c.last_status.known().map(ContainerStatus::rank)
    {
        c.last_status = s.into();
        changed = true;
    }
    changed |= set_if_new(&mut c.runtime_id, &ch.runtime_id);
    changed |= set_if_new(&mut c.image_digest, &ch.image_digest);
    if c.exit_code.is_none() {
        changed |= set_if_new(&mut c.exit_code, &ch.exit_code);
    }
    changed |= set_if_new(&mut c.reason, &ch.reason);
    if let Some(nb) = &ch.network_bindings {
        // Kept as reported (the record holds the JSON DescribeTasks returns).
        let nb: Vec<Value> = nb.iter().map(|b| serde_json::to_value(b).unwrap_or_default()).collect();
        if c.network_bindings != nb {
            c.network_bindings = nb;
            changed = true;
        }
    }
    if c.last_status == ContainerStatus::Stopped {
        // A stopped container has no health any more.
        if c.health_status.as_ref().is_some_and(|h| *h != HealthStatus::Unknown) && health.is_none() {
            c.health_status = Some(HealthStatus::Unknown.into());
            changed = true;
        }
    } else {
        changed |= set_if_new(&mut c.health_status, &health);
    }
    let health = derive_health(t);
    if t.health_status != health {
        t.health_status = health.into();
        changed = true;
    }
    Ok(changed)
}

/// Applies a task report at time `now`. Returns whether the record changed.
pub fn apply_task_change(t: &mut TaskRecord, ch: &TaskStateChange, now: f64) -> Result<bool, AwsError> {
    if let Some(s) = &ch.status
        && s.parse::<TaskStatus>().is_err()
    {
        return Err(AwsError::invalid_parameter(format!("Invalid task status '{s}'.")));
    }
    let stop_code = ch
        .stop_code
        .as_deref()
        .map(|c| TaskStopCode::parse(c).ok_or_else(|| AwsError::invalid_parameter(format!("Invalid stopCode '{c}'."))))
        .transpose()?;
    let pull_started = ch.pull_started_at.as_ref().map(timestamp).transpose()?.flatten();
    let pull_stopped = ch.pull_stopped_at.as_ref().map(timestamp).transpose()?.flatten();
    let exec_stopped = ch.execution_stopped_at.as_ref().map(timestamp).transpose()?.flatten();
    let mut changed = false;
    if !t.berth.agent_seen {
        t.berth.agent_seen = true;
        changed = true;
    }
    if t.last_status == TaskStatus::Stopped {
        // Acknowledged and ignored, except for what the agent now knows:
        // a STOPPED report ends its part; any other means it still runs
        // something of the task and must be told to stop it.
        if let Some(s) = &ch.status {
            let stopped = s.parse() == Ok(TaskStatus::Stopped);
            if t.berth.agent_stopped != stopped {
                t.berth.agent_stopped = stopped;
                changed = true;
            }
        }
        return Ok(changed);
    }
    for c in &ch.containers {
        changed |= apply_container_change(t, c)?;
    }
    if let Some(ni) = &ch.network_interface {
        changed |= t.attach_interface(ni);
    }
    changed |= set_once(&mut t.pull_started_at, pull_started);
    changed |= set_once(&mut t.pull_stopped_at, pull_stopped);
    // Checked above: a reported status is one of TaskStatus.
    let Some(status) = ch.status.as_deref().and_then(|s| s.parse::<TaskStatus>().ok()) else {
        return Ok(changed);
    };
    if Some(status.rank()) <= t.last_status.known().map(TaskStatus::rank) {
        return Ok(changed);
    }
    changed = true;
    let rank = status.rank();
    if status == TaskStatus::Running {
        t.started_at.get_or_insert(now);
    }
    if rank >= TaskStatus::Deactivating.rank() {
        t.desired_status = TaskStatus::Stopped.into();
        t.stopping_at.get_or_insert(now);
    }
    if status == TaskStatus::Stopped {
        set_once(&mut t.execution_stopped_at, exec_stopped);
        let derived = if t.started_at.is_some() {
            TaskStopCode::EssentialContainerExited
        } else {
            TaskStopCode::TaskFailedToStart
        };
        let code = stop_code.unwrap_or(derived);
        let default_reason = if code == TaskStopCode::TaskFailedToStart {
            "Task failed to start"
        } else {
            "Essential container in task exited"
        };
        let reason = ch.reason.clone().unwrap_or_else(|| default_reason.to_string());
        t.mark_stopped(now, code, &reason);
        t.berth.agent_stopped = true;
        let health = derive_health(t);
        t.health_status = health.into();
    } else {
        t.last_status = status.into();
    }
    Ok(changed)
}

#[cfg(test)]
mod tests;
