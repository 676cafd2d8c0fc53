//! EventBridge's targets as Berth delivers to them: a CloudWatch Logs log
//! group of the region (its ARN `arn:aws:logs:REGION:ACCOUNT:log-group:NAME`),
//! each event one log event in a log stream named after the event id, its
//! timestamp the event's time.

use async_trait::async_trait;
use berth_events::records::Delivery;

pub(crate) struct LogGroupTargets {
    pub(crate) logs: berth_logs::Logs,
    pub(crate) region: String,
    pub(crate) account: String,
}

#[async_trait]
impl berth_events::Deliver for LogGroupTargets {
    async fn deliver(&self, d: &Delivery) -> Result<(), String> {
        let Some(group) = berth_events::targets::log_group_of(&d.target_arn, &self.region, &self.account) else {
            return Err(format!("{} is not a log group of this region", d.target_arn));
        };
        self.logs
            .deliver(group, &d.event_id, d.time_ms, d.message.clone())
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))
    }
}
