//! DeleteService: scale the service to zero and mark it DRAINING.

use crate::Ecs;
use berth_core::time::now_epoch;
use berth_proto::json::decode;
use berth_proto::{AwsError, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteServiceInput {
    cluster: Option<String>,
    service: String,
    force: Option<bool>,
}

impl Ecs {
    pub(crate) async fn delete_service(&self, _ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let input: DeleteServiceInput = decode(input)?;
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
                s.status = "DRAINING".into();
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
