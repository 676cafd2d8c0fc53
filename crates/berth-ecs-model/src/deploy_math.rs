//! The arithmetic of ECS rolling deployments (pure: no IO, no clock).
//!
//! A service's tasks are described as [`TaskState`]s (only tasks whose
//! desired status is RUNNING: tasks already told to stop are gone from the
//! scheduler's point of view, as in ECS). [`rolling_step`] says how many
//! tasks of the PRIMARY deployment to start and which tasks to stop this
//! step; [`daemon_step`] does the same per instance for DAEMON services.
//!
//! ECS rules followed:
//! - `minimumHealthyPercent` is a lower limit on healthy tasks, rounded up;
//!   `maximumPercent` an upper limit on tasks RUNNING or PENDING, rounded
//!   down (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html>).
//! - Tasks that are not healthy (PENDING, or RUNNING but not yet HEALTHY)
//!   can always be stopped when they are not wanted: they don't count
//!   towards the healthy minimum.
//! - Starting happens before stopping within the limits: with min 100 /
//!   max 200 the new tasks start first and the old ones stop only as the
//!   new ones become healthy.
//! - A service scaling in (no deployment) stops its surplus tasks
//!   down to the new desired count: the minimum is computed from the new
//!   desired count.

/// Health of a task as the service scheduler counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskHealth {
    /// PROVISIONING/PENDING/ACTIVATING.
    Pending,
    /// RUNNING, but its container health check has not passed yet.
    Running,
    /// RUNNING and (when the task definition has a health check) HEALTHY.
    Healthy,
}

/// One task of a service whose desired status is RUNNING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    pub id: String,
    /// Belongs to the PRIMARY deployment.
    pub primary: bool,
    pub health: TaskHealth,
    /// Runs on a DRAINING (or otherwise unusable) instance: to be replaced.
    pub draining: bool,
    /// Scale-in protected (UpdateTaskProtection): kept first, never
    /// stopped by a step until its protection ends.
    pub protected: bool,
}

/// The deployment configuration limits of a REPLICA service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub desired: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
}

impl Limits {
    /// Healthy tasks to keep: `desired × min%`, rounded up.
    pub fn min_healthy(&self) -> u32 {
        let n = u64::from(self.desired) * u64::from(self.minimum_healthy_percent);
        n.div_ceil(100).min(u64::from(self.desired)) as u32
    }

    /// Tasks allowed RUNNING or PENDING: `desired × max%`, rounded down.
    pub fn max_total(&self) -> u32 {
        (u64::from(self.desired) * u64::from(self.maximum_percent) / 100).min(u64::from(u32::MAX)) as u32
    }
}

/// What to do this step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// Tasks of the PRIMARY deployment to start.
    pub start: u32,
    /// Tasks to stop, by id.
    pub stop: Vec<String>,
}

/// One step of a REPLICA service. `can_start` is false while the service is
/// throttled or its PRIMARY deployment has failed without rollback.
pub fn rolling_step(limits: Limits, tasks: &[TaskState], can_start: bool) -> Step {
    let desired = limits.desired as usize;
    // The PRIMARY tasks to keep: not draining, healthiest first, at most
    // `desired`.
    let mut keepable: Vec<&TaskState> = tasks.iter().filter(|t| t.primary && !t.draining).collect();
    keepable.sort_by(|a, b| {
        b.protected
            .cmp(&a.protected)
            .then_with(|| b.health.cmp(&a.health))
            .then_with(|| a.id.cmp(&b.id))
    });
    let kept: Vec<&str> = keepable.iter().take(desired).map(|t| t.id.as_str()).collect();
    // Everything else goes: old deployments first, then draining, then
    // PRIMARY surplus.
    let mut removable: Vec<&TaskState> = tasks.iter().filter(|t| !kept.contains(&t.id.as_str())).collect();
    let rank = |t: &TaskState| {
        if !t.primary {
            0
        } else if t.draining {
            1
        } else {
            2
        }
    };
    removable.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.health.cmp(&b.health)));

    let total = tasks.len() as u64;
    let start = if can_start {
        let missing = desired.saturating_sub(kept.len()) as u64;
        let room = u64::from(limits.max_total()).saturating_sub(total);
        missing.min(room) as u32
    } else {
        0
    };

    let healthy = tasks.iter().filter(|t| t.health == TaskHealth::Healthy).count() as u64;
    let mut budget = healthy.saturating_sub(u64::from(limits.min_healthy()));
    let mut stop = vec![];
    for t in removable.into_iter().filter(|t| !t.protected) {
        if t.health != TaskHealth::Healthy {
            stop.push(t.id.clone());
        } else if budget > 0 {
            budget -= 1;
            stop.push(t.id.clone());
        }
    }
    Step { start, stop }
}

/// One container instance as a DAEMON service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonInstance {
    pub id: String,
    /// ACTIVE, agent known and matching the service's constraints.
    pub eligible: bool,
    /// The service's tasks on it (desired RUNNING).
    pub tasks: Vec<TaskState>,
}

/// What a DAEMON service does this step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonStep {
    /// Instances that get a PRIMARY task.
    pub start_on: Vec<String>,
    pub stop: Vec<String>,
}

/// One step of a DAEMON service: one PRIMARY task on every eligible
/// instance, none elsewhere. Old tasks are replaced within the limits:
/// `minimumHealthyPercent` of the eligible instances keep a healthy task,
/// and an instance holds at most `maximumPercent / 100` tasks (so with the
/// DAEMON default of 0 / 100 the old task stops before the new one starts).
pub fn daemon_step(
    instances: &[DaemonInstance],
    minimum_healthy_percent: u32,
    maximum_percent: u32,
    can_start: bool,
) -> DaemonStep {
    let eligible = instances.iter().filter(|i| i.eligible).count() as u32;
    let limits = Limits {
        desired: eligible,
        minimum_healthy_percent,
        maximum_percent: 100,
    };
    let per_instance = (maximum_percent / 100).max(1) as usize;
    let healthy = instances
        .iter()
        .flat_map(|i| &i.tasks)
        .filter(|t| t.health == TaskHealth::Healthy)
        .count() as u32;
    let mut budget = healthy.saturating_sub(limits.min_healthy());
    let mut out = DaemonStep::default();
    let mut healthy_old: Vec<&TaskState> = vec![];
    for inst in instances {
        if !inst.eligible {
            out.stop.extend(inst.tasks.iter().map(|t| t.id.clone()));
            continue;
        }
        let mut primary: Vec<&TaskState> = inst.tasks.iter().filter(|t| t.primary).collect();
        primary.sort_by(|a, b| b.health.cmp(&a.health).then_with(|| a.id.cmp(&b.id)));
        // A second PRIMARY task on one instance is surplus.
        out.stop.extend(primary.iter().skip(1).map(|t| t.id.clone()));
        let old: Vec<&TaskState> = inst.tasks.iter().filter(|t| !t.primary).collect();
        let primary_healthy = primary.first().is_some_and(|t| t.health == TaskHealth::Healthy);
        for t in &old {
            if t.health != TaskHealth::Healthy || primary_healthy {
                // Replaced already, or never served.
                out.stop.push(t.id.clone());
            } else {
                healthy_old.push(t);
            }
        }
        if primary.is_empty() && can_start && inst.tasks.len() < per_instance {
            out.start_on.push(inst.id.clone());
        }
    }
    // Healthy old tasks whose replacement is healthy were stopped above
    // without spending budget (the instance keeps a healthy task).
    for t in healthy_old {
        if budget > 0 {
            budget -= 1;
            out.stop.push(t.id.clone());
        }
    }
    out
}

/// The deployment circuit breaker's failure threshold: half the desired
/// count (rounded up), at least 3 and at most 200.
pub fn failure_threshold(desired: u32) -> u32 {
    desired.div_ceil(2).clamp(3, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn task(id: &str, primary: bool, health: TaskHealth) -> TaskState {
        TaskState {
            id: id.into(),
            primary,
            health,
            draining: false,
            protected: false,
        }
    }

    #[test]
    fn protected_tasks_are_kept_through_scale_in_and_deployments() {
        let limits = |desired| Limits {
            desired,
            minimum_healthy_percent: 0,
            maximum_percent: 200,
        };
        let protected = |id: &str, primary| TaskState {
            protected: true,
            ..task(id, primary, TaskHealth::Healthy)
        };
        // Scale in from 3 to 1: the protected one is kept, whatever its id.
        let tasks = vec![
            task("a", true, TaskHealth::Healthy),
            task("b", true, TaskHealth::Healthy),
            protected("c", true),
        ];
        let s = rolling_step(limits(1), &tasks, true);
        assert_eq!(s.stop, vec!["a".to_string(), "b".to_string()]);
        // Scale in to 0: the protected task stays until its protection ends.
        let s = rolling_step(limits(0), &tasks, true);
        assert_eq!(s.stop, vec!["a".to_string(), "b".to_string()]);
        // A deployment does not replace a protected task of the old one.
        let tasks = vec![protected("old", false), task("new", true, TaskHealth::Healthy)];
        assert_eq!(rolling_step(limits(1), &tasks, true), Step { start: 0, stop: vec![] });
    }

    fn limits(desired: u32, min: u32, max: u32) -> Limits {
        Limits {
            desired,
            minimum_healthy_percent: min,
            maximum_percent: max,
        }
    }

    #[test]
    fn limits_round_as_ecs() {
        assert_eq!(limits(3, 50, 200).min_healthy(), 2);
        assert_eq!(limits(3, 100, 150).max_total(), 4);
        assert_eq!(limits(0, 100, 200).max_total(), 0);
        assert_eq!(limits(5, 0, 100).min_healthy(), 0);
    }

    #[test]
    fn fresh_service_starts_everything() {
        let s = rolling_step(limits(3, 100, 200), &[], true);
        assert_eq!(s, Step { start: 3, stop: vec![] });
        assert_eq!(rolling_step(limits(3, 100, 200), &[], false).start, 0);
    }

    #[test]
    fn rolling_100_200_starts_new_then_stops_old_as_new_get_healthy() {
        let l = limits(3, 100, 200);
        let old: Vec<TaskState> = (0..3)
            .map(|i| task(&format!("o{i}"), false, TaskHealth::Healthy))
            .collect();
        let s = rolling_step(l, &old, true);
        assert_eq!(s.start, 3);
        assert!(s.stop.is_empty());
        let mut all = old.clone();
        all.push(task("n0", true, TaskHealth::Healthy));
        all.push(task("n1", true, TaskHealth::Running));
        all.push(task("n2", true, TaskHealth::Pending));
        let s = rolling_step(l, &all, true);
        assert_eq!(s.start, 0);
        assert_eq!(s.stop.len(), 1);
        assert!(s.stop[0].starts_with('o'));
    }

    #[test]
    fn rolling_with_max_100_stops_before_starting() {
        let l = limits(2, 50, 100);
        let old = vec![
            task("o0", false, TaskHealth::Healthy),
            task("o1", false, TaskHealth::Healthy),
        ];
        let s = rolling_step(l, &old, true);
        assert_eq!(s.start, 0);
        assert_eq!(s.stop.len(), 1);
        let s = rolling_step(l, &old[..1], true);
        assert_eq!(s, Step { start: 1, stop: vec![] });
    }

    #[test]
    fn scale_in_and_draining() {
        let l = limits(1, 100, 200);
        let tasks = vec![
            task("a", true, TaskHealth::Healthy),
            task("b", true, TaskHealth::Pending),
            task("c", true, TaskHealth::Healthy),
        ];
        let s = rolling_step(l, &tasks, true);
        assert_eq!(s.stop, vec!["b".to_string(), "c".to_string()]);
        let l = limits(0, 100, 200);
        assert_eq!(rolling_step(l, &tasks, true).stop.len(), 3);
        // Draining: start the replacement first, stop once it is healthy.
        let mut d = task("d", true, TaskHealth::Healthy);
        d.draining = true;
        let l = limits(1, 100, 200);
        let s = rolling_step(l, std::slice::from_ref(&d), true);
        assert_eq!(s, Step { start: 1, stop: vec![] });
        let s = rolling_step(l, &[d.clone(), task("e", true, TaskHealth::Running)], true);
        assert_eq!(s, Step { start: 0, stop: vec![] });
        let s = rolling_step(l, &[d, task("e", true, TaskHealth::Healthy)], true);
        assert_eq!(s.stop, vec!["d".to_string()]);
    }

    #[test]
    fn daemon_replaces_old_tasks_one_instance_at_a_time_within_limits() {
        let inst = |id: &str, eligible: bool, tasks: Vec<TaskState>| DaemonInstance {
            id: id.into(),
            eligible,
            tasks,
        };
        let s = daemon_step(
            &[
                inst("i1", true, vec![]),
                inst("i2", false, vec![task("x", true, TaskHealth::Healthy)]),
            ],
            0,
            100,
            true,
        );
        assert_eq!(s.start_on, vec!["i1".to_string()]);
        assert_eq!(s.stop, vec!["x".to_string()]);
        // min 0 / max 100: old tasks stop first; nothing starts beside them.
        let s = daemon_step(
            &[
                inst("i1", true, vec![task("o1", false, TaskHealth::Healthy)]),
                inst("i2", true, vec![task("o2", false, TaskHealth::Healthy)]),
            ],
            0,
            100,
            true,
        );
        assert!(s.start_on.is_empty());
        assert_eq!(s.stop.len(), 2);
        // min 50: one instance at a time.
        let s = daemon_step(
            &[
                inst("i1", true, vec![task("o1", false, TaskHealth::Healthy)]),
                inst("i2", true, vec![task("o2", false, TaskHealth::Healthy)]),
            ],
            50,
            100,
            true,
        );
        assert_eq!(s.stop.len(), 1);
    }

    #[test]
    fn circuit_breaker_threshold() {
        assert_eq!(failure_threshold(1), 3);
        assert_eq!(failure_threshold(3), 3);
        assert_eq!(failure_threshold(9), 5);
        assert_eq!(failure_threshold(10), 5);
        assert_eq!(failure_threshold(1000), 200);
    }

    fn health() -> impl Strategy<Value = TaskHealth> {
        prop_oneof![
            Just(TaskHealth::Pending),
            Just(TaskHealth::Running),
            Just(TaskHealth::Healthy)
        ]
    }

    fn tasks() -> impl Strategy<Value = Vec<TaskState>> {
        proptest::collection::vec((any::<bool>(), health(), proptest::bool::weighted(0.2)), 0..30).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (primary, health, draining))| TaskState {
                    id: format!("t{i:02}"),
                    primary,
                    health,
                    draining,
                    protected: false,
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn healthy_never_drops_below_the_minimum(
            desired in 0u32..20, min in 0u32..=100, max in 100u32..=200, tasks in tasks(), can in any::<bool>()
        ) {
            let l = limits(desired, min, max);
            let step = rolling_step(l, &tasks, can);
            let healthy = tasks.iter().filter(|t| t.health == TaskHealth::Healthy).count() as u32;
            let stopped_healthy = tasks
                .iter()
                .filter(|t| t.health == TaskHealth::Healthy && step.stop.contains(&t.id))
                .count() as u32;
            prop_assert!(healthy - stopped_healthy >= healthy.min(l.min_healthy()));
            // Only known tasks, each once.
            let mut ids = step.stop.clone();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), step.stop.len());
            prop_assert!(step.stop.iter().all(|id| tasks.iter().any(|t| &t.id == id)));
        }

        #[test]
        fn total_never_exceeds_the_maximum(
            desired in 0u32..20, min in 0u32..=100, max in 100u32..=200, tasks in tasks()
        ) {
            let l = limits(desired, min, max);
            let step = rolling_step(l, &tasks, true);
            if step.start > 0 {
                prop_assert!(tasks.len() as u32 + step.start <= l.max_total());
            }
            prop_assert!(step.start <= desired);
        }

        #[test]
        fn repeated_steps_converge(desired in 0u32..12, min in 0u32..=100, max in 100u32..=200, tasks in tasks()) {
            // Simulate: stopped tasks vanish, every task becomes healthy
            // after each step; within a bounded number of steps only
            // `desired` healthy PRIMARY tasks remain.
            let l = limits(desired, min, max);
            let mut tasks: Vec<TaskState> = tasks;
            let mut next = 100;
            for _ in 0..100 {
                let step = rolling_step(l, &tasks, true);
                if step.start == 0 && step.stop.is_empty() && tasks.iter().all(|t| t.health == TaskHealth::Healthy) {
                    break;
                }
                tasks.retain(|t| !step.stop.contains(&t.id));
                for t in &mut tasks {
                    t.health = TaskHealth::Healthy;
                }
                for _ in 0..step.start {
                    next += 1;
                    tasks.push(task(&format!("n{next}"), true, TaskHealth::Healthy));
                }
            }
            if l.max_total() > l.min_healthy() || tasks.iter().all(|t| t.primary && !t.draining) {
                prop_assert_eq!(tasks.len() as u32, desired);
                prop_assert!(tasks.iter().all(|t| t.primary && !t.draining));
            }
        }
    }
}
