//! The environment every IAM/STS test runs in: a real store, SigV4 like the
//! server, sealed secrets and an injected clock.

use berth_iam::{Authenticator, Iam};
use berth_proto::query::QueryInput;
use berth_proto::sigv4::{self, Credentials, HttpRequestParts};
use berth_proto::{AwsError, Principal, RequestContext};
use berth_store::{SqliteStore, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

pub(crate) const ACCOUNT: &str = "123456789012";

/// Seals IAM secrets for these tests: XOR with a stream derived from the
/// AAD plus a check byte, so a value moved to another record does not open
/// (the server uses AES-256-GCM under the KMS master key).
pub(crate) struct TestSealer;

pub(crate) fn stream(aad: &[u8], n: usize) -> impl Iterator<Item = u8> + '_ {
    (0..n).map(move |i| {
        aad.iter()
            .fold(i as u8 ^ 0x5a, |a, b| a.wrapping_mul(31).wrapping_add(*b))
    })
}

pub(crate) fn check(aad: &[u8]) -> u8 {
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
pub(crate) const T0: i64 = 1_800_000_000;

pub(crate) struct Env {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) iam: Iam,
    pub(crate) clock: Arc<AtomicI64>,
}

pub(crate) async fn env() -> Env {
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

pub(crate) fn form(pairs: &[(&str, &str)]) -> QueryInput {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", berth_proto::query::url_encode(v)))
        .collect();
    QueryInput::parse(body.join("&").as_bytes()).unwrap()
}

/// Text of the first `<tag>…</tag>`.
pub(crate) fn field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_string()
}

impl Env {
    pub(crate) fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.clock.load(Ordering::SeqCst)).unwrap()
    }

    pub(crate) fn ctx(&self, principal: Principal) -> RequestContext {
        let mut ctx = RequestContext::root(ACCOUNT, "us-east-1");
        ctx.principal = principal;
        ctx
    }

    pub(crate) async fn root(&self, service: &str, pairs: &[(&str, &str)]) -> Result<String, AwsError> {
        let ctx = RequestContext::root(ACCOUNT, "us-east-1");
        self.iam.call(&ctx, service, &form(pairs)).await
    }

    /// Authenticates a request signed with `creds` the way the server does.
    pub(crate) fn who(&self, creds: &Credentials) -> Result<Principal, AwsError> {
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

    pub(crate) async fn assume(&self, p: Principal, role_arn: &str, duration: &str) -> Result<String, AwsError> {
        let q = form(&[
            ("Action", "AssumeRole"),
            ("RoleArn", role_arn),
            ("RoleSessionName", "s1"),
            ("DurationSeconds", duration),
        ]);
        self.iam.call(&self.ctx(p), "sts", &q).await
    }

    pub(crate) async fn user_with_key(&self, name: &str, policy: Option<&str>) -> Credentials {
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

pub(crate) const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:Describe*","ecs:List*"],"Resource":"*"}]}"#;

pub(crate) const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
