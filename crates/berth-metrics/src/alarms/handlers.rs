//! The alarm operations' handlers: each takes its typed input, checks it
//! with the pure rules, reads or writes the alarm store in one
//! transaction, and answers the awsJson output.

use super::inputs::{
    AlarmNamesInput, DescribeAlarmHistoryInput, DescribeAlarmsForMetricInput, DescribeAlarmsInput,
    ListTagsForResourceInput, PutMetricAlarmInput, SetAlarmStateInput, Tag, TagResourceInput, UntagResourceInput,
};
use super::model::{AlarmRecord, AlarmState, AlarmTag, HistoryItemType, StateValue, Watched};
use super::store::{Deleted, HistoryQuery};
use super::{history, output, rules};
use crate::Metrics;
use crate::reads::{decode_offset, encode_offset};
use crate::rules::{combination, invalid};
use berth_proto::AwsError;
use serde_json::{Value, json};
use std::convert::Infallible;

/// DescribeAlarms' default page.
const DEFAULT_MAX_RECORDS: usize = 50;
/// DescribeAlarmHistory's default page.
const DEFAULT_HISTORY_RECORDS: usize = 100;

fn not_found(name: &str) -> AwsError {
    AwsError::new("ResourceNotFound", 404, format!("Alarm {name} not found"))
}

fn tag_target_not_found(arn: &str) -> AwsError {
    AwsError::new(
        "ResourceNotFoundException",
        404,
        format!("The resource {arn} does not exist."),
    )
}

fn empty() -> Value {
    Value::Object(Default::default())
}

impl Metrics {
    /// The ARN of alarm `name` in this region.
    pub fn alarm_arn(&self, name: &str) -> String {
        berth_core::arn::Scope::new(&self.region, &self.account_id).arn("cloudwatch", format!("alarm:{name}"))
    }

    /// The alarm name of an alarm ARN of this region and account.
    fn alarm_name_of(&self, arn: &str) -> Result<String, AwsError> {
        let parsed = berth_core::arn::Arn::parse(arn)
            .ok_or_else(|| invalid(format!("The value {arn} for parameter ResourceARN is not a valid ARN.")))?;
        match parsed.resource.strip_prefix("alarm:") {
            Some(name)
                if parsed.service == "cloudwatch"
                    && parsed.region == self.region
                    && parsed.account == self.account_id
                    && !name.is_empty() =>
            {
                Ok(name.to_string())
            }
            _ => Err(tag_target_not_found(arn)),
        }
    }

    /// The tags of each alarm named (for `aws:ResourceTag/…`); an alarm
    /// not stored has none.
    pub(crate) async fn alarm_tags(&self, names: Vec<String>) -> Vec<Vec<(String, String)>> {
        let read = self
            .with_db(move |db| {
                let mut out = Vec::with_capacity(names.len());
                for n in &names {
                    let tags = db.alarm(n)?.map(|s| s.record.tags).unwrap_or_default();
                    out.push(tags.into_iter().map(|t| (t.key, t.value)).collect());
                }
                Ok(out)
            })
            .await;
        read.unwrap_or_default()
    }

    pub(crate) async fn put_metric_alarm(&self, input: PutMetricAlarmInput) -> Result<Value, AwsError> {
        let config = rules::config(&input, &self.region, &self.account_id)?;
        let tags = input.tags.unwrap_or_default();
        rules::check_tags(&tags)?;
        let now = self.now();
        let name = input.alarm_name;
        let arn = self.alarm_arn(&name);
        self.with_db(move |db| {
            db.upsert_alarm(&name.clone(), |old| {
                let record = match &old {
                    // An update keeps the state and the tags (Tags apply at creation only).
                    Some(o) => AlarmRecord {
                        config,
                        configuration_updated: now,
                        ..o.clone()
                    },
                    None => AlarmRecord {
                        name,
                        arn,
                        config,
                        configuration_updated: now,
                        state: AlarmState {
                            value: StateValue::InsufficientData,
                            reason: "Unchecked: Initial alarm creation".into(),
                            reason_data: None,
                            updated: now,
                            transitioned: now,
                        },
                        tags: tags
                            .into_iter()
                            .map(|Tag { key, value }| AlarmTag { key, value })
                            .collect(),
                    },
                };
                let items = history::configuration(old.as_ref(), Some(&record), now)
                    .into_iter()
                    .collect();
                Ok::<_, Infallible>(Some((record, items)))
            })
        })
        .await?
        .unwrap_or_else(|e: Infallible| match e {});
        Ok(empty())
    }

    pub(crate) async fn describe_alarms(&self, input: DescribeAlarmsInput) -> Result<Value, AwsError> {
        if input.alarm_names.is_some() && input.alarm_name_prefix.is_some() {
            return Err(combination(
                "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive and you have specified both.",
            ));
        }
        let family = input.children_of_alarm_name.is_some() || input.parents_of_alarm_name.is_some();
        if family
            && (input.alarm_names.is_some()
                || input.alarm_name_prefix.is_some()
                || input.alarm_types.is_some()
                || input.state_value.is_some()
                || input.action_prefix.is_some())
        {
            return Err(combination(
                "ChildrenOfAlarmName and ParentsOfAlarmName can only be given with MaxRecords and NextToken.",
            ));
        }
        let limit = input.max_records.map_or(DEFAULT_MAX_RECORDS, |n| n as usize);
        let skip = input.next_token.as_deref().map(decode_offset).transpose()?.unwrap_or(0);
        let metric_alarms = input
            .alarm_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == "MetricAlarm"));
        let state = input.state_value.as_deref().and_then(StateValue::parse);
        // Berth has no composite alarms: a metric alarm has no children and no parents.
        let all = if family || !metric_alarms {
            Vec::new()
        } else {
            self.with_db(|db| db.alarms()).await?
        };
        let matching: Vec<AlarmRecord> = all
            .into_iter()
            .map(|s| s.record)
            .filter(|r| {
                input.alarm_names.as_ref().is_none_or(|names| names.contains(&r.name))
                    && input
                        .alarm_name_prefix
                        .as_ref()
                        .is_none_or(|p| r.name.starts_with(p.as_str()))
                    && state.is_none_or(|s| r.state.value == s)
                    && input
                        .action_prefix
                        .as_ref()
                        .is_none_or(|p| r.config.all_actions().any(|a| a.starts_with(p.as_str())))
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(skip)
            .take(limit)
            .map(output::metric_alarm)
            .collect();
        let mut out = json!({"MetricAlarms": page, "CompositeAlarms": []});
        if skip + limit < matching.len() {
            out["NextToken"] = json!(encode_offset(skip + limit));
        }
        Ok(out)
    }

    pub(crate) async fn describe_alarms_for_metric(
        &self,
        input: DescribeAlarmsForMetricInput,
    ) -> Result<Value, AwsError> {
        let wanted = crate::rules::metric(&input.namespace, &input.metric_name, &input.dimensions);
        let all = self.with_db(|db| db.alarms()).await?;
        let matches =
            |ns: &str, name: &str, dims: &[crate::inputs::Dimension], stat: &str, period: i64, unit: Option<&str>| {
                let m = crate::rules::metric(ns, name, dims);
                m == wanted
                    && input.statistic.as_deref().is_none_or(|s| s == stat)
                    && input.extended_statistic.as_deref().is_none_or(|s| s == stat)
                    && input.period.is_none_or(|p| p == period)
                    && input.unit.as_deref().is_none_or(|u| unit == Some(u))
            };
        let alarms: Vec<Value> = all
            .iter()
            .map(|s| &s.record)
            .filter(|r| match &r.config.watched {
                Watched::Metric(m) => matches(
                    &m.namespace,
                    &m.metric_name,
                    &m.dimensions,
                    m.statistic.as_deref().or(m.extended_statistic.as_deref()).unwrap_or(""),
                    m.period,
                    m.unit.as_deref(),
                ),
                Watched::Math(queries) => queries.iter().filter_map(|q| q.metric_stat.as_ref()).any(|ms| {
                    matches(
                        &ms.metric.namespace,
                        &ms.metric.metric_name,
                        &ms.metric.dimensions,
                        &ms.stat,
                        ms.period,
                        ms.unit.as_deref(),
                    )
                }),
            })
            .map(output::metric_alarm)
            .collect();
        Ok(json!({ "MetricAlarms": alarms }))
    }

    pub(crate) async fn describe_alarm_history(&self, input: DescribeAlarmHistoryInput) -> Result<Value, AwsError> {
        if let (Some(from), Some(to)) = (input.start_date, input.end_date)
            && from > to
        {
            return Err(invalid("The parameter StartDate must not be after EndDate."));
        }
        let limit = input.max_records.map_or(DEFAULT_HISTORY_RECORDS, |n| n as usize);
        let skip = input.next_token.as_deref().map(decode_offset).transpose()?.unwrap_or(0);
        let kind = match input.history_item_type.as_deref() {
            None => None,
            Some(k) => match HistoryItemType::parse(k) {
                Some(k) => Some(k),
                // Contributor items exist only for multi-time-series alarms, which Berth does not have.
                None => return Ok(json!({"AlarmHistoryItems": []})),
            },
        };
        let metric_alarms = input
            .alarm_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == "MetricAlarm"));
        if !metric_alarms || input.alarm_contributor_id.is_some() {
            return Ok(json!({"AlarmHistoryItems": []}));
        }
        let query = HistoryQuery {
            alarm_name: input.alarm_name,
            kind,
            from: input.start_date,
            to: input.end_date,
            ascending: input.scan_by.as_deref() == Some("TimestampAscending"),
            offset: skip,
            limit: limit + 1,
        };
        let mut items = self.with_db(move |db| db.history(&query)).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let mut out = json!({"AlarmHistoryItems": items.iter().map(history::output).collect::<Vec<_>>()});
        if more {
            out["NextToken"] = json!(encode_offset(skip + limit));
        }
        Ok(out)
    }

    pub(crate) async fn delete_alarms(&self, input: AlarmNamesInput) -> Result<Value, AwsError> {
        let names = input.alarm_names;
        let now = self.now();
        let deleted = self
            .with_db(move |db| {
                let mut items = Vec::new();
                for name in &names {
                    if let Some(s) = db.alarm(name)? {
                        items.extend(history::configuration(Some(&s.record), None, now));
                    }
                }
                db.delete_alarms(&names, &items)
            })
            .await?;
        match deleted {
            Deleted::All => Ok(empty()),
            Deleted::NoneAsMissing(missing) => Err(AwsError::new(
                "ResourceNotFound",
                404,
                format!("Alarm {missing} not found: no alarm was deleted."),
            )),
        }
    }

    pub(crate) async fn set_alarm_state(&self, input: SetAlarmStateInput) -> Result<Value, AwsError> {
        let Some(value) = StateValue::parse(&input.state_value) else {
            return Err(invalid(format!(
                "The value {} for parameter StateValue is invalid.",
                input.state_value
            )));
        };
        if let Some(d) = &input.state_reason_data
            && serde_json::from_str::<Value>(d).is_err()
        {
            return Err(AwsError::new(
                "InvalidFormat",
                400,
                "The parameter StateReasonData is not valid JSON.",
            ));
        }
        let now = self.now();
        let name = input.alarm_name.clone();
        let (written, previous) = self
            .with_db(move |db| {
                let mut previous = None;
                let written = db.upsert_alarm(&name, |old| {
                    let Some(old) = old else {
                        return Err(not_found(&input.alarm_name));
                    };
                    previous = Some(old.state.value);
                    let new = old.with_state(value, input.state_reason, input.state_reason_data, now);
                    // Only a change of state is history (and runs actions).
                    let items = if old.state.value == value {
                        Vec::new()
                    } else {
                        vec![history::state_update(&old, &new)]
                    };
                    Ok(Some((new, items)))
                })?;
                Ok(written.map(|w| (w, previous)))
            })
            .await??;
        if let (Some(record), Some(previous)) = (written, previous)
            && previous != record.state.value
        {
            self.run_actions(&record, previous).await;
        }
        Ok(empty())
    }

    /// Enables or disables the actions of the alarms named (unknown names are skipped).
    pub(crate) async fn set_actions_enabled(&self, input: AlarmNamesInput, enabled: bool) -> Result<Value, AwsError> {
        self.with_db(move |db| {
            for name in &input.alarm_names {
                let _written = db.upsert_alarm(name, |old| {
                    Ok::<_, Infallible>(old.map(|mut r| {
                        r.config.actions_enabled = enabled;
                        (r, Vec::new())
                    }))
                })?;
            }
            Ok(())
        })
        .await?;
        Ok(empty())
    }

    pub(crate) async fn tag_resource(&self, input: TagResourceInput) -> Result<Value, AwsError> {
        let name = self.alarm_name_of(&input.resource_arn)?;
        let arn = input.resource_arn.clone();
        self.with_db(move |db| {
            db.upsert_alarm(&name, |old| {
                let mut r = old.ok_or_else(|| tag_target_not_found(&arn))?;
                for t in input.tags {
                    match r.tags.iter_mut().find(|x| x.key == t.key) {
                        Some(x) => x.value = t.value,
                        None => r.tags.push(AlarmTag {
                            key: t.key,
                            value: t.value,
                        }),
                    }
                }
                let all: Vec<Tag> = r
                    .tags
                    .iter()
                    .map(|t| Tag {
                        key: t.key.clone(),
                        value: t.value.clone(),
                    })
                    .collect();
                rules::check_tags(&all)?;
                Ok::<_, AwsError>(Some((r, Vec::new())))
            })
        })
        .await??;
        Ok(empty())
    }

    pub(crate) async fn untag_resource(&self, input: UntagResourceInput) -> Result<Value, AwsError> {
        let name = self.alarm_name_of(&input.resource_arn)?;
        let arn = input.resource_arn.clone();
        self.with_db(move |db| {
            db.upsert_alarm(&name, |old| {
                let mut r = old.ok_or_else(|| tag_target_not_found(&arn))?;
                r.tags.retain(|t| !input.tag_keys.contains(&t.key));
                Ok::<_, AwsError>(Some((r, Vec::new())))
            })
        })
        .await??;
        Ok(empty())
    }

    pub(crate) async fn list_tags_for_resource(&self, input: ListTagsForResourceInput) -> Result<Value, AwsError> {
        let name = self.alarm_name_of(&input.resource_arn)?;
        let stored = self.with_db(move |db| db.alarm(&name)).await?;
        let record = stored.ok_or_else(|| tag_target_not_found(&input.resource_arn))?.record;
        let tags: Vec<Value> = record
            .tags
            .iter()
            .map(|t| json!({"Key": t.key, "Value": t.value}))
            .collect();
        Ok(json!({ "Tags": tags }))
    }
}
