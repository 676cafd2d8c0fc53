//! Deployments of a service: rolling updates within the minimum healthy,
//! the circuit breaker's rollback, StopServiceDeployment, and a rollout a
//! restarted controller finishes.

#[path = "support/services_env.rs"]
mod support;

use berth_core::arn::Scope;
use berth_ecs::{Ecs, spawn_service_controller};
use berth_testkit::eventually;
use serde_json::json;
use support::*;

#[tokio::test]
async fn rolling_update_keeps_the_minimum_healthy() {
    let env = Env::new().await;
    env.instance("us-east-1a").await;
    env.instance("us-east-1b").await;
    let v1 = env.task_definition("web").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": v1, "desiredCount": 3}),
    )
    .await;
    let s = env.steady("web", 3).await;
    let first = s["deployments"][0]["id"].as_str().unwrap().to_string();
    let v2 = env.task_definition("web").await;
    let u = env
        .ok("UpdateService", json!({"service": "web", "taskDefinition": v2}))
        .await;
    let d = u["service"]["deployments"].as_array().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0]["status"].as_str(), d[1]["status"].as_str()),
        (Some("PRIMARY"), Some("ACTIVE"))
    );
    assert_eq!(d[1]["id"], first.as_str());
    let (min_running, max_wanted) = sample_until(&env, "web", |s| async move {
        let d = s["deployments"].as_array().unwrap().clone();
        d.len() == 1 && d[0]["rolloutState"] == "COMPLETED" && s["runningCount"] == 3
    })
    .await;
    assert!(min_running >= 3, "dropped to {min_running} running tasks");
    assert!(max_wanted <= 6, "{max_wanted} tasks exceed maximumPercent");
    let tasks = env.tasks("web").await;
    let r = running(&tasks);
    assert_eq!(r.len(), 3);
    assert!(r.iter().all(|t| t["taskDefinitionArn"] == v2.as_str()));
    // The old deployment is over: gone from the service, its tasks stopped.
    let s = env.service("web").await;
    assert!(
        !s["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == first.as_str())
    );
    assert!(events(&s).iter().any(|e| e.contains("deployment completed.")));

    // forceNewDeployment with min 50 / max 100: stop first, never above 3.
    env.ok(
        "UpdateService",
        json!({"service": "web", "forceNewDeployment": true,
               "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 100}}),
    )
    .await;
    let (min_running, max_wanted) = sample_until(&env, "web", |s| async move {
        let d = s["deployments"].as_array().unwrap().clone();
        d.len() == 1 && d[0]["rolloutState"] == "COMPLETED" && s["runningCount"] == 3
    })
    .await;
    assert!(max_wanted <= 3, "{max_wanted} tasks exceed maximumPercent 100");
    assert!(min_running >= 1, "fell to {min_running}");
}

#[tokio::test]
async fn circuit_breaker_rolls_back_to_the_last_completed_deployment() {
    let env = Env::new().await;
    env.instance("us-east-1a").await;
    env.instance("us-east-1b").await;
    let good = env.task_definition("web").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": good, "desiredCount": 3,
               "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}}}),
    )
    .await;
    let s = env.steady("web", 3).await;
    let good_deployment = s["deployments"][0]["id"].as_str().unwrap().to_string();
    let bad = env.task_definition("crash-web").await;
    let u = env
        .ok("UpdateService", json!({"service": "web", "taskDefinition": bad}))
        .await;
    let bad_deployment = u["service"]["deployments"][0]["id"].as_str().unwrap().to_string();
    let s = eventually(DEADLINE, "rollback completed", || async {
        let s = env.service("web").await;
        let d = s["deployments"].as_array().unwrap();
        let ok = s["taskDefinition"] == good.as_str()
            && d.len() == 1
            && d[0]["rolloutState"] == "COMPLETED"
            && s["runningCount"] == 3;
        ok.then_some(s)
    })
    .await;
    let ev = events(&s);
    assert!(
        ev.iter()
            .any(|e| e
                == &format!("(service web) (deployment {bad_deployment}) deployment failed: tasks failed to start.")),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| e == &format!("(service web) rolling back to deployment {good_deployment}."))
    );
    // Min 100 held: the good tasks kept running all along.
    let tasks = env.tasks("web").await;
    assert!(running(&tasks).iter().all(|t| t["taskDefinitionArn"] == good.as_str()));
    let crashed = tasks.iter().filter(|t| t["taskDefinitionArn"] == bad.as_str()).count();
    assert!(crashed >= 3, "only {crashed} failed tasks before the breaker tripped");

    // The deployment history: newest first, the failed one rolled back.
    let list = env.ok("ListServiceDeployments", json!({"service": "web"})).await;
    let briefs = list["serviceDeployments"].as_array().unwrap();
    assert_eq!(briefs.len(), 2, "{list}");
    let digits = |id: &str| id.trim_start_matches("ecs-svc/").to_string();
    assert_eq!(
        briefs[0]["serviceDeploymentArn"],
        format!(
            "arn:aws:ecs:us-east-1:000000000000:service-deployment/default/web/{}",
            digits(&bad_deployment)
        )
    );
    assert_eq!(briefs[0]["status"], "ROLLBACK_SUCCESSFUL");
    assert_eq!(briefs[1]["status"], "SUCCESSFUL");
    let only_ok = env
        .ok(
            "ListServiceDeployments",
            json!({"service": "web", "status": ["SUCCESSFUL"]}),
        )
        .await;
    assert_eq!(only_ok["serviceDeployments"].as_array().unwrap().len(), 1);
    let v = env
        .ok(
            "DescribeServiceDeployments",
            json!({"serviceDeploymentArns": [briefs[0]["serviceDeploymentArn"], "arn:aws:ecs:us-east-1:000000000000:service-deployment/default/web/1"]}),
        )
        .await;
    let sd = &v["serviceDeployments"][0];
    assert_eq!(sd["status"], "ROLLBACK_SUCCESSFUL");
    assert_eq!(sd["deploymentCircuitBreaker"]["status"], "TRIGGERED");
    assert_eq!(sd["deploymentCircuitBreaker"]["threshold"], 3);
    assert!(sd["deploymentCircuitBreaker"]["failureCount"].as_i64().unwrap() >= 3);
    assert_eq!(
        sd["targetServiceRevision"]["arn"],
        briefs[0]["targetServiceRevisionArn"]
    );
    assert_eq!(sd["sourceServiceRevisions"].as_array().unwrap().len(), 1);
    assert_eq!(v["failures"][0]["reason"], "MISSING");
    let back_to = sd["rollback"]["serviceRevisionArn"].clone();
    assert_eq!(
        back_to,
        format!(
            "arn:aws:ecs:us-east-1:000000000000:service-revision/default/web/{}",
            digits(&good_deployment)
        )
    );
    let r = env
        .ok(
            "DescribeServiceRevisions",
            json!({"serviceRevisionArns": [back_to, briefs[0]["targetServiceRevisionArn"]]}),
        )
        .await;
    assert_eq!(r["serviceRevisions"][0]["taskDefinition"], good.as_str());
    assert_eq!(r["serviceRevisions"][0]["containerImages"][0]["image"], "busybox");
    assert_eq!(r["serviceRevisions"][1]["taskDefinition"], bad.as_str());
}

#[tokio::test]
async fn stop_service_deployment_rolls_back() {
    let env = Env::new().await;
    env.instance("us-east-1a").await;
    let good = env.task_definition("web").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": good, "desiredCount": 2}),
    )
    .await;
    env.steady("web", 2).await;
    let first = env.ok("ListServiceDeployments", json!({"service": "web"})).await["serviceDeployments"][0]
        ["serviceDeploymentArn"]
        .clone();
    let e = env
        .err("StopServiceDeployment", json!({"serviceDeploymentArn": first}))
        .await;
    assert_eq!(e.code, "ConflictException");
    // A revision whose tasks never start: the deployment stays in progress.
    let stuck = env.task_definition("hang-web").await;
    env.ok("UpdateService", json!({"service": "web", "taskDefinition": stuck}))
        .await;
    let list = env.ok("ListServiceDeployments", json!({"service": "web"})).await;
    let current = list["serviceDeployments"][0].clone();
    assert_eq!(current["status"], "IN_PROGRESS");
    let d = env
        .ok(
            "DescribeServiceDeployments",
            json!({"serviceDeploymentArns": [current["serviceDeploymentArn"]]}),
        )
        .await;
    assert_eq!(d["serviceDeployments"][0]["lifecycleStage"], "SCALE_UP");
    let e = env
        .err(
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": current["serviceDeploymentArn"], "stopType": "ABORT"}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": "arn:aws:ecs:us-east-1:000000000000:service-deployment/default/web/7"}),
        )
        .await;
    assert_eq!(e.code, "ServiceDeploymentNotFoundException");
    env.ok(
        "StopServiceDeployment",
        json!({"serviceDeploymentArn": current["serviceDeploymentArn"], "stopType": "ROLLBACK"}),
    )
    .await;
    let s = env.steady("web", 2).await;
    assert_eq!(s["taskDefinition"], good.as_str());
    let list = env.ok("ListServiceDeployments", json!({"service": "web"})).await;
    assert_eq!(list["serviceDeployments"][0]["status"], "ROLLBACK_SUCCESSFUL");
    assert_eq!(
        list["serviceDeployments"][0]["statusReason"],
        "Service deployment rolled back by StopServiceDeployment."
    );
    let tasks = env.tasks("web").await;
    assert!(wanted(&tasks).iter().all(|t| t["taskDefinitionArn"] == good.as_str()));
}

#[tokio::test]
async fn a_restarted_controller_finishes_the_rollout() {
    let mut env = Env::new().await;
    env.instance("us-east-1a").await;
    env.instance("us-east-1b").await;
    let v1 = env.task_definition("web").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": v1, "desiredCount": 3}),
    )
    .await;
    env.steady("web", 3).await;
    let v2 = env.task_definition("web").await;
    env.ok("UpdateService", json!({"service": "web", "taskDefinition": v2}))
        .await;
    // Mid-rollout: new tasks exist, old ones still run.
    eventually(DEADLINE, "rollout under way", || async {
        let tasks = env.tasks("web").await;
        let new = wanted(&tasks)
            .iter()
            .filter(|t| t["taskDefinitionArn"] == v2.as_str())
            .count();
        (new > 0).then_some(())
    })
    .await;
    // The server dies: controller gone; a new Ecs over the same store.
    env.controller.take().unwrap().abort();
    let ecs = Ecs::new(env.store.clone(), Scope::new("us-east-1", "000000000000"));
    env.controller = Some(spawn_service_controller(&ecs, controller_config()));
    env.kit.ecs = ecs;
    let (_, max_wanted) = sample_until(&env, "web", |s| async move {
        let d = s["deployments"].as_array().unwrap().clone();
        d.len() == 1 && d[0]["rolloutState"] == "COMPLETED" && s["runningCount"] == 3
    })
    .await;
    assert!(max_wanted <= 6, "{max_wanted} tasks exceed maximumPercent");
    let tasks = env.tasks("web").await;
    let r = running(&tasks);
    assert_eq!(r.len(), 3);
    assert_eq!(wanted(&tasks).len(), 3);
    assert!(r.iter().all(|t| t["taskDefinitionArn"] == v2.as_str()));
}
