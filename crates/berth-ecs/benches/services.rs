//! Service controller figures, on a temporary SQLite store with hollow
//! instances (registered through the API; a loop reports task state
//! changes as agents would):
//!
//! 1. rollout: the time from UpdateService (new task definition revision,
//!    min 100 / max 200) to steady state for a 20-task service, median of
//!    a few rollouts;
//! 2. reconcile cost: the CPU time the controller spends per 1,000 service
//!    reconciliations in a quiet cluster of 1,000 services (one RUNNING task
//!    each) on 10 instances.
//!
//! Run: `cargo bench -p berth-ecs --bench services` (prints a table and
//! writes bench/out/services.json).

use berth_core::arn::Scope;
use berth_ecs::{Ecs, ServiceControllerConfig, spawn_service_controller};
use berth_proto::{JsonService, RequestContext};
use berth_store::{SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ROLLOUTS: usize = 3;
const SERVICES: usize = 1000;
const INSTANCES: usize = 10;

async fn call(ecs: &Ecs, op: &str, input: Value) -> Value {
    let ctx = RequestContext::root("000000000000", "us-east-1");
    match ecs.call(&ctx, op, input.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{op} {input}: {e}"),
    }
}

/// This process's CPU time (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (11 and 12 after the command).
    (ticks(11) + ticks(12)) / 100.0
}

async fn instance(ecs: &Ecs, az: &str) {
    let mut attributes = vec![json!({"name": "ecs.availability-zone", "value": az})];
    for v in 17..=44 {
        attributes.push(json!({"name": format!("com.amazonaws.ecs.capability.docker-remote-api.1.{v}")}));
    }
    call(
        ecs,
        "RegisterContainerInstance",
        json!({
            "cluster": "default",
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 1_000_000},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 1_000_000},
            ],
            "attributes": attributes,
            "instanceIdentityDocument": format!(
                "{{\"instanceId\":\"i-{}\",\"availabilityZone\":\"{az}\"}}",
                &berth_core::ids::hex_id()[..17]
            ),
        }),
    )
    .await;
}

/// Every task whose desired status is `desired`, described.
async fn tasks(ecs: &Ecs, desired: &str) -> Vec<Value> {
    let mut out = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"desiredStatus": desired, "maxResults": 100});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let page = call(ecs, "ListTasks", input).await;
        let arns = page["taskArns"].as_array().cloned().unwrap_or_default();
        if !arns.is_empty() {
            let d = call(ecs, "DescribeTasks", json!({"tasks": arns})).await;
            out.extend(d["tasks"].as_array().cloned().unwrap_or_default());
        }
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return out,
        }
    }
}

/// Hollow agents: PENDING tasks are reported RUNNING, tasks asked to stop
/// are reported STOPPED.
async fn hollow_agents(ecs: Ecs, on: Arc<AtomicBool>) {
    loop {
        if on.load(Ordering::SeqCst) {
            for t in tasks(&ecs, "RUNNING").await {
                if t["lastStatus"] != "RUNNING" {
                    let input = json!({"cluster": "default", "task": t["taskArn"], "status": "RUNNING"});
                    call(&ecs, "SubmitTaskStateChange", input).await;
                }
            }
            for t in tasks(&ecs, "STOPPED").await {
                if t["lastStatus"] != "STOPPED" {
                    let input = json!({"cluster": "default", "task": t["taskArn"], "status": "STOPPED"});
                    call(&ecs, "SubmitTaskStateChange", input).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn task_definition(ecs: &Ecs, family: &str) -> String {
    let v = call(
        ecs,
        "RegisterTaskDefinition",
        json!({"family": family, "containerDefinitions": [{"name": "app", "image": "busybox", "cpu": 1, "memory": 8}]}),
    )
    .await;
    v["taskDefinition"]["taskDefinitionArn"].as_str().unwrap().to_string()
}

async fn steady(ecs: &Ecs, name: &str, n: i64, td: &str) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let s = call(ecs, "DescribeServices", json!({"services": [name]})).await["services"][0].clone();
        let d = s["deployments"].as_array().cloned().unwrap_or_default();
        if s["runningCount"] == n && d.len() == 1 && d[0]["rolloutState"] == "COMPLETED" && d[0]["taskDefinition"] == td
        {
            return;
        }
        assert!(Instant::now() < deadline, "{name} did not become steady");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn rollout() -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
    let ecs = Ecs::new(store, Scope::new("us-east-1", "000000000000"));
    call(&ecs, "CreateCluster", json!({"clusterName": "default"})).await;
    for i in 0..4 {
        instance(&ecs, &format!("us-east-1{}", ["a", "b"][i % 2])).await;
    }
    let controller = spawn_service_controller(&ecs, ServiceControllerConfig::default());
    let on = Arc::new(AtomicBool::new(true));
    let agents = tokio::spawn(hollow_agents(ecs.clone(), on));
    let mut td = task_definition(&ecs, "web").await;
    call(
        &ecs,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": td, "desiredCount": 20}),
    )
    .await;
    steady(&ecs, "web", 20, &td).await;
    let mut times = vec![];
    for _ in 0..ROLLOUTS {
        td = task_definition(&ecs, "web").await;
        let start = Instant::now();
        call(&ecs, "UpdateService", json!({"service": "web", "taskDefinition": td})).await;
        steady(&ecs, "web", 20, &td).await;
        times.push(start.elapsed().as_secs_f64());
    }
    agents.abort();
    controller.abort();
    times
}

async fn reconcile_cost() -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
    let ecs = Ecs::new(store, Scope::new("us-east-1", "000000000000"));
    call(&ecs, "CreateCluster", json!({"clusterName": "default"})).await;
    for i in 0..INSTANCES {
        instance(&ecs, &format!("us-east-1{}", ["a", "b", "c"][i % 3])).await;
    }
    let td = task_definition(&ecs, "svc").await;
    for i in 0..SERVICES {
        call(
            &ecs,
            "CreateService",
            json!({"serviceName": format!("svc-{i:04}"), "taskDefinition": td, "desiredCount": 1}),
        )
        .await;
    }
    // Bring every service to steady state with the controller's one-shot
    // resync and the hollow agents, then measure quiet resyncs.
    let cfg = ServiceControllerConfig::default();
    let on = Arc::new(AtomicBool::new(true));
    let agents = tokio::spawn(hollow_agents(ecs.clone(), on.clone()));
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        ecs.resync_services(&cfg).await.unwrap();
        let running = tasks(&ecs, "RUNNING")
            .await
            .iter()
            .filter(|t| t["lastStatus"] == "RUNNING")
            .count();
        if running == SERVICES {
            ecs.resync_services(&cfg).await.unwrap();
            break;
        }
        assert!(Instant::now() < deadline, "services did not start");
    }
    on.store(false, Ordering::SeqCst);
    agents.abort();
    let rounds = 3;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let mut n = 0;
    for _ in 0..rounds {
        n += ecs.resync_services(&cfg).await.unwrap();
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    (cpu / n as f64 * 1000.0, wall / n as f64 * 1000.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let times = rt.block_on(rollout());
    let (cpu_per_1000, wall_per_1000) = rt.block_on(reconcile_cost());
    let result = json!({
        "rollout_20_tasks_seconds": {"median": median(times.clone()), "runs": times},
        "reconcile_cpu_seconds_per_1000_services": cpu_per_1000,
        "reconcile_wall_seconds_per_1000_services": wall_per_1000,
        "services": SERVICES,
        "instances": INSTANCES,
    });
    println!("service controller (SQLite store, hollow instances)");
    println!(
        "  UpdateService -> steady, 20 tasks (median of {ROLLOUTS}): {:.3} s",
        median(times)
    );
    println!("  CPU per 1,000 service reconciles ({SERVICES} services, {INSTANCES} instances): {cpu_per_1000:.3} s");
    println!("  wall per 1,000 service reconciles: {wall_per_1000:.3} s");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/out");
    if std::fs::create_dir_all(&out).is_ok() {
        let _ = std::fs::write(
            out.join("services.json"),
            serde_json::to_vec_pretty(&result).unwrap_or_default(),
        );
    }
}
