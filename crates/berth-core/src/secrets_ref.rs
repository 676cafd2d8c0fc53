//! References to secrets, as ECS task definitions and SSM callers write
//! them: a container secret's `valueFrom` (an SSM parameter or a Secrets
//! Manager secret with ECS's `:json-key:version-stage:version-id` suffixes),
//! the JSON key inside a secret, and SSM's `name[:version|:label]`
//! selectors. Pure parsers, shared by the Secrets Manager/SSM services and
//! the agent that resolves secrets for a task.

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
}
