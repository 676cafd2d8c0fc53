//! Every operation of the ECS model, probed with inputs derived from its
//! tables: each answer has ECS's code and message form.

use super::MODEL;
use berth_proto::validate::probe::{Broken, check_every_probe};
use berth_proto::validate::{compile_all_patterns, validate};
use serde_json::json;

/// The one violation a probe breaks, worded as ECS (the generic AWS form) words it.
fn coral(path: &str, value: &Option<String>, what: &Broken) -> String {
    let value = match (what, value) {
        (Broken::Required, _) => "Value null".to_string(),
        (_, Some(v)) => format!("Value '{v}'"),
        (_, None) => "Value".to_string(),
    };
    let rule = match what {
        Broken::Required => "Member must not be null".to_string(),
        Broken::Enum(values) => format!("Member must satisfy enum value set: [{}]", values.join(", ")),
        Broken::AboveMax(n) => format!("Member must have value less than or equal to {n}"),
        Broken::BelowMin(n) => format!("Member must have value greater than or equal to {n}"),
        Broken::TooLong(n) => format!("Member must have length less than or equal to {n}"),
        Broken::Pattern(p) => format!("Member must satisfy regular expression pattern: {p}"),
    };
    format!("{value} at '{path}' failed to satisfy constraint: {rule}")
}

#[test]
fn every_operation_answers_in_the_ecs_form() {
    check_every_probe(&MODEL, |path, value, what, e| {
        let one = coral(path, value, what);
        // A too-long value may break the pattern too: both are listed.
        e.code == "InvalidParameterException"
            && (e.message == format!("1 validation error detected: {one}")
                || (e.message.starts_with("2 validation errors detected: ") && e.message.contains(&one)))
    });
}

#[test]
fn every_pattern_of_the_model_compiles() {
    compile_all_patterns(&MODEL).unwrap();
}

#[test]
fn the_cases_of_the_issue() {
    let e = validate(
        Some(&MODEL),
        "CreateService",
        json!({"serviceName": "s", "desiredCount": 2147483648u64}),
    )
    .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        (
            "SerializationException",
            "NUMBER_VALUE can not be converted to an Integer"
        )
    );
    let e = validate(
        Some(&MODEL),
        "RunTask",
        json!({"taskDefinition": "t", "launchType": "FOO"}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "1 validation error detected: Value 'FOO' at 'launchType' failed to satisfy constraint: \
         Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES]"
    );
    // A missing family is the handler's (ClientException: Family can not be blank.).
    let out = validate(
        Some(&MODEL),
        "RegisterTaskDefinition",
        json!({"containerDefinitions": []}),
    )
    .unwrap();
    assert_eq!(out, json!({"containerDefinitions": []}));
    // An unknown member is dropped, nested ones too; the agent's extensions are kept.
    let out = validate(
        Some(&MODEL),
        "RegisterTaskDefinition",
        json!({"family": "f", "memroy": 128, "containerDefinitions": [{"name": "a", "imgae": "x"}]}),
    )
    .unwrap();
    assert_eq!(out, json!({"family": "f", "containerDefinitions": [{"name": "a"}]}));
    let change = json!({"task": "t", "status": "STOPPED", "stopCode": "EssentialContainerExited", "healthStatus": "HEALTHY",
        "containers": [{"containerName": "a", "healthStatus": "UNHEALTHY"}],
        "networkInterface": {"networkInterfaceId": "eni-0123456789abcdef0", "privateIPv4Address": "10.213.0.2",
                             "macAddress": "02:42:0a:d5:00:02"}});
    assert_eq!(
        validate(Some(&MODEL), "SubmitTaskStateChange", change.clone()).unwrap(),
        change
    );
    // Berth's own operations pass through.
    let beat = json!({"cluster": "c", "containerInstance": "i"});
    assert_eq!(validate(Some(&MODEL), "BerthHeartbeat", beat.clone()).unwrap(), beat);
}
