//! Fargate hosts shared by every cluster (docs/architecture.md "Fargate"):
//! a FARGATE task of a cluster with no instance of its own is placed on a
//! host of another cluster that shares its Fargate capacity (a Fargate
//! host, or `berth up`'s local instance with `berth.fargate-shared`),
//! counted once, carried by the host's session, stopped with the host when
//! its agent is lost, and never listed in the task's cluster.

#[path = "support/ecs_env.rs"]
mod support;

use berth_ecs::{AGENT_LOST_REASON, ControllerConfig, spawn_controllers};
use berth_ecs_model::instance::InstanceRecord;
use berth_store::typed;
use berth_testkit::{EcsEnv, eventually};
use serde_json::{Value, json};
use std::time::Duration;
use support::*;

const NETWORK: &str = r#"{"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}"#;

/// Registers in `default` an instance of 4096 CPU units and 8192 MiB with
/// the attribute `name=true`; returns its ARN.
async fn host(env: &Env, attribute: &str) -> String {
    let mut attributes = berth_testkit::agents::agent_attributes("us-east-1a");
    attributes
        .as_array_mut()
        .unwrap()
        .push(json!({"name": attribute, "value": "true"}));
    let v = env
        .ok(
            "RegisterContainerInstance",
            json!({
                "cluster": "default",
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192}
                ],
                "attributes": attributes,
            }),
        )
        .await;
    v["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A cluster `prod` and a FARGATE task definition `fg` (256 CPU, 512 MiB).
async fn prod(env: &Env) {
    env.ok("CreateCluster", json!({"clusterName": "prod"})).await;
    env.task_definition_with(
        "fg",
        json!({"networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "app", "image": "busybox"}]}),
    )
    .await;
}

async fn run_in_prod(env: &EcsEnv, count: u32) -> Value {
    let network: Value = serde_json::from_str(NETWORK).unwrap();
    env.ok(
        "RunTask",
        json!({"cluster": "prod", "taskDefinition": "fg", "launchType": "FARGATE", "count": count,
               "networkConfiguration": network}),
    )
    .await
}

async fn describe(env: &EcsEnv, cluster: &str, arn: &str) -> Value {
    env.ok("DescribeTasks", json!({"cluster": cluster, "tasks": [arn]}))
        .await["tasks"][0]
        .clone()
}

/// What remains of an instance of `default` as stored (a Fargate host is
/// no container instance: DescribeContainerInstances does not show it).
async fn remaining(env: &EcsEnv, arn: &str, name: &str) -> i64 {
    let id = arn.rsplit('/').next().unwrap();
    let (rec, _) = typed::get::<InstanceRecord>(&*env.store, &format!("ecs/instances/default/{id}"))
        .await
        .unwrap()
        .unwrap();
    match name {
        "CPU" => rec.remaining_resources.cpu as i64,
        _ => rec.remaining_resources.memory as i64,
    }
}

#[tokio::test]
async fn a_cluster_with_no_instance_runs_fargate_tasks_on_a_host_of_another_cluster_counted_once() {
    let env = Env::new().await;
    // berth up's local instance: a container instance of default that
    // shares its Fargate capacity.
    let local = host(&env, "berth.fargate-shared").await;
    prod(&env).await;
    let v = run_in_prod(&env, 3).await;
    assert_eq!(v["failures"], json!([]), "{v}");
    let tasks = task_arns(&v);
    assert_eq!(tasks.len(), 3);
    for t in v["tasks"].as_array().unwrap() {
        assert!(t.get("containerInstanceArn").is_none(), "{t}");
        assert_eq!(t["launchType"], "FARGATE");
        assert_eq!(t["clusterArn"], "arn:aws:ecs:us-east-1:000000000000:cluster/prod");
        assert_eq!(t["attachments"][0]["type"], "ElasticNetworkInterface");
    }
    // prod has no container instance, shadow or other.
    let listed = env.ok("ListContainerInstances", json!({"cluster": "prod"})).await;
    assert_eq!(listed["containerInstanceArns"], json!([]));
    let c = env
        .ok("DescribeClusters", json!({"clusters": ["prod", "default"]}))
        .await;
    assert_eq!(c["clusters"][0]["registeredContainerInstancesCount"], 0);
    assert_eq!(c["clusters"][1]["registeredContainerInstancesCount"], 1);
    // The host's resources are taken once, on its one record.
    assert_eq!(remaining(&env, &local, "CPU").await, 4096 - 3 * 256);
    assert_eq!(remaining(&env, &local, "MEMORY").await, 8192 - 3 * 512);
    // The tasks are prod's: default lists none of them.
    assert_eq!(env.list_tasks(json!({"cluster": "prod"})).await.len(), 3);
    assert_eq!(
        env.list_tasks(json!({"cluster": "default"})).await,
        Vec::<String>::new()
    );
    // The host stays a container instance of its own cluster: EC2 tasks of
    // default run on it.
    env.task_definition("web", 64).await;
    let v = env.run(json!({"taskDefinition": "web"})).await;
    assert_eq!(v["tasks"][0]["containerInstanceArn"], json!(local), "{v}");
    // An EC2 task of prod finds no instance (the shared host is not prod's).
    let e = env
        .err(
            "RunTask",
            json!({"cluster": "prod", "taskDefinition": "web", "launchType": "EC2"}),
        )
        .await;
    assert_eq!(e.message, "No Container Instances were found in your cluster.");

    // The agent reports with the task's cluster; stopping gives the
    // resources back to the host.
    env.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "arn:aws:ecs:us-east-1:000000000000:cluster/prod", "task": tasks[0], "status": "RUNNING"}),
    )
    .await;
    assert_eq!(describe(&env, "prod", &tasks[0]).await["lastStatus"], "RUNNING");
    for t in &tasks {
        env.ok("StopTask", json!({"cluster": "prod", "task": t})).await;
        env.ok(
            "SubmitTaskStateChange",
            json!({"cluster": "prod", "task": t, "status": "STOPPED"}),
        )
        .await;
    }
    assert_eq!(remaining(&env, &local, "MEMORY").await, 8192 - 64);
    // Nothing of prod is left behind: the cluster deletes.
    env.ok("DeleteCluster", json!({"cluster": "prod"})).await;
}

/// Registers in `cluster` a plain container instance of 1024 CPU units
/// and 1024 MiB; returns its ARN.
async fn instance_in(env: &Env, cluster: &str) -> String {
    let v = env
        .ok(
            "RegisterContainerInstance",
            json!({
                "cluster": cluster,
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}
                ],
                "attributes": berth_testkit::agents::agent_attributes("us-east-1a"),
            }),
        )
        .await;
    v["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn clusters_share_a_host_counted_once_and_a_cluster_with_its_own_instance_keeps_it() {
    let env = Env::new().await;
    let fargate = host(&env, "berth.fargate-host").await;
    prod(&env).await;
    env.ok("CreateCluster", json!({"clusterName": "solo"})).await;
    let network: Value = serde_json::from_str(NETWORK).unwrap();
    // The 4096/8192 host takes 16 tasks of 256/512 across clusters: 10 of
    // prod, then 6 of solo's 7 (the 7th is a placement failure).
    let v = run_in_prod(&env, 10).await;
    assert_eq!(task_arns(&v).len(), 10, "{v}");
    let v = env
        .ok(
            "RunTask",
            json!({"cluster": "solo", "taskDefinition": "fg", "launchType": "FARGATE", "count": 7,
                   "networkConfiguration": network}),
        )
        .await;
    assert_eq!(task_arns(&v).len(), 6, "{v}");
    assert!(
        v["failures"][0]["reason"].as_str().unwrap().starts_with("RESOURCE:"),
        "{v}"
    );
    assert_eq!(remaining(&env, &fargate, "CPU").await, 0);
    // A cluster with a container instance of its own runs its FARGATE
    // tasks there, as before.
    env.ok("CreateCluster", json!({"clusterName": "own"})).await;
    let own = instance_in(&env, "own").await;
    let v = env
        .ok(
            "RunTask",
            json!({"cluster": "own", "taskDefinition": "fg", "launchType": "FARGATE",
                   "networkConfiguration": network}),
        )
        .await;
    assert_eq!(v["tasks"][0]["containerInstanceArn"], json!(own), "{v}");
}

#[tokio::test]
async fn the_hosts_session_carries_the_tasks_of_every_cluster_and_survives_a_restart() {
    let env = Env::new().await;
    let fargate = host(&env, "berth.fargate-host").await;
    prod(&env).await;
    let mut session = env
        .ecs
        .open_agent_session(&env.ctx.principal, Some("default"), &fargate)
        .await
        .unwrap();
    assert_eq!(next_line(&mut session).await["tasks"], json!([]));
    let tasks = task_arns(&run_in_prod(&env, 2).await);
    let (session, desired) = {
        let mut session = session;
        let mut line = next_line(&mut session).await;
        while line["type"] != "desired" || line["tasks"].as_array().unwrap().len() < 2 {
            line = next_line(&mut session).await;
        }
        (session, line)
    };
    let mut sent: Vec<&str> = desired["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap())
        .collect();
    sent.sort();
    let mut want: Vec<&str> = tasks.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(sent, want);
    assert_eq!(
        desired["tasks"][0]["clusterArn"],
        "arn:aws:ecs:us-east-1:000000000000:cluster/prod"
    );
    drop(session);

    // A restart in the middle: a new server on the same store knows where
    // the tasks run, streams them to the host, and releases on the host.
    let restarted = EcsEnv::on(env.store.clone());
    let mut session = restarted
        .ecs
        .open_agent_session(&restarted.ctx.principal, Some("default"), &fargate)
        .await
        .unwrap();
    assert_eq!(next_line(&mut session).await["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(remaining(&restarted, &fargate, "MEMORY").await, 8192 - 2 * 512);
    restarted
        .ok(
            "SubmitTaskStateChange",
            json!({"cluster": "prod", "task": tasks[0], "status": "RUNNING"}),
        )
        .await;
    restarted
        .ok("StopTask", json!({"cluster": "prod", "task": tasks[0]}))
        .await;
    restarted
        .ok(
            "SubmitTaskStateChange",
            json!({"cluster": "prod", "task": tasks[0], "status": "STOPPED"}),
        )
        .await;
    assert_eq!(remaining(&restarted, &fargate, "MEMORY").await, 8192 - 512);
}

#[tokio::test]
async fn a_lost_host_takes_the_tasks_of_every_cluster_with_it_a_connected_one_keeps_them() {
    let env = Env::new().await;
    let fargate = host(&env, "berth.fargate-host").await;
    prod(&env).await;
    let tasks = task_arns(&run_in_prod(&env, 2).await);
    env.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "prod", "task": tasks[1], "status": "RUNNING"}),
    )
    .await;
    // A control: an instance of its own cluster whose agent never comes.
    env.ok("CreateCluster", json!({"clusterName": "gone"})).await;
    instance_in(&env, "gone").await;
    env.task_definition("web", 64).await;
    let control = task_arns(
        &env.ok("RunTask", json!({"cluster": "gone", "taskDefinition": "web"}))
            .await,
    )[0]
    .clone();
    let session = env
        .ecs
        .open_agent_session(&env.ctx.principal, Some("default"), &fargate)
        .await
        .unwrap();
    let _controllers = spawn_controllers(
        &env.ecs,
        ControllerConfig {
            agent_grace_period: Duration::from_millis(300),
            heartbeat_timeout: Duration::from_millis(500),
            interval: Duration::from_millis(20),
            ..ControllerConfig::default()
        },
    );
    // The host's heartbeats keep it connected while the monitor stops the
    // control's task past the grace period: prod's tasks on the host stay.
    let (env_ref, fargate_ref, control_ref) = (&env, &fargate, &control);
    eventually(Duration::from_secs(10), "the control task STOPPED", || async move {
        env_ref
            .ok("BerthHeartbeat", json!({"containerInstance": fargate_ref}))
            .await;
        (describe(env_ref, "gone", control_ref).await["lastStatus"] == "STOPPED").then_some(())
    })
    .await;
    for t in &tasks {
        assert_ne!(describe(&env, "prod", t).await["lastStatus"], "STOPPED", "{t}");
    }
    // The host goes away: past the grace period its tasks in prod stop.
    drop(session);
    for arn in &tasks {
        let t = eventually(Duration::from_secs(10), "prod's task STOPPED", || async move {
            let t = describe(env_ref, "prod", arn).await;
            (t["lastStatus"] == "STOPPED").then_some(t)
        })
        .await;
        assert_eq!(t["stoppedReason"], AGENT_LOST_REASON);
    }
    assert_eq!(remaining(&env, &fargate, "MEMORY").await, 8192);
}

#[tokio::test]
async fn deregistering_a_shared_host_stops_the_tasks_of_every_cluster() {
    let env = Env::new().await;
    let fargate = host(&env, "berth.fargate-host").await;
    prod(&env).await;
    let tasks = task_arns(&run_in_prod(&env, 1).await);
    env.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "prod", "task": tasks[0], "status": "RUNNING"}),
    )
    .await;
    let e = env
        .err("DeregisterContainerInstance", json!({"containerInstance": fargate}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    env.ok(
        "DeregisterContainerInstance",
        json!({"containerInstance": fargate, "force": true}),
    )
    .await;
    let t = describe(&env, "prod", &tasks[0]).await;
    assert_eq!(t["lastStatus"], "STOPPED");
    assert_eq!(t["stopCode"], "TerminationNotice");
    // No shared host left: prod's FARGATE tasks have nowhere to go.
    let network: Value = serde_json::from_str(NETWORK).unwrap();
    let e = env
        .err(
            "RunTask",
            json!({"cluster": "prod", "taskDefinition": "fg", "launchType": "FARGATE",
                   "networkConfiguration": network}),
        )
        .await;
    assert_eq!(e.message, "No Container Instances were found in your cluster.");
}

#[tokio::test]
async fn a_service_waiting_for_a_full_shared_host_places_as_soon_as_another_cluster_frees_it() {
    let env = Env::new().await;
    // The service controller retries an unplaceable service only after an
    // hour here: the task below can start only because the stop in
    // another cluster wakes it.
    let controller = berth_ecs::spawn_service_controller(
        &env.ecs,
        berth_ecs::ServiceControllerConfig {
            resync: Duration::from_secs(3600),
            capacity_retry: Duration::from_secs(3600),
            ..Default::default()
        },
    );
    host(&env, "berth.fargate-host").await;
    prod(&env).await;
    env.ok("CreateCluster", json!({"clusterName": "solo"})).await;
    let network: Value = serde_json::from_str(NETWORK).unwrap();
    // solo fills the 4096/8192 host with 16 tasks of 256/512.
    let v = env
        .ok(
            "RunTask",
            json!({"cluster": "solo", "taskDefinition": "fg", "launchType": "FARGATE", "count": 10,
                   "networkConfiguration": network}),
        )
        .await;
    let mut solo = task_arns(&v);
    let v = env
        .ok(
            "RunTask",
            json!({"cluster": "solo", "taskDefinition": "fg", "launchType": "FARGATE", "count": 6,
                   "networkConfiguration": network}),
        )
        .await;
    solo.extend(task_arns(&v));
    assert_eq!(solo.len(), 16, "{v}");
    env.ok(
        "CreateService",
        json!({"cluster": "prod", "serviceName": "web", "taskDefinition": "fg", "desiredCount": 1,
               "launchType": "FARGATE", "networkConfiguration": network}),
    )
    .await;
    let service = || async {
        env.ok("DescribeServices", json!({"cluster": "prod", "services": ["web"]}))
            .await["services"][0]
            .clone()
    };
    eventually(Duration::from_secs(10), "prod's unable-to-place event", || async {
        let s = service().await;
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("was unable to place a task"))
            .then_some(())
    })
    .await;
    assert_eq!(env.list_tasks(json!({"cluster": "prod"})).await.len(), 0);
    // One of solo's tasks stops: prod's service takes its place.
    env.ok("StopTask", json!({"cluster": "solo", "task": solo[0]})).await;
    env.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "solo", "task": solo[0], "status": "STOPPED"}),
    )
    .await;
    eventually(Duration::from_secs(10), "prod's service task placed", || async {
        (env.list_tasks(json!({"cluster": "prod"})).await.len() == 1).then_some(())
    })
    .await;
    controller.abort();
}
