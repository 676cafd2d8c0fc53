use super::*;
use http::{HeaderMap, HeaderValue};

#[test]
fn target_and_group_values_round_trip() {
    let v = target_value("10.0.0.7", 32768);
    assert_eq!(parse_target_value(&v), Some(("10.0.0.7".into(), 32768)));
    let arn = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef";
    assert_eq!(parse_group_value(&group_value(arn)).as_deref(), Some(arn));
    assert_eq!(parse_target_value("zz-80"), None);
    assert_eq!(parse_target_value("nodash"), None);
}

#[test]
fn the_cookie_is_found_among_others() {
    let mut h = HeaderMap::new();
    h.append(http::header::COOKIE, HeaderValue::from_static("a=1; AWSALBCORS=x"));
    h.append(http::header::COOKIE, HeaderValue::from_static("AWSALB=abc-80; b=2"));
    assert_eq!(find(&Headers::from(&h), TARGET_COOKIE), Some("abc-80"));
    assert_eq!(find(&Headers::from(&h), GROUP_COOKIE), None);
}

#[test]
fn set_cookie_carries_the_expiry_and_the_cors_twin() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let [main, cors] = set_cookies(TARGET_COOKIE, "v", Duration::from_secs(86_400), now);
    assert_eq!(main, "AWSALB=v; Expires=Tue, 01 Dec 2026 00:53:20 GMT; Path=/");
    assert_eq!(
        cors,
        "AWSALBCORS=v; Expires=Tue, 01 Dec 2026 00:53:20 GMT; Path=/; SameSite=None; Secure"
    );
}
