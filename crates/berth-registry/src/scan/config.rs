//! The registry's scanning configuration (PutRegistryScanningConfiguration)
//! and which repositories it scans on push (pure). Berth scans BASIC only:
//! a rule's `scanFrequency` is SCAN_ON_PUSH or MANUAL (CONTINUOUS_SCAN is
//! ENHANCED's). Once a registry configuration is put, it decides for every
//! repository (the repositories' own `scanOnPush` no longer does, as in
//! ECR); without one, each repository's `scanOnPush` does.

use crate::rules::wildcard_match;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Frequency {
    ScanOnPush,
    ContinuousScan,
    Manual,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::ScanOnPush => "SCAN_ON_PUSH",
            Frequency::ContinuousScan => "CONTINUOUS_SCAN",
            Frequency::Manual => "MANUAL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub filter: String,
    pub filter_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub scan_frequency: Frequency,
    pub repository_filters: Vec<Filter>,
}

/// The registry's configuration as stored (`ecr/registry/scanning`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryScanning {
    pub scan_type: String,
    pub rules: Vec<Rule>,
}

impl RegistryScanning {
    /// Checks a configuration as Berth can honour it.
    pub fn validate(&self) -> Result<(), String> {
        if self.scan_type != "BASIC" {
            return Err(format!(
                "scanType {} is not supported by Berth (ENHANCED scanning is Amazon Inspector's); use BASIC",
                self.scan_type
            ));
        }
        for r in &self.rules {
            if r.scan_frequency == Frequency::ContinuousScan {
                return Err(
                    "scanFrequency CONTINUOUS_SCAN is only valid for ENHANCED scanning; BASIC scanning \
                            supports SCAN_ON_PUSH and MANUAL"
                        .into(),
                );
            }
            if r.repository_filters.is_empty() {
                return Err("each rule needs at least one repository filter".into());
            }
        }
        Ok(())
    }

    /// The frequency that applies to `repository` and the filters that
    /// matched it.
    pub fn applied(&self, repository: &str) -> (Frequency, Vec<Filter>) {
        for r in &self.rules {
            let hits: Vec<Filter> = r
                .repository_filters
                .iter()
                .filter(|f| wildcard_match(&f.filter, repository))
                .cloned()
                .collect();
            if !hits.is_empty() && r.scan_frequency == Frequency::ScanOnPush {
                return (Frequency::ScanOnPush, hits);
            }
        }
        (Frequency::Manual, vec![])
    }
}

/// Whether a push to `repository` is scanned, and with which frequency
/// and filters: the registry configuration when there is one, else the
/// repository's own flag.
pub fn decide(registry: Option<&RegistryScanning>, repository: &str, repo_flag: bool) -> (Frequency, Vec<Filter>) {
    match registry {
        Some(c) => c.applied(repository),
        None if repo_flag => (Frequency::ScanOnPush, vec![]),
        None => (Frequency::Manual, vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(freq: Frequency, filters: &[&str]) -> Rule {
        Rule {
            scan_frequency: freq,
            repository_filters: filters
                .iter()
                .map(|f| Filter {
                    filter: f.to_string(),
                    filter_type: "WILDCARD".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_registry_configuration_overrides_the_repositories() {
        let c = RegistryScanning {
            scan_type: "BASIC".into(),
            rules: vec![rule(Frequency::ScanOnPush, &["prod-*", "x"])],
        };
        assert_eq!(decide(Some(&c), "prod-api", false).0, Frequency::ScanOnPush);
        assert_eq!(decide(Some(&c), "prod-api", false).1[0].filter, "prod-*");
        assert_eq!(decide(Some(&c), "dev", true), (Frequency::Manual, vec![]));
        assert_eq!(decide(None, "dev", true).0, Frequency::ScanOnPush);
        assert_eq!(decide(None, "dev", false).0, Frequency::Manual);
    }

    #[test]
    fn only_basic_without_continuous_scanning() {
        let ok = RegistryScanning {
            scan_type: "BASIC".into(),
            rules: vec![rule(Frequency::Manual, &["*"])],
        };
        assert!(ok.validate().is_ok());
        let enhanced = RegistryScanning {
            scan_type: "ENHANCED".into(),
            rules: vec![],
        };
        assert!(enhanced.validate().unwrap_err().contains("ENHANCED"));
        let cont = RegistryScanning {
            scan_type: "BASIC".into(),
            rules: vec![rule(Frequency::ContinuousScan, &["*"])],
        };
        assert!(cont.validate().unwrap_err().contains("CONTINUOUS_SCAN"));
    }
}
