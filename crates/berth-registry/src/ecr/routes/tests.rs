use super::*;
use serde_json::json;

const P: &str = "arn:aws:ecr:us-east-1:000000000000:repository/";

fn scope() -> Scope {
    Scope::new("us-east-1", "000000000000")
}

/// The ARNs `op` is authorized on for `input`: none when it is not routed.
fn t(op: &str, input: Value) -> Vec<String> {
    match OPERATIONS.resources_of(&scope(), op, input) {
        None => Vec::new(),
        Some(r) => r
            .unwrap_or_else(|e| panic!("{op}: {e:?}"))
            .into_iter()
            .map(|r| r.arn)
            .collect(),
    }
}

/// An input naming repository `app`, with the required members of `op`.
fn full() -> Value {
    json!({
        "repositoryName": "app", "imageIds": [], "imageManifest": "{}", "uploadId": "u",
        "partFirstByte": 0, "partLastByte": 0, "layerPartBlob": "", "layerDigests": [],
        "layerDigest": "sha256:0", "policyText": "{}", "imageTagMutability": "MUTABLE",
        "resourceArn": format!("{P}app"), "tags": [], "tagKeys": [], "lifecyclePolicyText": "{}",
        "imageId": {"imageTag": "v1"}, "imageScanningConfiguration": {"scanOnPush": true},
        "repositoryNames": ["app"], "replicationConfiguration": {"rules": []},
        "ecrRepositoryPrefix": "hub", "subjectId": {"imageDigest": "sha256:0"},
        "principalArn": "arn:aws:iam::000000000000:user/u", "name": "BLOB_MOUNTING", "value": "ENABLED", "upstreamRegistryUrl": "quay.io", "prefix": "prod",
        "destination": {"region": "eu-west-1", "registryId": "000000000000"},
        "replicationBackfillId": "0b0e7d8a-59b5-4a8e-9d3c-6a2e3f1c2b4d",
    })
}

#[test]
fn only_token_and_registry_operations_are_star() {
    let star: Vec<&str> = OPERATIONS
        .names()
        .into_iter()
        .filter(|op| t(op, full()) == ["*"])
        .collect();
    assert_eq!(
        star,
        [
            "CreatePullThroughCacheRule",
            "CreateRepositoryCreationTemplate",
            "DeletePullThroughCacheRule",
            "DeleteRegistryPolicy",
            "DeleteRepositoryCreationTemplate",
            "DeregisterPullTimeUpdateExclusion",
            "DescribePullThroughCacheRules",
            "DescribeRegistry",
            "DescribeReplicationBackfillResults",
            "DescribeRepositoryCreationTemplates",
            "GetAccountSetting",
            "GetAuthorizationToken",
            "GetRegistryPolicy",
            "GetRegistryScanningConfiguration",
            "ListPullTimeUpdateExclusions",
            "ListReplicationBackfills",
            "PutAccountSetting",
            "PutRegistryPolicy",
            "PutRegistryScanningConfiguration",
            "PutReplicationConfiguration",
            "RegisterPullTimeUpdateExclusion",
            "StartReplicationBackfill",
            "StopReplicationBackfill",
            "UpdatePullThroughCacheRule",
            "UpdateRepositoryCreationTemplate",
            "ValidatePullThroughCacheRule"
        ]
    );
    for op in OPERATIONS.names() {
        assert!(!t(op, full()).is_empty(), "{op}");
    }
    assert!(t("DescribeImageSigningStatus", json!({})).is_empty());
}

/// Every routed operation and what it is authorized on.
#[test]
fn every_routed_operation_and_its_resources() {
    let app = format!("{P}app");
    let expected: &[(&str, &str)] = &[
        ("BatchCheckLayerAvailability", &app),
        ("BatchDeleteImage", &app),
        ("BatchGetImage", &app),
        ("BatchGetRepositoryScanningConfiguration", &app),
        ("CompleteLayerUpload", &app),
        ("CreatePullThroughCacheRule", "*"),
        ("CreateRepository", &app),
        ("CreateRepositoryCreationTemplate", "*"),
        ("DeleteLifecyclePolicy", &app),
        ("DeletePullThroughCacheRule", "*"),
        ("DeleteRegistryPolicy", "*"),
        ("DeleteRepository", &app),
        ("DeleteRepositoryCreationTemplate", "*"),
        ("DeleteRepositoryPolicy", &app),
        ("DeregisterPullTimeUpdateExclusion", "*"),
        ("DescribeImageReplicationStatus", &app),
        ("DescribeImageScanFindings", &app),
        ("DescribeImages", &app),
        ("DescribePullThroughCacheRules", "*"),
        ("DescribeRegistry", "*"),
        ("DescribeReplicationBackfillResults", "*"),
        ("DescribeRepositories", &app),
        ("DescribeRepositoryCreationTemplates", "*"),
        ("GetAccountSetting", "*"),
        ("GetAuthorizationToken", "*"),
        ("GetDownloadUrlForLayer", &app),
        ("GetLifecyclePolicy", &app),
        ("GetLifecyclePolicyPreview", &app),
        ("GetRegistryPolicy", "*"),
        ("GetRegistryScanningConfiguration", "*"),
        ("GetRepositoryPolicy", &app),
        ("InitiateLayerUpload", &app),
        ("ListImageReferrers", &app),
        ("ListImages", &app),
        ("ListPullTimeUpdateExclusions", "*"),
        ("ListReplicationBackfills", "*"),
        ("ListTagsForResource", &app),
        ("PutAccountSetting", "*"),
        ("PutImage", &app),
        ("PutImageScanningConfiguration", &app),
        ("PutImageTagMutability", &app),
        ("PutLifecyclePolicy", &app),
        ("PutRegistryPolicy", "*"),
        ("PutRegistryScanningConfiguration", "*"),
        ("PutReplicationConfiguration", "*"),
        ("RegisterPullTimeUpdateExclusion", "*"),
        ("SetRepositoryPolicy", &app),
        ("StartImageScan", &app),
        ("StartLifecyclePolicyPreview", &app),
        ("StartReplicationBackfill", "*"),
        ("StopReplicationBackfill", "*"),
        ("TagResource", &app),
        ("UntagResource", &app),
        ("UpdatePullThroughCacheRule", "*"),
        ("UpdateRepositoryCreationTemplate", "*"),
        ("UploadLayerPart", &app),
        ("ValidatePullThroughCacheRule", "*"),
    ];
    assert_eq!(
        OPERATIONS.names(),
        expected.iter().map(|(op, _)| *op).collect::<Vec<_>>()
    );
    for (op, arn) in expected {
        assert_eq!(t(op, full()), [arn.to_string()], "{op}");
    }
}

#[test]
fn list_image_referrers_needs_batch_get_image_on_the_repository() {
    let input = json!({"repositoryName": "app", "subjectId": {"imageDigest": "sha256:0"}});
    let r = OPERATIONS
        .resources_of(&scope(), "ListImageReferrers", input)
        .unwrap()
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].arn, format!("{P}app"));
    assert_eq!(r[0].action.as_deref(), Some("ecr:BatchGetImage"));
}

#[test]
fn repositories_are_named() {
    assert_eq!(
        t("PutImage", json!({"repositoryName": "team/app", "imageManifest": "{}"})),
        [format!("{P}team/app")]
    );
    // An empty name is authorized on the empty name, never `*`.
    assert_eq!(
        t("PutImage", json!({"repositoryName": "", "imageManifest": "{}"})),
        [P.to_string()]
    );
    assert_eq!(
        t("DescribeRepositories", json!({"repositoryNames": ["a", "b"]})),
        [format!("{P}a"), format!("{P}b")]
    );
    assert_eq!(t("DescribeRepositories", json!({})), [format!("{P}*")]);
    assert_eq!(
        t("TagResource", json!({"resourceArn": format!("{P}a"), "tags": []})),
        [format!("{P}a")]
    );
}
