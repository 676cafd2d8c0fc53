//! ELBv2's registration table: every routed operation. An action not here
//! answers `InvalidAction`.

use crate::Elbv2;
use crate::ops::{attributes, listeners, load_balancers, rules, tags, target_groups, targets};
use berth_proto::query::{QueryEntry, QueryTable, query_entry};

static ENTRIES: &[QueryEntry<Elbv2>] = &[
    query_entry::<Elbv2, load_balancers::CreateLoadBalancer>(),
    query_entry::<Elbv2, load_balancers::DescribeLoadBalancers>(),
    query_entry::<Elbv2, load_balancers::DeleteLoadBalancer>(),
    query_entry::<Elbv2, target_groups::CreateTargetGroup>(),
    query_entry::<Elbv2, target_groups::DescribeTargetGroups>(),
    query_entry::<Elbv2, target_groups::ModifyTargetGroup>(),
    query_entry::<Elbv2, target_groups::DeleteTargetGroup>(),
    query_entry::<Elbv2, targets::RegisterTargets>(),
    query_entry::<Elbv2, targets::DeregisterTargets>(),
    query_entry::<Elbv2, targets::DescribeTargetHealth>(),
    query_entry::<Elbv2, listeners::CreateListener>(),
    query_entry::<Elbv2, listeners::DescribeListeners>(),
    query_entry::<Elbv2, listeners::ModifyListener>(),
    query_entry::<Elbv2, listeners::DeleteListener>(),
    query_entry::<Elbv2, rules::CreateRule>(),
    query_entry::<Elbv2, rules::DescribeRules>(),
    query_entry::<Elbv2, rules::ModifyRule>(),
    query_entry::<Elbv2, rules::DeleteRule>(),
    query_entry::<Elbv2, rules::SetRulePriorities>(),
    query_entry::<Elbv2, attributes::DescribeLoadBalancerAttributes>(),
    query_entry::<Elbv2, attributes::ModifyLoadBalancerAttributes>(),
    query_entry::<Elbv2, attributes::DescribeTargetGroupAttributes>(),
    query_entry::<Elbv2, attributes::ModifyTargetGroupAttributes>(),
    query_entry::<Elbv2, attributes::DescribeListenerAttributes>(),
    query_entry::<Elbv2, attributes::ModifyListenerAttributes>(),
    query_entry::<Elbv2, tags::AddTags>(),
    query_entry::<Elbv2, tags::RemoveTags>(),
    query_entry::<Elbv2, tags::DescribeTags>(),
];

/// Every routed ELBv2 operation.
pub static TABLE: QueryTable<Elbv2> = QueryTable(ENTRIES);

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
