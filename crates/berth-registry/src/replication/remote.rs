//! Copying one image to another account's Berth server (a peer): as an
//! ECR client would — a registry password from the peer's
//! GetAuthorizationToken (SigV4-signed with the peer credentials), then
//! the OCI API under `/v2/`: each blob the peer lacks (HEAD) uploaded by
//! digest (monolithic POST; the peer verifies it), a list's child
//! manifests before the list, the manifest under each tag the image has.
//! Every request names the source account
//! (`X-Berth-Replication-Source-Account`): the peer then also requires its
//! registry policy to allow that account ([`super::inbound`]) and creates
//! the repository when absent. Every step is idempotent, so an attempt
//! that dies midway is finished by the next. A blob is held in memory
//! while it is sent.

use super::config::Destination;
use super::copy::CopyError;
use super::inbound::SOURCE_ACCOUNT_HEADER;
use super::peers::Peer;
use crate::Registry;
use crate::digest::Digest;
use crate::error::RegistryError;
use base64::Engine;
use berth_proto::sigv4;
use futures::StreamExt;
use reqwest::{Method, StatusCode};

const GET_TOKEN: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

/// One attempt's connection to the peer.
struct Session<'a> {
    http: reqwest::Client,
    peer: &'a Peer,
    password: String,
    source_account: String,
}

fn transport(peer: &Peer, e: impl std::fmt::Display) -> CopyError {
    CopyError::Transient(format!("the replication peer {} is unreachable: {e}", peer.url))
}

/// An answer the attempt cannot go on with: refused (401/403: the
/// credentials or the peer's policies) is FAILED, anything else retried.
async fn refused(peer: &Peer, what: &str, resp: reqwest::Response) -> CopyError {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let why = format!(
        "{what} at {}: {status}: {}",
        peer.url,
        body.chars().take(500).collect::<String>()
    );
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        CopyError::Permanent {
            code: "ACCESS_DENIED",
            why,
        }
    } else {
        CopyError::Transient(why)
    }
}

/// The registry password, from the peer's GetAuthorizationToken.
async fn password(http: &reqwest::Client, peer: &Peer, region: &str) -> Result<String, CopyError> {
    let url: reqwest::Url = format!("{}/", peer.url).parse().map_err(|e| transport(peer, e))?;
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let body = b"{}";
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, host.parse().map_err(|e| transport(peer, e))?);
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert("x-amz-target", http::HeaderValue::from_static(GET_TOKEN));
    for (k, v) in sigv4::sign(
        "POST",
        "/",
        "",
        &headers,
        body,
        &peer.credentials,
        region,
        "ecr",
        time::OffsetDateTime::now_utc(),
    ) {
        let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| transport(peer, e))?;
        headers.insert(name, v.parse().map_err(|e| transport(peer, e))?);
    }
    headers.remove(http::header::HOST);
    let resp = http
        .post(url)
        .headers(headers)
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| transport(peer, e))?;
    if !resp.status().is_success() {
        return Err(refused(peer, "GetAuthorizationToken", resp).await);
    }
    let v: serde_json::Value = resp.json().await.map_err(|e| transport(peer, e))?;
    let token = v["authorizationData"][0]["authorizationToken"]
        .as_str()
        .ok_or_else(|| CopyError::Transient("GetAuthorizationToken answered no authorizationToken".into()))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|e| CopyError::Transient(format!("the peer's authorization token is not base64: {e}")))?;
    let decoded = String::from_utf8_lossy(&decoded);
    let (_, pw) = decoded
        .split_once(':')
        .ok_or_else(|| CopyError::Transient("the peer's authorization token is not USER:PASSWORD".into()))?;
    Ok(pw.to_string())
}

impl Session<'_> {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.peer.url))
            .basic_auth("AWS", Some(&self.password))
            .header(SOURCE_ACCOUNT_HEADER, &self.source_account)
    }

    async fn send(&self, what: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response, CopyError> {
        let resp = req.send().await.map_err(|e| transport(self.peer, e))?;
        if resp.status().is_success() || resp.status() == StatusCode::NOT_FOUND {
            Ok(resp)
        } else {
            Err(refused(self.peer, what, resp).await)
        }
    }

    /// Whether the peer's repository has `path` (a blob or a manifest).
    async fn has(&self, what: &str, path: &str) -> Result<bool, CopyError> {
        Ok(self
            .send(what, self.request(Method::HEAD, path))
            .await?
            .status()
            .is_success())
    }

    async fn push_blob(&self, src: &Registry, repository: &str, d: &Digest) -> Result<(), CopyError> {
        if self.has("HEAD blob", &format!("/v2/{repository}/blobs/{d}")).await? {
            return Ok(());
        }
        let read = src
            .blobs
            .get(d, None)
            .await
            .map_err(RegistryError::from)?
            .ok_or_else(|| CopyError::Transient(format!("the source lacks the blob {d}")))?;
        let mut bytes = Vec::new();
        let mut stream = read.stream;
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| CopyError::Transient(e.to_string()))?);
        }
        let req = self
            .request(Method::POST, &format!("/v2/{repository}/blobs/uploads/?digest={d}"))
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        let resp = self.send("blob upload", req).await?;
        if !resp.status().is_success() {
            return Err(refused(self.peer, "blob upload", resp).await);
        }
        Ok(())
    }

    async fn push_manifest(
        &self,
        src: &Registry,
        repository: &str,
        digest: &str,
        tags: &[String],
    ) -> Result<(), CopyError> {
        let m = match src.manifest(repository, digest).await {
            Ok(m) => m,
            Err(RegistryError::ImageNotFound { .. }) => return Err(CopyError::SourceGone),
            Err(e) => return Err(e.into()),
        };
        for child in &m.record.children {
            if !self
                .has("HEAD manifest", &format!("/v2/{repository}/manifests/{child}"))
                .await?
            {
                Box::pin(self.push_manifest(src, repository, child, &[])).await?;
            }
        }
        for b in &m.record.blobs {
            let d = Digest::parse(b).map_err(|e| CopyError::Transient(e.to_string()))?;
            self.push_blob(src, repository, &d).await?;
        }
        let references: Vec<&str> = if tags.is_empty() {
            vec![digest]
        } else {
            tags.iter().map(String::as_str).collect()
        };
        for reference in references {
            let req = self
                .request(Method::PUT, &format!("/v2/{repository}/manifests/{reference}"))
                .header(http::header::CONTENT_TYPE, &m.record.media_type)
                .body(m.bytes.clone());
            let resp = self.send("manifest upload", req).await?;
            if !resp.status().is_success() {
                return Err(refused(self.peer, "manifest upload", resp).await);
            }
        }
        Ok(())
    }
}

/// Copies image `digest` of `repository` from `src` to the peer serving `dest`.
pub(crate) async fn push_image(
    src: &Registry,
    peer: &Peer,
    dest: &Destination,
    repository: &str,
    digest: &str,
) -> Result<(), CopyError> {
    match src.repository(repository).await {
        Ok(_) => {}
        Err(RegistryError::RepositoryNotFound { .. }) => return Err(CopyError::SourceGone),
        Err(e) => return Err(e.into()),
    }
    let tags = src.tags_by_digest(repository).await?.remove(digest).unwrap_or_default();
    let http = src.replication.http.get_or_init(reqwest::Client::new).clone();
    let password = password(&http, peer, &dest.region).await?;
    let session = Session {
        http,
        peer,
        password,
        source_account: src.registry_id().to_string(),
    };
    session.push_manifest(src, repository, digest, &tags).await
}
