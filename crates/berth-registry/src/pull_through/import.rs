//! The pull path of a pull-through cache: before a manifest GET or HEAD of
//! a repository under a rule is served, the image is imported from the
//! upstream when the cache does not have it, or when its tag is due for a
//! check (the refresh interval). Everything is fetched eagerly — the
//! manifest, an index's child manifests and every blob — each verified by
//! digest (blobs while they stream to disk), then stored as a push stores
//! it (`put_manifest`: the same checks, events and garbage-collection
//! fence). When the upstream fails and the cache has the image, the cached
//! image is served.

use super::rule::{self, PullThroughRule};
use super::upstream::{Session, UpstreamError};
use crate::digest::Digest;
use crate::error::{OciError, RegistryError};
use crate::images::PutManifest;
use crate::manifest::{self, ManifestKind};
use crate::records::RepositoryRecord;
use crate::{Registry, keys, now_epoch};
use axum::http::StatusCode;
use berth_proto::Principal;
use berth_store::typed;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// When a pulled-through tag was last checked upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Synced {
    synced_at: f64,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Setup(String),
}

impl ImportError {
    fn into_oci(self, upstream_repository: &str, reference: &str) -> OciError {
        match self {
            ImportError::Upstream(UpstreamError::NotFound(_)) => OciError::manifest_unknown(reference).with_detail(
                serde_json::json!({ "upstream": format!("{upstream_repository}:{reference} does not exist upstream") }),
            ),
            ImportError::Registry(e) => e.into(),
            e => OciError::new(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                format!(
                    "pull through cache: {upstream_repository}:{reference} is not cached and could not be \
                     fetched: {e}"
                ),
            ),
        }
    }
}

/// Whether the cache must ask the upstream, and whether it can serve
/// without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Need {
    fetch: bool,
    cached: bool,
}

/// What a pull of `reference` needs (pure): a digest is fetched once; a
/// tag when absent or when its last check is older than `refresh_secs`.
fn decide(digest_ref: bool, cached: bool, synced_at: Option<f64>, now: f64, refresh_secs: f64) -> Need {
    let fetch = if digest_ref {
        !cached
    } else {
        !cached || synced_at.is_none_or(|t| now - t >= refresh_secs)
    };
    Need { fetch, cached }
}

impl Registry {
    /// Runs before a manifest GET/HEAD of `name` (the caller was allowed
    /// `ecr:BatchGetImage`): imports the image when `name` is under a
    /// pull-through cache rule and the cache needs it. The import needs
    /// `ecr:BatchImportUpstreamImage`, and `ecr:CreateRepository` when it
    /// creates the repository.
    pub(crate) async fn pull_through_if_cached(
        &self,
        who: &Principal,
        name: &str,
        reference: &str,
    ) -> Result<(), OciError> {
        // No upstream allowed: nothing is fetched (cached repositories are
        // ordinary ones), and pulls pay no rule lookup.
        if self.pull_through.settings.upstreams.0.is_empty() {
            return Ok(());
        }
        let rules = self.pull_through_rules().await.map_err(RegistryError::Store)?;
        let Some((rule, upstream_repository)) = rule::rule_for(&rules, name) else {
            return Ok(());
        };
        let exists = match self.repository(name).await {
            Ok(_) => true,
            Err(RegistryError::RepositoryNotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        let digest_ref = reference.contains(':');
        if digest_ref {
            Digest::parse(reference).map_err(|e| OciError::digest_invalid(e.to_string()))?;
        }
        let (cached, synced_at) = if !exists {
            (false, None)
        } else if digest_ref {
            (self.image(name, reference).await?.is_some(), None)
        } else {
            let cached = self.resolve(name, reference).await.is_ok();
            let synced = typed::get::<Synced>(&*self.store, &keys::pull_through_synced(name, reference))
                .await
                .map_err(RegistryError::Store)?;
            (cached, synced.map(|(s, _)| s.synced_at))
        };
        let need = decide(
            digest_ref,
            cached,
            synced_at,
            now_epoch(),
            self.pull_through.settings.refresh.as_secs_f64(),
        );
        if !need.fetch {
            return Ok(());
        }
        let mut allowed = crate::oci_authz::authorize(self, who, "ecr:BatchImportUpstreamImage", Some(name)).await;
        if allowed.is_ok() && !exists {
            allowed = crate::oci_authz::authorize(self, who, "ecr:CreateRepository", Some(name)).await;
        }
        if let Err(denied) = allowed {
            // A caller who may not import still pulls what is cached.
            return if need.cached { Ok(()) } else { Err(denied) };
        }
        if !exists {
            self.create_cache_repository(name).await?;
        }
        let result = self.import(rule, &upstream_repository, name, reference).await;
        match result {
            Ok(digest) => {
                if !digest_ref {
                    self.mark_synced(name, reference).await;
                }
                tracing::info!(repository = name, upstream = %upstream_repository, reference, %digest, "pulled through");
                Ok(())
            }
            Err(e) if need.cached => {
                tracing::warn!(repository = name, reference, error = %e, "the upstream failed; serving the cached image");
                Ok(())
            }
            Err(e) => Err(e.into_oci(&upstream_repository, reference)),
        }
    }

    /// The repository a first pull creates: ECR's defaults, or the
    /// settings of the PULL_THROUGH_CACHE creation template that applies.
    async fn create_cache_repository(&self, name: &str) -> Result<(), OciError> {
        let base = RepositoryRecord::with_defaults(name, self.repository_arn(name), self.registry_id(), now_epoch());
        let rec = self
            .templated_repository(base, crate::templates::AppliedFor::PullThroughCache)
            .await?;
        // A concurrent first pull may have created it: as good.
        let created = self
            .insert_repository(&rec)
            .await
            .map_err(|e| OciError::internal(format!("creating the repository failed: {}", e.message)))?;
        if created {
            tracing::info!(repository = name, "repository created by a pull through cache rule");
        }
        Ok(())
    }

    async fn mark_synced(&self, name: &str, tag: &str) {
        let rec = Synced { synced_at: now_epoch() };
        let Ok(value) = typed::encode(&rec) else { return };
        if let Err(e) = self.store.put(&keys::pull_through_synced(name, tag), value).await {
            tracing::warn!(repository = name, tag, error = %e, "could not record the upstream check");
        }
    }

    /// Fetches `reference` of the upstream repository into `name`; returns
    /// the manifest's digest.
    async fn import(
        &self,
        rule: &PullThroughRule,
        upstream_repository: &str,
        name: &str,
        reference: &str,
    ) -> Result<String, ImportError> {
        let mut session = self
            .upstream_session(rule, upstream_repository)
            .await
            .map_err(|e| ImportError::Setup(e.to_string()))?;
        let tag = (!reference.contains(':')).then_some(reference);
        self.import_manifest(&mut session, name, reference, tag, 0).await
    }

    /// One manifest and everything it references (an index's children: one
    /// level of nesting below it, as images have).
    fn import_manifest<'a>(
        &'a self,
        session: &'a mut Session,
        name: &'a str,
        reference: &'a str,
        tag: Option<&'a str>,
        depth: u8,
    ) -> BoxFuture<'a, Result<String, ImportError>> {
        Box::pin(async move {
            let m = session.manifest(reference).await?;
            let digest = Digest::sha256_of(&m.bytes).to_string();
            if reference.contains(':') && reference != digest {
                return Err(UpstreamError::DigestMismatch {
                    what: "manifest".into(),
                    expected: reference.to_string(),
                    actual: digest,
                }
                .into());
            }
            // The tag's image is cached already: the check is all it took.
            if let Some(t) = tag
                && self.resolve(name, t).await.ok().as_deref() == Some(digest.as_str())
            {
                return Ok(digest);
            }
            let parsed = manifest::parse_manifest(&m.bytes, m.content_type.as_deref())
                .map_err(|e| ImportError::Setup(format!("the upstream manifest is not valid: {e}")))?;
            if parsed.kind == ManifestKind::Index {
                if depth > 0 {
                    return Err(ImportError::Setup("nested manifest lists are not supported".into()));
                }
                for child in parsed.required_manifests() {
                    if self.image(name, &child).await?.is_none() {
                        self.import_manifest(session, name, &child, None, depth + 1).await?;
                    }
                }
            }
            for blob in parsed.required_blobs() {
                let d = Digest::parse(&blob).map_err(|e| ImportError::Setup(e.to_string()))?;
                self.import_blob(session, name, &d).await?;
            }
            self.put_manifest(PutManifest {
                repository: name,
                bytes: m.bytes,
                media_type: m.content_type.as_deref(),
                tag,
                digest: Some(&digest),
                max_tag_len: 128,
            })
            .await?;
            Ok(digest)
        })
    }

    /// A blob into the repository: linked when the registry has it already,
    /// else streamed from the upstream and verified while written.
    async fn import_blob(&self, session: &mut Session, name: &str, d: &Digest) -> Result<(), ImportError> {
        if self.blob_in_repository(name, d).await?.is_some() {
            return Ok(());
        }
        let digest_s = d.to_string();
        let _fence = self.publish_locks.publish([digest_s.as_str()]).await;
        let store = self.store_of(name).await?;
        let size = match store.stat(d).await.map_err(RegistryError::from)? {
            Some(size) => size,
            None => {
                let stream = session.blob(&digest_s).await?;
                match store.put_stream(d, stream).await {
                    Ok(size) => size,
                    // Nothing was kept: the upstream's bytes are not the blob.
                    Err(crate::blob::BlobError::DigestMismatch { expected, actual }) => {
                        return Err(UpstreamError::DigestMismatch {
                            what: "blob".into(),
                            expected: expected.to_string(),
                            actual: actual.to_string(),
                        }
                        .into());
                    }
                    Err(e) => return Err(RegistryError::from(e).into()),
                }
            }
        };
        self.link_blob(name, d, size).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_pull_needs() {
        let day = 86400.0;
        // Not cached: fetch.
        assert_eq!(
            decide(false, false, None, 10.0, day),
            Need {
                fetch: true,
                cached: false
            }
        );
        assert_eq!(
            decide(true, false, None, 10.0, day),
            Need {
                fetch: true,
                cached: false
            }
        );
        // A cached digest never changes.
        assert_eq!(
            decide(true, true, None, 10.0 * day, day),
            Need {
                fetch: false,
                cached: true
            }
        );
        // A cached tag: checked again once the interval has passed.
        assert!(!decide(false, true, Some(0.0), day - 1.0, day).fetch);
        assert!(decide(false, true, Some(0.0), day, day).fetch);
        assert!(decide(false, true, None, 0.0, day).fetch);
    }
}
