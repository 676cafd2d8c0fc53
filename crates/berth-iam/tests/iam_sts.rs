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

/// Seals IAM secrets for these tests: XOR with a stream derived from the
/// AAD plus a check byte, so a value moved to another record does not open
/// (the server uses AES-256-GCM under the KMS master key).
struct TestSealer;

fn stream(aad: &[u8], n: usize) -> impl Iterator<Item = u8> + '_ {
    (0..n).map(move |i| {
        aad.iter()
            .fold(i as u8 ^ 0x5a, |a, b| a.wrapping_mul(31).wrapping_add(*b))
    })
}

fn check(aad: &[u8]) -> u8 {
    aad.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

impl berth_iam::SecretSealer for TestSealer {
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut out: Vec<u8> = plaintext
            .iter()
            .zip(stream(aad, plaintext.len()))
            .map(|(p, k)| p ^ k)
            .collect();
        out.push(check(aad));
        out
    }
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, berth_iam::SealError> {
        let (body, c) = sealed.split_at(sealed.len().checked_sub(1).ok_or(berth_iam::SealError::Open)?);
        if c[0] != check(aad) {
            return Err(berth_iam::SealError::Open);
        }
        Ok(body.iter().zip(stream(aad, body.len())).map(|(c, k)| c ^ k).collect())
    }
}
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
    let iam = Iam::open(store.clone(), auth.clone(), Arc::new(TestSealer))
        .await
        .unwrap();
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

#[tokio::test]
async fn secrets_reach_the_store_only_sealed_and_still_authenticate_after_a_reopen() {
    let e = env().await;
    let creds = e.user_with_key("erin", None).await;
    let p = e.who(&creds).unwrap();
    let xml = e
        .iam
        .call(
            &e.ctx(p),
            "sts",
            &form(&[("Action", "GetSessionToken"), ("DurationSeconds", "900")]),
        )
        .await
        .unwrap();
    let (session_secret, session_token) = (field(&xml, "SecretAccessKey"), field(&xml, "SessionToken"));
    for kv in e.store.range("iam/", None, None).await.unwrap() {
        let text = String::from_utf8_lossy(&kv.value);
        for secret in [&creds.secret_access_key, &session_secret, &session_token] {
            assert!(
                !text.contains(secret.as_str()),
                "{} holds a secret in clear: {text}",
                kv.key
            );
        }
    }
    // A fresh server on the same store opens them and they authenticate.
    let auth2 = Arc::new(
        Authenticator::new(ACCOUNT, "ROOTKEY", "rootsecret")
            .with_clock(Arc::new(|| OffsetDateTime::from_unix_timestamp(T0).unwrap())),
    );
    let _iam2 = Iam::open(e.store.clone(), auth2.clone(), Arc::new(TestSealer))
        .await
        .unwrap();
    let dir = auth2.directory();
    assert_eq!(
        dir.keys[&creds.access_key_id].secret_access_key,
        creds.secret_access_key
    );
    let session = dir.sessions.values().next().unwrap();
    assert_eq!(session.secret_access_key, session_secret);
    assert_eq!(session.session_token, session_token);
}

#[tokio::test]
async fn clear_records_of_an_older_version_are_sealed_at_start() {
    let e = env().await;
    let clear = r#"{"access_key_id":"AKIAOLDCLEARKEY00001","secret_access_key":"oldcleartextsecret0000000000000000000000","user_name":"old","status":"Active","create_date":"2026-01-01T00:00:00Z"}"#;
    e.store
        .put("iam/access-keys/AKIAOLDCLEARKEY00001", clear.as_bytes().to_vec())
        .await
        .unwrap();
    let auth2 = Arc::new(Authenticator::new(ACCOUNT, "ROOTKEY", "rootsecret"));
    let _iam2 = Iam::open(e.store.clone(), auth2.clone(), Arc::new(TestSealer))
        .await
        .unwrap();
    let stored = e
        .store
        .get("iam/access-keys/AKIAOLDCLEARKEY00001")
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(stored.value).unwrap();
    assert!(!text.contains("oldcleartextsecret"), "{text}");
    assert!(text.contains("sealed_secret"), "{text}");
    assert_eq!(
        auth2.directory().keys["AKIAOLDCLEARKEY00001"].secret_access_key,
        "oldcleartextsecret0000000000000000000000"
    );
}

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
