//! The task metadata endpoint v4 (and v3, the same documents), served by the
//! credentials endpoint's listeners (docs/architecture.md, "Task metadata"):
//! on the host's loopback for `host` network mode and inside each
//! container's network namespace for the others, at the same port.
//!
//! Every container gets `ECS_CONTAINER_METADATA_URI_V4` (and
//! `ECS_CONTAINER_METADATA_URI`) = `http://127.0.0.1:PORT/v4/<id>`, where
//! `<id>` is 32 random hex digits given to that container alone: it opens
//! only its own task's documents. The engine publishes a [`TaskSnapshot`]
//! at each of its reports; a request adds what Docker says (inspect, stats).

pub mod doc;

use crate::runtime::Runtime;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use doc::{Observed, TaskSnapshot};
use rand::RngCore;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

pub const ENV_URI_V4: &str = "ECS_CONTAINER_METADATA_URI_V4";
pub const ENV_URI_V3: &str = "ECS_CONTAINER_METADATA_URI";

#[derive(Default)]
struct Inner {
    /// Container id (the URI's) → (task ARN, container name).
    ids: HashMap<String, (String, String)>,
    /// By task ARN.
    tasks: HashMap<String, Arc<TaskSnapshot>>,
    /// The last stats reading of each container (by Docker id), whose CPU
    /// counters become the next answer's `precpu_stats`.
    last_stats: HashMap<String, Value>,
}

/// The registered containers and their tasks' snapshots.
#[derive(Default)]
pub struct Registry {
    runtime: OnceLock<Runtime>,
    inner: Mutex<Inner>,
}

impl Registry {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The Docker client that requests inspect (set once, by the agent).
    pub fn set_runtime(&self, runtime: Runtime) {
        let _ = self.runtime.set(runtime);
    }

    /// The id of a container of a task (a new random one, or the one it
    /// has already).
    pub fn register(&self, task_arn: &str, container: &str) -> String {
        let mut inner = self.inner();
        if let Some((id, _)) = inner.ids.iter().find(|(_, (t, c))| t == task_arn && c == container) {
            return id.clone();
        }
        let mut b = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut b);
        let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
        inner
            .ids
            .insert(id.clone(), (task_arn.to_string(), container.to_string()));
        id
    }

    /// Registers again the id an adopted container carries; false when it
    /// belongs to another container.
    pub fn register_existing(&self, task_arn: &str, container: &str, id: &str) -> bool {
        let mut inner = self.inner();
        match inner.ids.get(id) {
            Some((t, c)) => t == task_arn && c == container,
            None if is_id(id) => {
                inner
                    .ids
                    .insert(id.to_string(), (task_arn.to_string(), container.to_string()));
                true
            }
            None => false,
        }
    }

    /// The task's newest snapshot.
    pub fn publish(&self, snapshot: TaskSnapshot) {
        let mut inner = self.inner();
        if inner.tasks.get(&snapshot.task_arn).is_some_and(|s| **s == snapshot) {
            return;
        }
        inner.tasks.insert(snapshot.task_arn.clone(), Arc::new(snapshot));
    }

    /// Forgets a task: its containers' ids open nothing any more.
    pub fn unregister(&self, task_arn: &str) {
        let mut inner = self.inner();
        inner.ids.retain(|_, (t, _)| t != task_arn);
        if let Some(task) = inner.tasks.remove(task_arn) {
            for id in docker_ids(&task) {
                inner.last_stats.remove(&id);
            }
        }
    }

    /// The task snapshot and container name an id opens.
    fn lookup(&self, id: &str) -> Option<(Arc<TaskSnapshot>, String)> {
        let inner = self.inner();
        let (task, container) = inner.ids.get(id)?;
        Some((inner.tasks.get(task)?.clone(), container.clone()))
    }

    /// The routes, for the endpoint's listeners.
    pub fn routes(self: Arc<Self>) -> axum::Router {
        let mut r = axum::Router::new();
        for v in ["v3", "v4"] {
            r = r
                .route(&format!("/{v}/{{id}}"), get(container))
                .route(&format!("/{v}/{{id}}/task"), get(task))
                .route(&format!("/{v}/{{id}}/stats"), get(container_stats))
                .route(&format!("/{v}/{{id}}/task/stats"), get(task_stats));
        }
        r.with_state(self)
    }

    async fn observe(&self, docker_id: &str) -> Option<Observed> {
        let info = self.runtime.get()?.inspect(docker_id).await.ok()??;
        let state = info.state.as_ref();
        let labels: BTreeMap<String, String> = info
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let ipv4_addresses = info
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .map(|n| {
                let mut ips: Vec<String> = n
                    .values()
                    .filter_map(|e| e.ip_address.clone())
                    .filter(|ip| !ip.is_empty())
                    .collect();
                ips.sort();
                ips
            })
            .unwrap_or_default();
        Some(Observed {
            created_at: info.created.map(|t| t.to_string()),
            started_at: state.and_then(|s| s.started_at.clone()),
            finished_at: state.and_then(|s| s.finished_at.clone()),
            image_id: info.image.clone(),
            labels,
            ipv4_addresses,
        })
    }

    async fn stats(&self, docker_id: &str) -> Value {
        let Some(rt) = self.runtime.get() else {
            return Value::Null;
        };
        let reading = match rt.stats_once(docker_id).await {
            Ok(Some(s)) => serde_json::to_value(s).unwrap_or(Value::Null),
            _ => return Value::Null,
        };
        let mut inner = self.inner();
        let previous = inner.last_stats.insert(docker_id.to_string(), reading.clone());
        with_previous(reading, previous.as_ref())
    }
}

/// A one-shot Docker stats reading with the previous reading's CPU counters
/// as `precpu_stats` and its time as `preread` (what `docker stats` streams
/// give), so one request is enough to compute CPU use once a container has
/// been read before.
pub fn with_previous(mut reading: Value, previous: Option<&Value>) -> Value {
    if let (Some(obj), Some(prev)) = (reading.as_object_mut(), previous) {
        if let Some(cpu) = prev.get("cpu_stats") {
            obj.insert("precpu_stats".into(), cpu.clone());
        }
        if let Some(read) = prev.get("read") {
            obj.insert("preread".into(), read.clone());
        }
    }
    reading
}

/// An id as [`Registry::register`] makes them.
fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container's metadata environment: both variables.
pub fn env(base_uri: &str, id: &str) -> Vec<(String, String)> {
    vec![
        (ENV_URI_V4.to_string(), format!("{base_uri}/v4/{id}")),
        (ENV_URI_V3.to_string(), format!("{base_uri}/v3/{id}")),
    ]
}

/// The (id, port) of the metadata URI in a container's environment.
pub fn from_container_env(env: &[String]) -> Option<(String, u16)> {
    let uri = env
        .iter()
        .find_map(|e| e.strip_prefix(ENV_URI_V4).and_then(|r| r.strip_prefix('=')))?;
    let (base, id) = uri.split_once("/v4/")?;
    let port = base.rsplit_once(':')?.1.parse().ok()?;
    is_id(id).then(|| (id.to_string(), port))
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"code": "NotFound", "message": "no running container has this metadata id"})),
    )
        .into_response()
}

fn docker_ids(task: &TaskSnapshot) -> Vec<String> {
    task.containers.iter().filter_map(|c| c.docker_id.clone()).collect()
}

async fn container(State(reg): State<Arc<Registry>>, Path(id): Path<String>) -> Response {
    let Some((task, name)) = reg.lookup(&id) else {
        return not_found();
    };
    let Some(c) = task.containers.iter().find(|c| c.name == name) else {
        return not_found();
    };
    let seen = match &c.docker_id {
        Some(d) => reg.observe(d).await,
        None => None,
    };
    axum::Json(doc::container_doc(&task, c, seen.as_ref())).into_response()
}

async fn task(State(reg): State<Arc<Registry>>, Path(id): Path<String>) -> Response {
    let Some((task, _)) = reg.lookup(&id) else {
        return not_found();
    };
    let mut seen = HashMap::new();
    for d in docker_ids(&task) {
        if let Some(o) = reg.observe(&d).await {
            seen.insert(d, o);
        }
    }
    axum::Json(doc::task_doc(&task, &seen)).into_response()
}

async fn container_stats(State(reg): State<Arc<Registry>>, Path(id): Path<String>) -> Response {
    let Some((task, name)) = reg.lookup(&id) else {
        return not_found();
    };
    let Some(d) = task
        .containers
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.docker_id.clone())
    else {
        return not_found();
    };
    axum::Json(reg.stats(&d).await).into_response()
}

async fn task_stats(State(reg): State<Arc<Registry>>, Path(id): Path<String>) -> Response {
    let Some((task, _)) = reg.lookup(&id) else {
        return not_found();
    };
    let mut stats = HashMap::new();
    for d in docker_ids(&task) {
        let s = reg.stats(&d).await;
        stats.insert(d, s);
    }
    axum::Json(doc::task_stats_doc(&task, &stats)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_per_container_and_opened_only_while_registered() {
        let r = Registry::default();
        let a = r.register("arn:task/a", "app");
        assert!(is_id(&a));
        assert_eq!(r.register("arn:task/a", "app"), a, "idempotent");
        let b = r.register("arn:task/a", "sidecar");
        assert_ne!(a, b);
        assert!(r.lookup(&a).is_none(), "no snapshot yet");
        r.publish(TaskSnapshot::new("arn:task/a"));
        assert_eq!(r.lookup(&b).unwrap().1, "sidecar");
        assert!(!r.register_existing("arn:task/b", "app", &a), "another task's id");
        assert!(r.register_existing("arn:task/a", "app", &a));
        assert!(!r.register_existing("arn:task/b", "app", "short"));
        r.unregister("arn:task/a");
        assert!(r.lookup(&a).is_none());
    }

    #[test]
    fn stats_carry_the_previous_reading_as_precpu() {
        let first = json!({"read": "t1", "cpu_stats": {"cpu_usage": {"total_usage": 10}}, "precpu_stats": {}});
        assert_eq!(with_previous(first.clone(), None), first);
        let second = json!({"read": "t2", "cpu_stats": {"cpu_usage": {"total_usage": 30}}, "precpu_stats": {}});
        let out = with_previous(second, Some(&first));
        assert_eq!(out["precpu_stats"]["cpu_usage"]["total_usage"], 10);
        assert_eq!(out["preread"], "t1");
        assert_eq!(out["cpu_stats"]["cpu_usage"]["total_usage"], 30);
        assert_eq!(with_previous(Value::Null, Some(&first)), Value::Null);
    }

    #[test]
    fn the_environment_is_read_back_from_adopted_containers() {
        let id = "0123456789abcdef0123456789abcdef";
        let vars: Vec<String> = env("http://127.0.0.1:4100", id)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(vars[0], format!("{ENV_URI_V4}=http://127.0.0.1:4100/v4/{id}"));
        assert_eq!(vars[1], format!("{ENV_URI_V3}=http://127.0.0.1:4100/v3/{id}"));
        assert_eq!(from_container_env(&vars), Some((id.to_string(), 4100)));
        assert_eq!(from_container_env(&vars[1..]), None);
    }
}
