//! The host side of awsvpc (IO): the Berth-owned Docker bridge network of
//! the task subnet, the pause image, each task's pause container, and the
//! lease file (`awsvpc-leases.json` in the agent's data dir).
//!
//! Everything is idempotent: attaching a task twice (a restarted agent)
//! finds its lease and its running pause container; the network and the
//! image are made once and reused.

use super::ipam::{Exhausted, Lease, Leases};
use super::pause::{self, PAUSE_ARCH, PAUSE_IMAGE, PAUSE_PATH};
use super::subnet::TaskSubnet;
use crate::labels::{LABEL_CONTAINER_NAME, LABEL_INSTANCE, LABEL_TASK_ARN};
use crate::model::Task;
use crate::runtime::{Runtime, message};
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

/// The label on the Berth network: the id of the agent that owns it.
pub const LABEL_NETWORK_OWNER: &str = "berth.awsvpc.owner";
/// The file the leases are kept in, in the agent's data dir.
pub const LEASE_FILE: &str = "awsvpc-leases.json";

#[derive(Debug, thiserror::Error)]
pub enum TaskNetworkError {
    #[error(transparent)]
    Exhausted(#[from] Exhausted),
    #[error(
        "the task subnet {subnet} is used on this host by the Docker network '{network}' of another running Berth \
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

/// The awsvpc network of one agent.
pub struct TaskNetwork {
    runtime: Runtime,
    subnet: TaskSubnet,
    /// The agent's persistent id: the network's owner label.
    owner: String,
    lease_file: PathBuf,
    leases: Mutex<Leases>,
    /// The network and the pause image exist (checked once per agent run).
    ready: Mutex<bool>,
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
            ready: Mutex::new(false),
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

    fn save(&self, leases: &Leases) -> Result<(), TaskNetworkError> {
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

    /// Makes the Docker network of the subnet (owned by this agent) and the
    /// pause image, once.
    async fn ensure_ready(&self) -> Result<(), TaskNetworkError> {
        let mut ready = self.ready.lock().await;
        if *ready {
            return Ok(());
        }
        let arch = std::env::consts::ARCH;
        if arch != PAUSE_ARCH {
            return Err(TaskNetworkError::Arch(arch.to_string()));
        }
        let docker = self.runtime.docker();
        let name = self.subnet.network_name();
        let exists = match docker.inspect_network(&name, None).await {
            Ok(n) => {
                let owner = n
                    .labels
                    .unwrap_or_default()
                    .get(LABEL_NETWORK_OWNER)
                    .cloned()
                    .unwrap_or_default();
                let in_use = n.containers.is_some_and(|c| !c.is_empty());
                if owner == self.owner {
                    true
                } else if in_use {
                    return Err(TaskNetworkError::Taken {
                        subnet: self.subnet.to_string(),
                        network: name,
                        owner: if owner.is_empty() { "unlabelled".into() } else { owner },
                    });
                } else {
                    // Left by an agent that is gone (its data dir removed)
                    // and holding no task: made again as this agent's.
                    docker.remove_network(&name).await?;
                    tracing::info!(network = %name, previous_owner = %owner, "removed an unused awsvpc network of another agent");
                    false
                }
            }
            Err(e) if status(&e) == Some(404) => false,
            Err(e) => return Err(e.into()),
        };
        if !exists {
            let request = NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(self.subnet.to_string()),
                        gateway: Some(self.subnet.gateway().to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                options: Some(HashMap::from([(
                    "com.docker.network.bridge.name".to_string(),
                    self.subnet.bridge_name(),
                )])),
                labels: Some(HashMap::from([(LABEL_NETWORK_OWNER.to_string(), self.owner.clone())])),
                ..Default::default()
            };
            docker.create_network(request).await?;
            tracing::info!(network = %name, subnet = %self.subnet, bridge = %self.subnet.bridge_name(), "awsvpc network created");
        }
        if !self.runtime.image_exists(PAUSE_IMAGE).await {
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
    pub async fn attach(&self, task: &Task, owner: &pause::Owner<'_>) -> Result<Lease, TaskNetworkError> {
        self.ensure_ready().await?;
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
        let name = pause::container_name(task);
        let existing = self
            .runtime
            .inspect(&name)
            .await
            .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
        let running = existing
            .as_ref()
            .and_then(|c| c.state.as_ref())
            .is_some_and(|s| s.status == Some(ContainerStateStatusEnum::RUNNING));
        if running {
            return Ok(self.observed(lease, existing.as_ref()));
        }
        if existing.is_some() {
            // Stopped (the host rebooted): its namespace is gone; a new one.
            self.runtime
                .remove_container(&name)
                .await
                .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
        }
        let body = pause::container_spec(task, &lease, &self.subnet.network_name(), owner);
        let id = self
            .runtime
            .create(&name, body)
            .await
            .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
        self.runtime
            .start(&id)
            .await
            .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
        let started = self
            .runtime
            .inspect(&id)
            .await
            .map_err(|e| TaskNetworkError::Docker(e.to_string()))?;
        let lease = self.observed(lease, started.as_ref());
        tracing::info!(task = %task.task_arn, ip = %lease.ip, mac = %lease.mac, eni = %lease.eni_id, "task interface up");
        Ok(lease)
    }

    /// The lease with the MAC Docker gave the interface: the chosen one
    /// from API 1.44 on, Docker's own (`02:42:` + the address) before.
    fn observed(&self, mut lease: Lease, pause: Option<&ContainerInspectResponse>) -> Lease {
        let network = self.subnet.network_name();
        let mac = pause
            .and_then(|c| c.network_settings.as_ref())
            .and_then(|n| n.networks.as_ref())
            .and_then(|n| n.get(&network))
            .and_then(|e| e.mac_address.clone())
            .filter(|m| !m.is_empty());
        if let Some(mac) = mac {
            lease.mac = mac;
        }
        lease
    }

    /// Removes the task's pause container (its namespace and veth go with
    /// it) and frees its address.
    pub async fn detach(&self, task_arn: &str, pause_name: &str) -> Result<(), TaskNetworkError> {
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

    /// On agent shutdown: removes the network if no task uses it any more
    /// (running tasks keep it, and their addresses, for the next start).
    pub async fn shutdown(&self) {
        if !*self.ready.lock().await || !self.leases.lock().await.tasks.is_empty() {
            return;
        }
        let name = self.subnet.network_name();
        match self.runtime.docker().remove_network(&name).await {
            Ok(()) => tracing::info!(network = %name, "awsvpc network removed"),
            Err(e) => tracing::warn!(network = %name, error = %message(&e), "awsvpc network kept"),
        }
    }
}
