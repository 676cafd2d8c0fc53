//! CloudWatch metrics through the router on its three protocols: a datum
//! written over rpcv2Cbor (its timestamp a CBOR tag 1) is read back over
//! awsJson 1.0 (epoch seconds), rpcv2Cbor (tag 1 again) and awsQuery (XML,
//! `<member>` lists, ISO 8601), and errors come in each protocol's frame.

use super::*;
use berth_proto::cbor::{self, EpochSeconds};
use serde::{Deserialize, Serialize};

const CW: &str = "GraniteServiceVersion20100801";
const CW_NS: &str = "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Datum {
    metric_name: String,
    value: f64,
    timestamp: EpochSeconds,
    dimensions: Vec<BTreeMapDim>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BTreeMapDim {
    name: &'static str,
    value: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Put {
    namespace: &'static str,
    metric_data: Vec<Datum>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetStats {
    namespace: &'static str,
    metric_name: &'static str,
    dimensions: Vec<BTreeMapDim>,
    start_time: EpochSeconds,
    end_time: EpochSeconds,
    period: i64,
    statistics: Vec<&'static str>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Stats {
    datapoints: Vec<Point>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Point {
    timestamp: EpochSeconds,
    sum: f64,
    unit: String,
}

fn dims() -> Vec<BTreeMapDim> {
    vec![BTreeMapDim {
        name: "Service",
        value: "web",
    }]
}

#[tokio::test]
async fn one_metric_on_three_protocols() {
    let server = Server::start().await;
    let minute = (OffsetDateTime::now_utc().unix_timestamp() / 60 - 2) * 60;
    let put = Put {
        namespace: "App",
        metric_data: vec![
            Datum {
                metric_name: "Requests".into(),
                value: 3.0,
                timestamp: EpochSeconds(minute as f64 + 5.0),
                dimensions: dims(),
            },
            Datum {
                metric_name: "Requests".into(),
                value: 4.0,
                timestamp: EpochSeconds(minute as f64 + 50.5),
                dimensions: dims(),
            },
        ],
    };
    let answer = server
        .call(
            Call::cbor(
                "/service/GraniteServiceVersion20100801/operation/PutMetricData",
                &cbor::encode(&put).unwrap(),
            )
            .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.body.as_ref(), [0xa0], "an empty map");

    // rpcv2Cbor: the timestamp comes back as tag 1 (EpochSeconds reads only that).
    let get = GetStats {
        namespace: "App",
        metric_name: "Requests",
        dimensions: dims(),
        start_time: EpochSeconds(minute as f64),
        end_time: EpochSeconds(minute as f64 + 60.0),
        period: 60,
        statistics: vec!["Sum"],
    };
    let answer = server
        .call(
            Call::cbor(
                "/service/GraniteServiceVersion20100801/operation/GetMetricStatistics",
                &cbor::encode(&get).unwrap(),
            )
            .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let stats: Stats = cbor::decode(&answer.body).expect("tag-1 timestamps");
    assert_eq!(stats.datapoints.len(), 1);
    assert_eq!(stats.datapoints[0].timestamp, EpochSeconds(minute as f64));
    assert_eq!(
        (stats.datapoints[0].sum, stats.datapoints[0].unit.as_str()),
        (7.0, "None")
    );

    // awsJson 1.0: epoch seconds.
    let body = serde_json::json!({"Namespace": "App", "MetricName": "Requests",
        "Dimensions": [{"Name": "Service", "Value": "web"}], "StartTime": minute, "EndTime": minute + 60,
        "Period": 60, "Statistics": ["Sum", "Maximum"]});
    let answer = server
        .call(
            Call::json(&format!("{CW}.GetMetricStatistics"), &body.to_string())
                .header(header::CONTENT_TYPE.as_str(), "application/x-amz-json-1.0")
                .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.content_type(), "application/x-amz-json-1.0");
    assert_eq!(
        answer.json(),
        serde_json::json!({"Label": "Requests", "Datapoints": [
            {"Timestamp": minute, "Sum": 7.0, "Maximum": 4.0, "Unit": "None"}]})
    );

    // awsQuery: XML, `<member>` lists, ISO 8601.
    let iso = berth_core::time::iso8601_epoch(minute as f64);
    let form = format!(
        "Action=GetMetricStatistics&Version=2010-08-01&Namespace=App&MetricName=Requests\
         &Dimensions.member.1.Name=Service&Dimensions.member.1.Value=web&StartTime={iso}&EndTime={}\
         &Period=60&Statistics.member.1=Sum",
        berth_core::time::iso8601_epoch(minute as f64 + 60.0)
    );
    let answer = server.call(Call::query(&form).signed(Signer::root("monitoring"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let xml = answer.text();
    assert!(
        xml.starts_with("<GetMetricStatisticsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><GetMetricStatisticsResult>"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<Datapoints><member><Timestamp>{iso}</Timestamp><Sum>7</Sum><Unit>None</Unit></member></Datapoints>"
        )),
        "{xml}"
    );
    let answer = server
        .call(Call::query("Action=ListMetrics&Version=2010-08-01&Namespace=App").signed(Signer::root("monitoring")))
        .await;
    assert!(
        answer.text().contains(
            "<Metrics><member><Namespace>App</Namespace><MetricName>Requests</MetricName>\
             <Dimensions><member><Name>Service</Name><Value>web</Value></member></Dimensions></member></Metrics>"
        ),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn errors_in_each_protocols_frame() {
    let server = Server::start().await;
    let long = "m".repeat(256);
    let message = "The parameter MetricData.member.1.MetricName must be shorter than 256 characters.";
    // rpcv2Cbor.
    let body = serde_json::json!({"Namespace": "App", "MetricData": [{"MetricName": long, "Value": 1.0}]});
    let answer = server
        .call(
            Call::cbor(
                "/service/GraniteServiceVersion20100801/operation/PutMetricData",
                &cbor::encode(&body).unwrap(),
            )
            .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // awsQuery-compatible: the shape in `__type`, the code in `x-amzn-query-error`.
    let err: std::collections::BTreeMap<String, String> = cbor::decode(&answer.body).unwrap();
    assert_eq!(err["__type"], "InvalidParameterValueException");
    assert_eq!(err["message"], message);
    assert_eq!(
        answer.header("x-amzn-query-error"),
        Some("InvalidParameterValue;Sender")
    );
    assert_eq!(
        answer.header("x-amzn-errortype"),
        Some("InvalidParameterValueException")
    );
    // awsJson 1.0.
    let answer = server
        .call(
            Call::json(&format!("{CW}.PutMetricData"), &body.to_string())
                .header(header::CONTENT_TYPE.as_str(), "application/x-amz-json-1.0")
                .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["__type"], "InvalidParameterValueException");
    assert_eq!(answer.json()["message"], message);
    assert_eq!(
        answer.header("x-amzn-query-error"),
        Some("InvalidParameterValue;Sender")
    );
    // awsQuery, in CloudWatch's namespace.
    let form = format!(
        "Action=PutMetricData&Version=2010-08-01&Namespace=App&MetricData.member.1.MetricName={long}&MetricData.member.1.Value=1"
    );
    let answer = server.call(Call::query(&form).signed(Signer::root("monitoring"))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let xml = answer.text();
    assert!(xml.starts_with(CW_NS), "{xml}");
    assert_eq!(xml_text(&xml, "Code").as_deref(), Some("InvalidParameterValue"));
    assert_eq!(xml_text(&xml, "Type").as_deref(), Some("Sender"));
    assert_eq!(xml_text(&xml, "Message").as_deref(), Some(message));
    assert_eq!(answer.header("x-amzn-query-error"), None);
    // A form value that is not a number.
    let form = "Action=PutMetricData&Version=2010-08-01&Namespace=App&MetricData.member.1.MetricName=m&MetricData.member.1.Value=lots";
    let answer = server.call(Call::query(form).signed(Signer::root("monitoring"))).await;
    assert_eq!(
        xml_text(&answer.text(), "Message").as_deref(),
        Some("Value 'lots' for parameter MetricData.member.1.Value is not a valid number.")
    );
    // An operation CloudWatch has that Berth does not route, on each protocol.
    let answer = server
        .call(
            Call::cbor(
                "/service/GraniteServiceVersion20100801/operation/PutCompositeAlarm",
                b"",
            )
            .signed(Signer::root("monitoring")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = server
        .call(Call::query("Action=PutCompositeAlarm&Version=2010-08-01").signed(Signer::root("monitoring")))
        .await;
    assert_eq!(xml_text(&answer.text(), "Code").as_deref(), Some("InvalidAction"));
}

/// Each region has its own metrics, on every protocol: the CBOR and query
/// registries are global, the bridge answers with the region of the scope.
#[tokio::test]
async fn each_region_has_its_own_metrics() {
    let (eu, ap) = ("eu-west-1", "ap-southeast-2");
    let server = Server::serving(&[eu, ap]).await;
    let body = serde_json::json!({"Namespace": "App", "MetricData": [{"MetricName": "OnlyInAp", "Value": 1.0}]});
    let answer = server
        .call(
            Call::cbor(
                "/service/GraniteServiceVersion20100801/operation/PutMetricData",
                &cbor::encode(&body).unwrap(),
            )
            .signed(Signer::root("monitoring").region(ap)),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let listed = |region: &'static str| {
        let server = &server;
        async move {
            let cbor_answer = server
                .call(
                    Call::cbor("/service/GraniteServiceVersion20100801/operation/ListMetrics", b"")
                        .signed(Signer::root("monitoring").region(region)),
                )
                .await;
            let value: serde_json::Value = cbor::decode(&cbor_answer.body).unwrap();
            let query_answer = server
                .call(
                    Call::query("Action=ListMetrics&Version=2010-08-01")
                        .signed(Signer::root("monitoring").region(region)),
                )
                .await;
            let json_answer = server
                .call(
                    Call::json(&format!("{CW}.ListMetrics"), "{}")
                        .header(header::CONTENT_TYPE.as_str(), "application/x-amz-json-1.0")
                        .signed(Signer::root("monitoring").region(region)),
                )
                .await;
            (
                value["Metrics"].as_array().unwrap().len(),
                query_answer.text().contains("<MetricName>OnlyInAp</MetricName>"),
                json_answer.json()["Metrics"].as_array().unwrap().len(),
            )
        }
    };
    assert_eq!(listed(ap).await, (1, true, 1));
    assert_eq!(listed(eu).await, (0, false, 0));
}

/// A user allowed `cloudwatch:PutMetricData` who sends a bad input gets the
/// input's error on every protocol (authorization is on `cloudwatch:…`
/// even when the input does not decode), and a user without it is refused.
#[tokio::test]
async fn a_bad_input_of_an_allowed_user_answers_its_error() {
    let server = Server::start().await;
    let root = |form: &str| Call::query(form).signed(Signer::root("iam"));
    for user in ["writer", "nobody"] {
        let created = server
            .call(root(&format!("Action=CreateUser&UserName={user}&Version=2010-05-08")))
            .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    }
    let policy = berth_proto::query::url_encode(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudwatch:PutMetricData","Resource":"*"}]}"#,
    );
    let put = server
        .call(root(&format!(
            "Action=PutUserPolicy&UserName=writer&PolicyName=p&PolicyDocument={policy}&Version=2010-05-08"
        )))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text());
    let mut signers = Vec::new();
    for user in ["writer", "nobody"] {
        let key = server
            .call(root(&format!(
                "Action=CreateAccessKey&UserName={user}&Version=2010-05-08"
            )))
            .await;
        let (id, secret) = (
            xml_text(&key.text(), "AccessKeyId").expect("AccessKeyId"),
            xml_text(&key.text(), "SecretAccessKey").expect("SecretAccessKey"),
        );
        signers.push(move || Signer::root("monitoring").key(&id, &secret));
    }
    let (writer, nobody) = (&signers[0], &signers[1]);
    let path = "/service/GraniteServiceVersion20100801/operation/PutMetricData";
    let bad = serde_json::json!({"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": "high"}]});
    let answer = server
        .call(Call::cbor(path, &cbor::encode(&bad).unwrap()).signed(writer()))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    let err: std::collections::BTreeMap<String, String> = cbor::decode(&answer.body).unwrap();
    assert_eq!(err["__type"], "SerializationException", "{err:?}");
    let form = "Action=PutMetricData&Version=2010-08-01&Namespace=App&MetricData.member.1.MetricName=m&MetricData.member.1.Value=high";
    let answer = server.call(Call::query(form).signed(writer())).await;
    assert_eq!(
        xml_text(&answer.text(), "Code").as_deref(),
        Some("InvalidParameterValue"),
        "{}",
        answer.text()
    );
    let good = serde_json::json!({"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1.0}]});
    let answer = server
        .call(Call::cbor(path, &cbor::encode(&good).unwrap()).signed(writer()))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    // Without the permission: refused, whatever the input.
    for body in [&good, &bad] {
        let answer = server
            .call(Call::cbor(path, &cbor::encode(body).unwrap()).signed(nobody()))
            .await;
        let err: std::collections::BTreeMap<String, String> = cbor::decode(&answer.body).unwrap();
        assert_eq!(err["__type"], "AccessDeniedException", "{err:?}");
        assert!(err["message"].contains("cloudwatch:PutMetricData"), "{err:?}");
    }
    let answer = server.call(Call::query(form).signed(nobody())).await;
    assert_eq!(
        xml_text(&answer.text(), "Code").as_deref(),
        Some("AccessDenied"),
        "{}",
        answer.text()
    );
}
