//! The agent process: checks Docker, registers the host, holds the
//! desired-state session (reconnecting with backoff), heartbeats, runs one
//! task engine per task, delivers state changes through the outbox and
//! cleans up stopped tasks' containers after the retention period.

use crate::client::{ApiClient, ApiError, retry_backoff};
use crate::engine::{self, EngineContext, EngineHandle};
use crate::hollow::{self, HollowConfig};
use crate::host::{self, HostFacts, InstanceIdentity};
use crate::labels;
use crate::model::{DesiredState, Report, SessionMessage, Task};
use crate::outbox::{Outbox, OutboxError};
use crate::registry_auth::RegistryAuth;
use crate::runtime::{Runtime, RuntimeError};
use crate::spec;
use crate::state::{AgentState, StateError};
use berth_agent_protocol::Heartbeat;
use berth_core::backoff::Backoff;
use berth_core::time::now_epoch;
use berth_ecs_model::{ClusterStatus, StatusName, TaskStatus};
use berth_proto::sigv4::Credentials;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The Berth endpoint, e.g. `http://127.0.0.1:4600`.
    pub server: String,
    /// The cluster to join (name or ARN).
    pub cluster: String,
    /// Identity, outbox and state live here.
    pub data_dir: PathBuf,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// `--attribute k=v`: custom attributes (and overrides of the built-in ones).
    pub attributes: Vec<(String, String)>,
    /// Default `<region>a`.
    pub availability_zone: Option<String>,
    /// Default `berth.local`.
    pub instance_type: Option<String>,
    /// How long a stopped task's containers stay on the host (default 1 h).
    pub container_retention: Duration,
    /// Default 10 s (docs/agent-protocol.md §3).
    pub heartbeat_interval: Duration,
    /// How often the tasks' Docker stats are sampled and reported
    /// (docs/agent-protocol.md §7; default 20 s).
    pub usage_interval: Duration,
    /// Create the cluster when it does not exist (`berth up` does, for `default`).
    pub create_cluster: bool,
    /// Where the task credentials endpoint listens (default
    /// `127.0.0.1:0`: an ephemeral loopback port).
    pub credentials_listen: std::net::SocketAddr,
    /// PEM certificates to trust for an https:// server (besides the system roots).
    pub ca_bundle: Option<PathBuf>,
    /// CPU units to register (`--cpu`; default the whole host).
    pub cpu: Option<i64>,
    /// MiB of memory to register (`--memory`; default the whole host less
    /// what is kept for it).
    pub memory_mib: Option<i64>,
    /// The subnet awsvpc tasks get their addresses from (`--task-subnet`;
    /// default [`crate::awsvpc::subnet::DEFAULT_TASK_SUBNET`]). Each agent
    /// on a host needs its own.
    pub task_subnet: Option<crate::awsvpc::TaskSubnet>,
    /// The address other hosts route this host's task subnet through
    /// (`--host-address`; default the source address towards the server).
    pub host_address: Option<std::net::Ipv4Addr>,
    /// Warm pause containers the agent keeps for its next awsvpc tasks
    /// (`--warm-pause`; 0: none, each task's is made when it starts).
    pub warm_pause: usize,
}

impl AgentConfig {
    pub fn new(
        server: impl Into<String>,
        cluster: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        region: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        Self {
            server: server.into(),
            cluster: cluster.into(),
            data_dir: data_dir.into(),
            region: region.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
            attributes: Vec::new(),
            availability_zone: None,
            instance_type: None,
            container_retention: Duration::from_secs(3600),
            heartbeat_interval: Duration::from_secs(10),
            usage_interval: crate::usage_sampler::DEFAULT_INTERVAL,
            create_cluster: false,
            credentials_listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            ca_bundle: None,
            cpu: None,
            memory_mib: None,
            task_subnet: None,
            host_address: None,
            warm_pause: crate::awsvpc::warm::DEFAULT_SIZE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Docker(#[from] RuntimeError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("{0}")]
    Config(String),
    /// The server refused the registration for good (e.g. the host's
    /// resources are already held by other agents): retrying cannot help.
    #[error("the server refused to register this agent: {0}")]
    Refused(String),
}

/// Runs the agent until `shutdown` resolves. Fails early (before touching
/// the server) when Docker does not answer or the data dir is unusable.
/// Containers keep running when the agent stops; the next start adopts them.
pub async fn run(mut cfg: AgentConfig, shutdown: impl Future<Output = ()> + Send) -> Result<(), AgentError> {
    let runtime = Runtime::connect().await?;
    let facts = runtime.facts().await?;
    let share = host::share(&facts, cfg.cpu, cfg.memory_mib).map_err(|e| AgentError::Config(e.to_string()))?;
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
        AgentError::Config(format!(
            "cannot create the agent data dir {}: {e}",
            cfg.data_dir.display()
        ))
    })?;
    // One agent per data dir: two agents sharing an identity would run the
    // same container instance and fight over its containers.
    let _lock = lock_data_dir(&cfg.data_dir)?;
    match crate::datadir::tighten(&cfg.data_dir) {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(dir = %cfg.data_dir.display(), tightened = n, "agent data dir: modes tightened to 0700/0600")
        }
        Err(e) => {
            tracing::warn!(dir = %cfg.data_dir.display(), error = %e, "cannot tighten the agent data dir's modes")
        }
    }
    let state = AgentState::load_or_create(&cfg.data_dir)?;
    let (outbox, pending) = Outbox::open(&cfg.data_dir.join("outbox"))?;
    let mut creds = Credentials::new(cfg.access_key_id.clone(), cfg.secret_access_key.clone());
    if let Some(t) = &cfg.session_token {
        creds = creds.with_session_token(t.clone());
    }
    let api = ApiClient::with_ca_bundle(&cfg.server, creds, &cfg.region, cfg.ca_bundle.as_deref())
        .map_err(|e| AgentError::Config(e.to_string()))?;
    let runtime = runtime.with_registry_auth(Arc::new(RegistryAuth::new(api.clone())));
    let port_file = cfg.data_dir.join("credentials-port");
    let credentials =
        crate::credentials::CredentialsEndpoint::start(cfg.credentials_listen, api.clone(), Some(&port_file))
            .await
            .map_err(|e| {
                AgentError::Config(format!(
                    "cannot listen on {} for the task credentials endpoint: {e}",
                    cfg.credentials_listen
                ))
            })?;
    tracing::info!(
        docker = %runtime.host(),
        docker_version = %facts.docker_version,
        server = %api.endpoint(),
        cluster = %cfg.cluster,
        instance_id = %state.instance_id,
        "agent starting"
    );

    credentials.metadata().set_runtime(runtime.clone());
    crate::isolation::Isolation::from_runtimes(&facts.runtimes).announce();
    let awslogs = crate::awslogs::Shippers::new(api.clone(), runtime.clone(), cfg.data_dir.join("awslogs"));
    let subnet = match cfg.task_subnet {
        Some(s) => s,
        None => crate::awsvpc::subnet::DEFAULT_TASK_SUBNET
            .parse()
            .map_err(|e: crate::awsvpc::subnet::SubnetError| AgentError::Config(e.to_string()))?,
    };
    // Registered, so the server can route the other hosts to this one's
    // task subnet (docs/architecture.md "awsvpc").
    let host_address = match cfg.host_address {
        Some(a) => Some(a),
        None => crate::awsvpc::links::source_address(api.endpoint()).await,
    };
    for (name, value) in [
        (crate::awsvpc::plan::ATTR_TASK_SUBNET, Some(subnet.to_string())),
        (
            crate::awsvpc::plan::ATTR_HOST_ADDRESS,
            host_address.map(|a| a.to_string()),
        ),
    ] {
        if let Some(v) = value
            && !cfg.attributes.iter().any(|(k, _)| k == name)
        {
            cfg.attributes.push((name.to_string(), v));
        }
    }
    let network = crate::awsvpc::TaskNetwork::open(runtime.clone(), subnet, state.instance_id.clone(), &cfg.data_dir)
        .map_err(|e| AgentError::Config(e.to_string()))?;
    let network = Arc::new(network);
    let filters = Arc::new(crate::awsvpc::filters::Filters::new(network.clone()));
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    let reporter = tokio::spawn(deliver_reports(api.clone(), outbox, pending, report_rx));
    let mut agent = Agent {
        cfg,
        runtime: Some(runtime),
        hollow: None,
        facts,
        share,
        state,
        api,
        report_tx,
        engines: HashMap::new(),
        ctx: None,
        instance_arn: None,
        credentials: Some(Arc::new(credentials)),
        awslogs: Some(awslogs),
        network: Some(network),
        filters: Some(filters),
    };
    let outcome = tokio::select! {
        _ = shutdown => Ok(()),
        r = agent.main_loop() => r,
    };
    tracing::info!("agent stopping (task containers keep running)");
    // Dropping the engines' handles ends them without touching containers;
    // reports already queued stay in the outbox for the next start.
    for (_, h) in agent.engines.drain() {
        h.abort();
    }
    if let Some(filters) = &agent.filters {
        filters.shutdown().await;
    }
    if let Some(net) = &agent.network {
        net.shutdown().await;
    }
    reporter.abort();
    outcome
}

/// Runs `instances` hollow container instances (see [`crate::hollow`]) in
/// this process until `shutdown` resolves: each is a full agent (its own
/// identity and outbox under `cfg.data_dir/hollow-<i>/`, registration,
/// session, heartbeats, reporter) sharing one HTTP client; none starts a
/// container. Needs about one file descriptor per instance (its session).
pub async fn run_hollow(
    cfg: AgentConfig,
    instances: usize,
    hollow: HollowConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    let mut creds = Credentials::new(cfg.access_key_id.clone(), cfg.secret_access_key.clone());
    if let Some(t) = &cfg.session_token {
        creds = creds.with_session_token(t.clone());
    }
    let api = ApiClient::with_ca_bundle(&cfg.server, creds, &cfg.region, cfg.ca_bundle.as_deref())
        .map_err(|e| AgentError::Config(e.to_string()))?;
    let hollow = Arc::new(hollow);
    let facts = hollow.facts();
    let share = host::share(&facts, cfg.cpu, cfg.memory_mib).map_err(|e| AgentError::Config(e.to_string()))?;
    tracing::info!(server = %api.endpoint(), cluster = %cfg.cluster, instances, "hollow agents starting");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..instances {
        let mut cfg = cfg.clone();
        cfg.data_dir = cfg.data_dir.join(format!("hollow-{i}"));
        // Only the first one creates the cluster.
        cfg.create_cluster &= i == 0;
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            AgentError::Config(format!(
                "cannot create the agent data dir {}: {e}",
                cfg.data_dir.display()
            ))
        })?;
        let state = AgentState::load_or_create(&cfg.data_dir)?;
        let (outbox, pending) = Outbox::open(&cfg.data_dir.join("outbox"))?;
        let (report_tx, report_rx) = mpsc::unbounded_channel();
        let api = api.clone();
        let mut agent = Agent {
            cfg,
            runtime: None,
            hollow: Some(hollow.clone()),
            facts: facts.clone(),
            share,
            state,
            api: api.clone(),
            report_tx,
            engines: HashMap::new(),
            ctx: None,
            instance_arn: None,
            credentials: None,
            awslogs: None,
            network: None,
            filters: None,
        };
        tasks.spawn(async move {
            let reporter = tokio::spawn(deliver_reports(api, outbox, pending, report_rx));
            let r = agent.main_loop().await;
            reporter.abort();
            r
        });
    }
    let outcome = tokio::select! {
        _ = shutdown => Ok(()),
        r = tasks.join_next() => match r {
            Some(Ok(Err(e))) => Err(e),
            _ => Ok(()),
        },
    };
    tracing::info!("hollow agents stopping");
    tasks.abort_all();
    outcome
}

/// Takes an exclusive lock on `DATA_DIR/agent.lock`, held while the returned
/// file lives (the OS releases it when the process dies).
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, AgentError> {
    crate::datadir::lock(dir, "agent.lock", "agent").map_err(|e| AgentError::Config(e.to_string()))
}

struct Agent {
    cfg: AgentConfig,
    /// Docker; `None` for a hollow instance.
    runtime: Option<Runtime>,
    /// Set for a hollow instance: tasks are simulated.
    hollow: Option<Arc<HollowConfig>>,
    facts: HostFacts,
    /// What this agent registers of its host.
    share: host::Share,
    state: AgentState,
    api: ApiClient,
    report_tx: mpsc::UnboundedSender<Report>,
    engines: HashMap<String, EngineHandle>,
    /// The Docker engines' context (`None` for a hollow instance).
    ctx: Option<Arc<EngineContext>>,
    instance_arn: Option<String>,
    /// The task credentials endpoint (`None` for a hollow instance).
    credentials: Option<Arc<crate::credentials::CredentialsEndpoint>>,
    /// The awslogs shippers (`None` for a hollow instance).
    awslogs: Option<Arc<crate::awslogs::Shippers>>,
    /// The awsvpc task network (`None` for a hollow instance).
    network: Option<Arc<crate::awsvpc::TaskNetwork>>,
    /// Its tasks' security-group filters (`None` for a hollow instance).
    filters: Option<Arc<crate::awsvpc::filters::Filters>>,
}

enum SessionEnd {
    /// The stream broke: reconnect.
    Lost(String),
    /// The server does not know the instance any more: register again.
    Rejected(ApiError),
}

impl Agent {
    /// Runs until the server refuses the registration for good.
    async fn main_loop(&mut self) -> Result<(), AgentError> {
        if self.cfg.create_cluster {
            self.ensure_cluster().await;
        }
        let mut backoff = retry_backoff();
        let mut janitor = tokio::time::interval(Duration::from_secs(60));
        janitor.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let arn = self.register().await?;
            self.set_instance(&arn).await;
            loop {
                let heartbeat = tokio::spawn(heartbeats(
                    self.api.clone(),
                    self.cfg.cluster.clone(),
                    arn.clone(),
                    self.cfg.heartbeat_interval,
                ));
                // The hollow runtime has no containers to measure: it reports no usage.
                let sampler = self.runtime.clone().map(|runtime| {
                    tokio::spawn(crate::usage_sampler::run(
                        self.api.clone(),
                        runtime,
                        self.cfg.cluster.clone(),
                        arn.clone(),
                        self.cfg.usage_interval,
                    ))
                });
                // awsvpc tasks' security groups, kept applied on the host.
                let filters = self
                    .filters
                    .clone()
                    .map(|f| tokio::spawn(f.run(self.api.clone(), self.cfg.cluster.clone(), arn.clone())));
                let end = self.session(&arn, &mut backoff, &mut janitor).await;
                heartbeat.abort();
                if let Some(f) = filters {
                    f.abort();
                }
                if let Some(s) = sampler {
                    s.abort();
                }
                match end {
                    SessionEnd::Lost(why) => {
                        let delay = backoff.next_delay();
                        tracing::warn!(reason = %why, retry_in = ?delay, "session lost; reconnecting");
                        tokio::time::sleep(delay).await;
                    }
                    SessionEnd::Rejected(e) => {
                        tracing::warn!(error = %e, "the server refused the session; registering again");
                        tokio::time::sleep(backoff.next_delay()).await;
                        break;
                    }
                }
            }
        }
    }

    async fn ensure_cluster(&self) {
        let mut backoff = retry_backoff();
        loop {
            let described = self
                .api
                .call("DescribeClusters", &json!({"clusters": [self.cfg.cluster]}))
                .await;
            let active = match &described {
                Ok(v) => v["clusters"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["status"] == ClusterStatus::Active.as_str())),
                Err(_) => false,
            };
            if active {
                return;
            }
            if described.is_ok() {
                match self
                    .api
                    .call("CreateCluster", &json!({"clusterName": self.cfg.cluster}))
                    .await
                {
                    Ok(_) => {
                        tracing::info!(cluster = %self.cfg.cluster, "created the cluster");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot create the cluster"),
                }
            } else if let Err(e) = described {
                tracing::debug!(error = %e, "cannot describe the cluster yet");
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    /// Registers (or re-registers with the persisted ARN) until it works,
    /// or until the server refuses a new registration with a
    /// ClientException (retrying the same request cannot help).
    async fn register(&mut self) -> Result<String, AgentError> {
        let identity = InstanceIdentity {
            instance_id: self.state.instance_id.clone(),
            availability_zone: self
                .cfg
                .availability_zone
                .clone()
                .unwrap_or_else(|| format!("{}a", self.cfg.region)),
            instance_type: self.cfg.instance_type.clone().unwrap_or_else(|| "berth.local".into()),
        };
        let mut backoff = retry_backoff();
        let mut use_arn = true;
        loop {
            let previous = if use_arn {
                self.state.arn_for(&self.cfg.cluster).map(str::to_string)
            } else {
                None
            };
            let body = host::registration_request(
                &self.cfg.cluster,
                &self.facts,
                &self.share,
                &identity,
                &self.cfg.attributes,
                previous.as_deref(),
            );
            match self.api.call("RegisterContainerInstance", &body).await {
                Ok(v) => {
                    if let Some(arn) = v["containerInstance"]["containerInstanceArn"].as_str() {
                        tracing::info!(container_instance = %arn, cluster = %self.cfg.cluster, "registered");
                        self.state.cluster = Some(self.cfg.cluster.clone());
                        self.state.container_instance_arn = Some(arn.to_string());
                        if let Err(e) = self.state.save(&self.cfg.data_dir) {
                            tracing::error!(error = %e, "cannot persist the agent identity");
                        }
                        return Ok(arn.to_string());
                    }
                    tracing::warn!(answer = %v, "RegisterContainerInstance answered without an ARN");
                }
                Err(e) if previous.is_some() && e.is_permanent() => {
                    tracing::warn!(error = %e, "re-registration with the saved identity was refused; registering as a new instance");
                    use_arn = false;
                    continue;
                }
                Err(e) if previous.is_none() && e.code() == Some("ClientException") => {
                    tracing::error!(error = %e, "registration refused");
                    return Err(AgentError::Refused(e.to_string()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "registration failed; retrying");
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn set_instance(&mut self, arn: &str) {
        if self.instance_arn.as_deref() == Some(arn) {
            return;
        }
        // A new identity: the old engines belong to the old instance.
        for (_, h) in self.engines.drain() {
            h.abort();
        }
        self.instance_arn = Some(arn.to_string());
        let Some(runtime) = &self.runtime else { return };
        self.ctx = Some(Arc::new(EngineContext {
            runtime: runtime.clone(),
            cluster: self.cfg.cluster.clone(),
            instance_arn: arn.to_string(),
            extra_labels: BTreeMap::new(),
            reports: self.report_tx.clone(),
            recheck_interval: Duration::from_secs(5),
            api: Some(self.api.clone()),
            credentials: self.credentials.clone(),
            awslogs: self.awslogs.clone(),
            network: self.network.clone(),
            isolation: crate::isolation::Isolation::from_runtimes(&self.facts.runtimes),
            task_cgroups: crate::task_cgroup::TaskCgroups::for_docker(
                self.facts.cgroup_driver.as_deref(),
                self.facts.cgroup_version.as_deref(),
            ),
        }));
        if let Some(net) = self.network.clone() {
            let owner = crate::awsvpc::WarmOwner {
                cluster: self.cfg.cluster.clone(),
                instance_arn: arn.to_string(),
                extra_labels: BTreeMap::new(),
            };
            // Awaited: the warm containers an earlier run left are adopted
            // (or removed) before the session brings tasks.
            net.start_warm(owner, self.cfg.warm_pause).await;
        }
        if let Some(shippers) = self.awslogs.clone() {
            // Output printed while the agent was away is shipped now.
            let arn = arn.to_string();
            tokio::spawn(async move { shippers.resume(&arn).await });
        }
    }

    /// Holds one session until it ends.
    async fn session(&mut self, arn: &str, backoff: &mut Backoff, janitor: &mut tokio::time::Interval) -> SessionEnd {
        let mut resp = match self.api.open_session(&self.cfg.cluster, arn).await {
            Ok(r) => r,
            Err(e) if e.is_permanent() => return SessionEnd::Rejected(e),
            Err(e) => return SessionEnd::Lost(e.to_string()),
        };
        tracing::info!(container_instance = %arn, "session open");
        backoff.reset();
        let mut buf: Vec<u8> = Vec::new();
        // Keepalives come every 5 s: three missed ones mean a dead connection.
        let silence = Duration::from_secs(15);
        loop {
            tokio::select! {
                chunk = tokio::time::timeout(silence, resp.chunk()) => {
                    let chunk = match chunk {
                        Err(_) => return SessionEnd::Lost("no message for 15 s".into()),
                        Ok(Err(e)) => return SessionEnd::Lost(e.to_string()),
                        Ok(Ok(None)) => return SessionEnd::Lost("the server closed the stream".into()),
                        Ok(Ok(Some(c))) => c,
                    };
                    buf.extend_from_slice(&chunk);
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        let line = String::from_utf8_lossy(&line);
                        let line = line.trim();
                        if line.is_empty() {
                            continue;
                        }
                        match serde_json::from_str::<SessionMessage>(line) {
                            Ok(SessionMessage::Desired(d)) => self.converge(d).await,
                            Ok(SessionMessage::Keepalive { .. }) | Ok(SessionMessage::Unknown) => {}
                            Err(e) => tracing::warn!(error = %e, "unreadable session message"),
                        }
                    }
                }
                _ = janitor.tick() => {
                    self.record_finished();
                    self.clean_up().await;
                }
            }
        }
    }

    /// Makes the host match a desired-state snapshot.
    async fn converge(&mut self, desired: DesiredState) {
        if self.instance_arn.is_none() {
            return;
        }
        tracing::debug!(
            revision = desired.revision,
            tasks = desired.tasks.len(),
            "desired state"
        );
        self.record_finished();
        let wanted: BTreeSet<String> = desired.tasks.iter().map(|t| t.task_arn.clone()).collect();
        for task in desired.tasks {
            if self.state.finished_tasks.contains_key(&task.task_arn) {
                continue;
            }
            match self.engines.get(&task.task_arn) {
                Some(h) => h.update(task),
                None => {
                    tracing::info!(task = %task.task_arn, desired = ?task.desired_status, "new task");
                    let arn = task.task_arn.clone();
                    let handle = match (&self.hollow, &self.ctx) {
                        (Some(h), _) => {
                            hollow::spawn(h.clone(), self.cfg.cluster.clone(), self.report_tx.clone(), task)
                        }
                        (None, Some(ctx)) => engine::spawn(ctx.clone(), task),
                        (None, None) => continue,
                    };
                    self.engines.insert(arn, handle);
                }
            }
        }
        // Tasks the server no longer sends: stop what still runs.
        for (arn, h) in &self.engines {
            if !wanted.contains(arn) && !h.is_finished() {
                h.update(Task {
                    task_arn: arn.clone(),
                    desired_status: Some(TaskStatus::Stopped),
                    ..Task::default()
                });
            }
        }
        self.engines.retain(|arn, h| wanted.contains(arn) || !h.is_finished());
        // The server forgets tasks once it has our STOPPED report.
        let before = self.state.finished_tasks.len();
        self.state.finished_tasks.retain(|arn, _| wanted.contains(arn));
        if self.state.finished_tasks.len() != before {
            self.save_state();
        }
        self.stop_orphans(&wanted).await;
        if let (Some(net), Some(arn)) = (&self.network, &self.instance_arn) {
            net.collect(arn, |t| wanted.contains(t) || self.engines.contains_key(t))
                .await;
        }
    }

    /// Remembers the tasks whose engines have reported STOPPED.
    fn record_finished(&mut self) {
        let mut changed = false;
        for (arn, h) in &self.engines {
            if let Some(at) = h.finished_at()
                && !self.state.finished_tasks.contains_key(arn)
            {
                self.state.finished_tasks.insert(arn.clone(), at);
                changed = true;
            }
        }
        if changed {
            self.save_state();
        }
    }

    fn save_state(&self) {
        if let Err(e) = self.state.save(&self.cfg.data_dir) {
            tracing::error!(error = %e, "cannot save the agent state");
        }
    }

    /// Containers of this instance whose task the server does not know
    /// (any more) are stopped.
    async fn stop_orphans(&self, wanted: &BTreeSet<String>) {
        let Some(ctx) = &self.ctx else { return };
        let Ok(containers) = ctx.runtime.list(&[(labels::LABEL_INSTANCE, &ctx.instance_arn)]).await else {
            return;
        };
        for c in containers {
            let labels = c.labels.clone().unwrap_or_default();
            let Some(task) = labels.get(labels::LABEL_TASK_ARN) else {
                continue;
            };
            let running = c.state.as_ref().is_some_and(|s| s.to_string() == "running");
            if !running || wanted.contains(task) || self.engines.contains_key(task) {
                continue;
            }
            let (Some(id), runtime) = (c.id.clone(), ctx.runtime.clone()) else {
                continue;
            };
            tracing::info!(task = %task, container = %id, "stopping a container of a task the server does not know");
            tokio::spawn(async move {
                if let Err(e) = runtime.stop(&id, spec::DEFAULT_STOP_TIMEOUT).await {
                    tracing::warn!(container = %id, error = %e, "cannot stop an orphan container");
                }
            });
        }
    }

    /// Removes the containers (and task volumes) of tasks stopped longer
    /// than the retention period.
    async fn clean_up(&mut self) {
        let Some(ctx) = self.ctx.clone() else { return };
        let Ok(containers) = ctx.runtime.list(&[(labels::LABEL_INSTANCE, &ctx.instance_arn)]).await else {
            return;
        };
        let mut by_task: BTreeMap<String, Vec<bollard::models::ContainerSummary>> = BTreeMap::new();
        for c in containers {
            if let Some(t) = c.labels.as_ref().and_then(|l| l.get(labels::LABEL_TASK_ARN)).cloned() {
                by_task.entry(t).or_default().push(c);
            }
        }
        let now = now_epoch();
        let retention = self.cfg.container_retention.as_secs_f64();
        for (task, containers) in by_task {
            if self.engines.get(&task).is_some_and(|h| !h.is_finished()) {
                continue;
            }
            if containers
                .iter()
                .any(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running"))
            {
                continue;
            }
            let finished = match self.state.finished_tasks.get(&task) {
                Some(at) => *at,
                None => latest_finish(&ctx.runtime, &containers).await.unwrap_or(now),
            };
            if now - finished < retention {
                continue;
            }
            tracing::info!(task = %task, "removing the containers of a task stopped more than the retention period ago");
            for c in &containers {
                if let Some(id) = &c.id
                    && let Err(e) = ctx.runtime.remove_container(id).await
                {
                    tracing::warn!(container = %id, error = %e, "cannot remove");
                }
            }
            if let Ok(vols) = ctx
                .runtime
                .list_volumes(&[
                    (labels::LABEL_TASK_ARN, &task),
                    (labels::LABEL_INSTANCE, &ctx.instance_arn),
                ])
                .await
            {
                for (name, _) in vols {
                    if let Err(e) = ctx.runtime.remove_volume(&name).await {
                        tracing::warn!(volume = %name, error = %e, "cannot remove a task volume");
                    }
                }
            }
            if let Some(h) = self.engines.get(&task)
                && h.is_finished()
                && !self.state.finished_tasks.contains_key(&task)
            {
                self.engines.remove(&task);
            }
        }
    }
}

/// When the last of these containers exited (epoch seconds).
async fn latest_finish(runtime: &Runtime, containers: &[bollard::models::ContainerSummary]) -> Option<f64> {
    let mut latest: Option<f64> = None;
    for c in containers {
        let Some(id) = &c.id else { continue };
        let Ok(Some(info)) = runtime.inspect(id).await else {
            continue;
        };
        let at = info
            .state
            .and_then(|s| s.finished_at)
            .and_then(|t| berth_core::time::parse_rfc3339(&t))
            .map(|t| t.unix_timestamp() as f64);
        latest = match (latest, at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    latest
}

/// `BerthHeartbeat` every interval, for as long as the session lives.
async fn heartbeats(api: ApiClient, cluster: String, arn: String, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        if let Err(e) = api
            .call(
                "BerthHeartbeat",
                &json!(Heartbeat {
                    cluster: Some(cluster.clone()),
                    container_instance: arn.clone(),
                }),
            )
            .await
        {
            tracing::warn!(error = %e, "heartbeat failed");
        }
    }
}

/// Delivers state changes in order, each retried with backoff until the
/// server ACKs it (or refuses it for good). Every report is in the outbox
/// before the first attempt.
async fn deliver_reports(
    api: ApiClient,
    mut outbox: Outbox,
    pending: Vec<(u64, Report)>,
    mut rx: mpsc::UnboundedReceiver<Report>,
) {
    let mut queue: VecDeque<(Option<u64>, Report)> = pending.into_iter().map(|(s, r)| (Some(s), r)).collect();
    let mut backoff = retry_backoff();
    loop {
        while let Ok(r) = rx.try_recv() {
            store(&mut outbox, r, &mut queue);
        }
        let Some((seq, report)) = queue.front().cloned() else {
            match rx.recv().await {
                Some(r) => store(&mut outbox, r, &mut queue),
                None => return,
            }
            continue;
        };
        match api.call(report.operation(), &report.body()).await {
            Ok(_) => {
                backoff.reset();
            }
            Err(e) if e.is_permanent() => {
                tracing::warn!(operation = report.operation(), task = report.task_arn(), error = %e, "the server refused a state change; dropping it");
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(operation = report.operation(), task = report.task_arn(), error = %e, retry_in = ?delay, "cannot deliver a state change");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    r = rx.recv() => if let Some(r) = r { store(&mut outbox, r, &mut queue) },
                }
                continue;
            }
        }
        if let Some(seq) = seq {
            outbox.remove(seq);
        }
        queue.pop_front();
    }
}

fn store(outbox: &mut Outbox, r: Report, queue: &mut VecDeque<(Option<u64>, Report)>) {
    let seq = match outbox.push(&r) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot store a state change on disk; keeping it in memory");
            None
        }
    };
    queue.push_back((seq, r));
}

#[cfg(test)]
mod tests;
