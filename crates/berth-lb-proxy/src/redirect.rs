//! A redirect action's `Location`: each URI component either the action's
//! (with `#{protocol}`, `#{host}`, `#{port}`, `#{path}`, `#{query}` replaced
//! by the request's) or, left out, the request's own. As ALB writes it,
//! the port is always in the URL (`https://example.com:443/`), `#{path}`
//! is the path without its leading `/`, and an empty query adds no `?`.

use crate::config::Redirect;

/// The request's URI components.
#[derive(Debug, Clone, Copy)]
pub struct Original<'a> {
    /// `http` or `https`.
    pub protocol: &'a str,
    /// The Host header without its port.
    pub host: &'a str,
    /// The listener's port.
    pub port: u16,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// The `Location` the redirect answers with.
pub fn location(redirect: &Redirect, original: &Original<'_>) -> String {
    let port = original.port.to_string();
    let path_tail = original.path.strip_prefix('/').unwrap_or(original.path);
    let query = original.query.unwrap_or("");
    let fill = |template: &str| -> String {
        template
            .replace("#{protocol}", &original.protocol.to_ascii_uppercase())
            .replace("#{host}", original.host)
            .replace("#{port}", &port)
            .replace("#{path}", path_tail)
            .replace("#{query}", query)
    };
    let protocol = redirect
        .protocol
        .as_deref()
        .map_or(original.protocol.to_ascii_lowercase(), |p| fill(p).to_ascii_lowercase());
    let host = redirect.host.as_deref().map_or(original.host.to_string(), fill);
    let port = redirect.port.as_deref().map_or(port.clone(), fill);
    let path = redirect.path.as_deref().map_or(original.path.to_string(), fill);
    let query = redirect.query.as_deref().map_or(query.to_string(), fill);
    let mut location = format!("{protocol}://{host}:{port}{path}");
    if !query.is_empty() {
        location.push('?');
        location.push_str(&query);
    }
    location
}

#[cfg(test)]
mod tests;
