//! RegisterContainerInstance: a new record, or re-registration of a known
//! one; the instance's identity document and attributes.

use super::resources::{ResourceIn, parse_resources};
use super::state::TaskCounts;
use crate::agent_identity::{self};
use crate::host_share;
use crate::{Ecs, keys};
use berth_core::time::now_epoch;
use berth_ecs_model::ContainerInstanceStatus;
use berth_ecs_model::instance::{Attribute, InstanceInternal, InstanceRecord};
use berth_ecs_model::{Tag, validate_tags};
use berth_proto::{AwsError, RequestContext};
use berth_scheduler::{InstanceView, Resources};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

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

impl Ecs {
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
                Some((rec, _)) if rec.status == ContainerInstanceStatus::Inactive => {
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
        // Each host's awsvpc task subnet is routed to it: two hosts of the
        // region may not claim overlapping ones.
        if let (Some(subnet), Some(host)) = (
            attribute(crate::security_groups::TASK_SUBNET),
            attribute(crate::security_groups::HOST_ADDRESS),
        ) {
            let me = existing_id
                .as_deref()
                .map(|id| self.scope.container_instance_arn(&name, id));
            let others: Vec<_> = self
                .host_networks()
                .await?
                .into_iter()
                .filter(|h| Some(&h.instance_arn) != me.as_ref())
                .collect();
            if let Some(c) = crate::security_groups::subnet_conflict(subnet, host, &others) {
                return Err(AwsError::invalid_parameter(format!(
                    "The task subnet {subnet} of this host ({host}) overlaps the task subnet {} of container instance {} \
                     (cluster {}, host {}): give each host's agent its own --task-subnet.",
                    c.task_subnet, c.instance_arn, c.cluster, c.host_address
                )));
            }
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
                    status: ContainerInstanceStatus::Active.into(),
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
        // EC2's default VPC gets a default subnet in the agent's zone.
        if let Some(zone) = rec.attribute(berth_scheduler::ZONE_ATTRIBUTE) {
            self.zone_registered(zone).await;
        }
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
            let Some((mut rec, rev)) = self.stored_instance(cluster, id).await? else {
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
            if self.put_at_revision(&key, rev, &rec).await? {
                return Ok(rec);
            }
        }
    }
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
