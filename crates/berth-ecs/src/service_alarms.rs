//! Deployment alarms in the service controller: while the PRIMARY
//! deployment is IN_PROGRESS (and for its bake once steady) the CloudWatch
//! alarms named in `deploymentConfiguration.alarms` are read through the
//! server's [`crate::alarm_states::AlarmStates`]; one in ALARM fails the
//! deployment and, with `rollback`, rolls it back to the last COMPLETED one
//! (the circuit breaker's rollback). The rules are pure
//! (`berth_ecs_model::service::deployment_alarms`); this file reads the
//! alarms and applies them to the service record the controller writes.

use crate::Ecs;
use crate::services::ServiceRecord;
use berth_ecs_model::RolloutState;
use berth_ecs_model::service::{alarm_bake_secs, alarm_failure_event, alarm_failure_reason, triggered_alarms};
use berth_proto::AwsError;

/// What the alarms say about the PRIMARY deployment this pass.
#[derive(Debug, Default)]
pub(crate) struct AlarmWatch {
    /// When to read the alarms again (epoch seconds).
    pub wake: Option<f64>,
    /// The bake after the steady state, in this server's seconds; None:
    /// the deployment watches no alarms.
    pub bake_secs: Option<f64>,
}

impl Ecs {
    /// Reads the alarms the PRIMARY deployment watches and fails it (and
    /// rolls it back when asked) if one is in ALARM. A rollback deployment
    /// does not watch them: it restores what completed before.
    pub(crate) async fn watch_deployment_alarms(
        &self,
        svc: &mut ServiceRecord,
        name: &str,
        now: f64,
    ) -> Result<AlarmWatch, AwsError> {
        let Some(cfg) = svc.deployment_configuration.alarms.clone().filter(|a| a.watched()) else {
            return Ok(AlarmWatch::default());
        };
        let Some(p) = svc.primary().cloned() else {
            return Ok(AlarmWatch::default());
        };
        if p.rollout_state != RolloutState::InProgress || p.berth.rollback_from.is_some() {
            return Ok(AlarmWatch::default());
        }
        let facts = match &self.alarms {
            Some(a) => a.alarms(&cfg.alarm_names).await?,
            None => vec![],
        };
        let triggered = triggered_alarms(&cfg.alarm_names, &facts);
        if triggered.is_empty() {
            let bake = self
                .time_scale
                .scale(std::time::Duration::from_secs_f64(alarm_bake_secs(&facts)))
                .as_secs_f64();
            // Alarms are evaluated every (scaled) minute: a few reads per
            // evaluation see a transition soon enough.
            let poll = (self.time_scale.minute().as_secs_f64() / 6.0).clamp(0.5, 10.0);
            return Ok(AlarmWatch {
                wake: Some(now + poll),
                bake_secs: Some(bake),
            });
        }
        let reason = alarm_failure_reason(&triggered);
        svc.push_event(alarm_failure_event(name, &p.id, &triggered), now);
        tracing::warn!(service = %svc.service_arn, deployment = %p.id, alarms = ?triggered, "deployment failed (alarms)");
        if let Some(d) = svc.primary_mut() {
            d.berth.triggered_alarms = triggered;
        }
        if cfg.rollback
            && let Some(good_id) = svc.start_rollback_by("ECS deployment alarms", &reason, now)
        {
            svc.push_event(format!("(service {name}) rolling back to deployment {good_id}."), now);
        } else if let Some(d) = svc.primary_mut() {
            d.rollout_state = RolloutState::Failed.into();
            d.rollout_state_reason = reason;
            d.updated_at = now;
            d.berth.finished_at = Some(now);
        }
        Ok(AlarmWatch::default())
    }
}
