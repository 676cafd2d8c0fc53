//! The registration table: every EventBridge operation Berth routes, each
//! authorized on the resource AWS's service authorization reference names
//! (a rule of the default bus `arn:aws:events:REGION:ACCOUNT:rule/NAME`,
//! the bus itself for PutEvents; ListRules and TestEventPattern are not
//! resource-scoped). An operation not in the table is
//! `UnknownOperationException`.

use crate::inputs::*;
use crate::records::RuleState;
use crate::{Events, rule_arn};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::operation::{Entry, Operation, OperationService, Table, entry};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde_json::Value;

impl OperationService for Events {
    type Scope = Scope;

    fn scope(&self, _ctx: &RequestContext) -> Scope {
        self.scope.clone()
    }

    fn table() -> &'static Table<Events> {
        &OPERATIONS
    }
}

macro_rules! operations {
    ($($name:ident($input:ty) [$scope:ident, $i:ident => $arn:expr] => |$ev:ident, $x:ident| $run:expr;)*) => {
        $(
            pub(crate) struct $name;

            #[async_trait]
            impl Operation<Events> for $name {
                const NAME: &'static str = stringify!($name);
                type Input = $input;

                #[allow(unused_variables)]
                fn resources($scope: &Scope, $i: &$input) -> Vec<AuthzResource> {
                    vec![AuthzResource::untagged($arn)]
                }

                async fn run($ev: &Events, _ctx: &RequestContext, $x: $input) -> Result<Value, AwsError> {
                    $run.await
                }
            }
        )*

        const ENTRIES: &[Entry<Events>] = &[$(entry::<Events, $name>()),*];
    };
}

fn bus_arn(scope: &Scope) -> String {
    scope.arn("events", format!("event-bus/{}", crate::DEFAULT_BUS))
}

operations! {
    PutRule(PutRuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.put_rule(x);
    DescribeRule(RuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.describe_rule(x);
    ListRules(ListRulesInput) [s, i => "*"] => |e, x| e.list_rules(x);
    DeleteRule(RuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.delete_rule(x);
    EnableRule(RuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.set_rule_state(x, RuleState::Enabled);
    DisableRule(RuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.set_rule_state(x, RuleState::Disabled);
    PutTargets(PutTargetsInput) [s, i => rule_arn(s, &i.rule)] => |e, x| e.put_targets(x);
    RemoveTargets(RemoveTargetsInput) [s, i => rule_arn(s, &i.rule)] => |e, x| e.remove_targets(x);
    ListTargetsByRule(ListTargetsInput) [s, i => rule_arn(s, &i.rule)] => |e, x| e.list_targets(x);
    PutEvents(PutEventsInput) [s, i => bus_arn(s)] => |e, x| e.put_events(x);
    TestEventPattern(TestEventPatternInput) [s, i => "*"] => |e, x| e.test_event_pattern(x);
}

/// Every operation Berth routes.
pub(crate) static OPERATIONS: Table<Events> = Table(ENTRIES);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_routed_operation_and_its_resource() {
        let scope = Scope::new("us-east-1", "000000000000");
        let input = json!({"Name": "r", "Rule": "r", "Targets": [], "Ids": [], "Entries": [], "EventPattern": "{}", "Event": "{}"});
        let got: Vec<(&str, String)> = OPERATIONS
            .names()
            .into_iter()
            .map(|op| {
                let res = OPERATIONS
                    .resources_of(&scope, op, input.clone())
                    .expect("routed")
                    .expect("decodes");
                (op, res.into_iter().map(|r| r.arn).collect::<Vec<_>>().join(","))
            })
            .collect();
        let rule = "arn:aws:events:us-east-1:000000000000:rule/r";
        let bus = "arn:aws:events:us-east-1:000000000000:event-bus/default";
        assert_eq!(
            got,
            [
                ("PutRule", rule.to_string()),
                ("DescribeRule", rule.to_string()),
                ("ListRules", "*".to_string()),
                ("DeleteRule", rule.to_string()),
                ("EnableRule", rule.to_string()),
                ("DisableRule", rule.to_string()),
                ("PutTargets", rule.to_string()),
                ("RemoveTargets", rule.to_string()),
                ("ListTargetsByRule", rule.to_string()),
                ("PutEvents", bus.to_string()),
                ("TestEventPattern", "*".to_string()),
            ]
        );
    }
}
