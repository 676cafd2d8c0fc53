//! Runs tasks on the real Docker daemon through the task engine, without a
//! server: ports answer HTTP, an essential exit stops the task, dependsOn
//! HEALTHY waits for the health check, a pull failure fails the task, and a
//! restarted engine adopts its containers instead of starting them again.
//!
//! Needs Docker (DOCKER_HOST or the default socket), the docker CLI and
//! /bin/busybox (a static busybox) to build a test image with `docker
//! import`. When one is missing every test prints why (on stderr, past the
//! test harness's capture) and does nothing — unless BERTH_REQUIRE_DOCKER is
//! set (CI), which turns the skip into a failure.
//! Containers carry `berth.test=1` and a per-test label, and are removed at
//! the end of each test, pass or fail.

use berth_agent::engine::{self, EngineContext};
use berth_agent::model::{Report, Task};
use berth_agent::runtime::Runtime;
use berth_ecs_model::TaskStatus;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const IMAGE: &str = "berth-agent-test/busybox:latest";
const RUN_LABEL: &str = "berth.test.run";

/// Builds the busybox image once per test binary.
fn image() -> &'static Result<(), String> {
    static IMAGE_BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    IMAGE_BUILT.get_or_init(|| {
        if !std::path::Path::new("/bin/busybox").exists() {
            return Err("/bin/busybox is missing (install busybox-static)".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let root = dir.path();
        for d in ["bin", "tmp", "www", "etc"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).map_err(|e| e.to_string())?;
        for applet in ["sh", "sleep", "true", "false", "test", "touch", "wget", "httpd", "cat"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).map_err(|e| e.to_string())?;
        }
        std::fs::write(root.join("www/index.html"), "hello from berth\n").map_err(|e| e.to_string())?;
        std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").map_err(|e| e.to_string())?;
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("tar -C '{}' -cf - . | docker import - {IMAGE}", root.display()))
            .output()
            .map_err(|e| format!("cannot run docker import: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "docker import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    })
}

/// Removes the test's containers and volumes, even when the test panics.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let f = format!("label={RUN_LABEL}={}", self.0);
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker ps -aq --filter '{f}' | xargs -r docker rm -f >/dev/null; \
                 docker volume ls -q --filter '{f}' | xargs -r docker volume rm >/dev/null"
            ))
            .status();
    }
}

struct Harness {
    ctx: Arc<EngineContext>,
    reports: mpsc::UnboundedReceiver<Report>,
    run: String,
    _cleanup: Cleanup,
}

fn skip(test: &str, why: &str) {
    if std::env::var_os("BERTH_REQUIRE_DOCKER").is_some() {
        panic!("{test}: {why} (BERTH_REQUIRE_DOCKER is set)");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Connects to Docker and builds the image, or says why the test is skipped.
async fn harness(test: &str) -> Option<Harness> {
    let runtime = match Runtime::connect().await {
        Ok(r) => r,
        Err(e) => {
            skip(test, &e.to_string());
            return None;
        }
    };
    if let Err(e) = image() {
        skip(test, &format!("cannot build the test image: {e}"));
        return None;
    }
    let run = format!("{test}-{}", std::process::id());
    let (tx, rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(EngineContext {
        runtime,
        cluster: "default".into(),
        instance_arn: "arn:aws:ecs:us-east-1:000000000000:container-instance/default/berthtest".into(),
        extra_labels: BTreeMap::from([
            ("berth.test".to_string(), "1".to_string()),
            (RUN_LABEL.to_string(), run.clone()),
        ]),
        reports: tx,
        recheck_interval: Duration::from_secs(2),
        api: None,
        credentials: None,
        awslogs: None,
        network: None,
        isolation: berth_agent::isolation::Isolation::Runc,
        task_cgroups: None,
    });
    Some(Harness {
        ctx,
        reports: rx,
        _cleanup: Cleanup(run.clone()),
        run,
    })
}

fn task(id: &str, family: &str, containers: Value) -> Task {
    serde_json::from_value(json!({
        "taskArn": format!("arn:aws:ecs:us-east-1:000000000000:task/default/{id}"),
        "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
        "desiredStatus": "RUNNING",
        "lastStatus": "PROVISIONING",
        "containers": containers.as_array().unwrap().iter()
            .map(|c| json!({"name": c["name"], "lastStatus": "PENDING"}))
            .collect::<Vec<_>>(),
        "taskDefinition": {
            "family": family,
            "revision": 1,
            "networkMode": "bridge",
            "containerDefinitions": containers,
        }
    }))
    .unwrap()
}

impl Harness {
    /// The next report, failing the test after a generous deadline.
    async fn next(&mut self) -> Report {
        tokio::time::timeout(Duration::from_secs(90), self.reports.recv())
            .await
            .expect("no state change within 90 s")
            .expect("the report channel closed")
    }

    /// Reads reports until a task state change with `status`; returns it and
    /// every report seen on the way.
    async fn until_task_status(&mut self, status: &str) -> (Value, Vec<Report>) {
        let mut seen = Vec::new();
        loop {
            let r = self.next().await;
            seen.push(r.clone());
            if let Report::SubmitTaskStateChange(t) = &r
                && t.status.as_deref() == Some(status)
            {
                return (r.body(), seen);
            }
        }
    }

    fn task_id(&self, n: &str) -> String {
        // Task ids are 32 hex digits in ECS; any unique string works here.
        format!("{}{n}", self.run.replace(|c: char| !c.is_ascii_alphanumeric(), ""))
    }
}

async fn http_get(port: i64) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port as u16))
        .await
        .expect("connect to the published port");
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn container<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["containers"]
        .as_array()?
        .iter()
        .find(|c| c["containerName"] == name)
}

#[tokio::test]
async fn bridge_port_answers_http_and_a_restarted_engine_adopts_the_container() {
    let Some(mut h) = harness("http").await else { return };
    let mut t = task(
        &h.task_id("a"),
        "berth-test-http",
        json!([{
            "name": "web",
            "image": IMAGE,
            "essential": true,
            "memory": 64,
            "cpu": 128,
            "command": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"],
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
            "linuxParameters": {"initProcessEnabled": true},
            "stopTimeout": 10,
            "environment": [{"name": "GREETING", "value": "hi"}],
            "healthCheck": {
                "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/index.html"],
                "interval": 1, "timeout": 2, "retries": 3
            }
        }]),
    );
    let handle = engine::spawn(h.ctx.clone(), t.clone());
    let (pending, _) = h.until_task_status("PENDING").await;
    assert_eq!(pending["cluster"], "default");
    let (running, _) = h.until_task_status("RUNNING").await;
    assert!(running["pullStartedAt"].is_number() && running["pullStoppedAt"].is_number());
    let web = container(&running, "web").expect("web in the RUNNING report");
    assert_eq!(web["status"], "RUNNING");
    let runtime_id = web["runtimeId"].as_str().unwrap().to_string();
    let port = web["networkBindings"][0]["hostPort"]
        .as_i64()
        .expect("a real host port");
    assert!(port > 0, "dynamic port {port}");
    assert_eq!(web["networkBindings"][0]["containerPort"], 8080);

    // The health check passes once httpd answers; then so do we.
    loop {
        match h.next().await {
            Report::SubmitTaskStateChange(t) if t.health_status.as_deref() == Some("HEALTHY") => break,
            Report::SubmitTaskStateChange(t) if t.health_status.as_deref() == Some("UNHEALTHY") => {
                panic!("the web container became UNHEALTHY")
            }
            _ => {}
        }
    }
    let answer = http_get(port).await;
    assert!(answer.contains("200 OK"), "{answer}");
    assert!(answer.contains("hello from berth"), "{answer}");

    // The agent restarts: the engine goes away, a new one adopts the
    // running container (the server says RUNNING) and creates nothing.
    handle.abort();
    t.last_status = Some(TaskStatus::Running);
    t.containers[0].last_status = Some("RUNNING".into());
    t.containers[0].runtime_id = Some(runtime_id.clone());
    let handle = engine::spawn(h.ctx.clone(), t.clone());
    let listed = h
        .ctx
        .runtime
        .list(&[("com.amazonaws.ecs.task-arn", &t.task_arn)])
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "one container for the task, never two");
    assert_eq!(listed[0].id.as_deref(), Some(runtime_id.as_str()));

    // The control plane asks for the stop: SIGTERM through the init process.
    let mut stop = t.clone();
    stop.desired_status = Some(TaskStatus::Stopped);
    handle.update(stop);
    let (stopped, _) = h.until_task_status("STOPPED").await;
    let web = container(&stopped, "web").expect("web in the STOPPED report");
    assert_eq!(web["status"], "STOPPED");
    assert_eq!(web["exitCode"], 143, "SIGTERM, not SIGKILL: {stopped}");
    assert!(
        stopped.get("stopCode").is_none(),
        "the server owns the code of a requested stop"
    );
    assert!(stopped["executionStoppedAt"].is_number());
    handle.wait().await;
}

#[tokio::test]
async fn an_essential_exit_stops_the_task_and_its_other_containers() {
    let Some(mut h) = harness("essential").await else {
        return;
    };
    let t = task(
        &h.task_id("b"),
        "berth-test-essential",
        json!([
            {"name": "init", "image": IMAGE, "essential": false, "memoryReservation": 16,
             "command": ["/bin/sh", "-c", "exit 0"]},
            {"name": "side", "image": IMAGE, "essential": false, "memoryReservation": 16,
             "command": ["/bin/sleep", "600"], "stopTimeout": 1},
            {"name": "main", "image": IMAGE, "essential": true, "memoryReservation": 16,
             "dependsOn": [{"containerName": "init", "condition": "SUCCESS"},
                           {"containerName": "side", "condition": "START"}],
             "command": ["/bin/sh", "-c", "exit 3"]}
        ]),
    );
    let handle = engine::spawn(h.ctx.clone(), t);
    let (stopped, seen) = h.until_task_status("STOPPED").await;
    assert_eq!(stopped["stopCode"], "EssentialContainerExited", "{stopped}");
    assert_eq!(stopped["reason"], "Essential container in task exited");
    // Every container's final state reached the control plane.
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for r in &seen {
        match r {
            Report::SubmitTaskStateChange(t) => {
                for c in &t.containers {
                    last.insert(
                        c.container_name.clone().unwrap_or_default(),
                        serde_json::to_value(c).unwrap(),
                    );
                }
            }
            Report::SubmitContainerStateChange(c) => {
                last.insert(
                    c.container_name.clone().unwrap_or_default(),
                    serde_json::to_value(c).unwrap(),
                );
            }
        }
    }
    assert_eq!(last["init"]["exitCode"], 0);
    assert_eq!(last["main"]["exitCode"], 3);
    assert_eq!(last["side"]["status"], "STOPPED");
    // sleep as PID 1 ignores SIGTERM: SIGKILL after the 1 s stopTimeout.
    assert_eq!(last["side"]["exitCode"], 137);
    handle.wait().await;
}

#[tokio::test]
async fn a_lone_essential_container_that_exits_at_once_reports_why_the_task_stopped() {
    let Some(mut h) = harness("quick-exit").await else {
        return;
    };
    // The container may be gone before any decision round sees it running:
    // the STOPPED report must still carry the stop code and reason.
    let t = task(
        &h.task_id("q"),
        "berth-test-quick-exit",
        json!([{"name": "main", "image": IMAGE, "essential": true, "memoryReservation": 16,
                "command": ["/bin/sh", "-c", "exit 7"]}]),
    );
    let handle = engine::spawn(h.ctx.clone(), t);
    let (stopped, seen) = h.until_task_status("STOPPED").await;
    assert_eq!(stopped["stopCode"], "EssentialContainerExited", "{stopped}");
    assert_eq!(stopped["reason"], "Essential container in task exited");
    let exit = seen.iter().find_map(|r| match r {
        Report::SubmitTaskStateChange(t) => t.containers.iter().find_map(|c| c.exit_code),
        Report::SubmitContainerStateChange(c) => c.exit_code,
    });
    assert_eq!(exit, Some(7));
    handle.wait().await;
}

#[tokio::test]
async fn depends_on_healthy_waits_for_the_health_check() {
    let Some(mut h) = harness("healthy").await else { return };
    let t = task(
        &h.task_id("c"),
        "berth-test-healthy",
        json!([
            {"name": "db", "image": IMAGE, "essential": true, "memory": 32,
             "command": ["/bin/sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 600"],
             "stopTimeout": 1,
             "healthCheck": {"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 1, "timeout": 1, "retries": 10}},
            {"name": "web", "image": IMAGE, "essential": true, "memory": 32,
             "command": ["/bin/sleep", "600"], "stopTimeout": 1,
             "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]}
        ]),
    );
    let arn = t.task_arn.clone();
    let handle = engine::spawn(h.ctx.clone(), t.clone());
    let (running, seen) = h.until_task_status("RUNNING").await;
    // Before web ran, db was reported HEALTHY (in an earlier report or in
    // this one).
    let mut db_healthy = container(&running, "db").is_some_and(|c| c["healthStatus"] == "HEALTHY");
    for r in &seen {
        if let Report::SubmitContainerStateChange(c) = r {
            if c.container_name.as_deref() == Some("db") && c.health_status.as_deref() == Some("HEALTHY") {
                db_healthy = true;
            }
            assert!(
                !(c.container_name.as_deref() == Some("web") && c.status.as_deref() == Some("RUNNING")),
                "web ran before the task was RUNNING"
            );
        }
    }
    assert!(db_healthy, "db was not HEALTHY when web started: {seen:?}");
    // Docker agrees: web started after db's first passing health check.
    let containers = h
        .ctx
        .runtime
        .list(&[("com.amazonaws.ecs.task-arn", &arn)])
        .await
        .unwrap();
    let mut db_ok_at = None;
    let mut web_started = None;
    for c in containers {
        let info = h.ctx.runtime.inspect(c.id.as_deref().unwrap()).await.unwrap().unwrap();
        let state = info.state.unwrap();
        let name = c.labels.unwrap()["com.amazonaws.ecs.container-name"].clone();
        if name == "db" {
            db_ok_at = state
                .health
                .and_then(|hl| hl.log)
                .and_then(|log| log.into_iter().find(|e| e.exit_code == Some(0)))
                .and_then(|e| e.end)
                .map(|d| d.to_string());
        } else {
            web_started = state.started_at;
        }
    }
    let (db_ok_at, web_started) = (db_ok_at.expect("a passing check"), web_started.expect("web started"));
    // RFC 3339 with nanoseconds, same zone: compare as instants.
    let parse = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(
        parse(&db_ok_at) <= parse(&web_started),
        "db healthy at {db_ok_at}, web started at {web_started}"
    );
    assert_eq!(running["healthStatus"], "HEALTHY");

    let mut stop = t;
    stop.desired_status = Some(TaskStatus::Stopped);
    handle.update(stop);
    let (stopped, _) = h.until_task_status("STOPPED").await;
    assert!(stopped.get("stopCode").is_none());
    handle.wait().await;
}

#[tokio::test]
async fn a_pull_failure_fails_the_task_to_start() {
    let Some(mut h) = harness("pull").await else { return };
    let t = task(
        &h.task_id("d"),
        "berth-test-pull",
        json!([{"name": "app", "image": "berth-agent-test/no-such-image:v1", "essential": true, "memory": 16}]),
    );
    let handle = engine::spawn(h.ctx.clone(), t);
    let (stopped, _) = h.until_task_status("STOPPED").await;
    assert_eq!(stopped["stopCode"], "TaskFailedToStart");
    let reason = stopped["reason"].as_str().unwrap();
    assert!(reason.starts_with("CannotPullContainerError: "), "{reason}");
    let app = container(&stopped, "app").unwrap();
    assert_eq!(app["status"], "STOPPED");
    assert!(app["reason"].as_str().unwrap().starts_with("CannotPullContainerError"));
    assert!(app.get("exitCode").is_none());
    handle.wait().await;
}

#[tokio::test]
async fn a_task_the_server_already_stopped_is_stopped_and_reported() {
    let Some(mut h) = harness("stopped").await else { return };
    let mut t = task(
        &h.task_id("e"),
        "berth-test-stopped",
        json!([{"name": "app", "image": IMAGE, "essential": true, "memory": 16,
                "command": ["/bin/sleep", "600"], "stopTimeout": 1}]),
    );
    let first = engine::spawn(h.ctx.clone(), t.clone());
    let (running, _) = h.until_task_status("RUNNING").await;
    let runtime_id = container(&running, "app").unwrap()["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();
    // The agent goes away; meanwhile the server gives up on the task (grace
    // period) and marks it STOPPED. The next agent still finds it running.
    first.abort();
    t.desired_status = Some(TaskStatus::Stopped);
    t.last_status = Some(TaskStatus::Stopped);
    t.containers[0].last_status = Some("STOPPED".into());
    t.containers[0].runtime_id = Some(runtime_id.clone());
    let second = engine::spawn(h.ctx.clone(), t);
    // The server only forgets the task once the agent says STOPPED.
    let (stopped, _) = h.until_task_status("STOPPED").await;
    assert!(stopped.get("stopCode").is_none());
    second.wait().await;
    let info = h
        .ctx
        .runtime
        .inspect(&runtime_id)
        .await
        .unwrap()
        .expect("the container is kept");
    let state = info.state.unwrap();
    assert_eq!(state.running, Some(false));
    assert_eq!(state.exit_code, Some(137));
}
