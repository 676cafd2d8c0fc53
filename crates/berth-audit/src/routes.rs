//! The registration table: every CloudTrail operation Berth routes, with
//! its typed path ([`berth_proto::operation`]). An operation not in it is
//! `UnknownOperationException`; one in it is authorized on what its
//! resources say. LookupEvents is not resource-scoped in AWS (the Service
//! Authorization Reference lists no resource type for it): `*`, stated by
//! the operation rather than left to a default.

use crate::lookup::{CloudTrail, LookupEvents};
use berth_proto::operation::{Table, entry};

/// Every operation Berth routes.
pub(crate) static OPERATIONS: Table<CloudTrail> = Table(&[entry::<CloudTrail, LookupEvents>()]);

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
