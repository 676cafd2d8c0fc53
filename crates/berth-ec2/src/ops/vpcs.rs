//! CreateVpc, DescribeVpcs, DeleteVpc. A new VPC gets its `default`
//! security group; the default VPC is kept (Berth's tasks need it).

use super::{TagSpecification, answer, any, created, decode, page, request_tags, spec_tags};
use crate::errors::Ec2Error;
use crate::output::{self, Items, TRUE};
use crate::records::new_id;
use crate::rules::{self, Filter, check_vpc_id};
use crate::{Ec2, SIGNING_NAME};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

fn vpc_arn(scope: &Scope, id: &str) -> String {
    scope.arn(SIGNING_NAME, format!("vpc/{id}"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVpcInput {
    pub cidr_block: String,
    #[serde(default, rename = "TagSpecification")]
    pub tag_specifications: Vec<TagSpecification>,
    #[serde(skip, default = "new_vpc_id")]
    pub id: String,
}

fn new_vpc_id() -> String {
    new_id("vpc")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateVpcOutput {
    vpc: output::VpcOut,
}

pub struct CreateVpc;

#[async_trait]
impl QueryOperation<Ec2> for CreateVpc {
    const NAME: &'static str = "CreateVpc";
    type Input = CreateVpcInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(
            input,
            &[
                "AmazonProvidedIpv6CidrBlock",
                "Ipv6Pool",
                "Ipv6CidrBlock",
                "Ipv4IpamPoolId",
                "Ipv4NetmaskLength",
                "Ipv6IpamPoolId",
                "InstanceTenancy",
            ],
        )
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        created(
            vpc_arn(scope, &input.id),
            Self::NAME,
            !input.tag_specifications.is_empty(),
        )
    }
    fn request_tags(input: &Self::Input) -> Vec<(String, String)> {
        request_tags(&input.tag_specifications)
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let cidr = rules::block(&input.cidr_block, Ec2Error::InvalidVpcRange)?;
        let tags = spec_tags(&input.tag_specifications, "vpc")?;
        let (id, state) = ec2
            .write(|st| Ok(st.add_vpc(cidr, false, tags.clone(), input.id.clone())))
            .await?;
        let vpc = output::vpc(&state.vpcs[&id], &ec2.scope().account);
        answer(Self::NAME, &CreateVpcOutput { vpc })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeVpcsInput {
    #[serde(default, rename = "VpcId")]
    pub vpc_ids: Vec<String>,
    #[serde(default, rename = "Filter")]
    pub filters: Vec<Filter>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeVpcsOutput {
    vpc_set: Items<output::VpcOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub struct DescribeVpcs;

#[async_trait]
impl QueryOperation<Ec2> for DescribeVpcs {
    const NAME: &'static str = "DescribeVpcs";
    type Input = DescribeVpcsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        any()
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = ec2.state().await?;
        for id in &input.vpc_ids {
            check_vpc_id(id)?;
            if !state.vpcs.contains_key(id) {
                return Err(Ec2Error::VpcNotFound(id.clone()).into());
            }
        }
        let mut out = Vec::new();
        for v in state.vpcs.values() {
            if !input.vpc_ids.is_empty() && !input.vpc_ids.contains(&v.id) {
                continue;
            }
            let keep = rules::matches(&input.filters, &v.tags, |name| match name {
                "vpc-id" => Some(vec![v.id.clone()]),
                "cidr" | "cidr-block-association.cidr-block" | "cidrBlock" => Some(vec![v.cidr.to_string()]),
                "is-default" => Some(vec![v.is_default.to_string()]),
                "state" => Some(vec!["available".into()]),
                "owner-id" => Some(vec![ec2.scope().account.clone()]),
                _ => None,
            })?;
            if keep {
                out.push(output::vpc(v, &ec2.scope().account));
            }
        }
        let (vpcs, next_token) = page(out, input.next_token.as_deref(), input.max_results)?;
        answer(
            Self::NAME,
            &DescribeVpcsOutput {
                vpc_set: Items(vpcs),
                next_token,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteVpcInput {
    pub vpc_id: String,
}

pub struct DeleteVpc;

#[async_trait]
impl QueryOperation<Ec2> for DeleteVpc {
    const NAME: &'static str = "DeleteVpc";
    type Input = DeleteVpcInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(vpc_arn(scope, &input.vpc_id))]
    }
    /// A VPC with subnets or security groups other than its `default` has
    /// dependencies (`DependencyViolation`); its default group goes with it.
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        check_vpc_id(&input.vpc_id)?;
        ec2.write(|st| {
            let vpc = st
                .vpcs
                .get(&input.vpc_id)
                .ok_or_else(|| Ec2Error::VpcNotFound(input.vpc_id.clone()))?;
            if vpc.is_default {
                return Err(Ec2Error::OperationNotPermitted(
                    "Berth keeps the default VPC: its agents' tasks are placed in it".into(),
                )
                .into());
            }
            let default_group = vpc.default_group.clone();
            let used = st.subnets.values().any(|s| s.vpc_id == input.vpc_id)
                || st
                    .groups
                    .values()
                    .any(|g| g.vpc_id == input.vpc_id && g.id != default_group);
            if used {
                return Err(Ec2Error::HasDependencies("vpc", input.vpc_id.clone()).into());
            }
            st.groups.remove(&default_group);
            st.vpcs.remove(&input.vpc_id);
            Ok(())
        })
        .await?;
        answer(Self::NAME, &TRUE)
    }
}
