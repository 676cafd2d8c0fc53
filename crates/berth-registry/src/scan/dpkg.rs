//! Debian's package database and version ordering (pure).
//!
//! Versions compare as dpkg does (`deb-version(7)`): the epoch numerically,
//! then the upstream version and the revision with `verrevcmp` — runs of
//! non-digits by character (letters before other characters, `~` before
//! everything, even the end), runs of digits numerically.

use std::cmp::Ordering;

/// `[epoch:]upstream[-revision]`.
fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(u64::MAX), r),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// dpkg's ordering of two versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// An installed package of `var/lib/dpkg/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// The source package (what Debian's advisories name), or `name`.
    pub source: String,
}

/// The packages `var/lib/dpkg/status` lists as installed.
pub fn parse_status(text: &str) -> Vec<Installed> {
    let mut out = vec![];
    for para in text.split("\n\n") {
        let (mut name, mut version, mut source, mut installed) = (None, None, None, false);
        for line in para.lines() {
            let Some((k, v)) = line.split_once(':') else { continue };
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let v = v.trim();
            match k {
                "Package" => name = Some(v.to_string()),
                "Version" => version = Some(v.to_string()),
                // `Source: name (version)` when the source's version differs.
                "Source" => source = v.split_whitespace().next().map(str::to_string),
                "Status" => installed = v.ends_with(" installed"),
                _ => {}
            }
        }
        if let (Some(name), Some(version), true) = (name, version, installed) {
            let source = source.unwrap_or_else(|| name.clone());
            out.push(Installed { name, version, source });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn versions_order_as_dpkg_orders_them() {
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1:0.1", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0", "1.0a", Less),
            ("1.0a", "1.0+", Less),
            ("1.10", "1.9", Greater),
            ("3.0.11-1~deb12u1", "3.0.11-1~deb12u2", Less),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("1.001", "1.1", Equal),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("0:1.2", "1.2", Equal),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn the_status_file_lists_installed_packages_with_their_source() {
        let text = "Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1)\nVersion: 3.0.11-1~deb12u1\nDescription: x\n more\n\n\
                    Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                    Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\n";
        assert_eq!(
            parse_status(text),
            vec![
                Installed {
                    name: "libssl3".into(),
                    version: "3.0.11-1~deb12u1".into(),
                    source: "openssl".into()
                },
                Installed {
                    name: "zlib1g".into(),
                    version: "1:1.2.13".into(),
                    source: "zlib1g".into()
                },
            ]
        );
    }
}
