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

use crate::instances::{Attribute, ClusterState, InstanceRecord, instance_view};
use crate::keys;
use crate::tasks::{TaskRecord, instance_id_of};
use berth_proto::AwsError;
use berth_scheduler::InstanceView;
use berth_store::{EventKind, Revision, Store, StoreError};
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OnceCell, watch};

/// How long a read waits for the view to catch up with the store before it
/// gives up with a server error. The watch is in-process, so this only
/// trips when something is badly wrong.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct ClusterData {
    /// By instance id.
    instances: BTreeMap<String, (Arc<InstanceRecord>, Revision)>,
    /// By task id.
    tasks: BTreeMap<String, (Arc<TaskRecord>, Revision)>,
    /// Task ids by container instance ARN.
    by_instance: HashMap<String, HashSet<String>>,
    /// Task ids by task group (`service:NAME`, `family:NAME`, …).
    by_group: HashMap<String, HashSet<String>>,
    /// Custom container-instance attributes by store key: (instance id,
    /// attribute, revision).
    attributes: BTreeMap<String, (String, Attribute, Revision)>,
    /// The scheduler's view of each instance, by instance id, built on
    /// demand and dropped when the instance, its tasks or its custom
    /// attributes change.
    views: HashMap<String, Arc<InstanceView>>,
    /// Every instance with its view, for placement, in instance id order;
    /// entries of `dirty` instances are refreshed on the next use, and the
    /// whole is rebuilt when instances come or go (`reshaped`).
    snapshot: Option<Arc<Vec<PlacementEntry>>>,
    /// Position of each instance id in `snapshot`.
    positions: HashMap<String, usize>,
    dirty: HashSet<String>,
    reshaped: bool,
    /// One shared copy of each distinct attribute map (instances of a
    /// fleet usually have the same attributes; the scheduler checks
    /// required attributes once per map).
    attribute_maps: HashSet<Arc<BTreeMap<String, Option<String>>>>,
}

/// One container instance as placement sees it.
#[derive(Clone)]
pub struct PlacementEntry {
    pub record: Arc<InstanceRecord>,
    /// The store revision the record was read at (the placement's compare).
    pub revision: Revision,
    pub view: Arc<InstanceView>,
}

impl std::borrow::Borrow<InstanceView> for PlacementEntry {
    fn borrow(&self) -> &InstanceView {
        &self.view
    }
}

impl ClusterData {
    fn invalidate(&mut self, instance_id: &str) {
        self.views.remove(instance_id);
        self.dirty.insert(instance_id.to_string());
    }

    /// The scheduler's view of an instance (cached).
    fn view_of(&mut self, id: &str) -> Option<Arc<InstanceView>> {
        if let Some(v) = self.views.get(id) {
            return Some(v.clone());
        }
        let (rec, _) = self.instances.get(id)?;
        let custom: Vec<Attribute> = self
            .attributes
            .values()
            .filter(|(i, _, _)| i == id)
            .map(|(_, a, _)| a.clone())
            .collect();
        let mut ids: Vec<&String> = self
            .by_instance
            .get(&rec.container_instance_arn)
            .into_iter()
            .flatten()
            .collect();
        ids.sort();
        let mut view = instance_view(
            rec,
            ids.into_iter().filter_map(|t| self.tasks.get(t).map(|(t, _)| &**t)),
            &custom,
        );
        view.attributes = self.intern(view.attributes);
        let view = Arc::new(view);
        self.views.insert(id.to_string(), view.clone());
        Some(view)
    }

    fn intern(&mut self, map: Arc<BTreeMap<String, Option<String>>>) -> Arc<BTreeMap<String, Option<String>>> {
        if let Some(shared) = self.attribute_maps.get(&map) {
            return shared.clone();
        }
        if self.attribute_maps.len() > 2 * self.instances.len() + 16 {
            self.attribute_maps.retain(|m| Arc::strong_count(m) > 1);
        }
        self.attribute_maps.insert(map.clone());
        map
    }

    /// Every instance with its view (cached until something changes).
    fn snapshot(&mut self) -> Arc<Vec<PlacementEntry>> {
        if !self.reshaped
            && let Some(mut snapshot) = self.snapshot.take()
        {
            if !self.dirty.is_empty() {
                // Copies the list only if a placement still holds it.
                let entries = Arc::make_mut(&mut snapshot);
                for id in std::mem::take(&mut self.dirty) {
                    let Some(at) = self.positions.get(&id).copied() else {
                        continue;
                    };
                    let Some(view) = self.view_of(&id) else {
                        continue;
                    };
                    if let Some((record, revision)) = self.instances.get(&id) {
                        entries[at] = PlacementEntry {
                            record: record.clone(),
                            revision: *revision,
                            view,
                        };
                    }
                }
            }
            self.snapshot = Some(snapshot.clone());
            return snapshot;
        }
        // Build the views that changed, then take everything in one pass.
        let missing: Vec<String> = self
            .instances
            .keys()
            .filter(|id| !self.views.contains_key(*id))
            .cloned()
            .collect();
        for id in &missing {
            self.view_of(id);
        }
        let mut entries = Vec::with_capacity(self.instances.len());
        self.positions.clear();
        for (id, (record, revision)) in &self.instances {
            if let Some(view) = self.views.get(id) {
                self.positions.insert(id.clone(), entries.len());
                entries.push(PlacementEntry {
                    record: record.clone(),
                    revision: *revision,
                    view: view.clone(),
                });
            }
        }
        self.dirty.clear();
        self.reshaped = false;
        let s = Arc::new(entries);
        self.snapshot = Some(s.clone());
        s
    }
}

#[derive(Default)]
struct Data {
    clusters: HashMap<String, ClusterData>,
    /// Task definitions by store key, as the agent session renders them
    /// (immutable but for their status; dropped on any change of the key).
    definitions: HashMap<String, Arc<Value>>,
    /// The last revision applied (as `ClusterView::applied`, but moved
    /// under the same lock as the data).
    revision: Revision,
}

/// What a store key is to the view.
#[derive(Debug, PartialEq)]
enum Kind<'a> {
    Instance { cluster: &'a str, id: &'a str },
    Task { cluster: &'a str, id: &'a str },
    Attribute { cluster: &'a str },
    TaskDefinition,
    Other,
}

fn classify(key: &str) -> Kind<'_> {
    if let Some((cluster, id)) = key.strip_prefix(keys::INSTANCES).and_then(|r| r.split_once('/')) {
        Kind::Instance { cluster, id }
    } else if let Some((cluster, id)) = key.strip_prefix(keys::TASKS).and_then(|r| r.split_once('/')) {
        Kind::Task { cluster, id }
    } else if let Some((cluster, _)) = key.strip_prefix(keys::ATTRIBUTES).and_then(|r| r.split_once('/')) {
        Kind::Attribute { cluster }
    } else if key.starts_with(keys::TASK_DEFINITIONS) {
        Kind::TaskDefinition
    } else {
        Kind::Other
    }
}

/// Which instance sessions a change concerns.
type Touched = HashSet<String>;

impl Data {
    fn cluster(&mut self, name: &str) -> &mut ClusterData {
        self.clusters.entry(name.to_string()).or_default()
    }

    /// Applies one put or delete at `revision`; older news than what the
    /// view holds is ignored (a load followed by the replay of the watch
    /// sees some changes twice).
    fn apply(&mut self, kind: &EventKind, key: &str, value: &[u8], revision: Revision, touched: &mut Touched) {
        match classify(key) {
            Kind::Instance { cluster, id } => {
                let c = self.cluster(cluster);
                if c.instances.get(id).is_some_and(|(_, r)| *r >= revision) {
                    return;
                }
                c.invalidate(id);
                match kind {
                    EventKind::Put => match serde_json::from_slice::<InstanceRecord>(value) {
                        Ok(rec) => {
                            if c.instances.insert(id.to_string(), (Arc::new(rec), revision)).is_none() {
                                c.reshaped = true;
                            }
                        }
                        Err(e) => tracing::warn!(%key, error = %e, "cluster view: unreadable instance record"),
                    },
                    EventKind::Delete => {
                        if c.instances.remove(id).is_some() {
                            c.reshaped = true;
                        }
                    }
                }
            }
            Kind::Task { cluster, id } => {
                let c = self.cluster(cluster);
                let old = c.tasks.get(id);
                if old.is_some_and(|(_, r)| *r >= revision) {
                    return;
                }
                let old_arn = old.and_then(|(t, _)| t.container_instance_arn.clone());
                let old_group = old.map(|(t, _)| t.group.clone());
                let new = match kind {
                    EventKind::Put => match serde_json::from_slice::<TaskRecord>(value) {
                        Ok(t) => Some(Arc::new(t)),
                        Err(e) => {
                            tracing::warn!(%key, error = %e, "cluster view: unreadable task record");
                            return;
                        }
                    },
                    EventKind::Delete => None,
                };
                if let Some(arn) = &old_arn
                    && let Some(set) = c.by_instance.get_mut(arn)
                {
                    set.remove(id);
                    if set.is_empty() {
                        c.by_instance.remove(arn);
                    }
                    c.invalidate(instance_id_of(arn));
                    touched.insert(arn.clone());
                }
                if let Some(group) = &old_group
                    && let Some(set) = c.by_group.get_mut(group)
                {
                    set.remove(id);
                    if set.is_empty() {
                        c.by_group.remove(group);
                    }
                }
                match new {
                    Some(t) => {
                        c.by_group.entry(t.group.clone()).or_default().insert(id.to_string());
                        if let Some(arn) = &t.container_instance_arn {
                            c.by_instance.entry(arn.clone()).or_default().insert(id.to_string());
                            c.invalidate(instance_id_of(arn));
                            touched.insert(arn.clone());
                        }
                        c.tasks.insert(id.to_string(), (t, revision));
                    }
                    None => {
                        c.tasks.remove(id);
                    }
                }
            }
            Kind::Attribute { cluster } => {
                let c = self.cluster(cluster);
                if c.attributes.get(key).is_some_and(|(_, _, r)| *r >= revision) {
                    return;
                }
                if let Some((id, _, _)) = c.attributes.remove(key) {
                    c.invalidate(&id);
                }
                if *kind == EventKind::Put
                    && let Ok(v) = serde_json::from_slice::<Value>(value)
                    && v["targetType"].as_str() == Some("container-instance")
                    && let (Some(target), Some(name)) = (v["targetId"].as_str(), v["name"].as_str())
                {
                    let attribute = Attribute {
                        name: name.to_string(),
                        value: v["value"].as_str().map(str::to_string),
                    };
                    let id = instance_id_of(target).to_string();
                    c.invalidate(&id);
                    c.attributes.insert(key.to_string(), (id, attribute, revision));
                }
            }
            Kind::TaskDefinition => {
                self.definitions.remove(key);
            }
            Kind::Other => {}
        }
    }
}

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
    /// order.
    pub fn service_state(&self, cluster: &str, group: &str) -> ClusterState {
        let data = self.data();
        let Some(c) = data.clusters.get(cluster) else {
            return ClusterState::default();
        };
        let mut ids: Vec<&String> = c.by_group.get(group).into_iter().flatten().collect();
        ids.sort();
        ClusterState {
            instances: c.instances.values().map(|(r, rev)| (r.clone(), *rev)).collect(),
            tasks: ids
                .into_iter()
                .filter_map(|id| c.tasks.get(id).map(|(t, _)| t.clone()))
                .collect(),
            custom: HashMap::new(),
            views: vec![],
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_classified() {
        assert_eq!(
            classify("ecs/instances/c/abc"),
            Kind::Instance {
                cluster: "c",
                id: "abc"
            }
        );
        assert_eq!(classify("ecs/tasks/c/t1"), Kind::Task { cluster: "c", id: "t1" });
        assert_eq!(
            classify("ecs/attributes/c/container-instance/i/n"),
            Kind::Attribute { cluster: "c" }
        );
        assert_eq!(classify("ecs/taskdefs/f/0000000001"), Kind::TaskDefinition);
        assert_eq!(classify("ecs/services/c/s"), Kind::Other);
        assert_eq!(classify("ecs/tasks/"), Kind::Other);
    }

    fn task(id: &str, instance: Option<&str>, group: &str) -> Vec<u8> {
        let mut v = serde_json::json!({
            "taskArn": format!("arn:aws:ecs:r:1:task/c/{id}"), "clusterArn": "arn:aws:ecs:r:1:cluster/c",
            "taskDefinitionArn": "arn:aws:ecs:r:1:task-definition/f:1", "lastStatus": "PENDING",
            "desiredStatus": "RUNNING", "cpu": "128", "memory": "128", "containers": [], "createdAt": 1.0,
            "group": group, "launchType": "EC2", "version": 1, "healthStatus": "UNKNOWN",
            "berth": {"cluster": "c", "id": id}
        });
        if let Some(i) = instance {
            v["containerInstanceArn"] = serde_json::json!(i);
        }
        serde_json::to_vec(&v).unwrap()
    }

    fn ids(data: &Data, arn: &str) -> Vec<String> {
        let mut v: Vec<String> = data.clusters["c"]
            .by_instance
            .get(arn)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        v.sort();
        v
    }

    #[test]
    fn tasks_are_indexed_by_instance_and_group_and_stale_news_is_ignored() {
        let mut data = Data::default();
        let mut touched = Touched::new();
        let put = EventKind::Put;
        data.apply(
            &put,
            "ecs/tasks/c/t1",
            &task("t1", Some("i-a"), "service:web"),
            5,
            &mut touched,
        );
        data.apply(
            &put,
            "ecs/tasks/c/t2",
            &task("t2", Some("i-a"), "family:f"),
            6,
            &mut touched,
        );
        assert_eq!(ids(&data, "i-a"), ["t1", "t2"]);
        assert_eq!(touched, Touched::from(["i-a".to_string()]));

        // The task moves: both instances are touched, both indexes follow.
        touched.clear();
        data.apply(
            &put,
            "ecs/tasks/c/t1",
            &task("t1", Some("i-b"), "service:api"),
            7,
            &mut touched,
        );
        assert_eq!(ids(&data, "i-a"), ["t2"]);
        assert_eq!(ids(&data, "i-b"), ["t1"]);
        assert_eq!(touched.len(), 2);
        let c = &data.clusters["c"];
        assert!(!c.by_group.contains_key("service:web"));
        assert!(c.by_group["service:api"].contains("t1"));

        // A replayed older event (load, then the watch from an earlier
        // revision) changes nothing.
        touched.clear();
        data.apply(
            &put,
            "ecs/tasks/c/t1",
            &task("t1", Some("i-a"), "service:web"),
            5,
            &mut touched,
        );
        assert_eq!(ids(&data, "i-b"), ["t1"]);
        assert!(touched.is_empty());

        // Deletes drop the task from every index; unreadable records are skipped.
        data.apply(&EventKind::Delete, "ecs/tasks/c/t1", &[], 8, &mut touched);
        assert!(ids(&data, "i-b").is_empty());
        assert!(!data.clusters["c"].by_group.contains_key("service:api"));
        data.apply(&put, "ecs/tasks/c/t3", b"not json", 9, &mut touched);
        assert!(!data.clusters["c"].tasks.contains_key("t3"));
    }

    #[test]
    fn attributes_of_container_instances_only_and_definitions_are_dropped_on_change() {
        let mut data = Data::default();
        let mut touched = Touched::new();
        let attr = |target_type: &str| {
            serde_json::to_vec(&serde_json::json!({
                "name": "stack", "value": "prod", "targetType": target_type,
                "targetId": "arn:aws:ecs:r:1:container-instance/c/abc"
            }))
            .unwrap()
        };
        data.apply(
            &EventKind::Put,
            "ecs/attributes/c/container-instance/abc/stack",
            &attr("container-instance"),
            3,
            &mut touched,
        );
        data.apply(
            &EventKind::Put,
            "ecs/attributes/c/other/abc/stack",
            &attr("other"),
            4,
            &mut touched,
        );
        let c = &data.clusters["c"];
        assert_eq!(c.attributes.len(), 1);
        let (id, a, _) = c.attributes.values().next().unwrap();
        assert_eq!(
            (id.as_str(), a.name.as_str(), a.value.as_deref()),
            ("abc", "stack", Some("prod"))
        );

        data.definitions
            .insert("ecs/taskdefs/f/0000000001".into(), Arc::new(serde_json::json!({})));
        data.apply(&EventKind::Put, "ecs/taskdefs/f/0000000001", b"{}", 5, &mut touched);
        assert!(data.definitions.is_empty());
    }
}
