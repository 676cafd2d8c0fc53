//! What a registry policy (PutRegistryPolicy) may grant, pure. ECR's
//! registry policy scope V1 enforces only the registry-level actions —
//! `ecr:ReplicateImage` (cross-account replication into this registry),
//! `ecr:CreateRepository` (the repository a replica or a cached image
//! needs) and `ecr:BatchImportUpstreamImage` (pull-through cache) — and
//! refuses a policy naming any other; Berth does the same (it does not
//! apply the V2 scope, which extends the registry policy to every ECR
//! action, so such a grant would be stored and never honoured).

use serde_json::Value;

/// The actions a registry policy may name (`ecr:*` names them all).
pub const REGISTRY_ACTIONS: [&str; 3] = [
    "ecr:ReplicateImage",
    "ecr:CreateRepository",
    "ecr:BatchImportUpstreamImage",
];

/// Checks every statement's `Action` names only [`REGISTRY_ACTIONS`] (or
/// `ecr:*`); `NotAction` is refused. The document is already known to be
/// a well-formed policy (`rules::validate_policy_document`).
pub fn check_actions(text: &str) -> Result<(), String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("the policy is not valid JSON: {e}"))?;
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s) => vec![s],
        None => vec![],
    };
    for (i, s) in statements.iter().enumerate() {
        if s.get("NotAction").is_some() {
            return Err(format!(
                "Statement[{i}] uses NotAction: a registry policy names its actions ({})",
                REGISTRY_ACTIONS.join(", ")
            ));
        }
        let actions: Vec<&Value> = match s.get("Action") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(a) => vec![a],
            None => vec![],
        };
        for a in actions {
            let name = a.as_str().unwrap_or_default();
            let allowed =
                name.eq_ignore_ascii_case("ecr:*") || REGISTRY_ACTIONS.iter().any(|r| r.eq_ignore_ascii_case(name));
            if !allowed {
                return Err(format!(
                    "Statement[{i}] names the action '{name}': a registry policy may grant only {} (or ecr:*)",
                    REGISTRY_ACTIONS.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// Whether the registry policy `text` allows account `source` (a
/// cross-account replication from it) `action` on `resource`: an explicit
/// Deny naming the account wins, else an Allow naming it (its id, its
/// `arn:aws:iam::ID:root`, or `*`) with the action (`ecr:*` too) and a
/// `Resource` matching (`*` wildcards) grants. A statement with a
/// `Condition` is not applied (Berth does not evaluate conditions here),
/// so it never grants. `Err(why)` when not allowed.
pub fn allows_account(text: Option<&str>, source: &str, action: &str, resource: &str) -> Result<(), String> {
    let Some(text) = text else {
        return Err("the registry has no registry policy (PutRegistryPolicy)".to_string());
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("the registry policy is not valid JSON: {e}"))?;
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s) => vec![s],
        None => vec![],
    };
    let mut allowed = false;
    for s in statements {
        if s.get("Condition").is_some() || s.get("NotPrincipal").is_some() || s.get("NotResource").is_some() {
            continue;
        }
        let names_account = strings(s.get("Principal").and_then(|p| p.get("AWS").or(Some(p))))
            .iter()
            .any(|p| *p == "*" || *p == source || *p == format!("arn:aws:iam::{source}:root"));
        let names_action = strings(s.get("Action"))
            .iter()
            .any(|a| a.eq_ignore_ascii_case("ecr:*") || a.eq_ignore_ascii_case(action));
        let names_resource = strings(s.get("Resource")).iter().any(|r| glob(r, resource));
        if !(names_account && names_action && names_resource) {
            continue;
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return Err(format!("the registry policy denies {action} to account {source}")),
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "the registry policy does not allow {action} on {resource} to arn:aws:iam::{source}:root"
        ))
    }
}

/// A policy element's strings (one string or an array of them).
fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// `*` matches any run of characters, `?` one.
fn glob(pattern: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(actions: Value) -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": actions,
            "Resource": "arn:aws:ecr:us-east-1:000000000000:repository/*"}]})
        .to_string()
    }

    #[test]
    fn the_replication_actions_are_accepted() {
        assert_eq!(
            check_actions(&policy(serde_json::json!([
                "ecr:CreateRepository",
                "ecr:ReplicateImage"
            ]))),
            Ok(())
        );
        assert_eq!(
            check_actions(&policy(serde_json::json!("ecr:BatchImportUpstreamImage"))),
            Ok(())
        );
        assert_eq!(check_actions(&policy(serde_json::json!("ecr:*"))), Ok(()));
        assert_eq!(check_actions(&policy(serde_json::json!("ECR:replicateimage"))), Ok(()));
    }

    #[test]
    fn other_actions_are_refused() {
        let e = check_actions(&policy(serde_json::json!(["ecr:ReplicateImage", "ecr:BatchGetImage"]))).unwrap_err();
        assert!(e.contains("'ecr:BatchGetImage'"), "{e}");
        assert!(check_actions(&policy(serde_json::json!("s3:*"))).is_err());
        assert!(check_actions(&policy(serde_json::json!("*"))).is_err());
        let not_action = serde_json::json!({"Statement": {"Effect": "Allow", "Principal": "*",
            "NotAction": "ecr:ReplicateImage", "Resource": "*"}})
        .to_string();
        assert!(check_actions(&not_action).unwrap_err().contains("NotAction"));
    }

    #[test]
    fn allows_the_source_account_named_by_its_root_or_id() {
        let arn = "arn:aws:ecr:us-east-1:222222222222:repository/app";
        let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:222222222222:repository/*"}]}"#;
        assert_eq!(
            allows_account(Some(p), "111111111111", "ecr:ReplicateImage", arn),
            Ok(())
        );
        assert!(allows_account(Some(p), "333333333333", "ecr:ReplicateImage", arn).is_err());
        assert!(allows_account(Some(p), "111111111111", "ecr:BatchImportUpstreamImage", arn).is_err());
        assert!(
            allows_account(
                Some(p),
                "111111111111",
                "ecr:ReplicateImage",
                "arn:aws:ecr:eu-west-1:222222222222:repository/app"
            )
            .is_err()
        );
        let by_id =
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"ecr:*","Resource":"*"}}"#;
        assert_eq!(
            allows_account(Some(by_id), "111111111111", "ecr:ReplicateImage", arn),
            Ok(())
        );
        assert!(allows_account(None, "111111111111", "ecr:ReplicateImage", arn).is_err());
    }

    #[test]
    fn a_deny_or_a_condition_never_grants() {
        let arn = "arn:aws:ecr:us-east-1:222222222222:repository/app";
        let deny = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*"},{"Effect":"Deny","Principal":{"AWS":"111111111111"},"Action":"ecr:ReplicateImage","Resource":"*"}]}"#;
        assert!(allows_account(Some(deny), "111111111111", "ecr:ReplicateImage", arn).is_err());
        let cond = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111111111111"}}}]}"#;
        assert!(allows_account(Some(cond), "111111111111", "ecr:ReplicateImage", arn).is_err());
    }
}
