//! Recording calls and looking them up, on a temp dir.

use berth_audit::{ApiCall, AuditLog, CloudTrail, Identity, RequestParameters};
use berth_proto::{JsonService, Principal, RequestContext};
use serde_json::{Value, json};
use std::sync::Arc;

fn root() -> Principal {
    Principal {
        arn: "arn:aws:iam::000000000000:root".into(),
        account_id: "000000000000".into(),
        access_key_id: "AKIATEST".into(),
        is_root: true,
        user_name: None,
        unique_id: "000000000000".into(),
    }
}

async fn lookup(ct: &CloudTrail, input: Value) -> Value {
    ct.call(
        &RequestContext::root("000000000000", "us-east-1"),
        "LookupEvents",
        input,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn records_and_looks_up() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(&dir.path().join("audit.db"), "us-east-1", "000000000000").unwrap());
    for i in 0..120 {
        let mut call = ApiCall::new(
            "ecs.amazonaws.com",
            if i % 2 == 0 { "CreateCluster" } else { "ListClusters" },
            &format!("r{i}"),
        );
        call.identity = Identity::Principal(root());
        call.request_parameters = Some(RequestParameters::of(
            &json!({"clusterName": format!("c{i}")}),
            "ecs.amazonaws.com",
        ));
        log.record(call);
    }
    let mut bad = ApiCall::new("ssm.amazonaws.com", "PutParameter", "bad");
    bad.request_parameters = Some(RequestParameters::of(
        &json!({"Name": "/p", "Value": "s3cr3t", "Type": "SecureString"}),
        "ssm.amazonaws.com",
    ));
    bad.identity = Identity::Unknown {
        access_key_id: Some("AKIABAD".into()),
    };
    bad.error_code = Some("UnrecognizedClientException".into());
    log.record(bad);
    let ct = CloudTrail::new(log.clone());

    // Newest first, 50 per page, every CreateCluster exactly once.
    let mut names = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateCluster"}]});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let out = lookup(&ct, input).await;
        for e in out["Events"].as_array().unwrap() {
            assert_eq!(e["EventName"], "CreateCluster");
            assert_eq!(e["Username"], "root");
            assert_eq!(e["ReadOnly"], "false");
            let doc: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
            assert_eq!(doc["userIdentity"]["arn"], "arn:aws:iam::000000000000:root");
            names.push(e["Resources"][0]["ResourceName"].as_str().unwrap().to_string());
        }
        match out.get("NextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    let want: Vec<String> = (0..120).step_by(2).rev().map(|i| format!("c{i}")).collect();
    assert_eq!(names, want);

    let out = lookup(
        &ct,
        json!({"LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIABAD"}]}),
    )
    .await;
    let e = &out["Events"][0];
    let doc = e["CloudTrailEvent"].as_str().unwrap();
    assert!(doc.contains("UnrecognizedClientException"));
    assert!(!doc.contains("s3cr3t"));
    let out = lookup(
        &ct,
        json!({"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": "c7"}]}),
    )
    .await;
    assert_eq!(out["Events"][0]["EventName"], "ListClusters");
    let out = lookup(
        &ct,
        json!({"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "true"}], "MaxResults": 5}),
    )
    .await;
    assert_eq!(out["Events"].as_array().unwrap().len(), 5);

    let future = json!({"StartTime": 4_000_000_000.0});
    assert_eq!(lookup(&ct, future).await["Events"].as_array().unwrap().len(), 0);
    let ctx = RequestContext::root("000000000000", "us-east-1");
    for (input, code) in [
        (json!({"MaxResults": 51}), "InvalidMaxResultsException"),
        (json!({"StartTime": 10.0, "EndTime": 5.0}), "InvalidTimeRangeException"),
        (json!({"NextToken": "zzz"}), "InvalidNextTokenException"),
        (
            json!({"LookupAttributes": [{"AttributeKey": "Nope", "AttributeValue": "x"}]}),
            "InvalidLookupAttributesException",
        ),
    ] {
        let e = ct.call(&ctx, "LookupEvents", input).await.unwrap_err();
        assert_eq!(e.code, code);
    }
}
