//! The canonical request: URI, query string, headers and payload hash as
//! AWS's SigV4 documentation builds them.

use super::claims::HttpRequestParts;
use super::names::query_params;

/// The canonical request, as a string (header values that are not UTF-8 are
/// shown lossily here; signing and verification hash the exact bytes).
///
/// `signed_headers` are header names in any case and order; `presigned` drops
/// `X-Amz-Signature` from the canonical query.
pub fn canonical_request<S: AsRef<str>>(
    req: &HttpRequestParts<'_>,
    signed_headers: &[S],
    payload_hash: &str,
    presigned: bool,
) -> String {
    String::from_utf8_lossy(&canonical_request_bytes(req, signed_headers, payload_hash, presigned)).into_owned()
}

pub(super) fn canonical_request_bytes<S: AsRef<str>>(
    req: &HttpRequestParts<'_>,
    signed_headers: &[S],
    payload_hash: &str,
    presigned: bool,
) -> Vec<u8> {
    let mut names: Vec<String> = signed_headers
        .iter()
        .map(|h| h.as_ref().trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    names.sort();
    names.dedup();

    let mut out = Vec::with_capacity(256 + req.raw_path.len() * 2 + req.raw_query.len() * 2);
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.raw_path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query_string(req.raw_query, presigned).as_bytes());
    out.push(b'\n');
    for name in &names {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        // An invalid header name finds nothing rather than panicking.
        for (i, value) in req.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_header_value(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(names.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// Appends a header value trimmed, with runs of spaces and tabs collapsed to one space.
fn push_header_value(out: &mut Vec<u8>, value: &[u8]) {
    let mut started = false;
    let mut pending_space = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// The canonical URI of a raw (still percent-encoded) path: normalized, then encoded again.
pub fn canonical_uri(raw_path: &str) -> String {
    uri_encode(normalize_path(raw_path).as_bytes(), false)
}

/// Removes empty, `.` and `..` segments; keeps a leading and a trailing slash
/// (the way aws-sdk-rust normalizes, which agrees with the published suite).
fn normalize_path(raw: &str) -> String {
    if raw.is_empty() {
        return "/".to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(raw.len() + 1);
    out.push('/');
    out.push_str(&segments.join("/"));
    let trailing = ["/", "/.", "/.."].iter().any(|end| raw.ends_with(end));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query string of a raw query string.
pub fn canonical_query_string(raw_query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = decode_query(raw_query)
        .into_iter()
        .filter(|(name, _)| !(presigned && name.as_slice() == query_params::SIGNATURE.as_bytes()))
        .map(|(name, value)| (uri_encode(&name, true), uri_encode(&value, true)))
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(raw_query.len() * 2);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Splits a raw query string into percent-decoded (name, value) pairs
/// (`+` decodes to a space; a piece without `=` has an empty value).
pub(super) fn decode_query(raw_query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    crate::form::decode_bytes(raw_query)
}

/// URI-encodes per SigV4: the RFC 3986 unreserved characters stay, every
/// other byte becomes `%XY` (uppercase hex); `/` stays unless `encode_slash`.
pub fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (b == b'/' && !encode_slash) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0x0f)] as char);
        }
    }
    out
}
