//! FARGATE_SPOT interruptions: the admin operation (`berth admin
//! spot-interrupt`, served by the binary at `/berth/ecs/spot-interrupt`)
//! and the optional chaos rate (`--fargate-spot-interruption-rate`). Each
//! records the intent durably — the task desired STOPPED with stopCode
//! SpotInterruption, its reason and the notice — in one write; the agent
//! converges: SIGTERM at once, SIGKILL when the notice is over (see
//! `berth-agent` `engine/step.rs`), and the service replaces the task by
//! its strategy. The pure rules are `berth-ecs-model`'s `task/spot.rs`.

use crate::Ecs;
use berth_ecs_model::TaskStopCode;
use berth_ecs_model::task::{
    SPOT_INTERRUPTION_REASON, TaskRecord, chaos_interrupts, is_interruptible, spot_notice_secs, task_id_of,
};
use berth_proto::AwsError;
use std::time::Duration;

/// What to interrupt in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpotTarget {
    /// One task (an id or ARN), which must run on FARGATE_SPOT.
    Task(String),
    /// This many of the cluster's FARGATE_SPOT tasks, chosen at random
    /// (fewer when it has fewer).
    Count(usize),
}

/// How often the chaos rate draws.
const CHAOS_TICK: Duration = Duration::from_secs(1);

impl Ecs {
    /// Interrupts FARGATE_SPOT tasks of `cluster`: each is marked desired
    /// STOPPED with stopCode SpotInterruption and the two-minute notice
    /// (scaled by `--time-scale`). Returns the tasks interrupted.
    pub async fn interrupt_spot_tasks(&self, cluster: &str, target: &SpotTarget) -> Result<Vec<TaskRecord>, AwsError> {
        let cluster = self.active_cluster(Some(cluster)).await?.cluster_name;
        let tasks = self.synced_view().await?.tasks(&cluster);
        let chosen: Vec<TaskRecord> = match target {
            SpotTarget::Task(reference) => {
                let id = task_id_of(reference);
                let t = tasks
                    .iter()
                    .find(|t| t.berth.id == id)
                    .ok_or_else(|| AwsError::invalid_parameter("The referenced task was not found."))?;
                if !is_interruptible(t) {
                    return Err(AwsError::invalid_parameter(format!(
                        "Task {} cannot be interrupted: only a running task placed on the FARGATE_SPOT capacity provider can (its capacity provider: {}, desired status: {}).",
                        t.task_arn,
                        t.capacity_provider_name.as_deref().unwrap_or("none"),
                        t.desired_status
                    )));
                }
                vec![TaskRecord::clone(t)]
            }
            SpotTarget::Count(0) => {
                return Err(AwsError::invalid_parameter("count must be at least 1."));
            }
            SpotTarget::Count(n) => {
                let mut candidates: Vec<TaskRecord> = tasks
                    .iter()
                    .filter(|t| is_interruptible(t))
                    .map(|t| TaskRecord::clone(t))
                    .collect();
                use rand::seq::SliceRandom;
                candidates.shuffle(&mut rand::thread_rng());
                candidates.truncate(*n);
                candidates
            }
        };
        let notice = spot_notice_secs(self.time_scale.factor());
        let mut out = vec![];
        for t in chosen {
            if let Some(rec) = self
                .request_stop_with_notice(
                    &cluster,
                    &t,
                    TaskStopCode::SpotInterruption,
                    SPOT_INTERRUPTION_REASON,
                    false,
                    Some(notice),
                )
                .await?
            {
                tracing::info!(task = %rec.task_arn, notice, "FARGATE_SPOT task interrupted");
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// One draw of the chaos rate over every cluster's FARGATE_SPOT tasks.
    async fn chaos_tick(&self, per_hour: f64) -> Result<(), AwsError> {
        let view = self.synced_view().await?;
        for cluster in view.cluster_names() {
            for t in view.tasks(&cluster) {
                if is_interruptible(&t) && chaos_interrupts(per_hour, CHAOS_TICK.as_secs_f64(), rand::random::<f64>()) {
                    self.interrupt_spot_tasks(&cluster, &SpotTarget::Task(t.berth.id.clone()))
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// Interrupts FARGATE_SPOT tasks at random, `per_hour` times per
/// task-hour on average (`--fargate-spot-interruption-rate`; chaos runs).
pub fn spawn_spot_chaos(ecs: &Ecs, per_hour: f64) {
    if per_hour <= 0.0 {
        return;
    }
    let ecs = ecs.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHAOS_TICK);
        loop {
            tick.tick().await;
            if let Err(e) = ecs.chaos_tick(per_hour).await {
                tracing::warn!(error = %e.message, "FARGATE_SPOT chaos: a draw failed");
            }
        }
    });
}
