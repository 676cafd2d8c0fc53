//! Account settings through `Ecs::call`: defaults, per principal and the
//! account's.

#[path = "support/ecs_env.rs"]
mod support;

use berth_proto::{JsonService, RequestContext};
use berth_testkit::ACCOUNT;
use serde_json::{Value, json};
use std::collections::HashSet;
use support::*;

async fn settings(env: &Env, ctx: &RequestContext, input: Value) -> Vec<Value> {
    let mut out = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut input = input.clone();
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let v = env.ecs.call(ctx, "ListAccountSettings", input).await.unwrap();
        out.extend(v["settings"].as_array().unwrap().iter().cloned());
        match v.get("nextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    out
}

fn value_of<'a>(settings: &'a [Value], name: &str) -> &'a Value {
    settings
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {settings:?}"))
}

#[tokio::test]
async fn account_settings() {
    let env = env();
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let alice = format!("arn:aws:iam::{ACCOUNT}:user/alice");

    // Nothing set: no explicit settings; effective ones are the AWS defaults.
    assert!(settings(&env, &env.ctx, json!({})).await.is_empty());
    let effective = settings(&env, &env.ctx, json!({"effectiveSettings": true, "maxResults": 5})).await;
    let names: HashSet<&str> = effective.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), effective.len(), "pages do not repeat items");
    for (name, value) in [
        ("serviceLongArnFormat", "enabled"),
        ("taskLongArnFormat", "enabled"),
        ("containerInstanceLongArnFormat", "enabled"),
        ("awsvpcTrunking", "disabled"),
        ("containerInsights", "disabled"),
        ("fargateFIPSMode", "disabled"),
        ("tagResourceAuthorization", "on"),
        ("fargateTaskRetirementWaitPeriod", "7"),
        ("guardDutyActivate", "off"),
        ("defaultLogDriverMode", "non-blocking"),
    ] {
        let s = value_of(&effective, name);
        assert_eq!(s["value"], value, "{name}");
        assert_eq!(s["principalArn"], root);
        assert_eq!(s["type"], "aws_managed");
    }

    // The root user's setting is the account default.
    let put = env
        .ok(
            "PutAccountSetting",
            json!({"name": "containerInsights", "value": "enhanced"}),
        )
        .await;
    assert_eq!(
        put["setting"],
        json!({"name": "containerInsights", "value": "enhanced", "principalArn": root, "type": "user"})
    );
    env.ok(
        "PutAccountSettingDefault",
        json!({"name": "awsvpcTrunking", "value": "enabled"}),
    )
    .await;
    let explicit = settings(&env, &env.ctx, json!({})).await;
    assert_eq!(explicit.len(), 2);

    // A user sees the account defaults until it sets its own.
    let alice_ctx = user_ctx("alice");
    let eff = settings(
        &env,
        &alice_ctx,
        json!({"effectiveSettings": true, "name": "containerInsights"}),
    )
    .await;
    assert_eq!(eff.len(), 1);
    assert_eq!(eff[0]["value"], "enhanced");
    let own = env
        .ecs
        .call(
            &alice_ctx,
            "PutAccountSetting",
            json!({"name": "containerInsights", "value": "disabled"}),
        )
        .await
        .unwrap();
    assert_eq!(own["setting"]["principalArn"], alice);
    let eff = settings(
        &env,
        &alice_ctx,
        json!({"effectiveSettings": true, "name": "containerInsights"}),
    )
    .await;
    assert_eq!(eff[0]["value"], "disabled");
    assert_eq!(eff[0]["principalArn"], alice);
    // The root user can read and change another principal's settings.
    let of_alice = settings(&env, &env.ctx, json!({"principalArn": alice})).await;
    assert_eq!(of_alice.len(), 1);
    env.ok(
        "PutAccountSetting",
        json!({"name": "taskLongArnFormat", "value": "disabled", "principalArn": alice}),
    )
    .await;
    let filtered = settings(
        &env,
        &env.ctx,
        json!({"principalArn": alice, "name": "taskLongArnFormat", "value": "disabled"}),
    )
    .await;
    assert_eq!(filtered.len(), 1);
    // A user cannot touch the root's or someone else's settings.
    let e = env
        .ecs
        .call(
            &alice_ctx,
            "PutAccountSetting",
            json!({"name": "containerInsights", "value": "enabled", "principalArn": root}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "AccessDeniedException");
    let e = env
        .ecs
        .call(
            &alice_ctx,
            "ListAccountSettings",
            json!({"principalArn": format!("arn:aws:iam::{ACCOUNT}:user/bob")}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "AccessDeniedException");
    let e = env
        .ecs
        .call(
            &alice_ctx,
            "PutAccountSetting",
            json!({"name": "fargateTaskRetirementWaitPeriod", "value": "14"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");

    // Delete returns the removed setting; the default applies again.
    let del = env
        .ecs
        .call(&alice_ctx, "DeleteAccountSetting", json!({"name": "containerInsights"}))
        .await
        .unwrap();
    assert_eq!(del["setting"]["value"], "disabled");
    let eff = settings(
        &env,
        &alice_ctx,
        json!({"effectiveSettings": true, "name": "containerInsights"}),
    )
    .await;
    assert_eq!(eff[0]["value"], "enhanced");

    // Validation.
    for (input, code) in [
        (
            json!({"name": "containerInsights", "value": "maybe"}),
            "InvalidParameterException",
        ),
        (
            json!({"name": "noSuchSetting", "value": "enabled"}),
            "InvalidParameterException",
        ),
        (
            json!({"name": "guardDutyActivate", "value": "on"}),
            "InvalidParameterException",
        ),
        (
            json!({"name": "fargateTaskRetirementWaitPeriod", "value": "3"}),
            "InvalidParameterException",
        ),
        (
            json!({"name": "containerInsights", "value": "enabled", "principalArn": "arn:aws:iam::111111111111:user/x"}),
            "InvalidParameterException",
        ),
    ] {
        assert_eq!(env.err("PutAccountSetting", input.clone()).await.code, code, "{input}");
    }
    env.ok(
        "PutAccountSetting",
        json!({"name": "fargateTaskRetirementWaitPeriod", "value": "14"}),
    )
    .await;
    let e = env.err("ListAccountSettings", json!({"value": "enabled"})).await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env.err("ListAccountSettings", json!({"maxResults": 11})).await;
    assert_eq!(e.code, "InvalidParameterException");
}

async fn insights_of(env: &Env, ctx: &RequestContext, input: Value) -> Value {
    let name = input["clusterName"].clone();
    env.ecs.call(ctx, "CreateCluster", input).await.unwrap();
    let v = env
        .ecs
        .call(
            ctx,
            "DescribeClusters",
            json!({"clusters": [name], "include": ["SETTINGS"]}),
        )
        .await
        .unwrap();
    v["clusters"][0]["settings"].clone()
}

#[tokio::test]
async fn a_new_cluster_takes_the_callers_container_insights_setting() {
    let env = env();
    let disabled = json!([{"name": "containerInsights", "value": "disabled"}]);
    let enabled = json!([{"name": "containerInsights", "value": "enabled"}]);
    let enhanced = json!([{"name": "containerInsights", "value": "enhanced"}]);
    assert_eq!(
        insights_of(&env, &env.ctx, json!({"clusterName": "before"})).await,
        disabled
    );

    // The account default applies to every principal without its own.
    env.ecs
        .call(
            &env.ctx,
            "PutAccountSettingDefault",
            json!({"name": "containerInsights", "value": "enabled"}),
        )
        .await
        .unwrap();
    assert_eq!(
        insights_of(&env, &env.ctx, json!({"clusterName": "by-root"})).await,
        enabled
    );
    let alice = user_ctx("alice");
    assert_eq!(
        insights_of(&env, &alice, json!({"clusterName": "by-alice"})).await,
        enabled
    );

    // A principal's own setting wins over the default; an explicit cluster
    // setting wins over both; clusters made before keep theirs.
    env.ecs
        .call(
            &alice,
            "PutAccountSetting",
            json!({"name": "containerInsights", "value": "enhanced"}),
        )
        .await
        .unwrap();
    assert_eq!(
        insights_of(&env, &alice, json!({"clusterName": "alice-2"})).await,
        enhanced
    );
    let explicit = json!({"clusterName": "explicit", "settings": disabled});
    assert_eq!(insights_of(&env, &alice, explicit).await, disabled);
    let v = env
        .ecs
        .call(
            &env.ctx,
            "DescribeClusters",
            json!({"clusters": ["before"], "include": ["SETTINGS"]}),
        )
        .await
        .unwrap();
    assert_eq!(v["clusters"][0]["settings"], disabled);
}
