//! The resources a CloudWatch Logs operation is authorized on, as AWS names
//! them (pure): log-group operations on `…:log-group:GROUP:log-stream:` (so
//! policies written `log-group:GROUP:*` match, as in AWS), stream and event
//! operations on `…:log-group:GROUP:log-stream:STREAM`, the tagging
//! operations on their `resourceArn`, DescribeLogGroups on `*`.

use serde_json::Value;

/// The ARNs `operation` acts on, for the account's `region`/`account`.
pub fn resource_arns(region: &str, account: &str, operation: &str, input: &Value) -> Vec<String> {
    let param = |name: &str| input.get(name).and_then(Value::as_str);
    let group = param("logGroupName")
        .or_else(|| param("logGroupIdentifier"))
        .map(|g| group_name(g).to_string());
    let arn =
        |group: &str, stream: &str| format!("arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}");
    let arns = match operation {
        "CreateLogStream" | "DeleteLogStream" | "PutLogEvents" | "GetLogEvents" => {
            group.map(|g| arn(&g, param("logStreamName").unwrap_or_default()))
        }
        "TagResource" | "UntagResource" | "ListTagsForResource" => param("resourceArn").map(str::to_string),
        "DescribeLogGroups" => None,
        _ => group.map(|g| arn(&g, "")),
    };
    vec![arns.unwrap_or_else(|| "*".to_string())]
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
        assert_eq!(r("PutLogEvents", json!({})), vec!["*"]);
        assert_eq!(
            r("TagResource", json!({"resourceArn": format!("{P}/app")})),
            vec![format!("{P}/app")]
        );
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
