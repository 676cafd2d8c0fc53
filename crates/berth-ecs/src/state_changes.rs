//! What agents report: SubmitTaskStateChange, SubmitContainerStateChange
//! and Berth's BerthHeartbeat (docs/agent-protocol.md).
//!
//! Statuses only move forward; a report for a task that is STOPPED already
//! is acknowledged and changes nothing visible (it only records that the
//! agent knows the task, so retries are safe). Reaching STOPPED releases the
//! instance's reservation in the same transaction.

use crate::agent_identity::{self, Caller};
use crate::authz;
use crate::operation::Operation;
use crate::references::cluster_name;
use crate::tasks::{ContainerRecord, TaskRecord, task_id_of};
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_agent_protocol::{
    Acknowledgment, ContainerStateChange, Heartbeat, SingleContainerStateChange, TaskStateChange,
};
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::{ContainerStatus, HealthStatus, Recorded, StatusName, TaskStatus};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde_json::{Value, json};

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
    if let Some(c) = &ch.stop_code
        && !STOP_CODES.contains(&c.as_str())
    {
        return Err(AwsError::invalid_parameter(format!("Invalid stopCode '{c}'.")));
    }
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
            "EssentialContainerExited"
        } else {
            "TaskFailedToStart"
        };
        let code = ch.stop_code.as_deref().unwrap_or(derived);
        let default_reason = if code == "TaskFailedToStart" {
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

/// The ECS `TaskStopCode` values.
const STOP_CODES: [&str; 7] = [
    "TaskFailedToStart",
    "EssentialContainerExited",
    "UserInitiated",
    "ServiceSchedulerInitiated",
    "SpotInterruption",
    "TerminationNotice",
    "InfrastructureHealth",
];

impl Ecs {
    /// Refuses a report about `task` unless `caller` is the agent of the
    /// instance the task is placed on (or root). A task not placed on any
    /// instance has no agent.
    pub(crate) async fn check_task_agent(
        &self,
        caller: &Caller,
        cluster: &str,
        task: &TaskRecord,
        action: &str,
    ) -> Result<(), AwsError> {
        if caller.is_root {
            return Ok(());
        }
        let owner = match task.berth.instance_id.as_deref() {
            Some(iid) => self
                .stored_instance(cluster, iid)
                .await?
                .and_then(|(rec, _)| rec.berth.owner),
            None => None,
        };
        let instance = task.container_instance_arn.as_deref().unwrap_or(&task.task_arn);
        agent_identity::check(owner.as_ref(), caller, action, instance)
    }

    async fn apply_change(
        &self,
        ctx: &RequestContext,
        action: &str,
        cluster: Option<&str>,
        task: Option<&str>,
        ch: TaskStateChange,
    ) -> Result<Value, AwsError> {
        let name = cluster_name(cluster)?;
        let reference = task.ok_or_else(|| AwsError::invalid_parameter("task is required."))?;
        let id = task_id_of(reference).to_string();
        let not_found = || AwsError::invalid_parameter("The referenced task was not found.");
        if id.is_empty() || id.contains('/') {
            return Err(not_found());
        }
        // The instance a task is placed on never changes: checking its
        // agent before the update holds for the update.
        let caller = self.caller(&ctx.principal);
        if !caller.is_root {
            let (current, _) = typed::get::<TaskRecord>(&*self.store, &keys::task(&name, &id))
                .await
                .map_err(AwsError::state_store)?
                .ok_or_else(not_found)?;
            self.check_task_agent(&caller, &name, &current, action).await?;
        }
        let rec = self
            .modify_task(&name, &id, |t| apply_task_change(t, &ch, now_epoch()))
            .await?
            .ok_or_else(not_found)?;
        tracing::debug!(task = %rec.task_arn, status = %rec.last_status, "task state change");
        Ok(json!(Acknowledgment::ack()))
    }

    pub(crate) async fn submit_task_state_change(
        &self,
        ctx: &RequestContext,
        ch: TaskStateChange,
    ) -> Result<Value, AwsError> {
        let (cluster, task) = (ch.cluster.clone(), ch.task.clone());
        self.apply_change(
            ctx,
            "ecs:SubmitTaskStateChange",
            cluster.as_deref(),
            task.as_deref(),
            ch,
        )
        .await
    }

    pub(crate) async fn submit_container_state_change(
        &self,
        ctx: &RequestContext,
        i: SingleContainerStateChange,
    ) -> Result<Value, AwsError> {
        let ch = TaskStateChange {
            containers: vec![i.as_container_change()],
            ..Default::default()
        };
        self.apply_change(
            ctx,
            "ecs:SubmitContainerStateChange",
            i.cluster.as_deref(),
            i.task.as_deref(),
            ch,
        )
        .await
    }

    /// `BerthHeartbeat`: cheap, in memory (besides one read of the
    /// instance, to check the caller is its agent); the store is written
    /// only when `agentConnected` has to change.
    pub(crate) async fn berth_heartbeat(&self, ctx: &RequestContext, input: Heartbeat) -> Result<Value, AwsError> {
        let name = cluster_name(input.cluster.as_deref())?;
        let id = crate::tasks::instance_id_of(&input.container_instance).to_string();
        let caller = self.caller(&ctx.principal);
        if !caller.is_root {
            let not_found = || Self::instance_not_found(&input.container_instance, &name);
            let (rec, _) = self
                .get_instance(&name, &input.container_instance)
                .await?
                .ok_or_else(not_found)?;
            agent_identity::check(
                rec.berth.owner.as_ref(),
                &caller,
                "ecs:BerthHeartbeat",
                &rec.container_instance_arn,
            )?;
        }
        if !self.agents.heartbeat(&name, &id) {
            // First heartbeat this process sees for the instance: check it.
            let (rec, _) = self
                .get_instance(&name, &input.container_instance)
                .await?
                .ok_or_else(|| Self::instance_not_found(&input.container_instance, &name))?;
            if !rec.is_registered() {
                return Err(AwsError::client(format!(
                    "The container instance {} was deregistered.",
                    rec.container_instance_arn
                )));
            }
            self.agents.first_heartbeat(&name, &id);
            self.sync_connection(&name, &id).await?;
        }
        Ok(json!(Acknowledgment::ack()))
    }
}

/// SubmitTaskStateChange: on its cluster.
pub(crate) struct SubmitTaskStateChange;

#[async_trait]
impl Operation<Ecs> for SubmitTaskStateChange {
    const NAME: &'static str = "SubmitTaskStateChange";
    type Input = TaskStateChange;

    fn resources(scope: &Scope, input: &TaskStateChange) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: TaskStateChange) -> Result<Value, AwsError> {
        ecs.submit_task_state_change(ctx, input).await
    }
}

/// SubmitContainerStateChange: on its cluster.
pub(crate) struct SubmitContainerStateChange;

#[async_trait]
impl Operation<Ecs> for SubmitContainerStateChange {
    const NAME: &'static str = "SubmitContainerStateChange";
    type Input = SingleContainerStateChange;

    fn resources(scope: &Scope, input: &SingleContainerStateChange) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: SingleContainerStateChange) -> Result<Value, AwsError> {
        ecs.submit_container_state_change(ctx, input).await
    }
}

/// BerthHeartbeat (Berth agents): on the agent's container instance.
pub(crate) struct BerthHeartbeat;

#[async_trait]
impl Operation<Ecs> for BerthHeartbeat {
    const NAME: &'static str = "BerthHeartbeat";
    type Input = Heartbeat;

    fn resources(scope: &Scope, input: &Heartbeat) -> Vec<AuthzResource> {
        vec![authz::instance_resource(
            scope,
            input.cluster.as_deref(),
            &input.container_instance,
        )]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: Heartbeat) -> Result<Value, AwsError> {
        ecs.berth_heartbeat(ctx, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::{ContainerRecord, ContainerSize, TaskInternal};

    fn container(name: &str, health: bool) -> ContainerRecord {
        let size = ContainerSize {
            name: name.into(),
            ..ContainerSize::default()
        };
        let mut c = ContainerRecord::pending(format!("c/{name}"), "t".into(), "img".into(), &size);
        if !health {
            c.health_status = None;
        }
        c
    }

    fn task() -> TaskRecord {
        serde_json::from_value(json!({
            "taskArn": "t", "clusterArn": "c", "taskDefinitionArn": "td", "lastStatus": "PENDING",
            "desiredStatus": "RUNNING", "cpu": "0", "memory": "0", "containers": [], "createdAt": 1.0,
            "group": "family:x", "launchType": "EC2", "version": 1, "healthStatus": "UNKNOWN",
            "berth": {"cluster": "c", "id": "t"}
        }))
        .map(|mut t: TaskRecord| {
            t.containers = vec![container("app", true), container("side", false)];
            t.berth = TaskInternal {
                essential: vec!["app".into()],
                health_checked: vec!["app".into()],
                reserved: true,
                ..t.berth
            };
            t
        })
        .unwrap()
    }

    fn change(status: &str) -> TaskStateChange {
        TaskStateChange {
            status: Some(status.into()),
            ..Default::default()
        }
    }

    #[test]
    fn containers_without_a_health_check_render_unknown() {
        // `side` has no health check and, like records stored before every
        // container had one, no health status.
        let mut t = task();
        let health = |t: &TaskRecord| {
            let v = t.render(false);
            let by_name = |n: &str| {
                v["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["name"] == n)
                    .unwrap()["healthStatus"]
                    .clone()
            };
            (by_name("app"), by_name("side"), v["healthStatus"].clone())
        };
        assert_eq!(health(&t), (json!("UNKNOWN"), json!("UNKNOWN"), json!("UNKNOWN")));
        let running = |name: &str| ContainerStateChange {
            container_name: Some(name.into()),
            status: Some("RUNNING".into()),
            ..Default::default()
        };
        apply_container_change(&mut t, &running("side")).unwrap();
        assert_eq!(health(&t).1, json!("UNKNOWN"));
        apply_container_change(
            &mut t,
            &ContainerStateChange {
                health_status: Some("HEALTHY".into()),
                ..running("app")
            },
        )
        .unwrap();
        assert_eq!(health(&t), (json!("HEALTHY"), json!("UNKNOWN"), json!("HEALTHY")));
    }

    #[test]
    fn statuses_only_move_forward() {
        let mut t = task();
        assert!(apply_task_change(&mut t, &change("RUNNING"), 10.0).unwrap());
        assert_eq!(t.last_status.as_str(), "RUNNING");
        assert_eq!(t.started_at, Some(10.0));
        // Backwards: ignored (but acknowledged).
        assert!(!apply_task_change(&mut t, &change("PENDING"), 11.0).unwrap());
        assert_eq!(t.last_status.as_str(), "RUNNING");
        assert!(apply_task_change(&mut t, &change("STOPPED"), 12.0).unwrap());
        assert_eq!(t.last_status.as_str(), "STOPPED");
        assert_eq!(t.desired_status.as_str(), "STOPPED");
        assert_eq!(t.stop_code.as_deref(), Some("EssentialContainerExited"));
        assert_eq!(t.stopped_at, Some(12.0));
        assert!(t.containers.iter().all(|c| c.last_status.as_str() == "STOPPED"));
        assert!(t.berth.agent_stopped);
        // After STOPPED nothing visible changes; a late RUNNING report only
        // records that the agent still has something to stop.
        apply_task_change(&mut t, &change("RUNNING"), 13.0).unwrap();
        assert_eq!(t.last_status.as_str(), "STOPPED");
        assert_eq!(t.stopped_at, Some(12.0));
        assert!(t.wanted_by_agent());
        apply_task_change(&mut t, &change("STOPPED"), 14.0).unwrap();
        assert!(!t.wanted_by_agent());
        assert!(!apply_task_change(&mut t, &change("STOPPED"), 15.0).unwrap());
        assert!(apply_task_change(&mut t, &change("BOGUS"), 13.0).is_err());
    }

    #[test]
    fn failed_to_start_keeps_the_agents_reason() {
        let mut t = task();
        let ch = TaskStateChange {
            status: Some("STOPPED".into()),
            reason: Some("CannotPullContainerError: pull access denied".into()),
            execution_stopped_at: Some(json!(5.5)),
            ..Default::default()
        };
        apply_task_change(&mut t, &ch, 6.0).unwrap();
        assert_eq!(t.stop_code.as_deref(), Some("TaskFailedToStart"));
        assert_eq!(
            t.stopped_reason.as_deref(),
            Some("CannotPullContainerError: pull access denied")
        );
        assert_eq!(t.execution_stopped_at, Some(5.5));
        assert_eq!(t.started_at, None);
    }

    #[test]
    fn the_agents_stop_code_wins_over_the_derived_one() {
        let mut t = task();
        let ch = TaskStateChange {
            status: Some("STOPPED".into()),
            stop_code: Some("EssentialContainerExited".into()),
            ..Default::default()
        };
        apply_task_change(&mut t, &ch, 1.0).unwrap();
        assert_eq!(t.stop_code.as_deref(), Some("EssentialContainerExited"));
        assert_eq!(t.stopped_reason.as_deref(), Some("Essential container in task exited"));
        let mut t = task();
        let bad = TaskStateChange {
            status: Some("STOPPED".into()),
            stop_code: Some("Bored".into()),
            ..Default::default()
        };
        assert!(apply_task_change(&mut t, &bad, 1.0).is_err());
    }

    #[test]
    fn user_stop_reason_survives_the_agent_report() {
        let mut t = task();
        t.stop_code = Some("UserInitiated".into());
        t.stopped_reason = Some("bye".into());
        apply_task_change(&mut t, &change("RUNNING"), 1.0).unwrap();
        apply_task_change(&mut t, &change("STOPPED"), 2.0).unwrap();
        assert_eq!(t.stop_code.as_deref(), Some("UserInitiated"));
        assert_eq!(t.stopped_reason.as_deref(), Some("bye"));
    }

    #[test]
    fn containers_and_health() {
        let mut t = task();
        let ch = ContainerStateChange {
            container_name: Some("app".into()),
            status: Some("RUNNING".into()),
            runtime_id: Some("abc".into()),
            network_bindings: Some(vec![
                serde_json::from_value(json!({"containerPort": 80, "hostPort": 32768})).unwrap(),
            ]),
            health_status: Some("HEALTHY".into()),
            ..Default::default()
        };
        assert!(apply_container_change(&mut t, &ch).unwrap());
        assert_eq!(t.health_status.as_str(), "HEALTHY");
        let c = &t.containers[0];
        assert_eq!(
            (c.last_status.as_str(), c.runtime_id.as_deref()),
            ("RUNNING", Some("abc"))
        );
        // Non-essential containers do not decide health.
        let side = ContainerStateChange {
            container_name: Some("side".into()),
            health_status: Some("UNHEALTHY".into()),
            ..Default::default()
        };
        apply_container_change(&mut t, &side).unwrap();
        assert_eq!(t.health_status.as_str(), "HEALTHY");
        let bad = ContainerStateChange {
            container_name: Some("app".into()),
            health_status: Some("UNHEALTHY".into()),
            ..Default::default()
        };
        apply_container_change(&mut t, &bad).unwrap();
        assert_eq!(t.health_status.as_str(), "UNHEALTHY");
        // Container status is monotonic; exit codes stick.
        let stopped = ContainerStateChange {
            container_name: Some("app".into()),
            status: Some("STOPPED".into()),
            exit_code: Some(137),
            ..Default::default()
        };
        apply_container_change(&mut t, &stopped).unwrap();
        let back = ContainerStateChange {
            container_name: Some("app".into()),
            status: Some("RUNNING".into()),
            exit_code: Some(0),
            ..Default::default()
        };
        apply_container_change(&mut t, &back).unwrap();
        assert_eq!(t.containers[0].last_status.as_str(), "STOPPED");
        assert_eq!(t.containers[0].exit_code, Some(137));
        assert!(
            apply_container_change(
                &mut t,
                &ContainerStateChange {
                    container_name: Some("ghost".into()),
                    ..Default::default()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(&json!(1.5)).unwrap(), Some(1.5));
        assert_eq!(timestamp(&json!("2024-01-01T00:00:00Z")).unwrap(), Some(1704067200.0));
        assert_eq!(timestamp(&Value::Null).unwrap(), None);
        assert!(timestamp(&json!("yesterday")).is_err());
    }
}
