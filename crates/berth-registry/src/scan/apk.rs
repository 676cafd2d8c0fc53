//! Alpine's package database and version ordering (pure).
//!
//! Versions are `digits(.digits)*[letter](_suffix[digits])*[-rN]`, ordered
//! as apk orders them: the numbers one by one (a missing one is lower),
//! then the letter, then the suffixes (`_alpha` < `_beta` < `_pre` < `_rc` <
//! none < `_cvs` < `_svn` < `_git` < `_hg` < `_p`), then the revision.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Parsed {
    numbers: Vec<u64>,
    letter: Option<u8>,
    /// (rank, number); "no suffix" ranks between `_rc` and `_cvs`.
    suffixes: Vec<(i8, u64)>,
    revision: u64,
}

fn rank(s: &str) -> i8 {
    match s {
        "alpha" => -4,
        "beta" => -3,
        "pre" => -2,
        "rc" => -1,
        "cvs" => 1,
        "svn" => 2,
        "git" => 3,
        "hg" => 4,
        "p" => 5,
        _ => 0,
    }
}

fn parse(v: &str) -> Parsed {
    let (main, revision) = match v.rsplit_once("-r") {
        Some((m, r)) if r.bytes().all(|b| b.is_ascii_digit()) => (m, r.parse().unwrap_or(0)),
        _ => (v, 0),
    };
    let mut parts = main.split('_');
    let base = parts.next().unwrap_or("");
    let (mut numbers, mut letter) = (vec![], None);
    for n in base.split('.') {
        let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
        numbers.push(digits.parse().unwrap_or(0));
        letter = n[digits.len()..].bytes().next();
    }
    let suffixes = parts
        .map(|s| {
            let name: String = s.chars().take_while(|c| !c.is_ascii_digit()).collect();
            (rank(&name), s[name.len()..].parse().unwrap_or(0))
        })
        .collect();
    Parsed {
        numbers,
        letter,
        suffixes,
        revision,
    }
}

/// apk's ordering of two versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse(a), parse(b));
    let suffixes = |s: &[(i8, u64)]| {
        let mut s = s.to_vec();
        s.push((0, 0)); // "no more suffixes" sorts where none does
        s
    };
    a.numbers
        .cmp(&b.numbers)
        .then_with(|| a.letter.cmp(&b.letter))
        .then_with(|| suffixes(&a.suffixes).cmp(&suffixes(&b.suffixes)))
        .then_with(|| a.revision.cmp(&b.revision))
}

/// An installed package of `lib/apk/db/installed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// The origin package (what Alpine's advisories name), or `name`.
    pub origin: String,
}

/// The packages `lib/apk/db/installed` lists.
pub fn parse_installed(text: &str) -> Vec<Installed> {
    let mut out = vec![];
    for para in text.split("\n\n") {
        let (mut name, mut version, mut origin) = (None, None, None);
        for line in para.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = Some(v.to_string()),
                Some(("V", v)) => version = Some(v.to_string()),
                Some(("o", v)) => origin = Some(v.to_string()),
                _ => {}
            }
        }
        if let (Some(name), Some(version)) = (name, version) {
            let origin = origin.unwrap_or_else(|| name.clone());
            out.push(Installed { name, version, origin });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn versions_order_as_apk_orders_them() {
        for (a, b, want) in [
            ("1.2.3-r0", "1.2.3-r1", Less),
            ("1.2.3", "1.2.3-r0", Equal),
            ("1.2.10", "1.2.9", Greater),
            ("1.2", "1.2.0", Less),
            ("1.2.3a", "1.2.3b", Less),
            ("1.2.3", "1.2.3a", Less),
            ("1.2.3_rc1", "1.2.3", Less),
            ("1.2.3_alpha", "1.2.3_beta", Less),
            ("1.2.3_p1", "1.2.3", Greater),
            ("3.1.4-r5", "3.1.4-r6", Less),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn the_installed_database_lists_packages_with_their_origin() {
        let text = "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r5\no:openssl\n\nP:musl\nV:1.2.4-r2\n";
        assert_eq!(
            parse_installed(text),
            vec![
                Installed {
                    name: "libcrypto3".into(),
                    version: "3.1.4-r5".into(),
                    origin: "openssl".into()
                },
                Installed {
                    name: "musl".into(),
                    version: "1.2.4-r2".into(),
                    origin: "musl".into()
                },
            ]
        );
    }
}
