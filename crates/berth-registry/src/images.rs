//! Repository contents shared by `/v2/` and the ECR API: which blobs a
//! repository may use, manifests (images), tags and referrers. Writes are
//! store transactions guarded by the repository's revision, so a push never
//! lands in a deleted repository and always sees the current mutability.

use crate::blob;
use crate::digest::{Algorithm, Digest};
use crate::error::RegistryError;
use crate::events::{ActionType, ImageAction};
use crate::manifest::{self, ManifestError, ManifestKind};
use crate::records::{ImageRecord, LayerRecord, ReferrerRecord, RepositoryRecord, TagRecord};
use crate::rules::{self, TagChange};
use crate::{Registry, keys, now_epoch};
use berth_store::{Compare, Op, Revision, typed};
use bytes::Bytes;
use std::collections::BTreeMap;

/// Pulls more frequent than this do not rewrite `lastRecordedPullTime`.
const PULL_TIME_RESOLUTION_SECS: f64 = 60.0;

/// A manifest push, from `/v2/` or `PutImage`.
pub(crate) struct PutManifest<'a> {
    pub repository: &'a str,
    pub bytes: Bytes,
    /// Content-Type / `imageManifestMediaType`.
    pub media_type: Option<&'a str>,
    pub tag: Option<&'a str>,
    /// The digest the client named (a digest reference, `imageDigest`).
    pub digest: Option<&'a str>,
    /// Longest tag accepted (128 on /v2/, 300 for ECR).
    pub max_tag_len: usize,
}

#[derive(Debug)]
pub(crate) struct PutOutcome {
    pub digest: String,
    pub media_type: String,
    pub subject: Option<String>,
    pub image_existed: bool,
    pub tag_change: Option<TagChange>,
}

/// An image and the bytes of its manifest.
pub(crate) struct Manifest {
    pub record: ImageRecord,
    pub bytes: Vec<u8>,
}

fn store_err<T>(r: Result<T, berth_store::StoreError>) -> Result<T, RegistryError> {
    r.map_err(RegistryError::Store)
}

impl Registry {
    pub(crate) fn repo_not_found(&self, name: &str) -> RegistryError {
        RegistryError::RepositoryNotFound {
            name: name.to_string(),
            registry: self.scope.account.clone(),
        }
    }

    /// The repository record and its revision.
    pub(crate) async fn repository_rev(&self, name: &str) -> Result<(RepositoryRecord, Revision), RegistryError> {
        store_err(typed::get::<RepositoryRecord>(&*self.store, &keys::repository(name)).await)?
            .ok_or_else(|| self.repo_not_found(name))
    }

    pub(crate) async fn repository(&self, name: &str) -> Result<RepositoryRecord, RegistryError> {
        Ok(self.repository_rev(name).await?.0)
    }

    pub(crate) async fn repository_names(&self) -> Result<Vec<String>, RegistryError> {
        let kvs = store_err(self.store.range(keys::REPOSITORIES, None, None).await)?;
        Ok(kvs
            .into_iter()
            .map(|kv| kv.key[keys::REPOSITORIES.len()..].to_string())
            .collect())
    }

    // ------------------------------------------------------------ blobs

    /// Records that `repository` may use blob `digest` (uploaded or mounted).
    pub(crate) async fn link_blob(&self, repository: &str, digest: &Digest, size: u64) -> Result<(), RegistryError> {
        let rec = LayerRecord {
            size,
            created_at: now_epoch(),
        };
        let res = store_err(
            self.store
                .txn(
                    vec![Compare::Exists(keys::repository(repository))],
                    vec![Op::Put(
                        keys::layer(repository, &digest.to_string()),
                        store_err(typed::encode(&rec))?,
                    )],
                )
                .await,
        )?;
        if !res.succeeded {
            return Err(self.repo_not_found(repository));
        }
        Ok(())
    }

    /// The size of a blob `repository` may use, when it is stored.
    pub(crate) async fn blob_in_repository(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let key = keys::layer(repository, &digest.to_string());
        let Some((mut link, rev)) = store_err(typed::get::<LayerRecord>(&*self.store, &key).await)? else {
            return Ok(None);
        };
        // A client that found the blob here is about to reference it: keep
        // the link younger than garbage collection's grace window (refreshed
        // once half of it has passed, not on every check).
        let now = now_epoch();
        let grace = self.gc_grace.as_secs_f64();
        if grace > 0.0 && now - link.created_at > grace / 2.0 {
            link.created_at = now;
            let res = store_err(
                self.store
                    .txn(
                        vec![Compare::ModRevision(key.clone(), rev)],
                        vec![Op::Put(key.clone(), store_err(typed::encode(&link))?)],
                    )
                    .await,
            )?;
            // Lost to a collection (or a concurrent refresh): ask again.
            if !res.succeeded && store_err(self.store.get(&key).await)?.is_none() {
                return Ok(None);
            }
        }
        Ok(self.store_of(repository).await?.stat(digest).await?)
    }

    /// Removes a blob from a repository (the bytes stay until garbage
    /// collection: other repositories may share them).
    pub(crate) async fn unlink_blob(&self, repository: &str, digest: &Digest) -> Result<bool, RegistryError> {
        store_err(self.store.delete(&keys::layer(repository, &digest.to_string())).await)
    }

    /// Cross-repository mount: links `digest` into `repository` when `from`
    /// has it. Returns the size, or None when `from` does not have it.
    pub(crate) async fn mount_blob(
        &self,
        repository: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<Option<u64>, RegistryError> {
        if rules::validate_repository_name(from).is_err() {
            return Ok(None);
        }
        // The bytes are stored per encryption: a mount between repositories
        // of different encryption would need them copied; the client uploads.
        let to = self.repository(repository).await?;
        let Ok(source) = self.repository(from).await else {
            return Ok(None);
        };
        if crate::crypt::kms_key_of(&to) != crate::crypt::kms_key_of(&source) {
            return Ok(None);
        }
        // ECR mounts no layer of an image the pull-through cache made.
        let rules = store_err(self.pull_through_rules().await)?;
        if crate::pull_through::rule::rule_for(&rules, from).is_some() {
            return Ok(None);
        }
        let digest_s = digest.to_string();
        let _fence = self.publish_locks.publish([digest_s.as_str()]).await;
        match self.blob_in_repository(from, digest).await? {
            Some(size) => {
                self.link_blob(repository, digest, size).await?;
                Ok(Some(size))
            }
            None => Ok(None),
        }
    }

    // ------------------------------------------------------------ manifests

    pub(crate) async fn image(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<(ImageRecord, Revision)>, RegistryError> {
        store_err(typed::get::<ImageRecord>(&*self.store, &keys::image(repository, digest)).await)
    }

    pub(crate) async fn images(&self, repository: &str) -> Result<Vec<ImageRecord>, RegistryError> {
        store_err(typed::list(&*self.store, &keys::images_of(repository)).await)
    }

    /// Every tag of the repository, in lexical order, with its digest.
    pub(crate) async fn tags(&self, repository: &str) -> Result<Vec<(String, String)>, RegistryError> {
        let prefix = keys::tags_of(repository);
        let kvs = store_err(self.store.range(&prefix, None, None).await)?;
        let mut out = Vec::with_capacity(kvs.len());
        for kv in kvs {
            let rec: TagRecord = store_err(typed::decode(&kv))?;
            out.push((kv.key[prefix.len()..].to_string(), rec.digest));
        }
        Ok(out)
    }

    /// digest → its tags (sorted).
    pub(crate) async fn tags_by_digest(
        &self,
        repository: &str,
    ) -> Result<BTreeMap<String, Vec<String>>, RegistryError> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (tag, digest) in self.tags(repository).await? {
            map.entry(digest).or_default().push(tag);
        }
        Ok(map)
    }

    /// Resolves a tag or digest to a digest, or `ImageNotFound`.
    pub(crate) async fn resolve(&self, repository: &str, reference: &str) -> Result<String, RegistryError> {
        let not_found = || RegistryError::ImageNotFound {
            repository: repository.to_string(),
            reference: reference.to_string(),
        };
        if reference.contains(':') {
            Digest::parse(reference).map_err(|e| RegistryError::InvalidDigest(e.to_string()))?;
            return Ok(reference.to_string());
        }
        match store_err(typed::get::<TagRecord>(&*self.store, &keys::tag(repository, reference)).await)? {
            Some((t, _)) => Ok(t.digest),
            None => Err(not_found()),
        }
    }

    /// Loads an image (by tag or digest) and its manifest bytes.
    pub(crate) async fn manifest(&self, repository: &str, reference: &str) -> Result<Manifest, RegistryError> {
        let not_found = || RegistryError::ImageNotFound {
            repository: repository.to_string(),
            reference: reference.to_string(),
        };
        let digest = self.resolve(repository, reference).await?;
        let (record, _) = self.image(repository, &digest).await?.ok_or_else(not_found)?;
        let d = Digest::parse(&record.digest).map_err(|e| RegistryError::InvalidDigest(e.to_string()))?;
        let bytes = blob::read_all(&*self.blobs, &d).await?.ok_or_else(|| {
            tracing::error!(repository, digest = %d, "a manifest's bytes are missing from blob storage");
            not_found()
        })?;
        Ok(Manifest { record, bytes })
    }

    /// Updates `lastRecordedPullTime` (at most once a minute per image)
    /// for a pull by `puller`, unless the puller is excluded from pull-time
    /// updates (RegisterPullTimeUpdateExclusion).
    pub(crate) async fn record_pull(&self, repository: &str, digest: &str, puller: &str) {
        if self.pull_time_excluded(puller).await {
            return;
        }
        let key = keys::image(repository, digest);
        let Ok(Some((mut rec, rev))) = typed::get::<ImageRecord>(&*self.store, &key).await else {
            return;
        };
        let now = now_epoch();
        if rec.last_pulled_at.is_some_and(|t| now - t < PULL_TIME_RESOLUTION_SECS) {
            return;
        }
        rec.last_pulled_at = Some(now);
        let Ok(value) = typed::encode(&rec) else { return };
        // One attempt: a concurrent writer's record is as good.
        if let Err(e) = self
            .store
            .txn(vec![Compare::ModRevision(key.clone(), rev)], vec![Op::Put(key, value)])
            .await
        {
            tracing::warn!(error = %e, repository, digest, "could not record the pull time");
        }
    }

    /// Stores a manifest and moves/creates its tag, enforcing: the
    /// repository exists (ECR does not create on push), every referenced
    /// blob and child manifest is in the repository, the digest of the exact
    /// bytes matches a named digest, and tag immutability.
    pub(crate) async fn put_manifest(&self, req: PutManifest<'_>) -> Result<PutOutcome, RegistryError> {
        self.put_manifest_from(req, true).await
    }

    /// A replica's push (`replication::copy`): as [`Registry::put_manifest`],
    /// but not replicated again from here.
    pub(crate) async fn put_manifest_replica(&self, req: PutManifest<'_>) -> Result<PutOutcome, RegistryError> {
        self.put_manifest_from(req, false).await
    }

    async fn put_manifest_from(&self, req: PutManifest<'_>, replicate: bool) -> Result<PutOutcome, RegistryError> {
        let repo_name = req.repository;
        self.repository(repo_name).await?;
        if let Some(t) = req.tag
            && !rules::is_valid_tag(t, req.max_tag_len)
        {
            return Err(RegistryError::TagInvalid(format!(
                "invalid tag '{t}': tags are up to {} characters of letters, digits, '_', '.' and '-', \
                 not starting with '.' or '-'",
                req.max_tag_len
            )));
        }
        let parsed = manifest::parse_manifest(&req.bytes, req.media_type).map_err(|e| match e {
            ManifestError::Invalid(m) => RegistryError::ManifestInvalid(m),
            ManifestError::Unsupported(m) => RegistryError::Unsupported(m),
        })?;
        // Addressed by a digest, the manifest is stored under that digest's
        // algorithm (sha256 or sha512); by a tag, under sha256.
        let named = req
            .digest
            .map(|n| Digest::parse(n).map_err(|e| RegistryError::InvalidDigest(e.to_string())))
            .transpose()?;
        let algorithm = named.as_ref().map_or(Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::of(algorithm, &req.bytes);
        if let Some(named) = named
            && named != digest
        {
            return Err(RegistryError::DigestMismatch {
                expected: named.to_string(),
                actual: digest.to_string(),
            });
        }
        let digest_s = digest.to_string();
        // The manifest and everything it references are made reachable
        // inside the fence garbage collection respects, until committed.
        let fenced: Vec<String> = std::iter::once(digest_s.clone())
            .chain(parsed.required_blobs())
            .collect();
        let _fence = self.publish_locks.publish(fenced.iter().map(String::as_str)).await;
        // Everything the manifest references must be in this repository.
        let mut missing = vec![];
        let mut blob_sizes = vec![];
        for b in parsed.required_blobs() {
            let d = Digest::parse(&b).map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
            match self.blob_in_repository(repo_name, &d).await? {
                Some(size) => blob_sizes.push(size),
                None => missing.push(b),
            }
        }
        if !missing.is_empty() {
            return Err(RegistryError::BlobsUnknown(missing));
        }
        let mut child_sizes = vec![];
        for c in parsed.required_manifests() {
            match self.image(repo_name, &c).await? {
                Some((rec, _)) => child_sizes.push(rec.size),
                None => missing.push(c),
            }
        }
        if !missing.is_empty() {
            return Err(RegistryError::ManifestsUnknown(missing));
        }
        let size = match parsed.kind {
            ManifestKind::Image => manifest::image_size(&blob_sizes),
            ManifestKind::Index => manifest::index_size(&child_sizes),
        };
        let manifest_size = req.bytes.len() as u64;
        blob::put_bytes_as(&*self.blobs, algorithm, req.bytes).await?;

        let now = now_epoch();
        let record = ImageRecord {
            digest: digest_s.clone(),
            media_type: parsed.media_type.clone(),
            artifact_media_type: parsed.artifact_media_type(),
            size,
            manifest_size,
            pushed_at: now,
            last_pulled_at: None,
            subject: parsed.subject.as_ref().map(|s| s.digest.clone()),
            blobs: parsed.required_blobs(),
            children: parsed.required_manifests(),
        };
        let referrer = parsed.subject.as_ref().map(|s| {
            (
                keys::referrer(repo_name, &s.digest, &digest_s),
                ReferrerRecord {
                    media_type: parsed.media_type.clone(),
                    digest: digest_s.clone(),
                    size: manifest_size,
                    artifact_type: parsed.referrer_artifact_type(),
                    annotations: parsed.annotations.clone(),
                },
            )
        });
        let image_key = keys::image(repo_name, &digest_s);
        let registry_scanning = self.registry_scanning().await?;
        let replicate_to = if replicate {
            self.replication_destinations(repo_name).await?
        } else {
            Default::default()
        };
        loop {
            let (repo, repo_rev) = self.repository_rev(repo_name).await?;
            let image_kv = store_err(self.store.get(&image_key).await)?;
            let image_rev = image_kv.as_ref().map(|kv| kv.mod_revision);
            let mut compares = vec![
                Compare::ModRevision(keys::repository(repo_name), repo_rev),
                Compare::ModRevision(image_key.clone(), image_rev.unwrap_or(0)),
            ];
            let mut ops = vec![];
            let frequency = crate::scan::config::decide(registry_scanning.as_ref(), repo_name, repo.scan_on_push).0;
            let scan_on_push = image_rev.is_none()
                && frequency == crate::scan::config::Frequency::ScanOnPush
                && parsed.kind == ManifestKind::Image;
            if image_rev.is_none() {
                ops.push(Op::Put(image_key.clone(), store_err(typed::encode(&record))?));
                // The scan is asked for with the push (the worker runs it).
                if scan_on_push {
                    let scan = crate::records::ScanRecord::started(now);
                    ops.push(Op::Put(
                        keys::scan(repo_name, &digest_s),
                        store_err(typed::encode(&scan))?,
                    ));
                    ops.push(Op::Put(keys::scan_queued(repo_name, &digest_s), Vec::new()));
                }
                if let Some((k, r)) = &referrer {
                    ops.push(Op::Put(k.clone(), store_err(typed::encode(r))?));
                }
            }
            let mut tag_change = None;
            if let Some(tag) = req.tag {
                let tag_key = keys::tag(repo_name, tag);
                let current = store_err(typed::get::<TagRecord>(&*self.store, &tag_key).await)?;
                let change = rules::decide_tag(
                    repo_name,
                    repo.image_tag_mutability,
                    &repo.image_tag_mutability_exclusion_filters,
                    tag,
                    current.as_ref().map(|(t, _)| t.digest.as_str()),
                    &digest_s,
                )?;
                compares.push(Compare::ModRevision(
                    tag_key.clone(),
                    current.as_ref().map_or(0, |(_, r)| *r),
                ));
                if change != TagChange::Unchanged {
                    let rec = TagRecord {
                        digest: digest_s.clone(),
                        updated_at: now,
                    };
                    ops.push(Op::Put(tag_key, store_err(typed::encode(&rec))?));
                    // Touch an existing image so a concurrent delete of it
                    // (which compares its revision) retries and sees this tag.
                    if let Some(kv) = &image_kv {
                        ops.push(Op::Put(image_key.clone(), kv.value.clone()));
                    }
                }
                tag_change = Some(change);
            }
            // Replication is asked for with the push that changes something.
            let replicated = !replicate_to.is_empty()
                && (image_rev.is_none() || tag_change.as_ref().is_some_and(|c| *c != TagChange::Unchanged));
            if replicated {
                ops.extend(Self::replication_intents(repo_name, &digest_s, &replicate_to, now)?);
            }
            let outcome = PutOutcome {
                digest: digest_s.clone(),
                media_type: parsed.media_type.clone(),
                subject: record.subject.clone(),
                image_existed: image_rev.is_some(),
                tag_change,
            };
            if ops.is_empty() {
                return Ok(outcome);
            }
            if store_err(self.store.txn(compares, ops).await)?.succeeded {
                tracing::info!(repository = repo_name, digest = %digest_s, tag = ?req.tag, "manifest stored");
                if scan_on_push {
                    self.scan_wake.notify_one();
                }
                if replicated {
                    self.wake_replicator();
                }
                self.image_action(ImageAction {
                    action: ActionType::Push,
                    repository: repo_name.to_string(),
                    digest: digest_s.clone(),
                    tag: req
                        .tag
                        .filter(|_| outcome.tag_change != Some(TagChange::Unchanged))
                        .map(str::to_string),
                    media_type: Some(parsed.media_type.clone()),
                    artifact_media_type: parsed.artifact_media_type(),
                });
                return Ok(outcome);
            }
        }
    }

    /// The manifest lists in the repository that reference `digest`.
    async fn referencing_index(&self, repository: &str, digest: &str) -> Result<Option<String>, RegistryError> {
        Ok(self
            .images(repository)
            .await?
            .into_iter()
            .find(|i| i.children.iter().any(|c| c == digest))
            .map(|i| i.digest))
    }

    /// Deletes an image and every tag pointing at it. Returns the tags removed.
    pub(crate) async fn delete_image(&self, repository: &str, digest: &str) -> Result<Vec<String>, RegistryError> {
        let key = keys::image(repository, digest);
        loop {
            let Some((rec, rev)) = self.image(repository, digest).await? else {
                return Err(RegistryError::ImageNotFound {
                    repository: repository.to_string(),
                    reference: digest.to_string(),
                });
            };
            if let Some(index) = self.referencing_index(repository, digest).await? {
                return Err(RegistryError::ReferencedByIndex(index));
            }
            let mut compares = vec![Compare::ModRevision(key.clone(), rev)];
            let mut ops = vec![
                Op::Delete(key.clone()),
                Op::Delete(keys::scan(repository, digest)),
                Op::Delete(keys::scan_queued(repository, digest)),
            ];
            let mut removed = vec![];
            let prefix = keys::tags_of(repository);
            for kv in store_err(self.store.range(&prefix, None, None).await)? {
                let t: TagRecord = store_err(typed::decode(&kv))?;
                if t.digest == digest {
                    removed.push(kv.key[prefix.len()..].to_string());
                    compares.push(Compare::ModRevision(kv.key.clone(), kv.mod_revision));
                    ops.push(Op::Delete(kv.key));
                }
            }
            if let Some(subject) = &rec.subject {
                ops.push(Op::Delete(keys::referrer(repository, subject, digest)));
            }
            if store_err(self.store.txn(compares, ops).await)?.succeeded {
                tracing::info!(repository, digest, "image deleted");
                let tags: Vec<Option<String>> = if removed.is_empty() {
                    vec![None]
                } else {
                    removed.iter().cloned().map(Some).collect()
                };
                for tag in tags {
                    self.image_action(ImageAction::deleted(repository, digest, tag));
                }
                return Ok(removed);
            }
        }
    }

    /// Removes a tag. As in ECR, removing an image's last tag deletes the
    /// image (unless a manifest list in the repository still needs it).
    /// Returns the digest the tag pointed at.
    pub(crate) async fn delete_tag(&self, repository: &str, tag: &str) -> Result<String, RegistryError> {
        let tag_key = keys::tag(repository, tag);
        loop {
            let Some((t, tag_rev)) = store_err(typed::get::<TagRecord>(&*self.store, &tag_key).await)? else {
                return Err(RegistryError::ImageNotFound {
                    repository: repository.to_string(),
                    reference: tag.to_string(),
                });
            };
            let others = self
                .tags(repository)
                .await?
                .into_iter()
                .any(|(name, d)| d == t.digest && name != tag);
            let mut compares = vec![Compare::ModRevision(tag_key.clone(), tag_rev)];
            let mut ops = vec![Op::Delete(tag_key.clone())];
            if !others
                && let Some((rec, rev)) = self.image(repository, &t.digest).await?
                && self.referencing_index(repository, &t.digest).await?.is_none()
            {
                let image_key = keys::image(repository, &t.digest);
                compares.push(Compare::ModRevision(image_key.clone(), rev));
                ops.push(Op::Delete(image_key));
                ops.push(Op::Delete(keys::scan(repository, &t.digest)));
                ops.push(Op::Delete(keys::scan_queued(repository, &t.digest)));
                if let Some(subject) = &rec.subject {
                    ops.push(Op::Delete(keys::referrer(repository, subject, &t.digest)));
                }
            }
            if store_err(self.store.txn(compares, ops).await)?.succeeded {
                tracing::info!(repository, tag, digest = %t.digest, "tag deleted");
                self.image_action(ImageAction::deleted(repository, &t.digest, Some(tag.to_string())));
                return Ok(t.digest);
            }
        }
    }

    /// Manifests whose `subject` is `digest`, optionally of one artifact type.
    pub(crate) async fn referrers(
        &self,
        repository: &str,
        subject: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerRecord>, RegistryError> {
        let all: Vec<ReferrerRecord> =
            store_err(typed::list(&*self.store, &keys::referrers_of(repository, subject)).await)?;
        Ok(all
            .into_iter()
            .filter(|r| artifact_type.is_none_or(|a| r.artifact_type.as_deref() == Some(a)))
            .collect())
    }

    /// Deletes a repository record and everything under it. Without
    /// `force`, a repository with images is refused (returns Ok(None)).
    pub(crate) async fn delete_repository(
        &self,
        name: &str,
        force: bool,
    ) -> Result<Option<RepositoryRecord>, RegistryError> {
        loop {
            let (repo, rev) = self.repository_rev(name).await?;
            let images = store_err(self.store.range(&keys::images_of(name), None, Some(1)).await)?;
            if !images.is_empty() && !force {
                return Ok(None);
            }
            let mut ops = vec![Op::Delete(keys::repository(name))];
            for prefix in keys::all_of(name) {
                for kv in store_err(self.store.range(&prefix, None, None).await)? {
                    ops.push(Op::Delete(kv.key));
                }
            }
            let res = store_err(
                self.store
                    .txn(vec![Compare::ModRevision(keys::repository(name), rev)], ops)
                    .await,
            )?;
            if res.succeeded {
                // A push that committed between the listing and the delete
                // left keys behind: sweep them.
                self.sweep_repository_keys(name).await?;
                self.cancel_uploads_of(name).await?;
                tracing::info!(repository = name, "repository deleted");
                return Ok(Some(repo));
            }
        }
    }

    /// Removes per-repository keys left without a repository record.
    pub(crate) async fn sweep_repository_keys(&self, name: &str) -> Result<(), RegistryError> {
        let mut ops = vec![];
        for prefix in keys::all_of(name) {
            for kv in store_err(self.store.range(&prefix, None, None).await)? {
                ops.push(Op::Delete(kv.key));
            }
        }
        if !ops.is_empty() {
            store_err(self.store.txn(vec![Compare::Absent(keys::repository(name))], ops).await)?;
        }
        Ok(())
    }
}
