//! ECR replication between two registries of one server (two regions):
//! a push replicates the image (blobs, manifest, tag) to the other region
//! and creates its repository; intents written before a restart are
//! worked after it; an immutable tag already taken at the destination
//! fails the replication with its failure code.

mod common;

use berth_proto::JsonService;
use berth_registry::replication::LocalRegions;
use berth_registry::{Registry, RegistryConfig};
use berth_store::{SqliteStore, Store};
use common::{ACCOUNT, HOST, Harness};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EU: &str = "eu-west-1";

async fn eu_registry(dir: &std::path::Path) -> Arc<Registry> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("state.db")).unwrap());
    Arc::new(
        Registry::open(
            store,
            RegistryConfig {
                data_dir: dir.to_path_buf(),
                region: EU.into(),
                account_id: ACCOUNT.into(),
                registry_host: HOST.into(),
            },
        )
        .await
        .unwrap(),
    )
}

fn link(src: &Harness, eu: &Arc<Registry>) {
    let all = [src.reg.clone(), eu.clone()];
    src.reg
        .set_replication_targets(Arc::new(LocalRegions::new(ACCOUNT, &all)));
    eu.set_replication_targets(Arc::new(LocalRegions::new(ACCOUNT, &all)));
}

async fn eu_call(eu: &Registry, op: &str, input: Value) -> Result<Value, berth_proto::AwsError> {
    eu.call(&berth_proto::RequestContext::root(ACCOUNT, EU), op, input)
        .await
}

async fn replicate_to_eu(h: &Harness) {
    h.ecr(
        "PutReplicationConfiguration",
        json!({"replicationConfiguration": {"rules": [{"destinations": [{"region": EU, "registryId": ACCOUNT}]}]}}),
    )
    .await
    .unwrap();
}

/// Polls the image's replication status until it is `want` (10 s at most).
async fn status_becomes(h: &Harness, repo: &str, digest: &str, want: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let out = h
            .ecr(
                "DescribeImageReplicationStatus",
                json!({"repositoryName": repo, "imageId": {"imageDigest": digest}}),
            )
            .await
            .unwrap();
        let s = &out["replicationStatuses"];
        if s[0]["status"] == want {
            return s.clone();
        }
        assert!(Instant::now() < end, "status never became {want}: {s}");
        // The poll's pace, not a synchronisation: the loop waits for the status.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_push_is_copied_to_the_other_region() {
    let h = Harness::new().await;
    let eu_dir = tempfile::tempdir().unwrap();
    let eu = eu_registry(eu_dir.path()).await;
    link(&h, &eu);
    h.reg.spawn_replicator();
    replicate_to_eu(&h).await;
    h.ecr(
        "CreateRepository",
        json!({"repositoryName": "team/app", "imageTagMutability": "IMMUTABLE"}),
    )
    .await
    .unwrap();
    let digest = h.push_image("team/app", "v1", "one").await;
    let s = status_becomes(&h, "team/app", &digest, "COMPLETE").await;
    assert_eq!(s, json!([{"region": EU, "registryId": ACCOUNT, "status": "COMPLETE"}]));
    let images = eu_call(&eu, "DescribeImages", json!({"repositoryName": "team/app"}))
        .await
        .unwrap();
    assert_eq!(images["imageDetails"][0]["imageDigest"], json!(digest));
    assert_eq!(images["imageDetails"][0]["imageTags"], json!(["v1"]));
    let repo = eu_call(&eu, "DescribeRepositories", json!({"repositoryNames": ["team/app"]}))
        .await
        .unwrap();
    assert_eq!(repo["repositories"][0]["imageTagMutability"], "IMMUTABLE");
    // The replica's layers are readable at the destination.
    let got = eu_call(
        &eu,
        "BatchGetImage",
        json!({"repositoryName": "team/app", "imageIds": [{"imageTag": "v1"}]}),
    )
    .await
    .unwrap();
    let manifest: Value = serde_json::from_str(got["images"][0]["imageManifest"].as_str().unwrap()).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let avail = eu_call(
        &eu,
        "BatchCheckLayerAvailability",
        json!({"repositoryName": "team/app", "layerDigests": [layer]}),
    )
    .await
    .unwrap();
    assert_eq!(avail["layers"][0]["layerAvailability"], "AVAILABLE");
}

#[tokio::test]
async fn intents_written_before_a_restart_are_worked_after_it() {
    let h = Harness::new().await;
    let eu_dir = tempfile::tempdir().unwrap();
    let eu = eu_registry(eu_dir.path()).await;
    link(&h, &eu);
    replicate_to_eu(&h).await;
    h.create_repo("app").await;
    // No replicator runs: the intent waits in the store.
    let digest = h.push_image("app", "v1", "restart").await;
    let s = status_becomes(&h, "app", &digest, "IN_PROGRESS").await;
    assert_eq!(s[0]["region"], EU);
    let h = h.restart().await;
    link(&h, &eu);
    h.reg.spawn_replicator();
    status_becomes(&h, "app", &digest, "COMPLETE").await;
    let images = eu_call(&eu, "ListImages", json!({"repositoryName": "app"}))
        .await
        .unwrap();
    assert_eq!(images["imageIds"], json!([{"imageDigest": digest, "imageTag": "v1"}]));
}

#[tokio::test]
async fn an_immutable_tag_taken_at_the_destination_fails_the_replication() {
    let h = Harness::new().await;
    let eu_dir = tempfile::tempdir().unwrap();
    let eu = eu_registry(eu_dir.path()).await;
    link(&h, &eu);
    h.reg.spawn_replicator();
    eu.spawn_replicator();
    // eu-west-1 already has `app:v1`, immutable, another image.
    eu_call(
        &eu,
        "CreateRepository",
        json!({"repositoryName": "app", "imageTagMutability": "IMMUTABLE"}),
    )
    .await
    .unwrap();
    let other = Harness::new().await;
    other.create_repo("app").await;
    let m = other.image_manifest("app", "theirs").await;
    for d in [&m["config"]["digest"], &m["layers"][0]["digest"]] {
        let d = d.as_str().unwrap();
        let bytes = berth_registry::blob::read_all(other.reg.blob_store(), &d.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        let id = eu_call(&eu, "InitiateLayerUpload", json!({"repositoryName": "app"}))
            .await
            .unwrap()["uploadId"]
            .clone();
        use base64::Engine;
        let blob = base64::engine::general_purpose::STANDARD.encode(&bytes);
        eu_call(
            &eu,
            "UploadLayerPart",
            json!({"repositoryName": "app", "uploadId": id, "partFirstByte": 0,
            "partLastByte": bytes.len() - 1, "layerPartBlob": blob}),
        )
        .await
        .unwrap();
        eu_call(
            &eu,
            "CompleteLayerUpload",
            json!({"repositoryName": "app", "uploadId": id, "layerDigests": [d]}),
        )
        .await
        .unwrap();
    }
    eu_call(
        &eu,
        "PutImage",
        json!({"repositoryName": "app", "imageTag": "v1", "imageManifest": m.to_string()}),
    )
    .await
    .unwrap();

    replicate_to_eu(&h).await;
    h.create_repo("app").await;
    let digest = h.push_image("app", "v1", "ours").await;
    let s = status_becomes(&h, "app", &digest, "FAILED").await;
    assert_eq!(
        s,
        json!([{"region": EU, "registryId": ACCOUNT, "status": "FAILED", "failureCode": "IMAGE_TAG_IMMUTABLE"}])
    );
}

#[tokio::test]
async fn a_manifest_list_is_copied_with_its_images() {
    let h = Harness::new().await;
    let eu_dir = tempfile::tempdir().unwrap();
    let eu = eu_registry(eu_dir.path()).await;
    link(&h, &eu);
    replicate_to_eu(&h).await;
    h.create_repo("multi").await;
    let mut children = vec![];
    for seed in ["amd64", "arm64"] {
        let m = h.image_manifest("multi", seed).await;
        let bytes = serde_json::to_vec(&m).unwrap();
        let digest = berth_registry::digest::Digest::sha256_of(&bytes).to_string();
        let r = h.put_manifest("multi", &digest, &m).await;
        assert_eq!(r.status, axum::http::StatusCode::CREATED, "{:?}", r.json());
        children.push(
            json!({"mediaType": m["mediaType"], "digest": digest, "size": bytes.len(),
            "platform": {"architecture": seed, "os": "linux"}}),
        );
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": children});
    let r = h.put_manifest("multi", "v1", &index).await;
    assert_eq!(r.status, axum::http::StatusCode::CREATED, "{:?}", r.json());
    let digest = r.header("docker-content-digest").unwrap().to_string();
    // Started after the pushes: the list's intent may be worked before its images'.
    h.reg.spawn_replicator();
    status_becomes(&h, "multi", &digest, "COMPLETE").await;
    let listed = eu_call(&eu, "DescribeImages", json!({"repositoryName": "multi"}))
        .await
        .unwrap();
    let mut got: Vec<(String, Value)> = listed["imageDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["imageDigest"].as_str().unwrap().to_string(), d["imageTags"].clone()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(String, Value)> = children
        .iter()
        .map(|c| (c["digest"].as_str().unwrap().to_string(), Value::Null))
        .chain([(digest.clone(), json!(["v1"]))])
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
}

#[tokio::test]
async fn an_image_pushed_again_shows_only_its_own_replications() {
    let h = Harness::new().await;
    let eu_dir = tempfile::tempdir().unwrap();
    let eu = eu_registry(eu_dir.path()).await;
    link(&h, &eu);
    h.reg.spawn_replicator();
    replicate_to_eu(&h).await;
    h.create_repo("again").await;
    let digest = h.push_image("again", "v1", "same").await;
    status_becomes(&h, "again", &digest, "COMPLETE").await;
    // Replication off; the image deleted and pushed again (the same digest).
    h.ecr(
        "PutReplicationConfiguration",
        json!({"replicationConfiguration": {"rules": []}}),
    )
    .await
    .unwrap();
    h.ecr(
        "BatchDeleteImage",
        json!({"repositoryName": "again", "imageIds": [{"imageTag": "v1"}]}),
    )
    .await
    .unwrap();
    assert_eq!(h.push_image("again", "v1", "same").await, digest);
    let out = h
        .ecr(
            "DescribeImageReplicationStatus",
            json!({"repositoryName": "again", "imageId": {"imageTag": "v1"}}),
        )
        .await
        .unwrap();
    assert_eq!(out["replicationStatuses"], json!([]));
}

#[tokio::test]
async fn a_backfill_queues_the_images_already_there_once() {
    let h = Harness::new().await;
    let eu_dir = tempfile::tempdir().unwrap();
    let eu = eu_registry(eu_dir.path()).await;
    link(&h, &eu);
    h.create_repo("app").await;
    h.create_repo("other").await;
    // Pushed before any configuration: not replicated (as ECR).
    let digest = h.push_image("app", "v1", "before").await;
    h.push_image("other", "v1", "elsewhere").await;
    h.ecr(
        "PutReplicationConfiguration",
        json!({"replicationConfiguration": {"rules": [{
            "destinations": [{"region": EU, "registryId": ACCOUNT}],
            "repositoryFilters": [{"filter": "app", "filterType": "PREFIX_MATCH"}]}]}}),
    )
    .await
    .unwrap();
    let none = h
        .ecr(
            "DescribeImageReplicationStatus",
            json!({"repositoryName": "app", "imageId": {"imageDigest": digest}}),
        )
        .await
        .unwrap();
    assert_eq!(none["replicationStatuses"], json!([]));

    // No replicator yet: the backfill's intent waits, a second one leaves it.
    let first = h.reg.backfill_replication(None).await.unwrap();
    assert_eq!(
        (first.repositories, first.images, first.queued, first.in_progress),
        (1, 1, 1, 0)
    );
    status_becomes(&h, "app", &digest, "IN_PROGRESS").await;
    let again = h.reg.backfill_replication(Some("app")).await.unwrap();
    assert_eq!((again.queued, again.in_progress), (0, 1));

    h.reg.spawn_replicator();
    status_becomes(&h, "app", &digest, "COMPLETE").await;
    let images = eu_call(&eu, "ListImages", json!({"repositoryName": "app"}))
        .await
        .unwrap();
    assert_eq!(images["imageIds"], json!([{"imageDigest": digest, "imageTag": "v1"}]));
    let err = eu_call(&eu, "ListImages", json!({"repositoryName": "other"}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "RepositoryNotFoundException");

    let done = h.reg.backfill_replication(None).await.unwrap();
    assert_eq!((done.queued, done.already_replicated), (0, 1));
    let missing = h.reg.backfill_replication(Some("nope")).await.unwrap_err();
    assert!(
        matches!(missing, berth_registry::RegistryError::RepositoryNotFound { .. }),
        "{missing:?}"
    );
}

/// Polls DescribeReplicationBackfillResults until the backfill is `want`
/// (10 s at most).
async fn backfill_becomes(h: &Harness, id: &str, want: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let out = h
            .ecr(
                "DescribeReplicationBackfillResults",
                json!({"replicationBackfillId": id}),
            )
            .await
            .unwrap();
        if out["status"] == want {
            return out;
        }
        assert!(Instant::now() < end, "the backfill never became {want}: {out}");
        // The poll's pace, not a synchronisation: the loop waits for the status.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_replication_backfill_survives_a_restart_and_completes() {
    let h = Harness::new().await;
    let eu_dir = tempfile::tempdir().unwrap();
    let eu = eu_registry(eu_dir.path()).await;
    link(&h, &eu);
    h.create_repo("app").await;
    let one = h.push_image("app", "v1", "bf-one").await;
    let two = h.push_image("app", "v2", "bf-two").await;
    let dest = json!({"region": EU, "registryId": ACCOUNT});

    // Not a destination of the configuration (there is none yet).
    let err = h
        .ecr("StartReplicationBackfill", json!({"destination": dest}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "InvalidParameterException", "{}", err.message);
    replicate_to_eu(&h).await;

    // No controller yet: it stays PREPARING; a second one is refused.
    let started = h
        .ecr("StartReplicationBackfill", json!({"destination": dest}))
        .await
        .unwrap();
    assert_eq!(started["status"], "PREPARING");
    assert_eq!(started["destination"], dest);
    let id = started["replicationBackfillId"].as_str().unwrap().to_string();
    let err = h
        .ecr("StartReplicationBackfill", json!({"destination": dest}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "ReplicationBackfillInProgressException");
    let listed = h.ecr("ListReplicationBackfills", json!({})).await.unwrap();
    assert_eq!(listed["backfills"][0]["replicationBackfillId"], json!(id));
    assert!(listed["backfills"][0].get("progress").is_none());

    // It goes on after a restart.
    let h = h.restart().await;
    link(&h, &eu);
    h.reg.spawn_replicator();
    let done = backfill_becomes(&h, &id, "COMPLETE").await;
    assert_eq!(
        done["progress"],
        json!({"totalReplicationCount": 2, "completedReplicationCount": 2,
               "failedReplicationCount": 0, "failureCodes": []})
    );
    let results = done["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r["status"], "COMPLETE");
        assert_eq!(r["repositoryName"], "app");
    }
    let images = eu_call(&eu, "ListImages", json!({"repositoryName": "app"}))
        .await
        .unwrap();
    let mut got: Vec<&str> = images["imageIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["imageDigest"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want = vec![one.as_str(), two.as_str()];
    want.sort();
    assert_eq!(got, want);
    // Ended: its region is free again, and it cannot be stopped.
    let err = h
        .ecr("StopReplicationBackfill", json!({"replicationBackfillId": id}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "ReplicationBackfillInvalidStatusException");
    let again = h
        .ecr("StartReplicationBackfill", json!({"destination": dest}))
        .await
        .unwrap();
    let again_id = again["replicationBackfillId"].as_str().unwrap();
    let second = backfill_becomes(&h, again_id, "COMPLETE").await;
    assert_eq!(second["progress"]["completedReplicationCount"], 2);
    let page = h
        .ecr("ListReplicationBackfills", json!({"maxResults": 1}))
        .await
        .unwrap();
    assert_eq!(page["backfills"].as_array().unwrap().len(), 1);
    let rest = h
        .ecr(
            "ListReplicationBackfills",
            json!({"maxResults": 1, "nextToken": page["nextToken"]}),
        )
        .await
        .unwrap();
    assert_eq!(rest["backfills"][0]["replicationBackfillId"], json!(again_id));
    let err = h
        .ecr(
            "DescribeReplicationBackfillResults",
            json!({"replicationBackfillId": "00000000-0000-0000-0000-000000000000"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "ReplicationBackfillNotFoundException");
}

#[tokio::test]
async fn a_stopped_backfill_withdraws_what_is_not_copied() {
    let h = Harness::new().await;
    let eu_dir = tempfile::tempdir().unwrap();
    let eu = eu_registry(eu_dir.path()).await;
    link(&h, &eu);
    h.create_repo("app").await;
    // Pushed before the configuration: only the backfill queues it.
    let digest = h.push_image("app", "v1", "bf-stop").await;
    replicate_to_eu(&h).await;
    // The destination's registry goes away: copies are retried, never done.
    drop(eu);
    h.reg.spawn_replicator();
    let dest = json!({"region": EU, "registryId": ACCOUNT});
    let id = h
        .ecr("StartReplicationBackfill", json!({"destination": dest}))
        .await
        .unwrap()["replicationBackfillId"]
        .as_str()
        .unwrap()
        .to_string();
    let running = backfill_becomes(&h, &id, "IN_PROGRESS").await;
    assert_eq!(running["progress"]["totalReplicationCount"], 1);
    assert!(running.get("results").is_none());
    status_becomes(&h, "app", &digest, "IN_PROGRESS").await;
    let stop = h
        .ecr("StopReplicationBackfill", json!({"replicationBackfillId": id}))
        .await
        .unwrap();
    assert_eq!(stop["status"], "STOPPING");
    let stopped = backfill_becomes(&h, &id, "STOPPED").await;
    assert_eq!(stopped["progress"]["completedReplicationCount"], 0);
    assert_eq!(stopped["results"], json!([]));
    assert!(stopped["endedAt"].is_number());
    // Its intent was withdrawn: no replication status is left.
    let none = h
        .ecr(
            "DescribeImageReplicationStatus",
            json!({"repositoryName": "app", "imageId": {"imageDigest": digest}}),
        )
        .await
        .unwrap();
    assert_eq!(none["replicationStatuses"], json!([]));
}

#[tokio::test]
async fn a_backfill_stopped_while_preparing_stops_at_once() {
    let h = Harness::new().await;
    let eu_dir = tempfile::tempdir().unwrap();
    let eu = eu_registry(eu_dir.path()).await;
    link(&h, &eu);
    replicate_to_eu(&h).await;
    let dest = json!({"region": EU, "registryId": ACCOUNT});
    // No controller runs: it is still PREPARING when stopped.
    let id = h
        .ecr("StartReplicationBackfill", json!({"destination": dest}))
        .await
        .unwrap()["replicationBackfillId"]
        .as_str()
        .unwrap()
        .to_string();
    let stop = h
        .ecr("StopReplicationBackfill", json!({"replicationBackfillId": id}))
        .await
        .unwrap();
    assert_eq!(stop["status"], "STOPPED");
    let out = h
        .ecr(
            "DescribeReplicationBackfillResults",
            json!({"replicationBackfillId": id}),
        )
        .await
        .unwrap();
    assert_eq!(out["status"], "STOPPED");
    assert!(out.get("progress").is_none(), "{out}");
    assert!(out["endedAt"].is_number());
    // Its region is free at once.
    h.ecr("StartReplicationBackfill", json!({"destination": dest}))
        .await
        .unwrap();
}
