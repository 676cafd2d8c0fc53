//! The vulnerability database: OSV records (<https://ossf.github.io/osv-schema/>)
//! the operator imports (`berth scan-db import FILE`), and how a package
//! version is matched against them (pure).
//!
//! Only the records of ecosystems the scanner reads are kept: `Debian`,
//! `Ubuntu` (dpkg) and `Alpine` (apk), each optionally with its release
//! (`Debian:12`, `Alpine:v3.19`). A version is affected when it is in an
//! `affected[].versions` list or inside an `ECOSYSTEM` range (after an
//! `introduced`, before the next `fixed`, up to a `last_affected`), in the
//! ecosystem's own version ordering.

use super::{Ecosystem, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;

/// One advisory as kept (the parts a finding needs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub uri: Option<String>,
    pub severity: Severity,
    pub affected: Vec<Affected>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    pub ecosystem: Ecosystem,
    /// The release, when the record names one (`12`, `v3.19`).
    pub release: Option<String>,
    pub package: String,
    #[serde(default)]
    pub versions: Vec<String>,
    /// Range events, in the record's order.
    #[serde(default)]
    pub events: Vec<Vec<Event>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImportError {
    #[error("the file is not JSON: {0}")]
    Json(String),
    #[error("expected a JSON array of OSV records or one OSV record")]
    Shape,
    #[error("record {index}: {why}")]
    Record { index: usize, why: String },
}

fn severity_of(record: &Value, affected: &[Value]) -> Severity {
    let named = record["database_specific"]["severity"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            affected.iter().find_map(|a| {
                let e = &a["ecosystem_specific"];
                e["severity"].as_str().or(e["urgency"].as_str()).map(str::to_string)
            })
        });
    if let Some(s) = named
        .map(|s| Severity::from_osv(&s))
        .filter(|s| *s != Severity::Undefined)
    {
        return s;
    }
    // Else the highest of the record's CVSS v3 vectors, or a distribution's word (Ubuntu's).
    let mut best = None;
    for sev in record["severity"].as_array().into_iter().flatten() {
        let score = sev["score"].as_str().unwrap_or("");
        let s = match sev["type"].as_str() {
            Some("CVSS_V3") => super::cvss::base_score(score).map(super::cvss::severity),
            Some("Ubuntu") => Some(Severity::from_osv(score)),
            _ => None,
        };
        best = best.max(s);
    }
    best.unwrap_or(Severity::Undefined)
}

/// The records of `text` (a JSON array of OSV records, or one record) for
/// the ecosystems the scanner reads; the others are skipped.
pub fn parse(text: &str) -> Result<Vec<Advisory>, ImportError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ImportError::Json(e.to_string()))?;
    let records = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => return Err(ImportError::Shape),
    };
    let mut out = vec![];
    for (index, r) in records.iter().enumerate() {
        let bad = |why: &str| ImportError::Record {
            index,
            why: why.to_string(),
        };
        let id = r["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no \"id\""))?;
        let raw = r["affected"].as_array().cloned().unwrap_or_default();
        let mut affected = vec![];
        for a in &raw {
            let eco = a["package"]["ecosystem"].as_str().unwrap_or("");
            let (eco_name, release) = match eco.split_once(':') {
                Some((n, r)) => (n, Some(r.to_string())),
                None => (eco, None),
            };
            let Some(ecosystem) = Ecosystem::from_osv(eco_name) else {
                continue;
            };
            let package = a["package"]["name"]
                .as_str()
                .ok_or_else(|| bad("an affected package has no name"))?;
            let versions = a["versions"]
                .as_array()
                .map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let mut events = vec![];
            for range in a["ranges"].as_array().into_iter().flatten() {
                if range["type"].as_str() != Some("ECOSYSTEM") {
                    continue;
                }
                let mut evs = vec![];
                for e in range["events"].as_array().into_iter().flatten() {
                    let s = |k: &str| e[k].as_str().map(str::to_string);
                    evs.push(match (s("introduced"), s("fixed"), s("last_affected")) {
                        (Some(v), _, _) => Event::Introduced(v),
                        (_, Some(v), _) => Event::Fixed(v),
                        (_, _, Some(v)) => Event::LastAffected(v),
                        _ => continue,
                    });
                }
                events.push(evs);
            }
            affected.push(Affected {
                ecosystem,
                release,
                package: package.to_string(),
                versions,
                events,
            });
        }
        if affected.is_empty() {
            continue;
        }
        let uri = r["references"]
            .as_array()
            .and_then(|refs| refs.iter().find_map(|x| x["url"].as_str()))
            .map(str::to_string);
        out.push(Advisory {
            id: id.to_string(),
            aliases: r["aliases"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            summary: r["summary"]
                .as_str()
                .or(r["details"].as_str())
                .unwrap_or("")
                .to_string(),
            uri,
            severity: severity_of(r, &raw),
            affected,
        });
    }
    Ok(out)
}

/// Whether `version` is affected by one range's events; with the first
/// `fixed` version above it.
fn in_range(events: &[Event], version: &str, cmp: fn(&str, &str) -> Ordering) -> (bool, Option<String>) {
    let key = |e: &Event| match e {
        Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) => v.clone(),
    };
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        match (a.as_str(), b.as_str()) {
            ("0", "0") => Ordering::Equal,
            ("0", _) => Ordering::Less,
            (_, "0") => Ordering::Greater,
            (a, b) => cmp(a, b),
        }
    });
    let mut affected = false;
    let mut fixed = None;
    for e in sorted {
        match e {
            Event::Introduced(v) if v == "0" || cmp(version, v) != Ordering::Less => affected = true,
            Event::Fixed(v) if cmp(version, v) != Ordering::Less => affected = false,
            Event::Fixed(v) if affected && fixed.is_none() => fixed = Some(v.clone()),
            Event::LastAffected(v) if cmp(version, v) == Ordering::Greater => affected = false,
            _ => {}
        }
    }
    (affected, if affected { fixed } else { None })
}

impl Affected {
    /// Whether `version` of this package is affected, with the version
    /// that fixes it when one is known.
    pub fn affects(&self, version: &str) -> Option<Option<String>> {
        let cmp = self.ecosystem.compare();
        if self.versions.iter().any(|v| cmp(v, version) == Ordering::Equal) {
            let fixed = self.events.iter().find_map(|evs| in_range(evs, version, cmp).1);
            return Some(fixed);
        }
        self.events
            .iter()
            .map(|evs| in_range(evs, version, cmp))
            .find(|(hit, _)| *hit)
            .map(|(_, fixed)| fixed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSA: &str = r#"[{"id": "CVE-2024-0001", "summary": "a bug", "aliases": ["DSA-1"],
        "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-0001"}],
        "database_specific": {"severity": "HIGH"},
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]},
                     {"package": {"ecosystem": "PyPI", "name": "x"}}]},
        {"id": "GHSA-x", "affected": [{"package": {"ecosystem": "npm", "name": "y"}}]}]"#;

    #[test]
    fn records_of_other_ecosystems_are_skipped() {
        let db = parse(DSA).unwrap();
        assert_eq!(db.len(), 1);
        let a = &db[0];
        assert_eq!((a.id.as_str(), a.severity), ("CVE-2024-0001", Severity::High));
        assert_eq!(
            a.uri.as_deref(),
            Some("https://security-tracker.debian.org/tracker/CVE-2024-0001")
        );
        assert_eq!(a.affected.len(), 1);
        assert_eq!(a.affected[0].release.as_deref(), Some("12"));
        assert_eq!(
            a.affected[0].affects("3.0.11-1~deb12u1"),
            Some(Some("3.0.11-1~deb12u2".into()))
        );
        assert_eq!(a.affected[0].affects("3.0.11-1~deb12u2"), None);
        assert_eq!(a.affected[0].affects("3.0.11-1"), None);
    }

    #[test]
    fn ranges_with_introduced_and_last_affected() {
        let evs = vec![Event::Introduced("1.2".into()), Event::LastAffected("1.4".into())];
        let cmp: fn(&str, &str) -> Ordering = super::super::dpkg::compare;
        assert!(!in_range(&evs, "1.1", cmp).0);
        assert!(in_range(&evs, "1.2", cmp).0);
        assert!(in_range(&evs, "1.4", cmp).0);
        assert!(!in_range(&evs, "1.4.1", cmp).0);
        let two = vec![
            Event::Introduced("0".into()),
            Event::Fixed("1.0".into()),
            Event::Introduced("2.0".into()),
            Event::Fixed("2.5".into()),
        ];
        assert_eq!(in_range(&two, "2.1", cmp), (true, Some("2.5".into())));
        assert_eq!(in_range(&two, "1.5", cmp), (false, None));
    }

    #[test]
    fn severity_from_a_cvss_vector_or_ubuntus_word() {
        let r = |sev: serde_json::Value| {
            let text = serde_json::json!([{"id": "X", "severity": sev,
                "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "p"}}]}]);
            parse(&text.to_string()).unwrap()[0].severity
        };
        assert_eq!(
            r(serde_json::json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])),
            Severity::Critical
        );
        assert_eq!(
            r(serde_json::json!([{"type": "Ubuntu", "score": "medium"}])),
            Severity::Medium
        );
        assert_eq!(r(serde_json::json!([])), Severity::Undefined);
    }

    #[test]
    fn bad_files_are_refused_with_where() {
        assert!(matches!(parse("nope"), Err(ImportError::Json(_))));
        assert_eq!(parse("3"), Err(ImportError::Shape));
        assert_eq!(
            parse(r#"[{"affected": []}]"#),
            Err(ImportError::Record {
                index: 0,
                why: "no \"id\"".into()
            })
        );
    }
}
