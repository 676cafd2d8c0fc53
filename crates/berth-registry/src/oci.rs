//! The OCI Distribution API v1.1 (Docker Registry HTTP API V2) under
//! `/v2/`, and the download URLs `GetDownloadUrlForLayer` hands out
//! (`/registry-blob/<repo>/<digest>?expires=…&signature=…`).
//!
//! Repository names contain `/`, so paths are parsed here from the end
//! (`…/manifests/<ref>`, `…/blobs/<digest>`, `…/blobs/uploads/[<uuid>]`,
//! `…/tags/list`, `…/referrers/<digest>`), not by axum's router. Request
//! bodies stream to disk; no API body limit applies here.

use crate::auth;
use crate::blob::{BlobRead, ByteStream};
use crate::body_hash::{ContentSha256Mismatch, Mismatch, verified_body};
use crate::digest::Digest;
use crate::error::{OciError, RegistryError};
use crate::images::PutManifest;
use crate::manifest::{MAX_MANIFEST_BYTES, OCI_INDEX};
use crate::oci_authz::{authorize, authorize_decrypt};
use crate::rules::{self, RangeRequest};
use crate::uploads::Chunk;
use crate::{Registry, now_secs};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use berth_proto::Principal;
use berth_proto::sigv4::{self, DeclaredPayload, HttpRequestParts, UnsignedPayload};
use futures::TryStreamExt;
use serde_json::json;
use std::sync::Arc;

const API_VERSION: &str = "Docker-Distribution-API-Version";
const CONTENT_DIGEST: &str = "Docker-Content-Digest";
const UPLOAD_UUID: &str = "Docker-Upload-UUID";
const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The registry's HTTP routes: `/v2/…` and `/registry-blob/…`. Merge it into
/// the server's router; it has no fallback of its own.
pub fn router(reg: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", any(v2))
        .route("/v2/", any(v2))
        .route("/v2/{*rest}", any(v2))
        .route("/registry-blob/{*rest}", any(download))
        .with_state(reg)
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Referrers(String, String),
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Parses a `/v2/` path; the repository name is everything before the
/// operation's fixed suffix.
fn parse_route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    if n < 2 {
        return None;
    }
    let name = |k: usize| segs[..n - k].join("/");
    let last = decode(segs[n - 1]);
    if n >= 3 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let repo = name(3);
        return Some(if last.is_empty() {
            Route::UploadStart(repo)
        } else {
            Route::Upload(repo, last)
        });
    }
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Some(Route::Tags(name(2)));
    }
    if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        return Some(Route::UploadStart(name(2)));
    }
    if n >= 3 && !last.is_empty() {
        match segs[n - 2] {
            "manifests" => return Some(Route::Manifest(name(2), last)),
            "blobs" => return Some(Route::Blob(name(2), last)),
            "referrers" => return Some(Route::Referrers(name(2), last)),
            _ => {}
        }
    }
    None
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    berth_proto::form::decode(query.unwrap_or(""))
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn v2(State(reg): State<Arc<Registry>>, req: Request<Body>) -> Response {
    let mut resp = match handle(&reg, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    resp
}

/// Where `UNSIGNED-PAYLOAD` is accepted on `/v2/`: requests without a body
/// (GET, HEAD, DELETE) and uploads whose body is checked against the digest
/// they name before anything is published (a monolithic `POST ?digest=`, the
/// closing `PUT ?digest=`). Never on a manifest PUT (a replay could tag
/// other content) nor on a PATCH chunk (not digest-checked until the end).
fn unsigned_payload_rule(method: &Method, path: &str, query: Option<&str>) -> UnsignedPayload {
    let digest_named = query_pairs(query).iter().any(|(k, _)| k == "digest");
    let allowed = match (method, parse_route(path)) {
        (&Method::GET | &Method::HEAD | &Method::DELETE, _) => true,
        (&Method::POST, Some(Route::UploadStart(_))) | (&Method::PUT, Some(Route::Upload(..))) => digest_named,
        _ => false,
    };
    if allowed {
        UnsignedPayload::Allowed
    } else {
        UnsignedPayload::Refused
    }
}

/// Who is calling: a registry password (HTTP Basic, user `AWS`) or a
/// SigV4 signature. For a SigV4 request, also the SHA-256 its body must
/// hash to (the signed `x-amz-content-sha256`, the empty body's without
/// one), unless the request is allowed `UNSIGNED-PAYLOAD`.
fn authenticate(
    reg: &Registry,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
) -> Result<(Principal, Option<String>), OciError> {
    let authz = header_str(headers, header::AUTHORIZATION);
    let presigned = uri.query().is_some_and(|q| q.contains("X-Amz-Signature="));
    if presigned || authz.is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")) {
        let Some(sigv4) = &reg.sigv4 else {
            return Err(OciError::unauthorized(
                "SigV4 authentication is not enabled on this registry; log in with the password from \
                 `aws ecr get-login-password`",
            ));
        };
        let declared = sigv4::declared_payload(headers).map_err(|e| OciError::unauthorized(e.to_string()))?;
        let body_sha256 = match &declared {
            DeclaredPayload::Sha256(h) => Some(h.clone()),
            DeclaredPayload::Absent => Some(EMPTY_SHA256_HEX.to_string()),
            DeclaredPayload::Unsigned => None,
        };
        let payload = match &declared {
            DeclaredPayload::Sha256(h) => h.as_str(),
            _ => EMPTY_SHA256_HEX,
        };
        let who = sigv4
            .authenticate(
                &HttpRequestParts {
                    method: method.as_str(),
                    raw_path: uri.path(),
                    raw_query: uri.query().unwrap_or(""),
                    headers,
                    payload_sha256_hex: payload,
                },
                unsigned_payload_rule(method, uri.path(), uri.query()),
            )
            .map_err(|e| OciError::unauthorized(e.message))?;
        return Ok((who, body_sha256));
    }
    let Some(authz) = authz else {
        return Err(OciError::unauthorized(
            "authentication required: docker login with user AWS and the password from `aws ecr get-login-password`",
        ));
    };
    let (user, password) = auth::parse_basic(authz).ok_or_else(|| {
        OciError::unauthorized("unsupported Authorization header: use HTTP Basic with user AWS, or SigV4")
    })?;
    if user != "AWS" {
        return Err(OciError::unauthorized("the user name must be AWS"));
    }
    let who = reg
        .tokens
        .verify(&password, now_secs())
        .map_err(|e| OciError::unauthorized(format!("{e}; get a new one with `aws ecr get-login-password`")))?;
    if !reg.principal_is_current(&who) {
        return Err(OciError::unauthorized(format!(
            "the authorization token was issued to {} (id {}), which no longer exists; \
             get a new one with `aws ecr get-login-password`",
            who.arn, who.unique_id
        )));
    }
    Ok((who, None))
}

fn valid_name(name: &str) -> Result<(), OciError> {
    rules::validate_repository_name(name).map_err(|_| {
        OciError::name_invalid(format!("invalid repository name '{name}'")).with_detail(json!({ "name": name }))
    })
}

fn parse_digest(s: &str) -> Result<Digest, OciError> {
    Digest::parse(s).map_err(|e| OciError::digest_invalid(e.to_string()))
}

fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

fn builder(status: StatusCode) -> http::response::Builder {
    Response::builder().status(status)
}

fn finish(b: http::response::Builder, body: Body) -> Result<Response, OciError> {
    b.body(body)
        .map_err(|e| OciError::internal(format!("building the response failed: {e}")))
}

fn upload_response(status: StatusCode, name: &str, id: &str, offset: u64) -> Result<Response, OciError> {
    // As distribution: the last byte received, "0-0" for none.
    let end = offset.saturating_sub(1);
    finish(
        builder(status)
            .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))
            .header(header::RANGE, format!("0-{end}"))
            .header(UPLOAD_UUID, id)
            .header(header::CONTENT_LENGTH, "0"),
        Body::empty(),
    )
}

fn blob_created(name: &str, digest: &Digest) -> Result<Response, OciError> {
    finish(
        builder(StatusCode::CREATED)
            .header(header::LOCATION, format!("/v2/{name}/blobs/{digest}"))
            .header(CONTENT_DIGEST, digest.to_string())
            .header(header::CONTENT_LENGTH, "0"),
        Body::empty(),
    )
}

fn next_link(path: &str, n: Option<usize>, last: &str) -> String {
    let last = percent_encoding::utf8_percent_encode(last, percent_encoding::NON_ALPHANUMERIC);
    match n {
        Some(n) => format!("<{path}?n={n}&last={last}>; rel=\"next\""),
        None => format!("<{path}?last={last}>; rel=\"next\""),
    }
}

fn page_params(q: &[(String, String)]) -> Result<(Option<usize>, Option<String>), OciError> {
    let n = match param(q, "n") {
        None | Some("") => None,
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            OciError::new(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                format!("invalid number of results requested: '{s}'"),
            )
        })?),
    };
    Ok((n, param(q, "last").map(str::to_string)))
}

/// A chunk's declared start/length from `Content-Range` / `Content-Length`.
fn chunk_of(headers: &HeaderMap, body: Body) -> Result<Chunk, OciError> {
    let range = match header_str(headers, header::CONTENT_RANGE) {
        Some(r) => Some(rules::parse_content_range(r).ok_or_else(|| {
            OciError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                format!("invalid Content-Range '{r}': expected <start>-<end>"),
            )
        })?),
        None => None,
    };
    let content_length = header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    let len = match (range, content_length) {
        (Some((s, e)), Some(cl)) if cl != e - s + 1 => {
            return Err(OciError::size_invalid(format!(
                "Content-Length {cl} does not match Content-Range {s}-{e}"
            )));
        }
        (Some((s, e)), _) => Some(e - s + 1),
        (None, cl) => cl,
    };
    Ok(Chunk {
        start: range.map(|(s, _)| s),
        len,
        body: body_stream(body),
    })
}

async fn handle(reg: &Registry, req: Request<Body>) -> Result<Response, OciError> {
    let (parts, body) = req.into_parts();
    let (who, body_sha256) = authenticate(reg, &parts.method, &parts.uri, &parts.headers)?;
    let mismatch = Mismatch::default();
    let body = match body_sha256 {
        Some(expected) => verified_body(body, &expected, mismatch.clone()),
        None => body,
    };
    let result = dispatch(reg, who, parts, body).await;
    if mismatch.happened() {
        // The consumer failed on the body and kept nothing; say why.
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("{ContentSha256Mismatch} The body is not the one that was signed; nothing was stored."),
        ));
    }
    result
}

async fn dispatch(
    reg: &Registry,
    who: Principal,
    parts: http::request::Parts,
    body: Body,
) -> Result<Response, OciError> {
    let path = parts.uri.path().to_string();
    let route = parse_route(&path).ok_or_else(|| {
        OciError::new(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            format!("no registry route for {path}"),
        )
    })?;
    let q = query_pairs(parts.uri.query());
    let method = parts.method.clone();
    let headers = parts.headers;
    let not_allowed = || OciError::unsupported(format!("{method} is not supported on {path}"));
    // A cross-account replication push: the registry policy must allow its source.
    let target = match &route {
        Route::Manifest(n, _) | Route::Blob(n, _) | Route::UploadStart(n) | Route::Upload(n, _) => Some(n.as_str()),
        _ => None,
    };
    crate::replication::inbound::check(reg, &who, &headers, &method, target).await?;
    match route {
        Route::Base => match method {
            Method::GET | Method::HEAD => finish(
                builder(StatusCode::OK).header(header::CONTENT_TYPE, "application/json"),
                Body::from("{}"),
            ),
            _ => Err(not_allowed()),
        },
        Route::Catalog => {
            if method != Method::GET {
                return Err(not_allowed());
            }
            authorize(reg, &who, "ecr:DescribeRepositories", None).await?;
            let (n, last) = page_params(&q)?;
            let names = reg.repository_names().await?;
            let (page, more) = rules::page_after(&names, last.as_deref(), n);
            let mut b = builder(StatusCode::OK).header(header::CONTENT_TYPE, "application/json");
            if more && let Some(l) = page.last() {
                b = b.header(header::LINK, next_link("/v2/_catalog", n, l));
            }
            finish(b, Body::from(json!({ "repositories": page }).to_string()))
        }
        Route::Tags(name) => {
            valid_name(&name)?;
            if method != Method::GET {
                return Err(not_allowed());
            }
            authorize(reg, &who, "ecr:ListImages", Some(&name)).await?;
            reg.repository(&name).await?;
            let (n, last) = page_params(&q)?;
            let tags: Vec<String> = reg.tags(&name).await?.into_iter().map(|(t, _)| t).collect();
            let (page, more) = rules::page_after(&tags, last.as_deref(), n);
            let mut b = builder(StatusCode::OK).header(header::CONTENT_TYPE, "application/json");
            if more && let Some(l) = page.last() {
                b = b.header(header::LINK, next_link(&format!("/v2/{name}/tags/list"), n, l));
            }
            finish(b, Body::from(json!({ "name": name, "tags": page }).to_string()))
        }
        Route::Manifest(name, reference) => {
            valid_name(&name)?;
            match method {
                Method::GET | Method::HEAD => {
                    authorize(reg, &who, "ecr:BatchGetImage", Some(&name)).await?;
                    authorize_decrypt(reg, &who, &name).await?;
                    reg.pull_through_if_cached(&who, &name, &reference).await?;
                    get_manifest(reg, &who, &name, &reference, method == Method::HEAD).await
                }
                Method::PUT => {
                    authorize(reg, &who, "ecr:PutImage", Some(&name)).await?;
                    reg.repository_for_push(&who, &name).await?;
                    put_manifest(reg, &name, &reference, &headers, body).await
                }
                Method::DELETE => {
                    authorize(reg, &who, "ecr:BatchDeleteImage", Some(&name)).await?;
                    reg.repository(&name).await?;
                    if reference.contains(':') {
                        let d = parse_digest(&reference)?;
                        reg.delete_image(&name, &d.to_string()).await?;
                    } else {
                        reg.delete_tag(&name, &reference).await?;
                    }
                    finish(
                        builder(StatusCode::ACCEPTED).header(header::CONTENT_LENGTH, "0"),
                        Body::empty(),
                    )
                }
                _ => Err(not_allowed()),
            }
        }
        Route::Blob(name, digest) => {
            valid_name(&name)?;
            let d = parse_digest(&digest)?;
            match method {
                Method::GET | Method::HEAD => {
                    let action = if method == Method::GET {
                        "ecr:GetDownloadUrlForLayer"
                    } else {
                        "ecr:BatchCheckLayerAvailability"
                    };
                    authorize(reg, &who, action, Some(&name)).await?;
                    if method == Method::GET {
                        authorize_decrypt(reg, &who, &name).await?;
                    }
                    reg.repository(&name).await?;
                    serve_blob(reg, &name, &d, &headers, method == Method::HEAD).await
                }
                Method::DELETE => {
                    authorize(reg, &who, "ecr:BatchDeleteImage", Some(&name)).await?;
                    reg.repository(&name).await?;
                    if !reg.unlink_blob(&name, &d).await? {
                        return Err(OciError::blob_unknown(&digest));
                    }
                    finish(
                        builder(StatusCode::ACCEPTED).header(header::CONTENT_LENGTH, "0"),
                        Body::empty(),
                    )
                }
                _ => Err(not_allowed()),
            }
        }
        Route::UploadStart(name) => {
            valid_name(&name)?;
            if method != Method::POST {
                return Err(not_allowed());
            }
            authorize(reg, &who, "ecr:InitiateLayerUpload", Some(&name)).await?;
            reg.repository_for_push(&who, &name).await?;
            // With BLOB_MOUNTING disabled, a mount request starts an upload
            // session instead (202), as the OCI spec lets a registry do.
            if let (Some(mount), Some(from)) = (param(&q, "mount"), param(&q, "from"))
                && reg.blob_mounting_enabled().await
            {
                let d = parse_digest(mount)?;
                let from_allowed = rules::validate_repository_name(from).is_ok()
                    && authorize(reg, &who, "ecr:GetDownloadUrlForLayer", Some(from))
                        .await
                        .is_ok();
                if from_allowed && reg.mount_blob(&name, &d, from).await?.is_some() {
                    tracing::debug!(repository = %name, from, digest = %d, "blob mounted");
                    return blob_created(&name, &d);
                }
            } else if let Some(digest) = param(&q, "digest") {
                // Monolithic upload: the body is the whole blob.
                let d = parse_digest(digest)?;
                authorize(reg, &who, "ecr:CompleteLayerUpload", Some(&name)).await?;
                let digest_s = d.to_string();
                let _fence = reg.publish_locks.publish([digest_s.as_str()]).await;
                let size = reg
                    .store_of(&name)
                    .await?
                    .put_stream(&d, body_stream(body))
                    .await
                    .map_err(RegistryError::from)?;
                reg.link_blob(&name, &d, size).await?;
                return blob_created(&name, &d);
            }
            let rec = reg.start_upload(&name).await?;
            upload_response(StatusCode::ACCEPTED, &name, &rec.id, 0)
        }
        Route::Upload(name, id) => {
            valid_name(&name)?;
            match method {
                Method::GET => {
                    authorize(reg, &who, "ecr:UploadLayerPart", Some(&name)).await?;
                    let rec = reg.upload(&name, &id).await?;
                    upload_response(StatusCode::NO_CONTENT, &name, &id, rec.offset)
                }
                Method::PATCH => {
                    authorize(reg, &who, "ecr:UploadLayerPart", Some(&name)).await?;
                    let chunk = chunk_of(&headers, body)?;
                    let offset = reg.append_upload(&name, &id, chunk).await?;
                    upload_response(StatusCode::ACCEPTED, &name, &id, offset)
                }
                Method::PUT => {
                    authorize(reg, &who, "ecr:CompleteLayerUpload", Some(&name)).await?;
                    let digest = param(&q, "digest")
                        .ok_or_else(|| OciError::digest_invalid("the digest query parameter is required"))?;
                    let d = parse_digest(digest)?;
                    let chunk = chunk_of(&headers, body)?;
                    reg.finish_upload(&name, &id, &d, Some(chunk)).await?;
                    blob_created(&name, &d)
                }
                Method::DELETE => {
                    authorize(reg, &who, "ecr:UploadLayerPart", Some(&name)).await?;
                    reg.cancel_upload(&name, &id).await?;
                    finish(
                        builder(StatusCode::NO_CONTENT).header(header::CONTENT_LENGTH, "0"),
                        Body::empty(),
                    )
                }
                _ => Err(not_allowed()),
            }
        }
        Route::Referrers(name, digest) => {
            valid_name(&name)?;
            if method != Method::GET {
                return Err(not_allowed());
            }
            authorize(reg, &who, "ecr:BatchGetImage", Some(&name)).await?;
            let d = parse_digest(&digest)?;
            reg.repository(&name).await?;
            let filter = param(&q, "artifactType").filter(|a| !a.is_empty());
            let refs = reg.referrers(&name, &d.to_string(), filter).await?;
            let body = json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": refs,
            });
            let mut b = builder(StatusCode::OK).header(header::CONTENT_TYPE, OCI_INDEX);
            if filter.is_some() {
                b = b.header("OCI-Filters-Applied", "artifactType");
            }
            finish(b, Body::from(body.to_string()))
        }
    }
}

async fn get_manifest(
    reg: &Registry,
    who: &Principal,
    name: &str,
    reference: &str,
    head: bool,
) -> Result<Response, OciError> {
    reg.repository(name).await?;
    if reference.contains(':') {
        parse_digest(reference)?;
    }
    let m = reg.manifest(name, reference).await?;
    let b = builder(StatusCode::OK)
        .header(header::CONTENT_TYPE, m.record.media_type.as_str())
        .header(CONTENT_DIGEST, m.record.digest.as_str())
        .header(header::ETAG, format!("\"{}\"", m.record.digest))
        .header(header::CONTENT_LENGTH, m.bytes.len().to_string());
    if head {
        return finish(b, Body::empty());
    }
    reg.record_pull(name, &m.record.digest, &who.arn).await;
    finish(b, Body::from(m.bytes))
}

async fn put_manifest(
    reg: &Registry,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, OciError> {
    reg.repository(name).await?;
    let (tag, digest) = if reference.contains(':') {
        parse_digest(reference)?;
        (None, Some(reference))
    } else {
        (Some(reference), None)
    };
    let declared = header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_MANIFEST_BYTES as u64) {
        return Err(OciError::manifest_too_large(MAX_MANIFEST_BYTES));
    }
    let bytes = axum::body::to_bytes(body, MAX_MANIFEST_BYTES).await.map_err(|e| {
        // Over the limit (a chunked body), or not read to its end.
        let over = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over {
            OciError::manifest_too_large(MAX_MANIFEST_BYTES)
        } else {
            OciError::size_invalid(format!("the manifest could not be read: {e}"))
        }
    })?;
    let out = reg
        .put_manifest(PutManifest {
            repository: name,
            bytes,
            media_type: header_str(headers, header::CONTENT_TYPE),
            tag,
            digest,
            max_tag_len: 128,
        })
        .await?;
    let mut b = builder(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/manifests/{}", out.digest))
        .header(CONTENT_DIGEST, out.digest.as_str())
        .header(header::CONTENT_LENGTH, "0");
    if let Some(s) = &out.subject {
        b = b.header("OCI-Subject", s.as_str());
    }
    finish(b, Body::empty())
}

/// Serves a blob of `name` (GET/HEAD, with `Range`). Manifests are blobs
/// too: a manifest digest of the repository is served from its image.
async fn serve_blob(
    reg: &Registry,
    name: &str,
    d: &Digest,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, OciError> {
    // A layer or config is in the repository's store; a manifest in the
    // shared one.
    let store = if reg.blob_in_repository(name, d).await?.is_some() {
        reg.store_of(name).await?
    } else if reg.image(name, &d.to_string()).await?.is_some() {
        reg.blobs.clone()
    } else {
        return Err(OciError::blob_unknown(&d.to_string()));
    };
    let Some(size) = store.stat(d).await.map_err(RegistryError::from)? else {
        return Err(OciError::blob_unknown(&d.to_string()));
    };
    let range = match rules::parse_range(header_str(headers, header::RANGE), size) {
        RangeRequest::Full => None,
        RangeRequest::Partial { start, end } => Some((start, end)),
        RangeRequest::Unsatisfiable => return Err(RegistryError::RangeNotSatisfiable { size }.into()),
    };
    let common = |b: http::response::Builder| {
        b.header(header::CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_DIGEST, d.to_string())
            .header(header::ETAG, format!("\"{d}\""))
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CACHE_CONTROL, "max-age=31536000")
    };
    if head {
        return finish(
            common(builder(StatusCode::OK)).header(header::CONTENT_LENGTH, size.to_string()),
            Body::empty(),
        );
    }
    let Some(BlobRead { size, range, stream }) = store.get(d, range).await.map_err(RegistryError::from)? else {
        return Err(OciError::blob_unknown(&d.to_string()));
    };
    let b = match range {
        Some((start, end)) => common(builder(StatusCode::PARTIAL_CONTENT))
            .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"))
            .header(header::CONTENT_LENGTH, (end - start + 1).to_string()),
        None => common(builder(StatusCode::OK)).header(header::CONTENT_LENGTH, size.to_string()),
    };
    finish(b, Body::from_stream(stream))
}

/// `GET /registry-blob/<repo>/<digest>?expires=…&signature=…`: the URL
/// `GetDownloadUrlForLayer` returns. The signature stands in for
/// credentials, as a presigned S3 URL does.
async fn download(State(reg): State<Arc<Registry>>, req: Request<Body>) -> Response {
    let result = async {
        let (parts, _) = req.into_parts();
        let head = match parts.method {
            Method::GET => false,
            Method::HEAD => true,
            _ => return Err(OciError::unsupported("only GET and HEAD are supported")),
        };
        let path = parts.uri.path();
        let rest = path.strip_prefix("/registry-blob/").unwrap_or("");
        let (name, digest) = rest
            .rsplit_once('/')
            .ok_or_else(|| OciError::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "no such download URL"))?;
        let digest = decode(digest);
        valid_name(name)?;
        let d = parse_digest(&digest)?;
        let q = query_pairs(parts.uri.query());
        let expires: i64 = param(&q, "expires")
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| OciError::denied("the download URL has no valid expiry"))?;
        let signature = param(&q, "signature").unwrap_or("");
        reg.tokens
            .verify_download(name, &d.to_string(), expires, signature, now_secs())
            .map_err(|e| OciError::denied(format!("the download URL is not valid: {e}")))?;
        reg.repository(name).await?;
        serve_blob(&reg, name, &d, &parts.headers, head).await
    }
    .await;
    result.unwrap_or_else(|e| e.into_response())
}

impl Registry {
    /// Whether this registry issued the credentials a `/v2/` or download
    /// request carries: a `docker login` password or a download URL signed
    /// with its key, expired or not. A server with one registry per region
    /// (each with its own key) sends such a request to the region whose
    /// registry issued them.
    pub fn issued_credentials_of(&self, headers: &HeaderMap, uri: &http::Uri) -> bool {
        // Verified as of the earliest time: an expired credential still
        // names its issuer (which then says it has expired).
        if let Some(rest) = uri.path().strip_prefix("/registry-blob/") {
            let Some((name, digest)) = rest.rsplit_once('/') else {
                return false;
            };
            let q = query_pairs(uri.query());
            let expires = param(&q, "expires").and_then(|e| e.parse().ok());
            let signature = param(&q, "signature").unwrap_or("");
            return expires.is_some_and(|expires| {
                self.tokens
                    .verify_download(name, &decode(digest), expires, signature, i64::MIN)
                    .is_ok()
            });
        }
        header_str(headers, header::AUTHORIZATION)
            .and_then(auth::parse_basic)
            .is_some_and(|(_, password)| self.tokens.verify(&password, i64::MIN).is_ok())
    }
}

/// Builds the download URL for `digest` in `repository` (valid one hour).
pub(crate) fn download_url(reg: &Registry, repository: &str, digest: &str) -> String {
    let expires = now_secs() + auth::DOWNLOAD_URL_LIFETIME_SECS;
    let sig = reg.tokens.sign_download(repository, digest, expires);
    format!(
        "{}://{}/registry-blob/{repository}/{digest}?expires={expires}&signature={sig}",
        reg.scheme, reg.registry_host
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: &str) -> Option<Route> {
        parse_route(p)
    }

    #[test]
    fn routes_with_slashes_in_names() {
        assert_eq!(r("/v2/"), Some(Route::Base));
        assert_eq!(r("/v2"), Some(Route::Base));
        assert_eq!(r("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(r("/v2/team/app/tags/list"), Some(Route::Tags("team/app".into())));
        assert_eq!(
            r("/v2/team/app/manifests/latest"),
            Some(Route::Manifest("team/app".into(), "latest".into()))
        );
        assert_eq!(
            r("/v2/a/blobs/b/blobs/sha256:abc"),
            Some(Route::Blob("a/blobs/b".into(), "sha256:abc".into()))
        );
        assert_eq!(
            r("/v2/a/blobs/sha256%3Aabc"),
            Some(Route::Blob("a".into(), "sha256:abc".into()))
        );
        assert_eq!(
            r("/v2/team/app/blobs/uploads/"),
            Some(Route::UploadStart("team/app".into()))
        );
        assert_eq!(r("/v2/app/blobs/uploads"), Some(Route::UploadStart("app".into())));
        assert_eq!(
            r("/v2/x/manifests/y/blobs/uploads/123"),
            Some(Route::Upload("x/manifests/y".into(), "123".into()))
        );
        assert_eq!(
            r("/v2/app/referrers/sha256:abc"),
            Some(Route::Referrers("app".into(), "sha256:abc".into()))
        );
        assert_eq!(r("/v2/app"), None);
        assert_eq!(r("/v2/app/manifests/"), None);
        assert_eq!(r("/v2/manifests/x"), None);
        assert_eq!(r("/v3/app/manifests/x"), None);
    }

    #[test]
    fn queries_and_links() {
        let q = query_pairs(Some("n=2&last=a%2Bb&mount=sha256%3Ax&from=team/app"));
        assert_eq!(param(&q, "n"), Some("2"));
        assert_eq!(param(&q, "last"), Some("a+b"));
        assert_eq!(param(&q, "mount"), Some("sha256:x"));
        assert_eq!(param(&q, "from"), Some("team/app"));
        assert_eq!(
            next_link("/v2/app/tags/list", Some(2), "v1.0"),
            "</v2/app/tags/list?n=2&last=v1%2E0>; rel=\"next\""
        );
    }
}
