//! The service controller holding a service's tasks: replicas and daemons,
//! unplaceable tasks, draining instances, health checks and throttling.

#[path = "support/services_env.rs"]
mod support;

use berth_testkit::eventually;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use support::*;

#[tokio::test]
async fn replica_service_holds_its_desired_count() {
    let env = Env::new().await;
    env.instance("us-east-1a").await;
    env.instance("us-east-1b").await;
    let td = env.task_definition("web").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": td, "desiredCount": 3, "enableECSManagedTags": true,
               "propagateTags": "SERVICE", "tags": [{"key": "team", "value": "a"}]}),
    )
    .await;
    let s = env.steady("web", 3).await;
    let ev = events(&s);
    assert!(ev[0].ends_with("has reached a steady state."), "{ev:?}");
    assert!(
        ev.iter()
            .any(|e| e.starts_with("(service web) has started 3 tasks: (task "))
    );
    assert!(ev.iter().any(|e| e.contains("deployment completed.")));
    let tasks = env.tasks("web").await;
    let deployment = s["deployments"][0]["id"].as_str().unwrap();
    for t in &tasks {
        assert_eq!(t["group"], "service:web");
        assert_eq!(t["startedBy"], deployment);
    }
    // Spread over both AZs (the service default strategy).
    let azs: BTreeSet<&str> = tasks.iter().filter_map(|t| t["availabilityZone"].as_str()).collect();
    assert_eq!(azs.len(), 2);
    let described = env
        .ok(
            "DescribeTasks",
            json!({"tasks": [tasks[0]["taskArn"]], "include": ["TAGS"]}),
        )
        .await;
    let tags = &described["tasks"][0]["tags"];
    assert!(
        tags.as_array().unwrap().contains(&json!({"key": "team", "value": "a"})),
        "{tags}"
    );
    assert!(
        tags.as_array()
            .unwrap()
            .contains(&json!({"key": "aws:ecs:serviceName", "value": "web"}))
    );

    // A task that exits is replaced.
    let victim = tasks[0]["taskArn"].as_str().unwrap().to_string();
    env.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "default", "task": victim, "status": "STOPPED", "stopCode": "EssentialContainerExited"}),
    )
    .await;
    let s = eventually(DEADLINE, "replacement", || async {
        let s = env.service("web").await;
        let tasks = env.tasks("web").await;
        let ok = s["runningCount"] == 3
            && running(&tasks).len() == 3
            && !running(&tasks).iter().any(|t| t["taskArn"] == victim.as_str());
        ok.then_some(s)
    })
    .await;
    assert_eq!(s["deployments"][0]["failedTasks"], 1);

    // Scale in, then to zero.
    env.ok("UpdateService", json!({"service": "web", "desiredCount": 1}))
        .await;
    env.steady("web", 1).await;
    env.ok("UpdateService", json!({"service": "web", "desiredCount": 0}))
        .await;
    eventually(DEADLINE, "scaled to zero", || async {
        let s = env.service("web").await;
        (s["runningCount"] == 0 && wanted(&env.tasks("web").await).is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn unplaceable_tasks_make_an_event() {
    let env = Env::new().await;
    let td = env.task_definition("web").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": td, "desiredCount": 1}),
    )
    .await;
    let ev = eventually(DEADLINE, "unable to place event", || async {
        let s = env.service("web").await;
        events(&s)
            .into_iter()
            .find(|e| e.contains("was unable to place a task"))
    })
    .await;
    assert!(
        ev.starts_with(
            "(service web) was unable to place a task because no container instance met all of its requirements."
        ),
        "{ev}"
    );
    // Capacity arrives: the task is placed.
    env.instance("us-east-1a").await;
    env.steady("web", 1).await;
}

#[tokio::test]
async fn daemon_runs_one_task_per_instance() {
    let env = Env::new().await;
    let a = env.instance("us-east-1a").await;
    env.instance("us-east-1b").await;
    let td = env.task_definition("agent").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "agent", "taskDefinition": td, "schedulingStrategy": "DAEMON"}),
    )
    .await;
    env.steady("agent", 2).await;
    // A new instance gets one too.
    let c = env.instance("us-east-1c").await;
    let s = env.steady("agent", 3).await;
    assert_eq!(s["desiredCount"], 3);
    let tasks = env.tasks("agent").await;
    let per: HashMap<&str, usize> = running(&tasks).iter().fold(HashMap::new(), |mut m, t| {
        *m.entry(t["containerInstanceArn"].as_str().unwrap()).or_default() += 1;
        m
    });
    assert_eq!(per.len(), 3);
    assert!(per.values().all(|n| *n == 1));
    assert_eq!(per.get(c.as_str()), Some(&1));
    // Draining an instance takes its daemon task away.
    env.ok(
        "UpdateContainerInstancesState",
        json!({"containerInstances": [a], "status": "DRAINING"}),
    )
    .await;
    env.steady("agent", 2).await;
    assert!(
        !running(&env.tasks("agent").await)
            .iter()
            .any(|t| t["containerInstanceArn"] == a.as_str())
    );
}

#[tokio::test]
async fn draining_moves_service_tasks_but_not_standalone_ones() {
    let env = Env::new().await;
    let a = env.instance("us-east-1a").await;
    let b = env.instance("us-east-1b").await;
    let td = env.task_definition("web").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": td, "desiredCount": 4}),
    )
    .await;
    env.steady("web", 4).await;
    let standalone = env
        .ok("StartTask", json!({"taskDefinition": td, "containerInstances": [a]}))
        .await["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(
        "UpdateContainerInstancesState",
        json!({"containerInstances": [a], "status": "DRAINING"}),
    )
    .await;
    let (min_running, _) = sample_until(&env, "web", |_| async {
        let tasks = env.tasks("web").await;
        let r = running(&tasks);
        r.len() == 4 && r.iter().all(|t| t["containerInstanceArn"] == b.as_str()) && wanted(&tasks).len() == 4
    })
    .await;
    assert!(min_running >= 4, "fell to {min_running} while draining");
    let t = env.ok("DescribeTasks", json!({"tasks": [standalone]})).await["tasks"][0].clone();
    assert_eq!(t["desiredStatus"], "RUNNING");
    assert_eq!(t["lastStatus"], "RUNNING");
}

#[tokio::test]
async fn health_checks_decide_healthy_and_unhealthy_tasks_are_replaced() {
    let env = Env::new().await;
    env.instance("us-east-1a").await;
    let v = env
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "hc-web", "containerDefinitions": [{
                "name": "app", "image": "busybox", "cpu": 64, "memory": 64,
                "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1}}]}),
        )
        .await;
    let td = v["taskDefinition"]["taskDefinitionArn"].as_str().unwrap().to_string();
    env.ok(
        "CreateService",
        json!({"serviceName": "hc", "taskDefinition": td, "desiredCount": 2, "healthCheckGracePeriodSeconds": 0}),
    )
    .await;
    env.steady("hc", 2).await;
    let tasks = env.tasks("hc").await;
    assert!(tasks.iter().all(|t| t["healthStatus"] == "HEALTHY"));
    // One goes UNHEALTHY: the service stops it and starts another.
    let sick = tasks[0]["taskArn"].as_str().unwrap().to_string();
    env.ok(
        "SubmitContainerStateChange",
        json!({"cluster": "default", "task": sick, "containerName": "app", "status": "RUNNING", "healthStatus": "UNHEALTHY"}),
    )
    .await;
    eventually(DEADLINE, "the unhealthy task replaced", || async {
        let tasks = env.tasks("hc").await;
        let sick_task = tasks.iter().find(|t| t["taskArn"] == sick.as_str())?;
        let healthy = running(&tasks)
            .iter()
            .filter(|t| t["healthStatus"] == "HEALTHY" && t["desiredStatus"] == "RUNNING")
            .count();
        (sick_task["desiredStatus"] == "STOPPED" && healthy == 2).then_some(())
    })
    .await;
    let t = env.ok("DescribeTasks", json!({"tasks": [sick]})).await["tasks"][0].clone();
    assert_eq!(t["stoppedReason"], berth_ecs::HEALTH_CHECK_REASON);
    assert_eq!(t["stopCode"], "ServiceSchedulerInitiated");
    let ev = events(&env.service("hc").await);
    assert!(
        ev.iter().any(|e| e.contains("failed container health checks")),
        "{ev:?}"
    );
}

#[tokio::test]
async fn repeated_failures_throttle_the_service() {
    let env = Env::new().await;
    env.instance("us-east-1a").await;
    let td = env.task_definition("crash-loop").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "loop", "taskDefinition": td, "desiredCount": 1}),
    )
    .await;
    let s = eventually(DEADLINE, "the throttling event", || async {
        let s = env.service("loop").await;
        events(&s)
            .iter()
            .any(|e| e == "(service loop) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")
            .then_some(s)
    })
    .await;
    // Without the circuit breaker the deployment keeps trying.
    assert_eq!(s["deployments"].as_array().unwrap().len(), 1);
    assert!(s["deployments"][0]["failedTasks"].as_i64().unwrap() >= 3);
}
