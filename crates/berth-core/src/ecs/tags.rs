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

/// ECS tag limits: at most 50 tags, keys 1–128 chars, values ≤ 256 chars,
/// keys unique, and the `aws:` prefix reserved.
pub fn validate_tags(tags: &[Tag]) -> Result<(), AwsError> {
    if tags.len() > 50 {
        return Err(AwsError::invalid_parameter(
            "The number of tags exceeds the limit of 50.",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(AwsError::invalid_parameter(
                "Tag keys must be between 1 and 128 characters.",
            ));
        }
        if t.value.chars().count() > 256 {
            return Err(AwsError::invalid_parameter(
                "Tag values must be at most 256 characters.",
            ));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(AwsError::invalid_parameter(
                "Tag keys must not start with the reserved prefix 'aws:'.",
            ));
        }
        if !seen.insert(t.key.as_str()) {
            return Err(AwsError::invalid_parameter(format!("Duplicate tag key '{}'.", t.key)));
        }
    }
    Ok(())
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
