//! The head of an answer to an HTTP/1 client, pure: written straight into
//! the client connection's output buffer from the target's parsed head
//! (its status, reason and fields copied as they came, but the hop-by-hop
//! ones) and the proxy's own lines (stickiness cookies, a Date when the
//! target sent none, the framing and the connection's fate). The body is
//! framed for the client: as the target framed it when it gave a length,
//! else chunked (an HTTP/1.1 client) or until the connection closes (an
//! HTTP/1.0 one).

use crate::h1::ResponseHead;
use crate::request::is_hop_by_hop;
use bytes::BytesMut;
use http::StatusCode;
use std::cell::RefCell;
use std::time::SystemTime;

/// How the answer's body goes to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientFraming {
    /// As the target framed it: its Content-Length (or no body at all).
    AsIs,
    /// Chunked (the target's body has no length; an HTTP/1.1 client).
    Chunked,
    /// Until the connection closes (the same, to an HTTP/1.0 client).
    UntilClose,
}

/// What becomes of the client connection after the answer, as its head
/// says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connection {
    /// Kept (HTTP/1.1's default: nothing written).
    Kept,
    /// Kept for an HTTP/1.0 client that asked: `Connection: keep-alive`.
    KeptAsAsked,
    /// Closed after this answer: `Connection: close`.
    Close,
}

impl Connection {
    pub(crate) fn write(self, out: &mut BytesMut) {
        match self {
            Connection::Kept => {}
            Connection::KeptAsAsked => out.extend_from_slice(b"connection: keep-alive\r\n"),
            Connection::Close => out.extend_from_slice(b"connection: close\r\n"),
        }
    }
}

/// `HTTP/1.1 CODE REASON` (the status's own reason when `reason` is empty).
pub(crate) fn status_line(out: &mut BytesMut, status: StatusCode, reason: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b" ");
    if reason.is_empty() {
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    } else {
        out.extend_from_slice(reason);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the head of the target's answer for the client.
pub(crate) fn write_answer_head(
    out: &mut BytesMut,
    head: &ResponseHead,
    cookies: &[String],
    framing: ClientFraming,
    connection: Connection,
) {
    status_line(out, head.status, head.reason());
    let fields = head.fields();
    // A Connection field still among the fields names others to drop.
    let named = fields.values("connection").next().is_some();
    let mut dated = false;
    for (name, value) in fields.iter() {
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"date") => dated = true,
            14 if framing != ClientFraming::AsIs && name.eq_ignore_ascii_case(b"content-length") => continue,
            _ => {}
        }
        if is_hop_by_hop(name) || (named && names(&fields, name)) {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !dated {
        date(out);
    }
    for cookie in cookies {
        out.extend_from_slice(b"set-cookie: ");
        out.extend_from_slice(cookie.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    connection.write(out);
    if framing == ClientFraming::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether a Connection field of `fields` names `name`.
fn names(fields: &crate::fields::RawFields<'_>, name: &[u8]) -> bool {
    fields
        .values("connection")
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(name))
}

/// `n` in decimal.
pub(crate) fn decimal(out: &mut BytesMut, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

thread_local! {
    /// The Date line of the current second, formatted once per second per
    /// thread.
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

/// A `date:` line for now (RFC 9110's IMF-fixdate).
pub(crate) fn date(out: &mut BytesMut) {
    let now = SystemTime::now();
    let secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, line)| {
        if *at != secs {
            *at = secs;
            line.clear();
            line.extend_from_slice(b"date: ");
            line.extend_from_slice(crate::sticky::http_date(now).as_bytes());
            line.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
    });
}

/// One chunk of a chunked body to the client: its size line, data, CRLF.
pub(crate) fn write_chunk(out: &mut BytesMut, data: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = data.len();
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
