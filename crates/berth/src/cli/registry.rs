//! `berth registry gc [--dry-run]`: runs one garbage collection of the
//! registry's unreferenced blobs on the server (the region the command
//! signs for) and prints its report. The server answers it at
//! `POST /berth/registry/gc` for the account's root only.

use super::target::{self, Output, Target};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::time::Duration;

#[derive(Subcommand, Clone, Debug)]
pub enum RegistryCommand {
    /// Deletes the blobs no image references (older than the server's --registry-gc-grace-secs), now.
    Gc(GcArgs),
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

pub async fn registry(cmd: RegistryCommand) -> anyhow::Result<()> {
    let RegistryCommand::Gc(args) = cmd;
    let record = crate::local::read(&args.target.data_dir)?;
    let t = target::resolve(
        &args.target,
        &target::ProcessEnv,
        record.as_ref().map(|r| (args.target.data_dir.as_path(), r)),
    )?;
    let base = reqwest::Url::parse(t.endpoint.trim_end_matches('/'))
        .with_context(|| format!("the endpoint '{}' is not a URL", t.endpoint))?;
    let host = base.host_str().context("the endpoint has no host")?;
    let host = match base.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let query = if args.dry_run { "dryRun=true" } else { "" };
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::HOST, host.parse()?);
    let signed = berth_proto::sigv4::sign(
        "POST",
        PATH,
        query,
        &headers,
        b"",
        &t.credentials,
        &t.region,
        "ecr",
        time::OffsetDateTime::now_utc(),
    );
    for (k, v) in signed {
        headers.insert(reqwest::header::HeaderName::from_bytes(k.as_bytes())?, v.parse()?);
    }
    let mut client = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
    if let Some(path) = &t.ca_bundle {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for cert in
            reqwest::Certificate::from_pem_bundle(&pem).with_context(|| format!("{} is not PEM", path.display()))?
        {
            client = client.add_root_certificate(cert);
        }
    }
    let mut url = base.join(PATH)?;
    if args.dry_run {
        url.set_query(Some(query));
    }
    let resp = client
        .build()?
        .post(url)
        .headers(headers)
        .send()
        .await
        .with_context(|| format!("registry gc (endpoint from {})", t.endpoint_from))?;
    let status = resp.status();
    let body: Value = resp.json().await.context("reading the server's answer")?;
    if !status.is_success() {
        anyhow::bail!(
            "registry gc: {} ({}): {} (credentials from {})",
            body["__type"].as_str().unwrap_or("error"),
            status,
            body["message"].as_str().unwrap_or(""),
            t.credentials_from
        );
    }
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
