use super::*;

#[test]
fn single_codes_lists_and_ranges() {
    let m = Matcher::parse("200").unwrap();
    assert!(m.accepts(200) && !m.accepts(204));
    let m = Matcher::parse("200,204").unwrap();
    assert!(m.accepts(204) && !m.accepts(201));
    let m = Matcher::parse("200-299").unwrap();
    assert!(m.accepts(200) && m.accepts(299) && !m.accepts(300) && !m.accepts(199));
    let m = Matcher::parse("200-204, 302").unwrap();
    assert!(m.accepts(302) && m.accepts(203));
    assert_eq!(m.to_string(), "200-204,302");
}

#[test]
fn malformed_codes_are_refused() {
    for bad in ["", "abc", "299-200", "200-", "99", "600", "200,,204"] {
        assert_eq!(Matcher::parse(bad), Err(MatcherError(bad.into())), "{bad}");
    }
}
