//! The short id or name a task, container instance or service reference
//! ends with: `NAME` as given, or the last segment of
//! `arn:…:KIND/[CLUSTER/]NAME`.

/// The short id or name in `reference` (empty for an ARN ending in `/`).
pub fn short_name(reference: &str) -> &str {
    if reference.starts_with("arn:") {
        reference.rsplit('/').next().unwrap_or("")
    } else {
        reference
    }
}
