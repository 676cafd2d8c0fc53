//! EC2, a regional query service in EC2's dialect: served in every region,
//! its answers framed `<{Action}Response><requestId>…`, its errors
//! `Response/Errors/Error`, a caller without policies refused with
//! `UnauthorizedOperation` on the group's ARN.

use super::*;

fn ec2(form: &str) -> Call {
    Call::query(&format!("Version=2016-11-15&{form}")).signed(Signer::root("ec2"))
}

#[tokio::test]
async fn ec2_answers_in_its_own_frame() {
    let server = Server::start().await;
    let vpcs = server.call(ec2("Action=DescribeVpcs")).await;
    assert_eq!(vpcs.status, StatusCode::OK, "{}", vpcs.text());
    let xml = vpcs.text();
    let id = vpcs.request_id();
    assert!(
        xml.starts_with(&format!(
            "<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>{id}</requestId><vpcSet><item>"
        )),
        "{xml}"
    );
    assert_eq!(xml_text(&xml, "cidrBlock").as_deref(), Some("172.31.0.0/16"));
    assert_eq!(xml_text(&xml, "isDefault").as_deref(), Some("true"));

    let missing = server
        .call(ec2("Action=DescribeSecurityGroups&GroupId.1=sg-0123456789abcdef0"))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.text());
    let id = missing.request_id();
    assert_eq!(
        missing.text(),
        format!(
            "<Response><Errors><Error><Code>InvalidGroup.NotFound</Code><Message>The security group \
             'sg-0123456789abcdef0' does not exist</Message></Error></Errors><RequestID>{id}</RequestID></Response>"
        )
    );
    let no_name = server.call(ec2("Action=CreateSecurityGroup&GroupDescription=x")).await;
    assert_eq!(xml_text(&no_name.text(), "Code").as_deref(), Some("MissingParameter"));
}

#[tokio::test]
async fn a_user_without_policies_is_refused_on_the_groups_arn() {
    let server = Server::start().await;
    let root = |form: &str| Call::query(form).signed(Signer::root("iam"));
    server
        .call(root("Action=CreateUser&UserName=bob&Version=2010-05-08"))
        .await;
    let key = server
        .call(root("Action=CreateAccessKey&UserName=bob&Version=2010-05-08"))
        .await;
    let (id, secret) = (
        xml_text(&key.text(), "AccessKeyId").expect("AccessKeyId"),
        xml_text(&key.text(), "SecretAccessKey").expect("SecretAccessKey"),
    );
    let answer = server
        .call(
            Call::query("Version=2016-11-15&Action=DeleteSecurityGroup&GroupId=sg-12345678")
                .signed(Signer::root("ec2").key(&id, &secret)),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    let xml = answer.text();
    assert_eq!(xml_text(&xml, "Code").as_deref(), Some("UnauthorizedOperation"));
    let message = xml_text(&xml, "Message").unwrap_or_default();
    assert!(
        message.contains("ec2:DeleteSecurityGroup")
            && message.contains("arn:aws:ec2:eu-west-1:000000000000:security-group/sg-12345678"),
        "{message}"
    );
}
