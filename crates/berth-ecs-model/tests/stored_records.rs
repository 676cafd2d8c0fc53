//! Records as the previous version of Berth stored them still read, and
//! write back unchanged: same members, same order, same values.
//! `records/{task,service,instance}.json` are what the records as they were
//! before the typed statuses write (checked with that code when the records
//! moved to this crate); `records/task-stopped.json` is a stopped task in
//! the same shapes, with its stop code, container exit codes and reasons.

use berth_ecs_model::instance::InstanceRecord;
use berth_ecs_model::service::ServiceRecord;
use berth_ecs_model::task::TaskRecord;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn reads_back_unchanged<T: DeserializeOwned + Serialize>(stored: &str) -> T {
    let record: T = serde_json::from_str(stored).unwrap();
    let written = serde_json::to_string(&record).unwrap();
    let stored: Value = serde_json::from_str(stored).unwrap();
    assert_eq!(written, serde_json::to_string(&stored).unwrap());
    record
}

#[test]
fn a_stored_task_reads_back_unchanged() {
    let t: TaskRecord = reads_back_unchanged(include_str!("records/task.json"));
    assert_eq!(t.last_status.as_str(), "RUNNING");
    assert_eq!(t.containers[1].last_status.to_string(), "STOPPED");
    assert_eq!(t.berth.demand.ports.len(), 1);
}

#[test]
fn a_stopped_task_reads_back_unchanged() {
    let t: TaskRecord = reads_back_unchanged(include_str!("records/task-stopped.json"));
    assert_eq!(
        t.stop_code.as_ref().map(|c| c.to_string()),
        Some("EssentialContainerExited".to_string())
    );
    assert!(t.containers.iter().all(|c| c.last_status.as_str() == "STOPPED"));
    assert!(!t.wanted_by_agent());
}

#[test]
fn a_stored_service_reads_back_unchanged() {
    let s: ServiceRecord = reads_back_unchanged(include_str!("records/service.json"));
    assert_eq!(s.primary().map(|d| d.id.as_str()), Some("ecs-svc/1234567890123456789"));
    assert_eq!(s.berth.history[0].status.as_str(), "INACTIVE");
}

#[test]
fn a_stored_instance_reads_back_unchanged() {
    let i: InstanceRecord = reads_back_unchanged(include_str!("records/instance.json"));
    assert!(i.is_registered());
    assert_eq!(i.berth.owner.map(|o| o.id), Some("AIDAEXAMPLE000000000".to_string()));
}
