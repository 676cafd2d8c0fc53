//! The tag rule every AWS service Berth speaks shares (ECS, ECR, IAM, KMS,
//! SSM, Secrets Manager, Logs): at most 50 tags, keys of 1–128 characters,
//! values of 0–256 characters, no key twice, and the `aws:` prefix (any case)
//! reserved. Each service words its own errors: [`check_tags`] says which
//! limit a request broke, the service turns that into its error shape.

/// At most this many tags on one resource.
pub const MAX_TAGS: usize = 50;
/// Longest tag key, in characters.
pub const MAX_KEY_CHARS: usize = 128;
/// Longest tag value, in characters.
pub const MAX_VALUE_CHARS: usize = 256;
/// The key prefix AWS keeps for itself (compared without case).
pub const RESERVED_PREFIX: &str = "aws:";

/// The limit a set of tags broke, with the key that broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagViolation {
    /// More than [`MAX_TAGS`] tags.
    TooMany,
    /// A key that is empty or longer than [`MAX_KEY_CHARS`].
    KeyLength(String),
    /// A value longer than [`MAX_VALUE_CHARS`].
    ValueLength(String),
    /// A key starting with [`RESERVED_PREFIX`].
    ReservedPrefix(String),
    /// A key given twice.
    DuplicateKey(String),
}

impl std::fmt::Display for TagViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TagViolation::TooMany => write!(f, "The number of tags exceeds the limit of {MAX_TAGS}."),
            TagViolation::KeyLength(_) => write!(f, "Tag keys must be between 1 and {MAX_KEY_CHARS} characters."),
            TagViolation::ValueLength(_) => write!(f, "Tag values must be at most {MAX_VALUE_CHARS} characters."),
            TagViolation::ReservedPrefix(_) => {
                write!(
                    f,
                    "Tag keys must not start with the reserved prefix '{RESERVED_PREFIX}'."
                )
            }
            TagViolation::DuplicateKey(k) => write!(f, "Duplicate tag key '{k}'."),
        }
    }
}

impl std::error::Error for TagViolation {}

/// Checks `(key, value)` pairs against the tag rule: first the count, then
/// each tag in order (key length, value length, reserved prefix, duplicate).
pub fn check_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), TagViolation> {
    let tags: Vec<(&str, &str)> = tags.into_iter().collect();
    if tags.len() > MAX_TAGS {
        return Err(TagViolation::TooMany);
    }
    let mut seen = std::collections::HashSet::new();
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
            return Err(TagViolation::KeyLength(key.to_string()));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(TagViolation::ValueLength(key.to_string()));
        }
        if key
            .get(..RESERVED_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_PREFIX))
        {
            return Err(TagViolation::ReservedPrefix(key.to_string()));
        }
        if !seen.insert(key) {
            return Err(TagViolation::DuplicateKey(key.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(check_tags([("a", "")]), Ok(()));
        assert_eq!(check_tags([("", "x")]), Err(TagViolation::KeyLength(String::new())));
        let long_key = "k".repeat(129);
        assert!(matches!(
            check_tags([(long_key.as_str(), "")]),
            Err(TagViolation::KeyLength(_))
        ));
        let key_128 = "é".repeat(128);
        assert_eq!(check_tags([(key_128.as_str(), "")]), Ok(()), "characters, not bytes");
        let long_value = "v".repeat(257);
        assert!(matches!(
            check_tags([("a", long_value.as_str())]),
            Err(TagViolation::ValueLength(_))
        ));
        assert!(matches!(
            check_tags([("AWS:x", "")]),
            Err(TagViolation::ReservedPrefix(_))
        ));
        assert!(matches!(
            check_tags([("a", "1"), ("a", "2")]),
            Err(TagViolation::DuplicateKey(_))
        ));
        let keys: Vec<String> = (0..51).map(|i| i.to_string()).collect();
        assert_eq!(
            check_tags(keys.iter().map(|k| (k.as_str(), ""))),
            Err(TagViolation::TooMany)
        );
        assert_eq!(check_tags(keys[..50].iter().map(|k| (k.as_str(), ""))), Ok(()));
    }
}
