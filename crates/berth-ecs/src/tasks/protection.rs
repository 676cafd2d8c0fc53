//! GetTaskProtection and UpdateTaskProtection: scale-in protection of a
//! service's tasks. A protected task keeps `berth.protectedUntil` (epoch
//! seconds) in its record; until then its service neither scales it in nor
//! replaces it in a deployment (`deploy_math`), and the protection reads
//! as ended once that time has passed.

use crate::authz::{self, arn_in_cluster};
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::TaskStatus;
use berth_ecs_model::task::{TaskRecord, task_id_of};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

/// Protection without `expiresInMinutes`: 2 hours.
pub const DEFAULT_PROTECTION_MINUTES: i64 = 120;
/// The longest protection: 48 hours.
pub const MAX_PROTECTION_MINUTES: i64 = 2880;
/// Tasks per UpdateTaskProtection.
const MAX_UPDATE_TASKS: usize = 10;
/// Tasks per GetTaskProtection.
const MAX_GET_TASKS: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetTaskProtectionInput {
    cluster: String,
    tasks: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateTaskProtectionInput {
    cluster: String,
    tasks: Vec<String>,
    protection_enabled: bool,
    expires_in_minutes: Option<i64>,
}

/// The tasks named (with `ecs:cluster`), or the cluster when none is.
fn task_resources(scope: &Scope, cluster: &str, tasks: &[String]) -> Vec<AuthzResource> {
    if tasks.is_empty() {
        let arn = match crate::references::cluster_name(Some(cluster)) {
            Ok(c) => scope.cluster_arn(&c),
            Err(_) => "*".to_string(),
        };
        return vec![authz::resource(scope, arn, vec![])];
    }
    tasks
        .iter()
        .map(|t| {
            authz::resource(
                scope,
                arn_in_cluster(scope, Some(cluster), Some(t), Scope::task_arn),
                vec![],
            )
        })
        .collect()
}

/// The protection of `minutes` from `now`, or none: the expiry to record
/// (pure). `minutes` is checked only when protection is enabled.
pub fn protection_until(enabled: bool, minutes: Option<i64>, now: f64) -> Result<Option<f64>, AwsError> {
    if !enabled {
        return Ok(None);
    }
    let m = minutes.unwrap_or(DEFAULT_PROTECTION_MINUTES);
    if !(1..=MAX_PROTECTION_MINUTES).contains(&m) {
        return Err(AwsError::invalid_parameter(format!(
            "expiresInMinutes must be between 1 and {MAX_PROTECTION_MINUTES}, got {m}."
        )));
    }
    Ok(Some(now + (m * 60) as f64))
}

/// A task's `ProtectedTask` at `now` (pure).
pub fn protected_task(t: &TaskRecord, now: f64) -> Value {
    if t.berth.protected_at(now) {
        json!({"taskArn": t.task_arn, "protectionEnabled": true, "expirationDate": t.berth.protected_until})
    } else {
        json!({"taskArn": t.task_arn, "protectionEnabled": false})
    }
}

/// Whether the task a reference names is `t` (an ARN must be its own).
fn names(reference: &str, t: &TaskRecord) -> bool {
    !reference.starts_with("arn:") || t.task_arn == reference || reference.ends_with(&format!("task/{}", t.berth.id))
}

fn is_service_task(t: &TaskRecord) -> bool {
    t.group.starts_with("service:")
}

pub(crate) struct GetTaskProtection;

#[async_trait]
impl Operation<Ecs> for GetTaskProtection {
    const NAME: &'static str = "GetTaskProtection";
    type Input = GetTaskProtectionInput;

    fn resources(scope: &Scope, input: &GetTaskProtectionInput) -> Vec<AuthzResource> {
        task_resources(scope, &input.cluster, input.tasks.as_deref().unwrap_or_default())
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: GetTaskProtectionInput) -> Result<Value, AwsError> {
        let tasks = input.tasks.unwrap_or_default();
        if tasks.len() > MAX_GET_TASKS {
            return Err(AwsError::invalid_parameter(format!(
                "tasks can list at most {MAX_GET_TASKS} tasks."
            )));
        }
        let cluster = ecs.active_cluster(Some(&input.cluster)).await?.cluster_name;
        let now = now_epoch();
        let mut protected = vec![];
        let mut failures = vec![];
        if tasks.is_empty() {
            // Every task of the cluster's services that is protected now.
            for t in ecs.synced_view().await?.tasks(&cluster) {
                if is_service_task(&t) && t.desired_status == TaskStatus::Running && t.berth.protected_at(now) {
                    protected.push(protected_task(&t, now));
                }
            }
        }
        for reference in &tasks {
            let id = task_id_of(reference);
            let found = match id {
                "" => None,
                id => typed::get::<TaskRecord>(&*ecs.store, &keys::task(&cluster, id))
                    .await
                    .map_err(AwsError::state_store)?
                    .map(|(t, _)| t)
                    .filter(|t| names(reference, t)),
            };
            match found {
                Some(t) if is_service_task(&t) => protected.push(protected_task(&t, now)),
                Some(t) => failures.push(json!({"arn": t.task_arn, "reason": "TASK_NOT_VALID"})),
                None => failures.push(missing(ecs, &cluster, reference)),
            }
        }
        Ok(json!({"protectedTasks": protected, "failures": failures}))
    }
}

fn missing(ecs: &Ecs, cluster: &str, reference: &str) -> Value {
    let arn = if reference.starts_with("arn:") {
        reference.to_string()
    } else {
        ecs.scope.task_arn(cluster, reference)
    };
    json!({"arn": arn, "reason": "MISSING"})
}

pub(crate) struct UpdateTaskProtection;

#[async_trait]
impl Operation<Ecs> for UpdateTaskProtection {
    const NAME: &'static str = "UpdateTaskProtection";
    type Input = UpdateTaskProtectionInput;

    fn resources(scope: &Scope, input: &UpdateTaskProtectionInput) -> Vec<AuthzResource> {
        task_resources(scope, &input.cluster, &input.tasks)
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: UpdateTaskProtectionInput) -> Result<Value, AwsError> {
        if input.tasks.is_empty() || input.tasks.len() > MAX_UPDATE_TASKS {
            return Err(AwsError::invalid_parameter(format!(
                "tasks must list between 1 and {MAX_UPDATE_TASKS} tasks."
            )));
        }
        let now = now_epoch();
        let until = protection_until(input.protection_enabled, input.expires_in_minutes, now)?;
        let cluster = ecs.active_cluster(Some(&input.cluster)).await?.cluster_name;
        let mut protected = vec![];
        let mut failures = vec![];
        for reference in &input.tasks {
            let id = task_id_of(reference);
            let mut verdict: Option<&'static str> = None;
            let rec = match id {
                "" => None,
                id => {
                    ecs.modify_task(&cluster, id, |t| {
                        verdict = if !names(reference, t) {
                            Some("MISSING")
                        } else if !is_service_task(t) || t.desired_status == TaskStatus::Stopped {
                            Some("TASK_NOT_VALID")
                        } else {
                            None
                        };
                        if verdict.is_some() || t.berth.protected_until == until {
                            return Ok(false);
                        }
                        t.berth.protected_until = until;
                        Ok(true)
                    })
                    .await?
                }
            };
            match (rec, verdict) {
                (Some(t), None) => protected.push(protected_task(&t, now)),
                (Some(t), Some("TASK_NOT_VALID")) => {
                    failures.push(json!({"arn": t.task_arn, "reason": "TASK_NOT_VALID"}))
                }
                _ => failures.push(missing(ecs, &cluster, reference)),
            }
        }
        Ok(json!({"protectedTasks": protected, "failures": failures}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_defaults_to_two_hours_and_is_bounded() {
        assert_eq!(protection_until(true, None, 1000.0).unwrap(), Some(1000.0 + 7200.0));
        assert_eq!(protection_until(true, Some(1), 0.0).unwrap(), Some(60.0));
        assert_eq!(protection_until(true, Some(2880), 0.0).unwrap(), Some(172_800.0));
        for bad in [0, -1, 2881] {
            let e = protection_until(true, Some(bad), 0.0).unwrap_err();
            assert_eq!(e.code, "InvalidParameterException", "{bad}");
        }
        // Disabling ignores the duration.
        assert_eq!(protection_until(false, Some(99_999), 0.0).unwrap(), None);
    }

    #[test]
    fn resources_are_the_tasks_with_their_cluster() {
        let s = Scope::new("us-east-1", "000000000000");
        let r = task_resources(&s, "c", &["t1".to_string()]);
        assert_eq!(r[0].arn, "arn:aws:ecs:us-east-1:000000000000:task/c/t1");
        assert_eq!(
            r[0].condition_keys,
            vec![(
                "ecs:cluster".to_string(),
                "arn:aws:ecs:us-east-1:000000000000:cluster/c".to_string()
            )]
        );
        let r = task_resources(&s, "c", &[]);
        assert_eq!(r[0].arn, "arn:aws:ecs:us-east-1:000000000000:cluster/c");
    }
}
