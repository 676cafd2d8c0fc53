//! IAM and STS handlers against a real store, with requests authenticated
//! by SigV4 like the server does, and an injected clock for expiry.

use berth_iam::{Authenticator, Iam, RequestFacts};
use berth_proto::query::QueryInput;
use berth_proto::sigv4::{self, Credentials, HttpRequestParts};
use berth_proto::{AwsError, Principal, RequestContext};
use berth_store::{SqliteStore, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

const ACCOUNT: &str = "123456789012";
const T0: i64 = 1_800_000_000;

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    auth: Arc<Authenticator>,
    iam: Iam,
    clock: Arc<AtomicI64>,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("s.db")).unwrap());
    let clock = Arc::new(AtomicI64::new(T0));
    let c = clock.clone();
    let auth = Arc::new(
        Authenticator::new(ACCOUNT, "ROOTKEY", "rootsecret").with_clock(Arc::new(move || {
            OffsetDateTime::from_unix_timestamp(c.load(Ordering::SeqCst)).unwrap()
        })),
    );
    let iam = Iam::open(store.clone(), auth.clone()).await.unwrap();
    Env {
        _dir: dir,
        store,
        auth,
        iam,
        clock,
    }
}

fn form(pairs: &[(&str, &str)]) -> QueryInput {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", berth_proto::query::url_encode(v)))
        .collect();
    QueryInput::parse(body.join("&").as_bytes()).unwrap()
}

/// Text of the first `<tag>…</tag>`.
fn field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_string()
}

impl Env {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.clock.load(Ordering::SeqCst)).unwrap()
    }

    fn ctx(&self, principal: Principal) -> RequestContext {
        let mut ctx = RequestContext::root(ACCOUNT, "us-east-1");
        ctx.principal = principal;
        ctx
    }

    async fn root(&self, service: &str, pairs: &[(&str, &str)]) -> Result<String, AwsError> {
        let ctx = RequestContext::root(ACCOUNT, "us-east-1");
        self.iam.call(&ctx, service, &form(pairs)).await
    }

    /// Authenticates a request signed with `creds` the way the server does.
    fn who(&self, creds: &Credentials) -> Result<Principal, AwsError> {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "localhost".parse().unwrap());
        let body = b"Action=GetCallerIdentity&Version=2011-06-15";
        for (k, v) in sigv4::sign("POST", "/", "", &headers, body, creds, "us-east-1", "sts", self.now()) {
            headers.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        self.auth.authenticate(
            &HttpRequestParts {
                method: "POST",
                raw_path: "/",
                raw_query: "",
                headers: &headers,
                payload_sha256_hex: &sigv4::sha256_hex(body),
            },
            &sigv4::Endpoint::new("sts", &["us-east-1"]),
        )
    }

    async fn assume(&self, p: Principal, role_arn: &str, duration: &str) -> Result<String, AwsError> {
        let q = form(&[
            ("Action", "AssumeRole"),
            ("RoleArn", role_arn),
            ("RoleSessionName", "s1"),
            ("DurationSeconds", duration),
        ]);
        self.iam.call(&self.ctx(p), "sts", &q).await
    }

    async fn user_with_key(&self, name: &str, policy: Option<&str>) -> Credentials {
        self.root("iam", &[("Action", "CreateUser"), ("UserName", name)])
            .await
            .unwrap();
        if let Some(p) = policy {
            self.root(
                "iam",
                &[
                    ("Action", "PutUserPolicy"),
                    ("UserName", name),
                    ("PolicyName", "p"),
                    ("PolicyDocument", p),
                ],
            )
            .await
            .unwrap();
        }
        let xml = self
            .root("iam", &[("Action", "CreateAccessKey"), ("UserName", name)])
            .await
            .unwrap();
        Credentials::new(field(&xml, "AccessKeyId"), field(&xml, "SecretAccessKey"))
    }
}

const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:Describe*","ecs:List*"],"Resource":"*"}]}"#;

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
    let _iam2 = Iam::open(e.store.clone(), auth2.clone()).await.unwrap();
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

const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;

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
