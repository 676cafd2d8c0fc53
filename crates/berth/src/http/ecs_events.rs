//! The events ECS sends to EventBridge, from the region's store: every
//! change of a task's `lastStatus` or `desiredStatus` is an `ECS Task State
//! Change` (source `aws.ecs`, the task's ARN in `resources`, the task as
//! DescribeTasks shows it, without tags, in `detail`), as ECS emits them.
//! A watch on the task records sees every write, whoever made it (the
//! scheduler, an agent's report, StopTask); the statuses last seen are kept
//! per task, so a write that changes neither sends nothing.

use berth_ecs_model::task::TaskRecord;
use berth_store::{EventKind, Store, StoreError};
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

const TASKS: &str = "ecs/tasks/";

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

async fn seen(store: &dyn Store) -> Result<(HashMap<String, Statuses>, i64), StoreError> {
    let rev = store.current_revision().await?;
    let mut out = HashMap::new();
    for kv in store.range(TASKS, None, None).await? {
        if let Ok(t) = berth_store::typed::decode::<TaskRecord>(&kv) {
            out.insert(kv.key, statuses(&t.render(false)));
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
    let mut watch = store.watch(TASKS, rev + 1).await?;
    while let Some(change) = watch.next().await {
        let change = change?;
        if change.kind == EventKind::Delete {
            last.remove(&change.key);
            continue;
        }
        let kv = berth_store::KeyValue {
            key: change.key.clone(),
            value: change.value,
            create_revision: change.revision,
            mod_revision: change.revision,
            version: 0,
        };
        let Ok(task) = berth_store::typed::decode::<TaskRecord>(&kv) else {
            continue;
        };
        if let Some((now, detail)) = task_change(last.get(&change.key), &task) {
            let resources = vec![task.task_arn.clone()];
            match events
                .emit("aws.ecs", "ECS Task State Change", &resources, detail)
                .await
            {
                Ok(_) => {
                    last.insert(change.key, now);
                }
                Err(e) => {
                    tracing::warn!(task = %task.task_arn, error = %e.message, "ECS events: cannot send a task state change")
                }
            }
        }
    }
    Ok(())
}
