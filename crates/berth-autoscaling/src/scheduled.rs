//! Scheduled actions: PutScheduledAction (`at(…)`, `rate(…)`, `cron(…)` in
//! a time zone, between StartTime and EndTime, setting MinCapacity and/or
//! MaxCapacity), DescribeScheduledActions, DeleteScheduledAction. The
//! `scheduler` runs them.

use crate::inputs::{DescribeScheduledActionsInput, PutScheduledActionInput, ScheduledActionInput};
use crate::records::ScheduledRecord;
use crate::resource::{check_namespace, no_target, not_found, scheduled_action_arn, target_of, validation};
use crate::{Autoscaling, output, rules, schedule};
use berth_proto::AwsError;
use serde_json::{Value, json};

fn no_action(namespace: &str, resource_id: &str, dimension: &str, name: &str) -> AwsError {
    not_found(format!(
        "No scheduled action found for service namespace: {namespace}, resource ID: {resource_id}, scalable \
         dimension: {dimension}, scheduled action name: {name}"
    ))
}

impl Autoscaling {
    pub(crate) async fn put_scheduled_action(&self, i: PutScheduledActionInput) -> Result<Value, AwsError> {
        target_of(&i.service_namespace, &i.resource_id, &i.scalable_dimension)?;
        if let Some(s) = &i.schedule {
            schedule::parse(s, i.timezone.as_deref()).map_err(validation)?;
        }
        if let (Some(a), Some(b)) = (i.start_time, i.end_time)
            && a >= b
        {
            return Err(validation("StartTime must be before EndTime."));
        }
        let now = self.now();
        let new_arn = scheduled_action_arn(
            &self.scope,
            &uuid::Uuid::new_v4().to_string(),
            &i.resource_id,
            &i.scheduled_action_name,
        );
        self.update_target(&i.service_namespace, &i.scalable_dimension, &i.resource_id, |cur| {
            let Some(mut cur) = cur else {
                return Err(no_target(&i.service_namespace, &i.resource_id, &i.scalable_dimension));
            };
            let old = cur
                .scheduled
                .iter()
                .find(|s| s.name == i.scheduled_action_name)
                .cloned();
            let schedule = match (&i.schedule, &old) {
                (Some(s), _) => s.clone(),
                (None, Some(o)) => o.schedule.clone(),
                (None, None) => return Err(validation("Schedule is required for a new scheduled action.")),
            };
            let timezone = i
                .timezone
                .clone()
                .or_else(|| old.as_ref().and_then(|o| o.timezone.clone()));
            schedule::parse(&schedule, timezone.as_deref()).map_err(validation)?;
            let (min, max) = match (&i.scalable_target_action, &old) {
                (None, Some(o)) => (o.min, o.max),
                (given, _) => rules::scheduled_capacities(given.as_ref())?,
            };
            let record = ScheduledRecord {
                name: i.scheduled_action_name.clone(),
                arn: old.as_ref().map_or_else(|| new_arn.clone(), |o| o.arn.clone()),
                schedule,
                timezone,
                start: i.start_time.or_else(|| old.as_ref().and_then(|o| o.start)),
                end: i.end_time.or_else(|| old.as_ref().and_then(|o| o.end)),
                min,
                max,
                created: old.as_ref().map_or(now, |o| o.created),
                last_run: None,
            };
            cur.scheduled.retain(|s| s.name != record.name);
            cur.scheduled.push(record);
            Ok(Some(cur))
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn delete_scheduled_action(&self, i: ScheduledActionInput) -> Result<Value, AwsError> {
        target_of(&i.service_namespace, &i.resource_id, &i.scalable_dimension)?;
        self.update_target(&i.service_namespace, &i.scalable_dimension, &i.resource_id, |cur| {
            let Some(mut cur) = cur else {
                return Err(no_target(&i.service_namespace, &i.resource_id, &i.scalable_dimension));
            };
            let before = cur.scheduled.len();
            cur.scheduled.retain(|s| s.name != i.scheduled_action_name);
            if cur.scheduled.len() == before {
                return Err(no_action(
                    &i.service_namespace,
                    &i.resource_id,
                    &i.scalable_dimension,
                    &i.scheduled_action_name,
                ));
            }
            Ok(Some(cur))
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn describe_scheduled_actions(&self, i: DescribeScheduledActionsInput) -> Result<Value, AwsError> {
        check_namespace(&i.service_namespace)?;
        let targets = self.targets(&i.service_namespace).await?;
        let list: Vec<Value> = targets
            .iter()
            .filter(|t| i.resource_id.as_ref().is_none_or(|r| *r == t.resource_id))
            .filter(|t| i.scalable_dimension.as_ref().is_none_or(|d| *d == t.dimension))
            .flat_map(|t| {
                t.scheduled
                    .iter()
                    .filter(|s| i.scheduled_action_names.as_ref().is_none_or(|n| n.contains(&s.name)))
                    .map(move |s| output::scheduled(t, s))
            })
            .collect();
        let (page, next) = crate::ops::page(list, i.max_results, i.next_token.as_deref())?;
        let mut out = json!({"ScheduledActions": page});
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok(out)
    }
}
