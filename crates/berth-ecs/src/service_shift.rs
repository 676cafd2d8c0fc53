//! BLUE_GREEN, LINEAR and CANARY deployments in the service controller: the
//! PRIMARY deployment's tasks (green) go into the target group production
//! traffic does not reach (the load balancer's `targetGroupArn` or its
//! `advancedConfiguration.alternateTargetGroupArn`) while the previous
//! revision (blue) keeps serving from the other; once green is healthy at
//! the desired count the test listener rule forwards to it, then the
//! production rule's weights follow the strategy's schedule
//! (`berth_ecs_model::traffic_shift`), the bake time passes, and blue is
//! scaled in (clean-up, the rolling step). A rollback deployment (circuit
//! breaker, alarms, StopServiceDeployment) first turns both rules back to
//! blue and replaces the failed tasks within blue's group; production never
//! reaches a green that did not get healthy. The stage math is pure
//! (`berth_ecs_model::service::advance_shift`); this file reads and writes
//! the rules through the region's [`crate::target_registry::TargetRegistry`].

use crate::Ecs;
use crate::services::ServiceRecord;
use berth_ecs_model::RolloutState;
use berth_ecs_model::service::{
    ServiceLoadBalancer, ShiftAction, ShiftInput, ShiftProgress, ShiftStage, advance_shift, shift_strategy,
};
use berth_ecs_model::traffic_shift::{ALL, ShiftStrategy, weights};
use berth_proto::AwsError;
use std::collections::BTreeMap;

/// The service's shifted load balancer and its live and idle groups.
fn shifted(svc: &ServiceRecord) -> Option<(&ServiceLoadBalancer, String, String)> {
    let lb = svc.load_balancers.iter().find(|l| l.advanced_configuration.is_some())?;
    let alt = lb.advanced_configuration.as_ref()?.alternate_target_group_arn.clone();
    let live = svc
        .berth
        .live_target_group
        .clone()
        .filter(|g| g == &alt || g == &lb.target_group_arn)
        .unwrap_or_else(|| lb.target_group_arn.clone());
    let idle = if live == alt { lb.target_group_arn.clone() } else { alt };
    Some((lb, live, idle))
}

/// The group each deployment's tasks are registered in, for a service
/// with a shifted load balancer: a traffic-shifting deployment's green
/// group; a deployment from before (ROLLING) the group the PRIMARY shifts
/// away from — or the live one.
pub(crate) fn shift_groups(svc: &ServiceRecord) -> BTreeMap<String, String> {
    let Some((_, live, _)) = shifted(svc) else {
        return BTreeMap::new();
    };
    let blue = svc
        .primary()
        .and_then(|p| p.berth.shift.as_ref())
        .map(|s| s.blue_target_group.clone())
        .unwrap_or(live);
    svc.deployments
        .iter()
        .map(|d| {
            let g = d.berth.shift.as_ref().map(|s| s.green_target_group.clone());
            (d.id.clone(), g.unwrap_or_else(|| blue.clone()))
        })
        .collect()
}

/// Whether the PRIMARY deployment is shifting traffic (before clean-up):
/// the previous revision keeps its tasks meanwhile.
pub(crate) fn shifting(svc: &ServiceRecord) -> bool {
    svc.primary()
        .and_then(|p| p.berth.shift.as_ref())
        .is_some_and(|s| s.stage < ShiftStage::CleanUp)
}

/// Whether the PRIMARY deployment has not reached SCALE_UP (paused at
/// RECONCILE_SERVICE or PRE_SCALE_UP): green starts no task yet.
pub(crate) fn holding_green(svc: &ServiceRecord) -> bool {
    svc.primary()
        .filter(|p| p.rollout_state == RolloutState::InProgress)
        .and_then(|p| p.berth.shift.as_ref())
        .is_some_and(|s| s.stage < ShiftStage::ScaleUp)
}

/// The prefix of a deployment's hook ids: `ecs-pause-DIGITS`.
fn hook_id_prefix(deployment_id: &str) -> String {
    format!(
        "ecs-pause-{}",
        deployment_id.strip_prefix("ecs-svc/").unwrap_or(deployment_id)
    )
}

impl Ecs {
    async fn set_share(&self, rule: &str, green: &str, blue: &str, share: u32) -> Result<(), AwsError> {
        let Some(registry) = &self.targets else {
            return Ok(());
        };
        let (b, g) = weights(share);
        registry
            .set_rule_weights(rule, &[(blue.to_string(), b), (green.to_string(), g)])
            .await
    }

    /// Gives a new PRIMARY deployment of a traffic-shifting service its
    /// groups (before the registrations are read); a rollback, or a failed
    /// deployment, turns the rules back to blue.
    pub(crate) async fn start_shift(&self, svc: &mut ServiceRecord, name: &str, now: f64) -> Result<(), AwsError> {
        let Some((lb, live, idle)) = shifted(svc).map(|(l, a, b)| (l.clone(), a, b)) else {
            return Ok(());
        };
        let Some(a) = lb.advanced_configuration.clone() else {
            return Ok(());
        };
        let rules: Vec<String> = std::iter::once(a.production_listener_rule.clone())
            .chain(a.test_listener_rule.clone())
            .collect();
        let others = svc.deployments.len() > 1;
        let Some(p) = svc.primary().cloned() else {
            return Ok(());
        };
        // A failed shifting deployment without rollback: blue serves again.
        if p.rollout_state == RolloutState::Failed
            && let Some(s) = p.berth.shift.clone().filter(|s| s.stage < ShiftStage::CleanUp)
        {
            for r in &rules {
                self.set_share(r, &s.green_target_group, &s.blue_target_group, 0)
                    .await?;
            }
            svc.push_event(
                format!(
                    "(service {name}) production traffic restored to target group {}.",
                    s.blue_target_group
                ),
                now,
            );
            if let Some(d) = svc.primary_mut()
                && let Some(s) = d.berth.shift.as_mut()
            {
                s.stage = ShiftStage::CleanUp;
                s.green_share = 0;
            }
            return Ok(());
        }
        if p.berth.shift.is_some() || p.rollout_state != RolloutState::InProgress {
            return Ok(());
        }
        let shift = if p.berth.rollback_from.is_some() {
            // Back to the group that serves: both rules there at once.
            for r in &rules {
                self.set_share(r, &live, &idle, ALL).await?;
            }
            svc.push_event(
                format!("(service {name}) production traffic restored to target group {live}."),
                now,
            );
            ShiftProgress {
                green_target_group: live,
                blue_target_group: idle,
                stage: ShiftStage::CleanUp,
                step: 0,
                until: None,
                green_share: ALL,
                initial: false,
                reconcile: false,
                hooks: vec![],
            }
        } else if others {
            ShiftProgress {
                green_target_group: idle,
                blue_target_group: live,
                stage: ShiftStage::ReconcileService,
                step: 0,
                until: None,
                green_share: 0,
                initial: false,
                // Beside more than one earlier revision.
                reconcile: svc.deployments.len() > 2,
                hooks: vec![],
            }
        } else {
            // The first deployment: its tasks serve from the live group.
            ShiftProgress {
                green_target_group: live,
                blue_target_group: idle,
                stage: ShiftStage::ScaleUp,
                step: 0,
                until: None,
                green_share: 0,
                initial: true,
                reconcile: false,
                hooks: vec![],
            }
        };
        if let Some(d) = svc.primary_mut() {
            d.berth.shift = Some(shift);
        }
        Ok(())
    }

    /// Moves the PRIMARY deployment's traffic shift on; `green_ready`: its
    /// tasks are healthy at the desired count. Answers when to look again.
    pub(crate) async fn advance_traffic_shift(
        &self,
        svc: &mut ServiceRecord,
        name: &str,
        green_ready: bool,
        now: f64,
    ) -> Result<Option<f64>, AwsError> {
        let Some((lb, _, _)) = shifted(svc).map(|(l, a, b)| (l.clone(), a, b)) else {
            return Ok(None);
        };
        let Some(a) = lb.advanced_configuration.clone() else {
            return Ok(None);
        };
        let Some(p) = svc.primary().cloned() else {
            return Ok(None);
        };
        let Some(s) = p.berth.shift.clone() else {
            return Ok(None);
        };
        if p.rollout_state != RolloutState::InProgress || s.stage == ShiftStage::CleanUp {
            return Ok(None);
        }
        let config = &svc.deployment_configuration;
        // The first deployment has no blue: all at once, no bake, no pause.
        let strategy = shift_strategy(config).filter(|_| !s.initial);
        let schedule = strategy.unwrap_or(ShiftStrategy::BlueGreen).schedule();
        let bake = if s.initial {
            0
        } else {
            config.bake_time_in_minutes.unwrap_or(0).clamp(0, 1440) as u32
        };
        // The hooks the deployment was made with.
        let hooks = if s.initial {
            vec![]
        } else {
            p.berth.config.as_ref().unwrap_or(config).lifecycle_hooks.clone()
        };
        let minute = self.time_scale.minute().as_secs_f64();
        let prefix = hook_id_prefix(&p.id);
        let input = ShiftInput {
            schedule: &schedule,
            bake_minutes: bake,
            minute_secs: minute,
            green_ready,
            hooks: &hooks,
            hook_id_prefix: &prefix,
            now,
        };
        let (next, actions, wake) = advance_shift(&s, &input);
        let (green, blue) = (&s.green_target_group, &s.blue_target_group);
        let mut roll_back = false;
        for action in actions {
            match action {
                ShiftAction::TestToGreen => {
                    if let Some(t) = &a.test_listener_rule {
                        self.set_share(t, green, blue, ALL).await?;
                        svc.push_event(
                            format!(
                                "(service {name}) (deployment {}) test traffic shifted to target group {green}.",
                                p.id
                            ),
                            now,
                        );
                    }
                }
                ShiftAction::Production(share) => {
                    self.set_share(&a.production_listener_rule, green, blue, share).await?;
                    svc.push_event(
                        format!(
                            "(service {name}) (deployment {}) production traffic shifted: {}.{}% to target group {green}.",
                            p.id,
                            share / 10,
                            share % 10
                        ),
                        now,
                    );
                }
                ShiftAction::Paused(hook_id, stage) => svc.push_event(
                    format!(
                        "(service {name}) (deployment {}) paused at lifecycle stage {}: lifecycle hook {hook_id} awaits ContinueServiceDeployment.",
                        p.id,
                        stage.as_str()
                    ),
                    now,
                ),
                ShiftAction::RollBack => roll_back = true,
            }
        }
        if next.stage == ShiftStage::CleanUp {
            svc.berth.live_target_group = Some(green.clone());
        }
        if let Some(d) = svc.primary_mut() {
            d.berth.shift = Some(next);
        }
        if roll_back {
            self.roll_back_at_hook(svc, name, now).await?;
            return Ok(Some(now));
        }
        Ok(wake)
    }

    /// A pause ended with ROLLBACK (its timeout's action): the deployment
    /// rolls back as StopServiceDeployment's ROLLBACK does — or, with no
    /// earlier deployment to go back to, fails — and the rules turn back
    /// to blue at once.
    async fn roll_back_at_hook(&self, svc: &mut ServiceRecord, name: &str, now: f64) -> Result<(), AwsError> {
        let Some(p) = svc.primary().cloned() else {
            return Ok(());
        };
        let reason = "A deployment lifecycle hook timed out with the ROLLBACK action.";
        svc.push_event(
            format!("(service {name}) (deployment {}) deployment failed: {reason}", p.id),
            now,
        );
        if let Some(good) = svc.start_rollback_by("ECS deployment lifecycle hook", reason, now) {
            svc.push_event(format!("(service {name}) rolling back to deployment {good}."), now);
        } else if let Some(d) = svc.primary_mut() {
            d.rollout_state = RolloutState::Failed.into();
            d.rollout_state_reason = reason.to_string();
            d.updated_at = now;
            d.berth.finished_at = Some(now);
        }
        self.start_shift(svc, name, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(id: &str, status: &str, shift: Option<(&str, &str)>) -> serde_json::Value {
        let mut d = json!({
            "id": id, "status": status, "taskDefinition": "td", "desiredCount": 2, "pendingCount": 0,
            "runningCount": 2, "failedTasks": 0, "createdAt": 0.0, "updatedAt": 0.0,
            "rolloutState": "IN_PROGRESS", "rolloutStateReason": "", "berth": {}
        });
        if let Some((green, blue)) = shift {
            d["berth"]["shift"] = json!({"greenTargetGroup": green, "blueTargetGroup": blue, "stage": "SCALE_UP"});
        }
        d
    }

    fn service(deployments: Vec<serde_json::Value>, live: Option<&str>) -> ServiceRecord {
        let mut berth = json!({"cluster": "c", "name": "s"});
        if let Some(l) = live {
            berth["liveTargetGroup"] = json!(l);
        }
        serde_json::from_value(json!({
            "serviceArn": "a", "serviceName": "s", "clusterArn": "c", "status": "ACTIVE",
            "desiredCount": 2, "runningCount": 0, "pendingCount": 0, "taskDefinition": "td",
            "loadBalancers": [{"targetGroupArn": "tg-a", "containerName": "web", "containerPort": 80,
                "advancedConfiguration": {"alternateTargetGroupArn": "tg-b", "productionListenerRule": "r",
                                          "roleArn": "role"}}],
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": false, "rollback": false},
                "maximumPercent": 200, "minimumHealthyPercent": 100, "strategy": "BLUE_GREEN",
                "bakeTimeInMinutes": 1},
            "deployments": deployments, "events": [], "createdAt": 0.0, "schedulingStrategy": "REPLICA",
            "deploymentController": {"type": "ECS"}, "createdBy": "x", "propagateTags": "NONE",
            "berth": berth
        }))
        .expect("a service record")
    }

    #[test]
    fn each_deployment_has_one_group() {
        // Green in the idle group; an earlier ROLLING deployment where the
        // shift moves away from.
        let svc = service(
            vec![
                deployment("green", "PRIMARY", Some(("tg-b", "tg-a"))),
                deployment("old", "ACTIVE", None),
            ],
            None,
        );
        let groups = shift_groups(&svc);
        assert_eq!(groups["green"], "tg-b");
        assert_eq!(groups["old"], "tg-a");
        assert!(shifting(&svc));
        // After a completed shift the live group is the alternate one.
        let svc = service(vec![deployment("next", "PRIMARY", None)], Some("tg-b"));
        assert_eq!(
            shifted(&svc).map(|(_, live, idle)| (live, idle)),
            Some(("tg-b".into(), "tg-a".into()))
        );
        assert_eq!(shift_groups(&svc)["next"], "tg-b");
        assert!(!shifting(&svc));
        // A live group the load balancer no longer names is ignored.
        let svc = service(vec![], Some("tg-gone"));
        assert_eq!(shifted(&svc).map(|(_, live, _)| live), Some("tg-a".into()));
    }
}
