//! Protocol detection and dispatch: awsJson by `X-Amz-Target` to the
//! service of its prefix, awsQuery by the form's Action/Version to IAM or
//! STS; what is not routed answers in the caller's protocol.

use super::*;

/// Each JSON service, reached by its target prefix with a signature scoped
/// to its signing name; the answer is its JSON, with a request id.
#[tokio::test]
async fn a_signed_call_reaches_each_json_service_by_its_target_prefix() {
    let server = Server::start().await;
    let cases: &[(&str, &str, &str, &str)] = &[
        // (target, signing name, body, a field of the answer)
        (
            "AmazonEC2ContainerServiceV20141113.ListClusters",
            "ecs",
            "{}",
            "clusterArns",
        ),
        (
            "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
            "ecr",
            "{}",
            "repositories",
        ),
        ("AmazonSSM.DescribeParameters", "ssm", "{}", "Parameters"),
        ("secretsmanager.ListSecrets", "secretsmanager", "{}", "SecretList"),
        ("TrentService.ListKeys", "kms", "{}", "Keys"),
        ("Logs_20140328.DescribeLogGroups", "logs", "{}", "logGroups"),
        ("AWSEvents.ListRules", "events", "{}", "Rules"),
        // CloudWatch answers awsJson 1.0.
        (
            "GraniteServiceVersion20100801.ListMetrics",
            "monitoring",
            "{}",
            "Metrics",
        ),
        (
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            "cloudtrail",
            "{}",
            "Events",
        ),
        (
            "AnyScaleFrontendService.DescribeScalableTargets",
            "application-autoscaling",
            r#"{"ServiceNamespace":"ecs"}"#,
            "ScalableTargets",
        ),
        // An empty body is an empty input.
        (
            "AmazonEC2ContainerServiceV20141113.ListClusters",
            "ecs",
            "",
            "clusterArns",
        ),
    ];
    for &(target, service, body, field) in cases {
        let answer = server
            .call(Call::json(target, body).signed(Signer::root(service)))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{target}: {}", answer.text());
        let json_version = if service == "monitoring" {
            "application/x-amz-json-1.0"
        } else {
            JSON_1_1
        };
        assert_eq!(answer.content_type(), json_version, "{target}");
        answer.request_id();
        assert!(
            answer.json().get(field).is_some(),
            "{target}: no {field} in {}",
            answer.text()
        );
        assert!(answer.header("x-amzn-errortype").is_none(), "{target}");
    }
    // Every prefix the app routes is one of the above.
    let mut routed: Vec<&str> = server.app.services().keys().copied().collect();
    routed.sort_unstable();
    let mut tested: Vec<&str> = cases.iter().map(|c| c.0.rsplit_once('.').unwrap().0).collect();
    tested.sort_unstable();
    tested.dedup();
    assert_eq!(routed, tested);
}

/// IAM and STS by the form body, answered in XML; both also take
/// `us-east-1`, the signing region of their global endpoints.
#[tokio::test]
async fn a_signed_form_reaches_iam_or_sts_and_is_answered_in_xml() {
    let server = Server::start().await;
    let cases: &[(&str, Signer, &str)] = &[
        (
            GET_CALLER_IDENTITY,
            Signer::root("sts"),
            "<Arn>arn:aws:iam::000000000000:root</Arn>",
        ),
        (
            GET_CALLER_IDENTITY,
            Signer::root("sts").region("us-east-1"),
            "<GetCallerIdentityResponse",
        ),
        // STS by its Action alone, without a Version.
        (
            "Action=GetCallerIdentity",
            Signer::root("sts"),
            "<GetCallerIdentityResponse",
        ),
        (LIST_USERS, Signer::root("iam"), "<ListUsersResponse"),
        (
            LIST_USERS,
            Signer::root("iam").region("us-east-1"),
            "<ListUsersResponse",
        ),
    ];
    for (form, signer, expected) in cases {
        let answer = server.call(Call::query(form).signed(signer.clone())).await;
        assert_eq!(answer.status, StatusCode::OK, "{form}: {}", answer.text());
        assert_eq!(answer.content_type(), "text/xml", "{form}");
        answer.request_id();
        assert!(answer.text().contains(expected), "{form}: {}", answer.text());
    }
}

/// What no service answers: an unknown operation of a known prefix, an
/// unknown prefix, a target without an operation, JSON without a target.
#[tokio::test]
async fn unknown_json_targets_are_unknown_operations() {
    let server = Server::start().await;
    let cases: Vec<(Call, Signer, Says)> = vec![
        (
            Call::json(&format!("{ECS}.NoSuchOperation"), "{}"),
            Signer::root("ecs"),
            Says::Exactly("Operation NoSuchOperation is not supported by this endpoint"),
        ),
        (
            Call::json(&format!("{ECR}.NoSuchOperation"), "{}"),
            Signer::root("ecr"),
            Says::Exactly("Operation NoSuchOperation is not supported by this endpoint"),
        ),
        (
            Call::json("AmazonSSM.NoSuchOperation", "{}"),
            Signer::root("ssm"),
            Says::Exactly("Operation NoSuchOperation is not supported by this endpoint"),
        ),
        (
            Call::json("secretsmanager.NoSuchOperation", "{}"),
            Signer::root("secretsmanager"),
            Says::Exactly("Operation NoSuchOperation is not supported by this endpoint"),
        ),
        (
            Call::json("TrentService.NoSuchOperation", "{}"),
            Signer::root("kms"),
            Says::Exactly("Operation NoSuchOperation is not supported by this endpoint"),
        ),
        (
            Call::json("Logs_20140328.NoSuchOperation", "{}"),
            Signer::root("logs"),
            Says::Exactly("Operation NoSuchOperation is not supported by this endpoint"),
        ),
        (
            Call::json(
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.NoSuchOperation",
                "{}",
            ),
            Signer::root("cloudtrail"),
            Says::Exactly("Operation NoSuchOperation is not supported by this endpoint"),
        ),
        // An unknown prefix: any signing name passes the scope check, the
        // target is refused once the caller is authenticated.
        (
            Call::json("NoSuchService_20200101.ListThings", "{}"),
            Signer::root("things"),
            Says::Exactly("Operation NoSuchService_20200101.ListThings is not supported by this endpoint"),
        ),
        (
            Call::json("ListClusters", "{}"),
            Signer::root("ecs"),
            Says::Exactly("Operation ListClusters is not supported by this endpoint"),
        ),
        // A JSON content type without a target.
        (
            Call::raw(b"{}").header("content-type", JSON_1_1),
            Signer::root("ecs"),
            Says::Exactly("Operation (no X-Amz-Target) is not supported by this endpoint"),
        ),
    ];
    for (call, signer, says) in cases {
        let name = format!("{:?}", call.headers.get("x-amz-target"));
        let answer = server.call(call.signed(signer)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name}: {}", answer.text());
        let (code, message) = answer.json_error();
        assert_eq!(code, "UnknownOperationException", "{name}");
        says.check(&message, &name);
    }
}

/// A body that is not a JSON object is a SerializationException.
#[tokio::test]
async fn a_json_body_that_is_not_an_object_is_a_serialization_error() {
    let server = Server::start().await;
    let cases: &[(&str, Says)] = &[
        ("this is not json", Says::StartsWith("Request body is not valid JSON: ")),
        (
            "{\"clusterName\": ",
            Says::StartsWith("Request body is not valid JSON: "),
        ),
        ("[1, 2, 3]", Says::Exactly("Request body must be a JSON object")),
        ("\"a string\"", Says::Exactly("Request body must be a JSON object")),
    ];
    for &(body, says) in cases {
        let answer = server
            .call(Call::json(&format!("{ECS}.CreateCluster"), body).signed(Signer::root("ecs")))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {}", answer.text());
        let (code, message) = answer.json_error();
        assert_eq!(code, "SerializationException", "{body}");
        says.check(&message, body);
    }
}

/// A form IAM and STS do not know, and a `POST /` with neither a target
/// nor a form: awsQuery's `InvalidAction`, in XML.
#[tokio::test]
async fn unknown_forms_and_bare_posts_are_invalid_actions() {
    let server = Server::start().await;
    let cases: Vec<(Call, Signer, StatusCode, &str, Says)> = vec![
        (
            Call::query("Action=NoSuchAction&Version=2010-05-08"),
            Signer::root("iam"),
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            Says::Contains("NoSuchAction"),
        ),
        (
            Call::query("Action=NoSuchAction&Version=2011-06-15"),
            Signer::root("sts"),
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            Says::Contains("NoSuchAction"),
        ),
        // Neither Version nor an STS action: no service to route to.
        (
            Call::query("Action=ListClusters"),
            Signer::root("ecs"),
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            Says::Exactly("Could not find operation ListClusters for this endpoint"),
        ),
        (
            Call::raw(b""),
            Signer::root("sts"),
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            Says::Exactly("Could not find operation  for this endpoint"),
        ),
    ];
    for (call, signer, status, code, says) in cases {
        let name = String::from_utf8_lossy(&call.body).into_owned();
        let answer = server.call(call.signed(signer)).await;
        assert_eq!(answer.status, status, "{name:?}: {}", answer.text());
        let (got, message) = answer.query_error();
        assert_eq!(got, code, "{name:?}");
        says.check(&message, &name);
    }
}

/// ECS and ECR inputs are checked against the AWS model before
/// authorization and the handler: a value the model refuses gets the
/// service's error, an unknown member never reaches the handler.
#[tokio::test]
async fn inputs_are_validated_against_the_model_before_the_handler() {
    let server = Server::start().await;
    let ecs = |op: &str, body: &str| Call::json(&format!("{ECS}.{op}"), body).signed(Signer::root("ecs"));
    let answer = server
        .call(ecs("RunTask", r#"{"taskDefinition": "t:1", "launchType": "FOO"}"#))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    assert_eq!(
        answer.json_error(),
        (
            "InvalidParameterException".to_string(),
            "1 validation error detected: Value 'FOO' at 'launchType' failed to satisfy constraint: \
             Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES]"
                .to_string()
        )
    );
    let answer = server
        .call(ecs(
            "CreateService",
            r#"{"serviceName": "s", "desiredCount": 2147483648}"#,
        ))
        .await;
    assert_eq!(
        answer.json_error(),
        (
            "SerializationException".to_string(),
            "NUMBER_VALUE can not be converted to an Integer".to_string()
        )
    );
    // The unknown member is dropped: the cluster is created without it, and not echoed.
    let answer = server
        .call(ecs("CreateCluster", r#"{"clusterName": "m", "clusterNmae": "x"}"#))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["cluster"]["clusterName"], "m");
    assert!(!answer.text().contains("clusterNmae"), "{}", answer.text());
    let answer = server
        .call(
            Call::json(
                &format!("{ECR}.DescribeImages"),
                r#"{"repositoryName": "r1", "maxResults": 5000}"#,
            )
            .signed(Signer::root("ecr")),
        )
        .await;
    assert_eq!(
        answer.json_error(),
        (
            "InvalidParameterException".to_string(),
            "Invalid parameter at 'maxResults' failed to satisfy constraint: \
             'Member must have value less than or equal to 1000'"
                .to_string()
        )
    );
}
