//! `Authenticator::authenticate` / `precheck` / `is_current` against a real
//! IAM state: the endpoint's service and region, long-term keys with a
//! session token, headers-only checks, identities deleted and re-created.

use berth_iam::{Authenticator, Iam};
use berth_proto::query::QueryInput;
use berth_proto::sigv4::{self, Credentials, Endpoint, HttpRequestParts};
use berth_proto::{AwsError, Principal, RequestContext};
use berth_store::{SqliteStore, Store};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use time::OffsetDateTime;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const ECS: Endpoint<'static> = Endpoint {
    service: Some("ecs"),
    regions: &[REGION],
    unsigned_payload: sigv4::UnsignedPayload::Refused,
};

/// Seals IAM secrets for these tests (a reversible XOR; the server seals
/// them with AES-256-GCM under the KMS master key).
struct TestSealer;

impl berth_iam::SecretSealer for TestSealer {
    fn seal(&self, plaintext: &[u8], _aad: &[u8]) -> Vec<u8> {
        plaintext.iter().map(|b| b ^ 0xa5).collect()
    }
    fn open(&self, sealed: &[u8], _aad: &[u8]) -> Result<Vec<u8>, berth_iam::SealError> {
        Ok(sealed.iter().map(|b| b ^ 0xa5).collect())
    }
}

struct Env {
    _dir: tempfile::TempDir,
    auth: Arc<Authenticator>,
    iam: Iam,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("s.db")).unwrap());
    let auth = Arc::new(Authenticator::new(ACCOUNT, "ROOTKEY", "rootsecret"));
    let iam = Iam::open(store, auth.clone(), Arc::new(TestSealer)).await.unwrap();
    Env { _dir: dir, auth, iam }
}

fn field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_string()
}

impl Env {
    async fn root(&self, pairs: &[(&str, &str)]) -> Result<String, AwsError> {
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", berth_proto::query::url_encode(v)))
            .collect();
        let q = QueryInput::parse(body.join("&").as_bytes()).unwrap();
        self.iam.call(&RequestContext::root(ACCOUNT, REGION), "iam", &q).await
    }

    async fn user_with_key(&self, name: &str) -> Credentials {
        self.root(&[("Action", "CreateUser"), ("UserName", name)])
            .await
            .unwrap();
        let xml = self
            .root(&[("Action", "CreateAccessKey"), ("UserName", name)])
            .await
            .unwrap();
        Credentials::new(field(&xml, "AccessKeyId"), field(&xml, "SecretAccessKey"))
    }
}

/// A signed ListClusters: (headers, body hash).
fn signed(creds: &Credentials, service: &str, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("localhost"));
    headers.insert(
        "x-amz-target",
        HeaderValue::from_static("AmazonEC2ContainerServiceV20141113.ListClusters"),
    );
    let now = OffsetDateTime::now_utc();
    for (k, v) in sigv4::sign("POST", "/", "", &headers, body, creds, REGION, service, now) {
        headers.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    headers
}

fn parts<'a>(headers: &'a HeaderMap, payload: &'a str) -> HttpRequestParts<'a> {
    HttpRequestParts {
        method: "POST",
        raw_path: "/",
        raw_query: "",
        headers,
        payload_sha256_hex: payload,
    }
}

fn code(r: Result<Principal, AwsError>) -> (String, String) {
    let e = r.unwrap_err();
    (e.code.into_owned(), e.message)
}

#[tokio::test]
async fn the_scope_must_name_the_endpoints_service() {
    let e = env().await;
    let creds = e.user_with_key("alice").await;
    let body = b"{}";
    let hash = sigv4::sha256_hex(body);
    let h = signed(&creds, "ecs", body);
    let p = e.auth.authenticate(&parts(&h, &hash), &ECS).unwrap();
    assert_eq!(p.arn, "arn:aws:iam::123456789012:user/alice");
    assert!(p.unique_id.starts_with("AIDA"), "{}", p.unique_id);

    let h = signed(&creds, "ssm", body);
    assert_eq!(
        code(e.auth.authenticate(&parts(&h, &hash), &ECS)),
        (
            "InvalidSignatureException".into(),
            "Credential should be scoped to correct service: 'ecs'. ".into()
        )
    );
    let eu = Endpoint {
        regions: &["eu-west-1"],
        ..ECS
    };
    let h = signed(&creds, "ecs", body);
    assert_eq!(
        code(e.auth.authenticate(&parts(&h, &hash), &eu)).1,
        "Credential should be scoped to a valid region. "
    );
}

#[tokio::test]
async fn long_term_keys_with_a_session_token_are_refused() {
    let e = env().await;
    let user = e.user_with_key("bob").await.with_session_token("bogus");
    let root = Credentials::new("ROOTKEY", "rootsecret").with_session_token("bogus");
    let body = b"{}";
    let hash = sigv4::sha256_hex(body);
    for creds in [user, root] {
        let h = signed(&creds, "ecs", body);
        assert!(h.contains_key("x-amz-security-token"));
        let refused = (
            "UnrecognizedClientException".to_string(),
            "The security token included in the request is invalid.".to_string(),
        );
        assert_eq!(code(e.auth.authenticate(&parts(&h, &hash), &ECS)), refused);
        assert_eq!(
            e.auth.precheck(&parts(&h, ""), &ECS).unwrap_err().code,
            "UnrecognizedClientException"
        );
        // The same keys without the token are fine.
        let plain = Credentials::new(creds.access_key_id.clone(), creds.secret_access_key.clone());
        let h = signed(&plain, "ecs", body);
        assert!(e.auth.authenticate(&parts(&h, &hash), &ECS).is_ok());
    }
}

#[tokio::test]
async fn precheck_decides_from_the_headers() {
    let e = env().await;
    let creds = e.user_with_key("carol").await;
    let body = b"{\"maxResults\":1}";
    let h = signed(&creds, "ecs", body);
    // No x-amz-content-sha256: the HMAC waits for the body, the rest is checked.
    assert_eq!(e.auth.precheck(&parts(&h, "not-read-yet"), &ECS), Ok(()));
    let other = sigv4::sha256_hex(b"{}");
    assert_eq!(
        code(e.auth.authenticate(&parts(&h, &other), &ECS)).0,
        "InvalidSignatureException"
    );
    // Unknown keys, missing signatures and wrong scopes fail at once.
    let stranger = Credentials::new("AKIAUNKNOWN", "x");
    let h = signed(&stranger, "ecs", body);
    assert_eq!(
        e.auth.precheck(&parts(&h, ""), &ECS).unwrap_err().code,
        "UnrecognizedClientException"
    );
    assert_eq!(
        e.auth.precheck(&parts(&HeaderMap::new(), ""), &ECS).unwrap_err().code,
        "MissingAuthenticationTokenException"
    );
    let h = signed(&creds, "logs", body);
    assert_eq!(
        e.auth.precheck(&parts(&h, ""), &ECS).unwrap_err().code,
        "InvalidSignatureException"
    );
    // With a declared hash the signature is verified from the headers alone.
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("localhost"));
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_str(&sigv4::sha256_hex(body)).unwrap(),
    );
    let now = OffsetDateTime::now_utc();
    let wrong = Credentials::new(creds.access_key_id.clone(), "wrong-secret");
    for (k, v) in sigv4::sign("POST", "/", "", &h.clone(), body, &wrong, REGION, "ecs", now) {
        h.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    assert_eq!(
        e.auth.precheck(&parts(&h, ""), &ECS).unwrap_err().code,
        "InvalidSignatureException"
    );
}

#[tokio::test]
async fn a_user_recreated_under_the_same_name_is_another_identity() {
    let e = env().await;
    let creds = e.user_with_key("dave").await;
    let body = b"{}";
    let hash = sigv4::sha256_hex(body);
    let h = signed(&creds, "ecs", body);
    let old = e.auth.authenticate(&parts(&h, &hash), &ECS).unwrap();
    assert!(e.auth.is_current(&old));
    e.root(&[
        ("Action", "DeleteAccessKey"),
        ("UserName", "dave"),
        ("AccessKeyId", &creds.access_key_id),
    ])
    .await
    .unwrap();
    e.root(&[("Action", "DeleteUser"), ("UserName", "dave")]).await.unwrap();
    assert!(!e.auth.is_current(&old), "a deleted user");
    let again = e.user_with_key("dave").await;
    assert!(!e.auth.is_current(&old), "re-created under the same name");
    let h = signed(&again, "ecs", body);
    let new = e.auth.authenticate(&parts(&h, &hash), &ECS).unwrap();
    assert_eq!(new.arn, old.arn);
    assert_ne!(new.unique_id, old.unique_id);
    assert!(e.auth.is_current(&new));

    let root = e
        .auth
        .authenticate(
            &parts(&signed(&Credentials::new("ROOTKEY", "rootsecret"), "ecs", body), &hash),
            &ECS,
        )
        .unwrap();
    assert_eq!(root.unique_id, ACCOUNT);
    assert!(e.auth.is_current(&root));
    let foreign = Principal {
        account_id: "999999999999".into(),
        ..root
    };
    assert!(!e.auth.is_current(&foreign));
}

#[tokio::test]
async fn a_role_recreated_under_the_same_name_is_another_identity() {
    let e = env().await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    let create = [
        ("Action", "CreateRole"),
        ("RoleName", "deployer"),
        ("AssumeRolePolicyDocument", trust),
    ];
    e.root(&create).await.unwrap();
    let q = QueryInput::parse(
        b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdeployer&RoleSessionName=s1",
    )
    .unwrap();
    // Roles are assumed by users (not root), whose policy allows it.
    let frank = e.user_with_key("frank").await;
    e.root(&[
        ("Action", "PutUserPolicy"),
        ("UserName", "frank"),
        ("PolicyName", "p"),
        (
            "PolicyDocument",
            r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#,
        ),
    ])
    .await
    .unwrap();
    let hash = sigv4::sha256_hex(b"{}");
    let mut ctx = RequestContext::root(ACCOUNT, REGION);
    ctx.principal = e
        .auth
        .authenticate(&parts(&signed(&frank, "ecs", b"{}"), &hash), &ECS)
        .unwrap();
    let xml = e.iam.call(&ctx, "sts", &q).await.unwrap();
    let creds = Credentials::new(field(&xml, "AccessKeyId"), field(&xml, "SecretAccessKey"))
        .with_session_token(field(&xml, "SessionToken"));
    let body = b"{}";
    let session = e
        .auth
        .authenticate(&parts(&signed(&creds, "ecs", body), &hash), &ECS)
        .unwrap();
    assert!(session.unique_id.starts_with("AROA") && session.unique_id.ends_with(":s1"));
    assert!(e.auth.is_current(&session));
    e.root(&[("Action", "DeleteRole"), ("RoleName", "deployer")])
        .await
        .unwrap();
    assert!(!e.auth.is_current(&session), "a deleted role");
    e.root(&create).await.unwrap();
    assert!(!e.auth.is_current(&session), "re-created under the same name");
}
