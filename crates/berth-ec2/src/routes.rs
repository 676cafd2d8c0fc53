//! EC2's registration table: every routed operation. An action not here
//! answers `InvalidAction`.

use crate::Ec2;
use crate::ops::{groups, interfaces, permissions, subnets, tags, vpcs, zones};
use berth_proto::query::{QueryEntry, QueryTable, query_entry};

static ENTRIES: &[QueryEntry<Ec2>] = &[
    query_entry::<Ec2, vpcs::CreateVpc>(),
    query_entry::<Ec2, vpcs::DescribeVpcs>(),
    query_entry::<Ec2, vpcs::DeleteVpc>(),
    query_entry::<Ec2, subnets::CreateSubnet>(),
    query_entry::<Ec2, subnets::DescribeSubnets>(),
    query_entry::<Ec2, subnets::DeleteSubnet>(),
    query_entry::<Ec2, groups::CreateSecurityGroup>(),
    query_entry::<Ec2, groups::DescribeSecurityGroups>(),
    query_entry::<Ec2, groups::DeleteSecurityGroup>(),
    query_entry::<Ec2, groups::DescribeSecurityGroupRules>(),
    query_entry::<Ec2, permissions::AuthorizeSecurityGroupIngress>(),
    query_entry::<Ec2, permissions::AuthorizeSecurityGroupEgress>(),
    query_entry::<Ec2, permissions::RevokeSecurityGroupIngress>(),
    query_entry::<Ec2, permissions::RevokeSecurityGroupEgress>(),
    query_entry::<Ec2, interfaces::DescribeNetworkInterfaces>(),
    query_entry::<Ec2, tags::CreateTags>(),
    query_entry::<Ec2, tags::DeleteTags>(),
    query_entry::<Ec2, tags::DescribeTags>(),
    query_entry::<Ec2, zones::DescribeAvailabilityZones>(),
];

/// Every routed EC2 operation.
pub static TABLE: QueryTable<Ec2> = QueryTable(ENTRIES);

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
