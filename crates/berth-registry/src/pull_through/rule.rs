//! Pull-through cache rules, pure: what CreatePullThroughCacheRule accepts,
//! the operator's allowed upstream registries (`--pull-through-upstream`),
//! which rule a repository name falls under and the upstream repository it
//! maps to.

use serde::{Deserialize, Serialize};

/// The `upstreamRegistry` values of the ECR model, with the URL ECR expects
/// for each (`None`: a host of the form the comment says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpstreamRegistry {
    #[serde(rename = "ecr")]
    Ecr,
    #[serde(rename = "ecr-public")]
    EcrPublic,
    #[serde(rename = "quay")]
    Quay,
    #[serde(rename = "k8s")]
    K8s,
    #[serde(rename = "docker-hub")]
    DockerHub,
    #[serde(rename = "github-container-registry")]
    GithubContainerRegistry,
    #[serde(rename = "azure-container-registry")]
    AzureContainerRegistry,
    #[serde(rename = "gitlab-container-registry")]
    GitlabContainerRegistry,
    #[serde(rename = "chainguard")]
    Chainguard,
}

impl UpstreamRegistry {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecr => "ecr",
            Self::EcrPublic => "ecr-public",
            Self::Quay => "quay",
            Self::K8s => "k8s",
            Self::DockerHub => "docker-hub",
            Self::GithubContainerRegistry => "github-container-registry",
            Self::AzureContainerRegistry => "azure-container-registry",
            Self::GitlabContainerRegistry => "gitlab-container-registry",
            Self::Chainguard => "chainguard",
        }
    }

    /// The upstream registry a host is, as ECR names it (`None`: a registry
    /// ECR has no name for, such as an operator's own).
    pub fn of_host(host: &str) -> Option<Self> {
        let host = host.split(':').next().unwrap_or(host);
        Some(match host {
            "public.ecr.aws" => Self::EcrPublic,
            "quay.io" => Self::Quay,
            "registry.k8s.io" => Self::K8s,
            "registry-1.docker.io" => Self::DockerHub,
            "ghcr.io" => Self::GithubContainerRegistry,
            "registry.gitlab.com" => Self::GitlabContainerRegistry,
            "cgr.dev" => Self::Chainguard,
            h if h.ends_with(".azurecr.io") => Self::AzureContainerRegistry,
            h if h.contains(".dkr.ecr.") && h.ends_with(".amazonaws.com") => Self::Ecr,
            _ => return None,
        })
    }
}

/// An upstream registry the operator allows (`--pull-through-upstream
/// [http://|https://]HOST[:PORT]`, https when no scheme is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedUpstream {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `host[:port]`, lower case.
    pub host: String,
}

impl AllowedUpstream {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (scheme, rest) = split_scheme(s.trim());
        let host = rest.trim_end_matches('/').to_ascii_lowercase();
        if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) || host.contains('@') {
            return Err(format!(
                "'{s}' is not an upstream registry: expected [http://|https://]HOST[:PORT]"
            ));
        }
        Ok(Self {
            scheme: scheme.unwrap_or("https"),
            host,
        })
    }

    /// The base URL of the Distribution API (`scheme://host`).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

fn split_scheme(s: &str) -> (Option<&'static str>, &str) {
    if let Some(rest) = s.strip_prefix("https://") {
        (Some("https"), rest)
    } else if let Some(rest) = s.strip_prefix("http://") {
        (Some("http"), rest)
    } else {
        (None, s)
    }
}

/// The upstream registries a server may pull through from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstreams(pub Vec<AllowedUpstream>);

impl Upstreams {
    /// The allowed upstream an `upstreamRegistryUrl` names (`HOST[:PORT]`,
    /// or with the scheme it is allowed with).
    pub fn find(&self, url: &str) -> Option<&AllowedUpstream> {
        let (scheme, rest) = split_scheme(url.trim());
        let host = rest.trim_end_matches('/').to_ascii_lowercase();
        self.0
            .iter()
            .find(|u| u.host == host && scheme.is_none_or(|s| s == u.scheme))
    }
}

/// A stored rule (`ecr/pull-through-rules/PREFIX`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullThroughRule {
    /// Without the assumed trailing `/`.
    pub ecr_repository_prefix: String,
    /// As given by the caller (`HOST[:PORT]`).
    pub upstream_registry_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_registry: Option<UpstreamRegistry>,
    /// The Secrets Manager secret (`ecr-pullthroughcache/…`) holding the
    /// upstream's `username` and `accessToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_arn: Option<String>,
    /// Without a trailing `/`; `None` is ECR's `ROOT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_repository_prefix: Option<String>,
    pub created_at: f64,
    pub updated_at: f64,
}

impl PullThroughRule {
    /// The upstream repository a cached repository `name` maps to, when
    /// `name` is under this rule's prefix (`PREFIX/REST` → `[UPSTREAM_PREFIX/]REST`).
    pub fn upstream_repository(&self, name: &str) -> Option<String> {
        let rest = name
            .strip_prefix(self.ecr_repository_prefix.as_str())?
            .strip_prefix('/')?;
        if rest.is_empty() {
            return None;
        }
        Some(match &self.upstream_repository_prefix {
            Some(p) => format!("{p}/{rest}"),
            None => rest.to_string(),
        })
    }

    /// `upstreamRepositoryPrefix` as ECR shows it.
    pub fn upstream_prefix_shown(&self) -> &str {
        self.upstream_repository_prefix.as_deref().unwrap_or("ROOT")
    }
}

/// The rule a repository name falls under: the longest prefix that matches.
pub fn rule_for<'a>(rules: &'a [PullThroughRule], name: &str) -> Option<(&'a PullThroughRule, String)> {
    rules
        .iter()
        .filter_map(|r| r.upstream_repository(name).map(|u| (r, u)))
        .max_by_key(|(r, _)| r.ecr_repository_prefix.len())
}

/// Why a rule is refused: ECR's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// `ValidationException`.
    Validation(String),
    /// `UnsupportedUpstreamRegistryException`.
    UnsupportedUpstream(String),
}

/// A prefix as given → as stored: without the assumed trailing `/`.
/// `ROOT` is refused for `ecrRepositoryPrefix` (ECR allows it only for an
/// Amazon ECR upstream, which Berth does not pull through from).
pub fn normalize_ecr_prefix(prefix: &str) -> Result<String, RuleError> {
    if prefix == "ROOT" {
        return Err(RuleError::Validation(
            "ecrRepositoryPrefix ROOT is only supported with an Amazon ECR upstream registry; \
             give a prefix such as 'upstream'."
                .into(),
        ));
    }
    Ok(prefix.trim_end_matches('/').to_string())
}

/// `upstreamRepositoryPrefix` as given → as stored (`ROOT` or absent: none).
pub fn normalize_upstream_prefix(prefix: Option<&str>) -> Option<String> {
    match prefix {
        None | Some("ROOT") => None,
        Some(p) => Some(p.trim_end_matches('/').to_string()),
    }
}

/// Checks a new rule's upstream against the operator's list and the
/// `upstreamRegistry` named; returns the `upstreamRegistry` to record.
pub fn check_upstream(
    upstreams: &Upstreams,
    url: &str,
    named: Option<UpstreamRegistry>,
) -> Result<Option<UpstreamRegistry>, RuleError> {
    let Some(allowed) = upstreams.find(url) else {
        let known: Vec<&str> = upstreams.0.iter().map(|u| u.host.as_str()).collect();
        return Err(RuleError::UnsupportedUpstream(if known.is_empty() {
            format!(
                "The upstream registry '{url}' is not supported: this Berth server allows no upstream \
                 registry (the operator lists them with --pull-through-upstream)."
            )
        } else {
            format!(
                "The upstream registry '{url}' is not supported: this Berth server pulls through from {} \
                 only (--pull-through-upstream).",
                known.join(", ")
            )
        }));
    };
    let of_host = UpstreamRegistry::of_host(&allowed.host);
    match named {
        Some(n) if of_host != Some(n) => Err(RuleError::UnsupportedUpstream(format!(
            "upstreamRegistry '{}' does not match the upstream registry URL '{url}'{}.",
            n.as_str(),
            match of_host {
                Some(h) => format!(" (which is '{}')", h.as_str()),
                None => " (a registry with no ECR upstreamRegistry name: omit upstreamRegistry)".to_string(),
            }
        ))),
        _ => Ok(of_host),
    }
}

/// Refuses what Berth cannot honour: an IAM role for the upstream (ECR
/// assumes it to pull from another Amazon ECR registry).
pub fn check_custom_role(custom_role_arn: Option<&str>) -> Result<(), RuleError> {
    match custom_role_arn {
        Some(_) => Err(RuleError::Validation(
            "customRoleArn is not supported by Berth: it is for Amazon ECR upstream registries, which Berth \
             does not pull through from."
                .into(),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
