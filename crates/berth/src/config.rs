//! Resolved configuration: flags, environment and defaults (design.md).

use crate::args::{LocalAgentArgs, ServerArgs};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum Mode {
    /// `berth up`: with a local agent.
    Up(LocalAgentArgs),
    Server,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub account_id: String,
    /// The regions served; the first is the default (the local agent's).
    pub regions: crate::regions::Regions,
    pub root_access_key_id: String,
    pub root_secret_access_key: String,
    pub registry_host: Option<String>,
    /// How long an agent may stay disconnected before its tasks are STOPPED.
    pub agent_grace_period: std::time::Duration,
    /// How often the AWS/ECS metrics are published (`--ecs-metrics-interval-secs`, 60 s).
    pub ecs_metrics_interval: std::time::Duration,
    /// Whether the root secret may be printed, or where it comes from.
    pub root_secret_source: SecretSource,
    pub tls: Tls,
    pub listener: crate::serve::Limits,
    /// `berth up`'s local agent: its cluster and share (none for `berth server`).
    pub local_agent: Option<LocalAgentArgs>,
    /// Whether each region serves ELBv2, its API and its load balancers:
    /// on unless `BERTH_ELBV2=0` (a server that must open no listener port
    /// of its own).
    pub elbv2: bool,
    /// The address the load balancers' listeners bind (`--lb-bind`).
    pub lb_bind: std::net::IpAddr,
    /// The load balancers' busy-poll budget (`--lb-busy-poll-us`; zero: off).
    pub lb_busy_poll: std::time::Duration,
    /// The CPU slice of the load balancers' worker threads (`--lb-slice-us`; zero: the kernel's).
    pub lb_slice: std::time::Duration,
    /// How many times faster than AWS minutes are counted (`--time-scale`).
    pub time_scale: berth_core::time_scale::TimeScale,
    /// FARGATE_SPOT interruptions per task-hour at random (`--fargate-spot-interruption-rate`; 0: off).
    pub fargate_spot_interruption_rate: f64,
    /// The managed-scaling hooks of host groups (`--capacity-hook GROUP=COMMAND`).
    pub capacity_hooks: Vec<berth_ecs::capacity_hook::CapacityHook>,
    /// The registry's lifecycle evaluation (`--lifecycle-*`).
    pub registry_schedule: berth_registry::Schedule,
    /// The upstream registries pull-through cache rules may name (`--pull-through-*`).
    pub registry_pull_through: berth_registry::pull_through::PullThroughSettings,
    /// ECR cross-account replication peers, by account (`--ecr-replication-peer*`).
    pub ecr_replication_peers: std::collections::BTreeMap<String, berth_registry::replication::peers::Peer>,
    /// The exclusive lock on DATA_DIR/lock, held while the server runs.
    pub _lock: std::sync::Arc<std::fs::File>,
}

/// The region served when none is given.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where the root secret comes from, which decides whether it is printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Printed: the public test/test of `berth up`.
    Public,
    /// Printed: generated just now into this file (root-credentials).
    Generated(PathBuf),
    /// From BERTH_ROOT_SECRET_ACCESS_KEY: not printed.
    Env,
    /// Kept in this file (root-credentials) since an earlier start: not printed.
    File(PathBuf),
}

/// How the listener speaks.
#[derive(Debug, Clone)]
pub enum Tls {
    Off,
    /// `--tls-cert`/`--tls-key`.
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// `--tls`: generated into DATA_DIR/tls/.
    Generated,
}

impl Config {
    pub fn resolve(args: ServerArgs, mode: Mode) -> anyhow::Result<Self> {
        if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
            anyhow::bail!("--account-id must be 12 digits, got '{}'", args.account_id);
        }
        let regions = match (args.region, args.regions.is_empty()) {
            (Some(one), true) => crate::regions::Regions::parse(&[one]),
            (None, false) => crate::regions::Regions::parse(&args.regions),
            (None, true) => Ok(crate::regions::Regions::one(DEFAULT_REGION)),
            (Some(_), false) => Err("give --region or --regions, not both".to_string()),
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let data_dir = args.data_dir.unwrap_or_else(|| PathBuf::from(".berth"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
        // One server per data dir: a second one would fight the first over
        // the state store (and its placements).
        let lock = berth_agent::datadir::lock(&data_dir, "lock", "Berth server")?;
        let tightened = berth_agent::datadir::prepare(&data_dir)
            .with_context(|| format!("cannot make the data dir {} private", data_dir.display()))?;
        if tightened > 0 {
            tracing::info!(
                dir = %data_dir.display(),
                tightened,
                "data dir: modes wider than 0700 (directories) / 0600 (files) tightened"
            );
        }
        let env_key = std::env::var("BERTH_ROOT_ACCESS_KEY_ID").ok().filter(|s| !s.is_empty());
        let env_secret = std::env::var("BERTH_ROOT_SECRET_ACCESS_KEY")
            .ok()
            .filter(|s| !s.is_empty());
        let (key, secret, root_secret_source) = match (env_key, env_secret, &mode) {
            (Some(k), Some(s), _) => (k, s, SecretSource::Env),
            (None, None, Mode::Up(_)) => ("test".to_string(), "test".to_string(), SecretSource::Public),
            (None, None, Mode::Server) => server_root_credentials(&data_dir)?,
            _ => anyhow::bail!("set both BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY, or neither"),
        };
        Ok(Self {
            listen: args.listen,
            data_dir,
            account_id: args.account_id,
            regions,
            root_access_key_id: key,
            root_secret_access_key: secret,
            registry_host: args.registry_host,
            agent_grace_period: std::time::Duration::from_secs(args.agent_grace_period_secs),
            ecs_metrics_interval: std::time::Duration::from_secs(args.ecs_metrics_interval_secs),
            root_secret_source,
            tls: match (args.tls_cert, args.tls_key, args.tls) {
                (Some(cert), Some(key), _) => Tls::Files { cert, key },
                (None, None, true) => Tls::Generated,
                (None, None, false) => Tls::Off,
                _ => anyhow::bail!("--tls-cert and --tls-key go together"),
            },
            listener: args.listener.limits(),
            local_agent: match mode {
                Mode::Up(local_agent) => Some(local_agent),
                Mode::Server => None,
            },
            lb_bind: args.lb_bind,
            lb_busy_poll: std::time::Duration::from_micros(args.lb_busy_poll_us),
            lb_slice: std::time::Duration::from_micros(args.lb_slice_us),
            time_scale: args.time_scale,
            fargate_spot_interruption_rate: args.fargate_spot_interruption_rate,
            capacity_hooks: args.capacity_hooks.clone(),
            registry_schedule: args.registry.schedule(),
            registry_pull_through: args.registry.pull_through(),
            ecr_replication_peers: berth_registry::replication::peers::peers(
                &args.registry.ecr_replication_peers,
                &args.registry.ecr_replication_peer_credentials,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?,
            elbv2: !std::env::var("BERTH_ELBV2").is_ok_and(|v| v == "0"),
            _lock: std::sync::Arc::new(lock),
        })
    }
}

/// `berth server` keeps random root credentials in DATA_DIR/root-credentials
/// (mode 0600), generated on first start (the only start that prints the secret).
fn server_root_credentials(data_dir: &std::path::Path) -> anyhow::Result<(String, String, SecretSource)> {
    use rand::Rng;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("root-credentials");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut lines = text.lines();
        if let (Some(k), Some(s)) = (lines.next(), lines.next()) {
            return Ok((k.trim().to_string(), s.trim().to_string(), SecretSource::File(path)));
        }
        anyhow::bail!(
            "{} is malformed: expected the access key id and the secret on two lines",
            path.display()
        );
    }
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const ANY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    let key: String = "AKIA"
        .chars()
        .chain((0..16).map(|_| UPPER[rng.gen_range(0..UPPER.len())] as char))
        .collect();
    let secret: String = (0..40).map(|_| ANY[rng.gen_range(0..ANY.len())] as char).collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(f, "{key}\n{secret}")?;
    f.sync_all()?;
    Ok((key, secret, SecretSource::Generated(path)))
}
