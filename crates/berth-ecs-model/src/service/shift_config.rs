//! Traffic-shifting deployments (BLUE_GREEN, LINEAR, CANARY) as a service
//! configures them (pure): a load balancer's `advancedConfiguration` (the
//! alternate target group and the listener rules ECS shifts), and the
//! checks tying the deployment strategy to it.

use super::ServiceLoadBalancer;
use super::records::DeploymentConfig;
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

/// Where a traffic-shifting deployment is (`lifecycleStage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShiftStage {
    ScaleUp,
    ProductionTrafficShift,
    BakeTime,
    CleanUp,
}

impl ShiftStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScaleUp => "SCALE_UP",
            Self::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
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
}

/// What the controller does to the listener rules this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftAction {
    /// The test rule forwards to green.
    TestToGreen,
    /// The production rule gives green this share (tenths of a percent).
    Production(u32),
}

/// One step of a traffic-shifting deployment (pure): from `p`, with
/// `green_ready` (its tasks healthy at the desired count), the schedule,
/// the bake time after the last shift and how long a minute lasts here.
/// Answers the progress, the rule changes to make (in order) and when to
/// look again.
pub fn advance_shift(
    p: &ShiftProgress,
    schedule: &[crate::traffic_shift::ShiftStep],
    bake_minutes: u32,
    minute_secs: f64,
    green_ready: bool,
    now: f64,
) -> (ShiftProgress, Vec<ShiftAction>, Option<f64>) {
    let mut p = p.clone();
    let mut actions = vec![];
    let wait = |m: u32| now + f64::from(m) * minute_secs;
    loop {
        match p.stage {
            ShiftStage::ScaleUp if green_ready => {
                actions.push(ShiftAction::TestToGreen);
                p.stage = ShiftStage::ProductionTrafficShift;
                p.step = 0;
                p.until = None;
            }
            ShiftStage::ScaleUp => return (p, actions, None),
            ShiftStage::ProductionTrafficShift => {
                let Some(step) = schedule.get(p.step) else {
                    p.stage = ShiftStage::BakeTime;
                    p.until = Some(wait(bake_minutes));
                    continue;
                };
                if p.green_share != step.green {
                    actions.push(ShiftAction::Production(step.green));
                    p.green_share = step.green;
                    p.until = Some(wait(step.bake_minutes));
                }
                match p.until {
                    Some(u) if u > now && p.step + 1 < schedule.len() => return (p, actions, Some(u)),
                    _ => {
                        p.step += 1;
                        p.until = None;
                    }
                }
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
    use crate::traffic_shift::ShiftStrategy;

    fn start() -> ShiftProgress {
        ShiftProgress {
            green_target_group: "g".into(),
            blue_target_group: "b".into(),
            stage: ShiftStage::ScaleUp,
            step: 0,
            until: None,
            green_share: 0,
            initial: false,
        }
    }

    #[test]
    fn blue_green_shifts_at_once_then_bakes() {
        let s = ShiftStrategy::BlueGreen.schedule();
        let (p, a, w) = advance_shift(&start(), &s, 2, 1.0, false, 0.0);
        assert_eq!((p.stage, a.len(), w), (ShiftStage::ScaleUp, 0, None));
        let (p, a, w) = advance_shift(&p, &s, 2, 1.0, true, 10.0);
        assert_eq!(a, vec![ShiftAction::TestToGreen, ShiftAction::Production(1000)]);
        assert_eq!((p.stage, w), (ShiftStage::BakeTime, Some(12.0)));
        let (p, a, _) = advance_shift(&p, &s, 2, 1.0, true, 11.0);
        assert_eq!((p.stage, a.len()), (ShiftStage::BakeTime, 0));
        let (p, _, w) = advance_shift(&p, &s, 2, 1.0, true, 12.0);
        assert_eq!((p.stage, w), (ShiftStage::CleanUp, None));
    }

    #[test]
    fn canary_waits_its_bake_between_steps() {
        let s = ShiftStrategy::Canary {
            percent: 100,
            bake_minutes: 3,
        }
        .schedule();
        let (p, a, w) = advance_shift(&start(), &s, 0, 2.0, true, 0.0);
        assert_eq!(a, vec![ShiftAction::TestToGreen, ShiftAction::Production(100)]);
        assert_eq!(
            (p.stage, p.green_share, w),
            (ShiftStage::ProductionTrafficShift, 100, Some(6.0))
        );
        let (p, a, _) = advance_shift(&p, &s, 0, 2.0, true, 5.0);
        assert!(a.is_empty() && p.green_share == 100);
        let (p, a, w) = advance_shift(&p, &s, 0, 2.0, true, 6.0);
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
            let (next, a, _) = advance_shift(&p, &s, 1, 1.0, true, now);
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
}
