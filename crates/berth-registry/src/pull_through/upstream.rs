//! The client of an upstream registry (the Distribution API): manifests and
//! blobs of one repository, with the registry's anonymous or Basic
//! credentials, and the Bearer token flow registries such as Docker Hub
//! answer a `401` with (`WWW-Authenticate: Bearer realm=…,service=…`).

use crate::blob::ByteStream;
use crate::manifest::MAX_MANIFEST_BYTES;
use bytes::Bytes;
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::time::Duration;

/// Every manifest type Berth stores, as an upstream is asked for them.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                      application/vnd.docker.distribution.manifest.list.v2+json, \
                      application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream registry has no {0}")]
    NotFound(String),
    #[error("the upstream registry refused the request ({0}); check the rule's credentials")]
    Unauthorized(StatusCode),
    #[error("the upstream registry answered {status} for {what}")]
    Status { status: StatusCode, what: String },
    #[error("the upstream registry could not be reached: {0}")]
    Unreachable(String),
    #[error("the upstream manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge,
    #[error("the upstream's {what} has digest {actual}, not {expected}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
}

/// One manifest as the upstream served it.
#[derive(Debug)]
pub struct UpstreamManifest {
    pub bytes: Bytes,
    pub content_type: Option<String>,
}

/// A conversation with one repository of one upstream registry.
pub struct Session {
    http: reqwest::Client,
    /// `scheme://host`.
    base: String,
    repository: String,
    basic: Option<(String, String)>,
    bearer: Option<String>,
}

/// The HTTP client the registry pulls through with (shared; no cookies, no
/// redirects followed off the upstream's answers other than to blob storage).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

/// The parameters of a `Bearer` challenge (`realm`, `service`, `scope`).
pub fn parse_bearer_challenge(header: &str) -> Option<BTreeMap<String, String>> {
    let rest = header
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| header.trim().strip_prefix("bearer "))?;
    let mut out = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        s = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out.contains_key("realm").then_some(out)
}

impl Session {
    pub fn new(http: reqwest::Client, base: String, repository: String, basic: Option<(String, String)>) -> Self {
        Self {
            http,
            base,
            repository,
            basic,
            bearer: None,
        }
    }

    /// GETs a path of the repository (`manifests/REF`, `blobs/DIGEST`).
    async fn get(&mut self, path: &str, accept: Option<&str>) -> Result<reqwest::Response, UpstreamError> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repository);
        self.get_url(&url, accept).await
    }

    /// Checks the upstream answers its `/v2/` (with the session's credentials).
    pub async fn ping(&mut self) -> Result<(), UpstreamError> {
        let url = format!("{}/v2/", self.base);
        let resp = self.get_url(&url, None).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(UpstreamError::Unauthorized(s)),
            status => Err(UpstreamError::Status {
                status,
                what: "/v2/".into(),
            }),
        }
    }

    /// GETs `url`, answering one Bearer challenge.
    async fn get_url(&mut self, url: &str, accept: Option<&str>) -> Result<reqwest::Response, UpstreamError> {
        for attempt in 0..2 {
            let mut req = self.http.get(url);
            if let Some(a) = accept {
                req = req.header(reqwest::header::ACCEPT, a);
            }
            req = match (&self.bearer, &self.basic) {
                (Some(t), _) => req.bearer_auth(t),
                (None, Some((u, p))) => req.basic_auth(u, Some(p)),
                (None, None) => req,
            };
            let resp = req
                .send()
                .await
                .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_bearer_challenge);
            let Some(challenge) = challenge else {
                return Ok(resp);
            };
            self.bearer = Some(self.token(&challenge).await?);
        }
        Err(UpstreamError::Unauthorized(StatusCode::UNAUTHORIZED))
    }

    /// A pull token from the challenge's realm.
    async fn token(&self, challenge: &BTreeMap<String, String>) -> Result<String, UpstreamError> {
        let realm = &challenge["realm"];
        let scope = match challenge.get("scope") {
            Some(s) => Some(s.clone()),
            None if !self.repository.is_empty() => Some(format!("repository:{}:pull", self.repository)),
            None => None,
        };
        let mut query: Vec<(String, String)> = scope.map(|s| ("scope".to_string(), s)).into_iter().collect();
        if let Some(s) = challenge.get("service") {
            query.push(("service".into(), s.clone()));
        }
        let mut req = self.http.get(realm).query(&query);
        if let Some((u, p)) = &self.basic {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(UpstreamError::Unauthorized(resp.status()));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| UpstreamError::Unreachable(format!("the token answer is not JSON: {e}")))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or(UpstreamError::Unauthorized(StatusCode::UNAUTHORIZED))
    }

    fn check(&self, resp: &reqwest::Response, what: &str) -> Result<(), UpstreamError> {
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(UpstreamError::NotFound(format!("{}:{what}", self.repository))),
            s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(UpstreamError::Unauthorized(s)),
            status => Err(UpstreamError::Status {
                status,
                what: format!("{}:{what}", self.repository),
            }),
        }
    }

    /// The manifest `reference` (a tag or digest), at most
    /// [`MAX_MANIFEST_BYTES`].
    pub async fn manifest(&mut self, reference: &str) -> Result<UpstreamManifest, UpstreamError> {
        let mut resp = self.get(&format!("manifests/{reference}"), Some(ACCEPT)).await?;
        self.check(&resp, reference)?;
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST_BYTES as u64) {
            return Err(UpstreamError::TooLarge);
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?
        {
            if bytes.len() + chunk.len() > MAX_MANIFEST_BYTES {
                return Err(UpstreamError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(UpstreamManifest {
            bytes: Bytes::from(bytes),
            content_type,
        })
    }

    /// The blob `digest`, streamed (the caller verifies its digest while
    /// storing it).
    pub async fn blob(&mut self, digest: &str) -> Result<ByteStream, UpstreamError> {
        let resp = self.get(&format!("blobs/{digest}"), None).await?;
        self.check(&resp, digest)?;
        let stream = futures::stream::unfold(Some(resp), |resp| async move {
            let mut resp = resp?;
            match resp.chunk().await {
                Ok(Some(b)) => Some((Ok(b), Some(resp))),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e)), None)),
            }
        });
        Ok(Box::pin(stream))
    }
}

/// `username`/`password` from a Secrets Manager secret's JSON, as ECR reads
/// the secret of a pull-through cache rule.
pub fn credentials_of_secret(text: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let user = v.get("username")?.as_str()?;
    let password = v.get("accessToken").or_else(|| v.get("password"))?.as_str()?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        let c = parse_bearer_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(c["realm"], "https://auth.docker.io/token");
        assert_eq!(c["service"], "registry.docker.io");
        assert_eq!(c["scope"], "repository:library/alpine:pull");
        let c = parse_bearer_challenge(r#"Bearer realm="https://ghcr.io/token", service=ghcr.io"#).unwrap();
        assert_eq!(c["service"], "ghcr.io");
        assert!(parse_bearer_challenge(r#"Basic realm="x""#).is_none());
        assert!(parse_bearer_challenge("Bearer service=x").is_none());
    }

    #[test]
    fn secret_credentials() {
        assert_eq!(
            credentials_of_secret(r#"{"username":"u","accessToken":"t"}"#),
            Some(("u".into(), "t".into()))
        );
        assert_eq!(
            credentials_of_secret(r#"{"username":"u","password":"p"}"#),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(credentials_of_secret(r#"{"username":"u"}"#), None);
        assert_eq!(credentials_of_secret("not json"), None);
    }

    #[test]
    fn accept_lists_every_stored_manifest_type() {
        use crate::manifest::{DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, OCI_INDEX, OCI_MANIFEST};
        for t in [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2] {
            assert!(ACCEPT.contains(t), "{t}");
        }
    }
}
