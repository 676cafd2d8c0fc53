//! The one listener: every AWS protocol on `POST /`, health, and (later) the
//! registry under `/v2/`. Authentication happens here, once, for every
//! request; services only see an authenticated [`RequestContext`].

use crate::config::Config;
use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_iam::Authenticator;
use berth_proto::sigv4::HttpRequestParts;
use berth_proto::{AwsError, JsonService, RequestContext};
use berth_store::{SqliteStore, Store};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The largest API request body accepted (registry uploads stream separately).
pub const MAX_API_BODY: usize = 10 * 1024 * 1024;

pub struct App {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    pub services: HashMap<&'static str, Arc<dyn JsonService>>,
    /// ECS, for the agent session stream (`/agent/v1/session`).
    pub ecs: berth_ecs::Ecs,
    /// The registry: `/v2/` and the ECR API.
    pub registry: Arc<berth_registry::Registry>,
    pub account_id: String,
    pub region: String,
}

impl App {
    pub async fn start(cfg: &Config) -> anyhow::Result<Arc<Self>> {
        let db = cfg.data_dir.join("state.db");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&db).with_context(|| format!("opening the state store at {}", db.display()))?);
        let scope = berth_core::arn::Scope::new(&cfg.region, &cfg.account_id);
        let auth = Arc::new(Authenticator::new(
            &cfg.account_id,
            &cfg.root_access_key_id,
            &cfg.root_secret_access_key,
        ));
        let mut services: HashMap<&'static str, Arc<dyn JsonService>> = HashMap::new();
        let ecs = berth_ecs::Ecs::new(store.clone(), scope);
        let grace = cfg.agent_grace_period;
        berth_ecs::spawn_controllers(&ecs, berth_ecs::ControllerConfig::with_grace_period(grace));
        let ecs_service: Arc<dyn JsonService> = Arc::new(ecs.clone());
        services.insert(ecs_service.target_prefix(), ecs_service);
        let sigv4 = auth.clone();
        let registry_cfg = berth_registry::RegistryConfig {
            data_dir: cfg.data_dir.clone(),
            region: cfg.region.clone(),
            account_id: cfg.account_id.clone(),
            registry_host: cfg.registry_host.clone().unwrap_or_else(|| cfg.listen.to_string()),
        };
        let registry = Arc::new(
            berth_registry::Registry::open(store.clone(), registry_cfg)
                .await
                .context("opening the registry")?
                .with_sigv4(Arc::new(move |r: &berth_registry::SignedRequest<'_>| {
                    sigv4.authenticate(&HttpRequestParts {
                        method: r.method,
                        raw_path: r.raw_path,
                        raw_query: r.raw_query,
                        headers: r.headers,
                        payload_sha256_hex: r.payload_sha256_hex,
                    })
                })),
        );
        services.insert(berth_registry::TARGET_PREFIX, registry.clone());
        Ok(Arc::new(Self {
            store,
            auth,
            services,
            ecs,
            registry,
            account_id: cfg.account_id.clone(),
            region: cfg.region.clone(),
        }))
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/", axum::routing::post(aws_api))
            .route("/agent/v1/session", get(agent_session))
            .fallback(not_found)
            .with_state(self.clone())
            // `/v2/…` (the OCI registry, streaming bodies, its own auth) and download URLs.
            .merge(berth_registry::router(self.registry.clone()))
    }
}

async fn not_found(req: Request<Body>) -> Response {
    let body = format!("{{\"message\":\"No route for {} {}\"}}", req.method(), req.uri().path());
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// How the caller speaks, so errors come back in a shape it can parse.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Json(&'static str),
    Query,
}

fn protocol_of(headers: &HeaderMap) -> Protocol {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if headers.contains_key("x-amz-target") || ct.starts_with("application/x-amz-json") {
        if ct.starts_with("application/x-amz-json-1.0") {
            Protocol::Json("application/x-amz-json-1.0")
        } else {
            Protocol::Json("application/x-amz-json-1.1")
        }
    } else {
        Protocol::Query
    }
}

fn error_response(e: &AwsError, proto: Protocol, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match proto {
        Protocol::Json(ct) => (status, [(header::CONTENT_TYPE, ct)], e.to_json_body()).into_response(),
        Protocol::Query => (status, [(header::CONTENT_TYPE, "text/xml")], e.to_query_xml(request_id)).into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&e.code) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    resp
}

async fn aws_api(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let proto = protocol_of(req.headers());
    let mut resp = match handle(&app, peer, req, &request_id, proto).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(request_id, code = %e.code, message = %e.message, "request failed");
            error_response(&e, proto, &request_id)
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

async fn handle(
    app: &App,
    peer: SocketAddr,
    req: Request<Body>,
    request_id: &str,
    proto: Protocol,
) -> Result<Response, AwsError> {
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST {
        return Err(AwsError::unknown_operation(parts.method.as_str()));
    }
    let body: Bytes = axum::body::to_bytes(body, MAX_API_BODY)
        .await
        .map_err(|_| AwsError::request_too_large(MAX_API_BODY))?;
    let payload_hash = hex::encode(Sha256::digest(&body));
    let principal = app.auth.authenticate(&HttpRequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        payload_sha256_hex: &payload_hash,
    })?;
    let ctx = RequestContext {
        request_id: request_id.to_string(),
        account_id: app.account_id.clone(),
        region: app.region.clone(),
        principal,
        source_ip: peer.ip().to_string(),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        secure_transport: false,
    };
    match proto {
        Protocol::Json(_) => {
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| AwsError::unknown_operation("(no X-Amz-Target)"))?;
            let (prefix, op) = target
                .split_once('.')
                .ok_or_else(|| AwsError::unknown_operation(target))?;
            let svc = app
                .services
                .get(prefix)
                .ok_or_else(|| AwsError::unknown_operation(target))?;
            let input: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
                serde_json::json!({})
            } else {
                serde_json::from_slice(&body)
                    .map_err(|e| AwsError::serialization(format!("Request body is not valid JSON: {e}")))?
            };
            if !input.is_object() {
                return Err(AwsError::serialization("Request body must be a JSON object"));
            }
            let started = std::time::Instant::now();
            let result = svc.call(&ctx, op, input).await;
            tracing::debug!(
                request_id,
                operation = op,
                elapsed_us = started.elapsed().as_micros() as u64,
                ok = result.is_ok(),
                "request"
            );
            let out = result?;
            let bytes = serde_json::to_vec(&out).map_err(|e| AwsError::internal(e.to_string()))?;
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, svc.content_type())], bytes).into_response())
        }
        Protocol::Query => {
            let action = form_value(&body, "Action").unwrap_or_default();
            Err(AwsError::new(
                "InvalidAction",
                400,
                format!("Could not find operation {action} for this endpoint"),
            ))
        }
    }
}

/// `GET /agent/v1/session?cluster=…&containerInstance=…` (SigV4, empty
/// payload): the agent's desired-state stream, NDJSON (docs/agent-protocol.md).
async fn agent_session(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, _) = req.into_parts();
    let query = parts.uri.query().unwrap_or("");
    let opened = async {
        app.auth.authenticate(&HttpRequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: query,
            headers: &parts.headers,
            payload_sha256_hex: &hex::encode(Sha256::digest(b"")),
        })?;
        let instance = form_value(query.as_bytes(), "containerInstance")
            .ok_or_else(|| AwsError::invalid_parameter("The containerInstance query parameter is required."))?;
        let cluster = form_value(query.as_bytes(), "cluster");
        app.ecs.open_agent_session(cluster.as_deref(), &instance).await
    };
    let mut resp = match opened.await {
        Ok(session) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-ndjson")],
            Body::from_stream(session),
        )
            .into_response(),
        Err(e) => error_response(&e, Protocol::Json("application/x-amz-json-1.1"), &request_id),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

/// One value of an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}
