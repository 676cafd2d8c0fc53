//! Task role credentials (docs/agent-protocol.md §6).
//!
//! The agent serves an HTTP endpoint on the loopback interface in the format
//! the AWS SDKs' container credentials provider reads
//! (`GET /v2/credentials/<id>` with `Authorization: <token>` →
//! `{"AccessKeyId","SecretAccessKey","Token","Expiration","RoleArn"}`). Each
//! task with a task role is registered with a random id and a random 32-byte
//! token; its containers get `AWS_CONTAINER_CREDENTIALS_FULL_URI` and
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN`. A token only opens its own task's
//! credentials. Credentials come from the control plane
//! (`BerthGetTaskCredentials`, signed with the agent's identity) and are
//! cached until [`REFRESH_MARGIN_SECS`] before they expire.
//!
//! The same operation gives the agent a task's *execution role* credentials,
//! which it uses for the task's secrets and registry auth.

use crate::client::{ApiClient, ApiError};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use berth_agent_protocol::{TaskCredentialsAnswer, TaskCredentialsRequest};
use berth_proto::sigv4::Credentials;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Credentials are fetched again this long before they expire.
pub const REFRESH_MARGIN_SECS: f64 = 15.0 * 60.0;

/// The path prefix of the endpoint.
pub const PATH_PREFIX: &str = "/v2/credentials/";

pub const ENV_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
pub const ENV_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";

pub use berth_agent_protocol::RoleKind;

/// Temporary credentials for one of a task's roles.
#[derive(Clone, PartialEq)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch seconds.
    pub expiration: f64,
    pub role_arn: String,
}

impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

impl RoleCredentials {
    /// Reads a `BerthGetTaskCredentials` answer.
    pub fn from_response(v: &Value) -> Option<Self> {
        let a = TaskCredentialsAnswer::deserialize(v).ok()?;
        Some(Self {
            access_key_id: a.credentials.access_key_id,
            secret_access_key: a.credentials.secret_access_key,
            session_token: a.credentials.session_token,
            expiration: a.credentials.expiration,
            role_arn: a.role_arn,
        })
    }

    /// Still good at `now` (epoch seconds), with the refresh margin.
    pub fn is_fresh(&self, now: f64) -> bool {
        now + REFRESH_MARGIN_SECS < self.expiration
    }

    /// The body the SDKs' container credentials provider reads.
    pub fn container_json(&self) -> Value {
        json!({
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.session_token,
            "Expiration": berth_core::time::iso8601_epoch(self.expiration),
            "RoleArn": self.role_arn,
        })
    }

    /// For signing requests (the execution role's ApiClient).
    pub fn signing(&self) -> Credentials {
        Credentials::new(self.access_key_id.clone(), self.secret_access_key.clone())
            .with_session_token(self.session_token.clone())
    }
}

/// Asks the control plane for credentials of one of a task's roles.
pub async fn fetch(
    api: &ApiClient,
    cluster: &str,
    instance_arn: &str,
    task_arn: &str,
    role: RoleKind,
) -> Result<RoleCredentials, ApiError> {
    let v = api
        .call(
            "BerthGetTaskCredentials",
            &json!(TaskCredentialsRequest::new(cluster, instance_arn, task_arn, role)),
        )
        .await?;
    RoleCredentials::from_response(&v).ok_or_else(|| ApiError::Aws {
        status: 200,
        code: "SerializationException".into(),
        message: "BerthGetTaskCredentials answered without credentials".into(),
    })
}

/// Whether containers in `network_mode` reach the endpoint on the host's
/// loopback interface: only `host` mode shares the host's network
/// namespace; in the other modes the agent also listens inside each
/// container's namespace ([`CredentialsEndpoint::serve_in_container`]).
pub fn shares_host_network(network_mode: &str) -> bool {
    network_mode == "host"
}

/// The address containers use: the listen address, or 127.0.0.1 when the
/// agent listens on every interface.
fn loopback_of(addr: SocketAddr) -> std::net::IpAddr {
    if addr.ip().is_unspecified() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        addr.ip()
    }
}

/// Binding a socket inside another process's network namespace.
mod netns {
    use std::fs::File;
    use std::io;
    use std::net::{SocketAddr, TcpListener};
    use std::os::fd::AsFd;

    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

    /// setns(2) into the network namespace `ns` refers to.
    fn enter(ns: &File) -> io::Result<()> {
        move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network)).map_err(io::Error::from)
    }

    /// Binds `addr` in the network namespace of process `pid`. A socket
    /// stays in the namespace it was created in, so the agent serves it like
    /// any other. The switch happens on a dedicated thread that ends right
    /// after (a thread left in the container's namespace runs nothing else).
    pub fn bind_in(pid: i64, addr: SocketAddr) -> io::Result<TcpListener> {
        std::thread::spawn(move || {
            let own = File::open("/proc/thread-self/ns/net")?;
            let target = File::open(format!("/proc/{pid}/ns/net"))?;
            enter(&target)?;
            let bound = TcpListener::bind(addr);
            enter(&own)?;
            bound
        })
        .join()
        .map_err(|_| io::Error::other("the network namespace thread panicked"))?
    }
}

/// What a task's containers need to reach their credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskEndpoint {
    pub id: String,
    pub token: String,
    /// `http://127.0.0.1:PORT/v2/credentials/<id>`.
    pub full_uri: String,
    /// PORT.
    pub port: u16,
}

impl std::fmt::Debug for TaskEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskEndpoint")
            .field("full_uri", &self.full_uri)
            .finish_non_exhaustive()
    }
}

impl TaskEndpoint {
    /// The container environment variables. Only the full URI: the SDKs
    /// prefer `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, which is relative to
    /// 169.254.170.2, where Berth serves nothing.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (ENV_FULL_URI.to_string(), self.full_uri.clone()),
            (ENV_TOKEN.to_string(), self.token.clone()),
        ]
    }
}

/// The (id, token, port) in a container's environment (`KEY=VALUE`
/// entries), as [`TaskEndpoint::env`] put them there.
pub fn from_container_env(env: &[String]) -> Option<(String, String, u16)> {
    let get = |key: &str| {
        env.iter()
            .find_map(|e| e.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    };
    let uri = get(ENV_FULL_URI)?;
    let (base, id) = uri.split_once(PATH_PREFIX)?;
    let port = base.rsplit_once(':')?.1.parse().ok()?;
    let token = get(ENV_TOKEN)?;
    (!id.is_empty() && !id.contains('/')).then(|| (id.to_string(), token.to_string(), port))
}

/// One registered task.
struct Entry {
    task_arn: String,
    cluster: String,
    instance_arn: String,
    token: String,
    cached: tokio::sync::Mutex<Option<RoleCredentials>>,
}

/// Why a request to the endpoint is refused (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such id (never registered, or the task stopped).
    NotFound,
    /// The token is missing or belongs to something else.
    Forbidden,
}

/// Checks the `Authorization` header against the registered token (in
/// constant time).
pub fn check_token(registered: Option<&str>, presented: Option<&str>) -> Result<(), Refusal> {
    let Some(expected) = registered else {
        return Err(Refusal::NotFound);
    };
    let presented = presented.unwrap_or("").trim();
    let same = expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same { Ok(()) } else { Err(Refusal::Forbidden) }
}

struct Shared {
    api: ApiClient,
    /// By id.
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

impl Shared {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        match self.entries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// The agent's credentials endpoint.
pub struct CredentialsEndpoint {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The task metadata endpoint, served by the same listeners.
    metadata: Arc<crate::metadata::Registry>,
    server: tokio::task::JoinHandle<()>,
    /// Listeners inside containers' network namespaces, by task ARN
    /// (aborted when the task is unregistered).
    in_containers: Mutex<HashMap<String, Vec<AbortOnDrop>>>,
}

/// A server task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    metadata: Arc<crate::metadata::Registry>,
) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new()
        .route("/v2/credentials/{id}", get(serve_credentials))
        .with_state(shared)
        .merge(metadata.routes())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "NotFound", "no such credentials endpoint") });
    tokio::spawn(async move {
        let mut pause = std::time::Duration::from_millis(10);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => {
                    pause = std::time::Duration::from_millis(10);
                    stream
                }
                Err(e) => {
                    // Out of descriptors or memory: back off, then accept again.
                    tracing::warn!(error = %e, "a credentials endpoint listener cannot accept");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                    continue;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let served = http1()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(error = %e, "a credentials endpoint connection ended");
                }
            });
        }
    })
}

/// HTTP/1.1 (and 1.0) as the endpoint speaks it. Half-closed connections
/// are served: a client may shut down its write side once it has sent its
/// request (busybox `nc` does) and still expects the answer; by default hyper
/// takes that end of input for an aborted request and drops it, which is
/// how task-role credentials went unanswered inside gVisor tasks (the
/// metadata answered only because it was ready before the client's FIN).
fn http1() -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.half_close(true);
    b
}

impl Drop for CredentialsEndpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl CredentialsEndpoint {
    /// Binds `listen` (use port 0 for an ephemeral port) and serves. With
    /// port 0 and a `port_file`, the port of the previous run (saved there)
    /// is tried first, so the containers a restarted agent adopts keep
    /// reaching their credentials.
    pub async fn start(
        listen: SocketAddr,
        api: ApiClient,
        port_file: Option<&std::path::Path>,
    ) -> std::io::Result<Self> {
        let previous = port_file
            .filter(|_| listen.port() == 0)
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|s| s.trim().parse::<u16>().ok());
        let listener = match previous {
            Some(port) => match tokio::net::TcpListener::bind(SocketAddr::new(listen.ip(), port)).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(port, error = %e, "cannot listen on the previous credentials port; adopted containers lose their credentials");
                    tokio::net::TcpListener::bind(listen).await?
                }
            },
            None => tokio::net::TcpListener::bind(listen).await?,
        };
        let addr = listener.local_addr()?;
        if let Some(f) = port_file
            && let Err(e) = std::fs::write(f, addr.port().to_string())
        {
            tracing::warn!(file = %f.display(), error = %e, "cannot save the credentials port");
        }
        let shared = Arc::new(Shared {
            api,
            entries: Mutex::new(HashMap::new()),
        });
        let metadata = Arc::new(crate::metadata::Registry::default());
        let server = serve(listener, shared.clone(), metadata.clone());
        tracing::info!(%addr, "task credentials and metadata endpoint listening");
        Ok(Self {
            addr,
            shared,
            metadata,
            server,
            in_containers: Mutex::new(HashMap::new()),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The task metadata endpoint served by the same listeners.
    pub fn metadata(&self) -> &crate::metadata::Registry {
        &self.metadata
    }

    /// `http://127.0.0.1:PORT`: what containers reach the listeners at.
    pub fn base_uri(&self) -> String {
        format!("http://{}", SocketAddr::new(loopback_of(self.addr), self.addr.port()))
    }

    /// Registers a task (or returns its existing registration): its
    /// containers' endpoint and token.
    pub fn register(&self, task_arn: &str, cluster: &str, instance_arn: &str) -> TaskEndpoint {
        let mut entries = self.shared.entries();
        if let Some((id, e)) = entries.iter().find(|(_, e)| e.task_arn == task_arn) {
            return self.endpoint_of(id, &e.token);
        }
        let id = random_hex(16);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        entries.insert(
            id.clone(),
            Arc::new(Entry {
                task_arn: task_arn.to_string(),
                cluster: cluster.to_string(),
                instance_arn: instance_arn.to_string(),
                token: token.clone(),
                cached: tokio::sync::Mutex::new(None),
            }),
        );
        tracing::info!(task = %task_arn, "registered the task with the credentials endpoint");
        self.endpoint_of(&id, &token)
    }

    /// Registers a task again with the id and token its containers already
    /// carry (containers adopted after an agent restart). Refused (None) when
    /// the id belongs to another task.
    pub fn register_existing(
        &self,
        task_arn: &str,
        cluster: &str,
        instance_arn: &str,
        id: &str,
        token: &str,
    ) -> Option<TaskEndpoint> {
        let mut entries = self.shared.entries();
        if let Some((id, e)) = entries.iter().find(|(_, e)| e.task_arn == task_arn) {
            return Some(self.endpoint_of(id, &e.token));
        }
        if entries.contains_key(id) || id.is_empty() || token.is_empty() {
            return None;
        }
        entries.insert(
            id.to_string(),
            Arc::new(Entry {
                task_arn: task_arn.to_string(),
                cluster: cluster.to_string(),
                instance_arn: instance_arn.to_string(),
                token: token.to_string(),
                cached: tokio::sync::Mutex::new(None),
            }),
        );
        tracing::info!(task = %task_arn, "registered an adopted task with the credentials endpoint");
        Some(self.endpoint_of(id, token))
    }

    /// Forgets a task: its token and metadata ids open nothing any more.
    pub fn unregister(&self, task_arn: &str) {
        self.metadata.unregister(task_arn);
        let mut entries = self.shared.entries();
        let before = entries.len();
        entries.retain(|_, e| e.task_arn != task_arn);
        let removed = entries.len() != before;
        drop(entries);
        match self.in_containers.lock() {
            Ok(mut g) => g.remove(task_arn),
            Err(p) => p.into_inner().remove(task_arn),
        };
        if removed {
            tracing::info!(task = %task_arn, "unregistered the task from the credentials endpoint");
        }
    }

    /// Serves the endpoint inside the network namespace of a container of
    /// `task_arn` (its main process `pid`) on `127.0.0.1:port` (the
    /// loopback address of the URI its environment carries), so that
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` works in bridge, awsvpc and none
    /// network modes too. Needs CAP_SYS_ADMIN (the agent runs as root).
    pub async fn serve_in_container(&self, task_arn: &str, pid: i64, port: u16) -> std::io::Result<()> {
        let addr = SocketAddr::new(loopback_of(self.addr), port);
        let std_listener = tokio::task::spawn_blocking(move || netns::bind_in(pid, addr))
            .await
            .map_err(std::io::Error::other)??;
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let server = AbortOnDrop(serve(listener, self.shared.clone(), self.metadata.clone()));
        let mut map = match self.in_containers.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        map.entry(task_arn.to_string()).or_default().push(server);
        tracing::info!(task = %task_arn, pid, %addr, "serving task credentials inside the container's network namespace");
        Ok(())
    }

    fn endpoint_of(&self, id: &str, token: &str) -> TaskEndpoint {
        let addr = SocketAddr::new(loopback_of(self.addr), self.addr.port());
        TaskEndpoint {
            id: id.to_string(),
            token: token.to_string(),
            full_uri: format!("http://{addr}{PATH_PREFIX}{id}"),
            port: addr.port(),
        }
    }
}

async fn serve_credentials(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let entry = shared.entries().get(&id).cloned();
    let presented = headers.get("authorization").and_then(|v| v.to_str().ok());
    match check_token(entry.as_ref().map(|e| e.token.as_str()), presented) {
        Err(Refusal::NotFound) => {
            return error(StatusCode::NOT_FOUND, "NotFound", "no task is registered with this id");
        }
        Err(Refusal::Forbidden) => {
            return error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "the authorization token does not belong to this task",
            );
        }
        Ok(()) => {}
    }
    let Some(entry) = entry else {
        return error(StatusCode::NOT_FOUND, "NotFound", "no task is registered with this id");
    };
    // On a task of its own: a client that goes away does not cancel the
    // fetch halfway (its answer is cached for the next request).
    match tokio::spawn(answer(shared, entry)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "the task role credentials request failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "the credentials request failed",
            )
        }
    }
}

/// The task role's credentials of `entry`: cached, or fetched (and cached).
async fn answer(shared: Arc<Shared>, entry: Arc<Entry>) -> Response {
    let mut cached = entry.cached.lock().await;
    let now = berth_core::time::now_epoch();
    if cached.as_ref().is_none_or(|c| !c.is_fresh(now)) {
        match fetch(
            &shared.api,
            &entry.cluster,
            &entry.instance_arn,
            &entry.task_arn,
            RoleKind::Task,
        )
        .await
        {
            Ok(c) => *cached = Some(c),
            Err(e) => {
                tracing::warn!(task = %entry.task_arn, error = %e, "cannot get the task role credentials");
                // Credentials still valid (inside the refresh margin) are
                // better than none.
                if let Some(c) = cached.as_ref().filter(|c| c.expiration > now) {
                    return (StatusCode::OK, axum::Json(c.container_json())).into_response();
                }
                let (status, code, message) = match &e {
                    ApiError::Aws { code, message, .. } => {
                        (StatusCode::INTERNAL_SERVER_ERROR, code.clone(), message.clone())
                    }
                    ApiError::Transport { .. } => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ServiceUnavailable".to_string(),
                        e.to_string(),
                    ),
                };
                return error(status, &code, &message);
            }
        }
    }
    match cached.as_ref() {
        Some(c) => (StatusCode::OK, axum::Json(c.container_json())).into_response(),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "no credentials"),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": message}))).into_response()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(expiration: f64) -> RoleCredentials {
        RoleCredentials::from_response(&json!({
            "roleArn": "arn:aws:iam::000000000000:role/app",
            "credentials": {"accessKeyId": "ASIAX", "secretAccessKey": "s3cr3t", "sessionToken": "tok", "expiration": expiration}
        }))
        .unwrap()
    }

    #[test]
    fn answers_are_in_the_sdk_format() {
        let c = creds(1_800_000_000.0);
        assert_eq!(
            c.container_json(),
            json!({
                "AccessKeyId": "ASIAX", "SecretAccessKey": "s3cr3t", "Token": "tok",
                "Expiration": "2027-01-15T08:00:00Z", "RoleArn": "arn:aws:iam::000000000000:role/app"
            })
        );
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(RoleCredentials::from_response(&json!({"credentials": {}})).is_none());
    }

    #[test]
    fn credentials_are_refreshed_fifteen_minutes_before_expiry() {
        let c = creds(10_000.0);
        assert!(c.is_fresh(10_000.0 - REFRESH_MARGIN_SECS - 1.0));
        assert!(!c.is_fresh(10_000.0 - REFRESH_MARGIN_SECS));
    }

    #[test]
    fn tokens_open_only_their_own_task() {
        assert_eq!(check_token(Some("abc"), Some("abc")), Ok(()));
        assert_eq!(check_token(Some("abc"), Some("abd")), Err(Refusal::Forbidden));
        assert_eq!(check_token(Some("abc"), Some("ab")), Err(Refusal::Forbidden));
        assert_eq!(check_token(Some("abc"), None), Err(Refusal::Forbidden));
        assert_eq!(check_token(None, Some("abc")), Err(Refusal::NotFound));
    }

    #[test]
    fn registrations_are_found_again_in_container_environments() {
        let env = vec![
            "PATH=/bin".to_string(),
            format!("{ENV_FULL_URI}=http://127.0.0.1:4000/v2/credentials/abc"),
            format!("{ENV_TOKEN}=tok=en"),
        ];
        assert_eq!(from_container_env(&env), Some(("abc".into(), "tok=en".into(), 4000)));
        assert_eq!(from_container_env(&env[..2]), None);
        assert_eq!(from_container_env(&["PATH=/bin".to_string()]), None);
    }

    #[tokio::test]
    async fn a_restarted_endpoint_keeps_its_port_and_adopted_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("port");
        let api = ApiClient::new("http://127.0.0.1:9", Credentials::new("a", "b"), "us-east-1").unwrap();
        let any = "127.0.0.1:0".parse().unwrap();
        let first = CredentialsEndpoint::start(any, api.clone(), Some(&file)).await.unwrap();
        let a = first.register("arn:task/a", "default", "arn:ci/1");
        let port = first.addr().port();
        drop(first);
        let mut second = None;
        for _ in 0..100 {
            // The aborted server task releases the port when the runtime
            // next polls it: yield until it has.
            tokio::task::yield_now().await;
            std::fs::write(&file, port.to_string()).unwrap();
            let ep = CredentialsEndpoint::start(any, api.clone(), Some(&file)).await.unwrap();
            if ep.addr().port() == port {
                second = Some(ep);
                break;
            }
        }
        let second = second.expect("the previous port is bound again");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), port.to_string());
        let again = second
            .register_existing("arn:task/a", "default", "arn:ci/1", &a.id, &a.token)
            .unwrap();
        assert_eq!(again, a);
        assert!(
            second
                .register_existing("arn:task/b", "default", "arn:ci/1", &a.id, "x")
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_endpoint_binds_tokens_to_tasks() {
        let api = ApiClient::new("http://127.0.0.1:9", Credentials::new("a", "b"), "us-east-1").unwrap();
        let ep = CredentialsEndpoint::start("127.0.0.1:0".parse().unwrap(), api, None)
            .await
            .unwrap();
        let a = ep.register("arn:task/a", "default", "arn:ci/1");
        let b = ep.register("arn:task/b", "default", "arn:ci/1");
        assert_eq!(
            ep.register("arn:task/a", "default", "arn:ci/1"),
            a,
            "registration is idempotent"
        );
        assert_ne!(a.id, b.id);
        assert_ne!(a.token, b.token);
        assert!(a.full_uri.starts_with(&format!("http://{}/v2/credentials/", ep.addr())));
        let env = a.env();
        assert_eq!(env[0].0, ENV_FULL_URI);
        assert_eq!(env[1], (ENV_TOKEN.to_string(), a.token.clone()));

        let http = reqwest::Client::new();
        let get = |uri: String, token: String| {
            let http = http.clone();
            async move {
                let r = http.get(uri).header("Authorization", token).send().await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            }
        };
        // Task a's id with task b's token.
        let (status, body) = get(a.full_uri.clone(), b.token.clone()).await;
        assert_eq!(status, 403);
        assert_eq!(body["code"], "AccessDenied");
        // The right pair reaches the control plane (unreachable here).
        let (status, body) = get(a.full_uri.clone(), a.token.clone()).await;
        assert_eq!(status, 503, "{body}");
        // Unknown ids, and ids of stopped tasks.
        ep.unregister("arn:task/a");
        let (status, _) = get(a.full_uri.clone(), a.token.clone()).await;
        assert_eq!(status, 404);
        let (status, _) = get(format!("http://{}/other", ep.addr()), String::new()).await;
        assert_eq!(status, 404);
    }

    /// A client that shuts down its write side after its request (busybox
    /// `nc`) still gets the answer, although it needs a round trip to the
    /// control plane (unreachable here: 503).
    #[tokio::test]
    async fn a_half_closed_request_is_answered() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let api = ApiClient::new("http://127.0.0.1:9", Credentials::new("a", "b"), "us-east-1").unwrap();
        let ep = CredentialsEndpoint::start("127.0.0.1:0".parse().unwrap(), api, None)
            .await
            .unwrap();
        let a = ep.register("arn:task/a", "default", "arn:ci/1");
        let mut conn = tokio::net::TcpStream::connect(ep.addr()).await.unwrap();
        let request = format!(
            "GET {PATH_PREFIX}{} HTTP/1.0\r\nHost: {}\r\nAuthorization: {}\r\n\r\n",
            a.id,
            ep.addr(),
            a.token
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        conn.shutdown().await.unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.0 503 "), "{answer:?}");
        assert!(answer.contains("ServiceUnavailable"), "{answer:?}");
    }
}
