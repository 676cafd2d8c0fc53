//! AuthorizeSecurityGroupIngress/Egress and RevokeSecurityGroupIngress/Egress:
//! rules added or removed all at once or not at all (a rule already there:
//! `InvalidPermission.Duplicate`; one not there: `InvalidPermission.NotFound`).
//! A group a rule names as its peer must exist in the same VPC.

use super::groups::{group_arn, group_id_of};
use super::{answer, decode};
use crate::Ec2;
use crate::errors::Ec2Error;
use crate::output::{self, Items, TRUE};
use crate::records::{Peer, Rule};
use crate::rules::{self, IpPermission, IpRange};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionsInput {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    #[serde(default)]
    pub ip_permissions: Vec<IpPermission>,
    /// The one-rule form without `IpPermissions` (`CidrIp`, `IpProtocol`,
    /// `FromPort`, `ToPort`).
    pub ip_protocol: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr_ip: Option<String>,
}

impl PermissionsInput {
    /// The rules the request names.
    fn rules(&self) -> Result<Vec<Rule>, Ec2Error> {
        let mut permissions = self.ip_permissions.clone();
        if self.ip_protocol.is_some() || self.cidr_ip.is_some() {
            if !permissions.is_empty() {
                return Err(Ec2Error::InvalidParameterCombination(
                    "The parameter 'ipPermissions' may not be used in combination with 'ipProtocol' or 'cidrIp'".into(),
                ));
            }
            permissions.push(IpPermission {
                ip_protocol: Some(self.ip_protocol.clone().unwrap_or_else(|| "-1".into())),
                from_port: self.from_port,
                to_port: self.to_port,
                ip_ranges: vec![IpRange {
                    cidr_ip: self.cidr_ip.clone(),
                    description: None,
                }],
                ..IpPermission::default()
            });
        }
        rules::expand(&permissions)
    }
}

const UNSUPPORTED: &[&str] = &[
    "SourceSecurityGroupName",
    "SourceSecurityGroupOwnerId",
    "TagSpecification",
    "SecurityGroupRuleIds",
    "SecurityGroupRuleId",
];

fn decode_permissions(input: &QueryInput) -> Result<PermissionsInput, AwsError> {
    let input: PermissionsInput = decode(input, UNSUPPORTED)?;
    group_id_of(&input.group_id, &input.group_name)?;
    Ok(input)
}

fn resources(scope: &Scope, input: &PermissionsInput) -> Vec<AuthzResource> {
    input
        .group_id
        .iter()
        .map(|id| AuthzResource::untagged(group_arn(scope, id)))
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizeOutput {
    #[serde(rename = "return")]
    ok: bool,
    security_group_rule_set: Items<output::SecurityGroupRuleOut>,
}

/// Changes one direction of a group; the rules added.
async fn change(ec2: &Ec2, input: &PermissionsInput, egress: bool, add: bool) -> Result<Vec<Rule>, AwsError> {
    let id = group_id_of(&input.group_id, &input.group_name)?;
    let wanted = input.rules()?;
    let (added, _) = ec2
        .write(|st| {
            let vpc = st
                .groups
                .get(&id)
                .ok_or_else(|| Ec2Error::GroupNotFound(id.clone()))?
                .vpc_id
                .clone();
            for r in &wanted {
                if let Peer::Group(peer) = &r.peer {
                    match st.groups.get(peer) {
                        Some(g) if g.vpc_id == vpc => {}
                        Some(_) => {
                            return Err(Ec2Error::InvalidParameterValue(format!(
                                "You have specified two resources that belong to different networks: {peer} is not in {vpc}"
                            ))
                            .into());
                        }
                        None => return Err(Ec2Error::GroupNotFound(peer.clone()).into()),
                    }
                }
            }
            let group = st.groups.get_mut(&id).ok_or_else(|| Ec2Error::GroupNotFound(id.clone()))?;
            let list = if egress { &mut group.egress } else { &mut group.ingress };
            if add {
                Ok(rules::authorize(list, wanted.clone())?)
            } else {
                rules::revoke(list, &wanted)?;
                Ok(vec![])
            }
        })
        .await?;
    Ok(added)
}

async fn authorize(ec2: &Ec2, action: &str, input: PermissionsInput, egress: bool) -> Result<QueryResult, AwsError> {
    let added = change(ec2, &input, egress, true).await?;
    let group = input.group_id.clone().unwrap_or_default();
    let rules = added
        .iter()
        .map(|r| output::rule(ec2.scope(), &group, egress, r))
        .collect();
    answer(
        action,
        &AuthorizeOutput {
            ok: true,
            security_group_rule_set: Items(rules),
        },
    )
}

pub struct AuthorizeSecurityGroupIngress;

#[async_trait]
impl QueryOperation<Ec2> for AuthorizeSecurityGroupIngress {
    const NAME: &'static str = "AuthorizeSecurityGroupIngress";
    type Input = PermissionsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_permissions(input)
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        resources(scope, input)
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        authorize(ec2, Self::NAME, input, false).await
    }
}

pub struct AuthorizeSecurityGroupEgress;

#[async_trait]
impl QueryOperation<Ec2> for AuthorizeSecurityGroupEgress {
    const NAME: &'static str = "AuthorizeSecurityGroupEgress";
    type Input = PermissionsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_permissions(input)
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        resources(scope, input)
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        authorize(ec2, Self::NAME, input, true).await
    }
}

pub struct RevokeSecurityGroupIngress;

#[async_trait]
impl QueryOperation<Ec2> for RevokeSecurityGroupIngress {
    const NAME: &'static str = "RevokeSecurityGroupIngress";
    type Input = PermissionsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_permissions(input)
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        resources(scope, input)
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        change(ec2, &input, false, false).await?;
        answer(Self::NAME, &TRUE)
    }
}

pub struct RevokeSecurityGroupEgress;

#[async_trait]
impl QueryOperation<Ec2> for RevokeSecurityGroupEgress {
    const NAME: &'static str = "RevokeSecurityGroupEgress";
    type Input = PermissionsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_permissions(input)
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        resources(scope, input)
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        change(ec2, &input, true, false).await?;
        answer(Self::NAME, &TRUE)
    }
}
