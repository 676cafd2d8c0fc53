//! Services and the service controller, driven through `Ecs::call` on an
//! in-memory store, with the test kit's hollow agent: a loop that reports task
//! state changes through SubmitTaskStateChange as a real agent would (tasks
//! of families starting with `crash` exit right after starting, those of
//! families starting with `hang` never start, the containers of families
//! starting with `hc` report HEALTHY when they start).

use berth_core::arn::Scope;
use berth_ecs::{Ecs, ServiceControllerConfig, spawn_service_controller};
use berth_testkit::agents::{HollowAgent, Instance, tasks_of};
use berth_testkit::{EcsEnv, eventually};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

fn controller_config() -> ServiceControllerConfig {
    ServiceControllerConfig {
        resync: Duration::from_secs(2),
        throttle_base: Duration::from_millis(50),
        throttle_max: Duration::from_millis(200),
        ..Default::default()
    }
}

/// The test kit's ECS environment with a cluster `default`, the service
/// controller and a hollow agent.
struct Env {
    kit: EcsEnv,
    controller: Option<tokio::task::JoinHandle<()>>,
    _agent: HollowAgent,
    agent_on: Arc<AtomicBool>,
}

impl Deref for Env {
    type Target = EcsEnv;
    fn deref(&self) -> &EcsEnv {
        &self.kit
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(h) = self.controller.take() {
            h.abort();
        }
    }
}

impl Env {
    /// A cluster `default`, the service controller and a hollow agent.
    async fn new() -> Self {
        let kit = EcsEnv::new().default_cluster().await;
        let agent = HollowAgent::spawn(kit.ecs.clone());
        Self {
            controller: Some(spawn_service_controller(&kit.ecs, controller_config())),
            agent_on: agent.switch(),
            _agent: agent,
            kit,
        }
    }

    async fn instance(&self, az: &str) -> String {
        self.register_instance(Instance {
            cpu: 4096,
            memory: 8192,
            az,
            reserved_ports: &["22"],
        })
        .await
    }

    async fn task_definition(&self, family: &str) -> String {
        let v = self
            .ok(
                "RegisterTaskDefinition",
                json!({"family": family,
                       "containerDefinitions": [{"name": "app", "image": "busybox", "cpu": 64, "memory": 64}]}),
            )
            .await;
        v["taskDefinition"]["taskDefinitionArn"].as_str().unwrap().to_string()
    }

    async fn service(&self, name: &str) -> Value {
        self.ok("DescribeServices", json!({"services": [name]})).await["services"][0].clone()
    }

    /// Tasks of a service (any status), described.
    async fn tasks(&self, name: &str) -> Vec<Value> {
        tasks_of(&self.ecs, Some(name)).await
    }

    /// Waits until the service is steady: `n` RUNNING, one COMPLETED
    /// deployment, and returns it.
    async fn steady(&self, name: &str, n: i64) -> Value {
        eventually(DEADLINE, &format!("{name} steady with {n} running"), || async {
            let s = self.service(name).await;
            let d = s["deployments"].as_array().unwrap();
            (s["runningCount"] == n
                && s["pendingCount"] == 0
                && d.len() == 1
                && d[0]["rolloutState"] == "COMPLETED"
                && running(&self.tasks(name).await).len() as i64 == n)
                .then_some(s)
        })
        .await
    }
}

fn running(tasks: &[Value]) -> Vec<&Value> {
    tasks.iter().filter(|t| t["lastStatus"] == "RUNNING").collect()
}

/// Tasks the scheduler wants running (desired RUNNING).
fn wanted(tasks: &[Value]) -> Vec<&Value> {
    tasks.iter().filter(|t| t["desiredStatus"] == "RUNNING").collect()
}

fn events(s: &Value) -> Vec<String> {
    s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn create_describe_list_update_delete_and_validation() {
    let env = Env::new().await;
    env.agent_on.store(false, Ordering::SeqCst);
    let td = env.task_definition("web").await;

    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": "nope:1", "desiredCount": 1}),
        )
        .await;
    assert_eq!(e.code, "ClientException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "d", "taskDefinition": td, "desiredCount": 1, "schedulingStrategy": "DAEMON"}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "bad name", "taskDefinition": td}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": td, "deploymentConfiguration": {"minimumHealthyPercent": 150}}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": td, "loadBalancers": [{"targetGroupArn": "x", "containerName": "app", "containerPort": 80}]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": td, "placementConstraints": [{"type": "memberOf"}]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");

    let create = json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 0, "clientToken": "tok-1",
                        "tags": [{"key": "team", "value": "a"}], "propagateTags": "SERVICE"});
    let s = env.ok("CreateService", create.clone()).await["service"].clone();
    assert_eq!(
        s["serviceArn"],
        "arn:aws:ecs:us-east-1:000000000000:service/default/web"
    );
    assert_eq!(s["clusterArn"], "arn:aws:ecs:us-east-1:000000000000:cluster/default");
    assert_eq!(s["status"], "ACTIVE");
    assert_eq!(s["taskDefinition"], td);
    assert_eq!(s["launchType"], "EC2");
    assert_eq!(s["schedulingStrategy"], "REPLICA");
    assert_eq!(s["deploymentConfiguration"]["minimumHealthyPercent"], 100);
    assert_eq!(s["deploymentConfiguration"]["maximumPercent"], 200);
    assert_eq!(
        s["deploymentConfiguration"]["deploymentCircuitBreaker"],
        json!({"enable": false, "rollback": false})
    );
    assert_eq!(
        s["placementStrategy"],
        json!([{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "spread", "field": "instanceId"}])
    );
    assert_eq!(s["deploymentController"], json!({"type": "ECS"}));
    assert!(s.get("roleArn").is_none());
    assert!(s.get("berth").is_none());
    let d = &s["deployments"][0];
    assert_eq!(d["status"], "PRIMARY");
    assert_eq!(d["rolloutState"], "IN_PROGRESS");
    assert!(d["id"].as_str().unwrap().starts_with("ecs-svc/"));
    let digits = d["id"].as_str().unwrap().trim_start_matches("ecs-svc/");
    assert_eq!(
        s["currentServiceDeployment"],
        format!("arn:aws:ecs:us-east-1:000000000000:service-deployment/default/web/{digits}")
    );
    assert_eq!(s["currentServiceRevisions"][0]["requestedTaskCount"], 0);
    // Idempotent with the same token; a different request conflicts.
    let again = env.ok("CreateService", create.clone()).await["service"].clone();
    assert_eq!(again["deployments"][0]["id"], d["id"]);
    let mut other = create.clone();
    other["desiredCount"] = json!(2);
    let e = env.err("CreateService", other).await;
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(e.message, "Creation of service was not idempotent.");

    env.ok(
        "CreateService",
        json!({"serviceName": "daemon", "taskDefinition": td, "schedulingStrategy": "DAEMON"}),
    )
    .await;
    let v = env
        .ok(
            "DescribeServices",
            json!({"services": ["web", "ghost"], "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(v["services"][0]["tags"], json!([{"key": "team", "value": "a"}]));
    assert_eq!(
        v["failures"],
        json!([{"arn": "arn:aws:ecs:us-east-1:000000000000:service/default/ghost", "reason": "MISSING"}])
    );
    let arn = "arn:aws:ecs:us-east-1:000000000000:service/default/web";
    env.ok(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "env", "value": "prod"}]}),
    )
    .await;
    let tags = env.ok("ListTagsForResource", json!({"resourceArn": arn})).await;
    assert_eq!(tags["tags"].as_array().unwrap().len(), 2, "{tags}");
    let d = env.service("daemon").await;
    assert_eq!(d["deploymentConfiguration"]["minimumHealthyPercent"], 0);
    assert_eq!(d["deploymentConfiguration"]["maximumPercent"], 100);

    let all = env.ok("ListServices", json!({})).await;
    assert_eq!(all["serviceArns"].as_array().unwrap().len(), 2);
    let daemons = env.ok("ListServices", json!({"schedulingStrategy": "DAEMON"})).await;
    assert_eq!(daemons["serviceArns"].as_array().unwrap().len(), 1);
    let page = env.ok("ListServices", json!({"maxResults": 1})).await;
    assert_eq!(page["serviceArns"].as_array().unwrap().len(), 1);
    let rest = env
        .ok("ListServices", json!({"maxResults": 1, "nextToken": page["nextToken"]}))
        .await;
    assert_eq!(rest["serviceArns"].as_array().unwrap().len(), 1);
    assert_ne!(rest["serviceArns"][0], page["serviceArns"][0]);
    assert!(rest.get("nextToken").is_none());
    assert_eq!(
        env.ok("ListServices", json!({"launchType": "FARGATE"})).await["serviceArns"],
        json!([])
    );

    let e = env
        .err("UpdateService", json!({"service": "ghost", "desiredCount": 1}))
        .await;
    assert_eq!(e.code, "ServiceNotFoundException");
    let e = env
        .err("UpdateService", json!({"service": "daemon", "desiredCount": 1}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let u = env
        .ok("UpdateService", json!({"service": "web", "desiredCount": 2}))
        .await;
    assert_eq!(u["service"]["desiredCount"], 2);
    assert_eq!(u["service"]["deployments"].as_array().unwrap().len(), 1);

    // Scaled above 0: DeleteService needs force.
    let e = env.err("DeleteService", json!({"service": "web"})).await;
    assert_eq!(e.code, "InvalidParameterException");
    let del = env.ok("DeleteService", json!({"service": "web", "force": true})).await;
    assert_eq!(del["service"]["status"], "DRAINING");
    assert_eq!(del["service"]["desiredCount"], 0);
    let e = env
        .err("UpdateService", json!({"service": "web", "desiredCount": 1}))
        .await;
    assert_eq!(e.code, "ServiceNotActiveException");
    eventually(DEADLINE, "web INACTIVE", || async {
        (env.service("web").await["status"] == "INACTIVE").then_some(())
    })
    .await;
    let all = env.ok("ListServices", json!({})).await;
    assert_eq!(all["serviceArns"].as_array().unwrap().len(), 1);
    // The name is free again.
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": td, "desiredCount": 0}),
    )
    .await;
}

#[tokio::test]
async fn execute_command_and_network_configuration_are_checked() {
    let env = Env::new().await;
    env.agent_on.store(false, Ordering::SeqCst);
    let td = env.task_definition("web").await;
    let exec =
        "enableExecuteCommand is not supported by Berth yet (ECS Exec is not implemented); omit it or set it to false.";
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "exec", "taskDefinition": td, "enableExecuteCommand": true}),
        )
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("InvalidParameterException", exec)
    );
    let missing = env.ok("DescribeServices", json!({"services": ["exec"]})).await;
    assert_eq!(missing["failures"][0]["reason"], "MISSING", "{missing}");

    let s = env
        .ok(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": td, "enableExecuteCommand": false}),
        )
        .await;
    assert_eq!(s["service"]["enableExecuteCommand"], false);
    let e = env
        .err("UpdateService", json!({"service": "web", "enableExecuteCommand": true}))
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("InvalidParameterException", exec)
    );
    assert_eq!(env.service("web").await["enableExecuteCommand"], false);
    env.ok(
        "UpdateService",
        json!({"service": "web", "enableExecuteCommand": false}),
    )
    .await;

    let not_valid = "Network Configuration is not valid for the given networkMode of this task definition.";
    let network = json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}});
    let e = env
        .err(
            "UpdateService",
            json!({"service": "web", "networkConfiguration": network}),
        )
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("InvalidParameterException", not_valid)
    );
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web2", "taskDefinition": td, "networkConfiguration": network}),
        )
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("InvalidParameterException", not_valid)
    );

    env.ok(
        "RegisterTaskDefinition",
        json!({"family": "vpc", "networkMode": "awsvpc",
               "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}),
    )
    .await;
    for (network, message) in [
        (
            None,
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ),
        (
            Some(json!({"awsvpcConfiguration": {"subnets": []}})),
            "subnets can not be empty.",
        ),
    ] {
        let mut input = json!({"serviceName": "vpc", "taskDefinition": "vpc"});
        if let Some(n) = network {
            input["networkConfiguration"] = n;
        }
        let e = env.err("CreateService", input).await;
        assert_eq!(
            (e.code.as_ref(), e.message.as_str()),
            ("InvalidParameterException", message)
        );
    }
    env.ok(
        "CreateService",
        json!({"serviceName": "vpc", "taskDefinition": "vpc", "networkConfiguration": network}),
    )
    .await;
}

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

/// Samples a rollout: the fewest RUNNING tasks and the most tasks wanted
/// RUNNING seen until `done` holds.
async fn sample_until<F, Fut>(env: &Env, name: &str, mut done: F) -> (usize, usize)
where
    F: FnMut(Value) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (mut min_running, mut max_wanted) = (usize::MAX, 0);
    let start = std::time::Instant::now();
    loop {
        let tasks = env.tasks(name).await;
        min_running = min_running.min(running(&tasks).len());
        max_wanted = max_wanted.max(wanted(&tasks).len());
        if done(env.service(name).await).await {
            return (min_running, max_wanted);
        }
        assert!(start.elapsed() < DEADLINE, "rollout of {name} did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

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
