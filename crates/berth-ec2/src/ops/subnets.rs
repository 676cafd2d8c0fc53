//! CreateSubnet, DescribeSubnets, DeleteSubnet: a subnet's CIDR inside its
//! VPC's and overlapping no other subnet of it.

use super::{TagSpecification, answer, any, created, decode, page, request_tags, spec_tags};
use crate::errors::Ec2Error;
use crate::output::{self, Items, TRUE};
use crate::records::{Subnet, new_id};
use crate::rules::{self, Filter, check_subnet_id, check_vpc_id};
use crate::{Ec2, SIGNING_NAME};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

pub fn subnet_arn(scope: &Scope, id: &str) -> String {
    scope.arn(SIGNING_NAME, format!("subnet/{id}"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSubnetInput {
    pub vpc_id: String,
    pub cidr_block: Option<String>,
    pub availability_zone: Option<String>,
    #[serde(default, rename = "TagSpecification")]
    pub tag_specifications: Vec<TagSpecification>,
    #[serde(skip, default = "new_subnet_id")]
    pub id: String,
}

fn new_subnet_id() -> String {
    new_id("subnet")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateSubnetOutput {
    subnet: output::SubnetOut,
}

pub struct CreateSubnet;

#[async_trait]
impl QueryOperation<Ec2> for CreateSubnet {
    const NAME: &'static str = "CreateSubnet";
    type Input = CreateSubnetInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(
            input,
            &[
                "Ipv6CidrBlock",
                "Ipv6Native",
                "Ipv4IpamPoolId",
                "Ipv4NetmaskLength",
                "Ipv6IpamPoolId",
                "Ipv6NetmaskLength",
                "OutpostArn",
                "AvailabilityZoneId",
            ],
        )
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        let mut out = created(
            subnet_arn(scope, &input.id),
            Self::NAME,
            !input.tag_specifications.is_empty(),
        );
        out.push(AuthzResource::untagged(
            scope.arn(SIGNING_NAME, format!("vpc/{}", input.vpc_id)),
        ));
        out
    }
    fn request_tags(input: &Self::Input) -> Vec<(String, String)> {
        request_tags(&input.tag_specifications)
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        check_vpc_id(&input.vpc_id)?;
        let text = input
            .cidr_block
            .as_deref()
            .ok_or_else(|| Ec2Error::MissingParameter("cidrBlock".into()))?;
        let cidr = rules::block(text, Ec2Error::InvalidSubnetRange)?;
        let tags = spec_tags(&input.tag_specifications, "subnet")?;
        let zone = input.availability_zone.clone().unwrap_or_else(|| ec2.default_zone());
        if !zone.starts_with(&ec2.scope().region) {
            return Err(Ec2Error::InvalidParameterValue(format!(
                "Value ({zone}) for parameter availabilityZone is invalid. Subnets can currently only be created in the region {}.",
                ec2.scope().region
            ))
            .into());
        }
        let (_, state) = ec2
            .write(|st| {
                let vpc = st
                    .vpcs
                    .get(&input.vpc_id)
                    .ok_or_else(|| Ec2Error::VpcNotFound(input.vpc_id.clone()))?;
                if !vpc.cidr.contains(&cidr) {
                    return Err(Ec2Error::InvalidSubnetRange(text.to_string()).into());
                }
                if st
                    .subnets
                    .values()
                    .any(|s| s.vpc_id == input.vpc_id && rules::overlap(&s.cidr, &cidr))
                {
                    return Err(Ec2Error::SubnetConflict(text.to_string()).into());
                }
                st.subnets.insert(
                    input.id.clone(),
                    Subnet {
                        id: input.id.clone(),
                        vpc_id: input.vpc_id.clone(),
                        cidr,
                        availability_zone: zone.clone(),
                        default_for_az: false,
                        tags: tags.clone(),
                    },
                );
                Ok(())
            })
            .await?;
        let scope = ec2.scope();
        let subnet = output::subnet(
            &state.subnets[&input.id],
            subnet_arn(scope, &input.id),
            &scope.account,
            0,
        );
        answer(Self::NAME, &CreateSubnetOutput { subnet })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSubnetsInput {
    #[serde(default, rename = "SubnetId")]
    pub subnet_ids: Vec<String>,
    #[serde(default, rename = "Filter")]
    pub filters: Vec<Filter>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeSubnetsOutput {
    subnet_set: Items<output::SubnetOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub struct DescribeSubnets;

#[async_trait]
impl QueryOperation<Ec2> for DescribeSubnets {
    const NAME: &'static str = "DescribeSubnets";
    type Input = DescribeSubnetsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        any()
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = ec2.state().await?;
        for id in &input.subnet_ids {
            check_subnet_id(id)?;
            if !state.subnets.contains_key(id) {
                return Err(Ec2Error::SubnetNotFound(id.clone()).into());
            }
        }
        let interfaces = ec2.task_interfaces().await?;
        let scope = ec2.scope();
        let mut out = Vec::new();
        for s in state.subnets.values() {
            if !input.subnet_ids.is_empty() && !input.subnet_ids.contains(&s.id) {
                continue;
            }
            let keep = rules::matches(&input.filters, &s.tags, |name| match name {
                "subnet-id" => Some(vec![s.id.clone()]),
                "vpc-id" => Some(vec![s.vpc_id.clone()]),
                "cidr-block" | "cidr" | "cidrBlock" => Some(vec![s.cidr.to_string()]),
                "availability-zone" | "availabilityZone" => Some(vec![s.availability_zone.clone()]),
                "default-for-az" | "defaultForAz" => Some(vec![s.default_for_az.to_string()]),
                "state" => Some(vec!["available".into()]),
                "subnet-arn" => Some(vec![subnet_arn(scope, &s.id)]),
                "owner-id" => Some(vec![scope.account.clone()]),
                _ => None,
            })?;
            if keep {
                let used = interfaces.iter().filter(|i| i.subnet_id == s.id).count() as u64;
                out.push(output::subnet(s, subnet_arn(scope, &s.id), &scope.account, used));
            }
        }
        let (subnets, next_token) = page(out, input.next_token.as_deref(), input.max_results)?;
        answer(
            Self::NAME,
            &DescribeSubnetsOutput {
                subnet_set: Items(subnets),
                next_token,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSubnetInput {
    pub subnet_id: String,
}

pub struct DeleteSubnet;

#[async_trait]
impl QueryOperation<Ec2> for DeleteSubnet {
    const NAME: &'static str = "DeleteSubnet";
    type Input = DeleteSubnetInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(subnet_arn(scope, &input.subnet_id))]
    }
    /// A subnet a running task's interface is in has dependencies.
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        check_subnet_id(&input.subnet_id)?;
        if ec2
            .task_interfaces()
            .await?
            .iter()
            .any(|i| i.subnet_id == input.subnet_id)
        {
            return Err(Ec2Error::HasDependencies("subnet", input.subnet_id.clone()).into());
        }
        ec2.write(|st| {
            let subnet = st
                .subnets
                .get(&input.subnet_id)
                .ok_or_else(|| Ec2Error::SubnetNotFound(input.subnet_id.clone()))?;
            if subnet.default_for_az {
                return Err(
                    Ec2Error::OperationNotPermitted("Berth keeps the default VPC's default subnet".into()).into(),
                );
            }
            st.subnets.remove(&input.subnet_id);
            Ok(())
        })
        .await?;
        answer(Self::NAME, &TRUE)
    }
}
