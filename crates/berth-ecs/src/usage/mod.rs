//! What ECS publishes to CloudWatch: `AWS/ECS` CPUUtilization and
//! MemoryUtilization per cluster and per service, CPUReservation and
//! MemoryReservation per cluster (docs/architecture.md, "ECS metrics").
//!
//! Agents report what their tasks used (`report.rs`, the usage book in
//! `book.rs`); every interval (60 s, ECS's resolution;
//! `--ecs-metrics-interval-secs`) the publisher takes the window from the
//! book, reads the cluster view for what the RUNNING tasks reserve and the
//! instances registered, computes the data (`aggregate.rs`, pure) and hands
//! them to a [`UsageSink`] — the binary's writes them into the region's
//! CloudWatch metrics. This crate knows nothing of the metric store.

pub mod aggregate;
mod book;
pub(crate) mod report;

pub use aggregate::{Datum, EcsMetric};
pub(crate) use book::UsageBook;

use crate::Ecs;
use crate::tasks::TaskRecord;
use aggregate::{ClusterFigures, ContainerSizes, TaskFigures};
use async_trait::async_trait;
use berth_core::time::now_epoch;
use berth_ecs_model::TaskStatus;
use std::sync::Arc;
use std::time::Duration;

/// ECS publishes its metrics every minute.
pub const DEFAULT_PUBLISH_INTERVAL: Duration = Duration::from_secs(60);

/// Where the publisher puts each publication's data, stamped `at` (epoch
/// seconds).
#[async_trait]
pub trait UsageSink: Send + Sync + 'static {
    async fn publish(&self, at: f64, data: Vec<Datum>);
}

fn number(s: Option<&str>) -> Option<f64> {
    s.and_then(|v| v.trim().parse::<f64>().ok())
}

/// What one RUNNING task reserves, with its mean usage over the window.
fn task_figures(t: &TaskRecord, used: Option<(f64, f64)>) -> TaskFigures {
    let sizes: Vec<ContainerSizes> = t
        .containers
        .iter()
        .map(|c| ContainerSizes {
            memory: number(c.memory.as_deref()),
            memory_reservation: number(c.memory_reservation.as_deref()),
        })
        .collect();
    TaskFigures {
        service: t.group.strip_prefix("service:").map(str::to_string),
        cpu_reserved: f64::from(t.berth.demand.cpu),
        memory_reserved: aggregate::reserved_memory(f64::from(t.berth.demand.memory), &sizes),
        used,
    }
}

impl Ecs {
    /// The figures of every cluster for one publication, with the usage
    /// `window` (cluster → task ARN → mean CPU units and MiB).
    fn usage_figures(&self, mut window: std::collections::HashMap<String, book::Window>) -> Vec<ClusterFigures> {
        let mut names = self.view.cluster_names();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let state = self.view.state(&name);
                let used = window.remove(&name).unwrap_or_default();
                let (mut cpu, mut memory) = (0.0, 0.0);
                for (i, _) in &state.instances {
                    if i.is_registered() {
                        cpu += f64::from(i.registered_resources.cpu);
                        memory += f64::from(i.registered_resources.memory);
                    }
                }
                let tasks = state
                    .tasks
                    .iter()
                    .filter(|t| t.last_status == TaskStatus::Running)
                    .map(|t| task_figures(t, used.get(&t.task_arn).copied()))
                    .collect();
                ClusterFigures {
                    name,
                    cpu_registered: cpu,
                    memory_registered: memory,
                    tasks,
                }
            })
            .collect()
    }

    /// One publication: the window since the last one, aggregated.
    pub(crate) async fn usage_publication(&self) -> Result<Vec<Datum>, berth_proto::AwsError> {
        self.synced_view().await?;
        let window = self.usage.drain();
        Ok(aggregate::aggregate(&self.usage_figures(window)))
    }
}

/// Publishes the `AWS/ECS` metrics into `sink` every `interval` (the first
/// one interval after the start).
pub fn spawn_usage_publisher(ecs: &Ecs, interval: Duration, sink: Arc<dyn UsageSink>) -> tokio::task::JoinHandle<()> {
    let ecs = ecs.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match ecs.usage_publication().await {
                Ok(data) if data.is_empty() => {}
                Ok(data) => sink.publish(now_epoch(), data).await,
                Err(e) => tracing::warn!(error = %e, "cannot compute the AWS/ECS metrics"),
            }
        }
    })
}
