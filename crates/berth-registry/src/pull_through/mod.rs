//! ECR pull-through cache: rules (`rule`, pure; the ECR operations in
//! `ops`) and the pull path (`import`): a manifest GET or HEAD of
//! `PREFIX/REPO:TAG` under a rule creates the repository when it does not
//! exist, fetches the manifest (an index's child manifests too) and every
//! blob from the upstream **eagerly**, each verified by digest, stores them
//! as a push would, and the pull is then served from the cache. A tag is
//! checked upstream again once its refresh interval has passed; when the
//! upstream cannot be reached, the cached image is served.

mod import;
pub(crate) mod ops;
pub mod rule;
pub mod upstream;

pub use rule::{AllowedUpstream, Upstreams};

use futures::future::BoxFuture;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What the operator allows (`berth server` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullThroughSettings {
    /// The upstream registries rules may name (`--pull-through-upstream`).
    pub upstreams: Upstreams,
    /// How long a cached tag is served before it is checked upstream again
    /// (ECR: at most once every 24 hours).
    pub refresh: Duration,
}

impl Default for PullThroughSettings {
    fn default() -> Self {
        Self {
            upstreams: Upstreams::default(),
            refresh: Duration::from_secs(24 * 3600),
        }
    }
}

/// Why a rule's secret could not be read (ECR's three errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// `SecretNotFoundException`.
    NotFound(String),
    /// `UnableToAccessSecretException`.
    Unreadable(String),
    /// `UnableToDecryptSecretValueException`.
    Undecryptable(String),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::NotFound(m) | SecretError::Unreadable(m) | SecretError::Undecryptable(m) => f.write_str(m),
        }
    }
}

/// Reads a Secrets Manager secret's `SecretString` by ARN, as ECR's
/// service-linked role does (the binary wires Secrets Manager).
pub type SecretReader = Arc<dyn Fn(String) -> BoxFuture<'static, Result<String, SecretError>> + Send + Sync>;

/// The registry's pull-through state.
pub(crate) struct PullThrough {
    pub(crate) settings: PullThroughSettings,
    pub(crate) http: reqwest::Client,
    pub(crate) secrets: OnceLock<SecretReader>,
}

impl PullThrough {
    pub(crate) fn new(settings: PullThroughSettings) -> Self {
        Self {
            settings,
            http: upstream::client(),
            secrets: OnceLock::new(),
        }
    }
}

impl crate::Registry {
    /// Pull through from the upstreams `settings` allow.
    pub fn with_pull_through(mut self, settings: PullThroughSettings) -> Self {
        self.pull_through = PullThrough::new(settings);
        self
    }

    /// Reads the secrets of rules with a `credentialArn` through `reader`
    /// (once; later calls are ignored).
    pub fn set_secret_reader(&self, reader: SecretReader) {
        let _ = self.pull_through.secrets.set(reader);
    }
}
