//! Container instances: RegisterContainerInstance, DescribeContainerInstances,
//! ListContainerInstances, DeregisterContainerInstance,
//! UpdateContainerInstancesState.
//!
//! The record under `keys::instance(cluster, id)` keeps the registered and
//! the remaining resources; `remainingResources` changes only in the same
//! store transaction that places a task on the instance or records its stop,
//! so it is always exact. Task counts are derived from the task records.

use crate::agent_identity::{self, AgentOwner};
use crate::host_share;
use crate::tasks::{TaskRecord, instance_id_of};
use crate::{Ecs, keys};
use berth_core::ecs::{Tag, validate_tags};
use berth_core::time::now_epoch;
use berth_proto::pagination::paginate;
use berth_proto::pagination::with_next_token;
use berth_proto::{AwsError, RequestContext};
use berth_scheduler::{InstanceStatus, InstanceView, Resources, TaskOnInstance, parse_expression};
use berth_store::{Compare, Op, Revision, typed};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The ports ECS reserves on every instance when the agent sends none.
pub const DEFAULT_RESERVED_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Berth's own bookkeeping on an instance; never shown to clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInternal {
    pub cluster: String,
    pub id: String,
    /// When the agent was last seen disconnecting (epoch seconds); cleared
    /// when it connects again. The grace period counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnected_at: Option<f64>,
    /// When `agentConnected` last changed (epoch seconds).
    #[serde(default)]
    pub connection_changed_at: f64,
    /// The principal that registered the instance: the only one (besides
    /// root) that may act as its agent (`agent_identity`). None on records
    /// written before bindings existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<AgentOwner>,
}

/// A container instance as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub container_instance_arn: String,
    pub ec2_instance_id: String,
    pub version: i64,
    #[serde(default)]
    pub version_info: Value,
    pub registered_resources: Resources,
    pub remaining_resources: Resources,
    /// Registered resources other than CPU/MEMORY/PORTS/PORTS_UDP (GPU …),
    /// shown as given.
    #[serde(default)]
    pub other_resources: Vec<Value>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub agent_connected: bool,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    pub registered_at: f64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub berth: InstanceInternal,
}

impl InstanceRecord {
    pub fn is_registered(&self) -> bool {
        matches!(self.status.as_str(), "ACTIVE" | "DRAINING")
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    }

    /// The instance as the scheduler sees it.
    pub fn view(&self, tasks: Vec<TaskOnInstance>, custom: &[Attribute]) -> InstanceView {
        let mut attributes: BTreeMap<String, Option<String>> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect();
        for a in custom {
            attributes.insert(a.name.clone(), a.value.clone());
        }
        InstanceView {
            id: self.container_instance_arn.clone(),
            ec2_instance_id: self.ec2_instance_id.clone(),
            status: status_of(&self.status),
            agent_connected: self.agent_connected,
            agent_version: self.version_info["agentVersion"].as_str().map(str::to_string),
            registered_at: self.registered_at as i64,
            attributes: Arc::new(attributes),
            registered: self.registered_resources.clone(),
            remaining: self.remaining_resources.clone(),
            tasks: Arc::new(tasks),
        }
    }
}

pub fn status_of(s: &str) -> InstanceStatus {
    match s {
        "ACTIVE" => InstanceStatus::Active,
        "DRAINING" => InstanceStatus::Draining,
        "REGISTERING" => InstanceStatus::Registering,
        "DEREGISTERING" => InstanceStatus::Deregistering,
        "REGISTRATION_FAILED" => InstanceStatus::RegistrationFailed,
        _ => InstanceStatus::Inactive,
    }
}

/// ECS `Resource` list for a resource set.
pub fn render_resources(r: &Resources, other: &[Value]) -> Value {
    let ports = |p: &BTreeSet<u16>| p.iter().map(u16::to_string).collect::<Vec<_>>();
    let mut out = vec![
        json!({"name": "CPU", "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": r.cpu}),
        json!({"name": "MEMORY", "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": r.memory}),
        json!({"name": "PORTS", "type": "STRINGSET", "doubleValue": 0.0, "longValue": 0, "integerValue": 0,
               "stringSetValue": ports(&r.ports)}),
        json!({"name": "PORTS_UDP", "type": "STRINGSET", "doubleValue": 0.0, "longValue": 0, "integerValue": 0,
               "stringSetValue": ports(&r.ports_udp)}),
    ];
    out.extend(other.iter().cloned());
    Value::Array(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceIn {
    name: String,
    #[serde(rename = "type")]
    _kind: Option<String>,
    double_value: Option<f64>,
    long_value: Option<i64>,
    integer_value: Option<i64>,
    string_set_value: Option<Vec<String>>,
}

impl ResourceIn {
    fn number(&self) -> Result<u32, AwsError> {
        let n = match (self.integer_value, self.long_value, self.double_value) {
            (Some(i), _, _) if i != 0 => i,
            (_, Some(l), _) if l != 0 => l,
            (_, _, Some(d)) if d != 0.0 => d as i64,
            _ => 0,
        };
        u32::try_from(n).map_err(|_| {
            AwsError::invalid_parameter(format!(
                "Resource {} must be a non-negative integer, got {n}.",
                self.name
            ))
        })
    }

    fn ports(&self) -> Result<BTreeSet<u16>, AwsError> {
        self.string_set_value
            .iter()
            .flatten()
            .map(|p| {
                p.trim().parse::<u16>().map_err(|_| {
                    AwsError::invalid_parameter(format!(
                        "Resource {} must list port numbers (0-65535), got '{p}'.",
                        self.name
                    ))
                })
            })
            .collect()
    }
}

/// Parses `totalResources`: CPU and MEMORY are required (Berth has no EC2
/// API to look them up); PORTS defaults to the ports ECS always reserves.
fn parse_resources(list: &[ResourceIn]) -> Result<(Resources, Vec<Value>), AwsError> {
    let mut cpu = None;
    let mut memory = None;
    let mut ports = None;
    let mut ports_udp = BTreeSet::new();
    let mut other = vec![];
    for r in list {
        match r.name.as_str() {
            "CPU" => cpu = Some(r.number()?),
            "MEMORY" => memory = Some(r.number()?),
            "PORTS" => ports = Some(r.ports()?),
            "PORTS_UDP" => ports_udp = r.ports()?,
            _ => other.push(json!({
                "name": r.name,
                "type": r._kind.clone().unwrap_or_else(|| "INTEGER".into()),
                "doubleValue": r.double_value.unwrap_or(0.0),
                "longValue": r.long_value.unwrap_or(0),
                "integerValue": r.integer_value.unwrap_or(0),
                "stringSetValue": r.string_set_value.clone().unwrap_or_default(),
            })),
        }
    }
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return Err(AwsError::invalid_parameter(
            "totalResources must include CPU (1024 units per core) and MEMORY (MiB): Berth cannot look them up from EC2.",
        ));
    };
    Ok((
        Resources {
            cpu,
            memory,
            ports: ports.unwrap_or_else(|| DEFAULT_RESERVED_PORTS.into_iter().collect()),
            ports_udp,
        },
        other,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityDocument {
    instance_id: Option<String>,
    availability_zone: Option<String>,
    instance_type: Option<String>,
    image_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterInput {
    pub(crate) cluster: Option<String>,
    instance_identity_document: Option<String>,
    #[serde(default)]
    total_resources: Vec<ResourceIn>,
    version_info: Option<Value>,
    container_instance_arn: Option<String>,
    #[serde(default)]
    attributes: Vec<Attribute>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeInput {
    pub(crate) cluster: Option<String>,
    pub(crate) container_instances: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListInput {
    pub(crate) cluster: Option<String>,
    filter: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeregisterInput {
    pub(crate) cluster: Option<String>,
    container_instance: String,
    force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateStateInput {
    pub(crate) cluster: Option<String>,
    pub(crate) container_instances: Vec<String>,
    status: String,
}

fn valid_instance_id(id: &str) -> bool {
    (3..=64).contains(&id.len())
        && id.starts_with("i-") | id.starts_with("mi-")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn generated_instance_id() -> String {
    format!("i-{}", &berth_core::ids::hex_id()[..17])
}

/// The agent's attributes plus the ones ECS computes; the agent's win.
fn merged_attributes(agent: &[Attribute], doc: &IdentityDocument, region: &str) -> Vec<Attribute> {
    let mut out: Vec<Attribute> = vec![];
    for a in agent {
        match out.iter_mut().find(|o| o.name == a.name) {
            Some(o) => o.value = a.value.clone(),
            None => out.push(a.clone()),
        }
    }
    let mut computed = |name: &str, value: Option<String>| {
        if let Some(v) = value
            && !out.iter().any(|a| a.name == name)
        {
            out.push(Attribute {
                name: name.into(),
                value: Some(v),
            });
        }
    };
    computed(
        "ecs.availability-zone",
        Some(doc.availability_zone.clone().unwrap_or_else(|| format!("{region}a"))),
    );
    computed("ecs.instance-type", doc.instance_type.clone());
    computed("ecs.ami-id", doc.image_id.clone());
    computed("ecs.os-type", Some("linux".into()));
    computed("ecs.os-family", Some("LINUX".into()));
    out
}

fn validate_attributes(attrs: &[Attribute]) -> Result<(), AwsError> {
    for a in attrs {
        let name_ok = !a.name.is_empty()
            && a.name.len() <= 128
            && a.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-/@:".contains(&b));
        if !name_ok {
            return Err(AwsError::invalid_parameter(format!(
                "Attribute name '{}' is invalid: 1-128 letters, numbers, and _ . - / @ : are allowed.",
                a.name
            )));
        }
        if a.value.as_ref().is_some_and(|v| v.len() > 128) {
            return Err(AwsError::invalid_parameter(format!(
                "The value of attribute '{}' exceeds 128 characters.",
                a.name
            )));
        }
    }
    Ok(())
}

/// Per-instance task tallies, derived from the task records.
#[derive(Default, Clone, Copy)]
pub struct TaskCounts {
    pub running: usize,
    pub pending: usize,
}

/// Everything placement and rendering need about a cluster, read at once
/// (each accessor of the cluster view fills the parts its callers need).
#[derive(Default)]
pub struct ClusterState {
    pub instances: Vec<(Arc<InstanceRecord>, Revision)>,
    pub tasks: Vec<Arc<TaskRecord>>,
    /// Custom attributes (PutAttributes) by container instance ARN.
    pub custom: HashMap<String, Vec<Attribute>>,
    /// The scheduler's view of each instance, in `instances` order.
    pub views: Vec<InstanceView>,
}

impl ClusterState {
    pub fn counts(&self) -> HashMap<String, TaskCounts> {
        let mut out: HashMap<String, TaskCounts> = HashMap::new();
        for t in &self.tasks {
            let Some(arn) = &t.container_instance_arn else { continue };
            let c = out.entry(arn.clone()).or_default();
            match t.last_status.as_str() {
                "RUNNING" => c.running += 1,
                "PROVISIONING" | "PENDING" | "ACTIVATING" => c.pending += 1,
                _ => {}
            }
        }
        out
    }
}

/// The scheduler's view of one instance: its tasks whose desired status is
/// RUNNING and its custom attributes.
pub fn instance_view<'a>(
    rec: &InstanceRecord,
    tasks: impl Iterator<Item = &'a TaskRecord>,
    custom: &[Attribute],
) -> InstanceView {
    let on = tasks
        .filter(|t| t.desired_status == "RUNNING")
        .map(|t| TaskOnInstance {
            group: t.group.clone(),
            family: t.berth.family.clone(),
            task_definition_arn: t.task_definition_arn.clone(),
        })
        .collect();
    rec.view(on, custom)
}

impl Ecs {
    /// A cluster's instances (with their revisions), tasks and custom
    /// attributes, from the cluster view once it holds every write
    /// acknowledged before this call. A placement based on it that raced
    /// another one fails its compare on the instances' revisions and runs
    /// again.
    pub(crate) async fn cluster_state(&self, cluster: &str) -> Result<ClusterState, AwsError> {
        Ok(self.synced_view().await?.state(cluster))
    }

    /// Every task of a cluster (from the synced cluster view).
    pub(crate) async fn cluster_tasks(&self, cluster: &str) -> Result<Vec<Arc<TaskRecord>>, AwsError> {
        Ok(self.synced_view().await?.tasks(cluster))
    }

    pub(crate) fn render_instance(
        &self,
        rec: &InstanceRecord,
        counts: TaskCounts,
        custom: &[Attribute],
        include_tags: bool,
        include_health: bool,
    ) -> Value {
        let mut attributes = rec.attributes.clone();
        for a in custom {
            match attributes.iter_mut().find(|x| x.name == a.name) {
                Some(x) => x.value = a.value.clone(),
                None => attributes.push(a.clone()),
            }
        }
        let mut v = json!({
            "containerInstanceArn": rec.container_instance_arn,
            "ec2InstanceId": rec.ec2_instance_id,
            "version": rec.version,
            "versionInfo": rec.version_info,
            "remainingResources": render_resources(&rec.remaining_resources, &rec.other_resources),
            "registeredResources": render_resources(&rec.registered_resources, &rec.other_resources),
            "status": rec.status,
            "agentConnected": rec.agent_connected,
            "runningTasksCount": counts.running,
            "pendingTasksCount": counts.pending,
            "attributes": attributes,
            "registeredAt": rec.registered_at,
            "attachments": [],
            "tags": if include_tags { json!(rec.tags) } else { json!([]) },
        });
        if let Some(r) = &rec.status_reason {
            v["statusReason"] = json!(r);
        }
        if include_health {
            let changed = if rec.berth.connection_changed_at > 0.0 {
                rec.berth.connection_changed_at
            } else {
                rec.registered_at
            };
            let state = if rec.agent_connected { "OK" } else { "INSUFFICIENT_DATA" };
            v["healthStatus"] = json!({
                "overallStatus": state,
                "details": [{
                    "type": "CONTAINER_RUNTIME",
                    "status": state,
                    "lastUpdated": now_epoch(),
                    "lastStatusChange": changed,
                }],
            });
        }
        v
    }

    /// Finds an instance of `cluster` by id or ARN.
    pub(crate) async fn get_instance(
        &self,
        cluster: &str,
        reference: &str,
    ) -> Result<Option<(InstanceRecord, Revision)>, AwsError> {
        let id = instance_id_of(reference);
        if id.is_empty() || id.contains('/') {
            return Ok(None);
        }
        let found = typed::get::<InstanceRecord>(&*self.store, &keys::instance(cluster, id))
            .await
            .map_err(AwsError::state_store)?;
        Ok(found.filter(|(r, _)| {
            !reference.starts_with("arn:") || r.container_instance_arn == reference || arn_in_old_format(reference, id)
        }))
    }

    pub(crate) async fn register_container_instance(
        &self,
        ctx: &RequestContext,
        input: RegisterInput,
    ) -> Result<Value, AwsError> {
        let caller = self.caller(&ctx.principal);
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name.clone();
        let (registered, other) = parse_resources(&input.total_resources)?;
        validate_attributes(&input.attributes)?;
        validate_tags(&input.tags)?;
        let doc: IdentityDocument = match input.instance_identity_document.as_deref() {
            None | Some("") => IdentityDocument::default(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                AwsError::invalid_parameter(format!("instanceIdentityDocument is not a valid JSON document: {e}"))
            })?,
        };
        if let Some(id) = &doc.instance_id
            && !valid_instance_id(id)
        {
            return Err(AwsError::invalid_parameter(format!(
                "instanceIdentityDocument.instanceId '{id}' is not an instance id (i- followed by hex digits)."
            )));
        }
        let attributes = merged_attributes(&input.attributes, &doc, &self.scope.region);
        let version_info = input.version_info.unwrap_or_else(|| json!({}));

        // Which record to (re-)attach to: the ARN the agent persisted, or an
        // active instance with the same EC2 instance id.
        let existing_id = match &input.container_instance_arn {
            Some(arn) if !arn.is_empty() => match self.get_instance(&name, arn).await? {
                Some((rec, _)) if rec.status == "INACTIVE" => {
                    return Err(AwsError::client(format!(
                        "The container instance {} was deregistered. Remove the agent's saved state (DATA_DIR/agent-state.json) to register it again as a new instance.",
                        rec.container_instance_arn
                    )));
                }
                Some((rec, _)) => Some(rec.berth.id),
                // Unknown here (another cluster, or a server whose state was
                // reset): register afresh.
                None => None,
            },
            _ => None,
        };
        let existing_id = match (existing_id, &doc.instance_id) {
            (Some(id), _) => Some(id),
            (None, Some(ec2)) => self.synced_view().await?.registered_instance_of(&name, ec2),
            (None, None) => None,
        };
        // Re-registration takes over an instance: only its own agent may.
        if let Some(id) = &existing_id
            && let Some((rec, _)) = self.get_instance(&name, id).await?
        {
            agent_identity::check(
                rec.berth.owner.as_ref(),
                &caller,
                "ecs:RegisterContainerInstance",
                &rec.container_instance_arn,
            )?;
        }
        // One host counted once: the instances of the same host in every
        // cluster (this one left out, and earlier registrations of the same
        // agent identity: one agent belongs to one cluster) and this one
        // must fit in the host.
        let attribute = |name: &str| {
            attributes
                .iter()
                .find(|a| a.name == name)
                .and_then(|a| a.value.as_deref())
        };
        if let Some(host) = host_share::host_of(attribute)? {
            let holders: Vec<host_share::Claim> = self
                .synced_view()
                .await?
                .registered_instances_with(host_share::HOST_ID, &host.id)
                .iter()
                .filter(|r| !(r.berth.cluster == name && existing_id.as_deref() == Some(r.berth.id.as_str())))
                .filter(|r| doc.instance_id.as_deref() != Some(r.ec2_instance_id.as_str()))
                .map(|r| claim_of(r))
                .collect();
            host_share::check(&host, &holders, registered.cpu, registered.memory)?;
        }
        let now = now_epoch();
        let rec = match existing_id {
            Some(id) => {
                self.reattach_instance(&name, &id, registered, other, attributes, version_info, input.tags)
                    .await?
            }
            None => {
                let id = berth_core::ids::hex_id();
                let rec = InstanceRecord {
                    container_instance_arn: self.scope.container_instance_arn(&name, &id),
                    ec2_instance_id: doc.instance_id.clone().unwrap_or_else(generated_instance_id),
                    version: 1,
                    version_info,
                    remaining_resources: registered.clone(),
                    registered_resources: registered,
                    other_resources: other,
                    status: "ACTIVE".into(),
                    status_reason: None,
                    agent_connected: true,
                    attributes,
                    registered_at: now,
                    tags: input.tags,
                    berth: InstanceInternal {
                        cluster: name.clone(),
                        id: id.clone(),
                        disconnected_at: None,
                        connection_changed_at: now,
                        owner: Some(caller.owner()),
                    },
                };
                let key = keys::instance(&name, &id);
                if !self
                    .store
                    .create(&key, typed::encode(&rec).map_err(AwsError::state_store)?)
                    .await
                    .map_err(AwsError::state_store)?
                {
                    return Err(AwsError::server("container instance id collision; retry"));
                }
                rec
            }
        };
        self.agents.registered(&name, &rec.berth.id);
        tracing::info!(instance = %rec.container_instance_arn, ec2 = %rec.ec2_instance_id, "container instance registered");
        let custom = self.synced_view().await?.custom_of(&name, &rec.berth.id);
        Ok(json!({
            "containerInstance": self.render_instance(
                &rec,
                TaskCounts::default(),
                &custom,
                true,
                false,
            )
        }))
    }

    /// Re-registration: same record, fresh resources and attributes; the
    /// remaining resources are recomputed from the tasks holding a
    /// reservation, in one transaction with the instance's revision.
    #[allow(clippy::too_many_arguments)]
    async fn reattach_instance(
        &self,
        cluster: &str,
        id: &str,
        registered: Resources,
        other: Vec<Value>,
        attributes: Vec<Attribute>,
        version_info: Value,
        tags: Vec<Tag>,
    ) -> Result<InstanceRecord, AwsError> {
        let key = keys::instance(cluster, id);
        loop {
            let Some((mut rec, rev)) = typed::get::<InstanceRecord>(&*self.store, &key)
                .await
                .map_err(AwsError::state_store)?
            else {
                return Err(AwsError::server(
                    "container instance vanished while re-registering; retry",
                ));
            };
            let tasks = self.synced_view().await?.tasks_on(cluster, &rec.container_instance_arn);
            let mut view = InstanceView {
                registered: registered.clone(),
                remaining: registered.clone(),
                ..Default::default()
            };
            for t in tasks.iter().filter(|t| {
                t.berth.reserved && t.container_instance_arn.as_deref() == Some(&rec.container_instance_arn)
            }) {
                berth_scheduler::reserve(&mut view, &t.berth.demand);
            }
            let now = now_epoch();
            rec.registered_resources = registered.clone();
            rec.remaining_resources = view.remaining;
            rec.other_resources = other.clone();
            rec.attributes = attributes.clone();
            rec.version_info = version_info.clone();
            if !tags.is_empty() {
                rec.tags = tags.clone();
            }
            if !rec.agent_connected {
                rec.agent_connected = true;
                rec.berth.connection_changed_at = now;
            }
            rec.berth.disconnected_at = None;
            rec.version += 1;
            let res = self
                .store
                .txn(
                    vec![Compare::ModRevision(key.clone(), rev)],
                    vec![Op::Put(
                        key.clone(),
                        typed::encode(&rec).map_err(AwsError::state_store)?,
                    )],
                )
                .await
                .map_err(AwsError::state_store)?;
            if res.succeeded {
                return Ok(rec);
            }
        }
    }

    pub(crate) async fn describe_container_instances(
        &self,
        _ctx: &RequestContext,
        input: DescribeInput,
    ) -> Result<Value, AwsError> {
        for i in &input.include {
            if !matches!(i.as_str(), "TAGS" | "CONTAINER_INSTANCE_HEALTH") {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid include value: {i}. Valid values: TAGS, CONTAINER_INSTANCE_HEALTH."
                )));
            }
        }
        if input.container_instances.is_empty() || input.container_instances.len() > 100 {
            return Err(AwsError::invalid_parameter(
                "containerInstances must list between 1 and 100 container instances.",
            ));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let state = self.cluster_state(&name).await?;
        let counts = state.counts();
        let tags = input.include.iter().any(|i| i == "TAGS");
        let health = input.include.iter().any(|i| i == "CONTAINER_INSTANCE_HEALTH");
        let mut out = vec![];
        let mut failures = vec![];
        for reference in &input.container_instances {
            match self.get_instance(&name, reference).await? {
                Some((rec, _)) => {
                    let arn = &rec.container_instance_arn;
                    out.push(self.render_instance(
                        &rec,
                        counts.get(arn).copied().unwrap_or_default(),
                        state.custom.get(arn).map(Vec::as_slice).unwrap_or(&[]),
                        tags,
                        health,
                    ));
                }
                None => failures.push(json!({"arn": self.instance_arn_for(&name, reference), "reason": "MISSING"})),
            }
        }
        Ok(json!({"containerInstances": out, "failures": failures}))
    }

    /// The ARN a failure names for an instance reference.
    pub(crate) fn instance_arn_for(&self, cluster: &str, reference: &str) -> String {
        if reference.starts_with("arn:") {
            reference.to_string()
        } else {
            self.scope.container_instance_arn(cluster, reference)
        }
    }

    pub(crate) async fn list_container_instances(
        &self,
        _ctx: &RequestContext,
        input: ListInput,
    ) -> Result<Value, AwsError> {
        if let Some(s) = &input.status
            && !matches!(
                s.as_str(),
                "ACTIVE" | "DRAINING" | "REGISTERING" | "DEREGISTERING" | "REGISTRATION_FAILED"
            )
        {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid status '{s}'. Valid values: ACTIVE, DRAINING, REGISTERING, DEREGISTERING, REGISTRATION_FAILED."
            )));
        }
        let filter = match input.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(
                parse_expression(f)
                    .map_err(|e| AwsError::invalid_parameter(format!("Invalid filter expression: {}", e.message)))?,
            ),
        };
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let state = self.synced_view().await?.placement_state(&cluster.cluster_name);
        let views = &state.views;
        let arns: Vec<String> = state
            .instances
            .iter()
            .zip(views)
            .filter(|((rec, _), _)| match &input.status {
                Some(s) => &rec.status == s,
                None => rec.status != "INACTIVE",
            })
            .filter(|(_, view)| filter.as_ref().is_none_or(|f| f.matches(view)))
            .map(|((rec, _), _)| rec.container_instance_arn.clone())
            .collect();
        let (page, next) = paginate(
            arns,
            |a| a.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            100,
        )?;
        Ok(with_next_token(json!({"containerInstanceArns": page}), next))
    }

    pub(crate) async fn deregister_container_instance(
        &self,
        _ctx: &RequestContext,
        input: DeregisterInput,
    ) -> Result<Value, AwsError> {
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let force = input.force.unwrap_or(false);
        let not_found = || {
            AwsError::invalid_parameter(format!(
                "The referenced container instance {} was not found in cluster {name}.",
                input.container_instance
            ))
        };
        let (rec, _) = self
            .get_instance(&name, &input.container_instance)
            .await?
            .ok_or_else(not_found)?;
        if rec.status == "INACTIVE" {
            return Err(not_found());
        }
        let arn = rec.container_instance_arn.clone();
        let key = keys::instance(&name, &rec.berth.id);
        loop {
            let (mut rec, rev) = typed::get::<InstanceRecord>(&*self.store, &key)
                .await
                .map_err(AwsError::state_store)?
                .ok_or_else(not_found)?;
            let active: Vec<Arc<TaskRecord>> = self
                .cluster_tasks(&name)
                .await?
                .into_iter()
                .filter(|t| t.container_instance_arn.as_deref() == Some(&arn) && t.last_status != "STOPPED")
                .collect();
            if !active.is_empty() {
                if !force {
                    return Err(AwsError::invalid_parameter("Found running tasks on the instance."));
                }
                for t in &active {
                    self.stop_task_now(
                        &name,
                        &t.berth.id,
                        "TerminationNotice",
                        "Container instance deregistered with force.",
                    )
                    .await?;
                }
                // Stopping released resources on the instance: read it again.
                continue;
            }
            rec.status = "INACTIVE".into();
            rec.agent_connected = false;
            rec.version += 1;
            let res = self
                .store
                .txn(
                    vec![Compare::ModRevision(key.clone(), rev)],
                    vec![Op::Put(
                        key.clone(),
                        typed::encode(&rec).map_err(AwsError::state_store)?,
                    )],
                )
                .await
                .map_err(AwsError::state_store)?;
            if res.succeeded {
                self.agents.forget(&name, &rec.berth.id);
                tracing::info!(instance = %arn, force, "container instance deregistered");
                return Ok(json!({
                    "containerInstance": self.render_instance(&rec, TaskCounts::default(), &[], true, false)
                }));
            }
        }
    }

    pub(crate) async fn update_container_instances_state(
        &self,
        _ctx: &RequestContext,
        input: UpdateStateInput,
    ) -> Result<Value, AwsError> {
        if !matches!(input.status.as_str(), "ACTIVE" | "DRAINING") {
            return Err(AwsError::invalid_parameter(format!(
                "Container instances can only be set to ACTIVE or DRAINING, not {}.",
                input.status
            )));
        }
        if input.container_instances.is_empty() || input.container_instances.len() > 10 {
            return Err(AwsError::invalid_parameter(
                "containerInstances must list between 1 and 10 container instances.",
            ));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let mut updated = vec![];
        let mut failures = vec![];
        for reference in &input.container_instances {
            let Some((rec, _)) = self.get_instance(&name, reference).await? else {
                failures.push(json!({"arn": self.instance_arn_for(&name, reference), "reason": "MISSING"}));
                continue;
            };
            let status = input.status.clone();
            let result = typed::update_with::<InstanceRecord, AwsError, _>(
                AwsError::state_store,
                &*self.store,
                &keys::instance(&name, &rec.berth.id),
                |cur| match cur {
                    Some(mut r) if r.is_registered() => {
                        if r.status != status {
                            r.status = status.clone();
                            r.version += 1;
                        }
                        Ok(Some(r))
                    }
                    other => Ok(other),
                },
            )
            .await?;
            match result {
                Some(r) if r.is_registered() => updated.push(r),
                Some(r) => failures.push(json!({
                    "arn": r.container_instance_arn,
                    "reason": r.status,
                    "detail": "Only ACTIVE or DRAINING container instances can change state.",
                })),
                None => failures.push(json!({"arn": self.instance_arn_for(&name, reference), "reason": "MISSING"})),
            }
        }
        let state = self.cluster_state(&name).await?;
        let counts = state.counts();
        let out: Vec<Value> = updated
            .iter()
            .map(|r| {
                let arn = &r.container_instance_arn;
                self.render_instance(
                    r,
                    counts.get(arn).copied().unwrap_or_default(),
                    state.custom.get(arn).map(Vec::as_slice).unwrap_or(&[]),
                    false,
                    false,
                )
            })
            .collect();
        Ok(json!({"containerInstances": out, "failures": failures}))
    }
}

/// `arn:…:container-instance/ID` (the old ARN format without the cluster).
fn arn_in_old_format(arn: &str, id: &str) -> bool {
    arn.ends_with(&format!(":container-instance/{id}"))
}

/// What a registered instance holds of its host (host_share's view of it).
fn claim_of(rec: &InstanceRecord) -> host_share::Claim {
    host_share::Claim {
        arn: rec.container_instance_arn.clone(),
        cluster: rec.berth.cluster.clone(),
        cpu: rec.registered_resources.cpu,
        memory: rec.registered_resources.memory,
        agent_connected: rec.agent_connected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(name: &str, int: i64, set: Option<Vec<&str>>) -> ResourceIn {
        ResourceIn {
            name: name.into(),
            _kind: None,
            double_value: None,
            long_value: None,
            integer_value: Some(int),
            string_set_value: set.map(|s| s.into_iter().map(String::from).collect()),
        }
    }

    #[test]
    fn resources_parse_and_render() {
        let (r, other) = parse_resources(&[
            res("CPU", 2048, None),
            res("MEMORY", 3800, None),
            res("PORTS", 0, Some(vec!["22", "2375"])),
            res("GPU", 1, None),
        ])
        .unwrap();
        assert_eq!((r.cpu, r.memory), (2048, 3800));
        assert_eq!(r.ports, [22, 2375].into_iter().collect());
        assert_eq!(other.len(), 1);
        let rendered = render_resources(&r, &other);
        assert_eq!(rendered[0]["integerValue"], 2048);
        assert_eq!(rendered[2]["stringSetValue"], json!(["22", "2375"]));
        assert_eq!(rendered[4]["name"], "GPU");
        // PORTS defaults to the ECS reserved ports.
        let (r, _) = parse_resources(&[res("CPU", 1024, None), res("MEMORY", 512, None)]).unwrap();
        assert!(r.ports.contains(&51678));
        // CPU and MEMORY are required; negative or bad ports are rejected.
        assert!(parse_resources(&[res("CPU", 1024, None)]).is_err());
        assert!(parse_resources(&[res("CPU", -1, None), res("MEMORY", 512, None)]).is_err());
        assert!(
            parse_resources(&[
                res("CPU", 1, None),
                res("MEMORY", 1, None),
                res("PORTS", 0, Some(vec!["x"]))
            ])
            .is_err()
        );
    }

    #[test]
    fn attributes_merge_agent_first() {
        let doc = IdentityDocument {
            instance_id: Some("i-0123456789abcdef0".into()),
            availability_zone: Some("us-east-1b".into()),
            instance_type: Some("m5.large".into()),
            image_id: None,
        };
        let agent = vec![Attribute {
            name: "ecs.os-type".into(),
            value: Some("windows".into()),
        }];
        let m = merged_attributes(&agent, &doc, "us-east-1");
        let get = |n: &str| m.iter().find(|a| a.name == n).and_then(|a| a.value.clone());
        assert_eq!(get("ecs.os-type").as_deref(), Some("windows"));
        assert_eq!(get("ecs.availability-zone").as_deref(), Some("us-east-1b"));
        assert_eq!(get("ecs.instance-type").as_deref(), Some("m5.large"));
        assert!(m.iter().all(|a| a.name != "ecs.ami-id"));
        let m = merged_attributes(&[], &IdentityDocument::default(), "eu-west-1");
        assert_eq!(
            m.iter()
                .find(|a| a.name == "ecs.availability-zone")
                .unwrap()
                .value
                .as_deref(),
            Some("eu-west-1a")
        );
    }

    #[test]
    fn instance_ids() {
        assert!(valid_instance_id("i-0123456789abcdef0"));
        assert!(valid_instance_id(&generated_instance_id()));
        assert_eq!(generated_instance_id().len(), 19);
        assert!(!valid_instance_id("x-1"));
        assert!(!valid_instance_id("i-a b"));
        assert!(
            validate_attributes(&[Attribute {
                name: "bad name".into(),
                value: None
            }])
            .is_err()
        );
        assert!(
            validate_attributes(&[Attribute {
                name: "com.amazonaws.ecs.capability.x".into(),
                value: None
            }])
            .is_ok()
        );
    }
}
