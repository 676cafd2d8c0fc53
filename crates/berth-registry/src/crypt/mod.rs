//! Blobs of KMS-encrypted repositories, encrypted at rest (envelope
//! encryption). Each blob gets its own data key from KMS (`GenerateDataKey`
//! under the repository's key, the digest in the encryption context); the
//! wrapped key is stored in the file's header and the content in
//! AES-256-GCM chunks (`format`), so a layer streams in and out in 64 KiB
//! pieces. The digest is of the plaintext: checked while a blob is written
//! (nothing is published on a mismatch) and while it is read whole.
//!
//! Encrypted blobs are kept apart from the shared store, one directory per
//! KMS key (`registry/kms-blobs/<key>/sha256/ab/<hex>`): a blob pushed to an
//! encrypted repository never lands in clear in the shared store, and a
//! mount between repositories of different encryption is refused (the
//! client uploads instead). Garbage collection treats their files as it
//! treats the shared store's (reachability by digest, global).

pub mod format;

use crate::blob::{BlobError, BlobRead, BlobStore, ByteStream, StoredBlob, VerifiedFile};
use crate::digest::{Digest, Hasher};
use async_trait::async_trait;
use bytes::Bytes;
use format::{CHUNK, FormatError, Header, TAG};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// KMS as the registry uses it (the binary wires the region's KMS).
#[async_trait]
pub trait DataKeys: Send + Sync + 'static {
    /// The ARN of the key `key_id` names (id, ARN, alias), or of the AWS
    /// managed key `alias/aws/ecr` (created on first use) for `None`.
    async fn key_arn(&self, key_id: Option<&str>) -> Result<String, String>;
    /// A fresh 256-bit data key: (plaintext, wrapped under `key_arn`).
    async fn generate(&self, key_arn: &str, context: &BTreeMap<String, String>) -> Result<(Vec<u8>, Vec<u8>), String>;
    /// Unwraps a data key.
    async fn decrypt(&self, wrapped: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, String>;
}

/// The encrypted blob stores of a registry.
pub(crate) struct Crypt {
    root: PathBuf,
    pub(crate) keys: OnceLock<Arc<dyn DataKeys>>,
}

fn context(digest: &Digest) -> BTreeMap<String, String> {
    BTreeMap::from([("berth:registry-blob".to_string(), digest.to_string())])
}

fn key32(v: &[u8]) -> Result<[u8; 32], BlobError> {
    v.try_into()
        .map_err(|_| BlobError::Io(io::Error::other("KMS returned a data key that is not 256 bits")))
}

fn kms_err(e: String) -> BlobError {
    BlobError::Io(io::Error::other(format!("KMS: {e}")))
}

fn format_err(e: FormatError) -> BlobError {
    BlobError::Io(io::Error::new(io::ErrorKind::InvalidData, e))
}

impl Crypt {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self {
            root,
            keys: OnceLock::new(),
        }
    }

    /// The store of the blobs encrypted under `key_arn`.
    pub(crate) fn store(&self, key_arn: &str) -> Result<EncryptedStore, BlobError> {
        let keys =
            self.keys.get().cloned().ok_or_else(|| {
                BlobError::Io(io::Error::other("this registry has no KMS to encrypt or decrypt with"))
            })?;
        let dir = Digest::sha256_of(key_arn.as_bytes()).hex()[..16].to_string();
        Ok(EncryptedStore {
            root: self.root.join(dir),
            key_arn: key_arn.to_string(),
            keys,
        })
    }

    /// Every encrypted blob file (garbage collection), of every key.
    pub(crate) async fn list_all(&self) -> Result<Vec<StoredBlob>, BlobError> {
        let mut out = vec![];
        let Ok(mut keys) = tokio::fs::read_dir(&self.root).await else {
            return Ok(out);
        };
        while let Some(k) = keys.next_entry().await? {
            out.extend(list_dir(&k.path()).await?);
        }
        Ok(out)
    }

    /// Removes `digest`'s encrypted files under every key.
    pub(crate) async fn delete_everywhere(&self, digest: &Digest) -> Result<bool, BlobError> {
        let mut any = false;
        let Ok(mut keys) = tokio::fs::read_dir(&self.root).await else {
            return Ok(false);
        };
        while let Some(k) = keys.next_entry().await? {
            match tokio::fs::remove_file(path_in(&k.path(), digest)).await {
                Ok(()) => any = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(any)
    }
}

fn path_in(root: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.hex();
    root.join(digest.algorithm().name()).join(&hex[..2]).join(hex)
}

async fn list_dir(root: &Path) -> Result<Vec<StoredBlob>, BlobError> {
    let mut out = vec![];
    let Ok(mut algs) = tokio::fs::read_dir(root).await else {
        return Ok(out);
    };
    while let Some(alg) = algs.next_entry().await? {
        let alg_name = alg.file_name().to_string_lossy().to_string();
        let Ok(mut shards) = tokio::fs::read_dir(alg.path()).await else {
            continue;
        };
        while let Some(shard) = shards.next_entry().await? {
            let Ok(mut files) = tokio::fs::read_dir(shard.path()).await else {
                continue;
            };
            while let Some(f) = files.next_entry().await? {
                let name = f.file_name().to_string_lossy().to_string();
                let Ok(digest) = Digest::parse(&format!("{alg_name}:{name}")) else {
                    continue;
                };
                let meta = f.metadata().await?;
                let written_at = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0.0, |d| d.as_secs_f64());
                out.push(StoredBlob {
                    digest,
                    size: meta.len(),
                    written_at,
                });
            }
        }
    }
    Ok(out)
}

/// The blobs encrypted under one KMS key.
pub(crate) struct EncryptedStore {
    root: PathBuf,
    key_arn: String,
    keys: Arc<dyn DataKeys>,
}

/// An open encrypted file: its header, data key and plaintext size.
struct Opened {
    file: tokio::fs::File,
    header_len: usize,
    prefix: [u8; 4],
    key: [u8; 32],
    size: u64,
}

impl EncryptedStore {
    fn path_of(&self, digest: &Digest) -> PathBuf {
        path_in(&self.root, digest)
    }

    /// The header length and plaintext size of `digest`'s file.
    async fn read_header(file: &mut tokio::fs::File) -> Result<(Header, usize, u64), BlobError> {
        let len = file.metadata().await?.len();
        let mut first = [0u8; 12];
        file.read_exact(&mut first).await?;
        let header_len = Header::len_from_prefix(&first).map_err(format_err)?;
        let mut buf = vec![0u8; header_len];
        buf[..12].copy_from_slice(&first);
        file.read_exact(&mut buf[12..]).await?;
        let header = Header::decode(&buf).map_err(format_err)?;
        let size = format::plain_size(len.saturating_sub(header_len as u64)).map_err(format_err)?;
        Ok((header, header_len, size))
    }

    async fn open(&self, digest: &Digest) -> Result<Option<Opened>, BlobError> {
        let mut file = match tokio::fs::File::open(self.path_of(digest)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let (header, header_len, size) = Self::read_header(&mut file).await?;
        let key = self
            .keys
            .decrypt(&header.wrapped_key, &context(digest))
            .await
            .map_err(kms_err)?;
        Ok(Some(Opened {
            file,
            header_len,
            prefix: header.nonce_prefix,
            key: key32(&key)?,
            size,
        }))
    }
}

/// State of a decrypting read.
struct Reading {
    file: tokio::fs::File,
    prefix: [u8; 4],
    key: [u8; 32],
    next: u64,
    chunks: u64,
    /// Plaintext offsets still wanted: [start, end].
    start: u64,
    end: u64,
    /// The whole blob is read: its digest is checked at the end.
    hasher: Option<(Hasher, Digest)>,
}

impl Reading {
    async fn next_piece(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            if self.next >= self.chunks || self.next * CHUNK as u64 > self.end {
                if let Some((h, want)) = self.hasher.take() {
                    let got = h.finish();
                    if got != want {
                        return Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("the encrypted blob decrypts to {got}, not {want}"),
                        )));
                    }
                }
                return None;
            }
            let i = self.next;
            let last = i == self.chunks - 1;
            let mut sealed = Vec::with_capacity(CHUNK + TAG);
            let r = (&mut self.file)
                .take((CHUNK + TAG) as u64)
                .read_to_end(&mut sealed)
                .await;
            if let Err(e) = r {
                return Some(Err(e));
            }
            self.next += 1;
            let plain = match format::open_chunk(&self.key, self.prefix, i, last, &sealed) {
                Ok(p) => p,
                Err(e) => return Some(Err(io::Error::new(io::ErrorKind::InvalidData, e))),
            };
            if let Some((h, _)) = &mut self.hasher {
                h.update(&plain);
            }
            let base = i * CHUNK as u64;
            let from = self.start.saturating_sub(base) as usize;
            let to = ((self.end + 1).saturating_sub(base) as usize).min(plain.len());
            if from < to {
                return Some(Ok(Bytes::copy_from_slice(&plain[from..to])));
            }
        }
    }
}

#[async_trait]
impl BlobStore for EncryptedStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        let mut file = match tokio::fs::File::open(self.path_of(digest)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(Self::read_header(&mut file).await?.2))
    }

    async fn get(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<Option<BlobRead>, BlobError> {
        let Some(mut o) = self.open(digest).await? else {
            return Ok(None);
        };
        let size = o.size;
        let (start, end) = match range {
            Some((s, e)) => {
                if s >= size {
                    return Err(BlobError::RangeNotSatisfiable { size });
                }
                (s, e.min(size.saturating_sub(1)))
            }
            None => (0, size.saturating_sub(1)),
        };
        let first = if size == 0 { 0 } else { start / CHUNK as u64 };
        o.file
            .seek(io::SeekFrom::Start(format::chunk_offset(o.header_len, first)))
            .await?;
        let reading = Reading {
            file: o.file,
            prefix: o.prefix,
            key: o.key,
            next: first,
            chunks: format::chunk_count(size),
            start,
            end,
            hasher: range
                .is_none()
                .then(|| (Hasher::new(digest.algorithm()), digest.clone())),
        };
        let stream: ByteStream = Box::pin(futures::stream::unfold(reading, |mut r| async move {
            r.next_piece().await.map(|piece| (piece, r))
        }));
        Ok(Some(BlobRead {
            size,
            range: range.map(|_| (start, end)),
            stream,
        }))
    }

    async fn put_stream(&self, expected: &Digest, mut body: ByteStream) -> Result<u64, BlobError> {
        let ctx = context(expected);
        let (key, wrapped) = self.keys.generate(&self.key_arn, &ctx).await.map_err(kms_err)?;
        let key = key32(&key)?;
        let mut prefix = [0u8; 4];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut prefix);
        let header = Header {
            wrapped_key: wrapped,
            nonce_prefix: prefix,
        };
        let dest = self.path_of(expected);
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            file.write_all(&header.encode()).await?;
            let mut hasher = Hasher::new(expected.algorithm());
            let mut buf: Vec<u8> = Vec::with_capacity(2 * CHUNK);
            let mut index = 0u64;
            let mut size = 0u64;
            while let Some(piece) = body.next().await {
                let piece = piece.map_err(BlobError::Body)?;
                hasher.update(&piece);
                size += piece.len() as u64;
                buf.extend_from_slice(&piece);
                // Keep the last chunk back: only the end says it is the last.
                while buf.len() > CHUNK {
                    let sealed = format::seal_chunk(&key, prefix, index, false, &buf[..CHUNK]);
                    file.write_all(&sealed).await?;
                    buf.drain(..CHUNK);
                    index += 1;
                }
            }
            file.write_all(&format::seal_chunk(&key, prefix, index, true, &buf))
                .await?;
            let actual = hasher.finish();
            if &actual != expected {
                return Err(BlobError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
            file.sync_all().await?;
            Ok(size)
        }
        .await;
        match result {
            Ok(size) => {
                tokio::fs::rename(&tmp, &dest).await?;
                if let Ok(d) = tokio::fs::File::open(&dir).await {
                    let _ = d.sync_all().await;
                }
                Ok(size)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    async fn put_verified(&self, file: VerifiedFile) -> Result<u64, BlobError> {
        let f = tokio::fs::File::open(file.path()).await?;
        let stream: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(f, CHUNK));
        let size = self.put_stream(file.digest(), stream).await?;
        let _ = tokio::fs::remove_file(file.path()).await;
        Ok(size)
    }

    async fn delete(&self, digest: &Digest) -> Result<bool, BlobError> {
        match tokio::fs::remove_file(self.path_of(digest)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<StoredBlob>, BlobError> {
        list_dir(&self.root).await
    }
}

impl crate::Registry {
    /// Encrypts and decrypts the blobs of KMS repositories with `keys`
    /// (once; later calls are ignored).
    pub fn set_data_keys(&self, keys: Arc<dyn DataKeys>) {
        let _ = self.crypt.keys.set(keys);
    }

    /// The ARN of the AWS managed key `alias/aws/ecr` (created on first
    /// use) or of the key `key_id` names: a KMS repository's key.
    pub(crate) async fn repository_key_arn(&self, key_id: Option<&str>) -> Result<String, String> {
        match self.crypt.keys.get() {
            Some(k) => k.key_arn(key_id).await,
            None => Err("this registry has no KMS".into()),
        }
    }

    /// Where the blobs of `repo` are stored: its KMS key's encrypted store,
    /// or the shared one.
    pub(crate) fn store_for(
        &self,
        repo: &crate::records::RepositoryRecord,
    ) -> Result<Arc<dyn BlobStore>, crate::RegistryError> {
        match kms_key_of(repo) {
            Some(arn) => Ok(Arc::new(self.crypt.store(arn)?)),
            None => Ok(self.blobs.clone()),
        }
    }

    pub(crate) async fn store_of(&self, name: &str) -> Result<Arc<dyn BlobStore>, crate::RegistryError> {
        let repo = self.repository(name).await?;
        self.store_for(&repo)
    }

    /// Pulling from a KMS repository needs `kms:Decrypt` on its key (root
    /// is not checked); a repository that is not encrypted, or does not
    /// exist (the pull answers its own error), needs nothing. The refusal
    /// is the key's ARN and why.
    pub(crate) async fn check_decrypt(&self, who: &berth_proto::Principal, name: &str) -> Result<(), (String, String)> {
        let Ok(repo) = self.repository(name).await else {
            return Ok(());
        };
        match kms_key_of(&repo) {
            Some(arn) => self
                .authorize(who, "kms:Decrypt", arn, &[])
                .map_err(|why| (arn.to_string(), why)),
            None => Ok(()),
        }
    }
}

/// The KMS key a repository's blobs are encrypted under.
pub(crate) fn kms_key_of(repo: &crate::records::RepositoryRecord) -> Option<&str> {
    match repo.encryption_type.as_str() {
        "KMS" => repo.kms_key.as_deref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
