//! Unit tests of the view's data: key classification, indexing, stale news.

use super::*;

#[test]
fn keys_are_classified() {
    assert_eq!(
        classify("ecs/instances/c/abc"),
        Kind::Instance {
            cluster: "c",
            id: "abc"
        }
    );
    assert_eq!(classify("ecs/tasks/c/t1"), Kind::Task { cluster: "c", id: "t1" });
    assert_eq!(
        classify("ecs/attributes/c/container-instance/i/n"),
        Kind::Attribute { cluster: "c" }
    );
    assert_eq!(classify("ecs/taskdefs/f/0000000001"), Kind::TaskDefinition);
    assert_eq!(classify("ecs/services/c/s"), Kind::Other);
    assert_eq!(classify("ecs/tasks/"), Kind::Other);
}

fn task(id: &str, instance: Option<&str>, group: &str) -> Vec<u8> {
    let mut v = serde_json::json!({
        "taskArn": format!("arn:aws:ecs:r:1:task/c/{id}"), "clusterArn": "arn:aws:ecs:r:1:cluster/c",
        "taskDefinitionArn": "arn:aws:ecs:r:1:task-definition/f:1", "lastStatus": "PENDING",
        "desiredStatus": "RUNNING", "cpu": "128", "memory": "128", "containers": [], "createdAt": 1.0,
        "group": group, "launchType": "EC2", "version": 1, "healthStatus": "UNKNOWN",
        "berth": {"cluster": "c", "id": id}
    });
    if let Some(i) = instance {
        v["containerInstanceArn"] = serde_json::json!(i);
    }
    serde_json::to_vec(&v).unwrap()
}

fn ids(data: &Data, arn: &str) -> Vec<String> {
    let mut v: Vec<String> = data.clusters["c"]
        .by_instance
        .get(arn)
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    v.sort();
    v
}

#[test]
fn tasks_are_indexed_by_instance_and_group_and_stale_news_is_ignored() {
    let mut data = Data::default();
    let mut touched = Touched::new();
    let put = EventKind::Put;
    data.apply(
        &put,
        "ecs/tasks/c/t1",
        &task("t1", Some("i-a"), "service:web"),
        5,
        &mut touched,
    );
    data.apply(
        &put,
        "ecs/tasks/c/t2",
        &task("t2", Some("i-a"), "family:f"),
        6,
        &mut touched,
    );
    assert_eq!(ids(&data, "i-a"), ["t1", "t2"]);
    assert_eq!(touched, Touched::from(["i-a".to_string()]));

    // The task moves: both instances are touched, both indexes follow.
    touched.clear();
    data.apply(
        &put,
        "ecs/tasks/c/t1",
        &task("t1", Some("i-b"), "service:api"),
        7,
        &mut touched,
    );
    assert_eq!(ids(&data, "i-a"), ["t2"]);
    assert_eq!(ids(&data, "i-b"), ["t1"]);
    assert_eq!(touched.len(), 2);
    let c = &data.clusters["c"];
    assert!(!c.by_group.contains_key("service:web"));
    assert!(c.by_group["service:api"].contains("t1"));

    // A replayed older event (load, then the watch from an earlier
    // revision) changes nothing.
    touched.clear();
    data.apply(
        &put,
        "ecs/tasks/c/t1",
        &task("t1", Some("i-a"), "service:web"),
        5,
        &mut touched,
    );
    assert_eq!(ids(&data, "i-b"), ["t1"]);
    assert!(touched.is_empty());

    // Deletes drop the task from every index; unreadable records are skipped.
    data.apply(&EventKind::Delete, "ecs/tasks/c/t1", &[], 8, &mut touched);
    assert!(ids(&data, "i-b").is_empty());
    assert!(!data.clusters["c"].by_group.contains_key("service:api"));
    data.apply(&put, "ecs/tasks/c/t3", b"not json", 9, &mut touched);
    assert!(!data.clusters["c"].tasks.contains_key("t3"));
}

#[test]
fn attributes_of_container_instances_only_and_definitions_are_dropped_on_change() {
    let mut data = Data::default();
    let mut touched = Touched::new();
    let attr = |target_type: &str| {
        serde_json::to_vec(&serde_json::json!({
            "name": "stack", "value": "prod", "targetType": target_type,
            "targetId": "arn:aws:ecs:r:1:container-instance/c/abc"
        }))
        .unwrap()
    };
    data.apply(
        &EventKind::Put,
        "ecs/attributes/c/container-instance/abc/stack",
        &attr("container-instance"),
        3,
        &mut touched,
    );
    data.apply(
        &EventKind::Put,
        "ecs/attributes/c/other/abc/stack",
        &attr("other"),
        4,
        &mut touched,
    );
    let c = &data.clusters["c"];
    assert_eq!(c.attributes.len(), 1);
    let (id, a, _) = c.attributes.values().next().unwrap();
    assert_eq!(
        (id.as_str(), a.name.as_str(), a.value.as_deref()),
        ("abc", "stack", Some("prod"))
    );

    data.definitions
        .insert("ecs/taskdefs/f/0000000001".into(), Arc::new(serde_json::json!({})));
    data.apply(&EventKind::Put, "ecs/taskdefs/f/0000000001", b"{}", 5, &mut touched);
    assert!(data.definitions.is_empty());
}
