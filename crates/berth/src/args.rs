//! The command-line flags of `berth up`, `berth server` and `berth agent`
//! (clap), with their environment variables and defaults.

use crate::serve;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args, Clone, Debug)]
pub struct AgentArgs {
    /// The Berth endpoint, e.g. http://10.0.0.5:4600.
    #[arg(long, env = "BERTH_SERVER")]
    pub(crate) server: String,
    /// The cluster to join.
    #[arg(long, default_value = "default", env = "BERTH_CLUSTER")]
    pub(crate) cluster: String,
    /// Where the agent keeps its identity and undelivered state changes.
    #[arg(long, default_value = ".berth-agent", env = "BERTH_AGENT_DATA_DIR")]
    pub(crate) data_dir: PathBuf,
    /// A custom attribute of the container instance (repeatable).
    #[arg(long = "attribute", value_name = "NAME=VALUE", value_parser = berth_agent::host::parse_attribute)]
    pub(crate) attributes: Vec<(String, String)>,
    /// The region to sign requests for.
    #[arg(long, default_value = "us-east-1", env = "AWS_DEFAULT_REGION")]
    pub(crate) region: String,
    /// The ecs.availability-zone attribute (default: <region>a).
    #[arg(long)]
    pub(crate) availability_zone: Option<String>,
    /// The ecs.instance-type attribute (default: berth.local).
    #[arg(long)]
    pub(crate) instance_type: Option<String>,
    /// How long stopped tasks' containers stay on the host (e.g. 30m, 1h).
    #[arg(long, default_value = "1h", value_parser = berth_agent::host::parse_duration)]
    pub(crate) container_retention: std::time::Duration,
    /// PEM CA certificates to trust for an https:// --server (besides the system roots).
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub(crate) ca_bundle: Option<PathBuf>,
    /// Where the task credentials endpoint listens (task roles; containers of
    /// host-network-mode tasks reach it on the loopback interface).
    #[arg(long, default_value = "127.0.0.1:0", env = "BERTH_CREDENTIALS_LISTEN")]
    pub(crate) credentials_listen: SocketAddr,
    /// `docker` runs tasks; `hollow` simulates them without containers (benchmarks).
    #[arg(long, default_value = "docker", value_parser = ["docker", "hollow"])]
    pub(crate) runtime: String,
    /// With --runtime hollow: how many container instances this process simulates
    /// (each under DATA_DIR/hollow-<i>/; needs about one open file per instance).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) instances: u32,
    /// With --runtime hollow: a task's start and stop delay in ms, `MS` or `MIN-MAX`.
    #[arg(long, default_value = "50-200", value_parser = berth_agent::hollow::parse_delay_range)]
    pub(crate) hollow_delay: (std::time::Duration, std::time::Duration),
    /// With --runtime hollow: cores each instance registers.
    #[arg(long, default_value_t = 4)]
    pub(crate) hollow_cores: i64,
    /// With --runtime hollow: memory of each simulated host in MiB.
    #[arg(long, default_value_t = 16384)]
    pub(crate) hollow_memory_mib: i64,
    /// CPU units this agent registers (1024 per core; default: the whole host).
    /// Agents sharing a host need shares that add up to no more than the host.
    #[arg(long = "cpu", value_name = "UNITS", env = "BERTH_AGENT_CPU", value_parser = clap::value_parser!(i64).range(1..))]
    pub(crate) cpu: Option<i64>,
    /// MiB of memory this agent registers (default: the host's memory less 5 %, at least 256 MiB, kept for the host).
    #[arg(long = "memory", value_name = "MIB", env = "BERTH_AGENT_MEMORY", value_parser = clap::value_parser!(i64).range(1..))]
    pub(crate) memory_mib: Option<i64>,
    /// The IPv4 subnet (/16 to /28) awsvpc tasks get their addresses from (default 10.213.0.0/24).
    /// Agents sharing a host need subnets of their own.
    #[arg(long, value_name = "CIDR", env = "BERTH_TASK_SUBNET", value_parser = parse_task_subnet)]
    pub(crate) task_subnet: Option<berth_agent::awsvpc::TaskSubnet>,
    /// The IPv4 address other hosts reach this host's awsvpc tasks through (the agents route each
    /// other's task subnets to it; default: this host's source address towards the server).
    #[arg(long, value_name = "IPV4", env = "BERTH_HOST_ADDRESS")]
    pub(crate) host_address: Option<std::net::Ipv4Addr>,
    /// Pause containers kept warm for the next awsvpc/FARGATE tasks (made ahead of need once the
    /// agent has run one, so a task starts one container, its own); 0: each task's is made when it starts.
    #[arg(long, value_name = "N", default_value_t = 1, env = "BERTH_WARM_PAUSE", value_parser = clap::value_parser!(u8).range(0..=16))]
    pub(crate) warm_pause: u8,
    /// Seconds between two reports of the tasks' CPU and memory use (Docker stats) to the server.
    #[arg(long, default_value_t = 20, env = "BERTH_AGENT_USAGE_INTERVAL_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) usage_interval_secs: u64,
    /// A Fargate host: never listed as a container instance, runs only the
    /// cluster's FARGATE tasks (which then run on Fargate hosts only).
    #[arg(long, env = "BERTH_AGENT_FARGATE")]
    pub(crate) fargate: bool,
    /// The host group this agent belongs to (instance attribute berth.host-group): the tasks of a
    /// custom capacity provider whose autoScalingGroupArn names the group run on its agents.
    #[arg(long, env = "BERTH_AGENT_HOST_GROUP", value_name = "NAME", value_parser = berth_ecs::capacity_hook::parse_host_group)]
    pub(crate) host_group: Option<String>,
}

#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4600", env = "BERTH_LISTEN")]
    pub(crate) listen: SocketAddr,
    /// Where state is kept (default ./.berth).
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The AWS account id Berth answers as.
    #[arg(long, default_value = "000000000000", env = "BERTH_ACCOUNT_ID")]
    pub(crate) account_id: String,
    /// The AWS region Berth answers as (one; see --regions for several; default us-east-1).
    #[arg(long, env = "BERTH_REGION", conflicts_with = "regions")]
    pub(crate) region: Option<String>,
    /// The AWS regions Berth serves, comma-separated (e.g. us-east-1,eu-west-1); the first is the
    /// default. A request signed for any other region is refused.
    #[arg(long, env = "BERTH_REGIONS", value_delimiter = ',', value_name = "REGION,…")]
    pub(crate) regions: Vec<String>,
    /// Seconds an instance's agent may stay disconnected before its tasks are marked STOPPED.
    #[arg(long, default_value_t = 60, env = "BERTH_AGENT_GRACE_PERIOD_SECS")]
    pub(crate) agent_grace_period_secs: u64,
    /// Seconds between two publications of the AWS/ECS utilization and reservation metrics and of the
    /// load balancers' AWS/ApplicationELB and AWS/NetworkELB metrics (ECS and ELB: 60; shorter for tests).
    #[arg(long, default_value_t = 60, env = "BERTH_ECS_METRICS_INTERVAL_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) ecs_metrics_interval_secs: u64,
    /// The host[:port] clients use for the registry (repository URIs, docker login); default: the listen address.
    #[arg(long, env = "BERTH_REGISTRY_HOST")]
    pub(crate) registry_host: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key", conflicts_with = "tls")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve HTTPS with a CA and server certificate generated into DATA_DIR/tls/ (reused on later starts).
    #[arg(long)]
    pub(crate) tls: bool,
    /// The address the load balancers' listeners bind (ELBv2; default 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1", env = "BERTH_LB_BIND", value_name = "ADDR")]
    pub(crate) lb_bind: std::net::IpAddr,
    /// The load balancers' worker threads poll busily for this many microseconds before they
    /// sleep while traffic is steady: a lower tail latency for some CPU (0: off; up to 1000).
    #[arg(long, default_value_t = berth_lb_proxy::busy_poll::DEFAULT_BUDGET_US, env = "BERTH_LB_BUSY_POLL_US",
          value_name = "MICROSECONDS",
          value_parser = clap::value_parser!(u64).range(0..=berth_lb_proxy::busy_poll::MAX_BUDGET_US))]
    pub(crate) lb_busy_poll_us: u64,
    /// The CPU slice the load balancers' worker threads ask of Linux's scheduler (6.12 and later):
    /// a shorter one runs them sooner after they wake (0: the kernel's default; 100 to 100000).
    #[arg(long, default_value_t = berth_lb_proxy::cpu_slice::DEFAULT_SLICE_US, env = "BERTH_LB_SLICE_US",
          value_name = "MICROSECONDS", value_parser = parse_lb_slice_us)]
    pub(crate) lb_slice_us: u64,
    /// Count AWS minutes N times faster (alarm periods and evaluation; for tests): 1 (default) to 60.
    #[arg(long, default_value = "1", env = "BERTH_TIME_SCALE", value_name = "N")]
    pub(crate) time_scale: berth_core::time_scale::TimeScale,
    /// Chaos runs: interrupt FARGATE_SPOT tasks at random, this many times per task-hour on average (0: off, the default).
    #[arg(long, default_value = "0", env = "BERTH_FARGATE_SPOT_INTERRUPTION_RATE", value_name = "PER_HOUR", value_parser = berth_ecs_model::task::parse_interruption_rate)]
    pub(crate) fargate_spot_interruption_rate: f64,
    /// Managed scaling: the command run (never through a shell) when a custom capacity provider over
    /// host group GROUP needs more hosts or fewer, with BERTH_HOST_GROUP, BERTH_CLUSTER,
    /// BERTH_DESIRED_CAPACITY, BERTH_CURRENT_CAPACITY and, on a scale-in, the hosts to stop in
    /// BERTH_REMOVE_INSTANCES (instance ids) in its environment; repeatable, one per group.
    #[arg(long = "capacity-hook", value_name = "GROUP=COMMAND", value_parser = berth_ecs::capacity_hook::parse_capacity_hook)]
    pub(crate) capacity_hooks: Vec<berth_ecs::capacity_hook::CapacityHook>,
    #[command(flatten)]
    pub(crate) listener: ListenerArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

/// The registry's background work: lifecycle policies, garbage collection.
#[derive(Args, Clone, Debug)]
pub struct RegistryArgs {
    /// Seconds between two evaluations of the ECR lifecycle policies (ECR evaluates within 24 hours).
    #[arg(long, default_value_t = 3600, env = "BERTH_LIFECYCLE_INTERVAL_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) lifecycle_interval_secs: u64,
    /// For tests only: lifecycle rules count days as if the clock were this many seconds ahead (0: real time).
    #[arg(long, default_value_t = 0, env = "BERTH_LIFECYCLE_CLOCK_OFFSET_SECS")]
    pub(crate) lifecycle_clock_offset_secs: u64,
    /// Seconds between two garbage collections of unreferenced registry blobs (0: only `berth registry gc`).
    #[arg(long, default_value_t = 3600, env = "BERTH_REGISTRY_GC_INTERVAL_SECS")]
    pub(crate) registry_gc_interval_secs: u64,
    /// Blobs uploaded, linked or checked for less than this many seconds are never collected
    /// (longer than a push takes, from its first blob to its manifest).
    #[arg(long, default_value_t = 3600, env = "BERTH_REGISTRY_GC_GRACE_SECS")]
    pub(crate) registry_gc_grace_secs: u64,
    /// An upstream registry ECR pull-through cache rules may name, [http://|https://]HOST[:PORT]
    /// (https when no scheme is given); repeat the flag, or separate with commas. None by default.
    #[arg(long = "pull-through-upstream", value_name = "URL", env = "BERTH_PULL_THROUGH_UPSTREAMS",
          value_delimiter = ',', value_parser = parse_upstream)]
    pub(crate) pull_through_upstreams: Vec<berth_registry::pull_through::AllowedUpstream>,
    /// Seconds a pulled-through tag is served from the cache before it is checked upstream again (ECR: 24 hours).
    #[arg(long, default_value_t = 86400, env = "BERTH_PULL_THROUGH_REFRESH_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) pull_through_refresh_secs: u64,
    /// ECR cross-account replication: the Berth server serving another account, ACCOUNT=URL
    /// (http[s]://HOST[:PORT]); repeat the flag, or separate with commas. None by default.
    #[arg(long = "ecr-replication-peer", value_name = "ACCOUNT=URL", env = "BERTH_ECR_REPLICATION_PEERS",
          value_delimiter = ',', value_parser = berth_registry::replication::peers::parse_peer)]
    pub(crate) ecr_replication_peers: Vec<(String, String)>,
    /// The credentials this server signs with at a peer, ACCOUNT=ACCESS_KEY_ID:SECRET_FILE (an IAM user of
    /// that account; the file holds its secret access key and must be mode 0600).
    #[arg(long = "ecr-replication-peer-credentials", value_name = "ACCOUNT=ACCESS_KEY_ID:SECRET_FILE",
          env = "BERTH_ECR_REPLICATION_PEER_CREDENTIALS", value_delimiter = ',',
          value_parser = berth_registry::replication::peers::parse_peer_credentials)]
    pub(crate) ecr_replication_peer_credentials: Vec<(String, String, String)>,
}

/// `--pull-through-upstream`: [http://|https://]HOST[:PORT].
fn parse_upstream(s: &str) -> Result<berth_registry::pull_through::AllowedUpstream, String> {
    berth_registry::pull_through::AllowedUpstream::parse(s)
}

impl RegistryArgs {
    pub(crate) fn pull_through(&self) -> berth_registry::pull_through::PullThroughSettings {
        berth_registry::pull_through::PullThroughSettings {
            upstreams: berth_registry::pull_through::Upstreams(self.pull_through_upstreams.clone()),
            refresh: std::time::Duration::from_secs(self.pull_through_refresh_secs),
        }
    }

    pub(crate) fn schedule(&self) -> berth_registry::Schedule {
        berth_registry::Schedule {
            lifecycle_interval: std::time::Duration::from_secs(self.lifecycle_interval_secs),
            lifecycle_clock_offset_secs: self.lifecycle_clock_offset_secs,
            gc_interval: (self.registry_gc_interval_secs > 0)
                .then(|| std::time::Duration::from_secs(self.registry_gc_interval_secs)),
            gc_grace: std::time::Duration::from_secs(self.registry_gc_grace_secs),
        }
    }
}

/// `berth up`: the server's flags and its local agent's.
#[derive(Args, Clone, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub local_agent: LocalAgentArgs,
}

/// `berth up`'s local agent.
#[derive(Args, Clone, Debug)]
pub struct LocalAgentArgs {
    /// The cluster the local agent joins (created if missing). One agent serves
    /// one cluster: for another cluster on this host, run a `berth agent` with a share.
    #[arg(long, default_value = "default", env = "BERTH_CLUSTER", value_parser = parse_cluster_name)]
    pub(crate) cluster: String,
    /// CPU units the local agent registers (1024 per core; default: the whole host).
    #[arg(long, value_name = "UNITS", env = "BERTH_AGENT_CPU", value_parser = clap::value_parser!(i64).range(1..))]
    pub(crate) agent_cpu: Option<i64>,
    /// MiB of memory the local agent registers (default: the host's, less what is kept for the host).
    #[arg(long, value_name = "MIB", env = "BERTH_AGENT_MEMORY", value_parser = clap::value_parser!(i64).range(1..))]
    pub(crate) agent_memory: Option<i64>,
    /// The IPv4 subnet (/16 to /28) the local agent's awsvpc tasks get their addresses from
    /// (default 10.213.0.0/24).
    #[arg(long, value_name = "CIDR", env = "BERTH_TASK_SUBNET", value_parser = parse_task_subnet)]
    pub(crate) task_subnet: Option<berth_agent::awsvpc::TaskSubnet>,
    /// Pause containers the local agent keeps warm for the next awsvpc/FARGATE tasks (made ahead of
    /// need once it has run one, so a task starts one container, its own); 0: none.
    #[arg(long, value_name = "N", default_value_t = 1, env = "BERTH_WARM_PAUSE", value_parser = clap::value_parser!(u8).range(0..=16))]
    pub(crate) warm_pause: u8,
    /// Seconds between two reports of the local agent's task usage (Docker stats) to the server.
    #[arg(long, default_value_t = 20, env = "BERTH_AGENT_USAGE_INTERVAL_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) agent_usage_interval_secs: u64,
}

/// `--lb-slice-us`: 0 (the kernel's slice), or a slice Linux grants.
fn parse_lb_slice_us(s: &str) -> Result<u64, String> {
    use berth_lb_proxy::cpu_slice::{MAX_SLICE_US, MIN_SLICE_US};
    let us: u64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of microseconds"))?;
    if us == 0 || (MIN_SLICE_US..=MAX_SLICE_US).contains(&us) {
        Ok(us)
    } else {
        Err(format!(
            "{us} µs: give 0 (the kernel's slice) or {MIN_SLICE_US} to {MAX_SLICE_US}, the slices Linux grants"
        ))
    }
}

/// `--task-subnet`: an IPv4 CIDR block from /16 to /28.
fn parse_task_subnet(s: &str) -> Result<berth_agent::awsvpc::TaskSubnet, String> {
    s.parse()
        .map_err(|e: berth_agent::awsvpc::subnet::SubnetError| e.to_string())
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
    pub(crate) max_connections: u32,
    /// Once half the connections are taken, one IP address (loopback excepted) gets at most this many (0: no limit).
    #[arg(long, default_value_t = 256, env = "BERTH_MAX_CONNECTIONS_PER_IP")]
    pub(crate) max_connections_per_ip: u32,
    /// Seconds a client has to send a request's headers (the first one, TLS handshake included, and each next one on a keep-alive connection).
    #[arg(long, default_value_t = 10, env = "BERTH_HEADER_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) header_timeout_secs: u64,
    /// Seconds a connection may stay with no request in flight and no traffic before it is closed.
    #[arg(long, default_value_t = 60, env = "BERTH_IDLE_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) idle_timeout_secs: u64,
    /// A request body arriving slower than this many bytes/s (over --body-rate-window-secs of waiting) is cut with 408.
    #[arg(long, default_value_t = 1024, env = "BERTH_BODY_MIN_RATE")]
    pub(crate) body_min_rate: u64,
    /// The window --body-min-rate is measured over, in seconds.
    #[arg(long, default_value_t = 10, env = "BERTH_BODY_RATE_WINDOW_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) body_rate_window_secs: u64,
}

impl ListenerArgs {
    pub(crate) fn limits(&self) -> serve::Limits {
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
