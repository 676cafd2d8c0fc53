//! What a signed request claims ([`SignedRequest`]) and what an endpoint
//! accepts of it ([`Endpoint`], [`check_claims`]).

use super::error::{SigV4Error, echo};
use super::keys::credential_scope;
use super::names::{UNSIGNED_PAYLOAD, header_names};
use http::{HeaderMap, HeaderName};
use time::OffsetDateTime;

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
