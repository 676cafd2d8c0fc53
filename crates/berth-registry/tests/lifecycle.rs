//! Lifecycle policies applied to a registry's images: expiry through the
//! same deletion BatchDeleteImage uses, referrers going with their subject,
//! manifest-list children kept, and what GetLifecyclePolicy shows after.

mod common;

use axum::http::StatusCode;
use berth_registry::digest::Digest;
use common::Harness;
use serde_json::json;

const KEEP_NEWEST_V: &str = r#"{"rules":[{"rulePriority":1,"description":"keep the newest v image","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;

async fn digests(h: &Harness, repo: &str) -> Vec<String> {
    let out = h.ecr("DescribeImages", json!({"repositoryName": repo})).await.unwrap();
    let mut d: Vec<String> = out["imageDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["imageDigest"].as_str().unwrap().to_string())
        .collect();
    d.sort();
    d
}

#[tokio::test]
async fn expired_images_go_with_their_referrers_and_the_rest_stays() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let old = h.push_image("app", "v1", "old").await;
    let new = h.push_image("app", "v2", "new").await;
    let other = h.push_image("app", "latest", "other").await;
    // A signature of the old image (a referrer: it has a subject, no tag).
    let empty = h.push_blob("app", b"{}").await;
    let sig_layer = h.push_blob("app", b"signature").await;
    let sig = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": sig_layer.to_string(), "size": 9}],
        "subject": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": old, "size": 100}
    });
    let sig_digest = Digest::sha256_of(&serde_json::to_vec(&sig).unwrap()).to_string();
    assert_eq!(
        h.put_manifest("app", &sig_digest, &sig).await.status,
        StatusCode::CREATED
    );

    h.ecr(
        "PutLifecyclePolicy",
        json!({"repositoryName": "app", "lifecyclePolicyText": KEEP_NEWEST_V}),
    )
    .await
    .unwrap();
    let report = h.reg.run_lifecycle_once().await.unwrap();
    assert_eq!((report.repositories, report.expired_images), (1, 2));
    let mut want = vec![new, other];
    want.sort();
    assert_eq!(digests(&h, "app").await, want);
    let r = h.get(&format!("/v2/app/referrers/{old}")).await;
    assert_eq!(r.json()["manifests"], json!([]));
    let got = h
        .ecr("GetLifecyclePolicy", json!({"repositoryName": "app"}))
        .await
        .unwrap();
    assert!(got["lastEvaluatedAt"].as_f64().unwrap() > 0.0);
    // Applying it again changes nothing: evaluation is idempotent.
    assert_eq!(h.reg.run_lifecycle_once().await.unwrap().expired_images, 0);
}

#[tokio::test]
async fn a_manifest_list_child_is_never_expired() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let child = h.push_image("app", "v1", "child").await;
    let size = h.get(&format!("/v2/app/manifests/{child}")).await.body.len();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": child, "size": size,
                       "platform": {"architecture": "amd64", "os": "linux"}}]
    });
    assert_eq!(h.put_manifest("app", "list", &index).await.status, StatusCode::CREATED);
    h.push_image("app", "v2", "newer").await;
    h.ecr(
        "PutLifecyclePolicy",
        json!({"repositoryName": "app", "lifecyclePolicyText": KEEP_NEWEST_V}),
    )
    .await
    .unwrap();
    let preview = h
        .ecr("StartLifecyclePolicyPreview", json!({"repositoryName": "app"}))
        .await
        .unwrap();
    assert_eq!(preview["status"], "COMPLETE");
    let got = h
        .ecr("GetLifecyclePolicyPreview", json!({"repositoryName": "app"}))
        .await
        .unwrap();
    assert_eq!(got["summary"]["expiringImageTotalCount"], 0);
    assert_eq!(h.reg.run_lifecycle_once().await.unwrap().expired_images, 0);
    assert!(digests(&h, "app").await.contains(&child));
}
