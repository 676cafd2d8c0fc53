//! What an agent's GETs to `/agent/v1/…` share: SigV4 over an empty
//! payload, the region it signs for, the container instance and cluster its
//! query names, and — for any principal but root — `ecs:Poll` on that
//! container instance (with `ecs:cluster` and its tags), what the ECS agent
//! needs in AWS to receive its work. Whether the caller is that instance's
//! own agent is for the ECS side to say.

use super::App;
use super::regional::Regional;
use axum::http::request::Parts;
use berth_proto::AwsError;
use berth_proto::Principal;
use berth_proto::service::AuthzResource;
use berth_proto::sigv4::{Endpoint, HttpRequestParts};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;

/// An agent's call, authenticated and allowed to poll its instance.
pub(super) struct AgentPoll<'a> {
    pub(super) principal: Principal,
    pub(super) region: &'a Arc<Regional>,
    pub(super) instance: String,
    pub(super) cluster: Option<String>,
    /// The container instance as IAM sees it.
    pub(super) resource: AuthzResource,
}

pub(super) async fn authorize<'a>(app: &'a App, parts: &Parts, peer: SocketAddr) -> Result<AgentPoll<'a>, AwsError> {
    let query = parts.uri.query().unwrap_or("");
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
    // The ECS of the region the agent signs for.
    let region = app.regions.for_request(&parts.headers, &parts.uri);
    let instance = super::form_value(query.as_bytes(), "containerInstance")
        .ok_or_else(|| AwsError::invalid_parameter("The containerInstance query parameter is required."))?;
    let cluster = super::form_value(query.as_bytes(), "cluster");
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
    Ok(AgentPoll {
        principal,
        region,
        instance,
        cluster,
        resource,
    })
}
