//! Secrets at rest: sealed in the store, still authenticating after a reopen.

use crate::support::*;
use berth_iam::{Authenticator, Iam};
use std::sync::Arc;
use time::OffsetDateTime;

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
