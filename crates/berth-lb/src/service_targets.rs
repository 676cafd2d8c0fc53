//! ELBv2 as another part of the server registers targets in it (the ECS
//! service controller, through the server's `TargetRegistry`): the same
//! pure operations and transactional write path as RegisterTargets and
//! DeregisterTargets, and the health DescribeTargetHealth answers.

use crate::Elbv2;
use crate::feed::Feed;
use crate::ops::targets::{TargetDescription, deregister, describe_health, register};
use crate::state::now_ms;
use berth_proto::AwsError;

/// A target group as a registering service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupView {
    pub arn: String,
    /// `instance`, `ip`, `lambda` or `alb`.
    pub target_type: String,
    /// Whether a listener or rule forwards to it.
    pub in_use: bool,
    /// `deregistration_delay.timeout_seconds`.
    pub deregistration_delay_secs: i64,
    /// Its registered targets, then the draining ones.
    pub targets: Vec<TargetView>,
}

/// A target and its `TargetHealth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetView {
    pub id: String,
    pub port: i32,
    /// `initial`, `healthy`, `unhealthy`, `unused`, `draining` or `unavailable`.
    pub state: String,
    pub description: Option<String>,
}

fn descriptions(targets: &[(String, i32)]) -> Vec<TargetDescription> {
    targets
        .iter()
        .map(|(id, port)| TargetDescription {
            id: id.clone(),
            port: Some(*port),
            availability_zone: None,
        })
        .collect()
}

impl Elbv2 {
    /// A target group of this region with its targets' health, or None.
    pub async fn target_group_view(&self, arn: &str) -> Result<Option<TargetGroupView>, AwsError> {
        let state = self.snapshot().await?;
        let Some(tg) = state.tgs.get(arn) else {
            return Ok(None);
        };
        let (feed, observed) = match self.data_plane() {
            Some(d) => (*d.feed(), d.target_health(&tg.arn).unwrap_or_default()),
            None => (Feed::default(), Vec::new()),
        };
        let targets = describe_health(tg, &[], &feed, &observed)
            .into_iter()
            .map(|d| TargetView {
                id: d.target.id,
                port: d.target.port,
                state: d.target_health.state,
                description: d.target_health.description,
            })
            .collect();
        Ok(Some(TargetGroupView {
            arn: tg.arn.clone(),
            target_type: tg.target_type.clone(),
            in_use: !state.lbs_of_tg(arn).is_empty(),
            deregistration_delay_secs: crate::attributes::tg_number(
                &tg.protocol,
                &tg.attributes,
                "deregistration_delay.timeout_seconds",
            ),
            targets,
        }))
    }

    /// Registers `(id, port)` targets in a group, as RegisterTargets does.
    pub async fn register_targets(&self, arn: &str, targets: &[(String, i32)]) -> Result<(), AwsError> {
        let targets = descriptions(targets);
        self.write(|st| register(st, arn, &targets, now_ms())).await
    }

    /// Deregisters `(id, port)` targets of a group, as DeregisterTargets
    /// does: they drain for the group's deregistration delay.
    pub async fn deregister_targets(&self, arn: &str, targets: &[(String, i32)]) -> Result<(), AwsError> {
        let targets = descriptions(targets);
        self.write(|st| deregister(st, arn, &targets, now_ms())).await
    }
}

/// A rule's single forward action as (target group ARN, weight) pairs
/// (pure): None when it has no forward action or more than one action.
pub fn forward_weights(actions: &[crate::records::Action]) -> Option<Vec<(String, i32)>> {
    let [a] = actions else {
        return None;
    };
    if a.kind != "forward" {
        return None;
    }
    match &a.forward_config {
        Some(f) if !f.target_groups.is_empty() => Some(
            f.target_groups
                .iter()
                .filter_map(|t| Some((t.target_group_arn.clone()?, t.weight.unwrap_or(1))))
                .collect(),
        ),
        _ => a.target_group_arn.clone().map(|arn| vec![(arn, 1)]),
    }
}

/// The forward action `weights` make of `action` (pure): its target groups
/// with their new weights, its stickiness kept.
pub fn with_weights(action: &crate::records::Action, weights: &[(String, i32)]) -> crate::records::Action {
    let stickiness = action
        .forward_config
        .as_ref()
        .and_then(|f| f.target_group_stickiness_config.clone());
    crate::records::Action {
        kind: "forward".into(),
        target_group_arn: None,
        order: action.order,
        redirect_config: None,
        fixed_response_config: None,
        forward_config: Some(crate::records::ForwardConfig {
            target_groups: weights
                .iter()
                .map(|(arn, w)| crate::records::TargetGroupTuple {
                    target_group_arn: Some(arn.clone()),
                    weight: Some(*w),
                })
                .collect(),
            target_group_stickiness_config: stickiness,
        }),
    }
}

impl Elbv2 {
    /// A listener rule's (or a listener's default rule's) forward weights:
    /// Some(None) when it does not forward with a single action, None when
    /// there is no such rule.
    pub async fn rule_forward_weights(&self, rule_arn: &str) -> Result<Option<Option<Vec<(String, i32)>>>, AwsError> {
        let state = self.snapshot().await?;
        Ok(match crate::ops::rules::find(&state, rule_arn) {
            Ok(crate::ops::rules::Described::Rule(r)) => Some(forward_weights(&r.actions)),
            Ok(crate::ops::rules::Described::Default(_, l)) => Some(forward_weights(&l.default_actions)),
            Err(_) => None,
        })
    }

    /// Sets a rule's forward weights, as ModifyRule with a weighted forward
    /// action does (the same checks and transactional write).
    pub async fn set_rule_forward_weights(&self, rule_arn: &str, weights: &[(String, i32)]) -> Result<(), AwsError> {
        self.write(|st| {
            let current = match crate::ops::rules::find(st, rule_arn)? {
                crate::ops::rules::Described::Rule(r) => r.actions,
                crate::ops::rules::Described::Default(_, l) => l.default_actions,
            };
            let Some(first) = current.first() else {
                return Err(crate::errors::LbError::RuleNotFound);
            };
            let input = crate::ops::rules::ModifyRuleInput {
                rule_arn: rule_arn.to_string(),
                conditions: vec![],
                actions: vec![with_weights(first, weights)],
            };
            crate::ops::rules::modify(st, &input).map(|_| ())
        })
        .await
    }
}
