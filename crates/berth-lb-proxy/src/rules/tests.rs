use super::*;
use http::{HeaderMap, HeaderValue};

fn view<'a>(headers: &'a HeaderMap, path: &'a str, query: Option<&'a str>, host: Option<&'a str>) -> RequestView<'a> {
    RequestView {
        method: "GET",
        path,
        query,
        host,
        headers: Headers::from(headers),
        source: "10.1.2.3".parse().unwrap(),
    }
}

fn set(rules: Vec<(u32, Vec<Condition>, &'static str)>) -> RuleSet<&'static str> {
    RuleSet::new(rules, "default")
}

#[test]
fn the_lowest_priority_matching_rule_wins_and_the_default_comes_last() {
    let rules = set(vec![
        (20, vec![Condition::PathPattern(vec!["/api/*".into()])], "api-broad"),
        (10, vec![Condition::PathPattern(vec!["/api/v2/*".into()])], "api-v2"),
    ]);
    let h = HeaderMap::new();
    assert_eq!(*rules.route(&view(&h, "/api/v2/x", None, None)), "api-v2");
    assert_eq!(*rules.route(&view(&h, "/api/v1/x", None, None)), "api-broad");
    assert_eq!(*rules.route(&view(&h, "/other", None, None)), "default");
}

#[test]
fn all_conditions_must_match_and_values_are_alternatives() {
    let rules = set(vec![(
        1,
        vec![
            Condition::HostHeader(vec!["a.example.com".into(), "*.b.example.com".into()]),
            Condition::PathPattern(vec!["/x".into(), "/y*".into()]),
        ],
        "hit",
    )]);
    let h = HeaderMap::new();
    assert_eq!(*rules.route(&view(&h, "/x", None, Some("A.Example.com:8080"))), "hit");
    assert_eq!(*rules.route(&view(&h, "/yz", None, Some("q.b.example.com"))), "hit");
    assert_eq!(*rules.route(&view(&h, "/z", None, Some("a.example.com"))), "default");
    assert_eq!(*rules.route(&view(&h, "/x", None, Some("c.example.com"))), "default");
    assert_eq!(*rules.route(&view(&h, "/x", None, None)), "default");
}

#[test]
fn header_method_query_and_source_ip() {
    let mut h = HeaderMap::new();
    h.insert("x-canary", HeaderValue::from_static("Yes-please"));
    let header = Condition::HttpHeader {
        name: "X-Canary".into(),
        values: vec!["yes*".into()],
    };
    assert!(condition_matches(&header, &view(&h, "/", None, None)));
    let method = Condition::HttpRequestMethod(vec!["POST".into(), "GET".into()]);
    assert!(condition_matches(&method, &view(&h, "/", None, None)));
    assert!(!condition_matches(
        &Condition::HttpRequestMethod(vec!["get".into()]),
        &view(&h, "/", None, None)
    ));
    let query = Condition::QueryString(vec![QueryPair {
        key: Some("version".into()),
        value: "v2*".into(),
    }]);
    assert!(condition_matches(
        &query,
        &view(&h, "/", Some("a=1&Version=V2.1"), None)
    ));
    assert!(!condition_matches(&query, &view(&h, "/", Some("a=v2"), None)));
    let any_key = Condition::QueryString(vec![QueryPair {
        key: None,
        value: "hello world".into(),
    }]);
    assert!(condition_matches(&any_key, &view(&h, "/", Some("q=hello+world"), None)));
    assert!(condition_matches(
        &any_key,
        &view(&h, "/", Some("q=hello%20world"), None)
    ));
    let ip = Condition::SourceIp(vec!["10.1.0.0/16".parse().unwrap()]);
    assert!(condition_matches(&ip, &view(&h, "/", None, None)));
    let mut v6 = view(&h, "/", None, None);
    v6.source = "::ffff:10.1.9.9".parse().unwrap();
    assert!(condition_matches(&ip, &v6), "an IPv4 client on a dual-stack socket");
    v6.source = "192.168.0.1".parse().unwrap();
    assert!(!condition_matches(&ip, &v6));
}

#[test]
fn the_port_is_not_part_of_the_host() {
    assert_eq!(host_without_port("example.com:8080"), "example.com");
    assert_eq!(host_without_port("example.com"), "example.com");
    assert_eq!(host_without_port("[::1]:80"), "[::1]");
    assert_eq!(host_without_port("[::1]"), "[::1]");
}
