//! Smithy RPC v2 CBOR (`smithy.protocols#rpcv2Cbor`), which current SDKs
//! choose first for the services that offer it (CloudWatch, Cloud Map).
//!
//! - Request: `POST …/service/{ServiceName}/operation/{OperationName}` with
//!   `smithy-protocol: rpc-v2-cbor`; the body, when the input has members,
//!   is one CBOR map (`Content-Type: application/cbor`); an empty body is
//!   an empty input.
//! - Response: `smithy-protocol: rpc-v2-cbor`, `application/cbor`, the
//!   output as one CBOR map; an error is a map with `__type` (the error's
//!   shape name) and `message`, HTTP 400 for a client fault, 500 otherwise.
//! - Blobs are CBOR byte strings; timestamps are tag 1 (epoch seconds,
//!   integer or float): [`EpochSeconds`].
//!
//! The codec is ciborium (serde); [`CborService`] and [`CborServices`] are
//! the contract and registry the listener routes through, by service name.

use crate::{AwsError, RequestContext};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// The header (and its value) that marks an rpcv2Cbor request and answer.
pub const PROTOCOL_HEADER: &str = "smithy-protocol";
pub const PROTOCOL_VALUE: &str = "rpc-v2-cbor";
pub const CONTENT_TYPE: &str = "application/cbor";

/// `(service, operation)` of an rpcv2Cbor path: its last four segments are
/// `service/{ServiceName}/operation/{OperationName}`.
pub fn route(path: &str) -> Option<(&str, &str)> {
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let operation = segments.next()?;
    let operation_word = segments.next()?;
    let service = segments.next()?;
    let service_word = segments.next()?;
    let ok = operation_word == "operation" && service_word == "service" && !service.is_empty() && !operation.is_empty();
    ok.then_some((service, operation))
}

/// The operation's input from the body (an empty body is an empty map).
/// A body that is not a CBOR map of the input's shape is the client's
/// `SerializationException`.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let empty = [0xa0u8]; // the empty map
    let bytes = if body.is_empty() { &empty[..] } else { body };
    ciborium::from_reader(bytes).map_err(|e| AwsError::serialization(format!("Request body is not valid CBOR: {e}")))
}

/// The output as the response body.
pub fn encode<T: Serialize>(output: &T) -> Result<Vec<u8>, AwsError> {
    let mut out = Vec::new();
    ciborium::into_writer(output, &mut out)
        .map_err(|e| AwsError::internal(format!("failed to encode the response: {e}")))?;
    Ok(out)
}

/// An error's body: `{"__type": code, "message": message}` (the shape name
/// for an awsQuery-compatible service: [`AwsError::json_type`]).
pub fn error_body(e: &AwsError) -> Vec<u8> {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        #[serde(rename = "__type")]
        code: &'a str,
        message: &'a str,
    }
    encode(&ErrorBody {
        code: e.json_type(),
        message: &e.message,
    })
    .unwrap_or_default()
}

/// The error for a service or operation the server does not have (HTTP 404,
/// as a smithy server answers a path it cannot route).
pub fn unknown_operation(service: &str, operation: &str) -> AwsError {
    AwsError::new(
        "UnknownOperationException",
        404,
        format!("Operation {operation} of service {service} is not supported by this endpoint"),
    )
}

/// A timestamp on the wire: CBOR tag 1 around epoch seconds (written as a
/// float when it has a fraction; an integer or a float reads).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochSeconds(pub f64);

impl Serialize for EpochSeconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            ciborium::tag::Required::<i64, 1>(self.0 as i64).serialize(s)
        } else {
            ciborium::tag::Required::<f64, 1>(self.0).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for EpochSeconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Number {
            Int(i64),
            Float(f64),
        }
        let ciborium::tag::Required::<Number, 1>(n) = Deserialize::deserialize(d)?;
        Ok(EpochSeconds(match n {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }))
    }
}

/// A service spoken over rpcv2Cbor, named by its smithy service shape
/// (`GraniteServiceVersion20100801` for CloudWatch).
#[async_trait]
pub trait CborService: Send + Sync + 'static {
    /// The service shape's name, as in the request path.
    fn service_name(&self) -> &'static str;
    /// The SigV4 signing name.
    fn signing_name(&self) -> &'static str;
    /// Takes one request over, once: decoded ([`decode`]), validated and
    /// prepared, so that authorization and the run share the one decoding.
    /// An error here (an operation it does not have: [`unknown_operation`];
    /// a body that does not decode) is the answer. `note` is shown the
    /// input as JSON, validated, before the service takes it over (the
    /// audit trail's requestParameters are taken from it then, no copy is
    /// kept); a service whose input does not read as JSON does not call it.
    async fn prepare<'a>(
        &'a self,
        ctx: &'a RequestContext,
        operation: &'a str,
        body: &[u8],
        note: &mut (dyn for<'v> FnMut(&'v serde_json::Value) + Send),
    ) -> Result<Box<dyn CborPrepared + 'a>, AwsError>;
    /// What a request that cannot be prepared (an input that does not
    /// decode, an operation not routed) is authorized on before its error
    /// is answered, so that a caller without the permission learns nothing
    /// of the input: `*` by default.
    fn undecoded_resources(&self, _operation: &str) -> Vec<crate::AuthzResource> {
        vec![crate::AuthzResource::untagged("*")]
    }
}

/// One rpcv2Cbor request taken over by [`CborService::prepare`].
#[async_trait]
pub trait CborPrepared: Send {
    /// The resources `<signing_name>:<operation>` is authorized on (each
    /// with its tags); `*` when not resource-scoped.
    async fn resources(&self) -> Vec<crate::AuthzResource>;
    /// Runs the operation and answers its CBOR output ([`encode`]).
    async fn run(self: Box<Self>) -> Result<Vec<u8>, AwsError>;
}

/// The registered rpcv2Cbor services, by service name.
#[derive(Clone, Default)]
pub struct CborServices {
    by_name: HashMap<&'static str, Arc<dyn CborService>>,
}

impl CborServices {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn register(&mut self, service: Arc<dyn CborService>) {
        self.by_name.insert(service.service_name(), service);
    }
    pub fn get(&self, service_name: &str) -> Option<&Arc<dyn CborService>> {
        self.by_name.get(service_name)
    }
}

#[cfg(test)]
#[path = "cbor_tests.rs"]
mod tests;
