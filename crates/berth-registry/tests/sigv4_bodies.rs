//! SigV4 on `/v2/`: bodies must hash to the signed `x-amz-content-sha256`
//! (checked while streaming, nothing stored otherwise), `UNSIGNED-PAYLOAD`
//! only where the digest is checked anyway, tokens of principals that are
//! gone are refused.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use berth_proto::sigv4::{HttpRequestParts, UnsignedPayload};
use berth_proto::{AwsError, JsonService, Principal, RequestContext};
use berth_registry::{Registry, RegistryConfig};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

fn principal() -> Principal {
    Principal {
        arn: "arn:aws:iam::000000000000:user/ci".into(),
        account_id: common::ACCOUNT.into(),
        access_key_id: "AKIACI".into(),
        is_root: false,
        user_name: Some("ci".into()),
        unique_id: "AIDACI".into(),
    }
}

struct Env {
    _tmp: tempfile::TempDir,
    reg: Arc<Registry>,
    router: axum::Router,
    /// What the SigV4 hook was asked about the payload, last time.
    seen: Arc<Mutex<Option<(String, UnsignedPayload)>>>,
    current: Arc<Mutex<bool>>,
}

async fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn berth_store::Store> =
        Arc::new(berth_store::SqliteStore::open(tmp.path().join("state.db")).unwrap());
    let seen = Arc::new(Mutex::new(None));
    let current = Arc::new(Mutex::new(true));
    let (s, c) = (seen.clone(), current.clone());
    // The signature is "good" or not; the payload rule is the registry's.
    let authn = move |req: &HttpRequestParts<'_>, unsigned_payload: UnsignedPayload| -> Result<Principal, AwsError> {
        *s.lock().unwrap() = Some((req.payload_sha256_hex.to_string(), unsigned_payload));
        let declared = req.headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok());
        if declared == Some("UNSIGNED-PAYLOAD") && unsigned_payload == UnsignedPayload::Refused {
            return Err(AwsError::invalid_signature("UNSIGNED-PAYLOAD is not accepted"));
        }
        Ok(principal())
    };
    let reg = Registry::open(
        store,
        RegistryConfig {
            data_dir: tmp.path().to_path_buf(),
            region: common::REGION.into(),
            account_id: common::ACCOUNT.into(),
            registry_host: common::HOST.into(),
        },
    )
    .await
    .unwrap()
    .with_sigv4(Arc::new(authn))
    .with_principal_check(Arc::new(move |_: &Principal| *c.lock().unwrap()));
    let reg = Arc::new(reg);
    Env {
        _tmp: tmp,
        router: berth_registry::router(reg.clone()),
        reg,
        seen,
        current,
    }
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Env {
    /// A "signed" request declaring `declared` as the body's hash.
    async fn send(&self, method: Method, uri: &str, declared: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        let (status, _, v) = self.send_h(method, uri, declared, body).await;
        (status, v)
    }

    async fn send_h(
        &self,
        method: Method,
        uri: &str,
        declared: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, http::HeaderMap, Value) {
        let mut b = Request::builder().method(method).uri(uri).header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIACI/20240101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=good",
        );
        if let Some(d) = declared {
            b = b.header("x-amz-content-sha256", d);
        }
        let resp = self
            .router
            .clone()
            .oneshot(b.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn tags(&self, repo: &str) -> Vec<Value> {
        let out = self
            .reg
            .call(
                &RequestContext::root(common::ACCOUNT, common::REGION),
                "ListImages",
                json!({ "repositoryName": repo }),
            )
            .await
            .unwrap();
        out["imageIds"].as_array().cloned().unwrap_or_default()
    }
}

fn code(v: &Value) -> &str {
    v["errors"][0]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn bodies_must_hash_to_the_signed_value() {
    let e = env().await;
    e.reg
        .call(
            &RequestContext::root(common::ACCOUNT, common::REGION),
            "CreateRepository",
            json!({ "repositoryName": "app" }),
        )
        .await
        .unwrap();
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let cd = format!("sha256:{}", sha(&config));
    let (s, v) = e
        .send(
            Method::POST,
            &format!("/v2/app/blobs/uploads/?digest={cd}"),
            Some(&sha(&config)),
            config.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let manifest = |note: &str| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [],
            "annotations": {"note": note}
        }))
        .unwrap()
    };
    let good = manifest("good");
    let (s, v) = e
        .send(Method::PUT, "/v2/app/manifests/v1", Some(&sha(&good)), good.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // The same signed headers with another manifest: refused, nothing stored.
    let (s, v) = e
        .send(Method::PUT, "/v2/app/manifests/v1", Some(&sha(&good)), manifest("evil"))
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "DIGEST_INVALID"), "{v}");
    let ids = e.tags("app").await;
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0]["imageDigest"], format!("sha256:{}", sha(&good)));
    // Without x-amz-content-sha256 the signature covers the empty body only.
    let (s, _) = e.send(Method::PUT, "/v2/app/manifests/v2", None, good.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e.seen.lock().unwrap().clone().unwrap().0, sha(b""));
    // UNSIGNED-PAYLOAD: never on a manifest PUT.
    let (s, v) = e
        .send(
            Method::PUT,
            "/v2/app/manifests/v2",
            Some("UNSIGNED-PAYLOAD"),
            good.clone(),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"), "{v}");
    assert_eq!(e.tags("app").await.len(), 1);

    // A chunk with another body than the signed one appends nothing.
    let (s, h, _) = e.send_h(Method::POST, "/v2/app/blobs/uploads/", None, vec![]).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let location = h["location"].to_str().unwrap().to_string();
    let chunk = b"real bytes".repeat(100);
    let (s, h, _) = e
        .send_h(Method::PATCH, &location, Some(&sha(&chunk)), chunk.clone())
        .await;
    assert_eq!((s, h["range"].to_str().unwrap()), (StatusCode::ACCEPTED, "0-999"));
    let (s, v) = e
        .send(Method::PATCH, &location, Some(&sha(&chunk)), vec![b'X'; 1000])
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "DIGEST_INVALID"), "{v}");
    let (s, h, _) = e.send_h(Method::GET, &location, None, vec![]).await;
    assert_eq!((s, h["range"].to_str().unwrap()), (StatusCode::NO_CONTENT, "0-999"));
    let digest = format!("sha256:{}", sha(&chunk));
    let (s, v) = e
        .send(Method::PUT, &format!("{location}?digest={digest}"), None, vec![])
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn unsigned_payload_only_where_the_digest_is_checked() {
    let e = env().await;
    let rule = |e: &Env| e.seen.lock().unwrap().clone().unwrap().1;
    e.send(Method::GET, "/v2/", None, vec![]).await;
    assert_eq!(rule(&e), UnsignedPayload::Allowed);
    e.send(Method::PUT, "/v2/app/manifests/latest", None, vec![]).await;
    assert_eq!(rule(&e), UnsignedPayload::Refused);
    e.send(
        Method::PATCH,
        "/v2/app/blobs/uploads/0f8fad5b-d9cb-469f-a165-70867728950e",
        None,
        vec![],
    )
    .await;
    assert_eq!(rule(&e), UnsignedPayload::Refused);
    e.send(
        Method::PUT,
        "/v2/app/blobs/uploads/0f8fad5b-d9cb-469f-a165-70867728950e?digest=sha256%3Aab",
        None,
        vec![],
    )
    .await;
    assert_eq!(rule(&e), UnsignedPayload::Allowed);
    e.send(Method::POST, "/v2/app/blobs/uploads/?digest=sha256%3Aab", None, vec![])
        .await;
    assert_eq!(rule(&e), UnsignedPayload::Allowed);
    e.send(Method::POST, "/v2/app/blobs/uploads/", None, vec![]).await;
    assert_eq!(rule(&e), UnsignedPayload::Refused);
}

#[tokio::test]
async fn tokens_of_principals_that_are_gone_are_refused() {
    let e = env().await;
    let (password, _) = e.reg.issue_password(&principal());
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("AWS:{password}"))
    );
    let get = |auth: String| {
        let router = e.router.clone();
        async move {
            let req = Request::get("/v2/")
                .header("authorization", auth)
                .body(Body::empty())
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }
    };
    assert_eq!(get(basic.clone()).await, StatusCode::OK);
    *e.current.lock().unwrap() = false;
    assert_eq!(get(basic).await, StatusCode::UNAUTHORIZED);
}
