//! The `ECS/ContainerInsights` metrics of one publication (pure), for the
//! clusters whose `containerInsights` setting is `enabled` or `enhanced`
//! (CloudWatch user guide, "Amazon ECS Container Insights metrics"):
//!
//! * per `ClusterName`: CpuUtilized, CpuReserved (CPU units, unit None),
//!   MemoryUtilized, MemoryReserved (MiB, unit Megabytes) summed over the
//!   cluster's RUNNING tasks; RunningTaskCount, PendingTaskCount, TaskCount
//!   (the RUNNING tasks), ServiceCount (ACTIVE services),
//!   ContainerInstanceCount (registered EC2/EXTERNAL instances), unit Count;
//! * per `ClusterName`+`ServiceName` (every ACTIVE service, with or without
//!   tasks): the four CPU and memory sums over its RUNNING tasks,
//!   DesiredTaskCount, RunningTaskCount, PendingTaskCount, DeploymentCount;
//! * per `ClusterName`+`TaskDefinitionFamily`: the four CPU and memory sums
//!   over the family's RUNNING tasks.
//!
//! CpuUtilized and MemoryUtilized need at least one task measured in the
//! window (the agents' usage reports); the reservations are what the task
//! reserves (the same figure as the `AWS/ECS` reservation metrics).
//! `enhanced` publishes the same set: Berth has no per-task or
//! per-container dimensions. The agents report no network or storage
//! figures, so NetworkRxBytes, NetworkTxBytes, StorageReadBytes and
//! StorageWriteBytes are not published.

use super::aggregate::TaskFigures;
use std::collections::BTreeMap;

/// A cluster's `containerInsights` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsightsLevel {
    Disabled,
    Enabled,
    Enhanced,
}

impl InsightsLevel {
    /// The level the setting's value names (an unknown value: disabled;
    /// CreateCluster and UpdateClusterSettings refuse one).
    pub fn parse(value: &str) -> Self {
        match value {
            "enabled" => Self::Enabled,
            "enhanced" => Self::Enhanced,
            _ => Self::Disabled,
        }
    }

    pub fn publishes(self) -> bool {
        self != Self::Disabled
    }
}

/// The metrics Berth publishes in `ECS/ContainerInsights`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InsightsMetric {
    CpuUtilized,
    CpuReserved,
    MemoryUtilized,
    MemoryReserved,
    RunningTaskCount,
    PendingTaskCount,
    TaskCount,
    ServiceCount,
    ContainerInstanceCount,
    DesiredTaskCount,
    DeploymentCount,
}

impl InsightsMetric {
    pub fn name(self) -> &'static str {
        match self {
            Self::CpuUtilized => "CpuUtilized",
            Self::CpuReserved => "CpuReserved",
            Self::MemoryUtilized => "MemoryUtilized",
            Self::MemoryReserved => "MemoryReserved",
            Self::RunningTaskCount => "RunningTaskCount",
            Self::PendingTaskCount => "PendingTaskCount",
            Self::TaskCount => "TaskCount",
            Self::ServiceCount => "ServiceCount",
            Self::ContainerInstanceCount => "ContainerInstanceCount",
            Self::DesiredTaskCount => "DesiredTaskCount",
            Self::DeploymentCount => "DeploymentCount",
        }
    }

    /// The CloudWatch unit Container Insights publishes it in.
    pub fn unit(self) -> &'static str {
        match self {
            Self::CpuUtilized | Self::CpuReserved => "None",
            Self::MemoryUtilized | Self::MemoryReserved => "Megabytes",
            _ => "Count",
        }
    }
}

/// What a datum is about, beyond its cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum InsightsScope {
    Cluster,
    Service(String),
    TaskDefinitionFamily(String),
}

/// One datum: a single value.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsDatum {
    pub metric: InsightsMetric,
    pub cluster: String,
    pub scope: InsightsScope,
    pub value: f64,
}

impl InsightsDatum {
    /// The CloudWatch dimensions, `ClusterName` first.
    pub fn dimensions(&self) -> Vec<(&'static str, String)> {
        let mut dims = vec![("ClusterName", self.cluster.clone())];
        match &self.scope {
            InsightsScope::Cluster => {}
            InsightsScope::Service(s) => dims.push(("ServiceName", s.clone())),
            InsightsScope::TaskDefinitionFamily(f) => dims.push(("TaskDefinitionFamily", f.clone())),
        }
        dims
    }
}

/// One task as Container Insights counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsTask {
    /// Its reservations, service and usage (the `AWS/ECS` figures).
    pub figures: TaskFigures,
    pub family: String,
    /// RUNNING (else it is PENDING: the gatherer leaves out the rest).
    pub running: bool,
}

/// One ACTIVE service.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsService {
    pub name: String,
    pub desired: i64,
    /// Its PRIMARY and ACTIVE deployments.
    pub deployments: usize,
}

/// One cluster at publication time.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsCluster {
    pub name: String,
    pub level: InsightsLevel,
    pub container_instances: usize,
    pub services: Vec<InsightsService>,
    /// Its RUNNING and PENDING tasks.
    pub tasks: Vec<InsightsTask>,
}

/// The CPU and memory sums of a set of tasks, pushed as data.
fn resources(out: &mut Vec<InsightsDatum>, cluster: &str, scope: &InsightsScope, tasks: &[&InsightsTask]) {
    let running: Vec<&TaskFigures> = tasks.iter().filter(|t| t.running).map(|t| &t.figures).collect();
    let mut push = |metric, value| {
        out.push(InsightsDatum {
            metric,
            cluster: cluster.to_string(),
            scope: scope.clone(),
            value,
        })
    };
    let measured: Vec<(f64, f64)> = running.iter().filter_map(|t| t.used).collect();
    if !measured.is_empty() {
        push(InsightsMetric::CpuUtilized, measured.iter().map(|u| u.0).sum());
    }
    push(
        InsightsMetric::CpuReserved,
        running.iter().map(|t| t.cpu_reserved).sum(),
    );
    if !measured.is_empty() {
        push(InsightsMetric::MemoryUtilized, measured.iter().map(|u| u.1).sum());
    }
    push(
        InsightsMetric::MemoryReserved,
        running.iter().map(|t| t.memory_reserved).sum(),
    );
}

fn count(tasks: &[&InsightsTask], running: bool) -> f64 {
    tasks.iter().filter(|t| t.running == running).count() as f64
}

/// Every datum of one publication: for each cluster that publishes, its
/// own data, then its services' (by name), then its families' (by name).
pub fn insights(clusters: &[InsightsCluster]) -> Vec<InsightsDatum> {
    let mut out = Vec::new();
    for c in clusters.iter().filter(|c| c.level.publishes()) {
        let all: Vec<&InsightsTask> = c.tasks.iter().collect();
        resources(&mut out, &c.name, &InsightsScope::Cluster, &all);
        let (running, pending) = (count(&all, true), count(&all, false));
        for (metric, value) in [
            (InsightsMetric::RunningTaskCount, running),
            (InsightsMetric::PendingTaskCount, pending),
            (InsightsMetric::TaskCount, running),
            (InsightsMetric::ServiceCount, c.services.len() as f64),
            (InsightsMetric::ContainerInstanceCount, c.container_instances as f64),
        ] {
            out.push(InsightsDatum {
                metric,
                cluster: c.name.clone(),
                scope: InsightsScope::Cluster,
                value,
            });
        }
        let mut services: Vec<&InsightsService> = c.services.iter().collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        for s in services {
            let tasks: Vec<&InsightsTask> = all
                .iter()
                .copied()
                .filter(|t| t.figures.service.as_deref() == Some(s.name.as_str()))
                .collect();
            let scope = InsightsScope::Service(s.name.clone());
            resources(&mut out, &c.name, &scope, &tasks);
            for (metric, value) in [
                (InsightsMetric::DesiredTaskCount, s.desired as f64),
                (InsightsMetric::RunningTaskCount, count(&tasks, true)),
                (InsightsMetric::PendingTaskCount, count(&tasks, false)),
                (InsightsMetric::DeploymentCount, s.deployments as f64),
            ] {
                out.push(InsightsDatum {
                    metric,
                    cluster: c.name.clone(),
                    scope: scope.clone(),
                    value,
                });
            }
        }
        let mut families: BTreeMap<&str, Vec<&InsightsTask>> = BTreeMap::new();
        for t in &all {
            families.entry(t.family.as_str()).or_default().push(t);
        }
        for (family, tasks) in families {
            if tasks.iter().any(|t| t.running) {
                resources(
                    &mut out,
                    &c.name,
                    &InsightsScope::TaskDefinitionFamily(family.to_string()),
                    &tasks,
                );
            }
        }
    }
    out
}

/// The family of a task definition ARN (`…:task-definition/FAMILY:REV`).
pub fn family_of(task_definition_arn: &str) -> &str {
    let tail = task_definition_arn
        .rsplit_once(":task-definition/")
        .map_or(task_definition_arn, |(_, t)| t);
    tail.rsplit_once(':').map_or(tail, |(f, _)| f)
}

#[cfg(test)]
#[path = "insights_tests.rs"]
mod tests;
