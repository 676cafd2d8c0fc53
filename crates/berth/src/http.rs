//! The one listener: every AWS protocol on `POST /` (and rpcv2Cbor on
//! `POST /service/{S}/operation/{O}`), health, and the registry under `/v2/`.
//! Authentication happens here, once, for every request; services only see
//! an authenticated [`RequestContext`]. The listener names no service: awsJson
//! services are found by target prefix, awsQuery ones by version
//! ([`query`]), rpcv2Cbor ones by service name ([`cbor`]).

use crate::config::Config;
use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_iam::Authenticator;
use berth_proto::protocol::Protocol;
use berth_proto::sigv4::{Endpoint, HttpRequestParts, UnsignedPayload};
use berth_proto::{AwsError, JsonService, RequestContext};
use berth_store::{SqliteStore, Store};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

mod agent_poll;
mod agent_security_groups;
mod autoscaling;
mod body;
mod cbor;
mod ec2_network;
mod ecr_events;
mod ecr_kms;
mod ecr_pull_through;
mod ecs_alarms;
mod ecs_events;
mod ecs_metrics;
mod elb_metrics;
mod events_delivery;
mod lb_targets;
mod query;
mod regional;
mod registry_backfill;
mod registry_gc;
mod spot_interrupt;
#[cfg(test)]
mod tests;

/// The largest API request body accepted when no service sets its own limit
/// ([`berth_proto::JsonServiceInfo::max_body_size`]; registry uploads under `/v2/` stream separately).
pub const MAX_API_BODY: usize = berth_proto::service::DEFAULT_MAX_BODY_SIZE;

pub struct App {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    /// The awsQuery services (IAM and STS, sharing `auth`'s directory of
    /// keys and policies; global; CloudWatch, each region's), by version.
    pub queries: berth_proto::query::QueryServices,
    /// The rpcv2Cbor services, by service name (CloudWatch).
    pub cbors: berth_proto::cbor::CborServices,
    /// The served regions' services (ECS, ECR, KMS, SSM, Secrets Manager,
    /// CloudWatch Logs, CloudTrail), one set per region; the first is the default.
    pub regions: Arc<regional::RegionSet>,
    pub account_id: String,
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
        let auth = Arc::new(Authenticator::new(
            &cfg.account_id,
            &cfg.root_access_key_id,
            &cfg.root_secret_access_key,
        ));
        let iam = Arc::new(
            berth_iam::Iam::open(store.clone(), auth.clone(), regional::iam_sealer(cfg, store.clone())?)
                .await
                .context("loading the IAM state")?,
        );
        let shared = regional::Shared {
            store: store.clone(),
            auth: auth.clone(),
            iam: iam.clone(),
        };
        let regions = Arc::new(regional::RegionSet::start(cfg, &shared).await?);
        let mut queries = berth_proto::query::QueryServices::new();
        iam.query_services().into_iter().for_each(|s| queries.register(s));
        // CloudWatch metrics over rpcv2Cbor and awsQuery: each region's, by the request's scope.
        let cloudwatch = berth_metrics::bridged(regions.all().iter().map(|r| r.metrics.clone()));
        queries.register(cloudwatch.clone());
        let mut cbors = berth_proto::cbor::CborServices::new();
        cbors.register(cloudwatch);
        Ok(Arc::new(Self {
            store,
            auth,
            queries,
            cbors,
            regions,
            account_id: cfg.account_id.clone(),
            metrics,
        }))
    }

    /// The JSON services of the default region (target prefixes, signing
    /// names and body limits are the same in every region).
    pub fn services(&self) -> &HashMap<&'static str, Arc<dyn JsonService>> {
        &self.regions.first().services
    }

    /// Ends every region's agent sessions (they never end by themselves).
    pub fn close_agent_sessions(&self) {
        for r in self.regions.all() {
            r.ecs.close_agent_sessions();
        }
    }

    /// Waits until every region's queued audit events are written.
    pub async fn flush_audit(&self) {
        for r in self.regions.all() {
            r.audit.flush().await;
        }
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/", axum::routing::post(aws_api))
            .route("/service/{service}/operation/{operation}", axum::routing::post(aws_api))
            .route("/agent/v1/session", get(agent_session))
            .route("/agent/v1/security-groups", get(agent_security_groups::handler))
            .route(registry_gc::PATH, axum::routing::post(registry_gc::run))
            .route(registry_backfill::PATH, axum::routing::post(registry_backfill::run))
            .route(spot_interrupt::PATH, axum::routing::post(spot_interrupt::run))
            .fallback(not_found)
            .with_state(self.clone())
            // `/v2/…` (the OCI registry, streaming bodies, its own auth) and
            // download URLs, each to the registry of the request's region.
            .merge(
                self.regions
                    .registry_router()
                    .layer(axum::middleware::from_fn_with_state(
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
    let stores: Vec<&dyn Store> = app.regions.all().iter().map(|r| &*r.store).collect();
    match app.metrics.render(&stores, openmetrics).await {
        Ok(mut text) => {
            // The load balancers' metrics, before OpenMetrics' `# EOF`.
            let eof = text.ends_with("# EOF\n");
            if eof {
                text.truncate(text.len() - "# EOF\n".len());
            }
            let planes: Vec<(&str, _)> = app
                .regions
                .all()
                .iter()
                .filter_map(|r| Some((r.region.as_str(), r.data_plane.as_ref()?.metrics())))
                .collect();
            if !planes.is_empty() {
                text.push_str(&berth_lb::metrics::render(&planes, openmetrics));
            }
            let gc: Vec<(&str, _)> = app
                .regions
                .all()
                .iter()
                .map(|r| (r.region.as_str(), r.registry.gc_stats()))
                .collect();
            text.push_str(&berth_registry::gc::render_metrics(&gc, openmetrics));
            if eof {
                text.push_str("# EOF\n");
            }
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], text).into_response()
        }
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

/// An error in the caller's protocol; `style` is that of the awsQuery
/// service answering (unused by the other protocols).
fn error_response(e: &AwsError, proto: Protocol, request_id: &str, style: berth_proto::query::XmlStyle) -> Response {
    if let Some(cause) = &e.cause {
        tracing::error!(request_id, code = %e.code, cause = %cause, "internal failure");
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, proto.error_content_type())],
        proto.error_body(e, request_id, style),
    )
        .into_response();
    let error_type = if proto == Protocol::Query {
        &e.code
    } else {
        e.json_type()
    };
    if let Ok(v) = HeaderValue::from_str(error_type) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    // An awsQuery-compatible service (CloudWatch) names its awsQuery code here.
    if proto != Protocol::Query
        && let Some(v) = e.query_error_header().and_then(|v| HeaderValue::from_str(&v).ok())
    {
        resp.headers_mut().insert("x-amzn-query-error", v);
    }
    if proto == Protocol::Cbor {
        cbor::mark(&mut resp);
    }
    resp
}

async fn aws_api(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let proto = Protocol::detect(req.headers());
    let mut req = req;
    let mut call = crate::observe::Call::begin(app.services(), &mut req, peer, &request_id);
    // The call is audited in the trail of the region it is signed for.
    let audit = app.regions.for_request(req.headers(), req.uri()).audit.clone();
    let xml_style = query::ErrorStyle::attach(&mut req);
    let mut resp = match handle(&app, peer, req, &request_id, proto).await {
        Ok(resp) => resp,
        Err(e) => {
            call.failed(&e);
            tracing::debug!(request_id, code = %e.code, message = %e.message, "request failed");
            error_response(&e, proto, &request_id, xml_style.get(&app.queries))
        }
    };
    call.finish(&app.metrics, &audit, resp.status());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

/// An authenticated API request: who sent it, its body (holding its room in
/// the body budget) and, for awsQuery, the parsed form.
struct Authenticated {
    principal: berth_proto::Principal,
    body: body::ReadBody,
    query: Option<berth_proto::query::QueryInput>,
    /// The services of the region the credential scope names (served: any
    /// other was refused); the default region's for IAM and STS signed for
    /// `us-east-1` when it is not served.
    regional: Arc<regional::Regional>,
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
            .and_then(|(prefix, _)| app.services().get(prefix)),
        Protocol::Query | Protocol::Cbor => None,
    };
    let limit = target_service.map_or(MAX_API_BODY, |svc| svc.max_body_size());
    // The served regions; some awsQuery services also take another signing
    // region (IAM and STS: `us-east-1`, that of their global endpoints). Any
    // other region is refused.
    let regions = match proto {
        Protocol::Query => query::signing_regions(app),
        Protocol::Json(_) | Protocol::Cbor => app.regions.names(),
    };
    let regions: &[&str] = &regions;
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
    let in_protocol = |e: AwsError| proto.authentication_error(e);
    if proto == Protocol::Query {
        query::note_signing_service(app, parts, &request_parts(""));
    }
    // Authentication from the headers first: an unsigned request, an
    // unknown key or a wrong scope is refused before the body is read.
    app.auth
        .precheck(
            &request_parts(""),
            &endpoint(match proto {
                // rpcv2Cbor names its service in the path.
                Protocol::Cbor => cbor::signing_name(app, parts),
                _ => target_service.map(|svc| svc.signing_name()),
            }),
        )
        .map_err(in_protocol)?;
    let declared_len = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body_error = |e| match e {
        body::BodyError::TooLarge(limit) => AwsError::request_too_large(limit),
        body::BodyError::Busy => proto.throttling(),
        body::BodyError::Read(why) => AwsError::serialization(format!("The request body could not be read: {why}")),
        body::BodyError::Encoding(why) => proto.malformed_body(why),
    };
    let read = body::read(body, limit, declared_len, body::budget())
        .await
        .map_err(body_error)?;
    // A compressed body (`Content-Encoding: gzip`) is decoded here, the
    // limit applying to its decoded size; its hash stays that of the bytes
    // as sent, which is what the signature covers. An encoding Berth does
    // not know is refused after authentication, like a malformed body.
    let content_encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not ASCII)").to_owned())
        .unwrap_or_default();
    let sha256_hex = read.sha256_hex.clone();
    let decoded = if body::decode::codings(&content_encoding).is_empty() {
        Ok(read)
    } else {
        // Inflating up to the limit is CPU work: off the async workers.
        tokio::task::spawn_blocking(move || body::decode(read, &content_encoding, limit, body::budget()))
            .await
            .map_err(|e| AwsError::internal(format!("decoding the body failed: {e}")))?
            .map_err(body_error)
    };
    let query_input = match (proto, &decoded) {
        (Protocol::Query, Ok(read)) => Some(berth_proto::query::QueryInput::parse(&read.bytes)),
        _ => None,
    };
    let regional = app.regions.for_request(&parts.headers, &parts.uri).clone();
    let service = match (&query_input, proto) {
        (Some(Ok(input)), _) => query::service_of(app, &regional, parts, input),
        (Some(Err(_)), _) | (None, Protocol::Query) => None,
        (None, Protocol::Cbor) => cbor::signing_name(app, parts),
        (None, _) => target_service.map(|svc| svc.signing_name()),
    };
    // The signature covers the bytes as sent: it is checked whether or not they decode.
    let principal = app
        .auth
        .authenticate(&request_parts(&sha256_hex), &endpoint(service))
        .map_err(in_protocol)?;
    let read = decoded?;
    // A form that does not parse is answered after authentication.
    let query = query_input.transpose()?;
    Ok(Authenticated {
        principal,
        body: read,
        query,
        regional,
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
        regional,
    } = authenticate_request(app, &parts, body, proto).await?;
    // `read` keeps the body's room in the budget until the answer is built.
    let body = read.bytes.clone();
    let ctx = RequestContext {
        request_id: request_id.to_string(),
        account_id: app.account_id.clone(),
        region: regional.region.clone(),
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
            let svc = regional
                .services
                .get(prefix)
                .ok_or_else(|| AwsError::unknown_operation(target))?;
            // A service that authorizes its own operations (the ECR API, per repository) says so.
            let authorize = !ctx.principal.is_root && svc.own_authorizer().is_none();
            let (prepared, tags) = match svc.prepare_body(&ctx, op, &body) {
                // An input its operation reads straight from the body, fully checked (no request tags).
                Some((summary, prepared)) => {
                    crate::observe::note_summary(&parts.extensions, &summary, &body);
                    (prepared.await.map_err(|e| svc.error(e))?, Vec::new())
                }
                None => prepare_json(svc.as_ref(), &ctx, op, &body, authorize, &parts.extensions).await?,
            };
            if authorize {
                let action = format!("{}:{op}", svc.signing_name());
                let mut resources = prepared.resources().await;
                if resources.is_empty() {
                    resources.push(berth_proto::AuthzResource::untagged("*"));
                }
                // `aws:ResourceTag/…` is per resource: each is evaluated with its own tags.
                for resource in resources {
                    authorize_resource(app, &ctx, &action, &tags, resource.clone())
                        .map_err(|denial| svc.authz_denied(&ctx, &resource, denial))?;
                }
            }
            let started = std::time::Instant::now();
            let result = prepared.run().await;
            tracing::debug!(
                request_id,
                operation = op,
                elapsed_us = started.elapsed().as_micros() as u64,
                ok = result.is_ok(),
                "request"
            );
            let out = result.map_err(|e| svc.error(e))?;
            let bytes = serde_json::to_vec(&out).map_err(|e| AwsError::internal(e.to_string()))?;
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, svc.content_type())], bytes).into_response())
        }
        Protocol::Query => {
            let input = match query {
                Some(input) => input,
                None => berth_proto::query::QueryInput::parse(&body)?,
            };
            query::handle(app, &regional, &parts, &ctx, &input).await
        }
        Protocol::Cbor => cbor::handle(app, &parts, &ctx, &body).await,
    }
}

/// The general path of an awsJson request: the body parsed, checked against
/// the service's model (what goes on is the input cleaned of unknown
/// members), recorded for the audit trail, then handed over once — decoded,
/// and what authorization needs loaded, there. With it, the request's tags
/// (`aws:RequestTag/…`), read before the input is handed over; only when
/// the listener authorizes (no work on the root's or ECR's hot path).
async fn prepare_json<'a>(
    svc: &'a dyn JsonService,
    ctx: &'a RequestContext,
    op: &'a str,
    body: &[u8],
    authorize: bool,
    ext: &axum::http::Extensions,
) -> Result<(Box<dyn berth_proto::Prepared + 'a>, Vec<(String, String)>), AwsError> {
    let input: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| AwsError::serialization(format!("Request body is not valid JSON: {e}")))?
    };
    if !input.is_object() {
        return Err(AwsError::serialization("Request body must be a JSON object"));
    }
    let input = berth_proto::validate::validate(svc.model(), op, input).map_err(|e| svc.error(e))?;
    crate::observe::note_input(ext, &input);
    let tags = if authorize { request_tags(&input) } else { Vec::new() };
    let prepared = svc.prepare(ctx, op, input).await.map_err(|e| svc.error(e))?;
    Ok((prepared, tags))
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
    let opened = async {
        let call = agent_poll::authorize(&app, &parts, peer).await?;
        // The instance's own agent only (or root): checked by the ECS side.
        call.region
            .ecs
            .open_agent_session(&call.principal, call.cluster.as_deref(), &call.instance)
            .await
    };
    let mut resp = match opened.await {
        Ok(session) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-ndjson")],
            Body::from_stream(session),
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

/// One value of an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    berth_proto::form::value(std::str::from_utf8(body).ok()?, name)
}
