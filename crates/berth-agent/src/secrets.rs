//! Container `secrets` and `logConfiguration.secretOptions`: each
//! `valueFrom` (an SSM parameter name or ARN, or a Secrets Manager ARN with
//! the `:json-key:version-stage:version-id` suffixes) is read from the
//! control plane at task start and becomes an environment variable (or a
//! log driver option). Values are never logged.

use crate::client::ApiClient;
use crate::model::ContainerDefinition;
use berth_secrets::rules::{self, SecretSource};
use serde_json::{Value, json};
use std::collections::HashMap;

/// How ECS words a task that cannot get its secrets.
pub fn failure_reason(detail: &str) -> String {
    format!(
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: {detail}"
    )
}

/// One container's resolved secrets.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Resolved {
    /// Environment variables (name, value).
    pub env: Vec<(String, String)>,
    /// Log driver options (name, value).
    pub log_options: Vec<(String, String)>,
}

/// The secrets of every container that has any, by container name.
/// The error is the task's stop reason.
pub async fn resolve(
    api: Option<&ApiClient>,
    defs: &[ContainerDefinition],
) -> Result<HashMap<String, Resolved>, String> {
    let mut out = HashMap::new();
    for def in defs {
        let mut r = Resolved::default();
        for s in def.secrets.iter().flatten() {
            r.env.push(resolve_one(api, &def.name, s).await?);
        }
        let log_secrets = def.log_configuration.as_ref().and_then(|l| l.secret_options.as_ref());
        for s in log_secrets.into_iter().flatten() {
            r.log_options.push(resolve_one(api, &def.name, s).await?);
        }
        if r != Resolved::default() {
            out.insert(def.name.clone(), r);
        }
    }
    Ok(out)
}

/// Docker credentials from a container's `repositoryCredentials` (a Secrets
/// Manager secret with `username` and `password`). The error is the task's
/// stop reason.
pub async fn registry_credentials(
    api: Option<&ApiClient>,
    def: &ContainerDefinition,
) -> Result<Option<bollard::auth::DockerCredentials>, String> {
    let Some(rc) = &def.repository_credentials else {
        return Ok(None);
    };
    let Some(api) = api else {
        return Err(failure_reason(
            "this agent has no control-plane client to read registry auth",
        ));
    };
    let got = api
        .call_secrets_manager("GetSecretValue", &json!({ "SecretId": rc.credentials_parameter }))
        .await
        .map_err(|e| failure_reason(&format!("unable to retrieve registry auth from asm: {e}")))?;
    let text = got["SecretString"].as_str().unwrap_or_default();
    let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match (parsed["username"].as_str(), parsed["password"].as_str()) {
        (Some(u), Some(p)) => Ok(Some(bollard::auth::DockerCredentials {
            username: Some(u.to_string()),
            password: Some(p.to_string()),
            ..Default::default()
        })),
        _ => Err(failure_reason(&format!(
            "registry auth secret {} must be JSON with \"username\" and \"password\"",
            rc.credentials_parameter
        ))),
    }
}

/// One `{name, valueFrom}`: (name, value).
async fn resolve_one(api: Option<&ApiClient>, container: &str, s: &Value) -> Result<(String, String), String> {
    let name = s["name"].as_str().unwrap_or_default();
    let value_from = s["valueFrom"].as_str().unwrap_or_default();
    if name.is_empty() {
        return Err(failure_reason(&format!("container {container}: a secret has no name")));
    }
    let Some(api) = api else {
        return Err(failure_reason("this agent has no control-plane client to read secrets"));
    };
    let source = rules::parse_value_from(value_from)
        .map_err(|e| failure_reason(&format!("container {container}: secret {name}: {e}")))?;
    let value = match source {
        SecretSource::Parameter(p) => {
            let got = api
                .call_ssm("GetParameter", &json!({ "Name": p, "WithDecryption": true }))
                .await
                .map_err(|e| failure_reason(&format!("unable to retrieve secrets from ssm: {e}")))?;
            got["Parameter"]["Value"].as_str().unwrap_or_default().to_string()
        }
        SecretSource::Secret {
            secret_id,
            json_key,
            version_stage,
            version_id,
        } => {
            let mut input = json!({ "SecretId": secret_id });
            if let Some(v) = version_stage {
                input["VersionStage"] = json!(v);
            }
            if let Some(v) = version_id {
                input["VersionId"] = json!(v);
            }
            let got = api
                .call_secrets_manager("GetSecretValue", &input)
                .await
                .map_err(|e| failure_reason(&format!("unable to retrieve secret from asm: {e}")))?;
            let Some(text) = got["SecretString"].as_str() else {
                return Err(failure_reason(&format!(
                    "unable to retrieve secret from asm: secret {secret_id} has no SecretString"
                )));
            };
            match json_key {
                Some(k) => rules::json_key(text, &k).map_err(|e| {
                    failure_reason(&format!("unable to retrieve secret from asm: secret {secret_id}: {e}"))
                })?,
                None => text.to_string(),
            }
        }
    };
    Ok((name.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_client_secrets_fail_as_ecs_words_it() {
        let def: ContainerDefinition = serde_json::from_value(json!({
            "name": "app", "image": "busybox",
            "secrets": [{"name": "PW", "valueFrom": "/app/pw"}]
        }))
        .unwrap();
        let err = resolve(None, &[def]).await.unwrap_err();
        assert!(err.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: "));
        let log: ContainerDefinition = serde_json::from_value(json!({
            "name": "app", "image": "busybox",
            "logConfiguration": {"logDriver": "json-file", "secretOptions": [{"name": "tag", "valueFrom": "/t"}]}
        }))
        .unwrap();
        assert!(resolve(None, &[log]).await.is_err());
        let plain: ContainerDefinition = serde_json::from_value(json!({"name": "x", "image": "busybox"})).unwrap();
        assert!(resolve(None, &[plain]).await.unwrap().is_empty());
    }
}
