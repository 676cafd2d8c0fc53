//! rpm's package headers and version ordering (pure).
//!
//! A header (as rpm ≥ 4.16 keeps it in `rpmdb.sqlite`'s `Packages.blob`)
//! is `il` and `dl` (big-endian u32), `il` index entries of 16 bytes (tag,
//! type, offset, count) and a data store of `dl` bytes the offsets point
//! into; the scanner reads NAME (1000), VERSION (1001), RELEASE (1002),
//! EPOCH (1003), ARCH (1022) and SOURCERPM (1044).
//!
//! Versions compare as rpm does: the epoch numerically (none is 0), then
//! the version and the release with `rpmvercmp` — alphanumeric segments
//! one by one (digits numerically, letters by byte, a numeric segment newer
//! than an alphabetic one), other characters only separating, `~` older
//! than anything (even the end), `^` newer than the end but older than
//! anything else. A version without a release (`3.0.7`, as advisories may
//! name a fix) sorts before every release of that version.

use std::cmp::Ordering;

pub const TAG_NAME: u32 = 1000;
pub const TAG_VERSION: u32 = 1001;
pub const TAG_RELEASE: u32 = 1002;
pub const TAG_EPOCH: u32 = 1003;
pub const TAG_ARCH: u32 = 1022;
pub const TAG_SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm refuses headers with more entries or data than these.
const MAX_ENTRIES: u32 = 0xffff;
const MAX_DATA: u32 = 256 << 20;

fn segment_end(s: &[u8], from: usize, digits: bool) -> usize {
    let mut i = from;
    while i < s.len()
        && (if digits {
            s[i].is_ascii_digit()
        } else {
            s[i].is_ascii_alphabetic()
        })
    {
        i += 1;
    }
    i
}

/// rpm's `rpmvercmp` of two version (or release) strings.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca.is_none() && cb.is_none() {
            return Ordering::Equal;
        }
        // `~` sorts before everything, the end included.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // `^` sorts after the end, before everything else.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            // Whichever has a segment left is newer.
            return if i < a.len() { Ordering::Greater } else { Ordering::Less };
        };
        let numeric = ca.is_ascii_digit();
        let (ea, eb) = (segment_end(a, i, numeric), segment_end(b, j, numeric));
        if eb == j {
            // Segments of different kinds: the numeric one is newer.
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let (mut sa, mut sb) = (&a[i..ea], &b[j..eb]);
        if numeric {
            while sa.len() > 1 && sa[0] == b'0' {
                sa = &sa[1..];
            }
            while sb.len() > 1 && sb[0] == b'0' {
                sb = &sb[1..];
            }
            let by_len = sa.len().cmp(&sb.len());
            if by_len != Ordering::Equal {
                return by_len;
            }
        }
        let by_bytes = sa.cmp(sb);
        if by_bytes != Ordering::Equal {
            return by_bytes;
        }
        i = ea;
        j = eb;
    }
}

/// `[epoch:]version[-release]`.
fn split(v: &str) -> (u64, &str, Option<&str>) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(u64::MAX), r),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((version, release)) => (epoch, version, Some(release)),
        None => (epoch, rest, None),
    }
}

/// rpm's ordering of two `[epoch:]version[-release]` strings.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split(a);
    let (eb, vb, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            (ra, rb) => ra.is_some().cmp(&rb.is_some()),
        })
}

/// An installed package, from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: Option<String>,
    /// The source package's name (of SOURCERPM), or `name`.
    pub source: String,
}

impl Package {
    /// `[epoch:]version-release`, the epoch shown when it is not 0 (as
    /// advisories write fixed versions).
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) if e > 0 => format!("{e}:{}-{}", self.version, self.release),
            _ => format!("{}-{}", self.version, self.release),
        }
    }
}

/// The name of a source package file: `openssl-3.0.7-24.el9.src.rpm` →
/// `openssl`.
pub fn source_name(sourcerpm: &str) -> Option<&str> {
    let base = sourcerpm
        .strip_suffix(".src.rpm")
        .or_else(|| sourcerpm.strip_suffix(".nosrc.rpm"))?;
    let (rest, _release) = base.rsplit_once('-')?;
    let (name, _version) = rest.rsplit_once('-')?;
    (!name.is_empty()).then_some(name)
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HeaderError {
    #[error("the header is truncated")]
    Truncated,
    #[error("the header has {0} entries, more than rpm allows")]
    TooManyEntries(u32),
    #[error("the header's data store is {0} bytes, more than rpm allows")]
    TooMuchData(u32),
    #[error("tag {0} points outside the header's data store")]
    OutOfBounds(u32),
    #[error("the header has no {0}")]
    Missing(&'static str),
}

struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
}

fn be32(b: &[u8], at: usize) -> Result<u32, HeaderError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(HeaderError::Truncated)
}

/// The fields of one header blob the scanner needs.
pub fn parse_header(blob: &[u8]) -> Result<Package, HeaderError> {
    let il = be32(blob, 0)?;
    let dl = be32(blob, 4)?;
    if il > MAX_ENTRIES {
        return Err(HeaderError::TooManyEntries(il));
    }
    if dl > MAX_DATA {
        return Err(HeaderError::TooMuchData(dl));
    }
    let data_at = 8 + 16 * il as usize;
    let data = blob.get(data_at..data_at + dl as usize).ok_or(HeaderError::Truncated)?;
    let mut entries = Vec::with_capacity(il as usize);
    for k in 0..il as usize {
        let at = 8 + 16 * k;
        entries.push(Entry {
            tag: be32(blob, at)?,
            kind: be32(blob, at + 4)?,
            offset: be32(blob, at + 8)? as usize,
        });
    }
    let find = |tag: u32| entries.iter().find(|e| e.tag == tag);
    let string = |tag: u32| -> Result<Option<String>, HeaderError> {
        let Some(e) = find(tag) else { return Ok(None) };
        if !matches!(e.kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Ok(None);
        }
        let tail = data.get(e.offset..).ok_or(HeaderError::OutOfBounds(tag))?;
        let end = tail.iter().position(|b| *b == 0).ok_or(HeaderError::OutOfBounds(tag))?;
        Ok(Some(String::from_utf8_lossy(&tail[..end]).into_owned()))
    };
    let epoch = match find(TAG_EPOCH) {
        Some(e) if e.kind == TYPE_INT32 => Some(be32(data, e.offset).map_err(|_| HeaderError::OutOfBounds(TAG_EPOCH))?),
        _ => None,
    };
    let name = string(TAG_NAME)?.ok_or(HeaderError::Missing("NAME"))?;
    let source = string(TAG_SOURCERPM)?
        .as_deref()
        .and_then(source_name)
        .map(str::to_string)
        .unwrap_or_else(|| name.clone());
    Ok(Package {
        version: string(TAG_VERSION)?.ok_or(HeaderError::Missing("VERSION"))?,
        release: string(TAG_RELEASE)?.ok_or(HeaderError::Missing("RELEASE"))?,
        arch: string(TAG_ARCH)?,
        epoch,
        source,
        name,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use Ordering::*;
    use proptest::prelude::*;

    /// A header blob of (tag, value) entries: strings, or an INT32 epoch.
    pub(crate) fn header(strings: &[(u32, &str)], epoch: Option<u32>) -> Vec<u8> {
        let (mut index, mut data) = (vec![], vec![]);
        let mut entry = |tag: u32, kind: u32, offset: usize| {
            for n in [tag, kind, offset as u32, 1] {
                index.extend_from_slice(&n.to_be_bytes());
            }
        };
        for (tag, s) in strings {
            entry(*tag, TYPE_STRING, data.len());
            data.extend_from_slice(s.as_bytes());
            data.push(0);
        }
        if let Some(e) = epoch {
            data.resize(data.len().div_ceil(4) * 4, 0);
            entry(TAG_EPOCH, TYPE_INT32, data.len());
            data.extend_from_slice(&e.to_be_bytes());
        }
        let mut out = vec![];
        out.extend_from_slice(&((index.len() / 16) as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    #[test]
    fn rpmvercmp_as_rpm_orders_versions() {
        // From rpm's own rpmvercmp test table.
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1", Equal),
            ("2.0", "2.0.1", Less),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("2.0a", "2.0", Greater),
            ("1.0a", "1.0.1", Less),
            ("1.0", "1.0a", Less),
            ("1.0aa", "1.0a", Greater),
            ("1.0b", "1.0a", Greater),
            ("6.0.rc1", "6.0", Greater),
            ("10b2", "10a1", Greater),
            ("1.0010", "1.9", Greater),
            ("1.05", "1.5", Equal),
            ("1.0", "1", Greater),
            ("2.50", "2.5", Greater),
            ("fc4", "fc.4", Equal),
            ("FC5", "fc4", Less),
            ("2a", "2.0", Less),
            ("1.0", "1_0", Equal),
            ("1.0~rc1", "1.0~rc1", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn epoch_then_version_then_release() {
        for (a, b, want) in [
            ("1:1.0-1", "2.0-1", Greater),
            ("0:1.0-1", "1.0-1", Equal),
            ("3.0.7-24.el9", "3.0.7-25.el9_3", Less),
            ("1:3.0.7-25.el9_3", "1:3.0.7-24.el9", Greater),
            ("1.0.1-1", "1.0-2", Greater),
            // A fix named without a release covers every build of it.
            ("3.0.7", "3.0.7-1.el9", Less),
            ("3.0.6-9.el9", "3.0.7", Less),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    fn version() -> impl Strategy<Value = String> {
        proptest::string::string_regex("([0-9]{1,2}:)?[0-9a-c.~^_]{0,6}(-[0-9a-c.~^]{1,4})?").unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_ordering_is_total(a in version(), b in version(), c in version()) {
            prop_assert_eq!(compare(&a, &a), Equal);
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            if compare(&a, &b) != Greater && compare(&b, &c) != Greater {
                prop_assert_ne!(compare(&a, &c), Greater, "{} <= {} <= {}", a, b, c);
            }
        }
    }

    #[test]
    fn a_header_gives_its_package() {
        let blob = header(
            &[
                (TAG_NAME, "openssl-libs"),
                (TAG_VERSION, "3.0.7"),
                (TAG_RELEASE, "24.el9"),
                (TAG_ARCH, "x86_64"),
                (TAG_SOURCERPM, "openssl-3.0.7-24.el9.src.rpm"),
            ],
            Some(1),
        );
        let p = parse_header(&blob).unwrap();
        assert_eq!(
            p,
            Package {
                name: "openssl-libs".into(),
                epoch: Some(1),
                version: "3.0.7".into(),
                release: "24.el9".into(),
                arch: Some("x86_64".into()),
                source: "openssl".into(),
            }
        );
        assert_eq!(p.evr(), "1:3.0.7-24.el9");
        let plain = parse_header(&header(
            &[(TAG_NAME, "bash"), (TAG_VERSION, "5.1.8"), (TAG_RELEASE, "6.el9")],
            None,
        ))
        .unwrap();
        assert_eq!((plain.evr().as_str(), plain.source.as_str()), ("5.1.8-6.el9", "bash"));
    }

    #[test]
    fn bad_headers_are_errors_not_panics() {
        let good = header(&[(TAG_NAME, "a"), (TAG_VERSION, "1"), (TAG_RELEASE, "1")], None);
        assert_eq!(parse_header(&good[..5]), Err(HeaderError::Truncated));
        assert_eq!(parse_header(&good[..good.len() - 1]), Err(HeaderError::Truncated));
        let mut huge = good.clone();
        huge[0..4].copy_from_slice(&0x10000u32.to_be_bytes());
        assert_eq!(parse_header(&huge), Err(HeaderError::TooManyEntries(0x10000)));
        let mut outside = good.clone();
        outside[16..20].copy_from_slice(&1000u32.to_be_bytes()); // NAME's offset
        assert_eq!(parse_header(&outside), Err(HeaderError::OutOfBounds(TAG_NAME)));
        let no_name = header(&[(TAG_VERSION, "1"), (TAG_RELEASE, "1")], None);
        assert_eq!(parse_header(&no_name), Err(HeaderError::Missing("NAME")));
        for n in 0..good.len() {
            let _ = parse_header(&good[..n]);
        }
    }

    #[test]
    fn source_names() {
        assert_eq!(source_name("openssl-3.0.7-24.el9.src.rpm"), Some("openssl"));
        assert_eq!(source_name("python3.11-3.11.5-1.el9.src.rpm"), Some("python3.11"));
        assert_eq!(source_name("bad"), None);
    }
}
