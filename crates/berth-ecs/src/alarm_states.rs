//! The CloudWatch alarms of a region, as the service controller reads them
//! for deployment alarms: an [`AlarmStates`] answers each named alarm's
//! state and evaluation window. The server implements it over its metric
//! store's alarms (`berth-metrics`); without one, deployments that watch
//! alarms find none (never triggered, no bake).

use async_trait::async_trait;
use berth_ecs_model::service::AlarmFact;
use berth_proto::AwsError;

/// The alarms of this region and account.
#[async_trait]
pub trait AlarmStates: Send + Sync {
    /// The alarms named that exist (those that do not are left out).
    async fn alarms(&self, names: &[String]) -> Result<Vec<AlarmFact>, AwsError>;
}
