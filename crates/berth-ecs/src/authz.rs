//! The resources an ECS operation acts on, for IAM authorization (pure).
//! Cluster-level operations are scoped to the cluster ARN, as in AWS (so a
//! Deny on one cluster's ARN refuses them for that cluster only); the others
//! are checked against `*`.

use crate::clusters::cluster_name;
use berth_core::arn::Scope;
use serde_json::Value;

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
