//! API destination targets, the pure part: which endpoints Berth calls, the
//! request one delivery makes (the destination's method and endpoint, the
//! connection's authorization and parameters, the target's
//! `HttpParameters`), what an answer means (delivered, retried, dropped),
//! what a target's retry policy decides after a failure, and the pacing of
//! a destination's `InvocationRateLimitPerSecond`.

use crate::records::{AuthType, ConnectionRec, ConnectionSecrets, DestinationRec, HttpParams, ParamPlace, RetryPolicy};
use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// How long EventBridge waits for an API destination's answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The characters a query-string key or value keeps as they are.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// One HTTP request to make. Its `Debug` names the headers without their
/// values and leaves out the query (they may carry a connection's secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl std::fmt::Debug for HttpCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("HttpCall")
            .field("method", &self.method)
            .field("url", &self.url.split('?').next().unwrap_or_default())
            .field("headers", &names)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// A failure EventBridge retries (the reason).
    Retry(String),
    /// A failure EventBridge does not retry (the reason).
    Drop(String),
}

/// The answer of an attempt: an HTTP status, or why there was none
/// (connection refused, timed out).
pub type Answer = Result<u16, String>;

/// What an answer means: 2xx delivered; 401, 407, 409, 429, 5xx and no
/// answer at all retried; any other status (1xx, 3xx, 4xx) dropped — as
/// EventBridge does for API destinations.
pub fn classify(answer: Answer) -> Outcome {
    match answer {
        Err(why) => Outcome::Retry(why),
        Ok(s) if (200..300).contains(&s) => Outcome::Delivered,
        Ok(s @ (401 | 407 | 409 | 429 | 500..=599)) => Outcome::Retry(format!("the endpoint answered {s}")),
        Ok(s) => Outcome::Drop(format!("the endpoint answered {s}, which EventBridge does not retry")),
    }
}

/// After a failed attempt (`attempts` failures so far, this one counted),
/// whether the policy allows another: the retries are not used up and the
/// event is not older than the maximum age.
pub fn may_retry(policy: &RetryPolicy, attempts: u32, age_ms: i64) -> bool {
    attempts <= policy.retries() && age_ms <= policy.max_age_ms()
}

/// Whether Berth calls `endpoint`: `https://` anywhere, `http://` only to a
/// loopback or private address (or `localhost`) — AWS requires HTTPS.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| format!("InvocationEndpoint {endpoint} is not a URL: it must start with https://."))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host_of(authority);
    if host.is_empty() || authority.contains('@') {
        return Err(format!(
            "InvocationEndpoint {endpoint} has no host (or carries user information)."
        ));
    }
    match scheme {
        "https" => Ok(()),
        "http" if host == "localhost" || host.parse::<IpAddr>().is_ok_and(is_private) => Ok(()),
        "http" => Err(format!(
            "InvocationEndpoint {endpoint} must use https://. Berth also calls http:// endpoints, but only on \
             loopback or private addresses."
        )),
        _ => Err(format!("InvocationEndpoint {endpoint} must use https://.")),
    }
}

fn host_of(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// How many `*` an endpoint has: the path parameters a target must give.
pub fn wildcards(endpoint: &str) -> usize {
    endpoint.matches('*').count()
}

/// The request one delivery of `message` makes. The connection's
/// parameters win over the target's of the same name, as in EventBridge;
/// body parameters are merged into a JSON object message (others are sent
/// as they are).
pub fn build_call(
    dest: &DestinationRec,
    conn: &ConnectionRec,
    secrets: &ConnectionSecrets,
    target: Option<&HttpParams>,
    message: &str,
) -> Result<HttpCall, String> {
    let empty = HttpParams::default();
    let target = target.unwrap_or(&empty);
    let mut url = String::with_capacity(dest.endpoint.len());
    let mut values = target.path.iter();
    for (n, piece) in dest.endpoint.split('*').enumerate() {
        if n > 0 {
            let v = values.next().ok_or_else(|| {
                format!(
                    "the endpoint {} has more * than the target's PathParameterValues",
                    dest.endpoint
                )
            })?;
            url.push_str(&utf8_percent_encode(v, QUERY).to_string());
        }
        url.push_str(piece);
    }
    // The connection's parameters, with the secret values from the sealed part.
    let params: Vec<(ParamPlace, &str, &str)> = conn
        .params
        .iter()
        .filter_map(|p| {
            let value = match &p.value {
                Some(v) => Some(v.as_str()),
                None => secrets
                    .params
                    .iter()
                    .find(|s| s.place == p.place && s.key == p.key)
                    .and_then(|s| s.value.as_deref()),
            };
            value.map(|v| (p.place, p.key.as_str(), v))
        })
        .collect();
    let of = |place: ParamPlace| {
        params
            .iter()
            .filter(move |(p, _, _)| *p == place)
            .map(|(_, k, v)| (*k, *v))
    };

    let mut headers: Vec<(String, String)> = vec![(
        "Content-Type".to_string(),
        "application/json; charset=utf-8".to_string(),
    )];
    match conn.auth {
        AuthType::Basic => {
            let password = secrets.password.as_deref().ok_or("the connection has no password")?;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", conn.principal));
            headers.push(("Authorization".to_string(), format!("Basic {token}")));
        }
        AuthType::ApiKey => {
            let value = secrets
                .api_key_value
                .as_deref()
                .ok_or("the connection has no API key value")?;
            headers.push((conn.principal.clone(), value.to_string()));
        }
    }
    let set = |headers: &mut Vec<(String, String)>, k: &str, v: &str| {
        if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)) {
            headers.push((k.to_string(), v.to_string()));
        }
    };
    for (k, v) in of(ParamPlace::Header) {
        set(&mut headers, k, v);
    }
    for (k, v) in &target.headers {
        set(&mut headers, k, v);
    }

    let mut query: Vec<(&str, &str)> = of(ParamPlace::Query).collect();
    for (k, v) in &target.query {
        if !query.iter().any(|(q, _)| q == k) {
            query.push((k, v));
        }
    }
    if !query.is_empty() {
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, QUERY), utf8_percent_encode(v, QUERY)))
            .collect();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&encoded.join("&"));
    }

    let body = dest.method.has_body().then(|| {
        let body_params: Vec<(&str, &str)> = of(ParamPlace::Body).collect();
        match serde_json::from_str::<Value>(message) {
            Ok(Value::Object(mut map)) if !body_params.is_empty() => {
                for (k, v) in body_params {
                    map.insert(k.to_string(), Value::String(v.to_string()));
                }
                Value::Object(map).to_string()
            }
            _ => message.to_string(),
        }
    });
    Ok(HttpCall {
        method: dest.method.as_str(),
        url,
        headers,
        body,
    })
}

/// The pace of each API destination's `InvocationRateLimitPerSecond`: the
/// earliest time (milliseconds) its next call may start.
#[derive(Debug, Default)]
pub struct Pacer {
    next: HashMap<String, i64>,
}

impl Pacer {
    /// Takes a call slot of `destination` at `now_ms`, or answers the time
    /// it may be taken at.
    pub fn take(&mut self, destination: &str, rate_per_second: Option<u32>, now_ms: i64) -> Result<(), i64> {
        let Some(rate) = rate_per_second.filter(|r| *r > 0) else {
            return Ok(());
        };
        let gap = (1000 / i64::from(rate)).max(1);
        let next = self.next.entry(destination.to_string()).or_insert(i64::MIN);
        if now_ms < *next {
            return Err(*next);
        }
        *next = now_ms + gap;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ConnectionState, HttpMethod, Param};

    fn dest(endpoint: &str, method: HttpMethod) -> DestinationRec {
        DestinationRec {
            name: "d".into(),
            arn: "arn:aws:events:us-east-1:000000000000:api-destination/d/u".into(),
            connection_arn: "arn:aws:events:us-east-1:000000000000:connection/c/u".into(),
            endpoint: endpoint.into(),
            method,
            rate_per_second: None,
            description: None,
            created: 0.0,
            modified: 0.0,
        }
    }

    fn conn(auth: AuthType, principal: &str, params: Vec<Param>) -> ConnectionRec {
        ConnectionRec {
            name: "c".into(),
            arn: "arn:aws:events:us-east-1:000000000000:connection/c/u".into(),
            auth,
            state: ConnectionState::Authorized,
            description: None,
            principal: principal.into(),
            params,
            sealed: None,
            secret_arn: String::new(),
            created: 0.0,
            modified: 0.0,
            authorized: None,
        }
    }

    fn param(place: ParamPlace, key: &str, value: Option<&str>) -> Param {
        Param {
            place,
            key: key.into(),
            secret: value.is_none(),
            value: value.map(str::to_string),
        }
    }

    #[test]
    fn a_basic_call_with_the_connection_and_target_parameters() {
        let c = conn(
            AuthType::Basic,
            "alice",
            vec![
                param(ParamPlace::Header, "X-Conn", Some("c1")),
                param(ParamPlace::Header, "X-Secret", None),
                param(ParamPlace::Query, "team", Some("core")),
                param(ParamPlace::Body, "source-app", Some("berth")),
            ],
        );
        let secrets = ConnectionSecrets {
            password: Some("s3cret".into()),
            api_key_value: None,
            params: vec![param(ParamPlace::Header, "X-Secret", Some("hidden"))],
        };
        let target = HttpParams {
            path: vec!["orders".into(), "a b".into()],
            headers: vec![("X-Conn".into(), "loses".into()), ("X-Target".into(), "t1".into())],
            query: vec![("team".into(), "loses".into()), ("q".into(), "x&y".into())],
        };
        let d = dest("http://127.0.0.1:9/hooks/*/items/*", HttpMethod::Post);
        let call = build_call(&d, &c, &secrets, Some(&target), r#"{"id":"e1"}"#).unwrap();
        assert_eq!(call.method, "POST");
        assert_eq!(
            call.url,
            "http://127.0.0.1:9/hooks/orders/items/a%20b?team=core&q=x%26y"
        );
        assert_eq!(
            call.headers,
            [
                ("Content-Type".into(), "application/json; charset=utf-8".into()),
                ("Authorization".into(), "Basic YWxpY2U6czNjcmV0".into()),
                ("X-Conn".into(), "c1".into()),
                ("X-Secret".into(), "hidden".into()),
                ("X-Target".into(), "t1".into()),
            ]
        );
        assert_eq!(call.body.as_deref(), Some(r#"{"id":"e1","source-app":"berth"}"#));
    }

    #[test]
    fn an_api_key_call_and_methods_without_a_body() {
        let c = conn(AuthType::ApiKey, "x-api-key", vec![]);
        let secrets = ConnectionSecrets {
            api_key_value: Some("k-123".into()),
            ..ConnectionSecrets::default()
        };
        let call = build_call(
            &dest("https://h.example/x?a=1", HttpMethod::Get),
            &c,
            &secrets,
            None,
            "\"m\"",
        )
        .unwrap();
        assert_eq!(call.url, "https://h.example/x?a=1");
        assert_eq!(call.headers[1], ("x-api-key".into(), "k-123".into()));
        assert_eq!(call.body, None);
        // A path wildcard the target gives no value for cannot be called.
        assert!(build_call(&dest("https://h.example/*", HttpMethod::Post), &c, &secrets, None, "{}").is_err());
        // Deauthorized: no key to send.
        assert!(
            build_call(
                &dest("https://h.example/", HttpMethod::Post),
                &c,
                &ConnectionSecrets::default(),
                None,
                "{}"
            )
            .is_err()
        );
    }

    #[test]
    fn which_answers_are_retried() {
        assert_eq!(classify(Ok(200)), Outcome::Delivered);
        assert_eq!(classify(Ok(204)), Outcome::Delivered);
        for s in [401, 407, 409, 429, 500, 502, 503, 504] {
            assert!(matches!(classify(Ok(s)), Outcome::Retry(_)), "{s}");
        }
        for s in [100, 301, 400, 403, 404, 413] {
            assert!(matches!(classify(Ok(s)), Outcome::Drop(_)), "{s}");
        }
        assert!(matches!(classify(Err("timed out".into())), Outcome::Retry(_)));
    }

    #[test]
    fn the_retry_policy_counts_retries_and_age() {
        let default = RetryPolicy::default();
        assert!(may_retry(&default, 185, 0) && !may_retry(&default, 186, 0));
        assert!(!may_retry(&default, 1, 86_400_001));
        let none = RetryPolicy {
            max_retries: Some(0),
            max_age_secs: None,
        };
        assert!(!may_retry(&none, 1, 0));
        let short = RetryPolicy {
            max_retries: None,
            max_age_secs: Some(60),
        };
        assert!(may_retry(&short, 3, 60_000) && !may_retry(&short, 3, 60_001));
    }

    #[test]
    fn endpoints_berth_calls() {
        assert!(check_endpoint("https://hooks.example.com/x").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8080/x").is_ok());
        assert!(check_endpoint("http://localhost/x").is_ok());
        assert!(check_endpoint("http://10.1.2.3/x").is_ok());
        assert!(check_endpoint("http://[::1]:80/x").is_ok());
        assert!(check_endpoint("http://hooks.example.com/x").is_err());
        assert!(check_endpoint("http://8.8.8.8/x").is_err());
        assert!(check_endpoint("ftp://127.0.0.1/x").is_err());
        assert!(check_endpoint("hooks.example.com").is_err());
        assert!(check_endpoint("https://user:pw@h.example/").is_err());
        assert_eq!(wildcards("https://h/*/x/*"), 2);
    }

    #[test]
    fn the_pacer_spaces_the_calls_of_each_destination() {
        let mut p = Pacer::default();
        assert_eq!(p.take("a", Some(2), 1000), Ok(()));
        assert_eq!(p.take("a", Some(2), 1200), Err(1500));
        assert_eq!(p.take("b", Some(2), 1200), Ok(()));
        assert_eq!(p.take("a", Some(2), 1500), Ok(()));
        assert_eq!(p.take("a", None, 1501), Ok(()));
        assert_eq!(p.take("a", Some(1000), 1501), Err(2000));
    }
}
