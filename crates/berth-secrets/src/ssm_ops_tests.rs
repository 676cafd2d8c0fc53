//! The SSM registration table: every routed operation and what it is
//! authorized on, through the same path as a request (decode, load, resources).

use super::*;
use crate::Kms;
use berth_proto::JsonService;
use berth_store::{MemoryStore, Store};
use serde_json::json;
use std::sync::Arc;

/// An operation, its input and the (action, ARN) of its resources.
type Case = (&'static str, Value, Vec<(String, String)>);

const ACCOUNT: &str = "000000000000";
const ARN: &str = "arn:aws:ssm:us-east-1:000000000000:parameter";

fn ssm(dir: &std::path::Path) -> Ssm {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let kms = Kms::open(store.clone(), "us-east-1", ACCOUNT, dir, None).unwrap();
    Ssm::new(store, kms, "us-east-1", ACCOUNT)
}

fn ctx() -> RequestContext {
    RequestContext::root(ACCOUNT, "us-east-1")
}

/// (action or the operation's own, ARN) of each resource.
async fn resources(ssm: &Ssm, op: &str, input: Value) -> Vec<(String, String)> {
    ssm.authz_resources(&ctx(), op, &input)
        .await
        .into_iter()
        .map(|r| (r.action.unwrap_or_else(|| format!("ssm:{op}")), r.arn))
        .collect()
}

fn own(op: &str, arns: &[&str]) -> Vec<(String, String)> {
    arns.iter().map(|a| (format!("ssm:{op}"), a.to_string())).collect()
}

#[tokio::test]
async fn every_routed_operation_and_its_resources() {
    let dir = tempfile::tempdir().unwrap();
    let ssm = ssm(dir.path());
    let put = json!({"Name": "/app/db", "Value": "s", "Type": "SecureString", "Tags": [{"Key": "team", "Value": "a"}]});
    ssm.call(&ctx(), "PutParameter", put).await.unwrap();
    let key = ssm.kms.default_key_facts(DEFAULT_KEY_ALIAS).await.unwrap().arn;
    let decrypt = ("kms:Decrypt".to_string(), key.clone());
    let db = format!("{ARN}/app/db");
    let with = |mut v: Vec<(String, String)>, extra: &(String, String)| {
        v.push(extra.clone());
        v
    };
    let cases: Vec<Case> = vec![
        (
            "PutParameter",
            json!({"Name": "/app/db", "Value": "t", "Overwrite": true}),
            with(own("PutParameter", &[&db]), &("kms:Encrypt".into(), key.clone())),
        ),
        (
            "GetParameter",
            json!({"Name": "/app/db:1", "WithDecryption": true}),
            with(own("GetParameter", &[&db]), &decrypt),
        ),
        ("GetParameter", json!({"Name": "/app/db"}), own("GetParameter", &[&db])),
        (
            "GetParameters",
            json!({"Names": ["/app/db", "plain:label"], "WithDecryption": true}),
            with(own("GetParameters", &[&db, &format!("{ARN}/plain")]), &decrypt),
        ),
        (
            "GetParametersByPath",
            json!({"Path": "/app", "WithDecryption": true}),
            with(own("GetParametersByPath", &[&format!("{ARN}/app")]), &decrypt),
        ),
        (
            "DeleteParameter",
            json!({"Name": "/app/db"}),
            own("DeleteParameter", &[&db]),
        ),
        (
            "DeleteParameters",
            json!({"Names": ["/app/db", "x"]}),
            own("DeleteParameters", &[&db, &format!("{ARN}/x")]),
        ),
        // Not resource-scoped in AWS.
        ("DescribeParameters", json!({}), own("DescribeParameters", &["*"])),
        (
            "GetParameterHistory",
            json!({"Name": "/app/db", "WithDecryption": true}),
            with(own("GetParameterHistory", &[&db]), &decrypt),
        ),
        (
            "LabelParameterVersion",
            json!({"Name": "/app/db", "Labels": ["blue"]}),
            own("LabelParameterVersion", &[&db]),
        ),
    ];
    crate::test_support::assert_every_routed_operation_has_a_case(
        OPERATIONS.names(),
        cases.iter().map(|(op, _, _)| *op),
    );
    for (op, input, want) in cases {
        assert_eq!(resources(&ssm, op, input).await, want, "{op}");
    }
    // The parameter's tags come with it; the KMS permission has SSM's context.
    let r = ssm
        .authz_resources(
            &ctx(),
            "GetParameter",
            &json!({"Name": "/app/db", "WithDecryption": true}),
        )
        .await;
    assert_eq!(r[0].tags, vec![("team".to_string(), "a".to_string())]);
    let k: BTreeMap<_, _> = r[1].condition_keys.iter().cloned().collect();
    assert_eq!(k["kms:ViaService"], "ssm.us-east-1.amazonaws.com");
    assert_eq!(k["kms:EncryptionContext:PARAMETER_ARN"], db);
    // An operation not in the table is not routed.
    let err = ssm.call(&ctx(), "AddTagsToResource", json!({})).await.unwrap_err();
    assert_eq!(err.code, "UnknownOperationException");
}

#[tokio::test]
async fn parameter_names_drop_selectors_and_keys_of_requests() {
    let dir = tempfile::tempdir().unwrap();
    let ssm = ssm(dir.path());
    let arns = |v: Vec<(String, String)>| v.into_iter().map(|(_, a)| a).collect::<Vec<_>>();
    assert_eq!(
        arns(
            resources(
                &ssm,
                "GetParameters",
                json!({"Names": ["/app/db:3", "plain:label", "x"]})
            )
            .await
        ),
        vec![format!("{ARN}/app/db"), format!("{ARN}/plain"), format!("{ARN}/x")]
    );
    assert_eq!(
        arns(resources(&ssm, "GetParameter", json!({"Name": format!("{ARN}/a/b:2")})).await),
        vec![format!("{ARN}/a/b")]
    );
    let keys = |op: &'static str, input: Value| {
        let ssm = &ssm;
        async move { ssm.authz_resources(&ctx(), op, &input).await[0].condition_keys.clone() }
    };
    assert_eq!(
        keys(
            "PutParameter",
            json!({"Name": "/p", "Value": "v", "Type": "String", "Overwrite": true})
        )
        .await,
        vec![("ssm:Overwrite".to_string(), "true".to_string())]
    );
    assert_eq!(
        keys("GetParametersByPath", json!({"Path": "/app"})).await,
        vec![("ssm:Recursive".to_string(), "false".to_string())]
    );
    assert!(keys("GetParameter", json!({"Name": "/p"})).await.is_empty());
}

fn record(ty: &str) -> ParamRecord {
    ParamRecord {
        name: "/p".into(),
        tags: vec![],
        versions: vec![VersionRecord {
            version: 1,
            r#type: ty.into(),
            value: None,
            envelope: None,
            key_id: None,
            description: None,
            allowed_pattern: None,
            tier: "Standard".into(),
            data_type: "text".into(),
            labels: vec!["blue".into()],
            last_modified_date: 0.0,
            last_modified_user: String::new(),
        }],
    }
}

fn put(input: Value) -> PutParameterInput {
    let mut input = input;
    input["Name"] = json!("/p");
    input["Value"] = json!("v");
    serde_json::from_value(input).unwrap()
}

#[test]
fn what_a_put_needs_of_kms() {
    assert_eq!(
        put_needs(&put(json!({"Type": "SecureString"})), None),
        Some((KmsAction::Encrypt, None))
    );
    assert_eq!(
        put_needs(
            &put(json!({"Type": "SecureString", "Tier": "Advanced", "KeyId": "alias/k"})),
            None
        ),
        Some((KmsAction::GenerateDataKey, Some("alias/k".into())))
    );
    assert_eq!(put_needs(&put(json!({"Type": "String"})), None), None);
    // Overwriting without a Type keeps the parameter's type.
    assert_eq!(
        put_needs(&put(json!({"Overwrite": true})), Some(&record("SecureString"))),
        Some((KmsAction::Encrypt, None))
    );
    assert_eq!(
        put_needs(&put(json!({"Overwrite": true})), Some(&record("String"))),
        None
    );
    assert_eq!(put_needs(&put(json!({})), None), None);
}

#[test]
fn reads_decrypt_the_selected_versions() {
    let p = record("SecureString");
    let sel = rules::Selector::Label("blue".into());
    assert_eq!(selected(&p, Some(&sel)).len(), 1);
    let missing = rules::Selector::Version(9);
    assert!(selected(&p, Some(&missing)).is_empty());
    let history: HistoryInput = serde_json::from_value(json!({"Name": "/p"})).unwrap();
    assert_eq!(history_versions(&p, &history).len(), 1);
}

/// The key a PutParameter is authorized on is the key its value is
/// encrypted with: resolved once, in the load step (an alias moved between
/// the authorization and the handler does not change it).
#[tokio::test]
async fn a_put_encrypts_with_the_key_it_was_authorized_on() {
    let dir = tempfile::tempdir().unwrap();
    let ssm = ssm(dir.path());
    let ctx = ctx();
    let (a, a_arn) = crate::test_support::new_key(&ssm.kms, &ctx).await;
    let (b, _) = crate::test_support::new_key(&ssm.kms, &ctx).await;
    crate::test_support::point_alias(&ssm.kms, &ctx, "alias/app", &a).await;
    let put = json!({"Name": "/p", "Value": "s", "Type": "SecureString", "KeyId": "alias/app"});
    let prepared = ssm.prepare(&ctx, "PutParameter", put).await.unwrap();
    let authorized: Vec<_> = prepared.resources().await.into_iter().map(|r| r.arn).collect();
    assert!(authorized.contains(&a_arn), "{authorized:?}");
    crate::test_support::point_alias(&ssm.kms, &ctx, "alias/app", &b).await;
    prepared.run().await.unwrap();
    let read = resources(&ssm, "GetParameter", json!({"Name": "/p", "WithDecryption": true})).await;
    assert_eq!(read[1], ("kms:Decrypt".to_string(), a_arn));
}
