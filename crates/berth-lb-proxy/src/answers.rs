//! The answers the load balancer writes itself, as ALB writes them: its
//! error pages (400, 502, 503, 504) in HTML with `Server: awselb/2.0`, a
//! fixed-response action's answer and a redirect. Each is a [`Page`],
//! written to an HTTP/1 client by [`Page::write_h1`] or handed to hyper's
//! HTTP/2 server as a response.

use crate::body::{ProxyBody, full};
use crate::config::FixedResponse;
use crate::respond;
use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};

const SERVER: HeaderValue = HeaderValue::from_static("awselb/2.0");

/// An answer of the load balancer's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    content_type: String,
    body: Bytes,
    location: Option<HeaderValue>,
}

/// ALB's page for an answer it makes itself: `<title>502 Bad Gateway</title>`.
pub(crate) fn error_page(status: StatusCode) -> Page {
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
    page(status, "text/html", html)
}

/// A fixed-response action: its code, content type (text/plain when not
/// given) and body.
pub(crate) fn fixed(action: &FixedResponse) -> Page {
    let status = StatusCode::from_u16(action.status).unwrap_or(StatusCode::OK);
    let content_type = action.content_type.as_deref().unwrap_or("text/plain");
    page(status, content_type, action.body.clone().unwrap_or_default())
}

/// A redirect to `location` (301 or 302) with ALB's HTML body.
pub(crate) fn redirect(code: u16, location: &str) -> Page {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
    let mut page = error_page(status);
    page.location = HeaderValue::from_str(location).ok();
    page
}

fn page(status: StatusCode, content_type: &str, body: String) -> Page {
    Page {
        status,
        content_type: content_type.to_owned(),
        body: Bytes::from(body),
        location: None,
    }
}

impl Page {
    /// The page as hyper's server sends it.
    pub(crate) fn into_response(self) -> Response<ProxyBody> {
        let mut response = Response::new(full(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::SERVER, SERVER);
        if let Ok(value) = HeaderValue::from_str(&self.content_type) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(location) = self.location {
            headers.insert(header::LOCATION, location);
        }
        response
    }

    /// The page as an HTTP/1.1 answer, head and body (none for a HEAD
    /// request), with `Connection: close` when the connection ends after it.
    pub(crate) fn write_h1(&self, out: &mut BytesMut, head_only: bool, connection: respond::Connection) {
        respond::status_line(out, self.status, b"");
        out.extend_from_slice(b"server: awselb/2.0\r\n");
        respond::date(out);
        if HeaderValue::from_str(&self.content_type).is_ok() {
            out.extend_from_slice(b"content-type: ");
            out.extend_from_slice(self.content_type.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        respond::decimal(out, self.body.len() as u64);
        out.extend_from_slice(b"\r\n");
        if let Some(location) = &self.location {
            out.extend_from_slice(b"location: ");
            out.extend_from_slice(location.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        connection.write(out);
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}
