//! The environment the foundation tests share (task definitions, tags,
//! account settings, attributes, capacity providers): the test kit's ECS
//! environment and readers of its answers.

#![allow(dead_code)] // each test file uses its own part of the helpers

use berth_proto::RequestContext;
use berth_testkit::{ACCOUNT, EcsEnv, REGION};
use serde_json::{Value, json};
use std::ops::Deref;

/// The test kit's ECS environment, and the helpers these tests share.
pub struct Env(pub EcsEnv);

impl Deref for Env {
    type Target = EcsEnv;
    fn deref(&self) -> &EcsEnv {
        &self.0
    }
}

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
