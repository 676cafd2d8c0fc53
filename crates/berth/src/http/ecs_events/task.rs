//! `ECS Task State Change`: every change of a task's `lastStatus` or
//! `desiredStatus` (the task's ARN in `resources`, the task as DescribeTasks
//! shows it, without tags, in `detail`).

use berth_ecs_model::task::TaskRecord;
use serde_json::Value;

/// A task's (lastStatus, desiredStatus) as its event shows them.
pub(crate) type Statuses = (String, String);

pub(crate) fn statuses(detail: &Value) -> Statuses {
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
