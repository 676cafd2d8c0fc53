//! `berth admin spot-interrupt --cluster C [--task T | --count N]`:
//! interrupts FARGATE_SPOT tasks as AWS reclaiming Spot capacity would
//! (SIGTERM, the two-minute notice, STOPPED with stopCode
//! SpotInterruption). The server answers it at
//! `POST /berth/ecs/spot-interrupt` for the account's root only.

use super::target::{self, Output, Target};
use berth_proto::sigv4::uri_encode;
use clap::{Args, Subcommand};

#[derive(Subcommand, Clone, Debug)]
pub enum AdminCommand {
    /// Interrupts FARGATE_SPOT tasks of a cluster (one task, or N at random).
    SpotInterrupt(SpotInterruptArgs),
}

#[derive(Args, Clone, Debug)]
pub struct SpotInterruptArgs {
    /// The cluster (name or ARN).
    #[arg(long, default_value = "default")]
    cluster: String,
    /// The task (id or ARN) to interrupt; it must run on FARGATE_SPOT.
    #[arg(long, conflicts_with = "count")]
    task: Option<String>,
    /// How many of the cluster's FARGATE_SPOT tasks to interrupt, chosen at random (default 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    target: Target,
}

const PATH: &str = "/berth/ecs/spot-interrupt";

/// The query of the request, its values encoded as SigV4 canonicalises them.
fn query_of(args: &SpotInterruptArgs) -> String {
    let enc = |s: &str| uri_encode(s.as_bytes(), true);
    let cluster = args.cluster.rsplit('/').next().unwrap_or(&args.cluster);
    let mut q = format!("cluster={}", enc(cluster));
    match (&args.task, args.count) {
        (Some(t), _) => q.push_str(&format!("&task={}", enc(t))),
        (None, Some(n)) => q.push_str(&format!("&count={n}")),
        (None, None) => {}
    }
    q
}

pub async fn admin(cmd: AdminCommand) -> anyhow::Result<()> {
    let AdminCommand::SpotInterrupt(args) = cmd;
    let record = crate::local::read(&args.target.data_dir)?;
    let t = target::resolve(
        &args.target,
        &target::ProcessEnv,
        record.as_ref().map(|r| (args.target.data_dir.as_path(), r)),
    )?;
    let body = super::admin_http::admin_call(&t, PATH, &query_of(&args), "ecs", "spot-interrupt").await?;
    if args.target.output == Output::Json {
        return super::print_json(&body);
    }
    let tasks = body["interruptedTasks"].as_array().cloned().unwrap_or_default();
    if tasks.is_empty() {
        println!("no FARGATE_SPOT task to interrupt in cluster {}", args.cluster);
    }
    for arn in tasks {
        println!("interrupted {}", arn.as_str().unwrap_or(""));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: AdminCommand,
    }

    #[test]
    fn query_names_the_cluster_and_the_task() {
        let Cli {
            cmd: AdminCommand::SpotInterrupt(a),
        } = Cli::try_parse_from([
            "x",
            "spot-interrupt",
            "--cluster",
            "arn:aws:ecs:us-east-1:1:cluster/c1",
            "--task",
            "arn:aws:ecs:us-east-1:1:task/c1/abc",
        ])
        .unwrap();
        assert_eq!(
            query_of(&a),
            "cluster=c1&task=arn%3Aaws%3Aecs%3Aus-east-1%3A1%3Atask%2Fc1%2Fabc"
        );
        let Cli {
            cmd: AdminCommand::SpotInterrupt(a),
        } = Cli::try_parse_from(["x", "spot-interrupt", "--count", "2"]).unwrap();
        assert_eq!(query_of(&a), "cluster=default&count=2");
        assert!(Cli::try_parse_from(["x", "spot-interrupt", "--count", "0"]).is_err());
        assert!(Cli::try_parse_from(["x", "spot-interrupt", "--count", "1", "--task", "t"]).is_err());
    }
}
