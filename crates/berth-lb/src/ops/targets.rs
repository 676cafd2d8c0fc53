//! RegisterTargets and DeregisterTargets. A target is an instance id
//! (`instance` groups) or an IP address (`ip` groups) with a port (the
//! group's by default); registering one already registered changes
//! nothing, deregistering one that is not registered too. A deregistered target of a group in use drains for the group's
//! `deregistration_delay.timeout_seconds` ([`crate::records::Draining`]).
//! DescribeTargetHealth answers from the data plane's health checks
//! ([`crate::controller::DataPlane::target_health`]): ELBv2's states,
//! reason codes and descriptions.

use super::now_ms;
use crate::Elbv2;
use crate::errors::{LbError, invalid};
use crate::feed::Feed;
use crate::records::{Draining, Target, TargetGroup};
use crate::state::State;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_lb_proxy::TargetHealthDescription;
use berth_proto::query::{Members, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTargetHealthInput {
    pub target_group_arn: String,
    #[serde(default)]
    pub targets: Vec<TargetDescription>,
    // `Include` (`AnomalyDetection`, `All`) adds nothing: AWS reports
    // anomaly detection only for the weighted random algorithm, which
    // Berth does not serve.
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetOut {
    pub id: String,
    pub port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetHealthOut {
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl TargetHealthOut {
    fn of(state: &str, reason: &str, description: &str) -> TargetHealthOut {
        TargetHealthOut {
            state: state.into(),
            reason: Some(reason.into()),
            description: Some(description.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetHealthDescriptionOut {
    pub target: TargetOut,
    pub health_check_port: String,
    pub target_health: TargetHealthOut,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeTargetHealthOutput {
    target_health_descriptions: Members<TargetHealthDescriptionOut>,
}

/// The health of a group's targets (registered, then draining; or those
/// asked for, a target not registered `unused` with
/// `Target.NotRegistered`), from what the data plane observed: a target it
/// has not taken yet is `initial` (`Elb.RegistrationInProgress`), a draining
/// entry it no longer holds `draining`.
pub fn describe_health(
    tg: &TargetGroup,
    asked: &[TargetDescription],
    feed: &Feed,
    observed: &[TargetHealthDescription],
) -> Vec<TargetHealthDescriptionOut> {
    let check_port = |port: i32| match tg.health_check.port.parse::<i32>() {
        Ok(p) => p,
        Err(_) => port,
    };
    let seen = |id: &str, port: i32| {
        let host = feed.target_host(&tg.target_type, id);
        observed
            .iter()
            .find(|o| o.target.id == host && i32::from(o.target.port) == port)
    };
    let answer = |id: &str, port: i32, az: Option<String>, fallback: TargetHealthOut| {
        let (health_check_port, health) = match seen(id, port) {
            Some(o) => (
                i32::from(o.health_check_port),
                TargetHealthOut {
                    state: o.health.state.as_str().into(),
                    reason: o.health.reason.map(|r| r.code().into()),
                    description: o.health.description.clone(),
                },
            ),
            None => (check_port(port), fallback),
        };
        TargetHealthDescriptionOut {
            target: TargetOut {
                id: id.into(),
                port,
                availability_zone: az,
            },
            health_check_port: health_check_port.to_string(),
            target_health: health,
        }
    };
    let registering = || {
        TargetHealthOut::of(
            "initial",
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
        )
    };
    let draining = || {
        TargetHealthOut::of(
            "draining",
            "Target.DeregistrationInProgress",
            "Target deregistration is in progress",
        )
    };
    let mut all: Vec<TargetHealthDescriptionOut> = tg
        .targets
        .iter()
        .map(|t| answer(&t.id, t.port, t.availability_zone.clone(), registering()))
        .chain(tg.draining.iter().map(|d| answer(&d.id, d.port, None, draining())))
        .collect();
    if asked.is_empty() {
        return all;
    }
    let mut out = Vec::new();
    for a in asked {
        let before = out.len();
        all.retain(|d: &TargetHealthDescriptionOut| {
            let hit = d.target.id == a.id && a.port.is_none_or(|p| p == d.target.port);
            if hit {
                out.push(d.clone());
            }
            !hit
        });
        if out.len() == before {
            let port = a.port.unwrap_or(tg.port);
            out.push(TargetHealthDescriptionOut {
                target: TargetOut {
                    id: a.id.clone(),
                    port,
                    availability_zone: a.availability_zone.clone(),
                },
                health_check_port: check_port(port).to_string(),
                target_health: TargetHealthOut::of(
                    "unused",
                    "Target.NotRegistered",
                    "Target is not registered to the target group",
                ),
            });
        }
    }
    out
}

pub struct DescribeTargetHealth;

#[async_trait]
impl QueryOperation<Elbv2> for DescribeTargetHealth {
    const NAME: &'static str = "DescribeTargetHealth";
    type Input = DescribeTargetHealthInput;
    /// `*`, as every ELBv2 Describe* (no resource-level permissions).
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = svc.snapshot().await?;
        let tg = state.tg(&input.target_group_arn)?;
        let (feed, observed) = match svc.data_plane() {
            Some(d) => (*d.feed(), d.target_health(&tg.arn).unwrap_or_default()),
            None => (Feed::default(), Vec::new()),
        };
        let found = describe_health(tg, &input.targets, &feed, &observed);
        super::answer(
            Self::NAME,
            &DescribeTargetHealthOutput {
                target_health_descriptions: Members(found),
            },
        )
    }
}
