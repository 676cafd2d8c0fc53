//! ECS resource tags and their rules.

use berth_proto::AwsError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// ECS tags: the shared rule ([`berth_core::tags::check_tags`]), refused as
/// `InvalidParameterException`.
pub fn validate_tags(tags: &[Tag]) -> Result<(), AwsError> {
    berth_core::tags::check_tags(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())))
        .map_err(|v| AwsError::invalid_parameter(v.to_string()))
}

/// Merges `new` into `existing`: same key replaces the value.
pub fn merge_tags(existing: &mut Vec<Tag>, new: &[Tag]) {
    for t in new {
        match existing.iter_mut().find(|e| e.key == t.key) {
            Some(e) => e.value = t.value.clone(),
            None => existing.push(t.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn rules() {
        assert!(validate_tags(&[tag("a", "b")]).is_ok());
        assert!(validate_tags(&[tag("", "b")]).is_err());
        assert!(validate_tags(&[tag("aws:x", "b")]).is_err());
        assert!(validate_tags(&[tag("a", "b"), tag("a", "c")]).is_err());
        let many: Vec<Tag> = (0..51).map(|i| tag(&i.to_string(), "")).collect();
        assert!(validate_tags(&many).is_err());
    }

    #[test]
    fn merge_replaces_values() {
        let mut t = vec![tag("a", "1")];
        merge_tags(&mut t, &[tag("a", "2"), tag("b", "3")]);
        assert_eq!(t, vec![tag("a", "2"), tag("b", "3")]);
    }
}
