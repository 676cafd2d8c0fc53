//! The registration table: every CloudTrail operation Berth routes, with
//! its typed path ([`berth_proto::operation`]). An operation not in it is
//! `UnknownOperationException`; one in it is authorized on what its
//! resources say. LookupEvents is not resource-scoped in AWS (the Service
//! Authorization Reference lists no resource type for it): `*`, stated by
//! the operation rather than left to a default.

use crate::TARGET_PREFIX;
use crate::lookup::{CloudTrail, LookupEvents};
use async_trait::async_trait;
use berth_proto::operation::{OperationService, Table, entry};
use berth_proto::{JsonServiceInfo, RequestContext};

/// Every operation Berth routes.
pub(crate) static OPERATIONS: Table<CloudTrail> = Table(&[entry::<CloudTrail, LookupEvents>()]);

#[async_trait]
impl JsonServiceInfo for CloudTrail {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        "cloudtrail"
    }
}

impl OperationService for CloudTrail {
    /// CloudTrail's one operation names no resource.
    type Scope = ();

    fn scope(&self, _ctx: &RequestContext) {}

    fn table() -> &'static Table<CloudTrail> {
        &OPERATIONS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_routed_operation_is_mapped() {
        assert_eq!(OPERATIONS.names(), ["LookupEvents"]);
        for op in OPERATIONS.names() {
            let r = OPERATIONS.resources_of(&(), op, json!({})).unwrap().unwrap();
            let arns: Vec<_> = r.iter().map(|r| r.arn.as_str()).collect();
            assert_eq!(arns, ["*"], "{op}");
        }
        assert!(OPERATIONS.resources_of(&(), "CreateTrail", json!({})).is_none());
    }
}
