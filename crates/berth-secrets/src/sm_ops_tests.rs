//! The Secrets Manager registration table: every routed operation and what
//! it is authorized on, through the same path as a request (decode, load,
//! resources).

use super::*;
use crate::Kms;
use berth_proto::JsonService;
use berth_store::{MemoryStore, Store};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An operation, its input and the (action, ARN) of its resources.
type Case = (&'static str, Value, Vec<(String, String)>);

const ACCOUNT: &str = "000000000000";
const PREFIX: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:";
const TOKEN: &str = "00000000-0000-0000-0000-000000000001";

fn sm(dir: &std::path::Path) -> SecretsManager {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let kms = Kms::open(store.clone(), "us-east-1", ACCOUNT, dir, None).unwrap();
    SecretsManager::new(store, kms, "us-east-1", ACCOUNT)
}

fn ctx() -> RequestContext {
    RequestContext::root(ACCOUNT, "us-east-1")
}

/// (action or the operation's own, ARN) of each resource.
async fn resources(sm: &SecretsManager, op: &str, input: Value) -> Vec<(String, String)> {
    sm.authz_resources(&ctx(), op, &input)
        .await
        .into_iter()
        .map(|r| (r.action.unwrap_or_else(|| format!("secretsmanager:{op}")), r.arn))
        .collect()
}

async fn keys(sm: &SecretsManager, op: &str, input: Value) -> BTreeMap<String, String> {
    sm.authz_resources(&ctx(), op, &input).await[0]
        .condition_keys
        .iter()
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_routed_operation_and_its_resources() {
    let dir = tempfile::tempdir().unwrap();
    let sm = sm(dir.path());
    let created = sm
        .call(
            &ctx(),
            "CreateSecret",
            json!({"Name": "db", "SecretString": "s", "Tags": [{"Key": "team", "Value": "a"}]}),
        )
        .await
        .unwrap();
    let arn = created["ARN"].as_str().unwrap().to_string();
    let key = sm.kms.default_key_facts(DEFAULT_KEY_ALIAS).await.unwrap().arn;
    let own = |op: &str| vec![(format!("secretsmanager:{op}"), arn.clone())];
    let with = |mut v: Vec<(String, String)>, action: &str| {
        v.push((action.to_string(), key.clone()));
        v
    };
    let cases: Vec<Case> = vec![
        (
            "GetSecretValue",
            json!({"SecretId": "db"}),
            with(own("GetSecretValue"), "kms:Decrypt"),
        ),
        (
            "PutSecretValue",
            json!({"SecretId": arn, "SecretString": "t"}),
            with(own("PutSecretValue"), "kms:GenerateDataKey"),
        ),
        (
            "UpdateSecret",
            json!({"SecretId": "db", "Description": "d"}),
            own("UpdateSecret"),
        ),
        ("DescribeSecret", json!({"SecretId": "db"}), own("DescribeSecret")),
        // Not resource-scoped in AWS.
        (
            "ListSecrets",
            json!({}),
            vec![("secretsmanager:ListSecrets".into(), "*".into())],
        ),
        ("DeleteSecret", json!({"SecretId": "db"}), own("DeleteSecret")),
        ("RestoreSecret", json!({"SecretId": "db"}), own("RestoreSecret")),
        ("TagResource", json!({"SecretId": "db", "Tags": []}), own("TagResource")),
        (
            "UntagResource",
            json!({"SecretId": "db", "TagKeys": []}),
            own("UntagResource"),
        ),
        // A secret that does not exist is named as given.
        (
            "DescribeSecret",
            json!({"SecretId": "nope"}),
            vec![("secretsmanager:DescribeSecret".into(), format!("{PREFIX}nope"))],
        ),
    ];
    for (op, input, want) in cases.clone() {
        assert_eq!(resources(&sm, op, input).await, want, "{op}");
    }
    // CreateSecret: the new secret's ARN, a fresh suffix; its value sealed
    // under the AWS managed key, none without a value.
    let r = resources(&sm, "CreateSecret", json!({"Name": "db2", "SecretString": "x"})).await;
    assert!(
        r[0].1.starts_with(&format!("{PREFIX}db2-")) && r[0].1.len() == PREFIX.len() + 10,
        "{r:?}"
    );
    assert_eq!(r[1], ("kms:GenerateDataKey".to_string(), key.clone()));
    assert_eq!(resources(&sm, "CreateSecret", json!({"Name": "db2"})).await.len(), 1);
    crate::test_support::assert_every_routed_operation_has_a_case(
        OPERATIONS.names(),
        cases.iter().map(|(op, _, _)| *op).chain(["CreateSecret"]),
    );
    // The secret's tags come with it, also as secretsmanager:ResourceTag.
    let r = sm
        .authz_resources(&ctx(), "GetSecretValue", &json!({"SecretId": "db"}))
        .await;
    assert_eq!(r[0].tags, vec![("team".to_string(), "a".to_string())]);
    let k: BTreeMap<_, _> = r[0].condition_keys.iter().cloned().collect();
    assert_eq!(k["secretsmanager:ResourceTag/team"], "a");
    let k: BTreeMap<_, _> = r[1].condition_keys.iter().cloned().collect();
    assert_eq!(k["kms:ViaService"], "secretsmanager.us-east-1.amazonaws.com");
    assert_eq!(k["kms:EncryptionContext:SecretARN"], arn);
    // A write seals under the secret's key, the new version being the client token.
    let put = json!({"SecretId": "db", "SecretString": "x", "ClientRequestToken": TOKEN});
    let r = sm.authz_resources(&ctx(), "PutSecretValue", &put).await;
    assert_eq!(r[1].action.as_deref(), Some("kms:GenerateDataKey"));
    let k: BTreeMap<_, _> = r[1].condition_keys.iter().cloned().collect();
    assert_eq!(k["kms:EncryptionContext:SecretVersionId"], TOKEN);
    // An input that does not decode is refused before it is authorized; an
    // operation not in the table is not routed.
    assert_eq!(resources(&sm, "DescribeSecret", json!({})).await[0].1, "*");
    let err = sm.call(&ctx(), "BatchGetSecretValue", json!({})).await.unwrap_err();
    assert_eq!(err.code, "UnknownOperationException");
}

#[tokio::test]
async fn secret_condition_keys_of_requests() {
    let dir = tempfile::tempdir().unwrap();
    let sm = sm(dir.path());
    let k = keys(
        &sm,
        "GetSecretValue",
        json!({"SecretId": "db", "VersionStage": "AWSPREVIOUS"}),
    )
    .await;
    assert_eq!(k["secretsmanager:SecretId"], "db");
    assert_eq!(k["secretsmanager:VersionStage"], "AWSPREVIOUS");
    let k = keys(
        &sm,
        "CreateSecret",
        json!({"Name": "db", "KmsKeyId": "alias/x", "Description": "d"}),
    )
    .await;
    assert_eq!(k["secretsmanager:Name"], "db");
    assert_eq!(k["secretsmanager:KmsKeyId"], "alias/x");
    assert_eq!(k["secretsmanager:Description"], "d");
    assert!(!k.contains_key("secretsmanager:SecretId"));
    let k = keys(
        &sm,
        "DeleteSecret",
        json!({"SecretId": "db", "ForceDeleteWithoutRecovery": true}),
    )
    .await;
    assert_eq!(k["secretsmanager:ForceDeleteWithoutRecovery"], "true");
    let k = keys(
        &sm,
        "DeleteSecret",
        json!({"SecretId": "db", "RecoveryWindowInDays": 7}),
    )
    .await;
    assert_eq!(k["secretsmanager:RecoveryWindowInDays"], "7");
}

fn secret(kms_key_id: Option<&str>) -> SecretRecord {
    SecretRecord {
        name: "db".into(),
        arn: "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf".into(),
        description: None,
        kms_key_id: kms_key_id.map(String::from),
        tags: vec![],
        created: 0.0,
        last_changed: 0.0,
        deleted_date: None,
        deletion_date: None,
        stages: BTreeMap::from([
            ("v1".to_string(), vec!["AWSPREVIOUS".to_string()]),
            ("v2".to_string(), vec!["AWSCURRENT".to_string()]),
        ]),
        values: BTreeMap::new(),
    }
}

#[test]
fn reads_decrypt_the_selected_version() {
    let rec = secret(None);
    assert_eq!(read_uses(&rec, None, None), vec![KeyUse::DecryptVersion("v2".into())]);
    assert_eq!(
        read_uses(&rec, None, Some("AWSPREVIOUS")),
        vec![KeyUse::DecryptVersion("v1".into())]
    );
    // A version that does not exist: GetSecretValue answers its own error.
    assert!(read_uses(&rec, Some("nope"), None).is_empty());
}

#[test]
fn writes_seal_under_the_secrets_key() {
    let rec = secret(Some("alias/app"));
    assert_eq!(
        update_uses(&rec, None, true, Some(TOKEN)),
        vec![KeyUse::Seal {
            key: Some("alias/app".into()),
            version: TOKEN.into()
        }]
    );
    // A description change touches no value.
    assert!(update_uses(&secret(None), None, false, None).is_empty());
}

#[test]
fn a_key_change_decrypts_the_current_value_and_seals_it_anew() {
    let rec = secret(Some("alias/old"));
    assert_eq!(
        update_uses(&rec, Some("alias/new"), false, None),
        vec![
            KeyUse::Seal {
                key: Some("alias/new".into()),
                version: "v2".into()
            },
            KeyUse::DecryptVersion("v2".into())
        ]
    );
    assert_eq!(
        update_uses(&rec, Some("alias/new"), true, Some(TOKEN)),
        vec![
            KeyUse::Seal {
                key: Some("alias/new".into()),
                version: TOKEN.into()
            },
            KeyUse::DecryptVersion("v2".into())
        ]
    );
    // The same key again is no change.
    assert!(update_uses(&rec, Some("alias/old"), false, None).is_empty());
}

/// The key a CreateSecret or UpdateSecret is authorized on is the key its
/// value is sealed under: resolved once, in the load step (an alias moved
/// between the authorization and the handler does not change it).
#[tokio::test]
async fn a_write_seals_under_the_key_it_was_authorized_on() {
    let dir = tempfile::tempdir().unwrap();
    let sm = sm(dir.path());
    let ctx = ctx();
    let (a, a_arn) = crate::test_support::new_key(&sm.kms, &ctx).await;
    let (b, b_arn) = crate::test_support::new_key(&sm.kms, &ctx).await;
    let read = json!({"SecretId": "db"});
    crate::test_support::point_alias(&sm.kms, &ctx, "alias/app", &a).await;
    let create = json!({"Name": "db", "SecretString": "s", "KmsKeyId": "alias/app"});
    let prepared = sm.prepare(&ctx, "CreateSecret", create).await.unwrap();
    assert_eq!(prepared.resources().await[1].arn, a_arn);
    crate::test_support::point_alias(&sm.kms, &ctx, "alias/app", &b).await;
    prepared.run().await.unwrap();
    let r = resources(&sm, "GetSecretValue", read.clone()).await;
    assert_eq!(r[1], ("kms:Decrypt".to_string(), a_arn.clone()));

    let update = json!({"SecretId": "db", "SecretString": "t", "KmsKeyId": "alias/app"});
    let prepared = sm.prepare(&ctx, "UpdateSecret", update).await.unwrap();
    assert_eq!(prepared.resources().await[1].arn, b_arn);
    crate::test_support::point_alias(&sm.kms, &ctx, "alias/app", &a).await;
    prepared.run().await.unwrap();
    let r = resources(&sm, "GetSecretValue", read).await;
    assert_eq!(r[1], ("kms:Decrypt".to_string(), b_arn));
}
