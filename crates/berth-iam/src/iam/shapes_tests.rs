//! The typed IAM and STS outputs serialize as the hand-written XML did
//! (the aws CLI and boto3 read it), and inputs decode from real forms.

use super::*;
use crate::directory::{PolicyRec, Tag};
use berth_proto::query::UrlEncoded;
use berth_proto::query::{QueryInput, QueryResult};

/// What `QueryResult::of(action, …)` must hold: `<{action}Result>inner</…>`.
fn expect(action: &str, inner: &str) -> Option<String> {
    Some(format!("<{action}Result>{inner}</{action}Result>"))
}

fn xml(action: &str, result: QueryResult) -> Option<String> {
    result.as_xml(action)
}

fn role(description: Option<&str>, tags: Vec<Tag>) -> RoleRec {
    RoleRec {
        name: "app".into(),
        id: "AROAEXAMPLE".into(),
        arn: "arn:aws:iam::123456789012:role/app".into(),
        path: "/".into(),
        create_date: "2026-01-01T00:00:00Z".into(),
        assume_role_policy: "{\"Version\":\"2012-10-17\"}".into(),
        description: description.map(str::to_string),
        max_session_duration: 3600,
        inline: Default::default(),
        attached: vec![],
        tags,
    }
}

#[test]
fn a_role_as_iam_writes_it() {
    let out = QueryResult::of(
        "GetRole",
        &RoleResult {
            role: (&role(None, vec![])).into(),
        },
    )
    .expect("serializes");
    assert_eq!(
        xml("GetRole", out),
        expect(
            "GetRole",
            "<Role><Path>/</Path><RoleName>app</RoleName><RoleId>AROAEXAMPLE</RoleId>\
             <Arn>arn:aws:iam::123456789012:role/app</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate>\
             <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%7D</AssumeRolePolicyDocument>\
             <MaxSessionDuration>3600</MaxSessionDuration></Role>"
        ),
        "no Description, no Tags when there are none"
    );
    let tagged = role(
        Some("d&d"),
        vec![Tag {
            key: "team".into(),
            value: "a".into(),
        }],
    );
    let out = QueryResult::of("GetRole", &RoleResult { role: (&tagged).into() }).expect("serializes");
    assert_eq!(
        xml("GetRole", out),
        expect(
            "GetRole",
            "<Role><Path>/</Path><RoleName>app</RoleName><RoleId>AROAEXAMPLE</RoleId>\
             <Arn>arn:aws:iam::123456789012:role/app</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate>\
             <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%7D</AssumeRolePolicyDocument>\
             <Description>d&amp;d</Description><MaxSessionDuration>3600</MaxSessionDuration>\
             <Tags><member><Key>team</Key><Value>a</Value></member></Tags></Role>"
        )
    );
}

#[test]
fn assume_role_and_a_truncated_list() {
    let session = SessionRec {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: "s".into(),
        session_token: "t".into(),
        sealed_secret: None,
        sealed_session_token: None,
        expiration: 0,
        arn: "arn:aws:sts::123456789012:assumed-role/app/s".into(),
        user_id: "AROAEXAMPLE:s".into(),
        is_root: false,
        user_name: None,
        role_name: Some("app".into()),
    };
    let out = AssumeRoleResult {
        credentials: (&session).into(),
        assumed_role_user: AssumedRoleUser {
            assumed_role_id: session.user_id.clone(),
            arn: session.arn.clone(),
        },
        packed_policy_size: 0,
    };
    assert_eq!(
        xml("AssumeRole", QueryResult::of("AssumeRole", &out).expect("serializes")),
        expect(
            "AssumeRole",
            "<Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
             <SessionToken>t</SessionToken><Expiration>1970-01-01T00:00:00Z</Expiration></Credentials>\
             <AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId>\
             <Arn>arn:aws:sts::123456789012:assumed-role/app/s</Arn></AssumedRoleUser>\
             <PackedPolicySize>0</PackedPolicySize>"
        )
    );
    let list = ListRolesResult {
        roles: vec![Role::from(&role(None, vec![]))].into(),
        is_truncated: true,
        marker: Some("app".into()),
    };
    let xml = xml("ListRoles", QueryResult::of("ListRoles", &list).expect("serializes")).expect("a result");
    assert!(
        xml.contains("</RoleName>") && xml.contains("<Roles><member><Path>/</Path>"),
        "{xml}"
    );
    assert!(
        xml.contains("</Roles><IsTruncated>true</IsTruncated><Marker>app</Marker></ListRolesResult>"),
        "{xml}"
    );
}

#[test]
fn inputs_from_forms() {
    let q = QueryInput::parse(
        b"Action=CreateRole&Version=2010-05-08&RoleName=app&AssumeRolePolicyDocument=%7B%7D&MaxSessionDuration=7200\
          &Tags.member.1.Key=team&Tags.member.1.Value=a",
    )
    .expect("a form");
    let input: CreateRoleInput = q.decode().expect("decodes");
    assert_eq!(input.role_name, "app");
    assert_eq!(input.assume_role_policy_document, "{}");
    assert_eq!(input.max_session_duration, Some(7200));
    assert_eq!(input.tags.len(), 1);
    assert_eq!(
        (input.tags[0].key.as_str(), input.tags[0].value.as_str()),
        ("team", "a")
    );
    let missing = QueryInput::parse(b"Action=AssumeRole&RoleArn=x")
        .expect("a form")
        .decode::<AssumeRoleInput>()
        .unwrap_err();
    assert_eq!(missing.code, "ValidationError");
    assert!(missing.message.contains("'roleSessionName'"), "{}", missing.message);
}

#[test]
fn inline_policies_name_their_entity_first() {
    let out = InlinePolicyResult {
        entity: EntityNameOutput::GroupName("devs".into()),
        policy_name: "p".into(),
        policy_document: UrlEncoded("{}".into()),
    };
    assert_eq!(
        xml(
            "GetGroupPolicy",
            QueryResult::of("GetGroupPolicy", &out).expect("serializes")
        ),
        expect(
            "GetGroupPolicy",
            "<GroupName>devs</GroupName><PolicyName>p</PolicyName><PolicyDocument>%7B%7D</PolicyDocument>"
        )
    );
    let names = ListPolicyNamesResult {
        policy_names: vec!["a".to_string(), "b".to_string()].into(),
        is_truncated: false,
        marker: None,
    };
    assert_eq!(
        xml(
            "ListUserPolicies",
            QueryResult::of("ListUserPolicies", &names).expect("serializes")
        ),
        expect(
            "ListUserPolicies",
            "<PolicyNames><member>a</member><member>b</member></PolicyNames><IsTruncated>false</IsTruncated>"
        )
    );
}

#[test]
fn a_policy_and_its_versions() {
    let rec = PolicyRec {
        name: "ro".into(),
        id: "ANPAEXAMPLE".into(),
        arn: "arn:aws:iam::123456789012:policy/ro".into(),
        path: "/".into(),
        description: None,
        create_date: "c".into(),
        update_date: "u".into(),
        default_version: "v1".into(),
        versions: vec![],
        next_version: 2,
    };
    assert_eq!(
        xml(
            "GetPolicy",
            QueryResult::of(
                "GetPolicy",
                &PolicyResult {
                    policy: Policy::of(&rec, 2)
                }
            )
            .expect("serializes")
        ),
        expect(
            "GetPolicy",
            "<Policy><PolicyName>ro</PolicyName><PolicyId>ANPAEXAMPLE</PolicyId>\
             <Arn>arn:aws:iam::123456789012:policy/ro</Arn><Path>/</Path><DefaultVersionId>v1</DefaultVersionId>\
             <AttachmentCount>2</AttachmentCount><PermissionsBoundaryUsageCount>0</PermissionsBoundaryUsageCount>\
             <IsAttachable>true</IsAttachable><CreateDate>c</CreateDate><UpdateDate>u</UpdateDate></Policy>"
        )
    );
    let version = PolicyVersionResult {
        policy_version: PolicyVersion {
            document: Some(UrlEncoded("{}".into())),
            version_id: "v1".into(),
            is_default_version: true,
            create_date: "c".into(),
        },
    };
    assert_eq!(
        xml(
            "GetPolicyVersion",
            QueryResult::of("GetPolicyVersion", &version).expect("serializes")
        ),
        expect(
            "GetPolicyVersion",
            "<PolicyVersion><Document>%7B%7D</Document><VersionId>v1</VersionId>\
             <IsDefaultVersion>true</IsDefaultVersion><CreateDate>c</CreateDate></PolicyVersion>"
        )
    );
}
