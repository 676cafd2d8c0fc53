//! Security groups as an nftables ruleset (pure): the agent's awsvpc tasks
//! (address → the groups they are in) and the groups' rules
//! ([`SecurityGroupsView`]) become the text of one Berth-owned table,
//! `inet berth_sg_<subnet in hex>`, that `nft -f` replaces whole and
//! atomically (docs/architecture.md "Security groups").
//!
//! Why `inet` and the forward hook: two tasks on the agent's bridge
//! talk through the bridge, which the IP hooks see only with br_netfilter
//! (`net.bridge.bridge-nf-call-iptables=1`, which Docker sets); the bridge
//! family sees every frame but has no connection tracking without
//! `nf_conntrack_bridge`, and the filters must be stateful. Traffic routed
//! to a task from another subnet or host (the host-gw routes) crosses the
//! same forward hook.
//! Traffic from the host itself (the output hook: Berth's load balancers,
//! health checks) is not filtered.
//!
//! In the `forward` chain: replies of allowed connections pass
//! (`ct state established,related`); a packet from a task goes through
//! its egress chain (`return` when a rule allows it, else drop), a packet
//! to a task through its ingress chain (`accept` when a rule allows it,
//! else drop); a packet to any other address of the subnet (a task whose
//! groups are not known yet) is dropped. A group a rule names as its peer
//! is a set of its members' addresses.

use super::subnet::TaskSubnet;
use berth_agent_protocol::{SecurityGroupsView, SecurityRule};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::Ipv4Addr;

/// The table of the agent whose task subnet is `subnet`.
pub fn table_name(subnet: &TaskSubnet) -> String {
    format!("berth_sg_{}", subnet.bridge_name().trim_start_matches("berth"))
}

/// The nft name of a group's member set.
fn set_name(group: &str) -> String {
    format!("g_{}", group.replace('-', "_"))
}

/// A CIDR as nft writes it (`10.0.0.0/8`; a bare address is a /32).
fn cidr(c: &str) -> Option<String> {
    let (addr, len) = c.split_once('/').unwrap_or((c, "32"));
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    Some(format!("{addr}/{len}"))
}

/// The match of one rule: its peer (`ip saddr` for ingress, `ip daddr` for
/// egress) and its protocol and ports. `None` for a rule that cannot be
/// written (a malformed CIDR or protocol from the server: skipped, so it
/// allows nothing).
fn rule_match(r: &SecurityRule, peer_dir: &str) -> Option<String> {
    let mut m = String::new();
    match (&r.cidr, &r.group) {
        (Some(c), _) if c == "0.0.0.0/0" => {}
        (Some(c), _) => write!(m, "ip {peer_dir} {} ", cidr(c)?).ok()?,
        (None, Some(g)) => write!(m, "ip {peer_dir} @{} ", set_name(g)).ok()?,
        (None, None) => return None,
    }
    let ports = |from: Option<i32>, to: Option<i32>| match (from, to) {
        (Some(f), Some(t)) if f == t => Some(format!("{f}")),
        (Some(f), Some(t)) if (0..=65535).contains(&f) && (0..=65535).contains(&t) && f < t => Some(format!("{f}-{t}")),
        _ => None,
    };
    match r.protocol.as_str() {
        "-1" => {}
        p @ ("tcp" | "udp") => write!(m, "{p} dport {} ", ports(r.from_port, r.to_port)?).ok()?,
        "icmp" => {
            m.push_str("ip protocol icmp ");
            if let Some(t) = r.from_port.filter(|t| (0..=255).contains(t)) {
                write!(m, "icmp type {t} ").ok()?;
                if let Some(c) = r.to_port.filter(|c| (0..=255).contains(c)) {
                    write!(m, "icmp code {c} ").ok()?;
                }
            }
        }
        _ => return None,
    }
    Some(m)
}

/// The ruleset text for `nft -f`: the table of `subnet` replaced whole by
/// the filters of `tasks` (each task's address and, when the server has
/// told them, its groups).
pub fn render(
    subnet: &TaskSubnet,
    owner: &str,
    tasks: &[(Ipv4Addr, Option<&[String]>)],
    view: &SecurityGroupsView,
) -> String {
    let table = table_name(subnet);
    let mut out = String::new();
    // Declared, then deleted, then written: one transaction replaces the
    // table whether or not it existed.
    let _ = writeln!(out, "table inet {table}");
    let _ = writeln!(out, "delete table inet {table}");
    let _ = writeln!(out, "table inet {table} {{");
    let _ = writeln!(
        out,
        "\tcomment \"Berth security groups of agent {owner} (task subnet {subnet}); replaced whole by the agent\""
    );
    let peers: BTreeSet<&String> = tasks
        .iter()
        .filter_map(|(_, g)| *g)
        .flatten()
        .filter_map(|g| view.groups.get(g))
        .flat_map(|r| r.ingress.iter().chain(&r.egress))
        .filter_map(|r| r.group.as_ref())
        .collect();
    for peer in &peers {
        let members: BTreeSet<Ipv4Addr> = view
            .members
            .get(*peer)
            .into_iter()
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        let _ = write!(out, "\tset {} {{ type ipv4_addr;", set_name(peer));
        if !members.is_empty() {
            let list: Vec<String> = members.iter().map(Ipv4Addr::to_string).collect();
            let _ = write!(out, " elements = {{ {} }};", list.join(", "));
        }
        let _ = writeln!(out, " }}");
    }
    let mut chains = String::new();
    let _ = writeln!(out, "\tchain forward {{");
    let _ = writeln!(out, "\t\ttype filter hook forward priority filter; policy accept;");
    let _ = writeln!(out, "\t\tct state established,related accept");
    let mut sorted: Vec<&(Ipv4Addr, Option<&[String]>)> = tasks.iter().collect();
    sorted.sort_by_key(|(ip, _)| *ip);
    for (ip, groups) in sorted {
        let name = ip.to_string().replace('.', "_");
        let rules = |egress: bool| -> Vec<&SecurityRule> {
            groups
                .iter()
                .flat_map(|g| g.iter())
                .filter_map(|g| view.groups.get(g))
                .flat_map(|r| if egress { &r.egress } else { &r.ingress })
                .collect()
        };
        // Egress: unknown groups let everything out (AWS's default for a
        // new group); known ones only what their rules allow.
        if groups.is_some() {
            let _ = writeln!(out, "\t\tip saddr {ip} jump out_{name}");
            let _ = writeln!(chains, "\tchain out_{name} {{");
            let mut lines = BTreeSet::new();
            for r in rules(true) {
                if let Some(m) = rule_match(r, "daddr") {
                    lines.insert(format!("\t\t{m}return"));
                }
            }
            for l in lines {
                let _ = writeln!(chains, "{l}");
            }
            let _ = writeln!(chains, "\t\tdrop\n\t}}");
        }
        let _ = writeln!(out, "\t\tip daddr {ip} jump in_{name}");
        let _ = writeln!(chains, "\tchain in_{name} {{");
        let mut lines = BTreeSet::new();
        for r in rules(false) {
            if let Some(m) = rule_match(r, "saddr") {
                lines.insert(format!("\t\t{m}accept"));
            }
        }
        for l in lines {
            let _ = writeln!(chains, "{l}");
        }
        let _ = writeln!(chains, "\t\tdrop\n\t}}");
    }
    let _ = writeln!(out, "\t\tip daddr {} drop", subnet);
    let _ = writeln!(out, "\t}}");
    out.push_str(&chains);
    let _ = writeln!(out, "}}");
    out
}

/// The text that removes the table (whether or not it exists).
pub fn remove(subnet: &TaskSubnet) -> String {
    let table = table_name(subnet);
    format!("table inet {table}\ndelete table inet {table}\n")
}

/// The tasks to filter: each leased address with the groups the server
/// told for its task (`None`: not told yet).
pub fn tasks<'a>(
    leases: &'a BTreeMap<String, Ipv4Addr>,
    view: &'a SecurityGroupsView,
) -> Vec<(Ipv4Addr, Option<&'a [String]>)> {
    leases
        .iter()
        .map(|(arn, ip)| (*ip, view.tasks.get(arn).map(Vec::as_slice)))
        .collect()
}

#[cfg(test)]
#[path = "firewall_tests.rs"]
mod tests;
