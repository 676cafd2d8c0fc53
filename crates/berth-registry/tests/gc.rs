//! Online garbage collection of blobs: what is collected, what is kept
//! (referenced blobs, young blobs), dry runs, orphan files a crash leaves,
//! and collections running while clients push images that share layers.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use berth_registry::digest::Digest;
use common::Harness;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

fn blobs_of(manifest: &Value) -> Vec<String> {
    let mut out = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
    for l in manifest["layers"].as_array().unwrap() {
        out.push(l["digest"].as_str().unwrap().to_string());
    }
    out
}

fn file_names(h: &Harness) -> BTreeSet<String> {
    h.blob_files()
        .iter()
        .map(|p| format!("sha256:{}", p.file_name().unwrap().to_string_lossy()))
        .collect()
}

async fn delete_manifest(h: &Harness, repo: &str, digest: &str) {
    let r = h
        .request(
            Method::DELETE,
            &format!("/v2/{repo}/manifests/{digest}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json());
}

/// Pulls `reference` and every blob it names, checking each digest.
async fn pull_verified(h: &Harness, repo: &str, reference: &str) -> Result<(), String> {
    let m = h.get(&format!("/v2/{repo}/manifests/{reference}")).await;
    if m.status != StatusCode::OK {
        return Err(format!("{reference}: manifest {}", m.status));
    }
    let manifest: Value = serde_json::from_slice(&m.body).unwrap();
    for d in blobs_of(&manifest) {
        let b = h.get(&format!("/v2/{repo}/blobs/{d}")).await;
        if b.status != StatusCode::OK || Digest::sha256_of(&b.body).to_string() != d {
            return Err(format!("{reference}: blob {d} answered {}", b.status));
        }
    }
    Ok(())
}

#[tokio::test]
async fn unreferenced_blobs_are_collected_and_referenced_ones_stay() {
    let h = Harness::with_gc_grace(Duration::ZERO).await;
    h.create_repo("app").await;
    let keep = h.image_manifest("app", "keep").await;
    assert_eq!(h.put_manifest("app", "keep", &keep).await.status, StatusCode::CREATED);
    let gone = h.image_manifest("app", "gone").await;
    let r = h.put_manifest("app", "gone", &gone).await;
    let gone_digest = r.header("docker-content-digest").unwrap().to_string();
    delete_manifest(&h, "app", &gone_digest).await;
    let before = file_names(&h);
    assert_eq!(before.len(), 6, "two manifests, two configs, two layers");

    let dry = h.reg.collect_garbage(true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!((dry.garbage_blobs, dry.blobs_deleted), (3, 0));
    assert_eq!(file_names(&h), before, "a dry run deletes nothing");

    let run = h.reg.collect_garbage(false).await.unwrap();
    assert_eq!((run.garbage_blobs, run.blobs_deleted, run.links_removed), (3, 3, 2));
    let mut expected = before.clone();
    for d in blobs_of(&gone).into_iter().chain([gone_digest]) {
        assert!(expected.remove(&d));
    }
    assert_eq!(file_names(&h), expected);
    assert_eq!(run.bytes_freed, dry.garbage_bytes);
    pull_verified(&h, "app", "keep").await.unwrap();
    // The collected layer is no longer in the repository either.
    let layer = &blobs_of(&gone)[1];
    let head = h
        .request(Method::HEAD, &format!("/v2/app/blobs/{layer}"), &[], Body::empty())
        .await;
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    let stats = h.reg.gc_stats();
    assert_eq!(stats.blobs_deleted.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(stats.runs.load(std::sync::atomic::Ordering::Relaxed), 2);

    let again = h.reg.collect_garbage(false).await.unwrap();
    assert_eq!(again.garbage_blobs, 0);
}

#[tokio::test]
async fn blobs_younger_than_the_grace_window_are_kept() {
    let h = Harness::with_gc_grace(Duration::from_secs(3600)).await;
    h.create_repo("app").await;
    let d = h.push_image("app", "v1", "young").await;
    delete_manifest(&h, "app", &d).await;
    h.push_blob("app", b"uploaded, never referenced").await;
    let before = file_names(&h);
    let run = h.reg.collect_garbage(false).await.unwrap();
    assert_eq!((run.garbage_blobs, run.blobs_deleted), (0, 0));
    assert_eq!(file_names(&h), before);
}

#[tokio::test]
async fn orphan_files_and_dangling_links_are_collected() {
    let h = Harness::with_gc_grace(Duration::ZERO).await;
    h.create_repo("app").await;
    // A file with no link and no reference: what a crash between the
    // store transaction and the file removal leaves.
    let orphan = berth_registry::blob::put_bytes(h.reg.blob_store(), bytes::Bytes::from_static(b"orphan"))
        .await
        .unwrap();
    // A link whose file is gone.
    let linked = h.push_blob("app", b"linked").await;
    assert!(h.reg.blob_store().delete(&linked).await.unwrap());
    let run = h.reg.collect_garbage(false).await.unwrap();
    assert_eq!((run.garbage_blobs, run.blobs_deleted, run.links_removed), (2, 1, 1));
    assert!(!h.reg.blob_store().exists(&orphan).await.unwrap());
    let check = h
        .ecr(
            "BatchCheckLayerAvailability",
            json!({"repositoryName": "app", "layerDigests": [linked.to_string()]}),
        )
        .await
        .unwrap();
    assert_eq!(check["layers"][0]["layerAvailability"], "UNAVAILABLE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collections_during_pushes_and_deletes_lose_nothing() {
    // A grace window of 300 ms, shorter than some pushes take on a busy
    // machine: a blob uploaded and not yet referenced for that long is
    // garbage, so a collection may take it before the manifest arrives —
    // the manifest is then refused (MANIFEST_BLOB_UNKNOWN) and the pusher
    // uploads again, as a client does. (With no window at all a pusher can
    // lose that race forever.) What must never happen is a manifest stored
    // while one of its blobs is deleted.
    let h = Arc::new(Harness::with_gc_grace(Duration::from_millis(300)).await);
    h.create_repo("app").await;
    let shared_layer = "a layer every image shares".repeat(50);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (h, stop) = (h.clone(), stop.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                h.reg.collect_garbage(false).await.unwrap();
                runs += 1;
                tokio::task::yield_now().await;
            }
            runs
        })
    };
    let mut pushers = vec![];
    for p in 0..6 {
        let (h, shared_layer) = (h.clone(), shared_layer.clone());
        pushers.push(tokio::spawn(async move {
            let (mut kept, mut refused) = (vec![], 0);
            for i in 0..12 {
                let seed = format!("p{p}-i{i}");
                let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
                let own = format!("own layer {seed}").repeat(20);
                let tag = format!("t-{seed}");
                let mut attempts = 0;
                let digest = loop {
                    attempts += 1;
                    assert!(attempts <= 50, "{seed}: refused 50 times");
                    let cd = h.push_blob("app", config.as_bytes()).await;
                    let sd = h.push_blob("app", shared_layer.as_bytes()).await;
                    let od = h.push_blob("app", own.as_bytes()).await;
                    let m = json!({
                        "schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
                        "layers": [
                            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sd.to_string(), "size": shared_layer.len()},
                            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": od.to_string(), "size": own.len()},
                        ]
                    });
                    let r = h.put_manifest("app", &tag, &m).await;
                    if r.status == StatusCode::CREATED {
                        break r.header("docker-content-digest").unwrap().to_string();
                    }
                    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN", "{seed}: {:?}", r.json());
                    refused += 1;
                };
                // Every stored image pulls whole, right away.
                pull_verified(&h, "app", &tag).await.unwrap();
                if i % 3 == 0 {
                    delete_manifest(&h, "app", &digest).await;
                } else {
                    kept.push(tag);
                }
            }
            (kept, refused)
        }));
    }
    let (mut kept, mut refused) = (vec![], 0);
    for p in pushers {
        let (k, r) = p.await.unwrap();
        kept.extend(k);
        refused += r;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = collector.await.unwrap();
    assert!(runs > 0);
    for tag in &kept {
        pull_verified(&h, "app", tag).await.unwrap();
    }
    // A collection with no window: nothing unreferenced is left,
    // everything referenced still pulls.
    let runs_before = h.reg.gc_stats().runs.load(std::sync::atomic::Ordering::Relaxed);
    let h = Arc::try_unwrap(h)
        .ok()
        .unwrap()
        .restart_with_gc_grace(Duration::ZERO)
        .await;
    h.reg.collect_garbage(false).await.unwrap();
    let mut referenced = BTreeSet::new();
    for tag in &kept {
        let m = h.get(&format!("/v2/app/manifests/{tag}")).await;
        referenced.insert(Digest::sha256_of(&m.body).to_string());
        referenced.extend(blobs_of(&serde_json::from_slice(&m.body).unwrap()));
        pull_verified(&h, "app", tag).await.unwrap();
    }
    assert_eq!(file_names(&h), referenced);
    assert_eq!(kept.len(), 6 * 8);
    assert!(runs_before > 0);
    eprintln!("{runs} collections during the pushes, {refused} manifests refused and pushed again");
}

#[tokio::test]
async fn a_client_checking_an_old_blob_keeps_it_for_another_grace_window() {
    let h = Harness::with_gc_grace(Duration::from_secs(3600)).await;
    h.create_repo("app").await;
    let d = h
        .push_blob("app", b"pushed long ago, about to be referenced again")
        .await;
    // Age the file and the link by two hours.
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    let path = h
        .blob_files()
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy() == d.hex())
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let key = berth_registry::keys::layer("app", &d.to_string());
    let mut link: berth_registry::records::LayerRecord =
        serde_json::from_slice(&h.store.get(&key).await.unwrap().unwrap().value).unwrap();
    link.created_at -= 7200.0;
    h.store.put(&key, serde_json::to_vec(&link).unwrap()).await.unwrap();
    assert_eq!(h.reg.collect_garbage(true).await.unwrap().garbage_blobs, 1);

    // `docker push` asks whether the blob is there before it sends the
    // manifest that references it: that refreshes the link.
    let head = h
        .request(Method::HEAD, &format!("/v2/app/blobs/{d}"), &[], Body::empty())
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(h.reg.collect_garbage(false).await.unwrap().garbage_blobs, 0);
    assert!(h.reg.blob_store().exists(&d).await.unwrap());
}
