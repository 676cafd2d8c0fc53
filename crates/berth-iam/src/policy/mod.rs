//! IAM policy documents and their evaluation. Pure: no IO, no clock (the
//! caller puts `aws:CurrentTime` and friends into the [`ContextKeys`]).
//!
//! - [`PolicyDocument::parse`] validates a JSON policy the way IAM does on
//!   `CreatePolicy`/`PutRolePolicy` (errors become `MalformedPolicyDocument`).
//! - [`evaluate`] decides one request: explicit Deny > Allow > implicit deny,
//!   across identity policies and an optional resource policy (same account).

mod condition;
mod eval;
mod matching;

pub use condition::{Condition, ConditionOp};
pub use eval::{Decision, DenySource, Request, denial_message, evaluate, evaluate_trust, matches_principal};
pub use matching::{arn_like, glob_match};

use serde_json::Value;
use std::collections::HashMap;

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn malformed(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list of patterns, or its negation (`NotAction`, `NotResource`, `NotPrincipal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    pub values: Vec<String>,
    pub negated: bool,
}

/// `Principal` of a resource (or trust) policy: `"*"` or a map of
/// `AWS`/`Service`/`Federated` to principal identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalSpec {
    Any,
    Map(HashMap<String, Vec<String>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalBlock {
    pub spec: PrincipalSpec,
    pub negated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<PrincipalBlock>,
    pub action: Patterns,
    /// None only in trust policies, which may leave out `Resource`.
    pub resource: Option<Patterns>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    pub version: Option<String>,
    pub statements: Vec<Statement>,
}

/// What kind of policy a document is, for the checks IAM makes on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user/role (managed or inline): no `Principal` allowed, `Resource` required.
    Identity,
    /// Attached to a resource (repository policy, …): `Principal` required.
    Resource,
    /// A role's trust policy: `Principal` required, `Resource` not allowed.
    Trust,
}

/// The request context keys, looked up case-insensitively (stored lowercased).
/// A key may hold several values (`aws:TagKeys`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextKeys(HashMap<String, Vec<String>>);

impl ContextKeys {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }
    pub fn set_many(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.0.insert(key.to_ascii_lowercase(), values);
        self
    }
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.0.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }
    /// A single-valued key, for policy variables.
    pub fn single(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some([one]) => Some(one.as_str()),
            _ => None,
        }
    }
}

impl PolicyDocument {
    /// Parses and validates a policy document (JSON text).
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        let v: Value = serde_json::from_str(text).map_err(|_| malformed("Syntax errors in policy."))?;
        Self::from_value(&v, kind)
    }

    pub fn from_value(v: &Value, kind: PolicyKind) -> Result<Self, PolicyError> {
        let obj = v
            .as_object()
            .ok_or_else(|| malformed("Syntax errors in policy: the document must be a JSON object."))?;
        for k in obj.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!(
                    "Syntax errors in policy: unknown top-level element '{k}'."
                )));
            }
        }
        let version = match obj.get("Version") {
            None => None,
            Some(Value::String(s)) if s == "2012-10-17" || s == "2008-10-17" => Some(s.clone()),
            Some(_) => return Err(malformed("The policy must contain a valid version string")),
        };
        let statements = match obj.get("Statement") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|s| parse_statement(s, kind))
                .collect::<Result<_, _>>()?,
            Some(s @ Value::Object(_)) => vec![parse_statement(s, kind)?],
            _ => return Err(malformed("Syntax errors in policy: missing required field Statement.")),
        };
        Ok(Self { version, statements })
    }
}

fn string_list(v: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let bad = || {
        malformed(format!(
            "Syntax errors in policy: {field} must be a string or a list of strings."
        ))
    };
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

fn patterns(obj: &serde_json::Map<String, Value>, name: &str, not_name: &str) -> Result<Option<Patterns>, PolicyError> {
    match (obj.get(name), obj.get(not_name)) {
        (Some(_), Some(_)) => Err(malformed(format!(
            "Syntax errors in policy: a statement cannot have both {name} and {not_name}."
        ))),
        (Some(v), None) => Ok(Some(Patterns {
            values: string_list(v, name)?,
            negated: false,
        })),
        (None, Some(v)) => Ok(Some(Patterns {
            values: string_list(v, not_name)?,
            negated: true,
        })),
        (None, None) => Ok(None),
    }
}

fn parse_principal(v: &Value, field: &str) -> Result<PrincipalSpec, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(PrincipalSpec::Any),
        Value::Object(map) => {
            let mut out = HashMap::new();
            for (k, v) in map {
                if !matches!(k.as_str(), "AWS" | "Service" | "Federated" | "CanonicalUser") {
                    return Err(malformed(format!(
                        "Invalid principal in policy: unknown principal type \"{k}\""
                    )));
                }
                out.insert(k.clone(), string_list(v, field)?);
            }
            Ok(PrincipalSpec::Map(out))
        }
        _ => Err(malformed("Invalid principal in policy: expected \"*\" or an object.")),
    }
}

fn parse_statement(v: &Value, kind: PolicyKind) -> Result<Statement, PolicyError> {
    let obj = v
        .as_object()
        .ok_or_else(|| malformed("Syntax errors in policy: each statement must be an object."))?;
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(malformed(format!(
                "Syntax errors in policy: unknown statement element '{k}'."
            )));
        }
    }
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("Syntax errors in policy: Sid must be a string.")),
    };
    let effect = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => {
            return Err(malformed(
                "Syntax errors in policy: Effect must be \"Allow\" or \"Deny\".",
            ));
        }
    };
    let principal = match (obj.get("Principal"), obj.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return Err(malformed(
                "Syntax errors in policy: a statement cannot have both Principal and NotPrincipal.",
            ));
        }
        (Some(p), None) => Some(PrincipalBlock {
            spec: parse_principal(p, "Principal")?,
            negated: false,
        }),
        (None, Some(p)) => Some(PrincipalBlock {
            spec: parse_principal(p, "NotPrincipal")?,
            negated: true,
        }),
        (None, None) => None,
    };
    match (kind, &principal) {
        (PolicyKind::Identity, Some(_)) => {
            return Err(malformed("Policy document should not specify a principal."));
        }
        (PolicyKind::Resource | PolicyKind::Trust, None) => {
            return Err(malformed("Missing required field Principal"));
        }
        _ => {}
    }
    let action =
        patterns(obj, "Action", "NotAction")?.ok_or_else(|| malformed("Policy statement must contain actions."))?;
    for a in &action.values {
        if a != "*" && !a.contains(':') {
            return Err(malformed(format!(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. (offending action: {a})"
            )));
        }
    }
    let resource = patterns(obj, "Resource", "NotResource")?;
    match (kind, &resource) {
        (PolicyKind::Identity, None) => return Err(malformed("Policy statement must contain resources.")),
        (PolicyKind::Trust, Some(_)) => {
            return Err(malformed("Has prohibited field Resource"));
        }
        _ => {}
    }
    let conditions = match obj.get("Condition") {
        None => vec![],
        Some(c) => condition::parse_block(c)?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_as_object_or_list() {
        let one = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*"}}"#;
        let many = r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":["ecs:List*","ecs:Describe*"],"Resource":["*"]},{"Effect":"Deny","NotAction":"ecs:*","NotResource":"arn:aws:ecs:*"}]}"#;
        let d = PolicyDocument::parse(one, PolicyKind::Identity).unwrap();
        assert_eq!(d.statements.len(), 1);
        let d = PolicyDocument::parse(many, PolicyKind::Identity).unwrap();
        assert_eq!(d.statements.len(), 2);
        assert_eq!(d.statements[0].sid.as_deref(), Some("a"));
        assert_eq!(d.statements[0].action.values, vec!["ecs:List*", "ecs:Describe*"]);
        assert!(d.statements[1].action.negated);
        assert!(d.statements[1].resource.as_ref().unwrap().negated);
        assert_eq!(d.statements[1].effect, Effect::Deny);
    }

    #[test]
    fn malformed_documents_are_refused() {
        let cases = [
            ("not json", "Syntax errors"),
            (r#"[]"#, "JSON object"),
            (r#"{"Version":"2000-01-01","Statement":[]}"#, "valid version"),
            (
                r#"{"Statement":{"Effect":"Maybe","Action":"a:b","Resource":"*"}}"#,
                "Effect",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
                "must contain actions",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"ecs:X"}}"#,
                "must contain resources",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"CreateCluster","Resource":"*"}}"#,
                "vendor",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","NotAction":"a:c","Resource":"*"}}"#,
                "both",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}}"#,
                "principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringFoo":{"k":"v"}}}}"#,
                "operator",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Bogus":1}}"#,
                "unknown statement element",
            ),
        ];
        for (doc, want) in cases {
            let err = PolicyDocument::parse(doc, PolicyKind::Identity).unwrap_err();
            assert!(err.0.contains(want), "{doc}: {err}");
        }
    }

    #[test]
    fn trust_and_resource_policies_need_a_principal() {
        let no_principal = r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#;
        assert!(PolicyDocument::parse(no_principal, PolicyKind::Trust).is_err());
        let trust = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
        let d = PolicyDocument::parse(trust, PolicyKind::Trust).unwrap();
        assert!(d.statements[0].resource.is_none());
        let with_resource =
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}}"#;
        assert!(PolicyDocument::parse(with_resource, PolicyKind::Trust).is_err());
        let bad_type = r#"{"Statement":{"Effect":"Allow","Principal":{"Martian":"x"},"Action":"ecr:*"}}"#;
        assert!(PolicyDocument::parse(bad_type, PolicyKind::Resource).is_err());
    }
}
