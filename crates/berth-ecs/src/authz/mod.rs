//! The resources an ECS operation acts on, for IAM authorization, with
//! their tags (`aws:ResourceTag/…`) and the condition keys ECS sets
//! (`ecs:cluster`, `ecs:container-instances`, `ecs:task-definition`,
//! `ecs:capacity-provider`, `ecs:enable-execute-command`), following AWS's
//! service authorization reference for ECS: cluster-level operations are
//! scoped to the cluster ARN, service and task operations to the
//! service/task ARNs, container-instance operations (and the agent's
//! session, heartbeats and credentials) to the instance ARNs, RunTask and
//! StartTask to the task-definition ARN (a bare family resolved to its latest
//! ACTIVE revision, looked up once with the request). Each operation names
//! its resources from its typed input (`Operation::resources`, the
//! registration table in `routes/`); this module holds the pieces they
//! share (condition keys, ARNs in a cluster, [`star`] for the operations AWS
//! does not scope to a resource). Each role a
//! request hands to ECS is an `iam:PassRole` check ([`pass_role`]). Each
//! resource's tags come from one store get of its record ([`tag_record_key`]).

mod pass_role;

#[cfg(test)]
pub(crate) use pass_role::ECS_TASKS;
pub(crate) use pass_role::{ECS_SERVICE, PassedRole, definition_roles, role_arn, task_roles};

use crate::references::cluster_name;
use crate::references::{TagTarget, parse_resource_arn};
use crate::{Ecs, keys};
use berth_core::arn::Scope;
use berth_ecs_model::{Tag, TaskDefinitionRef, parse_task_definition_ref};
use berth_proto::AuthzResource;
use serde::Deserialize;

/// `*`: what the operations AWS does not scope to a resource are authorized on.
pub(crate) fn star() -> Vec<AuthzResource> {
    vec![AuthzResource::untagged("*")]
}

/// `ecs:cluster` of the cluster `name`.
pub(crate) fn cluster_key(scope: &Scope, name: &str) -> (String, String) {
    ("ecs:cluster".to_string(), scope.cluster_arn(name))
}

/// `ecs:container-instances` of each instance named (by id in `cluster`, or ARN).
pub(crate) fn instance_keys<'a>(
    scope: &Scope,
    cluster: &str,
    instances: impl IntoIterator<Item = &'a str>,
) -> Vec<(String, String)> {
    instances
        .into_iter()
        .map(|i| ("ecs:container-instances".to_string(), instance_arn(scope, cluster, i)))
        .collect()
}

/// `ecs:enable-execute-command` when the request sets it.
pub(crate) fn exec_key(enable: Option<bool>) -> Option<(String, String)> {
    enable.map(|b| ("ecs:enable-execute-command".to_string(), b.to_string()))
}

/// A capacity provider's ARN, given by name or ARN.
pub(crate) fn capacity_provider_arn(scope: &Scope, p: &str) -> String {
    if p.starts_with("arn:") {
        p.to_string()
    } else {
        scope.capacity_provider_arn(p)
    }
}

/// `ecs:capacity-provider` of each provider named (by name or ARN).
pub(crate) fn provider_keys<'a>(scope: &Scope, providers: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    providers
        .into_iter()
        .map(|p| ("ecs:capacity-provider".to_string(), capacity_provider_arn(scope, p)))
        .collect()
}

/// A task, service or instance ARN for a reference by id/name in the
/// request's `cluster` or by ARN; `*` when the cluster name is invalid or
/// nothing is named (the handler reports it).
pub(crate) fn arn_in_cluster(
    scope: &Scope,
    cluster: Option<&str>,
    id: Option<&str>,
    arn_of: fn(&Scope, &str, &str) -> String,
) -> String {
    match id {
        Some(arn) if arn.starts_with("arn:") => arn.to_string(),
        Some(id) => match cluster_name(cluster) {
            Ok(c) => arn_of(scope, &c, id),
            Err(_) => "*".to_string(),
        },
        None => "*".to_string(),
    }
}

/// One resource: its ARN with `ecs:cluster` (from the ARN) and `extra` keys.
pub(crate) fn resource(scope: &Scope, arn: String, extra: Vec<(String, String)>) -> AuthzResource {
    let mut condition_keys: Vec<(String, String)> = cluster_of_arn(scope, &arn)
        .map(|c| cluster_key(scope, &c))
        .into_iter()
        .collect();
    condition_keys.extend(extra);
    AuthzResource {
        arn,
        condition_keys,
        ..AuthzResource::default()
    }
}

/// Resources of these ARNs, `*` when there are none (pure).
pub(crate) fn resources_of(scope: &Scope, arns: impl IntoIterator<Item = String>) -> Vec<AuthzResource> {
    let out: Vec<AuthzResource> = arns.into_iter().map(|a| resource(scope, a, vec![])).collect();
    if out.is_empty() { star() } else { out }
}

/// The cluster a request names (`cluster`, default `default`); `*` when the
/// name is invalid (the handler reports it).
pub(crate) fn cluster_resource(scope: &Scope, cluster: Option<&str>) -> AuthzResource {
    let arn = match cluster_name(cluster) {
        Ok(name) => scope.cluster_arn(&name),
        Err(_) => "*".to_string(),
    };
    resource(scope, arn, vec![])
}

/// Services, tasks or container instances by id in the request's
/// `cluster` or by ARN; `*` when none is named.
pub(crate) fn in_cluster<'a>(
    scope: &Scope,
    cluster: Option<&str>,
    ids: impl IntoIterator<Item = &'a str>,
    arn_of: fn(&Scope, &str, &str) -> String,
) -> Vec<AuthzResource> {
    resources_of(
        scope,
        ids.into_iter()
            .map(|id| arn_in_cluster(scope, cluster, Some(id), arn_of)),
    )
}

/// The container instance an agent request names, with `ecs:cluster`:
/// what the agent's session, heartbeats and credentials are authorized on.
pub(crate) fn instance_resource(scope: &Scope, cluster: Option<&str>, instance: &str) -> AuthzResource {
    resource(
        scope,
        arn_in_cluster(scope, cluster, Some(instance), Scope::container_instance_arn),
        vec![],
    )
}

/// The AWS action a Berth-only agent operation is authorized as. An ECS
/// agent heartbeats and receives its tasks' credentials over its ACS session
/// and reports metrics over its telemetry session, so AWS's agent role
/// policy (`AmazonEC2ContainerServiceforEC2Role`) grants `ecs:Poll` and
/// `ecs:StartTelemetrySession`, not Berth's operation names: `BerthHeartbeat`
/// and `BerthGetTaskCredentials` are `ecs:Poll`, `BerthPublishTaskUsage` is
/// `ecs:StartTelemetrySession`, each on the agent's container instance.
pub(crate) const AGENT_SESSION_ACTION: &str = "ecs:Poll";
/// See [`AGENT_SESSION_ACTION`].
pub(crate) const AGENT_TELEMETRY_ACTION: &str = "ecs:StartTelemetrySession";

/// A container instance authorized as an agent call `action` (pure).
pub(crate) fn agent_instance_resource(
    scope: &Scope,
    cluster: Option<&str>,
    instance: &str,
    action: &str,
) -> AuthzResource {
    AuthzResource {
        action: Some(action.to_string()),
        ..instance_resource(scope, cluster, instance)
    }
}

/// A task definition named by `family:revision` or ARN (a bare family:
/// `task-definition/FAMILY`), for DeleteTaskDefinitions (pure).
pub(crate) fn task_definition_arn(scope: &Scope, t: &str) -> String {
    match parse_task_definition_ref(t) {
        Ok((TaskDefinitionRef::Revision(family, revision), None)) => scope.task_definition_arn(&family, revision),
        _ if t.starts_with("arn:") => t.to_string(),
        _ => scope.arn("ecs", format!("task-definition/{t}")),
    }
}

fn instance_arn(scope: &Scope, cluster: &str, reference: &str) -> String {
    if reference.starts_with("arn:") {
        reference.to_string()
    } else {
        scope.container_instance_arn(cluster, reference)
    }
}

/// The cluster a cluster, service, task, container-instance,
/// service-deployment or service-revision ARN (of this account) is in.
pub(crate) fn cluster_of_arn(scope: &Scope, arn: &str) -> Option<String> {
    for kind in ["service-deployment/", "service-revision/", "task-set/"] {
        let prefix = scope.arn("ecs", kind);
        if let Some(rest) = arn.strip_prefix(&prefix) {
            return rest.split('/').next().filter(|c| !c.is_empty()).map(str::to_string);
        }
    }
    match parse_resource_arn(scope, arn).ok()? {
        TagTarget::Cluster(c)
        | TagTarget::Task(Some(c), _)
        | TagTarget::Service(Some(c), _)
        | TagTarget::ContainerInstance(Some(c), _) => Some(c),
        _ => None,
    }
}

/// The tags of the ECS resource `arn` names; none when it names nothing here,
/// the lookup fails, or it is a short ARN without its cluster (finding it would
/// need a scan).
pub(crate) async fn resource_tags(ecs: &Ecs, arn: &str) -> Vec<(String, String)> {
    let Some(key) = tag_record_key(&ecs.scope, arn) else {
        return Vec::new();
    };
    match ecs.store.get(&key).await {
        Ok(Some(kv)) => tags_in(&kv.value),
        _ => Vec::new(),
    }
}

/// The store key of the record holding the tags of the resource `arn` names.
pub(crate) fn tag_record_key(scope: &Scope, arn: &str) -> Option<String> {
    if arn == "*" {
        return None;
    }
    Some(match parse_resource_arn(scope, arn).ok()? {
        TagTarget::Cluster(name) => keys::cluster(&name),
        TagTarget::TaskDefinition(family, revision) => keys::task_definition(&family, revision),
        TagTarget::Task(Some(cluster), id) => keys::task(&cluster, &id),
        TagTarget::Service(Some(cluster), name) => keys::service(&cluster, &name),
        TagTarget::ContainerInstance(Some(cluster), id) => keys::instance(&cluster, &id),
        TagTarget::CapacityProvider(name) => keys::capacity_provider(&name),
        TagTarget::Task(None, _) | TagTarget::Service(None, _) | TagTarget::ContainerInstance(None, _) => return None,
    })
}

/// The top-level `tags` of a stored ECS record (none if it has none or is unreadable).
fn tags_in(value: &[u8]) -> Vec<(String, String)> {
    #[derive(Deserialize)]
    struct Tagged {
        #[serde(default)]
        tags: Option<Vec<Tag>>,
    }
    serde_json::from_slice::<Tagged>(value)
        .ok()
        .and_then(|t| t.tags)
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_records_of_arns() {
        let s = Scope::new("us-east-1", "000000000000");
        let key = |arn: &str| tag_record_key(&s, &format!("arn:aws:ecs:us-east-1:000000000000:{arn}"));
        assert_eq!(key("cluster/a"), Some(keys::cluster("a")));
        assert_eq!(key("task-definition/web:3"), Some(keys::task_definition("web", 3)));
        assert_eq!(key("task/c/abc"), Some(keys::task("c", "abc")));
        assert_eq!(key("service/c/web"), Some(keys::service("c", "web")));
        assert_eq!(key("container-instance/c/i1"), Some(keys::instance("c", "i1")));
        // Short ARNs would need a scan; other accounts and `*` name nothing here.
        assert_eq!(key("task/abc"), None);
        assert_eq!(tag_record_key(&s, "arn:aws:ecs:us-east-1:111111111111:cluster/a"), None);
        assert_eq!(tag_record_key(&s, "*"), None);
    }

    #[test]
    fn clusters_of_arns() {
        let s = Scope::new("us-east-1", "000000000000");
        let of = |arn: &str| cluster_of_arn(&s, &format!("arn:aws:ecs:us-east-1:000000000000:{arn}"));
        assert_eq!(of("cluster/a").as_deref(), Some("a"));
        assert_eq!(of("service/c/web").as_deref(), Some("c"));
        assert_eq!(of("task/c/abc").as_deref(), Some("c"));
        assert_eq!(of("task-definition/web:1"), None);
        assert_eq!(cluster_of_arn(&s, "*"), None);
    }

    #[test]
    fn tags_of_records() {
        assert_eq!(
            tags_in(br#"{"clusterName": "a", "tags": [{"key": "team", "value": "a"}]}"#),
            vec![("team".to_string(), "a".to_string())]
        );
        assert!(tags_in(br#"{"clusterName": "a"}"#).is_empty());
        assert!(tags_in(b"not json").is_empty());
    }
}
