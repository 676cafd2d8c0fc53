//! A registry on a temporary data dir, driven through its axum router and
//! its ECR JsonService.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine;
use berth_proto::{AwsError, JsonService, RequestContext};
use berth_registry::digest::Digest;
use berth_registry::{Registry, RegistryConfig};
use berth_store::{SqliteStore, Store};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";
pub const HOST: &str = "127.0.0.1:4600";

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The first error code of an OCI error body.
    pub fn error_code(&self) -> String {
        self.json()["errors"][0]["code"].as_str().unwrap_or("").to_string()
    }
}

pub struct Harness {
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub store: Arc<dyn Store>,
    pub reg: Arc<Registry>,
    pub router: axum::Router,
    /// `Authorization: Basic …` for the root principal.
    pub auth: String,
    pub ctx: RequestContext,
}

impl Harness {
    pub async fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut h = Self::open(tmp.path()).await;
        h._tmp = Some(tmp);
        h
    }

    /// A registry on a temporary data dir, set up further by `f`.
    pub async fn with(f: impl FnOnce(Registry) -> Registry) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(tmp.path().join("state.db")).unwrap());
        let reg = Registry::open(
            store.clone(),
            RegistryConfig {
                data_dir: tmp.path().to_path_buf(),
                region: REGION.into(),
                account_id: ACCOUNT.into(),
                registry_host: HOST.into(),
            },
        )
        .await
        .unwrap();
        let reg = Arc::new(f(reg));
        let ctx = RequestContext::root(ACCOUNT, REGION);
        let (password, _) = reg.issue_password(&ctx.principal);
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"))
        );
        Self {
            dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
            router: berth_registry::router(reg.clone()),
            store,
            reg,
            auth,
            ctx,
        }
    }

    /// A registry on an existing data dir (a "restart" when reopened).
    pub async fn open(dir: &Path) -> Self {
        Self::open_with_gc_grace(dir, std::time::Duration::from_secs(3600)).await
    }

    /// A registry on a temporary data dir whose garbage collection keeps
    /// blobs younger than `grace`.
    pub async fn with_gc_grace(grace: std::time::Duration) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut h = Self::open_with_gc_grace(tmp.path(), grace).await;
        h._tmp = Some(tmp);
        h
    }

    /// [`Harness::open`] with a garbage-collection grace window.
    pub async fn open_with_gc_grace(dir: &Path, grace: std::time::Duration) -> Self {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("state.db")).unwrap());
        let reg = Arc::new(
            Registry::open(
                store.clone(),
                RegistryConfig {
                    data_dir: dir.to_path_buf(),
                    region: REGION.into(),
                    account_id: ACCOUNT.into(),
                    registry_host: HOST.into(),
                },
            )
            .await
            .unwrap()
            .with_gc_grace(grace),
        );
        let ctx = RequestContext::root(ACCOUNT, REGION);
        let (password, _) = reg.issue_password(&ctx.principal);
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"))
        );
        Self {
            dir: dir.to_path_buf(),
            _tmp: None,
            router: berth_registry::router(reg.clone()),
            store,
            reg,
            auth,
            ctx,
        }
    }

    /// Stops this registry (closing its store) and opens a new one on the
    /// same data dir, keeping the temporary dir alive.
    pub async fn restart(self) -> Self {
        self.restart_with_gc_grace(std::time::Duration::from_secs(3600)).await
    }

    /// [`Harness::restart`] with another garbage-collection grace window.
    pub async fn restart_with_gc_grace(mut self, grace: std::time::Duration) -> Self {
        let tmp = self._tmp.take();
        self.store.close().await.unwrap();
        let dir = self.dir.clone();
        drop(self);
        let mut h = Self::open_with_gc_grace(&dir, grace).await;
        h._tmp = tmp;
        h
    }

    pub async fn ecr(&self, op: &str, input: Value) -> Result<Value, AwsError> {
        self.reg.call(&self.ctx, op, input).await
    }

    pub async fn create_repo(&self, name: &str) -> Value {
        self.ecr("CreateRepository", json!({ "repositoryName": name }))
            .await
            .unwrap()
    }

    pub async fn request(&self, method: Method, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Reply {
        self.request_as(Some(&self.auth.clone()), method, uri, headers, body)
            .await
    }

    pub async fn request_as(
        &self,
        auth: Option<&str>,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self.router.clone().oneshot(b.body(body.into()).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply { status, headers, body }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri, &[], Body::empty()).await
    }

    /// Uploads a blob monolithically (`POST ?digest=`).
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let d = Digest::sha256_of(bytes);
        let r = self
            .request(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[("content-type", "application/octet-stream")],
                Body::from(bytes.to_vec()),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
        d
    }

    /// Pushes a config and one layer, returns the manifest JSON (not pushed).
    pub async fn image_manifest(&self, repo: &str, seed: &str) -> Value {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
        let layer = format!("layer-bytes-{seed}").repeat(10);
        let cd = self.push_blob(repo, config.as_bytes()).await;
        let ld = self.push_blob(repo, layer.as_bytes()).await;
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd.to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": ld.to_string(), "size": layer.len()}]
        })
    }

    /// PUTs a manifest; returns the reply.
    pub async fn put_manifest(&self, repo: &str, reference: &str, manifest: &Value) -> Reply {
        let media = manifest["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_string();
        self.request(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media.as_str())],
            Body::from(serde_json::to_vec(manifest).unwrap()),
        )
        .await
    }

    /// Pushes a fresh image under `tag`; returns its digest.
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> String {
        let m = self.image_manifest(repo, seed).await;
        let r = self.put_manifest(repo, tag, &m).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
        r.header("docker-content-digest").unwrap().to_string()
    }

    /// Every regular file under the blob store.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(rd) = std::fs::read_dir(d) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        walk(&e.path(), out);
                    } else {
                        out.push(e.path());
                    }
                }
            }
        }
        let mut out = vec![];
        walk(&self.dir.join("registry").join("blobs"), &mut out);
        out
    }
}
