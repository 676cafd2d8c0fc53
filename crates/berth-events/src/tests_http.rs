//! Connections, API destinations and their delivery over a memory store,
//! with a sealer and an HTTP endpoint that are stand-ins (no IO).

use crate::http_target::{Answer, HttpCall};
use crate::records::{CONNECTIONS, Delivery, OUTBOX};
use crate::sealing::testing::Flip;
use crate::{Deliver, Events};
use async_trait::async_trait;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// An endpoint answering the statuses given, in turn (then 200), and
/// recording each call.
#[derive(Default)]
struct Endpoint {
    answers: Mutex<Vec<u16>>,
    calls: Mutex<Vec<HttpCall>>,
}

#[async_trait]
impl Deliver for Endpoint {
    async fn deliver(&self, _d: &Delivery) -> Result<(), String> {
        Ok(())
    }
    async fn call(&self, call: &HttpCall) -> Answer {
        self.calls.lock().unwrap().push(call.clone());
        let mut a = self.answers.lock().unwrap();
        Ok(if a.is_empty() { 200 } else { a.remove(0) })
    }
}

fn events(endpoint: Arc<Endpoint>) -> Events {
    let store = Arc::new(berth_store::MemoryStore::new());
    Events::new(store, "us-east-1", "000000000000", endpoint).with_sealer(Arc::new(Flip))
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

async fn setup(e: &Events, retry: serde_json::Value, answers: Vec<u16>, endpoint: &Endpoint) -> String {
    *endpoint.answers.lock().unwrap() = answers;
    let conn = e
        .create_connection(decode(json!({
            "Name": "hooks", "AuthorizationType": "BASIC",
            "AuthParameters": {"BasicAuthParameters": {"Username": "alice", "Password": "pw-0123456789"}}
        })))
        .await
        .unwrap();
    let dest = e
        .create_api_destination(decode(json!({
            "Name": "orders", "ConnectionArn": conn["ConnectionArn"],
            "InvocationEndpoint": "http://127.0.0.1:9/in", "HttpMethod": "POST"
        })))
        .await
        .unwrap();
    e.put_rule(decode(
        json!({"Name": "r", "EventPattern": "{\"source\": [\"my.app\"]}"}),
    ))
    .await
    .unwrap();
    let mut target =
        json!({"Id": "t", "Arn": dest["ApiDestinationArn"], "RoleArn": "arn:aws:iam::000000000000:role/eb"});
    if !retry.is_null() {
        target["RetryPolicy"] = retry;
    }
    e.put_targets(decode(json!({"Rule": "r", "Targets": [target]})))
        .await
        .unwrap();
    e.put_events(decode(
        json!({"Entries": [{"Source": "my.app", "DetailType": "x", "Detail": "{}"}]}),
    ))
    .await
    .unwrap();
    dest["ApiDestinationArn"].as_str().unwrap().to_string()
}

async fn outbox(e: &Events) -> Vec<Delivery> {
    berth_store::typed::list(e.store.as_ref(), OUTBOX).await.unwrap()
}

#[tokio::test]
async fn a_connection_keeps_its_password_sealed_and_never_shows_it() {
    let endpoint = Arc::new(Endpoint::default());
    let e = events(endpoint.clone());
    setup(&e, serde_json::Value::Null, vec![], &endpoint).await;
    let stored = e.store.range(CONNECTIONS, None, None).await.unwrap();
    assert!(!String::from_utf8_lossy(&stored[0].value).contains("pw-0123456789"));
    let d = e.describe_connection(decode(json!({"Name": "hooks"}))).await.unwrap();
    assert!(!d.to_string().contains("pw-0123456789"));
    assert_eq!(d["ConnectionState"], "AUTHORIZED");
    assert!(
        d["SecretArn"]
            .as_str()
            .unwrap()
            .contains(":secret:events!connection/hooks/")
    );
    // An update of the user name keeps the password.
    e.update_connection(decode(
        json!({"Name": "hooks", "AuthParameters": {"BasicAuthParameters": {"Username": "bob"}}}),
    ))
    .await
    .unwrap();
    let (c, _) = e.get_connection("hooks").await.unwrap();
    let secrets = e.connection_secrets(&c).await.unwrap();
    assert_eq!(secrets.password.as_deref(), Some("pw-0123456789"));
    assert!(!format!("{secrets:?}").contains("pw-0123456789"));
    let out = e
        .deauthorize_connection(decode(json!({"Name": "hooks"})))
        .await
        .unwrap();
    assert_eq!(out["ConnectionState"], "DEAUTHORIZED");
    let d = e
        .describe_api_destination(decode(json!({"Name": "orders"})))
        .await
        .unwrap();
    assert_eq!(d["ApiDestinationState"], "INACTIVE");
}

#[tokio::test]
async fn a_503_is_retried_a_400_is_not() {
    let endpoint = Arc::new(Endpoint::default());
    let e = events(endpoint.clone());
    setup(&e, serde_json::Value::Null, vec![503], &endpoint).await;
    e.deliver_due().await.unwrap();
    let left = outbox(&e).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].attempts, 1);
    let call = endpoint.calls.lock().unwrap()[0].clone();
    assert_eq!(
        call.headers[1],
        ("Authorization".into(), "Basic YWxpY2U6cHctMDEyMzQ1Njc4OQ==".into())
    );

    let endpoint = Arc::new(Endpoint::default());
    let e = events(endpoint.clone());
    setup(&e, serde_json::Value::Null, vec![400], &endpoint).await;
    e.deliver_due().await.unwrap();
    assert!(outbox(&e).await.is_empty());
}

#[tokio::test]
async fn the_age_counts_from_receipt_not_from_the_event_time() {
    let endpoint = Arc::new(Endpoint::default());
    let e = events(endpoint.clone());
    setup(&e, json!({"MaximumEventAgeInSeconds": 60}), vec![503], &endpoint).await;
    // An event whose Time is a day old is still retried.
    e.put_events(decode(
        json!({"Entries": [{"Source": "my.app", "DetailType": "x", "Detail": "{}", "Time": 1_000_000_000}]}),
    ))
    .await
    .unwrap();
    *endpoint.answers.lock().unwrap() = vec![503, 503];
    e.deliver_due().await.unwrap();
    let left = outbox(&e).await;
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|d| d.attempts == 1 && d.received_ms > 0));
    assert!(left.iter().any(|d| d.time_ms == 1_000_000_000_000));
}

#[tokio::test]
async fn no_retry_with_a_policy_of_zero_attempts() {
    let endpoint = Arc::new(Endpoint::default());
    let e = events(endpoint.clone());
    setup(&e, json!({"MaximumRetryAttempts": 0}), vec![503], &endpoint).await;
    e.deliver_due().await.unwrap();
    assert!(outbox(&e).await.is_empty());
    assert_eq!(endpoint.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_targets_are_refused() {
    let endpoint = Arc::new(Endpoint::default());
    let e = events(endpoint.clone());
    let dest = setup(&e, serde_json::Value::Null, vec![], &endpoint).await;
    let put = |t: serde_json::Value| e.put_targets(decode(json!({"Rule": "r", "Targets": [t]})));
    let no_role = put(json!({"Id": "a", "Arn": dest})).await.unwrap_err();
    assert!(no_role.message.contains("RoleArn is required"), "{}", no_role.message);
    let role = "arn:aws:iam::000000000000:role/eb";
    let range = put(json!({"Id": "a", "Arn": dest, "RoleArn": role, "RetryPolicy": {"MaximumRetryAttempts": 186}}))
        .await
        .unwrap_err();
    assert_eq!(range.code, "ValidationException");
    let missing =
        put(json!({"Id": "a", "Arn": "arn:aws:events:us-east-1:000000000000:api-destination/nope/1", "RoleArn": role}))
            .await
            .unwrap_err();
    assert_eq!(missing.code, "ResourceNotFoundException");
    let oauth = e
        .create_connection(decode(
            json!({"Name": "o", "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS", "AuthParameters": {}}),
        ))
        .await
        .unwrap_err();
    assert!(oauth.message.contains("not supported"));
    let dup = e
        .create_connection(decode(json!({
            "Name": "hooks", "AuthorizationType": "API_KEY",
            "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}}
        })))
        .await
        .unwrap_err();
    assert_eq!(dup.code, "ResourceAlreadyExistsException");
}
