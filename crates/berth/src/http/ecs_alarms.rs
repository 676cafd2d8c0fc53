//! ECS's [`AlarmStates`] over the region's CloudWatch alarms: deployments
//! watch the alarms of their own region's metric store.

use async_trait::async_trait;
use berth_ecs::alarm_states::AlarmStates;
use berth_ecs_model::service::AlarmFact;
use berth_metrics::alarms::lookup::AlarmSummary;
use berth_metrics::alarms::model::StateValue;
use berth_proto::AwsError;
use std::sync::Arc;

pub(crate) struct EcsAlarmStates(pub(crate) Arc<berth_metrics::Metrics>);

/// An alarm as a deployment watches it (pure).
fn fact(s: AlarmSummary) -> AlarmFact {
    AlarmFact {
        in_alarm: s.state == StateValue::Alarm,
        window_secs: s.period as f64 * f64::from(s.evaluation_periods),
        name: s.name,
    }
}

#[async_trait]
impl AlarmStates for EcsAlarmStates {
    async fn alarms(&self, names: &[String]) -> Result<Vec<AlarmFact>, AwsError> {
        Ok(self
            .0
            .alarm_summaries(names.to_vec())
            .await?
            .into_iter()
            .map(fact)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fact_is_the_state_and_the_window() {
        let f = fact(AlarmSummary {
            name: "high".into(),
            state: StateValue::Alarm,
            period: 60,
            evaluation_periods: 5,
        });
        assert!(f.in_alarm);
        assert_eq!(f.window_secs, 300.0);
        let ok = fact(AlarmSummary {
            name: "low".into(),
            state: StateValue::InsufficientData,
            period: 10,
            evaluation_periods: 1,
        });
        assert!(!ok.in_alarm);
    }
}
