//! Users, access keys, authentication, and managed policies with versions.

use crate::support::*;
use berth_iam::{Authenticator, Iam, RequestFacts};
use berth_proto::sigv4::Credentials;
use std::sync::Arc;

#[tokio::test]
async fn users_keys_and_authentication() {
    let e = env().await;
    let creds = e.user_with_key("bob", Some(READ_ONLY)).await;
    assert!(creds.access_key_id.starts_with("AKIA"));
    let p = e.who(&creds).unwrap();
    assert_eq!(p.arn, "arn:aws:iam::123456789012:user/bob");
    assert!(!p.is_root);
    let facts = RequestFacts {
        source_ip: "127.0.0.1",
        ..Default::default()
    };
    e.auth
        .authorize(&p, "ecs:ListClusters", &["*".into()], None, &facts)
        .unwrap();
    let denied = e
        .auth
        .authorize(
            &p,
            "ecs:CreateCluster",
            &["arn:aws:ecs:us-east-1:123456789012:cluster/x".into()],
            None,
            &facts,
        )
        .unwrap_err();
    assert_eq!(denied.code, "AccessDeniedException");
    assert_eq!(
        denied.message,
        "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: ecs:CreateCluster on resource: \
         arn:aws:ecs:us-east-1:123456789012:cluster/x because no identity-based policy allows the ecs:CreateCluster action"
    );

    // Wrong secret, unknown key.
    assert_eq!(
        e.who(&Credentials::new(creds.access_key_id.clone(), "nope"))
            .unwrap_err()
            .code,
        "InvalidSignatureException"
    );
    assert_eq!(
        e.who(&Credentials::new("AKIAUNKNOWN", "x")).unwrap_err().code,
        "UnrecognizedClientException"
    );

    // Duplicate user, list, key listing, delete conflicts.
    let dup = e
        .root("iam", &[("Action", "CreateUser"), ("UserName", "bob")])
        .await
        .unwrap_err();
    assert_eq!((dup.code.as_ref(), dup.status), ("EntityAlreadyExists", 409));
    let list = e.root("iam", &[("Action", "ListUsers")]).await.unwrap();
    assert!(list.contains("<UserName>bob</UserName>") && list.contains("<IsTruncated>false</IsTruncated>"));
    let keys = e
        .root("iam", &[("Action", "ListAccessKeys"), ("UserName", "bob")])
        .await
        .unwrap();
    assert!(keys.contains(&creds.access_key_id) && !keys.contains(&creds.secret_access_key));
    let conflict = e
        .root("iam", &[("Action", "DeleteUser"), ("UserName", "bob")])
        .await
        .unwrap_err();
    assert_eq!(conflict.code, "DeleteConflict");

    // Deactivated, then deleted keys stop working at once.
    e.root(
        "iam",
        &[
            ("Action", "UpdateAccessKey"),
            ("UserName", "bob"),
            ("AccessKeyId", &creds.access_key_id),
            ("Status", "Inactive"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(e.who(&creds).unwrap_err().code, "UnrecognizedClientException");
    e.root(
        "iam",
        &[
            ("Action", "DeleteAccessKey"),
            ("UserName", "bob"),
            ("AccessKeyId", &creds.access_key_id),
        ],
    )
    .await
    .unwrap();
    assert_eq!(e.who(&creds).unwrap_err().code, "UnrecognizedClientException");
    e.root(
        "iam",
        &[("Action", "DeleteUserPolicy"), ("UserName", "bob"), ("PolicyName", "p")],
    )
    .await
    .unwrap();
    e.root("iam", &[("Action", "DeleteUser"), ("UserName", "bob")])
        .await
        .unwrap();
    let gone = e
        .root("iam", &[("Action", "GetUser"), ("UserName", "bob")])
        .await
        .unwrap_err();
    assert_eq!((gone.code.as_ref(), gone.status), ("NoSuchEntity", 404));
}

#[tokio::test]
async fn state_survives_a_reopen() {
    let e = env().await;
    let creds = e.user_with_key("carol", None).await;
    let auth2 = Arc::new(Authenticator::new(ACCOUNT, "ROOTKEY", "rootsecret"));
    let _iam2 = Iam::open(e.store.clone(), auth2.clone(), Arc::new(TestSealer))
        .await
        .unwrap();
    assert!(auth2.directory().keys.contains_key(&creds.access_key_id));
}

#[tokio::test]
async fn managed_policies_versions_and_attachments() {
    let e = env().await;
    let creds = e.user_with_key("dave", None).await;
    let p = e.who(&creds).unwrap();
    let facts = RequestFacts::default();
    let xml = e
        .root(
            "iam",
            &[
                ("Action", "CreatePolicy"),
                ("PolicyName", "ro"),
                ("PolicyDocument", READ_ONLY),
            ],
        )
        .await
        .unwrap();
    let arn = field(&xml, "Arn");
    assert_eq!(arn, "arn:aws:iam::123456789012:policy/ro");
    assert_eq!(field(&xml, "DefaultVersionId"), "v1");
    assert!(
        e.auth
            .authorize(&p, "ecs:ListClusters", &["*".into()], None, &facts)
            .is_err()
    );
    e.root(
        "iam",
        &[
            ("Action", "AttachUserPolicy"),
            ("UserName", "dave"),
            ("PolicyArn", &arn),
        ],
    )
    .await
    .unwrap();
    e.auth
        .authorize(&p, "ecs:ListClusters", &["*".into()], None, &facts)
        .unwrap();
    let attached = e
        .root("iam", &[("Action", "ListAttachedUserPolicies"), ("UserName", "dave")])
        .await
        .unwrap();
    assert!(attached.contains(&format!("<PolicyArn>{arn}</PolicyArn>")));
    assert_eq!(
        field(
            &e.root("iam", &[("Action", "GetPolicy"), ("PolicyArn", &arn)])
                .await
                .unwrap(),
            "AttachmentCount"
        ),
        "1"
    );

    // A new default version takes effect for the attached user.
    let deny_all = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#;
    let v = e
        .root(
            "iam",
            &[
                ("Action", "CreatePolicyVersion"),
                ("PolicyArn", &arn),
                ("PolicyDocument", deny_all),
                ("SetAsDefault", "true"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(field(&v, "VersionId"), "v2");
    let err = e
        .auth
        .authorize(&p, "ecs:ListClusters", &["*".into()], None, &facts)
        .unwrap_err();
    assert!(
        err.message
            .ends_with("with an explicit deny in an identity-based policy"),
        "{}",
        err.message
    );
    let v1 = e
        .root(
            "iam",
            &[("Action", "GetPolicyVersion"), ("PolicyArn", &arn), ("VersionId", "v1")],
        )
        .await
        .unwrap();
    assert_eq!(field(&v1, "IsDefaultVersion"), "false");
    assert!(field(&v1, "Document").starts_with("%7B"));

    e.root(
        "iam",
        &[
            ("Action", "DetachUserPolicy"),
            ("UserName", "dave"),
            ("PolicyArn", &arn),
        ],
    )
    .await
    .unwrap();
    assert!(
        e.auth
            .authorize(&p, "ecs:ListClusters", &["*".into()], None, &facts)
            .is_err()
    );
    let again = e
        .root(
            "iam",
            &[
                ("Action", "DetachUserPolicy"),
                ("UserName", "dave"),
                ("PolicyArn", &arn),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(again.code, "NoSuchEntity");

    let bad = e
        .root(
            "iam",
            &[
                ("Action", "CreatePolicy"),
                ("PolicyName", "bad"),
                ("PolicyDocument", "{\"Statement\":[]"),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(bad.code, "MalformedPolicyDocument");
    let missing = e
        .root("iam", &[("Action", "CreatePolicy"), ("PolicyName", "x")])
        .await
        .unwrap_err();
    assert_eq!(missing.code, "ValidationError");
}
