//! The pull-through cache against a fake upstream registry served on a
//! real 127.0.0.1 socket: the first pull imports (digests verified, a
//! tampered blob refused with nothing kept), later pulls are served from the
//! cache, a tag is checked again after the refresh interval, a dead
//! upstream leaves the cache serving, and a rule's credentials (from its
//! secret) are exchanged for the upstream's Bearer token.

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use berth_registry::digest::Digest;
use berth_registry::pull_through::{AllowedUpstream, PullThroughSettings, SecretError, Upstreams};
use common::Harness;
use futures::FutureExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Default)]
struct Fake {
    manifests: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    /// Serve every blob with its last byte flipped.
    tamper: bool,
    /// Basic credentials the token endpoint wants; pulls then need its token.
    require: Option<(String, String)>,
    manifest_gets: AtomicUsize,
}

type Shared = Arc<Mutex<Fake>>;

fn bearer_ok(fake: &Fake, headers: &HeaderMap) -> bool {
    fake.require.is_none()
        || headers
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v.to_str().unwrap_or("") == "Bearer fake-token")
}

fn challenge(headers: &HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            format!("Bearer realm=\"http://{host}/token\",service=\"fake\""),
        )],
    )
        .into_response()
}

async fn manifest(State(f): State<Shared>, Path((_, reference)): Path<(String, String)>, h: HeaderMap) -> Response {
    let fake = f.lock().unwrap();
    if !bearer_ok(&fake, &h) {
        return challenge(&h);
    }
    fake.manifest_gets.fetch_add(1, Ordering::SeqCst);
    match fake.manifests.get(&reference) {
        Some(b) => ([(header::CONTENT_TYPE, MANIFEST)], b.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn blob(State(f): State<Shared>, Path((_, digest)): Path<(String, String)>, h: HeaderMap) -> Response {
    let fake = f.lock().unwrap();
    if !bearer_ok(&fake, &h) {
        return challenge(&h);
    }
    match fake.blobs.get(&digest) {
        Some(b) => {
            let mut b = b.clone();
            if fake.tamper {
                let last = b.len() - 1;
                b[last] ^= 1;
            }
            Response::new(Body::from(b))
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn token(State(f): State<Shared>, h: HeaderMap) -> Response {
    let fake = f.lock().unwrap();
    let want = fake.require.as_ref().map(|(u, p)| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    });
    let got = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if want.as_deref() != got {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(json!({ "token": "fake-token" })).into_response()
}

async fn base(State(f): State<Shared>, h: HeaderMap) -> Response {
    if !bearer_ok(&f.lock().unwrap(), &h) {
        return challenge(&h);
    }
    "{}".into_response()
}

/// Serves the fake on 127.0.0.1:PORT; returns the address and the server task.
async fn serve(fake: Shared) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/v2/", get(base))
        .route("/token", get(token))
        .route("/v2/{*rest}", get(route))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, task)
}

/// `/v2/<name>/(manifests|blobs)/<ref>`, names with slashes.
async fn route(State(f): State<Shared>, Path(rest): Path<String>, h: HeaderMap) -> Response {
    let (name_kind, reference) = rest.rsplit_once('/').unwrap_or(("", ""));
    let (name, kind) = name_kind.rsplit_once('/').unwrap_or(("", ""));
    let p = Path((name.to_string(), reference.to_string()));
    match kind {
        "manifests" => manifest(State(f), p, h).await,
        "blobs" => blob(State(f), p, h).await,
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Puts an image (config + one layer) under `tag` in the fake; its digest.
fn upstream_image(fake: &Shared, tag: &str, seed: &str) -> String {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}").into_bytes();
    let layer = format!("layer of {seed} ").repeat(5000).into_bytes();
    let cd = Digest::sha256_of(&config).to_string();
    let ld = Digest::sha256_of(&layer).to_string();
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
    }))
    .unwrap();
    let md = Digest::sha256_of(&m).to_string();
    let mut f = fake.lock().unwrap();
    f.blobs.insert(cd, config);
    f.blobs.insert(ld, layer);
    f.manifests.insert(tag.to_string(), m.clone());
    f.manifests.insert(md.clone(), m);
    md
}

async fn harness(addr: &str, refresh: Duration) -> Harness {
    let settings = PullThroughSettings {
        upstreams: Upstreams(vec![AllowedUpstream::parse(&format!("http://{addr}")).unwrap()]),
        refresh,
    };
    Harness::with(|r| r.with_pull_through(settings)).await
}

async fn rule(h: &Harness, addr: &str, extra: Value) {
    let mut input = json!({ "ecrRepositoryPrefix": "hub", "upstreamRegistryUrl": addr });
    if let (Some(i), Some(e)) = (input.as_object_mut(), extra.as_object()) {
        i.extend(e.clone());
    }
    h.ecr("CreatePullThroughCacheRule", input).await.unwrap();
}

fn digest_of(r: &common::Reply) -> String {
    r.header("docker-content-digest").unwrap_or("").to_string()
}

#[tokio::test]
async fn the_first_pull_imports_and_later_pulls_are_cached() {
    let fake: Shared = Arc::default();
    let (addr, _server) = serve(fake.clone()).await;
    let d = upstream_image(&fake, "1.0", "one");
    let h = harness(&addr, Duration::from_secs(3600)).await;
    rule(&h, &addr, json!({})).await;
    let r = h.get("/v2/hub/lib/app/manifests/1.0").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(digest_of(&r), d);
    let images = h
        .ecr("DescribeImages", json!({ "repositoryName": "hub/lib/app" }))
        .await
        .unwrap();
    assert_eq!(images["imageDetails"][0]["imageDigest"], d);
    assert_eq!(images["imageDetails"][0]["imageTags"], json!(["1.0"]));
    // Every blob is in the cache, byte for byte.
    let m: Value = serde_json::from_slice(&r.body).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let b = h.get(&format!("/v2/hub/lib/app/blobs/{layer}")).await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(Digest::sha256_of(&b.body).to_string(), layer);
    // Within the refresh interval the upstream is not asked again.
    let before = fake.lock().unwrap().manifest_gets.load(Ordering::SeqCst);
    for reference in ["1.0", d.as_str()] {
        let r = h.get(&format!("/v2/hub/lib/app/manifests/{reference}")).await;
        assert_eq!(digest_of(&r), d);
    }
    assert_eq!(fake.lock().unwrap().manifest_gets.load(Ordering::SeqCst), before);
    // What the upstream does not have is MANIFEST_UNKNOWN, and a name no
    // rule covers is not looked for upstream.
    let r = h.get("/v2/hub/lib/app/manifests/9.9").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );
    let r = h.get("/v2/other/lib/app/manifests/1.0").await;
    assert_eq!(r.error_code(), "NAME_UNKNOWN");
}

#[tokio::test]
async fn a_tampered_blob_is_refused_and_nothing_is_kept() {
    let fake: Shared = Arc::default();
    let (addr, _server) = serve(fake.clone()).await;
    upstream_image(&fake, "1.0", "tampered");
    fake.lock().unwrap().tamper = true;
    let h = harness(&addr, Duration::from_secs(3600)).await;
    rule(&h, &addr, json!({})).await;
    let r = h.get("/v2/hub/lib/app/manifests/1.0").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let msg = r.json()["errors"][0]["message"].as_str().unwrap_or("").to_string();
    assert!(msg.contains("could not be fetched"), "{msg}");
    let images = h
        .ecr("DescribeImages", json!({ "repositoryName": "hub/lib/app" }))
        .await
        .unwrap();
    assert_eq!(images["imageDetails"], json!([]));
    let files = h.blob_files();
    assert!(files.len() <= 1, "only the config may be stored: {files:?}");
    // Fixed upstream: the next pull imports.
    fake.lock().unwrap().tamper = false;
    assert_eq!(h.get("/v2/hub/lib/app/manifests/1.0").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_tag_is_checked_again_and_a_dead_upstream_leaves_the_cache_serving() {
    let fake: Shared = Arc::default();
    let (addr, server) = serve(fake.clone()).await;
    let d1 = upstream_image(&fake, "1.0", "first");
    let h = harness(&addr, Duration::ZERO).await;
    rule(&h, &addr, json!({ "upstreamRepositoryPrefix": "mirror" })).await;
    assert_eq!(digest_of(&h.get("/v2/hub/app/manifests/1.0").await), d1);
    // The tag moves upstream: the next pull (interval 0) follows it.
    let d2 = upstream_image(&fake, "1.0", "second");
    assert_ne!(d1, d2);
    assert_eq!(digest_of(&h.get("/v2/hub/app/manifests/1.0").await), d2);
    // The upstream dies: the cached tag and digests still pull.
    server.abort();
    let _ = server.await;
    assert_eq!(digest_of(&h.get("/v2/hub/app/manifests/1.0").await), d2);
    let r = h.get(&format!("/v2/hub/app/manifests/{d1}")).await;
    assert_eq!((r.status, digest_of(&r)), (StatusCode::OK, d1));
    let r = h.get("/v2/hub/app/manifests/2.0").await;
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn credentials_from_the_rules_secret_get_the_upstreams_token() {
    let fake: Shared = Arc::default();
    let (addr, _server) = serve(fake.clone()).await;
    let d = upstream_image(&fake, "1.0", "private");
    fake.lock().unwrap().require = Some(("robot".into(), "s3cret".into()));
    let h = harness(&addr, Duration::from_secs(3600)).await;
    let secret = "arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/up-AbCdEf";
    let value = Arc::new(Mutex::new(
        json!({"username": "robot", "accessToken": "s3cret"}).to_string(),
    ));
    let v = value.clone();
    h.reg.set_secret_reader(Arc::new(move |arn: String| {
        let v = v.lock().unwrap().clone();
        async move {
            if arn.ends_with("up-AbCdEf") {
                Ok(v)
            } else {
                Err(SecretError::NotFound(format!("no secret {arn}")))
            }
        }
        .boxed()
    }));
    let e = h
        .ecr(
            "CreatePullThroughCacheRule",
            json!({ "ecrRepositoryPrefix": "hub", "upstreamRegistryUrl": addr,
                    "credentialArn": secret.replace("up-AbCdEf", "gone-AbCdEf") }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "SecretNotFoundException");
    rule(&h, &addr, json!({ "credentialArn": secret })).await;
    let v = h
        .ecr("ValidatePullThroughCacheRule", json!({ "ecrRepositoryPrefix": "hub" }))
        .await
        .unwrap();
    assert_eq!(v["isValid"], true, "{v}");
    let r = h.get("/v2/hub/lib/app/manifests/1.0").await;
    assert_eq!((r.status, digest_of(&r)), (StatusCode::OK, d));
    // Wrong credentials: the upstream refuses, and the rule does not validate.
    *value.lock().unwrap() = json!({"username": "robot", "accessToken": "wrong"}).to_string();
    let v = h
        .ecr("ValidatePullThroughCacheRule", json!({ "ecrRepositoryPrefix": "hub" }))
        .await
        .unwrap();
    assert_eq!(v["isValid"], false, "{v}");
    assert!(v["failure"].as_str().unwrap_or("").contains("refused"), "{v}");
    let r = h.get("/v2/hub/lib/other/manifests/1.0").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_layer_of_a_cached_image_is_mounted_elsewhere() {
    let fake: Shared = Arc::default();
    let (addr, _server) = serve(fake.clone()).await;
    upstream_image(&fake, "1.0", "cached");
    let h = harness(&addr, Duration::from_secs(3600)).await;
    rule(&h, &addr, json!({})).await;
    let r = h.get("/v2/hub/lib/app/manifests/1.0").await;
    assert_eq!(r.status, StatusCode::OK);
    let m: Value = serde_json::from_slice(&r.body).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_string();
    h.create_repo("mine").await;
    h.ecr(
        "PutAccountSetting",
        json!({"name": "BLOB_MOUNTING", "value": "ENABLED"}),
    )
    .await
    .unwrap();
    // ECR: "Blob mounting is not supported for images created via pull
    // through cache" — the mount request starts an upload instead.
    let r = h
        .request(
            Method::POST,
            &format!("/v2/mine/blobs/uploads/?mount={layer}&from=hub/lib/app"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        h.get(&format!("/v2/mine/blobs/{layer}")).await.status,
        StatusCode::NOT_FOUND
    );
}
