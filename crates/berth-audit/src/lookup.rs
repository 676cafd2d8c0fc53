//! CloudTrail `LookupEvents` (awsJson 1.1) over the audit database.

use crate::AuditLog;
use async_trait::async_trait;
use berth_proto::operation::Operation;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use rusqlite::types::Value as SqlValue;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";
const MAX_RESULTS: i64 = 50;

#[derive(Clone)]
pub struct CloudTrail {
    log: Arc<AuditLog>,
}

impl CloudTrail {
    pub fn new(log: Arc<AuditLog>) -> Self {
        Self { log }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAttribute {
    attribute_key: String,
    attribute_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LookupEventsInput {
    #[serde(default)]
    lookup_attributes: Vec<LookupAttribute>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    event_category: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn err(code: &'static str, msg: impl Into<String>) -> AwsError {
    AwsError::new(code, 400, msg)
}

/// CloudTrail `LookupEvents`.
pub(crate) struct LookupEvents;

#[async_trait]
impl Operation<CloudTrail> for LookupEvents {
    const NAME: &'static str = "LookupEvents";
    type Input = LookupEventsInput;

    /// Not resource-scoped in AWS: `*`.
    fn resources(_scope: &(), _input: &LookupEventsInput) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged("*")]
    }

    async fn run(trail: &CloudTrail, _ctx: &RequestContext, input: LookupEventsInput) -> Result<Value, AwsError> {
        trail.lookup_events(input).await
    }
}

impl CloudTrail {
    async fn lookup_events(&self, i: LookupEventsInput) -> Result<Value, AwsError> {
        if i.lookup_attributes.len() > 1 {
            return Err(err(
                "InvalidLookupAttributesException",
                "You cannot specify more than one lookup attribute.",
            ));
        }
        let filter = match i.lookup_attributes.first() {
            None => None,
            Some(a) => {
                let v = a.attribute_value.clone();
                if v.is_empty() || v.len() > 2000 {
                    return Err(err(
                        "InvalidLookupAttributesException",
                        "The attribute value must be 1 to 2000 characters.",
                    ));
                }
                let clause = match a.attribute_key.as_str() {
                    "EventId" => "event_id = ?",
                    "EventName" => "event_name = ?",
                    "Username" => "username = ?",
                    "AccessKeyId" => "access_key_id = ?",
                    "EventSource" => "event_source = ?",
                    "ReadOnly" => "read_only = ?",
                    "ResourceName" => "seq IN (SELECT seq FROM audit_resources WHERE name = ?)",
                    "ResourceType" => "seq IN (SELECT seq FROM audit_resources WHERE rtype = ?)",
                    other => {
                        return Err(err(
                            "InvalidLookupAttributesException",
                            format!(
                                "'{other}' is not a lookup attribute: use EventId, EventName, ReadOnly, Username, \
                                 ResourceType, ResourceName, EventSource or AccessKeyId."
                            ),
                        ));
                    }
                };
                let value = if a.attribute_key == "ReadOnly" {
                    match v.as_str() {
                        "true" => SqlValue::Integer(1),
                        "false" => SqlValue::Integer(0),
                        _ => {
                            return Err(err(
                                "InvalidLookupAttributesException",
                                "ReadOnly must be 'true' or 'false'.",
                            ));
                        }
                    }
                } else {
                    SqlValue::Text(v)
                };
                Some((clause, value))
            }
        };
        if let Some(c) = &i.event_category
            && c != "insight"
        {
            return Err(err(
                "InvalidEventCategoryException",
                format!("'{c}' is not an event category: the only one is 'insight'."),
            ));
        }
        let max = match i.max_results {
            None => MAX_RESULTS,
            Some(n) if (1..=MAX_RESULTS).contains(&n) => n,
            Some(n) => {
                return Err(err(
                    "InvalidMaxResultsException",
                    format!("MaxResults must be between 1 and {MAX_RESULTS}, got {n}."),
                ));
            }
        };
        let before: i64 = match &i.next_token {
            None => i64::MAX,
            Some(t) => t
                .parse()
                .ok()
                .filter(|n: &i64| *n > 0)
                .ok_or_else(|| err("InvalidNextTokenException", "The specified NextToken is invalid."))?,
        };
        let to_ms = |s: f64| (s * 1000.0).round() as i64;
        let start = i.start_time.map_or(i64::MIN, to_ms);
        let end = i.end_time.map_or(i64::MAX, to_ms);
        if start > end {
            return Err(err(
                "InvalidTimeRangeException",
                "StartTime must be earlier than or equal to EndTime.",
            ));
        }
        // Insights are not produced: there are none to return.
        if i.event_category.is_some() {
            return Ok(json!({ "Events": [] }));
        }
        self.log.flush().await;
        let log = self.log.clone();
        let rows = tokio::task::spawn_blocking(move || -> Result<Vec<Row>, crate::AuditError> {
            let conn = log.reader()?;
            let mut sql = String::from(
                "SELECT seq, event_id, event_time, event_name, event_source, username, access_key_id, read_only, \
                 resources, json FROM audit_events WHERE event_time >= ?1 AND event_time <= ?2 AND seq < ?3",
            );
            let mut args: Vec<SqlValue> = vec![start.into(), end.into(), before.into()];
            if let Some((clause, value)) = filter {
                sql.push_str(" AND ");
                sql.push_str(&clause.replace('?', "?4"));
                args.push(value);
            }
            sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", max + 1));
            let mut st = conn.prepare(&sql)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(args), |r| {
                    Ok(Row {
                        seq: r.get(0)?,
                        event_id: r.get(1)?,
                        event_time: r.get(2)?,
                        event_name: r.get(3)?,
                        event_source: r.get(4)?,
                        username: r.get(5)?,
                        access_key_id: r.get(6)?,
                        read_only: r.get(7)?,
                        resources: r.get(8)?,
                        json: r.get(9)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .map_err(|e| AwsError::internal(e.to_string()))?
        .map_err(|e| {
            tracing::error!(error = %e, "audit lookup failed");
            AwsError::internal("The audit trail could not be read.")
        })?;
        let more = rows.len() as i64 > max;
        let page = &rows[..rows.len().min(max as usize)];
        let events: Vec<Value> = page
            .iter()
            .map(|r| {
                let resources: Vec<(String, String)> = serde_json::from_str(&r.resources).unwrap_or_default();
                let mut e = json!({
                    "EventId": r.event_id,
                    "EventName": r.event_name,
                    "ReadOnly": if r.read_only { "true" } else { "false" },
                    "EventTime": r.event_time as f64 / 1000.0,
                    "EventSource": r.event_source,
                    "Resources": resources.iter().map(|(t, n)| json!({"ResourceType": t, "ResourceName": n})).collect::<Vec<_>>(),
                    "CloudTrailEvent": r.json,
                });
                if let Some(k) = &r.access_key_id {
                    e["AccessKeyId"] = json!(k);
                }
                if let Some(u) = &r.username {
                    e["Username"] = json!(u);
                }
                e
            })
            .collect();
        let mut out = json!({ "Events": events });
        if more && let Some(last) = page.last() {
            out["NextToken"] = json!(last.seq.to_string());
        }
        Ok(out)
    }
}

struct Row {
    seq: i64,
    event_id: String,
    event_time: i64,
    event_name: String,
    event_source: String,
    username: Option<String>,
    access_key_id: Option<String>,
    read_only: bool,
    resources: String,
    json: String,
}
