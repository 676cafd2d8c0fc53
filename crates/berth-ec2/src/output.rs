//! EC2's answers as XML shapes (camelCase members, `<item>` lists), built
//! from the records.

use crate::records::{Peer, Rule, SecurityGroup, Subnet, Tags, Vpc};
use crate::rules::{permissions, protocol_name};
use berth_core::arn::Scope;
pub use berth_proto::query::Items;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagOut {
    pub key: String,
    pub value: String,
}

pub fn tag_set(tags: &Tags) -> Items<TagOut> {
    Items(
        tags.iter()
            .map(|(k, v)| TagOut {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CidrAssociation {
    pub association_id: String,
    pub cidr_block: String,
    pub cidr_block_state: State,
}

#[derive(Debug, Serialize)]
pub struct State {
    pub state: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcOut {
    pub vpc_id: String,
    pub owner_id: String,
    pub state: &'static str,
    pub cidr_block: String,
    pub cidr_block_association_set: Items<CidrAssociation>,
    pub instance_tenancy: &'static str,
    pub is_default: bool,
    pub tag_set: Items<TagOut>,
}

pub fn vpc(v: &Vpc, account: &str) -> VpcOut {
    VpcOut {
        vpc_id: v.id.clone(),
        owner_id: account.to_string(),
        state: "available",
        cidr_block: v.cidr.to_string(),
        cidr_block_association_set: Items(vec![CidrAssociation {
            association_id: format!("vpc-cidr-assoc-{}", &v.id[4..]),
            cidr_block: v.cidr.to_string(),
            cidr_block_state: State { state: "associated" },
        }]),
        instance_tenancy: "default",
        is_default: v.is_default,
        tag_set: crate::output::tag_set(&v.tags),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetOut {
    pub subnet_id: String,
    pub subnet_arn: String,
    pub state: &'static str,
    pub vpc_id: String,
    pub cidr_block: String,
    pub available_ip_address_count: u64,
    pub availability_zone: String,
    pub default_for_az: bool,
    pub map_public_ip_on_launch: bool,
    pub owner_id: String,
    pub tag_set: Items<TagOut>,
}

pub fn subnet(s: &Subnet, arn: String, account: &str, used: u64) -> SubnetOut {
    // AWS reserves five addresses of every subnet.
    let size = 1u64 << (32 - s.cidr.prefix_len());
    SubnetOut {
        subnet_id: s.id.clone(),
        subnet_arn: arn,
        state: "available",
        vpc_id: s.vpc_id.clone(),
        cidr_block: s.cidr.to_string(),
        available_ip_address_count: size.saturating_sub(5 + used),
        availability_zone: s.availability_zone.clone(),
        default_for_az: s.default_for_az,
        // AWS's default subnets give instances a public address.
        map_public_ip_on_launch: s.default_for_az,
        owner_id: account.to_string(),
        tag_set: tag_set(&s.tags),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpRangeOut {
    pub cidr_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupPairOut {
    pub user_id: String,
    pub group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpPermissionOut {
    pub ip_protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    pub groups: Items<GroupPairOut>,
    pub ip_ranges: Items<IpRangeOut>,
    pub ipv6_ranges: Items<IpRangeOut>,
    pub prefix_list_ids: Items<IpRangeOut>,
}

fn ip_permissions(rules: &[crate::records::Rule], account: &str) -> Items<IpPermissionOut> {
    Items(
        permissions(rules)
            .into_iter()
            .map(|(p, from, to, peers)| IpPermissionOut {
                ip_protocol: protocol_name(p),
                from_port: from,
                to_port: to,
                groups: Items(
                    peers
                        .iter()
                        .filter_map(|r| match &r.peer {
                            Peer::Group(g) => Some(GroupPairOut {
                                user_id: account.to_string(),
                                group_id: g.clone(),
                                description: r.description.clone(),
                            }),
                            Peer::Cidr(_) => None,
                        })
                        .collect(),
                ),
                ip_ranges: Items(
                    peers
                        .iter()
                        .filter_map(|r| match &r.peer {
                            Peer::Cidr(c) => Some(IpRangeOut {
                                cidr_ip: c.to_string(),
                                description: r.description.clone(),
                            }),
                            Peer::Group(_) => None,
                        })
                        .collect(),
                ),
                ipv6_ranges: Items(vec![]),
                prefix_list_ids: Items(vec![]),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupOut {
    pub owner_id: String,
    pub group_id: String,
    pub group_name: String,
    pub group_description: String,
    pub vpc_id: String,
    pub security_group_arn: String,
    pub ip_permissions: Items<IpPermissionOut>,
    pub ip_permissions_egress: Items<IpPermissionOut>,
    pub tag_set: Items<TagOut>,
}

pub fn group(g: &SecurityGroup, arn: String, account: &str) -> SecurityGroupOut {
    SecurityGroupOut {
        owner_id: account.to_string(),
        group_id: g.id.clone(),
        group_name: g.name.clone(),
        group_description: g.description.clone(),
        vpc_id: g.vpc_id.clone(),
        security_group_arn: arn,
        ip_permissions: ip_permissions(&g.ingress, account),
        ip_permissions_egress: ip_permissions(&g.egress, account),
        tag_set: tag_set(&g.tags),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRuleOut {
    pub security_group_rule_id: String,
    pub group_id: String,
    pub group_owner_id: String,
    pub is_egress: bool,
    pub ip_protocol: &'static str,
    pub from_port: i32,
    pub to_port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr_ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referenced_group_info: Option<ReferencedGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub security_group_rule_arn: String,
    pub tag_set: Items<TagOut>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferencedGroup {
    pub group_id: String,
    pub user_id: String,
}

/// One rule as DescribeSecurityGroupRules and Authorize* show it.
pub fn rule(scope: &Scope, group: &str, egress: bool, r: &Rule) -> SecurityGroupRuleOut {
    let (cidr, peer) = match &r.peer {
        Peer::Cidr(c) => (Some(c.to_string()), None),
        Peer::Group(g) => (
            None,
            Some(ReferencedGroup {
                group_id: g.clone(),
                user_id: scope.account.clone(),
            }),
        ),
    };
    SecurityGroupRuleOut {
        security_group_rule_id: r.id.clone(),
        group_id: group.to_string(),
        group_owner_id: scope.account.clone(),
        is_egress: egress,
        ip_protocol: protocol_name(r.protocol),
        from_port: r.from_port.unwrap_or(-1),
        to_port: r.to_port.unwrap_or(-1),
        cidr_ipv4: cidr,
        referenced_group_info: peer,
        description: r.description.clone(),
        security_group_rule_arn: scope.arn(crate::SIGNING_NAME, format!("security-group-rule/{}", r.id)),
        tag_set: Items(vec![]),
    }
}

/// `<return>true</return>`, the answer of the operations without output.
#[derive(Debug, Serialize)]
pub struct Return {
    #[serde(rename = "return")]
    pub ok: bool,
}

pub const TRUE: Return = Return { ok: true };
