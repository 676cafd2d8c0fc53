//! The resources a CloudWatch Logs operation is authorized on, as the
//! Service Authorization Reference names them (pure), one entry per routed
//! operation in [`OPERATIONS`] (the dispatch answers
//! `UnknownOperationException` for anything not listed, so a routed
//! operation cannot lack a mapping): log-group operations on
//! `…:log-group:GROUP:log-stream:` (so policies written `log-group:GROUP:*`
//! match, as in AWS), stream and event operations on
//! `…:log-group:GROUP:log-stream:STREAM`, the tagging operations on their
//! `resourceArn`, and DescribeLogGroups — not resource-scoped in AWS — on
//! `*`. A missing group or stream name is authorized on the ARN with an
//! empty name (never `*`); the operation then answers its validation error.

use serde_json::Value;

/// What an operation acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Not resource-scoped in AWS: `*`.
    Any,
    /// `logGroupName` or `logGroupIdentifier`.
    LogGroup,
    /// `logGroupName` and `logStreamName`.
    LogStream,
    /// `resourceArn`.
    Resource,
}

/// Every routed operation and what it is authorized on.
pub const OPERATIONS: &[(&str, Scope)] = &[
    ("CreateLogGroup", Scope::LogGroup),
    ("DeleteLogGroup", Scope::LogGroup),
    ("DescribeLogGroups", Scope::Any),
    ("CreateLogStream", Scope::LogStream),
    ("DeleteLogStream", Scope::LogStream),
    ("DescribeLogStreams", Scope::LogGroup),
    ("PutLogEvents", Scope::LogStream),
    ("GetLogEvents", Scope::LogStream),
    ("FilterLogEvents", Scope::LogGroup),
    ("PutRetentionPolicy", Scope::LogGroup),
    ("DeleteRetentionPolicy", Scope::LogGroup),
    ("TagLogGroup", Scope::LogGroup),
    ("UntagLogGroup", Scope::LogGroup),
    ("ListTagsLogGroup", Scope::LogGroup),
    ("TagResource", Scope::Resource),
    ("UntagResource", Scope::Resource),
    ("ListTagsForResource", Scope::Resource),
];

/// What `operation` acts on, or `None` when it is not routed.
pub fn scope_of(operation: &str) -> Option<Scope> {
    OPERATIONS.iter().find(|(op, _)| *op == operation).map(|(_, s)| *s)
}

/// The ARNs `operation` acts on, for the account's `region`/`account`
/// (none for an operation that is not routed: it is refused as unknown).
pub fn resource_arns(region: &str, account: &str, operation: &str, input: &Value) -> Vec<String> {
    let param = |name: &str| input.get(name).and_then(Value::as_str);
    let group = param("logGroupName")
        .or_else(|| param("logGroupIdentifier"))
        .map(group_name)
        .unwrap_or_default();
    let arn =
        |group: &str, stream: &str| format!("arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}");
    let arn = match scope_of(operation) {
        None => return Vec::new(),
        Some(Scope::Any) => "*".to_string(),
        Some(Scope::LogGroup) => arn(group, ""),
        Some(Scope::LogStream) => arn(group, param("logStreamName").unwrap_or_default()),
        Some(Scope::Resource) => param("resourceArn").map(str::to_string).unwrap_or_else(|| arn("", "")),
    };
    vec![arn]
}

/// A log group name, or the name inside a log group (or stream) ARN.
pub fn group_name(identifier: &str) -> &str {
    match identifier.split_once(":log-group:") {
        Some((_, rest)) if identifier.starts_with("arn:") => rest.split(':').next().unwrap_or(rest),
        _ => identifier,
    }
}

/// The log group whose tags `arn` carries (`None` for `*` and non-log-group ARNs).
pub fn group_of_arn(arn: &str) -> Option<&str> {
    (arn.starts_with("arn:") && arn.contains(":log-group:")).then(|| group_name(arn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: &str = "arn:aws:logs:us-east-1:000000000000:log-group:";

    #[test]
    fn group_and_stream_operations() {
        let r = |op: &str, input: Value| resource_arns("us-east-1", "000000000000", op, &input);
        assert_eq!(
            r("CreateLogGroup", json!({"logGroupName": "/app"})),
            vec![format!("{P}/app:log-stream:")]
        );
        assert_eq!(
            r("PutLogEvents", json!({"logGroupName": "/app", "logStreamName": "s/1"})),
            vec![format!("{P}/app:log-stream:s/1")]
        );
        assert_eq!(
            r("FilterLogEvents", json!({"logGroupIdentifier": format!("{P}/app:*")})),
            vec![format!("{P}/app:log-stream:")]
        );
        assert_eq!(r("DescribeLogGroups", json!({})), vec!["*"]);
        // A missing name is never `*`.
        assert_eq!(r("PutLogEvents", json!({})), vec![format!("{P}:log-stream:")]);
        assert_eq!(r("TagResource", json!({})), vec![format!("{P}:log-stream:")]);
        assert!(r("StartQuery", json!({})).is_empty());
        assert_eq!(
            r("TagResource", json!({"resourceArn": format!("{P}/app")})),
            vec![format!("{P}/app")]
        );
    }

    #[test]
    fn only_describe_log_groups_is_star() {
        let star: Vec<&str> = OPERATIONS
            .iter()
            .filter(|(_, s)| *s == Scope::Any)
            .map(|(op, _)| *op)
            .collect();
        assert_eq!(star, ["DescribeLogGroups"]);
        for (op, _) in OPERATIONS {
            let arns = resource_arns("us-east-1", "000000000000", op, &json!({"logGroupName": "/g"}));
            assert_eq!(arns.len(), 1, "{op}");
        }
    }

    #[test]
    fn group_names_of_arns() {
        assert_eq!(group_of_arn(&format!("{P}/app:log-stream:x")), Some("/app"));
        assert_eq!(group_of_arn(&format!("{P}/app:*")), Some("/app"));
        assert_eq!(group_of_arn(&format!("{P}/app")), Some("/app"));
        assert_eq!(group_of_arn("*"), None);
        assert_eq!(group_name("/plain"), "/plain");
    }
}
