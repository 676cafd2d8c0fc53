//! GetTaskProtection, UpdateTaskProtection and DiscoverPollEndpoint, added
//! the typed way (one `impl Operation` each, one line in the table): their
//! answers, their errors, and a service that scales in around its
//! protected tasks until their protection ends.

use berth_ecs::{ServiceControllerConfig, spawn_service_controller};
use berth_testkit::agents::{HollowAgent, Instance, tasks_of};
use berth_testkit::{EcsEnv, eventually};
use serde_json::{Value, json};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

fn controller_config() -> ServiceControllerConfig {
    ServiceControllerConfig {
        resync: Duration::from_secs(2),
        ..Default::default()
    }
}

/// Task ARNs of `service` whose desired status is RUNNING.
async fn wanted(env: &EcsEnv, service: &str) -> Vec<String> {
    tasks_of(&env.ecs, Some(service))
        .await
        .iter()
        .filter(|t| t["desiredStatus"] == "RUNNING")
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect()
}

fn reasons(v: &Value) -> Vec<(String, String)> {
    v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["arn"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn protected_tasks_survive_scale_in_until_unprotected() {
    let env = EcsEnv::new().default_cluster().await;
    let _agent = HollowAgent::spawn(env.ecs.clone());
    let controller = spawn_service_controller(&env.ecs, controller_config());
    env.register_instance(Instance {
        cpu: 4096,
        memory: 8192,
        az: "us-east-1a",
        reserved_ports: &["22"],
    })
    .await;
    env.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}),
    )
    .await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 3}),
    )
    .await;
    let tasks = eventually(DEADLINE, "3 tasks", || async {
        let w = wanted(&env, "web").await;
        (w.len() == 3).then_some(w)
    })
    .await;
    let (protected, unprotected) = (&tasks[..2], &tasks[2]);

    // Protect two for an hour; the answer and GetTaskProtection agree.
    let before = berth_core::time::now_epoch();
    let v = env
        .ok(
            "UpdateTaskProtection",
            json!({"cluster": "default", "tasks": protected, "protectionEnabled": true, "expiresInMinutes": 60}),
        )
        .await;
    assert_eq!(v["protectedTasks"].as_array().unwrap().len(), 2);
    assert!(reasons(&v).is_empty());
    for p in v["protectedTasks"].as_array().unwrap() {
        assert_eq!(p["protectionEnabled"], true);
        let exp = p["expirationDate"].as_f64().unwrap();
        assert!(exp >= before + 3600.0 && exp < before + 3660.0, "{exp}");
    }
    let g = env
        .ok(
            "GetTaskProtection",
            json!({"cluster": "default", "tasks": [protected[0], unprotected, "nope"]}),
        )
        .await;
    let got = g["protectedTasks"].as_array().unwrap();
    assert_eq!(got[0]["taskArn"], protected[0].as_str());
    assert_eq!(got[0]["protectionEnabled"], true);
    assert_eq!(got[1]["protectionEnabled"], false);
    assert!(got[1].get("expirationDate").is_none());
    assert_eq!(
        reasons(&g),
        vec![(
            "arn:aws:ecs:us-east-1:000000000000:task/default/nope".to_string(),
            "MISSING".to_string()
        )]
    );
    // Without `tasks`: every protected task of the cluster.
    let all = env.ok("GetTaskProtection", json!({"cluster": "default"})).await;
    assert_eq!(all["protectedTasks"].as_array().unwrap().len(), 2);

    // Scale in to zero: the unprotected task stops in the step that would
    // have stopped the others; the protected ones stay.
    env.ok("UpdateService", json!({"service": "web", "desiredCount": 0}))
        .await;
    let left = eventually(DEADLINE, "the unprotected task stopped", || async {
        let w = wanted(&env, "web").await;
        (!w.contains(unprotected)).then_some(w)
    })
    .await;
    let mut left = left;
    left.sort();
    let mut expected = protected.to_vec();
    expected.sort();
    assert_eq!(left, expected);

    // Protection off: the service stops them.
    let v = env
        .ok(
            "UpdateTaskProtection",
            json!({"cluster": "default", "tasks": protected, "protectionEnabled": false}),
        )
        .await;
    assert_eq!(v["protectedTasks"][0]["protectionEnabled"], false);
    eventually(DEADLINE, "protected tasks stopped once unprotected", || async {
        wanted(&env, "web").await.is_empty().then_some(())
    })
    .await;
    controller.abort();
}

#[tokio::test]
async fn a_deployment_does_not_replace_a_protected_task() {
    let env = EcsEnv::new().default_cluster().await;
    let _agent = HollowAgent::spawn(env.ecs.clone());
    let controller = spawn_service_controller(&env.ecs, controller_config());
    env.register_instance(Instance {
        cpu: 4096,
        memory: 8192,
        az: "us-east-1a",
        reserved_ports: &["22"],
    })
    .await;
    let td = json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]});
    env.ok("RegisterTaskDefinition", td.clone()).await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 2}),
    )
    .await;
    let old = eventually(DEADLINE, "2 tasks", || async {
        let w = wanted(&env, "web").await;
        (w.len() == 2).then_some(w)
    })
    .await;
    env.ok(
        "UpdateTaskProtection",
        json!({"cluster": "default", "tasks": [old[0]], "protectionEnabled": true}),
    )
    .await;
    env.ok("RegisterTaskDefinition", td).await;
    env.ok("UpdateService", json!({"service": "web", "taskDefinition": "web:2"}))
        .await;
    // The old unprotected task is replaced in the step that would have
    // replaced both; the protected one keeps running beside the new ones.
    let left = eventually(DEADLINE, "the unprotected old task replaced", || async {
        let w = wanted(&env, "web").await;
        (!w.contains(&old[1]) && w.len() == 3).then_some(w)
    })
    .await;
    assert!(left.contains(&old[0]), "{left:?}");
    let s = env.ok("DescribeServices", json!({"services": ["web"]})).await;
    assert_eq!(s["services"][0]["deployments"][0]["rolloutState"], "IN_PROGRESS");
    controller.abort();
}

#[tokio::test]
async fn protection_is_validated_and_only_for_service_tasks() {
    let env = EcsEnv::new().default_cluster().await;
    for minutes in [0, 2881] {
        let e = env
            .err(
                "UpdateTaskProtection",
                json!({"cluster": "default", "tasks": ["t"], "protectionEnabled": true, "expiresInMinutes": minutes}),
            )
            .await;
        assert_eq!(e.code, "InvalidParameterException", "{minutes}");
    }
    let e = env
        .err(
            "UpdateTaskProtection",
            json!({"cluster": "default", "tasks": [], "protectionEnabled": true}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "UpdateTaskProtection",
            json!({"cluster": "ghost", "tasks": ["t"], "protectionEnabled": true}),
        )
        .await;
    assert_eq!(e.code, "ClusterNotFoundException");
    // Required members.
    let e = env.err("UpdateTaskProtection", json!({"cluster": "default"})).await;
    assert_eq!(e.code, "SerializationException");
    let e = env.err("GetTaskProtection", json!({})).await;
    assert_eq!(e.code, "SerializationException");
    // A missing task and a standalone one.
    let _agent = HollowAgent::spawn(env.ecs.clone());
    env.register_instance(Instance {
        cpu: 1024,
        memory: 1024,
        az: "us-east-1a",
        reserved_ports: &[],
    })
    .await;
    env.ok(
        "RegisterTaskDefinition",
        json!({"family": "one", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}),
    )
    .await;
    let run = env.ok("RunTask", json!({"taskDefinition": "one"})).await;
    let standalone = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let v = env
        .ok(
            "UpdateTaskProtection",
            json!({"cluster": "default", "tasks": [standalone, "gone"], "protectionEnabled": true}),
        )
        .await;
    assert!(v["protectedTasks"].as_array().unwrap().is_empty());
    assert_eq!(
        reasons(&v),
        vec![
            (standalone.clone(), "TASK_NOT_VALID".to_string()),
            (
                "arn:aws:ecs:us-east-1:000000000000:task/default/gone".to_string(),
                "MISSING".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn discover_poll_endpoint_answers_the_advertised_url() {
    let mut env = EcsEnv::new().default_cluster().await;
    env.ecs = env.ecs.clone().with_endpoint("https://berth.internal:4600");
    let v = env
        .ok(
            "DiscoverPollEndpoint",
            json!({"cluster": "default", "containerInstance": "abc"}),
        )
        .await;
    assert_eq!(
        v,
        json!({"endpoint": "https://berth.internal:4600", "telemetryEndpoint": "https://berth.internal:4600",
               "serviceConnectEndpoint": "https://berth.internal:4600"})
    );
    let e = env.err("DiscoverPollEndpoint", json!({"cluster": "bad name!"})).await;
    assert_eq!(e.code, "InvalidParameterException");
}
