use super::TABLE;
use berth_core::arn::Scope;
use berth_proto::query::QueryInput;

const SG: &str = "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-12345678";

fn resources(action: &str, form: &str) -> Vec<String> {
    let scope = Scope::new("eu-west-1", "123456789012");
    let input = QueryInput::parse(form.as_bytes()).unwrap();
    TABLE
        .resources_of(&scope, action, &input)
        .unwrap_or_else(|| panic!("{action} is routed"))
        .unwrap_or_else(|e| panic!("{action}: {e:?}"))
        .into_iter()
        .map(|r| match r.action {
            Some(a) => format!("{a} {}", r.arn),
            None => r.arn,
        })
        .collect()
}

#[test]
fn every_routed_operation_names_its_resources() {
    let any = vec!["*".to_string()];
    for describe in [
        "DescribeVpcs",
        "DescribeSubnets",
        "DescribeSecurityGroups",
        "DescribeSecurityGroupRules",
        "DescribeNetworkInterfaces",
        "DescribeTags",
        "DescribeAvailabilityZones",
    ] {
        assert_eq!(resources(describe, ""), any, "{describe}");
    }
    let vpc = resources("CreateVpc", "CidrBlock=10.0.0.0/16");
    assert_eq!(vpc.len(), 1);
    assert!(vpc[0].starts_with("arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-"));
    let tagged = resources(
        "CreateVpc",
        "CidrBlock=10.0.0.0/16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=k",
    );
    assert!(tagged[1].starts_with("ec2:CreateTags arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-"));
    assert_eq!(
        resources("DeleteVpc", "VpcId=vpc-12345678"),
        vec!["arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-12345678"]
    );
    let subnet = resources("CreateSubnet", "VpcId=vpc-12345678&CidrBlock=10.0.0.0/24");
    assert!(subnet[0].starts_with("arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-"));
    assert_eq!(subnet[1], "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-12345678");
    assert_eq!(
        resources("DeleteSubnet", "SubnetId=subnet-12345678"),
        vec!["arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-12345678"]
    );
    let sg = resources(
        "CreateSecurityGroup",
        "GroupName=web&GroupDescription=web&VpcId=vpc-12345678",
    );
    assert!(sg[0].starts_with("arn:aws:ec2:eu-west-1:123456789012:security-group/sg-"));
    assert_eq!(sg[1], "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-12345678");
    assert_eq!(resources("DeleteSecurityGroup", "GroupId=sg-12345678"), vec![SG]);
    for change in [
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
    ] {
        assert_eq!(
            resources(change, "GroupId=sg-12345678&IpPermissions.1.IpProtocol=-1"),
            vec![SG],
            "{change}"
        );
    }
    for tags in ["CreateTags", "DeleteTags"] {
        assert_eq!(
            resources(tags, "ResourceId.1=sg-12345678&ResourceId.2=vpc-12345678&Tag.1.Key=k"),
            vec![
                SG.to_string(),
                "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-12345678".to_string()
            ]
        );
    }
    assert_eq!(TABLE.names().len(), 19);
}

#[test]
fn a_mutating_request_without_a_group_id_is_refused_before_authorization() {
    let scope = Scope::new("eu-west-1", "123456789012");
    let by_name = QueryInput::parse(b"GroupName=web").unwrap();
    let e = TABLE
        .resources_of(&scope, "DeleteSecurityGroup", &by_name)
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    let none = QueryInput::parse(b"").unwrap();
    let e = TABLE
        .resources_of(&scope, "AuthorizeSecurityGroupIngress", &none)
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, "MissingParameter");
    let bad = QueryInput::parse(b"ResourceId.1=i-12345678&Tag.1.Key=k").unwrap();
    assert_eq!(
        TABLE
            .resources_of(&scope, "CreateTags", &bad)
            .unwrap()
            .unwrap_err()
            .code,
        "InvalidID"
    );
}
