//! Wildcard matching as IAM does it: `*` (any run, also empty) and `?` (one
//! character); ARN matching segment by segment; policy variables.

use super::ContextKeys;

/// Matches `text` against `pattern` with `*` and `?`.
pub fn glob_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    // Iterative matcher with backtracking to the last `*`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `ArnLike`: both must be ARNs; each of the first five `:`-separated
/// segments is matched on its own (a `*` does not cross a `:` there), the
/// resource part as a whole.
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if p.len() != 6 || a.len() != 6 {
        return glob_match(pattern, arn, false);
    }
    p.iter().zip(&a).all(|(p, a)| glob_match(p, a, false))
}

/// Replaces `${key}` policy variables with their values from `keys`
/// (`${*}`, `${?}`, `${$}` stand for the literal characters). `None` when a
/// variable has no (single) value: the pattern then matches nothing.
pub fn substitute(pattern: &str, keys: &ContextKeys) -> Option<String> {
    if !pattern.contains("${") {
        return Some(pattern.to_string());
    }
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Some(out);
        };
        let name = &after[..end];
        match name {
            "*" | "?" | "$" => {
                // The literal character (a `*`/`?` then still acts as a
                // wildcard in matching, which only widens to the literal).
                out.push_str(name);
            }
            _ => {
                // `${aws:username, 'default'}` default values.
                let (key, default) = match name.split_once(',') {
                    Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\''))),
                    None => (name.trim(), None),
                };
                match keys.single(key).or(default) {
                    Some(v) => out.push_str(v),
                    None => return None,
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("ecs:*", "ecs:CreateCluster", true),
            ("ecs:Describe*", "ecs:DescribeClusters", true),
            ("ecs:Describe*", "ecs:ListClusters", false),
            ("ecs:?escribeClusters", "ecs:DescribeClusters", true),
            ("ecs:?escribeClusters", "ecs:escribeClusters", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            (
                "arn:aws:ecs:*:*:cluster/prod-*",
                "arn:aws:ecs:us-east-1:1:cluster/prod-a",
                true,
            ),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_match(p, t, false), want, "{p} vs {t}");
        }
        assert!(glob_match("ECS:describe*", "ecs:DescribeClusters", true));
        assert!(!glob_match("ECS:describe*", "ecs:DescribeClusters", false));
    }

    #[test]
    fn arn_like_matches_by_segment() {
        assert!(arn_like("arn:aws:iam::*:user/*", "arn:aws:iam::123456789012:user/bob"));
        assert!(!arn_like(
            "arn:aws:iam::*:user/*",
            "arn:aws:sts::123456789012:assumed-role/r/s"
        ));
        // A `*` in the service segment does not swallow the region/account segments.
        assert!(!arn_like("arn:aws:*::*:user/bob", "arn:aws:iam:us-east-1:1:user/bob"));
        assert!(arn_like("arn:aws:*:*:*:user/bob", "arn:aws:iam::1:user/bob"));
        assert!(arn_like(
            "arn:aws:ecs:us-east-1:1:cluster/*",
            "arn:aws:ecs:us-east-1:1:cluster/a"
        ));
        assert!(arn_like("*", "whatever"));
    }

    #[test]
    fn policy_variables() {
        let mut k = ContextKeys::new();
        k.set("aws:username", "bob");
        assert_eq!(
            substitute("arn:aws:iam::1:user/${aws:username}", &k).as_deref(),
            Some("arn:aws:iam::1:user/bob")
        );
        assert_eq!(substitute("x/${AWS:UserName}/y", &k).as_deref(), Some("x/bob/y"));
        assert_eq!(substitute("x/${aws:PrincipalTag/team}", &k), None);
        assert_eq!(
            substitute("x/${aws:PrincipalTag/team, 'none'}", &k).as_deref(),
            Some("x/none")
        );
        assert_eq!(substitute("plain", &k).as_deref(), Some("plain"));
    }
}
