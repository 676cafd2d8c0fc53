//! An HTTP/1 client's request head as the proxy reads it, pure: parsed with
//! `httparse` straight from the connection's read buffer into a
//! [`RequestHead`] that keeps the head's bytes and each field as spans of
//! them (no `HeaderMap`, no value copied); the headers the proxy acts on
//! (Host, Content-Length, Transfer-Encoding, Connection, Expect, Upgrade)
//! are read in the same pass. Its body's framing follows RFC 9112 §6.3; a
//! head the proxy cannot forward safely (a Transfer-Encoding that does not
//! end in chunked, Content-Length beside Transfer-Encoding, lengths that
//! disagree) is refused with a 400, as ALB refuses malformed requests.

use crate::fields::{Field, RawFields, text};
use crate::h1::{ConnectionTokens, parse_length};
use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode, Version};
use std::mem::MaybeUninit;

/// The longest request head read (ALB's limit for the whole head).
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// The most header fields a request may have.
const MAX_FIELDS: usize = 128;

/// Why a request head is refused (the connection then closes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("the request head is not HTTP/1.x: {0}")]
    Malformed(&'static str),
    #[error("the request head is longer than {MAX_HEAD} bytes")]
    TooLong,
    #[error("the request has more than {MAX_FIELDS} header fields")]
    TooManyFields,
    #[error("the request's body framing is ambiguous or invalid")]
    Framing,
}

impl HeadError {
    /// The status the load balancer answers with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            HeadError::TooManyFields => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLength {
    /// No body (none announced, or a Content-Length of 0).
    None,
    /// Content-Length bytes.
    Length(u64),
    /// The chunked coding.
    Chunked,
}

/// A span of the head's bytes.
type Span = (u32, u32);

/// A request head read from a client.
#[derive(Debug)]
pub(crate) struct RequestHead {
    raw: Bytes,
    pub(crate) method: Method,
    pub(crate) version: Version,
    /// The request target as sent.
    target: Span,
    /// Where the path starts in the target (after `scheme://authority`
    /// for an absolute-form target; none: the path is `/`).
    path_start: Option<u32>,
    /// The authority of an absolute-form target.
    authority: Option<Span>,
    fields: Vec<Field>,
    /// The first Host field's value.
    host: Option<Span>,
    /// The Upgrade field's value.
    upgrade: Option<Span>,
    pub(crate) body: BodyLength,
    pub(crate) connection: ConnectionTokens,
    /// A Connection field names a header besides close, keep-alive and
    /// upgrade (to drop before forwarding).
    names_others: bool,
    /// Has any hop-by-hop field (a forwarding slow path).
    hop_by_hop: bool,
    /// `Expect: 100-continue`.
    pub(crate) expects_continue: bool,
}

/// Parses a request head at the start of `buf`: none while it is
/// incomplete; when complete, the head (its bytes taken from `buf`).
/// Empty lines before a request line are skipped (RFC 9112 §2.2).
pub(crate) fn parse_request_head(buf: &mut BytesMut) -> Result<Option<RequestHead>, HeadError> {
    let blank = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    if blank > 0 {
        let _ = buf.split_to(blank);
    }
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut parsed = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut parsed, buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLong),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyFields),
        Err(_) => return Err(HeadError::Malformed("invalid request line or header")),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLong);
    }
    let head: &[u8] = buf;
    let span = |s: &[u8]| {
        let start = s.as_ptr() as usize - head.as_ptr() as usize;
        (start as u32, (start + s.len()) as u32)
    };
    let method = parsed.method.ok_or(HeadError::Malformed("no method"))?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Malformed("invalid method"))?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let target = parsed.path.ok_or(HeadError::Malformed("no request target"))?;
    let (path_start, authority) = split_target(target).ok_or(HeadError::Malformed("invalid request target"))?;
    let target_span = span(target.as_bytes());
    let mut request = RequestHead {
        raw: Bytes::new(),
        method,
        version,
        target: target_span,
        path_start: path_start.map(|p| target_span.0 + p as u32),
        authority: authority.map(|(s, e)| (target_span.0 + s as u32, target_span.0 + e as u32)),
        fields: Vec::with_capacity(parsed.headers.len()),
        host: None,
        upgrade: None,
        body: BodyLength::None,
        connection: ConnectionTokens::default(),
        names_others: false,
        hop_by_hop: false,
        expects_continue: false,
    };
    let mut length: Option<u64> = None;
    let mut chunked: Option<bool> = None;
    for h in parsed.headers.iter() {
        let (name, value) = (h.name.as_bytes(), h.value);
        request.fields.push(Field::within(head, name, value));
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                request.host.get_or_insert(span(value));
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                // A list of equal lengths ("5, 5") is one length.
                for part in value.split(|&b| b == b',') {
                    let n = parse_length(trim(part)).ok_or(HeadError::Framing)?;
                    if length.is_some_and(|l| l != n) {
                        return Err(HeadError::Framing);
                    }
                    length = Some(n);
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                request.hop_by_hop = true;
                // The codings of every field in order: the last one counts.
                if let Some(last) = value.rsplit(|&b| b == b',').map(trim).find(|c| !c.is_empty()) {
                    chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
                }
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                request.hop_by_hop = true;
                for token in value.split(|&b| b == b',').map(trim) {
                    if token.eq_ignore_ascii_case(b"upgrade") {
                        request.connection.upgrade = true;
                    } else if !request.connection.read_token(token) {
                        request.names_others = true;
                    }
                }
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                request.expects_continue |= trim(value).eq_ignore_ascii_case(b"100-continue");
            }
            7 if name.eq_ignore_ascii_case(b"upgrade") => {
                request.hop_by_hop = true;
                request.upgrade.get_or_insert(span(value));
            }
            _ if is_hop_by_hop(name) => request.hop_by_hop = true,
            _ => {}
        }
    }
    request.body = match (chunked, length) {
        (Some(_), Some(_)) => return Err(HeadError::Framing),
        (Some(true), None) => BodyLength::Chunked,
        (Some(false), None) => return Err(HeadError::Framing),
        (None, Some(0) | None) => BodyLength::None,
        (None, Some(n)) => BodyLength::Length(n),
    };
    request.raw = buf.split_to(len).freeze();
    Ok(Some(request))
}

/// Where a request target's parts are (offsets in it).
type TargetParts = (Option<usize>, Option<(usize, usize)>);

/// Where an origin-form target's path starts (0), or an absolute-form
/// one's (after its authority; none when it has no path) and its
/// authority's span; `*` (OPTIONS) is its own path.
fn split_target(target: &str) -> Option<TargetParts> {
    if target.starts_with('/') || target == "*" {
        return Some((Some(0), None));
    }
    let rest_at = target.find("://")? + 3;
    let rest = &target[rest_at..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    let path = (end < rest.len()).then_some(rest_at + end);
    Some((path, Some((rest_at, rest_at + end))))
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// Fields that belong to one connection, not to the message (the
/// Connection field may name more).
pub(crate) fn is_hop_by_hop(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 7] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    ];
    NAMES
        .iter()
        .any(|n| n.len() == name.len() && n.eq_ignore_ascii_case(name))
}

impl RequestHead {
    fn slice(&self, (start, end): Span) -> &[u8] {
        self.raw.get(start as usize..end as usize).unwrap_or_default()
    }

    fn str(&self, span: Span) -> &str {
        // The target and the fields were checked by the parser; a
        // non-UTF-8 byte in them reads as nothing rather than panicking.
        std::str::from_utf8(self.slice(span)).unwrap_or_default()
    }

    /// The path and query to forward (origin form).
    pub(crate) fn path_and_query(&self) -> &str {
        match self.path_start {
            Some(start) => self.str((start, self.target.1)),
            None => "/",
        }
    }

    /// The path, without the query.
    pub(crate) fn path(&self) -> &str {
        let pq = self.path_and_query();
        pq.split_once('?').map_or(pq, |(p, _)| p)
    }

    pub(crate) fn query(&self) -> Option<&str> {
        self.path_and_query().split_once('?').map(|(_, q)| q)
    }

    /// The Host field, else an absolute-form target's authority.
    pub(crate) fn host(&self) -> Option<&str> {
        match self.host {
            Some(span) => text(self.slice(span)),
            None => self.authority.map(|span| self.str(span)),
        }
    }

    /// Whether the head has a Host field.
    pub(crate) fn has_host_field(&self) -> bool {
        self.host.is_some()
    }

    /// Its fields, for the rules and the stickiness cookies.
    pub(crate) fn fields(&self) -> RawFields<'_> {
        RawFields::new(&self.raw, &self.fields)
    }

    /// The fields that go to the target: all but the hop-by-hop ones and
    /// those the Connection field names.
    pub(crate) fn forwarded_fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let slow = self.hop_by_hop;
        let fields = self.fields();
        fields
            .iter()
            .filter(move |(name, _)| !slow || !(is_hop_by_hop(name) || (self.names_others && self.named(name))))
    }

    /// Whether a Connection field names `name`.
    fn named(&self, name: &[u8]) -> bool {
        self.fields()
            .values("connection")
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|token| trim(token).eq_ignore_ascii_case(name))
    }

    /// The client keeps the connection open after this request (HTTP/1.1
    /// unless it says close; HTTP/1.0 only when it asks to).
    pub(crate) fn keep_alive(&self) -> bool {
        if self.version == Version::HTTP_10 {
            self.connection.keep_alive && !self.connection.close
        } else {
            !self.connection.close
        }
    }

    /// The protocol an HTTP/1.1 request asks to switch to (`Connection:
    /// upgrade` with an `Upgrade` field), as WebSocket clients do.
    pub(crate) fn upgrade(&self) -> Option<&[u8]> {
        if self.version != Version::HTTP_11 || !self.connection.upgrade {
            return None;
        }
        self.upgrade.map(|span| self.slice(span))
    }
}

#[cfg(test)]
mod tests;
