//! Where RunTask places tasks: strategies, resources and host ports
//! reserved and released, never an over-committed instance.

#[path = "support/ecs_env.rs"]
mod support;

use serde_json::json;
use std::sync::Arc;
use support::*;

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
