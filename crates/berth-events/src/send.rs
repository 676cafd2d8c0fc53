//! PutEvents and [`Events::emit`]: an event is made as EventBridge makes
//! it, matched against the ENABLED rules of the default bus, and each
//! (rule, target) it owes is written to the outbox in one transaction
//! before the call returns; TestEventPattern.

use crate::inputs::{PutEventsEntry, PutEventsInput, TestEventPatternInput};
use crate::pattern::Pattern;
use crate::records::{Delivery, OUTBOX, RuleRec, RuleState, Shaping};
use crate::rules::invalid_pattern;
use crate::targets::at_path;
use crate::{Events, store_error};
use berth_core::arn::Scope;
use berth_proto::AwsError;
use berth_store::{Op, typed};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The most entries of one PutEvents, as in EventBridge.
pub const MAX_ENTRIES: usize = 10;

/// The event as targets receive it (pure).
pub fn event(
    scope: &Scope,
    id: &str,
    at: OffsetDateTime,
    source: &str,
    detail_type: &str,
    resources: &[String],
    detail: Value,
) -> Value {
    let time = at
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default();
    json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": source,
        "account": scope.account,
        "time": time,
        "region": scope.region,
        "resources": resources,
        "detail": detail,
    })
}

/// What one target of a matched rule receives (pure).
fn message(event: &Value, shaping: &Shaping) -> Option<String> {
    match shaping {
        Shaping::Event => Some(event.to_string()),
        Shaping::Input(text) => Some(text.clone()),
        // A path the event does not have sends nothing.
        Shaping::Path(p) => at_path(event, p).map(Value::to_string),
    }
}

/// The deliveries `event` owes to `rules` (pure).
pub(crate) fn deliveries(rules: &[(RuleRec, Pattern)], event: &Value, time_ms: i64) -> Vec<Delivery> {
    let id = event["id"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for (rule, pattern) in rules {
        if rule.state != RuleState::Enabled || !pattern.matches(event) {
            continue;
        }
        for t in &rule.targets {
            if let Some(message) = message(event, &t.shaping) {
                out.push(Delivery {
                    event_id: id.to_string(),
                    time_ms,
                    rule_arn: rule.arn.clone(),
                    target_id: t.id.clone(),
                    target_arn: t.arn.clone(),
                    message,
                    attempts: 0,
                    next_ms: 0,
                    http: t.http.clone(),
                    retry: t.retry.unwrap_or_default(),
                    received_ms: 0,
                });
            }
        }
    }
    out
}

fn entry_error(code: &str, message: impl Into<String>) -> Value {
    json!({ "ErrorCode": code, "ErrorMessage": message.into() })
}

fn event_time(v: Option<&Value>, now: OffsetDateTime) -> Option<OffsetDateTime> {
    match v {
        None => Some(now),
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(|s| OffsetDateTime::from_unix_timestamp_nanos((s * 1e9) as i128).ok()),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(|x| OffsetDateTime::from_unix_timestamp_nanos((x * 1e9) as i128).ok())
        }),
        _ => None,
    }
}

impl Events {
    async fn enabled_rules(&self) -> Result<Vec<(RuleRec, Pattern)>, AwsError> {
        Ok(self
            .rules()
            .await?
            .into_iter()
            .filter(|r| r.state == RuleState::Enabled && !r.targets.is_empty())
            .filter_map(|r| Pattern::parse(&r.event_pattern).ok().map(|p| (r, p)))
            .collect())
    }

    /// Writes `owed` to the outbox (one transaction) and wakes the worker.
    async fn owe(&self, mut owed: Vec<Delivery>) -> Result<(), AwsError> {
        if owed.is_empty() {
            return Ok(());
        }
        let received = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let mut ops = Vec::with_capacity(owed.len());
        for (n, d) in owed.iter_mut().enumerate() {
            d.received_ms = received;
            let key = format!("{OUTBOX}{:016}-{}-{n}", d.time_ms.max(0), d.event_id);
            ops.push(Op::Put(key, typed::encode(d).map_err(store_error)?));
        }
        self.store.txn(Vec::new(), ops).await.map_err(store_error)?;
        self.wake.notify_one();
        Ok(())
    }

    pub(crate) async fn put_events(&self, i: PutEventsInput) -> Result<Value, AwsError> {
        if i.endpoint_id.is_some() {
            return Err(AwsError::validation(
                "EndpointId is not supported by Berth: it has no global endpoints; send to the region's endpoint.",
            ));
        }
        if i.entries.is_empty() || i.entries.len() > MAX_ENTRIES {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length \
                 less than or equal to {MAX_ENTRIES} and greater than or equal to 1"
            )));
        }
        let rules = self.enabled_rules().await?;
        let now = OffsetDateTime::now_utc();
        let mut results = Vec::with_capacity(i.entries.len());
        let mut owed = Vec::new();
        let mut failed = 0;
        for e in i.entries {
            match self.entry(e, now) {
                Ok((event, at)) => {
                    let time_ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
                    owed.extend(deliveries(&rules, &event, time_ms));
                    results.push(json!({ "EventId": event["id"] }));
                }
                Err(err) => {
                    failed += 1;
                    results.push(err);
                }
            }
        }
        self.owe(owed).await?;
        Ok(json!({ "FailedEntryCount": failed, "Entries": results }))
    }

    /// One PutEvents entry as an event, or its entry error.
    fn entry(&self, e: PutEventsEntry, now: OffsetDateTime) -> Result<(Value, OffsetDateTime), Value> {
        if let Err(err) = self.check_bus(e.event_bus_name.as_deref()) {
            return Err(entry_error("ResourceNotFoundException", err.message));
        }
        let Some(source) = e.source.filter(|s| !s.is_empty()) else {
            return Err(entry_error(
                "InvalidArgument",
                "Parameter Source is not valid. Reason: Source is a required argument.",
            ));
        };
        let Some(detail_type) = e.detail_type.filter(|s| !s.is_empty()) else {
            return Err(entry_error(
                "InvalidArgument",
                "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
            ));
        };
        if source.starts_with("aws.") {
            return Err(entry_error(
                "NotAuthorizedForSourceException",
                "Not authorized for the source.",
            ));
        }
        let Some(detail_text) = e.detail else {
            return Err(entry_error(
                "InvalidArgument",
                "Parameter Detail is not valid. Reason: Detail is a required argument.",
            ));
        };
        let detail = match serde_json::from_str::<Value>(&detail_text) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(entry_error("MalformedDetail", "Detail is malformed.")),
        };
        let Some(at) = event_time(e.time.as_ref(), now) else {
            return Err(entry_error("InvalidArgument", "Parameter Time is not valid."));
        };
        let id = uuid::Uuid::new_v4().to_string();
        let resources = e.resources.unwrap_or_default();
        let ev = event(&self.scope, &id, at, &source, &detail_type, &resources, detail);
        Ok((ev, at))
    }

    /// Publishes an event of one of Berth's own services (`aws.ecs`,
    /// `aws.ecr`, …) on the default bus; returns its id once every delivery
    /// it owes is stored.
    pub async fn emit(
        &self,
        source: &str,
        detail_type: &str,
        resources: &[String],
        detail: Value,
    ) -> Result<String, AwsError> {
        let at = OffsetDateTime::now_utc();
        let id = uuid::Uuid::new_v4().to_string();
        let ev = event(&self.scope, &id, at, source, detail_type, resources, detail);
        let rules = self.enabled_rules().await?;
        self.owe(deliveries(&rules, &ev, (at.unix_timestamp_nanos() / 1_000_000) as i64))
            .await?;
        Ok(id)
    }

    pub(crate) async fn test_event_pattern(&self, i: TestEventPatternInput) -> Result<Value, AwsError> {
        let pattern = Pattern::parse(&i.event_pattern).map_err(invalid_pattern)?;
        let event: Value = serde_json::from_str(&i.event)
            .map_err(|_| AwsError::validation("Parameter Event is not valid: it is not JSON."))?;
        for field in ["id", "account", "source", "time", "region", "detail-type"] {
            if event.get(field).is_none() {
                return Err(AwsError::validation(format!(
                    "Parameter Event is not valid: the event has no \"{field}\"."
                )));
            }
        }
        Ok(json!({ "Result": pattern.matches(&event) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::TargetRec;

    fn rule(name: &str, pattern: &str, state: RuleState, targets: Vec<TargetRec>) -> (RuleRec, Pattern) {
        let r = RuleRec {
            name: name.into(),
            arn: format!("arn:aws:events:us-east-1:000000000000:rule/{name}"),
            event_pattern: pattern.into(),
            state,
            description: None,
            role_arn: None,
            created_by: "000000000000".into(),
            targets,
        };
        let p = Pattern::parse(pattern).unwrap();
        (r, p)
    }

    fn t(id: &str, shaping: Shaping) -> TargetRec {
        TargetRec {
            id: id.into(),
            arn: format!("arn:aws:logs:us-east-1:000000000000:log-group:{id}"),
            shaping,
            role_arn: None,
            http: None,
            retry: None,
        }
    }

    #[test]
    fn an_event_is_owed_to_every_target_of_every_enabled_rule_it_matches() {
        let at = OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap();
        let ev = event(
            &Scope::new("us-east-1", "000000000000"),
            "e1",
            at,
            "my.app",
            "Order",
            &[],
            json!({"n": 3}),
        );
        assert_eq!(ev["time"], "2026-11-30T00:53:20Z");
        let rules = vec![
            rule(
                "a",
                r#"{"source": ["my.app"]}"#,
                RuleState::Enabled,
                vec![
                    t("whole", Shaping::Event),
                    t("detail", Shaping::Path("$.detail".into())),
                    t("none", Shaping::Path("$.detail.missing".into())),
                    t("const", Shaping::Input(r#"{"k":1}"#.into())),
                ],
            ),
            rule(
                "off",
                r#"{"source": ["my.app"]}"#,
                RuleState::Disabled,
                vec![t("x", Shaping::Event)],
            ),
            rule(
                "other",
                r#"{"source": ["other"]}"#,
                RuleState::Enabled,
                vec![t("y", Shaping::Event)],
            ),
        ];
        let owed = deliveries(&rules, &ev, 5);
        let got: Vec<(&str, &str)> = owed
            .iter()
            .map(|d| (d.target_id.as_str(), d.message.as_str()))
            .collect();
        let whole = ev.to_string();
        assert_eq!(
            got,
            [
                ("whole", whole.as_str()),
                ("detail", r#"{"n":3}"#),
                ("const", r#"{"k":1}"#)
            ]
        );
        assert!(
            owed.iter()
                .all(|d| d.event_id == "e1" && d.time_ms == 5 && d.rule_arn.ends_with("rule/a"))
        );
    }

    #[test]
    fn event_times() {
        let now = OffsetDateTime::from_unix_timestamp(100).unwrap();
        assert_eq!(event_time(None, now), Some(now));
        assert_eq!(
            event_time(Some(&json!(1_796_000_000)), now).unwrap().unix_timestamp(),
            1_796_000_000
        );
        assert_eq!(
            event_time(Some(&json!("2026-12-06T06:00:00Z")), now)
                .unwrap()
                .unix_timestamp(),
            1_796_536_800
        );
        assert_eq!(event_time(Some(&json!("yesterday")), now), None);
    }
}
