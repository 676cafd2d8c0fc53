//! IAM and STS secrets at rest: an access key's secret, a session's secret
//! and session token are kept in the store only sealed (authenticated
//! encryption bound to the record they belong to) by a [`SecretSealer`] the
//! server hands to [`crate::Iam::open`]; the binary wires it to the KMS master
//! key. SigV4 verification needs the secret back, so it is encrypted, not
//! hashed; the in-memory [`crate::directory::Directory`] holds it opened.

use crate::records::{AccessKeyRec, SessionRec};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the sealed value is not valid base64")]
    Encoding,
    #[error("the sealed value does not open under this server's master key (tampered, moved, or another key)")]
    Open,
    #[error("the opened value is not UTF-8")]
    NotText,
}

/// Authenticated encryption of small secrets under a key IAM never sees.
pub trait SecretSealer: Send + Sync {
    /// Encrypts `plaintext`, authenticating `aad` with it.
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8>;
    /// The inverse of [`SecretSealer::seal`] with the same `aad`.
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError>;
}

/// The authenticated data of each sealed field: the record kind, its access
/// key id and the field, so a sealed value cannot be moved to another record.
fn aad(kind: &str, access_key_id: &str, field: &str) -> Vec<u8> {
    format!("berth-iam/{kind}/{access_key_id}/{field}").into_bytes()
}

fn seal_text(sealer: &dyn SecretSealer, text: &str, aad: &[u8]) -> String {
    B64.encode(sealer.seal(text.as_bytes(), aad))
}

fn open_text(sealer: &dyn SecretSealer, sealed: &str, aad: &[u8]) -> Result<String, SealError> {
    let bytes = B64.decode(sealed).map_err(|_| SealError::Encoding)?;
    String::from_utf8(sealer.open(&bytes, aad)?).map_err(|_| SealError::NotText)
}

/// The record as stored: the secret moved into its sealed form.
pub fn seal_access_key(sealer: &dyn SecretSealer, k: &AccessKeyRec) -> AccessKeyRec {
    let mut out = k.clone();
    out.sealed_secret = Some(seal_text(
        sealer,
        &k.secret_access_key,
        &aad("access-key", &k.access_key_id, "secret"),
    ));
    out.secret_access_key = String::new();
    out
}

/// The record as read: the secret opened (a record stored before sealing
/// existed keeps its clear secret; [`needs_sealing`] tells it apart).
pub fn open_access_key(sealer: &dyn SecretSealer, mut k: AccessKeyRec) -> Result<AccessKeyRec, SealError> {
    if let Some(sealed) = k.sealed_secret.take() {
        k.secret_access_key = open_text(sealer, &sealed, &aad("access-key", &k.access_key_id, "secret"))?;
    }
    Ok(k)
}

pub fn seal_session(sealer: &dyn SecretSealer, s: &SessionRec) -> SessionRec {
    let mut out = s.clone();
    out.sealed_secret = Some(seal_text(
        sealer,
        &s.secret_access_key,
        &aad("session", &s.access_key_id, "secret"),
    ));
    out.sealed_session_token = Some(seal_text(
        sealer,
        &s.session_token,
        &aad("session", &s.access_key_id, "token"),
    ));
    out.secret_access_key = String::new();
    out.session_token = String::new();
    out
}

pub fn open_session(sealer: &dyn SecretSealer, mut s: SessionRec) -> Result<SessionRec, SealError> {
    if let Some(sealed) = s.sealed_secret.take() {
        s.secret_access_key = open_text(sealer, &sealed, &aad("session", &s.access_key_id, "secret"))?;
    }
    if let Some(sealed) = s.sealed_session_token.take() {
        s.session_token = open_text(sealer, &sealed, &aad("session", &s.access_key_id, "token"))?;
    }
    Ok(s)
}

/// Whether a stored access key still carries its secret in clear.
pub fn key_needs_sealing(k: &AccessKeyRec) -> bool {
    !k.secret_access_key.is_empty()
}

/// Whether a stored session still carries its secret or token in clear.
pub fn session_needs_sealing(s: &SessionRec) -> bool {
    !s.secret_access_key.is_empty() || !s.session_token.is_empty()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A reversible test sealer: XOR with a key stream derived from the
    /// AAD, and a checksum so a wrong AAD fails to open. Tests only.
    pub(crate) struct TestSealer;

    fn stream(aad: &[u8], n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                aad.iter()
                    .fold(i as u8 ^ 0x5a, |a, b| a.wrapping_mul(31).wrapping_add(*b))
            })
            .collect()
    }

    impl SecretSealer for TestSealer {
        fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
            let mut out: Vec<u8> = plaintext
                .iter()
                .zip(stream(aad, plaintext.len()))
                .map(|(p, k)| p ^ k)
                .collect();
            out.push(aad.iter().fold(0u8, |a, b| a.wrapping_add(*b)));
            out
        }
        fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
            let (body, check) = sealed.split_at(sealed.len().checked_sub(1).ok_or(SealError::Open)?);
            if check[0] != aad.iter().fold(0u8, |a, b| a.wrapping_add(*b)) {
                return Err(SealError::Open);
            }
            Ok(body.iter().zip(stream(aad, body.len())).map(|(c, k)| c ^ k).collect())
        }
    }

    fn key() -> AccessKeyRec {
        AccessKeyRec {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            sealed_secret: None,
            user_name: "alice".into(),
            status: "Active".into(),
            create_date: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn an_access_key_is_stored_without_its_secret_and_opens_back() {
        let k = key();
        let stored = seal_access_key(&TestSealer, &k);
        assert!(stored.secret_access_key.is_empty());
        assert!(!key_needs_sealing(&stored));
        let json = serde_json::to_string(&stored).unwrap();
        assert!(!json.contains(&k.secret_access_key), "{json}");
        let back: AccessKeyRec = serde_json::from_str(&json).unwrap();
        assert_eq!(
            open_access_key(&TestSealer, back).unwrap().secret_access_key,
            k.secret_access_key
        );
    }

    #[test]
    fn debug_output_leaves_secrets_out() {
        let k = key();
        assert!(!format!("{k:?}").contains(&k.secret_access_key));
    }

    #[test]
    fn a_sealed_secret_moved_to_another_key_does_not_open() {
        let mut stored = seal_access_key(&TestSealer, &key());
        stored.access_key_id = "AKIAOTHER".into();
        assert_eq!(open_access_key(&TestSealer, stored).unwrap_err(), SealError::Open);
    }

    #[test]
    fn a_clear_record_reads_as_is_and_asks_to_be_sealed() {
        let k = key();
        assert!(key_needs_sealing(&k));
        assert_eq!(
            open_access_key(&TestSealer, k.clone()).unwrap().secret_access_key,
            k.secret_access_key
        );
    }

    #[test]
    fn a_session_seals_its_secret_and_token() {
        let s = SessionRec {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "sessionsecret".into(),
            session_token: "sessiontoken".into(),
            sealed_secret: None,
            sealed_session_token: None,
            expiration: 0,
            arn: "arn:aws:sts::1:assumed-role/r/s".into(),
            user_id: "AROA:s".into(),
            is_root: false,
            user_name: None,
            role_name: Some("r".into()),
        };
        let stored = seal_session(&TestSealer, &s);
        let json = serde_json::to_string(&stored).unwrap();
        assert!(
            !json.contains("sessionsecret") && !json.contains("sessiontoken"),
            "{json}"
        );
        assert!(!session_needs_sealing(&stored));
        let back = open_session(&TestSealer, serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back.secret_access_key, "sessionsecret");
        assert_eq!(back.session_token, "sessiontoken");
    }
}
