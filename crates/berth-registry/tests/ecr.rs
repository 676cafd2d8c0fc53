//! The ECR API (JsonService) on the same registry as `/v2/`.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_registry::digest::Digest;
use common::{ACCOUNT, HOST, Harness};
use serde_json::{Value, json};

fn code(r: Result<Value, berth_proto::AwsError>) -> String {
    r.expect_err("expected an error").code.to_string()
}

#[tokio::test]
async fn scan_on_push_is_stored_and_reported() {
    let h = Harness::new().await;
    for (name, on) in [("scanned", true), ("unscanned", false)] {
        let out = h
            .ecr(
                "CreateRepository",
                json!({"repositoryName": name, "imageScanningConfiguration": {"scanOnPush": on}}),
            )
            .await
            .unwrap();
        assert_eq!(
            out["repository"]["imageScanningConfiguration"],
            json!({"scanOnPush": on})
        );
    }
    let out = h
        .ecr("DescribeRepositories", json!({"repositoryNames": ["scanned"]}))
        .await
        .unwrap();
    assert_eq!(
        out["repositories"][0]["imageScanningConfiguration"],
        json!({"scanOnPush": true})
    );
}

#[tokio::test]
async fn repositories_lifecycle() {
    let h = Harness::new().await;
    let out = h
        .ecr(
            "CreateRepository",
            json!({"repositoryName": "team/app", "tags": [{"Key": "env", "Value": "dev"}],
                   "imageScanningConfiguration": {"scanOnPush": false}}),
        )
        .await
        .unwrap();
    let repo = &out["repository"];
    assert_eq!(repo["repositoryName"], "team/app");
    assert_eq!(
        repo["repositoryArn"],
        "arn:aws:ecr:us-east-1:000000000000:repository/team/app"
    );
    assert_eq!(repo["registryId"], ACCOUNT);
    assert_eq!(repo["repositoryUri"], format!("{HOST}/team/app"));
    assert_eq!(repo["imageTagMutability"], "MUTABLE");
    assert_eq!(repo["imageScanningConfiguration"]["scanOnPush"], false);
    assert_eq!(repo["encryptionConfiguration"], json!({"encryptionType": "AES256"}));
    assert!(repo["createdAt"].as_f64().unwrap() > 1.6e9);

    assert_eq!(
        code(h.ecr("CreateRepository", json!({"repositoryName": "team/app"})).await),
        "RepositoryAlreadyExistsException"
    );
    for bad in ["A", "Upper", "a//b", "-x"] {
        assert_eq!(
            code(h.ecr("CreateRepository", json!({"repositoryName": bad})).await),
            "InvalidParameterException",
            "{bad}"
        );
    }
    assert_eq!(
        code(
            h.ecr(
                "CreateRepository",
                json!({"repositoryName": "x1", "imageTagMutability": "IMMUTABLE",
                  "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "a*"}]})
            )
            .await
        ),
        "InvalidParameterException"
    );
    assert_eq!(
        code(
            h.ecr(
                "CreateRepository",
                json!({"repositoryName": "x2", "tags": [{"Key": "aws:x", "Value": ""}]})
            )
            .await
        ),
        "InvalidTagParameterException"
    );
    let many: Vec<Value> = (0..51).map(|i| json!({"Key": format!("k{i}"), "Value": ""})).collect();
    assert_eq!(
        code(
            h.ecr("CreateRepository", json!({"repositoryName": "x3", "tags": many}))
                .await
        ),
        "TooManyTagsException"
    );

    for n in ["b", "c", "d"] {
        h.create_repo(&format!("repo-{n}")).await;
    }
    let d = h
        .ecr("DescribeRepositories", json!({"repositoryNames": ["repo-c"]}))
        .await
        .unwrap();
    assert_eq!(d["repositories"][0]["repositoryName"], "repo-c");
    assert_eq!(
        code(
            h.ecr("DescribeRepositories", json!({"repositoryNames": ["nope"]}))
                .await
        ),
        "RepositoryNotFoundException"
    );
    // Pagination covers everything once.
    let mut names = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"maxResults": 2});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let page = h.ecr("DescribeRepositories", input).await.unwrap();
        for r in page["repositories"].as_array().unwrap() {
            names.push(r["repositoryName"].as_str().unwrap().to_string());
        }
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(names, vec!["repo-b", "repo-c", "repo-d", "team/app"]);

    // Tags on the repository.
    let arn = "arn:aws:ecr:us-east-1:000000000000:repository/team/app";
    h.ecr(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"Key": "team", "Value": "x"}]}),
    )
    .await
    .unwrap();
    h.ecr("UntagResource", json!({"resourceArn": arn, "tagKeys": ["env"]}))
        .await
        .unwrap();
    let t = h.ecr("ListTagsForResource", json!({"resourceArn": arn})).await.unwrap();
    assert_eq!(t["tags"], json!([{"Key": "team", "Value": "x"}]));
    assert_eq!(
        code(
            h.ecr(
                "ListTagsForResource",
                json!({"resourceArn": "arn:aws:ecr:us-east-1:000000000000:repository/zz"})
            )
            .await
        ),
        "RepositoryNotFoundException"
    );
    assert_eq!(
        code(h.ecr("ListTagsForResource", json!({"resourceArn": "not-an-arn"})).await),
        "InvalidParameterException"
    );

    // Deleting a repository with images needs force.
    h.push_image("team/app", "v1", "a").await;
    assert_eq!(
        code(h.ecr("DeleteRepository", json!({"repositoryName": "team/app"})).await),
        "RepositoryNotEmptyException"
    );
    let del = h
        .ecr("DeleteRepository", json!({"repositoryName": "team/app", "force": true}))
        .await
        .unwrap();
    assert_eq!(del["repository"]["repositoryName"], "team/app");
    assert_eq!(h.get("/v2/team/app/tags/list").await.error_code(), "NAME_UNKNOWN");
    // Re-created, it starts empty.
    h.create_repo("team/app").await;
    let imgs = h
        .ecr("ListImages", json!({"repositoryName": "team/app"}))
        .await
        .unwrap();
    assert_eq!(imgs["imageIds"], json!([]));
    assert_eq!(
        code(h.ecr("DeleteRepository", json!({"repositoryName": "gone"})).await),
        "RepositoryNotFoundException"
    );
    let e = h
        .ecr(
            "CreateRepository",
            json!({"repositoryName": "kms", "encryptionConfiguration": {"encryptionType": "KMS"}}),
        )
        .await
        .unwrap_err();
    // A registry without KMS cannot honour it.
    assert_eq!(e.code, "KmsException");
    assert_eq!(
        code(h.ecr("PutSigningConfiguration", json!({})).await),
        "UnknownOperationException"
    );
}

#[tokio::test]
async fn images_list_describe_get_delete() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let m = h.image_manifest("app", "one").await;
    let d1 = h
        .put_manifest("app", "v1", &m)
        .await
        .header("docker-content-digest")
        .unwrap()
        .to_string();
    h.put_manifest("app", "latest", &m).await;
    let d2 = h.push_image("app", "v2", "two").await;
    // Moving v2 leaves its old image untagged.
    let d3 = h.push_image("app", "v2", "three").await;

    let all = h.ecr("ListImages", json!({"repositoryName": "app"})).await.unwrap();
    assert_eq!(all["imageIds"].as_array().unwrap().len(), 4);
    let untagged = h
        .ecr(
            "ListImages",
            json!({"repositoryName": "app", "filter": {"tagStatus": "UNTAGGED"}}),
        )
        .await
        .unwrap();
    assert_eq!(untagged["imageIds"], json!([{"imageDigest": d2}]));
    let tagged = h
        .ecr(
            "ListImages",
            json!({"repositoryName": "app", "filter": {"tagStatus": "TAGGED"}, "maxResults": 2}),
        )
        .await
        .unwrap();
    assert_eq!(tagged["imageIds"].as_array().unwrap().len(), 2);
    assert!(tagged["nextToken"].is_string());

    let desc = h
        .ecr(
            "DescribeImages",
            json!({"repositoryName": "app", "imageIds": [{"imageTag": "v1"}]}),
        )
        .await
        .unwrap();
    let detail = &desc["imageDetails"][0];
    assert_eq!(detail["imageDigest"], json!(d1));
    assert_eq!(detail["imageTags"], json!(["latest", "v1"]));
    let config_len = m["config"]["size"].as_u64().unwrap();
    let layer_len = m["layers"][0]["size"].as_u64().unwrap();
    assert_eq!(detail["imageSizeInBytes"], json!(config_len + layer_len));
    assert_eq!(
        detail["imageManifestMediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        detail["artifactMediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert!(detail["imagePushedAt"].as_f64().is_some());
    assert!(detail.get("lastRecordedPullTime").is_none());
    assert_eq!(
        code(
            h.ecr(
                "DescribeImages",
                json!({"repositoryName": "app", "imageIds": [{"imageTag": "nope"}]})
            )
            .await
        ),
        "ImageNotFoundException"
    );

    // A pull records the pull time.
    assert_eq!(h.get("/v2/app/manifests/v1").await.status, StatusCode::OK);
    let desc = h
        .ecr(
            "DescribeImages",
            json!({"repositoryName": "app", "imageIds": [{"imageDigest": d1}]}),
        )
        .await
        .unwrap();
    assert!(desc["imageDetails"][0]["lastRecordedPullTime"].as_f64().is_some());

    let got = h
        .ecr(
            "BatchGetImage",
            json!({"repositoryName": "app", "imageIds": [{"imageTag": "v1"}, {"imageTag": "missing"}, {"imageDigest": d3, "imageTag": "v1"}]}),
        )
        .await
        .unwrap();
    assert_eq!(got["images"].as_array().unwrap().len(), 1);
    let manifest_text = got["images"][0]["imageManifest"].as_str().unwrap();
    assert_eq!(Digest::sha256_of(manifest_text.as_bytes()).to_string(), d1);
    assert_eq!(
        got["images"][0]["imageId"],
        json!({"imageDigest": d1, "imageTag": "v1"})
    );
    let codes: Vec<&str> = got["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["failureCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["ImageNotFound", "ImageTagDoesNotMatchDigest"]);
    let oci_only = h
        .ecr(
            "BatchGetImage",
            json!({"repositoryName": "app", "imageIds": [{"imageTag": "v1"}],
                   "acceptedMediaTypes": ["application/vnd.oci.image.manifest.v1+json"]}),
        )
        .await
        .unwrap();
    assert_eq!(oci_only["images"], json!([]));
    assert_eq!(oci_only["failures"].as_array().unwrap().len(), 1);

    // Deleting one of two tags keeps the image; deleting the last deletes it.
    let del = h
        .ecr(
            "BatchDeleteImage",
            json!({"repositoryName": "app", "imageIds": [{"imageTag": "latest"}]}),
        )
        .await
        .unwrap();
    assert_eq!(del["imageIds"], json!([{"imageDigest": d1, "imageTag": "latest"}]));
    assert_eq!(h.get(&format!("/v2/app/manifests/{d1}")).await.status, StatusCode::OK);
    h.ecr(
        "BatchDeleteImage",
        json!({"repositoryName": "app", "imageIds": [{"imageTag": "v1"}]}),
    )
    .await
    .unwrap();
    assert_eq!(
        h.get(&format!("/v2/app/manifests/{d1}")).await.error_code(),
        "MANIFEST_UNKNOWN"
    );
    // By digest: the image and its tags go.
    let del = h
        .ecr(
            "BatchDeleteImage",
            json!({"repositoryName": "app", "imageIds": [{"imageDigest": d3}, {"imageDigest": d1}, {}]}),
        )
        .await
        .unwrap();
    assert_eq!(del["imageIds"], json!([{"imageDigest": d3, "imageTag": "v2"}]));
    let codes: Vec<&str> = del["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["failureCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["ImageNotFound", "MissingDigestAndTag"]);
    let left = h.ecr("ListImages", json!({"repositoryName": "app"})).await.unwrap();
    assert_eq!(left["imageIds"], json!([{"imageDigest": d2}]));
}

#[tokio::test]
async fn put_image_rules() {
    let h = Harness::new().await;
    h.ecr(
        "CreateRepository",
        json!({"repositoryName": "app", "imageTagMutability": "IMMUTABLE"}),
    )
    .await
    .unwrap();
    let m1 = h.image_manifest("app", "one").await;
    let m2 = h.image_manifest("app", "two").await;
    let text1 = serde_json::to_string(&m1).unwrap();
    let text2 = serde_json::to_string(&m2).unwrap();
    let out = h
        .ecr(
            "PutImage",
            json!({"repositoryName": "app", "imageManifest": text1, "imageTag": "v1"}),
        )
        .await
        .unwrap();
    let d1 = Digest::sha256_of(text1.as_bytes()).to_string();
    assert_eq!(out["image"]["imageId"], json!({"imageDigest": d1, "imageTag": "v1"}));
    assert_eq!(
        out["image"]["imageManifestMediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    // Same tag, same digest.
    assert_eq!(
        code(
            h.ecr(
                "PutImage",
                json!({"repositoryName": "app", "imageManifest": text1, "imageTag": "v1"})
            )
            .await
        ),
        "ImageAlreadyExistsException"
    );
    // Same tag, other digest, immutable repository: the same refusal /v2/ gives.
    let e = h
        .ecr(
            "PutImage",
            json!({"repositoryName": "app", "imageManifest": text2, "imageTag": "v1"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "ImageTagAlreadyExistsException");
    assert!(e.message.contains("cannot be overwritten because the tag is immutable"));
    let r = h.put_manifest("app", "v1", &m2).await;
    assert_eq!(r.error_code(), "TAG_INVALID");
    // After switching to MUTABLE the tag moves.
    h.ecr(
        "PutImageTagMutability",
        json!({"repositoryName": "app", "imageTagMutability": "MUTABLE"}),
    )
    .await
    .unwrap();
    h.ecr(
        "PutImage",
        json!({"repositoryName": "app", "imageManifest": text2, "imageTag": "v1"}),
    )
    .await
    .unwrap();
    let d2 = Digest::sha256_of(text2.as_bytes()).to_string();
    assert_eq!(
        h.get("/v2/app/manifests/v1").await.header("docker-content-digest"),
        Some(d2.as_str())
    );

    // Digest checks and missing references.
    assert_eq!(
        code(
            h.ecr(
                "PutImage",
                json!({"repositoryName": "app", "imageManifest": text1, "imageDigest": d2})
            )
            .await
        ),
        "ImageDigestDoesNotMatchException"
    );
    let mut missing = m1.clone();
    missing["layers"][0]["digest"] = json!(Digest::sha256_of(b"nope").to_string());
    assert_eq!(
        code(
            h.ecr(
                "PutImage",
                json!({"repositoryName": "app", "imageManifest": missing.to_string(), "imageTag": "x"})
            )
            .await
        ),
        "LayersNotFoundException"
    );
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": Digest::sha256_of(b"no").to_string(), "size": 1}]
    });
    assert_eq!(
        code(
            h.ecr(
                "PutImage",
                json!({"repositoryName": "app", "imageManifest": index.to_string(), "imageTag": "idx"})
            )
            .await
        ),
        "ReferencedImagesNotFoundException"
    );
    assert_eq!(
        code(
            h.ecr(
                "PutImage",
                json!({"repositoryName": "app", "imageManifest": "{}", "imageTag": "x"})
            )
            .await
        ),
        "InvalidParameterException"
    );
    assert_eq!(
        code(
            h.ecr("PutImage", json!({"repositoryName": "nope", "imageManifest": text1}))
                .await
        ),
        "RepositoryNotFoundException"
    );
    // A manifest without its mediaType needs imageManifestMediaType, as in
    // ECR (which says "Invalid JSON syntax").
    let mut bare = m1.clone();
    bare.as_object_mut().unwrap().remove("mediaType");
    let bare_text = bare.to_string();
    let refused = h
        .ecr(
            "PutImage",
            json!({"repositoryName": "app", "imageManifest": bare_text, "imageTag": "bare"}),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code, "InvalidParameterException");
    assert!(refused.message.contains("Invalid JSON syntax"), "{}", refused.message);
    let out = h
        .ecr(
            "PutImage",
            json!({"repositoryName": "app", "imageManifest": bare_text, "imageTag": "bare",
                   "imageManifestMediaType": m1["mediaType"]}),
        )
        .await
        .unwrap();
    assert_eq!(out["image"]["imageManifestMediaType"], m1["mediaType"]);
}

#[tokio::test]
async fn layer_upload_api() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    let digest = Digest::sha256_of(&data).to_string();

    let check = h
        .ecr(
            "BatchCheckLayerAvailability",
            json!({"repositoryName": "app", "layerDigests": [digest, "bad"]}),
        )
        .await
        .unwrap();
    assert_eq!(check["layers"][0]["layerAvailability"], "UNAVAILABLE");
    assert_eq!(check["failures"][0]["failureCode"], "InvalidLayerDigest");

    let init = h
        .ecr("InitiateLayerUpload", json!({"repositoryName": "app"}))
        .await
        .unwrap();
    let upload = init["uploadId"].as_str().unwrap().to_string();
    assert!(init["partSize"].as_u64().unwrap() > 0);
    assert_eq!(
        code(
            h.ecr(
                "CompleteLayerUpload",
                json!({"repositoryName": "app", "uploadId": upload, "layerDigests": [digest]})
            )
            .await
        ),
        "EmptyUploadException"
    );
    let part = |first: usize, last: usize| {
        json!({"repositoryName": "app", "uploadId": upload, "partFirstByte": first, "partLastByte": last,
               "layerPartBlob": STANDARD.encode(&data[first..=last])})
    };
    let r = h.ecr("UploadLayerPart", part(0, 599)).await.unwrap();
    assert_eq!(r["lastByteReceived"], 599);
    let e = h.ecr("UploadLayerPart", part(0, 599)).await.unwrap_err();
    assert_eq!(e.code, "InvalidLayerPartException");
    assert!(e.message.contains("lastValidByteReceived: 599"), "{}", e.message);
    let mut wrong_len = part(600, 999);
    wrong_len["partLastByte"] = json!(1200);
    assert_eq!(
        code(h.ecr("UploadLayerPart", wrong_len).await),
        "InvalidLayerPartException"
    );
    h.ecr("UploadLayerPart", part(600, 999)).await.unwrap();
    let done = h
        .ecr(
            "CompleteLayerUpload",
            json!({"repositoryName": "app", "uploadId": upload, "layerDigests": [digest]}),
        )
        .await
        .unwrap();
    assert_eq!(done["layerDigest"], json!(digest));
    // The layer is now a blob of the repository, served on /v2/ too.
    assert_eq!(&h.get(&format!("/v2/app/blobs/{digest}")).await.body[..], &data[..]);
    let check = h
        .ecr(
            "BatchCheckLayerAvailability",
            json!({"repositoryName": "app", "layerDigests": [digest]}),
        )
        .await
        .unwrap();
    assert_eq!(
        check["layers"][0],
        json!({"layerDigest": digest, "layerAvailability": "AVAILABLE", "layerSize": 1000})
    );
    assert_eq!(
        code(h.ecr("UploadLayerPart", part(0, 9)).await),
        "UploadNotFoundException"
    );

    // A second upload of the same layer, and a wrong digest.
    let up2 = h
        .ecr("InitiateLayerUpload", json!({"repositoryName": "app"}))
        .await
        .unwrap()["uploadId"]
        .as_str()
        .unwrap()
        .to_string();
    h.ecr(
        "UploadLayerPart",
        json!({"repositoryName": "app", "uploadId": up2, "partFirstByte": 0, "partLastByte": 2, "layerPartBlob": STANDARD.encode(b"abc")}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(h
            .ecr("CompleteLayerUpload", json!({"repositoryName": "app", "uploadId": up2, "layerDigests": [Digest::sha256_of(b"xyz").to_string()]}))
            .await),
        "InvalidLayerException"
    );
    let up3 = h
        .ecr("InitiateLayerUpload", json!({"repositoryName": "app"}))
        .await
        .unwrap()["uploadId"]
        .as_str()
        .unwrap()
        .to_string();
    h.ecr(
        "UploadLayerPart",
        json!({"repositoryName": "app", "uploadId": up3, "partFirstByte": 0, "partLastByte": 999, "layerPartBlob": STANDARD.encode(&data)}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            h.ecr(
                "CompleteLayerUpload",
                json!({"repositoryName": "app", "uploadId": up3, "layerDigests": [digest]})
            )
            .await
        ),
        "LayerAlreadyExistsException"
    );

    // GetDownloadUrlForLayer gives a URL the router really serves.
    let url = h
        .ecr(
            "GetDownloadUrlForLayer",
            json!({"repositoryName": "app", "layerDigest": digest}),
        )
        .await
        .unwrap()["downloadUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let path = url.strip_prefix(&format!("http://{HOST}")).unwrap().to_string();
    let r = h.request_as(None, Method::GET, &path, &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], &data[..]);
    let tampered = path.replace("signature=", "signature=00");
    let r = h.request_as(None, Method::GET, &tampered, &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        code(
            h.ecr(
                "GetDownloadUrlForLayer",
                json!({"repositoryName": "app", "layerDigest": Digest::sha256_of(b"q").to_string()})
            )
            .await
        ),
        "LayersNotFoundException"
    );
}

#[tokio::test]
async fn authorization_token_logs_in_to_v2() {
    let h = Harness::new().await;
    let out = h.ecr("GetAuthorizationToken", json!({})).await.unwrap();
    let data = &out["authorizationData"][0];
    assert_eq!(data["proxyEndpoint"], format!("http://{HOST}"));
    let expires = data["expiresAt"].as_f64().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    assert!((expires - now - 12.0 * 3600.0).abs() < 60.0);
    let decoded = String::from_utf8(STANDARD.decode(data["authorizationToken"].as_str().unwrap()).unwrap()).unwrap();
    let password = decoded.strip_prefix("AWS:").unwrap();
    let basic = format!("Basic {}", STANDARD.encode(format!("AWS:{password}")));
    let r = h
        .request_as(Some(&basic), Method::GET, "/v2/", &[], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // The key persists: the password still works after a restart.
    let h = h.restart().await;
    let r = h
        .request_as(Some(&basic), Method::GET, "/v2/", &[], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        code(h.ecr("GetAuthorizationToken", json!({"registryIds": ["12"]})).await),
        "InvalidParameterException"
    );
}

#[tokio::test]
async fn policies() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage"]}]}"#;
    assert_eq!(
        code(h.ecr("GetRepositoryPolicy", json!({"repositoryName": "app"})).await),
        "RepositoryPolicyNotFoundException"
    );
    let set = h
        .ecr(
            "SetRepositoryPolicy",
            json!({"repositoryName": "app", "policyText": policy}),
        )
        .await
        .unwrap();
    assert_eq!(set["policyText"], policy);
    assert_eq!(set["registryId"], ACCOUNT);
    let got = h
        .ecr("GetRepositoryPolicy", json!({"repositoryName": "app"}))
        .await
        .unwrap();
    assert_eq!(got["policyText"], policy);
    assert_eq!(
        code(
            h.ecr(
                "SetRepositoryPolicy",
                json!({"repositoryName": "app", "policyText": "{\"nope\":1}"})
            )
            .await
        ),
        "InvalidParameterException"
    );
    let del = h
        .ecr("DeleteRepositoryPolicy", json!({"repositoryName": "app"}))
        .await
        .unwrap();
    assert_eq!(del["policyText"], policy);
    assert_eq!(
        code(h.ecr("DeleteRepositoryPolicy", json!({"repositoryName": "app"})).await),
        "RepositoryPolicyNotFoundException"
    );
    assert_eq!(
        code(
            h.ecr(
                "SetRepositoryPolicy",
                json!({"repositoryName": "nope", "policyText": policy})
            )
            .await
        ),
        "RepositoryNotFoundException"
    );

    assert_eq!(
        code(h.ecr("GetRegistryPolicy", json!({})).await),
        "RegistryPolicyNotFoundException"
    );
    // A registry policy grants only the registry-level actions (ECR's V1 scope).
    assert_eq!(
        code(h.ecr("PutRegistryPolicy", json!({"policyText": policy})).await),
        "InvalidParameterException"
    );
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"*"}]}"#;
    h.ecr("PutRegistryPolicy", json!({"policyText": policy})).await.unwrap();
    assert_eq!(
        h.ecr("GetRegistryPolicy", json!({})).await.unwrap()["policyText"],
        policy
    );
    assert_eq!(
        h.ecr("DeleteRegistryPolicy", json!({})).await.unwrap()["policyText"],
        policy
    );
    assert_eq!(
        code(h.ecr("DeleteRegistryPolicy", json!({})).await),
        "RegistryPolicyNotFoundException"
    );
    assert_eq!(
        code(h.ecr("PutRegistryPolicy", json!({"policyText": "[]"})).await),
        "InvalidParameterException"
    );
    let reg = h.ecr("DescribeRegistry", json!({})).await.unwrap();
    assert_eq!(
        reg,
        json!({"registryId": ACCOUNT, "replicationConfiguration": {"rules": []}})
    );
}

/// Every operation the authorization table maps is dispatched, and nothing
/// else is: routing and authorization cannot drift apart.
#[tokio::test]
async fn routing_is_the_authorization_table() {
    let h = Harness::new().await;
    for op in berth_registry::ecr::routed_operations() {
        if let Err(e) = h.ecr(op, json!({})).await {
            assert_ne!(e.code, "UnknownOperationException", "{op} is mapped but not routed");
        }
    }
    assert_eq!(
        code(h.ecr("PutSigningConfiguration", json!({})).await),
        "UnknownOperationException"
    );
}

/// ListImageReferrers lists what `/v2/<name>/referrers/<digest>` lists,
/// filtered and paged as ECR does.
#[tokio::test]
async fn list_image_referrers_matches_the_referrers_api() {
    let h = Harness::new().await;
    h.create_repo("app").await;
    let subject = h.push_image("app", "v1", "s").await;
    let empty = h.push_blob("app", b"{}").await;
    let mut pushed = vec![];
    for (kind, bytes) in [("sbom", b"sbom".as_slice()), ("sig", b"sig".as_slice())] {
        let layer = h.push_blob("app", bytes).await;
        let m = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": format!("application/vnd.example.{kind}"),
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer.to_string(), "size": bytes.len()}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": 1},
        });
        let d = Digest::sha256_of(&serde_json::to_vec(&m).unwrap()).to_string();
        assert_eq!(h.put_manifest("app", &d, &m).await.status, StatusCode::CREATED);
        pushed.push(d);
    }
    pushed.sort();
    let list = |extra: Value| {
        let mut input = json!({"repositoryName": "app", "subjectId": {"imageDigest": subject}});
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        h.ecr("ListImageReferrers", input)
    };
    let all = list(json!({})).await.unwrap();
    let digests: Vec<&str> = all["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, pushed);
    let sig = list(json!({"filter": {"artifactTypes": ["application/vnd.example.sig"]}}))
        .await
        .unwrap();
    assert_eq!(sig["referrers"].as_array().unwrap().len(), 1);
    assert_eq!(sig["referrers"][0]["artifactType"], "application/vnd.example.sig");
    let page = list(json!({"maxResults": 1})).await.unwrap();
    assert_eq!(page["referrers"][0]["digest"], pushed[0].as_str());
    let next = list(json!({"maxResults": 1, "nextToken": page["nextToken"]}))
        .await
        .unwrap();
    assert_eq!(next["referrers"][0]["digest"], pushed[1].as_str());
    assert!(next.get("nextToken").is_none());
    assert_eq!(
        code(
            h.ecr(
                "ListImageReferrers",
                json!({"repositoryName": "gone", "subjectId": {"imageDigest": subject}})
            )
            .await
        ),
        "RepositoryNotFoundException"
    );
    assert_eq!(code(list(json!({"maxResults": 51})).await), "InvalidParameterException");
}

/// Exclusions are stored once each, listed in ARN order, and removed.
#[tokio::test]
async fn pull_time_update_exclusions_register_list_deregister() {
    let h = Harness::new().await;
    let arn = |n: &str| format!("arn:aws:iam::{ACCOUNT}:user/{n}");
    for n in ["b", "a"] {
        let r = h
            .ecr("RegisterPullTimeUpdateExclusion", json!({"principalArn": arn(n)}))
            .await
            .unwrap();
        assert_eq!(r["principalArn"], arn(n));
        assert!(r["createdAt"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(
        code(
            h.ecr("RegisterPullTimeUpdateExclusion", json!({"principalArn": arn("a")}))
                .await
        ),
        "ExclusionAlreadyExistsException"
    );
    let l = h.ecr("ListPullTimeUpdateExclusions", json!({})).await.unwrap();
    assert_eq!(l["pullTimeUpdateExclusions"], json!([arn("a"), arn("b")]));
    h.ecr("DeregisterPullTimeUpdateExclusion", json!({"principalArn": arn("a")}))
        .await
        .unwrap();
    assert_eq!(
        code(
            h.ecr("DeregisterPullTimeUpdateExclusion", json!({"principalArn": arn("a")}))
                .await
        ),
        "ExclusionNotFoundException"
    );
    let h = h.restart().await;
    let l = h.ecr("ListPullTimeUpdateExclusions", json!({})).await.unwrap();
    assert_eq!(l["pullTimeUpdateExclusions"], json!([arn("b")]));
}
