//! The statuses of ECS records other than tasks (container instances,
//! services, deployments and their rollout, clusters, task definitions,
//! service deployments, capacity providers, task and container health),
//! and [`Recorded`]: a
//! status as a record stores it, typed when known and kept verbatim when
//! not, so a record written with a status this build does not know still
//! reads back (and writes back unchanged).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::task_status::TaskStatus;

/// A closed set of ECS status strings.
pub trait StatusName: Copy + Eq + 'static {
    /// Every status.
    const ALL: &'static [Self];

    /// The ECS string (`"ACTIVE"`, …).
    fn as_str(self) -> &'static str;

    /// The status named `s`, if it is one.
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

/// Declares a status enum whose variants serialise as the given strings.
macro_rules! status_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $s)] $variant),+
        }

        impl StatusName for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];

            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use status_enum;

status_enum! {
    /// A container instance's `status`.
    ContainerInstanceStatus {
        Active = "ACTIVE",
        Draining = "DRAINING",
        Registering = "REGISTERING",
        Deregistering = "DEREGISTERING",
        RegistrationFailed = "REGISTRATION_FAILED",
        Inactive = "INACTIVE",
    }
}

status_enum! {
    /// A service's `status`.
    ServiceStatus {
        Active = "ACTIVE",
        Draining = "DRAINING",
        Inactive = "INACTIVE",
    }
}

status_enum! {
    /// A deployment's `status`: the one PRIMARY, the ACTIVE ones it
    /// replaces, INACTIVE once drained.
    DeploymentStatus {
        Primary = "PRIMARY",
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }
}

status_enum! {
    /// A deployment's `rolloutState`.
    RolloutState {
        Completed = "COMPLETED",
        Failed = "FAILED",
        InProgress = "IN_PROGRESS",
    }
}

status_enum! {
    /// A cluster's `status`.
    ClusterStatus {
        Active = "ACTIVE",
        Provisioning = "PROVISIONING",
        Deprovisioning = "DEPROVISIONING",
        Failed = "FAILED",
        Inactive = "INACTIVE",
    }
}

status_enum! {
    /// A task definition's `status`: ACTIVE when registered, INACTIVE once
    /// deregistered, DELETE_IN_PROGRESS once DeleteTaskDefinitions asked.
    TaskDefinitionStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
        DeleteInProgress = "DELETE_IN_PROGRESS",
    }
}

status_enum! {
    /// The `status` filter of ListTaskDefinitionFamilies: families with an
    /// ACTIVE revision, families without one, or all.
    TaskDefinitionFamilyStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
        All = "ALL",
    }
}

status_enum! {
    /// The `status` of a service deployment (DescribeServiceDeployments,
    /// ListServiceDeployments).
    ServiceDeploymentStatus {
        Pending = "PENDING",
        Successful = "SUCCESSFUL",
        Stopped = "STOPPED",
        StopRequested = "STOP_REQUESTED",
        InProgress = "IN_PROGRESS",
        RollbackRequested = "ROLLBACK_REQUESTED",
        RollbackInProgress = "ROLLBACK_IN_PROGRESS",
        RollbackSuccessful = "ROLLBACK_SUCCESSFUL",
        RollbackFailed = "ROLLBACK_FAILED",
    }
}

status_enum! {
    /// A container's `lastStatus`, in the order a container goes through
    /// them (see [`ContainerStatus::rank`]).
    ContainerStatus {
        Pending = "PENDING",
        ManifestPulled = "MANIFEST_PULLED",
        Pulled = "PULLED",
        Created = "CREATED",
        ResourcesProvisioned = "RESOURCES_PROVISIONED",
        Running = "RUNNING",
        Stopped = "STOPPED",
    }
}

impl ContainerStatus {
    /// The position in a container's lifecycle: a report never moves a
    /// container back.
    pub fn rank(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

status_enum! {
    /// The `healthStatus` of a task or a container.
    HealthStatus {
        Healthy = "HEALTHY",
        Unhealthy = "UNHEALTHY",
        Unknown = "UNKNOWN",
    }
}

status_enum! {
    /// Why a task stopped (`stopCode`).
    TaskStopCode {
        TaskFailedToStart = "TaskFailedToStart",
        EssentialContainerExited = "EssentialContainerExited",
        UserInitiated = "UserInitiated",
        ServiceSchedulerInitiated = "ServiceSchedulerInitiated",
        SpotInterruption = "SpotInterruption",
        TerminationNotice = "TerminationNotice",
        InfrastructureHealth = "InfrastructureHealth",
    }
}

status_enum! {
    /// A capacity provider's `status`.
    CapacityProviderStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }
}

impl StatusName for TaskStatus {
    const ALL: &'static [Self] = &TaskStatus::ALL;

    fn as_str(self) -> &'static str {
        TaskStatus::as_str(self)
    }
}

/// A status as stored: one of `T`, or a string `T` does not know (written
/// by another version), kept as it is. Serialised as the plain string in
/// both cases, so stored JSON and answers are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recorded<T: StatusName> {
    Known(T),
    Unknown(String),
}

impl<T: StatusName> Recorded<T> {
    /// The status, when it is one of `T`.
    pub fn known(&self) -> Option<T> {
        match self {
            Recorded::Known(t) => Some(*t),
            Recorded::Unknown(_) => None,
        }
    }

    /// The stored string.
    pub fn as_str(&self) -> &str {
        match self {
            Recorded::Known(t) => t.as_str(),
            Recorded::Unknown(s) => s,
        }
    }

    /// Whether the status is one of `set`.
    pub fn is_any(&self, set: &[T]) -> bool {
        self.known().is_some_and(|t| set.contains(&t))
    }
}

impl<T: StatusName> From<T> for Recorded<T> {
    fn from(t: T) -> Self {
        Recorded::Known(t)
    }
}

impl<T: StatusName> From<String> for Recorded<T> {
    fn from(s: String) -> Self {
        match T::parse(&s) {
            Some(t) => Recorded::Known(t),
            None => Recorded::Unknown(s),
        }
    }
}

impl<T: StatusName> From<Recorded<T>> for String {
    fn from(r: Recorded<T>) -> String {
        match r {
            Recorded::Known(t) => t.as_str().to_string(),
            Recorded::Unknown(s) => s,
        }
    }
}

/// The plain string, written without a copy.
impl<T: StatusName> Serialize for Recorded<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A known status is read without allocating; an unknown one is kept.
impl<'de, T: StatusName> Deserialize<'de> for Recorded<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<T: StatusName> serde::de::Visitor<'_> for Visitor<T> {
            type Value = Recorded<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Recorded<T>, E> {
                Ok(T::parse(s).map_or_else(|| Recorded::Unknown(s.to_string()), Recorded::Known))
            }
        }
        deserializer.deserialize_str(Visitor(std::marker::PhantomData))
    }
}

impl<T: StatusName> PartialEq<T> for Recorded<T> {
    fn eq(&self, other: &T) -> bool {
        self.known() == Some(*other)
    }
}

impl<T: StatusName> fmt::Display for Recorded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: StatusName + fmt::Debug + Serialize + for<'de> Deserialize<'de>>() {
        for &s in T::ALL {
            let json = format!("\"{}\"", s.as_str());
            assert_eq!(serde_json::to_string(&s).unwrap(), json);
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), s);
            let r: Recorded<T> = serde_json::from_str(&json).unwrap();
            assert_eq!(r, s);
            assert_eq!(serde_json::to_string(&r).unwrap(), json);
            assert_eq!(T::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn every_status_serialises_as_its_ecs_string() {
        round_trip::<ContainerInstanceStatus>();
        round_trip::<ServiceStatus>();
        round_trip::<DeploymentStatus>();
        round_trip::<RolloutState>();
        round_trip::<ClusterStatus>();
        round_trip::<TaskStatus>();
        round_trip::<TaskDefinitionStatus>();
        round_trip::<TaskDefinitionFamilyStatus>();
        round_trip::<ServiceDeploymentStatus>();
        round_trip::<HealthStatus>();
        round_trip::<ContainerStatus>();
        round_trip::<TaskStopCode>();
        assert!(ContainerStatus::Pending.rank() < ContainerStatus::ManifestPulled.rank());
        assert!(ContainerStatus::ResourcesProvisioned.rank() < ContainerStatus::Running.rank());
        assert!(ContainerStatus::Running.rank() < ContainerStatus::Stopped.rank());
        round_trip::<CapacityProviderStatus>();
        assert_eq!(TaskDefinitionStatus::DeleteInProgress.as_str(), "DELETE_IN_PROGRESS");
        assert_eq!(
            ServiceDeploymentStatus::RollbackInProgress.as_str(),
            "ROLLBACK_IN_PROGRESS"
        );
        assert_eq!(
            ContainerInstanceStatus::RegistrationFailed.as_str(),
            "REGISTRATION_FAILED"
        );
        assert_eq!(RolloutState::InProgress.to_string(), "IN_PROGRESS");
    }

    #[test]
    fn an_unknown_status_reads_back_and_writes_back_unchanged() {
        let r: Recorded<ServiceStatus> = serde_json::from_str("\"ARCHIVED\"").unwrap();
        assert_eq!(r, Recorded::Unknown("ARCHIVED".into()));
        assert_eq!(r.known(), None);
        assert_eq!(r.as_str(), "ARCHIVED");
        assert!(r != ServiceStatus::Active);
        assert!(!r.is_any(&[ServiceStatus::Active, ServiceStatus::Draining]));
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"ARCHIVED\"");
    }

    #[test]
    fn known_statuses_compare_with_their_type() {
        let r: Recorded<ContainerInstanceStatus> = ContainerInstanceStatus::Draining.into();
        assert_eq!(r, ContainerInstanceStatus::Draining);
        assert!(r.is_any(&[ContainerInstanceStatus::Active, ContainerInstanceStatus::Draining]));
        assert_eq!(String::from(r), "DRAINING");
    }
}
