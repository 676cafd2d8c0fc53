//! `berth status`: clusters, instances, services and tasks at a glance —
//! gathered with the ordinary Describe/List calls into one document, printed
//! for people or (`--output json`) as that document. Each service also shows
//! its latest `AWS/ECS` CPU and memory utilization (CloudWatch GetMetricData
//! over the last ten minutes) and its latest Application Auto Scaling
//! activity; a figure the caller may not read, or that does not exist, is
//! left out.

use super::{Session, Target, print_json, short_id};
use serde_json::{Value, json};

pub async fn status(target: Target) -> anyhow::Result<()> {
    let s = Session::connect(&target)?;
    let doc = gather(&s).await?;
    if s.json() {
        print_json(&doc)
    } else {
        print!("{}", render(&doc));
        Ok(())
    }
}

/// `{"endpoint", "clusters": [{"cluster", "containerInstances", "services", "tasks"}]}`,
/// each entry as DescribeClusters/-ContainerInstances/-Services/-Tasks return it.
async fn gather(s: &Session) -> anyhow::Result<Value> {
    let mut clusters = vec![];
    let arns = s.list_all("ListClusters", json!({}), "clusterArns").await?;
    for chunk in arns.chunks(100) {
        let described = s.ecs("DescribeClusters", json!({ "clusters": chunk })).await?;
        for c in described["clusters"].as_array().into_iter().flatten() {
            let name = c["clusterName"].as_str().unwrap_or_default();
            let mut instances = vec![];
            let arns = s
                .list_all(
                    "ListContainerInstances",
                    json!({ "cluster": name }),
                    "containerInstanceArns",
                )
                .await?;
            for chunk in arns.chunks(100) {
                let d = s
                    .ecs(
                        "DescribeContainerInstances",
                        json!({ "cluster": name, "containerInstances": chunk }),
                    )
                    .await?;
                instances.extend(d["containerInstances"].as_array().into_iter().flatten().cloned());
            }
            let mut services = vec![];
            let arns = s
                .list_all("ListServices", json!({ "cluster": name }), "serviceArns")
                .await?;
            for chunk in arns.chunks(10) {
                let d = s
                    .ecs("DescribeServices", json!({ "cluster": name, "services": chunk }))
                    .await?;
                services.extend(d["services"].as_array().into_iter().flatten().cloned());
            }
            let mut tasks = vec![];
            let arns = s.list_all("ListTasks", json!({ "cluster": name }), "taskArns").await?;
            for chunk in arns.chunks(100) {
                let d = s
                    .ecs("DescribeTasks", json!({ "cluster": name, "tasks": chunk }))
                    .await?;
                tasks.extend(d["tasks"].as_array().into_iter().flatten().cloned());
            }
            let names: Vec<&str> = services.iter().filter_map(|v| v["serviceName"].as_str()).collect();
            let usage = utilization(s, name, &names).await;
            let mut scaling = serde_json::Map::new();
            for service in &names {
                if let Some(a) = last_activity(s, name, service).await {
                    scaling.insert(service.to_string(), a);
                }
            }
            clusters.push(json!({
                "cluster": c,
                "containerInstances": instances,
                "services": services,
                "tasks": tasks,
                "serviceUtilization": usage,
                "lastScalingActivities": scaling,
            }));
        }
    }
    Ok(json!({ "endpoint": s.endpoint(), "clusters": clusters }))
}

const CLOUDWATCH: (&str, &str) = ("GraniteServiceVersion20100801", "monitoring");
const AUTOSCALING: (&str, &str) = ("AnyScaleFrontendService", "application-autoscaling");

/// The GetMetricData queries of the services' latest CPU and memory
/// utilization (pure): ids `cN`/`mN` for the Nth service.
fn utilization_queries(cluster: &str, services: &[&str]) -> Vec<Value> {
    let mut out = vec![];
    for (i, service) in services.iter().enumerate() {
        for (prefix, metric) in [("c", "CPUUtilization"), ("m", "MemoryUtilization")] {
            out.push(json!({
                "Id": format!("{prefix}{i}"),
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ECS",
                        "MetricName": metric,
                        "Dimensions": [{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": service}],
                    },
                    "Period": 60,
                    "Stat": "Average",
                },
            }));
        }
    }
    out
}

/// `{service: {"cpu": %, "memory": %}}` from a GetMetricData answer (pure):
/// each figure the newest value of its query.
fn utilization_of(services: &[&str], answer: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for r in answer["MetricDataResults"].as_array().into_iter().flatten() {
        let (Some(id), Some(values), Some(times)) =
            (r["Id"].as_str(), r["Values"].as_array(), r["Timestamps"].as_array())
        else {
            continue;
        };
        let newest = times
            .iter()
            .zip(values)
            .max_by(|a, b| {
                a.0.as_f64()
                    .partial_cmp(&b.0.as_f64())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(_, v)| v.clone());
        let (kind, index) = id.split_at(1);
        let (Some(v), Ok(i)) = (newest, index.parse::<usize>()) else {
            continue;
        };
        let Some(service) = services.get(i) else { continue };
        let key = if kind == "c" { "cpu" } else { "memory" };
        out.entry(service.to_string()).or_insert_with(|| json!({}))[key] = v;
    }
    Value::Object(out)
}

async fn utilization(s: &Session, cluster: &str, services: &[&str]) -> Value {
    if services.is_empty() {
        return json!({});
    }
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = json!({});
    // GetMetricData takes at most 500 queries: 250 services a call.
    for chunk in services.chunks(250) {
        let input = json!({
            "MetricDataQueries": utilization_queries(cluster, chunk),
            "StartTime": end.saturating_sub(600),
            "EndTime": end + 60,
        });
        let (prefix, service) = CLOUDWATCH;
        let Ok(answer) = s.call(prefix, service, "GetMetricData", &input).await else {
            return out;
        };
        if let (Value::Object(all), Value::Object(part)) = (&mut out, utilization_of(chunk, &answer)) {
            all.extend(part);
        }
    }
    out
}

async fn last_activity(s: &Session, cluster: &str, service: &str) -> Option<Value> {
    let (prefix, signing) = AUTOSCALING;
    let input = json!({
        "ServiceNamespace": "ecs",
        "ResourceId": format!("service/{cluster}/{service}"),
        "MaxResults": 1,
    });
    let answer = s
        .call(prefix, signing, "DescribeScalingActivities", &input)
        .await
        .ok()?;
    answer["ScalingActivities"].as_array()?.first().cloned()
}

/// The utilization and scaling part of a service's line (pure).
fn service_extras(usage: &Value, activity: Option<&Value>) -> String {
    let mut out = String::new();
    let pct = |v: &Value| v.as_f64().map(|f| format!("{f:.1}%"));
    let (cpu, memory) = (pct(&usage["cpu"]), pct(&usage["memory"]));
    if cpu.is_some() || memory.is_some() {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        out += &format!(", cpu {} memory {}", or_dash(cpu), or_dash(memory));
    }
    if let Some(a) = activity {
        let when = a["StartTime"]
            .as_f64()
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t as i64).ok())
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_else(|| "?".into());
        out += &format!(
            ", last scaling {when} {} ({})",
            text(&a["Description"]),
            text(&a["StatusCode"])
        );
    }
    out
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

/// The document for people.
fn render(doc: &Value) -> String {
    let mut out = String::new();
    let clusters = doc["clusters"].as_array().cloned().unwrap_or_default();
    out += &format!(
        "Berth at {} ({} cluster{})\n",
        text(&doc["endpoint"]),
        clusters.len(),
        if clusters.len() == 1 { "" } else { "s" }
    );
    for entry in &clusters {
        let c = &entry["cluster"];
        out += &format!(
            "\ncluster {}: {} instances, {} services, {} running / {} pending tasks\n",
            text(&c["clusterName"]),
            c["registeredContainerInstancesCount"],
            c["activeServicesCount"],
            c["runningTasksCount"],
            c["pendingTasksCount"]
        );
        for i in entry["containerInstances"].as_array().into_iter().flatten() {
            let remaining = |n: &str| {
                i["remainingResources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["name"] == n)
                    .map(|r| r["integerValue"].clone())
                    .unwrap_or(Value::Null)
            };
            out += &format!(
                "  instance {} {} {} agent {} tasks {} running / {} pending, free cpu {} memory {}\n",
                text(&i["ec2InstanceId"]),
                text(&i["status"]),
                short_id(i["containerInstanceArn"].as_str().unwrap_or("")),
                if i["agentConnected"] == json!(true) {
                    "connected"
                } else {
                    "DISCONNECTED"
                },
                i["runningTasksCount"],
                i["pendingTasksCount"],
                remaining("CPU"),
                remaining("MEMORY"),
            );
        }
        for s in entry["services"].as_array().into_iter().flatten() {
            let rollout = s["deployments"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["status"] == "PRIMARY")
                .and_then(|d| d["rolloutState"].as_str())
                .unwrap_or("-");
            let name = text(&s["serviceName"]);
            let extras = service_extras(
                &entry["serviceUtilization"][name],
                entry["lastScalingActivities"].get(name),
            );
            out += &format!(
                "  service {} {}: {}/{} running, {} pending, deployment {}{extras}\n",
                name,
                text(&s["status"]),
                s["runningCount"],
                s["desiredCount"],
                s["pendingCount"],
                rollout
            );
        }
        for t in entry["tasks"].as_array().into_iter().flatten() {
            out += &format!(
                "  task {} {} {}\n",
                short_id(t["taskArn"].as_str().unwrap_or("")),
                text(&t["lastStatus"]),
                t["group"].as_str().unwrap_or("")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utilization_reads_the_newest_value_of_each_query() {
        let queries = utilization_queries("web", &["api", "worker"]);
        let ids: Vec<&str> = queries.iter().filter_map(|q| q["Id"].as_str()).collect();
        assert_eq!(ids, ["c0", "m0", "c1", "m1"]);
        assert_eq!(queries[3]["MetricStat"]["Metric"]["Dimensions"][1]["Value"], "worker");
        let answer = json!({"MetricDataResults": [
            {"Id": "c0", "Timestamps": [120.0, 180.0], "Values": [10.0, 30.0]},
            {"Id": "m0", "Timestamps": [180.0, 120.0], "Values": [55.0, 50.0]},
            {"Id": "c1", "Timestamps": [], "Values": []},
        ]});
        assert_eq!(
            utilization_of(&["api", "worker"], &answer),
            json!({"api": {"cpu": 30.0, "memory": 55.0}})
        );
        assert_eq!(service_extras(&json!({"memory": 3.0}), None), ", cpu - memory 3.0%");
        assert_eq!(service_extras(&json!({}), None), "");
    }

    #[test]
    fn the_document_reads_as_one_line_per_thing() {
        let doc = json!({"endpoint": "http://127.0.0.1:4600", "clusters": [{
            "cluster": {"clusterName": "web", "registeredContainerInstancesCount": 1, "activeServicesCount": 1,
                        "runningTasksCount": 2, "pendingTasksCount": 0},
            "containerInstances": [{"ec2InstanceId": "i-1", "status": "ACTIVE", "agentConnected": true,
                "containerInstanceArn": "arn:aws:ecs:us-east-1:0:container-instance/web/abc",
                "runningTasksCount": 2, "pendingTasksCount": 0,
                "remainingResources": [{"name": "CPU", "integerValue": 1024}, {"name": "MEMORY", "integerValue": 512}]}],
            "services": [{"serviceName": "api", "status": "ACTIVE", "runningCount": 2, "desiredCount": 2,
                          "pendingCount": 0, "deployments": [{"status": "PRIMARY", "rolloutState": "COMPLETED"}]}],
            "tasks": [{"taskArn": "arn:aws:ecs:us-east-1:0:task/web/t1", "lastStatus": "RUNNING", "group": "service:api"}],
            "serviceUtilization": {"api": {"cpu": 12.5, "memory": 40.0}},
            "lastScalingActivities": {"api": {"StartTime": 1796539800.0, "Description": "Setting desired count to 2.",
                                              "StatusCode": "Successful"}},
        }]});
        let text = render(&doc);
        assert_eq!(
            text,
            "Berth at http://127.0.0.1:4600 (1 cluster)\n\n\
             cluster web: 1 instances, 1 services, 2 running / 0 pending tasks\n  \
             instance i-1 ACTIVE abc agent connected tasks 2 running / 0 pending, free cpu 1024 memory 512\n  \
             service api ACTIVE: 2/2 running, 0 pending, deployment COMPLETED, cpu 12.5% memory 40.0%, \
             last scaling 2026-12-06T06:50:00Z Setting desired count to 2. (Successful)\n  \
             task t1 RUNNING service:api\n"
        );
    }
}
