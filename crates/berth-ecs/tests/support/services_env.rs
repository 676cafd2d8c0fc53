//! The environment the service tests share: the test kit's ECS environment
//! on an in-memory store with a cluster `default`, the service controller
//! and the test kit's hollow agent, a loop that reports task state changes
//! through SubmitTaskStateChange as a real agent would (tasks of families
//! starting with `crash` exit right after starting, those of families
//! starting with `hang` never start, the containers of families starting
//! with `hc` report HEALTHY when they start).

#![allow(dead_code)] // each test file uses its own part of the helpers

use berth_ecs::{ServiceControllerConfig, spawn_service_controller};
use berth_testkit::agents::{HollowAgent, Instance, tasks_of};
use berth_testkit::{EcsEnv, eventually};
use serde_json::{Value, json};
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn controller_config() -> ServiceControllerConfig {
    ServiceControllerConfig {
        resync: Duration::from_secs(2),
        throttle_base: Duration::from_millis(50),
        throttle_max: Duration::from_millis(200),
        ..Default::default()
    }
}

/// The test kit's ECS environment with a cluster `default`, the service
/// controller and a hollow agent.
pub struct Env {
    pub kit: EcsEnv,
    pub controller: Option<tokio::task::JoinHandle<()>>,
    pub _agent: HollowAgent,
    pub agent_on: Arc<AtomicBool>,
}

impl Deref for Env {
    type Target = EcsEnv;
    fn deref(&self) -> &EcsEnv {
        &self.kit
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(h) = self.controller.take() {
            h.abort();
        }
    }
}

impl Env {
    /// A cluster `default`, the service controller and a hollow agent.
    pub async fn new() -> Self {
        let kit = EcsEnv::new().default_cluster().await;
        let agent = HollowAgent::spawn(kit.ecs.clone());
        Self {
            controller: Some(spawn_service_controller(&kit.ecs, controller_config())),
            agent_on: agent.switch(),
            _agent: agent,
            kit,
        }
    }

    pub async fn instance(&self, az: &str) -> String {
        self.register_instance(Instance {
            cpu: 4096,
            memory: 8192,
            az,
            reserved_ports: &["22"],
        })
        .await
    }

    pub async fn task_definition(&self, family: &str) -> String {
        let v = self
            .ok(
                "RegisterTaskDefinition",
                json!({"family": family,
                       "containerDefinitions": [{"name": "app", "image": "busybox", "cpu": 64, "memory": 64}]}),
            )
            .await;
        v["taskDefinition"]["taskDefinitionArn"].as_str().unwrap().to_string()
    }

    pub async fn service(&self, name: &str) -> Value {
        self.ok("DescribeServices", json!({"services": [name]})).await["services"][0].clone()
    }

    /// Tasks of a service (any status), described.
    pub async fn tasks(&self, name: &str) -> Vec<Value> {
        tasks_of(&self.ecs, Some(name)).await
    }

    /// Waits until the service is steady: `n` RUNNING, one COMPLETED
    /// deployment, and returns it.
    pub async fn steady(&self, name: &str, n: i64) -> Value {
        eventually(DEADLINE, &format!("{name} steady with {n} running"), || async {
            let s = self.service(name).await;
            let d = s["deployments"].as_array().unwrap();
            (s["runningCount"] == n
                && s["pendingCount"] == 0
                && d.len() == 1
                && d[0]["rolloutState"] == "COMPLETED"
                && running(&self.tasks(name).await).len() as i64 == n)
                .then_some(s)
        })
        .await
    }
}

pub fn running(tasks: &[Value]) -> Vec<&Value> {
    tasks.iter().filter(|t| t["lastStatus"] == "RUNNING").collect()
}

/// Tasks the scheduler wants running (desired RUNNING).
pub fn wanted(tasks: &[Value]) -> Vec<&Value> {
    tasks.iter().filter(|t| t["desiredStatus"] == "RUNNING").collect()
}

pub fn events(s: &Value) -> Vec<String> {
    s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

/// Samples a rollout: the fewest RUNNING tasks and the most tasks wanted
/// RUNNING seen until `done` holds.
pub async fn sample_until<F, Fut>(env: &Env, name: &str, mut done: F) -> (usize, usize)
where
    F: FnMut(Value) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (mut min_running, mut max_wanted) = (usize::MAX, 0);
    let start = std::time::Instant::now();
    loop {
        let tasks = env.tasks(name).await;
        min_running = min_running.min(running(&tasks).len());
        max_wanted = max_wanted.max(wanted(&tasks).len());
        if done(env.service(name).await).await {
            return (min_running, max_wanted);
        }
        assert!(start.elapsed() < DEADLINE, "rollout of {name} did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
