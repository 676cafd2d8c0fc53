//! What the CloudWatch operations that name no resource are authorized on.

use berth_proto::AuthzResource;

/// `*` for `cloudwatch:<operation>`, with the condition keys given.
pub(crate) fn star(operation: &str, condition_keys: Vec<(String, String)>) -> Vec<AuthzResource> {
    vec![AuthzResource {
        arn: "*".into(),
        action: Some(format!("cloudwatch:{operation}")),
        condition_keys,
        ..AuthzResource::default()
    }]
}
