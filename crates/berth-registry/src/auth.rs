//! Registry authentication.
//!
//! * `GetAuthorizationToken` issues a password: a token Berth signs itself
//!   (HMAC-SHA256 over the principal and an expiry, with a key kept in
//!   `DATA_DIR/registry/token-key`, mode 0600, generated on first start).
//!   Clients log in with user `AWS` and send it as HTTP Basic credentials.
//! * A SigV4-signed request is also accepted, through a
//!   [`RequestAuthenticator`] the binary supplies (IAM lives there).
//! * `GetDownloadUrlForLayer` URLs carry their own HMAC and expiry.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use berth_proto::sigv4::{HttpRequestParts, UnsignedPayload};
use berth_proto::{AwsError, Principal};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::io;
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// How long a `GetAuthorizationToken` password is valid (as ECR: 12 hours).
pub const TOKEN_LIFETIME_SECS: i64 = 12 * 3600;
/// The token format: version 1 (before unique ids) is no longer accepted.
const TOKEN_VERSION: u8 = 2;
/// How long a `GetDownloadUrlForLayer` URL is valid.
pub const DOWNLOAD_URL_LIFETIME_SECS: i64 = 3600;

/// Verifies a SigV4-signed request and says who made it. The binary
/// implements this with IAM's authenticator; any closure of the right
/// shape works too.
///
/// `req.payload_sha256_hex` is the payload hash the signature covers
/// (`x-amz-content-sha256`, or the hash of an empty body); the registry
/// checks the body against it while streaming. `unsigned_payload` says
/// whether this request may carry `UNSIGNED-PAYLOAD` (bodiless requests and
/// digest-checked blob uploads only).
pub trait RequestAuthenticator: Send + Sync + 'static {
    fn authenticate(
        &self,
        req: &HttpRequestParts<'_>,
        unsigned_payload: UnsignedPayload,
    ) -> Result<Principal, AwsError>;
}

impl<F> RequestAuthenticator for F
where
    F: Fn(&HttpRequestParts<'_>, UnsignedPayload) -> Result<Principal, AwsError> + Send + Sync + 'static,
{
    fn authenticate(
        &self,
        req: &HttpRequestParts<'_>,
        unsigned_payload: UnsignedPayload,
    ) -> Result<Principal, AwsError> {
        self(req, unsigned_payload)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the authorization token is malformed")]
    Malformed,
    #[error("the authorization token's signature is invalid")]
    BadSignature,
    #[error("the authorization token has expired")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    /// Version of the token format (2: bound to the principal's unique id).
    v: u8,
    arn: String,
    /// The principal's unique id (`AIDA…`, `AROA…:session`, the account id).
    uid: String,
    acct: String,
    akid: String,
    root: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    /// Expiry, epoch seconds.
    exp: i64,
}

/// The signing key for registry tokens and download URLs.
pub struct TokenKey {
    key: [u8; 32],
}

impl TokenKey {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// Reads the key at `path`, creating it (32 random bytes, mode 0600) on
    /// first use.
    pub fn load_or_create(path: &Path) -> io::Result<Self> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} must hold exactly 32 bytes; remove it to generate a new key \
                             (issued registry passwords become invalid)",
                            path.display()
                        ),
                    )
                })?;
                Ok(Self { key })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                use rand::RngCore;
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut f = match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(f) => f,
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Self::load_or_create(path),
                    Err(e) => return Err(e),
                };
                f.write_all(&key)?;
                f.sync_all()?;
                Ok(Self { key })
            }
            Err(e) => Err(e),
        }
    }

    fn mac(&self, domain: &str, data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(domain.as_bytes());
        mac.update(b"\n");
        mac.update(data);
        mac
    }

    /// Issues a registry password for `principal`, valid until `expires_at`.
    pub fn issue(&self, principal: &Principal, expires_at: i64) -> String {
        let claims = Claims {
            v: TOKEN_VERSION,
            arn: principal.arn.clone(),
            uid: principal.unique_id.clone(),
            acct: principal.account_id.clone(),
            akid: principal.access_key_id.clone(),
            root: principal.is_root,
            user: principal.user_name.clone(),
            exp: expires_at,
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let sig = URL_SAFE_NO_PAD.encode(
            self.mac("berth-registry-token", payload.as_bytes())
                .finalize()
                .into_bytes(),
        );
        format!("{payload}.{sig}")
    }

    /// Verifies a password issued by [`TokenKey::issue`].
    pub fn verify(&self, token: &str, now: i64) -> Result<Principal, TokenError> {
        let (payload, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| TokenError::Malformed)?;
        self.mac("berth-registry-token", payload.as_bytes())
            .verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.v != TOKEN_VERSION {
            return Err(TokenError::Malformed);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(Principal {
            arn: claims.arn,
            account_id: claims.acct,
            access_key_id: claims.akid,
            is_root: claims.root,
            user_name: claims.user,
            unique_id: claims.uid,
        })
    }

    /// The signature of a download URL for `digest` in `repository`.
    pub fn sign_download(&self, repository: &str, digest: &str, expires_at: i64) -> String {
        let data = format!("{repository}\n{digest}\n{expires_at}");
        hex::encode(
            self.mac("berth-registry-download", data.as_bytes())
                .finalize()
                .into_bytes(),
        )
    }

    pub fn verify_download(
        &self,
        repository: &str,
        digest: &str,
        expires_at: i64,
        signature: &str,
        now: i64,
    ) -> Result<(), TokenError> {
        let sig = hex::decode(signature).map_err(|_| TokenError::Malformed)?;
        let data = format!("{repository}\n{digest}\n{expires_at}");
        self.mac("berth-registry-download", data.as_bytes())
            .verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

/// `base64("AWS:" + password)`, the `authorizationToken` ECR returns.
pub fn authorization_token(password: &str) -> String {
    STANDARD.encode(format!("AWS:{password}"))
}

/// Parses `Authorization: Basic …` into (user, password).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            arn: "arn:aws:iam::000000000000:user/alice".into(),
            account_id: "000000000000".into(),
            access_key_id: "AKIAEXAMPLE".into(),
            is_root: false,
            user_name: Some("alice".into()),
            unique_id: "AIDAALICE".into(),
        }
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let k = TokenKey::from_bytes([7; 32]);
        let t = k.issue(&principal(), 1000);
        assert_eq!(k.verify(&t, 999).unwrap(), principal());
        assert_eq!(k.verify(&t, 1000), Err(TokenError::Expired));
        let other = TokenKey::from_bytes([8; 32]);
        assert_eq!(other.verify(&t, 0), Err(TokenError::BadSignature));
        assert_eq!(k.verify("garbage", 0), Err(TokenError::Malformed));
        // Tampering with the claims breaks the signature.
        let (payload, sig) = t.split_once('.').unwrap();
        let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        claims["exp"] = serde_json::json!(99999);
        let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()));
        assert_eq!(k.verify(&forged, 0), Err(TokenError::BadSignature));
    }

    #[test]
    fn tokens_carry_the_unique_id_and_old_formats_are_refused() {
        let k = TokenKey::from_bytes([7; 32]);
        let t = k.issue(&principal(), 1000);
        assert_eq!(k.verify(&t, 0).unwrap().unique_id, "AIDAALICE");
        // A version-1 token (bound to the ARN only), correctly signed, is refused.
        let v1 = serde_json::json!({
            "v": 1, "arn": "arn:aws:iam::000000000000:user/alice", "acct": "000000000000",
            "akid": "AKIAEXAMPLE", "root": false, "user": "alice", "exp": 1000
        });
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v1).unwrap());
        let sig = URL_SAFE_NO_PAD.encode(
            k.mac("berth-registry-token", payload.as_bytes())
                .finalize()
                .into_bytes(),
        );
        assert_eq!(k.verify(&format!("{payload}.{sig}"), 0), Err(TokenError::Malformed));
    }

    #[test]
    fn download_signatures() {
        let k = TokenKey::from_bytes([1; 32]);
        let s = k.sign_download("app", "sha256:x", 50);
        assert!(k.verify_download("app", "sha256:x", 50, &s, 10).is_ok());
        assert_eq!(
            k.verify_download("app", "sha256:x", 50, &s, 60),
            Err(TokenError::Expired)
        );
        assert_eq!(
            k.verify_download("other", "sha256:x", 50, &s, 10),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            k.verify_download("app", "sha256:x", 51, &s, 10),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn key_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("registry").join("token-key");
        let k1 = TokenKey::load_or_create(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let k2 = TokenKey::load_or_create(&p).unwrap();
        let t = k1.issue(&principal(), 10);
        assert!(k2.verify(&t, 0).is_ok());
        std::fs::write(&p, b"short").unwrap();
        assert!(TokenKey::load_or_create(&p).is_err());
    }

    #[test]
    fn basic_credentials() {
        let h = format!("Basic {}", STANDARD.encode("AWS:tok.en:with:colons"));
        assert_eq!(parse_basic(&h), Some(("AWS".into(), "tok.en:with:colons".into())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(authorization_token("p"), STANDARD.encode("AWS:p"));
    }
}
