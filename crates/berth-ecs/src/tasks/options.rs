//! The task options RunTask, StartTask and the service controller give a
//! task plan (one shape, decoded from the first two requests and built by
//! the controller from a service), and the placement constraints and
//! strategies they place with.

use berth_ecs_model::Tag;
use berth_proto::AwsError;
use berth_scheduler::{PlacementConstraint, PlacementStrategy};
use serde::Deserialize;
use serde_json::Value;

/// What every task of a plan gets from its request (RunTask, StartTask) or
/// its service.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskOptions {
    pub(crate) overrides: Option<Value>,
    pub(crate) group: Option<String>,
    pub(crate) started_by: Option<String>,
    #[serde(default)]
    pub(crate) tags: Vec<Tag>,
    pub(crate) propagate_tags: Option<String>,
    #[serde(rename = "enableECSManagedTags")]
    pub(crate) enable_ecs_managed_tags: Option<bool>,
    pub(crate) enable_execute_command: Option<bool>,
}

/// The placement constraints of a task: its task definition's, then
/// `extra` (the request's or the service's), each parsed in that order.
pub(crate) fn placement_constraints<'a>(
    td: &'a Value,
    extra: &'a [Value],
) -> impl Iterator<Item = Result<PlacementConstraint, AwsError>> + 'a {
    td["placementConstraints"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(extra)
        .map(|c| {
            serde_json::from_value(c.clone())
                .map_err(|e| AwsError::invalid_parameter(format!("Invalid placement constraint {c}: {e}")))
        })
}

/// The placement strategies of a request or service, each parsed.
pub(crate) fn placement_strategies(list: &[Value]) -> impl Iterator<Item = Result<PlacementStrategy, AwsError>> + '_ {
    list.iter().map(|s| {
        serde_json::from_value(s.clone())
            .map_err(|e| AwsError::invalid_parameter(format!("Invalid placement strategy {s}: {e}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_decode_from_a_request() {
        let o: TaskOptions = serde_json::from_value(json!({
            "group": "g", "startedBy": "me", "tags": [{"key": "k", "value": "v"}],
            "propagateTags": "TASK_DEFINITION", "enableECSManagedTags": true,
            "enableExecuteCommand": false, "overrides": {"cpu": "256"}
        }))
        .unwrap();
        assert_eq!(o.group.as_deref(), Some("g"));
        assert_eq!(o.started_by.as_deref(), Some("me"));
        assert_eq!(o.tags.len(), 1);
        assert_eq!(o.propagate_tags.as_deref(), Some("TASK_DEFINITION"));
        assert_eq!(o.enable_ecs_managed_tags, Some(true));
        assert_eq!(o.enable_execute_command, Some(false));
        assert_eq!(o.overrides, Some(json!({"cpu": "256"})));
    }

    #[test]
    fn constraints_come_from_the_definition_then_the_request() {
        let td = json!({"placementConstraints": [{"type": "memberOf", "expression": "attribute:a == b"}]});
        let extra = [json!({"type": "distinctInstance"}), json!({"type": 7})];
        let parsed: Vec<_> = placement_constraints(&td, &extra).collect();
        assert_eq!(parsed.len(), 3);
        assert!(parsed[0].is_ok() && parsed[1].is_ok());
        assert!(
            parsed[2]
                .as_ref()
                .unwrap_err()
                .message
                .starts_with("Invalid placement constraint")
        );
        assert_eq!(placement_constraints(&json!({}), &[]).count(), 0);
        let s: Vec<_> = placement_strategies(&[json!({"type": "spread", "field": "instanceId"}), json!(1)]).collect();
        assert!(s[0].is_ok() && s[1].is_err());
    }
}
