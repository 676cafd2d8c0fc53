//! Identifiers in the formats AWS uses.

/// A 32-hex-digit id, as ECS uses for tasks and container instances.
pub fn hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A UUID in its hyphenated form (service deployment ids, KMS key ids…).
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
