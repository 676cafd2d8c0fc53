//! What every engine of an agent shares ([`EngineContext`]).

use crate::model::Report;
use crate::runtime::Runtime;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What every engine of an agent shares.
pub struct EngineContext {
    pub runtime: Runtime,
    /// The cluster as the agent is configured (reports and labels use it).
    pub cluster: String,
    pub instance_arn: String,
    /// More labels for every container and task volume.
    pub extra_labels: BTreeMap<String, String>,
    /// Where the engine's state changes go (the reporter, or a test).
    pub reports: mpsc::UnboundedSender<Report>,
    /// How often the engine re-inspects its containers when no Docker event
    /// arrives (a safety net; events wake it up immediately).
    pub recheck_interval: Duration,
    /// The control plane, to resolve container `secrets` at task start
    /// (None: a task with secrets stops with ResourceInitializationError).
    pub api: Option<crate::client::ApiClient>,
    /// The task credentials endpoint (None: tasks with a task role run
    /// without credentials).
    pub credentials: Option<Arc<crate::credentials::CredentialsEndpoint>>,
    /// Ships the output of awslogs containers (None: they run, unshipped).
    pub awslogs: Option<Arc<crate::awslogs::Shippers>>,
    /// Gives awsvpc tasks their namespace and address (None: awsvpc tasks
    /// stop with ResourceInitializationError).
    pub network: Option<Arc<crate::awsvpc::TaskNetwork>>,
    /// The runtime FARGATE tasks' containers get (gVisor or runc).
    pub isolation: crate::isolation::Isolation,
    /// Makes FARGATE tasks' task-level cgroups (None: Docker's cgroup
    /// driver is not `cgroupfs`; their containers keep their own limits).
    pub task_cgroups: Option<crate::task_cgroup::TaskCgroups>,
}
