//! Service deployment history: ListServiceDeployments,
//! DescribeServiceDeployments, DescribeServiceRevisions,
//! StopServiceDeployment and ContinueServiceDeployment (the answer to a
//! PAUSE lifecycle hook of a BLUE_GREEN/LINEAR/CANARY deployment: CONTINUE
//! lets the controller go on, ROLLBACK rolls back as StopServiceDeployment
//! does).
//!
//! Every deployment a service has had (its `deployments`, then the ended
//! ones in its history) is one service revision; each one that is not a
//! circuit-breaker rollback is also one service deployment. A rollback is
//! folded into the deployment it rolls back (ROLLBACK_IN_PROGRESS, then
//! ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED), as ECS shows it. Both ARNs end
//! with the digits of the deployment id (`ecs-svc/DIGITS`):
//! `arn:aws:ecs:R:A:service-deployment/CLUSTER/SERVICE/DIGITS` and
//! `arn:aws:ecs:R:A:service-revision/CLUSTER/SERVICE/DIGITS`.

use crate::authz;
use crate::operation::Operation;
use crate::services::{DeploymentRecord, ServiceRecord};
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::deploy_math::failure_threshold;
use berth_ecs_model::service::{AlarmMonitorStatus, HookAction, answer_hook, service_deployment_status};
use berth_ecs_model::{RolloutState, ServiceDeploymentStatus, StatusName};
use berth_proto::pagination::paginate;
use berth_proto::pagination::with_next_token;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::{Compare, Op, typed};
use serde::Deserialize;
use serde_json::{Value, json};

fn digits(id: &str) -> &str {
    id.strip_prefix("ecs-svc/").unwrap_or(id)
}

/// `(cluster, service, digits)` of a service-deployment or
/// service-revision ARN.
pub fn parse_history_arn<'a>(arn: &'a str, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let resource = arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)?;
    let rest = resource.strip_prefix(kind)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let (c, s, d) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && !c.is_empty() && !s.is_empty() && !d.is_empty()).then_some((c, s, d))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedAtIn {
    before: Option<Value>,
    after: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListInput {
    service: String,
    cluster: Option<String>,
    #[serde(default)]
    status: Vec<String>,
    created_at: Option<CreatedAtIn>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeDeploymentsInput {
    service_deployment_arns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeRevisionsInput {
    service_revision_arns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StopInput {
    service_deployment_arn: String,
    stop_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContinueInput {
    service_deployment_arn: String,
    hook_id: String,
    action: Option<String>,
}

impl Ecs {
    pub(crate) fn deployment_arn(&self, svc: &ServiceRecord, id: &str) -> String {
        self.scope.arn(
            "ecs",
            format!(
                "service-deployment/{}/{}/{}",
                svc.berth.cluster,
                svc.service_name,
                digits(id)
            ),
        )
    }

    pub(crate) fn revision_arn(&self, svc: &ServiceRecord, id: &str) -> String {
        self.scope.arn(
            "ecs",
            format!(
                "service-revision/{}/{}/{}",
                svc.berth.cluster,
                svc.service_name,
                digits(id)
            ),
        )
    }

    /// The service as DescribeServices shows it, with its current service
    /// deployment and revisions.
    pub(crate) fn render_service(&self, svc: &ServiceRecord, include_tags: bool) -> Value {
        let mut v = svc.render(include_tags);
        if let Some(p) = svc.primary() {
            let current = p.berth.rollback_from.clone().unwrap_or_else(|| p.id.clone());
            v["currentServiceDeployment"] = json!(self.deployment_arn(svc, &current));
        }
        v["currentServiceRevisions"] = svc
            .deployments
            .iter()
            .map(|d| {
                json!({"arn": self.revision_arn(svc, &d.id), "requestedTaskCount": d.desired_count,
                       "runningTaskCount": d.running_count, "pendingTaskCount": d.pending_count})
            })
            .collect();
        v
    }

    fn all_deployments(svc: &ServiceRecord) -> impl Iterator<Item = &DeploymentRecord> {
        svc.deployments.iter().chain(&svc.berth.history)
    }

    fn render_brief(&self, svc: &ServiceRecord, d: &DeploymentRecord) -> Value {
        let (status, reason) = service_deployment_status(svc, d);
        let mut v = json!({
            "serviceDeploymentArn": self.deployment_arn(svc, &d.id),
            "serviceArn": svc.service_arn,
            "clusterArn": svc.cluster_arn,
            "createdAt": d.created_at,
            "startedAt": d.created_at,
            "targetServiceRevisionArn": self.revision_arn(svc, &d.id),
            "status": status.as_str(),
            "statusReason": reason,
        });
        if !status.in_progress() {
            v["finishedAt"] = json!(d.berth.finished_at.unwrap_or(d.updated_at));
        }
        v
    }

    fn render_service_deployment(&self, svc: &ServiceRecord, d: &DeploymentRecord) -> Value {
        let mut v = self.render_brief(svc, d);
        let (status, _) = service_deployment_status(svc, d);
        v["updatedAt"] = json!(d.updated_at);
        if status == ServiceDeploymentStatus::Stopped {
            v["stoppedAt"] = json!(d.berth.finished_at.unwrap_or(d.updated_at));
        }
        v["sourceServiceRevisions"] = d
            .berth
            .sources
            .iter()
            .map(|(id, requested, running, pending)| {
                json!({"arn": self.revision_arn(svc, id), "requestedTaskCount": requested,
                       "runningTaskCount": running, "pendingTaskCount": pending})
            })
            .collect();
        v["targetServiceRevision"] = json!({
            "arn": self.revision_arn(svc, &d.id),
            "requestedTaskCount": d.desired_count,
            "runningTaskCount": d.running_count,
            "pendingTaskCount": d.pending_count,
        });
        // The ROLLING stages: new tasks come up, then the old ones go.
        let active = if status == ServiceDeploymentStatus::RollbackInProgress {
            d.berth
                .rolled_back_by
                .as_deref()
                .and_then(|r| Self::all_deployments(svc).find(|x| x.id == r))
        } else if status == ServiceDeploymentStatus::InProgress {
            Some(d)
        } else {
            None
        };
        if let Some(stage) = active.and_then(|a| a.berth.shift.as_ref()).map(|s| s.stage) {
            // BLUE_GREEN/LINEAR/CANARY: the stage the traffic shift is at.
            v["lifecycleStage"] = json!(stage.as_str());
        } else if let Some(a) = active {
            v["lifecycleStage"] = json!(if a.running_count < a.desired_count {
                "SCALE_UP"
            } else {
                "CLEAN_UP"
            });
        }
        // Its pauses at PAUSE lifecycle hooks.
        if let Some(runs) = d.berth.shift.as_ref().map(|s| &s.hooks).filter(|h| !h.is_empty()) {
            v["lifecycleHookDetails"] = runs.iter().map(|r| r.detail(status.in_progress())).collect();
        }
        let config = d
            .berth
            .config
            .clone()
            .unwrap_or_else(|| svc.deployment_configuration.clone());
        v["deploymentConfiguration"] = serde_json::to_value(&config).unwrap_or_default();
        let cb = &config.deployment_circuit_breaker;
        v["deploymentCircuitBreaker"] = json!({
            "status": if !cb.enable {
                "DISABLED"
            } else if d.rollout_state == RolloutState::Failed && d.failed_tasks > 0 {
                "TRIGGERED"
            } else if status == ServiceDeploymentStatus::InProgress {
                "MONITORING"
            } else {
                "MONITORING_COMPLETE"
            },
            "failureCount": d.failed_tasks,
            "threshold": failure_threshold(d.desired_count.max(0) as u32),
        });
        // A rollback deployment does not watch the alarms.
        let alarms = config.alarms.clone().filter(|a| a.watched());
        let watched = alarms.is_some() && d.berth.rollback_from.is_none();
        let triggered = !d.berth.triggered_alarms.is_empty();
        let monitor = AlarmMonitorStatus::of(watched, triggered, status.in_progress() && !triggered);
        v["alarms"] = json!({"status": monitor.as_str()});
        if let Some(a) = alarms.filter(|_| watched) {
            v["alarms"]["alarmNames"] = json!(a.alarm_names);
            v["alarms"]["triggeredAlarmNames"] = json!(d.berth.triggered_alarms);
        }
        if let (Some(to), Some(at)) = (&d.berth.rollback_to, d.berth.rollback_started_at) {
            v["rollback"] = json!({
                "reason": d.berth.rollback_reason.clone().unwrap_or_default(),
                "startedAt": at,
                "serviceRevisionArn": self.revision_arn(svc, to),
            });
        }
        v
    }

    fn render_revision(&self, svc: &ServiceRecord, d: &DeploymentRecord, td: Option<&Value>) -> Value {
        let images: Vec<Value> = td
            .and_then(|t| t["containerDefinitions"].as_array())
            .into_iter()
            .flatten()
            .map(|c| json!({"containerName": c["name"], "image": c["image"]}))
            .collect();
        let mut v = json!({
            "serviceRevisionArn": self.revision_arn(svc, &d.id),
            "serviceArn": svc.service_arn,
            "clusterArn": svc.cluster_arn,
            "taskDefinition": d.task_definition,
            "loadBalancers": [],
            "serviceRegistries": [],
            "containerImages": images,
            "guardDutyEnabled": false,
            "createdAt": d.created_at,
        });
        if !d.capacity_provider_strategy.is_empty() {
            v["capacityProviderStrategy"] = serde_json::to_value(&d.capacity_provider_strategy).unwrap_or_default();
        }
        for (k, val) in [
            ("launchType", d.launch_type.clone()),
            ("platformVersion", d.platform_version.clone()),
            ("platformFamily", d.platform_family.clone()),
        ] {
            if let Some(x) = val {
                v[k] = json!(x);
            }
        }
        if let Some(n) = &d.network_configuration {
            v["networkConfiguration"] = n.clone();
        }
        v
    }

    pub(crate) async fn list_service_deployments(
        &self,
        _ctx: &RequestContext,
        input: ListInput,
    ) -> Result<Value, AwsError> {
        let wanted = input
            .status
            .iter()
            .map(|s| {
                ServiceDeploymentStatus::parse(s).ok_or_else(|| {
                    let valid: Vec<&str> = ServiceDeploymentStatus::ALL.iter().map(|s| s.as_str()).collect();
                    AwsError::invalid_parameter(format!("Invalid status '{s}'. Valid values: {}.", valid.join(", ")))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ts = |v: &Option<Value>| v.as_ref().map(berth_ecs_model::task::timestamp).transpose();
        let (before, after) = match &input.created_at {
            Some(c) => (ts(&c.before)?.flatten(), ts(&c.after)?.flatten()),
            None => (None, None),
        };
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let (svc, _) = self
            .get_service(&cluster.cluster_name, &input.service)
            .await?
            .ok_or_else(|| AwsError::service_not_found("Service not found."))?;
        let mut briefs: Vec<(String, Value)> = Self::all_deployments(&svc)
            .filter(|d| d.berth.rollback_from.is_none())
            .filter(|d| before.is_none_or(|b| d.created_at < b) && after.is_none_or(|a| d.created_at > a))
            .filter(|d| wanted.is_empty() || wanted.contains(&service_deployment_status(&svc, d).0))
            .map(|d| (d, self.render_brief(&svc, d)))
            // Newest first: key on the inverted creation time.
            .map(|(d, v)| {
                let ms = (d.created_at * 1000.0) as u64;
                (format!("{:020}-{}", u64::MAX - ms, digits(&d.id)), v)
            })
            .collect();
        briefs.sort_by(|a, b| a.0.cmp(&b.0));
        let (page, next) = paginate(
            briefs,
            |(k, _)| k.clone(),
            input.next_token.as_deref(),
            input.max_results,
            20,
            100,
        )?;
        Ok(with_next_token(
            json!({"serviceDeployments": page.into_iter().map(|(_, v)| v).collect::<Vec<_>>()}),
            next,
        ))
    }

    /// Finds the service and deployment an ARN of `kind` names.
    async fn history_entry(
        &self,
        arn: &str,
        kind: &str,
    ) -> Result<Option<(ServiceRecord, i64, DeploymentRecord)>, AwsError> {
        let Some((cluster, service, digits_)) = parse_history_arn(arn, kind) else {
            return Ok(None);
        };
        if !arn.starts_with(&self.scope.arn("ecs", "")) {
            return Ok(None);
        }
        let Some((svc, rev)) = typed::get::<ServiceRecord>(&*self.store, &keys::service(cluster, service))
            .await
            .map_err(AwsError::state_store)?
        else {
            return Ok(None);
        };
        let d = Self::all_deployments(&svc).find(|d| digits(&d.id) == digits_).cloned();
        Ok(d.map(|d| (svc, rev, d)))
    }

    pub(crate) async fn describe_service_deployments(
        &self,
        _ctx: &RequestContext,
        input: DescribeDeploymentsInput,
    ) -> Result<Value, AwsError> {
        if input.service_deployment_arns.is_empty() || input.service_deployment_arns.len() > 20 {
            return Err(AwsError::invalid_parameter(
                "serviceDeploymentArns must list between 1 and 20 ARNs.",
            ));
        }
        let mut found = vec![];
        let mut failures = vec![];
        for arn in &input.service_deployment_arns {
            match self.history_entry(arn, "service-deployment").await? {
                Some((svc, _, d)) if d.berth.rollback_from.is_none() => {
                    found.push(self.render_service_deployment(&svc, &d))
                }
                _ => failures.push(json!({"arn": arn, "reason": "MISSING"})),
            }
        }
        Ok(json!({"serviceDeployments": found, "failures": failures}))
    }

    pub(crate) async fn describe_service_revisions(
        &self,
        _ctx: &RequestContext,
        input: DescribeRevisionsInput,
    ) -> Result<Value, AwsError> {
        if input.service_revision_arns.is_empty() || input.service_revision_arns.len() > 20 {
            return Err(AwsError::invalid_parameter(
                "serviceRevisionArns must list between 1 and 20 ARNs.",
            ));
        }
        let mut found = vec![];
        let mut failures = vec![];
        for arn in &input.service_revision_arns {
            match self.history_entry(arn, "service-revision").await? {
                Some((svc, _, d)) => {
                    let td = self
                        .find_task_definition(&d.task_definition)
                        .await?
                        .and_then(|(rec, _, _)| berth_proto::json::encode(&rec.task_definition).ok());
                    found.push(self.render_revision(&svc, &d, td.as_ref()));
                }
                None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
            }
        }
        Ok(json!({"serviceRevisions": found, "failures": failures}))
    }

    pub(crate) async fn stop_service_deployment(
        &self,
        _ctx: &RequestContext,
        input: StopInput,
    ) -> Result<Value, AwsError> {
        match input.stop_type.as_deref() {
            None | Some("ROLLBACK") => {}
            Some("ABORT") => {
                return Err(AwsError::invalid_parameter(
                    "The stopType ABORT is not supported for ROLLING deployments; use ROLLBACK.",
                ));
            }
            Some(other) => {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid stopType '{other}'. Valid values: ROLLBACK."
                )));
            }
        }
        let arn = input.service_deployment_arn.clone();
        let not_found = || AwsError::service_deployment_not_found("The service deployment does not exist.");
        loop {
            let (mut svc, rev, d) = self
                .history_entry(&arn, "service-deployment")
                .await?
                .filter(|(_, _, d)| d.berth.rollback_from.is_none())
                .ok_or_else(not_found)?;
            match service_deployment_status(&svc, &d).0 {
                ServiceDeploymentStatus::RollbackInProgress | ServiceDeploymentStatus::RollbackRequested => {
                    return Ok(json!({"serviceDeploymentArn": arn}));
                }
                ServiceDeploymentStatus::InProgress => {}
                other => {
                    return Err(AwsError::conflict(format!(
                        "The service deployment is {other}; only a deployment in progress can be stopped."
                    )));
                }
            }
            let now = now_epoch();
            let Some(good) = svc.start_rollback("Service deployment rolled back by StopServiceDeployment.", now) else {
                return Err(AwsError::invalid_parameter(
                    "The service deployment can't be rolled back: the service has no earlier successful deployment.",
                ));
            };
            let name = svc.service_name.clone();
            svc.push_event(format!("(service {name}) rolling back to deployment {good}."), now);
            let key = keys::service(&svc.berth.cluster, &name);
            if self
                .store
                .txn(
                    vec![Compare::ModRevision(key.clone(), rev)],
                    vec![Op::Put(key, typed::encode(&svc).map_err(AwsError::state_store)?)],
                )
                .await
                .map_err(AwsError::state_store)?
                .succeeded
            {
                tracing::info!(service = %svc.service_arn, deployment = %d.id, "service deployment rolled back on request");
                return Ok(json!({"serviceDeploymentArn": arn}));
            }
        }
    }
}

impl Ecs {
    pub(crate) async fn continue_service_deployment(
        &self,
        _ctx: &RequestContext,
        input: ContinueInput,
    ) -> Result<Value, AwsError> {
        let action = match input.action.as_deref() {
            None => HookAction::Continue,
            Some(a) => HookAction::parse(a).ok_or_else(|| {
                AwsError::invalid_parameter(format!("Invalid action '{a}'. Valid values: CONTINUE, ROLLBACK."))
            })?,
        };
        if input.hook_id.is_empty() {
            return Err(AwsError::invalid_parameter("hookId must not be empty."));
        }
        let arn = input.service_deployment_arn.clone();
        let not_found = || AwsError::service_deployment_not_found("The service deployment does not exist.");
        loop {
            let (mut svc, rev, d) = self
                .history_entry(&arn, "service-deployment")
                .await?
                .filter(|(_, _, d)| d.berth.rollback_from.is_none())
                .ok_or_else(not_found)?;
            let status = service_deployment_status(&svc, &d).0;
            if status != ServiceDeploymentStatus::InProgress {
                return Err(AwsError::invalid_parameter(format!(
                    "The service deployment is {status}; only a deployment IN_PROGRESS and paused at a lifecycle hook can be continued."
                )));
            }
            let now = now_epoch();
            let runs = svc
                .deployments
                .iter_mut()
                .find(|x| x.id == d.id)
                .and_then(|x| x.berth.shift.as_mut())
                .map(|s| &mut s.hooks)
                .ok_or_else(|| {
                    AwsError::invalid_parameter(format!(
                        "The service deployment has no lifecycle hook {}.",
                        input.hook_id
                    ))
                })?;
            answer_hook(runs, &input.hook_id, action, now)?;
            let name = svc.service_name.clone();
            svc.push_event(
                format!(
                    "(service {name}) (deployment {}) lifecycle hook {} answered {}.",
                    d.id,
                    input.hook_id,
                    action.as_str()
                ),
                now,
            );
            if action == HookAction::Rollback {
                let reason = "Service deployment rolled back by ContinueServiceDeployment.";
                let Some(good) = svc.start_rollback_by("ECS deployment lifecycle hook", reason, now) else {
                    return Err(AwsError::invalid_parameter(
                        "The service deployment can't be rolled back: the service has no earlier successful deployment.",
                    ));
                };
                svc.push_event(format!("(service {name}) rolling back to deployment {good}."), now);
            }
            let key = keys::service(&svc.berth.cluster, &name);
            if self
                .store
                .txn(
                    vec![Compare::ModRevision(key.clone(), rev)],
                    vec![Op::Put(key, typed::encode(&svc).map_err(AwsError::state_store)?)],
                )
                .await
                .map_err(AwsError::state_store)?
                .succeeded
            {
                tracing::info!(service = %svc.service_arn, deployment = %d.id, hook = %input.hook_id, action = action.as_str(), "lifecycle hook answered");
                return Ok(json!({"serviceDeploymentArn": arn}));
            }
        }
    }
}

/// ListServiceDeployments: on the service.
pub(crate) struct ListServiceDeployments;

#[async_trait]
impl Operation<Ecs> for ListServiceDeployments {
    const NAME: &'static str = "ListServiceDeployments";
    type Input = ListInput;

    fn resources(scope: &Scope, input: &ListInput) -> Vec<AuthzResource> {
        authz::in_cluster(
            scope,
            input.cluster.as_deref(),
            [input.service.as_str()],
            Scope::service_arn,
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListInput) -> Result<Value, AwsError> {
        ecs.list_service_deployments(ctx, input).await
    }
}

/// DescribeServiceDeployments: on each deployment named.
pub(crate) struct DescribeServiceDeployments;

#[async_trait]
impl Operation<Ecs> for DescribeServiceDeployments {
    const NAME: &'static str = "DescribeServiceDeployments";
    type Input = DescribeDeploymentsInput;

    fn resources(scope: &Scope, input: &DescribeDeploymentsInput) -> Vec<AuthzResource> {
        authz::resources_of(scope, input.service_deployment_arns.iter().cloned())
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DescribeDeploymentsInput) -> Result<Value, AwsError> {
        ecs.describe_service_deployments(ctx, input).await
    }
}

/// DescribeServiceRevisions: on each revision named.
pub(crate) struct DescribeServiceRevisions;

#[async_trait]
impl Operation<Ecs> for DescribeServiceRevisions {
    const NAME: &'static str = "DescribeServiceRevisions";
    type Input = DescribeRevisionsInput;

    fn resources(scope: &Scope, input: &DescribeRevisionsInput) -> Vec<AuthzResource> {
        authz::resources_of(scope, input.service_revision_arns.iter().cloned())
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DescribeRevisionsInput) -> Result<Value, AwsError> {
        ecs.describe_service_revisions(ctx, input).await
    }
}

/// StopServiceDeployment: on the deployment.
pub(crate) struct StopServiceDeployment;

#[async_trait]
impl Operation<Ecs> for StopServiceDeployment {
    const NAME: &'static str = "StopServiceDeployment";
    type Input = StopInput;

    fn resources(scope: &Scope, input: &StopInput) -> Vec<AuthzResource> {
        authz::resources_of(scope, [input.service_deployment_arn.clone()])
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: StopInput) -> Result<Value, AwsError> {
        ecs.stop_service_deployment(ctx, input).await
    }
}

/// ContinueServiceDeployment: on the deployment.
pub(crate) struct ContinueServiceDeployment;

#[async_trait]
impl Operation<Ecs> for ContinueServiceDeployment {
    const NAME: &'static str = "ContinueServiceDeployment";
    type Input = ContinueInput;

    fn resources(scope: &Scope, input: &ContinueInput) -> Vec<AuthzResource> {
        authz::resources_of(scope, [input.service_deployment_arn.clone()])
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ContinueInput) -> Result<Value, AwsError> {
        ecs.continue_service_deployment(ctx, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_arns() {
        assert_eq!(
            parse_history_arn(
                "arn:aws:ecs:us-east-1:1:service-deployment/c/web/123",
                "service-deployment"
            ),
            Some(("c", "web", "123"))
        );
        assert_eq!(
            parse_history_arn("arn:aws:ecs:us-east-1:1:service-revision/c/web/9", "service-revision"),
            Some(("c", "web", "9"))
        );
        assert_eq!(
            parse_history_arn("arn:aws:ecs:us-east-1:1:service-revision/c/web/9", "service-deployment"),
            None
        );
        assert_eq!(
            parse_history_arn("arn:aws:ecs:us-east-1:1:service-deployment/c/web", "service-deployment"),
            None
        );
        assert_eq!(parse_history_arn("nope", "service-deployment"), None);
        assert_eq!(digits("ecs-svc/42"), "42");
    }
}
