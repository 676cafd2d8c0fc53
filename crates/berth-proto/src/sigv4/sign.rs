//! Signing and presigning outgoing requests ([`sign`], [`presign`]) with
//! [`Credentials`].

use super::canonical::{canonical_request_bytes, uri_encode};
use super::claims::HttpRequestParts;
use super::date::format_amz_date;
use super::keys::{credential_scope, sha256_hex, signature, signing_key, string_to_sign};
use super::names::{
    ALGORITHM, MAX_PRESIGNED_EXPIRES_SECS, UNSIGNABLE_HEADERS, UNSIGNED_PAYLOAD, header_names, query_params,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use time::OffsetDateTime;

/// Credentials to sign with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the payload line of a signed request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadSigning {
    /// The hex SHA-256 of the body.
    #[default]
    Hash,
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
}

/// Everything [`sign_with`] and [`presign`] need besides the request itself.
#[derive(Debug, Clone)]
pub struct SigningParams<'a> {
    pub credentials: &'a Credentials,
    pub region: &'a str,
    pub service: &'a str,
    pub time: OffsetDateTime,
    /// Ignored by [`presign`], which always signs `UNSIGNED-PAYLOAD`.
    pub payload: PayloadSigning,
    /// Also send (and sign) `x-amz-content-sha256` with the payload hash.
    pub content_sha256_header: bool,
}

impl<'a> SigningParams<'a> {
    pub fn new(credentials: &'a Credentials, region: &'a str, service: &'a str, time: OffsetDateTime) -> Self {
        Self {
            credentials,
            region,
            service,
            time,
            payload: PayloadSigning::Hash,
            content_sha256_header: false,
        }
    }
}

/// Signs a request and returns the headers to add: `authorization`,
/// `x-amz-date` and, if the credentials have one, `x-amz-security-token`.
///
/// Every header in `headers` is signed except the ones HTTP stacks rewrite
/// (`user-agent`, `expect`, `transfer-encoding`, `connection`, ...). The
/// `host` header must be in `headers` (it is signed even when missing, so a
/// forgotten one shows up as a signature mismatch, not as a silently unsigned
/// host). `raw_path` and `raw_query` are what will be sent on the wire, i.e.
/// already percent-encoded.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    creds: &Credentials,
    region: &str,
    service: &str,
    now: OffsetDateTime,
) -> Vec<(String, String)> {
    sign_with(
        method,
        raw_path,
        raw_query,
        headers,
        body,
        &SigningParams::new(creds, region, service, now),
    )
}

/// [`sign`] with options: unsigned payload, an `x-amz-content-sha256` header
/// (returned, in that case, after `x-amz-date`).
pub fn sign_with(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    params: &SigningParams<'_>,
) -> Vec<(String, String)> {
    let amz_date = format_amz_date(params.time);
    let scope_date = amz_date.get(..8).unwrap_or_default().to_owned();
    let payload_hash = match params.payload {
        PayloadSigning::Hash => sha256_hex(body),
        PayloadSigning::Unsigned => UNSIGNED_PAYLOAD.to_owned(),
    };

    let mut all = headers.clone();
    let mut added: Vec<(String, String)> = vec![(header_names::X_AMZ_DATE.to_owned(), amz_date.clone())];
    if params.content_sha256_header {
        added.push((header_names::X_AMZ_CONTENT_SHA256.to_owned(), payload_hash.clone()));
    }
    if let Some(token) = &params.credentials.session_token {
        added.push((header_names::X_AMZ_SECURITY_TOKEN.to_owned(), token.clone()));
    }
    for (name, value) in &added {
        all.remove(name.as_str());
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            all.insert(name, value);
        }
    }

    let mut names: Vec<String> = all
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| !UNSIGNABLE_HEADERS.contains(&name.as_str()))
        .collect();
    if !names.iter().any(|n| n == header_names::HOST) {
        names.push(header_names::HOST.to_owned());
    }
    names.sort();

    let parts = HttpRequestParts {
        method,
        raw_path,
        raw_query,
        headers: &all,
        payload_sha256_hex: &payload_hash,
    };
    let creq = canonical_request_bytes(&parts, &names, &payload_hash, false);
    let scope = credential_scope(&scope_date, params.region, params.service);
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let key = signing_key(
        &params.credentials.secret_access_key,
        &scope_date,
        params.region,
        params.service,
    );
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={}",
        params.credentials.access_key_id,
        names.join(";"),
        signature(&key, &sts)
    );
    let mut out = Vec::with_capacity(added.len() + 1);
    out.push((header_names::AUTHORIZATION.to_owned(), authorization));
    out.extend(added);
    out
}

/// Presigns a request: returns the query string to send (the original
/// `raw_query` followed by the `X-Amz-*` parameters, `X-Amz-Signature` last).
///
/// Only `host` (from `headers`) is signed, and the payload is
/// `UNSIGNED-PAYLOAD`; `expires_secs` is capped at a week.
pub fn presign(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    params: &SigningParams<'_>,
    expires_secs: u64,
) -> String {
    let amz_date = format_amz_date(params.time);
    let scope_date = amz_date.get(..8).unwrap_or_default().to_owned();
    let scope = credential_scope(&scope_date, params.region, params.service);
    let expires = expires_secs.min(MAX_PRESIGNED_EXPIRES_SECS).to_string();
    let credential = format!("{}/{scope}", params.credentials.access_key_id);

    let mut query = raw_query.to_owned();
    let mut add = |name: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&uri_encode(value.as_bytes(), true));
    };
    add(query_params::ALGORITHM, ALGORITHM);
    add(query_params::CREDENTIAL, &credential);
    add(query_params::DATE, &amz_date);
    add(query_params::EXPIRES, &expires);
    if let Some(token) = &params.credentials.session_token {
        add(query_params::SECURITY_TOKEN, token);
    }
    add(query_params::SIGNED_HEADERS, header_names::HOST);

    let parts = HttpRequestParts {
        method,
        raw_path,
        raw_query: &query,
        headers,
        payload_sha256_hex: UNSIGNED_PAYLOAD,
    };
    let creq = canonical_request_bytes(&parts, &[header_names::HOST], UNSIGNED_PAYLOAD, true);
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let key = signing_key(
        &params.credentials.secret_access_key,
        &scope_date,
        params.region,
        params.service,
    );
    query.push('&');
    query.push_str(query_params::SIGNATURE);
    query.push('=');
    query.push_str(&signature(&key, &sts));
    query
}
