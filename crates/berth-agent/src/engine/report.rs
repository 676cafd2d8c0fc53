//! The state changes the engine reports: what changed since the last report.

use super::state::{Engine, Reported};
use crate::lifecycle::{self, ContainerView, RunState};
use crate::model::{ContainerStateChange, Report, SingleContainerStateChange, TaskNetworkInterface, TaskStateChange};
use berth_core::time::now_epoch;
use berth_ecs_model::{StatusName, TaskStatus};

impl Engine {
    /// Sends what changed since the last report.
    pub(super) fn report(&mut self) {
        self.send_report();
        self.publish_metadata();
    }

    fn send_report(&mut self) {
        let views = self.views();
        // A task never moves back in its lifecycle (`Ord` is its order).
        let status = lifecycle::task_status(&views).max(self.reported_status);
        if status == TaskStatus::Running {
            self.ever_running = true;
        }
        if status == TaskStatus::Stopped && self.stop_cause.is_none() {
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

        let status_changed = status != self.reported_status || (status == TaskStatus::Stopped && !self.stopped_sent);
        let health_changed = health.is_some() && health != self.reported_health;
        let interface = self.interface.as_ref().filter(|_| !self.interface_reported).map(|l| {
            Box::new(TaskNetworkInterface {
                network_interface_id: l.eni_id.clone(),
                private_ipv4_address: l.ip.to_string(),
                mac_address: l.mac.clone(),
            })
        });
        if status_changed || health_changed || interface.is_some() {
            self.interface_reported |= interface.is_some();
            let stopped = status == TaskStatus::Stopped;
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
                cluster: Some(self.task.cluster(&self.ctx.cluster).to_string()),
                task: Some(self.task.task_arn.clone()),
                status: Some(status.to_string()),
                reason: cause.and_then(|c| c.reason.clone()),
                stop_code: cause.and_then(|c| c.stop_code.map(|c| c.to_string())),
                health_status: health.clone(),
                containers: changed,
                pull_started_at: pull_started_at.map(serde_json::Value::from),
                pull_stopped_at: pull_stopped_at.map(serde_json::Value::from),
                execution_stopped_at: if stopped {
                    self.execution_stopped_at.map(serde_json::Value::from)
                } else {
                    None
                },
                network_interface: interface,
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
                        cluster: Some(self.task.cluster(&self.ctx.cluster).to_string()),
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
pub(super) fn differs(before: &Reported, now: &Reported) -> bool {
    before.status != now.status
        || (now.exit_code.is_some() && now.exit_code != before.exit_code)
        || (now.runtime_id.is_some() && now.runtime_id != before.runtime_id)
        || (!now.bindings.is_empty() && now.bindings != before.bindings)
        || (now.reason.is_some() && now.reason != before.reason)
        || (now.health.is_some() && now.health != before.health)
}
