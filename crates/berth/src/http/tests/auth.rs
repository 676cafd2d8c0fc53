//! Authentication failures, each in both protocols: awsJson's codes
//! (`MissingAuthenticationTokenException`, `UnrecognizedClientException`,
//! `InvalidSignatureException`, …) and the awsQuery codes IAM and STS use
//! (`MissingAuthenticationToken`, `InvalidClientTokenId`,
//! `SignatureDoesNotMatch`, …); then authorization of a non-root caller.

use super::*;

const LIST_CLUSTERS: &str = "AmazonEC2ContainerServiceV20141113.ListClusters";

/// One way to get authentication wrong, as an ECS call and as an STS/IAM call.
struct Case {
    name: &'static str,
    json: Call,
    query: Call,
    status: StatusCode,
    json_code: &'static str,
    query_code: &'static str,
    says: Says,
}

fn list_clusters() -> Call {
    Call::json(LIST_CLUSTERS, "{}")
}

fn get_caller_identity() -> Call {
    Call::query(GET_CALLER_IDENTITY)
}

fn cases() -> Vec<Case> {
    let forbidden = StatusCode::FORBIDDEN;
    vec![
        Case {
            name: "no Authorization",
            json: list_clusters(),
            query: get_caller_identity(),
            status: forbidden,
            json_code: "MissingAuthenticationTokenException",
            query_code: "MissingAuthenticationToken",
            says: Says::Exactly("Missing Authentication Token"),
        },
        Case {
            name: "an unknown access key",
            json: list_clusters().signed(Signer::root("ecs").key("AKIANOSUCHKEY0000000", "x")),
            query: get_caller_identity().signed(Signer::root("sts").key("AKIANOSUCHKEY0000000", "x")),
            status: forbidden,
            json_code: "UnrecognizedClientException",
            query_code: "InvalidClientTokenId",
            says: Says::Exactly("The security token included in the request is invalid."),
        },
        Case {
            name: "a wrong secret",
            json: list_clusters().signed(Signer::root("ecs").key(ROOT_KEY, "not-the-secret")),
            query: get_caller_identity().signed(Signer::root("sts").key(ROOT_KEY, "not-the-secret")),
            status: forbidden,
            json_code: "InvalidSignatureException",
            query_code: "SignatureDoesNotMatch",
            says: Says::Exactly(SIGNATURE_MISMATCH),
        },
        Case {
            name: "signed 20 minutes ago",
            json: list_clusters().signed(Signer::root("ecs").skewed(time::Duration::minutes(-20))),
            query: get_caller_identity().signed(Signer::root("sts").skewed(time::Duration::minutes(-20))),
            status: forbidden,
            json_code: "InvalidSignatureException",
            query_code: "SignatureDoesNotMatch",
            says: Says::StartsWith("Signature expired: "),
        },
        Case {
            name: "signed 20 minutes ahead",
            json: list_clusters().signed(Signer::root("ecs").skewed(time::Duration::minutes(20))),
            query: get_caller_identity().signed(Signer::root("sts").skewed(time::Duration::minutes(20))),
            status: forbidden,
            json_code: "InvalidSignatureException",
            query_code: "SignatureDoesNotMatch",
            says: Says::StartsWith("Signature not yet current: "),
        },
        Case {
            name: "a scope naming another service",
            json: list_clusters().signed(Signer::root("ssm")),
            query: Call::query(LIST_USERS).signed(Signer::root("ecs")),
            status: forbidden,
            json_code: "InvalidSignatureException",
            query_code: "SignatureDoesNotMatch",
            says: Says::StartsWith("Credential should be scoped to correct service: '"),
        },
        Case {
            name: "a scope naming another region",
            json: list_clusters().signed(Signer::root("ecs").region("us-east-1")),
            query: get_caller_identity().signed(Signer::root("sts").region("ap-south-1")),
            status: forbidden,
            json_code: "InvalidSignatureException",
            query_code: "SignatureDoesNotMatch",
            says: Says::Exactly("Credential should be scoped to a valid region. "),
        },
        Case {
            name: "UNSIGNED-PAYLOAD",
            json: list_clusters().signed(Signer::root("ecs").unsigned_payload()),
            query: get_caller_identity().signed(Signer::root("sts").unsigned_payload()),
            status: forbidden,
            json_code: "InvalidSignatureException",
            query_code: "SignatureDoesNotMatch",
            says: Says::Exactly(
                "x-amz-content-sha256: UNSIGNED-PAYLOAD is not accepted by this endpoint; \
                 sign the SHA-256 of the request body.",
            ),
        },
        Case {
            name: "a long-term key with a session token",
            json: list_clusters().signed(Signer::root("ecs").token("bogus-token")),
            query: get_caller_identity().signed(Signer::root("sts").token("bogus-token")),
            status: forbidden,
            json_code: "UnrecognizedClientException",
            query_code: "InvalidClientTokenId",
            says: Says::Exactly("The security token included in the request is invalid."),
        },
        Case {
            name: "an x-amz-* header added after signing",
            json: list_clusters()
                .signed(Signer::root("ecs"))
                .header_after_signing("x-amz-meta-note", "added"),
            query: get_caller_identity()
                .signed(Signer::root("sts"))
                .header_after_signing("x-amz-meta-note", "added"),
            status: forbidden,
            json_code: "InvalidSignatureException",
            query_code: "SignatureDoesNotMatch",
            says: Says::Exactly(
                "There were headers present in the request which were not signed: x-amz-meta-note. \
                 Sign every x-amz-* header.",
            ),
        },
        Case {
            name: "another scheme than SigV4",
            json: list_clusters().header("authorization", "Bearer abc"),
            query: get_caller_identity().header("authorization", "Bearer abc"),
            status: StatusCode::BAD_REQUEST,
            json_code: "IncompleteSignatureException",
            query_code: "IncompleteSignature",
            says: Says::Contains("AWS4-HMAC-SHA256"),
        },
    ]
}

#[tokio::test]
async fn authentication_failures_answer_in_the_callers_protocol() {
    let server = Server::start().await;
    for case in cases() {
        let answer = server.call(case.json).await;
        assert_eq!(answer.status, case.status, "{} (JSON): {}", case.name, answer.text());
        let (code, message) = answer.json_error();
        assert_eq!(code, case.json_code, "{} (JSON)", case.name);
        case.says.check(&message, case.name);

        let answer = server.call(case.query).await;
        assert_eq!(answer.status, case.status, "{} (query): {}", case.name, answer.text());
        let (code, message) = answer.query_error();
        assert_eq!(code, case.query_code, "{} (query)", case.name);
        case.says.check(&message, case.name);
    }
}

/// The scope must name the service the target or the form routes to.
#[tokio::test]
async fn the_scope_names_the_service_called() {
    let server = Server::start().await;
    let answer = server.call(list_clusters().signed(Signer::root("ssm"))).await;
    assert_eq!(
        answer.json_error().1,
        "Credential should be scoped to correct service: 'ecs'. "
    );
    let answer = server.call(Call::query(LIST_USERS).signed(Signer::root("sts"))).await;
    assert_eq!(
        answer.query_error(),
        (
            "SignatureDoesNotMatch".to_string(),
            "Credential should be scoped to correct service: 'iam'. ".to_string()
        )
    );
    let answer = server.call(get_caller_identity().signed(Signer::root("iam"))).await;
    assert_eq!(
        answer.query_error().1,
        "Credential should be scoped to correct service: 'sts'. "
    );
}

/// `X-Amz-Target` named after signing (a harmless call signed, another
/// one sent) is refused; signed, the same call goes through.
#[tokio::test]
async fn x_amz_target_must_be_signed() {
    let server = Server::start().await;
    let forged = Call::raw(b"{}")
        .header("content-type", JSON_1_1)
        .signed(Signer::root("ecs"))
        .header_after_signing("x-amz-target", &format!("{ECS}.CreateCluster"));
    let answer = server.call(forged).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    assert_eq!(
        answer.json_error(),
        (
            "InvalidSignatureException".to_string(),
            "There were headers present in the request which were not signed: x-amz-target. \
             Sign every x-amz-* header."
                .to_string()
        )
    );
    // A target replaced after signing another one: the signature no longer matches.
    let swapped = list_clusters()
        .signed(Signer::root("ecs"))
        .header_after_signing("x-amz-target", &format!("{ECS}.CreateCluster"));
    let answer = server.call(swapped).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    assert_eq!(answer.json_error().1, SIGNATURE_MISMATCH);
    let answer = server.call(list_clusters().signed(Signer::root("ecs"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
}

/// Within the 15 minutes of skew, either way, a request is accepted; a
/// body whose hash is declared (and right) too.
#[tokio::test]
async fn signatures_within_the_window_and_declared_hashes_are_accepted() {
    let server = Server::start().await;
    let signers = [
        Signer::root("ecs").skewed(time::Duration::minutes(-14)),
        Signer::root("ecs").skewed(time::Duration::minutes(14)),
        Signer::root("ecs").declaring_hash(),
    ];
    for signer in signers {
        let answer = server.call(list_clusters().signed(signer)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
}

/// A non-root caller: authenticated with its own key, authorized by its
/// policies (none here), refused in its protocol's words; a deactivated
/// key is no longer known.
#[tokio::test]
async fn a_user_without_policies_is_refused_in_the_callers_protocol() {
    let server = Server::start().await;
    let root = |form: &str| Call::query(form).signed(Signer::root("iam"));
    let created = server
        .call(root("Action=CreateUser&UserName=alice&Version=2010-05-08"))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let key = server
        .call(root("Action=CreateAccessKey&UserName=alice&Version=2010-05-08"))
        .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.text());
    let (id, secret) = (
        xml_text(&key.text(), "AccessKeyId").expect("AccessKeyId"),
        xml_text(&key.text(), "SecretAccessKey").expect("SecretAccessKey"),
    );
    let alice = |service: &str| Signer::root(service).key(&id, &secret);

    let who = server.call(get_caller_identity().signed(alice("sts"))).await;
    assert_eq!(who.status, StatusCode::OK, "{}", who.text());
    assert!(
        who.text().contains("<Arn>arn:aws:iam::000000000000:user/alice</Arn>"),
        "{}",
        who.text()
    );

    let answer = server.call(list_clusters().signed(alice("ecs"))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    let (code, message) = answer.json_error();
    assert_eq!(code, "AccessDeniedException");
    Says::StartsWith(
        "User: arn:aws:iam::000000000000:user/alice is not authorized to perform: ecs:ListClusters on resource: ",
    )
    .check(&message, "ecs:ListClusters");

    let answer = server.call(Call::query(LIST_USERS).signed(alice("iam"))).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    let (code, message) = answer.query_error();
    assert_eq!(code, "AccessDenied");
    Says::StartsWith(
        "User: arn:aws:iam::000000000000:user/alice is not authorized to perform: iam:ListUsers on resource: ",
    )
    .check(&message, "iam:ListUsers");

    let form = format!("Action=UpdateAccessKey&UserName=alice&AccessKeyId={id}&Status=Inactive&Version=2010-05-08");
    let answer = server.call(root(&form)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let answer = server.call(list_clusters().signed(alice("ecs"))).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    assert_eq!(answer.json_error().0, "UnrecognizedClientException");
    let answer = server.call(get_caller_identity().signed(alice("sts"))).await;
    assert_eq!(answer.query_error().0, "InvalidClientTokenId");
}
