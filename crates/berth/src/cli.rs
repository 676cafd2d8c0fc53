//! Small conveniences over the API for people at a terminal:
//! `berth status`, `berth tasks wait` and `berth logs`. They are ordinary signed API
//! clients (the agent's `ApiClient`), so they work against any Berth server.

use anyhow::Context;
use berth_agent::client::ApiClient;
use berth_proto::sigv4::Credentials;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Args, Clone, Debug)]
pub struct Endpoint {
    /// The Berth endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4600", env = "BERTH_ENDPOINT")]
    pub endpoint: String,
    /// The region to sign requests for.
    #[arg(long, default_value = "us-east-1", env = "AWS_DEFAULT_REGION")]
    pub region: String,
    /// PEM CA certificates to trust for an https:// endpoint (`berth up --tls`: DATA_DIR/tls/ca.pem).
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Clone, Debug)]
pub enum TasksCommand {
    /// Waits until a task reaches a status, showing its progress on one line.
    Wait {
        /// The task id or ARN.
        task: String,
        /// The cluster (name or ARN).
        #[arg(long, default_value = "default")]
        cluster: String,
        /// The status to wait for.
        #[arg(long, default_value = "RUNNING", value_parser = ["PENDING", "ACTIVATING", "RUNNING", "STOPPED"])]
        until: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

/// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
/// AWS_SESSION_TOKEN), else BERTH_ROOT_ACCESS_KEY_ID / BERTH_ROOT_SECRET_ACCESS_KEY.
pub fn credentials_from_env(who: &str) -> anyhow::Result<Credentials> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(k), Some(s)) => Ok(Credentials {
            access_key_id: k,
            secret_access_key: s,
            session_token: env("AWS_SESSION_TOKEN"),
        }),
        _ => match (env("BERTH_ROOT_ACCESS_KEY_ID"), env("BERTH_ROOT_SECRET_ACCESS_KEY")) {
            (Some(k), Some(s)) => Ok(Credentials {
                access_key_id: k,
                secret_access_key: s,
                session_token: None,
            }),
            _ => anyhow::bail!(
                "{who} needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                 (or BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY)"
            ),
        },
    }
}

fn client(ep: &Endpoint, who: &str) -> anyhow::Result<ApiClient> {
    ApiClient::with_ca_bundle(
        &ep.endpoint,
        credentials_from_env(who)?,
        &ep.region,
        ep.ca_bundle.as_deref(),
    )
    .map_err(anyhow::Error::msg)
}

async fn ecs(api: &ApiClient, op: &str, input: Value) -> anyhow::Result<Value> {
    api.call(op, &input).await.with_context(|| format!("ecs {op}"))
}

/// Lists every page of a List* operation into one vector of ARNs.
async fn list_all(api: &ApiClient, op: &str, mut input: Value, field: &str) -> anyhow::Result<Vec<String>> {
    let mut out = vec![];
    loop {
        let page = ecs(api, op, input.clone()).await?;
        out.extend(
            page[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from)),
        );
        match page["nextToken"].as_str() {
            Some(t) => input["nextToken"] = json!(t),
            None => return Ok(out),
        }
    }
}

/// `berth status`: clusters, instances, services and tasks at a glance.
pub async fn status(ep: Endpoint) -> anyhow::Result<()> {
    let api = client(&ep, "berth status")?;
    let clusters = list_all(&api, "ListClusters", json!({}), "clusterArns").await?;
    println!(
        "Berth at {} ({} cluster{})",
        ep.endpoint,
        clusters.len(),
        if clusters.len() == 1 { "" } else { "s" }
    );
    for chunk in clusters.chunks(100) {
        let described = ecs(&api, "DescribeClusters", json!({ "clusters": chunk })).await?;
        for c in described["clusters"].as_array().into_iter().flatten() {
            let name = c["clusterName"].as_str().unwrap_or("?");
            println!(
                "\ncluster {name}: {} instances, {} services, {} running / {} pending tasks",
                c["registeredContainerInstancesCount"],
                c["activeServicesCount"],
                c["runningTasksCount"],
                c["pendingTasksCount"]
            );
            let instances = list_all(
                &api,
                "ListContainerInstances",
                json!({ "cluster": name }),
                "containerInstanceArns",
            )
            .await?;
            for chunk in instances.chunks(100) {
                let d = ecs(
                    &api,
                    "DescribeContainerInstances",
                    json!({ "cluster": name, "containerInstances": chunk }),
                )
                .await?;
                for i in d["containerInstances"].as_array().into_iter().flatten() {
                    let remaining = |n: &str| {
                        i["remainingResources"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|r| r["name"] == n)
                            .map(|r| r["integerValue"].clone())
                            .unwrap_or(Value::Null)
                    };
                    println!(
                        "  instance {} {} {} agent {} tasks {} running / {} pending, free cpu {} memory {}",
                        i["ec2InstanceId"].as_str().unwrap_or("?"),
                        i["status"].as_str().unwrap_or("?"),
                        short_id(i["containerInstanceArn"].as_str().unwrap_or("")),
                        if i["agentConnected"] == json!(true) {
                            "connected"
                        } else {
                            "DISCONNECTED"
                        },
                        i["runningTasksCount"],
                        i["pendingTasksCount"],
                        remaining("CPU"),
                        remaining("MEMORY"),
                    );
                }
            }
            let services = list_all(&api, "ListServices", json!({ "cluster": name }), "serviceArns").await?;
            for chunk in services.chunks(10) {
                let d = ecs(&api, "DescribeServices", json!({ "cluster": name, "services": chunk })).await?;
                for s in d["services"].as_array().into_iter().flatten() {
                    let rollout = s["deployments"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|d| d["status"] == "PRIMARY")
                        .and_then(|d| d["rolloutState"].as_str())
                        .unwrap_or("-");
                    println!(
                        "  service {} {}: {}/{} running, {} pending, deployment {}",
                        s["serviceName"].as_str().unwrap_or("?"),
                        s["status"].as_str().unwrap_or("?"),
                        s["runningCount"],
                        s["desiredCount"],
                        s["pendingCount"],
                        rollout
                    );
                }
            }
            let tasks = list_all(&api, "ListTasks", json!({ "cluster": name }), "taskArns").await?;
            for chunk in tasks.chunks(100) {
                let d = ecs(&api, "DescribeTasks", json!({ "cluster": name, "tasks": chunk })).await?;
                for t in d["tasks"].as_array().into_iter().flatten() {
                    println!(
                        "  task {} {} {}",
                        short_id(t["taskArn"].as_str().unwrap_or("")),
                        t["lastStatus"].as_str().unwrap_or("?"),
                        t["group"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}

fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The order of task statuses, so "until RUNNING" is also met by a task that
/// went further (except STOPPED, which ends the wait either way).
fn rank(status: &str) -> u8 {
    match status {
        "PROVISIONING" => 0,
        "PENDING" => 1,
        "ACTIVATING" => 2,
        "RUNNING" => 3,
        "DEACTIVATING" => 4,
        "STOPPING" => 5,
        "DEPROVISIONING" => 6,
        "STOPPED" => 7,
        _ => 0,
    }
}

/// What waiting for `until` means when the task is at `status`.
#[derive(Debug, PartialEq, Eq)]
enum WaitOutcome {
    Reached,
    Failed,
    Waiting,
}

fn judge(status: &str, until: &str) -> WaitOutcome {
    if status == until || (until != "STOPPED" && status != "STOPPED" && rank(status) >= rank(until)) {
        WaitOutcome::Reached
    } else if status == "STOPPED" {
        WaitOutcome::Failed
    } else {
        WaitOutcome::Waiting
    }
}

pub async fn tasks(cmd: TasksCommand) -> anyhow::Result<()> {
    let TasksCommand::Wait {
        task,
        cluster,
        until,
        timeout,
        endpoint,
    } = cmd;
    let api = client(&endpoint, "berth tasks wait")?;
    let started = Instant::now();
    let mut out = std::io::stderr();
    loop {
        let d = ecs(&api, "DescribeTasks", json!({ "cluster": cluster, "tasks": [task] })).await?;
        let Some(t) = d["tasks"].as_array().and_then(|a| a.first()) else {
            anyhow::bail!("task {task} not found in cluster {cluster}");
        };
        let status = t["lastStatus"].as_str().unwrap_or("?").to_string();
        let containers: Vec<String> = t["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{}={}",
                    c["name"].as_str().unwrap_or("?"),
                    c["lastStatus"].as_str().unwrap_or("?")
                )
            })
            .collect();
        let _ = write!(
            out,
            "\r\x1b[2K{} {:>5.1}s {status} [{}]",
            short_id(&task),
            started.elapsed().as_secs_f64(),
            containers.join(" ")
        );
        let _ = out.flush();
        match judge(&status, &until) {
            WaitOutcome::Reached => {
                let _ = writeln!(out);
                println!("{status}");
                return Ok(());
            }
            WaitOutcome::Failed => {
                let _ = writeln!(out);
                anyhow::bail!(
                    "task stopped before reaching {until}: {} ({})",
                    t["stoppedReason"].as_str().unwrap_or("no reason"),
                    t["stopCode"].as_str().unwrap_or("-")
                );
            }
            WaitOutcome::Waiting => {}
        }
        if started.elapsed() > Duration::from_secs(timeout) {
            let _ = writeln!(out);
            anyhow::bail!("task {task} is still {status} after {timeout} s");
        }
        // A terminal tool polls, as `aws ecs wait` does; 500 ms keeps it responsive.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `berth logs TASK`: a task's output from CloudWatch Logs (awslogs driver).
#[derive(Args, Clone, Debug)]
pub struct LogsArgs {
    /// The task id or ARN.
    pub task: String,
    /// The cluster (name or ARN).
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Keep printing new lines until the task has stopped and its output is drained.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only this container's output.
    #[arg(long)]
    pub container: Option<String>,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

/// Where one container's output is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogTarget {
    container: String,
    group: String,
    stream: String,
}

/// The awslogs group and stream of each container of a task (as
/// DescribeTasks and DescribeTaskDefinition return them), named as the
/// agent names them: `awslogs-stream`, else `prefix/container/task-id`, else
/// the container's runtime id. Streams without a runtime id yet are left out.
fn log_targets(task: &Value, taskdef: &Value, only: Option<&str>) -> Result<Vec<LogTarget>, String> {
    let task_id = short_id(task["taskArn"].as_str().unwrap_or_default()).to_string();
    let defs = taskdef["containerDefinitions"].as_array().cloned().unwrap_or_default();
    if let Some(name) = only
        && !defs.iter().any(|d| d["name"] == name)
    {
        return Err(format!("the task has no container named '{name}'"));
    }
    let mut out = Vec::new();
    let mut drivers = Vec::new();
    for d in &defs {
        let name = d["name"].as_str().unwrap_or_default();
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let log = &d["logConfiguration"];
        let driver = log["logDriver"].as_str().unwrap_or("json-file (Docker's default)");
        if driver != "awslogs" {
            drivers.push(format!("{name}: {driver}"));
            continue;
        }
        let opt = |k: &str| log["options"][k].as_str().filter(|v| !v.is_empty()).map(str::to_string);
        let Some(group) = opt("awslogs-group") else { continue };
        let stream = match (opt("awslogs-stream"), opt("awslogs-stream-prefix")) {
            (Some(s), _) => Some(s),
            (None, Some(p)) => Some(format!("{p}/{name}/{task_id}")),
            (None, None) => task["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["name"] == name)
                .and_then(|c| c["runtimeId"].as_str())
                .map(str::to_string),
        };
        if let Some(stream) = stream {
            out.push(LogTarget {
                container: name.to_string(),
                group,
                stream,
            });
        }
    }
    if out.is_empty() && !drivers.is_empty() {
        return Err(format!(
            "no container of task {task_id} uses the awslogs log driver ({}): its output is only on its host (docker logs)",
            drivers.join(", ")
        ));
    }
    Ok(out)
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let api = client(&args.endpoint, "berth logs")?;
    let describe = || async {
        let d = ecs(
            &api,
            "DescribeTasks",
            json!({ "cluster": args.cluster, "tasks": [args.task] }),
        )
        .await?;
        d["tasks"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("task {} not found in cluster {}", args.task, args.cluster))
    };
    let mut task = describe().await?;
    let taskdef = ecs(
        &api,
        "DescribeTaskDefinition",
        json!({ "taskDefinition": task["taskDefinitionArn"] }),
    )
    .await?["taskDefinition"]
        .clone();
    let mut tokens: std::collections::BTreeMap<String, Option<String>> = Default::default();
    let mut stdout = std::io::stdout();
    let mut stopped_quiet_since: Option<Instant> = None;
    loop {
        let targets = log_targets(&task, &taskdef, args.container.as_deref()).map_err(anyhow::Error::msg)?;
        let several = targets.len() > 1;
        let mut printed = 0usize;
        for t in &targets {
            let token = tokens.entry(t.stream.clone()).or_default();
            loop {
                let mut input = json!({
                    "logGroupName": t.group,
                    "logStreamName": t.stream,
                    "startFromHead": true,
                });
                if let Some(tok) = token.as_ref() {
                    input["nextToken"] = json!(tok);
                }
                let page = match api.call_logs("GetLogEvents", &input).await {
                    Ok(p) => p,
                    // Not created yet (the container has not started).
                    Err(e) if e.code() == Some("ResourceNotFoundException") && args.follow => break,
                    Err(e) => return Err(e).with_context(|| format!("logs GetLogEvents {}/{}", t.group, t.stream)),
                };
                let events = page["events"].as_array().cloned().unwrap_or_default();
                for e in &events {
                    let msg = e["message"].as_str().unwrap_or_default();
                    let _ = if several {
                        writeln!(stdout, "{} | {msg}", t.container)
                    } else {
                        writeln!(stdout, "{msg}")
                    };
                }
                printed += events.len();
                let next = page["nextForwardToken"].as_str().map(str::to_string);
                let same = next.is_none() || next == *token;
                *token = next.or(token.take());
                if same || events.is_empty() {
                    break;
                }
            }
        }
        let _ = stdout.flush();
        if !args.follow {
            return Ok(());
        }
        // Follow until the task stopped and nothing new came for 2 s (the
        // agent ships a stopped container's last lines after its report).
        if task["lastStatus"] == "STOPPED" {
            if printed > 0 {
                stopped_quiet_since = Some(Instant::now());
            }
            let since = *stopped_quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(2) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        task = describe().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_streams_are_named_as_the_agent_names_them() {
        let task = json!({
            "taskArn": "arn:aws:ecs:us-east-1:000000000000:task/default/abc123",
            "containers": [{"name": "side", "runtimeId": "f00d"}],
        });
        let def = json!({"containerDefinitions": [
            {"name": "app", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/x", "awslogs-stream-prefix": "web"}}},
            {"name": "side", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/y"}}},
            {"name": "plain"},
        ]});
        let t = log_targets(&task, &def, None).unwrap();
        assert_eq!(
            t,
            vec![
                LogTarget {
                    container: "app".into(),
                    group: "/ecs/x".into(),
                    stream: "web/app/abc123".into()
                },
                LogTarget {
                    container: "side".into(),
                    group: "/ecs/y".into(),
                    stream: "f00d".into()
                },
            ]
        );
        assert_eq!(log_targets(&task, &def, Some("app")).unwrap().len(), 1);
        assert!(
            log_targets(&task, &def, Some("nope"))
                .unwrap_err()
                .contains("no container named")
        );
        let e = log_targets(&task, &def, Some("plain")).unwrap_err();
        assert!(e.contains("awslogs") && e.contains("plain: json-file"), "{e}");
    }

    #[test]
    fn waiting_rules() {
        assert_eq!(judge("PENDING", "RUNNING"), WaitOutcome::Waiting);
        assert_eq!(judge("RUNNING", "RUNNING"), WaitOutcome::Reached);
        assert_eq!(judge("DEACTIVATING", "RUNNING"), WaitOutcome::Reached);
        assert_eq!(judge("STOPPED", "RUNNING"), WaitOutcome::Failed);
        assert_eq!(judge("STOPPED", "STOPPED"), WaitOutcome::Reached);
        assert_eq!(judge("RUNNING", "STOPPED"), WaitOutcome::Waiting);
        assert_eq!(short_id("arn:aws:ecs:r:a:task/c/abc"), "abc");
    }
}
