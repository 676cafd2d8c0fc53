//! Why a signature was not accepted ([`SigV4Error`]), and the AWS error each
//! reason becomes.

use super::names::ECHO_LIMIT;
use crate::AwsError;

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

/// Client input shortened for an error message.
pub(super) fn echo(s: &str) -> String {
    if s.chars().count() <= ECHO_LIMIT {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(ECHO_LIMIT).collect();
        out.push_str("...");
        out
    }
}
