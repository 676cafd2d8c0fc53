//! `berth`: the one binary. `up` (all-in-one), `server` (control plane),
//! `agent` (runs tasks on a host).

/// mimalloc rather than glibc's malloc: with thousands of agent sessions
/// glibc kept hundreds of MiB in per-thread arenas it never returned, and
/// allocation was a third of the server's CPU (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod config;
mod doctor;
mod http;
mod local;
mod logging;
mod observe;
mod serve;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
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
    Up(ServerArgs),
    /// The control plane only: the API, the registry and the controllers.
    Server(ServerArgs),
    /// The container agent: registers this host with a Berth server and runs its tasks on Docker.
    Agent(AgentArgs),
    /// Clusters, instances, services and tasks at a glance.
    Status(cli::Target),
    /// Task conveniences (`berth tasks wait TASK --until RUNNING`).
    #[command(subcommand)]
    Tasks(cli::TasksCommand),
    /// A task's output from CloudWatch Logs (awslogs log driver); --follow keeps printing.
    Logs(cli::LogsArgs),
    /// Checks what `berth up` needs here (Docker, cgroups, files, port, data dir, disk) and says what to fix.
    Doctor(doctor::DoctorArgs),
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
    /// PEM CA certificates to trust for an https:// --server (besides the system roots).
    #[arg(long, env = "AWS_CA_BUNDLE")]
    ca_bundle: Option<PathBuf>,
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
    /// CPU units this agent registers (1024 per core; default: the whole host).
    /// Agents sharing a host need shares that add up to no more than the host.
    #[arg(long = "cpu", value_name = "UNITS", env = "BERTH_AGENT_CPU", value_parser = clap::value_parser!(i64).range(1..))]
    cpu: Option<i64>,
    /// MiB of memory this agent registers (default: the host's memory less 5 %, at least 256 MiB, kept for the host).
    #[arg(long = "memory", value_name = "MIB", env = "BERTH_AGENT_MEMORY", value_parser = clap::value_parser!(i64).range(1..))]
    memory_mib: Option<i64>,
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
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key", conflicts_with = "tls")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a CA and server certificate generated into DATA_DIR/tls/ (reused on later starts).
    #[arg(long)]
    tls: bool,
    #[command(flatten)]
    listener: ListenerArgs,
    #[command(flatten)]
    local_agent: LocalAgentArgs,
}

/// `berth up`'s local agent (ignored by `berth server`).
#[derive(Args, Clone, Debug)]
pub struct LocalAgentArgs {
    /// The cluster the local agent joins (created if missing). One agent serves
    /// one cluster: for another cluster on this host, run a `berth agent` with a share.
    #[arg(long, default_value = "default", env = "BERTH_CLUSTER", value_parser = parse_cluster_name)]
    cluster: String,
    /// CPU units the local agent registers (1024 per core; default: the whole host).
    #[arg(long, value_name = "UNITS", env = "BERTH_AGENT_CPU", value_parser = clap::value_parser!(i64).range(1..))]
    agent_cpu: Option<i64>,
    /// MiB of memory the local agent registers (default: the host's, less what is kept for the host).
    #[arg(long, value_name = "MIB", env = "BERTH_AGENT_MEMORY", value_parser = clap::value_parser!(i64).range(1..))]
    agent_memory: Option<i64>,
}

/// A cluster name as ECS allows it: 1-255 letters, digits, hyphens and underscores.
fn parse_cluster_name(s: &str) -> anyhow::Result<String> {
    if berth_core::names::is_valid_ecs_name(s) {
        Ok(s.to_string())
    } else {
        anyhow::bail!("'{s}' is not a cluster name: up to 255 letters, digits, hyphens and underscores")
    }
}

/// The listener's limits (docs/security/listener.md).
#[derive(Args, Clone, Debug)]
pub struct ListenerArgs {
    /// Open connections at most; at the cap connections that never sent a request make room, else accepting waits.
    #[arg(long, default_value_t = 4096, env = "BERTH_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Once half the connections are taken, one IP address (loopback excepted) gets at most this many (0: no limit).
    #[arg(long, default_value_t = 256, env = "BERTH_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: u32,
    /// Seconds a client has to send a request's headers (the first one, TLS handshake included, and each next one on a keep-alive connection).
    #[arg(long, default_value_t = 10, env = "BERTH_HEADER_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_secs: u64,
    /// Seconds a connection may stay with no request in flight and no traffic before it is closed.
    #[arg(long, default_value_t = 60, env = "BERTH_IDLE_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_secs: u64,
    /// A request body arriving slower than this many bytes/s (over --body-rate-window-secs of waiting) is cut with 408.
    #[arg(long, default_value_t = 1024, env = "BERTH_BODY_MIN_RATE")]
    body_min_rate: u64,
    /// The window --body-min-rate is measured over, in seconds.
    #[arg(long, default_value_t = 10, env = "BERTH_BODY_RATE_WINDOW_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    body_rate_window_secs: u64,
}

impl ListenerArgs {
    fn limits(&self) -> serve::Limits {
        use std::time::Duration;
        serve::Limits {
            max_connections: self.max_connections as usize,
            max_connections_per_ip: self.max_connections_per_ip as usize,
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            body_min_rate: serve::body_rate::MinRate {
                min_bytes_per_sec: self.body_min_rate,
                window: Duration::from_secs(self.body_rate_window_secs),
            },
            h2_keepalive: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
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
            Command::Up(args) => run(config::Config::resolve(args, config::Mode::Up)?, true).await,
            Command::Server(args) => run(config::Config::resolve(args, config::Mode::Server)?, false).await,
            Command::Agent(args) => run_agent(args).await,
            Command::Status(ep) => cli::status(ep).await,
            Command::Tasks(cmd) => cli::tasks(cmd).await,
            Command::Logs(args) => cli::logs(args).await,
            Command::Doctor(args) => doctor::doctor(args).await,
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
    println!("  region:     {}", cfg.region);
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
    let agent = local_agent.then(|| spawn_local_agent(&cfg, local, scheme, ca, stop_rx.clone()));
    let mut serve_stop = stop_rx;
    let ecs = app.ecs.clone();
    serve::serve(
        listener,
        app.router(),
        tls.map(|t| t.acceptor),
        cfg.listener.clone(),
        async move {
            let _ = serve_stop.wait_for(|stop| *stop).await;
            // Agent sessions never end by themselves.
            ecs.close_agent_sessions();
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
    app.audit.flush().await;
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
        region: cfg.region.clone(),
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
/// created if missing) with its share of the host through the local listener. Without Docker it says so and the
/// API keeps serving.
fn spawn_local_agent(
    cfg: &config::Config,
    local: SocketAddr,
    scheme: &str,
    ca: Option<PathBuf>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let ip = match local.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let mut agent = berth_agent::AgentConfig::new(
        format!("{scheme}://{}", SocketAddr::new(ip, local.port())),
        cfg.local_agent.cluster.clone(),
        cfg.data_dir.join("agent"),
        cfg.region.clone(),
        cfg.root_access_key_id.clone(),
        cfg.root_secret_access_key.clone(),
    );
    agent.create_cluster = true;
    agent.ca_bundle = ca;
    agent.cpu = cfg.local_agent.agent_cpu;
    agent.memory_mib = cfg.local_agent.agent_memory;
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
    cfg.ca_bundle = args.ca_bundle;
    cfg.cpu = args.cpu;
    cfg.memory_mib = args.memory_mib;
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
