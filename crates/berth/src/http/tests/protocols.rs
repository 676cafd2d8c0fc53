//! The protocols the listener tells apart without naming a service:
//! awsQuery errors in the namespace of the service answering, and
//! rpcv2Cbor routed by service name (a registered one is reached; anything
//! else answers `UnknownOperationException` in CBOR).

use super::*;
use berth_proto::cbor::{self, CborPrepared, CborService};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use std::collections::BTreeMap;

const IAM_NS: &str = "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">";
const STS_NS: &str = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">";

#[tokio::test]
async fn query_errors_carry_the_namespace_of_the_service_answering() {
    let server = Server::start().await;
    let cases: Vec<(&str, Call, StatusCode, &str, &str)> = vec![
        (
            "an STS action it does not have",
            Call::query("Action=Nope&Version=2011-06-15").signed(Signer::root("sts")),
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            STS_NS,
        ),
        (
            "an IAM action it does not have",
            Call::query("Action=Nope&Version=2010-05-08").signed(Signer::root("iam")),
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            IAM_NS,
        ),
        (
            "a wrong key, signed for STS",
            Call::query(GET_CALLER_IDENTITY).signed(Signer::root("sts").key("AKIANOSUCHKEY0000000", "x")),
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            STS_NS,
        ),
        (
            "an IAM form signed for STS: the form decides",
            Call::query(LIST_USERS).signed(Signer::root("sts")),
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            IAM_NS,
        ),
        (
            "no signature: the first registered service's",
            Call::query(GET_CALLER_IDENTITY),
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            IAM_NS,
        ),
    ];
    for (name, call, status, code, ns) in cases {
        let answer = server.call(call).await;
        assert_eq!(answer.status, status, "{name}: {}", answer.text());
        assert_eq!(answer.query_error().0, code, "{name}");
        assert!(answer.text().starts_with(ns), "{name}: {}", answer.text());
    }
}

/// A service of the test's own, spoken over rpcv2Cbor.
struct Greeter;

#[async_trait::async_trait]
impl CborService for Greeter {
    fn service_name(&self) -> &'static str {
        "GreeterService"
    }
    fn signing_name(&self) -> &'static str {
        "greeter"
    }
    async fn prepare<'a>(
        &'a self,
        _: &'a RequestContext,
        operation: &'a str,
        body: &[u8],
        _: &mut (dyn for<'v> FnMut(&'v serde_json::Value) + Send),
    ) -> Result<Box<dyn CborPrepared + 'a>, AwsError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Input {
            name: String,
        }
        match operation {
            "Greet" => {
                let input: Input = cbor::decode(body)?;
                Ok(Box::new(Greeting(input.name)))
            }
            other => Err(cbor::unknown_operation(self.service_name(), other)),
        }
    }
}

/// Greet, decoded.
struct Greeting(String);

#[async_trait::async_trait]
impl CborPrepared for Greeting {
    async fn resources(&self) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged("*")]
    }
    async fn run(self: Box<Self>) -> Result<Vec<u8>, AwsError> {
        cbor::encode(&BTreeMap::from([("Greeting", format!("hello {}", self.0))]))
    }
}

fn cbor_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    cbor::encode(&pairs.iter().copied().collect::<BTreeMap<_, _>>()).expect("encodes")
}

impl Answer {
    /// An rpcv2Cbor answer: its protocol header, CBOR, a request id; the
    /// body as a map of text.
    fn cbor(&self) -> BTreeMap<String, String> {
        self.request_id();
        assert_eq!(self.header("smithy-protocol"), Some("rpc-v2-cbor"), "{}", self.text());
        assert_eq!(self.content_type(), "application/cbor");
        cbor::decode(&self.body).unwrap_or_else(|e| panic!("not CBOR ({e}): {:?}", self.body))
    }
}

#[tokio::test]
async fn rpcv2_cbor_reaches_a_registered_service_by_its_name() {
    let server = Server::start_with(|app| app.cbors.register(Arc::new(Greeter))).await;
    let path = "/service/GreeterService/operation/Greet";
    let answer = server
        .call(Call::cbor(path, &cbor_map(&[("Name", "ada")])).signed(Signer::root("greeter")))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.cbor()["Greeting"], "hello ada");
    // Metrics name the operation of the path.
    let metrics = server.get("/metrics").await.text();
    let line = r#"berth_api_requests_total{service="greeter",operation="Greet",status="200"} 1"#;
    assert!(metrics.contains(line), "no {line} in {metrics}");

    // Errors, each a CBOR map of `__type` and `message`.
    let cases: Vec<(&str, Call, StatusCode, &str)> = vec![
        (
            "an operation the service does not have",
            Call::cbor("/service/GreeterService/operation/Wave", b"").signed(Signer::root("greeter")),
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
        ),
        (
            "a service nobody registered",
            Call::cbor("/service/Route53AutoNaming_v20170314/operation/ListNamespaces", b"")
                .signed(Signer::root("servicediscovery")),
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
        ),
        (
            "a body that is not CBOR",
            Call::cbor(path, b"\xff\xff").signed(Signer::root("greeter")),
            StatusCode::BAD_REQUEST,
            "SerializationException",
        ),
        (
            "a missing required member",
            Call::cbor(path, b"").signed(Signer::root("greeter")),
            StatusCode::BAD_REQUEST,
            "SerializationException",
        ),
        (
            "no signature",
            Call::cbor(path, b""),
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
        ),
        (
            "signed for another service",
            Call::cbor(path, &cbor_map(&[("Name", "ada")])).signed(Signer::root("ecs")),
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
        ),
    ];
    // Signed for another service: refused before a byte of the body is read.
    let (body, polled) = untouched_body();
    let answer = server
        .call(
            Call::cbor(path, &cbor_map(&[("Name", "ada")]))
                .signed(Signer::root("ecs"))
                .sending(body),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    assert_eq!(answer.cbor()["__type"], "InvalidSignatureException");
    assert!(!polled.load(Ordering::SeqCst), "the body was read");
    for (name, call, status, code) in cases {
        let answer = server.call(call).await;
        assert_eq!(answer.status, status, "{name}: {}", answer.text());
        let body = answer.cbor();
        assert_eq!(body.len(), 2, "{name}: only __type and message: {body:?}");
        assert_eq!(body["__type"], code, "{name}: {body:?}");
        assert_eq!(answer.header("x-amzn-errortype"), Some(code), "{name}");
    }
}

/// An awsQuery service of the test's own, in EC2's dialect: one
/// registration line (`app.queries.register`) and it is reached by its
/// `Version`, its input typed, its answer and errors in its frame.
struct Ec2Like;

#[async_trait::async_trait]
impl berth_proto::query::QueryService for Ec2Like {
    fn signing_name(&self) -> &'static str {
        "ec2"
    }
    fn version(&self) -> &'static str {
        "2030-01-01"
    }
    fn xml_namespace(&self) -> &'static str {
        "http://ec2.amazonaws.com/doc/2016-11-15/"
    }
    fn dialect(&self) -> berth_proto::query::Dialect {
        berth_proto::query::Dialect::Ec2
    }
    fn authz(
        &self,
        _: &RequestContext,
        _: &str,
        _: &berth_proto::query::QueryInput,
    ) -> Option<berth_proto::query::QueryAuthz> {
        Some(berth_proto::query::QueryAuthz {
            resources: vec![AuthzResource::untagged("*")],
            request_tags: vec![],
        })
    }
    async fn call(
        &self,
        _: &RequestContext,
        action: &str,
        input: &berth_proto::query::QueryInput,
    ) -> Result<berth_proto::query::QueryResult, AwsError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Input {
            instance_id: Vec<String>,
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Instance {
            instance_id: String,
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Output {
            instance_set: berth_proto::query::Items<Instance>,
        }
        match action {
            "DescribeInstances" => {
                let input: Input = input.decode()?;
                let out = Output {
                    instance_set: berth_proto::query::Items(
                        input
                            .instance_id
                            .into_iter()
                            .map(|instance_id| Instance { instance_id })
                            .collect(),
                    ),
                };
                berth_proto::query::QueryResult::of(action, &out)
            }
            other => Err(berth_proto::query::invalid_action(other)),
        }
    }
}

#[tokio::test]
async fn a_query_service_is_one_registration_line() {
    let server = Server::start_with(|app| app.queries.register(Arc::new(Ec2Like))).await;
    let answer = server
        .call(
            Call::query("Action=DescribeInstances&Version=2030-01-01&InstanceId.2=i-2&InstanceId.1=i-1")
                .signed(Signer::root("ec2")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let id = answer.request_id();
    assert_eq!(
        answer.text(),
        format!(
            "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>{id}</requestId>\
             <instanceSet><item><instanceId>i-1</instanceId></item><item><instanceId>i-2</instanceId></item>\
             </instanceSet></DescribeInstancesResponse>"
        )
    );
    let answer = server
        .call(Call::query("Action=RunInstances&Version=2030-01-01").signed(Signer::root("ec2")))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    let id = answer.request_id();
    assert_eq!(
        answer.text(),
        format!(
            "<Response><Errors><Error><Code>InvalidAction</Code><Message>Could not find operation RunInstances for \
             this endpoint</Message></Error></Errors><RequestID>{id}</RequestID></Response>"
        )
    );
    // IAM and STS are still there, in their own namespaces.
    let answer = server
        .call(Call::query("Action=Nope&Version=2011-06-15").signed(Signer::root("sts")))
        .await;
    assert!(answer.text().starts_with(STS_NS), "{}", answer.text());
}
