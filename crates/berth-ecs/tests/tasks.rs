//! Container instances, tasks, state changes, the agent session and the
//! agent-loss monitor, driven through `Ecs::call` in the test kit's environment.

use berth_ecs::{AGENT_LOST_REASON, ControllerConfig, spawn_controllers};
use berth_testkit::agents::Instance;
use berth_testkit::{EcsEnv, eventually};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

/// The test kit's ECS environment with a cluster `default`, and the helpers
/// these tests share.
struct Env(EcsEnv);

impl Deref for Env {
    type Target = EcsEnv;
    fn deref(&self) -> &EcsEnv {
        &self.0
    }
}

/// The host ports a Berth agent reserves for itself.
const RESERVED_PORTS: &[&str] = &["22", "2375", "2376", "51678", "51679"];

impl Env {
    async fn new() -> Self {
        Self(EcsEnv::new().default_cluster().await)
    }

    /// Registers an instance with `cpu` units and `memory` MiB.
    async fn instance(&self, cpu: u32, memory: u32, az: &str) -> String {
        self.register_instance(Instance {
            cpu,
            memory,
            az,
            reserved_ports: RESERVED_PORTS,
        })
        .await
    }

    async fn task_definition(&self, family: &str, memory: u32) -> String {
        self.task_definition_with(
            family,
            json!({"containerDefinitions": [{"name": "app", "image": "busybox", "cpu": 10, "memory": memory}]}),
        )
        .await
    }

    async fn task_definition_with(&self, family: &str, mut body: Value) -> String {
        body["family"] = json!(family);
        let v = self.ok("RegisterTaskDefinition", body).await;
        v["taskDefinition"]["taskDefinitionArn"].as_str().unwrap().to_string()
    }

    async fn run(&self, input: Value) -> Value {
        self.ok("RunTask", input).await
    }

    async fn describe_task(&self, arn: &str) -> Value {
        let v = self
            .ok("DescribeTasks", json!({"tasks": [arn], "include": ["TAGS"]}))
            .await;
        v["tasks"][0].clone()
    }

    async fn describe_instance(&self, arn: &str) -> Value {
        let v = self
            .ok("DescribeContainerInstances", json!({"containerInstances": [arn]}))
            .await;
        v["containerInstances"][0].clone()
    }

    async fn remaining(&self, arn: &str, name: &str) -> i64 {
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

    async fn list_tasks(&self, input: Value) -> Vec<String> {
        let v = self.ok("ListTasks", input).await;
        v["taskArns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }

    async fn report(&self, task: &str, status: &str) -> Value {
        self.ok(
            "SubmitTaskStateChange",
            json!({"cluster": "default", "task": task, "status": status}),
        )
        .await
    }
}

fn task_arns(v: &Value) -> Vec<String> {
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect()
}

fn per_instance(v: &Value) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for t in v["tasks"].as_array().unwrap() {
        *out.entry(t["containerInstanceArn"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

/// The next NDJSON line of a session, within a deadline.
async fn next_line(session: &mut berth_ecs::AgentSession) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(10), session.next())
        .await
        .expect("a line within the deadline")
        .expect("the stream is open")
        .unwrap();
    serde_json::from_slice(&line).unwrap()
}

#[tokio::test]
async fn register_describe_and_list_instances() {
    let env = Env::new().await;
    let a = env.instance(2048, 4096, "us-east-1a").await;
    let b = env.instance(1024, 2048, "us-east-1b").await;
    let inst = env.describe_instance(&a).await;
    assert_eq!(inst["status"], "ACTIVE");
    assert_eq!(inst["agentConnected"], true);
    assert_eq!(inst["runningTasksCount"], 0);
    assert_eq!(inst["versionInfo"]["agentVersion"], "1.0.0");
    assert!(inst["ec2InstanceId"].as_str().unwrap().starts_with("i-"));
    assert!(inst.get("capacityProviderName").is_none());
    assert_eq!(inst["registeredResources"], inst["remainingResources"]);
    let attrs = inst["attributes"].as_array().unwrap();
    assert!(
        attrs.iter().any(|a| a["name"] == "ecs.os-family"),
        "computed attributes are added"
    );

    // Short ids work too; unknown ones are MISSING failures.
    let id = a.rsplit('/').next().unwrap();
    let v = env
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [id, "0123"], "include": ["CONTAINER_INSTANCE_HEALTH"]}),
        )
        .await;
    assert_eq!(v["containerInstances"][0]["containerInstanceArn"], a.as_str());
    assert_eq!(v["containerInstances"][0]["healthStatus"]["overallStatus"], "OK");
    assert_eq!(v["failures"][0]["reason"], "MISSING");

    // Re-registration with the persisted ARN re-attaches to the same record.
    let again = env
        .ok(
            "RegisterContainerInstance",
            json!({
                "containerInstanceArn": a,
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}
                ],
                "attributes": [{"name": "ecs.instance-type", "value": "m5.large"}]
            }),
        )
        .await;
    assert_eq!(again["containerInstance"]["containerInstanceArn"], a.as_str());
    assert_eq!(env.remaining(&a, "CPU").await, 4096);

    // Filters: status and the cluster query language; pagination.
    let list = |input: Value| async { env.ok("ListContainerInstances", input).await };
    let all = list(json!({})).await;
    assert_eq!(all["containerInstanceArns"].as_array().unwrap().len(), 2);
    let filtered = list(json!({"filter": "attribute:ecs.instance-type == t3.small"})).await;
    assert_eq!(filtered["containerInstanceArns"], json!([b]));
    let page = list(json!({"maxResults": 1})).await;
    assert_eq!(page["containerInstanceArns"].as_array().unwrap().len(), 1);
    let rest = list(json!({"maxResults": 1, "nextToken": page["nextToken"]})).await;
    assert_eq!(rest["containerInstanceArns"].as_array().unwrap().len(), 1);
    assert_ne!(page["containerInstanceArns"], rest["containerInstanceArns"]);
    let e = env
        .err(
            "ListContainerInstances",
            json!({"filter": "attribute:ecs.instance-type =="}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");

    // DRAINING instances are listed with status DRAINING and get no tasks.
    let v = env
        .ok(
            "UpdateContainerInstancesState",
            json!({"containerInstances": [a], "status": "DRAINING"}),
        )
        .await;
    assert_eq!(v["containerInstances"][0]["status"], "DRAINING");
    let draining = list(json!({"status": "DRAINING"})).await;
    assert_eq!(draining["containerInstanceArns"], json!([a]));
    env.task_definition("web", 64).await;
    let run = env.run(json!({"taskDefinition": "web", "count": 3})).await;
    assert!(
        run["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["containerInstanceArn"] == b.as_str())
    );
}

#[tokio::test]
async fn spread_on_instance_id_splits_evenly() {
    let env = Env::new().await;
    let a = env.instance(4096, 8192, "us-east-1a").await;
    let b = env.instance(4096, 8192, "us-east-1b").await;
    env.task_definition("web", 128).await;
    let v = env
        .run(json!({
            "taskDefinition": "web",
            "count": 10,
            "placementStrategy": [{"type": "spread", "field": "instanceId"}]
        }))
        .await;
    assert_eq!(v["failures"], json!([]));
    let counts = per_instance(&v);
    assert_eq!(counts.get(&a), Some(&5));
    assert_eq!(counts.get(&b), Some(&5));
    let t = &v["tasks"][0];
    assert_eq!(t["lastStatus"], "PENDING");
    assert_eq!(t["desiredStatus"], "RUNNING");
    assert_eq!(t["group"], "family:web");
    assert_eq!(t["launchType"], "EC2");
    assert_eq!(t["memory"], "128");
    assert_eq!(t["version"], 1);
    assert_eq!(t["containers"][0]["lastStatus"], "PENDING");
    assert_eq!(t["containers"][0]["name"], "app");
    assert!(t.get("berth").is_none(), "internal fields are never shown");
    assert_eq!(env.describe_instance(&a).await["pendingTasksCount"], 5);
    assert_eq!(env.remaining(&a, "MEMORY").await, 8192 - 5 * 128);
}

#[tokio::test]
async fn binpack_memory_fills_one_instance_first() {
    let env = Env::new().await;
    let a = env.instance(4096, 1024, "us-east-1a").await;
    let b = env.instance(4096, 1024, "us-east-1b").await;
    env.task_definition("web", 256).await;
    let strategy = json!([{"type": "binpack", "field": "memory"}]);
    let v = env
        .run(json!({"taskDefinition": "web", "count": 4, "placementStrategy": strategy}))
        .await;
    let counts = per_instance(&v);
    assert_eq!(counts.len(), 1, "all four on one instance: {counts:?}");
    let full = counts.keys().next().unwrap().clone();
    let other = if full == a { b } else { a };
    assert_eq!(env.remaining(&full, "MEMORY").await, 0);
    assert_eq!(env.remaining(&other, "MEMORY").await, 1024);
    // The next task has to go to the other instance.
    let v = env
        .run(json!({"taskDefinition": "web", "placementStrategy": strategy}))
        .await;
    assert_eq!(v["tasks"][0]["containerInstanceArn"], other.as_str());
}

#[tokio::test]
async fn too_big_tasks_are_failures_not_errors() {
    let env = Env::new().await;
    env.task_definition("huge", 100_000).await;
    // No instance at all: the ECS error.
    let e = env.err("RunTask", json!({"taskDefinition": "huge"})).await;
    assert_eq!(e.code, "InvalidParameterException");
    assert!(e.message.contains("No Container Instances"), "{}", e.message);

    let a = env.instance(2048, 4096, "us-east-1a").await;
    let b = env.instance(2048, 4096, "us-east-1b").await;
    let v = env.run(json!({"taskDefinition": "huge"})).await;
    assert_eq!(v["tasks"], json!([]));
    let failures = v["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2);
    for f in failures {
        assert_eq!(f["reason"], "RESOURCE:MEMORY");
        assert!(f["arn"] == a.as_str() || f["arn"] == b.as_str());
    }
    // Validation errors.
    for (input, code) in [
        (
            json!({"taskDefinition": "huge", "count": 11}),
            "InvalidParameterException",
        ),
        (json!({"taskDefinition": "nope"}), "InvalidParameterException"),
        (
            json!({"taskDefinition": "huge", "placementConstraints": vec![json!({"type": "distinctInstance"}); 11]}),
            "InvalidParameterException",
        ),
        (
            json!({"taskDefinition": "huge", "placementStrategy": vec![json!({"type": "random"}); 6]}),
            "InvalidParameterException",
        ),
        (
            json!({"taskDefinition": "huge", "placementStrategy": [{"type": "binpack", "field": "disk"}]}),
            "InvalidParameterException",
        ),
        (
            json!({"taskDefinition": "huge", "launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}),
            "InvalidParameterException",
        ),
        (
            json!({"taskDefinition": "huge", "launchType": "FARGATE"}),
            "InvalidParameterException",
        ),
        (
            json!({"taskDefinition": "huge", "cluster": "nope"}),
            "ClusterNotFoundException",
        ),
    ] {
        let e = env.err("RunTask", input.clone()).await;
        assert_eq!(e.code, code, "{input}: {}", e.message);
    }
}

#[tokio::test]
async fn fixed_host_ports_are_reserved() {
    let env = Env::new().await;
    let a = env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition_with(
        "port",
        json!({"containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64,
               "portMappings": [{"containerPort": 80, "hostPort": 8080}]}]}),
    )
    .await;
    let v = env.run(json!({"taskDefinition": "port"})).await;
    let first = task_arns(&v)[0].clone();
    let ports = env.describe_instance(&a).await["remainingResources"][2]["stringSetValue"].clone();
    assert!(ports.as_array().unwrap().contains(&json!("8080")));
    let v = env.run(json!({"taskDefinition": "port"})).await;
    assert_eq!(v["tasks"], json!([]));
    assert_eq!(v["failures"][0]["reason"], "RESOURCE:PORTS");
    // Stopping the first frees the port (the registered ones stay taken).
    env.ok("StopTask", json!({"task": first})).await;
    let ports = env.describe_instance(&a).await["remainingResources"][2]["stringSetValue"].clone();
    assert!(!ports.as_array().unwrap().contains(&json!("8080")));
    assert!(ports.as_array().unwrap().contains(&json!("51678")));
    let v = env.run(json!({"taskDefinition": "port"})).await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn reservation_is_released_when_the_task_stops() {
    let env = Env::new().await;
    let a = env.instance(2048, 1024, "us-east-1a").await;
    env.task_definition("web", 300).await;
    let v = env.run(json!({"taskDefinition": "web"})).await;
    let task = task_arns(&v)[0].clone();
    assert_eq!(env.remaining(&a, "MEMORY").await, 724);
    assert_eq!(env.remaining(&a, "CPU").await, 2038);

    env.report(&task, "RUNNING").await;
    let t = env.describe_task(&task).await;
    assert_eq!(t["lastStatus"], "RUNNING");
    assert!(t["startedAt"].as_f64().is_some());
    assert_eq!(env.describe_instance(&a).await["runningTasksCount"], 1);

    let ack = env
        .ok(
            "SubmitTaskStateChange",
            json!({"cluster": "default", "task": task, "status": "STOPPED",
                   "containers": [{"containerName": "app", "status": "STOPPED", "exitCode": 0}]}),
        )
        .await;
    assert_eq!(ack["acknowledgment"], "ACK");
    let t = env.describe_task(&task).await;
    assert_eq!(t["lastStatus"], "STOPPED");
    assert_eq!(t["desiredStatus"], "STOPPED");
    assert_eq!(t["stopCode"], "EssentialContainerExited");
    assert_eq!(t["containers"][0]["exitCode"], 0);
    for f in ["stoppedAt", "stoppingAt", "executionStoppedAt"] {
        assert!(t[f].as_f64().is_some(), "{f} is set");
    }
    assert_eq!(env.remaining(&a, "MEMORY").await, 1024);
    assert_eq!(env.remaining(&a, "CPU").await, 2048);
    // A retried report is acknowledged and changes nothing.
    let version = t["version"].clone();
    env.report(&task, "STOPPED").await;
    assert_eq!(env.describe_task(&task).await["version"], version);
    assert_eq!(env.remaining(&a, "MEMORY").await, 1024);
    assert_eq!(
        env.list_tasks(json!({"desiredStatus": "STOPPED"})).await,
        vec![task.clone()]
    );
    assert!(env.list_tasks(json!({})).await.is_empty());
}

#[tokio::test]
async fn state_changes_are_monotonic() {
    let env = Env::new().await;
    env.instance(2048, 2048, "us-east-1a").await;
    env.task_definition_with(
        "hc",
        json!({"containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64,
               "healthCheck": {"command": ["CMD-SHELL", "true"]}}]}),
    )
    .await;
    let task = task_arns(&env.run(json!({"taskDefinition": "hc"})).await)[0].clone();
    env.ok(
        "SubmitTaskStateChange",
        json!({"task": task, "status": "RUNNING", "pullStartedAt": 1700000000.0, "pullStoppedAt": 1700000001.5,
               "containers": [{"containerName": "app", "status": "RUNNING", "runtimeId": "c0ffee",
                               "networkBindings": [{"containerPort": 80, "hostPort": 32768, "protocol": "tcp", "bindIP": "0.0.0.0"}]}]}),
    )
    .await;
    env.report(&task, "PENDING").await;
    let t = env.describe_task(&task).await;
    assert_eq!(t["lastStatus"], "RUNNING", "never backwards");
    assert_eq!(t["pullStartedAt"], 1700000000.0);
    assert_eq!(t["containers"][0]["runtimeId"], "c0ffee");
    assert_eq!(t["containers"][0]["networkBindings"][0]["hostPort"], 32768);
    assert_eq!(t["healthStatus"], "UNKNOWN");
    env.ok(
        "SubmitContainerStateChange",
        json!({"task": task, "containerName": "app", "status": "PENDING", "healthStatus": "HEALTHY"}),
    )
    .await;
    let t = env.describe_task(&task).await;
    assert_eq!(t["containers"][0]["lastStatus"], "RUNNING");
    assert_eq!(t["healthStatus"], "HEALTHY");
    // Failures to start keep the agent's reason.
    let task2 = task_arns(&env.run(json!({"taskDefinition": "hc"})).await)[0].clone();
    env.ok(
        "SubmitTaskStateChange",
        json!({"task": task2, "status": "STOPPED", "reason": "CannotPullContainerError: no such image"}),
    )
    .await;
    let t = env.describe_task(&task2).await;
    assert_eq!(t["stopCode"], "TaskFailedToStart");
    assert_eq!(t["stoppedReason"], "CannotPullContainerError: no such image");
    // Bad reports are client errors.
    let e = env
        .err("SubmitTaskStateChange", json!({"task": task, "status": "SLEEPING"}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err("SubmitTaskStateChange", json!({"task": "0000", "status": "RUNNING"}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}

#[tokio::test]
async fn client_token_makes_run_task_idempotent() {
    let env = Env::new().await;
    env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition("web", 64).await;
    let input = json!({"taskDefinition": "web", "count": 2, "clientToken": "token-1"});
    let first = env.run(input.clone()).await;
    let second = env.run(input.clone()).await;
    assert_eq!(task_arns(&first).len(), 2);
    assert_eq!(task_arns(&first), task_arns(&second));
    assert_eq!(env.list_tasks(json!({})).await.len(), 2);
    let e = env
        .err(
            "RunTask",
            json!({"taskDefinition": "web", "count": 3, "clientToken": "token-1"}),
        )
        .await;
    assert_eq!(e.code, "ConflictException");
    let e = env
        .err("RunTask", json!({"taskDefinition": "web", "clientToken": "bad token"}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}

#[tokio::test]
async fn stop_task() {
    let env = Env::new().await;
    let a = env.instance(4096, 1024, "us-east-1a").await;
    env.task_definition("web", 256).await;
    let v = env
        .run(json!({"taskDefinition": "web", "count": 2, "tags": [{"key": "k", "value": "v"}]}))
        .await;
    let arns = task_arns(&v);
    assert_eq!(v["tasks"][0]["tags"], json!([{"key": "k", "value": "v"}]));
    assert_eq!(env.remaining(&a, "MEMORY").await, 512);

    // Not yet known to the agent: STOPPED at once, resources back.
    let s = env
        .ok("StopTask", json!({"task": arns[0], "reason": "no longer needed"}))
        .await;
    assert_eq!(s["task"]["lastStatus"], "STOPPED");
    assert_eq!(s["task"]["desiredStatus"], "STOPPED");
    assert_eq!(s["task"]["stopCode"], "UserInitiated");
    assert_eq!(s["task"]["stoppedReason"], "no longer needed");
    assert_eq!(env.remaining(&a, "MEMORY").await, 768);

    // Known to the agent: the agent has to stop it; its report keeps the
    // user's stop code and reason.
    let id = arns[1].rsplit('/').next().unwrap();
    env.report(id, "RUNNING").await;
    let s = env.ok("StopTask", json!({"cluster": "default", "task": id})).await;
    assert_eq!(s["task"]["lastStatus"], "RUNNING");
    assert_eq!(s["task"]["desiredStatus"], "STOPPED");
    assert_eq!(s["task"]["stoppedReason"], "Task stopped by user");
    assert_eq!(env.remaining(&a, "MEMORY").await, 768);
    env.report(id, "STOPPED").await;
    let t = env.describe_task(&arns[1]).await;
    assert_eq!(t["stopCode"], "UserInitiated");
    assert_eq!(env.remaining(&a, "MEMORY").await, 1024);

    let e = env.err("StopTask", json!({"task": "feedface"})).await;
    assert_eq!(e.code, "InvalidParameterException");
}

#[tokio::test]
async fn list_tasks_filters_and_pagination() {
    let env = Env::new().await;
    let a = env.instance(8192, 8192, "us-east-1a").await;
    let b = env.instance(8192, 8192, "us-east-1b").await;
    env.task_definition("web", 64).await;
    env.task_definition("batch", 64).await;
    env.run(json!({"taskDefinition": "web", "count": 7, "startedBy": "ci"}))
        .await;
    env.run(json!({"taskDefinition": "batch", "count": 5})).await;
    env.ok(
        "StartTask",
        json!({"taskDefinition": "batch", "containerInstances": [b], "group": "service:api"}),
    )
    .await;

    assert_eq!(env.list_tasks(json!({})).await.len(), 13);
    assert_eq!(env.list_tasks(json!({"family": "web"})).await.len(), 7);
    assert_eq!(env.list_tasks(json!({"startedBy": "ci"})).await.len(), 7);
    assert_eq!(env.list_tasks(json!({"serviceName": "api"})).await.len(), 1);
    assert_eq!(env.list_tasks(json!({"launchType": "FARGATE"})).await.len(), 0);
    assert_eq!(env.list_tasks(json!({"desiredStatus": "PENDING"})).await.len(), 0);
    let on_a = env.list_tasks(json!({"containerInstance": a})).await.len();
    let on_b = env
        .list_tasks(json!({"containerInstance": b.rsplit('/').next().unwrap()}))
        .await
        .len();
    assert_eq!(on_a + on_b, 13);

    let mut seen = vec![];
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut input = json!({"maxResults": 5});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let v = env.ok("ListTasks", input).await;
        pages += 1;
        seen.extend(v["taskArns"].as_array().unwrap().iter().cloned());
        match v["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort_by_key(|v| v.to_string());
    seen.dedup();
    assert_eq!(seen.len(), 13);
    assert_eq!(
        env.err("ListTasks", json!({"maxResults": 101})).await.code,
        "InvalidParameterException"
    );
    assert_eq!(
        env.err("ListTasks", json!({"desiredStatus": "DONE"})).await.code,
        "InvalidParameterException"
    );

    // DescribeTasks: up to 100, MISSING failures, tags only when asked.
    let arns = env.list_tasks(json!({"family": "web"})).await;
    let v = env.ok("DescribeTasks", json!({"tasks": [arns[0], "0000"]})).await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(v["failures"][0]["reason"], "MISSING");
    let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    assert_eq!(
        env.err("DescribeTasks", json!({"tasks": many})).await.code,
        "InvalidParameterException"
    );
}

#[tokio::test]
async fn start_task_places_on_the_named_instances() {
    let env = Env::new().await;
    let a = env.instance(1024, 512, "us-east-1a").await;
    env.task_definition("web", 400).await;
    let missing = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0000";
    let v = env
        .ok(
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [a, a, missing]}),
        )
        .await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    let reasons: Vec<&str> = v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, vec!["RESOURCE:MEMORY", "MISSING"]);
}

#[tokio::test]
async fn fargate_tasks_need_awsvpc_and_run_on_berth_instances() {
    let env = Env::new().await;
    env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition_with(
        "fg",
        json!({"networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "app", "image": "busybox"}]}),
    )
    .await;
    let v = env
        .run(json!({"taskDefinition": "fg", "launchType": "FARGATE",
                    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}))
        .await;
    let t = &v["tasks"][0];
    assert_eq!(v["failures"], json!([]), "{v}");
    assert_eq!(t["launchType"], "FARGATE");
    assert_eq!(t["lastStatus"], "PROVISIONING");
    assert_eq!(t["cpu"], "256");
    assert_eq!(t["memory"], "512");
    assert_eq!(t["platformVersion"], "1.4.0");
    env.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
               "defaultCapacityProviderStrategy": []}),
    )
    .await;
    let v = env
        .run(json!({"taskDefinition": "fg", "count": 2,
                    "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
                    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}}))
        .await;
    assert_eq!(v["tasks"][0]["capacityProviderName"], "FARGATE_SPOT");
    assert_eq!(v["tasks"][1]["launchType"], "FARGATE");
}

#[tokio::test]
async fn network_configuration_must_match_the_network_mode() {
    let env = Env::new().await;
    let instance = env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition_with(
        "vpc",
        json!({"networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}),
    )
    .await;
    env.task_definition("plain", 64).await;
    let good = json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}});
    let cases = [
        (
            "vpc",
            None,
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ),
        (
            "vpc",
            Some(json!({"awsvpcConfiguration": {"subnets": []}})),
            "subnets can not be empty.",
        ),
        (
            "plain",
            Some(good.clone()),
            "Network Configuration is not valid for the given networkMode of this task definition.",
        ),
    ];
    for (family, network, message) in cases {
        for (op, mut input) in [
            ("RunTask", json!({"taskDefinition": family})),
            (
                "StartTask",
                json!({"taskDefinition": family, "containerInstances": [instance]}),
            ),
        ] {
            if let Some(n) = &network {
                input["networkConfiguration"] = n.clone();
            }
            let e = env.err(op, input).await;
            assert_eq!(e.code, "InvalidParameterException", "{op} {family}");
            assert_eq!(e.message, message, "{op} {family}");
        }
    }
    assert!(env.list_tasks(json!({})).await.is_empty(), "nothing was placed");
    let v = env
        .run(json!({"taskDefinition": "vpc", "networkConfiguration": good}))
        .await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1, "{v}");
    let v = env
        .ok(
            "StartTask",
            json!({"taskDefinition": "vpc", "containerInstances": [instance], "networkConfiguration": good}),
        )
        .await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1, "{v}");
}

#[tokio::test]
async fn execute_command_is_refused_until_ecs_exec_exists() {
    let env = Env::new().await;
    let instance = env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition("web", 64).await;
    for (op, mut input) in [
        ("RunTask", json!({"taskDefinition": "web"})),
        (
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [instance]}),
        ),
    ] {
        input["enableExecuteCommand"] = json!(true);
        let e = env.err(op, input.clone()).await;
        assert_eq!(e.code, "InvalidParameterException", "{op}");
        assert_eq!(
            e.message,
            "enableExecuteCommand is not supported by Berth yet (ECS Exec is not implemented); omit it or set it to false.",
            "{op}"
        );
        assert!(env.list_tasks(json!({})).await.is_empty(), "{op} placed nothing");
    }
    for (op, input) in [
        (
            "RunTask",
            json!({"taskDefinition": "web", "enableExecuteCommand": false}),
        ),
        (
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [instance], "enableExecuteCommand": false}),
        ),
    ] {
        let v = env.ok(op, input).await;
        assert_eq!(v["tasks"][0]["enableExecuteCommand"], false, "{op}");
    }
}

#[tokio::test]
async fn containers_without_a_health_check_are_unknown() {
    let env = Env::new().await;
    env.instance(2048, 2048, "us-east-1a").await;
    env.task_definition("plain", 64).await;
    let task = task_arns(&env.run(json!({"taskDefinition": "plain"})).await)[0].clone();
    let t = env.describe_task(&task).await;
    assert_eq!(t["containers"][0]["healthStatus"], "UNKNOWN", "{t}");
    assert_eq!(t["healthStatus"], "UNKNOWN");
    env.ok(
        "SubmitTaskStateChange",
        json!({"task": task, "status": "RUNNING",
               "containers": [{"containerName": "app", "status": "RUNNING", "runtimeId": "c0ffee"}]}),
    )
    .await;
    let t = env.describe_task(&task).await;
    assert_eq!(t["lastStatus"], "RUNNING");
    assert_eq!(t["containers"][0]["healthStatus"], "UNKNOWN", "{t}");
    assert_eq!(t["healthStatus"], "UNKNOWN");
    let listed = env.ok("DescribeTasks", json!({"tasks": [task]})).await;
    assert_eq!(listed["tasks"][0]["containers"][0]["healthStatus"], "UNKNOWN");
}

#[tokio::test]
async fn tags_overrides_and_groups() {
    let env = Env::new().await;
    env.instance(4096, 4096, "us-east-1a").await;
    let body = json!({
        "family": "web",
        "tags": [{"key": "team", "value": "core"}],
        "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}, {"name": "side", "image": "busybox", "memory": 32}]
    });
    env.task_definition_with("web", body).await;
    let v = env
        .run(json!({
            "taskDefinition": "web",
            "group": "batch",
            "propagateTags": "TASK_DEFINITION",
            "enableECSManagedTags": true,
            "tags": [{"key": "run", "value": "1"}],
            "overrides": {"containerOverrides": [{"name": "app", "memory": 128, "command": ["sleep", "1"]}],
                          "taskRoleArn": "arn:aws:iam::000000000000:role/r"}
        }))
        .await;
    let t = &v["tasks"][0];
    assert_eq!(t["group"], "batch");
    assert_eq!(t["memory"], "160");
    assert_eq!(t["containers"][0]["memory"], "128");
    assert_eq!(t["overrides"]["containerOverrides"][1], json!({"name": "side"}));
    assert_eq!(t["overrides"]["taskRoleArn"], "arn:aws:iam::000000000000:role/r");
    let tags = t["tags"].as_array().unwrap();
    for k in ["team", "run", "aws:ecs:clusterName"] {
        assert!(tags.iter().any(|x| x["key"] == k), "tag {k} in {tags:?}");
    }
    let e = env
        .err(
            "RunTask",
            json!({"taskDefinition": "web", "overrides": {"containerOverrides": [{"name": "ghost"}]}}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err("RunTask", json!({"taskDefinition": "web", "propagateTags": "SERVICE"}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}

#[tokio::test]
async fn concurrent_run_task_never_overcommits() {
    let env = Arc::new(Env::new().await);
    let a = env.instance(8192, 500, "us-east-1a").await;
    let b = env.instance(8192, 500, "us-east-1b").await;
    env.task_definition("web", 100).await;
    let mut handles = vec![];
    for _ in 0..20 {
        let env = env.clone();
        handles.push(tokio::spawn(
            async move { env.run(json!({"taskDefinition": "web"})).await },
        ));
    }
    let mut placed = 0;
    let mut failed = 0;
    for h in handles {
        let v = h.await.unwrap();
        placed += v["tasks"].as_array().unwrap().len();
        if !v["failures"].as_array().unwrap().is_empty() {
            failed += 1;
        }
    }
    assert_eq!(placed, 10, "exactly the capacity is placed");
    assert_eq!(failed, 10);
    assert_eq!(env.remaining(&a, "MEMORY").await, 0);
    assert_eq!(env.remaining(&b, "MEMORY").await, 0);
    assert_eq!(env.list_tasks(json!({"containerInstance": a})).await.len(), 5);
}

#[tokio::test]
async fn deregistering_instances() {
    let env = Env::new().await;
    let a = env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition("web", 64).await;
    let task = task_arns(&env.run(json!({"taskDefinition": "web"})).await)[0].clone();
    let e = env
        .err("DeregisterContainerInstance", json!({"containerInstance": a}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(e.message, "Found running tasks on the instance.");
    let v = env
        .ok(
            "DeregisterContainerInstance",
            json!({"containerInstance": a, "force": true}),
        )
        .await;
    assert_eq!(v["containerInstance"]["status"], "INACTIVE");
    assert_eq!(env.describe_task(&task).await["lastStatus"], "STOPPED");
    let list = env.ok("ListContainerInstances", json!({})).await;
    assert_eq!(list["containerInstanceArns"], json!([]));
    let e = env
        .err("BerthHeartbeat", json!({"cluster": "default", "containerInstance": a}))
        .await;
    assert_eq!(e.code, "ClientException");
    let e = env
        .err(
            "RegisterContainerInstance",
            json!({"containerInstanceArn": a,
            "totalResources": [{"name": "CPU", "integerValue": 1}, {"name": "MEMORY", "integerValue": 1}]}),
        )
        .await;
    assert_eq!(e.code, "ClientException");
}

#[tokio::test]
async fn the_session_streams_desired_state() {
    let env = Env::new().await;
    let a = env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition("web", 64).await;
    let mut session = env
        .ecs
        .open_agent_session(&env.ctx.principal, Some("default"), &a)
        .await
        .unwrap();
    let first = next_line(&mut session).await;
    assert_eq!(first["type"], "desired");
    assert_eq!(first["containerInstanceArn"], a.as_str());
    assert_eq!(first["tasks"], json!([]));
    assert_eq!(env.describe_instance(&a).await["agentConnected"], true);

    let task = task_arns(&env.run(json!({"taskDefinition": "web"})).await)[0].clone();
    let second = next_line(&mut session).await;
    assert_eq!(second["tasks"][0]["taskArn"], task.as_str());
    assert_eq!(second["tasks"][0]["taskDefinition"]["family"], "web");
    assert!(second["revision"].as_i64().unwrap() > first["revision"].as_i64().unwrap());

    env.ok("StopTask", json!({"task": task})).await;
    // Stopped before the agent reported on it: it leaves the desired state.
    let third = next_line(&mut session).await;
    assert_eq!(third["tasks"], json!([]));
    drop(session);
    let (env, a) = (&env, &a);
    eventually(Duration::from_secs(10), "agentConnected=false", || async move {
        (env.describe_instance(a).await["agentConnected"] == false).then_some(())
    })
    .await;
    let e = env
        .ecs
        .open_agent_session(&env.ctx.principal, Some("default"), "0000")
        .await
        .err()
        .expect("unknown instances are refused");
    assert_eq!(e.code, "InvalidParameterException");

    // A server shutting down ends every session cleanly and takes no new ones.
    let mut session = env
        .ecs
        .open_agent_session(&env.ctx.principal, Some("default"), a)
        .await
        .unwrap();
    assert_eq!(next_line(&mut session).await["type"], "desired");
    env.ecs.close_agent_sessions();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), session.next())
            .await
            .expect("the stream ends within the deadline");
        if item.is_none() {
            break;
        }
    }
    let e = env
        .ecs
        .open_agent_session(&env.ctx.principal, Some("default"), a)
        .await
        .err()
        .unwrap();
    assert_eq!(e.code, "ServerException");
}

#[tokio::test]
async fn monitor_stops_tasks_of_lost_agents_after_the_grace_period() {
    let env = Env::new().await;
    let a = env.instance(4096, 1024, "us-east-1a").await;
    env.task_definition("web", 256).await;
    let v = env.run(json!({"taskDefinition": "web", "count": 2})).await;
    let arns = task_arns(&v);
    env.report(&arns[1], "RUNNING").await;
    assert_eq!(env.remaining(&a, "MEMORY").await, 512);
    let _controllers = spawn_controllers(
        &env.ecs,
        ControllerConfig {
            agent_grace_period: Duration::from_millis(300),
            heartbeat_timeout: Duration::from_millis(100),
            interval: Duration::from_millis(20),
            ..ControllerConfig::default()
        },
    );
    let (env, a) = (&env, &a);
    eventually(Duration::from_secs(10), "agentConnected=false", || async move {
        (env.describe_instance(a).await["agentConnected"] == false).then_some(())
    })
    .await;
    for arn in &arns {
        let t = eventually(Duration::from_secs(10), "task STOPPED", || async move {
            let t = env.describe_task(arn).await;
            (t["lastStatus"] == "STOPPED").then_some(t)
        })
        .await;
        assert_eq!(t["stoppedReason"], AGENT_LOST_REASON);
    }
    assert_eq!(env.describe_task(&arns[0]).await["stopCode"], "TaskFailedToStart");
    assert_eq!(env.describe_task(&arns[1]).await["stopCode"], "TerminationNotice");
    assert_eq!(env.remaining(a, "MEMORY").await, 1024);
    // The agent is back: heartbeat and stream make it connected again.
    let session = env.ecs.open_agent_session(&env.ctx.principal, None, a).await.unwrap();
    assert_eq!(env.describe_instance(a).await["agentConnected"], true);
    env.ok("BerthHeartbeat", json!({"containerInstance": a})).await;
    drop(session);
}

#[tokio::test]
async fn custom_attributes_drive_member_of_and_filters() {
    let env = Env::new().await;
    let a = env.instance(4096, 4096, "us-east-1a").await;
    let b = env.instance(4096, 4096, "us-east-1b").await;
    env.ok(
        "PutAttributes",
        json!({"attributes": [{"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": a}]}),
    )
    .await;
    let inst = env.describe_instance(&a).await;
    assert!(
        inst["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "stack" && x["value"] == "prod")
    );
    let list = env
        .ok("ListContainerInstances", json!({"filter": "attribute:stack == prod"}))
        .await;
    assert_eq!(list["containerInstanceArns"], json!([a]));
    env.task_definition("web", 64).await;
    let v = env
        .run(json!({"taskDefinition": "web", "count": 4,
                    "placementConstraints": [{"type": "memberOf", "expression": "attribute:stack == prod"}]}))
        .await;
    assert_eq!(per_instance(&v).get(&a), Some(&4));
    // distinctInstance: one task of the group per instance, the rest fail.
    let v = env
        .run(json!({"taskDefinition": "web", "count": 3, "group": "solo",
                    "placementConstraints": [{"type": "distinctInstance"}]}))
        .await;
    let counts = per_instance(&v);
    assert_eq!((counts.get(&a), counts.get(&b)), (Some(&1), Some(&1)));
    assert_eq!(v["failures"].as_array().unwrap().len(), 2);
    assert!(
        v["failures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["reason"] == "ATTRIBUTE")
    );
}
