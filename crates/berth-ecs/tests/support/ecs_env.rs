//! The environment the ECS API tests share: the test kit's ECS
//! environment (with a cluster `default` or none), instances and task
//! definitions registered through `Ecs::call`, and readers of their answers.

#![allow(dead_code)] // each test file uses its own part of the helpers

use berth_proto::RequestContext;
use berth_testkit::agents::Instance;
use berth_testkit::{ACCOUNT, EcsEnv, REGION};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ops::Deref;
use std::time::Duration;

/// The test kit's ECS environment, and the helpers the tests share.
pub struct Env(pub EcsEnv);

impl Deref for Env {
    type Target = EcsEnv;
    fn deref(&self) -> &EcsEnv {
        &self.0
    }
}

/// The host ports a Berth agent reserves for itself.
pub const RESERVED_PORTS: &[&str] = &["22", "2375", "2376", "51678", "51679"];

impl Env {
    /// With a cluster `default`.
    pub async fn new() -> Self {
        Self(EcsEnv::new().default_cluster().await)
    }

    /// Registers an instance with `cpu` units and `memory` MiB.
    pub async fn instance(&self, cpu: u32, memory: u32, az: &str) -> String {
        self.register_instance(Instance {
            cpu,
            memory,
            az,
            reserved_ports: RESERVED_PORTS,
        })
        .await
    }

    pub async fn task_definition(&self, family: &str, memory: u32) -> String {
        self.task_definition_with(
            family,
            json!({"containerDefinitions": [{"name": "app", "image": "busybox", "cpu": 10, "memory": memory}]}),
        )
        .await
    }

    pub async fn task_definition_with(&self, family: &str, mut body: Value) -> String {
        body["family"] = json!(family);
        let v = self.ok("RegisterTaskDefinition", body).await;
        v["taskDefinition"]["taskDefinitionArn"].as_str().unwrap().to_string()
    }

    pub async fn run(&self, input: Value) -> Value {
        self.ok("RunTask", input).await
    }

    pub async fn describe_task(&self, arn: &str) -> Value {
        let v = self
            .ok("DescribeTasks", json!({"tasks": [arn], "include": ["TAGS"]}))
            .await;
        v["tasks"][0].clone()
    }

    pub async fn describe_instance(&self, arn: &str) -> Value {
        let v = self
            .ok("DescribeContainerInstances", json!({"containerInstances": [arn]}))
            .await;
        v["containerInstances"][0].clone()
    }

    pub async fn remaining(&self, arn: &str, name: &str) -> i64 {
        let inst = self.describe_instance(arn).await;
        inst["remainingResources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["integerValue"]
            .as_i64()
            .unwrap()
    }

    pub async fn list_tasks(&self, input: Value) -> Vec<String> {
        let v = self.ok("ListTasks", input).await;
        v["taskArns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }

    pub async fn report(&self, task: &str, status: &str) -> Value {
        self.ok(
            "SubmitTaskStateChange",
            json!({"cluster": "default", "task": task, "status": status}),
        )
        .await
    }
}

pub fn task_arns(v: &Value) -> Vec<String> {
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect()
}

pub fn per_instance(v: &Value) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for t in v["tasks"].as_array().unwrap() {
        *out.entry(t["containerInstanceArn"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

/// The next NDJSON line of a session, within a deadline.
pub async fn next_line(session: &mut berth_ecs::AgentSession) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(10), session.next())
        .await
        .expect("a line within the deadline")
        .expect("the stream is open")
        .unwrap();
    serde_json::from_slice(&line).unwrap()
}

/// Without a cluster.
pub fn env() -> Env {
    Env(EcsEnv::new())
}

pub fn user_ctx(name: &str) -> RequestContext {
    let mut ctx = RequestContext::root(ACCOUNT, REGION);
    ctx.principal.arn = format!("arn:aws:iam::{ACCOUNT}:user/{name}");
    ctx.principal.is_root = false;
    ctx.principal.user_name = Some(name.to_string());
    ctx
}

impl Env {
    /// Every task definition ARN in every status.
    pub async fn all_arns(&self) -> Vec<String> {
        let mut out = vec![];
        for status in ["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"] {
            let v = self.ok("ListTaskDefinitions", json!({"status": status})).await;
            out.extend(strings(&v["taskDefinitionArns"]));
        }
        out
    }
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

pub fn td_arn(family: &str, rev: i64) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{rev}")
}

pub fn simple(family: &str) -> Value {
    json!({
        "family": family,
        "containerDefinitions": [{
            "name": "app",
            "image": "busybox",
            "memory": 64,
            "command": ["sleep", "360"],
            "portMappings": [{"containerPort": 80}]
        }]
    })
}
