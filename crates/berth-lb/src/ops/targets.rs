//! RegisterTargets and DeregisterTargets. A target is an instance id
//! (`instance` groups) or an IP address (`ip` groups) with a port (the
//! group's by default); registering one already registered changes
//! nothing, deregistering one that is not registered too. A deregistered target of a group in use drains for the group's
//! `deregistration_delay.timeout_seconds` ([`crate::records::Draining`]).
//! DescribeTargetHealth answers once the data plane's health checks are
//! wired (next slice): it is not routed yet.

use super::now_ms;
use crate::Elbv2;
use crate::errors::{LbError, invalid};
use crate::records::{Draining, Target, TargetGroup};
use crate::state::State;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::Deserialize;
use std::net::IpAddr;

/// The most targets a group holds.
pub const MAX_TARGETS: usize = 1000;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetDescription {
    pub id: String,
    pub port: Option<i32>,
    pub availability_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetsInput {
    pub target_group_arn: String,
    pub targets: Vec<TargetDescription>,
}

fn check_target(tg: &TargetGroup, t: &TargetDescription) -> Result<(), LbError> {
    if t.id.is_empty() {
        return Err(invalid("A target id must be specified"));
    }
    if tg.target_type == "ip" && t.id.parse::<IpAddr>().is_err() {
        return Err(LbError::InvalidTarget(format!(
            "The IP address '{}' is not a valid IPv4 or IPv6 address",
            t.id
        )));
    }
    Ok(())
}

/// Registers targets (each checked first: all or none).
pub fn register(state: &mut State, arn: &str, targets: &[TargetDescription], now_ms: i64) -> Result<(), LbError> {
    let tg = state.tgs.get_mut(arn).ok_or(LbError::TargetGroupNotFound)?;
    for t in targets {
        check_target(tg, t)?;
    }
    prune(tg, now_ms);
    for t in targets {
        let port = t.port.unwrap_or(tg.port);
        tg.draining.retain(|d| !(d.id == t.id && d.port == port));
        if tg.targets.iter().any(|x| x.id == t.id && x.port == port) {
            continue;
        }
        tg.targets.push(Target {
            id: t.id.clone(),
            port,
            availability_zone: t.availability_zone.clone(),
            registered_at_ms: now_ms,
        });
    }
    if tg.targets.len() > MAX_TARGETS {
        return Err(LbError::TooManyTargets);
    }
    Ok(())
}

/// Deregisters targets (one that is not registered is already
/// deregistered: "If the specified target does not exist, the action
/// returns successfully"). A group in use keeps them draining until the
/// deregistration delay has passed.
pub fn deregister(state: &mut State, arn: &str, targets: &[TargetDescription], now_ms: i64) -> Result<(), LbError> {
    let in_use = !state.lbs_of_tg(arn).is_empty();
    let tg = state.tgs.get_mut(arn).ok_or(LbError::TargetGroupNotFound)?;
    for t in targets {
        check_target(tg, t)?;
    }
    let delay = crate::attributes::tg_number(&tg.protocol, &tg.attributes, "deregistration_delay.timeout_seconds");
    prune(tg, now_ms);
    for t in targets {
        let port = t.port.unwrap_or(tg.port);
        let registered = tg.targets.iter().any(|x| x.id == t.id && x.port == port);
        tg.targets.retain(|x| !(x.id == t.id && x.port == port));
        if registered && in_use && delay > 0 {
            tg.draining.push(Draining {
                id: t.id.clone(),
                port,
                until_ms: now_ms + delay * 1000,
            });
        }
    }
    Ok(())
}

/// Drops the draining entries whose delay has passed.
fn prune(tg: &mut TargetGroup, now_ms: i64) {
    tg.draining.retain(|d| d.until_ms > now_ms);
}

pub struct RegisterTargets;

#[async_trait]
impl QueryOperation<Elbv2> for RegisterTargets {
    const NAME: &'static str = "RegisterTargets";
    type Input = TargetsInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.target_group_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        svc.write(|st| register(st, &input.target_group_arn, &input.targets, now_ms()))
            .await?;
        Ok(QueryResult::no_members())
    }
}

pub struct DeregisterTargets;

#[async_trait]
impl QueryOperation<Elbv2> for DeregisterTargets {
    const NAME: &'static str = "DeregisterTargets";
    type Input = TargetsInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.target_group_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        svc.write(|st| deregister(st, &input.target_group_arn, &input.targets, now_ms()))
            .await?;
        Ok(QueryResult::no_members())
    }
}
