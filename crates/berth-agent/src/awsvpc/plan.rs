//! What the agent does to its host's network for awsvpc, as plans (pure):
//! the task bridge, a task's interface, the host's masquerade table, the
//! routes to the other hosts' task subnets. [`super::links`] runs them.
//!
//! The bridge `berth<subnet hex>` is the agent's own, in the agent's
//! network namespace (not a Docker network: Docker's networks live in
//! dockerd's namespace, so an agent in another one, a simulated host,
//! could not put its tasks on its own host network). A task's interface is
//! a veth pair: one end on the bridge (`vb` + the task id's first 13
//! characters), the other moved into the pause container's namespace as
//! `eth0` with the lease's address and MAC and a default route via the
//! gateway (the bridge's address, the subnet's first).

use super::ipam::Lease;
use super::subnet::TaskSubnet;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

/// The instance attribute the agent registers its task subnet with.
pub const ATTR_TASK_SUBNET: &str = "berth.task-subnet";
/// The instance attribute the agent registers its host address with.
pub const ATTR_HOST_ADDRESS: &str = "berth.host-address";

/// The routing protocol number the agent marks its routes to peer subnets
/// with, so a restarted agent finds (and replaces) its own and only them.
pub const ROUTE_PROTO: u8 = 186;

/// Where an `ip` command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The agent's own network namespace (the host).
    Host,
    /// The network namespace of the process with this pid (the task's
    /// pause container).
    Task(u32),
}

/// One `ip` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub place: Place,
    pub args: Vec<String>,
    /// Clears what may not exist: its failure is not an error.
    pub may_fail: bool,
}

fn step(place: Place, args: &[&str]) -> Step {
    Step {
        place,
        args: args.iter().map(|a| a.to_string()).collect(),
        may_fail: false,
    }
}

fn cleanup(place: Place, args: &[&str]) -> Step {
    Step {
        may_fail: true,
        ..step(place, args)
    }
}

/// The host end of a task's veth pair: `vb` and the first 13 characters
/// of the task id (an interface name has at most 15).
pub fn host_veth(task_id: &str) -> String {
    let id: String = task_id.chars().filter(char::is_ascii_alphanumeric).take(13).collect();
    format!("vb{id}")
}

/// The task id of a task ARN (its last path segment).
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// The bridge's alias: who owns it (the agent's persistent id).
pub fn bridge_alias(owner: &str) -> String {
    format!("berth-agent {owner}")
}

/// The bridge of the subnet, with the gateway address, up. Idempotent (the
/// `link add` fails when it exists; the rest replaces).
pub fn bridge(subnet: &TaskSubnet, owner: &str) -> Vec<Step> {
    let br = subnet.bridge_name();
    let gw = format!("{}/{}", subnet.gateway(), subnet.prefix());
    let alias = bridge_alias(owner);
    vec![
        cleanup(Place::Host, &["link", "add", &br, "type", "bridge"]),
        step(Place::Host, &["link", "set", "dev", &br, "alias", &alias]),
        step(Place::Host, &["addr", "replace", &gw, "dev", &br]),
        step(Place::Host, &["link", "set", "dev", &br, "up"]),
    ]
}

/// The task's interface: whatever half of it exists is removed, then the
/// veth pair made with its task end in the namespace of `pid` as `eth0`
/// (the lease's MAC and address, a default route via the gateway) and its
/// host end on the bridge.
pub fn interface(subnet: &TaskSubnet, lease: &Lease, task_id: &str, pid: u32) -> Vec<Step> {
    let hv = host_veth(task_id);
    let br = subnet.bridge_name();
    let pid_s = pid.to_string();
    let addr = format!("{}/{}", lease.ip, subnet.prefix());
    let gw = subnet.gateway().to_string();
    let task = Place::Task(pid);
    vec![
        cleanup(task, &["link", "del", "eth0"]),
        cleanup(Place::Host, &["link", "del", &hv]),
        step(
            Place::Host,
            &[
                "link", "add", &hv, "type", "veth", "peer", "name", "eth0", "address", &lease.mac, "netns", &pid_s,
            ],
        ),
        step(Place::Host, &["link", "set", "dev", &hv, "master", &br, "up"]),
        step(task, &["addr", "add", &addr, "dev", "eth0"]),
        step(task, &["link", "set", "dev", "eth0", "up"]),
        step(task, &["route", "add", "default", "via", &gw, "dev", "eth0"]),
    ]
}

/// One `ip -batch -` run: the lines (each an `ip` command's arguments)
/// run in one process, in order, stopping at the first failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub place: Place,
    pub text: String,
}

/// The steps that must not fail, in order, as one batch per run of steps
/// in the same place (a fresh namespace has nothing to clear: the
/// `may_fail` clean-ups are left out). Two processes set up a task's
/// interface instead of one per command.
pub fn batches(steps: &[Step]) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    for s in steps.iter().filter(|s| !s.may_fail) {
        let line = s.args.join(" ");
        match out.last_mut() {
            Some(b) if b.place == s.place => {
                b.text.push_str(&line);
                b.text.push('\n');
            }
            _ => out.push(Batch {
                place: s.place,
                text: format!("{line}\n"),
            }),
        }
    }
    out
}

/// Whether the task's `eth0` is set up: `ip -o -4 addr show dev eth0` (in
/// its namespace) shows the lease's address.
pub fn interface_ready(addr_show: &str, subnet: &TaskSubnet, lease: &Lease) -> bool {
    let want = format!("inet {}/{} ", lease.ip, subnet.prefix());
    addr_show.lines().any(|l| l.contains(&want))
}

/// The owner alias of a link from `ip -o link show dev X` (`alias …` at
/// the end of the line).
pub fn link_alias(link_show: &str) -> Option<String> {
    let line = link_show.lines().next()?;
    let (_, alias) = line.split_once("alias ")?;
    Some(alias.split('\\').next().unwrap_or_default().trim().to_string())
}

/// The nft table of the host's task network: `ip berth_host_<subnet hex>`.
pub fn host_table_name(subnet: &TaskSubnet) -> String {
    format!("berth_host_{}", subnet.bridge_name().trim_start_matches("berth"))
}

/// The host's table, replaced whole by `nft -f`: task traffic leaving for
/// anything but a task subnet (its own or a peer host's) is masqueraded
/// behind the host's address; traffic between task subnets keeps the
/// task's address (the peer's security groups match it).
pub fn host_table(subnet: &TaskSubnet, owner: &str, peers: &BTreeMap<TaskSubnet, Ipv4Addr>) -> String {
    let table = host_table_name(subnet);
    let mut nets = vec![subnet.to_string()];
    nets.extend(peers.keys().map(TaskSubnet::to_string));
    let mut out = String::new();
    let _ = writeln!(out, "table ip {table}");
    let _ = writeln!(out, "delete table ip {table}");
    let _ = writeln!(out, "table ip {table} {{");
    let _ = writeln!(
        out,
        "\tcomment \"Berth task network of agent {owner} (task subnet {subnet}): egress masquerade; replaced whole by the agent\""
    );
    let _ = writeln!(out, "\tchain postrouting {{");
    let _ = writeln!(out, "\t\ttype nat hook postrouting priority srcnat; policy accept;");
    let _ = writeln!(
        out,
        "\t\tip saddr {subnet} ip daddr != {{ {} }} masquerade",
        nets.join(", ")
    );
    let _ = writeln!(out, "\t}}");
    let _ = writeln!(out, "}}");
    out
}

/// The text that removes the host table (whether or not it exists).
pub fn remove_host_table(subnet: &TaskSubnet) -> String {
    let table = host_table_name(subnet);
    format!("table ip {table}\ndelete table ip {table}\n")
}

/// The `iptables` rules (in Docker's `DOCKER-USER` chain, where the host
/// has one) that let the bridge's traffic through a `FORWARD` chain whose
/// policy Docker sets to DROP. The security groups are the filter.
pub fn forward_accepts(subnet: &TaskSubnet) -> Vec<Vec<String>> {
    let br = subnet.bridge_name();
    ["-i", "-o"]
        .iter()
        .map(|dir| {
            vec![
                dir.to_string(),
                br.clone(),
                "-m".into(),
                "comment".into(),
                "--comment".into(),
                "berth awsvpc".into(),
                "-j".into(),
                "ACCEPT".into(),
            ]
        })
        .collect()
}

/// The other hosts' task subnets this agent routes, with the host address
/// each is reached through.
pub type Peers = BTreeMap<TaskSubnet, Ipv4Addr>;

/// The peers from the server's list (subnet, host address): this agent's
/// own subnet, ones that overlap it and malformed entries are left out.
pub fn peers<'a>(own: &TaskSubnet, list: impl IntoIterator<Item = (&'a str, &'a str)>) -> Peers {
    list.into_iter()
        .filter_map(|(s, h)| Some((s.parse::<TaskSubnet>().ok()?, h.parse::<Ipv4Addr>().ok()?)))
        .filter(|(s, _)| !s.overlaps(own))
        .collect()
}

/// The routes to change: `replace` (new peers, or a peer whose host
/// address changed) and `remove` (peers that left).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RouteChanges {
    pub replace: Vec<(TaskSubnet, Ipv4Addr)>,
    pub remove: Vec<TaskSubnet>,
}

impl RouteChanges {
    pub fn is_empty(&self) -> bool {
        self.replace.is_empty() && self.remove.is_empty()
    }
}

pub fn route_changes(current: &Peers, desired: &Peers) -> RouteChanges {
    RouteChanges {
        replace: desired
            .iter()
            .filter(|(s, via)| current.get(s) != Some(via))
            .map(|(s, via)| (*s, *via))
            .collect(),
        remove: current.keys().filter(|s| !desired.contains_key(s)).copied().collect(),
    }
}

/// The `ip` commands of the changes (routes tagged [`ROUTE_PROTO`]).
pub fn route_steps(changes: &RouteChanges) -> Vec<Step> {
    let proto = ROUTE_PROTO.to_string();
    let mut steps: Vec<Step> = changes
        .remove
        .iter()
        .map(|s| cleanup(Place::Host, &["route", "del", &s.to_string(), "proto", &proto]))
        .collect();
    for (s, via) in &changes.replace {
        steps.push(step(
            Place::Host,
            &[
                "route",
                "replace",
                &s.to_string(),
                "via",
                &via.to_string(),
                "proto",
                &proto,
            ],
        ));
    }
    steps
}

/// The agent's routes found on the host: `ip -o -4 route show proto 186`
/// (`10.1.0.0/24 via 10.250.0.2 dev eth1 …`).
pub fn parse_routes(route_show: &str) -> Peers {
    route_show
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let subnet: TaskSubnet = words.next()?.parse().ok()?;
            let mut rest = words.skip_while(|w| *w != "via");
            rest.next()?;
            let via: Ipv4Addr = rest.next()?.parse().ok()?;
            Some((subnet, via))
        })
        .collect()
}
