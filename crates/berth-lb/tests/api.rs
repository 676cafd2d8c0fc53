//! ELBv2 through its awsQuery service, on a real store: forms in, XML out,
//! the model's ValidationError before anything runs, concurrent writers,
//! the records as the data plane will read them, nothing half-stored.

use berth_core::arn::Scope;
use berth_lb::Elbv2;
use berth_proto::query::{QueryInput, QueryService, XmlStyle, xml};
use berth_proto::{AwsError, RequestContext};
use berth_testkit::ecs::{ACCOUNT, REGION, root_ctx};
use berth_testkit::memory_store;
use std::sync::Arc;

fn elbv2() -> (Elbv2, Arc<dyn berth_store::Store>) {
    let store = memory_store();
    (Elbv2::new(store.clone(), Scope::new(REGION, ACCOUNT)), store)
}

fn form(action: &str, params: &[(&str, &str)]) -> QueryInput {
    let mut pairs = vec![("Action", action), ("Version", "2015-12-01")];
    pairs.extend_from_slice(params);
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", berth_proto::query::url_encode(v)))
        .collect();
    let body = body.join("&");
    QueryInput::parse(body.as_bytes()).expect("a form")
}

/// Runs `action` as root through the same path as the listener; the XML answer.
async fn call(svc: &Elbv2, action: &str, params: &[(&str, &str)]) -> Result<String, AwsError> {
    let ctx: RequestContext = root_ctx();
    let input = form(action, params);
    let prepared = svc.prepare(&ctx, action, &input).await?;
    let result = prepared.run().await?;
    Ok(xml::response(
        action,
        XmlStyle::query(berth_lb::XML_NS),
        &result,
        "req-1",
    ))
}

async fn ok(svc: &Elbv2, action: &str, params: &[(&str, &str)]) -> String {
    call(svc, action, params)
        .await
        .unwrap_or_else(|e| panic!("{action}: {e:?}"))
}

/// The text of the first `<tag>` in `xml`.
fn first(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).expect("closed") + start;
    xml[start..end].to_string()
}

#[tokio::test]
async fn a_load_balancer_answers_in_elbv2_xml() {
    let (svc, _) = elbv2();
    let out = ok(
        &svc,
        "CreateLoadBalancer",
        &[
            ("Name", "web"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "a"),
        ],
    )
    .await;
    assert!(out.starts_with(&format!(
        "<CreateLoadBalancerResponse xmlns=\"{}\"><CreateLoadBalancerResult><LoadBalancers><member><LoadBalancerArn>arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/",
        berth_lb::XML_NS
    )), "{out}");
    assert!(out.contains("<Type>application</Type>"), "{out}");
    assert!(out.contains("<State><Code>active</Code></State>"), "{out}");
    let arn = first(&out, "LoadBalancerArn");
    let tags = ok(&svc, "DescribeTags", &[("ResourceArns.member.1", &arn)]).await;
    assert!(
        tags.contains("<Tags><member><Key>team</Key><Value>a</Value></member></Tags>"),
        "{tags}"
    );
    let deleted = ok(&svc, "DeleteLoadBalancer", &[("LoadBalancerArn", &arn)]).await;
    assert!(
        deleted.contains("<DeleteLoadBalancerResult></DeleteLoadBalancerResult>"),
        "{deleted}"
    );
}

#[tokio::test]
async fn the_model_is_checked_before_anything_runs() {
    let (svc, store) = elbv2();
    let e = call(
        &svc,
        "CreateTargetGroup",
        &[
            ("Name", "tg"),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("HealthCheckIntervalSeconds", "0"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "ValidationError");
    assert_eq!(
        e.message,
        "1 validation error detected: Value '0' at 'healthCheckIntervalSeconds' failed to satisfy constraint: \
         Member must have value greater than or equal to 5"
    );
    let e = call(&svc, "CreateLoadBalancer", &[("Type", "classic")])
        .await
        .unwrap_err();
    assert_eq!(
        e.message,
        "2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must not be null; \
         Value 'classic' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [application, network, gateway]"
    );
    assert_eq!(
        call(&svc, "DescribeTrustStores", &[]).await.unwrap_err().code,
        "InvalidAction"
    );
    // What Berth does not serve is refused, not ignored.
    let e = call(
        &svc,
        "CreateRule",
        &[
            (
                "ListenerArn",
                "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/w/1/2",
            ),
            ("Priority", "1"),
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.PathPatternConfig.RegexValues.member.1", "^/a$"),
            ("Actions.member.1.Type", "forward"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("InvalidConfigurationRequest", "'RegexValues' is not supported by Berth")
    );
    assert_eq!(store.current_revision().await.unwrap(), 0, "nothing written");
}

#[tokio::test]
async fn concurrent_creations_of_one_name_store_one_load_balancer() {
    let (svc, _) = elbv2();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            call(&svc, "CreateLoadBalancer", &[("Name", "race")]).await
        }));
    }
    let mut arns = Vec::new();
    for t in tasks {
        arns.push(first(
            &t.await.unwrap().expect("created or the same"),
            "LoadBalancerArn",
        ));
    }
    arns.dedup();
    assert_eq!(arns.len(), 1, "{arns:?}");
    assert_eq!(svc.snapshot().await.unwrap().lbs.len(), 1);
}

#[tokio::test]
async fn records_hold_what_the_proxy_needs_and_a_refusal_writes_nothing() {
    let (svc, store) = elbv2();
    let lb = first(
        &ok(&svc, "CreateLoadBalancer", &[("Name", "web")]).await,
        "LoadBalancerArn",
    );
    let tg = first(
        &ok(
            &svc,
            "CreateTargetGroup",
            &[("Name", "tg"), ("Protocol", "HTTP"), ("Port", "80")],
        )
        .await,
        "TargetGroupArn",
    );
    ok(
        &svc,
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "i-1"),
            ("Targets.member.1.Port", "32768"),
        ],
    )
    .await;
    let listener = first(
        &ok(
            &svc,
            "CreateListener",
            &[
                ("LoadBalancerArn", &lb),
                ("Protocol", "HTTP"),
                ("Port", "8080"),
                ("DefaultActions.member.1.Type", "forward"),
                ("DefaultActions.member.1.TargetGroupArn", &tg),
            ],
        )
        .await,
        "ListenerArn",
    );
    let before = store.current_revision().await.unwrap();
    let e = call(
        &svc,
        "CreateRule",
        &[
            ("ListenerArn", &listener),
            ("Priority", "1"),
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.Values.member.1", "/a"),
            ("Actions.member.1.Type", "forward"),
            (
                "Actions.member.1.TargetGroupArn",
                "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/none/0",
            ),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "TargetGroupNotFound");
    assert_eq!(
        e.message,
        "Target groups 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/none/0' not found"
    );
    assert_eq!(store.current_revision().await.unwrap(), before, "nothing half-stored");
    let keys: Vec<String> = store
        .range("elbv2/", None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    let kinds: Vec<&str> = keys.iter().map(|k| k.split('/').nth(1).unwrap()).collect();
    assert_eq!(kinds, vec!["listeners", "loadbalancers", "serial", "targetgroups"]);
    let state = svc.snapshot().await.unwrap();
    let l = &state.listeners[&listener];
    assert_eq!((l.port, l.protocol.as_str()), (8080, "HTTP"));
    let group = &state.tgs[&tg];
    assert_eq!((group.targets[0].id.as_str(), group.targets[0].port), ("i-1", 32768));
    assert_eq!(group.health_check.path.as_deref(), Some("/"));
}
