//! `berth`: the one binary. `up` (all-in-one), `server` (control plane),
//! `agent` (runs tasks on a host).

/// mimalloc rather than glibc's malloc: with thousands of agent sessions
/// glibc kept hundreds of MiB in per-thread arenas it never returned, and
/// allocation was a third of the server's CPU (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod cli;
mod config;
mod doctor;
mod http;
mod local;
mod logging;
mod observe;
mod regions;
mod serve;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "berth", version, about = "A self-hosted Amazon ECS and ECR")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The log on stderr: text (colours only on a terminal) or json (one object per line).
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text, env = "BERTH_LOG_FORMAT")]
    log_format: logging::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Everything on one machine: the API, the registry and a local agent, embedded state.
    Up(args::UpArgs),
    /// The control plane only: the API, the registry and the controllers.
    Server(args::ServerArgs),
    /// The container agent: registers this host with a Berth server and runs its tasks on Docker.
    Agent(args::AgentArgs),
    /// Clusters, instances, services and tasks at a glance.
    Status(cli::Target),
    /// Task conveniences (`berth tasks wait TASK --until RUNNING`).
    #[command(subcommand)]
    Tasks(cli::TasksCommand),
    /// A task's output from CloudWatch Logs (awslogs log driver); --follow keeps printing.
    Logs(cli::LogsArgs),
    /// The registry's maintenance (`berth registry gc [--dry-run]`).
    #[command(subcommand)]
    Registry(cli::RegistryCommand),
    /// Operator actions on the server (`berth admin spot-interrupt`: reclaim FARGATE_SPOT capacity).
    #[command(subcommand)]
    Admin(cli::AdminCommand),
    /// The vulnerability database image scans use (`berth scan-db import FILE`: OSV JSON).
    #[command(subcommand)]
    ScanDb(cli::ScanDbCommand),
    /// Checks what `berth up` needs here (Docker, cgroups, files, port, data dir, disk) and says what to fix.
    Doctor(doctor::DoctorArgs),
}

/// Errors end the process with one line (`berth: …: cause`), never a
/// backtrace, whatever RUST_BACKTRACE says.
fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Up(_) | Command::Server(_) | Command::Agent(_)) {
        // Everything the server and the agent create is private to their user.
        berth_agent::datadir::private_umask();
    }
    logging::init(cli.log_format);
    if matches!(cli.command, Command::Up(_) | Command::Server(_)) {
        match serve::fdlimit::raise_nofile() {
            Ok((before, after)) if before != after => {
                tracing::info!(?before, ?after, "open-file limit raised to the hard limit")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => {
                run(config::Config::resolve(
                    args.server,
                    config::Mode::Up(args.local_agent),
                )?)
                .await
            }
            Command::Server(args) => run(config::Config::resolve(args, config::Mode::Server)?).await,
            Command::Agent(args) => run_agent(args).await,
            Command::Status(ep) => cli::status(ep).await,
            Command::Tasks(cmd) => cli::tasks(cmd).await,
            Command::Logs(args) => cli::logs(args).await,
            Command::Registry(cmd) => cli::registry(cmd).await,
            Command::Admin(cmd) => cli::admin(cmd).await,
            Command::ScanDb(cmd) => cli::scan_db(cmd),
            Command::Doctor(args) => doctor::doctor(args).await,
        }
    })
}

async fn run(cfg: config::Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let local = listener.local_addr()?;
    let mut cfg = cfg;
    cfg.registry_host.get_or_insert_with(|| local.to_string());
    let tls = tls_setup(&cfg, local)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let app = http::App::start(&cfg).await?;
    let signalled = shutdown_signal();
    let ca = tls.as_ref().and_then(|t| t.ca.clone());
    // The terminal commands next to this server find it through this record
    // (written before the endpoint is printed: whoever reads that line finds it).
    let record_written = write_local_record(&cfg, local, scheme, ca.as_deref());
    println!("Berth is running.");
    println!("  endpoint:   {scheme}://{local}");
    println!(
        "  registry:   {}",
        cfg.registry_host.clone().unwrap_or_else(|| local.to_string())
    );
    println!("  region:     {}", cfg.regions.first());
    if cfg.regions.names().len() > 1 {
        println!("  regions:    {}", cfg.regions.names().join(", "));
    }
    println!("  account:    {}", cfg.account_id);
    println!("  access key: {}", cfg.root_access_key_id);
    match &cfg.root_secret_source {
        config::SecretSource::Public | config::SecretSource::Generated(_) => {
            println!("  secret key: {}", cfg.root_secret_access_key)
        }
        config::SecretSource::Env => println!("  secret key: (from BERTH_ROOT_SECRET_ACCESS_KEY)"),
        config::SecretSource::File(path) => println!("  secret key: (in {})", path.display()),
    }
    println!("  data dir:   {}", cfg.data_dir.display());
    match ca.as_ref().filter(|_| matches!(cfg.tls, config::Tls::Generated)) {
        Some(ca) => {
            let registry = cfg.registry_host.clone().unwrap_or_else(|| local.to_string());
            println!("  CA:         {}", ca.display());
            println!(
                "Trust it: docker: cp {} /etc/docker/certs.d/{registry}/ca.crt",
                ca.display()
            );
            println!("          aws CLI: --ca-bundle {} (or AWS_CA_BUNDLE)", ca.display());
            println!(
                "Try: aws --endpoint-url https://{local} --ca-bundle {} ecs list-clusters",
                ca.display()
            );
        }
        None => println!("Try: aws --endpoint-url {scheme}://{local} ecs list-clusters"),
    }
    let store = app.store.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signalled.await;
        let _ = stop_tx.send(true);
    });
    let agent = cfg
        .local_agent
        .as_ref()
        .map(|local_agent| spawn_local_agent(&cfg, local_agent, local, scheme, ca, stop_rx.clone()));
    let mut serve_stop = stop_rx;
    let closing = app.clone();
    serve::serve(
        listener,
        app.router(),
        tls.map(|t| t.acceptor),
        cfg.listener.clone(),
        async move {
            let _ = serve_stop.wait_for(|stop| *stop).await;
            // Agent sessions never end by themselves.
            closing.close_agent_sessions();
        },
    )
    .await;
    if let Some(agent) = agent {
        let _ = agent.await;
    }
    if record_written {
        local::remove(&cfg.data_dir);
    }
    // Audit events still queued are written before the process exits.
    app.flush_audit().await;
    tracing::info!("shutting down: closing the store");
    store.close().await.context("closing the store")?;
    Ok(())
}

/// How a client on this machine reaches a listener bound to `local`.
fn loopback_for(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// Writes DATA_DIR/endpoint.json (crate::local); a failure is logged, not fatal.
fn write_local_record(cfg: &config::Config, local: SocketAddr, scheme: &str, ca: Option<&std::path::Path>) -> bool {
    let absolute = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (access_key_id, secret_access_key, credentials_file) = match &cfg.root_secret_source {
        // berth up's public test/test.
        config::SecretSource::Public => (
            Some(cfg.root_access_key_id.clone()),
            Some(cfg.root_secret_access_key.clone()),
            None,
        ),
        config::SecretSource::Generated(path) | config::SecretSource::File(path) => (None, None, Some(absolute(path))),
        // A secret from the environment is never written.
        config::SecretSource::Env => (None, None, None),
    };
    let record = local::LocalRecord {
        endpoint: format!("{scheme}://{}", loopback_for(local)),
        region: cfg.regions.first().to_string(),
        pid: std::process::id(),
        access_key_id,
        secret_access_key,
        credentials_file,
        ca_bundle: ca.map(absolute),
    };
    match local::write(&cfg.data_dir, &record) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, dir = %cfg.data_dir.display(), "cannot write the endpoint record");
            false
        }
    }
}

struct TlsSetup {
    acceptor: tokio_rustls::TlsAcceptor,
    /// The generated CA (`--tls`), for the local agent and the printed hints.
    ca: Option<PathBuf>,
}

fn tls_setup(cfg: &config::Config, local: SocketAddr) -> anyhow::Result<Option<TlsSetup>> {
    match &cfg.tls {
        config::Tls::Off => Ok(None),
        // The local agent trusts AWS_CA_BUNDLE if set (the certificate must name 127.0.0.1).
        config::Tls::Files { cert, key } => Ok(Some(TlsSetup {
            acceptor: serve::tls::acceptor(cert, key)?,
            ca: std::env::var_os("AWS_CA_BUNDLE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        })),
        config::Tls::Generated => {
            let mut extra = vec![local.to_string(), cfg.listen.to_string()];
            extra.extend(cfg.registry_host.clone());
            let names = serve::tls::subject_names(&extra);
            let files = serve::tls::ensure_generated(&cfg.data_dir.join("tls"), &names)?;
            if files.issued {
                tracing::info!(names = ?names, dir = %cfg.data_dir.join("tls").display(), "TLS server certificate issued");
            }
            Ok(Some(TlsSetup {
                acceptor: serve::tls::acceptor(&files.cert, &files.key)?,
                ca: Some(files.ca),
            }))
        }
    }
}

/// `berth up`'s in-process agent: joins `--cluster` (default `default`,
/// created if missing) with its share of the host through the local
/// listener, and shares its capacity as the Fargate host of the clusters
/// with none of their own. Without Docker it says so and the API keeps
/// serving.
fn spawn_local_agent(
    cfg: &config::Config,
    local_agent: &args::LocalAgentArgs,
    local: SocketAddr,
    scheme: &str,
    ca: Option<PathBuf>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut agent = berth_agent::AgentConfig::new(
        format!("{scheme}://{}", loopback_for(local)),
        local_agent.cluster.clone(),
        cfg.data_dir.join("agent"),
        cfg.regions.first().to_string(),
        cfg.root_access_key_id.clone(),
        cfg.root_secret_access_key.clone(),
    );
    agent.create_cluster = true;
    // A container instance of its cluster that is also the Fargate host of
    // every cluster with no capacity of its own (docs/architecture.md
    // "Fargate"): a newcomer's FARGATE service runs in any cluster.
    agent.attributes.push((
        berth_ecs_model::instance::FARGATE_SHARED_ATTRIBUTE.to_string(),
        "true".to_string(),
    ));
    agent.ca_bundle = ca;
    agent.cpu = local_agent.agent_cpu;
    agent.memory_mib = local_agent.agent_memory;
    agent.task_subnet = local_agent.task_subnet;
    agent.warm_pause = usize::from(local_agent.warm_pause);
    agent.usage_interval = std::time::Duration::from_secs(local_agent.agent_usage_interval_secs);
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
async fn run_agent(args: args::AgentArgs) -> anyhow::Result<()> {
    let creds = cli::credentials_from_env("the agent")?;
    let (key, secret, token) = (creds.access_key_id, creds.secret_access_key, creds.session_token);
    let mut cfg = berth_agent::AgentConfig::new(args.server, args.cluster, args.data_dir, args.region, key, secret);
    cfg.session_token = token;
    cfg.attributes = args.attributes;
    if args.fargate {
        cfg.attributes.push((
            berth_ecs_model::instance::FARGATE_HOST_ATTRIBUTE.to_string(),
            "true".to_string(),
        ));
    }
    if let Some(group) = args.host_group {
        cfg.attributes
            .push((berth_ecs_model::instance::HOST_GROUP_ATTRIBUTE.to_string(), group));
    }
    cfg.availability_zone = args.availability_zone;
    cfg.instance_type = args.instance_type;
    cfg.container_retention = args.container_retention;
    cfg.credentials_listen = args.credentials_listen;
    cfg.ca_bundle = args.ca_bundle;
    cfg.cpu = args.cpu;
    cfg.memory_mib = args.memory_mib;
    cfg.task_subnet = args.task_subnet;
    cfg.warm_pause = usize::from(args.warm_pause);
    cfg.host_address = args.host_address;
    cfg.usage_interval = std::time::Duration::from_secs(args.usage_interval_secs);
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

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when first polled: a signal sent right after the endpoint is
/// printed is not lost (it would otherwise kill the process with its default action).
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(int) => {},
            _ = wait(term) => {},
        }
        tracing::info!("signal received: finishing in-flight requests");
    }
}
