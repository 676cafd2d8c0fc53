//! The KMS registration table: every routed operation and what it is
//! authorized on, through the same path as a request (decode, load, resources).

use super::*;
use berth_proto::JsonService;
use berth_store::{MemoryStore, Store};
use serde_json::json;
use std::sync::Arc;

const ACCOUNT: &str = "000000000000";

fn kms(dir: &std::path::Path) -> Kms {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    Kms::open(store, "us-east-1", ACCOUNT, dir, None).unwrap()
}

fn ctx() -> RequestContext {
    RequestContext::root(ACCOUNT, "us-east-1")
}

async fn arns(kms: &Kms, op: &str, input: Value) -> Vec<String> {
    kms.authz_resources(&ctx(), op, &input)
        .await
        .into_iter()
        .map(|r| r.arn)
        .collect()
}

async fn keys(kms: &Kms, op: &str, input: Value) -> BTreeMap<String, String> {
    let r = kms.authz_resources(&ctx(), op, &input).await;
    r[0].condition_keys.iter().cloned().collect()
}

/// A key with a tag, and `alias/app` pointing to it: (key id, key ARN).
async fn key_with_alias(kms: &Kms) -> (String, String) {
    let k = kms
        .call(
            &ctx(),
            "CreateKey",
            json!({"Tags": [{"TagKey": "team", "TagValue": "a"}]}),
        )
        .await
        .unwrap();
    let id = k["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    kms.call(
        &ctx(),
        "CreateAlias",
        json!({"AliasName": "alias/app", "TargetKeyId": id}),
    )
    .await
    .unwrap();
    (id, k["KeyMetadata"]["Arn"].as_str().unwrap().to_string())
}

const KEY_ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/";
const ALIAS_ARN: &str = "arn:aws:kms:us-east-1:000000000000:alias/";

#[tokio::test]
async fn every_routed_operation_and_its_resources() {
    let dir = tempfile::tempdir().unwrap();
    let kms = kms(dir.path());
    let (id, arn) = key_with_alias(&kms).await;
    let blob = B64.encode(crypto::encode_blob(&id, &[0u8; 40]));
    let cases: Vec<(&str, Value, Vec<String>)> = vec![
        // Not resource-scoped in AWS.
        ("CreateKey", json!({}), vec!["*".into()]),
        ("ListKeys", json!({}), vec!["*".into()]),
        ("ListAliases", json!({}), vec!["*".into()]),
        // A KeyId as an alias names its key.
        ("DescribeKey", json!({"KeyId": "alias/app"}), vec![arn.clone()]),
        ("DescribeKey", json!({"KeyId": "1234"}), vec![format!("{KEY_ARN}1234")]),
        (
            "Encrypt",
            json!({"KeyId": "alias/app", "Plaintext": "eA=="}),
            vec![arn.clone()],
        ),
        ("GenerateDataKey", json!({"KeyId": id}), vec![arn.clone()]),
        (
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": arn}),
            vec![arn.clone()],
        ),
        // The key that made the ciphertext, whatever KeyId says.
        (
            "Decrypt",
            json!({"CiphertextBlob": blob, "KeyId": "alias/other"}),
            vec![arn.clone()],
        ),
        ("ScheduleKeyDeletion", json!({"KeyId": id}), vec![arn.clone()]),
        ("CancelKeyDeletion", json!({"KeyId": id}), vec![arn.clone()]),
        ("EnableKey", json!({"KeyId": id}), vec![arn.clone()]),
        ("DisableKey", json!({"KeyId": id}), vec![arn.clone()]),
        // The alias and its key.
        (
            "CreateAlias",
            json!({"AliasName": "alias/b", "TargetKeyId": id}),
            vec![format!("{ALIAS_ARN}b"), arn.clone()],
        ),
        (
            "DeleteAlias",
            json!({"AliasName": "alias/app"}),
            vec![format!("{ALIAS_ARN}app"), arn.clone()],
        ),
    ];
    crate::test_support::assert_every_routed_operation_has_a_case(
        OPERATIONS.names(),
        cases.iter().map(|(op, _, _)| *op),
    );
    for (op, input, want) in cases {
        assert_eq!(arns(&kms, op, input).await, want, "{op}");
    }
    // The key's tags come with it.
    let r = kms
        .authz_resources(&ctx(), "Encrypt", &json!({"KeyId": "alias/app", "Plaintext": "eA=="}))
        .await;
    assert_eq!(r[0].tags, vec![("team".to_string(), "a".to_string())]);
    // An input that does not decode is refused before it is authorized.
    assert_eq!(arns(&kms, "Encrypt", json!({})).await, vec!["*"]);
    // An operation not in the table is not routed.
    let err = kms.call(&ctx(), "ReEncrypt", json!({})).await.unwrap_err();
    assert_eq!(err.code, "UnknownOperationException");
}

#[tokio::test]
async fn decrypt_falls_back_to_the_key_id() {
    let dir = tempfile::tempdir().unwrap();
    let kms = kms(dir.path());
    let blob = B64.encode(crypto::encode_blob("k-1", &[0u8; 40]));
    // A key that does not exist is named by its ARN.
    assert_eq!(
        arns(&kms, "Decrypt", json!({"CiphertextBlob": blob, "KeyId": "alias/other"})).await,
        vec![format!("{KEY_ARN}k-1")]
    );
    assert_eq!(
        arns(&kms, "Decrypt", json!({"CiphertextBlob": "bm9wZQ==", "KeyId": "k-2"})).await,
        vec![format!("{KEY_ARN}k-2")]
    );
    assert_eq!(arns(&kms, "Decrypt", json!({"CiphertextBlob": "!!"})).await, vec!["*"]);
    // An alias that does not exist is named by its ARN.
    assert_eq!(
        arns(&kms, "DeleteAlias", json!({"AliasName": "alias/a"})).await,
        vec![format!("{ALIAS_ARN}a"), format!("{ALIAS_ARN}a")]
    );
}

#[tokio::test]
async fn kms_condition_keys_of_requests() {
    let dir = tempfile::tempdir().unwrap();
    let kms = kms(dir.path());
    let k = keys(
        &kms,
        "Decrypt",
        json!({"CiphertextBlob": "bm9wZQ==", "KeyId": "arn:aws:kms:us-east-1:000000000000:alias/app", "EncryptionContext": {"Dept": "it"}}),
    )
    .await;
    assert_eq!(k["kms:CallerAccount"], "000000000000");
    assert_eq!(k["kms:EncryptionContext:Dept"], "it");
    assert_eq!(k["kms:RequestAlias"], "alias/app");
    assert_eq!(k["kms:EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    let k = keys(&kms, "Encrypt", json!({"KeyId": "1234", "Plaintext": "eA=="})).await;
    assert!(!k.contains_key("kms:RequestAlias"));
    let k = keys(&kms, "CreateKey", json!({"KeyUsage": "SIGN_VERIFY"})).await;
    assert_eq!(k["kms:KeyUsage"], "SIGN_VERIFY");
    assert_eq!(k["kms:KeySpec"], "SYMMETRIC_DEFAULT");
    let k = keys(&kms, "ScheduleKeyDeletion", json!({"KeyId": "k"})).await;
    assert_eq!(k["kms:ScheduleKeyDeletionPendingWindowInDays"], "30");
    assert!(!k.contains_key("kms:EncryptionContext:Dept"));
}
