//! What an engine tracks of its task: each container's [`Slot`], the last
//! report, and the engine built from a task.

use super::context::EngineContext;
use crate::lifecycle::{self, Dependency, Health, RunState, StopCause};
use crate::model::{ContainerDefinition, NetworkBinding, Task};
use crate::spec;
use berth_ecs_model::{ContainerStatus, TaskStatus};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// One container of the task as the engine tracks it.
pub(super) struct Slot {
    pub(super) def: ContainerDefinition,
    pub(super) docker_name: String,
    pub(super) deps: Vec<Dependency>,
    pub(super) id: Option<String>,
    pub(super) state: RunState,
    pub(super) health: Health,
    pub(super) bindings: Vec<NetworkBinding>,
    pub(super) reason: Option<String>,
    pub(super) waiting_since: Option<Instant>,
}

/// What the control plane last heard about a container.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Reported {
    pub(super) status: String,
    pub(super) exit_code: Option<i64>,
    pub(super) runtime_id: Option<String>,
    pub(super) bindings: Vec<NetworkBinding>,
    pub(super) reason: Option<String>,
    pub(super) health: Option<String>,
}

pub(super) struct Engine {
    pub(super) ctx: Arc<EngineContext>,
    pub(super) task: Task,
    pub(super) rx: watch::Receiver<Task>,
    pub(super) slots: Vec<Slot>,
    /// Why the task cannot run as defined (validation), if it cannot.
    pub(super) invalid: Option<crate::invalid::InvalidTask>,
    pub(super) create_order: Vec<usize>,
    pub(super) reported_status: TaskStatus,
    pub(super) reported_health: Option<String>,
    pub(super) reported: HashMap<String, Reported>,
    pub(super) pull_started_at: Option<f64>,
    pub(super) pull_stopped_at: Option<f64>,
    pub(super) pull_times_reported: bool,
    pub(super) ever_running: bool,
    pub(super) stop_cause: Option<StopCause>,
    pub(super) execution_stopped_at: Option<f64>,
    /// This engine has sent the task's STOPPED (the server may know the task
    /// STOPPED already; it still waits for the agent's word to drop it).
    pub(super) stopped_sent: bool,
    /// The containers' resolved `secrets` (variable, value), by container name.
    pub(super) secret_env: Option<HashMap<String, crate::secrets::Resolved>>,
    /// The task role's endpoint for the containers (host network mode).
    pub(super) role_endpoint: Option<crate::credentials::TaskEndpoint>,
    /// The control plane as the task's execution role, when it has one
    /// (secrets and registry auth); else the agent's own client.
    pub(super) exec_api: Option<crate::client::ApiClient>,
    /// The awsvpc task's interface, once it is up.
    pub(super) interface: Option<crate::awsvpc::Lease>,
    /// The control plane has been told about `interface`.
    pub(super) interface_reported: bool,
    /// awsvpc: the task's endpoints are served in its namespace (bound
    /// when its interface came up), not once per container start.
    pub(super) endpoint_in_namespace: bool,
    /// The agent's warm pause containers are to be refilled once this
    /// task's containers have been started (not meanwhile: the refill's
    /// container start would compete with theirs).
    pub(super) refill_warm: bool,
}

pub(super) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Engine {
    pub(super) fn new(ctx: Arc<EngineContext>, task: Task, rx: watch::Receiver<Task>) -> Self {
        let mut invalid = spec::validate(&task).err();
        let defs = &task.task_definition.container_definitions;
        let mut slots = Vec::new();
        for def in defs {
            let deps = match lifecycle::dependencies(def) {
                Ok(d) => d,
                Err(e) => {
                    invalid.get_or_insert(e);
                    Vec::new()
                }
            };
            slots.push(Slot {
                def: def.clone(),
                docker_name: spec::docker_name(&task, def.name()),
                deps,
                id: None,
                state: RunState::Waiting,
                health: Health::Unknown,
                bindings: Vec::new(),
                reason: None,
                waiting_since: None,
            });
        }
        let create_order = match lifecycle::create_order(defs) {
            Ok(o) => o,
            Err(e) => {
                invalid.get_or_insert(e);
                (0..defs.len()).collect()
            }
        };
        // What the control plane knows already: report only what differs.
        let mut reported = HashMap::new();
        for s in &slots {
            if let Some(c) = task.server_container(s.def.name()) {
                reported.insert(
                    s.def.name().to_string(),
                    Reported {
                        status: c
                            .last_status
                            .clone()
                            .unwrap_or_else(|| ContainerStatus::Pending.to_string()),
                        exit_code: c.exit_code,
                        runtime_id: c.runtime_id.clone(),
                        bindings: {
                            let mut b = c.network_bindings.clone();
                            b.sort_by(|x, y| x.sort_key().cmp(&y.sort_key()));
                            b
                        },
                        reason: c.reason.clone(),
                        health: if s.def.health_check.is_some() {
                            c.health_status.clone()
                        } else {
                            None
                        },
                    },
                );
            }
        }
        let reported_status = task.last_status.unwrap_or(TaskStatus::Provisioning);
        let ever_running = reported_status >= TaskStatus::Running;
        Self {
            ctx,
            task,
            rx,
            slots,
            invalid,
            create_order,
            reported_status,
            reported_health: None,
            reported,
            pull_started_at: None,
            pull_stopped_at: None,
            pull_times_reported: false,
            ever_running,
            stop_cause: None,
            execution_stopped_at: None,
            stopped_sent: false,
            secret_env: None,
            role_endpoint: None,
            exec_api: None,
            interface: None,
            interface_reported: false,
            endpoint_in_namespace: false,
            refill_warm: false,
        }
    }
}
