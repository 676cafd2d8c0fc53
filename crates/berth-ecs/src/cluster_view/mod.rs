//! The in-memory view of every cluster's container instances, tasks and
//! custom attributes, kept current by one store watch.
//!
//! Placement, the agent sessions, the service controller, the monitor and
//! the read APIs used to re-read (and re-parse) every instance and task
//! record of a cluster on each call, and every agent session held a store
//! watch of its own, so each task write was copied once per connected
//! agent. With thousands of instances that was where the time and the
//! memory went. The view parses each record once, when it changes, indexes
//! tasks by container instance, and wakes an agent session only when a
//! task of its own instance changed.
//!
//! Reads stay linearizable: [`ClusterView::sync`] reads the store's current
//! revision and waits until the view has applied it, so a caller sees every
//! write acknowledged before its call (its own included). Writes still go
//! to the store with compare-and-swap on the revisions the view reports, so
//! a stale view can cost a retry, never a lost update or an over-committed
//! instance.

mod data;

use crate::instances::{Attribute, ClusterState, InstanceRecord};
use crate::keys;
use crate::tasks::TaskRecord;
use berth_proto::AwsError;
use berth_scheduler::InstanceView;
use berth_store::{EventKind, Revision, Store, StoreError};
pub use data::PlacementEntry;
use data::{Data, Touched};
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OnceCell, watch};

/// How long a read waits for the view to catch up with the store before it
/// gives up with a server error. The watch is in-process, so this only
/// trips when something is badly wrong.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// See the module documentation.
pub struct ClusterView {
    data: Mutex<Data>,
    /// The last store revision the view has applied.
    applied: watch::Sender<Revision>,
    /// One counter per container instance ARN, bumped when a task on it
    /// changes; agent sessions wait on it.
    signals: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// One placement at a time per cluster in this process: placements
    /// racing on the same instances would only fail their compares.
    placement_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    started: OnceCell<()>,
}

impl Default for ClusterView {
    fn default() -> Self {
        Self {
            data: Mutex::new(Data::default()),
            applied: watch::channel(0).0,
            signals: Mutex::new(HashMap::new()),
            placement_locks: Mutex::new(HashMap::new()),
            started: OnceCell::new(),
        }
    }
}

impl ClusterView {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn signal(&self, touched: &Touched) {
        if touched.is_empty() {
            return;
        }
        let signals = self.signals.lock().unwrap_or_else(|p| p.into_inner());
        for arn in touched {
            if let Some(s) = signals.get(arn) {
                s.send_modify(|n| *n += 1);
            }
        }
    }

    fn signal_all(&self) {
        let signals = self.signals.lock().unwrap_or_else(|p| p.into_inner());
        for s in signals.values() {
            s.send_modify(|n| *n += 1);
        }
    }

    /// Follows the changes of the tasks on one container instance: the
    /// receiver sees a new value after each change (subscribe before
    /// reading, so nothing falls in between).
    pub fn subscribe(&self, instance_arn: &str) -> watch::Receiver<u64> {
        let mut signals = self.signals.lock().unwrap_or_else(|p| p.into_inner());
        // Forget instances nobody follows any more, now and then (each
        // sweep is O(entries); sweeping on every subscribe would make a
        // connect storm quadratic).
        if !signals.contains_key(instance_arn) && signals.len() >= 64 && signals.len().is_power_of_two() {
            signals.retain(|_, s| s.receiver_count() > 0);
        }
        signals
            .entry(instance_arn.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// The lock that serialises this process's placements in a cluster
    /// (other replicas are kept honest by the compare-and-swap).
    pub fn placement_lock(&self, cluster: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.placement_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(cluster.to_string()).or_default().clone()
    }

    /// The last store revision applied.
    pub fn applied(&self) -> Revision {
        *self.applied.borrow()
    }

    /// Loads the view and starts following the store (once).
    async fn start(self: &Arc<Self>, store: &Arc<dyn Store>) -> Result<(), AwsError> {
        self.started
            .get_or_try_init(|| async {
                let (revision, stream) = self.load(store).await.map_err(AwsError::state_store)?;
                let me = Arc::downgrade(self);
                let store = store.clone();
                tokio::spawn(follow(me, store, revision, stream));
                Ok::<(), AwsError>(())
            })
            .await?;
        Ok(())
    }

    /// Reads everything, replacing what the view holds; returns the
    /// revision it stands at and the watch to follow from there.
    async fn load(&self, store: &Arc<dyn Store>) -> Result<(Revision, berth_store::WatchStream), StoreError> {
        let revision = store.current_revision().await?;
        // Subscribe before reading: a change made during the reads is
        // replayed afterwards (and ignored where the read already saw it).
        let stream = store.watch("", revision + 1).await?;
        let mut data = Data::default();
        let mut touched = Touched::new();
        for prefix in [keys::INSTANCES, keys::TASKS, keys::ATTRIBUTES] {
            for kv in store.range(prefix, None, None).await? {
                data.apply(&EventKind::Put, &kv.key, &kv.value, kv.mod_revision, &mut touched);
            }
        }
        data.revision = revision;
        *self.data() = data;
        self.applied.send_modify(|r| *r = (*r).max(revision));
        self.signal_all();
        Ok((revision, stream))
    }

    /// Waits until the view holds every write the store acknowledged before
    /// this call.
    pub async fn sync(self: &Arc<Self>, store: &Arc<dyn Store>) -> Result<(), AwsError> {
        self.start(store).await?;
        let revision = store.current_revision().await.map_err(AwsError::state_store)?;
        let mut rx = self.applied.subscribe();
        match tokio::time::timeout(SYNC_TIMEOUT, rx.wait_for(|r| *r >= revision)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(AwsError::server(
                "The cluster state is catching up with the store; retry the request.",
            )),
        }
    }

    /// Everything placement and rendering need about a cluster.
    pub fn state(&self, cluster: &str) -> ClusterState {
        let data = self.data();
        let Some(c) = data.clusters.get(cluster) else {
            return ClusterState::default();
        };
        let arn_of: HashMap<&str, &str> = c
            .instances
            .iter()
            .map(|(id, (rec, _))| (id.as_str(), rec.container_instance_arn.as_str()))
            .collect();
        let mut custom: HashMap<String, Vec<Attribute>> = HashMap::new();
        for (id, attribute, _) in c.attributes.values() {
            if let Some(arn) = arn_of.get(id.as_str()) {
                custom.entry(arn.to_string()).or_default().push(attribute.clone());
            }
        }
        ClusterState {
            instances: c.instances.values().map(|(r, rev)| (r.clone(), *rev)).collect(),
            tasks: c.tasks.values().map(|(t, _)| t.clone()).collect(),
            custom,
            views: vec![],
        }
    }

    /// What placement needs: the instances (with their revisions) and the
    /// scheduler's view of each; no tasks, no custom attributes (both are
    /// in the views).
    pub fn placement_state(&self, cluster: &str) -> ClusterState {
        let snapshot = self.placement_snapshot(cluster);
        ClusterState {
            instances: snapshot.iter().map(|e| (e.record.clone(), e.revision)).collect(),
            views: snapshot.iter().map(|e| InstanceView::clone(&e.view)).collect(),
            ..ClusterState::default()
        }
    }

    /// Every instance of a cluster with its revision and scheduler view,
    /// shared (cheap when nothing changed since the last call).
    pub fn placement_snapshot(&self, cluster: &str) -> Arc<Vec<PlacementEntry>> {
        let mut data = self.data();
        match data.clusters.get_mut(cluster) {
            Some(c) => c.snapshot(),
            None => Arc::default(),
        }
    }

    /// What the service controller needs for one service: every instance
    /// (with its revision) and the tasks of the service's group, in task id
    /// order. The instances include the shared Fargate hosts of other
    /// clusters the group's tasks are placed on (so they are not taken for
    /// tasks of a gone instance).
    pub fn service_state(&self, cluster: &str, group: &str) -> ClusterState {
        let data = self.data();
        let Some(c) = data.clusters.get(cluster) else {
            return ClusterState::default();
        };
        let mut ids: Vec<&String> = c.by_group.get(group).into_iter().flatten().collect();
        ids.sort();
        let tasks: Vec<Arc<TaskRecord>> = ids
            .into_iter()
            .filter_map(|id| c.tasks.get(id).map(|(t, _)| t.clone()))
            .collect();
        let mut instances: Vec<(Arc<InstanceRecord>, Revision)> =
            c.instances.values().map(|(r, rev)| (r.clone(), *rev)).collect();
        let mut shared: Vec<(&str, &str)> = tasks
            .iter()
            .filter(|t| t.instance_cluster() != cluster)
            .filter_map(|t| Some((t.instance_cluster(), t.berth.instance_id.as_deref()?)))
            .collect();
        shared.sort_unstable();
        shared.dedup();
        instances.extend(shared.into_iter().filter_map(|(host_cluster, id)| {
            let (r, rev) = data.clusters.get(host_cluster)?.instances.get(id)?;
            Some((r.clone(), *rev))
        }));
        ClusterState {
            instances,
            tasks,
            custom: HashMap::new(),
            views: vec![],
        }
    }

    /// The hosts of the other clusters that give Fargate capacity to a
    /// cluster with none of its own (`InstanceRecord::shares_fargate`),
    /// with their revisions and scheduler views.
    pub fn shared_fargate_hosts(&self, except: &str) -> Vec<PlacementEntry> {
        let mut data = self.data();
        let mut out = vec![];
        for (name, c) in data.clusters.iter_mut() {
            if name == except
                || !c
                    .instances
                    .values()
                    .any(|(r, _)| r.shares_fargate() && r.is_registered())
            {
                continue;
            }
            out.extend(c.snapshot().iter().filter(|e| e.record.shares_fargate()).cloned());
        }
        out
    }

    /// The tasks placed on one container instance, of every cluster (a
    /// shared Fargate host runs tasks of other clusters): its own cluster's
    /// first, each cluster's in task id order.
    pub fn tasks_on_host(&self, cluster: &str, instance_arn: &str) -> Vec<Arc<TaskRecord>> {
        let data = self.data();
        let mut out = vec![];
        let own = data.clusters.get_key_value(cluster);
        for (_, c) in own
            .into_iter()
            .chain(data.clusters.iter().filter(|(n, _)| n.as_str() != cluster))
        {
            let mut ids: Vec<&String> = c.by_instance.get(instance_arn).into_iter().flatten().collect();
            ids.sort();
            out.extend(ids.into_iter().filter_map(|id| c.tasks.get(id).map(|(t, _)| t.clone())));
        }
        out
    }

    /// The names of the clusters the view holds anything of.
    pub fn cluster_names(&self) -> Vec<String> {
        self.data().clusters.keys().cloned().collect()
    }

    /// Every task of a cluster, in task id order.
    pub fn tasks(&self, cluster: &str) -> Vec<Arc<TaskRecord>> {
        let data = self.data();
        data.clusters
            .get(cluster)
            .map(|c| c.tasks.values().map(|(t, _)| t.clone()).collect())
            .unwrap_or_default()
    }

    /// The tasks placed on one container instance, in task id order.
    pub fn tasks_on(&self, cluster: &str, instance_arn: &str) -> Vec<Arc<TaskRecord>> {
        let data = self.data();
        let Some(c) = data.clusters.get(cluster) else {
            return vec![];
        };
        let mut ids: Vec<&String> = c.by_instance.get(instance_arn).into_iter().flatten().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| c.tasks.get(id).map(|(t, _)| t.clone()))
            .collect()
    }

    /// The id of the registered instance with this EC2 instance id, if any.
    pub fn registered_instance_of(&self, cluster: &str, ec2_instance_id: &str) -> Option<String> {
        let data = self.data();
        let c = data.clusters.get(cluster)?;
        c.instances
            .iter()
            .find(|(_, (r, _))| r.is_registered() && r.ec2_instance_id == ec2_instance_id)
            .map(|(id, _)| id.clone())
    }

    /// The registered instances, in every cluster, whose `attribute` is
    /// `value` (the instances of one host: `berth.host-id`).
    pub fn registered_instances_with(&self, attribute: &str, value: &str) -> Vec<Arc<InstanceRecord>> {
        let data = self.data();
        data.clusters
            .values()
            .flat_map(|c| c.instances.values())
            .filter(|(r, _)| r.is_registered() && r.attribute(attribute) == Some(value))
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// The registered instances, in every cluster, that have `attribute`
    /// (with any value).
    pub fn registered_instances_having(&self, attribute: &str) -> Vec<Arc<InstanceRecord>> {
        let data = self.data();
        data.clusters
            .values()
            .flat_map(|c| c.instances.values())
            .filter(|(r, _)| r.is_registered() && r.attribute(attribute).is_some())
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// The custom attributes of one container instance.
    pub fn custom_of(&self, cluster: &str, instance_id: &str) -> Vec<Attribute> {
        let data = self.data();
        data.clusters
            .get(cluster)
            .map(|c| {
                c.attributes
                    .values()
                    .filter(|(id, _, _)| id == instance_id)
                    .map(|(_, a, _)| a.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A cached task definition (by store key).
    pub fn definition(&self, key: &str) -> Option<Arc<Value>> {
        self.data().definitions.get(key).cloned()
    }

    /// Caches a task definition read at `revision` (by store key), unless
    /// the view has seen a change after that read.
    pub fn cache_definition(&self, key: &str, value: Arc<Value>, revision: Revision) {
        let mut data = self.data();
        if data.revision <= revision {
            data.definitions.insert(key.to_string(), value);
        }
    }
}

/// Applies the store's changes to the view until the view is dropped or the
/// store closes. A broken watch (compacted log, backend error) reloads.
async fn follow(
    view: Weak<ClusterView>,
    store: Arc<dyn Store>,
    mut revision: Revision,
    mut stream: berth_store::WatchStream,
) {
    loop {
        let first = stream.next().await;
        let Some(view) = view.upgrade() else { return };
        let mut error = None;
        match first {
            None => return,
            Some(Err(e)) => error = Some(e),
            Some(Ok(ev)) => {
                // Everything already delivered goes in as one batch, so a
                // transaction's events are applied together before the
                // applied revision moves.
                let mut batch = vec![ev];
                while let Some(next) = stream.next().now_or_never() {
                    match next {
                        Some(Ok(ev)) => batch.push(ev),
                        Some(Err(e)) => {
                            error = Some(e);
                            break;
                        }
                        None => break,
                    }
                }
                let mut touched = Touched::new();
                {
                    let mut data = view.data();
                    for ev in &batch {
                        data.apply(&ev.kind, &ev.key, &ev.value, ev.revision, &mut touched);
                        revision = revision.max(ev.revision);
                    }
                    data.revision = revision;
                }
                view.applied.send_modify(|r| *r = (*r).max(revision));
                view.signal(&touched);
            }
        }
        if let Some(e) = error {
            if matches!(e, StoreError::Closed) {
                return;
            }
            tracing::warn!(error = %e, "cluster view: watch broken, reloading");
            loop {
                match view.load(&store).await {
                    Ok((r, s)) => {
                        revision = r;
                        stream = s;
                        break;
                    }
                    Err(StoreError::Closed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster view: reload failed, retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }
}
