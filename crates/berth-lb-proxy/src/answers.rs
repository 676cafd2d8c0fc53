//! The answers the load balancer writes itself, as ALB writes them: its
//! error pages (502, 503, 504) in HTML with `Server: awselb/2.0`, a
//! fixed-response action's answer and a redirect.

use crate::body::{ProxyBody, full};
use crate::config::FixedResponse;
use http::{HeaderValue, Response, StatusCode, header};

const SERVER: HeaderValue = HeaderValue::from_static("awselb/2.0");

/// ALB's page for an answer it makes itself: `<title>502 Bad Gateway</title>`.
pub(crate) fn error_page(status: StatusCode) -> Response<ProxyBody> {
    // ALB words these as nginx does, not as RFC 9110's reason phrases.
    let reason = match status.as_u16() {
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => status.canonical_reason().unwrap_or(""),
    };
    let line = format!("{} {reason}", status.as_u16());
    let html = format!(
        "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    build(status, "text/html", html)
}

/// A fixed-response action: its code, content type (text/plain when not
/// given) and body.
pub(crate) fn fixed(action: &FixedResponse) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(action.status).unwrap_or(StatusCode::OK);
    let content_type = action.content_type.as_deref().unwrap_or("text/plain");
    build(status, content_type, action.body.clone().unwrap_or_default())
}

/// A redirect to `location` (301 or 302) with ALB's HTML body.
pub(crate) fn redirect(code: u16, location: &str) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
    let mut response = error_page(status);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn build(status: StatusCode, content_type: &str, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::SERVER, SERVER);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    response
}
