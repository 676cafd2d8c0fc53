//! Image scanning on a real registry (store, blobs, worker): a scan asked
//! for survives a restart and completes after it; the ECR events hook sees
//! exactly one action per push and delete, and the scan's end.

mod common;

use berth_registry::events::{ActionType, ImageAction, ImageEvents, ImageScan};
use berth_registry::records::ScanStatus;
use common::Harness;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A ustar archive of regular files.
fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = vec![];
    for (name, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

const STATUS: &[u8] = b"Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n";
const OSV: &str = r#"[{"id": "CVE-2024-0727", "database_specific": {"severity": "CRITICAL"},
    "affected": [{"package": {"ecosystem": "Debian", "name": "openssl"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}]}]"#;

async fn push_debian_image(h: &Harness, repo: &str, tag: &str) -> String {
    let mut gz = GzEncoder::new(vec![], Compression::fast());
    gz.write_all(&tar(&[("var/lib/dpkg/status", STATUS)])).unwrap();
    let layer = gz.finish().unwrap();
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let ld = h.push_blob(repo, &layer).await;
    let cd = h.push_blob(repo, config).await;
    let m = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld.to_string(), "size": layer.len()}],
    });
    let r = h.put_manifest(repo, tag, &m).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    r.header("docker-content-digest").unwrap().to_string()
}

async fn findings_when_done(h: &Harness, repo: &str, tag: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = h
            .ecr(
                "DescribeImageScanFindings",
                json!({"repositoryName": repo, "imageId": {"imageTag": tag}}),
            )
            .await
            .unwrap();
        if r["imageScanStatus"]["status"] != "IN_PROGRESS" {
            return r;
        }
        assert!(Instant::now() < deadline, "the scan did not end: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_scan_asked_for_before_a_restart_completes_after_it() {
    let h = Harness::new().await;
    let osv = h.dir.join("osv.json");
    std::fs::write(&osv, OSV).unwrap();
    assert_eq!(berth_registry::import_scan_database(&h.dir, &osv).unwrap(), 1);
    h.create_repo("app").await;
    push_debian_image(&h, "app", "v1").await;
    // No worker runs yet: the scan stays asked for.
    let started = h
        .ecr(
            "StartImageScan",
            json!({"repositoryName": "app", "imageId": {"imageTag": "v1"}}),
        )
        .await
        .unwrap();
    assert_eq!(started["imageScanStatus"]["status"], "IN_PROGRESS");
    let h = h.restart().await;
    let pending = h
        .ecr(
            "DescribeImageScanFindings",
            json!({"repositoryName": "app", "imageId": {"imageTag": "v1"}}),
        )
        .await
        .unwrap();
    assert_eq!(pending["imageScanStatus"]["status"], "IN_PROGRESS");
    let _worker = h.reg.spawn_scanner();
    let done = findings_when_done(&h, "app", "v1").await;
    assert_eq!(done["imageScanStatus"]["status"], "COMPLETE", "{done}");
    assert_eq!(
        done["imageScanFindings"]["findingSeverityCounts"],
        json!({"CRITICAL": 1})
    );
    assert_eq!(done["imageScanFindings"]["findings"][0]["name"], "CVE-2024-0727");
}

#[derive(Default)]
struct Recorded {
    actions: Mutex<Vec<ImageAction>>,
    scans: Mutex<Vec<ImageScan>>,
}

impl ImageEvents for Recorded {
    fn image_action(&self, action: ImageAction) {
        self.actions.lock().unwrap().push(action);
    }
    fn image_scan(&self, scan: ImageScan) {
        self.scans.lock().unwrap().push(scan);
    }
}

#[tokio::test]
async fn one_event_per_push_delete_and_scan() {
    let h = Harness::new().await;
    let rec = Arc::new(Recorded::default());
    h.reg.set_image_events(rec.clone());
    let _worker = h.reg.spawn_scanner();
    h.ecr(
        "CreateRepository",
        json!({"repositoryName": "app", "imageScanningConfiguration": {"scanOnPush": true}}),
    )
    .await
    .unwrap();
    let digest = push_debian_image(&h, "app", "v1").await;
    // The same manifest under the same tag again: nothing changes.
    push_debian_image(&h, "app", "v1").await;
    let done = findings_when_done(&h, "app", "v1").await;
    // No database: the scan fails and says what to do.
    assert_eq!(done["imageScanStatus"]["status"], "FAILED");
    assert!(
        done["imageScanStatus"]["description"]
            .as_str()
            .unwrap()
            .contains("berth scan-db import")
    );
    // The scan's event follows its record.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rec.scans.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no scan event");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Another tag on the same image (after the scan's event: it names v1 only).
    push_debian_image(&h, "app", "v2").await;
    h.ecr(
        "BatchDeleteImage",
        json!({"repositoryName": "app", "imageIds": [{"imageDigest": digest}]}),
    )
    .await
    .unwrap();
    let actions: Vec<(ActionType, Option<String>)> = rec
        .actions
        .lock()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!((a.repository.as_str(), a.digest.as_str()), ("app", digest.as_str()));
            (a.action, a.tag.clone())
        })
        .collect();
    let t = |s: &str| Some(s.to_string());
    assert_eq!(
        actions,
        [
            (ActionType::Push, t("v1")),
            (ActionType::Push, t("v2")),
            (ActionType::Delete, t("v1")),
            (ActionType::Delete, t("v2")),
        ]
    );
    let scans = rec.scans.lock().unwrap();
    assert_eq!(scans.len(), 1);
    assert_eq!(
        (scans[0].status, scans[0].tags.clone()),
        (ScanStatus::Failed, vec!["v1".to_string()])
    );
}

#[tokio::test]
async fn a_lifecycle_expiry_is_a_delete_action() {
    let h = Harness::new().await;
    let rec = Arc::new(Recorded::default());
    h.reg.set_image_events(rec.clone());
    h.create_repo("app").await;
    let old = h.push_image("app", "a", "one").await;
    h.push_image("app", "b", "two").await;
    let policy = json!({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                    "countNumber": 1}, "action": {"type": "expire"}}]});
    h.ecr(
        "PutLifecyclePolicy",
        json!({"repositoryName": "app", "lifecyclePolicyText": policy.to_string()}),
    )
    .await
    .unwrap();
    assert_eq!(h.reg.run_lifecycle_once().await.unwrap().expired_images, 1);
    let actions = rec.actions.lock().unwrap();
    let last = actions.last().unwrap();
    assert_eq!(
        (last.action, last.digest.as_str(), last.tag.as_deref()),
        (ActionType::Delete, old.as_str(), Some("a"))
    );
    assert_eq!(actions.iter().filter(|a| a.action == ActionType::Delete).count(), 1);
}
