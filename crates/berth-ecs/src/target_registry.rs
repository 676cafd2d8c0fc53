//! The load balancers a service's tasks are registered with, as the ECS
//! controllers see them: a [`TargetRegistry`] reads target groups and their
//! targets' health and registers or deregisters targets. The server
//! implements it over its ELBv2 (through ELBv2's own transactional write
//! path, so DescribeTargetHealth shows what ECS registered); without one
//! (ELBv2 not enabled) services with `loadBalancers` are refused.

use async_trait::async_trait;
use berth_ecs_model::service::TargetGroupFacts;
use berth_proto::AwsError;

/// A target: an `instance` group's instance id (the container instance's
/// `ec2InstanceId`) or an `ip` group's address, and its port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetRef {
    pub id: String,
    pub port: i32,
}

/// A target's `TargetHealth.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Initial,
    Healthy,
    Unhealthy,
    Unused,
    Draining,
    Unavailable,
}

impl TargetState {
    pub fn parse(s: &str) -> TargetState {
        match s {
            "initial" => TargetState::Initial,
            "healthy" => TargetState::Healthy,
            "unhealthy" => TargetState::Unhealthy,
            "unused" => TargetState::Unused,
            "draining" => TargetState::Draining,
            _ => TargetState::Unavailable,
        }
    }

    /// Whether the target is registered (not draining nor unknown).
    pub fn registered(self) -> bool {
        matches!(
            self,
            TargetState::Initial | TargetState::Healthy | TargetState::Unhealthy | TargetState::Unavailable
        )
    }
}

/// A target of a group with its health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub target: TargetRef,
    pub state: TargetState,
    /// The reason's description (`Health checks failed with these codes: [500]`).
    pub description: Option<String>,
}

/// A target group as the service controller drains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupState {
    pub facts: TargetGroupFacts,
    /// `deregistration_delay.timeout_seconds`.
    pub deregistration_delay_secs: i64,
    /// Its registered and draining targets.
    pub targets: Vec<TargetHealth>,
}

/// The load balancers of a region, as ECS registers tasks with them.
#[async_trait]
pub trait TargetRegistry: Send + Sync {
    /// A target group of this region and account with its targets, or None.
    async fn target_group(&self, arn: &str) -> Result<Option<TargetGroupState>, AwsError>;
    /// Registers targets (those registered already are left as they are).
    async fn register(&self, tg_arn: &str, targets: &[TargetRef]) -> Result<(), AwsError>;
    /// Deregisters targets: they drain for the group's deregistration delay.
    async fn deregister(&self, tg_arn: &str, targets: &[TargetRef]) -> Result<(), AwsError>;
    /// A listener rule's forward weights, (target group ARN, weight):
    /// None when there is no such rule, Some(None) when it does not forward
    /// with a single action.
    async fn rule_weights(&self, rule_arn: &str) -> Result<Option<Option<Vec<(String, u32)>>>, AwsError>;
    /// Sets a listener rule's forward weights (blue/green traffic shifts).
    async fn set_rule_weights(&self, rule_arn: &str, weights: &[(String, u32)]) -> Result<(), AwsError>;
}
