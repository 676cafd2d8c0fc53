//! Blob upload sessions (`/v2/` chunked uploads and ECR
//! `InitiateLayerUpload`/`UploadLayerPart`/`CompleteLayerUpload`).
//!
//! The bytes are appended to `DATA_DIR/registry/uploads/<uuid>` and fsync'd
//! before the session record's `offset` moves in the store, so an
//! acknowledged chunk survives a restart; bytes past `offset` (a chunk cut
//! short by a crash) are discarded. The running sha256 is kept in memory and
//! recomputed from the file when missing (after a restart). On completion
//! the digest is computed here, compared with the client's, and only then is
//! the file handed to the blob store.

use crate::blob::{ByteStream, VerifiedFile, hash_file_prefix};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::RegistryError;
use crate::records::UploadRecord;
use crate::{OpenError, Registry, keys, now_epoch};
use berth_store::{Compare, Op, typed};
use futures::StreamExt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// The in-memory part of a session: the sha256 state of its first
/// `offset` bytes, when known.
#[derive(Default)]
pub(crate) struct SessionState {
    hashed: Option<(u64, Hasher)>,
}

/// A chunk to append.
pub(crate) struct Chunk {
    /// Where the client says the chunk starts (Content-Range,
    /// partFirstByte); must be the current offset.
    pub start: Option<u64>,
    /// How long the client says the chunk is; checked after reading.
    pub len: Option<u64>,
    pub body: ByteStream,
}

fn io_err(e: std::io::Error) -> RegistryError {
    RegistryError::Io(e)
}

fn store_err<T>(r: Result<T, berth_store::StoreError>) -> Result<T, RegistryError> {
    r.map_err(RegistryError::Store)
}

/// Upload ids are UUIDs (they name files: nothing else is accepted).
pub(crate) fn valid_upload_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
}

impl Registry {
    fn upload_path(&self, id: &str) -> PathBuf {
        self.uploads_dir.join(id)
    }

    fn session(&self, id: &str) -> Arc<tokio::sync::Mutex<SessionState>> {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_string()).or_default().clone()
    }

    fn forget_session(&self, id: &str) {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Starts a session in `repository`.
    pub(crate) async fn start_upload(&self, repository: &str) -> Result<UploadRecord, RegistryError> {
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let path = self.upload_path(&id);
        let file = tokio::fs::File::create(&path).await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        let now = now_epoch();
        let rec = UploadRecord {
            id: id.clone(),
            repository: repository.to_string(),
            offset: 0,
            created_at: now,
            updated_at: now,
        };
        let res = store_err(
            self.store
                .txn(
                    vec![Compare::Exists(keys::repository(repository))],
                    vec![Op::Put(keys::upload(&id), store_err(typed::encode(&rec))?)],
                )
                .await,
        )?;
        if !res.succeeded {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(self.repo_not_found(repository));
        }
        tracing::debug!(repository, upload = %id, "upload started");
        Ok(rec)
    }

    /// The session `id` of `repository`, or `UploadNotFound`.
    pub(crate) async fn upload(&self, repository: &str, id: &str) -> Result<UploadRecord, RegistryError> {
        if !valid_upload_id(id) {
            return Err(RegistryError::UploadNotFound);
        }
        match store_err(typed::get::<UploadRecord>(&*self.store, &keys::upload(id)).await)? {
            Some((rec, _)) if rec.repository == repository => Ok(rec),
            _ => Err(RegistryError::UploadNotFound),
        }
    }

    /// The sha256 state of the session's acknowledged bytes, recomputed
    /// from the file when this process does not have it.
    async fn hasher_for(&self, rec: &UploadRecord, state: &mut SessionState) -> Result<Hasher, RegistryError> {
        if let Some((off, h)) = &state.hashed
            && *off == rec.offset
        {
            return Ok(h.clone());
        }
        let path = self.upload_path(&rec.id);
        let len = rec.offset;
        let h = tokio::task::spawn_blocking(move || hash_file_prefix(&path, len, Algorithm::Sha256))
            .await
            .map_err(|e| RegistryError::Io(std::io::Error::other(e)))?
            .map_err(|e| {
                tracing::error!(upload = %rec.id, error = %e, "an upload's data is missing or short");
                RegistryError::UploadInvalid(format!(
                    "the data of upload {} is incomplete on the server; start a new upload",
                    rec.id
                ))
            })?;
        state.hashed = Some((rec.offset, h.clone()));
        Ok(h)
    }

    /// Appends one chunk with the session lock held. Returns the new offset.
    async fn append_locked(
        &self,
        rec: &mut UploadRecord,
        state: &mut SessionState,
        chunk: Chunk,
    ) -> Result<u64, RegistryError> {
        if let Some(start) = chunk.start
            && start != rec.offset
        {
            return Err(RegistryError::UploadOffset {
                offset: rec.offset,
                got: start,
            });
        }
        let mut hasher = self.hasher_for(rec, state).await?;
        let path = self.upload_path(&rec.id);
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(io_err)?;
        // Bytes past the acknowledged offset are from a chunk that failed.
        file.set_len(rec.offset).await.map_err(io_err)?;
        file.seek(std::io::SeekFrom::Start(rec.offset)).await.map_err(io_err)?;
        let mut out = tokio::io::BufWriter::with_capacity(1024 * 1024, file);
        let mut n = 0u64;
        let mut body = chunk.body;
        let mut failure = None;
        while let Some(part) = body.next().await {
            match part {
                Ok(bytes) => {
                    hasher.update(&bytes);
                    n += bytes.len() as u64;
                    if let Err(e) = out.write_all(&bytes).await {
                        failure = Some(RegistryError::Io(e));
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(RegistryError::UploadInvalid(format!(
                        "reading the chunk failed after {n} bytes: {e}"
                    )));
                    break;
                }
            }
        }
        if failure.is_none()
            && let Some(len) = chunk.len
            && len != n
        {
            failure = Some(RegistryError::UploadInvalid(format!(
                "the chunk was declared as {len} bytes but {n} were received"
            )));
        }
        if failure.is_none()
            && let Err(e) = out.flush().await
        {
            failure = Some(RegistryError::Io(e));
        }
        let file = out.into_inner();
        if let Some(e) = failure {
            let _ = file.set_len(rec.offset).await;
            return Err(e);
        }
        if n == 0 {
            return Ok(rec.offset);
        }
        file.sync_data().await.map_err(io_err)?;
        drop(file);
        let new_offset = rec.offset + n;
        let mut updated = rec.clone();
        updated.offset = new_offset;
        updated.updated_at = now_epoch();
        let stored =
            typed::update::<UploadRecord, RegistryError, _>(&*self.store, &keys::upload(&rec.id), |cur| match cur {
                Some(c) if c.offset == rec.offset => Ok(Some(updated.clone())),
                _ => Err(RegistryError::UploadNotFound),
            })
            .await?;
        if let Some(s) = stored {
            *rec = s;
        }
        state.hashed = Some((new_offset, hasher));
        Ok(new_offset)
    }

    /// Appends a chunk to a session. Returns the new offset.
    pub(crate) async fn append_upload(&self, repository: &str, id: &str, chunk: Chunk) -> Result<u64, RegistryError> {
        let lock = self.session(id);
        let mut state = lock.lock().await;
        let mut rec = self.upload(repository, id).await?;
        self.append_locked(&mut rec, &mut state, chunk).await
    }

    /// Appends an optional last chunk, verifies the digest and publishes
    /// the blob into the repository. A digest mismatch ends the session
    /// and leaves no blob. Returns the blob's size.
    pub(crate) async fn finish_upload(
        &self,
        repository: &str,
        id: &str,
        digest: &Digest,
        last: Option<Chunk>,
    ) -> Result<u64, RegistryError> {
        let lock = self.session(id);
        let mut state = lock.lock().await;
        let mut rec = self.upload(repository, id).await?;
        if let Some(chunk) = last {
            self.append_locked(&mut rec, &mut state, chunk).await?;
        }
        let path = self.upload_path(id);
        let actual = match digest.algorithm() {
            Algorithm::Sha256 => self.hasher_for(&rec, &mut state).await?.finish(),
            alg => {
                let p = path.clone();
                let len = rec.offset;
                tokio::task::spawn_blocking(move || hash_file_prefix(&p, len, alg))
                    .await
                    .map_err(|e| RegistryError::Io(std::io::Error::other(e)))?
                    .map_err(io_err)?
                    .finish()
            }
        };
        if &actual != digest {
            self.remove_upload(id).await?;
            return Err(RegistryError::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        // Drop anything past the acknowledged bytes before publishing.
        let f = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(io_err)?;
        f.set_len(rec.offset).await.map_err(io_err)?;
        f.sync_all().await.map_err(io_err)?;
        drop(f);
        let size = rec.offset;
        let digest_s = digest.to_string();
        // Published and linked inside the fence garbage collection respects.
        let _fence = self.publish_locks.publish([digest_s.as_str()]).await;
        self.store_of(repository)
            .await?
            .put_verified(VerifiedFile::new(path, digest.clone(), size))
            .await?;
        store_err(self.store.delete(&keys::upload(id)).await)?;
        self.forget_session(id);
        self.link_blob(repository, digest, size).await?;
        tracing::debug!(repository, upload = id, digest = %digest, size, "upload complete");
        Ok(size)
    }

    /// Removes a session's record and file.
    async fn remove_upload(&self, id: &str) -> Result<(), RegistryError> {
        store_err(self.store.delete(&keys::upload(id)).await)?;
        match tokio::fs::remove_file(self.upload_path(id)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        self.forget_session(id);
        Ok(())
    }

    /// Cancels a session (DELETE on /v2/).
    pub(crate) async fn cancel_upload(&self, repository: &str, id: &str) -> Result<(), RegistryError> {
        let lock = self.session(id);
        let _state = lock.lock().await;
        self.upload(repository, id).await?;
        self.remove_upload(id).await
    }

    /// Cancels every session of a (deleted) repository.
    pub(crate) async fn cancel_uploads_of(&self, repository: &str) -> Result<(), RegistryError> {
        let all: Vec<UploadRecord> = store_err(typed::list(&*self.store, keys::UPLOADS).await)?;
        for rec in all.into_iter().filter(|r| r.repository == repository) {
            let lock = self.session(&rec.id);
            let _state = lock.lock().await;
            self.remove_upload(&rec.id).await?;
        }
        Ok(())
    }

    /// Removes upload files no session record refers to (left by a crash
    /// between finishing an upload and removing its file).
    pub(crate) async fn remove_orphan_upload_files(&self) -> Result<(), OpenError> {
        let dir = self.uploads_dir.clone();
        let entries = std::fs::read_dir(&dir).map_err(|source| OpenError::Io {
            path: dir.clone(),
            source,
        })?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let known = valid_upload_id(&name) && self.store.get(&keys::upload(&name)).await?.is_some();
            if !known {
                tracing::info!(path = %e.path().display(), "removing an upload file without a session");
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn upload_ids_are_uuids() {
        assert!(super::valid_upload_id("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!super::valid_upload_id("../../etc/passwd"));
        assert!(!super::valid_upload_id("0F8FAD5B-D9CB-469F-A165-70867728950E"));
        assert!(!super::valid_upload_id("0f8fad5bd9cb469fa16570867728950e"));
    }
}
