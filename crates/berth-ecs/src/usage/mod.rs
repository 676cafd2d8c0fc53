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
//! The same publication computes the `ECS/ContainerInsights` data of the
//! clusters whose `containerInsights` setting is on (`insights.rs`, pure).

pub mod aggregate;
mod book;
pub mod insights;
pub(crate) mod report;

pub use aggregate::{Datum, EcsMetric};
pub(crate) use book::UsageBook;
pub use insights::InsightsDatum;

use crate::tasks::TaskRecord;
use crate::{Ecs, keys};
use aggregate::{ClusterFigures, ContainerSizes, TaskFigures};
use async_trait::async_trait;
use berth_core::time::now_epoch;
use berth_ecs_model::service::ServiceRecord;
use berth_ecs_model::{ClusterRecord, ClusterStatus, DeploymentStatus, ServiceStatus, TaskStatus};
use berth_store::typed;
use insights::{InsightsCluster, InsightsLevel, InsightsService, InsightsTask};
use std::sync::Arc;
use std::time::Duration;

/// ECS publishes its metrics every minute.
pub const DEFAULT_PUBLISH_INTERVAL: Duration = Duration::from_secs(60);

/// Where the publisher puts each publication's data, stamped `at` (epoch
/// seconds).
#[async_trait]
pub trait UsageSink: Send + Sync + 'static {
    async fn publish(&self, at: f64, data: Vec<Datum>);

    /// The `ECS/ContainerInsights` data of one publication (a sink without
    /// a metric store drops them).
    async fn publish_insights(&self, _at: f64, _data: Vec<InsightsDatum>) {}

    /// The `AWS/ECS/ManagedScaling` `CapacityProviderReservation` of each
    /// (cluster, custom provider) with managed scaling on
    /// (`managed_scaling.rs`).
    async fn publish_managed_scaling(&self, _at: f64, _data: Vec<crate::ReservationDatum>) {}
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

    /// The Container Insights figures of every cluster whose setting is on,
    /// with the same usage `window` as the `AWS/ECS` data.
    async fn insights_figures(
        &self,
        window: &std::collections::HashMap<String, book::Window>,
    ) -> Result<Vec<InsightsCluster>, berth_proto::AwsError> {
        let err = berth_proto::AwsError::state_store;
        let mut names = self.view.cluster_names();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            // A deleted (INACTIVE) cluster publishes nothing.
            let Some((cluster, _)) = typed::get::<ClusterRecord>(&*self.store, &keys::cluster(&name))
                .await
                .map_err(err)?
                .filter(|(c, _)| c.status == ClusterStatus::Active)
            else {
                continue;
            };
            let level = cluster
                .settings
                .iter()
                .find(|s| s.name == "containerInsights")
                .map_or(InsightsLevel::Disabled, |s| InsightsLevel::parse(&s.value));
            if !level.publishes() {
                continue;
            }
            let services: Vec<ServiceRecord> = typed::list(&*self.store, &keys::services_of(&name))
                .await
                .map_err(err)?;
            let state = self.view.state(&name);
            let used = window.get(&name);
            out.push(InsightsCluster {
                level,
                container_instances: state.instances.iter().filter(|(i, _)| i.is_registered()).count(),
                services: services
                    .iter()
                    .filter(|s| s.status == ServiceStatus::Active)
                    .map(|s| InsightsService {
                        name: s.service_name.clone(),
                        desired: s.desired_count,
                        deployments: s
                            .deployments
                            .iter()
                            .filter(|d| d.status != DeploymentStatus::Inactive)
                            .count(),
                    })
                    .collect(),
                tasks: state
                    .tasks
                    .iter()
                    .filter(|t| t.last_status == TaskStatus::Running || t.last_status.is_any(&TaskStatus::PENDING))
                    .map(|t| InsightsTask {
                        figures: task_figures(t, used.and_then(|w| w.get(&t.task_arn)).copied()),
                        family: insights::family_of(&t.task_definition_arn).to_string(),
                        running: t.last_status == TaskStatus::Running,
                    })
                    .collect(),
                name,
            });
        }
        Ok(out)
    }

    /// One publication: the window since the last one, aggregated into the
    /// `AWS/ECS` data and the `ECS/ContainerInsights` data.
    pub(crate) async fn usage_publication(&self) -> Result<(Vec<Datum>, Vec<InsightsDatum>), berth_proto::AwsError> {
        self.synced_view().await?;
        let window = self.usage.drain();
        let clusters = self.insights_figures(&window).await?;
        Ok((
            aggregate::aggregate(&self.usage_figures(window)),
            insights::insights(&clusters),
        ))
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
                Ok((data, insights)) => {
                    let at = now_epoch();
                    if !data.is_empty() {
                        sink.publish(at, data).await;
                    }
                    if !insights.is_empty() {
                        sink.publish_insights(at, insights).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot compute the AWS/ECS metrics"),
            }
            let reservations = ecs.scaling.reservations();
            if !reservations.is_empty() {
                sink.publish_managed_scaling(now_epoch(), reservations).await;
            }
        }
    })
}
