use super::*;
use serde_json::json;

fn event() -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "000000000000",
        "time": "2026-12-06T06:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ecs:us-east-1:000000000000:task/web/abc"],
        "detail": {
            "lastStatus": "STOPPED",
            "stopCode": "EssentialContainerExited",
            "cpu": "256",
            "containers": [{"name": "app", "exitCode": 1}, {"name": "side", "exitCode": 0}],
            "attachments": [],
            "sourceIPAddress": "10.0.1.17",
            "count": 7,
            "nothing": null
        }
    })
}

fn m(pattern: Value) -> bool {
    Pattern::parse(&pattern.to_string())
        .expect("valid pattern")
        .matches(&event())
}

fn bad(pattern: &str) -> String {
    Pattern::parse(pattern).expect_err("invalid pattern").to_string()
}

#[test]
fn literals_match_fields_and_any_element_of_an_array() {
    assert!(m(json!({"source": ["aws.ecs"]})));
    assert!(m(
        json!({"source": ["aws.ecr", "aws.ecs"], "detail-type": ["ECS Task State Change"]})
    ));
    assert!(!m(json!({"source": ["aws.ecr"]})));
    assert!(m(
        json!({"resources": ["arn:aws:ecs:us-east-1:000000000000:task/web/abc"]})
    ));
    assert!(m(json!({"detail": {"containers": {"exitCode": [1]}}})));
    assert!(!m(json!({"detail": {"containers": {"exitCode": [2]}}})));
    // Numbers compare as numbers; null matches a null field only.
    assert!(m(json!({"detail": {"count": [7.0]}})));
    assert!(m(json!({"detail": {"nothing": [null]}})));
    assert!(!m(json!({"detail": {"lastStatus": [null]}})));
    // A field the event lacks matches nothing but exists:false.
    assert!(!m(json!({"detail": {"missing": ["x"]}})));
    assert!(!m(json!({"detail": {"missing": [{"anything-but": "x"}]}})));
}

#[test]
fn content_filters() {
    assert!(m(json!({"detail-type": [{"prefix": "ECS "}]})));
    assert!(m(
        json!({"detail-type": [{"prefix": {"equals-ignore-case": "ecs task"}}]})
    ));
    assert!(m(json!({"detail-type": [{"suffix": "Change"}]})));
    assert!(!m(json!({"detail-type": [{"suffix": "change"}]})));
    assert!(m(
        json!({"detail": {"lastStatus": [{"equals-ignore-case": "stopped"}]}})
    ));
    assert!(m(json!({"detail": {"stopCode": [{"wildcard": "Essential*Exited"}]}})));
    assert!(!m(json!({"detail": {"stopCode": [{"wildcard": "*Failed"}]}})));
    assert!(m(
        json!({"detail": {"lastStatus": [{"anything-but": ["RUNNING", "PENDING"]}]}})
    ));
    assert!(!m(json!({"detail": {"lastStatus": [{"anything-but": "STOPPED"}]}})));
    assert!(m(
        json!({"detail": {"lastStatus": [{"anything-but": {"prefix": "RUN"}}]}})
    ));
    assert!(!m(
        json!({"detail": {"lastStatus": [{"anything-but": {"equals-ignore-case": ["stopped"]}}]}})
    ));
    assert!(m(json!({"detail": {"count": [{"numeric": [">", 0, "<=", 7]}]}})));
    assert!(!m(json!({"detail": {"count": [{"numeric": ["<", 7]}]}})));
    assert!(
        !m(json!({"detail": {"cpu": [{"numeric": [">", 0]}]}})),
        "a numeric filter does not read strings"
    );
    assert!(m(
        json!({"detail": {"stopCode": [{"exists": true}], "missing": [{"exists": false}]}})
    ));
    assert!(!m(json!({"detail": {"stopCode": [{"exists": false}]}})));
    assert!(m(json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/16"}]}})));
    assert!(!m(json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.2.0/24"}]}})));
    // An absent parent satisfies a pattern that only asks for absence.
    assert!(m(json!({"detail": {"gone": {"deeper": [{"exists": false}]}}})));
}

#[test]
fn or_alternatives() {
    assert!(m(
        json!({"$or": [{"source": ["aws.ecr"]}, {"detail": {"lastStatus": ["STOPPED"]}}]})
    ));
    assert!(!m(
        json!({"$or": [{"source": ["aws.ecr"]}, {"detail": {"lastStatus": ["RUNNING"]}}]})
    ));
    assert!(m(
        json!({"detail": {"$or": [{"count": [{"numeric": [">", 5]}]}, {"cpu": ["1024"]}]}})
    ));
}

#[test]
fn invalid_patterns_say_why() {
    assert!(bad("not json").starts_with("Event pattern is not valid. Reason: the pattern is not JSON"));
    assert!(bad("[]").contains("must be a JSON object"));
    assert!(bad("{}").contains("empty object"));
    assert!(bad(r#"{"source": "aws.ecs"}"#).contains("\"source\" must be an object or an array"));
    assert!(bad(r#"{"source": []}"#).contains("at least one value"));
    assert!(bad(r#"{"source": [{"prefx": "a"}]}"#).contains("unrecognized match type \"prefx\""));
    assert!(bad(r#"{"detail": {"n": [{"numeric": ["<", 5, ">", 1]}]}}"#).contains("lower bound"));
    assert!(bad(r#"{"detail": {"n": [{"numeric": ["~", 5]}]}}"#).contains("operator"));
    assert!(bad(r#"{"detail": {"n": [{"exists": "yes"}]}}"#).contains("true or false"));
    assert!(bad(r#"{"detail": {"ip": [{"cidr": "10.0.0.0/40"}]}}"#).contains("CIDR"));
    assert!(bad(r#"{"$or": [{"source": ["a"]}]}"#).contains("at least two"));
    assert!(bad(r#"{"detail": {"s": [{"wildcard": "a**b"}]}}"#).contains("consecutive"));
}

#[test]
fn wildcards() {
    assert!(wildcard("*", ""));
    assert!(wildcard("a*", "abc"));
    assert!(wildcard("*c", "abc"));
    assert!(wildcard("a*c*e", "abcde"));
    assert!(!wildcard("a*c*e", "abcd"));
    assert!(!wildcard("ab*ba", "aba"));
    assert!(wildcard("abc", "abc") && !wildcard("abc", "abcd"));
}
