//! The Logs service end to end over its JsonService interface, on a temp dir.

use berth_logs::Logs;
use berth_proto::{JsonService, RequestContext};
use serde_json::{Value, json};

fn ctx() -> RequestContext {
    RequestContext::root("000000000000", "us-east-1")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn call(logs: &Logs, op: &str, input: Value) -> Value {
    logs.call(&ctx(), op, input)
        .await
        .unwrap_or_else(|e| panic!("{op} failed: {e}"))
}

async fn call_err(logs: &Logs, op: &str, input: Value) -> String {
    logs.call(&ctx(), op, input).await.expect_err(op).code.to_string()
}

fn open() -> (tempfile::TempDir, Logs) {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::open(&dir.path().join("logs"), "us-east-1", "000000000000").unwrap();
    (dir, logs)
}

async fn setup(logs: &Logs, group: &str, stream: &str) {
    call(logs, "CreateLogGroup", json!({"logGroupName": group})).await;
    call(
        logs,
        "CreateLogStream",
        json!({"logGroupName": group, "logStreamName": stream}),
    )
    .await;
}

#[tokio::test]
async fn groups_and_streams() {
    let (_d, logs) = open();
    setup(&logs, "/app/a", "s1").await;
    assert_eq!(
        call_err(&logs, "CreateLogGroup", json!({"logGroupName": "/app/a"})).await,
        "ResourceAlreadyExistsException"
    );
    assert_eq!(
        call_err(&logs, "CreateLogGroup", json!({"logGroupName": "x", "kmsKeyId": "k"})).await,
        "InvalidParameterException"
    );
    assert_eq!(
        call_err(
            &logs,
            "CreateLogStream",
            json!({"logGroupName": "/nope", "logStreamName": "s"})
        )
        .await,
        "ResourceNotFoundException"
    );
    for g in ["/app/b", "/other/c"] {
        call(
            &logs,
            "CreateLogGroup",
            json!({"logGroupName": g, "tags": {"team": "x"}}),
        )
        .await;
    }
    let out = call(
        &logs,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "/app/", "limit": 1}),
    )
    .await;
    assert_eq!(out["logGroups"][0]["logGroupName"], "/app/a");
    assert_eq!(
        out["logGroups"][0]["arn"],
        "arn:aws:logs:us-east-1:000000000000:log-group:/app/a:*"
    );
    let out = call(
        &logs,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "/app/", "limit": 1, "nextToken": out["nextToken"]}),
    )
    .await;
    assert_eq!(out["logGroups"][0]["logGroupName"], "/app/b");
    assert!(out.get("nextToken").is_none());
    let out = call(&logs, "DescribeLogGroups", json!({"logGroupNamePattern": "OTHER"})).await;
    assert_eq!(out["logGroups"].as_array().unwrap().len(), 1);

    // Streams ordered by last event time, descending.
    for s in ["s2", "s3"] {
        call(
            &logs,
            "CreateLogStream",
            json!({"logGroupName": "/app/a", "logStreamName": s}),
        )
        .await;
    }
    let t = now();
    for (s, dt) in [("s1", 0), ("s2", 20), ("s3", 10)] {
        call(
            &logs,
            "PutLogEvents",
            json!({"logGroupName": "/app/a", "logStreamName": s, "logEvents": [{"timestamp": t + dt, "message": "m"}]}),
        )
        .await;
    }
    let out = call(
        &logs,
        "DescribeLogStreams",
        json!({"logGroupName": "/app/a", "orderBy": "LastEventTime", "descending": true, "limit": 2}),
    )
    .await;
    let names: Vec<&str> = out["logStreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["logStreamName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["s2", "s3"]);
    assert_eq!(out["logStreams"][0]["lastEventTimestamp"], t + 20);
    assert_eq!(out["logStreams"][0]["storedBytes"], 0);
    let out = call(
        &logs,
        "DescribeLogStreams",
        json!({"logGroupName": "/app/a", "orderBy": "LastEventTime", "descending": true, "nextToken": out["nextToken"]}),
    )
    .await;
    assert_eq!(out["logStreams"][0]["logStreamName"], "s1");
    assert_eq!(
        call_err(
            &logs,
            "DescribeLogStreams",
            json!({"logGroupName": "/app/a", "orderBy": "LastEventTime", "logStreamNamePrefix": "s"})
        )
        .await,
        "InvalidParameterException"
    );

    // Tags by name and by ARN.
    let arn = "arn:aws:logs:us-east-1:000000000000:log-group:/app/b";
    call(
        &logs,
        "TagResource",
        json!({"resourceArn": arn, "tags": {"env": "dev"}}),
    )
    .await;
    let out = call(&logs, "ListTagsLogGroup", json!({"logGroupName": "/app/b"})).await;
    assert_eq!(out["tags"], json!({"team": "x", "env": "dev"}));
    call(
        &logs,
        "UntagLogGroup",
        json!({"logGroupName": "/app/b", "tags": ["team"]}),
    )
    .await;
    let out = call(&logs, "ListTagsForResource", json!({"resourceArn": arn})).await;
    assert_eq!(out["tags"], json!({"env": "dev"}));

    call(
        &logs,
        "DeleteLogStream",
        json!({"logGroupName": "/app/a", "logStreamName": "s1"}),
    )
    .await;
    call(&logs, "DeleteLogGroup", json!({"logGroupName": "/app/a"})).await;
    assert_eq!(
        call_err(&logs, "DeleteLogGroup", json!({"logGroupName": "/app/a"})).await,
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn put_and_follow_with_tokens() {
    let (_d, logs) = open();
    setup(&logs, "g", "s").await;
    let t0 = now() - 60_000;
    let mut n = 0;
    for batch in 0..5 {
        let events: Vec<Value> = (0..500)
            .map(|i| {
                n += 1;
                json!({"timestamp": t0 + batch * 1000 + i / 10, "message": format!("line {}", n)})
            })
            .collect();
        call(
            &logs,
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events}),
        )
        .await;
    }
    // Forward from the head, 300 at a time, until the same token comes back.
    let mut seen = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true, "limit": 300});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let out = call(&logs, "GetLogEvents", input).await;
        for e in out["events"].as_array().unwrap() {
            seen.push(e["message"].as_str().unwrap().to_string());
        }
        let next = out["nextForwardToken"].as_str().unwrap().to_string();
        if token.as_deref() == Some(next.as_str()) {
            break;
        }
        token = Some(next);
    }
    let want: Vec<String> = (1..=2500).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, want);

    // Without startFromHead: the latest events; the backward token pages back.
    let out = call(
        &logs,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "limit": 10}),
    )
    .await;
    assert_eq!(out["events"][9]["message"], "line 2500");
    assert_eq!(out["events"][0]["message"], "line 2491");
    let back = call(
        &logs,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "limit": 10, "nextToken": out["nextBackwardToken"]}),
    )
    .await;
    assert_eq!(back["events"][9]["message"], "line 2490");
    // A forward token at the end comes back unchanged, then picks up new events.
    let end = out["nextForwardToken"].clone();
    let again = call(
        &logs,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "nextToken": end}),
    )
    .await;
    assert_eq!(again["events"].as_array().unwrap().len(), 0);
    assert_eq!(again["nextForwardToken"], end);
    call(
        &logs,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": now(), "message": "late"}]}),
    )
    .await;
    let more = call(
        &logs,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "nextToken": end}),
    )
    .await;
    assert_eq!(more["events"][0]["message"], "late");
}

#[tokio::test]
async fn batch_rules_and_rejections() {
    let (_d, logs) = open();
    setup(&logs, "g", "s").await;
    let t = now();
    let e = call_err(
        &logs,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}]}),
    )
    .await;
    assert_eq!(e, "InvalidParameterException");
    let out = call(
        &logs,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [
            {"timestamp": t - 14 * 86_400_000 - 60_000, "message": "old"},
            {"timestamp": t - 14 * 86_400_000 - 30_000, "message": "old too"},
            {"timestamp": t - 14 * 86_400_000 + 60_000, "message": "ok"},
        ]}),
    )
    .await;
    assert_eq!(out["rejectedLogEventsInfo"]["tooOldLogEventEndIndex"], 2, "{out}");
    let out = call(
        &logs,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true}),
    )
    .await;
    let msgs: Vec<&str> = out["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(!msgs.contains(&"old"));
    assert!(msgs.contains(&"ok"));
    let out = call(
        &logs,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [
            {"timestamp": t, "message": "now"},
            {"timestamp": t + 3 * 3_600_000, "message": "future"},
        ]}),
    )
    .await;
    assert_eq!(out["rejectedLogEventsInfo"]["tooNewLogEventStartIndex"], 1);
    assert_eq!(
        call_err(
            &logs,
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": "nope", "logEvents": [{"timestamp": t, "message": "x"}]})
        )
        .await,
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn filter_patterns_pages_and_retention() {
    let (_d, logs) = open();
    setup(&logs, "g", "a").await;
    call(
        &logs,
        "CreateLogStream",
        json!({"logGroupName": "g", "logStreamName": "b"}),
    )
    .await;
    let t = now() - 3 * 86_400_000;
    for (stream, base) in [("a", 0), ("b", 1)] {
        let events: Vec<Value> = (0..100)
            .map(|i| {
                let level = if i % 10 == 0 { "error" } else { "info" };
                json!({"timestamp": t + i * 2 + base, "message": json!({"level": level, "i": i, "s": stream}).to_string()})
            })
            .collect();
        call(
            &logs,
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": stream, "logEvents": events}),
        )
        .await;
    }
    let out = call(
        &logs,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "{ $.level = \"error\" }"}),
    )
    .await;
    let events = out["events"].as_array().unwrap();
    assert_eq!(events.len(), 20);
    assert!(
        events
            .iter()
            .all(|e| e["message"].as_str().unwrap().contains("\"error\""))
    );
    // Interleaved in time order across streams.
    let ts: Vec<i64> = events.iter().map(|e| e["timestamp"].as_i64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(out["searchedLogStreams"].as_array().unwrap().len(), 2);

    // Pages of 7 cover every match exactly once.
    let mut total = 0;
    let mut token = None;
    loop {
        let mut input = json!({"logGroupName": "g", "logStreamNames": ["a"], "filterPattern": "info", "limit": 7});
        if let Some(t) = token.take() {
            input["nextToken"] = t;
        }
        let out = call(&logs, "FilterLogEvents", input).await;
        total += out["events"].as_array().unwrap().len();
        match out.get("nextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!(total, 90);
    assert_eq!(
        call_err(
            &logs,
            "FilterLogEvents",
            json!({"logGroupName": "g", "filterPattern": "{ $.x = "})
        )
        .await,
        "InvalidParameterException"
    );

    // Retention of 1 day removes these 3-day-old events.
    call(
        &logs,
        "PutRetentionPolicy",
        json!({"logGroupName": "g", "retentionInDays": 1}),
    )
    .await;
    let out = call(&logs, "DescribeLogGroups", json!({"logGroupNamePrefix": "g"})).await;
    assert_eq!(out["logGroups"][0]["retentionInDays"], 1);
    assert_eq!(logs.sweep_expired().await.unwrap(), 200);
    let out = call(&logs, "FilterLogEvents", json!({"logGroupName": "g"})).await;
    assert_eq!(out["events"].as_array().unwrap().len(), 0);
    assert_eq!(
        call_err(
            &logs,
            "PutRetentionPolicy",
            json!({"logGroupName": "g", "retentionInDays": 2})
        )
        .await,
        "InvalidParameterException"
    );
    call(&logs, "DeleteRetentionPolicy", json!({"logGroupName": "g"})).await;
    let out = call(&logs, "DescribeLogGroups", json!({})).await;
    assert!(out["logGroups"][0].get("retentionInDays").is_none());
}

#[tokio::test]
async fn events_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs");
    {
        let logs = Logs::open(&path, "us-east-1", "000000000000").unwrap();
        setup(&logs, "g", "s").await;
        call(
            &logs,
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": now(), "message": "kept"}]}),
        )
        .await;
    }
    let logs = Logs::open(&path, "us-east-1", "000000000000").unwrap();
    let out = call(
        &logs,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s"}),
    )
    .await;
    assert_eq!(out["events"][0]["message"], "kept");
}

/// Every operation the authorization table maps is dispatched, and nothing
/// else is: routing and authorization cannot drift apart.
#[tokio::test]
async fn routing_is_the_authorization_table() {
    let (_d, logs) = open();
    for op in berth_logs::routed_operations() {
        let res = logs.call(&ctx(), op, json!({})).await;
        if let Err(e) = res {
            assert_ne!(e.code, "UnknownOperationException", "{op} is mapped but not routed");
        }
    }
    assert_eq!(
        call_err(&logs, "StartQuery", json!({})).await,
        "UnknownOperationException"
    );
}
