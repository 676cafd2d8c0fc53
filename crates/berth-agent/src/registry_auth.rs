//! Credentials for pulling images from the Berth registry.
//!
//! The agent asks the control plane for an ECR authorization token
//! (`GetAuthorizationToken`, signed with the agent's own credentials) and
//! learns the registry host from its `proxyEndpoint`. When an image's
//! registry host is that host, the pull carries Docker registry auth: user
//! `AWS`, password = the token. The token is cached until shortly before it
//! expires. Images from any other registry are pulled without credentials.
//!
//! A task with an execution role pulls from the Berth registry with a token
//! the execution role gets (the engine asks [`RegistryAuth::token`] with the
//! role's client); tasks without one use the agent's own identity, like the
//! EC2 ECS agent's instance role.

use crate::client::{ApiClient, ApiError};

/// Why there is no registry token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("GetAuthorizationToken answered without usable authorizationData")]
    Unusable,
}
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bollard::auth::DockerCredentials;
use serde_json::{Value, json};

/// A token is renewed this many seconds before it expires.
pub const REFRESH_MARGIN_SECS: f64 = 15.0 * 60.0;

/// The registry host of an image reference (`host[:port]`), or None for
/// Docker Hub references (`busybox`, `library/nginx:1`, `team/app`). The
/// first path component is a host when it has a `.` or a `:` or is
/// `localhost`, as Docker decides.
pub fn image_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// The `host[:port]` of a `proxyEndpoint` (`http://127.0.0.1:4600`).
pub fn endpoint_host(proxy_endpoint: &str) -> String {
    let rest = proxy_endpoint
        .split_once("://")
        .map_or(proxy_endpoint, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_ascii_lowercase()
}

/// Splits an `authorizationToken` (`base64("AWS:" + password)`) into user
/// and password.
pub fn decode_token(token: &str) -> Option<(String, String)> {
    let text = String::from_utf8(STANDARD.decode(token.trim()).ok()?).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// One `authorizationData` entry, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryToken {
    /// `host[:port]` of the registry.
    pub host: String,
    pub username: String,
    pub password: String,
    /// Epoch seconds.
    pub expires_at: f64,
}

impl RegistryToken {
    /// Reads the first entry of a `GetAuthorizationToken` answer.
    pub fn from_response(v: &Value) -> Option<Self> {
        let data = v.get("authorizationData")?.as_array()?.first()?;
        let (username, password) = decode_token(data.get("authorizationToken")?.as_str()?)?;
        Some(Self {
            host: endpoint_host(data.get("proxyEndpoint")?.as_str()?),
            username,
            password,
            expires_at: data.get("expiresAt")?.as_f64()?,
        })
    }

    /// Whether the token is still good at `now` (epoch seconds) with the
    /// refresh margin.
    pub fn is_fresh(&self, now: f64) -> bool {
        now + REFRESH_MARGIN_SECS < self.expires_at
    }

    /// The credentials for `image` when its host is this registry.
    pub fn credentials_for(&self, image: &str) -> Option<DockerCredentials> {
        let host = image_host(image)?;
        host.eq_ignore_ascii_case(&self.host).then(|| DockerCredentials {
            username: Some(self.username.clone()),
            password: Some(self.password.clone()),
            serveraddress: Some(self.host.clone()),
            ..Default::default()
        })
    }
}

/// Fetches and caches the Berth registry token.
pub struct RegistryAuth {
    api: ApiClient,
    /// The newest token and the registry host it is for (renewed, with the
    /// host, shortly before it expires).
    cached: tokio::sync::Mutex<Option<RegistryToken>>,
}

impl RegistryAuth {
    pub fn new(api: ApiClient) -> Self {
        Self {
            api,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A fresh token (not cached): the error says why there is none.
    pub async fn token(&self) -> Result<RegistryToken, TokenError> {
        let v = self.api.call_ecr("GetAuthorizationToken", &json!({})).await?;
        RegistryToken::from_response(&v).ok_or(TokenError::Unusable)
    }

    /// Docker registry credentials for pulling `image`: Some when its host
    /// is the Berth registry. A failure to get a token is logged and the
    /// pull goes on (with the last token, or none; its error says why).
    pub async fn credentials_for(&self, image: &str) -> Option<DockerCredentials> {
        // Images without a registry host (Docker Hub) never need the token.
        image_host(image)?;
        let mut cached = self.cached.lock().await;
        let now = berth_core::time::now_epoch();
        if cached.as_ref().is_none_or(|t| !t.is_fresh(now)) {
            match self.api.call_ecr("GetAuthorizationToken", &json!({})).await {
                Ok(v) => match RegistryToken::from_response(&v) {
                    Some(t) => *cached = Some(t),
                    None => tracing::warn!("GetAuthorizationToken answered without usable authorizationData"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, image, "cannot get a registry token; a pull from the Berth registry may be refused")
                }
            }
        }
        cached.as_ref().and_then(|t| t.credentials_for(image))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_hosts_follow_docker_rules() {
        assert_eq!(image_host("busybox"), None);
        assert_eq!(image_host("busybox:1.36"), None);
        assert_eq!(image_host("team/app:1"), None);
        assert_eq!(image_host("127.0.0.1:4600/app:1"), Some("127.0.0.1:4600"));
        assert_eq!(image_host("localhost/app"), Some("localhost"));
        assert_eq!(image_host("public.ecr.aws/nginx/nginx:1.25"), Some("public.ecr.aws"));
        assert_eq!(image_host("127.0.0.1:4600/team/app@sha256:ab"), Some("127.0.0.1:4600"));
    }

    #[test]
    fn proxy_endpoints_become_hosts() {
        assert_eq!(endpoint_host("http://127.0.0.1:4600"), "127.0.0.1:4600");
        assert_eq!(endpoint_host("https://Registry.Example:443/"), "registry.example:443");
        assert_eq!(endpoint_host("127.0.0.1:4600"), "127.0.0.1:4600");
    }

    fn response(expires_at: f64) -> Value {
        json!({"authorizationData": [{
            "authorizationToken": STANDARD.encode("AWS:pass.word:x"),
            "expiresAt": expires_at,
            "proxyEndpoint": "http://127.0.0.1:4600",
        }]})
    }

    #[test]
    fn tokens_give_credentials_only_for_their_registry() {
        let t = RegistryToken::from_response(&response(1000.0)).unwrap();
        assert_eq!(t.host, "127.0.0.1:4600");
        assert_eq!((t.username.as_str(), t.password.as_str()), ("AWS", "pass.word:x"));
        let c = t.credentials_for("127.0.0.1:4600/team/app:1").unwrap();
        assert_eq!(c.username.as_deref(), Some("AWS"));
        assert_eq!(c.password.as_deref(), Some("pass.word:x"));
        assert_eq!(c.serveraddress.as_deref(), Some("127.0.0.1:4600"));
        assert!(t.credentials_for("127.0.0.1:4601/app:1").is_none());
        assert!(t.credentials_for("busybox").is_none());
        assert!(t.credentials_for("localhost:4600/app").is_none());
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let t = RegistryToken::from_response(&response(10_000.0)).unwrap();
        assert!(t.is_fresh(10_000.0 - REFRESH_MARGIN_SECS - 1.0));
        assert!(!t.is_fresh(10_000.0 - REFRESH_MARGIN_SECS));
        assert!(!t.is_fresh(20_000.0));
    }

    #[test]
    fn malformed_answers_are_rejected() {
        assert!(RegistryToken::from_response(&json!({})).is_none());
        assert!(RegistryToken::from_response(&json!({"authorizationData": []})).is_none());
        let bad =
            json!({"authorizationData": [{"authorizationToken": "!!", "expiresAt": 1.0, "proxyEndpoint": "http://h"}]});
        assert!(RegistryToken::from_response(&bad).is_none());
        assert_eq!(decode_token(&STANDARD.encode("nocolon")), None);
    }
}
