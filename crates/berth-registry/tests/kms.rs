//! KMS-encrypted repositories through the registry: pushes land in the
//! key's encrypted store (nothing of the layers in the shared one), pulls
//! decrypt, a mount from an encrypted repository into a plain one is
//! declined, and garbage collection removes encrypted blobs no image
//! references.

mod common;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use berth_registry::crypt::DataKeys;
use berth_registry::digest::Digest;
use common::Harness;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// KMS stand-in: wraps by XOR with a mask derived from the context.
struct FakeKms;

fn mask(context: &BTreeMap<String, String>) -> Vec<u8> {
    Digest::sha256_of(format!("{context:?}").as_bytes()).hex().as_bytes()[..32].to_vec()
}

#[async_trait]
impl DataKeys for FakeKms {
    async fn key_arn(&self, key_id: Option<&str>) -> Result<String, String> {
        match key_id {
            None => Ok("arn:aws:kms:us-east-1:000000000000:key/aws-ecr".into()),
            Some("missing") => Err("NotFoundException: Key 'missing' does not exist".into()),
            Some(k) => Ok(format!("arn:aws:kms:us-east-1:000000000000:key/{k}")),
        }
    }
    async fn generate(&self, _: &str, context: &BTreeMap<String, String>) -> Result<(Vec<u8>, Vec<u8>), String> {
        let key: Vec<u8> = (0..32).map(|i| i as u8 ^ 0x5a).collect();
        let wrapped = key.iter().zip(mask(context)).map(|(a, b)| a ^ b).collect();
        Ok((key, wrapped))
    }
    async fn decrypt(&self, wrapped: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
        Ok(wrapped.iter().zip(mask(context)).map(|(a, b)| a ^ b).collect())
    }
}

fn files_under(d: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

async fn kms_harness() -> Harness {
    let h = Harness::with(|r| r.with_gc_grace(Duration::ZERO)).await;
    h.reg.set_data_keys(Arc::new(FakeKms));
    h
}

#[tokio::test]
async fn encrypted_pushes_pulls_mounts_and_collection() {
    let h = kms_harness().await;
    let out = h
        .ecr(
            "CreateRepository",
            json!({"repositoryName": "secret/app", "encryptionConfiguration": {"encryptionType": "KMS"}}),
        )
        .await
        .unwrap();
    assert_eq!(
        out["repository"]["encryptionConfiguration"],
        json!({"encryptionType": "KMS", "kmsKey": "arn:aws:kms:us-east-1:000000000000:key/aws-ecr"})
    );
    let e = h
        .ecr(
            "CreateRepository",
            json!({"repositoryName": "bad", "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "missing"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "KmsException");
    h.create_repo("plain").await;
    let digest = h.push_image("secret/app", "v1", "encrypted").await;
    // Only the manifest is in the shared store; the layer and config are
    // encrypted under the key.
    assert_eq!(h.blob_files().len(), 1, "{:?}", h.blob_files());
    let enc = files_under(&h.dir.join("registry").join("kms-blobs"));
    assert_eq!(enc.len(), 2, "{enc:?}");
    let layer_plain = "layer-bytes-encrypted".repeat(10);
    for f in &enc {
        let bytes = std::fs::read(f).unwrap();
        assert!(!bytes.windows(21).any(|w| w == b"layer-bytes-encrypted"), "{f:?}");
    }
    // A pull decrypts, whole and by range.
    let m: Value = serde_json::from_slice(&h.get("/v2/secret/app/manifests/v1").await.body).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_string();
    let b = h.get(&format!("/v2/secret/app/blobs/{layer}")).await;
    assert_eq!((b.status, b.body.as_ref()), (StatusCode::OK, layer_plain.as_bytes()));
    let r = h
        .request(
            Method::GET,
            &format!("/v2/secret/app/blobs/{layer}"),
            &[("range", "bytes=5-14")],
            Body::empty(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_ref()),
        (StatusCode::PARTIAL_CONTENT, &layer_plain.as_bytes()[5..15])
    );
    // A mount into the plain repository is declined, even with mounting
    // enabled: the client uploads.
    h.ecr(
        "PutAccountSetting",
        json!({"name": "BLOB_MOUNTING", "value": "ENABLED"}),
    )
    .await
    .unwrap();
    let r = h
        .request(
            Method::POST,
            &format!("/v2/plain/blobs/uploads/?mount={layer}&from=secret/app"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // Deleted, the image's encrypted blobs are collected.
    h.ecr(
        "BatchDeleteImage",
        json!({"repositoryName": "secret/app", "imageIds": [{"imageDigest": digest}]}),
    )
    .await
    .unwrap();
    let run = h.reg.collect_garbage(false).await.unwrap();
    assert!(run.blobs_deleted >= 3, "{run:?}");
    assert!(files_under(&h.dir.join("registry").join("kms-blobs")).is_empty());
}
