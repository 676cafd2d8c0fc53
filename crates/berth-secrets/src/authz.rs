//! Pure helpers of the typed operations' authorization (`kms_ops.rs`,
//! `ssm_ops.rs`, `sm_ops.rs`): the store names a `SecretId` may name, and
//! request and resource tags of both shapes.

use serde_json::Value;

/// The store names a `SecretId` may be stored under, most specific first: a
/// name as given; for an ARN, its name without the `-XXXXXX` suffix, then
/// the whole resource part (a partial ARN of a name that ends in `-XXXXXX`).
pub fn secret_name_candidates(secret_id: &str) -> Vec<String> {
    match secret_id.split_once(":secret:") {
        Some((_, rest)) if secret_id.starts_with("arn:") => {
            let mut c = vec![rest.to_string()];
            if let Some((base, suffix)) = rest.rsplit_once('-')
                && suffix.len() == 6
            {
                c.insert(0, base.to_string());
            }
            c
        }
        _ => vec![secret_id.to_string()],
    }
}

/// `[{Key, Value}]` (Secrets Manager, SSM) or `[{TagKey, TagValue}]` (KMS) as pairs.
/// Checks request tags (`Key`/`Value` or `TagKey`/`TagValue`) against the
/// shared tag rule ([`berth_core::tags::check_tags`]).
pub fn check_tags(tags: &[Value]) -> Result<(), berth_core::tags::TagViolation> {
    let pairs = tag_pairs(tags);
    berth_core::tags::check_tags(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

pub fn tag_pairs(tags: &[Value]) -> Vec<(String, String)> {
    tags.iter()
        .filter_map(|t| {
            let key = t.get("Key").or_else(|| t.get("TagKey"))?.as_str()?;
            let value = t
                .get("Value")
                .or_else(|| t.get("TagValue"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_candidates() {
        assert_eq!(secret_name_candidates("db"), vec!["db"]);
        assert_eq!(
            secret_name_candidates("arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf"),
            vec!["db", "db-AbCdEf"]
        );
        assert_eq!(
            secret_name_candidates("arn:aws:secretsmanager:us-east-1:000000000000:secret:db"),
            vec!["db"]
        );
    }

    #[test]
    fn tags_of_both_shapes() {
        assert_eq!(
            tag_pairs(&[
                json!({"Key": "team", "Value": "a"}),
                json!({"TagKey": "env", "TagValue": "p"})
            ]),
            vec![("team".into(), "a".into()), ("env".into(), "p".into())]
        );
        assert!(tag_pairs(&[json!({"Value": "x"})]).is_empty());
    }
}
