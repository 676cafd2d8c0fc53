use super::*;

fn perm(proto: &str, from: Option<i32>, to: Option<i32>, cidr: &str) -> IpPermission {
    IpPermission {
        ip_protocol: Some(proto.into()),
        from_port: from,
        to_port: to,
        ip_ranges: vec![IpRange {
            cidr_ip: Some(cidr.into()),
            description: None,
        }],
        ..IpPermission::default()
    }
}

#[test]
fn blocks_are_network_addresses_of_16_to_28_bits() {
    assert!(block("10.0.0.0/16", Ec2Error::InvalidVpcRange).is_ok());
    assert_eq!(
        block("10.0.0.0/8", Ec2Error::InvalidVpcRange).unwrap_err().code(),
        "InvalidVpc.Range"
    );
    assert_eq!(
        block("10.0.0.1/16", Ec2Error::InvalidVpcRange).unwrap_err().code(),
        "InvalidParameterValue"
    );
    assert_eq!(
        block("nope", Ec2Error::InvalidSubnetRange).unwrap_err().code(),
        "InvalidParameterValue"
    );
    let (a, b, c) = (
        "10.0.0.0/24".parse().unwrap(),
        "10.0.0.128/25".parse().unwrap(),
        "10.0.1.0/24".parse().unwrap(),
    );
    assert!(overlap(&a, &b) && overlap(&b, &a));
    assert!(!overlap(&a, &c));
}

#[test]
fn protocols_and_ports_follow_ec2() {
    assert_eq!(protocol("TCP").unwrap(), Protocol::Tcp);
    assert_eq!(protocol("17").unwrap(), Protocol::Udp);
    assert_eq!(protocol("-1").unwrap(), Protocol::All);
    assert!(protocol("gre").is_err());
    assert_eq!(ports(Protocol::Tcp, Some(80), Some(80)).unwrap(), (Some(80), Some(80)));
    assert!(ports(Protocol::Tcp, Some(80), None).is_err());
    assert!(ports(Protocol::Udp, Some(90), Some(80)).is_err());
    assert!(ports(Protocol::Tcp, Some(0), Some(65536)).is_err());
    assert_eq!(ports(Protocol::All, Some(1), Some(2)).unwrap(), (None, None));
    assert_eq!(ports(Protocol::Icmp, None, None).unwrap(), (Some(-1), Some(-1)));
    assert!(ports(Protocol::Icmp, Some(300), None).is_err());
}

#[test]
fn permissions_expand_to_one_rule_per_peer_and_fold_back() {
    let mut p = perm("tcp", Some(80), Some(80), "10.0.0.0/16");
    p.groups.push(GroupPair {
        group_id: Some("sg-0123456789abcdef0".into()),
        ..GroupPair::default()
    });
    let rules = expand(&[p, perm("-1", None, None, "0.0.0.0/0")]).unwrap();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[1].peer, Peer::Group("sg-0123456789abcdef0".into()));
    let folded = permissions(&rules);
    assert_eq!(folded.len(), 2);
    assert_eq!(folded[0].3.len(), 2);
    assert_eq!(folded[1].0, Protocol::All);
    assert_eq!(
        describe_rule(&rules[0]),
        "peer: 10.0.0.0/16, TCP, from port: 80, to port: 80, ALLOW"
    );
    assert_eq!(describe_rule(&rules[2]), "peer: 0.0.0.0/0, ALL, ALLOW");
}

#[test]
fn bad_permissions_are_refused() {
    let no_peer = IpPermission {
        ip_protocol: Some("tcp".into()),
        from_port: Some(1),
        to_port: Some(2),
        ..IpPermission::default()
    };
    assert_eq!(expand(&[no_peer]).unwrap_err().code(), "MissingParameter");
    assert_eq!(expand(&[]).unwrap_err().code(), "MissingParameter");
    assert!(expand(&[perm("tcp", Some(1), Some(2), "10.0.0.1/8")]).is_err());
    let by_name = IpPermission {
        ip_protocol: Some("tcp".into()),
        from_port: Some(1),
        to_port: Some(2),
        groups: vec![GroupPair {
            group_name: Some("web".into()),
            ..GroupPair::default()
        }],
        ..IpPermission::default()
    };
    assert!(expand(&[by_name]).is_err());
    let bad_group = IpPermission {
        groups: vec![GroupPair {
            group_id: Some("web".into()),
            ..GroupPair::default()
        }],
        ..perm("tcp", Some(1), Some(2), "10.0.0.0/8")
    };
    assert_eq!(expand(&[bad_group]).unwrap_err().code(), "InvalidGroupId.Malformed");
}

#[test]
fn authorize_refuses_duplicates_and_revoke_unknown_rules_changing_nothing() {
    let mut rules = expand(&[perm("tcp", Some(80), Some(80), "10.0.0.0/16")]).unwrap();
    let again = expand(&[
        perm("tcp", Some(81), Some(81), "10.0.0.0/16"),
        perm("tcp", Some(80), Some(80), "10.0.0.0/16"),
    ])
    .unwrap();
    assert_eq!(
        authorize(&mut rules, again).unwrap_err().code(),
        "InvalidPermission.Duplicate"
    );
    assert_eq!(rules.len(), 1, "nothing added");
    let gone = expand(&[
        perm("tcp", Some(80), Some(80), "10.0.0.0/16"),
        perm("udp", Some(80), Some(80), "10.0.0.0/16"),
    ])
    .unwrap();
    assert_eq!(
        revoke(&mut rules, &gone).unwrap_err().code(),
        "InvalidPermission.NotFound"
    );
    assert_eq!(rules.len(), 1, "nothing removed");
    revoke(&mut rules, &gone[..1]).unwrap();
    assert!(rules.is_empty());
}

#[test]
fn names_ids_and_descriptions() {
    assert!(check_group_name("web").is_ok());
    assert!(check_group_name("sg-web").is_err());
    assert!(check_group_name("").is_err());
    assert!(check_group_id("sg-12345678").is_ok());
    assert!(check_group_id("sg-1234567").is_err());
    assert!(check_vpc_id("vpc-0123456789abcdef0").is_ok());
    assert!(check_subnet_id("subnet-XYZ").is_err());
    assert!(check_description("web tier (80/tcp)").is_ok());
    assert!(check_description("tab\there").is_err());
}

#[test]
fn filters_match_by_name_with_wildcards_and_tags() {
    let mut tags = Tags::new();
    tags.insert("team".into(), "blue".into());
    let f = |name: &str, values: &[&str]| Filter {
        name: name.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    let values = |name: &str| (name == "group-name").then(|| vec!["web-tier".to_string()]);
    assert!(matches(&[f("group-name", &["web-*"])], &tags, values).unwrap());
    assert!(!matches(&[f("group-name", &["db"])], &tags, values).unwrap());
    assert!(matches(&[f("tag:team", &["blue", "red"])], &tags, values).unwrap());
    assert!(!matches(&[f("tag-key", &["owner"])], &tags, values).unwrap());
    assert_eq!(
        matches(&[f("colour", &["x"])], &tags, values).unwrap_err(),
        Ec2Error::InvalidFilter("colour".into())
    );
    assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
}
