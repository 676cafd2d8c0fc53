//! Reading alarms from other services (ECS deployment alarms): each named
//! alarm's state and evaluation window, without an API call.

use super::model::StateValue;
use crate::Metrics;
use berth_proto::AwsError;

/// An alarm as another service watches it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSummary {
    pub name: String,
    pub state: StateValue,
    /// The period of its datapoints (seconds, as AWS counts them).
    pub period: i64,
    pub evaluation_periods: u32,
}

impl Metrics {
    /// The alarms named that exist, in the order named.
    pub async fn alarm_summaries(&self, names: Vec<String>) -> Result<Vec<AlarmSummary>, AwsError> {
        self.with_db(move |db| {
            let mut out = Vec::with_capacity(names.len());
            for n in &names {
                if let Some(s) = db.alarm(n)? {
                    out.push(AlarmSummary {
                        name: s.record.name.clone(),
                        state: s.record.state.value,
                        period: s.record.config.period(),
                        evaluation_periods: s.record.config.evaluation_periods,
                    });
                }
            }
            Ok(out)
        })
        .await
    }
}
