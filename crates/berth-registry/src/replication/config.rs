//! The registry's replication configuration (PutReplicationConfiguration),
//! pure: its typed form, ECR's limits on it, and which destinations a
//! repository's pushes go to.
//!
//! ECR's quotas: at most 10 rules, at most 25 unique destinations across
//! them; a destination is a region and a registry (account) id, never the
//! source registry itself; a rule without repository filters applies to
//! every repository, one with filters to the repositories whose name
//! starts with one of them (`PREFIX_MATCH`, the only filter type).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const MAX_RULES: usize = 10;
pub const MAX_DESTINATIONS: usize = 25;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationConfiguration {
    pub rules: Vec<ReplicationRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationRule {
    pub destinations: Vec<Destination>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_filters: Vec<RepositoryFilter>,
    /// Deleting replicas with their source image; Berth does not do it,
    /// so only `false` (or nothing) is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_replication: Option<bool>,
}

/// Where images are replicated to: a region of a registry (account).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub region: String,
    pub registry_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryFilter {
    pub filter: String,
    pub filter_type: FilterType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterType {
    #[serde(rename = "PREFIX_MATCH")]
    PrefixMatch,
}

/// Why a configuration is refused (the ECR operation answers it as
/// `InvalidParameterException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("a replication configuration has at most {MAX_RULES} rules; {0} were given")]
    TooManyRules(usize),
    #[error(
        "a replication configuration has at most {MAX_DESTINATIONS} unique destinations across its rules; {0} were given"
    )]
    TooManyDestinations(usize),
    #[error("rule {0} has no destination; give at least one region and registryId")]
    NoDestination(usize),
    #[error(
        "the destination region '{region}' and registry '{registry_id}' is the source registry itself; \
         replicate to another region or another account"
    )]
    SourceAsDestination { region: String, registry_id: String },
    #[error(
        "rule {0} sets deleteReplication: Berth does not delete replicas with their source image; omit it or set it to false"
    )]
    DeleteReplication(usize),
    #[error("the registryId '{0}' of a destination is not a 12-digit account id")]
    RegistryId(String),
}

impl ReplicationConfiguration {
    /// Checks ECR's rules for a configuration set in `source_region` of
    /// registry `source_account`.
    pub fn validate(&self, source_region: &str, source_account: &str) -> Result<(), ConfigError> {
        if self.rules.len() > MAX_RULES {
            return Err(ConfigError::TooManyRules(self.rules.len()));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.destinations.is_empty() {
                return Err(ConfigError::NoDestination(i));
            }
            if rule.delete_replication == Some(true) {
                return Err(ConfigError::DeleteReplication(i));
            }
            for d in &rule.destinations {
                if d.registry_id.len() != 12 || !d.registry_id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ConfigError::RegistryId(d.registry_id.clone()));
                }
                if d.region == source_region && d.registry_id == source_account {
                    return Err(ConfigError::SourceAsDestination {
                        region: d.region.clone(),
                        registry_id: d.registry_id.clone(),
                    });
                }
            }
        }
        let unique = self.all_destinations().len();
        if unique > MAX_DESTINATIONS {
            return Err(ConfigError::TooManyDestinations(unique));
        }
        Ok(())
    }

    /// Every destination of every rule, once each.
    pub fn all_destinations(&self) -> BTreeSet<Destination> {
        self.rules.iter().flat_map(|r| r.destinations.iter().cloned()).collect()
    }

    /// The destinations a push to `repository` is replicated to: those of
    /// every rule that applies to it, once each.
    pub fn destinations_for(&self, repository: &str) -> BTreeSet<Destination> {
        self.rules
            .iter()
            .filter(|r| r.applies_to(repository))
            .flat_map(|r| r.destinations.iter().cloned())
            .collect()
    }
}

impl ReplicationRule {
    /// No filter: every repository; else a name starting with a filter.
    pub fn applies_to(&self, repository: &str) -> bool {
        self.repository_filters.is_empty()
            || self.repository_filters.iter().any(|f| match f.filter_type {
                FilterType::PrefixMatch => repository.starts_with(&f.filter),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(region: &str, account: &str) -> Destination {
        Destination {
            region: region.into(),
            registry_id: account.into(),
        }
    }

    fn rule(dests: Vec<Destination>, prefixes: &[&str]) -> ReplicationRule {
        ReplicationRule {
            destinations: dests,
            repository_filters: prefixes
                .iter()
                .map(|p| RepositoryFilter {
                    filter: p.to_string(),
                    filter_type: FilterType::PrefixMatch,
                })
                .collect(),
            delete_replication: None,
        }
    }

    const ME: &str = "000000000000";
    const OTHER: &str = "111111111111";

    #[test]
    fn a_cross_region_rule_is_valid() {
        let c = ReplicationConfiguration {
            rules: vec![rule(vec![dest("eu-west-1", ME)], &[])],
        };
        assert_eq!(c.validate("us-east-1", ME), Ok(()));
    }

    #[test]
    fn the_source_registry_is_not_a_destination() {
        let c = ReplicationConfiguration {
            rules: vec![rule(vec![dest("eu-west-1", OTHER), dest("us-east-1", ME)], &[])],
        };
        assert!(matches!(
            c.validate("us-east-1", ME),
            Err(ConfigError::SourceAsDestination { .. })
        ));
        // The same region of another account is another registry.
        let c = ReplicationConfiguration {
            rules: vec![rule(vec![dest("us-east-1", OTHER)], &[])],
        };
        assert_eq!(c.validate("us-east-1", ME), Ok(()));
    }

    #[test]
    fn at_most_ten_rules() {
        let c = ReplicationConfiguration {
            rules: (0..11).map(|_| rule(vec![dest("eu-west-1", ME)], &[])).collect(),
        };
        assert_eq!(c.validate("us-east-1", ME), Err(ConfigError::TooManyRules(11)));
        let c = ReplicationConfiguration {
            rules: (0..10).map(|_| rule(vec![dest("eu-west-1", ME)], &[])).collect(),
        };
        assert_eq!(c.validate("us-east-1", ME), Ok(()));
    }

    #[test]
    fn at_most_25_unique_destinations() {
        let dests = |n: usize| (0..n).map(|i| dest(&format!("r-{i}"), OTHER)).collect::<Vec<_>>();
        let c = ReplicationConfiguration {
            rules: vec![rule(dests(20), &[]), rule(dests(26)[20..].to_vec(), &[])],
        };
        assert_eq!(c.validate("us-east-1", ME), Err(ConfigError::TooManyDestinations(26)));
        // Repeated destinations count once.
        let c = ReplicationConfiguration {
            rules: vec![rule(dests(25), &[]), rule(dests(25), &["a"])],
        };
        assert_eq!(c.validate("us-east-1", ME), Ok(()));
    }

    #[test]
    fn empty_rules_bad_ids_and_delete_replication_are_refused() {
        let c = ReplicationConfiguration {
            rules: vec![rule(vec![], &[])],
        };
        assert_eq!(c.validate("us-east-1", ME), Err(ConfigError::NoDestination(0)));
        let c = ReplicationConfiguration {
            rules: vec![rule(vec![dest("eu-west-1", "12")], &[])],
        };
        assert!(matches!(c.validate("us-east-1", ME), Err(ConfigError::RegistryId(_))));
        let mut r = rule(vec![dest("eu-west-1", ME)], &[]);
        r.delete_replication = Some(true);
        let c = ReplicationConfiguration { rules: vec![r] };
        assert_eq!(c.validate("us-east-1", ME), Err(ConfigError::DeleteReplication(0)));
    }

    #[test]
    fn an_empty_configuration_turns_replication_off() {
        let c = ReplicationConfiguration::default();
        assert_eq!(c.validate("us-east-1", ME), Ok(()));
        assert!(c.destinations_for("app").is_empty());
    }

    #[test]
    fn prefix_filters_choose_repositories() {
        let c = ReplicationConfiguration {
            rules: vec![
                rule(vec![dest("eu-west-1", ME)], &["prod", "team/"]),
                rule(vec![dest("eu-west-1", ME), dest("us-west-2", ME)], &["prod-web"]),
                rule(vec![dest("ap-south-1", OTHER)], &[]),
            ],
        };
        let regions = |repo: &str| {
            c.destinations_for(repo)
                .into_iter()
                .map(|d| d.region)
                .collect::<Vec<_>>()
        };
        assert_eq!(regions("prod-web"), ["ap-south-1", "eu-west-1", "us-west-2"]);
        assert_eq!(regions("prod"), ["ap-south-1", "eu-west-1"]);
        assert_eq!(regions("team/app"), ["ap-south-1", "eu-west-1"]);
        assert_eq!(regions("dev"), ["ap-south-1"]);
        // A prefix matches from the start only.
        assert_eq!(regions("myprod"), ["ap-south-1"]);
    }

    #[test]
    fn the_stored_form_is_ecrs_shape() {
        let c: ReplicationConfiguration = serde_json::from_value(serde_json::json!({
            "rules": [{"destinations": [{"region": "eu-west-1", "registryId": ME}],
                       "repositoryFilters": [{"filter": "prod", "filterType": "PREFIX_MATCH"}]}]
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"rules": [{"destinations": [{"region": "eu-west-1", "registryId": ME}],
                       "repositoryFilters": [{"filter": "prod", "filterType": "PREFIX_MATCH"}]}]})
        );
    }
}
