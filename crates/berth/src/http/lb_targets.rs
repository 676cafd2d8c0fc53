//! ECS's [`TargetRegistry`] over the region's ELBv2: service tasks are
//! registered through ELBv2's own write path (as RegisterTargets and
//! DeregisterTargets), and their health is what DescribeTargetHealth shows.

use async_trait::async_trait;
use berth_ecs::target_registry::{TargetGroupState, TargetHealth, TargetRef, TargetRegistry, TargetState};
use berth_ecs_model::service::{TargetGroupFacts, TargetType};
use berth_proto::AwsError;

pub(super) struct Elbv2Targets(pub berth_lb::Elbv2);

fn pairs(targets: &[TargetRef]) -> Vec<(String, i32)> {
    targets.iter().map(|t| (t.id.clone(), t.port)).collect()
}

#[async_trait]
impl TargetRegistry for Elbv2Targets {
    async fn target_group(&self, arn: &str) -> Result<Option<TargetGroupState>, AwsError> {
        Ok(self.0.target_group_view(arn).await?.map(|g| TargetGroupState {
            facts: TargetGroupFacts {
                arn: g.arn,
                target_type: TargetType::parse(&g.target_type),
                has_load_balancer: g.in_use,
            },
            deregistration_delay_secs: g.deregistration_delay_secs,
            targets: g
                .targets
                .into_iter()
                .map(|t| TargetHealth {
                    target: TargetRef { id: t.id, port: t.port },
                    state: TargetState::parse(&t.state),
                    description: t.description,
                })
                .collect(),
        }))
    }

    async fn register(&self, tg_arn: &str, targets: &[TargetRef]) -> Result<(), AwsError> {
        self.0.register_targets(tg_arn, &pairs(targets)).await
    }

    async fn deregister(&self, tg_arn: &str, targets: &[TargetRef]) -> Result<(), AwsError> {
        self.0.deregister_targets(tg_arn, &pairs(targets)).await
    }

    async fn rule_weights(&self, rule_arn: &str) -> Result<Option<Option<Vec<(String, u32)>>>, AwsError> {
        Ok(self
            .0
            .rule_forward_weights(rule_arn)
            .await?
            .map(|w| w.map(|w| w.into_iter().map(|(arn, n)| (arn, n.max(0) as u32)).collect())))
    }

    async fn set_rule_weights(&self, rule_arn: &str, weights: &[(String, u32)]) -> Result<(), AwsError> {
        let weights: Vec<(String, i32)> = weights.iter().map(|(a, w)| (a.clone(), *w as i32)).collect();
        self.0.set_rule_forward_weights(rule_arn, &weights).await
    }
}
