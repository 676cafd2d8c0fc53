//! Observing the containers on Docker and acting on the lifecycle's
//! decisions: start in dependency order, stop.

use super::state::{Engine, Slot, ZERO_TIME};
use crate::failure::ContainerFailure;
use crate::lifecycle::{self, ContainerView, RunState};
use crate::spec;
use berth_core::time::now_epoch;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use std::time::{Duration, Instant};

impl Engine {
    /// Reads the containers' state from Docker.
    pub(super) async fn observe(&mut self) {
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

    pub(super) fn views(&self) -> Vec<ContainerView> {
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
    pub(super) async fn step(&mut self) -> bool {
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
                    if !self.endpoint_in_namespace {
                        self.serve_endpoint_after_start(&id).await;
                    }
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
        // Fresh facts (ports, exits) before reporting; awsvpc containers
        // have no network bindings, so RUNNING is reported at once (an exit
        // is seen at the next observation).
        if progressed && !self.is_awsvpc() {
            self.observe().await;
        }
        progressed
    }

    /// Stops the running containers, dependents first, each with its
    /// stopTimeout (SIGTERM, then SIGKILL) — or, when the control plane
    /// stops the task with a notice (a FARGATE_SPOT interruption), SIGTERM
    /// at once and SIGKILL when the notice is over.
    pub(super) async fn stop_all(&mut self) {
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
                let timeout =
                    spec::stop_grace_secs(&s.def, self.task.wants_stop(), self.task.berth_stop_notice_seconds);
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
