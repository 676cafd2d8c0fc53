//! Traffic-shifting deployments (BLUE_GREEN, LINEAR, CANARY) as a service
//! configures them (pure): a load balancer's `advancedConfiguration` (the
//! alternate target group and the listener rules ECS shifts), and the
//! checks tying the deployment strategy to it.

use super::ServiceLoadBalancer;
use super::records::DeploymentConfig;
use super::{Gate, HookRun, HookStage, LifecycleHook, gate};
use crate::traffic_shift::ShiftStrategy;
use berth_proto::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A load balancer's `advancedConfiguration` as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedConfiguration {
    pub alternate_target_group_arn: String,
    pub production_listener_rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_listener_rule: Option<String>,
    pub role_arn: String,
}

fn invalid(m: String) -> AwsError {
    AwsError::invalid_parameter(m)
}

impl AdvancedConfiguration {
    /// Checks a request's `advancedConfiguration` (the alternate target
    /// group, the production rule and the role are required).
    pub fn parse(v: &Value) -> Result<Self, AwsError> {
        let s = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let need = |k: &str| {
            s(k).ok_or_else(|| {
                invalid(format!(
                    "advancedConfiguration.{k} is required for blue/green, linear and canary deployments."
                ))
            })
        };
        Ok(AdvancedConfiguration {
            alternate_target_group_arn: need("alternateTargetGroupArn")?,
            production_listener_rule: need("productionListenerRule")?,
            test_listener_rule: s("testListenerRule"),
            role_arn: need("roleArn")?,
        })
    }
}

/// The traffic-shifting strategy of a configuration (None: ROLLING).
pub fn shift_strategy(c: &DeploymentConfig) -> Option<ShiftStrategy> {
    ShiftStrategy::parse(
        &c.strategy,
        c.canary_configuration.as_ref(),
        c.linear_configuration.as_ref(),
    )
    .ok()
}

/// Checks a service's strategy against its load balancers: a traffic-shifting
/// strategy needs exactly one load balancer, with an `advancedConfiguration`
/// whose alternate group differs from its target group; ROLLING takes none.
pub fn check_shift_load_balancers(
    c: &DeploymentConfig,
    lbs: &[ServiceLoadBalancer],
    daemon: bool,
) -> Result<(), AwsError> {
    let advanced = lbs.iter().filter(|l| l.advanced_configuration.is_some()).count();
    if c.strategy == "ROLLING" {
        if advanced > 0 {
            return Err(invalid(
                "advancedConfiguration applies to the BLUE_GREEN, LINEAR and CANARY deployment strategies; this service uses ROLLING.".into(),
            ));
        }
        return Ok(());
    }
    if daemon {
        return Err(invalid(format!(
            "The {} deployment strategy is not supported for services using the DAEMON scheduling strategy.",
            c.strategy
        )));
    }
    if lbs.len() != 1 || advanced != 1 {
        return Err(invalid(format!(
            "The {} deployment strategy needs one load balancer with an advancedConfiguration (alternateTargetGroupArn, productionListenerRule, roleArn); Berth shifts the traffic of exactly one.",
            c.strategy
        )));
    }
    let lb = &lbs[0];
    if lb
        .advanced_configuration
        .as_ref()
        .map(|a| &a.alternate_target_group_arn)
        == Some(&lb.target_group_arn)
    {
        return Err(invalid(
            "advancedConfiguration.alternateTargetGroupArn must be another target group than targetGroupArn.".into(),
        ));
    }
    Ok(())
}

/// Whether a rule's forward weights name both target groups (and only
/// them), as a production or test listener rule must.
pub fn forwards_to_both(weights: &[(String, u32)], a: &str, b: &str) -> bool {
    weights.len() == 2 && weights.iter().any(|(t, _)| t == a) && weights.iter().any(|(t, _)| t == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::default_deployment_config;
    use serde_json::json;

    fn lb(advanced: bool) -> ServiceLoadBalancer {
        ServiceLoadBalancer {
            target_group_arn: "tg-blue".into(),
            container_name: "web".into(),
            container_port: 80,
            advanced_configuration: advanced.then(|| AdvancedConfiguration {
                alternate_target_group_arn: "tg-green".into(),
                production_listener_rule: "rule-prod".into(),
                test_listener_rule: None,
                role_arn: "arn:aws:iam::000000000000:role/ecs".into(),
            }),
        }
    }

    #[test]
    fn advanced_configuration_members() {
        let a = AdvancedConfiguration::parse(&json!({
            "alternateTargetGroupArn": "g", "productionListenerRule": "p", "roleArn": "r", "testListenerRule": "t"}))
        .unwrap();
        assert_eq!(a.test_listener_rule.as_deref(), Some("t"));
        for missing in ["alternateTargetGroupArn", "productionListenerRule", "roleArn"] {
            let mut v = json!({"alternateTargetGroupArn": "g", "productionListenerRule": "p", "roleArn": "r"});
            v.as_object_mut().unwrap().remove(missing);
            let e = AdvancedConfiguration::parse(&v).unwrap_err();
            assert!(e.message.contains(missing), "{}", e.message);
        }
    }

    #[test]
    fn strategy_needs_one_advanced_load_balancer() {
        let mut c = default_deployment_config(false);
        assert!(check_shift_load_balancers(&c, &[lb(false)], false).is_ok());
        assert!(check_shift_load_balancers(&c, &[lb(true)], false).is_err());
        c.strategy = "BLUE_GREEN".into();
        assert_eq!(shift_strategy(&c), Some(ShiftStrategy::BlueGreen));
        assert!(check_shift_load_balancers(&c, &[lb(true)], false).is_ok());
        assert!(check_shift_load_balancers(&c, &[lb(false)], false).is_err());
        assert!(check_shift_load_balancers(&c, &[], false).is_err());
        assert!(check_shift_load_balancers(&c, &[lb(true)], true).is_err());
        let mut same = lb(true);
        same.advanced_configuration.as_mut().unwrap().alternate_target_group_arn = "tg-blue".into();
        assert!(check_shift_load_balancers(&c, &[same], false).is_err());
    }

    #[test]
    fn rules_forward_to_both() {
        let w = vec![("a".to_string(), 1), ("b".to_string(), 0)];
        assert!(forwards_to_both(&w, "a", "b"));
        assert!(!forwards_to_both(&w[..1], "a", "b"));
        assert!(!forwards_to_both(&w, "a", "c"));
    }
}

/// Where a traffic-shifting deployment is (`lifecycleStage`), in order.
/// The pause points of lifecycle hooks are stages of their own; without
/// hooks a pass goes through them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShiftStage {
    ReconcileService,
    PreScaleUp,
    ScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
    BakeTime,
    CleanUp,
}

impl ShiftStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReconcileService => "RECONCILE_SERVICE",
            Self::PreScaleUp => "PRE_SCALE_UP",
            Self::ScaleUp => "SCALE_UP",
            Self::PostScaleUp => "POST_SCALE_UP",
            Self::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            Self::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            Self::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            Self::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
            Self::BakeTime => "BAKE_TIME",
            Self::CleanUp => "CLEAN_UP",
        }
    }
}

/// A traffic-shifting deployment's progress, as stored on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftProgress {
    /// The group its tasks are registered in, and the one it replaces.
    pub green_target_group: String,
    pub blue_target_group: String,
    pub stage: ShiftStage,
    /// The production step reached (index in the schedule).
    #[serde(default)]
    pub step: usize,
    /// When the current wait (a step's bake, the bake time) ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<f64>,
    /// Green's share of production traffic now, in tenths of a percent.
    #[serde(default)]
    pub green_share: u32,
    /// The service's first deployment: no blue to shift from, so its
    /// traffic moves at once and it does not bake.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub initial: bool,
    /// It started beside more than one earlier revision (the
    /// RECONCILE_SERVICE stage happens).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reconcile: bool,
    /// Its pauses at lifecycle hooks (`lifecycleHookDetails`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookRun>,
}

/// What the controller does this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftAction {
    /// The test rule forwards to green.
    TestToGreen,
    /// The production rule gives green this share (tenths of a percent).
    Production(u32),
    /// A pause began at a lifecycle hook (its id and stage).
    Paused(String, HookStage),
    /// A pause timed out with ROLLBACK, or was answered ROLLBACK: the
    /// deployment rolls back.
    RollBack,
}

/// What one step of the machine is given besides the progress.
#[derive(Debug, Clone, Copy)]
pub struct ShiftInput<'a> {
    /// The production schedule.
    pub schedule: &'a [crate::traffic_shift::ShiftStep],
    /// The bake time after the last shift.
    pub bake_minutes: u32,
    /// How long a minute lasts here (the time scale).
    pub minute_secs: f64,
    /// Green's tasks are healthy at the desired count.
    pub green_ready: bool,
    /// The deployment's PAUSE hooks, and the prefix of its hook ids.
    pub hooks: &'a [LifecycleHook],
    pub hook_id_prefix: &'a str,
    pub now: f64,
}

/// One step of a traffic-shifting deployment (pure): from `p` and the
/// input, answers the progress, what to do (in order) and when to look
/// again. A lifecycle hook's stage opens a pause there; the machine stays
/// until every pause of the stage has ended with CONTINUE (answered or at
/// its timeout); one ending with ROLLBACK answers [`ShiftAction::RollBack`].
/// PRE_PRODUCTION_TRAFFIC_SHIFT pauses before each production step.
pub fn advance_shift(p: &ShiftProgress, input: &ShiftInput<'_>) -> (ShiftProgress, Vec<ShiftAction>, Option<f64>) {
    let mut p = p.clone();
    let mut actions = vec![];
    let now = input.now;
    let wait = |m: u32| now + f64::from(m) * input.minute_secs;
    // The pauses of a stage: go on (true), or return with this answer.
    let gate_at = |p: &mut ShiftProgress, actions: &mut Vec<ShiftAction>, stage: HookStage, step: usize| {
        let (g, opened) = gate(
            &mut p.hooks,
            input.hooks,
            stage,
            step,
            input.hook_id_prefix,
            input.minute_secs,
            now,
        );
        actions.extend(opened.into_iter().map(|id| ShiftAction::Paused(id, stage)));
        match g {
            Gate::Pass => None,
            Gate::Wait(until) => Some(Some(until)),
            Gate::Rollback => {
                actions.push(ShiftAction::RollBack);
                Some(None)
            }
        }
    };
    loop {
        match p.stage {
            ShiftStage::ReconcileService => {
                if p.reconcile
                    && let Some(w) = gate_at(&mut p, &mut actions, HookStage::ReconcileService, 0)
                {
                    return (p, actions, w);
                }
                p.stage = ShiftStage::PreScaleUp;
            }
            ShiftStage::PreScaleUp => {
                if let Some(w) = gate_at(&mut p, &mut actions, HookStage::PreScaleUp, 0) {
                    return (p, actions, w);
                }
                p.stage = ShiftStage::ScaleUp;
            }
            ShiftStage::ScaleUp if input.green_ready => p.stage = ShiftStage::PostScaleUp,
            ShiftStage::ScaleUp => return (p, actions, None),
            ShiftStage::PostScaleUp => {
                if let Some(w) = gate_at(&mut p, &mut actions, HookStage::PostScaleUp, 0) {
                    return (p, actions, w);
                }
                p.stage = ShiftStage::TestTrafficShift;
            }
            ShiftStage::TestTrafficShift => {
                actions.push(ShiftAction::TestToGreen);
                p.stage = ShiftStage::PostTestTrafficShift;
            }
            ShiftStage::PostTestTrafficShift => {
                if let Some(w) = gate_at(&mut p, &mut actions, HookStage::PostTestTrafficShift, 0) {
                    return (p, actions, w);
                }
                p.stage = ShiftStage::ProductionTrafficShift;
                p.step = 0;
                p.until = None;
            }
            ShiftStage::ProductionTrafficShift => {
                let Some(step) = input.schedule.get(p.step) else {
                    p.stage = ShiftStage::PostProductionTrafficShift;
                    p.until = None;
                    continue;
                };
                if p.green_share != step.green {
                    let at = p.step;
                    if let Some(w) = gate_at(&mut p, &mut actions, HookStage::PreProductionTrafficShift, at) {
                        return (p, actions, w);
                    }
                    actions.push(ShiftAction::Production(step.green));
                    p.green_share = step.green;
                    p.until = Some(wait(step.bake_minutes));
                }
                match p.until {
                    Some(u) if u > now && p.step + 1 < input.schedule.len() => return (p, actions, Some(u)),
                    _ => {
                        p.step += 1;
                        p.until = None;
                    }
                }
            }
            ShiftStage::PostProductionTrafficShift => {
                if let Some(w) = gate_at(&mut p, &mut actions, HookStage::PostProductionTrafficShift, 0) {
                    return (p, actions, w);
                }
                p.stage = ShiftStage::BakeTime;
                p.until = Some(wait(input.bake_minutes));
            }
            ShiftStage::BakeTime => match p.until {
                Some(u) if u > now => return (p, actions, Some(u)),
                _ => {
                    p.stage = ShiftStage::CleanUp;
                    p.until = None;
                }
            },
            ShiftStage::CleanUp => return (p, actions, None),
        }
    }
}

#[cfg(test)]
mod advance_tests {
    use super::*;
    use crate::service::{HookAction, HookStatus, HookTargetType, HookTimeout, answer_hook};
    use crate::traffic_shift::{ShiftStep, ShiftStrategy};

    fn start() -> ShiftProgress {
        ShiftProgress {
            green_target_group: "g".into(),
            blue_target_group: "b".into(),
            stage: ShiftStage::ReconcileService,
            step: 0,
            until: None,
            green_share: 0,
            initial: false,
            reconcile: false,
            hooks: vec![],
        }
    }

    fn input<'a>(
        schedule: &'a [ShiftStep],
        bake: u32,
        minute: f64,
        ready: bool,
        hooks: &'a [LifecycleHook],
        now: f64,
    ) -> ShiftInput<'a> {
        ShiftInput {
            schedule,
            bake_minutes: bake,
            minute_secs: minute,
            green_ready: ready,
            hooks,
            hook_id_prefix: "ecs-pause-1",
            now,
        }
    }

    fn step(
        p: &ShiftProgress,
        s: &[ShiftStep],
        bake: u32,
        minute: f64,
        ready: bool,
        now: f64,
    ) -> (ShiftProgress, Vec<ShiftAction>, Option<f64>) {
        advance_shift(p, &input(s, bake, minute, ready, &[], now))
    }

    fn pause(stages: &[HookStage], minutes: u32, action: HookAction) -> LifecycleHook {
        LifecycleHook {
            target_type: HookTargetType::Pause,
            lifecycle_stages: stages.to_vec(),
            timeout_configuration: Some(HookTimeout {
                timeout_in_minutes: Some(minutes),
                action: Some(action),
            }),
        }
    }

    #[test]
    fn blue_green_shifts_at_once_then_bakes() {
        let s = ShiftStrategy::BlueGreen.schedule();
        let (p, a, w) = step(&start(), &s, 2, 1.0, false, 0.0);
        assert_eq!((p.stage, a.len(), w), (ShiftStage::ScaleUp, 0, None));
        let (p, a, w) = step(&p, &s, 2, 1.0, true, 10.0);
        assert_eq!(a, vec![ShiftAction::TestToGreen, ShiftAction::Production(1000)]);
        assert_eq!((p.stage, w), (ShiftStage::BakeTime, Some(12.0)));
        let (p, a, _) = step(&p, &s, 2, 1.0, true, 11.0);
        assert_eq!((p.stage, a.len()), (ShiftStage::BakeTime, 0));
        let (p, _, w) = step(&p, &s, 2, 1.0, true, 12.0);
        assert_eq!((p.stage, w), (ShiftStage::CleanUp, None));
    }

    #[test]
    fn a_stored_scale_up_stage_goes_on() {
        // Deployments recorded before the hook stages start at SCALE_UP.
        let mut p = start();
        p.stage = ShiftStage::ScaleUp;
        let s = ShiftStrategy::BlueGreen.schedule();
        let (p, a, _) = step(&p, &s, 0, 1.0, true, 0.0);
        assert_eq!((p.stage, a.len()), (ShiftStage::CleanUp, 2));
    }

    #[test]
    fn canary_waits_its_bake_between_steps() {
        let s = ShiftStrategy::Canary {
            percent: 100,
            bake_minutes: 3,
        }
        .schedule();
        let (p, a, w) = step(&start(), &s, 0, 2.0, true, 0.0);
        assert_eq!(a, vec![ShiftAction::TestToGreen, ShiftAction::Production(100)]);
        assert_eq!(
            (p.stage, p.green_share, w),
            (ShiftStage::ProductionTrafficShift, 100, Some(6.0))
        );
        let (p, a, _) = step(&p, &s, 0, 2.0, true, 5.0);
        assert!(a.is_empty() && p.green_share == 100);
        let (p, a, w) = step(&p, &s, 0, 2.0, true, 6.0);
        assert_eq!(a, vec![ShiftAction::Production(1000)]);
        // No bake time: straight to clean-up.
        assert_eq!((p.stage, w), (ShiftStage::CleanUp, None));
    }

    #[test]
    fn linear_steps() {
        let s = ShiftStrategy::Linear {
            step: 250,
            bake_minutes: 1,
        }
        .schedule();
        let mut p = start();
        let mut shares = vec![];
        let mut now = 0.0;
        while p.stage != ShiftStage::CleanUp {
            let (next, a, _) = step(&p, &s, 1, 1.0, true, now);
            for x in a {
                if let ShiftAction::Production(g) = x {
                    shares.push(g);
                }
            }
            p = next;
            now += 0.5;
        }
        assert_eq!(shares, vec![250, 500, 750, 1000]);
        assert!(now >= 4.0, "3 step bakes and the bake time: {now}");
    }

    /// Answers the open pause of `p` as ContinueServiceDeployment does.
    fn answer(p: &mut ShiftProgress, action: HookAction, now: f64) {
        let id = p
            .hooks
            .iter()
            .find(|r| r.status == HookStatus::AwaitingAction)
            .map(|r| r.hook_id.clone())
            .expect("a pause");
        answer_hook(&mut p.hooks, &id, action, now).unwrap();
    }

    #[test]
    fn every_pausable_stage_pauses_then_continues() {
        let s = ShiftStrategy::BlueGreen.schedule();
        let all = [
            HookStage::ReconcileService,
            HookStage::PreScaleUp,
            HookStage::PostScaleUp,
            HookStage::PostTestTrafficShift,
            HookStage::PreProductionTrafficShift,
            HookStage::PostProductionTrafficShift,
        ];
        let hooks = [pause(&all, 10, HookAction::Rollback)];
        let mut p = start();
        p.reconcile = true;
        let mut seen = vec![];
        let mut now = 0.0;
        while p.stage != ShiftStage::CleanUp {
            let (next, a, w) = advance_shift(&p, &input(&s, 1, 1.0, true, &hooks, now));
            p = next;
            for x in &a {
                if let ShiftAction::Paused(id, stage) = x {
                    seen.push((*stage, p.stage));
                    assert_eq!(w, Some(now + 10.0), "a pause wakes at its timeout");
                    assert!(id.starts_with("ecs-pause-1-"));
                }
            }
            assert!(!a.contains(&ShiftAction::RollBack));
            if w == Some(now + 10.0) {
                // Paused: the machine does not move without an answer.
                let (again, more, _) = advance_shift(&p, &input(&s, 1, 1.0, true, &hooks, now + 1.0));
                assert_eq!((again.stage, more.len()), (p.stage, 0));
                answer(&mut p, HookAction::Continue, now + 1.0);
            }
            now += 2.0;
        }
        assert_eq!(
            seen,
            vec![
                (HookStage::ReconcileService, ShiftStage::ReconcileService),
                (HookStage::PreScaleUp, ShiftStage::PreScaleUp),
                (HookStage::PostScaleUp, ShiftStage::PostScaleUp),
                (HookStage::PostTestTrafficShift, ShiftStage::PostTestTrafficShift),
                (HookStage::PreProductionTrafficShift, ShiftStage::ProductionTrafficShift),
                (
                    HookStage::PostProductionTrafficShift,
                    ShiftStage::PostProductionTrafficShift
                ),
            ]
        );
        assert!(p.hooks.iter().all(|r| r.status == HookStatus::Succeeded));
        assert_eq!(p.hooks.len(), 6);
    }

    #[test]
    fn no_reconcile_stage_beside_one_revision() {
        let s = ShiftStrategy::BlueGreen.schedule();
        let hooks = [pause(&[HookStage::ReconcileService], 10, HookAction::Rollback)];
        let (p, a, _) = advance_shift(&start(), &input(&s, 0, 1.0, false, &hooks, 0.0));
        assert_eq!((p.stage, a.len(), p.hooks.len()), (ShiftStage::ScaleUp, 0, 0));
    }

    #[test]
    fn a_pause_after_the_test_shift_holds_production() {
        let s = ShiftStrategy::BlueGreen.schedule();
        let hooks = [pause(&[HookStage::PostTestTrafficShift], 5, HookAction::Rollback)];
        let (p, a, w) = advance_shift(&start(), &input(&s, 1, 2.0, true, &hooks, 0.0));
        assert_eq!(
            a,
            vec![
                ShiftAction::TestToGreen,
                ShiftAction::Paused("ecs-pause-1-1".into(), HookStage::PostTestTrafficShift)
            ]
        );
        assert_eq!(
            (p.stage, p.green_share, w),
            (ShiftStage::PostTestTrafficShift, 0, Some(10.0))
        );
        // ROLLBACK answered: the machine says roll back, production untouched.
        let mut rolled = p.clone();
        answer(&mut rolled, HookAction::Rollback, 1.0);
        let (r, a, w) = advance_shift(&rolled, &input(&s, 1, 2.0, true, &hooks, 1.0));
        assert_eq!((a, w, r.green_share), (vec![ShiftAction::RollBack], None, 0));
        // The timeout's ROLLBACK likewise.
        let (r, a, _) = advance_shift(&p, &input(&s, 1, 2.0, true, &hooks, 10.0));
        assert_eq!(a, vec![ShiftAction::RollBack]);
        assert_eq!(r.hooks[0].status, HookStatus::TimedOut);
    }

    #[test]
    fn a_continue_timeout_goes_on() {
        let s = ShiftStrategy::BlueGreen.schedule();
        let hooks = [pause(&[HookStage::PostScaleUp], 1, HookAction::Continue)];
        let (p, _, w) = advance_shift(&start(), &input(&s, 0, 1.0, true, &hooks, 0.0));
        assert_eq!((p.stage, w), (ShiftStage::PostScaleUp, Some(1.0)));
        let (p, a, _) = advance_shift(&p, &input(&s, 0, 1.0, true, &hooks, 1.0));
        assert_eq!(a, vec![ShiftAction::TestToGreen, ShiftAction::Production(1000)]);
        assert_eq!(
            (p.stage, p.hooks[0].status),
            (ShiftStage::CleanUp, HookStatus::TimedOut)
        );
    }

    #[test]
    fn linear_pauses_before_every_step() {
        let s = ShiftStrategy::Linear {
            step: 500,
            bake_minutes: 0,
        }
        .schedule();
        let hooks = [pause(&[HookStage::PreProductionTrafficShift], 5, HookAction::Rollback)];
        let mut p = start();
        let mut shares = vec![];
        let mut pauses = 0;
        let mut now = 0.0;
        while p.stage != ShiftStage::CleanUp {
            let (next, a, _) = advance_shift(&p, &input(&s, 0, 1.0, true, &hooks, now));
            p = next;
            for x in a {
                match x {
                    ShiftAction::Production(g) => shares.push(g),
                    ShiftAction::Paused(..) => {
                        pauses += 1;
                        answer(&mut p, HookAction::Continue, now);
                    }
                    _ => {}
                }
            }
            now += 0.5;
        }
        assert_eq!((shares, pauses), (vec![500, 1000], 2));
        assert_eq!(p.hooks.iter().map(|r| r.step).collect::<Vec<_>>(), vec![0, 1]);
    }
}
