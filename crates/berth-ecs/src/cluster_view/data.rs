//! The view's data (no IO): every cluster's instances, tasks and custom
//! attributes parsed once, tasks indexed by instance and by group, the
//! scheduler's view of each instance cached until it changes, and how one
//! store change is applied (`Data::apply`, stale news ignored).

use crate::instances::{Attribute, InstanceRecord, instance_view};
use crate::keys;
use crate::tasks::{TaskRecord, instance_id_of};
use berth_scheduler::InstanceView;
use berth_store::{EventKind, Revision};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

#[derive(Default)]
pub(super) struct ClusterData {
    /// By instance id.
    pub(super) instances: BTreeMap<String, (Arc<InstanceRecord>, Revision)>,
    /// By task id.
    pub(super) tasks: BTreeMap<String, (Arc<TaskRecord>, Revision)>,
    /// Task ids by container instance ARN.
    pub(super) by_instance: HashMap<String, HashSet<String>>,
    /// Task ids by task group (`service:NAME`, `family:NAME`, …).
    pub(super) by_group: HashMap<String, HashSet<String>>,
    /// Custom container-instance attributes by store key: (instance id,
    /// attribute, revision).
    pub(super) attributes: BTreeMap<String, (String, Attribute, Revision)>,
    /// The scheduler's view of each instance, by instance id, built on
    /// demand and dropped when the instance, its tasks or its custom
    /// attributes change.
    pub(super) views: HashMap<String, Arc<InstanceView>>,
    /// Every instance with its view, for placement, in instance id order;
    /// entries of `dirty` instances are refreshed on the next use, and the
    /// whole is rebuilt when instances come or go (`reshaped`).
    pub(super) snapshot: Option<Arc<Vec<PlacementEntry>>>,
    /// Position of each instance id in `snapshot`.
    pub(super) positions: HashMap<String, usize>,
    pub(super) dirty: HashSet<String>,
    pub(super) reshaped: bool,
    /// One shared copy of each distinct attribute map (instances of a
    /// fleet usually have the same attributes; the scheduler checks
    /// required attributes once per map).
    pub(super) attribute_maps: HashSet<Arc<BTreeMap<String, Option<String>>>>,
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
    pub(super) fn invalidate(&mut self, instance_id: &str) {
        self.views.remove(instance_id);
        self.dirty.insert(instance_id.to_string());
    }

    /// The scheduler's view of an instance (cached).
    pub(super) fn view_of(&mut self, id: &str) -> Option<Arc<InstanceView>> {
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
    pub(super) fn snapshot(&mut self) -> Arc<Vec<PlacementEntry>> {
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
pub(super) struct Data {
    pub(super) clusters: HashMap<String, ClusterData>,
    /// Task definitions by store key, as the agent session renders them
    /// (immutable but for their status; dropped on any change of the key).
    pub(super) definitions: HashMap<String, Arc<Value>>,
    /// The last revision applied (as `ClusterView::applied`, but moved
    /// under the same lock as the data).
    pub(super) revision: Revision,
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
pub(super) type Touched = HashSet<String>;

impl Data {
    fn cluster(&mut self, name: &str) -> &mut ClusterData {
        self.clusters.entry(name.to_string()).or_default()
    }

    /// Applies one put or delete at `revision`; older news than what the
    /// view holds is ignored (a load followed by the replay of the watch
    /// sees some changes twice).
    pub(super) fn apply(
        &mut self,
        kind: &EventKind,
        key: &str,
        value: &[u8],
        revision: Revision,
        touched: &mut Touched,
    ) {
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

#[cfg(test)]
mod tests;
