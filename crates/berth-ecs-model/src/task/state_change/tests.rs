//! Unit tests of applying agent reports to task records.

use super::*;
use crate::status::TaskStopCode;
use crate::task::{ContainerSize, TaskInternal};
use serde_json::json;

fn container(name: &str, health: bool) -> ContainerRecord {
    let size = ContainerSize {
        name: name.into(),
        ..ContainerSize::default()
    };
    let mut c = ContainerRecord::pending(format!("c/{name}"), "t".into(), "img".into(), &size);
    if !health {
        c.health_status = None;
    }
    c
}

fn task() -> TaskRecord {
    serde_json::from_value(json!({
        "taskArn": "t", "clusterArn": "c", "taskDefinitionArn": "td", "lastStatus": "PENDING",
        "desiredStatus": "RUNNING", "cpu": "0", "memory": "0", "containers": [], "createdAt": 1.0,
        "group": "family:x", "launchType": "EC2", "version": 1, "healthStatus": "UNKNOWN",
        "berth": {"cluster": "c", "id": "t"}
    }))
    .map(|mut t: TaskRecord| {
        t.containers = vec![container("app", true), container("side", false)];
        t.berth = TaskInternal {
            essential: vec!["app".into()],
            health_checked: vec!["app".into()],
            reserved: true,
            ..t.berth
        };
        t
    })
    .unwrap()
}

fn change(status: &str) -> TaskStateChange {
    TaskStateChange {
        status: Some(status.into()),
        ..Default::default()
    }
}

#[test]
fn containers_without_a_health_check_render_unknown() {
    // `side` has no health check and, like records stored before every
    // container had one, no health status.
    let mut t = task();
    let health = |t: &TaskRecord| {
        let v = t.render(false);
        let by_name = |n: &str| {
            v["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == n)
                .unwrap()["healthStatus"]
                .clone()
        };
        (by_name("app"), by_name("side"), v["healthStatus"].clone())
    };
    assert_eq!(health(&t), (json!("UNKNOWN"), json!("UNKNOWN"), json!("UNKNOWN")));
    let running = |name: &str| ContainerStateChange {
        container_name: Some(name.into()),
        status: Some("RUNNING".into()),
        ..Default::default()
    };
    apply_container_change(&mut t, &running("side")).unwrap();
    assert_eq!(health(&t).1, json!("UNKNOWN"));
    apply_container_change(
        &mut t,
        &ContainerStateChange {
            health_status: Some("HEALTHY".into()),
            ..running("app")
        },
    )
    .unwrap();
    assert_eq!(health(&t), (json!("HEALTHY"), json!("UNKNOWN"), json!("HEALTHY")));
}

#[test]
fn statuses_only_move_forward() {
    let mut t = task();
    assert!(apply_task_change(&mut t, &change("RUNNING"), 10.0).unwrap());
    assert_eq!(t.last_status.as_str(), "RUNNING");
    assert_eq!(t.started_at, Some(10.0));
    // Backwards: ignored (but acknowledged).
    assert!(!apply_task_change(&mut t, &change("PENDING"), 11.0).unwrap());
    assert_eq!(t.last_status.as_str(), "RUNNING");
    assert!(apply_task_change(&mut t, &change("STOPPED"), 12.0).unwrap());
    assert_eq!(t.last_status.as_str(), "STOPPED");
    assert_eq!(t.desired_status.as_str(), "STOPPED");
    assert_eq!(
        t.stop_code.as_ref().map(Recorded::as_str),
        Some("EssentialContainerExited")
    );
    assert_eq!(t.stopped_at, Some(12.0));
    assert!(t.containers.iter().all(|c| c.last_status.as_str() == "STOPPED"));
    assert!(t.berth.agent_stopped);
    // After STOPPED nothing visible changes; a late RUNNING report only
    // records that the agent still has something to stop.
    apply_task_change(&mut t, &change("RUNNING"), 13.0).unwrap();
    assert_eq!(t.last_status.as_str(), "STOPPED");
    assert_eq!(t.stopped_at, Some(12.0));
    assert!(t.wanted_by_agent());
    apply_task_change(&mut t, &change("STOPPED"), 14.0).unwrap();
    assert!(!t.wanted_by_agent());
    assert!(!apply_task_change(&mut t, &change("STOPPED"), 15.0).unwrap());
    assert!(apply_task_change(&mut t, &change("BOGUS"), 13.0).is_err());
}

#[test]
fn failed_to_start_keeps_the_agents_reason() {
    let mut t = task();
    let ch = TaskStateChange {
        status: Some("STOPPED".into()),
        reason: Some("CannotPullContainerError: pull access denied".into()),
        execution_stopped_at: Some(json!(5.5)),
        ..Default::default()
    };
    apply_task_change(&mut t, &ch, 6.0).unwrap();
    assert_eq!(t.stop_code.as_ref().map(Recorded::as_str), Some("TaskFailedToStart"));
    assert_eq!(
        t.stopped_reason.as_deref(),
        Some("CannotPullContainerError: pull access denied")
    );
    assert_eq!(t.execution_stopped_at, Some(5.5));
    assert_eq!(t.started_at, None);
}

#[test]
fn the_agents_stop_code_wins_over_the_derived_one() {
    let mut t = task();
    let ch = TaskStateChange {
        status: Some("STOPPED".into()),
        stop_code: Some("EssentialContainerExited".into()),
        ..Default::default()
    };
    apply_task_change(&mut t, &ch, 1.0).unwrap();
    assert_eq!(
        t.stop_code.as_ref().map(Recorded::as_str),
        Some("EssentialContainerExited")
    );
    assert_eq!(t.stopped_reason.as_deref(), Some("Essential container in task exited"));
    let mut t = task();
    let bad = TaskStateChange {
        status: Some("STOPPED".into()),
        stop_code: Some("Bored".into()),
        ..Default::default()
    };
    assert!(apply_task_change(&mut t, &bad, 1.0).is_err());
}

#[test]
fn user_stop_reason_survives_the_agent_report() {
    let mut t = task();
    t.stop_code = Some(TaskStopCode::UserInitiated.into());
    t.stopped_reason = Some("bye".into());
    apply_task_change(&mut t, &change("RUNNING"), 1.0).unwrap();
    apply_task_change(&mut t, &change("STOPPED"), 2.0).unwrap();
    assert_eq!(t.stop_code.as_ref().map(Recorded::as_str), Some("UserInitiated"));
    assert_eq!(t.stopped_reason.as_deref(), Some("bye"));
}

#[test]
fn containers_and_health() {
    let mut t = task();
    let ch = ContainerStateChange {
        container_name: Some("app".into()),
        status: Some("RUNNING".into()),
        runtime_id: Some("abc".into()),
        network_bindings: Some(vec![
            serde_json::from_value(json!({"containerPort": 80, "hostPort": 32768})).unwrap(),
        ]),
        health_status: Some("HEALTHY".into()),
        ..Default::default()
    };
    assert!(apply_container_change(&mut t, &ch).unwrap());
    assert_eq!(t.health_status.as_str(), "HEALTHY");
    let c = &t.containers[0];
    assert_eq!(
        (c.last_status.as_str(), c.runtime_id.as_deref()),
        ("RUNNING", Some("abc"))
    );
    // Non-essential containers do not decide health.
    let side = ContainerStateChange {
        container_name: Some("side".into()),
        health_status: Some("UNHEALTHY".into()),
        ..Default::default()
    };
    apply_container_change(&mut t, &side).unwrap();
    assert_eq!(t.health_status.as_str(), "HEALTHY");
    let bad = ContainerStateChange {
        container_name: Some("app".into()),
        health_status: Some("UNHEALTHY".into()),
        ..Default::default()
    };
    apply_container_change(&mut t, &bad).unwrap();
    assert_eq!(t.health_status.as_str(), "UNHEALTHY");
    // Container status is monotonic; exit codes stick.
    let stopped = ContainerStateChange {
        container_name: Some("app".into()),
        status: Some("STOPPED".into()),
        exit_code: Some(137),
        ..Default::default()
    };
    apply_container_change(&mut t, &stopped).unwrap();
    let back = ContainerStateChange {
        container_name: Some("app".into()),
        status: Some("RUNNING".into()),
        exit_code: Some(0),
        ..Default::default()
    };
    apply_container_change(&mut t, &back).unwrap();
    assert_eq!(t.containers[0].last_status.as_str(), "STOPPED");
    assert_eq!(t.containers[0].exit_code, Some(137));
    assert!(
        apply_container_change(
            &mut t,
            &ContainerStateChange {
                container_name: Some("ghost".into()),
                ..Default::default()
            }
        )
        .is_err()
    );
}

#[test]
fn timestamps() {
    assert_eq!(timestamp(&json!(1.5)).unwrap(), Some(1.5));
    assert_eq!(timestamp(&json!("2024-01-01T00:00:00Z")).unwrap(), Some(1704067200.0));
    assert_eq!(timestamp(&Value::Null).unwrap(), None);
    assert!(timestamp(&json!("yesterday")).is_err());
}

#[test]
fn the_reported_interface_attaches_the_eni_and_a_stop_deletes_it() {
    use crate::task::{Attachment, AttachmentStatus};
    use berth_agent_protocol::TaskNetworkInterface;
    let mut t = task();
    t.task_arn = "arn:aws:ecs:eu-west-1:000000000000:task/c/t".into();
    t.attachments = vec![Attachment::precreated_eni("att-1".into(), Some("subnet-12345678"))];
    let ni = TaskNetworkInterface {
        network_interface_id: "eni-0123456789abcdef0".into(),
        private_ipv4_address: "10.213.0.5".into(),
        mac_address: "0a:58:0a:d5:00:05".into(),
    };
    let ch = TaskStateChange {
        network_interface: Some(Box::new(ni.clone())),
        ..change("PENDING")
    };
    assert!(apply_task_change(&mut t, &ch, 2.0).unwrap());
    let v = t.render(false);
    let a = &v["attachments"][0];
    assert_eq!(a["status"], "ATTACHED");
    assert_eq!(a["type"], "ElasticNetworkInterface");
    let detail = |n: &str| {
        a["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == n)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(detail("subnetId"), "subnet-12345678");
    assert_eq!(detail("privateIPv4Address"), "10.213.0.5");
    assert_eq!(detail("privateDnsName"), "ip-10-213-0-5.eu-west-1.compute.internal");
    for c in v["containers"].as_array().unwrap() {
        assert_eq!(
            c["networkInterfaces"],
            json!([{"attachmentId": "att-1", "privateIpv4Address": "10.213.0.5"}])
        );
    }
    // The same report again changes nothing.
    assert!(!apply_task_change(&mut t, &ch, 3.0).unwrap());
    assert!(apply_task_change(&mut t, &change("STOPPED"), 4.0).unwrap());
    assert_eq!(t.attachments[0].status, AttachmentStatus::Deleted);
    assert_eq!(t.attachments[0].detail("privateIPv4Address"), Some("10.213.0.5"));
    // A late report does not bring it back.
    assert!(!t.attach_interface(&ni));
}
