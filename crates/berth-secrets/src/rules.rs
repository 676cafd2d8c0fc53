//! The pure rules of KMS, SSM Parameter Store and Secrets Manager: names,
//! references, selectors, windows and staging-label moves. No IO.

use std::collections::BTreeMap;

/// What a KMS `KeyId` parameter names.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyRef {
    Id(String),
    /// An alias name, `alias/...`.
    Alias(String),
}

/// Parses a key id, key ARN, alias name or alias ARN.
pub fn parse_key_ref(s: &str) -> Result<KeyRef, String> {
    if s.is_empty() {
        return Err("KeyId must not be empty.".into());
    }
    if let Some(rest) = s.strip_prefix("arn:") {
        let resource = rest
            .splitn(5, ':')
            .nth(4)
            .ok_or_else(|| format!("Invalid keyId '{s}'"))?;
        if let Some(id) = resource.strip_prefix("key/") {
            return Ok(KeyRef::Id(id.to_string()));
        }
        if resource.starts_with("alias/") {
            return Ok(KeyRef::Alias(resource.to_string()));
        }
        return Err(format!("Invalid keyId '{s}'"));
    }
    if s.starts_with("alias/") {
        return Ok(KeyRef::Alias(s.to_string()));
    }
    Ok(KeyRef::Id(s.to_string()))
}

/// `alias/` then 1–250 of `[A-Za-z0-9/_-]`; `alias/aws/` is reserved for AWS
/// managed keys unless `allow_reserved`.
pub fn validate_alias_name(name: &str, allow_reserved: bool) -> Result<(), String> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(format!("Alias must start with the prefix \"alias/\": {name}"));
    };
    if rest.is_empty() || name.len() > 256 {
        return Err("Alias name must be between 1 and 256 characters, including the alias/ prefix.".into());
    }
    if !rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))
    {
        return Err(format!(
            "Alias {name} contains invalid characters: use letters, digits, '/', '_' and '-' only."
        ));
    }
    if !allow_reserved && rest.starts_with("aws/") {
        return Err(format!(
            "Alias {name} must not begin with alias/aws/: that prefix is reserved for AWS managed keys."
        ));
    }
    Ok(())
}

/// The size of a data key: `KeySpec` (AES_256 / AES_128) or `NumberOfBytes` (1–1024), exactly one.
pub fn data_key_len(key_spec: Option<&str>, number_of_bytes: Option<i64>) -> Result<usize, String> {
    match (key_spec, number_of_bytes) {
        (Some(_), Some(_)) => Err("Please specify either number of bytes or key spec.".into()),
        (None, None) => Err("Please specify either number of bytes or key spec.".into()),
        (Some("AES_256"), None) => Ok(32),
        (Some("AES_128"), None) => Ok(16),
        (Some(s), None) => Err(format!(
            "1 validation error detected: Value '{s}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
        )),
        (None, Some(n)) if (1..=1024).contains(&n) => Ok(n as usize),
        (None, Some(n)) => Err(format!(
            "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
        )),
    }
}

/// `PendingWindowInDays` (KMS) / `RecoveryWindowInDays` (Secrets Manager): 7–30, default 30.
pub fn pending_window(days: Option<i64>) -> Result<i64, String> {
    match days {
        None => Ok(30),
        Some(d) if (7..=30).contains(&d) => Ok(d),
        Some(d) => Err(format!(
            "1 validation error detected: Value '{d}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30"
        )),
    }
}

// ---- SSM Parameter Store ----

/// Validates a parameter name and returns its canonical form (the name as
/// given; hierarchical names start with `/`).
pub fn validate_parameter_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 2048 {
        return Err("Parameter name must be between 1 and 2048 characters.".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return Err(format!(
            "Parameter name: can't contain characters other than letters, numbers, '_', '.', '-' and '/': {name}"
        ));
    }
    let lower = name.trim_start_matches('/').to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).".into());
    }
    if name.contains('/') {
        if !name.starts_with('/') {
            return Err(format!("Parameter name must be a fully qualified name: {name}"));
        }
        if name.ends_with('/') || name.contains("//") {
            return Err(format!(
                "Parameter name must not end with '/' or contain empty levels: {name}"
            ));
        }
        if name.matches('/').count() > 15 {
            return Err("Parameter name: the hierarchy can have a maximum of 15 levels.".into());
        }
    }
    Ok(())
}

/// A version label: 1–100 characters of letters, digits, `.`, `-`, `_`; not
/// starting with a digit, nor with `aws`/`ssm`.
pub fn validate_label(label: &str) -> Result<(), String> {
    let ok = !label.is_empty()
        && label.len() <= 100
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !label.starts_with(|c: char| c.is_ascii_digit())
        && !label.to_ascii_lowercase().starts_with("aws")
        && !label.to_ascii_lowercase().starts_with("ssm");
    if ok {
        Ok(())
    } else {
        Err(format!("Invalid label: {label}"))
    }
}

/// Whether `name` lies under `path` (directly, or at any depth if `recursive`).
pub fn under_path(name: &str, path: &str, recursive: bool) -> bool {
    let prefix = if path.ends_with('/') {
        path.to_string()
    } else {
        format!("{path}/")
    };
    match name.strip_prefix(&prefix) {
        Some(rest) if !rest.is_empty() => recursive || !rest.contains('/'),
        _ => false,
    }
}

// ---- Secrets Manager ----

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
pub const AWSPENDING: &str = "AWSPENDING";

/// Moves staging labels to `new_version` (which gets `labels`): each label is
/// taken from whichever version had it, and when `AWSCURRENT` moves, the
/// version that had it becomes `AWSPREVIOUS` (taken from its former holder).
/// Versions left with no label are returned for removal.
pub fn move_stages(versions: &mut BTreeMap<String, Vec<String>>, new_version: &str, labels: &[String]) -> Vec<String> {
    let old_current = versions
        .iter()
        .find(|(_, l)| l.iter().any(|x| x == AWSCURRENT))
        .map(|(v, _)| v.clone())
        .filter(|v| v != new_version);
    let moves_current = labels.iter().any(|l| l == AWSCURRENT);
    for (v, l) in versions.iter_mut() {
        if v != new_version {
            l.retain(|x| !labels.contains(x));
        }
    }
    let entry = versions.entry(new_version.to_string()).or_default();
    for l in labels {
        if !entry.contains(l) {
            entry.push(l.clone());
        }
    }
    if moves_current && let Some(old) = old_current {
        for l in versions.values_mut() {
            l.retain(|x| x != AWSPREVIOUS);
        }
        versions.entry(old).or_default().push(AWSPREVIOUS.to_string());
    }
    let orphans: Vec<String> = versions
        .iter()
        .filter(|(_, l)| l.is_empty())
        .map(|(v, _)| v.clone())
        .collect();
    orphans
}

/// A secret name: 1–512 of letters, digits and `/_+=.@-`.
pub fn validate_secret_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 512 {
        return Err(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
                .into(),
        );
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-!".contains(c))
    {
        return Err(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
                .into(),
        );
    }
    Ok(())
}

/// The 6 random characters AWS appends to a secret's ARN.
pub fn arn_suffix(random: &[u8; 6]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    random
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

pub use berth_core::secrets_ref::{
    SecretSource, Selector, json_key, parse_selector, parse_value_from, selector_suffix,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_refs() {
        assert_eq!(parse_key_ref("abc").unwrap(), KeyRef::Id("abc".into()));
        assert_eq!(parse_key_ref("alias/x").unwrap(), KeyRef::Alias("alias/x".into()));
        assert_eq!(
            parse_key_ref("arn:aws:kms:us-east-1:000000000000:key/abc").unwrap(),
            KeyRef::Id("abc".into())
        );
        assert_eq!(
            parse_key_ref("arn:aws:kms:us-east-1:000000000000:alias/a/b").unwrap(),
            KeyRef::Alias("alias/a/b".into())
        );
        assert!(parse_key_ref("arn:aws:kms:us-east-1:000000000000:thing/abc").is_err());
        assert!(parse_key_ref("").is_err());
    }

    #[test]
    fn alias_names() {
        assert!(validate_alias_name("alias/my-key_1/x", false).is_ok());
        assert!(validate_alias_name("my-key", false).is_err());
        assert!(validate_alias_name("alias/", false).is_err());
        assert!(validate_alias_name("alias/bad name", false).is_err());
        assert!(validate_alias_name("alias/aws/ssm", false).is_err());
        assert!(validate_alias_name("alias/aws/ssm", true).is_ok());
    }

    #[test]
    fn data_key_sizes_and_windows() {
        assert_eq!(data_key_len(Some("AES_256"), None), Ok(32));
        assert_eq!(data_key_len(Some("AES_128"), None), Ok(16));
        assert_eq!(data_key_len(None, Some(64)), Ok(64));
        assert!(data_key_len(None, Some(0)).is_err());
        assert!(data_key_len(None, Some(1025)).is_err());
        assert!(data_key_len(None, None).is_err());
        assert!(data_key_len(Some("AES_256"), Some(32)).is_err());
        assert!(data_key_len(Some("RSA"), None).is_err());
        assert_eq!(pending_window(None), Ok(30));
        assert_eq!(pending_window(Some(7)), Ok(7));
        assert!(pending_window(Some(6)).is_err());
        assert!(pending_window(Some(31)).is_err());
    }

    #[test]
    fn parameter_names() {
        for ok in ["plain", "/a/b/c", "a.b-c_d", "/app/db-password"] {
            assert!(validate_parameter_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "/a/", "/a//b", "aws.x", "/ssm/x", "AWSfoo", "a b", "a:b"] {
            assert!(validate_parameter_name(bad).is_err(), "{bad}");
        }
        let deep = format!("/{}", vec!["x"; 16].join("/"));
        assert!(validate_parameter_name(&deep).is_err());
    }

    #[test]
    fn labels_and_paths() {
        assert!(validate_label("prod").is_ok());
        assert!(validate_label("1prod").is_err());
        assert!(validate_label("awsx").is_err());
        assert!(validate_label("a b").is_err());
        assert!(under_path("/a/b", "/a", false));
        assert!(!under_path("/a/b/c", "/a", false));
        assert!(under_path("/a/b/c", "/a", true));
        assert!(under_path("/a/b/c", "/a/", true));
        assert!(!under_path("/ab/c", "/a", true));
        assert!(!under_path("/a", "/a", true));
        assert!(under_path("/x", "/", false));
    }

    #[test]
    fn staging_labels_move() {
        let mut v: BTreeMap<String, Vec<String>> = BTreeMap::new();
        assert!(move_stages(&mut v, "v1", &[AWSCURRENT.into()]).is_empty());
        assert_eq!(v["v1"], vec![AWSCURRENT]);
        assert!(move_stages(&mut v, "v2", &[AWSCURRENT.into()]).is_empty());
        assert_eq!(v["v2"], vec![AWSCURRENT]);
        assert_eq!(v["v1"], vec![AWSPREVIOUS]);
        // A third version: v1 loses AWSPREVIOUS and is left unlabelled.
        let orphans = move_stages(&mut v, "v3", &[AWSCURRENT.into()]);
        assert_eq!(orphans, vec!["v1".to_string()]);
        assert_eq!(v["v2"], vec![AWSPREVIOUS]);
        assert_eq!(v["v3"], vec![AWSCURRENT]);
        // A custom label moves alone; AWSCURRENT stays.
        move_stages(&mut v, "v4", &["blue".into()]);
        assert_eq!(v["v3"], vec![AWSCURRENT]);
        assert_eq!(v["v4"], vec!["blue"]);
    }

    #[test]
    fn secret_names_and_suffix() {
        assert!(validate_secret_name("prod/db+pw=1.x@y-z").is_ok());
        assert!(validate_secret_name("").is_err());
        assert!(validate_secret_name("a b").is_err());
        let s = arn_suffix(&[0, 1, 61, 62, 200, 255]);
        assert_eq!(s.len(), 6);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
