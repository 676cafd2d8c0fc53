//! The foundation ECS operations end to end through `Ecs::call`: task
//! definitions, tags, account settings, attributes and capacity providers.

use berth_ecs::keys;
use berth_proto::{JsonService, RequestContext};
use berth_testkit::{ACCOUNT, EcsEnv, REGION};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::ops::Deref;

/// The test kit's ECS environment, and the helpers these tests share.
struct Env(EcsEnv);

impl Deref for Env {
    type Target = EcsEnv;
    fn deref(&self) -> &EcsEnv {
        &self.0
    }
}

fn env() -> Env {
    Env(EcsEnv::new())
}

fn user_ctx(name: &str) -> RequestContext {
    let mut ctx = RequestContext::root(ACCOUNT, REGION);
    ctx.principal.arn = format!("arn:aws:iam::{ACCOUNT}:user/{name}");
    ctx.principal.is_root = false;
    ctx.principal.user_name = Some(name.to_string());
    ctx
}

impl Env {
    /// Every task definition ARN in every status.
    async fn all_arns(&self) -> Vec<String> {
        let mut out = vec![];
        for status in ["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"] {
            let v = self.ok("ListTaskDefinitions", json!({"status": status})).await;
            out.extend(strings(&v["taskDefinitionArns"]));
        }
        out
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn td_arn(family: &str, rev: i64) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{rev}")
}

fn simple(family: &str) -> Value {
    json!({
        "family": family,
        "containerDefinitions": [{
            "name": "app",
            "image": "busybox",
            "memory": 64,
            "command": ["sleep", "360"],
            "portMappings": [{"containerPort": 80}]
        }]
    })
}

#[tokio::test]
async fn task_definition_lifecycle() {
    let env = env();
    let mut first = simple("web");
    first["tags"] = json!([{"key": "team", "value": "core"}]);
    first["futureMember"] = json!({"kept": true});
    let r1 = env.ok("RegisterTaskDefinition", first).await;
    let td = &r1["taskDefinition"];
    assert_eq!(td["taskDefinitionArn"], td_arn("web", 1));
    assert_eq!(td["revision"], 1);
    assert_eq!(td["status"], "ACTIVE");
    assert_eq!(td["registeredBy"], format!("arn:aws:iam::{ACCOUNT}:root"));
    assert!(td["registeredAt"].as_f64().unwrap() > 1.6e9);
    assert_eq!(td["compatibilities"], json!(["EXTERNAL", "EC2"]));
    assert_eq!(td["futureMember"], json!({"kept": true}));
    let c = &td["containerDefinitions"][0];
    assert_eq!(c["cpu"], 0);
    assert_eq!(c["essential"], true);
    assert_eq!(c["environment"], json!([]));
    assert_eq!(c["mountPoints"], json!([]));
    assert_eq!(c["volumesFrom"], json!([]));
    assert_eq!(
        c["portMappings"],
        json!([{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}])
    );
    assert_eq!(r1["tags"], json!([{"key": "team", "value": "core"}]));
    assert!(td.get("tags").is_none(), "tags are beside the definition, not in it");

    let r2 = env.ok("RegisterTaskDefinition", simple("web")).await;
    assert_eq!(r2["taskDefinition"]["revision"], 2);
    assert!(r2.get("tags").is_none());

    // Describe by family (latest ACTIVE), family:revision and ARN.
    let d = env.ok("DescribeTaskDefinition", json!({"taskDefinition": "web"})).await;
    assert_eq!(d["taskDefinition"]["revision"], 2);
    assert!(d.get("tags").is_none());
    let d = env
        .ok(
            "DescribeTaskDefinition",
            json!({"taskDefinition": "web:1", "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(d["taskDefinition"]["revision"], 1);
    assert_eq!(d["tags"], json!([{"key": "team", "value": "core"}]));
    assert_eq!(d["taskDefinition"]["futureMember"], json!({"kept": true}));
    let d = env
        .ok("DescribeTaskDefinition", json!({"taskDefinition": td_arn("web", 1)}))
        .await;
    assert_eq!(d["taskDefinition"]["revision"], 1);
    for unknown in ["nope", "web:9", "bad name", &td_arn("other", 1)] {
        let e = env
            .err("DescribeTaskDefinition", json!({"taskDefinition": unknown}))
            .await;
        assert_eq!(
            (e.code.as_ref(), e.message.as_str()),
            ("ClientException", "Unable to describe task definition.")
        );
    }
    let e = env
        .err(
            "DescribeTaskDefinition",
            json!({"taskDefinition": "web", "include": ["SETTINGS"]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");

    // Lists: ASC by default, DESC reversed; familyPrefix is the full family.
    let l = env.ok("ListTaskDefinitions", json!({})).await;
    assert_eq!(
        strings(&l["taskDefinitionArns"]),
        vec![td_arn("web", 1), td_arn("web", 2)]
    );
    let l = env.ok("ListTaskDefinitions", json!({"sort": "DESC"})).await;
    assert_eq!(
        strings(&l["taskDefinitionArns"]),
        vec![td_arn("web", 2), td_arn("web", 1)]
    );
    let l = env.ok("ListTaskDefinitions", json!({"familyPrefix": "web"})).await;
    assert_eq!(strings(&l["taskDefinitionArns"]).len(), 2);
    let l = env.ok("ListTaskDefinitions", json!({"familyPrefix": "we"})).await;
    assert!(strings(&l["taskDefinitionArns"]).is_empty());
    let f = env.ok("ListTaskDefinitionFamilies", json!({})).await;
    assert_eq!(f["families"], json!(["web"]));
    assert_eq!(
        env.err("ListTaskDefinitions", json!({"status": "GONE"})).await.code,
        "InvalidParameterException"
    );
    assert_eq!(
        env.err("ListTaskDefinitions", json!({"maxResults": 101})).await.code,
        "InvalidParameterException"
    );

    // Deregister needs a revision.
    let e = env
        .err("DeregisterTaskDefinition", json!({"taskDefinition": "web"}))
        .await;
    assert_eq!(e.code, "ClientException");
    let e = env
        .err("DeregisterTaskDefinition", json!({"taskDefinition": "web:7"}))
        .await;
    assert_eq!(e.code, "ClientException");
    let dr = env
        .ok("DeregisterTaskDefinition", json!({"taskDefinition": "web:1"}))
        .await;
    assert_eq!(dr["taskDefinition"]["status"], "INACTIVE");
    assert!(dr["taskDefinition"]["deregisteredAt"].as_f64().is_some());
    let d = env.ok("DescribeTaskDefinition", json!({"taskDefinition": "web"})).await;
    assert_eq!(
        d["taskDefinition"]["revision"], 2,
        "bare family skips INACTIVE revisions"
    );
    let d = env
        .ok("DescribeTaskDefinition", json!({"taskDefinition": "web:1"}))
        .await;
    assert_eq!(
        d["taskDefinition"]["status"], "INACTIVE",
        "INACTIVE revisions stay describable"
    );
    let l = env.ok("ListTaskDefinitions", json!({"status": "INACTIVE"})).await;
    assert_eq!(strings(&l["taskDefinitionArns"]), vec![td_arn("web", 1)]);

    // Delete: only INACTIVE revisions; others are failures.
    let del = env
        .ok(
            "DeleteTaskDefinitions",
            json!({"taskDefinitions": ["web:2", td_arn("web", 1), "web:9", "web"]}),
        )
        .await;
    let deleted = del["taskDefinitions"].as_array().unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["taskDefinitionArn"], td_arn("web", 1));
    assert_eq!(deleted[0]["status"], "DELETE_IN_PROGRESS");
    assert!(deleted[0]["deleteRequestedAt"].as_f64().is_some());
    let failures = del["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_eq!(failures[0]["arn"], td_arn("web", 2));
    assert_eq!(failures[0]["reason"], "TASK_DEFINITION_NOT_INACTIVE");
    assert_eq!(failures[1]["reason"], "TASK_DEFINITION_NOT_FOUND");
    let l = env
        .ok("ListTaskDefinitions", json!({"status": "DELETE_IN_PROGRESS"}))
        .await;
    assert_eq!(strings(&l["taskDefinitionArns"]), vec![td_arn("web", 1)]);
    let many: Vec<String> = (1..=11).map(|i| format!("web:{i}")).collect();
    let e = env.err("DeleteTaskDefinitions", json!({"taskDefinitions": many})).await;
    assert_eq!(e.code, "InvalidParameterException");

    // Family status follows its revisions.
    env.ok("RegisterTaskDefinition", simple("api")).await;
    env.ok("DeregisterTaskDefinition", json!({"taskDefinition": "web:2"}))
        .await;
    let f = env.ok("ListTaskDefinitionFamilies", json!({"status": "ACTIVE"})).await;
    assert_eq!(f["families"], json!(["api"]));
    let f = env
        .ok("ListTaskDefinitionFamilies", json!({"status": "INACTIVE"}))
        .await;
    assert_eq!(f["families"], json!(["web"]));
    let f = env.ok("ListTaskDefinitionFamilies", json!({"familyPrefix": "w"})).await;
    assert_eq!(f["families"], json!(["web"]));
    let e = env
        .err("DescribeTaskDefinition", json!({"taskDefinition": "web"}))
        .await;
    assert_eq!(e.code, "ClientException", "no ACTIVE revision left");

    // Revision numbers are never reused.
    let r3 = env.ok("RegisterTaskDefinition", simple("web")).await;
    assert_eq!(r3["taskDefinition"]["revision"], 3);
}

#[tokio::test]
async fn invalid_task_definitions_are_rejected_and_store_nothing() {
    let env = env();
    let container = |name: String| json!({"name": name, "image": "busybox", "memory": 32});
    let eleven: Vec<Value> = (0..11).map(|i| container(format!("c{i}"))).collect();
    let cases = vec![
        (
            json!({"family": "bad", "containerDefinitions": eleven}),
            "Too many containers.".to_string(),
        ),
        (
            json!({
                "family": "bad",
                "requiresCompatibilities": ["FARGATE"],
                "networkMode": "bridge",
                "cpu": "256", "memory": "512",
                "containerDefinitions": [container("app".into())]
            }),
            "Fargate only supports network mode \u{2018}awsvpc\u{2019}.".to_string(),
        ),
        (
            json!({
                "family": "bad",
                "requiresCompatibilities": ["FARGATE"],
                "networkMode": "awsvpc",
                "cpu": "999", "memory": "2048",
                "containerDefinitions": [container("app".into())]
            }),
            "No Fargate configuration exists for given values: 999 CPU, 2048 memory. See the Amazon ECS documentation for the valid values.".to_string(),
        ),
        (
            json!({"family": "bad", "containerDefinitions": [container("app".into()), container("app".into())]}),
            "Container names must be unique within a Task Definition.".to_string(),
        ),
        (
            json!({"family": "bad", "containerDefinitions": [{"name": "app", "image": "busybox"}]}),
            "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified.".to_string(),
        ),
        (
            json!({"family": "b d", "containerDefinitions": [container("app".into())]}),
            "Family contains invalid characters.".to_string(),
        ),
    ];
    for (input, message) in cases {
        let e = env.err("RegisterTaskDefinition", input).await;
        assert_eq!(e.code, "ClientException");
        assert_eq!(e.message, message);
        assert_eq!(e.status, 400);
    }
    // Bad tags are refused before anything is written, too.
    let mut tagged = simple("bad");
    tagged["tags"] = json!([{"key": "aws:reserved", "value": "x"}]);
    assert_eq!(
        env.err("RegisterTaskDefinition", tagged).await.code,
        "InvalidParameterException"
    );
    // A type mismatch is a serialization error, not a panic.
    let mut wrong = simple("bad");
    wrong["containerDefinitions"][0]["memory"] = json!("lots");
    assert_eq!(
        env.err("RegisterTaskDefinition", wrong).await.code,
        "SerializationException"
    );

    assert!(env.all_arns().await.is_empty());
    let f = env.ok("ListTaskDefinitionFamilies", json!({})).await;
    assert_eq!(f["families"], json!([]));
    assert!(env.ecs.store().get(&keys::family("bad")).await.unwrap().is_none());
}

#[tokio::test]
async fn fargate_definitions_normalize_sizes() {
    let env = env();
    let r = env
        .ok(
            "RegisterTaskDefinition",
            json!({
                "family": "svc",
                "requiresCompatibilities": ["FARGATE"],
                "networkMode": "awsvpc",
                "cpu": "1 vCPU",
                "memory": "2 GB",
                "executionRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/exec"),
                "containerDefinitions": [{
                    "name": "app",
                    "image": "busybox",
                    "portMappings": [{"containerPort": 8080}],
                    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": REGION}}
                }]
            }),
        )
        .await;
    let td = &r["taskDefinition"];
    assert_eq!(td["cpu"], "1024");
    assert_eq!(td["memory"], "2048");
    assert_eq!(td["compatibilities"], json!(["EC2", "FARGATE"]));
    assert_eq!(td["requiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(td["containerDefinitions"][0]["portMappings"][0]["hostPort"], 8080);
    let attrs: Vec<&str> = td["requiresAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for want in [
        "ecs.capability.task-eni",
        "com.amazonaws.ecs.capability.logging-driver.awslogs",
        "ecs.capability.execution-role-awslogs",
    ] {
        assert!(attrs.contains(&want), "{want} missing from {attrs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_registrations_number_revisions_without_gaps() {
    let env = env();
    let mut handles = vec![];
    for _ in 0..50 {
        let ecs = env.ecs.clone();
        let ctx = env.ctx.clone();
        handles.push(tokio::spawn(async move {
            let v = ecs.call(&ctx, "RegisterTaskDefinition", simple("busy")).await.unwrap();
            v["taskDefinition"]["revision"].as_i64().unwrap()
        }));
    }
    let mut revisions = vec![];
    for h in handles {
        revisions.push(h.await.unwrap());
    }
    revisions.sort();
    assert_eq!(revisions, (1..=50).collect::<Vec<i64>>());
    let l = env.ok("ListTaskDefinitions", json!({"familyPrefix": "busy"})).await;
    let expected: Vec<String> = (1..=50).map(|r| td_arn("busy", r)).collect();
    assert_eq!(strings(&l["taskDefinitionArns"]), expected);
}

#[tokio::test]
async fn pagination_covers_every_item_once() {
    let env = env();
    // Families chosen so that byte order of "FAMILY/" keys differs from family order.
    for family in ["web", "web-2", "api"] {
        for _ in 0..9 {
            env.ok("RegisterTaskDefinition", simple(family)).await;
        }
    }
    for (sort, reverse) in [("ASC", false), ("DESC", true)] {
        let mut seen = vec![];
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut input = json!({"maxResults": 4, "sort": sort});
            if let Some(t) = &token {
                input["nextToken"] = json!(t);
            }
            let v = env.ok("ListTaskDefinitions", input).await;
            let page = strings(&v["taskDefinitionArns"]);
            assert!(page.len() <= 4);
            seen.extend(page);
            pages += 1;
            match v.get("nextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        let mut expected = vec![];
        for family in ["api", "web", "web-2"] {
            for rev in 1..=9 {
                expected.push(td_arn(family, rev));
            }
        }
        if reverse {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{sort}");
        assert_eq!(pages, 7);
    }
    let mut families = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"maxResults": 1});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let v = env.ok("ListTaskDefinitionFamilies", input).await;
        families.extend(strings(&v["families"]));
        match v.get("nextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(families, vec!["api", "web", "web-2"]);
    let e = env
        .err("ListTaskDefinitions", json!({"nextToken": "!!not-a-token"}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}

#[tokio::test]
async fn tags_on_clusters_task_definitions_and_capacity_providers() {
    let env = env();
    let cluster_arn = env.ok("CreateCluster", json!({"clusterName": "prod"})).await["cluster"]["clusterArn"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(
        "TagResource",
        json!({"resourceArn": cluster_arn, "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}),
    )
    .await;
    env.ok(
        "TagResource",
        json!({"resourceArn": cluster_arn, "tags": [{"key": "a", "value": "3"}]}),
    )
    .await;
    let t = env.ok("ListTagsForResource", json!({"resourceArn": cluster_arn})).await;
    assert_eq!(
        t["tags"],
        json!([{"key": "a", "value": "3"}, {"key": "b", "value": "2"}])
    );
    let d = env
        .ok("DescribeClusters", json!({"clusters": ["prod"], "include": ["TAGS"]}))
        .await;
    assert_eq!(
        d["clusters"][0]["tags"], t["tags"],
        "the cluster record itself carries the tags"
    );
    env.ok("UntagResource", json!({"resourceArn": cluster_arn, "tagKeys": ["a"]}))
        .await;
    let t = env.ok("ListTagsForResource", json!({"resourceArn": cluster_arn})).await;
    assert_eq!(t["tags"], json!([{"key": "b", "value": "2"}]));

    // Task definitions.
    env.ok("RegisterTaskDefinition", simple("web")).await;
    let arn = td_arn("web", 1);
    env.ok(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "env", "value": "dev"}]}),
    )
    .await;
    let d = env
        .ok(
            "DescribeTaskDefinition",
            json!({"taskDefinition": "web:1", "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(d["tags"], json!([{"key": "env", "value": "dev"}]));
    assert_eq!(
        d["taskDefinition"]["status"], "ACTIVE",
        "tagging keeps the definition intact"
    );

    // Built-in capacity providers.
    let fargate = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/FARGATE");
    let t = env.ok("ListTagsForResource", json!({"resourceArn": fargate})).await;
    assert_eq!(t["tags"], json!([]));
    env.ok(
        "TagResource",
        json!({"resourceArn": fargate, "tags": [{"key": "x", "value": "y"}]}),
    )
    .await;
    let cp = env
        .ok(
            "DescribeCapacityProviders",
            json!({"capacityProviders": ["FARGATE"], "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(cp["capacityProviders"][0]["tags"], json!([{"key": "x", "value": "y"}]));
    env.ok("UntagResource", json!({"resourceArn": fargate, "tagKeys": ["x"]}))
        .await;
    let t = env.ok("ListTagsForResource", json!({"resourceArn": fargate})).await;
    assert_eq!(t["tags"], json!([]));

    // Errors.
    let too_many: Vec<Value> = (0..50).map(|i| json!({"key": format!("k{i}"), "value": ""})).collect();
    let e = env
        .err("TagResource", json!({"resourceArn": cluster_arn, "tags": too_many}))
        .await;
    assert_eq!(
        e.code, "InvalidParameterException",
        "50 new + 1 existing exceeds the limit"
    );
    let missing_cluster = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/ghost");
    let e = env
        .err("ListTagsForResource", json!({"resourceArn": missing_cluster}))
        .await;
    assert_eq!(e.code, "ClusterNotFoundException");
    let e = env
        .err(
            "TagResource",
            json!({"resourceArn": td_arn("web", 5), "tags": [{"key": "k", "value": "v"}]}),
        )
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        (
            "ResourceNotFoundException",
            "The specified resource could not be found."
        )
    );
    let task = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/0123456789abcdef0123456789abcdef");
    let e = env.err("ListTagsForResource", json!({"resourceArn": task})).await;
    assert_eq!(e.code, "ResourceNotFoundException");
    let task_in_ghost = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/ghost/0123456789abcdef0123456789abcdef");
    let e = env
        .err("ListTagsForResource", json!({"resourceArn": task_in_ghost}))
        .await;
    assert_eq!(e.code, "ClusterNotFoundException");
    for bad in [
        "not-an-arn",
        "arn:aws:s3:::bucket",
        &format!("arn:aws:ecs:{REGION}:{ACCOUNT}:widget/x"),
    ] {
        let e = env.err("ListTagsForResource", json!({"resourceArn": bad})).await;
        assert_eq!(e.code, "InvalidParameterException", "{bad}");
    }
    let e = env
        .err(
            "UntagResource",
            json!({"resourceArn": cluster_arn, "tagKeys": ["aws:cloudformation:stack-name"]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}

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

/// Writes a container instance record as the instance handlers store it.
async fn put_instance(env: &Env, cluster: &str, id: &str) -> String {
    let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{cluster}/{id}");
    let record = json!({
        "containerInstanceArn": arn,
        "status": "ACTIVE",
        "attributes": [{"name": "ecs.os-type", "value": "linux"}, {"name": "ecs.capability.task-eni"}]
    });
    env.ecs
        .store()
        .put(&keys::instance(cluster, id), serde_json::to_vec(&record).unwrap())
        .await
        .unwrap();
    arn
}

#[tokio::test]
async fn attributes_on_container_instances() {
    let env = env();
    env.ok("CreateCluster", json!({"clusterName": "c1"})).await;
    let i1 = put_instance(&env, "c1", "i1").await;
    let i2 = put_instance(&env, "c1", "i2").await;

    let put = env
        .ok(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [
                {"name": "stack", "value": "prod", "targetId": i1},
                {"name": "flag", "targetType": "container-instance", "targetId": "i2"},
                {"name": "stack", "value": "dev", "targetId": i2}
            ]}),
        )
        .await;
    let put = put["attributes"].as_array().unwrap();
    assert_eq!(put.len(), 3);
    assert!(put.iter().all(|a| a["targetType"] == "container-instance"));
    assert!(put.iter().any(|a| a["name"] == "flag" && a["targetId"] == i2.as_str()));

    // Custom and agent-registered attributes are listed together.
    let all = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance"}),
        )
        .await;
    assert_eq!(all["attributes"].as_array().unwrap().len(), 7);
    let by_name = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeName": "stack"}),
        )
        .await;
    assert_eq!(by_name["attributes"].as_array().unwrap().len(), 2);
    let by_value = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeName": "stack", "attributeValue": "prod"}),
        )
        .await;
    assert_eq!(
        by_value["attributes"],
        json!([{"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": i1}])
    );
    let os = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeName": "ecs.os-type", "attributeValue": "linux"}),
        )
        .await;
    assert_eq!(os["attributes"].as_array().unwrap().len(), 2);

    // Pagination.
    let mut seen = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"cluster": "c1", "targetType": "container-instance", "maxResults": 2});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let v = env.ok("ListAttributes", input).await;
        for a in v["attributes"].as_array().unwrap() {
            seen.push(format!("{} {}", a["targetId"], a["name"]));
        }
        match v.get("nextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);

    // Delete.
    let del = env
        .ok(
            "DeleteAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "stack", "targetId": i1}]}),
        )
        .await;
    assert_eq!(del["attributes"][0]["name"], "stack");
    let by_name = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeName": "stack"}),
        )
        .await;
    assert_eq!(by_name["attributes"].as_array().unwrap().len(), 1);

    // Errors.
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "x", "targetId": "arn:aws:ecs:us-east-1:000000000000:container-instance/c1/ghost"}]}),
        )
        .await;
    assert_eq!(e.code, "TargetNotFoundException");
    assert!(e.message.starts_with("Could not find target"));
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "x", "targetId": "i1"}]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException", "a bare id needs targetType");
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "nope", "attributes": [{"name": "x", "targetId": i1}]}),
        )
        .await;
    assert_eq!(e.code, "ClusterNotFoundException");
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "bad name", "targetId": i1}]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"name": format!("a{i}"), "targetId": i1}))
        .collect();
    let e = env
        .err("PutAttributes", json!({"cluster": "c1", "attributes": eleven}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let ten: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("a{i}"), "targetId": i1}))
        .collect();
    env.ok("PutAttributes", json!({"cluster": "c1", "attributes": ten}))
        .await;
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "one-more", "targetId": i1}]}),
        )
        .await;
    assert_eq!(e.code, "AttributeLimitExceededException");
    // Replacing an existing attribute's value is not a new attribute.
    env.ok(
        "PutAttributes",
        json!({"cluster": "c1", "attributes": [{"name": "a0", "value": "v2", "targetId": i1}]}),
    )
    .await;
    let e = env
        .err("ListAttributes", json!({"cluster": "c1", "targetType": "task"}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeValue": "prod"}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}

#[tokio::test]
async fn describe_capacity_providers() {
    let env = env();
    let all = env.ok("DescribeCapacityProviders", json!({})).await;
    let cps = all["capacityProviders"].as_array().unwrap();
    assert_eq!(cps.len(), 2);
    assert_eq!(
        cps[0],
        json!({
            "capacityProviderArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/FARGATE"),
            "name": "FARGATE",
            "status": "ACTIVE",
            "type": "FARGATE",
            "tags": []
        })
    );
    assert_eq!(cps[1]["name"], "FARGATE_SPOT");
    assert_eq!(all["failures"], json!([]));

    let v = env
        .ok(
            "DescribeCapacityProviders",
            json!({"capacityProviders": [format!("arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/FARGATE_SPOT"), "MY_ASG"]}),
        )
        .await;
    assert_eq!(v["capacityProviders"].as_array().unwrap().len(), 1);
    assert_eq!(v["capacityProviders"][0]["name"], "FARGATE_SPOT");
    assert_eq!(
        v["failures"],
        json!([{"arn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/MY_ASG"), "reason": "MISSING"}])
    );

    // Pagination.
    let p1 = env.ok("DescribeCapacityProviders", json!({"maxResults": 1})).await;
    assert_eq!(p1["capacityProviders"][0]["name"], "FARGATE");
    let token = p1["nextToken"].as_str().unwrap();
    let p2 = env
        .ok(
            "DescribeCapacityProviders",
            json!({"maxResults": 1, "nextToken": token}),
        )
        .await;
    assert_eq!(p2["capacityProviders"][0]["name"], "FARGATE_SPOT");
    assert!(p2.get("nextToken").is_none());
    let e = env.err("DescribeCapacityProviders", json!({"maxResults": 11})).await;
    assert_eq!(e.code, "InvalidParameterException");

    // Only a cluster's providers when a cluster is named.
    env.ok(
        "CreateCluster",
        json!({"clusterName": "f", "capacityProviders": ["FARGATE"]}),
    )
    .await;
    let v = env.ok("DescribeCapacityProviders", json!({"cluster": "f"})).await;
    assert_eq!(v["capacityProviders"].as_array().unwrap().len(), 1);
    let e = env.err("DescribeCapacityProviders", json!({"cluster": "ghost"})).await;
    assert_eq!(e.code, "ClusterNotFoundException");
    let e = env
        .err("DescribeCapacityProviders", json!({"include": ["STATS"]}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}
