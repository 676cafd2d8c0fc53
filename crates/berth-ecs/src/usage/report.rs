//! `BerthPublishTaskUsage` (docs/agent-protocol.md §7): an agent's report
//! of what its tasks used. Authorized on the container instance, and only
//! its own agent (or root) may report for it; the figures of its RUNNING
//! tasks go into the usage book, the rest (a task that stopped since the
//! agent measured it, one on another instance) is left out.

use crate::Ecs;
use crate::authz;
use crate::operation::Operation;
use crate::references::cluster_name;
use async_trait::async_trait;
use berth_agent_protocol::{Acknowledgment, UsageReport};
use berth_core::arn::Scope;
use berth_ecs_model::TaskStatus;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde_json::{Value, json};
use std::collections::HashSet;

/// A reported figure must be a number ECS could have measured.
fn check_figures(report: &UsageReport) -> Result<(), AwsError> {
    for t in &report.tasks {
        for c in &t.containers {
            for (what, v) in [("cpuUnits", c.cpu_units), ("memoryMib", c.memory_mib)] {
                if !v.is_finite() || v < 0.0 {
                    return Err(AwsError::invalid_parameter(format!(
                        "The {what} of container {} of task {} must be a non-negative number.",
                        c.name, t.task_arn
                    )));
                }
            }
        }
    }
    Ok(())
}

impl Ecs {
    pub(crate) async fn publish_task_usage(&self, ctx: &RequestContext, input: UsageReport) -> Result<Value, AwsError> {
        let name = cluster_name(input.cluster.as_deref())?;
        check_figures(&input)?;
        let rec = self
            .agent_instance(
                &ctx.principal,
                &name,
                &input.container_instance,
                authz::AGENT_TELEMETRY_ACTION,
            )
            .await?;
        let running: HashSet<String> = self
            .synced_view()
            .await?
            .tasks_on(&name, &rec.container_instance_arn)
            .into_iter()
            .filter(|t| t.last_status == TaskStatus::Running)
            .map(|t| t.task_arn.clone())
            .collect();
        for t in &input.tasks {
            if running.contains(&t.task_arn) {
                let (cpu, memory) = t.totals();
                self.usage.record(&name, &t.task_arn, cpu, memory);
            }
        }
        Ok(json!(Acknowledgment::ack()))
    }
}

/// BerthPublishTaskUsage (Berth agents): on the agent's container instance.
pub(crate) struct BerthPublishTaskUsage;

#[async_trait]
impl Operation<Ecs> for BerthPublishTaskUsage {
    const NAME: &'static str = "BerthPublishTaskUsage";
    type Input = UsageReport;

    fn resources(scope: &Scope, input: &UsageReport) -> Vec<AuthzResource> {
        vec![authz::agent_instance_resource(
            scope,
            input.cluster.as_deref(),
            &input.container_instance,
            authz::AGENT_TELEMETRY_ACTION,
        )]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: UsageReport) -> Result<Value, AwsError> {
        ecs.publish_task_usage(ctx, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_agent_protocol::{ContainerUsage, TaskUsage};

    fn report(cpu: f64, mem: f64) -> UsageReport {
        UsageReport {
            cluster: None,
            container_instance: "i".into(),
            tasks: vec![TaskUsage {
                task_arn: "t".into(),
                containers: vec![ContainerUsage {
                    name: "app".into(),
                    cpu_units: cpu,
                    memory_mib: mem,
                }],
            }],
        }
    }

    #[test]
    fn figures_must_be_non_negative_numbers() {
        assert!(check_figures(&report(0.0, 12.5)).is_ok());
        let e = check_figures(&report(-1.0, 1.0)).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert_eq!(
            e.message,
            "The cpuUnits of container app of task t must be a non-negative number."
        );
        assert!(check_figures(&report(1.0, f64::NAN)).is_err());
        assert!(check_figures(&report(f64::INFINITY, 1.0)).is_err());
    }
}
