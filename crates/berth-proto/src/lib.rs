//! AWS wire protocols shared by every Berth service: the error shape, the
//! awsJson service contract, SigV4 verification and pagination tokens.

pub mod error;
pub mod form;
pub mod json;
pub mod pagination;
pub mod query;
pub mod service;
pub mod sigv4;

pub use error::AwsError;
pub use service::{AuthzResource, JsonService, Prepared, Principal, RequestContext};
