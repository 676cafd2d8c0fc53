//! AWS wire protocols shared by every Berth service: protocol detection
//! ([`protocol`]), awsJson ([`service`], [`json`]), awsQuery ([`query`]),
//! rpcv2Cbor ([`cbor`]), one typed service over several of them ([`bridge`]), the error shape, SigV4 verification and pagination tokens.

pub mod bridge;
pub mod cbor;
pub mod direct;
pub mod error;
pub mod form;
pub mod json;
pub mod json_len;
pub mod operation;
pub mod pagination;
pub mod protocol;
pub mod query;
pub mod service;
pub mod sigv4;
pub mod timestamp;
pub mod validate;

pub use error::AwsError;
pub use service::{AuthzResource, JsonService, JsonServiceInfo, OwnAuthorizer, Prepared, Principal, RequestContext};
