//! Attribute defaults per load balancer type and target-group protocol,
//! and refused keys or values changing nothing.

use super::*;

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_then_what_was_set() {
    let mut set = BTreeMap::new();
    let get = |all: Vec<(String, String)>, k: &str| all.into_iter().find(|(key, _)| key == k).map(|(_, v)| v);
    assert_eq!(
        get(lb_attributes(LbType::Application, &set), "idle_timeout.timeout_seconds").as_deref(),
        Some("60")
    );
    assert_eq!(
        get(lb_attributes(LbType::Network, &set), "idle_timeout.timeout_seconds"),
        None
    );
    assert_eq!(
        get(tg_attributes("HTTP", &set), "deregistration_delay.timeout_seconds").as_deref(),
        Some("300")
    );
    assert_eq!(
        get(tg_attributes("TCP", &set), "stickiness.type").as_deref(),
        Some("source_ip")
    );
    set_tg_attributes(
        "HTTP",
        &mut set,
        &pairs(&[("load_balancing.algorithm.type", "least_outstanding_requests")]),
    )
    .unwrap();
    assert_eq!(
        get(tg_attributes("HTTP", &set), "load_balancing.algorithm.type").as_deref(),
        Some("least_outstanding_requests")
    );
    assert_eq!(tg_number("HTTP", &set, "deregistration_delay.timeout_seconds"), 300);
}

#[test]
fn listener_attributes_by_protocol() {
    let mut set = BTreeMap::new();
    let get = |all: Vec<(String, String)>, k: &str| all.into_iter().find(|(key, _)| key == k).map(|(_, v)| v);
    assert_eq!(
        get(listener_attributes("TCP", &set), "tcp.idle_timeout.seconds").as_deref(),
        Some("350")
    );
    assert_eq!(
        get(
            listener_attributes("HTTPS", &set),
            "routing.http.response.server.enabled"
        )
        .as_deref(),
        Some("true")
    );
    assert!(set_listener_attributes("TCP", &mut set, &pairs(&[("tcp.idle_timeout.seconds", "59")])).is_err());
    let mtls = "routing.http.request.x_amzn_mtls_clientcert.header_name";
    assert!(set_listener_attributes("HTTP", &mut set, &pairs(&[(mtls, "X-Cert")])).is_err());
    // The proxy writes `Server: awselb/2.0` always: only the default is taken.
    let e = set_listener_attributes(
        "HTTP",
        &mut set,
        &pairs(&[("routing.http.response.server.enabled", "false")]),
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidConfigurationRequest");
    set_listener_attributes(
        "HTTP",
        &mut set,
        &pairs(&[("routing.http.response.server.enabled", "true")]),
    )
    .unwrap();
}

#[test]
fn what_the_proxy_does_not_serve_is_taken_only_at_its_default() {
    let mut set = BTreeMap::new();
    for (k, v) in [
        ("routing.http2.enabled", "false"),
        ("routing.http.xff_header_processing.mode", "remove"),
        ("client_keep_alive.seconds", "120"),
    ] {
        assert!(
            set_lb_attributes(LbType::Application, &mut set, &pairs(&[(k, v)])).is_err(),
            "{k}={v}"
        );
    }
    set_lb_attributes(
        LbType::Application,
        &mut set,
        &pairs(&[("routing.http2.enabled", "true")]),
    )
    .unwrap();
    assert!(set_tg_attributes("HTTP", &mut set, &pairs(&[("stickiness.type", "app_cookie")])).is_err());
    assert!(set_tg_attributes("TCP", &mut set, &pairs(&[("stickiness.enabled", "true")])).is_err());
    assert!(set_tg_attributes("TCP", &mut set, &pairs(&[("proxy_protocol_v2.enabled", "true")])).is_err());
    // HTTP groups' stickiness is served.
    set_tg_attributes("HTTP", &mut set, &pairs(&[("stickiness.enabled", "true")])).unwrap();
    assert!(set_listener_attributes("TCP", &mut set, &pairs(&[("tcp.idle_timeout.seconds", "100")])).is_err());
}

#[test]
fn bad_keys_and_values_change_nothing() {
    let mut set = BTreeMap::new();
    let e = set_lb_attributes(
        LbType::Application,
        &mut set,
        &pairs(&[("idle_timeout.timeout_seconds", "120"), ("nope", "1")]),
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidConfigurationRequest");
    assert!(set.is_empty());
    for (k, v) in [
        ("idle_timeout.timeout_seconds", "0"),
        ("deletion_protection.enabled", "yes"),
    ] {
        assert!(
            set_lb_attributes(LbType::Application, &mut set, &pairs(&[(k, v)])).is_err(),
            "{k}={v}"
        );
    }
    assert!(set_tg_attributes("HTTP", &mut set, &pairs(&[("slow_start.duration_seconds", "10")])).is_err());
    assert!(set.is_empty());
    set_tg_attributes("HTTP", &mut set, &pairs(&[("slow_start.duration_seconds", "30")])).unwrap();
    assert!(set_tg_attributes("TCP", &mut BTreeMap::new(), &pairs(&[("stickiness.type", "lb_cookie")])).is_err());
}
