//! Body limits and the body's hash: a body over its service's limit is
//! refused from its `Content-Length` before a byte is read (or as it
//! arrives, without one); authentication from the headers comes first; a
//! declared `x-amz-content-sha256` must be the body's.

use super::*;

const MIB: usize = 1024 * 1024;
/// ECS's (and every service's but ECR's) limit.
const DEFAULT_LIMIT: usize = 10 * MIB;
/// ECR's: an UploadLayerPart of 20 MiB in base64, and room for the rest.
const ECR_LIMIT: usize = (20 * MIB).div_ceil(3) * 4 + 64 * 1024;

/// A call built afresh for each attempt (a [`Call`] is sent once).
type MakeCall = fn() -> Call;

fn list_clusters() -> Call {
    Call::json(&format!("{ECS}.ListClusters"), "{}")
}

fn too_large(limit: usize) -> String {
    format!("Request body exceeds the limit of {limit} bytes")
}

/// A declared length over the limit, correctly signed: 413 in the
/// caller's protocol, the body never polled.
#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_is_read() {
    let server = Server::start().await;
    let cases: Vec<(&str, Call, usize)> = vec![
        (
            "ECS",
            Call::json(&format!("{ECS}.ListClusters"), "{}").signed(Signer::root("ecs")),
            DEFAULT_LIMIT,
        ),
        (
            "an unknown target",
            Call::json("NoSuchService_20200101.ListThings", "{}").signed(Signer::root("things")),
            DEFAULT_LIMIT,
        ),
        (
            "ECR",
            Call::json(&format!("{ECR}.UploadLayerPart"), "{}").signed(Signer::root("ecr")),
            ECR_LIMIT,
        ),
        (
            "STS",
            Call::query(GET_CALLER_IDENTITY).signed(Signer::root("sts")),
            DEFAULT_LIMIT,
        ),
    ];
    for (name, call, limit) in cases {
        let (body, polled) = untouched_body();
        let call = call
            .header_after_signing("content-length", &(limit + 1).to_string())
            .sending(body);
        let json = call.headers.contains_key("x-amz-target");
        let answer = server.call(call).await;
        assert_eq!(
            answer.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{name}: {}",
            answer.text()
        );
        let (code, message) = if json {
            answer.json_error()
        } else {
            answer.query_error()
        };
        assert_eq!(code, "RequestEntityTooLargeException", "{name}");
        assert_eq!(message, too_large(limit), "{name}");
        assert!(!polled.load(Ordering::SeqCst), "{name}: the body was read");
    }
}

/// Whoever is not authenticated from the headers alone gets no byte of
/// its body read, whatever its length: no signature, an unknown key, a
/// wrong scope, or a wrong signature over a declared hash.
#[tokio::test]
async fn authentication_from_the_headers_comes_before_the_body() {
    let server = Server::start().await;
    let cases: Vec<(&str, MakeCall, StatusCode, &str)> = vec![
        (
            "unsigned",
            list_clusters,
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
        ),
        (
            "an unknown key",
            || list_clusters().signed(Signer::root("ecs").key("AKIANOSUCHKEY0000000", "x")),
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
        ),
        (
            "another service's scope",
            || list_clusters().signed(Signer::root("logs")),
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
        ),
        (
            "a wrong secret over a declared hash",
            || list_clusters().signed(Signer::root("ecs").key(ROOT_KEY, "wrong").declaring_hash()),
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
        ),
    ];
    for (name, call, status, expected) in cases {
        for length in [2, DEFAULT_LIMIT + 1] {
            let (body, polled) = untouched_body();
            let call = call()
                .header_after_signing("content-length", &length.to_string())
                .sending(body);
            let answer = server.call(call).await;
            assert_eq!(answer.status, status, "{name}, {length} bytes: {}", answer.text());
            assert_eq!(answer.json_error().0, expected, "{name}, {length} bytes");
            assert!(
                !polled.load(Ordering::SeqCst),
                "{name}, {length} bytes: the body was read"
            );
        }
    }
}

/// Without a `Content-Length`, a body is cut as soon as it outgrows the limit.
#[tokio::test]
async fn a_streamed_body_over_the_limit_is_cut_while_reading() {
    let server = Server::start().await;
    let chunks = (0..=DEFAULT_LIMIT / MIB).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; MIB])));
    let call = Call::json(&format!("{ECS}.ListClusters"), "{}")
        .signed(Signer::root("ecs"))
        .sending(Body::from_stream(futures::stream::iter(chunks)));
    let answer = server.call(call).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", answer.text());
    assert_eq!(
        answer.json_error(),
        ("RequestEntityTooLargeException".to_string(), too_large(DEFAULT_LIMIT))
    );
}

/// Each service's limit is its own: a body of 10 MiB + 1 byte is too large
/// for ECS and fine for ECR (whitespace is an empty input).
#[tokio::test]
async fn ecr_takes_larger_bodies_than_the_other_services() {
    let server = Server::start().await;
    let body = " ".repeat(DEFAULT_LIMIT + 1);
    let ecr = Call::json(&format!("{ECR}.DescribeRepositories"), &body)
        .header("content-length", &body.len().to_string())
        .signed(Signer::root("ecr"));
    let answer = server.call(ecr).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(answer.json().get("repositories").is_some(), "{}", answer.text());

    let ecs = Call::json(&format!("{ECS}.ListClusters"), &body)
        .header("content-length", &body.len().to_string())
        .signed(Signer::root("ecs"));
    let answer = server.call(ecs).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", answer.text());
}

/// A signed `x-amz-content-sha256` that is not the hash of the body sent
/// (a captured request replayed with another body).
#[tokio::test]
async fn a_declared_hash_must_be_the_bodys() {
    let server = Server::start().await;
    let cases: Vec<(Call, bool)> = vec![
        (
            Call::json(&format!("{ECS}.CreateCluster"), "{\"clusterName\":\"a\"}")
                .signed(Signer::root("ecs").declaring_hash()),
            true,
        ),
        (
            Call::query(GET_CALLER_IDENTITY).signed(Signer::root("sts").declaring_hash()),
            false,
        ),
    ];
    for (call, json) in cases {
        let other = if json {
            "{\"clusterName\":\"b\"}"
        } else {
            "Action=GetCallerIdentity&Version=2011-06-15&X=1"
        };
        let answer = server.call(call.sending(Body::from(other))).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
        let message = "The provided 'x-amz-content-sha256' header does not match what was computed.";
        if json {
            assert_eq!(
                answer.json_error(),
                ("InvalidSignatureException".to_string(), message.to_string())
            );
        } else {
            assert_eq!(
                answer.query_error(),
                ("SignatureDoesNotMatch".to_string(), message.to_string())
            );
        }
    }
    // Nothing was created by the replay.
    let answer = server
        .call(Call::json(&format!("{ECS}.ListClusters"), "{}").signed(Signer::root("ecs")))
        .await;
    assert_eq!(answer.json()["clusterArns"], serde_json::json!([]));
}
