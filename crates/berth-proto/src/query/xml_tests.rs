//! Typed outputs → the awsQuery XML the aws CLI and boto3 parse.

use super::*;

const IAM_NS: XmlStyle = XmlStyle::query("https://iam.amazonaws.com/doc/2010-05-08/");

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct User {
    user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    tags: Members<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetUserResult {
    user: User,
    is_truncated: bool,
    document: UrlEncoded,
}

#[test]
fn typed_output_in_the_envelope() {
    let out = GetUserResult {
        user: User {
            user_name: "a<b&c".into(),
            path: None,
            tags: vec![Tag {
                key: "k".into(),
                value: "v".into(),
            }]
            .into(),
        },
        is_truncated: false,
        document: UrlEncoded("{\"a\": 1}".into()),
    };
    let result = QueryResult::of("GetUser", &out).expect("serializes");
    assert_eq!(
        response("GetUser", IAM_NS, &result, "r-1"),
        "<GetUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetUserResult><User>\
         <UserName>a&lt;b&amp;c</UserName><Tags><member><Key>k</Key><Value>v</Value></member></Tags></User>\
         <IsTruncated>false</IsTruncated><Document>%7B%22a%22%3A%201%7D</Document></GetUserResult>\
         <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetUserResponse>"
    );
}

#[test]
fn an_action_without_output_and_an_empty_list() {
    assert_eq!(
        response("DeleteUser", IAM_NS, &QueryResult::empty(), "r-2"),
        "<DeleteUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata>\
         <RequestId>r-2</RequestId></ResponseMetadata></DeleteUserResponse>"
    );
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct ListUsersResult {
        users: Members<User>,
    }
    let xml = QueryResult::of(
        "ListUsers",
        &ListUsersResult {
            users: Members::default(),
        },
    )
    .expect("serializes");
    let text = response("ListUsers", IAM_NS, &xml, "r");
    assert!(
        text.contains("<ListUsersResult><Users/></ListUsersResult>")
            || text.contains("<ListUsersResult><Users></Users></ListUsersResult>"),
        "{text}"
    );
}

#[test]
fn maps_as_entries() {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out {
        attributes: Entries<String, String>,
    }
    let out = Out {
        attributes: Entries(vec![("a".into(), "1".into()), ("b".into(), "2".into())]),
    };
    let xml = QueryResult::of("X", &out).expect("serializes");
    assert_eq!(
        xml.as_xml("X").as_deref(),
        Some(
            "<XResult><Attributes><entry><key>a</key><value>1</value></entry><entry><key>b</key>\
             <value>2</value></entry></Attributes></XResult>"
        )
    );
}

#[test]
fn errors_in_the_services_namespace() {
    let sts = XmlStyle::query("https://sts.amazonaws.com/doc/2011-06-15/");
    let x = error_response(&AwsError::new("NoSuchEntity", 404, "a<b>&"), IAM_NS, "r1");
    assert_eq!(
        x,
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
         <Code>NoSuchEntity</Code><Message>a&lt;b&gt;&amp;</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
    );
    let x = error_response(&AwsError::internal("boom"), sts, "r2");
    assert!(
        x.starts_with(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Receiver</Type>"
        ),
        "{x}"
    );
}

#[test]
fn escapes_text() {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct User {
        user_name: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<&'static str>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct GetUserResult {
        user: User,
    }
    let out = GetUserResult {
        user: User {
            user_name: "a<b&c",
            path: None,
        },
    };
    let body = response(
        "GetUser",
        IAM_NS,
        &QueryResult::of("GetUser", &out).expect("serializes"),
        "r-1",
    );
    assert_eq!(
        body,
        "<GetUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetUserResult><User>\
         <UserName>a&lt;b&amp;c</UserName></User></GetUserResult><ResponseMetadata><RequestId>r-1</RequestId>\
         </ResponseMetadata></GetUserResponse>"
    );
    assert_eq!(url_encode("{\"a\": 1}"), "%7B%22a%22%3A%201%7D");
}

#[test]
fn the_ec2_dialect() {
    let ec2 = XmlStyle {
        namespace: "http://ec2.amazonaws.com/doc/2016-11-15/",
        dialect: Dialect::Ec2,
    };
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Reservation {
        reservation_id: &'static str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct DescribeInstancesResult {
        reservation_set: Items<Reservation>,
    }
    let out = DescribeInstancesResult {
        reservation_set: Items(vec![Reservation { reservation_id: "r-1" }]),
    };
    let result = QueryResult::of("DescribeInstances", &out).expect("serializes");
    assert_eq!(
        response("DescribeInstances", ec2, &result, "req-1"),
        "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>req-1</requestId>\
         <reservationSet><item><reservationId>r-1</reservationId></item></reservationSet></DescribeInstancesResponse>"
    );
    assert_eq!(
        error_response(
            &AwsError::new("InvalidInstanceID.NotFound", 400, "no <such>"),
            ec2,
            "req-2"
        ),
        "<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>no &lt;such&gt;</Message></Error>\
         </Errors><RequestID>req-2</RequestID></Response>"
    );
}

#[test]
fn query_xml_escapes() {
    let e = AwsError::new("NoSuchEntity", 404, "a<b>&");
    let x = error_response(&e, XmlStyle::query("https://iam.amazonaws.com/doc/2010-05-08/"), "r1");
    assert!(x.contains("<Code>NoSuchEntity</Code>"));
    assert!(x.contains("a&lt;b&gt;&amp;"));
    assert!(x.contains("<Type>Sender</Type>"));
}
