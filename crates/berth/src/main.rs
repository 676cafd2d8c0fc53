//! `berth`: the one binary. `up` (all-in-one), `server` (control plane),
//! `agent` (runs tasks on a host).

/// mimalloc rather than glibc's malloc: with thousands of agent sessions
/// glibc kept hundreds of MiB in per-thread arenas it never returned, and
/// allocation was a third of the server's CPU (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod config;
mod http;
mod observe;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "berth", version, about = "A self-hosted Amazon ECS and ECR")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything on one machine: the API, the registry and a local agent, embedded state.
    Up(ServerArgs),
    /// The control plane only: the API, the registry and the controllers.
    Server(ServerArgs),
    /// The container agent: registers this host with a Berth server and runs its tasks on Docker.
    Agent(AgentArgs),
    /// Clusters, instances, services and tasks at a glance.
    Status(cli::Endpoint),
    /// Task conveniences (`berth tasks wait TASK --until RUNNING`).
    #[command(subcommand)]
    Tasks(cli::TasksCommand),
    /// A task's output from CloudWatch Logs (awslogs log driver); --follow keeps printing.
    Logs(cli::LogsArgs),
}

#[derive(Args, Clone, Debug)]
pub struct AgentArgs {
    /// The Berth endpoint, e.g. http://10.0.0.5:4600.
    #[arg(long, env = "BERTH_SERVER")]
    server: String,
    /// The cluster to join.
    #[arg(long, default_value = "default", env = "BERTH_CLUSTER")]
    cluster: String,
    /// Where the agent keeps its identity and undelivered state changes.
    #[arg(long, default_value = ".berth-agent", env = "BERTH_AGENT_DATA_DIR")]
    data_dir: PathBuf,
    /// A custom attribute of the container instance (repeatable).
    #[arg(long = "attribute", value_name = "NAME=VALUE", value_parser = berth_agent::host::parse_attribute)]
    attributes: Vec<(String, String)>,
    /// The region to sign requests for.
    #[arg(long, default_value = "us-east-1", env = "AWS_DEFAULT_REGION")]
    region: String,
    /// The ecs.availability-zone attribute (default: <region>a).
    #[arg(long)]
    availability_zone: Option<String>,
    /// The ecs.instance-type attribute (default: berth.local).
    #[arg(long)]
    instance_type: Option<String>,
    /// How long stopped tasks' containers stay on the host (e.g. 30m, 1h).
    #[arg(long, default_value = "1h", value_parser = berth_agent::host::parse_duration)]
    container_retention: std::time::Duration,
    /// Where the task credentials endpoint listens (task roles; containers of
    /// host-network-mode tasks reach it on the loopback interface).
    #[arg(long, default_value = "127.0.0.1:0", env = "BERTH_CREDENTIALS_LISTEN")]
    credentials_listen: SocketAddr,
    /// `docker` runs tasks; `hollow` simulates them without containers (benchmarks).
    #[arg(long, default_value = "docker", value_parser = ["docker", "hollow"])]
    runtime: String,
    /// With --runtime hollow: how many container instances this process simulates
    /// (each under DATA_DIR/hollow-<i>/; needs about one open file per instance).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    instances: u32,
    /// With --runtime hollow: a task's start and stop delay in ms, `MS` or `MIN-MAX`.
    #[arg(long, default_value = "50-200", value_parser = berth_agent::hollow::parse_delay_range)]
    hollow_delay: (std::time::Duration, std::time::Duration),
    /// With --runtime hollow: cores each instance registers.
    #[arg(long, default_value_t = 4)]
    hollow_cores: i64,
    /// With --runtime hollow: memory of each simulated host in MiB.
    #[arg(long, default_value_t = 16384)]
    hollow_memory_mib: i64,
}

#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4600", env = "BERTH_LISTEN")]
    listen: SocketAddr,
    /// Where state is kept (default ./.berth).
    #[arg(long, env = "BERTH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The AWS account id Berth answers as.
    #[arg(long, default_value = "000000000000", env = "BERTH_ACCOUNT_ID")]
    account_id: String,
    /// The AWS region Berth answers as.
    #[arg(long, default_value = "us-east-1", env = "BERTH_REGION")]
    region: String,
    /// Seconds an instance's agent may stay disconnected before its tasks are marked STOPPED.
    #[arg(long, default_value_t = 60, env = "BERTH_AGENT_GRACE_PERIOD_SECS")]
    agent_grace_period_secs: u64,
    /// The host[:port] clients use for the registry (repository URIs, docker login); default: the listen address.
    #[arg(long, env = "BERTH_REGISTRY_HOST")]
    registry_host: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => run(config::Config::resolve(args, config::Mode::Up)?, true).await,
            Command::Server(args) => run(config::Config::resolve(args, config::Mode::Server)?, false).await,
            Command::Agent(args) => run_agent(args).await,
            Command::Status(ep) => cli::status(ep).await,
            Command::Tasks(cmd) => cli::tasks(cmd).await,
            Command::Logs(args) => cli::logs(args).await,
        }
    })
}

async fn run(cfg: config::Config, local_agent: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let local = listener.local_addr()?;
    let mut cfg = cfg;
    cfg.registry_host.get_or_insert_with(|| local.to_string());
    let app = http::App::start(&cfg).await?;
    println!("Berth is running.");
    println!("  endpoint:   http://{local}");
    println!(
        "  registry:   {}",
        cfg.registry_host.clone().unwrap_or_else(|| local.to_string())
    );
    println!("  region:     {}", cfg.region);
    println!("  account:    {}", cfg.account_id);
    println!("  access key: {}", cfg.root_access_key_id);
    println!("  secret key: {}", cfg.root_secret_access_key);
    println!("  data dir:   {}", cfg.data_dir.display());
    println!("Try: aws --endpoint-url http://{local} ecs list-clusters");
    let store = app.store.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let agent = local_agent.then(|| spawn_local_agent(&cfg, local, stop_rx.clone()));
    let mut serve_stop = stop_rx;
    let ecs = app.ecs.clone();
    axum::serve(
        listener,
        app.router().into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = serve_stop.wait_for(|stop| *stop).await;
        // Agent sessions never end by themselves.
        ecs.close_agent_sessions();
    })
    .await
    .context("serving")?;
    if let Some(agent) = agent {
        let _ = agent.await;
    }
    // Audit events still queued are written before the process exits.
    app.audit.flush().await;
    tracing::info!("shutting down: closing the store");
    store.close().await.context("closing the store")?;
    Ok(())
}

/// `berth up`'s in-process agent: joins the cluster `default` (created if
/// missing) through the local listener. Without Docker it says so and the
/// API keeps serving.
fn spawn_local_agent(
    cfg: &config::Config,
    local: SocketAddr,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let ip = match local.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let mut agent = berth_agent::AgentConfig::new(
        format!("http://{}", SocketAddr::new(ip, local.port())),
        "default",
        cfg.data_dir.join("agent"),
        cfg.region.clone(),
        cfg.root_access_key_id.clone(),
        cfg.root_secret_access_key.clone(),
    );
    agent.create_cluster = true;
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        match berth_agent::run(agent, shutdown).await {
            Ok(()) => {}
            Err(berth_agent::AgentError::Docker(e)) => eprintln!("{e}; the local agent is disabled"),
            Err(e) => eprintln!("The local agent stopped: {e}; the API keeps serving"),
        }
    })
}

/// `berth agent`: credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
/// (and AWS_SESSION_TOKEN), else BERTH_ROOT_ACCESS_KEY_ID /
/// BERTH_ROOT_SECRET_ACCESS_KEY.
async fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    let creds = cli::credentials_from_env("the agent")?;
    let (key, secret, token) = (creds.access_key_id, creds.secret_access_key, creds.session_token);
    let mut cfg = berth_agent::AgentConfig::new(args.server, args.cluster, args.data_dir, args.region, key, secret);
    cfg.session_token = token;
    cfg.attributes = args.attributes;
    cfg.availability_zone = args.availability_zone;
    cfg.instance_type = args.instance_type;
    cfg.container_retention = args.container_retention;
    cfg.credentials_listen = args.credentials_listen;
    if args.runtime == "hollow" {
        let hollow = berth_agent::hollow::HollowConfig {
            min_delay: args.hollow_delay.0,
            max_delay: args.hollow_delay.1,
            cores: args.hollow_cores.max(1),
            memory_bytes: args.hollow_memory_mib.max(512) * 1024 * 1024,
        };
        berth_agent::run_hollow(cfg, args.instances as usize, hollow, shutdown_signal()).await?;
        return Ok(());
    }
    berth_agent::run(cfg, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("signal received: finishing in-flight requests");
}
