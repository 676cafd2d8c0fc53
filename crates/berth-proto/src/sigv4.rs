//! AWS Signature Version 4 (SigV4): verification of incoming requests and
//! signing of outgoing ones (Berth's own agent client, benchmarks, tests).
//!
//! The algorithm is AWS's documented SigV4 as the AWS SDKs (botocore,
//! aws-sdk-rust) apply it to non-S3 services:
//!
//! * **Canonical URI**: the path *as received* (still percent-encoded) is
//!   normalized — empty and `.` segments dropped, `..` pops the previous
//!   segment, a trailing slash is kept — and then URI-encoded once more
//!   ("double encoding": `%20` in the raw path becomes `%2520`). An empty path
//!   is `/`.
//! * **Canonical query**: every name and value is percent-decoded (`+` is read
//!   as a space, as form encoding does) and re-encoded with the RFC 3986
//!   unreserved set (`A-Z a-z 0-9 - _ . ~`); pairs are sorted by encoded name,
//!   then encoded value. Presigned requests leave out `X-Amz-Signature`.
//! * **Canonical headers**: the signed headers only, lowercase names, values
//!   trimmed with inner runs of spaces collapsed, repeated headers joined with
//!   `,`, sorted by name. `host` must be signed.
//! * **Payload hash**: the `x-amz-content-sha256` header when present (a hex
//!   digest must then equal the body's; `UNSIGNED-PAYLOAD` only where the
//!   [`Endpoint`] allows it — never on the AWS APIs, see [`verify_for`]),
//!   otherwise the server-computed hash of the body. Presigned requests are
//!   accepted with either the body's hash (what the SDKs presign for non-S3
//!   services) or, where allowed, `UNSIGNED-PAYLOAD` (what S3-style
//!   presigners, including [`presign`], use).
//! * **Endpoint rules** ([`check_claims`]): the credential scope names the
//!   service called and one of its regions, and every `x-amz-*` header
//!   present is signed (`host` always is).
//! * **Time**: a header-signed request must be within 15 minutes of the
//!   server's clock; a presigned one is valid from `X-Amz-Date` (with the same
//!   15 minutes of skew) until `X-Amz-Date + X-Amz-Expires` (at most a week).
//!
//! Verification is split in two so the caller can look the key up in between:
//! [`parse`] extracts what the request claims (access key, scope, ...), the
//! caller finds the secret for `access_key_id` (and answers
//! `UnrecognizedClientException` itself when there is none), checks the
//! endpoint's rules with [`check_claims`], then calls [`verify_for`]
//! (or [`verify`], which allows `UNSIGNED-PAYLOAD`).
//! Every [`SigV4Error`] converts into the matching [`AwsError`].
//!
//! Nothing here panics on hostile input: non-UTF-8 header values, invalid
//! percent-escapes, empty or huge strings all end in an error or a mismatch.

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::AwsError;

type HmacSha256 = Hmac<Sha256>;

/// The only signing algorithm Berth accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash a client uses when it does not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of the empty string.
pub const EMPTY_PAYLOAD_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// How far a header-signed request's timestamp may be from the server's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(15);
/// The longest `X-Amz-Expires` AWS allows: one week.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 604_800;
/// The last element of every credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";

/// Header names (lowercase, as [`http::HeaderMap`] stores them).
pub mod header_names {
    pub const AUTHORIZATION: &str = "authorization";
    pub const HOST: &str = "host";
    pub const DATE: &str = "date";
    pub const X_AMZ_DATE: &str = "x-amz-date";
    pub const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
    pub const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
}

/// Query-string parameter names of the presigned form.
pub mod query_params {
    pub const ALGORITHM: &str = "X-Amz-Algorithm";
    pub const CREDENTIAL: &str = "X-Amz-Credential";
    pub const DATE: &str = "X-Amz-Date";
    pub const EXPIRES: &str = "X-Amz-Expires";
    pub const SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
    pub const SIGNATURE: &str = "X-Amz-Signature";
    pub const SECURITY_TOKEN: &str = "X-Amz-Security-Token";
}

/// Headers [`sign`] never signs: they are added or rewritten by HTTP stacks
/// and proxies (or, for `authorization`, are the signature itself).
const UNSIGNABLE_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// Longest piece of client input echoed back in an error message.
const ECHO_LIMIT: usize = 256;

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/// The parts of an incoming HTTP request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestParts<'a> {
    pub method: &'a str,
    /// The path exactly as received, still percent-encoded, e.g. `/v2/foo/blobs/uploads/`.
    pub raw_path: &'a str,
    /// The query string as received, without `?`; may be empty.
    pub raw_query: &'a str,
    /// The request headers. Over HTTP/2 the caller must put the `:authority`
    /// into `host` first: SigV4 signs it under that name.
    pub headers: &'a HeaderMap,
    /// Hex SHA-256 of the body, as computed by the server.
    pub payload_sha256_hex: &'a str,
}

/// What a request claims about its signature, as found by [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub access_key_id: String,
    /// `yyyymmdd` from the credential scope.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// `yyyymmddThhmmssZ`: `X-Amz-Date`, or the `Date` header rewritten in that form.
    pub amz_date: String,
    pub timestamp: OffsetDateTime,
    /// Lowercase names, as listed by the client.
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// `X-Amz-Security-Token` (header, or query parameter).
    pub session_token: Option<String>,
    /// Signed in the query string rather than the `Authorization` header.
    pub presigned: bool,
    /// `X-Amz-Expires` of a presigned request.
    pub expires_secs: Option<u64>,
}

impl SignedRequest {
    /// `date/region/service/aws4_request`.
    pub fn credential_scope(&self) -> String {
        credential_scope(&self.scope_date, &self.region, &self.service)
    }

    /// Checks that the credential is scoped to this endpoint's region and
    /// service, with AWS's messages (note the trailing space AWS leaves).
    pub fn check_scope(&self, region: &str, service: &str) -> Result<(), SigV4Error> {
        if self.region != region {
            return Err(SigV4Error::WrongScope(WRONG_REGION.into()));
        }
        if self.service != service {
            return Err(SigV4Error::WrongScope(wrong_service(service)));
        }
        Ok(())
    }
}

const WRONG_REGION: &str = "Credential should be scoped to a valid region. ";

fn wrong_service(service: &str) -> String {
    format!("Credential should be scoped to correct service: '{service}'. ")
}

/// What an endpoint accepts of a signature, besides a correct HMAC: the
/// signing name and regions of its credential scope, and whether the body
/// may be left unsigned (`x-amz-content-sha256: UNSIGNED-PAYLOAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint<'a> {
    /// The signing name the scope must carry (`ecs`, `iam`, …); `None`
    /// accepts any (a request whose service is not known yet, refused later).
    pub service: Option<&'a str>,
    /// The regions the scope may name (the server's; IAM and STS also
    /// accept `us-east-1`, the signing region of their global endpoints).
    pub regions: &'a [&'a str],
    /// Whether `UNSIGNED-PAYLOAD` is accepted (never on the AWS APIs).
    pub unsigned_payload: UnsignedPayload,
}

/// Whether an endpoint accepts a body the signature does not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsignedPayload {
    Refused,
    Allowed,
}

impl<'a> Endpoint<'a> {
    /// A service endpoint that requires a signed payload.
    pub fn new(service: &'a str, regions: &'a [&'a str]) -> Self {
        Self {
            service: Some(service),
            regions,
            unsigned_payload: UnsignedPayload::Refused,
        }
    }

    pub fn allowing_unsigned_payload(mut self) -> Self {
        self.unsigned_payload = UnsignedPayload::Allowed;
        self
    }
}

/// What `x-amz-content-sha256` declares about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclaredPayload {
    /// No header: the signature covers the body's hash, computed by the server.
    Absent,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// A hex SHA-256 (lowercase) the body must hash to.
    Sha256(String),
}

/// Reads `x-amz-content-sha256` (at most one, a hex SHA-256 or `UNSIGNED-PAYLOAD`).
pub fn declared_payload(headers: &HeaderMap) -> Result<DeclaredPayload, SigV4Error> {
    let mut declared = headers.get_all(header_names::X_AMZ_CONTENT_SHA256).iter();
    match (declared.next(), declared.next()) {
        (Some(_), Some(_)) => Err(SigV4Error::Incomplete(
            "The request has more than one x-amz-content-sha256 header.".into(),
        )),
        (None, _) => Ok(DeclaredPayload::Absent),
        (Some(value), None) => {
            let Ok(value) = value.to_str() else {
                return Err(SigV4Error::InvalidContentSha256(echo(&String::from_utf8_lossy(
                    value.as_bytes(),
                ))));
            };
            let value = value.trim();
            if value == UNSIGNED_PAYLOAD {
                Ok(DeclaredPayload::Unsigned)
            } else if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(DeclaredPayload::Sha256(value.to_ascii_lowercase()))
            } else {
                Err(SigV4Error::InvalidContentSha256(echo(value)))
            }
        }
    }
}

/// The rules an endpoint applies to a signature's claims before (and
/// besides) checking the HMAC, all from the headers alone:
///
/// * the credential scope names the endpoint's service and one of its regions;
/// * every `x-amz-*` header present is signed (`x-amz-date`,
///   `x-amz-target`, `x-amz-security-token`, `x-amz-content-sha256`, …), and
///   so is `Date` when it dates the request (`host` is checked by [`parse`]);
/// * `UNSIGNED-PAYLOAD` only where the endpoint allows it (a presigned
///   request is then checked against the body's hash only, in [`verify_for`]).
pub fn check_claims(
    req: &HttpRequestParts<'_>,
    signed: &SignedRequest,
    endpoint: &Endpoint<'_>,
) -> Result<(), SigV4Error> {
    if !endpoint.regions.contains(&signed.region.as_str()) {
        return Err(SigV4Error::WrongScope(WRONG_REGION.into()));
    }
    if let Some(service) = endpoint.service
        && signed.service != service
    {
        return Err(SigV4Error::WrongScope(wrong_service(service)));
    }
    let is_signed = |name: &str| signed.signed_headers.iter().any(|h| h == name);
    let mut unsigned: Vec<String> = req
        .headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|name| name.starts_with("x-amz-") && !is_signed(name))
        .map(str::to_owned)
        .collect();
    if !signed.presigned
        && !req.headers.contains_key(header_names::X_AMZ_DATE)
        && req.headers.contains_key(header_names::DATE)
        && !is_signed(header_names::DATE)
    {
        unsigned.push(header_names::DATE.to_owned());
    }
    if !unsigned.is_empty() {
        unsigned.sort();
        unsigned.dedup();
        return Err(SigV4Error::UnsignedHeaders(unsigned.join(", ")));
    }
    if endpoint.unsigned_payload == UnsignedPayload::Refused
        && declared_payload(req.headers)? == DeclaredPayload::Unsigned
    {
        return Err(SigV4Error::UnsignedPayloadRefused);
    }
    Ok(())
}

/// Why a request's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header and no presigned query parameters.
    #[error("Missing Authentication Token")]
    Missing,
    /// The signature information is malformed or incomplete; the message says how.
    #[error("{0}")]
    Incomplete(String),
    /// Another scheme than `AWS4-HMAC-SHA256` (SigV2, SigV4a, bearer tokens, ...).
    #[error("Unsupported AWS 'algorithm': '{0}'. Only 'AWS4-HMAC-SHA256' (Signature Version 4) is supported.")]
    UnsupportedAlgorithm(String),
    /// The request is too old (or a presigned request is past its expiry).
    #[error("{message}")]
    Expired { message: String },
    /// The request is dated too far in the future.
    #[error("{message}")]
    NotYetValid { message: String },
    /// The credential scope names another region or service ([`SignedRequest::check_scope`]).
    #[error("{0}")]
    WrongScope(String),
    /// `x-amz-content-sha256` is neither a SHA-256 hex digest nor `UNSIGNED-PAYLOAD`.
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 hex digest, not '{0}'.")]
    InvalidContentSha256(String),
    /// `x-amz-content-sha256` does not match the body.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    /// The signature does not match the one computed with the secret key.
    #[error("The request signature we calculated does not match the signature you provided.")]
    Mismatch,
    /// `x-amz-*` headers (or the dating `Date`) are present but not signed ([`check_claims`]).
    #[error("There were headers present in the request which were not signed: {0}. Sign every x-amz-* header.")]
    UnsignedHeaders(String),
    /// `UNSIGNED-PAYLOAD` where the endpoint requires the body to be signed ([`check_claims`]).
    #[error(
        "x-amz-content-sha256: UNSIGNED-PAYLOAD is not accepted by this endpoint; sign the SHA-256 of the request body."
    )]
    UnsignedPayloadRefused,
}

impl From<SigV4Error> for AwsError {
    fn from(e: SigV4Error) -> Self {
        match e {
            SigV4Error::Missing => AwsError::missing_authentication_token(),
            SigV4Error::Incomplete(_) | SigV4Error::UnsupportedAlgorithm(_) | SigV4Error::InvalidContentSha256(_) => {
                AwsError::incomplete_signature(e.to_string())
            }
            SigV4Error::Expired { message } | SigV4Error::NotYetValid { message } | SigV4Error::WrongScope(message) => {
                AwsError::invalid_signature(message)
            }
            SigV4Error::ContentSha256Mismatch | SigV4Error::UnsignedHeaders(_) | SigV4Error::UnsignedPayloadRefused => {
                AwsError::invalid_signature(e.to_string())
            }
            SigV4Error::Mismatch => AwsError::signature_mismatch(),
        }
    }
}

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

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Extracts the signature claims of a request, in either the header form
/// (`Authorization: AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..`,
/// dated by `X-Amz-Date` or `Date`) or the presigned query form
/// (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
/// `X-Amz-SignedHeaders`, `X-Amz-Signature`).
pub fn parse(req: &HttpRequestParts<'_>) -> Result<SignedRequest, SigV4Error> {
    let query = decode_query(req.raw_query);
    let presigned = query
        .iter()
        .any(|(name, _)| name.as_slice() == query_params::ALGORITHM.as_bytes());
    let mut authorization = req.headers.get_all(header_names::AUTHORIZATION).iter();
    let first = authorization.next();
    let second = authorization.next();

    if presigned {
        if first.is_some() {
            return Err(SigV4Error::Incomplete(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the \
                 Authorization header should be specified."
                    .into(),
            ));
        }
        return parse_presigned(req, &query);
    }
    match (first, second) {
        (None, _) => {
            let has = |name: &str| query.iter().any(|(n, _)| n.as_slice() == name.as_bytes());
            if has("AWSAccessKeyId") && has("Signature") {
                return Err(SigV4Error::UnsupportedAlgorithm("AWS Signature Version 2".into()));
            }
            Err(SigV4Error::Missing)
        }
        (Some(value), None) => parse_header_form(req, value, &query),
        (Some(_), Some(_)) => Err(SigV4Error::Incomplete(
            "The request has more than one Authorization header.".into(),
        )),
    }
}

fn parse_header_form(
    req: &HttpRequestParts<'_>,
    value: &HeaderValue,
    query: &[(Vec<u8>, Vec<u8>)],
) -> Result<SignedRequest, SigV4Error> {
    let Ok(text) = value.to_str() else {
        return Err(SigV4Error::Incomplete(
            "The Authorization header contains characters that are not visible ASCII.".into(),
        ));
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(SigV4Error::Missing);
    }
    let (algorithm, rest) = text.split_once([' ', '\t']).unwrap_or((text, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(echo(algorithm)));
    }

    let mut problems: Vec<String> = Vec::new();
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for item in rest.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            problems.push(format!(
                "Invalid key=value pair (missing equal-sign) in Authorization header: '{}'.",
                echo(item)
            ));
            continue;
        };
        let key = key.trim();
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.is_some() {
            problems.push(format!("Authorization header has a duplicate '{key}' parameter."));
        } else {
            *slot = Some(value.trim());
        }
    }
    for (name, found) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if found.is_none() {
            problems.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    // `X-Amz-Date` wins over `Date`; the flag says which one was found.
    let date = match req.headers.get(header_names::X_AMZ_DATE) {
        Some(v) => Some((v, true)),
        None => req.headers.get(header_names::DATE).map(|v| (v, false)),
    };
    if date.is_none() {
        problems.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into());
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some((date, is_amz_date)), true) =
        (credential, signed_headers, signature, date, problems.is_empty())
    else {
        return Err(SigV4Error::Incomplete(format!(
            "{} Authorization={}",
            problems.join(" "),
            echo(text)
        )));
    };

    let (amz_date, timestamp) = if is_amz_date {
        let s = date.to_str().unwrap_or_default();
        let t = parse_amz_date(s).ok_or_else(|| bad_date(date))?;
        (s.to_owned(), t)
    } else {
        let t = date
            .to_str()
            .ok()
            .and_then(parse_http_date)
            .ok_or_else(|| bad_date(date))?;
        (format_amz_date(t), t)
    };

    let session_token = match req.headers.get(header_names::X_AMZ_SECURITY_TOKEN) {
        Some(v) => Some(v.to_str().map(str::to_owned).map_err(|_| {
            SigV4Error::Incomplete(
                "The X-Amz-Security-Token header contains characters that are not visible ASCII.".into(),
            )
        })?),
        None => single_param(query, query_params::SECURITY_TOKEN)?.map(str::to_owned),
    };
    build_signed(
        credential,
        signed_headers,
        signature,
        amz_date,
        timestamp,
        session_token,
        false,
        None,
    )
}

fn parse_presigned(req: &HttpRequestParts<'_>, query: &[(Vec<u8>, Vec<u8>)]) -> Result<SignedRequest, SigV4Error> {
    let algorithm = single_param(query, query_params::ALGORITHM)?;
    let credential = single_param(query, query_params::CREDENTIAL)?;
    let signature = single_param(query, query_params::SIGNATURE)?;
    let signed_headers = single_param(query, query_params::SIGNED_HEADERS)?;
    let date = single_param(query, query_params::DATE)?;
    let expires = single_param(query, query_params::EXPIRES)?;

    let missing: Vec<String> = [
        (query_params::ALGORITHM, algorithm.is_some()),
        (query_params::CREDENTIAL, credential.is_some()),
        (query_params::SIGNATURE, signature.is_some()),
        (query_params::SIGNED_HEADERS, signed_headers.is_some()),
        (query_params::DATE, date.is_some()),
    ]
    .iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| format!("'{name}'"))
    .collect();
    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(date)) =
        (algorithm, credential, signature, signed_headers, date)
    else {
        return Err(SigV4Error::Incomplete(format!(
            "AWS query-string parameters must include {}. Re-examine the query-string parameters.",
            missing.join(", ")
        )));
    };
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(echo(algorithm)));
    }
    let timestamp = parse_amz_date(date).ok_or_else(|| {
        SigV4Error::Incomplete(format!(
            "X-Amz-Date must be in ISO-8601 'basic format' (yyyymmddThhmmssZ). Got '{}'.",
            echo(date)
        ))
    })?;
    let expires_secs = match expires {
        None => None,
        Some(raw) => {
            let secs = parse_digits(raw.as_bytes())
                .ok_or_else(|| SigV4Error::Incomplete("X-Amz-Expires should be a number".into()))?;
            if secs > MAX_PRESIGNED_EXPIRES_SECS {
                return Err(SigV4Error::Incomplete(format!(
                    "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
                )));
            }
            Some(secs)
        }
    };
    let session_token = match single_param(query, query_params::SECURITY_TOKEN)? {
        Some(token) => Some(token.to_owned()),
        None => req
            .headers
            .get(header_names::X_AMZ_SECURITY_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    build_signed(
        credential,
        signed_headers,
        signature,
        date.to_owned(),
        timestamp,
        session_token,
        true,
        expires_secs,
    )
}

#[allow(clippy::too_many_arguments)]
fn build_signed(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: String,
    timestamp: OffsetDateTime,
    session_token: Option<String>,
    presigned: bool,
    expires_secs: Option<u64>,
) -> Result<SignedRequest, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::Incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            echo(credential)
        )));
    };
    if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
        return Err(SigV4Error::Incomplete(format!(
            "Credential has an empty access key, region or service: '{}'",
            echo(credential)
        )));
    }
    if *terminator != SCOPE_TERMINATOR {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}', not '{}'.",
            echo(terminator)
        )));
    }
    let http_date = amz_date.get(..8).unwrap_or_default();
    if *scope_date != http_date {
        return Err(SigV4Error::Incomplete(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            echo(scope_date),
            http_date,
            amz_date
        )));
    }

    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if !signed_headers.iter().any(|h| h == header_names::HOST) {
        return Err(SigV4Error::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }

    Ok(SignedRequest {
        access_key_id: (*access_key_id).to_owned(),
        scope_date: (*scope_date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        amz_date,
        timestamp,
        signed_headers,
        signature: signature.trim().to_owned(),
        session_token,
        presigned,
        expires_secs,
    })
}

/// The value of a query parameter that may appear at most once.
fn single_param<'q>(query: &'q [(Vec<u8>, Vec<u8>)], name: &str) -> Result<Option<&'q str>, SigV4Error> {
    let mut found = query.iter().filter(|(n, _)| n.as_slice() == name.as_bytes());
    let first = found.next();
    if found.next().is_some() {
        return Err(SigV4Error::Incomplete(format!(
            "Duplicate query-string parameter '{name}'."
        )));
    }
    first
        .map(|(_, value)| {
            std::str::from_utf8(value)
                .map_err(|_| SigV4Error::Incomplete(format!("Query-string parameter '{name}' is not valid UTF-8.")))
        })
        .transpose()
}

fn bad_date(value: &HeaderValue) -> SigV4Error {
    let shown = String::from_utf8_lossy(value.as_bytes());
    SigV4Error::Incomplete(format!(
        "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
        echo(&shown)
    ))
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// Verifies a request's signature against the secret key of
/// `signed.access_key_id`, at server time `now`.
///
/// Checks, in order: the time window, the payload hash, then the signature
/// (in constant time).
pub fn verify(
    req: &HttpRequestParts<'_>,
    signed: &SignedRequest,
    secret_access_key: &str,
    now: OffsetDateTime,
) -> Result<(), SigV4Error> {
    verify_for(req, signed, secret_access_key, now, UnsignedPayload::Allowed)
}

/// [`verify`] with the endpoint's payload rule: where `UNSIGNED-PAYLOAD` is
/// [`UnsignedPayload::Refused`], the header is refused and a presigned
/// request must have signed the body's hash.
pub fn verify_for(
    req: &HttpRequestParts<'_>,
    signed: &SignedRequest,
    secret_access_key: &str,
    now: OffsetDateTime,
    unsigned_payload: UnsignedPayload,
) -> Result<(), SigV4Error> {
    check_time(signed, now)?;
    if !signed
        .signed_headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case(header_names::HOST))
    {
        return Err(SigV4Error::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let payload_hashes = payload_hash_candidates(req, signed.presigned, unsigned_payload)?;
    let Some(provided) = decode_signature(&signed.signature) else {
        return Err(SigV4Error::Mismatch);
    };
    let scope = signed.credential_scope();
    let key = signing_key(secret_access_key, &signed.scope_date, &signed.region, &signed.service);
    let mut matched = false;
    for payload_hash in payload_hashes {
        let creq = canonical_request_bytes(req, &signed.signed_headers, payload_hash, signed.presigned);
        let sts = string_to_sign(&signed.amz_date, &scope, &creq);
        let mut mac = new_mac(&key);
        mac.update(sts.as_bytes());
        // `verify_slice` compares in constant time.
        matched |= mac.verify_slice(&provided).is_ok();
    }
    if matched { Ok(()) } else { Err(SigV4Error::Mismatch) }
}

/// Checks the request's date against `now` (15 minutes of skew; a presigned
/// request until its expiry).
pub fn check_time(signed: &SignedRequest, now: OffsetDateTime) -> Result<(), SigV4Error> {
    let ts = signed.timestamp;
    if let Some(latest) = now.checked_add(MAX_CLOCK_SKEW).filter(|latest| ts > *latest) {
        return Err(SigV4Error::NotYetValid {
            message: format!(
                "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                signed.amz_date,
                format_amz_date(latest),
                format_amz_date(now)
            ),
        });
    }
    let (window, window_text) = match signed.expires_secs.filter(|_| signed.presigned) {
        Some(expires) if expires > MAX_PRESIGNED_EXPIRES_SECS => {
            return Err(SigV4Error::Incomplete(format!(
                "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
            )));
        }
        // At most a week: the cast is exact.
        Some(expires) => (Duration::seconds(expires as i64), format!("{expires} sec.")),
        None => (MAX_CLOCK_SKEW, "15 min.".to_owned()),
    };
    if let Some(earliest) = now.checked_sub(window).filter(|earliest| ts < *earliest) {
        return Err(SigV4Error::Expired {
            message: format!(
                "Signature expired: {} is now earlier than {} ({} - {window_text})",
                signed.amz_date,
                format_amz_date(earliest),
                format_amz_date(now)
            ),
        });
    }
    Ok(())
}

/// The payload hashes the client may have signed.
fn payload_hash_candidates<'r>(
    req: &HttpRequestParts<'r>,
    presigned: bool,
    unsigned_payload: UnsignedPayload,
) -> Result<Vec<&'r str>, SigV4Error> {
    let allowed = unsigned_payload == UnsignedPayload::Allowed;
    match declared_payload(req.headers)? {
        DeclaredPayload::Unsigned if allowed => Ok(vec![UNSIGNED_PAYLOAD]),
        DeclaredPayload::Unsigned => Err(SigV4Error::UnsignedPayloadRefused),
        // The header's own spelling is what the client signed.
        DeclaredPayload::Sha256(value) if value.eq_ignore_ascii_case(req.payload_sha256_hex) => {
            let raw = req
                .headers
                .get(header_names::X_AMZ_CONTENT_SHA256)
                .and_then(|v| v.to_str().ok())
                .map_or(req.payload_sha256_hex, str::trim);
            Ok(vec![raw])
        }
        DeclaredPayload::Sha256(_) => Err(SigV4Error::ContentSha256Mismatch),
        DeclaredPayload::Absent if presigned && allowed => Ok(vec![req.payload_sha256_hex, UNSIGNED_PAYLOAD]),
        DeclaredPayload::Absent => Ok(vec![req.payload_sha256_hex]),
    }
}

fn decode_signature(signature: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(signature, &mut out).ok()?;
    Some(out)
}

// ---------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------

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

fn canonical_request_bytes<S: AsRef<str>>(
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
fn decode_query(raw_query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
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

/// `date/region/service/aws4_request`.
pub fn credential_scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/{SCOPE_TERMINATOR}")
}

/// `AWS4-HMAC-SHA256 \n amz_date \n scope \n hex(sha256(canonical_request))`.
pub fn string_to_sign(amz_date: &str, credential_scope: &str, canonical_request: impl AsRef<[u8]>) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{credential_scope}\n{}",
        sha256_hex(canonical_request.as_ref())
    )
}

/// The SigV4 signing key: HMAC chain over date, region, service and `aws4_request`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_secret = format!("AWS4{secret_access_key}");
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, SCOPE_TERMINATOR.as_bytes())
}

/// Hex HMAC-SHA256 of the string to sign under the signing key.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

/// `yyyymmddThhmmssZ` in UTC (sub-seconds dropped).
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses exactly `yyyymmddThhmmssZ`.
pub fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    build_datetime(
        parse_digits(&b[0..4])?,
        parse_digits(&b[4..6])?,
        parse_digits(&b[6..8])?,
        parse_digits(&b[9..11])?,
        parse_digits(&b[11..13])?,
        parse_digits(&b[13..15])?,
    )
}

/// Parses an HTTP `Date` in IMF-fixdate form: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.trim().as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || &b[25..] != b" GMT" {
        return None;
    }
    if b[19] != b':' || b[22] != b':' {
        return None;
    }
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == &b[8..11])? as u64 + 1;
    build_datetime(
        parse_digits(&b[12..16])?,
        month,
        parse_digits(&b[5..7])?,
        parse_digits(&b[17..19])?,
        parse_digits(&b[20..22])?,
        parse_digits(&b[23..25])?,
    )
}

fn build_datetime(year: u64, month: u64, day: u64, hour: u64, minute: u64, second: u64) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// A non-empty run of ASCII digits (at most 19, so it fits a `u64`).
fn parse_digits(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')))
}

/// Client input shortened for an error message.
fn echo(s: &str) -> String {
    if s.chars().count() <= ECHO_LIMIT {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(ECHO_LIMIT).collect();
        out.push_str("...");
        out
    }
}

// ---------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------

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

#[cfg(test)]
mod tests;
