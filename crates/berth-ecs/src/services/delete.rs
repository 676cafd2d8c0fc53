//! DeleteService: scale the service to zero and mark it DRAINING.

use crate::Ecs;
use crate::authz;
use crate::operation::Operation;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::ServiceStatus;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteServiceInput {
    cluster: Option<String>,
    service: String,
    force: Option<bool>,
}

impl Ecs {
    pub(crate) async fn delete_service(
        &self,
        _ctx: &RequestContext,
        input: DeleteServiceInput,
    ) -> Result<Value, AwsError> {
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let cname = cluster.cluster_name;
        let force = input.force.unwrap_or(false);
        let rec = self
            .modify_active_service(&cname, &input.service, |s| {
                if !s.is_daemon() && s.desired_count > 0 && !force {
                    return Err(AwsError::invalid_parameter(
                        "The service cannot be stopped while it is scaled above 0.",
                    ));
                }
                let now = now_epoch();
                s.status = ServiceStatus::Draining.into();
                s.desired_count = 0;
                for d in &mut s.deployments {
                    d.desired_count = 0;
                    d.updated_at = now;
                }
                s.berth.steady = false;
                Ok(())
            })
            .await?;
        tracing::info!(service = %rec.service_arn, "service deleted (draining)");
        Ok(json!({"service": self.render_service(&rec, false)}))
    }
}

/// DeleteService: on the service.
pub(crate) struct DeleteService;

#[async_trait]
impl Operation<Ecs> for DeleteService {
    const NAME: &'static str = "DeleteService";
    type Input = DeleteServiceInput;

    fn resources(scope: &Scope, input: &DeleteServiceInput) -> Vec<AuthzResource> {
        authz::in_cluster(
            scope,
            input.cluster.as_deref(),
            [input.service.as_str()],
            Scope::service_arn,
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DeleteServiceInput) -> Result<Value, AwsError> {
        ecs.delete_service(ctx, input).await
    }
}
