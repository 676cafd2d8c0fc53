//! The Distribution API (`/v2/`) driven through the router.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use berth_registry::digest::{Algorithm, Digest, Hasher};
use common::{Harness, Reply};
use serde_json::json;

#[tokio::test]
async fn base_requires_credentials() {
    let h = Harness::new().await;
    let r = h.request_as(None, Method::GET, "/v2/", &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"Berth\""));
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
    assert_eq!(r.error_code(), "UNAUTHORIZED");

    let bad = format!("Basic {}", base64_encode("AWS:not-a-token"));
    let r = h.request_as(Some(&bad), Method::GET, "/v2/", &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let wrong_user = h.auth.clone();
    let (_, pass) = berth_registry::auth::parse_basic(&wrong_user).unwrap();
    let other = format!("Basic {}", base64_encode(&format!("bob:{pass}")));
    let r = h
        .request_as(Some(&other), Method::GET, "/v2/", &[], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = h.get("/v2/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn sigv4_callback_is_used() {
    use berth_proto::sigv4::{HttpRequestParts, UnsignedPayload};
    use berth_proto::{AwsError, Principal};
    let tmp = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn berth_store::Store> =
        std::sync::Arc::new(berth_store::SqliteStore::open(tmp.path().join("state.db")).unwrap());
    let reg = berth_registry::Registry::open(
        store,
        berth_registry::RegistryConfig {
            data_dir: tmp.path().to_path_buf(),
            region: common::REGION.into(),
            account_id: common::ACCOUNT.into(),
            registry_host: common::HOST.into(),
        },
    )
    .await
    .unwrap();
    let authn = |req: &HttpRequestParts<'_>, _: UnsignedPayload| -> Result<Principal, AwsError> {
        let sig = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if sig.contains("Signature=good") {
            Ok(Principal {
                arn: "arn:aws:iam::000000000000:user/ci".into(),
                account_id: "000000000000".into(),
                access_key_id: "AKIACI".into(),
                is_root: false,
                user_name: Some("ci".into()),
                unique_id: "AIDACI".into(),
            })
        } else {
            Err(AwsError::signature_mismatch())
        }
    };
    let reg = std::sync::Arc::new(reg.with_sigv4(std::sync::Arc::new(authn)));
    let router = berth_registry::router(reg);
    use tower::ServiceExt;
    let send = |sig: &'static str| {
        let router = router.clone();
        async move {
            let req = axum::http::Request::get("/v2/")
                .header(
                    "authorization",
                    format!("AWS4-HMAC-SHA256 Credential=AKIACI/20240101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature={sig}"),
                )
                .body(Body::empty())
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }
    };
    assert_eq!(send("good").await, StatusCode::OK);
    assert_eq!(send("bad").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn monolithic_upload_and_blob_reads() {
    let h = Harness::new().await;
    h.create_repo("team/app").await;
    let data = b"0123456789abcdef".repeat(100);
    let d = h.push_blob("team/app", &data).await;

    let head = h
        .request(Method::HEAD, &format!("/v2/team/app/blobs/{d}"), &[], Body::empty())
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), Some("1600"));
    assert_eq!(head.header("docker-content-digest"), Some(d.to_string().as_str()));

    let get = h.get(&format!("/v2/team/app/blobs/{d}")).await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(&get.body[..], &data[..]);

    let part = h
        .request(
            Method::GET,
            &format!("/v2/team/app/blobs/{d}"),
            &[("range", "bytes=10-19")],
            Body::empty(),
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.header("content-range"), Some("bytes 10-19/1600"));
    assert_eq!(&part.body[..], &data[10..20]);

    let bad = h
        .request(
            Method::GET,
            &format!("/v2/team/app/blobs/{d}"),
            &[("range", "bytes=5000-")],
            Body::empty(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // The blob is stored content-addressed, once.
    let hex = d.hex();
    let path = h.dir.join("registry/blobs/sha256").join(&hex[..2]).join(hex);
    assert!(path.is_file());

    // Another repository does not see it until it is uploaded or mounted there.
    h.create_repo("other").await;
    let r = h
        .request(Method::HEAD, &format!("/v2/other/blobs/{d}"), &[], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let again = h.push_blob("other", &data).await;
    assert_eq!(again, d);
    assert_eq!(h.blob_files().len(), 1, "deduplicated across repositories");

    // Deleting a blob from a repository unlinks it there only.
    let r = h
        .request(Method::DELETE, &format!("/v2/other/blobs/{d}"), &[], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        h.get(&format!("/v2/other/blobs/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(h.get(&format!("/v2/team/app/blobs/{d}")).await.status, StatusCode::OK);
}

async fn start_upload(h: &Harness, repo: &str) -> String {
    let r = h
        .request(Method::POST, &format!("/v2/{repo}/blobs/uploads/"), &[], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json());
    assert_eq!(r.header("range"), Some("0-0"));
    let uuid = r.header("docker-upload-uuid").unwrap().to_string();
    assert_eq!(
        r.header("location").unwrap(),
        format!("/v2/{repo}/blobs/uploads/{uuid}")
    );
    uuid
}

async fn patch(h: &Harness, repo: &str, uuid: &str, range: Option<&str>, data: &[u8]) -> Reply {
    let len = data.len().to_string();
    let mut headers = vec![
        ("content-type", "application/octet-stream"),
        ("content-length", len.as_str()),
    ];
    if let Some(r) = range {
        headers.push(("content-range", r));
    }
    h.request(
        Method::PATCH,
        &format!("/v2/{repo}/blobs/uploads/{uuid}"),
        &headers,
        Body::from(data.to_vec()),
    )
    .await
}

#[tokio::test]
async fn chunked_upload_with_range_checks() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let uuid = start_upload(&h, "app").await;

    let r = patch(&h, "app", &uuid, Some("0-999"), &data[..1000]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), Some("0-999"));

    // A chunk that does not start at the current offset is refused.
    let r = patch(&h, "app", &uuid, Some("500-1499"), &data[500..1500]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.error_code(), "BLOB_UPLOAD_INVALID");
    assert_eq!(r.header("range"), Some("0-999"));

    // Streaming PATCH without Content-Range appends.
    let r = patch(&h, "app", &uuid, None, &data[1000..2000]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), Some("0-1999"));

    let status = h.get(&format!("/v2/app/blobs/uploads/{uuid}")).await;
    assert_eq!(status.status, StatusCode::NO_CONTENT);
    assert_eq!(status.header("range"), Some("0-1999"));
    assert_eq!(status.header("docker-upload-uuid"), Some(uuid.as_str()));

    // The last chunk comes with the PUT.
    let d = Digest::sha256_of(&data);
    let r = h
        .request(
            Method::PUT,
            &format!("/v2/app/blobs/uploads/{uuid}?digest={d}"),
            &[("content-range", "2000-2999"), ("content-length", "1000")],
            Body::from(data[2000..].to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.header("location"), Some(format!("/v2/app/blobs/{d}").as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(d.to_string().as_str()));
    let got = h.get(&format!("/v2/app/blobs/{d}")).await;
    assert_eq!(&got.body[..], &data[..]);
    // The session is gone and its file removed.
    assert_eq!(
        h.get(&format!("/v2/app/blobs/uploads/{uuid}")).await.error_code(),
        "BLOB_UPLOAD_UNKNOWN"
    );
    assert!(!h.dir.join("registry/uploads").join(&uuid).exists());
}

#[tokio::test]
async fn sha512_digests_are_verified() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let data = b"sha512 content".to_vec();
    let mut hasher = Hasher::new(Algorithm::Sha512);
    hasher.update(&data);
    let d = hasher.finish();
    let uuid = start_upload(&h, "app").await;
    patch(&h, "app", &uuid, None, &data).await;
    let r = h
        .request(
            Method::PUT,
            &format!("/v2/app/blobs/uploads/{uuid}?digest={d}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(&h.get(&format!("/v2/app/blobs/{d}")).await.body[..], &data[..]);
    assert!(
        h.dir
            .join("registry/blobs/sha512")
            .join(&d.hex()[..2])
            .join(d.hex())
            .is_file()
    );
}

#[tokio::test]
async fn upload_session_survives_restart() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let uuid = start_upload(&h, "app").await;
    assert_eq!(
        patch(&h, "app", &uuid, Some("0-2047"), &data[..2048]).await.status,
        StatusCode::ACCEPTED
    );

    // Simulate a crash mid-chunk: garbage past the acknowledged offset.
    let file = h.dir.join("registry/uploads").join(&uuid);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(b"half-written chunk").unwrap();
    }

    let h = h.restart().await;
    let status = h.get(&format!("/v2/app/blobs/uploads/{uuid}")).await;
    assert_eq!(status.status, StatusCode::NO_CONTENT);
    assert_eq!(status.header("range"), Some("0-2047"));
    assert_eq!(
        patch(&h, "app", &uuid, Some("2048-4095"), &data[2048..]).await.status,
        StatusCode::ACCEPTED
    );
    let d = Digest::sha256_of(&data);
    let r = h
        .request(
            Method::PUT,
            &format!("/v2/app/blobs/uploads/{uuid}?digest={d}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(&h.get(&format!("/v2/app/blobs/{d}")).await.body[..], &data[..]);
}

#[tokio::test]
async fn wrong_digest_is_refused_and_nothing_is_stored() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let claimed = Digest::sha256_of(b"what the client claims");

    // Monolithic.
    let r = h
        .request(
            Method::POST,
            &format!("/v2/app/blobs/uploads/?digest={claimed}"),
            &[],
            Body::from("different bytes"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");

    // Chunked.
    let uuid = start_upload(&h, "app").await;
    patch(&h, "app", &uuid, None, b"different bytes").await;
    let r = h
        .request(
            Method::PUT,
            &format!("/v2/app/blobs/uploads/{uuid}?digest={claimed}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");

    assert!(h.blob_files().is_empty(), "{:?}", h.blob_files());
    let actual = Digest::sha256_of(b"different bytes");
    for d in [&claimed, &actual] {
        let r = h
            .request(Method::HEAD, &format!("/v2/app/blobs/{d}"), &[], Body::empty())
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    assert!(!h.dir.join("registry/uploads").join(&uuid).exists());

    // A malformed digest.
    let r = h
        .request(
            Method::POST,
            "/v2/app/blobs/uploads/?digest=sha256:xyz",
            &[],
            Body::from("x"),
        )
        .await;
    assert_eq!(r.error_code(), "DIGEST_INVALID");
}

#[tokio::test]
async fn repositories_must_exist_and_names_be_valid() {
    let h = Harness::new().await;
    let r = h
        .request(Method::POST, "/v2/nope/blobs/uploads/", &[], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "NAME_UNKNOWN");
    let r = h.get("/v2/nope/tags/list").await;
    assert_eq!(r.error_code(), "NAME_UNKNOWN");
    let r = h.get("/v2/Bad_Name/tags/list").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "NAME_INVALID");
}

#[tokio::test]
async fn manifests_push_pull_and_delete() {
    let h = Harness::new().await;
    h.create_repo("team/app").await;
    let m = h.image_manifest("team/app", "a").await;
    let bytes = serde_json::to_vec(&m).unwrap();
    let digest = Digest::sha256_of(&bytes).to_string();
    let r = h.put_manifest("team/app", "v1", &m).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/team/app/manifests/{digest}").as_str())
    );

    for reference in ["v1", digest.as_str()] {
        let g = h.get(&format!("/v2/team/app/manifests/{reference}")).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(&g.body[..], &bytes[..], "exact bytes are served back");
        assert_eq!(
            g.header("content-type"),
            Some("application/vnd.docker.distribution.manifest.v2+json")
        );
        assert_eq!(g.header("docker-content-digest"), Some(digest.as_str()));
        assert_eq!(g.header("etag"), Some(format!("\"{digest}\"").as_str()));
        let head = h
            .request(
                Method::HEAD,
                &format!("/v2/team/app/manifests/{reference}"),
                &[],
                Body::empty(),
            )
            .await;
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.header("content-length"), Some(bytes.len().to_string().as_str()));
    }
    let r = h.get("/v2/team/app/manifests/missing").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );

    // Pushing by digest with the wrong digest.
    let wrong = Digest::sha256_of(b"x");
    let r = h.put_manifest("team/app", &wrong.to_string(), &m).await;
    assert_eq!(r.error_code(), "DIGEST_INVALID");

    // A second tag, then delete by tag: the image stays while tagged.
    assert_eq!(h.put_manifest("team/app", "v2", &m).await.status, StatusCode::CREATED);
    let r = h
        .request(Method::DELETE, "/v2/team/app/manifests/v1", &[], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        h.get(&format!("/v2/team/app/manifests/{digest}")).await.status,
        StatusCode::OK
    );
    // Delete by digest removes the image and its tags.
    let r = h
        .request(
            Method::DELETE,
            &format!("/v2/team/app/manifests/{digest}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        h.get("/v2/team/app/manifests/v2").await.error_code(),
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(h.get("/v2/team/app/tags/list").await.json()["tags"], json!([]));
}

#[tokio::test]
async fn manifest_with_missing_blob_is_refused() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let mut m = h.image_manifest("app", "a").await;
    let missing = Digest::sha256_of(b"never uploaded").to_string();
    m["layers"][0]["digest"] = json!(missing);
    let r = h.put_manifest("app", "v1", &m).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.json()["errors"][0]["detail"]["digests"], json!([missing]));
    assert_eq!(h.get("/v2/app/manifests/v1").await.error_code(), "MANIFEST_UNKNOWN");

    // A blob uploaded to another repository does not count.
    h.create_repo("other").await;
    let m2 = h.image_manifest("other", "b").await;
    assert_eq!(
        h.put_manifest("app", "v2", &m2).await.error_code(),
        "MANIFEST_BLOB_UNKNOWN"
    );

    // An index whose child manifest is missing.
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": missing, "size": 10}]
    });
    assert_eq!(
        h.put_manifest("app", "idx", &index).await.error_code(),
        "MANIFEST_BLOB_UNKNOWN"
    );

    // Garbage.
    let r = h
        .request(
            Method::PUT,
            "/v2/app/manifests/v3",
            &[("content-type", "application/vnd.oci.image.manifest.v1+json")],
            Body::from("{not json"),
        )
        .await;
    assert_eq!(r.error_code(), "MANIFEST_INVALID");
}

#[tokio::test]
async fn index_of_pushed_manifests() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let a = h.push_image("app", "amd64", "a").await;
    let b = h.push_image("app", "arm64", "b").await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": a, "size": 1,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": b, "size": 1,
             "platform": {"architecture": "arm64", "os": "linux"}}
        ]
    });
    let r = h.put_manifest("app", "latest", &index).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    // A child of an index cannot be deleted while the index exists.
    let r = h
        .request(Method::DELETE, &format!("/v2/app/manifests/{a}"), &[], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn immutable_tags_are_refused_on_push() {
    let h = Harness::new().await;
    h.ecr(
        "CreateRepository",
        json!({"repositoryName": "app", "imageTagMutability": "IMMUTABLE"}),
    )
    .await
    .unwrap();
    let m1 = h.image_manifest("app", "one").await;
    let m2 = h.image_manifest("app", "two").await;
    assert_eq!(h.put_manifest("app", "v1", &m1).await.status, StatusCode::CREATED);
    // Re-pushing the same content under the same tag is fine.
    assert_eq!(h.put_manifest("app", "v1", &m1).await.status, StatusCode::CREATED);
    let r = h.put_manifest("app", "v1", &m2).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "TAG_INVALID");
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("The image tag 'v1' already exists in the 'app' repository and cannot be overwritten")
    );
    let d1 = Digest::sha256_of(&serde_json::to_vec(&m1).unwrap()).to_string();
    assert_eq!(
        h.get("/v2/app/manifests/v1").await.header("docker-content-digest"),
        Some(d1.as_str())
    );

    // With an exclusion, matching tags stay mutable.
    h.ecr(
        "PutImageTagMutability",
        json!({"repositoryName": "app", "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
               "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "latest*"}]}),
    )
    .await
    .unwrap();
    assert_eq!(h.put_manifest("app", "latest", &m1).await.status, StatusCode::CREATED);
    assert_eq!(h.put_manifest("app", "latest", &m2).await.status, StatusCode::CREATED);
    assert_eq!(h.put_manifest("app", "v1", &m2).await.error_code(), "TAG_INVALID");
}

#[tokio::test]
async fn tags_list_paginates() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let m = h.image_manifest("app", "a").await;
    for t in ["c", "a", "e", "b", "d"] {
        assert_eq!(h.put_manifest("app", t, &m).await.status, StatusCode::CREATED);
    }
    let all = h.get("/v2/app/tags/list").await;
    assert_eq!(all.json(), json!({"name": "app", "tags": ["a", "b", "c", "d", "e"]}));
    assert!(all.header("link").is_none());

    let p1 = h.get("/v2/app/tags/list?n=2").await;
    assert_eq!(p1.json()["tags"], json!(["a", "b"]));
    let link = p1.header("link").unwrap().to_string();
    assert_eq!(link, "</v2/app/tags/list?n=2&last=b>; rel=\"next\"");
    let next = link.trim_start_matches('<').split('>').next().unwrap().to_string();
    let p2 = h.get(&next).await;
    assert_eq!(p2.json()["tags"], json!(["c", "d"]));
    let p3 = h.get("/v2/app/tags/list?n=2&last=d").await;
    assert_eq!(p3.json()["tags"], json!(["e"]));
    assert!(p3.header("link").is_none());
    assert_eq!(h.get("/v2/app/tags/list?n=x").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn catalog_lists_repositories() {
    let h = Harness::new().await;
    for r in ["bb", "aa/xx", "cc"] {
        h.create_repo(r).await;
    }
    let all = h.get("/v2/_catalog").await.json();
    assert_eq!(all["repositories"], json!(["aa/xx", "bb", "cc"]));
    let p = h.get("/v2/_catalog?n=1&last=aa/xx").await;
    assert_eq!(p.json()["repositories"], json!(["bb"]));
    assert!(p.header("link").is_some());
}

#[tokio::test]
async fn referrers_api() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let subject = h.push_image("app", "v1", "s").await;
    let empty = h.push_blob("app", b"{}").await;
    let sbom_layer = h.push_blob("app", b"sbom contents").await;
    let sig_layer = h.push_blob("app", b"signature").await;
    let artifact = |artifact_type: &str, layer: &Digest| {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer.to_string(), "size": 9}],
            "subject": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": subject, "size": 100},
            "annotations": {"org.example.kind": artifact_type}
        })
    };
    let sbom = artifact("application/vnd.example.sbom", &sbom_layer);
    let sig = artifact("application/vnd.example.signature", &sig_layer);
    let sbom_digest = Digest::sha256_of(&serde_json::to_vec(&sbom).unwrap()).to_string();
    let r = h.put_manifest("app", &sbom_digest, &sbom).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.header("oci-subject"), Some(subject.as_str()));
    let sig_digest = Digest::sha256_of(&serde_json::to_vec(&sig).unwrap()).to_string();
    assert_eq!(
        h.put_manifest("app", &sig_digest, &sig).await.status,
        StatusCode::CREATED
    );

    let r = h.get(&format!("/v2/app/referrers/{subject}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let body = r.json();
    assert_eq!(body["schemaVersion"], 2);
    let mut digests: Vec<String> = body["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    digests.sort();
    let mut expected = vec![sbom_digest.clone(), sig_digest.clone()];
    expected.sort();
    assert_eq!(digests, expected);

    let r = h
        .get(&format!(
            "/v2/app/referrers/{subject}?artifactType=application/vnd.example.sbom"
        ))
        .await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let m = &r.json()["manifests"];
    assert_eq!(m.as_array().unwrap().len(), 1);
    assert_eq!(m[0]["digest"], json!(sbom_digest));
    assert_eq!(m[0]["artifactType"], json!("application/vnd.example.sbom"));
    assert_eq!(
        m[0]["annotations"]["org.example.kind"],
        json!("application/vnd.example.sbom")
    );
    assert_eq!(m[0]["mediaType"], json!("application/vnd.oci.image.manifest.v1+json"));

    // No referrers: an empty index. Deleting a referrer removes it.
    let other = Digest::sha256_of(b"nothing refers to me");
    assert_eq!(
        h.get(&format!("/v2/app/referrers/{other}")).await.json()["manifests"],
        json!([])
    );
    h.request(
        Method::DELETE,
        &format!("/v2/app/manifests/{sbom_digest}"),
        &[],
        Body::empty(),
    )
    .await;
    let left = h.get(&format!("/v2/app/referrers/{subject}")).await.json();
    assert_eq!(left["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        h.get("/v2/app/referrers/sha256:nope").await.error_code(),
        "DIGEST_INVALID"
    );
}

#[tokio::test]
async fn cross_repository_mount() {
    let h = Harness::new().await;
    h.create_repo("src").await;
    h.create_repo("dst").await;
    let d = h.push_blob("src", b"shared layer").await;
    let path = format!("/v2/dst/blobs/uploads/?mount={d}&from=src");
    let mount = || h.request(Method::POST, &path, &[], Body::empty());
    // BLOB_MOUNTING is DISABLED until the account turns it on, as in ECR:
    // the mount request starts an upload session.
    let r = mount().await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.header("docker-upload-uuid").is_some());
    assert_eq!(h.get(&format!("/v2/dst/blobs/{d}")).await.status, StatusCode::NOT_FOUND);
    h.ecr(
        "PutAccountSetting",
        json!({"name": "BLOB_MOUNTING", "value": "ENABLED"}),
    )
    .await
    .unwrap();
    let r = mount().await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("docker-content-digest"), Some(d.to_string().as_str()));
    assert_eq!(&h.get(&format!("/v2/dst/blobs/{d}")).await.body[..], b"shared layer");

    // Unknown blob or source: a regular upload session instead.
    let missing = Digest::sha256_of(b"missing");
    let r = h
        .request(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={missing}&from=src"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.header("docker-upload-uuid").is_some());
}

#[tokio::test]
async fn cancelled_upload_is_gone() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let uuid = start_upload(&h, "app").await;
    patch(&h, "app", &uuid, None, b"abc").await;
    let r = h
        .request(
            Method::DELETE,
            &format!("/v2/app/blobs/uploads/{uuid}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        patch(&h, "app", &uuid, None, b"d").await.error_code(),
        "BLOB_UPLOAD_UNKNOWN"
    );
    // A session belongs to its repository.
    h.create_repo("other").await;
    let uuid = start_upload(&h, "app").await;
    assert_eq!(
        h.get(&format!("/v2/other/blobs/uploads/{uuid}")).await.error_code(),
        "BLOB_UPLOAD_UNKNOWN"
    );
}

#[tokio::test]
async fn manifests_addressed_by_sha512_are_stored_and_served_under_it() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let m = h.image_manifest("app", "sha512").await;
    let bytes = serde_json::to_vec(&m).unwrap();
    let mut hasher = Hasher::new(Algorithm::Sha512);
    hasher.update(&bytes);
    let d512 = hasher.finish().to_string();
    assert!(d512.starts_with("sha512:"));
    let r = h.put_manifest("app", &d512, &m).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.header("docker-content-digest"), Some(d512.as_str()));
    let got = h.get(&format!("/v2/app/manifests/{d512}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(&got.body[..], &bytes[..]);
    assert_eq!(got.header("docker-content-digest"), Some(d512.as_str()));
    // Stored under sha512 only: its sha256 names nothing yet.
    let d256 = Digest::sha256_of(&bytes).to_string();
    assert_eq!(
        h.get(&format!("/v2/app/manifests/{d256}")).await.error_code(),
        "MANIFEST_UNKNOWN"
    );
    let images = h.ecr("DescribeImages", json!({"repositoryName": "app"})).await.unwrap();
    assert_eq!(images["imageDetails"][0]["imageDigest"], d512.as_str());
    // A sha512 digest the bytes do not have is refused.
    let other = h.image_manifest("app", "other").await;
    let r = h.put_manifest("app", &d512, &other).await;
    assert_eq!(r.error_code(), "DIGEST_INVALID");
}

#[tokio::test]
async fn a_manifest_over_the_limit_is_413() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let mut m = h.image_manifest("app", "big").await;
    m["annotations"] = json!({"padding": "x".repeat(berth_registry::manifest::MAX_MANIFEST_BYTES)});
    let r = h.put_manifest("app", "big", &m).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "MANIFEST_INVALID");
    assert_eq!(h.get("/v2/app/manifests/big").await.error_code(), "MANIFEST_UNKNOWN");
}
