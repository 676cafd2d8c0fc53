//! The region's alarm evaluator: every minute (a scaled minute under
//! `--time-scale`) each alarm's evaluation range is read from the metric
//! store, [`super::evaluate::evaluate`] says what state it calls for, and a
//! change of state is written (only if the alarm was not changed since it
//! was read), recorded in its history, and its actions run through the
//! [`super::actions::ActionRunner`] (again at each evaluation while the
//! state lasts, for the actions the runner repeats). Restart-safe: everything it needs is
//! in the store, and a tick only converges the stored state.

use super::actions::StateChange;
use super::evaluate::{EXTRA_PERIODS, Outcome, Rule, Slot, evaluate};
use super::history::{self, data_time};
use super::model::{AlarmRecord, StateValue, Watched};
use super::store::{HISTORY_RETENTION_SECS, Stored};
use crate::Metrics;
use crate::inputs::{Metric, MetricDataQuery, MetricStat};
use berth_proto::AwsError;
use serde_json::json;

impl Metrics {
    /// Evaluates every alarm once a (scaled) minute, for as long as the runtime lives.
    pub fn spawn_alarm_evaluator(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.time_scale.minute());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks: u64 = 0;
            loop {
                tick.tick().await;
                if let Err(e) = me.evaluate_alarms().await {
                    tracing::warn!(region = me.region, error = %e, "alarm evaluation failed");
                }
                ticks += 1;
                if ticks.is_multiple_of(60) {
                    let before = me.now() - HISTORY_RETENTION_SECS;
                    if let Err(e) = me.with_db(move |db| db.prune_history(before)).await {
                        tracing::warn!(region = me.region, error = %e, "alarm history pruning failed");
                    }
                }
            }
        });
    }

    /// One evaluation of every alarm; answers how many changed state.
    pub async fn evaluate_alarms(&self) -> Result<usize, AwsError> {
        let now = self.now();
        let alarms = self.with_db(|db| db.alarms()).await?;
        let mut changed = 0;
        for stored in alarms {
            let name = stored.record.name.clone();
            match self.evaluate_alarm(stored, now).await {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(region = self.region, alarm = name, error = %e, "alarm not evaluated"),
            }
        }
        Ok(changed)
    }

    /// The queries an alarm's datapoints come from, at the (scaled) period `period`.
    fn alarm_queries(record: &AlarmRecord, period: i64, scale: impl Fn(i64) -> i64) -> Vec<MetricDataQuery> {
        match &record.config.watched {
            Watched::Metric(m) => vec![MetricDataQuery {
                id: "m".into(),
                metric_stat: Some(MetricStat {
                    metric: Metric {
                        namespace: m.namespace.clone(),
                        metric_name: m.metric_name.clone(),
                        dimensions: m.dimensions.clone(),
                    },
                    period,
                    stat: m
                        .statistic
                        .clone()
                        .or_else(|| m.extended_statistic.clone())
                        .unwrap_or_default(),
                    unit: m.unit.clone(),
                }),
                expression: None,
                label: None,
                return_data: Some(true),
                period: None,
                account_id: None,
            }],
            Watched::Math(queries) => queries
                .iter()
                .cloned()
                .map(|mut q| {
                    if let Some(ms) = q.metric_stat.as_mut() {
                        ms.period = scale(ms.period);
                    }
                    q.period = q.period.map(&scale);
                    q
                })
                .collect(),
        }
    }

    async fn evaluate_alarm(&self, stored: Stored, now: f64) -> Result<bool, AwsError> {
        let record = &stored.record;
        let config = &record.config;
        let scale = self.time_scale;
        let period = if scale.is_real() {
            config.period()
        } else {
            scale.period_secs(config.period())
        };
        let n = config.evaluation_periods as usize;
        let slots = n + EXTRA_PERIODS;
        // Complete periods only: the range ends where the current one starts.
        let end = (now as i64).div_euclid(period) * period;
        let start = end - slots as i64 * period;
        let queries = Self::alarm_queries(
            record,
            period,
            |p| {
                if scale.is_real() { p } else { scale.period_secs(p) }
            },
        );
        let per_second = !scale.is_real() || period < 60;
        let answered = self
            .query_series(&queries, start as f64, end as f64, per_second)
            .await?;
        let series = answered.into_iter().next().map(|(_, _, s)| s).unwrap_or_default();
        let range: Vec<Slot> = (0..slots as i64)
            .map(|i| {
                let t = start + i * period;
                Slot {
                    start: t,
                    value: series.get(&t).copied(),
                }
            })
            .collect();
        let rule = Rule {
            comparison: config.comparison,
            threshold: config.threshold,
            evaluation_periods: n,
            datapoints_to_alarm: config.datapoints_to_alarm() as usize,
            treat_missing: config.treat_missing(),
        };
        let Some(outcome) = evaluate(&rule, &range, record.state.value) else {
            self.run_state_actions(record, record.state.value, true).await;
            return Ok(false);
        };
        if outcome.state == record.state.value {
            self.run_state_actions(record, record.state.value, true).await;
            return Ok(false);
        }
        let data = reason_data(record, &outcome, now, start, period);
        let reason = history::cut(outcome.reason.clone(), MAX_REASON);
        let new = record.with_state(outcome.state, reason, Some(data), now);
        let item = history::state_update(record, &new);
        let previous = record.state.value;
        let rev = stored.rev;
        let written = {
            let new = new.clone();
            self.with_db(move |db| db.replace_alarm_at(rev, &new, &[item])).await?
        };
        if written {
            self.run_actions(&new, previous).await;
        }
        Ok(written)
    }

    /// Runs the actions of the state `record` just entered (from
    /// `previous`), when its actions are enabled, recording each in its history.
    pub(crate) async fn run_actions(&self, record: &AlarmRecord, previous: StateValue) {
        self.run_state_actions(record, previous, false).await;
    }

    /// Runs the actions of `record`'s state: all of them on a transition,
    /// those the runner repeats (`repeat`) while the state lasts.
    async fn run_state_actions(&self, record: &AlarmRecord, previous: StateValue, repeat: bool) {
        let config = &record.config;
        let actions: Vec<&String> = config
            .actions_for(record.state.value)
            .iter()
            .filter(|a| !repeat || self.actions.repeats(a))
            .collect();
        if !config.actions_enabled || actions.is_empty() {
            return;
        }
        let change = StateChange {
            alarm_name: record.name.clone(),
            alarm_arn: record.arn.clone(),
            old: previous,
            new: record.state.value,
            reason: record.state.reason.clone(),
            at: record.state.updated,
        };
        let mut items = Vec::new();
        for arn in actions {
            let result = self.actions.run(arn, &change).await;
            let error = result.as_ref().err().map(ToString::to_string);
            items.push(history::action(
                &record.name,
                arn,
                record.state.value,
                self.now(),
                error.as_deref(),
            ));
        }
        if let Err(e) = self.with_db(move |db| db.add_history(&items)).await {
            tracing::warn!(region = self.region, alarm = record.name, error = %e, "alarm action history not written");
        }
    }
}

/// CloudWatch's limits on StateReason and on the datapoints StateReasonData
/// lists (the newest), so it stays under its 4,000 characters.
const MAX_REASON: usize = 1023;
const MAX_DATA_POINTS: usize = 20;

/// The `StateReasonData` CloudWatch writes with a threshold crossing.
fn reason_data(record: &AlarmRecord, outcome: &Outcome, now: f64, start: i64, period: i64) -> String {
    let mut data = json!({
        "version": "1.0",
        "queryDate": data_time(now),
        "startDate": data_time(start as f64),
        "period": record.config.period(),
        "recentDatapoints": outcome.evaluated.iter().take(MAX_DATA_POINTS).rev().map(|(_, v)| *v).collect::<Vec<_>>(),
        "threshold": record.config.threshold,
        "evaluatedDatapoints": outcome.evaluated.iter().take(MAX_DATA_POINTS).map(|(t, v)| json!({
            "timestamp": data_time(*t as f64),
            "value": v,
        })).collect::<Vec<_>>(),
    });
    if let Watched::Metric(m) = &record.config.watched {
        match (&m.statistic, &m.extended_statistic) {
            (Some(s), _) => data["statistic"] = json!(s),
            (None, Some(e)) => data["statistic"] = json!(e),
            _ => {}
        }
        if let Some(u) = &m.unit {
            data["unit"] = json!(u);
        }
    }
    if period != record.config.period() {
        // Under --time-scale: the length of a period as evaluated.
        data["scaledPeriodSeconds"] = json!(period);
    }
    data.to_string()
}

#[cfg(test)]
#[path = "evaluator_tests.rs"]
mod tests;
