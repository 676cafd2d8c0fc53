//! BerthPublishTaskUsage and the `AWS/ECS` publication: what an agent
//! reports of its RUNNING tasks becomes the cluster's data; a report about
//! a task that is not RUNNING is left out.

#[path = "support/ecs_env.rs"]
mod support;

use berth_ecs::usage::{Datum, EcsMetric};
use berth_ecs::{UsageSink, spawn_usage_publisher};
use berth_testkit::eventually;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

/// A sink that keeps what is published.
#[derive(Default)]
struct Kept(Mutex<Vec<Datum>>);

#[async_trait::async_trait]
impl UsageSink for Kept {
    async fn publish(&self, _at: f64, data: Vec<Datum>) {
        self.0.lock().unwrap().extend(data);
    }
}

fn usage(instance: &str, task: &str, cpu_units: f64, memory_mib: f64) -> Value {
    json!({"containerInstance": instance, "tasks": [{"taskArn": task, "containers": [
        {"name": "app", "cpuUnits": cpu_units, "memoryMib": memory_mib}]}]})
}

#[tokio::test]
async fn reports_of_running_tasks_become_the_clusters_data() {
    let env = Env::new().await;
    let a = env.instance(2048, 1024, "us-east-1a").await;
    env.task_definition_with(
        "burn",
        json!({"containerDefinitions": [{"name": "app", "image": "busybox", "cpu": 512, "memory": 128}]}),
    )
    .await;
    let running = task_arns(&env.run(json!({"taskDefinition": "burn"})).await)[0].clone();
    let pending = task_arns(&env.run(json!({"taskDefinition": "burn"})).await)[0].clone();
    env.report(&running, "RUNNING").await;
    // Two reports of the running task in one window: their mean counts.
    env.ok("BerthPublishTaskUsage", usage(&a, &running, 200.0, 60.0)).await;
    env.ok("BerthPublishTaskUsage", usage(&a, &running, 312.0, 68.0)).await;
    // Not RUNNING (yet): acknowledged and left out.
    env.ok("BerthPublishTaskUsage", usage(&a, &pending, 2048.0, 512.0))
        .await;

    let kept = Arc::new(Kept::default());
    let publisher = spawn_usage_publisher(&env.ecs, Duration::from_millis(20), kept.clone());
    let data = eventually(Duration::from_secs(10), "a publication", || {
        let kept = kept.clone();
        async move {
            let d = kept.0.lock().unwrap().clone();
            (!d.is_empty()).then_some(d)
        }
    })
    .await;
    publisher.abort();
    let average = |m: EcsMetric| data.iter().find(|d| d.metric == m).map(Datum::average);
    // 256 of the instance's 2048 units used, 64 of its 1024 MiB; only the
    // RUNNING task's 512 units and 128 MiB are reserved.
    assert_eq!(average(EcsMetric::CpuUtilization), Some(12.5));
    assert_eq!(average(EcsMetric::MemoryUtilization), Some(6.25));
    assert_eq!(average(EcsMetric::CpuReservation), Some(25.0));
    assert_eq!(average(EcsMetric::MemoryReservation), Some(12.5));
    assert_eq!(data.len(), 4, "{data:?}");
    assert!(data.iter().all(|d| d.cluster == "default" && d.service.is_none()));
}

#[tokio::test]
async fn a_report_for_a_deregistered_instance_is_refused() {
    let env = Env::new().await;
    let a = env.instance(1024, 1024, "us-east-1a").await;
    env.ok(
        "DeregisterContainerInstance",
        json!({"containerInstance": a, "force": true}),
    )
    .await;
    let e = env
        .err("BerthPublishTaskUsage", json!({"containerInstance": a, "tasks": []}))
        .await;
    assert_eq!(e.code, "ClientException");
    assert_eq!(e.message, format!("The container instance {a} was deregistered."));
}
