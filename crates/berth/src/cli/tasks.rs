//! `berth tasks wait TASK --until STATUS`: polls DescribeTasks (as `aws ecs
//! wait` does) with a live status line on a terminal, one line per change
//! otherwise; `--output json` prints the task as DescribeTasks returns it.

use super::{Session, Target, print_json, short_id};
use berth_ecs_model::TaskStatus;
use clap::Subcommand;
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

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
        target: Target,
    },
}

/// What waiting for `until` means when the task is at `status`.
#[derive(Debug, PartialEq, Eq)]
enum WaitOutcome {
    Reached,
    Failed,
    Waiting,
}

fn judge(status: &str, until: &str) -> WaitOutcome {
    // "until RUNNING" is also met by a task that went further (except
    // STOPPED, which ends the wait either way); the order is TaskStatus's.
    if status == until
        || (until != "STOPPED" && status != "STOPPED" && TaskStatus::rank_of(status) >= TaskStatus::rank_of(until))
    {
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
        target,
    } = cmd;
    let s = Session::connect(&target)?;
    let started = Instant::now();
    let mut err = std::io::stderr();
    let live = err.is_terminal() && !s.json();
    let mut last_line = String::new();
    loop {
        let d = s
            .ecs("DescribeTasks", json!({ "cluster": cluster, "tasks": [task] }))
            .await?;
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
        let line = format!("{} {status} [{}]", short_id(&task), containers.join(" "));
        if live {
            let _ = write!(err, "\r\x1b[2K{line} {:>5.1}s", started.elapsed().as_secs_f64());
            let _ = err.flush();
        } else if line != last_line && !s.json() {
            let _ = writeln!(err, "{line}");
        }
        last_line = line;
        let outcome = judge(&status, &until);
        if live && outcome != WaitOutcome::Waiting {
            let _ = writeln!(err);
        }
        match outcome {
            WaitOutcome::Reached => {
                if s.json() {
                    return print_json(t);
                }
                println!("{status}");
                return Ok(());
            }
            WaitOutcome::Failed => {
                if s.json() {
                    print_json(t)?;
                }
                anyhow::bail!(
                    "task stopped before reaching {until}: {} ({})",
                    t["stoppedReason"].as_str().unwrap_or("no reason"),
                    t["stopCode"].as_str().unwrap_or("-")
                );
            }
            WaitOutcome::Waiting => {}
        }
        if started.elapsed() > Duration::from_secs(timeout) {
            if live {
                let _ = writeln!(err);
            }
            anyhow::bail!("task {task} is still {status} after {timeout} s");
        }
        // A terminal tool polls, as `aws ecs wait` does; 500 ms keeps it responsive.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
