//! SigV4's fixed names: the algorithm, the header and query parameter names,
//! the payload markers and the limits.

use time::Duration;

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
pub(super) const UNSIGNABLE_HEADERS: &[&str] = &[
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
pub(super) const ECHO_LIMIT: usize = 256;
