//! A task's state after it is placed: state changes, StopTask, the agent
//! session's desired state and the agent-loss monitor.

#[path = "support/ecs_env.rs"]
mod support;

use berth_ecs::{AGENT_LOST_REASON, ControllerConfig, spawn_controllers};
use berth_testkit::eventually;
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;
use support::*;

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
