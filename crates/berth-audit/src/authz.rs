//! What every routed CloudTrail operation is authorized on (pure).
//! LookupEvents is not resource-scoped in AWS (the Service Authorization
//! Reference lists no resource type for it): `*`, stated here rather than
//! left to a default. The dispatch routes exactly [`OPERATIONS`].

/// What an operation acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Not resource-scoped in AWS: `*`.
    Any,
}

/// Every routed operation and what it is authorized on.
pub const OPERATIONS: &[(&str, Scope)] = &[("LookupEvents", Scope::Any)];

/// What `operation` acts on, or `None` when it is not routed.
pub fn scope_of(operation: &str) -> Option<Scope> {
    OPERATIONS.iter().find(|(op, _)| *op == operation).map(|(_, s)| *s)
}

/// The ARNs `operation` is authorized on (none when it is not routed).
pub fn resource_arns(operation: &str) -> Vec<String> {
    match scope_of(operation) {
        Some(Scope::Any) => vec!["*".to_string()],
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_routed_operation_is_mapped() {
        for (op, _) in OPERATIONS {
            assert_eq!(resource_arns(op), ["*"], "{op}");
        }
        assert!(resource_arns("CreateTrail").is_empty());
    }
}
