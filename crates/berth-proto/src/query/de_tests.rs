//! Form → typed input: lists, maps, nested structures, scalars and the
//! errors AWS words.

use super::*;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct Nested {
    name: String,
    inner: Option<Box<Nested>>,
}

#[derive(Debug, Deserialize, PartialEq, Clone, Copy)]
enum Status {
    Active,
    Inactive,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct Input {
    user_name: String,
    path: Option<String>,
    max_items: Option<i32>,
    only_attached: Option<bool>,
    status: Option<Status>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    attributes: HashMap<String, String>,
    nested: Option<Nested>,
}

fn form(body: &str) -> QueryInput {
    QueryInput::parse(body.as_bytes()).expect("a form")
}

#[test]
fn decodes_scalars_lists_maps_and_structures() {
    let input: Input = from_query(&form(
        "Action=CreateUser&Version=2010-05-08&UserName=bob&Path=%2Fdev%2F&MaxItems=12&OnlyAttached=TRUE\
         &Status=Inactive&Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.1.Value=x+y\
         &Names.member.10=ten&Names.member.2=two&Attributes.entry.1.key=k1&Attributes.entry.1.value=v1\
         &Attributes.entry.2.key=k2&Attributes.entry.2.value=v2&Nested.Name=outer&Nested.Inner.Name=inner\
         &Unknown=ignored&Other.member.1=ignored",
    ))
    .expect("decodes");
    assert_eq!(input.user_name, "bob");
    assert_eq!(input.path.as_deref(), Some("/dev/"));
    assert_eq!(input.max_items, Some(12));
    assert_eq!(input.only_attached, Some(true));
    assert_eq!(input.status, Some(Status::Inactive));
    assert_eq!(
        input.tags,
        vec![
            Tag {
                key: "a".into(),
                value: Some("x y".into())
            },
            Tag {
                key: "b".into(),
                value: None
            },
        ]
    );
    assert_eq!(input.names, vec!["two", "ten"], "index order, not text order");
    assert_eq!(input.attributes.len(), 2);
    assert_eq!(input.attributes["k2"], "v2");
    let nested = input.nested.expect("nested");
    assert_eq!(nested.name, "outer");
    assert_eq!(nested.inner.expect("inner").name, "inner");
}

#[test]
fn absent_optional_members_and_empty_lists() {
    let input: Input = from_query(&form("Action=X&UserName=bob&Names=")).expect("decodes");
    assert_eq!(input.path, None);
    assert_eq!(input.max_items, None);
    assert!(input.tags.is_empty());
    assert!(input.names.is_empty());
    assert!(input.attributes.is_empty());
}

#[test]
fn the_ec2_dialect_of_lists() {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Ec2 {
        instance_id: Vec<String>,
    }
    let input: Ec2 = from_query(&form("Action=X&InstanceId.2=i-2&InstanceId.1=i-1")).expect("decodes");
    assert_eq!(input.instance_id, vec!["i-1", "i-2"]);
}

#[test]
fn errors_in_aws_words() {
    let e = from_query::<Input>(&form("Action=X&Path=/")).unwrap_err();
    assert_eq!((e.code.as_ref(), e.status), ("ValidationError", 400));
    assert_eq!(
        e.message,
        "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
    );
    let e = from_query::<Input>(&form("UserName=b&MaxItems=lots")).unwrap_err();
    assert_eq!(e.message, "Value 'lots' at 'maxItems' is not a valid integer");
    let e = from_query::<Input>(&form("UserName=b&MaxItems=99999999999")).unwrap_err();
    assert_eq!(e.message, "Value '99999999999' at 'maxItems' is not a valid integer");
    let e = from_query::<Input>(&form("UserName=b&OnlyAttached=yes")).unwrap_err();
    assert_eq!(e.message, "Value 'yes' at 'onlyAttached' is not a valid boolean");
    let e = from_query::<Input>(&form("UserName=b&Status=Gone")).unwrap_err();
    assert_eq!(e.code, "ValidationError");
    assert!(e.message.contains("Gone"), "{}", e.message);
    let e = from_query::<Input>(&form("UserName=b&Tags.member.1.Value=v")).unwrap_err();
    assert!(e.message.contains("'key'"), "{}", e.message);
}
