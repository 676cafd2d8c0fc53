//! `ECS Deployment State Change`: every change of a service deployment's
//! `rolloutState` (the service's ARN in `resources`; `detail` `eventType`
//! INFO or ERROR, `eventName` SERVICE_DEPLOYMENT_IN_PROGRESS / _COMPLETED /
//! _FAILED, `deploymentId`, `updatedAt`, `reason`).

use super::rfc3339;
use berth_ecs_model::service::ServiceRecord;
use serde_json::Value;
use std::collections::HashMap;

/// A service's deployments and their rollout states, by deployment id.
pub(crate) type Rollouts = HashMap<String, String>;

pub(crate) fn rollouts(service: &ServiceRecord) -> Rollouts {
    service
        .deployments
        .iter()
        .map(|d| {
            let v = d.render();
            (d.id.clone(), v["rolloutState"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// The `ECS Deployment State Change` details a write of `service` makes,
/// each deployment whose rollout state differs from the one last seen (pure).
pub(crate) fn deployment_changes(last: Option<&Rollouts>, service: &ServiceRecord) -> Vec<Value> {
    let mut out = Vec::new();
    for d in &service.deployments {
        let v = d.render();
        let state = v["rolloutState"].as_str().unwrap_or_default();
        if last.and_then(|l| l.get(&d.id)).map(String::as_str) == Some(state) {
            continue;
        }
        let (kind, name, reason) = match state {
            "IN_PROGRESS" => (
                "INFO",
                "SERVICE_DEPLOYMENT_IN_PROGRESS",
                format!("ECS deployment {} in progress.", d.id),
            ),
            "COMPLETED" => (
                "INFO",
                "SERVICE_DEPLOYMENT_COMPLETED",
                format!("ECS deployment {} completed.", d.id),
            ),
            "FAILED" => ("ERROR", "SERVICE_DEPLOYMENT_FAILED", d.rollout_state_reason.clone()),
            _ => continue,
        };
        let at = rfc3339(d.updated_at);
        out.push(serde_json::json!({
            "eventType": kind,
            "eventName": name,
            "deploymentId": d.id,
            "updatedAt": at,
            "reason": reason,
        }));
    }
    out
}
