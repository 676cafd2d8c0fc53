//! DescribeNetworkInterfaces: the interfaces of the region's awsvpc tasks,
//! read from ECS's task records ([`crate::TaskInterfaces`]), with their
//! subnets' VPCs and their groups' names from EC2's records.

use super::{answer, any, decode, page};
use crate::Ec2;
use crate::output::{Items, tag_set};
use crate::records::Tags;
use crate::rules::{self, Filter};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkInterfacesInput {
    #[serde(default, rename = "NetworkInterfaceId")]
    pub ids: Vec<String>,
    #[serde(default, rename = "Filter")]
    pub filters: Vec<Filter>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupOut {
    group_id: String,
    group_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrivateIp {
    private_ip_address: String,
    private_dns_name: String,
    primary: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InterfaceOut {
    network_interface_id: String,
    subnet_id: String,
    vpc_id: String,
    availability_zone: String,
    description: String,
    owner_id: String,
    requester_id: &'static str,
    requester_managed: bool,
    status: &'static str,
    mac_address: String,
    private_ip_address: String,
    private_dns_name: String,
    source_dest_check: bool,
    interface_type: &'static str,
    group_set: Items<GroupOut>,
    private_ip_addresses_set: Items<PrivateIp>,
    tag_set: Items<crate::output::TagOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeNetworkInterfacesOutput {
    network_interface_set: Items<InterfaceOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub struct DescribeNetworkInterfaces;

#[async_trait]
impl QueryOperation<Ec2> for DescribeNetworkInterfaces {
    const NAME: &'static str = "DescribeNetworkInterfaces";
    type Input = DescribeNetworkInterfacesInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        any()
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = ec2.state().await?;
        let interfaces = ec2.task_interfaces().await?;
        for id in &input.ids {
            if !interfaces.iter().any(|i| &i.id == id) {
                return Err(AwsError::new(
                    "InvalidNetworkInterfaceID.NotFound",
                    400,
                    format!("The networkInterface ID '{id}' does not exist"),
                ));
            }
        }
        let default_vpc = state.default_vpc().map(|v| v.id.clone()).unwrap_or_default();
        let none = Tags::new();
        let mut out = Vec::new();
        for i in &interfaces {
            if !input.ids.is_empty() && !input.ids.contains(&i.id) {
                continue;
            }
            let vpc_id = state
                .subnets
                .get(&i.subnet_id)
                .map_or(default_vpc.clone(), |s| s.vpc_id.clone());
            let keep = rules::matches(&input.filters, &none, |name| match name {
                "network-interface-id" => Some(vec![i.id.clone()]),
                "subnet-id" => Some(vec![i.subnet_id.clone()]),
                "vpc-id" => Some(vec![vpc_id.clone()]),
                "group-id" => Some(i.groups.clone()),
                "private-ip-address" | "addresses.private-ip-address" => Some(vec![i.private_ip.clone()]),
                "mac-address" => Some(vec![i.mac_address.clone()]),
                "availability-zone" => Some(vec![i.availability_zone.clone()]),
                "description" => Some(vec![i.task_arn.clone()]),
                "status" => Some(vec!["in-use".into()]),
                "interface-type" => Some(vec!["interface".into()]),
                "requester-managed" => Some(vec!["true".into()]),
                _ => None,
            })
            .map_err(AwsError::from)?;
            if !keep {
                continue;
            }
            out.push(InterfaceOut {
                network_interface_id: i.id.clone(),
                subnet_id: i.subnet_id.clone(),
                vpc_id,
                availability_zone: i.availability_zone.clone(),
                description: i.task_arn.clone(),
                owner_id: ec2.scope().account.clone(),
                requester_id: "amazon-ecs",
                requester_managed: true,
                status: "in-use",
                mac_address: i.mac_address.clone(),
                private_ip_address: i.private_ip.clone(),
                private_dns_name: i.private_dns_name.clone(),
                source_dest_check: true,
                interface_type: "interface",
                group_set: Items(
                    i.groups
                        .iter()
                        .map(|g| GroupOut {
                            group_id: g.clone(),
                            group_name: state.groups.get(g).map(|r| r.name.clone()).unwrap_or_default(),
                        })
                        .collect(),
                ),
                private_ip_addresses_set: Items(vec![PrivateIp {
                    private_ip_address: i.private_ip.clone(),
                    private_dns_name: i.private_dns_name.clone(),
                    primary: true,
                }]),
                tag_set: tag_set(&none),
            });
        }
        let (interfaces, next_token) = page(out, input.next_token.as_deref(), input.max_results)?;
        answer(
            Self::NAME,
            &DescribeNetworkInterfacesOutput {
                network_interface_set: Items(interfaces),
                next_token,
            },
        )
    }
}
