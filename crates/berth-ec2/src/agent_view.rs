//! What one agent needs to filter its tasks (`berth-agent-protocol`'s
//! [`SecurityGroupsView`]): its tasks' groups, those groups' rules, and the
//! member addresses of every group a rule names as its peer. Pure.

use crate::interfaces::TaskInterface;
use crate::records::{Peer, Rule, State};
use crate::rules::protocol_name;
use berth_agent_protocol::{GroupRules, HostPeer, SecurityGroupsView, SecurityRule};
use std::collections::BTreeMap;

fn rule(r: &Rule) -> SecurityRule {
    let (cidr, group) = match &r.peer {
        Peer::Cidr(c) => (Some(c.to_string()), None),
        Peer::Group(g) => (None, Some(g.clone())),
    };
    SecurityRule {
        protocol: protocol_name(r.protocol).to_string(),
        from_port: r.from_port,
        to_port: r.to_port,
        cidr,
        group,
    }
}

/// The view of an agent whose tasks are `local` (task ARN → its groups),
/// the region's attached interfaces being `interfaces`. A group that no
/// longer exists has no rules (its tasks' ingress is then closed).
pub fn agent_view(
    state: &State,
    local: BTreeMap<String, Vec<String>>,
    interfaces: &[TaskInterface],
) -> SecurityGroupsView {
    let mut groups = BTreeMap::new();
    let mut members = BTreeMap::new();
    for id in local.values().flatten() {
        let Some(g) = state.groups.get(id) else {
            continue;
        };
        let rules = GroupRules {
            ingress: g.ingress.iter().map(rule).collect(),
            egress: g.egress.iter().map(rule).collect(),
        };
        for peer in g.ingress.iter().chain(&g.egress).filter_map(|r| match &r.peer {
            Peer::Group(p) => Some(p),
            Peer::Cidr(_) => None,
        }) {
            let ips: Vec<String> = interfaces
                .iter()
                .filter(|i| i.groups.contains(peer) && !i.private_ip.is_empty())
                .map(|i| i.private_ip.clone())
                .collect();
            members.insert(peer.clone(), ips);
        }
        groups.insert(id.clone(), rules);
    }
    SecurityGroupsView {
        tasks: local,
        groups,
        members,
        peers: Vec::new(),
    }
}

/// One host's task network as its agent registered it: (container
/// instance ARN, task subnet, host address).
pub type HostNetwork = (String, String, String);

/// The hosts the agent of `instance_arn` routes to: every other host's
/// task subnet with its address. Agents on the agent's own host (the same
/// host address) are left out: their bridges are local, not routed.
pub fn peers(instance_arn: &str, hosts: &[HostNetwork]) -> Vec<HostPeer> {
    let own = hosts
        .iter()
        .find(|(arn, _, _)| arn == instance_arn)
        .map(|(_, _, h)| h.as_str());
    let mut out: Vec<HostPeer> = hosts
        .iter()
        .filter(|(arn, _, host)| arn != instance_arn && Some(host.as_str()) != own)
        .map(|(_, subnet, host)| HostPeer {
            task_subnet: subnet.clone(),
            host_address: host.clone(),
        })
        .collect();
    out.sort_by(|a, b| (&a.task_subnet, &a.host_address).cmp(&(&b.task_subnet, &b.host_address)));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Protocol, SecurityGroup, Tags};

    fn iface(ip: &str, groups: &[&str]) -> TaskInterface {
        TaskInterface {
            id: "eni-1".into(),
            subnet_id: "subnet-1".into(),
            availability_zone: "us-east-1a".into(),
            private_ip: ip.into(),
            mac_address: String::new(),
            private_dns_name: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            task_arn: "t".into(),
        }
    }

    #[test]
    fn a_view_holds_the_local_groups_rules_and_their_peers_members() {
        let mut state = State::default();
        let rule = |peer: Peer| Rule {
            id: "sgr-1".into(),
            protocol: Protocol::Tcp,
            from_port: Some(80),
            to_port: Some(80),
            peer,
            description: None,
        };
        state.groups.insert(
            "sg-web".into(),
            SecurityGroup {
                id: "sg-web".into(),
                name: "web".into(),
                description: "web".into(),
                vpc_id: "vpc-1".into(),
                ingress: vec![
                    rule(Peer::Group("sg-client".into())),
                    rule(Peer::Cidr("10.0.0.0/8".parse().unwrap())),
                ],
                egress: vec![],
                tags: Tags::new(),
            },
        );
        let local = BTreeMap::from([
            ("task-a".to_string(), vec!["sg-web".to_string()]),
            ("task-b".to_string(), vec!["sg-gone".to_string()]),
        ]);
        let interfaces = [
            iface("10.1.0.2", &["sg-client"]),
            iface("10.1.0.3", &["sg-web"]),
            iface("10.2.0.2", &["sg-client", "sg-web"]),
        ];
        let v = agent_view(&state, local, &interfaces);
        assert_eq!(v.tasks.len(), 2);
        assert_eq!(
            v.groups.keys().collect::<Vec<_>>(),
            ["sg-web"],
            "a gone group has no rules"
        );
        assert_eq!(v.groups["sg-web"].ingress[0].group.as_deref(), Some("sg-client"));
        assert_eq!(v.groups["sg-web"].ingress[1].cidr.as_deref(), Some("10.0.0.0/8"));
        assert_eq!(v.groups["sg-web"].ingress[0].protocol, "tcp");
        assert_eq!(v.members["sg-client"], ["10.1.0.2", "10.2.0.2"]);
    }

    #[test]
    fn an_agent_routes_the_other_hosts_task_subnets() {
        let h = |arn: &str, s: &str, a: &str| (arn.to_string(), s.to_string(), a.to_string());
        let hosts = [
            h("i-a", "10.1.0.0/24", "192.0.2.1"),
            h("i-b", "10.2.0.0/24", "192.0.2.2"),
            h("i-a2", "10.3.0.0/24", "192.0.2.1"),
        ];
        let p = peers("i-a", &hosts);
        assert_eq!(
            p,
            [HostPeer {
                task_subnet: "10.2.0.0/24".into(),
                host_address: "192.0.2.2".into()
            }],
            "its own and its host's other agents' subnets are local"
        );
        assert_eq!(peers("i-b", &hosts).len(), 2);
        assert_eq!(peers("i-unknown", &hosts).len(), 3);
    }
}
