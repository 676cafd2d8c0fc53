//! The task engine: one tokio task per task on the host, driving it through
//! the ECS lifecycle on Docker (pull, create, start in dependency order,
//! watch, stop) and emitting the state changes to report. It adopts the
//! containers it finds by label, so it never starts a task twice.
//!
//! Decisions come from [`crate::lifecycle`] and [`crate::spec`]; this file
//! observes, acts and reports.

use crate::failure::{ContainerFailure, ResourceInitializationError};
use crate::labels;
use crate::lifecycle::{self, ContainerView, Dependency, Health, RunState, StopCause};
use crate::model::{
    ContainerDefinition, ContainerStateChange, NetworkBinding, Report, SingleContainerStateChange, Task,
    TaskStateChange,
};
use crate::runtime::Runtime;
use crate::spec::{self, Placement};
use berth_core::ecs::TaskStatus;
use berth_core::time::now_epoch;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

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
}

/// The agent's handle on a running engine.
pub struct EngineHandle {
    desired: watch::Sender<Task>,
    finished_at: Arc<AtomicU64>,
    join: tokio::task::JoinHandle<()>,
}

impl EngineHandle {
    /// A handle on an engine other than the Docker one (the hollow runtime).
    pub(crate) fn from_parts(
        desired: watch::Sender<Task>,
        finished_at: Arc<AtomicU64>,
        join: tokio::task::JoinHandle<()>,
    ) -> Self {
        Self {
            desired,
            finished_at,
            join,
        }
    }

    /// Hands the engine the task's newest desired state.
    pub fn update(&self, task: Task) {
        self.desired.send_if_modified(|cur| {
            if *cur != task {
                *cur = task;
                true
            } else {
                false
            }
        });
    }

    /// Epoch seconds at which the task was reported STOPPED, once it was.
    pub fn finished_at(&self) -> Option<f64> {
        match self.finished_at.load(Ordering::Acquire) {
            0 => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Waits for the engine to end (the task STOPPED and reported).
    pub async fn wait(self) {
        let _ = self.join.await;
    }

    pub fn abort(&self) {
        self.join.abort();
    }
}

/// Starts the engine of one task.
pub fn spawn(ctx: Arc<EngineContext>, task: Task) -> EngineHandle {
    let (tx, rx) = watch::channel(task.clone());
    let finished_at = Arc::new(AtomicU64::new(0));
    let done = finished_at.clone();
    let join = tokio::spawn(async move {
        let arn = task.task_arn.clone();
        let mut engine = Engine::new(ctx, task, rx);
        engine.run().await;
        if let Some(endpoint) = &engine.ctx.credentials {
            endpoint.unregister(&arn);
        }
        done.store(now_epoch().to_bits(), Ordering::Release);
        tracing::info!(task = %arn, "task engine finished");
    });
    EngineHandle {
        desired: tx,
        finished_at,
        join,
    }
}

/// One container of the task as the engine tracks it.
struct Slot {
    def: ContainerDefinition,
    docker_name: String,
    deps: Vec<Dependency>,
    id: Option<String>,
    state: RunState,
    health: Health,
    bindings: Vec<NetworkBinding>,
    reason: Option<String>,
    waiting_since: Option<Instant>,
}

/// What the control plane last heard about a container.
#[derive(Clone, Debug, Default, PartialEq)]
struct Reported {
    status: String,
    exit_code: Option<i64>,
    runtime_id: Option<String>,
    bindings: Vec<NetworkBinding>,
    reason: Option<String>,
    health: Option<String>,
}

struct Engine {
    ctx: Arc<EngineContext>,
    task: Task,
    rx: watch::Receiver<Task>,
    slots: Vec<Slot>,
    /// Why the task cannot run as defined (validation), if it cannot.
    invalid: Option<crate::invalid::InvalidTask>,
    create_order: Vec<usize>,
    reported_status: String,
    reported_health: Option<String>,
    reported: HashMap<String, Reported>,
    pull_started_at: Option<f64>,
    pull_stopped_at: Option<f64>,
    pull_times_reported: bool,
    ever_running: bool,
    stop_cause: Option<StopCause>,
    execution_stopped_at: Option<f64>,
    /// This engine has sent the task's STOPPED (the server may know the task
    /// STOPPED already; it still waits for the agent's word to drop it).
    stopped_sent: bool,
    /// The containers' resolved `secrets` (variable, value), by container name.
    secret_env: Option<HashMap<String, crate::secrets::Resolved>>,
    /// The task role's endpoint for the containers (host network mode).
    role_endpoint: Option<crate::credentials::TaskEndpoint>,
    /// The control plane as the task's execution role, when it has one
    /// (secrets and registry auth); else the agent's own client.
    exec_api: Option<crate::client::ApiClient>,
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Engine {
    fn new(ctx: Arc<EngineContext>, task: Task, rx: watch::Receiver<Task>) -> Self {
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
                        status: c.last_status.clone().unwrap_or_else(|| "PENDING".into()),
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
        let reported_status = task.last_status.unwrap_or(TaskStatus::Provisioning).to_string();
        let ever_running = TaskStatus::rank_of(&reported_status) >= Some(TaskStatus::Running.rank());
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
        }
    }

    /// The client for the task's secrets and registry auth: the execution
    /// role's when the task has one, else the agent's own.
    fn secrets_api(&self) -> Option<&crate::client::ApiClient> {
        self.exec_api.as_ref().or(self.ctx.api.as_ref())
    }

    /// Gets the execution role's credentials (when the task has one) and
    /// registers the task role with the credentials endpoint (when the
    /// task has one). The error is the task's stop reason.
    async fn prepare_roles(&mut self) -> Result<(), ResourceInitializationError> {
        if self.exec_api.is_none()
            && let Some(role) = self.task.execution_role_arn()
        {
            let Some(api) = self.ctx.api.as_ref() else {
                return Err(ResourceInitializationError::new(
                    "this agent has no control-plane client to assume the execution role",
                ));
            };
            let creds = crate::credentials::fetch(
                api,
                &self.ctx.cluster,
                &self.ctx.instance_arn,
                &self.task.task_arn,
                crate::credentials::RoleKind::Execution,
            )
            .await
            .map_err(|e| {
                ResourceInitializationError::new(format!("unable to assume the execution role {role}: {e}"))
            })?;
            self.exec_api = Some(api.with_credentials(creds.signing()));
        }
        if self.role_endpoint.is_none()
            && self.task.task_role_arn().is_some()
            && let Some(endpoint) = &self.ctx.credentials
        {
            self.role_endpoint =
                Some(endpoint.register(&self.task.task_arn, &self.ctx.cluster, &self.ctx.instance_arn));
        }
        Ok(())
    }

    /// Adopted containers carry the task role endpoint's id and token of the
    /// agent run that created them: register them again.
    async fn readopt_role_endpoint(&mut self) {
        let Some(endpoint) = self.ctx.credentials.clone() else {
            return;
        };
        if self.role_endpoint.is_some() || self.task.task_role_arn().is_none() {
            return;
        }
        let in_namespace = !crate::credentials::shares_host_network(self.task.task_definition.effective_network_mode());
        for id in self.slots.iter().filter_map(|s| s.id.clone()).collect::<Vec<_>>() {
            let Ok(Some(info)) = self.ctx.runtime.inspect(&id).await else {
                continue;
            };
            let env = info.config.and_then(|c| c.env).unwrap_or_default();
            let Some((id, token, port)) = crate::credentials::from_container_env(&env) else {
                continue;
            };
            if self.role_endpoint.is_none() {
                self.role_endpoint = endpoint.register_existing(
                    &self.task.task_arn,
                    &self.ctx.cluster,
                    &self.ctx.instance_arn,
                    &id,
                    &token,
                );
            }
            let pid = info.state.filter(|s| s.running == Some(true)).and_then(|s| s.pid);
            if in_namespace && let Some(pid) = pid.filter(|p| *p > 0) {
                self.serve_in_container(&endpoint, pid, port).await;
            }
        }
    }

    /// Serves the task role endpoint inside the network namespace of a
    /// container that just started (all network modes but host).
    async fn serve_role_after_start(&self, container_id: &str) {
        let (Some(endpoint), Some(te)) = (self.ctx.credentials.clone(), self.role_endpoint.as_ref()) else {
            return;
        };
        if crate::credentials::shares_host_network(self.task.task_definition.effective_network_mode()) {
            return;
        }
        let pid = match self.ctx.runtime.inspect(container_id).await {
            Ok(Some(info)) => info.state.and_then(|s| s.pid).filter(|p| *p > 0),
            _ => None,
        };
        match pid {
            Some(pid) => self.serve_in_container(&endpoint, pid, te.port).await,
            None => {
                tracing::warn!(task = %self.arn(), container = container_id, "no process to serve task role credentials to")
            }
        }
    }

    async fn serve_in_container(&self, endpoint: &crate::credentials::CredentialsEndpoint, pid: i64, port: u16) {
        if let Err(e) = endpoint.serve_in_container(&self.task.task_arn, pid, port).await {
            tracing::warn!(task = %self.arn(), pid, error = %e, "cannot serve task role credentials inside the container; it gets none");
        }
    }

    /// Registry auth with the execution role for an image of the Berth
    /// registry (the agent's own token is used for tasks without one).
    async fn execution_role_registry_auth(
        &self,
        image: &str,
    ) -> Result<Option<bollard::auth::DockerCredentials>, ResourceInitializationError> {
        let Some(api) = &self.exec_api else { return Ok(None) };
        let Some(host) = crate::registry_auth::image_host(image) else {
            return Ok(None);
        };
        match crate::registry_auth::RegistryAuth::new(api.clone()).token().await {
            Ok(token) => Ok(token.credentials_for(image)),
            // Refused: fatal for an image of this server's registry.
            Err(e) if crate::registry_auth::endpoint_host(api.endpoint()) == host.to_ascii_lowercase() => Err(
                ResourceInitializationError::new(format!("unable to retrieve ecr registry auth: {e}")),
            ),
            Err(_) => Ok(None),
        }
    }

    fn placement(&self) -> Placement<'_> {
        Placement {
            cluster: &self.ctx.cluster,
            instance_arn: &self.ctx.instance_arn,
            extra_labels: &self.ctx.extra_labels,
        }
    }

    fn arn(&self) -> &str {
        &self.task.task_arn
    }

    /// Takes the newest desired state; true when the task must now stop.
    fn refresh_desired(&mut self) -> bool {
        let desired = self.rx.borrow_and_update().desired_status;
        self.task.desired_status = desired;
        if self.task.wants_stop() && self.stop_cause.is_none() {
            tracing::info!(task = %self.arn(), "the control plane asked the task to stop");
            self.stop_cause = Some(StopCause {
                stop_code: None,
                reason: None,
            });
        }
        self.stop_cause.is_some()
    }

    async fn run(&mut self) {
        self.adopt().await;
        if let Some(why) = self.invalid.clone() {
            tracing::warn!(task = %self.arn(), reason = %why, "the task cannot run on this agent");
            self.fail_unstarted(&ContainerFailure::CannotCreate(why.to_string()).to_string());
        }
        self.refresh_desired();
        if self.stop_cause.is_none() {
            self.report();
            self.prepare().await;
        }
        let mut events = Some(
            self.ctx
                .runtime
                .container_events(&[(labels::LABEL_TASK_ARN, &self.task.task_arn)])
                .boxed(),
        );
        loop {
            self.observe().await;
            self.refresh_desired();
            if self.stop_cause.is_none() {
                let progressed = self.step().await;
                if progressed && self.stop_cause.is_none() {
                    self.report();
                    continue;
                }
            }
            if self.stop_cause.is_some() {
                self.stop_all().await;
                self.observe().await;
                if self.slots.iter().all(|s| s.state.is_terminal()) {
                    self.report();
                    return;
                }
            }
            self.report();
            // Wait for Docker to tell about a change, for a new desired
            // state, or for the periodic re-check.
            let tick = if events.is_some() {
                self.ctx.recheck_interval
            } else {
                Duration::from_secs(1)
            };
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        // The agent dropped the handle: it is shutting down.
                        // Containers keep running; a restarted agent adopts them.
                        return;
                    }
                }
                ev = async {
                    match events.as_mut() {
                        Some(s) => s.next().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if ev.is_none() {
                        events = None;
                    }
                }
                _ = tokio::time::sleep(tick) => {
                    if events.is_none() {
                        events = Some(self.ctx.runtime
                            .container_events(&[(labels::LABEL_TASK_ARN, &self.task.task_arn)])
                            .boxed());
                    }
                }
            }
        }
    }

    /// Finds the task's containers already on the host (an earlier run of the
    /// agent created them) and takes them over.
    async fn adopt(&mut self) {
        let found = loop {
            match self
                .ctx
                .runtime
                .list(&[(labels::LABEL_TASK_ARN, &self.task.task_arn)])
                .await
            {
                Ok(f) => break f,
                Err(e) => {
                    tracing::warn!(task = %self.task.task_arn, error = %e, "cannot list containers; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        };
        for c in found {
            let name = c
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::LABEL_CONTAINER_NAME))
                .cloned()
                .unwrap_or_default();
            if let Some(slot) = self.slots.iter_mut().find(|s| s.def.name() == name)
                && slot.id.is_none()
            {
                slot.id = c.id.clone();
                tracing::info!(task = %self.task.task_arn, container = %name, "adopted an existing container");
            }
        }
        self.readopt_role_endpoint().await;
        // A container the control plane saw running (or stopped) that is
        // gone from the host is never created again.
        let task = self.task.clone();
        for slot in self.slots.iter_mut().filter(|s| s.id.is_none()) {
            let Some(server) = task.server_container(slot.def.name()) else {
                continue;
            };
            match server.last_status.as_deref() {
                Some("RUNNING") => {
                    slot.state = RunState::Exited { exit_code: None };
                    slot.reason = Some("The container was removed from the host while the agent was away".into());
                }
                Some("STOPPED") => {
                    slot.state = if server.runtime_id.is_some() {
                        RunState::Exited {
                            exit_code: server.exit_code,
                        }
                    } else {
                        RunState::NotRun {
                            reason: server.reason.clone().unwrap_or_default(),
                        }
                    };
                    slot.reason = server.reason.clone();
                }
                _ => {}
            }
        }
    }

    /// Marks every container that has not started as never to run.
    fn fail_unstarted(&mut self, reason: &str) {
        for s in self
            .slots
            .iter_mut()
            .filter(|s| s.state == RunState::Waiting && s.id.is_none())
        {
            s.state = RunState::NotRun {
                reason: reason.to_string(),
            };
            s.reason = Some(reason.to_string());
        }
    }

    fn needs_creating(&self, i: usize) -> bool {
        let s = &self.slots[i];
        s.id.is_none() && s.state == RunState::Waiting
    }

    /// Pulls the images, creates the volumes and the containers that do not
    /// exist yet.
    async fn prepare(&mut self) {
        if let Err(reason) = self.prepare_roles().await {
            tracing::warn!(task = %self.arn(), %reason, "role credentials unavailable");
            self.fail_unstarted(&reason.to_string());
            return;
        }
        // Pull.
        let mut images: Vec<String> = Vec::new();
        for i in 0..self.slots.len() {
            if self.needs_creating(i) && !images.iter().any(|im| im == self.slots[i].def.image()) {
                images.push(self.slots[i].def.image().to_string());
            }
        }
        if !images.is_empty() {
            self.pull_started_at = Some(now_epoch());
        }
        for image in images {
            if self.refresh_desired() {
                return;
            }
            tracing::info!(task = %self.arn(), %image, "pulling");
            let def = self.slots.iter().map(|s| &s.def).find(|d| d.image() == image);
            let creds = match def {
                Some(def) => crate::secrets::registry_credentials(self.secrets_api(), def).await,
                None => Ok(None),
            };
            let creds = match creds {
                Ok(None) => self.execution_role_registry_auth(&image).await,
                other => other,
            };
            let pulled = match creds {
                Ok(creds) => (self.ctx.runtime.pull(&image, creds).await)
                    .map(|_| ())
                    .map_err(|e| ContainerFailure::CannotPull(e.to_string()).to_string()),
                Err(reason) => Err(reason.to_string()),
            };
            if let Err(reason) = pulled {
                tracing::warn!(task = %self.arn(), %image, %reason, "pull failed");
                for s in self
                    .slots
                    .iter_mut()
                    .filter(|s| s.def.image() == image && s.id.is_none() && s.state == RunState::Waiting)
                {
                    s.state = RunState::NotRun { reason: reason.clone() };
                    s.reason = Some(reason.clone());
                }
            }
        }
        if self.pull_started_at.is_some() {
            self.pull_stopped_at = Some(now_epoch());
        }
        if self.refresh_desired() {
            return;
        }

        // Secrets, read once before any container is created.
        if self.secret_env.is_none() && (0..self.slots.len()).any(|i| self.needs_creating(i)) {
            let defs = &self.task.task_definition.container_definitions;
            match crate::secrets::resolve(self.secrets_api(), defs).await {
                Ok(env) => self.secret_env = Some(env),
                Err(e) => {
                    let reason = e.to_string();
                    tracing::warn!(task = %self.arn(), %reason, "secrets unavailable");
                    for s in self
                        .slots
                        .iter_mut()
                        .filter(|s| s.id.is_none() && s.state == RunState::Waiting)
                    {
                        s.state = RunState::NotRun { reason: reason.clone() };
                        s.reason = Some(reason.clone());
                    }
                }
            }
        }

        // Volumes.
        let volumes = spec::volume_plan(&self.task, &self.placement());
        for (name, plan) in &volumes {
            let users: Vec<usize> = (0..self.slots.len())
                .filter(|&i| {
                    self.needs_creating(i)
                        && self.slots[i]
                            .def
                            .mount_points
                            .iter()
                            .flatten()
                            .any(|m| m.source_volume.as_deref() == Some(name))
                })
                .collect();
            if users.is_empty() {
                continue;
            }
            if let Err(msg) = self.ctx.runtime.ensure_volume(plan).await {
                let reason = ContainerFailure::CannotCreate(format!("volume '{name}': {msg}")).to_string();
                for i in users {
                    self.slots[i].state = RunState::NotRun { reason: reason.clone() };
                    self.slots[i].reason = Some(reason.clone());
                }
            }
        }

        // Containers, in create order (links and volumesFrom first).
        for i in self.create_order.clone() {
            if !self.needs_creating(i) {
                continue;
            }
            if self.refresh_desired() {
                return;
            }
            let mut body = match spec::container_spec(&self.task, &self.slots[i].def, &self.placement(), &volumes) {
                Ok(b) => b,
                Err(e) => {
                    let reason = ContainerFailure::CannotCreate(e.to_string()).to_string();
                    self.slots[i].state = RunState::NotRun { reason: reason.clone() };
                    self.slots[i].reason = Some(reason);
                    continue;
                }
            };
            for (k, v) in self.role_endpoint.iter().flat_map(|e| e.env()) {
                body.env.get_or_insert_with(Vec::new).push(format!("{k}={v}"));
            }
            if let Some(r) = self.secret_env.as_ref().and_then(|e| e.get(self.slots[i].def.name())) {
                for (k, v) in &r.env {
                    body.env.get_or_insert_with(Vec::new).push(format!("{k}={v}"));
                }
                let log = body.host_config.as_mut().and_then(|h| h.log_config.as_mut());
                // awslogs options are the agent's own (the container logs to json-file).
                if let Some(log) = log.filter(|_| !crate::awslogs::is_awslogs(&self.slots[i].def)) {
                    let opts = log.config.get_or_insert_with(Default::default);
                    opts.extend(r.log_options.iter().cloned());
                }
            }
            let name = self.slots[i].docker_name.clone();
            match self.ctx.runtime.create(&name, body).await {
                Ok(id) => {
                    tracing::info!(task = %self.arn(), container = %self.slots[i].def.name(), %id, "created");
                    // awslogs: the group and stream exist before the container starts.
                    if let (Some(Ok(ship)), Some(shippers)) = (
                        crate::awslogs::spec_for(&self.task, &self.slots[i].def),
                        self.ctx.awslogs.as_ref(),
                    ) && let Err(msg) = crate::awslogs::prepare(shippers.api(), &ship, &id).await
                    {
                        let reason =
                            ContainerFailure::CannotStart(format!("Error response from daemon: {msg}")).to_string();
                        tracing::warn!(task = %self.arn(), container = %self.slots[i].def.name(), %reason, "logging failed");
                        self.slots[i].state = RunState::NotRun { reason: reason.clone() };
                        self.slots[i].reason = Some(reason);
                    }
                    self.slots[i].id = Some(id);
                }
                Err(msg) => {
                    let reason = ContainerFailure::CannotCreate(msg.to_string()).to_string();
                    tracing::warn!(task = %self.arn(), container = %self.slots[i].def.name(), %reason, "create failed");
                    self.slots[i].state = RunState::NotRun { reason: reason.clone() };
                    self.slots[i].reason = Some(reason);
                }
            }
        }
    }

    /// Reads the containers' state from Docker.
    async fn observe(&mut self) {
        let mode = self.task.task_definition.effective_network_mode().to_string();
        for slot in self.slots.iter_mut() {
            if matches!(slot.state, RunState::NotRun { .. } | RunState::Exited { .. }) {
                continue;
            }
            let Some(id) = slot.id.clone() else { continue };
            match self.ctx.runtime.inspect(&id).await {
                Ok(Some(info)) => apply_inspect(slot, &info, &mode),
                Ok(None) => {
                    if slot.state == RunState::Running {
                        slot.state = RunState::Exited { exit_code: None };
                        slot.reason = Some("The container was removed from the host".into());
                    } else {
                        let reason =
                            ContainerFailure::CannotStart("the container was removed before it started".into())
                                .to_string();
                        slot.state = RunState::NotRun { reason: reason.clone() };
                        slot.reason = Some(reason);
                    }
                }
                Err(e) => tracing::warn!(container = %slot.docker_name, error = %e, "cannot inspect"),
            }
        }
    }

    fn views(&self) -> Vec<ContainerView> {
        self.slots
            .iter()
            .map(|s| ContainerView {
                name: s.def.name().to_string(),
                essential: s.def.is_essential(),
                depends_on: s.deps.clone(),
                has_health_check: s.def.health_check.is_some(),
                state: s.state.clone(),
                health: s.health,
                dependency_timed_out: match (s.def.start_timeout, s.waiting_since) {
                    (Some(t), Some(since)) if t > 0 => since.elapsed() >= Duration::from_secs(t as u64),
                    _ => false,
                },
            })
            .collect()
    }

    /// One round of decisions: give up on impossible containers, start the
    /// ready ones, or decide the task stops. True when something changed.
    async fn step(&mut self) -> bool {
        for s in self.slots.iter_mut() {
            if s.state == RunState::Waiting && s.waiting_since.is_none() {
                s.waiting_since = Some(Instant::now());
            }
        }
        let decision = lifecycle::decide(&self.views(), false, self.ever_running);
        let mut progressed = false;
        for (name, reason) in decision.give_up {
            if let Some(s) = self.slots.iter_mut().find(|s| s.def.name() == name) {
                tracing::info!(task = %self.task.task_arn, container = %name, %reason, "container will not start");
                s.state = RunState::NotRun { reason: reason.clone() };
                s.reason = Some(reason);
                progressed = true;
            }
        }
        if let Some(cause) = decision.stop {
            tracing::info!(task = %self.task.task_arn, reason = ?cause.reason, "the task stops");
            if cause.stop_code == Some(lifecycle::ESSENTIAL_CONTAINER_EXITED) {
                self.execution_stopped_at = Some(now_epoch());
            }
            self.stop_cause = Some(cause);
            return true;
        }
        for name in decision.start {
            let Some(i) = self.slots.iter().position(|s| s.def.name() == name) else {
                continue;
            };
            let Some(id) = self.slots[i].id.clone() else { continue };
            match self.ctx.runtime.start(&id).await {
                Ok(()) => {
                    tracing::info!(task = %self.task.task_arn, container = %name, "started");
                    self.serve_role_after_start(&id).await;
                    self.slots[i].state = RunState::Running;
                    if let (Some(Ok(ship)), Some(shippers)) = (
                        crate::awslogs::spec_for(&self.task, &self.slots[i].def),
                        self.ctx.awslogs.as_ref(),
                    ) {
                        shippers.ship(&id, ship);
                    }
                }
                Err(msg) => {
                    let reason = ContainerFailure::CannotStart(msg.to_string()).to_string();
                    tracing::warn!(task = %self.task.task_arn, container = %name, %reason, "start failed");
                    self.slots[i].state = RunState::NotRun { reason: reason.clone() };
                    self.slots[i].reason = Some(reason);
                }
            }
            progressed = true;
        }
        if progressed {
            // Fresh facts (ports, exits) before reporting.
            self.observe().await;
        }
        progressed
    }

    /// Stops the running containers, dependents first, each with its
    /// stopTimeout (SIGTERM, then SIGKILL).
    async fn stop_all(&mut self) {
        for s in self.slots.iter_mut().filter(|s| s.state == RunState::Waiting) {
            s.state = RunState::NotRun { reason: String::new() };
        }
        for level in lifecycle::stop_levels(&self.views()) {
            let mut stops = Vec::new();
            for name in level {
                let Some(s) = self.slots.iter().find(|s| s.def.name() == name) else {
                    continue;
                };
                if s.state != RunState::Running {
                    continue;
                }
                let Some(id) = s.id.clone() else { continue };
                let timeout = spec::stop_timeout_secs(&s.def);
                let runtime = self.ctx.runtime.clone();
                let arn = self.task.task_arn.clone();
                stops.push(async move {
                    tracing::info!(task = %arn, container = %name, timeout, "stopping");
                    if let Err(e) = runtime.stop(&id, timeout).await {
                        tracing::warn!(task = %arn, container = %name, error = %e, "stop failed");
                    }
                });
            }
            futures::future::join_all(stops).await;
        }
    }

    /// Sends what changed since the last report.
    fn report(&mut self) {
        let views = self.views();
        let mut status = lifecycle::task_status(&views).to_string();
        if TaskStatus::rank_of(&status) < TaskStatus::rank_of(&self.reported_status) {
            status = self.reported_status.clone();
        }
        if status == "RUNNING" {
            self.ever_running = true;
        }
        if status == "STOPPED" && self.stop_cause.is_none() {
            // Every container ended before a decision round saw it (e.g. an
            // essential container that exits at once): the same rules give
            // the stop code and reason, so the report says why.
            self.stop_cause = lifecycle::decide(&views, false, self.ever_running).stop;
        }
        let health = task_health_string(&views);

        let mut changed: Vec<ContainerStateChange> = Vec::new();
        for s in &self.slots {
            let now = Reported {
                status: s.state.ecs_status().to_string(),
                exit_code: match s.state {
                    RunState::Exited { exit_code } => exit_code,
                    _ => None,
                },
                runtime_id: s.id.clone(),
                bindings: s.bindings.clone(),
                reason: s.reason.clone().filter(|r| !r.is_empty()),
                health: s.def.health_check.as_ref().map(|_| s.health.as_str().to_string()),
            };
            let before = self.reported.get(s.def.name()).cloned().unwrap_or_default();
            if differs(&before, &now) {
                changed.push(ContainerStateChange {
                    container_name: Some(s.def.name().to_string()),
                    image_digest: None,
                    runtime_id: now.runtime_id.clone(),
                    exit_code: now.exit_code,
                    // None known yet: unchanged (an empty list would clear them).
                    network_bindings: (!now.bindings.is_empty()).then(|| now.bindings.clone()),
                    reason: now.reason.clone(),
                    status: Some(now.status.clone()),
                    health_status: now.health.clone(),
                });
                self.reported.insert(s.def.name().to_string(), now);
            }
        }

        let status_changed = status != self.reported_status || (status == "STOPPED" && !self.stopped_sent);
        let health_changed = health.is_some() && health != self.reported_health;
        if status_changed || health_changed {
            let stopped = status == "STOPPED";
            self.stopped_sent |= stopped;
            if stopped && self.execution_stopped_at.is_none() {
                self.execution_stopped_at = Some(now_epoch());
            }
            let (pull_started_at, pull_stopped_at) = if !self.pull_times_reported && self.pull_stopped_at.is_some() {
                self.pull_times_reported = true;
                (self.pull_started_at, self.pull_stopped_at)
            } else {
                (None, None)
            };
            let cause = self.stop_cause.as_ref().filter(|_| stopped);
            let change = TaskStateChange {
                cluster: Some(self.ctx.cluster.clone()),
                task: Some(self.task.task_arn.clone()),
                status: Some(status.clone()),
                reason: cause.and_then(|c| c.reason.clone()),
                stop_code: cause.and_then(|c| c.stop_code.map(str::to_string)),
                health_status: health.clone(),
                containers: changed,
                pull_started_at: pull_started_at.map(serde_json::Value::from),
                pull_stopped_at: pull_stopped_at.map(serde_json::Value::from),
                execution_stopped_at: if stopped {
                    self.execution_stopped_at.map(serde_json::Value::from)
                } else {
                    None
                },
            };
            tracing::info!(task = %self.task.task_arn, %status, "task state change");
            let _ = self.ctx.reports.send(Report::SubmitTaskStateChange(change));
            self.reported_status = status;
            self.reported_health = health;
        } else {
            for c in changed {
                tracing::info!(task = %self.task.task_arn, container = ?c.container_name, status = ?c.status, "container state change");
                let _ = self
                    .ctx
                    .reports
                    .send(Report::SubmitContainerStateChange(SingleContainerStateChange {
                        cluster: Some(self.ctx.cluster.clone()),
                        task: Some(self.task.task_arn.clone()),
                        container_name: c.container_name,
                        runtime_id: c.runtime_id,
                        status: c.status,
                        exit_code: c.exit_code,
                        reason: c.reason,
                        network_bindings: c.network_bindings,
                        health_status: c.health_status,
                    }));
            }
        }
    }
}

fn task_health_string(views: &[ContainerView]) -> Option<String> {
    if views.iter().any(|v| v.has_health_check) {
        Some(lifecycle::task_health(views).as_str().to_string())
    } else {
        None
    }
}

/// Whether `now` tells the control plane something `before` did not: a
/// field the engine does not know (None / empty) is not a change.
fn differs(before: &Reported, now: &Reported) -> bool {
    before.status != now.status
        || (now.exit_code.is_some() && now.exit_code != before.exit_code)
        || (now.runtime_id.is_some() && now.runtime_id != before.runtime_id)
        || (!now.bindings.is_empty() && now.bindings != before.bindings)
        || (now.reason.is_some() && now.reason != before.reason)
        || (now.health.is_some() && now.health != before.health)
}

/// Folds `docker inspect` into the slot.
fn apply_inspect(slot: &mut Slot, info: &ContainerInspectResponse, mode: &str) {
    let Some(state) = info.state.as_ref() else { return };
    let started = state
        .started_at
        .as_deref()
        .is_some_and(|t| !t.is_empty() && t != ZERO_TIME);
    match state.status {
        Some(ContainerStateStatusEnum::RUNNING)
        | Some(ContainerStateStatusEnum::PAUSED)
        | Some(ContainerStateStatusEnum::RESTARTING) => {
            slot.state = RunState::Running;
            slot.health = spec::health(state.health.as_ref().and_then(|h| h.status.as_ref()));
            let ports = info.network_settings.as_ref().and_then(|n| n.ports.as_ref());
            let b = spec::network_bindings(mode, &slot.def, ports);
            if !b.is_empty() {
                slot.bindings = b;
            }
        }
        Some(ContainerStateStatusEnum::EXITED)
        | Some(ContainerStateStatusEnum::DEAD)
        | Some(ContainerStateStatusEnum::REMOVING) => {
            if started {
                slot.state = RunState::Exited {
                    exit_code: state.exit_code,
                };
                if state.oom_killed == Some(true) {
                    slot.reason = Some(ContainerFailure::OutOfMemory.to_string());
                }
            } else {
                let reason = ContainerFailure::CannotStart(
                    state
                        .error
                        .clone()
                        .filter(|e| !e.is_empty())
                        .unwrap_or_else(|| "never started".into()),
                )
                .to_string();
                slot.state = RunState::NotRun { reason: reason.clone() };
                slot.reason = Some(reason);
            }
        }
        // created (or unknown): not started yet.
        _ => {}
    }
}

#[cfg(test)]
mod tests;
