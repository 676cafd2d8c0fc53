//! AWS managed policies: built in, attachable, read-only.

use crate::support::*;
use berth_iam::RequestFacts;

const EXEC_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

#[tokio::test]
async fn aws_managed_policies_are_built_in_attachable_and_read_only() {
    let e = env().await;
    let got = e
        .root("iam", &[("Action", "GetPolicy"), ("PolicyArn", EXEC_POLICY)])
        .await
        .unwrap();
    assert_eq!(field(&got, "Path"), "/service-role/");
    assert_eq!(field(&got, "DefaultVersionId"), "v1");
    let v = e
        .root(
            "iam",
            &[
                ("Action", "GetPolicyVersion"),
                ("PolicyArn", EXEC_POLICY),
                ("VersionId", "v1"),
            ],
        )
        .await
        .unwrap();
    assert!(field(&v, "Document").contains("ecr%3AGetAuthorizationToken"), "{v}");

    let aws = e
        .root(
            "iam",
            &[("Action", "ListPolicies"), ("Scope", "AWS"), ("MaxItems", "1000")],
        )
        .await
        .unwrap();
    assert!(aws.contains(&format!("<Arn>{EXEC_POLICY}</Arn>")));
    assert!(aws.contains("<Arn>arn:aws:iam::aws:policy/AdministratorAccess</Arn>"));
    let local = e
        .root("iam", &[("Action", "ListPolicies"), ("Scope", "Local")])
        .await
        .unwrap();
    assert!(!local.contains("arn:aws:iam::aws:policy/"), "{local}");

    // Attached, it grants what it says; listed with its real ARN.
    let creds = e.user_with_key("frank", None).await;
    let p = e.who(&creds).unwrap();
    let facts = RequestFacts::default();
    let ro = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly";
    e.root(
        "iam",
        &[("Action", "AttachUserPolicy"), ("UserName", "frank"), ("PolicyArn", ro)],
    )
    .await
    .unwrap();
    let repo = "arn:aws:ecr:us-east-1:123456789012:repository/app".to_string();
    e.auth
        .authorize(&p, "ecr:BatchGetImage", std::slice::from_ref(&repo), None, &facts)
        .unwrap();
    assert!(e.auth.authorize(&p, "ecr:PutImage", &[repo], None, &facts).is_err());
    let attached = e
        .root("iam", &[("Action", "ListAttachedUserPolicies"), ("UserName", "frank")])
        .await
        .unwrap();
    assert!(attached.contains(&format!("<PolicyArn>{ro}</PolicyArn>")), "{attached}");
    let entities = e
        .root("iam", &[("Action", "ListEntitiesForPolicy"), ("PolicyArn", ro)])
        .await
        .unwrap();
    assert!(entities.contains("<UserName>frank</UserName>"), "{entities}");
    assert_eq!(
        field(
            &e.root("iam", &[("Action", "GetPolicy"), ("PolicyArn", ro)])
                .await
                .unwrap(),
            "AttachmentCount"
        ),
        "1"
    );

    // Read-only, even for root.
    let del = e
        .root("iam", &[("Action", "DeletePolicy"), ("PolicyArn", ro)])
        .await
        .unwrap_err();
    assert_eq!((del.code.as_ref(), del.status), ("AccessDenied", 403));
    let ver = e
        .root(
            "iam",
            &[
                ("Action", "CreatePolicyVersion"),
                ("PolicyArn", ro),
                ("PolicyDocument", READ_ONLY),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(ver.code, "AccessDenied");
    let missing = e
        .root(
            "iam",
            &[
                ("Action", "GetPolicy"),
                ("PolicyArn", "arn:aws:iam::aws:policy/NoSuchPolicy"),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(missing.code, "NoSuchEntity");
    // A customer policy may share an AWS managed policy's name.
    e.root(
        "iam",
        &[
            ("Action", "CreatePolicy"),
            ("PolicyName", "AdministratorAccess"),
            ("PolicyDocument", READ_ONLY),
        ],
    )
    .await
    .unwrap();
}
