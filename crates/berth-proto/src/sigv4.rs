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

mod canonical;
mod claims;
mod date;
mod error;
mod keys;
mod names;
mod parse;
mod sign;
mod verify;

pub use canonical::{canonical_query_string, canonical_request, canonical_uri, uri_encode};
pub use claims::{
    DeclaredPayload, Endpoint, HttpRequestParts, SignedRequest, UnsignedPayload, check_claims, declared_payload,
};
pub use date::{format_amz_date, parse_amz_date};
pub use error::SigV4Error;
pub use keys::{credential_scope, sha256_hex, signature, signing_key, string_to_sign};
pub use names::{
    ALGORITHM, EMPTY_PAYLOAD_SHA256, MAX_CLOCK_SKEW, MAX_PRESIGNED_EXPIRES_SECS, SCOPE_TERMINATOR, UNSIGNED_PAYLOAD,
    header_names, query_params,
};
pub use parse::{header_scope_region, parse};
pub use sign::{Credentials, PayloadSigning, SigningParams, presign, sign, sign_with};
pub use verify::{check_time, verify, verify_for};

#[cfg(test)]
mod tests;
