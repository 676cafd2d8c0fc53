//! ELBv2, a regional awsQuery service: served unless the server runs with
//! `BERTH_ELBV2=0`, answered by the region the request is signed for, its
//! errors in its own namespace.

use super::*;

const EU: &str = "eu-west-1";
const AP: &str = "ap-south-1";
const ELB_NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

fn elbv2(form: &str, region: &str) -> Call {
    Call::query(&format!("Version=2015-12-01&{form}")).signed(Signer::root("elasticloadbalancing").region(region))
}

#[tokio::test]
async fn a_load_balancer_lives_in_the_region_it_was_created_in() {
    let server = Server::with_elbv2(&[EU, AP]).await;
    let created = server.call(elbv2("Action=CreateLoadBalancer&Name=web", AP)).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let arn = xml_text(&created.text(), "LoadBalancerArn").expect("an ARN");
    assert!(
        arn.starts_with(&format!(
            "arn:aws:elasticloadbalancing:{AP}:{ACCOUNT}:loadbalancer/app/web/"
        )),
        "{arn}"
    );
    assert!(
        created
            .text()
            .starts_with(&format!("<CreateLoadBalancerResponse xmlns=\"{ELB_NS}\">"))
    );
    let in_ap = server.call(elbv2("Action=DescribeLoadBalancers", AP)).await.text();
    assert_eq!(xml_text(&in_ap, "LoadBalancerArn"), Some(arn));
    let in_eu = server
        .call(elbv2("Action=DescribeLoadBalancers&Names.member.1=web", EU))
        .await;
    assert_eq!(in_eu.status, StatusCode::BAD_REQUEST);
    let xml = in_eu.text();
    assert!(
        xml.starts_with(&format!("<ErrorResponse xmlns=\"{ELB_NS}\"><Error><Type>Sender</Type>")),
        "{xml}"
    );
    assert_eq!(xml_text(&xml, "Code").as_deref(), Some("LoadBalancerNotFound"));
    assert_eq!(
        xml_text(&xml, "Message").as_deref(),
        Some("Load balancers '[web]' not found")
    );
}

#[tokio::test]
async fn turned_off_elbv2_is_not_served() {
    let server = Server::start().await;
    let answer = server.call(elbv2("Action=DescribeLoadBalancers", REGION)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    let (code, message) = answer.query_error();
    assert_eq!(code, "InvalidAction");
    assert_eq!(
        message,
        "Could not find operation DescribeLoadBalancers for this endpoint"
    );
}

#[tokio::test]
async fn a_user_without_policies_is_refused_in_elbv2s_words() {
    let server = Server::with_elbv2(&[REGION]).await;
    let iam = |form: &str| Call::query(&format!("Version=2010-05-08&{form}")).signed(Signer::root("iam"));
    assert_eq!(
        server.call(iam("Action=CreateUser&UserName=u")).await.status,
        StatusCode::OK
    );
    let key = server.call(iam("Action=CreateAccessKey&UserName=u")).await.text();
    let (id, secret) = (
        xml_text(&key, "AccessKeyId").expect("a key id"),
        xml_text(&key, "SecretAccessKey").expect("a secret"),
    );
    let denied = server
        .call(
            Call::query("Version=2015-12-01&Action=CreateLoadBalancer&Name=web")
                .signed(Signer::root("elasticloadbalancing").key(&id, &secret)),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.text());
    let xml = denied.text();
    assert!(xml.starts_with(&format!("<ErrorResponse xmlns=\"{ELB_NS}\">")), "{xml}");
    assert_eq!(xml_text(&xml, "Code").as_deref(), Some("AccessDenied"));
    assert!(
        xml_text(&xml, "Message").is_some_and(|m| m.contains("elasticloadbalancing:CreateLoadBalancer")),
        "{xml}"
    );
}
