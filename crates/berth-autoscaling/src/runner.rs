//! An alarm's action runs its policy: the alarm is read (its state, its
//! threshold, the newest datapoint it evaluated), the policy says how many
//! tasks it wants (target tracking: proportional to metric / target; step
//! scaling: the step the breach falls in), clamped into [min, max]; then
//! the rules of when it may act — the suspended state, the cooldowns
//! (a scale-out during a scale-in cooldown acts at once; scale-in waits
//! for both), no scale-in during a deployment, and with several
//! target-tracking policies scale-in only when every one of them says so
//! (their AlarmLow all in ALARM) — and the service's desired count is set,
//! the activity recorded and the cooldown started.
//!
//! CloudWatch runs a policy at every evaluation while its alarm stays in
//! ALARM; the cooldown decides whether it acts.

use crate::capacity::{self, Direction};
use crate::records::{DEFAULT_COOLDOWN, PolicyKind, PolicyRecord, TargetRecord};
use crate::resource::{DESIRED_COUNT, ECS, ServiceId};
use crate::{AlarmReading, Autoscaling, Trigger};

/// The resource id and policy name a policy ARN names.
fn policy_target(arn: &str) -> Option<(String, String)> {
    let parsed = berth_core::arn::Arn::parse(arn)?;
    let rest = parsed.resource.strip_prefix("scalingPolicy:")?;
    let (_, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix(&format!("resource/{ECS}/"))?;
    let (resource_id, name) = rest.split_once(":policyName/")?;
    Some((resource_id.to_string(), name.to_string()))
}

/// What a policy wants when `alarm` (named `alarm_name`) is in ALARM and
/// the service runs `current` tasks (`None`: nothing).
fn wanted(policy: &PolicyRecord, alarm_name: &str, alarm: &AlarmReading, current: i64) -> Option<i64> {
    match &policy.kind {
        PolicyKind::TargetTracking(c) => {
            let high = if policy.alarms.iter().any(|a| a.name == alarm_name) {
                alarm_name.contains("-AlarmHigh-")
            } else {
                alarm.above
            };
            if !high && c.disable_scale_in {
                return None;
            }
            Some(capacity::target_tracking(current, alarm.value, c.target_value, high))
        }
        PolicyKind::Step(c) => {
            // Without a datapoint (an alarm set by hand), the breach is
            // taken at the threshold, on the alarm's side of it.
            let breach = match alarm.value {
                Some(v) => v - alarm.threshold,
                None if alarm.above => 0.0,
                None => -f64::EPSILON,
            };
            let adjustment = capacity::step_for(c, breach)?;
            Some(capacity::step_count(c, current, adjustment))
        }
    }
}

/// The cooldown (AWS seconds) a scaling in `dir` by `policy` starts.
fn cooldown_of(policy: &PolicyRecord, dir: Direction) -> i64 {
    match (&policy.kind, dir) {
        (PolicyKind::TargetTracking(c), Direction::Out) => c.out_cooldown(),
        (PolicyKind::TargetTracking(c), Direction::In) => c.in_cooldown(),
        (PolicyKind::Step(c), _) => c.cooldown.unwrap_or(DEFAULT_COOLDOWN),
    }
}

impl Autoscaling {
    /// Whether `arn` is a scaling policy ARN of this region (what the
    /// alarm action runner hands here).
    pub fn is_policy_arn(&self, arn: &str) -> bool {
        berth_core::arn::Arn::parse(arn)
            .is_some_and(|a| a.region == self.scope.region && a.account == self.scope.account)
            && policy_target(arn).is_some()
    }

    /// Runs the policy `policy_arn` because `trigger`'s alarm is in ALARM.
    /// An error is the alarm history's text.
    pub async fn run_policy(&self, policy_arn: &str, trigger: &Trigger) -> Result<(), String> {
        let (resource_id, _) =
            policy_target(policy_arn).ok_or_else(|| format!("{policy_arn} is not a scaling policy"))?;
        let missing = || format!("No scaling policy {policy_arn}: it was deleted or its target deregistered.");
        let target = self
            .target(ECS, DESIRED_COUNT, &resource_id)
            .await
            .map_err(|e| e.message)?
            .ok_or_else(missing)?;
        let policy = target
            .policies
            .iter()
            .find(|p| p.arn == policy_arn)
            .cloned()
            .ok_or_else(missing)?;
        let Some(alarm) = self.alarms.read(&trigger.alarm_name).await.map_err(|e| e.message)? else {
            return Ok(());
        };
        if !alarm.in_alarm {
            return Ok(());
        }
        let id = ServiceId::parse(&resource_id).ok_or_else(missing)?;
        let service = self
            .ecs
            .service(&id.cluster, &id.service)
            .await
            .map_err(|e| e.message)?
            .ok_or_else(|| format!("ECS service doesn't exist: {resource_id}"))?;
        let current = service.desired_count;
        let Some(want) = wanted(&policy, &trigger.alarm_name, &alarm, current) else {
            return Ok(());
        };
        let clamped = capacity::clamp(want, target.min, target.max);
        let cause = format!(
            "monitor alarm {} in state ALARM triggered policy {}",
            trigger.alarm_name, policy.name
        );
        let Some(dir) = Direction::between(current, clamped) else {
            if want != current {
                let code = capacity::not_scaled_code(want, current, target.min, target.max);
                self.record_not_scaled(&target, cause, want, code, current).await;
            }
            return Ok(());
        };
        if dir == Direction::In && !self.all_say_in(&target, &policy).await {
            return Ok(());
        }
        let now = self.now();
        if capacity::gate(dir, target.suspended, target.cooldown, service.deploying, now).is_err() {
            return Ok(());
        }
        let (min, max) = (target.min, target.max);
        let decide = move |s: &crate::ServiceState| {
            let c = capacity::clamp(clamped, min, max);
            let same_way = Direction::between(s.desired_count, c) == Some(dir);
            (same_way && !(dir == Direction::In && s.deploying)).then_some(c)
        };
        let cause_text = cause.clone();
        let set = self
            .scale_to(&target, &id, &decide, &move |_, _| cause_text.clone())
            .await;
        if set.is_none() {
            return Ok(());
        }
        let secs = self.scaled_secs(cooldown_of(&policy, dir));
        self.update_target(ECS, DESIRED_COUNT, &resource_id, |cur| {
            Ok(cur.map(|mut t| {
                t.cooldown = capacity::after(dir, now, secs, t.cooldown);
                t
            }))
        })
        .await
        .map_err(|e| e.message)?;
        Ok(())
    }

    /// With several target-tracking policies, scale-in happens only when
    /// every one (that may scale in) has its AlarmLow in ALARM.
    async fn all_say_in(&self, target: &TargetRecord, acting: &PolicyRecord) -> bool {
        if !matches!(acting.kind, PolicyKind::TargetTracking(_)) {
            return true;
        }
        for p in &target.policies {
            let PolicyKind::TargetTracking(c) = &p.kind else {
                continue;
            };
            if p.arn == acting.arn || c.disable_scale_in {
                continue;
            }
            let Some(low) = p.alarms.iter().find(|a| a.name.contains("-AlarmLow-")) else {
                continue;
            };
            match self.alarms.read(&low.name).await {
                Ok(Some(r)) if r.in_alarm => {}
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_arn_names_its_target_and_name() {
        assert_eq!(
            policy_target(
                "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:u-1:resource/ecs/service/default/web:policyName/cpu"
            ),
            Some(("service/default/web".into(), "cpu".into()))
        );
        assert_eq!(policy_target("arn:aws:sns:us-east-1:000000000000:t"), None);
    }
}
