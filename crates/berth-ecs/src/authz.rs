//! The resources an ECS operation acts on, for IAM authorization, and their
//! tags (`aws:ResourceTag/…`). The mapping is pure ([`resource_arns`]):
//! cluster-level operations are scoped to the cluster ARN, service and task
//! operations to the service/task ARNs, container-instance operations to the
//! instance ARNs, as in AWS (so a Deny on one cluster's ARN refuses them for
//! that cluster only); the others are checked against `*`. RunTask and
//! StartTask authorize on the task-definition ARN, which for a bare family
//! needs its latest revision ([`authz_resources`]). Each resource's tags come
//! from one store get of its record ([`tag_record_key`]).

use crate::clusters::cluster_name;
use crate::tags::{TagTarget, parse_resource_arn};
use crate::{Ecs, keys};
use berth_core::arn::Scope;
use berth_core::ecs::{STATUS_ACTIVE, Tag, TaskDefinitionRecord, TaskDefinitionRef, parse_task_definition_ref};
use berth_proto::AuthzResource;
use berth_store::typed;
use serde::Deserialize;
use serde_json::Value;

/// The resources `operation` is authorized on, with their tags.
/// `ecs:cluster` (the cluster's ARN) is set for RunTask/StartTask (the
/// cluster they run in) and for resources inside a cluster.
pub(crate) async fn authz_resources(ecs: &Ecs, operation: &str, input: &Value) -> Vec<AuthzResource> {
    let run_in = match operation {
        "RunTask" | "StartTask" => cluster_name(input.get("cluster").and_then(Value::as_str)).ok(),
        _ => None,
    };
    let arns = match operation {
        "RunTask" | "StartTask" => vec![task_definition_arn(ecs, input).await],
        _ => resource_arns(&ecs.scope, operation, input),
    };
    let mut out = Vec::with_capacity(arns.len());
    for arn in arns {
        let tags = resource_tags(ecs, &arn).await;
        let cluster = run_in.clone().or_else(|| cluster_of_arn(&ecs.scope, &arn));
        out.push(AuthzResource {
            condition_keys: cluster
                .map(|c| vec![("ecs:cluster".to_string(), ecs.scope.cluster_arn(&c))])
                .unwrap_or_default(),
            arn,
            tags,
            ..AuthzResource::default()
        });
    }
    out
}

/// The cluster a cluster, service, task or container-instance ARN is in.
pub(crate) fn cluster_of_arn(scope: &Scope, arn: &str) -> Option<String> {
    match parse_resource_arn(scope, arn).ok()? {
        TagTarget::Cluster(c)
        | TagTarget::Task(Some(c), _)
        | TagTarget::Service(Some(c), _)
        | TagTarget::ContainerInstance(Some(c), _) => Some(c),
        _ => None,
    }
}

/// The task-definition ARN a RunTask/StartTask names: `family:revision` and
/// ARNs as given; a bare family is its latest ACTIVE revision (the family's
/// last revision in one get; a scan only when that one is inactive); a family
/// that does not exist is `task-definition/FAMILY` (the handler reports it).
async fn task_definition_arn(ecs: &Ecs, input: &Value) -> String {
    let Some(ident) = input.get("taskDefinition").and_then(Value::as_str) else {
        return "*".to_string();
    };
    let Ok((reference, arn_scope)) = parse_task_definition_ref(ident) else {
        return "*".to_string();
    };
    match reference {
        _ if arn_scope.is_some() => ident.to_string(),
        TaskDefinitionRef::Revision(family, revision) => ecs.scope.task_definition_arn(&family, revision),
        TaskDefinitionRef::Family(family) => {
            let last = match typed::get::<Value>(&*ecs.store, &keys::family(&family)).await {
                Ok(Some((v, _))) => v.get("lastRevision").and_then(Value::as_i64),
                _ => None,
            };
            if let Some(rev) = last
                && let Ok(Some((rec, _))) =
                    typed::get::<TaskDefinitionRecord>(&*ecs.store, &keys::task_definition(&family, rev)).await
                && rec.task_definition.status_str() == STATUS_ACTIVE
            {
                return ecs.scope.task_definition_arn(&family, rev);
            }
            match ecs.find_task_definition(ident).await {
                Ok(Some((rec, _, _))) => ecs
                    .scope
                    .task_definition_arn(&family, rec.task_definition.revision_number()),
                _ => ecs.scope.arn("ecs", format!("task-definition/{family}")),
            }
        }
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

pub(crate) fn resource_arns(scope: &Scope, operation: &str, input: &Value) -> Vec<String> {
    let param = |name: &str| input.get(name).and_then(Value::as_str);
    let cluster = |p: Option<&str>| match cluster_name(p) {
        Ok(name) => vec![scope.cluster_arn(&name)],
        // The handler reports the invalid parameter.
        Err(_) => vec!["*".to_string()],
    };
    match operation {
        "CreateCluster" => cluster(param("clusterName")),
        "DescribeClusters" => match input.get("clusters").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => list.iter().flat_map(|c| cluster(c.as_str())).collect(),
            _ => cluster(None),
        },
        "DeleteCluster"
        | "DeregisterContainerInstance"
        | "UpdateCluster"
        | "UpdateClusterSettings"
        | "PutClusterCapacityProviders"
        | "ListContainerInstances"
        | "ListTasks"
        | "ListServices"
        | "RegisterContainerInstance" => cluster(param("cluster")),
        "CreateService" => match (cluster_name(param("cluster")), param("serviceName")) {
            (Ok(c), Some(name)) => vec![scope.service_arn(&c, name)],
            _ => vec!["*".to_string()],
        },
        "UpdateService" | "DeleteService" => in_cluster(scope, input, param("service"), Scope::service_arn),
        "DescribeServices" => list_in_cluster(scope, input, "services", Scope::service_arn),
        "DescribeContainerInstances" | "UpdateContainerInstancesState" => {
            list_in_cluster(scope, input, "containerInstances", Scope::container_instance_arn)
        }
        "StopTask" => in_cluster(scope, input, param("task"), Scope::task_arn),
        "DescribeTasks" => list_in_cluster(scope, input, "tasks", Scope::task_arn),
        "TagResource" | "UntagResource" | "ListTagsForResource" => match param("resourceArn") {
            Some(arn) if arn.starts_with("arn:") => vec![arn.to_string()],
            _ => vec!["*".to_string()],
        },
        _ => vec!["*".to_string()],
    }
}

/// A service or task given by name/id (in the request's `cluster`) or ARN.
fn in_cluster(scope: &Scope, input: &Value, id: Option<&str>, arn_of: fn(&Scope, &str, &str) -> String) -> Vec<String> {
    match id {
        Some(arn) if arn.starts_with("arn:") => vec![arn.to_string()],
        Some(id) => match cluster_name(input.get("cluster").and_then(Value::as_str)) {
            Ok(c) => vec![arn_of(scope, &c, id)],
            Err(_) => vec!["*".to_string()],
        },
        None => vec!["*".to_string()],
    }
}

fn list_in_cluster(scope: &Scope, input: &Value, field: &str, arn_of: fn(&Scope, &str, &str) -> String) -> Vec<String> {
    let ids: Vec<&str> = input
        .get(field)
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return vec!["*".to_string()];
    }
    ids.into_iter()
        .flat_map(|id| in_cluster(scope, input, Some(id), arn_of))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_scoped_operations() {
        let s = Scope::new("us-east-1", "000000000000");
        let a = "arn:aws:ecs:us-east-1:000000000000:cluster/a";
        assert_eq!(
            resource_arns(&s, "CreateCluster", &json!({"clusterName": "a"})),
            vec![a]
        );
        assert_eq!(
            resource_arns(&s, "CreateCluster", &json!({})),
            vec!["arn:aws:ecs:us-east-1:000000000000:cluster/default"]
        );
        assert_eq!(
            resource_arns(&s, "DescribeClusters", &json!({"clusters": ["a", "b"]})),
            vec![a, "arn:aws:ecs:us-east-1:000000000000:cluster/b"]
        );
        assert_eq!(resource_arns(&s, "DeleteCluster", &json!({"cluster": a})), vec![a]);
        assert_eq!(
            resource_arns(&s, "ListTasks", &json!({"cluster": "bad name"})),
            vec!["*"]
        );
        assert_eq!(resource_arns(&s, "ListClusters", &json!({})), vec!["*"]);
    }

    #[test]
    fn container_instance_operations() {
        let s = Scope::new("us-east-1", "000000000000");
        assert_eq!(
            resource_arns(
                &s,
                "DescribeContainerInstances",
                &json!({"cluster": "c", "containerInstances": ["i1"]})
            ),
            vec!["arn:aws:ecs:us-east-1:000000000000:container-instance/c/i1"]
        );
        assert_eq!(
            resource_arns(
                &s,
                "DeregisterContainerInstance",
                &json!({"cluster": "c", "containerInstance": "i1"})
            ),
            vec!["arn:aws:ecs:us-east-1:000000000000:cluster/c"]
        );
    }

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

    #[test]
    fn services_tasks_and_tags() {
        let s = Scope::new("us-east-1", "000000000000");
        assert_eq!(
            resource_arns(&s, "CreateService", &json!({"cluster": "c", "serviceName": "web"})),
            vec!["arn:aws:ecs:us-east-1:000000000000:service/c/web"]
        );
        assert_eq!(
            resource_arns(
                &s,
                "DescribeServices",
                &json!({"services": ["web", "arn:aws:ecs:us-east-1:000000000000:service/c/api"]})
            ),
            vec![
                "arn:aws:ecs:us-east-1:000000000000:service/default/web",
                "arn:aws:ecs:us-east-1:000000000000:service/c/api"
            ]
        );
        assert_eq!(
            resource_arns(&s, "StopTask", &json!({"cluster": "c", "task": "abc"})),
            vec!["arn:aws:ecs:us-east-1:000000000000:task/c/abc"]
        );
        assert_eq!(resource_arns(&s, "DescribeTasks", &json!({})), vec!["*"]);
        assert_eq!(
            resource_arns(
                &s,
                "TagResource",
                &json!({"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/a"})
            ),
            vec!["arn:aws:ecs:us-east-1:000000000000:cluster/a"]
        );
    }
}
