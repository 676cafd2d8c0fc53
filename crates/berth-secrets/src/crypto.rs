//! The cryptography, pure: AES-256-GCM sealing, the KMS ciphertext blob
//! format, the envelope format of stored secret values, and loading or
//! creating the master key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use std::collections::BTreeMap;
use std::path::Path;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
/// The first bytes of every ciphertext blob Berth's KMS hands out.
pub const BLOB_MAGIC: &[u8; 4] = b"BKM1";
/// The first bytes of an envelope (a value sealed under a data key).
pub const ENVELOPE_MAGIC: &[u8; 4] = b"BEN1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the ciphertext is malformed")]
    Malformed,
    #[error("the ciphertext could not be authenticated (tampered, wrong key or wrong encryption context)")]
    Authentication,
    #[error("the master key is invalid: {0}")]
    MasterKey(String),
}

/// Fresh random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// AES-256-GCM: nonce || ciphertext+tag, with `aad` authenticated.
pub fn seal(key: &[u8], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new_from_slice(key).expect("a 32-byte key");
    let nonce = random_bytes(NONCE_LEN);
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = nonce;
    out.extend_from_slice(&ct);
    out
}

/// The inverse of [`seal`].
pub fn open(key: &[u8], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(CryptoError::Malformed);
    }
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Malformed)?;
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| CryptoError::Authentication)
}

/// The encryption context as authenticated data: a canonical (sorted) encoding.
pub fn context_aad(context: &BTreeMap<String, String>) -> Vec<u8> {
    serde_json::to_vec(context).unwrap_or_default()
}

/// A KMS ciphertext blob: `BKM1 || len(key id) || key id || nonce || ct+tag`.
/// The key id travels with the ciphertext so Decrypt needs no KeyId.
pub fn encode_blob(key_id: &str, sealed: &[u8]) -> Vec<u8> {
    let mut out = BLOB_MAGIC.to_vec();
    out.push(key_id.len() as u8);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(sealed);
    out
}

/// Splits a blob into (key id, sealed bytes).
pub fn decode_blob(blob: &[u8]) -> Result<(String, &[u8]), CryptoError> {
    let rest = blob.strip_prefix(BLOB_MAGIC.as_slice()).ok_or(CryptoError::Malformed)?;
    let (&len, rest) = rest.split_first().ok_or(CryptoError::Malformed)?;
    let len = len as usize;
    if rest.len() < len + NONCE_LEN + 16 {
        return Err(CryptoError::Malformed);
    }
    let id = std::str::from_utf8(&rest[..len]).map_err(|_| CryptoError::Malformed)?;
    Ok((id.to_string(), &rest[len..]))
}

/// An envelope: `BEN1 || u16 len(wrapped data key) || wrapped data key || sealed value`.
pub fn encode_envelope(wrapped_key: &[u8], sealed: &[u8]) -> Vec<u8> {
    let mut out = ENVELOPE_MAGIC.to_vec();
    out.extend_from_slice(&(wrapped_key.len() as u16).to_be_bytes());
    out.extend_from_slice(wrapped_key);
    out.extend_from_slice(sealed);
    out
}

/// Splits an envelope into (wrapped data key, sealed value).
pub fn decode_envelope(env: &[u8]) -> Result<(&[u8], &[u8]), CryptoError> {
    let rest = env
        .strip_prefix(ENVELOPE_MAGIC.as_slice())
        .ok_or(CryptoError::Malformed)?;
    if rest.len() < 2 {
        return Err(CryptoError::Malformed);
    }
    let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
    let rest = &rest[2..];
    if rest.len() < len {
        return Err(CryptoError::Malformed);
    }
    Ok(rest.split_at(len))
}

/// Parses an operator-given master key (base64 of 32 bytes).
pub fn parse_master_key(b64: &str) -> Result<Vec<u8>, CryptoError> {
    let key = B64
        .decode(b64.trim())
        .map_err(|e| CryptoError::MasterKey(format!("not base64: {e}")))?;
    if key.len() != KEY_LEN {
        return Err(CryptoError::MasterKey(format!(
            "it must be {KEY_LEN} bytes, got {}",
            key.len()
        )));
    }
    Ok(key)
}

/// Reads the master key file, creating it (32 random bytes, mode 0600) on first start.
pub fn load_or_create_master_key(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(k) if k.len() == KEY_LEN => return Ok(k),
        Ok(k) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} holds {} bytes, expected {KEY_LEN}", path.display(), k.len()),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let key = random_bytes(KEY_LEN);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let mut f = opts.open(path)?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let key = random_bytes(KEY_LEN);
        let s = seal(&key, b"hello", b"ctx");
        assert_eq!(open(&key, &s, b"ctx").unwrap(), b"hello");
        assert_eq!(open(&key, &s, b"other"), Err(CryptoError::Authentication));
        let mut t = s.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert_eq!(open(&key, &t, b"ctx"), Err(CryptoError::Authentication));
        assert_eq!(open(&key, &s[..10], b"ctx"), Err(CryptoError::Malformed));
        assert_eq!(
            open(&random_bytes(KEY_LEN), &s, b"ctx"),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn blob_round_trip() {
        let sealed = vec![7u8; NONCE_LEN + 20];
        let b = encode_blob("1234abcd-12ab-34cd-56ef-1234567890ab", &sealed);
        let (id, s) = decode_blob(&b).unwrap();
        assert_eq!(id, "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(s, sealed.as_slice());
        assert_eq!(decode_blob(b"nope"), Err(CryptoError::Malformed));
        assert_eq!(decode_blob(&b[..10]).unwrap_err(), CryptoError::Malformed);
    }

    #[test]
    fn envelope_round_trip() {
        let e = encode_envelope(b"wrapped", b"sealed-value");
        assert_eq!(decode_envelope(&e).unwrap(), (&b"wrapped"[..], &b"sealed-value"[..]));
        assert!(decode_envelope(b"BEN1\x00\x09ab").is_err());
    }

    #[test]
    fn context_is_canonical() {
        let mut a = BTreeMap::new();
        a.insert("b".to_string(), "2".to_string());
        a.insert("a".to_string(), "1".to_string());
        assert_eq!(context_aad(&a), br#"{"a":"1","b":"2"}"#);
    }

    #[test]
    fn master_key_parse_and_file() {
        assert!(parse_master_key(&B64.encode([1u8; 32])).is_ok());
        assert!(parse_master_key(&B64.encode([1u8; 16])).is_err());
        assert!(parse_master_key("!!").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kms-master.key");
        let k1 = load_or_create_master_key(&p).unwrap();
        let k2 = load_or_create_master_key(&p).unwrap();
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
