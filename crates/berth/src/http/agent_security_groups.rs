//! `GET /agent/v1/security-groups?cluster=…&containerInstance=…` (SigV4,
//! empty payload; docs/agent-protocol.md §8): the security groups an agent
//! filters its awsvpc tasks with, as JSON (`berth-agent-protocol`'s
//! `SecurityGroupsView`): its tasks' groups from ECS's task records, their
//! rules and their peers' member addresses from EC2. Authorized as the
//! session stream is (`ecs:Poll` on the container instance).

use super::{App, error_response, form_value};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_proto::AwsError;
use berth_proto::protocol::Protocol;
use berth_proto::sigv4::{Endpoint, HttpRequestParts};
use sha2::{Digest, Sha256};
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
    let query = parts.uri.query().unwrap_or("");
    let answer = async {
        let principal = app.auth.authenticate(
            &HttpRequestParts {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: query,
                headers: &parts.headers,
                payload_sha256_hex: &hex::encode(Sha256::digest(b"")),
            },
            &Endpoint::new("ecs", &app.regions.names()),
        )?;
        let region = app.regions.for_request(&parts.headers, &parts.uri);
        let instance = form_value(query.as_bytes(), "containerInstance")
            .ok_or_else(|| AwsError::invalid_parameter("The containerInstance query parameter is required."))?;
        let cluster = form_value(query.as_bytes(), "cluster");
        let resource = region.ecs.agent_session_resource(cluster.as_deref(), &instance).await;
        if !principal.is_root {
            let source_ip = peer.ip().to_string();
            let facts = berth_iam::RequestFacts {
                source_ip: &source_ip,
                resource_tags: resource.tags.clone(),
                service_keys: resource.condition_keys.clone(),
                ..Default::default()
            };
            app.auth.authorize(
                &principal,
                "ecs:Poll",
                std::slice::from_ref(&resource.arn),
                None,
                &facts,
            )?;
        }
        let local: BTreeMap<String, Vec<String>> = region
            .ecs
            .awsvpc_tasks()
            .await?
            .iter()
            .filter(|t| t.container_instance_arn.as_deref() == Some(resource.arn.as_str()))
            .filter(|t| !t.berth.security_groups.is_empty())
            .map(|t| (t.task_arn.clone(), t.berth.security_groups.clone()))
            .collect();
        region.ec2.agent_view(local).await
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
