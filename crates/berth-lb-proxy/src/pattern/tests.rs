use super::*;

#[test]
fn literal_star_and_question_mark() {
    assert!(matches("/img/*", "/img/a/b.png"));
    assert!(matches("/img/*", "/img/"));
    assert!(!matches("/img/*", "/img"));
    assert!(matches("/a?c", "/abc"));
    assert!(!matches("/a?c", "/ac"));
    assert!(matches("*", ""));
    assert!(matches("*.png", "/x/y.png"));
    assert!(matches("/*/b/*", "/a/b/c"));
    assert!(!matches("/*/b/*", "/a/c/b"));
    assert!(matches("/exact", "/exact"));
    assert!(!matches("/exact", "/exactly"));
}

#[test]
fn paths_are_case_sensitive_hosts_are_not() {
    assert!(!matches("/API/*", "/api/x"));
    assert!(matches_ignore_case("*.Example.com", "www.example.COM"));
    assert!(!matches_ignore_case("*.example.com", "example.com"));
    assert!(matches_ignore_case("api.example.???", "API.example.org"));
}

#[test]
fn backtracking_finds_a_late_match() {
    assert!(matches("*a*a*a*b", "aaaaaaaaaaaaab"));
    assert!(!matches("*a*a*a*b", "aaaaaaaaaaaaaa"));
}
