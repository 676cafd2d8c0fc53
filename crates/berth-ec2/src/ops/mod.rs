//! The EC2 operations, one type each ([`berth_proto::query::QueryOperation`]),
//! by the resource they act on. Shared here: decoding in EC2's error codes,
//! tag specifications and tag-on-create authorization, resource ARNs by id,
//! pagination.

pub mod groups;
pub mod interfaces;
pub mod permissions;
pub mod subnets;
pub mod tags;
pub mod vpcs;
pub mod zones;

use crate::errors::{Ec2Error, from_decode, invalid};
use crate::records::Tags;
use berth_core::arn::Scope;
use berth_proto::query::{QueryInput, QueryResult};
use berth_proto::{AuthzResource, AwsError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Decodes a form in EC2's codes, refusing first the members Berth does
/// not serve (named at the top level or anywhere in a member's path):
/// refused, never silently ignored.
pub fn decode<T: DeserializeOwned>(input: &QueryInput, unsupported: &[&str]) -> Result<T, AwsError> {
    for name in input.params().keys() {
        if let Some(member) = name.split('.').find(|s| unsupported.contains(s)) {
            return Err(invalid(format!("The parameter {member} is not supported by Berth")).into());
        }
    }
    input.decode().map_err(from_decode)
}

/// The answer of `action`.
pub fn answer<T: Serialize>(action: &str, output: &T) -> Result<QueryResult, AwsError> {
    QueryResult::of(action, output)
}

/// `*`, written out: EC2's Describe* actions take no resource-level
/// permissions on AWS.
pub fn any() -> Vec<AuthzResource> {
    vec![AuthzResource::untagged("*")]
}

/// The ARN of an EC2 resource by its id (`vpc-…`, `subnet-…`, `sg-…`).
pub fn arn_of(scope: &Scope, id: &str) -> Result<String, Ec2Error> {
    let kind = if id.starts_with("vpc-") {
        "vpc"
    } else if id.starts_with("subnet-") {
        "subnet"
    } else if id.starts_with("sg-") {
        "security-group"
    } else {
        return Err(Ec2Error::InvalidId(id.to_string()));
    };
    Ok(scope.arn(crate::SIGNING_NAME, format!("{kind}/{id}")))
}

/// The resource type DescribeTags names an id's resource by.
pub fn resource_type(id: &str) -> &'static str {
    if id.starts_with("vpc-") {
        "vpc"
    } else if id.starts_with("subnet-") {
        "subnet"
    } else {
        "security-group"
    }
}

/// `Tag.N` of a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagIn {
    pub key: String,
    pub value: Option<String>,
}

/// `TagSpecification.N`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagSpecification {
    pub resource_type: Option<String>,
    #[serde(default, rename = "Tag")]
    pub tags: Vec<TagIn>,
}

/// The most tags a resource carries.
pub const MAX_TAGS: usize = 50;

/// A tag key or value as EC2 takes them: a key 1 to 127 characters, not
/// `aws:…`; a value up to 255.
pub fn check_tag(t: &TagIn) -> Result<(), Ec2Error> {
    if t.key.is_empty() || t.key.chars().count() > 127 {
        return Err(invalid(format!("Tag key '{}' must be 1 to 127 characters", t.key)));
    }
    if t.key.to_ascii_lowercase().starts_with("aws:") {
        return Err(invalid("Tag keys starting with 'aws:' are reserved for internal use"));
    }
    if t.value.as_deref().is_some_and(|v| v.chars().count() > 255) {
        return Err(invalid(format!(
            "The value of tag '{}' is longer than 255 characters",
            t.key
        )));
    }
    Ok(())
}

/// The tags of the specifications for `resource_type` (a specification for
/// another type is refused, as EC2 does).
pub fn spec_tags(specs: &[TagSpecification], resource_type: &str) -> Result<Tags, Ec2Error> {
    let mut out = Tags::new();
    for s in specs {
        match s.resource_type.as_deref() {
            Some(t) if t == resource_type => {}
            Some(t) => {
                return Err(invalid(format!(
                    "'{t}' is not a valid taggable resource type for this operation."
                )));
            }
            None => return Err(Ec2Error::MissingParameter("tagSpecification.resourceType".into())),
        }
        for t in &s.tags {
            check_tag(t)?;
            out.insert(t.key.clone(), t.value.clone().unwrap_or_default());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(invalid(format!("A resource can have at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

/// The resources of a Create* operation: the new resource, and
/// `ec2:CreateTags` on it with `ec2:CreateAction` when the request tags it
/// (EC2's tag-on-create rule).
pub fn created(arn: String, action: &str, tagged: bool) -> Vec<AuthzResource> {
    let mut out = vec![AuthzResource::untagged(arn.clone())];
    if tagged {
        out.push(AuthzResource {
            arn,
            action: Some(format!("{}:CreateTags", crate::SIGNING_NAME)),
            condition_keys: vec![("ec2:CreateAction".into(), action.into())],
            ..AuthzResource::default()
        });
    }
    out
}

/// The tags a request sets (`aws:RequestTag/…`).
pub fn request_tags(specs: &[TagSpecification]) -> Vec<(String, String)> {
    specs
        .iter()
        .flat_map(|s| &s.tags)
        .map(|t| (t.key.clone(), t.value.clone().unwrap_or_default()))
        .collect()
}

/// One page of `items` from `next_token` (the index of its first item),
/// at most `max` (5 to 1000, as EC2's describes take), and the next token.
pub fn page<T>(
    items: Vec<T>,
    next_token: Option<&str>,
    max: Option<i32>,
) -> Result<(Vec<T>, Option<String>), Ec2Error> {
    let start = match next_token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|s| *s <= items.len())
            .ok_or_else(|| invalid(format!("Invalid value '{t}' for nextToken")))?,
    };
    let size = match max {
        None => usize::MAX,
        Some(m) if (5..=1000).contains(&m) => m as usize,
        Some(m) => {
            return Err(invalid(format!(
                "Value ( {m} ) for parameter maxResults is invalid. Parameter must be between 5 and 1000."
            )));
        }
    };
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(start).take(size).collect();
    let end = start + out.len();
    Ok((out, (end < total).then(|| end.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_split_by_index() {
        let (p, next) = page((0..12).collect(), None, Some(5)).unwrap();
        assert_eq!((p, next.as_deref()), (vec![0, 1, 2, 3, 4], Some("5")));
        let (p, next) = page((0..12).collect(), Some("10"), Some(5)).unwrap();
        assert_eq!((p, next), (vec![10, 11], None));
        assert!(page((0..3).collect::<Vec<i32>>(), None, Some(2)).is_err());
        assert!(page((0..3).collect::<Vec<i32>>(), Some("x"), None).is_err());
    }

    #[test]
    fn tag_specifications_are_for_their_resource_type() {
        let spec = |t: &str| TagSpecification {
            resource_type: Some(t.into()),
            tags: vec![TagIn {
                key: "team".into(),
                value: Some("blue".into()),
            }],
        };
        assert_eq!(spec_tags(&[spec("vpc")], "vpc").unwrap().len(), 1);
        assert!(spec_tags(&[spec("subnet")], "vpc").is_err());
        let reserved = TagIn {
            key: "aws:x".into(),
            value: None,
        };
        assert!(check_tag(&reserved).is_err());
        let scope = Scope::new("us-east-1", "000000000000");
        assert_eq!(
            arn_of(&scope, "sg-12345678").unwrap(),
            "arn:aws:ec2:us-east-1:000000000000:security-group/sg-12345678"
        );
        assert!(arn_of(&scope, "i-12345678").is_err());
    }
}
