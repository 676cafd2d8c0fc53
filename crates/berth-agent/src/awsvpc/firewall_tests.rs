use super::*;
use berth_agent_protocol::GroupRules;

fn subnet() -> TaskSubnet {
    "10.213.0.0/24".parse().unwrap()
}

fn rule(protocol: &str, from: Option<i32>, to: Option<i32>, cidr: Option<&str>, group: Option<&str>) -> SecurityRule {
    SecurityRule {
        protocol: protocol.into(),
        from_port: from,
        to_port: to,
        cidr: cidr.map(str::to_string),
        group: group.map(str::to_string),
    }
}

fn view() -> SecurityGroupsView {
    let mut v = SecurityGroupsView::default();
    v.groups.insert(
        "sg-web".into(),
        GroupRules {
            ingress: vec![
                rule("tcp", Some(80), Some(80), None, Some("sg-client")),
                rule("udp", Some(5000), Some(5100), Some("10.0.0.0/8"), None),
                rule("icmp", Some(8), Some(-1), Some("0.0.0.0/0"), None),
            ],
            egress: vec![rule("-1", None, None, Some("0.0.0.0/0"), None)],
        },
    );
    v.groups.insert(
        "sg-locked".into(),
        GroupRules {
            ingress: vec![],
            egress: vec![rule("tcp", Some(443), Some(443), Some("192.0.2.0/24"), None)],
        },
    );
    v.members
        .insert("sg-client".into(), vec!["10.213.0.3".into(), "10.9.0.2".into()]);
    v
}

#[test]
fn the_table_is_named_for_the_subnet_and_replaced_whole() {
    assert_eq!(table_name(&subnet()), "berth_sg_0ad50000");
    let text = render(&subnet(), "i-1", &[], &SecurityGroupsView::default());
    assert!(text.starts_with(
        "table inet berth_sg_0ad50000\ndelete table inet berth_sg_0ad50000\ntable inet berth_sg_0ad50000 {\n"
    ));
    assert!(text.contains("ct state established,related accept"));
    assert!(
        text.contains("ip daddr 10.213.0.0/24 drop"),
        "unknown task addresses are closed"
    );
    assert_eq!(
        remove(&subnet()),
        "table inet berth_sg_0ad50000\ndelete table inet berth_sg_0ad50000\n"
    );
}

#[test]
fn each_task_gets_its_groups_ingress_and_egress() {
    let web = vec!["sg-web".to_string()];
    let locked = vec!["sg-locked".to_string()];
    let v = view();
    let tasks = [
        ("10.213.0.2".parse().unwrap(), Some(web.as_slice())),
        ("10.213.0.4".parse().unwrap(), Some(locked.as_slice())),
        ("10.213.0.5".parse().unwrap(), None),
    ];
    let text = render(&subnet(), "i-1", &tasks, &v);
    // The peer group's members, as a set.
    assert!(text.contains("set g_sg_client { type ipv4_addr; elements = { 10.9.0.2, 10.213.0.3 }; }"));
    // Dispatch: egress, then ingress, per task.
    assert!(text.contains("ip saddr 10.213.0.2 jump out_10_213_0_2\n\t\tip daddr 10.213.0.2 jump in_10_213_0_2\n"));
    assert!(text.contains(
        "chain in_10_213_0_2 {\n\t\tip protocol icmp icmp type 8 accept\n\t\tip saddr 10.0.0.0/8 udp dport 5000-5100 accept\n\t\tip saddr @g_sg_client tcp dport 80 accept\n\t\tdrop\n\t}"
    ), "{text}");
    assert!(text.contains("chain out_10_213_0_2 {\n\t\treturn\n\t\tdrop\n\t}"));
    // A group without ingress rules closes the task; its egress is only what it allows.
    assert!(text.contains("chain in_10_213_0_4 {\n\t\tdrop\n\t}"));
    assert!(text.contains("chain out_10_213_0_4 {\n\t\tip daddr 192.0.2.0/24 tcp dport 443 return\n\t\tdrop\n\t}"));
    // Groups not told yet: ingress closed, egress not filtered.
    assert!(text.contains("chain in_10_213_0_5 {\n\t\tdrop\n\t}"));
    assert!(!text.contains("out_10_213_0_5"));
}

#[test]
fn malformed_rules_allow_nothing() {
    let mut v = SecurityGroupsView::default();
    v.groups.insert(
        "sg-x".into(),
        GroupRules {
            ingress: vec![
                rule("gre", None, None, Some("10.0.0.0/8"), None),
                rule("tcp", Some(90), Some(80), Some("10.0.0.0/8"), None),
                rule("tcp", Some(80), Some(80), Some("nope"), None),
                rule("tcp", Some(80), Some(80), None, None),
            ],
            egress: vec![],
        },
    );
    let g = vec!["sg-x".to_string()];
    let text = render(
        &subnet(),
        "i-1",
        &[("10.213.0.2".parse().unwrap(), Some(g.as_slice()))],
        &v,
    );
    assert!(text.contains("chain in_10_213_0_2 {\n\t\tdrop\n\t}"), "{text}");
}

#[test]
fn leases_join_the_groups_the_server_told() {
    let v = SecurityGroupsView {
        tasks: BTreeMap::from([("arn:a".to_string(), vec!["sg-web".to_string()])]),
        ..SecurityGroupsView::default()
    };
    let leases = BTreeMap::from([
        ("arn:a".to_string(), "10.213.0.2".parse().unwrap()),
        ("arn:b".to_string(), "10.213.0.3".parse().unwrap()),
    ]);
    let t = tasks(&leases, &v);
    assert_eq!(t[0].1, Some(["sg-web".to_string()].as_slice()));
    assert_eq!(t[1].1, None);
}
