//! `berth status`: clusters, instances, services and tasks at a glance —
//! gathered with the ordinary Describe/List calls into one document, printed
//! for people or (`--output json`) as that document.

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
            clusters.push(json!({
                "cluster": c,
                "containerInstances": instances,
                "services": services,
                "tasks": tasks,
            }));
        }
    }
    Ok(json!({ "endpoint": s.endpoint(), "clusters": clusters }))
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
            out += &format!(
                "  service {} {}: {}/{} running, {} pending, deployment {}\n",
                text(&s["serviceName"]),
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
        }]});
        let text = render(&doc);
        assert_eq!(
            text,
            "Berth at http://127.0.0.1:4600 (1 cluster)\n\n\
             cluster web: 1 instances, 1 services, 2 running / 0 pending tasks\n  \
             instance i-1 ACTIVE abc agent connected tasks 2 running / 0 pending, free cpu 1024 memory 512\n  \
             service api ACTIVE: 2/2 running, 0 pending, deployment COMPLETED\n  \
             task t1 RUNNING service:api\n"
        );
    }
}
