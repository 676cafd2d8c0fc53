//! The resources a CloudWatch Logs operation is authorized on, as the
//! Service Authorization Reference names them (pure), each derived from an
//! operation's typed input ([`crate::inputs`]; the registration table
//! [`crate::routes`] routes nothing else): log-group operations on
//! `…:log-group:GROUP:log-stream:` (so policies written `log-group:GROUP:*`
//! match, as in AWS), stream and event operations on
//! `…:log-group:GROUP:log-stream:STREAM`, the tagging operations on their
//! `resourceArn`, and DescribeLogGroups — not resource-scoped in AWS — on
//! `*`. An empty group or stream name is authorized on the ARN with an
//! empty name (never `*`); the operation then answers its validation error.

/// What the ARNs of a request are named in: the service's region and the
/// account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub region: String,
    pub account_id: String,
}

/// `…:log-group:GROUP:log-stream:` — what log-group operations are
/// authorized on (`GROUP` a name, or the name inside an ARN).
pub fn group_arn(scope: &Scope, group: &str) -> String {
    stream_arn(scope, group, "")
}

/// `…:log-group:GROUP:log-stream:STREAM`.
pub fn stream_arn(scope: &Scope, group: &str, stream: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{}:log-stream:{stream}",
        scope.region,
        scope.account_id,
        group_name(group)
    )
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

    const P: &str = "arn:aws:logs:us-east-1:000000000000:log-group:";

    #[test]
    fn group_and_stream_arns() {
        let s = Scope {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        };
        assert_eq!(group_arn(&s, "/app"), format!("{P}/app:log-stream:"));
        assert_eq!(stream_arn(&s, "/app", "s/1"), format!("{P}/app:log-stream:s/1"));
        assert_eq!(group_arn(&s, &format!("{P}/app:*")), format!("{P}/app:log-stream:"));
        assert_eq!(stream_arn(&s, "", ""), format!("{P}:log-stream:"));
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
