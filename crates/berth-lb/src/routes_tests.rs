//! Every routed operation and the resources it is authorized on.

use super::TABLE;
use berth_core::arn::Scope;
use berth_proto::query::QueryInput;

const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/0123456789abcdef";
const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/0123456789abcdef";
const LISTENER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/0123456789abcdef/1111111111111111";
const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/0123456789abcdef/1111111111111111/2222222222222222";

/// (action, form after `Action=…`, the resources as `action@arn` — `@arn`
/// for the operation's own action — with `*` for none).
fn cases() -> Vec<(&'static str, String, Vec<String>)> {
    let own = |arn: &str| vec![format!("@{arn}")];
    vec![
        (
            "CreateLoadBalancer",
            "Name=web".into(),
            vec!["@NEW:loadbalancer/app/web/".into()],
        ),
        ("DescribeLoadBalancers", String::new(), vec![]),
        ("DeleteLoadBalancer", format!("LoadBalancerArn={LB}"), own(LB)),
        (
            "CreateTargetGroup",
            "Name=tg&Protocol=HTTP&Port=80".into(),
            vec!["@NEW:targetgroup/tg/".into()],
        ),
        ("DescribeTargetGroups", String::new(), vec![]),
        ("ModifyTargetGroup", format!("TargetGroupArn={TG}"), own(TG)),
        ("DeleteTargetGroup", format!("TargetGroupArn={TG}"), own(TG)),
        (
            "RegisterTargets",
            format!("TargetGroupArn={TG}&Targets.member.1.Id=i-1"),
            own(TG),
        ),
        (
            "DeregisterTargets",
            format!("TargetGroupArn={TG}&Targets.member.1.Id=i-1"),
            own(TG),
        ),
        ("DescribeTargetHealth", format!("TargetGroupArn={TG}"), vec![]),
        (
            "CreateListener",
            format!("LoadBalancerArn={LB}&DefaultActions.member.1.Type=forward"),
            own(LB),
        ),
        ("DescribeListeners", format!("LoadBalancerArn={LB}"), vec![]),
        ("ModifyListener", format!("ListenerArn={LISTENER}"), own(LISTENER)),
        ("DeleteListener", format!("ListenerArn={LISTENER}"), own(LISTENER)),
        (
            "CreateRule",
            format!("ListenerArn={LISTENER}&Priority=1&Conditions=&Actions.member.1.Type=forward"),
            own(LISTENER),
        ),
        ("DescribeRules", format!("ListenerArn={LISTENER}"), vec![]),
        ("ModifyRule", format!("RuleArn={RULE}"), own(RULE)),
        ("DeleteRule", format!("RuleArn={RULE}"), own(RULE)),
        (
            "SetRulePriorities",
            format!("RulePriorities.member.1.RuleArn={RULE}&RulePriorities.member.1.Priority=2"),
            own(RULE),
        ),
        (
            "DescribeLoadBalancerAttributes",
            format!("LoadBalancerArn={LB}"),
            vec![],
        ),
        (
            "ModifyLoadBalancerAttributes",
            format!("LoadBalancerArn={LB}&Attributes.member.1.Key=k&Attributes.member.1.Value=v"),
            own(LB),
        ),
        ("DescribeTargetGroupAttributes", format!("TargetGroupArn={TG}"), vec![]),
        (
            "ModifyTargetGroupAttributes",
            format!("TargetGroupArn={TG}&Attributes.member.1.Key=k&Attributes.member.1.Value=v"),
            own(TG),
        ),
        ("DescribeListenerAttributes", format!("ListenerArn={LISTENER}"), vec![]),
        (
            "ModifyListenerAttributes",
            format!("ListenerArn={LISTENER}&Attributes.member.1.Key=k&Attributes.member.1.Value=v"),
            own(LISTENER),
        ),
        (
            "AddTags",
            format!("ResourceArns.member.1={LB}&ResourceArns.member.2={TG}&Tags.member.1.Key=k"),
            vec![format!("@{LB}"), format!("@{TG}")],
        ),
        (
            "RemoveTags",
            format!("ResourceArns.member.1={LB}&TagKeys.member.1=k"),
            own(LB),
        ),
        ("DescribeTags", format!("ResourceArns.member.1={LB}"), vec![]),
    ]
}

fn form(action: &str, rest: &str) -> QueryInput {
    let text = format!(
        "Action={action}&Version=2015-12-01&{}",
        rest.replace(':', "%3A").replace('/', "%2F")
    );
    QueryInput::parse(text.as_bytes()).expect("a form")
}

fn shown(r: &berth_proto::AuthzResource) -> String {
    let arn = r
        .arn
        .replace("arn:aws:elasticloadbalancing:us-east-1:123456789012", "NEW");
    format!("{}@{arn}", r.action.clone().unwrap_or_default())
}

/// An expected entry ending with `/` names a new resource: its id is
/// drawn when the input is decoded.
fn matches(got: &str, expected: &str) -> bool {
    let expected = expected.replace("arn:aws:elasticloadbalancing:us-east-1:123456789012", "NEW");
    if expected.ends_with('/') {
        got.strip_prefix(expected.as_str())
            .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    } else {
        got == expected
    }
}

#[test]
fn every_routed_operation_names_its_resources() {
    let scope = Scope::new("us-east-1", "123456789012");
    let cases = cases();
    let listed: Vec<&str> = cases.iter().map(|c| c.0).collect();
    assert_eq!(TABLE.names(), listed, "every routed operation has its case");
    for (action, rest, expected) in cases {
        let resources = TABLE
            .resources_of(&scope, action, &form(action, &rest))
            .expect("routed")
            .unwrap_or_else(|e| panic!("{action}: {e:?}"));
        let got: Vec<String> = resources.iter().map(shown).collect();
        assert_eq!(got.len(), expected.len(), "{action}: {got:?}");
        for (g, e) in got.iter().zip(&expected) {
            assert!(matches(g, e), "{action}: {g} is not {e}");
        }
    }
    assert!(
        TABLE.find("DescribeTrustStores").is_none(),
        "an operation Berth does not serve is not routed"
    );
}

#[test]
fn tag_on_create_needs_add_tags_with_the_create_action() {
    let scope = Scope::new("us-east-1", "123456789012");
    let input = form(
        "CreateTargetGroup",
        "Name=tg&Protocol=HTTP&Port=80&Tags.member.1.Key=team&Tags.member.1.Value=a",
    );
    let resources = TABLE
        .resources_of(&scope, "CreateTargetGroup", &input)
        .unwrap()
        .unwrap();
    assert_eq!(resources.len(), 2);
    assert_eq!(resources[0].arn, resources[1].arn);
    assert_eq!(resources[1].action.as_deref(), Some("elasticloadbalancing:AddTags"));
    assert_eq!(
        resources[1].condition_keys,
        vec![(
            "elasticloadbalancing:CreateAction".to_string(),
            "CreateTargetGroup".to_string()
        )]
    );
    let listener = form(
        "CreateListener",
        &format!("LoadBalancerArn={LB}&DefaultActions.member.1.Type=forward&Tags.member.1.Key=k"),
    );
    let resources = TABLE
        .resources_of(&scope, "CreateListener", &listener)
        .unwrap()
        .unwrap();
    assert_eq!(resources[0].arn, LB);
    assert!(
        resources[1]
            .arn
            .starts_with(&LB.replace(":loadbalancer/", ":listener/"))
    );
    assert_eq!(resources[1].action.as_deref(), Some("elasticloadbalancing:AddTags"));
}
