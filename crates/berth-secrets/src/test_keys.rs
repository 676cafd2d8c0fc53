//! Test support: customer managed keys and an alias moved between them,
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
