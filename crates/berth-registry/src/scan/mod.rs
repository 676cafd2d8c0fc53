//! Image scanning, ECR's BASIC scan done offline (pure, but for reading
//! layers through `io::Read`, and rpm's sqlite database through a temp
//! file, [`rpmdb`]): the package databases of an image ([`layers`]:
//! `var/lib/dpkg/status`, `lib/apk/db/installed`, `rpmdb.sqlite`, the
//! layers applied with whiteouts) are parsed ([`dpkg`], [`apk`], [`rpm`])
//! and each
//! installed package is matched, in its ecosystem's version ordering,
//! against the OSV advisories the operator imported ([`osv`]). The worker
//! that runs scans off the request path is `crate::scan_run`.

pub mod apk;
pub mod config;
pub mod cvss;
pub mod dpkg;
pub mod layers;
pub mod osv;
pub mod rpm;
pub mod rpmdb;
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
    RedHat,
    RockyLinux,
    AlmaLinux,
    OpenSuse,
    Suse,
    Mageia,
    PhotonOs,
}

impl Ecosystem {
    /// The ecosystem of an OSV `affected[].package.ecosystem` (without its
    /// `:RELEASE`).
    pub fn from_osv(name: &str) -> Option<Self> {
        match name {
            "Debian" => Some(Self::Debian),
            "Ubuntu" => Some(Self::Ubuntu),
            "Alpine" => Some(Self::Alpine),
            "Red Hat" => Some(Self::RedHat),
            "Rocky Linux" => Some(Self::RockyLinux),
            "AlmaLinux" => Some(Self::AlmaLinux),
            "openSUSE" => Some(Self::OpenSuse),
            "SUSE" => Some(Self::Suse),
            "Mageia" => Some(Self::Mageia),
            "Photon OS" => Some(Self::PhotonOs),
            _ => None,
        }
    }

    /// The rpm distribution of an `etc/os-release` `ID`.
    fn rpm_of(id: &str) -> Option<Self> {
        match id {
            "rhel" => Some(Self::RedHat),
            "rocky" => Some(Self::RockyLinux),
            "almalinux" => Some(Self::AlmaLinux),
            "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" | "opensuse-slowroll" | "opensuse-microos" => {
                Some(Self::OpenSuse)
            }
            "sles" | "sled" | "sles_sap" | "sle-micro" | "sl-micro" => Some(Self::Suse),
            "mageia" => Some(Self::Mageia),
            "photon" => Some(Self::PhotonOs),
            _ => None,
        }
    }

    pub fn compare(self) -> fn(&str, &str) -> Ordering {
        match self {
            Self::Debian | Self::Ubuntu => dpkg::compare,
            Self::Alpine => apk::compare,
            Self::RedHat
            | Self::RockyLinux
            | Self::AlmaLinux
            | Self::OpenSuse
            | Self::Suse
            | Self::Mageia
            | Self::PhotonOs => rpm::compare,
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
    /// `VERSION_ID` of `etc/os-release` (`PRETTY_NAME` for SUSE and
    /// openSUSE, whose advisories name releases so).
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

/// What an image has installed, from its wanted files; rpm's sqlite
/// database read with `read_rpmdb` (the IO, [`rpmdb::packages`]). An image
/// whose packages cannot be read (an rpm database of another format, or of
/// an OS without an OSV ecosystem) is an error: unsupported, not clean.
pub fn inventory(
    files: &layers::Files,
    read_rpmdb: impl FnOnce(&[u8]) -> Result<Vec<rpm::Package>, String>,
) -> Result<Inventory, String> {
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
    } else if let Some(db) = layers::RPMDB_SQLITE.iter().find_map(|p| files.bytes(p)) {
        let id = os.get("ID").map(String::as_str).unwrap_or("");
        let eco = Ecosystem::rpm_of(id).ok_or_else(|| {
            format!(
                "the image's packages are rpm's but its operating system (etc/os-release ID={id:?}) has no \
                 OSV ecosystem the scanner matches (Red Hat, Rocky Linux, AlmaLinux, openSUSE, SUSE, Mageia, \
                 Photon OS)"
            )
        })?;
        if matches!(eco, Ecosystem::OpenSuse | Ecosystem::Suse) {
            inv.release = os.get("PRETTY_NAME").cloned();
        }
        inv.ecosystem = Some(eco);
        inv.packages = read_rpmdb(db)?
            .into_iter()
            .map(|p| (p.name.clone(), p.evr(), p.source))
            .collect();
    } else if let Some(p) = layers::NOTED.iter().find(|p| files.has(p)) {
        return Err(format!(
            "the image's rpm database ({p}) is Berkeley DB or ndb; the scanner reads only rpm's sqlite \
             database (rpmdb.sqlite, rpm 4.16 and later)"
        ));
    }
    Ok(inv)
}

fn major(v: &str) -> &str {
    v.split('.').next().unwrap_or(v)
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
        // `9`, or `9.3` for a point release, against `9.3`.
        Ecosystem::RockyLinux | Ecosystem::AlmaLinux | Ecosystem::Mageia => a == i || a == major(i),
        // A CPE without its prefix: `enterprise_linux:9::appstream` (the
        // streams of extended support, `rhel_eus:9.2::…`, are not an
        // image's).
        Ecosystem::RedHat => {
            let mut cpe = a.split(':');
            cpe.next() == Some("enterprise_linux") && cpe.next().map(major) == Some(major(i))
        }
        // The `PRETTY_NAME`: `openSUSE Leap 15.5`.
        Ecosystem::OpenSuse | Ecosystem::Suse | Ecosystem::PhotonOs => a == i,
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

    fn inventory_of(f: layers::Files) -> Inventory {
        inventory(&f, rpmdb::packages).unwrap()
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
        let inv = inventory_of(files(&[
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
        let inv = inventory_of(files(&[
            ("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
            ("lib/apk/db/installed", "P:libcrypto3\nV:3.1.4-r5\no:openssl\n"),
        ]));
        let got = findings(&inv, &db);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].name.as_str(), got[0].severity), ("ALPINE-1", Severity::Low));
        let fixed = inventory_of(files(&[(
            "lib/apk/db/installed",
            "P:libcrypto3\nV:3.1.4-r6\no:openssl\n",
        )]));
        assert!(findings(&fixed, &db).is_empty());
    }

    #[test]
    fn an_image_without_a_package_database_has_no_findings() {
        let db = osv::parse(DB).unwrap();
        assert!(findings(&inventory_of(files(&[])), &db).is_empty());
    }

    const RPM_DB: &str = r#"[
      {"id": "RLSA-2024:0001", "summary": "openssl", "database_specific": {"severity": "Important"},
       "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "openssl"},
                     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]}]}]},
      {"id": "RLSA-2023:0002", "summary": "fixed before", "database_specific": {"severity": "Moderate"},
       "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "openssl"},
                     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.1-1.el9"}]}]}]},
      {"id": "RHSA-2024:0003", "database_specific": {"severity": "Moderate"},
       "affected": [{"package": {"ecosystem": "Red Hat:enterprise_linux:9::baseos", "name": "openssl-libs"},
                     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]}]},
                    {"package": {"ecosystem": "Red Hat:enterprise_linux:8::baseos", "name": "openssl-libs"},
                     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]},
      {"id": "SUSE-SU-2024:1", "database_specific": {"severity": "low"},
       "affected": [{"package": {"ecosystem": "openSUSE:openSUSE Leap 15.5", "name": "openssl"},
                     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.8-2"}]}]}]}
    ]"#;

    fn rpm_files(os_release: &str) -> layers::Files {
        use rpm::{TAG_NAME, TAG_RELEASE, TAG_SOURCERPM, TAG_VERSION};
        let blob = rpm::tests::header(
            &[
                (TAG_NAME, "openssl-libs"),
                (TAG_VERSION, "3.0.7"),
                (TAG_RELEASE, "24.el9"),
                (TAG_SOURCERPM, "openssl-3.0.7-24.el9.src.rpm"),
            ],
            Some(1),
        );
        let mut f = files(&[("etc/os-release", os_release)]);
        f.0.insert(
            "var/lib/rpm/rpmdb.sqlite".into(),
            rpmdb::tests::database(&[blob], false),
        );
        f
    }

    #[test]
    fn an_rpm_image_matches_its_distributions_advisories() {
        let db = osv::parse(RPM_DB).unwrap();
        let rocky = inventory_of(rpm_files("ID=\"rocky\"\nVERSION_ID=\"9.3\"\n"));
        assert_eq!(rocky.ecosystem, Some(Ecosystem::RockyLinux));
        let got = findings(&rocky, &db);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (
                got[0].name.as_str(),
                got[0].severity,
                got[0].package_name.as_str(),
                got[0].package_version.as_str(),
                got[0].fixed_version.as_deref()
            ),
            (
                "RLSA-2024:0001",
                Severity::High,
                "openssl-libs",
                "1:3.0.7-24.el9",
                Some("1:3.0.7-25.el9_3")
            )
        );
        // Red Hat's advisories by CPE stream, matched on the binary name.
        let rhel = inventory_of(rpm_files("ID=\"rhel\"\nVERSION_ID=\"9.4\"\n"));
        let got = findings(&rhel, &db);
        assert_eq!(
            got.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["RHSA-2024:0003"]
        );
        // openSUSE names releases by PRETTY_NAME.
        let leap = inventory_of(rpm_files(
            "ID=\"opensuse-leap\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\n",
        ));
        assert_eq!(findings(&leap, &db)[0].name, "SUSE-SU-2024:1");
    }

    #[test]
    fn rpm_images_that_cannot_be_read_are_unsupported() {
        let fedora = inventory(&rpm_files("ID=fedora\nVERSION_ID=40\n"), rpmdb::packages).unwrap_err();
        assert!(fedora.contains("ID=\"fedora\""), "{fedora}");
        let mut bdb = files(&[("etc/os-release", "ID=centos\n")]);
        bdb.0.insert("var/lib/rpm/Packages".into(), vec![]);
        let err = inventory(&bdb, rpmdb::packages).unwrap_err();
        assert!(err.contains("Berkeley DB"), "{err}");
        let broken = inventory(&rpm_files("ID=rocky\n"), |_| Err("broken".into())).unwrap_err();
        assert_eq!(broken, "broken");
    }
}
