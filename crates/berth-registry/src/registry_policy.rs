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
}
