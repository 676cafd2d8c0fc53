//! The engine's loop: follow the desired state, adopt the containers found
//! by label, and step until the task has stopped.

use super::state::Engine;
use crate::failure::ContainerFailure;
use crate::labels;
use crate::lifecycle::{RunState, StopCause};
use crate::spec::Placement;
use berth_ecs_model::{ContainerStatus, StatusName};
use futures::StreamExt;
use std::time::Duration;

impl Engine {
    pub(super) fn placement(&self) -> Placement<'_> {
        Placement {
            cluster: self.task.cluster_label(&self.ctx.cluster),
            instance_arn: &self.ctx.instance_arn,
            extra_labels: &self.ctx.extra_labels,
        }
    }

    pub(super) fn arn(&self) -> &str {
        &self.task.task_arn
    }

    /// Takes the newest desired state; true when the task must now stop.
    pub(super) fn refresh_desired(&mut self) -> bool {
        let (desired, notice) = {
            let t = self.rx.borrow_and_update();
            (t.desired_status, t.berth_stop_notice_seconds)
        };
        self.task.desired_status = desired;
        self.task.berth_stop_notice_seconds = notice;
        if self.task.wants_stop() && self.stop_cause.is_none() {
            tracing::info!(task = %self.arn(), "the control plane asked the task to stop");
            self.stop_cause = Some(StopCause {
                stop_code: None,
                reason: None,
            });
        }
        self.stop_cause.is_some()
    }

    pub(super) async fn run(&mut self) {
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
                    self.refill_warm_pool();
                    continue;
                }
            }
            if self.stop_cause.is_some() {
                self.stop_all().await;
                self.observe().await;
                if self.slots.iter().all(|s| s.state.is_terminal()) {
                    self.detach_network().await;
                    self.release_cgroup();
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
    pub(super) async fn adopt(&mut self) {
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
            match server.last_status.as_deref().and_then(ContainerStatus::parse) {
                Some(ContainerStatus::Running) => {
                    slot.state = RunState::Exited { exit_code: None };
                    slot.reason = Some("The container was removed from the host while the agent was away".into());
                }
                Some(ContainerStatus::Stopped) => {
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
    pub(super) fn fail_unstarted(&mut self, reason: &str) {
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

    pub(super) fn needs_creating(&self, i: usize) -> bool {
        let s = &self.slots[i];
        s.id.is_none() && s.state == RunState::Waiting
    }
}
