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

/// A `GetParameter(s)` name with an optional `:version` or `:label` selector.
#[derive(Debug, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Version(i64),
    Label(String),
}

/// Splits `name[:selector]` (the name itself never contains `:`; a name may be a parameter ARN).
pub fn parse_selector(raw: &str) -> Result<(String, Selector), String> {
    let name = if let Some(rest) = raw.strip_prefix("arn:") {
        // arn:aws:ssm:R:A:parameter/NAME[:sel]
        let resource = rest
            .splitn(5, ':')
            .nth(4)
            .ok_or_else(|| format!("Invalid parameter ARN: {raw}"))?;
        let r = resource
            .strip_prefix("parameter")
            .ok_or_else(|| format!("Invalid parameter ARN: {raw}"))?;
        r.to_string()
    } else {
        raw.to_string()
    };
    let name = if name.starts_with("//") {
        name[1..].to_string()
    } else {
        name
    };
    let (n, sel) = match name.split_once(':') {
        None => return Ok((strip_arn_slash(raw, name), Selector::Latest)),
        Some((n, s)) => (n.to_string(), s),
    };
    if sel.is_empty() {
        return Err(format!("Invalid parameter selector in {raw}"));
    }
    let selector = if sel.chars().all(|c| c.is_ascii_digit()) {
        Selector::Version(sel.parse().map_err(|_| format!("Invalid version in {raw}"))?)
    } else {
        Selector::Label(sel.to_string())
    };
    Ok((strip_arn_slash(raw, n), selector))
}

/// The `:version` or `:label` selector of a `GetParameter(s)` name or
/// parameter ARN, as GetParameters echoes it in `Selector`.
pub fn selector_suffix(raw: &str) -> Option<&str> {
    let start = if raw.starts_with("arn:") {
        // arn:aws:ssm:R:A:parameter/NAME[:sel]: after the fifth colon.
        raw.match_indices(':').nth(4).map(|(i, _)| i + 1)?
    } else {
        0
    };
    raw[start..].find(':').map(|i| &raw[start + i..])
}

/// `arn:…:parameter/name` names `name` (non-hierarchical) and `arn:…:parameter/a/b` names `/a/b`.
fn strip_arn_slash(raw: &str, name: String) -> String {
    if raw.starts_with("arn:") && name.matches('/').count() == 1 {
        name.trim_start_matches('/').to_string()
    } else {
        name
    }
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

// ---- ECS container `secrets` (`valueFrom`) ----

/// Where a container secret's `valueFrom` points.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// An SSM parameter: its name, or its ARN.
    Parameter(String),
    /// A Secrets Manager secret with the optional ECS suffixes
    /// `:json-key:version-stage:version-id` (each may be empty).
    Secret {
        secret_id: String,
        json_key: Option<String>,
        version_stage: Option<String>,
        version_id: Option<String>,
    },
}

/// Parses a `valueFrom` as ECS does.
pub fn parse_value_from(value_from: &str) -> Result<SecretSource, String> {
    if value_from.is_empty() {
        return Err("valueFrom must not be empty".into());
    }
    if !value_from.starts_with("arn:") {
        return Ok(SecretSource::Parameter(value_from.to_string()));
    }
    let parts: Vec<&str> = value_from.split(':').collect();
    match parts.get(2).copied() {
        Some("ssm") => Ok(SecretSource::Parameter(value_from.to_string())),
        Some("secretsmanager") => {
            if parts.len() < 7 || parts[5] != "secret" || parts.len() > 10 {
                return Err(format!("invalid Secrets Manager ARN in valueFrom: {value_from}"));
            }
            let opt = |i: usize| parts.get(i).filter(|s| !s.is_empty()).map(|s| s.to_string());
            Ok(SecretSource::Secret {
                secret_id: parts[..7].join(":"),
                json_key: opt(7),
                version_stage: opt(8),
                version_id: opt(9),
            })
        }
        _ => Err(format!(
            "valueFrom must name an SSM parameter or a Secrets Manager secret: {value_from}"
        )),
    }
}

/// The value of `key` in a secret holding a JSON object (strings as they
/// are, other values as JSON text).
pub fn json_key(secret_string: &str, key: &str) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(secret_string).map_err(|_| "the secret value is not a JSON object".to_string())?;
    match v.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(format!("the key {key} is not in the secret's JSON")),
    }
}

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
    fn selectors() {
        assert_eq!(parse_selector("/a/b").unwrap(), ("/a/b".into(), Selector::Latest));
        assert_eq!(parse_selector("/a/b:3").unwrap(), ("/a/b".into(), Selector::Version(3)));
        assert_eq!(
            parse_selector("x:prod").unwrap(),
            ("x".into(), Selector::Label("prod".into()))
        );
        assert!(parse_selector("x:").is_err());
        assert_eq!(
            parse_selector("arn:aws:ssm:us-east-1:000000000000:parameter/a/b:2").unwrap(),
            ("/a/b".into(), Selector::Version(2))
        );
        assert_eq!(
            parse_selector("arn:aws:ssm:us-east-1:000000000000:parameter/plain").unwrap(),
            ("plain".into(), Selector::Latest)
        );
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
    fn selector_suffixes() {
        assert_eq!(selector_suffix("/a/b:3"), Some(":3"));
        assert_eq!(selector_suffix("plain:blue"), Some(":blue"));
        assert_eq!(selector_suffix("/a/b"), None);
        assert_eq!(
            selector_suffix("arn:aws:ssm:us-east-1:000000000000:parameter/a/b"),
            None
        );
        assert_eq!(
            selector_suffix("arn:aws:ssm:us-east-1:000000000000:parameter/a/b:7"),
            Some(":7")
        );
    }

    #[test]
    fn value_from_forms() {
        assert_eq!(
            parse_value_from("/app/pw").unwrap(),
            SecretSource::Parameter("/app/pw".into())
        );
        let ssm = "arn:aws:ssm:us-east-1:000000000000:parameter/app/pw";
        assert_eq!(parse_value_from(ssm).unwrap(), SecretSource::Parameter(ssm.into()));
        let arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf";
        assert_eq!(
            parse_value_from(arn).unwrap(),
            SecretSource::Secret {
                secret_id: arn.into(),
                json_key: None,
                version_stage: None,
                version_id: None
            }
        );
        assert_eq!(
            parse_value_from(&format!("{arn}:password::")).unwrap(),
            SecretSource::Secret {
                secret_id: arn.into(),
                json_key: Some("password".into()),
                version_stage: None,
                version_id: None
            }
        );
        assert_eq!(
            parse_value_from(&format!("{arn}::AWSPREVIOUS:")).unwrap(),
            SecretSource::Secret {
                secret_id: arn.into(),
                json_key: None,
                version_stage: Some("AWSPREVIOUS".into()),
                version_id: None
            }
        );
        assert!(parse_value_from(&format!("{arn}:a:b:c:d")).is_err());
        assert!(parse_value_from("arn:aws:s3:::bucket").is_err());
        assert!(parse_value_from("").is_err());
    }

    #[test]
    fn json_keys() {
        assert_eq!(json_key(r#"{"user":"u","port":5432}"#, "user").unwrap(), "u");
        assert_eq!(json_key(r#"{"user":"u","port":5432}"#, "port").unwrap(), "5432");
        assert!(json_key(r#"{"user":"u"}"#, "pw").is_err());
        assert!(json_key("plain", "pw").is_err());
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
