//! Health-check defaults per target-group protocol, and their rules.

use super::*;

#[test]
fn defaults_follow_the_group_protocol() {
    let http = new_health_check("HTTP", &HealthCheckInput::default()).unwrap();
    assert_eq!(
        http,
        HealthCheck {
            enabled: true,
            protocol: "HTTP".into(),
            port: "traffic-port".into(),
            path: Some("/".into()),
            interval_seconds: 30,
            timeout_seconds: 6,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: Some("200".into()),
        }
    );
    assert_eq!(
        new_health_check("HTTPS", &HealthCheckInput::default())
            .unwrap()
            .timeout_seconds,
        10
    );
    let tcp = new_health_check("TCP", &HealthCheckInput::default()).unwrap();
    assert_eq!(
        (tcp.protocol.as_str(), tcp.timeout_seconds, tcp.path, tcp.matcher),
        ("TCP", 10, None, None)
    );
    let tcp_http = new_health_check(
        "TCP",
        &HealthCheckInput {
            protocol: Some("HTTP".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(tcp_http.matcher.as_deref(), Some("200-399"));
    assert_eq!(tcp_http.path.as_deref(), Some("/"));
}

#[test]
fn rules_of_a_health_check() {
    let with = |f: fn(&mut HealthCheckInput)| {
        let mut i = HealthCheckInput::default();
        f(&mut i);
        new_health_check("HTTP", &i)
    };
    assert!(with(|i| i.protocol = Some("TCP".into())).is_err());
    assert!(with(|i| i.timeout_seconds = Some(30)).is_err());
    assert!(with(|i| i.enabled = Some(false)).is_err());
    assert!(with(|i| i.path = Some("health".into())).is_err());
    assert!(with(|i| i.port = Some("0".into())).is_err());
    assert!(with(|i| i.matcher = Some("100".into())).is_err());
    assert!(with(|i| i.matcher = Some("500".into())).is_err());
    assert!(with(|i| i.matcher = Some("299-200".into())).is_err());
    assert_eq!(
        with(|i| i.matcher = Some("200,202-204".into()))
            .unwrap()
            .matcher
            .as_deref(),
        Some("200,202-204")
    );
    assert_eq!(with(|i| i.port = Some("8081".into())).unwrap().port, "8081");
    let modified = modify_health_check(
        "HTTP",
        &with(|_| {}).unwrap(),
        &HealthCheckInput {
            interval_seconds: Some(10),
            timeout_seconds: Some(5),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((modified.interval_seconds, modified.timeout_seconds), (10, 5));
    assert!(check_served_protocol("UDP").is_err());
    check_served_protocol("TLS").unwrap();
}
