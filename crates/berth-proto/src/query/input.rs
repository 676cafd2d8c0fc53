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

    /// A required parameter (`ValidationError` when absent, as IAM says it).
    pub fn required(&self, name: &str) -> Result<&str, AwsError> {
        self.get(name).ok_or_else(|| {
            AwsError::new(
                "ValidationError",
                400,
                format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name)),
            )
        })
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, AwsError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                AwsError::new(
                    "ValidationError",
                    400,
                    format!("Value '{v}' at '{}' is not a valid integer", lower_first(name)),
                )
            }),
        }
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).map(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `Name.member.1`, `Name.member.2`, … in index order.
    pub fn list(&self, name: &str) -> Vec<&str> {
        let prefix = format!("{name}.member.");
        let mut items: Vec<(u32, &str)> = self
            .params
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix)?.parse::<u32>().ok().map(|i| (i, v.as_str())))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// Lists of structures: for `Tags.member.N.Key`, `list_of("Tags", &["Key", "Value"])`
    /// yields one map per N.
    pub fn list_of(&self, name: &str, fields: &[&str]) -> Vec<BTreeMap<String, String>> {
        let prefix = format!("{name}.member.");
        let mut by_index: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in &self.params {
            let Some(rest) = k.strip_prefix(&prefix) else { continue };
            let Some((idx, field)) = rest.split_once('.') else {
                continue;
            };
            let (Ok(idx), true) = (idx.parse::<u32>(), fields.contains(&field)) else {
                continue;
            };
            by_index.entry(idx).or_default().insert(field.to_string(), v.clone());
        }
        by_index.into_values().collect()
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

    #[test]
    fn parses_forms_and_lists() {
        let q = QueryInput::parse(
            b"Action=CreateUser&Version=2010-05-08&UserName=bob&Path=%2Fdev%2F&Tags.member.2.Key=b&Tags.member.1.Key=a\
              &Tags.member.1.Value=x+y&Names.member.10=ten&Names.member.2=two&Flag=true&N=12",
        )
        .unwrap();
        assert_eq!(q.get("Action"), Some("CreateUser"));
        assert_eq!(q.get("Path"), Some("/dev/"));
        assert_eq!(q.list("Names"), vec!["two", "ten"]);
        let tags = q.list_of("Tags", &["Key", "Value"]);
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0]["Value"], "x y");
        assert_eq!(tags[1]["Key"], "b");
        assert_eq!(q.bool("Flag"), Some(true));
        assert_eq!(q.int("N").unwrap(), Some(12));
        assert!(q.int("Action").is_err());
        let e = q.required("RoleName").unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("'roleName'"));
    }
}
