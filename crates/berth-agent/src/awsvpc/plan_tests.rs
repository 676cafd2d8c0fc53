//! Tests of [`super::plan`].

use super::ipam::Leases;
use super::plan::{self, Peers, Place, RouteChanges};
use super::subnet::TaskSubnet;
use std::net::Ipv4Addr;

fn subnet(s: &str) -> TaskSubnet {
    s.parse().unwrap()
}

fn args(step: &plan::Step) -> String {
    step.args.join(" ")
}

#[test]
fn the_bridge_has_the_gateway_address_and_its_owner_as_alias() {
    let s = subnet("10.9.0.0/24");
    let steps = plan::bridge(&s, "i-0abc");
    let text: Vec<String> = steps.iter().map(args).collect();
    assert_eq!(
        text,
        [
            "link add berth0a090000 type bridge",
            "link set dev berth0a090000 alias berth-agent i-0abc",
            "addr replace 10.9.0.1/24 dev berth0a090000",
            "link set dev berth0a090000 up",
        ]
    );
    // Only the creation may fail (the bridge exists: a restarted agent).
    assert_eq!(
        steps.iter().map(|s| s.may_fail).collect::<Vec<_>>(),
        [true, false, false, false]
    );
    assert!(steps.iter().all(|s| s.place == Place::Host));
}

#[test]
fn a_task_interface_is_a_veth_pair_with_eth0_in_the_pause_namespace() {
    let s = subnet("10.9.0.0/24");
    let mut leases = Leases::new(&s);
    let lease = leases
        .acquire(&s, "arn:aws:ecs:r:1:task/c/0123456789abcdef0123", "0")
        .unwrap();
    let steps = plan::interface(&s, &lease, "0123456789abcdef0123", 4242);
    let text: Vec<(Place, String, bool)> = steps.iter().map(|st| (st.place, args(st), st.may_fail)).collect();
    assert_eq!(
        text,
        [
            (Place::Task(4242), "link del eth0".to_string(), true),
            (Place::Host, "link del vb0123456789abc".to_string(), true),
            (
                Place::Host,
                "link add vb0123456789abc type veth peer name eth0 address 0a:58:0a:09:00:02 netns 4242".to_string(),
                false
            ),
            (
                Place::Host,
                "link set dev vb0123456789abc master berth0a090000 up".to_string(),
                false
            ),
            (Place::Task(4242), "addr add 10.9.0.2/24 dev eth0".to_string(), false),
            (Place::Task(4242), "link set dev eth0 up".to_string(), false),
            (
                Place::Task(4242),
                "route add default via 10.9.0.1 dev eth0".to_string(),
                false
            ),
        ]
    );
    assert!(plan::host_veth("0123456789abcdef0123").len() <= 15);
    assert_eq!(plan::task_id("arn:aws:ecs:r:1:task/c/abc"), "abc");
}

#[test]
fn an_interface_is_ready_when_eth0_has_the_lease_address() {
    let s = subnet("10.9.0.0/24");
    let mut leases = Leases::new(&s);
    let lease = leases.acquire(&s, "t", "0").unwrap();
    let shown = "2: eth0    inet 10.9.0.2/24 scope global eth0\\       valid_lft forever preferred_lft forever\n";
    assert!(plan::interface_ready(shown, &s, &lease));
    assert!(!plan::interface_ready("", &s, &lease));
    assert!(!plan::interface_ready(
        "2: eth0    inet 10.9.0.22/24 scope global eth0\n",
        &s,
        &lease
    ));
}

#[test]
fn the_link_alias_is_read_from_ip_link_show() {
    let with = "9: berth0a090000: <BROADCAST,UP> mtu 1500 qdisc noqueue state UP\\    link/ether 56:c0:b0:aa:6b:ea brd ff:ff:ff:ff:ff:ff\\    alias berth-agent i-0abc\n";
    assert_eq!(plan::link_alias(with).as_deref(), Some("berth-agent i-0abc"));
    let without = "9: berth0a090000: <BROADCAST,UP> mtu 1500\\    link/ether 56:c0:b0:aa:6b:ea brd ff:ff:ff:ff:ff:ff\n";
    assert_eq!(plan::link_alias(without), None);
}

#[test]
fn the_host_table_masquerades_all_but_task_subnets() {
    let s = subnet("10.9.0.0/24");
    let peers = Peers::from([(subnet("10.8.0.0/24"), Ipv4Addr::new(10, 250, 0, 2))]);
    let text = plan::host_table(&s, "i-0abc", &peers);
    assert!(text.starts_with("table ip berth_host_0a090000\ndelete table ip berth_host_0a090000\n"));
    assert!(text.contains("type nat hook postrouting priority srcnat; policy accept;"));
    assert!(text.contains("ip saddr 10.9.0.0/24 ip daddr != { 10.9.0.0/24, 10.8.0.0/24 } masquerade"));
    assert!(text.contains("comment \"Berth task network of agent i-0abc"));
    assert_eq!(
        plan::remove_host_table(&s),
        "table ip berth_host_0a090000\ndelete table ip berth_host_0a090000\n"
    );
    let rules = plan::forward_accepts(&s);
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0][..2], ["-i", "berth0a090000"]);
    assert_eq!(rules[1][..2], ["-o", "berth0a090000"]);
}

#[test]
fn peers_leave_out_the_own_subnet_overlaps_and_malformed_entries() {
    let own = subnet("10.9.0.0/24");
    let p = plan::peers(
        &own,
        [
            ("10.8.0.0/24", "10.250.0.2"),
            ("10.9.0.0/24", "10.250.0.1"),
            ("10.9.0.0/16", "10.250.0.3"),
            ("bad", "10.250.0.4"),
            ("10.7.0.0/24", "nope"),
        ],
    );
    assert_eq!(p, Peers::from([(subnet("10.8.0.0/24"), Ipv4Addr::new(10, 250, 0, 2))]));
    assert!(own.overlaps(&subnet("10.9.0.128/25")));
    assert!(!own.overlaps(&subnet("10.9.1.0/24")));
}

#[test]
fn route_changes_replace_new_and_moved_peers_and_remove_gone_ones() {
    let a = subnet("10.1.0.0/24");
    let b = subnet("10.2.0.0/24");
    let c = subnet("10.3.0.0/24");
    let h = |d| Ipv4Addr::new(10, 250, 0, d);
    let current = Peers::from([(a, h(1)), (b, h(2))]);
    let desired = Peers::from([(a, h(1)), (b, h(9)), (c, h(3))]);
    let changes = plan::route_changes(&current, &desired);
    assert_eq!(
        changes,
        RouteChanges {
            replace: vec![(b, h(9)), (c, h(3))],
            remove: vec![],
        }
    );
    let gone = plan::route_changes(&desired, &Peers::from([(c, h(3))]));
    assert_eq!(gone.remove, vec![a, b]);
    assert!(gone.replace.is_empty());
    assert!(plan::route_changes(&desired, &desired).is_empty());
    let steps = plan::route_steps(&gone);
    let text: Vec<String> = steps.iter().map(args).collect();
    assert_eq!(
        text,
        ["route del 10.1.0.0/24 proto 186", "route del 10.2.0.0/24 proto 186"]
    );
    let steps = plan::route_steps(&changes);
    assert_eq!(args(&steps[0]), "route replace 10.2.0.0/24 via 10.250.0.9 proto 186");
}

#[test]
fn the_agent_finds_its_routes_on_the_host() {
    let shown = "10.8.0.0/24 via 10.250.0.2 dev veth-a proto 186 \n10.7.0.0/24 via 10.250.0.6 dev veth-b proto 186 onlink \njunk\n";
    assert_eq!(
        plan::parse_routes(shown),
        Peers::from([
            (subnet("10.7.0.0/24"), Ipv4Addr::new(10, 250, 0, 6)),
            (subnet("10.8.0.0/24"), Ipv4Addr::new(10, 250, 0, 2)),
        ])
    );
}

#[test]
fn a_fresh_interface_is_set_up_in_two_batches() {
    let subnet = subnet("10.213.0.0/24");
    let lease = super::ipam::Lease {
        ip: "10.213.0.7".parse().unwrap(),
        mac: "02:42:0a:d5:00:07".into(),
        eni_id: "eni-0123456789abcdef0".into(),
    };
    let steps = plan::interface(&subnet, &lease, "0123456789abcdef0123456789abcdef", 42);
    let b = plan::batches(&steps);
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(b[0].place, Place::Host);
    assert_eq!(
        b[0].text,
        "link add vb0123456789abc type veth peer name eth0 address 02:42:0a:d5:00:07 netns 42\n\
         link set dev vb0123456789abc master berth0ad50000 up\n"
    );
    assert_eq!(b[1].place, Place::Task(42));
    assert_eq!(
        b[1].text,
        "addr add 10.213.0.7/24 dev eth0\nlink set dev eth0 up\nroute add default via 10.213.0.1 dev eth0\n"
    );
    // Every command that must not fail is in one batch, in order.
    let lines: usize = b.iter().map(|b| b.text.lines().count()).sum();
    assert_eq!(lines, steps.iter().filter(|s| !s.may_fail).count());
}
