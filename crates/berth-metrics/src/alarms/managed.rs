//! Alarms another Berth service manages (Application Auto Scaling's
//! target-tracking alarms): created, read and deleted through Rust rather
//! than the API, with the same rules and history as PutMetricAlarm and
//! DeleteAlarms.

use super::inputs::{AlarmNamesInput, PutMetricAlarmInput};
use super::model::{Comparison, StateValue};
use crate::Metrics;
use berth_proto::AwsError;

/// An alarm as the service that runs its actions reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmView {
    pub state: StateValue,
    pub threshold: f64,
    /// Whether it fires above its threshold (else below).
    pub above: bool,
    /// The newest datapoint its last evaluation saw (`recentDatapoints`
    /// of its state reason data), if any.
    pub newest: Option<f64>,
}

impl Metrics {
    /// PutMetricAlarm from Rust: answers the alarm's ARN.
    pub async fn put_managed_alarm(&self, input: PutMetricAlarmInput) -> Result<String, AwsError> {
        let arn = self.alarm_arn(&input.alarm_name);
        self.put_metric_alarm(input).await?;
        Ok(arn)
    }

    /// Deletes the alarms named that exist (one already gone is no error).
    pub async fn delete_managed_alarms(&self, names: Vec<String>) -> Result<(), AwsError> {
        let existing = self
            .with_db(move |db| {
                let mut out = Vec::new();
                for n in names {
                    if db.alarm(&n)?.is_some() {
                        out.push(n);
                    }
                }
                Ok(out)
            })
            .await?;
        if existing.is_empty() {
            return Ok(());
        }
        match self.delete_alarms(AlarmNamesInput { alarm_names: existing }).await {
            Ok(_) => Ok(()),
            // Deleted meanwhile.
            Err(e) if e.code == "ResourceNotFound" => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The alarm `name` as it stands.
    pub async fn alarm_view(&self, name: &str) -> Result<Option<AlarmView>, AwsError> {
        let name = name.to_string();
        let stored = self.with_db(move |db| db.alarm(&name)).await?;
        Ok(stored.map(|s| {
            let r = s.record;
            let newest = r
                .state
                .reason_data
                .as_deref()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .and_then(|d| d.get("recentDatapoints")?.as_array()?.last()?.as_f64());
            AlarmView {
                state: r.state.value,
                threshold: r.config.threshold,
                above: matches!(
                    r.config.comparison,
                    Comparison::GreaterThanThreshold | Comparison::GreaterThanOrEqualToThreshold
                ),
                newest,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::inputs::SetAlarmStateInput;

    fn input(name: &str) -> PutMetricAlarmInput {
        serde_json::from_value(serde_json::json!({
            "AlarmName": name, "Namespace": "AWS/ECS", "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "ClusterName", "Value": "c"}, {"Name": "ServiceName", "Value": "s"}],
            "Statistic": "Average", "Period": 60, "EvaluationPeriods": 3, "DatapointsToAlarm": 3,
            "Threshold": 50.0, "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": ["arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:u:resource/ecs/service/c/s:policyName/p"],
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn managed_alarms_are_made_read_and_deleted_from_rust() {
        let m = Metrics::in_memory("us-east-1", "000000000000").unwrap();
        let arn = m.put_managed_alarm(input("high")).await.unwrap();
        assert_eq!(arn, "arn:aws:cloudwatch:us-east-1:000000000000:alarm:high");
        let v = m.alarm_view("high").await.unwrap().unwrap();
        assert_eq!(
            (v.state, v.threshold, v.above, v.newest),
            (StateValue::InsufficientData, 50.0, true, None)
        );
        m.set_alarm_state(SetAlarmStateInput {
            alarm_name: "high".into(),
            state_value: "ALARM".into(),
            state_reason: "test".into(),
            state_reason_data: Some(r#"{"recentDatapoints": [60.0, 75.5]}"#.into()),
        })
        .await
        .unwrap();
        let v = m.alarm_view("high").await.unwrap().unwrap();
        assert_eq!((v.state, v.newest), (StateValue::Alarm, Some(75.5)));
        // One already gone is no error.
        m.delete_managed_alarms(vec!["high".into(), "gone".into()])
            .await
            .unwrap();
        assert_eq!(m.alarm_view("high").await.unwrap(), None);
        // PutMetricAlarm's rules hold.
        let mut bad = input("bad");
        bad.period = Some(7);
        assert!(m.put_managed_alarm(bad).await.is_err());
    }
}
