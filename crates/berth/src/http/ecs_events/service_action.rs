//! `ECS Service Action`: what the service scheduler says of a service, sent
//! when it says it (the service's ARN in `resources`; `detail` `eventType`,
//! `eventName`, `clusterArn`, `createdAt`, and for a placement failure the
//! `reason`). Each is read from a service event the scheduler writes, so
//! the two always agree:
//! - "has reached a steady state." → INFO `SERVICE_STEADY_STATE`;
//! - "has stopped N running tasks" → INFO `TASKS_STOPPED`;
//! - "is unable to consistently start tasks successfully" → WARN
//!   `SERVICE_TASK_START_IMPAIRED`;
//! - "was unable to place a task" → ERROR `SERVICE_TASK_PLACEMENT_FAILURE`,
//!   with the reason of the closest matching instance when the event names
//!   it (`RESOURCE:MEMORY`, `RESOURCE:CPU`, `RESOURCE:PORTS`, `AGENT`,
//!   `ATTRIBUTE`);
//!
//! and from a task set's stability status turning STEADY_STATE →
//! INFO `TASKSET_STEADY_STATE` (with `taskSetArns`).

use super::rfc3339;
use berth_ecs_model::service::{ServiceRecord, StabilityStatus};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// What was last seen of a service: its event ids and its steady task sets.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Said {
    events: BTreeSet<String>,
    steady_task_sets: BTreeSet<String>,
}

pub(crate) fn said(service: &ServiceRecord) -> Said {
    Said {
        events: service.events.iter().map(|e| e.id.clone()).collect(),
        steady_task_sets: service
            .task_sets
            .iter()
            .filter(|t| t.stability_status == StabilityStatus::SteadyState)
            .map(|t| t.task_set_arn.clone())
            .collect(),
    }
}

/// The event name, type and placement reason a scheduler message makes.
fn action_of(message: &str) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    if message.ends_with("has reached a steady state.") {
        return Some(("INFO", "SERVICE_STEADY_STATE", None));
    }
    if message.contains(") has stopped ") && message.contains(" running tasks") {
        return Some(("INFO", "TASKS_STOPPED", None));
    }
    if message.contains("is unable to consistently start tasks successfully") {
        return Some(("WARN", "SERVICE_TASK_START_IMPAIRED", None));
    }
    if message.contains("was unable to place a task") {
        const REASONS: [(&str, &str); 5] = [
            ("has insufficient memory available", "RESOURCE:MEMORY"),
            ("has insufficient CPU units available", "RESOURCE:CPU"),
            ("is already using a port required by your task", "RESOURCE:PORTS"),
            ("has an agent that is disconnected", "AGENT"),
            ("is missing an attribute required by your task", "ATTRIBUTE"),
        ];
        let reason = REASONS.iter().find(|(p, _)| message.contains(p)).map(|(_, r)| *r);
        return Some(("ERROR", "SERVICE_TASK_PLACEMENT_FAILURE", reason));
    }
    None
}

/// The `ECS Service Action` details a write of `service` makes: its
/// scheduler events not seen before, oldest first, and its task sets newly
/// steady (pure).
pub(crate) fn actions(last: Option<&Said>, service: &ServiceRecord) -> Vec<Value> {
    let Some(last) = last else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in service.events.iter().rev().filter(|e| !last.events.contains(&e.id)) {
        let Some((kind, name, reason)) = action_of(&e.message) else {
            continue;
        };
        let mut detail = json!({
            "eventType": kind,
            "eventName": name,
            "clusterArn": service.cluster_arn,
            "createdAt": rfc3339(e.created_at),
        });
        if let Some(r) = reason {
            detail["reason"] = json!(r);
        }
        out.push(detail);
    }
    for t in &service.task_sets {
        if t.stability_status == StabilityStatus::SteadyState && !last.steady_task_sets.contains(&t.task_set_arn) {
            out.push(json!({
                "eventType": "INFO",
                "eventName": "TASKSET_STEADY_STATE",
                "clusterArn": service.cluster_arn,
                "taskSetArns": [t.task_set_arn],
                "createdAt": rfc3339(t.stability_status_at),
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(events: &[(&str, &str)]) -> ServiceRecord {
        let events: Vec<Value> = events
            .iter()
            .map(|(id, m)| json!({"id": id, "createdAt": 1_700_000_000.0, "message": m}))
            .collect();
        serde_json::from_value(json!({
            "serviceArn": "arn:aws:ecs:us-east-1:000000000000:service/c/web",
            "serviceName": "web",
            "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/c",
            "status": "ACTIVE", "desiredCount": 1, "runningCount": 1, "pendingCount": 0,
            "taskDefinition": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": false, "rollback": false}, "maximumPercent": 200, "minimumHealthyPercent": 100}, "deployments": [], "events": events,
            "createdAt": 1_700_000_000.0, "schedulingStrategy": "REPLICA",
            "deploymentController": {"type": "ECS"}, "createdBy": "root", "propagateTags": "NONE",
            "berth": {"cluster": "c", "name": "web"},
        }))
        .expect("a service record")
    }

    #[test]
    fn new_scheduler_events_become_service_actions_once() {
        let first = service(&[("1", "(service web) has started 1 tasks: (task a).")]);
        assert!(actions(None, &first).is_empty(), "a service first seen says nothing");
        let seen = said(&first);
        // Newest first, as ECS lists service events; sent oldest first.
        let next = service(&[
            ("3", "(service web) has reached a steady state."),
            (
                "2",
                "(service web) was unable to place a task because no container instance met all of its requirements. \
                 The closest matching (container-instance abc) has insufficient memory available. For more information, \
                 see the Troubleshooting section of the Amazon ECS Developer Guide.",
            ),
            ("1", "(service web) has started 1 tasks: (task a)."),
        ]);
        let got = actions(Some(&seen), &next);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0]["eventType"], "ERROR");
        assert_eq!(got[0]["eventName"], "SERVICE_TASK_PLACEMENT_FAILURE");
        assert_eq!(got[0]["reason"], "RESOURCE:MEMORY");
        assert_eq!(got[0]["clusterArn"], "arn:aws:ecs:us-east-1:000000000000:cluster/c");
        assert_eq!(got[1]["eventName"], "SERVICE_STEADY_STATE");
        assert_eq!(got[1]["eventType"], "INFO");
        assert_eq!(got[1]["createdAt"], "2023-11-14T22:13:20Z");
        assert!(got[1].get("reason").is_none());
        // Seen again: nothing more.
        assert!(actions(Some(&said(&next)), &next).is_empty());
    }

    #[test]
    fn messages_map_to_their_event_names() {
        let name = |m: &str| action_of(m).map(|(_, n, _)| n);
        assert_eq!(
            name("(service web) has stopped 2 running tasks: (task a) (task b)."),
            Some("TASKS_STOPPED")
        );
        assert_eq!(
            name("(service web) is unable to consistently start tasks successfully. For more information, see …"),
            Some("SERVICE_TASK_START_IMPAIRED")
        );
        assert_eq!(name("(service web) registered 1 targets in (target-group x)"), None);
        assert_eq!(
            action_of(
                "(service web) was unable to place a task because no container instance met all of its requirements. For more information, see …"
            ),
            Some(("ERROR", "SERVICE_TASK_PLACEMENT_FAILURE", None))
        );
    }
}
