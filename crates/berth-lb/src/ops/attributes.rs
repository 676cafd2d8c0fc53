//! Describe/ModifyLoadBalancerAttributes, Describe/ModifyTargetGroupAttributes,
//! Describe/ModifyListenerAttributes:
//! every attribute with its value (the default when unset), changed all at
//! once or not at all.

use super::answer;
use super::listeners::ListenerArnInput;
use super::load_balancers::LoadBalancerArnInput;
use super::target_groups::TargetGroupArnInput;
use crate::Elbv2;
use crate::attributes::{
    lb_attributes, listener_attributes, set_lb_attributes, set_listener_attributes, set_tg_attributes, tg_attributes,
};
use crate::errors::LbError;
use crate::output::{self, AttributeOut};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{Members, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attribute {
    pub key: Option<String>,
    pub value: Option<String>,
}

fn pairs(given: &[Attribute]) -> Result<Vec<(String, String)>, LbError> {
    given
        .iter()
        .map(|a| match (&a.key, &a.value) {
            (Some(k), Some(v)) => Ok((k.clone(), v.clone())),
            (Some(k), None) => Err(crate::errors::invalid(format!(
                "A value must be specified for attribute '{k}'"
            ))),
            (None, _) => Err(crate::errors::invalid("An attribute key must be specified")),
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributesOutput {
    pub attributes: Members<AttributeOut>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyLoadBalancerAttributesInput {
    pub load_balancer_arn: String,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyTargetGroupAttributesInput {
    pub target_group_arn: String,
    pub attributes: Vec<Attribute>,
}

pub struct DescribeLoadBalancerAttributes;

#[async_trait]
impl QueryOperation<Elbv2> for DescribeLoadBalancerAttributes {
    const NAME: &'static str = "DescribeLoadBalancerAttributes";
    type Input = LoadBalancerArnInput;
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = svc.snapshot().await?;
        let lb = state.lb(&input.load_balancer_arn)?;
        answer(
            Self::NAME,
            &AttributesOutput {
                attributes: output::attributes(lb_attributes(lb.kind, &lb.attributes)),
            },
        )
    }
}

pub struct ModifyLoadBalancerAttributes;

#[async_trait]
impl QueryOperation<Elbv2> for ModifyLoadBalancerAttributes {
    const NAME: &'static str = "ModifyLoadBalancerAttributes";
    type Input = ModifyLoadBalancerAttributesInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.load_balancer_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let given = pairs(&input.attributes)?;
        let all = svc
            .write(|st| {
                let lb = st
                    .lbs
                    .get_mut(&input.load_balancer_arn)
                    .ok_or(LbError::LoadBalancerNotFound)?;
                set_lb_attributes(lb.kind, &mut lb.attributes, &given)?;
                Ok(lb_attributes(lb.kind, &lb.attributes))
            })
            .await?;
        answer(
            Self::NAME,
            &AttributesOutput {
                attributes: output::attributes(all),
            },
        )
    }
}

pub struct DescribeTargetGroupAttributes;

#[async_trait]
impl QueryOperation<Elbv2> for DescribeTargetGroupAttributes {
    const NAME: &'static str = "DescribeTargetGroupAttributes";
    type Input = TargetGroupArnInput;
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = svc.snapshot().await?;
        let tg = state.tg(&input.target_group_arn)?;
        answer(
            Self::NAME,
            &AttributesOutput {
                attributes: output::attributes(tg_attributes(&tg.protocol, &tg.attributes)),
            },
        )
    }
}

pub struct ModifyTargetGroupAttributes;

#[async_trait]
impl QueryOperation<Elbv2> for ModifyTargetGroupAttributes {
    const NAME: &'static str = "ModifyTargetGroupAttributes";
    type Input = ModifyTargetGroupAttributesInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.target_group_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let given = pairs(&input.attributes)?;
        let all = svc
            .write(|st| {
                let tg = st
                    .tgs
                    .get_mut(&input.target_group_arn)
                    .ok_or(LbError::TargetGroupNotFound)?;
                set_tg_attributes(&tg.protocol, &mut tg.attributes, &given)?;
                Ok(tg_attributes(&tg.protocol, &tg.attributes))
            })
            .await?;
        answer(
            Self::NAME,
            &AttributesOutput {
                attributes: output::attributes(all),
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyListenerAttributesInput {
    pub listener_arn: String,
    pub attributes: Vec<Attribute>,
}

pub struct DescribeListenerAttributes;

#[async_trait]
impl QueryOperation<Elbv2> for DescribeListenerAttributes {
    const NAME: &'static str = "DescribeListenerAttributes";
    type Input = ListenerArnInput;
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = svc.snapshot().await?;
        let l = state.listener(&input.listener_arn)?;
        answer(
            Self::NAME,
            &AttributesOutput {
                attributes: output::attributes(listener_attributes(&l.protocol, &l.attributes)),
            },
        )
    }
}

pub struct ModifyListenerAttributes;

#[async_trait]
impl QueryOperation<Elbv2> for ModifyListenerAttributes {
    const NAME: &'static str = "ModifyListenerAttributes";
    type Input = ModifyListenerAttributesInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.listener_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let given = pairs(&input.attributes)?;
        let all = svc
            .write(|st| {
                let l = st
                    .listeners
                    .get_mut(&input.listener_arn)
                    .ok_or(LbError::ListenerNotFound)?;
                set_listener_attributes(&l.protocol, &mut l.attributes, &given)?;
                Ok(listener_attributes(&l.protocol, &l.attributes))
            })
            .await?;
        answer(
            Self::NAME,
            &AttributesOutput {
                attributes: output::attributes(all),
            },
        )
    }
}
