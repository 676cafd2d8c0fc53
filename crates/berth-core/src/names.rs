//! Name rules shared by several resources.

/// `^[a-zA-Z0-9_-]{1,255}$`: cluster names, task definition families,
/// service names and container names follow this rule in ECS.
pub fn is_valid_ecs_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn ecs_names() {
        assert!(super::is_valid_ecs_name("web-app_1"));
        assert!(!super::is_valid_ecs_name(""));
        assert!(!super::is_valid_ecs_name("a b"));
        assert!(!super::is_valid_ecs_name(&"a".repeat(256)));
    }
}
