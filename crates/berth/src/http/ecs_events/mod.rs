//! The events ECS sends to EventBridge, from the region's store, as ECS
//! emits them (source `aws.ecs`): `ECS Task State Change` (`task.rs`), `ECS
//! Deployment State Change` (`deployment.rs`), `ECS Service Action`
//! (`service_action.rs`) and `ECS Container Instance State Change`
//! (`instance.rs`); each file holds the pure rule of what a write of a
//! record sends.
//!
//! A watch on the records sees every write, whoever made it (the scheduler,
//! an agent's report, StopTask, the service controller); what was last seen
//! is kept per record, so a write that changes none of it sends nothing.

mod deployment;
mod instance;
mod service_action;
mod task;

use berth_ecs_model::instance::InstanceRecord;
use berth_ecs_model::service::ServiceRecord;
use berth_ecs_model::task::TaskRecord;
use berth_store::{EventKind, KeyValue, Store, StoreError};
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

const TASKS: &str = "ecs/tasks/";
const SERVICES: &str = "ecs/services/";
const INSTANCES: &str = "ecs/instances/";

/// Epoch seconds as the RFC 3339 time ECS's events carry.
pub(crate) fn rfc3339(epoch: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos((epoch * 1e9) as i128)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// What was last seen of a service.
#[derive(Default, Clone)]
struct ServiceSeen {
    rollouts: deployment::Rollouts,
    said: service_action::Said,
}

/// What was last seen of each record.
#[derive(Default)]
struct Seen {
    tasks: HashMap<String, task::Statuses>,
    services: HashMap<String, ServiceSeen>,
    instances: HashMap<String, instance::Seen>,
}

fn service_seen(s: &ServiceRecord) -> ServiceSeen {
    ServiceSeen {
        rollouts: deployment::rollouts(s),
        said: service_action::said(s),
    }
}

async fn seen(store: &dyn Store) -> Result<(Seen, i64), StoreError> {
    let rev = store.current_revision().await?;
    let mut out = Seen::default();
    for kv in store.range(TASKS, None, None).await? {
        if let Ok(t) = berth_store::typed::decode::<TaskRecord>(&kv) {
            out.tasks.insert(kv.key, task::statuses(&t.render(false)));
        }
    }
    for kv in store.range(SERVICES, None, None).await? {
        if let Ok(s) = berth_store::typed::decode::<ServiceRecord>(&kv) {
            out.services.insert(kv.key, service_seen(&s));
        }
    }
    for kv in store.range(INSTANCES, None, None).await? {
        if let Ok(i) = berth_store::typed::decode::<InstanceRecord>(&kv) {
            out.instances.insert(kv.key, instance::seen(&i));
        }
    }
    Ok((out, rev))
}

/// Sends the region's ECS events to its EventBridge until the server stops.
pub(crate) fn spawn(store: Arc<dyn Store>, events: berth_events::Events) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = follow(store.as_ref(), &events).await {
                tracing::warn!(error = %e, "ECS events: the watch ended; watching again");
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

/// Sends each detail; false when one could not be sent (what was seen is
/// then not updated, so the next write of the record tries again).
async fn send(events: &berth_events::Events, detail_type: &str, resource: &str, details: Vec<Value>) -> bool {
    let resources = vec![resource.to_string()];
    let mut sent = true;
    for detail in details {
        if let Err(e) = events.emit("aws.ecs", detail_type, &resources, detail).await {
            tracing::warn!(resource, detail_type, error = %e.message, "ECS events: cannot send an event");
            sent = false;
        }
    }
    sent
}

async fn follow(store: &dyn Store, events: &berth_events::Events) -> Result<(), StoreError> {
    let (mut last, rev) = seen(store).await?;
    let mut tasks = store.watch(TASKS, rev + 1).await?;
    let mut services = store.watch(SERVICES, rev + 1).await?;
    let mut instances = store.watch(INSTANCES, rev + 1).await?;
    loop {
        let change = tokio::select! {
            c = tasks.next() => c,
            c = services.next() => c,
            c = instances.next() => c,
        };
        let Some(change) = change else { return Ok(()) };
        let change = change?;
        if change.kind == EventKind::Delete {
            last.tasks.remove(&change.key);
            last.services.remove(&change.key);
            last.instances.remove(&change.key);
            continue;
        }
        let key = change.key.clone();
        let kv = KeyValue {
            key: change.key,
            value: change.value,
            create_revision: change.revision,
            mod_revision: change.revision,
            version: 0,
        };
        if key.starts_with(TASKS) {
            let Ok(t) = berth_store::typed::decode::<TaskRecord>(&kv) else {
                continue;
            };
            if let Some((now, detail)) = task::task_change(last.tasks.get(&key), &t)
                && send(events, "ECS Task State Change", &t.task_arn, vec![detail]).await
            {
                last.tasks.insert(key, now);
            }
        } else if key.starts_with(SERVICES) {
            let Ok(s) = berth_store::typed::decode::<ServiceRecord>(&kv) else {
                continue;
            };
            let before = last.services.get(&key);
            let deployments = deployment::deployment_changes(before.map(|b| &b.rollouts), &s);
            let actions = service_action::actions(before.map(|b| &b.said), &s);
            let sent = send(events, "ECS Deployment State Change", &s.service_arn, deployments).await
                & send(events, "ECS Service Action", &s.service_arn, actions).await;
            if sent {
                last.services.insert(key, service_seen(&s));
            }
        } else {
            let Ok(i) = berth_store::typed::decode::<InstanceRecord>(&kv) else {
                continue;
            };
            let now = berth_core::time::now_epoch();
            if let Some((seen, detail)) = instance::change(last.instances.get(&key), &i, now)
                && send(
                    events,
                    "ECS Container Instance State Change",
                    &i.container_instance_arn,
                    vec![detail],
                )
                .await
            {
                last.instances.insert(key, seen);
            }
        }
    }
}
