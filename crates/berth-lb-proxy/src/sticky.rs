//! Stickiness cookies, pure: `AWSALB` (with its `AWSALBCORS` twin) names
//! the target a client was sent to, `AWSALBTG` (with `AWSALBTGCORS`) the
//! target group of a weighted forward with group stickiness. The value is
//! opaque to the client (hex), as ALB's is; it is not a secret.

use crate::fields::Headers;
use std::fmt::Write;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;
use time::macros::format_description;

/// The target stickiness cookie.
pub const TARGET_COOKIE: &str = "AWSALB";
/// The target group stickiness cookie.
pub const GROUP_COOKIE: &str = "AWSALBTG";

/// The value naming a target (`host`, `port`).
pub fn target_value(id: &str, port: u16) -> String {
    let mut v = hex(id.as_bytes());
    let _ = write!(v, "-{port}");
    v
}

/// The target a cookie value names.
pub fn parse_target_value(value: &str) -> Option<(String, u16)> {
    let (id, port) = value.rsplit_once('-')?;
    Some((unhex(id)?, port.parse().ok()?))
}

/// The value naming a target group.
pub fn group_value(arn: &str) -> String {
    hex(arn.as_bytes())
}

pub fn parse_group_value(value: &str) -> Option<String> {
    unhex(value)
}

/// The value of the cookie `name` in the request's `Cookie` headers.
pub fn find<'h>(headers: &Headers<'h>, name: &str) -> Option<&'h str> {
    headers
        .texts("cookie")
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The two `Set-Cookie` values ALB sends for a sticky cookie: the cookie
/// and its `…CORS` twin for cross-site requests.
pub fn set_cookies(name: &str, value: &str, lifetime: Duration, now: SystemTime) -> [String; 2] {
    let expires = http_date(now + lifetime);
    [
        format!("{name}={value}; Expires={expires}; Path=/"),
        format!("{name}CORS={value}; Expires={expires}; Path=/; SameSite=None; Secure"),
    ]
}

/// An IMF-fixdate (`Tue, 08 Dec 2026 10:00:00 GMT`).
pub fn http_date(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    at.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests;
