//! Several regions on one listener: each request goes to the region its
//! credential scope names, a region not served is refused with AWS's
//! error, and one region never answers with another's resources.

use super::*;

const EU: &str = "eu-west-1";
const AP: &str = "ap-south-1";

fn ecs(op: &str, body: &str, region: &str) -> Call {
    Call::json(&format!("{ECS}.{op}"), body).signed(Signer::root("ecs").region(region))
}

fn ssm(op: &str, body: &str, region: &str) -> Call {
    Call::json(&format!("AmazonSSM.{op}"), body).signed(Signer::root("ssm").region(region))
}

#[tokio::test]
async fn a_cluster_lives_in_the_region_it_was_created_in() {
    let server = Server::serving(&[EU, AP]).await;
    let created = server.call(ecs("CreateCluster", r#"{"clusterName":"c1"}"#, AP)).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    assert_eq!(
        created.json()["cluster"]["clusterArn"],
        format!("arn:aws:ecs:{AP}:{ACCOUNT}:cluster/c1")
    );
    let listed = |region| server.call(ecs("ListClusters", "{}", region));
    assert_eq!(
        listed(AP).await.json()["clusterArns"],
        serde_json::json!([format!("arn:aws:ecs:{AP}:{ACCOUNT}:cluster/c1")])
    );
    assert_eq!(listed(EU).await.json()["clusterArns"], serde_json::json!([]));
    let described = server
        .call(ecs("DescribeClusters", r#"{"clusters":["c1"]}"#, EU))
        .await
        .json();
    assert_eq!(described["clusters"], serde_json::json!([]));
    assert_eq!(described["failures"][0]["reason"], "MISSING");
    // The same name in the other region is another cluster, with its own ARN.
    let again = server.call(ecs("CreateCluster", r#"{"clusterName":"c1"}"#, EU)).await;
    assert_eq!(
        again.json()["cluster"]["clusterArn"],
        format!("arn:aws:ecs:{EU}:{ACCOUNT}:cluster/c1")
    );
}

#[tokio::test]
async fn a_parameter_is_read_in_its_own_region_only() {
    let server = Server::serving(&[EU, AP]).await;
    let put = server
        .call(ssm(
            "PutParameter",
            r#"{"Name":"/app/db","Value":"eu-value","Type":"String"}"#,
            EU,
        ))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text());
    let got = server
        .call(ssm("GetParameter", r#"{"Name":"/app/db"}"#, EU))
        .await
        .json();
    assert_eq!(got["Parameter"]["Value"], "eu-value");
    assert_eq!(
        got["Parameter"]["ARN"],
        format!("arn:aws:ssm:{EU}:{ACCOUNT}:parameter/app/db")
    );
    let missing = server.call(ssm("GetParameter", r#"{"Name":"/app/db"}"#, AP)).await;
    assert_eq!(missing.json_error().0, "ParameterNotFound");
}

#[tokio::test]
async fn a_region_not_served_is_refused_in_each_protocol() {
    let server = Server::serving(&[EU, AP]).await;
    let json = server.call(ecs("ListClusters", "{}", "us-west-2")).await;
    assert_eq!(json.status, StatusCode::FORBIDDEN);
    assert_eq!(
        json.json_error(),
        (
            "InvalidSignatureException".to_string(),
            "Credential should be scoped to a valid region. ".to_string()
        )
    );
    let query = server
        .call(Call::query(GET_CALLER_IDENTITY).signed(Signer::root("sts").region("us-west-2")))
        .await;
    assert_eq!(query.status, StatusCode::FORBIDDEN);
    assert_eq!(
        query.query_error(),
        (
            "SignatureDoesNotMatch".to_string(),
            "Credential should be scoped to a valid region. ".to_string()
        )
    );
    // IAM and STS are global: their us-east-1 signing region is taken, and
    // so is each served region.
    for region in ["us-east-1", EU, AP] {
        let sts = server
            .call(Call::query(GET_CALLER_IDENTITY).signed(Signer::root("sts").region(region)))
            .await;
        assert_eq!(sts.status, StatusCode::OK, "{region}: {}", sts.text());
    }
}

#[tokio::test]
async fn the_request_context_carries_the_region_signed_for() {
    // KMS names its keys with the request's region.
    let server = Server::serving(&[EU, AP]).await;
    for region in [EU, AP] {
        let created = server
            .call(Call::json("TrentService.CreateKey", "{}").signed(Signer::root("kms").region(region)))
            .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.text());
        let arn = created.json()["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
        assert!(
            arn.starts_with(&format!("arn:aws:kms:{region}:{ACCOUNT}:key/")),
            "{arn}"
        );
        let listed = server
            .call(Call::json("TrentService.ListKeys", "{}").signed(Signer::root("kms").region(region)))
            .await
            .json();
        assert_eq!(listed["Keys"].as_array().unwrap().len(), 1, "{region}: {listed}");
    }
}

#[tokio::test]
async fn the_registry_answers_in_the_region_whose_password_it_is() {
    let server = Server::serving(&[EU, AP]).await;
    let ecr = |op: &str, body: &str, region: &str| {
        Call::json(&format!("{ECR}.{op}"), body).signed(Signer::root("ecr").region(region))
    };
    let created = server
        .call(ecr("CreateRepository", r#"{"repositoryName":"app"}"#, AP))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let basic = |region: &'static str| {
        let server = &server;
        async move {
            let token = server.call(ecr("GetAuthorizationToken", "{}", region)).await.json()["authorizationData"][0]
                ["authorizationToken"]
                .as_str()
                .expect("a token")
                .to_string();
            let req = Request::get("/v2/app/tags/list")
                .header(header::AUTHORIZATION, format!("Basic {token}"))
                .body(Body::empty())
                .unwrap();
            server.send(req).await
        }
    };
    let in_ap = basic(AP).await;
    assert_eq!(in_ap.status, StatusCode::OK, "{}", in_ap.text());
    assert_eq!(in_ap.json(), serde_json::json!({"name": "app", "tags": []}));
    let in_eu = basic(EU).await;
    assert_eq!(in_eu.status, StatusCode::NOT_FOUND, "{}", in_eu.text());
    assert_eq!(in_eu.json()["errors"][0]["code"], "NAME_UNKNOWN");
}

#[tokio::test]
async fn a_download_url_is_served_by_the_region_that_signed_it() {
    use sha2::{Digest, Sha256};
    let server = Server::serving(&[EU, AP]).await;
    let ecr = |op: &str, body: serde_json::Value| {
        Call::json(&format!("{ECR}.{op}"), &body.to_string()).signed(Signer::root("ecr").region(AP))
    };
    let ok = |a: Answer| {
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        a.json()
    };
    ok(server
        .call(ecr("CreateRepository", serde_json::json!({"repositoryName": "app"})))
        .await);
    let layer = b"a layer of ap-south-1".to_vec();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
    let upload = ok(server
        .call(ecr("InitiateLayerUpload", serde_json::json!({"repositoryName": "app"})))
        .await);
    let upload_id = upload["uploadId"].as_str().unwrap();
    use base64::Engine;
    ok(server
        .call(ecr(
            "UploadLayerPart",
            serde_json::json!({"repositoryName": "app", "uploadId": upload_id, "partFirstByte": 0,
                "partLastByte": layer.len() - 1,
                "layerPartBlob": base64::engine::general_purpose::STANDARD.encode(&layer)}),
        ))
        .await);
    ok(server
        .call(ecr(
            "CompleteLayerUpload",
            serde_json::json!({"repositoryName": "app", "uploadId": upload_id, "layerDigests": [digest]}),
        ))
        .await);
    let url = ok(server
        .call(ecr(
            "GetDownloadUrlForLayer",
            serde_json::json!({"repositoryName": "app", "layerDigest": digest}),
        ))
        .await)["downloadUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let path = &url[url.find("/registry-blob/").expect("a download path")..];
    let got = server.get(path).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(&got.body[..], &layer[..]);
}
