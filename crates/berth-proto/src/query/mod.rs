//! The awsQuery protocol (IAM, STS; ELBv2 and the EC2 query dialect fit the
//! same pieces): `application/x-www-form-urlencoded` requests
//! (`Action=…&Version=…&Param=…`) decoded into typed inputs ([`de`]), typed
//! outputs serialized into the XML envelope ([`xml`]), and the service
//! contract and registry the listener dispatches through ([`service`]).

pub mod de;
mod input;
pub mod model;
pub mod operation;
pub mod service;
pub mod xml;

pub use de::from_query;
pub use input::QueryInput;
pub use operation::{QueryEntry, QueryOperation, QueryOperationService, QueryTable, query_entry};
pub use service::{QueryAuthz, QueryPrepared, QueryService, QueryServices, invalid_action};
pub use xml::{Dialect, Entries, Items, Members, QueryResult, UrlEncoded, XmlStyle, url_encode};

impl QueryInput {
    /// Decodes the form into the operation's typed input ([`de`]).
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::AwsError> {
        from_query(self)
    }
}
