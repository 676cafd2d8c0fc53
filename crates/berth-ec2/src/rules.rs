//! The pure rules of the API: what a CIDR, a protocol and a port range may
//! be, how the `IpPermissions` of a request become stored [`Rule`]s and
//! stored rules become `IpPermissions` again, EC2's wording of a rule, and
//! `Filter.N` matching.

use crate::errors::{Ec2Error, invalid};
use crate::records::{Peer, Protocol, Rule, Tags, new_id};
use ipnet::Ipv4Net;
use serde::Deserialize;

/// A VPC's or subnet's CIDR: IPv4, its network address, /16 to /28 (AWS's
/// sizes). `what` names the parameter in the message.
pub fn block(cidr: &str, range_error: fn(String) -> Ec2Error) -> Result<Ipv4Net, Ec2Error> {
    let net: Ipv4Net = cidr.parse().map_err(|_| {
        invalid(format!(
            "Value ({cidr}) for parameter cidrBlock is invalid. This is not a valid CIDR block."
        ))
    })?;
    if net.network() != net.addr() {
        return Err(invalid(format!(
            "Value ({cidr}) for parameter cidrBlock is invalid. This is not a valid CIDR block."
        )));
    }
    if !(16..=28).contains(&net.prefix_len()) {
        return Err(range_error(cidr.to_string()));
    }
    Ok(net)
}

/// A rule's CIDR (`CidrIp`): any IPv4 block; host bits must be zero, as AWS
/// refuses `10.0.0.1/8`.
pub fn peer_cidr(cidr: &str) -> Result<Ipv4Net, Ec2Error> {
    let net: Ipv4Net = cidr
        .parse()
        .map_err(|_| invalid(format!("CIDR block {cidr} is malformed")))?;
    if net.network() != net.addr() {
        return Err(invalid(format!("CIDR block {cidr} is malformed")));
    }
    Ok(net)
}

/// Two blocks that share an address.
pub fn overlap(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// `IpProtocol`: a name or number of TCP, UDP, ICMP, or `-1` for every
/// protocol. Other protocols are refused: Berth filters only these.
pub fn protocol(p: &str) -> Result<Protocol, Ec2Error> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" | "6" => Ok(Protocol::Tcp),
        "udp" | "17" => Ok(Protocol::Udp),
        "icmp" | "1" => Ok(Protocol::Icmp),
        "-1" | "all" => Ok(Protocol::All),
        _ => Err(invalid(format!(
            "Invalid value '{p}' for IP protocol. Berth's security groups filter tcp, udp, icmp and -1 (all protocols)."
        ))),
    }
}

/// The port range of a rule of `protocol`: TCP/UDP need both ports, 0 to
/// 65535, from not above to; ICMP's are its type and code (-1: any,
/// absent is -1); `-1` has none (ports given are ignored, as AWS does).
pub fn ports(protocol: Protocol, from: Option<i32>, to: Option<i32>) -> Result<(Option<i32>, Option<i32>), Ec2Error> {
    match protocol {
        Protocol::All => Ok((None, None)),
        Protocol::Tcp | Protocol::Udp => {
            let (Some(f), Some(t)) = (from, to) else {
                return Err(invalid(
                    "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange",
                ));
            };
            if !(0..=65535).contains(&f) || !(0..=65535).contains(&t) || f > t {
                return Err(invalid(format!(
                    "Invalid port range {f}-{t}: TCP/UDP ports are 0 to 65535, the from port not above the to port"
                )));
            }
            Ok((Some(f), Some(t)))
        }
        Protocol::Icmp => {
            let (f, t) = (from.unwrap_or(-1), to.unwrap_or(-1));
            if !(-1..=255).contains(&f) || !(-1..=255).contains(&t) {
                return Err(invalid(format!(
                    "Invalid ICMP type {f} or code {t}: each is -1 (any) or 0 to 255"
                )));
            }
            Ok((Some(f), Some(t)))
        }
    }
}

/// `IpPermissions.N` of Authorize/Revoke.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpPermission {
    pub ip_protocol: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    #[serde(default)]
    pub ip_ranges: Vec<IpRange>,
    /// `UserIdGroupPairs`, named `Groups` on the wire.
    #[serde(default)]
    pub groups: Vec<GroupPair>,
    #[serde(default)]
    pub ipv6_ranges: Vec<serde_json::Value>,
    #[serde(default)]
    pub prefix_list_ids: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpRange {
    pub cidr_ip: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupPair {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub user_id: Option<String>,
    pub vpc_id: Option<String>,
    pub description: Option<String>,
}

/// The stored rules `permissions` ask for: one per peer, each with a new
/// id. IPv6 ranges, prefix lists and peers named by group name (EC2-Classic
/// and default-VPC only) are refused: Berth's tasks have IPv4 only.
pub fn expand(permissions: &[IpPermission]) -> Result<Vec<Rule>, Ec2Error> {
    let mut out = Vec::new();
    for p in permissions {
        let proto = protocol(
            p.ip_protocol
                .as_deref()
                .ok_or_else(|| Ec2Error::MissingParameter("ipPermissions.ipProtocol".into()))?,
        )?;
        let (from_port, to_port) = ports(proto, p.from_port, p.to_port)?;
        if !p.ipv6_ranges.is_empty() {
            return Err(invalid(
                "Ipv6Ranges are not supported by Berth: tasks have IPv4 addresses only",
            ));
        }
        if !p.prefix_list_ids.is_empty() {
            return Err(invalid(
                "PrefixListIds are not supported by Berth (there are no prefix lists)",
            ));
        }
        let mut peers = Vec::new();
        for r in &p.ip_ranges {
            let cidr = r
                .cidr_ip
                .as_deref()
                .ok_or_else(|| Ec2Error::MissingParameter("ipRanges.cidrIp".into()))?;
            peers.push((Peer::Cidr(peer_cidr(cidr)?), r.description.clone()));
        }
        for g in &p.groups {
            match (&g.group_id, &g.group_name) {
                (Some(id), _) => {
                    check_group_id(id)?;
                    peers.push((Peer::Group(id.clone()), g.description.clone()));
                }
                (None, Some(_)) => {
                    return Err(invalid(
                        "Berth names source and destination groups by GroupId only (UserIdGroupPairs.GroupId)",
                    ));
                }
                (None, None) => return Err(Ec2Error::MissingParameter("groupId".into())),
            }
        }
        if peers.is_empty() {
            return Err(Ec2Error::MissingParameter(
                "ipPermissions (each names at least one of IpRanges or UserIdGroupPairs)".into(),
            ));
        }
        for (peer, description) in peers {
            if let Some(d) = &description {
                check_description(d)?;
            }
            out.push(Rule {
                id: new_id("sgr"),
                protocol: proto,
                from_port,
                to_port,
                peer,
                description,
            });
        }
    }
    if out.is_empty() {
        return Err(Ec2Error::MissingParameter("ipPermissions".into()));
    }
    Ok(out)
}

/// A rule's or group's description: up to 255 characters of
/// `a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*` (AWS's set).
pub fn check_description(d: &str) -> Result<(), Ec2Error> {
    let ok = d.len() <= 255
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c));
    if !ok {
        return Err(invalid(format!(
            "Invalid description '{d}': up to 255 characters of a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{{}}!$*"
        )));
    }
    Ok(())
}

/// A group name: 1 to 255 ASCII characters, not `sg-…`.
pub fn check_group_name(name: &str) -> Result<(), Ec2Error> {
    if name.is_empty() || name.len() > 255 || !name.is_ascii() {
        return Err(invalid(format!(
            "Invalid security group name '{name}': 1 to 255 ASCII characters"
        )));
    }
    if name.starts_with("sg-") {
        return Err(invalid("Group names may not be in the format sg-*."));
    }
    Ok(())
}

fn well_formed(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|h| {
        (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `sg-` and 8 or 17 lowercase hex digits.
pub fn check_group_id(id: &str) -> Result<(), Ec2Error> {
    if well_formed(id, "sg-") {
        Ok(())
    } else {
        Err(Ec2Error::GroupIdMalformed(id.to_string()))
    }
}

pub fn check_vpc_id(id: &str) -> Result<(), Ec2Error> {
    if well_formed(id, "vpc-") {
        Ok(())
    } else {
        Err(Ec2Error::VpcIdMalformed(id.to_string()))
    }
}

pub fn check_subnet_id(id: &str) -> Result<(), Ec2Error> {
    if well_formed(id, "subnet-") {
        Ok(())
    } else {
        Err(Ec2Error::SubnetIdMalformed(id.to_string()))
    }
}

/// EC2's words for a rule in `InvalidPermission.Duplicate`:
/// `peer: 10.0.0.0/16, TCP, from port: 80, to port: 80, ALLOW`.
pub fn describe_rule(r: &Rule) -> String {
    let peer = match &r.peer {
        Peer::Cidr(c) => c.to_string(),
        Peer::Group(g) => g.clone(),
    };
    let proto = match r.protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Icmp => "ICMP",
        Protocol::All => "ALL",
    };
    match (r.from_port, r.to_port) {
        (Some(f), Some(t)) => format!("peer: {peer}, {proto}, from port: {f}, to port: {t}, ALLOW"),
        _ => format!("peer: {peer}, {proto}, ALLOW"),
    }
}

/// Adds `new` rules to `rules`: a rule already there (or twice in the
/// request) is `InvalidPermission.Duplicate`, and nothing is added.
pub fn authorize(rules: &mut Vec<Rule>, new: Vec<Rule>) -> Result<Vec<Rule>, Ec2Error> {
    let mut next = rules.clone();
    for r in &new {
        if next.iter().any(|o| o.same(r)) {
            return Err(Ec2Error::PermissionDuplicate(describe_rule(r)));
        }
        next.push(r.clone());
    }
    *rules = next;
    Ok(new)
}

/// Removes `gone` from `rules`: a rule not there is
/// `InvalidPermission.NotFound`, and nothing is removed.
pub fn revoke(rules: &mut Vec<Rule>, gone: &[Rule]) -> Result<(), Ec2Error> {
    let mut next = rules.clone();
    for r in gone {
        let at = next
            .iter()
            .position(|o| o.same(r))
            .ok_or(Ec2Error::PermissionNotFound)?;
        next.remove(at);
    }
    *rules = next;
    Ok(())
}

/// One `IpPermission` of the output: protocol, ports, the rules (peers) it holds.
pub type Permission<'a> = (Protocol, Option<i32>, Option<i32>, Vec<&'a Rule>);

/// Rules as `IpPermissions` show them: one permission per protocol and
/// port range, in the order of their first rule, with its CIDR and group
/// peers.
pub fn permissions(rules: &[Rule]) -> Vec<Permission<'_>> {
    let mut out: Vec<Permission<'_>> = Vec::new();
    for r in rules {
        match out
            .iter_mut()
            .find(|(p, f, t, _)| *p == r.protocol && *f == r.from_port && *t == r.to_port)
        {
            Some((.., peers)) => peers.push(r),
            None => out.push((r.protocol, r.from_port, r.to_port, vec![r])),
        }
    }
    out
}

/// The wire form of a protocol (`tcp`, `udp`, `icmp`, `-1`).
pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Icmp => "icmp",
        Protocol::All => "-1",
    }
}

/// `Filter.N`: a name and its values (any matches).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub name: String,
    #[serde(default, rename = "Value")]
    pub values: Vec<String>,
}

/// Whether a value matches a filter value: exact, or a pattern with `*`
/// (any characters) and `?` (one), as EC2's filters take.
pub fn glob(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    go(&p, &v)
}

/// Whether a resource passes every filter: `values_of(name)` gives its
/// values for a filter name (`None`: the name is not a filter of this
/// resource: `InvalidParameterValue`). `tag:KEY` and `tag-key` are read
/// from `tags`.
pub fn matches(
    filters: &[Filter],
    tags: &Tags,
    values_of: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<bool, Ec2Error> {
    for f in filters {
        let values = if let Some(key) = f.name.strip_prefix("tag:") {
            tags.get(key).cloned().into_iter().collect()
        } else if f.name == "tag-key" {
            tags.keys().cloned().collect()
        } else if f.name == "tag-value" {
            tags.values().cloned().collect()
        } else {
            values_of(&f.name).ok_or_else(|| Ec2Error::InvalidFilter(f.name.clone()))?
        };
        if !f.values.iter().any(|want| values.iter().any(|v| glob(want, v))) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
