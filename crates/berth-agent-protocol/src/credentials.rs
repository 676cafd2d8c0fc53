//! `BerthGetTaskCredentials` (docs/agent-protocol.md §6): the agent asks for
//! temporary credentials of one of a task's roles.

use serde::{Deserialize, Serialize};

/// Which of a task's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    /// `taskRoleArn`: for the task's containers.
    Task,
    /// `executionRoleArn`: for the agent's work on the task's behalf.
    Execution,
}

impl RoleKind {
    /// The `role` member's value.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Task => "task",
            RoleKind::Execution => "execution",
        }
    }

    /// Reads the `role` member (absent means `task`); `None` for a name that
    /// is neither.
    pub fn from_member(role: Option<&str>) -> Option<Self> {
        match role.unwrap_or("task") {
            "task" => Some(RoleKind::Task),
            "execution" => Some(RoleKind::Execution),
            _ => None,
        }
    }

    /// The task definition (and overrides) member that names this role.
    pub fn arn_member(self) -> &'static str {
        match self {
            RoleKind::Task => "taskRoleArn",
            RoleKind::Execution => "executionRoleArn",
        }
    }
}

/// The body of `BerthGetTaskCredentials`. `role` is kept as sent: the
/// server answers an unknown name with its own error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCredentialsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub container_instance: String,
    pub task: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl TaskCredentialsRequest {
    pub fn new(cluster: &str, container_instance: &str, task: &str, role: RoleKind) -> Self {
        Self {
            cluster: Some(cluster.to_string()),
            container_instance: container_instance.to_string(),
            task: task.to_string(),
            role: Some(role.as_str().to_string()),
        }
    }
}

/// The answer of `BerthGetTaskCredentials`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCredentialsAnswer {
    #[serde(default)]
    pub role_arn: String,
    #[serde(default)]
    pub assumed_role_arn: String,
    pub credentials: TaskCredentials,
}

/// Temporary credentials of a role session named after the task id.
/// `Debug` leaves the secret and the token out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch seconds.
    pub expiration: f64,
}

impl std::fmt::Debug for TaskCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_and_answer_use_the_documented_names() {
        let r = TaskCredentialsRequest::new("default", "arn:ci", "arn:t", RoleKind::Execution);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"cluster": "default", "containerInstance": "arn:ci", "task": "arn:t", "role": "execution"})
        );
        let a: TaskCredentialsAnswer = serde_json::from_value(json!({
            "roleArn": "arn:aws:iam::1:role/app", "assumedRoleArn": "arn:aws:sts::1:assumed-role/app/t",
            "credentials": {"accessKeyId": "ASIA", "secretAccessKey": "s", "sessionToken": "tok", "expiration": 1790000000.0}
        }))
        .unwrap();
        assert_eq!(a.credentials.session_token, "tok");
        assert_eq!(a.credentials.expiration, 1_790_000_000.0);
        assert!(!format!("{:?}", a.credentials).contains("tok"));
        // Without credentials the answer is not one.
        assert!(serde_json::from_value::<TaskCredentialsAnswer>(json!({"roleArn": "x"})).is_err());
    }

    #[test]
    fn role_names() {
        assert_eq!(RoleKind::from_member(None), Some(RoleKind::Task));
        assert_eq!(RoleKind::from_member(Some("execution")), Some(RoleKind::Execution));
        assert_eq!(RoleKind::from_member(Some("other")), None);
        assert_eq!(RoleKind::Execution.arn_member(), "executionRoleArn");
    }
}
