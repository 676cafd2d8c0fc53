//! Observability of the API layer: Prometheus metrics (`/metrics`), the
//! store-latency wrapper, and the per-call note the HTTP layer fills so every
//! answered call (including refused ones) lands in the audit trail.

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode, header};
use berth_proto::{AwsError, JsonService, Principal};
use berth_store::{Compare, KeyValue, Op, Revision, Store, TxnResult, WatchStream};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    service: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectedLabels {
    connected: String,
}

type HistFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs … ~3.3 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The metrics registry. Gauges of cluster state are computed on scrape.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: HistFamily<OperationLabels>,
    store_seconds: HistFamily<StoreLabels>,
    tasks: Family<StatusLabels, Gauge>,
    instances: Family<ConnectedLabels, Gauge>,
    audit_events: Counter,
    placement_seconds: Histogram,
    registry_bytes: Family<DirectionLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("berth");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds: HistFamily<OperationLabels> = Family::new_with_constructor(latency_histogram);
        let store_seconds: HistFamily<StoreLabels> = Family::new_with_constructor(latency_histogram);
        let tasks = Family::<StatusLabels, Gauge>::default();
        let instances = Family::<ConnectedLabels, Gauge>::default();
        let audit_events = Counter::default();
        registry.register(
            "api_requests",
            "API requests answered, by service, operation and HTTP status",
            requests.clone(),
        );
        registry.register(
            "api_request_duration_seconds",
            "API request latency, by service and operation",
            request_seconds.clone(),
        );
        registry.register(
            "store_operation_duration_seconds",
            "State store latency, by operation (get, range, txn)",
            store_seconds.clone(),
        );
        registry.register("tasks", "ECS tasks by last status", tasks.clone());
        registry.register(
            "container_instances",
            "Container instances by whether their agent is connected",
            instances.clone(),
        );
        registry.register(
            "audit_events",
            "API calls recorded in the audit trail",
            audit_events.clone(),
        );
        let placement_seconds = latency_histogram();
        registry.register(
            "placement_duration_seconds",
            "Task placement latency (read the cluster, place, commit; RunTask and services)",
            placement_seconds.clone(),
        );
        let registry_bytes = Family::<DirectionLabels, Counter>::default();
        registry.register(
            "registry_bytes",
            "Bytes of registry traffic under /v2/ (request and response bodies), by direction (in, out)",
            registry_bytes.clone(),
        );
        for d in ["in", "out"] {
            drop(registry_bytes.get_or_create(&DirectionLabels { direction: d.into() }));
        }
        Self {
            registry,
            requests,
            request_seconds,
            store_seconds,
            tasks,
            instances,
            audit_events,
            placement_seconds,
            registry_bytes,
        }
    }

    pub fn observe_request(&self, service: &str, operation: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                service: service.to_string(),
                operation: operation.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&OperationLabels {
                service: service.to_string(),
                operation: operation.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn observe_placement(&self, elapsed: Duration) {
        self.placement_seconds.observe(elapsed.as_secs_f64());
    }

    fn registry_counter(&self, direction: &str) -> Counter {
        self.registry_bytes
            .get_or_create(&DirectionLabels {
                direction: direction.into(),
            })
            .clone()
    }

    fn observe_store(&self, op: &str, elapsed: Duration) {
        self.store_seconds
            .get_or_create(&StoreLabels { op: op.to_string() })
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the cluster gauges recomputed from the
    /// stores (each served region's part, summed): OpenMetrics when
    /// `openmetrics`, else the classic Prometheus text format (0.0.4).
    pub async fn render(&self, stores: &[&dyn Store], openmetrics: bool) -> Result<String, AwsError> {
        let mut by_status: HashMap<String, i64> = HashMap::new();
        let mut tasks = vec![];
        let mut instances = vec![];
        for store in stores {
            tasks.extend(
                store
                    .range(berth_ecs::keys::TASKS, None, None)
                    .await
                    .map_err(AwsError::state_store)?,
            );
            instances.extend(
                store
                    .range(berth_ecs::keys::INSTANCES, None, None)
                    .await
                    .map_err(AwsError::state_store)?,
            );
        }
        for kv in tasks {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&kv.value) {
                let status = v.get("lastStatus").and_then(|s| s.as_str()).unwrap_or("UNKNOWN");
                *by_status.entry(status.to_string()).or_default() += 1;
            }
        }
        self.tasks.clear();
        for (status, n) in by_status {
            self.tasks.get_or_create(&StatusLabels { status }).set(n);
        }
        let (mut up, mut down) = (0, 0);
        for kv in instances {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&kv.value) {
                if v.get("agentConnected").and_then(|c| c.as_bool()).unwrap_or(false) {
                    up += 1;
                } else {
                    down += 1;
                }
            }
        }
        self.instances
            .get_or_create(&ConnectedLabels {
                connected: "true".into(),
            })
            .set(up);
        self.instances
            .get_or_create(&ConnectedLabels {
                connected: "false".into(),
            })
            .set(down);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(|e| AwsError::internal(format!("encoding metrics: {e}")))?;
        Ok(if openmetrics { out } else { to_prometheus_text(&out) })
    }
}

/// OpenMetrics to the classic text format: a counter's HELP/TYPE lines name
/// its `_total` samples, and there is no `# EOF` (or `# UNIT`).
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].into_iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            counters.contains(name).then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(meta.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Counts the bytes of registry request and response bodies
/// (`berth_registry_bytes_total{direction}`) as they stream; the bodies'
/// size hints are kept, so Content-Length answers stay as they were.
pub async fn count_registry_bytes(
    axum::extract::State(m): axum::extract::State<Arc<Metrics>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    fn counted(body: axum::body::Body, counter: Counter) -> axum::body::Body {
        axum::body::Body::new(CountedBody { inner: body, counter })
    }
    let c_in = m.registry_counter("in");
    let req = req.map(|b| counted(b, c_in));
    let resp = next.run(req).await;
    let c_out = m.registry_counter("out");
    resp.map(|b| counted(b, c_out))
}

/// A body that counts its data bytes and keeps the inner size hint.
struct CountedBody {
    inner: axum::body::Body,
    counter: Counter,
}

impl http_body::Body for CountedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(f))) = &polled
            && let Some(d) = f.data_ref()
        {
            self.counter.inc_by(d.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Times every store call into `berth_store_operation_duration_seconds`.
pub struct InstrumentedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl InstrumentedStore {
    pub fn wrap(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Arc<dyn Store> {
        Arc::new(Self { inner, metrics })
    }
}

#[async_trait]
impl Store for InstrumentedStore {
    async fn get(&self, key: &str) -> berth_store::Result<Option<KeyValue>> {
        let t = Instant::now();
        let r = self.inner.get(key).await;
        self.metrics.observe_store("get", t.elapsed());
        r
    }
    async fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> berth_store::Result<Vec<KeyValue>> {
        let t = Instant::now();
        let r = self.inner.range(prefix, start_after, limit).await;
        self.metrics.observe_store("range", t.elapsed());
        r
    }
    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> berth_store::Result<TxnResult> {
        let t = Instant::now();
        let r = self.inner.txn(compares, ops).await;
        self.metrics.observe_store("txn", t.elapsed());
        r
    }
    async fn current_revision(&self) -> berth_store::Result<Revision> {
        self.inner.current_revision().await
    }
    async fn watch(&self, prefix: &str, from_revision: Revision) -> berth_store::Result<WatchStream> {
        self.inner.watch(prefix, from_revision).await
    }
    async fn close(&self) -> berth_store::Result<()> {
        self.inner.close().await
    }
}

/// What the request handler learns about a call as it goes (who called,
/// the decoded input), shared through the request's extensions.
#[derive(Clone, Default)]
pub struct CallNote(Arc<Mutex<NoteInner>>);

#[derive(Default)]
struct NoteInner {
    /// The call's `<service>.amazonaws.com`, known when it begins: an input
    /// is recorded (redacted, bounded) as it is noted, not copied.
    event_source: String,
    principal: Option<Principal>,
    input: Option<berth_audit::RequestParameters>,
    action: Option<String>,
}

impl CallNote {
    fn with<T>(&self, f: impl FnOnce(&mut NoteInner) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Called once the caller is authenticated.
pub fn note_principal(ext: &axum::http::Extensions, principal: &Principal) {
    if let Some(n) = ext.get::<CallNote>() {
        n.with(|i| i.principal = Some(principal.clone()));
    }
}

/// Called once the awsJson input is decoded, before it is handed over: the
/// audit trail's record of it is taken now (no copy of the input is kept).
pub fn note_input(ext: &axum::http::Extensions, input: &serde_json::Value) {
    if let Some(n) = ext.get::<CallNote>() {
        n.with(|i| i.input = Some(berth_audit::RequestParameters::of(input, &i.event_source)));
    }
}

/// Called with the summary of an awsJson input its operation read straight
/// from the body (`berth_proto::direct`): a large input's record is made
/// from the summary; a small one's (kept whole) from the body, parsed now
/// — the reader accepted only what the model leaves as sent, so it is the
/// record the general path makes.
pub fn note_summary(ext: &axum::http::Extensions, summary: &berth_proto::direct::Summary, body: &[u8]) {
    let Some(n) = ext.get::<CallNote>() else { return };
    let source = n.with(|i| i.event_source.clone());
    let record = berth_audit::RequestParameters::of_summary(summary, &source).or_else(|| {
        serde_json::from_slice(body)
            .ok()
            .map(|input| berth_audit::RequestParameters::of(&input, &source))
    });
    n.with(|i| i.input = record);
}

/// The audit trail's record of a call's input (redacted, bounded), taken
/// while the input is shown (rpcv2Cbor: before the service takes it over),
/// for [`note_operation`]; None when the call is not noted.
pub fn parameters_of(
    ext: &axum::http::Extensions,
    input: &serde_json::Value,
) -> Option<berth_audit::RequestParameters> {
    let n = ext.get::<CallNote>()?;
    let source = n.with(|i| i.event_source.clone());
    Some(berth_audit::RequestParameters::of(input, &source))
}

/// Called with the operation of a protocol that names it outside the
/// headers (rpcv2Cbor: in the path), and the record of its input when it
/// reads as JSON ([`parameters_of`]).
pub fn note_operation(ext: &axum::http::Extensions, operation: &str, input: Option<berth_audit::RequestParameters>) {
    if let Some(n) = ext.get::<CallNote>() {
        n.with(|i| {
            i.action = Some(operation.to_string());
            i.input = input;
        });
    }
}

/// Called with an awsQuery `Action` and its parameters (`Action` and
/// `Version` are not request parameters).
pub fn note_query(ext: &axum::http::Extensions, action: &str, params: &std::collections::BTreeMap<String, String>) {
    if let Some(n) = ext.get::<CallNote>() {
        let input: serde_json::Map<String, serde_json::Value> = params
            .iter()
            .filter(|(k, _)| k.as_str() != "Action" && k.as_str() != "Version")
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        n.with(|i| {
            i.action = Some(action.to_string());
            i.input = Some(berth_audit::RequestParameters::of(
                &serde_json::Value::Object(input),
                &i.event_source,
            ));
        });
    }
}

/// The `Credential=AKID/date/region/service/aws4_request` of a SigV4
/// Authorization header (or presigned query): (access key id, service).
fn credential(headers: &HeaderMap, query: &str) -> (Option<String>, Option<String>) {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or("").to_string());
    let from_query = || berth_proto::form::value(query, "X-Amz-Credential");
    let Some(cred) = from_header.or_else(from_query) else {
        return (None, None);
    };
    let mut parts = cred.split('/');
    let key = parts.next().filter(|k| !k.is_empty()).map(str::to_string);
    let service = parts.nth(2).filter(|s| !s.is_empty()).map(str::to_string);
    (key, service)
}

/// One API call being answered: started before the handler runs, finished
/// (metrics and audit) once the response is decided.
pub struct Call {
    started: Instant,
    note: CallNote,
    service: String,
    operation: Option<String>,
    access_key_id: Option<String>,
    source_ip: String,
    user_agent: String,
    request_id: String,
    error: Option<AwsError>,
}

impl Call {
    pub fn begin(
        services: &HashMap<&'static str, Arc<dyn JsonService>>,
        req: &mut axum::http::Request<axum::body::Body>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Self {
        let headers = req.headers();
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        let (prefix, op) = match target.and_then(|t| t.rsplit_once('.')) {
            Some((p, o)) => (Some(p), Some(o.to_string())),
            None => (None, target.map(str::to_string)),
        };
        let (access_key_id, scope_service) = credential(headers, req.uri().query().unwrap_or(""));
        let service = prefix
            .and_then(|p| services.get(p))
            .map(|s| s.signing_name().to_string())
            .or(scope_service)
            .unwrap_or_else(|| "unknown".into());
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let note = CallNote::default();
        note.with(|n| n.event_source = berth_audit::event::event_source_for(&service));
        req.extensions_mut().insert(note.clone());
        Self {
            started: Instant::now(),
            note,
            service,
            operation: op,
            access_key_id,
            source_ip: peer.ip().to_string(),
            user_agent,
            request_id: request_id.to_string(),
            error: None,
        }
    }

    pub fn failed(&mut self, e: &AwsError) {
        self.error = Some(e.clone());
    }

    pub fn finish(self, metrics: &Metrics, audit: &berth_audit::AuditLog, status: StatusCode) {
        let (principal, input, action) = self
            .note
            .with(|n| (n.principal.take(), n.input.take(), n.action.take()));
        let unknown_op = self
            .error
            .as_ref()
            .is_some_and(|e| e.code == "UnknownOperationException" || e.code == "InvalidAction");
        let operation = action.or(self.operation).unwrap_or_else(|| "unknown".into());
        // Labels stay bounded: names a client made up are not metric labels.
        let op_label = if unknown_op { "unknown" } else { operation.as_str() };
        metrics.observe_request(&self.service, op_label, status.as_u16(), self.started.elapsed());
        // The agent's liveness ping (every 10 s per instance) and its task
        // usage reports (every 20 s) are Berth's own protocol, not AWS API
        // calls: only their failures are audited.
        if matches!(operation.as_str(), "BerthHeartbeat" | "BerthPublishTaskUsage") && self.error.is_none() {
            return;
        }
        let mut call = berth_audit::ApiCall::new(
            berth_audit::event::event_source_for(&self.service),
            operation,
            &self.request_id,
        );
        call.identity = match principal {
            Some(p) => berth_audit::Identity::Principal(p),
            None => berth_audit::Identity::Unknown {
                access_key_id: self.access_key_id,
            },
        };
        call.source_ip = self.source_ip;
        call.user_agent = self.user_agent;
        call.request_parameters = input;
        if let Some(e) = self.error {
            call.error_code = Some(e.code.to_string());
            call.error_message = Some(e.message);
        }
        audit.record(call);
        metrics.audit_events.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_from_header_and_query() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKIAX/20260101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=x"
                .parse()
                .unwrap(),
        );
        assert_eq!(credential(&h, ""), (Some("AKIAX".into()), Some("logs".into())));
        let q = "X-Amz-Credential=AKIAY%2F20260101%2Fus-east-1%2Fecr%2Faws4_request&X-Amz-Date=1";
        assert_eq!(
            credential(&HeaderMap::new(), q),
            (Some("AKIAY".into()), Some("ecr".into()))
        );
        assert_eq!(credential(&HeaderMap::new(), ""), (None, None));
    }

    #[tokio::test]
    async fn metrics_render_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(berth_store::SqliteStore::open(dir.path().join("s.db")).unwrap());
        let m = Arc::new(Metrics::new());
        let store = InstrumentedStore::wrap(store, m.clone());
        store
            .put("ecs/tasks/c/t1", br#"{"lastStatus":"RUNNING"}"#.to_vec())
            .await
            .unwrap();
        m.observe_request("ecs", "CreateCluster", 200, Duration::from_millis(3));
        let text = m.render(&[&*store], false).await.unwrap();
        assert!(text.contains("# TYPE berth_api_requests_total counter\n"), "{text}");
        assert!(!text.contains("# EOF"));
        assert!(m.render(&[&*store], true).await.unwrap().ends_with("# EOF\n"));
        assert!(text.contains(r#"berth_api_requests_total{service="ecs",operation="CreateCluster",status="200"} 1"#));
        assert!(text.contains(r#"berth_tasks{status="RUNNING"} 1"#), "{text}");
        assert!(text.contains("berth_store_operation_duration_seconds_bucket"));
        assert!(
            text.contains(r#"berth_registry_bytes_total{direction="in"} 0"#),
            "{text}"
        );
        assert!(
            text.contains("# TYPE berth_placement_duration_seconds histogram"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_cluster_gauges_sum_every_region() {
        let shared: Arc<dyn Store> = Arc::new(berth_store::MemoryStore::new());
        let home = berth_store::RegionStore::home(shared.clone());
        let eu = berth_store::RegionStore::prefixed(shared, "eu-west-1");
        for (store, task) in [(&home, "t1"), (&eu, "t2"), (&eu, "t3")] {
            store
                .put(&format!("ecs/tasks/c/{task}"), br#"{"lastStatus":"RUNNING"}"#.to_vec())
                .await
                .unwrap();
        }
        eu.put("ecs/instances/c/i1", br#"{"agentConnected":true}"#.to_vec())
            .await
            .unwrap();
        let m = Metrics::new();
        let text = m.render(&[&home, &eu], false).await.unwrap();
        assert!(text.contains(r#"berth_tasks{status="RUNNING"} 3"#), "{text}");
        assert!(
            text.contains(r#"berth_container_instances{connected="true"} 1"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn registry_bytes_are_counted_both_ways() {
        use axum::routing::put;
        use tower::ServiceExt;
        let m = Arc::new(Metrics::new());
        let app = axum::Router::new()
            .route(
                "/v2/x",
                put(|body: axum::body::Bytes| async move { format!("got {}", body.len()) }),
            )
            .layer(axum::middleware::from_fn_with_state(m.clone(), count_registry_bytes));
        let req = axum::http::Request::put("/v2/x")
            .body(axum::body::Body::from(vec![7u8; 1000]))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(
            axum::body::HttpBody::size_hint(resp.body()).exact(),
            Some(8),
            "the size hint (Content-Length) survives"
        );
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"got 1000");
        assert_eq!(m.registry_counter("in").get(), 1000);
        assert_eq!(m.registry_counter("out").get(), 8);
        m.observe_placement(Duration::from_millis(2));
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(berth_store::SqliteStore::open(dir.path().join("s.db")).unwrap());
        let text = m.render(&[&*store], false).await.unwrap();
        assert!(
            text.contains(r#"berth_registry_bytes_total{direction="out"} 8"#),
            "{text}"
        );
        assert!(text.contains("berth_placement_duration_seconds_count 1"), "{text}");
    }
}
