//! The typed input of every routed CloudWatch Logs operation, decoded once
//! at the boundary, and the resource each is authorized on, derived from it
//! ([`crate::authz`] names the ARNs).

use crate::authz::{Scope, group_arn, stream_arn};
use serde::Deserialize;
use serde_json::{Map, Value};

/// What a typed input is authorized on (pure): one ARN, `*` only for
/// DescribeLogGroups.
pub(crate) trait Resource {
    fn arn(&self, scope: &Scope) -> String;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupInput {
    pub(crate) log_group_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateLogGroupInput {
    pub(crate) log_group_name: String,
    pub(crate) kms_key_id: Option<String>,
    #[serde(default)]
    pub(crate) tags: Map<String, Value>,
    pub(crate) log_group_class: Option<String>,
    pub(crate) deletion_protection_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeLogGroupsInput {
    pub(crate) log_group_name_prefix: Option<String>,
    pub(crate) log_group_name_pattern: Option<String>,
    pub(crate) next_token: Option<String>,
    pub(crate) limit: Option<i64>,
    pub(crate) log_group_class: Option<String>,
    pub(crate) log_group_identifiers: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamInput {
    pub(crate) log_group_name: String,
    pub(crate) log_stream_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeLogStreamsInput {
    pub(crate) log_group_name: Option<String>,
    pub(crate) log_group_identifier: Option<String>,
    pub(crate) log_stream_name_prefix: Option<String>,
    pub(crate) order_by: Option<String>,
    #[serde(default)]
    pub(crate) descending: bool,
    pub(crate) next_token: Option<String>,
    pub(crate) limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InputLogEvent {
    pub(crate) timestamp: i64,
    pub(crate) message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutLogEventsInput {
    pub(crate) log_group_name: String,
    pub(crate) log_stream_name: String,
    pub(crate) log_events: Vec<InputLogEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetLogEventsInput {
    pub(crate) log_group_name: Option<String>,
    pub(crate) log_group_identifier: Option<String>,
    pub(crate) log_stream_name: String,
    pub(crate) start_time: Option<i64>,
    pub(crate) end_time: Option<i64>,
    pub(crate) next_token: Option<String>,
    pub(crate) limit: Option<i64>,
    #[serde(default)]
    pub(crate) start_from_head: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilterLogEventsInput {
    pub(crate) log_group_name: Option<String>,
    pub(crate) log_group_identifier: Option<String>,
    pub(crate) log_stream_names: Option<Vec<String>>,
    pub(crate) log_stream_name_prefix: Option<String>,
    pub(crate) start_time: Option<i64>,
    pub(crate) end_time: Option<i64>,
    pub(crate) filter_pattern: Option<String>,
    pub(crate) next_token: Option<String>,
    pub(crate) limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RetentionInput {
    pub(crate) log_group_name: String,
    pub(crate) retention_in_days: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TagLogGroupInput {
    pub(crate) log_group_name: String,
    pub(crate) tags: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UntagLogGroupInput {
    pub(crate) log_group_name: String,
    pub(crate) tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TagResourceInput {
    pub(crate) resource_arn: String,
    pub(crate) tags: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UntagResourceInput {
    pub(crate) resource_arn: String,
    pub(crate) tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceArnInput {
    pub(crate) resource_arn: String,
}

/// `logGroupName` or else `logGroupIdentifier` (a name or an ARN).
fn group_of<'a>(name: &'a Option<String>, identifier: &'a Option<String>) -> &'a str {
    name.as_deref().or(identifier.as_deref()).unwrap_or_default()
}

macro_rules! group_scoped {
    ($($input:ty),*) => {$(
        impl Resource for $input {
            fn arn(&self, scope: &Scope) -> String {
                group_arn(scope, &self.log_group_name)
            }
        }
    )*};
}
group_scoped!(
    GroupInput,
    CreateLogGroupInput,
    RetentionInput,
    TagLogGroupInput,
    UntagLogGroupInput
);

macro_rules! stream_scoped {
    ($($input:ty),*) => {$(
        impl Resource for $input {
            fn arn(&self, scope: &Scope) -> String {
                stream_arn(scope, &self.log_group_name, &self.log_stream_name)
            }
        }
    )*};
}
stream_scoped!(StreamInput, PutLogEventsInput);

macro_rules! resource_arn_scoped {
    ($($input:ty),*) => {$(
        impl Resource for $input {
            /// The tagging operations act on their `resourceArn`; an empty
            /// one is authorized on the log group with an empty name.
            fn arn(&self, scope: &Scope) -> String {
                if self.resource_arn.is_empty() {
                    group_arn(scope, "")
                } else {
                    self.resource_arn.clone()
                }
            }
        }
    )*};
}
resource_arn_scoped!(TagResourceInput, UntagResourceInput, ResourceArnInput);

impl Resource for DescribeLogGroupsInput {
    /// Not resource-scoped in AWS.
    fn arn(&self, _scope: &Scope) -> String {
        "*".to_string()
    }
}

impl Resource for DescribeLogStreamsInput {
    fn arn(&self, scope: &Scope) -> String {
        group_arn(scope, group_of(&self.log_group_name, &self.log_group_identifier))
    }
}

impl Resource for FilterLogEventsInput {
    fn arn(&self, scope: &Scope) -> String {
        group_arn(scope, group_of(&self.log_group_name, &self.log_group_identifier))
    }
}

impl Resource for GetLogEventsInput {
    fn arn(&self, scope: &Scope) -> String {
        stream_arn(
            scope,
            group_of(&self.log_group_name, &self.log_group_identifier),
            &self.log_stream_name,
        )
    }
}
