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
/// The prefix length of the default VPC's default subnets (AWS: one /20
/// per zone, 172.31.0.0/20 first).
pub const DEFAULT_SUBNET_PREFIX: u8 = 20;

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

    /// Creates the default VPC (172.31.0.0/16) and its default group when
    /// the region has none, and a default subnet in each of `zones` that
    /// has none. True when it changed anything.
    pub fn ensure_default(&mut self, zones: &[&str]) -> bool {
        let mut changed = false;
        if self.default_vpc().is_none() {
            let cidr = DEFAULT_VPC_CIDR.parse().expect("a CIDR");
            self.add_vpc(cidr, true, Tags::new(), new_id("vpc"));
            changed = true;
        }
        for zone in zones {
            changed |= self.ensure_default_subnet(zone);
        }
        changed
    }

    /// The zones of the default VPC's default subnets (the zones the region
    /// knows), sorted.
    pub fn default_zones(&self) -> Vec<String> {
        let Some(vpc) = self.default_vpc() else {
            return Vec::new();
        };
        let mut zones: Vec<String> = self
            .subnets
            .values()
            .filter(|s| s.vpc_id == vpc.id && s.default_for_az)
            .map(|s| s.availability_zone.clone())
            .collect();
        zones.sort();
        zones.dedup();
        zones
    }

    /// The default VPC's default subnet in `zone`, if it has one.
    pub fn default_subnet(&self, zone: &str) -> Option<&Subnet> {
        let vpc = self.default_vpc()?;
        self.subnets
            .values()
            .find(|s| s.vpc_id == vpc.id && s.default_for_az && s.availability_zone == zone)
    }

    /// Adds the default VPC's default subnet in `zone` when it has none:
    /// the first /20 of the VPC that no subnet of it overlaps (AWS's blocks
    /// in order: 172.31.0.0/20, 172.31.16.0/20, …). True when it did; false
    /// too when the VPC has no free /20 left (16 zones).
    pub fn ensure_default_subnet(&mut self, zone: &str) -> bool {
        let Some(vpc) = self.default_vpc() else {
            return false;
        };
        if self.default_subnet(zone).is_some() {
            return false;
        }
        let (vpc_id, vpc_cidr) = (vpc.id.clone(), vpc.cidr);
        let taken: Vec<Ipv4Net> = self
            .subnets
            .values()
            .filter(|s| s.vpc_id == vpc_id)
            .map(|s| s.cidr)
            .collect();
        let Some(cidr) = vpc_cidr.subnets(DEFAULT_SUBNET_PREFIX).ok().and_then(|mut blocks| {
            blocks.find(|b| {
                !taken
                    .iter()
                    .any(|t| t.contains(&b.network()) || b.contains(&t.network()))
            })
        }) else {
            return false;
        };
        let id = new_id("subnet");
        self.subnets.insert(
            id.clone(),
            Subnet {
                id,
                vpc_id,
                cidr,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(st: &State) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = st
            .subnets
            .values()
            .filter(|s| s.default_for_az)
            .map(|s| (s.availability_zone.clone(), s.cidr.to_string()))
            .collect();
        out.sort_by_key(|a| a.1.parse::<Ipv4Net>().unwrap());
        out
    }

    #[test]
    fn a_default_subnet_per_zone_in_aws_blocks_once() {
        let mut st = State::default();
        assert!(st.ensure_default(&["us-east-1a"]));
        assert!(!st.ensure_default(&["us-east-1a"]));
        assert!(st.ensure_default_subnet("us-east-1c"));
        assert!(!st.ensure_default_subnet("us-east-1c"));
        assert!(st.ensure_default(&["us-east-1a", "us-east-1b"]));
        assert_eq!(
            defaults(&st),
            [
                ("us-east-1a".to_string(), "172.31.0.0/20".to_string()),
                ("us-east-1c".into(), "172.31.16.0/20".into()),
                ("us-east-1b".into(), "172.31.32.0/20".into()),
            ]
        );
        let vpc = st.default_vpc().unwrap().id.clone();
        assert!(st.subnets.values().all(|s| s.vpc_id == vpc));
        assert_eq!(
            st.default_subnet("us-east-1b").unwrap().cidr.to_string(),
            "172.31.32.0/20"
        );
        assert!(st.default_subnet("us-east-1d").is_none());
        assert_eq!(st.default_zones(), ["us-east-1a", "us-east-1b", "us-east-1c"]);
    }

    #[test]
    fn a_default_subnet_skips_blocks_other_subnets_hold_and_stops_when_full() {
        let mut st = State::default();
        st.ensure_default(&["us-east-1a"]);
        let vpc = st.default_vpc().unwrap().id.clone();
        // A user's subnet in the second block.
        st.subnets.insert(
            "subnet-mine".into(),
            Subnet {
                id: "subnet-mine".into(),
                vpc_id: vpc,
                cidr: "172.31.20.0/24".parse().unwrap(),
                availability_zone: "us-east-1a".into(),
                default_for_az: false,
                tags: Tags::new(),
            },
        );
        assert!(st.ensure_default_subnet("us-east-1b"));
        assert_eq!(
            st.default_subnet("us-east-1b").unwrap().cidr.to_string(),
            "172.31.32.0/20"
        );
        for z in 0..20 {
            st.ensure_default_subnet(&format!("zone-{z}"));
        }
        // 16 blocks, one a user's: 15 default subnets at most.
        assert_eq!(st.subnets.values().filter(|s| s.default_for_az).count(), 15);
        assert!(!st.ensure_default_subnet("us-east-1z"));
        // No default VPC: nothing to add to.
        assert!(!State::default().ensure_default_subnet("us-east-1a"));
    }
}
