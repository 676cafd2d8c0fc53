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
//! registration table in `routes.rs`); this module holds the pieces they
//! share (condition keys, ARNs in a cluster) and the by-name mapping of the
//! operations still `untyped!` ([`untyped_resources`]), where only the
//! operations AWS does not scope to a resource are on `*`. Each role a
//! request hands to ECS is an `iam:PassRole` check ([`pass_role`]). Each
//! resource's tags come from one store get of its record ([`tag_record_key`]).

mod pass_role;

pub(crate) use pass_role::{ECS_SERVICE, PassedRole, role_arn, task_roles};

use crate::clusters::cluster_name;
use crate::tags::{TagTarget, parse_resource_arn};
use crate::{Ecs, keys};
use berth_core::arn::Scope;
use berth_core::ecs::{Tag, TaskDefinitionRef, parse_task_definition_ref};
use berth_proto::AuthzResource;
use serde::Deserialize;
use serde_json::Value;

/// The resources of an operation whose input is still JSON
/// ([`crate::routes`]' `untyped!` ones), without tags: its ARNs with their
/// condition keys, then one `iam:PassRole` check per role it passes.
pub(crate) fn untyped_resources(scope: &Scope, operation: &str, input: &Value) -> Vec<AuthzResource> {
    let arns = resource_arns(scope, operation, input).unwrap_or_else(|| vec!["*".to_string()]);
    let mut out: Vec<AuthzResource> = arns
        .into_iter()
        .map(|arn| AuthzResource {
            condition_keys: condition_keys(scope, operation, input, &arn, None),
            arn,
            ..AuthzResource::default()
        })
        .collect();
    out.extend(
        pass_role::passed_roles(scope, operation, input, None)
            .iter()
            .map(PassedRole::authz_resource),
    );
    out
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

/// `ecs:capacity-provider` of each provider named (by name or ARN).
pub(crate) fn provider_keys<'a>(scope: &Scope, providers: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    providers
        .into_iter()
        .map(|p| {
            let arn = if p.starts_with("arn:") {
                p.to_string()
            } else {
                scope.capacity_provider_arn(p)
            };
            ("ecs:capacity-provider".to_string(), arn)
        })
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

/// One resource of a typed operation: its ARN with `ecs:cluster` (from the
/// ARN), and `extra` keys.
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

/// The container instance an agent request names (`cluster`,
/// `containerInstance`), with `ecs:cluster`: what the agent session is
/// authorized on (pure).
pub(crate) fn agent_instance_resource(scope: &Scope, input: &Value) -> AuthzResource {
    let arn = resource_arns(scope, "BerthHeartbeat", input)
        .and_then(|a| a.into_iter().next())
        .unwrap_or_else(|| "*".to_string());
    AuthzResource {
        condition_keys: condition_keys(scope, "BerthHeartbeat", input, &arn, None),
        arn,
        ..AuthzResource::default()
    }
}

/// The ECS condition keys of one resource of `operation` (pure).
/// `task_definition`: the resolved ARN a CreateService/UpdateService names.
pub(crate) fn condition_keys(
    scope: &Scope,
    operation: &str,
    input: &Value,
    arn: &str,
    task_definition: Option<&str>,
) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let param = |name: &str| input.get(name).and_then(Value::as_str);
    let run_in = match operation {
        "RunTask" | "StartTask" => cluster_name(param("cluster")).ok(),
        _ => None,
    };
    if let Some(c) = run_in.or_else(|| cluster_of_arn(scope, arn)) {
        keys.push(cluster_key(scope, &c));
    }
    if operation == "StartTask"
        && let Ok(cluster) = cluster_name(param("cluster"))
    {
        keys.extend(instance_keys(scope, &cluster, strings(input, "containerInstances")));
    }
    if let Some(td) = task_definition {
        keys.push(("ecs:task-definition".to_string(), td.to_string()));
    }
    if matches!(operation, "RunTask" | "StartTask" | "CreateService" | "UpdateService") {
        keys.extend(exec_key(input.get("enableExecuteCommand").and_then(Value::as_bool)));
    }
    let providers: Vec<&str> = match operation {
        "CreateCluster" | "PutClusterCapacityProviders" => strings(input, "capacityProviders"),
        "RunTask" | "CreateService" | "UpdateService" => input
            .get("capacityProviderStrategy")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|i| i.get("capacityProvider").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default(),
        _ => vec![],
    };
    keys.extend(provider_keys(scope, providers));
    keys
}

/// The strings of an array field (none when absent).
fn strings<'a>(input: &'a Value, field: &str) -> Vec<&'a str> {
    input
        .get(field)
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
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
    for kind in ["service-deployment/", "service-revision/"] {
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

/// The resource ARNs of `operation`, pure: None for an operation with no
/// mapping (every routed operation has one, see `routes.rs`' tests);
/// `*` only for the operations AWS does not scope to a resource, or when
/// the input names none (the handler then reports the missing parameter).
pub(crate) fn resource_arns(scope: &Scope, operation: &str, input: &Value) -> Option<Vec<String>> {
    let param = |name: &str| input.get(name).and_then(Value::as_str);
    let star = || vec!["*".to_string()];
    let cluster = |p: Option<&str>| match cluster_name(p) {
        Ok(name) => vec![scope.cluster_arn(&name)],
        // The handler reports the invalid parameter.
        Err(_) => star(),
    };
    let arns = |field: &str| -> Vec<String> {
        let l: Vec<String> = strings(input, field).into_iter().map(str::to_string).collect();
        if l.is_empty() { star() } else { l }
    };
    Some(match operation {
        // AWS: no resource type (the action applies to `*`).
        "ListClusters"
        | "RegisterTaskDefinition"
        | "DescribeTaskDefinition"
        | "ListTaskDefinitions"
        | "ListTaskDefinitionFamilies"
        | "DeregisterTaskDefinition"
        | "PutAccountSetting"
        | "PutAccountSettingDefault"
        | "ListAccountSettings"
        | "DeleteAccountSetting" => star(),
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
        | "ListAttributes"
        | "RegisterContainerInstance"
        | "SubmitTaskStateChange"
        | "SubmitContainerStateChange" => cluster(param("cluster")),
        "CreateService" => match (cluster_name(param("cluster")), param("serviceName")) {
            (Ok(c), Some(name)) => vec![scope.service_arn(&c, name)],
            _ => star(),
        },
        "UpdateService" | "DeleteService" | "ListServiceDeployments" => {
            in_cluster(scope, input, param("service"), Scope::service_arn)
        }
        "DescribeServices" => list_in_cluster(scope, input, "services", Scope::service_arn),
        "DescribeServiceDeployments" => arns("serviceDeploymentArns"),
        "DescribeServiceRevisions" => arns("serviceRevisionArns"),
        "StopServiceDeployment" => param("serviceDeploymentArn").map_or_else(star, |a| vec![a.to_string()]),
        "DescribeContainerInstances" | "UpdateContainerInstancesState" => {
            list_in_cluster(scope, input, "containerInstances", Scope::container_instance_arn)
        }
        // The agent's own operations: on its container instance.
        "BerthHeartbeat" | "BerthGetTaskCredentials" => {
            in_cluster(scope, input, param("containerInstance"), Scope::container_instance_arn)
        }
        "PutAttributes" | "DeleteAttributes" => {
            let targets: Vec<&str> = input
                .get("attributes")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|a| a.get("targetId").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            let mut out: Vec<String> = vec![];
            for t in targets {
                for arn in in_cluster(scope, input, Some(t), Scope::container_instance_arn) {
                    if !out.contains(&arn) {
                        out.push(arn);
                    }
                }
            }
            if out.is_empty() { star() } else { out }
        }
        "RunTask" | "StartTask" => match param("taskDefinition").map(parse_task_definition_ref) {
            Some(Ok((_, Some(_)))) => vec![param("taskDefinition").unwrap_or("*").to_string()],
            Some(Ok((TaskDefinitionRef::Revision(family, revision), None))) => {
                vec![scope.task_definition_arn(&family, revision)]
            }
            // A bare family: its latest revision ([`authz_resources`] looks it up).
            Some(Ok((TaskDefinitionRef::Family(family), None))) => {
                vec![scope.arn("ecs", format!("task-definition/{family}"))]
            }
            _ => star(),
        },
        "DeleteTaskDefinitions" => {
            let l: Vec<String> = strings(input, "taskDefinitions")
                .into_iter()
                .map(|t| match parse_task_definition_ref(t) {
                    Ok((TaskDefinitionRef::Revision(family, revision), None)) => {
                        scope.task_definition_arn(&family, revision)
                    }
                    _ if t.starts_with("arn:") => t.to_string(),
                    _ => scope.arn("ecs", format!("task-definition/{t}")),
                })
                .collect();
            if l.is_empty() { star() } else { l }
        }
        "DescribeCapacityProviders" => {
            let l: Vec<String> = strings(input, "capacityProviders")
                .into_iter()
                .map(|p| {
                    if p.starts_with("arn:") {
                        p.to_string()
                    } else {
                        scope.capacity_provider_arn(p)
                    }
                })
                .collect();
            if l.is_empty() { star() } else { l }
        }
        "StopTask" => in_cluster(scope, input, param("task"), Scope::task_arn),
        "DescribeTasks" => list_in_cluster(scope, input, "tasks", Scope::task_arn),
        "TagResource" | "UntagResource" | "ListTagsForResource" => match param("resourceArn") {
            Some(arn) if arn.starts_with("arn:") => vec![arn.to_string()],
            _ => star(),
        },
        _ => return None,
    })
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

    fn arns(scope: &Scope, op: &str, input: &Value) -> Vec<String> {
        resource_arns(scope, op, input).unwrap_or_else(|| panic!("{op} has no mapping"))
    }

    #[test]
    fn cluster_scoped_operations() {
        let s = Scope::new("us-east-1", "000000000000");
        let a = "arn:aws:ecs:us-east-1:000000000000:cluster/a";
        assert_eq!(arns(&s, "CreateCluster", &json!({"clusterName": "a"})), vec![a]);
        assert_eq!(
            arns(&s, "CreateCluster", &json!({})),
            vec!["arn:aws:ecs:us-east-1:000000000000:cluster/default"]
        );
        assert_eq!(
            arns(&s, "DescribeClusters", &json!({"clusters": ["a", "b"]})),
            vec![a, "arn:aws:ecs:us-east-1:000000000000:cluster/b"]
        );
        assert_eq!(arns(&s, "DeleteCluster", &json!({"cluster": a})), vec![a]);
        assert_eq!(arns(&s, "ListTasks", &json!({"cluster": "bad name"})), vec!["*"]);
        assert_eq!(arns(&s, "ListClusters", &json!({})), vec!["*"]);
    }

    #[test]
    fn container_instance_operations() {
        let s = Scope::new("us-east-1", "000000000000");
        assert_eq!(
            arns(
                &s,
                "DescribeContainerInstances",
                &json!({"cluster": "c", "containerInstances": ["i1"]})
            ),
            vec!["arn:aws:ecs:us-east-1:000000000000:container-instance/c/i1"]
        );
        assert_eq!(
            arns(
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
            arns(&s, "CreateService", &json!({"cluster": "c", "serviceName": "web"})),
            vec!["arn:aws:ecs:us-east-1:000000000000:service/c/web"]
        );
        assert_eq!(
            arns(
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
            arns(&s, "StopTask", &json!({"cluster": "c", "task": "abc"})),
            vec!["arn:aws:ecs:us-east-1:000000000000:task/c/abc"]
        );
        assert_eq!(arns(&s, "DescribeTasks", &json!({})), vec!["*"]);
        assert_eq!(
            arns(
                &s,
                "TagResource",
                &json!({"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/a"})
            ),
            vec!["arn:aws:ecs:us-east-1:000000000000:cluster/a"]
        );
    }
}

#[cfg(test)]
mod condition_key_tests {
    use super::*;
    use serde_json::json;

    const A: &str = "arn:aws:ecs:us-east-1:000000000000:";

    fn keys(op: &str, input: Value, arn: &str, td: Option<&str>) -> Vec<(String, String)> {
        condition_keys(&Scope::new("us-east-1", "000000000000"), op, &input, arn, td)
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn cluster_key_from_the_resource_or_the_cluster_a_task_runs_in() {
        assert_eq!(
            keys("StopTask", json!({}), &format!("{A}task/c/t1"), None),
            vec![kv("ecs:cluster", &format!("{A}cluster/c"))]
        );
        assert_eq!(
            keys(
                "BerthHeartbeat",
                json!({}),
                &format!("{A}container-instance/c/i1"),
                None
            ),
            vec![kv("ecs:cluster", &format!("{A}cluster/c"))]
        );
        assert_eq!(
            keys(
                "DescribeServiceDeployments",
                json!({}),
                &format!("{A}service-deployment/c/web/1"),
                None
            ),
            vec![kv("ecs:cluster", &format!("{A}cluster/c"))]
        );
        assert_eq!(
            keys(
                "RunTask",
                json!({"cluster": "x"}),
                &format!("{A}task-definition/web:1"),
                None
            ),
            vec![kv("ecs:cluster", &format!("{A}cluster/x"))]
        );
        assert!(keys("ListClusters", json!({}), "*", None).is_empty());
    }

    #[test]
    fn instances_task_definitions_exec_and_capacity_providers() {
        let td = format!("{A}task-definition/web:1");
        assert_eq!(
            keys(
                "StartTask",
                json!({"cluster": "c", "containerInstances": ["i1", format!("{A}container-instance/c/i2")],
                       "enableExecuteCommand": true}),
                &td,
                None
            ),
            vec![
                kv("ecs:cluster", &format!("{A}cluster/c")),
                kv("ecs:container-instances", &format!("{A}container-instance/c/i1")),
                kv("ecs:container-instances", &format!("{A}container-instance/c/i2")),
                kv("ecs:enable-execute-command", "true"),
            ]
        );
        assert_eq!(
            keys(
                "CreateService",
                json!({"capacityProviderStrategy": [{"capacityProvider": "cp"}]}),
                &format!("{A}service/c/web"),
                Some(&td)
            ),
            vec![
                kv("ecs:cluster", &format!("{A}cluster/c")),
                kv("ecs:task-definition", &td),
                kv("ecs:capacity-provider", &format!("{A}capacity-provider/cp")),
            ]
        );
        assert_eq!(
            keys(
                "PutClusterCapacityProviders",
                json!({"capacityProviders": ["FARGATE"]}),
                &format!("{A}cluster/c"),
                None
            ),
            vec![
                kv("ecs:cluster", &format!("{A}cluster/c")),
                kv("ecs:capacity-provider", &format!("{A}capacity-provider/FARGATE")),
            ]
        );
    }
}
