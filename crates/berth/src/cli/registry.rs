//! `berth registry gc [--dry-run]`: runs one garbage collection of the
//! registry's unreferenced blobs on the server (the region the command
//! signs for) and prints its report. The server answers it at
//! `POST /berth/registry/gc` for the account's root only.
//!
//! `berth registry replicate --backfill [--repository NAME]`: queues the
//! replication of the images already in the repositories the replication
//! configuration applies to (`POST /berth/registry/replication/backfill`,
//! root only); DescribeImageReplicationStatus follows them.

use super::target::{self, Output, Target};
use clap::{Args, Subcommand};

#[derive(Subcommand, Clone, Debug)]
pub enum RegistryCommand {
    /// Deletes the blobs no image references (older than the server's --registry-gc-grace-secs), now.
    Gc(GcArgs),
    /// Replicates the images already there (ECR replicates only later pushes), through the push's queue.
    Replicate(ReplicateArgs),
}

#[derive(Args, Clone, Debug)]
pub struct ReplicateArgs {
    /// Queue every existing image of the repositories the replication rules apply to.
    #[arg(long, required = true)]
    backfill: bool,
    /// Only this repository.
    #[arg(long)]
    repository: Option<String>,
    #[command(flatten)]
    target: Target,
}

#[derive(Args, Clone, Debug)]
pub struct GcArgs {
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    target: Target,
}

const PATH: &str = "/berth/registry/gc";
/// What SigV4 leaves unencoded in a query: letters, digits, `-_.~`.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const BACKFILL_PATH: &str = "/berth/registry/replication/backfill";

pub async fn registry(cmd: RegistryCommand) -> anyhow::Result<()> {
    let args = match cmd {
        RegistryCommand::Gc(args) => args,
        RegistryCommand::Replicate(args) => return backfill(args).await,
    };
    let record = crate::local::read(&args.target.data_dir)?;
    let t = target::resolve(
        &args.target,
        &target::ProcessEnv,
        record.as_ref().map(|r| (args.target.data_dir.as_path(), r)),
    )?;
    let query = if args.dry_run { "dryRun=true" } else { "" };
    let body = super::admin_http::admin_call(&t, PATH, query, "ecr", "registry gc").await?;
    if args.target.output == Output::Json {
        return super::print_json(&body);
    }
    let n = |k: &str| body[k].as_u64().unwrap_or(0);
    if args.dry_run {
        println!(
            "{} of {} blobs are garbage ({} bytes); nothing deleted (dry run)",
            n("garbageBlobs"),
            n("blobsScanned"),
            n("garbageBytes")
        );
    } else {
        println!(
            "deleted {} of {} blobs, {} bytes freed, {} repository links removed, {} left for the next collection ({} ms)",
            n("blobsDeleted"),
            n("blobsScanned"),
            n("bytesFreed"),
            n("linksRemoved"),
            n("skipped"),
            n("durationMs")
        );
    }
    Ok(())
}

async fn backfill(args: ReplicateArgs) -> anyhow::Result<()> {
    debug_assert!(args.backfill);
    let record = crate::local::read(&args.target.data_dir)?;
    let t = target::resolve(
        &args.target,
        &target::ProcessEnv,
        record.as_ref().map(|r| (args.target.data_dir.as_path(), r)),
    )?;
    let query = match &args.repository {
        Some(name) => format!("repository={}", percent_encoding::utf8_percent_encode(name, UNRESERVED)),
        None => String::new(),
    };
    let body = super::admin_http::admin_call(&t, BACKFILL_PATH, &query, "ecr", "registry replicate --backfill").await?;
    if args.target.output == Output::Json {
        return super::print_json(&body);
    }
    let n = |k: &str| body[k].as_u64().unwrap_or(0);
    println!(
        "queued {} replications of {} images in {} repositories ({} already replicated, {} already queued)",
        n("queued"),
        n("images"),
        n("repositories"),
        n("alreadyReplicated"),
        n("inProgress")
    );
    Ok(())
}
