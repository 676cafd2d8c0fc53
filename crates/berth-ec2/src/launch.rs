//! What ECS checks of an awsvpc launch's `awsvpcConfiguration` in EC2's
//! records, as ECS answers it: every subnet exists, all of them are in one
//! VPC, every security group exists and is of that VPC, and none named
//! means the VPC's `default` group. The answer carries each subnet's
//! availability zone, which placement keeps the tasks to. Pure.

use crate::records::State;
use berth_proto::AwsError;

/// A launch's network as EC2 resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchNetwork {
    /// The VPC of the subnets.
    pub vpc_id: String,
    /// The task's security groups: the ones named, or the VPC's default.
    pub groups: Vec<String>,
    /// Each subnet named, in order, with its availability zone.
    pub subnet_zones: Vec<(String, String)>,
}

/// ECS's answer to a subnet EC2 does not have (EC2's
/// `InvalidSubnetID.NotFound`, relayed).
pub fn subnet_not_found(id: &str) -> String {
    format!(
        "Error retrieving subnet information for [{id}]: The subnet ID '{id}' does not exist \
         (Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.NotFound)"
    )
}

/// ECS's answer to a security group EC2 does not have.
pub fn group_not_found(id: &str) -> String {
    format!("Error retrieving security group information for [{id}]: The security group '{id}' does not exist")
}

/// Resolves `subnets` (at least one, well-formed: ECS checked their form)
/// and `groups` against `state`.
pub fn launch_network(state: &State, subnets: &[String], groups: &[String]) -> Result<LaunchNetwork, AwsError> {
    let mut subnet_zones = Vec::with_capacity(subnets.len());
    let mut vpc: Option<(&str, &str)> = None;
    for id in subnets {
        let s = state
            .subnets
            .get(id)
            .ok_or_else(|| AwsError::invalid_parameter(subnet_not_found(id)))?;
        match vpc {
            None => vpc = Some((&s.vpc_id, &s.id)),
            Some((v, first)) if v != s.vpc_id => {
                return Err(AwsError::invalid_parameter(format!(
                    "Subnets must all belong to the same VPC: {first} is in {v}, {id} is in {}.",
                    s.vpc_id
                )));
            }
            Some(_) => {}
        }
        if !subnet_zones.iter().any(|(sid, _): &(String, String)| sid == id) {
            subnet_zones.push((id.clone(), s.availability_zone.clone()));
        }
    }
    let Some((vpc_id, first)) = vpc else {
        return Err(AwsError::invalid_parameter("subnets can not be empty."));
    };
    for g in groups {
        let group = state
            .groups
            .get(g)
            .ok_or_else(|| AwsError::invalid_parameter(group_not_found(g)))?;
        if group.vpc_id != vpc_id {
            return Err(AwsError::invalid_parameter(format!(
                "Security group {g} and subnet {first} belong to different networks: the group is of {}, \
                 the subnets of {vpc_id}.",
                group.vpc_id
            )));
        }
    }
    let groups = if groups.is_empty() {
        state
            .vpcs
            .get(vpc_id)
            .map(|v| vec![v.default_group.clone()])
            .unwrap_or_default()
    } else {
        groups.to_vec()
    };
    Ok(LaunchNetwork {
        vpc_id: vpc_id.to_string(),
        groups,
        subnet_zones,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Subnet, Tags};

    /// The default VPC with subnets in zones a and b, and a second VPC
    /// with one subnet and one group.
    fn state() -> (State, String, String, String, String) {
        let mut st = State::default();
        st.ensure_default(&["us-east-1a", "us-east-1b"]);
        let a = st.default_subnet("us-east-1a").unwrap().id.clone();
        let b = st.default_subnet("us-east-1b").unwrap().id.clone();
        let other = st.add_vpc(
            "10.9.0.0/16".parse().unwrap(),
            false,
            Tags::new(),
            "vpc-0000000000000000f".into(),
        );
        let other_subnet = "subnet-0000000000000000f".to_string();
        st.subnets.insert(
            other_subnet.clone(),
            Subnet {
                id: other_subnet.clone(),
                vpc_id: other.clone(),
                cidr: "10.9.0.0/24".parse().unwrap(),
                availability_zone: "us-east-1b".into(),
                default_for_az: false,
                tags: Tags::new(),
            },
        );
        let other_group = st.vpcs[&other].default_group.clone();
        (st, a, b, other_subnet, other_group)
    }

    fn refused(r: Result<LaunchNetwork, AwsError>) -> String {
        let e = r.expect_err("refused");
        assert_eq!(e.code, "InvalidParameterException");
        e.message.to_string()
    }

    #[test]
    fn subnets_resolve_to_their_zones_and_the_vpcs_default_group() {
        let (st, a, b, _, _) = state();
        let n = launch_network(&st, &[b.clone(), a.clone(), b.clone()], &[]).unwrap();
        let default = st.default_vpc().unwrap();
        assert_eq!(n.vpc_id, default.id);
        assert_eq!(n.groups, vec![default.default_group.clone()]);
        assert_eq!(
            n.subnet_zones,
            vec![(b, "us-east-1b".to_string()), (a.clone(), "us-east-1a".to_string())]
        );
        let named = launch_network(&st, &[a], std::slice::from_ref(&default.default_group)).unwrap();
        assert_eq!(named.groups, vec![default.default_group.clone()]);
    }

    #[test]
    fn missing_subnets_two_vpcs_and_foreign_groups_are_refused() {
        let (st, a, _, other_subnet, other_group) = state();
        let missing = "subnet-0123456789abcdef0".to_string();
        assert_eq!(
            refused(launch_network(&st, &[a.clone(), missing.clone()], &[])),
            subnet_not_found(&missing)
        );
        assert!(
            refused(launch_network(&st, &[a.clone(), other_subnet.clone()], &[]))
                .starts_with(&format!("Subnets must all belong to the same VPC: {a} is in vpc-"))
        );
        assert!(
            refused(launch_network(
                &st,
                std::slice::from_ref(&a),
                std::slice::from_ref(&other_group)
            ))
            .starts_with(&format!(
                "Security group {other_group} and subnet {a} belong to different networks"
            ))
        );
        let gone = "sg-0123456789abcdef0".to_string();
        assert_eq!(
            refused(launch_network(
                &st,
                std::slice::from_ref(&a),
                std::slice::from_ref(&gone)
            )),
            group_not_found(&gone)
        );
        // The other VPC's subnet takes its own group.
        let n = launch_network(&st, &[other_subnet], std::slice::from_ref(&other_group)).unwrap();
        assert_eq!(n.groups, vec![other_group]);
        assert!(refused(launch_network(&st, &[], &[])).contains("can not be empty"));
    }
}
