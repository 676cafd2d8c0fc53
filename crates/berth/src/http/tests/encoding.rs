//! Compressed request bodies (`Content-Encoding: gzip`, as botocore sends a
//! CloudWatch `PutMetricData` over 10 KiB): signed over the bytes as sent,
//! decoded within the service's limit; a bomb, a body that is not gzip and
//! an unknown coding are refused in the caller's protocol.

use super::*;
use berth_proto::cbor::{self, EpochSeconds};
use flate2::{Compression, write::GzEncoder};
use std::collections::BTreeMap;
use std::io::Write;
use time::OffsetDateTime;

const PUT: &str = "/service/GraniteServiceVersion20100801/operation/PutMetricData";

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Datum {
    metric_name: &'static str,
    value: f64,
    timestamp: EpochSeconds,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Put {
    namespace: &'static str,
    metric_data: Vec<Datum>,
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn cbor_error(answer: &Answer) -> (String, String) {
    let err: BTreeMap<String, String> = cbor::decode(&answer.body).unwrap();
    (err["__type"].clone(), err["message"].clone())
}

#[tokio::test]
async fn a_gzip_cbor_body_is_decoded_after_its_signature_is_checked() {
    let server = Server::start().await;
    let minute = (OffsetDateTime::now_utc().unix_timestamp() / 60 - 2) * 60;
    let metric_data = (0..500)
        .map(|i| Datum {
            metric_name: "Zipped",
            value: f64::from(i),
            timestamp: EpochSeconds(minute as f64),
        })
        .collect();
    let put = cbor::encode(&Put {
        namespace: "Gz",
        metric_data,
    })
    .unwrap();
    assert!(put.len() > 10 * 1024);
    let answer = server
        .call(
            Call::cbor(PUT, &gzip(&put))
                .header("content-encoding", "gzip")
                .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let body = serde_json::json!({"Namespace": "Gz", "MetricName": "Zipped", "StartTime": minute,
        "EndTime": minute + 60, "Period": 60, "Statistics": ["Sum", "SampleCount"]});
    let answer = server
        .call(
            Call::json("GraniteServiceVersion20100801.GetMetricStatistics", &body.to_string())
                .header(header::CONTENT_TYPE.as_str(), "application/x-amz-json-1.0")
                .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let point = &answer.json()["Datapoints"][0];
    assert_eq!(
        (point["Sum"].as_f64(), point["SampleCount"].as_f64()),
        (Some(124_750.0), Some(500.0))
    );

    // Signed over the decoded bytes instead of those sent: the signature does not match.
    let answer = server
        .call(
            Call::cbor(PUT, &put)
                .header("content-encoding", "gzip")
                .signed(Signer::root("monitoring"))
                .sending(Body::from(gzip(&put))),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    assert_eq!(cbor_error(&answer).0, "InvalidSignatureException");
}

#[tokio::test]
async fn a_bomb_is_refused_at_the_limit_of_its_decoded_size() {
    let server = Server::start().await;
    // 11 MiB of zeros in a few KiB: over the 10 MiB limit once inflated.
    let bomb = gzip(&vec![0; 11 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let answer = server
        .call(
            Call::cbor(PUT, &bomb)
                .header("content-encoding", "gzip")
                .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", answer.text());
    assert_eq!(
        cbor_error(&answer),
        (
            "RequestEntityTooLargeException".into(),
            "Request body exceeds the limit of 10485760 bytes".into()
        )
    );
}

#[tokio::test]
async fn a_body_not_in_its_coding_is_refused_in_the_callers_protocol() {
    let server = Server::start().await;
    // rpcv2Cbor: not gzip.
    let answer = server
        .call(
            Call::cbor(PUT, &cbor::encode(&serde_json::json!({"Namespace": "Gz"})).unwrap())
                .header("content-encoding", "gzip")
                .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let (code, message) = cbor_error(&answer);
    assert_eq!(code, "SerializationException");
    assert!(message.starts_with("The request body is not valid gzip"), "{message}");
    // awsJson: a coding Berth does not know.
    let answer = server
        .call(
            Call::json(&format!("{ECS}.ListClusters"), "{}")
                .header("content-encoding", "br")
                .signed(Signer::root("ecs")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json_error(),
        (
            "SerializationException".into(),
            "Content-Encoding br is not supported (only gzip).".into()
        )
    );
    // awsQuery: a gzip form is read; a form that is not gzip is malformed.
    let answer = server
        .call(
            Call::raw(&gzip(GET_CALLER_IDENTITY.as_bytes()))
                .header(header::CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded")
                .header("content-encoding", "gzip")
                .signed(Signer::root("sts")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(answer.text().contains("<GetCallerIdentityResult>"), "{}", answer.text());
    let answer = server
        .call(
            Call::query(GET_CALLER_IDENTITY)
                .header("content-encoding", "gzip")
                .signed(Signer::root("sts")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let (code, message) = answer.query_error();
    assert_eq!(code, "MalformedQueryString");
    assert!(message.starts_with("The request body is not valid gzip"), "{message}");
}
