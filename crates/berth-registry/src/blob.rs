//! Content-addressed blob storage behind the [`BlobStore`] trait. Blobs are
//! deduplicated across repositories (which blobs a repository may use is
//! metadata in the state store). The filesystem backend is the default; an
//! S3 backend (`object_store`) fits behind the same trait: `put_stream` is a
//! multipart upload committed after the digest check, `put_verified` uploads
//! a finished session file, `get` is a (ranged) GET.

use crate::digest::{Algorithm, Digest, Hasher};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// A stream of body bytes (a request body, a file being read).
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the content's digest is {actual}, not the declared {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("the requested range is not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("reading the upload failed: {0}")]
    Body(io::Error),
    #[error("blob storage failed: {0}")]
    Io(#[from] io::Error),
}

/// An open blob read: the whole blob or the requested inclusive range.
pub struct BlobRead {
    /// The size of the whole blob.
    pub size: u64,
    /// `Some((start, end))` when a range was requested.
    pub range: Option<(u64, u64)>,
    pub stream: ByteStream,
}

/// A local file whose content Berth hashed itself and found to be `digest`.
/// Only this crate's hashing code constructs one, so a backend taking it
/// never trusts a digest the client merely claimed.
#[derive(Debug)]
pub struct VerifiedFile {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl VerifiedFile {
    pub(crate) fn new(path: PathBuf, digest: Digest, size: u64) -> Self {
        Self { path, digest, size }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
    pub fn size(&self) -> u64 {
        self.size
    }
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// The blob's size, or `None` when it is not stored.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError>;

    async fn exists(&self, digest: &Digest) -> Result<bool, BlobError> {
        Ok(self.stat(digest).await?.is_some())
    }

    /// Opens a blob, or the inclusive byte range `(start, end)` of it
    /// (`end` is clamped to the blob's last byte). `None` when not stored.
    async fn get(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<Option<BlobRead>, BlobError>;

    /// Stores the stream's bytes as `expected`: written aside, hashed while
    /// written, made durable, and published only when the computed digest
    /// equals `expected` (otherwise nothing is left behind and
    /// `DigestMismatch` is returned). Returns the size.
    async fn put_stream(&self, expected: &Digest, body: ByteStream) -> Result<u64, BlobError>;

    /// Publishes a finished upload file whose digest Berth computed. The
    /// file is consumed (moved or copied then removed).
    async fn put_verified(&self, file: VerifiedFile) -> Result<u64, BlobError>;

    /// Removes a blob. Returns false when it was not stored.
    async fn delete(&self, digest: &Digest) -> Result<bool, BlobError>;

    /// Every stored blob with its size and when it was written (garbage
    /// collection); unfinished writes are not listed.
    async fn list(&self) -> Result<Vec<StoredBlob>, BlobError>;
}

/// A stored blob as [`BlobStore::list`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBlob {
    pub digest: Digest,
    pub size: u64,
    /// When its content was written (epoch seconds).
    pub written_at: f64,
}

/// Stores `bytes` (a manifest, a small blob) under their sha256 digest.
pub async fn put_bytes(store: &dyn BlobStore, bytes: Bytes) -> Result<Digest, BlobError> {
    put_bytes_as(store, Algorithm::Sha256, bytes).await
}

/// [`put_bytes`] under the digest of `algorithm` (a manifest pushed by a
/// sha512 digest is stored under it).
pub async fn put_bytes_as(store: &dyn BlobStore, algorithm: Algorithm, bytes: Bytes) -> Result<Digest, BlobError> {
    let digest = Digest::of(algorithm, &bytes);
    if store.exists(&digest).await? {
        return Ok(digest);
    }
    store
        .put_stream(&digest, futures::stream::once(async move { Ok(bytes) }).boxed())
        .await?;
    Ok(digest)
}

/// Reads a whole blob into memory (manifests: at most a few MiB).
pub async fn read_all(store: &dyn BlobStore, digest: &Digest) -> Result<Option<Vec<u8>>, BlobError> {
    let Some(read) = store.get(digest, None).await? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(read.size as usize);
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(Some(out))
}

/// The filesystem backend: `ROOT/<algorithm>/<first two hex>/<hex>`.
pub struct FsBlobStore {
    root: PathBuf,
}

const READ_CHUNK: usize = 256 * 1024;

/// Removes a temporary file unless disarmed (on success it has been renamed).
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl FsBlobStore {
    /// Opens (creating) the store at `root`, removing temporary files a
    /// crash may have left behind.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        let store = Self { root };
        store.remove_stale_temps()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives.
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root.join(digest.algorithm().name()).join(&hex[..2]).join(hex)
    }

    fn remove_stale_temps(&self) -> io::Result<()> {
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join(alg.name());
            let Ok(shards) = std::fs::read_dir(&dir) else {
                continue;
            };
            for shard in shards.flatten() {
                let Ok(entries) = std::fs::read_dir(shard.path()) else {
                    continue;
                };
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with(".tmp-") {
                        tracing::info!(path = %e.path().display(), "removing an unfinished blob write");
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
        Ok(())
    }

    /// Renames `tmp` to the blob's final path and makes the rename durable.
    async fn publish(&self, tmp: &Path, digest: &Digest) -> io::Result<()> {
        let dest = self.path_of(digest);
        tokio::fs::rename(tmp, &dest).await?;
        sync_dir(dest.parent().unwrap_or(&self.root)).await
    }
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(io::Error::other)?
}

fn temp_name(dir: &Path) -> PathBuf {
    dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()))
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        match tokio::fs::metadata(self.path_of(digest)).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn get(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<Option<BlobRead>, BlobError> {
        let mut file = match tokio::fs::File::open(self.path_of(digest)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        let (start, len, range) = match range {
            None => (0, size, None),
            Some((start, end)) => {
                if start >= size || end < start {
                    return Err(BlobError::RangeNotSatisfiable { size });
                }
                let end = end.min(size - 1);
                (start, end - start + 1, Some((start, end)))
            }
        };
        if start > 0 {
            file.seek(io::SeekFrom::Start(start)).await?;
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_CHUNK).boxed();
        Ok(Some(BlobRead { size, range, stream }))
    }

    async fn put_stream(&self, expected: &Digest, mut body: ByteStream) -> Result<u64, BlobError> {
        let dest = self.path_of(expected);
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = temp_name(&dir);
        let mut guard = TempGuard(Some(tmp.clone()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await?;
        let mut out = tokio::io::BufWriter::with_capacity(1024 * 1024, file);
        let mut hasher = Hasher::new(expected.algorithm());
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(BlobError::Body)?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        let file = out.into_inner();
        file.sync_all().await?;
        drop(file);
        let actual = hasher.finish();
        if &actual != expected {
            return Err(BlobError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        // Same digest, same content: replacing an existing copy is harmless.
        self.publish(&tmp, expected).await?;
        guard.disarm();
        Ok(size)
    }

    async fn put_verified(&self, file: VerifiedFile) -> Result<u64, BlobError> {
        let dest = self.path_of(&file.digest);
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir).await?;
        if tokio::fs::metadata(&dest).await.is_ok() {
            // Deduplicated: the content is already stored.
            let _ = tokio::fs::remove_file(&file.path).await;
            return Ok(file.size);
        }
        // The upload file was fsync'd as it was written; a rename within the
        // data dir publishes it. Across filesystems, copy aside, sync, rename.
        match tokio::fs::rename(&file.path, &dest).await {
            Ok(()) => sync_dir(&dir).await?,
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                let tmp = temp_name(&dir);
                let mut guard = TempGuard(Some(tmp.clone()));
                tokio::fs::copy(&file.path, &tmp).await?;
                tokio::fs::File::open(&tmp).await?.sync_all().await?;
                self.publish(&tmp, &file.digest).await?;
                guard.disarm();
                let _ = tokio::fs::remove_file(&file.path).await;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(file.size)
    }

    async fn delete(&self, digest: &Digest) -> Result<bool, BlobError> {
        match tokio::fs::remove_file(self.path_of(digest)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<StoredBlob>, BlobError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || list_dir(&root))
            .await
            .map_err(io::Error::other)?
            .map_err(BlobError::Io)
    }
}

/// Walks `ROOT/<algorithm>/<xx>/<hex>`; names that are not a digest (the
/// `.tmp-` files of unfinished writes) are skipped.
fn list_dir(root: &Path) -> io::Result<Vec<StoredBlob>> {
    let mut out = vec![];
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        let Ok(shards) = std::fs::read_dir(root.join(alg.name())) else {
            continue;
        };
        for shard in shards.flatten() {
            let Ok(entries) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let Ok(digest) = Digest::parse(&format!("{}:{}", alg.name(), name.to_string_lossy())) else {
                    continue;
                };
                // Gone since the listing (deleted meanwhile): not listed.
                let Ok(meta) = e.metadata() else { continue };
                let written_at = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
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

/// Hashes the first `len` bytes of a file (blocking; run off the runtime).
pub(crate) fn hash_file_prefix(path: &Path, len: u64, algorithm: Algorithm) -> io::Result<Hasher> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut reader = std::io::BufReader::with_capacity(READ_CHUNK, f).take(len);
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    if total != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("expected {len} bytes in {}, found {total}", path.display()),
        ));
    }
    Ok(hasher)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(parts: &[&'static [u8]]) -> ByteStream {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>()).boxed()
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut out = vec![];
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    out.extend(entries(&e.path()));
                } else {
                    out.push(e.path());
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn put_get_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"hello world");
        assert_eq!(store.stat(&d).await.unwrap(), None);
        assert_eq!(
            store.put_stream(&d, stream_of(&[b"hello ", b"world"])).await.unwrap(),
            11
        );
        assert_eq!(store.stat(&d).await.unwrap(), Some(11));
        let hex = d.hex();
        assert!(dir.path().join("sha256").join(&hex[..2]).join(hex).is_file());
        assert_eq!(read_all(&store, &d).await.unwrap().unwrap(), b"hello world");
        let r = store.get(&d, Some((6, 100))).await.unwrap().unwrap();
        assert_eq!((r.size, r.range), (11, Some((6, 10))));
        let bytes: Vec<u8> = r.stream.map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(bytes, b"world");
        assert!(matches!(
            store.get(&d, Some((11, 12))).await,
            Err(BlobError::RangeNotSatisfiable { size: 11 })
        ));
        assert!(store.delete(&d).await.unwrap());
        assert!(!store.delete(&d).await.unwrap());
        assert!(store.get(&d, None).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn digest_mismatch_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let claimed = Digest::sha256_of(b"something else");
        let err = store
            .put_stream(&claimed, stream_of(&[b"actual bytes"]))
            .await
            .unwrap_err();
        match err {
            BlobError::DigestMismatch { expected, actual } => {
                assert_eq!(expected, claimed);
                assert_eq!(actual, Digest::sha256_of(b"actual bytes"));
            }
            other => panic!("unexpected {other}"),
        }
        assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
        assert!(!store.exists(&claimed).await.unwrap());
    }

    #[tokio::test]
    async fn failed_body_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"abc");
        let body = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"a")),
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone")),
        ])
        .boxed();
        assert!(matches!(store.put_stream(&d, body).await, Err(BlobError::Body(_))));
        assert!(entries(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn sha512_and_dedupe() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"layer");
        let d512 = h.finish();
        store.put_stream(&d512, stream_of(&[b"lay", b"er"])).await.unwrap();
        assert!(store.path_of(&d512).starts_with(dir.path().join("sha512")));
        // The same content twice is stored once.
        let d = put_bytes(&store, Bytes::from_static(b"layer")).await.unwrap();
        let d2 = put_bytes(&store, Bytes::from_static(b"layer")).await.unwrap();
        assert_eq!(d, d2);
        let files = entries(&dir.path().join("sha256"));
        assert_eq!(files.len(), 1);
        // A verified upload file of existing content is dropped, not duplicated.
        let up = dir.path().join("upload");
        std::fs::write(&up, b"layer").unwrap();
        store
            .put_verified(VerifiedFile::new(up.clone(), d.clone(), 5))
            .await
            .unwrap();
        assert!(!up.exists());
        assert_eq!(entries(&dir.path().join("sha256")).len(), 1);
    }

    #[tokio::test]
    async fn stale_temps_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("sha256").join("ab");
        std::fs::create_dir_all(&shard).unwrap();
        std::fs::write(shard.join(".tmp-123"), b"partial").unwrap();
        FsBlobStore::open(dir.path()).unwrap();
        assert!(!shard.join(".tmp-123").exists());
    }

    #[tokio::test]
    async fn list_reports_stored_blobs_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let a = put_bytes(&store, Bytes::from_static(b"alpha")).await.unwrap();
        let b = put_bytes(&store, Bytes::from_static(b"beta!!")).await.unwrap();
        let shard = store.path_of(&a).parent().unwrap().to_path_buf();
        std::fs::write(shard.join(".tmp-unfinished"), b"x").unwrap();
        let mut listed = store.list().await.unwrap();
        listed.sort_by_key(|s| s.size);
        assert_eq!(
            listed.iter().map(|s| (&s.digest, s.size)).collect::<Vec<_>>(),
            [(&a, 5), (&b, 6)]
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(listed.iter().all(|s| (now - s.written_at).abs() < 60.0));
    }

    #[test]
    fn hash_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello world").unwrap();
        let h = hash_file_prefix(&p, 5, Algorithm::Sha256).unwrap();
        assert_eq!(h.finish(), Digest::sha256_of(b"hello"));
        assert!(hash_file_prefix(&p, 50, Algorithm::Sha256).is_err());
    }
}
