//! Image scanning, ECR's BASIC scan done offline (pure, but for reading
//! layers through `io::Read`): the package databases of an image
//! ([`layers`]: `var/lib/dpkg/status`, `lib/apk/db/installed`, the layers
//! applied with whiteouts) are parsed ([`dpkg`], [`apk`]) and each
//! installed package is matched, in its ecosystem's version ordering,
//! against the OSV advisories the operator imported ([`osv`]). The worker
//! that runs scans off the request path is `crate::scan_run`.

pub mod apk;
pub mod config;
pub mod cvss;
pub mod dpkg;
pub mod layers;
pub mod osv;
pub mod zip;

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The package ecosystems the scanner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ecosystem {
    Debian,
    Ubuntu,
    Alpine,
}

impl Ecosystem {
    pub fn from_osv(name: &str) -> Option<Self> {
        match name {
            "Debian" => Some(Self::Debian),
            "Ubuntu" => Some(Self::Ubuntu),
            "Alpine" => Some(Self::Alpine),
            _ => None,
        }
    }

    pub fn compare(self) -> fn(&str, &str) -> Ordering {
        match self {
            Self::Debian | Self::Ubuntu => dpkg::compare,
            Self::Alpine => apk::compare,
        }
    }
}

/// ECR's finding severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Undefined,
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undefined => "UNDEFINED",
            Self::Informational => "INFORMATIONAL",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }

    /// An OSV record's severity word (`database_specific.severity`, or
    /// Debian's `urgency`: `unimportant`, `low`, `medium`, `high`).
    pub fn from_osv(s: &str) -> Self {
        match s.trim_end_matches('*').trim().to_ascii_uppercase().as_str() {
            "CRITICAL" => Self::Critical,
            "HIGH" | "IMPORTANT" => Self::High,
            "MEDIUM" | "MODERATE" => Self::Medium,
            "LOW" => Self::Low,
            "UNIMPORTANT" | "NEGLIGIBLE" | "INFORMATIONAL" => Self::Informational,
            _ => Self::Undefined,
        }
    }
}

/// One finding, as DescribeImageScanFindings lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub uri: Option<String>,
    pub severity: Severity,
    pub package_name: String,
    pub package_version: String,
    #[serde(default)]
    pub fixed_version: Option<String>,
}

/// The installed packages of an image, with the OS they belong to.
#[derive(Debug, Default, PartialEq)]
pub struct Inventory {
    pub ecosystem: Option<Ecosystem>,
    /// `VERSION_ID` of `etc/os-release`.
    pub release: Option<String>,
    /// (binary name, version, the name advisories use).
    pub packages: Vec<(String, String, String)>,
}

fn os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

/// What an image has installed, from its wanted files.
pub fn inventory(files: &layers::Files) -> Inventory {
    let os = files.get("etc/os-release").map(os_release).unwrap_or_default();
    let mut inv = Inventory {
        release: os.get("VERSION_ID").cloned(),
        ..Default::default()
    };
    if let Some(text) = files.get("var/lib/dpkg/status") {
        inv.ecosystem = Some(match os.get("ID").map(String::as_str) {
            Some("ubuntu") => Ecosystem::Ubuntu,
            _ => Ecosystem::Debian,
        });
        inv.packages = dpkg::parse_status(text)
            .into_iter()
            .map(|p| (p.name, p.version, p.source))
            .collect();
    } else if let Some(text) = files.get("lib/apk/db/installed") {
        inv.ecosystem = Some(Ecosystem::Alpine);
        inv.packages = apk::parse_installed(text)
            .into_iter()
            .map(|p| (p.name, p.version, p.origin))
            .collect();
    }
    inv
}

/// Whether an advisory's release (`12`, `v3.19`, `22.04:LTS`) is the
/// image's (`VERSION_ID`: `12`, `3.19.1`, `22.04`); any release when
/// either is unknown.
fn same_release(eco: Ecosystem, advisory: Option<&str>, image: Option<&str>) -> bool {
    let (Some(a), Some(i)) = (advisory, image) else {
        return true;
    };
    match eco {
        Ecosystem::Debian => a == i,
        Ecosystem::Ubuntu => a.split(':').next() == Some(i),
        Ecosystem::Alpine => {
            let minor: Vec<&str> = i.split('.').take(2).collect();
            a.trim_start_matches('v') == minor.join(".")
        }
    }
}

/// The findings of an inventory against the advisories, most severe
/// first, then by name and package.
pub fn findings(inv: &Inventory, db: &[osv::Advisory]) -> Vec<Finding> {
    let Some(eco) = inv.ecosystem else { return vec![] };
    let mut out = vec![];
    for adv in db {
        for a in &adv.affected {
            if a.ecosystem != eco || !same_release(eco, a.release.as_deref(), inv.release.as_deref()) {
                continue;
            }
            for (name, version, source) in &inv.packages {
                if &a.package != source && &a.package != name {
                    continue;
                }
                if let Some(fixed) = a.affects(version) {
                    let f = Finding {
                        name: adv.id.clone(),
                        description: adv.summary.clone(),
                        uri: adv.uri.clone(),
                        severity: adv.severity,
                        package_name: name.clone(),
                        package_version: version.clone(),
                        fixed_version: fixed,
                    };
                    if !out.contains(&f) {
                        out.push(f);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.package_name.cmp(&b.package_name))
    });
    out
}

/// `findingSeverityCounts`.
pub fn severity_counts(findings: &[Finding]) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for f in findings {
        *out.entry(f.severity.as_str().to_string()).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> layers::Files {
        layers::Files(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    const DB: &str = r#"[
      {"id": "CVE-2024-1", "summary": "ssl", "database_specific": {"severity": "HIGH"},
       "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]}]},
      {"id": "CVE-2024-2", "summary": "other release",
       "affected": [{"package": {"ecosystem": "Debian:11", "name": "openssl"},
                     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]},
      {"id": "ALPINE-1", "affected": [{"package": {"ecosystem": "Alpine:v3.19", "name": "openssl"},
                     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r6"}]}],
                     "ecosystem_specific": {"urgency": "low"}}]}
    ]"#;

    #[test]
    fn a_debian_image_matches_its_release_by_source_package() {
        let db = osv::parse(DB).unwrap();
        let inv = inventory(&files(&[
            ("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
            (
                "var/lib/dpkg/status",
                "Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n",
            ),
        ]));
        let got = findings(&inv, &db);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (
                got[0].name.as_str(),
                got[0].severity,
                got[0].package_name.as_str(),
                got[0].fixed_version.as_deref()
            ),
            ("CVE-2024-1", Severity::High, "libssl3", Some("3.0.11-1~deb12u2"))
        );
        assert_eq!(severity_counts(&got), BTreeMap::from([("HIGH".to_string(), 1)]));
    }

    #[test]
    fn an_alpine_image_matches_by_origin() {
        let db = osv::parse(DB).unwrap();
        let inv = inventory(&files(&[
            ("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
            ("lib/apk/db/installed", "P:libcrypto3\nV:3.1.4-r5\no:openssl\n"),
        ]));
        let got = findings(&inv, &db);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].name.as_str(), got[0].severity), ("ALPINE-1", Severity::Low));
        let fixed = inventory(&files(&[(
            "lib/apk/db/installed",
            "P:libcrypto3\nV:3.1.4-r6\no:openssl\n",
        )]));
        assert!(findings(&fixed, &db).is_empty());
    }

    #[test]
    fn an_image_without_a_package_database_has_no_findings() {
        let db = osv::parse(DB).unwrap();
        assert!(findings(&inventory(&files(&[])), &db).is_empty());
    }
}
