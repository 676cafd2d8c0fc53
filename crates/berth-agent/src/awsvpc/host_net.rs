//! The host side of awsvpc (IO): the agent's task bridge and host table
//! ([`super::plan`]), the pause image, each task's pause container and
//! interface, the routes to peer hosts' task subnets, and the lease file
//! (`awsvpc-leases.json` in the agent's data dir).
//!
//! Everything is idempotent: attaching a task twice (a restarted agent)
//! finds its lease, its running pause container and its interface; the
//! bridge and the image are made once and reused; the routes found on the
//! host (tagged [`super::plan::ROUTE_PROTO`]) are the starting point.

use super::ipam::{Exhausted, Lease, Leases};
use super::links;
use super::pause::{self, PAUSE_ARCH, PAUSE_IMAGE, PAUSE_PATH};
use super::plan::{self, Peers, Place};
use super::subnet::TaskSubnet;
use super::warm::Pool;
use crate::labels::{LABEL_CONTAINER_NAME, LABEL_INSTANCE, LABEL_TASK_ARN};
use crate::model::Task;
use crate::runtime::{Runtime, message};
use bollard::errors::Error as DockerError;
use bollard::models::ContainerStateStatusEnum;
use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

pub use crate::labels::LABEL_NETWORK_OWNER;
/// The file the leases are kept in, in the agent's data dir.
pub const LEASE_FILE: &str = "awsvpc-leases.json";

#[derive(Debug, thiserror::Error)]
pub enum TaskNetworkError {
    #[error(transparent)]
    Exhausted(#[from] Exhausted),
    #[error(
        "the task subnet {subnet} is used on this host by the network '{network}' of another running Berth \
         agent ({owner}): give each agent on a host its own --task-subnet"
    )]
    Taken {
        subnet: String,
        network: String,
        owner: String,
    },
    #[error("awsvpc tasks need the pause program, written for {PAUSE_ARCH}; this host is {0}")]
    Arch(String),
    #[error("Docker: {0}")]
    Docker(String),
    #[error("the task's interface: {0}")]
    Link(String),
    #[error("cannot keep the address leases in {path}: {error}")]
    Leases { path: String, error: String },
}

impl From<DockerError> for TaskNetworkError {
    fn from(e: DockerError) -> Self {
        TaskNetworkError::Docker(message(&e))
    }
}

fn status(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// A task's interface, up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub lease: Lease,
    /// The pause container's main process: its network namespace is the
    /// task's.
    pub pid: u32,
}

/// A task's pause container and lease, its interface not set up yet.
#[derive(Debug)]
pub struct Pause {
    lease: Lease,
    name: String,
    state: PauseState,
}

#[derive(Debug)]
enum PauseState {
    /// Created by this call: its id.
    Created(String),
    /// Running already (a restarted agent): its main process.
    Running(i64),
    /// A warm container claimed for the task: running, its namespace
    /// still empty (no interface yet).
    Claimed(i64),
}

/// The awsvpc network of one agent.
pub struct TaskNetwork {
    pub(super) runtime: Runtime,
    subnet: TaskSubnet,
    /// The agent's persistent id: the network's owner label.
    pub(super) owner: String,
    lease_file: PathBuf,
    pub(super) leases: Mutex<Leases>,
    /// The warm pause containers ([`super::warm`]).
    pub(super) pool: std::sync::Mutex<Pool>,
    /// Whose the warm containers are (set once the agent is registered).
    pub(super) warm_owner: std::sync::Mutex<Option<super::warm::WarmOwner>>,
    /// The warm containers being made (awaited by a stopping agent).
    pub(super) fills: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The bridge, the host table and the pause image exist (checked once
    /// per agent run).
    ready: Mutex<bool>,
    /// The peer hosts' task subnets routed now (`None`: not read from the
    /// host yet).
    routes: Mutex<Option<Peers>>,
}

impl TaskNetwork {
    /// Reads the leases kept in `data_dir` (none yet: empty).
    pub fn open(
        runtime: Runtime,
        subnet: TaskSubnet,
        owner: impl Into<String>,
        data_dir: &Path,
    ) -> Result<Self, TaskNetworkError> {
        let lease_file = data_dir.join(LEASE_FILE);
        let leases = match std::fs::read(&lease_file) {
            Ok(bytes) => serde_json::from_slice::<Leases>(&bytes)
                .map_err(|e| TaskNetworkError::Leases {
                    path: lease_file.display().to_string(),
                    error: e.to_string(),
                })?
                .for_subnet(&subnet),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Leases::new(&subnet),
            Err(e) => {
                return Err(TaskNetworkError::Leases {
                    path: lease_file.display().to_string(),
                    error: e.to_string(),
                });
            }
        };
        Ok(Self {
            runtime,
            subnet,
            owner: owner.into(),
            lease_file,
            leases: Mutex::new(leases),
            pool: std::sync::Mutex::new(Pool::new(super::warm::DEFAULT_SIZE)),
            warm_owner: std::sync::Mutex::new(None),
            fills: std::sync::Mutex::new(Vec::new()),
            ready: Mutex::new(false),
            routes: Mutex::new(None),
        })
    }

    pub fn subnet(&self) -> &TaskSubnet {
        &self.subnet
    }

    /// The agent's persistent id (the network's owner).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The address of each task holding one, by task ARN.
    pub async fn leased(&self) -> BTreeMap<String, std::net::Ipv4Addr> {
        let leases = self.leases.lock().await;
        leases.tasks.iter().map(|(arn, l)| (arn.clone(), l.ip)).collect()
    }

    /// Whether any task holds an address.
    pub async fn in_use(&self) -> bool {
        !self.leases.lock().await.tasks.is_empty()
    }

    pub(super) fn save(&self, leases: &Leases) -> Result<(), TaskNetworkError> {
        let err = |e: std::io::Error| TaskNetworkError::Leases {
            path: self.lease_file.display().to_string(),
            error: e.to_string(),
        };
        // Written whole, synced, then renamed over the old file: a crash
        // leaves the old leases or the new ones, never a torn file.
        let tmp = self.lease_file.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(leases).unwrap_or_default();
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(&body).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &self.lease_file).map_err(err)
    }

    /// Removes the Docker network an earlier Berth version made for the
    /// subnet (its bridge has the same name) when no container uses it.
    async fn retire_docker_network(&self) -> Result<(), TaskNetworkError> {
        let docker = self.runtime.docker();
        let name = self.subnet.network_name();
        match docker.inspect_network(&name, None).await {
            Ok(n) => {
                if n.containers.is_some_and(|c| !c.is_empty()) {
                    let owner = n.labels.unwrap_or_default().get(LABEL_NETWORK_OWNER).cloned();
                    return Err(TaskNetworkError::Taken {
                        subnet: self.subnet.to_string(),
                        network: name,
                        owner: owner.unwrap_or_else(|| "unlabelled".into()),
                    });
                }
                docker.remove_network(&name).await?;
                tracing::info!(network = %name, "removed an unused awsvpc Docker network of an earlier Berth");
                Ok(())
            }
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes the task bridge of the subnet (owned by this agent), the host
    /// table and the pause image, once.
    pub(super) async fn ensure_ready(&self) -> Result<(), TaskNetworkError> {
        let mut ready = self.ready.lock().await;
        if *ready {
            return Ok(());
        }
        let arch = std::env::consts::ARCH;
        if arch != PAUSE_ARCH {
            return Err(TaskNetworkError::Arch(arch.to_string()));
        }
        self.retire_docker_network().await?;
        let bridge = self.subnet.bridge_name();
        if let Ok(shown) = links::ip(
            Place::Host,
            &["-o".into(), "link".into(), "show".into(), "dev".into(), bridge.clone()],
        )
        .await
        {
            let alias = plan::link_alias(&shown).unwrap_or_default();
            if alias != plan::bridge_alias(&self.owner) {
                let ports = links::ip(
                    Place::Host,
                    &[
                        "-o".into(),
                        "link".into(),
                        "show".into(),
                        "master".into(),
                        bridge.clone(),
                    ],
                )
                .await
                .unwrap_or_default();
                if !ports.trim().is_empty() {
                    return Err(TaskNetworkError::Taken {
                        subnet: self.subnet.to_string(),
                        network: bridge,
                        owner: if alias.is_empty() { "unlabelled".into() } else { alias },
                    });
                }
                tracing::info!(bridge = %bridge, previous_owner = %alias, "taking over an unused task bridge");
            }
        }
        links::run(&plan::bridge(&self.subnet, &self.owner))
            .await
            .map_err(TaskNetworkError::Link)?;
        links::enable_forwarding().map_err(TaskNetworkError::Link)?;
        links::forward_accepts(&plan::forward_accepts(&self.subnet), true)
            .await
            .map_err(TaskNetworkError::Link)?;
        let peers = self.routes.lock().await.clone().unwrap_or_default();
        links::nft(&plan::host_table(&self.subnet, &self.owner, &peers))
            .await
            .map_err(TaskNetworkError::Link)?;
        tracing::info!(subnet = %self.subnet, bridge = %bridge, "awsvpc task bridge ready");
        if !self.runtime.image_exists(PAUSE_IMAGE).await {
            let docker = self.runtime.docker();
            let (repo, tag) = PAUSE_IMAGE.split_once(':').unwrap_or((PAUSE_IMAGE, "latest"));
            let options = CreateImageOptions {
                from_src: Some("-".into()),
                repo: Some(repo.into()),
                tag: Some(tag.into()),
                changes: vec![format!("CMD [\"{PAUSE_PATH}\"]"), "LABEL berth.pause=1".into()],
                ..Default::default()
            };
            let tar = pause::tar_with(PAUSE_PATH, &pause::program());
            let mut stream = docker.create_image(Some(options), Some(bollard::body_full(tar.into())), None);
            while let Some(item) = stream.next().await {
                item?;
            }
            tracing::info!(image = PAUSE_IMAGE, "pause image imported");
        }
        *ready = true;
        Ok(())
    }

    /// Gives the task its interface: its lease (kept durably before the
    /// container exists) and its running pause container. Idempotent.
    pub async fn attach(&self, task: &Task, owner: &pause::Owner<'_>) -> Result<Attached, TaskNetworkError> {
        let pause = self.create_pause(task, owner).await?;
        self.bring_up(task, pause).await
    }

    /// The first half of [`Self::attach`]: the task's lease (kept durably
    /// before the container exists) and its pause container, created (not
    /// started) or found running. The task's containers can be created
    /// once it exists (they name it as their network).
    pub async fn create_pause(&self, task: &Task, owner: &pause::Owner<'_>) -> Result<Pause, TaskNetworkError> {
        self.ensure_ready().await?;
        let name = pause::container_name(task);
        // A task without an address yet takes a warm container's (and the
        // container) when the pool has one.
        let leased = self.leases.lock().await.tasks.contains_key(&task.task_arn);
        if !leased && let Some((lease, pid)) = self.claim_warm(task, &name).await {
            return Ok(Pause {
                lease,
                name,
                state: PauseState::Claimed(pid),
            });
        }
        let lease = {
            let mut leases = self.leases.lock().await;
            let hex = berth_core::ids::hex_id();
            let eni_hex = &hex[..17];
            let before = leases.clone();
            let lease = leases.acquire(&self.subnet, &task.task_arn, eni_hex)?;
            if *leases != before {
                self.save(&leases)?;
            }
            lease
        };
        let existing = self
            .runtime
            .inspect(&name)
            .await
            .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
        let running_pid = existing
            .as_ref()
            .and_then(|c| c.state.as_ref())
            .filter(|s| s.status == Some(ContainerStateStatusEnum::RUNNING))
            .and_then(|s| s.pid)
            .filter(|p| *p > 0);
        let state = match running_pid {
            Some(pid) => PauseState::Running(pid),
            None => {
                if existing.is_some() {
                    // Stopped (the host rebooted): its namespace is gone; a new one.
                    self.runtime
                        .remove_container(&name)
                        .await
                        .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
                }
                let body = pause::container_spec(task, &lease, owner);
                let id = self
                    .runtime
                    .create(&name, body)
                    .await
                    .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
                PauseState::Created(id)
            }
        };
        Ok(Pause { lease, name, state })
    }

    /// The second half of [`Self::attach`]: the pause container started
    /// (if [`Self::create_pause`] made it) and the task's interface set up
    /// in its namespace.
    pub async fn bring_up(&self, task: &Task, pause: Pause) -> Result<Attached, TaskNetworkError> {
        let Pause { lease, name, state } = pause;
        // A pause container made here has a namespace of its own with
        // nothing in it yet.
        let fresh = matches!(state, PauseState::Created(_) | PauseState::Claimed(_));
        let pid = match state {
            PauseState::Running(pid) | PauseState::Claimed(pid) => pid,
            PauseState::Created(id) => {
                self.runtime
                    .start(&id)
                    .await
                    .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
                let started = self
                    .runtime
                    .inspect(&id)
                    .await
                    .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
                started
                    .and_then(|c| c.state)
                    .and_then(|s| s.pid)
                    .filter(|p| *p > 0)
                    .ok_or_else(|| TaskNetworkError::Docker(format!("the pause container {name} is not running")))?
            }
        };
        let pid = u32::try_from(pid).map_err(|_| TaskNetworkError::Docker(format!("pid {pid}")))?;
        let steps = plan::interface(&self.subnet, &lease, task.id(), pid);
        if fresh {
            // Two `ip -batch` runs (host, then the namespace). Should one
            // fail (a host end left by an agent that died halfway), the
            // plan step by step clears what is there and does it again.
            let mut batched = Ok(());
            for b in plan::batches(&steps) {
                batched = links::ip_batch(&b).await;
                if batched.is_err() {
                    break;
                }
            }
            if let Err(e) = batched {
                tracing::debug!(task = %task.task_arn, error = %e, "task interface: batch failed, step by step");
                links::run(&steps).await.map_err(TaskNetworkError::Link)?;
            }
            tracing::info!(task = %task.task_arn, ip = %lease.ip, mac = %lease.mac, eni = %lease.eni_id, "task interface up");
        } else {
            let shown = links::ip(
                Place::Task(pid),
                &["-o", "-4", "addr", "show", "dev", "eth0"].map(String::from),
            )
            .await
            .unwrap_or_default();
            if !plan::interface_ready(&shown, &self.subnet, &lease) {
                links::run(&steps).await.map_err(TaskNetworkError::Link)?;
                tracing::info!(task = %task.task_arn, ip = %lease.ip, mac = %lease.mac, eni = %lease.eni_id, "task interface up");
            }
        }
        Ok(Attached { lease, pid })
    }

    /// Removes the task's pause container (its namespace and veth go with
    /// it) and frees its address.
    pub async fn detach(&self, task_arn: &str, pause_name: &str) -> Result<(), TaskNetworkError> {
        // The veth goes with the namespace, but the kernel frees it later:
        // deleted first, the host end is gone when the task is.
        let veth = plan::host_veth(plan::task_id(task_arn));
        let _ = links::ip(Place::Host, &["link".into(), "del".into(), veth]).await;
        if !pause_name.is_empty() {
            self.runtime
                .remove_container(pause_name)
                .await
                .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
        }
        let mut leases = self.leases.lock().await;
        if leases.release(task_arn) {
            self.save(&leases)?;
            tracing::info!(task = %task_arn, "task interface removed, address released");
        }
        Ok(())
    }

    /// Detaches the tasks `keep` rejects: leases of tasks this agent no
    /// longer runs, and pause containers of this instance left without a
    /// task (the agent was away when the task ended).
    pub async fn collect(&self, instance_arn: &str, keep: impl Fn(&str) -> bool) {
        // A lease is written before its pause container is created and
        // freed after it is removed: no lease, no pause container of ours.
        if self.leases.lock().await.tasks.is_empty() {
            return;
        }
        let pauses = self
            .runtime
            .list(&[
                (LABEL_INSTANCE, instance_arn),
                (LABEL_CONTAINER_NAME, pause::PAUSE_CONTAINER),
            ])
            .await
            .unwrap_or_default();
        let mut gone: BTreeMap<String, Option<String>> = BTreeMap::new();
        for c in pauses {
            if let Some(task) = c.labels.as_ref().and_then(|l| l.get(LABEL_TASK_ARN))
                && !keep(task)
            {
                gone.insert(task.clone(), c.id.clone());
            }
        }
        // Pause containers claimed from the warm pool carry no task label:
        // their name says the task.
        let claimed = self.claimed_pauses().await;
        let leased: Vec<String> = self.leases.lock().await.tasks.keys().cloned().collect();
        for (task_id, id) in claimed {
            match leased.iter().find(|arn| plan::task_id(arn) == task_id) {
                Some(arn) if keep(arn) => {}
                Some(arn) => {
                    gone.insert(arn.clone(), Some(id));
                }
                None => {
                    // No lease: its task was detached already.
                    let _ = self.runtime.remove_container(&id).await;
                }
            }
        }
        for task in self.leases.lock().await.stale(&keep) {
            gone.entry(task).or_insert(None);
        }
        for (task, id) in gone {
            let id = id.unwrap_or_default();
            if let Err(e) = self.detach(&task, &id).await {
                tracing::warn!(task = %task, error = %e, "cannot remove a task interface");
            }
        }
    }

    /// Routes the peer hosts' task subnets through their host addresses
    /// (routes of peers that left removed) and keeps the host table's
    /// list of task subnets (not masqueraded) in step. Idempotent.
    pub async fn set_peers(&self, desired: Peers) -> Result<(), TaskNetworkError> {
        let mut routes = self.routes.lock().await;
        let current = match routes.as_ref() {
            Some(r) => r.clone(),
            None => {
                let shown = links::ip(
                    Place::Host,
                    &["-o", "-4", "route", "show", "proto", &plan::ROUTE_PROTO.to_string()].map(String::from),
                )
                .await
                .map_err(TaskNetworkError::Link)?;
                plan::parse_routes(&shown)
            }
        };
        let changes = plan::route_changes(&current, &desired);
        if changes.is_empty() && routes.is_some() {
            return Ok(());
        }
        // Route by route: a peer this host cannot reach (its address not
        // on a network of this host) does not keep the others away; it is
        // tried again at the next poll.
        let mut now = current;
        let mut failed = Vec::new();
        for s in &changes.remove {
            let _ = links::run(&plan::route_steps(&plan::RouteChanges {
                remove: vec![*s],
                ..Default::default()
            }))
            .await;
            now.remove(s);
            tracing::info!(subnet = %s, "route to a peer host's task subnet removed");
        }
        for (s, via) in &changes.replace {
            let one = plan::RouteChanges {
                replace: vec![(*s, *via)],
                ..Default::default()
            };
            match links::run(&plan::route_steps(&one)).await {
                Ok(()) => {
                    now.insert(*s, *via);
                    tracing::info!(subnet = %s, via = %via, "route to a peer host's task subnet");
                }
                Err(e) => failed.push(format!("no route to the task subnet {s} via {via}: {e}")),
            }
        }
        // Not waiting for `ready` while holding `routes` (ensure_ready takes
        // them the other way round): a bridge being made reads the routes
        // once this returns.
        if self.ready.try_lock().is_ok_and(|r| *r) {
            links::nft(&plan::host_table(&self.subnet, &self.owner, &desired))
                .await
                .map_err(TaskNetworkError::Link)?;
        }
        *routes = Some(now);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(TaskNetworkError::Link(failed.join("; ")))
        }
    }

    /// On agent shutdown: removes the bridge, the host table, the forward
    /// accepts and the peer routes if no task uses them any more (running
    /// tasks keep them, and their addresses, for the next start).
    pub async fn shutdown(&self) {
        self.close_warm().await;
        if !self.leases.lock().await.tasks.is_empty() {
            return;
        }
        if let Some(routes) = self.routes.lock().await.take() {
            let changes = plan::route_changes(&routes, &Peers::new());
            let _ = links::run(&plan::route_steps(&changes)).await;
        }
        if !*self.ready.lock().await {
            return;
        }
        let bridge = self.subnet.bridge_name();
        let _ = links::ip(Place::Host, &["link".into(), "del".into(), bridge.clone()]).await;
        if let Err(e) = links::nft(&plan::remove_host_table(&self.subnet)).await {
            tracing::warn!(error = %e, "cannot remove the host table");
        }
        if let Err(e) = links::forward_accepts(&plan::forward_accepts(&self.subnet), false).await {
            tracing::warn!(error = %e, "cannot remove the forward accepts");
        }
        tracing::info!(bridge = %bridge, "awsvpc task bridge removed");
    }
}
