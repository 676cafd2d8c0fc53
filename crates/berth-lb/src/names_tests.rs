//! Load balancer and target group names, and tags merged with ELBv2's codes.

use super::*;

fn tag(k: &str, v: &str) -> Tag {
    Tag {
        key: k.into(),
        value: Some(v.into()),
    }
}

#[test]
fn names() {
    check_lb_name("web-1").unwrap();
    check_tg_name("a").unwrap();
    for bad in ["", "-web", "web-", "web_1", &"a".repeat(33)] {
        assert_eq!(check_lb_name(bad).unwrap_err().code(), "ValidationError", "{bad}");
        assert!(check_tg_name(bad).is_err(), "{bad}");
    }
    assert!(check_lb_name("internal-web").is_err());
    check_tg_name("internal-web").unwrap();
}

#[test]
fn tags_merge_by_key_with_elbv2_codes() {
    let merged = merge_tags(&[tag("a", "1")], &[tag("a", "2"), tag("b", "3")]).unwrap();
    assert_eq!(merged, vec![tag("a", "2"), tag("b", "3")]);
    assert_eq!(
        merge_tags(&[], &[tag("a", "1"), tag("a", "2")]).unwrap_err().code(),
        "DuplicateTagKeys"
    );
    assert_eq!(
        merge_tags(&[], &[tag("AWS:x", "1")]).unwrap_err().code(),
        "ValidationError"
    );
    let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    assert_eq!(merge_tags(&[], &many).unwrap_err().code(), "TooManyTags");
}
