//! FARGATE tasks' task-level cgroup (`crate::task_cgroup`): made before the
//! containers, removed once they have all stopped.

use super::state::Engine;
use crate::failure::ResourceInitializationError;
use std::time::Duration;

/// How long, and how often, a task cgroup still in use is tried again.
const RELEASE_DEADLINE: Duration = Duration::from_secs(60);
const RELEASE_RETRY: Duration = Duration::from_millis(250);

impl Engine {
    /// The task's limits, when it gets a task-level cgroup on this host.
    fn task_limits(&self) -> Option<crate::task_cgroup::TaskLimits> {
        self.ctx.task_cgroups.as_ref()?;
        let td = &self.task.task_definition;
        crate::task_cgroup::limits_of(
            self.task.launch_type.as_deref(),
            self.task.cpu.as_deref().or(td.cpu.as_deref()),
            self.task.memory.as_deref().or(td.memory.as_deref()),
        )
    }

    /// The `CgroupParent` of the task's containers (None: Docker's default).
    pub(super) fn cgroup_parent(&self) -> Option<String> {
        self.task_limits()
            .map(|_| crate::task_cgroup::parent_of(self.task.id()))
    }

    /// Makes the task's cgroup with its limits; false (the containers not
    /// started are failed) when it cannot.
    pub(super) fn prepare_cgroup(&mut self) -> bool {
        let (Some(cg), Some(limits)) = (self.ctx.task_cgroups.clone(), self.task_limits()) else {
            if self.task.launch_type.as_deref() == Some("FARGATE") && self.ctx.task_cgroups.is_none() {
                tracing::warn!(task = %self.arn(), "Docker's cgroup driver is not cgroupfs: the FARGATE task gets no task-level cpu/memory limit");
            }
            return true;
        };
        let parent = crate::task_cgroup::parent_of(self.task.id());
        match cg.apply(&parent, &limits) {
            Ok(()) => true,
            Err(e) => {
                let reason = ResourceInitializationError::new(format!("unable to set the task's cgroup limits: {e}"));
                tracing::warn!(task = %self.arn(), %reason, "task cgroup failed");
                self.fail_unstarted(&reason.to_string());
                false
            }
        }
    }

    /// Removes the task's cgroup (all its containers have stopped). The
    /// runtime removes the containers' own cgroups a moment after they exit
    /// (gVisor's sandbox later than runc): until then the parent cannot go,
    /// so it is tried again in the background for a while.
    pub(super) fn release_cgroup(&self) {
        let (Some(cg), Some(parent)) = (self.ctx.task_cgroups.clone(), self.cgroup_parent()) else {
            return;
        };
        if cg.remove(&parent) {
            return;
        }
        let task = self.arn().to_string();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + RELEASE_DEADLINE;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(RELEASE_RETRY).await;
                if cg.remove(&parent) {
                    return;
                }
            }
            tracing::warn!(task = %task, cgroup = %parent, "cannot remove the task's cgroup: a process is still in it");
        });
    }
}
