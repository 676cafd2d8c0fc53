//! The task lifecycle as pure decisions (design.md "Task lifecycle"): given
//! what each container of a task is doing, which containers start next,
//! whether the task has to stop (and why), and what the agent reports.
//!
//! The task engine (engine.rs) observes Docker, builds [`ContainerView`]s,
//! asks [`decide`], and carries the decision out. Nothing here does IO.

use crate::invalid::InvalidTask;
use crate::model::ContainerDefinition;
use berth_ecs_model::{ContainerStatus, TaskStatus, TaskStopCode};
use std::collections::{BTreeMap, BTreeSet};

/// ECS stop codes the agent can determine itself.
pub const ESSENTIAL_CONTAINER_EXITED: TaskStopCode = TaskStopCode::EssentialContainerExited;
pub const TASK_FAILED_TO_START: TaskStopCode = TaskStopCode::TaskFailedToStart;
/// ECS's stoppedReason when an essential container exits.
pub const ESSENTIAL_EXITED_REASON: &str = "Essential container in task exited";

/// A `dependsOn` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The dependency has been started.
    Start,
    /// The dependency ran to completion (any exit code).
    Complete,
    /// The dependency ran to completion with exit code 0.
    Success,
    /// The dependency's Docker health check reports healthy.
    Healthy,
}

impl Condition {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "START" => Some(Self::Start),
            "COMPLETE" => Some(Self::Complete),
            "SUCCESS" => Some(Self::Success),
            "HEALTHY" => Some(Self::Healthy),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "START",
            Self::Complete => "COMPLETE",
            Self::Success => "SUCCESS",
            Self::Healthy => "HEALTHY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub container: String,
    pub condition: Condition,
}

/// Where one container of the task is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Not started yet (it may or may not exist in Docker).
    Waiting,
    /// Started and running.
    Running,
    /// Started, then exited.
    Exited { exit_code: Option<i64> },
    /// Never ran and never will: its image could not be pulled, it could not
    /// be created or started, a dependency can never be satisfied, or the
    /// task stopped before its turn.
    NotRun { reason: String },
}

impl RunState {
    pub fn is_terminal(&self) -> bool {
        matches!(self, RunState::Exited { .. } | RunState::NotRun { .. })
    }

    /// The container `lastStatus` ECS reports for this state.
    pub fn ecs_status(&self) -> ContainerStatus {
        match self {
            RunState::Waiting => ContainerStatus::Pending,
            RunState::Running => ContainerStatus::Running,
            RunState::Exited { .. } | RunState::NotRun { .. } => ContainerStatus::Stopped,
        }
    }
}

/// A container's health as ECS reports it: the model's one health status.
pub use berth_ecs_model::HealthStatus as Health;

/// What the engine knows about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerView {
    pub name: String,
    pub essential: bool,
    /// `dependsOn` plus the implicit START dependencies of `links`.
    pub depends_on: Vec<Dependency>,
    pub has_health_check: bool,
    pub state: RunState,
    pub health: Health,
    /// The container's `startTimeout` has passed while it waited for its
    /// dependencies.
    pub dependency_timed_out: bool,
}

/// Why the task stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopCause {
    /// None when the control plane asked for the stop: it set the code itself.
    pub stop_code: Option<TaskStopCode>,
    pub reason: Option<String>,
}

/// What the engine does next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Containers to start now (all their dependencies are satisfied).
    pub start: Vec<String>,
    /// Containers that will never start, with the reason to report.
    pub give_up: Vec<(String, String)>,
    /// The task stops: stop every running container, then report STOPPED.
    pub stop: Option<StopCause>,
}

enum DepStatus {
    Satisfied,
    Pending,
    Impossible(String),
}

fn dependency_status(dep: &ContainerView, cond: Condition) -> DepStatus {
    use DepStatus::*;
    let name = &dep.name;
    match (&dep.state, cond) {
        (RunState::NotRun { .. }, _) => Impossible(format!("dependency {name} did not start")),
        (RunState::Running | RunState::Exited { .. }, Condition::Start) => Satisfied,
        (RunState::Waiting, _) => Pending,
        (RunState::Exited { .. }, Condition::Complete) => Satisfied,
        (RunState::Exited { exit_code: Some(0) }, Condition::Success) => Satisfied,
        (RunState::Exited { exit_code }, Condition::Success) => Impossible(format!(
            "dependency {name} exited with code {}, condition SUCCESS",
            exit_code.map_or_else(|| "unknown".to_string(), |c| c.to_string())
        )),
        (RunState::Running, Condition::Complete | Condition::Success) => Pending,
        (_, Condition::Healthy) if !dep.has_health_check => {
            Impossible(format!("dependency {name} has no health check, condition HEALTHY"))
        }
        (RunState::Running, Condition::Healthy) => match dep.health {
            Health::Healthy => Satisfied,
            _ => Pending,
        },
        (RunState::Exited { .. }, Condition::Healthy) => {
            Impossible(format!("dependency {name} exited before it was healthy"))
        }
    }
}

/// The next step for a task.
///
/// * `desired_stop`: the control plane wants the task STOPPED.
/// * `ever_running`: the task has reached RUNNING (decides between
///   `TaskFailedToStart` and `EssentialContainerExited`).
pub fn decide(containers: &[ContainerView], desired_stop: bool, ever_running: bool) -> Decision {
    if desired_stop {
        return Decision {
            stop: Some(StopCause {
                stop_code: None,
                reason: None,
            }),
            ..Decision::default()
        };
    }
    let mut states: Vec<ContainerView> = containers.to_vec();
    let mut give_up = Vec::new();
    // Giving up on one container can make its dependents impossible: repeat
    // until nothing changes.
    loop {
        let mut changed = false;
        for i in 0..states.len() {
            if states[i].state != RunState::Waiting {
                continue;
            }
            let mut pending = false;
            let mut impossible = None;
            for dep in &states[i].depends_on {
                let status = match states.iter().find(|c| c.name == dep.container) {
                    None => DepStatus::Impossible(format!("dependency {} is not in the task", dep.container)),
                    Some(d) => dependency_status(d, dep.condition),
                };
                match status {
                    DepStatus::Satisfied => {}
                    DepStatus::Pending => pending = true,
                    DepStatus::Impossible(why) => {
                        impossible = Some(why);
                        break;
                    }
                }
            }
            let why = match impossible {
                Some(why) => Some(why),
                None if pending && states[i].dependency_timed_out => {
                    Some("timed out waiting for its dependencies (startTimeout)".to_string())
                }
                None => None,
            };
            if let Some(why) = why {
                let reason = format!("DependencyConditionNotSatisfied: {why}");
                states[i].state = RunState::NotRun { reason: reason.clone() };
                give_up.push((states[i].name.clone(), reason));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    let stop = stop_cause(&states, ever_running);
    let start = if stop.is_some() {
        Vec::new()
    } else {
        states
            .iter()
            .filter(|c| c.state == RunState::Waiting)
            .filter(|c| {
                c.depends_on.iter().all(|dep| {
                    states
                        .iter()
                        .find(|d| d.name == dep.container)
                        .is_some_and(|d| matches!(dependency_status(d, dep.condition), DepStatus::Satisfied))
                })
            })
            .map(|c| c.name.clone())
            .collect()
    };
    Decision { start, give_up, stop }
}

fn stop_cause(states: &[ContainerView], ever_running: bool) -> Option<StopCause> {
    if states
        .iter()
        .any(|c| c.essential && matches!(c.state, RunState::Exited { .. }))
    {
        return Some(StopCause {
            stop_code: Some(ESSENTIAL_CONTAINER_EXITED),
            reason: Some(ESSENTIAL_EXITED_REASON.to_string()),
        });
    }
    if let Some(reason) = states.iter().find_map(|c| match &c.state {
        RunState::NotRun { reason } if c.essential => Some(reason),
        _ => None,
    }) {
        return Some(StopCause {
            stop_code: Some(if ever_running {
                ESSENTIAL_CONTAINER_EXITED
            } else {
                TASK_FAILED_TO_START
            }),
            reason: Some(reason.clone()),
        });
    }
    if !states.is_empty() && states.iter().all(|c| c.state.is_terminal()) {
        return Some(StopCause {
            stop_code: Some(ESSENTIAL_CONTAINER_EXITED),
            reason: Some("All containers in the task exited".to_string()),
        });
    }
    None
}

/// The task `lastStatus` the containers add up to: STOPPED when every
/// container is done, RUNNING once every essential container has started,
/// PENDING before.
pub fn task_status(containers: &[ContainerView]) -> TaskStatus {
    if containers.iter().all(|c| c.state.is_terminal()) {
        TaskStatus::Stopped
    } else if containers
        .iter()
        .filter(|c| c.essential)
        .all(|c| matches!(c.state, RunState::Running | RunState::Exited { .. }))
    {
        TaskStatus::Running
    } else {
        TaskStatus::Pending
    }
}

/// ECS's task health: only essential containers with a health check count;
/// any UNHEALTHY makes the task UNHEALTHY, all HEALTHY make it HEALTHY,
/// anything else (or no health check at all) is UNKNOWN.
pub fn task_health(containers: &[ContainerView]) -> Health {
    let checked: Vec<&ContainerView> = containers
        .iter()
        .filter(|c| c.essential && c.has_health_check)
        .collect();
    if checked.is_empty() {
        Health::Unknown
    } else if checked.iter().any(|c| c.health == Health::Unhealthy) {
        Health::Unhealthy
    } else if checked.iter().all(|c| c.health == Health::Healthy) {
        Health::Healthy
    } else {
        Health::Unknown
    }
}

/// The dependencies of a container definition: `dependsOn` plus a START
/// dependency on every container it `links` to. Unknown conditions are an
/// error (the task cannot run as defined).
pub fn dependencies(def: &ContainerDefinition) -> Result<Vec<Dependency>, InvalidTask> {
    let mut out: Vec<Dependency> = Vec::new();
    for d in def.depends_on.iter().flatten() {
        let condition = Condition::parse(&d.condition).ok_or_else(|| InvalidTask::UnknownCondition {
            container: def.name().to_string(),
            condition: d.condition.clone(),
        })?;
        out.push(Dependency {
            container: d.container_name.clone(),
            condition,
        });
    }
    for link in def.links.iter().flatten() {
        let target = link.split(':').next().unwrap_or(link).to_string();
        if !out.iter().any(|d| d.container == target) {
            out.push(Dependency {
                container: target,
                condition: Condition::Start,
            });
        }
    }
    Ok(out)
}

/// The order in which a task's containers are created: a container is
/// created after the containers it links to or takes volumes from (Docker
/// needs those to exist). Otherwise definition order. A cycle or a reference
/// to an unknown container is an error.
pub fn create_order(defs: &[ContainerDefinition]) -> Result<Vec<usize>, InvalidTask> {
    let index: BTreeMap<&str, usize> = defs.iter().enumerate().map(|(i, d)| (d.name(), i)).collect();
    let mut needs: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); defs.len()];
    for (i, d) in defs.iter().enumerate() {
        let links = d
            .links
            .iter()
            .flatten()
            .map(|l| l.split(':').next().unwrap_or(l).to_string());
        let from = d
            .volumes_from
            .iter()
            .flatten()
            .filter_map(|v| v.source_container.clone());
        let deps = d.depends_on.iter().flatten().map(|x| x.container_name.clone());
        for name in links.chain(from).chain(deps) {
            let j = *index.get(name.as_str()).ok_or_else(|| InvalidTask::UnknownContainer {
                container: d.name().to_string(),
                target: name.clone(),
            })?;
            if j == i {
                return Err(InvalidTask::SelfReference(d.name().to_string()));
            }
            needs[i].insert(j);
        }
    }
    let mut done = vec![false; defs.len()];
    let mut order = Vec::with_capacity(defs.len());
    while order.len() < defs.len() {
        let next = (0..defs.len()).find(|&i| !done[i] && needs[i].iter().all(|&j| done[j]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                let stuck = (0..defs.len())
                    .filter(|&i| !done[i])
                    .map(|i| defs[i].name().to_string());
                return Err(InvalidTask::Cycle(stuck.collect()));
            }
        }
    }
    Ok(order)
}

/// The order in which a stopping task's containers are stopped, as groups
/// stopped together: a container is stopped before the containers it
/// depends on (dependents first, as ECS does).
pub fn stop_levels(containers: &[ContainerView]) -> Vec<Vec<String>> {
    let n = containers.len();
    let mut level = vec![0usize; n];
    // level(x) = 1 + max(level(d)) over the containers d that depend on x;
    // relax n times (enough for any acyclic graph, bounded for cycles).
    for _ in 0..n {
        let mut changed = false;
        for (i, c) in containers.iter().enumerate() {
            for dep in &c.depends_on {
                if let Some(j) = containers.iter().position(|d| d.name == dep.container)
                    && j != i
                    && level[j] < level[i] + 1
                    && level[i] < n
                {
                    level[j] = level[i] + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let max = level.iter().copied().max().unwrap_or(0);
    (0..=max)
        .map(|l| {
            containers
                .iter()
                .enumerate()
                .filter(|(i, _)| level[*i] == l)
                .map(|(_, c)| c.name.clone())
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContainerDependency, VolumeFrom};

    fn view(name: &str, essential: bool, deps: &[(&str, Condition)]) -> ContainerView {
        ContainerView {
            name: name.to_string(),
            essential,
            depends_on: deps
                .iter()
                .map(|(c, cond)| Dependency {
                    container: c.to_string(),
                    condition: *cond,
                })
                .collect(),
            has_health_check: false,
            state: RunState::Waiting,
            health: Health::Unknown,
            dependency_timed_out: false,
        }
    }

    #[test]
    fn containers_without_dependencies_start_together() {
        let d = decide(&[view("a", true, &[]), view("b", false, &[])], false, false);
        assert_eq!(d.start, vec!["a", "b"]);
        assert!(d.stop.is_none());
        assert!(d.give_up.is_empty());
    }

    #[test]
    fn complete_waits_for_exit_and_success_needs_zero() {
        let mut init = view("init", false, &[]);
        let app = view("app", true, &[("init", Condition::Complete)]);
        let strict = view("strict", true, &[("init", Condition::Success)]);
        init.state = RunState::Running;
        let d = decide(&[init.clone(), app.clone(), strict.clone()], false, false);
        assert!(d.start.is_empty());

        init.state = RunState::Exited { exit_code: Some(0) };
        let d = decide(&[init.clone(), app.clone(), strict.clone()], false, false);
        assert_eq!(d.start, vec!["app", "strict"]);

        init.state = RunState::Exited { exit_code: Some(3) };
        let d = decide(&[init, app, strict], false, false);
        // strict can never start; since the task stops, app is not started either.
        assert!(d.start.is_empty());
        assert_eq!(d.give_up.len(), 1);
        assert_eq!(d.give_up[0].0, "strict");
        assert!(d.give_up[0].1.contains("exited with code 3"), "{:?}", d.give_up);
        // strict is essential and can never start: the task fails to start.
        let stop = d.stop.unwrap();
        assert_eq!(stop.stop_code, Some(TASK_FAILED_TO_START));
    }

    #[test]
    fn healthy_waits_for_the_health_check() {
        let mut db = view("db", true, &[]);
        db.has_health_check = true;
        db.state = RunState::Running;
        let web = view("web", true, &[("db", Condition::Healthy)]);
        assert!(decide(&[db.clone(), web.clone()], false, false).start.is_empty());
        db.health = Health::Unhealthy;
        assert!(decide(&[db.clone(), web.clone()], false, false).start.is_empty());
        db.health = Health::Healthy;
        assert_eq!(decide(&[db, web], false, false).start, vec!["web"]);
    }

    #[test]
    fn healthy_on_a_container_without_health_check_is_impossible() {
        let mut db = view("db", false, &[]);
        db.state = RunState::Running;
        let web = view("web", true, &[("db", Condition::Healthy)]);
        let d = decide(&[db, web], false, false);
        assert_eq!(d.give_up[0].0, "web");
        assert!(d.give_up[0].1.contains("no health check"));
        assert!(d.stop.is_some());
    }

    #[test]
    fn start_condition_is_met_by_running_or_exited() {
        let mut a = view("a", false, &[]);
        let b = view("b", true, &[("a", Condition::Start)]);
        assert!(decide(&[a.clone(), b.clone()], false, false).start == vec!["a"]);
        a.state = RunState::Running;
        assert_eq!(decide(&[a.clone(), b.clone()], false, false).start, vec!["b"]);
        a.state = RunState::Exited { exit_code: Some(1) };
        assert_eq!(decide(&[a, b], false, false).start, vec!["b"]);
    }

    #[test]
    fn giving_up_cascades_to_dependents() {
        let mut a = view("a", false, &[]);
        a.state = RunState::NotRun {
            reason: "CannotPullContainerError: nope".into(),
        };
        let b = view("b", false, &[("a", Condition::Start)]);
        let c = view("c", false, &[("b", Condition::Start)]);
        let mut e = view("e", true, &[]);
        e.state = RunState::Running;
        let d = decide(&[a, b, c, e], false, true);
        let names: Vec<&str> = d.give_up.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["b", "c"]);
        // Only non-essential containers failed: the task keeps running.
        assert!(d.stop.is_none());
    }

    #[test]
    fn dependency_timeout_gives_up() {
        let mut db = view("db", false, &[]);
        db.has_health_check = true;
        db.state = RunState::Running;
        let mut web = view("web", true, &[("db", Condition::Healthy)]);
        web.dependency_timed_out = true;
        let d = decide(&[db, web], false, true);
        assert!(d.give_up[0].1.contains("startTimeout"));
        assert_eq!(d.stop.unwrap().stop_code, Some(ESSENTIAL_CONTAINER_EXITED));
    }

    #[test]
    fn essential_exit_stops_the_task() {
        let mut a = view("a", true, &[]);
        let mut b = view("b", false, &[]);
        a.state = RunState::Exited { exit_code: Some(0) };
        b.state = RunState::Running;
        let d = decide(&[a.clone(), b.clone()], false, true);
        let stop = d.stop.unwrap();
        assert_eq!(stop.stop_code, Some(ESSENTIAL_CONTAINER_EXITED));
        assert_eq!(stop.reason.as_deref(), Some(ESSENTIAL_EXITED_REASON));
        assert!(d.start.is_empty());
        // A non-essential exit does not.
        a.state = RunState::Running;
        b.state = RunState::Exited { exit_code: Some(1) };
        assert!(decide(&[a, b], false, true).stop.is_none());
    }

    #[test]
    fn essential_failure_before_running_is_task_failed_to_start() {
        let mut a = view("a", true, &[]);
        a.state = RunState::NotRun {
            reason: "CannotPullContainerError: pull access denied".into(),
        };
        let d = decide(&[a, view("b", false, &[])], false, false);
        let stop = d.stop.unwrap();
        assert_eq!(stop.stop_code, Some(TASK_FAILED_TO_START));
        assert_eq!(
            stop.reason.as_deref(),
            Some("CannotPullContainerError: pull access denied")
        );
    }

    #[test]
    fn desired_stop_wins_and_carries_no_code() {
        let d = decide(&[view("a", true, &[])], true, false);
        assert_eq!(
            d.stop,
            Some(StopCause {
                stop_code: None,
                reason: None
            })
        );
        assert!(d.start.is_empty());
    }

    #[test]
    fn task_status_follows_essential_containers() {
        let mut a = view("a", true, &[]);
        let mut b = view("b", false, &[]);
        assert_eq!(task_status(&[a.clone(), b.clone()]), "PENDING");
        a.state = RunState::Running;
        assert_eq!(task_status(&[a.clone(), b.clone()]), "RUNNING");
        a.state = RunState::Exited { exit_code: Some(0) };
        assert_eq!(task_status(&[a.clone(), b.clone()]), "RUNNING");
        b.state = RunState::NotRun {
            reason: "stopped".into(),
        };
        assert_eq!(task_status(&[a, b]), "STOPPED");
    }

    #[test]
    fn task_health_rules() {
        let mut a = view("a", true, &[]);
        let mut b = view("b", true, &[]);
        let mut side = view("side", false, &[]);
        assert_eq!(task_health(&[a.clone(), b.clone()]), Health::Unknown);
        a.has_health_check = true;
        b.has_health_check = true;
        side.has_health_check = true;
        side.health = Health::Unhealthy;
        a.health = Health::Healthy;
        assert_eq!(task_health(&[a.clone(), b.clone(), side.clone()]), Health::Unknown);
        b.health = Health::Healthy;
        assert_eq!(task_health(&[a.clone(), b.clone(), side.clone()]), Health::Healthy);
        b.health = Health::Unhealthy;
        assert_eq!(task_health(&[a, b, side]), Health::Unhealthy);
    }

    fn def(name: &str) -> ContainerDefinition {
        ContainerDefinition {
            name: Some(name.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn dependencies_merge_links_and_reject_unknown_conditions() {
        let mut d = def("web");
        d.links = Some(vec!["db:database".into(), "cache".into()]);
        d.depends_on = Some(vec![ContainerDependency {
            container_name: "db".into(),
            condition: "HEALTHY".into(),
        }]);
        let deps = dependencies(&d).unwrap();
        assert_eq!(
            deps,
            vec![
                Dependency {
                    container: "db".into(),
                    condition: Condition::Healthy
                },
                Dependency {
                    container: "cache".into(),
                    condition: Condition::Start
                },
            ]
        );
        d.depends_on = Some(vec![ContainerDependency {
            container_name: "db".into(),
            condition: "READY".into(),
        }]);
        assert!(dependencies(&d).unwrap_err().to_string().contains("READY"));
    }

    #[test]
    fn create_order_respects_links_and_volumes_from() {
        let mut web = def("web");
        web.links = Some(vec!["db".into()]);
        let mut side = def("side");
        side.volumes_from = Some(vec![VolumeFrom {
            source_container: Some("web".into()),
            read_only: None,
        }]);
        let db = def("db");
        assert_eq!(
            create_order(&[side.clone(), web.clone(), db.clone()]).unwrap(),
            vec![2, 1, 0]
        );
        let mut db2 = def("db");
        db2.links = Some(vec!["side".into()]);
        assert!(
            create_order(&[side.clone(), web.clone(), db2])
                .unwrap_err()
                .to_string()
                .contains("cycle")
        );
        let mut lonely = def("x");
        lonely.links = Some(vec!["ghost".into()]);
        assert!(create_order(&[lonely]).unwrap_err().to_string().contains("ghost"));
    }

    #[test]
    fn stop_levels_stop_dependents_first() {
        let db = view("db", true, &[]);
        let web = view("web", true, &[("db", Condition::Healthy)]);
        let proxy = view("proxy", true, &[("web", Condition::Start)]);
        let lone = view("lone", false, &[]);
        let levels = stop_levels(&[db, web, proxy, lone]);
        assert_eq!(
            levels,
            vec![
                vec!["proxy".to_string(), "lone".to_string()],
                vec!["web".to_string()],
                vec!["db".to_string()]
            ]
        );
        // A cycle does not loop forever.
        let a = view("a", true, &[("b", Condition::Start)]);
        let b = view("b", true, &[("a", Condition::Start)]);
        let levels = stop_levels(&[a, b]);
        assert_eq!(levels.iter().map(Vec::len).sum::<usize>(), 2);
    }

    #[test]
    fn status_rank_is_ordered() {
        use berth_ecs_model::TaskStatus;
        assert!(TaskStatus::rank_of("PENDING") < TaskStatus::rank_of("RUNNING"));
        assert!(TaskStatus::rank_of("RUNNING") < TaskStatus::rank_of("STOPPED"));
    }
}
