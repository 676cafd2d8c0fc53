//! The `AWS/ECS` metrics of one publication, from what tasks reserve and
//! used (pure). As ECS documents them (developer guide, "Amazon ECS
//! CloudWatch metrics", "service utilization"):
//!
//! * per `ClusterName`+`ServiceName`: CPUUtilization = 100 × Σ CPU units
//!   used by the service's tasks / Σ CPU units reserved by them, and
//!   MemoryUtilization likewise with MiB; it may exceed 100 % (a task may
//!   use more than it reserves). Minimum and Maximum are the least and the
//!   most utilized task's own figures, the Average the formula above: the
//!   datum is a statistic set with one sample per task whose sum is the
//!   task count × that average.
//! * per `ClusterName`: CPUUtilization / MemoryUtilization = 100 × Σ used
//!   by the cluster's tasks / Σ registered by its ACTIVE and DRAINING
//!   container instances; CPUReservation / MemoryReservation = 100 × Σ
//!   reserved by its RUNNING tasks / the same registered total.
//!
//! A task reserves its task-level `cpu` and `memory` when set, else the sum
//! of its containers' (memory: each container's `memoryReservation` when
//! set, else its `memory`). Nothing is published for a cluster or service
//! without RUNNING tasks; utilization needs at least one measured task.

/// The four metrics ECS publishes for EC2 clusters and services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EcsMetric {
    CpuUtilization,
    MemoryUtilization,
    CpuReservation,
    MemoryReservation,
}

impl EcsMetric {
    /// The metric's CloudWatch name.
    pub fn name(self) -> &'static str {
        match self {
            EcsMetric::CpuUtilization => "CPUUtilization",
            EcsMetric::MemoryUtilization => "MemoryUtilization",
            EcsMetric::CpuReservation => "CPUReservation",
            EcsMetric::MemoryReservation => "MemoryReservation",
        }
    }
}

/// One container's sizes as its record keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ContainerSizes {
    pub memory: Option<f64>,
    pub memory_reservation: Option<f64>,
}

/// The MiB a task reserves: the task-level memory when its definition has
/// one, else Σ (memoryReservation or memory) of its containers. The task
/// record keeps the task-level figure, or (without one) that sum; records
/// written before placement reserved the soft limit kept Σ (memory or
/// memoryReservation): when `task_memory` is that sum, the soft-first sum
/// is what the task reserves.
pub fn reserved_memory(task_memory: f64, containers: &[ContainerSizes]) -> f64 {
    let mut hard_first = 0.0;
    let mut soft_first = 0.0;
    for c in containers {
        match (c.memory, c.memory_reservation) {
            (None, None) => return task_memory,
            (m, r) => {
                hard_first += m.or(r).unwrap_or(0.0);
                soft_first += r.or(m).unwrap_or(0.0);
            }
        }
    }
    if (hard_first - task_memory).abs() < 0.5 {
        soft_first
    } else {
        task_memory
    }
}

/// What one RUNNING task reserves, and what it used over the window (None
/// when its agent reported nothing in it).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFigures {
    /// The service whose deployment started it (`group` `service:NAME`).
    pub service: Option<String>,
    pub cpu_reserved: f64,
    pub memory_reserved: f64,
    /// (CPU units, MiB) used.
    pub used: Option<(f64, f64)>,
}

/// One cluster at publication time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterFigures {
    pub name: String,
    /// CPU units and MiB registered by its ACTIVE and DRAINING instances.
    pub cpu_registered: f64,
    pub memory_registered: f64,
    /// Its RUNNING tasks.
    pub tasks: Vec<TaskFigures>,
}

/// One datum: a statistic set of Percent values.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub metric: EcsMetric,
    pub cluster: String,
    /// Set for the per-service metrics.
    pub service: Option<String>,
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
}

impl Datum {
    /// A single value.
    fn one(metric: EcsMetric, cluster: &str, value: f64) -> Self {
        Self {
            metric,
            cluster: cluster.to_string(),
            service: None,
            sample_count: 1.0,
            sum: value,
            minimum: value,
            maximum: value,
        }
    }

    pub fn average(&self) -> f64 {
        self.sum / self.sample_count
    }
}

fn percent(part: f64, whole: f64) -> f64 {
    100.0 * part / whole
}

/// The service datum of one metric: `pick` gives a task's (used, reserved).
fn service_datum(
    metric: EcsMetric,
    cluster: &str,
    service: &str,
    tasks: &[&TaskFigures],
    pick: impl Fn(&TaskFigures) -> Option<(f64, f64)>,
) -> Option<Datum> {
    let pairs: Vec<(f64, f64)> = tasks.iter().filter_map(|t| pick(t)).filter(|(_, r)| *r > 0.0).collect();
    if pairs.is_empty() {
        return None;
    }
    let (used, reserved) = pairs.iter().fold((0.0, 0.0), |(u, r), (a, b)| (u + a, r + b));
    let each = pairs.iter().map(|(u, r)| percent(*u, *r));
    let n = pairs.len() as f64;
    Some(Datum {
        metric,
        cluster: cluster.to_string(),
        service: Some(service.to_string()),
        sample_count: n,
        sum: n * percent(used, reserved),
        minimum: each.clone().fold(f64::INFINITY, f64::min),
        maximum: each.fold(f64::NEG_INFINITY, f64::max),
    })
}

/// Every datum of one publication, clusters in the given order, each
/// cluster's own metrics before its services' (by service name).
pub fn aggregate(clusters: &[ClusterFigures]) -> Vec<Datum> {
    let mut out = Vec::new();
    for c in clusters {
        if c.tasks.is_empty() {
            continue;
        }
        let measured: Vec<(f64, f64)> = c.tasks.iter().filter_map(|t| t.used).collect();
        if c.cpu_registered > 0.0 {
            let reserved: f64 = c.tasks.iter().map(|t| t.cpu_reserved).sum();
            out.push(Datum::one(
                EcsMetric::CpuReservation,
                &c.name,
                percent(reserved, c.cpu_registered),
            ));
            if !measured.is_empty() {
                let used: f64 = measured.iter().map(|(cpu, _)| cpu).sum();
                out.push(Datum::one(
                    EcsMetric::CpuUtilization,
                    &c.name,
                    percent(used, c.cpu_registered),
                ));
            }
        }
        if c.memory_registered > 0.0 {
            let reserved: f64 = c.tasks.iter().map(|t| t.memory_reserved).sum();
            out.push(Datum::one(
                EcsMetric::MemoryReservation,
                &c.name,
                percent(reserved, c.memory_registered),
            ));
            if !measured.is_empty() {
                let used: f64 = measured.iter().map(|(_, mem)| mem).sum();
                out.push(Datum::one(
                    EcsMetric::MemoryUtilization,
                    &c.name,
                    percent(used, c.memory_registered),
                ));
            }
        }
        let mut services: std::collections::BTreeMap<&str, Vec<&TaskFigures>> = Default::default();
        for t in &c.tasks {
            if let Some(s) = &t.service {
                services.entry(s.as_str()).or_default().push(t);
            }
        }
        for (service, tasks) in services {
            out.extend(service_datum(
                EcsMetric::CpuUtilization,
                &c.name,
                service,
                &tasks,
                |t| t.used.map(|(cpu, _)| (cpu, t.cpu_reserved)),
            ));
            out.extend(service_datum(
                EcsMetric::MemoryUtilization,
                &c.name,
                service,
                &tasks,
                |t| t.used.map(|(_, mem)| (mem, t.memory_reserved)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
