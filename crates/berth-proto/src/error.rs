//! The AWS error shape. Every internal error that reaches a client is turned
//! into an [`AwsError`] here, and the HTTP layer renders it (awsJson: a body
//! with `__type` and `message`; awsQuery: the `ErrorResponse` XML; rpcv2Cbor:
//! a CBOR map with `__type` and `message`).

use std::borrow::Cow;

/// An error as AWS reports it: a code (`__type`), a message and an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub code: Cow<'static, str>,
    pub message: String,
    pub status: u16,
    /// What went wrong inside Berth, for the log and never for the caller
    /// (see [`AwsError::state_store`]); the HTTP layer logs it where it
    /// answers with the 500.
    pub cause: Option<String>,
    /// For a service that keeps its awsQuery error codes on its JSON and
    /// CBOR protocols (`awsQueryCompatible`: CloudWatch): the error's shape
    /// name, written as `__type` there, while `code` goes in the
    /// `x-amzn-query-error: CODE;Sender` header the SDKs read the code from
    /// (and stays the code of the awsQuery `ErrorResponse`).
    pub query_compatible_type: Option<&'static str>,
}

impl AwsError {
    pub fn new(code: impl Into<Cow<'static, str>>, status: u16, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            status,
            cause: None,
            query_compatible_type: None,
        }
    }

    /// A state store failure: never the caller's fault, so a 500 with a
    /// generic message; the store's own words go to [`AwsError::cause`].
    /// Each crate that reads the store maps its errors through this at its
    /// own boundary (`.map_err(AwsError::state_store)`), so berth-proto
    /// needs no store.
    pub fn state_store(cause: impl std::fmt::Display) -> Self {
        let mut e = AwsError::server("An internal error occurred while accessing the state store. Try again.");
        e.cause = Some(cause.to_string());
        e
    }

    /// `true` for errors caused by the caller (4xx): `Sender` in awsQuery terms.
    pub fn is_client_fault(&self) -> bool {
        self.status < 500
    }

    // ---- generic, shared by every awsJson service ----
    pub fn unknown_operation(op: &str) -> Self {
        Self::new(
            "UnknownOperationException",
            400,
            format!("Operation {op} is not supported by this endpoint"),
        )
    }
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", 400, message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", 400, message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDeniedException", 400, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("InternalFailure", 500, message)
    }
    pub fn request_too_large(limit: usize) -> Self {
        Self::new(
            "RequestEntityTooLargeException",
            413,
            format!("Request body exceeds the limit of {limit} bytes"),
        )
    }

    // ---- authentication (SigV4) ----
    pub fn missing_authentication_token() -> Self {
        Self::new(
            "MissingAuthenticationTokenException",
            403,
            "Missing Authentication Token",
        )
    }
    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::new("IncompleteSignatureException", 400, message)
    }
    pub fn unrecognized_client() -> Self {
        Self::new(
            "UnrecognizedClientException",
            403,
            "The security token included in the request is invalid.",
        )
    }
    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new("InvalidSignatureException", 403, message)
    }
    pub fn signature_mismatch() -> Self {
        Self::invalid_signature(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    }
    pub fn expired_token() -> Self {
        Self::new(
            "ExpiredTokenException",
            403,
            "The security token included in the request is expired",
        )
    }

    /// The same authentication error as an awsQuery service (IAM, STS) names
    /// it: `MissingAuthenticationToken`, `InvalidClientTokenId`,
    /// `SignatureDoesNotMatch`, `IncompleteSignature`, `ExpiredToken`, all
    /// HTTP 403 but `IncompleteSignature` (400). Other errors are unchanged.
    pub fn in_query_protocol(self) -> Self {
        let (code, status): (&'static str, u16) = match self.code.as_ref() {
            "MissingAuthenticationTokenException" => ("MissingAuthenticationToken", 403),
            "UnrecognizedClientException" => ("InvalidClientTokenId", 403),
            "InvalidSignatureException" => ("SignatureDoesNotMatch", 403),
            "IncompleteSignatureException" => ("IncompleteSignature", 400),
            "ExpiredTokenException" => ("ExpiredToken", 403),
            _ => return self,
        };
        Self::new(code, status, self.message)
    }

    // ---- ECS (and other services that use the same names) ----
    pub fn client(message: impl Into<String>) -> Self {
        Self::new("ClientException", 400, message)
    }
    pub fn server(message: impl Into<String>) -> Self {
        Self::new("ServerException", 500, message)
    }
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", 400, message)
    }
    pub fn cluster_not_found(message: impl Into<String>) -> Self {
        Self::new("ClusterNotFoundException", 400, message)
    }
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", 400, message)
    }
    pub fn resource_in_use(message: impl Into<String>) -> Self {
        Self::new("ResourceInUseException", 400, message)
    }
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new("LimitExceededException", 400, message)
    }
    pub fn resource_already_exists(message: impl Into<String>) -> Self {
        Self::new("ResourceAlreadyExistsException", 400, message)
    }
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new("ServiceUnavailableException", 500, message)
    }
    pub fn service_not_found(message: impl Into<String>) -> Self {
        Self::new("ServiceNotFoundException", 400, message)
    }
    pub fn service_not_active(message: impl Into<String>) -> Self {
        Self::new("ServiceNotActiveException", 400, message)
    }
    pub fn service_deployment_not_found(message: impl Into<String>) -> Self {
        Self::new("ServiceDeploymentNotFoundException", 400, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new("ConflictException", 400, message)
    }

    // ---- KMS, SSM Parameter Store, Secrets Manager (berth-secrets) ----
    /// KMS `NotFoundException`, SSM `ParameterNotFound`, … : any 400 by code.
    pub fn code(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, 400, message)
    }
    pub fn kms_not_found(message: impl Into<String>) -> Self {
        Self::new("NotFoundException", 400, message)
    }
    pub fn kms_invalid_state(message: impl Into<String>) -> Self {
        Self::new("KMSInvalidStateException", 400, message)
    }
    pub fn invalid_ciphertext() -> Self {
        Self::new(
            "InvalidCiphertextException",
            400,
            "The ciphertext is invalid, was tampered with, or does not match the encryption context.",
        )
    }
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", 400, message)
    }

    /// The awsJson body: `{"__type": code, "message": message}`.
    pub fn to_json_body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "__type": self.json_type(), "message": self.message }))
            .unwrap_or_default()
    }

    /// The error's `__type` in JSON and CBOR: its shape name for an
    /// awsQuery-compatible service, else its code.
    pub fn json_type(&self) -> &str {
        self.query_compatible_type.unwrap_or(&self.code)
    }

    /// `x-amzn-query-error` (`CODE;Sender` or `CODE;Receiver`), for an
    /// awsQuery-compatible service's JSON and CBOR answers.
    pub fn query_error_header(&self) -> Option<String> {
        self.query_compatible_type?;
        let fault = if self.is_client_fault() { "Sender" } else { "Receiver" };
        Some(format!("{};{fault}", self.code))
    }

    /// The rpcv2Cbor body: a CBOR map `{"__type": code, "message": message}`.
    pub fn to_cbor_body(&self) -> Vec<u8> {
        crate::cbor::error_body(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_errors_in_the_query_protocol() {
        let q = |e: AwsError| {
            let e = e.in_query_protocol();
            (e.code.into_owned(), e.status)
        };
        assert_eq!(
            q(AwsError::missing_authentication_token()),
            ("MissingAuthenticationToken".into(), 403)
        );
        assert_eq!(q(AwsError::unrecognized_client()), ("InvalidClientTokenId".into(), 403));
        assert_eq!(q(AwsError::signature_mismatch()), ("SignatureDoesNotMatch".into(), 403));
        assert_eq!(
            q(AwsError::incomplete_signature("x")),
            ("IncompleteSignature".into(), 400)
        );
        assert_eq!(q(AwsError::expired_token()), ("ExpiredToken".into(), 403));
        let other = AwsError::validation("v");
        assert_eq!(other.clone().in_query_protocol(), other);
        assert_eq!(
            AwsError::unrecognized_client().in_query_protocol().message,
            "The security token included in the request is invalid."
        );
    }

    #[test]
    fn json_body_has_type_and_message() {
        let e = AwsError::client("bad");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json_body()).unwrap();
        assert_eq!(v["__type"], "ClientException");
        assert_eq!(v["message"], "bad");
        assert_eq!(e.status, 400);
    }
}
