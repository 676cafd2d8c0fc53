//! `iam:PassRole`: which IAM roles a request hands to ECS, so the caller
//! must be allowed to pass each of them (as in AWS, with the condition key
//! `iam:PassedToService`). Without it, anyone allowed `ecs:*` could name an
//! administrator's role as a task role and receive its credentials.
//!
//! - RegisterTaskDefinition passes the definition's `taskRoleArn` and
//!   `executionRoleArn` to `ecs-tasks.amazonaws.com`.
//! - RunTask and StartTask pass the roles the task will run with: its
//!   `overrides.taskRoleArn` / `overrides.executionRoleArn`, or else the task
//!   definition's (a caller allowed to run a definition still needs to be
//!   allowed to pass its roles, as EventBridge and Step Functions callers of
//!   RunTask do in AWS).
//! - CreateService passes the service's `role` to `ecs.amazonaws.com`
//!   (UpdateService has no `role`). A service's tasks run the definition as it was
//!   registered (no overrides), so its roles were checked at registration.
//!
//! The pieces are pure; each operation's `resources` adds the roles it
//! passes (the tests in `routes/tests.rs` list them), and the HTTP layer
//! evaluates each as an `AuthzResource` with `action: iam:PassRole`.

use crate::task_credentials::{RoleKind, role_arn_of};
use berth_core::arn::Scope;
use berth_proto::AuthzResource;
use serde_json::Value;

/// The service principal task and execution roles are passed to.
pub(crate) const ECS_TASKS: &str = crate::task_credentials::ECS_TASKS_PRINCIPAL;
/// The service principal a service's `role` is passed to.
pub(crate) const ECS_SERVICE: &str = "ecs.amazonaws.com";

/// One role a request passes, and to which service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PassedRole {
    pub role_arn: String,
    pub service: &'static str,
}

impl PassedRole {
    /// The authorization check of passing this role.
    pub(crate) fn authz_resource(&self) -> AuthzResource {
        AuthzResource {
            arn: self.role_arn.clone(),
            action: Some("iam:PassRole".to_string()),
            condition_keys: vec![("iam:PassedToService".to_string(), self.service.to_string())],
            ..AuthzResource::default()
        }
    }
}

/// The roles a task definition names (RegisterTaskDefinition): its task
/// and execution roles, one check for the same role twice.
pub(crate) fn definition_roles(scope: &Scope, task: Option<&str>, execution: Option<&str>) -> Vec<PassedRole> {
    let mut out: Vec<PassedRole> = Vec::new();
    for name in [task, execution].into_iter().flatten() {
        if let Some(arn) = role_arn(scope, name)
            && !out.iter().any(|p| p.role_arn == arn)
        {
            out.push(PassedRole {
                role_arn: arn,
                service: ECS_TASKS,
            });
        }
    }
    out
}

/// The roles a task runs with: its overrides' task and execution roles,
/// or else its definition's.
pub(crate) fn task_roles(scope: &Scope, overrides: Option<&Value>, definition: Option<&Value>) -> Vec<PassedRole> {
    let overrides = overrides.unwrap_or(&Value::Null);
    let mut out: Vec<PassedRole> = Vec::new();
    for kind in [RoleKind::Task, RoleKind::Execution] {
        if let Some(arn) = role_arn_of(overrides, definition, kind).and_then(|n| role_arn(scope, &n))
            && !out.iter().any(|p| p.role_arn == arn)
        {
            out.push(PassedRole {
                role_arn: arn,
                service: ECS_TASKS,
            });
        }
    }
    out
}

/// A role given by ARN, or by name (`NAME` or `PATH/NAME`, which ECS
/// accepts for a service role) in this account; None when empty.
pub(crate) fn role_arn(scope: &Scope, name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        None
    } else if name.starts_with("arn:") {
        Some(name.to_string())
    } else {
        Some(format!(
            "arn:aws:iam::{}:role/{}",
            scope.account,
            name.trim_start_matches('/')
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "arn:aws:iam::000000000000:role/admin";

    #[test]
    fn each_role_is_a_pass_role_check() {
        let r = PassedRole {
            role_arn: ADMIN.to_string(),
            service: ECS_TASKS,
        }
        .authz_resource();
        assert_eq!(r.arn, ADMIN);
        assert_eq!(r.action.as_deref(), Some("iam:PassRole"));
        assert_eq!(
            r.condition_keys,
            vec![("iam:PassedToService".to_string(), ECS_TASKS.to_string())]
        );
    }
}
