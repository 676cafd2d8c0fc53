//! Test support: the check that a table test covers every routed
//! operation, and customer managed keys with an alias moved between them,
//! through the KMS API.

use crate::Kms;
use berth_proto::{JsonService, RequestContext};
use serde_json::json;

/// A new customer managed key: (key id, key ARN).
pub(crate) async fn new_key(kms: &Kms, ctx: &RequestContext) -> (String, String) {
    let out = kms.call(ctx, "CreateKey", json!({})).await.unwrap();
    let m = &out["KeyMetadata"];
    (
        m["KeyId"].as_str().unwrap().to_string(),
        m["Arn"].as_str().unwrap().to_string(),
    )
}

/// Points `alias` at the key `key_id` (deleting the alias first if it exists).
pub(crate) async fn point_alias(kms: &Kms, ctx: &RequestContext, alias: &str, key_id: &str) {
    let _ = kms.call(ctx, "DeleteAlias", json!({"AliasName": alias})).await;
    kms.call(ctx, "CreateAlias", json!({"AliasName": alias, "TargetKeyId": key_id}))
        .await
        .unwrap();
}

/// A table test has a case for every routed operation, and for nothing else.
pub(crate) fn assert_every_routed_operation_has_a_case<'a>(
    mut routed: Vec<&'a str>,
    covered: impl IntoIterator<Item = &'a str>,
) {
    let mut covered: Vec<&str> = covered.into_iter().collect();
    covered.sort();
    covered.dedup();
    routed.sort();
    assert_eq!(routed, covered, "every routed operation has a case");
}
