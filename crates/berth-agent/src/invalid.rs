//! Why a task cannot run as defined on this agent: what [`crate::spec`]
//! and [`crate::lifecycle`] refuse before any container is created. The
//! `Display` text is the detail of the task's `CannotCreateContainerError`.
//! Pure.

use crate::awslogs::AwslogsOptionError;
use crate::host::DOCKER_LOG_DRIVERS;

/// A task definition this agent cannot run faithfully.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTask {
    #[error("the task definition has no containers")]
    NoContainers,
    #[error("network mode '{0}' is not supported by the Berth agent")]
    NetworkMode(String),
    /// `pidMode` or `ipcMode` set to `task`.
    #[error("{0} 'task' is not supported by the Berth agent (use 'host' or leave it unset)")]
    TaskNamespace(&'static str),
    #[error("volume '{0}': EFS and FSx volumes are not supported by the Berth agent (use host or docker volumes)")]
    RemoteVolume(String),
    #[error("container {container}: {problem}")]
    Container {
        container: String,
        problem: ContainerProblem,
    },
    #[error(
        "container {container} has dependsOn condition '{condition}': expected START, COMPLETE, SUCCESS or HEALTHY"
    )]
    UnknownCondition { container: String, condition: String },
    #[error("container {container} refers to container {target}, which is not in the task")]
    UnknownContainer { container: String, target: String },
    #[error("container {0} refers to itself")]
    SelfReference(String),
    #[error("the containers {} depend on each other in a cycle", .0.join(", "))]
    Cycle(Vec<String>),
}

impl InvalidTask {
    pub fn container(container: &str, problem: impl Into<ContainerProblem>) -> Self {
        InvalidTask::Container {
            container: container.to_string(),
            problem: problem.into(),
        }
    }
}

/// What is wrong with one container definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerProblem {
    #[error("environmentFiles are not supported by the Berth agent yet (they live in S3)")]
    EnvironmentFiles,
    #[error("awslogs: {0}")]
    Awslogs(#[from] AwslogsOptionError),
    #[error(
        "log driver '{0}' is not supported by the Berth agent (supported: {supported})",
        supported = DOCKER_LOG_DRIVERS.join(", ")
    )]
    LogDriver(String),
    #[error("healthCheck.command is empty")]
    EmptyHealthCheck,
    #[error("mount point refers to volume '{0}', which the task definition does not declare")]
    UndeclaredVolume(String),
    #[error("mount point of volume '{0}' has no containerPath")]
    NoContainerPath(String),
    #[error(transparent)]
    Port(#[from] PortError),
    /// dnsServers, dnsSearchDomains or extraHosts in awsvpc mode: the
    /// containers share the task's namespace (and its resolv.conf and hosts).
    #[error("{0} is not supported for containers of an awsvpc task on the Berth agent")]
    AwsvpcSetting(&'static str),
}

/// A port mapping that does not name ports Docker can publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("containerPortRange '{0}' must look like 8000-8010")]
    RangeForm(String),
    #[error("containerPortRange '{0}' must be two ports from 1 to 65535, low-high")]
    RangeBounds(String),
    #[error("containerPort {0} is not a port (1-65535)")]
    NotAPort(i64),
    #[error("a port mapping needs containerPort or containerPortRange")]
    Missing,
    #[error("port mapping {container}: in host network mode hostPort must equal containerPort, got {host}")]
    HostPortDiffers { container: i64, host: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_container_and_the_rule() {
        assert_eq!(
            InvalidTask::container("web", PortError::NotAPort(70000)).to_string(),
            "container web: containerPort 70000 is not a port (1-65535)"
        );
        assert_eq!(
            InvalidTask::Cycle(vec!["a".into(), "b".into()]).to_string(),
            "the containers a, b depend on each other in a cycle"
        );
        assert!(
            ContainerProblem::LogDriver("splunk".into())
                .to_string()
                .contains("(supported: json-file, none,")
        );
    }
}
