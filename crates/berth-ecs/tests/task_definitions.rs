//! Task definitions through `Ecs::call`: their lifecycle, invalid ones,
//! Fargate sizes, revisions under concurrency and pagination.

#[path = "support/ecs_env.rs"]
mod support;

use berth_ecs::keys;
use berth_proto::JsonService;
use berth_testkit::{ACCOUNT, REGION};
use serde_json::{Value, json};
use support::*;

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
