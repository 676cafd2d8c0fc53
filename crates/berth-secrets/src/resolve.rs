//! Resolves an ECS container secret (`valueFrom`) to its value: the server
//! side of secrets injection. The caller authorizes the read (with the
//! task's execution role) before calling.

use crate::rules::{self, SecretSource};
use crate::{SecretsManager, Ssm};
use berth_proto::{AwsError, JsonService, RequestContext};
use serde_json::json;

#[derive(Clone)]
pub struct SecretResolver {
    pub ssm: Ssm,
    pub secrets: SecretsManager,
}

impl SecretResolver {
    /// The value behind `value_from`, or the AWS error that kept it
    /// (ECS words it `ResourceInitializationError: unable to pull secrets or registry auth: …`).
    pub async fn resolve(&self, ctx: &RequestContext, value_from: &str) -> Result<String, AwsError> {
        match rules::parse_value_from(value_from).map_err(AwsError::invalid_parameter)? {
            SecretSource::Parameter(name) => {
                // As the ECS agent reads them (the permission AWS documents for execution roles).
                let out = self
                    .ssm
                    .call(ctx, "GetParameters", json!({ "Names": [name], "WithDecryption": true }))
                    .await?;
                match out["Parameters"].get(0) {
                    Some(p) => Ok(p["Value"].as_str().unwrap_or_default().to_string()),
                    None => Err(AwsError::code(
                        "ParameterNotFound",
                        format!("Parameter {name} not found."),
                    )),
                }
            }
            SecretSource::Secret {
                secret_id,
                json_key,
                version_stage,
                version_id,
            } => {
                let mut input = json!({ "SecretId": secret_id });
                if let Some(s) = version_stage {
                    input["VersionStage"] = json!(s);
                }
                if let Some(v) = version_id {
                    input["VersionId"] = json!(v);
                }
                let out = self.secrets.call(ctx, "GetSecretValue", input).await?;
                let Some(text) = out["SecretString"].as_str() else {
                    return Err(AwsError::invalid_request(format!(
                        "The secret {secret_id} holds a binary value; ECS injects only SecretString values."
                    )));
                };
                match json_key {
                    Some(k) => rules::json_key(text, &k).map_err(AwsError::invalid_request),
                    None => Ok(text.to_string()),
                }
            }
        }
    }
}
