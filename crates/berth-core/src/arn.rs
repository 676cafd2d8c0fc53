//! Amazon Resource Names as Berth builds and reads them.

use std::fmt;

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource: String,
}

impl Arn {
    pub fn new(service: &str, region: &str, account: &str, resource: impl Into<String>) -> Self {
        Self {
            partition: "aws".into(),
            service: service.into(),
            region: region.into(),
            account: account.into(),
            resource: resource.into(),
        }
    }

    /// Parses an ARN; `None` when it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let partition = parts.next()?.to_string();
        let service = parts.next()?.to_string();
        let region = parts.next()?.to_string();
        let account = parts.next()?.to_string();
        let resource = parts.next()?.to_string();
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return None;
        }
        Some(Self {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// The resource type and the rest: `cluster/name` -> (`cluster`, `name`).
    pub fn resource_parts(&self) -> (&str, &str) {
        match self.resource.split_once(['/', ':']) {
            Some((t, rest)) => (t, rest),
            None => (self.resource.as_str(), ""),
        }
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// The region and account an ARN is built for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub region: String,
    pub account: String,
}

impl Scope {
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            account: account.into(),
        }
    }
    pub fn arn(&self, service: &str, resource: impl Into<String>) -> String {
        Arn::new(service, &self.region, &self.account, resource).to_string()
    }
    pub fn cluster_arn(&self, name: &str) -> String {
        self.arn("ecs", format!("cluster/{name}"))
    }
    pub fn task_definition_arn(&self, family: &str, revision: i64) -> String {
        self.arn("ecs", format!("task-definition/{family}:{revision}"))
    }
    pub fn task_arn(&self, cluster: &str, task_id: &str) -> String {
        self.arn("ecs", format!("task/{cluster}/{task_id}"))
    }
    pub fn container_instance_arn(&self, cluster: &str, id: &str) -> String {
        self.arn("ecs", format!("container-instance/{cluster}/{id}"))
    }
    pub fn service_arn(&self, cluster: &str, name: &str) -> String {
        self.arn("ecs", format!("service/{cluster}/{name}"))
    }
    pub fn capacity_provider_arn(&self, name: &str) -> String {
        self.arn("ecs", format!("capacity-provider/{name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3";
        let a = Arn::parse(s).unwrap();
        assert_eq!(a.service, "ecs");
        assert_eq!(a.resource_parts(), ("task-definition", "web:3"));
        assert_eq!(a.to_string(), s);
        assert!(Arn::parse("not-an-arn").is_none());
        assert!(Arn::parse("arn:aws:ecs").is_none());
    }

    #[test]
    fn scope_builds_ecs_arns() {
        let s = Scope::new("us-east-1", "000000000000");
        assert_eq!(
            s.cluster_arn("default"),
            "arn:aws:ecs:us-east-1:000000000000:cluster/default"
        );
        assert_eq!(s.task_arn("c", "abc"), "arn:aws:ecs:us-east-1:000000000000:task/c/abc");
    }
}
