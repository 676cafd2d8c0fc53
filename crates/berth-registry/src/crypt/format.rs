//! The file format of an encrypted blob (pure): a header — magic, the data
//! key wrapped by KMS, a random nonce prefix — then the plaintext in chunks
//! of [`CHUNK`] bytes, each sealed with AES-256-GCM under the blob's own data
//! key. A chunk's nonce is the prefix and its index; its additional data
//! says whether it is the last, so chunks cannot be reordered, dropped or
//! the file truncated without the read failing. Any byte range is read by
//! opening only the chunks it covers.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

pub const MAGIC: &[u8; 8] = b"BERTHKB1";
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// The GCM tag each sealed chunk carries.
pub const TAG: usize = 16;
const SEALED: u64 = (CHUNK + TAG) as u64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not an encrypted blob file")]
    Malformed,
    #[error("an encrypted blob chunk failed authentication (tampered or truncated)")]
    Authentication,
}

/// The header of an encrypted blob file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub wrapped_key: Vec<u8>,
    pub nonce_prefix: [u8; 4],
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.wrapped_key.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.wrapped_key);
        out.extend_from_slice(&self.nonce_prefix);
        out
    }

    pub fn encoded_len(&self) -> usize {
        MAGIC.len() + 4 + self.wrapped_key.len() + 4
    }

    /// How many bytes the header of a file starting with `first12` has.
    pub fn len_from_prefix(first12: &[u8]) -> Result<usize, FormatError> {
        if first12.len() < 12 || &first12[..8] != MAGIC {
            return Err(FormatError::Malformed);
        }
        let n = u32::from_be_bytes([first12[8], first12[9], first12[10], first12[11]]) as usize;
        if n > 4096 {
            return Err(FormatError::Malformed);
        }
        Ok(12 + n + 4)
    }

    pub fn decode(buf: &[u8]) -> Result<Self, FormatError> {
        let len = Self::len_from_prefix(buf)?;
        if buf.len() < len {
            return Err(FormatError::Malformed);
        }
        let wrapped_key = buf[12..len - 4].to_vec();
        let mut nonce_prefix = [0u8; 4];
        nonce_prefix.copy_from_slice(&buf[len - 4..len]);
        Ok(Self {
            wrapped_key,
            nonce_prefix,
        })
    }
}

/// The plaintext size of a file whose chunks take `body` bytes.
pub fn plain_size(body: u64) -> Result<u64, FormatError> {
    let (full, rem) = (body / SEALED, body % SEALED);
    match rem {
        0 if full == 0 => Err(FormatError::Malformed),
        0 => Ok(full * CHUNK as u64),
        r if r < TAG as u64 => Err(FormatError::Malformed),
        r => Ok(full * CHUNK as u64 + r - TAG as u64),
    }
}

/// How many chunks hold `size` plaintext bytes (an empty blob has one).
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK as u64).max(1)
}

/// Where chunk `index` starts in the file.
pub fn chunk_offset(header_len: usize, index: u64) -> u64 {
    header_len as u64 + index * SEALED
}

fn nonce(prefix: [u8; 4], index: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&prefix);
    n[4..].copy_from_slice(&index.to_be_bytes());
    n
}

pub fn seal_chunk(key: &[u8; 32], prefix: [u8; 4], index: u64, last: bool, plain: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .encrypt(
            Nonce::from_slice(&nonce(prefix, index)),
            Payload {
                msg: plain,
                aad: &[u8::from(last)],
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail")
}

pub fn open_chunk(
    key: &[u8; 32],
    prefix: [u8; 4],
    index: u64,
    last: bool,
    sealed: &[u8],
) -> Result<Vec<u8>, FormatError> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt(
            Nonce::from_slice(&nonce(prefix, index)),
            Payload {
                msg: sealed,
                aad: &[u8::from(last)],
            },
        )
        .map_err(|_| FormatError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_all(key: &[u8; 32], prefix: [u8; 4], plain: &[u8]) -> Vec<u8> {
        let n = chunk_count(plain.len() as u64);
        let mut out = vec![];
        for i in 0..n {
            let s = (i as usize) * CHUNK;
            let e = (s + CHUNK).min(plain.len());
            out.extend(seal_chunk(key, prefix, i, i == n - 1, &plain[s..e]));
        }
        out
    }

    #[test]
    fn headers_round_trip() {
        let h = Header {
            wrapped_key: vec![7; 150],
            nonce_prefix: [1, 2, 3, 4],
        };
        let b = h.encode();
        assert_eq!(b.len(), h.encoded_len());
        assert_eq!(Header::len_from_prefix(&b[..12]).unwrap(), h.encoded_len());
        assert_eq!(Header::decode(&b).unwrap(), h);
        assert_eq!(Header::decode(b"not a header at all"), Err(FormatError::Malformed));
    }

    #[test]
    fn sizes_follow_the_chunks() {
        let key = [9u8; 32];
        for size in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
            let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let body = seal_all(&key, [0; 4], &plain);
            assert_eq!(plain_size(body.len() as u64).unwrap(), size as u64, "{size}");
            assert_eq!(
                chunk_count(size as u64),
                body.len().div_ceil(CHUNK + TAG) as u64,
                "{size}"
            );
            assert!(
                !body
                    .windows(16.min(size.max(1)))
                    .any(|w| size >= 16 && w == &plain[..16])
            );
        }
        assert!(plain_size(0).is_err());
        assert!(plain_size(5).is_err());
    }

    #[test]
    fn chunks_are_bound_to_their_place_and_key() {
        let key = [3u8; 32];
        let a = seal_chunk(&key, [1; 4], 0, false, b"first");
        assert_eq!(open_chunk(&key, [1; 4], 0, false, &a).unwrap(), b"first");
        // Another index, the last flag flipped, another key, a flipped bit.
        assert!(open_chunk(&key, [1; 4], 1, false, &a).is_err());
        assert!(open_chunk(&key, [1; 4], 0, true, &a).is_err());
        assert!(open_chunk(&[4u8; 32], [1; 4], 0, false, &a).is_err());
        let mut t = a.clone();
        t[0] ^= 1;
        assert_eq!(open_chunk(&key, [1; 4], 0, false, &t), Err(FormatError::Authentication));
    }
}
