//! The agent's desired-state stream (`GET /agent/v1/session`, see
//! docs/agent-protocol.md) and the in-memory record of which agents are
//! alive.
//!
//! The HTTP layer authenticates the request and turns an [`AgentSession`]
//! (a stream of NDJSON lines) into the response body. The session sends the
//! instance's complete desired state on connect and again after any change
//! to its tasks (driven by a store watch, debounced), and a keepalive every
//! 5 s. Dropping the session (the client went away) marks the agent
//! disconnected.

use crate::{Ecs, keys};
use berth_agent_protocol::{DesiredState, SessionMessage};
use berth_core::time::now_epoch;
use berth_proto::{AuthzResource, AwsError, Principal};
use futures::Stream;
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often a keepalive line is sent.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Changes closer together than this are sent as one snapshot. The first
/// change after a quiet spell goes out at once (a RunTask reaches its agent
/// without waiting); the ones that follow within this time wait for it.
const DEBOUNCE: Duration = Duration::from_millis(20);

struct AgentEntry {
    streams: usize,
    last_seen: Instant,
    /// Registered (or first heard of) and its stream not opened yet.
    awaiting_stream: bool,
}

/// Which agents are alive, in memory: heartbeats never touch the store.
pub struct Agents {
    entries: Mutex<HashMap<String, AgentEntry>>,
    heartbeat_timeout_ms: AtomicU64,
    grace_ms: AtomicU64,
    /// Set when the server shuts down: every session ends.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for Agents {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            heartbeat_timeout_ms: AtomicU64::new(30_000),
            grace_ms: AtomicU64::new(60_000),
            closing: tokio::sync::watch::channel(false).0,
        }
    }
}

fn entry_key(cluster: &str, id: &str) -> String {
    format!("{cluster}/{id}")
}

impl Agents {
    pub fn configure(&self, heartbeat_timeout: Duration, grace: Duration) {
        self.heartbeat_timeout_ms
            .store(heartbeat_timeout.as_millis() as u64, Ordering::Relaxed);
        self.grace_ms.store(grace.as_millis() as u64, Ordering::Relaxed);
    }

    /// How long an agent may be disconnected before its tasks are stopped.
    pub fn grace_period(&self) -> Duration {
        Duration::from_millis(self.grace_ms.load(Ordering::Relaxed))
    }

    fn heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms.load(Ordering::Relaxed))
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, AgentEntry>) -> T) -> T {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// The agent (re-)registered: it counts as alive until it opens its
    /// stream or misses heartbeats.
    pub fn registered(&self, cluster: &str, id: &str) {
        self.with(|m| {
            let e = m.entry(entry_key(cluster, id)).or_insert(AgentEntry {
                streams: 0,
                last_seen: Instant::now(),
                awaiting_stream: true,
            });
            e.last_seen = Instant::now();
            if e.streams == 0 {
                e.awaiting_stream = true;
            }
        })
    }

    /// A heartbeat; false when this process does not know the agent yet.
    pub fn heartbeat(&self, cluster: &str, id: &str) -> bool {
        self.with(|m| match m.get_mut(&entry_key(cluster, id)) {
            Some(e) => {
                e.last_seen = Instant::now();
                true
            }
            None => false,
        })
    }

    /// The first heartbeat of an agent this process had not heard of (the
    /// server restarted): alive while it reconnects its stream.
    pub fn first_heartbeat(&self, cluster: &str, id: &str) {
        self.registered(cluster, id)
    }

    /// Forgets an instance (deregistered).
    pub fn forget(&self, cluster: &str, id: &str) {
        self.with(|m| m.remove(&entry_key(cluster, id)));
    }

    fn stream_opened(&self, cluster: &str, id: &str) {
        self.with(|m| {
            let e = m.entry(entry_key(cluster, id)).or_insert(AgentEntry {
                streams: 0,
                last_seen: Instant::now(),
                awaiting_stream: false,
            });
            e.streams += 1;
            e.last_seen = Instant::now();
            e.awaiting_stream = false;
        })
    }

    fn stream_closed(&self, cluster: &str, id: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(&entry_key(cluster, id)) {
                e.streams = e.streams.saturating_sub(1);
                e.awaiting_stream = false;
            }
        })
    }

    /// Connected: a stream is open (or about to be) and heartbeats are
    /// recent.
    pub fn is_live(&self, cluster: &str, id: &str) -> bool {
        let timeout = self.heartbeat_timeout();
        self.with(|m| {
            m.get(&entry_key(cluster, id))
                .is_some_and(|e| (e.streams > 0 || e.awaiting_stream) && e.last_seen.elapsed() < timeout)
        })
    }
}

/// The desired-state stream of one agent: NDJSON lines. Dropping it ends
/// the session.
pub struct AgentSession {
    rx: mpsc::Receiver<Vec<u8>>,
    _guard: SessionGuard,
}

impl Stream for AgentSession {
    type Item = Result<Vec<u8>, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().rx.poll_recv(cx).map(|line| line.map(Ok))
    }
}

struct SessionGuard {
    ecs: Ecs,
    cluster: String,
    id: String,
    task: Option<tokio::task::AbortHandle>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
        self.ecs.agents.stream_closed(&self.cluster, &self.id);
        tracing::info!(cluster = %self.cluster, instance = %self.id, "agent session closed");
        // On shutdown the store is about to close; the next start finds the
        // agent gone by itself.
        let closing = *self.ecs.agents.closing.borrow();
        if let (false, Ok(rt)) = (closing, tokio::runtime::Handle::try_current()) {
            let ecs = self.ecs.clone();
            let (cluster, id) = (self.cluster.clone(), self.id.clone());
            rt.spawn(async move {
                if let Err(e) = ecs.sync_connection(&cluster, &id).await {
                    tracing::warn!(error = %e, cause = ?e.cause, "could not record the agent disconnect");
                }
            });
        }
    }
}

impl Ecs {
    /// Makes the stored `agentConnected` of an instance agree with what this
    /// process knows (open streams, recent heartbeats). The decision is
    /// taken inside the compare-and-swap loop, so concurrent callers end
    /// with the latest state.
    pub(crate) async fn sync_connection(&self, cluster: &str, id: &str) -> Result<(), AwsError> {
        let key = keys::instance(cluster, id);
        loop {
            let Some((mut rec, rev)) = self.stored_instance(cluster, id).await? else {
                return Ok(());
            };
            if !rec.is_registered() {
                return Ok(());
            }
            let live = self.agents.is_live(cluster, id);
            let now = now_epoch();
            if live == rec.agent_connected && live == rec.berth.disconnected_at.is_none() {
                return Ok(());
            }
            if live != rec.agent_connected {
                rec.agent_connected = live;
                rec.berth.connection_changed_at = now;
                rec.version += 1;
                tracing::info!(instance = %rec.container_instance_arn, connected = live, "agent connection changed");
            }
            rec.berth.disconnected_at = if live {
                None
            } else {
                rec.berth.disconnected_at.or(Some(now))
            };
            if self.put_at_revision(&key, rev, &rec).await? {
                return Ok(());
            }
        }
    }

    /// Ends every agent session (the streams finish cleanly), so a graceful
    /// shutdown does not wait for agents forever. Sessions opened afterwards
    /// are refused.
    pub fn close_agent_sessions(&self) {
        self.agents.closing.send_replace(true);
    }

    /// Opens the desired-state stream of a container instance for
    /// `principal`. Fails when the cluster or the instance does not exist,
    /// the instance was deregistered, or `principal` is not the agent the
    /// instance is bound to (nor root): AccessDeniedException.
    pub async fn open_agent_session(
        &self,
        principal: &Principal,
        cluster: Option<&str>,
        container_instance: &str,
    ) -> Result<AgentSession, AwsError> {
        if *self.agents.closing.borrow() {
            return Err(AwsError::server("The server is shutting down."));
        }
        let cluster = self.active_cluster(cluster).await?.cluster_name;
        let rec = self
            .agent_instance(principal, &cluster, container_instance, "ecs:Poll")
            .await?;
        let id = rec.berth.id.clone();
        self.agents.stream_opened(&cluster, &id);
        let mut guard = SessionGuard {
            ecs: self.clone(),
            cluster: cluster.clone(),
            id: id.clone(),
            task: None,
        };
        self.sync_connection(&cluster, &id).await?;
        tracing::info!(instance = %rec.container_instance_arn, "agent session opened");
        let (tx, rx) = mpsc::channel(8);
        let ecs = self.clone();
        let arn = rec.container_instance_arn.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = ecs.session_loop(&cluster, &arn, tx).await {
                tracing::warn!(instance = %arn, error = %e, cause = ?e.cause, "agent session failed");
            }
        });
        guard.task = Some(handle.abort_handle());
        Ok(AgentSession { rx, _guard: guard })
    }

    /// What opening the session of `container_instance` is authorized on
    /// (`ecs:Poll`, as the ECS agent needs in AWS): the container instance
    /// ARN, with `ecs:cluster` and its tags.
    pub async fn agent_session_resource(&self, cluster: Option<&str>, container_instance: &str) -> AuthzResource {
        let mut resource = crate::authz::instance_resource(&self.scope, cluster, container_instance);
        resource.tags = crate::authz::resource_tags(self, &resource.arn).await;
        resource
    }

    /// The `desired` message for an instance, from the cluster view.
    async fn desired_message(&self, cluster: &str, arn: &str) -> Result<DesiredState<Value>, AwsError> {
        let revision = self.view.applied();
        let mut out = vec![];
        // A shared Fargate host carries tasks of other clusters too.
        for t in self.view.tasks_on_host(cluster, arn) {
            if !t.wanted_by_agent() {
                continue;
            }
            let key = keys::task_definition(&t.berth.family, t.berth.revision);
            let td = match self.view.definition(&key) {
                Some(v) => Some(v),
                None => {
                    let read_at = self.store.current_revision().await.map_err(AwsError::state_store)?;
                    let v = self.task_definition_value(&t.berth.family, t.berth.revision).await?;
                    v.map(|v| {
                        let v = Arc::new(v);
                        self.view.cache_definition(&key, v.clone(), read_at);
                        v
                    })
                }
            };
            let mut v = t.render(true);
            // A FARGATE_SPOT interruption's notice (the agent's own member:
            // DescribeTasks never shows it).
            if let Some(n) = t.berth.stop_notice_secs {
                v["berthStopNoticeSeconds"] = n.into();
            }
            // A deleted definition leaves the key out (the agent then stops
            // the task: it cannot know how to run it).
            if let Some(td) = td {
                v["taskDefinition"] = Value::clone(&td);
            }
            out.push(v);
        }
        Ok(DesiredState {
            revision,
            container_instance_arn: arn.to_string(),
            tasks: out,
        })
    }

    async fn session_loop(&self, cluster: &str, arn: &str, tx: mpsc::Sender<Vec<u8>>) -> Result<(), AwsError> {
        self.synced_view().await?;
        // Subscribe before the first snapshot: a change in between wakes
        // the loop.
        let mut changes = self.view.subscribe(arn);
        changes.borrow_and_update();
        let msg = self.desired_message(cluster, arn).await?;
        let mut last_tasks = digest(&msg.tasks);
        if tx.send(SessionMessage::Desired(msg).to_line()).await.is_err() {
            return Ok(());
        }
        let start = tokio::time::Instant::now();
        let mut keepalive = tokio::time::interval_at(start + KEEPALIVE_INTERVAL, KEEPALIVE_INTERVAL);
        let mut due: Option<tokio::time::Instant> = None;
        // When the last snapshot was taken.
        let mut last_snapshot = start;
        let mut closing = self.agents.closing.subscribe();
        if *closing.borrow_and_update() {
            return Ok(());
        }
        loop {
            let deadline = due.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    if due.is_none() {
                        due = Some(send_at(last_snapshot, tokio::time::Instant::now()));
                    }
                }
                _ = tokio::time::sleep_until(deadline), if due.is_some() => {
                    due = None;
                    last_snapshot = tokio::time::Instant::now();
                    changes.borrow_and_update();
                    let msg = self.desired_message(cluster, arn).await?;
                    let tasks = digest(&msg.tasks);
                    if tasks != last_tasks {
                        last_tasks = tasks;
                        if tx.send(SessionMessage::Desired(msg).to_line()).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                changed = closing.changed() => {
                    if changed.is_err() || *closing.borrow() {
                        return Ok(());
                    }
                }
                _ = keepalive.tick() => {
                    let revision = self.view.applied();
                    let keepalive = SessionMessage::<Value>::Keepalive { revision: Some(revision) };
                    if tx.send(keepalive.to_line()).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// When a change seen at `now` is sent: at once after a quiet spell, else
/// [`DEBOUNCE`] after the last snapshot (changes until then go with it).
fn send_at(last_snapshot: tokio::time::Instant, now: tokio::time::Instant) -> tokio::time::Instant {
    (last_snapshot + DEBOUNCE).max(now)
}

/// A fingerprint of a message part, to skip sending what the agent has.
fn digest<T: serde::Serialize>(v: &T) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(v).unwrap_or_default().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_after_a_quiet_spell_is_sent_at_once() {
        let t0 = tokio::time::Instant::now();
        let quiet = t0 + DEBOUNCE * 3;
        assert_eq!(send_at(t0, quiet), quiet);
        let soon = t0 + DEBOUNCE / 4;
        assert_eq!(send_at(t0, soon), t0 + DEBOUNCE, "coalesced with the next snapshot");
    }

    #[test]
    fn liveness() {
        let a = Agents::default();
        a.configure(Duration::from_secs(30), Duration::from_secs(60));
        assert!(!a.is_live("c", "i"));
        assert!(!a.heartbeat("c", "i"));
        a.registered("c", "i");
        assert!(a.is_live("c", "i"), "alive between registration and the stream");
        a.stream_opened("c", "i");
        a.stream_opened("c", "i");
        a.stream_closed("c", "i");
        assert!(a.is_live("c", "i"), "one stream still open");
        a.stream_closed("c", "i");
        assert!(!a.is_live("c", "i"), "a closed stream means disconnected");
        assert!(a.heartbeat("c", "i"));
        assert!(!a.is_live("c", "i"), "heartbeats alone do not reconnect");
        a.stream_opened("c", "i");
        a.configure(Duration::ZERO, Duration::from_secs(60));
        assert!(!a.is_live("c", "i"), "missed heartbeats mean disconnected");
        a.forget("c", "i");
        assert!(!a.heartbeat("c", "i"));
    }

    #[test]
    fn digests_tell_messages_apart() {
        assert_eq!(digest(&json!([{"a": 1}])), digest(&json!([{"a": 1}])));
        assert_ne!(digest(&json!([{"a": 1}])), digest(&json!([{"a": 2}])));
    }
}
