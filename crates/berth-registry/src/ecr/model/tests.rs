//! Every operation of the ECR model, probed with inputs derived from its
//! tables: each answer has ECR's code and message form.

use super::MODEL;
use berth_proto::validate::probe::{Broken, check_every_probe};
use berth_proto::validate::{compile_all_patterns, validate};
use serde_json::json;

/// The constraint a probe breaks, worded as ECR words it.
fn ecr(path: &str, what: &Broken) -> String {
    let rule = match what {
        Broken::Required => "Member must not be null".to_string(),
        Broken::Enum(values) => format!("Member must satisfy enum value set: [{}]", values.join(", ")),
        Broken::AboveMax(n) => format!("Member must have value less than or equal to {n}"),
        Broken::BelowMin(n) => format!("Member must have value greater than or equal to {n}"),
        Broken::TooLong(n) => format!("Member must have length less than or equal to {n}"),
        Broken::Pattern(p) => format!("must satisfy regular expression '{p}'"),
    };
    format!("Invalid parameter at '{path}' failed to satisfy constraint: '{rule}'")
}

#[test]
fn every_operation_answers_in_the_ecr_form() {
    check_every_probe(&MODEL, |path, _, what, e| {
        e.code == "InvalidParameterException" && e.message == ecr(path, what)
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
        "DescribeImages",
        json!({"repositoryName": "r1", "maxResults": 5000}),
    )
    .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        (
            "InvalidParameterException",
            "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 1000'"
        )
    );
    let e = validate(
        Some(&MODEL),
        "PutImageTagMutability",
        json!({"repositoryName": "r1", "imageTagMutability": "SOMETIMES"}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: \
         [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'"
    );
    let e = validate(
        Some(&MODEL),
        "BatchDeleteImage",
        json!({"repositoryName": "r1", "imageIds": vec![json!({"imageTag": "t"}); 101]}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length less than or equal to 100'"
    );
}
