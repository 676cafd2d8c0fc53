//! The replicator: works the queued intents of one registry (region).

use super::config::{Destination, ReplicationConfiguration};
use super::copy::{self, CopyError};
use super::status::{self, ReplicationRecord, ReplicationStatus};
use crate::error::RegistryError;
use crate::{Registry, keys, now_epoch};
use berth_core::backoff::Backoff;
use berth_store::{Compare, Op, typed};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first retry of a failed attempt, doubling up to [`RETRY_CAP`].
const RETRY_BASE: Duration = Duration::from_millis(500);
const RETRY_CAP: Duration = Duration::from_secs(10);
/// Without a wake-up, the queue is read again this often.
const IDLE: Duration = Duration::from_secs(30);

/// The retry pace of each intent that failed (in memory: after a restart
/// every intent is tried at once).
type Retries = HashMap<String, (Backoff, Instant)>;

impl Registry {
    /// Sets what this server can replicate to (once; later calls are ignored).
    pub fn set_replication_targets(&self, targets: Arc<dyn super::ReplicationTargets>) {
        let _ = self.replication.targets.set(targets);
    }

    /// The stored replication configuration (empty when none was put).
    pub(crate) async fn replication_configuration(&self) -> Result<ReplicationConfiguration, RegistryError> {
        Ok(
            typed::get::<ReplicationConfiguration>(&*self.store, keys::REPLICATION_CONFIGURATION)
                .await?
                .map(|(c, _)| c)
                .unwrap_or_default(),
        )
    }

    /// The destinations a push to `repository` is replicated to.
    pub(crate) async fn replication_destinations(
        &self,
        repository: &str,
    ) -> Result<BTreeSet<Destination>, RegistryError> {
        Ok(self.replication_configuration().await?.destinations_for(repository))
    }

    /// The intents and IN_PROGRESS statuses a push writes, one per destination.
    pub(crate) fn replication_intents(
        repository: &str,
        digest: &str,
        destinations: &BTreeSet<Destination>,
        now: f64,
    ) -> Result<Vec<Op>, RegistryError> {
        let started = typed::encode(&ReplicationRecord::started(now))?;
        let mut ops = Vec::with_capacity(destinations.len() * 2);
        for d in destinations {
            let suffix = status::suffix(d);
            ops.push(Op::Put(keys::replication(repository, digest, &suffix), started.clone()));
            ops.push(Op::Put(
                keys::replication_queued(repository, digest, &suffix),
                Vec::new(),
            ));
        }
        Ok(ops)
    }

    pub(crate) fn wake_replicator(&self) {
        self.replication.wake.notify_one();
    }

    /// Works the queued replications, until the registry is dropped.
    pub fn spawn_replicator(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        self.spawn_backfill_controller();
        let reg = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut retries = Retries::new();
            loop {
                let Some(r) = reg.upgrade() else { return };
                let wait = match r.run_pending_replications(&mut retries).await {
                    Ok(next) => next.map_or(IDLE, |at| at.saturating_duration_since(Instant::now())),
                    Err(e) => {
                        tracing::warn!(error = %e, "replication: cannot read the queue; retried");
                        RETRY_CAP
                    }
                };
                let wake = r.replication.wake.clone();
                // Backfills follow the replications they queued.
                r.replication.backfill_wake.notify_one();
                drop(r);
                let _ = tokio::time::timeout(wait.min(IDLE), wake.notified()).await;
            }
        })
    }

    /// One pass over the queue; answers when the earliest retry is due.
    async fn run_pending_replications(&self, retries: &mut Retries) -> Result<Option<Instant>, RegistryError> {
        let queued = self.store.range(keys::REPLICATION_QUEUE, None, None).await?;
        let present: BTreeSet<&str> = queued.iter().map(|kv| kv.key.as_str()).collect();
        retries.retain(|k, _| present.contains(k.as_str()));
        let mut next_due: Option<Instant> = None;
        for kv in &queued {
            if let Some((_, due)) = retries.get(&kv.key)
                && *due > Instant::now()
            {
                next_due = Some(next_due.map_or(*due, |n| n.min(*due)));
                continue;
            }
            let Some((repo, digest, dest)) = status::parse_key_rest(&kv.key[keys::REPLICATION_QUEUE.len()..]) else {
                continue;
            };
            let status_key = keys::replication(repo, digest, &status::suffix(&dest));
            // Withdrawn by a backfill's stop meanwhile: nothing to do.
            let Some(_flight) = self.claim(&kv.key, kv.mod_revision).await? else {
                continue;
            };
            let outcome = self.replicate(repo, digest, &dest).await;
            let now = now_epoch();
            let (ops, done) = match outcome {
                Ok(()) => (
                    vec![Op::Put(
                        status_key,
                        typed::encode(&ReplicationRecord {
                            status: ReplicationStatus::Complete,
                            failure_code: None,
                            last_error: None,
                            updated_at: now,
                        })?,
                    )],
                    Some(ReplicationStatus::Complete),
                ),
                Err(CopyError::SourceGone) => (vec![Op::Delete(status_key)], None),
                Err(CopyError::Permanent { code, why }) => {
                    tracing::warn!(repository = repo, digest, region = %dest.region, registry = %dest.registry_id, code, why, "replication failed");
                    (
                        vec![Op::Put(
                            status_key,
                            typed::encode(&ReplicationRecord {
                                status: ReplicationStatus::Failed,
                                failure_code: Some(code.to_string()),
                                last_error: Some(why),
                                updated_at: now,
                            })?,
                        )],
                        Some(ReplicationStatus::Failed),
                    )
                }
                Err(CopyError::Transient(why)) => {
                    let entry = retries
                        .entry(kv.key.clone())
                        .or_insert_with(|| (Backoff::new(RETRY_BASE, RETRY_CAP), Instant::now()));
                    let due = Instant::now() + entry.0.next_delay();
                    entry.1 = due;
                    next_due = Some(next_due.map_or(due, |n| n.min(due)));
                    tracing::info!(repository = repo, digest, region = %dest.region, registry = %dest.registry_id, why, "replication will be retried");
                    continue;
                }
            };
            retries.remove(&kv.key);
            // Done only if no push asked again meanwhile (it runs again).
            let mut ops = ops;
            ops.push(Op::Delete(kv.key.clone()));
            let committed = self
                .store
                .txn(vec![Compare::ModRevision(kv.key.clone(), kv.mod_revision)], ops)
                .await?
                .succeeded;
            if committed && let Some(s) = done {
                tracing::info!(repository = repo, digest, region = %dest.region, registry = %dest.registry_id, status = s.as_str(), "image replicated");
            }
        }
        Ok(next_due)
    }

    /// Marks the intent `key` (still at `rev`) as being copied, until the
    /// returned guard is dropped; `None` when it is gone or was asked again.
    async fn claim(&self, key: &str, rev: i64) -> Result<Option<Flight<'_>>, RegistryError> {
        let _claims = self.replication.claims.lock().await;
        match self.store.get(key).await? {
            Some(kv) if kv.mod_revision == rev => {}
            _ => return Ok(None),
        }
        self.replication
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string());
        Ok(Some(Flight {
            set: &self.replication.in_flight,
            key: key.to_string(),
        }))
    }

    async fn replicate(&self, repository: &str, digest: &str, dest: &Destination) -> Result<(), CopyError> {
        let Some(targets) = self.replication.targets.get() else {
            return Err(CopyError::Transient("replication targets are not set up yet".into()));
        };
        if let Some(dst) = targets.local(dest) {
            return copy::copy_image(self, &dst, repository, digest).await;
        }
        if let Some(peer) = targets.peer(dest) {
            return super::remote::push_image(self, &peer, dest, repository, digest).await;
        }
        match targets.check(dest) {
            // Served, but its registry is gone (shutting down): later.
            Ok(()) => Err(CopyError::Transient(format!(
                "the registry of {} is not available",
                dest.region
            ))),
            Err(why) => Err(CopyError::Permanent {
                code: "DESTINATION_NOT_SERVED",
                why,
            }),
        }
    }
}

/// An intent being copied (removed from the in-flight set when dropped).
struct Flight<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
    key: String,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}
