//! The one listener: every AWS protocol on `POST /`, health, and (later) the
//! registry under `/v2/`. Authentication happens here, once, for every
//! request; services only see an authenticated [`RequestContext`].

use crate::config::Config;
use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_iam::Authenticator;
use berth_proto::sigv4::{Endpoint, HttpRequestParts, UnsignedPayload};
use berth_proto::{AwsError, JsonService, RequestContext};
use berth_store::{SqliteStore, Store};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

mod body;
#[cfg(test)]
mod tests;

/// The largest API request body accepted when no service sets its own limit
/// ([`JsonService::max_body_size`]; registry uploads under `/v2/` stream separately).
pub const MAX_API_BODY: usize = berth_proto::service::DEFAULT_MAX_BODY_SIZE;

pub struct App {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    /// IAM and STS (awsQuery), sharing `auth`'s directory of keys and policies.
    pub iam: Arc<berth_iam::Iam>,
    pub services: HashMap<&'static str, Arc<dyn JsonService>>,
    /// ECS, for the agent session stream (`/agent/v1/session`).
    pub ecs: berth_ecs::Ecs,
    /// The registry: `/v2/` and the ECR API.
    pub registry: Arc<berth_registry::Registry>,
    pub account_id: String,
    pub region: String,
    /// The audit trail and the metrics (observability).
    pub audit: Arc<berth_audit::AuditLog>,
    pub metrics: Arc<crate::observe::Metrics>,
}

impl App {
    pub async fn start(cfg: &Config) -> anyhow::Result<Arc<Self>> {
        let db = cfg.data_dir.join("state.db");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&db).with_context(|| format!("opening the state store at {}", db.display()))?);
        let metrics = Arc::new(crate::observe::Metrics::new());
        {
            // One server per process: the first App's metrics get placement times.
            let m = metrics.clone();
            berth_ecs::placement_timing::set_observer(move |d| m.observe_placement(d));
        }
        let store = crate::observe::InstrumentedStore::wrap(store, metrics.clone());
        let scope = berth_core::arn::Scope::new(&cfg.region, &cfg.account_id);
        let auth = Arc::new(Authenticator::new(
            &cfg.account_id,
            &cfg.root_access_key_id,
            &cfg.root_secret_access_key,
        ));
        let kms = berth_secrets::Kms::open(
            store.clone(),
            &cfg.region,
            &cfg.account_id,
            &cfg.data_dir,
            std::env::var("BERTH_KMS_MASTER_KEY").ok().as_deref(),
        )
        .context("opening KMS")?;
        let iam = Arc::new(
            berth_iam::Iam::open(store.clone(), auth.clone(), Arc::new(MasterKeySealer(kms.master_key())))
                .await
                .context("loading the IAM state")?,
        );
        let mut services: HashMap<&'static str, Arc<dyn JsonService>> = HashMap::new();
        let ecs = berth_ecs::Ecs::new(store.clone(), scope).with_iam(iam.clone());
        let grace = cfg.agent_grace_period;
        berth_ecs::spawn_controllers(&ecs, berth_ecs::ControllerConfig::with_grace_period(grace));
        let ecs_service: Arc<dyn JsonService> = Arc::new(ecs.clone());
        services.insert(ecs_service.target_prefix(), ecs_service);
        let sigv4 = auth.clone();
        let current = auth.clone();
        let registry_region = cfg.region.clone();
        let authz = auth.clone();
        // Repository policies, followed through a store watch, are the
        // registry's resource policies.
        let repo_policies = Arc::new(berth_iam::ResourcePolicies::new());
        let scope_for_policies = berth_core::arn::Scope::new(&cfg.region, &cfg.account_id);
        let scope_for_deletes = scope_for_policies.clone();
        repo_policies.spawn_watch(
            store.clone(),
            berth_registry::keys::REPOSITORIES,
            Arc::new(move |key: &str, value: &[u8]| {
                let name = key.strip_prefix(berth_registry::keys::REPOSITORIES)?;
                let rec: berth_registry::records::RepositoryRecord = serde_json::from_slice(value).ok()?;
                Some((
                    scope_for_policies.arn("ecr", format!("repository/{name}")),
                    rec.policy_text,
                ))
            }),
            Arc::new(move |key: &str| {
                let name = key.strip_prefix(berth_registry::keys::REPOSITORIES)?;
                Some(scope_for_deletes.arn("ecr", format!("repository/{name}")))
            }),
        );
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
                .with_tls(!matches!(cfg.tls, crate::config::Tls::Off))
                .with_sigv4(Arc::new(
                    move |req: &HttpRequestParts<'_>, unsigned_payload: UnsignedPayload| {
                        // `/v2/` is ECR's: the scope must say `ecr` and this region.
                        let endpoint = Endpoint {
                            service: Some("ecr"),
                            regions: &[registry_region.as_str()],
                            unsigned_payload,
                        };
                        sigv4.authenticate(req, &endpoint)
                    },
                ))
                // Registry tokens name the principal's unique id: one deleted
                // (or re-created under the same name) no longer logs in.
                .with_principal_check(Arc::new(move |p: &berth_proto::Principal| current.is_current(p)))
                .with_authorizer(Arc::new(
                    move |who: &berth_proto::Principal, action: &str, resource: &str, tags: &[(String, String)]| {
                        if who.is_root {
                            return Ok(());
                        }
                        let facts = berth_iam::RequestFacts {
                            resource_tags: tags.to_vec(),
                            ..Default::default()
                        };
                        let policy = repo_policies.get(resource);
                        authz
                            .authorize(who, action, &[resource.to_string()], policy.as_deref(), &facts)
                            // The registry words the refusal itself; keep only the why.
                            .map_err(|e| match e.message.split_once(&format!(" on resource: {resource} ")) {
                                Some((_, why)) => why.to_string(),
                                None => e.message,
                            })
                    },
                )),
        );
        services.insert(berth_registry::TARGET_PREFIX, registry.clone());
        let logs = berth_logs::Logs::open(&cfg.data_dir.join("logs"), &cfg.region, &cfg.account_id)
            .context("opening the log store")?;
        logs.spawn_retention_sweeper(std::time::Duration::from_secs(60));
        services.insert(berth_logs::TARGET_PREFIX, Arc::new(logs.clone()));
        let audit = Arc::new(
            berth_audit::AuditLog::open(&cfg.data_dir.join("audit.db"), &cfg.region, &cfg.account_id)
                .context("opening the audit trail")?,
        );
        services.insert(berth_secrets::kms::TARGET_PREFIX, Arc::new(kms.clone()));
        let ssm = berth_secrets::Ssm::new(store.clone(), kms.clone(), &cfg.region, &cfg.account_id);
        services.insert(berth_secrets::ssm::TARGET_PREFIX, Arc::new(ssm));
        let secrets = berth_secrets::SecretsManager::new(store.clone(), kms, &cfg.region, &cfg.account_id);
        services.insert(berth_secrets::sm::TARGET_PREFIX, Arc::new(secrets));
        let cloudtrail = Arc::new(berth_audit::CloudTrail::new(audit.clone()));
        services.insert(berth_audit::TARGET_PREFIX, cloudtrail);
        Ok(Arc::new(Self {
            store,
            auth,
            iam,
            services,
            ecs,
            registry,
            account_id: cfg.account_id.clone(),
            region: cfg.region.clone(),
            audit,
            metrics,
        }))
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/", axum::routing::post(aws_api))
            .route("/agent/v1/session", get(agent_session))
            .fallback(not_found)
            .with_state(self.clone())
            // `/v2/…` (the OCI registry, streaming bodies, its own auth) and download URLs.
            .merge(
                berth_registry::router(self.registry.clone()).layer(axum::middleware::from_fn_with_state(
                    self.metrics.clone(),
                    crate::observe::count_registry_bytes,
                )),
            )
    }
}

/// Ready when the state store answers.
async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.store.current_revision().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("state store unavailable: {e}")).into_response(),
    }
}

/// Prometheus metrics: OpenMetrics if the scraper asks for it, else the classic text format.
async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    match app.metrics.render(&*app.store, openmetrics).await {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], text).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.message).into_response(),
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
    if let Some(cause) = &e.cause {
        tracing::error!(request_id, code = %e.code, cause = %cause, "internal failure");
    }
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

/// The budget of body bytes is full: AWS's throttling error, in the caller's protocol.
fn in_protocol_throttling(proto: Protocol) -> AwsError {
    let code = match proto {
        Protocol::Json(_) => "ThrottlingException",
        Protocol::Query => "Throttling",
    };
    AwsError::new(
        code,
        400,
        "Too many request bodies are being received at once; retry shortly.",
    )
}

async fn aws_api(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let proto = protocol_of(req.headers());
    let mut req = req;
    let mut call = crate::observe::Call::begin(&app.services, &mut req, peer, &request_id);
    let mut resp = match handle(&app, peer, req, &request_id, proto).await {
        Ok(resp) => resp,
        Err(e) => {
            call.failed(&e);
            tracing::debug!(request_id, code = %e.code, message = %e.message, "request failed");
            error_response(&e, proto, &request_id)
        }
    };
    call.finish(&app.metrics, &app.audit, resp.status());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

/// An authenticated API request: who sent it, its body (holding its room in
/// the body budget) and, for IAM/STS, the parsed form.
struct Authenticated {
    principal: berth_proto::Principal,
    body: body::ReadBody,
    query: Option<berth_proto::query::QueryInput>,
}

/// Authenticates `POST /` in two steps: from the headers alone
/// ([`Authenticator::precheck`]: signature present and well-formed, scope,
/// signed headers, key known and active, token rules), before a byte of
/// the body is read; then, with the body read within its limit and the
/// budget, the signature over its hash.
async fn authenticate_request(
    app: &App,
    parts: &http::request::Parts,
    body: Body,
    proto: Protocol,
) -> Result<Authenticated, AwsError> {
    // The target service's own limit (ECR's UploadLayerPart carries up to
    // 20 MiB of base64) and signing name; unknown targets are rejected
    // after authentication.
    let target_service = match proto {
        Protocol::Json(_) => parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit_once('.'))
            .and_then(|(prefix, _)| app.services.get(prefix)),
        Protocol::Query => None,
    };
    let limit = target_service.map_or(MAX_API_BODY, |svc| svc.max_body_size());
    // IAM and STS also take `us-east-1`, the signing region of their global endpoints.
    let regions_json = [app.region.as_str()];
    let regions_query = [app.region.as_str(), "us-east-1"];
    let regions: &[&str] = match proto {
        Protocol::Json(_) => &regions_json,
        Protocol::Query => &regions_query,
    };
    let endpoint = |service: Option<&'static str>| Endpoint {
        service,
        regions,
        unsigned_payload: UnsignedPayload::Refused,
    };
    let request_parts = |payload_sha256_hex| HttpRequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        payload_sha256_hex,
    };
    let in_protocol = |e: AwsError| match proto {
        Protocol::Json(_) => e,
        Protocol::Query => e.in_query_protocol(),
    };
    // Authentication from the headers first: an unsigned request, an
    // unknown key or a wrong scope is refused before the body is read.
    app.auth
        .precheck(
            &request_parts(""),
            &endpoint(target_service.map(|svc| svc.signing_name())),
        )
        .map_err(in_protocol)?;
    let declared_len = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let read = body::read(body, limit, declared_len, body::budget())
        .await
        .map_err(|e| match e {
            body::BodyError::TooLarge(limit) => AwsError::request_too_large(limit),
            body::BodyError::Busy => in_protocol_throttling(proto),
            body::BodyError::Read(why) => AwsError::serialization(format!("The request body could not be read: {why}")),
        })?;
    let query_input = match proto {
        Protocol::Query => Some(berth_proto::query::QueryInput::parse(&read.bytes)),
        Protocol::Json(_) => None,
    };
    let service = match &query_input {
        Some(Ok(input)) => berth_iam::Iam::service_of(input),
        Some(Err(_)) => None,
        None => target_service.map(|svc| svc.signing_name()),
    };
    let principal = app
        .auth
        .authenticate(&request_parts(&read.sha256_hex), &endpoint(service))
        .map_err(in_protocol)?;
    // A form that does not parse is answered after authentication.
    let query = query_input.transpose()?;
    Ok(Authenticated {
        principal,
        body: read,
        query,
    })
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
    let Authenticated {
        principal,
        body: read,
        query,
    } = authenticate_request(app, &parts, body, proto).await?;
    // `read` keeps the body's room in the budget until the answer is built.
    let body = read.bytes.clone();
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
        secure_transport: crate::serve::is_secure(&parts.extensions),
    };
    crate::observe::note_principal(&parts.extensions, &ctx.principal);
    match proto {
        Protocol::Json(_) => {
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| AwsError::unknown_operation("(no X-Amz-Target)"))?;
            let (prefix, op) = target
                .rsplit_once('.')
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
            crate::observe::note_input(&parts.extensions, &input);
            // The registry's ECR API authorizes itself, per repository (its `authorize` hook).
            if !ctx.principal.is_root && prefix != berth_registry::TARGET_PREFIX {
                let action = format!("{}:{op}", svc.signing_name());
                let mut resources = svc.authz_resources(&ctx, op, &input).await;
                if resources.is_empty() {
                    resources.push(berth_proto::AuthzResource::untagged("*"));
                }
                let tags = request_tags(&input);
                // `aws:ResourceTag/…` is per resource: each is evaluated with its own tags.
                for resource in resources {
                    authorize_resource(app, &ctx, &action, &tags, resource.clone())
                        .map_err(|denial| svc.authz_denied(&ctx, &resource, denial))?;
                }
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
            let input = match query {
                Some(input) => input,
                None => berth_proto::query::QueryInput::parse(&body)?,
            };
            let action = input.get("Action").unwrap_or_default().to_string();
            crate::observe::note_query(&parts.extensions, &action, input.params());
            let Some(service) = berth_iam::Iam::service_of(&input) else {
                return Err(AwsError::new(
                    "InvalidAction",
                    400,
                    format!("Could not find operation {action} for this endpoint"),
                ));
            };
            if !ctx.principal.is_root && berth_iam::Iam::needs_authorization(service) {
                let (resources, tags) = app.iam.authz_resources(&ctx.principal, &input);
                let action = format!("{service}:{action}");
                for resource in resources {
                    authorize_resource(app, &ctx, &action, &tags, resource)
                        // IAM says it as `AccessDenied`, HTTP 403.
                        .map_err(|e| AwsError::new("AccessDenied", 403, e.message))?;
                }
            }
            let xml = app.iam.call(&ctx, service, &input).await?;
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], xml).into_response())
        }
    }
}

/// Authorizes one resource of a JSON operation: the operation's own action
/// (or the second permission the resource names, such as `iam:PassRole`),
/// with the resource's tags, condition keys and resource policy.
fn authorize_resource(
    app: &App,
    ctx: &RequestContext,
    operation_action: &str,
    request_tags: &[(String, String)],
    resource: berth_proto::AuthzResource,
) -> Result<(), AwsError> {
    let policy = match resource.resource_policy.as_deref() {
        Some(text) => Some(
            berth_iam::policy::PolicyDocument::parse(text, berth_iam::policy::PolicyKind::Resource)
                .map_err(|e| AwsError::internal(format!("a resource policy Berth wrote does not parse: {e}")))?,
        ),
        None => None,
    };
    let facts = berth_iam::RequestFacts {
        source_ip: &ctx.source_ip,
        secure_transport: ctx.secure_transport,
        request_tags: request_tags.to_vec(),
        resource_tags: resource.tags,
        service_keys: resource.condition_keys,
    };
    app.auth.authorize(
        &ctx.principal,
        resource.action.as_deref().unwrap_or(operation_action),
        std::slice::from_ref(&resource.arn),
        policy.as_ref(),
        &facts,
    )
}

/// The tags a JSON request sets (`tags: [{key, value}]` in ECS, `Key`/`Value` in ECR),
/// for `aws:RequestTag/…` and `aws:TagKeys`; `Tags: [{Key, Value}]` in Secrets Manager,
/// SSM and CloudWatch Logs, `Tags: [{TagKey, TagValue}]` in KMS.
fn request_tags(input: &serde_json::Value) -> Vec<(String, String)> {
    let Some(tags) = input
        .get("tags")
        .or_else(|| input.get("Tags"))
        .and_then(serde_json::Value::as_array)
    else {
        return vec![];
    };
    tags.iter()
        .filter_map(|t| {
            let key = t
                .get("key")
                .or_else(|| t.get("Key"))
                .or_else(|| t.get("TagKey"))?
                .as_str()?;
            let value = t
                .get("value")
                .or_else(|| t.get("Value"))
                .or_else(|| t.get("TagValue"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

/// `GET /agent/v1/session?cluster=…&containerInstance=…` (SigV4, empty
/// payload): the agent's desired-state stream, NDJSON (docs/agent-protocol.md).
async fn agent_session(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, _) = req.into_parts();
    let query = parts.uri.query().unwrap_or("");
    let opened = async {
        let principal = app.auth.authenticate(
            &HttpRequestParts {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: query,
                headers: &parts.headers,
                payload_sha256_hex: &hex::encode(Sha256::digest(b"")),
            },
            &Endpoint::new("ecs", &[app.region.as_str()]),
        )?;
        let instance = form_value(query.as_bytes(), "containerInstance")
            .ok_or_else(|| AwsError::invalid_parameter("The containerInstance query parameter is required."))?;
        let cluster = form_value(query.as_bytes(), "cluster");
        if !principal.is_root {
            // What the ECS agent needs in AWS to receive its work: ecs:Poll
            // on its container instance, with `ecs:cluster`.
            let resource = app.ecs.agent_session_resource(cluster.as_deref(), &instance).await;
            let source_ip = peer.ip().to_string();
            let facts = berth_iam::RequestFacts {
                source_ip: &source_ip,
                resource_tags: resource.tags,
                service_keys: resource.condition_keys,
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
        // The instance's own agent only (or root): checked by the ECS side.
        app.ecs
            .open_agent_session(&principal, cluster.as_deref(), &instance)
            .await
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

/// IAM's access-key and session secrets, sealed under the KMS master key
/// (AES-256-GCM, as KMS seals its key material).
struct MasterKeySealer(Arc<Vec<u8>>);

impl berth_iam::SecretSealer for MasterKeySealer {
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        berth_secrets::crypto::seal(&self.0, plaintext, aad)
    }
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, berth_iam::SealError> {
        berth_secrets::crypto::open(&self.0, sealed, aad).map_err(|_| berth_iam::SealError::Open)
    }
}

/// One value of an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    berth_proto::form::value(std::str::from_utf8(body).ok()?, name)
}
