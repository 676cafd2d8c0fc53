//! Services using the EXTERNAL deployment controller and their task sets
//! through `Ecs::call` and the service controller (a hollow agent runs the
//! tasks): computed counts follow scale and desired count, each task set's
//! tasks are started by its id, a DRAINING task set goes once its tasks
//! have, a restarted controller carries on from the records, and the
//! refusals ECS makes.

#[path = "support/services_env.rs"]
mod support;

use berth_ecs::spawn_service_controller;
use berth_testkit::eventually;
use serde_json::{Value, json};
use support::*;

async fn task_set(env: &Env, id: &str) -> Value {
    env.ok("DescribeTaskSets", json!({"service": "ext", "taskSets": [id]}))
        .await["taskSets"][0]
        .clone()
}

async fn steady(env: &Env, id: &str, n: i64) -> Value {
    eventually(DEADLINE, &format!("{id} steady with {n}"), || async {
        let t = task_set(env, id).await;
        (t["runningCount"] == n && t["computedDesiredCount"] == n && t["stabilityStatus"] == "STEADY_STATE")
            .then_some(t)
    })
    .await
}

#[tokio::test]
async fn task_sets_run_their_share_of_the_desired_count() {
    let mut env = Env::new().await;
    env.instance("us-east-1a").await;
    let v1 = env.task_definition("web").await;
    let v2 = env.task_definition("web").await;

    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "ext", "taskDefinition": v1, "deploymentController": {"type": "EXTERNAL"}}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "ext", "deploymentController": {"type": "CODE_DEPLOY"}}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let s = env
        .ok(
            "CreateService",
            json!({"serviceName": "ext", "desiredCount": 3, "deploymentController": {"type": "EXTERNAL"}}),
        )
        .await["service"]
        .clone();
    assert_eq!(s["taskSets"], json!([]));
    assert!(s.get("deployments").is_none() && s.get("taskDefinition").is_none());

    let e = env
        .err(
            "CreateTaskSet",
            json!({"service": "ext", "taskDefinition": v1, "scale": {"value": 101.0, "unit": "PERCENT"}}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let a = env
        .ok(
            "CreateTaskSet",
            json!({"service": "ext", "taskDefinition": v1, "scale": {"value": 50.0, "unit": "PERCENT"}}),
        )
        .await["taskSet"]
        .clone();
    let a_id = a["id"].as_str().unwrap().to_string();
    assert_eq!(a["computedDesiredCount"], 2, "ceil(3 × 50 %)");
    assert_eq!(a["launchType"], "EC2");
    let b = env
        .ok(
            "CreateTaskSet",
            json!({"service": "ext", "taskDefinition": v2, "scale": {"value": 10.0, "unit": "PERCENT"}}),
        )
        .await["taskSet"]
        .clone();
    let b_id = b["id"].as_str().unwrap().to_string();
    steady(&env, &a_id, 2).await;
    steady(&env, &b_id, 1).await;
    let tasks = env.tasks("ext").await;
    let by = |id: &str| running(&tasks).iter().filter(|t| t["startedBy"] == id).count();
    assert_eq!((by(&a_id), by(&b_id)), (2, 1));
    assert_eq!(env.service("ext").await["runningCount"], 3);

    // A restarted controller derives the same state: nothing started again.
    env.controller.take().unwrap().abort();
    env.controller = Some(spawn_service_controller(&env.ecs, controller_config()));
    env.ok("UpdateService", json!({"service": "ext", "desiredCount": 4}))
        .await;
    steady(&env, &a_id, 2).await;
    steady(&env, &b_id, 1).await;
    let after = env.tasks("ext").await;
    assert_eq!(running(&after).len(), 3, "ceil(4 × 50 %) + ceil(4 × 10 %)");

    // Scale changes; the PRIMARY cannot be deleted without force.
    env.ok(
        "UpdateTaskSet",
        json!({"service": "ext", "taskSet": a_id, "scale": {"value": 0.0, "unit": "PERCENT"}}),
    )
    .await;
    steady(&env, &a_id, 0).await;
    env.ok(
        "UpdateServicePrimaryTaskSet",
        json!({"service": "ext", "primaryTaskSet": b_id}),
    )
    .await;
    let e = env
        .err("DeleteTaskSet", json!({"service": "ext", "taskSet": b_id}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err("UpdateService", json!({"service": "ext", "taskDefinition": v1}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let deleted = env
        .ok(
            "DeleteTaskSet",
            json!({"service": "ext", "taskSet": b_id, "force": true}),
        )
        .await["taskSet"]
        .clone();
    assert_eq!(deleted["status"], "DRAINING");
    eventually(DEADLINE, "the deleted task set gone with its task", || async {
        let sets = env.ok("DescribeTaskSets", json!({"service": "ext"})).await["taskSets"].clone();
        (sets.as_array().unwrap().len() == 1 && wanted(&env.tasks("ext").await).is_empty()).then_some(())
    })
    .await;
    let e = env
        .err(
            "UpdateTaskSet",
            json!({"service": "ext", "taskSet": b_id, "scale": {"value": 1.0}}),
        )
        .await;
    assert_eq!(e.code, "TaskSetNotFoundException");

    // Task set operations need an EXTERNAL service.
    env.ok(
        "CreateService",
        json!({"serviceName": "plain", "taskDefinition": v1, "desiredCount": 0}),
    )
    .await;
    let e = env
        .err("CreateTaskSet", json!({"service": "plain", "taskDefinition": v1}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env.err("DescribeTaskSets", json!({"service": "missing"})).await;
    assert_eq!(e.code, "ServiceNotFoundException");
}

#[tokio::test]
async fn application_auto_scaling_reaches_the_task_sets() {
    let env = Env::new().await;
    env.instance("us-east-1a").await;
    let v1 = env.task_definition("web").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "ext", "desiredCount": 2, "deploymentController": {"type": "EXTERNAL"}}),
    )
    .await;
    let a = env
        .ok(
            "CreateTaskSet",
            json!({"service": "ext", "taskDefinition": v1, "scale": {"value": 50.0, "unit": "PERCENT"}}),
        )
        .await["taskSet"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    steady(&env, &a, 1).await;
    let scaled = env.ecs.scale_service("default", "ext", |_| Some(4)).await.unwrap();
    assert_eq!(scaled.map(|(_, c)| c), Some(4));
    assert_eq!(task_set(&env, &a).await["computedDesiredCount"], 2);
    steady(&env, &a, 2).await;
    let s = env.ecs.service_scale("default", "ext").await.unwrap().unwrap();
    assert!(!s.deploying && s.running_count == 2);

    // A deleted service stops its task sets' tasks, then is INACTIVE.
    env.ok("DeleteService", json!({"service": "ext", "force": true})).await;
    eventually(DEADLINE, "the deleted EXTERNAL service INACTIVE", || async {
        let s = env.service("ext").await;
        (s["status"] == "INACTIVE" && wanted(&env.tasks("ext").await).is_empty()).then_some(())
    })
    .await;
}
