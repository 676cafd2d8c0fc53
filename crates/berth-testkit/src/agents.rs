//! Simulated agents: container instances registered as a Berth agent
//! registers them, and a hollow agent that reports task state changes
//! through `SubmitTaskStateChange` as a real agent would.

use crate::ecs::{EcsEnv, call};
use berth_ecs::Ecs;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// What a Berth agent advertises: placement attributes and capabilities
/// (every Docker remote API version it supports, each as its own attribute;
/// without `ecs.capability.task-eni`, which placement does not require).
pub fn agent_attributes(az: &str) -> Value {
    let mut a = vec![
        json!({"name": "ecs.os-type", "value": "linux"}),
        json!({"name": "ecs.availability-zone", "value": az}),
        json!({"name": "ecs.instance-type", "value": "t3.small"}),
        json!({"name": "ecs.capability.container-health-check"}),
    ];
    for v in 17..=44 {
        a.push(json!({"name": format!("com.amazonaws.ecs.capability.docker-remote-api.1.{v}")}));
    }
    Value::Array(a)
}

/// A container instance to register in the cluster `default`.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    /// CPU units.
    pub cpu: u32,
    /// Memory in MiB.
    pub memory: u32,
    pub az: &'a str,
    /// Host ports the agent reserves for itself.
    pub reserved_ports: &'a [&'a str],
}

impl EcsEnv {
    /// Registers `instance` as its agent would (resources, version,
    /// [`agent_attributes`], an identity document); returns its ARN.
    pub async fn register_instance(&self, instance: Instance<'_>) -> String {
        let Instance {
            cpu,
            memory,
            az,
            reserved_ports,
        } = instance;
        let v = self
            .ok(
                "RegisterContainerInstance",
                json!({
                    "cluster": "default",
                    "totalResources": [
                        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
                        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": reserved_ports},
                        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
                    ],
                    "versionInfo": {"agentVersion": "1.0.0", "agentHash": "abc", "dockerVersion": "20.10"},
                    "attributes": agent_attributes(az),
                    "instanceIdentityDocument": format!(
                        "{{\"instanceId\":\"i-{}\",\"availabilityZone\":\"{az}\",\"instanceType\":\"t3.small\"}}",
                        &berth_core::ids::hex_id()[..17]
                    ),
                }),
            )
            .await;
        v["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Every task of the cluster `default` (optionally of one service), described.
pub async fn tasks_of(ecs: &Ecs, service: Option<&str>) -> Vec<Value> {
    let mut arns = vec![];
    for status in ["RUNNING", "STOPPED"] {
        let mut input = json!({"desiredStatus": status, "maxResults": 100});
        if let Some(s) = service {
            input["serviceName"] = json!(s);
        }
        let v = call(ecs, "ListTasks", input).await.unwrap();
        arns.extend(v["taskArns"].as_array().unwrap().iter().cloned());
    }
    let mut out = vec![];
    for chunk in arns.chunks(100) {
        let v = call(ecs, "DescribeTasks", json!({"tasks": chunk})).await.unwrap();
        out.extend(v["tasks"].as_array().unwrap().iter().cloned());
    }
    out
}

/// A hollow agent for every instance of the cluster `default`: PENDING
/// tasks are reported RUNNING, tasks asked to stop are reported STOPPED.
/// By family: `crash*` tasks stop right after starting, `hang*` ones never
/// start, the containers of `hc*` ones report HEALTHY when they start.
/// Stops when dropped.
pub struct HollowAgent {
    on: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl HollowAgent {
    /// Starts the agent, switched on.
    pub fn spawn(ecs: Ecs) -> Self {
        let on = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn(run(ecs, on.clone()));
        Self { on, task }
    }

    /// The agent's switch: while false it reports nothing.
    pub fn switch(&self) -> Arc<AtomicBool> {
        self.on.clone()
    }
}

impl Drop for HollowAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(ecs: Ecs, on: Arc<AtomicBool>) {
    loop {
        if on.load(Ordering::SeqCst) {
            for t in tasks_of(&ecs, None).await {
                if let Some(input) = report(&t)
                    && let Err(e) = call(&ecs, "SubmitTaskStateChange", input.clone()).await
                {
                    eprintln!("hollow agent: {input} refused: {e}");
                }
            }
        }
        // A real agent reacts to its session stream; the hollow one looks
        // again every few milliseconds.
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

/// What the hollow agent reports about a described task, if anything.
fn report(t: &Value) -> Option<Value> {
    let arn = t["taskArn"].as_str().unwrap_or_default().to_string();
    let family = t["taskDefinitionArn"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let report = |status: &str, code: Option<&str>| {
        let mut v = json!({"cluster": "default", "task": arn, "status": status});
        if let Some(c) = code {
            v["stopCode"] = json!(c);
            v["reason"] = json!("Essential container in task exited");
        }
        v
    };
    let (last, desired) = (t["lastStatus"].as_str(), t["desiredStatus"].as_str());
    match (last, desired) {
        (Some("STOPPED"), _) => None,
        (_, Some("STOPPED")) => Some(report("STOPPED", None)),
        (Some("RUNNING"), _) if family.starts_with("crash") => {
            Some(report("STOPPED", Some("EssentialContainerExited")))
        }
        (Some("RUNNING"), _) => None,
        _ if family.starts_with("hang") => None,
        _ if family.starts_with("hc") => {
            let mut v = report("RUNNING", None);
            v["containers"] = json!([{"containerName": "app", "status": "RUNNING", "healthStatus": "HEALTHY"}]);
            Some(v)
        }
        _ => Some(report("RUNNING", None)),
    }
}
