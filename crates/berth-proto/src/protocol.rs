//! Which AWS protocol a request speaks, told from its headers alone, and
//! the error shape each answers in. The codecs live with each protocol:
//! awsJson in [`crate::json`] (and [`crate::service`]), awsQuery in
//! [`crate::query`], rpcv2Cbor in [`crate::cbor`].

use crate::AwsError;
use crate::query::XmlStyle;
use http::HeaderMap;
use http::header::CONTENT_TYPE;

/// How the caller speaks, so answers and errors come back in a shape it parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson 1.0 or 1.1 (the content type answered): `X-Amz-Target:
    /// <prefix>.<Operation>` or an `application/x-amz-json-*` body.
    Json(&'static str),
    /// awsQuery: an `application/x-www-form-urlencoded` body with
    /// `Action` and `Version` (also what anything else is taken for).
    Query,
    /// rpcv2Cbor: `smithy-protocol: rpc-v2-cbor`, the operation in the path.
    Cbor,
}

impl Protocol {
    /// Tells the protocol from the request headers.
    pub fn detect(headers: &HeaderMap) -> Protocol {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let ct = header(CONTENT_TYPE.as_str()).unwrap_or("");
        if header(crate::cbor::PROTOCOL_HEADER)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(crate::cbor::PROTOCOL_VALUE))
        {
            Protocol::Cbor
        } else if headers.contains_key("x-amz-target") || ct.starts_with("application/x-amz-json") {
            if ct.starts_with("application/x-amz-json-1.0") {
                Protocol::Json("application/x-amz-json-1.0")
            } else {
                Protocol::Json("application/x-amz-json-1.1")
            }
        } else {
            Protocol::Query
        }
    }

    /// The content type of an error answer.
    pub fn error_content_type(self) -> &'static str {
        match self {
            Protocol::Json(ct) => ct,
            Protocol::Query => "text/xml",
            Protocol::Cbor => crate::cbor::CONTENT_TYPE,
        }
    }

    /// An error's body; `style` is that of the awsQuery service answering
    /// (unused by the other protocols).
    pub fn error_body(self, e: &AwsError, request_id: &str, style: XmlStyle) -> Vec<u8> {
        match self {
            Protocol::Json(_) => e.to_json_body(),
            Protocol::Query => crate::query::xml::error_response(e, style, request_id).into_bytes(),
            Protocol::Cbor => e.to_cbor_body(),
        }
    }

    /// Authentication errors as this protocol names them (awsQuery:
    /// `InvalidClientTokenId`, `SignatureDoesNotMatch`, …).
    pub fn authentication_error(self, e: AwsError) -> AwsError {
        match self {
            Protocol::Query => e.in_query_protocol(),
            Protocol::Json(_) | Protocol::Cbor => e,
        }
    }

    /// A body that cannot be read as sent (a `Content-Encoding` not known,
    /// or bytes not in it): awsQuery's `MalformedQueryString` (as for a form
    /// that is not UTF-8), the JSON and CBOR protocols' `SerializationException`.
    pub fn malformed_body(self, message: impl Into<String>) -> AwsError {
        match self {
            Protocol::Query => AwsError::new("MalformedQueryString", 400, message),
            Protocol::Json(_) | Protocol::Cbor => AwsError::serialization(message),
        }
    }

    /// Too many request bodies at once: AWS's throttling error, by this
    /// protocol's name for it.
    pub fn throttling(self) -> AwsError {
        let code = match self {
            Protocol::Query => "Throttling",
            Protocol::Json(_) | Protocol::Cbor => "ThrottlingException",
        };
        AwsError::new(
            code,
            400,
            "Too many request bodies are being received at once; retry shortly.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn detects_each_protocol() {
        let json11 = Protocol::Json("application/x-amz-json-1.1");
        assert_eq!(Protocol::detect(&headers(&[("x-amz-target", "A.B")])), json11);
        assert_eq!(
            Protocol::detect(&headers(&[("content-type", "application/x-amz-json-1.0")])),
            Protocol::Json("application/x-amz-json-1.0")
        );
        assert_eq!(
            Protocol::detect(&headers(&[("content-type", "application/x-www-form-urlencoded")])),
            Protocol::Query
        );
        assert_eq!(Protocol::detect(&headers(&[])), Protocol::Query);
        assert_eq!(
            Protocol::detect(&headers(&[
                ("smithy-protocol", "rpc-v2-cbor"),
                ("content-type", "application/cbor")
            ])),
            Protocol::Cbor
        );
    }

    #[test]
    fn errors_in_each_shape() {
        let e = AwsError::new("NoSuchEntity", 404, "gone");
        let ns = XmlStyle::query("https://iam.amazonaws.com/doc/2010-05-08/");
        let json: serde_json::Value =
            serde_json::from_slice(&Protocol::Json("application/x-amz-json-1.1").error_body(&e, "r", ns)).unwrap();
        assert_eq!(json["__type"], "NoSuchEntity");
        let xml = String::from_utf8(Protocol::Query.error_body(&e, "r", ns)).unwrap();
        assert!(xml.starts_with("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"));
        let cbor: std::collections::BTreeMap<String, String> =
            crate::cbor::decode(&Protocol::Cbor.error_body(&e, "r", ns)).unwrap();
        assert_eq!(cbor["__type"], "NoSuchEntity");
        assert_eq!(Protocol::Query.throttling().code, "Throttling");
        assert_eq!(Protocol::Cbor.throttling().code, "ThrottlingException");
        assert_eq!(
            Protocol::Query
                .authentication_error(AwsError::unrecognized_client())
                .code,
            "InvalidClientTokenId"
        );
        assert_eq!(Protocol::Cbor.error_content_type(), "application/cbor");
    }
}
