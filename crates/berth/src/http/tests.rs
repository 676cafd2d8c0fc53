//! The listener through its router, without a socket: each test builds an
//! [`App`] on a temporary data dir and calls `router().oneshot(request)`
//! (axum's testing example). The fixtures live here; the cases, table-driven,
//! in `tests/`: dispatch and protocol detection, authentication failures,
//! body limits, error shapes and the plain routes.

use super::App;
use crate::config::{Config, SecretSource, Tls};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use berth_proto::sigv4::{self, Credentials, PayloadSigning, SigningParams};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use time::OffsetDateTime;
use tower::ServiceExt;

mod auth;
mod cloudwatch;
mod dispatch;
mod ec2;
mod elbv2;
mod encoding;
mod limits;
mod protocols;
mod regions;
mod routes;

/// The server's region. Not `us-east-1`, so that the signing region IAM and
/// STS also accept (their global endpoints') can be told from the server's.
const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "000000000000";
/// `berth up`'s root credentials.
const ROOT_KEY: &str = "test";
const ROOT_SECRET: &str = "test";

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const ECR: &str = "AmazonEC2ContainerRegistry_V20150921";
const JSON_1_1: &str = "application/x-amz-json-1.1";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
const GET_CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
const LIST_USERS: &str = "Action=ListUsers&Version=2010-05-08";

/// An [`App`] on its own temporary data dir, and its router.
struct Server {
    router: Router,
    app: Arc<App>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        Self::serving_with(&[REGION], |_| {}).await
    }

    /// A server for these regions (the first the default).
    async fn serving(regions: &[&str]) -> Self {
        Self::serving_with(regions, |_| {}).await
    }

    /// A server whose [`App`] `setup` changes before it serves (registers a
    /// service of its own).
    async fn start_with(setup: impl FnOnce(&mut App)) -> Self {
        Self::serving_with(&[REGION], setup).await
    }

    async fn serving_with(regions: &[&str], setup: impl FnOnce(&mut App)) -> Self {
        Self::configured(regions, false, setup).await
    }

    /// A server for these regions with ELBv2's API served in each.
    async fn with_elbv2(regions: &[&str]) -> Self {
        Self::configured(regions, true, |_| {}).await
    }

    async fn configured(regions: &[&str], elbv2: bool, setup: impl FnOnce(&mut App)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary data dir");
        let lock = std::fs::File::create(dir.path().join("lock")).expect("the lock file");
        let cfg = Config {
            listen: "127.0.0.1:4600".parse().expect("an address"),
            data_dir: dir.path().to_path_buf(),
            account_id: ACCOUNT.into(),
            regions: crate::regions::Regions::parse(regions).expect("region names"),
            root_access_key_id: ROOT_KEY.into(),
            root_secret_access_key: ROOT_SECRET.into(),
            registry_host: None,
            agent_grace_period: std::time::Duration::from_secs(60),
            ecs_metrics_interval: std::time::Duration::from_secs(60),
            root_secret_source: SecretSource::Public,
            tls: Tls::Off,
            listener: crate::serve::Limits {
                max_connections: 16,
                max_connections_per_ip: 0,
                header_timeout: std::time::Duration::from_secs(10),
                idle_timeout: std::time::Duration::from_secs(60),
                body_min_rate: crate::serve::body_rate::MinRate {
                    min_bytes_per_sec: 1024,
                    window: std::time::Duration::from_secs(10),
                },
                h2_keepalive: std::time::Duration::from_secs(30),
                shutdown_grace: std::time::Duration::from_secs(30),
            },
            local_agent: None,
            elbv2,
            lb_bind: "127.0.0.1".parse().expect("an address"),
            lb_busy_poll: std::time::Duration::ZERO,
            lb_slice: std::time::Duration::ZERO,
            time_scale: berth_core::time_scale::TimeScale::REAL,
            fargate_spot_interruption_rate: 0.0,
            capacity_hooks: vec![],
            registry_schedule: berth_registry::Schedule::default(),
            registry_pull_through: Default::default(),
            ecr_replication_peers: Default::default(),
            _lock: Arc::new(lock),
        };
        let mut app = App::start(&cfg).await.expect("the app starts");
        setup(Arc::get_mut(&mut app).expect("nothing else holds the app yet"));
        Self {
            router: app.router(),
            app,
            _dir: dir,
        }
    }

    /// One request through the router, as if from 127.0.0.1 (the extension
    /// the accept loop sets).
    async fn send(&self, mut req: Request<Body>) -> Answer {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router is infallible");
        let (parts, body) = resp.into_parts();
        let body = http_body_util::BodyExt::collect(body)
            .await
            .expect("the answer's body")
            .to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn call(&self, call: Call) -> Answer {
        self.send(call.into_request()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Request::get(path).body(Body::empty()).unwrap()).await
    }
}

/// How a request is signed (the root's key, the server's region, now, the
/// body's hash in the signature only) unless a test says otherwise.
#[derive(Clone)]
struct Signer {
    creds: Credentials,
    region: String,
    service: String,
    time: OffsetDateTime,
    payload: PayloadSigning,
    declare_hash: bool,
}

impl Signer {
    fn root(service: &str) -> Self {
        Self {
            creds: Credentials::new(ROOT_KEY, ROOT_SECRET),
            region: REGION.into(),
            service: service.into(),
            time: OffsetDateTime::now_utc(),
            payload: PayloadSigning::Hash,
            declare_hash: false,
        }
    }

    fn key(mut self, key: &str, secret: &str) -> Self {
        self.creds = Credentials::new(key, secret);
        self
    }

    fn token(mut self, token: &str) -> Self {
        self.creds = self.creds.with_session_token(token);
        self
    }

    fn region(mut self, region: &str) -> Self {
        self.region = region.into();
        self
    }

    fn skewed(mut self, by: time::Duration) -> Self {
        self.time += by;
        self
    }

    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
    fn unsigned_payload(mut self) -> Self {
        self.payload = PayloadSigning::Unsigned;
        self.declare_hash = true;
        self
    }

    /// `x-amz-content-sha256: <the body's hash>`, signed.
    fn declaring_hash(mut self) -> Self {
        self.declare_hash = true;
        self
    }
}

/// A `POST /` to build: its headers, its body, how it is signed, and what
/// is changed after signing.
struct Call {
    path: &'static str,
    headers: HeaderMap,
    body: Vec<u8>,
    signer: Option<Signer>,
    after_signing: Vec<(HeaderName, HeaderValue)>,
    sent_body: Option<Body>,
}

impl Call {
    /// An awsJson call: `X-Amz-Target: TARGET`, JSON 1.1.
    fn json(target: &str, body: &str) -> Self {
        Self::raw(body.as_bytes())
            .header(header::CONTENT_TYPE.as_str(), JSON_1_1)
            .header("x-amz-target", target)
    }

    /// An awsQuery call: a form body.
    fn query(form: &str) -> Self {
        Self::raw(form.as_bytes()).header(header::CONTENT_TYPE.as_str(), FORM)
    }

    /// Neither a target nor a content type.
    fn raw(body: &[u8]) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("localhost:4600"));
        Self {
            path: "/",
            headers,
            body: body.to_vec(),
            signer: None,
            after_signing: vec![],
            sent_body: None,
        }
    }

    /// An rpcv2Cbor call to `path` (`/service/{S}/operation/{O}`).
    fn cbor(path: &'static str, body: &[u8]) -> Self {
        let mut call = Self::raw(body)
            .header("smithy-protocol", "rpc-v2-cbor")
            .header(header::CONTENT_TYPE.as_str(), "application/cbor")
            .header(header::ACCEPT.as_str(), "application/cbor");
        call.path = path;
        call
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    fn signed(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
        self
    }

    /// A header the signature does not cover (replacing any signed one).
    fn header_after_signing(mut self, name: &str, value: &str) -> Self {
        self.after_signing.push((
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        ));
        self
    }

    /// Sends `body` instead of the bytes that were signed.
    fn sending(mut self, body: Body) -> Self {
        self.sent_body = Some(body);
        self
    }

    fn into_request(self) -> Request<Body> {
        let mut headers = self.headers;
        if let Some(s) = &self.signer {
            let mut params = SigningParams::new(&s.creds, &s.region, &s.service, s.time);
            params.payload = s.payload;
            params.content_sha256_header = s.declare_hash;
            for (name, value) in sigv4::sign_with("POST", self.path, "", &headers, &self.body, &params) {
                headers.insert(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
        }
        for (name, value) in self.after_signing {
            headers.insert(name, value);
        }
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.path)
            .body(self.sent_body.unwrap_or_else(|| Body::from(self.body)))
            .unwrap();
        *req.headers_mut() = headers;
        req
    }
}

/// A body that records whether anything polled it (and fails if so): the
/// proof that a request was refused before its body was read.
fn untouched_body() -> (Body, Arc<AtomicBool>) {
    let polled = Arc::new(AtomicBool::new(false));
    let seen = polled.clone();
    let stream = futures::stream::poll_fn(move |_| {
        seen.store(true, Ordering::SeqCst);
        std::task::Poll::Ready(Some(Err::<Bytes, _>(std::io::Error::other("the body was read"))))
    });
    (Body::from_stream(stream), polled)
}

/// An answer, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// `x-amzn-RequestId`: present and a UUID (every answer of `POST /` has one).
    fn request_id(&self) -> String {
        let id = self
            .header("x-amzn-requestid")
            .unwrap_or_else(|| panic!("no x-amzn-RequestId on {} {}", self.status, self.text()));
        assert!(
            uuid::Uuid::parse_str(id).is_ok(),
            "x-amzn-RequestId {id:?} is not a UUID"
        );
        id.to_string()
    }

    /// An awsJson error: `{"__type","message"}` and nothing else, the same
    /// code in `x-amzn-ErrorType`, JSON 1.1, a request id. Returns (code, message).
    fn json_error(&self) -> (String, String) {
        self.request_id();
        assert_eq!(self.content_type(), JSON_1_1, "{}", self.text());
        let body = self.json();
        let fields = body.as_object().expect("an object");
        assert_eq!(fields.len(), 2, "only __type and message: {body}");
        let code = body["__type"].as_str().expect("__type").to_string();
        let message = body["message"].as_str().expect("message").to_string();
        assert_eq!(self.header("x-amzn-errortype"), Some(code.as_str()));
        (code, message)
    }

    /// An awsQuery error: the `ErrorResponse` XML in the namespace of IAM or
    /// STS (the service answering), `Sender` for a client fault, its
    /// `RequestId` that of the header. Returns (code, message).
    fn query_error(&self) -> (String, String) {
        let id = self.request_id();
        assert_eq!(self.content_type(), "text/xml", "{}", self.text());
        let xml = self.text();
        assert!(
            xml.starts_with("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>")
                || xml.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"),
            "{xml}"
        );
        let kind = if self.status.is_client_error() {
            "Sender"
        } else {
            "Receiver"
        };
        assert_eq!(xml_text(&xml, "Type").as_deref(), Some(kind), "{xml}");
        assert_eq!(xml_text(&xml, "RequestId"), Some(id), "{xml}");
        let code = xml_text(&xml, "Code").expect("Code");
        assert_eq!(self.header("x-amzn-errortype"), Some(code.as_str()));
        (code, xml_text(&xml, "Message").expect("Message"))
    }
}

/// The text of the first `<tag>` in `xml`, unescaped.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// What an error message must say.
#[derive(Clone, Copy, Debug)]
enum Says {
    Exactly(&'static str),
    StartsWith(&'static str),
    Contains(&'static str),
}

impl Says {
    fn check(self, message: &str, case: &str) {
        let ok = match self {
            Says::Exactly(m) => message == m,
            Says::StartsWith(m) => message.starts_with(m),
            Says::Contains(m) => message.contains(m),
        };
        assert!(ok, "{case}: the message {message:?} does not match {self:?}");
    }
}

/// AWS's wording of a signature that does not match.
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
