//! The warm pause containers' IO ([`super::warm`] decides): making one
//! (its lease kept durably before the container exists, as a task's),
//! claiming one for a task (the lease passed to the task durably, then the
//! container renamed to the task's pause name), adopting what an earlier
//! run of the agent left, and removing the unclaimed ones when the agent
//! stops.

use super::host_net::{LABEL_NETWORK_OWNER, TaskNetwork, TaskNetworkError};
use super::ipam::Lease;
use super::pause;
use super::warm::{self, Found, LABEL_WARM, WARM, Warm, WarmOwner};
use crate::model::Task;
use bollard::models::ContainerStateStatusEnum;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How long a stopping agent waits for a warm container being made.
const FILL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

impl TaskNetwork {
    fn pool(&self) -> std::sync::MutexGuard<'_, warm::Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the pool (the agent is registered): `size` warm containers
    /// (0: none), labelled as `owner`'s. Those an earlier run left are
    /// reused (running, their lease kept) or removed; the pool is filled
    /// now if the agent has run awsvpc tasks before, else after its first.
    pub async fn start_warm(self: &Arc<Self>, owner: WarmOwner, size: usize) {
        *self.warm_owner.lock().unwrap_or_else(|p| p.into_inner()) = Some(owner);
        *self.pool() = warm::Pool::new(size);
        let listed = self
            .runtime
            .list(&[(LABEL_WARM, WARM), (LABEL_NETWORK_OWNER, self.owner.as_str())])
            .await;
        let listed = match listed {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the warm pause containers an earlier run left");
                Vec::new()
            }
        };
        let mut found = Vec::new();
        for c in listed {
            let (Some(id), Some(name)) = (c.id.clone(), c.names.as_ref().and_then(|n| n.first()).cloned()) else {
                continue;
            };
            if !warm::is_warm_name(&name) {
                continue;
            }
            let pid = match self.runtime.inspect(&id).await {
                Ok(Some(i)) => i
                    .state
                    .filter(|s| s.status == Some(ContainerStateStatusEnum::RUNNING))
                    .and_then(|s| s.pid)
                    .and_then(|p| u32::try_from(p).ok())
                    .filter(|p| *p > 0),
                _ => None,
            };
            found.push(Found { name, id, pid });
        }
        let (adoption, had_tasks) = {
            let leases = self.leases.lock().await;
            (
                warm::adopt(&found, &leases.warm, size),
                !leases.tasks.is_empty() || !leases.warm.is_empty(),
            )
        };
        for id in &adoption.remove {
            if let Err(e) = self.runtime.remove_container(id).await {
                tracing::warn!(container = %id, error = %e, "cannot remove a warm pause container");
            }
        }
        if !adoption.release.is_empty() {
            let mut leases = self.leases.lock().await;
            for name in &adoption.release {
                leases.release_warm(name);
            }
            if let Err(e) = self.save(&leases) {
                tracing::warn!(error = %e, "cannot save the leases");
            }
        }
        let kept = adoption.keep.len();
        if kept > 0 || !adoption.remove.is_empty() {
            tracing::info!(
                kept,
                removed = adoption.remove.len(),
                "warm pause containers of an earlier run"
            );
        }
        // Kept ones imply a warm lease: an agent that never ran an awsvpc
        // task fills its pool only after its first.
        if had_tasks {
            self.pool().adopt(adoption.keep);
            self.refill();
        }
    }

    /// An awsvpc task started on this agent: the pool is wanted, and made
    /// up to its size in the background (never awaited by a task).
    pub fn refill(self: &Arc<Self>) {
        let n = {
            let mut pool = self.pool();
            pool.activate();
            pool.begin_fill()
        };
        if n == 0 {
            return;
        }
        let mut fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        fills.retain(|h| !h.is_finished());
        for _ in 0..n {
            let me = self.clone();
            fills.push(tokio::spawn(async move {
                let made = match me.make_warm().await {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot make a warm pause container; tasks make their own");
                        None
                    }
                };
                let unwanted = me.pool().end_fill(made);
                if let Some(w) = unwanted {
                    me.discard(&w).await;
                }
            }));
        }
    }

    /// Makes one warm container: its lease (kept before it exists), then
    /// the container, started.
    async fn make_warm(&self) -> Result<Warm, TaskNetworkError> {
        let owner = self
            .warm_owner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| TaskNetworkError::Docker("the agent is not registered yet".into()))?;
        self.ensure_ready().await?;
        let hex = berth_core::ids::hex_id();
        let name = warm::warm_name(&hex[..12]);
        let lease = {
            let mut leases = self.leases.lock().await;
            let lease = leases.acquire_warm(self.subnet(), &name, &hex[12..29])?;
            self.save(&leases)?;
            lease
        };
        let made = self.start_warm_container(&name, &lease, &owner).await;
        match made {
            Ok((id, pid)) => {
                tracing::debug!(container = %name, ip = %lease.ip, "warm pause container ready");
                Ok(Warm { name, id, pid, lease })
            }
            Err(e) => {
                let _ = self.runtime.remove_container(&name).await;
                let mut leases = self.leases.lock().await;
                if leases.release_warm(&name) {
                    let _ = self.save(&leases);
                }
                Err(e)
            }
        }
    }

    async fn start_warm_container(
        &self,
        name: &str,
        lease: &Lease,
        owner: &WarmOwner,
    ) -> Result<(String, u32), TaskNetworkError> {
        let docker = |e: crate::runtime::DockerCallError| TaskNetworkError::Docker(e.to_string());
        let body = pause::warm_spec(
            lease,
            &pause::Owner {
                cluster: &owner.cluster,
                instance_arn: &owner.instance_arn,
                extra_labels: &owner.extra_labels,
            },
            &self.owner,
        );
        let id = self.runtime.create(name, body).await.map_err(docker)?;
        self.runtime.start(&id).await.map_err(docker)?;
        let pid = self
            .runtime
            .inspect(&id)
            .await
            .map_err(docker)?
            .and_then(|c| c.state)
            .and_then(|s| s.pid)
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| TaskNetworkError::Docker(format!("the warm pause container {name} is not running")))?;
        Ok((id, pid))
    }

    /// Removes a warm container and frees its address.
    async fn discard(&self, w: &Warm) {
        if let Err(e) = self.runtime.remove_container(&w.id).await {
            tracing::warn!(container = %w.name, error = %e, "cannot remove a warm pause container");
        }
        let mut leases = self.leases.lock().await;
        if leases.release_warm(&w.name)
            && let Err(e) = self.save(&leases)
        {
            tracing::warn!(error = %e, "cannot save the leases");
        }
    }

    /// Claims a warm container for `task` (which holds no address yet):
    /// its lease becomes the task's (durably, first), then it is renamed
    /// `name` (the task's pause container). None: no warm one (the task's
    /// is made for it); should the rename fail, the task keeps the lease
    /// (its host name is that address) and gets a new container.
    pub(super) async fn claim_warm(&self, task: &Task, name: &str) -> Option<(Lease, i64)> {
        loop {
            let w = self.pool().claim()?;
            // Killed behind the agent's back: no namespace to give.
            if !std::path::Path::new(&format!("/proc/{}", w.pid)).exists() {
                tracing::warn!(container = %w.name, "a warm pause container is gone; another one");
                self.discard(&w).await;
                continue;
            }
            let lease = {
                let mut leases = self.leases.lock().await;
                let Some(lease) = leases.claim_warm(&w.name, &task.task_arn) else {
                    drop(leases);
                    self.discard(&w).await;
                    return None;
                };
                if let Err(e) = self.save(&leases) {
                    // Not durable: the warm container goes, and the task's
                    // own path meets (and reports) the same error.
                    tracing::warn!(error = %e, "cannot save the leases");
                    drop(leases);
                    let _ = self.runtime.remove_container(&w.id).await;
                    return None;
                }
                lease
            };
            if let Err(e) = self.runtime.rename(&w.id, name).await {
                tracing::warn!(container = %w.name, error = %e, "cannot rename a warm pause container; the task makes its own");
                let _ = self.runtime.remove_container(&w.id).await;
                return None;
            }
            tracing::info!(task = %task.task_arn, container = %w.name, ip = %lease.ip, "claimed a warm pause container");
            return Some((lease, i64::from(w.pid)));
        }
    }

    /// The agent is stopping: the unclaimed warm containers are removed
    /// and their addresses freed (claimed ones are their tasks').
    pub async fn close_warm(&self) {
        let unclaimed = self.pool().close();
        for w in &unclaimed {
            self.discard(w).await;
        }
        // One being made now is removed when it is done (the pool is closed).
        let fills: Vec<_> = std::mem::take(&mut *self.fills.lock().unwrap_or_else(|p| p.into_inner()));
        for h in fills {
            if tokio::time::timeout(FILL_DEADLINE, h).await.is_err() {
                tracing::warn!("a warm pause container is still being made; the next start removes it");
            }
        }
    }

    /// Pause containers that were warm and are claimed, by the task id in
    /// their name (`berth-pause-<task id>`): their id. They carry no task
    /// label ([`Self::collect`] finds the others by it).
    pub(super) async fn claimed_pauses(&self) -> BTreeMap<String, String> {
        let listed = self
            .runtime
            .list(&[(LABEL_WARM, WARM), (LABEL_NETWORK_OWNER, self.owner.as_str())])
            .await
            .unwrap_or_default();
        let mut out = BTreeMap::new();
        for c in listed {
            let (Some(id), Some(name)) = (c.id.clone(), c.names.as_ref().and_then(|n| n.first()).cloned()) else {
                continue;
            };
            if let Some(task_id) = name.trim_start_matches('/').strip_prefix("berth-pause-")
                && !warm::is_warm_name(&name)
            {
                out.insert(task_id.to_string(), id);
            }
        }
        out
    }
}
