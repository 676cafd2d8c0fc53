//! An awsQuery request as received: the `application/x-www-form-urlencoded`
//! parameters by name (`Action=…&Version=…&Param=…`). Typed inputs are
//! decoded from it by [`super::de`].

use crate::AwsError;
use std::collections::BTreeMap;

/// A decoded form body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryInput {
    params: BTreeMap<String, String>,
}

impl QueryInput {
    /// Parses an `application/x-www-form-urlencoded` body (or query string).
    pub fn parse(body: &[u8]) -> Result<Self, AwsError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| AwsError::new("MalformedQueryString", 400, "The request body is not UTF-8."))?;
        // A repeated name keeps its last value.
        let params = crate::form::decode(text).into_iter().collect();
        Ok(Self { params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Every parameter, by name (for the audit trail's requestParameters).
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }
}

pub(crate) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn parses_forms_and_lists() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Tag {
            key: String,
            value: Option<String>,
        }
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Form {
            path: String,
            names: Vec<String>,
            tags: Vec<Tag>,
            flag: Option<bool>,
            n: Option<i64>,
        }
        let q = QueryInput::parse(
            b"Action=CreateUser&Version=2010-05-08&UserName=bob&Path=%2Fdev%2F&Tags.member.2.Key=b&Tags.member.1.Key=a\
              &Tags.member.1.Value=x+y&Names.member.10=ten&Names.member.2=two&Flag=true&N=12",
        )
        .unwrap();
        assert_eq!(q.get("Action"), Some("CreateUser"));
        assert_eq!(q.get("Path"), Some("/dev/"));
        let form: Form = q.decode().unwrap();
        assert_eq!(form.path, "/dev/");
        assert_eq!(form.names, vec!["two", "ten"]);
        let tags = form.tags;
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].value.as_deref(), Some("x y"));
        assert_eq!(tags[1].key, "b");
        assert_eq!(form.flag, Some(true));
        assert_eq!(form.n, Some(12));
        let bad = QueryInput::parse(b"Action=CreateUser&Version=2010-05-08").unwrap();
        // An integer member that is not one.
        let e = QueryInput::parse(b"Action=x&Path=/&N=CreateUser")
            .unwrap()
            .decode::<Form>()
            .unwrap_err();
        assert_eq!(e.message, "Value 'CreateUser' at 'n' is not a valid integer");
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        #[allow(dead_code)]
        struct Role {
            role_name: String,
        }
        let e = bad.decode::<Role>().unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("'roleName'"));
    }
}
