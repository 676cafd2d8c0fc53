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
//! The mapping is pure; the HTTP layer evaluates each returned role as an
//! `AuthzResource` with `action: iam:PassRole`.

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

/// The roles `operation` passes. `definition` is the task definition a
/// RunTask/StartTask runs (None when it does not exist; the handler then
/// reports it).
pub(crate) fn passed_roles(
    scope: &Scope,
    operation: &str,
    input: &Value,
    definition: Option<&Value>,
) -> Vec<PassedRole> {
    let mut out: Vec<PassedRole> = Vec::new();
    let mut add = |name: Option<String>, service: &'static str| {
        if let Some(arn) = name.as_deref().and_then(|n| role_arn(scope, n))
            && !out.iter().any(|p| p.role_arn == arn && p.service == service)
        {
            out.push(PassedRole { role_arn: arn, service });
        }
    };
    let text = |v: &Value, field: &str| v.get(field).and_then(Value::as_str).map(str::to_string);
    match operation {
        "RegisterTaskDefinition" => {
            add(text(input, "taskRoleArn"), ECS_TASKS);
            add(text(input, "executionRoleArn"), ECS_TASKS);
        }
        "RunTask" | "StartTask" => return task_roles(scope, input.get("overrides"), definition),
        "CreateService" => add(text(input, "role"), ECS_SERVICE),
        _ => {}
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
    use serde_json::json;

    const ADMIN: &str = "arn:aws:iam::000000000000:role/admin";
    const EXEC: &str = "arn:aws:iam::000000000000:role/exec";

    fn scope() -> Scope {
        Scope::new("us-east-1", "000000000000")
    }

    fn roles(op: &str, input: Value, td: Option<Value>) -> Vec<(String, &'static str)> {
        passed_roles(&scope(), op, &input, td.as_ref())
            .into_iter()
            .map(|p| (p.role_arn, p.service))
            .collect()
    }

    #[test]
    fn register_task_definition_passes_both_roles() {
        assert_eq!(
            roles(
                "RegisterTaskDefinition",
                json!({"family": "f", "taskRoleArn": ADMIN, "executionRoleArn": EXEC}),
                None
            ),
            vec![(ADMIN.to_string(), ECS_TASKS), (EXEC.to_string(), ECS_TASKS)]
        );
        // The same role twice is one check; empty and missing roles none.
        assert_eq!(
            roles(
                "RegisterTaskDefinition",
                json!({"taskRoleArn": ADMIN, "executionRoleArn": ADMIN}),
                None
            ),
            vec![(ADMIN.to_string(), ECS_TASKS)]
        );
        assert!(roles("RegisterTaskDefinition", json!({"taskRoleArn": ""}), None).is_empty());
        assert!(roles("RegisterTaskDefinition", json!({"family": "f"}), None).is_empty());
    }

    #[test]
    fn run_task_passes_the_roles_the_task_runs_with() {
        let td = json!({"taskRoleArn": EXEC});
        // The definition's role.
        assert_eq!(
            roles("RunTask", json!({"taskDefinition": "f"}), Some(td.clone())),
            vec![(EXEC.to_string(), ECS_TASKS)]
        );
        // An override replaces it.
        assert_eq!(
            roles(
                "RunTask",
                json!({"overrides": {"taskRoleArn": ADMIN}}),
                Some(td.clone())
            ),
            vec![(ADMIN.to_string(), ECS_TASKS)]
        );
        assert_eq!(
            roles("StartTask", json!({"overrides": {"executionRoleArn": ADMIN}}), None),
            vec![(ADMIN.to_string(), ECS_TASKS)]
        );
        assert!(roles("RunTask", json!({}), None).is_empty());
    }

    #[test]
    fn services_pass_their_role_to_ecs() {
        assert_eq!(
            roles("CreateService", json!({"role": "ecsServiceRole"}), None),
            vec![("arn:aws:iam::000000000000:role/ecsServiceRole".to_string(), ECS_SERVICE)]
        );
        assert_eq!(
            roles("CreateService", json!({"role": "/ecs/svc"}), None),
            vec![("arn:aws:iam::000000000000:role/ecs/svc".to_string(), ECS_SERVICE)]
        );
        // UpdateService has no `role` member: nothing is passed.
        assert!(roles("UpdateService", json!({"role": "svc"}), None).is_empty());
        assert!(roles("CreateService", json!({"serviceName": "s"}), None).is_empty());
        // Other operations pass nothing, whatever fields they carry.
        assert!(roles("DescribeTasks", json!({"taskRoleArn": ADMIN}), None).is_empty());
    }

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
