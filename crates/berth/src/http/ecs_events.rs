//! The events ECS sends to EventBridge, from the region's store, as ECS
//! emits them (source `aws.ecs`):
//! - every change of a task's `lastStatus` or `desiredStatus` is an `ECS
//!   Task State Change` (the task's ARN in `resources`, the task as
//!   DescribeTasks shows it, without tags, in `detail`);
//! - every change of a service deployment's `rolloutState` is an `ECS
//!   Deployment State Change` (the service's ARN in `resources`; `detail`
//!   `eventType` INFO or ERROR, `eventName` SERVICE_DEPLOYMENT_IN_PROGRESS /
//!   _COMPLETED / _FAILED, `deploymentId`, `updatedAt`, `reason`).
//!
//! A watch on the records sees every write, whoever made it (the scheduler,
//! an agent's report, StopTask, the service controller); what was last seen
//! is kept per record, so a write that changes none of it sends nothing.

use berth_ecs_model::service::ServiceRecord;
use berth_ecs_model::task::TaskRecord;
use berth_store::{EventKind, Store, StoreError};
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

const TASKS: &str = "ecs/tasks/";
const SERVICES: &str = "ecs/services/";

/// A task's (lastStatus, desiredStatus) as its event shows them.
type Statuses = (String, String);

fn statuses(detail: &Value) -> Statuses {
    let s = |k: &str| detail[k].as_str().unwrap_or_default().to_string();
    (s("lastStatus"), s("desiredStatus"))
}

/// The detail of the event a write of `task` makes, when its statuses
/// differ from those last seen (pure).
pub(crate) fn task_change(last: Option<&Statuses>, task: &TaskRecord) -> Option<(Statuses, Value)> {
    let detail = task.render(false);
    let now = statuses(&detail);
    (last != Some(&now)).then_some((now, detail))
}

/// A service's deployments and their rollout states, by deployment id.
type Rollouts = HashMap<String, String>;

fn rollouts(service: &ServiceRecord) -> Rollouts {
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
        let at = time::OffsetDateTime::from_unix_timestamp_nanos((d.updated_at * 1e9) as i128)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
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

/// What was last seen of each record.
#[derive(Default)]
struct Seen {
    tasks: HashMap<String, Statuses>,
    services: HashMap<String, Rollouts>,
}

async fn seen(store: &dyn Store) -> Result<(Seen, i64), StoreError> {
    let rev = store.current_revision().await?;
    let mut out = Seen::default();
    for kv in store.range(TASKS, None, None).await? {
        if let Ok(t) = berth_store::typed::decode::<TaskRecord>(&kv) {
            out.tasks.insert(kv.key, statuses(&t.render(false)));
        }
    }
    for kv in store.range(SERVICES, None, None).await? {
        if let Ok(s) = berth_store::typed::decode::<ServiceRecord>(&kv) {
            out.services.insert(kv.key, rollouts(&s));
        }
    }
    Ok((out, rev))
}

/// Sends the region's task state changes to its EventBridge until the
/// server stops.
pub(crate) fn spawn(store: Arc<dyn Store>, events: berth_events::Events) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = follow(store.as_ref(), &events).await {
                tracing::warn!(error = %e, "ECS events: the task watch ended; watching again");
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

async fn follow(store: &dyn Store, events: &berth_events::Events) -> Result<(), StoreError> {
    let (mut last, rev) = seen(store).await?;
    let mut tasks = store.watch(TASKS, rev + 1).await?;
    let mut services = store.watch(SERVICES, rev + 1).await?;
    loop {
        let change = tokio::select! {
            c = tasks.next() => c,
            c = services.next() => c,
        };
        let Some(change) = change else { return Ok(()) };
        let change = change?;
        let is_task = change.key.starts_with(TASKS);
        if change.kind == EventKind::Delete {
            last.tasks.remove(&change.key);
            last.services.remove(&change.key);
            continue;
        }
        let kv = berth_store::KeyValue {
            key: change.key.clone(),
            value: change.value,
            create_revision: change.revision,
            mod_revision: change.revision,
            version: 0,
        };
        if is_task {
            let Ok(task) = berth_store::typed::decode::<TaskRecord>(&kv) else {
                continue;
            };
            if let Some((now, detail)) = task_change(last.tasks.get(&change.key), &task) {
                let resources = vec![task.task_arn.clone()];
                match events
                    .emit("aws.ecs", "ECS Task State Change", &resources, detail)
                    .await
                {
                    Ok(_) => {
                        last.tasks.insert(change.key, now);
                    }
                    Err(e) => {
                        tracing::warn!(task = %task.task_arn, error = %e.message, "ECS events: cannot send a task state change")
                    }
                }
            }
        } else {
            let Ok(service) = berth_store::typed::decode::<ServiceRecord>(&kv) else {
                continue;
            };
            let resources = vec![service.service_arn.clone()];
            let mut sent = true;
            for detail in deployment_changes(last.services.get(&change.key), &service) {
                if let Err(e) = events
                    .emit("aws.ecs", "ECS Deployment State Change", &resources, detail)
                    .await
                {
                    tracing::warn!(service = %service.service_arn, error = %e.message, "ECS events: cannot send a deployment state change");
                    sent = false;
                }
            }
            if sent {
                last.services.insert(change.key, rollouts(&service));
            }
        }
    }
}
