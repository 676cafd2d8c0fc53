//! Container `secrets` and `logConfiguration.secretOptions`: each
//! `valueFrom` (an SSM parameter name or ARN, or a Secrets Manager ARN with
//! the `:json-key:version-stage:version-id` suffixes) is read from the
//! control plane at task start, with the task's execution role and the
//! actions the ECS agent uses (`ssm:GetParameters`, batched, with
//! decryption; `secretsmanager:GetSecretValue`), and becomes an environment
//! variable (or a log driver option). Values are never logged.

use crate::client::ApiClient;
use crate::failure::ResourceInitializationError;
use crate::model::ContainerDefinition;
use berth_core::secrets_ref::{self, SecretSource};
use serde_json::{Value, json};
use std::collections::HashMap;

/// SSM parameters that do not exist, as the ECS agent reports them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameters: {}", .0.join(","))]
pub struct InvalidParameters(pub Vec<String>);

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
///
/// As the ECS agent does it, with the permissions AWS documents for an
/// execution role: every SSM parameter of the task is read with
/// `ssm:GetParameters` (up to 10 names a call, with decryption, so the role
/// needs `kms:Decrypt` on a customer key), every secret with
/// `secretsmanager:GetSecretValue` (once per secret, version stage and
/// version id).
pub async fn resolve(
    api: Option<&ApiClient>,
    defs: &[ContainerDefinition],
) -> Result<HashMap<String, Resolved>, ResourceInitializationError> {
    let mut wanted: Vec<(&str, Target, String, SecretSource)> = Vec::new();
    for def in defs {
        let log_secrets = def.log_configuration.as_ref().and_then(|l| l.secret_options.as_ref());
        let all = def
            .secrets
            .iter()
            .flatten()
            .map(|s| (Target::Env, s))
            .chain(log_secrets.into_iter().flatten().map(|s| (Target::LogOption, s)));
        for (target, s) in all {
            let name = s.name.as_str();
            let value_from = s.value_from.as_str();
            if name.is_empty() {
                return Err(ResourceInitializationError::new(format!(
                    "container {}: a secret has no name",
                    def.name()
                )));
            }
            let source = secrets_ref::parse_value_from(value_from).map_err(|e| {
                ResourceInitializationError::new(format!("container {}: secret {name}: {e}", def.name()))
            })?;
            wanted.push((def.name(), target, name.to_string(), source));
        }
    }
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let Some(api) = api else {
        return Err(ResourceInitializationError::new(
            "this agent has no control-plane client to read secrets",
        ));
    };
    let mut parameters: Vec<String> = Vec::new();
    for (_, _, _, source) in &wanted {
        if let SecretSource::Parameter(p) = source
            && !parameters.contains(p)
        {
            parameters.push(p.clone());
        }
    }
    let mut values: HashMap<String, String> = HashMap::new();
    for batch in parameters.chunks(GET_PARAMETERS_MAX) {
        let got = api
            .call_ssm("GetParameters", &json!({ "Names": batch, "WithDecryption": true }))
            .await
            .map_err(|e| ResourceInitializationError::new(format!("unable to retrieve secrets from ssm: {e}")))?;
        values.extend(
            parameter_values(batch, &got)
                .map_err(|e| ResourceInitializationError::new(format!("unable to retrieve secrets from ssm: {e}")))?,
        );
    }
    let mut secrets: HashMap<(String, Option<String>, Option<String>), String> = HashMap::new();
    let mut out: HashMap<String, Resolved> = HashMap::new();
    for (container, target, name, source) in wanted {
        let value = match source {
            SecretSource::Parameter(p) => values.get(&p).cloned().unwrap_or_default(),
            SecretSource::Secret {
                secret_id,
                json_key,
                version_stage,
                version_id,
            } => {
                let key = (secret_id.clone(), version_stage.clone(), version_id.clone());
                let text = match secrets.get(&key) {
                    Some(t) => t.clone(),
                    None => {
                        let t = secret_string(api, &secret_id, version_stage, version_id).await?;
                        secrets.insert(key, t.clone());
                        t
                    }
                };
                match json_key {
                    Some(k) => secrets_ref::json_key(&text, &k).map_err(|e| {
                        ResourceInitializationError::new(format!(
                            "unable to retrieve secret from asm: secret {secret_id}: {e}"
                        ))
                    })?,
                    None => text,
                }
            }
        };
        let r = out.entry(container.to_string()).or_default();
        match target {
            Target::Env => r.env.push((name, value)),
            Target::LogOption => r.log_options.push((name, value)),
        }
    }
    Ok(out)
}

/// The most names one GetParameters takes.
const GET_PARAMETERS_MAX: usize = 10;

/// Where a resolved secret goes.
#[derive(Debug, Clone, Copy)]
enum Target {
    Env,
    LogOption,
}

/// The values of a GetParameters answer by the names as requested (a name
/// or ARN, with its `:version`/`:label` selector); an error naming the
/// parameters that do not exist, as the ECS agent reports them.
fn parameter_values(requested: &[String], out: &Value) -> Result<HashMap<String, String>, InvalidParameters> {
    let invalid: Vec<&str> = out["InvalidParameters"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !invalid.is_empty() {
        return Err(InvalidParameters(invalid.iter().map(|s| s.to_string()).collect()));
    }
    let got: Vec<&Value> = out["Parameters"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut values = HashMap::new();
    for raw in requested {
        let name = secrets_ref::parse_selector(raw)
            .map(|(n, _)| n)
            .unwrap_or_else(|_| raw.clone());
        let selector = secrets_ref::selector_suffix(raw);
        let hit = got.iter().find(|p| {
            let p_name = p["Name"].as_str().unwrap_or_default();
            let p_name = secrets_ref::parse_selector(p_name)
                .map(|(n, _)| n)
                .unwrap_or_else(|_| p_name.to_string());
            p_name == name && p["Selector"].as_str() == selector
        });
        match hit {
            Some(p) => {
                values.insert(raw.clone(), p["Value"].as_str().unwrap_or_default().to_string());
            }
            None => return Err(InvalidParameters(vec![raw.clone()])),
        }
    }
    Ok(values)
}

/// The `SecretString` of one secret version (GetSecretValue).
async fn secret_string(
    api: &ApiClient,
    secret_id: &str,
    version_stage: Option<String>,
    version_id: Option<String>,
) -> Result<String, ResourceInitializationError> {
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
        .map_err(|e| ResourceInitializationError::new(format!("unable to retrieve secret from asm: {e}")))?;
    match got["SecretString"].as_str() {
        Some(text) => Ok(text.to_string()),
        None => Err(ResourceInitializationError::new(format!(
            "unable to retrieve secret from asm: secret {secret_id} has no SecretString"
        ))),
    }
}

/// Docker credentials from a container's `repositoryCredentials` (a Secrets
/// Manager secret with `username` and `password`). The error is the task's
/// stop reason.
pub async fn registry_credentials(
    api: Option<&ApiClient>,
    def: &ContainerDefinition,
) -> Result<Option<bollard::auth::DockerCredentials>, ResourceInitializationError> {
    let Some(rc) = &def.repository_credentials else {
        return Ok(None);
    };
    let Some(api) = api else {
        return Err(ResourceInitializationError::new(
            "this agent has no control-plane client to read registry auth",
        ));
    };
    let got = api
        .call_secrets_manager("GetSecretValue", &json!({ "SecretId": rc.credentials_parameter }))
        .await
        .map_err(|e| ResourceInitializationError::new(format!("unable to retrieve registry auth from asm: {e}")))?;
    let text = got["SecretString"].as_str().unwrap_or_default();
    let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match (parsed["username"].as_str(), parsed["password"].as_str()) {
        (Some(u), Some(p)) => Ok(Some(bollard::auth::DockerCredentials {
            username: Some(u.to_string()),
            password: Some(p.to_string()),
            ..Default::default()
        })),
        _ => Err(ResourceInitializationError::new(format!(
            "registry auth secret {} must be JSON with \"username\" and \"password\"",
            rc.credentials_parameter
        ))),
    }
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
        let err = resolve(None, &[def]).await.unwrap_err().to_string();
        assert!(err.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: "));
        let log: ContainerDefinition = serde_json::from_value(json!({
            "name": "app", "image": "busybox",
            "logConfiguration": {"logDriver": "json-file", "secretOptions": [{"name": "tag", "valueFrom": "/t"}]}
        }))
        .unwrap();
        assert!(resolve(None, &[log]).await.is_err());
        let plain: ContainerDefinition = serde_json::from_value(json!({"name": "x", "image": "busybox"})).unwrap();
        assert!(resolve(None, &[plain]).await.unwrap().is_empty());
        let bad: ContainerDefinition = serde_json::from_value(json!({
            "name": "app", "image": "busybox",
            "secrets": [{"name": "PW", "valueFrom": "arn:aws:s3:::bucket"}]
        }))
        .unwrap();
        assert!(
            resolve(None, &[bad])
                .await
                .unwrap_err()
                .to_string()
                .contains("secret PW")
        );
    }

    #[test]
    fn get_parameters_answers_by_the_names_asked() {
        let asked = vec![
            "/app/pw".to_string(),
            "/app/pw:2".to_string(),
            "arn:aws:ssm:us-east-1:000000000000:parameter/app/token".to_string(),
            "plain:blue".to_string(),
        ];
        let out = json!({
            "Parameters": [
                {"Name": "/app/pw", "Value": "latest"},
                {"Name": "/app/pw", "Selector": ":2", "Value": "second"},
                {"Name": "/app/token", "Value": "t"},
                {"Name": "plain", "Selector": ":blue", "Value": "b"}
            ],
            "InvalidParameters": []
        });
        let v = parameter_values(&asked, &out).unwrap();
        assert_eq!(v["/app/pw"], "latest");
        assert_eq!(v["/app/pw:2"], "second");
        assert_eq!(v["arn:aws:ssm:us-east-1:000000000000:parameter/app/token"], "t");
        assert_eq!(v["plain:blue"], "b");
        let missing = json!({"Parameters": [], "InvalidParameters": ["/nope", "/gone"]});
        assert_eq!(
            parameter_values(&["/nope".into(), "/gone".into()], &missing)
                .unwrap_err()
                .to_string(),
            "invalid parameters: /nope,/gone"
        );
        let short = json!({"Parameters": [{"Name": "/a", "Value": "x"}]});
        assert!(parameter_values(&["/b".into()], &short).is_err());
    }
}
