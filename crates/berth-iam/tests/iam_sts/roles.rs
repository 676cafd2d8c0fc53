//! Roles: trust, AssumeRole and its expiry, session tokens, groups, service roles.

use crate::support::*;
use berth_iam::RequestFacts;
use berth_proto::Principal;
use berth_proto::sigv4::Credentials;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn assume_role_checks_trust_and_expires() {
    let e = env().await;
    let allow_assume = r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#;
    let eve = e.user_with_key("eve", None).await;
    let frank = e.user_with_key("frank", Some(allow_assume)).await;
    let role = e
        .root(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("RoleName", "deployer"),
                ("AssumeRolePolicyDocument", TRUST_ACCOUNT),
            ],
        )
        .await
        .unwrap();
    let role_arn = field(&role, "Arn");
    assert_eq!(field(&role, "MaxSessionDuration"), "3600");
    e.root(
        "iam",
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "deployer"),
            ("PolicyName", "ecs"),
            (
                "PolicyDocument",
                r#"{"Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*"}}"#,
            ),
        ],
    )
    .await
    .unwrap();

    let assume = |p: Principal, duration: &'static str| e.assume(p, &role_arn, duration);
    // The trust policy names the account: the caller's own policies must allow sts:AssumeRole.
    let denied = assume(e.who(&eve).unwrap(), "900").await.unwrap_err();
    assert_eq!((denied.code.as_ref(), denied.status), ("AccessDenied", 403));
    assert!(
        denied
            .message
            .contains("sts:AssumeRole on resource: arn:aws:iam::123456789012:role/deployer")
    );
    let too_long = assume(e.who(&frank).unwrap(), "7200").await.unwrap_err();
    assert_eq!(too_long.code, "ValidationError");
    let too_short = assume(e.who(&frank).unwrap(), "60").await.unwrap_err();
    assert_eq!(too_short.code, "ValidationError");

    let xml = assume(e.who(&frank).unwrap(), "900").await.unwrap();
    assert_eq!(field(&xml, "Arn"), "arn:aws:sts::123456789012:assumed-role/deployer/s1");
    let expiration = field(&xml, "Expiration");
    assert_eq!(
        expiration,
        berth_iam::format_iso(e.now() + time::Duration::seconds(900))
    );
    let temp = Credentials::new(field(&xml, "AccessKeyId"), field(&xml, "SecretAccessKey"))
        .with_session_token(field(&xml, "SessionToken"));
    assert!(temp.access_key_id.starts_with("ASIA"));

    let session = e.who(&temp).unwrap();
    assert_eq!(session.arn, "arn:aws:sts::123456789012:assumed-role/deployer/s1");
    let facts = RequestFacts::default();
    e.auth
        .authorize(&session, "ecs:CreateCluster", &["*".into()], None, &facts)
        .unwrap();
    assert!(
        e.auth
            .authorize(&session, "ecr:CreateRepository", &["*".into()], None, &facts)
            .is_err()
    );
    let ident = e
        .iam
        .call(&e.ctx(session), "sts", &form(&[("Action", "GetCallerIdentity")]))
        .await
        .unwrap();
    assert_eq!(
        field(&ident, "Arn"),
        "arn:aws:sts::123456789012:assumed-role/deployer/s1"
    );
    assert!(field(&ident, "UserId").ends_with(":s1"));

    // Without the session token the temporary key is refused.
    let no_token = Credentials::new(temp.access_key_id.clone(), temp.secret_access_key.clone());
    assert_eq!(e.who(&no_token).unwrap_err().code, "UnrecognizedClientException");

    // After the expiry: ExpiredTokenException.
    e.clock.store(T0 + 899, Ordering::SeqCst);
    e.who(&temp).unwrap();
    e.clock.store(T0 + 900, Ordering::SeqCst);
    assert_eq!(e.who(&temp).unwrap_err().code, "ExpiredTokenException");

    // A trust policy naming the user directly is enough on its own.
    let trust_eve = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/eve"},"Action":"sts:AssumeRole"}}"#;
    e.root(
        "iam",
        &[
            ("Action", "UpdateAssumeRolePolicy"),
            ("RoleName", "deployer"),
            ("PolicyDocument", trust_eve),
        ],
    )
    .await
    .unwrap();
    assume(e.who(&eve).unwrap(), "900").await.unwrap();
    assert!(assume(e.who(&frank).unwrap(), "900").await.is_err());

    // Root may not assume roles.
    let root = e
        .root(
            "sts",
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", &role_arn),
                ("RoleSessionName", "root-s"),
            ],
        )
        .await;
    assert_eq!(root.unwrap_err().code, "AccessDenied");
}

#[tokio::test]
async fn get_session_token_and_caller_identity() {
    let e = env().await;
    let ident = e.root("sts", &[("Action", "GetCallerIdentity")]).await.unwrap();
    assert_eq!(field(&ident, "Arn"), "arn:aws:iam::123456789012:root");
    assert_eq!(field(&ident, "Account"), ACCOUNT);
    let creds = e.user_with_key("gina", None).await;
    let p = e.who(&creds).unwrap();
    let xml = e
        .iam
        .call(
            &e.ctx(p.clone()),
            "sts",
            &form(&[("Action", "GetSessionToken"), ("DurationSeconds", "900")]),
        )
        .await
        .unwrap();
    let temp = Credentials::new(field(&xml, "AccessKeyId"), field(&xml, "SecretAccessKey"))
        .with_session_token(field(&xml, "SessionToken"));
    let session = e.who(&temp).unwrap();
    assert_eq!(session.arn, p.arn);
    assert_eq!(session.user_name.as_deref(), Some("gina"));
    let nested = e
        .iam
        .call(&e.ctx(session), "sts", &form(&[("Action", "GetSessionToken")]))
        .await
        .unwrap_err();
    assert_eq!(nested.code, "AccessDenied");
    let bad = e
        .iam
        .call(
            &e.ctx(p),
            "sts",
            &form(&[("Action", "GetSessionToken"), ("DurationSeconds", "10")]),
        )
        .await
        .unwrap_err();
    assert_eq!(bad.code, "ValidationError");
    let unknown = e.root("sts", &[("Action", "Nope")]).await.unwrap_err();
    assert_eq!(unknown.code, "InvalidAction");
}

#[tokio::test]
async fn group_policies_apply_to_members() {
    let e = env().await;
    let creds = e.user_with_key("hana", None).await;
    let p = e.who(&creds).unwrap();
    let facts = RequestFacts::default();
    let g = e
        .root("iam", &[("Action", "CreateGroup"), ("GroupName", "ops")])
        .await
        .unwrap();
    assert_eq!(field(&g, "Arn"), "arn:aws:iam::123456789012:group/ops");
    e.root(
        "iam",
        &[
            ("Action", "PutGroupPolicy"),
            ("GroupName", "ops"),
            ("PolicyName", "ro"),
            ("PolicyDocument", READ_ONLY),
        ],
    )
    .await
    .unwrap();
    assert!(
        e.auth
            .authorize(&p, "ecs:ListClusters", &["*".into()], None, &facts)
            .is_err()
    );
    e.root(
        "iam",
        &[("Action", "AddUserToGroup"), ("GroupName", "ops"), ("UserName", "hana")],
    )
    .await
    .unwrap();
    e.auth
        .authorize(&p, "ecs:ListClusters", &["*".into()], None, &facts)
        .unwrap();
    let members = e
        .root("iam", &[("Action", "GetGroup"), ("GroupName", "ops")])
        .await
        .unwrap();
    assert!(members.contains("<UserName>hana</UserName>"));
    let groups = e
        .root("iam", &[("Action", "ListGroupsForUser"), ("UserName", "hana")])
        .await
        .unwrap();
    assert!(groups.contains("<GroupName>ops</GroupName>"));
    let busy = e
        .root("iam", &[("Action", "DeleteGroup"), ("GroupName", "ops")])
        .await
        .unwrap_err();
    assert_eq!(busy.code, "DeleteConflict");
    e.root(
        "iam",
        &[
            ("Action", "RemoveUserFromGroup"),
            ("GroupName", "ops"),
            ("UserName", "hana"),
        ],
    )
    .await
    .unwrap();
    assert!(
        e.auth
            .authorize(&p, "ecs:ListClusters", &["*".into()], None, &facts)
            .is_err()
    );
    e.root(
        "iam",
        &[
            ("Action", "DeleteGroupPolicy"),
            ("GroupName", "ops"),
            ("PolicyName", "ro"),
        ],
    )
    .await
    .unwrap();
    e.root("iam", &[("Action", "DeleteGroup"), ("GroupName", "ops")])
        .await
        .unwrap();
    let gone = e
        .root("iam", &[("Action", "GetGroup"), ("GroupName", "ops")])
        .await
        .unwrap_err();
    assert_eq!(gone.code, "NoSuchEntity");
}

#[tokio::test]
async fn services_assume_roles_that_trust_them() {
    let e = env().await;
    let trust_ecs = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
    let mut arns = Vec::new();
    for (name, trust) in [("task", trust_ecs), ("other", TRUST_ACCOUNT)] {
        let xml = e
            .root(
                "iam",
                &[
                    ("Action", "CreateRole"),
                    ("RoleName", name),
                    ("AssumeRolePolicyDocument", trust),
                ],
            )
            .await
            .unwrap();
        arns.push(field(&xml, "Arn"));
    }
    let task_id = "0123456789abcdef0123456789abcdef";
    let c = e
        .iam
        .assume_role_for_service(&arns[0], "ecs-tasks.amazonaws.com", task_id, 3600)
        .await
        .unwrap();
    assert_eq!(
        c.assumed_role_arn,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/task/{task_id}")
    );
    assert_eq!(c.expiration, T0 + 3600);
    assert!(c.access_key_id.starts_with("ASIA"));
    // The credentials authenticate as the assumed role.
    let creds = Credentials::new(c.access_key_id.clone(), c.secret_access_key.clone())
        .with_session_token(c.session_token.clone());
    assert_eq!(e.who(&creds).unwrap().arn, c.assumed_role_arn);
    // A role that does not trust the service, another service, a missing role.
    let err = e
        .iam
        .assume_role_for_service(&arns[1], "ecs-tasks.amazonaws.com", task_id, 3600)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("trust policy does not allow ecs-tasks.amazonaws.com to assume it"),
        "{err}"
    );
    assert!(matches!(
        e.iam
            .assume_role_for_service(&arns[0], "lambda.amazonaws.com", task_id, 3600)
            .await,
        Err(berth_iam::ServiceRoleError::NotTrusted { .. })
    ));
    assert!(matches!(
        e.iam
            .assume_role_for_service(
                &format!("arn:aws:iam::{ACCOUNT}:role/nope"),
                "ecs-tasks.amazonaws.com",
                task_id,
                3600
            )
            .await,
        Err(berth_iam::ServiceRoleError::NoSuchRole(_))
    ));
    assert!(matches!(
        e.iam
            .assume_role_for_service(&arns[0], "ecs-tasks.amazonaws.com", "x", 3600)
            .await,
        Err(berth_iam::ServiceRoleError::InvalidSessionName(_))
    ));
}
