//! CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer.
//!
//! A load balancer's DNS name is `NAME-ID.REGION.elb.localhost`
//! (`internal-NAME-…` for an internal one): `*.localhost` resolves to the
//! loopback address, where Berth binds listeners by default.

use super::{answer, created, decode_supported, new_id, now_iso, page};
use crate::Elbv2;
use crate::errors::{LbError, invalid};
use crate::names::{check_lb_name, merge_tags, pairs};
use crate::output::{self, LoadBalancerOut};
use crate::records::{LbType, LoadBalancer, Tag};
use crate::state::State;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{Members, QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateLoadBalancerInput {
    pub name: String,
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    pub scheme: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub ip_address_type: Option<String>,
    /// The id the new load balancer gets (drawn once, so the ARN
    /// authorized is the ARN created).
    #[serde(skip, default = "new_id")]
    pub id: String,
}

impl CreateLoadBalancerInput {
    fn kind(&self) -> Result<LbType, LbError> {
        match self.kind.as_deref() {
            None | Some("application") => Ok(LbType::Application),
            Some("network") => Ok(LbType::Network),
            Some(other) => Err(invalid(format!(
                "Load balancer type '{other}' is not supported by Berth: use 'application' or 'network'"
            ))),
        }
    }

    fn arn(&self, scope: &Scope) -> String {
        let segment = match self.kind.as_deref() {
            Some("network") => "net",
            Some("gateway") => "gwy",
            _ => "app",
        };
        scope.arn(
            "elasticloadbalancing",
            format!("loadbalancer/{segment}/{}/{}", self.name, self.id),
        )
    }
}

/// Creates a load balancer, or answers the one of that name when its
/// settings are the same (CreateLoadBalancer is idempotent).
pub fn create(state: &mut State, scope: &Scope, input: &CreateLoadBalancerInput) -> Result<LoadBalancer, LbError> {
    check_lb_name(&input.name)?;
    let kind = input.kind()?;
    let scheme = input.scheme.clone().unwrap_or_else(|| "internet-facing".into());
    let ip_address_type = input.ip_address_type.clone().unwrap_or_else(|| "ipv4".into());
    if let Some(existing) = state.lbs.values().find(|lb| lb.name == input.name) {
        if existing.kind == kind && existing.scheme == scheme && existing.ip_address_type == ip_address_type {
            return Ok(existing.clone());
        }
        return Err(LbError::DuplicateLoadBalancerName(input.name.clone()));
    }
    let tags = merge_tags(&[], &input.tags)?;
    let internal = if scheme == "internal" { "internal-" } else { "" };
    let lb = LoadBalancer {
        arn: input.arn(scope),
        id: input.id.clone(),
        name: input.name.clone(),
        kind,
        dns_name: format!("{internal}{}-{}.{}.elb.localhost", input.name, input.id, scope.region),
        scheme,
        ip_address_type,
        created_time: now_iso(),
        security_groups: input.security_groups.clone(),
        subnets: input.subnets.clone(),
        attributes: Default::default(),
        tags,
    };
    state.lbs.insert(lb.arn.clone(), lb.clone());
    Ok(lb)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancersOutput {
    pub load_balancers: Members<LoadBalancerOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

pub struct CreateLoadBalancer;

#[async_trait]
impl QueryOperation<Elbv2> for CreateLoadBalancer {
    const NAME: &'static str = "CreateLoadBalancer";
    type Input = CreateLoadBalancerInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_supported(
            input,
            &["CustomerOwnedIpv4Pool", "IpamPools", "EnablePrefixForIpv6SourceNat"],
        )
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        created(input.arn(scope), Self::NAME, &input.tags)
    }
    fn request_tags(input: &Self::Input) -> Vec<(String, String)> {
        pairs(&input.tags)
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let lb = svc.write(|st| create(st, svc.scope(), &input)).await?;
        let lb_state = svc.lb_state(&svc.snapshot().await?, &lb.arn);
        answer(
            Self::NAME,
            &LoadBalancersOutput {
                load_balancers: Members(vec![output::load_balancer(&lb, &lb_state)]),
                next_marker: None,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeLoadBalancersInput {
    #[serde(default)]
    pub load_balancer_arns: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    pub marker: Option<String>,
    pub page_size: Option<i32>,
}

/// The load balancers asked for (all, by ARN or by name), in creation order.
pub fn describe(
    state: &State,
    input: &DescribeLoadBalancersInput,
) -> Result<(Vec<LoadBalancer>, Option<String>), LbError> {
    if !input.load_balancer_arns.is_empty() && !input.names.is_empty() {
        return Err(invalid(
            "Load balancer names and load balancer ARNs cannot be specified at the same time",
        ));
    }
    let mut all: Vec<&LoadBalancer> = state.lbs.values().collect();
    all.sort_by(|a, b| (&a.created_time, &a.arn).cmp(&(&b.created_time, &b.arn)));
    let chosen: Vec<&LoadBalancer> = if !input.load_balancer_arns.is_empty() {
        if input.load_balancer_arns.iter().any(|a| !state.lbs.contains_key(a)) {
            return Err(LbError::LoadBalancerNotFound);
        }
        all.into_iter()
            .filter(|lb| input.load_balancer_arns.contains(&lb.arn))
            .collect()
    } else if !input.names.is_empty() {
        let missing: Vec<&String> = input
            .names
            .iter()
            .filter(|n| !state.lbs.values().any(|lb| &lb.name == *n))
            .collect();
        if !missing.is_empty() {
            return Err(LbError::LoadBalancersNotFound(format!("[{}]", join(&missing))));
        }
        all.into_iter().filter(|lb| input.names.contains(&lb.name)).collect()
    } else {
        all
    };
    let keyed = chosen.into_iter().map(|lb| (lb.arn.clone(), lb.clone())).collect();
    page(keyed, input.marker.as_deref(), input.page_size)
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

pub struct DescribeLoadBalancers;

#[async_trait]
impl QueryOperation<Elbv2> for DescribeLoadBalancers {
    const NAME: &'static str = "DescribeLoadBalancers";
    type Input = DescribeLoadBalancersInput;
    /// Describe actions are not scoped to resources.
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = svc.snapshot().await?;
        let (lbs, next_marker) = describe(&state, &input)?;
        answer(
            Self::NAME,
            &LoadBalancersOutput {
                load_balancers: Members(
                    lbs.iter()
                        .map(|lb| output::load_balancer(lb, &svc.lb_state(&state, &lb.arn)))
                        .collect(),
                ),
                next_marker,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancerArnInput {
    pub load_balancer_arn: String,
}

/// Deletes a load balancer with its listeners and their rules, unless
/// deletion protection is on; one that does not exist is already deleted
/// (DeleteLoadBalancer succeeds).
pub fn delete(state: &mut State, arn: &str) -> Result<(), LbError> {
    let Some(lb) = state.lbs.get(arn) else {
        return Ok(());
    };
    if lb.attributes.get("deletion_protection.enabled").map(String::as_str) == Some("true") {
        return Err(LbError::OperationNotPermitted(format!(
            "Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
        )));
    }
    let listeners: Vec<String> = state.listeners_of(arn).iter().map(|l| l.arn.clone()).collect();
    state.rules.retain(|_, r| !listeners.contains(&r.listener_arn));
    state.listeners.retain(|_, l| l.load_balancer_arn != arn);
    state.lbs.remove(arn);
    Ok(())
}

pub struct DeleteLoadBalancer;

#[async_trait]
impl QueryOperation<Elbv2> for DeleteLoadBalancer {
    const NAME: &'static str = "DeleteLoadBalancer";
    type Input = LoadBalancerArnInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.load_balancer_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        svc.write(|st| delete(st, &input.load_balancer_arn)).await?;
        Ok(QueryResult::no_members())
    }
}
