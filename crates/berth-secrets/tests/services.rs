//! The three services over a real SQLite store in a temp dir.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use berth_proto::{JsonService, RequestContext};
use berth_secrets::{Kms, SecretsManager, Ssm};
use berth_store::{SqliteStore, Store};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn ctx() -> RequestContext {
    RequestContext::root("000000000000", "us-east-1")
}

fn setup(dir: &std::path::Path, operator_key: Option<&str>) -> (Arc<dyn Store>, Kms) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("state.db")).unwrap());
    let kms = Kms::open(store.clone(), "us-east-1", "000000000000", dir, operator_key).unwrap();
    (store, kms)
}

async fn call(svc: &dyn JsonService, op: &str, input: Value) -> Result<Value, berth_proto::AwsError> {
    svc.call(&ctx(), op, input).await
}

#[tokio::test]
async fn envelope_survives_reopen_and_needs_the_same_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let context = BTreeMap::from([("k".to_string(), "v".to_string())]);
    let env = {
        let (_, kms) = setup(dir.path(), None);
        let (env, arn) = kms
            .encrypt_internal(None, "alias/aws/ssm", b"s3cr3t", &context)
            .await
            .unwrap();
        assert!(arn.starts_with("arn:aws:kms:us-east-1:000000000000:key/"));
        env
    };
    let (store, kms) = setup(dir.path(), None);
    assert_eq!(kms.decrypt_internal(&env, &context).await.unwrap(), b"s3cr3t");
    let other = BTreeMap::from([("k".to_string(), "w".to_string())]);
    assert_eq!(
        kms.decrypt_internal(&env, &other).await.unwrap_err().code,
        "InvalidCiphertextException"
    );
    // The managed key is an AWS key behind alias/aws/ssm, created once.
    let aliases = call(&kms, "ListAliases", json!({})).await.unwrap();
    assert_eq!(aliases["Aliases"][0]["AliasName"], "alias/aws/ssm");
    let key = call(&kms, "DescribeKey", json!({"KeyId": "alias/aws/ssm"}))
        .await
        .unwrap();
    assert_eq!(key["KeyMetadata"]["KeyManager"], "AWS");
    drop(kms);
    // Another master key cannot open the stored key material.
    let other_master = B64.encode([9u8; 32]);
    let kms = Kms::open(store, "us-east-1", "000000000000", dir.path(), Some(&other_master)).unwrap();
    assert_eq!(
        kms.decrypt_internal(&env, &context).await.unwrap_err().code,
        "KMSInternalException"
    );
}

#[tokio::test]
async fn ssm_and_secrets_store_no_clear_values() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kms) = setup(dir.path(), Some(&B64.encode([7u8; 32])));
    assert!(
        !dir.path().join("kms-master.key").exists(),
        "an operator key means no key file"
    );
    let ssm = Ssm::new(store.clone(), kms.clone(), "us-east-1", "000000000000");
    let sm = SecretsManager::new(store.clone(), kms.clone(), "us-east-1", "000000000000");
    let put = json!({"Name": "/app/pw", "Value": "clear-ssm-value", "Type": "SecureString"});
    call(&ssm, "PutParameter", put).await.unwrap();
    let got = call(&ssm, "GetParameter", json!({"Name": "/app/pw", "WithDecryption": true}))
        .await
        .unwrap();
    assert_eq!(got["Parameter"]["Value"], "clear-ssm-value");
    call(
        &sm,
        "CreateSecret",
        json!({"Name": "db", "SecretString": "clear-sm-value"}),
    )
    .await
    .unwrap();
    call(
        &sm,
        "PutSecretValue",
        json!({"SecretId": "db", "SecretString": "clear-sm-value-2"}),
    )
    .await
    .unwrap();
    let prev = call(
        &sm,
        "GetSecretValue",
        json!({"SecretId": "db", "VersionStage": "AWSPREVIOUS"}),
    )
    .await
    .unwrap();
    assert_eq!(prev["SecretString"], "clear-sm-value");
    for kv in store.range("", None, None).await.unwrap() {
        let text = String::from_utf8_lossy(&kv.value);
        assert!(!text.contains("clear-"), "{} holds a value in clear", kv.key);
    }
}

#[tokio::test]
async fn errors_are_aws_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kms) = setup(dir.path(), None);
    let ssm = Ssm::new(store.clone(), kms.clone(), "us-east-1", "000000000000");
    let sm = SecretsManager::new(store, kms.clone(), "us-east-1", "000000000000");
    let e = call(&kms, "Encrypt", json!({"KeyId": "alias/none", "Plaintext": "eA=="}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "NotFoundException");
    let e = call(&kms, "Decrypt", json!({"CiphertextBlob": "bm90IGEgYmxvYg=="}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidCiphertextException");
    let e = call(&ssm, "GetParameter", json!({"Name": "nope"})).await.unwrap_err();
    assert_eq!(e.code, "ParameterNotFound");
    let e = call(&ssm, "PutParameter", json!({"Name": "x", "Value": "v"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    let e = call(&sm, "GetSecretValue", json!({"SecretId": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    let e = call(&sm, "Rotate", json!({})).await.unwrap_err();
    assert_eq!(e.code, "UnknownOperationException");
}

#[tokio::test]
async fn resolver_reads_parameters_and_secret_json_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kms) = setup(dir.path(), None);
    let ssm = Ssm::new(store.clone(), kms.clone(), "us-east-1", "000000000000");
    let sm = SecretsManager::new(store, kms, "us-east-1", "000000000000");
    call(
        &ssm,
        "PutParameter",
        json!({"Name": "/app/pw", "Value": "p1", "Type": "SecureString"}),
    )
    .await
    .unwrap();
    let created = call(
        &sm,
        "CreateSecret",
        json!({"Name": "db", "SecretString": r#"{"user":"admin"}"#}),
    )
    .await
    .unwrap();
    let arn = created["ARN"].as_str().unwrap().to_string();
    let r = berth_secrets::SecretResolver { ssm, secrets: sm };
    assert_eq!(r.resolve(&ctx(), "/app/pw").await.unwrap(), "p1");
    assert_eq!(
        r.resolve(&ctx(), "arn:aws:ssm:us-east-1:000000000000:parameter/app/pw")
            .await
            .unwrap(),
        "p1"
    );
    assert_eq!(r.resolve(&ctx(), &format!("{arn}:user::")).await.unwrap(), "admin");
    assert_eq!(r.resolve(&ctx(), &arn).await.unwrap(), r#"{"user":"admin"}"#);
    assert_eq!(
        r.resolve(&ctx(), &format!("{arn}:missing::")).await.unwrap_err().code,
        "InvalidRequestException"
    );
    assert_eq!(
        r.resolve(&ctx(), "/app/none").await.unwrap_err().code,
        "ParameterNotFound"
    );
}

#[tokio::test]
async fn a_key_past_its_deletion_date_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kms) = setup(dir.path(), None);
    let key = call(&kms, "CreateKey", json!({})).await.unwrap();
    let id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    call(
        &kms,
        "CreateAlias",
        json!({"AliasName": "alias/doomed", "TargetKeyId": id}),
    )
    .await
    .unwrap();
    let blob = call(&kms, "Encrypt", json!({"KeyId": "alias/doomed", "Plaintext": "eA=="}))
        .await
        .unwrap()["CiphertextBlob"]
        .clone();
    call(
        &kms,
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    )
    .await
    .unwrap();
    // Move the deletion date into the past.
    let k = format!("kms/keys/{id}");
    let mut rec: Value = serde_json::from_slice(&store.get(&k).await.unwrap().unwrap().value).unwrap();
    rec["deletionDate"] = json!(1.0);
    store.put(&k, serde_json::to_vec(&rec).unwrap()).await.unwrap();
    let keys = call(&kms, "ListKeys", json!({})).await.unwrap();
    assert_eq!(keys["Keys"].as_array().unwrap().len(), 0);
    let e = call(&kms, "DescribeKey", json!({"KeyId": id})).await.unwrap_err();
    assert_eq!(e.code, "NotFoundException");
    assert!(store.get(&k).await.unwrap().is_none());
    assert!(store.get("kms/aliases/alias/doomed").await.unwrap().is_none());
    let e = call(&kms, "Decrypt", json!({"CiphertextBlob": blob}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidCiphertextException");
}

#[tokio::test]
async fn an_aws_managed_key_is_used_only_through_its_service() {
    let dir = tempfile::tempdir().unwrap();
    let (_, kms) = setup(dir.path(), None);
    let context = BTreeMap::from([(
        "PARAMETER_ARN".to_string(),
        "arn:aws:ssm:us-east-1:000000000000:parameter/p".to_string(),
    )]);
    // The service uses it.
    let (env, _) = kms
        .encrypt_internal(None, "alias/aws/ssm", b"v", &context)
        .await
        .unwrap();
    assert_eq!(kms.decrypt_internal(&env, &context).await.unwrap(), b"v");
    // Nobody calls KMS with it directly, root included.
    for (op, input) in [
        ("Encrypt", json!({"KeyId": "alias/aws/ssm", "Plaintext": "eA=="})),
        (
            "GenerateDataKey",
            json!({"KeyId": "alias/aws/ssm", "KeySpec": "AES_256"}),
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": "alias/aws/ssm", "KeySpec": "AES_256"}),
        ),
    ] {
        let e = call(&kms, op, input).await.unwrap_err();
        assert_eq!(e.code, "AccessDeniedException", "{op}");
        assert!(
            e.message.contains("because no resource-based policy allows the kms:"),
            "{}",
            e.message
        );
    }
    // The data key inside an SSM envelope does not open outside SSM either.
    let wrapped = berth_secrets::crypto::decode_envelope(&env).unwrap().0.to_vec();
    let ctx_json: Value = serde_json::to_value(&context).unwrap();
    let e = call(
        &kms,
        "Decrypt",
        json!({"CiphertextBlob": B64.encode(wrapped), "EncryptionContext": ctx_json}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "AccessDeniedException");
    assert!(
        e.message
            .contains("kms:Decrypt on resource: arn:aws:kms:us-east-1:000000000000:key/")
    );
    // DescribeKey is allowed (the key policy delegates metadata to IAM).
    let d = call(&kms, "DescribeKey", json!({"KeyId": "alias/aws/ssm"}))
        .await
        .unwrap();
    assert_eq!(d["KeyMetadata"]["KeyManager"], "AWS");
}
