//! Opaque pagination tokens: the last key returned, base64url-encoded, so a
//! client can only hand back what we gave it.

use crate::AwsError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes the position after which the next page starts.
pub fn encode_token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key.as_bytes())
}

/// Decodes a `nextToken`; garbage becomes `InvalidParameterException`.
pub fn decode_token(token: &str) -> Result<String, AwsError> {
    URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| AwsError::invalid_parameter("The specified nextToken is invalid."))
}

/// Applies `maxResults`/`nextToken` to a list sorted by `key`. Returns the page
/// and the token for the next one.
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    next_token: Option<&str>,
    max_results: Option<i64>,
    default_max: usize,
    limit_max: usize,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    paginate_ordered(items, key, next_token, max_results, default_max, limit_max, false)
}

/// [`paginate`] for a list sorted by `key` in either direction: with
/// `descending`, the next page starts below the last key returned.
pub fn paginate_ordered<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    next_token: Option<&str>,
    max_results: Option<i64>,
    default_max: usize,
    limit_max: usize,
    descending: bool,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let max = match max_results {
        None => default_max,
        Some(n) if n >= 1 && (n as usize) <= limit_max => n as usize,
        Some(n) => {
            return Err(AwsError::invalid_parameter(format!(
                "maxResults must be between 1 and {limit_max}, got {n}."
            )));
        }
    };
    let after = next_token.map(decode_token).transpose()?;
    let mut page: Vec<T> = items
        .into_iter()
        .filter(|i| match &after {
            None => true,
            Some(a) if descending => key(i).as_str() < a.as_str(),
            Some(a) => key(i).as_str() > a.as_str(),
        })
        .take(max + 1)
        .collect();
    let next = if page.len() > max {
        page.truncate(max);
        page.last().map(|l| encode_token(&key(l)))
    } else {
        None
    };
    Ok((page, next))
}

/// Adds `nextToken` to a list answer when there is a next page.
pub fn with_next_token(mut out: serde_json::Value, next: Option<String>) -> serde_json::Value {
    if let Some(n) = next {
        out["nextToken"] = serde_json::Value::String(n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<String> = (0..25).map(|i| format!("k{i:03}")).collect();
        let mut seen = vec![];
        let mut token = None;
        loop {
            let (page, next) = paginate(items.clone(), |s| s.clone(), token.as_deref(), Some(10), 100, 100).unwrap();
            seen.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn descending_pages_cover_everything_once() {
        let items: Vec<String> = (0..25).rev().map(|i| format!("k{i:03}")).collect();
        let mut seen = vec![];
        let mut token = None;
        loop {
            let (page, next) =
                paginate_ordered(items.clone(), |s| s.clone(), token.as_deref(), Some(7), 100, 100, true).unwrap();
            seen.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn next_token_only_when_there_is_one() {
        let v = with_next_token(serde_json::json!({"a": []}), None);
        assert!(v.get("nextToken").is_none());
        let v = with_next_token(serde_json::json!({"a": []}), Some("t".into()));
        assert_eq!(v["nextToken"], "t");
    }

    #[test]
    fn bad_token_and_bad_max() {
        assert!(decode_token("!!!").is_err());
        assert!(paginate(vec![1], |i| i.to_string(), None, Some(0), 10, 100).is_err());
        assert!(paginate(vec![1], |i| i.to_string(), None, Some(101), 10, 100).is_err());
    }
}
