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
