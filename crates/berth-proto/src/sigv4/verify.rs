//! Checking a parsed signature: the HMAC over the canonical request
//! ([`verify`], [`verify_for`]) and its time window ([`check_time`]).

use super::canonical::canonical_request_bytes;
use super::claims::{DeclaredPayload, HttpRequestParts, SignedRequest, UnsignedPayload, declared_payload};
use super::date::format_amz_date;
use super::error::SigV4Error;
use super::keys::{new_mac, signing_key, string_to_sign};
use super::names::{MAX_CLOCK_SKEW, MAX_PRESIGNED_EXPIRES_SECS, UNSIGNED_PAYLOAD, header_names};
use hmac::Mac;
use time::{Duration, OffsetDateTime};

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
