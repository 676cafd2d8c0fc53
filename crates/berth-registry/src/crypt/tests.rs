use super::*;

/// A stand-in for KMS: the data key "wrapped" by XOR with a fixed byte and
/// the context's digest (so a wrong context unwraps to a wrong key).
struct FakeKms;

fn mask(context: &BTreeMap<String, String>) -> Vec<u8> {
    Digest::sha256_of(format!("{context:?}").as_bytes()).hex().as_bytes()[..32].to_vec()
}

#[async_trait]
impl DataKeys for FakeKms {
    async fn key_arn(&self, key_id: Option<&str>) -> Result<String, String> {
        Ok(key_id
            .unwrap_or("arn:aws:kms:us-east-1:000000000000:key/default")
            .to_string())
    }
    async fn generate(&self, _arn: &str, context: &BTreeMap<String, String>) -> Result<(Vec<u8>, Vec<u8>), String> {
        let key: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        let wrapped = key.iter().zip(mask(context)).map(|(a, b)| a ^ b).collect();
        Ok((key, wrapped))
    }
    async fn decrypt(&self, wrapped: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
        Ok(wrapped.iter().zip(mask(context)).map(|(a, b)| a ^ b).collect())
    }
}

fn crypt(dir: &Path) -> Crypt {
    let c = Crypt::new(dir.to_path_buf());
    let _ = c.keys.set(Arc::new(FakeKms));
    c
}

fn stream_of(bytes: Vec<u8>) -> ByteStream {
    // In uneven pieces, as a request body arrives.
    let pieces: Vec<io::Result<Bytes>> = bytes.chunks(10_007).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(futures::stream::iter(pieces))
}

async fn read(store: &EncryptedStore, d: &Digest, range: Option<(u64, u64)>) -> io::Result<Vec<u8>> {
    let r = store.get(d, range).await.unwrap().unwrap();
    let mut out = vec![];
    let mut s = r.stream;
    while let Some(p) = s.next().await {
        out.extend_from_slice(&p?);
    }
    Ok(out)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out)
            } else {
                out.push(e.path())
            }
        }
    }
    let mut out = vec![];
    walk(dir, &mut out);
    out
}

#[tokio::test]
async fn blobs_round_trip_encrypted_whole_and_by_range() {
    let tmp = tempfile::tempdir().unwrap();
    let c = crypt(tmp.path());
    let store = c.store("arn:aws:kms:us-east-1:000000000000:key/k1").unwrap();
    for size in [0usize, 1, CHUNK, 3 * CHUNK + 5] {
        let plain: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
        let d = Digest::sha256_of(&plain);
        assert_eq!(
            store.put_stream(&d, stream_of(plain.clone())).await.unwrap(),
            size as u64
        );
        assert_eq!(store.stat(&d).await.unwrap(), Some(size as u64));
        assert_eq!(read(&store, &d, None).await.unwrap(), plain, "{size}");
        if size > 10 {
            let (s, e) = (size as u64 / 2 - 3, size as u64 - 2);
            assert_eq!(
                read(&store, &d, Some((s, e))).await.unwrap(),
                &plain[s as usize..=e as usize]
            );
        }
        // The file on disk is not the plaintext.
        let on_disk = std::fs::read(store.path_of(&d)).unwrap();
        if size >= 64 {
            assert!(!on_disk.windows(64).any(|w| w == &plain[..64]));
        }
    }
    assert_eq!(c.list_all().await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_wrong_digest_keeps_nothing_and_tampering_fails_the_read() {
    let tmp = tempfile::tempdir().unwrap();
    let c = crypt(tmp.path());
    let store = c.store("arn:aws:kms:us-east-1:000000000000:key/k1").unwrap();
    let plain = vec![5u8; 2 * CHUNK];
    let wrong = Digest::sha256_of(b"something else");
    assert!(matches!(
        store.put_stream(&wrong, stream_of(plain.clone())).await,
        Err(BlobError::DigestMismatch { .. })
    ));
    assert!(files(tmp.path()).is_empty(), "{:?}", files(tmp.path()));
    let d = Digest::sha256_of(&plain);
    store.put_stream(&d, stream_of(plain.clone())).await.unwrap();
    let path = store.path_of(&d);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(read(&store, &d, None).await.is_err());
    // Truncated to its first chunk: the missing last chunk is noticed.
    bytes.truncate(format::chunk_offset(Header::len_from_prefix(&bytes[..12]).unwrap(), 1) as usize);
    std::fs::write(&path, &bytes).unwrap();
    assert!(read(&store, &d, None).await.is_err());
    assert!(c.delete_everywhere(&d).await.unwrap());
    assert_eq!(store.stat(&d).await.unwrap(), None);
}
