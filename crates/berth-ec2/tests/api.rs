//! EC2 through its query service, on a real store: forms in, XML out, the
//! default VPC made once, a group a task interface uses not deletable,
//! a refused change leaving the records as they were, concurrent writers
//! all kept.

use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_ec2::{Ec2, STATE_KEY, TaskInterface, TaskInterfaces};
use berth_proto::query::{Dialect, QueryInput, QueryService, XmlStyle, xml};
use berth_proto::{AwsError, RequestContext};
use berth_testkit::ecs::{ACCOUNT, REGION, root_ctx};
use berth_testkit::memory_store;
use std::sync::{Arc, Mutex};

/// Task interfaces a test sets.
#[derive(Default)]
struct Interfaces(Mutex<Vec<TaskInterface>>);

#[async_trait]
impl TaskInterfaces for Interfaces {
    async fn interfaces(&self) -> Result<Vec<TaskInterface>, AwsError> {
        Ok(self.0.lock().unwrap().clone())
    }
}

fn ec2() -> (Ec2, Arc<Interfaces>, Arc<dyn berth_store::Store>) {
    let store = memory_store();
    let interfaces = Arc::new(Interfaces::default());
    let svc = Ec2::new(store.clone(), Scope::new(REGION, ACCOUNT), interfaces.clone());
    (svc, interfaces, store)
}

async fn call(svc: &Ec2, action: &str, params: &[(&str, &str)]) -> Result<String, AwsError> {
    let mut pairs = vec![("Action", action), ("Version", berth_ec2::VERSION)];
    pairs.extend_from_slice(params);
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", berth_proto::query::url_encode(v)))
        .collect();
    let input = QueryInput::parse(body.join("&").as_bytes()).expect("a form");
    let ctx: RequestContext = root_ctx();
    let result = svc.prepare(&ctx, action, &input).await?.run().await?;
    let style = XmlStyle {
        namespace: berth_ec2::XML_NS,
        dialect: Dialect::Ec2,
    };
    Ok(xml::response(action, style, &result, "req-1"))
}

fn text(xml: &str, tag: &str) -> String {
    let start = xml
        .find(&format!("<{tag}>"))
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        + tag.len()
        + 2;
    let end = start + xml[start..].find(&format!("</{tag}>")).expect("closed");
    xml[start..end].to_string()
}

#[tokio::test]
async fn the_default_vpc_is_made_once_and_a_group_in_use_stays() {
    let (svc, interfaces, _) = ec2();
    let first = call(&svc, "DescribeVpcs", &[]).await.unwrap();
    let again = call(&svc, "DescribeVpcs", &[]).await.unwrap();
    assert_eq!(text(&first, "vpcId"), text(&again, "vpcId"));
    let group = text(
        &call(
            &svc,
            "CreateSecurityGroup",
            &[("GroupName", "web"), ("GroupDescription", "web")],
        )
        .await
        .unwrap(),
        "groupId",
    );
    interfaces.0.lock().unwrap().push(TaskInterface {
        id: "eni-0123456789abcdef0".into(),
        subnet_id: "subnet-0123456789abcdef0".into(),
        availability_zone: format!("{REGION}a"),
        private_ip: "10.213.0.2".into(),
        mac_address: "0a:58:0a:d5:00:02".into(),
        private_dns_name: "ip-10-213-0-2.ec2.internal".into(),
        groups: vec![group.clone()],
        task_arn: "arn:aws:ecs:task".into(),
    });
    let e = call(&svc, "DeleteSecurityGroup", &[("GroupId", &group)])
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        (
            "DependencyViolation",
            format!("resource {group} has a dependent object").as_str()
        )
    );
    let enis = call(
        &svc,
        "DescribeNetworkInterfaces",
        &[("Filter.1.Name", "group-id"), ("Filter.1.Value.1", &group)],
    )
    .await
    .unwrap();
    assert_eq!(text(&enis, "privateIpAddress"), "10.213.0.2");
    assert_eq!(text(&enis, "groupName"), "web");
    interfaces.0.lock().unwrap().clear();
    call(&svc, "DeleteSecurityGroup", &[("GroupId", &group)]).await.unwrap();
}

#[tokio::test]
async fn a_refused_change_leaves_the_records_as_they_were() {
    let (svc, _, store) = ec2();
    let group = text(
        &call(
            &svc,
            "CreateSecurityGroup",
            &[("GroupName", "web"), ("GroupDescription", "web")],
        )
        .await
        .unwrap(),
        "groupId",
    );
    let before = store.get(STATE_KEY).await.unwrap().expect("stored").value;
    // The second permission is bad: neither is added.
    let e = call(
        &svc,
        "AuthorizeSecurityGroupIngress",
        &[
            ("GroupId", &group),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", "80"),
            ("IpPermissions.1.ToPort", "80"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8"),
            ("IpPermissions.2.IpProtocol", "tcp"),
            ("IpPermissions.2.FromPort", "80"),
            ("IpPermissions.2.ToPort", "80"),
            ("IpPermissions.2.Groups.1.GroupId", "sg-0123456789abcdef0"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "InvalidGroup.NotFound");
    assert_eq!(store.get(STATE_KEY).await.unwrap().expect("stored").value, before);
    let e = call(&svc, "CreateSecurityGroup", &[("GroupName", "x")])
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        (
            "MissingParameter",
            "The request must contain the parameter groupDescription"
        )
    );
}

#[tokio::test]
async fn concurrent_writers_are_all_kept() {
    let (svc, _, _) = ec2();
    let names: Vec<String> = (0..8).map(|i| format!("g{i}")).collect();
    let calls = names.iter().map(|n| {
        let svc = svc.clone();
        let n = n.clone();
        async move {
            call(
                &svc,
                "CreateSecurityGroup",
                &[("GroupName", &n), ("GroupDescription", "d")],
            )
            .await
        }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let all = call(&svc, "DescribeSecurityGroups", &[]).await.unwrap();
    for n in &names {
        assert!(all.contains(&format!("<groupName>{n}</groupName>")), "{n} kept");
    }
}
