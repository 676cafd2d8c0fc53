//! Berth's container registry: a real OCI registry (the Distribution API
//! under `/v2/`, see [`router`]) and the ECR API on the same data (the
//! [`Registry`] is a `JsonService`, target `AmazonEC2ContainerRegistry_V20150921`).
//!
//! * Blobs are content-addressed in a [`BlobStore`] (filesystem by default,
//!   `DATA_DIR/registry/blobs/sha256/ab/abcdef…`), deduplicated across
//!   repositories; digests are always computed by Berth.
//! * Metadata (repositories, images, tags, which blobs each repository may
//!   use, upload sessions) is in the state store (`keys`).
//! * Upload sessions survive a restart: their bytes are in
//!   `DATA_DIR/registry/uploads/<uuid>`, their progress in the store.
//! * The pure rules (names, tag mutability, manifests, sizes) are in
//!   [`rules`], [`manifest`] and [`digest`].

pub mod auth;
pub mod blob;
mod body_hash;
pub mod crypt;
pub mod digest;
pub mod ecr;
pub mod error;
pub mod events;
pub mod gc;
mod images;
pub mod keys;
pub mod lifecycle;
mod lifecycle_run;
pub mod manifest;
mod oci;
mod oci_authz;
mod publish;
pub mod pull_through;
pub mod records;
pub mod registry_policy;
pub mod replication;
pub mod rules;
pub mod scan;
mod scan_run;
pub mod templates;
mod uploads;

pub use auth::RequestAuthenticator;
pub use blob::{BlobStore, FsBlobStore};
pub use error::{OciError, RegistryError};
pub use lifecycle_run::LifecycleReport;
pub use oci::router;
pub use scan_run::{
    ImportError as ScanDbImportError, database_path as scan_database_path, import_database as import_scan_database,
};

use berth_core::arn::Scope;
use berth_proto::Principal;
use berth_store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921";

/// How the registry is set up.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Berth's data dir; the registry keeps its files under `registry/`.
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    /// `host[:port]` clients use for the registry (repository URIs,
    /// `proxyEndpoint`, download URLs).
    pub registry_host: String,
}

/// The registry's background work (`berth server` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Between two evaluations of the lifecycle policies.
    pub lifecycle_interval: std::time::Duration,
    /// Tests only: seconds added to the clock lifecycle rules count days on.
    pub lifecycle_clock_offset_secs: u64,
    /// Between two garbage collections (`None`: only on demand).
    pub gc_interval: Option<std::time::Duration>,
    /// Blobs younger than this are never collected.
    pub gc_grace: std::time::Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            lifecycle_interval: std::time::Duration::from_secs(3600),
            lifecycle_clock_offset_secs: 0,
            gc_interval: Some(std::time::Duration::from_secs(3600)),
            gc_grace: std::time::Duration::from_secs(3600),
        }
    }
}

/// The registry: shared by the `/v2/` router and the ECR API.
/// The policy check behind [`Registry::authorize`]: principal, action,
/// resource ARN, and the resource's tags (`aws:ResourceTag/…`).
pub type Authorizer = Arc<dyn Fn(&Principal, &str, &str, &[(String, String)]) -> Result<(), String> + Send + Sync>;

/// Whether the principal a registry token was issued to is still the same
/// identity (exists, same unique id); the bin wires IAM's `is_current`.
pub type PrincipalCheck = Arc<dyn Fn(&Principal) -> bool + Send + Sync>;

pub struct Registry {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) scope: Scope,
    pub(crate) registry_host: String,
    /// `http` or `https` (the listener's TLS): proxyEndpoint and download URLs.
    pub(crate) scheme: &'static str,
    pub(crate) uploads_dir: PathBuf,
    pub(crate) tokens: auth::TokenKey,
    pub(crate) sigv4: Option<Arc<dyn RequestAuthenticator>>,
    pub(crate) authorizer: Option<Authorizer>,
    pub(crate) principal_check: Option<PrincipalCheck>,
    pub(crate) sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<uploads::SessionState>>>>,
    /// Added to the wall clock when lifecycle rules count days (tests).
    pub(crate) lifecycle_clock_offset_secs: f64,
    /// Blobs younger than this are not collected.
    pub(crate) gc_grace: std::time::Duration,
    pub(crate) gc_stats: gc::GcStats,
    pub(crate) gc_running: tokio::sync::Mutex<()>,
    /// The fence between publications and garbage collection.
    pub(crate) publish_locks: publish::PublishLocks,
    /// Where `ECR Image Action` events go (set once, by the binary).
    pub(crate) image_events: std::sync::OnceLock<Arc<dyn events::ImageEvents>>,
    /// The vulnerability database file (`scan_run`).
    pub(crate) scan_db: PathBuf,
    /// Wakes the scan worker.
    pub(crate) scan_wake: Arc<tokio::sync::Notify>,
    /// ECR replication: its targets and the replicator's wake-up.
    pub(crate) replication: replication::Replication,
    /// Pull-through cache: the operator's upstreams, the HTTP client.
    pub(crate) pull_through: pull_through::PullThrough,
    /// The encrypted blob stores of KMS repositories.
    pub(crate) crypt: crypt::Crypt,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot prepare {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
}

impl Registry {
    /// Opens the registry with the filesystem blob store in
    /// `DATA_DIR/registry/blobs`.
    pub async fn open(store: Arc<dyn Store>, cfg: RegistryConfig) -> Result<Self, OpenError> {
        let root = cfg.data_dir.join("registry").join("blobs");
        let blobs = FsBlobStore::open(&root).map_err(|source| OpenError::Io { path: root, source })?;
        Self::with_blob_store(store, Arc::new(blobs), cfg).await
    }

    /// Opens the registry on any blob store.
    pub async fn with_blob_store(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        cfg: RegistryConfig,
    ) -> Result<Self, OpenError> {
        let dir = cfg.data_dir.join("registry");
        let uploads_dir = dir.join("uploads");
        std::fs::create_dir_all(&uploads_dir).map_err(|source| OpenError::Io {
            path: uploads_dir.clone(),
            source,
        })?;
        let key_path = dir.join("token-key");
        let tokens =
            auth::TokenKey::load_or_create(&key_path).map_err(|source| OpenError::Io { path: key_path, source })?;
        let reg = Self {
            store,
            blobs,
            scope: Scope::new(&cfg.region, &cfg.account_id),
            registry_host: cfg.registry_host,
            scheme: "http",
            uploads_dir,
            tokens,
            sigv4: None,
            authorizer: None,
            principal_check: None,
            sessions: Mutex::new(HashMap::new()),
            lifecycle_clock_offset_secs: 0.0,
            gc_grace: std::time::Duration::from_secs(3600),
            gc_stats: gc::GcStats::default(),
            gc_running: tokio::sync::Mutex::new(()),
            publish_locks: publish::PublishLocks::new(),
            image_events: std::sync::OnceLock::new(),
            scan_db: scan_run::database_path(&cfg.data_dir),
            scan_wake: Arc::new(tokio::sync::Notify::new()),
            replication: replication::Replication::default(),
            pull_through: pull_through::PullThrough::new(Default::default()),
            crypt: crypt::Crypt::new(dir.join("kms-blobs")),
        };
        reg.remove_orphan_upload_files().await?;
        Ok(reg)
    }

    /// The listener serves TLS: URLs handed to clients are https://.
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.scheme = if tls { "https" } else { "http" };
        self
    }

    /// Also accept SigV4-signed requests on `/v2/`.
    pub fn with_sigv4(mut self, authenticator: Arc<dyn RequestAuthenticator>) -> Self {
        self.sigv4 = Some(authenticator);
        self
    }

    /// Decide every request with this policy check (`principal`, action,
    /// resource ARN → `Err(reason)` when denied); without one, every
    /// authenticated principal is allowed.
    pub fn with_authorizer(mut self, authorizer: Authorizer) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// Refuse registry tokens whose principal fails this check (deleted, or
    /// re-created under the same name with a new unique id).
    pub fn with_principal_check(mut self, check: PrincipalCheck) -> Self {
        self.principal_check = Some(check);
        self
    }

    /// Sends image actions (push, delete) to `sink` from now on (once;
    /// later calls are ignored).
    pub fn set_image_events(&self, sink: Arc<dyn events::ImageEvents>) {
        let _ = self.image_events.set(sink);
    }

    pub(crate) fn image_action(&self, action: events::ImageAction) {
        if let Some(sink) = self.image_events.get() {
            sink.image_action(action);
        }
    }

    pub(crate) fn image_scan(&self, scan: events::ImageScan) {
        if let Some(sink) = self.image_events.get() {
            sink.image_scan(scan);
        }
    }

    pub(crate) fn principal_is_current(&self, principal: &Principal) -> bool {
        self.principal_check.as_ref().is_none_or(|check| check(principal))
    }

    pub fn registry_host(&self) -> &str {
        &self.registry_host
    }

    pub fn registry_id(&self) -> &str {
        &self.scope.account
    }

    pub fn blob_store(&self) -> &dyn BlobStore {
        &*self.blobs
    }

    pub fn repository_arn(&self, name: &str) -> String {
        self.scope.arn("ecr", format!("repository/{name}"))
    }

    pub fn repository_uri(&self, name: &str) -> String {
        format!("{}/{name}", self.registry_host)
    }

    /// Issues a registry password (what `ecr get-login-password` prints)
    /// for `principal`; returns it with its expiry (epoch seconds).
    pub fn issue_password(&self, principal: &Principal) -> (String, i64) {
        let expires = now_secs() + auth::TOKEN_LIFETIME_SECS;
        (self.tokens.issue(principal, expires), expires)
    }

    /// THE authorization hook of the registry, called for every `/v2/`
    /// request and every ECR operation with the ECR action
    /// (`ecr:BatchGetImage`, `ecr:PutImage`, …) and the resource ARN (a
    /// repository ARN, or `*` for registry-wide actions).
    ///
    /// It runs the [`Authorizer`] given with [`Registry::with_authorizer`]
    /// (the bin wires IAM's identity-policy evaluation; repository and
    /// registry policies are not evaluated yet).
    /// `tags` are the repository's ([`Registry::repository_tags`]).
    pub fn authorize(
        &self,
        principal: &Principal,
        action: &str,
        resource_arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), String> {
        if let Some(check) = &self.authorizer {
            check(principal, action, resource_arn, tags)?;
        }
        tracing::trace!(principal = %principal.arn, action, resource_arn, "authorized");
        Ok(())
    }

    /// The tags of repository `name`, for `aws:ResourceTag/…` (one store
    /// get; none for a repository that does not exist or a failed read —
    /// the operation then answers its own error). Skipped for root, whom
    /// no policy is evaluated for.
    pub async fn repository_tags(&self, principal: &Principal, name: &str) -> Vec<(String, String)> {
        if principal.is_root {
            return Vec::new();
        }
        match berth_store::typed::get::<records::RepositoryRecord>(&*self.store, &keys::repository(name)).await {
            Ok(Some((rec, _))) => rec.tags.into_iter().map(|t| (t.key, t.value)).collect(),
            _ => Vec::new(),
        }
    }
}

pub(crate) fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn now_epoch() -> f64 {
    berth_core::time::now_epoch()
}
