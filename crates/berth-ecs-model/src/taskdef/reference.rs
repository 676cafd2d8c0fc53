//! What a `taskDefinition` parameter names: `family`, `family:revision`, or
//! a task definition ARN.

use berth_core::arn::Arn;
use berth_core::names::is_valid_ecs_name;
use berth_proto::AwsError;

/// What a `taskDefinition` parameter names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionRef {
    /// A bare family: its latest ACTIVE revision.
    Family(String),
    Revision(String, i64),
}

impl TaskDefinitionRef {
    pub fn family(&self) -> &str {
        match self {
            Self::Family(f) | Self::Revision(f, _) => f,
        }
    }
}

/// Parses `family`, `family:revision` or
/// `arn:aws:ecs:REGION:ACCOUNT:task-definition/family[:revision]`. The
/// account and region of an ARN are returned for the caller to check.
pub fn parse_task_definition_ref(s: &str) -> Result<(TaskDefinitionRef, Option<(String, String)>), AwsError> {
    let (body, scope) = if s.starts_with("arn:") {
        let arn = Arn::parse(s)
            .filter(|a| a.service == "ecs")
            .ok_or_else(|| AwsError::client(format!("Invalid task definition ARN: {s}")))?;
        match arn.resource.strip_prefix("task-definition/") {
            Some(rest) => (rest.to_string(), Some((arn.region.clone(), arn.account.clone()))),
            None => {
                return Err(AwsError::client(format!("The ARN {s} is not a task definition ARN.")));
            }
        }
    } else {
        (s.to_string(), None)
    };
    let r = match body.split_once(':') {
        Some((family, rev)) => {
            let n = rev
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| AwsError::client(format!("Invalid revision number. Number: {rev}")))?;
            TaskDefinitionRef::Revision(family.to_string(), n)
        }
        None => TaskDefinitionRef::Family(body),
    };
    if !is_valid_ecs_name(r.family()) {
        return Err(AwsError::client("Family contains invalid characters."));
    }
    Ok((r, scope))
}
