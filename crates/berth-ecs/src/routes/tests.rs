use super::*;
use crate::authz::{ECS_SERVICE, ECS_TASKS};
use crate::operation::Entry;
use berth_core::arn::Scope;
use serde_json::{Value, json};

/// The operations AWS does not scope to a resource: the only ones that
/// may be authorized on `*` whatever their input.
const STAR: &[&str] = &[
    "ListClusters",
    "RegisterTaskDefinition",
    "DescribeTaskDefinition",
    "ListTaskDefinitions",
    "ListTaskDefinitionFamilies",
    "DeregisterTaskDefinition",
    "PutAccountSetting",
    "PutAccountSettingDefault",
    "ListAccountSettings",
    "DeleteAccountSetting",
];

/// An input naming every resource field the routed operations read
/// (and the required members of the typed ones): each operation
/// outside STAR then names a resource.
fn full() -> Value {
    json!({
        "cluster": "c", "clusterName": "c", "clusters": ["c"], "service": "web", "serviceName": "web",
        "services": ["web"], "task": "t1", "tasks": ["t1"], "containerInstance": "i1",
        "containerInstances": ["i1"], "taskDefinition": "web:1", "taskDefinitions": ["web:1"],
        "capacityProviders": ["cp"], "resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/c",
        "attributes": [{"name": "a", "targetId": "i1"}],
        "serviceDeploymentArn": "arn:aws:ecs:us-east-1:000000000000:service-deployment/c/web/1",
        "serviceDeploymentArns": ["arn:aws:ecs:us-east-1:000000000000:service-deployment/c/web/1"],
        "serviceRevisionArns": ["arn:aws:ecs:us-east-1:000000000000:service-revision/c/web/1"],
        "hookId": "ecs-pause-1-1",
        "protectionEnabled": true, "settings": [], "name": "awsvpcTrunking", "value": "enabled",
        "targetType": "container-instance", "family": "web", "containerDefinitions": [],
        "defaultCapacityProviderStrategy": [], "tags": [], "tagKeys": [],
        "taskSet": "ecs-svc/1", "primaryTaskSet": "ecs-svc/1", "taskSets": ["ecs-svc/1"],
        "scale": {"value": 50.0, "unit": "PERCENT"},
    })
}

/// [`full`], with the members whose shape differs between operations.
fn full_for(op: &str) -> Value {
    let mut v = full();
    match op {
        "UpdateContainerInstancesState" => v["status"] = json!("ACTIVE"),
        "ListServiceDeployments" => v["status"] = json!([]),
        "BerthPublishTaskUsage" => v["tasks"] = json!([]),
        "CreateCapacityProvider" | "UpdateCapacityProvider" => v["name"] = json!("cp"),
        "DeleteCapacityProvider" => v["capacityProvider"] = json!("cp"),
        _ => {}
    }
    v
}

/// The table row of `operation`, if it is routed.
fn find(operation: &str) -> Option<&'static Entry> {
    OPERATIONS.find(operation)
}

fn arns(op: &str, input: Value) -> Vec<String> {
    let s = Scope::new("us-east-1", "000000000000");
    let e = find(op).unwrap_or_else(|| panic!("{op} is not routed"));
    let r = (e.resources)(&s, input).unwrap_or_else(|err| panic!("{op}: {err:?}"));
    r.into_iter().map(|r| r.arn).collect()
}

#[test]
fn every_routed_operation_has_an_authorization_mapping() {
    let mut names = routed_operations();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "an operation is registered twice");
    for op in routed_operations() {
        assert!(!arns(op, full_for(op)).is_empty(), "{op} names no resource");
    }
    assert!(find("NoSuchOperation").is_none());
    assert!(find("ExecuteCommand").is_none());
}

#[test]
fn only_the_listed_operations_are_scoped_to_star() {
    for op in routed_operations() {
        let arns = arns(op, full_for(op));
        let on_star = arns.iter().any(|a| a == "*");
        assert_eq!(on_star, STAR.contains(&op), "{op} is authorized on {arns:?}");
    }
    for op in STAR {
        assert!(find(op).is_some(), "{op} is listed as `*` but not routed");
    }
}

/// Every routed operation and the resources it names for [`full`]
/// (the resources named, before the roles passed).
#[test]
fn every_routed_operation_with_its_resources() {
    const A: &str = "arn:aws:ecs:us-east-1:000000000000:";
    let cluster = format!("{A}cluster/c");
    let service = format!("{A}service/c/web");
    let task = format!("{A}task/c/t1");
    let instance = format!("{A}container-instance/c/i1");
    let td = format!("{A}task-definition/web:1");
    let deployment = format!("{A}service-deployment/c/web/1");
    let task_set = format!("{A}task-set/c/web/ecs-svc/1");
    let revision = format!("{A}service-revision/c/web/1");
    let cp = format!("{A}capacity-provider/cp");
    let star = "*".to_string();
    let expected: Vec<(&str, Vec<String>)> = vec![
        ("CreateCluster", vec![cluster.clone()]),
        ("DescribeClusters", vec![cluster.clone()]),
        ("ListClusters", vec![star.clone()]),
        ("UpdateCluster", vec![cluster.clone()]),
        ("UpdateClusterSettings", vec![cluster.clone()]),
        ("DeleteCluster", vec![cluster.clone()]),
        ("PutClusterCapacityProviders", vec![cluster.clone()]),
        ("RegisterTaskDefinition", vec![star.clone()]),
        ("DescribeTaskDefinition", vec![star.clone()]),
        ("ListTaskDefinitions", vec![star.clone()]),
        ("ListTaskDefinitionFamilies", vec![star.clone()]),
        ("DeregisterTaskDefinition", vec![star.clone()]),
        ("DeleteTaskDefinitions", vec![td.clone()]),
        ("TagResource", vec![cluster.clone()]),
        ("UntagResource", vec![cluster.clone()]),
        ("ListTagsForResource", vec![cluster.clone()]),
        ("PutAccountSetting", vec![star.clone()]),
        ("PutAccountSettingDefault", vec![star.clone()]),
        ("ListAccountSettings", vec![star.clone()]),
        ("DeleteAccountSetting", vec![star.clone()]),
        ("PutAttributes", vec![instance.clone()]),
        ("DeleteAttributes", vec![instance.clone()]),
        ("ListAttributes", vec![cluster.clone()]),
        ("DescribeCapacityProviders", vec![cp.clone()]),
        ("CreateCapacityProvider", vec![cp.clone()]),
        ("UpdateCapacityProvider", vec![cp.clone()]),
        ("DeleteCapacityProvider", vec![cp.clone()]),
        ("RegisterContainerInstance", vec![cluster.clone()]),
        ("DescribeContainerInstances", vec![instance.clone()]),
        ("ListContainerInstances", vec![cluster.clone()]),
        ("DeregisterContainerInstance", vec![cluster.clone()]),
        ("UpdateContainerInstancesState", vec![instance.clone()]),
        ("DiscoverPollEndpoint", vec![instance.clone()]),
        ("RunTask", vec![td.clone()]),
        ("StartTask", vec![td.clone()]),
        ("StopTask", vec![task.clone()]),
        ("DescribeTasks", vec![task.clone()]),
        ("ListTasks", vec![cluster.clone()]),
        ("GetTaskProtection", vec![task.clone()]),
        ("UpdateTaskProtection", vec![task.clone()]),
        ("SubmitTaskStateChange", vec![cluster.clone()]),
        ("SubmitContainerStateChange", vec![cluster.clone()]),
        ("BerthHeartbeat", vec![instance.clone()]),
        ("BerthPublishTaskUsage", vec![instance.clone()]),
        ("BerthGetTaskCredentials", vec![instance.clone()]),
        ("CreateService", vec![service.clone()]),
        ("UpdateService", vec![service.clone()]),
        ("DeleteService", vec![service.clone()]),
        ("DescribeServices", vec![service.clone()]),
        ("ListServices", vec![cluster.clone()]),
        ("ListServiceDeployments", vec![service.clone()]),
        ("DescribeServiceDeployments", vec![deployment.clone()]),
        ("DescribeServiceRevisions", vec![revision.clone()]),
        ("StopServiceDeployment", vec![deployment.clone()]),
        ("ContinueServiceDeployment", vec![deployment.clone()]),
        ("CreateTaskSet", vec![service.clone()]),
        ("DescribeTaskSets", vec![service.clone()]),
        ("UpdateTaskSet", vec![task_set.clone()]),
        ("UpdateServicePrimaryTaskSet", vec![task_set.clone()]),
        ("DeleteTaskSet", vec![task_set.clone()]),
    ];
    assert_eq!(
        expected.iter().map(|(op, _)| *op).collect::<Vec<_>>(),
        routed_operations(),
        "the list below names every routed operation, in the table's order"
    );
    for (op, want) in expected {
        assert_eq!(arns(op, full_for(op)), want, "{op}");
    }
}

/// The ARNs an operation names for `input` (as [`arns`], the scope given).
fn scoped_arns(_s: &Scope, op: &str, input: &Value) -> Vec<String> {
    arns(op, input.clone())
}

#[test]
fn cluster_scoped_operations() {
    let s = Scope::new("us-east-1", "000000000000");
    let a = "arn:aws:ecs:us-east-1:000000000000:cluster/a";
    assert_eq!(scoped_arns(&s, "CreateCluster", &json!({"clusterName": "a"})), vec![a]);
    assert_eq!(
        scoped_arns(&s, "CreateCluster", &json!({})),
        vec!["arn:aws:ecs:us-east-1:000000000000:cluster/default"]
    );
    assert_eq!(
        scoped_arns(&s, "DescribeClusters", &json!({"clusters": ["a", "b"]})),
        vec![a, "arn:aws:ecs:us-east-1:000000000000:cluster/b"]
    );
    assert_eq!(scoped_arns(&s, "DeleteCluster", &json!({"cluster": a})), vec![a]);
    assert_eq!(scoped_arns(&s, "ListTasks", &json!({"cluster": "bad name"})), vec!["*"]);
    assert_eq!(scoped_arns(&s, "ListClusters", &json!({})), vec!["*"]);
}

#[test]
fn container_instance_operations() {
    let s = Scope::new("us-east-1", "000000000000");
    assert_eq!(
        scoped_arns(
            &s,
            "DescribeContainerInstances",
            &json!({"cluster": "c", "containerInstances": ["i1"]})
        ),
        vec!["arn:aws:ecs:us-east-1:000000000000:container-instance/c/i1"]
    );
    assert_eq!(
        scoped_arns(
            &s,
            "DeregisterContainerInstance",
            &json!({"cluster": "c", "containerInstance": "i1"})
        ),
        vec!["arn:aws:ecs:us-east-1:000000000000:cluster/c"]
    );
}

#[test]
fn services_tasks_and_tags() {
    let s = Scope::new("us-east-1", "000000000000");
    assert_eq!(
        scoped_arns(&s, "CreateService", &json!({"cluster": "c", "serviceName": "web"})),
        vec!["arn:aws:ecs:us-east-1:000000000000:service/c/web"]
    );
    assert_eq!(
        scoped_arns(
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
        scoped_arns(&s, "StopTask", &json!({"cluster": "c", "task": "abc"})),
        vec!["arn:aws:ecs:us-east-1:000000000000:task/c/abc"]
    );
    assert_eq!(scoped_arns(&s, "DescribeTasks", &json!({"tasks": []})), vec!["*"]);
    assert_eq!(
        scoped_arns(
            &s,
            "TagResource",
            &json!({"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/a", "tags": []})
        ),
        vec!["arn:aws:ecs:us-east-1:000000000000:cluster/a"]
    );
}

// ---- condition keys (from each operation's typed input) ----

const A: &str = "arn:aws:ecs:us-east-1:000000000000:";

/// The condition keys of the first resource `op` names for `input`.
fn keys(op: &str, input: Value) -> Vec<(String, String)> {
    let s = Scope::new("us-east-1", "000000000000");
    let e = find(op).unwrap_or_else(|| panic!("{op} is not routed"));
    let r = (e.resources)(&s, input).unwrap_or_else(|err| panic!("{op}: {err:?}"));
    r.into_iter().next().map(|r| r.condition_keys).unwrap_or_default()
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[test]
fn cluster_key_from_the_resource_or_the_cluster_a_task_runs_in() {
    assert_eq!(
        keys("StopTask", json!({"task": format!("{A}task/c/t1")})),
        vec![kv("ecs:cluster", &format!("{A}cluster/c"))]
    );
    assert_eq!(
        keys(
            "BerthHeartbeat",
            json!({"containerInstance": format!("{A}container-instance/c/i1")})
        ),
        vec![kv("ecs:cluster", &format!("{A}cluster/c"))]
    );
    assert_eq!(
        keys(
            "DescribeServiceDeployments",
            json!({"serviceDeploymentArns": [format!("{A}service-deployment/c/web/1")]})
        ),
        vec![kv("ecs:cluster", &format!("{A}cluster/c"))]
    );
    assert_eq!(
        keys(
            "RunTask",
            json!({"cluster": "x", "taskDefinition": format!("{A}task-definition/web:1")})
        ),
        vec![kv("ecs:cluster", &format!("{A}cluster/x"))]
    );
    assert!(keys("ListClusters", json!({})).is_empty());
}

#[test]
fn instances_task_definitions_exec_and_capacity_providers() {
    let td = format!("{A}task-definition/web:1");
    assert_eq!(
        keys(
            "StartTask",
            json!({"cluster": "c", "containerInstances": ["i1", format!("{A}container-instance/c/i2")],
                   "enableExecuteCommand": true, "taskDefinition": td}),
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
            json!({"cluster": "c", "serviceName": "web", "taskDefinition": td,
                   "capacityProviderStrategy": [{"capacityProvider": "cp"}]}),
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
            json!({"cluster": "c", "capacityProviders": ["FARGATE"], "defaultCapacityProviderStrategy": []}),
        ),
        vec![
            kv("ecs:cluster", &format!("{A}cluster/c")),
            kv("ecs:capacity-provider", &format!("{A}capacity-provider/FARGATE")),
        ]
    );
}

// ---- iam:PassRole ----

const ADMIN: &str = "arn:aws:iam::000000000000:role/admin";
const EXEC: &str = "arn:aws:iam::000000000000:role/exec";

fn scope() -> Scope {
    Scope::new("us-east-1", "000000000000")
}

/// The roles `op` passes for `input` (the definition `td` a RunTask or
/// StartTask would run, when given), with the service each is passed to.
fn roles(op: &str, input: Value, td: Option<Value>) -> Vec<(String, &'static str)> {
    let passed = |arn: String, keys: &[(String, String)]| {
        let to = keys
            .iter()
            .find(|(k, _)| k == "iam:PassedToService")
            .map(|(_, v)| v.as_str());
        (
            arn,
            if to == Some(ECS_SERVICE) {
                ECS_SERVICE
            } else {
                ECS_TASKS
            },
        )
    };
    if let (Some(td), "RunTask" | "StartTask") = (&td, op) {
        return crate::authz::task_roles(&scope(), input.get("overrides"), Some(td))
            .into_iter()
            .map(|p| (p.role_arn, p.service))
            .collect();
    }
    // The members the typed inputs require, when the case leaves them out.
    let mut input = input;
    for (k, v) in [
        ("taskDefinition", json!("f")),
        ("serviceName", json!("s")),
        ("service", json!("s")),
        ("tasks", json!(["t"])),
    ] {
        input.as_object_mut().unwrap().entry(k).or_insert(v);
    }
    let e = find(op).unwrap_or_else(|| panic!("{op} is not routed"));
    (e.resources)(&scope(), input)
        .unwrap_or_else(|err| panic!("{op}: {err:?}"))
        .into_iter()
        .filter(|r| r.action.as_deref() == Some("iam:PassRole"))
        .map(|r| passed(r.arn, &r.condition_keys))
        .collect()
}

#[test]
fn register_task_definition_passes_both_roles() {
    assert_eq!(
        roles(
            "RegisterTaskDefinition",
            json!({"family": "f", "taskRoleArn": ADMIN, "executionRoleArn": EXEC}),
            None
        ),
        vec![(ADMIN.to_string(), ECS_TASKS), (EXEC.to_string(), ECS_TASKS)]
    );
    // The same role twice is one check; empty and missing roles none.
    assert_eq!(
        roles(
            "RegisterTaskDefinition",
            json!({"taskRoleArn": ADMIN, "executionRoleArn": ADMIN}),
            None
        ),
        vec![(ADMIN.to_string(), ECS_TASKS)]
    );
    assert!(roles("RegisterTaskDefinition", json!({"taskRoleArn": ""}), None).is_empty());
    assert!(roles("RegisterTaskDefinition", json!({"family": "f"}), None).is_empty());
}

#[test]
fn run_task_passes_the_roles_the_task_runs_with() {
    let td = json!({"taskRoleArn": EXEC});
    // The definition's role.
    assert_eq!(
        roles("RunTask", json!({"taskDefinition": "f"}), Some(td.clone())),
        vec![(EXEC.to_string(), ECS_TASKS)]
    );
    // An override replaces it.
    assert_eq!(
        roles(
            "RunTask",
            json!({"overrides": {"taskRoleArn": ADMIN}}),
            Some(td.clone())
        ),
        vec![(ADMIN.to_string(), ECS_TASKS)]
    );
    assert_eq!(
        roles("StartTask", json!({"overrides": {"executionRoleArn": ADMIN}}), None),
        vec![(ADMIN.to_string(), ECS_TASKS)]
    );
    assert!(roles("RunTask", json!({}), None).is_empty());
}

#[test]
fn services_pass_their_role_to_ecs() {
    assert_eq!(
        roles("CreateService", json!({"role": "ecsServiceRole"}), None),
        vec![("arn:aws:iam::000000000000:role/ecsServiceRole".to_string(), ECS_SERVICE)]
    );
    assert_eq!(
        roles("CreateService", json!({"role": "/ecs/svc"}), None),
        vec![("arn:aws:iam::000000000000:role/ecs/svc".to_string(), ECS_SERVICE)]
    );
    // UpdateService has no `role` member: nothing is passed.
    assert!(roles("UpdateService", json!({"role": "svc"}), None).is_empty());
    assert!(roles("CreateService", json!({"serviceName": "s"}), None).is_empty());
    // Other operations pass nothing, whatever fields they carry.
    assert!(roles("DescribeTasks", json!({"taskRoleArn": ADMIN}), None).is_empty());
}
