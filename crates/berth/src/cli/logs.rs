//! `berth logs TASK [--follow] [--container NAME]`: a task's output from
//! CloudWatch Logs (containers with the awslogs driver), read with
//! GetLogEvents; `--output json` prints one `{"container", "timestamp",
//! "message"}` object per line.

use super::{Session, Target, short_id};
use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use std::io::Write;
use std::time::{Duration, Instant};

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
    pub target: Target,
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
    let s = Session::connect(&args.target)?;
    let describe = || async {
        let d = s
            .ecs(
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
    let taskdef = s
        .ecs(
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
                let page = match s.logs_call("GetLogEvents", &input).await {
                    Ok(p) => p,
                    // Not created yet (the container has not started).
                    Err(e) if e.code() == Some("ResourceNotFoundException") && args.follow => break,
                    Err(e) => return Err(e).with_context(|| format!("logs GetLogEvents {}/{}", t.group, t.stream)),
                };
                let events = page["events"].as_array().cloned().unwrap_or_default();
                for e in &events {
                    let msg = e["message"].as_str().unwrap_or_default();
                    let _ = if s.json() {
                        let line = json!({"container": t.container, "timestamp": e["timestamp"], "message": msg});
                        writeln!(stdout, "{line}")
                    } else if several {
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
}
