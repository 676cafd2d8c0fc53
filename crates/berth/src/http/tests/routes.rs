//! The plain routes (health, readiness, metrics, what is not routed) and
//! the error shapes that depend on how the caller spoke.

use super::*;

#[tokio::test]
async fn health_readiness_and_metrics_answer_without_authentication() {
    let server = Server::start().await;
    let answer = server.get("/healthz").await;
    assert_eq!((answer.status, answer.text().as_str()), (StatusCode::OK, "ok"));
    let answer = server.get("/readyz").await;
    assert_eq!((answer.status, answer.text().as_str()), (StatusCode::OK, "ready"));
    // The metrics count the API calls, refused ones included.
    server
        .call(Call::json(&format!("{ECS}.ListClusters"), "{}").signed(Signer::root("ecs")))
        .await;
    server.call(Call::json(&format!("{ECS}.ListClusters"), "{}")).await;
    let answer = server.get("/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "text/plain; version=0.0.4; charset=utf-8");
    let text = answer.text();
    for line in [
        r#"berth_api_requests_total{service="ecs",operation="ListClusters",status="200"} 1"#,
        r#"berth_api_requests_total{service="ecs",operation="ListClusters",status="403"} 1"#,
    ] {
        assert!(text.contains(line), "no {line} in {text}");
    }
}

/// Unknown paths are 404 with a JSON message naming the route.
#[tokio::test]
async fn unknown_paths_are_not_found() {
    let server = Server::start().await;
    let cases: &[(Method, &str)] = &[
        (Method::GET, "/nope"),
        (Method::POST, "/nope"),
        (Method::GET, "/agent/v1/nope"),
        (Method::POST, "/healthz/x"),
    ];
    for (method, path) in cases {
        let answer = server
            .send(
                Request::builder()
                    .method(method)
                    .uri(*path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            answer.text()
        );
        assert_eq!(answer.content_type(), "application/json", "{method} {path}");
        assert_eq!(
            answer.json(),
            serde_json::json!({ "message": format!("No route for {method} {path}") })
        );
    }
}

/// `/` takes POST only; the health routes GET only.
#[tokio::test]
async fn other_methods_are_not_allowed() {
    let server = Server::start().await;
    let cases: &[(Method, &str)] = &[(Method::GET, "/"), (Method::PUT, "/"), (Method::POST, "/healthz")];
    for (method, path) in cases {
        let answer = server
            .send(
                Request::builder()
                    .method(method)
                    .uri(*path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            answer.text()
        );
    }
}

/// An awsJson error comes back in the JSON version the caller sent (1.0 or
/// 1.1); a success in the service's own.
#[tokio::test]
async fn json_errors_answer_in_the_callers_json_version() {
    let server = Server::start().await;
    for (content_type, expected) in [
        ("application/x-amz-json-1.0", "application/x-amz-json-1.0"),
        ("application/x-amz-json-1.1", "application/x-amz-json-1.1"),
        // A target with another content type is still awsJson.
        ("application/json", "application/x-amz-json-1.1"),
    ] {
        let unsigned = Call::json(&format!("{ECS}.ListClusters"), "{}").header("content-type", content_type);
        let answer = server.call(unsigned).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{content_type}");
        assert_eq!(answer.content_type(), expected, "{content_type}");
        assert_eq!(
            answer.json(),
            serde_json::json!({
                "__type": "MissingAuthenticationTokenException",
                "message": "Missing Authentication Token",
            })
        );
        assert_eq!(
            answer.header("x-amzn-errortype"),
            Some("MissingAuthenticationTokenException")
        );
        answer.request_id();
    }
}

/// A JSON content type without a target is awsJson; a form or no content
/// type at all is awsQuery.
#[tokio::test]
async fn the_protocol_of_an_error_follows_the_request() {
    let server = Server::start().await;
    let cases: Vec<(Call, bool)> = vec![
        (Call::raw(b"{}").header("content-type", JSON_1_1), true),
        (Call::raw(b"{}").header("x-amz-target", "x.y"), true),
        (Call::query(GET_CALLER_IDENTITY), false),
        (Call::raw(GET_CALLER_IDENTITY.as_bytes()), false),
        (Call::raw(b""), false),
    ];
    for (call, json) in cases {
        let answer = server.call(call).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        if json {
            assert_eq!(answer.json_error().0, "MissingAuthenticationTokenException");
        } else {
            assert_eq!(answer.query_error().0, "MissingAuthenticationToken");
        }
    }
}

/// Every answer of `POST /` has its own request id, success or not.
#[tokio::test]
async fn every_answer_has_its_own_request_id() {
    let server = Server::start().await;
    let mut ids = Vec::new();
    for call in [
        Call::json(&format!("{ECS}.ListClusters"), "{}").signed(Signer::root("ecs")),
        Call::json(&format!("{ECS}.ListClusters"), "{}").signed(Signer::root("ecs")),
        Call::json(&format!("{ECS}.ListClusters"), "{}"),
        Call::query(GET_CALLER_IDENTITY).signed(Signer::root("sts")),
        Call::query(GET_CALLER_IDENTITY),
    ] {
        ids.push(server.call(call).await.request_id());
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}
