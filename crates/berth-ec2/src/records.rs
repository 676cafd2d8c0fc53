//! The stored EC2 records of a region: VPCs, subnets, security groups with
//! their rules, and their tags. One value (`ec2/state`), read whole and
//! written back with one compare-and-swap, as the API is small and the
//! records few. Pure.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Tags of a resource, by key.
pub type Tags = BTreeMap<String, String>;

/// The CIDR of the default VPC, as AWS's.
pub const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";
/// The CIDR of the default VPC's default subnet (AWS: one /20 per zone).
pub const DEFAULT_SUBNET_CIDR: &str = "172.31.0.0/20";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: String,
    pub cidr: Ipv4Net,
    pub is_default: bool,
    /// Its `default` security group.
    pub default_group: String,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub cidr: Ipv4Net,
    pub availability_zone: String,
    pub default_for_az: bool,
    #[serde(default)]
    pub tags: Tags,
}

/// An IP protocol a rule names (`IpProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    /// `-1`: every protocol (and every port).
    All,
}

/// Where a rule lets traffic come from (ingress) or go to (egress).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Peer {
    Cidr(Ipv4Net),
    /// Another security group: the addresses of its members.
    Group(String),
}

/// One rule of a security group: a protocol, a port range (for TCP and
/// UDP; ICMP's type and code; none for every protocol) and one peer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// `sgr-…`, as DescribeSecurityGroupRules names it.
    pub id: String,
    pub protocol: Protocol,
    /// TCP/UDP: the first port; ICMP: the type (-1 every type); none for `-1`.
    pub from_port: Option<i32>,
    /// TCP/UDP: the last port; ICMP: the code (-1 every code).
    pub to_port: Option<i32>,
    pub peer: Peer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Rule {
    /// Whether two rules allow the same traffic (ids and descriptions aside).
    pub fn same(&self, other: &Rule) -> bool {
        self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.peer == other.peer
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    #[serde(default)]
    pub tags: Tags,
}

/// Every EC2 record of a region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub vpcs: BTreeMap<String, Vpc>,
    pub subnets: BTreeMap<String, Subnet>,
    pub groups: BTreeMap<String, SecurityGroup>,
}

/// A new id: `prefix-` and 17 hex digits, as EC2's.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", &berth_core::ids::hex_id()[..17])
}

/// The rule that lets everything out (a new group's one egress rule).
pub fn allow_all_out() -> Rule {
    Rule {
        id: new_id("sgr"),
        protocol: Protocol::All,
        from_port: None,
        to_port: None,
        peer: Peer::Cidr(Ipv4Net::default()),
        description: None,
    }
}

impl State {
    /// The default VPC, if the region has one.
    pub fn default_vpc(&self) -> Option<&Vpc> {
        self.vpcs.values().find(|v| v.is_default)
    }

    /// A new VPC with its `default` group (ingress from itself, egress to
    /// anywhere: AWS's defaults); its id.
    pub fn add_vpc(&mut self, cidr: Ipv4Net, is_default: bool, tags: Tags, id: String) -> String {
        let group_id = new_id("sg");
        let from_itself = Rule {
            id: new_id("sgr"),
            protocol: Protocol::All,
            from_port: None,
            to_port: None,
            peer: Peer::Group(group_id.clone()),
            description: None,
        };
        self.groups.insert(
            group_id.clone(),
            SecurityGroup {
                id: group_id.clone(),
                name: "default".into(),
                description: "default VPC security group".into(),
                vpc_id: id.clone(),
                ingress: vec![from_itself],
                egress: vec![allow_all_out()],
                tags: Tags::new(),
            },
        );
        self.vpcs.insert(
            id.clone(),
            Vpc {
                id: id.clone(),
                cidr,
                is_default,
                default_group: group_id,
                tags,
            },
        );
        id
    }

    /// Creates the default VPC (172.31.0.0/16), its default group and its
    /// default subnet in `zone` when the region has none. True when it did.
    pub fn ensure_default(&mut self, zone: &str) -> bool {
        if self.default_vpc().is_some() {
            return false;
        }
        let cidr = DEFAULT_VPC_CIDR.parse().expect("a CIDR");
        let vpc = self.add_vpc(cidr, true, Tags::new(), new_id("vpc"));
        let subnet = new_id("subnet");
        self.subnets.insert(
            subnet.clone(),
            Subnet {
                id: subnet,
                vpc_id: vpc,
                cidr: DEFAULT_SUBNET_CIDR.parse().expect("a CIDR"),
                availability_zone: zone.to_string(),
                default_for_az: true,
                tags: Tags::new(),
            },
        );
        true
    }

    /// The tags of a resource by its id, to read or change.
    pub fn tags_mut(&mut self, id: &str) -> Option<&mut Tags> {
        if let Some(v) = self.vpcs.get_mut(id) {
            return Some(&mut v.tags);
        }
        if let Some(s) = self.subnets.get_mut(id) {
            return Some(&mut s.tags);
        }
        self.groups.get_mut(id).map(|g| &mut g.tags)
    }
}
