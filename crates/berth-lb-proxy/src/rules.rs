//! Listener rules as ALB evaluates them: by priority, lowest first, the
//! default action when none matches; a rule matches when all its conditions
//! do, a condition when any of its values does. Pure: the caller describes
//! the request in a [`RequestView`].

use crate::config::{Condition, QueryPair};
use crate::fields::Headers;
use crate::pattern::{matches, matches_ignore_case};
use percent_encoding::percent_decode_str;
use std::borrow::Cow;
use std::net::IpAddr;

/// What the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The Host header (or HTTP/2 `:authority`), port included or not.
    pub host: Option<&'a str>,
    pub headers: Headers<'a>,
    /// The client's address as the listener saw it.
    pub source: IpAddr,
}

/// A listener's rules, sorted by priority, each with what it does (`A`: the
/// compiled action of the caller), and the default action.
#[derive(Debug)]
pub struct RuleSet<A> {
    rules: Vec<(u32, Vec<Condition>, A)>,
    default: A,
}

impl<A> RuleSet<A> {
    /// Rules in any order; they are sorted by priority.
    pub fn new(mut rules: Vec<(u32, Vec<Condition>, A)>, default: A) -> RuleSet<A> {
        rules.sort_by_key(|(priority, _, _)| *priority);
        RuleSet { rules, default }
    }

    /// The action of the first rule (by priority) whose conditions all
    /// match, else the default action.
    pub fn route(&self, request: &RequestView<'_>) -> &A {
        self.rules
            .iter()
            .find(|(_, conditions, _)| conditions.iter().all(|c| condition_matches(c, request)))
            .map_or(&self.default, |(_, _, action)| action)
    }
}

/// Whether one condition holds (any of its values).
pub fn condition_matches(condition: &Condition, request: &RequestView<'_>) -> bool {
    match condition {
        Condition::PathPattern(patterns) => patterns.iter().any(|p| matches(p, request.path)),
        Condition::HostHeader(patterns) => {
            let host = request.host.map(host_without_port).unwrap_or("");
            patterns.iter().any(|p| matches_ignore_case(p, host))
        }
        Condition::HttpHeader { name, values } => request
            .headers
            .texts(name.as_str())
            .any(|v| values.iter().any(|p| matches_ignore_case(p, v))),
        Condition::HttpRequestMethod(methods) => methods.iter().any(|m| m == request.method),
        Condition::QueryString(pairs) => {
            let query = request.query.unwrap_or("");
            pairs.iter().any(|pair| query_has(query, pair))
        }
        Condition::SourceIp(nets) => {
            let ip = canonical(request.source);
            nets.iter().any(|n| n.contains(&ip))
        }
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
pub fn host_without_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') && host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &host[..i],
        _ => host,
    }
}

/// An IPv4 client seen through a dual-stack socket (`::ffff:a.b.c.d`) is
/// its IPv4 address, so IPv4 CIDRs match it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn query_has(query: &str, pair: &QueryPair) -> bool {
    query.split('&').filter(|s| !s.is_empty()).any(|param| {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let key_ok = pair.key.as_deref().is_none_or(|k| matches_ignore_case(k, &decode(key)));
        key_ok && matches_ignore_case(&pair.value, &decode(value))
    })
}

/// A query component decoded as a form is (`+` is a space).
fn decode(component: &str) -> Cow<'_, str> {
    if !component.contains(['%', '+']) {
        return Cow::Borrowed(component);
    }
    let spaced = component.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests;
