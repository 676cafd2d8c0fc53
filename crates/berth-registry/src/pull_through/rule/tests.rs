use super::*;

fn rule(prefix: &str, upstream_prefix: Option<&str>) -> PullThroughRule {
    PullThroughRule {
        ecr_repository_prefix: prefix.into(),
        upstream_registry_url: "127.0.0.1:5000".into(),
        upstream_registry: None,
        credential_arn: None,
        upstream_repository_prefix: upstream_prefix.map(str::to_string),
        created_at: 0.0,
        updated_at: 0.0,
    }
}

#[test]
fn allowed_upstreams_parse_with_their_scheme() {
    let u = AllowedUpstream::parse("http://127.0.0.1:5000/").unwrap();
    assert_eq!((u.scheme, u.host.as_str()), ("http", "127.0.0.1:5000"));
    assert_eq!(u.base_url(), "http://127.0.0.1:5000");
    let u = AllowedUpstream::parse("Quay.io").unwrap();
    assert_eq!((u.scheme, u.host.as_str()), ("https", "quay.io"));
    for bad in ["", "http://", "a/b", "user@host", "a b"] {
        assert!(AllowedUpstream::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn an_upstream_url_must_be_allowed() {
    let ups = Upstreams(vec![
        AllowedUpstream::parse("http://127.0.0.1:5000").unwrap(),
        AllowedUpstream::parse("registry-1.docker.io").unwrap(),
    ]);
    assert_eq!(ups.find("127.0.0.1:5000").unwrap().scheme, "http");
    assert!(ups.find("http://127.0.0.1:5000").is_some());
    assert!(ups.find("https://127.0.0.1:5000").is_none());
    assert!(ups.find("127.0.0.1:5001").is_none());
    assert_eq!(check_upstream(&ups, "127.0.0.1:5000", None), Ok(None));
    assert_eq!(
        check_upstream(&ups, "registry-1.docker.io", None),
        Ok(Some(UpstreamRegistry::DockerHub))
    );
    assert_eq!(
        check_upstream(&ups, "registry-1.docker.io", Some(UpstreamRegistry::DockerHub)),
        Ok(Some(UpstreamRegistry::DockerHub))
    );
    // A named registry that is not the URL's, or a URL not allowed.
    for (url, named) in [
        ("127.0.0.1:5000", Some(UpstreamRegistry::Quay)),
        ("registry-1.docker.io", Some(UpstreamRegistry::Quay)),
        ("quay.io", Some(UpstreamRegistry::Quay)),
        ("ghcr.io", None),
    ] {
        assert!(
            matches!(check_upstream(&ups, url, named), Err(RuleError::UnsupportedUpstream(_))),
            "{url}"
        );
    }
    let none = Upstreams::default();
    let Err(RuleError::UnsupportedUpstream(m)) = check_upstream(&none, "quay.io", None) else {
        panic!()
    };
    assert!(m.contains("--pull-through-upstream"), "{m}");
}

#[test]
fn known_registries_are_named_by_host() {
    assert_eq!(UpstreamRegistry::of_host("quay.io"), Some(UpstreamRegistry::Quay));
    assert_eq!(
        UpstreamRegistry::of_host("x.azurecr.io"),
        Some(UpstreamRegistry::AzureContainerRegistry)
    );
    assert_eq!(
        UpstreamRegistry::of_host("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
        Some(UpstreamRegistry::Ecr)
    );
    assert_eq!(UpstreamRegistry::of_host("127.0.0.1:5000"), None);
    let v: UpstreamRegistry = serde_json::from_str("\"github-container-registry\"").unwrap();
    assert_eq!(v.as_str(), "github-container-registry");
}

#[test]
fn repositories_map_to_upstream_repositories() {
    let r = rule("hub", None);
    assert_eq!(
        r.upstream_repository("hub/library/alpine").as_deref(),
        Some("library/alpine")
    );
    assert_eq!(r.upstream_repository("hub"), None);
    assert_eq!(r.upstream_repository("hub/"), None);
    assert_eq!(r.upstream_repository("hubx/alpine"), None);
    let r = rule("team/cache", Some("mirror"));
    assert_eq!(r.upstream_repository("team/cache/app").as_deref(), Some("mirror/app"));
    assert_eq!(r.upstream_prefix_shown(), "mirror");
    assert_eq!(rule("a", None).upstream_prefix_shown(), "ROOT");
}

#[test]
fn the_longest_prefix_wins() {
    let rules = [rule("a", None), rule("a/b", Some("deep"))];
    let (r, up) = rule_for(&rules, "a/b/c").unwrap();
    assert_eq!((r.ecr_repository_prefix.as_str(), up.as_str()), ("a/b", "deep/c"));
    let (r, up) = rule_for(&rules, "a/c").unwrap();
    assert_eq!((r.ecr_repository_prefix.as_str(), up.as_str()), ("a", "c"));
    assert!(rule_for(&rules, "b/c").is_none());
}

#[test]
fn prefixes_normalize() {
    assert_eq!(normalize_ecr_prefix("hub/").unwrap(), "hub");
    assert!(matches!(normalize_ecr_prefix("ROOT"), Err(RuleError::Validation(_))));
    assert_eq!(normalize_upstream_prefix(Some("ROOT")), None);
    assert_eq!(normalize_upstream_prefix(Some("lib/")).as_deref(), Some("lib"));
    assert_eq!(normalize_upstream_prefix(None), None);
    assert!(check_custom_role(Some("arn:aws:iam::1:role/x")).is_err());
    assert!(check_custom_role(None).is_ok());
}
