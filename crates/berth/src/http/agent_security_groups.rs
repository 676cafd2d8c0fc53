//! `GET /agent/v1/security-groups?cluster=…&containerInstance=…` (SigV4,
//! empty payload; docs/agent-protocol.md §8): the security groups an agent
//! filters its awsvpc tasks with, as JSON (`berth-agent-protocol`'s
//! `SecurityGroupsView`): its tasks' groups from ECS's task records, their
//! rules and their peers' member addresses from EC2, and the other hosts'
//! task subnets and addresses (their instances' attributes) to route. Authorized as the
//! session stream is (`ecs:Poll` on the container instance).

use super::{App, error_response};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_proto::protocol::Protocol;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) async fn handler(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, _) = req.into_parts();
    let answer = async {
        let call = super::agent_poll::authorize(&app, &parts, peer).await?;
        let (region, resource) = (call.region, call.resource);
        let local: BTreeMap<String, Vec<String>> = region
            .ecs
            .awsvpc_tasks()
            .await?
            .iter()
            .filter(|t| t.container_instance_arn.as_deref() == Some(resource.arn.as_str()))
            .filter(|t| !t.berth.security_groups.is_empty())
            .map(|t| (t.task_arn.clone(), t.berth.security_groups.clone()))
            .collect();
        let hosts: Vec<_> = region
            .ecs
            .host_networks()
            .await?
            .into_iter()
            .map(|h| (h.instance_arn, h.task_subnet, h.host_address))
            .collect();
        region.ec2.agent_view(local, &resource.arn, &hosts).await
    };
    let mut resp = match answer.await {
        Ok(view) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&view).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => error_response(
            &e,
            Protocol::Json("application/x-amz-json-1.1"),
            &request_id,
            app.queries.default_style(),
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}
