//! One API call, and the CloudTrail event recorded for it.

use serde_json::{Value, json};

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Who called, as far as the HTTP layer knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Authenticated: the principal's ARN and access key.
    Principal(berth_proto::Principal),
    /// Authentication failed or was missing; the access key id the request
    /// claimed, if any.
    Unknown { access_key_id: Option<String> },
}

/// What the HTTP layer knows about an answered call.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub event_time_ms: i64,
    /// `ecs.amazonaws.com`, `logs.amazonaws.com`, …
    pub event_source: String,
    /// The operation, e.g. `CreateCluster` (or what the request claimed).
    pub event_name: String,
    pub identity: Identity,
    pub source_ip: String,
    pub user_agent: String,
    /// The input as recorded, taken before the service consumed it.
    pub request_parameters: Option<RequestParameters>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: String,
}

/// A call's request parameters as the audit trail records them (secrets
/// hidden, size bounded: [`crate::redact::request_parameters`]), taken
/// from the decoded input while the HTTP layer still holds it: the service
/// then takes the input over, and no copy of a large input (a
/// PutMetricData batch) is kept for the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestParameters(Value);

impl RequestParameters {
    /// The parameters of `input`, a call to `event_source`, as recorded.
    pub fn of(input: &Value, event_source: &str) -> Self {
        Self(crate::redact::request_parameters(input, event_source))
    }

    /// The parameters of an input read straight from its body, from its
    /// summary, when the record is made from the summary alone
    /// ([`crate::redact::request_parameters_of_summary`]).
    pub fn of_summary(summary: &berth_proto::direct::Summary, event_source: &str) -> Option<Self> {
        crate::redact::request_parameters_of_summary(summary, event_source).map(Self)
    }

    /// The recorded JSON.
    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

impl ApiCall {
    pub fn new(event_source: impl Into<String>, event_name: impl Into<String>, request_id: &str) -> Self {
        Self {
            event_time_ms: now_ms(),
            event_source: event_source.into(),
            event_name: event_name.into(),
            identity: Identity::Unknown { access_key_id: None },
            source_ip: String::new(),
            user_agent: String::new(),
            request_parameters: None,
            error_code: None,
            error_message: None,
            request_id: request_id.to_string(),
        }
    }
}

/// `<service>.amazonaws.com` for a SigV4 signing name.
pub fn event_source_for(signing_name: &str) -> String {
    format!("{signing_name}.amazonaws.com")
}

/// Read-only operations, by CloudTrail's naming convention.
pub fn is_read_only(event_name: &str) -> bool {
    ["Describe", "List", "Get", "Lookup", "BatchGet", "Filter", "Head"]
        .iter()
        .any(|p| event_name.starts_with(p))
        && event_name != "GetAuthorizationToken"
}

/// Parameters naming resources, and their CloudTrail resource type.
fn resources(source: &str, params: &Value) -> Vec<(String, String)> {
    let svc = source.split('.').next().unwrap_or("");
    let kind = |k: &str| -> Option<&'static str> {
        Some(match (svc, k) {
            ("ecs", "cluster" | "clusterName") => "AWS::ECS::Cluster",
            ("ecs", "taskDefinition" | "family") => "AWS::ECS::TaskDefinition",
            ("ecs", "task") => "AWS::ECS::Task",
            ("ecs", "service" | "serviceName") => "AWS::ECS::Service",
            ("ecs", "containerInstance") => "AWS::ECS::ContainerInstance",
            ("ecr", "repositoryName") => "AWS::ECR::Repository",
            ("logs", "logGroupName" | "logGroupIdentifier") => "AWS::Logs::LogGroup",
            ("logs", "logStreamName") => "AWS::Logs::LogStream",
            ("ssm", "Name") => "AWS::SSM::Parameter",
            ("secretsmanager", "SecretId" | "Name") => "AWS::SecretsManager::Secret",
            ("iam", "UserName") => "AWS::IAM::User",
            ("iam", "RoleName") => "AWS::IAM::Role",
            ("iam", "PolicyArn") => "AWS::IAM::Policy",
            (_, "resourceArn" | "ResourceArn") => "AWS::Resource",
            _ => return None,
        })
    };
    let mut out = vec![];
    if let Value::Object(m) = params {
        for (k, v) in m {
            let Some(t) = kind(k) else { continue };
            match v {
                Value::String(s) if !s.is_empty() => out.push((t.to_string(), s.clone())),
                Value::Array(a) => out.extend(a.iter().filter_map(|x| x.as_str()).map(|s| (t.to_string(), s.into()))),
                _ => {}
            }
        }
        // ECS plural forms: tasks, clusters, containerInstances.
        for (k, t) in [
            ("tasks", "AWS::ECS::Task"),
            ("clusters", "AWS::ECS::Cluster"),
            ("containerInstances", "AWS::ECS::ContainerInstance"),
        ] {
            if svc == "ecs"
                && let Some(Value::Array(a)) = m.get(k)
            {
                out.extend(
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .map(|s| (t.to_string(), s.to_string())),
                );
            }
        }
    }
    out
}

/// A recorded event, ready for the database.
pub(crate) struct Stored {
    pub event_id: String,
    pub event_time_ms: i64,
    pub event_name: String,
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    pub resources: Vec<(String, String)>,
    /// The CloudTrail event document.
    pub json: String,
}

pub(crate) fn rfc3339(ms: i64) -> String {
    berth_core::time::iso8601_epoch_millis(ms)
}

fn user_identity(identity: &Identity, account_id: &str) -> (Value, Option<String>, Option<String>) {
    match identity {
        Identity::Principal(p) => {
            let key = (!p.access_key_id.is_empty()).then(|| p.access_key_id.clone());
            if p.is_root {
                (
                    json!({"type": "Root", "principalId": p.account_id, "arn": p.arn, "accountId": p.account_id,
                           "accessKeyId": p.access_key_id}),
                    Some("root".into()),
                    key,
                )
            } else if p.arn.contains(":assumed-role/") {
                let session = p.arn.rsplit('/').next().unwrap_or("").to_string();
                (
                    json!({"type": "AssumedRole", "principalId": format!("{}:{session}", p.access_key_id),
                           "arn": p.arn, "accountId": p.account_id, "accessKeyId": p.access_key_id}),
                    Some(session),
                    key,
                )
            } else {
                let name = p
                    .user_name
                    .clone()
                    .unwrap_or_else(|| p.arn.rsplit('/').next().unwrap_or("").to_string());
                (
                    json!({"type": "IAMUser", "principalId": p.access_key_id, "arn": p.arn,
                           "accountId": p.account_id, "accessKeyId": p.access_key_id, "userName": name}),
                    Some(name),
                    key,
                )
            }
        }
        Identity::Unknown { access_key_id } => {
            let mut v = json!({"type": "Unknown", "accountId": account_id});
            if let Some(k) = access_key_id {
                v["accessKeyId"] = json!(k);
            }
            (v, None, access_key_id.clone())
        }
    }
}

impl ApiCall {
    pub(crate) fn into_stored(self, region: &str, account_id: &str) -> Stored {
        let event_id = uuid::Uuid::new_v4().to_string();
        let (identity, username, access_key_id) = user_identity(&self.identity, account_id);
        let params = self.request_parameters.map(|p| p.0);
        let read_only = is_read_only(&self.event_name);
        let resources = params
            .as_ref()
            .map(|p| resources(&self.event_source, p))
            .unwrap_or_default();
        let mut doc = json!({
            "eventVersion": "1.08",
            "userIdentity": identity,
            "eventTime": rfc3339(self.event_time_ms),
            "eventSource": self.event_source,
            "eventName": self.event_name,
            "awsRegion": region,
            "sourceIPAddress": self.source_ip,
            "userAgent": self.user_agent,
            "requestParameters": params,
            "responseElements": null,
            "requestID": self.request_id,
            "eventID": event_id,
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": account_id,
            "eventCategory": "Management",
        });
        if let Some(c) = &self.error_code {
            doc["errorCode"] = json!(c);
        }
        if let Some(m) = &self.error_message {
            doc["errorMessage"] = json!(m);
        }
        Stored {
            event_id,
            event_time_ms: self.event_time_ms,
            event_name: self.event_name,
            event_source: self.event_source,
            username,
            access_key_id,
            read_only,
            resources,
            json: doc.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_types() {
        let root = berth_proto::Principal {
            arn: "arn:aws:iam::000000000000:root".into(),
            account_id: "000000000000".into(),
            access_key_id: "AKIAROOT".into(),
            is_root: true,
            user_name: None,
            unique_id: "000000000000".into(),
        };
        let (v, user, key) = user_identity(&Identity::Principal(root), "000000000000");
        assert_eq!(v["type"], "Root");
        assert_eq!(user.as_deref(), Some("root"));
        assert_eq!(key.as_deref(), Some("AKIAROOT"));
        let role = berth_proto::Principal {
            arn: "arn:aws:sts::000000000000:assumed-role/deploy/ci-run".into(),
            account_id: "000000000000".into(),
            access_key_id: "ASIAX".into(),
            is_root: false,
            user_name: None,
            unique_id: "AROAEXAMPLE:ci-run".into(),
        };
        let (v, user, _) = user_identity(&Identity::Principal(role), "000000000000");
        assert_eq!(v["type"], "AssumedRole");
        assert_eq!(user.as_deref(), Some("ci-run"));
        let (v, user, key) = user_identity(
            &Identity::Unknown {
                access_key_id: Some("AKIABAD".into()),
            },
            "0",
        );
        assert_eq!(v["type"], "Unknown");
        assert_eq!(user, None);
        assert_eq!(key.as_deref(), Some("AKIABAD"));
    }

    #[test]
    fn read_only_and_resources() {
        assert!(is_read_only("DescribeClusters"));
        assert!(is_read_only("ListTasks"));
        assert!(!is_read_only("CreateCluster"));
        assert!(!is_read_only("GetAuthorizationToken"));
        let r = resources(
            "ecs.amazonaws.com",
            &json!({"clusterName": "c1", "tasks": ["t1", "t2"]}),
        );
        assert_eq!(r.len(), 3);
        assert!(r.contains(&("AWS::ECS::Cluster".into(), "c1".into())));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
