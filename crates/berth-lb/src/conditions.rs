//! Rule conditions (pure): the six fields Berth routes on, ELBv2's limits
//! on them, and their normal form — the legacy `Values` of a host-header
//! or path-pattern condition also given as its config, every other field
//! by its config.
//!
//! Limits (Application Load Balancer quotas and the CreateRule reference):
//! at most one condition of each field but `http-header` and
//! `query-string`; at most 5 values across a rule's conditions; each value
//! at most 128 characters; host names of letters, digits, `-.*?`; paths
//! of the URL's characters with `*` and `?`; methods of `A-Z`, `-`, `_`
//! (at most 40); source IPs as CIDR blocks.

use crate::errors::{LbError, invalid};
use crate::records::{Condition, Values};
use std::net::IpAddr;

/// The fields of a condition.
pub const FIELDS: &[&str] = &[
    "host-header",
    "path-pattern",
    "http-header",
    "http-request-method",
    "query-string",
    "source-ip",
];
/// The most values (match evaluations) across a rule's conditions.
pub const MAX_VALUES: usize = 5;
/// The longest value of a condition.
pub const MAX_VALUE_CHARS: usize = 128;

/// Checks a rule's conditions and answers their normal form.
pub fn check_conditions(conditions: &[Condition]) -> Result<Vec<Condition>, LbError> {
    if conditions.is_empty() {
        return Err(invalid("A rule must have at least one condition"));
    }
    let mut out = Vec::new();
    let mut total = 0;
    for c in conditions {
        let field = c
            .field
            .clone()
            .ok_or_else(|| invalid("A condition field must be specified"))?;
        if !FIELDS.contains(&field.as_str()) {
            return Err(invalid(format!(
                "Condition field '{field}' must be one of '{}'",
                FIELDS.join(", ")
            )));
        }
        let once = !matches!(field.as_str(), "http-header" | "query-string");
        if once
            && out
                .iter()
                .any(|o: &Condition| o.field.as_deref() == Some(field.as_str()))
        {
            return Err(invalid(format!("A rule can only have one '{field}' condition")));
        }
        let normal = normalise(&field, c)?;
        total += count(&normal);
        out.push(normal);
    }
    if total > MAX_VALUES {
        return Err(invalid(format!(
            "A rule can have at most {MAX_VALUES} condition values, but it has {total}"
        )));
    }
    Ok(out)
}

fn count(c: &Condition) -> usize {
    let n = |v: &Option<Values>| v.as_ref().map_or(0, |v| v.values.len());
    n(&c.host_header_config)
        + n(&c.path_pattern_config)
        + n(&c.http_request_method_config)
        + n(&c.source_ip_config)
        + c.http_header_config.as_ref().map_or(0, |h| h.values.len())
        + c.query_string_config.as_ref().map_or(0, |q| q.values.len())
}

fn normalise(field: &str, c: &Condition) -> Result<Condition, LbError> {
    let legacy = !c.values.is_empty();
    if legacy && !matches!(field, "host-header" | "path-pattern") {
        return Err(invalid(format!(
            "Condition field '{field}' takes its values in its own config, not in 'Values'"
        )));
    }
    let mut n = Condition {
        field: Some(field.to_string()),
        values: Vec::new(),
        host_header_config: None,
        path_pattern_config: None,
        http_header_config: None,
        query_string_config: None,
        http_request_method_config: None,
        source_ip_config: None,
    };
    let from = |config: &Option<Values>| -> Result<Vec<String>, LbError> {
        let values = match (config, legacy) {
            (Some(_), true) => {
                return Err(invalid(format!(
                    "Condition field '{field}' cannot have both 'Values' and its config"
                )));
            }
            (Some(v), false) => v.values.clone(),
            (None, true) => c.values.clone(),
            (None, false) => Vec::new(),
        };
        if values.is_empty() {
            return Err(invalid(format!("Condition '{field}' must have at least one value")));
        }
        Ok(values)
    };
    match field {
        "host-header" => {
            let values = from(&c.host_header_config)?;
            each(field, &values, |v| {
                v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.*?".contains(&b))
            })?;
            n.values = values.clone();
            n.host_header_config = Some(Values { values });
        }
        "path-pattern" => {
            let values = from(&c.path_pattern_config)?;
            each(field, &values, |v| {
                v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.$/~\"'@:+&()!,;=*?%".contains(&b))
            })?;
            n.values = values.clone();
            n.path_pattern_config = Some(Values { values });
        }
        "http-request-method" => {
            let values = from(&c.http_request_method_config)?;
            each(field, &values, |v| {
                v.len() <= 40 && v.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
            })?;
            n.http_request_method_config = Some(Values { values });
        }
        "source-ip" => {
            let values = from(&c.source_ip_config)?;
            each(field, &values, |v| cidr(v).is_some())?;
            n.source_ip_config = Some(Values { values });
        }
        "http-header" => {
            let h = c
                .http_header_config
                .clone()
                .ok_or_else(|| invalid("An http-header condition must have an http header config"))?;
            let name = h.http_header_name.as_deref().unwrap_or_default();
            if name.is_empty()
                || name.len() > 40
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(invalid(format!("HTTP header name '{name}' is not valid")));
            }
            if h.values.is_empty() {
                return Err(invalid("Condition 'http-header' must have at least one value"));
            }
            each(field, &h.values, |_| true)?;
            n.http_header_config = Some(h);
        }
        _ => {
            let q = c
                .query_string_config
                .clone()
                .ok_or_else(|| invalid("A query-string condition must have a query string config"))?;
            if q.values.is_empty() {
                return Err(invalid("Condition 'query-string' must have at least one value"));
            }
            for kv in &q.values {
                let value = kv
                    .value
                    .as_deref()
                    .ok_or_else(|| invalid("Each query-string condition value must have a value"))?;
                let key = kv.key.as_deref().unwrap_or_default();
                each(field, &[key.to_string(), value.to_string()], |_| true)?;
            }
            n.query_string_config = Some(q);
        }
    }
    Ok(n)
}

fn each(field: &str, values: &[String], ok: impl Fn(&str) -> bool) -> Result<(), LbError> {
    for v in values {
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(invalid(format!(
                "Condition '{field}' value '{v}' must be at most {MAX_VALUE_CHARS} characters"
            )));
        }
        if !ok(v) {
            return Err(invalid(format!("Condition '{field}' value '{v}' is not valid")));
        }
    }
    Ok(())
}

/// `10.0.0.0/8`, `2001:db8::/32`: an address and a prefix length that fits it.
pub fn cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = s.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

#[cfg(test)]
#[path = "conditions_tests.rs"]
mod tests;
