//! The alarm history items CloudWatch writes, with its summaries
//! (`Alarm "cpu" created`, `Alarm updated from OK to ALARM`,
//! `Successfully executed action …`) and their JSON `HistoryData`.

use super::model::{AlarmRecord, HistoryItem, HistoryItemType, StateValue};
use super::output::metric_alarm;
use serde_json::{Value, json};

/// CloudWatch's limits on an item's summary and data.
const MAX_SUMMARY: usize = 255;
const MAX_DATA: usize = 4095;

/// ISO 8601 with milliseconds and `+0000`, as CloudWatch's JSON data writes times.
pub fn data_time(epoch: f64) -> String {
    let iso = berth_core::time::iso8601_epoch(epoch);
    let millis = ((epoch.fract() * 1000.0).round() as i64).clamp(0, 999);
    format!("{}.{millis:03}+0000", iso.trim_end_matches('Z'))
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(crate) fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn item(alarm_name: &str, at: f64, kind: HistoryItemType, summary: String, data: Value) -> HistoryItem {
    let mut data = data.to_string();
    if data.len() > MAX_DATA {
        // The alarm's full configuration is in DescribeAlarms.
        data = json!({"version": "1.0", "truncated": true}).to_string();
    }
    HistoryItem {
        alarm_name: alarm_name.to_string(),
        timestamp: at,
        kind,
        summary: cut(summary, MAX_SUMMARY),
        data,
    }
}

/// `Alarm "NAME" created` / `updated` / `deleted`.
pub fn configuration(old: Option<&AlarmRecord>, new: Option<&AlarmRecord>, at: f64) -> Option<HistoryItem> {
    let (name, verb, data) = match (old, new) {
        (None, Some(n)) => (
            &n.name,
            "created",
            json!({"version": "1.0", "type": "Create", "createdAlarm": metric_alarm(n)}),
        ),
        (Some(o), Some(n)) => (
            &n.name,
            "updated",
            json!({"version": "1.0", "type": "Update", "originalAlarm": metric_alarm(o), "updatedAlarm": metric_alarm(n)}),
        ),
        (Some(o), None) => (
            &o.name,
            "deleted",
            json!({"version": "1.0", "type": "Delete", "deletedAlarm": metric_alarm(o)}),
        ),
        (None, None) => return None,
    };
    Some(item(
        name,
        at,
        HistoryItemType::ConfigurationUpdate,
        format!("Alarm \"{name}\" {verb}"),
        data,
    ))
}

/// `Alarm updated from OK to ALARM`.
pub fn state_update(old: &AlarmRecord, new: &AlarmRecord) -> HistoryItem {
    let state = |r: &AlarmRecord| {
        let mut s = json!({"stateValue": r.state.value.as_str(), "stateReason": r.state.reason});
        if let Some(d) = r
            .state
            .reason_data
            .as_deref()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
        {
            s["stateReasonData"] = d;
        }
        s
    };
    item(
        &new.name,
        new.state.updated,
        HistoryItemType::StateUpdate,
        format!(
            "Alarm updated from {} to {}",
            old.state.value.as_str(),
            new.state.value.as_str()
        ),
        json!({"version": "1.0", "oldState": state(old), "newState": state(new)}),
    )
}

/// `Successfully executed action ARN` / `Failed to execute action ARN. Received error: "…"`.
pub fn action(alarm_name: &str, arn: &str, state: StateValue, at: f64, error: Option<&str>) -> HistoryItem {
    let (summary, data) = match error {
        None => (
            format!("Successfully executed action {arn}"),
            json!({"actionState": "Succeeded", "stateUpdateTimestamp": at, "state": state.as_str(), "action": arn}),
        ),
        Some(e) => (
            format!("Failed to execute action {arn}. Received error: \"{e}\""),
            json!({"actionState": "Failed", "stateUpdateTimestamp": at, "state": state.as_str(), "action": arn, "error": e}),
        ),
    };
    item(alarm_name, at, HistoryItemType::Action, summary, data)
}

/// A history item as DescribeAlarmHistory answers it.
pub fn output(h: &HistoryItem) -> Value {
    json!({
        "AlarmName": h.alarm_name,
        "AlarmType": "MetricAlarm",
        "Timestamp": h.timestamp,
        "HistoryItemType": h.kind.as_str(),
        "HistorySummary": h.summary,
        "HistoryData": h.data,
    })
}
