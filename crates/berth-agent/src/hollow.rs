//! The hollow runtime (`berth agent --runtime hollow`): the real agent
//! session (registration, NDJSON desired state, heartbeats, outbox) with a
//! task engine that starts no containers. A task goes PENDING → RUNNING after
//! a short random delay and STOPPED a short delay after the control plane
//! asks it to stop, so one process can host thousands of simulated
//! container instances for benchmarks.

use crate::engine::EngineHandle;
use crate::host::HostFacts;
use crate::model::{ContainerStateChange, Report, Task, TaskStateChange};
use berth_core::time::now_epoch;
use berth_ecs_model::TaskStatus;
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What a hollow instance claims and how fast its tasks move.
#[derive(Debug, Clone, PartialEq)]
pub struct HollowConfig {
    /// Shortest delay of a state transition (PENDING → RUNNING, stop → STOPPED).
    pub min_delay: Duration,
    /// Longest delay of a state transition.
    pub max_delay: Duration,
    /// Cores registered (1024 CPU units each).
    pub cores: i64,
    /// Memory of the simulated host, in bytes (the registered memory keeps
    /// the usual host reserve back).
    pub memory_bytes: i64,
}

impl Default for HollowConfig {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            cores: 4,
            memory_bytes: 16 * 1024 * 1024 * 1024,
        }
    }
}

impl HollowConfig {
    /// The host facts a hollow instance registers with.
    pub fn facts(&self) -> HostFacts {
        HostFacts {
            cores: self.cores,
            memory_bytes: self.memory_bytes,
            docker_arch: "x86_64".into(),
            docker_version: "hollow".into(),
            api_version: "1.41".into(),
            host_id: None,
            runtimes: Vec::new(),
            cgroup_driver: None,
            cgroup_version: None,
        }
    }

    /// One transition's delay, uniformly in `[min_delay, max_delay]`.
    pub fn delay(&self) -> Duration {
        let (lo, hi) = (self.min_delay.as_millis() as u64, self.max_delay.as_millis() as u64);
        if hi <= lo {
            return self.min_delay;
        }
        Duration::from_millis(rand::thread_rng().gen_range(lo..=hi))
    }
}

/// A `--hollow-delay` value that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelayRangeError {
    #[error("{0:?} is not a delay in milliseconds: use MS or MIN-MAX, e.g. 50-200")]
    NotADelay(String),
    #[error("{0:?}: the minimum delay is above the maximum")]
    Inverted(String),
}

/// Parses `--hollow-delay`: `MS` or `MIN-MAX` in milliseconds.
pub fn parse_delay_range(s: &str) -> Result<(Duration, Duration), DelayRangeError> {
    let ms = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| DelayRangeError::NotADelay(s.to_string()))
    };
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (ms(a)?, ms(b)?),
        None => {
            let v = ms(s)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(DelayRangeError::Inverted(s.to_string()));
    }
    Ok((Duration::from_millis(lo), Duration::from_millis(hi)))
}

/// The container states a hollow task reports for every container.
fn containers(task: &Task, status: TaskStatus) -> Vec<ContainerStateChange> {
    task.task_definition
        .container_definitions
        .iter()
        .map(|c| ContainerStateChange {
            container_name: Some(c.name().to_string()),
            runtime_id: Some(format!("hollow-{}-{}", task.id(), c.name())),
            exit_code: (status == TaskStatus::Stopped).then_some(0),
            status: Some(status.to_string()),
            ..Default::default()
        })
        .collect()
}

fn change(cluster: &str, task: &Task, status: TaskStatus, with_containers: bool) -> Report {
    let stopped = status == TaskStatus::Stopped;
    Report::SubmitTaskStateChange(TaskStateChange {
        cluster: Some(task.cluster(cluster).to_string()),
        task: Some(task.task_arn.clone()),
        status: Some(status.to_string()),
        containers: if with_containers {
            containers(task, status)
        } else {
            Vec::new()
        },
        execution_stopped_at: stopped.then(|| now_epoch().into()),
        ..Default::default()
    })
}

/// Starts the hollow engine of one task: the same handle as a Docker engine.
pub fn spawn(
    cfg: Arc<HollowConfig>,
    cluster: String,
    reports: mpsc::UnboundedSender<Report>,
    task: Task,
) -> EngineHandle {
    let (tx, mut rx) = watch::channel(task.clone());
    let finished_at = Arc::new(AtomicU64::new(0));
    let done = finished_at.clone();
    let join = tokio::spawn(async move {
        let send = |status: TaskStatus, with_containers: bool| {
            let _ = reports.send(change(&cluster, &task, status, with_containers));
        };
        let wants_stop = |rx: &mut watch::Receiver<Task>| rx.borrow_and_update().wants_stop();
        let already_running = task.last_status == Some(TaskStatus::Running);
        let mut started = already_running;
        if !already_running && !wants_stop(&mut rx) {
            if task.last_status != Some(TaskStatus::Pending) {
                send(TaskStatus::Pending, true);
            }
            // Asked to stop while "starting": stop without running.
            tokio::select! {
                _ = tokio::time::sleep(cfg.delay()) => {
                    send(TaskStatus::Running, true);
                    started = true;
                }
                _ = async { while rx.changed().await.is_ok() { if rx.borrow_and_update().wants_stop() { break } } } => {}
            }
        }
        // Runs until the control plane asks it to stop (or the agent drops the handle).
        while !wants_stop(&mut rx) {
            if rx.changed().await.is_err() {
                return;
            }
        }
        if started {
            tokio::time::sleep(cfg.delay()).await;
        }
        send(TaskStatus::Stopped, true);
        done.store(now_epoch().to_bits(), Ordering::Release);
    });
    EngineHandle::from_parts(tx, finished_at, join)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ContainerDefinition;

    fn task(last_status: &str) -> Task {
        let mut t = Task {
            task_arn: "arn:aws:ecs:us-east-1:000000000000:task/c/abc123".into(),
            desired_status: Some(TaskStatus::Running),
            last_status: last_status.parse().ok(),
            ..Task::default()
        };
        t.task_definition.container_definitions =
            vec![serde_json::from_str::<ContainerDefinition>(r#"{"name":"web","image":"busybox"}"#).unwrap()];
        t
    }

    fn fast() -> Arc<HollowConfig> {
        Arc::new(HollowConfig {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(3),
            ..HollowConfig::default()
        })
    }

    fn status(r: &Report) -> (String, Vec<String>, Vec<Option<i64>>) {
        match r {
            Report::SubmitTaskStateChange(c) => (
                c.status.clone().unwrap_or_default(),
                c.containers
                    .iter()
                    .map(|c| c.status.clone().unwrap_or_default())
                    .collect(),
                c.containers.iter().map(|c| c.exit_code).collect(),
            ),
            other => panic!("unexpected report {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_task_goes_pending_running_then_stopped_when_asked() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let t = task("");
        let h = spawn(fast(), "c".into(), tx, t.clone());
        assert_eq!(status(&rx.recv().await.unwrap()).0, "PENDING");
        let (s, cs, _) = status(&rx.recv().await.unwrap());
        assert_eq!((s.as_str(), cs), ("RUNNING", vec!["RUNNING".to_string()]));
        assert!(h.finished_at().is_none());
        h.update(Task {
            desired_status: Some(TaskStatus::Stopped),
            ..t
        });
        let (s, cs, codes) = status(&rx.recv().await.unwrap());
        assert_eq!(
            (s.as_str(), cs, codes),
            ("STOPPED", vec!["STOPPED".to_string()], vec![Some(0)])
        );
        while !h.is_finished() {
            tokio::task::yield_now().await;
        }
        assert!(h.finished_at().is_some());
    }

    #[tokio::test]
    async fn a_task_stopped_before_it_starts_never_reports_running() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut t = task("");
        t.desired_status = Some(TaskStatus::Stopped);
        let h = spawn(fast(), "c".into(), tx, t);
        assert_eq!(status(&rx.recv().await.unwrap()).0, "STOPPED");
        h.wait().await;
        assert!(rx.recv().await.is_none(), "no report after STOPPED");
    }

    #[tokio::test]
    async fn a_running_task_is_adopted_without_new_reports() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let t = task("RUNNING");
        let h = spawn(fast(), "c".into(), tx, t.clone());
        h.update(Task {
            desired_status: Some(TaskStatus::Stopped),
            ..t
        });
        assert_eq!(status(&rx.recv().await.unwrap()).0, "STOPPED");
    }

    #[test]
    fn delays_parse_and_stay_in_range() {
        assert_eq!(
            parse_delay_range("50-200").unwrap(),
            (Duration::from_millis(50), Duration::from_millis(200))
        );
        assert_eq!(
            parse_delay_range("7").unwrap(),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
        assert!(parse_delay_range("200-50").unwrap_err().to_string().contains("above"));
        assert!(parse_delay_range("soon").unwrap_err().to_string().contains("MIN-MAX"));
        let cfg = HollowConfig::default();
        for _ in 0..100 {
            let d = cfg.delay();
            assert!(d >= cfg.min_delay && d <= cfg.max_delay);
        }
    }

    #[test]
    fn facts_register_the_configured_resources() {
        let f = HollowConfig::default().facts();
        assert_eq!(crate::host::cpu_units(f.cores), 4096);
        assert!(crate::host::registrable_memory_mib(f.memory_bytes) > 15_000);
    }
}
