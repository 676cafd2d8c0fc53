//! The Secrets Manager reads of ECR pull-through cache rules. ECR reads a
//! rule's `credentialArn` with its service-linked role, which may read the
//! secrets named `ecr-pullthroughcache/…` (the only names the model lets a
//! rule give); Berth reads them as the region's account does.

use berth_proto::{JsonService, RequestContext};
use berth_registry::pull_through::{SecretError, SecretReader};
use futures::FutureExt;
use serde_json::json;
use std::sync::Arc;

/// The region's Secrets Manager as the registry's secret reader.
pub(super) fn secret_reader(secrets: berth_secrets::SecretsManager, region: &str, account: &str) -> SecretReader {
    let (region, account) = (region.to_string(), account.to_string());
    Arc::new(move |arn: String| {
        let secrets = secrets.clone();
        let ctx = RequestContext::root(&account, &region);
        async move {
            let out = secrets
                .call(&ctx, "GetSecretValue", json!({ "SecretId": arn }))
                .await
                .map_err(|e| match e.code.as_ref() {
                    "ResourceNotFoundException" => {
                        SecretError::NotFound(format!("The secret {arn} does not exist: {}", e.message))
                    }
                    "DecryptionFailure"
                    | "KMSInvalidStateException"
                    | "DisabledException"
                    | "InvalidCiphertextException" => {
                        SecretError::Undecryptable(format!("The secret {arn} could not be decrypted: {}", e.message))
                    }
                    _ => SecretError::Unreadable(format!("The secret {arn} could not be read: {}", e.message)),
                })?;
            out["SecretString"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| SecretError::Unreadable(format!("The secret {arn} holds no SecretString.")))
        }
        .boxed()
    })
}
