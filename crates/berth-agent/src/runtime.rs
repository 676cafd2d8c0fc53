//! The Docker runtime driver: a thin IO shell over bollard. Decisions live
//! in lifecycle.rs and spec.rs; this file only talks to the daemon.

use crate::host::HostFacts;
use crate::registry_auth::RegistryAuth;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStatsResponse, ContainerSummary, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, ListContainersOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveVolumeOptions, StatsOptions, StopContainerOptions,
};
use futures::{Stream, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Where a task volume comes from on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumePlan {
    /// `host.sourcePath`: a bind mount.
    Bind { host_path: String },
    /// A Docker volume: task-scoped ones (and `host` volumes without a
    /// source path) are created for the task and removed with it; shared ones
    /// are created when `autoprovision` is set and kept.
    Docker {
        name: String,
        task_scoped: bool,
        autoprovision: bool,
        driver: Option<String>,
        driver_opts: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    },
}

/// Where bollard connects when DOCKER_HOST is unset.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("Docker is not reachable at {host}: {message}: start dockerd or set DOCKER_HOST")]
    Unreachable { host: String, message: String },
    #[error("Docker: {0}")]
    Docker(String),
}

/// A Docker call that failed. `Display` is Docker's own message: the stop
/// reasons quote it after ECS's error code (`CannotPullContainerError: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerCallError {
    /// What the daemon (or the connection to it) answered.
    #[error("{0}")]
    Daemon(String),
    /// A shared Docker volume that is not there and may not be created.
    #[error("the shared volume '{0}' does not exist and autoprovision is not set")]
    SharedVolumeMissing(String),
}

impl From<DockerError> for DockerCallError {
    fn from(e: DockerError) -> Self {
        DockerCallError::Daemon(message(&e))
    }
}

/// How a pull ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullOutcome {
    Pulled,
    /// The registry could not be reached or refused, but the image is in the
    /// local image store (e.g. `docker import`ed): it is used.
    UsedLocal,
}

#[derive(Clone)]
pub struct Runtime {
    docker: Docker,
    host: String,
    /// Credentials for images in the Berth registry.
    registry_auth: Option<Arc<RegistryAuth>>,
}

/// Docker's error message without bollard's "Docker responded with status
/// code …" wrapper, as `docker` prints it.
pub fn message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        DockerError::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

fn status(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Splits an image reference into what the pull API takes: the repository
/// and the tag or digest (`latest` when there is neither).
pub fn split_image(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (
            image[..last_slash + i].to_string(),
            image[last_slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

fn label_filters(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let mut f = HashMap::new();
    f.insert(
        "label".to_string(),
        labels
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.to_string()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect(),
    );
    f
}

impl Runtime {
    /// Connects to DOCKER_HOST (or the default socket) and checks that the
    /// daemon answers; negotiates the API version down to the daemon's.
    pub async fn connect() -> Result<Self, RuntimeError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string());
        let unreachable = |message: String| RuntimeError::Unreachable {
            host: host.clone(),
            message,
        };
        let docker = Docker::connect_with_host(&host).map_err(|e| unreachable(message(&e)))?;
        let docker = docker.with_timeout(Duration::from_secs(10));
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 10 s".into()))?
            .map_err(|e| unreachable(message(&e)))?;
        tokio::time::timeout(Duration::from_secs(10), docker.ping())
            .await
            .map_err(|_| unreachable("no answer within 10 s".into()))?
            .map_err(|e| unreachable(message(&e)))?;
        Ok(Self {
            docker: docker.with_timeout(Duration::from_secs(120)),
            host,
            registry_auth: None,
        })
    }

    /// Pulls images from the Berth registry with its token.
    pub fn with_registry_auth(mut self, auth: Arc<RegistryAuth>) -> Self {
        self.registry_auth = Some(auth);
        self
    }

    /// The bollard client (the awslogs shipper follows `docker logs`).
    pub(crate) fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The daemon's view of the host: CPUs, memory, architecture, versions.
    pub async fn facts(&self) -> Result<HostFacts, RuntimeError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| RuntimeError::Docker(message(&e)))?;
        let version = self
            .docker
            .version()
            .await
            .map_err(|e| RuntimeError::Docker(message(&e)))?;
        Ok(HostFacts {
            cores: info.ncpu.unwrap_or(1),
            memory_bytes: info.mem_total.unwrap_or(0),
            docker_arch: info.architecture.unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            docker_version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_else(|| "1.17".to_string()),
            host_id: info.id.filter(|id| !id.is_empty()),
            cgroup_driver: info.cgroup_driver.map(|d| d.to_string()).filter(|d| !d.is_empty()),
            cgroup_version: info.cgroup_version.map(|v| v.to_string()).filter(|v| !v.is_empty()),
            runtimes: {
                let mut r: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
                r.sort();
                r
            },
        })
    }

    pub async fn image_exists(&self, image: &str) -> bool {
        self.docker.inspect_image(image).await.is_ok()
    }

    /// Pulls an image (ECS_IMAGE_PULL_BEHAVIOR=default: always pull). When
    /// the pull fails but the image is in the local store, it is used; the
    /// error is Docker's message otherwise.
    pub async fn pull(&self, image: &str, explicit: Option<DockerCredentials>) -> Result<PullOutcome, DockerCallError> {
        let (repo, tag) = split_image(image);
        let options = CreateImageOptions {
            from_image: Some(repo),
            tag: Some(tag),
            ..Default::default()
        };
        let credentials = match (explicit, &self.registry_auth) {
            (Some(c), _) => Some(c),
            (None, Some(auth)) => auth.credentials_for(image).await,
            (None, None) => None,
        };
        let docker = self.docker.clone().with_timeout(Duration::from_secs(3600));
        let mut stream = docker.create_image(Some(options), None, credentials);
        let mut failure = None;
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                failure = Some(message(&e));
                break;
            }
        }
        match failure {
            None => Ok(PullOutcome::Pulled),
            Some(msg) => {
                if self.image_exists(image).await {
                    tracing::debug!(image, error = %msg, "pull failed; using the local image");
                    Ok(PullOutcome::UsedLocal)
                } else {
                    Err(DockerCallError::Daemon(msg))
                }
            }
        }
    }

    /// Makes sure a Docker volume exists (creates task-scoped and
    /// autoprovisioned ones). Bind mounts need nothing.
    pub async fn ensure_volume(&self, plan: &VolumePlan) -> Result<(), DockerCallError> {
        let VolumePlan::Docker {
            name,
            autoprovision,
            driver,
            driver_opts,
            labels,
            ..
        } = plan
        else {
            return Ok(());
        };
        if self.docker.inspect_volume(name).await.is_ok() {
            return Ok(());
        }
        if !autoprovision {
            return Err(DockerCallError::SharedVolumeMissing(name.clone()));
        }
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.clone()),
                driver: driver.clone(),
                driver_opts: Some(driver_opts.clone().into_iter().collect()),
                labels: Some(labels.clone().into_iter().collect()),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(DockerCallError::from)
    }

    /// Creates a container. If one with the same name exists already (an
    /// earlier attempt), its id is returned instead: never two.
    pub async fn create(&self, name: &str, body: ContainerCreateBody) -> Result<String, DockerCallError> {
        let options = CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        match self.docker.create_container(Some(options), body).await {
            Ok(r) => Ok(r.id),
            Err(e) if status(&e) == Some(409) => match self.inspect(name).await? {
                Some(existing) => existing.id.ok_or_else(|| e.into()),
                None => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    pub async fn start(&self, id: &str) -> Result<(), DockerCallError> {
        match self.docker.start_container(id, None).await {
            Ok(()) => Ok(()),
            // 304: already started.
            Err(e) if status(&e) == Some(304) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames a container (`docker rename`).
    pub async fn rename(&self, id: &str, name: &str) -> Result<(), DockerCallError> {
        let options = bollard::query_parameters::RenameContainerOptions { name: name.to_string() };
        self.docker
            .rename_container(id, options)
            .await
            .map_err(DockerCallError::from)
    }

    /// The container, or None when it does not exist.
    pub async fn inspect(&self, id: &str) -> Result<Option<ContainerInspectResponse>, DockerCallError> {
        match self.docker.inspect_container(id, None).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// One reading of the container's stats (`docker stats --no-stream`
    /// without the second sample: the caller keeps the previous one), or
    /// None when it does not exist.
    pub async fn stats_once(&self, id: &str) -> Result<Option<ContainerStatsResponse>, DockerCallError> {
        let options = StatsOptions {
            stream: false,
            one_shot: true,
        };
        let mut stream = std::pin::pin!(self.docker.stats(id, Some(options)));
        match stream.next().await {
            Some(Ok(s)) => Ok(Some(s)),
            Some(Err(e)) if status(&e) == Some(404) => Ok(None),
            Some(Err(e)) => Err(e.into()),
            None => Ok(None),
        }
    }

    /// SIGTERM (or the image's stop signal), then SIGKILL after
    /// `timeout_secs`.
    pub async fn stop(&self, id: &str, timeout_secs: i64) -> Result<(), DockerCallError> {
        let t = timeout_secs.clamp(0, i32::MAX as i64);
        let docker = self.docker.clone().with_timeout(Duration::from_secs(t as u64 + 60));
        let options = StopContainerOptions {
            t: Some(t as i32),
            ..Default::default()
        };
        match docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(status(&e), Some(304) | Some(404)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove_container(&self, id: &str) -> Result<(), DockerCallError> {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerCallError> {
        match self
            .docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: false }))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every container (running or not) carrying all the given labels
    /// (`("key", "")` matches any value).
    pub async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerSummary>, DockerCallError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(label_filters(labels)),
            ..Default::default()
        };
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(DockerCallError::from)
    }

    /// Names of the volumes carrying all the given labels.
    pub async fn list_volumes(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<(String, HashMap<String, String>)>, DockerCallError> {
        let options = ListVolumesOptions {
            filters: Some(label_filters(labels)),
        };
        let r = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(DockerCallError::from)?;
        Ok(r.volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.name, v.labels))
            .collect())
    }

    /// A stream that yields whenever a container carrying the labels changes
    /// (created, started, died, health status …). Ends when the daemon
    /// closes it; callers keep a periodic re-check as a safety net.
    pub fn container_events(&self, labels: &[(&str, &str)]) -> impl Stream<Item = ()> + Send + 'static {
        let mut filters = label_filters(labels);
        filters.insert("type".to_string(), vec!["container".to_string()]);
        let docker = self.docker.clone().with_timeout(Duration::from_secs(u32::MAX as u64));
        docker
            .events(Some(EventsOptions {
                filters: Some(filters),
                ..Default::default()
            }))
            .take_while(|e| futures::future::ready(e.is_ok()))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split_into_repository_and_tag() {
        let s = |i: &str| {
            let (a, b) = split_image(i);
            (a, b)
        };
        assert_eq!(s("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(s("busybox:1.36"), ("busybox".into(), "1.36".into()));
        assert_eq!(
            s("127.0.0.1:4600/team/app"),
            ("127.0.0.1:4600/team/app".into(), "latest".into())
        );
        assert_eq!(
            s("127.0.0.1:4600/team/app:v2"),
            ("127.0.0.1:4600/team/app".into(), "v2".into())
        );
        assert_eq!(s("repo/app@sha256:abcd"), ("repo/app".into(), "sha256:abcd".into()));
    }
}
