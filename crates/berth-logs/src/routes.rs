//! The registration table: every CloudWatch Logs operation Berth routes,
//! each a typed operation ([`berth_proto::operation`]): its input decoded
//! once ([`crate::inputs`]), authorized on the resource that input names,
//! run by its handler ([`crate::handlers`]). An operation not in the table
//! is `UnknownOperationException`.

use crate::Logs;
use crate::authz::Scope;
use crate::inputs::*;
use async_trait::async_trait;
use berth_proto::operation::{Entry, Operation, OperationService, Table, entry};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde_json::Value;

impl OperationService for Logs {
    type Scope = Scope;

    fn scope(&self, _ctx: &RequestContext) -> Scope {
        Scope {
            region: self.region.clone(),
            account_id: self.account_id.clone(),
        }
    }

    fn table() -> &'static Table<Logs> {
        &OPERATIONS
    }
}

/// Declares each operation: its type, typed input and handler; its
/// resource is its input's [`Resource`].
macro_rules! operations {
    ($($name:ident($input:ty) => $handler:ident;)*) => {
        $(
            pub(crate) struct $name;

            #[async_trait]
            impl Operation<Logs> for $name {
                const NAME: &'static str = stringify!($name);
                type Input = $input;

                fn resources(scope: &Scope, input: &$input) -> Vec<AuthzResource> {
                    vec![AuthzResource::untagged(input.arn(scope))]
                }

                async fn run(logs: &Logs, _ctx: &RequestContext, input: $input) -> Result<Value, AwsError> {
                    logs.$handler(input).await
                }
            }
        )*

        const ENTRIES: &[Entry<Logs>] = &[$(entry::<Logs, $name>()),*];
    };
}

operations! {
    CreateLogGroup(CreateLogGroupInput) => create_log_group;
    DeleteLogGroup(GroupInput) => delete_log_group;
    DescribeLogGroups(DescribeLogGroupsInput) => describe_log_groups;
    CreateLogStream(StreamInput) => create_log_stream;
    DeleteLogStream(StreamInput) => delete_log_stream;
    DescribeLogStreams(DescribeLogStreamsInput) => describe_log_streams;
    PutLogEvents(PutLogEventsInput) => put_log_events;
    GetLogEvents(GetLogEventsInput) => get_log_events;
    FilterLogEvents(FilterLogEventsInput) => filter_log_events;
    PutRetentionPolicy(RetentionInput) => put_retention_policy;
    DeleteRetentionPolicy(GroupInput) => delete_retention_policy;
    TagLogGroup(TagLogGroupInput) => tag_log_group;
    UntagLogGroup(UntagLogGroupInput) => untag_log_group;
    ListTagsLogGroup(GroupInput) => list_tags_log_group;
    TagResource(TagResourceInput) => tag_resource;
    UntagResource(UntagResourceInput) => untag_resource;
    ListTagsForResource(ResourceArnInput) => list_tags_for_resource;
}

/// Every operation Berth routes.
pub(crate) static OPERATIONS: Table<Logs> = Table(ENTRIES);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: &str = "arn:aws:logs:us-east-1:000000000000:log-group:";

    fn scope() -> Scope {
        Scope {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        }
    }

    /// The ARNs `op` is authorized on for `input`: none when it is not
    /// routed.
    fn r(op: &str, input: Value) -> Vec<String> {
        match OPERATIONS.resources_of(&scope(), op, input) {
            None => Vec::new(),
            Some(res) => res
                .unwrap_or_else(|e| panic!("{op}: {e:?}"))
                .into_iter()
                .map(|r| r.arn)
                .collect(),
        }
    }

    /// An input with the required members of `op`.
    fn full_for(op: &str) -> Value {
        let mut v = json!({
            "logGroupName": "/g", "logStreamName": "s", "logEvents": [], "retentionInDays": 1,
            "tags": {}, "resourceArn": format!("{P}/g"), "tagKeys": [],
        });
        if op == "UntagLogGroup" {
            v["tags"] = json!([]);
        }
        v
    }

    #[test]
    fn group_and_stream_operations() {
        assert_eq!(
            r("CreateLogGroup", json!({"logGroupName": "/app"})),
            vec![format!("{P}/app:log-stream:")]
        );
        assert_eq!(
            r(
                "PutLogEvents",
                json!({"logGroupName": "/app", "logStreamName": "s/1", "logEvents": []})
            ),
            vec![format!("{P}/app:log-stream:s/1")]
        );
        assert_eq!(
            r("FilterLogEvents", json!({"logGroupIdentifier": format!("{P}/app:*")})),
            vec![format!("{P}/app:log-stream:")]
        );
        assert_eq!(r("DescribeLogGroups", json!({})), vec!["*"]);
        // An empty name is never `*`.
        assert_eq!(
            r(
                "PutLogEvents",
                json!({"logGroupName": "", "logStreamName": "", "logEvents": []})
            ),
            vec![format!("{P}:log-stream:")]
        );
        assert_eq!(
            r("TagResource", json!({"resourceArn": "", "tags": {}})),
            vec![format!("{P}:log-stream:")]
        );
        assert!(r("StartQuery", json!({})).is_empty());
        assert_eq!(
            r("TagResource", json!({"resourceArn": format!("{P}/app"), "tags": {}})),
            vec![format!("{P}/app")]
        );
    }

    #[test]
    fn a_missing_required_name_is_refused_before_authorization() {
        let err = OPERATIONS
            .resources_of(&scope(), "PutLogEvents", json!({}))
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code, "SerializationException");
    }

    /// Every routed operation and what it is authorized on.
    #[test]
    fn every_routed_operation_and_its_resource() {
        let g = format!("{P}/g:log-stream:");
        let s = format!("{P}/g:log-stream:s");
        let expected: &[(&str, &str)] = &[
            ("CreateLogGroup", &g),
            ("DeleteLogGroup", &g),
            ("DescribeLogGroups", "*"),
            ("CreateLogStream", &s),
            ("DeleteLogStream", &s),
            ("DescribeLogStreams", &g),
            ("PutLogEvents", &s),
            ("GetLogEvents", &s),
            ("FilterLogEvents", &g),
            ("PutRetentionPolicy", &g),
            ("DeleteRetentionPolicy", &g),
            ("TagLogGroup", &g),
            ("UntagLogGroup", &g),
            ("ListTagsLogGroup", &g),
            ("TagResource", &format!("{P}/g")),
            ("UntagResource", &format!("{P}/g")),
            ("ListTagsForResource", &format!("{P}/g")),
        ];
        assert_eq!(
            OPERATIONS.names(),
            expected.iter().map(|(op, _)| *op).collect::<Vec<_>>()
        );
        for (op, arn) in expected {
            assert_eq!(r(op, full_for(op)), vec![arn.to_string()], "{op}");
        }
    }

    #[test]
    fn only_describe_log_groups_is_star() {
        let star: Vec<&str> = OPERATIONS
            .names()
            .into_iter()
            .filter(|op| r(op, full_for(op)) == ["*"])
            .collect();
        assert_eq!(star, ["DescribeLogGroups"]);
        for op in OPERATIONS.names() {
            assert_eq!(r(op, full_for(op)).len(), 1, "{op}");
        }
    }
}
