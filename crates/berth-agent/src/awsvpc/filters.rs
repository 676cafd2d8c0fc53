//! Keeps the agent's security-group filters and peer routes applied: polls
//! the server for its tasks' groups and rules and the other hosts' task
//! subnets (`GET /agent/v1/security-groups`) every [`POLL_INTERVAL`]
//! ([`IDLE_EVERY`] times less often without an awsvpc task), routes the
//! peers ([`TaskNetwork::set_peers`]), renders the table ([`super::firewall`]) for the tasks
//! holding an address, and replaces it with `nft -f` when it changed (one
//! atomic transaction). The table goes when the agent's last awsvpc task
//! stops; on shutdown it is kept while tasks still hold addresses (they keep
//! running, and stay filtered).

use super::firewall;
use super::host_net::TaskNetwork;
use super::plan;
use crate::client::ApiClient;
use berth_agent_protocol::SecurityGroupsView;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// How often the agent asks for its tasks' groups: a rule change reaches
/// the host within about this long (plus one `nft` run).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The applied state of one agent's table.
pub struct Filters {
    network: Arc<TaskNetwork>,
    /// The ruleset last applied (`None`: no table of ours).
    applied: Mutex<Option<String>>,
}

/// Runs `nft -f -` with `text` on its standard input.
async fn nft(text: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run nft (Debian package nftables): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| format!("cannot write to nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("nft did not finish: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Without an awsvpc task, one poll in this many (the peer routes only).
const IDLE_EVERY: u64 = 8;

impl Filters {
    /// Routes the peer hosts the view names (host-gw).
    async fn routes(&self, view: &SecurityGroupsView) -> Result<(), String> {
        let peers = plan::peers(
            self.network.subnet(),
            view.peers
                .iter()
                .map(|p| (p.task_subnet.as_str(), p.host_address.as_str())),
        );
        self.network.set_peers(peers).await.map_err(|e| e.to_string())
    }

    pub fn new(network: Arc<TaskNetwork>) -> Self {
        Self {
            network,
            applied: Mutex::new(None),
        }
    }

    /// Brings the table to what `view` asks for the tasks holding an
    /// address now; nothing when it is already so.
    pub async fn apply(&self, view: &SecurityGroupsView) -> Result<(), String> {
        let leases = self.network.leased().await;
        let mut applied = self.applied.lock().await;
        let subnet = self.network.subnet();
        if leases.is_empty() {
            if applied.is_some() {
                nft(&firewall::remove(subnet)).await?;
                *applied = None;
                tracing::info!(table = %firewall::table_name(subnet), "security-group filters removed (no awsvpc task left)");
            }
            return Ok(());
        }
        let text = firewall::render(subnet, self.network.owner(), &firewall::tasks(&leases, view), view);
        if applied.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        nft(&text).await?;
        tracing::debug!(table = %firewall::table_name(subnet), tasks = leases.len(), "security-group filters applied");
        *applied = Some(text);
        Ok(())
    }

    /// Polls the server and applies its answer until aborted. A failed poll
    /// or `nft` run is logged (once until it changes) and retried.
    pub async fn run(self: Arc<Self>, api: ApiClient, cluster: String, instance_arn: String) {
        let mut last_error: Option<String> = None;
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            ticks += 1;
            // Without a task, only the peer routes are kept: less often.
            let idle = !self.network.in_use().await && self.applied.lock().await.is_none();
            if idle && ticks % IDLE_EVERY != 1 {
                continue;
            }
            let outcome = match api.security_groups(&cluster, &instance_arn).await {
                Ok(view) => self.routes(&view).await.and(self.apply(&view).await),
                Err(e) => Err(format!("cannot read the tasks' security groups: {e}")),
            };
            match outcome {
                Ok(()) => last_error = None,
                Err(e) => {
                    if last_error.as_deref() != Some(e.as_str()) {
                        tracing::warn!(error = %e, "security-group filters or peer routes not applied; retrying");
                    }
                    last_error = Some(e);
                }
            }
        }
    }

    /// On agent shutdown: the table goes if no task holds an address.
    pub async fn shutdown(&self) {
        if self.network.in_use().await {
            return;
        }
        let subnet = self.network.subnet();
        if self.applied.lock().await.take().is_some()
            && let Err(e) = nft(&firewall::remove(subnet)).await
        {
            tracing::warn!(error = %e, "cannot remove the security-group filters");
        }
    }
}
