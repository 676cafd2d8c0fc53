//! The registry's pure rules: repository and tag names, tag mutability (one
//! decision shared by `/v2/` pushes and ECR `PutImage`), policy documents,
//! resource tags, HTTP byte ranges and list pagination. No IO.

use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

// ---------------------------------------------------------------- names

/// ECR's repository name pattern (the API model's), anchored.
const REPOSITORY_NAME_PATTERN: &str =
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$";

static REPOSITORY_NAME: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(REPOSITORY_NAME_PATTERN).expect("repository name pattern"));

/// The message ECR gives for a name that breaks the pattern.
pub const REPOSITORY_NAME_RULE: &str = "Invalid parameter at 'repositoryName' failed to satisfy constraint: \
     'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''";

/// ECR repository names: 2–256 characters of lowercase path components
/// separated by `/`, each component alphanumeric runs joined by `.`, `_`,
/// `__` or dashes.
pub fn validate_repository_name(name: &str) -> Result<(), String> {
    if name.len() < 2 || name.len() > 256 {
        return Err(format!(
            "Invalid parameter at 'repositoryName' failed to satisfy constraint: \
             'Member must have length between 2 and 256 inclusive' (got {} characters)",
            name.len()
        ));
    }
    if !REPOSITORY_NAME.is_match(name) {
        return Err(REPOSITORY_NAME_RULE.to_string());
    }
    Ok(())
}

/// An image tag: `[A-Za-z0-9_][A-Za-z0-9._-]*`, at most `max_len` long
/// (128 on `/v2/` per the OCI spec; ECR's API accepts up to 300).
pub fn is_valid_tag(tag: &str, max_len: usize) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= max_len
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

// ---------------------------------------------------------------- tag mutability

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagMutability {
    Mutable,
    Immutable,
    /// Tags are immutable except those matching an exclusion filter.
    ImmutableWithExclusion,
    /// Tags are mutable except those matching an exclusion filter.
    MutableWithExclusion,
}

impl TagMutability {
    pub fn as_str(self) -> &'static str {
        match self {
            TagMutability::Mutable => "MUTABLE",
            TagMutability::Immutable => "IMMUTABLE",
            TagMutability::ImmutableWithExclusion => "IMMUTABLE_WITH_EXCLUSION",
            TagMutability::MutableWithExclusion => "MUTABLE_WITH_EXCLUSION",
        }
    }

    fn has_exclusions(self) -> bool {
        matches!(
            self,
            TagMutability::ImmutableWithExclusion | TagMutability::MutableWithExclusion
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExclusionFilter {
    pub filter_type: String,
    pub filter: String,
}

/// Checks a mutability setting and its exclusion filters together.
pub fn validate_mutability(mode: TagMutability, filters: &[ExclusionFilter]) -> Result<(), String> {
    if mode.has_exclusions() {
        if filters.is_empty() || filters.len() > 5 {
            return Err(format!(
                "imageTagMutabilityExclusionFilters must contain between 1 and 5 filters when imageTagMutability is {}.",
                mode.as_str()
            ));
        }
    } else if !filters.is_empty() {
        return Err(format!(
            "imageTagMutabilityExclusionFilters can only be specified when imageTagMutability is \
             IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION, not {}.",
            mode.as_str()
        ));
    }
    for f in filters {
        if f.filter_type != "WILDCARD" {
            return Err(format!(
                "Invalid filterType '{}': the only supported filter type is WILDCARD.",
                f.filter_type
            ));
        }
        let ok = !f.filter.is_empty()
            && f.filter.len() <= 128
            && f.filter
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._*-".contains(&b));
        if !ok {
            return Err(format!(
                "Invalid filter '{}': filters are 1-128 characters of letters, digits, '.', '_', '-' and the wildcard '*'.",
                f.filter
            ));
        }
    }
    Ok(())
}

/// Glob matching where `*` matches any run of characters (possibly empty).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether `tag` may not be moved once it exists.
pub fn is_tag_immutable(mode: TagMutability, filters: &[ExclusionFilter], tag: &str) -> bool {
    let excluded = || filters.iter().any(|f| wildcard_match(&f.filter, tag));
    match mode {
        TagMutability::Mutable => false,
        TagMutability::Immutable => true,
        TagMutability::ImmutableWithExclusion => !excluded(),
        TagMutability::MutableWithExclusion => excluded(),
    }
}

/// What pushing `tag` → `new_digest` does to the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagChange {
    /// The tag is new.
    Create,
    /// The tag already points at this digest.
    Unchanged,
    /// The tag moves from another image (which stays, perhaps untagged).
    Move { from: String },
}

/// The push was refused: the tag exists, points elsewhere and is immutable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "The image tag '{tag}' already exists in the '{repository}' repository and cannot be overwritten because the tag is immutable."
)]
pub struct ImmutableTagError {
    pub tag: String,
    pub repository: String,
}

/// The one decision about a tag on push, used by `/v2/` manifest PUT and by
/// ECR `PutImage` alike.
pub fn decide_tag(
    repository: &str,
    mode: TagMutability,
    filters: &[ExclusionFilter],
    tag: &str,
    current: Option<&str>,
    new_digest: &str,
) -> Result<TagChange, ImmutableTagError> {
    match current {
        None => Ok(TagChange::Create),
        Some(c) if c == new_digest => Ok(TagChange::Unchanged),
        Some(c) => {
            if is_tag_immutable(mode, filters, tag) {
                Err(ImmutableTagError {
                    tag: tag.to_string(),
                    repository: repository.to_string(),
                })
            } else {
                Ok(TagChange::Move { from: c.to_string() })
            }
        }
    }
}

// ---------------------------------------------------------------- policies and tags

/// Checks that `text` is an IAM policy document: a JSON object with a
/// `Statement` (one or a list), each with `Effect` Allow/Deny and an
/// `Action`/`NotAction`; resource policies (`principal_required`) also need
/// a `Principal`/`NotPrincipal` in every statement.
pub fn validate_policy_document(text: &str, principal_required: bool) -> Result<(), String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the policy is not valid JSON: {e}"))?;
    let obj = doc.as_object().ok_or("the policy must be a JSON object")?;
    if let Some(v) = obj.get("Version") {
        match v.as_str() {
            Some("2012-10-17" | "2008-10-17") => {}
            _ => return Err("Version must be \"2012-10-17\" or \"2008-10-17\"".into()),
        }
    }
    let statements: Vec<&serde_json::Value> = match obj.get("Statement") {
        Some(serde_json::Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(s @ serde_json::Value::Object(_)) => vec![s],
        _ => return Err("the policy must have a non-empty Statement".into()),
    };
    for (i, s) in statements.iter().enumerate() {
        let s = s.as_object().ok_or(format!("Statement[{i}] must be an object"))?;
        match s.get("Effect").and_then(|e| e.as_str()) {
            Some("Allow" | "Deny") => {}
            _ => return Err(format!("Statement[{i}].Effect must be \"Allow\" or \"Deny\"")),
        }
        if !s.contains_key("Action") && !s.contains_key("NotAction") {
            return Err(format!("Statement[{i}] must have an Action or NotAction"));
        }
        if principal_required && !s.contains_key("Principal") && !s.contains_key("NotPrincipal") {
            return Err(format!("Statement[{i}] must have a Principal"));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceTag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default)]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRuleError {
    /// `InvalidTagParameterException`
    Invalid(String),
    /// `TooManyTagsException`
    TooMany(String),
}

/// ECR repository tags: the shared rule ([`berth_core::tags::check_tags`]),
/// in ECR's words.
pub fn validate_resource_tags(tags: &[ResourceTag]) -> Result<(), TagRuleError> {
    use berth_core::tags::{TagViolation, check_tags};
    check_tags(tags.iter().map(|t| (t.key.as_str(), t.value.as_str()))).map_err(|v| match v {
        TagViolation::TooMany => {
            TagRuleError::TooMany("The maximum number of tags that can be applied to a repository is 50.".into())
        }
        TagViolation::KeyLength(_) => TagRuleError::Invalid("Tag keys must be between 1 and 128 characters.".into()),
        TagViolation::ValueLength(_) => {
            TagRuleError::Invalid("Tag values can have a maximum length of 256 characters.".into())
        }
        TagViolation::ReservedPrefix(_) => {
            TagRuleError::Invalid("Tag keys starting with 'aws:' are reserved for AWS use.".into())
        }
        TagViolation::DuplicateKey(_) => TagRuleError::Invalid(v.to_string()),
    })
}

/// Adds or replaces tags by key, then checks the result.
pub fn merge_resource_tags(existing: &[ResourceTag], new: &[ResourceTag]) -> Result<Vec<ResourceTag>, TagRuleError> {
    validate_resource_tags(new)?;
    let mut out = existing.to_vec();
    for t in new {
        match out.iter_mut().find(|e| e.key == t.key) {
            Some(e) => e.value = t.value.clone(),
            None => out.push(t.clone()),
        }
    }
    validate_resource_tags(&out)?;
    Ok(out)
}

// ---------------------------------------------------------------- ranges

/// A chunk's `Content-Range` on a blob upload PATCH: `<start>-<end>`
/// (also accepted: `bytes <start>-<end>[/<total>]` and `bytes=<start>-<end>`).
pub fn parse_content_range(s: &str) -> Option<(u64, u64)> {
    let s = s.trim();
    let s = s
        .strip_prefix("bytes=")
        .or_else(|| s.strip_prefix("bytes "))
        .unwrap_or(s);
    let s = s.split('/').next()?;
    let (a, b) = s.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// The answer to a `Range` request on a blob of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve everything (no range, or one we do not understand).
    Full,
    /// Serve bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 416.
    Unsatisfiable,
}

/// Interprets `Range: bytes=a-b`, `bytes=a-` and `bytes=-n`. Multiple
/// ranges and other units are answered with the full body, as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeRequest::Full;
        };
        if n == 0 || size == 0 {
            return RangeRequest::Unsatisfiable;
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return RangeRequest::Full;
        };
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(size.saturating_sub(1)),
                _ => return RangeRequest::Full,
            }
        };
        (start, end)
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial { start, end }
}

/// ECR `UploadLayerPart`: the part must start where the upload stands and
/// its declared bounds must match the bytes sent.
pub fn check_layer_part(offset: u64, first: i64, last: i64, len: usize) -> Result<(), String> {
    if first < 0 || last < first {
        return Err(format!(
            "partFirstByte ({first}) and partLastByte ({last}) do not describe a part."
        ));
    }
    if first as u64 != offset {
        return Err(format!(
            "The part's first byte ({first}) is not consecutive to the last byte received ({}).",
            offset as i64 - 1
        ));
    }
    if (last - first + 1) as u64 != len as u64 {
        return Err(format!(
            "The part is {len} bytes but partFirstByte..partLastByte spans {} bytes.",
            last - first + 1
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- pagination

/// OCI list pagination (`n`, `last`) over a sorted list: the entries after
/// `last`, at most `n`; the second value is true when more follow.
pub fn page_after(sorted: &[String], last: Option<&str>, n: Option<usize>) -> (Vec<String>, bool) {
    let rest: Vec<&String> = sorted.iter().filter(|s| last.is_none_or(|l| s.as_str() > l)).collect();
    match n {
        Some(n) if rest.len() > n => (rest[..n].iter().map(|s| s.to_string()).collect(), true),
        _ => (rest.into_iter().cloned().collect(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in ["app", "team/app", "a1", "my-app", "a--b", "a__b", "a.b/c_d", "x/y/z"] {
            assert!(validate_repository_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "App",
            "team//app",
            "/app",
            "app/",
            "a_-b",
            "-app",
            "a b",
            "a:b",
            "app.",
            "a___b",
        ] {
            assert!(validate_repository_name(bad).is_err(), "{bad}");
        }
        assert!(validate_repository_name(&"a".repeat(257)).is_err());
        assert!(validate_repository_name(&"a".repeat(256)).is_ok());
    }

    #[test]
    fn tags() {
        assert!(is_valid_tag("latest", 128));
        assert!(is_valid_tag("_v1.2-rc", 128));
        assert!(!is_valid_tag(".x", 128));
        assert!(!is_valid_tag("-x", 128));
        assert!(!is_valid_tag("a/b", 128));
        assert!(!is_valid_tag("", 128));
        assert!(!is_valid_tag(&"a".repeat(129), 128));
        assert!(is_valid_tag(&"a".repeat(129), 300));
    }

    fn wf(f: &str) -> ExclusionFilter {
        ExclusionFilter {
            filter_type: "WILDCARD".into(),
            filter: f.into(),
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("latest", "latest"));
        assert!(!wildcard_match("latest", "latest2"));
        assert!(wildcard_match("dev-*", "dev-1"));
        assert!(wildcard_match("dev-*", "dev-"));
        assert!(wildcard_match("*-snapshot", "1.0-snapshot"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn mutability_validation() {
        use TagMutability::*;
        assert!(validate_mutability(Mutable, &[]).is_ok());
        assert!(validate_mutability(Immutable, &[wf("x")]).is_err());
        assert!(validate_mutability(ImmutableWithExclusion, &[]).is_err());
        assert!(validate_mutability(ImmutableWithExclusion, &[wf("dev-*")]).is_ok());
        assert!(validate_mutability(MutableWithExclusion, &[wf("bad/char")]).is_err());
        let six: Vec<_> = (0..6).map(|i| wf(&i.to_string())).collect();
        assert!(validate_mutability(MutableWithExclusion, &six).is_err());
        let mut other = wf("x");
        other.filter_type = "REGEX".into();
        assert!(validate_mutability(MutableWithExclusion, &[other]).is_err());
    }

    #[test]
    fn tag_decisions() {
        use TagMutability::*;
        let d = |mode, filters: &[ExclusionFilter], cur: Option<&str>| decide_tag("app", mode, filters, "v1", cur, "B");
        assert_eq!(d(Immutable, &[], None), Ok(TagChange::Create));
        assert_eq!(d(Immutable, &[], Some("B")), Ok(TagChange::Unchanged));
        let err = d(Immutable, &[], Some("A")).unwrap_err();
        assert!(err.to_string().contains("'v1' already exists in the 'app' repository"));
        assert_eq!(d(Mutable, &[], Some("A")), Ok(TagChange::Move { from: "A".into() }));
        assert!(d(ImmutableWithExclusion, &[wf("v*")], Some("A")).is_ok());
        assert!(d(ImmutableWithExclusion, &[wf("dev*")], Some("A")).is_err());
        assert!(d(MutableWithExclusion, &[wf("v*")], Some("A")).is_err());
        assert!(d(MutableWithExclusion, &[wf("dev*")], Some("A")).is_ok());
    }

    #[test]
    fn policy_documents() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;
        assert!(validate_policy_document(ok, true).is_ok());
        let single = r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"Action":["ecr:*"]}}"#;
        assert!(validate_policy_document(single, true).is_ok());
        assert!(validate_policy_document("nope", true).is_err());
        assert!(validate_policy_document(r#"{"Statement":[]}"#, true).is_err());
        assert!(
            validate_policy_document(
                r#"{"Statement":[{"Effect":"Maybe","Action":"x","Principal":"*"}]}"#,
                true
            )
            .is_err()
        );
        let no_principal = r#"{"Statement":[{"Effect":"Allow","Action":"x"}]}"#;
        assert!(validate_policy_document(no_principal, true).is_err());
        assert!(validate_policy_document(no_principal, false).is_ok());
        assert!(
            validate_policy_document(
                r#"{"Version":"2020","Statement":[{"Effect":"Allow","Action":"x"}]}"#,
                false
            )
            .is_err()
        );
    }

    fn t(k: &str, v: &str) -> ResourceTag {
        ResourceTag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn resource_tags() {
        assert!(validate_resource_tags(&[t("a", "")]).is_ok());
        assert!(matches!(
            validate_resource_tags(&[t("", "x")]),
            Err(TagRuleError::Invalid(_))
        ));
        assert!(matches!(
            validate_resource_tags(&[t("aws:x", "x")]),
            Err(TagRuleError::Invalid(_))
        ));
        let many: Vec<_> = (0..51).map(|i| t(&i.to_string(), "")).collect();
        assert!(matches!(validate_resource_tags(&many), Err(TagRuleError::TooMany(_))));
        let merged = merge_resource_tags(&[t("a", "1")], &[t("a", "2"), t("b", "3")]).unwrap();
        assert_eq!(merged, vec![t("a", "2"), t("b", "3")]);
        let fifty: Vec<_> = (0..50).map(|i| t(&i.to_string(), "")).collect();
        assert!(matches!(
            merge_resource_tags(&fifty, &[t("new", "")]),
            Err(TagRuleError::TooMany(_))
        ));
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199/1000"), Some((100, 199)));
        assert_eq!(parse_content_range("bytes=5-5"), Some((5, 5)));
        assert_eq!(parse_content_range("9-1"), None);
        assert_eq!(parse_content_range("x"), None);
    }

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Partial { start: 0, end: 3 });
        assert_eq!(parse_range(Some("bytes=4-"), 10), Partial { start: 4, end: 9 });
        assert_eq!(parse_range(Some("bytes=-3"), 10), Partial { start: 7, end: 9 });
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Partial { start: 5, end: 9 });
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
    }

    #[test]
    fn layer_parts() {
        assert!(check_layer_part(0, 0, 9, 10).is_ok());
        assert!(check_layer_part(10, 10, 19, 10).is_ok());
        assert!(check_layer_part(10, 0, 9, 10).is_err());
        assert!(check_layer_part(0, 0, 9, 5).is_err());
        assert!(check_layer_part(0, 5, 4, 0).is_err());
    }

    #[test]
    fn pages() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(page_after(&all, None, Some(2)), (vec!["a".into(), "b".into()], true));
        assert_eq!(
            page_after(&all, Some("b"), Some(2)),
            (vec!["c".into(), "d".into()], false)
        );
        assert_eq!(page_after(&all, Some("d"), None), (vec![], false));
        assert_eq!(page_after(&all, None, Some(0)), (vec![], true));
    }
}
