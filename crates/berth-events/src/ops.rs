//! The registration table: every EventBridge operation Berth routes, each
//! authorized on the resource AWS's service authorization reference names
//! (a rule of the default bus `arn:aws:events:REGION:ACCOUNT:rule/NAME`,
//! the bus itself for PutEvents, `connection/NAME` and
//! `api-destination/NAME` for connections and API destinations, plus
//! `iam:PassRole` on the roles PutTargets hands to EventBridge; ListRules,
//! ListConnections, ListApiDestinations and TestEventPattern are not
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

        const ENTRIES: &[Entry<Events>] = &[$(entry::<Events, $name>()),*, entry::<Events, PutTargets>()];
    };
}

fn bus_arn(scope: &Scope) -> String {
    scope.arn("events", format!("event-bus/{}", crate::DEFAULT_BUS))
}

/// The connection resource IAM authorizes (`connection/NAME`).
fn connection_arn(scope: &Scope, name: &str) -> String {
    scope.arn("events", format!("connection/{name}"))
}

/// The API destination resource IAM authorizes (`api-destination/NAME`).
fn destination_arn(scope: &Scope, name: &str) -> String {
    scope.arn("events", format!("api-destination/{name}"))
}

/// PutTargets: the rule, and `iam:PassRole` on each role its targets name.
pub(crate) struct PutTargets;

#[async_trait]
impl Operation<Events> for PutTargets {
    const NAME: &'static str = "PutTargets";
    type Input = PutTargetsInput;

    fn resources(scope: &Scope, i: &PutTargetsInput) -> Vec<AuthzResource> {
        let mut out = vec![AuthzResource::untagged(rule_arn(scope, &i.rule))];
        out.extend(crate::targets::passed_roles(i));
        out
    }

    async fn run(e: &Events, _ctx: &RequestContext, x: PutTargetsInput) -> Result<Value, AwsError> {
        e.put_targets(x).await
    }
}

operations! {
    PutRule(PutRuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.put_rule(x);
    DescribeRule(RuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.describe_rule(x);
    ListRules(ListRulesInput) [s, i => "*"] => |e, x| e.list_rules(x);
    DeleteRule(RuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.delete_rule(x);
    EnableRule(RuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.set_rule_state(x, RuleState::Enabled);
    DisableRule(RuleInput) [s, i => rule_arn(s, &i.name)] => |e, x| e.set_rule_state(x, RuleState::Disabled);
    RemoveTargets(RemoveTargetsInput) [s, i => rule_arn(s, &i.rule)] => |e, x| e.remove_targets(x);
    ListTargetsByRule(ListTargetsInput) [s, i => rule_arn(s, &i.rule)] => |e, x| e.list_targets(x);
    PutEvents(PutEventsInput) [s, i => bus_arn(s)] => |e, x| e.put_events(x);
    TestEventPattern(TestEventPatternInput) [s, i => "*"] => |e, x| e.test_event_pattern(x);
    CreateConnection(ConnectionInput) [s, i => connection_arn(s, &i.name)] => |e, x| e.create_connection(x);
    DescribeConnection(NameInput) [s, i => connection_arn(s, &i.name)] => |e, x| e.describe_connection(x);
    ListConnections(ListConnectionsInput) [s, i => "*"] => |e, x| e.list_connections(x);
    UpdateConnection(ConnectionInput) [s, i => connection_arn(s, &i.name)] => |e, x| e.update_connection(x);
    DeleteConnection(NameInput) [s, i => connection_arn(s, &i.name)] => |e, x| e.delete_connection(x);
    DeauthorizeConnection(NameInput) [s, i => connection_arn(s, &i.name)] => |e, x| e.deauthorize_connection(x);
    CreateApiDestination(ApiDestinationInput) [s, i => destination_arn(s, &i.name)] => |e, x| e.create_api_destination(x);
    DescribeApiDestination(NameInput) [s, i => destination_arn(s, &i.name)] => |e, x| e.describe_api_destination(x);
    ListApiDestinations(ListApiDestinationsInput) [s, i => "*"] => |e, x| e.list_api_destinations(x);
    UpdateApiDestination(ApiDestinationInput) [s, i => destination_arn(s, &i.name)] => |e, x| e.update_api_destination(x);
    DeleteApiDestination(NameInput) [s, i => destination_arn(s, &i.name)] => |e, x| e.delete_api_destination(x);
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
        let input = json!({"Name": "r", "Rule": "r", "Ids": [], "Entries": [], "EventPattern": "{}", "Event": "{}",
            "Targets": [{"Id": "a", "Arn": "x", "RoleArn": "arn:aws:iam::000000000000:role/eb"},
                        {"Id": "b", "Arn": "y", "RoleArn": "arn:aws:iam::000000000000:role/eb"}]});
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
        let conn = "arn:aws:events:us-east-1:000000000000:connection/r";
        let dest = "arn:aws:events:us-east-1:000000000000:api-destination/r";
        assert_eq!(
            got,
            [
                ("PutRule", rule.to_string()),
                ("DescribeRule", rule.to_string()),
                ("ListRules", "*".to_string()),
                ("DeleteRule", rule.to_string()),
                ("EnableRule", rule.to_string()),
                ("DisableRule", rule.to_string()),
                ("RemoveTargets", rule.to_string()),
                ("ListTargetsByRule", rule.to_string()),
                ("PutEvents", bus.to_string()),
                ("TestEventPattern", "*".to_string()),
                ("CreateConnection", conn.to_string()),
                ("DescribeConnection", conn.to_string()),
                ("ListConnections", "*".to_string()),
                ("UpdateConnection", conn.to_string()),
                ("DeleteConnection", conn.to_string()),
                ("DeauthorizeConnection", conn.to_string()),
                ("CreateApiDestination", dest.to_string()),
                ("DescribeApiDestination", dest.to_string()),
                ("ListApiDestinations", "*".to_string()),
                ("UpdateApiDestination", dest.to_string()),
                ("DeleteApiDestination", dest.to_string()),
                ("PutTargets", format!("{rule},arn:aws:iam::000000000000:role/eb")),
            ]
        );
        let put = OPERATIONS
            .resources_of(&scope, "PutTargets", input)
            .expect("routed")
            .expect("decodes");
        assert_eq!(put[1].action.as_deref(), Some("iam:PassRole"));
        assert_eq!(
            put[1].condition_keys,
            [("iam:PassedToService".to_string(), "events.amazonaws.com".to_string())]
        );
    }
}
