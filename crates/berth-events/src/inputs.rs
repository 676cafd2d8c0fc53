//! The typed inputs of the routed operations, decoded once from the
//! request (members as EventBridge names them).

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRuleInput {
    pub name: String,
    pub schedule_expression: Option<String>,
    pub event_pattern: Option<String>,
    pub state: Option<String>,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub tags: Option<Value>,
    pub event_bus_name: Option<String>,
}

/// DescribeRule, DeleteRule, EnableRule, DisableRule.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleInput {
    pub name: String,
    pub event_bus_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRulesInput {
    pub name_prefix: Option<String>,
    pub event_bus_name: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetInput {
    pub id: String,
    pub arn: String,
    pub input: Option<String>,
    pub input_path: Option<String>,
    pub role_arn: Option<String>,
    pub http_parameters: Option<HttpParametersInput>,
    pub retry_policy: Option<RetryPolicyInput>,
    /// Members Berth does not honour, named when present.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutTargetsInput {
    pub rule: String,
    pub event_bus_name: Option<String>,
    pub targets: Vec<TargetInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTargetsInput {
    pub rule: String,
    pub event_bus_name: Option<String>,
    pub ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTargetsInput {
    pub rule: String,
    pub event_bus_name: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsEntry {
    pub time: Option<Value>,
    pub source: Option<String>,
    pub resources: Option<Vec<String>>,
    pub detail_type: Option<String>,
    pub detail: Option<String>,
    pub event_bus_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsInput {
    pub entries: Vec<PutEventsEntry>,
    pub endpoint_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TestEventPatternInput {
    pub event_pattern: String,
    pub event: String,
}

/// Its `Debug` shows no secret.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValueParam {
    pub key: Option<String>,
    pub value: Option<String>,
    pub is_value_secret: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationHttpParameters {
    pub header_parameters: Option<Vec<KeyValueParam>>,
    pub query_string_parameters: Option<Vec<KeyValueParam>>,
    pub body_parameters: Option<Vec<KeyValueParam>>,
}

/// Its `Debug` shows no secret.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BasicAuthInput {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Its `Debug` shows no secret.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiKeyAuthInput {
    pub api_key_name: Option<String>,
    pub api_key_value: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthParametersInput {
    pub basic_auth_parameters: Option<BasicAuthInput>,
    pub api_key_auth_parameters: Option<ApiKeyAuthInput>,
    #[serde(rename = "OAuthParameters")]
    pub oauth_parameters: Option<Value>,
    pub invocation_http_parameters: Option<InvocationHttpParameters>,
    pub connectivity_parameters: Option<Value>,
}

/// CreateConnection and UpdateConnection.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectionInput {
    pub name: String,
    pub description: Option<String>,
    pub authorization_type: Option<String>,
    pub auth_parameters: Option<AuthParametersInput>,
    pub invocation_connectivity_parameters: Option<Value>,
    pub kms_key_identifier: Option<String>,
}

/// DescribeConnection, DeleteConnection, DeauthorizeConnection,
/// DescribeApiDestination, DeleteApiDestination.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameInput {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListConnectionsInput {
    pub name_prefix: Option<String>,
    pub connection_state: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<usize>,
}

/// CreateApiDestination and UpdateApiDestination.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiDestinationInput {
    pub name: String,
    pub description: Option<String>,
    pub connection_arn: Option<String>,
    pub invocation_endpoint: Option<String>,
    pub http_method: Option<String>,
    pub invocation_rate_limit_per_second: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListApiDestinationsInput {
    pub name_prefix: Option<String>,
    pub connection_arn: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpParametersInput {
    pub path_parameter_values: Option<Vec<String>>,
    pub header_parameters: Option<serde_json::Map<String, Value>>,
    pub query_string_parameters: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicyInput {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
}

impl std::fmt::Debug for KeyValueParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueParam")
            .field("key", &self.key)
            .field("is_value_secret", &self.is_value_secret)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for BasicAuthInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthInput")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ApiKeyAuthInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyAuthInput")
            .field("api_key_name", &self.api_key_name)
            .finish_non_exhaustive()
    }
}
