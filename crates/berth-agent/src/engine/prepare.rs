//! Before the containers run: images pulled, volumes and containers created.

use super::state::Engine;
use crate::failure::ContainerFailure;
use crate::lifecycle::RunState;
use crate::spec;
use berth_core::time::now_epoch;

impl Engine {
    /// Pulls the images, creates the volumes and the containers that do not
    /// exist yet.
    pub(super) async fn prepare(&mut self) {
        // awsvpc: the task's pause container first (its containers join its
        // namespace, as on ECS); its start and the interface overlap the
        // pulls and the containers' creation, and are done before any
        // container starts.
        let Ok(bringing_up) = self.begin_network().await else {
            return;
        };
        self.pull_and_create().await;
        self.finish_network(bringing_up).await;
    }

    /// Role credentials, pulls, secrets, then the containers.
    async fn pull_and_create(&mut self) {
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

        self.create_containers().await;
    }

    /// The task-level cgroup (FARGATE), the volumes and the containers.
    async fn create_containers(&mut self) {
        // FARGATE: the task-level cgroup its containers are created under.
        if !self.prepare_cgroup() {
            return;
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
            for (k, v) in self
                .role_endpoint
                .iter()
                .flat_map(|e| e.env())
                .chain(self.metadata_env(i))
            {
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
            if let Some(runtime) = self.ctx.isolation.runtime_for(self.task.launch_type.as_deref()) {
                body.host_config.get_or_insert_with(Default::default).runtime = Some(runtime.to_string());
            }
            if let Some(parent) = self.cgroup_parent() {
                body.host_config.get_or_insert_with(Default::default).cgroup_parent = Some(parent);
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
}
