//! Rule conditions: legacy values normalised to their config, and ELBv2's
//! limits on fields, values and their number.

use super::*;
use crate::records::{HttpHeaderConfig, KeyValue, QueryStringConfig};

fn cond(field: &str) -> Condition {
    Condition {
        field: Some(field.into()),
        values: Vec::new(),
        host_header_config: None,
        path_pattern_config: None,
        http_header_config: None,
        query_string_config: None,
        http_request_method_config: None,
        source_ip_config: None,
    }
}

fn values(v: &[&str]) -> Option<Values> {
    Some(Values {
        values: v.iter().map(|s| s.to_string()).collect(),
    })
}

#[test]
fn legacy_values_become_the_fields_config() {
    let mut c = cond("path-pattern");
    c.values = vec!["/api/*".into()];
    let out = check_conditions(&[c]).unwrap();
    assert_eq!(out[0].path_pattern_config, values(&["/api/*"]));
    assert_eq!(out[0].values, vec!["/api/*"]);
    let mut m = cond("http-request-method");
    m.http_request_method_config = values(&["GET", "POST"]);
    let out = check_conditions(&[m]).unwrap();
    assert!(out[0].values.is_empty());
}

#[test]
fn elbv2_limits() {
    assert!(check_conditions(&[]).is_err());
    let mut p = cond("path-pattern");
    p.path_pattern_config = values(&["/a"]);
    assert!(
        check_conditions(&[p.clone(), p.clone()]).is_err(),
        "one path-pattern per rule"
    );
    let mut many = cond("host-header");
    many.host_header_config = values(&["a.com", "b.com", "c.com", "d.com", "e.com"]);
    assert!(check_conditions(&[many, p.clone()]).is_err(), "at most 5 values");
    let mut bad_host = cond("host-header");
    bad_host.host_header_config = values(&["a b"]);
    assert!(check_conditions(&[bad_host]).is_err());
    let mut long = cond("path-pattern");
    long.path_pattern_config = values(&[&format!("/{}", "a".repeat(128))]);
    assert!(check_conditions(&[long]).is_err());
    let mut ip = cond("source-ip");
    ip.source_ip_config = values(&["10.0.0.0/8", "2001:db8::/32"]);
    check_conditions(&[ip.clone()]).unwrap();
    ip.source_ip_config = values(&["10.0.0.0/33"]);
    assert!(check_conditions(&[ip]).is_err());
    let mut method = cond("http-request-method");
    method.http_request_method_config = values(&["get"]);
    assert!(check_conditions(&[method]).is_err());
    let mut legacy_method = cond("http-request-method");
    legacy_method.values = vec!["GET".into()];
    assert!(
        check_conditions(&[legacy_method]).is_err(),
        "only host-header and path-pattern take Values"
    );
    assert!(check_conditions(&[cond("cookie")]).is_err());
    let mut header = cond("http-header");
    header.http_header_config = Some(HttpHeaderConfig {
        http_header_name: Some("X-Env".into()),
        values: vec!["blue".into()],
    });
    let mut query = cond("query-string");
    query.query_string_config = Some(QueryStringConfig {
        values: vec![KeyValue {
            key: Some("v".into()),
            value: Some("2".into()),
        }],
    });
    check_conditions(&[header.clone(), header, query.clone(), query]).unwrap();
}
