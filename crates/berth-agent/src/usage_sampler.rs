//! The usage sampler (IO shell over `usage.rs`): every interval it reads
//! the Docker stats of each running container of this instance's tasks and
//! sends what each task used to the server in one `BerthPublishTaskUsage`
//! (docs/agent-protocol.md §7). A container's first reading only starts its
//! interval; a failed send is dropped (the next interval reports afresh,
//! as the ECS agent's telemetry does).

use crate::client::ApiClient;
use crate::labels;
use crate::runtime::Runtime;
use crate::usage::{CpuBook, CpuReading, memory_used_bytes, mib};
use berth_agent_protocol::{ContainerUsage, TaskUsage, UsageReport};
use std::collections::BTreeMap;
use std::time::Duration;

/// Default interval between reports: the ECS agent's telemetry period.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(20);

/// Samples and reports every `interval`, for as long as the session lives.
pub async fn run(api: ApiClient, runtime: Runtime, cluster: String, arn: String, interval: Duration) {
    let mut book = CpuBook::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let tasks = sample(&runtime, &arn, &mut book).await;
        if tasks.is_empty() {
            continue;
        }
        let report = UsageReport {
            cluster: Some(cluster.clone()),
            container_instance: arn.clone(),
            tasks,
        };
        match serde_json::to_value(&report) {
            Ok(body) => {
                if let Err(e) = api.call("BerthPublishTaskUsage", &body).await {
                    tracing::warn!(error = %e, "cannot report task usage");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode the task usage"),
        }
    }
}

/// One reading of every running task container of the instance: the
/// tasks with at least one container measured over a whole interval.
async fn sample(runtime: &Runtime, arn: &str, book: &mut CpuBook) -> Vec<TaskUsage> {
    let containers = match runtime.list(&[(labels::LABEL_INSTANCE, arn)]).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the task containers for their stats");
            return vec![];
        }
    };
    let running: Vec<(String, String, String)> = containers
        .into_iter()
        .filter(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running"))
        .filter_map(|c| {
            let l = c.labels.as_ref()?;
            Some((
                c.id.clone()?,
                l.get(labels::LABEL_TASK_ARN)?.clone(),
                l.get(labels::LABEL_CONTAINER_NAME)?.clone(),
            ))
        })
        .collect();
    let stats = futures::future::join_all(running.iter().map(|(id, _, _)| runtime.stats_once(id))).await;
    let mut tasks: BTreeMap<String, Vec<ContainerUsage>> = BTreeMap::new();
    for ((id, task, name), stats) in running.iter().zip(stats) {
        let stats = match stats {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(container = %id, error = %e, "no stats");
                continue;
            }
        };
        let Some(reading) = stats.cpu_stats.as_ref().and_then(CpuReading::of) else {
            continue;
        };
        let Some(cpu_units) = book.observe(id, reading) else {
            continue;
        };
        let memory = stats.memory_stats.as_ref().and_then(memory_used_bytes).unwrap_or(0);
        tasks.entry(task.clone()).or_default().push(ContainerUsage {
            name: name.clone(),
            cpu_units,
            memory_mib: mib(memory),
        });
    }
    let live: Vec<&str> = running.iter().map(|(id, _, _)| id.as_str()).collect();
    book.retain(&live);
    tasks
        .into_iter()
        .map(|(task_arn, containers)| TaskUsage { task_arn, containers })
        .collect()
}
