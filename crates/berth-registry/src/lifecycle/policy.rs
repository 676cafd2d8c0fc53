//! The lifecycle policy text (ECR user guide, "Lifecycle policy
//! properties"): `{"rules": [{rulePriority, description?, selection:
//! {tagStatus, tagPrefixList?, tagPatternList?, countType, countUnit?,
//! countNumber}, action: {type}}]}`, validated as ECR does.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// At most this many `*` in one `tagPatternList` entry (ECR's limit).
pub const MAX_WILDCARDS: usize = 4;

/// Why a policy text is refused; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which images a rule looks at, by their tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSelection {
    /// Images with at least one tag, each prefix matched by one of its tags.
    TaggedPrefixes(Vec<String>),
    /// Images with at least one tag, each pattern (`*` wildcards) matched
    /// by one of its tags.
    TaggedPatterns(Vec<String>),
    Untagged,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountType {
    /// Keep the newest N (by push time); the older ones expire.
    ImageCountMoreThan(u32),
    /// Images pushed more than N days ago expire.
    SinceImagePushedDays(u32),
    /// Images last pulled (or, never pulled, pushed) more than N days ago expire.
    SinceImagePulledDays(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub priority: u32,
    pub selection: TagSelection,
    pub count: CountType,
}

/// A validated policy: rules sorted by priority (lowest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub rules: Vec<Rule>,
}

fn err(m: impl Into<String>) -> PolicyError {
    PolicyError(m.into())
}

fn string_list(
    sel: &serde_json::Map<String, Value>,
    name: &str,
    priority: u32,
) -> Result<Option<Vec<String>>, PolicyError> {
    let Some(v) = sel.get(name) else { return Ok(None) };
    let items = v
        .as_array()
        .ok_or_else(|| err(format!("rule {priority}: '{name}' must be a list of strings")))?;
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        let s = i
            .as_str()
            .ok_or_else(|| err(format!("rule {priority}: '{name}' must be a list of strings")))?;
        if s.is_empty() {
            return Err(err(format!(
                "rule {priority}: '{name}' must not contain an empty string"
            )));
        }
        out.push(s.to_string());
    }
    if out.is_empty() {
        return Err(err(format!("rule {priority}: '{name}' must not be empty")));
    }
    Ok(Some(out))
}

fn positive(v: Option<&Value>, what: &str, priority: u32) -> Result<u32, PolicyError> {
    let n = v.and_then(Value::as_u64).ok_or_else(|| {
        err(format!(
            "rule {priority}: '{what}' is required and must be a whole number greater than 0"
        ))
    })?;
    if n == 0 || n > u64::from(u32::MAX) {
        return Err(err(format!(
            "rule {priority}: '{what}' must be a whole number from 1 to {}",
            u32::MAX
        )));
    }
    Ok(n as u32)
}

const RULE_KEYS: [&str; 4] = ["rulePriority", "description", "selection", "action"];
const SELECTION_KEYS: [&str; 6] = [
    "tagStatus",
    "tagPrefixList",
    "tagPatternList",
    "countType",
    "countUnit",
    "countNumber",
];

fn parse_rule(v: &Value) -> Result<Rule, PolicyError> {
    let obj = v.as_object().ok_or_else(|| err("each rule must be an object"))?;
    let priority = match obj.get("rulePriority").and_then(Value::as_u64) {
        Some(p) if (1..=u64::from(u32::MAX)).contains(&p) => p as u32,
        _ => {
            return Err(err(
                "'rulePriority' is required in every rule and must be a whole number of at least 1",
            ));
        }
    };
    if let Some(k) = obj.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
        return Err(err(format!("rule {priority}: unknown property '{k}'")));
    }
    if let Some(d) = obj.get("description")
        && !d.is_string()
    {
        return Err(err(format!("rule {priority}: 'description' must be a string")));
    }
    let sel = obj.get("selection").and_then(Value::as_object).ok_or_else(|| {
        err(format!(
            "rule {priority}: 'selection' is required and must be an object"
        ))
    })?;
    if let Some(k) = sel.keys().find(|k| !SELECTION_KEYS.contains(&k.as_str())) {
        return Err(err(format!("rule {priority}: unknown selection property '{k}'")));
    }
    let prefixes = string_list(sel, "tagPrefixList", priority)?;
    let patterns = string_list(sel, "tagPatternList", priority)?;
    let selection = match sel.get("tagStatus").and_then(Value::as_str) {
        Some("tagged") => match (prefixes, patterns) {
            (Some(p), None) => TagSelection::TaggedPrefixes(p),
            (None, Some(p)) => {
                if let Some(bad) = p.iter().find(|p| p.matches('*').count() > MAX_WILDCARDS) {
                    return Err(err(format!(
                        "rule {priority}: the tag pattern '{bad}' has more than {MAX_WILDCARDS} wildcards ('*')"
                    )));
                }
                TagSelection::TaggedPatterns(p)
            }
            (Some(_), Some(_)) => {
                return Err(err(format!(
                    "rule {priority}: give either 'tagPrefixList' or 'tagPatternList', not both"
                )));
            }
            (None, None) => {
                return Err(err(format!(
                    "rule {priority}: a rule with 'tagStatus' 'tagged' needs a 'tagPrefixList' or a 'tagPatternList'"
                )));
            }
        },
        Some(s @ ("untagged" | "any")) => {
            if prefixes.is_some() || patterns.is_some() {
                return Err(err(format!(
                    "rule {priority}: 'tagPrefixList' and 'tagPatternList' are only allowed when 'tagStatus' is 'tagged'"
                )));
            }
            if s == "untagged" {
                TagSelection::Untagged
            } else {
                TagSelection::Any
            }
        }
        Some(other) => {
            return Err(err(format!(
                "rule {priority}: 'tagStatus' '{other}' is not one of tagged, untagged, any"
            )));
        }
        None => return Err(err(format!("rule {priority}: 'tagStatus' is required"))),
    };
    let unit = match sel.get("countUnit") {
        None => None,
        Some(Value::String(u)) if u == "days" => Some(()),
        Some(other) => {
            return Err(err(format!("rule {priority}: 'countUnit' {other} is not 'days'")));
        }
    };
    let number = positive(sel.get("countNumber"), "countNumber", priority)?;
    let count = match sel.get("countType").and_then(Value::as_str) {
        Some("imageCountMoreThan") => {
            if unit.is_some() {
                return Err(err(format!(
                    "rule {priority}: 'countUnit' is not allowed with 'countType' 'imageCountMoreThan'"
                )));
            }
            CountType::ImageCountMoreThan(number)
        }
        Some(t @ ("sinceImagePushed" | "sinceImagePulled")) => {
            if unit.is_none() {
                return Err(err(format!(
                    "rule {priority}: 'countType' '{t}' needs 'countUnit' 'days'"
                )));
            }
            if t == "sinceImagePushed" {
                CountType::SinceImagePushedDays(number)
            } else {
                CountType::SinceImagePulledDays(number)
            }
        }
        Some(other) => {
            return Err(err(format!(
                "rule {priority}: 'countType' '{other}' is not one of imageCountMoreThan, sinceImagePushed, sinceImagePulled"
            )));
        }
        None => return Err(err(format!("rule {priority}: 'countType' is required"))),
    };
    let action = obj
        .get("action")
        .and_then(Value::as_object)
        .ok_or_else(|| err(format!("rule {priority}: 'action' is required and must be an object")))?;
    match action.get("type").and_then(Value::as_str) {
        Some("expire") if action.len() == 1 => {}
        Some("expire") => {
            return Err(err(format!(
                "rule {priority}: an 'expire' action takes no other property"
            )));
        }
        Some("transition") => {
            return Err(err(format!(
                "rule {priority}: action 'transition' is not supported by Berth (it has no archive storage class); use 'expire'"
            )));
        }
        _ => return Err(err(format!("rule {priority}: 'action.type' must be 'expire'"))),
    }
    Ok(Rule {
        priority,
        selection,
        count,
    })
}

impl Policy {
    /// Parses and validates a lifecycle policy text.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let v: Value = serde_json::from_str(text).map_err(|e| err(format!("the policy is not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| err("the policy must be a JSON object with 'rules'"))?;
        if let Some(k) = obj.keys().find(|k| k.as_str() != "rules") {
            return Err(err(format!("unknown property '{k}' (a policy has only 'rules')")));
        }
        let rules = obj
            .get("rules")
            .and_then(Value::as_array)
            .ok_or_else(|| err("'rules' is required and must be a list"))?;
        if rules.is_empty() {
            return Err(err("'rules' must contain at least one rule"));
        }
        let mut parsed = rules.iter().map(parse_rule).collect::<Result<Vec<_>, _>>()?;
        let mut seen = BTreeSet::new();
        for r in &parsed {
            if !seen.insert(r.priority) {
                return Err(err(format!(
                    "'rulePriority' {} is used by more than one rule",
                    r.priority
                )));
            }
        }
        parsed.sort_by_key(|r| r.priority);
        let untagged = parsed.iter().filter(|r| r.selection == TagSelection::Untagged).count();
        if untagged > 1 {
            return Err(err("only one rule may select untagged images"));
        }
        if let Some(pos) = parsed.iter().position(|r| r.selection == TagSelection::Any)
            && pos + 1 != parsed.len()
        {
            return Err(err(format!(
                "the rule with 'tagStatus' 'any' (priority {}) must have the highest 'rulePriority'",
                parsed[pos].priority
            )));
        }
        Ok(Policy { rules: parsed })
    }
}

/// Whether `tag` matches `pattern`, where `*` matches any run of characters
/// (the whole tag must match).
pub fn pattern_matches(pattern: &str, tag: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == tag;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if tag.len() < first.len() + last.len() || !tag.starts_with(first) || !tag.ends_with(last) {
        return false;
    }
    let mut rest = &tag[first.len()..tag.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl TagSelection {
    /// Whether an image with these tags is selected.
    pub fn selects(&self, tags: &[String]) -> bool {
        match self {
            TagSelection::Any => true,
            TagSelection::Untagged => tags.is_empty(),
            TagSelection::TaggedPrefixes(p) => {
                !tags.is_empty() && p.iter().all(|p| tags.iter().any(|t| t.starts_with(p.as_str())))
            }
            TagSelection::TaggedPatterns(p) => {
                !tags.is_empty() && p.iter().all(|p| tags.iter().any(|t| pattern_matches(p, t)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: &str) -> Result<Policy, PolicyError> {
        Policy::parse(&format!("{{\"rules\":[{rules}]}}"))
    }

    const UNTAGGED_1D: &str = r#"{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}"#;

    #[test]
    fn parses_the_documented_example() {
        let p = policy(&format!(
            r#"{{"rulePriority":1,"description":"keep 3 prod","selection":{{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":3}},"action":{{"type":"expire"}}}},{UNTAGGED_1D}"#
        ))
        .unwrap();
        assert_eq!(p.rules.len(), 2);
        assert_eq!(p.rules[0].selection, TagSelection::TaggedPatterns(vec!["prod*".into()]));
        assert_eq!(p.rules[0].count, CountType::ImageCountMoreThan(3));
        assert_eq!(p.rules[1].count, CountType::SinceImagePushedDays(1));
    }

    #[test]
    fn refusals_name_the_problem() {
        let cases = [
            ("not json", "not valid JSON"),
            ("{}", "'rules' is required"),
            (r#"{"rules":[]}"#, "at least one rule"),
            (
                r#"{"rules":[{"rulePriority":0,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
                "rulePriority",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
                "needs a 'tagPrefixList' or a 'tagPatternList'",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
                "only allowed when",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["*a*b*c*d*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
                "more than 4 wildcards",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countNumber":1},"action":{"type":"expire"}}]}"#,
                "needs 'countUnit' 'days'",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}"#,
                "not allowed",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0},"action":{"type":"expire"}}]}"#,
                "countNumber",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}}]}"#,
                "not supported",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
                "highest 'rulePriority'",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
                "more than one rule",
            ),
        ];
        for (text, want) in cases {
            let e = Policy::parse(text).expect_err(text);
            assert!(e.0.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("prod*", "prod-1"));
        assert!(pattern_matches("prod*", "prod"));
        assert!(!pattern_matches("prod*", "xprod"));
        assert!(pattern_matches("*-rc*", "v1-rc2"));
        assert!(pattern_matches("a*b*c", "axxbyyc"));
        assert!(!pattern_matches("a*b*c", "axxcyyb"));
        assert!(pattern_matches("exact", "exact"));
        assert!(!pattern_matches("exact", "exact1"));
        assert!(!pattern_matches("ab*ba", "aba"));
    }

    #[test]
    fn selections_need_every_prefix_or_pattern() {
        let tags = vec!["prod-1".to_string(), "stable".to_string()];
        assert!(TagSelection::TaggedPrefixes(vec!["prod".into(), "sta".into()]).selects(&tags));
        assert!(!TagSelection::TaggedPrefixes(vec!["prod".into(), "beta".into()]).selects(&tags));
        assert!(TagSelection::TaggedPatterns(vec!["*-1".into()]).selects(&tags));
        assert!(!TagSelection::Untagged.selects(&tags));
        assert!(TagSelection::Untagged.selects(&[]));
        assert!(!TagSelection::TaggedPrefixes(vec!["".into()]).selects(&[]));
    }
}
